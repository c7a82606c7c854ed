/*-------------------------------------------------------------------------
 *
 * ddl.c
 *	  DDL that copies files beneath the storage manager, and DROP DATABASE
 *	  (ARCHITECTURE.md 2.2; see ddl.h).
 *
 * CREATE DATABASE ... STRATEGY FILE_COPY and ALTER DATABASE ... SET
 * TABLESPACE copy relation files directly, which here are empty stubs, so
 * they are refused.  DROP DATABASE removes the database directory without
 * unlinking relations through smgr, so we send DROPDB after it, and again
 * when its WAL record is replayed (dbase_redo is wrapped).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlogreader.h"
#include "commands/dbcommands.h"
#include "commands/dbcommands_xlog.h"
#include "commands/defrem.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"

#include "ddl.h"
#include "durability.h"
#include "errmap.h"
#include "filecache.h"
#include "relsize.h"
#include "ring.h"
#include "smgr.h"
#include "stats.h"

static ProcessUtility_hook_type prev_ProcessUtility;

static void
send_dropdb(Oid dbid)
{
	struct proto_req req;
	ring_result res;

	memset(&req, 0, sizeof(req));
	req.tag = PROTO_DROPDB;
	req.request_lsn = smgr_change_lsn();
	req.db = dbid;
	ring_call(&req, &res);
	strata_count(SC_DROPDB, 1);
	relsize_forget_db(dbid);
	fc_forget_db(dbid);
	if (res.error)
		errmap_report(&res, psprintf("drop database %u in stratad", dbid));
	durability_register_change();
}

static bool
has_option(List *options, const char *name, const char *value)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, name) != 0)
			continue;
		if (value == NULL || pg_strcasecmp(defGetString(d), value) == 0)
			return true;
	}
	return false;
}

static void
strata_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			dropped = InvalidOid;

	switch (nodeTag(parsetree))
	{
		case T_CreatedbStmt:
			if (has_option(((CreatedbStmt *) parsetree)->options, "strategy", "file_copy"))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("CREATE DATABASE ... STRATEGY FILE_COPY is not supported on strata"),
						 errdetail("FILE_COPY copies relation files directly, and strata keeps relation data in stratad."),
						 errhint("Use STRATEGY WAL_LOG, the default.")));
			break;
		case T_AlterDatabaseStmt:
			if (has_option(((AlterDatabaseStmt *) parsetree)->options, "tablespace", NULL))
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("ALTER DATABASE ... SET TABLESPACE is not supported on strata"),
						 errdetail("It copies relation files directly, and strata keeps relation data in stratad."),
						 errhint("Move individual tables with ALTER TABLE ... SET TABLESPACE.")));
			break;
		case T_DropdbStmt:
			dropped = get_database_oid(((DropdbStmt *) parsetree)->dbname, true);
			break;
		default:
			break;
	}

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);

	/* DROP DATABASE cannot run in a transaction block: it is done now */
	if (OidIsValid(dropped))
		send_dropdb(dropped);
}

void
strata_dbase_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	dbase_redo(record);
	if (info == XLOG_DBASE_DROP)
	{
		xl_dbase_drop_rec *xlrec = (xl_dbase_drop_rec *) XLogRecGetData(record);

		send_dropdb(xlrec->db_id);
	}
	else if (info == XLOG_DBASE_CREATE_FILE_COPY)
		ereport(WARNING,
				(errmsg("strata: replayed CREATE DATABASE ... STRATEGY FILE_COPY; the new database's relations have no data in stratad"),
				 errdetail("This WAL was written before strata managed this cluster.")));
}

void
ddl_init(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = strata_ProcessUtility;
}
