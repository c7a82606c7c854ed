/*-------------------------------------------------------------------------
 *
 * manifest.h
 *	  A timeline's index_part (ARCHITECTURE.md 5.5): which layer files make
 *	  up its history, how far they reach, its ancestry and its GC cutoff.
 *
 * File TIMELINE_DIR/manifest: a jsonfile.h envelope with magic
 * "STRATAMF", format version 1.  The JSON object: "tenant_id", "timeline_id" (32 hex digits),
 * "ancestor_timeline_id" (or null), "ancestor_lsn", "disk_consistent_lsn",
 * "gc_cutoff" (LSNs as "%X/%X"), "generation", "state" ("active" or
 * "deleting"), "layers": [{"name", "size"}], "lsn_by_time" (optional:
 * lsntime.h samples [[unix seconds, "%X/%X"], ...], none past
 * disk_consistent_lsn).  Published with temp, fsync,
 * rename and directory fsync (I14); it names only durable layers.
 *
 * Pure data plus load/save; the caller serialises saves of one timeline.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_MANIFEST_H
#define STRATA_MANIFEST_H

#include <stdint.h>

#include "layerfile.h"
#include "lsn.h"
#include "lsntime.h"

#define MANIFEST_NAME_MAX 128

struct manifest_layer
{
	char		name[MANIFEST_NAME_MAX];
	uint64_t	size;
};

struct manifest
{
	uint8_t		tenant[16];
	uint8_t		timeline[16];
	int			has_ancestor;
	uint8_t		ancestor[16];
	lsn_t		ancestor_lsn;
	lsn_t		disk_consistent_lsn;
	lsn_t		gc_cutoff;
	uint32_t	generation;
	int			deleting;
	struct lsntime lsntime;		/* samples up to disk_consistent_lsn */
	uint32_t	nlayers;
	struct manifest_layer *layers;	/* owned; manifest_free() */
};

/* STRATA_ENOTFOUND if there is none; ECORRUPT/EVERSION logged with the path. */
extern int	manifest_load(const char *dir, struct manifest *m);
extern int	manifest_save(const char *dir, const struct manifest *m);
extern void manifest_free(struct manifest *m);

/*
 * Checks before publishing (and after loading): layer names parse, no
 * layer reaches past disk_consistent_lsn, none has a future generation,
 * and a timeline without ancestor or layers has disk_consistent_lsn 0.
 * Returns 0 or STRATA_EINVAL with a log line saying what is wrong.
 */
extern int	manifest_validate(const struct manifest *m);

#endif							/* STRATA_MANIFEST_H */
