/*
 * testutil.h: shared pieces of the Check suites — a scratch directory per
 * test, damaging a file, counting a directory.  Header-only; each suite includes it once.
 */
#ifndef STRATA_TESTUTIL_H
#define STRATA_TESTUTIL_H

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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

/* Damage a file on purpose: flip bit 6 of the byte at off (twice undoes it). */
static inline void
test_flip_byte(const char *path, off_t off)
{
	int			fd = open(path, O_RDWR);
	uint8_t		b;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, &b, 1, off), 1);
	b ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

/* Entries of a directory, dot files not counted. */
static inline int
test_count_files(const char *path)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	int			n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

#endif							/* STRATA_TESTUTIL_H */
