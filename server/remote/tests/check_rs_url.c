/*
 * check_rs_url.c: --remote-storage URLs and S3 keys (server/remote/rs_url.c):
 * what parses to what, which URLs are refused and with which message, and
 * where keys may come from.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rs_url.h"
#include "strata_err.h"
#include "suites.h"
#include "testutil.h"

static struct rs_url u;
static char why[512];

START_TEST(s3_url_with_endpoint_and_region)
{
	ck_assert_int_eq(rs_url_parse("s3://my-bucket/tenants/a?endpoint=http://127.0.0.1:7480&region=eu-west-3",
								  &u, why, sizeof(why)), 0);
	ck_assert_int_eq(u.kind, RS_S3);
	ck_assert_str_eq(u.bucket, "my-bucket");
	ck_assert_str_eq(u.prefix, "tenants/a");
	ck_assert_str_eq(u.endpoint, "http://127.0.0.1:7480");
	ck_assert_str_eq(u.region, "eu-west-3");
}
END_TEST

START_TEST(s3_url_defaults_and_slashes)
{
	ck_assert_int_eq(rs_url_parse("s3://bkt", &u, why, sizeof(why)), 0);
	ck_assert_str_eq(u.prefix, "");
	ck_assert_str_eq(u.region, "us-east-1");
	ck_assert_str_eq(u.endpoint, "https://s3.us-east-1.amazonaws.com");
	ck_assert_int_eq(rs_url_parse("s3://bkt//a/b//?region=ap-south-1", &u, why, sizeof(why)), 0);
	ck_assert_str_eq(u.prefix, "a/b");
	ck_assert_str_eq(u.endpoint, "https://s3.ap-south-1.amazonaws.com");
	/* percent-encoded values, trailing '/' on the endpoint */
	ck_assert_int_eq(rs_url_parse("s3://bkt/p?endpoint=http%3A%2F%2Fh.example%3A9000%2F", &u, why,
								  sizeof(why)), 0);
	ck_assert_str_eq(u.endpoint, "http://h.example:9000");
	ck_assert_int_eq(rs_url_parse("s3://bkt/p?endpoint=http://[::1]:9000", &u, why, sizeof(why)), 0);
	ck_assert_str_eq(u.endpoint, "http://[::1]:9000");
}
END_TEST

START_TEST(file_url)
{
	ck_assert_int_eq(rs_url_parse("file:///var/lib/strata/remote/", &u, why, sizeof(why)), 0);
	ck_assert_int_eq(u.kind, RS_FILE);
	ck_assert_str_eq(u.path, "/var/lib/strata/remote");
	ck_assert_int_eq(rs_url_parse("file://localhost/tmp/x", &u, why, sizeof(why)), 0);
	ck_assert_str_eq(u.path, "/tmp/x");
}
END_TEST

/* Each bad URL fails with EINVAL, a message containing `want`, and a zeroed result. */
static void
refused(const char *url, const char *want)
{
	why[0] = '\0';
	ck_assert_msg(rs_url_parse(url, &u, why, sizeof(why)) == STRATA_EINVAL, "accepted: %s", url);
	ck_assert_msg(strstr(why, want) != NULL, "%s: message \"%s\" lacks \"%s\"", url, why, want);
	ck_assert_int_eq(u.kind, 0);
}

START_TEST(bad_urls_are_refused_clearly)
{
	refused("", "empty");
	refused("http://bucket/x", "unsupported remote storage URL");
	refused("s3://", "no bucket");
	refused("s3:///prefix", "no bucket");
	refused("s3://Bad_Bucket/x", "bad bucket name");
	refused("s3://ab/x", "bad bucket name");
	refused("s3://-abc/x", "bad bucket name");
	refused("s3://bkt/a/../b", "\"..\"");
	refused("s3://bkt/a/./b", "\".\"");
	refused("s3://bkt/a//b", "empty component");
	refused("s3://bkt/x#frag", "fragment");
	refused("s3://bkt/x?regoin=us", "unknown parameter \"regoin\"");
	refused("s3://bkt/x?region=US", "region");
	refused("s3://bkt/x?region=", "region");
	refused("s3://bkt/x?region", "needs a value");
	refused("s3://bkt/x?region=a&region=b", "given twice");
	refused("s3://bkt/x?endpoint=ftp://h", "http:// or https://");
	refused("s3://bkt/x?endpoint=http://", "no host");
	refused("s3://bkt/x?endpoint=http://h:0", "bad port");
	refused("s3://bkt/x?endpoint=http://h:99999", "bad port");
	refused("s3://bkt/x?endpoint=http://h:80x", "bad port");
	refused("s3://bkt/x?endpoint=http://h/path", "must not have a path");
	refused("s3://bkt/x?endpoint=http://h%", "needs a value");
	refused("s3://bkt/x?endpoint=http://h%00", "needs a value");
	refused("file://relative/path", "absolute path");
	refused("file:///a/../b", "\"..\"");
	refused("file:///a?x=1", "query");
}
END_TEST

START_TEST(secrets_in_the_url_are_refused)
{
	refused("s3://AKIA:secret@bkt/x", "must not contain user information");
	refused("s3://bkt/x?endpoint=http://AKIA:secret@h:9000", "must not contain user information");
	refused("s3://bkt/x?aws_secret_access_key=abc", "AWS_SECRET_ACCESS_KEY");
	refused("s3://bkt/x?access_key=abc", "never in the URL");
	refused("s3://bkt/x?X-Amz-Credential=abc", "never in the URL");
	refused("s3://bkt/x?session_token=abc", "never in the URL");
	refused("s3://bkt/x?password=abc", "never in the URL");
	/* the refused value itself is not echoed */
	ck_assert_ptr_null(strstr(why, "abc"));
}
END_TEST

START_TEST(format_round_trips)
{
	char		buf[1024];
	struct rs_url v;

	ck_assert_int_eq(rs_url_parse("s3://bkt/a/b?endpoint=http://h:1&region=r1", &u, why, sizeof(why)), 0);
	rs_url_format(&u, buf, sizeof(buf));
	ck_assert_int_eq(rs_url_parse(buf, &v, why, sizeof(why)), 0);
	ck_assert_int_eq(memcmp(&u, &v, sizeof(u)), 0);
}
END_TEST

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	   *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

START_TEST(keys_from_environment)
{
	struct rs_creds c;

	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	ck_assert_int_eq(rs_creds_load(NULL, &c, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "AWS_ACCESS_KEY_ID"));
	setenv("AWS_ACCESS_KEY_ID", "AK:with:colons", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "sk/+=", 1);
	ck_assert_int_eq(rs_creds_load(NULL, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.access_key, "AK:with:colons");
	ck_assert_str_eq(c.secret_key, "sk/+=");
	setenv("AWS_SECRET_ACCESS_KEY", "has space", 1);
	ck_assert_int_eq(rs_creds_load(NULL, &c, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_str_eq(c.secret_key, "");
}
END_TEST

START_TEST(keys_from_a_private_file)
{
	char		path[300];
	struct rs_creds c;

	snprintf(path, sizeof(path), "%s/creds", test_dir);
	write_file(path, "# test keys\n[other]\naws_access_key_id = WRONG\n[default]\n"
			   "aws_access_key_id = AKID\r\n  aws_secret_access_key=SECRET  \nregion = x\n", 0600);
	setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET", 1);
	ck_assert_int_eq(rs_creds_load(path, &c, why, sizeof(why)), 0);
	ck_assert_str_eq(c.access_key, "AKID");
	ck_assert_str_eq(c.secret_key, "SECRET");
	rs_creds_clear(&c);
	ck_assert_str_eq(c.secret_key, "");

	/* readable by others: refused */
	chmod(path, 0640);
	ck_assert_int_eq(rs_creds_load(path, &c, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "chmod 0600"));
	/* a key missing */
	write_file(path, "aws_access_key_id = AKID\n", 0600);
	ck_assert_int_eq(rs_creds_load(path, &c, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "aws_secret_access_key"));
	/* garbage line */
	write_file(path, "aws_access_key_id AKID\n", 0600);
	ck_assert_int_eq(rs_creds_load(path, &c, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "line 1"));
	/* absent */
	snprintf(path, sizeof(path), "%s/none", test_dir);
	ck_assert_int_eq(rs_creds_load(path, &c, why, sizeof(why)), STRATA_ENOTFOUND);
}
END_TEST

Suite *
check_rs_url_suite(void)
{
	Suite	   *s = suite_create("rs_url");
	TCase	   *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, s3_url_with_endpoint_and_region);
	tcase_add_test(tc, s3_url_defaults_and_slashes);
	tcase_add_test(tc, file_url);
	tcase_add_test(tc, bad_urls_are_refused_clearly);
	tcase_add_test(tc, secrets_in_the_url_are_refused);
	tcase_add_test(tc, format_round_trips);
	tcase_add_test(tc, keys_from_environment);
	tcase_add_test(tc, keys_from_a_private_file);
	suite_add_tcase(s, tc);
	return s;
}
