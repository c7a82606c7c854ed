/*
 * check_layer.c: layer files — round trips of both kinds, index lookups
 * at many LSN limits, vectored and range reads, names, ordering,
 * corruption anywhere detected, every codec, older format versions.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "codec.h"
#include "layerfile.h"
#include "strata_err.h"
#include "testutil.h"
#include "suites.h"

static const uint8_t TENANT[16] = {1};
static const uint8_t TIMELINE[16] = {2};

#define NKEYS	3000
#define NVERS	3

static void
key_of(uint32_t i, uint8_t key[KEY_SIZE])
{
	/* keys 0, 2, 4, ...: odd ones are absent */
	struct strata_key k = key_block(1663, 5, 16384 + i / 1000, 0, 2 * (i % 1000));

	key_encode(&k, key);
}

/* Value of key i version v: a size that varies; compressible or not. */
static uint32_t
value_of(uint32_t i, uint32_t v, uint8_t *buf)
{
	uint32_t	len = (i % 7 == 0) ? 8194 : 10 + (i * 13 + v) % 300;

	for (uint32_t j = 0; j < len; j++)
		buf[j] = (i % 2) ? (uint8_t) (i + v) : (uint8_t) ((j * 2654435761u + i + v) >> 13);
	put_le32(buf, i);
	put_le32(buf + 4, v);
	return len;
}

static lsn_t
lsn_of(uint32_t i, uint32_t v)
{
	return 1000 + v * 100 + i % 50;
}

static char layer_name[LAYER_NAME_MAX];

static void
write_layer(enum layer_kind kind)
{
	struct layer_writer *w;
	uint8_t		key[KEY_SIZE];
	uint8_t		val[9000];
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];
	struct layer_desc d;
	uint32_t	nv = kind == LAYER_IMAGE ? 1 : NVERS;

	ck_assert_int_eq(layer_writer_begin(test_dir, kind, TENANT, TIMELINE, 7, &w), 0);
	for (uint32_t i = 0; i < NKEYS; i++)
	{
		key_of(i, key);
		for (uint32_t v = 0; v < nv; v++)
		{
			uint32_t	len = value_of(i, v, val);

			ck_assert_int_eq(layer_writer_add(w, key, kind == LAYER_IMAGE ? 5000 : lsn_of(i, v),
											  val, len), 0);
		}
	}
	memset(lo, 0, KEY_SIZE);
	memset(hi, 0xFF, KEY_SIZE);
	ck_assert_int_eq(layer_writer_finish(w, lo, hi, kind == LAYER_IMAGE ? 5000 : 1000,
										 kind == LAYER_IMAGE ? 5001 : 2000, &d, layer_name,
										 sizeof(layer_name)), 0);
	ck_assert_int_eq(d.kind, kind);
	ck_assert_uint_eq(d.generation, 7);
}

static struct layer_file *
open_layer(void)
{
	char		path[512];
	struct layer_file *f;

	snprintf(path, sizeof(path), "%s/%s", test_dir, layer_name);
	ck_assert_int_eq(layer_open(path, &f), 0);
	return f;
}

struct got
{
	int			n;
	lsn_t		lsns[8];
	uint8_t		first[16];
	uint32_t	first_len;
};

static int
collect_cb(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	struct got *g = arg;

	(void) key;
	if (g->n == 0)
	{
		memcpy(g->first, val, 8);
		g->first_len = len;
	}
	if (g->n < 8)
		g->lsns[g->n] = lsn;
	g->n++;
	return 0;
}

START_TEST(test_delta_round_trip)
{
	struct layer_file *f;
	uint8_t		key[KEY_SIZE];
	uint8_t		val[9000];

	write_layer(LAYER_DELTA);
	f = open_layer();
	ck_assert_uint_eq(layer_entries(f), NKEYS * NVERS);
	ck_assert_int_eq(layer_verify(f), 0);
	for (uint32_t i = 0; i < NKEYS; i += 37)
	{
		key_of(i, key);
		/* every limit: newest-first versions below it */
		for (uint32_t v = 0; v <= NVERS; v++)
		{
			struct got	g = {0};
			lsn_t		limit = v == NVERS ? LSN_MAX : lsn_of(i, v);

			ck_assert_int_eq(layer_get(f, key, limit, collect_cb, &g), 0);
			ck_assert_int_eq(g.n, (int) v);
			if (v > 0)
			{
				uint32_t	len = value_of(i, v - 1, val);

				ck_assert_uint_eq(g.lsns[0], lsn_of(i, v - 1));
				ck_assert_uint_eq(g.first_len, len);
				ck_assert_uint_eq(get_le32(g.first), i);
				ck_assert_uint_eq(get_le32(g.first + 4), v - 1);
				for (int j = 1; j < g.n; j++)
					ck_assert_uint_lt(g.lsns[j], g.lsns[j - 1]);
			}
		}
		/* the absent odd neighbour */
		{
			struct strata_key k;
			struct got	g = {0};

			key_decode(key, &k);
			k.blk++;
			key_encode(&k, key);
			ck_assert_int_eq(layer_get(f, key, LSN_MAX, collect_cb, &g), 0);
			ck_assert_int_eq(g.n, 0);
		}
	}
	/* before the first and after the last key */
	{
		struct got	g = {0};

		memset(key, 0, KEY_SIZE);
		ck_assert_int_eq(layer_get(f, key, LSN_MAX, collect_cb, &g), 0);
		memset(key, 0xFE, KEY_SIZE);
		ck_assert_int_eq(layer_get(f, key, LSN_MAX, collect_cb, &g), 0);
		ck_assert_int_eq(g.n, 0);
	}
	layer_close(f);
}
END_TEST

struct many
{
	int			n;
	uint32_t	idx[64];
	lsn_t		lsn[64];
};

static int
many_cb(uint32_t i, lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	struct many *m = arg;

	(void) val;
	(void) len;
	m->idx[m->n] = i;
	m->lsn[m->n++] = lsn;
	return 0;
}

START_TEST(test_vectored_and_scan)
{
	struct layer_file *f;
	uint8_t		keys[32][KEY_SIZE];
	lsn_t		limits[32];
	struct many m = {0};
	struct got	g = {0};
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];

	write_layer(LAYER_DELTA);
	f = open_layer();
	for (uint32_t j = 0; j < 32; j++)
	{
		key_of(j * 90, keys[j]);
		limits[j] = j % 4 == 0 ? lsn_of(j * 90, 0) : LSN_MAX;	/* nothing below for those */
	}
	ck_assert_int_eq(layer_get_many(f, 32, (const uint8_t (*)[KEY_SIZE]) keys, limits, many_cb, &m), 0);
	ck_assert_int_eq(m.n, 24);
	for (int j = 0; j < m.n; j++)
	{
		struct got	one = {0};

		ck_assert_int_eq(layer_get(f, keys[m.idx[j]], limits[m.idx[j]], collect_cb, &one), 0);
		ck_assert_uint_eq(one.lsns[0], m.lsn[j]);
	}
	/* a range: the keys of relation 16385, LSNs below 1150 */
	key_of(1000, lo);
	key_of(2000, hi);
	ck_assert_int_eq(layer_scan(f, lo, hi, 1150, collect_cb, &g), 0);
	{
		int			want = 0;

		for (uint32_t i = 1000; i < 2000; i++)
			for (uint32_t v = 0; v < NVERS; v++)
				want += lsn_of(i, v) < 1150;
		ck_assert_int_eq(g.n, want);
	}
	layer_close(f);
}
END_TEST

START_TEST(test_image)
{
	struct layer_file *f;
	uint8_t		key[KEY_SIZE];
	struct got	g = {0};

	write_layer(LAYER_IMAGE);
	f = open_layer();
	ck_assert_int_eq(layer_desc(f)->kind, LAYER_IMAGE);
	ck_assert_uint_eq(layer_desc(f)->lsn_end, 5001);
	key_of(1234, key);
	ck_assert_int_eq(layer_get(f, key, 5001, collect_cb, &g), 0);
	ck_assert_int_eq(g.n, 1);
	ck_assert_uint_eq(g.lsns[0], 5000);
	ck_assert_int_eq(layer_get(f, key, 5000, collect_cb, &g), 0);
	ck_assert_int_eq(g.n, 1);
	ck_assert_int_eq(layer_verify(f), 0);
	layer_close(f);
}
END_TEST

START_TEST(test_names_and_order)
{
	struct layer_desc d,
				p;
	char		name[LAYER_NAME_MAX];
	struct layer_writer *w;
	uint8_t		k1[KEY_SIZE];
	uint8_t		k2[KEY_SIZE];

	memset(&d, 0, sizeof(d));
	d.kind = LAYER_DELTA;
	memset(d.key_end, 0xFF, KEY_SIZE);
	d.lsn_start = 0x10;
	d.lsn_end = 0x2000;
	d.generation = 3;
	ck_assert_int_eq(layer_format_name(&d, name, sizeof(name)), 0);
	ck_assert_int_eq(layer_parse_name(name, &p), 0);
	ck_assert_mem_eq(&p, &d, sizeof(d));
	d.kind = LAYER_IMAGE;
	d.lsn_end = d.lsn_start + 1;
	ck_assert_int_eq(layer_format_name(&d, name, sizeof(name)), 0);
	ck_assert_int_eq(layer_parse_name(name, &p), 0);
	ck_assert_mem_eq(&p, &d, sizeof(d));
	ck_assert_int_eq(layer_parse_name("manifest", &p), STRATA_EINVAL);
	ck_assert_int_eq(layer_parse_name("log-0000000000000001", &p), STRATA_EINVAL);
	name[5] = 'g';
	ck_assert_int_eq(layer_parse_name(name, &p), STRATA_EINVAL);

	/* out of order is refused; an abort leaves nothing behind */
	key_of(10, k1);
	key_of(5, k2);
	ck_assert_int_eq(layer_writer_begin(test_dir, LAYER_DELTA, TENANT, TIMELINE, 1, &w), 0);
	ck_assert_int_eq(layer_writer_add(w, k1, 10, "ab", 2), 0);
	ck_assert_int_eq(layer_writer_add(w, k1, 10, "ab", 2), STRATA_EINVAL);
	ck_assert_int_eq(layer_writer_add(w, k2, 20, "ab", 2), STRATA_EINVAL);
	layer_writer_abort(w);
	ck_assert_int_eq(test_count_files(test_dir), 0);
}
END_TEST

/*
 * A layer name is one immutable file: publishing a second file under an
 * existing name fails with STRATA_EEXIST and leaves the first intact (a
 * replaced file would be unlinked with the layer it replaced).
 */
START_TEST(test_never_replaces)
{
	struct layer_writer *w;
	struct layer_file *f;
	struct got g = {0};
	char		name2[LAYER_NAME_MAX];
	uint8_t		key[KEY_SIZE];
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];

	write_layer(LAYER_DELTA);
	memset(lo, 0, KEY_SIZE);
	memset(hi, 0xFF, KEY_SIZE);
	key_of(0, key);
	ck_assert_int_eq(layer_writer_begin(test_dir, LAYER_DELTA, TENANT, TIMELINE, 7, &w), 0);
	ck_assert_int_eq(layer_writer_add(w, key, 1500, "other", 5), 0);
	ck_assert_int_eq(layer_writer_finish(w, lo, hi, 1000, 2000, NULL, name2, sizeof(name2)),
					 STRATA_EEXIST);
	/* the first file is untouched, and no temp file stays */
	f = open_layer();
	ck_assert_int_eq(layer_scan(f, lo, hi, LSN_MAX, collect_cb, &g), 0);
	ck_assert_int_eq(g.n, NKEYS * NVERS);
	layer_close(f);
	ck_assert_int_eq(test_count_files(test_dir), 1);
}
END_TEST

START_TEST(test_corruption)
{
	char		path[512];
	struct layer_file *f;
	struct stat st;
	uint8_t		key[KEY_SIZE];
	struct got	g = {0};

	write_layer(LAYER_DELTA);
	snprintf(path, sizeof(path), "%s/%s", test_dir, layer_name);
	ck_assert_int_eq(stat(path, &st), 0);

	/* a value */
	test_flip_byte(path, 8192 + 10);
	f = open_layer();
	key_of(0, key);
	ck_assert_int_eq(layer_get(f, key, LSN_MAX, collect_cb, &g), STRATA_ECORRUPT);
	ck_assert_int_eq(layer_verify(f), STRATA_ECORRUPT);
	layer_close(f);
	test_flip_byte(path, 8192 + 10);

	/* the root (the upper levels are read and checked at open) */
	test_flip_byte(path, st.st_size - 100);
	ck_assert_int_eq(layer_open(path, &f), STRATA_ECORRUPT);
	test_flip_byte(path, st.st_size - 100);

	/* the last leaf: found by the scrub */
	test_flip_byte(path, st.st_size - 8192 - 100);
	f = open_layer();
	ck_assert_int_eq(layer_verify(f), STRATA_ECORRUPT);
	layer_close(f);
	test_flip_byte(path, st.st_size - 8192 - 100);

	/* the summary: refused at open */
	test_flip_byte(path, 60);
	ck_assert_int_eq(layer_open(path, &f), STRATA_ECORRUPT);
	test_flip_byte(path, 60);

	/* truncated */
	ck_assert_int_eq(truncate(path, st.st_size - 1), 0);
	ck_assert_int_eq(layer_open(path, &f), STRATA_ECORRUPT);
}
END_TEST

/* The newest version of every key, byte for byte. */
static int
full_cb(const uint8_t key[KEY_SIZE], lsn_t lsn, const uint8_t *val, uint32_t len, void *arg)
{
	uint32_t	i = *(uint32_t *) arg;
	uint8_t		want[9000];
	uint32_t	wlen = value_of(i, NVERS - 1, want);

	(void) key;
	ck_assert_uint_eq(lsn, lsn_of(i, NVERS - 1));
	ck_assert_uint_eq(len, wlen);
	ck_assert_int_eq(memcmp(val, want, len), 0);
	return 1;					/* the newest only */
}

static void
check_all(struct layer_file *f)
{
	uint8_t		key[KEY_SIZE];

	for (uint32_t i = 0; i < NKEYS; i++)
	{
		key_of(i, key);
		ck_assert_int_eq(layer_get(f, key, LSN_MAX, full_cb, &i), 0);
	}
	ck_assert_int_eq(layer_verify(f), 0);
}

/* Every codec writes files that read back exactly; they are smaller than raw. */
START_TEST(test_codecs)
{
	const enum codec codecs[] = {CODEC_NONE, CODEC_LZ4, CODEC_ZSTD};
	off_t		size[3];

	for (int c = 0; c < 3; c++)
	{
		char		path[512];
		struct stat st;
		struct layer_file *f;

		codec_set_default(codecs[c]);
		write_layer(LAYER_DELTA);
		snprintf(path, sizeof(path), "%s/%s", test_dir, layer_name);
		ck_assert_int_eq(stat(path, &st), 0);
		size[c] = st.st_size;
		f = open_layer();
		check_all(f);
		layer_close(f);
		ck_assert_int_eq(unlink(path), 0);
	}
	codec_set_default(CODEC_LZ4);
	ck_assert_int_lt(size[1], size[0]);
	ck_assert_int_lt(size[2], size[0]);
}
END_TEST

/* Rewrite the summary's format version (and its CRC). */
static void
set_version(const char *path, uint32_t version)
{
	uint8_t		sum[8192];
	int			fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, sum, sizeof(sum), 0), (ssize_t) sizeof(sum));
	put_le32(sum + 8, version);
	put_le32(sum + 8188, strata_crc32c(sum, 8188));
	ck_assert_int_eq(pwrite(fd, sum, sizeof(sum), 0), (ssize_t) sizeof(sum));
	close(fd);
}

/* Rewrite a u64 of the summary (and its CRC): a damaged but sealed summary. */
static void
set_summary_u64(const char *path, int off, uint64_t v)
{
	uint8_t		sum[8192];
	int			fd = open(path, O_RDWR);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pread(fd, sum, sizeof(sum), 0), (ssize_t) sizeof(sum));
	put_le64(sum + off, v);
	put_le32(sum + 8188, strata_crc32c(sum, 8188));
	ck_assert_int_eq(pwrite(fd, sum, sizeof(sum), 0), (ssize_t) sizeof(sum));
	close(fd);
}

/*
 * Index offsets whose sums wrap past 2^64 or fall between nodes are
 * refused at open (found by fuzzing, issue 12: a root near 2^64 read far
 * outside the upper levels in memory, a leaf count near 2^51 asked calloc
 * for 2^54 bytes).
 */
START_TEST(test_index_offsets_checked)
{
	char		path[512];
	struct layer_file *f;
	struct stat st;
	uint8_t		sum[8192];
	uint64_t	first_leaf;
	uint64_t	nleaves;
	uint64_t	root;
	int			fd;

	write_layer(LAYER_DELTA);
	snprintf(path, sizeof(path), "%s/%s", test_dir, layer_name);
	ck_assert_int_eq(stat(path, &st), 0);
	fd = open(path, O_RDONLY);
	ck_assert_int_eq(pread(fd, sum, sizeof(sum), 0), (ssize_t) sizeof(sum));
	close(fd);
	first_leaf = get_le64(sum + 116);
	nleaves = get_le64(sum + 124);
	root = get_le64(sum + 132);

	set_summary_u64(path, 132, UINT64_MAX - 4095);
	ck_assert_int_eq(layer_open(path, &f), STRATA_ECORRUPT);
	set_summary_u64(path, 132, root - 100);		/* between two nodes */
	ck_assert_int_eq(layer_open(path, &f), STRATA_ECORRUPT);
	set_summary_u64(path, 132, root);
	set_summary_u64(path, 124, (uint64_t) 1 << 51);	/* x 8192 wraps to 0 */
	ck_assert_int_eq(layer_open(path, &f), STRATA_ECORRUPT);
	set_summary_u64(path, 124, nleaves);
	set_summary_u64(path, 116, first_leaf + 1);
	ck_assert_int_eq(layer_open(path, &f), STRATA_ECORRUPT);
	set_summary_u64(path, 116, first_leaf);
	f = open_layer();
	check_all(f);
	layer_close(f);
}
END_TEST

/*
 * A raw blob long enough for a value over LAYER_VALUE_MAX (a compressed
 * one may be that long) is refused, not handed to callers that size
 * their buffers by LAYER_VALUE_MAX (found by fuzzing, issue 12).
 */
START_TEST(test_raw_value_too_long)
{
	char		path[512];
	struct layer_file *f;
	uint8_t		sum[8192];
	uint8_t		leaf[8192];
	uint8_t		blob[5 + 16400 + 4];
	uint8_t		key[KEY_SIZE];
	uint64_t	first_leaf;
	struct got	g = {0};
	int			fd;

	codec_set_default(CODEC_NONE);
	write_layer(LAYER_DELTA);
	codec_set_default(CODEC_LZ4);
	snprintf(path, sizeof(path), "%s/%s", test_dir, layer_name);
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pread(fd, sum, sizeof(sum), 0), (ssize_t) sizeof(sum));
	first_leaf = get_le64(sum + 116);
	/* key 0's newest version becomes a sealed raw blob of 16400 bytes */
	ck_assert_int_eq(pread(fd, leaf, sizeof(leaf), (off_t) first_leaf), (ssize_t) sizeof(leaf));
	memset(blob, 0, sizeof(blob));
	put_le32(blob, sizeof(blob));
	blob[4] = CODEC_NONE;
	put_le32(blob + sizeof(blob) - 4, strata_crc32c(blob, sizeof(blob) - 4));
	ck_assert_int_eq(pwrite(fd, blob, sizeof(blob), 8192), (ssize_t) sizeof(blob));
	put_le64(leaf + 8 + 2 * 38 + 26, 8192);
	put_le32(leaf + 8 + 2 * 38 + 34, sizeof(blob));
	put_le32(leaf + 8188, strata_crc32c(leaf, 8188));
	ck_assert_int_eq(pwrite(fd, leaf, sizeof(leaf), (off_t) first_leaf), (ssize_t) sizeof(leaf));
	close(fd);
	f = open_layer();
	key_of(0, key);
	ck_assert_int_eq(layer_get(f, key, LSN_MAX, collect_cb, &g), STRATA_ECORRUPT);
	ck_assert_int_eq(g.n, 0);
	layer_close(f);
}
END_TEST

/* Version 1 files (raw or zstd blobs) still read; a newer version is refused. */
START_TEST(test_format_versions)
{
	char		path[512];
	struct layer_file *f;

	codec_set_default(CODEC_ZSTD);
	write_layer(LAYER_DELTA);
	codec_set_default(CODEC_LZ4);
	snprintf(path, sizeof(path), "%s/%s", test_dir, layer_name);
	set_version(path, 1);
	f = open_layer();
	check_all(f);
	layer_close(f);
	set_version(path, 3);
	ck_assert_int_eq(layer_open(path, &f), STRATA_EVERSION);
}
END_TEST

Suite *
check_layerfile_suite(void)
{
	Suite	   *s = suite_create("layer");
	TCase	   *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_delta_round_trip);
	tcase_add_test(tc, test_vectored_and_scan);
	tcase_add_test(tc, test_image);
	tcase_add_test(tc, test_names_and_order);
	tcase_add_test(tc, test_corruption);
	tcase_add_test(tc, test_never_replaces);
	tcase_add_test(tc, test_codecs);
	tcase_add_test(tc, test_format_versions);
	tcase_add_test(tc, test_index_offsets_checked);
	tcase_add_test(tc, test_raw_value_too_long);
	suite_add_tcase(s, tc);
	return s;
}
