/*-------------------------------------------------------------------------
 *
 * store_index.c
 *	  The page log's in-memory index: per relation fork, a version list of
 *	  its size and one per block, ascending by LSN (see store.c).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "strata_err.h"

/* ---------- version lists ---------- */

int
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
const struct version *
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

lsn_t
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

struct fork *
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

struct fork *
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

uint64_t
fork_size_at(const struct fork *f, lsn_t lsn)
{
	const struct version *v = f ? vlist_at(&f->size, lsn) : NULL;

	return v ? v->val : SIZE_NONE;
}

int
fork_exists(const struct fork *f)
{
	return fork_size_at(f, LSN_MAX) != SIZE_NONE;
}

struct vlist *
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
int
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

void
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

