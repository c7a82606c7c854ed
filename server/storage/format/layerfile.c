/*-------------------------------------------------------------------------
 *
 * layer.c
 *	  Writing and reading layer files (see layer.h for the format).
 *
 *-------------------------------------------------------------------------
 */
#include "layerfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>


#include "bytes.h"
#include "checksum.h"
#include "codec.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"

#define MAGIC			"STRATALY"
#define VERSION			2		/* 2: blobs may be LZ4 (flag 2) */
#define VERSION_MIN		1		/* 1: raw or zstd blobs */
#define NODE			8192
#define SUMMARY			NODE
#define NODE_MAGIC		"LYIX"
#define NODE_HDR		8
#define NODE_ROOM		(NODE - NODE_HDR - 4)
#define LEAF_ENT		38
#define INNER_ENT		34
#define LEAF_FANOUT		(NODE_ROOM / LEAF_ENT)
#define INNER_FANOUT	(NODE_ROOM / INNER_ENT)
#define POS				(KEY_SIZE + 8)	/* a (key, LSN) position, big-endian */
#define BLOB_HDR		5
#define BLOB_MAX		(BLOB_HDR + LAYER_VALUE_MAX + 64 + 4)
#define OUTBUF			(1024 * 1024)


struct entry
{
	uint8_t		pos[POS];
	uint64_t	off;
	uint32_t	len;
};

struct layer_writer
{
	char		dir[PATH_MAX];
	char		tmp[PATH_MAX];
	int			fd;
	enum layer_kind kind;
	uint8_t		tenant[16];
	uint8_t		timeline[16];
	uint32_t	generation;
	uint64_t	off;			/* next file offset */
	uint8_t    *out;			/* buffered bytes at [out_off, off) */
	size_t		out_len;
	uint64_t	out_off;
	struct entry *e;
	uint64_t	n;
	uint64_t	cap;
	enum codec	codec;			/* for its values */
	uint8_t    *zbuf;
	size_t		zcap;
};

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

static void
make_pos(uint8_t *pos, const uint8_t key[KEY_SIZE], lsn_t lsn)
{
	memcpy(pos, key, KEY_SIZE);
	put_be64(pos + KEY_SIZE, lsn);
}

/* ---------- names ---------- */

static void
hex(char *out, const uint8_t *b, int n)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", b[i]);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
unhex(const char *s, uint8_t *b, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			hi = hexval(s[2 * i]);
		int			lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);

		if (lo < 0)
			return -1;
		b[i] = (uint8_t) (hi * 16 + lo);
	}
	return 0;
}

int
layer_format_name(const struct layer_desc *d, char *buf, size_t len)
{
	char		ks[KEY_SIZE * 2 + 1];
	char		ke[KEY_SIZE * 2 + 1];
	int			n;

	hex(ks, d->key_start, KEY_SIZE);
	hex(ke, d->key_end, KEY_SIZE);
	if (d->kind == LAYER_IMAGE)
		n = snprintf(buf, len, "%s-%s__%016llX-%08X", ks, ke, (unsigned long long) d->lsn_start,
					 d->generation);
	else
		n = snprintf(buf, len, "%s-%s__%016llX-%016llX-%08X", ks, ke,
					 (unsigned long long) d->lsn_start, (unsigned long long) d->lsn_end,
					 d->generation);
	return n > 0 && (size_t) n < len ? 0 : STRATA_EINVAL;
}

static int
parse_hex64(const char *s, uint64_t *v)
{
	uint64_t	x = 0;

	for (int i = 0; i < 16; i++)
	{
		int			h = hexval(s[i]);

		if (h < 0)
			return -1;
		x = x * 16 + (uint64_t) h;
	}
	*v = x;
	return 0;
}

int
layer_parse_name(const char *name, struct layer_desc *d)
{
	size_t		n = strlen(name);
	const size_t keys = KEY_SIZE * 4 + 1;	/* KS-KE */
	uint8_t		g[4];
	const char *p;

	memset(d, 0, sizeof(*d));
	if (n < keys + 2 || name[KEY_SIZE * 2] != '-' || name[keys] != '_' || name[keys + 1] != '_' ||
		unhex(name, d->key_start, KEY_SIZE) != 0 ||
		unhex(name + KEY_SIZE * 2 + 1, d->key_end, KEY_SIZE) != 0)
		return STRATA_EINVAL;
	p = name + keys + 2;
	if (strlen(p) == 16 + 1 + 8 && p[16] == '-')
	{
		d->kind = LAYER_IMAGE;
		if (parse_hex64(p, &d->lsn_start) != 0 || d->lsn_start == LSN_MAX)
			return STRATA_EINVAL;
		d->lsn_end = d->lsn_start + 1;
		p += 17;
	}
	else if (strlen(p) == 16 + 1 + 16 + 1 + 8 && p[16] == '-' && p[33] == '-')
	{
		d->kind = LAYER_DELTA;
		if (parse_hex64(p, &d->lsn_start) != 0 || parse_hex64(p + 17, &d->lsn_end) != 0 ||
			d->lsn_end <= d->lsn_start)
			return STRATA_EINVAL;
		p += 34;
	}
	else
		return STRATA_EINVAL;
	if (unhex(p, g, 4) != 0)
		return STRATA_EINVAL;
	d->generation = get_be32(g);
	if (memcmp(d->key_start, d->key_end, KEY_SIZE) >= 0)
		return STRATA_EINVAL;
	return 0;
}

/* ---------- writing ---------- */

static int
errno_err(int e)
{
	return e == ENOSPC || e == EDQUOT ? STRATA_ENOSPC : STRATA_EIO;
}

static int
flush_out(struct layer_writer *w)
{
	size_t		done = 0;

	while (done < w->out_len)
	{
		ssize_t		n = pwrite(w->fd, w->out + done, w->out_len - done,
							   (off_t) (w->out_off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			int			e = n < 0 ? errno : ENOSPC;

			slog(SLOG_ERROR, "could not write layer file \"%s\" at offset %llu: %s", w->tmp,
				 (unsigned long long) (w->out_off + done), strerror(e));
			return errno_err(e);
		}
		done += (size_t) n;
	}
	w->out_off += w->out_len;
	w->out_len = 0;
	return 0;
}

static int
put_bytes(struct layer_writer *w, const void *p, size_t len)
{
	int			err;

	if (w->out_len + len > OUTBUF && (err = flush_out(w)) != 0)
		return err;
	memcpy(w->out + w->out_len, p, len);
	w->out_len += len;
	w->off += len;
	return 0;
}

int
layer_writer_begin(const char *dir, enum layer_kind kind, const uint8_t tenant[16],
				   const uint8_t timeline[16], uint32_t generation, struct layer_writer **out)
{
	struct layer_writer *w = calloc(1, sizeof(*w));
	uint8_t		rnd[8];

	if (w == NULL || (w->out = malloc(OUTBUF)) == NULL)
	{
		free(w);
		return STRATA_ENOMEM;
	}
	w->codec = codec_default();
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0x5A, sizeof(rnd));
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	snprintf(w->tmp, sizeof(w->tmp), "%s/layer-%016llX.tmp", dir,
			 (unsigned long long) get_le64(rnd));
	w->fd = open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (w->fd < 0)
	{
		int			e = errno;

		slog(SLOG_ERROR, "could not create layer file \"%s\": %s", w->tmp, strerror(e));
		free(w->out);
		free(w);
		return errno_err(e);
	}
	w->kind = kind;
	memcpy(w->tenant, tenant, 16);
	memcpy(w->timeline, timeline, 16);
	w->generation = generation;
	w->off = w->out_off = SUMMARY;
	*out = w;
	return 0;
}

uint64_t
layer_writer_size(const struct layer_writer *w)
{
	return w->off;
}

int
layer_writer_add(struct layer_writer *w, const uint8_t key[KEY_SIZE], lsn_t lsn,
				 const void *val, uint32_t len)
{
	uint8_t		hdr[BLOB_HDR];
	uint8_t		crcb[4];
	const void *payload = val;
	size_t		plen = len;
	uint8_t		flags = 0;
	uint32_t	crc;
	struct entry *e;
	int			err;

	if (len > LAYER_VALUE_MAX)
		return STRATA_EINVAL;
	if (w->n == w->cap)
	{
		uint64_t	cap = w->cap ? w->cap * 2 : 1024;
		struct entry *ne = realloc(w->e, cap * sizeof(*ne));

		if (ne == NULL)
			return STRATA_ENOMEM;
		w->e = ne;
		w->cap = cap;
	}
	e = &w->e[w->n];
	make_pos(e->pos, key, lsn);
	if (w->n > 0)
	{
		int			c = memcmp(w->e[w->n - 1].pos, e->pos, w->kind == LAYER_IMAGE ? KEY_SIZE : POS);

		if (c >= 0)
		{
			slog(SLOG_ERROR, "layer file \"%s\": entries out of order", w->tmp);
			return STRATA_EINVAL;
		}
	}
	if (w->codec != CODEC_NONE)
	{
		size_t		bound = codec_bound(w->codec, len);
		size_t		z;

		if (bound > w->zcap)
		{
			uint8_t    *nb = realloc(w->zbuf, bound);

			if (nb == NULL)
				return STRATA_ENOMEM;
			w->zbuf = nb;
			w->zcap = bound;
		}
		if ((z = codec_compress(w->codec, val, len, w->zbuf, w->zcap)) > 0)
		{
			payload = w->zbuf;
			plen = z;
			flags = (uint8_t) w->codec;
		}
	}
	put_le32(hdr, (uint32_t) (BLOB_HDR + plen + 4));
	hdr[4] = flags;
	crc = strata_crc32c_update(strata_crc32c_init(), hdr, BLOB_HDR);
	crc = strata_crc32c_final(strata_crc32c_update(crc, payload, plen));
	put_le32(crcb, crc);
	e->off = w->off;
	e->len = (uint32_t) (BLOB_HDR + plen + 4);
	if ((err = put_bytes(w, hdr, BLOB_HDR)) != 0 || (err = put_bytes(w, payload, plen)) != 0 ||
		(err = put_bytes(w, crcb, 4)) != 0)
		return err;
	w->n++;
	return 0;
}

void
layer_writer_abort(struct layer_writer *w)
{
	if (w == NULL)
		return;
	close(w->fd);
	if (unlink(w->tmp) != 0 && errno != ENOENT)
		slog(SLOG_WARNING, "could not remove \"%s\": %m", w->tmp);
	free(w->e);
	free(w->zbuf);
	free(w->out);
	free(w);
}

static void
seal_node(uint8_t *node, int level, int count)
{
	memcpy(node, NODE_MAGIC, 4);
	node[4] = (uint8_t) level;
	node[5] = 0;
	put_le16(node + 6, (uint16_t) count);
	put_le32(node + NODE - 4, strata_crc32c(node, NODE - 4));
}

/* Write the index bottom-up; *root and *height describe it. */
static int
write_index(struct layer_writer *w, uint64_t *first_leaf, uint64_t *nleaves, uint64_t *root,
			uint32_t *height)
{
	uint8_t		node[NODE];
	uint64_t	nchild = (w->n + LEAF_FANOUT - 1) / LEAF_FANOUT;
	uint8_t    *firsts;			/* first position of each node of the level below */
	uint64_t   *offs;
	int			level = 0;
	int			err = 0;

	if (nchild == 0)
		nchild = 1;				/* an empty layer still has a (leaf) root */
	firsts = malloc(nchild * POS);
	offs = malloc(nchild * sizeof(*offs));
	if (firsts == NULL || offs == NULL)
	{
		free(firsts);
		free(offs);
		return STRATA_ENOMEM;
	}
	*first_leaf = w->off;
	*nleaves = nchild;
	for (uint64_t i = 0; i < nchild && err == 0; i++)
	{
		uint64_t	from = i * LEAF_FANOUT;
		int			cnt = 0;

		memset(node, 0, NODE);
		for (uint64_t j = from; j < w->n && cnt < LEAF_FANOUT; j++, cnt++)
		{
			uint8_t    *p = node + NODE_HDR + cnt * LEAF_ENT;

			memcpy(p, w->e[j].pos, POS);
			put_le64(p + POS, w->e[j].off);
			put_le32(p + POS + 8, w->e[j].len);
		}
		if (cnt > 0)
			memcpy(firsts + i * POS, w->e[from].pos, POS);
		else
			memset(firsts + i * POS, 0, POS);
		offs[i] = w->off;
		seal_node(node, 0, cnt);
		err = put_bytes(w, node, NODE);
	}
	while (err == 0 && nchild > 1)
	{
		uint64_t	nparent = (nchild + INNER_FANOUT - 1) / INNER_FANOUT;

		level++;
		for (uint64_t i = 0; i < nparent && err == 0; i++)
		{
			int			cnt = 0;
			uint64_t	off = w->off;

			memset(node, 0, NODE);
			for (uint64_t j = i * INNER_FANOUT; j < nchild && cnt < INNER_FANOUT; j++, cnt++)
			{
				uint8_t    *p = node + NODE_HDR + cnt * INNER_ENT;

				memcpy(p, firsts + j * POS, POS);
				put_le64(p + POS, offs[j]);
			}
			/* the parents' arrays reuse the front of the children's */
			memmove(firsts + i * POS, firsts + i * INNER_FANOUT * POS, POS);
			offs[i] = off;
			seal_node(node, level, cnt);
			err = put_bytes(w, node, NODE);
		}
		nchild = nparent;
	}
	*root = offs[0];
	*height = (uint32_t) level + 1;
	free(firsts);
	free(offs);
	return err;
}

int
layer_writer_finish(struct layer_writer *w, const uint8_t key_start[KEY_SIZE],
					const uint8_t key_end[KEY_SIZE], lsn_t lsn_start, lsn_t lsn_end,
					struct layer_desc *out_desc, char *out_name, size_t name_len)
{
	uint8_t		sum[SUMMARY];
	struct layer_desc d;
	char		path[PATH_MAX + LAYER_NAME_MAX];
	uint64_t	first_leaf,
				nleaves,
				root;
	uint32_t	height;
	int			err;

	memset(&d, 0, sizeof(d));
	d.kind = w->kind;
	memcpy(d.key_start, key_start, KEY_SIZE);
	memcpy(d.key_end, key_end, KEY_SIZE);
	d.lsn_start = lsn_start;
	d.lsn_end = lsn_end;
	d.generation = w->generation;
	err = STRATA_EINVAL;
	if (memcmp(key_start, key_end, KEY_SIZE) >= 0 || lsn_end <= lsn_start ||
		(w->kind == LAYER_IMAGE && lsn_end != lsn_start + 1))
		goto fail;
	for (uint64_t i = 0; i < w->n; i++)
	{
		lsn_t		l = get_be64(w->e[i].pos + KEY_SIZE);

		if (memcmp(w->e[i].pos, key_start, KEY_SIZE) < 0 ||
			memcmp(w->e[i].pos, key_end, KEY_SIZE) >= 0 || l < lsn_start || l >= lsn_end)
		{
			slog(SLOG_ERROR, "layer file \"%s\": an entry lies outside the given ranges", w->tmp);
			goto fail;
		}
	}
	if ((err = layer_format_name(&d, out_name, name_len)) != 0 ||
		(err = write_index(w, &first_leaf, &nleaves, &root, &height)) != 0 ||
		(err = flush_out(w)) != 0)
		goto fail;
	memset(sum, 0, sizeof(sum));
	memcpy(sum, MAGIC, 8);
	put_le32(sum + 8, VERSION);
	put_le32(sum + 12, SUMMARY);
	sum[16] = (uint8_t) w->kind;
	put_le32(sum + 20, w->generation);
	memcpy(sum + 24, w->tenant, 16);
	memcpy(sum + 40, w->timeline, 16);
	memcpy(sum + 56, key_start, KEY_SIZE);
	memcpy(sum + 74, key_end, KEY_SIZE);
	put_le64(sum + 92, lsn_start);
	put_le64(sum + 100, lsn_end);
	put_le64(sum + 108, w->n);
	put_le64(sum + 116, first_leaf);
	put_le64(sum + 124, nleaves);
	put_le64(sum + 132, root);
	put_le32(sum + 140, height);
	put_le64(sum + 144, w->off);
	put_le32(sum + SUMMARY - 4, strata_crc32c(sum, SUMMARY - 4));
	if (pwrite(w->fd, sum, SUMMARY, 0) != SUMMARY)
	{
		err = errno_err(errno);
		slog(SLOG_ERROR, "could not write layer file \"%s\": %m", w->tmp);
		goto fail;
	}
	if (fsync(w->fd) != 0)
	{
		err = STRATA_EIO;
		slog(SLOG_ERROR, "could not fsync layer file \"%s\": %m", w->tmp);
		goto fail;
	}
	fs_kill_point("layer-before-rename");
	snprintf(path, sizeof(path), "%s/%s", w->dir, out_name);
	if (fs_rename_noreplace(w->tmp, path) != 0)
	{
		if (errno == EEXIST)
		{
			/* the job would replace a live layer: the caller drops the job */
			slog(SLOG_INFO, "layer file \"%s\" exists already; not replacing it", path);
			err = STRATA_EEXIST;
		}
		else
		{
			err = errno_err(errno);
			slog(SLOG_ERROR, "could not rename \"%s\" to \"%s\": %m", w->tmp, path);
		}
		goto fail;
	}
	if ((err = fs_fsync_dir(w->dir)) != 0)
	{
		/* named but maybe not durable: remove it rather than trust it */
		(void) unlink(path);
		goto fail;
	}
	if (out_desc)
		*out_desc = d;
	close(w->fd);
	free(w->e);
	free(w->zbuf);
	free(w->out);
	free(w);
	return 0;

fail:
	layer_writer_abort(w);
	return err;
}

/* ---------- reading ---------- */

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
	uint8_t		sum[SUMMARY];
	struct stat st;
	int			err;

	if (f == NULL)
		return STRATA_ENOMEM;
	snprintf(f->path, sizeof(f->path), "%s", path);
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0 || fstat(f->fd, &st) != 0)
	{
		slog(SLOG_ERROR, "could not open layer file \"%s\": %m", path);
		err = errno == ENOENT ? STRATA_ENOTFOUND : STRATA_EIO;
		goto fail;
	}
	err = STRATA_ECORRUPT;
	if ((uint64_t) st.st_size < SUMMARY || read_at(f, sum, SUMMARY, 0) != 0 ||
		memcmp(sum, MAGIC, 8) != 0)
	{
		slog(SLOG_ERROR, "layer file \"%s\": no valid summary at offset 0", path);
		goto fail;
	}
	if (get_le32(sum + 8) < VERSION_MIN || get_le32(sum + 8) > VERSION)
	{
		slog(SLOG_ERROR, "layer file \"%s\": unsupported format version %u", path,
			 get_le32(sum + 8));
		err = STRATA_EVERSION;
		goto fail;
	}
	if (get_le32(sum + SUMMARY - 4) != strata_crc32c(sum, SUMMARY - 4) ||
		get_le32(sum + 12) != SUMMARY || (sum[16] != LAYER_DELTA && sum[16] != LAYER_IMAGE))
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
	if (f->height == 0 || f->height > 16 || f->root + NODE > f->size || f->first_leaf < SUMMARY ||
		f->first_leaf + f->nleaves * NODE > f->size)
	{
		slog(SLOG_ERROR, "layer file \"%s\": the summary's index description is invalid", path);
		goto fail;
	}
	/* the upper levels follow the leaves up to the end of the file */
	f->inner_off = f->first_leaf + f->nleaves * NODE;
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
		for (uint64_t off = 0; off + NODE <= f->size - f->inner_off; off += NODE)
		{
			node = f->inner + off;
			if (memcmp(node, NODE_MAGIC, 4) != 0 ||
				get_le32(node + NODE - 4) != strata_crc32c(node, NODE - 4))
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
				atomic_fetch_sub(&leaf_cache_bytes, NODE);
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

	if (off < SUMMARY || off + NODE > f->size)
	{
		slog(SLOG_ERROR, "layer file \"%s\": index points outside the file (offset %llu)",
			 f->path, (unsigned long long) off);
		return STRATA_ECORRUPT;
	}
	if (cached && f->leaves && off >= f->first_leaf && (off - f->first_leaf) % NODE == 0 &&
		(off - f->first_leaf) / NODE < f->nleaves)
	{
		uint8_t    *p;

		leaf = (off - f->first_leaf) / NODE;
		if ((p = atomic_load(&f->leaves[leaf])) != NULL && (want_level < 0 || want_level == 0))
		{
			memcpy(node, p, NODE);
			return 0;
		}
	}
	if (in_memory)
		memcpy(node, f->inner + (off - f->inner_off), NODE);	/* CRC checked at open */
	else if ((err = read_at(f, node, NODE, off)) != 0)
		return err;
	cnt = get_le16(node + 6);
	if (memcmp(node, NODE_MAGIC, 4) != 0 ||
		(!in_memory && get_le32(node + NODE - 4) != strata_crc32c(node, NODE - 4)) ||
		(want_level >= 0 && node[4] != want_level) ||
		cnt > (node[4] == 0 ? LEAF_FANOUT : INNER_FANOUT))
	{
		slog(SLOG_ERROR, "layer file \"%s\": corrupt index node at offset %llu (checksum or "
			 "header mismatch)", f->path, (unsigned long long) off);
		return STRATA_ECORRUPT;
	}
	if (leaf != UINT64_MAX && node[4] == 0 &&
		atomic_fetch_add(&leaf_cache_bytes, NODE) + NODE <= LEAF_CACHE_MAX)
	{
		uint8_t    *p = malloc(NODE);
		uint8_t    *expect = NULL;

		if (p != NULL)
		{
			memcpy(p, node, NODE);
			if (atomic_compare_exchange_strong(&f->leaves[leaf], &expect, p))
				return 0;
			free(p);
		}
		atomic_fetch_sub(&leaf_cache_bytes, NODE);
	}
	else if (leaf != UINT64_MAX && node[4] == 0)
		atomic_fetch_sub(&leaf_cache_bytes, NODE);
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

	if (len < BLOB_HDR + 4 || len > BLOB_MAX || off + len > f->size)
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
		long		n = codec_decompress((enum codec) buf[4], buf + BLOB_HDR, len - BLOB_HDR - 4,
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
		*val = buf + BLOB_HDR;
		*vlen = len - BLOB_HDR - 4;
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
		int			esz = level == 0 ? LEAF_ENT : INNER_ENT;

		if ((err = read_node(f, off, level, node)) != 0)
			return err;
		cnt = get_le16(node + 6);
		/* the number of entries < pos */
		hi = cnt;
		while (lo < hi)
		{
			int			mid = (lo + hi) / 2;

			if (memcmp(node + NODE_HDR + mid * esz, pos, POS) < 0)
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
		off = get_le64(node + NODE_HDR + (lo > 0 ? lo - 1 : 0) * INNER_ENT + POS);
	}
	return STRATA_EINTERNAL;
}

struct cursor
{
	struct layer_file *f;
	uint8_t		node[NODE];
	uint64_t	leaf;			/* offset of the leaf in node */
	int			idx;
	int			cnt;
};

static const uint8_t *
cur_ent(struct cursor *c)
{
	return c->node + NODE_HDR + c->idx * LEAF_ENT;
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
		c->leaf -= NODE;
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
		if (c->leaf + NODE >= c->f->first_leaf + c->f->nleaves * NODE)
			return 0;
		c->leaf += NODE;
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
	uint8_t    *buf = malloc(BLOB_MAX + LAYER_VALUE_MAX);
	uint8_t		pos[POS];
	int			r;

	if (c == NULL || buf == NULL)
	{
		free(c);
		free(buf);
		return STRATA_ENOMEM;
	}
	c->f = f;
	make_pos(pos, key, lsn_limit);
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
		if ((r = read_blob(f, get_le64(e + POS), get_le32(e + POS + 8), buf, buf + BLOB_MAX,
						   &val, &vlen)) != 0)
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
	uint8_t    *buf = malloc(BLOB_MAX + LAYER_VALUE_MAX);
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
		uint8_t		pos[POS];
		const uint8_t *e;
		const uint8_t *val;
		uint32_t	vlen;
		int			found = 0;

		make_pos(pos, keys[i], lsn_limits[i]);
		/*
		 * Keys ascend: move forward within the leaves while the next entry
		 * is still < pos; descend again only when the target is far (not
		 * in this leaf or the next).
		 */
		if (positioned && c->cnt > 0 &&
			memcmp(c->node + NODE_HDR + (c->cnt - 1) * LEAF_ENT, pos, POS) >= 0)
		{
			while (c->idx + 1 < c->cnt && memcmp(c->node + NODE_HDR + (c->idx + 1) * LEAF_ENT, pos, POS) < 0)
				c->idx++;
			found = c->idx >= 0 && memcmp(c->node + NODE_HDR + c->idx * LEAF_ENT, pos, POS) < 0;
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
		if ((r = read_blob(f, get_le64(e + POS), get_le32(e + POS + 8), buf, buf + BLOB_MAX,
						   &val, &vlen)) != 0)
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
	uint8_t    *buf = vcb ? malloc(BLOB_MAX + LAYER_VALUE_MAX) : NULL;
	uint8_t		pos[POS];
	int			r;

	if (c == NULL || (vcb && buf == NULL))
	{
		free(c);
		free(buf);
		return STRATA_ENOMEM;
	}
	c->f = f;
	make_pos(pos, start, 0);
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

			if ((r = read_blob(f, get_le64(e + POS), get_le32(e + POS + 8), buf,
							   buf + BLOB_MAX, &val, &vlen)) != 0)
				break;
			if (vcb(e, lsn, val, vlen, arg) != 0)
			{
				r = 0;
				break;
			}
		}
		else if (kcb(e, lsn, get_le32(e + POS + 8), arg) != 0)
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
	uint8_t		node[NODE];
	uint64_t	n = 0;
	int			err;

	/* every index node (leaves and upper levels lie after the first leaf) */
	for (uint64_t off = f->first_leaf; off + NODE <= f->size; off += NODE)
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
