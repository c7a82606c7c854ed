/*-------------------------------------------------------------------------
 *
 * strata.c
 *	  Module load: checks, GUCs, shared memory, and installing the storage
 *	  manager (ARCHITECTURE.md 2.1).
 *
 * _PG_init runs in the postmaster while it loads shared_preload_libraries,
 * before it forks anything, so every child inherits the patched tables,
 * the hooks and the transaction callback.  Loading anywhere else is an
 * ERROR with a hint.
 *
 * One build serves every PostgreSQL 15 minor whose tables it can verify
 * (I12), rather than a list of version numbers: the md.c signature that
 * changed within 15.x is chosen at run time (smgr_choose_truncate_abi()),
 * the tables are found by content (tablepatch.c), and a probe proves that
 * every smgr slot strata relies on is reached (smgrprobe.c).  Any check
 * that fails is FATAL, so the server does not start on a build strata
 * cannot vouch for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/guc.h"

#include "conn.h"
#include "dbsize.h"
#include "ddl.h"
#include "durability.h"
#include "filecache.h"
#include "lwlsn.h"
#include "relsize.h"
#include "smgr.h"
#include "smgrprobe.h"
#include "stats.h"
#include "strata.h"
#include "supervisor.h"
#include "tablepatch.h"
#include "unlogged.h"
#include "walservice.h"
#include "wset.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

char	   *strata_stratad_connstring = "";
char	   *strata_stratad_token_file = "";
char	   *strata_tenant_id = "default";
char	   *strata_timeline_id = "default";
char	   *strata_stratad_path = "";
int			strata_stratad_http_port = 9898;
int			strata_stratad_sync_interval_ms = 1000;
char	   *strata_stratad_options = NULL;
int			strata_readahead_buffer_size = 128;
int			strata_readahead_max = 32;
int			strata_reconnect_timeout_ms = 60000;
int			strata_response_timeout_ms = 120000;
int			strata_relsize_cache_size = 65536;
int			strata_lwlsn_cache_size = 131072;
bool		strata_wal_service = true;
bool		strata_wal_synchronous = false;
int			strata_wal_keep_size_mb = 1024;

static shmem_request_hook_type prev_shmem_request_hook;
static shmem_startup_hook_type prev_shmem_startup_hook;

static void
define_gucs(void)
{
	DefineCustomStringVariable("strata.stratad_connstring",
							   "libpq connection string of an external stratad; empty runs the embedded one.",
							   "The embedded stratad keeps its data in $PGDATA/pg_strata.",
							   &strata_stratad_connstring, "",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, conn_check_connstring, NULL, NULL);
	DefineCustomStringVariable("strata.stratad_token_file",
							   "File holding the token an external stratad wants as the password (mode 0600).",
							   "Read at each connection; only for strata.stratad_connstring.",
							   &strata_stratad_token_file, "",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("strata.tenant_id",
							   "Tenant whose timeline this compute uses (hex), or \"default\".",
							   NULL, &strata_tenant_id, "default",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("strata.timeline_id",
							   "Timeline this compute uses (hex), or \"default\".",
							   NULL, &strata_timeline_id, "default",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("strata.stratad_path",
							   "Path of the stratad binary for the embedded sidecar; empty means next to postgres.",
							   NULL, &strata_stratad_path, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("strata.stratad_options",
							   "Extra command-line options for the embedded stratad (separated by spaces).",
							   "For example \"--checkpoint-distance 1048576 --gc-horizon 0\"; see stratad --help.",
							   &strata_stratad_options, "",
							   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.stratad_http_port",
							"Management API port of the embedded stratad on 127.0.0.1 (a free port is used if taken).",
							NULL, &strata_stratad_http_port, 9898, 0, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.stratad_sync_interval",
							"How often the embedded stratad syncs its log on its own when it has unsynced writes.",
							NULL, &strata_stratad_sync_interval_ms, 1000, 10, INT_MAX,
							PGC_POSTMASTER, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.readahead_buffer_size",
							"Slots in each process's in-order request ring.",
							NULL, &strata_readahead_buffer_size, 128, 16, 4096,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.readahead_max",
							"Largest sequential readahead window, in blocks (0 disables readahead).",
							NULL, &strata_readahead_max, 32, 0, 2048,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.reconnect_timeout",
							"How long to retry connecting to stratad before failing with ERROR.",
							NULL, &strata_reconnect_timeout_ms, 60000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.response_timeout",
							"How long to wait for any response before reconnecting and re-sending.",
							NULL, &strata_response_timeout_ms, 120000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.relsize_cache_size",
							"Entries in the shared relation size cache.",
							NULL, &strata_relsize_cache_size, 65536, 128, INT_MAX / 64,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.lwlsn_cache_size",
							"Slots in the shared last-written LSN cache.",
							NULL, &strata_lwlsn_cache_size, 131072, 1024, INT_MAX / 16,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("strata.wal_service",
							 "Stream this cluster's WAL to the embedded stratad.",
							 "Needs max_wal_senders > 0 and a unix socket; stratad keeps the WAL for point-in-time computes.",
							 &strata_wal_service, true,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("strata.wal_synchronous",
							 "Make the embedded stratad a synchronous standby: commits wait until it has their WAL.",
							 "Sets synchronous_standby_names to \"strata-1\" unless it is set.",
							 &strata_wal_synchronous, false,
							 PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.wal_keep_size",
							"Default for max_slot_wal_keep_size while the WAL service runs (0: no limit).",
							"Bounds the WAL the slot holds back when stratad is down or behind; an explicit max_slot_wal_keep_size wins.",
							&strata_wal_keep_size_mb, 1024, 0, INT_MAX,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	fc_define_gucs();
	MarkGUCPrefixReserved("strata");
	conn_check_settings();
}

/*
 * FATAL unless the server is a PostgreSQL 15 release; returns its
 * server_version_num.  PG_MODULE_MAGIC already refuses other majors, but
 * without saying why in strata's terms.
 */
static int
check_server(void)
{
	int			running = atoi(GetConfigOption("server_version_num", false, false));

	if (running / 100 != PG_VERSION_NUM / 100)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata was built for PostgreSQL %d but this server is version %d",
						PG_VERSION_NUM / 10000, running),
				 errdetail("strata mirrors private tables of PostgreSQL %d's server.",
						   PG_VERSION_NUM / 10000),
				 errhint("Install the strata package built for this PostgreSQL major version.")));
	if (wal_level == WAL_LEVEL_MINIMAL)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata requires wal_level \"replica\" or higher"),
				 errdetail("With wal_level \"minimal\", commits sync new relations by calling md directly, past any hook.")));
	return running;
}

static void
strata_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(add_size(add_size(add_size(stats_shmem_size(), fc_shmem_size()),
											 ws_shmem_size()),
									add_size(relsize_shmem_size(), lwlsn_shmem_size())));
	RequestNamedLWLockTranche("strata", STRATA_NLOCKS);
	fc_shmem_request();
}

static void
strata_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats_shmem_init();
	relsize_shmem_init();
	lwlsn_shmem_init();
	ws_shmem_init();
	/* in the postmaster: also empties the cache file (a crash-restart too) */
	fc_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
	if (!IsUnderPostmaster)
	{
		/* truncate and unlink send a shared invalidation first */
		smgrprobe_shmem();
		unlogged_shmem_startup();
	}
}

void
_PG_init(void)
{
	const strata_builtin_patch *sizefns;
	int			nsizefns;
	int			running;
	smgr_truncate_abi abi;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("strata must be loaded via shared_preload_libraries"),
				 errhint("Add 'strata' to shared_preload_libraries in postgresql.conf and restart the server.")));

	running = check_server();
	abi = smgr_choose_truncate_abi(running);
	define_gucs();

	sizefns = dbsize_patches(&nsizefns);
	tablepatch_install(strata_smgr_table(abi), strata_md_syncfiletag, sizefns, nsizefns,
				  strata_dbase_redo);
	smgrprobe_install();
	ereport(LOG,
			(errmsg("strata: running on server version %d (built against %d), mdtruncate %s",
					running, PG_VERSION_NUM,
					abi == SMGR_TRUNCATE_OLD_BLOCKS ? "with old_blocks (smgrtruncate2 present)" :
					"without old_blocks (no smgrtruncate2)")));

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = strata_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = strata_shmem_startup;

	durability_init();
	ddl_init();
	walservice_init();
	if (STRATA_EMBEDDED())
	{
		supervisor_import();
		supervisor_register();
	}
}
