/*
 * check_manifest.c: a timeline's manifest (server/manifest.c) — every
 * field round trips, validation refuses what must never be published,
 * and a damaged, foreign-version or missing file is reported as such.
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "manifest.h"
#include "strata_err.h"
#include "testutil.h"
#include "suites.h"

static struct manifest m;
static struct manifest back;
static struct manifest_layer layers[2];

static void
layer_name(enum layer_kind kind, lsn_t ls, lsn_t le, uint32_t gen, char *out)
{
	struct layer_desc d;

	memset(&d, 0, sizeof(d));
	d.kind = kind;
	memset(d.key_end, 0xFF, KEY_SIZE);
	d.lsn_start = ls;
	d.lsn_end = le;
	d.generation = gen;
	ck_assert_int_eq(layer_format_name(&d, out, MANIFEST_NAME_MAX), 0);
}

/* A manifest with an ancestor, two layers and LSN-by-time samples. */
static void
fill(void)
{
	memset(&m, 0, sizeof(m));
	memset(m.tenant, 0xA1, 16);
	memset(m.timeline, 0xB2, 16);
	m.has_ancestor = 1;
	memset(m.ancestor, 0xC3, 16);
	m.ancestor_lsn = 0x1000;
	m.disk_consistent_lsn = 0x5000;
	m.gc_cutoff = 0x2000;
	m.generation = 4;
	lsntime_init(&m.lsntime);
	lsntime_note(&m.lsntime, 1700000000, 0x3000);
	lsntime_note(&m.lsntime, 1700000100, 0x4000);
	lsntime_note(&m.lsntime, 1700000200, 0x6000);	/* past dcl: not saved */
	layer_name(LAYER_DELTA, 0x1000, 0x5000, 3, layers[0].name);
	layers[0].size = 123456;
	layer_name(LAYER_IMAGE, 0x4FFF, 0x5000, 4, layers[1].name);
	layers[1].size = 8192;
	m.nlayers = 2;
	m.layers = layers;
}

START_TEST(round_trip)
{
	fill();
	ck_assert_int_eq(manifest_save(test_dir, &m), 0);
	ck_assert_int_eq(manifest_load(test_dir, &back), 0);
	ck_assert_mem_eq(back.tenant, m.tenant, 16);
	ck_assert_mem_eq(back.timeline, m.timeline, 16);
	ck_assert_int_eq(back.has_ancestor, 1);
	ck_assert_mem_eq(back.ancestor, m.ancestor, 16);
	ck_assert_uint_eq(back.ancestor_lsn, 0x1000);
	ck_assert_uint_eq(back.disk_consistent_lsn, 0x5000);
	ck_assert_uint_eq(back.gc_cutoff, 0x2000);
	ck_assert_uint_eq(back.generation, 4);
	ck_assert_int_eq(back.deleting, 0);
	ck_assert_uint_eq(back.nlayers, 2);
	ck_assert_str_eq(back.layers[0].name, layers[0].name);
	ck_assert_uint_eq(back.layers[0].size, 123456);
	ck_assert_str_eq(back.layers[1].name, layers[1].name);
	ck_assert_uint_eq(back.lsntime.n, 2);
	ck_assert_uint_eq(lsntime_lsn_at(&back.lsntime, 1700000150), 0x4000);
	manifest_free(&back);
	/* a second save replaces the first */
	m.deleting = 1;
	m.nlayers = 1;
	ck_assert_int_eq(manifest_save(test_dir, &m), 0);
	ck_assert_int_eq(manifest_load(test_dir, &back), 0);
	ck_assert_int_eq(back.deleting, 1);
	ck_assert_uint_eq(back.nlayers, 1);
	manifest_free(&back);
}
END_TEST

/* What validation refuses is never written; the file on disk stays. */
START_TEST(validation)
{
	fill();
	ck_assert_int_eq(manifest_save(test_dir, &m), 0);
	m.disk_consistent_lsn = 0x4000;	/* a layer reaches past it */
	ck_assert_int_eq(manifest_save(test_dir, &m), STRATA_EINVAL);
	fill();
	m.generation = 3;			/* a layer of a future generation */
	ck_assert_int_eq(manifest_validate(&m), STRATA_EINVAL);
	fill();
	snprintf(layers[1].name, sizeof(layers[1].name), "not-a-layer");
	ck_assert_int_eq(manifest_validate(&m), STRATA_EINVAL);
	fill();
	m.has_ancestor = 0;
	m.nlayers = 0;				/* no history, yet data up to 0x5000 */
	ck_assert_int_eq(manifest_validate(&m), STRATA_EINVAL);
	m.disk_consistent_lsn = 0;
	ck_assert_int_eq(manifest_validate(&m), 0);
	/* the valid manifest saved first is still there */
	ck_assert_int_eq(manifest_load(test_dir, &back), 0);
	ck_assert_uint_eq(back.disk_consistent_lsn, 0x5000);
	manifest_free(&back);
}
END_TEST

static void
flip_byte(off_t off)
{
	char		path[300];

	snprintf(path, sizeof(path), "%s/manifest", test_dir);
	test_flip_byte(path, off);
}

START_TEST(damage_and_versions)
{
	char		path[300];
	uint8_t		v[4];
	int			fd;

	ck_assert_int_eq(manifest_load(test_dir, &back), STRATA_ENOTFOUND);
	fill();
	ck_assert_int_eq(manifest_save(test_dir, &m), 0);
	flip_byte(40);				/* inside the JSON text */
	ck_assert_int_eq(manifest_load(test_dir, &back), STRATA_ECORRUPT);
	flip_byte(40);
	ck_assert_int_eq(manifest_load(test_dir, &back), 0);
	manifest_free(&back);
	/* a newer format version is refused as such, before the CRC */
	snprintf(path, sizeof(path), "%s/manifest", test_dir);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	put_le32(v, 2);
	ck_assert_int_eq(pwrite(fd, v, 4, 8), 4);
	close(fd);
	ck_assert_int_eq(manifest_load(test_dir, &back), STRATA_EVERSION);
	/* another file's magic */
	fd = open(path, O_RDWR);
	ck_assert_int_eq(pwrite(fd, "STRATATC", 8, 0), 8);
	close(fd);
	ck_assert_int_eq(manifest_load(test_dir, &back), STRATA_ECORRUPT);
}
END_TEST

Suite *
check_manifest_suite(void)
{
	Suite	   *su = suite_create("manifest");
	TCase	   *tc = tcase_create("manifest");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_add_test(tc, round_trip);
	tcase_add_test(tc, validation);
	tcase_add_test(tc, damage_and_versions);
	suite_add_tcase(su, tc);
	return su;
}
