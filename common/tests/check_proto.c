/*
 * check_proto.c: common/ — pagestream encode/decode, keys, CRC-32C, LSNs.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "key.h"
#include "lsn.h"
#include "proto.h"
#include "strata_err.h"
#include "testutil.h"
#include "suites.h"

static const uint8_t tags[] = {
	PROTO_EXISTS, PROTO_NBLOCKS, PROTO_GETPAGE, PROTO_DBSIZE, PROTO_GET_SLRU_SEGMENT,
	PROTO_CREATE, PROTO_WRITE, PROTO_EXTEND, PROTO_TRUNCATE, PROTO_UNLINK,
	PROTO_SYNC, PROTO_DROPDB, PROTO_RESET_UNLOGGED, PROTO_TEST,
};

static struct proto_req
sample(uint8_t tag, const uint8_t *page)
{
	struct proto_req r;

	memset(&r, 0, sizeof(r));
	r.tag = tag;
	r.reqid = 0x0102030405060708ull;
	r.request_lsn = 0x1122334455667788ull;
	r.nms = 0x10;
	switch (tag)
	{
		case PROTO_DBSIZE:
		case PROTO_DROPDB:
			r.db = 16384;
			break;
		case PROTO_GET_SLRU_SEGMENT:
			r.slru_kind = 2;
			r.segno = 77;
			break;
		case PROTO_TEST:
			r.test_op = 1;
			r.test_arg = 500;
			break;
		case PROTO_RESET_UNLOGGED:
			break;
		default:
			r.rel.spc = 1663;
			r.rel.db = 5;
			r.rel.rel = 16384;
			r.rel.fork = 2;
			r.blk = (tag == PROTO_GETPAGE || tag == PROTO_WRITE || tag == PROTO_EXTEND) ? 42 : 0;
			r.nblocks = tag == PROTO_TRUNCATE ? 9 : 0;
			r.flags = tag == PROTO_CREATE ? PROTO_CREATE_TOLERATE_EXISTS : 0;
			r.page = (tag == PROTO_WRITE || tag == PROTO_EXTEND) ? page : NULL;
	}
	return r;
}

/* Every field of a decoded request equals the one encoded. */
static void
assert_same_req(const struct proto_req *out, const struct proto_req *in)
{
	ck_assert_uint_eq(out->tag, in->tag);
	ck_assert_uint_eq(out->reqid, in->reqid);
	ck_assert_uint_eq(out->request_lsn, in->request_lsn);
	ck_assert_uint_eq(out->nms, in->nms);
	ck_assert_uint_eq(out->rel.spc, in->rel.spc);
	ck_assert_uint_eq(out->rel.db, in->rel.db);
	ck_assert_uint_eq(out->rel.rel, in->rel.rel);
	ck_assert_uint_eq(out->rel.fork, in->rel.fork);
	ck_assert_uint_eq(out->blk, in->blk);
	ck_assert_uint_eq(out->nblocks, in->nblocks);
	ck_assert_uint_eq(out->db, in->db);
	ck_assert_uint_eq(out->flags, in->flags);
	ck_assert_uint_eq(out->slru_kind, in->slru_kind);
	ck_assert_uint_eq(out->segno, in->segno);
	ck_assert_uint_eq(out->test_op, in->test_op);
	ck_assert_uint_eq(out->test_arg, in->test_arg);
	ck_assert(in->page != NULL || out->page == NULL);
}

START_TEST(request_round_trip)
{
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		buf[PROTO_MAX_FRAME];

	for (int i = 0; i < PROTO_PAGE_SIZE; i++)
		page[i] = (uint8_t) (i * 7);
	for (size_t t = 0; t < sizeof(tags); t++)
	{
		struct proto_req in = sample(tags[t], page);
		struct proto_req out;
		size_t		n = proto_encode_req(&in, buf, sizeof(buf));

		ck_assert_uint_eq(n, proto_req_size(tags[t]));
		ck_assert_int_eq(proto_decode_req(buf, n, &out), 0);
		assert_same_req(&out, &in);
		if (in.page)
			ck_assert_mem_eq(out.page, page, PROTO_PAGE_SIZE);
		/* a truncated or extended frame is rejected */
		ck_assert_int_eq(proto_decode_req(buf, n - 1, &out), STRATA_EPROTO);
		ck_assert_int_eq(proto_decode_req(buf, n + 1, &out), STRATA_EPROTO);
	}
}
END_TEST

START_TEST(header_is_big_endian)
{
	uint8_t		buf[64];
	struct proto_req r = sample(PROTO_NBLOCKS, NULL);

	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), PROTO_HDR_SIZE + PROTO_REL_SIZE);
	ck_assert_uint_eq(buf[0], PROTO_NBLOCKS);
	ck_assert_uint_eq(buf[1], 0x01);
	ck_assert_uint_eq(buf[8], 0x08);
	ck_assert_uint_eq(get_be64(buf + 9), r.request_lsn);
	ck_assert_uint_eq(get_be32(buf + PROTO_HDR_SIZE + 8), 16384);
}
END_TEST

START_TEST(unknown_tags_are_rejected)
{
	uint8_t		buf[PROTO_HDR_SIZE + 16];
	struct proto_req r;

	memset(buf, 0, sizeof(buf));
	for (int tag = 0; tag < 256; tag++)
	{
		int			known = 0;

		for (size_t t = 0; t < sizeof(tags); t++)
			known |= tags[t] == tag;
		buf[0] = (uint8_t) tag;
		if (!known)
		{
			ck_assert_int_eq(proto_is_request((uint8_t) tag), 0);
			ck_assert_int_eq(proto_decode_req(buf, sizeof(buf), &r), STRATA_EPROTO);
		}
	}
	ck_assert_int_eq(proto_decode_req(buf, 3, &r), STRATA_EPROTO);
}
END_TEST

/*
 * Length of each tag's successful response (in tags[] order): header,
 * the echoed body without its page, then the payload.  Pinned here so a
 * change to the message tables cannot move the wire format unnoticed.
 */
static const size_t resp_sizes[] = {
	25 + 13 + 1,				/* EXISTS */
	25 + 13 + 4,				/* NBLOCKS */
	25 + 17 + PROTO_PAGE_SIZE,	/* GETPAGE */
	25 + 4 + 8,					/* DBSIZE */
	0,							/* GET_SLRU_SEGMENT: phase 2 */
	25 + 14 + 8,				/* CREATE */
	25 + 17 + 8,				/* WRITE */
	25 + 17 + 8,				/* EXTEND */
	25 + 17 + 8,				/* TRUNCATE */
	25 + 13 + 8,				/* UNLINK */
	25 + 13,					/* SYNC */
	25 + 4 + 8,					/* DROPDB */
	25 + 4,						/* RESET_UNLOGGED */
	25 + 8,						/* TEST */
};

static int
carries_lsn(uint8_t tag)
{
	return tag == PROTO_CREATE || tag == PROTO_WRITE || tag == PROTO_EXTEND ||
		tag == PROTO_TRUNCATE || tag == PROTO_UNLINK || tag == PROTO_DROPDB;
}

START_TEST(response_round_trip)
{
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		buf[PROTO_MAX_FRAME];

	memset(page, 0xAB, sizeof(page));
	for (size_t t = 0; t < sizeof(tags); t++)
	{
		struct proto_req req = sample(tags[t], page);
		struct proto_resp payload;
		struct proto_resp out;
		size_t		n;

		if (tags[t] == PROTO_GET_SLRU_SEGMENT)
			continue;			/* phase 2 */
		memset(&payload, 0, sizeof(payload));
		payload.exists = 1;
		payload.nblocks = 1234;
		payload.dbsize = -987654321;
		payload.stored_lsn = 0xABCDEF;
		payload.count = 3;
		payload.page = page;
		n = proto_encode_resp(&req, &payload, buf, sizeof(buf));
		ck_assert_uint_gt(n, 0);
		ck_assert_int_eq(proto_decode_resp(buf, n, &out), 0);
		ck_assert_int_eq(out.tag, proto_resp_tag(tags[t]));
		ck_assert_int_eq(proto_resp_matches(&req, &out), 1);
		ck_assert_uint_eq(n, resp_sizes[t]);
		assert_same_req(&out.req, &(struct proto_req) {.tag = req.tag, .reqid = req.reqid,
						.request_lsn = req.request_lsn, .nms = req.nms, .rel = req.rel,
						.blk = req.blk, .nblocks = req.nblocks, .db = req.db,
						.flags = req.flags, .slru_kind = req.slru_kind,
						.segno = req.segno, .test_op = req.test_op,
		.test_arg = req.test_arg});
		/* the payload: exactly the field the tag carries, the rest zero */
		ck_assert_uint_eq(out.exists, tags[t] == PROTO_EXISTS);
		ck_assert_uint_eq(out.nblocks, tags[t] == PROTO_NBLOCKS ? 1234 : 0);
		ck_assert_int_eq(out.dbsize, tags[t] == PROTO_DBSIZE ? -987654321 : 0);
		ck_assert_uint_eq(out.count, tags[t] == PROTO_RESET_UNLOGGED ? 3 : 0);
		ck_assert_uint_eq(out.stored_lsn, carries_lsn(tags[t]) ? 0xABCDEF : 0);
		if (tags[t] == PROTO_GETPAGE)
			ck_assert_mem_eq(out.page, page, PROTO_PAGE_SIZE);
		else
			ck_assert_ptr_null(out.page);
		ck_assert_ptr_null(out.errmsg);
		ck_assert_int_eq(proto_decode_resp(buf, n - 1, &out), STRATA_EPROTO);
		ck_assert_int_eq(proto_decode_resp(buf, n + 1, &out), STRATA_EPROTO);
	}
	ck_assert_int_eq(proto_resp_tag(PROTO_DBSIZE), PROTO_R_DBSIZE);
	ck_assert_int_eq(proto_resp_tag(PROTO_GETPAGE), 102);
	ck_assert_int_eq(proto_resp_tag(200), -1);
}
END_TEST

/* Where each body field sits, byte by byte, as proto.h documents. */
START_TEST(body_fields_sit_where_documented)
{
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		buf[PROTO_MAX_FRAME];
	struct proto_req r;
	const size_t h = PROTO_HDR_SIZE;

	memset(page, 0x5A, sizeof(page));
	r = sample(PROTO_WRITE, page);
	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), h + 17 + PROTO_PAGE_SIZE);
	ck_assert_uint_eq(get_be32(buf + h), 1663);
	ck_assert_uint_eq(get_be32(buf + h + 4), 5);
	ck_assert_uint_eq(get_be32(buf + h + 8), 16384);
	ck_assert_uint_eq(buf[h + 12], 2);
	ck_assert_uint_eq(get_be32(buf + h + 13), 42);
	ck_assert_mem_eq(buf + h + 17, page, PROTO_PAGE_SIZE);

	r = sample(PROTO_TRUNCATE, NULL);
	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), h + 17);
	ck_assert_uint_eq(get_be32(buf + h + 13), 9);

	r = sample(PROTO_CREATE, NULL);
	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), h + 14);
	ck_assert_uint_eq(buf[h + 13], PROTO_CREATE_TOLERATE_EXISTS);

	r = sample(PROTO_GET_SLRU_SEGMENT, NULL);
	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), h + 5);
	ck_assert_uint_eq(buf[h], 2);
	ck_assert_uint_eq(get_be32(buf + h + 1), 77);

	r = sample(PROTO_TEST, NULL);
	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), h + 8);
	ck_assert_uint_eq(get_be32(buf + h), 1);
	ck_assert_uint_eq(get_be32(buf + h + 4), 500);

	r = sample(PROTO_DROPDB, NULL);
	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), h + 4);
	ck_assert_uint_eq(get_be32(buf + h), 16384);

	r = sample(PROTO_RESET_UNLOGGED, NULL);
	ck_assert_uint_eq(proto_encode_req(&r, buf, sizeof(buf)), h);
}
END_TEST

/* Payloads after the echo: a DBSIZE response's i64, an EXISTS flag. */
START_TEST(payload_fields_sit_where_documented)
{
	uint8_t		buf[256];
	struct proto_req req = sample(PROTO_DBSIZE, NULL);
	struct proto_resp payload = {.dbsize = -2, .exists = 7};
	struct proto_resp out;
	size_t		n;

	n = proto_encode_resp(&req, &payload, buf, sizeof(buf));
	ck_assert_uint_eq(n, PROTO_HDR_SIZE + 4 + 8);
	ck_assert_uint_eq(buf[0], PROTO_R_DBSIZE);
	ck_assert_uint_eq(get_be32(buf + PROTO_HDR_SIZE), 16384);
	ck_assert_uint_eq(get_be64(buf + PROTO_HDR_SIZE + 4), (uint64_t) -2);

	/* any non-zero exists goes out as 1; anything above 1 is refused */
	req = sample(PROTO_EXISTS, NULL);
	n = proto_encode_resp(&req, &payload, buf, sizeof(buf));
	ck_assert_uint_eq(buf[n - 1], 1);
	buf[n - 1] = 2;
	ck_assert_int_eq(proto_decode_resp(buf, n, &out), STRATA_EPROTO);

	/* GET_SLRU_SEGMENT responses are phase 2: neither encoded nor accepted */
	req = sample(PROTO_GET_SLRU_SEGMENT, NULL);
	ck_assert_uint_eq(proto_encode_resp(&req, &payload, buf, sizeof(buf)), 0);
	memset(buf, 0, sizeof(buf));
	buf[0] = PROTO_R_GET_SLRU_SEGMENT;
	ck_assert_int_eq(proto_decode_resp(buf, PROTO_HDR_SIZE + 5 + 4, &out), STRATA_EPROTO);

	/* a request tag is not a response tag */
	buf[0] = PROTO_GETPAGE;
	ck_assert_int_eq(proto_decode_resp(buf, PROTO_HDR_SIZE + 17, &out), STRATA_EPROTO);
}
END_TEST

/* Encoders refuse a buffer one byte short, and a WRITE without its page. */
START_TEST(short_buffers_are_refused)
{
	uint8_t		page[PROTO_PAGE_SIZE] = {0};
	uint8_t		buf[PROTO_MAX_FRAME];
	struct proto_resp payload = {.page = page};

	for (size_t t = 0; t < sizeof(tags); t++)
	{
		struct proto_req req = sample(tags[t], page);
		size_t		n = proto_req_size(tags[t]);

		ck_assert_uint_eq(proto_encode_req(&req, buf, n - 1), 0);
		if (resp_sizes[t] > 0)
			ck_assert_uint_eq(proto_encode_resp(&req, &payload, buf, resp_sizes[t] - 1), 0);
	}
	{
		struct proto_req w = sample(PROTO_WRITE, NULL);

		ck_assert_uint_eq(proto_encode_req(&w, buf, sizeof(buf)), 0);
	}
	{
		struct proto_req g = sample(PROTO_GETPAGE, NULL);

		ck_assert_uint_eq(proto_encode_getpage_head(&g, buf, sizeof(buf)), PROTO_HDR_SIZE + 17);
		ck_assert_uint_eq(buf[0], 102);
		ck_assert_uint_eq(proto_encode_getpage_head(&g, buf, PROTO_HDR_SIZE + 16), 0);
		g.tag = PROTO_NBLOCKS;
		ck_assert_uint_eq(proto_encode_getpage_head(&g, buf, sizeof(buf)), 0);
	}
	ck_assert_str_eq(proto_tag_name(PROTO_RESET_UNLOGGED), "reset_unlogged");
	ck_assert_str_eq(proto_tag_name(200), "unknown");
}
END_TEST

START_TEST(mismatched_echo_is_detected)
{
	uint8_t		buf[PROTO_MAX_FRAME];
	struct proto_req req = sample(PROTO_GETPAGE, NULL);
	struct proto_req other = req;
	struct proto_resp payload;
	struct proto_resp out;
	uint8_t		page[PROTO_PAGE_SIZE] = {0};
	size_t		n;

	memset(&payload, 0, sizeof(payload));
	payload.page = page;
	n = proto_encode_resp(&req, &payload, buf, sizeof(buf));
	ck_assert_int_eq(proto_decode_resp(buf, n, &out), 0);
	other.blk++;
	ck_assert_int_eq(proto_resp_matches(&other, &out), 0);
	other = req;
	other.reqid++;
	ck_assert_int_eq(proto_resp_matches(&other, &out), 0);
	other = req;
	other.tag = PROTO_NBLOCKS;
	ck_assert_int_eq(proto_resp_matches(&other, &out), 0);
}
END_TEST

START_TEST(error_round_trip)
{
	uint8_t		buf[256];
	struct proto_req req = sample(PROTO_GETPAGE, NULL);
	struct proto_resp out;
	size_t		n = proto_encode_error(&req, PROTO_E_BEYOND_EOF, "block 9 is past the end", buf, sizeof(buf));

	ck_assert_int_eq(proto_decode_resp(buf, n, &out), 0);
	ck_assert_int_eq(out.tag, PROTO_R_ERROR);
	ck_assert_int_eq(out.errcode, PROTO_E_BEYOND_EOF);
	ck_assert_str_eq(out.errmsg, "block 9 is past the end");
	ck_assert_int_eq(proto_resp_matches(&req, &out), 1);
	ck_assert_str_eq(proto_errcode_name(out.errcode), "BEYOND_EOF");
	/* the text must be NUL-terminated at the frame's end */
	buf[n - 1] = 'x';
	ck_assert_int_eq(proto_decode_resp(buf, n, &out), STRATA_EPROTO);
	/* an oversized message is truncated, never overflows */
	{
		char		big[1000];

		memset(big, 'm', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		n = proto_encode_error(&req, PROTO_E_INTERNAL, big, buf, 64);
		ck_assert_uint_eq(n, 64);
		ck_assert_int_eq(proto_decode_resp(buf, n, &out), 0);
	}
}
END_TEST

START_TEST(key_order_matches_memcmp)
{
	struct strata_key keys[] = {
		key_block(1663, 5, 16384, 0, 0),
		key_block(1663, 5, 16384, 0, 1),
		key_block(1663, 5, 16384, 0, KEY_BLK_SIZE),
		key_block(1663, 5, 16384, 1, 0),
		key_block(1663, 5, 16385, 0, 0),
		key_block(1663, 6, 1, 0, 0),
		key_block(1664, 0, 1, 0, 0),
	};
	size_t		n = sizeof(keys) / sizeof(keys[0]);

	for (size_t i = 0; i < n; i++)
	{
		uint8_t		a[KEY_SIZE];
		struct strata_key back;

		key_encode(&keys[i], a);
		key_decode(a, &back);
		ck_assert_int_eq(key_cmp(&keys[i], &back), 0);
		for (size_t j = 0; j < n; j++)
		{
			uint8_t		b[KEY_SIZE];
			int			m;
			int			c = key_cmp(&keys[i], &keys[j]);

			key_encode(&keys[j], b);
			m = memcmp(a, b, KEY_SIZE);
			ck_assert_int_eq(m < 0 ? -1 : m > 0, c);
			ck_assert_int_eq(c, i < j ? -1 : i > j);
		}
	}
}
END_TEST

START_TEST(crc32c_known_vector)
{
	uint32_t	crc;

	ck_assert_uint_eq(strata_crc32c("123456789", 9), 0xE3069283u);
	crc = strata_crc32c_init();
	crc = strata_crc32c_update(crc, "1234", 4);
	crc = strata_crc32c_update(crc, "56789", 5);
	ck_assert_uint_eq(strata_crc32c_final(crc), 0xE3069283u);
}
END_TEST

START_TEST(lsn_format_and_parse)
{
	char		buf[LSN_STRLEN];
	lsn_t		l;

	ck_assert_str_eq(lsn_format(0x16B374D848ull, buf), "16/B374D848");
	ck_assert_int_eq(lsn_parse("16/B374D848", &l), 0);
	ck_assert_uint_eq(l, 0x16B374D848ull);
	ck_assert_int_eq(lsn_parse("16B374D848", &l), STRATA_EINVAL);
	ck_assert_int_eq(lsn_parse("x/1", &l), STRATA_EINVAL);
	ck_assert_str_eq(strata_strerror(STRATA_ECORRUPT), "data corrupted");
}
END_TEST

Suite *
check_proto_suite(void)
{
	Suite	   *s = suite_create("common");
	TCase	   *tc = tcase_create("proto");

	tcase_add_test(tc, request_round_trip);
	tcase_add_test(tc, header_is_big_endian);
	tcase_add_test(tc, unknown_tags_are_rejected);
	tcase_add_test(tc, response_round_trip);
	tcase_add_test(tc, body_fields_sit_where_documented);
	tcase_add_test(tc, payload_fields_sit_where_documented);
	tcase_add_test(tc, short_buffers_are_refused);
	tcase_add_test(tc, mismatched_echo_is_detected);
	tcase_add_test(tc, error_round_trip);
	tcase_add_test(tc, key_order_matches_memcmp);
	tcase_add_test(tc, crc32c_known_vector);
	tcase_add_test(tc, lsn_format_and_parse);
	suite_add_tcase(s, tc);
	return s;
}
