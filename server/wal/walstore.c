/*-------------------------------------------------------------------------
 *
 * walstore.c
 *	  A timeline's WAL, per segment, CRC'd (see walstore.h for the layout
 *	  and the contract).
 *
 * walstore_open() checks the header of every file and the records of the
 * newest one only: opening must not read gigabytes of history.  Older
 * files are checked record by record whenever they are served, so damage
 * there is found when it matters and reported, never served.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "fio.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"
#include "walstore.h"

static const uint8_t ws_magic[8] = {'S', 'T', 'R', 'A', 'T', 'A', 'W', 'L'};

/* Appends are cut into records of at most this much payload. */
#define WS_RECORD_MAX	(1024 * 1024)

struct ws_seg
{
	uint64_t	segno;
	lsn_t		start;			/* first byte held (the segment's start but
								 * perhaps in the store's first file) */
	lsn_t		end;			/* end of the valid records */
	uint64_t	file_size;
};

struct walstore
{
	char		dir[PATH_MAX];

	/* lock protects everything below but the writer-only fields */
	pthread_mutex_t lock;
	uint64_t	system_id;
	uint32_t	tli;
	uint32_t	seg_size;
	struct ws_seg *segs;		/* by segno, contiguous; the last is written */
	size_t		nsegs;
	size_t		cap;
	lsn_t		flush_lsn;
	uint64_t	bytes;

	/* the writer's (one thread) */
	int			wfd;			/* the newest file, or -1 */
	uint64_t	woff;			/* its size */
	int			dir_dirty;		/* a file was created or removed since sync */
	int			failed;			/* an I/O error: no appends until reopened */
	uint8_t    *rbuf;			/* record assembly */
	size_t		rbuf_cap;
};

static int
ws_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? STRATA_ENOSPC : STRATA_EIO;
}

static uint64_t
ws_segs_per_id(uint32_t seg_size)
{
	return UINT64_C(0x100000000) / seg_size;
}

void
walstore_segname(uint32_t tli, uint64_t segno, uint32_t seg_size, char out[WALSTORE_SEGNAME_LEN + 1])
{
	uint64_t	per = ws_segs_per_id(seg_size);

	snprintf(out, WALSTORE_SEGNAME_LEN + 1, "%08X%08X%08X", tli,
			 (uint32_t) (segno / per), (uint32_t) (segno % per));
}

int
walstore_parse_segname(const char *name, uint32_t seg_size, uint32_t *tli, uint64_t *segno)
{
	uint32_t	parts[3];

	if (strlen(name) != WALSTORE_SEGNAME_LEN || seg_size == 0)
		return STRATA_EINVAL;
	for (int i = 0; i < 3; i++)
	{
		uint32_t	v = 0;

		for (int j = 0; j < 8; j++)
		{
			char		c = name[i * 8 + j];
			int			d;

			if (c >= '0' && c <= '9')
				d = c - '0';
			else if (c >= 'A' && c <= 'F')
				d = c - 'A' + 10;
			else
				return STRATA_EINVAL;
			v = v << 4 | (uint32_t) d;
		}
		parts[i] = v;
	}
	if (parts[0] == 0 || parts[2] >= ws_segs_per_id(seg_size))
		return STRATA_EINVAL;
	*tli = parts[0];
	*segno = (uint64_t) parts[1] * ws_segs_per_id(seg_size) + parts[2];
	return 0;
}

static int
ws_valid_seg_size(uint32_t s)
{
	return s >= 1024 * 1024 && s <= 1024 * 1024 * 1024 && (s & (s - 1)) == 0;
}

static void
ws_path(const struct walstore *ws, uint64_t segno, char *out, size_t n)
{
	char		name[WALSTORE_SEGNAME_LEN + 1];

	walstore_segname(ws->tli, segno, ws->seg_size, name);
	snprintf(out, n, "%s/%s%s", ws->dir, name, WALSTORE_SUFFIX);
}

static void
ws_encode_header(const struct walstore *ws, uint64_t segno, uint8_t h[WALSTORE_HEADER_SIZE])
{
	memset(h, 0, WALSTORE_HEADER_SIZE);
	memcpy(h, ws_magic, 8);
	put_le32(h + 8, WALSTORE_VERSION);
	put_le32(h + 12, WALSTORE_HEADER_SIZE);
	put_le32(h + 16, ws->tli);
	put_le32(h + 20, ws->seg_size);
	put_le64(h + 24, segno);
	put_le64(h + 32, ws->system_id);
	put_le32(h + 60, strata_crc32c(h, 60));
}

/* 0, or STRATA_ECORRUPT / STRATA_EVERSION with a log line naming path. */
static int
ws_decode_header(const char *path, const uint8_t h[WALSTORE_HEADER_SIZE], uint32_t *tli,
				 uint32_t *seg_size, uint64_t *segno, uint64_t *sysid)
{
	if (memcmp(h, ws_magic, 8) != 0)
	{
		slog(SLOG_ERROR, "walstore: bad magic in \"%s\"", path);
		return STRATA_ECORRUPT;
	}
	if (get_le32(h + 8) != WALSTORE_VERSION)
	{
		slog(SLOG_ERROR, "walstore: unsupported version %u in \"%s\"", get_le32(h + 8), path);
		return STRATA_EVERSION;
	}
	if (get_le32(h + 12) != WALSTORE_HEADER_SIZE || get_le32(h + 60) != strata_crc32c(h, 60))
	{
		slog(SLOG_ERROR, "walstore: header checksum mismatch in \"%s\"", path);
		return STRATA_ECORRUPT;
	}
	*tli = get_le32(h + 16);
	*seg_size = get_le32(h + 20);
	*segno = get_le64(h + 24);
	*sysid = get_le64(h + 32);
	if (!ws_valid_seg_size(*seg_size) || *tli == 0)
	{
		slog(SLOG_ERROR, "walstore: bad segment size or timeline in \"%s\"", path);
		return STRATA_ECORRUPT;
	}
	return 0;
}

static int
ws_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	size_t		done = 0;

	while (done < len)
	{
		ssize_t		n = pread(fd, (uint8_t *) buf + done, len - done, (off_t) (off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return STRATA_EIO;
		if (n == 0)
			return STRATA_EEOF;
		done += (size_t) n;
	}
	return 0;
}

/*
 * Walk the records of one file from its header on, calling nothing but
 * checking each: returns the offset and LSN at which the valid records end
 * (*off, *end) and whether they end because the file does (0) or because
 * a record is incomplete or fails its CRC (STRATA_ECORRUPT, *bad_at set).
 * With dest, payload bytes below limit are copied to dest[lsn - base].
 * A valid record out of sequence is STRATA_ECORRUPT in every case.
 */
static int
ws_scan(int fd, const char *path, uint64_t file_size, lsn_t seg_start, lsn_t seg_end,
		lsn_t *start, lsn_t *end, uint64_t *off, uint8_t *dest, lsn_t limit, int *torn)
{
	uint64_t	o = WALSTORE_HEADER_SIZE;
	lsn_t		expect = LSN_INVALID;
	uint8_t	   *tmp = NULL;
	size_t		tmp_cap = 0;
	int			err = 0;

	*torn = 0;
	*start = LSN_INVALID;
	while (o < file_size)
	{
		uint8_t		h[12];
		uint8_t		c[4];
		uint32_t	n;
		lsn_t		lsn;
		uint32_t	crc;
		uint8_t    *payload;

		if (file_size - o < WALSTORE_RECORD_OVERHEAD)
		{
			*torn = 1;
			break;
		}
		if ((err = ws_pread_full(fd, h, sizeof(h), o)) != 0)
			goto done;
		n = get_le32(h);
		lsn = get_le64(h + 4);
		if (n == 0 || n > WS_RECORD_MAX || file_size - o - WALSTORE_RECORD_OVERHEAD < n)
		{
			*torn = 1;
			break;
		}
		/* the payload goes straight to dest when it is wanted whole */
		if (dest != NULL && lsn >= seg_start && lsn + n <= limit && lsn + n <= seg_end)
			payload = dest + (lsn - seg_start);
		else
		{
			if (tmp_cap < n)
			{
				uint8_t    *p = realloc(tmp, n);

				if (p == NULL)
				{
					err = STRATA_ENOMEM;
					goto done;
				}
				tmp = p;
				tmp_cap = n;
			}
			payload = tmp;
		}
		if ((err = ws_pread_full(fd, payload, n, o + 12)) != 0 ||
			(err = ws_pread_full(fd, c, 4, o + 12 + n)) != 0)
			goto done;
		crc = strata_crc32c_update(strata_crc32c_init(), h, sizeof(h));
		crc = strata_crc32c_final(strata_crc32c_update(crc, payload, n));
		if (crc != get_le32(c))
		{
			*torn = 1;
			break;
		}
		if ((expect != LSN_INVALID && lsn != expect) || lsn < seg_start || lsn + n > seg_end)
		{
			char		a[LSN_STRLEN + 1];

			slog(SLOG_ERROR, "walstore: record at %s out of sequence in \"%s\" at offset %llu",
				 lsn_format(lsn, a), path, (unsigned long long) o);
			err = STRATA_ECORRUPT;
			goto done;
		}
		if (dest != NULL && payload == tmp && lsn < limit)
			memcpy(dest + (lsn - seg_start), tmp, (size_t) (limit - lsn));
		if (expect == LSN_INVALID)
			*start = lsn;
		expect = lsn + n;
		o += WALSTORE_RECORD_OVERHEAD + n;
		if (dest != NULL && expect >= limit)
			break;
	}
	*end = expect;
	*off = o;
done:
	free(tmp);
	return err;
}

static int
ws_push_seg(struct walstore *ws, const struct ws_seg *s)
{
	if (ws->nsegs == ws->cap)
	{
		size_t		cap = ws->cap ? ws->cap * 2 : 16;
		struct ws_seg *p = realloc(ws->segs, cap * sizeof(*p));

		if (p == NULL)
			return STRATA_ENOMEM;
		ws->segs = p;
		ws->cap = cap;
	}
	ws->segs[ws->nsegs++] = *s;
	return 0;
}

static int
ws_cmp_segno(const void *a, const void *b)
{
	const struct ws_seg *x = a;
	const struct ws_seg *y = b;

	return x->segno < y->segno ? -1 : x->segno > y->segno;
}

/* Is name a segment file of ours: 24 upper-case hex digits + suffix? */
static int
ws_is_segfile(const char *name)
{
	size_t		len = strlen(name);

	if (len != WALSTORE_SEGNAME_LEN + strlen(WALSTORE_SUFFIX) ||
		strcmp(name + WALSTORE_SEGNAME_LEN, WALSTORE_SUFFIX) != 0)
		return 0;
	for (int i = 0; i < WALSTORE_SEGNAME_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'A' && name[i] <= 'F')))
			return 0;
	return 1;
}

/*
 * Read the headers of every file; note each one's segment.  A file of
 * another system, TLI or size than the first is corruption.
 */
static int
ws_load_headers(struct walstore *ws, uint64_t want_sysid)
{
	DIR		   *d = opendir(ws->dir);
	struct dirent *e;
	int			err = 0;

	if (d == NULL)
		return ws_errno(errno);
	while ((e = readdir(d)) != NULL)
	{
		char		path[PATH_MAX];
		uint8_t		h[WALSTORE_HEADER_SIZE];
		struct ws_seg s = {0};
		struct stat st;
		uint32_t	tli,
					seg_size;
		uint64_t	sysid;
		int			fd;

		if (!ws_is_segfile(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", ws->dir, e->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0)
		{
			slog(SLOG_ERROR, "walstore: could not open \"%s\": %s", path, strerror(errno));
			err = STRATA_EIO;
			if (fd >= 0)
				close(fd);
			break;
		}
		s.file_size = (uint64_t) st.st_size;
		if (s.file_size < WALSTORE_HEADER_SIZE)
		{
			/* a file being created when we crashed: only the newest can be */
			close(fd);
			s.segno = UINT64_MAX;	/* sorted last; checked below */
			s.start = LSN_INVALID;
			if ((err = ws_push_seg(ws, &s)) != 0)
				break;
			continue;
		}
		err = ws_pread_full(fd, h, sizeof(h), 0);
		close(fd);
		if (err == 0)
			err = ws_decode_header(path, h, &tli, &seg_size, &s.segno, &sysid);
		if (err != 0)
			break;
		if (ws->nsegs == 0 || ws->tli == 0)
		{
			ws->tli = tli;
			ws->seg_size = seg_size;
			ws->system_id = sysid;
		}
		else if (tli != ws->tli || seg_size != ws->seg_size || sysid != ws->system_id)
		{
			slog(SLOG_ERROR, "walstore: \"%s\" belongs to another timeline, system or segment size", path);
			err = STRATA_ECORRUPT;
			break;
		}
		{
			char		name[WALSTORE_SEGNAME_LEN + 1];

			walstore_segname(tli, s.segno, seg_size, name);
			if (strncmp(name, e->d_name, WALSTORE_SEGNAME_LEN) != 0)
			{
				slog(SLOG_ERROR, "walstore: \"%s\" holds segment %s", path, name);
				err = STRATA_ECORRUPT;
				break;
			}
		}
		s.start = s.segno * seg_size;
		s.end = s.start + seg_size;
		if ((err = ws_push_seg(ws, &s)) != 0)
			break;
	}
	closedir(d);
	if (err != 0)
		return err;
	if (ws->nsegs > 0 && want_sysid != 0 && ws->system_id != 0 && ws->system_id != want_sysid)
	{
		slog(SLOG_ERROR, "walstore: \"%s\" holds WAL of system %llu, not %llu", ws->dir,
			 (unsigned long long) ws->system_id, (unsigned long long) want_sysid);
		return STRATA_EINVAL;
	}
	if (ws->nsegs > 1)
		qsort(ws->segs, ws->nsegs, sizeof(*ws->segs), ws_cmp_segno);
	return 0;
}

/* The newest file: drop it if it is a torn creation, else cut its tail. */
static int
ws_recover_tail(struct walstore *ws)
{
	struct ws_seg *last;
	char		path[PATH_MAX];
	lsn_t		start,
				end;
	uint64_t	off;
	int			torn;
	int			fd;
	int			err;

	/* zero-length and header-less files: only the newest may be one */
	while (ws->nsegs > 0 && ws->segs[ws->nsegs - 1].segno == UINT64_MAX)
	{
		DIR		   *d;
		struct dirent *e;

		if (ws->nsegs > 1 && ws->segs[ws->nsegs - 2].segno == UINT64_MAX)
		{
			slog(SLOG_ERROR, "walstore: more than one header-less file in \"%s\"", ws->dir);
			return STRATA_ECORRUPT;
		}
		/* find and remove it: its name is all we lack */
		if ((d = opendir(ws->dir)) == NULL)
			return ws_errno(errno);
		err = 0;
		while ((e = readdir(d)) != NULL)
		{
			struct stat st;

			if (!ws_is_segfile(e->d_name))
				continue;
			snprintf(path, sizeof(path), "%s/%s", ws->dir, e->d_name);
			if (stat(path, &st) == 0 && st.st_size < WALSTORE_HEADER_SIZE)
			{
				char		name[WALSTORE_SEGNAME_LEN + 1];
				uint32_t	tli;
				uint64_t	segno;

				/* it must be the segment after the newest whole one */
				memcpy(name, e->d_name, WALSTORE_SEGNAME_LEN);
				name[WALSTORE_SEGNAME_LEN] = '\0';
				if (ws->nsegs > 1 && ws->seg_size != 0 &&
					(walstore_parse_segname(name, ws->seg_size, &tli, &segno) != 0 ||
					 segno != ws->segs[ws->nsegs - 2].segno + 1))
				{
					slog(SLOG_ERROR, "walstore: header-less \"%s\" is not the newest segment", path);
					err = STRATA_ECORRUPT;
					break;
				}
				slog(SLOG_WARNING, "walstore: removing \"%s\", a segment file a crash left without a header", path);
				if (fio_unlink(path) != 0)
					err = ws_errno(errno);
				ws->dir_dirty = 1;
				break;
			}
		}
		closedir(d);
		if (err != 0)
			return err;
		ws->nsegs--;
	}
	for (size_t i = 1; i < ws->nsegs; i++)
		if (ws->segs[i].segno != ws->segs[i - 1].segno + 1)
		{
			slog(SLOG_ERROR, "walstore: segment %llu is missing in \"%s\"",
				 (unsigned long long) ws->segs[i - 1].segno + 1, ws->dir);
			return STRATA_ECORRUPT;
		}
	if (ws->nsegs == 0)
		return 0;

	last = &ws->segs[ws->nsegs - 1];
	ws_path(ws, last->segno, path, sizeof(path));
	if ((fd = fio_open(path, O_RDWR | O_CLOEXEC)) < 0)
		return ws_errno(errno);
	err = ws_scan(fd, path, last->file_size, last->segno * ws->seg_size,
				  (last->segno + 1) * ws->seg_size, &start, &end, &off, NULL, 0, &torn);
	if (err != 0)
	{
		close(fd);
		return err;
	}
	if (torn || off < last->file_size)
	{
		slog(SLOG_WARNING, "walstore: cutting %llu bytes of torn tail off \"%s\" at offset %llu",
			 (unsigned long long) (last->file_size - off), path, (unsigned long long) off);
		if (fio_ftruncate(fd, (off_t) off) != 0 || fio_fdatasync(fd) != 0)
		{
			err = ws_errno(errno);
			close(fd);
			return err;
		}
		last->file_size = off;
	}
	if (end == LSN_INVALID && ws->nsegs == 1)
	{
		/* the only file, a header and no record: it holds nothing */
		slog(SLOG_INFO, "walstore: removing \"%s\", which holds no WAL", path);
		close(fd);
		if (fio_unlink(path) != 0)
			return ws_errno(errno);
		ws->dir_dirty = 1;
		ws->nsegs = 0;
		ws->tli = 0;
		ws->seg_size = 0;
		return 0;
	}
	if (end == LSN_INVALID)
		start = end = last->segno * ws->seg_size;
	if (ws->nsegs == 1)
		last->start = start;
	last->end = end;
	if (ws->nsegs > 1 && last->start != ws->segs[ws->nsegs - 2].end)
	{
		slog(SLOG_ERROR, "walstore: \"%s\" does not continue the previous segment", path);
		close(fd);
		return STRATA_ECORRUPT;
	}
	ws->wfd = fd;
	ws->woff = last->file_size;
	return 0;
}

/* The first file may begin inside its segment: read its first record. */
static int
ws_first_start(struct walstore *ws)
{
	struct ws_seg *first = &ws->segs[0];
	char		path[PATH_MAX];
	uint8_t		h[12];
	int			fd;
	int			err;

	if (ws->nsegs < 2)
		return 0;				/* the newest was scanned whole */
	ws_path(ws, first->segno, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return ws_errno(errno);
	err = ws_pread_full(fd, h, sizeof(h), WALSTORE_HEADER_SIZE);
	close(fd);
	if (err != 0)
	{
		slog(SLOG_ERROR, "walstore: \"%s\" has no record", path);
		return STRATA_ECORRUPT;
	}
	first->start = get_le64(h + 4);
	if (first->start < first->segno * ws->seg_size || first->start >= first->end)
	{
		slog(SLOG_ERROR, "walstore: \"%s\" starts outside its segment", path);
		return STRATA_ECORRUPT;
	}
	return 0;
}

int
walstore_open(const char *dir, uint64_t system_id, struct walstore **out)
{
	struct walstore *ws = calloc(1, sizeof(*ws));
	int			err;

	if (ws == NULL)
		return STRATA_ENOMEM;
	if (strlen(dir) >= sizeof(ws->dir))
	{
		free(ws);
		return STRATA_EINVAL;
	}
	snprintf(ws->dir, sizeof(ws->dir), "%s", dir);
	pthread_mutex_init(&ws->lock, NULL);
	ws->wfd = -1;
	if (fio_mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		err = ws_errno(errno);
		slog(SLOG_ERROR, "walstore: could not create \"%s\": %s", dir, strerror(errno));
		goto fail;
	}
	if ((err = ws_load_headers(ws, system_id)) != 0 ||
		(err = ws_recover_tail(ws)) != 0 ||
		(err = ws_first_start(ws)) != 0)
		goto fail;
	for (size_t i = 0; i < ws->nsegs; i++)
		ws->bytes += ws->segs[i].file_size;
	if (ws->nsegs > 0 && ws->system_id == 0)
		ws->system_id = system_id;
	ws->flush_lsn = ws->nsegs > 0 ? ws->segs[ws->nsegs - 1].end : LSN_INVALID;
	*out = ws;
	return 0;
fail:
	walstore_close(ws);
	return err;
}

void
walstore_close(struct walstore *ws)
{
	if (ws == NULL)
		return;
	if (ws->wfd >= 0)
		close(ws->wfd);
	pthread_mutex_destroy(&ws->lock);
	free(ws->segs);
	free(ws->rbuf);
	free(ws);
}

/* Start the file of segment segno (writer only, ws->lock not held). */
static int
ws_new_file(struct walstore *ws, uint64_t segno, lsn_t start)
{
	char		path[PATH_MAX];
	uint8_t		h[WALSTORE_HEADER_SIZE];
	struct ws_seg s = {0};
	int			fd;
	int			err;

	if (ws->wfd >= 0)
	{
		/* the finished file is synced now: only the newest stays unsynced */
		if (fio_fdatasync(ws->wfd) != 0)
		{
			err = ws_errno(errno);
			slog(SLOG_ERROR, "walstore: could not sync segment in \"%s\": %s", ws->dir, strerror(errno));
			return err;
		}
		close(ws->wfd);
		ws->wfd = -1;
	}
	ws_path(ws, segno, path, sizeof(path));
	if ((fd = fio_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
	{
		err = errno == EEXIST ? STRATA_ECORRUPT : ws_errno(errno);
		slog(SLOG_ERROR, "walstore: could not create \"%s\": %s", path, strerror(errno));
		return err;
	}
	ws->dir_dirty = 1;
	ws_encode_header(ws, segno, h);
	if (fio_pwrite(fd, h, sizeof(h), 0) != (ssize_t) sizeof(h))
	{
		err = ws_errno(errno);
		slog(SLOG_ERROR, "walstore: could not write \"%s\": %s", path, strerror(errno));
		close(fd);
		return err;
	}
	s.segno = segno;
	s.start = s.end = start;
	s.file_size = WALSTORE_HEADER_SIZE;
	pthread_mutex_lock(&ws->lock);
	err = ws_push_seg(ws, &s);
	ws->bytes += WALSTORE_HEADER_SIZE;
	pthread_mutex_unlock(&ws->lock);
	if (err != 0)
	{
		close(fd);
		return err;
	}
	ws->wfd = fd;
	ws->woff = WALSTORE_HEADER_SIZE;
	return 0;
}

static int
ws_write_record(struct walstore *ws, lsn_t lsn, const uint8_t *data, uint32_t n)
{
	size_t		total = (size_t) n + WALSTORE_RECORD_OVERHEAD;
	struct ws_seg *last;
	ssize_t		w;

	if (ws->rbuf_cap < total)
	{
		uint8_t    *p = realloc(ws->rbuf, total);

		if (p == NULL)
			return STRATA_ENOMEM;
		ws->rbuf = p;
		ws->rbuf_cap = total;
	}
	put_le32(ws->rbuf, n);
	put_le64(ws->rbuf + 4, lsn);
	memcpy(ws->rbuf + 12, data, n);
	put_le32(ws->rbuf + 12 + n, strata_crc32c(ws->rbuf, 12 + (size_t) n));
	/* tests: a disk that is full once, while the WAL streams in */
	if (fio_fault_once("STRATA_FAIL_WAL_WRITE_ONCE_FILE"))
	{
		errno = ENOSPC;
		w = -1;
	}
	else
		w = fio_pwrite(ws->wfd, ws->rbuf, total, (off_t) ws->woff);
	if (w != (ssize_t) total)
	{
		int			err = w < 0 ? ws_errno(errno) : STRATA_ENOSPC;

		slog(SLOG_ERROR, "walstore: could not write WAL to \"%s\": %s", ws->dir,
			 w < 0 ? strerror(errno) : "short write");
		return err;
	}
	ws->woff += total;
	pthread_mutex_lock(&ws->lock);
	last = &ws->segs[ws->nsegs - 1];
	last->end = lsn + n;
	last->file_size = ws->woff;
	ws->bytes += total;
	pthread_mutex_unlock(&ws->lock);
	return 0;
}

int
walstore_append(struct walstore *ws, uint64_t system_id, uint32_t tli, uint32_t seg_size,
				lsn_t lsn, const void *data, size_t len)
{
	const uint8_t *p = data;
	lsn_t		end;
	int			err;

	if (ws->failed)
		return STRATA_EIO;
	if (!ws_valid_seg_size(seg_size) || tli == 0 || lsn == LSN_INVALID || len == 0)
		return STRATA_EINVAL;
	pthread_mutex_lock(&ws->lock);
	end = ws->nsegs > 0 ? ws->segs[ws->nsegs - 1].end : LSN_INVALID;
	if (ws->nsegs > 0 || ws->tli != 0)
	{
		if (tli != ws->tli || seg_size != ws->seg_size ||
			(ws->system_id != 0 && system_id != ws->system_id))
		{
			pthread_mutex_unlock(&ws->lock);
			slog(SLOG_ERROR, "walstore: WAL for \"%s\" from another timeline, system or segment size", ws->dir);
			return STRATA_EINVAL;
		}
	}
	if (end != LSN_INVALID && lsn != end)
	{
		char		a[LSN_STRLEN + 1],
					b[LSN_STRLEN + 1];

		pthread_mutex_unlock(&ws->lock);
		slog(SLOG_ERROR, "walstore: WAL at %s does not continue \"%s\" at %s",
			 lsn_format(lsn, a), ws->dir, lsn_format(end, b));
		return STRATA_EINVAL;
	}
	if (ws->nsegs == 0)
	{
		ws->tli = tli;
		ws->seg_size = seg_size;
		ws->system_id = system_id;
	}
	pthread_mutex_unlock(&ws->lock);

	while (len > 0)
	{
		uint64_t	segno = lsn / seg_size;
		lsn_t		seg_end = (segno + 1) * seg_size;
		size_t		n = len;

		if (n > seg_end - lsn)
			n = (size_t) (seg_end - lsn);
		if (n > WS_RECORD_MAX)
			n = WS_RECORD_MAX;
		if (ws->wfd < 0 || ws->segs[ws->nsegs - 1].segno != segno)
		{
			if ((err = ws_new_file(ws, segno, lsn)) != 0)
				goto failed;
		}
		if ((err = ws_write_record(ws, lsn, p, (uint32_t) n)) != 0)
			goto failed;
		lsn += n;
		p += n;
		len -= n;
	}
	return 0;
failed:
	if (err != STRATA_ENOMEM && err != STRATA_ECORRUPT)
		ws->failed = 1;
	return err;
}

int
walstore_failed(struct walstore *ws)
{
	return ws->failed;
}

int
walstore_sync(struct walstore *ws)
{
	lsn_t		end;

	if (ws->failed)
		return STRATA_EIO;
	pthread_mutex_lock(&ws->lock);
	end = ws->nsegs > 0 ? ws->segs[ws->nsegs - 1].end : LSN_INVALID;
	pthread_mutex_unlock(&ws->lock);
	if (end == ws->flush_lsn && !ws->dir_dirty)
		return 0;
	if ((ws->wfd >= 0 && fio_fdatasync(ws->wfd) != 0) ||
		(ws->dir_dirty && fs_fsync_dir(ws->dir) != 0))
	{
		/* never retry a failed fsync: what it covered is suspect */
		slog(SLOG_ERROR, "walstore: could not sync \"%s\": %s", ws->dir, strerror(errno));
		ws->failed = 1;
		return STRATA_EIO;
	}
	ws->dir_dirty = 0;
	pthread_mutex_lock(&ws->lock);
	ws->flush_lsn = end;
	pthread_mutex_unlock(&ws->lock);
	return 0;
}

void
walstore_info(struct walstore *ws, struct walstore_info *out)
{
	pthread_mutex_lock(&ws->lock);
	out->system_id = ws->system_id;
	out->tli = ws->tli;
	out->seg_size = ws->seg_size;
	out->start_lsn = ws->nsegs > 0 ? ws->segs[0].start : LSN_INVALID;
	out->end_lsn = ws->nsegs > 0 ? ws->segs[ws->nsegs - 1].end : LSN_INVALID;
	out->flush_lsn = ws->flush_lsn;
	out->segments = ws->nsegs;
	out->bytes = ws->bytes;
	pthread_mutex_unlock(&ws->lock);
}

int
walstore_read_segment(struct walstore *ws, const char *segname, int allow_partial,
					  void *buf, int *complete)
{
	char		path[PATH_MAX];
	struct ws_seg seg = {0};
	uint32_t	tli;
	uint64_t	segno;
	lsn_t		seg_start,
				seg_end,
				limit,
				start,
				end;
	uint64_t	off;
	struct stat st;
	int			found = 0;
	int			torn;
	int			fd;
	int			err;

	pthread_mutex_lock(&ws->lock);
	if (ws->seg_size == 0 || walstore_parse_segname(segname, ws->seg_size, &tli, &segno) != 0)
	{
		pthread_mutex_unlock(&ws->lock);
		return ws->seg_size == 0 ? STRATA_ENOTFOUND : STRATA_EINVAL;
	}
	for (size_t i = 0; i < ws->nsegs; i++)
		if (ws->segs[i].segno == segno)
		{
			seg = ws->segs[i];
			found = 1;
			break;
		}
	limit = ws->flush_lsn;
	pthread_mutex_unlock(&ws->lock);
	seg_start = segno * (lsn_t) ws->seg_size;
	seg_end = seg_start + ws->seg_size;
	if (!found || tli != ws->tli || seg.start != seg_start || limit <= seg_start ||
		(limit < seg_end && !allow_partial))
		return STRATA_ENOTFOUND;
	if (limit > seg_end)
		limit = seg_end;

	ws_path(ws, segno, path, sizeof(path));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT ? STRATA_ENOTFOUND : ws_errno(errno);
	if (fstat(fd, &st) != 0)
	{
		err = ws_errno(errno);
		close(fd);
		return err;
	}
	memset(buf, 0, ws->seg_size);
	err = ws_scan(fd, path, (uint64_t) st.st_size, seg_start, seg_end, &start, &end, &off,
				  buf, limit, &torn);
	close(fd);
	if (err != 0)
		return err;
	if (start != seg_start || end < limit)
	{
		slog(SLOG_ERROR, "walstore: \"%s\" is damaged at offset %llu: it holds WAL up to %llX, not %llX",
			 path, (unsigned long long) off, (unsigned long long) end, (unsigned long long) limit);
		return STRATA_ECORRUPT;
	}
	/* a record may reach past the flushed end: zero what was not synced */
	if (limit < seg_end)
		memset((uint8_t *) buf + (limit - seg_start), 0, (size_t) (seg_end - limit));
	*complete = limit == seg_end;
	return 0;
}

int
walstore_remove_before(struct walstore *ws, lsn_t lsn)
{
	int			err = 0;

	/* the newest file is never removed: it is being written */
	for (;;)
	{
		char		path[PATH_MAX];
		struct ws_seg s;

		pthread_mutex_lock(&ws->lock);
		if (ws->nsegs < 2 || ws->segs[0].end > lsn)
		{
			pthread_mutex_unlock(&ws->lock);
			break;
		}
		s = ws->segs[0];
		memmove(ws->segs, ws->segs + 1, (ws->nsegs - 1) * sizeof(*ws->segs));
		ws->nsegs--;
		ws->bytes -= s.file_size;
		pthread_mutex_unlock(&ws->lock);
		ws_path(ws, s.segno, path, sizeof(path));
		if (fio_unlink(path) != 0 && errno != ENOENT)
		{
			err = ws_errno(errno);
			slog(SLOG_ERROR, "walstore: could not remove \"%s\": %s", path, strerror(errno));
			break;
		}
		ws->dir_dirty = 1;
	}
	return err;
}
