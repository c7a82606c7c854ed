/*
 * check_walstore.c: a timeline's WAL store (server/wal/walstore.c) —
 * segments come back byte for byte, across reopen; torn tails are cut,
 * damage elsewhere is reported; gaps, overlaps and foreign WAL are
 * refused; only synced WAL is served; retention removes whole segments.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fio.h"
#include "strata_err.h"
#include "walstore.h"
#include "testutil.h"
#include "suites.h"

#define SEG		(1024 * 1024)
#define SYSID	UINT64_C(7300000000000000001)

static char store[300];

static void
setup(void)
{
	test_dir_setup();
	snprintf(store, sizeof(store), "%s/wal", test_dir);
}

/* Deterministic WAL bytes: byte at LSN l is a function of l. */
static void
fill(uint8_t *buf, lsn_t lsn, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		uint64_t	l = lsn + i;

		buf[i] = (uint8_t) (l * 2654435761u >> 13);
	}
}

static void
append(struct walstore *ws, lsn_t lsn, size_t len)
{
	uint8_t    *b = malloc(len);

	fill(b, lsn, len);
	ck_assert_int_eq(walstore_append(ws, SYSID, 1, SEG, lsn, b, len), 0);
	free(b);
}

static void
check_segment(struct walstore *ws, uint64_t segno, lsn_t valid_to, int partial)
{
	char		name[WALSTORE_SEGNAME_LEN + 1];
	uint8_t    *got = malloc(SEG);
	uint8_t    *want = calloc(1, SEG);
	int			complete = -1;
	lsn_t		start = segno * SEG;

	walstore_segname(1, segno, SEG, name);
	ck_assert_int_eq(walstore_read_segment(ws, name, partial, got, &complete), 0);
	fill(want, start, (size_t) (valid_to - start));
	ck_assert_int_eq(complete, valid_to == start + SEG);
	ck_assert(memcmp(got, want, SEG) == 0);
	free(got);
	free(want);
}

static void
seg_path(uint64_t segno, char *out, size_t n)
{
	char		name[WALSTORE_SEGNAME_LEN + 1];

	walstore_segname(1, segno, SEG, name);
	snprintf(out, n, "%s/%s%s", store, name, WALSTORE_SUFFIX);
}

START_TEST(segment_names)
{
	char		name[WALSTORE_SEGNAME_LEN + 1];
	uint32_t	tli;
	uint64_t	segno;

	/* as PostgreSQL names them with 16 MiB segments */
	walstore_segname(1, 0x1234, 16 * 1024 * 1024, name);
	ck_assert_str_eq(name, "000000010000001200000034");
	ck_assert_int_eq(walstore_parse_segname(name, 16 * 1024 * 1024, &tli, &segno), 0);
	ck_assert_uint_eq(tli, 1);
	ck_assert_uint_eq(segno, 0x1234);
	ck_assert_int_eq(walstore_parse_segname("000000010000001200000100", 16 * 1024 * 1024, &tli, &segno),
					 STRATA_EINVAL);
	ck_assert_int_eq(walstore_parse_segname("00000001000000120000003", 16 * 1024 * 1024, &tli, &segno),
					 STRATA_EINVAL);
	ck_assert_int_eq(walstore_parse_segname("00000001000000120000003g", 16 * 1024 * 1024, &tli, &segno),
					 STRATA_EINVAL);
	ck_assert_int_eq(walstore_parse_segname("000000000000001200000034", 16 * 1024 * 1024, &tli, &segno),
					 STRATA_EINVAL);
}
END_TEST

/* Appends of odd sizes crossing segments come back whole, also after reopen. */
START_TEST(round_trip)
{
	struct walstore *ws;
	struct walstore_info info;
	lsn_t		lsn = 3 * SEG;
	size_t		sizes[] = {1, 8191, 131072, 700000, 5, SEG, 3 * SEG / 2, 12345};

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.start_lsn, 0);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
	{
		append(ws, lsn, sizes[i]);
		lsn += sizes[i];
	}
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.start_lsn, 3 * SEG);
	ck_assert_uint_eq(info.end_lsn, lsn);
	ck_assert_uint_eq(info.flush_lsn, 0);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.flush_lsn, lsn);
	for (uint64_t s = 3; s < lsn / SEG; s++)
		check_segment(ws, s, (s + 1) * SEG, 0);
	walstore_close(ws);

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.start_lsn, 3 * SEG);
	ck_assert_uint_eq(info.end_lsn, lsn);
	ck_assert_uint_eq(info.flush_lsn, lsn);
	ck_assert_uint_eq(info.tli, 1);
	ck_assert_uint_eq(info.segments, lsn / SEG - 3 + 1);
	for (uint64_t s = 3; s < lsn / SEG; s++)
		check_segment(ws, s, (s + 1) * SEG, 0);
	check_segment(ws, lsn / SEG, lsn, 1);
	/* and it goes on where it stopped */
	append(ws, lsn, SEG);
	ck_assert_int_eq(walstore_sync(ws), 0);
	check_segment(ws, lsn / SEG, (lsn / SEG + 1) * SEG, 0);
	walstore_close(ws);
}
END_TEST

/* Only synced WAL is served; the newest segment only when asked for partially. */
START_TEST(serves_only_synced)
{
	struct walstore *ws;
	char		name[WALSTORE_SEGNAME_LEN + 1];
	uint8_t    *buf = malloc(SEG);
	int			complete;

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, SEG, SEG / 2);
	walstore_segname(1, 1, SEG, name);
	ck_assert_int_eq(walstore_read_segment(ws, name, 1, buf, &complete), STRATA_ENOTFOUND);
	ck_assert_int_eq(walstore_sync(ws), 0);
	ck_assert_int_eq(walstore_read_segment(ws, name, 0, buf, &complete), STRATA_ENOTFOUND);
	check_segment(ws, 1, SEG + SEG / 2, 1);
	/* appended but not synced: still zero in a partial read */
	append(ws, SEG + SEG / 2, 1000);
	check_segment(ws, 1, SEG + SEG / 2, 1);
	walstore_segname(1, 7, SEG, name);
	ck_assert_int_eq(walstore_read_segment(ws, name, 1, buf, &complete), STRATA_ENOTFOUND);
	ck_assert_int_eq(walstore_read_segment(ws, "nonsense", 1, buf, &complete), STRATA_EINVAL);
	walstore_close(ws);
	free(buf);
}
END_TEST

/* A stream that began mid-segment: that segment is never served as whole. */
START_TEST(mid_segment_start)
{
	struct walstore *ws;
	struct walstore_info info;
	char		name[WALSTORE_SEGNAME_LEN + 1];
	uint8_t    *buf = malloc(SEG);
	int			complete;

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, SEG + 100, 2 * SEG);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_segname(1, 1, SEG, name);
	ck_assert_int_eq(walstore_read_segment(ws, name, 1, buf, &complete), STRATA_ENOTFOUND);
	check_segment(ws, 2, 3 * SEG, 0);
	walstore_close(ws);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.start_lsn, SEG + 100);
	ck_assert_uint_eq(info.end_lsn, 3 * SEG + 100);
	walstore_close(ws);
	free(buf);
}
END_TEST

START_TEST(refuses_gaps_and_strangers)
{
	struct walstore *ws;
	uint8_t		b[100] = {0};

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, 4096, 100);
	ck_assert_int_eq(walstore_append(ws, SYSID, 1, SEG, 4096 + 101, b, 10), STRATA_EINVAL);
	ck_assert_int_eq(walstore_append(ws, SYSID, 1, SEG, 4096 + 99, b, 10), STRATA_EINVAL);
	ck_assert_int_eq(walstore_append(ws, SYSID + 1, 1, SEG, 4196, b, 10), STRATA_EINVAL);
	ck_assert_int_eq(walstore_append(ws, SYSID, 2, SEG, 4196, b, 10), STRATA_EINVAL);
	ck_assert_int_eq(walstore_append(ws, SYSID, 1, 2 * SEG, 4196, b, 10), STRATA_EINVAL);
	ck_assert_int_eq(walstore_append(ws, SYSID, 1, SEG + 1, 4196, b, 10), STRATA_EINVAL);
	/* refusals change nothing */
	append(ws, 4196, 10);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_close(ws);
	/* another system's store */
	ck_assert_int_eq(walstore_open(store, SYSID + 1, &ws), STRATA_EINVAL);
}
END_TEST

/* A crash mid-append: the torn record is cut, all before it kept. */
START_TEST(torn_tail_cut)
{
	struct walstore *ws;
	struct walstore_info info;
	char		path[300];
	struct stat st;

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, SEG, 5000);
	append(ws, SEG + 5000, 3000);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_close(ws);
	seg_path(1, path, sizeof(path));
	ck_assert_int_eq(stat(path, &st), 0);
	/* half of the second record */
	ck_assert_int_eq(truncate(path, st.st_size - 1500), 0);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.end_lsn, SEG + 5000);
	ck_assert_uint_eq(info.flush_lsn, SEG + 5000);
	check_segment(ws, 1, SEG + 5000, 1);
	/* the stream resumes at the cut */
	append(ws, SEG + 5000, 3000);
	ck_assert_int_eq(walstore_sync(ws), 0);
	check_segment(ws, 1, SEG + 8000, 1);
	walstore_close(ws);

	/* a flipped byte in the newest record: the same */
	ck_assert_int_eq(stat(path, &st), 0);
	test_flip_byte(path, st.st_size - 10);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.end_lsn, SEG + 5000);
	walstore_close(ws);
}
END_TEST

/* A segment file created but never given its header (crash): dropped. */
START_TEST(headerless_newest_dropped)
{
	struct walstore *ws;
	struct walstore_info info;
	char		path[300];
	int			fd;

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, SEG, SEG);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_close(ws);
	seg_path(2, path, sizeof(path));
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "STRA", 4), 4);
	close(fd);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.end_lsn, 2 * SEG);
	ck_assert_uint_eq(info.segments, 1);
	ck_assert_int_eq(access(path, F_OK), -1);
	append(ws, 2 * SEG, 10);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_close(ws);
}
END_TEST

/* Damage that is not a torn tail is reported, never dropped. */
START_TEST(damage_reported)
{
	struct walstore *ws;
	char		path[300];
	char		name[WALSTORE_SEGNAME_LEN + 1];
	uint8_t    *buf = malloc(SEG);
	int			complete;

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, SEG, 3 * SEG);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_close(ws);

	/* a record in an older segment: open succeeds, serving it fails */
	seg_path(1, path, sizeof(path));
	test_flip_byte(path, WALSTORE_HEADER_SIZE + 5000);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_segname(1, 1, SEG, name);
	ck_assert_int_eq(walstore_read_segment(ws, name, 0, buf, &complete), STRATA_ECORRUPT);
	check_segment(ws, 2, 3 * SEG, 0);
	walstore_close(ws);
	test_flip_byte(path, WALSTORE_HEADER_SIZE + 5000);

	/* a header */
	seg_path(2, path, sizeof(path));
	test_flip_byte(path, 20);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), STRATA_ECORRUPT);
	test_flip_byte(path, 20);

	/* a missing segment in the middle */
	{
		char		moved[320];

		snprintf(moved, sizeof(moved), "%s.away", path);
		ck_assert_int_eq(rename(path, moved), 0);
		ck_assert_int_eq(walstore_open(store, SYSID, &ws), STRATA_ECORRUPT);
		ck_assert_int_eq(rename(moved, path), 0);
	}
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_close(ws);
	free(buf);
}
END_TEST

/* Retention removes whole old segments, never the one being written. */
START_TEST(remove_before)
{
	struct walstore *ws;
	struct walstore_info info;
	char		name[WALSTORE_SEGNAME_LEN + 1];
	uint8_t    *buf = malloc(SEG);
	int			complete;

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, SEG, 2 * SEG + 10);
	ck_assert_int_eq(walstore_sync(ws), 0);
	ck_assert_int_eq(walstore_remove_before(ws, 2 * SEG + 5), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.start_lsn, 2 * SEG);
	ck_assert_uint_eq(info.segments, 2);
	walstore_segname(1, 1, SEG, name);
	ck_assert_int_eq(walstore_read_segment(ws, name, 0, buf, &complete), STRATA_ENOTFOUND);
	ck_assert_int_eq(walstore_remove_before(ws, LSN_MAX), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.segments, 1);
	ck_assert_uint_eq(info.start_lsn, 3 * SEG);
	ck_assert_int_eq(walstore_sync(ws), 0);
	walstore_close(ws);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.start_lsn, 3 * SEG);
	ck_assert_uint_eq(info.end_lsn, 3 * SEG + 10);
	walstore_close(ws);
	free(buf);
}
END_TEST

/* A failed write or fsync: no more appends until reopened (never retried). */
START_TEST(io_error_sticks)
{
	struct walstore *ws;
	struct walstore_info info;
	uint8_t		b[10] = {0};

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	append(ws, SEG, 100);
	fio_fault_plan(1, EIO, 1u << FIO_FDATASYNC);
	ck_assert_int_eq(walstore_sync(ws), STRATA_EIO);
	fio_fault_plan(0, 0, 0);
	ck_assert_int_eq(walstore_sync(ws), STRATA_EIO);
	ck_assert_int_eq(walstore_append(ws, SYSID, 1, SEG, SEG + 100, b, 10), STRATA_EIO);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.flush_lsn, 0);
	walstore_close(ws);

	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	fio_fault_plan(1, ENOSPC, 1u << FIO_PWRITE);
	ck_assert_int_eq(walstore_append(ws, SYSID, 1, SEG, SEG + 100, b, 10), STRATA_ENOSPC);
	fio_fault_plan(0, 0, 0);
	walstore_close(ws);
	ck_assert_int_eq(walstore_open(store, SYSID, &ws), 0);
	walstore_info(ws, &info);
	ck_assert_uint_eq(info.end_lsn, SEG + 100);
	walstore_close(ws);
}
END_TEST

Suite *
check_walstore_suite(void)
{
	Suite	   *s = suite_create("walstore");
	TCase	   *tc = tcase_create("walstore");

	tcase_add_checked_fixture(tc, setup, test_dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, segment_names);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, serves_only_synced);
	tcase_add_test(tc, mid_segment_start);
	tcase_add_test(tc, refuses_gaps_and_strangers);
	tcase_add_test(tc, torn_tail_cut);
	tcase_add_test(tc, headerless_newest_dropped);
	tcase_add_test(tc, damage_reported);
	tcase_add_test(tc, remove_before);
	tcase_add_test(tc, io_error_sticks);
	suite_add_tcase(s, tc);
	return s;
}
