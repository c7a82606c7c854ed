/*-------------------------------------------------------------------------
 *
 * pagetrace.c
 *	  Streaming GETPAGE traces (see pagetrace.h).
 *
 *-------------------------------------------------------------------------
 */
#include "pagetrace.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "bytes.h"
#include "clock.h"
#include "checksum.h"
#include "http.h"
#include "loopcall.h"
#include "slog.h"
#include "strata_err.h"
#include "timeline.h"

#define SEND_EVERY_BYTES	(64 * 1024)
#define SEND_EVERY_MS		100

struct page_trace
{
	struct timeline *tl;		/* holds a ref; tl->trace == this while installed */
	struct evbuffer *buf;		/* records not yet sent (locked: both threads) */
	_Atomic int ended;			/* loop: full, past the deadline, or tl stopped */
	_Atomic int kicked;			/* loop: asked the API to send early */
	uint64_t	start_ns;		/* set before it is installed, then read-only */
	uint64_t	deadline_ns;
	uint64_t	limit;			/* bytes in all, header included */

	/* loop thread while installed */
	uint64_t	bytes;

	/* API thread */
	struct evbuffer *out;		/* records being sent */
	struct evhttp_request *req; /* NULL once the client went away */
	struct event *timer;		/* on the API loop */
	struct loopcall *loop;
	struct page_trace *prev;	/* in traces */
	struct page_trace *next;
};

static struct page_trace *traces;	/* API thread: running traces */

/*
 * Send what the loop buffered so far.  The loop keeps appending to t->buf
 * meanwhile, and evhttp_send_reply_chunk() reads a buffer's length and
 * then moves its contents, so records arriving between the two would land
 * in a chunk whose header does not count them (the client sees a malformed
 * chunk); so they are first taken in one locked move.
 */
static void
send_buffered(struct page_trace *t)
{
	evbuffer_add_buffer(t->out, t->buf);
	if (t->req && evbuffer_get_length(t->out) > 0)
		evhttp_send_reply_chunk(t->req, t->out);
	evbuffer_drain(t->out, evbuffer_get_length(t->out));
}

/* On the loop: make tl->trace == t, unless another trace runs. */
static int
install_on_loop(void *arg)
{
	struct page_trace *t = arg;

	if (t->tl->trace)
		return STRATA_EEXIST;
	t->tl->trace = t;
	return 0;
}

/* On the loop: after this the page service cannot reach t. */
static int
uninstall_on_loop(void *arg)
{
	struct page_trace *t = arg;

	if (t->tl->trace == t)
		t->tl->trace = NULL;
	return 0;
}

static void
trace_free(struct page_trace *t)
{
	if (t->timer)
		event_free(t->timer);
	evbuffer_free(t->buf);
	evbuffer_free(t->out);
	tl_unref(t->tl);
	free(t);
}

/* API thread. */
static void
finish(struct page_trace *t)
{
	/* once the loop is gone nothing runs there: t is unreachable either way */
	(void) loopcall_run(t->loop, uninstall_on_loop, t);
	send_buffered(t);
	if (t->req)
	{
		evhttp_connection_set_closecb(evhttp_request_get_connection(t->req), NULL, NULL);
		evhttp_send_reply_end(t->req);
	}
	if (t->prev)
		t->prev->next = t->next;
	else
		traces = t->next;
	if (t->next)
		t->next->prev = t->prev;
	slog(SLOG_INFO, "timeline %s: page trace ended after %llu bytes", t->tl->hex,
		 (unsigned long long) t->bytes);
	trace_free(t);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct page_trace *t = arg;

	(void) fd;
	(void) what;
	atomic_store(&t->kicked, 0);
	if (t->req == NULL || atomic_load(&t->ended) || clock_mono_ns() >= t->deadline_ns)
		finish(t);
	else
		send_buffered(t);
}

static void
on_client_gone(struct evhttp_connection *conn, void *arg)
{
	struct page_trace *t = arg;

	(void) conn;
	t->req = NULL;				/* libevent frees it */
	event_active(t->timer, EV_TIMEOUT, 0);
}

static uint64_t
query_u64(const struct evkeyvalq *q, const char *name, uint64_t dflt, uint64_t max, int *bad)
{
	const char *v = evhttp_find_header(q, name);
	char	   *end;
	unsigned long long n;

	if (v == NULL)
		return dflt;
	n = strtoull(v, &end, 10);
	if (*v < '0' || *v > '9' || *end != '\0' || n == 0)
	{
		*bad = 1;
		return dflt;
	}
	return n > max ? max : n;
}

void
pagetrace_start(struct timeline *tl, struct evhttp_request *req, struct event_base *http_base,
				struct loopcall *loop)
{
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct page_trace *t;
	uint8_t		hdr[PAGETRACE_HDR_SIZE];
	struct timeval tv = {0, SEND_EVERY_MS * 1000};
	struct timeval now;
	int			bad = 0;
	int			err;
	uint64_t	limit;
	uint64_t	secs;

	memset(&q, 0, sizeof(q));
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) != 0)
		bad = 1;
	limit = query_u64(&q, "size_limit_bytes", PAGETRACE_DEFAULT_BYTES, PAGETRACE_MAX_BYTES, &bad);
	secs = query_u64(&q, "time_limit_secs", PAGETRACE_DEFAULT_SECS, PAGETRACE_MAX_SECS, &bad);
	evhttp_clear_headers(&q);
	if (bad)
	{
		http_reply_error(req, 400, "size_limit_bytes and time_limit_secs must be positive integers");
		return;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->buf = evbuffer_new()) == NULL ||
		evbuffer_enable_locking(t->buf, NULL) != 0 || (t->out = evbuffer_new()) == NULL ||
		(t->timer = event_new(http_base, -1, EV_PERSIST, on_timer, t)) == NULL)
	{
		if (t && t->buf)
			evbuffer_free(t->buf);
		if (t && t->out)
			evbuffer_free(t->out);
		free(t);
		http_reply_error(req, 500, "out of memory");
		return;
	}
	tl_ref(tl);
	t->tl = tl;
	t->req = req;
	t->loop = loop;
	t->start_ns = clock_mono_ns();
	t->deadline_ns = t->start_ns + secs * 1000000000u;
	t->limit = limit < PAGETRACE_HDR_SIZE ? PAGETRACE_HDR_SIZE : limit;
	gettimeofday(&now, NULL);
	memset(hdr, 0, sizeof(hdr));
	memcpy(hdr, PAGETRACE_MAGIC, 8);
	put_le32(hdr + 8, PAGETRACE_VERSION);
	put_le32(hdr + 12, PAGETRACE_REC_SIZE);
	memcpy(hdr + 16, tl->tenant_id, 16);
	memcpy(hdr + 32, tl->id, 16);
	put_le64(hdr + 48, (uint64_t) now.tv_sec * 1000000u + (uint64_t) now.tv_usec);
	put_le32(hdr + 60, strata_crc32c(hdr, 60));
	evbuffer_add(t->buf, hdr, sizeof(hdr));
	t->bytes = sizeof(hdr);
	if ((err = loopcall_run(loop, install_on_loop, t)) != 0)
	{
		trace_free(t);
		if (err == STRATA_EEXIST)
			http_reply_error(req, 409, "a page trace of this timeline is already running");
		else
			http_reply_error(req, 503, strata_strerror(err));
		return;
	}
	/* records may arrive from now on; the timer sends them from this thread */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
					  "application/octet-stream");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_client_gone, t);
	send_buffered(t);
	event_add(t->timer, &tv);
	t->next = traces;
	if (traces)
		traces->prev = t;
	traces = t;
	slog(SLOG_INFO, "timeline %s: page trace started (%llu bytes, %llu s)", tl->hex,
		 (unsigned long long) limit, (unsigned long long) secs);
}

void
pagetrace_add(struct page_trace *t, const struct proto_req *req, uint16_t status,
			  uint64_t latency_ns)
{
	uint8_t		rec[PAGETRACE_REC_SIZE];
	uint64_t	now = clock_mono_ns();

	if (atomic_load_explicit(&t->ended, memory_order_relaxed))
		return;
	if (t->bytes + PAGETRACE_REC_SIZE > t->limit || now >= t->deadline_ns)
	{
		/* full: the API's timer ends it (never from inside the page service) */
		atomic_store(&t->ended, 1);
		event_active(t->timer, EV_TIMEOUT, 0);
		return;
	}
	put_le64(rec, (now - t->start_ns) / 1000);
	put_le32(rec + 8, req->rel.spc);
	put_le32(rec + 12, req->rel.db);
	put_le32(rec + 16, req->rel.rel);
	put_le32(rec + 20, req->blk);
	rec[24] = req->rel.fork;
	rec[25] = (uint8_t) status;
	rec[26] = rec[27] = 0;
	put_le32(rec + 28, (uint32_t) (latency_ns / 1000 > UINT32_MAX ? UINT32_MAX : latency_ns / 1000));
	put_le64(rec + 32, req->request_lsn);
	evbuffer_add(t->buf, rec, sizeof(rec));
	t->bytes += sizeof(rec);
	if (evbuffer_get_length(t->buf) >= SEND_EVERY_BYTES && !atomic_exchange(&t->kicked, 1))
		event_active(t->timer, EV_TIMEOUT, 0);
}

void
pagetrace_stop(struct timeline *tl)
{
	struct page_trace *t = tl->trace;

	if (t == NULL)
		return;
	tl->trace = NULL;
	atomic_store(&t->ended, 1);
	event_active(t->timer, EV_TIMEOUT, 0);
}

void
pagetrace_stop_all(void)
{
	while (traces)
		finish(traces);
}
