/*-------------------------------------------------------------------------
 *
 * timeline_internal.h
 *	  What the parts of the timeline module share and nobody else uses:
 *	  the lifecycle (timeline.c), snapshots and retention (tl_snapshot.c),
 *	  reads (tl_read.c), the write path (tl_write.c), freezing and the
 *	  background thread (tl_background.c) and the background jobs
 *	  (compact*.c: flush, compaction, image layers, GC).
 *
 * Which thread may call is said per group; "bg thread" is the timeline's
 * background thread, "loop" the event-loop thread that owns the timeline.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_TIMELINE_INTERNAL_H
#define STRATA_TIMELINE_INTERNAL_H

#include <event2/util.h>

#include "timeline.h"

/* snapshots (tl_snapshot.c), any thread */
/* An empty snapshot with room for the counts given (one ref), or NULL. */
extern struct tl_snapshot *tl_snapshot_alloc(uint32_t nfrozen, uint32_t nlayers);
/* Sort layers by lsn_end descending; takes the refs the caller put in. */
extern void tl_snapshot_sort(struct tl_snapshot *s);
/*
 * Swap in a new snapshot built from the current one (under tl->lock, no
 * I/O): add_frozen becomes the newest frozen layer, drop_frozen leaves
 * (its log is removed with its last ref), add's refs move in, drop's
 * files are removed with their last ref (I16).
 */
extern int	tl_modify_snapshot(struct timeline *tl, struct inmem *add_frozen,
							   struct inmem *new_open, struct inmem *drop_frozen,
							   struct tl_layer **add, uint32_t nadd, struct tl_layer **drop,
							   uint32_t ndrop);
extern struct tl_layer *tl_layer_open(struct timeline *tl, const char *name);
extern void tl_layer_unref(struct tl_layer *l);
/* Persist the manifest naming these layers (bg thread, or at creation). */
extern int	tl_save_manifest(struct timeline *tl, struct tl_layer *const *layers, uint32_t nlayers,
							 lsn_t dcl, lsn_t gc_cutoff);
/* reads (tl_read.c) */
/* Reads against one snapshot and the ancestors, never the open layer (any thread). */
extern int	tl_read_snap(struct timeline *tl, struct tl_snapshot *s, const uint8_t key[KEY_SIZE],
						 lsn_t lsn, uint8_t *buf, uint32_t *vlen);
/*
 * Vectored: errs[i] for each of n keys (0, STRATA_ENOTFOUND or an error);
 * each layer file is visited once.  vlsns may be NULL.
 */
extern int	tl_read_snap_many(struct timeline *tl, struct tl_snapshot *s, uint32_t n,
							  const uint8_t (*keys)[KEY_SIZE], const lsn_t *lsns, uint8_t **bufs,
							  uint32_t *vlens, lsn_t *vlsns, int *errs);
/* ... and the LSN of the version found (vlsn may be NULL). */
extern int	tl_read_snap_lsn(struct timeline *tl, struct tl_snapshot *s,
							 const uint8_t key[KEY_SIZE], lsn_t lsn, uint8_t *buf, uint32_t *vlen,
							 lsn_t *vlsn);
/* Live forks at lsn (history only), each as (size key, nblocks), sorted by key. */
struct tl_fork
{
	uint8_t		key[KEY_SIZE];
	uint32_t	nblocks;
};
extern int	tl_live_forks(struct timeline *tl, lsn_t lsn, struct tl_fork **out, uint32_t *n);

/* the write path (tl_write.c) */
/* The loop's progress event: the writer put more in the kernel. */
extern void tl_on_progress(evutil_socket_t fd, short what, void *arg);
/* Make what the writer wrote readable; cut the log back if it failed (loop). */
extern void tl_publish_written(struct timeline *tl);
/* Block until the writer wrote up to target or failed (offline and shutdown). */
extern void tl_wait_writer(struct timeline *tl, uint64_t target);
/* The open layer's bufwriter notify (the writer's flush thread). */
extern void tl_writer_notify(void *arg);

/* freezing and the background thread (tl_background.c), loop thread */
/*
 * Freeze the open layer when due (force: if not empty) and the writer is
 * idle.  0: frozen, or nothing due; STRATA_EBUSY: the writer is not idle;
 * STRATA_EWOULDBLOCK: no spare log yet (the bg thread makes one and the
 * progress event comes again); else the freeze failed (nothing changed).
 */
extern int	tl_maybe_freeze(struct timeline *tl, int force);
/* After writer progress: freeze if due and release waiting checkpoints. */
extern void tl_bg_progress(struct timeline *tl);
/* The loop's event for answered background rounds (tl_request_work()). */
extern void tl_on_bg_done(evutil_socket_t fd, short what, void *arg);
/* STRATA_ENOMEM if the thread cannot be started. */
extern int	tl_bg_start(struct timeline *tl);
/* Tell the thread to stop; waiting requests get STRATA_ESHUTDOWN (loop, never waits). */
extern void tl_bg_stop_begin(struct timeline *tl);
/* Join the thread, drop the spare log (may wait: never on a loop). */
extern void tl_bg_stop_finish(struct timeline *tl);

/* compact*.c, background thread */
/* Flush the oldest frozen layer of the current snapshot to an L0 delta. */
extern int	compact_flush_frozen(struct timeline *tl);
/* L0 -> L1 when there are at least threshold L0s (force: at least 2). */
extern int	compact_l0(struct timeline *tl, int force);
/* Image layers where deltas stack up (force: wherever there are deltas). */
extern int	compact_images(struct timeline *tl, int force);
/* Remove layers no retained LSN needs. */
extern int	compact_gc(struct timeline *tl);
/* Rewrite the layers below the GC cutoff keeping only retained versions. */
extern int	compact_gc_rewrite(struct timeline *tl);

#endif							/* STRATA_TIMELINE_INTERNAL_H */
