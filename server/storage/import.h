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

struct registry;

extern int	import_run(struct registry *reg, struct identity *id, const char *datadir,
					   const char *pgdata, int progress_bar, uint64_t *pages);

#endif							/* STRATA_IMPORT_H */
