/*-------------------------------------------------------------------------
 *
 * reldir.c
 *	  The relation directory (reldir.h): a hash table of fork sizes, and
 *	  its construction from a timeline's history at load time.
 *
 *-------------------------------------------------------------------------
 */
#include "reldir.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "strata_err.h"
#include "timeline.h"
#include "value.h"

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

struct reldir *
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

void
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

struct reldir_ent *
reldir_find(struct reldir *d, const struct proto_rel *r)
{
	for (struct reldir_ent *e = d->b[rel_hash(r) & (d->nbuckets - 1)]; e; e = e->next)
		if (rel_eq(&e->rel, r))
			return e;
	return NULL;
}

/* Set (nblocks) or remove (VAL_NOT_EXISTS) a fork. */
int
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
int
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

void
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

void
reldir_key_to_rel(const uint8_t key[KEY_SIZE], struct proto_rel *r, uint32_t *blk)
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

void
reldir_key(const struct proto_rel *r, uint32_t blk, uint8_t out[KEY_SIZE])
{
	struct strata_key k = key_block(r->spc, r->db, r->rel, r->fork, blk);

	key_encode(&k, out);
}

int
reldir_is_size_key(const uint8_t key[KEY_SIZE])
{
	return key[0] == KEY_F1_REL && get_be32(key + KEY_SIZE - 4) == KEY_BLK_SIZE;
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

	if (!reldir_is_size_key(key))
		return 0;
	if (value_get_size(val, len, &n) != 0)
	{
		ss->err = STRATA_ECORRUPT;
		return 1;
	}
	reldir_key_to_rel(key, &r, NULL);
	if (reldir_put(ss->dir, &r, lsn, n) != 0)
	{
		ss->err = STRATA_ENOMEM;
		return 1;
	}
	return 0;
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

			if (reldir_is_size_key(k->key) && (v = inmem_at(m, k, upto, 0)) != NULL)
			{
				struct proto_rel r;

				reldir_key_to_rel(k->key, &r, NULL);
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
reldir_build_rec(struct reldir *dir, struct timeline *src, lsn_t upto, int include_open)
{
	struct tl_snapshot *s;
	struct tl_layer **order;
	struct size_scan ss = {dir, 0};
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];
	int			err = 0;

	if (src->ancestor &&
		(err = reldir_build_rec(dir, src->ancestor,
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

					reldir_key(&e->rel, KEY_BLK_SIZE, k);
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

int
reldir_build(struct reldir *dir, struct timeline *src, lsn_t upto, int include_open)
{
	int			err = reldir_build_rec(dir, src, upto, include_open);

	if (err == 0)
		reldir_purge_dropped(dir);
	return err;
}
