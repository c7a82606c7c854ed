/*
 * check_lsntime.c: the LSN-by-time map behind time-based retention
 * (server/lsntime.c) — lookups, the moving newest sample, thinning when
 * full (answers only ever get older, never younger than the truth), and
 * the manifest's JSON form.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "lsntime.h"
#include "strata_err.h"
#include "testutil.h"
#include "suites.h"

static struct lsntime m;

START_TEST(lookups)
{
	lsntime_init(&m);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 1000), LSN_INVALID);
	lsntime_note(&m, 100, 0x1000);
	lsntime_note(&m, 200, 0x2000);
	lsntime_note(&m, 300, 0x3000);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 99), LSN_INVALID);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 100), 0x1000);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 250), 0x2000);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 1000000), 0x3000);
	/* an LSN that did not advance, or a clock that stepped back, adds nothing */
	lsntime_note(&m, 400, 0x3000);
	lsntime_note(&m, 250, 0x4000);
	ck_assert_uint_eq(m.n, 3);
	/* the same second: the sample's LSN moves up */
	lsntime_note(&m, 300, 0x3500);
	ck_assert_uint_eq(m.n, 3);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 300), 0x3500);
}
END_TEST

/* Within the spacing the newest sample moves; past it a new one is kept. */
START_TEST(spacing)
{
	lsntime_init(&m);
	m.spacing = 10;
	lsntime_note(&m, 100, 1);
	lsntime_note(&m, 101, 2);
	lsntime_note(&m, 105, 3);
	lsntime_note(&m, 109, 4);
	ck_assert_uint_eq(m.n, 2);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 109), 4);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 108), 1);	/* older, never younger */
	lsntime_note(&m, 111, 5);
	ck_assert_uint_eq(m.n, 3);
}
END_TEST

/*
 * A long history thins out: bounded, the newest kept, and every answer is
 * an LSN the timeline really had reached by the asked time.
 */
START_TEST(thinning_stays_conservative)
{
	const int64_t start = 1700000000;
	const int	total = 20 * LSNTIME_MAX;

	lsntime_init(&m);
	/* the LSN at second k is 1000 + 10 k */
	for (int k = 0; k < total; k++)
		lsntime_note(&m, start + k, 1000 + 10 * (lsn_t) k);
	ck_assert_uint_le(m.n, LSNTIME_MAX);
	ck_assert_uint_ge(m.spacing, 16);
	ck_assert_uint_eq(lsntime_lsn_at(&m, start + total - 1), 1000 + 10 * (lsn_t) (total - 1));
	for (int k = 0; k < total; k += 97)
	{
		lsn_t		l = lsntime_lsn_at(&m, start + k);

		/* before the oldest sample kept: nothing known, keep everything */
		if (l == LSN_INVALID)
		{
			ck_assert_int_lt(start + k, m.s[0].t);
			continue;
		}
		ck_assert_uint_le(l, 1000 + 10 * (lsn_t) k);
		/* and not much older than the resolution the map kept */
		ck_assert_uint_ge(l + 10 * (lsn_t) (2 * m.spacing), 1000 + 10 * (lsn_t) k);
	}
}
END_TEST

START_TEST(json_round_trip)
{
	static struct lsntime back;
	json_t	   *a;

	lsntime_init(&m);
	for (int k = 0; k < 50; k++)
		lsntime_note(&m, 1000 + 7 * k, 0x10000 + 0x100 * (lsn_t) k);
	/* samples past the given LSN are left out (beyond disk_consistent_lsn) */
	a = lsntime_to_json(&m, 0x10000 + 0x100 * 39);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(json_array_size(a), 40);
	ck_assert_int_eq(lsntime_from_json(&back, a), 0);
	ck_assert_uint_eq(back.n, 40);
	ck_assert_uint_eq(lsntime_lsn_at(&back, 1000 + 7 * 20), 0x10000 + 0x100 * 20);
	json_decref(a);
	/* absent: empty */
	ck_assert_int_eq(lsntime_from_json(&back, NULL), 0);
	ck_assert_uint_eq(back.n, 0);
}
END_TEST

START_TEST(json_malformed)
{
	static const char *bad[] = {
		"{}",
		"[1]",
		"[[1]]",
		"[[1, 2]]",
		"[[\"x\", \"0/10\"]]",
		"[[1, \"zz\"]]",
		"[[5, \"0/10\"], [4, \"0/20\"]]",	/* time goes back */
		"[[5, \"0/20\"], [6, \"0/10\"]]",	/* LSN goes back */
		/* before 1970: a later difference would overflow (found by fuzzing) */
		"[[-9223372036854775808, \"0/10\"], [9223372036854775807, \"0/20\"]]",
		"[[-1, \"0/10\"]]",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		json_t	   *a = json_loads(bad[i], 0, NULL);

		ck_assert_ptr_nonnull(a);
		ck_assert_int_eq(lsntime_from_json(&m, a), STRATA_ECORRUPT);
		ck_assert_uint_eq(m.n, 0);
		json_decref(a);
	}
}
END_TEST

/*
 * Samples far apart: the derived spacing stops at what a uint32_t holds.
 * Doubling it wrapped to 0 and the load never returned (found by fuzzing
 * the manifest reader, issue 12).
 */
START_TEST(json_sparse_samples_load)
{
	json_t	   *a = json_loads("[[0, \"0/10\"], [1700001201700001200, \"0/20\"]]", 0, NULL);

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(lsntime_from_json(&m, a), 0);
	ck_assert_uint_eq(m.n, 2);
	ck_assert_uint_eq(m.spacing, (uint32_t) 1 << 31);
	ck_assert_uint_eq(lsntime_lsn_at(&m, 1700001201700001200), 0x20);
	/* and the map goes on: a note, a full map thinned */
	for (int k = 1; k <= 2 * LSNTIME_MAX; k++)
		lsntime_note(&m, 1700001201700001200 + (int64_t) k * ((int64_t) 1 << 32), 0x20 + k);
	ck_assert_uint_le(m.n, LSNTIME_MAX);
	ck_assert_uint_ge(m.spacing, (uint32_t) 1 << 31);
	json_decref(a);
}
END_TEST

Suite *
check_lsntime_suite(void)
{
	Suite	   *su = suite_create("lsntime");
	TCase	   *tc = tcase_create("lsntime");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, lookups);
	tcase_add_test(tc, spacing);
	tcase_add_test(tc, thinning_stays_conservative);
	tcase_add_test(tc, json_round_trip);
	tcase_add_test(tc, json_malformed);
	tcase_add_test(tc, json_sparse_samples_load);
	suite_add_tcase(su, tc);
	return su;
}
