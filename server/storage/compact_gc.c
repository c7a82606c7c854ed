/*-------------------------------------------------------------------------
 *
 * compact_gc.c
 *	  Garbage collection (background thread): remove the layers that no
 *	  retained LSN needs (below the GC cutoff, and no child's branch point
 *	  reads them), and gc-compaction, which rewrites the history below the
 *	  cutoff keeping only the versions a retained LSN can see (compact.c
 *	  has the protocol).  With conf.gc_verify both check that reads at
 *	  retained LSNs did not change (I17).
 *
 *-------------------------------------------------------------------------
 */
#include "compact_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"
#include "value.h"

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
	struct compact_entries es;
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
		err = layer_scan(drop[i]->f, compact_key_lo, compact_key_hi, LSN_MAX, compact_collect, &es);
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
	compact_entries_free(&es);
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
		err = compact_publish(tl, NULL, NULL, 0, drop, ndrop, dcl, cutoff);
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
		if (compact_stopping(tl))
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
			err = compact_finish_layer(tl, w, start, ks.k[i], ls, cutoff + 1, &out[nout]);
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
			err = compact_finish_layer(tl, w, start, compact_key_l1_end, ls, cutoff + 1, &out[nout]);
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
	err = compact_publish(tl, NULL, out, nout, inputs, nin, tl_disk_consistent_lsn(tl), tl_gc_cutoff(tl));
	if (err == 0)
		atomic_fetch_add(&tl->gc_rewrites, 1);
	if (err == 0)
		slog(SLOG_INFO, "timeline %s: gc-compaction rewrote %u layers (%llu entries) below %llX "
			 "into %u (%llu entries)", tl->hex, nin, (unsigned long long) before_entries,
			 (unsigned long long) cutoff, nout, (unsigned long long) kept);
	nout = 0;
out:
	compact_drop_unpublished(out, nout);
	if (err == STRATA_EEXIST)
	{
		/* the same inputs would collide again: wait for the history to change */
		tl->gc_rewrite_skip_lsn = cutoff;
		tl->gc_rewrite_skip_inputs = nin;
	}
	err = compact_skip_if_exists(tl, err, "gc-compaction");
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
