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

#define LOG_MAGIC "STRATALG"
#define LOG_VERSION 1
#define LOG_HDR_SIZE 32
#define REC_HDR_SIZE 32
#define REC_MIN_SIZE (REC_HDR_SIZE + 4)
#define REC_MAX_SIZE (REC_HDR_SIZE + PROTO_PAGE_SIZE + 4)

#define KIND_IMAGE 1
#define KIND_STRATA 3

enum strata_op
{
	OP_CREATE = 1,
	OP_TRUNCATE = 2,
	OP_UNLINK = 3,
	OP_DROPDB = 4,
	OP_RESET_UNLOGGED = 5,
};

#define OFF_ZERO UINT64_MAX
#define SIZE_NONE UINT64_MAX

struct version
{
	lsn_t		lsn;
	uint64_t	val;			/* page offset / OFF_ZERO, or nblocks / SIZE_NONE */
};

struct vlist
{
	uint32_t	n;
	uint32_t	cap;
	struct version *v;
};

struct fork
{
	struct proto_rel rel;
	struct fork *hnext;
	struct vlist size;
	uint32_t	nblk;			/* entries allocated in blocks */
	struct vlist *blocks;
};

/* One change in the pending batch. */
struct pending
{
	struct strata_key key;
	lsn_t		lsn;
	uint8_t		kind;
	uint8_t		op;
	uint32_t	arg;
	uint64_t	page_off;		/* offset of the page inside the batch */
};

struct store
{
	char		path[PATH_MAX];
	int			fd;
	uint64_t	end;			/* bytes in the kernel */
	_Atomic uint64_t written;	/* = end, for the sync thread */
	_Atomic int failed;			/* a write or fsync failed: refuse writes */

	struct fork **buckets;
	uint32_t	nbuckets;
	uint64_t	nentries;		/* forks in the hash, dropped ones too */
	uint64_t	nforks;			/* forks that exist */
	uint64_t	npages;
	lsn_t		last_record_lsn;
	uint32_t	last_reset_count;

	uint8_t    *batch;
	size_t		batch_len;
	size_t		batch_cap;
	struct pending *pend;
	uint32_t	npend;
	uint32_t	pend_cap;
};

/* ---------- version lists ---------- */

static int
vlist_push(struct vlist *l, lsn_t lsn, uint64_t val)
{
	if (l->n == l->cap)
	{
		uint32_t	cap = l->cap ? l->cap * 2 : 2;
		struct version *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return STRATA_ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n].lsn = lsn;
	l->v[l->n].val = val;
	l->n++;
	return 0;
}

/* The newest version at or below lsn, or NULL. */
static const struct version *
vlist_at(const struct vlist *l, lsn_t lsn)
{
	uint32_t	lo = 0;
	uint32_t	hi;

	if (l->n == 0)
		return NULL;
	if (l->v[l->n - 1].lsn <= lsn)
		return &l->v[l->n - 1];
	hi = l->n;
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (l->v[mid].lsn <= lsn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? NULL : &l->v[lo - 1];
}

static lsn_t
vlist_last_lsn(const struct vlist *l)
{
	return l->n ? l->v[l->n - 1].lsn : LSN_INVALID;
}

/* ---------- fork hash ---------- */

static uint32_t
rel_hash(const struct proto_rel *r)
{
	uint64_t	h = ((uint64_t) r->spc * 0x9E3779B97F4A7C15ull) ^
		((uint64_t) r->db * 0xC2B2AE3D27D4EB4Full) ^
		((uint64_t) r->rel * 0x165667B19E3779F9ull) ^ r->fork;

	return (uint32_t) (h ^ (h >> 29));
}

static int
rel_eq(const struct proto_rel *a, const struct proto_rel *b)
{
	return a->spc == b->spc && a->db == b->db && a->rel == b->rel && a->fork == b->fork;
}

static struct fork *
fork_find(const struct store *s, const struct proto_rel *rel)
{
	struct fork *f = s->buckets[rel_hash(rel) & (s->nbuckets - 1)];

	while (f != NULL && !rel_eq(&f->rel, rel))
		f = f->hnext;
	return f;
}

static int
hash_grow(struct store *s)
{
	uint32_t	n = s->nbuckets * 2;
	struct fork **b = calloc(n, sizeof(*b));

	if (b == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < s->nbuckets; i++)
	{
		struct fork *f = s->buckets[i];

		while (f != NULL)
		{
			struct fork *next = f->hnext;
			uint32_t	h = rel_hash(&f->rel) & (n - 1);

			f->hnext = b[h];
			b[h] = f;
			f = next;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->nbuckets = n;
	return 0;
}

static struct fork *
fork_get(struct store *s, const struct proto_rel *rel)
{
	struct fork *f = fork_find(s, rel);
	uint32_t	h;

	if (f != NULL)
		return f;
	if (++s->nentries >= s->nbuckets && hash_grow(s) != 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->rel = *rel;
	h = rel_hash(rel) & (s->nbuckets - 1);
	f->hnext = s->buckets[h];
	s->buckets[h] = f;
	return f;
}

static uint64_t
fork_size_at(const struct fork *f, lsn_t lsn)
{
	const struct version *v = f ? vlist_at(&f->size, lsn) : NULL;

	return v ? v->val : SIZE_NONE;
}

static int
fork_exists(const struct fork *f)
{
	return fork_size_at(f, LSN_MAX) != SIZE_NONE;
}

static struct vlist *
fork_block(struct fork *f, uint32_t blk)
{
	if (blk >= f->nblk)
	{
		uint64_t	n = f->nblk ? f->nblk : 8;
		struct vlist *b;

		while (n <= blk)
			n *= 2;
		if (n > UINT32_MAX)
			n = (uint64_t) UINT32_MAX;
		b = realloc(f->blocks, n * sizeof(*b));
		if (b == NULL)
			return NULL;
		memset(b + f->nblk, 0, (n - f->nblk) * sizeof(*b));
		f->blocks = b;
		f->nblk = (uint32_t) n;
	}
	return &f->blocks[blk];
}

/* ---------- applying changes (live and replay) ---------- */

static void
bump_lsn(struct store *s, lsn_t lsn)
{
	if (lsn > s->last_record_lsn)
		s->last_record_lsn = lsn;
}

/* Blocks at or past nblocks read as zeros from lsn on. */
static int
drop_blocks(struct fork *f, uint32_t from, lsn_t lsn)
{
	for (uint32_t b = from; b < f->nblk; b++)
	{
		struct vlist *l = &f->blocks[b];

		if (l->n > 0 && l->v[l->n - 1].val != OFF_ZERO &&
			vlist_push(l, lsn, OFF_ZERO) != 0)
			return STRATA_ENOMEM;
	}
	return 0;
}

static int
apply_unlink(struct store *s, struct fork *f, lsn_t lsn)
{
	if (f == NULL || !fork_exists(f))
		return 0;
	if (drop_blocks(f, 0, lsn) != 0 || vlist_push(&f->size, lsn, SIZE_NONE) != 0)
		return STRATA_ENOMEM;
	s->nforks--;
	return 0;
}

static int
apply_reset(struct store *s, lsn_t lsn)
{
	uint32_t	count = 0;

	for (uint32_t i = 0; i < s->nbuckets; i++)
	{
		for (struct fork *init = s->buckets[i]; init != NULL; init = init->hnext)
		{
			struct proto_rel r = init->rel;
			struct fork *main_fork;
			uint64_t	n;

			if (r.fork != KEY_FORK_INIT || !fork_exists(init))
				continue;
			n = fork_size_at(init, LSN_MAX);
			r.fork = KEY_FORK_FSM;
			if (apply_unlink(s, fork_find(s, &r), lsn) != 0)
				return STRATA_ENOMEM;
			r.fork = KEY_FORK_VM;
			if (apply_unlink(s, fork_find(s, &r), lsn) != 0)
				return STRATA_ENOMEM;
			r.fork = KEY_FORK_MAIN;
			main_fork = fork_get(s, &r);
			if (main_fork == NULL)
				return STRATA_ENOMEM;
			if (!fork_exists(main_fork))
				s->nforks++;
			if (drop_blocks(main_fork, 0, lsn) != 0 ||
				vlist_push(&main_fork->size, lsn, n) != 0)
				return STRATA_ENOMEM;
			for (uint32_t b = 0; b < n; b++)
			{
				const struct version *v = b < init->nblk ? vlist_at(&init->blocks[b], LSN_MAX) : NULL;
				struct vlist *l = fork_block(main_fork, b);

				if (l == NULL || vlist_push(l, lsn, v ? v->val : OFF_ZERO) != 0)
					return STRATA_ENOMEM;
			}
			count++;
		}
	}
	s->last_reset_count = count;
	return 0;
}

/* Apply one record already in the log.  page_off: file offset of its page. */
static int
apply(struct store *s, const struct strata_key *k, lsn_t lsn, uint8_t kind,
	  uint8_t op, uint32_t arg, uint64_t page_off)
{
	struct proto_rel rel = {.spc = k->spc, .db = k->db, .rel = k->rel, .fork = k->fork};
	struct fork *f;

	bump_lsn(s, lsn);
	if (kind == KIND_IMAGE)
	{
		struct vlist *l;
		uint64_t	n;

		f = fork_get(s, &rel);
		if (f == NULL || (l = fork_block(f, k->blk)) == NULL ||
			vlist_push(l, lsn, page_off) != 0)
			return STRATA_ENOMEM;
		s->npages++;
		n = fork_size_at(f, LSN_MAX);
		if (n == SIZE_NONE || n <= k->blk)
		{
			if (n == SIZE_NONE)
				s->nforks++;
			if (vlist_push(&f->size, lsn, (uint64_t) k->blk + 1) != 0)
				return STRATA_ENOMEM;
		}
		return 0;
	}

	switch ((enum strata_op) op)
	{
		case OP_CREATE:
			f = fork_get(s, &rel);
			if (f == NULL)
				return STRATA_ENOMEM;
			if (fork_exists(f))
				return 0;
			s->nforks++;
			return vlist_push(&f->size, lsn, 0);
		case OP_TRUNCATE:
			f = fork_find(s, &rel);
			if (f == NULL || !fork_exists(f))
				return 0;
			if (drop_blocks(f, arg, lsn) != 0)
				return STRATA_ENOMEM;
			return vlist_push(&f->size, lsn, arg);
		case OP_UNLINK:
			if (rel.fork != KEY_FORK_ALL)
				return apply_unlink(s, fork_find(s, &rel), lsn);
			for (uint8_t fk = 0; fk <= KEY_FORK_MAX; fk++)
			{
				rel.fork = fk;
				if (apply_unlink(s, fork_find(s, &rel), lsn) != 0)
					return STRATA_ENOMEM;
			}
			return 0;
		case OP_DROPDB:
			for (uint32_t i = 0; i < s->nbuckets; i++)
			{
				for (f = s->buckets[i]; f != NULL; f = f->hnext)
				{
					if (f->rel.db == k->db && apply_unlink(s, f, lsn) != 0)
						return STRATA_ENOMEM;
				}
			}
			return 0;
		case OP_RESET_UNLOGGED:
			return apply_reset(s, lsn);
	}
	return STRATA_ECORRUPT;
}

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

static void
free_index(struct store *s)
{
	for (uint32_t i = 0; i < s->nbuckets; i++)
	{
		struct fork *f = s->buckets[i];

		while (f != NULL)
		{
			struct fork *next = f->hnext;

			for (uint32_t b = 0; b < f->nblk; b++)
				free(f->blocks[b].v);
			free(f->blocks);
			free(f->size.v);
			free(f);
			f = next;
		}
		s->buckets[i] = NULL;
	}
	s->nentries = 0;
	s->nforks = 0;
	s->npages = 0;
	s->last_record_lsn = LSN_INVALID;
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
		ssize_t		n = pwrite(s->fd, s->batch + done, s->batch_len - done, s->end + done);

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

	if (fdatasync(s->fd) != 0)
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
