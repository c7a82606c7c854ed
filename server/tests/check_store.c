/*
 * check_store.c: the page log (server/store.c) — semantics, versions,
 * replay, torn tails, corruption, bad headers.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "key.h"
#include "slog.h"
#include "testutil.h"
#include "store.h"
#include "strata_err.h"


static const struct proto_rel REL = {.spc = 1663, .db = 5, .rel = 16384, .fork = 0};

static int
change(struct store *s, uint8_t tag, struct proto_rel rel, uint32_t arg, lsn_t lsn,
	   const uint8_t *page, lsn_t *stored)
{
	struct proto_req r;
	lsn_t		dummy;
	int			err;

	memset(&r, 0, sizeof(r));
	r.tag = tag;
	r.rel = rel;
	r.request_lsn = lsn;
	r.blk = arg;
	r.nblocks = arg;
	r.db = rel.db;
	r.page = page;
	err = store_prepare(s, &r, stored ? stored : &dummy);
	if (err != 0)
		return err;
	return store_commit(s);
}

static void
fill(uint8_t *page, int v)
{
	memset(page, v, PROTO_PAGE_SIZE);
}

static int
page_is(struct store *s, struct proto_rel rel, uint32_t blk, lsn_t lsn, int v)
{
	uint8_t		p[PROTO_PAGE_SIZE];
	uint8_t		want[PROTO_PAGE_SIZE];

	if (store_getpage(s, &rel, blk, lsn, p) != 0)
		return 0;
	fill(want, v);
	return memcmp(p, want, PROTO_PAGE_SIZE) == 0;
}

START_TEST(create_extend_write_read)
{
	struct store *s;
	uint8_t		page[PROTO_PAGE_SIZE];
	uint32_t	n;
	lsn_t		l1,
				l2;

	ck_assert_int_eq(store_open(test_dir, &s), 0);
	fill(page, 1);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), STRATA_ENOTFOUND);
	ck_assert_int_eq(change(s, PROTO_EXTEND, REL, 0, 100, page, NULL), STRATA_ENOTFOUND);
	ck_assert_int_eq(change(s, PROTO_CREATE, REL, 0, 100, NULL, NULL), 0);
	ck_assert_int_eq(change(s, PROTO_CREATE, REL, 0, 100, NULL, NULL), STRATA_EEXIST);
	ck_assert_int_eq(change(s, PROTO_WRITE, REL, 0, 100, page, NULL), STRATA_EEOF);
	ck_assert_int_eq(change(s, PROTO_EXTEND, REL, 0, 200, page, &l1), 0);
	ck_assert_uint_eq(l1, 200);
	fill(page, 2);
	/* an older request LSN still gets a newer stored LSN (I7) */
	ck_assert_int_eq(change(s, PROTO_WRITE, REL, 0, 150, page, &l2), 0);
	ck_assert_uint_eq(l2, 201);
	ck_assert_int_eq(page_is(s, REL, 0, LSN_MAX, 2), 1);
	ck_assert_int_eq(page_is(s, REL, 0, 200, 1), 1);	/* I8 */
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(store_nblocks(s, &REL, 150, &n), 0);
	ck_assert_uint_eq(n, 0);

	/* extend past the end leaves holes that read as zeros */
	fill(page, 3);
	ck_assert_int_eq(change(s, PROTO_EXTEND, REL, 4, 300, page, NULL), 0);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(page_is(s, REL, 2, LSN_MAX, 0), 1);
	ck_assert_int_eq(page_is(s, REL, 4, LSN_MAX, 3), 1);
	{
		uint8_t		p[PROTO_PAGE_SIZE];

		ck_assert_int_eq(store_getpage(s, &REL, 5, LSN_MAX, p), STRATA_EEOF);
	}
	ck_assert_int_eq(store_dbsize(s, 5), 5 * PROTO_PAGE_SIZE);
	store_close(s);
}
END_TEST

START_TEST(truncate_does_not_resurrect)
{
	struct store *s;
	uint8_t		page[PROTO_PAGE_SIZE];
	uint32_t	n;

	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(change(s, PROTO_CREATE, REL, 0, 10, NULL, NULL), 0);
	for (uint32_t b = 0; b < 4; b++)
	{
		fill(page, 10 + b);
		ck_assert_int_eq(change(s, PROTO_EXTEND, REL, b, 20, page, NULL), 0);
	}
	ck_assert_int_eq(change(s, PROTO_TRUNCATE, REL, 9, 30, NULL, NULL), STRATA_EEOF);
	ck_assert_int_eq(change(s, PROTO_TRUNCATE, REL, 1, 30, NULL, NULL), 0);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), 0);
	ck_assert_uint_eq(n, 1);
	/* block 3 comes back as a hole, not as its old contents */
	fill(page, 99);
	ck_assert_int_eq(change(s, PROTO_EXTEND, REL, 3, 40, page, NULL), 0);
	ck_assert_int_eq(page_is(s, REL, 2, LSN_MAX, 0), 1);
	ck_assert_int_eq(page_is(s, REL, 3, LSN_MAX, 99), 1);
	ck_assert_int_eq(page_is(s, REL, 0, LSN_MAX, 10), 1);
	store_close(s);
}
END_TEST

START_TEST(unlink_dropdb_reset)
{
	struct store *s;
	uint8_t		page[PROTO_PAGE_SIZE];
	struct proto_rel init = REL,
				fsm = REL,
				other = REL;
	uint32_t	n;
	lsn_t		lsn;

	init.fork = 3;
	fsm.fork = 1;
	other.db = 6;
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(change(s, PROTO_CREATE, REL, 0, 10, NULL, NULL), 0);
	ck_assert_int_eq(change(s, PROTO_CREATE, init, 0, 10, NULL, NULL), 0);
	ck_assert_int_eq(change(s, PROTO_CREATE, fsm, 0, 10, NULL, NULL), 0);
	fill(page, 7);
	ck_assert_int_eq(change(s, PROTO_EXTEND, init, 0, 11, page, NULL), 0);
	fill(page, 8);
	for (uint32_t b = 0; b < 3; b++)
		ck_assert_int_eq(change(s, PROTO_EXTEND, REL, b, 12, page, NULL), 0);
	ck_assert_int_eq(change(s, PROTO_EXTEND, fsm, 0, 12, page, NULL), 0);

	/* RESET_UNLOGGED: main becomes a copy of init, fsm goes */
	ck_assert_int_eq(change(s, PROTO_RESET_UNLOGGED, REL, 0, 13, NULL, &lsn), 0);
	ck_assert_uint_eq(store_last_reset_count(s), 1);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(page_is(s, REL, 0, LSN_MAX, 7), 1);
	ck_assert_int_eq(store_nblocks(s, &fsm, LSN_MAX, &n), STRATA_ENOTFOUND);
	ck_assert_int_eq(page_is(s, REL, 0, lsn - 1, 8), 1);

	/* UNLINK of every fork, then DROPDB */
	ck_assert_int_eq(change(s, PROTO_CREATE, other, 0, 20, NULL, NULL), 0);
	{
		struct proto_rel all = REL;

		all.fork = KEY_FORK_ALL;
		ck_assert_int_eq(change(s, PROTO_UNLINK, all, 0, 21, NULL, NULL), 0);
		ck_assert_int_eq(change(s, PROTO_UNLINK, all, 0, 22, NULL, NULL), 0);
	}
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), STRATA_ENOTFOUND);
	ck_assert_int_eq(store_nblocks(s, &init, LSN_MAX, &n), STRATA_ENOTFOUND);
	ck_assert_int_eq(store_nblocks(s, &other, LSN_MAX, &n), 0);
	ck_assert_int_eq(change(s, PROTO_DROPDB, other, 0, 23, NULL, NULL), 0);
	ck_assert_int_eq(store_nblocks(s, &other, LSN_MAX, &n), STRATA_ENOTFOUND);
	ck_assert_int_eq(store_dbsize(s, 6), 0);
	store_close(s);
}
END_TEST

START_TEST(batch_refuses_same_key_twice)
{
	struct store *s;
	uint8_t		page[PROTO_PAGE_SIZE] = {0};
	struct proto_req r;
	lsn_t		lsn;

	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(change(s, PROTO_CREATE, REL, 0, 10, NULL, NULL), 0);
	memset(&r, 0, sizeof(r));
	r.tag = PROTO_EXTEND;
	r.rel = REL;
	r.request_lsn = 11;
	r.page = page;
	ck_assert_int_eq(store_prepare(s, &r, &lsn), 0);
	ck_assert_int_eq(store_prepare(s, &r, &lsn), STRATA_EBUSY);
	r.tag = PROTO_TRUNCATE;
	ck_assert_int_eq(store_prepare(s, &r, &lsn), STRATA_EBUSY);
	/* nothing pending is readable before the commit (I2) */
	{
		uint32_t	n;

		ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), 0);
		ck_assert_uint_eq(n, 0);
	}
	ck_assert_int_eq(store_commit(s), 0);
	r.request_lsn = 0;
	r.tag = PROTO_WRITE;
	ck_assert_int_eq(store_prepare(s, &r, &lsn), STRATA_EINVAL);
	store_close(s);
}
END_TEST

/* Write n pages to a fresh store and return the log's size after each. */
static void
populate(int n, off_t *sizes)
{
	struct store *s;
	uint8_t		page[PROTO_PAGE_SIZE];
	struct stat st;
	char		path[300];

	snprintf(path, sizeof(path), "%s/pagelog", test_dir);
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(change(s, PROTO_CREATE, REL, 0, 10, NULL, NULL), 0);
	for (int b = 0; b < n; b++)
	{
		fill(page, b + 1);
		ck_assert_int_eq(change(s, PROTO_EXTEND, REL, b, 100 + b, page, NULL), 0);
		ck_assert_int_eq(stat(path, &st), 0);
		sizes[b] = st.st_size;
	}
	store_close(s);
}

START_TEST(replay_restores_everything)
{
	struct store *s;
	off_t		sizes[20];
	struct store_stats st;

	populate(20, sizes);
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	for (int b = 0; b < 20; b++)
		ck_assert_int_eq(page_is(s, REL, b, LSN_MAX, b + 1), 1);
	store_get_stats(s, &st);
	ck_assert_uint_eq(st.last_record_lsn, 119);
	ck_assert_uint_eq(st.forks, 1);
	ck_assert_uint_eq(st.pages, 20);
	store_close(s);
}
END_TEST

START_TEST(torn_tail_is_cut)
{
	struct store *s;
	off_t		sizes[10];
	char		path[300];
	uint8_t		page[PROTO_PAGE_SIZE];
	uint32_t	n;

	populate(10, sizes);
	snprintf(path, sizeof(path), "%s/pagelog", test_dir);
	/* half of the last record made it to disk */
	ck_assert_int_eq(truncate(path, sizes[8] + (sizes[9] - sizes[8]) / 2), 0);
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), 0);
	ck_assert_uint_eq(n, 9);
	for (int b = 0; b < 9; b++)
		ck_assert_int_eq(page_is(s, REL, b, LSN_MAX, b + 1), 1);
	/* appends continue where the good records end */
	fill(page, 77);
	ck_assert_int_eq(change(s, PROTO_EXTEND, REL, 9, 500, page, NULL), 0);
	store_close(s);
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(page_is(s, REL, 9, LSN_MAX, 77), 1);
	ck_assert_int_eq(page_is(s, REL, 8, LSN_MAX, 9), 1);
	store_close(s);
}
END_TEST

START_TEST(corrupt_record_stops_replay)
{
	struct store *s;
	off_t		sizes[10];
	char		path[300];
	uint32_t	n;
	int			fd;
	uint8_t		byte;

	populate(10, sizes);
	snprintf(path, sizeof(path), "%s/pagelog", test_dir);
	/* flip a byte in the page of record 6 */
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &byte, 1, sizes[4] + 100), 1);
	byte ^= 0xFF;
	ck_assert_int_eq(pwrite(fd, &byte, 1, sizes[4] + 100), 1);
	close(fd);
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(page_is(s, REL, 4, LSN_MAX, 5), 1);
	store_close(s);
}
END_TEST

START_TEST(bad_header_refuses_to_open)
{
	struct store *s;
	off_t		sizes[2];
	char		path[300];
	int			fd;

	populate(2, sizes);
	snprintf(path, sizeof(path), "%s/pagelog", test_dir);
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "X", 1, 0), 1);
	close(fd);
	ck_assert_int_eq(store_open(test_dir, &s), STRATA_ECORRUPT);
	/* the data is still there: nothing was wiped */
	{
		struct stat st;

		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_int_eq(st.st_size, sizes[1]);
	}
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "S", 1, 0), 1);
	ck_assert_int_eq(pwrite(fd, "\x09", 1, 8), 1);
	close(fd);
	ck_assert_int_eq(store_open(test_dir, &s), STRATA_EVERSION);
}
END_TEST

START_TEST(reset_empties_the_store)
{
	struct store *s;
	off_t		sizes[3];
	uint32_t	n;

	populate(3, sizes);
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(store_reset(s), 0);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), STRATA_ENOTFOUND);
	store_close(s);
	ck_assert_int_eq(store_open(test_dir, &s), 0);
	ck_assert_int_eq(store_nblocks(s, &REL, LSN_MAX, &n), STRATA_ENOTFOUND);
	store_close(s);
}
END_TEST

int
main(void)
{
	Suite	   *su = suite_create("store");
	TCase	   *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, create_extend_write_read);
	tcase_add_test(tc, truncate_does_not_resurrect);
	tcase_add_test(tc, unlink_dropdb_reset);
	tcase_add_test(tc, batch_refuses_same_key_twice);
	tcase_add_test(tc, replay_restores_everything);
	tcase_add_test(tc, torn_tail_is_cut);
	tcase_add_test(tc, corrupt_record_stops_replay);
	tcase_add_test(tc, bad_header_refuses_to_open);
	tcase_add_test(tc, reset_empties_the_store);
	suite_add_tcase(su, tc);
	return run_suite(su);
}
