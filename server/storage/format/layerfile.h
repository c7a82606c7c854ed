/*-------------------------------------------------------------------------
 *
 * layerfile.h
 *	  Layer files (ARCHITECTURE.md 5.3): immutable, sorted (key, LSN) ->
 *	  value files.  A delta layer covers a key range x an LSN range with
 *	  any number of versions per key; an image layer covers a key range at
 *	  one LSN (lsn_end = lsn_start + 1) with one version per key, and a key
 *	  of its range that it lacks does not exist at that LSN.
 *
 * Layout (integers little-endian; keys and index LSNs big-endian so that
 * memcmp orders (key, LSN) pairs):
 *	summary, 8192 bytes at offset 0:
 *	  0 8 magic "STRATALY", 8 4 format version (2; 1 is read too), 12 4 summary length
 *	  (8192), 16 1 kind (1 delta, 2 image), 17 3 zero, 20 4 generation,
 *	  24 16 tenant id, 40 16 timeline id, 56 18 key_start, 74 18 key_end,
 *	  92 8 lsn_start, 100 8 lsn_end, 108 8 entries, 116 8 first leaf
 *	  offset, 124 8 leaf count, 132 8 index root offset, 140 4 index
 *	  height (1 = the root is a leaf), 144 8 file length, zero up to
 *	  8188, 8188 4 CRC-32C of bytes 0..8187
 *	values, from 8192: blobs of u32 length (all fields), u8 flags (the
 *	  codec, codec.h: 0 raw, 1 zstd, 2 LZ4 from version 2 on), payload,
 *	  u32 CRC-32C of the blob's preceding bytes
 *	index, 8192-byte nodes after the values, leaves first (contiguous, in
 *	  key order), then each upper level, the root last:
 *	  0 4 magic "LYIX", 4 1 level (0 = leaf), 5 1 zero, 6 2 entry count,
 *	  8.. entries, 8188 4 CRC-32C of bytes 0..8187
 *	  leaf entry, 38 bytes: key 18, LSN 8, blob offset 8, blob length 4
 *	  inner entry, 34 bytes: the child's first key 18 and LSN 8, child
 *	  offset 8
 * Every read checks magic, version and CRC; a failure is STRATA_ECORRUPT
 * (STRATA_EVERSION for a newer format) with one log line naming the file
 * and offset.  A file shorter than its summary says is refused at open.
 * Files are published by layer_writer_finish() with temp file, fsync,
 * rename and directory fsync (I14).
 *
 * Code: the writer is layerfile_write.c, the reader (open, lookups,
 * verification) layerfile.c, names layerfile_name.c; the layout constants
 * both sides use are in layerfile_internal.h.
 *
 * Threads: a writer belongs to one thread; an open layer_file is
 * immutable and every read function may run on many threads at once
 * (pread only).  The index's upper levels are read (and checked) at open
 * and kept in memory, so a point lookup reads one leaf plus its blobs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_LAYER_H
#define STRATA_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "key.h"
#include "lsn.h"

#define LAYER_VALUE_MAX 16384	/* largest value a layer stores */
#define LAYER_NAME_MAX	128

enum layer_kind
{
	LAYER_DELTA = 1,
	LAYER_IMAGE = 2,
};

struct layer_desc
{
	enum layer_kind kind;
	uint8_t		key_start[KEY_SIZE];	/* [key_start, key_end) */
	uint8_t		key_end[KEY_SIZE];
	lsn_t		lsn_start;		/* [lsn_start, lsn_end); image: end = start + 1 */
	lsn_t		lsn_end;
	uint32_t	generation;
};

/*
 * Names in Neon's shape plus the generation; keys as 36 hex digits, LSNs
 * as 16, the generation as 8:
 *	delta: <KEYSTART>-<KEYEND>__<LSNSTART>-<LSNEND>-<GEN>
 *	image: <KEYSTART>-<KEYEND>__<LSN>-<GEN>
 * layer_parse_name(): STRATA_EINVAL if name is not a layer file's.
 */
extern int	layer_format_name(const struct layer_desc *d, char *buf, size_t len);
extern int	layer_parse_name(const char *name, struct layer_desc *d);

/* ---------- writing ---------- */

struct layer_writer;

extern int	layer_writer_begin(const char *dir, enum layer_kind kind, const uint8_t tenant[16],
							   const uint8_t timeline[16], uint32_t generation,
							   struct layer_writer **out);

/*
 * Entries in strictly ascending (key, LSN) order, else STRATA_EINVAL (an
 * image takes one version per key); values up to LAYER_VALUE_MAX bytes.
 * On failure the writer stays usable only for layer_writer_abort().
 */
extern int	layer_writer_add(struct layer_writer *w, const uint8_t key[KEY_SIZE], lsn_t lsn,
							 const void *val, uint32_t len);

/* Bytes written so far (to cut output files at a size). */
extern uint64_t layer_writer_size(const struct layer_writer *w);

/*
 * Write the index and summary and publish the file under its name in the
 * writer's directory.  The ranges must contain every entry.  Never
 * replaces a file: STRATA_EEXIST if the name exists.  Frees w, also on
 * failure (the temp file is removed then).
 */
extern int	layer_writer_finish(struct layer_writer *w, const uint8_t key_start[KEY_SIZE],
								const uint8_t key_end[KEY_SIZE], lsn_t lsn_start,
								lsn_t lsn_end, struct layer_desc *out_desc, char *out_name,
								size_t name_len);

/* Remove the temp file and free. */
extern void layer_writer_abort(struct layer_writer *w);

/* ---------- reading ---------- */

struct layer_file;

/* Open and check the summary (magic, version, CRC, file length). */
extern int	layer_open(const char *path, struct layer_file **out);
extern void layer_close(struct layer_file *f);
extern const struct layer_desc *layer_desc(const struct layer_file *f);
extern uint64_t layer_size(const struct layer_file *f);
extern uint64_t layer_entries(const struct layer_file *f);
extern const char *layer_path(const struct layer_file *f);

/* val is valid only during the call; a nonzero return stops the walk. */
typedef int (*layer_value_fn) (const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val,
							   uint32_t len, void *arg);

/*
 * On this thread, reads that would wait for the disk (the data is not in
 * the page cache) fail with STRATA_EWOULDBLOCK instead (RWF_NOWAIT): an
 * event loop tries its reads this way and hands the rest to a worker.
 */
extern void layer_set_nowait(int on);

/* Versions of key with LSN < lsn_limit, newest first. */
extern int	layer_get(struct layer_file *f, const uint8_t key[KEY_SIZE], lsn_t lsn_limit,
					  layer_value_fn cb, void *arg);

/*
 * Vectored: n keys in ascending order, each with its own limit; per key
 * the newest version only (cb gets the key's index).  Walks the leaves
 * once, so each index node and blob is read at most once per call.
 */
typedef int (*layer_many_fn) (uint32_t i, lsn_t lsn, const uint8_t *val, uint32_t len,
							  void *arg);
extern int	layer_get_many(struct layer_file *f, uint32_t n, const uint8_t (*keys)[KEY_SIZE],
						   const lsn_t *lsn_limits, layer_many_fn cb, void *arg);

/* Entries with start <= key < end and LSN < lsn_limit in (key, LSN) order. */
extern int	layer_scan(struct layer_file *f, const uint8_t start[KEY_SIZE],
					   const uint8_t end[KEY_SIZE], lsn_t lsn_limit, layer_value_fn cb, void *arg);

/* Keys and LSNs only (no value reads), like layer_scan. */
typedef int (*layer_key_fn) (const uint8_t key[KEY_SIZE], lsn_t lsn, uint32_t blob_len, void *arg);
extern int	layer_scan_keys(struct layer_file *f, const uint8_t start[KEY_SIZE],
							const uint8_t end[KEY_SIZE], lsn_t lsn_limit, layer_key_fn cb,
							void *arg);

/* Read every node and blob, checking every CRC. */
extern int	layer_verify(struct layer_file *f);

#endif							/* STRATA_LAYER_H */
