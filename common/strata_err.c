/*-------------------------------------------------------------------------
 *
 * strata_err.c
 *	  Names of strata error codes.
 *
 *-------------------------------------------------------------------------
 */
#include "strata_err.h"

const char *
strata_strerror(int err)
{
	switch ((enum strata_err) err)
	{
		case STRATA_OK:
			return "success";
		case STRATA_EPROTO:
			return "protocol violation";
		case STRATA_ECORRUPT:
			return "data corrupted";
		case STRATA_EVERSION:
			return "unsupported version";
		case STRATA_ENOSPC:
			return "disk full";
		case STRATA_EIO:
			return "I/O error";
		case STRATA_ENOTFOUND:
			return "not found";
		case STRATA_EEXIST:
			return "already exists";
		case STRATA_EEOF:
			return "beyond end of relation";
		case STRATA_EINVAL:
			return "invalid argument";
		case STRATA_ENOMEM:
			return "out of memory";
		case STRATA_ESHUTDOWN:
			return "shutting down";
		case STRATA_EREADONLY:
			return "read-only";
		case STRATA_EUNSUPPORTED:
			return "not supported";
		case STRATA_EBUSY:
			return "busy";
		case STRATA_ECANCELLED:
			return "cancelled";
		case STRATA_EINTERNAL:
			return "internal error";
		case STRATA_EWOULDBLOCK:
			return "would wait for the disk";
		case STRATA_EPRECONDITION:
			return "precondition failed";
		case STRATA_EREMOTE:
			return "remote storage refused the request";
		case STRATA_ETRANSIENT:
			return "remote storage unavailable";
	}
	return "unknown error";
}
