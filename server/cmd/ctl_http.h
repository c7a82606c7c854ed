/*-------------------------------------------------------------------------
 *
 * ctl_http.h
 *	  stratactl's HTTP client for stratad's management API.
 *
 * One blocking HTTP/1.0 request per call, over a fresh connection to
 * "HOST:PORT" (TCP) or "unix:PATH"; it carries the bearer token given to
 * ctl_http_set_token(), if any.  The reply is read until the server closes.  Enough for a
 * command-line tool talking to one local API, and nothing more: no TLS,
 * no redirects, no chunked bodies.  Failures are not printed: callers
 * say what could not be reached.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_CTL_HTTP_H
#define STRATA_CTL_HTTP_H

/*
 * Send method path (with body as application/json, or none if NULL) to
 * addr.  Returns the reply body, NUL-terminated, which the caller frees;
 * NULL if addr is malformed, stratad cannot be reached or the reply is not
 * HTTP.  *status gets the reply's status code (0 if none).
 */
extern char *ctl_http_request(const char *addr, const char *method, const char *path,
							  const char *body, int *status);

/* The token every later request sends (copied). */
extern void ctl_http_set_token(const char *token);

#endif							/* STRATA_CTL_HTTP_H */
