/*-------------------------------------------------------------------------
 *
 * layerfile_internal.h
 *	  The pieces of the layer file layout (layerfile.h has it byte by
 *	  byte) that its writer (layerfile_write.c) and its reader
 *	  (layerfile.c) both need.  Nothing outside those two includes this.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_LAYERFILE_INTERNAL_H
#define STRATA_LAYERFILE_INTERNAL_H

#include <string.h>

#include "bytes.h"
#include "layerfile.h"

#define LAYER_MAGIC			"STRATALY"
#define LAYER_VERSION		2	/* 2: blobs may be LZ4 (flag 2) */
#define LAYER_VERSION_MIN	1	/* 1: raw or zstd blobs */
#define LAYER_NODE			8192	/* an index node */
#define LAYER_SUMMARY		LAYER_NODE
#define LAYER_NODE_MAGIC	"LYIX"
#define LAYER_NODE_HDR		8
#define LAYER_NODE_ROOM		(LAYER_NODE - LAYER_NODE_HDR - 4)
#define LAYER_LEAF_ENT		38
#define LAYER_INNER_ENT		34
#define LAYER_LEAF_FANOUT	(LAYER_NODE_ROOM / LAYER_LEAF_ENT)
#define LAYER_INNER_FANOUT	(LAYER_NODE_ROOM / LAYER_INNER_ENT)
#define LAYER_POS			(KEY_SIZE + 8)	/* a (key, LSN) position, big-endian */
#define LAYER_BLOB_HDR		5
#define LAYER_BLOB_MAX		(LAYER_BLOB_HDR + LAYER_VALUE_MAX + 64 + 4)

/* The index's sort position of (key, lsn): memcmp orders positions. */
static inline void
layer_make_pos(uint8_t *pos, const uint8_t key[KEY_SIZE], lsn_t lsn)
{
	memcpy(pos, key, KEY_SIZE);
	put_be64(pos + KEY_SIZE, lsn);
}

#endif							/* STRATA_LAYERFILE_INTERNAL_H */
