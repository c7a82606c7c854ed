/*-------------------------------------------------------------------------
 *
 * stratactl.c
 *	  Command-line control of stratad.
 *
 *	stratactl status [-D DATADIR] [--json] [--http HOST:PORT]
 *	stratactl import -D PGDATA
 *	stratactl page-trace FILE [--top N] [--json]
 *
 * -D names the compute's data directory (its sidecar lives in
 * DATADIR/pg_strata) or a sidecar data directory itself; PGDATA is the
 * default.
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fsutil.h"
#include "identity.h"
#include "import.h"
#include "slog.h"
#include "tenant.h"
#include "timeline.h"
#include "trace_summary.h"
#include "strata_err.h"

static void
usage(FILE *f)
{
	fprintf(f,
			"stratactl: control the strata sidecar\n\n"
			"Usage:\n"
			"  stratactl status [-D DATADIR] [--json] [--http HOST:PORT]\n"
			"  stratactl import -D PGDATA\n"
			"  stratactl tenant list | create [ID] | delete ID\n"
			"  stratactl timeline list | create [ID] [--ancestor ID] [--lsn LSN] | delete ID\n"
			"  stratactl layers | checkpoint | compact | gc [--timeline ID]\n"
			"  stratactl page-trace FILE [--top N] [--json]\n"
			"      (summarize a trace saved from GET .../timeline/{tl}/page_trace)\n"
			"      (these ask the management API; --tenant ID picks a tenant, the\n"
			"       default tenant and timeline are the sidecar's embedded ones)\n\n"
			"  -D, --datadir DIR   the compute's data directory (or a sidecar's); default $PGDATA\n"
			"      --json          print JSON\n"
			"      --http ADDR     ask the management API at ADDR instead of the status file's\n"
			"  -h, --help          show this help\n");
}

/* The sidecar directory for -D: DIR/pg_strata if it exists, else DIR. */
static void
sidecar_dir(const char *d, char *out, size_t len)
{
	struct stat st;

	snprintf(out, len, "%s/pg_strata", d);
	if (stat(out, &st) != 0 || !S_ISDIR(st.st_mode))
		snprintf(out, len, "%s", d);
}

/*
 * Blocking HTTP/1.0 request; returns the malloc'd body (NULL if stratad
 * cannot be reached) and the status code in *status.
 */
static char *
http_request(const char *addr, const char *method, const char *path, const char *body,
			 int *status)
{
	char		host[128];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {0},
			   *ai;
	int			fd;
	char		req[1024];
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0;
	char	   *start;
	size_t		blen = body ? strlen(body) : 0;

	*status = 0;
	if (colon == NULL || colon - addr >= (long) sizeof(host))
		return NULL;
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0)
		return NULL;
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
	{
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return NULL;
	}
	freeaddrinfo(ai);
	snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\n\r\n", method, path, addr, blen);
	if (write(fd, req, strlen(req)) != (ssize_t) strlen(req) ||
		(blen > 0 && write(fd, body, blen) != (ssize_t) blen))
	{
		close(fd);
		return NULL;
	}
	for (;;)
	{
		ssize_t		n;

		if (len + 4096 + 1 > cap)
		{
			char	   *nb;

			cap = cap ? cap * 2 : 16384;
			if ((nb = realloc(buf, cap)) == NULL)
			{
				free(buf);
				close(fd);
				return NULL;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t) n;
	}
	close(fd);
	if (buf == NULL)
		return NULL;
	buf[len] = '\0';
	start = strstr(buf, "\r\n\r\n");
	if (start == NULL || strncmp(buf, "HTTP/1.", 7) != 0)
	{
		free(buf);
		return NULL;
	}
	*status = atoi(buf + 9);
	memmove(buf, start + 4, strlen(start + 4) + 1);
	return buf;
}

static char *
http_get(const char *addr, const char *path)
{
	int			status;
	char	   *body = http_request(addr, "GET", path, NULL, &status);

	if (body != NULL && status != 200)
	{
		free(body);
		return NULL;
	}
	return body;
}

static int
cmd_status(const char *datadir, const char *http, int as_json)
{
	char		dir[4096];
	char		path[4200];
	json_t	   *st = NULL;
	json_t	   *api = NULL;
	json_error_t jerr;
	char	   *body;

	if (datadir != NULL)
	{
		sidecar_dir(datadir, dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/stratad.status", dir);
		st = json_load_file(path, 0, &jerr);
		if (st == NULL && http == NULL)
		{
			fprintf(stderr, "stratactl: no stratad is serving \"%s\" (no readable %s)\n", dir, path);
			return 1;
		}
		if (http == NULL)
			http = json_string_value(json_object_get(st, "http_addr"));
	}
	if (http == NULL)
	{
		fprintf(stderr, "stratactl: give -D DATADIR, set PGDATA, or give --http\n");
		return 1;
	}
	body = http_get(http, "/v1/status");
	if (body == NULL)
	{
		fprintf(stderr, "stratactl: stratad at %s does not answer\n", http);
		json_decref(st);
		return 1;
	}
	api = json_loads(body, 0, &jerr);
	free(body);
	if (api == NULL)
	{
		fprintf(stderr, "stratactl: bad JSON from %s: %s\n", http, jerr.text);
		json_decref(st);
		return 1;
	}
	if (st != NULL)
	{
		json_object_update_missing(api, st);
		json_decref(st);
	}
	if (as_json)
	{
		char	   *t = json_dumps(api, JSON_INDENT(2) | JSON_SORT_KEYS);

		printf("%s\n", t);
		free(t);
	}
	else
	{
		const char *keys[] = {"state", "pid", "tenant_id", "timeline_id", "system_identifier",
			"last_record_lsn", "socket", "http_addr", "connections", "relations",
		"layer_files", "layer_bytes", "log_bytes", "uptime_seconds", "import", "durability_epoch"};

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
	return 0;
}

static int
cmd_import(const char *pgdata)
{
	char		dir[4096];
	struct identity id;
	struct registry *reg;
	struct tl_conf conf;
	uint64_t	pages;
	int			fd;
	int			err;

	snprintf(dir, sizeof(dir), "%s/pg_strata", pgdata);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		fprintf(stderr, "stratactl: could not create \"%s\": %s\n", dir, strerror(errno));
		return 1;
	}
	fd = fs_lock_pidfile(dir, 0);
	if (fd < 0)
	{
		fprintf(stderr, "stratactl: could not lock \"%s\"; stop the compute first\n", dir);
		return 1;
	}
	tl_conf_default(&conf);
	if (identity_load(dir, &id) != 0 || registry_open(dir, NULL, &conf, &reg) != 0 ||
		registry_ensure_timeline(reg, id.tenant, id.timeline) != 0)
	{
		fprintf(stderr, "stratactl: could not open \"%s\" (see the messages above)\n", dir);
		return 1;
	}
	err = import_run(reg, &id, dir, pgdata, isatty(2), &pages);
	registry_close(reg, 0);
	close(fd);
	if (err != 0)
	{
		fprintf(stderr, "stratactl: import failed: %s\n", strata_strerror(err));
		return 1;
	}
	printf("imported %llu pages; the import is %s\n", (unsigned long long) pages,
		   identity_import_name(id.import));
	return 0;
}

/* ---------- tenants, timelines, layers: the management API ---------- */

struct target
{
	const char *http;			/* API address */
	char		tenant[40];		/* defaults: the sidecar's embedded ones */
	char		timeline[40];
};

/* Find the API (and the default ids) from -D / PGDATA or --http. */
static int
resolve(const char *datadir, const char *http, const char *tenant, const char *timeline,
		struct target *t)
{
	static char addr[128];
	char	   *body;
	json_t	   *st;
	json_error_t jerr;

	memset(t, 0, sizeof(*t));
	if (http == NULL && datadir != NULL)
	{
		char		dir[4096];
		char		path[4200];
		json_t	   *f;

		sidecar_dir(datadir, dir, sizeof(dir));
		snprintf(path, sizeof(path), "%s/stratad.status", dir);
		if ((f = json_load_file(path, 0, &jerr)) != NULL)
		{
			snprintf(addr, sizeof(addr), "%s", json_string_value(json_object_get(f, "http_addr")) ?
					 json_string_value(json_object_get(f, "http_addr")) : "");
			json_decref(f);
			http = addr;
		}
	}
	if (http == NULL || http[0] == '\0')
	{
		fprintf(stderr, "stratactl: give -D DATADIR (of a running stratad), set PGDATA, or give --http\n");
		return -1;
	}
	t->http = http;
	if ((body = http_get(http, "/v1/status")) == NULL)
	{
		fprintf(stderr, "stratactl: stratad at %s does not answer\n", http);
		return -1;
	}
	st = json_loads(body, 0, &jerr);
	free(body);
	snprintf(t->tenant, sizeof(t->tenant), "%s",
			 tenant ? tenant : st ? json_string_value(json_object_get(st, "tenant_id")) : "");
	snprintf(t->timeline, sizeof(t->timeline), "%s",
			 timeline ? timeline : st ? json_string_value(json_object_get(st, "timeline_id")) : "");
	json_decref(st);
	return 0;
}

/* Call the API; print the error and return NULL unless the status is 2xx. */
static json_t *
api_call(const struct target *t, const char *method, const char *path, json_t *body)
{
	char	   *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	int			status;
	char	   *reply = http_request(t->http, method, path, text, &status);
	json_t	   *o;
	json_error_t jerr;

	free(text);
	if (reply == NULL)
	{
		fprintf(stderr, "stratactl: stratad at %s does not answer\n", t->http);
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

static void
print_json(json_t *o)
{
	char	   *t = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);

	printf("%s\n", t ? t : "null");
	free(t);
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

static void print_timeline(json_t *tl);

/* The reply of a list, create or delete: JSON, rows, or one line. */
static void
show(json_t *r, int as_json, void (*row) (json_t *), const char *sub, const char *what,
	 const char *id)
{
	if (as_json)
		print_json(r);
	else if (json_is_array(r))
	{
		size_t		i;
		json_t	   *x;

		json_array_foreach(r, i, x)
			row(x);
	}
	else if (strcmp(sub, "create") == 0)
		row(r);
	else
		printf("deleted %s %s\n", what, id);
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

/*
 * tenant list | create [ID] | delete ID
 * timeline list | create [ID] [--ancestor ID] [--lsn LSN] | delete ID
 * layers | checkpoint | compact | gc
 */
static int
cmd_api(const char *cmd, int argc, char **argv, const struct target *t, const char *ancestor,
		const char *lsn, int as_json)
{
	const char *sub = argc > 0 ? argv[0] : "list";
	const char *arg = argc > 1 ? argv[1] : NULL;
	char		path[256];
	json_t	   *r = NULL;
	json_t	   *body = NULL;

	if (strcmp(cmd, "tenant") == 0)
	{
		if (strcmp(sub, "list") == 0)
			r = api_call(t, "GET", "/v1/tenant", NULL);
		else if (strcmp(sub, "create") == 0)
		{
			body = arg ? json_pack("{s:s}", "new_tenant_id", arg) : json_object();
			r = api_call(t, "POST", "/v1/tenant", body);
		}
		else if (strcmp(sub, "delete") == 0 && arg)
		{
			snprintf(path, sizeof(path), "/v1/tenant/%s", arg);
			r = api_call(t, "DELETE", path, NULL);
		}
		else
		{
			fprintf(stderr, "stratactl: tenant list | create [ID] | delete ID\n");
			return 2;
		}
		if (r == NULL)
			return 1;
		show(r, as_json, print_tenant, sub, "tenant", arg);
	}
	else if (strcmp(cmd, "timeline") == 0)
	{
		snprintf(path, sizeof(path), "/v1/tenant/%s/timeline", t->tenant);
		if (strcmp(sub, "list") == 0)
			r = api_call(t, "GET", path, NULL);
		else if (strcmp(sub, "create") == 0)
		{
			body = json_object();
			if (arg)
				json_object_set_new(body, "new_timeline_id", json_string(arg));
			if (ancestor)
				json_object_set_new(body, "ancestor_timeline_id", json_string(ancestor));
			if (lsn)
				json_object_set_new(body, "ancestor_start_lsn", json_string(lsn));
			r = api_call(t, "POST", path, body);
		}
		else if (strcmp(sub, "delete") == 0 && arg)
		{
			snprintf(path, sizeof(path), "/v1/tenant/%s/timeline/%s", t->tenant, arg);
			r = api_call(t, "DELETE", path, NULL);
		}
		else
		{
			fprintf(stderr, "stratactl: timeline list | create [ID] [--ancestor ID] [--lsn LSN] | delete ID\n");
			return 2;
		}
		if (r == NULL)
			return 1;
		show(r, as_json, print_timeline, sub, "timeline", arg);
	}
	else
	{
		const char *method = strcmp(cmd, "layers") == 0 ? "GET" : "PUT";
		const char *what = strcmp(cmd, "layers") == 0 ? "layer" :
			strcmp(cmd, "gc") == 0 ? "do_gc" : cmd;

		snprintf(path, sizeof(path), "/v1/tenant/%s/timeline/%s/%s", t->tenant, t->timeline, what);
		if ((r = api_call(t, method, path, NULL)) == NULL)
			return 1;
		if (as_json)
			print_json(r);
		else if (strcmp(cmd, "layers") == 0)
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
		else
			print_timeline(r);
	}
	json_decref(r);
	json_decref(body);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"datadir", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 1},
		{"http", required_argument, NULL, 2},
		{"tenant", required_argument, NULL, 3},
		{"timeline", required_argument, NULL, 4},
		{"ancestor", required_argument, NULL, 5},
		{"lsn", required_argument, NULL, 6},
		{"top", required_argument, NULL, 7},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd;
	const char *datadir = getenv("PGDATA");
	const char *http = NULL;
	const char *tenant = NULL;
	const char *timeline = NULL;
	const char *ancestor = NULL;
	const char *lsn = NULL;
	int			as_json = 0;
	int			top = 10;
	int			c;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
	{
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "D:h", opts, NULL)) != -1)
	{
		switch (c)
		{
			case 'D':
				datadir = optarg;
				break;
			case 1:
				as_json = 1;
				break;
			case 2:
				http = optarg;
				break;
			case 3:
				tenant = optarg;
				break;
			case 4:
				timeline = optarg;
				break;
			case 5:
				ancestor = optarg;
				break;
			case 6:
				lsn = optarg;
				break;
			case 7:
				top = atoi(optarg);
				break;
			case 'h':
				usage(stdout);
				return 0;
			default:
				usage(stderr);
				return 2;
		}
	}
	if (strcmp(cmd, "status") == 0)
		return cmd_status(datadir, http, as_json);
	if (strcmp(cmd, "page-trace") == 0)
	{
		if (optind != argc - 1 || top < 1)
		{
			fprintf(stderr, "stratactl: page-trace needs one FILE (and --top N >= 1)\n");
			return 2;
		}
		return trace_summary(argv[optind], stdout, top, as_json);
	}
	if (strcmp(cmd, "import") == 0)
	{
		if (datadir == NULL)
		{
			fprintf(stderr, "stratactl: import needs -D PGDATA\n");
			return 2;
		}
		return cmd_import(datadir);
	}
	if (strcmp(cmd, "tenant") == 0 || strcmp(cmd, "timeline") == 0 ||
		strcmp(cmd, "layers") == 0 || strcmp(cmd, "checkpoint") == 0 ||
		strcmp(cmd, "compact") == 0 || strcmp(cmd, "gc") == 0)
	{
		struct target t;

		if (resolve(datadir, http, tenant, timeline, &t) != 0)
			return 1;
		return cmd_api(cmd, argc - optind, argv + optind, &t, ancestor, lsn, as_json);
	}
	fprintf(stderr, "stratactl: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
