/*-------------------------------------------------------------------------
 *
 * tls.h
 *	  TLS contexts for stratad's TCP listeners and for stratactl: the
 *	  certificate and key files, the rules a private key file must obey,
 *	  client certificates, host name checks and error text (OpenSSL).
 *
 * stratad builds one server context at start (tls_server_ctx_new()) and
 * shares it, read-only from then on, between the page service's loop and
 * the API's thread (OpenSSL allows SSL_new() on one context from several
 * threads).  The page service speaks TLS after a PostgreSQL SSLRequest
 * (pgwire.c, conn.c); the API is HTTPS on TCP (http.c).  Unix sockets stay
 * plaintext, as in PostgreSQL.
 *
 * Policy, fixed here rather than by options: TLS 1.2 or newer; no
 * compression, renegotiation, session resumption or tickets (every
 * connection is long-lived or one request); TLS 1.2 suites with forward
 * secrecy only.  A client certificate is verified against conf->ca_file
 * (chain only: its subject names nobody, the token still authenticates).
 *
 * Secrets: the private key is read from its file only, never from a
 * command line.  Like PostgreSQL (be-secure-common.c), stratad refuses a
 * key file that is not a regular file owned by its user with no group or
 * other access (0600), or owned by root with at most group read (0640);
 * stratactl, like libpq, does not check the owner, so root may use the
 * postgres user's files.  A key protected by a passphrase is refused: no
 * process here can ask for one.
 *
 * Errors: every function returns 0 or a negative strata_err and logs
 * nothing; errbuf (errlen bytes) says why, naming the file.  Any thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_TLS_H
#define STRATA_TLS_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/ssl.h>

/* What a TLS listener asks of its clients' certificates. */
enum tls_client_cert
{
	TLS_CLIENT_CERT_NONE,		/* none asked for */
	TLS_CLIENT_CERT_OPTIONAL,	/* asked for; one sent must verify */
	TLS_CLIENT_CERT_REQUIRE,	/* a client without a valid one is refused */
};

/* stratad's TLS configuration (--tls-*); strings borrowed. */
struct tls_server_conf
{
	const char *cert_file;		/* PEM certificate chain, the server's first */
	const char *key_file;		/* PEM private key, unencrypted */
	const char *ca_file;		/* PEM CAs of client certificates, or NULL */
	enum tls_client_cert client_cert;
};

/* "none", "optional", "require" -> *mode; STRATA_EINVAL for anything else. */
extern int	tls_parse_client_cert(const char *s, enum tls_client_cert *mode);

/*
 * Whether a key file owned by owner with mode may hold our key (the rules
 * above; check_owner: stratad's, else stratactl's).  STRATA_EINVAL with
 * errbuf saying why.
 */
extern int	tls_key_mode_ok(uid_t owner, mode_t mode, uid_t euid, int check_owner,
							char *errbuf, size_t errlen);

/*
 * The server context for conf: *ctx is the caller's (SSL_CTX_free()).
 * STRATA_EINVAL if a file is missing, unreadable, malformed, breaks the
 * key rules, or the key does not match the certificate; STRATA_ENOMEM.
 */
extern int	tls_server_ctx_new(const struct tls_server_conf *conf, SSL_CTX **ctx,
							   char *errbuf, size_t errlen);

/*
 * A client context that verifies the server against the CAs in ca_file
 * and presents cert_file/key_file if given (both or neither).  Errors as
 * tls_server_ctx_new().  Pair each connection with tls_client_expect().
 */
extern int	tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
							   SSL_CTX **ctx, char *errbuf, size_t errlen);

/*
 * Before the handshake of a client connection: the server's certificate
 * must name host (an IP address or a DNS name, matched against its
 * subjectAltName as libpq's sslmode=verify-full does); a name is also
 * sent as SNI.  STRATA_ENOMEM on failure.
 */
extern int	tls_client_expect(SSL *ssl, const char *host);

/*
 * Append the text of OpenSSL error e ("certificate verify failed") to buf (len bytes, NUL-terminated), separated by "; ".
 */
extern void tls_append_error(char *buf, size_t len, unsigned long e);

/*
 * Why an operation on ssl failed, into buf: what, then the first error
 * on this thread's OpenSSL queue (which it empties), then the certificate
 * check's verdict if it failed.  For callers that drive SSL themselves
 * (stratactl).
 */
extern void tls_failure_text(SSL *ssl, const char *what, char *buf, size_t len);

/* The address of the peer of ssl's socket (numeric, or "?"), for the log. */
extern void tls_peer(const SSL *ssl, char *buf, size_t len);

/*
 * One line about an established connection for the log: protocol,
 * cipher and the client certificate's subject (or "no client
 * certificate").
 */
extern void tls_describe(SSL *ssl, char *buf, size_t len);

#endif							/* STRATA_TLS_H */
