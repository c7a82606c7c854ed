/*-------------------------------------------------------------------------
 *
 * errmap.c
 *	  stratad's error responses as PostgreSQL errors (see errmap.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "errmap.h"
#include "proto.h"

void
errmap_report(const ring_result *res, const char *what)
{
	int			sqlstate;

	switch ((enum proto_errcode) res->errcode)
	{
		case PROTO_E_BAD_REQUEST:
			sqlstate = ERRCODE_INVALID_PARAMETER_VALUE;
			break;
		case PROTO_E_NOT_FOUND:
			sqlstate = ERRCODE_UNDEFINED_FILE;
			break;
		case PROTO_E_BEYOND_EOF:
		case PROTO_E_CORRUPT:
			sqlstate = ERRCODE_DATA_CORRUPTED;
			break;
		case PROTO_E_EXISTS:
			sqlstate = ERRCODE_DUPLICATE_FILE;
			break;
		case PROTO_E_READ_ONLY:
			sqlstate = ERRCODE_READ_ONLY_SQL_TRANSACTION;
			break;
		case PROTO_E_DISK_FULL:
			sqlstate = ERRCODE_DISK_FULL;
			break;
		case PROTO_E_IO_ERROR:
			sqlstate = ERRCODE_IO_ERROR;
			break;
		case PROTO_E_UNSUPPORTED:
			sqlstate = ERRCODE_FEATURE_NOT_SUPPORTED;
			break;
		default:
			sqlstate = ERRCODE_INTERNAL_ERROR;
			break;
	}
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("could not %s: %s", what, res->errmsg ? res->errmsg : "unknown error"),
			 errdetail("stratad answered %s.", proto_errcode_name(res->errcode))));
	pg_unreachable();
}
