/*-------------------------------------------------------------------------
 *
 * walrecv.h
 *	  stratad as a physical replication client of its compute
 *	  (ARCHITECTURE.md 5.7): streams the compute's WAL into a walstore.
 *
 * One receiver, one thread, one libpq replication connection.  The loop:
 * connect (application_name "strata-<node id>"), IDENTIFY_SYSTEM (the
 * system identifier must be the store's), SHOW wal_segment_size, make
 * sure the physical slot exists (READ_REPLICATION_SLOT, else
 * CREATE_REPLICATION_SLOT ... PHYSICAL RESERVE_WAL: the compute keeps WAL
 * from then on until we confirm it), START_REPLICATION from the store's
 * end (an empty store: the start of the segment holding the slot's
 * restart_lsn, so every stored segment is whole), then append each
 * XLogData message and, whenever the stream pauses or 16 MiB arrived,
 * walstore_sync() and only then a standby status update whose flush (and
 * apply) position is the synced end.  So the slot never lets the compute
 * recycle WAL that is not durable here, and a synchronous_standby_names
 * entry naming us holds commits until their WAL is durable here.
 *
 * Failures are retried: a lost connection reconnects after 200 ms doubling
 * to 5 s (a compute restarting or in crash recovery refuses us for a few
 * seconds, and every second of WAL not here is at risk); a refused stream (another system, another PostgreSQL timeline) is
 * logged at ERROR each attempt and visible in walrecv_status().  A failed
 * fsync leaves the store refusing appends (walstore.h): the receiver
 * reopens the store, which cuts what the kernel may have lost, and goes
 * on from the reopened end; nothing past the last successful sync was
 * ever reported.  When the compute removed WAL we never received (the
 * slot was dropped, or invalidated by max_slot_wal_keep_size while we
 * were down or behind), the slot is made again, the old store is moved
 * aside whole (STORE.before-<LSN>), a new one starts at the compute's
 * oldest WAL, and the lost range is logged at ERROR and shown in
 * walrecv_status().  No timeline or tenant reference is taken (I3): the store
 * belongs to the receiver.
 *
 * The receiver never stops reading while connected (it syncs, but does
 * not wait on anything else): PostgreSQL's checkpointer waits for a
 * walsender stuck writing to a client that does not read before it can
 * invalidate the slot.
 *
 * Test builds: while the file $STRATA_WALRECV_PAUSE_FILE exists the
 * receiver stays disconnected (a receiver that is down).
 *
 * Threads: walrecv_start() and walrecv_stop() on one thread (main());
 * walrecv_status() and walrecv_read_segment() from any thread.
 * walrecv_stop() wakes the receiver (an eventfd beside the socket),
 * closes the connection and joins it: it returns within a second whatever
 * the compute does.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_WALRECV_H
#define STRATA_WALRECV_H

#include <limits.h>
#include <stdint.h>

#include "lsn.h"
#include "walstore.h"

#define WALRECV_CONNINFO_MAX 1024
#define WALRECV_SLOT_MAX	64

struct walrecv_config
{
	/* libpq connection string of the compute, no password (see options) */
	char		conninfo[WALRECV_CONNINFO_MAX];
	char		slot[WALRECV_SLOT_MAX]; /* physical slot on the compute */
	char		application_name[64];	/* "strata-<node id>" */
	char		store_dir[PATH_MAX];
	uint64_t	system_id;		/* expected; 0: whatever the store holds */
	int			status_interval_ms; /* status updates at least this often */
};

enum walrecv_state
{
	WALRECV_CONNECTING,			/* or waiting to reconnect */
	WALRECV_STREAMING,
	WALRECV_REFUSED,			/* the compute's WAL is not ours: see error */
	WALRECV_STOPPED,
};

struct walrecv_status
{
	enum walrecv_state state;
	struct walstore_info store;
	uint64_t	received_bytes; /* since start */
	uint64_t	syncs;
	uint64_t	connects;		/* successful START_REPLICATIONs */
	lsn_t		server_lsn;		/* the compute's WAL end, as last told */
	lsn_t		lost_from;		/* WAL lost for good (both 0: none) */
	lsn_t		lost_to;
	char		error[256];		/* the last failure, "" if none */
};

struct walrecv;

/*
 * Open the store and start the thread.  Errors: those of walstore_open()
 * (the store is damaged or another system's) and STRATA_ENOMEM.
 */
extern int	walrecv_start(const struct walrecv_config *cfg, struct walrecv **out);
/* Stop, join and free (NULL: nothing). */
extern void walrecv_stop(struct walrecv *wr);
extern void walrecv_status(struct walrecv *wr, struct walrecv_status *out);
/* walstore_read_segment() on the receiver's store. */
extern int	walrecv_read_segment(struct walrecv *wr, const char *segname, int allow_partial,
								 void **buf, uint32_t *len, int *complete);
extern const char *walrecv_state_name(enum walrecv_state s);

#endif							/* STRATA_WALRECV_H */
