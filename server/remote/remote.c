/*-------------------------------------------------------------------------
 *
 * remote.c
 *	  The backend-independent half of remote storage (see remote.h):
 *	  argument checks, sources and sinks, downloads published as files,
 *	  metrics, cancellation and the retry wait.
 *
 *-------------------------------------------------------------------------
 */
#include "remote_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "strata_err.h"

void
remote_config_default(struct remote_config *cfg)
{
	cfg->connect_timeout_ms = 5000;
	cfg->timeout_ms = 300000;
	cfg->max_attempts = 8;
	cfg->backoff_base_ms = 100;
	cfg->backoff_max_ms = 10000;
	cfg->multipart_threshold = 16u << 20;
	cfg->multipart_part_size = 8u << 20;
	cfg->list_page_size = 1000;
	cfg->max_handles = 16;
}

int
rs_result(struct remote_result *res, int err, const char *fmt,...)
{
	va_list		ap;

	res->err = err;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return err;
}

int
remote_key_check(const char *key)
{
	size_t		n = strnlen(key, REMOTE_KEY_MAX + 1);
	size_t		start = 0;

	if (n == 0 || n > REMOTE_KEY_MAX)
		return STRATA_EINVAL;
	for (size_t i = 0; i <= n; i++)
	{
		if (i < n)
		{
			unsigned char c = (unsigned char) key[i];

			if (c < 0x20 || c == 0x7f || c == '\\')
				return STRATA_EINVAL;
			if (c != '/')
				continue;
		}
		if (i == start || key[start] == '.')
			return STRATA_EINVAL;
		start = i + 1;
	}
	return 0;
}

/* Prefixes may end in '/' or be empty; checked like a key otherwise. */
static int
prefix_check(const char *prefix)
{
	char		tmp[REMOTE_KEY_MAX + 2];
	size_t		n = strnlen(prefix, REMOTE_KEY_MAX + 1);

	if (n == 0)
		return 0;
	if (n > REMOTE_KEY_MAX)
		return STRATA_EINVAL;
	memcpy(tmp, prefix, n + 1);
	if (tmp[n - 1] == '/')
		tmp[n - 1] = '\0';
	return tmp[0] == '\0' ? STRATA_EINVAL : remote_key_check(tmp);
}

/* ---------- sources and sinks ---------- */

int
rs_src_read(const struct rs_src *src, uint64_t off, void *out, size_t n)
{
	size_t		done = 0;

	if (src->buf)
	{
		memcpy(out, src->buf + off, n);
		return 0;
	}
	while (done < n)
	{
		ssize_t		k = pread(src->fd, (uint8_t *) out + done, n - done, (off_t) (off + done));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return STRATA_EIO;	/* an error, or the file shrank */
		done += (size_t) k;
	}
	return 0;
}

int
rs_sink_write(struct rs_sink *s, const void *data, size_t n)
{
	if (s->fd >= 0)
	{
		size_t		done = 0;

		while (done < n)
		{
			ssize_t		k = write(s->fd, (const uint8_t *) data + done, n - done);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
			done += (size_t) k;
		}
		s->written += n;
		return 0;
	}
	if (s->len + n + 1 > s->cap)
	{
		size_t		cap = s->cap ? s->cap : 4096;
		uint8_t    *b;

		while (cap < s->len + n + 1)
			cap *= 2;
		if ((b = realloc(s->buf, cap)) == NULL)
			return STRATA_ENOMEM;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	s->written += n;
	return 0;
}

int
rs_sink_reset(struct rs_sink *s)
{
	s->len = 0;
	s->written = 0;
	if (s->buf)
		s->buf[0] = '\0';
	if (s->fd >= 0 && (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0))
		return STRATA_EIO;
	return 0;
}

/* ---------- cancellation and backoff ---------- */

int
rs_cancelled(struct remote *r)
{
	return __atomic_load_n(&r->cancelled, __ATOMIC_ACQUIRE);
}

void
remote_cancel(struct remote *r)
{
	pthread_mutex_lock(&r->cancel_mu);
	__atomic_store_n(&r->cancelled, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&r->cancel_cv);
	pthread_mutex_unlock(&r->cancel_mu);
}

int
rs_backoff(struct remote *r, int attempt)
{
	uint64_t	cap = (uint64_t) r->cfg.backoff_base_ms;
	uint64_t	ms;
	uint32_t	rnd = 0;
	struct timespec until;
	int			err = 0;

	for (int i = 2; i < attempt && cap < (uint64_t) r->cfg.backoff_max_ms; i++)
		cap *= 2;
	if (cap > (uint64_t) r->cfg.backoff_max_ms)
		cap = (uint64_t) r->cfg.backoff_max_ms;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t) sizeof(rnd))
		rnd = (uint32_t) time(NULL) * 2654435761u;
	ms = cap > 0 ? rnd % (cap + 1) : 0;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t) (ms / 1000);
	until.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L)
	{
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->cancel_mu);
	while (!r->cancelled)
		if (pthread_cond_timedwait(&r->cancel_cv, &r->cancel_mu, &until) == ETIMEDOUT)
			break;
	if (r->cancelled)
		err = STRATA_ECANCELLED;
	pthread_mutex_unlock(&r->cancel_mu);
	return err;
}

/* ---------- open, close, metrics ---------- */

int
remote_open(const struct rs_url *url, const struct rs_creds *creds,
			const struct remote_config *cfg, struct remote **out, char *err, size_t errlen)
{
	struct remote *r = calloc(1, sizeof(*r));
	int			e;

	if (r == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return STRATA_ENOMEM;
	}
	if (cfg)
		r->cfg = *cfg;
	else
		remote_config_default(&r->cfg);
	if (r->cfg.max_attempts < 1 || r->cfg.list_page_size < 1 || r->cfg.list_page_size > 1000 ||
		r->cfg.multipart_part_size < (5u << 20) || r->cfg.multipart_threshold == 0 ||
		r->cfg.backoff_base_ms < 0 || r->cfg.backoff_max_ms < r->cfg.backoff_base_ms)
	{
		free(r);
		snprintf(err, errlen, "bad remote storage configuration (attempts >= 1, list page "
				 "1..1000, part size >= 5 MiB, threshold > 0, backoff base <= max)");
		return STRATA_EINVAL;
	}
	pthread_mutex_init(&r->cancel_mu, NULL);
	pthread_cond_init(&r->cancel_cv, NULL);
	if (url->kind == RS_FILE)
		e = rs_file_open(r, url, err, errlen);
	else if (url->kind == RS_S3 && creds != NULL)
		e = rs_s3_open(r, url, creds, err, errlen);
	else
	{
		snprintf(err, errlen, url->kind == RS_S3 ? "s3 storage needs keys" : "bad URL");
		e = STRATA_EINVAL;
	}
	if (e != 0)
	{
		pthread_mutex_destroy(&r->cancel_mu);
		pthread_cond_destroy(&r->cancel_cv);
		free(r);
		return e;
	}
	*out = r;
	return 0;
}

void
remote_close(struct remote *r)
{
	if (r == NULL)
		return;
	r->ops->close(r);
	pthread_mutex_destroy(&r->cancel_mu);
	pthread_cond_destroy(&r->cancel_cv);
	free(r);
}

void
remote_metrics_read(struct remote *r, struct remote_metrics *out)
{
	const uint64_t *src = (const uint64_t *) &r->metrics;
	uint64_t   *dst = (uint64_t *) out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* Count a finished operation; returns err. */
static int
counted(struct remote *r, enum remote_opkind op, int err)
{
	rs_count(&r->metrics.ops_total[op], 1);
	if (err != 0 && err != STRATA_ENOTFOUND && err != STRATA_EPRECONDITION)
		rs_count(&r->metrics.failures_total[op], 1);
	return err;
}

static struct remote_result *
res_init(struct remote_result *res, struct remote_result *local)
{
	if (res == NULL)
		res = local;
	memset(res, 0, sizeof(*res));
	return res;
}

static int
bad_key(struct remote_result *res, const char *what, const char *key)
{
	return rs_result(res, STRATA_EINVAL, "%s: bad object key \"%.200s\" (1 to %d bytes of "
					 "'/'-separated components, none empty or starting with '.')",
					 what, key, REMOTE_KEY_MAX);
}

/* ---------- operations ---------- */

int
remote_put_buf(struct remote *r, const char *key, const void *buf, size_t len, int flags,
			   struct remote_result *res)
{
	struct remote_result local;
	struct rs_src src = {.buf = buf ? buf : (const uint8_t *) "", .fd = -1, .size = len};

	res = res_init(res, &local);
	if (remote_key_check(key) != 0)
		return counted(r, REMOTE_OP_PUT, bad_key(res, "put", key));
	return counted(r, REMOTE_OP_PUT, r->ops->put(r, key, &src, flags, res));
}

int
remote_put_file(struct remote *r, const char *key, const char *path, int flags,
				struct remote_result *res)
{
	struct remote_result local;
	struct rs_src src = {.fd = -1};
	struct stat st;
	int			err;

	res = res_init(res, &local);
	if (remote_key_check(key) != 0)
		return counted(r, REMOTE_OP_PUT, bad_key(res, "put", key));
	if ((src.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(src.fd, &st) != 0)
	{
		err = rs_result(res, errno == ENOENT ? STRATA_ENOTFOUND : STRATA_EIO,
						"put \"%s\": could not open local file \"%s\": %s", key, path,
						strerror(errno));
		if (src.fd >= 0)
			close(src.fd);
		return counted(r, REMOTE_OP_PUT, err);
	}
	src.size = (uint64_t) st.st_size;
	err = r->ops->put(r, key, &src, flags, res);
	close(src.fd);
	return counted(r, REMOTE_OP_PUT, err);
}

int
remote_get_buf(struct remote *r, const char *key, uint64_t off, uint64_t len, void **out,
			   size_t *outlen, struct remote_result *res)
{
	struct remote_result local;
	struct rs_sink sink = {.fd = -1};
	int			err;

	res = res_init(res, &local);
	*out = NULL;
	*outlen = 0;
	if (remote_key_check(key) != 0)
		return counted(r, REMOTE_OP_GET, bad_key(res, "get", key));
	if ((err = rs_sink_write(&sink, "", 0)) == 0)	/* allocate: *out is never NULL */
		err = r->ops->get(r, key, off, len, &sink, res);
	else
		rs_result(res, err, "get \"%s\": out of memory", key);
	if (err != 0)
	{
		free(sink.buf);
		return counted(r, REMOTE_OP_GET, err);
	}
	*out = sink.buf;
	*outlen = sink.len;
	return counted(r, REMOTE_OP_GET, 0);
}

int
remote_get_file(struct remote *r, const char *key, uint64_t off, uint64_t len, const char *path,
				struct remote_result *res)
{
	struct remote_result local;
	struct rs_sink sink = {.fd = -1};
	char		tmp[PATH_MAX];
	char		dir[PATH_MAX];
	int			err;

	res = res_init(res, &local);
	if (remote_key_check(key) != 0)
		return counted(r, REMOTE_OP_GET, bad_key(res, "get", key));
	snprintf(tmp, sizeof(tmp), "%s.download", path);
	if ((sink.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		return counted(r, REMOTE_OP_GET,
					   rs_result(res, errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO,
								 "get \"%s\": could not create \"%s\": %s", key, tmp,
								 strerror(errno)));
	err = r->ops->get(r, key, off, len, &sink, res);
	if (err == 0 && fsync(sink.fd) != 0)
		err = rs_result(res, STRATA_EIO, "get \"%s\": could not fsync \"%s\": %s", key, tmp,
						strerror(errno));
	close(sink.fd);
	if (err == 0 && rename(tmp, path) != 0)
		err = rs_result(res, STRATA_EIO, "get \"%s\": could not rename \"%s\": %s", key, tmp,
						strerror(errno));
	if (err == 0)
	{
		snprintf(dir, sizeof(dir), "%s", path);
		if ((err = fs_fsync_dir(dirname(dir))) != 0)
			rs_result(res, err, "get \"%s\": could not fsync the directory of \"%s\"", key, path);
	}
	if (err != 0)
		(void) unlink(tmp);		/* it may be gone already; nothing to do then */
	return counted(r, REMOTE_OP_GET, err);
}

int
remote_head(struct remote *r, const char *key, uint64_t *size, struct remote_result *res)
{
	struct remote_result local;

	res = res_init(res, &local);
	if (remote_key_check(key) != 0)
		return counted(r, REMOTE_OP_HEAD, bad_key(res, "head", key));
	return counted(r, REMOTE_OP_HEAD, r->ops->head(r, key, size, res));
}

static int
object_cmp(const void *a, const void *b)
{
	return strcmp(((const struct remote_object *) a)->key, ((const struct remote_object *) b)->key);
}

int
remote_list(struct remote *r, const char *prefix, struct remote_listing *out,
			struct remote_result *res)
{
	struct remote_result local;
	int			err;

	res = res_init(res, &local);
	memset(out, 0, sizeof(*out));
	if (prefix_check(prefix) != 0)
		return counted(r, REMOTE_OP_LIST, bad_key(res, "list", prefix));
	if ((err = r->ops->list(r, prefix, out, res)) != 0)
		remote_listing_free(out);
	else if (out->n > 1)
		qsort(out->objects, out->n, sizeof(out->objects[0]), object_cmp);
	return counted(r, REMOTE_OP_LIST, err);
}

void
remote_listing_free(struct remote_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->objects[i].key);
	free(l->objects);
	memset(l, 0, sizeof(*l));
}

int
remote_delete(struct remote *r, const char *key, struct remote_result *res)
{
	struct remote_result local;

	res = res_init(res, &local);
	if (remote_key_check(key) != 0)
		return counted(r, REMOTE_OP_DELETE, bad_key(res, "delete", key));
	return counted(r, REMOTE_OP_DELETE, r->ops->del(r, &key, 1, res));
}

int
remote_delete_many(struct remote *r, const char *const *keys, size_t n,
				   struct remote_result *res)
{
	struct remote_result local;

	res = res_init(res, &local);
	for (size_t i = 0; i < n; i++)
		if (remote_key_check(keys[i]) != 0)
			return counted(r, REMOTE_OP_DELETE, bad_key(res, "delete", keys[i]));
	if (n == 0)
		return counted(r, REMOTE_OP_DELETE, 0);
	return counted(r, REMOTE_OP_DELETE, r->ops->del(r, keys, n, res));
}
