/*-------------------------------------------------------------------------
 *
 * compact_internal.h
 *	  What the background jobs share: compact.c (flush, L0 -> L1),
 *	  compact_image.c (image layers) and compact_gc.c (GC and
 *	  gc-compaction).  Their entry points are in timeline_internal.h.
 *
 * Every job follows the same protocol: write its new layer files
 * (compact_finish_layer), then publish the new set, manifest first and
 * snapshot second (compact_publish); a job that fails or is stopped
 * removes what it wrote and did not publish (compact_drop_unpublished).
 * Background thread only.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_COMPACT_INTERNAL_H
#define STRATA_COMPACT_INTERNAL_H

#include "timeline_internal.h"

/* The whole key space [lo, hi): an L0's range. */
extern const uint8_t compact_key_lo[KEY_SIZE];
extern const uint8_t compact_key_hi[KEY_SIZE];
/* The end of an L1 range that reaches the end: every real key sorts below. */
extern const uint8_t compact_key_l1_end[KEY_SIZE];

/* The timeline is no longer active: a job stops at its next step. */
extern int	compact_stopping(struct timeline *tl);

/*
 * Publish a job's result: the current layers plus add minus drop (and
 * without drop_frozen) with these LSNs.  The refs in add move in; on
 * failure add's files are removed and the old state stays.
 */
extern int	compact_publish(struct timeline *tl, struct inmem *drop_frozen, struct tl_layer **add,
							uint32_t nadd, struct tl_layer **drop, uint32_t ndrop, lsn_t dcl,
							lsn_t cutoff);
/* STRATA_EEXIST (the output would replace a live layer) becomes 0, logged. */
extern int	compact_skip_if_exists(struct timeline *tl, int err, const char *job);
/* Finish a writer and open the result as a layer of tl (one ref in *out). */
extern int	compact_finish_layer(struct timeline *tl, struct layer_writer *w,
								 const uint8_t ks[KEY_SIZE], const uint8_t ke[KEY_SIZE],
								 lsn_t ls, lsn_t le, struct tl_layer **out);
/* Layer files written but not published: removed with their last reference. */
extern void compact_drop_unpublished(struct tl_layer **out, uint32_t n);

/* The entries of layer scans, collected in memory. */
struct compact_entry
{
	uint8_t		key[KEY_SIZE];
	lsn_t		lsn;
	uint32_t	len;
	uint8_t    *val;			/* NULL in the sizing pass; owned */
};

struct compact_entries
{
	struct compact_entry *e;
	uint64_t	n;
	uint64_t	cap;
	int			keep_values;	/* copy values too, not only sizes */
	int			err;			/* why the scan was stopped */
};

/* A layer_value_fn appending to the struct compact_entries in arg. */
extern int	compact_collect(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val,
							uint32_t len, void *arg);
extern void compact_entries_free(struct compact_entries *es);

#endif							/* STRATA_COMPACT_INTERNAL_H */
