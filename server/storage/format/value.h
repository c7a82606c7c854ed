/*-------------------------------------------------------------------------
 *
 * value.h
 *	  The values the storage engine keeps per (key, LSN) (ARCHITECTURE.md
 *	  5.1), as stored in the write log and in layer files.
 *
 * Encoding: u8 kind, u8 will_init, payload.
 *	VAL_IMAGE		an 8192-byte page image (will_init 1)
 *	VAL_PG_RECORD	a WAL record to apply on the previous version (phase 2)
 *	VAL_ZERO		an all-zero page, no payload (extension holes)
 *	VAL_SIZE		a relation fork's size entry: u32 nblocks, little-endian
 *	VAL_DROPPED		the relation fork does not exist (size entries only)
 * Phase 1 stores only self-contained values (will_init 1), so a read is
 * "the newest version at or below the LSN".  Readers must refuse kinds
 * they do not know (a newer format), never guess.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_VALUE_H
#define STRATA_VALUE_H

#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "proto.h"
#include "strata_err.h"

#define VAL_IMAGE		1
#define VAL_PG_RECORD	2
#define VAL_ZERO		3
#define VAL_SIZE		4
#define VAL_DROPPED		5

#define VAL_HDR			2
#define VAL_MAX			(VAL_HDR + PROTO_PAGE_SIZE)

/* A decoded size entry: nblocks, or VAL_NOT_EXISTS. */
#define VAL_NOT_EXISTS	UINT64_MAX

/* Encode a size entry (nblocks or VAL_NOT_EXISTS) into out; returns its length. */
static inline uint32_t
value_put_size(uint8_t *out, uint64_t nblocks)
{
	out[1] = 1;
	if (nblocks == VAL_NOT_EXISTS)
	{
		out[0] = VAL_DROPPED;
		return VAL_HDR;
	}
	out[0] = VAL_SIZE;
	put_le32(out + VAL_HDR, (uint32_t) nblocks);
	return VAL_HDR + 4;
}

/* Decode a size entry; STRATA_ECORRUPT if val is not one. */
static inline int
value_get_size(const uint8_t *val, uint32_t len, uint64_t *nblocks)
{
	if (len == VAL_HDR && val[0] == VAL_DROPPED)
	{
		*nblocks = VAL_NOT_EXISTS;
		return 0;
	}
	if (len == VAL_HDR + 4 && val[0] == VAL_SIZE)
	{
		*nblocks = get_le32(val + VAL_HDR);
		return 0;
	}
	return STRATA_ECORRUPT;
}

/* Decode a block value into page; STRATA_ECORRUPT if it is not one. */
static inline int
value_get_page(const uint8_t *val, uint32_t len, uint8_t *page)
{
	if (len == VAL_HDR + PROTO_PAGE_SIZE && val[0] == VAL_IMAGE)
	{
		memcpy(page, val + VAL_HDR, PROTO_PAGE_SIZE);
		return 0;
	}
	if (len == VAL_HDR && val[0] == VAL_ZERO)
	{
		memset(page, 0, PROTO_PAGE_SIZE);
		return 0;
	}
	return STRATA_ECORRUPT;
}

#endif							/* STRATA_VALUE_H */
