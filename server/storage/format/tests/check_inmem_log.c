/*
 * check_inmem.c: the in-memory layer over its write log — reads from the
 * mapping and without it, references that outlive the layer, visibility only of wholly written records, cuts
 * at record boundaries (a torn record must not end a later replay early),
 * CRC checks, replay after reopening.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "checksum.h"
#include "inmem_log.h"
#include "strata_err.h"
#include "testutil.h"
#include "suites.h"
#include "value.h"

static const uint8_t tenant[16] = {1};
static const uint8_t timeline[16] = {2};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void
notify(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&mu);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Wait (up to 20 s) until the writer has written everything appended. */
static void
wait_written(struct inmem *m)
{
	struct timespec ts;

	bw_submit(m->bw);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&mu);
	while (bw_written(m->bw) < bw_appended(m->bw))
		if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&mu);
	ck_assert_uint_eq(bw_written(m->bw), bw_appended(m->bw));
}

static void
make_key(uint32_t blk, uint8_t key[KEY_SIZE])
{
	memset(key, 0, KEY_SIZE);
	key[14] = (uint8_t) (blk >> 24);
	key[15] = (uint8_t) (blk >> 16);
	key[16] = (uint8_t) (blk >> 8);
	key[17] = (uint8_t) blk;
}

/* A page value whose bytes say which (blk, lsn) it is. */
static uint32_t
make_page(uint32_t blk, lsn_t lsn, uint8_t *val)
{
	val[0] = VAL_IMAGE;
	val[1] = 1;
	for (uint32_t i = 0; i < PROTO_PAGE_SIZE; i++)
		val[VAL_HDR + i] = (uint8_t) (blk * 31 + lsn * 7 + i);
	return VAL_MAX;
}

static struct inmem *
create_log(void)
{
	struct inmem *m;

	ck_assert_int_eq(inmem_create(test_dir, tenant, timeline, 0x100, 1 << 20, notify, NULL, &m), 0);
	return m;
}

/* more: another record of the same change follows */
static uint64_t
append_rec(struct inmem *m, uint32_t blk, lsn_t lsn, int more)
{
	uint8_t		key[KEY_SIZE];
	uint8_t		val[VAL_MAX];
	uint64_t	end;

	make_key(blk, key);
	ck_assert_int_eq(inmem_append(m, key, lsn, val, make_page(blk, lsn, val), more, &end), 0);
	return end;
}

static uint64_t
append_page(struct inmem *m, uint32_t blk, lsn_t lsn)
{
	return append_rec(m, blk, lsn, 0);
}

/* The newest readable version of blk at lsn matches; -1 if none is readable. */
static int
check_page(struct inmem *m, uint32_t blk, lsn_t lsn, lsn_t expect_lsn)
{
	uint8_t		key[KEY_SIZE];
	uint8_t		buf[VAL_MAX];
	uint8_t		want[VAL_MAX];
	const uint8_t *val;
	struct inmem_key *k;
	const struct inmem_version *v;

	make_key(blk, key);
	if ((k = inmem_find(m, key)) == NULL || (v = inmem_at(m, k, lsn, 0)) == NULL)
		return -1;
	ck_assert_uint_eq(v->lsn, expect_lsn);
	ck_assert_int_eq(inmem_value(m, v, buf, &val, NULL), VAL_MAX);
	make_page(blk, expect_lsn, want);
	ck_assert_int_eq(memcmp(val, want, VAL_MAX), 0);
	ck_assert_int_eq(inmem_read_value(m, v, buf), VAL_MAX);
	ck_assert_int_eq(memcmp(buf, want, VAL_MAX), 0);
	return 0;
}

START_TEST(test_mapped_reads)
{
	struct inmem *m = create_log();
	struct inmem *r;
	const uint32_t n = 3000;	/* ~24 MiB */

	ck_assert_ptr_nonnull(m->map);
	ck_assert_uint_eq(m->map->len, INMEM_MAP_MAX);
	for (uint32_t b = 0; b < n; b++)
	{
		(void) append_page(m, b, 0x200 + b);
		if (b % 64 == 63)
		{
			wait_written(m);
			inmem_publish(m, bw_written(m->bw), NULL, NULL);
			ck_assert_int_eq(check_page(m, b / 2, LSN_MAX, 0x200 + b / 2), 0);
		}
	}
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	for (uint32_t b = 0; b < n; b += 7)
		ck_assert_int_eq(check_page(m, b, LSN_MAX, 0x200 + b), 0);
	ck_assert_int_eq(inmem_freeze(m, 0x200 + n), 0);
	for (uint32_t b = 1; b < n; b += 7)
		ck_assert_int_eq(check_page(m, b, LSN_MAX, 0x200 + b), 0);
	/* replayed: mapped at open, every record checked there */
	ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r), 0);
	ck_assert_uint_eq(r->nversions, n);
	ck_assert_ptr_nonnull(r->map);
	for (uint32_t b = 2; b < n; b += 7)
		ck_assert_int_eq(check_page(r, b, LSN_MAX, 0x200 + b), 0);
	/* without a mapping: pread, same answers */
	inmem_map_unref(r->map);
	r->map = NULL;
	for (uint32_t b = 3; b < n; b += 7)
		ck_assert_int_eq(check_page(r, b, LSN_MAX, 0x200 + b), 0);
	inmem_free(r, 0);
	inmem_free(m, 1);
}
END_TEST

/* A page handed out by reference outlives its layer and its file. */
START_TEST(test_reference_outlives_layer)
{
	struct inmem *m = create_log();
	uint8_t		key[KEY_SIZE];
	uint8_t		buf[VAL_MAX];
	uint8_t		want[VAL_MAX];
	const uint8_t *val;
	struct inmem_map *ref;
	struct inmem_key *k;

	(void) append_page(m, 9, 0x200);
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	make_key(9, key);
	k = inmem_find(m, key);
	ck_assert_int_eq(inmem_value(m, inmem_at(m, k, LSN_MAX, 0), buf, &val, &ref), VAL_MAX);
	ck_assert_ptr_nonnull(ref);
	ck_assert_ptr_ne(val, buf);
	inmem_free(m, 1);			/* the layer and its file are gone */
	make_page(9, 0x200, want);
	ck_assert_int_eq(memcmp(val, want, VAL_MAX), 0);
	inmem_map_unref(ref);
}
END_TEST

/* Versions at several LSNs: the newest at or below the read LSN. */
START_TEST(test_versions)
{
	struct inmem *m = create_log();

	(void) append_page(m, 5, 0x200);
	(void) append_page(m, 5, 0x300);
	(void) append_page(m, 6, 0x310);
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	ck_assert_int_eq(check_page(m, 5, 0x1ff, 0), -1);
	ck_assert_int_eq(check_page(m, 5, 0x200, 0x200), 0);
	ck_assert_int_eq(check_page(m, 5, 0x2ff, 0x200), 0);
	ck_assert_int_eq(check_page(m, 5, LSN_MAX, 0x300), 0);
	ck_assert_int_eq(check_page(m, 6, LSN_MAX, 0x310), 0);
	ck_assert_int_eq(check_page(m, 7, LSN_MAX, 0), -1);
	inmem_free(m, 1);
}
END_TEST

/*
 * Written bytes ending inside a record (a write split at the ring's end,
 * or a partial write on a full disk): that record is not readable yet.
 */
START_TEST(test_partial_record_not_visible)
{
	struct inmem *m = create_log();
	uint64_t	e1 = append_page(m, 1, 0x200);
	uint64_t	e2 = append_page(m, 2, 0x210);

	wait_written(m);
	inmem_publish(m, e2 - 100, NULL, NULL);
	ck_assert_int_eq(check_page(m, 1, LSN_MAX, 0x200), 0);
	ck_assert_int_eq(check_page(m, 2, LSN_MAX, 0), -1);
	ck_assert_uint_eq(m->visible_max_lsn, 0x200);
	ck_assert_uint_lt(e1, e2 - 100);
	inmem_publish(m, e2, NULL, NULL);
	ck_assert_int_eq(check_page(m, 2, LSN_MAX, 0x210), 0);
	inmem_free(m, 1);
}
END_TEST

/*
 * A cut inside a record removes the whole record from the file: records
 * appended after the cut survive a replay.
 */
START_TEST(test_cut_mid_record)
{
	struct inmem *m = create_log();
	struct inmem *r;
	uint64_t	e1 = append_page(m, 1, 0x200);
	uint64_t	e2 = append_page(m, 2, 0x210);

	wait_written(m);
	inmem_publish(m, e1 + 5000, NULL, NULL);
	ck_assert_int_eq(inmem_cut(m, e1 + 5000), 0);
	ck_assert_uint_eq(m->end, e1);
	ck_assert_uint_eq(m->visible, e1);
	ck_assert_int_eq(check_page(m, 2, LSN_MAX, 0), -1);
	/* the new writer continues at the record boundary */
	ck_assert_uint_eq(append_page(m, 3, 0x220), e2);
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	ck_assert_int_eq(check_page(m, 3, LSN_MAX, 0x220), 0);
	ck_assert_int_eq(inmem_freeze(m, 0x221), 0);

	ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r), 0);
	ck_assert_uint_eq(r->nversions, 2);
	ck_assert_int_eq(check_page(r, 1, LSN_MAX, 0x200), 0);
	ck_assert_int_eq(check_page(r, 2, LSN_MAX, 0), -1);
	ck_assert_int_eq(check_page(r, 3, LSN_MAX, 0x220), 0);
	inmem_free(r, 0);
	inmem_free(m, 1);
}
END_TEST

/* A record damaged before its first read is refused, mapped or not. */
START_TEST(test_crc_on_first_read)
{
	struct inmem *m = create_log();
	uint8_t		key[KEY_SIZE];
	uint8_t		buf[VAL_MAX];
	const uint8_t *val;
	struct inmem_key *k;

	(void) append_page(m, 1, 0x200);
	(void) append_page(m, 2, 0x210);
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	ck_assert_int_eq(inmem_freeze(m, 0x211), 0);
	/* block 2's record: byte 100 of its value */
	make_key(2, key);
	k = inmem_find(m, key);
	ck_assert_ptr_nonnull(k);
	test_flip_byte(m->path, (off_t) (k->v[0].off + INMEM_REC_HDR + 100));
	ck_assert_int_eq(inmem_value(m, &k->v[0], buf, &val, NULL), STRATA_ECORRUPT);
	ck_assert_int_eq(check_page(m, 1, LSN_MAX, 0x200), 0);
	inmem_free(m, 1);
}
END_TEST

/* Three records written and frozen; the offsets of the second and the end. */
static struct inmem *
three_records(uint64_t *second, uint64_t *end)
{
	struct inmem *m = create_log();
	uint64_t	e1 = append_page(m, 1, 0x200);

	(void) append_page(m, 2, 0x210);
	*end = append_page(m, 3, 0x220);
	*second = e1;
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	ck_assert_int_eq(inmem_freeze(m, 0x221), 0);
	return m;
}

static off_t
file_size(const char *path)
{
	struct stat st;

	ck_assert_int_eq(stat(path, &st), 0);
	return st.st_size;
}

/* A crash cuts the last write short: replay drops the torn record only. */
START_TEST(test_replay_cuts_torn_tail)
{
	uint64_t	second,
				end;
	struct inmem *m = three_records(&second, &end);
	struct inmem *r;

	ck_assert_int_eq(truncate(m->path, (off_t) (end - 100)), 0);
	ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r), 0);
	ck_assert_uint_eq(r->nversions, 2);
	ck_assert_int_eq(check_page(r, 2, LSN_MAX, 0x210), 0);
	ck_assert_int_eq(check_page(r, 3, LSN_MAX, 0), -1);
	inmem_free(r, 0);
	/* cut back to the record boundary */
	ck_assert_int_eq(file_size(m->path), (off_t) (end - VAL_MAX - INMEM_REC_OVERHEAD));
	inmem_free(m, 1);
}
END_TEST

/* Unwritten (zero) bytes after the last record are a torn tail too. */
START_TEST(test_replay_cuts_zero_tail)
{
	uint64_t	second,
				end;
	struct inmem *m = three_records(&second, &end);
	struct inmem *r;

	ck_assert_int_eq(truncate(m->path, (off_t) (end + 20000)), 0);
	ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r), 0);
	ck_assert_uint_eq(r->nversions, 3);
	inmem_free(r, 0);
	ck_assert_int_eq(file_size(m->path), (off_t) end);
	inmem_free(m, 1);
}
END_TEST

/*
 * A damaged record with good ones after it is corruption, not a torn tail
 * (issue 12, 7): replay must refuse, keep the file as it is, and never
 * drop the later records.  Damage in the value and in the length word.
 */
START_TEST(test_replay_refuses_corrupt_middle)
{
	for (int where = 0; where < 2; where++)
	{
		uint64_t	second,
					end;
		struct inmem *m = three_records(&second, &end);
		struct inmem *r = NULL;
		off_t		before;

		ck_assert_int_eq(inmem_sync(m), 0);	/* the damage is in the synced part */
		test_flip_byte(m->path, (off_t) (second + (where == 0 ? INMEM_REC_HDR + 100 : 1)));
		before = file_size(m->path);
		ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r),
						 STRATA_ECORRUPT);
		ck_assert_ptr_null(r);
		ck_assert_int_eq(file_size(m->path), before);
		inmem_free(m, 1);
	}
}
END_TEST


/*
 * Past what a sync covered, a host crash may write the tail back in any
 * order: damage followed by good records there is an unsynced tail, cut,
 * not corruption that breaks the timeline (which it was before syncs
 * were marked in the header).
 */
START_TEST(test_replay_cuts_damaged_unsynced_tail)
{
	uint64_t	second,
				end;
	struct inmem *m = three_records(&second, &end);
	struct inmem *r = NULL;

	test_flip_byte(m->path, (off_t) (second + INMEM_REC_HDR + 100));
	ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r), 0);
	ck_assert_uint_eq(r->nversions, 1);
	ck_assert_int_eq(file_size(m->path), (off_t) second);
	inmem_free(r, 0);
	inmem_free(m, 1);
}
END_TEST

/*
 * A change of several records (a DROP DATABASE's forks, an EXTEND with its
 * holes) is readable only whole, and a cut after a failed write takes all
 * of it (issue 12, 8): never a part of a change for readers.
 */
START_TEST(test_change_visible_whole)
{
	struct inmem *m = create_log();
	uint64_t	a = append_page(m, 1, 0x200);
	uint64_t	b1 = append_rec(m, 2, 0x210, 1);
	uint64_t	b2 = append_rec(m, 3, 0x210, 1);
	uint64_t	b3 = append_rec(m, 4, 0x210, 0);

	(void) b1;
	wait_written(m);
	/* written up to inside the change: only the change before it is readable */
	inmem_publish(m, b2, NULL, NULL);
	ck_assert_uint_eq(m->visible, a);
	ck_assert_int_eq(check_page(m, 1, LSN_MAX, 0x200), 0);
	ck_assert_int_eq(check_page(m, 2, LSN_MAX, 0x210), -1);
	ck_assert_int_eq(check_page(m, 3, LSN_MAX, 0x210), -1);
	/* the write failed there: the cut takes the whole change */
	ck_assert_int_eq(inmem_cut(m, m->visible), 0);
	ck_assert_uint_eq(m->end, a);
	ck_assert_uint_eq(m->nversions, 1);
	ck_assert_int_eq(file_size(m->path), (off_t) a);
	/* again, and this time all of it is written */
	(void) append_rec(m, 2, 0x220, 1);
	(void) append_rec(m, 3, 0x220, 1);
	b3 = append_rec(m, 4, 0x220, 0);
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	ck_assert_uint_eq(m->visible, b3);
	for (uint32_t blk = 2; blk <= 4; blk++)
		ck_assert_int_eq(check_page(m, blk, LSN_MAX, 0x220), 0);
	inmem_free(m, 1);
}
END_TEST

/* A crash inside a change: replay drops the whole change, keeps the rest. */
START_TEST(test_replay_drops_incomplete_change)
{
	for (int torn = 0; torn < 2; torn++)
	{
		struct inmem *m = create_log();
		struct inmem *r;
		uint64_t	a = append_page(m, 1, 0x200);
		uint64_t	end;

		(void) append_rec(m, 2, 0x210, 1);
		end = append_rec(m, 3, 0x210, 1);	/* the crash: its last record never came */
		wait_written(m);
		if (torn)
			ck_assert_int_eq(truncate(m->path, (off_t) (end - 100)), 0);
		ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL,
										&r), 0);
		ck_assert_uint_eq(r->nversions, 1);
		ck_assert_uint_eq(r->max_lsn, 0x200);
		ck_assert_int_eq(check_page(r, 1, LSN_MAX, 0x200), 0);
		ck_assert_int_eq(check_page(r, 2, LSN_MAX, 0x210), -1);
		ck_assert_int_eq(file_size(m->path), (off_t) a);
		inmem_free(r, 0);
		inmem_free(m, 1);
	}
}
END_TEST

/* Records of one change at different LSNs were not written by us. */
START_TEST(test_replay_refuses_change_lsn_mismatch)
{
	struct inmem *m = create_log();
	struct inmem *r = NULL;

	(void) append_rec(m, 2, 0x210, 1);
	(void) append_rec(m, 3, 0x211, 0);
	wait_written(m);
	ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r),
					 STRATA_ECORRUPT);
	ck_assert_ptr_null(r);
	inmem_free(m, 1);
}
END_TEST

/* Version 1 logs (before changes were marked) are still replayed. */
START_TEST(test_replay_version_1)
{
	struct inmem *m = create_log();
	struct inmem *r;
	uint8_t		h[INMEM_HDR_SIZE];
	FILE	   *f;

	(void) append_page(m, 1, 0x200);
	(void) append_page(m, 2, 0x210);
	wait_written(m);
	ck_assert_ptr_nonnull(f = fopen(m->path, "r+b"));
	ck_assert_uint_eq(fread(h, 1, sizeof(h), f), sizeof(h));
	put_le32(h + 8, 1);
	put_le32(h + 60, strata_crc32c(h, 60));
	ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
	ck_assert_uint_eq(fwrite(h, 1, sizeof(h), f), sizeof(h));
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(inmem_open_log(m->path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r), 0);
	ck_assert_uint_eq(r->nversions, 2);
	ck_assert_int_eq(check_page(r, 2, LSN_MAX, 0x210), 0);
	inmem_free(r, 0);
	inmem_free(m, 1);
}
END_TEST
/*
 * A freeze into a spare (issue 12, 9): no disk wait on the loop.  The new
 * log gets its name and real header in the kernel, the writer goes on in
 * it, and its first sync makes the name durable.  A host crash before
 * that sync can leave the renamed log with the spare's placeholder
 * header: nothing in it was synced, so replay removes it.
 */
START_TEST(test_freeze_into_spare)
{
	struct inmem *m = create_log();
	struct inmem *spare;
	struct inmem *next;
	struct inmem *r = NULL;
	char		path[PATH_MAX];
	uint8_t		h[INMEM_HDR_SIZE];
	FILE	   *f;

	(void) append_page(m, 1, 0x200);
	/* not idle: refused, the spare consumed, nothing changed */
	ck_assert_int_eq(inmem_create_spare(test_dir, tenant, timeline, &spare), 0);
	ck_assert_int_eq(inmem_freeze_into(m, 0x201, spare, tenant, timeline, &next), STRATA_EBUSY);
	ck_assert_int_eq(m->state, INMEM_OPEN);
	wait_written(m);
	inmem_publish(m, bw_written(m->bw), NULL, NULL);
	ck_assert_int_eq(inmem_create_spare(test_dir, tenant, timeline, &spare), 0);
	ck_assert_ptr_nonnull(strstr(spare->path, ".tmp"));
	/* the placeholder header is what a crash right now would find */
	ck_assert_int_eq(pread(spare->fd, h, sizeof(h), 0), (ssize_t) sizeof(h));
	ck_assert_int_eq(inmem_freeze_into(m, 0x201, spare, tenant, timeline, &next), 0);
	ck_assert_int_eq(m->state, INMEM_FROZEN);
	ck_assert_ptr_null(m->bw);
	snprintf(path, sizeof(path), "%s/log-0000000000000201", test_dir);
	ck_assert_str_eq(next->path, path);
	ck_assert_int_eq(atomic_load(&next->name_durable), 0);
	(void) append_page(next, 2, 0x210);
	wait_written(next);
	inmem_publish(next, bw_written(next->bw), NULL, NULL);
	ck_assert_int_eq(check_page(next, 2, LSN_MAX, 0x210), 0);
	ck_assert_int_eq(check_page(m, 1, LSN_MAX, 0x200), 0);
	ck_assert_int_eq(inmem_sync(next), 0);
	ck_assert_int_eq(atomic_load(&next->name_durable), 1);
	/* replay of the new log */
	ck_assert_int_eq(inmem_open_log(path, tenant, timeline, 0, 0, 1 << 20, notify, NULL, &r), 0);
	ck_assert_uint_eq(r->lsn_start, 0x201);
	ck_assert_int_eq(check_page(r, 2, LSN_MAX, 0x210), 0);
	inmem_free(r, 0);
	/* the host crash: the placeholder header is back */
	ck_assert_ptr_nonnull(f = fopen(path, "r+b"));
	ck_assert_uint_eq(fwrite(h, 1, sizeof(h), f), sizeof(h));
	ck_assert_int_eq(fclose(f), 0);
	r = NULL;
	ck_assert_int_eq(inmem_open_log(path, tenant, timeline, 0, 1, 1 << 20, notify, NULL, &r),
					 STRATA_ENOTFOUND);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(access(path, F_OK), -1);
	inmem_free(next, 0);
	inmem_free(m, 1);
}
END_TEST

Suite *
check_inmem_log_suite(void)
{
	Suite	   *s = suite_create("inmem");
	TCase	   *tc = tcase_create("inmem");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mapped_reads);
	tcase_add_test(tc, test_reference_outlives_layer);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_partial_record_not_visible);
	tcase_add_test(tc, test_cut_mid_record);
	tcase_add_test(tc, test_crc_on_first_read);
	tcase_add_test(tc, test_replay_cuts_torn_tail);
	tcase_add_test(tc, test_replay_cuts_zero_tail);
	tcase_add_test(tc, test_replay_refuses_corrupt_middle);
	tcase_add_test(tc, test_replay_cuts_damaged_unsynced_tail);
	tcase_add_test(tc, test_change_visible_whole);
	tcase_add_test(tc, test_replay_drops_incomplete_change);
	tcase_add_test(tc, test_replay_refuses_change_lsn_mismatch);
	tcase_add_test(tc, test_replay_version_1);
	tcase_add_test(tc, test_freeze_into_spare);
	suite_add_tcase(s, tc);
	return s;
}
