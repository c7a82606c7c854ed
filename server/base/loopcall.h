/*-------------------------------------------------------------------------
 *
 * loopcall.h
 *	  Run a function on the thread of another event loop: wait for it
 *	  (loopcall_run) or hand it over and go on (loopcall_post).
 *
 * Each structure in stratad belongs to one thread (CONVENTIONS.md 5); a
 * thread that needs something done to another loop's state sends it there
 * instead of taking a lock.  The management API uses it to stop timelines
 * and read loop-owned counters on the page-service loop, and that loop
 * uses it to hand finished background work back to the API loop.
 *
 * A loopcall belongs to one event_base and to the thread that dispatches
 * it (its owner).  Calls are queued FIFO and run from one event of the
 * highest priority, so a busy loop runs them at its next iteration.
 * Nothing here allocates: a run's message lives on the caller's stack, a
 * post's in memory the caller provides (struct loopcall_msg), so posting
 * never fails.
 *
 * Life: loopcall_new() (any thread, before the loop runs) -> the owner
 * dispatches -> after its dispatch returned, the owner may go on running
 * calls with loopcall_serve() until loopcall_serve_end() -> loopcall_close()
 * (owner): from then on the loop runs nothing: queued and later runs fail
 * with STRATA_ESHUTDOWN without running, queued and later posts run on the
 * posting thread (the owner's state is no longer in use by a loop then)
 * -> loopcall_free().
 *
 * Threads: loopcall_run() and loopcall_post() from any thread but the
 * owner's (a run from the owner would wait for itself); the rest from the
 * owner.  A run's function must not itself wait on a loop that may be
 * waiting for this one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_LOOPCALL_H
#define STRATA_LOOPCALL_H

struct event_base;
struct loopcall;

typedef int (*loopcall_run_fn) (void *arg);
typedef void (*loopcall_post_fn) (void *arg);

/* A queued call; private to loopcall.c, embedded by the poster. */
struct loopcall_msg
{
	loopcall_run_fn run;		/* a run (waited for), or NULL */
	loopcall_post_fn post;		/* a post */
	void	   *arg;
	int			result;			/* a run's result, under the loopcall's lock */
	int			done;
	struct loopcall_msg *next;
};

/* NULL if out of memory. */
extern struct loopcall *loopcall_new(struct event_base *base);
/* Owner; after loopcall_close(). */
extern void loopcall_free(struct loopcall *lc);

/*
 * Run fn(arg) on the owner's thread and wait for it; returns fn's result,
 * or STRATA_ESHUTDOWN (fn did not run) once the loopcall is closed.
 */
extern int	loopcall_run(struct loopcall *lc, loopcall_run_fn fn, void *arg);

/*
 * Queue fn(arg) for the owner's thread and return; *msg must stay valid
 * until fn runs (it is usually a field of arg).  Once closed, fn runs at
 * once on the calling thread.
 */
extern void loopcall_post(struct loopcall *lc, struct loopcall_msg *msg, loopcall_post_fn fn,
						  void *arg);

/*
 * Owner, outside dispatch: run calls as they come until some thread calls
 * loopcall_serve_end() (at once if that happened already).  Lets a stopping
 * loop finish the requests of another thread it is about to join.
 */
extern void loopcall_serve(struct loopcall *lc);
extern void loopcall_serve_end(struct loopcall *lc);

/* Owner, once its loop is done: see the life cycle above. */
extern void loopcall_close(struct loopcall *lc);

#endif							/* STRATA_LOOPCALL_H */
