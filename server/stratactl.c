/*-------------------------------------------------------------------------
 *
 * stratactl.c
 *	  Command-line control of stratad.
 *
 *	stratactl status [-D DATADIR] [--json] [--http HOST:PORT]
 *	stratactl import -D PGDATA
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
#include "strata_err.h"

static void
usage(FILE *f)
{
	fprintf(f,
			"stratactl: control the strata sidecar\n\n"
			"Usage:\n"
			"  stratactl status [-D DATADIR] [--json] [--http HOST:PORT]\n"
			"  stratactl import -D PGDATA\n\n"
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

/* Blocking HTTP/1.0 GET; returns the malloc'd body or NULL. */
static char *
http_get(const char *addr, const char *path)
{
	char		host[128];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints = {0},
			   *ai;
	int			fd;
	char		req[256];
	char	   *buf = NULL;
	size_t		len = 0,
				cap = 0;
	char	   *body;

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
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, addr);
	if (write(fd, req, strlen(req)) != (ssize_t) strlen(req))
	{
		close(fd);
		return NULL;
	}
	for (;;)
	{
		ssize_t		n;

		if (len + 4096 + 1 > cap)
		{
			cap = cap ? cap * 2 : 16384;
			buf = realloc(buf, cap);
			if (buf == NULL)
			{
				close(fd);
				return NULL;
			}
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
	body = strstr(buf, "\r\n\r\n");
	if (body == NULL || strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 9, "200", 3) != 0)
	{
		free(buf);
		return NULL;
	}
	memmove(buf, body + 4, strlen(body + 4) + 1);
	return buf;
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
		"pages", "log_bytes", "uptime_seconds", "import", "durability_epoch"};

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

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"datadir", required_argument, NULL, 'D'},
		{"json", no_argument, NULL, 1},
		{"http", required_argument, NULL, 2},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *cmd;
	const char *datadir = getenv("PGDATA");
	const char *http = NULL;
	int			as_json = 0;
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
	if (strcmp(cmd, "import") == 0)
	{
		if (datadir == NULL)
		{
			fprintf(stderr, "stratactl: import needs -D PGDATA\n");
			return 2;
		}
		return cmd_import(datadir);
	}
	fprintf(stderr, "stratactl: unknown command \"%s\"\n", cmd);
	usage(stderr);
	return 2;
}
