/*-------------------------------------------------------------------------
 *
 * compact.c
 *	  A timeline's background work (timeline_internal.h): flushing frozen
 *	  layers to L0 deltas and L0 -> L1 compaction here, image layers in
 *	  compact_image.c, GC and gc-compaction in compact_gc.c; the steps every
 *	  job shares (compact_internal.h) are here too.
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
#include "compact_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fio.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"
#include "value.h"

const uint8_t compact_key_lo[KEY_SIZE] = {0};
const uint8_t compact_key_hi[KEY_SIZE] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF
};

/* The end of an L1 range that reaches the end: every real key sorts below. */
const uint8_t compact_key_l1_end[KEY_SIZE] = {
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
	0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE
};

static int
is_l0(const struct tl_layer *l)
{
	return l->d.kind == LAYER_DELTA && memcmp(l->d.key_start, compact_key_lo, KEY_SIZE) == 0 &&
		memcmp(l->d.key_end, compact_key_hi, KEY_SIZE) == 0;
}

int
compact_stopping(struct timeline *tl)
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
 * the old state stays in memory; the new files are removed, except after
 * a failed manifest save, which may already name them on disk.
 */
int
compact_publish(struct timeline *tl, struct inmem *drop_frozen, struct tl_layer **add,
				uint32_t nadd, struct tl_layer **drop, uint32_t ndrop, lsn_t dcl, lsn_t cutoff)
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
		if (err != 0)
		{
			/*
			 * The save may have failed after its rename (the directory
			 * fsync), so the manifest on disk may name the new layers:
			 * their files stay.  If it does not name them, the next
			 * start removes them as unlisted.
			 */
			for (uint32_t i = 0; i < nadd; i++)
				tl_layer_unref(add[i]);

			/*
			 * Which manifest is on disk is unknown now, so no later job
			 * may build on either one (a retry would find its output
			 * name taken and be skipped forever): background work stops
			 * until a restart loads the manifest that is there.  Reads,
			 * writes and SYNC go on from the write logs.
			 */
			atomic_store(&tl->bg_halted, err);
			slog(SLOG_ERROR, "timeline %s: saving the manifest failed: %s; flushing, "
				 "compaction and GC of this timeline stop until stratad restarts", tl->hex,
				 strata_strerror(err));
			return err;
		}
	}
	if (err == 0)
	{
		fio_kill_point("publish-after-manifest");
		err = tl_modify_snapshot(tl, NULL, NULL, drop_frozen, add, nadd, drop, ndrop);
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
int
compact_skip_if_exists(struct timeline *tl, int err, const char *job)
{
	if (err != STRATA_EEXIST)
		return err;
	slog(SLOG_INFO, "timeline %s: %s skipped: its output would replace a layer file",
		 tl->hex, job);
	return 0;
}

/* Finish a writer and open the result as a layer of tl. */
int
compact_finish_layer(struct timeline *tl, struct layer_writer *w, const uint8_t ks[KEY_SIZE],
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
		if (err == 0 && compact_stopping(tl))
			err = STRATA_ECANCELLED;
		if (err != 0)
		{
			layer_writer_abort(w);
			goto out;
		}
		err = compact_finish_layer(tl, w, compact_key_lo, compact_key_hi, m->lsn_start, m->lsn_end, &l);
		if (err != 0)
			goto out;
		fio_kill_point("flush-after-layer");
	}
	cutoff = tl_gc_cutoff(tl);
	err = compact_publish(tl, m, l ? &l : NULL, l ? 1 : 0, NULL, 0, m->lsn_end, cutoff);
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

int
compact_collect(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	struct compact_entries *es = arg;
	struct compact_entry *e;

	if (es->n == es->cap)
	{
		uint64_t	cap = es->cap ? es->cap * 2 : 1024;
		struct compact_entry *ne = realloc(es->e, cap * sizeof(*ne));

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

void
compact_entries_free(struct compact_entries *es)
{
	for (uint64_t i = 0; i < es->n; i++)
		free(es->e[i].val);
	free(es->e);
	memset(es, 0, sizeof(*es));
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct compact_entry *x = a;
	const struct compact_entry *y = b;
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
void
compact_drop_unpublished(struct tl_layer **out, uint32_t n)
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
	struct compact_entries es;
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
		err = layer_scan(l0[i]->f, compact_key_lo, compact_key_hi, LSN_MAX, compact_collect, &es);
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
	memcpy(cuts[ncuts++], compact_key_lo, KEY_SIZE);
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
	memcpy(cuts[ncuts++], compact_key_l1_end, KEY_SIZE);
	compact_entries_free(&es);

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
			err = layer_scan(l0[i]->f, cuts[c], cuts[c + 1], LSN_MAX, compact_collect, &es);
			if (err == 0)
				err = es.err;
		}
		if (err == 0 && compact_stopping(tl))
			err = STRATA_ECANCELLED;
		if (err != 0 || es.n == 0)
		{
			compact_entries_free(&es);
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
				err = compact_finish_layer(tl, w, cuts[c], cuts[c + 1], ls, le, &out[nout]);
			if (err == 0)
				nout++;
		}
		compact_entries_free(&es);
	}
	if (err == 0)
	{
		fio_kill_point("compact-before-publish");
		err = compact_publish(tl, NULL, out, nout, l0, nl0, tl_disk_consistent_lsn(tl), tl_gc_cutoff(tl));
		if (err == 0)
		{
			atomic_fetch_add(&tl->compactions, 1);
			slog(SLOG_INFO, "timeline %s: compacted %u L0 layers into %u L1 layers", tl->hex,
				 nl0, nout);
		}
		nout = 0;				/* published, or removed by compact_publish() */
	}
out:
	compact_drop_unpublished(out, nout);
	err = compact_skip_if_exists(tl, err, "compaction");
	if (err != 0 && err != STRATA_ECANCELLED)
		slog(SLOG_ERROR, "timeline %s: compaction failed: %s", tl->hex, strata_strerror(err));
	compact_entries_free(&es);
	free(cuts);
	free(out);
	free(l0);
	tl_snapshot_put(s);
	return err;
}
