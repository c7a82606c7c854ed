/*-------------------------------------------------------------------------
 *
 * ctl_http.c
 *	  Blocking HTTP/1.1 requests for stratactl (see ctl_http.h).
 *
 * Each request asks for "Connection: close" on a fresh connection and
 * reads the reply until its Content-Length is complete (evhttp sends one
 * with every HTTP/1.1 reply that is not chunked), or else until the
 * server closes.  Over TLS a reply without a length is refused, since an
 * attacker on the path could cut it short unnoticed.
 *
 *-------------------------------------------------------------------------
 */
#include "ctl_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "secret.h"
#include "tls.h"

static char token[SECRET_MAX];	/* sent as a bearer token if set */
static SSL_CTX *tls_ctx;		/* TLS on TCP, or NULL */
static char last_error[600];	/* why the last request got no reply */

/* One connection: the socket, and its TLS session if any. */
struct stream
{
	int			fd;
	SSL		   *ssl;
};

void
ctl_http_set_token(const char *t)
{
	snprintf(token, sizeof(token), "%s", t);
}

int
ctl_http_set_tls(const char *ca_file, const char *cert_file, const char *key_file)
{
	char		why[1024];

	if (tls_client_ctx_new(ca_file, cert_file, key_file, &tls_ctx, why, sizeof(why)) != 0)
	{
		fprintf(stderr, "stratactl: cannot set up TLS: %s\n", why);
		return -1;
	}
	/* stratad closes without close_notify; the reply's length tells truncation apart */
	SSL_CTX_set_options(tls_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	return 0;
}

const char *
ctl_http_error(void)
{
	return last_error;
}

/* A connected socket to addr ("HOST:PORT" or "unix:PATH"), or -1. */
static int
connect_to(const char *addr, char *host, size_t hostlen)
{
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {0},
			   *ai;
	int			fd;
	int			rc;

	if (strncmp(addr, "unix:", 5) == 0)
	{
		struct sockaddr_un sun = {.sun_family = AF_UNIX};

		if (snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", addr + 5) >= (int) sizeof(sun.sun_path) ||
			(fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
		{
			snprintf(last_error, sizeof(last_error), "bad socket path");
			return -1;
		}
		if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) != 0)
		{
			snprintf(last_error, sizeof(last_error), "could not connect: %s", strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}
	if (colon == NULL || colon - addr >= (long) hostlen)
	{
		snprintf(last_error, sizeof(last_error), "bad address (expected HOST:PORT or unix:PATH)");
		return -1;
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
	{
		snprintf(last_error, sizeof(last_error), "could not resolve \"%s\": %s", host,
				 gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
	{
		snprintf(last_error, sizeof(last_error), "could not connect: %s", strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* TLS on s->fd, checking that the server's certificate names host; 0 or -1. */
static int
start_tls(struct stream *s, const char *host)
{
	char		why[512];

	ERR_clear_error();
	if ((s->ssl = SSL_new(tls_ctx)) == NULL || SSL_set_fd(s->ssl, s->fd) != 1 ||
		tls_client_expect(s->ssl, host) != 0)
	{
		snprintf(last_error, sizeof(last_error), "out of memory for TLS");
		return -1;
	}
	if (SSL_connect(s->ssl) != 1)
	{
		tls_failure_text(s->ssl, "TLS handshake failed", why, sizeof(why));
		snprintf(last_error, sizeof(last_error), "%s", why);
		return -1;
	}
	return 0;
}

/* An I/O error on s into last_error: OpenSSL's reason (an alert, say) or errno's. */
static void
stream_failed(struct stream *s, const char *what)
{
	int			save = errno;

	if (s->ssl != NULL && ERR_peek_error() != 0)
		tls_failure_text(s->ssl, what, last_error, sizeof(last_error));
	else
		snprintf(last_error, sizeof(last_error), "%s: %s", what,
				 save ? strerror(save) : "the connection closed");
}

static int
stream_write(struct stream *s, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		n;

		errno = 0;
		ERR_clear_error();
		n = s->ssl ? SSL_write(s->ssl, buf, (int) len) : write(s->fd, buf, len);
		if (n <= 0)
		{
			char		alert;

			/* a server that refused us (TLS 1.3: after our handshake) said why first */
			if (s->ssl != NULL && ERR_peek_error() == 0)
				(void) SSL_read(s->ssl, &alert, 1);
			stream_failed(s, "could not send the request");
			return -1;
		}
		buf += n;
		len -= (size_t) n;
	}
	return 0;
}

/* Up to len bytes; 0 at the end of the stream, -1 on an error. */
static ssize_t
stream_read(struct stream *s, char *buf, size_t len)
{
	int			n;

	errno = 0;
	ERR_clear_error();
	if (s->ssl == NULL)
		return read(s->fd, buf, len);
	if ((n = SSL_read(s->ssl, buf, (int) len)) > 0)
		return n;
	return SSL_get_error(s->ssl, n) == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static void
stream_close(struct stream *s)
{
	SSL_free(s->ssl);
	if (s->fd >= 0)
		close(s->fd);
}

/*
 * Where the body starts in buf (offset), or -1 if the headers are not all
 * here yet; *clen gets Content-Length, or -1 if none, and *chunked
 * whether the body is chunked.
 */
static long
parse_head(const char *buf, long *clen, int *chunked)
{
	const char *end = strstr(buf, "\r\n\r\n");

	*clen = -1;
	*chunked = 0;
	if (end == NULL)
		return -1;
	for (const char *line = strstr(buf, "\r\n"); line != NULL && line < end;
		 line = strstr(line + 2, "\r\n"))
	{
		if (strncasecmp(line + 2, "Content-Length:", 15) == 0)
			*clen = strtol(line + 17, NULL, 10);
		else if (strncasecmp(line + 2, "Transfer-Encoding:", 18) == 0)
			*chunked = 1;
	}
	return end + 4 - buf;
}

/* Why a reply could not be used, into last_error; frees buf, returns NULL. */
static char *
bad_reply(char *buf, const char *why)
{
	snprintf(last_error, sizeof(last_error), "%s", why);
	free(buf);
	return NULL;
}

/*
 * The whole reply into a malloc'd, NUL-terminated buffer of *total bytes
 * (the NUL not counted); NULL on failure.
 */
static char *
read_reply(struct stream *s, size_t *total)
{
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0;
	long		body = -1;		/* where the body starts */
	long		clen = -1;
	int			chunked = 0;

	while (body < 0 || clen < 0 || len - (size_t) body < (size_t) clen)
	{
		ssize_t		n;

		if (len + 4096 + 1 > cap)
		{
			char	   *nb;

			cap = cap ? cap * 2 : 16384;
			if ((nb = realloc(buf, cap)) == NULL)
				return bad_reply(buf, "out of memory");
			buf = nb;
		}
		if ((n = stream_read(s, buf + len, cap - len - 1)) < 0)
		{
			stream_failed(s, "the connection failed while reading the reply");
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t) n;
		buf[len] = '\0';
		if (body < 0 && (body = parse_head(buf, &clen, &chunked)) >= 0 && chunked)
			return bad_reply(buf, "the reply is chunked, which stratactl cannot read");
	}
	if (len == 0)
		return bad_reply(buf, s->ssl ? "the connection closed without a reply" :
						 "the connection closed without a reply (if the API is HTTPS, give --tls-ca)");
	if (body < 0 || strncmp(buf, "HTTP/1.", 7) != 0)
		return bad_reply(buf, "the reply is not HTTP");
	/* over TLS the length is what tells a complete reply from a cut one */
	if ((clen >= 0 && len - (size_t) body < (size_t) clen) || (clen < 0 && s->ssl))
		return bad_reply(buf, "the reply was cut short");
	*total = len;
	return buf;
}

char *
ctl_http_request(const char *addr, const char *method, const char *path,
				 const char *body, int *status)
{
	size_t		len;

	return ctl_http_request_len(addr, method, path, body, status, &len);
}

char *
ctl_http_request_len(const char *addr, const char *method, const char *path,
					 const char *body, int *status, size_t *len)
{
	size_t		total = 0;
	struct stream s = {-1, NULL};
	char		host[128] = "localhost";
	char		req[1024 + SECRET_MAX];
	char		auth[SECRET_MAX + 32] = "";
	char	   *reply = NULL;
	char	   *start;
	size_t		blen = body ? strlen(body) : 0;
	int			is_unix = strncmp(addr, "unix:", 5) == 0;

	*status = 0;
	last_error[0] = '\0';
	if ((s.fd = connect_to(addr, host, sizeof(host))) < 0)
		return NULL;
	if (tls_ctx != NULL && !is_unix && start_tls(&s, host) != 0)
		goto out;
	if (token[0] != '\0')
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
	snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", method, path,
			 is_unix ? "localhost" : addr, auth, blen);
	if (stream_write(&s, req, strlen(req)) == 0 && (blen == 0 || stream_write(&s, body, blen) == 0))
		reply = read_reply(&s, &total);
	explicit_bzero(req, sizeof(req));
	explicit_bzero(auth, sizeof(auth));
	if (reply == NULL)
		goto out;
	start = strstr(reply, "\r\n\r\n");
	*status = atoi(reply + 9);
	*len = total - (size_t) (start + 4 - reply);
	memmove(reply, start + 4, *len + 1);
out:
	stream_close(&s);
	return reply;
}
