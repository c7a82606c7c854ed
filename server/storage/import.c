/*-------------------------------------------------------------------------
 *
 * import.c
 *	  First-start import (see import.h).
 *
 * The only stratad module that includes PostgreSQL's frontend headers: it
 * reads pg_control with libpgcommon's get_controlfile().
 *
 *-------------------------------------------------------------------------
 */
#include "fio.h"
#include "postgres_fe.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "common/relpath.h"

#include "fsutil.h"
#include "import.h"
#include "key.h"
#include "lsn.h"
#include "proto.h"
#include "slog.h"
#include "tenant.h"
#include "timeline.h"
#include "strata_err.h"
#include "clock.h"

#define SEG_BLOCKS 131072		/* 1 GiB segments of 8 KiB blocks */
#define BATCH_PAGES (4 * 1024 * 1024 / PROTO_PAGE_SIZE)	/* acknowledged together */

struct relfile
{
	char		path[MAXPGPATH];
	struct proto_rel rel;
	uint32_t	segno;
	uint64_t	size;
};

struct filelist
{
	struct relfile *f;
	size_t		n;
	size_t		cap;
	uint64_t	bytes;
};

/* "<relfilenode>[_fsm|_vm|_init][.N]" -> fork and segment; 0 if it is one. */
static int
parse_name(const char *name, uint32_t *rel, uint8_t *fork, uint32_t *segno)
{
	char	   *end;
	unsigned long v;

	if (name[0] < '0' || name[0] > '9')
		return -1;
	v = strtoul(name, &end, 10);
	if (v == 0 || v > UINT32_MAX)
		return -1;
	*rel = (uint32_t) v;
	*fork = KEY_FORK_MAIN;
	*segno = 0;
	if (strncmp(end, "_fsm", 4) == 0)
		*fork = KEY_FORK_FSM, end += 4;
	else if (strncmp(end, "_vm", 3) == 0)
		*fork = KEY_FORK_VM, end += 3;
	else if (strncmp(end, "_init", 5) == 0)
		*fork = KEY_FORK_INIT, end += 5;
	if (*end == '.')
	{
		char	   *e2;

		v = strtoul(end + 1, &e2, 10);
		if (e2 == end + 1 || *e2 != '\0' || v == 0)
			return -1;
		*segno = (uint32_t) v;
		return 0;
	}
	return *end == '\0' ? 0 : -1;
}

static int
list_dir(struct filelist *l, const char *dir, uint32_t spc, uint32_t db)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return errno == ENOENT ? 0 : STRATA_EIO;
	while ((de = readdir(d)) != NULL)
	{
		struct relfile rf;
		struct stat st;

		memset(&rf, 0, sizeof(rf));
		if (parse_name(de->d_name, &rf.rel.rel, &rf.rel.fork, &rf.segno) != 0)
			continue;
		snprintf(rf.path, sizeof(rf.path), "%s/%s", dir, de->d_name);
		if (stat(rf.path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		rf.rel.spc = spc;
		rf.rel.db = db;
		rf.size = (uint64_t) st.st_size;
		if (l->n == l->cap)
		{
			size_t		cap = l->cap ? l->cap * 2 : 256;
			struct relfile *f = realloc(l->f, cap * sizeof(*f));

			if (f == NULL)
			{
				closedir(d);
				return STRATA_ENOMEM;
			}
			l->f = f;
			l->cap = cap;
		}
		l->f[l->n++] = rf;
		l->bytes += rf.size;
	}
	closedir(d);
	return 0;
}

/* Databases under dir (base/ or a tablespace's version directory). */
static int
list_dbs(struct filelist *l, const char *dir, uint32_t spc)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			err = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : STRATA_EIO;
	while (err == 0 && (de = readdir(d)) != NULL)
	{
		char		path[MAXPGPATH];
		char	   *end;
		unsigned long db = strtoul(de->d_name, &end, 10);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end != '\0')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		err = list_dir(l, path, spc, (uint32_t) db);
	}
	closedir(d);
	return err;
}

static int
list_all(struct filelist *l, const char *pgdata)
{
	char		path[MAXPGPATH];
	DIR		   *d;
	struct dirent *de;
	int			err;

	snprintf(path, sizeof(path), "%s/global", pgdata);
	err = list_dir(l, path, 1664, 0);
	if (err == 0)
	{
		snprintf(path, sizeof(path), "%s/base", pgdata);
		err = list_dbs(l, path, 1663);
	}
	snprintf(path, sizeof(path), "%s/pg_tblspc", pgdata);
	d = opendir(path);
	while (err == 0 && d != NULL && (de = readdir(d)) != NULL)
	{
		char		vdir[MAXPGPATH];
		char	   *end;
		unsigned long spc = strtoul(de->d_name, &end, 10);

		if (de->d_name[0] < '0' || de->d_name[0] > '9' || *end != '\0')
			continue;
		snprintf(vdir, sizeof(vdir), "%s/%s/%s", path, de->d_name, TABLESPACE_VERSION_DIRECTORY);
		err = list_dbs(l, vdir, (uint32_t) spc);
	}
	if (d)
		closedir(d);
	return err;
}

static int
cmp_relfile(const void *a, const void *b)
{
	const struct relfile *x = a;
	const struct relfile *y = b;

#define C(f) if (x->f != y->f) return x->f < y->f ? -1 : 1
	C(rel.spc);
	C(rel.db);
	C(rel.rel);
	C(rel.fork);
	C(segno);
#undef C
	return 0;
}

static void
progress(int bar, uint64_t done, uint64_t total, double t0, int final)
{
	static double last;
	double		t = clock_mono_s();
	double		mib = done / 1048576.0;
	double		rate = t > t0 ? mib / (t - t0) : 0;
	int			pct = total ? (int) (done * 100 / total) : 100;

	if (!final && t - last < (bar ? 0.2 : 5.0))
		return;
	last = t;
	if (bar)
	{
		char		b[41];
		int			n = pct * 40 / 100;

		memset(b, '#', n);
		memset(b + n, '.', 40 - n);
		b[40] = '\0';
		fprintf(stderr, "\rimport [%s] %3d%% %8.1f MiB %7.1f MiB/s", b, pct, mib, rate);
		if (final)
			fputc('\n', stderr);
	}
	else
		slog(SLOG_INFO, "import: %d%% (%.1f of %.1f MiB, %.1f MiB/s)",
			 pct, mib, total / 1048576.0, rate);
}

void
import_loader_init(struct import_loader *ld, struct timeline *tl, uint32_t batch_pages,
				   const char *what)
{
	ld->tl = tl;
	ld->batch_pages = batch_pages;
	ld->pending = 0;
	ld->what = what;
}

int
import_flush(struct import_loader *ld)
{
	int			err = tl_wait(ld->tl);

	ld->pending = 0;
	if (err != 0)
		slog(SLOG_ERROR, "import: could not store %s: %s", ld->what, strata_strerror(err));
	return err;
}

/* tl_prepare, waiting for the writer while its buffers are full (offline). */
static int
prepare(struct import_loader *ld, const struct proto_req *req, lsn_t *stored, uint64_t *ticket)
{
	int			err;

	while ((err = tl_prepare(ld->tl, req, stored, ticket)) == STRATA_EBUSY)
		if ((err = tl_wait(ld->tl)) != 0)
			break;
	return err;
}

int
import_create(struct import_loader *ld, const struct proto_rel *rel, lsn_t lsn, uint8_t flags)
{
	struct proto_req req = {.tag = PROTO_CREATE, .rel = *rel, .request_lsn = lsn, .flags = flags};
	lsn_t		stored;
	uint64_t	ticket;
	int			err;

	if ((err = prepare(ld, &req, &stored, &ticket)) != 0)
	{
		slog(SLOG_ERROR, "import: could not create the relation of %s: %s", ld->what,
			 strata_strerror(err));
		return err;
	}
	return import_flush(ld);
}

int
import_page(struct import_loader *ld, const struct proto_rel *rel, uint32_t blk, lsn_t lsn,
			const uint8_t *page)
{
	struct proto_req req = {.tag = PROTO_EXTEND, .rel = *rel, .request_lsn = lsn,
	.blk = blk, .page = page};
	lsn_t		stored;
	uint64_t	ticket;
	int			err;

	if ((err = prepare(ld, &req, &stored, &ticket)) != 0)
	{
		slog(SLOG_ERROR, "import: could not store block %u of \"%s\": %s",
			 blk, ld->what, strata_strerror(err));
		return err;
	}
	if (++ld->pending >= ld->batch_pages)
		return import_flush(ld);
	return 0;
}

/* One fork: CREATE, then every block of its segments (consecutive in l). */
static int
import_fork(struct import_loader *ld, const struct filelist *l, size_t first, size_t last,
			lsn_t redo, uint64_t *pages, uint64_t *done, int bar, double t0)
{
	const struct proto_rel *rel = &l->f[first].rel;
	uint8_t		page[PROTO_PAGE_SIZE];
	int			err;

	ld->what = l->f[first].path;
	if ((err = import_create(ld, rel, redo, PROTO_CREATE_TOLERATE_EXISTS)) != 0)
		return err;

	for (size_t i = first; i <= last; i++)
	{
		const struct relfile *rf = &l->f[i];
		int			fd;

		if (rf->size % PROTO_PAGE_SIZE != 0)
		{
			slog(SLOG_ERROR, "import: \"%s\" has a partial block at offset %llu",
				 rf->path, (unsigned long long) (rf->size - rf->size % PROTO_PAGE_SIZE));
			return STRATA_ECORRUPT;
		}
		fd = fio_open(rf->path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
		{
			slog(SLOG_ERROR, "import: could not open \"%s\": %s", rf->path, strerror(errno));
			return STRATA_EIO;
		}
		ld->what = rf->path;
		for (uint64_t b = 0; b < rf->size / PROTO_PAGE_SIZE; b++)
		{
			if (pread(fd, page, sizeof(page), b * PROTO_PAGE_SIZE) != (ssize_t) sizeof(page))
			{
				slog(SLOG_ERROR, "import: could not read \"%s\" at offset %llu: %s",
					 rf->path, (unsigned long long) (b * PROTO_PAGE_SIZE), strerror(errno));
				close(fd);
				return STRATA_EIO;
			}
			err = import_page(ld, rel, (uint32_t) (rf->segno * (uint64_t) SEG_BLOCKS + b),
							  redo, page);
			if (err != 0)
			{
				close(fd);
				return err;
			}
			(*pages)++;
			*done += PROTO_PAGE_SIZE;
			progress(bar, *done, l->bytes, t0, 0);
		}
		close(fd);
	}
	return 0;
}

static int
truncate_files(const struct filelist *l)
{
	for (size_t i = 0; i < l->n; i++)
	{
		const struct relfile *rf = &l->f[i];

		if (rf->segno > 0)
		{
			if (fio_unlink(rf->path) != 0 && errno != ENOENT)
				goto fail;
		}
		else if (rf->size > 0)
		{
			int			fd = fio_open(rf->path, O_WRONLY | O_CLOEXEC);

			if (fd < 0 || fio_ftruncate(fd, 0) != 0 || fio_fsync(fd) != 0)
			{
				if (fd >= 0)
					close(fd);
				goto fail;
			}
			close(fd);
		}
	}
	return 0;
fail:
	slog(SLOG_ERROR, "import: could not make a stub of the imported file: %s", strerror(errno));
	return STRATA_EIO;
}

static int
sync_dirs(const struct filelist *l)
{
	char		last[MAXPGPATH] = "";

	for (size_t i = 0; i < l->n; i++)
	{
		char		dir[MAXPGPATH];
		char	   *slash;

		strlcpy(dir, l->f[i].path, sizeof(dir));
		slash = strrchr(dir, '/');
		if (slash == NULL)
			continue;
		*slash = '\0';
		if (strcmp(dir, last) == 0)
			continue;
		strlcpy(last, dir, sizeof(last));
		if (fs_fsync_dir(dir) != 0)
			return STRATA_EIO;
	}
	return 0;
}

int
import_run(struct registry *reg, struct identity *id, const char *datadir,
		   const char *pgdata, int bar, uint64_t *pages)
{
	struct timeline *tl = registry_timeline(reg, id->tenant, id->timeline);
	struct tenant *tenant = registry_tenant(reg, id->tenant);
	struct filelist l = {0};
	struct import_loader ld;
	ControlFileData *cf;
	bool		crc_ok;
	lsn_t		redo;
	uint64_t	done = 0;
	double		t0 = clock_mono_s();
	char		lsnbuf[LSN_STRLEN];
	int			err;

	*pages = 0;
	if (tl == NULL || tenant == NULL)
	{
		slog(SLOG_ERROR, "import: the default timeline does not exist");
		return STRATA_ENOTFOUND;
	}
	if (id->import == IMPORT_COMPLETE)
		return 0;
	err = list_all(&l, pgdata);
	if (err != 0)
	{
		slog(SLOG_ERROR, "import: could not list relation files in \"%s\": %s",
			 pgdata, strata_strerror(err));
		goto done;
	}
	qsort(l.f, l.n, sizeof(*l.f), cmp_relfile);

	if (id->import == IMPORT_IMPORTED)
		goto truncate;

	if (id->import == IMPORT_NONE && tl_nforks(tl) > 0)
	{
		slog(SLOG_WARNING, "import: the timeline already holds relations; not importing \"%s\"",
			 pgdata);
		id->import = IMPORT_COMPLETE;
		err = identity_save(datadir, id);
		goto done;
	}
	if (id->import == IMPORT_RUNNING)
	{
		slog(SLOG_INFO, "import: an earlier import was interrupted; starting over");
		/* a fresh timeline: nothing of the interrupted attempt stays */
		if ((err = registry_delete_timeline(reg, tenant, id->timeline)) != 0 ||
			(err = registry_create_timeline(reg, tenant, id->timeline, NULL, LSN_INVALID, &tl)) != 0)
			goto done;
	}

	cf = get_controlfile(pgdata, &crc_ok);
	if (!crc_ok)
	{
		slog(SLOG_ERROR, "import: \"%s/global/pg_control\" has a bad CRC", pgdata);
		pg_free(cf);
		err = STRATA_ECORRUPT;
		goto done;
	}
	/*
	 * Any state will do: nothing writes these files while we import (the
	 * compute's I/O waits for us), and after an unclean shutdown the
	 * compute's WAL replay repairs torn pages, as it would on md.
	 */
	redo = cf->checkPointCopy.redo;
	if (id->sysid != 0 && id->sysid != cf->system_identifier)
	{
		slog(SLOG_ERROR, "import: \"%s\" is database system %llu, this timeline belongs to %llu",
			 pgdata, (unsigned long long) cf->system_identifier, (unsigned long long) id->sysid);
		pg_free(cf);
		err = STRATA_EINVAL;
		goto done;
	}
	id->sysid = cf->system_identifier;
	pg_free(cf);

	id->import = IMPORT_RUNNING;
	if ((err = identity_save(datadir, id)) != 0)
		goto done;
	import_loader_init(&ld, tl, BATCH_PAGES, pgdata);
	slog(SLOG_INFO, "import: importing %zu relation files (%.1f MiB) from \"%s\" at LSN %s",
		 l.n, l.bytes / 1048576.0, pgdata, lsn_format(redo, lsnbuf));

	for (size_t first = 0; first < l.n;)
	{
		size_t		last = first;

		while (last + 1 < l.n && l.f[last + 1].rel.spc == l.f[first].rel.spc &&
			   l.f[last + 1].rel.db == l.f[first].rel.db &&
			   l.f[last + 1].rel.rel == l.f[first].rel.rel &&
			   l.f[last + 1].rel.fork == l.f[first].rel.fork)
			last++;
		if (first >= l.n / 2 && first > 0)
			fio_kill_point("import-mid");
		err = import_fork(&ld, &l, first, last, redo, pages, &done, bar, t0);
		if (err != 0)
			goto done;
		progress(bar, done, l.bytes, t0, 0);
		first = last + 1;
	}
	/* into layer files, durably (the logs too, in case of a crash before that) */
	ld.what = "the last batch";
	if ((err = import_flush(&ld)) != 0 || (err = tl_sync(tl)) != 0 ||
		(err = tl_checkpoint(tl)) != 0)
		goto done;
	progress(bar, l.bytes, l.bytes, t0, 1);
	id->import = IMPORT_IMPORTED;
	if ((err = identity_save(datadir, id)) != 0)
		goto done;
	slog(SLOG_INFO, "import: %llu pages imported and synced in %.1f s",
		 (unsigned long long) *pages, clock_mono_s() - t0);

truncate:
	if ((err = truncate_files(&l)) != 0 || (err = sync_dirs(&l)) != 0)
		goto done;
	id->import = IMPORT_COMPLETE;
	err = identity_save(datadir, id);
	if (err == 0)
		slog(SLOG_INFO, "import: complete; local relation files are now empty stubs");
done:
	free(l.f);
	return err;
}
