/*-------------------------------------------------------------------------
 *
 * proto.h
 *	  The pagestream protocol between the compute and stratad, version 1.
 *
 * Transport (ARCHITECTURE.md 3): a PostgreSQL v3 connection.  The startup
 * packet carries application_name = the compute backend's PID and options
 * "-c strata.sysid=<u64> -c strata.mode=rw|ro -c strata.start=<postmaster
 * start, PostgreSQL timestamp in microseconds>"; all three are required
 * (strata.start only with rw): stratad refuses a client without them
 * (FATAL 08P01), since they carry the I19 and system-identifier checks.
 * A ro connection gets READ_ONLY for every change request.
 * an SSLRequest is answered 'N'.  The simple query
 *		strata_pagestream <version> <tenant_id> <timeline_id>
 * (ids in hex, or "default" for the sidecar's embedded timeline) switches
 * the connection to COPY BOTH.  Each CopyData frame then carries exactly one
 * message of at most PROTO_MAX_FRAME bytes; responses come in request order.
 * At startup stratad reports ParameterStatus strata_tenant_id,
 * strata_timeline_id and strata_durability_epoch.
 *
 * Every message starts with a 25-byte header, big-endian:
 *		u8 tag, u64 reqid, u64 request_lsn, u64 not_modified_since
 * and a relation is 13 bytes: u32 spc, u32 db, u32 rel, u8 fork.
 * A response's tag is its request's tag + PROTO_RESP_OFFSET, except
 * DBSIZE (104) and GET_SLRU_SEGMENT (105), since 103 is ERROR (Neon's
 * numbering).  A response echoes the request's header fields and body
 * (without the page) and then carries its payload:
 *
 *	tag					body after header			response payload
 *	0 EXISTS			rel							u8 exists
 *	1 NBLOCKS			rel							u32 nblocks
 *	2 GETPAGE			rel, u32 blk				8192-byte page
 *	3 DBSIZE			u32 db						i64 bytes
 *	4 GET_SLRU_SEGMENT	u8 kind, u32 segno			u32 n, n pages (phase 2)
 *	16 CREATE			rel, u8 flags				u64 stored_lsn
 *	17 WRITE, 18 EXTEND rel, u32 blk, page			u64 stored_lsn
 *	19 TRUNCATE			rel, u32 nblocks			u64 stored_lsn
 *	20 UNLINK			rel (fork 255 = all)		u64 stored_lsn
 *	21 SYNC				rel							(none)
 *	22 DROPDB			u32 db						u64 stored_lsn
 *	23 RESET_UNLOGGED	(none)						u32 count
 *	99 TEST				u32 op, u32 arg (test builds only)	(none)
 *
 * An ERROR response (103) echoes only the header (tag 103, the request's
 * reqid, request_lsn and nms), then u16 code (enum proto_errcode) and
 * NUL-terminated UTF-8 text; the connection stays usable.
 *
 * Encoders write into a caller buffer and return the length, or 0 if it
 * does not fit.  Decoders return 0 or a negative strata_err; they never
 * read past len, reject trailing bytes, and leave pointers into the input
 * buffer (page, error text), valid as long as that buffer is.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_PROTO_H
#define STRATA_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION		1
#define PROTO_PAGE_SIZE		8192
#define PROTO_MAX_FRAME		(1024 * 1024)
#define PROTO_HDR_SIZE		25
#define PROTO_REL_SIZE		13
#define PROTO_RESP_OFFSET	100

/* The unix socket file name is ".s.PGSQL.<port>", as libpq expects. */
#define PROTO_DEFAULT_PORT	6400

enum proto_tag
{
	PROTO_EXISTS = 0,
	PROTO_NBLOCKS = 1,
	PROTO_GETPAGE = 2,
	PROTO_DBSIZE = 3,
	PROTO_GET_SLRU_SEGMENT = 4,
	PROTO_CREATE = 16,
	PROTO_WRITE = 17,
	PROTO_EXTEND = 18,
	PROTO_TRUNCATE = 19,
	PROTO_UNLINK = 20,
	PROTO_SYNC = 21,
	PROTO_DROPDB = 22,
	PROTO_RESET_UNLOGGED = 23,
	PROTO_TEST = 99,

	PROTO_R_ERROR = 103,
	PROTO_R_DBSIZE = 104,
	PROTO_R_GET_SLRU_SEGMENT = 105,
};

/* Wire error codes; each maps to one SQLSTATE on the compute. */
enum proto_errcode
{
	PROTO_E_BAD_REQUEST = 1,	/* 22023 / XX000: malformed semantics */
	PROTO_E_NOT_FOUND = 2,		/* 58P01: relation or timeline unknown */
	PROTO_E_BEYOND_EOF = 3,		/* block at or past the fork's end */
	PROTO_E_EXISTS = 4,			/* 42P07: CREATE of an existing fork */
	PROTO_E_READ_ONLY = 5,		/* 25006 */
	PROTO_E_DISK_FULL = 6,		/* 53100 */
	PROTO_E_IO_ERROR = 7,		/* 58030 */
	PROTO_E_CORRUPT = 8,		/* XX001 */
	PROTO_E_UNSUPPORTED = 9,	/* 0A000 */
	PROTO_E_INTERNAL = 10,		/* XX000 */
};

#define PROTO_CREATE_TOLERATE_EXISTS 0x01

/* TEST ops (test builds of stratad only) */
#define PROTO_TEST_SLEEP_MS	1	/* delay this connection's responses */

struct proto_rel
{
	uint32_t	spc;
	uint32_t	db;
	uint32_t	rel;
	uint8_t		fork;
};

/* A request.  Fields not used by the tag are zero. */
struct proto_req
{
	uint8_t		tag;
	uint64_t	reqid;
	uint64_t	request_lsn;
	uint64_t	nms;			/* not_modified_since */
	struct proto_rel rel;
	uint32_t	blk;			/* GETPAGE, WRITE, EXTEND */
	uint32_t	nblocks;		/* TRUNCATE */
	uint32_t	db;				/* DBSIZE, DROPDB */
	uint8_t		flags;			/* CREATE */
	uint8_t		slru_kind;		/* GET_SLRU_SEGMENT */
	uint32_t	segno;			/* GET_SLRU_SEGMENT */
	uint32_t	test_op;		/* TEST */
	uint32_t	test_arg;		/* TEST */
	const uint8_t *page;		/* WRITE, EXTEND: PROTO_PAGE_SIZE bytes */
};

/* A response: the echoed request (page NULL) and the payload. */
struct proto_resp
{
	uint8_t		tag;
	struct proto_req req;		/* echo; for ERROR only tag-less header */
	uint8_t		exists;
	uint32_t	nblocks;
	int64_t		dbsize;
	uint64_t	stored_lsn;
	uint32_t	count;
	const uint8_t *page;		/* GETPAGE */
	uint16_t	errcode;		/* ERROR */
	const char *errmsg;			/* ERROR, NUL-terminated inside the frame */
};

/* The response tag for a request tag, or -1 if tag is not a request. */
extern int	proto_resp_tag(uint8_t req_tag);

/* Whether a request tag is known (TEST included). */
extern int	proto_is_request(uint8_t tag);

/* Request name for logs and metrics ("getpage", ...), "unknown" if none. */
extern const char *proto_tag_name(uint8_t tag);

/* Wire error code name ("BEYOND_EOF", ...). */
extern const char *proto_errcode_name(uint16_t code);

extern size_t proto_encode_req(const struct proto_req *req, uint8_t *buf, size_t cap);
extern int	proto_decode_req(const uint8_t *buf, size_t len, struct proto_req *req);

/*
 * Encode a successful response to req; payload fields come from resp
 * (resp->req and resp->tag are ignored).  For GETPAGE, resp->page must
 * point to PROTO_PAGE_SIZE bytes.
 */
extern size_t proto_encode_resp(const struct proto_req *req,
								const struct proto_resp *resp,
								uint8_t *buf, size_t cap);
/*
 * A GETPAGE response up to its page (which follows it on the wire,
 * PROTO_PAGE_SIZE bytes): for senders that send the page from elsewhere.
 * Returns the length, 0 if req is not a GETPAGE or cap is too small.
 */
extern size_t proto_encode_getpage_head(const struct proto_req *req, uint8_t *buf, size_t cap);
extern size_t proto_encode_error(const struct proto_req *req, uint16_t code,
								 const char *msg, uint8_t *buf, size_t cap);
extern int	proto_decode_resp(const uint8_t *buf, size_t len, struct proto_resp *resp);

/*
 * Whether a decoded response echoes req exactly (header and body).  A
 * mismatch means the stream is out of sync and must be closed.
 */
extern int	proto_resp_matches(const struct proto_req *req, const struct proto_resp *resp);

/* Encoded size of a request / successful response with this tag, or 0. */
extern size_t proto_req_size(uint8_t tag);

#endif							/* STRATA_PROTO_H */
