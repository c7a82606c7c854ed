/*
 * check_tls.c: TLS contexts (server/base/tls.c) — which key files are
 * refused, and real handshakes over a socket pair between a server
 * context and a client context: client certificates required, optional
 * or from the wrong CA, a server certificate from an unrelated CA or for
 * another host, a client limited to TLS 1.1.
 *
 * Certificates are made per test with the openssl command line (EC keys:
 * fast) in the test's scratch directory.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <openssl/err.h>

#include "strata_err.h"
#include "suites.h"
#include "testutil.h"
#include "tls.h"

/* A CA, a leaf it signs with subjectAltName san (or a client cert if NULL). */
static void
make_ca(const char *name)
{
	char		cmd[1024];

	snprintf(cmd, sizeof(cmd),
			 "cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
			 "-nodes -keyout %s.key -out %s.crt -days 2 -subj /CN=%s >/dev/null 2>&1",
			 test_dir, name, name, name);
	ck_assert_int_eq(system(cmd), 0);
}

static void
make_leaf(const char *ca, const char *name, const char *san)
{
	char		cmd[2048];

	snprintf(cmd, sizeof(cmd),
			 "cd %s && printf '%s%s\\n' > %s.ext && "
			 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
			 "-keyout %s.key -out %s.csr -subj /CN=%s >/dev/null 2>&1 && "
			 "openssl x509 -req -in %s.csr -CA %s.crt -CAkey %s.key -set_serial %d -days 2 "
			 "-extfile %s.ext -out %s.crt >/dev/null 2>&1 && chmod 0600 %s.key",
			 test_dir, san ? "subjectAltName=" : "extendedKeyUsage=", san ? san : "clientAuth",
			 name, name, name, name, name, ca, ca, (int) (random() % 100000) + 1, name, name, name);
	ck_assert_int_eq(system(cmd), 0);
}

static const char *
file(const char *name)
{
	static char paths[64][300];	/* enough for the names one test holds */
	static int	next;
	char	   *p = paths[next++ % 64];

	snprintf(p, 300, "%s/%s", test_dir, name);
	return p;
}

static void
certs_setup(void)
{
	test_dir_setup();
	make_ca("ca");
	make_ca("otherca");
	make_leaf("ca", "server", "IP:127.0.0.1,DNS:localhost");
	make_leaf("ca", "client", NULL);
	make_leaf("otherca", "stranger", NULL);
}

/* A server context on ca's server certificate. */
static SSL_CTX *
server_ctx(enum tls_client_cert mode)
{
	struct tls_server_conf conf = {file("server.crt"), file("server.key"),
	mode == TLS_CLIENT_CERT_NONE ? NULL : file("ca.crt"), mode};
	char		why[512];
	SSL_CTX    *ctx;

	ck_assert_msg(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)) == 0, "%s", why);
	return ctx;
}

static SSL_CTX *
client_ctx(const char *ca, const char *cert_name)
{
	char		crt[300];
	char		key[300];
	char		why[512];
	SSL_CTX    *ctx;

	snprintf(crt, sizeof(crt), "%s/%s.crt", test_dir, cert_name ? cert_name : "");
	snprintf(key, sizeof(key), "%s/%s.key", test_dir, cert_name ? cert_name : "");
	ck_assert_msg(tls_client_ctx_new(file(ca), cert_name ? crt : NULL, cert_name ? key : NULL,
									 &ctx, why, sizeof(why)) == 0, "%s", why);
	return ctx;
}

struct outcome
{
	int			server_ok;
	int			client_ok;
	char		server_why[512];
	char		client_why[512];
	char		server_saw[256];	/* tls_describe() on the server */
};

/* Step one side's handshake: 1 done, 0 wants more, -1 failed (why filled). */
static int
step(SSL *ssl, int *state, char *why, size_t len)
{
	int			r;

	if (*state != 0)
		return *state;
	ERR_clear_error();
	r = SSL_do_handshake(ssl);
	if (r == 1)
		return *state = 1;
	if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ || SSL_get_error(ssl, r) == SSL_ERROR_WANT_WRITE)
		return 0;
	tls_failure_text(ssl, "TLS handshake failed", why, len);
	return *state = -1;
}

/*
 * Both ends of a socket pair on one thread, non-blocking, until neither
 * moves.  host: what the client expects the server's certificate to name.
 */
static void
handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *host, struct outcome *o)
{
	int			sv[2];
	SSL		   *s;
	SSL		   *c;
	int			ss = 0,
				cs = 0;

	memset(o, 0, sizeof(*o));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	ck_assert(s && c);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	ck_assert_int_eq(tls_client_expect(c, host), 0);
	for (int i = 0; i < 100 && (ss == 0 || cs == 0); i++)
	{
		struct pollfd p[2] = {{sv[0], POLLIN, 0}, {sv[1], POLLIN, 0}};

		step(c, &cs, o->client_why, sizeof(o->client_why));
		step(s, &ss, o->server_why, sizeof(o->server_why));
		/* one side failed: the other learns it from the alert or the close */
		if (ss < 0 || cs < 0)
		{
			shutdown(ss < 0 ? sv[0] : sv[1], SHUT_RDWR);
			step(c, &cs, o->client_why, sizeof(o->client_why));
			step(s, &ss, o->server_why, sizeof(o->server_why));
			break;
		}
		(void) poll(p, 2, 100);
	}
	o->server_ok = ss == 1;
	o->client_ok = cs == 1;
	if (ss == 1)
		tls_describe(s, o->server_saw, sizeof(o->server_saw));
	SSL_free(s);
	SSL_free(c);
	close(sv[0]);
	close(sv[1]);
}

START_TEST(key_file_rules_are_postgresqls)
{
	char		why[256];
	uid_t		me = 1000;

	ck_assert_int_eq(tls_key_mode_ok(me, S_IFREG | 0600, me, 1, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_key_mode_ok(me, S_IFREG | 0400, me, 1, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_key_mode_ok(me, S_IFREG | 0640, me, 1, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "0640"));
	ck_assert_int_eq(tls_key_mode_ok(me, S_IFREG | 0604, me, 1, why, sizeof(why)), STRATA_EINVAL);
	/* root's key may be group-readable (Debian's ssl-cert group), no more */
	ck_assert_int_eq(tls_key_mode_ok(0, S_IFREG | 0640, me, 1, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_key_mode_ok(0, S_IFREG | 0660, me, 1, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_int_eq(tls_key_mode_ok(0, S_IFREG | 0644, me, 1, why, sizeof(why)), STRATA_EINVAL);
	/* running as root, one's own key is held to 0600 */
	ck_assert_int_eq(tls_key_mode_ok(0, S_IFREG | 0640, 0, 1, why, sizeof(why)), STRATA_EINVAL);
	/* someone else's: stratad refuses it; stratactl wants 0600 */
	ck_assert_int_eq(tls_key_mode_ok(2000, S_IFREG | 0600, me, 1, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(why, "owned by uid 2000"));
	ck_assert_int_eq(tls_key_mode_ok(2000, S_IFREG | 0600, me, 0, why, sizeof(why)), 0);
	ck_assert_int_eq(tls_key_mode_ok(2000, S_IFREG | 0640, me, 0, why, sizeof(why)), STRATA_EINVAL);
}
END_TEST

START_TEST(client_cert_modes_parse)
{
	enum tls_client_cert m;

	ck_assert_int_eq(tls_parse_client_cert("none", &m), 0);
	ck_assert_int_eq(m, TLS_CLIENT_CERT_NONE);
	ck_assert_int_eq(tls_parse_client_cert("optional", &m), 0);
	ck_assert_int_eq(m, TLS_CLIENT_CERT_OPTIONAL);
	ck_assert_int_eq(tls_parse_client_cert("require", &m), 0);
	ck_assert_int_eq(m, TLS_CLIENT_CERT_REQUIRE);
	ck_assert_int_eq(tls_parse_client_cert("yes", &m), STRATA_EINVAL);
	ck_assert_int_eq(tls_parse_client_cert("", &m), STRATA_EINVAL);
}
END_TEST

START_TEST(bad_key_and_certificate_files_are_refused)
{
	struct tls_server_conf conf = {file("server.crt"), file("server.key"), NULL,
	TLS_CLIENT_CERT_NONE};
	char		why[512];
	char		cmd[600];
	SSL_CTX    *ctx;

	ck_assert_int_eq(chmod(file("server.key"), 0644), 0);
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_ptr_null(ctx);
	ck_assert_msg(strstr(why, "0644") && strstr(why, "server.key"), "%s", why);
	ck_assert_int_eq(chmod(file("server.key"), 0600), 0);

	/* another certificate's key */
	conf.key_file = file("client.key");
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_msg(strstr(why, "does not belong to the certificate") != NULL, "%s", why);

	/* a key behind a passphrase: nobody could type it */
	snprintf(cmd, sizeof(cmd), "cd %s && openssl pkey -in server.key -aes256 -passout pass:x "
			 "-out locked.key 2>/dev/null && chmod 0600 locked.key", test_dir);
	ck_assert_int_eq(system(cmd), 0);
	conf.key_file = file("locked.key");
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_msg(strstr(why, "passphrase") != NULL, "%s", why);

	/* not a key, no such file, not a certificate, not a CA file */
	conf.key_file = file("server.crt");
	ck_assert_int_eq(chmod(file("server.crt"), 0600), 0);
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_msg(strstr(why, "holds no PEM private key") != NULL, "%s", why);
	conf.key_file = file("nonexistent.key");
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_msg(strstr(why, "could not open") != NULL, "%s", why);
	conf.key_file = file("server.key");
	conf.cert_file = file("server.key");
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_msg(strstr(why, "could not load the certificate file") != NULL, "%s", why);
	conf.cert_file = file("server.crt");
	conf.ca_file = file("server.key");
	conf.client_cert = TLS_CLIENT_CERT_REQUIRE;
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_msg(strstr(why, "CA file") != NULL, "%s", why);
	/* a directory is not a key file */
	conf.ca_file = NULL;
	conf.key_file = test_dir;
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), STRATA_EINVAL);
	ck_assert_msg(strstr(why, "not a regular file") != NULL, "%s", why);
	/* and the right files work */
	conf.key_file = file("server.key");
	ck_assert_int_eq(tls_server_ctx_new(&conf, &ctx, why, sizeof(why)), 0);
	SSL_CTX_free(ctx);
}
END_TEST

START_TEST(required_client_certificate)
{
	SSL_CTX    *s = server_ctx(TLS_CLIENT_CERT_REQUIRE);
	SSL_CTX    *with = client_ctx("ca.crt", "client");
	SSL_CTX    *without = client_ctx("ca.crt", NULL);
	SSL_CTX    *stranger = client_ctx("ca.crt", "stranger");
	struct outcome o;

	handshake(s, with, "127.0.0.1", &o);
	ck_assert_msg(o.server_ok && o.client_ok, "server: %s client: %s", o.server_why, o.client_why);
	ck_assert_msg(strstr(o.server_saw, "client certificate \"/CN=client\"") != NULL, "%s",
				  o.server_saw);
	ck_assert_msg(strstr(o.server_saw, "TLSv1.3") != NULL, "%s", o.server_saw);

	handshake(s, without, "127.0.0.1", &o);
	ck_assert(!o.server_ok);
	ck_assert_msg(strstr(o.server_why, "peer did not return a certificate") != NULL, "%s",
				  o.server_why);

	/* a certificate of another CA */
	handshake(s, stranger, "127.0.0.1", &o);
	ck_assert(!o.server_ok);
	ck_assert_msg(strstr(o.server_why, "certificate verify failed") != NULL, "%s", o.server_why);
	SSL_CTX_free(s);
	SSL_CTX_free(with);
	SSL_CTX_free(without);
	SSL_CTX_free(stranger);
}
END_TEST

START_TEST(optional_client_certificate)
{
	SSL_CTX    *s = server_ctx(TLS_CLIENT_CERT_OPTIONAL);
	SSL_CTX    *without = client_ctx("ca.crt", NULL);
	SSL_CTX    *stranger = client_ctx("ca.crt", "stranger");
	struct outcome o;

	handshake(s, without, "localhost", &o);
	ck_assert_msg(o.server_ok && o.client_ok, "server: %s client: %s", o.server_why, o.client_why);
	ck_assert_msg(strstr(o.server_saw, "no client certificate") != NULL, "%s", o.server_saw);
	/* one that is sent must verify */
	handshake(s, stranger, "localhost", &o);
	ck_assert(!o.server_ok);
	SSL_CTX_free(s);
	SSL_CTX_free(without);
	SSL_CTX_free(stranger);
}
END_TEST

START_TEST(client_verifies_the_server)
{
	SSL_CTX    *s = server_ctx(TLS_CLIENT_CERT_NONE);
	SSL_CTX    *wrong_ca = client_ctx("otherca.crt", NULL);
	SSL_CTX    *right_ca = client_ctx("ca.crt", NULL);
	SSL_CTX    *old;
	struct outcome o;

	/* a stolen token is no use against a server one cannot verify */
	handshake(s, wrong_ca, "127.0.0.1", &o);
	ck_assert(!o.client_ok);
	ck_assert_msg(strstr(o.client_why, "certificate verify failed") &&
				  strstr(o.client_why, "unable to get local issuer certificate"), "%s",
				  o.client_why);
	/* the right CA, but a certificate for another address or name */
	handshake(s, right_ca, "10.1.2.3", &o);
	ck_assert(!o.client_ok);
	ck_assert_msg(strstr(o.client_why, "IP address mismatch") != NULL, "%s", o.client_why);
	handshake(s, right_ca, "db.example.com", &o);
	ck_assert(!o.client_ok);
	ck_assert_msg(strstr(o.client_why, "hostname mismatch") != NULL, "%s", o.client_why);
	handshake(s, right_ca, "localhost", &o);
	ck_assert_msg(o.client_ok && o.server_ok, "%s", o.client_why);
	/* below TLS 1.2: refused */
	old = client_ctx("ca.crt", NULL);
	SSL_CTX_set_min_proto_version(old, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(old, TLS1_1_VERSION);
	SSL_CTX_set_security_level(old, 0);
	handshake(s, old, "127.0.0.1", &o);
	ck_assert(!o.server_ok && !o.client_ok);
	SSL_CTX_free(s);
	SSL_CTX_free(wrong_ca);
	SSL_CTX_free(right_ca);
	SSL_CTX_free(old);
}
END_TEST

Suite *
check_tls_suite(void)
{
	Suite	   *s = suite_create("tls");
	TCase	   *rules = tcase_create("rules");
	TCase	   *tc = tcase_create("contexts");

	tcase_add_test(rules, key_file_rules_are_postgresqls);
	tcase_add_test(rules, client_cert_modes_parse);
	suite_add_tcase(s, rules);
	tcase_add_checked_fixture(tc, certs_setup, test_dir_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, bad_key_and_certificate_files_are_refused);
	tcase_add_test(tc, required_client_certificate);
	tcase_add_test(tc, optional_client_certificate);
	tcase_add_test(tc, client_verifies_the_server);
	suite_add_tcase(s, tc);
	return s;
}
