/*
 * check_apiauth.c: who may use the management API (server/api/apiauth.c)
 * — token files, scopes, the Host check, logging refusals once per peer.
 */
#include <check.h>
#include <string.h>
#include <sys/stat.h>

#include "apiauth.h"
#include "strata_err.h"
#include "suites.h"
#include "testutil.h"

START_TEST(first_load_creates_two_private_tokens_and_keeps_them)
{
	struct apiauth a;
	struct apiauth b;
	char		path[300];
	struct stat st;

	ck_assert_int_eq(apiauth_load(&a, test_dir), 0);
	ck_assert_str_ne(a.admin, a.readonly);
	snprintf(path, sizeof(path), "%s/api-token-admin", test_dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(apiauth_load(&b, test_dir), 0);
	ck_assert_str_eq(a.admin, b.admin);
	ck_assert_str_eq(a.readonly, b.readonly);
	/* a token file others may read: stratad refuses to start */
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(apiauth_load(&b, test_dir), STRATA_EINVAL);
}
END_TEST

START_TEST(scopes_come_from_the_bearer_token)
{
	struct apiauth a;
	char		hdr[SECRET_MAX + 16];

	ck_assert_int_eq(apiauth_load(&a, test_dir), 0);
	ck_assert_int_eq(apiauth_scope(&a, NULL), API_SCOPE_NONE);
	ck_assert_int_eq(apiauth_scope(&a, a.admin), API_SCOPE_NONE);	/* no "Bearer" */
	snprintf(hdr, sizeof(hdr), "Bearer %s", a.admin);
	ck_assert_int_eq(apiauth_scope(&a, hdr), API_SCOPE_ADMIN);
	snprintf(hdr, sizeof(hdr), "bearer %s", a.readonly);
	ck_assert_int_eq(apiauth_scope(&a, hdr), API_SCOPE_READ);
	snprintf(hdr, sizeof(hdr), "Bearer %sx", a.admin);
	ck_assert_int_eq(apiauth_scope(&a, hdr), API_SCOPE_NONE);
	snprintf(hdr, sizeof(hdr), "Bearer %.10s", a.admin);
	ck_assert_int_eq(apiauth_scope(&a, hdr), API_SCOPE_NONE);
	ck_assert_int_eq(apiauth_scope(&a, "Bearer "), API_SCOPE_NONE);
}
END_TEST

START_TEST(read_only_may_only_read)
{
	ck_assert(apiauth_allows(API_SCOPE_ADMIN, 0, "/v1/tenant"));
	ck_assert(apiauth_allows(API_SCOPE_READ, 1, "/v1/status"));
	ck_assert(apiauth_allows(API_SCOPE_READ, 1, "/metrics"));
	ck_assert(apiauth_allows(API_SCOPE_READ, 1, "/v1/tenant/ab/timeline"));
	ck_assert(!apiauth_allows(API_SCOPE_READ, 0, "/v1/tenant"));
	ck_assert(!apiauth_allows(API_SCOPE_READ, 0, "/v1/tenant/ab/config"));
	ck_assert(!apiauth_allows(API_SCOPE_READ, 1, "/v1/tenant/ab/timeline/cd/page_trace"));
	ck_assert(apiauth_allows(API_SCOPE_ADMIN, 1, "/v1/tenant/ab/timeline/cd/page_trace"));
	ck_assert(!apiauth_allows(API_SCOPE_NONE, 1, "/v1/status"));
}
END_TEST

START_TEST(host_must_name_this_listener)
{
	ck_assert(apiauth_host_ok(NULL, "127.0.0.1", 9898));
	ck_assert(apiauth_host_ok("127.0.0.1:9898", "127.0.0.1", 9898));
	ck_assert(apiauth_host_ok("localhost:9898", "127.0.0.1", 9898));
	ck_assert(apiauth_host_ok("LOCALHOST:9898", "127.0.0.1", 9898));
	ck_assert(apiauth_host_ok("[::1]:9898", "127.0.0.1", 9898));
	ck_assert(apiauth_host_ok("10.1.2.3:9898", "0.0.0.0", 9898));
	ck_assert(apiauth_host_ok("db1:9898", "db1", 9898));
	ck_assert(apiauth_host_ok("127.0.0.1", "127.0.0.1", 80));
	/* DNS rebinding: a name that resolves to us is not our name */
	ck_assert(!apiauth_host_ok("evil.example:9898", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("evil.example", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("127.0.0.1:9899", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("127.0.0.1", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("127.0.0.1:9898x", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("127.0.0.1:", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok(":9898", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("[::1", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("", "127.0.0.1", 9898));
	ck_assert(!apiauth_host_ok("127.0.0.1.evil.example:9898", "127.0.0.1", 9898));
}
END_TEST

START_TEST(refusals_are_logged_once_per_peer)
{
	char		peer[32];
	int			logged = 0;

	ck_assert(apiauth_log_peer("192.0.2.1"));
	ck_assert(!apiauth_log_peer("192.0.2.1"));
	ck_assert(apiauth_log_peer("192.0.2.2"));
	/* the table is bounded: new peers stop being logged, old ones stay quiet */
	for (int i = 0; i < 200; i++)
	{
		snprintf(peer, sizeof(peer), "198.51.100.%d", i);
		logged += apiauth_log_peer(peer);
	}
	ck_assert_int_eq(logged, 62);
	ck_assert(!apiauth_log_peer("192.0.2.1"));
	ck_assert(!apiauth_log_peer("203.0.113.9"));
}
END_TEST

Suite *
check_apiauth_suite(void)
{
	Suite	   *s = suite_create("apiauth");
	TCase	   *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, first_load_creates_two_private_tokens_and_keeps_them);
	tcase_add_test(tc, scopes_come_from_the_bearer_token);
	tcase_add_test(tc, read_only_may_only_read);
	tcase_add_test(tc, host_must_name_this_listener);
	tcase_add_test(tc, refusals_are_logged_once_per_peer);
	suite_add_tcase(s, tc);
	return s;
}
