/*-------------------------------------------------------------------------
 *
 * handles.h
 *	  Weak timeline handles and the per-connection cache that holds them
 *	  (ARCHITECTURE.md I3/I4: the page service never holds a timeline
 *	  while it waits for a client).
 *
 * A weak handle points at a timeline without a reference.  The timeline
 * knows its handles and clears them when it stops (handles_invalidate,
 * called before tl_shutdown), so a handle never keeps a timeline alive and
 * never dangles.  handle_upgrade() gives a strong reference (tl_ref) only
 * while the timeline is Active or Broken; callers hold it just for one
 * storage read and drop it before waiting on anything.
 *
 * Each connection owns one cache (a handful of entries: a pagestream
 * serves one timeline today, shards would add more).  hcache_shutdown()
 * detaches every handle; calling it again is a no-op.
 *
 * Loop thread only (timelines stop on the loop thread too).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_HANDLES_H
#define STRATA_HANDLES_H

#include <stdint.h>

struct timeline;

#define HCACHE_MAX 4

struct tl_handle
{
	struct timeline *tl;		/* weak; NULL once the timeline stopped */
	uint8_t		tenant_id[16];
	uint8_t		timeline_id[16];
	struct tl_handle *prev;		/* in the timeline's list */
	struct tl_handle *next;
};

struct hcache
{
	struct tl_handle *h[HCACHE_MAX];
	int			n;
	int			shut;
};

extern void hcache_init(struct hcache *c);

/* The cache's weak handle for tl (created on first use); NULL if full or shut. */
extern struct tl_handle *hcache_get(struct hcache *c, struct timeline *tl);

/* A strong reference to the handle's timeline, or NULL if it stopped. */
extern struct timeline *handle_upgrade(struct tl_handle *h);

/* Whether h still names a timeline (without taking a reference). */
extern int	handle_alive(const struct tl_handle *h);

extern void hcache_shutdown(struct hcache *c);

/* The timeline stops: clear every handle on it. */
extern void handles_invalidate(struct timeline *tl);

#endif							/* STRATA_HANDLES_H */
