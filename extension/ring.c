/*-------------------------------------------------------------------------
 *
 * comm.c
 *	  Connection to stratad and the in-order request ring (see comm.h).
 *
 * Ring positions are absolute (uint64) and map to slots modulo the ring
 * size.  head <= recv <= tail:
 *	[head, recv)	RECEIVED or UNUSED (consumed) slots
 *	[recv, tail)	REQUESTED: sent, response outstanding, in send order
 * A response always belongs to the slot at recv.  GETPAGE slots are not
 * owned by anyone until a read claims them; other requests belong to the
 * comm_call() that waits on them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "comm.h"
#include "lsn.h"
#include "strata.h"

typedef enum SlotState
{
	SLOT_UNUSED = 0,
	SLOT_REQUESTED,
	SLOT_RECEIVED,
} SlotState;

typedef struct Slot
{
	SlotState	state;
	bool		owned;			/* a comm_call() waits for it */
	struct proto_req req;
	RelFileNode rnode;			/* GETPAGE: the block, for lookups */
	ForkNumber	fork;
	comm_result res;			/* errmsg points to errbuf */
	char		errbuf[256];
	char	   *page;			/* GETPAGE: BLCKSZ bytes, allocated once */
} Slot;

#define FLUSH_EVERY 8
#define SLOW_RESPONSE_LOG_MS 10000

static Slot *ring;
static int	ring_size;
static uint64 ring_head;
static uint64 ring_recv;
static uint64 ring_tail;

static PGconn *conn;
static WaitEventSet *conn_wes;

/*
 * Our waits reset the process latch.  A wakeup meant for the caller's own
 * wait loop (a shutdown signal arriving while interrupts were held, say)
 * must not be lost: whoever consumed one sets the latch again before
 * returning to the caller (the logical replication launcher otherwise
 * slept through a fast shutdown).
 */
static bool latch_consumed = false;

static void
rearm_latch(void)
{
	if (latch_consumed)
	{
		latch_consumed = false;
		SetLatch(MyLatch);
	}
}
static int	conn_wes_sock;
static uint32 reqid_counter;
static int	unflushed;

static uint8 sendbuf[PROTO_HDR_SIZE + 64 + BLCKSZ];

static void wait_for(uint64 pos);
static void resend_outstanding(void);

static inline Slot *
slot_at(uint64 pos)
{
	return &ring[pos % ring_size];
}

struct proto_rel
comm_rel(RelFileNode rnode, ForkNumber fork)
{
	struct proto_rel r = {
		.spc = rnode.spcNode, .db = rnode.dbNode, .rel = rnode.relNode,
		.fork = (uint8) fork,
	};

	return r;
}

static void
ring_init(void)
{
	if (ring != NULL)
		return;
	ring_size = strata_readahead_buffer_size;
	ring = MemoryContextAllocZero(TopMemoryContext, sizeof(Slot) * ring_size);
	ring_head = ring_recv = ring_tail = 0;
}

/* Forget every slot: after an ERROR that broke the stream. */
static void
ring_reset(void)
{
	for (int i = 0; i < ring_size; i++)
		ring[i].state = SLOT_UNUSED;
	ring_head = ring_recv = ring_tail = 0;
	unflushed = 0;
}

/* ---------- connection ---------- */

static void
disconnect(void)
{
	if (conn_wes != NULL)
	{
		FreeWaitEventSet(conn_wes);
		conn_wes = NULL;
	}
	if (conn != NULL)
	{
		PQfinish(conn);
		conn = NULL;
	}
}

bool
comm_connected(void)
{
	return conn != NULL;
}

int
comm_ring_in_flight(void)
{
	return (int) (ring_tail - ring_recv);
}

/*
 * Where we connect, for messages: the socket, or the connection string's
 * host and port (never its password, which is stratad's token).
 */
const char *
comm_target(void)
{
	static char buf[MAXPGPATH + 64];
	PQconninfoOption *opts;
	const char *host = NULL;
	const char *port = NULL;

	if (buf[0] != '\0')
		return buf;
	if (STRATA_EMBEDDED())
	{
		snprintf(buf, sizeof(buf), "embedded stratad at \"%s/.s.PGSQL.%d\"",
				 supervisor_socket_dir(), PROTO_DEFAULT_PORT);
		return buf;
	}
	opts = PQconninfoParse(strata_stratad_connstring, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
	{
		if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && host == NULL))
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	}
	snprintf(buf, sizeof(buf), "stratad at %s:%s", host ? host : "(default host)",
			 port ? port : "(default port)");
	if (opts)
		PQconninfoFree(opts);
	return buf;
}

/* Wait for the socket in a connect step; false on timeout. */
static bool
wait_socket(pgsocket sock, uint32 events, TimestampTz deadline)
{
	long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	int			rc;

	if (ms <= 0)
		return false;
	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
						   sock, ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		latch_consumed = true;
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * One connection attempt, bounded by deadline.  Returns NULL and sets
 * *errmsg (palloc'd) on failure.
 */
static PGconn *
connect_once(TimestampTz deadline, char **why)
{
	const char *keys[8];
	const char *vals[8];
	char		pid[16];
	char		port[16];
	char		options[256];
	char		query[256];
	int			n = 0;
	PGconn	   *c;
	PGresult   *res;

	snprintf(pid, sizeof(pid), "%d", MyProcPid);
	snprintf(options, sizeof(options),
			 "-c strata.sysid=" UINT64_FORMAT " -c strata.mode=rw -c strata.start=" INT64_FORMAT,
			 GetSystemIdentifier(), (int64) PgStartTime);
	if (STRATA_EMBEDDED())
	{
		snprintf(port, sizeof(port), "%d", PROTO_DEFAULT_PORT);
		keys[n] = "host";
		vals[n++] = supervisor_socket_dir();
		keys[n] = "port";
		vals[n++] = port;
		keys[n] = "dbname";
		vals[n++] = "strata";
	}
	else
	{
		keys[n] = "dbname";
		vals[n++] = strata_stratad_connstring;
	}
	keys[n] = "application_name";
	vals[n++] = pid;
	keys[n] = "options";
	vals[n++] = options;
	keys[n] = "sslmode";
	vals[n++] = "disable";
	keys[n] = NULL;
	vals[n] = NULL;

	c = PQconnectStartParams(keys, vals, STRATA_EMBEDDED() ? 0 : 1);
	if (c == NULL)
	{
		*why = pstrdup("out of memory");
		return NULL;
	}
	for (;;)
	{
		PostgresPollingStatusType st = PQconnectPoll(c);
		uint32		ev;

		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			goto fail;
		ev = st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
		if (!wait_socket(PQsocket(c), ev, deadline))
		{
			PQfinish(c);
			*why = pstrdup("timed out");
			return NULL;
		}
	}

	snprintf(query, sizeof(query), "strata_pagestream %d %s %s", PROTO_VERSION,
			 strata_tenant_id, strata_timeline_id);
	if (!PQsendQuery(c, query))
		goto fail;
	for (;;)
	{
		if (!PQconsumeInput(c))
			goto fail;
		if (!PQisBusy(c))
			break;
		if (!wait_socket(PQsocket(c), WL_SOCKET_READABLE, deadline))
		{
			PQfinish(c);
			*why = pstrdup("timed out waiting for the pagestream to start");
			return NULL;
		}
	}
	res = PQgetResult(c);
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		*why = pstrdup(PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	if (PQsetnonblocking(c, 1) != 0)
		goto fail;
	return c;

fail:
	*why = pstrdup(PQerrorMessage(c));
	PQfinish(c);
	return NULL;
}

/*
 * I2: stratad bumps its durability epoch when acknowledged but unsynced
 * writes may have been lost (a failed fsync, a host crash).  The compute
 * then must not go on as if they were stored: PANIC, so that crash
 * recovery replays WAL and rewrites those pages, as after a failed fsync
 * on md.  Shared memory is reinitialized by the crash restart, so the new
 * epoch is then simply recorded.
 */
static void
check_epoch(void)
{
	const char *s = PQparameterStatus(conn, "strata_durability_epoch");
	uint32		epoch = s ? (uint32) strtoul(s, NULL, 10) : 0;
	uint32		known = 0;

	if (epoch == 0)
		return;
	if (pg_atomic_compare_exchange_u32(&strata_shared->durability_epoch, &known, epoch) ||
		known == epoch)
		return;
	ereport(PANIC,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stratad's durability epoch changed from %u to %u", known, epoch),
			 errdetail("stratad may have lost writes it had acknowledged but not yet synced."),
			 errhint("Crash recovery will replay WAL to rewrite them.")));
}

/*
 * Connect, retrying with backoff (1 ms doubling to 1 s) until
 * strata.reconnect_timeout.  On failure the ring is emptied and we ERROR.
 */
static void
ensure_connected(void)
{
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz deadline = TimestampTzPlusMilliseconds(start, strata_reconnect_timeout_ms);
	long		backoff = 1;
	char	   *why = NULL;
	char	   *last_real = NULL;	/* the last failure that was not our deadline */
	bool		logged = false;

	if (conn != NULL)
		return;
	for (;;)
	{
		conn = connect_once(deadline, &why);
		if (conn != NULL)
			break;
		if (strcmp(why, "timed out") != 0)
		{
			if (last_real)
				pfree(last_real);
			last_real = pstrdup(why);
		}
		if (GetCurrentTimestamp() >= deadline)
		{
			ring_reset();
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not connect to %s: %s", comm_target(),
							pchomp(last_real ? last_real : why)),
					 errdetail("Retried for %d ms (strata.reconnect_timeout).",
							   strata_reconnect_timeout_ms),
					 STRATA_EMBEDDED() ?
					 errhint("See the sidecar's log in \"pg_strata/stratad.log\".") : 0));
		}
		/* nobody else may restart it now: see supervisor_ensure_running() */
		if (STRATA_EMBEDDED() && backoff >= 512)
			supervisor_ensure_running();
		if (!logged && backoff >= 256)
		{
			ereport(LOG,
					(errmsg("strata: could not connect to %s: %s; retrying",
							comm_target(), pchomp(why))));
			logged = true;
		}
		pfree(why);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		latch_consumed = true;
		CHECK_FOR_INTERRUPTS();
		backoff = Min(backoff * 2, 1000);
	}

	check_epoch();

	conn_wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(conn_wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(conn_wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	conn_wes_sock = AddWaitEventToSet(conn_wes, WL_SOCKET_READABLE, PQsocket(conn),
									  NULL, NULL);
	strata_count(SC_CONNECTS, 1);
	if (last_real)
		pfree(last_real);
	if (logged)
		ereport(LOG, (errmsg("strata: connected to %s", comm_target())));
}

static void
lost_connection(const char *why)
{
	ereport(LOG,
			(errmsg("strata: lost connection to %s: %s; reconnecting",
					comm_target(), why)));
	disconnect();
	strata_count(SC_RECONNECTS, 1);
}

void
comm_ensure_connected(void)
{
	if (conn == NULL)
	{
		ensure_connected();
		resend_outstanding();
	}
	rearm_latch();
}

const char *
comm_param(const char *name)
{
	return conn ? PQparameterStatus(conn, name) : NULL;
}

/* Protocol desync: close, forget everything, ERROR. */
static void
protocol_error(const char *what)
{
	disconnect();
	ring_reset();
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("strata: %s from %s", what, comm_target()),
			 errdetail("The connection was closed and its requests discarded.")));
}

/*
 * Wait up to a second for the socket (events) or the latch, absorbing any
 * input that arrived.  false if the connection broke (already handled).
 */
static bool
wait_conn(uint32 events)
{
	WaitEvent	ev;

	ModifyWaitEvent(conn_wes, conn_wes_sock, events, NULL);
	if (WaitEventSetWait(conn_wes, 1000, &ev, 1, PG_WAIT_EXTENSION) <= 0)
		return true;
	if (ev.events & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		latch_consumed = true;
		CHECK_FOR_INTERRUPTS();
	}
	if ((ev.events & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
	{
		lost_connection(pchomp(PQerrorMessage(conn)));
		return false;
	}
	return true;
}

/* ---------- sending ---------- */

/* Queue one slot's request; false if the connection broke. */
static bool
send_slot(Slot *s)
{
	size_t		len;

	s->req.reqid = ((uint64) MyProcPid << 32) | ++reqid_counter;
	len = proto_encode_req(&s->req, sendbuf, sizeof(sendbuf));
	if (len == 0)
		elog(ERROR, "strata: could not encode %s request", proto_tag_name(s->req.tag));
	for (;;)
	{
		int			rc = PQputCopyData(conn, (const char *) sendbuf, (int) len);

		if (rc == 1)
			break;
		if (rc < 0)
		{
			lost_connection(pchomp(PQerrorMessage(conn)));
			return false;
		}
		/* libpq's buffer is full: push some out, then retry */
		if (PQflush(conn) < 0)
		{
			lost_connection(pchomp(PQerrorMessage(conn)));
			return false;
		}
	}
	strata_count(SC_REQUESTS, 1);
	strata_count(SC_BYTES_SENT, len);
	unflushed++;
	return true;
}

/* After a reconnect: re-send every outstanding request, in order. */
static void
resend_outstanding(void)
{
	for (uint64 pos = ring_recv; pos < ring_tail; pos++)
	{
		if (!send_slot(slot_at(pos)))
			return;
	}
}

/*
 * Push queued output to the socket, reading input meanwhile so that a
 * stratad blocked on writing to us cannot deadlock with us.  false if the
 * connection broke.
 */
static bool
flush_out(void)
{
	for (;;)
	{
		int			rc = PQflush(conn);

		if (rc == 0)
			break;
		if (rc < 0)
		{
			lost_connection(pchomp(PQerrorMessage(conn)));
			return false;
		}
		if (!wait_conn(WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			return false;
	}
	unflushed = 0;
	return true;
}

void
comm_flush(void)
{
	if (conn != NULL && unflushed > 0)
		(void) flush_out();		/* a broken connection is retried by the next wait */
}

/* ---------- receiving ---------- */

static void
store_response(Slot *s, const struct proto_resp *r)
{
	comm_result *res = &s->res;

	memset(res, 0, sizeof(*res));
	if (r->tag == PROTO_R_ERROR)
	{
		res->error = true;
		res->errcode = r->errcode;
		strlcpy(s->errbuf, r->errmsg, sizeof(s->errbuf));
		res->errmsg = s->errbuf;
		strata_count(SC_ERRORS, 1);
		return;
	}
	res->exists = r->exists;
	res->nblocks = r->nblocks;
	res->dbsize = r->dbsize;
	res->stored_lsn = r->stored_lsn;
	res->count = r->count;
	if (r->page != NULL)
	{
		if (s->page == NULL)
			s->page = MemoryContextAlloc(TopMemoryContext, BLCKSZ);
		memcpy(s->page, r->page, BLCKSZ);
	}
}

/*
 * Process every complete response libpq has buffered.  Returns false if
 * the connection broke (already handled).
 */
static bool
receive_available(void)
{
	for (;;)
	{
		char	   *buf;
		int			len = PQgetCopyData(conn, &buf, 1);
		struct proto_resp r;
		Slot	   *s;

		if (len == 0)
			return true;
		if (len < 0)
		{
			PGresult   *res = PQgetResult(conn);
			char	   *msg = pstrdup(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));

			PQclear(res);
			lost_connection(msg[0] ? pchomp(msg) : "stream ended");
			return false;
		}
		strata_count(SC_BYTES_RECEIVED, len);
		if (ring_recv == ring_tail)
		{
			PQfreemem(buf);
			protocol_error("unexpected response");
		}
		s = slot_at(ring_recv);
		if (proto_decode_resp((uint8 *) buf, len, &r) != 0)
		{
			PQfreemem(buf);
			protocol_error("malformed response");
		}
		if (!proto_resp_matches(&s->req, &r))
		{
			PQfreemem(buf);
			protocol_error("response does not echo its request");
		}
		store_response(s, &r);
		PQfreemem(buf);
		s->state = SLOT_RECEIVED;
		ring_recv++;
	}
}

/*
 * Wait until the slot at pos has its response.  Reconnects and re-sends
 * on a broken connection; logs a slow response at 10 s and treats
 * strata.response_timeout without any response as a broken connection.
 */
static void
wait_for(uint64 pos)
{
	TimestampTz last_progress = GetCurrentTimestamp();
	bool		logged = false;

	while (ring_recv <= pos)
	{
		uint64		before = ring_recv;
		long		waited;

		if (conn == NULL)
		{
			ensure_connected();
			resend_outstanding();
			continue;
		}
		if (unflushed > 0 && !flush_out())
			continue;
		if (!receive_available())
			continue;
		if (ring_recv > pos)
			break;
		if (ring_recv != before)
			last_progress = GetCurrentTimestamp();

		if (!wait_conn(WL_SOCKET_READABLE))
			continue;

		waited = TimestampDifferenceMilliseconds(last_progress, GetCurrentTimestamp());
		if (waited >= SLOW_RESPONSE_LOG_MS && !logged)
		{
			ereport(LOG,
					(errmsg("strata: still waiting for a response from %s after %ld ms",
							comm_target(), waited)));
			logged = true;
		}
		if (waited >= strata_response_timeout_ms)
		{
			lost_connection("no response within strata.response_timeout");
			last_progress = GetCurrentTimestamp();
			logged = false;
		}
	}
}

/* ---------- slots ---------- */

static void
advance_head(void)
{
	while (ring_head < ring_recv && slot_at(ring_head)->state == SLOT_UNUSED)
		ring_head++;
}

/* Take the next slot, evicting or waiting for the oldest if full. */
static uint64
alloc_slot(void)
{
	Slot	   *s;

	ring_init();
	for (;;)
	{
		advance_head();
		if (ring_tail - ring_head < (uint64) ring_size)
			break;
		if (ring_head < ring_recv)
		{
			s = slot_at(ring_head);
			if (s->req.tag == PROTO_GETPAGE)
				strata_count(SC_PREFETCH_UNUSED, 1);
			s->state = SLOT_UNUSED;
			ring_head++;
		}
		else
			wait_for(ring_head);
	}
	s = slot_at(ring_tail);
	s->state = SLOT_REQUESTED;
	s->owned = false;
	memset(&s->req, 0, sizeof(s->req));
	return ring_tail++;
}

/*
 * Send the slot now if connected.  If not, or if sending breaks the
 * connection, the next wait reconnects and re-sends everything outstanding.
 */
static void
submit(uint64 pos)
{
	if (conn != NULL)
		(void) send_slot(slot_at(pos));
}

static int64
find_getpage(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	if (ring == NULL)
		return -1;
	for (uint64 pos = ring_head; pos < ring_tail; pos++)
	{
		Slot	   *s = slot_at(pos);

		if (s->state != SLOT_UNUSED && s->req.tag == PROTO_GETPAGE &&
			s->req.blk == blk && s->fork == fork && RelFileNodeEquals(s->rnode, rnode))
			return (int64) pos;
	}
	return -1;
}

static uint64
queue_getpage(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	uint64		pos = alloc_slot();
	Slot	   *s = slot_at(pos);

	s->rnode = rnode;
	s->fork = fork;
	s->req.tag = PROTO_GETPAGE;
	s->req.rel = comm_rel(rnode, fork);
	s->req.blk = blk;
	s->req.nms = lwlsn_get(rnode, fork, blk);
	/* phase 1 reads the latest version: the request LSN is "latest" */
	s->req.request_lsn = LSN_MAX;
	strata_count(SC_GETPAGE, 1);
	submit(pos);
	return pos;
}

void
comm_prefetch(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	if (find_getpage(rnode, fork, blk) >= 0)
		return;
	(void) queue_getpage(rnode, fork, blk);
	strata_count(SC_PREFETCH_REQUESTS, 1);
	if (unflushed >= FLUSH_EVERY)
		comm_flush();
}

bool
comm_read(RelFileNode rnode, ForkNumber fork, BlockNumber blk, char *buf,
		  comm_result *res)
{
	int64		found = find_getpage(rnode, fork, blk);
	bool		prefetched = found >= 0;
	uint64		pos;

	if (!prefetched)
	{
		pos = queue_getpage(rnode, fork, blk);
		strata_count(SC_READ_MISSES, 1);
	}
	else
		pos = (uint64) found;

	for (;;)
	{
		Slot	   *s;

		wait_for(pos);
		s = slot_at(pos);
		s->state = SLOT_UNUSED;
		if (s->res.error)
		{
			*res = s->res;
			res->errmsg = pstrdup(s->errbuf);
			rearm_latch();
			return false;
		}

		/*
		 * I9: the page is current only if nobody wrote the block since we
		 * asked.  The buffer we read into is I/O-locked by us, so a newer
		 * write can only come from a path that bypassed shared buffers;
		 * ask again until the answer is current.
		 */
		if (lwlsn_get(rnode, fork, blk) <= s->req.nms)
		{
			memcpy(buf, s->page, BLCKSZ);
			if (prefetched)
				strata_count(SC_PREFETCH_HITS, 1);
			rearm_latch();
			return true;
		}
		strata_count(SC_PREFETCH_EXPIRED, 1);
		prefetched = false;
		pos = queue_getpage(rnode, fork, blk);
	}
}

void
comm_forget_rel(RelFileNode rnode)
{
	if (ring == NULL)
		return;
	for (uint64 pos = ring_head; pos < ring_recv; pos++)
	{
		Slot	   *s = slot_at(pos);

		if (s->state == SLOT_RECEIVED && s->req.tag == PROTO_GETPAGE &&
			RelFileNodeEquals(s->rnode, rnode))
			s->state = SLOT_UNUSED;
	}
}

static bool
changes_data(uint8 tag)
{
	return tag >= PROTO_CREATE && tag <= PROTO_RESET_UNLOGGED;
}

void
comm_call(struct proto_req *req, comm_result *res)
{
	uint64		pos = alloc_slot();
	Slot	   *s = slot_at(pos);
	bool		hold = changes_data(req->tag);

	s->req = *req;
	s->owned = true;

	/*
	 * A data-changing request is never abandoned: its caller must learn
	 * whether it was acknowledged, and an abandoned write could be re-sent
	 * after its buffer changed.
	 */
	if (hold)
		HOLD_INTERRUPTS();
	submit(pos);
	wait_for(pos);
	if (hold)
		RESUME_INTERRUPTS();
	rearm_latch();

	s = slot_at(pos);
	*res = s->res;
	if (res->error)
		res->errmsg = pstrdup(s->errbuf);
	s->state = SLOT_UNUSED;
	*req = s->req;				/* the reqid actually used */
}

void
comm_error(const comm_result *res, const char *what)
{
	int			sqlstate;

	switch ((enum proto_errcode) res->errcode)
	{
		case PROTO_E_BAD_REQUEST:
			sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case PROTO_E_NOT_FOUND:
			sqlstate = ERRCODE_UNDEFINED_FILE;
			break;
		case PROTO_E_BEYOND_EOF:
		case PROTO_E_CORRUPT:
			sqlstate = ERRCODE_DATA_CORRUPTED;
			break;
		case PROTO_E_EXISTS:
			sqlstate = ERRCODE_DUPLICATE_FILE;
			break;
		case PROTO_E_READ_ONLY:
			sqlstate = ERRCODE_READ_ONLY_SQL_TRANSACTION;
			break;
		case PROTO_E_DISK_FULL:
			sqlstate = ERRCODE_DISK_FULL;
			break;
		case PROTO_E_IO_ERROR:
			sqlstate = ERRCODE_IO_ERROR;
			break;
		case PROTO_E_UNSUPPORTED:
			sqlstate = ERRCODE_FEATURE_NOT_SUPPORTED;
			break;
		default:
			sqlstate = ERRCODE_INTERNAL_ERROR;
			break;
	}
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("could not %s: %s", what, res->errmsg ? res->errmsg : "unknown error"),
			 errdetail("stratad answered %s.", proto_errcode_name(res->errcode))));
	pg_unreachable();
}
