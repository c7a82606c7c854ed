/*-------------------------------------------------------------------------
 *
 * errmap.h
 *	  Mapping stratad's error responses to PostgreSQL errors.
 *
 * stratad answers a failed request with an enum proto_errcode and a
 * message (proto.h).  Callers that cannot handle a code themselves raise
 * it here as an ERROR whose SQLSTATE matches the code (DISK_FULL becomes
 * ERRCODE_DISK_FULL, CORRUPT ERRCODE_DATA_CORRUPTED, an unknown code
 * ERRCODE_INTERNAL_ERROR), so clients see the same classes of error as
 * with md.  Any process; no state.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_ERRMAP_H
#define STRATA_ERRMAP_H

#include "postgres.h"

#include "ring.h"

/*
 * ERROR "could not <what>: <stratad's message>", with the SQLSTATE of
 * res->errcode and the code's name in the detail.  res must be an error
 * result.
 */
extern void errmap_report(const ring_result *res, const char *what)
			pg_attribute_noreturn();

#endif							/* STRATA_ERRMAP_H */
