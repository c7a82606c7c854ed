/*-------------------------------------------------------------------------
 *
 * tenant.h
 *	  The registry of tenants and their timelines (ARCHITECTURE.md 5.5).
 *
 * DATADIR/tenants/<tenant hex>/config holds the tenant's settings and
 * generation (JSON in a CRC envelope like the manifest: magic "STRATATC");
 * DATADIR/tenants/<tenant hex>/timelines/<timeline hex>/ is a timeline
 * (timeline.h).  Deletion renames a directory to "<name>.deleted" first
 * (atomic), then removes it; leftovers are removed at the next start.
 *
 * Threads.  One thread changes the registry: the management API's (or,
 * offline and at startup, the only one).  The page-service loop owns what
 * a timeline's shutdown touches (its connections, handles, open layer), so
 * a timeline is stopped there: the changing thread runs that part through
 * reg->loop and waits (registry_delete_*), while directory removal, config
 * saves and timeline creation stay on the changing thread.  reg->lock
 * protects the arrays (tenants, each tenant's tls) and tenant states for
 * the other threads: the page-service loop's and the sync thread's lookups
 * take it.  Lookups return borrowed pointers: on the changing thread valid
 * until it changes the registry, on the page-service loop until the
 * current loop callback returns (a timeline leaves the arrays only on the
 * loop, in the step that stops it); take tl_ref() to keep one longer.
 * Tenant fields other than state are the changing thread's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_TENANT_H
#define STRATA_TENANT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "lsn.h"
#include "throttle.h"
#include "timeline.h"

struct event_base;
struct loopcall;

enum tenant_state
{
	TENANT_ACTIVE,
	TENANT_STOPPING,
};

struct tenant
{
	uint8_t		id[16];
	char		hex[33];
	char		dir[PATH_MAX];
	enum tenant_state state;
	struct tl_conf conf;		/* stratad's options with the settings below applied */
	int64_t		gc_horizon_set; /* set through the API, or -1: stratad's default */
	int64_t		pitr_set;		/* seconds, likewise */
	uint32_t	generation;
	uint32_t	ntl;
	struct timeline **tls;
	struct throttle throttle;	/* GETPAGE throttle of all its timelines */
};

/*
 * Called before a timeline shuts down, so connections using it go first;
 * on the page-service loop's thread (or with no loop running).
 */
typedef void (*registry_tl_stop_fn) (struct timeline *tl, void *arg);

struct registry
{
	char		datadir[PATH_MAX];
	struct event_base *base;
	struct loopcall *loop;		/* runs timeline stops on base's thread; NULL:
								 * the caller is that thread (borrowed, set by
								 * stratad while the API runs elsewhere) */
	pthread_mutex_t lock;		/* protects the arrays and tenant states */
	uint32_t	ntenants;
	struct tenant **tenants;
	struct tl_conf default_conf;
	registry_tl_stop_fn on_tl_stop;
	void	   *on_tl_stop_arg;
};

/* Load every tenant and timeline (ancestors first); base may be NULL (offline). */
extern int	registry_open(const char *datadir, struct event_base *base,
						  const struct tl_conf *default_conf, struct registry **out);
/* Shut everything down (children before parents) and free. */
extern void registry_close(struct registry *reg, int cancel);

extern struct tenant *registry_tenant(struct registry *reg, const uint8_t id[16]);
extern struct timeline *registry_timeline(struct registry *reg, const uint8_t tenant[16],
										  const uint8_t timeline[16]);

/* STRATA_EEXIST if it exists. */
extern int	registry_create_tenant(struct registry *reg, const uint8_t id[16],
								   struct tenant **out);
/*
 * Shut down and remove a tenant and all its timelines.  If a timeline
 * cannot be removed the tenant stays registered, Stopping, with the rest.
 */
extern int	registry_delete_tenant(struct registry *reg, const uint8_t id[16]);

/*
 * Check that a timeline id can be created, branching from ancestor_id at
 * *ancestor_lsn (LSN_INVALID is replaced by the ancestor's last record
 * LSN); *ancestor gets the ancestor (borrowed).  STRATA_ESHUTDOWN,
 * STRATA_EEXIST, STRATA_ENOTFOUND (the ancestor), STRATA_EINVAL (the LSN
 * is past the ancestor's last record or below its GC cutoff).
 */
extern int	registry_check_branch(struct registry *reg, struct tenant *t, const uint8_t id[16],
								  const uint8_t *ancestor_id, lsn_t *ancestor_lsn,
								  struct timeline **ancestor);

/*
 * Create a timeline, optionally branching from ancestor_id at ancestor_lsn
 * (LSN_INVALID: the ancestor's last record LSN).  The checks are those of
 * registry_check_branch().  A branch's history up to the branch point must
 * be in the ancestor's layers.  Offline (no loop) the ancestor is
 * checkpointed here; with a loop its open layer is the loop's, so the
 * caller checkpointed it there (tl_request_work()) after checking.
 */
extern int	registry_create_timeline(struct registry *reg, struct tenant *t, const uint8_t id[16],
									 const uint8_t *ancestor_id, lsn_t ancestor_lsn,
									 struct timeline **out);
/*
 * STRATA_EBUSY if it has children; shuts it down (cancelling) and removes
 * it.  STRATA_ESHUTDOWN (nothing done) if reg->loop no longer runs.
 */
extern int	registry_delete_timeline(struct registry *reg, struct tenant *t, const uint8_t id[16]);

/* Create the tenant and (root) timeline if they do not exist (the embedded default). */
extern int	registry_ensure_timeline(struct registry *reg, const uint8_t tenant[16],
									 const uint8_t timeline[16]);

/* Set the tenant's GETPAGE throttle (rate 0: off) and persist it. */
extern int	registry_set_throttle(struct registry *reg, struct tenant *t,
								  const struct throttle_conf *c);

#define TENANT_PITR_MAX (10 * 365 * 86400)	/* fits pitr_seconds */

/*
 * Set the tenant's retention (-1: stratad's default) for all its
 * timelines, effective at their next GC, and persist it.
 */
extern int	registry_set_retention(struct registry *reg, struct tenant *t, int64_t gc_horizon,
								   int64_t pitr_seconds);

/* fdatasync every timeline's logs (the sync thread). */
extern int	registry_sync_all(struct registry *reg);

#endif							/* STRATA_TENANT_H */
