/*-------------------------------------------------------------------------
 *
 * ring.c
 *	  The in-order request ring (see ring.h).
 *
 * Ring positions are absolute (uint64) and map to slots modulo the ring
 * size.  head <= recv <= tail:
 *	[head, recv)	RECEIVED or UNUSED (consumed) slots
 *	[recv, tail)	REQUESTED: sent, response outstanding, in send order
 * A response always belongs to the slot at recv.  GETPAGE slots are not
 * owned by anyone until a read claims them; other requests belong to the
 * ring_call() that waits on them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "conn.h"
#include "filecache.h"
#include "lsn.h"
#include "lwlsn.h"
#include "ring.h"
#include "stats.h"
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
	bool		owned;			/* a ring_call() waits for it */
	struct proto_req req;
	RelFileNode rnode;			/* GETPAGE: the block, for lookups */
	ForkNumber	fork;
	uint64		fc_ticket;		/* GETPAGE: file cache ticket when queued */
	ring_result res;			/* errmsg points to errbuf */
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
ring_rel(RelFileNode rnode, ForkNumber fork)
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

int
ring_in_flight(void)
{
	return (int) (ring_tail - ring_recv);
}

/* Protocol desync: close, forget everything, ERROR. */
static void
protocol_error(const char *what)
{
	conn_close();
	ring_reset();
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("strata: %s from %s", what, conn_target()),
			 errdetail("The connection was closed and its requests discarded.")));
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
	if (!conn_send(sendbuf, len))
		return false;
	strata_count(SC_REQUESTS, 1);
	strata_count(SC_BYTES_SENT, len);
	unflushed++;
	return true;
}

/*
 * After a reconnect: re-send every outstanding request, in order.  The
 * old connection may have carried a request out before it broke, and
 * stratad may have applied it without our seeing the answer, so a re-sent
 * request must be idempotent: writes, extends, truncates, unlinks and
 * drops are (the same change again leaves the same state), and a CREATE
 * is made so by tolerating the fork it may itself have created.
 */
static void
resend_outstanding(void)
{
	for (uint64 pos = ring_recv; pos < ring_tail; pos++)
	{
		Slot	   *s = slot_at(pos);

		if (s->req.tag == PROTO_CREATE)
			s->req.flags |= PROTO_CREATE_TOLERATE_EXISTS;
		if (!send_slot(s))
			return;
	}
}

/* Connect (ERROR, with the ring emptied, if we cannot) and catch up. */
static void
reconnect(void)
{
	conn_connect(ring_reset);
	resend_outstanding();
}

void
ring_ensure_connected(void)
{
	if (!conn_connected())
		reconnect();
	conn_rearm_latch();
}

/* Push queued output to the socket; false if the connection broke. */
static bool
flush_out(void)
{
	if (!conn_flush())
		return false;
	unflushed = 0;
	return true;
}

void
ring_flush(void)
{
	if (conn_connected() && unflushed > 0)
		(void) flush_out();		/* a broken connection is retried by the next wait */
}

/* ---------- receiving ---------- */

static void
store_response(Slot *s, const struct proto_resp *r)
{
	ring_result *res = &s->res;

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
		/* every answer, prefetched or waited for; FC2 refuses stale ones */
		if (s->req.tag == PROTO_GETPAGE)
			fc_store(s->rnode, s->fork, s->req.blk, s->page, s->req.nms, s->fc_ticket);
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
		int			len = conn_receive(&buf);
		struct proto_resp r;
		Slot	   *s;

		if (len == 0)
			return true;
		if (len < 0)
			return false;
		strata_count(SC_BYTES_RECEIVED, len);
		if (ring_recv == ring_tail)
		{
			conn_free_message(buf);
			protocol_error("unexpected response");
		}
		s = slot_at(ring_recv);
		if (proto_decode_resp((uint8 *) buf, len, &r) != 0)
		{
			conn_free_message(buf);
			protocol_error("malformed response");
		}
		if (!proto_resp_matches(&s->req, &r))
		{
			conn_free_message(buf);
			protocol_error("response does not echo its request");
		}
		store_response(s, &r);
		conn_free_message(buf);
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

		if (!conn_connected())
		{
			reconnect();
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

		if (!conn_wait(WL_SOCKET_READABLE))
			continue;

		waited = TimestampDifferenceMilliseconds(last_progress, GetCurrentTimestamp());
		if (waited >= SLOW_RESPONSE_LOG_MS && !logged)
		{
			ereport(LOG,
					(errmsg("strata: still waiting for a response from %s after %ld ms",
							conn_target(), waited)));
			logged = true;
		}
		if (waited >= strata_response_timeout_ms)
		{
			conn_lost("no response within strata.response_timeout");
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
	if (conn_connected())
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
	s->req.rel = ring_rel(rnode, fork);
	s->req.blk = blk;
	s->fc_ticket = fc_ticket();
	s->req.nms = lwlsn_get(rnode, fork, blk);
	/* phase 1 reads the latest version: the request LSN is "latest" */
	s->req.request_lsn = LSN_MAX;
	strata_count(SC_GETPAGE, 1);
	submit(pos);
	return pos;
}

void
ring_prefetch(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	if (find_getpage(rnode, fork, blk) >= 0)
		return;
	(void) queue_getpage(rnode, fork, blk);
	strata_count(SC_PREFETCH_REQUESTS, 1);
	if (unflushed >= FLUSH_EVERY)
		ring_flush();
}

bool
ring_read(RelFileNode rnode, ForkNumber fork, BlockNumber blk, char *buf,
		  ring_result *res)
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

		/*
		 * I9: the answer is current only if nobody wrote the block since
		 * we asked, and that holds for an error too (a prefetch past the
		 * end answered BEYOND_EOF before an extend).  The buffer we read
		 * into is I/O-locked by us, so a newer write can only come from a
		 * path that bypassed shared buffers; ask again until the answer is
		 * current.
		 */
		if (lwlsn_get(rnode, fork, blk) <= s->req.nms)
		{
			if (s->res.error)
			{
				*res = s->res;
				res->errmsg = pstrdup(s->errbuf);
				conn_rearm_latch();
				return false;
			}
			memcpy(buf, s->page, BLCKSZ);
			if (prefetched)
				strata_count(SC_PREFETCH_HITS, 1);
			conn_rearm_latch();
			return true;
		}
		strata_count(SC_PREFETCH_EXPIRED, 1);
		prefetched = false;
		pos = queue_getpage(rnode, fork, blk);
	}
}

void
ring_forget_rel(RelFileNode rnode)
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
ring_call(struct proto_req *req, ring_result *res)
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
	conn_rearm_latch();

	s = slot_at(pos);
	*res = s->res;
	if (res->error)
		res->errmsg = pstrdup(s->errbuf);
	s->state = SLOT_UNUSED;
	*req = s->req;				/* the reqid actually used */
}
