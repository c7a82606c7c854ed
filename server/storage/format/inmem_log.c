/*-------------------------------------------------------------------------
 *
 * inmem.c
 *	  In-memory layers over their write logs (see inmem.h).
 *
 *-------------------------------------------------------------------------
 */
#include "inmem_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "fio.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"
#include "value.h"

#define LOG_MAGIC		"STRATAWL"
#define LOG_VERSION		2
#define LOG_VERSION_MIN	1		/* version 1: every record is a change of its own */
#define REC_MAX			(INMEM_REC_OVERHEAD + VAL_MAX)
#define REC_MORE		UINT32_C(0x80000000)	/* length word: the change goes on */
#define REC_LEN(word)	((word) & ~REC_MORE)
#define SPARE_START		LSN_MAX	/* a spare's placeholder header: no log starts there */
#define SPARE_NAME		"spare-%llu.tmp"	/* removed at load like every .tmp */
#define SIZE_DROPPED	UINT32_MAX

static uint32_t
key_hash(const uint8_t *key)
{
	/* FNV-1a; keys of one relation differ in the last bytes */
	uint32_t	h = 2166136261u;

	for (int i = 0; i < KEY_SIZE; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

static int
grow_hash(struct inmem *m)
{
	uint32_t	nb = m->nbuckets ? m->nbuckets * 2 : 1024;
	struct inmem_key **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < m->nbuckets; i++)
	{
		struct inmem_key *k = m->buckets[i];

		while (k)
		{
			struct inmem_key *next = k->hnext;
			uint32_t	h = key_hash(k->key) & (nb - 1);

			k->hnext = b[h];
			b[h] = k;
			k = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = nb;
	return 0;
}

struct inmem_key *
inmem_find(const struct inmem *m, const uint8_t key[KEY_SIZE])
{
	if (m->nbuckets == 0)
		return NULL;
	for (struct inmem_key *k = m->buckets[key_hash(key) & (m->nbuckets - 1)]; k; k = k->hnext)
		if (memcmp(k->key, key, KEY_SIZE) == 0)
			return k;
	return NULL;
}

static struct inmem_key *
get_key(struct inmem *m, const uint8_t key[KEY_SIZE])
{
	struct inmem_key *k = inmem_find(m, key);
	uint32_t	h;

	if (k)
		return k;
	if (m->nkeys >= m->nbuckets && grow_hash(m) != 0)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (k == NULL)
		return NULL;
	memcpy(k->key, key, KEY_SIZE);
	h = key_hash(key) & (m->nbuckets - 1);
	k->hnext = m->buckets[h];
	m->buckets[h] = k;
	m->nkeys++;
	return k;
}

static int
push_version(struct inmem_key *k, lsn_t lsn, uint64_t off, const uint8_t *val, uint32_t vlen)
{
	struct inmem_version *v;
	uint64_t	nblocks;

	if (k->n == k->cap)
	{
		uint32_t	cap = k->cap ? k->cap * 2 : 1;

		v = realloc(k->v, cap * sizeof(*v));
		if (v == NULL)
			return STRATA_ENOMEM;
		k->v = v;
		k->cap = cap;
	}
	v = &k->v[k->n++];
	v->lsn = lsn;
	v->off = off;
	v->vlen = (uint16_t) vlen;
	atomic_init(&v->checked, 0);
	v->size = 0;
	if (value_get_size(val, vlen, &nblocks) == 0)
		v->size = nblocks == VAL_NOT_EXISTS ? SIZE_DROPPED : (uint32_t) nblocks;
	return 0;
}

/* A record becomes readable only once all of it is in the kernel. */
static inline uint64_t
rec_end(const struct inmem_version *v)
{
	return v->off + INMEM_REC_OVERHEAD + v->vlen;
}

const struct inmem_version *
inmem_at(const struct inmem *m, const struct inmem_key *k, lsn_t lsn, int include_pending)
{
	for (uint32_t i = k->n; i > 0; i--)
	{
		const struct inmem_version *v = &k->v[i - 1];

		if (!include_pending && rec_end(v) > m->visible)
			continue;
		if (v->lsn <= lsn)
			return v;
	}
	return NULL;
}

/* ---------- the file ---------- */

/*
 * Map the file once, read-only: an OPEN layer reserves INMEM_MAP_MAX (past
 * the end of the file is allowed and costs address space only; only
 * written bytes are touched), so its addresses never move and references
 * into it stay valid.  Without a mapping, reads use pread.
 */
static void
map_file(struct inmem *m, uint64_t len)
{
	struct inmem_map *map;
	void	   *p;

	if (len == 0)
		return;
	if ((map = malloc(sizeof(*map))) == NULL)
		return;
	p = mmap(NULL, (size_t) len, PROT_READ, MAP_SHARED, m->fd, 0);
	if (p == MAP_FAILED)
	{
		slog(SLOG_WARNING, "could not map write log \"%s\" (%llu bytes): %m; reading it with pread",
			 m->path, (unsigned long long) len);
		free(map);
		return;
	}
	atomic_init(&map->refs, 1);
	map->base = p;
	map->len = (size_t) len;
	m->map = map;
}

void
inmem_map_unref(struct inmem_map *map)
{
	if (map && atomic_fetch_sub(&map->refs, 1) == 1)
	{
		munmap((void *) map->base, map->len);
		free(map);
	}
}

/* Without a mapping: header and CRC to the stack, the value straight into buf. */
static int
read_record(struct inmem *m, const struct inmem_version *v, uint8_t *hdr, uint8_t *buf,
			uint8_t *crc)
{
	uint64_t	off = v->off;

	if (m->bw)
		return bw_read(m->bw, off, hdr, INMEM_REC_HDR) != 0 ||
			bw_read(m->bw, off + INMEM_REC_HDR, buf, v->vlen) != 0 ||
			bw_read(m->bw, off + INMEM_REC_HDR + v->vlen, crc, 4) != 0 ? STRATA_EIO : 0;
	else
	{
		struct iovec iov[3] = {
			{hdr, INMEM_REC_HDR}, {buf, v->vlen}, {crc, 4},
		};

		return preadv(m->fd, iov, 3, (off_t) off) ==
			(ssize_t) (INMEM_REC_OVERHEAD + v->vlen) ? 0 : STRATA_EIO;
	}
}

static uint32_t
record_crc(const uint8_t *hdr, const uint8_t *val, uint32_t vlen)
{
	uint32_t	crc = strata_crc32c_update(strata_crc32c_init(), hdr, INMEM_REC_HDR);

	return strata_crc32c_final(strata_crc32c_update(crc, val, vlen));
}

static void
encode_header(uint8_t *h, const uint8_t tenant[16], const uint8_t timeline[16], lsn_t start,
			  uint32_t synced_upto)
{
	memset(h, 0, INMEM_HDR_SIZE);
	memcpy(h, LOG_MAGIC, 8);
	put_le32(h + 8, LOG_VERSION);
	put_le32(h + 12, INMEM_HDR_SIZE);
	memcpy(h + 16, tenant, 16);
	memcpy(h + 32, timeline, 16);
	put_le64(h + 48, start);
	put_le32(h + 56, synced_upto);
	put_le32(h + 60, strata_crc32c(h, 60));
}

static struct inmem *
inmem_alloc(const char *path)
{
	struct inmem *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	snprintf(m->path, sizeof(m->path), "%s", path);
	m->fd = -1;
	m->lsn_end = LSN_MAX;
	atomic_init(&m->refs, 1);
	atomic_init(&m->name_durable, 1);
	return m;
}

int
inmem_create(const char *dir, const uint8_t tenant[16], const uint8_t timeline[16],
			 lsn_t lsn_start, size_t bufsize, bw_notify_fn notify, void *arg,
			 struct inmem **out)
{
	char		path[PATH_MAX];
	char		tmp[PATH_MAX + 4];
	uint8_t		h[INMEM_HDR_SIZE];
	struct inmem *m;
	int			err;

	snprintf(path, sizeof(path), "%s/log-%016llX", dir, (unsigned long long) lsn_start);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	m = inmem_alloc(path);
	if (m == NULL)
		return STRATA_ENOMEM;
	m->lsn_start = lsn_start;

	/*
	 * The header reaches the disk under a temporary name and the log
	 * appears under its own name only by rename, so a crash at any moment
	 * leaves either no log or one with a durable header (a leftover .tmp is
	 * removed at the next load).  Never an existing log's name: that log
	 * may hold acknowledged records.
	 */
	(void) fio_unlink(tmp);
	m->fd = fio_open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (m->fd < 0)
	{
		err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
		slog(SLOG_ERROR, "could not create write log \"%s\": %m", tmp);
		goto fail;
	}
	encode_header(h, tenant, timeline, lsn_start, 0);
	if (fio_pwrite(m->fd, h, sizeof(h), 0) != (ssize_t) sizeof(h) || fio_fdatasync(m->fd) != 0)
	{
		err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
		slog(SLOG_ERROR, "could not write write log \"%s\": %m", tmp);
		goto fail_unlink;
	}
	if (fs_rename_noreplace(tmp, path) != 0)
	{
		err = errno == EEXIST ? STRATA_EEXIST : errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
		slog(SLOG_ERROR, "could not rename write log \"%s\" to \"%s\": %m", tmp, path);
		goto fail_unlink;
	}
	if ((err = fs_fsync_dir(dir)) != 0)
	{
		/* the name may or may not be durable: it holds nothing yet, so go */
		(void) fio_unlink(path);
		goto fail;
	}
	m->end = m->visible = INMEM_HDR_SIZE;
	atomic_store(&m->name_durable, 1);
	m->bufsize = bufsize;
	m->notify = notify;
	m->notify_arg = arg;
	if ((err = bw_open(m->fd, m->end, bufsize, m->path, notify, arg, &m->bw)) != 0)
	{
		(void) fio_unlink(path);
		goto fail;
	}
	map_file(m, INMEM_MAP_MAX);
	*out = m;
	return 0;

fail_unlink:
	(void) fio_unlink(tmp);
fail:
	inmem_free(m, 0);
	return err;
}

int
inmem_create_spare(const char *dir, const uint8_t tenant[16], const uint8_t timeline[16],
				   struct inmem **out)
{
	char		path[PATH_MAX];
	uint8_t		h[INMEM_HDR_SIZE];
	struct inmem *m;

	static _Atomic uint64_t seq;

	/*
	 * A name of its own: the one before may still be on its way to its
	 * log's name on the loop, so a shared name could be taken from under
	 * it.  A leftover of an earlier process with the same name is an
	 * EEXIST: take the next.
	 */
	if ((m = inmem_alloc("")) == NULL)
		return STRATA_ENOMEM;
	m->lsn_start = SPARE_START;
	for (int tries = 0; tries < 100; tries++)
	{
		snprintf(path, sizeof(path), "%s/" SPARE_NAME, dir,
				 (unsigned long long) atomic_fetch_add(&seq, 1));
		m->fd = fio_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (m->fd >= 0 || errno != EEXIST)
			break;
	}
	snprintf(m->path, sizeof(m->path), "%s", path);
	if (m->fd < 0)
	{
		int			err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;

		slog(SLOG_ERROR, "could not create spare write log \"%s\": %m", path);
		inmem_free(m, 0);
		return err;
	}

	/*
	 * The placeholder header is durable before the spare can become a
	 * log, so the header sector of a renamed log always holds a header
	 * with a valid CRC: the placeholder (nothing in the log was synced)
	 * or the real one (written over it in one sector).
	 */
	encode_header(h, tenant, timeline, SPARE_START, 0);
	if (fio_pwrite(m->fd, h, sizeof(h), 0) != (ssize_t) sizeof(h) || fio_fdatasync(m->fd) != 0)
	{
		int			err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;

		slog(SLOG_ERROR, "could not write spare write log \"%s\": %m", path);
		inmem_free(m, 1);
		return err;
	}
	m->end = m->visible = INMEM_HDR_SIZE;
	atomic_store(&m->name_durable, 1);
	map_file(m, INMEM_MAP_MAX);
	*out = m;
	return 0;
}

int
inmem_freeze_into(struct inmem *m, lsn_t lsn_end, struct inmem *spare, const uint8_t tenant[16],
				  const uint8_t timeline[16], struct inmem **out)
{
	char		path[PATH_MAX];
	char	   *slash;
	uint8_t		h[INMEM_HDR_SIZE];

	if (m->state != INMEM_OPEN || m->bw == NULL || bw_written(m->bw) != m->end ||
		bw_appended(m->bw) != m->end || bw_failed(m->bw, NULL) != 0)
	{
		inmem_free(spare, 1);
		return STRATA_EBUSY;
	}
	snprintf(path, sizeof(path), "%s", spare->path);
	if ((slash = strrchr(path, '/')) == NULL)
	{
		inmem_free(spare, 1);
		return STRATA_EINVAL;
	}
	snprintf(slash + 1, sizeof(path) - (size_t) (slash + 1 - path), "log-%016llX",
			 (unsigned long long) lsn_end);

	/*
	 * Into the kernel only: the next inmem_sync() of the new log makes
	 * its header (fdatasync) and its name (directory fsync) durable, and
	 * nothing in it is synced before that.
	 */
	encode_header(h, tenant, timeline, lsn_end, 0);
	if (fio_pwrite(spare->fd, h, sizeof(h), 0) != (ssize_t) sizeof(h))
	{
		int			err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;

		slog(SLOG_ERROR, "could not write the header of write log \"%s\": %m", spare->path);
		inmem_free(spare, 1);
		return err;
	}
	if (fs_rename_noreplace(spare->path, path) != 0)
	{
		int			err = errno == EEXIST ? STRATA_EEXIST : errno == ENOSPC ? STRATA_ENOSPC :
			STRATA_EIO;

		slog(SLOG_ERROR, "could not rename write log \"%s\" to \"%s\": %m", spare->path, path);
		inmem_free(spare, 1);
		return err;
	}
	snprintf(spare->path, sizeof(spare->path), "%s", path);
	atomic_store(&spare->name_durable, 0);
	/* the writer is idle (checked above): it goes on in the new file */
	if (bw_retarget(m->bw, spare->fd, INMEM_HDR_SIZE, spare->path) != 0)
	{
		slog(SLOG_ERROR, "write log \"%s\": the writer is not idle", m->path);
		inmem_free(spare, 1);
		return STRATA_EBUSY;
	}
	spare->bw = m->bw;
	m->bw = NULL;
	spare->lsn_start = lsn_end;
	spare->bufsize = m->bufsize;
	spare->notify = m->notify;
	spare->notify_arg = m->notify_arg;
	m->state = INMEM_FROZEN;
	m->lsn_end = lsn_end;
	inmem_publish(m, m->end, NULL, NULL);
	m->npub = m->npend = 0;
	*out = spare;
	return 0;
}

/* How far past a bad record replay looks for a good one. */
#define RESYNC_WINDOW	(64 * 1024)

/* A whole record of a plausible length with a matching CRC at b (n bytes there). */
static int
record_at(const uint8_t *b, uint64_t n)
{
	uint32_t	len;

	if (n < 4)
		return 0;
	len = REC_LEN(get_le32(b));
	return len >= INMEM_REC_OVERHEAD + VAL_HDR && len <= REC_MAX && len <= n &&
		get_le32(b + len - 4) == strata_crc32c(b, len - 4);
}

/*
 * The record at off, read into rec (REC_MAX bytes): its length if it is
 * whole, of a plausible length and its CRC matches, else 0.
 */
static uint32_t
replay_record(int fd, uint8_t *rec, uint64_t off, uint64_t size)
{
	uint32_t	len;

	if (off + 4 > size || pread(fd, rec, 4, (off_t) off) != 4)
		return 0;
	len = REC_LEN(get_le32(rec));
	if (len < 4 || len > REC_MAX || off + len > size ||
		pread(fd, rec, len, (off_t) off) != (ssize_t) len || !record_at(rec, len))
		return 0;
	return len;
}

/*
 * Whether a valid record follows a bad one at off: where the bad record's
 * own length says the next one starts, or at any offset in the next
 * RESYNC_WINDOW bytes.  A crash leaves only a torn end (a write cut short:
 * the file ends inside a record, or unwritten bytes after it), never good
 * records after a bad one.  Reads the window once; 1, 0, or < 0 (EIO, ENOMEM).
 */
static int
valid_record_after(int fd, uint64_t off, uint64_t size)
{
	uint64_t	n = size - off;
	uint8_t    *b;
	uint32_t	len;
	int			found = 0;

	if (n > RESYNC_WINDOW + REC_MAX)
		n = RESYNC_WINDOW + REC_MAX;
	if ((b = malloc(n ? n : 1)) == NULL)
		return STRATA_ENOMEM;
	if (pread(fd, b, n, (off_t) off) != (ssize_t) n)
	{
		free(b);
		return STRATA_EIO;
	}
	len = n >= 4 ? REC_LEN(get_le32(b)) : 0;
	if (len >= INMEM_REC_OVERHEAD + VAL_HDR && len < n && record_at(b + len, n - len))
		found = 1;
	for (uint64_t p = 1; !found && p < RESYNC_WINDOW && p + INMEM_REC_OVERHEAD < n; p++)
		found = record_at(b + p, n - p);
	free(b);
	return found;
}

/* The first len bytes of fd are zero (a file whose header never got written). */
static int
all_zero_prefix(int fd, off_t len)
{
	uint8_t		b[INMEM_HDR_SIZE];

	if (len <= 0)
		return 1;
	if (pread(fd, b, (size_t) len, 0) != (ssize_t) len)
		return 0;
	for (off_t i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* A log that holds nothing (see inmem_open_log) goes: STRATA_ENOTFOUND, or EIO. */
static int
remove_empty_log(const char *path)
{
	if (fio_unlink(path) != 0)
	{
		slog(SLOG_ERROR, "could not remove write log \"%s\": %m", path);
		return STRATA_EIO;
	}
	return STRATA_ENOTFOUND;
}

/* The change replay is inside: where it started and the keys it added a version to. */
struct replay_change
{
	uint64_t	start;			/* offset of its first record; 0: none open */
	lsn_t		lsn;
	lsn_t		max_lsn;		/* the log's max_lsn before it */
	struct inmem_key **keys;
	uint32_t	n;
	uint32_t	cap;
};

static int
grow_keys(struct replay_change *c)
{
	uint32_t	cap = c->cap ? c->cap * 2 : 64;
	struct inmem_key **k = realloc(c->keys, cap * sizeof(*k));

	if (k == NULL)
		return STRATA_ENOMEM;
	c->keys = k;
	c->cap = cap;
	return 0;
}

int
inmem_open_log(const char *path, const uint8_t tenant[16], const uint8_t timeline[16],
			   lsn_t skip_below, int open_for_append, size_t bufsize,
			   bw_notify_fn notify, void *arg, struct inmem **out)
{
	uint8_t		h[INMEM_HDR_SIZE];
	uint8_t    *rec = NULL;
	struct inmem *m = inmem_alloc(path);
	struct replay_change chg = {0};
	struct stat st;
	uint64_t	off;
	uint64_t	synced_upto;
	uint32_t	version;
	int			err;

	if (m == NULL)
		return STRATA_ENOMEM;
	m->fd = fio_open(path, O_RDWR | O_CLOEXEC);
	if (m->fd < 0 || fstat(m->fd, &st) != 0)
	{
		slog(SLOG_ERROR, "could not open write log \"%s\": %m", path);
		err = STRATA_EIO;
		goto fail;
	}
	if (st.st_size < INMEM_HDR_SIZE && open_for_append && all_zero_prefix(m->fd, st.st_size))
	{
		/*
		 * Versions before logs were created by rename could die between
		 * creating the newest log and its header reaching the disk.  No
		 * record is ever acknowledged before the header is durable, so
		 * such a log holds nothing acknowledged: it is removed, and a new
		 * one is started.  Anywhere else a short file is corruption.
		 */
		slog(SLOG_WARNING, "write log \"%s\" is %lld bytes, shorter than its header: its "
			 "creation was interrupted and it holds no record; removing it", path,
			 (long long) st.st_size);
		err = remove_empty_log(path);
		goto fail;
	}
	if (pread(m->fd, h, sizeof(h), 0) != (ssize_t) sizeof(h) || memcmp(h, LOG_MAGIC, 8) != 0)
	{
		slog(SLOG_ERROR, "write log \"%s\" has no valid header", path);
		err = STRATA_ECORRUPT;
		goto fail;
	}
	version = get_le32(h + 8);
	if (version < LOG_VERSION_MIN || version > LOG_VERSION)
	{
		slog(SLOG_ERROR, "write log \"%s\" has unsupported version %u", path, version);
		err = STRATA_EVERSION;
		goto fail;
	}
	if (get_le32(h + 60) != strata_crc32c(h, 60) || memcmp(h + 16, tenant, 16) != 0 ||
		memcmp(h + 32, timeline, 16) != 0)
	{
		slog(SLOG_ERROR, "write log \"%s\": header checksum or ids do not match", path);
		err = STRATA_ECORRUPT;
		goto fail;
	}
	m->lsn_start = get_le64(h + 48);
	/* version 1 did not record its syncs: any damage there is corruption */
	synced_upto = version >= 2 ? get_le32(h + 56) : UINT64_MAX;
	atomic_store(&m->synced_mark, version >= 2 ? get_le32(h + 56) : 0);
	if (m->lsn_start == SPARE_START)
	{
		/*
		 * A spare renamed into place whose real header never reached the
		 * disk (a host crash): the first sync of a log writes its header,
		 * so nothing in this one was ever synced, and a write not synced
		 * may be lost in a host crash (md's contract).
		 */
		slog(SLOG_WARNING, "write log \"%s\" still has its placeholder header: it was never "
			 "synced before a host crash; removing it", path);
		err = remove_empty_log(path);
		goto fail;
	}
	rec = malloc(REC_MAX);
	if (rec == NULL)
	{
		err = STRATA_ENOMEM;
		goto fail;
	}
	off = INMEM_HDR_SIZE;
	while (off < (uint64_t) st.st_size)
	{
		uint32_t	len;
		lsn_t		lsn;
		int			more;

		if ((len = replay_record(m->fd, rec, off, (uint64_t) st.st_size)) == 0)
		{
			int			after = valid_record_after(m->fd, off, (uint64_t) st.st_size);

			if (after < 0)
			{
				slog(SLOG_ERROR, "could not read write log \"%s\" past offset %llu: %s", path,
					 (unsigned long long) off, strata_strerror(after));
				err = after;
				goto fail;
			}
			if (after && off >= synced_upto)
			{
				/*
				 * Past what a sync covered: a host crash writes an
				 * unsynced tail back in any order, so damage followed by
				 * good records is expected there, and nothing in it was
				 * synced (md's contract allows losing it).
				 */
				slog(SLOG_WARNING, "write log \"%s\": damaged record at offset %llu of %llu, "
					 "past the synced part (%llu bytes): an unsynced tail left by a host "
					 "crash; cutting the log there", path, (unsigned long long) off,
					 (unsigned long long) st.st_size, (unsigned long long) synced_upto);
				break;
			}
			if (after)
			{
				/*
				 * Not a torn tail: a record that fails its checks with
				 * good ones after it, in the synced part.  Cutting would
				 * drop them silently (I21): report it and keep the file
				 * as evidence.
				 */
				slog(SLOG_ERROR, "write log \"%s\": corrupt record at offset %llu of %llu "
					 "followed by valid records", path, (unsigned long long) off,
					 (unsigned long long) st.st_size);
				err = STRATA_ECORRUPT;
				goto fail;
			}
			slog(SLOG_WARNING, "write log \"%s\": torn record at offset %llu of %llu (the end "
				 "of a write cut short by a crash); cutting the log there", path,
				 (unsigned long long) off, (unsigned long long) st.st_size);
			break;
		}
		lsn = get_le64(rec + 22);
		more = version >= 2 && (get_le32(rec) & REC_MORE) != 0;
		if (chg.start != 0 && lsn != chg.lsn)
		{
			/* I7: one LSN per change; anything else was not written by us */
			slog(SLOG_ERROR, "write log \"%s\": record at offset %llu has LSN %llX inside a "
				 "change at LSN %llX", path, (unsigned long long) off,
				 (unsigned long long) lsn, (unsigned long long) chg.lsn);
			err = STRATA_ECORRUPT;
			goto fail;
		}
		if (chg.start == 0)
		{
			chg.start = off;
			chg.lsn = lsn;
			chg.max_lsn = m->max_lsn;
			chg.n = 0;
		}
		if (lsn >= skip_below)
		{
			struct inmem_key *k;

			if (chg.n == chg.cap && grow_keys(&chg) != 0)
			{
				err = STRATA_ENOMEM;
				goto fail;
			}
			if ((k = get_key(m, rec + 4)) == NULL ||
				push_version(k, lsn, off, rec + INMEM_REC_HDR, len - INMEM_REC_OVERHEAD) != 0)
			{
				err = STRATA_ENOMEM;
				goto fail;
			}
			chg.keys[chg.n++] = k;
			atomic_store_explicit(&k->v[k->n - 1].checked, 1, memory_order_relaxed);
			m->nversions++;
			if (lsn > m->max_lsn)
				m->max_lsn = m->visible_max_lsn = lsn;
		}
		off += len;
		if (!more)
			chg.start = 0;		/* the change is whole */
	}
	if (chg.start != 0)
	{
		/*
		 * The crash came in the middle of a change: none of it was
		 * acknowledged, and a part of it must never be seen (a DROP
		 * DATABASE with some forks gone), so all of it goes.
		 */
		slog(SLOG_WARNING, "write log \"%s\": the change at offset %llu (LSN %llX) is "
			 "incomplete (cut short by a crash); cutting the log there", path,
			 (unsigned long long) chg.start, (unsigned long long) chg.lsn);
		while (chg.n > 0)
		{
			chg.keys[--chg.n]->n--;
			m->nversions--;
		}
		m->max_lsn = m->visible_max_lsn = chg.max_lsn;
		off = chg.start;
	}
	if (off < (uint64_t) st.st_size &&
		(fio_ftruncate(m->fd, off) != 0 || fio_fdatasync(m->fd) != 0))
	{
		slog(SLOG_ERROR, "could not truncate write log \"%s\": %m", path);
		err = STRATA_EIO;
		goto fail;
	}
	free(chg.keys);
	chg.keys = NULL;
	m->end = m->visible = off;
	free(rec);
	rec = NULL;
	map_file(m, open_for_append && m->end < INMEM_MAP_MAX ? INMEM_MAP_MAX : m->end);
	m->bufsize = bufsize;
	m->notify = notify;
	m->notify_arg = arg;
	if (open_for_append)
	{
		if ((err = bw_open(m->fd, m->end, bufsize, m->path, notify, arg, &m->bw)) != 0)
			goto fail;
	}
	else
	{
		m->state = INMEM_FROZEN;
		m->lsn_end = m->max_lsn ? m->max_lsn + 1 : m->lsn_start;
	}
	*out = m;
	return 0;

fail:
	free(rec);
	free(chg.keys);
	inmem_free(m, 0);
	return err;
}

void
inmem_ref(struct inmem *m)
{
	atomic_fetch_add(&m->refs, 1);
}

void
inmem_unref(struct inmem *m)
{
	if (m && atomic_fetch_sub(&m->refs, 1) == 1)
		inmem_free(m, atomic_load(&m->drop_file));
}

void
inmem_free(struct inmem *m, int unlink_file)
{
	if (m == NULL)
		return;
	if (m->bw)
		(void) bw_close(m->bw, 1);	/* cancelled: the caller is discarding it */
	for (uint32_t i = 0; i < m->nbuckets; i++)
	{
		struct inmem_key *k = m->buckets[i];

		while (k)
		{
			struct inmem_key *next = k->hnext;

			free(k->v);
			free(k);
			k = next;
		}
	}
	free(m->buckets);
	free(m->pend);
	inmem_map_unref(m->map);	/* pages handed out by reference keep it */
	if (m->fd >= 0)
		close(m->fd);
	if (unlink_file && fio_unlink(m->path) != 0 && errno != ENOENT)
		slog(SLOG_WARNING, "could not remove write log \"%s\": %m", m->path);
	free(m);
}

int
inmem_append(struct inmem *m, const uint8_t key[KEY_SIZE], lsn_t lsn,
			 const uint8_t *val, uint32_t vlen, int more, uint64_t *end_off)
{
	uint8_t		rec[REC_MAX];
	uint32_t	len = INMEM_REC_OVERHEAD + vlen;
	struct inmem_key *k;
	uint64_t	off;
	int			err;

	if (m->state != INMEM_OPEN || vlen < VAL_HDR || vlen > VAL_MAX)
		return STRATA_EINVAL;
	if (m->npend == m->pend_cap)
	{
		uint32_t	cap = m->pend_cap ? m->pend_cap * 2 : 64;
		struct inmem_pend *p = realloc(m->pend, cap * sizeof(*p));

		if (p == NULL)
			return STRATA_ENOMEM;
		m->pend = p;
		m->pend_cap = cap;
	}
	if ((k = get_key(m, key)) == NULL)
		return STRATA_ENOMEM;
	put_le32(rec, more ? len | REC_MORE : len);
	memcpy(rec + 4, key, KEY_SIZE);
	put_le64(rec + 22, lsn);
	memcpy(rec + INMEM_REC_HDR, val, vlen);
	put_le32(rec + len - 4, strata_crc32c(rec, len - 4));
	/* tests: one write of the log fails with ENOSPC while this file exists */
	if (fio_fault_once("STRATA_FAIL_WRITE_ONCE_FILE"))
		bw_test_fail_writes(m->bw, 1, ENOSPC);
	if ((err = bw_append(m->bw, rec, len, &off)) != 0)
		return err;
	if ((err = push_version(k, lsn, off, val, vlen)) != 0)
	{
		/* the record is in the writer; make the file agree with the index */
		(void) inmem_cut(m, off);
		return err;
	}
	m->pend[m->npend].k = k;
	m->pend[m->npend].idx = k->n - 1;
	m->pend[m->npend].last = !more;
	m->npend++;
	m->nversions++;
	m->end = off + len;
	if (lsn > m->max_lsn)
		m->max_lsn = lsn;
	*end_off = m->end;
	return 0;
}

int
inmem_unappend(struct inmem *m, uint64_t off, lsn_t max_lsn)
{
	int			err;

	if (m->bw == NULL)
		return STRATA_EINVAL;
	if ((err = bw_unappend(m->bw, off)) != 0)
		return err;
	while (m->npend > m->npub)
	{
		struct inmem_key *k = m->pend[m->npend - 1].k;

		if (k->n == 0 || k->v[k->n - 1].off < off)
			break;
		k->n--;
		m->nversions--;
		m->npend--;
	}
	m->end = off;
	m->max_lsn = max_lsn;
	return 0;
}

void
inmem_publish(struct inmem *m, uint64_t upto, inmem_publish_fn cb, void *arg)
{
	if (upto > m->end)
		upto = m->end;
	/* whole changes only: a reader never sees a part of one (I7) */
	while (m->npub < m->npend)
	{
		uint32_t	last = m->npub;
		const struct inmem_version *lv;

		while (last < m->npend && !m->pend[last].last)
			last++;
		if (last == m->npend)
			break;				/* still being appended */
		lv = &m->pend[last].k->v[m->pend[last].idx];
		if (rec_end(lv) > upto)
			break;				/* not all of it written yet */
		m->visible = rec_end(lv);
		for (; m->npub <= last; m->npub++)
		{
			const struct inmem_key *k = m->pend[m->npub].k;
			const struct inmem_version *v = &k->v[m->pend[m->npub].idx];

			if (v->lsn > m->visible_max_lsn)
				m->visible_max_lsn = v->lsn;
			if (cb)
				cb(k, v, arg);
		}
	}
	if (m->npub == m->npend)
	{
		m->npub = m->npend = 0;
		if (upto > m->visible)
			m->visible = upto;
	}
}

int
inmem_cut(struct inmem *m, uint64_t off)
{
	/*
	 * Pending versions are the newest of their keys, in append order.  A
	 * record only partly below off goes too, and the file is cut at its
	 * start: a torn record left inside the log would end its replay there
	 * and lose every record appended after it.
	 */
	while (m->npend > m->npub)
	{
		struct inmem_key *k = m->pend[m->npend - 1].k;

		if (k->n == 0 || rec_end(&k->v[k->n - 1]) <= off)
			break;
		if (k->v[k->n - 1].off < off)
			off = k->v[k->n - 1].off;
		k->n--;
		m->nversions--;
		m->npend--;
	}
	if (m->bw)
	{
		/* a failed writer is discarded: its unwritten bytes are the cut ones */
		(void) bw_close(m->bw, 1);
		m->bw = NULL;
	}
	if (fio_ftruncate(m->fd, off) != 0)
	{
		slog(SLOG_ERROR, "could not truncate write log \"%s\" to %llu: %m", m->path,
			 (unsigned long long) off);
		return STRATA_EIO;
	}
	m->end = off;
	if (m->visible > off)
		m->visible = off;
	if (m->state == INMEM_OPEN)
		return bw_open(m->fd, off, m->bufsize, m->path, m->notify, m->notify_arg, &m->bw);
	return 0;
}

int
inmem_freeze(struct inmem *m, lsn_t lsn_end)
{
	int			err = 0;

	if (m->bw)
	{
		err = bw_close(m->bw, 0);
		m->bw = NULL;
	}
	m->state = INMEM_FROZEN;
	m->lsn_end = lsn_end;
	inmem_publish(m, m->end, NULL, NULL);
	m->npub = m->npend = 0;
	return err;
}

/*
 * After a sync covered the first upto bytes: say so in the header, in the
 * kernel only.  The next sync makes it durable, so the header on disk
 * never claims more than is durable; replay treats damage past it as the
 * unsynced tail a host crash may leave in any state.
 */
static void
mark_synced(struct inmem *m, uint64_t upto)
{
	uint8_t		h[INMEM_HDR_SIZE];
	uint32_t	mark = upto > UINT32_MAX ? UINT32_MAX : (uint32_t) upto;

	if (mark <= atomic_load(&m->synced_mark))
		return;
	if (pread(m->fd, h, sizeof(h), 0) != (ssize_t) sizeof(h) || memcmp(h, LOG_MAGIC, 8) != 0 ||
		get_le32(h + 8) < 2 || get_le64(h + 48) == SPARE_START)
		return;
	put_le32(h + 56, mark);
	put_le32(h + 60, strata_crc32c(h, 60));
	if (fio_pwrite(m->fd, h, sizeof(h), 0) == (ssize_t) sizeof(h))
		atomic_store(&m->synced_mark, mark);
}

int
inmem_sync(struct inmem *m)
{
	struct stat st;

	/* everything in the file now is what the fdatasync covers */
	if (fstat(m->fd, &st) != 0)
		st.st_size = 0;
	if (fio_fdatasync(m->fd) != 0)
	{
		slog(SLOG_ERROR, "could not fdatasync write log \"%s\": %m", m->path);
		return STRATA_EIO;
	}
	mark_synced(m, (uint64_t) st.st_size);
	if (!atomic_load(&m->name_durable))
	{
		char		dir[PATH_MAX];
		char	   *slash;
		int			err;

		snprintf(dir, sizeof(dir), "%s", m->path);
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		if ((err = fs_fsync_dir(dir)) != 0)
			return err;
		atomic_store(&m->name_durable, 1);
	}
	return 0;
}

int
inmem_value(struct inmem *m, const struct inmem_version *v, uint8_t *buf, const uint8_t **val,
			struct inmem_map **ref)
{
	uint32_t	len = INMEM_REC_OVERHEAD + v->vlen;
	uint8_t		hdrbuf[INMEM_REC_HDR];
	uint8_t		crcbuf[4];
	const uint8_t *hdr;
	const uint8_t *crc;
	int			err;

	if (ref)
		*ref = NULL;
	if (rec_end(v) <= m->visible && m->map && rec_end(v) <= m->map->len)
	{
		hdr = m->map->base + v->off;
		*val = hdr + INMEM_REC_HDR;
		crc = *val + v->vlen;
	}
	else
	{
		if ((err = read_record(m, v, hdrbuf, buf, crcbuf)) != 0)
		{
			slog(SLOG_ERROR, "could not read write log \"%s\" at offset %llu: %s", m->path,
				 (unsigned long long) v->off, strata_strerror(err));
			return err;
		}
		hdr = hdrbuf;
		*val = buf;
		crc = crcbuf;
	}
	if (REC_LEN(get_le32(hdr)) != len ||
		(!atomic_load_explicit(&v->checked, memory_order_relaxed) &&
		 get_le32(crc) != record_crc(hdr, *val, v->vlen)))
	{
		slog(SLOG_ERROR, "write log \"%s\": corrupt record at offset %llu", m->path,
			 (unsigned long long) v->off);
		return STRATA_ECORRUPT;
	}
	/* racing readers of a frozen layer store the same 1 */
	atomic_store_explicit((_Atomic uint8_t *) &v->checked, 1, memory_order_relaxed);
	if (ref && *val != buf)
	{
		atomic_fetch_add(&m->map->refs, 1);
		*ref = m->map;
	}
	return (int) v->vlen;
}

int
inmem_read_value(struct inmem *m, const struct inmem_version *v, uint8_t *buf)
{
	const uint8_t *val;
	int			n = inmem_value(m, v, buf, &val, NULL);

	if (n > 0 && val != buf)
		memcpy(buf, val, (size_t) n);
	return n;
}

static int
cmp_keyp(const void *a, const void *b)
{
	return memcmp((*(struct inmem_key *const *) a)->key, (*(struct inmem_key *const *) b)->key,
				  KEY_SIZE);
}

int
inmem_sorted_keys(const struct inmem *m, struct inmem_key ***out, uint32_t *n)
{
	struct inmem_key **a = malloc((m->nkeys ? m->nkeys : 1) * sizeof(*a));
	uint32_t	j = 0;

	if (a == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < m->nbuckets; i++)
		for (struct inmem_key *k = m->buckets[i]; k; k = k->hnext)
			a[j++] = k;
	qsort(a, j, sizeof(*a), cmp_keyp);
	*out = a;
	*n = j;
	return 0;
}
