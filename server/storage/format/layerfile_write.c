/*-------------------------------------------------------------------------
 *
 * layerfile_write.c
 *	  Building a layer file (layerfile.h has the format): values are
 *	  appended as blobs through an output buffer while their index entries
 *	  collect in memory; layer_writer_finish() writes the index bottom up
 *	  and the summary, then publishes the file under its name (temp file,
 *	  fsync, rename, directory fsync: I14).
 *
 *-------------------------------------------------------------------------
 */
#include "fio.h"
#include "layerfile.h"
#include "layerfile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "codec.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"

#define OUTBUF			(1024 * 1024)

struct entry
{
	uint8_t		pos[LAYER_POS];
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
		ssize_t		n = fio_pwrite(w->fd, w->out + done, w->out_len - done,
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
	w->fd = fio_open(w->tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
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
	w->off = w->out_off = LAYER_SUMMARY;
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
	uint8_t		hdr[LAYER_BLOB_HDR];
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
	layer_make_pos(e->pos, key, lsn);
	if (w->n > 0)
	{
		int			c = memcmp(w->e[w->n - 1].pos, e->pos, w->kind == LAYER_IMAGE ? KEY_SIZE : LAYER_POS);

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
	put_le32(hdr, (uint32_t) (LAYER_BLOB_HDR + plen + 4));
	hdr[4] = flags;
	crc = strata_crc32c_update(strata_crc32c_init(), hdr, LAYER_BLOB_HDR);
	crc = strata_crc32c_final(strata_crc32c_update(crc, payload, plen));
	put_le32(crcb, crc);
	e->off = w->off;
	e->len = (uint32_t) (LAYER_BLOB_HDR + plen + 4);
	if ((err = put_bytes(w, hdr, LAYER_BLOB_HDR)) != 0 || (err = put_bytes(w, payload, plen)) != 0 ||
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
	if (fio_unlink(w->tmp) != 0 && errno != ENOENT)
		slog(SLOG_WARNING, "could not remove \"%s\": %m", w->tmp);
	free(w->e);
	free(w->zbuf);
	free(w->out);
	free(w);
}

static void
seal_node(uint8_t *node, int level, int count)
{
	memcpy(node, LAYER_NODE_MAGIC, 4);
	node[4] = (uint8_t) level;
	node[5] = 0;
	put_le16(node + 6, (uint16_t) count);
	put_le32(node + LAYER_NODE - 4, strata_crc32c(node, LAYER_NODE - 4));
}

/* Write the index bottom-up; *root and *height describe it. */
static int
write_index(struct layer_writer *w, uint64_t *first_leaf, uint64_t *nleaves, uint64_t *root,
			uint32_t *height)
{
	uint8_t		node[LAYER_NODE];
	uint64_t	nchild = (w->n + LAYER_LEAF_FANOUT - 1) / LAYER_LEAF_FANOUT;
	uint8_t    *firsts;			/* first position of each node of the level below */
	uint64_t   *offs;
	int			level = 0;
	int			err = 0;

	if (nchild == 0)
		nchild = 1;				/* an empty layer still has a (leaf) root */
	firsts = malloc(nchild * LAYER_POS);
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
		uint64_t	from = i * LAYER_LEAF_FANOUT;
		int			cnt = 0;

		memset(node, 0, LAYER_NODE);
		for (uint64_t j = from; j < w->n && cnt < LAYER_LEAF_FANOUT; j++, cnt++)
		{
			uint8_t    *p = node + LAYER_NODE_HDR + cnt * LAYER_LEAF_ENT;

			memcpy(p, w->e[j].pos, LAYER_POS);
			put_le64(p + LAYER_POS, w->e[j].off);
			put_le32(p + LAYER_POS + 8, w->e[j].len);
		}
		if (cnt > 0)
			memcpy(firsts + i * LAYER_POS, w->e[from].pos, LAYER_POS);
		else
			memset(firsts + i * LAYER_POS, 0, LAYER_POS);
		offs[i] = w->off;
		seal_node(node, 0, cnt);
		err = put_bytes(w, node, LAYER_NODE);
	}
	while (err == 0 && nchild > 1)
	{
		uint64_t	nparent = (nchild + LAYER_INNER_FANOUT - 1) / LAYER_INNER_FANOUT;

		level++;
		for (uint64_t i = 0; i < nparent && err == 0; i++)
		{
			int			cnt = 0;
			uint64_t	off = w->off;

			memset(node, 0, LAYER_NODE);
			for (uint64_t j = i * LAYER_INNER_FANOUT; j < nchild && cnt < LAYER_INNER_FANOUT; j++, cnt++)
			{
				uint8_t    *p = node + LAYER_NODE_HDR + cnt * LAYER_INNER_ENT;

				memcpy(p, firsts + j * LAYER_POS, LAYER_POS);
				put_le64(p + LAYER_POS, offs[j]);
			}
			/* the parents' arrays reuse the front of the children's */
			memmove(firsts + i * LAYER_POS, firsts + i * LAYER_INNER_FANOUT * LAYER_POS, LAYER_POS);
			offs[i] = off;
			seal_node(node, level, cnt);
			err = put_bytes(w, node, LAYER_NODE);
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
	uint8_t		sum[LAYER_SUMMARY];
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
	memcpy(sum, LAYER_MAGIC, 8);
	put_le32(sum + 8, LAYER_VERSION);
	put_le32(sum + 12, LAYER_SUMMARY);
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
	put_le32(sum + LAYER_SUMMARY - 4, strata_crc32c(sum, LAYER_SUMMARY - 4));
	if (fio_pwrite(w->fd, sum, LAYER_SUMMARY, 0) != LAYER_SUMMARY)
	{
		err = errno_err(errno);
		slog(SLOG_ERROR, "could not write layer file \"%s\": %m", w->tmp);
		goto fail;
	}
	if (fio_fsync(w->fd) != 0)
	{
		err = STRATA_EIO;
		slog(SLOG_ERROR, "could not fsync layer file \"%s\": %m", w->tmp);
		goto fail;
	}
	fio_kill_point("layer-before-rename");
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
		(void) fio_unlink(path);
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
