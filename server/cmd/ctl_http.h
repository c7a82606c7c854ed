/*-------------------------------------------------------------------------
 *
 * ctl_http.h
 *	  stratactl's HTTP client for stratad's management API.
 *
 * One blocking HTTP/1.1 request per call, over a fresh connection to
 * "HOST:PORT" (TCP) or "unix:PATH"; it carries the bearer token given to
 * ctl_http_set_token(), if any.  After ctl_http_set_tls(), TCP
 * connections use TLS and the server's certificate must chain to the CA
 * given and name HOST (its address or DNS name, as libpq's verify-full);
 * the unix socket stays plain.  Enough for a command-line tool talking to
 * one API, and nothing more: no redirects, no chunked bodies.  Failures
 * are not printed: callers say what could not be reached, and
 * ctl_http_error() why.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_CTL_HTTP_H
#define STRATA_CTL_HTTP_H

#include <stddef.h>

/*
 * Send method path (with body as application/json, or none if NULL) to
 * addr.  Returns the reply body, NUL-terminated, which the caller frees;
 * NULL if addr is malformed, stratad cannot be reached or the reply is not
 * HTTP.  *status gets the reply's status code (0 if none).
 */
extern char *ctl_http_request(const char *addr, const char *method, const char *path,
							  const char *body, int *status);

/* The same, for a body that may hold NULs: *len gets its length. */
extern char *ctl_http_request_len(const char *addr, const char *method, const char *path,
								  const char *body, int *status, size_t *len);

/* The token every later request sends (copied). */
extern void ctl_http_set_token(const char *token);

/*
 * TLS for every later request over TCP: the CAs in ca_file verify the
 * server; cert_file and key_file (both or neither) are the client's
 * certificate.  0, or -1 having printed why (tls.h's rules for the key).
 */
extern int	ctl_http_set_tls(const char *ca_file, const char *cert_file, const char *key_file);

/* Why the last ctl_http_request() returned NULL (static text). */
extern const char *ctl_http_error(void);

#endif							/* STRATA_CTL_HTTP_H */
