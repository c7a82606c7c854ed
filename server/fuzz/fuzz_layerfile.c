/*-------------------------------------------------------------------------
 *
 * fuzz_layerfile.c
 *	  libFuzzer target: the layer file reader (layerfile.c).  A layer file
 *	  comes from remote storage or a disk that may have rotted, so every
 *	  byte is untrusted; the reader must answer with an error, never crash,
 *	  read out of bounds or hand out a value that breaks its contract.
 *
 * The input is the file.  It is opened as it is and once more sealed
 * (fuzz_common.h): blob lengths and CRCs, index node CRCs, the summary's
 * file length and CRC recomputed.  On each file that opens, the target
 * does everything a reader does: verify, a full scan with values, a key
 * scan, point lookups and one vectored lookup of the keys it found (and
 * of the range bounds), each value decoded as the timeline would.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "fuzz_common.h"
#include "layerfile.h"
#include "layerfile_internal.h"
#include "value.h"

#define MAX_KEYS	64

struct found
{
	uint32_t	n;
	uint8_t		keys[MAX_KEYS][KEY_SIZE];
	lsn_t		limits[MAX_KEYS];
};

/* What a caller does with a value: bounds, then decode it as a page or size. */
static int
use_value(const uint8_t *val, uint32_t len)
{
	static uint8_t page[PROTO_PAGE_SIZE];
	static uint8_t copy[LAYER_VALUE_MAX];
	uint64_t	nblocks;

	if (len > LAYER_VALUE_MAX)
	{
		fprintf(stderr, "layer reader returned a %u-byte value (max %d)\n", len,
				LAYER_VALUE_MAX);
		abort();
	}
	memcpy(copy, val, len);		/* ASan checks the whole range */
	if (len >= VAL_HDR)
	{
		(void) value_get_page(val, len, page);
		(void) value_get_size(val, len, &nblocks);
	}
	return 0;
}

static int
value_cb(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	(void) key;
	(void) lsn;
	(void) arg;
	return use_value(val, len);
}

static int
many_cb(uint32_t i, lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	struct found *fd = arg;

	(void) lsn;
	if (i >= fd->n)
	{
		fprintf(stderr, "vectored read answered key %u of %u\n", i, fd->n);
		abort();
	}
	return use_value(val, len);
}

static int
key_cb(const uint8_t key[KEY_SIZE], lsn_t lsn, uint32_t blob_len, void *arg)
{
	struct found *fd = arg;

	(void) blob_len;
	if (fd->n == MAX_KEYS)
		return 1;
	memcpy(fd->keys[fd->n], key, KEY_SIZE);
	fd->limits[fd->n] = lsn == LSN_MAX ? lsn : lsn + 1;
	fd->n++;
	return 0;
}

static int
cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, KEY_SIZE);
}

/* Sort and deduplicate the keys: layer_get_many wants them ascending. */
static void
sort_found(struct found *fd)
{
	uint8_t		sorted[MAX_KEYS][KEY_SIZE];
	uint32_t	n = 0;

	memcpy(sorted, fd->keys, sizeof(sorted));
	qsort(sorted, fd->n, KEY_SIZE, cmp_key);
	for (uint32_t i = 0; i < fd->n; i++)
		if (n == 0 || memcmp(sorted[n - 1], sorted[i], KEY_SIZE) != 0)
			memcpy(sorted[n++], sorted[i], KEY_SIZE);
	memcpy(fd->keys, sorted, sizeof(sorted));
	fd->n = n;
}

static void
read_everything(struct layer_file *f)
{
	const struct layer_desc *d = layer_desc(f);
	struct found fd;
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];

	memset(lo, 0, KEY_SIZE);
	memset(hi, 0xFF, KEY_SIZE);
	(void) layer_size(f);
	(void) layer_entries(f);
	(void) layer_path(f);
	(void) layer_verify(f);
	(void) layer_scan(f, lo, hi, LSN_MAX, value_cb, NULL);
	(void) layer_scan(f, d->key_start, d->key_end, d->lsn_end, value_cb, NULL);
	fd.n = 0;
	(void) layer_scan_keys(f, lo, hi, LSN_MAX, key_cb, &fd);
	for (uint32_t i = 0; i < fd.n; i++)
	{
		(void) layer_get(f, fd.keys[i], fd.limits[i], value_cb, NULL);
		(void) layer_get(f, fd.keys[i], LSN_MAX, value_cb, NULL);
	}
	(void) layer_get(f, d->key_start, d->lsn_end, value_cb, NULL);
	(void) layer_get(f, d->key_end, LSN_MAX, value_cb, NULL);
	/* the bounds too: a lookup before the first and after the last key */
	if (fd.n + 2 <= MAX_KEYS)
	{
		memcpy(fd.keys[fd.n], lo, KEY_SIZE);
		fd.limits[fd.n++] = LSN_MAX;
		memcpy(fd.keys[fd.n], hi, KEY_SIZE);
		fd.limits[fd.n++] = LSN_MAX;
	}
	sort_found(&fd);
	for (uint32_t i = 0; i < fd.n; i++)
		fd.limits[i] = i % 2 ? LSN_MAX : d->lsn_end;
	(void) layer_get_many(f, fd.n, (const uint8_t (*)[KEY_SIZE]) fd.keys, fd.limits, many_cb, &fd);
}

static void
try_file(const uint8_t *data, size_t len)
{
	char		path[PATH_MAX];
	int			fd = fuzz_memfile(data, len, path);
	struct layer_file *f;

	if (layer_open(path, &f) == 0)
	{
		read_everything(f);
		layer_close(f);
	}
	close(fd);
}

/* Blobs the leaves point to: length field and CRC. */
static void
seal_blobs(uint8_t *b, size_t len, size_t node)
{
	int			cnt = get_le16(b + node + 6);

	if (cnt > (int) LAYER_LEAF_FANOUT)
		cnt = LAYER_LEAF_FANOUT;
	for (int i = 0; i < cnt; i++)
	{
		const uint8_t *e = b + node + LAYER_NODE_HDR + i * LAYER_LEAF_ENT;
		uint64_t	off = get_le64(e + LAYER_POS);
		uint32_t	blen = get_le32(e + LAYER_POS + 8);

		if (blen < LAYER_BLOB_HDR + 4 || blen > LAYER_BLOB_MAX || off < LAYER_SUMMARY ||
			off > len || blen > len - off)
			continue;
		put_le32(b + off, blen);
		fuzz_seal_crc(b + off, blen - 4);
	}
}

/*
 * The index nodes lie on a grid of 8 KiB from the summary's first leaf
 * (the values before it end anywhere); a first leaf outside the file
 * leaves only the summary to seal.
 */
static void
seal(uint8_t *b, size_t len)
{
	uint64_t	first = get_le64(b + 116);

	if (first >= LAYER_SUMMARY && first <= len)
	{
		/* blobs first: one may overlap a node, whose CRC is then redone */
		for (size_t off = first; off + LAYER_NODE <= len; off += LAYER_NODE)
			if (memcmp(b + off, LAYER_NODE_MAGIC, 4) == 0 && b[off + 4] == 0)
				seal_blobs(b, len, off);
		for (size_t off = first; off + LAYER_NODE <= len; off += LAYER_NODE)
			if (memcmp(b + off, LAYER_NODE_MAGIC, 4) == 0)
				fuzz_seal_crc(b + off, LAYER_NODE - 4);
	}
	put_le64(b + 144, len);
	fuzz_seal_crc(b, LAYER_SUMMARY - 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t    *sealed;

	fuzz_init();
	try_file(data, len);
	if (len < LAYER_SUMMARY)
		return 0;
	sealed = fuzz_copy(data, len);
	seal(sealed, len);
	if (memcmp(sealed, data, len) != 0)
		try_file(sealed, len);
	free(sealed);
	return 0;
}
