/*-------------------------------------------------------------------------
 *
 * tls.c
 *	  TLS contexts, key file rules and error text (see tls.h).
 *
 *-------------------------------------------------------------------------
 */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "strata_err.h"

/* Largest key file read; a PEM RSA-8192 key is about 6.5 KiB. */
#define KEY_FILE_MAX (64 * 1024)

/* TLS 1.2 suites: forward secrecy, authenticated, no legacy ciphers. */
#define TLS12_CIPHERS "HIGH:!aNULL:!eNULL:!kRSA:!PSK:!SRP:!MD5:!RC4:!3DES"

int
tls_parse_client_cert(const char *s, enum tls_client_cert *mode)
{
	if (strcmp(s, "none") == 0)
		*mode = TLS_CLIENT_CERT_NONE;
	else if (strcmp(s, "optional") == 0)
		*mode = TLS_CLIENT_CERT_OPTIONAL;
	else if (strcmp(s, "require") == 0)
		*mode = TLS_CLIENT_CERT_REQUIRE;
	else
		return STRATA_EINVAL;
	return 0;
}

int
tls_key_mode_ok(uid_t owner, mode_t mode, uid_t euid, int check_owner, char *errbuf,
				size_t errlen)
{
	if (check_owner && owner != euid && owner != 0)
	{
		snprintf(errbuf, errlen, "it is owned by uid %u; it must be owned by this process's "
				 "uid %u or by root", (unsigned) owner, (unsigned) euid);
		return STRATA_EINVAL;
	}
	/* PostgreSQL's rule: ours at most u=rw, root's at most u=rw,g=r */
	if ((owner == euid && (mode & (S_IRWXG | S_IRWXO)) != 0) ||
		(owner == 0 && (mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0) ||
		(owner != euid && owner != 0 && (mode & (S_IRWXG | S_IRWXO)) != 0))
	{
		snprintf(errbuf, errlen, "its mode is %04o; it must be u=rw (0600) or less, or "
				 "u=rw,g=r (0640) or less if root owns it", (unsigned) (mode & 07777));
		return STRATA_EINVAL;
	}
	return 0;
}

void
tls_append_error(char *buf, size_t len, unsigned long e)
{
	size_t		used = strnlen(buf, len);
	const char *reason = ERR_reason_error_string(e);

	if (used + 1 >= len)
		return;
	if (ERR_SYSTEM_ERROR(e))
		snprintf(buf + used, len - used, "%s%s", used ? "; " : "", strerror(ERR_GET_REASON(e)));
	else if (reason != NULL)
		snprintf(buf + used, len - used, "%s%s", used ? "; " : "", reason);
	else
		snprintf(buf + used, len - used, "%sOpenSSL error %lu", used ? "; " : "", e);
}

/*
 * prefix, then ": " and the first error on this thread's queue (the
 * cause; the later ones say which calls failed because of it), emptying
 * the queue.
 */
static void
queue_text(char *buf, size_t len, const char *prefix)
{
	char		first[256] = "";
	unsigned long e = ERR_get_error();

	if (e != 0)
		tls_append_error(first, sizeof(first), e);
	ERR_clear_error();
	snprintf(buf, len, "%s%s%s", prefix, first[0] ? ": " : "", first);
}

void
tls_failure_text(SSL *ssl, const char *what, char *buf, size_t len)
{
	long		v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

	queue_text(buf, len, what);
	if (v != X509_V_OK)
	{
		size_t		used = strlen(buf);

		snprintf(buf + used, len - used, " (certificate check: %s)",
				 X509_verify_cert_error_string(v));
	}
}

void
tls_peer(const SSL *ssl, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t	sslen = sizeof(ss);

	if (getpeername(SSL_get_fd(ssl), (struct sockaddr *) &ss, &sslen) != 0 ||
		getnameinfo((struct sockaddr *) &ss, sslen, buf, len, NULL, 0, NI_NUMERICHOST) != 0)
		snprintf(buf, len, "?");
}

void
tls_describe(SSL *ssl, char *buf, size_t len)
{
	X509	   *peer = SSL_get1_peer_certificate(ssl);
	char		subject[256] = "";

	if (peer != NULL)
	{
		X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof(subject));
		X509_free(peer);
	}
	snprintf(buf, len, "%s %s, %s%s%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl),
			 peer ? "client certificate \"" : "no client certificate", subject,
			 peer ? "\"" : "");
}

/* pem_password_cb: there is nobody to ask. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void) buf;
	(void) size;
	(void) rwflag;
	*(int *) u = 1;
	return -1;
}

/* The key file's bytes into buf (KEY_FILE_MAX), once path passed the rules. */
static int
read_key_file(const char *path, int check_owner, char *buf, size_t *n, char *errbuf, size_t errlen)
{
	char		why[256];
	struct stat st;
	int			fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t		r;

	*n = 0;
	if (fd < 0)
	{
		snprintf(errbuf, errlen, "could not open the private key file \"%s\": %s", path,
				 strerror(errno));
		return STRATA_EINVAL;
	}
	/* checked on the file opened, so the file checked is the file read */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		snprintf(why, sizeof(why), "it is not a regular file");
	else if (tls_key_mode_ok(st.st_uid, st.st_mode, geteuid(), check_owner, why, sizeof(why)) == 0)
		why[0] = '\0';
	if (why[0] != '\0')
	{
		snprintf(errbuf, errlen, "refusing the private key file \"%s\": %s", path, why);
		close(fd);
		return STRATA_EINVAL;
	}
	while (*n < KEY_FILE_MAX && (r = read(fd, buf + *n, KEY_FILE_MAX - *n)) != 0)
	{
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
		{
			snprintf(errbuf, errlen, "could not read the private key file \"%s\": %s", path,
					 strerror(errno));
			close(fd);
			return STRATA_EINVAL;
		}
		*n += (size_t) r;
	}
	close(fd);
	return 0;
}

/* The private key in path (read_key_file()); *key is the caller's. */
static int
load_key(EVP_PKEY **key, const char *path, int check_owner, char *errbuf, size_t errlen)
{
	char	   *buf = malloc(KEY_FILE_MAX);
	size_t		n;
	BIO		   *bio = NULL;
	int			asked = 0;
	int			err;

	if (buf == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		return STRATA_ENOMEM;
	}
	if ((err = read_key_file(path, check_owner, buf, &n, errbuf, errlen)) != 0)
		goto out;
	ERR_clear_error();
	if ((bio = BIO_new_mem_buf(buf, (int) n)) == NULL)
	{
		snprintf(errbuf, errlen, "out of memory");
		err = STRATA_ENOMEM;
		goto out;
	}
	if ((*key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked)) == NULL)
	{
		char		text[512];

		queue_text(text, sizeof(text), "");
		if (asked)
			snprintf(errbuf, errlen, "the private key in \"%s\" is protected by a passphrase, "
					 "which nobody can type here; store it without one (openssl pkey -in KEY "
					 "-out NEWKEY) in a file of mode 0600", path);
		else
			snprintf(errbuf, errlen, "\"%s\" holds no PEM private key%s", path, text);
		err = STRATA_EINVAL;
	}
out:
	BIO_free(bio);
	OPENSSL_cleanse(buf, KEY_FILE_MAX);
	free(buf);
	return err;
}

/* The certificate chain and its key, which must match. */
static int
load_identity(SSL_CTX *ctx, const char *cert, const char *key, int check_owner,
			  char *errbuf, size_t errlen)
{
	char		text[512];
	EVP_PKEY   *pkey = NULL;
	int			err;
	int			matches;

	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
	{
		queue_text(text, sizeof(text), "");
		snprintf(errbuf, errlen, "could not load the certificate file \"%s\"%s", cert, text);
		return STRATA_EINVAL;
	}
	if ((err = load_key(&pkey, key, check_owner, errbuf, errlen)) != 0)
		return err;
	/* fails when the key is not the certificate's */
	matches = SSL_CTX_use_PrivateKey(ctx, pkey) == 1 && SSL_CTX_check_private_key(ctx) == 1;
	EVP_PKEY_free(pkey);
	if (!matches)
	{
		ERR_clear_error();
		snprintf(errbuf, errlen, "the private key in \"%s\" does not belong to the certificate "
				 "in \"%s\"", key, cert);
		return STRATA_EINVAL;
	}
	return 0;
}

/* The CAs in path become ctx's trust anchors. */
static int
load_ca(SSL_CTX *ctx, const char *path, char *errbuf, size_t errlen)
{
	char		text[512];

	ERR_clear_error();
	if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1)
	{
		queue_text(text, sizeof(text), "");
		snprintf(errbuf, errlen, "could not load the CA file \"%s\"%s", path, text);
		return STRATA_EINVAL;
	}
	return 0;
}

/* The policy of tls.h both sides share. */
static SSL_CTX *
new_ctx(const SSL_METHOD *method)
{
	SSL_CTX    *ctx = SSL_CTX_new(method);

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
		SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1)
	{
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return ctx;
}

int
tls_server_ctx_new(const struct tls_server_conf *conf, SSL_CTX **out, char *errbuf, size_t errlen)
{
	static const unsigned char sid_ctx[] = "stratad";
	SSL_CTX    *ctx = new_ctx(TLS_server_method());
	int			err;

	*out = NULL;
	if (ctx == NULL)
	{
		snprintf(errbuf, errlen, "could not create a TLS context");
		return STRATA_ENOMEM;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* TLS 1.3 would send resumption tickets nobody uses */
	(void) SSL_CTX_set_num_tickets(ctx, 0);
	(void) SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	if ((err = load_identity(ctx, conf->cert_file, conf->key_file, 1, errbuf, errlen)) != 0)
		goto fail;
	if (conf->ca_file != NULL)
	{
		STACK_OF(X509_NAME) *names;

		if ((err = load_ca(ctx, conf->ca_file, errbuf, errlen)) != 0)
			goto fail;
		/* the CAs a client may choose its certificate by */
		if ((names = SSL_load_client_CA_file(conf->ca_file)) == NULL)
		{
			ERR_clear_error();
			snprintf(errbuf, errlen, "the CA file \"%s\" holds no certificate", conf->ca_file);
			err = STRATA_EINVAL;
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	SSL_CTX_set_verify(ctx, conf->client_cert == TLS_CLIENT_CERT_NONE ? SSL_VERIFY_NONE :
					   conf->client_cert == TLS_CLIENT_CERT_OPTIONAL ? SSL_VERIFY_PEER :
					   SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return err;
}

int
tls_client_ctx_new(const char *ca_file, const char *cert_file, const char *key_file,
				   SSL_CTX **out, char *errbuf, size_t errlen)
{
	SSL_CTX    *ctx = new_ctx(TLS_client_method());
	int			err;

	*out = NULL;
	if (ctx == NULL)
	{
		snprintf(errbuf, errlen, "could not create a TLS context");
		return STRATA_ENOMEM;
	}
	if ((err = load_ca(ctx, ca_file, errbuf, errlen)) != 0)
		goto fail;
	if ((cert_file == NULL) != (key_file == NULL))
	{
		snprintf(errbuf, errlen, "a client certificate needs its key, and a key its certificate");
		err = STRATA_EINVAL;
		goto fail;
	}
	if (cert_file != NULL &&
		(err = load_identity(ctx, cert_file, key_file, 0, errbuf, errlen)) != 0)
		goto fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	*out = ctx;
	return 0;
fail:
	SSL_CTX_free(ctx);
	return err;
}

int
tls_client_expect(SSL *ssl, const char *host)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : STRATA_ENOMEM;
	/* SSL_set1_host() checks DNS subjectAltNames (the subject's CN only without any) */
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, host) != 1 || SSL_set_tlsext_host_name(ssl, host) != 1)
		return STRATA_ENOMEM;
	return 0;
}
