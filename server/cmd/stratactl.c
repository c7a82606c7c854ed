/*-------------------------------------------------------------------------
 *
 * stratactl.c
 *	  Command-line control of stratad: the command table, help, and the
 *	  commands that need no running stratad (import, page-trace).
 *
 *	stratactl [OPTION]... COMMAND [ARG]... [OPTION]...
 *
 * As with PostgreSQL's tools, options may come before or after the
 * command; "stratactl COMMAND --help" and "stratactl help COMMAND" print
 * one command's usage.  The commands that ask a running stratad are in
 * ctl_api.c.  The exit codes (OPT_EXIT_*) are listed in every usage text.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_api.h"
#include "fsutil.h"
#include "identity.h"
#include "import.h"
#include "options.h"
#include "tenant.h"
#include "timeline.h"
#include "trace_summary.h"
#include "strata_err.h"

static int	cmd_import(const char *cmd, const struct ctl_args *a, int argc, char **argv);
static int	cmd_page_trace(const char *cmd, const struct ctl_args *a, int argc, char **argv);
static int	cmd_help(const char *cmd, const struct ctl_args *a, int argc, char **argv);

struct command
{
	const char *name;
	const char *synopsis;		/* after "stratactl " */
	const char *help;			/* what it does, and its options */
	int			(*run) (const char *cmd, const struct ctl_args *a, int argc, char **argv);
};

#define DATADIR_HELP \
	"  -D, --datadir DIR   the compute's data directory (or a sidecar's); default $PGDATA\n"
#define HTTP_HELP \
	"      --http ADDR     ask the management API at ADDR (HOST:PORT or unix:PATH)\n" \
	"                      instead of the status file's\n" \
	"      --token-file F  the API token (default: the data directory's admin token)\n" \
	"      --tls-ca FILE   HTTPS on TCP: stratad's certificate must chain to a CA in\n" \
	"                      FILE and name the host of ADDR\n" \
	"      --tls-cert FILE, --tls-key FILE  our client certificate and its key\n" \
	"                      (key mode 0600)\n"
#define JSON_HELP \
	"      --json          print JSON\n"
#define API_HELP \
	"The management API is found from the status file of the stratad serving\n" \
	"-D DIR, unless --http names it.\n\n"
#define TENANT_HELP \
	"      --tenant ID     the tenant (default: the one stratad serves)\n"
#define TIMELINE_HELP \
	"      --timeline ID   the timeline (default: the one stratad serves)\n"
#define TIMELINE_OP_HELP \
	API_HELP "Options:\n" DATADIR_HELP HTTP_HELP TENANT_HELP TIMELINE_HELP JSON_HELP

static const struct command commands[] = {
	{"status", "status [-D DATADIR] [--json] [--http HOST:PORT]",
		"Show the state of the stratad serving DATADIR: its status file merged with\n"
		"what its management API reports.\n\n"
		"Options:\n" DATADIR_HELP JSON_HELP HTTP_HELP,
	ctl_status},
	{"import", "import -D PGDATA",
		"Import the relation files of the stopped compute at PGDATA into its sidecar\n"
		"(PGDATA/pg_strata), offline, as the first start on strata would.\n\n"
		"Options:\n"
		"  -D, --datadir DIR   the compute's data directory; default $PGDATA\n",
	cmd_import},
	{"tenant", "tenant list | create [ID] | delete ID",
		"List, create or delete tenants.\n\n" API_HELP
		"Options:\n" DATADIR_HELP HTTP_HELP JSON_HELP,
	ctl_tenant},
	{"timeline", "timeline list | create [ID] [--ancestor ID] [--lsn LSN] | delete ID",
		"List, create (or branch) or delete the timelines of a tenant.\n\n" API_HELP
		"Options:\n" DATADIR_HELP HTTP_HELP TENANT_HELP
		"      --ancestor ID   create: branch from this timeline\n"
		"      --lsn LSN       create: ... at this LSN (default: its newest)\n" JSON_HELP,
	ctl_timeline},
	{"layers", "layers [--timeline ID]",
		"List a timeline's layer files and in-memory layers.\n\n" TIMELINE_OP_HELP,
	ctl_timeline_op},
	{"checkpoint", "checkpoint [--timeline ID]",
		"Freeze and flush a timeline's open layer into a layer file.\n\n" TIMELINE_OP_HELP,
	ctl_timeline_op},
	{"compact", "compact [--timeline ID]",
		"Run compaction on a timeline now.\n\n" TIMELINE_OP_HELP,
	ctl_timeline_op},
	{"gc", "gc [--timeline ID]",
		"Run garbage collection on a timeline now.\n\n" TIMELINE_OP_HELP,
	ctl_timeline_op},
	{"wal", "wal [--timeline ID] [--json]",
		"Show the WAL service of a timeline: the receiver's state, the WAL range\n"
		"stored, how far behind the compute it is.\n\n" TIMELINE_OP_HELP,
	ctl_wal},
	{"wal-fetch", "wal-fetch SEGMENT DEST [--partial]",
		"Write WAL segment SEGMENT (a name as in pg_wal) as stored by stratad to\n"
		"DEST, byte for byte, for restore_command:\n"
		"  restore_command = 'stratactl wal-fetch %f %p -D /path/to/pgdata'\n"
		"Exit status 1 (and DEST untouched) when stratad does not hold the segment\n"
		"whole, or when SEGMENT is not a segment name (a .history file, say).\n\n"
		API_HELP "Options:\n" DATADIR_HELP HTTP_HELP TENANT_HELP TIMELINE_HELP
		"      --partial       the newest segment too, up to what stratad has synced\n"
		"                      and zeros after it\n",
	ctl_wal_fetch},
	{"page-trace", "page-trace FILE [--top N] [--json]",
		"Summarize a trace saved from GET .../timeline/{tl}/page_trace: requests and\n"
		"errors, requests per relation, the hottest blocks, the rate over time.\n\n"
		"Options:\n"
		"      --top N         entries per list (default 10)\n" JSON_HELP,
	cmd_page_trace},
	{"help", "help [COMMAND]",
		"Show the usage of stratactl, or of one command.\n",
	cmd_help},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char exit_status_help[] =
	"\nExit status:\n"
	"  0   success\n"
	"  1   the operation failed (no stratad found or answering, the API refused,\n"
	"      the import or the trace could not be read)\n"
	"  2   bad usage (unknown command or option, missing or bad argument)\n";

static const struct command *
find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
usage(FILE *f)
{
	fprintf(f, "stratactl: control the strata sidecar\n\nUsage:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  stratactl %s\n", commands[i].synopsis);
	fprintf(f,
			"      (page-trace summarizes a trace saved from GET .../timeline/{tl}/page_trace)\n"
			"      (tenant ... gc ask the management API; --tenant ID picks a tenant, the\n"
			"       default tenant and timeline are the sidecar's embedded ones)\n\n"
			"Options may come before or after the command.\n"
			DATADIR_HELP JSON_HELP HTTP_HELP
			"  -V, --version       print the version and exit\n"
			"  -h, --help          show this help, or with a command, its usage\n\n"
			"Run \"stratactl COMMAND --help\" or \"stratactl help COMMAND\" for a command's usage.\n");
	fputs(exit_status_help, f);
}

static void
command_usage(const struct command *c, FILE *f)
{
	fprintf(f, "Usage:\n  stratactl %s\n\n%s", c->synopsis, c->help);
	fputs(exit_status_help, f);
}

static int
cmd_help(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	const struct command *c;

	(void) cmd;
	(void) a;
	if (argc == 0)
	{
		usage(stdout);
		return OPT_EXIT_OK;
	}
	if ((c = find_command(argv[0])) == NULL)
	{
		fprintf(stderr, "stratactl: unknown command \"%s\"\n", argv[0]);
		return OPT_EXIT_USAGE;
	}
	command_usage(c, stdout);
	return OPT_EXIT_OK;
}

static int
cmd_page_trace(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	(void) cmd;
	if (argc != 1 || a->top < 1)
	{
		fprintf(stderr, "stratactl: page-trace needs one FILE (and --top N >= 1)\n");
		return OPT_EXIT_USAGE;
	}
	return trace_summary(argv[0], stdout, a->top, a->as_json);
}

static int
cmd_import(const char *cmd, const struct ctl_args *a, int argc, char **argv)
{
	const char *pgdata = a->datadir;
	char		dir[4096];
	struct identity id;
	struct registry *reg;
	struct tl_conf conf;
	uint64_t	pages;
	int			fd;
	int			err;

	(void) cmd;
	(void) argc;				/* operands were always ignored */
	(void) argv;
	if (pgdata == NULL)
	{
		fprintf(stderr, "stratactl: import needs -D PGDATA\n");
		return OPT_EXIT_USAGE;
	}
	snprintf(dir, sizeof(dir), "%s/pg_strata", pgdata);
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		fprintf(stderr, "stratactl: could not create \"%s\": %s\n", dir, strerror(errno));
		return OPT_EXIT_FAIL;
	}
	fd = fs_lock_pidfile(dir, 0);
	if (fd < 0)
	{
		fprintf(stderr, "stratactl: could not lock \"%s\"; stop the compute first\n", dir);
		return OPT_EXIT_FAIL;
	}
	tl_conf_default(&conf);
	if (identity_load(dir, &id) != 0 || registry_open(dir, NULL, &conf, &reg) != 0 ||
		registry_ensure_timeline(reg, id.tenant, id.timeline) != 0)
	{
		fprintf(stderr, "stratactl: could not open \"%s\" (see the messages above)\n", dir);
		return OPT_EXIT_FAIL;
	}
	err = import_run(reg, &id, dir, pgdata, isatty(2), &pages);
	registry_close(reg, 0);
	close(fd);
	if (err != 0)
	{
		fprintf(stderr, "stratactl: import failed: %s\n", strata_strerror(err));
		return OPT_EXIT_FAIL;
	}
	printf("imported %llu pages; the import is %s\n", (unsigned long long) pages,
		   identity_import_name(id.import));
	return OPT_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct ctl_args a = {.datadir = getenv("PGDATA"), .top = 10};
	const struct opt_spec opts[] = {
		OPT("datadir", 'D', OPT_STRING, &a.datadir),
		OPT("json", 0, OPT_FLAG, &a.as_json),
		OPT("http", 0, OPT_STRING, &a.http),
		OPT("token-file", 0, OPT_STRING, &a.token_file),
		OPT("tls-ca", 0, OPT_STRING, &a.tls_ca),
		OPT("tls-cert", 0, OPT_STRING, &a.tls_cert),
		OPT("tls-key", 0, OPT_STRING, &a.tls_key),
		OPT("tenant", 0, OPT_STRING, &a.tenant),
		OPT("timeline", 0, OPT_STRING, &a.timeline),
		OPT("ancestor", 0, OPT_STRING, &a.ancestor),
		OPT("lsn", 0, OPT_STRING, &a.lsn),
		OPT("top", 0, OPT_INT, &a.top),
		OPT("partial", 0, OPT_FLAG, &a.partial),
		OPT("help", 'h', OPT_HELP, NULL),
		OPT("version", 'V', OPT_VERSION, NULL),
		OPT_END,
	};
	const struct command *c = NULL;
	enum opt_result r;
	int			n;

	if (argc < 2)
	{
		usage(stderr);
		return OPT_EXIT_USAGE;
	}
	/* a server that closed on us is an error to report, not a reason to die */
	signal(SIGPIPE, SIG_IGN);
	r = opt_parse("stratactl", opts, argc, argv, &n);
	if (n > 0 && (c = find_command(argv[1])) == NULL)
	{
		fprintf(stderr, "stratactl: unknown command \"%s\"\n", argv[1]);
		usage(stderr);
		return OPT_EXIT_USAGE;
	}
	switch (r)
	{
		case OPT_DONE:
			break;
		case OPT_SHOW_HELP:
			if (c != NULL)
				command_usage(c, stdout);
			else
				usage(stdout);
			return OPT_EXIT_OK;
		case OPT_SHOW_VERSION:
			printf("stratactl (strata) %s\n", STRATA_VERSION);
			return OPT_EXIT_OK;
		case OPT_BAD_USAGE:
		case OPT_BAD_VALUE:
			if (c != NULL)
				command_usage(c, stderr);
			else
				usage(stderr);
			return OPT_EXIT_USAGE;
	}
	if (c == NULL)
	{
		fprintf(stderr, "stratactl: no command given\n");
		usage(stderr);
		return OPT_EXIT_USAGE;
	}
	return c->run(c->name, &a, n - 1, argv + 2);
}
