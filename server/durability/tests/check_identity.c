/*
 * check_identity.c: the identity file (server/identity.c) — creation,
 * round trip, corruption, and the durability epoch rules (I2).
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "identity.h"
#include "slog.h"
#include "testutil.h"
#include "suites.h"
#include "strata_err.h"


START_TEST(created_once_then_loaded)
{
	struct identity a;
	struct identity b;

	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	ck_assert_uint_eq(a.epoch, 1);
	ck_assert_int_eq(a.import, IMPORT_NONE);
	a.sysid = 7711524939055098490ull;
	a.import = IMPORT_COMPLETE;
	ck_assert_int_eq(identity_save(test_dir, &a), 0);
	ck_assert_int_eq(identity_load(test_dir, &b), 0);
	ck_assert_mem_eq(a.tenant, b.tenant, IDENTITY_ID_LEN);
	ck_assert_mem_eq(a.timeline, b.timeline, IDENTITY_ID_LEN);
	ck_assert_uint_eq(b.sysid, a.sysid);
	ck_assert_int_eq(b.import, IMPORT_COMPLETE);
	{
		char		hex[IDENTITY_HEX_LEN];

		identity_hex(a.tenant, hex);
		ck_assert_uint_eq(strlen(hex), 32);
	}
}
END_TEST

START_TEST(corruption_is_refused)
{
	struct identity a;
	char		path[300];

	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	snprintf(path, sizeof(path), "%s/identity", test_dir);
	/* flip a bit of the (random) tenant id: writing a fixed byte there
	 * changed nothing once in 256 runs */
	test_flip_byte(path, 20);
	ck_assert_int_eq(identity_load(test_dir, &a), STRATA_ECORRUPT);
}
END_TEST

START_TEST(version_1_is_read)
{
	uint8_t		buf[64];
	char		path[300];
	struct identity a;
	int			fd;

	memset(buf, 0, sizeof(buf));
	memcpy(buf, "STRATAID", 8);
	put_le32(buf + 8, 1);
	put_le32(buf + 12, 64);
	memset(buf + 16, 0xAB, 32);
	put_le64(buf + 48, 42);
	put_le32(buf + 56, IMPORT_COMPLETE);
	put_le32(buf + 60, strata_crc32c(buf, 60));
	snprintf(path, sizeof(path), "%s/identity", test_dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_eq(write(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	ck_assert_uint_eq(a.sysid, 42);
	ck_assert_int_eq(a.import, IMPORT_COMPLETE);
	ck_assert_uint_eq(a.epoch, 1);
	/* saved back as the current version */
	ck_assert_int_eq(identity_begin_serving(test_dir, &a), 0);
	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	ck_assert_uint_eq(a.sysid, 42);
	ck_assert_uint_eq(a.epoch, 1);
}
END_TEST

START_TEST(epoch_rules)
{
	struct identity a;

	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	/* first start: epoch 1, this boot recorded */
	ck_assert_int_eq(identity_begin_serving(test_dir, &a), 0);
	ck_assert_uint_eq(a.epoch, 1);
	ck_assert_uint_ne(a.boot, 0);

	/* killed (no clean flag) on the same boot: the page cache kept everything */
	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	ck_assert_int_eq(identity_begin_serving(test_dir, &a), 0);
	ck_assert_uint_eq(a.epoch, 1);

	/* a failed fsync: bump */
	a.flags |= IDENTITY_FSYNC_FAILED;
	ck_assert_int_eq(identity_save(test_dir, &a), 0);
	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	ck_assert_int_eq(identity_begin_serving(test_dir, &a), 0);
	ck_assert_uint_eq(a.epoch, 2);
	ck_assert_uint_eq(a.flags, 0);

	/* another boot after a clean shutdown: no bump */
	a.flags = IDENTITY_CLEAN;
	a.boot ^= 1;
	ck_assert_int_eq(identity_save(test_dir, &a), 0);
	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	ck_assert_int_eq(identity_begin_serving(test_dir, &a), 0);
	ck_assert_uint_eq(a.epoch, 2);

	/* another boot without a clean shutdown: bump */
	a.flags = 0;
	a.boot ^= 1;
	ck_assert_int_eq(identity_save(test_dir, &a), 0);
	ck_assert_int_eq(identity_load(test_dir, &a), 0);
	ck_assert_int_eq(identity_begin_serving(test_dir, &a), 0);
	ck_assert_uint_eq(a.epoch, 3);
}
END_TEST

Suite *
check_identity_suite(void)
{
	Suite	   *su = suite_create("identity");
	TCase	   *tc = tcase_create("identity");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, created_once_then_loaded);
	tcase_add_test(tc, corruption_is_refused);
	tcase_add_test(tc, version_1_is_read);
	tcase_add_test(tc, epoch_rules);
	suite_add_tcase(su, tc);
	return su;
}
