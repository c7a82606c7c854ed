/*-------------------------------------------------------------------------
 *
 * rs_url.c
 *	  Parse --remote-storage URLs and load S3 keys (see rs_url.h).
 *
 *-------------------------------------------------------------------------
 */
#include "rs_url.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strata_err.h"

#define CREDS_FILE_MAX	65536

static int
fail(char *err, size_t errlen, const char *fmt,...)
__attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return STRATA_EINVAL;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode s[0..n) into out (size outlen); -1 if bad or too long. */
static int
pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t		o = 0;

	for (size_t i = 0; i < n; i++)
	{
		int			c = (unsigned char) s[i];

		if (c == '%')
		{
			int			hi = i + 2 < n ? hexval((unsigned char) s[i + 1]) : -1;
			int			lo = hi < 0 ? -1 : hexval((unsigned char) s[i + 2]);

			if (lo < 0)
				return -1;
			c = hi * 16 + lo;
			i += 2;
		}
		if (c == 0 || o + 1 >= outlen)
			return -1;
		out[o++] = (char) c;
	}
	out[o] = '\0';
	return 0;
}

static int
bucket_ok(const char *b)
{
	size_t		n = strlen(b);

	if (n < 3 || n > 63)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char) b[i]) || isdigit((unsigned char) b[i]) ||
			  b[i] == '.' || b[i] == '-'))
			return 0;
	return isalnum((unsigned char) b[0]) && isalnum((unsigned char) b[n - 1]);
}

/*
 * Check a '/'-separated path of n bytes: no empty (after trimming the ends
 * for a prefix), "." or ".." component, no control byte, '\\', '?' or '#'.
 */
static const char *
path_problem(const char *p, size_t n)
{
	size_t		start = 0;

	for (size_t i = 0; i < n; i++)
	{
		unsigned char c = (unsigned char) p[i];

		if (c < 0x20 || c == 0x7f || c == '\\' || c == '#' || c == '?')
			return "a control character, '\\', '#' or '?'";
	}
	for (size_t i = 0; i <= n; i++)
	{
		if (i < n && p[i] != '/')
			continue;
		if (i == start)
			return "an empty component (\"//\")";
		if ((i - start == 1 && p[start] == '.') ||
			(i - start == 2 && p[start] == '.' && p[start + 1] == '.'))
			return "a \".\" or \"..\" component";
		start = i + 1;
	}
	return NULL;
}

static int
parse_file(const char *rest, struct rs_url *u, char *err, size_t errlen)
{
	size_t		n;
	const char *why;

	if (rest[0] != '/')
	{
		if (strncmp(rest, "localhost/", 10) == 0)
			rest += 9;
		else
			return fail(err, errlen, "file URL must name an absolute path: file:///PATH "
						"(a host other than localhost is not supported)");
	}
	n = strlen(rest);
	while (n > 1 && rest[n - 1] == '/')
		n--;
	if (strpbrk(rest, "?#") != NULL)
		return fail(err, errlen, "file URL must not have a query or fragment");
	if (n >= sizeof(u->path))
		return fail(err, errlen, "file URL path is longer than %zu bytes", sizeof(u->path) - 1);
	if (n > 1 && (why = path_problem(rest + 1, n - 1)) != NULL)
		return fail(err, errlen, "file URL path has %s", why);
	u->kind = RS_FILE;
	memcpy(u->path, rest, n);
	u->path[n] = '\0';
	return 0;
}

/* Parameters that would carry a secret: refused by name, with a pointer. */
static int
secret_param(const char *name)
{
	static const char *const words[] = {"key", "secret", "password", "passwd", "token",
	"credential", "signature", "auth"};

	if (strncasecmp(name, "x-amz-", 6) == 0)
		return 1;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strcasestr(name, words[i]) != NULL)
			return 1;
	return 0;
}

#define NO_SECRETS_HINT \
	"keys go in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or in a credentials file, " \
	"never in the URL"

static int
parse_endpoint(const char *v, struct rs_url *u, char *err, size_t errlen)
{
	const char *host;
	const char *colon;
	size_t		n = strlen(v);
	size_t		hl;

	if (strncmp(v, "http://", 7) == 0)
		host = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		host = v + 8;
	else
		return fail(err, errlen, "endpoint \"%s\" must start with http:// or https://", v);
	while (n > (size_t) (host - v) && v[n - 1] == '/')
		n--;
	if (memchr(host, '@', n - (size_t) (host - v)) != NULL)
		return fail(err, errlen, "endpoint must not contain user information: " NO_SECRETS_HINT);
	if (memchr(host, '/', n - (size_t) (host - v)) != NULL)
		return fail(err, errlen, "endpoint \"%s\" must not have a path", v);
	if ((size_t) (host - v) == n || host[0] == ':')
		return fail(err, errlen, "endpoint \"%s\" has no host", v);
	for (const char *p = host; p < v + n; p++)
		if (!(isalnum((unsigned char) *p) || *p == '.' || *p == '-' || *p == ':' ||
			  *p == '[' || *p == ']'))
			return fail(err, errlen, "endpoint \"%s\" has a bad character in its host", v);
	hl = n - (size_t) (host - v);
	if (host[0] == '[')
	{
		const char *rb = memchr(host, ']', hl);

		if (rb == NULL || rb == host + 1)
			return fail(err, errlen, "endpoint \"%s\" has a bad IPv6 address", v);
		colon = rb + 1 < v + n ? rb + 1 : NULL;
		if (colon != NULL && *colon != ':')
			return fail(err, errlen, "endpoint \"%s\" has a bad port", v);
	}
	else
		colon = memchr(host, ':', hl);
	if (colon != NULL)
	{
		long		port = 0;
		const char *p;

		for (p = colon + 1; p < v + n && isdigit((unsigned char) *p) && port <= 65535; p++)
			port = port * 10 + (*p - '0');
		if (p == colon + 1 || p != v + n || port < 1 || port > 65535)
			return fail(err, errlen, "endpoint \"%s\" has a bad port", v);
	}
	if (n >= sizeof(u->endpoint))
		return fail(err, errlen, "endpoint is longer than %zu bytes", sizeof(u->endpoint) - 1);
	memcpy(u->endpoint, v, n);
	u->endpoint[n] = '\0';
	return 0;
}

static int
parse_param(const char *p, size_t n, struct rs_url *u, int *seen, char *err, size_t errlen)
{
	const char *eq = memchr(p, '=', n);
	char		name[64];
	char		val[RS_ENDPOINT_MAX];
	size_t		nl = eq ? (size_t) (eq - p) : n;

	if (nl == 0 || nl >= sizeof(name) || pct_decode(p, nl, name, sizeof(name)) != 0)
		return fail(err, errlen, "bad parameter name in \"%.*s\"", (int) n, p);
	if (secret_param(name))
		return fail(err, errlen, "parameter \"%s\" refused: " NO_SECRETS_HINT, name);
	if (eq == NULL || pct_decode(eq + 1, n - nl - 1, val, sizeof(val)) != 0)
		return fail(err, errlen, "parameter \"%s\" needs a value (percent-encoded, at most %zu bytes)",
					name, sizeof(val) - 1);
	if (strcmp(name, "endpoint") == 0)
	{
		if (seen[0]++)
			return fail(err, errlen, "parameter \"endpoint\" given twice");
		return parse_endpoint(val, u, err, errlen);
	}
	if (strcmp(name, "region") == 0)
	{
		if (seen[1]++)
			return fail(err, errlen, "parameter \"region\" given twice");
		if (val[0] == '\0' || strlen(val) >= sizeof(u->region) ||
			strspn(val, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(val))
			return fail(err, errlen, "region \"%s\" must be lower-case letters, digits and '-'", val);
		strcpy(u->region, val);
		return 0;
	}
	return fail(err, errlen, "unknown parameter \"%s\" (known: endpoint, region)", name);
}

static int
parse_s3(const char *rest, struct rs_url *u, char *err, size_t errlen)
{
	size_t		bl = strcspn(rest, "/?#");
	const char *path = rest + bl;
	size_t		pl = strcspn(path, "?#");
	const char *q = path + pl;
	int			seen[2] = {0, 0};
	const char *why;

	if (memchr(rest, '@', bl) != NULL)
		return fail(err, errlen, "s3 URL must not contain user information: " NO_SECRETS_HINT);
	if (bl == 0)
		return fail(err, errlen, "s3 URL has no bucket: s3://BUCKET/PREFIX");
	if (bl >= sizeof(u->bucket))
		return fail(err, errlen, "bucket name is longer than 63 characters");
	memcpy(u->bucket, rest, bl);
	u->bucket[bl] = '\0';
	if (!bucket_ok(u->bucket))
		return fail(err, errlen, "bad bucket name \"%s\": 3 to 63 of a-z, 0-9, '.', '-', "
					"starting and ending with a letter or digit", u->bucket);
	if (strchr(rest, '#') != NULL)
		return fail(err, errlen, "s3 URL must not have a fragment");
	while (pl > 0 && path[0] == '/')
		path++, pl--;
	while (pl > 0 && path[pl - 1] == '/')
		pl--;
	if (pl >= sizeof(u->prefix))
		return fail(err, errlen, "prefix is longer than %zu bytes", sizeof(u->prefix) - 1);
	if (pl > 0 && (why = path_problem(path, pl)) != NULL)
		return fail(err, errlen, "prefix has %s", why);
	memcpy(u->prefix, path, pl);
	u->prefix[pl] = '\0';
	if (*q == '?')
	{
		q++;
		while (*q != '\0')
		{
			size_t		n = strcspn(q, "&");
			int			e;

			if (n > 0 && (e = parse_param(q, n, u, seen, err, errlen)) != 0)
				return e;
			q += n;
			if (*q == '&')
				q++;
		}
	}
	if (!seen[1])
		strcpy(u->region, "us-east-1");
	if (!seen[0])
		snprintf(u->endpoint, sizeof(u->endpoint), "https://s3.%s.amazonaws.com", u->region);
	u->kind = RS_S3;
	return 0;
}

int
rs_url_parse(const char *url, struct rs_url *out, char *err, size_t errlen)
{
	int			e;

	memset(out, 0, sizeof(*out));
	if (url == NULL || url[0] == '\0')
		e = fail(err, errlen, "remote storage URL is empty");
	else if (strncmp(url, "file://", 7) == 0)
		e = parse_file(url + 7, out, err, errlen);
	else if (strncmp(url, "s3://", 5) == 0)
		e = parse_s3(url + 5, out, err, errlen);
	else
		e = fail(err, errlen, "unsupported remote storage URL \"%.40s\": expected "
				 "s3://BUCKET/PREFIX or file:///PATH", url);
	if (e != 0)
		memset(out, 0, sizeof(*out));
	return e;
}

void
rs_url_format(const struct rs_url *u, char *buf, size_t len)
{
	if (u->kind == RS_FILE)
		snprintf(buf, len, "file://%s", u->path);
	else
		snprintf(buf, len, "s3://%s/%s?endpoint=%s&region=%s", u->bucket, u->prefix,
				 u->endpoint, u->region);
}

/* ---------- keys ---------- */

static int
key_ok(const char *k)
{
	size_t		n = strlen(k);

	if (n == 0 || n >= RS_KEY_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) k[i] <= ' ' || (unsigned char) k[i] > '~')
			return 0;
	return 1;
}

/* Read the whole file after the secret.h checks; NUL-terminated, caller frees. */
static int
read_private_file(const char *path, char **text, char *err, size_t errlen)
{
	int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	char	   *buf;
	ssize_t		n;

	if (fd < 0)
	{
		int			e = errno;

		snprintf(err, errlen, "could not open credentials file \"%s\": %s", path, strerror(e));
		return e == ENOENT ? STRATA_ENOTFOUND : e == ELOOP ? STRATA_EINVAL : STRATA_EIO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		(st.st_mode & 077) != 0 || st.st_size > CREDS_FILE_MAX)
	{
		close(fd);
		return fail(err, errlen, "credentials file \"%s\" must be a regular file of uid %u "
					"with no group or other access (chmod 0600), at most %d bytes",
					path, (unsigned) geteuid(), CREDS_FILE_MAX);
	}
	buf = malloc((size_t) st.st_size + 1);
	if (buf == NULL)
	{
		close(fd);
		snprintf(err, errlen, "out of memory");
		return STRATA_ENOMEM;
	}
	n = read(fd, buf, (size_t) st.st_size);
	close(fd);
	if (n < 0)
	{
		snprintf(err, errlen, "could not read credentials file \"%s\": %s", path, strerror(errno));
		free(buf);
		return STRATA_EIO;
	}
	buf[n] = '\0';
	*text = buf;
	return 0;
}

static char *
trim(char *s)
{
	char	   *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
parse_creds(const char *path, char *text, struct rs_creds *out, char *err, size_t errlen)
{
	int			in_default = 1;
	int			lineno = 0;
	char	   *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
	{
		char	   *l = trim(line);
		char	   *eq;
		char	   *name;
		char	   *val;

		lineno++;
		if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
			continue;
		if (l[0] == '[')
		{
			in_default = strcmp(l, "[default]") == 0;
			continue;
		}
		if ((eq = strchr(l, '=')) == NULL)
			return fail(err, errlen, "credentials file \"%s\" line %d: expected \"name = value\"",
						path, lineno);
		*eq = '\0';
		name = trim(l);
		val = trim(eq + 1);
		if (!in_default)
			continue;
		if (strcmp(name, "aws_access_key_id") == 0 || strcmp(name, "aws_secret_access_key") == 0)
		{
			char	   *dst = name[4] == 'a' ? out->access_key : out->secret_key;

			if (!key_ok(val))
				return fail(err, errlen, "credentials file \"%s\" line %d: %s must be 1 to %d "
							"printable characters without spaces", path, lineno, name,
							RS_KEY_MAX - 1);
			strcpy(dst, val);
		}
	}
	if (out->access_key[0] == '\0' || out->secret_key[0] == '\0')
		return fail(err, errlen, "credentials file \"%s\" lacks %s", path,
					out->access_key[0] == '\0' ? "aws_access_key_id" : "aws_secret_access_key");
	return 0;
}

int
rs_creds_load(const char *file, struct rs_creds *out, char *err, size_t errlen)
{
	int			e;

	memset(out, 0, sizeof(*out));
	if (file != NULL)
	{
		char	   *text = NULL;

		if ((e = read_private_file(file, &text, err, errlen)) != 0)
			return e;
		e = parse_creds(file, text, out, err, errlen);
		memset(text, 0, strlen(text));
		free(text);
	}
	else
	{
		const char *ak = getenv("AWS_ACCESS_KEY_ID");
		const char *sk = getenv("AWS_SECRET_ACCESS_KEY");

		if (ak == NULL || sk == NULL)
			e = fail(err, errlen, "no S3 keys: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
					 "or give a credentials file");
		else if (!key_ok(ak) || !key_ok(sk))
			e = fail(err, errlen, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be 1 to %d "
					 "printable characters without spaces", RS_KEY_MAX - 1);
		else
		{
			strcpy(out->access_key, ak);
			strcpy(out->secret_key, sk);
			e = 0;
		}
	}
	if (e != 0)
		rs_creds_clear(out);
	return e;
}

void
rs_creds_clear(struct rs_creds *c)
{
	explicit_bzero(c, sizeof(*c));
}
