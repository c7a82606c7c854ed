/*-------------------------------------------------------------------------
 *
 * rs_file.c
 *	  The file:// backend (remote.h): objects are files under one local
 *	  directory, key "a/b" at DIR/a/b.
 *
 * A put writes DIR/a/.b.tmp.PID.N, fsyncs it, then renames it over the
 * key (or, with REMOTE_IF_ABSENT, link(2)s it to the key, which fails if
 * the key exists), and fsyncs the directory (I14).  Directories are made
 * as keys need them (each fsynced into its parent) and never removed.
 * Names starting with '.' are temp files: keys never have them, so
 * listings skip them.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "remote_internal.h"
#include "strata_err.h"

struct rs_file
{
	char		root[PATH_MAX];
	uint64_t	tmp_counter;	/* __atomic */
};

static const char *
root_of(struct remote *r)
{
	return ((struct rs_file *) r->impl)->root;
}

static int
io_err(int e)
{
	return e == ENOSPC ? STRATA_ENOSPC : e == ENOMEM ? STRATA_ENOMEM : STRATA_EIO;
}

/* mkdir -p of path's parent directories below root (path = root/key). */
static int
make_parents(struct remote *r, const char *path, struct remote_result *res)
{
	char		buf[PATH_MAX];
	size_t		rootlen = strlen(root_of(r));

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + rootlen + 1; (p = strchr(p, '/')) != NULL; p++)
	{
		*p = '\0';
		if (mkdir(buf, 0700) == 0)
		{
			char		parent[PATH_MAX];
			char	   *slash;
			int			err;

			snprintf(parent, sizeof(parent), "%s", buf);
			slash = strrchr(parent, '/');
			*slash = '\0';
			if ((err = fs_fsync_dir(parent)) != 0)
				return rs_result(res, err, "put: could not fsync directory \"%s\"", parent);
		}
		else if (errno != EEXIST)
			return rs_result(res, errno == ENOTDIR ? STRATA_EINVAL : io_err(errno),
							 "put: could not create directory \"%s\": %s", buf, strerror(errno));
		*p = '/';
	}
	return 0;
}

static int
copy_src(int fd, const struct rs_src *src)
{
	uint8_t		chunk[65536];

	for (uint64_t off = 0; off < src->size;)
	{
		size_t		n = src->size - off < sizeof(chunk) ? (size_t) (src->size - off) : sizeof(chunk);
		const uint8_t *p = chunk;
		size_t		done = 0;

		if (src->buf)
			p = src->buf + off;
		else if (rs_src_read(src, off, chunk, n) != 0)
			return -1;
		while (done < n)
		{
			ssize_t		k = write(fd, p + done, n - done);

			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return errno;
			done += (size_t) k;
		}
		off += n;
	}
	return 0;
}

static int
file_put(struct remote *r, const char *key, const struct rs_src *src, int flags,
		 struct remote_result *res)
{
	struct rs_file *f = r->impl;
	char		path[PATH_MAX];
	char		tmp[PATH_MAX];
	char		dir[PATH_MAX];
	const char *base;
	int			fd;
	int			e;
	int			err;

	snprintf(path, sizeof(path), "%s/%s", f->root, key);
	if ((err = make_parents(r, path, res)) != 0)
		return err;
	snprintf(dir, sizeof(dir), "%s", path);
	*strrchr(dir, '/') = '\0';
	base = path + strlen(dir) + 1;
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp.%d.%llu", dir, base, (int) getpid(),
			 (unsigned long long) __atomic_add_fetch(&f->tmp_counter, 1, __ATOMIC_RELAXED));
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		return rs_result(res, io_err(errno), "put \"%s\": could not create \"%s\": %s", key, tmp,
						 strerror(errno));
	e = copy_src(fd, src);
	if (e != 0)
		err = rs_result(res, e < 0 ? STRATA_EIO : io_err(e), "put \"%s\": could not %s: %s", key,
						e < 0 ? "read the local source" : "write the temp file",
						e < 0 ? "read error or short file" : strerror(e));
	else if (fsync(fd) != 0)
		err = rs_result(res, io_err(errno), "put \"%s\": could not fsync \"%s\": %s", key, tmp,
						strerror(errno));
	close(fd);
	if (err == 0 && (flags & REMOTE_IF_ABSENT))
	{
		if (link(tmp, path) != 0)
			err = rs_result(res, errno == EEXIST ? STRATA_EPRECONDITION : io_err(errno),
							"put \"%s\": %s", key, errno == EEXIST ? "object exists" :
							strerror(errno));
	}
	else if (err == 0 && rename(tmp, path) != 0)
		err = rs_result(res, errno == EISDIR ? STRATA_EINVAL : io_err(errno),
						"put \"%s\": could not rename into place: %s", key, strerror(errno));
	if (err != 0 || (flags & REMOTE_IF_ABSENT))
		(void) unlink(tmp);		/* the temp name goes; a failure leaves only a dot file */
	if (err == 0 && (err = fs_fsync_dir(dir)) != 0)
		rs_result(res, err, "put \"%s\": could not fsync directory \"%s\"", key, dir);
	if (err == 0)
	{
		rs_count(&r->metrics.bytes_sent_total, src->size);
		rs_count(&r->metrics.requests_total, 1);
	}
	return err;
}

static int
open_object(struct remote *r, const char *key, struct stat *st, struct remote_result *res)
{
	char		path[PATH_MAX];
	int			fd;

	snprintf(path, sizeof(path), "%s/%s", root_of(r), key);
	rs_count(&r->metrics.requests_total, 1);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return rs_result(res, errno == ENOENT || errno == ENOTDIR ? STRATA_ENOTFOUND : io_err(errno),
						 "\"%s\": %s", key, errno == ENOENT || errno == ENOTDIR ?
						 "no such object" : strerror(errno));
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode))
	{
		close(fd);
		return rs_result(res, STRATA_ENOTFOUND, "\"%s\": no such object", key);
	}
	return fd;
}

static int
file_get(struct remote *r, const char *key, uint64_t off, uint64_t len, struct rs_sink *sink,
		 struct remote_result *res)
{
	uint8_t		chunk[65536];
	struct stat st;
	uint64_t	size;
	uint64_t	end;
	int			fd = open_object(r, key, &st, res);
	int			err = 0;

	if (fd < 0)
		return fd;
	size = (uint64_t) st.st_size;
	if (off >= size && size > 0)
	{
		close(fd);
		return rs_result(res, STRATA_EINVAL, "get \"%s\": range starts at %llu, the object has %llu bytes",
						 key, (unsigned long long) off, (unsigned long long) size);
	}
	if (off >= size)
		off = end = size;		/* an empty object: nothing to read */
	else
		end = len == REMOTE_WHOLE || len >= size - off ? size : off + len;
	for (uint64_t pos = off; pos < end && err == 0;)
	{
		size_t		n = end - pos < sizeof(chunk) ? (size_t) (end - pos) : sizeof(chunk);
		ssize_t		k = pread(fd, chunk, n, (off_t) pos);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			err = rs_result(res, STRATA_EIO, "get \"%s\": read failed: %s", key,
							k < 0 ? strerror(errno) : "file shrank");
		else if ((err = rs_sink_write(sink, chunk, (size_t) k)) != 0)
			rs_result(res, err, "get \"%s\": could not store what was read", key);
		else
			pos += (uint64_t) k;
	}
	close(fd);
	if (err == 0)
		rs_count(&r->metrics.bytes_received_total, end > off ? end - off : 0);
	return err;
}

static int
file_head(struct remote *r, const char *key, uint64_t *size, struct remote_result *res)
{
	struct stat st;
	int			fd = open_object(r, key, &st, res);

	if (fd < 0)
		return fd;
	close(fd);
	*size = (uint64_t) st.st_size;
	return 0;
}

struct walk
{
	struct remote_listing *out;
	size_t		cap;
	const char *prefix;
	size_t		rootlen;
};

static int
add_object(struct walk *w, const char *key, uint64_t size)
{
	struct remote_listing *l = w->out;

	if (l->n == w->cap)
	{
		size_t		cap = w->cap ? w->cap * 2 : 64;
		struct remote_object *o = realloc(l->objects, cap * sizeof(*o));

		if (o == NULL)
			return STRATA_ENOMEM;
		l->objects = o;
		w->cap = cap;
	}
	if ((l->objects[l->n].key = strdup(key)) == NULL)
		return STRATA_ENOMEM;
	l->objects[l->n++].size = size;
	return 0;
}

/* Walk directory path (root/rel); rel is "" at the root. */
static int
walk_dir(struct walk *w, char *path, size_t plen, struct remote_result *res)
{
	DIR		   *d = opendir(path);
	struct dirent *de;
	int			err = 0;

	if (d == NULL)
		return errno == ENOENT || errno == ENOTDIR ? 0 :
			rs_result(res, io_err(errno), "list: could not open \"%s\": %s", path, strerror(errno));
	while (err == 0 && (de = readdir(d)) != NULL)
	{
		struct stat st;
		size_t		n = strlen(de->d_name);
		const char *rel;
		size_t		rl;

		if (de->d_name[0] == '.' || plen + 1 + n + 1 > PATH_MAX)
			continue;
		path[plen] = '/';
		memcpy(path + plen + 1, de->d_name, n + 1);
		rel = path + w->rootlen + 1;
		rl = strlen(rel);
		if (lstat(path, &st) != 0)
			err = errno == ENOENT ? 0 : rs_result(res, io_err(errno), "list: could not stat \"%s\": %s",
												  path, strerror(errno));
		else if (S_ISDIR(st.st_mode))
		{
			/* descend only where keys may still match the prefix */
			if (strncmp(rel, w->prefix, rl < strlen(w->prefix) ? rl : strlen(w->prefix)) == 0)
				err = walk_dir(w, path, plen + 1 + n, res);
		}
		else if (S_ISREG(st.st_mode) && strncmp(rel, w->prefix, strlen(w->prefix)) == 0)
		{
			if ((err = add_object(w, rel, (uint64_t) st.st_size)) != 0)
				rs_result(res, err, "list: out of memory");
		}
		path[plen] = '\0';
	}
	closedir(d);
	return err;
}

static int
file_list(struct remote *r, const char *prefix, struct remote_listing *out,
		  struct remote_result *res)
{
	struct walk w = {.out = out, .prefix = prefix, .rootlen = strlen(root_of(r))};
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s", root_of(r));
	rs_count(&r->metrics.requests_total, 1);
	return walk_dir(&w, path, strlen(path), res);
}

static int
file_del(struct remote *r, const char *const *keys, size_t n, struct remote_result *res)
{
	for (size_t i = 0; i < n; i++)
	{
		char		path[PATH_MAX];
		char	   *slash;
		int			err;

		snprintf(path, sizeof(path), "%s/%s", root_of(r), keys[i]);
		rs_count(&r->metrics.requests_total, 1);
		if (unlink(path) != 0)
		{
			if (errno == ENOENT || errno == ENOTDIR)
				continue;
			return rs_result(res, errno == EISDIR ? STRATA_EINVAL : io_err(errno),
							 "delete \"%s\": %s", keys[i], strerror(errno));
		}
		slash = strrchr(path, '/');
		*slash = '\0';
		if ((err = fs_fsync_dir(path)) != 0)
			return rs_result(res, err, "delete \"%s\": could not fsync \"%s\"", keys[i], path);
	}
	return 0;
}

static void
file_close(struct remote *r)
{
	free(r->impl);
}

static const struct remote_ops file_ops = {
	.put = file_put,
	.get = file_get,
	.head = file_head,
	.list = file_list,
	.del = file_del,
	.close = file_close,
};

int
rs_file_open(struct remote *r, const struct rs_url *url, char *err, size_t errlen)
{
	struct rs_file *f = calloc(1, sizeof(*f));
	struct stat st;
	char		buf[PATH_MAX];

	if (f == NULL)
	{
		snprintf(err, errlen, "out of memory");
		return STRATA_ENOMEM;
	}
	snprintf(f->root, sizeof(f->root), "%s", url->path);
	/* mkdir -p */
	snprintf(buf, sizeof(buf), "%s", f->root);
	for (char *p = buf + 1;; p++)
	{
		if (*p != '/' && *p != '\0')
			continue;
		{
			char		c = *p;

			*p = '\0';
			if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			{
				snprintf(err, errlen, "could not create remote storage directory \"%s\": %s", buf,
						 strerror(errno));
				free(f);
				return STRATA_EIO;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	if (stat(f->root, &st) != 0 || !S_ISDIR(st.st_mode))
	{
		snprintf(err, errlen, "remote storage path \"%s\" is not a directory", f->root);
		free(f);
		return STRATA_EINVAL;
	}
	r->impl = f;
	r->ops = &file_ops;
	return 0;
}
