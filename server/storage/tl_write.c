/*-------------------------------------------------------------------------
 *
 * tl_write.c
 *	  A timeline's write path (timeline.h), loop thread: validate a change
 *	  against the relation directory, give it its LSN (I7), append its
 *	  records to the open layer's write log and hand out a ticket; when the
 *	  writer reports progress, make the written records readable or, after
 *	  a failed write, cut the log back and fail the unwritten tickets.
 *	  Also tl_sync(), the fdatasync of the logs holding acknowledged data.
 *
 *-------------------------------------------------------------------------
 */
#include "timeline_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "fio.h"
#include "fsutil.h"
#include "reldir.h"
#include "slog.h"
#include "strata_err.h"
#include "value.h"

/* A ticket is the open layer's sequence number << 40 | its end offset. */
#define TICKET_OFF_BITS 40
#define TICKET_OFF_MASK ((UINT64_C(1) << TICKET_OFF_BITS) - 1)


static void
on_published(const struct inmem_key *k, const struct inmem_version *v, void *arg)
{
	struct timeline *tl = arg;
	struct proto_rel r;

	if (!reldir_is_size_key(k->key))
		return;
	reldir_key_to_rel(k->key, &r, NULL);
	if (reldir_set(tl->reldir, &r, v->size == UINT32_MAX ? VAL_NOT_EXISTS : v->size) != 0)
		slog(SLOG_ERROR, "timeline %s: out of memory for the relation directory", tl->hex);
}

void
tl_publish_written(struct timeline *tl)
{
	struct inmem *m = tl->open;
	uint64_t	written;
	int			attempts;
	int			err;

	if (m == NULL || m->bw == NULL)
		return;
	written = bw_written(m->bw);
	inmem_publish(m, written, on_published, tl);
	if (m->visible_max_lsn > atomic_load(&tl->last_record_lsn))
		atomic_store(&tl->last_record_lsn, m->visible_max_lsn);
	if ((err = bw_failed(m->bw, &attempts)) != 0 && written < m->end)
	{
		/* fail what is not written; a new writer continues at the cut */
		slog(SLOG_ERROR, "timeline %s: write log \"%s\" failed at offset %llu: %s; "
			 "failing the unwritten changes", tl->hex, m->path,
			 (unsigned long long) written, strata_strerror(err));
		/* back to the last whole change: the rest goes, all of it (I7) */
		tl->cut_seq = tl->open_seq;
		tl->cut_off = m->visible;
		tl->cut_err = err;
		tl->open_seq++;
		if (inmem_cut(m, m->visible) != 0)
		{
			atomic_store(&tl->state, TL_BROKEN);
			slog(SLOG_ERROR, "timeline %s: the write log cannot be cut back; timeline broken",
				 tl->hex);
		}
	}
}

void
tl_on_progress(evutil_socket_t fd, short what, void *arg)
{
	struct timeline *tl = arg;

	(void) fd;
	(void) what;
	tl_publish_written(tl);
	if (tl->progress_cb)
		tl->progress_cb(tl, tl->progress_arg);
	tl_bg_progress(tl);
}

/* bufwriter notify: on the writer's flush thread */
void
tl_writer_notify(void *arg)
{
	struct timeline *tl = arg;

	pthread_mutex_lock(&tl->lock);
	pthread_cond_broadcast(&tl->cv);
	/* under the lock: tl_stop_begin frees the event */
	if (tl->progress_ev)
		event_active(tl->progress_ev, EV_READ, 0);
	pthread_mutex_unlock(&tl->lock);
}

void
tl_set_progress_cb(struct timeline *tl, tl_progress_fn cb, void *arg)
{
	tl->progress_cb = cb;
	tl->progress_arg = arg;
}

int
tl_ticket_status(struct timeline *tl, uint64_t ticket)
{
	uint64_t	seq = ticket >> TICKET_OFF_BITS;
	uint64_t	off = ticket & TICKET_OFF_MASK;

	if (ticket == 0)
		return 1;
	if (seq == tl->cut_seq && off > tl->cut_off && tl->cut_err)
		return tl->cut_err;
	if (seq < tl->open_seq)
		return 1;				/* a frozen layer, or before the last cut */
	return tl->open && off <= tl->open->visible ? 1 : 0;
}

uint32_t
tl_last_reset_count(const struct timeline *tl)
{
	return tl->last_reset_count;
}

/* Wait (on the caller's thread) until the writer made progress or failed. */
void
tl_wait_writer(struct timeline *tl, uint64_t target)
{
	pthread_mutex_lock(&tl->lock);
	while (tl->open && tl->open->bw && bw_written(tl->open->bw) < target &&
		   bw_failed(tl->open->bw, NULL) == 0)
		pthread_cond_wait(&tl->cv, &tl->lock);
	pthread_mutex_unlock(&tl->lock);
}

/* The newest LSN of key in the open layer, pending versions included. */
static lsn_t
open_last_lsn(struct timeline *tl, const uint8_t key[KEY_SIZE])
{
	struct inmem_key *k = inmem_find(tl->open, key);

	return k && k->n ? k->v[k->n - 1].lsn : 0;
}

/* Current size of a fork including pending changes; VAL_NOT_EXISTS if none. */
static uint64_t
current_size(struct timeline *tl, const struct proto_rel *r)
{
	uint8_t		key[KEY_SIZE];
	struct inmem_key *k;
	struct reldir_ent *e;

	reldir_key(r, KEY_BLK_SIZE, key);
	k = inmem_find(tl->open, key);
	if (k && k->n)
		return k->v[k->n - 1].size == UINT32_MAX ? VAL_NOT_EXISTS : k->v[k->n - 1].size;
	e = reldir_find(tl->reldir, r);
	return e ? e->nblocks : VAL_NOT_EXISTS;
}

struct change
{
	uint32_t	n;
	uint32_t	cap;
	uint8_t   (*keys)[KEY_SIZE];
	uint8_t   **vals;			/* owned */
	uint32_t   *lens;
};

static int
change_add(struct change *c, const uint8_t key[KEY_SIZE], const uint8_t *val, uint32_t len)
{
	if (c->n == c->cap)
	{
		uint32_t	cap = c->cap ? c->cap * 2 : 8;
		void	   *k = realloc(c->keys, cap * sizeof(*c->keys));
		void	   *v = k ? realloc(c->vals, cap * sizeof(*c->vals)) : NULL;
		void	   *l = v ? realloc(c->lens, cap * sizeof(*c->lens)) : NULL;

		if (k)
			c->keys = k;
		if (v)
			c->vals = v;
		if (l == NULL)
			return STRATA_ENOMEM;
		c->lens = l;
		c->cap = cap;
	}
	if ((c->vals[c->n] = malloc(len)) == NULL)
		return STRATA_ENOMEM;
	memcpy(c->keys[c->n], key, KEY_SIZE);
	memcpy(c->vals[c->n], val, len);
	c->lens[c->n] = len;
	c->n++;
	return 0;
}

static void
change_free(struct change *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->vals[i]);
	free(c->keys);
	free(c->vals);
	free(c->lens);
}

static int
add_size(struct change *c, const struct proto_rel *r, uint64_t nblocks)
{
	uint8_t		key[KEY_SIZE];
	uint8_t		val[VAL_HDR + 4];

	reldir_key(r, KEY_BLK_SIZE, key);
	return change_add(c, key, val, value_put_size(val, nblocks));
}

static int
add_page(struct change *c, const struct proto_rel *r, uint32_t blk, const uint8_t *page)
{
	uint8_t		key[KEY_SIZE];
	uint8_t		val[VAL_MAX];

	reldir_key(r, blk, key);
	val[1] = 1;
	if (page == NULL)
	{
		val[0] = VAL_ZERO;
		return change_add(c, key, val, VAL_HDR);
	}
	val[0] = VAL_IMAGE;
	memcpy(val + VAL_HDR, page, PROTO_PAGE_SIZE);
	return change_add(c, key, val, VAL_MAX);
}

/* Forks matching a filter, acknowledged ones (the directory). */
static int
collect_forks(struct timeline *tl, const struct proto_rel *r, int by_db_only,
			  struct proto_rel **out, uint32_t *n)
{
	struct proto_rel *a = NULL;
	uint32_t	cnt = 0;
	uint32_t	cap = 0;

	for (uint32_t i = 0; i < tl->reldir->nbuckets; i++)
		for (struct reldir_ent *e = tl->reldir->b[i]; e; e = e->next)
		{
			if (by_db_only ? e->rel.db != r->db :
				(e->rel.spc != r->spc || e->rel.db != r->db || e->rel.rel != r->rel))
				continue;
			if (cnt == cap)
			{
				struct proto_rel *na;

				cap = cap ? cap * 2 : 8;
				if ((na = realloc(a, cap * sizeof(*a))) == NULL)
				{
					free(a);
					return STRATA_ENOMEM;
				}
				a = na;
			}
			a[cnt++] = e->rel;
		}
	*out = a;
	*n = cnt;
	return 0;
}

static int
build_reset_unlogged(struct timeline *tl, struct change *c, uint32_t *count)
{
	struct proto_rel *all = NULL;
	uint32_t	n = 0;
	int			err = 0;

	/* every fork; pick relations that have an init fork */
	for (uint32_t i = 0; i < tl->reldir->nbuckets && err == 0; i++)
		for (struct reldir_ent *e = tl->reldir->b[i]; e && err == 0; e = e->next)
		{
			struct proto_rel *forks;
			uint32_t	nf;
			struct proto_rel main_rel = e->rel;
			uint64_t	init_n = e->nblocks;

			if (e->rel.fork != KEY_FORK_INIT)
				continue;
			if ((err = collect_forks(tl, &e->rel, 0, &forks, &nf)) != 0)
				break;
			for (uint32_t f = 0; f < nf && err == 0; f++)
				if (forks[f].fork != KEY_FORK_INIT && forks[f].fork != KEY_FORK_MAIN)
					err = add_size(c, &forks[f], VAL_NOT_EXISTS);
			free(forks);
			main_rel.fork = KEY_FORK_MAIN;
			for (uint32_t b = 0; b < init_n && err == 0; b++)
			{
				uint8_t		page[PROTO_PAGE_SIZE];

				if ((err = tl_getpage(tl, &e->rel, b, LSN_MAX, page)) == 0)
					err = add_page(c, &main_rel, b, page);
			}
			if (err == 0)
				err = add_size(c, &main_rel, init_n);
			n++;
		}
	free(all);
	*count = n;
	return err;
}

int
tl_prepare(struct timeline *tl, const struct proto_req *req, lsn_t *stored_lsn, uint64_t *ticket)
{
	struct change c;
	uint64_t	size;
	lsn_t		lsn;
	uint64_t	end = 0;
	uint64_t	need;
	uint64_t	start;
	lsn_t		prev_max;
	uint32_t	reset_count = 0;
	int			err = 0;

	if (atomic_load(&tl->state) != TL_ACTIVE)
		return atomic_load(&tl->state) == TL_BROKEN ? STRATA_ECORRUPT : STRATA_ESHUTDOWN;
	if (tl->open == NULL || tl->open->bw == NULL)
		return STRATA_EIO;
	if ((err = bw_failed(tl->open->bw, NULL)) != 0)
		return err;
	memset(&c, 0, sizeof(c));
	*ticket = 0;
	switch (req->tag)
	{
		case PROTO_CREATE:
			if ((size = current_size(tl, &req->rel)) != VAL_NOT_EXISTS)
			{
				if (!(req->flags & 1))
					return STRATA_EEXIST;
				*stored_lsn = atomic_load(&tl->last_record_lsn);
				return 0;
			}
			err = add_size(&c, &req->rel, 0);
			break;
		case PROTO_WRITE:
		case PROTO_EXTEND:
			if ((size = current_size(tl, &req->rel)) == VAL_NOT_EXISTS)
				return STRATA_ENOTFOUND;
			if (req->blk == KEY_BLK_SIZE)
				return STRATA_EINVAL;
			if (req->tag == PROTO_WRITE && req->blk >= size)
				return STRATA_EEOF;
			/* holes read as zeros, never as versions from before a truncate */
			for (uint64_t b = size; b < req->blk && err == 0; b++)
				err = add_page(&c, &req->rel, (uint32_t) b, NULL);
			if (err == 0)
				err = add_page(&c, &req->rel, req->blk, req->page);
			if (err == 0 && req->blk >= size)
				err = add_size(&c, &req->rel, (uint64_t) req->blk + 1);
			break;
		case PROTO_TRUNCATE:
			if ((size = current_size(tl, &req->rel)) == VAL_NOT_EXISTS)
				return STRATA_ENOTFOUND;
			if (req->nblocks > size)
				return STRATA_EEOF;
			err = add_size(&c, &req->rel, req->nblocks);
			break;
		case PROTO_UNLINK:
			if (req->rel.fork == KEY_FORK_ALL)
			{
				struct proto_rel *forks;
				uint32_t	nf;

				if ((err = collect_forks(tl, &req->rel, 0, &forks, &nf)) != 0)
					break;
				for (uint32_t i = 0; i < nf && err == 0; i++)
					err = add_size(&c, &forks[i], VAL_NOT_EXISTS);
				free(forks);
			}
			else if (current_size(tl, &req->rel) != VAL_NOT_EXISTS)
				err = add_size(&c, &req->rel, VAL_NOT_EXISTS);
			break;
		case PROTO_DROPDB:
			{
				struct proto_rel *forks;
				struct proto_rel r;
				uint32_t	nf;

				memset(&r, 0, sizeof(r));
				r.db = req->db;
				if ((err = collect_forks(tl, &r, 1, &forks, &nf)) != 0)
					break;
				for (uint32_t i = 0; i < nf && err == 0; i++)
					err = add_size(&c, &forks[i], VAL_NOT_EXISTS);
				free(forks);
				break;
			}
		case PROTO_RESET_UNLOGGED:
			err = build_reset_unlogged(tl, &c, &reset_count);
			break;
		default:
			return STRATA_EINVAL;
	}
	if (err != 0)
		goto out;
	/* I7: one LSN for the whole change, above every touched key's last one */
	lsn = req->request_lsn;
	if (lsn < tl->open->lsn_start)
		lsn = tl->open->lsn_start;
	if (lsn <= atomic_load(&tl->last_record_lsn) && req->tag == PROTO_RESET_UNLOGGED)
		lsn = atomic_load(&tl->last_record_lsn) + 1;
	for (uint32_t i = 0; i < c.n; i++)
	{
		lsn_t		prev = open_last_lsn(tl, c.keys[i]);

		if (prev >= lsn)
			lsn = prev + 1;
	}
	/*
	 * A change goes into the writer's ring whole or not at all: with no
	 * room the request waits (STRATA_EBUSY and a ticket for the end of
	 * what is in the ring, which frees it) instead of the loop waiting
	 * for the writer.
	 */
	need = 0;
	for (uint32_t i = 0; i < c.n; i++)
		need += INMEM_REC_OVERHEAD + c.lens[i];
	/* larger than the ring (a DROP DATABASE of many relations): grown once idle */
	if (need > bw_capacity(tl->open->bw) && bw_grow(tl->open->bw, (size_t) need) == STRATA_ENOMEM)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	if (need > bw_room(tl->open->bw))
	{
		*ticket = (tl->open_seq << TICKET_OFF_BITS) | tl->open->end;
		err = STRATA_EBUSY;
		goto out;
	}
	start = tl->open->end;
	prev_max = tl->open->max_lsn;
	for (uint32_t i = 0; i < c.n && err == 0; i++)
		err = inmem_append(tl->open, c.keys[i], lsn, c.vals[i], c.lens[i], i + 1 < c.n, &end);
	if (err != 0)
	{
		/* out of memory half way: nothing of the change reached the writer */
		slog(SLOG_ERROR, "timeline %s: could not append a change: %s", tl->hex, strata_strerror(err));
		if (tl->open->end > start && inmem_unappend(tl->open, start, prev_max) != 0)
		{
			atomic_store(&tl->state, TL_BROKEN);
			slog(SLOG_ERROR, "timeline %s: a half-appended change cannot be taken back; "
				 "timeline broken", tl->hex);
		}
		goto out;
	}
	if (req->tag == PROTO_RESET_UNLOGGED)
		tl->last_reset_count = reset_count;
	if (c.n == 0)
		lsn = atomic_load(&tl->last_record_lsn);
	else
	{
		*ticket = (tl->open_seq << TICKET_OFF_BITS) | end;
		if (tl->open_since == 0)
			tl->open_since = (uint64_t) time(NULL);
	}
	*stored_lsn = lsn;
out:
	change_free(&c);
	return err;
}

void
tl_submit(struct timeline *tl)
{
	if (tl->open && tl->open->bw)
		bw_submit(tl->open->bw);
}

int
tl_wait(struct timeline *tl)
{
	int			err;

	if (tl->open == NULL || tl->open->bw == NULL)
		return STRATA_EIO;
	bw_submit(tl->open->bw);
	tl_wait_writer(tl, tl->open->end);
	err = bw_failed(tl->open->bw, NULL);
	tl_publish_written(tl);
	tl_maybe_freeze(tl, 0);
	return err;
}

int
tl_sync(struct timeline *tl)
{
	struct inmem **logs;
	uint32_t	n = 0;
	uint32_t	cap;
	int			err;

	/* never retry a failed fsync: the kernel may have dropped the pages */
	if ((err = atomic_load(&tl->sync_err)) != 0)
		return err;

	/*
	 * Reference every log holding acknowledged data under the lock (a
	 * freeze moves a log from open to frozen in one critical section, so
	 * none is missed), then sync them without it.  A reference keeps the
	 * log's descriptor open even if the loop drops the layer meanwhile.
	 */
	pthread_mutex_lock(&tl->lock);
	cap = 1 + (tl->snap ? tl->snap->nfrozen : 0);
	logs = malloc(cap * sizeof(*logs));
	if (logs != NULL)
	{
		if (tl->open)
			logs[n++] = tl->open;
		for (uint32_t i = 0; tl->snap && i < tl->snap->nfrozen; i++)
			logs[n++] = tl->snap->frozen[i];
		for (uint32_t i = 0; i < n; i++)
			inmem_ref(logs[i]);
	}
	pthread_mutex_unlock(&tl->lock);
	if (logs == NULL)
	{
		slog(SLOG_ERROR, "timeline %s: out of memory syncing its write logs", tl->hex);
		return STRATA_ENOMEM;
	}
	if (n > 0 && fio_fault_once("STRATA_FAIL_FSYNC_ONCE_FILE"))
	{
		slog(SLOG_ERROR, "timeline %s: fdatasync of a write log failed: injected EIO", tl->hex);
		err = STRATA_EIO;
	}
	for (uint32_t i = 0; i < n && err == 0; i++)
		if (inmem_sync(logs[i]) != 0)
		{
			slog(SLOG_ERROR, "timeline %s: sync of write log \"%s\" failed", tl->hex,
				 logs[i]->path);
			err = STRATA_EIO;
		}
	for (uint32_t i = 0; i < n; i++)
		inmem_unref(logs[i]);
	free(logs);
	if (err == STRATA_EIO)
		atomic_store(&tl->sync_err, err);
	return err;
}
