/*
 * check_timeline.c: the storage engine — timelines, in-memory layers,
 * flushes, compaction, image layers, GC, branches, restarts — against an
 * in-memory reference model.
 *
 * STRATA_MODEL_SEED picks the model test's seed (default: fixed; the seed
 * is printed), STRATA_MODEL_OPS its length (default 3000; soak runs use
 * far more).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "fio.h"
#include "handles.h"
#include "slog.h"
#include "strata_err.h"
#include "tenant.h"
#include "testutil.h"
#include "suites.h"
#include "timeline.h"
#include "value.h"

static const uint8_t TENANT[16] = {0xA1, 0xB2};
static const uint8_t TL1[16] = {0x01};

static struct tl_conf
small_conf(void)
{
	struct tl_conf c;

	tl_conf_default(&c);
	c.freeze_bytes = 256 * 1024;
	c.compaction_threshold = 3;
	c.target_layer_bytes = 256 * 1024;
	c.image_threshold = 2;
	c.gc_horizon = 0;
	c.compaction_period_ms = 3600 * 1000;	/* only when asked */
	c.gc_verify = 1;
	c.bufsize = 16 * 1024;
	return c;
}

static struct proto_rel
rel_of(uint32_t r)
{
	struct proto_rel rel = {1663, 5, 16384 + r, 0};

	return rel;
}

static void
fill_page(uint8_t *page, uint32_t content)
{
	memset(page, (int) (content & 0xFF), PROTO_PAGE_SIZE);
	put_le32(page, content);
}

/* Apply one change offline and wait for its acknowledgement. */
static int
change(struct timeline *tl, uint8_t tag, uint32_t r, uint32_t arg, lsn_t req_lsn,
	   const uint8_t *page, lsn_t *stored)
{
	struct proto_req req;
	uint64_t	ticket;
	lsn_t		lsn = 0;
	int			err;

	memset(&req, 0, sizeof(req));
	req.tag = tag;
	req.rel = rel_of(r);
	req.request_lsn = req_lsn;
	req.blk = arg;
	req.nblocks = arg;
	req.page = page;
	if ((err = tl_prepare(tl, &req, &lsn, &ticket)) != 0)
		return err;
	if ((err = tl_wait(tl)) != 0)
		return err;
	ck_assert_int_eq(tl_ticket_status(tl, ticket), 1);
	if (stored)
		*stored = lsn;
	return 0;
}

static struct registry *
open_reg(const struct tl_conf *c)
{
	struct registry *reg;

	ck_assert_int_eq(registry_open(test_dir, NULL, c, &reg), 0);
	ck_assert_int_eq(registry_ensure_timeline(reg, TENANT, TL1), 0);
	return reg;
}

/* TL1's directory. */
static void
tl1_dir(char *dir, size_t len)
{
	char		hex[33];
	char		thex[33];

	for (int i = 0; i < 16; i++)
	{
		snprintf(hex + 2 * i, 3, "%02x", TL1[i]);
		snprintf(thex + 2 * i, 3, "%02x", TENANT[i]);
	}
	snprintf(dir, len, "%s/tenants/%s/timelines/%s", test_dir, thex, hex);
}

static int
count_files(const char *prefix)
{
	char		dir[512];
	DIR		   *d;
	struct dirent *de;
	int			n = 0;

	tl1_dir(dir, sizeof(dir));
	d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(test_write_read_restart)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		out[PROTO_PAGE_SIZE];
	uint32_t	n;
	lsn_t		l1,
				l2;

	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 100, NULL, NULL), 0);
	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 101, NULL, NULL), STRATA_EEXIST);
	fill_page(page, 7);
	ck_assert_int_eq(change(tl, PROTO_EXTEND, 0, 3, 200, page, &l1), 0);
	ck_assert_int_eq(tl_nblocks(tl, &(struct proto_rel) {1663, 5, 16384, 0}, LSN_MAX, &n), 0);
	ck_assert_uint_eq(n, 4);
	/* the hole reads as zeros, the page as written */
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 1, LSN_MAX, out), 0);
	ck_assert_uint_eq(out[100], 0);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 3, LSN_MAX, out), 0);
	ck_assert_mem_eq(out, page, PROTO_PAGE_SIZE);
	fill_page(page, 8);
	/* an older request LSN is raised above the key's last version (I7) */
	ck_assert_int_eq(change(tl, PROTO_WRITE, 0, 3, 150, page, &l2), 0);
	ck_assert_uint_gt(l2, l1);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 3, l1, out), 0);
	ck_assert_uint_eq(get_le32(out), 7);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 4, LSN_MAX, out),
					 STRATA_EEOF);
	ck_assert_int_eq(change(tl, PROTO_WRITE, 0, 9, 300, page, NULL), STRATA_EEOF);
	ck_assert_int_eq(change(tl, PROTO_WRITE, 1, 0, 300, page, NULL), STRATA_ENOTFOUND);
	registry_close(reg, 0);

	/* restart: the log replays */
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 3, LSN_MAX, out), 0);
	ck_assert_uint_eq(get_le32(out), 8);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 3, l1, out), 0);
	ck_assert_uint_eq(get_le32(out), 7);
	ck_assert_uint_eq(tl_nforks(tl), 1);
	registry_close(reg, 0);
}
END_TEST

/*
 * A change goes into the writer's ring whole or not at all (issue 12, 9):
 * with the ring full, tl_prepare appends nothing and answers STRATA_EBUSY
 * with a ticket to wait for, instead of waiting for the writer itself.
 */
START_TEST(test_full_ring_is_busy)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	uint8_t		page[PROTO_PAGE_SIZE];
	struct proto_req req;
	uint64_t	ticket = 0;
	uint64_t	end;
	lsn_t		lsn;
	int			err = 0;
	int			n;

	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 100, NULL, NULL), 0);
	memset(&req, 0, sizeof(req));
	req.tag = PROTO_EXTEND;
	req.rel = rel_of(0);
	req.page = page;
	/* the ring is 2 x 16 KiB: a few pages fill it (nothing is submitted) */
	for (n = 0; n < 100; n++)
	{
		fill_page(page, (uint32_t) n);
		req.blk = (uint32_t) n;
		req.request_lsn = 200 + (lsn_t) n;
		end = tl->open->end;
		if ((err = tl_prepare(tl, &req, &lsn, &ticket)) != 0)
			break;
	}
	ck_assert_int_eq(err, STRATA_EBUSY);
	ck_assert_int_lt(n, 10);
	ck_assert_uint_eq(tl->open->end, end);	/* nothing of it appended */
	ck_assert_uint_ne(ticket, 0);
	ck_assert_int_eq(tl_ticket_status(tl, ticket), 0);
	/* once what is in the ring is written, the ticket says so and it fits */
	ck_assert_int_eq(tl_wait(tl), 0);
	ck_assert_int_eq(tl_ticket_status(tl, ticket), 1);
	ck_assert_int_eq(tl_prepare(tl, &req, &lsn, &ticket), 0);
	ck_assert_int_eq(tl_wait(tl), 0);
	ck_assert_int_eq(tl_getpage(tl, &req.rel, (uint32_t) n, LSN_MAX, page), 0);
	ck_assert_uint_eq(get_le32(page), (uint32_t) n);
	/*
	 * A change larger than the whole ring (an extend over a hole of 3,000
	 * pages): busy until the writer is idle, then the ring grows for it,
	 * and it is readable whole.
	 */
	fill_page(page, 77);
	req.blk = (uint32_t) n + 3000;
	req.request_lsn = 900;
	ck_assert_int_eq(tl_prepare(tl, &req, &lsn, &ticket), 0);
	ck_assert_int_eq(tl_wait(tl), 0);
	ck_assert_int_eq(tl_ticket_status(tl, ticket), 1);
	ck_assert_int_eq(tl_getpage(tl, &req.rel, req.blk, LSN_MAX, page), 0);
	ck_assert_uint_eq(get_le32(page), 77);
	ck_assert_int_eq(tl_getpage(tl, &req.rel, req.blk - 1, LSN_MAX, page), 0);
	ck_assert_uint_eq(page[100], 0);
	registry_close(reg, 0);
}
END_TEST

/*
 * A crash while a new write log was being created (issue 12, 1): earlier
 * versions created the file before writing its header, so a kill -9 there
 * left an empty newest log and the next start found the timeline broken.
 * Such a log holds no record; the timeline must load with everything.
 * A leftover temporary log goes too.
 */
START_TEST(test_interrupted_log_creation)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		out[PROTO_PAGE_SIZE];
	char		dir[512];
	char		path[700];
	int			fd;

	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 100, NULL, NULL), 0);
	fill_page(page, 5);
	ck_assert_int_eq(change(tl, PROTO_EXTEND, 0, 0, 200, page, NULL), 0);
	registry_close(reg, 0);
	ck_assert_int_eq(count_files("log-"), 1);

	tl1_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/log-00000000FFFFFFFF", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/log-00000000FFFFFFF0.tmp", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "STRATAWL", 8), 8);
	close(fd);

	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(atomic_load(&tl->state), TL_ACTIVE);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 0, LSN_MAX, out), 0);
	ck_assert_mem_eq(out, page, PROTO_PAGE_SIZE);
	fill_page(page, 6);
	ck_assert_int_eq(change(tl, PROTO_WRITE, 0, 0, 300, page, NULL), 0);
	registry_close(reg, 0);
	/* the empty log and the temporary one are gone, a new log took over */
	ck_assert_int_eq(access(path, F_OK), -1);
	snprintf(path, sizeof(path), "%s/log-00000000FFFFFFFF", dir);
	ck_assert_int_eq(access(path, F_OK), -1);

	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 0, LSN_MAX, out), 0);
	ck_assert_uint_eq(get_le32(out), 6);
	registry_close(reg, 0);
}
END_TEST

/* A short log that is not the newest, or not zeros, is corruption: broken. */
START_TEST(test_short_log_is_corrupt)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	char		dir[512];
	char		path[700];
	int			fd;

	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 100, NULL, NULL), 0);
	registry_close(reg, 0);
	tl1_dir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/log-00000000FFFFFFFF", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "garbage", 7), 7);
	close(fd);
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(atomic_load(&tl->state), TL_BROKEN);
	registry_close(reg, 0);
	/* evidence kept */
	ck_assert_int_eq(access(path, F_OK), 0);
}
END_TEST

/*
 * A failed fdatasync is never retried (issue 12): the kernel may have
 * dropped the dirty pages and cleared the error, so a second attempt could
 * succeed over lost data.  Every later tl_sync fails too.
 */
START_TEST(test_failed_sync_is_sticky)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	char		flag[600];
	int			fd;

	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 100, NULL, NULL), 0);
	ck_assert_int_eq(tl_sync(tl), 0);
	snprintf(flag, sizeof(flag), "%s/fail-fsync", test_dir);
	fd = open(flag, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	setenv("STRATA_FAIL_FSYNC_ONCE_FILE", flag, 1);
	ck_assert_int_eq(tl_sync(tl), STRATA_EIO);
	/* the injected fault fired once and is gone: a retry would succeed */
	ck_assert_int_eq(access(flag, F_OK), -1);
	ck_assert_int_eq(tl_sync(tl), STRATA_EIO);
	unsetenv("STRATA_FAIL_FSYNC_ONCE_FILE");
	registry_close(reg, 0);
}
END_TEST

/*
 * A manifest save that fails after its rename leaves the manifest on disk
 * unknown (issue 12, 6).  The job's layers stay; and no later job may run
 * on top of either manifest: a retry of the flush found its output name
 * taken and was skipped, round after round, forever.  Background work now
 * stops with the error until a restart, which loads what is on disk.
 */
START_TEST(test_failed_manifest_save_halts_background)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		out[PROTO_PAGE_SIZE];
	char		flag[600];
	int			fd;

	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 100, NULL, NULL), 0);
	fill_page(page, 5);
	ck_assert_int_eq(change(tl, PROTO_EXTEND, 0, 0, 200, page, NULL), 0);
	/* the flush's manifest save fails after its rename */
	snprintf(flag, sizeof(flag), "%s/fail-dirsync", test_dir);
	ck_assert_int_ge(fd = open(flag, O_CREAT | O_WRONLY, 0600), 0);
	close(fd);
	setenv("STRATA_FAIL_DURABLE_DIRSYNC_ONCE_FILE", flag, 1);
	ck_assert_int_eq(tl_checkpoint(tl), STRATA_EIO);
	ck_assert_int_eq(access(flag, F_OK), -1);
	unsetenv("STRATA_FAIL_DURABLE_DIRSYNC_ONCE_FILE");
	/* sticky: no retry that would skip the job and report success */
	ck_assert_int_eq(tl_checkpoint(tl), STRATA_EIO);
	ck_assert_int_eq(tl_compact(tl), STRATA_EIO);
	/* the timeline serves on */
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 0, LSN_MAX, out), 0);
	ck_assert_uint_eq(get_le32(out), 5);
	registry_close(reg, 0);
	/* a restart loads what is on disk, and work goes on */
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(atomic_load(&tl->state), TL_ACTIVE);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 0, LSN_MAX, out), 0);
	ck_assert_uint_eq(get_le32(out), 5);
	ck_assert_int_eq(tl_checkpoint(tl), 0);
	registry_close(reg, 0);
}
END_TEST

START_TEST(test_flush_compact_image_gc)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		out[PROTO_PAGE_SIZE];
	lsn_t		req = 1000;
	struct tl_snapshot *s;

	for (uint32_t r = 0; r < 4; r++)
		ck_assert_int_eq(change(tl, PROTO_CREATE, r, 0, req++, NULL, NULL), 0);
	/* several checkpoints: L0s; then compaction, images, GC */
	for (int round = 0; round < 5; round++)
	{
		for (uint32_t r = 0; r < 4; r++)
			for (uint32_t b = 0; b < 8; b++)
			{
				fill_page(page, (uint32_t) (round * 1000 + r * 100 + b));
				ck_assert_int_eq(change(tl, round == 0 ? PROTO_EXTEND : PROTO_WRITE, r, b,
										req++, page, NULL), 0);
			}
		ck_assert_int_eq(tl_checkpoint(tl), 0);
	}
	s = tl_snapshot_get(tl);
	ck_assert_uint_ge(s->nlayers, 5);
	tl_snapshot_put(s);
	ck_assert_int_eq(count_files("log-"), 1);	/* flushed logs are gone */
	ck_assert_int_eq(change(tl, PROTO_TRUNCATE, 3, 2, req++, NULL, NULL), 0);
	ck_assert_int_eq(tl_checkpoint(tl), 0);
	ck_assert_int_eq(tl_compact(tl), 0);
	ck_assert_uint_ge(atomic_load(&tl->compactions), 1);
	ck_assert_uint_ge(atomic_load(&tl->images_created), 1);
	ck_assert_int_eq(tl_gc(tl), 0);
	ck_assert_uint_ge(atomic_load(&tl->gc_layers_removed), 1);
	for (uint32_t r = 0; r < 4; r++)
		for (uint32_t b = 0; b < 8; b++)
		{
			int			err = tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384 + r, 0}, b,
										 LSN_MAX, out);

			if (r == 3 && b >= 2)
				ck_assert_int_eq(err, STRATA_EEOF);
			else
			{
				ck_assert_int_eq(err, 0);
				ck_assert_uint_eq(get_le32(out), 4000 + r * 100 + b);
			}
		}
	registry_close(reg, 0);
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16385, 0}, 5, LSN_MAX, out), 0);
	ck_assert_uint_eq(get_le32(out), 4105);
	registry_close(reg, 0);
}
END_TEST

/*
 * Time-based retention: with pitr_interval, GC keeps the history of the
 * last interval even at gc_horizon 0; the LSN-by-time samples and the
 * tenant's settings survive a restart; switching it off lets GC go on.
 */
START_TEST(test_pitr_retention)
{
	struct tl_conf c = small_conf();
	struct registry *reg;
	struct tenant *tn;
	struct timeline *tl;
	uint8_t		page[PROTO_PAGE_SIZE];
	lsn_t		req = 1000;
	lsn_t		later;
	int64_t		now = (int64_t) time(NULL);

	reg = open_reg(&c);
	tn = registry_tenant(reg, TENANT);
	ck_assert_int_eq(registry_set_retention(reg, tn, -1, 3600), 0);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, req++, NULL, NULL), 0);
	for (int round = 0; round < 5; round++)
	{
		for (uint32_t b = 0; b < 8; b++)
		{
			fill_page(page, (uint32_t) (round * 100 + b));
			ck_assert_int_eq(change(tl, round == 0 ? PROTO_EXTEND : PROTO_WRITE, 0, b, req++,
									page, NULL), 0);
		}
		ck_assert_int_eq(tl_checkpoint(tl), 0);
	}
	ck_assert_int_eq(tl_compact(tl), 0);
	ck_assert_uint_ge(atomic_load(&tl->images_created), 1);
	/* everything is younger than an hour: nothing goes */
	ck_assert_uint_eq(tl_retention_cutoff(tl, now), 0);
	ck_assert_int_eq(tl_gc(tl), 0);
	ck_assert_uint_eq(atomic_load(&tl->gc_layers_removed), 0);
	ck_assert_uint_eq(tl_gc_cutoff(tl), 0);
	/* two hours from now, the history up to what is flushed may go */
	later = tl_retention_cutoff(tl, now + 7200);
	ck_assert_uint_gt(later, 0);
	ck_assert_uint_le(later, atomic_load(&tl->last_record_lsn));
	registry_close(reg, 0);

	/* restart: the tenant's setting and the samples up to disk_consistent_lsn are kept */
	reg = open_reg(&c);
	tn = registry_tenant(reg, TENANT);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_uint_eq(tn->conf.pitr_seconds, 3600);
	ck_assert_uint_eq(tl->conf.pitr_seconds, 3600);
	ck_assert_uint_gt(tl_retention_cutoff(tl, now + 7200), 0);
	ck_assert_uint_le(tl_retention_cutoff(tl, now + 7200), later);
	ck_assert_int_eq(tl_gc(tl), 0);
	ck_assert_uint_eq(atomic_load(&tl->gc_layers_removed), 0);

	/* back to the default (pitr off, horizon 0 here): GC removes covered layers */
	ck_assert_int_eq(registry_set_retention(reg, tn, -1, -1), 0);
	ck_assert_uint_eq(tl->conf.pitr_seconds, 0);
	ck_assert_int_eq(tl_gc(tl), 0);
	ck_assert_uint_ge(atomic_load(&tl->gc_layers_removed), 1);
	ck_assert_uint_gt(tl_gc_cutoff(tl), 0);
	registry_close(reg, 0);
	reg = open_reg(&c);
	ck_assert_uint_eq(registry_tenant(reg, TENANT)->pitr_set, -1);
	registry_close(reg, 0);
}
END_TEST

/*
 * A gc-compaction whose inputs are one L1 and an image inside its LSN
 * range would write a layer under the L1's own name.  It must not replace
 * the file (the L1's removal would then unlink the new one and the next
 * start would find a listed layer missing): the job is skipped, reads and
 * restarts stay as they were.
 */
START_TEST(test_gc_rewrite_name_collision)
{
	struct tl_conf c = small_conf();
	struct registry *reg;
	struct timeline *tl;
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		out[PROTO_PAGE_SIZE];
	lsn_t		req = 1000;
	struct tl_snapshot *s;
	int			l1 = 0,
				images = 0;

	c.compaction_threshold = 100;	/* L0s stay L0s for now */
	c.gc_horizon = UINT64_MAX / 2;	/* and GC keeps everything */
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, req++, NULL, NULL), 0);
	for (int round = 0; round < 3; round++)
	{
		for (uint32_t b = 0; b < 8; b++)
		{
			fill_page(page, (uint32_t) (round * 100 + b));
			ck_assert_int_eq(change(tl, round == 0 ? PROTO_EXTEND : PROTO_WRITE, 0, b, req++,
									page, NULL), 0);
		}
		ck_assert_int_eq(tl_checkpoint(tl), 0);
		/* after the second: an image at its end, inside the later L1's range */
		if (round == 1)
			ck_assert_int_eq(tl_gc(tl), 0);
	}
	ck_assert_uint_eq(atomic_load(&tl->images_created), 1);
	/* now: the three L0s become one L1, and GC may rewrite everything */
	tl->conf.compaction_threshold = 3;
	tl_set_retention(tl, 0, 0);
	ck_assert_int_eq(tl_gc(tl), 0);
	s = tl_snapshot_get(tl);
	for (uint32_t i = 0; i < s->nlayers; i++)
	{
		l1 += s->layers[i]->d.kind == LAYER_DELTA;
		images += s->layers[i]->d.kind == LAYER_IMAGE;
	}
	tl_snapshot_put(s);
	ck_assert_int_eq(l1, 1);
	ck_assert_int_eq(images, 1);
	ck_assert_uint_eq(atomic_load(&tl->gc_rewrites), 0);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 5, LSN_MAX, out), 0);
	ck_assert_uint_eq(get_le32(out), 205);
	registry_close(reg, 0);
	/* every listed layer is there */
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(atomic_load(&tl->state), TL_ACTIVE);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 5, LSN_MAX, out), 0);
	ck_assert_uint_eq(get_le32(out), 205);
	registry_close(reg, 0);
}
END_TEST

START_TEST(test_corrupt_layer)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	uint8_t		page[PROTO_PAGE_SIZE];
	uint8_t		out[PROTO_PAGE_SIZE];
	struct tl_snapshot *s;
	char		path[PATH_MAX];
	int			fd;
	struct stat st;

	ck_assert_int_eq(change(tl, PROTO_CREATE, 0, 0, 10, NULL, NULL), 0);
	/* incompressible, so the page fills the value region */
	for (int i = 0; i < PROTO_PAGE_SIZE; i++)
		page[i] = (uint8_t) (random() >> 7);
	ck_assert_int_eq(change(tl, PROTO_EXTEND, 0, 0, 11, page, NULL), 0);
	ck_assert_int_eq(tl_checkpoint(tl), 0);
	s = tl_snapshot_get(tl);
	ck_assert_uint_eq(s->nlayers, 1);
	snprintf(path, sizeof(path), "%s", s->layers[0]->path);
	tl_snapshot_put(s);
	registry_close(reg, 0);
	/* flip a byte in the middle of the page image */
	ck_assert_int_eq(stat(path, &st), 0);
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\x5A", 1, 8192 + 4000), 1);
	close(fd);
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 0, LSN_MAX, out),
					 STRATA_ECORRUPT);
	registry_close(reg, 0);
	/* a corrupt summary: the timeline loads as Broken, stratad still starts */
	fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pwrite(fd, "\x5A", 1, 100), 1);
	close(fd);
	reg = open_reg(&c);
	tl = registry_timeline(reg, TENANT, TL1);
	ck_assert_int_eq(atomic_load(&tl->state), TL_BROKEN);
	ck_assert_int_eq(tl_getpage(tl, &(struct proto_rel) {1663, 5, 16384, 0}, 0, LSN_MAX, out),
					 STRATA_ECORRUPT);
	ck_assert_int_eq(change(tl, PROTO_WRITE, 0, 0, 20, page, NULL), STRATA_ECORRUPT);
	ck_assert_int_eq(access(path, F_OK), 0);	/* nothing removed */
	registry_close(reg, 0);
}
END_TEST

/* ---------- the randomized model test ---------- */

#define M_RELS	6
#define M_TLS	6

struct m_event
{
	lsn_t		lsn;
	uint32_t	rel;
	uint32_t	blk;			/* UINT32_MAX: a size event */
	uint64_t	val;			/* content id, or size / VAL_NOT_EXISTS */
};

struct m_tl
{
	uint8_t		id[16];
	int			parent;			/* -1: root */
	lsn_t		anc_lsn;
	lsn_t		next_req;
	struct m_event *ev;
	uint32_t	nev;
	uint32_t	cap;
};

static struct m_tl mtl[M_TLS];
static int	nmtl;
static uint64_t m_totals[5];	/* flushes, compactions, image layers, GC removals, rewrites */

/* Counters restart with each load: add them up before closing. */
static void
m_account(struct registry *reg)
{
	for (int ti = 0; ti < nmtl; ti++)
	{
		struct timeline *tl = registry_timeline(reg, TENANT, mtl[ti].id);

		m_totals[0] += atomic_load(&tl->flushes);
		m_totals[1] += atomic_load(&tl->compactions);
		m_totals[2] += atomic_load(&tl->images_created);
		m_totals[3] += atomic_load(&tl->gc_layers_removed);
		m_totals[4] += atomic_load(&tl->gc_rewrites);
	}
}

static void
m_push(struct m_tl *t, lsn_t lsn, uint32_t rel, uint32_t blk, uint64_t val)
{
	if (t->nev == t->cap)
	{
		t->cap = t->cap ? t->cap * 2 : 256;
		t->ev = realloc(t->ev, t->cap * sizeof(*t->ev));
		ck_assert_ptr_nonnull(t->ev);
	}
	t->ev[t->nev++] = (struct m_event) {lsn, rel, blk, val};
}

/* value of (rel, blk) at lsn: from own events, else the parent at the branch point */
static int
m_lookup(int ti, uint32_t rel, uint32_t blk, lsn_t lsn, uint64_t *val)
{
	struct m_tl *t = &mtl[ti];

	for (uint32_t i = t->nev; i > 0; i--)
	{
		struct m_event *e = &t->ev[i - 1];

		if (e->lsn <= lsn && e->rel == rel && e->blk == blk)
		{
			*val = e->val;
			return 1;
		}
	}
	if (t->parent >= 0)
		return m_lookup(t->parent, rel, blk, lsn < t->anc_lsn ? lsn : t->anc_lsn, val);
	return 0;
}

static uint64_t
m_size(int ti, uint32_t rel, lsn_t lsn)
{
	uint64_t	v;

	return m_lookup(ti, rel, UINT32_MAX, lsn, &v) ? v : VAL_NOT_EXISTS;
}

static struct timeline *
m_get(struct registry *reg, int ti)
{
	struct timeline *tl = registry_timeline(reg, TENANT, mtl[ti].id);

	ck_assert_ptr_nonnull(tl);
	return tl;
}

static void
m_check_read(struct registry *reg, int ti, uint32_t rel, uint32_t blk, lsn_t lsn, unsigned seed)
{
	struct timeline *tl = m_get(reg, ti);
	struct proto_rel r = rel_of(rel);
	uint64_t	size = m_size(ti, rel, lsn);
	uint8_t		out[PROTO_PAGE_SIZE];
	uint32_t	n;
	int			err = tl_nblocks(tl, &r, lsn, &n);

	if (size == VAL_NOT_EXISTS)
	{
		ck_assert_msg(err == STRATA_ENOTFOUND, "seed %u: tl %d rel %u lsn %llu: nblocks %d, "
					  "expected not found", seed, ti, rel, (unsigned long long) lsn, err);
		return;
	}
	ck_assert_msg(err == 0 && n == size, "seed %u: tl %d rel %u lsn %llX: nblocks err %d n %u, "
				  "expected %llu", seed, ti, rel, (unsigned long long) lsn, err, n,
				  (unsigned long long) size);
	err = tl_getpage(tl, &r, blk, lsn, out);
	if (blk >= size)
	{
		ck_assert_int_eq(err, STRATA_EEOF);
		return;
	}
	{
		uint64_t	v = 0;

		ck_assert(m_lookup(ti, rel, blk, lsn, &v));
		ck_assert_msg(err == 0, "seed %u: getpage err %d", seed, err);
		ck_assert_msg(get_le32(out) == (uint32_t) v, "seed %u: tl %d rel %u blk %u lsn %llX: "
					  "content %u, expected %u", seed, ti, rel, blk, (unsigned long long) lsn,
					  get_le32(out), (uint32_t) v);
	}
}

/*
 * A vectored read of n random (rel, blk, LSN) points through the page
 * service's path (tl_pages_begin on this thread, tl_pages_finish on the
 * snapshot), each checked against the model.
 */
static void
m_check_batch(struct registry *reg, int ti, lsn_t lo, lsn_t last, unsigned seed)
{
	struct timeline *tl = m_get(reg, ti);
	struct tl_page_read r[40];
	static uint8_t pages[40][PROTO_PAGE_SIZE];
	uint32_t	n = 1 + (uint32_t) (random() % 40);
	struct tl_snapshot *snap;

	for (uint32_t i = 0; i < n; i++)
	{
		lsn_t		at = last > lo ? lo + (lsn_t) (random() % (last - lo + 1)) : LSN_MAX;

		if (random() % 3 == 0)
			at = LSN_MAX;
		r[i] = (struct tl_page_read) {.rel = rel_of((uint32_t) (random() % M_RELS)),
			.blk = (uint32_t) (random() % 8), .lsn = at, .page = pages[i]};
	}
	if (tl_pages_begin(tl, r, n, &snap) > 0)
	{
		ck_assert_int_eq(tl_pages_finish(tl, snap, r, n), 0);
		tl_snapshot_put(snap);
	}
	for (uint32_t i = 0; i < n; i++)
	{
		uint64_t	size = m_size(ti, r[i].rel.rel - 16384, r[i].lsn);
		uint64_t	v = 0;
		const uint8_t *page = r[i].ref ? r[i].ref : pages[i];	/* from the open layer: by reference */

		if (size == VAL_NOT_EXISTS)
			ck_assert_msg(r[i].err == STRATA_ENOTFOUND, "seed %u: batch %u/%u: err %d, expected "
						  "not found", seed, i, n, r[i].err);
		else if (r[i].blk >= size)
			ck_assert_msg(r[i].err == STRATA_EEOF, "seed %u: batch %u/%u: err %d, expected EOF",
						  seed, i, n, r[i].err);
		else
		{
			ck_assert(m_lookup(ti, r[i].rel.rel - 16384, r[i].blk, r[i].lsn, &v));
			ck_assert_msg(r[i].err == 0 && get_le32(page) == (uint32_t) v,
						  "seed %u: batch %u/%u tl %d rel %u blk %u lsn %llX: err %d content %u, "
						  "expected %u", seed, i, n, ti, r[i].rel.rel, r[i].blk,
						  (unsigned long long) r[i].lsn, r[i].err, get_le32(page),
						  (uint32_t) v);
		}
		tl_page_release(&r[i]);
	}
}

START_TEST(test_model)
{
	struct tl_conf c = small_conf();
	struct registry *reg;
	const char *s_seed = getenv("STRATA_MODEL_SEED");
	const char *s_ops = getenv("STRATA_MODEL_OPS");
	unsigned	seed = s_seed ? (unsigned) atoi(s_seed) : 20261124u;
	int			ops = s_ops ? atoi(s_ops) : 3000;
	uint32_t	content = 1;
	uint8_t		page[PROTO_PAGE_SIZE];

	printf("check_timeline: model test seed %u, %d operations\n", seed, ops);
	srandom(seed);
	c.freeze_bytes = 64 * 1024;
	c.gc_horizon = 3000;
	memset(mtl, 0, sizeof(mtl));
	memset(m_totals, 0, sizeof(m_totals));
	nmtl = 1;
	memcpy(mtl[0].id, TL1, 16);
	mtl[0].parent = -1;
	mtl[0].next_req = 100;
	reg = open_reg(&c);

	for (int op = 0; op < ops; op++)
	{
		int			ti = (int) (random() % nmtl);
		struct timeline *tl = m_get(reg, ti);
		struct m_tl *t = &mtl[ti];
		uint32_t	rel = (uint32_t) (random() % M_RELS);
		lsn_t		last = atomic_load(&tl->last_record_lsn);
		uint64_t	size = m_size(ti, rel, LSN_MAX);
		int			what = (int) (random() % 100);
		lsn_t		stored = 0;
		int			err;

		t->next_req += 1 + random() % 50;
		if (what < 45)
		{
			/* write or extend a page */
			uint32_t	blk;
			int			extend;

			if (size == VAL_NOT_EXISTS)
			{
				ck_assert_int_eq(change(tl, PROTO_CREATE, rel, 0, t->next_req, NULL, &stored), 0);
				m_push(t, stored, rel, UINT32_MAX, 0);
				continue;
			}
			extend = size == 0 || random() % 3 == 0;
			blk = extend ? (uint32_t) (size + random() % 3) : (uint32_t) (random() % size);
			fill_page(page, content);
			err = change(tl, extend ? PROTO_EXTEND : PROTO_WRITE, rel, blk, t->next_req, page, &stored);
			ck_assert_int_eq(err, 0);
			for (uint64_t h = size; extend && h < blk; h++)
				m_push(t, stored, rel, (uint32_t) h, 0);
			m_push(t, stored, rel, blk, content++);
			if (extend && blk >= size)
				m_push(t, stored, rel, UINT32_MAX, blk + 1);
		}
		else if (what < 52 && size != VAL_NOT_EXISTS && size > 0)
		{
			uint32_t	n = (uint32_t) (random() % size);

			ck_assert_int_eq(change(tl, PROTO_TRUNCATE, rel, n, t->next_req, NULL, &stored), 0);
			m_push(t, stored, rel, UINT32_MAX, n);
		}
		else if (what < 55 && size != VAL_NOT_EXISTS)
		{
			ck_assert_int_eq(change(tl, PROTO_UNLINK, rel, 0, t->next_req, NULL, &stored), 0);
			m_push(t, stored, rel, UINT32_MAX, VAL_NOT_EXISTS);
		}
		else if (what < 75)
		{
			/* read at a retained LSN: the newest, or one at or above the GC cutoff */
			lsn_t		lo = tl_gc_cutoff(tl);
			lsn_t		at;
			uint32_t	blk = (uint32_t) (random() % 8);

			if (t->parent >= 0 && lo < t->anc_lsn + 1)
				lo = t->anc_lsn + 1;
			at = last > lo ? lo + (lsn_t) (random() % (last - lo + 1)) : LSN_MAX;
			if (random() % 3 == 0)
				at = LSN_MAX;
			if (random() % 3 == 0)
				m_check_batch(reg, ti, lo, last, seed);
			else
				m_check_read(reg, ti, rel, blk, at, seed);
		}
		else if (what < 80)
			ck_assert_int_eq(tl_checkpoint(tl), 0);
		else if (what < 84)
			ck_assert_int_eq(tl_compact(tl), 0);
		else if (what < 88)
			ck_assert_int_eq(tl_gc(tl), 0);
		else if (what < 91 && nmtl < M_TLS && last > 0 && last >= tl_gc_cutoff(tl))
		{
			/* branch at a retained LSN */
			struct tenant *tn = registry_tenant(reg, TENANT);
			lsn_t		lo = tl_gc_cutoff(tl);
			lsn_t		at;
			struct m_tl *ch = &mtl[nmtl];

			if (t->parent >= 0 && lo < t->anc_lsn + 1)
				lo = t->anc_lsn + 1;
			if (lo > last)
				continue;
			at = lo + (lsn_t) (random() % (last - lo + 1));
			memset(ch, 0, sizeof(*ch));
			ch->id[0] = (uint8_t) (0x10 + nmtl);
			ch->parent = ti;
			ch->anc_lsn = at;
			ch->next_req = at;
			ck_assert_int_eq(registry_create_timeline(reg, tn, ch->id, t->id, at, NULL), 0);
			nmtl++;
		}
		else if (what < 93)
		{
			m_account(reg);
			registry_close(reg, 0);
			reg = open_reg(&c);
		}
	}
	/* finally every relation and block of every timeline at the newest LSN */
	for (int ti = 0; ti < nmtl; ti++)
		for (uint32_t rel = 0; rel < M_RELS; rel++)
			for (uint32_t blk = 0; blk < 10; blk++)
				m_check_read(reg, ti, rel, blk, LSN_MAX, seed);
	m_account(reg);
	printf("check_timeline: %d timelines; %llu flushes, %llu compactions, %llu image layers, "
		   "%llu layers removed by GC, %llu gc-compactions\n", nmtl, (unsigned long long) m_totals[0],
		   (unsigned long long) m_totals[1], (unsigned long long) m_totals[2],
		   (unsigned long long) m_totals[3], (unsigned long long) m_totals[4]);
	ck_assert_uint_gt(m_totals[0], 0);
	ck_assert_uint_gt(m_totals[1], 0);
	ck_assert_uint_gt(m_totals[2], 0);
	ck_assert_uint_gt(m_totals[3], 0);
	ck_assert_uint_gt(m_totals[4], 0);
	registry_close(reg, 0);
	for (int ti = 0; ti < nmtl; ti++)
		free(mtl[ti].ev);
}
END_TEST

/*
 * Weak handles: they never keep a timeline alive, are cleared when it
 * stops, upgrade only while it serves, and a cache shuts down once.
 */
START_TEST(test_handles)
{
	struct tl_conf c = small_conf();
	struct registry *reg = open_reg(&c);
	struct tenant *tn = registry_tenant(reg, TENANT);
	struct timeline *tl = registry_timeline(reg, TENANT, TL1);
	static const uint8_t tl2_id[16] = {0x77};
	struct timeline *tl2;
	struct hcache hc;
	struct tl_handle *h;
	struct tl_handle *h2;
	struct timeline *strong;
	int			refs;

	ck_assert_int_eq(registry_create_timeline(reg, tn, tl2_id, NULL, 0, NULL), 0);
	tl2 = registry_timeline(reg, TENANT, tl2_id);
	hcache_init(&hc);
	refs = atomic_load(&tl2->refs);
	h = hcache_get(&hc, tl2);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_eq(hcache_get(&hc, tl2), h);	/* cached */
	ck_assert_int_eq(atomic_load(&tl2->refs), refs);	/* weak: no reference */
	h2 = hcache_get(&hc, tl);
	ck_assert_ptr_nonnull(h2);
	strong = handle_upgrade(h);
	ck_assert_ptr_eq(strong, tl2);
	ck_assert_int_eq(atomic_load(&tl2->refs), refs + 1);
	tl_unref(strong);
	/* deleting the timeline clears its handle, leaves the other */
	ck_assert_int_eq(registry_delete_timeline(reg, tn, tl2_id), 0);
	ck_assert_ptr_null(h->tl);
	ck_assert_ptr_null(handle_upgrade(h));
	ck_assert_ptr_eq(h2->tl, tl);
	hcache_shutdown(&hc);
	ck_assert_ptr_null(tl->handles);
	hcache_shutdown(&hc);		/* twice: a no-op */
	ck_assert_ptr_null(hcache_get(&hc, tl));
	registry_close(reg, 0);
}
END_TEST

Suite *
check_timeline_suite(void)
{
	Suite	   *s = suite_create("timeline");
	TCase	   *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_write_read_restart);
	tcase_add_test(tc, test_full_ring_is_busy);
	tcase_add_test(tc, test_interrupted_log_creation);
	tcase_add_test(tc, test_short_log_is_corrupt);
	tcase_add_test(tc, test_failed_sync_is_sticky);
	tcase_add_test(tc, test_failed_manifest_save_halts_background);
	tcase_add_test(tc, test_flush_compact_image_gc);
	tcase_add_test(tc, test_pitr_retention);
	tcase_add_test(tc, test_gc_rewrite_name_collision);
	tcase_add_test(tc, test_corrupt_layer);
	tcase_add_test(tc, test_model);
	tcase_add_test(tc, test_handles);
	suite_add_tcase(s, tc);
	return s;
}
