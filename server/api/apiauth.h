/*-------------------------------------------------------------------------
 *
 * apiauth.h
 *	  Who may use the management API (ARCHITECTURE.md I20): bearer
 *	  tokens with two scopes, and the Host check against DNS rebinding.
 *
 * Tokens live in stratad's data directory, one per file (secret.h):
 * api-token-admin (every request) and api-token-readonly (reads only:
 * GET of /v1/status, /metrics and the tenant and timeline routes, except
 * a page trace, which shows the compute's access pattern).  The first
 * start creates both with random contents; stratad refuses to start if
 * one exists but is not a 0600 file of its own.  A request presents one
 * as "Authorization: Bearer TOKEN"; tokens are compared in constant time.
 *
 * The Host check: a web page in a browser on the host can make its own
 * name resolve to 127.0.0.1 and then talk to the API as if it were the
 * page's own server; the browser then sends that name as Host.  A request
 * whose Host is neither an IP address, "localhost" nor the listener's own
 * host name, or whose port is not the listener's, is refused; requests
 * without Host (not from a browser) pass.
 *
 * apiauth_load() runs on the main thread before the API thread starts;
 * the rest on the API thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_APIAUTH_H
#define STRATA_APIAUTH_H

#include "secret.h"

enum api_scope
{
	API_SCOPE_NONE,				/* no or a wrong token */
	API_SCOPE_READ,
	API_SCOPE_ADMIN
};

struct apiauth
{
	char		admin[SECRET_MAX];
	char		readonly[SECRET_MAX];
};

/* Load (creating on first start) DATADIR's two token files; logs failures. */
extern int	apiauth_load(struct apiauth *a, const char *datadir);

/* The scope of an Authorization header's value (NULL if absent). */
extern enum api_scope apiauth_scope(const struct apiauth *a, const char *authorization);

/* Whether scope may send a request (is_get: a GET) for path. */
extern int	apiauth_allows(enum api_scope scope, int is_get, const char *path);

/*
 * Whether a Host header (NULL: none) may reach the listener on
 * listen_host (as given to --http) and port.
 */
extern int	apiauth_host_ok(const char *host, const char *listen_host, int port);

/*
 * Whether a refused request from peer (an address) should be logged: true
 * the first time for each of up to 64 peers, then once more to say that
 * further peers are not logged.
 */
extern int	apiauth_log_peer(const char *peer);

#endif							/* STRATA_APIAUTH_H */
