/*-------------------------------------------------------------------------
 *
 * timeline.c
 *	  A timeline's lifecycle (timeline.h): the default configuration,
 *	  allocation and refs, creating a directory or loading one (open the
 *	  listed layers, remove leftovers, replay the write logs, build the
 *	  relation directory), shutdown and removing the directory.  The rest
 *	  of the module lives in tl_snapshot.c, tl_read.c, tl_write.c and
 *	  tl_background.c.
 *
 *-------------------------------------------------------------------------
 */
#include "timeline.h"
#include "timeline_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "fio.h"
#include "fsutil.h"
#include "identity.h"
#include "manifest.h"
#include "reldir.h"
#include "slog.h"
#include "strata_err.h"

void
tl_conf_default(struct tl_conf *c)
{
	c->freeze_bytes = 256ull << 20;
	c->freeze_seconds = 600;
	c->compaction_threshold = 10;
	c->target_layer_bytes = 128ull << 20;
	c->image_threshold = 3;
	c->gc_horizon = 64ull << 20;
	c->pitr_seconds = 0;
	c->compaction_period_ms = 20000;
	c->gc_verify = 0;
	c->gc_compaction = 1;
	c->bufsize = 64 * 1024;
}

const char *
tl_state_name(enum tl_state s)
{
	switch (s)
	{
		case TL_LOADING:
			return "Loading";
		case TL_ACTIVE:
			return "Active";
		case TL_STOPPING:
			return "Stopping";
		case TL_STOPPED:
			return "Stopped";
		case TL_BROKEN:
			return "Broken";
	}
	return "?";
}


static struct timeline *
tl_alloc(const char *dir, const uint8_t tenant[16], const uint8_t id[16],
		 const struct tl_conf *conf, struct event_base *base)
{
	struct timeline *tl = calloc(1, sizeof(*tl));

	if (tl == NULL)
		return NULL;
	snprintf(tl->dir, sizeof(tl->dir), "%s", dir);
	memcpy(tl->tenant_id, tenant, 16);
	memcpy(tl->id, id, 16);
	identity_hex(id, tl->hex);
	tl->conf = *conf;
	lsntime_init(&tl->lsntime);
	atomic_init(&tl->state, TL_LOADING);
	atomic_init(&tl->refs, 1);
	pthread_mutex_init(&tl->lock, NULL);
	pthread_cond_init(&tl->cv, NULL);
	tl->base = base;
	tl->open_seq = 1;
	if ((tl->reldir = reldir_new()) == NULL)
		goto fail;
	if ((tl->snap = tl_snapshot_alloc(0, 0)) == NULL)
		goto fail;
	if (base)
	{
		tl->progress_ev = event_new(base, -1, 0, tl_on_progress, tl);
		tl->bg_ev = event_new(base, -1, 0, tl_on_bg_done, tl);
		if (tl->progress_ev == NULL || tl->bg_ev == NULL)
			goto fail;
	}
	return tl;
fail:
	if (tl->progress_ev)
		event_free(tl->progress_ev);
	if (tl->bg_ev)
		event_free(tl->bg_ev);
	tl_snapshot_put(tl->snap);
	reldir_free(tl->reldir);
	free(tl);
	return NULL;
}

static void
tl_free(struct timeline *tl)
{
	inmem_unref(tl->open);
	tl_snapshot_put(tl->snap);
	reldir_free(tl->reldir);
	if (tl->progress_ev)
		event_free(tl->progress_ev);
	if (tl->bg_ev)
		event_free(tl->bg_ev);
	if (tl->ancestor)
		tl_unref(tl->ancestor);
	free(tl->branches);
	pthread_mutex_destroy(&tl->lock);
	pthread_cond_destroy(&tl->cv);
	free(tl);
}

void
tl_ref(struct timeline *tl)
{
	atomic_fetch_add(&tl->refs, 1);
}

void
tl_unref(struct timeline *tl)
{
	if (atomic_fetch_sub(&tl->refs, 1) == 1)
		tl_free(tl);
}

void
tl_stop_begin(struct timeline *tl)
{
	enum tl_state st = atomic_load(&tl->state);
	struct event *progress;
	struct event *bg;

	if (st == TL_ACTIVE || st == TL_LOADING || st == TL_BROKEN)
		atomic_store(&tl->state, TL_STOPPING);
	tl_bg_stop_begin(tl);
	/* from here no thread wakes the loop for this timeline */
	pthread_mutex_lock(&tl->lock);
	progress = tl->progress_ev;
	bg = tl->bg_ev;
	tl->progress_ev = tl->bg_ev = NULL;
	pthread_mutex_unlock(&tl->lock);
	if (progress)
		event_free(progress);
	if (bg)
		event_free(bg);
}

void
tl_stop_finish(struct timeline *tl, int cancel)
{
	struct inmem *m = tl->open;

	if (m && m->bw)
	{
		int			err;

		/* drain what was acknowledged-to-be; cancel abandons the rest */
		if (!cancel)
		{
			bw_submit(m->bw);
			tl_wait_writer(tl, m->end);
		}
		err = bw_close(m->bw, cancel);
		m->bw = NULL;
		if (err == STRATA_ECANCELLED)
			slog(SLOG_INFO, "timeline %s: unwritten changes abandoned at shutdown", tl->hex);
	}
	tl_bg_stop_finish(tl);
	/* every log, and the names freezes put in place: a clean stop leaves them durable */
	if (m && tl_sync(tl) != 0)
		slog(SLOG_ERROR, "timeline %s: syncing the write logs at shutdown failed", tl->hex);
	atomic_store(&tl->state, TL_STOPPED);
	tl_unref(tl);
}

void
tl_shutdown(struct timeline *tl, int cancel)
{
	tl_stop_begin(tl);
	tl_stop_finish(tl, cancel);
}

int
tl_read_ancestry(const char *dir, int *has_ancestor, uint8_t ancestor[16], lsn_t *ancestor_lsn)
{
	struct manifest m;
	int			err = manifest_load(dir, &m);

	if (err != 0)
		return err;
	*has_ancestor = m.has_ancestor;
	memcpy(ancestor, m.ancestor, 16);
	*ancestor_lsn = m.ancestor_lsn;
	manifest_free(&m);
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Open the listed layers, remove unlisted files and temp files, replay the logs. */
static int
tl_open_dir(struct timeline *tl, const struct manifest *mf)
{
	DIR		   *d;
	struct dirent *de;
	char	  **logs = NULL;
	uint32_t	nlogs = 0;
	struct tl_snapshot *s;
	int			err = 0;

	s = tl_snapshot_alloc(0, mf->nlayers);
	if (s == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < mf->nlayers; i++)
	{
		struct tl_layer *l = tl_layer_open(tl, mf->layers[i].name);

		if (l == NULL)
		{
			slog(SLOG_ERROR, "timeline %s: layer file \"%s\" listed in the manifest cannot be "
				 "opened", tl->hex, mf->layers[i].name);
			tl_snapshot_put(s);
			return STRATA_ECORRUPT;
		}
		s->layers[s->nlayers++] = l;
	}
	tl_snapshot_sort(s);
	{
		struct tl_snapshot *empty = tl->snap;

		tl->snap = s;
		tl_snapshot_put(empty);
	}
	tl->disk_consistent_lsn = mf->disk_consistent_lsn;
	tl->gc_cutoff = mf->gc_cutoff;
	tl->lsntime = mf->lsntime;

	if ((d = opendir(tl->dir)) == NULL)
	{
		slog(SLOG_ERROR, "could not open timeline directory \"%s\": %m", tl->dir);
		return STRATA_EIO;
	}
	while ((de = readdir(d)) != NULL)
	{
		char		path[PATH_MAX];
		struct layer_desc ld;
		int			listed = 0;
		size_t		nl = strlen(de->d_name);

		if (de->d_name[0] == '.' || strcmp(de->d_name, "manifest") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tl->dir, de->d_name);
		if (strncmp(de->d_name, "log-", 4) == 0 && nl == 20)
		{
			char	  **nlg = realloc(logs, (nlogs + 1) * sizeof(*logs));

			if (nlg == NULL || (nlg[nlogs] = strdup(de->d_name)) == NULL)
			{
				free(nlg ? nlg : logs);
				logs = NULL;
				nlogs = 0;
				err = STRATA_ENOMEM;
				break;
			}
			logs = nlg;
			nlogs++;
			continue;
		}
		for (uint32_t i = 0; i < mf->nlayers && !listed; i++)
			listed = strcmp(mf->layers[i].name, de->d_name) == 0;
		if (listed)
			continue;
		/* a half-written or unreferenced file from before a crash */
		if (layer_parse_name(de->d_name, &ld) == 0 || (nl > 4 && strcmp(de->d_name + nl - 4, ".tmp") == 0))
		{
			slog(SLOG_INFO, "timeline %s: removing \"%s\", which the manifest does not list",
				 tl->hex, de->d_name);
			if (fio_unlink(path) != 0)
				slog(SLOG_WARNING, "could not remove \"%s\": %m", path);
		}
	}
	closedir(d);
	if (err != 0)
		return err;
	if (nlogs > 1)
		qsort(logs, nlogs, sizeof(*logs), cmp_name);
	/* replay: older logs become frozen layers, the newest stays open */
	for (uint32_t i = 0; i < nlogs; i++)
	{
		char		path[PATH_MAX];
		struct inmem *m;
		int			last = i + 1 == nlogs;

		snprintf(path, sizeof(path), "%s/%s", tl->dir, logs[i]);
		err = inmem_open_log(path, tl->tenant_id, tl->id, tl->disk_consistent_lsn, last,
							 tl->conf.bufsize, tl_writer_notify, tl, &m);
		if (err == STRATA_ENOTFOUND)
		{
			/* it held nothing and is gone; the newest: tl_finish_open starts anew */
			err = 0;
			continue;
		}
		if (err != 0)
			break;
		if (!last)
		{
			if (m->nversions == 0)
			{
				inmem_free(m, 1);
				continue;
			}
			if ((err = tl_modify_snapshot(tl, m, NULL, NULL, NULL, 0, NULL, 0)) != 0)
			{
				inmem_free(m, 0);
				break;
			}
		}
		else
			tl->open = m;
	}
	for (uint32_t i = 0; i < nlogs; i++)
		free(logs[i]);
	free(logs);
	return err;
}

static int
tl_finish_open(struct timeline *tl)
{
	struct tl_snapshot *s;
	lsn_t		last = 0;
	int			err;

	if (tl->open == NULL)
	{
		s = tl_snapshot_get(tl);
		last = tl->disk_consistent_lsn;
		for (uint32_t i = 0; i < s->nfrozen; i++)
			if (s->frozen[i]->lsn_end > last)
				last = s->frozen[i]->lsn_end;
		tl_snapshot_put(s);
		if (tl->ancestor && last < tl->ancestor_lsn + 1)
			last = tl->ancestor_lsn + 1;
		if (last == 0)
			last = 1;
		if ((err = inmem_create(tl->dir, tl->tenant_id, tl->id, last, tl->conf.bufsize,
								tl_writer_notify, tl, &tl->open)) != 0)
			return err;
	}
	/* the newest acknowledged LSN */
	last = tl->open->visible_max_lsn;
	s = tl_snapshot_get(tl);
	for (uint32_t i = 0; i < s->nfrozen; i++)
		if (s->frozen[i]->max_lsn > last)
			last = s->frozen[i]->max_lsn;
	tl_snapshot_put(s);
	if (last == 0 && tl->disk_consistent_lsn > 0)
		last = tl->disk_consistent_lsn - 1;
	if (last == 0 && tl->ancestor)
		last = tl->ancestor_lsn;
	atomic_store(&tl->last_record_lsn, last);
	if ((err = reldir_build(tl->reldir, tl, LSN_MAX, 1)) != 0)
	{
		slog(SLOG_ERROR, "timeline %s: could not build its relation directory: %s", tl->hex,
			 strata_strerror(err));
		return err;
	}
	if ((err = tl_bg_start(tl)) != 0)
		return err;
	atomic_store(&tl->state, TL_ACTIVE);
	return 0;
}

/* Move a timeline directory out of the way, then remove it (crash-safe). */
static void
discard_dir(const char *dir)
{
	char		gone[PATH_MAX + 16];

	snprintf(gone, sizeof(gone), "%s.deleted", dir);
	if (fio_rename(dir, gone) != 0)
	{
		slog(SLOG_WARNING, "could not rename \"%s\": %m; it stays", dir);
		return;
	}
	(void) fs_remove_tree(gone);
}

int
tl_create(const char *dir, const uint8_t tenant[16], const uint8_t id[16],
		  struct timeline *ancestor, lsn_t ancestor_lsn, uint32_t generation,
		  const struct tl_conf *conf, struct event_base *base, struct timeline **out)
{
	struct timeline *tl;
	char		tmp[PATH_MAX + 16];
	char		parent[PATH_MAX];
	char	   *slash;
	int			err;

	if (access(dir, F_OK) == 0)
		return STRATA_EEXIST;

	/*
	 * Made under "<dir>.creating" with its manifest, then renamed: a crash
	 * or a failed write at any step leaves no timeline or a loadable one
	 * (a leftover .creating is removed at the next start).
	 */
	snprintf(tmp, sizeof(tmp), "%s.creating", dir);
	snprintf(parent, sizeof(parent), "%s", dir);
	if ((slash = strrchr(parent, '/')) != NULL)
		*slash = '\0';
	(void) fs_remove_tree(tmp);
	if (fio_mkdir(tmp, 0700) != 0)
	{
		slog(SLOG_ERROR, "could not create timeline directory \"%s\": %m", tmp);
		return errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
	}
	if ((tl = tl_alloc(tmp, tenant, id, conf, base)) == NULL)
	{
		(void) fio_rmdir(tmp);
		return STRATA_ENOMEM;
	}
	tl->generation = generation;
	if (ancestor)
	{
		tl_ref(ancestor);
		tl->ancestor = ancestor;
		tl->ancestor_lsn = ancestor_lsn;
	}
	if ((err = tl_save_manifest(tl, NULL, 0, 0, 0)) != 0)
	{
		tl_free(tl);
		(void) fs_remove_tree(tmp);
		return err;
	}
	if (fio_rename(tmp, dir) != 0)
	{
		err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
		slog(SLOG_ERROR, "could not rename \"%s\" to \"%s\": %m", tmp, dir);
		tl_free(tl);
		(void) fs_remove_tree(tmp);
		return err;
	}
	snprintf(tl->dir, sizeof(tl->dir), "%s", dir);
	if ((err = fs_fsync_dir(parent)) != 0 || (err = tl_finish_open(tl)) != 0)
	{
		tl_free(tl);
		discard_dir(dir);
		return err;
	}
	if (ancestor)
		tl_add_branch(ancestor, ancestor_lsn);
	*out = tl;
	return 0;
}

int
tl_load(const char *dir, const uint8_t tenant[16], const uint8_t id[16],
		struct timeline *ancestor, uint32_t generation, const struct tl_conf *conf,
		struct event_base *base, struct timeline **out)
{
	struct manifest mf;
	struct timeline *tl;
	int			err;

	if ((err = manifest_load(dir, &mf)) != 0)
		return err;
	if (memcmp(mf.timeline, id, 16) != 0 || memcmp(mf.tenant, tenant, 16) != 0 ||
		mf.has_ancestor != (ancestor != NULL) ||
		(ancestor && memcmp(mf.ancestor, ancestor->id, 16) != 0))
	{
		slog(SLOG_ERROR, "timeline directory \"%s\": its manifest belongs to another timeline",
			 dir);
		manifest_free(&mf);
		return STRATA_ECORRUPT;
	}
	if ((tl = tl_alloc(dir, tenant, id, conf, base)) == NULL)
	{
		manifest_free(&mf);
		return STRATA_ENOMEM;
	}
	atomic_store(&tl->gc_hold, 1);	/* children load after us: tl_allow_gc() */
	tl->generation = generation > mf.generation ? generation : mf.generation;
	if (ancestor)
	{
		tl_ref(ancestor);
		tl->ancestor = ancestor;
		tl->ancestor_lsn = mf.ancestor_lsn;
	}
	err = tl_open_dir(tl, &mf);
	manifest_free(&mf);
	if (err == 0)
		err = tl_finish_open(tl);
	if (err == STRATA_ECORRUPT || err == STRATA_EVERSION)
	{
		/*
		 * Its history cannot be read: keep it, untouched, as Broken, so
		 * that every request gets a clear error instead of stratad not
		 * starting (or serving wrong data).
		 */
		slog(SLOG_ERROR, "timeline %s is broken: %s; its files are left as they are", tl->hex,
			 strata_strerror(err));
		atomic_store(&tl->state, TL_BROKEN);
		err = 0;
	}
	if (err != 0)
	{
		slog(SLOG_ERROR, "timeline %s: could not be loaded: %s", tl->hex, strata_strerror(err));
		tl_free(tl);
		return err;
	}
	if (ancestor)
		tl_add_branch(ancestor, tl->ancestor_lsn);
	*out = tl;
	return 0;
}

void
tl_allow_gc(struct timeline *tl)
{
	atomic_store(&tl->gc_hold, 0);
}

int
tl_remove_dir(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	int			err = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : STRATA_EIO;
	while ((de = readdir(d)) != NULL)
	{
		char		path[PATH_MAX];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (fio_unlink(path) != 0)
		{
			slog(SLOG_WARNING, "could not remove \"%s\": %m", path);
			err = STRATA_EIO;
		}
	}
	closedir(d);
	if (fio_rmdir(dir) != 0)
	{
		slog(SLOG_WARNING, "could not remove directory \"%s\": %m", dir);
		err = STRATA_EIO;
	}
	return err;
}
