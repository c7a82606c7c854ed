/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Append-only page log with an in-memory version index (see store.h).
 *
 * Index: a hash of relation forks; each fork has a version list of its
 * size (nblocks, or SIZE_NONE once unlinked) and one version list per
 * block (log offset of the page, or OFF_ZERO for a block that reads as
 * zeros: dropped by truncate/unlink, or a hole).  Lists are ascending by
 * LSN, so the newest version is the last and reads at an older LSN binary
 * search.
 *
 * XXX: reads pread() on the event loop; the page cache usually has the
 * log.  The page service work (issue 5) moves cold reads to an IO pool.
 *
 *-------------------------------------------------------------------------
 */
#include "store.h"
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "fsutil.h"
#include "key.h"
#include "slog.h"
#include "strata_err.h"

/* ---------- the log ---------- */

static int
write_header(int fd)
{
	uint8_t		h[LOG_HDR_SIZE];

	memset(h, 0, sizeof(h));
	memcpy(h, LOG_MAGIC, 8);
	put_le32(h + 8, LOG_VERSION);
	put_le32(h + 12, LOG_HDR_SIZE);
	put_le32(h + 28, strata_crc32c(h, 28));
	if (pwrite(fd, h, sizeof(h), 0) != (ssize_t) sizeof(h))
		return STRATA_EIO;
	return fdatasync(fd) == 0 ? 0 : STRATA_EIO;
}

static int
check_header(const struct store *s)
{
	uint8_t		h[LOG_HDR_SIZE];

	if (pread(s->fd, h, sizeof(h), 0) != (ssize_t) sizeof(h) || memcmp(h, LOG_MAGIC, 8) != 0)
	{
		slog(SLOG_ERROR, "store: \"%s\" is not a strata page log (bad magic at offset 0)", s->path);
		return STRATA_ECORRUPT;
	}
	if (get_le32(h + 8) != LOG_VERSION)
	{
		slog(SLOG_ERROR, "store: \"%s\": unsupported version %u at offset 8", s->path, get_le32(h + 8));
		return STRATA_EVERSION;
	}
	if (get_le32(h + 12) != LOG_HDR_SIZE || get_le32(h + 28) != strata_crc32c(h, 28))
	{
		slog(SLOG_ERROR, "store: \"%s\": header CRC mismatch at offset 28", s->path);
		return STRATA_ECORRUPT;
	}
	return 0;
}

/* Parse the record at buf (len bytes available); 0, or <0 if bad/short. */
static int
parse_record(const uint8_t *buf, size_t avail, uint32_t *reclen, struct strata_key *k,
			 lsn_t *lsn, uint8_t *kind, uint8_t *op, uint32_t *arg)
{
	uint32_t	len;

	if (avail < 4)
		return STRATA_EPROTO;
	len = get_le32(buf);
	if (len < REC_MIN_SIZE || len > REC_MAX_SIZE || len > avail)
		return STRATA_EPROTO;
	if (get_le32(buf + len - 4) != strata_crc32c(buf, len - 4))
		return STRATA_ECORRUPT;
	key_decode(buf + 4, k);
	*lsn = get_le64(buf + 22);
	*kind = buf[30];
	*op = 0;
	*arg = 0;
	if (*kind == KIND_IMAGE && len == REC_MAX_SIZE)
		;
	else if (*kind == KIND_STRATA && len == REC_MIN_SIZE + 5)
	{
		*op = buf[32];
		*arg = get_le32(buf + 33);
	}
	else
		return STRATA_ECORRUPT;
	*reclen = len;
	return 0;
}

static int
replay(struct store *s, uint64_t size)
{
	size_t		cap = 4 * 1024 * 1024;
	uint8_t    *buf = malloc(cap);
	uint64_t	pos = LOG_HDR_SIZE;
	uint64_t	nrec = 0;
	int			err = 0;

	if (buf == NULL)
		return STRATA_ENOMEM;
	while (pos < size && err == 0)
	{
		size_t		want = size - pos < cap ? size - pos : cap;
		ssize_t		got = pread(s->fd, buf, want, pos);
		size_t		used = 0;

		if (got <= 0)
		{
			err = STRATA_EIO;
			break;
		}
		while (used < (size_t) got)
		{
			uint32_t	len;
			struct strata_key k;
			lsn_t		lsn;
			uint8_t		kind,
						op;
			uint32_t	arg;
			int			r = parse_record(buf + used, got - used, &len, &k, &lsn, &kind, &op, &arg);

			/* a record cut by the chunk's end: read on from its start */
			if (r == STRATA_EPROTO && used > 0 && pos + got < size)
				break;
			if (r != 0)
			{
				slog(SLOG_WARNING,
					 "store: \"%s\": %s record at offset %llu; discarding the log from there (%llu bytes)",
					 s->path, r == STRATA_ECORRUPT ? "corrupt" : "torn",
					 (unsigned long long) (pos + used), (unsigned long long) (size - pos - used));
				size = pos + used;
				if (ftruncate(s->fd, size) != 0 || fdatasync(s->fd) != 0)
					err = STRATA_EIO;
				break;
			}
			err = apply(s, &k, lsn, kind, op, arg, pos + used + REC_HDR_SIZE);
			if (err != 0)
				break;
			used += len;
			nrec++;
		}
		pos += used;
	}
	free(buf);
	s->end = size;
	atomic_store(&s->written, size);
	if (err == 0)
	{
		char		lsnbuf[LSN_STRLEN];

		slog(SLOG_INFO, "store: replayed %llu records from \"%s\" (%llu bytes), last LSN %s",
			 (unsigned long long) nrec, s->path, (unsigned long long) size,
			 lsn_format(s->last_record_lsn, lsnbuf));
	}
	return err;
}

int
store_open(const char *datadir, struct store **out)
{
	struct store *s = calloc(1, sizeof(*s));
	off_t		size;
	int			err;

	if (s == NULL)
		return STRATA_ENOMEM;
	snprintf(s->path, sizeof(s->path), "%s/pagelog", datadir);
	s->nbuckets = 1024;
	s->buckets = calloc(s->nbuckets, sizeof(*s->buckets));
	if (s->buckets == NULL)
	{
		free(s);
		return STRATA_ENOMEM;
	}
	s->fd = open(s->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->fd < 0)
	{
		slog(SLOG_ERROR, "store: could not open \"%s\": %s", s->path, strerror(errno));
		err = STRATA_EIO;
		goto fail;
	}
	size = lseek(s->fd, 0, SEEK_END);
	if (size == 0)
	{
		err = write_header(s->fd);
		if (err != 0)
		{
			slog(SLOG_ERROR, "store: could not initialize \"%s\": %s", s->path, strerror(errno));
			goto fail;
		}
		err = fs_fsync_dir(datadir);
		if (err != 0)
			goto fail;
		size = LOG_HDR_SIZE;
	}
	err = check_header(s);
	if (err == 0)
		err = replay(s, (uint64_t) size);
	if (err != 0)
		goto fail;
	*out = s;
	return 0;

fail:
	store_close(s);
	return err;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->buckets)
		free_index(s);
	free(s->buckets);
	if (s->fd >= 0)
		close(s->fd);
	free(s->batch);
	free(s->pend);
	free(s);
}

int
store_reset(struct store *s)
{
	free_index(s);
	s->batch_len = 0;
	s->npend = 0;
	if (ftruncate(s->fd, LOG_HDR_SIZE) != 0 || fdatasync(s->fd) != 0)
	{
		slog(SLOG_ERROR, "store: could not reset \"%s\": %s", s->path, strerror(errno));
		return STRATA_EIO;
	}
	s->end = LOG_HDR_SIZE;
	atomic_store(&s->written, s->end);
	return 0;
}

/* ---------- writes ---------- */

static int
batch_reserve(struct store *s, size_t n)
{
	if (s->batch_len + n > s->batch_cap)
	{
		size_t		cap = s->batch_cap ? s->batch_cap : 64 * 1024;
		uint8_t    *b;

		while (cap < s->batch_len + n)
			cap *= 2;
		b = realloc(s->batch, cap);
		if (b == NULL)
			return STRATA_ENOMEM;
		s->batch = b;
		s->batch_cap = cap;
	}
	if (s->npend == s->pend_cap)
	{
		uint32_t	cap = s->pend_cap ? s->pend_cap * 2 : 64;
		struct pending *p = realloc(s->pend, cap * sizeof(*p));

		if (p == NULL)
			return STRATA_ENOMEM;
		s->pend = p;
		s->pend_cap = cap;
	}
	return 0;
}

static int
add_record(struct store *s, const struct strata_key *k, lsn_t lsn, uint8_t kind,
		   uint8_t op, uint32_t arg, const uint8_t *page)
{
	uint32_t	len = kind == KIND_IMAGE ? REC_MAX_SIZE : REC_MIN_SIZE + 5;
	uint8_t    *p;
	struct pending *pe;
	int			err = batch_reserve(s, len);

	if (err != 0)
		return err;
	p = s->batch + s->batch_len;
	put_le32(p, len);
	key_encode(k, p + 4);
	put_le64(p + 22, lsn);
	p[30] = kind;
	p[31] = kind == KIND_IMAGE ? 1 : 0;
	if (kind == KIND_IMAGE)
		memcpy(p + 32, page, PROTO_PAGE_SIZE);
	else
	{
		p[32] = op;
		put_le32(p + 33, arg);
	}
	put_le32(p + len - 4, strata_crc32c(p, len - 4));

	pe = &s->pend[s->npend++];
	pe->key = *k;
	pe->lsn = lsn;
	pe->kind = kind;
	pe->op = op;
	pe->arg = arg;
	pe->page_off = s->batch_len + REC_HDR_SIZE;
	s->batch_len += len;
	return 0;
}

static int
key_pending(const struct store *s, const struct strata_key *k)
{
	for (uint32_t i = 0; i < s->npend; i++)
	{
		if (key_cmp(&s->pend[i].key, k) == 0)
			return 1;
	}
	return 0;
}

/* Metadata changes never share a batch with anything. */
static int
needs_own_batch(uint8_t tag)
{
	return tag != PROTO_WRITE && tag != PROTO_EXTEND;
}

int
store_prepare(struct store *s, const struct proto_req *req, lsn_t *stored_lsn)
{
	struct proto_rel rel = req->rel;
	struct fork *f = fork_find(s, &rel);
	struct strata_key k;
	lsn_t		prev;
	lsn_t		lsn;

	if (atomic_load(&s->failed))
		return STRATA_EIO;
	if (s->npend > 0 && needs_own_batch(req->tag))
		return STRATA_EBUSY;
	if (req->request_lsn == LSN_INVALID)
		return STRATA_EINVAL;

	switch (req->tag)
	{
		case PROTO_WRITE:
		case PROTO_EXTEND:
			if (rel.fork > KEY_FORK_MAX)
				return STRATA_EINVAL;
			if (!fork_exists(f))
				return STRATA_ENOTFOUND;
			if (req->tag == PROTO_WRITE && req->blk >= fork_size_at(f, LSN_MAX))
				return STRATA_EEOF;
			if (req->blk == UINT32_MAX)
				return STRATA_EINVAL;
			k = key_block(rel.spc, rel.db, rel.rel, rel.fork, req->blk);
			if (key_pending(s, &k))
				return STRATA_EBUSY;
			prev = req->blk < f->nblk ? vlist_last_lsn(&f->blocks[req->blk]) : LSN_INVALID;
			lsn = req->request_lsn > prev ? req->request_lsn : prev + 1;
			*stored_lsn = lsn;
			return add_record(s, &k, lsn, KIND_IMAGE, 0, 0, req->page);
		case PROTO_CREATE:
			if (rel.fork > KEY_FORK_MAX)
				return STRATA_EINVAL;
			if (fork_exists(f) && !(req->flags & PROTO_CREATE_TOLERATE_EXISTS))
				return STRATA_EEXIST;
			break;
		case PROTO_TRUNCATE:
			if (rel.fork > KEY_FORK_MAX)
				return STRATA_EINVAL;
			if (!fork_exists(f))
				return STRATA_ENOTFOUND;
			if (req->nblocks > fork_size_at(f, LSN_MAX))
				return STRATA_EEOF;
			break;
		case PROTO_UNLINK:
			if (rel.fork > KEY_FORK_MAX && rel.fork != KEY_FORK_ALL)
				return STRATA_EINVAL;
			break;
		case PROTO_DROPDB:
		case PROTO_RESET_UNLOGGED:
			break;
		default:
			return STRATA_EINVAL;
	}

	/* metadata: one record on the fork's size key (or a global key) */
	if (req->tag == PROTO_DROPDB)
	{
		memset(&k, 0, sizeof(k));
		k.f1 = KEY_F1_DBDIR;
		k.db = req->db;
	}
	else if (req->tag == PROTO_RESET_UNLOGGED)
	{
		memset(&k, 0, sizeof(k));
		k.f1 = KEY_F1_RELDIR;
	}
	else
		k = key_block(rel.spc, rel.db, rel.rel, rel.fork, KEY_BLK_SIZE);
	prev = (f && req->tag != PROTO_DROPDB && req->tag != PROTO_RESET_UNLOGGED) ?
		vlist_last_lsn(&f->size) : s->last_record_lsn;
	lsn = req->request_lsn > prev ? req->request_lsn : prev + 1;
	/* a global change must also be newer than every block it touches */
	if (req->tag == PROTO_DROPDB || req->tag == PROTO_RESET_UNLOGGED ||
		req->tag == PROTO_UNLINK || req->tag == PROTO_TRUNCATE)
		lsn = lsn > s->last_record_lsn ? lsn : s->last_record_lsn + 1;
	*stored_lsn = lsn;
	switch (req->tag)
	{
		case PROTO_CREATE:
			return add_record(s, &k, lsn, KIND_STRATA, OP_CREATE, 0, NULL);
		case PROTO_TRUNCATE:
			return add_record(s, &k, lsn, KIND_STRATA, OP_TRUNCATE, req->nblocks, NULL);
		case PROTO_UNLINK:
			return add_record(s, &k, lsn, KIND_STRATA, OP_UNLINK, 0, NULL);
		case PROTO_DROPDB:
			return add_record(s, &k, lsn, KIND_STRATA, OP_DROPDB, 0, NULL);
		default:
			return add_record(s, &k, lsn, KIND_STRATA, OP_RESET_UNLOGGED, 0, NULL);
	}
}

uint64_t
store_pending_bytes(const struct store *s)
{
	return s->batch_len;
}

uint32_t
store_last_reset_count(const struct store *s)
{
	return s->last_reset_count;
}

static void
discard_batch(struct store *s)
{
	s->batch_len = 0;
	s->npend = 0;
}

int
store_commit(struct store *s)
{
	size_t		done = 0;
	int			err = 0;

	if (s->npend == 0)
		return 0;
	if (atomic_load(&s->failed))
	{
		discard_batch(s);
		return STRATA_EIO;
	}
	if (getenv("STRATA_KILL_POINT") && strcmp(getenv("STRATA_KILL_POINT"), "mid-append") == 0)
	{
		/* a torn record for the tests: half of the batch, then abort */
		(void) !pwrite(s->fd, s->batch, s->batch_len / 2, s->end);
		fs_kill_point("mid-append");
	}
	while (done < s->batch_len)
	{
		const char *full = getenv("STRATA_FAIL_WRITE_ONCE_FILE");
		ssize_t		n;

		/* tests: one append fails with ENOSPC while this file exists */
		if (full != NULL && unlink(full) == 0)
		{
			errno = ENOSPC;
			n = -1;
		}
		else
			n = pwrite(s->fd, s->batch + done, s->batch_len - done, s->end + done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			int			e = n < 0 ? errno : ENOSPC;

			err = (e == ENOSPC || e == EDQUOT) ? STRATA_ENOSPC : STRATA_EIO;
			slog(SLOG_ERROR, "store: could not append %zu bytes to \"%s\" at offset %llu: %s",
				 s->batch_len, s->path, (unsigned long long) s->end, strerror(e));
			/* cut back to the last complete record; nothing was acknowledged */
			if (ftruncate(s->fd, s->end) != 0)
				err = STRATA_EIO;
			if (err == STRATA_EIO)
				atomic_store(&s->failed, 1);
			discard_batch(s);
			return err;
		}
		done += (size_t) n;
	}
	fs_kill_point("after-append-before-ack");

	for (uint32_t i = 0; i < s->npend; i++)
	{
		struct pending *p = &s->pend[i];

		err = apply(s, &p->key, p->lsn, p->kind, p->op, p->arg, s->end + p->page_off);
		if (err != 0)
		{
			slog(SLOG_ERROR, "store: out of memory applying a record; refusing further writes");
			atomic_store(&s->failed, 1);
			break;
		}
	}
	s->end += s->batch_len;
	atomic_store(&s->written, s->end);
	discard_batch(s);
	return err;
}

/* ---------- reads ---------- */

int
store_nblocks(struct store *s, const struct proto_rel *rel, lsn_t lsn, uint32_t *nblocks)
{
	uint64_t	n = fork_size_at(fork_find(s, rel), lsn);

	if (n == SIZE_NONE)
		return STRATA_ENOTFOUND;
	*nblocks = (uint32_t) n;
	return 0;
}

int
store_getpage(struct store *s, const struct proto_rel *rel, uint32_t blk, lsn_t lsn,
			  uint8_t *page)
{
	struct fork *f = fork_find(s, rel);
	uint64_t	n = fork_size_at(f, lsn);
	const struct version *v;
	uint8_t		rec[REC_MAX_SIZE];
	ssize_t		got;

	if (n == SIZE_NONE)
		return STRATA_ENOTFOUND;
	if (blk >= n)
		return STRATA_EEOF;
	v = blk < f->nblk ? vlist_at(&f->blocks[blk], lsn) : NULL;
	if (v == NULL || v->val == OFF_ZERO)
	{
		memset(page, 0, PROTO_PAGE_SIZE);
		return 0;
	}
	/* read and verify the whole record (I13) */
	got = pread(s->fd, rec, sizeof(rec), v->val - REC_HDR_SIZE);
	if (got != (ssize_t) sizeof(rec))
	{
		slog(SLOG_ERROR, "store: could not read record at offset %llu of \"%s\": %s",
			 (unsigned long long) (v->val - REC_HDR_SIZE), s->path,
			 got < 0 ? strerror(errno) : "short read");
		return STRATA_EIO;
	}
	if (get_le32(rec) != REC_MAX_SIZE || get_le32(rec + REC_MAX_SIZE - 4) != strata_crc32c(rec, REC_MAX_SIZE - 4))
	{
		slog(SLOG_ERROR, "store: CRC mismatch in record at offset %llu of \"%s\"",
			 (unsigned long long) (v->val - REC_HDR_SIZE), s->path);
		return STRATA_ECORRUPT;
	}
	memcpy(page, rec + REC_HDR_SIZE, PROTO_PAGE_SIZE);
	return 0;
}

int64_t
store_dbsize(struct store *s, uint32_t db)
{
	int64_t		total = 0;

	for (uint32_t i = 0; i < s->nbuckets; i++)
	{
		for (struct fork *f = s->buckets[i]; f != NULL; f = f->hnext)
		{
			uint64_t	n = fork_size_at(f, LSN_MAX);

			if (f->rel.db == db && n != SIZE_NONE)
				total += (int64_t) n * PROTO_PAGE_SIZE;
		}
	}
	return total;
}

/* ---------- sync and stats ---------- */

int
store_sync(struct store *s, uint64_t *synced)
{
	uint64_t	upto = atomic_load(&s->written);
	const char *fail = getenv("STRATA_FAIL_FSYNC_ONCE_FILE");

	/* tests: fail one fdatasync while this file exists (it is removed) */
	if ((fail != NULL && unlink(fail) == 0 && (errno = EIO)) || fdatasync(s->fd) != 0)
	{
		slog(SLOG_ERROR, "store: fdatasync of \"%s\" failed: %s; refusing further writes",
			 s->path, strerror(errno));
		atomic_store(&s->failed, 1);
		return STRATA_EIO;
	}
	*synced = upto;
	return 0;
}

uint64_t
store_written(const struct store *s)
{
	return atomic_load(&s->written);
}

void
store_get_stats(const struct store *s, struct store_stats *st)
{
	st->log_bytes = atomic_load(&s->written);
	st->forks = s->nforks;
	st->pages = s->npages;
	st->last_record_lsn = s->last_record_lsn;
}
