/*-------------------------------------------------------------------------
 *
 * apiauth.c
 *	  Bearer tokens, scopes and the Host check of the API (see apiauth.h).
 *
 *-------------------------------------------------------------------------
 */
#include "apiauth.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "slog.h"
#include "strata_err.h"

#define LOGGED_PEERS 64

static int
load_one(const char *datadir, const char *scope, char *token)
{
	char		path[4200];
	char		why[256];
	int			err;

	snprintf(path, sizeof(path), "%s/api-token-%s", datadir, scope);
	err = secret_read_file(path, 1, token, why, sizeof(why));
	if (err == STRATA_ENOTFOUND)
	{
		err = secret_create_file(path, token, why, sizeof(why));
		if (err == 0)
			slog(SLOG_INFO, "api: created the %s token in \"%s\"", scope, path);
	}
	if (err != 0)
		slog(SLOG_ERROR, "api: refusing the token file \"%s\": %s", path, why);
	return err;
}

int
apiauth_load(struct apiauth *a, const char *datadir)
{
	int			err;

	if ((err = load_one(datadir, "admin", a->admin)) != 0 ||
		(err = load_one(datadir, "readonly", a->readonly)) != 0)
		return err;
	if (secret_equal(a->admin, a->readonly))
	{
		slog(SLOG_ERROR, "api: the admin and read-only tokens in \"%s\" are the same", datadir);
		return STRATA_EINVAL;
	}
	return 0;
}

enum api_scope
apiauth_scope(const struct apiauth *a, const char *authorization)
{
	const char *tok;
	int			is_admin;
	int			is_read;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return API_SCOPE_NONE;
	tok = authorization + 7;
	while (*tok == ' ')
		tok++;
	/* both compared, so the time says nothing about which one matched */
	is_admin = secret_equal(tok, a->admin);
	is_read = secret_equal(tok, a->readonly);
	return is_admin ? API_SCOPE_ADMIN : is_read ? API_SCOPE_READ : API_SCOPE_NONE;
}

int
apiauth_allows(enum api_scope scope, int is_get, const char *path)
{
	size_t		len = strlen(path);
	const char *trace = "/page_trace";

	if (scope == API_SCOPE_ADMIN)
		return 1;
	if (scope != API_SCOPE_READ || !is_get)
		return 0;
	return !(len >= strlen(trace) && strcmp(path + len - strlen(trace), trace) == 0);
}

int
apiauth_host_ok(const char *host, const char *listen_host, int port)
{
	char		name[256];
	const char *p;
	const char *end;
	long		hport = 80;
	unsigned char addr[16];

	if (host == NULL)
		return 1;
	if (host[0] == '[')
	{
		if ((end = strchr(host, ']')) == NULL)
			return 0;
		p = end + 1;
		host++;
	}
	else
	{
		end = strchr(host, ':');
		if (end == NULL)
			end = host + strlen(host);
		p = end;
	}
	if ((size_t) (end - host) >= sizeof(name) || end == host)
		return 0;
	memcpy(name, host, end - host);
	name[end - host] = '\0';
	if (*p == ':')
	{
		char	   *stop;

		hport = strtol(p + 1, &stop, 10);
		if (stop == p + 1 || *stop != '\0')
			return 0;
	}
	else if (*p != '\0')
		return 0;
	if (hport != port)
		return 0;
	/* an address cannot be rebound; neither can the names we listen on */
	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1 ||
		strcasecmp(name, "localhost") == 0 || strcasecmp(name, listen_host) == 0;
}

int
apiauth_log_peer(const char *peer)
{
	static char *seen[LOGGED_PEERS];
	static int	nseen;
	static int	overflow_said;

	for (int i = 0; i < nseen; i++)
		if (strcmp(seen[i], peer) == 0)
			return 0;
	if (nseen == LOGGED_PEERS || (seen[nseen] = strdup(peer)) == NULL)
	{
		if (overflow_said)
			return 0;
		overflow_said = 1;
		slog(SLOG_WARNING, "api: refused requests from more than %d peers; no longer logging "
			 "new ones", LOGGED_PEERS);
		return 0;
	}
	nseen++;
	return 1;
}
