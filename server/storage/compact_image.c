/*-------------------------------------------------------------------------
 *
 * compact_image.c
 *	  Image layers (background thread): where reads would go through too
 *	  many deltas since the newest image, write every live key's page at
 *	  one LSN, so that reads stop there (compact.c has the protocol).
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
	memcpy(start, compact_key_lo, KEY_SIZE);
	for (uint32_t f = 0; f <= nforks && err == 0; f++)
	{
		/* cut between forks once the current file is big enough */
		if (w && (f == nforks || layer_writer_size(w) >= tl->conf.target_layer_bytes))
		{
			const uint8_t *end = f == nforks ? compact_key_hi : NULL;
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
			err = compact_finish_layer(tl, w, start, end, at, at + 1, &out[nout]);
			w = NULL;
			if (err != 0)
				break;
			nout++;
			memcpy(start, end, KEY_SIZE);
		}
		if (f == nforks)
			break;
		if (compact_stopping(tl))
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
			else if ((err = compact_finish_layer(tl, w, compact_key_lo, compact_key_hi, at, at + 1, &out[0])) == 0)
				nout = 1;
		}
	}
	if (err == 0)
	{
		err = compact_publish(tl, NULL, out, nout, NULL, 0, tl_disk_consistent_lsn(tl), tl_gc_cutoff(tl));
		if (err == 0)
		{
			atomic_fetch_add(&tl->images_created, nout);
			slog(SLOG_INFO, "timeline %s: created %u image layers at %llX", tl->hex, nout,
				 (unsigned long long) at);
		}
		nout = 0;
	}
out:
	compact_drop_unpublished(out, nout);
	err = compact_skip_if_exists(tl, err, "image layer creation");
	if (err != 0 && err != STRATA_ECANCELLED)
		slog(SLOG_ERROR, "timeline %s: image layer creation failed: %s", tl->hex,
			 strata_strerror(err));
	free(out);
	free(forks);
	tl_snapshot_put(s);
	return err;
}
