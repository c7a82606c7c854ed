/*-------------------------------------------------------------------------
 *
 * walrecv.c
 *	  The WAL receiver: PostgreSQL's streaming replication protocol as a
 *	  physical standby speaks it, into a walstore (see walrecv.h).
 *
 * The protocol, as walreceiver.c and libpqwalreceiver.c use it (PostgreSQL
 * 15, "Streaming Replication Protocol" in the manual): in COPY BOTH mode
 * the server sends 'w' XLogData (u64 start, u64 end of WAL on the server,
 * i64 send time, data) and 'k' keepalives (u64 end, i64 time, u8 reply
 * requested); we send 'r' standby status updates (u64 written, u64
 * flushed, u64 applied, i64 time, u8 reply requested).  Integers are
 * big-endian; times are microseconds since 2000-01-01.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bytes.h"
#include "fio.h"
#include "slog.h"
#include "strata_err.h"
#include "walrecv.h"

#define WR_SYNC_BYTES		(16u * 1024 * 1024)
#define WR_BACKOFF_MIN_MS	200
#define WR_BACKOFF_MAX_MS	5000
/* microseconds from 1970-01-01 to 2000-01-01 (PostgreSQL's epoch) */
#define WR_PG_EPOCH_US		INT64_C(946684800000000)

struct walrecv
{
	struct walrecv_config cfg;
	pthread_t	thread;
	int			wake_fd;		/* eventfd: walrecv_stop() */
	atomic_int	stopping;

	/* store_lock: readers (shared) against a reopen (exclusive) */
	pthread_rwlock_t store_lock;
	struct walstore *store;

	/* lock protects the status fields */
	pthread_mutex_t lock;
	struct walrecv_status st;

	/* the receiver thread's */
	PGconn	   *conn;
	uint32_t	seg_size;
	uint32_t	tli;
	uint64_t	sysid;
	uint64_t	unsynced;		/* bytes appended since the last sync */
	int64_t		last_status_us;
};

const char *
walrecv_state_name(enum walrecv_state s)
{
	switch (s)
	{
		case WALRECV_CONNECTING:
			return "connecting";
		case WALRECV_STREAMING:
			return "streaming";
		case WALRECV_REFUSED:
			return "refused";
		case WALRECV_STOPPED:
			return "stopped";
	}
	return "?";
}

static int64_t
wr_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wr_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
wr_set_state(struct walrecv *wr, enum walrecv_state s, const char *error)
{
	pthread_mutex_lock(&wr->lock);
	wr->st.state = s;
	if (error != NULL)
		snprintf(wr->st.error, sizeof(wr->st.error), "%s", error);
	pthread_mutex_unlock(&wr->lock);
}

/* Log and record a failure of this attempt; state is what follows it. */
static void
wr_fail(struct walrecv *wr, enum walrecv_state s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
wr_fail(struct walrecv *wr, enum walrecv_state s, const char *fmt, ...)
{
	char		msg[256];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* libpq's messages end in a newline */
	msg[strcspn(msg, "\n")] = '\0';
	slog(s == WALRECV_REFUSED ? SLOG_ERROR : SLOG_WARNING, "walrecv: %s", msg);
	wr_set_state(wr, s, msg);
}

/* Sleep up to ms, or less if stopped.  Returns 1 when stopping. */
static int
wr_sleep(struct walrecv *wr, int ms)
{
	struct pollfd p = {.fd = wr->wake_fd, .events = POLLIN};

	if (atomic_load(&wr->stopping))
		return 1;
	(void) poll(&p, 1, ms);		/* EINTR: just a shorter sleep */
	return atomic_load(&wr->stopping);
}

/*
 * Wait until the connection's socket is ready for what libpq wants (or
 * the timeout); 1 when stopping, -1 on a poll failure.
 */
static int
wr_wait(struct walrecv *wr, int for_write, int timeout_ms)
{
	struct pollfd p[2] = {
		{.fd = PQsocket(wr->conn), .events = (short) (for_write ? POLLOUT : POLLIN)},
		{.fd = wr->wake_fd, .events = POLLIN},
	};

	if (poll(p, 2, timeout_ms) < 0 && errno != EINTR)
		return -1;
	return atomic_load(&wr->stopping) ? 1 : 0;
}

/* Connect without blocking past a stop.  0, or -1 (logged). */
static int
wr_connect(struct walrecv *wr)
{
	const char *keys[] = {"replication", "application_name", "connect_timeout", NULL};
	const char *vals[] = {"true", wr->cfg.application_name, "10", NULL};
	PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
	char		conninfo[WALRECV_CONNINFO_MAX + 64];
	const char *k2[5];
	const char *v2[5];

	/* the configured string first, ours after: ours win */
	snprintf(conninfo, sizeof(conninfo), "%s", wr->cfg.conninfo);
	k2[0] = "dbname";
	v2[0] = conninfo;
	for (int i = 0; keys[i]; i++)
	{
		k2[i + 1] = keys[i];
		v2[i + 1] = vals[i];
	}
	k2[4] = NULL;
	v2[4] = NULL;
	wr->conn = PQconnectStartParams(k2, v2, 1);
	if (wr->conn == NULL)
	{
		wr_fail(wr, WALRECV_CONNECTING, "out of memory connecting to the compute");
		return -1;
	}
	while (PQstatus(wr->conn) != CONNECTION_BAD && ps != PGRES_POLLING_OK &&
		   ps != PGRES_POLLING_FAILED)
	{
		int			w = wr_wait(wr, ps == PGRES_POLLING_WRITING, 1000);

		if (w != 0)
			return -1;
		ps = PQconnectPoll(wr->conn);
	}
	if (PQstatus(wr->conn) != CONNECTION_OK)
	{
		wr_fail(wr, WALRECV_CONNECTING, "could not connect to the compute: %s", PQerrorMessage(wr->conn));
		return -1;
	}
	if (PQsetnonblocking(wr->conn, 1) != 0)
	{
		wr_fail(wr, WALRECV_CONNECTING, "could not make the connection non-blocking");
		return -1;
	}
	return 0;
}

/*
 * Run one command and wait for its result without blocking past a stop.
 * Returns the last result (caller PQclear()s), or NULL (logged).
 */
static PGresult *
wr_exec(struct walrecv *wr, const char *cmd)
{
	PGresult   *last = NULL;
	PGresult   *r;

	if (!PQsendQuery(wr->conn, cmd))
	{
		wr_fail(wr, WALRECV_CONNECTING, "could not send \"%s\": %s", cmd, PQerrorMessage(wr->conn));
		return NULL;
	}
	while (PQflush(wr->conn) == 1)
		if (wr_wait(wr, 1, 1000) != 0)
			return NULL;
	for (;;)
	{
		while (PQisBusy(wr->conn))
		{
			if (wr_wait(wr, 0, 1000) != 0 || !PQconsumeInput(wr->conn))
			{
				if (!atomic_load(&wr->stopping))
					wr_fail(wr, WALRECV_CONNECTING, "connection lost during \"%s\": %s", cmd,
							PQerrorMessage(wr->conn));
				PQclear(last);
				return NULL;
			}
		}
		r = PQgetResult(wr->conn);
		if (r == NULL)
			break;
		PQclear(last);
		last = r;
		if (PQresultStatus(r) == PGRES_COPY_BOTH)
			break;				/* no more results until the copy ends */
	}
	if (last == NULL)
		wr_fail(wr, WALRECV_CONNECTING, "no result for \"%s\"", cmd);
	return last;
}

static int
wr_expect_tuples(struct walrecv *wr, PGresult *r, const char *cmd, int nfields)
{
	if (r == NULL)
		return -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 || PQnfields(r) < nfields)
	{
		wr_fail(wr, WALRECV_CONNECTING, "unexpected answer to %s: %s", cmd,
				PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQresStatus(PQresultStatus(r)));
		PQclear(r);
		return -1;
	}
	return 0;
}

/* "16MB" (SHOW's unit form) or a plain number of bytes. */
static uint32_t
wr_parse_size(const char *s)
{
	char	   *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (strcmp(end, "MB") == 0)
		v *= 1024 * 1024;
	else if (strcmp(end, "GB") == 0)
		v *= 1024 * 1024 * 1024;
	else if (strcmp(end, "kB") == 0)
		v *= 1024;
	else if (*end != '\0')
		return 0;
	return v > UINT32_MAX ? 0 : (uint32_t) v;
}

/*
 * WAL from end to restart is gone from the compute and was never here: the
 * store cannot continue across the gap.  It moves aside, whole, to
 * STORE.before-<end> (still readable by hand), a new store starts at the
 * compute's oldest WAL, and the gap is logged and kept in the status: no
 * point in time inside it can be recovered.
 */
static int
wr_start_over(struct walrecv *wr, lsn_t end, lsn_t restart)
{
	char		a[LSN_STRLEN],
				b[LSN_STRLEN];
	char		aside[PATH_MAX + 32];
	struct walstore *ws;
	int			err;

	slog(SLOG_ERROR, "walrecv: WAL from %s to %s is lost: the compute removed it before stratad received it (slot \"%s\" dropped or invalidated); points in time in that range cannot be recovered",
		 lsn_format(end, a), lsn_format(restart, b), wr->cfg.slot);
	pthread_mutex_lock(&wr->lock);
	wr->st.lost_from = end;
	wr->st.lost_to = restart;
	pthread_mutex_unlock(&wr->lock);
	snprintf(aside, sizeof(aside), "%s.before-%016llX", wr->cfg.store_dir, (unsigned long long) end);
	pthread_rwlock_wrlock(&wr->store_lock);
	walstore_close(wr->store);
	wr->store = NULL;
	if (fio_rename(wr->cfg.store_dir, aside) != 0)
	{
		err = errno;
		pthread_rwlock_unlock(&wr->store_lock);
		wr_fail(wr, WALRECV_REFUSED, "could not move the WAL store aside to \"%s\": %s", aside, strerror(err));
		return -1;
	}
	err = walstore_open(wr->cfg.store_dir, wr->sysid, &ws);
	if (err == 0)
		wr->store = ws;
	pthread_rwlock_unlock(&wr->store_lock);
	if (err != 0)
	{
		wr_fail(wr, WALRECV_REFUSED, "could not create a new WAL store: %s", strata_strerror(err));
		return -1;
	}
	return 0;
}

/* Everything before START_REPLICATION; returns the start LSN or 0. */
static lsn_t
wr_handshake(struct walrecv *wr)
{
	struct walstore_info info;
	char		cmd[256];
	PGresult   *r;
	lsn_t		restart = LSN_INVALID;
	uint32_t	hi,
				lo;

	r = wr_exec(wr, "IDENTIFY_SYSTEM");
	if (wr_expect_tuples(wr, r, "IDENTIFY_SYSTEM", 3) != 0)
		return 0;
	wr->sysid = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	wr->tli = (uint32_t) strtoul(PQgetvalue(r, 0, 1), NULL, 10);
	PQclear(r);

	r = wr_exec(wr, "SHOW wal_segment_size");
	if (wr_expect_tuples(wr, r, "SHOW wal_segment_size", 1) != 0)
		return 0;
	wr->seg_size = wr_parse_size(PQgetvalue(r, 0, 0));
	PQclear(r);

	pthread_rwlock_rdlock(&wr->store_lock);
	walstore_info(wr->store, &info);
	pthread_rwlock_unlock(&wr->store_lock);
	if ((info.system_id != 0 && info.system_id != wr->sysid) ||
		(wr->cfg.system_id != 0 && wr->cfg.system_id != wr->sysid))
	{
		wr_fail(wr, WALRECV_REFUSED, "the compute is system %" PRIu64 ", this timeline's WAL is of system %" PRIu64,
				wr->sysid, info.system_id ? info.system_id : wr->cfg.system_id);
		return 0;
	}
	if (info.segments > 0 && (info.tli != wr->tli || info.seg_size != wr->seg_size))
	{
		wr_fail(wr, WALRECV_REFUSED,
				"the compute is on PostgreSQL timeline %u with %u-byte segments; the stored WAL is timeline %u, %u-byte segments",
				wr->tli, wr->seg_size, info.tli, info.seg_size);
		return 0;
	}

	/* the slot: what keeps the compute from recycling WAL we lack */
	snprintf(cmd, sizeof(cmd), "READ_REPLICATION_SLOT \"%s\"", wr->cfg.slot);
	r = wr_exec(wr, cmd);
	if (wr_expect_tuples(wr, r, "READ_REPLICATION_SLOT", 2) != 0)
		return 0;
	if (PQgetisnull(r, 0, 0))
	{
		PQclear(r);
		snprintf(cmd, sizeof(cmd), "CREATE_REPLICATION_SLOT \"%s\" PHYSICAL (RESERVE_WAL)", wr->cfg.slot);
		r = wr_exec(wr, cmd);
		if (wr_expect_tuples(wr, r, "CREATE_REPLICATION_SLOT", 2) != 0)
			return 0;
		PQclear(r);
		slog(SLOG_INFO, "walrecv: created physical replication slot \"%s\" on the compute", wr->cfg.slot);
		snprintf(cmd, sizeof(cmd), "READ_REPLICATION_SLOT \"%s\"", wr->cfg.slot);
		r = wr_exec(wr, cmd);
		if (wr_expect_tuples(wr, r, "READ_REPLICATION_SLOT", 2) != 0)
			return 0;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "physical") == 0 && PQgetisnull(r, 0, 1))
	{
		/*
		 * PostgreSQL invalidated the slot (max_slot_wal_keep_size): the WAL
		 * it held for us is gone.  A new slot keeps what is there now.
		 */
		PQclear(r);
		slog(SLOG_ERROR, "walrecv: the compute invalidated slot \"%s\" (max_slot_wal_keep_size): WAL stratad had not received is lost; creating it again",
			 wr->cfg.slot);
		snprintf(cmd, sizeof(cmd), "DROP_REPLICATION_SLOT \"%s\"", wr->cfg.slot);
		r = wr_exec(wr, cmd);
		if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
		{
			wr_fail(wr, WALRECV_CONNECTING, "could not drop the invalidated slot: %s",
					r ? PQresultErrorMessage(r) : "");
			PQclear(r);
			return 0;
		}
		PQclear(r);
		return wr_handshake(wr);
	}
	if (strcmp(PQgetvalue(r, 0, 0), "physical") != 0 ||
		sscanf(PQgetvalue(r, 0, 1), "%X/%X", &hi, &lo) != 2)
	{
		wr_fail(wr, WALRECV_REFUSED, "slot \"%s\" on the compute is not a physical slot with reserved WAL",
				wr->cfg.slot);
		PQclear(r);
		return 0;
	}
	restart = (lsn_t) hi << 32 | lo;
	PQclear(r);

	if (info.segments > 0 && info.end_lsn != LSN_INVALID)
	{
		if (info.end_lsn < restart - restart % wr->seg_size)
		{
			/* the compute recycled WAL we never had: a gap */
			if (wr_start_over(wr, info.end_lsn, restart) != 0)
				return 0;
			return restart - restart % wr->seg_size;
		}
		return info.end_lsn;
	}
	return restart - restart % wr->seg_size;
}

static int
wr_send_status(struct walrecv *wr, lsn_t written, lsn_t flushed, int reply)
{
	uint8_t		m[34];

	m[0] = 'r';
	put_be64(m + 1, written);
	put_be64(m + 9, flushed);
	put_be64(m + 17, flushed);	/* "applied": nothing here lags behind flush */
	put_be64(m + 25, (uint64_t) (wr_now_us() - WR_PG_EPOCH_US));
	m[33] = (uint8_t) reply;
	if (PQputCopyData(wr->conn, (const char *) m, sizeof(m)) <= 0 || PQflush(wr->conn) < 0)
	{
		wr_fail(wr, WALRECV_CONNECTING, "could not send a status update: %s", PQerrorMessage(wr->conn));
		return -1;
	}
	wr->last_status_us = wr_now_us();
	return 0;
}

/* Reopen the store after a failed sync or write (see walrecv.h). */
static void
wr_reopen_store(struct walrecv *wr)
{
	struct walstore *ws;
	int			err;

	pthread_rwlock_wrlock(&wr->store_lock);
	walstore_close(wr->store);
	wr->store = NULL;
	err = walstore_open(wr->cfg.store_dir, wr->sysid, &ws);
	if (err == 0)
		wr->store = ws;
	pthread_rwlock_unlock(&wr->store_lock);
	if (err != 0)
		wr_fail(wr, WALRECV_REFUSED, "could not reopen the WAL store \"%s\": %s", wr->cfg.store_dir,
				strata_strerror(err));
}

/* Make the appended WAL durable and tell the compute.  0 or -1. */
static int
wr_sync_and_report(struct walrecv *wr, int reply)
{
	struct walstore_info info;
	int			err;

	err = walstore_sync(wr->store);
	if (err != 0)
	{
		wr_fail(wr, WALRECV_CONNECTING, "could not sync the WAL store: %s", strata_strerror(err));
		return -1;
	}
	walstore_info(wr->store, &info);
	pthread_mutex_lock(&wr->lock);
	if (wr->unsynced > 0)
		wr->st.syncs++;
	pthread_mutex_unlock(&wr->lock);
	wr->unsynced = 0;
	return wr_send_status(wr, info.end_lsn, info.flush_lsn, reply);
}

/* One message of the stream.  0, or -1 to drop the connection. */
static int
wr_message(struct walrecv *wr, const uint8_t *m, int len)
{
	if (len >= 25 && m[0] == 'w')
	{
		lsn_t		start = get_be64(m + 1);
		lsn_t		end = get_be64(m + 9);
		size_t		n = (size_t) len - 25;
		int			err;

		if (n == 0)
			return 0;
		err = walstore_append(wr->store, wr->sysid, wr->tli, wr->seg_size, start, m + 25, n);
		if (err != 0)
		{
			wr_fail(wr, WALRECV_CONNECTING, "could not store WAL at %X/%X: %s",
					(unsigned) (start >> 32), (unsigned) start, strata_strerror(err));
			return -1;
		}
		wr->unsynced += n;
		pthread_mutex_lock(&wr->lock);
		wr->st.received_bytes += n;
		wr->st.server_lsn = end;
		pthread_mutex_unlock(&wr->lock);
		if (wr->unsynced >= WR_SYNC_BYTES)
			return wr_sync_and_report(wr, 0);
		return 0;
	}
	if (len >= 18 && m[0] == 'k')
	{
		pthread_mutex_lock(&wr->lock);
		wr->st.server_lsn = get_be64(m + 1);
		pthread_mutex_unlock(&wr->lock);
		if (m[17])
			return wr_sync_and_report(wr, 0);
		return 0;
	}
	wr_fail(wr, WALRECV_CONNECTING, "malformed replication message (type 0x%02x, %d bytes)",
			len > 0 ? m[0] : 0, len);
	return -1;
}

/*
 * Test builds: a receiver that is down while the rest of stratad runs.
 * (One that stays connected but stops reading would be worse than a
 * test: PostgreSQL's checkpointer waits for a walsender stuck writing to
 * it before it can invalidate the slot, so the receiver never stops
 * reading while connected.)
 */
static int
wr_paused(void)
{
#ifdef STRATA_TEST_HOOKS
	const char *f = getenv("STRATA_WALRECV_PAUSE_FILE");

	return f != NULL && access(f, F_OK) == 0;
#else
	return 0;
#endif
}

/* Stream until the connection ends or we stop. */
static void
wr_stream(struct walrecv *wr, lsn_t start)
{
	char		cmd[256];
	PGresult   *r;

	snprintf(cmd, sizeof(cmd), "START_REPLICATION SLOT \"%s\" PHYSICAL %X/%X TIMELINE %u",
			 wr->cfg.slot, (unsigned) (start >> 32), (unsigned) start, wr->tli);
	r = wr_exec(wr, cmd);
	if (r == NULL)
		return;
	if (PQresultStatus(r) != PGRES_COPY_BOTH)
	{
		wr_fail(wr, WALRECV_CONNECTING, "could not start streaming at %X/%X: %s",
				(unsigned) (start >> 32), (unsigned) start, PQresultErrorMessage(r));
		PQclear(r);
		return;
	}
	PQclear(r);
	pthread_mutex_lock(&wr->lock);
	wr->st.connects++;
	wr->st.state = WALRECV_STREAMING;
	wr->st.error[0] = '\0';
	pthread_mutex_unlock(&wr->lock);
	slog(SLOG_INFO, "walrecv: streaming WAL from %X/%X on timeline %u", (unsigned) (start >> 32),
		 (unsigned) start, wr->tli);

	while (!atomic_load(&wr->stopping))
	{
		char	   *buf = NULL;
		int			n;

		if (wr_paused())
			return;
		n = PQgetCopyData(wr->conn, &buf, 1);

		if (n > 0)
		{
			int			rc = wr_message(wr, (const uint8_t *) buf, n);

			PQfreemem(buf);
			if (rc != 0)
				return;
			continue;
		}
		if (n == -1)
		{
			/* the server ended the stream (shutdown, timeline switch) */
			r = PQgetResult(wr->conn);
			wr_fail(wr, WALRECV_CONNECTING, "the compute ended the stream: %s",
					r ? PQresultErrorMessage(r) : "");
			PQclear(r);
			return;
		}
		if (n == -2)
		{
			wr_fail(wr, WALRECV_CONNECTING, "replication connection failed: %s", PQerrorMessage(wr->conn));
			return;
		}
		/* nothing more for now: make it durable, report, wait */
		if (wr->unsynced > 0 ||
			wr_now_us() - wr->last_status_us >= (int64_t) wr->cfg.status_interval_ms * 1000)
		{
			if (wr_sync_and_report(wr, 0) != 0)
				return;
		}
		if (wr_wait(wr, 0, wr->cfg.status_interval_ms) != 0)
			return;
		if (!PQconsumeInput(wr->conn))
		{
			wr_fail(wr, WALRECV_CONNECTING, "replication connection lost: %s", PQerrorMessage(wr->conn));
			return;
		}
	}
}

static void *
wr_main(void *arg)
{
	struct walrecv *wr = arg;
	int			backoff = WR_BACKOFF_MIN_MS;

	while (!atomic_load(&wr->stopping))
	{
		int64_t		began = wr_mono_ms();
		lsn_t		start;

		if (wr_paused())
		{
			if (wr_sleep(wr, 100))
				break;
			continue;
		}
		if (wr->store == NULL)
			wr_reopen_store(wr);
		if (wr->store != NULL && wr_connect(wr) == 0 && (start = wr_handshake(wr)) != 0)
			wr_stream(wr, start);
		if (wr->conn != NULL)
		{
			PQfinish(wr->conn);
			wr->conn = NULL;
		}
		/* a store that failed a write or sync is reopened (walstore.h) */
		if (wr->store != NULL && walstore_failed(wr->store))
			wr_reopen_store(wr);
		/* a stream that ran a while had nothing wrong with it: retry soon */
		if (wr_mono_ms() - began > WR_BACKOFF_MAX_MS)
			backoff = WR_BACKOFF_MIN_MS;
		if (wr_sleep(wr, backoff))
			break;
		backoff = backoff * 2 > WR_BACKOFF_MAX_MS ? WR_BACKOFF_MAX_MS : backoff * 2;
	}
	wr_set_state(wr, WALRECV_STOPPED, NULL);
	return NULL;
}

int
walrecv_start(const struct walrecv_config *cfg, struct walrecv **out)
{
	struct walrecv *wr = calloc(1, sizeof(*wr));
	int			err;

	if (wr == NULL)
		return STRATA_ENOMEM;
	wr->cfg = *cfg;
	if (wr->cfg.status_interval_ms <= 0)
		wr->cfg.status_interval_ms = 1000;
	pthread_mutex_init(&wr->lock, NULL);
	pthread_rwlock_init(&wr->store_lock, NULL);
	wr->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wr->wake_fd < 0)
	{
		err = STRATA_ENOMEM;
		goto fail;
	}
	if ((err = walstore_open(cfg->store_dir, cfg->system_id, &wr->store)) != 0)
		goto fail;
	wr->st.state = WALRECV_CONNECTING;
	if (pthread_create(&wr->thread, NULL, wr_main, wr) != 0)
	{
		err = STRATA_ENOMEM;
		goto fail;
	}
	*out = wr;
	return 0;
fail:
	walstore_close(wr->store);
	if (wr->wake_fd >= 0)
		close(wr->wake_fd);
	pthread_rwlock_destroy(&wr->store_lock);
	pthread_mutex_destroy(&wr->lock);
	free(wr);
	return err;
}

void
walrecv_stop(struct walrecv *wr)
{
	uint64_t	one = 1;

	if (wr == NULL)
		return;
	atomic_store(&wr->stopping, 1);
	if (write(wr->wake_fd, &one, sizeof(one)) != sizeof(one))
		slog(SLOG_WARNING, "walrecv: could not wake the receiver: %s", strerror(errno));
	pthread_join(wr->thread, NULL);
	if (wr->conn != NULL)
		PQfinish(wr->conn);
	walstore_close(wr->store);
	close(wr->wake_fd);
	pthread_rwlock_destroy(&wr->store_lock);
	pthread_mutex_destroy(&wr->lock);
	free(wr);
}

void
walrecv_status(struct walrecv *wr, struct walrecv_status *out)
{
	pthread_mutex_lock(&wr->lock);
	*out = wr->st;
	pthread_mutex_unlock(&wr->lock);
	pthread_rwlock_rdlock(&wr->store_lock);
	if (wr->store != NULL)
		walstore_info(wr->store, &out->store);
	else
		memset(&out->store, 0, sizeof(out->store));
	pthread_rwlock_unlock(&wr->store_lock);
}

int
walrecv_read_segment(struct walrecv *wr, const char *segname, int allow_partial, void **buf,
					 uint32_t *len, int *complete)
{
	struct walstore_info info;
	void	   *b;
	int			err;

	pthread_rwlock_rdlock(&wr->store_lock);
	if (wr->store == NULL)
	{
		pthread_rwlock_unlock(&wr->store_lock);
		return STRATA_ENOTFOUND;
	}
	walstore_info(wr->store, &info);
	if (info.seg_size == 0)
	{
		pthread_rwlock_unlock(&wr->store_lock);
		return STRATA_ENOTFOUND;
	}
	if ((b = malloc(info.seg_size)) == NULL)
	{
		pthread_rwlock_unlock(&wr->store_lock);
		return STRATA_ENOMEM;
	}
	err = walstore_read_segment(wr->store, segname, allow_partial, b, complete);
	pthread_rwlock_unlock(&wr->store_lock);
	if (err != 0)
	{
		free(b);
		return err;
	}
	*buf = b;
	*len = info.seg_size;
	return 0;
}
