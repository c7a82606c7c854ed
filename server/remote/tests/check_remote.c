/*
 * check_remote.c: the remote storage backends (server/remote/remote.c,
 * rs_file.c, rs_s3.c, rs_pool.c) against one contract.
 *
 *	remote_file   every contract test on file:// (a scratch directory);
 *	              part of the default run
 *	remote_s3     the same tests, plus multipart, signatures and retries,
 *	              against a real S3 server; run only when named, by
 *	              `make -C server check-remote`, which starts radosgw
 *	              (tools/ceph-rgw.sh) and exports S3_ENDPOINT, S3_REGION,
 *	              S3_BUCKET, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
 *	              Without them every test FAILS: it never skips.
 */
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "remote.h"
#include "rs_pool.h"
#include "rs_url.h"
#include "strata_err.h"
#include "suites.h"
#include "testutil.h"

static int use_s3;
static char url_text[2048];

static void
setup_file(void)
{
	test_dir_setup();
	use_s3 = 0;
	snprintf(url_text, sizeof(url_text), "file://%s/remote", test_dir);
}

static const char *
need_env(const char *name)
{
	const char *v = getenv(name);

	ck_assert_msg(v != NULL && v[0] != '\0',
				  "%s is not set: the remote_s3 suite needs a running S3 server; run it with "
				  "`make -C server check-remote` (it starts radosgw)", name);
	return v;
}

static void
setup_s3(void)
{
	struct timespec ts;

	test_dir_setup();
	use_s3 = 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	/* every test gets its own prefix in the bucket */
	snprintf(url_text, sizeof(url_text), "s3://%s/t%d-%ld/a?endpoint=%s&region=%s",
			 need_env("S3_BUCKET"), (int) getpid(), (long) ts.tv_nsec, need_env("S3_ENDPOINT"),
			 need_env("S3_REGION"));
	(void) need_env("AWS_ACCESS_KEY_ID");
	(void) need_env("AWS_SECRET_ACCESS_KEY");
}

static struct remote *
open_url(const char *url, const struct remote_config *cfg)
{
	struct rs_url u;
	struct rs_creds c;
	struct remote *r = NULL;
	char		why[512];

	memset(&c, 0, sizeof(c));
	ck_assert_msg(rs_url_parse(url, &u, why, sizeof(why)) == 0, "%s: %s", url, why);
	if (u.kind == RS_S3)
		ck_assert_msg(rs_creds_load(NULL, &c, why, sizeof(why)) == 0, "%s", why);
	ck_assert_msg(remote_open(&u, &c, cfg, &r, why, sizeof(why)) == 0, "%s", why);
	rs_creds_clear(&c);
	return r;
}

static struct remote *
open_remote(const struct remote_config *cfg)
{
	return open_url(url_text, cfg);
}

/* Expect err from the call (which takes &res as its last argument). */
#define FAILS(want, call) do { int e_ = (call); \
	ck_assert_msg(e_ == (want), "%s: got %d (%s), want %d: %s", #call, e_, strata_strerror(e_), \
				  (want), res.message); ck_assert_int_eq(res.err, (want)); } while (0)

static void
fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t) ((i * 131 + seed * 7 + (i >> 12)) & 0xff);
}

static void
write_local(const char *path, const void *data, size_t n)
{
	FILE	   *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	fclose(f);
}

static void
expect_object(struct remote *r, const char *key, const void *data, size_t n)
{
	struct remote_result res;
	void	   *got;
	size_t		len;
	uint64_t	size;
	int			e = remote_get_buf(r, key, 0, REMOTE_WHOLE, &got, &len, &res);

	ck_assert_msg(e == 0, "get %s: %s", key, res.message);
	ck_assert_uint_eq(len, n);
	ck_assert_int_eq(memcmp(got, data, n), 0);
	free(got);
	ck_assert_msg(remote_head(r, key, &size, &res) == 0, "head %s: %s", key, res.message);
	ck_assert_uint_eq(size, n);
}

START_TEST(put_get_head_round_trip)
{
	struct remote *r = open_remote(NULL);
	struct remote_result res;
	static uint8_t big[300000];
	char		path[300];
	uint64_t	size;
	void	   *got;
	size_t		len;

	fill(big, sizeof(big), 1);
	ck_assert_int_eq(remote_put_buf(r, "dir/obj one+%&=", "hello", 5, 0, &res), 0);
	expect_object(r, "dir/obj one+%&=", "hello", 5);
	/* overwrite */
	ck_assert_int_eq(remote_put_buf(r, "dir/obj one+%&=", big, sizeof(big), 0, &res), 0);
	expect_object(r, "dir/obj one+%&=", big, sizeof(big));
	/* from a file */
	snprintf(path, sizeof(path), "%s/local", test_dir);
	write_local(path, big + 7, sizeof(big) - 7);
	ck_assert_msg(remote_put_file(r, "f/from-file", path, 0, &res) == 0, "%s", res.message);
	expect_object(r, "f/from-file", big + 7, sizeof(big) - 7);
	/* empty object */
	ck_assert_int_eq(remote_put_buf(r, "empty", NULL, 0, 0, &res), 0);
	ck_assert_int_eq(remote_get_buf(r, "empty", 0, REMOTE_WHOLE, &got, &len, &res), 0);
	ck_assert_uint_eq(len, 0);
	ck_assert_ptr_nonnull(got);
	free(got);
	ck_assert_int_eq(remote_head(r, "empty", &size, &res), 0);
	ck_assert_uint_eq(size, 0);
	/* absent */
	FAILS(STRATA_ENOTFOUND, remote_get_buf(r, "nope", 0, REMOTE_WHOLE, &got, &len, &res));
	ck_assert_ptr_nonnull(strstr(res.message, "nope"));
	FAILS(STRATA_ENOTFOUND, remote_head(r, "dir/nope", &size, &res));
	FAILS(STRATA_ENOTFOUND, remote_put_file(r, "x", "/nonexistent/file", 0, &res));
	remote_close(r);
}
END_TEST

START_TEST(ranged_get)
{
	struct remote *r = open_remote(NULL);
	struct remote_result res;
	uint8_t		data[10000];
	void	   *got;
	size_t		len;

	fill(data, sizeof(data), 2);
	ck_assert_int_eq(remote_put_buf(r, "ranged", data, sizeof(data), 0, &res), 0);
	ck_assert_msg(remote_get_buf(r, "ranged", 1234, 100, &got, &len, &res) == 0, "%s", res.message);
	ck_assert_uint_eq(len, 100);
	ck_assert_int_eq(memcmp(got, data + 1234, 100), 0);
	free(got);
	/* cut at the end */
	ck_assert_int_eq(remote_get_buf(r, "ranged", 9990, 100, &got, &len, &res), 0);
	ck_assert_uint_eq(len, 10);
	ck_assert_int_eq(memcmp(got, data + 9990, 10), 0);
	free(got);
	/* to the end */
	ck_assert_int_eq(remote_get_buf(r, "ranged", 5000, REMOTE_WHOLE, &got, &len, &res), 0);
	ck_assert_uint_eq(len, 5000);
	ck_assert_int_eq(memcmp(got, data + 5000, 5000), 0);
	free(got);
	/* nothing */
	ck_assert_int_eq(remote_get_buf(r, "ranged", 17, 0, &got, &len, &res), 0);
	ck_assert_uint_eq(len, 0);
	free(got);
	/* past the end */
	FAILS(STRATA_EINVAL, remote_get_buf(r, "ranged", 10000, 5, &got, &len, &res));
	FAILS(STRATA_EINVAL, remote_get_buf(r, "ranged", 20000, REMOTE_WHOLE, &got, &len, &res));
	ck_assert_ptr_null(got);
	remote_close(r);
}
END_TEST

START_TEST(get_into_a_file_is_published_whole)
{
	struct remote *r = open_remote(NULL);
	struct remote_result res;
	uint8_t		data[70000];
	char		path[300];
	char		tmp[320];
	void	   *got;
	size_t		len;
	struct stat st;

	fill(data, sizeof(data), 3);
	ck_assert_int_eq(remote_put_buf(r, "layers/L1", data, sizeof(data), 0, &res), 0);
	snprintf(path, sizeof(path), "%s/downloaded", test_dir);
	ck_assert_msg(remote_get_file(r, "layers/L1", 0, REMOTE_WHOLE, path, &res) == 0, "%s",
				  res.message);
	ck_assert_int_eq(fs_read_file(path, &got, &len), 0);
	ck_assert_uint_eq(len, sizeof(data));
	ck_assert_int_eq(memcmp(got, data, len), 0);
	free(got);
	/* a range into a file */
	ck_assert_int_eq(remote_get_file(r, "layers/L1", 65536, 100, path, &res), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 100);
	/* a failed download leaves neither the file changed nor a temp file */
	FAILS(STRATA_ENOTFOUND, remote_get_file(r, "layers/none", 0, REMOTE_WHOLE, path, &res));
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_size, 100);
	snprintf(tmp, sizeof(tmp), "%s.download", path);
	ck_assert_int_ne(stat(tmp, &st), 0);
	remote_close(r);
}
END_TEST

START_TEST(create_if_absent)
{
	struct remote *r = open_remote(NULL);
	struct remote_result res;

	ck_assert_msg(remote_put_buf(r, "gen/lock", "one", 3, REMOTE_IF_ABSENT, &res) == 0, "%s",
				  res.message);
	FAILS(STRATA_EPRECONDITION, remote_put_buf(r, "gen/lock", "two", 3, REMOTE_IF_ABSENT, &res));
	expect_object(r, "gen/lock", "one", 3);
	/* an unconditional put still replaces it */
	ck_assert_int_eq(remote_put_buf(r, "gen/lock", "three", 5, 0, &res), 0);
	expect_object(r, "gen/lock", "three", 5);
	remote_close(r);
}
END_TEST

static void
put_keys(struct remote *r, const char *fmt, int n)
{
	for (int i = 0; i < n; i++)
	{
		struct remote_result res;
		char		key[64];

		snprintf(key, sizeof(key), fmt, i);
		ck_assert_msg(remote_put_buf(r, key, key, strlen(key), 0, &res) == 0, "%s", res.message);
	}
}

START_TEST(list_pages_through_everything)
{
	struct remote_config cfg;
	struct remote *r;
	struct remote_result res;
	struct remote_listing l;

	remote_config_default(&cfg);
	cfg.list_page_size = 7;		/* many pages, continuation tokens */
	r = open_remote(&cfg);
	put_keys(r, "tl/layer-%03d", 45);
	put_keys(r, "tl2/other-%d", 3);
	put_keys(r, "tlx-%d", 2);
	ck_assert_msg(remote_list(r, "tl/", &l, &res) == 0, "%s", res.message);
	ck_assert_uint_eq(l.n, 45);
	for (size_t i = 0; i < l.n; i++)
	{
		char		want[64];

		snprintf(want, sizeof(want), "tl/layer-%03zu", i);
		ck_assert_str_eq(l.objects[i].key, want);
		ck_assert_uint_eq(l.objects[i].size, strlen(want));
	}
	remote_listing_free(&l);
	/* a prefix that is not a directory */
	ck_assert_int_eq(remote_list(r, "tl", &l, &res), 0);
	ck_assert_uint_eq(l.n, 50);
	remote_listing_free(&l);
	ck_assert_int_eq(remote_list(r, "", &l, &res), 0);
	ck_assert_uint_eq(l.n, 50);
	remote_listing_free(&l);
	ck_assert_int_eq(remote_list(r, "none/", &l, &res), 0);
	ck_assert_uint_eq(l.n, 0);
	remote_listing_free(&l);
	FAILS(STRATA_EINVAL, remote_list(r, "../", &l, &res));
	remote_close(r);
}
END_TEST

START_TEST(delete_one_and_many)
{
	struct remote *r = open_remote(NULL);
	struct remote_result res;
	struct remote_listing l;
	const char *keys[3] = {"d/k1", "d/absent", "d/k2"};
	uint64_t	size;

	put_keys(r, "d/k%d", 4);
	ck_assert_int_eq(remote_delete(r, "d/k0", &res), 0);
	FAILS(STRATA_ENOTFOUND, remote_head(r, "d/k0", &size, &res));
	ck_assert_int_eq(remote_delete(r, "d/k0", &res), 0);	/* absent: fine */
	ck_assert_msg(remote_delete_many(r, keys, 3, &res) == 0, "%s", res.message);
	ck_assert_int_eq(remote_list(r, "d/", &l, &res), 0);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_str_eq(l.objects[0].key, "d/k3");
	remote_listing_free(&l);
	ck_assert_int_eq(remote_delete_many(r, keys, 0, &res), 0);
	remote_close(r);
}
END_TEST

/* ---------- many keys, put from the pool ---------- */

struct put_job
{
	struct rs_job job;
	struct remote *r;
	char		key[64];
	int			err;
	char		msg[REMOTE_MESSAGE_MAX];
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	int		   *left;
	pthread_t	ran_on;
};

static void
put_run(struct rs_job *j)
{
	struct put_job *p = (struct put_job *) j;
	struct remote_result res;

	p->ran_on = pthread_self();
	p->err = remote_put_buf(p->r, p->key, p->key, strlen(p->key), 0, &res);
	snprintf(p->msg, sizeof(p->msg), "%s", res.message);
}

static void
put_done(struct rs_job *j)
{
	struct put_job *p = (struct put_job *) j;

	ck_assert(pthread_equal(p->ran_on, pthread_self()));	/* done() right after run() */
	pthread_mutex_lock(p->mu);
	if (--*p->left == 0)
		pthread_cond_signal(p->cv);
	pthread_mutex_unlock(p->mu);
}

START_TEST(more_than_1000_keys_listed_and_deleted)
{
	enum
	{
		N = 1003
	};
	struct remote *r = open_remote(NULL);
	struct remote_result res;
	struct remote_listing l;
	struct rs_pool *pool;
	struct put_job *jobs = calloc(N, sizeof(*jobs));
	const char **keys = calloc(N, sizeof(char *));
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	int			left = N;
	struct remote_metrics m;

	ck_assert_int_eq(rs_pool_start(8, N, &pool), 0);
	for (int i = 0; i < N; i++)
	{
		jobs[i].job.run = put_run;
		jobs[i].job.done = put_done;
		jobs[i].r = r;
		jobs[i].mu = &mu;
		jobs[i].cv = &cv;
		jobs[i].left = &left;
		snprintf(jobs[i].key, sizeof(jobs[i].key), "many/k%05d", i);
		keys[i] = jobs[i].key;
		ck_assert_int_eq(rs_pool_submit(pool, &jobs[i].job), 0);
	}
	pthread_mutex_lock(&mu);
	while (left > 0)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	rs_pool_stop(pool);
	for (int i = 0; i < N; i++)
		ck_assert_msg(jobs[i].err == 0, "%s", jobs[i].msg);
	ck_assert_msg(remote_list(r, "many/", &l, &res) == 0, "%s", res.message);	/* default 1000 a page */
	ck_assert_uint_eq(l.n, N);
	ck_assert_str_eq(l.objects[N - 1].key, "many/k01002");
	remote_listing_free(&l);
	ck_assert_msg(remote_delete_many(r, keys, N, &res) == 0, "%s", res.message);	/* 2 batches */
	ck_assert_int_eq(remote_list(r, "many/", &l, &res), 0);
	ck_assert_uint_eq(l.n, 0);
	remote_listing_free(&l);
	remote_metrics_read(r, &m);
	ck_assert_uint_eq(m.ops_total[REMOTE_OP_PUT], N);
	ck_assert_uint_eq(m.failures_total[REMOTE_OP_PUT], 0);
	ck_assert_uint_eq(m.ops_total[REMOTE_OP_LIST], 2);
	ck_assert_uint_ge(m.bytes_sent_total, N * 10);
	ck_assert_uint_ge(m.requests_total, N + 2);
	remote_close(r);
	free(jobs);
	free(keys);
}
END_TEST

static pthread_mutex_t block_mu = PTHREAD_MUTEX_INITIALIZER;
static int	block_ran;

static void
block_run(struct rs_job *j)
{
	(void) j;
	pthread_mutex_lock(&block_mu);
	block_ran++;
	pthread_mutex_unlock(&block_mu);
}

static void
no_done(struct rs_job *j)
{
	(void) j;
}

START_TEST(pool_is_bounded)
{
	struct rs_pool *pool;
	struct rs_job j[3] = {{block_run, no_done, NULL}, {block_run, no_done, NULL},
	{block_run, no_done, NULL}};

	/* one thread, blocked in its job; one job may wait; the next is refused */
	pthread_mutex_lock(&block_mu);
	ck_assert_int_eq(rs_pool_start(1, 1, &pool), 0);
	ck_assert_int_eq(rs_pool_submit(pool, &j[0]), 0);
	for (int i = 0; i < 5000 && rs_pool_queued(pool) > 0; i++)
		usleep(1000);
	ck_assert_int_eq(rs_pool_queued(pool), 0);
	ck_assert_int_eq(rs_pool_submit(pool, &j[1]), 0);
	ck_assert_int_eq(rs_pool_submit(pool, &j[2]), STRATA_EBUSY);
	pthread_mutex_unlock(&block_mu);
	rs_pool_stop(pool);			/* runs what was queued */
	ck_assert_int_eq(block_ran, 2);
	ck_assert_int_eq(rs_pool_start(0, 1, &pool), STRATA_EINVAL);
}
END_TEST

START_TEST(bad_keys_are_refused)
{
	struct remote *r = open_remote(NULL);
	struct remote_result res;
	static const char *const bad[] = {"", "/abs", "a//b", "a/", "./a", "a/../b", "a/.hidden",
	"tab\there", "back\\slash"};
	char		longkey[REMOTE_KEY_MAX + 2];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		FAILS(STRATA_EINVAL, remote_put_buf(r, bad[i], "x", 1, 0, &res));
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	FAILS(STRATA_EINVAL, remote_put_buf(r, longkey, "x", 1, 0, &res));
	ck_assert_int_eq(remote_key_check("a/b.c/d-e_f~g h"), 0);
	remote_close(r);
}
END_TEST

/* ---------- s3 only ---------- */

START_TEST(s3_multipart_upload)
{
	struct remote_config cfg;
	struct remote *r;
	struct remote_result res;
	size_t		n = (11u << 20) + 12345;	/* three parts of 5 MiB, 5 MiB, 1 MiB+ */
	uint8_t    *data = malloc(n);
	char		path[300];
	void	   *got;
	size_t		len;
	struct remote_metrics m;

	remote_config_default(&cfg);
	cfg.multipart_threshold = 6u << 20;
	cfg.multipart_part_size = 5u << 20;
	r = open_remote(&cfg);
	fill(data, n, 9);
	snprintf(path, sizeof(path), "%s/bigfile", test_dir);
	write_local(path, data, n);
	ck_assert_msg(remote_put_file(r, "big/layer", path, 0, &res) == 0, "%s", res.message);
	remote_metrics_read(r, &m);
	ck_assert_uint_eq(m.requests_total, 5);	/* initiate, 3 parts, complete */
	expect_object(r, "big/layer", data, n);
	/* a range across the first part boundary */
	ck_assert_int_eq(remote_get_buf(r, "big/layer", (5u << 20) - 10, 20, &got, &len, &res), 0);
	ck_assert_uint_eq(len, 20);
	ck_assert_int_eq(memcmp(got, data + (5u << 20) - 10, 20), 0);
	free(got);
	/* from a buffer too */
	ck_assert_msg(remote_put_buf(r, "big/buf", data, n, 0, &res) == 0, "%s", res.message);
	expect_object(r, "big/buf", data, n);
	/* create-if-absent needs a single part */
	FAILS(STRATA_EINVAL, remote_put_buf(r, "big/cond", data, n, REMOTE_IF_ABSENT, &res));
	ck_assert_ptr_nonnull(strstr(res.message, "single-part"));
	free(data);
	remote_close(r);
}
END_TEST

START_TEST(s3_wrong_secret_is_permanent)
{
	struct remote_config cfg;
	struct rs_url u;
	struct rs_creds c;
	struct remote *r;
	struct remote_result res;
	struct remote_metrics m;
	char		why[512];

	remote_config_default(&cfg);
	ck_assert_int_eq(rs_url_parse(url_text, &u, why, sizeof(why)), 0);
	ck_assert_int_eq(rs_creds_load(NULL, &c, why, sizeof(why)), 0);
	strcpy(c.secret_key, "wrong-secret");
	ck_assert_int_eq(remote_open(&u, &c, &cfg, &r, why, sizeof(why)), 0);
	FAILS(STRATA_EREMOTE, remote_put_buf(r, "k", "v", 1, 0, &res));
	ck_assert_int_eq(res.http_status, 403);
	ck_assert_int_eq(res.attempts, 1);	/* a 4xx is never retried */
	ck_assert_msg(strstr(res.message, "SignatureDoesNotMatch") != NULL, "%s", res.message);
	remote_metrics_read(r, &m);
	ck_assert_uint_eq(m.retries_total, 0);
	ck_assert_uint_eq(m.failures_total[REMOTE_OP_PUT], 1);
	remote_close(r);
}
END_TEST

START_TEST(s3_missing_bucket_is_permanent)
{
	struct remote *r;
	struct remote_result res;
	void	   *got;
	size_t		len;
	char		url[2048];

	snprintf(url, sizeof(url), "s3://no-such-bucket-%d?endpoint=%s&region=%s", (int) getpid(),
			 getenv("S3_ENDPOINT"), getenv("S3_REGION"));
	r = open_url(url, NULL);
	FAILS(STRATA_EREMOTE, remote_get_buf(r, "k", 0, REMOTE_WHOLE, &got, &len, &res));
	ck_assert_msg(strstr(res.message, "NoSuchBucket") != NULL, "%s", res.message);
	remote_close(r);
}
END_TEST

/* A port nothing listens on: bind one, then close it. */
static int
dead_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t	al = sizeof(a);
	int			fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *) &a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

START_TEST(s3_server_down_is_transient_after_retries)
{
	struct remote_config cfg;
	struct remote *r;
	struct remote_result res;
	struct remote_metrics m;
	char		url[512];

	remote_config_default(&cfg);
	cfg.max_attempts = 3;
	cfg.backoff_base_ms = 10;
	cfg.backoff_max_ms = 40;
	snprintf(url, sizeof(url), "s3://bucket-x/p?endpoint=http://127.0.0.1:%d&region=us-east-1",
			 dead_port());
	r = open_url(url, &cfg);
	FAILS(STRATA_ETRANSIENT, remote_put_buf(r, "k", "v", 1, 0, &res));
	ck_assert_int_eq(res.attempts, 3);
	ck_assert_msg(strstr(res.message, "gave up after 3 attempts") != NULL, "%s", res.message);
	remote_metrics_read(r, &m);
	ck_assert_uint_eq(m.retries_total, 2);
	ck_assert_uint_eq(m.requests_total, 3);
	ck_assert_uint_eq(m.failures_total[REMOTE_OP_PUT], 1);
	remote_close(r);
}
END_TEST

struct cancel_arg
{
	struct remote *r;
};

static void *
cancel_later(void *p)
{
	struct cancel_arg *a = p;

	usleep(200 * 1000);
	remote_cancel(a->r);
	return NULL;
}

START_TEST(s3_cancel_stops_retrying)
{
	struct remote_config cfg;
	struct remote *r;
	struct remote_result res;
	struct cancel_arg a;
	pthread_t	t;
	struct timespec t0,
				t1;
	char		url[512];

	remote_config_default(&cfg);
	cfg.max_attempts = 1000;
	cfg.backoff_base_ms = 50;
	cfg.backoff_max_ms = 100;
	snprintf(url, sizeof(url), "s3://bucket-x/p?endpoint=http://127.0.0.1:%d&region=us-east-1",
			 dead_port());
	r = open_url(url, &cfg);
	a.r = r;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(pthread_create(&t, NULL, cancel_later, &a), 0);
	FAILS(STRATA_ECANCELLED, remote_put_buf(r, "k", "v", 1, 0, &res));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 5);
	ck_assert_int_gt(res.attempts, 1);
	remote_close(r);
}
END_TEST

static void
add_contract(TCase *tc)
{
	tcase_add_test(tc, put_get_head_round_trip);
	tcase_add_test(tc, ranged_get);
	tcase_add_test(tc, get_into_a_file_is_published_whole);
	tcase_add_test(tc, create_if_absent);
	tcase_add_test(tc, list_pages_through_everything);
	tcase_add_test(tc, delete_one_and_many);
	tcase_add_test(tc, more_than_1000_keys_listed_and_deleted);
	tcase_add_test(tc, bad_keys_are_refused);
}

Suite *
check_remote_file_suite(void)
{
	Suite	   *s = suite_create("remote_file");
	TCase	   *tc = tcase_create("contract");

	tcase_add_checked_fixture(tc, setup_file, test_dir_teardown);
	tcase_set_timeout(tc, 60);
	add_contract(tc);
	tcase_add_test(tc, pool_is_bounded);
	suite_add_tcase(s, tc);
	return s;
}

Suite *
check_remote_s3_suite(void)
{
	Suite	   *s = suite_create("remote_s3");
	TCase	   *tc = tcase_create("contract");
	TCase	   *s3 = tcase_create("s3");

	tcase_add_checked_fixture(tc, setup_s3, test_dir_teardown);
	tcase_set_timeout(tc, 60);
	add_contract(tc);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(s3, setup_s3, test_dir_teardown);
	tcase_set_timeout(s3, 60);
	tcase_add_test(s3, s3_multipart_upload);
	tcase_add_test(s3, s3_wrong_secret_is_permanent);
	tcase_add_test(s3, s3_missing_bucket_is_permanent);
	tcase_add_test(s3, s3_server_down_is_transient_after_retries);
	tcase_add_test(s3, s3_cancel_stops_retrying);
	suite_add_tcase(s, s3);
	return s;
}
