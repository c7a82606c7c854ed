/*
 * testutil.h: shared pieces of the Check suites — a scratch directory per
 * test and the runner.  Header-only; each suite includes it once.
 */
#ifndef STRATA_TESTUTIL_H
#define STRATA_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "slog.h"

/* The current test's scratch directory (tcase_add_checked_fixture). */
static char test_dir[256];

static inline void
test_dir_setup(void)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/strata_check.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	/* expected errors are logged; keep the output readable */
	slog_set_level(getenv("STRATA_TEST_LOG_LEVEL") ? (enum slog_level) slog_parse_level(getenv("STRATA_TEST_LOG_LEVEL")) : SLOG_ERROR);
}

static inline void
test_dir_teardown(void)
{
	char		cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Run one suite; the exit status for main(). */
static inline int
run_suite(Suite *s)
{
	SRunner    *sr = srunner_create(s);
	int			failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif							/* STRATA_TESTUTIL_H */
