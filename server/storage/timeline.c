/*-------------------------------------------------------------------------
 *
 * timeline.c
 *	  Timelines: write path, reads through the layer stack, snapshots,
 *	  the background thread (see timeline.h).
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
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bytes.h"
#include "fsutil.h"
#include "identity.h"
#include "manifest.h"
#include "slog.h"
#include "strata_err.h"
#include "value.h"

#define TICKET_OFF_BITS 40
#define TICKET_OFF_MASK ((UINT64_C(1) << TICKET_OFF_BITS) - 1)
#define MAX_RECS_PER_OP 4

/* ---------- relation directory: current sizes of acknowledged forks ---------- */

struct reldir_ent
{
	struct proto_rel rel;
	uint32_t	nblocks;
	/* while building from history: the entry's LSN, and whether it is a drop */
	lsn_t		lsn;
	int			dropped;
	struct reldir_ent *next;
};

struct reldir
{
	uint32_t	nbuckets;
	uint32_t	n;
	struct reldir_ent **b;
};

static uint32_t
rel_hash(const struct proto_rel *r)
{
	uint32_t	h = r->spc * 2654435761u;

	h ^= r->db * 40503u + (h >> 13);
	h ^= r->rel * 2246822519u + (h >> 7);
	return h ^ r->fork;
}

static int
rel_eq(const struct proto_rel *a, const struct proto_rel *b)
{
	return a->spc == b->spc && a->db == b->db && a->rel == b->rel && a->fork == b->fork;
}

static struct reldir *
reldir_new(void)
{
	struct reldir *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->nbuckets = 1024;
	if ((d->b = calloc(d->nbuckets, sizeof(*d->b))) == NULL)
	{
		free(d);
		return NULL;
	}
	return d;
}

static void
reldir_free(struct reldir *d)
{
	if (d == NULL)
		return;
	for (uint32_t i = 0; i < d->nbuckets; i++)
		for (struct reldir_ent *e = d->b[i], *n; e; e = n)
		{
			n = e->next;
			free(e);
		}
	free(d->b);
	free(d);
}

static struct reldir_ent *
reldir_find(struct reldir *d, const struct proto_rel *r)
{
	for (struct reldir_ent *e = d->b[rel_hash(r) & (d->nbuckets - 1)]; e; e = e->next)
		if (rel_eq(&e->rel, r))
			return e;
	return NULL;
}

/* Set (nblocks) or remove (VAL_NOT_EXISTS) a fork. */
static int
reldir_set(struct reldir *d, const struct proto_rel *r, uint64_t nblocks)
{
	struct reldir_ent **pp = &d->b[rel_hash(r) & (d->nbuckets - 1)];

	for (; *pp; pp = &(*pp)->next)
		if (rel_eq(&(*pp)->rel, r))
			break;
	if (nblocks == VAL_NOT_EXISTS)
	{
		if (*pp)
		{
			struct reldir_ent *e = *pp;

			*pp = e->next;
			free(e);
			d->n--;
		}
		return 0;
	}
	if (*pp == NULL)
	{
		if (d->n >= d->nbuckets * 2)
		{
			uint32_t	nb = d->nbuckets * 4;
			struct reldir_ent **b = calloc(nb, sizeof(*b));

			if (b == NULL)
				return STRATA_ENOMEM;
			for (uint32_t i = 0; i < d->nbuckets; i++)
				for (struct reldir_ent *e = d->b[i], *n; e; e = n)
				{
					n = e->next;
					e->next = b[rel_hash(&e->rel) & (nb - 1)];
					b[rel_hash(&e->rel) & (nb - 1)] = e;
				}
			free(d->b);
			d->b = b;
			d->nbuckets = nb;
			return reldir_set(d, r, nblocks);
		}
		if ((*pp = calloc(1, sizeof(**pp))) == NULL)
			return STRATA_ENOMEM;
		(*pp)->rel = *r;
		d->n++;
	}
	(*pp)->nblocks = (uint32_t) nblocks;
	return 0;
}

/* Building from history: keep the newest entry by LSN, drops included. */
static int
reldir_put(struct reldir *d, const struct proto_rel *r, lsn_t lsn, uint64_t nblocks)
{
	struct reldir_ent *e = reldir_find(d, r);
	int			err;

	if (e == NULL)
	{
		if ((err = reldir_set(d, r, 0)) != 0)
			return err;
		e = reldir_find(d, r);
		e->lsn = 0;
	}
	else if (lsn < e->lsn)
		return 0;
	e->lsn = lsn;
	e->dropped = nblocks == VAL_NOT_EXISTS;
	e->nblocks = e->dropped ? 0 : (uint32_t) nblocks;
	return 0;
}

static void
reldir_purge_dropped(struct reldir *d)
{
	for (uint32_t i = 0; i < d->nbuckets; i++)
	{
		struct reldir_ent **pp = &d->b[i];

		while (*pp)
		{
			struct reldir_ent *e = *pp;

			if (e->dropped)
			{
				*pp = e->next;
				free(e);
				d->n--;
			}
			else
			{
				e->lsn = 0;
				pp = &e->next;
			}
		}
	}
}

static void
key_to_rel(const uint8_t key[KEY_SIZE], struct proto_rel *r, uint32_t *blk)
{
	struct strata_key k;

	key_decode(key, &k);
	r->spc = k.spc;
	r->db = k.db;
	r->rel = k.rel;
	r->fork = k.fork;
	if (blk)
		*blk = k.blk;
}

static void
rel_key(const struct proto_rel *r, uint32_t blk, uint8_t out[KEY_SIZE])
{
	struct strata_key k = key_block(r->spc, r->db, r->rel, r->fork, blk);

	key_encode(&k, out);
}

static int
is_size_key(const uint8_t key[KEY_SIZE])
{
	return key[0] == KEY_F1_REL && get_be32(key + KEY_SIZE - 4) == KEY_BLK_SIZE;
}

/* ---------- configuration, refs, snapshots ---------- */

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

static void
inmem_unref(struct inmem *m)
{
	if (atomic_fetch_sub(&m->refs, 1) == 1)
		inmem_free(m, atomic_load(&m->drop_file));
}

void
tl_layer_unref(struct tl_layer *l)
{
	if (atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	layer_close(l->f);
	if (atomic_load(&l->remove))
	{
		if (unlink(l->path) != 0 && errno != ENOENT)
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
snap_alloc(uint32_t nfrozen, uint32_t nlayers)
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
snap_sort(struct tl_snapshot *s)
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
tl_modify_snapshot(struct timeline *tl, struct inmem *add_frozen, struct inmem *drop_frozen,
				   struct tl_layer **add, uint32_t nadd, struct tl_layer **drop, uint32_t ndrop)
{
	struct tl_snapshot *old;
	struct tl_snapshot *s;

	pthread_mutex_lock(&tl->lock);
	old = tl->snap;
	s = snap_alloc(old->nfrozen + 1, old->nlayers + nadd);
	if (s == NULL)
	{
		pthread_mutex_unlock(&tl->lock);
		return STRATA_ENOMEM;
	}
	if (add_frozen)
	{
		atomic_init(&add_frozen->refs, 1);
		s->frozen[s->nfrozen++] = add_frozen;
	}
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
	snap_sort(s);
	tl->snap = s;
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

/* ---------- reads ---------- */

/*
 * The newest readable version at or below lsn: *val in the layer's mapping
 * (a reference in *ref if ref is not NULL) or in buf.
 */
static int
find_inmem(struct inmem *m, const uint8_t key[KEY_SIZE], lsn_t lsn, uint8_t *buf,
		   const uint8_t **val, uint32_t *vlen, lsn_t *vlsn, struct inmem_map **ref)
{
	struct inmem_key *k = inmem_find(m, key);
	const struct inmem_version *v;
	int			n;

	if (k == NULL || (v = inmem_at(m, k, lsn, 0)) == NULL)
		return STRATA_ENOTFOUND;
	if ((n = inmem_value(m, v, buf, val, ref)) < 0)
		return n;
	*vlen = (uint32_t) n;
	if (vlsn)
		*vlsn = v->lsn;
	return 0;
}

/* The same, copied into buf. */
static int
read_inmem(struct inmem *m, const uint8_t key[KEY_SIZE], lsn_t lsn, uint8_t *buf, uint32_t *vlen,
		   lsn_t *vlsn)
{
	const uint8_t *val;
	int			err = find_inmem(m, key, lsn, buf, &val, vlen, vlsn, NULL);

	if (err == 0 && val != buf)
		memcpy(buf, val, *vlen);
	return err;
}

/* Per key of a vectored read: the best version found so far. */
struct key_read
{
	lsn_t		best;			/* LSN of the version in the caller's buffer */
	lsn_t		floor;			/* an image at this LSN settles older versions */
	uint8_t		found;
	uint8_t		have_floor;
	uint8_t		done;			/* answered (or settled) */
};

struct many_ctx
{
	uint32_t   *map;			/* layer_get_many index -> key index */
	struct key_read *kr;
	uint8_t   **bufs;
	uint32_t   *vlens;
};

static int
take_newest(uint32_t i, lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	struct many_ctx *m = arg;
	uint32_t	j = m->map[i];

	if (len > VAL_MAX)
		return STRATA_ECORRUPT;
	if (!m->kr[j].found || lsn > m->kr[j].best)
	{
		memcpy(m->bufs[j], val, len);
		m->vlens[j] = len;
		m->kr[j].best = lsn;
		m->kr[j].found = 1;
	}
	return 0;
}

/* Sort key indexes by (key, LSN): layer_get_many wants ascending positions. */
static __thread const uint8_t (*tls_keys)[KEY_SIZE];
static __thread const lsn_t *tls_lsns;

static int
cmp_key_lsn(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *) a;
	uint32_t	y = *(const uint32_t *) b;
	int			c = memcmp(tls_keys[x], tls_keys[y], KEY_SIZE);

	if (c != 0)
		return c;
	return tls_lsns[x] < tls_lsns[y] ? -1 : tls_lsns[x] > tls_lsns[y];
}

/*
 * The newest version at or below lsns[i] of each keys[i] in snapshot s and
 * the ancestors; errs[i] is 0 (bufs[i], vlens[i], vlsns[i] set),
 * STRATA_ENOTFOUND or an error.  Frozen layers are newer than every layer
 * file, each newer than the one after it; layer files can overlap in LSN
 * (L1s, images), so they are visited by descending end until none can hold
 * anything newer.  Each layer file is visited once for the whole batch.
 */
int
tl_read_snap_many(struct timeline *tl, struct tl_snapshot *s, uint32_t n,
				  const uint8_t (*keys)[KEY_SIZE], const lsn_t *lsns, uint8_t **bufs,
				  uint32_t *vlens, lsn_t *vlsns, int *errs)
{
	struct key_read *kr = calloc(n, sizeof(*kr));
	uint32_t   *order = malloc(n * sizeof(*order));
	uint32_t   *map = malloc(n * sizeof(*map));
	uint8_t		(*sub_keys)[KEY_SIZE] = malloc((size_t) n * KEY_SIZE);
	lsn_t	   *sub_limits = malloc(n * sizeof(*sub_limits));
	uint32_t   *anc = malloc(n * sizeof(*anc));
	struct many_ctx ctx = {map, kr, bufs, vlens};
	uint64_t	visited = 0;
	uint32_t	left = n;
	uint32_t	nanc = 0;
	int			err = 0;

	if (kr == NULL || order == NULL || map == NULL || sub_keys == NULL || sub_limits == NULL ||
		anc == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	for (uint32_t j = 0; j < n; j++)
	{
		errs[j] = STRATA_ENOTFOUND;
		order[j] = j;
	}
	for (uint32_t i = 0; i < s->nfrozen && left > 0; i++)
		for (uint32_t j = 0; j < n; j++)
		{
			int			e;

			if (kr[j].done || lsns[j] < s->frozen[i]->lsn_start)
				continue;
			visited++;
			e = read_inmem(s->frozen[i], keys[j], lsns[j], bufs[j], &vlens[j],
						   vlsns ? &vlsns[j] : NULL);
			if (e != STRATA_ENOTFOUND)
			{
				errs[j] = e;
				kr[j].done = 2;	/* answered by a frozen layer */
				left--;
			}
		}
	tls_keys = keys;
	tls_lsns = lsns;
	qsort(order, n, sizeof(*order), cmp_key_lsn);
	for (uint32_t i = 0; i < s->nlayers && left > 0 && err == 0; i++)
	{
		struct tl_layer *l = s->layers[i];
		uint32_t	cnt = 0;

		for (uint32_t o = 0; o < n; o++)
		{
			uint32_t	j = order[o];
			lsn_t		newest = kr[j].found && kr[j].best > kr[j].floor ? kr[j].best : kr[j].floor;

			if (kr[j].done)
				continue;
			if ((kr[j].found || kr[j].have_floor) && l->d.lsn_end - 1 <= newest)
			{
				kr[j].done = 1;	/* sorted by end: nothing newer below */
				left--;
				continue;
			}
			if (l->d.lsn_start > lsns[j] || memcmp(keys[j], l->d.key_start, KEY_SIZE) < 0 ||
				memcmp(keys[j], l->d.key_end, KEY_SIZE) >= 0)
				continue;
			memcpy(sub_keys[cnt], keys[j], KEY_SIZE);
			sub_limits[cnt] = lsns[j] < l->d.lsn_end - 1 ? lsns[j] + 1 : l->d.lsn_end;
			map[cnt++] = j;
			if (l->d.kind == LAYER_IMAGE && l->d.lsn_start > kr[j].floor)
			{
				kr[j].floor = l->d.lsn_start;
				kr[j].have_floor = 1;
			}
		}
		if (cnt == 0)
			continue;
		visited += cnt;
		err = layer_get_many(l->f, cnt, (const uint8_t (*)[KEY_SIZE]) sub_keys, sub_limits,
							 take_newest, &ctx);
	}
	if (err != 0)
	{
		if (err != STRATA_EWOULDBLOCK)
			slog(SLOG_ERROR, "timeline %s: could not read its layers: %s", tl->hex,
				 strata_strerror(err));
		goto out;
	}
	for (uint32_t j = 0; j < n; j++)
	{
		if (kr[j].done == 2)
			continue;
		if (kr[j].found && (!kr[j].have_floor || kr[j].best >= kr[j].floor))
		{
			errs[j] = 0;
			if (vlsns)
				vlsns[j] = kr[j].best;
		}
		else if (!kr[j].have_floor && tl->ancestor)
			anc[nanc++] = j;
	}
	if (nanc > 0)
	{
		/* what the branch point can see, in the ancestor */
		struct tl_snapshot *as = tl_snapshot_get(tl->ancestor);
		uint8_t	  **abufs = malloc(nanc * sizeof(*abufs));
		lsn_t	   *alsns = malloc(nanc * sizeof(*alsns));
		uint32_t   *avlens = malloc(nanc * sizeof(*avlens));
		lsn_t	   *avlsns = malloc(nanc * sizeof(*avlsns));
		int		   *aerrs = malloc(nanc * sizeof(*aerrs));

		if (abufs && alsns && avlens && avlsns && aerrs)
		{
			for (uint32_t a = 0; a < nanc; a++)
			{
				memcpy(sub_keys[a], keys[anc[a]], KEY_SIZE);
				alsns[a] = lsns[anc[a]] < tl->ancestor_lsn ? lsns[anc[a]] : tl->ancestor_lsn;
				abufs[a] = bufs[anc[a]];
			}
			err = tl_read_snap_many(tl->ancestor, as, nanc, (const uint8_t (*)[KEY_SIZE]) sub_keys,
									alsns, abufs, avlens, avlsns, aerrs);
			for (uint32_t a = 0; a < nanc && err == 0; a++)
			{
				errs[anc[a]] = aerrs[a];
				vlens[anc[a]] = avlens[a];
				if (vlsns)
					vlsns[anc[a]] = avlsns[a];
			}
		}
		else
			err = STRATA_ENOMEM;
		free(abufs);
		free(alsns);
		free(avlens);
		free(avlsns);
		free(aerrs);
		tl_snapshot_put(as);
	}
out:
	if (err != 0)
		for (uint32_t j = 0; j < n; j++)
			if (!kr || kr[j].done != 2 || errs[j] == STRATA_ENOTFOUND)
				errs[j] = err;
	atomic_fetch_add(&tl->layers_visited, visited);
	free(kr);
	free(order);
	free(map);
	free(sub_keys);
	free(sub_limits);
	free(anc);
	return err;
}

int
tl_read_snap(struct timeline *tl, struct tl_snapshot *s, const uint8_t key[KEY_SIZE], lsn_t lsn,
			 uint8_t *buf, uint32_t *vlen)
{
	return tl_read_snap_lsn(tl, s, key, lsn, buf, vlen, NULL);
}

int
tl_read_snap_lsn(struct timeline *tl, struct tl_snapshot *s, const uint8_t key[KEY_SIZE], lsn_t lsn,
				 uint8_t *buf, uint32_t *vlen, lsn_t *vlsn)
{
	int			err;

	(void) tl_read_snap_many(tl, s, 1, (const uint8_t (*)[KEY_SIZE]) key, &lsn, &buf, vlen, vlsn,
							 &err);
	return err;
}

int
tl_read(struct timeline *tl, const uint8_t key[KEY_SIZE], lsn_t lsn, uint8_t *buf, uint32_t *vlen)
{
	struct tl_snapshot *s;
	int			err;

	if (atomic_load(&tl->state) == TL_BROKEN)
		return STRATA_ECORRUPT;
	atomic_fetch_add(&tl->reads, 1);
	if (tl->open && lsn >= tl->open->lsn_start)
	{
		atomic_fetch_add(&tl->layers_visited, 1);
		err = read_inmem(tl->open, key, lsn, buf, vlen, NULL);
		if (err != STRATA_ENOTFOUND)
			return err;
	}
	s = tl_snapshot_get(tl);
	err = tl_read_snap(tl, s, key, lsn, buf, vlen);
	tl_snapshot_put(s);
	return err;
}

/* A size entry's value: nblocks, or an error (STRATA_ENOTFOUND if dropped). */
static int
size_of(struct timeline *tl, const struct proto_rel *rel, const uint8_t *val, uint32_t len,
		uint32_t *nblocks)
{
	uint64_t	n;

	if (value_get_size(val, len, &n) != 0)
	{
		slog(SLOG_ERROR, "timeline %s: size entry of %u/%u/%u.%u has an unexpected kind %u",
			 tl->hex, rel->spc, rel->db, rel->rel, rel->fork, val[0]);
		return STRATA_ECORRUPT;
	}
	if (n == VAL_NOT_EXISTS)
		return STRATA_ENOTFOUND;
	*nblocks = (uint32_t) n;
	return 0;
}

int
tl_nblocks(struct timeline *tl, const struct proto_rel *rel, lsn_t lsn, uint32_t *nblocks)
{
	uint8_t		key[KEY_SIZE];
	uint8_t		val[VAL_MAX];
	uint32_t	len;
	int			err;

	/*
	 * At or past the newest acknowledged LSN the directory has the answer
	 * (it holds exactly the acknowledged state); older reads go to history.
	 */
	if (lsn >= atomic_load(&tl->last_record_lsn) && atomic_load(&tl->state) != TL_BROKEN)
	{
		struct reldir_ent *e = reldir_find(tl->reldir, rel);

		if (e == NULL)
			return STRATA_ENOTFOUND;
		*nblocks = e->nblocks;
		return 0;
	}
	rel_key(rel, KEY_BLK_SIZE, key);
	if ((err = tl_read(tl, key, lsn, val, &len)) != 0)
		return err;
	return size_of(tl, rel, val, len, nblocks);
}

/*
 * The page of a block value: by reference into a log's mapping when map
 * is not NULL (the reference passes to r), else copied into r->page.
 */
static int
take_page(struct tl_page_read *r, const uint8_t *val, uint32_t len, struct inmem_map *map)
{
	if (map && len == VAL_MAX && val[0] == VAL_IMAGE)
	{
		r->ref = val + VAL_HDR;
		r->map = map;
		return 0;
	}
	inmem_map_unref(map);
	return value_get_page(val, len, r->page);
}

void
tl_page_release(struct tl_page_read *r)
{
	inmem_map_unref(r->map);
	r->map = NULL;
	r->ref = NULL;
}

/* The answer to a page read once its size and value are known. */
static void
page_result(struct timeline *tl, struct tl_page_read *r, int err, const uint8_t *val, uint32_t len,
			struct inmem_map *map)
{
	if (err == STRATA_ENOTFOUND)
	{
		slog(SLOG_ERROR, "timeline %s: block %u of %u/%u/%u.%u is inside the relation but has no "
			 "version", tl->hex, r->blk, r->rel.spc, r->rel.db, r->rel.rel, r->rel.fork);
		err = STRATA_ECORRUPT;
	}
	else if (err == 0 && take_page(r, val, len, map) != 0)
	{
		slog(SLOG_ERROR, "timeline %s: block %u of %u/%u/%u.%u has an unexpected value kind %u",
			 tl->hex, r->blk, r->rel.spc, r->rel.db, r->rel.rel, r->rel.fork, val[0]);
		err = STRATA_ECORRUPT;
	}
	r->err = err;
	r->need = 0;
}

uint32_t
tl_pages_begin(struct timeline *tl, struct tl_page_read *r, uint32_t n, struct tl_snapshot **snap)
{
	lsn_t		last = atomic_load(&tl->last_record_lsn);
	int			broken = atomic_load(&tl->state) == TL_BROKEN;
	uint32_t	left = 0;

	*snap = NULL;
	for (uint32_t i = 0; i < n; i++)
	{
		struct tl_page_read *x = &r[i];
		uint8_t		key[KEY_SIZE];
		uint8_t		buf[VAL_MAX];
		const uint8_t *val = NULL;
		uint32_t	len = 0;
		int			err;
		int			in_open = tl->open && x->lsn >= tl->open->lsn_start;

		x->need = TL_NEED_SIZE | TL_NEED_PAGE;
		x->err = 0;
		x->ref = NULL;
		x->map = NULL;
		if (broken)
		{
			x->err = STRATA_ECORRUPT;
			x->need = 0;
			continue;
		}
		atomic_fetch_add(&tl->reads, 1);
		if (x->lsn >= last)
		{
			struct reldir_ent *e = reldir_find(tl->reldir, &x->rel);

			x->need &= ~TL_NEED_SIZE;
			if (e == NULL)
				x->err = STRATA_ENOTFOUND;
			else if (x->blk >= e->nblocks)
				x->err = STRATA_EEOF;
			x->nblocks = e ? e->nblocks : 0;
		}
		else if (in_open)
		{
			rel_key(&x->rel, KEY_BLK_SIZE, key);
			err = find_inmem(tl->open, key, x->lsn, buf, &val, &len, NULL, NULL);
			if (err != STRATA_ENOTFOUND)
			{
				x->need &= ~TL_NEED_SIZE;
				if (err == 0)
					err = size_of(tl, &x->rel, val, len, &x->nblocks);
				if (err == 0 && x->blk >= x->nblocks)
					err = STRATA_EEOF;
				x->err = err;
			}
		}
		if (x->err != 0)
		{
			x->need = 0;
			continue;
		}
		if (in_open)
		{
			atomic_fetch_add(&tl->layers_visited, 1);
			rel_key(&x->rel, x->blk, key);
			struct inmem_map *map = NULL;

			err = find_inmem(tl->open, key, x->lsn, buf, &val, &len, NULL, &map);
			if (err != STRATA_ENOTFOUND)
			{
				if (x->need & TL_NEED_SIZE)
				{
					/* keep the page; the size still decides */
					x->need = TL_NEED_SIZE | TL_HAVE_PAGE;
					if (err == 0 && take_page(x, val, len, map) != 0)
						err = STRATA_ECORRUPT;
					x->err = err;
				}
				else
					page_result(tl, x, err, val, len, map);
			}
		}
		if (x->need)
			left++;
	}
	if (left > 0)
		*snap = tl_snapshot_get(tl);
	return left;
}

static __thread uint8_t (*tls_vals)[VAL_MAX];
static __thread uint32_t tls_nvals;

int
tl_pages_finish(struct timeline *tl, struct tl_snapshot *s, struct tl_page_read *r, uint32_t n)
{
	uint8_t		(*keys)[KEY_SIZE] = malloc((size_t) 2 * n * KEY_SIZE);
	lsn_t	   *lsns = malloc(2 * n * sizeof(*lsns));
	uint8_t	  **bufs = malloc(2 * n * sizeof(*bufs));
	uint32_t   *vlens = malloc(2 * n * sizeof(*vlens));
	int		   *errs = malloc(2 * n * sizeof(*errs));
	uint32_t	m = 0;
	int			err = 0;

	if (tls_nvals < 2 * n)
	{
		free(tls_vals);
		tls_nvals = 0;
		if ((tls_vals = malloc((size_t) 2 * n * VAL_MAX)) != NULL)
			tls_nvals = 2 * n;
	}
	if (keys == NULL || lsns == NULL || bufs == NULL || vlens == NULL || errs == NULL ||
		tls_vals == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < n; i++)
	{
		if (r[i].need & TL_NEED_SIZE)
		{
			rel_key(&r[i].rel, KEY_BLK_SIZE, keys[m]);
			lsns[m] = r[i].lsn;
			bufs[m] = tls_vals[m];
			m++;
		}
		if (r[i].need & TL_NEED_PAGE)
		{
			rel_key(&r[i].rel, r[i].blk, keys[m]);
			lsns[m] = r[i].lsn;
			bufs[m] = tls_vals[m];
			m++;
		}
	}
	(void) tl_read_snap_many(tl, s, m, (const uint8_t (*)[KEY_SIZE]) keys, lsns, bufs, vlens,
							 NULL, errs);
	m = 0;
	for (uint32_t i = 0; i < n; i++)
	{
		struct tl_page_read *x = &r[i];

		if (x->need & TL_NEED_SIZE)
		{
			int			e = errs[m] == 0 ? size_of(tl, &x->rel, bufs[m], vlens[m], &x->nblocks)
				: errs[m];

			m++;
			if (e == 0 && x->blk >= x->nblocks)
				e = STRATA_EEOF;
			if (e != 0)
			{
				if (x->need & TL_NEED_PAGE)
					m++;
				tl_page_release(x);
				x->err = e;
				x->need = 0;
				continue;
			}
			if (x->need & TL_HAVE_PAGE)
			{
				x->need = 0;
				continue;
			}
		}
		if (x->need & TL_NEED_PAGE)
		{
			page_result(tl, x, errs[m], bufs[m], vlens[m], NULL);
			m++;
		}
	}
out:
	if (err != 0)
		for (uint32_t i = 0; i < n; i++)
			if (r[i].need)
			{
				r[i].err = err;
				r[i].need = 0;
			}
	free(keys);
	free(lsns);
	free(bufs);
	free(vlens);
	free(errs);
	return err;
}

int
tl_getpage(struct timeline *tl, const struct proto_rel *rel, uint32_t blk, lsn_t lsn, uint8_t *page)
{
	struct tl_page_read r = {.rel = *rel, .blk = blk, .lsn = lsn, .page = page};
	struct tl_snapshot *s;

	if (tl_pages_begin(tl, &r, 1, &s) > 0)
	{
		(void) tl_pages_finish(tl, s, &r, 1);
		tl_snapshot_put(s);
	}
	if (r.err == 0 && r.ref)
		memcpy(page, r.ref, PROTO_PAGE_SIZE);
	tl_page_release(&r);
	return r.err;
}

uint32_t
tl_nforks(struct timeline *tl)
{
	return tl->reldir->n;
}

int64_t
tl_dbsize(struct timeline *tl, uint32_t db)
{
	int64_t		total = 0;
	int			any = 0;

	for (uint32_t i = 0; i < tl->reldir->nbuckets; i++)
		for (struct reldir_ent *e = tl->reldir->b[i]; e; e = e->next)
			if (e->rel.db == db)
			{
				total += (int64_t) e->nblocks * PROTO_PAGE_SIZE;
				any = 1;
			}
	return any ? total : -1;
}

/* ---------- the write path ---------- */

static void
on_published(const struct inmem_key *k, const struct inmem_version *v, void *arg)
{
	struct timeline *tl = arg;
	struct proto_rel r;

	if (!is_size_key(k->key))
		return;
	key_to_rel(k->key, &r, NULL);
	if (reldir_set(tl->reldir, &r, v->size == UINT32_MAX ? VAL_NOT_EXISTS : v->size) != 0)
		slog(SLOG_ERROR, "timeline %s: out of memory for the relation directory", tl->hex);
}

static void
publish_written(struct timeline *tl)
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
		tl->cut_seq = tl->open_seq;
		tl->cut_off = written;
		tl->cut_err = err;
		tl->open_seq++;
		if (inmem_cut(m, written) != 0)
		{
			atomic_store(&tl->state, TL_BROKEN);
			slog(SLOG_ERROR, "timeline %s: the write log cannot be cut back; timeline broken",
				 tl->hex);
		}
	}
}

static void maybe_freeze(struct timeline *tl, int force);

/* A request for a background round from the loop, answered on the loop. */
struct bg_waiter
{
	uint64_t	req;
	int			compact;
	int			gc;
	tl_done_fn	cb;
	void	   *arg;
	struct bg_waiter *next;
};

/* Hand a waiter to the bg thread: its round is the next one to start. */
static void
enqueue_work(struct timeline *tl, struct bg_waiter *w)
{
	pthread_mutex_lock(&tl->lock);
	w->req = ++tl->bg_req;
	w->next = tl->bg_waiters;
	tl->bg_waiters = w;
	tl->bg_wake = 1;
	tl->bg_force_compact |= w->compact;
	tl->bg_force_gc |= w->gc;
	pthread_cond_broadcast(&tl->cv);
	pthread_mutex_unlock(&tl->lock);
}


static void
on_progress(evutil_socket_t fd, short what, void *arg)
{
	struct timeline *tl = arg;

	(void) fd;
	(void) what;
	publish_written(tl);
	if (tl->progress_cb)
		tl->progress_cb(tl, tl->progress_arg);
	maybe_freeze(tl, tl->ckpt_waiters != NULL);
	if (tl->ckpt_waiters && (tl->open == NULL || tl->open->nversions == 0))
	{
		/* the checkpoints' freeze happened: their rounds can run */
		while (tl->ckpt_waiters)
		{
			struct bg_waiter *w = tl->ckpt_waiters;

			tl->ckpt_waiters = w->next;
			enqueue_work(tl, w);
		}
	}
}

/* bufwriter notify: on the writer's flush thread */
static void
writer_notify(void *arg)
{
	struct timeline *tl = arg;

	pthread_mutex_lock(&tl->lock);
	pthread_cond_broadcast(&tl->cv);
	pthread_mutex_unlock(&tl->lock);
	if (tl->progress_ev)
		event_active(tl->progress_ev, EV_READ, 0);
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
static void
wait_writer(struct timeline *tl, uint64_t target)
{
	pthread_mutex_lock(&tl->lock);
	while (tl->open && tl->open->bw && bw_written(tl->open->bw) < target &&
		   bw_failed(tl->open->bw, NULL) == 0)
		pthread_cond_wait(&tl->cv, &tl->lock);
	pthread_mutex_unlock(&tl->lock);
}

/* Append one record, waiting for buffer space if a change is half appended. */
static int
append(struct timeline *tl, const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val,
	   uint32_t len, int first, uint64_t *end)
{
	for (;;)
	{
		int			err = inmem_append(tl->open, key, lsn, val, len, end);

		if (err != STRATA_EBUSY)
			return err;
		/*
		 * The two buffers are full: the writer is busy with one buffer's
		 * worth.  Waiting here is bounded by that write; a failed writer
		 * ends the wait with its error.
		 */
		(void) first;
		bw_submit(tl->open->bw);
		wait_writer(tl, bw_appended(tl->open->bw));
		if (bw_failed(tl->open->bw, NULL) != 0)
			return bw_failed(tl->open->bw, NULL);
	}
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

	rel_key(r, KEY_BLK_SIZE, key);
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

	rel_key(r, KEY_BLK_SIZE, key);
	return change_add(c, key, val, value_put_size(val, nblocks));
}

static int
add_page(struct change *c, const struct proto_rel *r, uint32_t blk, const uint8_t *page)
{
	uint8_t		key[KEY_SIZE];
	uint8_t		val[VAL_MAX];

	rel_key(r, blk, key);
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
	for (uint32_t i = 0; i < c.n && err == 0; i++)
		err = append(tl, c.keys[i], lsn, c.vals[i], c.lens[i], i == 0, &end);
	if (err != 0)
	{
		/* a half-appended change goes with the failed group */
		slog(SLOG_ERROR, "timeline %s: could not append a change: %s", tl->hex, strata_strerror(err));
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
	wait_writer(tl, tl->open->end);
	err = bw_failed(tl->open->bw, NULL);
	publish_written(tl);
	maybe_freeze(tl, 0);
	return err;
}

int
tl_sync(struct timeline *tl)
{
	int			fds[64];
	int			n = 0;
	int			err = 0;

	/* dup under the lock: the loop may close a log while we sync it */
	pthread_mutex_lock(&tl->lock);
	if (tl->open && (fds[n] = dup(tl->open->fd)) >= 0)
		n++;
	for (uint32_t i = 0; tl->snap && i < tl->snap->nfrozen && n < 64; i++)
		if ((fds[n] = dup(tl->snap->frozen[i]->fd)) >= 0)
			n++;
	pthread_mutex_unlock(&tl->lock);
	if (n > 0 && fs_fault_once("STRATA_FAIL_FSYNC_ONCE_FILE"))
	{
		slog(SLOG_ERROR, "timeline %s: fdatasync of a write log failed: injected EIO", tl->hex);
		err = STRATA_EIO;
	}
	for (int i = 0; i < n; i++)
	{
		if (err == 0 && fdatasync(fds[i]) != 0)
		{
			slog(SLOG_ERROR, "timeline %s: fdatasync of a write log failed: %m", tl->hex);
			err = STRATA_EIO;
		}
		close(fds[i]);
	}
	return err;
}

/* ---------- freezing and the background thread ---------- */

static void
maybe_freeze(struct timeline *tl, int force)
{
	struct inmem *m = tl->open;
	struct inmem *next;
	lsn_t		end;
	int			err;

	if (m == NULL || m->bw == NULL || atomic_load(&tl->state) != TL_ACTIVE)
		return;
	if (m->nversions == 0)
		return;
	if (!force && m->end < tl->conf.freeze_bytes &&
		(tl->open_since == 0 || (uint64_t) time(NULL) < tl->open_since + tl->conf.freeze_seconds))
		return;
	/* only an idle writer: everything appended is acknowledged */
	if (bw_written(m->bw) < m->end || m->visible < m->end)
		return;
	end = m->max_lsn + 1;
	if ((err = inmem_create(tl->dir, tl->tenant_id, tl->id, end, tl->conf.bufsize,
							writer_notify, tl, &next)) != 0)
	{
		slog(SLOG_WARNING, "timeline %s: could not start a new write log: %s; not freezing",
			 tl->hex, strata_strerror(err));
		return;
	}
	if ((err = inmem_freeze(m, end)) != 0)
		slog(SLOG_WARNING, "timeline %s: closing the frozen writer: %s", tl->hex,
			 strata_strerror(err));
	pthread_mutex_lock(&tl->lock);
	tl->open = next;
	tl->open_seq++;
	pthread_mutex_unlock(&tl->lock);
	if (tl_modify_snapshot(tl, m, NULL, NULL, 0, NULL, 0) != 0)
	{
		/* the frozen layer's data would be unreachable: stop serving */
		slog(SLOG_ERROR, "timeline %s: out of memory freezing the open layer; timeline broken",
			 tl->hex);
		atomic_store(&tl->state, TL_BROKEN);
		inmem_free(m, 0);
		return;
	}
	tl->open_since = 0;
	slog(SLOG_DEBUG, "timeline %s: froze the open layer at %llX (%llu bytes)", tl->hex,
		 (unsigned long long) end, (unsigned long long) m->end);
	pthread_mutex_lock(&tl->lock);
	tl->bg_wake = 1;
	pthread_cond_broadcast(&tl->cv);
	pthread_mutex_unlock(&tl->lock);
}

static void
on_bg_done(evutil_socket_t fd, short what, void *arg)
{
	struct timeline *tl = arg;
	struct bg_waiter *done = NULL;
	struct bg_waiter **pp;
	int			err;

	(void) fd;
	(void) what;
	pthread_mutex_lock(&tl->lock);
	err = tl->bg_err;
	for (pp = &tl->bg_waiters; *pp;)
	{
		struct bg_waiter *w = *pp;

		if (w->req <= tl->bg_done || tl->bg_stop)
		{
			*pp = w->next;
			w->next = done;
			done = w;
		}
		else
			pp = &w->next;
	}
	pthread_mutex_unlock(&tl->lock);
	while (done)
	{
		struct bg_waiter *next = done->next;

		done->cb(tl, done->req <= tl->bg_done ? err : STRATA_ESHUTDOWN, done->arg);
		free(done);
		done = next;
	}
}

int
tl_request_work(struct timeline *tl, int checkpoint, int compact, int gc, tl_done_fn cb, void *arg)
{
	struct bg_waiter *w;

	if (atomic_load(&tl->state) != TL_ACTIVE || tl->base == NULL)
		return STRATA_ESHUTDOWN;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return STRATA_ENOMEM;
	w->cb = cb;
	w->arg = arg;
	w->compact = compact;
	w->gc = gc;
	if (checkpoint && tl->open && tl->open->bw)
	{
		bw_submit(tl->open->bw);
		/* freeze now if the writer is idle, else at its next progress event */
		maybe_freeze(tl, 1);
		if (tl->open->nversions > 0)
		{
			w->next = tl->ckpt_waiters;
			tl->ckpt_waiters = w;
			return 0;
		}
	}
	enqueue_work(tl, w);
	return 0;
}

static void *
bg_main(void *arg)
{
	struct timeline *tl = arg;
	uint64_t	last_compact = 0;

	pthread_mutex_lock(&tl->lock);
	while (!tl->bg_stop)
	{
		struct timespec ts;
		int			force_c,
					force_g,
					have_frozen;
		uint64_t	serving;
		uint64_t	now_ms;
		int			err = 0;

		have_frozen = tl->snap->nfrozen > 0;
		if (!tl->bg_wake && !have_frozen && !tl->bg_force_compact && !tl->bg_force_gc)
		{
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += tl->conf.compaction_period_ms / 1000;
			ts.tv_nsec += (long) (tl->conf.compaction_period_ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000)
			{
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			(void) pthread_cond_timedwait(&tl->cv, &tl->lock, &ts);
			if (tl->bg_stop)
				break;
		}
		tl->bg_wake = 0;
		lsntime_note(&tl->lsntime, (int64_t) time(NULL), atomic_load(&tl->last_record_lsn));
		serving = tl->bg_req;
		force_c = tl->bg_force_compact;
		force_g = tl->bg_force_gc;
		tl->bg_force_compact = tl->bg_force_gc = 0;
		have_frozen = tl->snap->nfrozen > 0;
		pthread_mutex_unlock(&tl->lock);

		while (have_frozen && err == 0)
		{
			struct tl_snapshot *s;

			err = compact_flush_frozen(tl);
			s = tl_snapshot_get(tl);
			have_frozen = s->nfrozen > 0 && atomic_load(&tl->state) == TL_ACTIVE;
			tl_snapshot_put(s);
		}
		{
			struct timespec mono;

			clock_gettime(CLOCK_MONOTONIC, &mono);
			now_ms = (uint64_t) mono.tv_sec * 1000 + mono.tv_nsec / 1000000;
		}
		if (err == 0 && atomic_load(&tl->state) == TL_ACTIVE &&
			(force_c || force_g || now_ms >= last_compact + tl->conf.compaction_period_ms))
		{
			last_compact = now_ms;
			err = compact_l0(tl, force_c);
			if (err == 0)
				err = compact_images(tl, force_c);
			/* until every child registered its branch point, GC could drop what it needs */
			if (err == 0 && !atomic_load(&tl->gc_hold))
				err = compact_gc(tl);
			if (err == 0 && tl->conf.gc_compaction && !atomic_load(&tl->gc_hold))
				err = compact_gc_rewrite(tl);
			(void) force_g;
		}
		pthread_mutex_lock(&tl->lock);
		tl->bg_err = err == STRATA_ECANCELLED ? 0 : err;
		tl->bg_done = serving;
		pthread_cond_broadcast(&tl->cv);
		if (tl->bg_waiters && tl->bg_ev)
			event_active(tl->bg_ev, EV_READ, 0);
		if (err != 0 && err != STRATA_ECANCELLED && !tl->bg_stop)
		{
			/* back off before trying again (e.g. a full disk) */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			(void) pthread_cond_timedwait(&tl->cv, &tl->lock, &ts);
		}
	}
	pthread_mutex_unlock(&tl->lock);
	return NULL;
}

/* Ask the bg thread for a round and wait for it; returns its error. */
static int
bg_round(struct timeline *tl, int compact, int gc)
{
	uint64_t	mine;
	int			err;

	pthread_mutex_lock(&tl->lock);
	if (!tl->bg_running || tl->bg_stop)
	{
		pthread_mutex_unlock(&tl->lock);
		return STRATA_ESHUTDOWN;
	}
	mine = ++tl->bg_req;
	tl->bg_wake = 1;
	tl->bg_force_compact |= compact;
	tl->bg_force_gc |= gc;
	pthread_cond_broadcast(&tl->cv);
	while (tl->bg_done < mine && !tl->bg_stop)
		pthread_cond_wait(&tl->cv, &tl->lock);
	err = tl->bg_done < mine ? STRATA_ESHUTDOWN : tl->bg_err;
	pthread_mutex_unlock(&tl->lock);
	return err;
}

int
tl_checkpoint(struct timeline *tl)
{
	int			err;

	if (atomic_load(&tl->state) != TL_ACTIVE)
		return STRATA_ESHUTDOWN;
	if (tl->open && tl->open->bw)
	{
		bw_submit(tl->open->bw);
		wait_writer(tl, tl->open->end);
		publish_written(tl);
		if (tl->progress_cb)
			tl->progress_cb(tl, tl->progress_arg);
	}
	maybe_freeze(tl, 1);
	if ((err = bg_round(tl, 0, 0)) != 0)
		return err;
	return 0;
}

int
tl_compact(struct timeline *tl)
{
	if (atomic_load(&tl->state) != TL_ACTIVE)
		return STRATA_ESHUTDOWN;
	return bg_round(tl, 1, 0);
}

int
tl_gc(struct timeline *tl)
{
	if (atomic_load(&tl->state) != TL_ACTIVE)
		return STRATA_ESHUTDOWN;
	return bg_round(tl, 0, 1);
}

/* ---------- creation, loading, shutdown ---------- */

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
	if ((tl->snap = snap_alloc(0, 0)) == NULL)
		goto fail;
	if (base)
	{
		tl->progress_ev = event_new(base, -1, 0, on_progress, tl);
		tl->bg_ev = event_new(base, -1, 0, on_bg_done, tl);
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
	if (tl->open)
		inmem_free(tl->open, 0);
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

static int
start_bg(struct timeline *tl)
{
	if (pthread_create(&tl->bg, NULL, bg_main, tl) != 0)
		return STRATA_ENOMEM;
	tl->bg_running = 1;
	return 0;
}

void
tl_shutdown(struct timeline *tl, int cancel)
{
	enum tl_state st = atomic_load(&tl->state);

	if (st == TL_ACTIVE || st == TL_LOADING || st == TL_BROKEN)
		atomic_store(&tl->state, TL_STOPPING);
	if (tl->open && tl->open->bw)
	{
		/* drain what was acknowledged-to-be; cancel abandons the rest */
		if (!cancel)
		{
			bw_submit(tl->open->bw);
			wait_writer(tl, tl->open->end);
		}
		publish_written(tl);
	}
	pthread_mutex_lock(&tl->lock);
	tl->bg_stop = 1;
	pthread_cond_broadcast(&tl->cv);
	pthread_mutex_unlock(&tl->lock);
	if (tl->bg_running)
	{
		pthread_join(tl->bg, NULL);
		tl->bg_running = 0;
	}
	while (tl->ckpt_waiters)
	{
		struct bg_waiter *w = tl->ckpt_waiters;

		tl->ckpt_waiters = w->next;
		w->cb(tl, STRATA_ESHUTDOWN, w->arg);
		free(w);
	}
	if (tl->bg_ev)
		on_bg_done(-1, 0, tl);	/* the remaining waiters get ESHUTDOWN */
	if (tl->open)
	{
		struct inmem *m = tl->open;
		int			err;

		pthread_mutex_lock(&tl->lock);
		tl->open = NULL;
		pthread_mutex_unlock(&tl->lock);
		if (m->bw)
		{
			err = bw_close(m->bw, cancel);
			m->bw = NULL;
			if (err == STRATA_ECANCELLED)
				slog(SLOG_INFO, "timeline %s: unwritten changes abandoned at shutdown", tl->hex);
		}
		if (fdatasync(m->fd) != 0)
			slog(SLOG_WARNING, "timeline %s: fdatasync at shutdown failed: %m", tl->hex);
		inmem_free(m, 0);
	}
	atomic_store(&tl->state, TL_STOPPED);
	tl_unref(tl);
}

/* Size entries of the whole history at the newest LSN, for the directory. */
struct size_scan
{
	struct reldir *dir;
	int			err;
};

static int
scan_sizes_cb(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	struct size_scan *ss = arg;
	struct proto_rel r;
	uint64_t	n;

	if (!is_size_key(key))
		return 0;
	if (value_get_size(val, len, &n) != 0)
	{
		ss->err = STRATA_ECORRUPT;
		return 1;
	}
	key_to_rel(key, &r, NULL);
	if (reldir_put(ss->dir, &r, lsn, n) != 0)
	{
		ss->err = STRATA_ENOMEM;
		return 1;
	}
	return 0;
}

static int
cmp_fork_key(const void *a, const void *b)
{
	return memcmp(((const struct tl_fork *) a)->key, ((const struct tl_fork *) b)->key, KEY_SIZE);
}

static int
cmp_layer_start_asc(const void *a, const void *b)
{
	const struct tl_layer *x = *(struct tl_layer *const *) a;
	const struct tl_layer *y = *(struct tl_layer *const *) b;

	if (x->d.lsn_start != y->d.lsn_start)
		return x->d.lsn_start < y->d.lsn_start ? -1 : 1;
	return x->d.kind == LAYER_IMAGE ? 1 : -1;
}

/* Size entries of an in-memory layer at or below upto. */
static void
inmem_sizes(struct reldir *dir, struct inmem *m, lsn_t upto)
{
	for (uint32_t b = 0; b < m->nbuckets; b++)
		for (struct inmem_key *k = m->buckets[b]; k; k = k->hnext)
		{
			const struct inmem_version *v;

			if (is_size_key(k->key) && (v = inmem_at(m, k, upto, 0)) != NULL)
			{
				struct proto_rel r;

				key_to_rel(k->key, &r, NULL);
				(void) reldir_put(dir, &r, v->lsn, v->size == UINT32_MAX ? VAL_NOT_EXISTS : v->size);
			}
		}
}

/*
 * Every fork's newest size entry at or below upto: the ancestor's at the
 * branch point, then ours.  Layers can overlap in LSN (an L1 over an
 * image), so entries are kept by LSN, not by visiting order; an image
 * drops the older entries of its key range that it does not contain.
 * Layers are visited by start LSN, so no later one holds entries older
 * than an image already applied.
 */
static int
build_reldir_rec(struct reldir *dir, struct timeline *src, lsn_t upto, int include_open)
{
	struct tl_snapshot *s;
	struct tl_layer **order;
	struct size_scan ss = {dir, 0};
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];
	int			err = 0;

	if (src->ancestor &&
		(err = build_reldir_rec(dir, src->ancestor,
								upto < src->ancestor_lsn ? upto : src->ancestor_lsn, 0)) != 0)
		return err;
	memset(lo, 0, KEY_SIZE);
	memset(hi, 0xFF, KEY_SIZE);
	s = tl_snapshot_get(src);
	order = malloc((s->nlayers ? s->nlayers : 1) * sizeof(*order));
	if (order == NULL)
	{
		tl_snapshot_put(s);
		return STRATA_ENOMEM;
	}
	memcpy(order, s->layers, s->nlayers * sizeof(*order));
	qsort(order, s->nlayers, sizeof(*order), cmp_layer_start_asc);
	for (uint32_t i = 0; i < s->nlayers && err == 0; i++)
	{
		struct tl_layer *l = order[i];

		if (l->d.lsn_start > upto)
			continue;
		if (l->d.kind == LAYER_IMAGE)
		{
			for (uint32_t b = 0; b < dir->nbuckets; b++)
				for (struct reldir_ent *e = dir->b[b]; e; e = e->next)
				{
					uint8_t		k[KEY_SIZE];

					rel_key(&e->rel, KEY_BLK_SIZE, k);
					if (e->lsn < l->d.lsn_start && memcmp(k, l->d.key_start, KEY_SIZE) >= 0 &&
						memcmp(k, l->d.key_end, KEY_SIZE) < 0)
					{
						e->lsn = l->d.lsn_start;
						e->dropped = 1;
					}
				}
		}
		err = layer_scan(l->f, lo, hi, upto == LSN_MAX ? LSN_MAX : upto + 1, scan_sizes_cb, &ss);
		if (err == 0)
			err = ss.err;
	}
	for (uint32_t i = s->nfrozen; i > 0 && err == 0; i--)
		inmem_sizes(dir, s->frozen[i - 1], upto);
	if (err == 0 && include_open && src->open)
		inmem_sizes(dir, src->open, upto);
	free(order);
	tl_snapshot_put(s);
	return err;
}

static int
build_reldir(struct reldir *dir, struct timeline *src, lsn_t upto, int include_open)
{
	int			err = build_reldir_rec(dir, src, upto, include_open);

	if (err == 0)
		reldir_purge_dropped(dir);
	return err;
}

int
tl_live_forks(struct timeline *tl, lsn_t lsn, struct tl_fork **out, uint32_t *n)
{
	struct reldir *dir = reldir_new();
	struct tl_fork *a;
	uint32_t	j = 0;
	int			err;

	if (dir == NULL)
		return STRATA_ENOMEM;
	if ((err = build_reldir(dir, tl, lsn, 0)) != 0)
	{
		reldir_free(dir);
		return err;
	}
	if ((a = malloc((dir->n ? dir->n : 1) * sizeof(*a))) == NULL)
	{
		reldir_free(dir);
		return STRATA_ENOMEM;
	}
	for (uint32_t i = 0; i < dir->nbuckets; i++)
		for (struct reldir_ent *e = dir->b[i]; e; e = e->next)
		{
			rel_key(&e->rel, KEY_BLK_SIZE, a[j].key);
			a[j++].nblocks = e->nblocks;
		}
	qsort(a, j, sizeof(*a), cmp_fork_key);
	reldir_free(dir);
	*out = a;
	*n = j;
	return 0;
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

	s = snap_alloc(0, mf->nlayers);
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
	snap_sort(s);
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
			if (unlink(path) != 0)
				slog(SLOG_WARNING, "could not remove \"%s\": %m", path);
		}
	}
	closedir(d);
	if (err != 0)
		return err;
	qsort(logs, nlogs, sizeof(*logs), cmp_name);
	/* replay: older logs become frozen layers, the newest stays open */
	for (uint32_t i = 0; i < nlogs; i++)
	{
		char		path[PATH_MAX];
		struct inmem *m;
		int			last = i + 1 == nlogs;

		snprintf(path, sizeof(path), "%s/%s", tl->dir, logs[i]);
		if ((err = inmem_open_log(path, tl->tenant_id, tl->id, tl->disk_consistent_lsn, last,
								  tl->conf.bufsize, writer_notify, tl, &m)) != 0)
			break;
		if (!last)
		{
			if (m->nversions == 0)
			{
				inmem_free(m, 1);
				continue;
			}
			if ((err = tl_modify_snapshot(tl, m, NULL, NULL, 0, NULL, 0)) != 0)
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
								writer_notify, tl, &tl->open)) != 0)
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
	if ((err = build_reldir(tl->reldir, tl, LSN_MAX, 1)) != 0)
	{
		slog(SLOG_ERROR, "timeline %s: could not build its relation directory: %s", tl->hex,
			 strata_strerror(err));
		return err;
	}
	if ((err = start_bg(tl)) != 0)
		return err;
	atomic_store(&tl->state, TL_ACTIVE);
	return 0;
}

int
tl_create(const char *dir, const uint8_t tenant[16], const uint8_t id[16],
		  struct timeline *ancestor, lsn_t ancestor_lsn, uint32_t generation,
		  const struct tl_conf *conf, struct event_base *base, struct timeline **out)
{
	struct timeline *tl;
	int			err;

	if (mkdir(dir, 0700) != 0)
	{
		slog(SLOG_ERROR, "could not create timeline directory \"%s\": %m", dir);
		return errno == EEXIST ? STRATA_EEXIST : errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
	}
	if ((tl = tl_alloc(dir, tenant, id, conf, base)) == NULL)
	{
		(void) rmdir(dir);
		return STRATA_ENOMEM;
	}
	tl->generation = generation;
	if (ancestor)
	{
		tl_ref(ancestor);
		tl->ancestor = ancestor;
		tl->ancestor_lsn = ancestor_lsn;
	}
	if ((err = tl_save_manifest(tl, NULL, 0, 0, 0)) != 0 || (err = tl_finish_open(tl)) != 0)
	{
		tl_free(tl);
		(void) tl_remove_dir(dir);
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
		if (unlink(path) != 0)
		{
			slog(SLOG_WARNING, "could not remove \"%s\": %m", path);
			err = STRATA_EIO;
		}
	}
	closedir(d);
	if (rmdir(dir) != 0)
	{
		slog(SLOG_WARNING, "could not remove directory \"%s\": %m", dir);
		err = STRATA_EIO;
	}
	return err;
}
