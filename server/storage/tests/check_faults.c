/*
 * check_faults.c: fault injection at every I/O site (issue 12).
 *
 * A scripted workload (create, writes and extends, freeze and flush,
 * compaction, images, GC, restarts) runs in a child process whose Nth
 * file operation (fio.h) fails with ENOSPC or EIO; the child goes on as
 * far as it can and then dies without a clean shutdown, as with kill -9.
 * The parent then opens the data directory with no fault and checks: the
 * registry and the timeline load (never broken by a failed write), every
 * acknowledged write reads back (the newest acknowledged version, or a
 * newer one that was written but whose acknowledgement the fault cut
 * off), and no read returns anything else.  N runs over the first call of
 * every site the workload reaches (each site fails at least once) and over
 * every 20th call besides; the long mode fails every call:
 *
 *	STRATA_FAULT_STRIDE=1 server/obj-test/unit_tests faults
 *
 * The data directory is on /dev/shm where there is one: a crash here is a
 * process death (the page cache survives), so fsyncs need not be real.
 */
#include <check.h>
#include <signal.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bytes.h"
#include "slog.h"
#include "fio.h"
#include "strata_err.h"
#include "suites.h"
#include "tenant.h"
#include "testutil.h"
#include "timeline.h"

#define NBLK		6
#define ROUNDS		3
#define MAX_SITES	256
#define MAX_CALLS	8192

static const uint8_t TENANT[16] = {0xFA};
static const uint8_t TL[16] = {0x0F};

/* Shared with the child: what it was told and what it tried. */
struct outcome
{
	uint32_t	acked[NBLK];	/* newest acknowledged version (0: none) */
	uint32_t	tried[NBLK];	/* newest version sent */
	int			created;		/* the relation's CREATE was acknowledged */
	uint64_t	calls;			/* file operations counted */
	const char *site;			/* where the fault fired (NULL: it did not) */
	const char *sites[MAX_CALLS];	/* the site of each call the child made */
};

static const struct proto_rel REL = {1663, 5, 17000, 0};

static struct tl_conf
tiny_conf(void)
{
	struct tl_conf c;

	tl_conf_default(&c);
	c.freeze_bytes = 16 * 1024;
	c.compaction_threshold = 2;
	c.target_layer_bytes = 64 * 1024;
	c.image_threshold = 2;
	c.gc_horizon = 0;
	c.compaction_period_ms = 3600 * 1000;
	c.bufsize = 16 * 1024;
	return c;
}

static void
page_of(uint32_t blk, uint32_t version, uint8_t *page)
{
	memset(page, (int) (version & 0xFF), PROTO_PAGE_SIZE);
	put_le32(page, blk);
	put_le32(page + 4, version);
}

static int
change(struct timeline *tl, uint8_t tag, uint32_t blk, const uint8_t *page)
{
	struct proto_req req;
	uint64_t	ticket;
	lsn_t		lsn;
	int			err;
	static lsn_t next = 1000;

	memset(&req, 0, sizeof(req));
	req.tag = tag;
	req.rel = REL;
	req.request_lsn = next += 10;
	req.blk = blk;
	req.page = page;
	if ((err = tl_prepare(tl, &req, &lsn, &ticket)) != 0)
		return err;
	if ((err = tl_wait(tl)) != 0)
		return err;
	return tl_ticket_status(tl, ticket) == 1 ? 0 : STRATA_EIO;
}

/* The workload; stops at nothing: every step is tried, errors and all. */
static void
workload(struct outcome *o)
{
	struct tl_conf c = tiny_conf();
	struct registry *reg = NULL;
	uint32_t	version = 0;

	for (int round = 0; round < ROUNDS; round++)
	{
		struct timeline *tl;

		if (registry_open(test_dir, NULL, &c, &reg) != 0)
			return;
		if (registry_ensure_timeline(reg, TENANT, TL) != 0 ||
			(tl = registry_timeline(reg, TENANT, TL)) == NULL)
		{
			registry_close(reg, 0);
			return;
		}
		if (!o->created)
			o->created = change(tl, PROTO_CREATE, 0, NULL) == 0;
		for (int pass = 0; pass < 4; pass++)
			for (uint32_t b = 0; b < NBLK; b++)
			{
				uint8_t		page[PROTO_PAGE_SIZE];

				page_of(b, ++version, page);
				o->tried[b] = version;
				if (change(tl, o->acked[b] || pass > 0 || round > 0 ? PROTO_WRITE : PROTO_EXTEND,
						   b, page) == 0)
					o->acked[b] = version;
			}
		(void) tl_checkpoint(tl);
		(void) tl_compact(tl);
		(void) tl_gc(tl);
		if (round + 1 < ROUNDS)
			registry_close(reg, 0);
	}
	/* the last round ends like kill -9: no shutdown, no final sync */
}

/* Run the workload in a child with the nth call failing with err (0: none). */
static void
run_child(uint64_t nth, int err, int die, struct outcome *o)
{
	pid_t		pid;
	int			status;

	memset(o, 0, sizeof(*o));
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
	{
		fio_fault_plan(nth, err, FIO_ALL_OPS);
		fio_die_after_fault(die);
		/* the site of every call, also for a child that dies mid-way */
		fio_record_sites(o->sites, MAX_CALLS);
		workload(o);
		o->calls = fio_calls();
		o->site = fio_fault_site();
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				  "the workload crashed with call %llu failing", (unsigned long long) nth);
	if (nth > 0 && nth <= MAX_CALLS && o->site == NULL)
		o->site = o->sites[nth - 1];	/* it died right after the fault */
}

/* Open with no fault: loadable, and every acknowledged write is there. */
static void
verify(uint64_t nth, const struct outcome *o)
{
	struct tl_conf c = tiny_conf();
	struct registry *reg;
	struct timeline *tl;

	fio_fault_plan(0, 0, 0);
	ck_assert_msg(registry_open(test_dir, NULL, &c, &reg) == 0,
				  "call %llu failing (%s): the registry does not load",
				  (unsigned long long) nth, o->site ? o->site : "-");
	ck_assert_int_eq(registry_ensure_timeline(reg, TENANT, TL), 0);
	tl = registry_timeline(reg, TENANT, TL);
	ck_assert_ptr_nonnull(tl);
	ck_assert_msg(atomic_load(&tl->state) == TL_ACTIVE,
				  "call %llu failing (%s): the timeline is %s after restart",
				  (unsigned long long) nth, o->site ? o->site : "-",
				  tl_state_name(atomic_load(&tl->state)));
	for (uint32_t b = 0; b < NBLK && o->created; b++)
	{
		uint8_t		page[PROTO_PAGE_SIZE];
		uint8_t		want[PROTO_PAGE_SIZE];
		int			err = tl_getpage(tl, &REL, b, LSN_MAX, page);
		uint32_t	v;

		if (o->acked[b] == 0)
			continue;
		ck_assert_msg(err == 0, "call %llu failing (%s): block %u acknowledged at version %u "
					  "reads as %s", (unsigned long long) nth, o->site ? o->site : "-", b,
					  o->acked[b], strata_strerror(err));
		v = get_le32(page + 4);
		ck_assert_msg(get_le32(page) == b && v >= o->acked[b] && v <= o->tried[b],
					  "call %llu failing (%s): block %u reads version %u, acknowledged %u, "
					  "tried %u", (unsigned long long) nth, o->site ? o->site : "-", b, v,
					  o->acked[b], o->tried[b]);
		page_of(b, v, want);
		ck_assert_msg(memcmp(page, want, PROTO_PAGE_SIZE) == 0,
					  "call %llu failing: block %u version %u is damaged", (unsigned long long) nth,
					  b, v);
	}
	registry_close(reg, 0);
}

static void faults_setup(void);

static void
wipe(void)
{
	test_dir_teardown();
	faults_setup();
}

static int
known_site(const char **sites, uint32_t n, const char *site)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(sites[i], site) == 0)
			return 1;
	return 0;
}

START_TEST(test_every_io_site)
{
	struct outcome *o = mmap(NULL, sizeof(*o), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
							 -1, 0);
	const char *seen[MAX_SITES];
	const char *failed[MAX_SITES];
	uint8_t    *pick;
	uint32_t	nseen = 0;
	uint32_t	nfailed = 0;
	uint64_t	total;
	uint64_t	injected = 0;
	const char *s_stride = getenv("STRATA_FAULT_STRIDE");
	uint64_t	stride = s_stride ? strtoull(s_stride, NULL, 10) : 20;

	ck_assert_ptr_ne(o, MAP_FAILED);
	if (stride == 0)
		stride = 1;
	/* the calls the workload makes without a fault, and their sites */
	run_child(0, 0, 0, o);
	total = o->calls;
	ck_assert_uint_gt(total, 50);
	ck_assert_uint_le(total, MAX_CALLS);
	verify(0, o);
	pick = calloc(total + 1, 1);
	ck_assert_ptr_nonnull(pick);
	for (uint64_t n = 1; n <= total; n++)
	{
		if (!known_site(seen, nseen, o->sites[n - 1]) && nseen < MAX_SITES)
		{
			seen[nseen++] = o->sites[n - 1];
			pick[n] = 1;
		}
		if (n % stride == 0)
			pick[n] = 1;
	}
	for (uint64_t n = 1; n <= total; n++)
	{
		if (!pick[n])
			continue;
		/*
		 * The failure handled and the workload going on; then a crash at
		 * the 1st, 2nd, 4th and 8th file operation after it (in the middle
		 * of cleaning up after the failure).
		 */
		for (int die = 0; die <= 8; die = die ? die * 2 : 1)
		{
			wipe();
			run_child(n, n % 2 ? ENOSPC : EIO, die, o);
			if (!die && o->site == NULL)
				break;			/* this run made fewer calls than the first */
			injected++;
			if (o->site && !known_site(failed, nfailed, o->site) && nfailed < MAX_SITES)
				failed[nfailed++] = o->site;
			verify(n, o);
		}
	}
	fprintf(stderr, "check_faults: %llu file operations at %u sites in the workload; "
			"%llu faults injected (ENOSPC and EIO alternately; each handled, and followed "
			"by a crash 1, 2, 4 and 8 operations later) at %u sites, every one recovered\n", (unsigned long long) total, nseen, (unsigned long long) injected,
			nfailed);
	ck_assert_uint_gt(nfailed, 10);
	free(pick);
	munmap(o, sizeof(*o));
}
END_TEST

/* The loop rule's check: an fsync on a thread that said so is a crash. */
START_TEST(test_no_sync_on_loop_thread)
{
	int			status;
	pid_t		pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0)
	{
		int			fd = open(test_dir, O_RDONLY | O_DIRECTORY);

		(void) fio_fsync(fd);	/* allowed */
		fio_no_sync_on_this_thread("test loop");
		(void) fio_fdatasync(fd);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
}
END_TEST

/* On /dev/shm if possible: fsyncs cost nothing and the sweep runs fast. */
static void
faults_setup(void)
{
	snprintf(test_dir, sizeof(test_dir), "/dev/shm/strata_faults.XXXXXX");
	if (mkdtemp(test_dir) == NULL)
		test_dir_setup();
	else
		slog_set_level((enum slog_level) (SLOG_ERROR + 1));	/* thousands of expected errors */
}

Suite *
check_faults_suite(void)
{
	Suite	   *s = suite_create("faults");
	TCase	   *tc = tcase_create("faults");

	tcase_add_checked_fixture(tc, faults_setup, test_dir_teardown);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test_every_io_site);
	tcase_add_test(tc, test_no_sync_on_loop_thread);
	suite_add_tcase(s, tc);
	return s;
}
