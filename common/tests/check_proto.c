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
		ck_assert_uint_eq(out.tag, in.tag);
		ck_assert_uint_eq(out.reqid, in.reqid);
		ck_assert_uint_eq(out.request_lsn, in.request_lsn);
		ck_assert_uint_eq(out.nms, in.nms);
		ck_assert_uint_eq(out.rel.rel, in.rel.rel);
		ck_assert_uint_eq(out.blk, in.blk);
		ck_assert_uint_eq(out.db, in.db);
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
		payload.dbsize = 987654321;
		payload.stored_lsn = 0xABCDEF;
		payload.count = 3;
		payload.page = page;
		n = proto_encode_resp(&req, &payload, buf, sizeof(buf));
		ck_assert_uint_gt(n, 0);
		ck_assert_int_eq(proto_decode_resp(buf, n, &out), 0);
		ck_assert_int_eq(out.tag, proto_resp_tag(tags[t]));
		ck_assert_int_eq(proto_resp_matches(&req, &out), 1);
		switch (tags[t])
		{
			case PROTO_NBLOCKS:
				ck_assert_uint_eq(out.nblocks, 1234);
				break;
			case PROTO_GETPAGE:
				ck_assert_mem_eq(out.page, page, PROTO_PAGE_SIZE);
				break;
			case PROTO_DBSIZE:
				ck_assert_int_eq(out.dbsize, 987654321);
				break;
			case PROTO_WRITE:
				ck_assert_uint_eq(out.stored_lsn, 0xABCDEF);
				break;
			case PROTO_RESET_UNLOGGED:
				ck_assert_uint_eq(out.count, 3);
				break;
			default:
				break;
		}
		ck_assert_int_eq(proto_decode_resp(buf, n - 1, &out), STRATA_EPROTO);
	}
	ck_assert_int_eq(proto_resp_tag(PROTO_DBSIZE), PROTO_R_DBSIZE);
	ck_assert_int_eq(proto_resp_tag(PROTO_GETPAGE), 102);
	ck_assert_int_eq(proto_resp_tag(200), -1);
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
	tcase_add_test(tc, mismatched_echo_is_detected);
	tcase_add_test(tc, error_round_trip);
	tcase_add_test(tc, key_order_matches_memcmp);
	tcase_add_test(tc, crc32c_known_vector);
	tcase_add_test(tc, lsn_format_and_parse);
	suite_add_tcase(s, tc);
	return s;
}
