/*-------------------------------------------------------------------------
 *
 * jsonfile.h
 *	  Small JSON documents on disk in a checksummed envelope (manifests,
 *	  tenant configs).
 *
 * Layout, little-endian: 0 8 magic (caller's, 8 bytes), 8 4 format
 * version, 12 4 JSON length n, 16 n JSON text, 16+n 4 CRC-32C of bytes
 * 0..15+n.  Saved with temp, fsync, rename, directory fsync (I14).  Read
 * order: magic, version, length and CRC; errors are logged with the path.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_JSONFILE_H
#define STRATA_JSONFILE_H

#include <stdint.h>

#include <jansson.h>

extern int	jsonfile_save(const char *path, const char magic[8], uint32_t version, json_t *o);
/* *out is a new reference; STRATA_ENOTFOUND if the file does not exist. */
extern int	jsonfile_load(const char *path, const char magic[8], uint32_t version, json_t **out);

#endif							/* STRATA_JSONFILE_H */
