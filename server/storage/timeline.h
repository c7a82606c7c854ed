/*-------------------------------------------------------------------------
 *
 * timeline.h
 *	  A timeline: one branch of a tenant's page history (ARCHITECTURE.md
 *	  5.2-5.5).  Writes go to the open in-memory layer (inmem_log.h) whose
 *	  file is the write log; frozen layers are flushed to L0 delta layer
 *	  files (layerfile.h) by the timeline's background thread, which also
 *	  compacts, creates image layers and collects garbage (compact*.c); the
 *	  manifest (manifest.h) names the durable layers.
 *
 * Where the parts live (they share timeline_internal.h):
 *	timeline.c		lifecycle: create, load (replay), shutdown, remove
 *	tl_snapshot.c	layer refs, snapshots, retention and GC cutoff, the
 *					manifest, children's branch points
 *	tl_read.c		reads: tl_read, tl_nblocks, tl_getpage, tl_pages_*,
 *					tl_dbsize, the forks alive at an LSN
 *	tl_write.c		the write path: tl_prepare, tickets, tl_submit,
 *					tl_wait, tl_sync
 *	tl_background.c	freezing, the background thread, tl_request_work,
 *					tl_checkpoint / tl_compact / tl_gc
 *	reldir.c		the relation directory (fork sizes)
 *	compact.c		background jobs: flush and L0 -> L1 compaction;
 *	compact_image.c	image layers; compact_gc.c GC and gc-compaction
 *
 * Directory TENANT_DIR/timelines/<timeline hex>/: manifest, log-<lsn>
 * files (the open and not yet flushed frozen layers), layer files.
 *
 * Threads.  The event-loop thread owns writes, the open layer and reads
 * (tl_prepare ... tl_read_*).  The background thread owns the history:
 * it builds a new layer set and swaps it in under tl->lock (RCU: readers
 * pin a refcounted snapshot, files are unlinked when no snapshot refers to
 * them, I16).  tl_sync() may run on the sync thread.  Completion of a
 * group write is signalled through progress_cb on the loop.
 *
 * Writes: tl_prepare() validates a change, assigns its LSN (I7: the
 * request LSN, raised above the key's previous version and the open
 * layer's start) and appends its records; it returns a ticket.  Nothing is
 * readable until the writer put it in the kernel; then progress_cb runs
 * and tl_ticket_status() says which tickets are acknowledged (or failed:
 * the log is cut back and STRATA_ENOSPC / STRATA_EIO reported).
 *
 * States are TL_LOADING -> TL_ACTIVE -> TL_STOPPING -> TL_STOPPED, or
 * TL_BROKEN when its history cannot be read (reads and writes then fail
 * with STRATA_ECORRUPT).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_TIMELINE_H
#define STRATA_TIMELINE_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "inmem_log.h"
#include "key.h"
#include "layerfile.h"
#include "lsn.h"
#include "lsntime.h"
#include "proto.h"

struct event_base;
struct event;
struct throttle;
struct tl_handle;
struct page_trace;
struct timeline;

enum tl_state
{
	TL_LOADING,
	TL_ACTIVE,
	TL_STOPPING,
	TL_STOPPED,
	TL_BROKEN,
};

/* Tunables (per tenant); tl_conf_default() gives the production values. */
struct tl_conf
{
	uint64_t	freeze_bytes;	/* freeze the open layer at this size */
	uint32_t	freeze_seconds; /* ... or when it is this old and not empty */
	uint32_t	compaction_threshold;	/* L0 count that triggers L0 -> L1 */
	uint64_t	target_layer_bytes; /* L1 / image layer files are cut here */
	uint32_t	image_threshold;	/* deltas stacked over a key range: image it */
	uint64_t	gc_horizon;		/* LSN distance kept below the newest; under lock */
	uint32_t	pitr_seconds;	/* history kept by time (0: by horizon only); under lock */
	uint32_t	compaction_period_ms;	/* background check interval */
	int			gc_verify;		/* verify every GC / gc-compaction (tests) */
	int			gc_compaction;	/* rewrite history below the cutoff into fewer layers */
	size_t		bufsize;		/* write buffer, each of two */
};

extern void tl_conf_default(struct tl_conf *c);

/* A layer of the history, shared by snapshots (refs). */
struct tl_layer
{
	struct layer_desc d;
	char		name[128];
	struct layer_file *f;
	uint64_t	size;
	_Atomic int refs;
	_Atomic int gc_hold;		/* loaded, children not yet: no GC (tl_allow_gc) */
	_Atomic int remove;			/* unlink the file when the last ref goes */
	char		path[PATH_MAX];
};

/* An immutable snapshot of frozen in-memory layers and historic layers. */
struct tl_snapshot
{
	_Atomic int refs;
	_Atomic int gc_hold;		/* loaded, children not yet: no GC (tl_allow_gc) */
	uint32_t	nfrozen;
	struct inmem **frozen;		/* newest first; refs in inmem_ref() */
	uint32_t	nlayers;
	struct tl_layer **layers;	/* sorted by lsn_end descending */
};

typedef void (*tl_progress_fn) (struct timeline *tl, void *arg);
typedef void (*tl_done_fn) (struct timeline *tl, int err, void *arg);
struct bg_waiter;

struct timeline
{
	uint8_t		tenant_id[16];
	uint8_t		id[16];
	char		hex[33];
	char		dir[PATH_MAX];
	_Atomic enum tl_state state;
	struct tl_conf conf;
	struct timeline *ancestor;	/* holds a ref (tl_ref) */
	lsn_t		ancestor_lsn;
	uint32_t	generation;
	_Atomic int refs;
	_Atomic int gc_hold;		/* loaded, children not yet: no GC (tl_allow_gc) */
	struct throttle *throttle;	/* the tenant's GETPAGE throttle (borrowed), or NULL */
	struct tl_handle *handles;	/* loop thread: weak handles on us (handles.h) */
	struct page_trace *trace;	/* loop thread: the running page trace, or NULL */

	/* loop thread */
	struct event_base *base;
	struct event *progress_ev;
	tl_progress_fn progress_cb;
	void	   *progress_arg;
	struct inmem *open;
	uint64_t	open_seq;		/* tickets: seq << 40 | end offset */
	uint64_t	cut_seq;		/* the last cut-back: tickets of cut_seq past cut_off failed */
	uint64_t	cut_off;
	int			cut_err;
	_Atomic lsn_t last_record_lsn;	/* newest acknowledged LSN */
	uint64_t	open_since;		/* time the open layer got its first record (s) */
	struct reldir *reldir;		/* current sizes, pending changes included */
	uint32_t	last_reset_count;

	/* shared, under lock */
	pthread_mutex_t lock;
	pthread_cond_t cv;			/* bg thread work; writer progress for tl_wait */
	struct tl_snapshot *snap;
	lsn_t		disk_consistent_lsn;
	lsn_t		gc_cutoff;
	struct lsntime lsntime;		/* LSN by wall-clock time, for pitr_seconds */
	struct inmem *spare;		/* the next freeze's write log, made by the bg thread */
	int			freeze_wanted;	/* a freeze found no spare: wake the loop when there is one */
	int			spare_err;		/* the last attempt to make one failed with this */
	_Atomic int bg_halted;		/* a manifest save failed: no more background work (its error) */
	int			bg_wake;
	int			bg_stop;
	int			bg_force_compact;
	int			bg_force_gc;
	uint64_t	bg_req;			/* rounds asked for (tl_checkpoint, ...) */
	uint64_t	bg_done;		/* the last request a finished round covered */
	int			bg_err;
	pthread_t	bg;
	int			bg_running;
	struct bg_waiter *ckpt_waiters; /* loop: checkpoints waiting for the writer to idle */
	struct bg_waiter *bg_waiters;	/* under lock */
	struct event *bg_ev;		/* bg thread -> loop: frozen layers flushed */
	lsn_t		gc_rewrite_skip_lsn;	/* bg thread: a gc-compaction that collided ... */
	uint32_t	gc_rewrite_skip_inputs; /* ... with these inputs is not retried */
	uint32_t	nbranches;		/* children's branch points ... */
	lsn_t	   *branches;		/* ... ascending, kept by GC */

	_Atomic int sync_err;		/* a log's fdatasync failed: every later tl_sync fails */

	/* counters (atomic: read by the API thread) */
	_Atomic uint64_t flushes;
	_Atomic uint64_t compactions;
	_Atomic uint64_t images_created;
	_Atomic uint64_t gc_runs;
	_Atomic uint64_t gc_layers_removed;
	_Atomic uint64_t gc_rewrites;	/* gc-compaction runs that rewrote layers */
	_Atomic uint64_t layers_visited;
	_Atomic uint64_t reads;
};

/*
 * Create a new timeline directory (with a manifest) or load an existing
 * one, replaying its logs.  base may be NULL (offline use: tl_wait()).
 * ancestor: NULL or the parent (a ref is taken).
 */
extern int	tl_create(const char *dir, const uint8_t tenant[16], const uint8_t id[16],
					  struct timeline *ancestor, lsn_t ancestor_lsn, uint32_t generation,
					  const struct tl_conf *conf, struct event_base *base, struct timeline **out);
extern int	tl_load(const char *dir, const uint8_t tenant[16], const uint8_t id[16],
					struct timeline *ancestor, uint32_t generation, const struct tl_conf *conf,
					struct event_base *base, struct timeline **out);
/* Peek a timeline directory's ancestry without loading it. */
extern int	tl_read_ancestry(const char *dir, int *has_ancestor, uint8_t ancestor[16],
							 lsn_t *ancestor_lsn);

extern void tl_set_progress_cb(struct timeline *tl, tl_progress_fn cb, void *arg);

/*
 * Stop in two steps, so the loop never waits (issue 12, 9).
 * tl_stop_begin (the loop thread, never blocks): no new writes
 * (STRATA_ESHUTDOWN), background work told to stop, waiting background
 * requests answered with STRATA_ESHUTDOWN, the timeline's loop events
 * gone, so nothing of it runs on the loop any more.  tl_stop_finish (a
 * thread that may wait, never a loop): the writer drained (cancel:
 * abandoned), the background thread joined, every log synced, then the
 * caller's ref dropped; freed when the last ref goes.  tl_shutdown does
 * both, for callers with no loop running.
 */
extern void tl_stop_begin(struct timeline *tl);
extern void tl_stop_finish(struct timeline *tl, int cancel);
extern void tl_shutdown(struct timeline *tl, int cancel);
extern void tl_ref(struct timeline *tl);
extern void tl_unref(struct timeline *tl);
/* Remove the directory of a shut down timeline. */
extern int	tl_remove_dir(const char *dir);
/* A loaded timeline GCs only once its children's branch points are known. */
extern void tl_allow_gc(struct timeline *tl);

/* ---------- writes (loop thread) ---------- */

/*
 * Validate and append a CREATE, WRITE, EXTEND, TRUNCATE, UNLINK, DROPDB
 * or RESET_UNLOGGED.  *ticket 0 means nothing to wait for.  STRATA_EBUSY:
 * the write buffers are full; retry after progress_cb.  Other errors:
 * ENOTFOUND, EEXIST, EEOF, EINVAL, ESHUTDOWN, ENOSPC, EIO.
 */
extern int	tl_prepare(struct timeline *tl, const struct proto_req *req, lsn_t *stored_lsn,
					   uint64_t *ticket);
/* Hand the group appended so far to the writer (never blocks). */
extern void tl_submit(struct timeline *tl);
/* 1 acknowledged, 0 still pending, < 0 failed. */
extern int	tl_ticket_status(struct timeline *tl, uint64_t ticket);
/* Offline: submit and wait until everything appended is acknowledged. */
extern int	tl_wait(struct timeline *tl);
/* The RESET_UNLOGGED result of the last reset. */
extern uint32_t tl_last_reset_count(const struct timeline *tl);

/*
 * fdatasync every write log holding acknowledged data; any thread.  A
 * failure is sticky (STRATA_EIO from then on, never a retry that might
 * succeed after the kernel dropped the pages); STRATA_ENOMEM.
 */
extern int	tl_sync(struct timeline *tl);

/* ---------- reads (loop thread) ---------- */

/*
 * The newest version of key at or below lsn, here or in the ancestors
 * (at most their branch point).  *vlen gets the value length (buf holds
 * VAL_MAX bytes).  STRATA_ENOTFOUND if there is none; ECORRUPT, EIO.
 */
extern int	tl_read(struct timeline *tl, const uint8_t key[KEY_SIZE], lsn_t lsn,
					uint8_t *buf, uint32_t *vlen);
/* nblocks of a fork at lsn, or STRATA_ENOTFOUND. */
extern int	tl_nblocks(struct timeline *tl, const struct proto_rel *rel, lsn_t lsn,
					   uint32_t *nblocks);
/* A page at lsn: ENOTFOUND (no fork), EEOF (past its end). */
extern int	tl_getpage(struct timeline *tl, const struct proto_rel *rel, uint32_t blk, lsn_t lsn,
					   uint8_t *page);
/* Relation forks that exist (acknowledged state). */
extern uint32_t tl_nforks(struct timeline *tl);

/*
 * Vectored page reads.  tl_pages_begin() (loop thread) answers what the
 * relation directory and the open layer can, and for the rest pins a
 * snapshot of the same moment in *snap and returns how many are left;
 * tl_pages_finish() (any thread, holding a ref on tl) reads those from the
 * snapshot, visiting each layer at most once for the whole batch.  The
 * caller puts the snapshot.  Each r[i].err ends as 0 (page filled) or a
 * STRATA_E* (ENOTFOUND: no such fork, EEOF: past its end).  A page from
 * the open layer may come by reference instead (r[i].ref, kept valid by
 * the reference r[i].map, which outlives the layer): the caller sends it
 * from there and drops it with tl_page_release(), also on error paths.
 */
#define TL_NEED_SIZE	0x01
#define TL_NEED_PAGE	0x02
#define TL_HAVE_PAGE	0x04

struct tl_page_read
{
	struct proto_rel rel;
	uint32_t	blk;
	lsn_t		lsn;			/* read point */
	uint8_t    *page;			/* out: PROTO_PAGE_SIZE bytes, unless ref */
	const uint8_t *ref;			/* out: the page, in a log's mapping */
	struct inmem_map *map;		/* out: the reference keeping ref valid */
	int			err;			/* out */
	uint8_t		need;			/* internal: TL_NEED_* */
	uint32_t	nblocks;		/* internal */
};

extern uint32_t tl_pages_begin(struct timeline *tl, struct tl_page_read *r, uint32_t n,
							   struct tl_snapshot **snap);
extern int	tl_pages_finish(struct timeline *tl, struct tl_snapshot *s, struct tl_page_read *r,
							uint32_t n);
/* Drop r's page reference, if any (any thread). */
extern void tl_page_release(struct tl_page_read *r);
/* Bytes of a database's forks (acknowledged state), -1 if it has none. */
extern int64_t tl_dbsize(struct timeline *tl, uint32_t db);

/* ---------- background work and introspection ---------- */

/*
 * From the loop, without blocking it: (checkpoint: freeze the open layer,)
 * run a background round (compact / gc forced), then cb(tl, err, arg) on
 * the loop.  STRATA_ESHUTDOWN if the timeline is not active.
 */
extern int	tl_request_work(struct timeline *tl, int checkpoint, int compact, int gc,
							tl_done_fn cb, void *arg);

/*
 * Blocking versions (offline tools and tests; they wait on the caller's
 * thread): freeze the open layer (if not empty) and wait for every frozen
 * layer to be flushed.
 */
extern int	tl_checkpoint(struct timeline *tl);
/* Run compaction / GC now and wait for it; 0 or the first error. */
extern int	tl_compact(struct timeline *tl);
extern int	tl_gc(struct timeline *tl);

extern struct tl_snapshot *tl_snapshot_get(struct timeline *tl);
extern void tl_snapshot_put(struct tl_snapshot *s);
extern lsn_t tl_disk_consistent_lsn(struct timeline *tl);
extern lsn_t tl_gc_cutoff(struct timeline *tl);

/*
 * Retention (any thread): GC keeps what the newest LSN minus gc_horizon
 * and, with pitr_seconds > 0, the LSN reached pitr_seconds ago still need,
 * whichever is older.  Takes effect at the next GC.
 */
extern void tl_set_retention(struct timeline *tl, uint64_t gc_horizon, uint32_t pitr_seconds);
/* The GC cutoff that retention asks for now (before clamping and monotonicity). */
extern lsn_t tl_retention_cutoff(struct timeline *tl, int64_t now);
extern const char *tl_state_name(enum tl_state s);
/* Record or forget a child's branch point (GC keeps what it needs). */
extern void tl_add_branch(struct timeline *tl, lsn_t lsn);
extern void tl_remove_branch(struct timeline *tl, lsn_t lsn);

#endif							/* STRATA_TIMELINE_H */
