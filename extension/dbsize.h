/*-------------------------------------------------------------------------
 *
 * dbsize.h
 *	  pg_relation_size() and friends on strata.
 *
 * The built-in size functions stat() local files, which are empty stubs
 * here; dbsize_patches() lists replacements that ask the storage manager
 * and stratad instead, for tablepatch_install() to swap into fmgr_builtins.
 * The replacements run in backends and raise ERROR as the built-ins do, or
 * with stratad's error (errmap.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_DBSIZE_H
#define STRATA_DBSIZE_H

#include "postgres.h"

#include "tablepatch.h"

/* The replacements, and their number in *n; a static array. */
extern const struct strata_builtin_patch *dbsize_patches(int *n);

#endif							/* STRATA_DBSIZE_H */
