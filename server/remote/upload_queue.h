/*-------------------------------------------------------------------------
 *
 * upload_queue.h
 *	  A timeline's upload queue (ARCHITECTURE.md 5.6, I14, I15): which
 *	  remote operation may start now, in what order, and what the remote
 *	  side holds once they are done.  Pure logic: no I/O, no threads, no
 *	  clock.  The caller (the timeline's remote client) schedules
 *	  operations, asks for the next one that may start, runs it (on the
 *	  remote pool, retrying transient errors itself) and reports completion.
 *
 * Operations: upload a layer file, upload an index (index_part, a
 * struct manifest), delete layer files, a barrier, shutdown.
 *
 * Ordering (I15).  An operation B may start only while fewer than
 * `concurrency` operations are in flight, and only if it conflicts with no
 * operation scheduled before it that is still queued or in flight.  Two
 * operations conflict when:
 *	- either is a barrier or shutdown (nothing passes them, they pass nothing);
 *	- they touch the same object name (two index uploads always do: an
 *	  index's object name is fixed by the generation);
 *	- one is an index and the other uploads or deletes a layer the index
 *	  names, or one its predecessor named and it drops ("unnames").
 * So uploads and deletes of different layers commute, and an index starts
 * only after the uploads of every layer it names have finished, and a
 * delete of a layer waits until an index that no longer names it is up.
 *
 * Coalescing.  When an index upload may start and the operation queued
 * right after it is another index upload that could start if the first
 * were gone, the first is dropped (never uploaded) and the check repeats:
 * only the newest of a run of ready indexes is uploaded.  Its
 * "coalesced" counts the ones it replaced.
 *
 * Validation (I14).  An index is checked when it is scheduled and again by
 * upload_next() right before it is handed out for upload: its tenant and
 * timeline are the queue's; every layer name parses (layerfile.h); no
 * layer reaches past disk_consistent_lsn; no layer is listed twice; neither
 * the index nor a layer has a generation above the queue's; without an
 * ancestor and layers, disk_consistent_lsn is 0; and every listed layer is
 * already uploaded or (at scheduling) has its upload ahead in the queue,
 * (before upload) is uploaded.  An invalid index is never handed out: the
 * queue goes BROKEN with a message naming the index and the reason
 * (upload_queue_error()), and no further operation starts.
 *
 * States (upload_queue_state()):
 *
 *	 ACTIVE --upload_schedule_shutdown()--> STOPPING --shutdown op completed--> STOPPED
 *	   |                                        |       (upload_complete())
 *	   +-- invalid index (schedule or next), ---+--> BROKEN
 *	       failed operation (upload_complete with an error)
 *
 * Only an ACTIVE queue accepts operations; scheduling on another state
 * returns STRATA_ESHUTDOWN.  In flight operations of a BROKEN or STOPPING
 * queue are still completed by the caller.
 *
 * Ownership: the queue owns every operation from scheduling until
 * upload_complete() (which frees it) or upload_queue_free().  An operation
 * returned by upload_next() is the caller's to read (not to change) until
 * it completes it.  A barrier or shutdown "runs" by being completed: the
 * caller completes it right away and wakes whoever waits for it.
 * Transient remote errors are the caller's to retry; upload_complete()
 * with an error means the operation failed for good.
 *
 * Cost: upload_next() compares each queued candidate with every earlier
 * unfinished operation (name lookups are binary searches in sorted sets),
 * and stops at the first queued barrier or shutdown.
 *
 * One thread at a time (the timeline's owner); nothing is logged.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_UPLOAD_QUEUE_H
#define STRATA_UPLOAD_QUEUE_H

#include <stdint.h>

#include "lsn.h"
#include "manifest.h"

#define UPLOAD_NAME_MAX		MANIFEST_NAME_MAX
#define UPLOAD_CONCURRENCY_DEFAULT 100
#define UPLOAD_ERROR_MAX	512

enum upload_state
{
	UPLOAD_ACTIVE = 1,
	UPLOAD_STOPPING,
	UPLOAD_STOPPED,
	UPLOAD_BROKEN,
};

enum upload_op_kind
{
	UPLOAD_OP_LAYER = 1,
	UPLOAD_OP_INDEX,
	UPLOAD_OP_DELETE,
	UPLOAD_OP_BARRIER,
	UPLOAD_OP_SHUTDOWN,
};

struct upload_op_private;

/* An operation.  The caller reads; upload_queue.c writes. */
struct upload_op
{
	uint64_t	id;				/* schedule order, from 1 */
	enum upload_op_kind kind;
	char		name[UPLOAD_NAME_MAX];	/* LAYER: the layer; INDEX: the index object */
	uint64_t	size;			/* LAYER: bytes */
	struct manifest index;		/* INDEX: the index (owned by the queue) */
	uint64_t	coalesced;		/* INDEX: older index uploads this one replaced */
	uint32_t	ndelete;		/* DELETE: layer names */
	char		(*delete_names)[UPLOAD_NAME_MAX];
	struct upload_op_private *priv; /* private */
};

struct upload_queue_config
{
	uint32_t	concurrency;	/* in flight at most; 0 = UPLOAD_CONCURRENCY_DEFAULT */
	uint32_t	generation;		/* ours: nothing newer may be uploaded */
	uint8_t		tenant[16];
	uint8_t		timeline[16];
};

struct upload_queue_stats
{
	uint32_t	queued;
	uint32_t	inflight;
	uint64_t	scheduled;
	uint64_t	completed;		/* coalesced indexes included */
	uint64_t	coalesced;
	lsn_t		remote_consistent_lsn;	/* of the last index uploaded */
	lsn_t		projected_consistent_lsn;	/* of the last index scheduled */
};

struct upload_queue;

/*
 * remote: the index the remote side holds now (its layers are taken as
 * uploaded), or NULL for an empty remote.  Borrowed.  Returns 0 or
 * STRATA_ENOMEM / STRATA_EINVAL (remote's layer names do not parse).
 */
extern int	upload_queue_new(const struct upload_queue_config *cfg, const struct manifest *remote,
							 struct upload_queue **out);

/* Frees every operation still queued or in flight. */
extern void upload_queue_free(struct upload_queue *q);

/* The object name of an index of generation gen ("index_part-GGGGGGGG"). */
extern void upload_index_object_name(uint32_t generation, char buf[UPLOAD_NAME_MAX]);

/*
 * Schedule functions: 0, STRATA_ESHUTDOWN (the queue is not ACTIVE),
 * STRATA_ENOMEM, or STRATA_EINVAL (a bad name; a delete of a layer the
 * newest scheduled index still names; an invalid index, which also makes
 * the queue BROKEN).  upload_schedule_index() takes over m's contents
 * whatever it returns (*m is zeroed).
 */
extern int	upload_schedule_layer(struct upload_queue *q, const char *name, uint64_t size);
extern int	upload_schedule_index(struct upload_queue *q, struct manifest *m);
extern int	upload_schedule_delete(struct upload_queue *q, const char *const *names, uint32_t n);
extern int	upload_schedule_barrier(struct upload_queue *q, uint64_t *id);
extern int	upload_schedule_shutdown(struct upload_queue *q);

/*
 * The next operation that may start, now marked in flight, or NULL if none
 * may (or the queue is BROKEN or STOPPED).  Call it until NULL after every
 * schedule and completion.
 */
extern struct upload_op *upload_next(struct upload_queue *q);

/*
 * An in-flight operation finished: err 0 applies it to the remote view; a
 * negative strata_err means it failed for good and makes the queue BROKEN.
 * Frees op.
 */
extern void upload_complete(struct upload_queue *q, struct upload_op *op, int err);

extern enum upload_state upload_queue_state(const struct upload_queue *q);
extern const char *upload_state_name(enum upload_state s);
/* Why the queue is BROKEN ("" otherwise); valid until the next call. */
extern const char *upload_queue_error(const struct upload_queue *q);
extern void upload_queue_stats(const struct upload_queue *q, struct upload_queue_stats *out);

/* Whether name is uploaded (its upload completed, no delete since). */
extern int	upload_queue_is_remote(const struct upload_queue *q, const char *name);

#ifdef STRATA_TEST_HOOKS
/* Tests: pretend the remote side lost name (to reach the check before upload). */
extern void upload_queue_test_forget(struct upload_queue *q, const char *name);
#endif

#endif							/* STRATA_UPLOAD_QUEUE_H */
