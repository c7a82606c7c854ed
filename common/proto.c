/*-------------------------------------------------------------------------
 *
 * proto.c
 *	  Encode and decode pagestream messages (see proto.h for the layout).
 *
 * One table, msgs[], describes every request: its tags, its name and the
 * fields of its body and of its successful response's payload, each as a
 * wire kind and an offset into struct proto_req or struct proto_resp.
 * Encoders and decoders walk the same descriptions, so the two directions
 * cannot disagree about the layout.  A response echoes the request body
 * without its page: the page is the one field that only a request carries.
 *
 *-------------------------------------------------------------------------
 */
#include "proto.h"

#include <stdbool.h>
#include <string.h>

#include "bytes.h"
#include "strata_err.h"

/* How a field sits on the wire (big-endian integers). */
enum field_kind
{
	F_END = 0,					/* terminates a field list */
	F_U8,
	F_BOOL,						/* u8, 0 or 1 */
	F_U32,
	F_U64,						/* also the i64 dbsize: same bits */
	F_REL,						/* u32 spc, u32 db, u32 rel, u8 fork */
	F_PAGE,						/* PROTO_PAGE_SIZE bytes; a pointer field */
};

struct field
{
	uint8_t		kind;			/* enum field_kind */
	uint16_t	off;			/* offsetof into the struct described */
};

#define MAX_BODY_FIELDS 3
#define MAX_PAYLOAD_FIELDS 1

struct msg
{
	uint8_t		tag;
	uint8_t		resp_tag;
	const char *name;
	struct field body[MAX_BODY_FIELDS + 1];			/* in struct proto_req */
	struct field payload[MAX_PAYLOAD_FIELDS + 1];	/* in struct proto_resp */
	bool		payload_variable;	/* not encodable yet (phase 2) */
};

#define Q(kind, member)		{kind, offsetof(struct proto_req, member)}
#define R(kind, member)		{kind, offsetof(struct proto_resp, member)}
#define REL		Q(F_REL, rel)
#define LSN_OUT	R(F_U64, stored_lsn)
#define NEXT(tag)	((tag) + PROTO_RESP_OFFSET)

static const struct msg msgs[] = {
	{.tag = PROTO_EXISTS, .resp_tag = NEXT(PROTO_EXISTS), .name = "exists",
	.body = {REL}, .payload = {R(F_BOOL, exists)}},
	{.tag = PROTO_NBLOCKS, .resp_tag = NEXT(PROTO_NBLOCKS), .name = "nblocks",
	.body = {REL}, .payload = {R(F_U32, nblocks)}},
	{.tag = PROTO_GETPAGE, .resp_tag = NEXT(PROTO_GETPAGE), .name = "getpage",
	.body = {REL, Q(F_U32, blk)}, .payload = {R(F_PAGE, page)}},
	{.tag = PROTO_DBSIZE, .resp_tag = PROTO_R_DBSIZE, .name = "dbsize",
	.body = {Q(F_U32, db)}, .payload = {R(F_U64, dbsize)}},
	{.tag = PROTO_GET_SLRU_SEGMENT, .resp_tag = PROTO_R_GET_SLRU_SEGMENT,
		.name = "get_slru_segment",
	.body = {Q(F_U8, slru_kind), Q(F_U32, segno)}, .payload_variable = true},
	{.tag = PROTO_CREATE, .resp_tag = NEXT(PROTO_CREATE), .name = "create",
	.body = {REL, Q(F_U8, flags)}, .payload = {LSN_OUT}},
	{.tag = PROTO_WRITE, .resp_tag = NEXT(PROTO_WRITE), .name = "write",
	.body = {REL, Q(F_U32, blk), Q(F_PAGE, page)}, .payload = {LSN_OUT}},
	{.tag = PROTO_EXTEND, .resp_tag = NEXT(PROTO_EXTEND), .name = "extend",
	.body = {REL, Q(F_U32, blk), Q(F_PAGE, page)}, .payload = {LSN_OUT}},
	{.tag = PROTO_TRUNCATE, .resp_tag = NEXT(PROTO_TRUNCATE), .name = "truncate",
	.body = {REL, Q(F_U32, nblocks)}, .payload = {LSN_OUT}},
	{.tag = PROTO_UNLINK, .resp_tag = NEXT(PROTO_UNLINK), .name = "unlink",
	.body = {REL}, .payload = {LSN_OUT}},
	{.tag = PROTO_SYNC, .resp_tag = NEXT(PROTO_SYNC), .name = "sync",
	.body = {REL}},
	{.tag = PROTO_DROPDB, .resp_tag = NEXT(PROTO_DROPDB), .name = "dropdb",
	.body = {Q(F_U32, db)}, .payload = {LSN_OUT}},
	{.tag = PROTO_RESET_UNLOGGED, .resp_tag = NEXT(PROTO_RESET_UNLOGGED),
		.name = "reset_unlogged",
	.payload = {R(F_U32, count)}},
	{.tag = PROTO_TEST, .resp_tag = NEXT(PROTO_TEST), .name = "test",
	.body = {Q(F_U32, test_op), Q(F_U32, test_arg)}},
};

#undef NEXT
#undef LSN_OUT
#undef REL
#undef R
#undef Q

#define NMSGS (sizeof(msgs) / sizeof(msgs[0]))

static const struct msg *
msg_of_tag(uint8_t tag)
{
	for (size_t i = 0; i < NMSGS; i++)
		if (msgs[i].tag == tag)
			return &msgs[i];
	return NULL;
}

static const struct msg *
msg_of_resp_tag(uint8_t resp_tag)
{
	for (size_t i = 0; i < NMSGS; i++)
		if (msgs[i].resp_tag == resp_tag)
			return &msgs[i];
	return NULL;
}

static size_t
field_size(uint8_t kind)
{
	switch ((enum field_kind) kind)
	{
		case F_U8:
		case F_BOOL:
			return 1;
		case F_U32:
			return 4;
		case F_U64:
			return 8;
		case F_REL:
			return PROTO_REL_SIZE;
		case F_PAGE:
			return PROTO_PAGE_SIZE;
		case F_END:
			break;
	}
	return 0;
}

/* Wire length of a field list; an echo (with_page false) leaves the page out. */
static size_t
fields_size(const struct field *f, bool with_page)
{
	size_t		n = 0;

	for (; f->kind != F_END; f++)
		if (with_page || f->kind != F_PAGE)
			n += field_size(f->kind);
	return n;
}

/*
 * Write the fields of obj at p; returns the length, or 0 if a page field
 * is NULL (the caller broke its contract, and nothing may go out).
 */
static size_t
put_fields(uint8_t *p, const struct field *f, const void *obj, bool with_page)
{
	uint8_t    *start = p;

	for (; f->kind != F_END; f++)
	{
		const char *src = (const char *) obj + f->off;

		switch ((enum field_kind) f->kind)
		{
			case F_U8:
				*p = *(const uint8_t *) src;
				break;
			case F_BOOL:
				*p = *(const uint8_t *) src ? 1 : 0;
				break;
			case F_U32:
				put_be32(p, *(const uint32_t *) src);
				break;
			case F_U64:
				put_be64(p, *(const uint64_t *) src);
				break;
			case F_REL:
				{
					const struct proto_rel *rel = (const struct proto_rel *) src;

					put_be32(p, rel->spc);
					put_be32(p + 4, rel->db);
					put_be32(p + 8, rel->rel);
					p[12] = rel->fork;
				}
				break;
			case F_PAGE:
				if (!with_page)
					continue;
				if (*(const uint8_t *const *) src == NULL)
					return 0;
				memcpy(p, *(const uint8_t *const *) src, PROTO_PAGE_SIZE);
				break;
			case F_END:
				break;
		}
		p += field_size(f->kind);
	}
	return (size_t) (p - start);
}

/*
 * Parse fields of the length fields_size() gave (already checked) into
 * obj; a page becomes a pointer into p.  STRATA_EPROTO for a bad bool.
 */
static int
get_fields(const uint8_t *p, const struct field *f, void *obj, bool with_page)
{
	for (; f->kind != F_END; f++)
	{
		char	   *dst = (char *) obj + f->off;

		switch ((enum field_kind) f->kind)
		{
			case F_U8:
				*(uint8_t *) dst = *p;
				break;
			case F_BOOL:
				if (*p > 1)
					return STRATA_EPROTO;
				*(uint8_t *) dst = *p;
				break;
			case F_U32:
				*(uint32_t *) dst = get_be32(p);
				break;
			case F_U64:
				*(uint64_t *) dst = get_be64(p);
				break;
			case F_REL:
				{
					struct proto_rel *rel = (struct proto_rel *) dst;

					rel->spc = get_be32(p);
					rel->db = get_be32(p + 4);
					rel->rel = get_be32(p + 8);
					rel->fork = p[12];
				}
				break;
			case F_PAGE:
				if (!with_page)
					continue;
				*(const uint8_t **) dst = p;
				break;
			case F_END:
				break;
		}
		p += field_size(f->kind);
	}
	return 0;
}

int
proto_is_request(uint8_t tag)
{
	return msg_of_tag(tag) != NULL;
}

int
proto_resp_tag(uint8_t req_tag)
{
	const struct msg *m = msg_of_tag(req_tag);

	return m ? m->resp_tag : -1;
}

const char *
proto_tag_name(uint8_t tag)
{
	const struct msg *m = msg_of_tag(tag);

	return m ? m->name : "unknown";
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
	const struct msg *m = msg_of_tag(tag);

	return m ? PROTO_HDR_SIZE + fields_size(m->body, true) : 0;
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

size_t
proto_encode_req(const struct proto_req *req, uint8_t *buf, size_t cap)
{
	const struct msg *m = msg_of_tag(req->tag);

	if (m == NULL || PROTO_HDR_SIZE + fields_size(m->body, true) > cap)
		return 0;
	put_hdr(buf, req->tag, req);
	if (put_fields(buf + PROTO_HDR_SIZE, m->body, req, true) != fields_size(m->body, true))
		return 0;
	return PROTO_HDR_SIZE + fields_size(m->body, true);
}

int
proto_decode_req(const uint8_t *buf, size_t len, struct proto_req *req)
{
	const struct msg *m;

	memset(req, 0, sizeof(*req));
	if (len < PROTO_HDR_SIZE)
		return STRATA_EPROTO;
	get_hdr(buf, req);
	m = msg_of_tag(req->tag);
	if (m == NULL || len != PROTO_HDR_SIZE + fields_size(m->body, true))
		return STRATA_EPROTO;
	return get_fields(buf + PROTO_HDR_SIZE, m->body, req, true);
}

/* A response's header and echoed body; the length, or 0 if cap is short. */
static size_t
put_echo(const struct msg *m, const struct proto_req *req, size_t payload,
		 uint8_t *buf, size_t cap)
{
	size_t		body = fields_size(m->body, false);

	if (PROTO_HDR_SIZE + body + payload > cap)
		return 0;
	put_hdr(buf, m->resp_tag, req);
	(void) put_fields(buf + PROTO_HDR_SIZE, m->body, req, false);	/* no page: cannot fail */
	return PROTO_HDR_SIZE + body;
}

size_t
proto_encode_resp(const struct proto_req *req, const struct proto_resp *resp,
				  uint8_t *buf, size_t cap)
{
	const struct msg *m = msg_of_tag(req->tag);
	size_t		payload;
	size_t		n;

	/* GET_SLRU_SEGMENT responses are phase 2; nothing encodes them yet. */
	if (m == NULL || m->payload_variable)
		return 0;
	payload = fields_size(m->payload, true);
	if ((n = put_echo(m, req, payload, buf, cap)) == 0)
		return 0;
	if (put_fields(buf + n, m->payload, resp, true) != payload)
		return 0;
	return n + payload;
}

size_t
proto_encode_getpage_head(const struct proto_req *req, uint8_t *buf, size_t cap)
{
	if (req->tag != PROTO_GETPAGE)
		return 0;
	return put_echo(msg_of_tag(PROTO_GETPAGE), req, 0, buf, cap);
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

static int
decode_error(const uint8_t *buf, size_t len, struct proto_resp *resp)
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

int
proto_decode_resp(const uint8_t *buf, size_t len, struct proto_resp *resp)
{
	const struct msg *m;
	size_t		body;

	memset(resp, 0, sizeof(*resp));
	if (len < PROTO_HDR_SIZE)
		return STRATA_EPROTO;
	resp->tag = buf[0];
	get_hdr(buf, &resp->req);
	if (resp->tag == PROTO_R_ERROR)
		return decode_error(buf, len, resp);

	m = msg_of_resp_tag(resp->tag);
	if (m == NULL || m->payload_variable)
		return STRATA_EPROTO;
	resp->req.tag = m->tag;
	body = fields_size(m->body, false);
	if (len != PROTO_HDR_SIZE + body + fields_size(m->payload, true))
		return STRATA_EPROTO;
	(void) get_fields(buf + PROTO_HDR_SIZE, m->body, &resp->req, false);	/* no bools */
	return get_fields(buf + PROTO_HDR_SIZE + body, m->payload, resp, true);
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
