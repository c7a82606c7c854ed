/*-------------------------------------------------------------------------
 *
 * pagetrace.c
 *	  Streaming GETPAGE traces (see pagetrace.h).
 *
 *-------------------------------------------------------------------------
 */
#include "pagetrace.h"

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
#include "slog.h"
#include "timeline.h"

#define SEND_EVERY_BYTES	(64 * 1024)
#define SEND_EVERY_MS		100

struct page_trace
{
	struct timeline *tl;		/* tl->trace == this while it runs */
	struct evhttp_request *req; /* NULL once the client went away */
	struct event *timer;
	struct evbuffer *buf;		/* records not yet sent */
	uint64_t	start_ns;
	uint64_t	deadline_ns;
	uint64_t	limit;			/* bytes in all, header included */
	uint64_t	bytes;
};


static void
send_buffered(struct page_trace *t)
{
	if (t->req && evbuffer_get_length(t->buf) > 0)
		evhttp_send_reply_chunk(t->req, t->buf);
	evbuffer_drain(t->buf, evbuffer_get_length(t->buf));
}

static void
finish(struct page_trace *t)
{
	send_buffered(t);
	if (t->req)
	{
		evhttp_connection_set_closecb(evhttp_request_get_connection(t->req), NULL, NULL);
		evhttp_send_reply_end(t->req);
	}
	if (t->tl->trace == t)
		t->tl->trace = NULL;
	slog(SLOG_INFO, "timeline %s: page trace ended after %llu bytes", t->tl->hex,
		 (unsigned long long) t->bytes);
	event_free(t->timer);
	evbuffer_free(t->buf);
	tl_unref(t->tl);
	free(t);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct page_trace *t = arg;

	(void) fd;
	(void) what;
	if (t->req == NULL || clock_mono_ns() >= t->deadline_ns)
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
pagetrace_start(struct timeline *tl, struct evhttp_request *req, struct event_base *base)
{
	struct evkeyvalq q;
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct page_trace *t;
	uint8_t		hdr[PAGETRACE_HDR_SIZE];
	struct timeval tv = {0, SEND_EVERY_MS * 1000};
	struct timeval now;
	int			bad = 0;
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
	if (tl->trace)
	{
		http_reply_error(req, 409, "a page trace of this timeline is already running");
		return;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->buf = evbuffer_new()) == NULL ||
		(t->timer = event_new(base, -1, EV_PERSIST, on_timer, t)) == NULL)
	{
		if (t && t->buf)
			evbuffer_free(t->buf);
		free(t);
		http_reply_error(req, 500, "out of memory");
		return;
	}
	tl_ref(tl);
	t->tl = tl;
	t->req = req;
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
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
					  "application/octet-stream");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_client_gone, t);
	send_buffered(t);
	event_add(t->timer, &tv);
	tl->trace = t;
	slog(SLOG_INFO, "timeline %s: page trace started (%llu bytes, %llu s)", tl->hex,
		 (unsigned long long) limit, (unsigned long long) secs);
}

void
pagetrace_add(struct page_trace *t, const struct proto_req *req, uint16_t status,
			  uint64_t latency_ns)
{
	uint8_t		rec[PAGETRACE_REC_SIZE];
	uint64_t	now = clock_mono_ns();

	if (t->bytes + PAGETRACE_REC_SIZE > t->limit || now >= t->deadline_ns || t->req == NULL)
	{
		/* full: the timer ends it (never from inside the page service) */
		event_active(t->timer, EV_TIMEOUT, 0);
		if (t->tl->trace == t)
			t->deadline_ns = now;
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
	if (evbuffer_get_length(t->buf) >= SEND_EVERY_BYTES)
		send_buffered(t);
}

void
pagetrace_stop(struct timeline *tl)
{
	if (tl->trace)
		finish(tl->trace);
}
