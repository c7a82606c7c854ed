/*-------------------------------------------------------------------------
 *
 * layerfile.c
 *	  Reading layer files (layerfile.h has the format): open and check the
 *	  summary, keep the upper index levels and verified leaves in memory,
 *	  point, vectored and range lookups, and full verification.  The
 *	  writer is layerfile_write.c, the file names layerfile_name.c.
 *
 *-------------------------------------------------------------------------
 */
#include "layerfile.h"
#include "layerfile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "codec.h"
#include "fio.h"
#include "slog.h"
#include "strata_err.h"

struct layer_file
{
	char		path[PATH_MAX];
	int			fd;
	struct layer_desc d;
	uint64_t	entries;
	uint64_t	first_leaf;
	uint64_t	nleaves;
	uint64_t	root;
	uint32_t	height;
	uint64_t	size;
	uint64_t	inner_off;		/* the upper index levels, kept in memory */
	uint8_t    *inner;
	_Atomic(uint8_t *) *leaves; /* verified leaves read so far (nleaves slots) */
};

/*
 * Verified leaf nodes stay in memory once read (published with a CAS,
 * freed with the file), within a process-wide budget: a lookup then costs
 * no pread and no CRC of 8 KiB per layer visited.
 */
#define LEAF_CACHE_MAX	((uint64_t) 256 * 1024 * 1024)
static _Atomic uint64_t leaf_cache_bytes;

/* This thread's reads must not wait for the disk (layer_set_nowait). */
static __thread int tls_nowait;
static _Atomic int nowait_unsupported;

void
layer_set_nowait(int on)
{
	tls_nowait = on;
}

static int
read_at(struct layer_file *f, void *buf, size_t len, uint64_t off)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n;

		if (tls_nowait)
		{
			struct iovec iov = {(uint8_t *) buf + done, len - done};

			if (atomic_load(&nowait_unsupported))
				return STRATA_EWOULDBLOCK;
			n = preadv2(f->fd, &iov, 1, (off_t) (off + done), RWF_NOWAIT);
			if (n < 0 && errno == EAGAIN)
				return STRATA_EWOULDBLOCK;
			if (n < 0 && errno == EOPNOTSUPP)
			{
				/* this file system cannot tell: every read goes to a worker */
				atomic_store(&nowait_unsupported, 1);
				return STRATA_EWOULDBLOCK;
			}
		}
		else
			n = pread(f->fd, (uint8_t *) buf + done, len - done, (off_t) (off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
		{
			slog(SLOG_ERROR, "could not read layer file \"%s\" at offset %llu: %m", f->path,
				 (unsigned long long) (off + done));
			return STRATA_EIO;
		}
		if (n == 0)
		{
			slog(SLOG_ERROR, "layer file \"%s\" is truncated at offset %llu", f->path,
				 (unsigned long long) (off + done));
			return STRATA_ECORRUPT;
		}
		done += (size_t) n;
	}
	return 0;
}

int
layer_open(const char *path, struct layer_file **out)
{
	struct layer_file *f = calloc(1, sizeof(*f));
	uint8_t		sum[LAYER_SUMMARY];
	struct stat st;
	int			err;

	if (f == NULL)
		return STRATA_ENOMEM;
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->fd = fio_open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0 || fstat(f->fd, &st) != 0)
	{
		slog(SLOG_ERROR, "could not open layer file \"%s\": %m", path);
		err = errno == ENOENT ? STRATA_ENOTFOUND : STRATA_EIO;
		goto fail;
	}
	err = STRATA_ECORRUPT;
	if ((uint64_t) st.st_size < LAYER_SUMMARY || read_at(f, sum, LAYER_SUMMARY, 0) != 0 ||
		memcmp(sum, LAYER_MAGIC, 8) != 0)
	{
		slog(SLOG_ERROR, "layer file \"%s\": no valid summary at offset 0", path);
		goto fail;
	}
	if (get_le32(sum + 8) < LAYER_VERSION_MIN || get_le32(sum + 8) > LAYER_VERSION)
	{
		slog(SLOG_ERROR, "layer file \"%s\": unsupported format version %u", path,
			 get_le32(sum + 8));
		err = STRATA_EVERSION;
		goto fail;
	}
	if (get_le32(sum + LAYER_SUMMARY - 4) != strata_crc32c(sum, LAYER_SUMMARY - 4) ||
		get_le32(sum + 12) != LAYER_SUMMARY || (sum[16] != LAYER_DELTA && sum[16] != LAYER_IMAGE))
	{
		slog(SLOG_ERROR, "layer file \"%s\": summary checksum mismatch at offset 0", path);
		goto fail;
	}
	f->d.kind = (enum layer_kind) sum[16];
	f->d.generation = get_le32(sum + 20);
	memcpy(f->d.key_start, sum + 56, KEY_SIZE);
	memcpy(f->d.key_end, sum + 74, KEY_SIZE);
	f->d.lsn_start = get_le64(sum + 92);
	f->d.lsn_end = get_le64(sum + 100);
	f->entries = get_le64(sum + 108);
	f->first_leaf = get_le64(sum + 116);
	f->nleaves = get_le64(sum + 124);
	f->root = get_le64(sum + 132);
	f->height = get_le32(sum + 140);
	f->size = get_le64(sum + 144);
	if (f->size != (uint64_t) st.st_size)
	{
		slog(SLOG_ERROR, "layer file \"%s\" is %llu bytes, its summary says %llu: truncated or "
			 "damaged", path, (unsigned long long) st.st_size, (unsigned long long) f->size);
		goto fail;
	}
	/*
	 * Every index node lies on the grid of 8 KiB nodes from first_leaf to
	 * the end of the file.  Written as subtractions: the offsets are the
	 * file's word, and a sum of them can wrap past 2^64 into range.
	 */
	if (f->height == 0 || f->height > 16 || f->first_leaf < LAYER_SUMMARY ||
		f->first_leaf > f->size || (f->size - f->first_leaf) % LAYER_NODE != 0 ||
		f->nleaves > (f->size - f->first_leaf) / LAYER_NODE ||
		f->root < f->first_leaf || f->root > f->size - LAYER_NODE ||
		(f->root - f->first_leaf) % LAYER_NODE != 0)
	{
		slog(SLOG_ERROR, "layer file \"%s\": the summary's index description is invalid", path);
		goto fail;
	}
	/* the upper levels follow the leaves up to the end of the file */
	f->inner_off = f->first_leaf + f->nleaves * LAYER_NODE;
	if (f->size > f->inner_off)
	{
		uint8_t    *node;

		if ((f->inner = malloc(f->size - f->inner_off)) == NULL)
		{
			err = STRATA_ENOMEM;
			goto fail;
		}
		if ((err = read_at(f, f->inner, f->size - f->inner_off, f->inner_off)) != 0)
			goto fail;
		for (uint64_t off = 0; off + LAYER_NODE <= f->size - f->inner_off; off += LAYER_NODE)
		{
			node = f->inner + off;
			if (memcmp(node, LAYER_NODE_MAGIC, 4) != 0 ||
				get_le32(node + LAYER_NODE - 4) != strata_crc32c(node, LAYER_NODE - 4))
			{
				slog(SLOG_ERROR, "layer file \"%s\": corrupt index node at offset %llu "
					 "(checksum or header mismatch)", path,
					 (unsigned long long) (f->inner_off + off));
				err = STRATA_ECORRUPT;
				goto fail;
			}
		}
	}
	f->leaves = calloc(f->nleaves ? f->nleaves : 1, sizeof(*f->leaves));	/* NULL: no cache */
	*out = f;
	return 0;
fail:
	if (f->fd >= 0)
		close(f->fd);
	free(f->inner);
	free(f);
	return err;
}

void
layer_close(struct layer_file *f)
{
	if (f == NULL)
		return;
	close(f->fd);
	free(f->inner);
	if (f->leaves)
	{
		for (uint64_t i = 0; i < f->nleaves; i++)
		{
			uint8_t    *p = atomic_load(&f->leaves[i]);

			if (p)
			{
				free(p);
				atomic_fetch_sub(&leaf_cache_bytes, LAYER_NODE);
			}
		}
		free(f->leaves);
	}
	free(f);
}

const struct layer_desc *
layer_desc(const struct layer_file *f)
{
	return &f->d;
}

uint64_t
layer_size(const struct layer_file *f)
{
	return f->size;
}

uint64_t
layer_entries(const struct layer_file *f)
{
	return f->entries;
}

const char *
layer_path(const struct layer_file *f)
{
	return f->path;
}

/* Read and check an index node; cached: through the leaf cache. */
static int
read_node_ex(struct layer_file *f, uint64_t off, int want_level, uint8_t *node, int cached)
{
	uint64_t	leaf = UINT64_MAX;
	int			in_memory = f->inner && off >= f->inner_off;
	int			err;
	int			cnt;

	/*
	 * Only offsets on the node grid: the upper levels in memory had their
	 * CRCs checked at open node by node, and an offset between two nodes
	 * would read one that never was.
	 */
	if (off < f->first_leaf || off > f->size - LAYER_NODE ||
		(off - f->first_leaf) % LAYER_NODE != 0)
	{
		slog(SLOG_ERROR, "layer file \"%s\": index points outside its nodes (offset %llu)",
			 f->path, (unsigned long long) off);
		return STRATA_ECORRUPT;
	}
	if (cached && f->leaves && off >= f->first_leaf && (off - f->first_leaf) % LAYER_NODE == 0 &&
		(off - f->first_leaf) / LAYER_NODE < f->nleaves)
	{
		uint8_t    *p;

		leaf = (off - f->first_leaf) / LAYER_NODE;
		if ((p = atomic_load(&f->leaves[leaf])) != NULL && (want_level < 0 || want_level == 0))
		{
			memcpy(node, p, LAYER_NODE);
			return 0;
		}
	}
	if (in_memory)
		memcpy(node, f->inner + (off - f->inner_off), LAYER_NODE);	/* CRC checked at open */
	else if ((err = read_at(f, node, LAYER_NODE, off)) != 0)
		return err;
	cnt = get_le16(node + 6);
	if (memcmp(node, LAYER_NODE_MAGIC, 4) != 0 ||
		(!in_memory && get_le32(node + LAYER_NODE - 4) != strata_crc32c(node, LAYER_NODE - 4)) ||
		(want_level >= 0 && node[4] != want_level) ||
		cnt > (node[4] == 0 ? LAYER_LEAF_FANOUT : LAYER_INNER_FANOUT))
	{
		slog(SLOG_ERROR, "layer file \"%s\": corrupt index node at offset %llu (checksum or "
			 "header mismatch)", f->path, (unsigned long long) off);
		return STRATA_ECORRUPT;
	}
	if (leaf != UINT64_MAX && node[4] == 0 &&
		atomic_fetch_add(&leaf_cache_bytes, LAYER_NODE) + LAYER_NODE <= LEAF_CACHE_MAX)
	{
		uint8_t    *p = malloc(LAYER_NODE);
		uint8_t    *expect = NULL;

		if (p != NULL)
		{
			memcpy(p, node, LAYER_NODE);
			if (atomic_compare_exchange_strong(&f->leaves[leaf], &expect, p))
				return 0;
			free(p);
		}
		atomic_fetch_sub(&leaf_cache_bytes, LAYER_NODE);
	}
	else if (leaf != UINT64_MAX && node[4] == 0)
		atomic_fetch_sub(&leaf_cache_bytes, LAYER_NODE);
	return 0;
}

static int
read_node(struct layer_file *f, uint64_t off, int want_level, uint8_t *node)
{
	return read_node_ex(f, off, want_level, node, 1);
}

/* Read and check one blob; *val points into buf (or zbuf once decompressed). */
static int
read_blob(struct layer_file *f, uint64_t off, uint32_t len, uint8_t *buf, uint8_t *zbuf,
		  const uint8_t **val, uint32_t *vlen)
{
	int			err;

	/* values lie between the summary and the index; no sum that can wrap */
	if (len < LAYER_BLOB_HDR + 4 || len > LAYER_BLOB_MAX || off < LAYER_SUMMARY ||
		off > f->first_leaf || len > f->first_leaf - off)
	{
		slog(SLOG_ERROR, "layer file \"%s\": bad value reference at offset %llu", f->path,
			 (unsigned long long) off);
		return STRATA_ECORRUPT;
	}
	if ((err = read_at(f, buf, len, off)) != 0)
		return err;
	if (get_le32(buf) != len || get_le32(buf + len - 4) != strata_crc32c(buf, len - 4))
	{
		slog(SLOG_ERROR, "layer file \"%s\": value checksum mismatch at offset %llu", f->path,
			 (unsigned long long) off);
		return STRATA_ECORRUPT;
	}
	if (buf[4] != CODEC_NONE)
	{
		const char *why = NULL;
		long		n = codec_decompress((enum codec) buf[4], buf + LAYER_BLOB_HDR, len - LAYER_BLOB_HDR - 4,
										 zbuf, LAYER_VALUE_MAX, &why);

		if (n < 0)
		{
			slog(SLOG_ERROR, "layer file \"%s\": value at offset %llu does not decompress (%s, "
				 "flags %u)", f->path, (unsigned long long) off, why, buf[4]);
			return STRATA_ECORRUPT;
		}
		*val = zbuf;
		*vlen = (uint32_t) n;
	}
	else
	{
		*val = buf + LAYER_BLOB_HDR;
		*vlen = len - LAYER_BLOB_HDR - 4;
	}
	/* room for a compression header makes a raw blob fit a longer value */
	if (*vlen > LAYER_VALUE_MAX)
	{
		slog(SLOG_ERROR, "layer file \"%s\": value at offset %llu is %u bytes, more than %d",
			 f->path, (unsigned long long) off, *vlen, LAYER_VALUE_MAX);
		return STRATA_ECORRUPT;
	}
	return 0;
}

/*
 * Descend to the leaf that holds the last entry < pos (or the first leaf);
 * *leaf_off gets its offset and node its content; *idx the index of that
 * entry in it (-1: none in this leaf, i.e. pos is before all entries).
 */
static int
descend(struct layer_file *f, const uint8_t *pos, uint8_t *node, uint64_t *leaf_off, int *idx)
{
	uint64_t	off = f->root;
	int			err;

	for (int level = (int) f->height - 1; level >= 0; level--)
	{
		int			cnt,
					lo = 0,
					hi;
		int			esz = level == 0 ? LAYER_LEAF_ENT : LAYER_INNER_ENT;

		if ((err = read_node(f, off, level, node)) != 0)
			return err;
		cnt = get_le16(node + 6);
		/* the number of entries < pos */
		hi = cnt;
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (memcmp(node + LAYER_NODE_HDR + mid * esz, pos, LAYER_POS) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (level == 0)
		{
			*leaf_off = off;
			*idx = lo - 1;
			return 0;
		}
		/* the child whose first entry is the last one < pos (or the first) */
		off = get_le64(node + LAYER_NODE_HDR + (lo > 0 ? lo - 1 : 0) * LAYER_INNER_ENT + LAYER_POS);
	}
	return STRATA_EINTERNAL;
}

struct cursor
{
	struct layer_file *f;
	uint8_t		node[LAYER_NODE];
	uint64_t	leaf;			/* offset of the leaf in node */
	int			idx;
	int			cnt;
};

static const uint8_t *
cur_ent(struct cursor *c)
{
	return c->node + LAYER_NODE_HDR + c->idx * LAYER_LEAF_ENT;
}

/* Step back; 1 if there is an entry, 0 at the start, < 0 on error. */
static int
cur_prev(struct cursor *c)
{
	int			err;

	while (c->idx <= 0)
	{
		if (c->leaf <= c->f->first_leaf)
			return 0;
		c->leaf -= LAYER_NODE;
		if ((err = read_node(c->f, c->leaf, 0, c->node)) != 0)
			return err;
		c->cnt = get_le16(c->node + 6);
		c->idx = c->cnt;
	}
	c->idx--;
	return 1;
}

/* Step forward; 1 if there is an entry, 0 at the end, < 0 on error. */
static int
cur_next(struct cursor *c)
{
	int			err;

	c->idx++;
	while (c->idx >= c->cnt)
	{
		if (c->leaf + LAYER_NODE >= c->f->first_leaf + c->f->nleaves * LAYER_NODE)
			return 0;
		c->leaf += LAYER_NODE;
		if ((err = read_node(c->f, c->leaf, 0, c->node)) != 0)
			return err;
		c->cnt = get_le16(c->node + 6);
		c->idx = 0;
	}
	return 1;
}

/* Position on the last entry < pos: 1 if there is one, 0 if none. */
static int
cur_seek_before(struct cursor *c, const uint8_t *pos)
{
	int			err = descend(c->f, pos, c->node, &c->leaf, &c->idx);

	if (err != 0)
		return err;
	c->cnt = get_le16(c->node + 6);
	if (c->idx >= 0)
		return 1;
	c->idx = 0;
	return cur_prev(c);
}

int
layer_get(struct layer_file *f, const uint8_t key[KEY_SIZE], lsn_t lsn_limit,
		  layer_value_fn cb, void *arg)
{
	struct cursor *c = malloc(sizeof(*c));
	uint8_t    *buf = malloc(LAYER_BLOB_MAX + LAYER_VALUE_MAX);
	uint8_t		pos[LAYER_POS];
	int			r;

	if (c == NULL || buf == NULL)
	{
		free(c);
		free(buf);
		return STRATA_ENOMEM;
	}
	c->f = f;
	layer_make_pos(pos, key, lsn_limit);
	for (r = cur_seek_before(c, pos); r == 1; r = cur_prev(c))
	{
		const uint8_t *e = cur_ent(c);
		const uint8_t *val;
		uint32_t	vlen;

		if (memcmp(e, key, KEY_SIZE) != 0)
		{
			r = 0;
			break;
		}
		if ((r = read_blob(f, get_le64(e + LAYER_POS), get_le32(e + LAYER_POS + 8), buf,
						   buf + LAYER_BLOB_MAX, &val, &vlen)) != 0)
			break;
		if (cb(key, get_be64(e + KEY_SIZE), val, vlen, arg) != 0)
		{
			r = 0;
			break;
		}
	}
	free(buf);
	free(c);
	return r < 0 ? r : 0;
}

int
layer_get_many(struct layer_file *f, uint32_t n, const uint8_t (*keys)[KEY_SIZE],
			   const lsn_t *lsn_limits, layer_many_fn cb, void *arg)
{
	struct cursor *c = malloc(sizeof(*c));
	uint8_t    *buf = malloc(LAYER_BLOB_MAX + LAYER_VALUE_MAX);
	int			positioned = 0;
	int			r = 0;

	if (c == NULL || buf == NULL)
	{
		free(c);
		free(buf);
		return STRATA_ENOMEM;
	}
	c->f = f;
	for (uint32_t i = 0; i < n && r >= 0; i++)
	{
		uint8_t		pos[LAYER_POS];
		const uint8_t *e;
		const uint8_t *val;
		uint32_t	vlen;
		int			found = 0;

		layer_make_pos(pos, keys[i], lsn_limits[i]);
		/*
		 * Keys ascend: move forward within the leaves while the next entry
		 * is still < pos; descend again only when the target is far (not
		 * in this leaf or the next).
		 */
		if (positioned && c->cnt > 0 &&
			memcmp(c->node + LAYER_NODE_HDR + (c->cnt - 1) * LAYER_LEAF_ENT, pos, LAYER_POS) >= 0)
		{
			while (c->idx + 1 < c->cnt &&
				   memcmp(c->node + LAYER_NODE_HDR + (c->idx + 1) * LAYER_LEAF_ENT, pos,
						  LAYER_POS) < 0)
				c->idx++;
			found = c->idx >= 0 &&
				memcmp(c->node + LAYER_NODE_HDR + c->idx * LAYER_LEAF_ENT, pos, LAYER_POS) < 0;
		}
		else
		{
			r = cur_seek_before(c, pos);
			positioned = 1;
			if (r < 0)
				break;
			found = r == 1;
			r = 0;
		}
		if (!found)
			continue;
		e = cur_ent(c);
		if (memcmp(e, keys[i], KEY_SIZE) != 0)
			continue;
		if ((r = read_blob(f, get_le64(e + LAYER_POS), get_le32(e + LAYER_POS + 8), buf,
						   buf + LAYER_BLOB_MAX, &val, &vlen)) != 0)
			break;
		if (cb(i, get_be64(e + KEY_SIZE), val, vlen, arg) != 0)
			break;
	}
	free(buf);
	free(c);
	return r < 0 ? r : 0;
}

/* Walk entries in [start, end) with LSN < limit; values only if vcb. */
static int
scan(struct layer_file *f, const uint8_t start[KEY_SIZE], const uint8_t end[KEY_SIZE],
	 lsn_t lsn_limit, layer_value_fn vcb, layer_key_fn kcb, void *arg)
{
	struct cursor *c = malloc(sizeof(*c));
	uint8_t    *buf = vcb ? malloc(LAYER_BLOB_MAX + LAYER_VALUE_MAX) : NULL;
	uint8_t		pos[LAYER_POS];
	int			r;

	if (c == NULL || (vcb && buf == NULL))
	{
		free(c);
		free(buf);
		return STRATA_ENOMEM;
	}
	c->f = f;
	layer_make_pos(pos, start, 0);
	r = cur_seek_before(c, pos);
	if (r == 0)
	{
		/* nothing before start: begin at the very first entry */
		if ((r = read_node(f, f->first_leaf, 0, c->node)) == 0)
		{
			c->leaf = f->first_leaf;
			c->cnt = get_le16(c->node + 6);
			c->idx = -1;
			r = cur_next(c);
		}
	}
	else if (r == 1)
		r = cur_next(c);
	for (; r == 1; r = cur_next(c))
	{
		const uint8_t *e = cur_ent(c);
		lsn_t		lsn = get_be64(e + KEY_SIZE);

		if (memcmp(e, end, KEY_SIZE) >= 0)
		{
			r = 0;
			break;
		}
		if (lsn >= lsn_limit)
			continue;
		if (vcb)
		{
			const uint8_t *val;
			uint32_t	vlen;

			if ((r = read_blob(f, get_le64(e + LAYER_POS), get_le32(e + LAYER_POS + 8), buf,
							   buf + LAYER_BLOB_MAX, &val, &vlen)) != 0)
				break;
			if (vcb(e, lsn, val, vlen, arg) != 0)
			{
				r = 0;
				break;
			}
		}
		else if (kcb(e, lsn, get_le32(e + LAYER_POS + 8), arg) != 0)
		{
			r = 0;
			break;
		}
	}
	free(buf);
	free(c);
	return r < 0 ? r : 0;
}

int
layer_scan(struct layer_file *f, const uint8_t start[KEY_SIZE], const uint8_t end[KEY_SIZE],
		   lsn_t lsn_limit, layer_value_fn cb, void *arg)
{
	return scan(f, start, end, lsn_limit, cb, NULL, arg);
}

int
layer_scan_keys(struct layer_file *f, const uint8_t start[KEY_SIZE], const uint8_t end[KEY_SIZE],
				lsn_t lsn_limit, layer_key_fn cb, void *arg)
{
	return scan(f, start, end, lsn_limit, NULL, cb, arg);
}

static int
verify_cb(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	uint64_t   *n = arg;

	(void) key;
	(void) lsn;
	(void) val;
	(void) len;
	(*n)++;
	return 0;
}

int
layer_verify(struct layer_file *f)
{
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];
	uint8_t		node[LAYER_NODE];
	uint64_t	n = 0;
	int			err;

	/* every index node (leaves and upper levels lie after the first leaf) */
	for (uint64_t off = f->first_leaf; off + LAYER_NODE <= f->size; off += LAYER_NODE)
		if ((err = read_node_ex(f, off, -1, node, 0)) != 0)
			return err;
	memset(lo, 0, KEY_SIZE);
	memset(hi, 0xFF, KEY_SIZE);
	if ((err = layer_scan(f, lo, hi, LSN_MAX, verify_cb, &n)) != 0)
		return err;
	if (n != f->entries)
	{
		slog(SLOG_ERROR, "layer file \"%s\": %llu entries found, the summary says %llu", f->path,
			 (unsigned long long) n, (unsigned long long) f->entries);
		return STRATA_ECORRUPT;
	}
	return 0;
}
