/*-------------------------------------------------------------------------
 *
 * dbsize.c
 *	  pg_relation_size() and friends on strata.
 *
 * The built-ins stat() local files, which are empty stubs here, so we
 * replace their fmgr_builtins entries (tablepatch.c) with versions that ask the
 * storage manager: smgrnblocks() for relation forks (temp relations still
 * go to md), and stratad's DBSIZE plus the local files for databases.
 * Semantics (NULL for a missing relation, permission checks, what
 * pg_table_size counts) follow PostgreSQL 15's dbsize.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "access/relation.h"
#include "catalog/catalog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_tablespace.h"
#include "commands/dbcommands.h"
#include "common/relpath.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "storage/smgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "dbsize.h"
#include "errmap.h"
#include "lsn.h"
#include "ring.h"
#include "stats.h"
#include "tablepatch.h"

static int64
fork_bytes(Relation rel, ForkNumber fork)
{
	SMgrRelation s;

	if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
		return 0;
	s = smgropen(rel->rd_node, rel->rd_backend);
	if (!smgrexists(s, fork))
		return 0;
	return (int64) smgrnblocks(s, fork) * BLCKSZ;
}

static int64
all_forks_bytes(Relation rel)
{
	int64		size = 0;

	for (ForkNumber f = 0; f <= MAX_FORKNUM; f++)
		size += fork_bytes(rel, f);
	return size;
}

static int64
indexes_bytes(Relation rel)
{
	int64		size = 0;
	List	   *indexes;
	ListCell   *lc;

	if (!rel->rd_rel->relhasindex)
		return 0;
	indexes = RelationGetIndexList(rel);
	foreach(lc, indexes)
	{
		Relation	idx = relation_open(lfirst_oid(lc), AccessShareLock);

		size += all_forks_bytes(idx);
		relation_close(idx, AccessShareLock);
	}
	list_free(indexes);
	return size;
}

/* The relation's forks plus its TOAST table and TOAST index. */
static int64
table_bytes(Relation rel)
{
	int64		size = all_forks_bytes(rel);

	if (OidIsValid(rel->rd_rel->reltoastrelid))
	{
		Relation	toast = relation_open(rel->rd_rel->reltoastrelid, AccessShareLock);

		size += all_forks_bytes(toast) + indexes_bytes(toast);
		relation_close(toast, AccessShareLock);
	}
	return size;
}

static Datum
strata_relation_size(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	text	   *forkname = PG_GETARG_TEXT_PP(1);
	Relation	rel = try_relation_open(relid, AccessShareLock);
	int64		size;

	if (rel == NULL)
		PG_RETURN_NULL();
	size = fork_bytes(rel, forkname_to_number(text_to_cstring(forkname)));
	relation_close(rel, AccessShareLock);
	PG_RETURN_INT64(size);
}

/* measure(rel) of the relation named by the first argument, or NULL. */
static Datum
measure_relation(FunctionCallInfo fcinfo, int64 (*measure) (Relation rel))
{
	Relation	rel = try_relation_open(PG_GETARG_OID(0), AccessShareLock);
	int64		size;

	if (rel == NULL)
		PG_RETURN_NULL();
	size = measure(rel);
	relation_close(rel, AccessShareLock);
	PG_RETURN_INT64(size);
}

static int64
total_bytes(Relation rel)
{
	return table_bytes(rel) + indexes_bytes(rel);
}

static Datum
strata_table_size(PG_FUNCTION_ARGS)
{
	return measure_relation(fcinfo, table_bytes);
}

static Datum
strata_indexes_size(PG_FUNCTION_ARGS)
{
	return measure_relation(fcinfo, indexes_bytes);
}

static Datum
strata_total_relation_size(PG_FUNCTION_ARGS)
{
	return measure_relation(fcinfo, total_bytes);
}

/* Sum of the regular files directly in path (stubs, temp files, maps). */
static int64
dir_bytes(const char *path)
{
	DIR		   *dir = AllocateDir(path);
	struct dirent *de;
	int64		size = 0;

	if (dir == NULL)
		return 0;
	while ((de = ReadDir(dir, path)) != NULL)
	{
		char		file[MAXPGPATH * 2];
		struct stat st;

		CHECK_FOR_INTERRUPTS();
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
		if (stat(file, &st) == 0)
			size += st.st_size;
	}
	FreeDir(dir);
	return size;
}

static int64
database_bytes(Oid dbid)
{
	AclResult	aclresult;
	char		path[MAXPGPATH];
	DIR		   *spcdir;
	struct dirent *de;
	int64		size;
	struct proto_req req;
	ring_result res;

	aclresult = pg_database_aclcheck(dbid, GetUserId(), ACL_CONNECT);
	if (aclresult != ACLCHECK_OK &&
		!has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
		aclcheck_error(aclresult, OBJECT_DATABASE, get_database_name(dbid));

	/* local files: the default tablespace and every other one */
	snprintf(path, sizeof(path), "base/%u", dbid);
	size = dir_bytes(path);
	spcdir = AllocateDir("pg_tblspc");
	while ((de = ReadDir(spcdir, "pg_tblspc")) != NULL)
	{
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "pg_tblspc/%s/%s/%u", de->d_name,
				 TABLESPACE_VERSION_DIRECTORY, dbid);
		size += dir_bytes(path);
	}
	FreeDir(spcdir);

	/* the relation data */
	memset(&req, 0, sizeof(req));
	req.tag = PROTO_DBSIZE;
	req.request_lsn = LSN_MAX;
	req.db = dbid;
	ring_call(&req, &res);
	strata_count(SC_DBSIZE, 1);
	if (res.error)
		errmap_report(&res, psprintf("get the size of database %u", dbid));
	return size + res.dbsize;
}

static Datum
strata_database_size_oid(PG_FUNCTION_ARGS)
{
	int64		size = database_bytes(PG_GETARG_OID(0));

	if (size == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(size);
}

static Datum
strata_database_size_name(PG_FUNCTION_ARGS)
{
	Name		dbname = PG_GETARG_NAME(0);
	int64		size = database_bytes(get_database_oid(NameStr(*dbname), false));

	if (size == 0)
		PG_RETURN_NULL();
	PG_RETURN_INT64(size);
}

static const strata_builtin_patch patches[] = {
	{"pg_relation_size", pg_relation_size, strata_relation_size},
	{"pg_table_size", pg_table_size, strata_table_size},
	{"pg_indexes_size", pg_indexes_size, strata_indexes_size},
	{"pg_total_relation_size", pg_total_relation_size, strata_total_relation_size},
	{"pg_database_size_oid", pg_database_size_oid, strata_database_size_oid},
	{"pg_database_size_name", pg_database_size_name, strata_database_size_name},
};

const struct strata_builtin_patch *
dbsize_patches(int *n)
{
	*n = lengthof(patches);
	return patches;
}
