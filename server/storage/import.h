/*-------------------------------------------------------------------------
 *
 * import.h
 *	  First-start import of a compute's relation files (ARCHITECTURE.md 2.5).
 *
 * import_run() walks PGDATA's global/, base/<db>/ and pg_tblspc/<spc>/
 * PG_15_*\/<db>/ for relation files ("<relfilenode>[_fsm|_vm|_init][.N]"),
 * stores every block as an image at pg_control's checkpoint redo LSN,
 * syncs, records the system identifier and IMPORT_IMPORTED durably, then
 * truncates each segment-0 file to an empty stub (the compute needs it),
 * unlinks the other segments and records IMPORT_COMPLETE.  Restartable at
 * every step: an interrupted import (IMPORT_RUNNING) is discarded and
 * redone while the local files are still intact; IMPORT_IMPORTED only
 * finishes the truncation.
 * Progress goes to the log every few seconds, or to a progress bar.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_IMPORT_H
#define STRATA_IMPORT_H

#include <stdint.h>

#include "identity.h"
#include "lsn.h"
#include "proto.h"

struct registry;
struct timeline;

/*
 * Bulk loading of page images into an offline timeline (no event loop:
 * tl_wait() does the group writes), as the import does it; shared with
 * bench/enginebench.c so the benchmark measures the import's own path.
 * Pages are appended one by one and acknowledged in groups of
 * batch_pages, as the page service acknowledges a loop iteration's
 * writes.  Each call logs its failure at ERROR, naming what (the source
 * file, or what the caller set), and returns the strata_err.
 * The loader is the caller's; it borrows tl and what.
 */
struct import_loader
{
	struct timeline *tl;
	uint32_t	batch_pages;	/* wait for the writer after this many */
	uint32_t	pending;		/* pages appended since the last wait */
	const char *what;			/* the source, for messages */
};

extern void import_loader_init(struct import_loader *ld, struct timeline *tl,
							   uint32_t batch_pages, const char *what);
/* CREATE rel at lsn (flags: PROTO_CREATE_*) and wait until it is acknowledged. */
extern int	import_create(struct import_loader *ld, const struct proto_rel *rel, lsn_t lsn,
						  uint8_t flags);
/* Append page (PROTO_PAGE_SIZE bytes) as block blk of rel at lsn: an EXTEND. */
extern int	import_page(struct import_loader *ld, const struct proto_rel *rel, uint32_t blk,
						lsn_t lsn, const uint8_t *page);
/* Wait until everything appended is acknowledged (in the kernel, not synced). */
extern int	import_flush(struct import_loader *ld);

extern int	import_run(struct registry *reg, struct identity *id, const char *datadir,
					   const char *pgdata, int progress_bar, uint64_t *pages);

#endif							/* STRATA_IMPORT_H */
