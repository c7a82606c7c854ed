/*
 * check_pgwire.c: the page service's unix-socket peer check
 * (server/pageservice/pgwire.c, pgwire_peer_uid_ok) — a peer of another
 * uid is refused.  The TAP tests run as one unprivileged user and cannot
 * start a second one; here, when the unit tests run as root, a child
 * really becomes "nobody" and connects.  And what each first packet gets
 * (pgwire_classify): TLS on TCP only, required there once configured,
 * never twice, never GSSAPI (regress/t/018_tls.pl runs the exchanges).
 */
#include <check.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "pagesvc_internal.h"
#include "suites.h"
#include "testutil.h"

#define NOBODY 65534

START_TEST(peer_of_our_uid_passes_another_is_refused)
{
	int			sv[2];
	int			fd_null;
	uid_t		got;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert(pgwire_peer_uid_ok(sv[0], geteuid(), &got));
	ck_assert_int_eq(got, geteuid());
	/* the uid wanted is stratad's: any other one is refused */
	ck_assert(!pgwire_peer_uid_ok(sv[0], geteuid() + 1, &got));
	ck_assert_int_eq(got, geteuid());
	close(sv[0]);
	close(sv[1]);
	/* not a socket: refused, uid unknown */
	fd_null = open("/dev/null", O_RDONLY);
	ck_assert(!pgwire_peer_uid_ok(fd_null, geteuid(), &got));
	close(fd_null);
	ck_assert_int_eq(got, (uid_t) -1);
}
END_TEST

START_TEST(a_second_local_user_is_refused)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char		dir[300];
	int			lfd;
	int			fd;
	uid_t		got;
	pid_t		pid;
	int			status;

	if (geteuid() != 0)
		return;					/* only root can become someone else */
	snprintf(dir, sizeof(dir), "%s/s", test_dir);
	ck_assert_int_eq(mkdir(dir, 0777), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0);
	ck_assert_int_eq(chmod(test_dir, 0711), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/.s.PGSQL.1", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *) &sun, sizeof(sun)), 0);
	ck_assert_int_eq(chmod(sun.sun_path, 0777), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
	{
		char		b;
		int			c;

		if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
			_exit(2);
		c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *) &sun, sizeof(sun)) != 0)
			_exit(3);
		(void) read(c, &b, 1);	/* until the parent has looked */
		_exit(0);
	}
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert(!pgwire_peer_uid_ok(fd, geteuid(), &got));
	ck_assert_int_eq(got, NOBODY);
	ck_assert(pgwire_peer_uid_ok(fd, NOBODY, &got));
	close(fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	close(lfd);
}
END_TEST

#define V3		196608
#define SSLREQ	80877103
#define GSSREQ	80877104
#define CANCEL	80877102

START_TEST(first_packets_get_postgresqls_answers)
{
	/* no TLS configured: 'N' to both requests, plaintext startups everywhere */
	ck_assert_int_eq(pgwire_classify(SSLREQ, 0, 0, CONN_TLS_NONE), PGWIRE_TLS_DECLINE);
	ck_assert_int_eq(pgwire_classify(GSSREQ, 0, 0, CONN_TLS_NONE), PGWIRE_TLS_DECLINE);
	ck_assert_int_eq(pgwire_classify(V3, 0, 0, CONN_TLS_NONE), PGWIRE_STARTUP);
	ck_assert_int_eq(pgwire_classify(V3, 1, 0, CONN_TLS_NONE), PGWIRE_STARTUP);
	/* TLS configured: accepted on TCP, required there; the unix socket stays plaintext */
	ck_assert_int_eq(pgwire_classify(SSLREQ, 0, 1, CONN_TLS_NONE), PGWIRE_TLS_ACCEPT);
	ck_assert_int_eq(pgwire_classify(V3, 0, 1, CONN_TLS_NONE), PGWIRE_TLS_REQUIRED);
	ck_assert_int_eq(pgwire_classify(V3, 0, 1, CONN_TLS_ON), PGWIRE_STARTUP);
	ck_assert_int_eq(pgwire_classify(SSLREQ, 1, 1, CONN_TLS_NONE), PGWIRE_TLS_DECLINE);
	ck_assert_int_eq(pgwire_classify(V3, 1, 1, CONN_TLS_NONE), PGWIRE_STARTUP);
	/* GSSAPI encryption never; the client then tries TLS */
	ck_assert_int_eq(pgwire_classify(GSSREQ, 0, 1, CONN_TLS_NONE), PGWIRE_TLS_DECLINE);
	/* nothing asks for TLS again inside TLS */
	ck_assert_int_eq(pgwire_classify(SSLREQ, 0, 1, CONN_TLS_ON), PGWIRE_UNSUPPORTED);
	ck_assert_int_eq(pgwire_classify(GSSREQ, 0, 1, CONN_TLS_ON), PGWIRE_UNSUPPORTED);
	/* cancels are answered by closing, wherever they come */
	ck_assert_int_eq(pgwire_classify(CANCEL, 0, 1, CONN_TLS_NONE), PGWIRE_CANCEL);
	ck_assert_int_eq(pgwire_classify(CANCEL, 1, 0, CONN_TLS_NONE), PGWIRE_CANCEL);
	/* other protocol versions, and garbage */
	ck_assert_int_eq(pgwire_classify(131072, 0, 0, CONN_TLS_NONE), PGWIRE_UNSUPPORTED);
	ck_assert_int_eq(pgwire_classify(196609, 1, 0, CONN_TLS_NONE), PGWIRE_UNSUPPORTED);
	ck_assert_int_eq(pgwire_classify(0, 0, 1, CONN_TLS_NONE), PGWIRE_UNSUPPORTED);
}
END_TEST

Suite *
check_pgwire_suite(void)
{
	Suite	   *s = suite_create("pgwire");
	TCase	   *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, peer_of_our_uid_passes_another_is_refused);
	tcase_add_test(tc, a_second_local_user_is_refused);
	tcase_add_test(tc, first_packets_get_postgresqls_answers);
	suite_add_tcase(s, tc);
	return s;
}
