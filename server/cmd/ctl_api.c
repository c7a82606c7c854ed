/*-------------------------------------------------------------------------
 *
 * ctl_api.c
 *	  stratactl commands served by the management API (see ctl_api.h).
 *
 * Output formats are an interface: regress/t/ and bench/ scripts parse the
 * rows printed here, so change them only together with those.
 *
 *-------------------------------------------------------------------------
 */
#include "ctl_api.h"

#include <errno.h>
#include <unistd.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ctl_http.h"
#include "options.h"
#include "secret.h"

/* Where the API commands send their requests. */
struct target
{
	const char *http;			/* API address */
	char		tenant[40];		/* defaults: the sidecar's embedded ones */
	char		timeline[40];
};

/*
 * The status file of the sidecar of datadir: DIR/pg_strata/stratad.status
 * if DIR/pg_strata exists, else DIR/stratad.status.  Returns it parsed
 * (caller decrefs) or NULL; dir and path get the names tried.
 */
static json_t *
load_status_file(const char *datadir, char *dir, size_t dirlen, char *path, size_t pathlen)
{
	struct stat st;
	json_error_t jerr;

	snprintf(dir, dirlen, "%s/pg_strata", datadir);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		snprintf(dir, dirlen, "%s", datadir);
	snprintf(path, pathlen, "%s/stratad.status", dir);
	return json_load_file(path, 0, &jerr);
}

/*
 * The API token: from --token-file, else the sidecar directory dir's
 * admin token (NULL: none known).  Never from the command line, which
 * every local user can read.  A file group or others may read is
 * refused, as stratad refuses it; its owner is not checked, so that root
 * may use the postgres user's.  0, or -1 having said why.
 */
static int
load_token(const struct ctl_args *a, const char *dir)
{
	char		path[4200];
	char		token[SECRET_MAX];
	char		why[256];

	if (a->token_file != NULL)
		snprintf(path, sizeof(path), "%s", a->token_file);
	else if (dir != NULL)
		snprintf(path, sizeof(path), "%s/api-token-admin", dir);
	else
		return 0;
	if (secret_read_file(path, 0, token, why, sizeof(why)) != 0)
	{
		fprintf(stderr, "stratactl: cannot use the token file \"%s\": %s\n", path, why);
		return -1;
	}
	ctl_http_set_token(token);
	memset(token, 0, sizeof(token));
	return 0;
}

/*
 * TLS as --tls-* say; st (borrowed, or NULL) is the status file the
 * address came from, which tells whether the API is HTTPS.  0, or -1
 * having said why.
 */
static int
setup_tls(const struct ctl_args *a, json_t *st, const char *http)
{
	if (a->tls_ca == NULL && (a->tls_cert != NULL || a->tls_key != NULL))
	{
		fprintf(stderr, "stratactl: --tls-cert and --tls-key need --tls-ca (the CA that signed "
				"stratad's certificate)\n");
		return -1;
	}
	if (a->tls_ca == NULL && st != NULL && json_is_true(json_object_get(st, "http_tls")) &&
		strncmp(http, "unix:", 5) != 0)
	{
		fprintf(stderr, "stratactl: the management API at %s is HTTPS: give --tls-ca FILE (the "
				"CA that signed stratad's certificate)\n", http);
		return -1;
	}
	if (a->tls_ca == NULL)
		return 0;
	return ctl_http_set_tls(a->tls_ca, a->tls_cert, a->tls_key);
}

/*
 * GET /v1/status from http.  Returns -1, having said so, if stratad does
 * not answer or refuses; else 0 with *api the parsed reply, or NULL (and
 * jerr) if it is not JSON.
 */
static int
fetch_api_status(const char *http, json_t **api, json_error_t *jerr)
{
	int			status;
	char	   *body = ctl_http_request(http, "GET", "/v1/status", NULL, &status);

	*api = NULL;
	if (body == NULL)
	{
		fprintf(stderr, "stratactl: stratad at %s does not answer: %s\n", http, ctl_http_error());
		return -1;
	}
	*api = json_loads(body, 0, jerr);
	free(body);
	if (status != 200)
	{
		const char *msg = *api ? json_string_value(json_object_get(*api, "error")) : NULL;

		fprintf(stderr, "stratactl: GET /v1/status: HTTP %d: %s\n", status, msg ? msg : "(no message)");
		json_decref(*api);
		*api = NULL;
		return -1;
	}
	return 0;
}

static void
print_json(json_t *o)
{
	char	   *t = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

	printf("%s\n", t ? t : "null");
	free(t);
}

int
ctl_status(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	static const char *const keys[] = {"state", "pid", "tenant_id", "timeline_id",
		"system_identifier", "last_record_lsn", "socket", "http_addr", "connections",
		"relations", "layer_files", "layer_bytes", "log_bytes", "uptime_seconds", "import",
	"durability_epoch"};
	const char *http = a->http;
	char		dir[4096];
	char		path[4200];
	json_t	   *st = NULL;
	json_t	   *api = NULL;
	json_error_t jerr;

	(void) cmd;
	(void) argc;				/* operands were always ignored */
	(void) argv;
	if (a->datadir != NULL)
	{
		st = load_status_file(a->datadir, dir, sizeof(dir), path, sizeof(path));
		if (st == NULL && http == NULL)
		{
			fprintf(stderr, "stratactl: no stratad is serving \"%s\" (no readable %s)\n", dir, path);
			return OPT_EXIT_FAIL;
		}
		if (http == NULL)
			http = json_string_value(json_object_get(st, "http_addr"));
	}
	if (http == NULL)
	{
		fprintf(stderr, "stratactl: give -D DATADIR, set PGDATA, or give --http\n");
		json_decref(st);
		return OPT_EXIT_FAIL;
	}
	if (load_token(a, a->datadir ? dir : NULL) != 0 ||
		setup_tls(a, a->http ? NULL : st, http) != 0 || fetch_api_status(http, &api, &jerr) != 0)
	{
		json_decref(st);
		return OPT_EXIT_FAIL;
	}
	if (api == NULL)
	{
		fprintf(stderr, "stratactl: bad JSON from %s: %s\n", http, jerr.text);
		json_decref(st);
		return OPT_EXIT_FAIL;
	}
	if (st != NULL)
	{
		json_object_update_missing(api, st);
		json_decref(st);
	}
	if (a->as_json)
		print_json(api);
	else
	{
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		{
			json_t	   *v = json_object_get(api, keys[i]);

			if (v == NULL)
				continue;
			if (json_is_string(v))
				printf("%-18s %s\n", keys[i], json_string_value(v));
			else if (json_is_integer(v))
				printf("%-18s %lld\n", keys[i], (long long) json_integer_value(v));
		}
	}
	json_decref(api);
	return OPT_EXIT_OK;
}

/* Find the API (and the default ids) from -D / PGDATA or --http. */
static int
resolve(const struct ctl_args *a, struct target *t)
{
	static char addr[128];
	const char *http = a->http;
	char		dir[4096];
	char		path[4200];
	json_t	   *st;
	json_t	   *f = NULL;		/* the status file the address came from */
	json_error_t jerr;
	int			err;

	memset(t, 0, sizeof(*t));
	if (a->datadir != NULL)
	{
		f = load_status_file(a->datadir, dir, sizeof(dir), path, sizeof(path));
		if (f != NULL && http == NULL)
		{
			const char *h = json_string_value(json_object_get(f, "http_addr"));

			snprintf(addr, sizeof(addr), "%s", h ? h : "");
			http = addr;
		}
		else
		{
			json_decref(f);
			f = NULL;
		}
	}
	if (http == NULL || http[0] == '\0')
	{
		fprintf(stderr, "stratactl: give -D DATADIR (of a running stratad), set PGDATA, or give --http\n");
		json_decref(f);
		return -1;
	}
	t->http = http;
	err = load_token(a, a->datadir ? dir : NULL) != 0 || setup_tls(a, f, http) != 0;
	json_decref(f);
	if (err || fetch_api_status(http, &st, &jerr) != 0)
		return -1;
	snprintf(t->tenant, sizeof(t->tenant), "%s",
			 a->tenant ? a->tenant : st ? json_string_value(json_object_get(st, "tenant_id")) : "");
	snprintf(t->timeline, sizeof(t->timeline), "%s",
			 a->timeline ? a->timeline : st ? json_string_value(json_object_get(st, "timeline_id")) : "");
	json_decref(st);
	return 0;
}

/* Call the API; print the error and return NULL unless the status is 2xx. */
static json_t *
api_call(const struct target *t, const char *method, const char *path, json_t *body)
{
	char	   *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int			status;
	char	   *reply = ctl_http_request(t->http, method, path, text, &status);
	json_t	   *o;
	json_error_t jerr;

	free(text);
	if (reply == NULL)
	{
		fprintf(stderr, "stratactl: stratad at %s does not answer: %s\n", t->http,
				ctl_http_error());
		return NULL;
	}
	o = json_loads(reply, 0, &jerr);
	free(reply);
	if (status < 200 || status > 299)
	{
		const char *msg = o ? json_string_value(json_object_get(o, "error")) : NULL;

		fprintf(stderr, "stratactl: %s %s: HTTP %d: %s\n", method, path, status,
				msg ? msg : "(no message)");
		json_decref(o);
		return NULL;
	}
	return o ? o : json_object();
}

static const char *
str(json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : "-";
}

static void
print_tenant(json_t *x)
{
	printf("%-32s  %-8s  generation %lld  timelines %lld\n", str(x, "id"), str(x, "state"),
		   (long long) json_integer_value(json_object_get(x, "generation")),
		   (long long) json_integer_value(json_object_get(x, "timelines")));
}

static void
print_timeline(json_t *tl)
{
	printf("%-32s  %-8s  last %-14s  disk %-14s  gc %-14s  layers %3lld  ancestor %s%s%s\n",
		   str(tl, "timeline_id"), str(tl, "state"), str(tl, "last_record_lsn"),
		   str(tl, "disk_consistent_lsn"), str(tl, "gc_cutoff_lsn"),
		   (long long) json_integer_value(json_object_get(tl, "layer_files")),
		   str(tl, "ancestor_timeline_id"),
		   json_is_string(json_object_get(tl, "ancestor_lsn")) ? "@" : "",
		   json_is_string(json_object_get(tl, "ancestor_lsn")) ? str(tl, "ancestor_lsn") : "");
}

/* A collection the API lists, creates in and deletes from: tenants, timelines. */
struct collection
{
	const char *what;			/* "tenant", "timeline" */
	const char *usage;			/* its subcommands, for a bad one */
	void		(*row) (json_t *);
};

/*
 * list | create [ID] | delete ID on the collection at path (create posts
 * create_body, borrowed).  Prints JSON, rows, or one line for a deletion.
 */
static int
run_collection(const struct target *t, const struct collection *c, const char *path,
			   int argc, char **argv, json_t *create_body, int as_json)
{
	const char *sub = argc > 0 ? argv[0] : "list";
	const char *arg = argc > 1 ? argv[1] : NULL;
	char		item[256];
	json_t	   *r;

	if (strcmp(sub, "list") == 0)
		r = api_call(t, "GET", path, NULL);
	else if (strcmp(sub, "create") == 0)
		r = api_call(t, "POST", path, create_body);
	else if (strcmp(sub, "delete") == 0 && arg)
	{
		snprintf(item, sizeof(item), "%s/%s", path, arg);
		r = api_call(t, "DELETE", item, NULL);
	}
	else
	{
		fprintf(stderr, "stratactl: %s\n", c->usage);
		return OPT_EXIT_USAGE;
	}
	if (r == NULL)
		return OPT_EXIT_FAIL;
	if (as_json)
		print_json(r);
	else if (json_is_array(r))
	{
		size_t		i;
		json_t	   *x;

		json_array_foreach(r, i, x)
			c->row(x);
	}
	else if (strcmp(sub, "create") == 0)
		c->row(r);
	else
		printf("deleted %s %s\n", c->what, arg);
	json_decref(r);
	return OPT_EXIT_OK;
}

/* Whether this invocation is "... create" (the only one with a body). */
static int
is_create(int argc, char **argv)
{
	return argc > 0 && strcmp(argv[0], "create") == 0;
}

int
ctl_tenant(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	static const struct collection tenants = {"tenant",
	"tenant list | create [ID] | delete ID", print_tenant};
	const char *id = argc > 1 ? argv[1] : NULL;
	struct target t;
	json_t	   *body = NULL;
	int			rc;

	(void) cmd;
	if (resolve(a, &t) != 0)
		return OPT_EXIT_FAIL;
	if (is_create(argc, argv))
		body = id ? json_pack("{s:s}", "new_tenant_id", id) : json_object();
	rc = run_collection(&t, &tenants, "/v1/tenant", argc, argv, body, a->as_json);
	json_decref(body);
	return rc;
}

int
ctl_timeline(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	static const struct collection timelines = {"timeline",
	"timeline list | create [ID] [--ancestor ID] [--lsn LSN] | delete ID", print_timeline};
	const char *id = argc > 1 ? argv[1] : NULL;
	struct target t;
	char		path[256];
	json_t	   *body = NULL;
	int			rc;

	(void) cmd;
	if (resolve(a, &t) != 0)
		return OPT_EXIT_FAIL;
	snprintf(path, sizeof(path), "/v1/tenant/%s/timeline", t.tenant);
	if (is_create(argc, argv))
	{
		body = json_object();
		if (id)
			json_object_set_new(body, "new_timeline_id", json_string(id));
		if (a->ancestor)
			json_object_set_new(body, "ancestor_timeline_id", json_string(a->ancestor));
		if (a->lsn)
			json_object_set_new(body, "ancestor_start_lsn", json_string(a->lsn));
	}
	rc = run_collection(&t, &timelines, path, argc, argv, body, a->as_json);
	json_decref(body);
	return rc;
}

static void
print_layers(json_t *r)
{
	size_t		i;
	json_t	   *x;
	long long	total = 0;

	json_array_foreach(json_object_get(r, "layers"), i, x)
	{
		printf("%-5s  %10lld  %s\n", str(x, "kind"),
			   (long long) json_integer_value(json_object_get(x, "layer_file_size")),
			   str(x, "layer_file_name"));
		total += json_integer_value(json_object_get(x, "layer_file_size"));
	}
	json_array_foreach(json_object_get(r, "in_memory_layers"), i, x)
		printf("%-6s in-memory layer from %s, %lld bytes\n", str(x, "state"),
			   str(x, "lsn_start"), (long long) json_integer_value(json_object_get(x, "bytes")));
	printf("%zu layer files, %lld bytes\n", json_array_size(json_object_get(r, "layers")),
		   total);
}

/* layers (GET .../layer) | checkpoint | compact | gc (PUT .../do_gc) */
int
ctl_timeline_op(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	int			layers = strcmp(cmd, "layers") == 0;
	const char *what = layers ? "layer" : strcmp(cmd, "gc") == 0 ? "do_gc" : cmd;
	struct target t;
	char		path[256];
	json_t	   *r;

	(void) argc;				/* operands were always ignored */
	(void) argv;
	if (resolve(a, &t) != 0)
		return OPT_EXIT_FAIL;
	snprintf(path, sizeof(path), "/v1/tenant/%s/timeline/%s/%s", t.tenant, t.timeline, what);
	if ((r = api_call(&t, layers ? "GET" : "PUT", path, NULL)) == NULL)
		return OPT_EXIT_FAIL;
	if (a->as_json)
		print_json(r);
	else if (layers)
		print_layers(r);
	else
		print_timeline(r);
	json_decref(r);
	return OPT_EXIT_OK;
}

static void
print_wal(json_t *r)
{
	const char *keys[] = {"state", "error", "slot", "start_lsn", "end_lsn", "flush_lsn",
	"compute_lsn", "lag_bytes", "segments", "bytes", "received_bytes"};

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
	{
		json_t	   *v = json_object_get(r, keys[i]);

		if (json_is_string(v))
			printf("%-15s %s\n", keys[i], json_string_value(v));
		else if (json_is_integer(v))
			printf("%-15s %lld\n", keys[i], (long long) json_integer_value(v));
	}
}

int
ctl_wal(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	struct target t;
	char		path[256];
	json_t	   *r;

	(void) cmd;
	(void) argv;
	if (argc != 0)
	{
		fprintf(stderr, "stratactl: wal takes no operands\n");
		return OPT_EXIT_USAGE;
	}
	if (resolve(a, &t) != 0)
		return OPT_EXIT_FAIL;
	snprintf(path, sizeof(path), "/v1/tenant/%s/timeline/%s/wal", t.tenant, t.timeline);
	if ((r = api_call(&t, "GET", path, NULL)) == NULL)
		return OPT_EXIT_FAIL;
	if (a->as_json)
		print_json(r);
	else
		print_wal(r);
	json_decref(r);
	return OPT_EXIT_OK;
}

/* 24 upper-case hex digits, as PostgreSQL names segments. */
static int
is_segment_name(const char *s)
{
	return strlen(s) == 24 && strspn(s, "0123456789ABCDEF") == 24;
}

int
ctl_wal_fetch(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	struct target t;
	char		path[256];
	char		tmp[4200];
	char	   *body;
	size_t		len = 0;
	int			status;
	FILE	   *f;

	(void) cmd;
	if (argc != 2)
	{
		fprintf(stderr, "stratactl: wal-fetch takes SEGMENT and DEST\n");
		return OPT_EXIT_USAGE;
	}
	/* recovery asks for timeline history files too: we hold none */
	if (!is_segment_name(argv[0]))
		return OPT_EXIT_FAIL;
	if (resolve(a, &t) != 0)
		return OPT_EXIT_FAIL;
	snprintf(path, sizeof(path), "/v1/tenant/%s/timeline/%s/wal/%s%s", t.tenant, t.timeline,
			 argv[0], a->partial ? "?partial=1" : "");
	body = ctl_http_request_len(t.http, "GET", path, NULL, &status, &len);
	if (body == NULL)
	{
		fprintf(stderr, "stratactl: could not reach stratad at %s: %s\n", t.http, ctl_http_error());
		return OPT_EXIT_FAIL;
	}
	if (status == 404)
	{
		free(body);
		return OPT_EXIT_FAIL;
	}
	if (status != 200)
	{
		fprintf(stderr, "stratactl: wal-fetch %s: HTTP %d: %s\n", argv[0], status, body);
		free(body);
		return OPT_EXIT_FAIL;
	}
	/* DEST appears whole or not at all */
	snprintf(tmp, sizeof(tmp), "%s.strata-tmp", argv[1]);
	if ((f = fopen(tmp, "wb")) == NULL || fwrite(body, 1, len, f) != len || fflush(f) != 0 ||
		fsync(fileno(f)) != 0 || fclose(f) != 0 || rename(tmp, argv[1]) != 0)
	{
		fprintf(stderr, "stratactl: could not write \"%s\": %s\n", argv[1], strerror(errno));
		(void) unlink(tmp);		/* best effort: the error is what matters */
		free(body);
		return OPT_EXIT_FAIL;
	}
	free(body);
	return OPT_EXIT_OK;
}
