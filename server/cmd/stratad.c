/*-------------------------------------------------------------------------
 *
 * stratad.c
 *	  The strata sidecar: options, startup, the event loop, shutdown.
 *
 * Startup: lock DATADIR/stratad.pid, load the identity, open and replay
 * the page log, import the compute's files if asked (before serving),
 * listen, write DATADIR/stratad.status, start the management API's thread
 * (http.h), then run the page-service loop on this thread.  Shutdown on
 * SIGTERM/SIGINT or EOF on --postmaster-fd: stop and join the API thread,
 * stop accepting, commit pending writes, sync the log, remove the socket
 * and status file.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "fio.h"
#include "fsutil.h"
#include "http.h"
#include "codec.h"
#include "identity.h"
#include "import.h"
#include "loopcall.h"
#include "options.h"
#include "pagesvc.h"
#include "secret.h"
#include "server.h"
#include "slog.h"
#include "tenant.h"
#include "timeline.h"
#include "tls.h"
#include "strata_err.h"
#include "walrecv.h"
#include "strata_err.h"

static struct server srv;
static char tcp_token[SECRET_MAX];	/* read from --token-file */
static struct tls_server_conf tls_conf; /* --tls-* */
static int	tls_client_cert_given;	/* --tls-client-cert was given */

static void
usage(FILE *f)
{
	fprintf(f,
			"stratad: the strata page server\n\n"
			"Usage: stratad -D DATADIR [options]\n\n"
			"  -D, --datadir DIR        data directory (created, mode 0700)\n"
			"      --socket-dir DIR     unix socket directory (default: DATADIR)\n"
			"      --port N             socket number .s.PGSQL.N, and TCP port (default %d)\n"
			"      --listen-tcp ADDR    also listen on TCP at ADDR:port\n"
			"      --token-file FILE    TCP peers must send the token in FILE (mode 0600) as\n"
			"                           their password\n"
			"      --tls-cert FILE      TLS on TCP (page service and API): certificate chain\n"
			"      --tls-key FILE       ... and its private key (ours with mode 0600, or\n"
			"                           root's with 0640)\n"
			"      --tls-ca FILE        CAs that sign client certificates\n"
			"      --tls-client-cert none|optional|require  client certificates over TLS\n"
			"                           (default: require with --tls-ca, else none)\n"
			"      --http HOST:PORT     management API (default 127.0.0.1:9898)\n"
			"      --http-any-port      use a free port if the API port is taken\n"
			"      --http-socket PATH   also serve the management API on this unix socket\n"
			"      --metrics-no-auth    GET /metrics needs no token (the API's tokens are in\n"
			"                           DATADIR/api-token-admin and api-token-readonly)\n"
			"      --pgdata DIR         import this compute data directory on first start\n"
			"      --import-only        with --pgdata: import (if not done yet) and exit\n"
			"      --postmaster-fd N    shut down at EOF on this inherited fd\n"
			"      --log FILE           log to FILE (default stderr)\n"
			"      --log-level LEVEL    debug, info, warning or error (default info)\n"
			"      --sync-interval-ms N background fdatasync interval (default 1000)\n"
			"      --rw-grace-ms N      a new read-write compute waits this long after the\n"
			"                           previous one's last connection closed (default 10000)\n"
			"      --checkpoint-distance BYTES  freeze the open layer at this size (256 MiB)\n"
			"      --checkpoint-timeout-s N     ... or when it is this old (600)\n"
			"      --compaction-threshold N     L0 layers that trigger compaction (10)\n"
			"      --compaction-target-size BYTES  L1 and image layer file size (128 MiB)\n"
			"      --image-creation-threshold N    deltas above the newest image (3)\n"
			"      --compaction-period-ms N     background check interval (20000)\n"
			"      --gc-horizon BYTES           WAL distance of history kept (64 MiB)\n"
			"      --pitr-interval-s N          also keep the history of the last N seconds (0)\n"
			"      --compression lz4|zstd|none  codec of new layer files' values (lz4)\n"
			"      --gc-verify          check every GC keeps reads unchanged (tests)\n"
			"      --gc-compaction on|off       rewrite history below the GC cutoff (on)\n"
			"      --max-batch-size N   GETPAGEs read together (32, 1..1024)\n"
			"      --pipelining on|off  read requests while a batch executes (on)\n"
			"      --read-workers N     threads for storage reads (2)\n"
			"      --wal-source CONNINFO  stream the default timeline's WAL from the\n"
			"                           compute at CONNINFO (libpq syntax, no password)\n"
			"      --wal-slot NAME      its physical replication slot (strata)\n"
			"      --node-id N          this stratad's node id: application_name\n"
			"                           strata-N on the replication connection (1)\n"
			"  -h, --help               show this help\n",
			PROTO_DEFAULT_PORT);
}

static int
write_status(void)
{
	char		path[4096];
	char		sysid[32];
	json_t	   *o;
	char	   *text;
	int			err;

	snprintf(sysid, sizeof(sysid), "%llu", (unsigned long long) srv.id.sysid);
	o = json_pack("{s:i, s:s, s:s, s:i, s:s, s:b, s:s, s:s, s:s, s:s}",
				  "pid", (int) getpid(),
				  "socket", srv.socket_path,
				  "socket_dir", "",
				  "port", srv.port,
				  "http_addr", srv.http_addr,
				  "http_tls", srv.tls_ctx != NULL,
				  "tenant_id", srv.tenant_hex,
				  "timeline_id", srv.timeline_hex,
				  "system_identifier", sysid,
				  "state", srv.state);
	{
		char		dir[4096];
		char	   *slash;

		snprintf(dir, sizeof(dir), "%s", srv.socket_path);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		json_object_set_new(o, "socket_dir", json_string(dir));
	}
	text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(o);
	if (text == NULL)
		return STRATA_ENOMEM;
	snprintf(path, sizeof(path), "%s/stratad.status", srv.datadir);
	err = fs_write_durable(path, text, strlen(text));
	free(text);
	return err;
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void) what;
	(void) arg;
	slog(SLOG_INFO, "stratad: received signal %d; shutting down", (int) sig);
	event_base_loopbreak(srv.base);
}

static void
on_postmaster_fd(evutil_socket_t fd, short what, void *arg)
{
	char		buf[64];
	ssize_t		n = read(fd, buf, sizeof(buf));

	(void) what;
	(void) arg;
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	slog(SLOG_INFO, "stratad: the postmaster exited; shutting down");
	event_base_loopbreak(srv.base);
}

/*
 * Session 1's data directories kept everything in one page log; this
 * engine cannot read it.  Refuse rather than serve an empty timeline.
 */
static int
refuse_old_format(const char *datadir)
{
	char		path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/pagelog", datadir);
	if (stat(path, &st) != 0)
		return 0;
	slog(SLOG_ERROR, "stratad: \"%s\" holds a page log of format 1, which this stratad cannot "
		 "read; its data is left untouched (start an older stratad, or re-import the compute "
		 "from a base backup)", path);
	return STRATA_EVERSION;
}

/* --token: gone, since a command line is visible to every local user */
static int
refuse_token_arg(const char *arg)
{
	(void) arg;
	fprintf(stderr, "stratad: --token is no longer accepted: every local user can read a command "
			"line; put the token in a file of mode 0600 and give --token-file FILE\n");
	return -1;
}

/*
 * The page service's TCP token from --token-file, checked like the API's
 * token files; 0, or -1 having said why.
 */
static int
load_tcp_token(const char *path)
{
	char		why[256];

	if (secret_read_file(path, 1, tcp_token, why, sizeof(why)) != 0)
	{
		slog(SLOG_ERROR, "stratad: refusing the token file \"%s\": %s", path, why);
		return -1;
	}
	srv.token = tcp_token;
	return 0;
}

static int
set_tls_client_cert(const char *arg)
{
	if (tls_parse_client_cert(arg, &tls_conf.client_cert) != 0)
	{
		fprintf(stderr, "stratad: --tls-client-cert takes none, optional or require\n");
		return -1;
	}
	tls_client_cert_given = 1;
	return 0;
}

/* The --tls-* options go together so: 0, or -1 having said why. */
static int
check_tls_options(void)
{
	const char *why = NULL;

	if ((tls_conf.cert_file == NULL) != (tls_conf.key_file == NULL))
		why = "--tls-cert and --tls-key go together";
	else if (tls_conf.cert_file == NULL && (tls_conf.ca_file != NULL || tls_client_cert_given))
		why = "--tls-ca and --tls-client-cert need --tls-cert and --tls-key";
	else if (tls_conf.ca_file == NULL && tls_conf.client_cert != TLS_CLIENT_CERT_NONE)
		why = "--tls-client-cert optional or require needs --tls-ca (the CAs to check them by)";
	if (why != NULL)
	{
		fprintf(stderr, "stratad: %s\n", why);
		return -1;
	}
	if (tls_conf.ca_file != NULL && !tls_client_cert_given)
		tls_conf.client_cert = TLS_CLIENT_CERT_REQUIRE;
	return 0;
}

/* The TLS context of --tls-*, if given; 0, or -1 having logged why. */
static int
load_tls(void)
{
	static const char *const modes[] = {"none", "optional", "require"};
	char		why[1024];

	if (tls_conf.cert_file == NULL)
		return 0;
	if (tls_server_ctx_new(&tls_conf, &srv.tls_ctx, why, sizeof(why)) != 0)
	{
		slog(SLOG_ERROR, "stratad: cannot set up TLS: %s", why);
		return -1;
	}
	slog(SLOG_INFO, "stratad: TLS on TCP connections (page service and API), certificate \"%s\", "
		 "client certificates: %s", tls_conf.cert_file, modes[tls_conf.client_cert]);
	return 0;
}

/*
 * Raise RLIMIT_NOFILE to its hard limit: every connection and open layer
 * file takes a descriptor, and the soft default (often 1024) is too few.
 * The limit got is reported in GET /v1/status.
 */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
	{
		slog(SLOG_WARNING, "stratad: could not read the open-file limit: %s", strerror(errno));
		return;
	}
	if (rl.rlim_cur < rl.rlim_max)
	{
		struct rlimit want = {rl.rlim_max, rl.rlim_max};

		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
		else
			slog(SLOG_WARNING, "stratad: could not raise the open-file limit from %llu to %llu: %s",
				 (unsigned long long) rl.rlim_cur, (unsigned long long) rl.rlim_max,
				 strerror(errno));
	}
	srv.open_files_limit = rl.rlim_cur == RLIM_INFINITY ? -1 : (long long) rl.rlim_cur;
	slog(SLOG_INFO, "stratad: open-file limit %lld", srv.open_files_limit);
}

/* --log-level: applied at once, so later option errors are logged at it */
static int
set_log_level(const char *arg)
{
	if (slog_parse_level(arg) < 0)
	{
		fprintf(stderr, "stratad: unknown log level \"%s\"\n", arg);
		return -1;
	}
	slog_set_level((enum slog_level) slog_parse_level(arg));
	return 0;
}

static int
set_compression(const char *arg)
{
	enum codec	codec;

	if (codec_parse(arg, &codec) != 0)
	{
		fprintf(stderr, "stratad: --compression takes lz4, zstd or none\n");
		return -1;
	}
	codec_set_default(codec);
	return 0;
}

/*
 * --wal-source: libpq's syntax, no password (it would sit on a command
 * line): a password comes from the cluster owner's ~/.pgpass or
 * PGPASSFILE, as for any libpq client.
 */
static int
check_wal_source(const char *conninfo)
{
	char	   *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	int			rc = 0;

	if (opts == NULL)
	{
		fprintf(stderr, "stratad: --wal-source is not a connection string: %s", err ? err : "out of memory\n");
		PQfreemem(err);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "password") == 0 && o->val != NULL)
		{
			fprintf(stderr, "stratad: --wal-source must not hold a password (use a password file: PGPASSFILE)\n");
			rc = -1;
		}
	PQconninfoFree(opts);
	if (strlen(conninfo) >= WALRECV_CONNINFO_MAX)
	{
		fprintf(stderr, "stratad: --wal-source is too long\n");
		rc = -1;
	}
	return rc;
}

/*
 * Stream the default timeline's WAL from the compute.  A store that cannot
 * be opened (damaged, another system's) is reported and the page service
 * runs without it: pages must not become unreachable over WAL.
 */
static void
start_wal_service(const char *conninfo, uint32_t node_id)
{
	struct walrecv_config cfg = {0};
	char		dir[4096];
	int			err;

	snprintf(dir, sizeof(dir), "%s/wal", srv.datadir);
	if (fio_mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		slog(SLOG_ERROR, "stratad: could not create \"%s\": %s; WAL is not received", dir, strerror(errno));
		return;
	}
	snprintf(cfg.conninfo, sizeof(cfg.conninfo), "%s", conninfo);
	snprintf(cfg.slot, sizeof(cfg.slot), "%s", srv.wal_slot);
	snprintf(cfg.application_name, sizeof(cfg.application_name), "strata-%u", node_id);
	snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/%s", dir, srv.timeline_hex);
	cfg.system_id = srv.id.sysid;
	cfg.status_interval_ms = 1000;
	if ((err = walrecv_start(&cfg, &srv.walrecv)) != 0)
	{
		slog(SLOG_ERROR, "stratad: the WAL store \"%s\" cannot be used (%s); WAL is not received",
			 cfg.store_dir, strata_strerror(err));
		srv.walrecv = NULL;
		return;
	}
	slog(SLOG_INFO, "stratad: receiving WAL into \"%s\" as %s (slot \"%s\")", cfg.store_dir,
		 cfg.application_name, cfg.slot);
}

int
main(int argc, char **argv)
{
	const char *socket_dir = NULL;
	const char *tcp = NULL;
	const char *http_addr = "127.0.0.1:9898";
	const char *pgdata = NULL;
	const char *logfile = NULL;
	const char *token_file = NULL;
	const char *wal_source = NULL;
	uint32_t	node_id = 1;
	int			any_port = 0;
	int			import_only = 0;
	int			pm_fd = -1;
	int			noperands;
	int			pidfd;
	int			rc = 1;
	struct tl_conf conf;
	struct event *ev_term = NULL,
			   *ev_int = NULL,
			   *ev_pm = NULL;
	const struct opt_spec opts[] = {
		OPT("datadir", 'D', OPT_STRING, &srv.datadir),
		OPT("socket-dir", 0, OPT_STRING, &socket_dir),
		OPT("port", 0, OPT_INT, &srv.port),
		OPT("listen-tcp", 0, OPT_STRING, &tcp),
		OPT_CALLBACK("token", refuse_token_arg),
		OPT("token-file", 0, OPT_STRING, &token_file),
		OPT("tls-cert", 0, OPT_STRING, &tls_conf.cert_file),
		OPT("tls-key", 0, OPT_STRING, &tls_conf.key_file),
		OPT("tls-ca", 0, OPT_STRING, &tls_conf.ca_file),
		OPT_CALLBACK("tls-client-cert", set_tls_client_cert),
		OPT("http", 0, OPT_STRING, &http_addr),
		OPT("http-any-port", 0, OPT_FLAG, &any_port),
		OPT("http-socket", 0, OPT_STRING, &srv.http_socket),
		OPT("metrics-no-auth", 0, OPT_FLAG, &srv.metrics_no_auth),
		OPT("pgdata", 0, OPT_STRING, &pgdata),
		OPT("postmaster-fd", 0, OPT_INT, &pm_fd),
		OPT("log", 0, OPT_STRING, &logfile),
		OPT_CALLBACK("log-level", set_log_level),
		OPT("sync-interval-ms", 0, OPT_INT, &srv.sync_interval_ms),
		OPT("import-only", 0, OPT_FLAG, &import_only),
		OPT("rw-grace-ms", 0, OPT_INT, &srv.rw_grace_ms),
		OPT("checkpoint-distance", 0, OPT_U64, &conf.freeze_bytes),
		OPT("checkpoint-timeout-s", 0, OPT_U32, &conf.freeze_seconds),
		OPT("compaction-threshold", 0, OPT_U32, &conf.compaction_threshold),
		OPT("compaction-target-size", 0, OPT_U64, &conf.target_layer_bytes),
		OPT("image-creation-threshold", 0, OPT_U32, &conf.image_threshold),
		OPT("compaction-period-ms", 0, OPT_U32, &conf.compaction_period_ms),
		OPT("gc-horizon", 0, OPT_U64, &conf.gc_horizon),
		OPT("gc-verify", 0, OPT_FLAG, &conf.gc_verify),
		OPT("gc-compaction", 0, OPT_ON_OFF, &conf.gc_compaction),
		OPT("max-batch-size", 0, OPT_INT, &srv.max_batch_size),
		OPT("pipelining", 0, OPT_ON_OFF, &srv.pipelining),
		OPT("read-workers", 0, OPT_INT, &srv.read_workers),
		OPT("pitr-interval-s", 0, OPT_U32, &conf.pitr_seconds),
		OPT("wal-source", 0, OPT_STRING, &wal_source),
		OPT("wal-slot", 0, OPT_STRING, &srv.wal_slot),
		OPT("node-id", 0, OPT_U32, &node_id),
		OPT_CALLBACK("compression", set_compression),
		OPT("help", 'h', OPT_HELP, NULL),
		OPT_END,
	};

	srv.port = PROTO_DEFAULT_PORT;
	srv.sync_interval_ms = 1000;
	srv.rw_grace_ms = 10000;
	srv.wal_slot = "strata";
	srv.max_batch_size = 32;
	srv.pipelining = 1;
	srv.read_workers = 2;
	tl_conf_default(&conf);
	switch (opt_parse("stratad", opts, argc, argv, &noperands))
	{
		case OPT_DONE:
			break;
		case OPT_SHOW_HELP:
			usage(stdout);
			return OPT_EXIT_OK;
		case OPT_BAD_VALUE:
			return OPT_EXIT_USAGE;
		case OPT_SHOW_VERSION:
		case OPT_BAD_USAGE:
			usage(stderr);
			return OPT_EXIT_USAGE;
	}
	if (srv.datadir == NULL || noperands != 0 || srv.port <= 0 || srv.sync_interval_ms <= 0 ||
		srv.max_batch_size < 1 || srv.max_batch_size > 1024 || srv.read_workers < 1 ||
		srv.read_workers > 256)
	{
		usage(stderr);
		return 2;
	}
	if (check_tls_options() != 0)
		return 2;
	if (wal_source != NULL && check_wal_source(wal_source) != 0)
		return 2;
	if (strlen(srv.wal_slot) == 0 || strlen(srv.wal_slot) >= WALRECV_SLOT_MAX ||
		strspn(srv.wal_slot, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(srv.wal_slot))
	{
		fprintf(stderr, "stratad: --wal-slot takes a replication slot name: lower-case letters, digits, underscores\n");
		return 2;
	}
	if (strlen(srv.datadir) > STRATA_DATADIR_MAX)
	{
		fprintf(stderr, "stratad: the data directory path is longer than %d bytes\n",
				STRATA_DATADIR_MAX);
		return 2;
	}
	if (slog_open(logfile) != 0)
	{
		fprintf(stderr, "stratad: could not open log file \"%s\": %s\n", logfile, strerror(errno));
		return 1;
	}
	if (socket_dir == NULL)
		socket_dir = srv.datadir;
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (mkdir(srv.datadir, 0700) != 0 && errno != EEXIST)
	{
		slog(SLOG_ERROR, "stratad: could not create \"%s\": %s", srv.datadir, strerror(errno));
		return 1;
	}
	/* it may be in /tmp (the compute's fallback): someone else's is refused */
	if (strcmp(socket_dir, srv.datadir) != 0 && fs_private_dir(socket_dir) != 0)
		return 1;
	if (token_file != NULL && load_tcp_token(token_file) != 0)
		return 1;
	/*
	 * The compute runs --import-only at every start, maybe while the
	 * previous postmaster's stratad is still shutting down: wait for it.
	 */
	pidfd = fs_lock_pidfile(srv.datadir, import_only ? 30000 : 0);
	if (pidfd < 0)
		return 1;
	srv.started = time(NULL);
	slog(SLOG_INFO, "stratad: starting (version %s) in \"%s\"", STRATA_VERSION, srv.datadir);
	raise_nofile();
	if (load_tls() != 0)
		goto out;
	if (tcp != NULL && srv.tls_ctx == NULL && !import_only)
		slog(SLOG_WARNING, "stratad: the page service listens on TCP without TLS: the token and "
			 "the pages cross the network in clear text (see --tls-cert, --tls-key)");

	if (identity_load(srv.datadir, &srv.id) != 0)
		goto out;
	identity_hex(srv.id.tenant, srv.tenant_hex);
	identity_hex(srv.id.timeline, srv.timeline_hex);
	if (refuse_old_format(srv.datadir) != 0)
		goto out;
	evthread_use_pthreads();
	if (pgdata != NULL && srv.id.import != IMPORT_COMPLETE)
	{
		uint64_t	pages = 0;
		struct registry *offline;

		/* offline: no event loop; timelines write synchronously */
		srv.state = "importing";
		if (registry_open(srv.datadir, NULL, &conf, &offline) != 0)
			goto out;
		if (registry_ensure_timeline(offline, srv.id.tenant, srv.id.timeline) != 0 ||
			import_run(offline, &srv.id, srv.datadir, pgdata, 0, &pages) != 0)
		{
			slog(SLOG_ERROR, "stratad: import of \"%s\" failed; not serving", pgdata);
			registry_close(offline, 0);
			goto out;
		}
		registry_close(offline, 0);
		srv.m.import_pages = pages;
	}
	if (import_only)
	{
		rc = 0;
		goto out;
	}

	srv.base = event_base_new();
	if (srv.base == NULL || event_base_priority_init(srv.base, 2) != 0)
		goto out;
	if (registry_open(srv.datadir, srv.base, &conf, &srv.reg) != 0 ||
		registry_ensure_timeline(srv.reg, srv.id.tenant, srv.id.timeline) != 0)
		goto out;
	/* from here the API thread changes the registry; timelines stop on this loop */
	if ((srv.calls = loopcall_new(srv.base)) == NULL)
		goto out;
	srv.reg->loop = srv.calls;
	if (wal_source != NULL)
		start_wal_service(wal_source, node_id);
	if (http_start(&srv, http_addr, any_port) != 0)
		goto out;
	if (pagesvc_start(&srv, socket_dir, tcp) != 0)
		goto out;
	ev_term = evsignal_new(srv.base, SIGTERM, on_signal, NULL);
	ev_int = evsignal_new(srv.base, SIGINT, on_signal, NULL);
	event_add(ev_term, NULL);
	event_add(ev_int, NULL);
	if (pm_fd >= 0)
	{
		fcntl(pm_fd, F_SETFL, O_NONBLOCK);
		ev_pm = event_new(srv.base, pm_fd, EV_READ | EV_PERSIST, on_postmaster_fd, NULL);
		event_add(ev_pm, NULL);
	}
	if (identity_begin_serving(srv.datadir, &srv.id) != 0)
		goto out;
	srv.state = "active";
	if (write_status() != 0)
		goto out;
	/* srv is set up: the API thread may read what does not change from now on */
	if (http_run(&srv) != 0)
		goto out;
	slog(SLOG_INFO, "stratad: serving tenant %s timeline %s", srv.tenant_hex, srv.timeline_hex);

	/* test builds check the rule: no fsync on the loop while it serves */
	fio_no_sync_on_this_thread("page-service loop");
	event_base_dispatch(srv.base);

	/*
	 * The API goes first: its handlers in progress finish (their calls on
	 * this loop run here meanwhile), so the page service stops with no
	 * management request half done.  Neither step waits for a client.
	 */
	http_stop(&srv);
	walrecv_stop(srv.walrecv);
	srv.walrecv = NULL;
	loopcall_close(srv.calls);
	fio_no_sync_on_this_thread(NULL);
	srv.state = "stopping";
	if (pagesvc_stop(&srv) == 0)
	{
		/* everything acknowledged is durable: the next start needs no epoch bump */
		srv.id.flags |= IDENTITY_CLEAN;
		(void) identity_save(srv.datadir, &srv.id);
	}
	{
		char		path[4096];

		snprintf(path, sizeof(path), "%s/stratad.status", srv.datadir);
		(void) unlink(path);
	}
	slog(SLOG_INFO, "stratad: stopped");
	rc = srv.exit_code;
out:
	if (ev_term)
		event_free(ev_term);
	if (ev_int)
		event_free(ev_int);
	if (ev_pm)
		event_free(ev_pm);
	if (srv.reg)
		registry_close(srv.reg, 0);
	/* after the registry: background work may post answers until it is closed */
	http_free(&srv);
	if (srv.calls)
	{
		loopcall_close(srv.calls);
		loopcall_free(srv.calls);
	}
	if (srv.base)
		event_base_free(srv.base);
	SSL_CTX_free(srv.tls_ctx);
	close(pidfd);
	if (rc != 0)
		slog(SLOG_ERROR, "stratad: exiting after a failure (see above)");
	return rc;
}
