/*
 * check_secret.c: token files (server/base/secret.c) — what is created,
 * which files are refused, and the comparison.
 */
#include <check.h>
#include <string.h>
#include <sys/stat.h>

#include "secret.h"
#include "strata_err.h"
#include "suites.h"
#include "testutil.h"

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	   *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(created_token_is_random_hex_and_private)
{
	char		path[300];
	char		a[SECRET_MAX];
	char		b[SECRET_MAX];
	char		back[SECRET_MAX];
	char		why[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/t1", test_dir);
	ck_assert_int_eq(secret_create_file(path, a, why, sizeof(why)), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(strlen(a), 2 * SECRET_RANDOM_BYTES);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 2 * SECRET_RANDOM_BYTES);
	ck_assert_int_eq(secret_read_file(path, 1, back, why, sizeof(why)), 0);
	ck_assert_str_eq(back, a);
	/* never overwritten */
	ck_assert_int_eq(secret_create_file(path, b, why, sizeof(why)), STRATA_EEXIST);
	snprintf(path, sizeof(path), "%s/t2", test_dir);
	ck_assert_int_eq(secret_create_file(path, b, why, sizeof(why)), 0);
	ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(readable_by_others_is_refused)
{
	char		path[300];
	char		tok[SECRET_MAX];
	char		why[256];

	snprintf(path, sizeof(path), "%s/tok", test_dir);
	write_file(path, "s3cret\n", 0644);
	ck_assert_int_eq(secret_read_file(path, 1, tok, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "0644"));
	ck_assert_str_eq(tok, "");
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(secret_read_file(path, 0, tok, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_int_eq(chmod(path, 0600), 0);
	ck_assert_int_eq(secret_read_file(path, 1, tok, why, sizeof(why)), 0);
	ck_assert_str_eq(tok, "s3cret");
}
END_TEST

START_TEST(bad_contents_and_odd_files_are_refused)
{
	char		path[300];
	char		link[300];
	char		tok[SECRET_MAX];
	char		why[256];
	char		big[SECRET_MAX + 10];

	snprintf(path, sizeof(path), "%s/tok", test_dir);
	ck_assert_int_eq(secret_read_file(path, 1, tok, why, sizeof(why)), STRATA_ENOTFOUND);
	write_file(path, "\n", 0600);
	ck_assert_int_eq(secret_read_file(path, 1, tok, why, sizeof(why)), STRATA_EINVAL);
	write_file(path, "two words\n", 0600);
	ck_assert_int_eq(secret_read_file(path, 1, tok, why, sizeof(why)), STRATA_EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_file(path, big, 0600);
	ck_assert_int_eq(secret_read_file(path, 1, tok, why, sizeof(why)), STRATA_EINVAL);
	/* a symlink could point anywhere: refused, as is a directory */
	write_file(path, "ok\n", 0600);
	snprintf(link, sizeof(link), "%s/link", test_dir);
	ck_assert_int_eq(symlink(path, link), 0);
	ck_assert_int_ne(secret_read_file(link, 1, tok, why, sizeof(why)), 0);
	ck_assert_int_ne(secret_read_file(test_dir, 1, tok, why, sizeof(why)), 0);
}
END_TEST

START_TEST(someone_elses_file_is_refused_when_owner_is_checked)
{
	char		path[300];
	char		tok[SECRET_MAX];
	char		why[256];

	/* only root can give a file away */
	if (geteuid() != 0)
		return;
	snprintf(path, sizeof(path), "%s/tok", test_dir);
	write_file(path, "s3cret\n", 0600);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_eq(secret_read_file(path, 1, tok, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "owned by uid 65534"));
	ck_assert_int_eq(secret_read_file(path, 0, tok, why, sizeof(why)), 0);
}
END_TEST

START_TEST(equal_compares_whole_strings)
{
	ck_assert(secret_equal("abc", "abc"));
	ck_assert(!secret_equal("abc", "abd"));
	ck_assert(!secret_equal("ab", "abc"));
	ck_assert(!secret_equal("abcd", "abc"));
	ck_assert(!secret_equal("", "abc"));
	ck_assert(secret_equal("", ""));
}
END_TEST

Suite *
check_secret_suite(void)
{
	Suite	   *s = suite_create("secret");
	TCase	   *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, created_token_is_random_hex_and_private);
	tcase_add_test(tc, readable_by_others_is_refused);
	tcase_add_test(tc, bad_contents_and_odd_files_are_refused);
	tcase_add_test(tc, someone_elses_file_is_refused_when_owner_is_checked);
	tcase_add_test(tc, equal_compares_whole_strings);
	suite_add_tcase(s, tc);
	return s;
}
