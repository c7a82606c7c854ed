/*-------------------------------------------------------------------------
 *
 * tl_read.c
 *	  Reads through a timeline's layer stack (timeline.h): the open layer,
 *	  then a pinned snapshot's frozen layers and layer files, then the
 *	  ancestors up to the branch point.  Point reads, the vectored page
 *	  reads of the page service (tl_pages_begin on the loop, tl_pages_finish
 *	  on any thread), fork sizes and the forks alive at an older LSN.
 *
 *-------------------------------------------------------------------------
 */
#include "timeline_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "reldir.h"
#include "slog.h"
#include "strata_err.h"
#include "value.h"


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
	reldir_key(rel, KEY_BLK_SIZE, key);
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
			reldir_key(&x->rel, KEY_BLK_SIZE, key);
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
			reldir_key(&x->rel, x->blk, key);
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

/*
 * Each reading thread keeps its value buffers between batches.  A key's
 * destructor frees them when a read worker exits (thread-local storage
 * alone would leak them).
 */
static __thread uint8_t (*tls_vals)[VAL_MAX];
static __thread uint32_t tls_nvals;
static pthread_key_t vals_key;
static pthread_once_t vals_once = PTHREAD_ONCE_INIT;

static void
free_vals(void *p)
{
	free(p);
}

static void
make_vals_key(void)
{
	if (pthread_key_create(&vals_key, free_vals) != 0)
		slog(SLOG_WARNING, "tl_read: no thread-exit hook: read buffers of exiting threads leak");
}

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
		pthread_once(&vals_once, make_vals_key);
		(void) pthread_setspecific(vals_key, tls_vals);
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
			reldir_key(&r[i].rel, KEY_BLK_SIZE, keys[m]);
			lsns[m] = r[i].lsn;
			bufs[m] = tls_vals[m];
			m++;
		}
		if (r[i].need & TL_NEED_PAGE)
		{
			reldir_key(&r[i].rel, r[i].blk, keys[m]);
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

static int
cmp_fork_key(const void *a, const void *b)
{
	return memcmp(((const struct tl_fork *) a)->key, ((const struct tl_fork *) b)->key, KEY_SIZE);
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
	if ((err = reldir_build(dir, tl, lsn, 0)) != 0)
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
			reldir_key(&e->rel, KEY_BLK_SIZE, a[j].key);
			a[j++].nblocks = e->nblocks;
		}
	qsort(a, j, sizeof(*a), cmp_fork_key);
	reldir_free(dir);
	*out = a;
	*n = j;
	return 0;
}
