/*-------------------------------------------------------------------------
 *
 * pagetrace.h
 *	  page_trace: a compact binary trace of the GETPAGEs a timeline serves,
 *	  streamed as the body of one HTTP response.
 *
 * GET /v1/tenant/{t}/timeline/{tl}/page_trace?size_limit_bytes=N&time_limit_secs=S
 * streams (chunked) until the trace has N bytes or S seconds passed
 * (defaults 1 MiB and 5 s; caps 256 MiB and 3600 s), the client goes away
 * or the timeline stops.  One trace per timeline at a time (409 else).
 * With no trace active, the page service pays one pointer test per batch.
 *
 * Format (little-endian): a 64-byte header
 *		char magic[8] "STRTRACE", u32 version (1), u32 record size (40),
 *		u8 tenant[16], u8 timeline[16], u64 start (Unix time, us),
 *		u32 reserved, u32 CRC-32C of the 60 bytes before it
 * then 40-byte records, one per GETPAGE answered:
 *		u64 t (us since start), u32 spc, u32 db, u32 rel, u32 blk, u8 fork,
 *		u8 status (0 = page served, else the wire error code), u16 reserved,
 *		u32 latency (us, read -> response queued), u64 request LSN
 *
 * Threads.  The page service records on its loop (pagetrace_add, and
 * pagetrace_stop when the timeline stops); the HTTP response belongs to
 * the API thread (pagetrace_start, and a timer there that sends what was
 * recorded every 100 ms or 64 KiB).  Records pass through a locked
 * evbuffer; tl->trace is set and cleared on the loop only, so the page
 * service finds a trace there, or none, and the API frees it only after
 * clearing tl->trace on the loop (through the loop's loopcall).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_PAGETRACE_H
#define STRATA_PAGETRACE_H

#include <stdint.h>

#include "proto.h"

#define PAGETRACE_MAGIC			"STRTRACE"
#define PAGETRACE_VERSION		1
#define PAGETRACE_HDR_SIZE		64
#define PAGETRACE_REC_SIZE		40
#define PAGETRACE_DEFAULT_BYTES	(1024 * 1024)
#define PAGETRACE_MAX_BYTES		(256 * 1024 * 1024)
#define PAGETRACE_DEFAULT_SECS	5
#define PAGETRACE_MAX_SECS		3600

struct evhttp_request;
struct event_base;
struct loopcall;
struct page_trace;
struct timeline;

/*
 * API thread: start streaming tl's trace as req's response, its timer on
 * http_base; loop runs calls on the page-service loop.  Answers errors
 * itself (400, 409 if one runs already, 503 if the loop is gone).
 */
extern void pagetrace_start(struct timeline *tl, struct evhttp_request *req,
							struct event_base *http_base, struct loopcall *loop);

/* Loop thread: one GETPAGE answered (err: 0 or a STRATA_E*; status is its wire code). */
extern void pagetrace_add(struct page_trace *t, const struct proto_req *req, uint16_t status,
						  uint64_t latency_ns);

/* Loop thread: the timeline stops: end its trace. */
extern void pagetrace_stop(struct timeline *tl);

/* API thread, as the API stops: end every trace now. */
extern void pagetrace_stop_all(void);

#endif							/* STRATA_PAGETRACE_H */
