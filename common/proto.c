/*-------------------------------------------------------------------------
 *
 * proto.c
 *	  Encode and decode pagestream messages (see proto.h for the layout).
 *
 * Requests and successful responses share the body encoding: a response
 * echoes the request body without its page, so body_size(tag, false) is the
 * echo's length and body_size(tag, true) the request's.
 *
 *-------------------------------------------------------------------------
 */
#include "proto.h"

#include <string.h>

#include "bytes.h"
#include "strata_err.h"

/* Body length after the header, or -1 for an unknown tag. */
static int
body_size(uint8_t tag, int with_page)
{
	switch ((enum proto_tag) tag)
	{
		case PROTO_EXISTS:
		case PROTO_NBLOCKS:
		case PROTO_SYNC:
		case PROTO_UNLINK:
			return PROTO_REL_SIZE;
		case PROTO_GETPAGE:
		case PROTO_TRUNCATE:
			return PROTO_REL_SIZE + 4;
		case PROTO_DBSIZE:
		case PROTO_DROPDB:
			return 4;
		case PROTO_GET_SLRU_SEGMENT:
			return 5;
		case PROTO_CREATE:
			return PROTO_REL_SIZE + 1;
		case PROTO_WRITE:
		case PROTO_EXTEND:
			return PROTO_REL_SIZE + 4 + (with_page ? PROTO_PAGE_SIZE : 0);
		case PROTO_RESET_UNLOGGED:
			return 0;
		case PROTO_TEST:
			return 8;
		default:
			return -1;
	}
}

/* Fixed payload length of a successful response, or -1 if variable. */
static int
payload_size(uint8_t tag)
{
	switch ((enum proto_tag) tag)
	{
		case PROTO_EXISTS:
			return 1;
		case PROTO_NBLOCKS:
		case PROTO_RESET_UNLOGGED:
			return 4;
		case PROTO_GETPAGE:
			return PROTO_PAGE_SIZE;
		case PROTO_DBSIZE:
		case PROTO_CREATE:
		case PROTO_WRITE:
		case PROTO_EXTEND:
		case PROTO_TRUNCATE:
		case PROTO_UNLINK:
		case PROTO_DROPDB:
			return 8;
		case PROTO_SYNC:
		case PROTO_TEST:
			return 0;
		default:
			return -1;
	}
}

int
proto_is_request(uint8_t tag)
{
	return body_size(tag, 1) >= 0;
}

int
proto_resp_tag(uint8_t req_tag)
{
	if (!proto_is_request(req_tag))
		return -1;
	if (req_tag == PROTO_DBSIZE)
		return PROTO_R_DBSIZE;
	if (req_tag == PROTO_GET_SLRU_SEGMENT)
		return PROTO_R_GET_SLRU_SEGMENT;
	return req_tag + PROTO_RESP_OFFSET;
}

/* The request tag a response tag answers, or -1. */
static int
req_tag_of_resp(uint8_t resp_tag)
{
	if (resp_tag == PROTO_R_DBSIZE)
		return PROTO_DBSIZE;
	if (resp_tag == PROTO_R_GET_SLRU_SEGMENT)
		return PROTO_GET_SLRU_SEGMENT;
	if (resp_tag < PROTO_RESP_OFFSET || resp_tag == PROTO_R_ERROR)
		return -1;
	if (!proto_is_request(resp_tag - PROTO_RESP_OFFSET) ||
		resp_tag - PROTO_RESP_OFFSET == PROTO_DBSIZE ||
		resp_tag - PROTO_RESP_OFFSET == PROTO_GET_SLRU_SEGMENT)
		return -1;
	return resp_tag - PROTO_RESP_OFFSET;
}

const char *
proto_tag_name(uint8_t tag)
{
	switch ((enum proto_tag) tag)
	{
		case PROTO_EXISTS:
			return "exists";
		case PROTO_NBLOCKS:
			return "nblocks";
		case PROTO_GETPAGE:
			return "getpage";
		case PROTO_DBSIZE:
			return "dbsize";
		case PROTO_GET_SLRU_SEGMENT:
			return "get_slru_segment";
		case PROTO_CREATE:
			return "create";
		case PROTO_WRITE:
			return "write";
		case PROTO_EXTEND:
			return "extend";
		case PROTO_TRUNCATE:
			return "truncate";
		case PROTO_UNLINK:
			return "unlink";
		case PROTO_SYNC:
			return "sync";
		case PROTO_DROPDB:
			return "dropdb";
		case PROTO_RESET_UNLOGGED:
			return "reset_unlogged";
		case PROTO_TEST:
			return "test";
		default:
			return "unknown";
	}
}

const char *
proto_errcode_name(uint16_t code)
{
	switch ((enum proto_errcode) code)
	{
		case PROTO_E_BAD_REQUEST:
			return "BAD_REQUEST";
		case PROTO_E_NOT_FOUND:
			return "NOT_FOUND";
		case PROTO_E_BEYOND_EOF:
			return "BEYOND_EOF";
		case PROTO_E_EXISTS:
			return "EXISTS";
		case PROTO_E_READ_ONLY:
			return "READ_ONLY";
		case PROTO_E_DISK_FULL:
			return "DISK_FULL";
		case PROTO_E_IO_ERROR:
			return "IO_ERROR";
		case PROTO_E_CORRUPT:
			return "CORRUPT";
		case PROTO_E_UNSUPPORTED:
			return "UNSUPPORTED";
		case PROTO_E_INTERNAL:
			return "INTERNAL";
	}
	return "UNKNOWN";
}

size_t
proto_req_size(uint8_t tag)
{
	int			n = body_size(tag, 1);

	return n < 0 ? 0 : (size_t) (PROTO_HDR_SIZE + n);
}

static void
put_hdr(uint8_t *p, uint8_t tag, const struct proto_req *req)
{
	p[0] = tag;
	put_be64(p + 1, req->reqid);
	put_be64(p + 9, req->request_lsn);
	put_be64(p + 17, req->nms);
}

static void
get_hdr(const uint8_t *p, struct proto_req *req)
{
	req->tag = p[0];
	req->reqid = get_be64(p + 1);
	req->request_lsn = get_be64(p + 9);
	req->nms = get_be64(p + 17);
}

static void
put_rel(uint8_t *p, const struct proto_rel *rel)
{
	put_be32(p, rel->spc);
	put_be32(p + 4, rel->db);
	put_be32(p + 8, rel->rel);
	p[12] = rel->fork;
}

static void
get_rel(const uint8_t *p, struct proto_rel *rel)
{
	rel->spc = get_be32(p);
	rel->db = get_be32(p + 4);
	rel->rel = get_be32(p + 8);
	rel->fork = p[12];
}

/* Write req's body (with or without the page) at p. */
static void
put_body(uint8_t *p, const struct proto_req *req, int with_page)
{
	switch ((enum proto_tag) req->tag)
	{
		case PROTO_EXISTS:
		case PROTO_NBLOCKS:
		case PROTO_SYNC:
		case PROTO_UNLINK:
			put_rel(p, &req->rel);
			break;
		case PROTO_GETPAGE:
			put_rel(p, &req->rel);
			put_be32(p + PROTO_REL_SIZE, req->blk);
			break;
		case PROTO_TRUNCATE:
			put_rel(p, &req->rel);
			put_be32(p + PROTO_REL_SIZE, req->nblocks);
			break;
		case PROTO_DBSIZE:
		case PROTO_DROPDB:
			put_be32(p, req->db);
			break;
		case PROTO_GET_SLRU_SEGMENT:
			p[0] = req->slru_kind;
			put_be32(p + 1, req->segno);
			break;
		case PROTO_CREATE:
			put_rel(p, &req->rel);
			p[PROTO_REL_SIZE] = req->flags;
			break;
		case PROTO_WRITE:
		case PROTO_EXTEND:
			put_rel(p, &req->rel);
			put_be32(p + PROTO_REL_SIZE, req->blk);
			if (with_page)
				memcpy(p + PROTO_REL_SIZE + 4, req->page, PROTO_PAGE_SIZE);
			break;
		case PROTO_TEST:
			put_be32(p, req->test_op);
			put_be32(p + 4, req->test_arg);
			break;
		default:
			break;
	}
}

/* Parse a body of the right length for req->tag (already checked). */
static void
get_body(const uint8_t *p, struct proto_req *req, int with_page)
{
	switch ((enum proto_tag) req->tag)
	{
		case PROTO_EXISTS:
		case PROTO_NBLOCKS:
		case PROTO_SYNC:
		case PROTO_UNLINK:
			get_rel(p, &req->rel);
			break;
		case PROTO_GETPAGE:
			get_rel(p, &req->rel);
			req->blk = get_be32(p + PROTO_REL_SIZE);
			break;
		case PROTO_TRUNCATE:
			get_rel(p, &req->rel);
			req->nblocks = get_be32(p + PROTO_REL_SIZE);
			break;
		case PROTO_DBSIZE:
		case PROTO_DROPDB:
			req->db = get_be32(p);
			break;
		case PROTO_GET_SLRU_SEGMENT:
			req->slru_kind = p[0];
			req->segno = get_be32(p + 1);
			break;
		case PROTO_CREATE:
			get_rel(p, &req->rel);
			req->flags = p[PROTO_REL_SIZE];
			break;
		case PROTO_WRITE:
		case PROTO_EXTEND:
			get_rel(p, &req->rel);
			req->blk = get_be32(p + PROTO_REL_SIZE);
			if (with_page)
				req->page = p + PROTO_REL_SIZE + 4;
			break;
		case PROTO_TEST:
			req->test_op = get_be32(p);
			req->test_arg = get_be32(p + 4);
			break;
		default:
			break;
	}
}

size_t
proto_encode_req(const struct proto_req *req, uint8_t *buf, size_t cap)
{
	size_t		n = proto_req_size(req->tag);

	if (n == 0 || n > cap)
		return 0;
	if ((req->tag == PROTO_WRITE || req->tag == PROTO_EXTEND) && req->page == NULL)
		return 0;
	put_hdr(buf, req->tag, req);
	put_body(buf + PROTO_HDR_SIZE, req, 1);
	return n;
}

int
proto_decode_req(const uint8_t *buf, size_t len, struct proto_req *req)
{
	int			body;

	memset(req, 0, sizeof(*req));
	if (len < PROTO_HDR_SIZE)
		return STRATA_EPROTO;
	get_hdr(buf, req);
	body = body_size(req->tag, 1);
	if (body < 0 || len != (size_t) (PROTO_HDR_SIZE + body))
		return STRATA_EPROTO;
	get_body(buf + PROTO_HDR_SIZE, req, 1);
	return 0;
}

size_t
proto_encode_resp(const struct proto_req *req, const struct proto_resp *resp,
				  uint8_t *buf, size_t cap)
{
	int			rtag = proto_resp_tag(req->tag);
	int			body = body_size(req->tag, 0);
	int			payload = payload_size(req->tag);
	uint8_t    *p;

	/* GET_SLRU_SEGMENT responses are phase 2; nothing encodes them yet. */
	if (rtag < 0 || payload < 0)
		return 0;
	if ((size_t) (PROTO_HDR_SIZE + body + payload) > cap)
		return 0;
	put_hdr(buf, (uint8_t) rtag, req);
	put_body(buf + PROTO_HDR_SIZE, req, 0);
	p = buf + PROTO_HDR_SIZE + body;
	switch ((enum proto_tag) req->tag)
	{
		case PROTO_EXISTS:
			p[0] = resp->exists ? 1 : 0;
			break;
		case PROTO_NBLOCKS:
			put_be32(p, resp->nblocks);
			break;
		case PROTO_RESET_UNLOGGED:
			put_be32(p, resp->count);
			break;
		case PROTO_GETPAGE:
			memcpy(p, resp->page, PROTO_PAGE_SIZE);
			break;
		case PROTO_DBSIZE:
			put_be64(p, (uint64_t) resp->dbsize);
			break;
		case PROTO_CREATE:
		case PROTO_WRITE:
		case PROTO_EXTEND:
		case PROTO_TRUNCATE:
		case PROTO_UNLINK:
		case PROTO_DROPDB:
			put_be64(p, resp->stored_lsn);
			break;
		default:
			break;
	}
	return (size_t) (PROTO_HDR_SIZE + body + payload);
}

size_t
proto_encode_getpage_head(const struct proto_req *req, uint8_t *buf, size_t cap)
{
	int			body = body_size(PROTO_GETPAGE, 0);

	if (req->tag != PROTO_GETPAGE || (size_t) (PROTO_HDR_SIZE + body) > cap)
		return 0;
	put_hdr(buf, (uint8_t) proto_resp_tag(PROTO_GETPAGE), req);
	put_body(buf + PROTO_HDR_SIZE, req, 0);
	return (size_t) (PROTO_HDR_SIZE + body);
}

size_t
proto_encode_error(const struct proto_req *req, uint16_t code, const char *msg,
				   uint8_t *buf, size_t cap)
{
	size_t		mlen = strlen(msg);

	/* Truncate an oversized message rather than fail to report the error. */
	if (cap < PROTO_HDR_SIZE + 3)
		return 0;
	if (mlen > cap - PROTO_HDR_SIZE - 3)
		mlen = cap - PROTO_HDR_SIZE - 3;
	put_hdr(buf, PROTO_R_ERROR, req);
	put_be16(buf + PROTO_HDR_SIZE, code);
	memcpy(buf + PROTO_HDR_SIZE + 2, msg, mlen);
	buf[PROTO_HDR_SIZE + 2 + mlen] = '\0';
	return PROTO_HDR_SIZE + 3 + mlen;
}

int
proto_decode_resp(const uint8_t *buf, size_t len, struct proto_resp *resp)
{
	int			qtag;
	int			body;
	int			payload;
	const uint8_t *p;

	memset(resp, 0, sizeof(*resp));
	if (len < PROTO_HDR_SIZE)
		return STRATA_EPROTO;
	resp->tag = buf[0];
	get_hdr(buf, &resp->req);

	if (resp->tag == PROTO_R_ERROR)
	{
		/* u16 code, then text that must end with the frame's last byte */
		if (len < PROTO_HDR_SIZE + 3 || buf[len - 1] != '\0' ||
			memchr(buf + PROTO_HDR_SIZE + 2, '\0', len - PROTO_HDR_SIZE - 2) !=
			buf + len - 1)
			return STRATA_EPROTO;
		resp->req.tag = 0;
		resp->errcode = get_be16(buf + PROTO_HDR_SIZE);
		resp->errmsg = (const char *) buf + PROTO_HDR_SIZE + 2;
		return 0;
	}

	qtag = req_tag_of_resp(resp->tag);
	if (qtag < 0)
		return STRATA_EPROTO;
	resp->req.tag = (uint8_t) qtag;
	body = body_size((uint8_t) qtag, 0);
	payload = payload_size((uint8_t) qtag);
	if (payload < 0 || len != (size_t) (PROTO_HDR_SIZE + body + payload))
		return STRATA_EPROTO;
	get_body(buf + PROTO_HDR_SIZE, &resp->req, 0);
	p = buf + PROTO_HDR_SIZE + body;
	switch ((enum proto_tag) qtag)
	{
		case PROTO_EXISTS:
			if (p[0] > 1)
				return STRATA_EPROTO;
			resp->exists = p[0];
			break;
		case PROTO_NBLOCKS:
			resp->nblocks = get_be32(p);
			break;
		case PROTO_RESET_UNLOGGED:
			resp->count = get_be32(p);
			break;
		case PROTO_GETPAGE:
			resp->page = p;
			break;
		case PROTO_DBSIZE:
			resp->dbsize = (int64_t) get_be64(p);
			break;
		case PROTO_CREATE:
		case PROTO_WRITE:
		case PROTO_EXTEND:
		case PROTO_TRUNCATE:
		case PROTO_UNLINK:
		case PROTO_DROPDB:
			resp->stored_lsn = get_be64(p);
			break;
		default:
			break;
	}
	return 0;
}

int
proto_resp_matches(const struct proto_req *req, const struct proto_resp *resp)
{
	const struct proto_req *e = &resp->req;

	if (e->reqid != req->reqid || e->request_lsn != req->request_lsn ||
		e->nms != req->nms)
		return 0;
	if (resp->tag == PROTO_R_ERROR)
		return 1;
	if (e->tag != req->tag)
		return 0;
	return e->rel.spc == req->rel.spc && e->rel.db == req->rel.db &&
		e->rel.rel == req->rel.rel && e->rel.fork == req->rel.fork &&
		e->blk == req->blk && e->nblocks == req->nblocks &&
		e->db == req->db && e->flags == req->flags &&
		e->slru_kind == req->slru_kind && e->segno == req->segno &&
		e->test_op == req->test_op && e->test_arg == req->test_arg;
}
