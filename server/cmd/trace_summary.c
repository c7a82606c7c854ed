/*-------------------------------------------------------------------------
 *
 * trace_summary.c
 *	  Summaries of page_trace files (see trace_summary.h).
 *
 *-------------------------------------------------------------------------
 */
#include "trace_summary.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bytes.h"
#include "checksum.h"
#include "identity.h"
#include "pagetrace.h"
#include "proto.h"

#define RATE_BUCKETS 20

/* A count per key (a relation fork or a block), open addressing. */
struct counter
{
	uint32_t	spc,
				db,
				rel,
				blk;			/* UINT32_MAX for relation counters */
	uint8_t		fork;
	uint8_t		used;
	uint64_t	n;
};

struct table
{
	struct counter *e;
	size_t		cap;
	size_t		n;
};

static uint64_t
hash_of(const struct counter *k)
{
	uint64_t	h = 1469598103934665603ull;
	uint32_t	v[5] = {k->spc, k->db, k->rel, k->blk, k->fork};

	for (int i = 0; i < 5; i++)
		h = (h ^ v[i]) * 1099511628211ull;
	return h;
}

static int
same(const struct counter *a, const struct counter *b)
{
	return a->spc == b->spc && a->db == b->db && a->rel == b->rel && a->blk == b->blk &&
		a->fork == b->fork;
}

static int
table_add(struct table *t, const struct counter *k)
{
	size_t		i;

	if (t->n * 2 >= t->cap)
	{
		struct table nt = {calloc(t->cap ? t->cap * 2 : 1024, sizeof(struct counter)),
		t->cap ? t->cap * 2 : 1024, 0};

		if (nt.e == NULL)
			return -1;
		for (size_t j = 0; j < t->cap; j++)
			if (t->e[j].used)
			{
				for (i = hash_of(&t->e[j]) % nt.cap; nt.e[i].used; i = (i + 1) % nt.cap)
					;
				nt.e[i] = t->e[j];
				nt.n++;
			}
		free(t->e);
		*t = nt;
	}
	for (i = hash_of(k) % t->cap; t->e[i].used; i = (i + 1) % t->cap)
		if (same(&t->e[i], k))
		{
			t->e[i].n++;
			return 0;
		}
	t->e[i] = *k;
	t->e[i].used = 1;
	t->e[i].n = 1;
	t->n++;
	return 0;
}

static int
by_count_desc(const void *a, const void *b)
{
	const struct counter *x = a;
	const struct counter *y = b;

	return x->n < y->n ? 1 : x->n > y->n ? -1 : 0;
}

/* The table's used entries, most frequent first (caller frees). */
static struct counter *
sorted(const struct table *t)
{
	struct counter *v = malloc((t->n + 1) * sizeof(*v));
	size_t		n = 0;

	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < t->cap; i++)
		if (t->e[i].used)
			v[n++] = t->e[i];
	qsort(v, n, sizeof(*v), by_count_desc);
	return v;
}

int
trace_summary(const char *path, FILE *out, int top, int as_json)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t		hdr[PAGETRACE_HDR_SIZE];
	uint8_t		rec[PAGETRACE_REC_SIZE];
	struct table rels = {0};
	struct table blocks = {0};
	uint64_t	total = 0;
	uint64_t	errors = 0;
	uint64_t	last_us = 0;
	uint64_t	lat_sum = 0;
	uint64_t   *per_sec = NULL;
	size_t		nsec = 0;
	char		tenant[33];
	char		timeline[33];
	struct counter *rv = NULL;
	struct counter *bv = NULL;
	int			rc = 1;

	if (f == NULL)
	{
		fprintf(stderr, "stratactl: could not open \"%s\": %m\n", path);
		return 1;
	}
	if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) || memcmp(hdr, PAGETRACE_MAGIC, 8) != 0 ||
		get_le32(hdr + 60) != strata_crc32c(hdr, 60))
	{
		fprintf(stderr, "stratactl: \"%s\" is not a page trace (bad header)\n", path);
		goto out;
	}
	if (get_le32(hdr + 8) != PAGETRACE_VERSION || get_le32(hdr + 12) != PAGETRACE_REC_SIZE)
	{
		fprintf(stderr, "stratactl: \"%s\": unsupported page trace version %u\n", path,
				get_le32(hdr + 8));
		goto out;
	}
	identity_hex(hdr + 16, tenant);
	identity_hex(hdr + 32, timeline);
	while (fread(rec, 1, sizeof(rec), f) == sizeof(rec))
	{
		struct counter k = {get_le32(rec + 8), get_le32(rec + 12), get_le32(rec + 16),
		UINT32_MAX, rec[24], 0, 0};
		uint64_t	t = get_le64(rec);
		size_t		sec = (size_t) (t / 1000000);

		total++;
		errors += rec[25] != 0;
		lat_sum += get_le32(rec + 28);
		if (t > last_us)
			last_us = t;
		if (sec >= nsec)
		{
			uint64_t   *np = realloc(per_sec, (sec + 1) * sizeof(*np));

			if (np == NULL)
				goto out;
			memset(np + nsec, 0, (sec + 1 - nsec) * sizeof(*np));
			per_sec = np;
			nsec = sec + 1;
		}
		per_sec[sec]++;
		if (table_add(&rels, &k) != 0)
			goto out;
		k.blk = get_le32(rec + 20);
		if (table_add(&blocks, &k) != 0)
			goto out;
	}
	if ((rv = sorted(&rels)) == NULL || (bv = sorted(&blocks)) == NULL)
		goto out;
	if (as_json)
	{
		json_t	   *j = json_object();
		json_t	   *jr = json_array();
		json_t	   *jb = json_array();
		json_t	   *js = json_array();
		char	   *s;

		json_object_set_new(j, "tenant_id", json_string(tenant));
		json_object_set_new(j, "timeline_id", json_string(timeline));
		json_object_set_new(j, "requests", json_integer((json_int_t) total));
		json_object_set_new(j, "errors", json_integer((json_int_t) errors));
		json_object_set_new(j, "seconds", json_real(last_us / 1e6));
		json_object_set_new(j, "mean_latency_us", json_real(total ? (double) lat_sum / total : 0));
		for (size_t i = 0; i < rels.n && i < (size_t) top; i++)
			json_array_append_new(jr, json_pack("{s:I,s:I,s:I,s:i,s:I}", "spc", (json_int_t) rv[i].spc,
												"db", (json_int_t) rv[i].db, "rel", (json_int_t) rv[i].rel,
												"fork", rv[i].fork, "requests", (json_int_t) rv[i].n));
		for (size_t i = 0; i < blocks.n && i < (size_t) top; i++)
			json_array_append_new(jb, json_pack("{s:I,s:I,s:I,s:i,s:I,s:I}", "spc", (json_int_t) bv[i].spc,
												"db", (json_int_t) bv[i].db, "rel", (json_int_t) bv[i].rel,
												"fork", bv[i].fork, "blk", (json_int_t) bv[i].blk,
												"requests", (json_int_t) bv[i].n));
		for (size_t i = 0; i < nsec; i++)
			json_array_append_new(js, json_integer((json_int_t) per_sec[i]));
		json_object_set_new(j, "relations", jr);
		json_object_set_new(j, "hottest_blocks", jb);
		json_object_set_new(j, "requests_per_second", js);
		s = json_dumps(j, JSON_INDENT(2));
		fprintf(out, "%s\n", s);
		free(s);
		json_decref(j);
		rc = 0;
		goto out;
	}
	fprintf(out, "page trace of tenant %s timeline %s\n", tenant, timeline);
	fprintf(out, "%llu GETPAGE requests (%llu errors) over %.3f s, %.0f/s, mean latency %.1f us\n",
			(unsigned long long) total, (unsigned long long) errors, last_us / 1e6,
			last_us ? total / (last_us / 1e6) : 0.0, total ? (double) lat_sum / total : 0.0);
	fprintf(out, "\nrequests per relation (%zu relations):\n", rels.n);
	for (size_t i = 0; i < rels.n && i < (size_t) top; i++)
		fprintf(out, "  %10llu  %5.1f%%  %u/%u/%u fork %u\n", (unsigned long long) rv[i].n,
				100.0 * rv[i].n / total, rv[i].spc, rv[i].db, rv[i].rel, rv[i].fork);
	fprintf(out, "\nhottest blocks (%zu distinct):\n", blocks.n);
	for (size_t i = 0; i < blocks.n && i < (size_t) top; i++)
		fprintf(out, "  %10llu  %u/%u/%u fork %u block %u\n", (unsigned long long) bv[i].n,
				bv[i].spc, bv[i].db, bv[i].rel, bv[i].fork, bv[i].blk);
	fprintf(out, "\nrate over time:\n");
	{
		/* at most RATE_BUCKETS lines: seconds folded together */
		size_t		step = nsec > RATE_BUCKETS ? (nsec + RATE_BUCKETS - 1) / RATE_BUCKETS : 1;

		for (size_t i = 0; i < nsec; i += step)
		{
			uint64_t	n = 0;
			size_t		end = i + step < nsec ? i + step : nsec;

			for (size_t j = i; j < end; j++)
				n += per_sec[j];
			fprintf(out, "  %5zu-%zu s  %10.0f/s\n", i, end, (double) n / (double) (end - i));
		}
	}
	rc = 0;
out:
	free(rv);
	free(bv);
	free(rels.e);
	free(blocks.e);
	free(per_sec);
	fclose(f);
	return rc;
}
