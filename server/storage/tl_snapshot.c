/*-------------------------------------------------------------------------
 *
 * tl_snapshot.c
 *	  Timeline snapshots and what hangs off them (timeline.h): layer refs,
 *	  the refcounted snapshot readers pin and the background thread swaps
 *	  (RCU, I16), the LSNs published with it, retention and the GC cutoff
 *	  it asks for, the manifest, and the children's branch points that GC
 *	  keeps.  Everything here takes tl->lock for at most a few copies and
 *	  never does I/O under it.
 *
 *-------------------------------------------------------------------------
 */
#include "timeline_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fio.h"
#include "manifest.h"
#include "slog.h"
#include "strata_err.h"

void
tl_layer_unref(struct tl_layer *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	layer_close(l->f);
	if (atomic_load(&l->remove))
	{
		if (fio_unlink(l->path) != 0 && errno != ENOENT)
			slog(SLOG_WARNING, "could not remove layer file \"%s\": %m", l->path);
		else
			slog(SLOG_DEBUG, "removed layer file \"%s\"", l->path);
	}
	free(l);
}

struct tl_layer *
tl_layer_open(struct timeline *tl, const char *name)
{
	struct tl_layer *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return NULL;
	snprintf(l->name, sizeof(l->name), "%s", name);
	snprintf(l->path, sizeof(l->path), "%s/%s", tl->dir, name);
	if (layer_open(l->path, &l->f) != 0)
	{
		free(l);
		return NULL;
	}
	l->d = *layer_desc(l->f);
	l->size = layer_size(l->f);
	atomic_init(&l->refs, 1);
	return l;
}

struct tl_snapshot *
tl_snapshot_alloc(uint32_t nfrozen, uint32_t nlayers)
{
	struct tl_snapshot *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->frozen = calloc(nfrozen ? nfrozen : 1, sizeof(*s->frozen));
	s->layers = calloc(nlayers ? nlayers : 1, sizeof(*s->layers));
	if (s->frozen == NULL || s->layers == NULL)
	{
		free(s->frozen);
		free(s->layers);
		free(s);
		return NULL;
	}
	atomic_init(&s->refs, 1);
	return s;
}

static int
cmp_layer_end_desc(const void *a, const void *b)
{
	const struct tl_layer *x = *(struct tl_layer *const *) a;
	const struct tl_layer *y = *(struct tl_layer *const *) b;

	if (x->d.lsn_end != y->d.lsn_end)
		return x->d.lsn_end > y->d.lsn_end ? -1 : 1;
	/* images first at equal ends: they answer without older layers */
	if (x->d.kind != y->d.kind)
		return x->d.kind == LAYER_IMAGE ? -1 : 1;
	return memcmp(x->d.key_start, y->d.key_start, KEY_SIZE);
}

void
tl_snapshot_sort(struct tl_snapshot *s)
{
	qsort(s->layers, s->nlayers, sizeof(*s->layers), cmp_layer_end_desc);
}

struct tl_snapshot *
tl_snapshot_get(struct timeline *tl)
{
	struct tl_snapshot *s;

	pthread_mutex_lock(&tl->lock);
	s = tl->snap;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&tl->lock);
	return s;
}

void
tl_snapshot_put(struct tl_snapshot *s)
{
	if (s == NULL || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	for (uint32_t i = 0; i < s->nfrozen; i++)
		inmem_unref(s->frozen[i]);
	for (uint32_t i = 0; i < s->nlayers; i++)
		tl_layer_unref(s->layers[i]);
	free(s->frozen);
	free(s->layers);
	free(s);
}

int
tl_modify_snapshot(struct timeline *tl, struct inmem *add_frozen, struct inmem *new_open,
				   struct inmem *drop_frozen, struct tl_layer **add, uint32_t nadd,
				   struct tl_layer **drop, uint32_t ndrop)
{
	struct tl_snapshot *old;
	struct tl_snapshot *s;

	pthread_mutex_lock(&tl->lock);
	old = tl->snap;
	s = tl_snapshot_alloc(old->nfrozen + 1, old->nlayers + nadd);
	if (s == NULL)
	{
		pthread_mutex_unlock(&tl->lock);
		return STRATA_ENOMEM;
	}
	if (add_frozen)
		s->frozen[s->nfrozen++] = add_frozen;	/* the caller's ref moves in */
	for (uint32_t i = 0; i < old->nfrozen; i++)
	{
		if (old->frozen[i] == drop_frozen)
			continue;
		atomic_fetch_add(&old->frozen[i]->refs, 1);
		s->frozen[s->nfrozen++] = old->frozen[i];
	}
	for (uint32_t i = 0; i < old->nlayers; i++)
	{
		int			dropped = 0;

		for (uint32_t j = 0; j < ndrop && !dropped; j++)
			dropped = old->layers[i] == drop[j];
		if (dropped)
			continue;
		atomic_fetch_add(&old->layers[i]->refs, 1);
		s->layers[s->nlayers++] = old->layers[i];
	}
	for (uint32_t i = 0; i < nadd; i++)
		s->layers[s->nlayers++] = add[i];	/* the caller's ref moves in */
	tl_snapshot_sort(s);
	tl->snap = s;
	if (new_open)
	{
		/*
		 * A freeze: the frozen layer joins the snapshot and its successor
		 * becomes the open layer in one critical section, so tl_sync()
		 * always finds the frozen log in one place or the other.
		 */
		tl->open = new_open;
		tl->open_seq++;
	}
	pthread_mutex_unlock(&tl->lock);
	for (uint32_t j = 0; j < ndrop; j++)
		atomic_store(&drop[j]->remove, 1);
	if (drop_frozen)
		atomic_store(&drop_frozen->drop_file, 1);
	tl_snapshot_put(old);
	return 0;
}

static lsn_t
locked_lsn(struct timeline *tl, const lsn_t *field)
{
	lsn_t		l;

	pthread_mutex_lock(&tl->lock);
	l = *field;
	pthread_mutex_unlock(&tl->lock);
	return l;
}

lsn_t
tl_disk_consistent_lsn(struct timeline *tl)
{
	return locked_lsn(tl, &tl->disk_consistent_lsn);
}

lsn_t
tl_gc_cutoff(struct timeline *tl)
{
	return locked_lsn(tl, &tl->gc_cutoff);
}

void
tl_set_retention(struct timeline *tl, uint64_t gc_horizon, uint32_t pitr_seconds)
{
	pthread_mutex_lock(&tl->lock);
	tl->conf.gc_horizon = gc_horizon;
	tl->conf.pitr_seconds = pitr_seconds;
	pthread_mutex_unlock(&tl->lock);
}

lsn_t
tl_retention_cutoff(struct timeline *tl, int64_t now)
{
	lsn_t		last = atomic_load(&tl->last_record_lsn);
	lsn_t		want;

	pthread_mutex_lock(&tl->lock);
	want = last > tl->conf.gc_horizon ? last - tl->conf.gc_horizon : 0;
	if (tl->conf.pitr_seconds > 0)
	{
		/* nothing that old known: all history is younger than the interval */
		lsn_t		by_time = lsntime_lsn_at(&tl->lsntime, now - (int64_t) tl->conf.pitr_seconds);

		if (by_time < want)
			want = by_time;
	}
	pthread_mutex_unlock(&tl->lock);
	return want;
}

int
tl_save_manifest(struct timeline *tl, struct tl_layer *const *layers, uint32_t nlayers, lsn_t dcl,
				 lsn_t gc_cutoff)
{
	struct manifest m;
	int			err;

	memset(&m, 0, sizeof(m));
	memcpy(m.tenant, tl->tenant_id, 16);
	memcpy(m.timeline, tl->id, 16);
	if (tl->ancestor)
	{
		m.has_ancestor = 1;
		memcpy(m.ancestor, tl->ancestor->id, 16);
	}
	m.ancestor_lsn = tl->ancestor_lsn;
	m.disk_consistent_lsn = dcl;
	m.gc_cutoff = gc_cutoff;
	m.generation = tl->generation;
	pthread_mutex_lock(&tl->lock);
	m.lsntime = tl->lsntime;
	pthread_mutex_unlock(&tl->lock);
	m.nlayers = nlayers;
	m.layers = calloc(m.nlayers ? m.nlayers : 1, sizeof(*m.layers));
	if (m.layers == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < m.nlayers; i++)
	{
		snprintf(m.layers[i].name, sizeof(m.layers[i].name), "%s", layers[i]->name);
		m.layers[i].size = layers[i]->size;
	}
	err = manifest_save(tl->dir, &m);
	manifest_free(&m);
	return err;
}

void
tl_add_branch(struct timeline *tl, lsn_t lsn)
{
	lsn_t	   *b;

	pthread_mutex_lock(&tl->lock);
	b = realloc(tl->branches, (tl->nbranches + 1) * sizeof(*b));
	if (b)
	{
		uint32_t	i = tl->nbranches;

		while (i > 0 && b[i - 1] > lsn)
		{
			b[i] = b[i - 1];
			i--;
		}
		b[i] = lsn;
		tl->branches = b;
		tl->nbranches++;
	}
	pthread_mutex_unlock(&tl->lock);
}

void
tl_remove_branch(struct timeline *tl, lsn_t lsn)
{
	pthread_mutex_lock(&tl->lock);
	for (uint32_t i = 0; i < tl->nbranches; i++)
		if (tl->branches[i] == lsn)
		{
			memmove(&tl->branches[i], &tl->branches[i + 1],
					(tl->nbranches - i - 1) * sizeof(lsn_t));
			tl->nbranches--;
			break;
		}
	pthread_mutex_unlock(&tl->lock);
}
