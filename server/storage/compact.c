/*-------------------------------------------------------------------------
 *
 * compact.c
 *	  A timeline's background work (timeline_internal.h): flushing frozen
 *	  layers to L0 deltas, L0 -> L1 compaction, image layers and GC.
 *
 * Every job writes its new files durably first (layer.h publishes with
 * temp, fsync, rename, directory fsync), then the manifest naming the new
 * set, then swaps the snapshot (RCU); replaced files are removed when the
 * last snapshot using them goes (I14, I16).  A crash between the steps
 * leaves either the old manifest (new files unlisted: removed at load) or
 * the new one (old files unlisted: removed at load).  Reads at retained
 * LSNs never change (I17); with conf.gc_verify each job checks it.
 *
 * An L0 is a delta over the whole key space (one flushed in-memory layer);
 * L1 deltas have narrower key ranges.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bytes.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"
#include "timeline_internal.h"
#include "value.h"

static const uint8_t KEY_LO[KEY_SIZE] = {0};
static const uint8_t KEY_HI[KEY_SIZE] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
};

/* The end of an L1 range that reaches the end: every real key sorts below. */
static const uint8_t KEY_L1_END[KEY_SIZE] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE
};

static int
is_l0(const struct tl_layer *l)
{
	return l->d.kind == LAYER_DELTA && memcmp(l->d.key_start, KEY_LO, KEY_SIZE) == 0 &&
		memcmp(l->d.key_end, KEY_HI, KEY_SIZE) == 0;
}

static int
stopping(struct timeline *tl)
{
	return atomic_load(&tl->state) != TL_ACTIVE;
}

/* The current layers plus add minus drop, for a manifest. */
static int
layer_list(struct tl_snapshot *s, struct tl_layer **add, uint32_t nadd, struct tl_layer **drop,
		   uint32_t ndrop, struct tl_layer ***out, uint32_t *n)
{
	struct tl_layer **a = malloc((s->nlayers + nadd + 1) * sizeof(*a));
	uint32_t	j = 0;

	if (a == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < s->nlayers; i++)
	{
		int			dropped = 0;

		for (uint32_t k = 0; k < ndrop && !dropped; k++)
			dropped = s->layers[i] == drop[k];
		if (!dropped)
			a[j++] = s->layers[i];
	}
	for (uint32_t i = 0; i < nadd; i++)
		a[j++] = add[i];
	*out = a;
	*n = j;
	return 0;
}

/*
 * Publish a job's result: manifest first, then the snapshot.  On failure
 * the new files are removed and the old state stays.
 */
static int
publish(struct timeline *tl, struct inmem *drop_frozen, struct tl_layer **add, uint32_t nadd,
		struct tl_layer **drop, uint32_t ndrop, lsn_t dcl, lsn_t cutoff)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	struct tl_layer **list;
	uint32_t	n;
	int			err;

	err = layer_list(s, add, nadd, drop, ndrop, &list, &n);
	tl_snapshot_put(s);
	if (err == 0)
	{
		err = tl_save_manifest(tl, list, n, dcl, cutoff);
		free(list);
	}
	if (err == 0)
	{
		fs_kill_point("publish-after-manifest");
		err = tl_modify_snapshot(tl, NULL, drop_frozen, add, nadd, drop, ndrop);
	}
	if (err != 0)
	{
		for (uint32_t i = 0; i < nadd; i++)
		{
			atomic_store(&add[i]->remove, 1);
			tl_layer_unref(add[i]);
		}
		return err;
	}
	pthread_mutex_lock(&tl->lock);
	tl->disk_consistent_lsn = dcl;
	tl->gc_cutoff = cutoff;
	pthread_mutex_unlock(&tl->lock);
	return 0;
}

/*
 * A job whose output would have a live layer's name (same kind, ranges
 * and generation: e.g. a gc-compaction whose inputs are one L1 and images
 * at its start) is dropped, not published: replacing the file would let
 * the old layer's removal unlink the new one.  Nothing is lost, the job
 * just does not happen.
 */
static int
skip_if_exists(struct timeline *tl, int err, const char *job)
{
	if (err != STRATA_EEXIST)
		return err;
	slog(SLOG_INFO, "timeline %s: %s skipped: its output would replace a layer file",
		 tl->hex, job);
	return 0;
}

/* Finish a writer and open the result as a layer of tl. */
static int
finish_layer(struct timeline *tl, struct layer_writer *w, const uint8_t ks[KEY_SIZE],
			 const uint8_t ke[KEY_SIZE], lsn_t ls, lsn_t le, struct tl_layer **out)
{
	struct layer_desc d;
	char		name[128];
	int			err;

	if ((err = layer_writer_finish(w, ks, ke, ls, le, &d, name, sizeof(name))) != 0)
		return err;
	if ((*out = tl_layer_open(tl, name)) == NULL)
	{
		slog(SLOG_ERROR, "timeline %s: could not open the layer file \"%s\" just written",
			 tl->hex, name);
		return STRATA_EIO;
	}
	return 0;
}

/* ---------- flush ---------- */

int
compact_flush_frozen(struct timeline *tl)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	struct inmem *m;
	struct inmem_key **keys = NULL;
	uint32_t	nkeys = 0;
	struct layer_writer *w = NULL;
	struct tl_layer *l = NULL;
	uint8_t		val[VAL_MAX];
	lsn_t		cutoff;
	int			err;

	if (s->nfrozen == 0)
	{
		tl_snapshot_put(s);
		return 0;
	}
	m = s->frozen[s->nfrozen - 1];	/* the oldest */
	if ((err = inmem_sorted_keys(m, &keys, &nkeys)) != 0)
		goto out;
	if (m->nversions > 0)
	{
		if ((err = layer_writer_begin(tl->dir, LAYER_DELTA, tl->tenant_id, tl->id,
									  tl->generation, &w)) != 0)
			goto out;
		for (uint32_t i = 0; i < nkeys && err == 0; i++)
			for (uint32_t v = 0; v < keys[i]->n && err == 0; v++)
			{
				int			n = inmem_read_value(m, &keys[i]->v[v], val);

				if (n < 0)
					err = n;
				else
					err = layer_writer_add(w, keys[i]->key, keys[i]->v[v].lsn, val, (uint32_t) n);
			}
		if (err == 0 && stopping(tl))
			err = STRATA_ECANCELLED;
		if (err != 0)
		{
			layer_writer_abort(w);
			goto out;
		}
		err = finish_layer(tl, w, KEY_LO, KEY_HI, m->lsn_start, m->lsn_end, &l);
		if (err != 0)
			goto out;
		fs_kill_point("flush-after-layer");
	}
	cutoff = tl_gc_cutoff(tl);
	err = publish(tl, m, l ? &l : NULL, l ? 1 : 0, NULL, 0, m->lsn_end, cutoff);
	if (err == 0)
	{
		atomic_fetch_add(&tl->flushes, 1);
		slog(SLOG_INFO, "timeline %s: flushed an in-memory layer (%llu versions) to %s",
			 tl->hex, (unsigned long long) m->nversions, l ? l->name : "nothing");
	}
out:
	if (err != 0 && err != STRATA_ECANCELLED)
		slog(SLOG_ERROR, "timeline %s: flushing an in-memory layer failed: %s", tl->hex,
			 strata_strerror(err));
	free(keys);
	tl_snapshot_put(s);
	return err;
}

/* ---------- L0 -> L1 ---------- */

struct entry
{
	uint8_t		key[KEY_SIZE];
	lsn_t		lsn;
	uint32_t	len;
	uint8_t    *val;			/* NULL in the sizing pass */
};

struct entries
{
	struct entry *e;
	uint64_t	n;
	uint64_t	cap;
	int			keep_values;
	int			err;
};

static int
collect(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	struct entries *es = arg;
	struct entry *e;

	if (es->n == es->cap)
	{
		uint64_t	cap = es->cap ? es->cap * 2 : 1024;
		struct entry *ne = realloc(es->e, cap * sizeof(*ne));

		if (ne == NULL)
		{
			es->err = STRATA_ENOMEM;
			return 1;
		}
		es->e = ne;
		es->cap = cap;
	}
	e = &es->e[es->n];
	memcpy(e->key, key, KEY_SIZE);
	e->lsn = lsn;
	e->len = len;
	e->val = NULL;
	if (es->keep_values)
	{
		if ((e->val = malloc(len)) == NULL)
		{
			es->err = STRATA_ENOMEM;
			return 1;
		}
		memcpy(e->val, val, len);
	}
	es->n++;
	return 0;
}

static void
entries_free(struct entries *es)
{
	for (uint64_t i = 0; i < es->n; i++)
		free(es->e[i].val);
	free(es->e);
	memset(es, 0, sizeof(*es));
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a;
	const struct entry *y = b;
	int			c = memcmp(x->key, y->key, KEY_SIZE);

	if (c != 0)
		return c;
	return x->lsn < y->lsn ? -1 : x->lsn > y->lsn;
}

static int
cmp_layer_start(const void *a, const void *b)
{
	const struct tl_layer *x = *(struct tl_layer *const *) a;
	const struct tl_layer *y = *(struct tl_layer *const *) b;

	return x->d.lsn_start < y->d.lsn_start ? -1 : x->d.lsn_start > y->d.lsn_start;
}


/* Layer files written but not published: removed with their last reference. */
static void
drop_unpublished(struct tl_layer **out, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
	{
		atomic_store(&out[i]->remove, 1);
		tl_layer_unref(out[i]);
	}
}

int
compact_l0(struct timeline *tl, int force)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	struct tl_layer **l0 = NULL;
	struct tl_layer **out = NULL;
	uint32_t	nl0 = 0;
	uint32_t	nout = 0;
	struct entries es;
	uint8_t   (*cuts)[KEY_SIZE] = NULL;
	uint32_t	ncuts = 0;
	lsn_t		ls = LSN_MAX;
	lsn_t		le = 0;
	int			err = 0;

	memset(&es, 0, sizeof(es));
	l0 = malloc((s->nlayers + 1) * sizeof(*l0));
	if (l0 == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->nlayers; i++)
		if (is_l0(s->layers[i]))
			l0[nl0++] = s->layers[i];
	if (nl0 < (force ? 2 : tl->conf.compaction_threshold) || nl0 < 2)
		goto out;
	qsort(l0, nl0, sizeof(*l0), cmp_layer_start);
	for (uint32_t i = 0; i < nl0; i++)
	{
		if (l0[i]->d.lsn_start < ls)
			ls = l0[i]->d.lsn_start;
		if (l0[i]->d.lsn_end > le)
			le = l0[i]->d.lsn_end;
	}

	/* pass 1: sizes only, to cut the output into target-sized key ranges */
	for (uint32_t i = 0; i < nl0 && err == 0; i++)
	{
		err = layer_scan(l0[i]->f, KEY_LO, KEY_HI, LSN_MAX, collect, &es);
		if (err == 0)
			err = es.err;
	}
	if (err != 0)
		goto out;
	qsort(es.e, es.n, sizeof(*es.e), cmp_entry);
	cuts = malloc((es.n + 2) * sizeof(*cuts));
	if (cuts == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	memcpy(cuts[ncuts++], KEY_LO, KEY_SIZE);
	{
		uint64_t	acc = 0;

		for (uint64_t i = 0; i < es.n; i++)
		{
			/* cut only between keys: all versions of a key stay together */
			if (acc >= tl->conf.target_layer_bytes && i > 0 &&
				memcmp(es.e[i].key, es.e[i - 1].key, KEY_SIZE) != 0)
			{
				memcpy(cuts[ncuts++], es.e[i].key, KEY_SIZE);
				acc = 0;
			}
			acc += es.e[i].len + 40;
		}
	}
	memcpy(cuts[ncuts++], KEY_L1_END, KEY_SIZE);
	entries_free(&es);

	out = calloc(ncuts, sizeof(*out));
	if (out == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	/* pass 2: one key range at a time, every L0 visited once per range */
	for (uint32_t c = 0; c + 1 < ncuts && err == 0; c++)
	{
		struct layer_writer *w;

		es.keep_values = 1;
		for (uint32_t i = 0; i < nl0 && err == 0; i++)
		{
			err = layer_scan(l0[i]->f, cuts[c], cuts[c + 1], LSN_MAX, collect, &es);
			if (err == 0)
				err = es.err;
		}
		if (err == 0 && stopping(tl))
			err = STRATA_ECANCELLED;
		if (err != 0 || es.n == 0)
		{
			entries_free(&es);
			continue;
		}
		qsort(es.e, es.n, sizeof(*es.e), cmp_entry);
		if ((err = layer_writer_begin(tl->dir, LAYER_DELTA, tl->tenant_id, tl->id,
									  tl->generation, &w)) == 0)
		{
			for (uint64_t i = 0; i < es.n && err == 0; i++)
				err = layer_writer_add(w, es.e[i].key, es.e[i].lsn, es.e[i].val, es.e[i].len);
			if (err != 0)
				layer_writer_abort(w);
			else
				err = finish_layer(tl, w, cuts[c], cuts[c + 1], ls, le, &out[nout]);
			if (err == 0)
				nout++;
		}
		entries_free(&es);
	}
	if (err == 0)
	{
		fs_kill_point("compact-before-publish");
		err = publish(tl, NULL, out, nout, l0, nl0, tl_disk_consistent_lsn(tl), tl_gc_cutoff(tl));
		if (err == 0)
		{
			atomic_fetch_add(&tl->compactions, 1);
			slog(SLOG_INFO, "timeline %s: compacted %u L0 layers into %u L1 layers", tl->hex,
				 nl0, nout);
		}
		nout = 0;				/* published, or removed by publish() */
	}
out:
	drop_unpublished(out, nout);
	err = skip_if_exists(tl, err, "compaction");
	if (err != 0 && err != STRATA_ECANCELLED)
		slog(SLOG_ERROR, "timeline %s: compaction failed: %s", tl->hex, strata_strerror(err));
	entries_free(&es);
	free(cuts);
	free(out);
	free(l0);
	tl_snapshot_put(s);
	return err;
}

/* ---------- image layers ---------- */

/* Number of deltas newer than the newest image (the read depth). */
static uint32_t
delta_depth(struct tl_snapshot *s, lsn_t *newest_image)
{
	uint32_t	n = 0;
	lsn_t		img = 0;

	for (uint32_t i = 0; i < s->nlayers; i++)
		if (s->layers[i]->d.kind == LAYER_IMAGE && s->layers[i]->d.lsn_start > img)
			img = s->layers[i]->d.lsn_start;
	for (uint32_t i = 0; i < s->nlayers; i++)
		if (s->layers[i]->d.kind == LAYER_DELTA && s->layers[i]->d.lsn_end - 1 > img)
			n++;
	*newest_image = img;
	return n;
}

int
compact_images(struct timeline *tl, int force)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	struct tl_fork *forks = NULL;
	uint32_t	nforks = 0;
	struct tl_layer **out = NULL;
	uint32_t	nout = 0;
	uint32_t	cap = 0;
	struct layer_writer *w = NULL;
	uint8_t		start[KEY_SIZE];
	uint8_t		val[VAL_MAX];
	uint32_t	vlen;
	lsn_t		img;
	lsn_t		at;
	uint32_t	depth = delta_depth(s, &img);
	int			err = 0;

	at = tl_disk_consistent_lsn(tl);
	if (at == 0 || depth == 0 || (!force && depth < tl->conf.image_threshold))
		goto out;
	at -= 1;					/* everything at or below is in layer files */
	if (at <= img)
		goto out;
	if ((err = tl_live_forks(tl, at, &forks, &nforks)) != 0)
		goto out;
	memcpy(start, KEY_LO, KEY_SIZE);
	for (uint32_t f = 0; f <= nforks && err == 0; f++)
	{
		/* cut between forks once the current file is big enough */
		if (w && (f == nforks || layer_writer_size(w) >= tl->conf.target_layer_bytes))
		{
			const uint8_t *end = f == nforks ? KEY_HI : NULL;
			uint8_t		first_of_next[KEY_SIZE];

			if (end == NULL)
			{
				struct strata_key k;

				key_decode(forks[f].key, &k);
				k.blk = 0;
				key_encode(&k, first_of_next);
				end = first_of_next;
			}
			if (nout == cap)
			{
				struct tl_layer **no;

				cap = cap ? cap * 2 : 4;
				if ((no = realloc(out, cap * sizeof(*out))) == NULL)
				{
					layer_writer_abort(w);
					err = STRATA_ENOMEM;
					break;
				}
				out = no;
			}
			err = finish_layer(tl, w, start, end, at, at + 1, &out[nout]);
			w = NULL;
			if (err != 0)
				break;
			nout++;
			memcpy(start, end, KEY_SIZE);
		}
		if (f == nforks)
			break;
		if (stopping(tl))
		{
			err = STRATA_ECANCELLED;
			break;
		}
		if (w == NULL && (err = layer_writer_begin(tl->dir, LAYER_IMAGE, tl->tenant_id, tl->id,
												   tl->generation, &w)) != 0)
			break;
		/* blocks in key order, then the size entry (blk 0xFFFFFFFF sorts last) */
		for (uint32_t b = 0; b < forks[f].nblocks && err == 0; b++)
		{
			struct strata_key k;
			uint8_t		key[KEY_SIZE];

			key_decode(forks[f].key, &k);
			k.blk = b;
			key_encode(&k, key);
			err = tl_read_snap(tl, s, key, at, val, &vlen);
			if (err == 0)
				err = layer_writer_add(w, key, at, val, vlen);
		}
		if (err == 0)
		{
			vlen = value_put_size(val, forks[f].nblocks);
			err = layer_writer_add(w, forks[f].key, at, val, vlen);
		}
		if (err != 0)
		{
			layer_writer_abort(w);
			w = NULL;
		}
	}
	if (err != 0 && w != NULL)
	{
		layer_writer_abort(w);
		w = NULL;
	}
	if (err == 0 && w == NULL && nout == 0)
	{
		/* nothing lives: an empty image still settles the key space */
		if ((err = layer_writer_begin(tl->dir, LAYER_IMAGE, tl->tenant_id, tl->id,
									  tl->generation, &w)) == 0)
		{
			out = malloc(sizeof(*out));
			if (out == NULL)
			{
				layer_writer_abort(w);
				err = STRATA_ENOMEM;
			}
			else if ((err = finish_layer(tl, w, KEY_LO, KEY_HI, at, at + 1, &out[0])) == 0)
				nout = 1;
		}
	}
	if (err == 0)
	{
		err = publish(tl, NULL, out, nout, NULL, 0, tl_disk_consistent_lsn(tl), tl_gc_cutoff(tl));
		if (err == 0)
		{
			atomic_fetch_add(&tl->images_created, nout);
			slog(SLOG_INFO, "timeline %s: created %u image layers at %llX", tl->hex, nout,
				 (unsigned long long) at);
		}
		nout = 0;
	}
out:
	drop_unpublished(out, nout);
	err = skip_if_exists(tl, err, "image layer creation");
	if (err != 0 && err != STRATA_ECANCELLED)
		slog(SLOG_ERROR, "timeline %s: image layer creation failed: %s", tl->hex,
			 strata_strerror(err));
	free(out);
	free(forks);
	tl_snapshot_put(s);
	return err;
}

/* ---------- GC ---------- */

/* Whether images at exactly lsn c cover [ks, ke). */
static int
images_cover(struct tl_snapshot *s, lsn_t c, const uint8_t ks[KEY_SIZE], const uint8_t ke[KEY_SIZE])
{
	uint8_t		pos[KEY_SIZE];
	int			progress = 1;

	memcpy(pos, ks, KEY_SIZE);
	while (memcmp(pos, ke, KEY_SIZE) < 0 && progress)
	{
		progress = 0;
		for (uint32_t i = 0; i < s->nlayers; i++)
		{
			struct tl_layer *l = s->layers[i];

			if (l->d.kind == LAYER_IMAGE && l->d.lsn_start == c &&
				memcmp(l->d.key_start, pos, KEY_SIZE) <= 0 &&
				memcmp(l->d.key_end, pos, KEY_SIZE) > 0)
			{
				memcpy(pos, l->d.key_end, KEY_SIZE);
				progress = 1;
				break;
			}
		}
	}
	return memcmp(pos, ke, KEY_SIZE) >= 0;
}

/* Compare reads of every key of the dropped layers before and after. */
static int
verify_gc(struct timeline *tl, struct tl_snapshot *before, struct tl_layer **drop, uint32_t ndrop,
		  lsn_t cutoff)
{
	struct tl_snapshot *after = tl_snapshot_alloc(0, before->nlayers);
	struct entries es;
	int			err = 0;

	if (after == NULL)
		return STRATA_ENOMEM;
	memset(&es, 0, sizeof(es));
	for (uint32_t i = 0; i < before->nlayers; i++)
	{
		int			dropped = 0;

		for (uint32_t k = 0; k < ndrop && !dropped; k++)
			dropped = before->layers[i] == drop[k];
		if (!dropped)
		{
			atomic_fetch_add(&before->layers[i]->refs, 1);
			after->layers[after->nlayers++] = before->layers[i];
		}
	}
	tl_snapshot_sort(after);
	for (uint32_t i = 0; i < ndrop && err == 0; i++)
	{
		err = layer_scan(drop[i]->f, KEY_LO, KEY_HI, LSN_MAX, collect, &es);
		if (err == 0)
			err = es.err;
	}
	for (uint64_t i = 0; i < es.n && err == 0; i++)
	{
		lsn_t		at[2] = {cutoff, tl_disk_consistent_lsn(tl) - 1};

		for (int j = 0; j < 2 && err == 0; j++)
		{
			uint8_t		v1[VAL_MAX];
			uint8_t		v2[VAL_MAX];
			uint32_t	l1 = 0;
			uint32_t	l2 = 0;
			int			e1 = tl_read_snap(tl, before, es.e[i].key, at[j], v1, &l1);
			int			e2 = tl_read_snap(tl, after, es.e[i].key, at[j], v2, &l2);

			if (e1 != e2 || (e1 == 0 && (l1 != l2 || memcmp(v1, v2, l1) != 0)))
			{
				slog(SLOG_ERROR, "timeline %s: GC verification failed: a key reads differently "
					 "at %llX after removing layers", tl->hex, (unsigned long long) at[j]);
				err = STRATA_EINTERNAL;
			}
		}
	}
	entries_free(&es);
	tl_snapshot_put(after);
	return err;
}

int
compact_gc(struct timeline *tl)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	struct tl_layer **drop = NULL;
	uint32_t	ndrop = 0;
	lsn_t		dcl = tl_disk_consistent_lsn(tl);
	lsn_t		cutoff = tl_gc_cutoff(tl);
	lsn_t		want;
	lsn_t	   *branches = NULL;
	uint32_t	nbranches;
	int			err = 0;

	/* retention; never past what layer files hold; monotonic */
	want = tl_retention_cutoff(tl, (int64_t) time(NULL));
	if (dcl > 0 && want > dcl - 1)
		want = dcl - 1;
	if (want > cutoff)
		cutoff = want;
	pthread_mutex_lock(&tl->lock);
	nbranches = tl->nbranches;
	branches = malloc((nbranches + 1) * sizeof(*branches));
	if (branches && nbranches > 0)
		memcpy(branches, tl->branches, nbranches * sizeof(*branches));
	pthread_mutex_unlock(&tl->lock);
	drop = malloc((s->nlayers + 1) * sizeof(*drop));
	if (drop == NULL || branches == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->nlayers; i++)
	{
		struct tl_layer *l = s->layers[i];
		lsn_t		covering = LSN_MAX;
		int			needed = 0;

		if (l->d.lsn_end - 1 > cutoff)
			continue;
		/* the oldest image set at or below the cutoff that covers l and is newer */
		for (uint32_t j = 0; j < s->nlayers; j++)
		{
			struct tl_layer *im = s->layers[j];

			if (im == l || im->d.kind != LAYER_IMAGE || im->d.lsn_start > cutoff ||
				im->d.lsn_start < l->d.lsn_end - 1 || (im->d.lsn_start == l->d.lsn_start &&
													   l->d.kind == LAYER_IMAGE))
				continue;
			if (im->d.lsn_start < covering && images_cover(s, im->d.lsn_start, l->d.key_start, l->d.key_end))
				covering = im->d.lsn_start;
		}
		if (covering == LSN_MAX)
			continue;
		/* a child reading at a branch point below the covering image needs l */
		for (uint32_t b = 0; b < nbranches && !needed; b++)
			needed = branches[b] >= l->d.lsn_start && branches[b] < covering;
		if (!needed)
			drop[ndrop++] = l;
	}
	if (tl->conf.gc_verify && ndrop > 0 && (err = verify_gc(tl, s, drop, ndrop, cutoff)) != 0)
		goto out;
	if (ndrop > 0 || cutoff != tl_gc_cutoff(tl))
	{
		err = publish(tl, NULL, NULL, 0, drop, ndrop, dcl, cutoff);
		if (err == 0 && ndrop > 0)
			slog(SLOG_INFO, "timeline %s: GC removed %u layers below %llX", tl->hex, ndrop,
				 (unsigned long long) cutoff);
	}
	if (err == 0)
	{
		atomic_fetch_add(&tl->gc_runs, 1);
		atomic_fetch_add(&tl->gc_layers_removed, ndrop);
	}
out:
	if (err != 0)
		slog(SLOG_ERROR, "timeline %s: GC failed: %s", tl->hex, strata_strerror(err));
	free(branches);
	free(drop);
	tl_snapshot_put(s);
	return err;
}

/* ---------- gc-compaction ---------- */

struct keyset
{
	uint8_t   (*k)[KEY_SIZE];
	uint64_t	n;
	uint64_t	cap;
	int			err;
};

static int
collect_key(const uint8_t key[KEY_SIZE], lsn_t lsn, uint32_t blob_len, void *arg)
{
	struct keyset *ks = arg;

	(void) lsn;
	(void) blob_len;
	if (ks->n > 0 && memcmp(ks->k[ks->n - 1], key, KEY_SIZE) == 0)
		return 0;				/* versions of one key come together */
	if (ks->n == ks->cap)
	{
		uint64_t	cap = ks->cap ? ks->cap * 2 : 1024;
		void	   *nk = realloc(ks->k, cap * KEY_SIZE);

		if (nk == NULL)
		{
			ks->err = STRATA_ENOMEM;
			return 1;
		}
		ks->k = nk;
		ks->cap = cap;
	}
	memcpy(ks->k[ks->n++], key, KEY_SIZE);
	return 0;
}

static int
cmp_key(const void *a, const void *b)
{
	return memcmp(a, b, KEY_SIZE);
}

static int
is_size(const uint8_t key[KEY_SIZE])
{
	return key[0] == KEY_F1_REL && get_be32(key + KEY_SIZE - 4) == KEY_BLK_SIZE;
}

/* Reads equal for the compute: a dropped size entry is as good as none. */
static int
same_read(const uint8_t key[KEY_SIZE], int e1, const uint8_t *v1, uint32_t l1, int e2,
		  const uint8_t *v2, uint32_t l2)
{
	int			gone1 = e1 == STRATA_ENOTFOUND || (e1 == 0 && is_size(key) && v1[0] == VAL_DROPPED);
	int			gone2 = e2 == STRATA_ENOTFOUND || (e2 == 0 && is_size(key) && v2[0] == VAL_DROPPED);

	if (gone1 || gone2)
		return gone1 && gone2;
	return e1 == e2 && (e1 != 0 || (l1 == l2 && memcmp(v1, v2, l1) == 0));
}

/*
 * Whether a block key is inside its relation at lsn: a block past the end
 * is never read (the size answers first), so its versions there do not
 * matter — and the rewrite does not keep hidden ones.
 */
static int
block_visible(struct timeline *tl, struct tl_snapshot *s, const uint8_t key[KEY_SIZE], lsn_t lsn)
{
	uint8_t		skey[KEY_SIZE];
	uint8_t		val[VAL_MAX];
	uint32_t	len;
	uint64_t	n;

	if (key[0] != KEY_F1_REL)
		return 1;
	memcpy(skey, key, KEY_SIZE);
	put_be32(skey + KEY_SIZE - 4, KEY_BLK_SIZE);
	if (tl_read_snap(tl, s, skey, lsn, val, &len) != 0 || value_get_size(val, len, &n) != 0 ||
		n == VAL_NOT_EXISTS)
		return 0;
	return get_be32(key + KEY_SIZE - 4) < n;
}

static struct tl_snapshot *
snap_of(struct tl_layer **layers, uint32_t n)
{
	struct tl_snapshot *s = tl_snapshot_alloc(0, n);

	if (s == NULL)
		return NULL;
	for (uint32_t i = 0; i < n; i++)
	{
		atomic_fetch_add(&layers[i]->refs, 1);
		s->layers[s->nlayers++] = layers[i];
	}
	tl_snapshot_sort(s);
	return s;
}

/*
 * gc-compaction: the layers wholly at or below a rewrite point x (the GC
 * cutoff, or lower where a kept layer starts below it) are rewritten into
 * delta layers that keep, per key, only the versions visible at a
 * retained LSN (each child's branch point below x, and x itself); every
 * other version goes.  An image's "absent means gone" is
 * kept as an explicit dropped size entry.  Timelines with an ancestor are
 * left alone (a key absent here would fall through to the ancestor).  With
 * gc_verify, every key reads the same before and after at every retained
 * LSN and the newest.
 */
int
compact_gc_rewrite(struct timeline *tl)
{
	struct tl_snapshot *s = tl_snapshot_get(tl);
	struct tl_snapshot *in = NULL;
	struct tl_snapshot *after = NULL;
	struct tl_layer **inputs = NULL;
	struct tl_layer **out = NULL;
	uint32_t	nin = 0;
	uint32_t	nout = 0;
	uint32_t	cap = 0;
	struct keyset ks = {0};
	lsn_t		cutoff = tl_gc_cutoff(tl);
	lsn_t	   *ret = NULL;
	uint32_t	nret = 0;
	lsn_t		ls = LSN_MAX;
	struct layer_writer *w = NULL;
	uint8_t		start[KEY_SIZE];
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];
	uint64_t	kept = 0;
	uint64_t	before_entries = 0;
	int			err = 0;

	memset(lo, 0, KEY_SIZE);
	memset(hi, 0xFF, KEY_SIZE);
	if (tl->ancestor || cutoff == 0)
		goto out;
	if ((inputs = malloc((s->nlayers + 1) * sizeof(*inputs))) == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}

	/*
	 * The rewrite point x <= cutoff: the inputs are the layers ending at or
	 * below x, and every other layer must start above x, so that no kept
	 * layer holds versions the inputs' images could hide (reads at x and
	 * above then see inputs and the rest side by side, unchanged).
	 */
	for (int changed = 1; changed && cutoff > 0;)
	{
		changed = 0;
		for (uint32_t i = 0; i < s->nlayers; i++)
			if (s->layers[i]->d.lsn_end - 1 > cutoff && s->layers[i]->d.lsn_start <= cutoff)
			{
				cutoff = s->layers[i]->d.lsn_start > 0 ? s->layers[i]->d.lsn_start - 1 : 0;
				changed = 1;
			}
	}
	if (cutoff == 0)
		goto out;
	for (uint32_t i = 0; i < s->nlayers; i++)
		if (s->layers[i]->d.lsn_end - 1 <= cutoff)
		{
			inputs[nin++] = s->layers[i];
			before_entries += layer_entries(s->layers[i]->f);
			if (s->layers[i]->d.lsn_start < ls)
				ls = s->layers[i]->d.lsn_start;
		}
	if (nin < 2 || (cutoff == tl->gc_rewrite_skip_lsn && nin == tl->gc_rewrite_skip_inputs))
		goto out;
	/* the retained LSNs below the cutoff, ascending, then the cutoff */
	pthread_mutex_lock(&tl->lock);
	ret = malloc((tl->nbranches + 1) * sizeof(*ret));
	for (uint32_t i = 0; ret && i < tl->nbranches; i++)
		if (tl->branches[i] < cutoff && (nret == 0 || ret[nret - 1] != tl->branches[i]))
			ret[nret++] = tl->branches[i];
	pthread_mutex_unlock(&tl->lock);
	if (ret == NULL || (in = snap_of(inputs, nin)) == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	ret[nret++] = cutoff;
	for (uint32_t i = 0; i < nin && err == 0; i++)
		if ((err = layer_scan_keys(inputs[i]->f, lo, hi, LSN_MAX, collect_key, &ks)) == 0)
			err = ks.err;
	if (err != 0)
		goto out;
	qsort(ks.k, ks.n, KEY_SIZE, cmp_key);
	memcpy(start, lo, KEY_SIZE);
	for (uint64_t i = 0; i < ks.n && err == 0; i++)
	{
		lsn_t		prev = 0;
		int			have_prev = 0;

		if (i > 0 && memcmp(ks.k[i], ks.k[i - 1], KEY_SIZE) == 0)
			continue;
		if (stopping(tl))
		{
			err = STRATA_ECANCELLED;
			break;
		}
		if (w && layer_writer_size(w) >= tl->conf.target_layer_bytes)
		{
			if (nout == cap)
			{
				struct tl_layer **no;

				cap = cap ? cap * 2 : 4;
				if ((no = realloc(out, cap * sizeof(*out))) == NULL)
				{
					err = STRATA_ENOMEM;
					break;
				}
				out = no;
			}
			err = finish_layer(tl, w, start, ks.k[i], ls, cutoff + 1, &out[nout]);
			w = NULL;
			if (err != 0)
				break;
			nout++;
			memcpy(start, ks.k[i], KEY_SIZE);
		}
		if (w == NULL && (err = layer_writer_begin(tl->dir, LAYER_DELTA, tl->tenant_id, tl->id,
												   tl->generation, &w)) != 0)
			break;
		for (uint32_t r = 0; r < nret && err == 0; r++)
		{
			uint8_t		val[VAL_MAX];
			uint32_t	vlen = 0;
			lsn_t		vlsn = 0;
			int			e = tl_read_snap_lsn(tl, in, ks.k[i], ret[r], val, &vlen, &vlsn);

			if (e == STRATA_ENOTFOUND)
			{
				/* gone at r (an image lacked it): say so for a size entry */
				if (have_prev && is_size(ks.k[i]) && prev < ret[r])
				{
					vlen = value_put_size(val, VAL_NOT_EXISTS);
					err = layer_writer_add(w, ks.k[i], ret[r], val, vlen);
					prev = ret[r];
					kept++;
				}
				continue;
			}
			if (e != 0)
			{
				err = e;
				break;
			}
			if (have_prev && vlsn <= prev)
				continue;		/* the same version as for the previous retained LSN */
			err = layer_writer_add(w, ks.k[i], vlsn, val, vlen);
			prev = vlsn;
			have_prev = 1;
			kept++;
		}
	}
	if (err == 0 && w)
	{
		if (nout == cap)
		{
			struct tl_layer **no = realloc(out, (cap + 1) * sizeof(*out));

			if (no == NULL)
				err = STRATA_ENOMEM;
			else
				out = no;
		}
		if (err == 0)
		{
			err = finish_layer(tl, w, start, KEY_L1_END, ls, cutoff + 1, &out[nout]);
			w = NULL;
			if (err == 0)
				nout++;
		}
	}
	if (w)
	{
		layer_writer_abort(w);
		w = NULL;
	}
	if (err != 0)
		goto out;
	if (tl->conf.gc_verify)
	{
		/* every key, every retained LSN and the newest: the same reads */
		struct tl_layer **rest = malloc((s->nlayers + nout + 1) * sizeof(*rest));
		uint32_t	nrest = 0;
		lsn_t		newest = tl_disk_consistent_lsn(tl) - 1;

		if (rest == NULL)
		{
			err = STRATA_ENOMEM;
			goto out;
		}
		for (uint32_t i = 0; i < s->nlayers; i++)
			if (s->layers[i]->d.lsn_end - 1 > cutoff)
				rest[nrest++] = s->layers[i];
		for (uint32_t i = 0; i < nout; i++)
			rest[nrest++] = out[i];
		after = snap_of(rest, nrest);
		free(rest);
		if (after == NULL)
		{
			err = STRATA_ENOMEM;
			goto out;
		}
		for (uint64_t i = 0; i < ks.n && err == 0; i++)
			for (uint32_t r = 0; r <= nret + 1 && err == 0; r++)
			{
				lsn_t		at = r < nret ? ret[r] : r == nret ? tl_gc_cutoff(tl) : newest;
				uint8_t		v1[VAL_MAX];
				uint8_t		v2[VAL_MAX];
				uint32_t	l1 = 0;
				uint32_t	l2 = 0;
				int			e1 = tl_read_snap(tl, s, ks.k[i], at, v1, &l1);
				int			e2 = tl_read_snap(tl, after, ks.k[i], at, v2, &l2);

				if (!is_size(ks.k[i]) && !block_visible(tl, s, ks.k[i], at))
					continue;	/* past its relation's end: never read */
				if (!same_read(ks.k[i], e1, v1, l1, e2, v2, l2))
				{
					slog(SLOG_ERROR, "timeline %s: gc-compaction verification failed: a key "
						 "reads differently at %llX (rewrite point %llX)", tl->hex,
						 (unsigned long long) at, (unsigned long long) cutoff);
					err = STRATA_EINTERNAL;
				}
			}
		if (err != 0)
			goto out;
	}
	err = publish(tl, NULL, out, nout, inputs, nin, tl_disk_consistent_lsn(tl), tl_gc_cutoff(tl));
	if (err == 0)
		atomic_fetch_add(&tl->gc_rewrites, 1);
	if (err == 0)
		slog(SLOG_INFO, "timeline %s: gc-compaction rewrote %u layers (%llu entries) below %llX "
			 "into %u (%llu entries)", tl->hex, nin, (unsigned long long) before_entries,
			 (unsigned long long) cutoff, nout, (unsigned long long) kept);
	nout = 0;
out:
	drop_unpublished(out, nout);
	if (err == STRATA_EEXIST)
	{
		/* the same inputs would collide again: wait for the history to change */
		tl->gc_rewrite_skip_lsn = cutoff;
		tl->gc_rewrite_skip_inputs = nin;
	}
	err = skip_if_exists(tl, err, "gc-compaction");
	if (err != 0 && err != STRATA_ECANCELLED)
		slog(SLOG_ERROR, "timeline %s: gc-compaction failed: %s", tl->hex, strata_strerror(err));
	tl_snapshot_put(after);
	tl_snapshot_put(in);
	free(ks.k);
	free(ret);
	free(out);
	free(inputs);
	tl_snapshot_put(s);
	return err;
}
