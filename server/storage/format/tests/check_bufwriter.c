/*
 * check_bufwriter.c: the double-buffered writer — content, back-pressure,
 * reads from the buffers and the file, retried failures, cancellation.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bufwriter.h"
#include "strata_err.h"
#include "testutil.h"
#include "suites.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int	notified;

static void
notify(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&mu);
	notified++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

/* Wait (up to 20 s) until cond(bw) holds, woken by notify. */
static int
wait_for(struct bufwriter *bw, int (*cond) (struct bufwriter *))
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 20;
	pthread_mutex_lock(&mu);
	while (!cond(bw))
		if (pthread_cond_timedwait(&cv, &mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&mu);
	return cond(bw);
}

static int
all_written(struct bufwriter *bw)
{
	return bw_written(bw) == bw_appended(bw);
}

static int
has_failed(struct bufwriter *bw)
{
	return bw_failed(bw, NULL) != 0;
}

static int
open_file(void)
{
	char		path[300];
	int			fd;

	snprintf(path, sizeof(path), "%s/file", test_dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	return fd;
}

START_TEST(test_content_and_reads)
{
	int			fd = open_file();
	struct bufwriter *bw;
	uint8_t    *expect = malloc(1 << 20);
	uint8_t		rec[3000];
	uint8_t		back[3000];
	uint64_t	total = 100;
	uint64_t	off;

	srandom(1);
	ck_assert_int_eq(bw_open(fd, 100, 4096, "test", notify, NULL, &bw), 0);
	while (total < 600000)
	{
		uint32_t	len = 1 + (uint32_t) (random() % sizeof(rec));
		int			err;

		for (uint32_t i = 0; i < len; i++)
			rec[i] = (uint8_t) random();
		while ((err = bw_append(bw, rec, len, &off)) == STRATA_EBUSY)
		{
			bw_submit(bw);
			ck_assert(wait_for(bw, all_written));
		}
		ck_assert_int_eq(err, 0);
		ck_assert_uint_eq(off, total);
		memcpy(expect + total, rec, len);
		total += len;
		/* read back: from the ring (just appended) and older (file) */
		ck_assert_int_eq(bw_read(bw, off, back, len), 0);
		ck_assert_mem_eq(back, rec, len);
		if (random() % 4 == 0)
			bw_submit(bw);
		ck_assert_uint_le(bw_written(bw), bw_appended(bw));
	}
	bw_submit(bw);
	ck_assert(wait_for(bw, all_written));
	ck_assert_int_eq(bw_read(bw, 100, back, 3000), 0);
	ck_assert_mem_eq(back, expect + 100, 3000);
	ck_assert_int_eq(bw_close(bw, 0), 0);
	{
		uint8_t    *file = malloc(total);

		ck_assert_int_eq(pread(fd, file, total - 100, 100), (ssize_t) (total - 100));
		ck_assert_mem_eq(file, expect + 100, total - 100);
		free(file);
	}
	free(expect);
	close(fd);
}
END_TEST

START_TEST(test_backpressure_and_retry)
{
	int			fd = open_file();
	struct bufwriter *bw;
	uint8_t		rec[1000];
	uint64_t	off;
	int			attempts = 0;
	int			err;

	memset(rec, 7, sizeof(rec));
	ck_assert_int_eq(bw_open(fd, 0, 2048, "test", notify, NULL, &bw), 0);
	ck_assert_int_eq(bw_append(bw, rec, 5000, &off), STRATA_EINVAL);	/* bigger than both buffers */
	/* two failures: the writer retries (100 ms, then 200 ms) and lands the data */
	bw_test_fail_writes(bw, 2, ENOSPC);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(bw_append(bw, rec, 1000, &off), 0);
	ck_assert_int_eq(bw_append(bw, rec, 1000, &off), STRATA_EBUSY);	/* the ring is full */
	bw_submit(bw);
	ck_assert(wait_for(bw, has_failed));
	ck_assert_int_eq(bw_failed(bw, &attempts), STRATA_ENOSPC);
	ck_assert_int_ge(attempts, 1);
	ck_assert_int_eq(bw_append(bw, rec, 10, &off), STRATA_ENOSPC);	/* reported to appenders */
	ck_assert(wait_for(bw, all_written));
	ck_assert_int_eq(bw_failed(bw, NULL), 0);
	ck_assert_int_eq((err = bw_append(bw, rec, 1000, &off)), 0);
	ck_assert_int_eq(bw_close(bw, 0), 0);
	close(fd);
}
END_TEST

START_TEST(test_cancel_during_backoff)
{
	int			fd = open_file();
	struct bufwriter *bw;
	uint8_t		rec[100];
	uint64_t	off;
	struct timespec t0,
				t1;

	memset(rec, 1, sizeof(rec));
	ck_assert_int_eq(bw_open(fd, 0, 4096, "test", notify, NULL, &bw), 0);
	bw_test_fail_writes(bw, 1000, EIO);
	ck_assert_int_eq(bw_append(bw, rec, sizeof(rec), &off), 0);
	bw_submit(bw);
	ck_assert(wait_for(bw, has_failed));
	ck_assert_int_eq(bw_failed(bw, NULL), STRATA_EIO);
	/* several attempts in: the backoff is long now; cancel must not wait for it */
	usleep(400000);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(bw_close(bw, 1), STRATA_ECANCELLED);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 1000);
	close(fd);
}
END_TEST

START_TEST(test_close_right_away)
{
	int			fd = open_file();
	struct bufwriter *bw;

	ck_assert_int_eq(bw_open(fd, 0, 4096, "test", notify, NULL, &bw), 0);
	ck_assert_int_eq(bw_close(bw, 0), 0);
	ck_assert_int_eq(bw_open(fd, 0, 4096, "test", notify, NULL, &bw), 0);
	ck_assert_int_eq(bw_close(bw, 1), 0);	/* nothing was left unwritten */
	close(fd);
}
END_TEST

/*
 * An idle writer moves on to another file (a freeze with a spare log):
 * everything after lands in the new file from its start offset.  The
 * flush thread must not keep the old file's offset across its wait: it
 * then wrote the new file from the old offset on, leaving a hole of
 * zeros where the first records belonged (found by the timeline model).
 */
START_TEST(test_retarget)
{
	char		a[512],
				b[512];
	uint8_t		buf[1000];
	uint8_t		got[1000];
	struct bufwriter *bw;
	uint64_t	off;
	int			fa,
				fb;

	snprintf(a, sizeof(a), "%s/a", test_dir);
	snprintf(b, sizeof(b), "%s/b", test_dir);
	ck_assert_int_ge(fa = open(a, O_RDWR | O_CREAT, 0600), 0);
	ck_assert_int_ge(fb = open(b, O_RDWR | O_CREAT, 0600), 0);
	ck_assert_int_eq(bw_open(fa, 0, 1024, "a", notify, NULL, &bw), 0);
	memset(buf, 'A', sizeof(buf));
	/* the old file ends (110) before the new one's first range (564) */
	ck_assert_int_eq(bw_append(bw, buf, 100, &off), 0);
	bw_submit(bw);
	ck_assert(wait_for(bw, all_written));
	/* not idle: refused, nothing changed */
	ck_assert_int_eq(bw_append(bw, buf, 10, &off), 0);
	ck_assert_int_eq(bw_retarget(bw, fb, 64, "b"), STRATA_EBUSY);
	bw_submit(bw);
	ck_assert(wait_for(bw, all_written));
	ck_assert_int_eq(bw_retarget(bw, fb, 64, "b"), 0);
	ck_assert_uint_eq(bw_written(bw), 64);
	memset(buf, 'B', sizeof(buf));
	ck_assert_int_eq(bw_append(bw, buf, 500, &off), 0);
	ck_assert_uint_eq(off, 64);
	bw_submit(bw);
	ck_assert(wait_for(bw, all_written));
	ck_assert_int_eq(bw_close(bw, 0), 0);
	ck_assert_int_eq(pread(fb, got, 500, 64), 500);
	ck_assert_mem_eq(got, buf, 500);
	ck_assert_int_eq(lseek(fb, 0, SEEK_END), 564);
	ck_assert_int_eq(lseek(fa, 0, SEEK_END), 110);
	close(fa);
	close(fb);
}
END_TEST

Suite *
check_bufwriter_suite(void)
{
	Suite	   *s = suite_create("bufwriter");
	TCase	   *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_dir_setup, test_dir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_content_and_reads);
	tcase_add_test(tc, test_backpressure_and_retry);
	tcase_add_test(tc, test_cancel_during_backoff);
	tcase_add_test(tc, test_close_right_away);
	tcase_add_test(tc, test_retarget);
	suite_add_tcase(s, tc);
	return s;
}
