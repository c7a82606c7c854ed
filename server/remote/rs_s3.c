/*-------------------------------------------------------------------------
 *
 * rs_s3.c
 *	  The s3:// backend (remote.h): path-style requests to ENDPOINT/BUCKET/
 *	  PREFIX/KEY through libcurl, signed by libcurl's CURLOPT_AWS_SIGV4.
 *
 * libcurl 7.88 (Debian 12) signs but leaves the rest to us
 * (shared/spikes/s3-ceph/README.md):
 *	- x-amz-content-sha256 is ours to send: the hex SHA-256 of every body
 *	  (OpenSSL), so the server checks the payload too; the empty hash
 *	  otherwise.  File bodies are hashed before they are sent (a second
 *	  read, from the page cache) rather than sent UNSIGNED-PAYLOAD.
 *	- The query string is signed as written: parameters sorted by name,
 *	  values RFC 3986-encoded, sub-resources as "uploads=".
 *	- The path is signed as written: keys percent-encoded as S3 does (all
 *	  but A-Z a-z 0-9 - . _ ~ /).
 *	- No header-removal entries ("Name:"): 7.88 signs them and the
 *	  server answers 403.  POSTs therefore set their own Content-Type.
 *	- Keys go in CURLOPT_USERNAME / CURLOPT_PASSWORD (keys may hold ':').
 *	- Multi-object delete needs Content-MD5.
 *
 * Connections: idle curl handles (each with its connection cache) are kept
 * in a small pool under a mutex; an operation takes one per request and
 * gives it back.  Every request is retried by perform() as remote.h says.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "remote_internal.h"
#include "s3xml.h"
#include "slog.h"
#include "strata_err.h"

#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_DELETE_BATCH 1000
#define S3_MAX_PARTS 10000
#define URL_MAX		(RS_ENDPOINT_MAX + RS_BUCKET_MAX + 3 * (RS_PREFIX_MAX + REMOTE_KEY_MAX) + 2048)

struct s3
{
	struct rs_url url;
	struct rs_creds creds;
	char		sigv4[RS_REGION_MAX + 16];	/* "aws:amz:REGION:s3" */
	pthread_mutex_t mu;			/* protects idle, nidle */
	CURL	  **idle;
	int			nidle;
	int			max_idle;
};

/* One HTTP request (retried as a whole) and what came back. */
struct req
{
	const char *op;				/* for messages: "put", "get", ... */
	const char *key;			/* for messages (the caller's key), or NULL */
	const char *method;
	char	   *url;			/* malloc'd */
	const char *headers[4];		/* extra "Name: value" lines */
	int			nheaders;
	/* request body: a slice of src, or post (a small document) */
	const struct rs_src *src;
	uint64_t	src_off;
	uint64_t	src_len;
	const char *post;
	size_t		postlen;
	int			is_post;
	/* a 2xx body goes to sink (GET) or resp; other bodies to resp */
	struct rs_sink *sink;
	uint64_t	skip;			/* GET that asked for a range but got 200: bytes to drop */
	uint64_t	limit;			/* ... and how many to keep */
	int			ranged;
	const char *ok_root;		/* a 2xx body must have this root element */
	/* per attempt */
	CURL	   *h;
	struct rs_sink resp;
	long		status;
	uint64_t	read_pos;
	uint64_t	body_seen;
	int			read_failed;
	int			sink_err;
	int			too_big;
	char		etag[128];
	curl_off_t	length;			/* Content-Length of the answer, -1 if none */
};

/* ---------- encoding and hashing ---------- */

static int
unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Percent-encode s onto out (size outlen); keep '/' if keep_slash. */
static int
pct_encode(const char *s, int keep_slash, char *out, size_t outlen)
{
	size_t		o = strlen(out);

	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (o + 4 >= outlen)
			return STRATA_EINVAL;
		if (unreserved(c) || (keep_slash && c == '/'))
			out[o++] = (char) c;
		else
			o += (size_t) sprintf(out + o, "%%%02X", c);
	}
	out[o] = '\0';
	return 0;
}

static void
hex_digest(const EVP_MD *md, const void *data, size_t n, char *out)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;

	EVP_Digest(data, n, d, &dl, md, NULL);
	for (unsigned int i = 0; i < dl; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* SHA-256 of bytes [off, off+len) of src, as hex. */
static int
src_sha256(const struct rs_src *src, uint64_t off, uint64_t len, char out[65])
{
	EVP_MD_CTX *ctx;
	unsigned char d[32];
	unsigned int dl = 0;
	uint8_t		chunk[65536];
	int			err = 0;

	if (src->buf)
	{
		hex_digest(EVP_sha256(), src->buf + off, (size_t) len, out);
		return 0;
	}
	if ((ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
	{
		EVP_MD_CTX_free(ctx);
		return STRATA_ENOMEM;
	}
	for (uint64_t pos = 0; pos < len && err == 0;)
	{
		size_t		n = len - pos < sizeof(chunk) ? (size_t) (len - pos) : sizeof(chunk);

		if ((err = rs_src_read(src, off + pos, chunk, n)) == 0)
		{
			EVP_DigestUpdate(ctx, chunk, n);
			pos += n;
		}
	}
	EVP_DigestFinal_ex(ctx, d, &dl);
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < dl; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	return err;
}

static void
content_md5(const void *data, size_t n, char *out /* 25 */ )
{
	unsigned char d[16];
	unsigned int dl = 0;

	EVP_Digest(data, n, d, &dl, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *) out, d, 16);
}

/*
 * ENDPOINT/BUCKET[/PREFIX/KEY][?QUERY]: key NULL for the bucket itself;
 * query already encoded and sorted.  malloc'd, NULL if too long.
 */
static char *
object_url(const struct s3 *s, const char *key, const char *query)
{
	char	   *u = malloc(URL_MAX);

	if (u == NULL)
		return NULL;
	snprintf(u, URL_MAX, "%s/%s", s->url.endpoint, s->url.bucket);
	if (key != NULL)
	{
		strcat(u, "/");
		if ((s->url.prefix[0] && (pct_encode(s->url.prefix, 1, u, URL_MAX) != 0 ||
								  pct_encode("/", 1, u, URL_MAX) != 0)) ||
			pct_encode(key, 1, u, URL_MAX) != 0)
		{
			free(u);
			return NULL;
		}
	}
	if (query && query[0])
	{
		if (strlen(u) + 1 + strlen(query) + 1 > URL_MAX)
		{
			free(u);
			return NULL;
		}
		strcat(u, "?");
		strcat(u, query);
	}
	return u;
}

/* The bucket-level key of an object: PREFIX/KEY. */
static void
full_key(const struct s3 *s, const char *key, char *out, size_t outlen)
{
	if (s->url.prefix[0])
		snprintf(out, outlen, "%s/%s", s->url.prefix, key);
	else
		snprintf(out, outlen, "%s", key);
}

/* A bucket-level key without our prefix (for messages). */
static const char *
strip_prefix(const struct s3 *s, const char *key)
{
	size_t		n = strlen(s->url.prefix);

	if (n > 0 && strncmp(key, s->url.prefix, n) == 0 && key[n] == '/')
		return key + n + 1;
	return key;
}

/* ---------- the handle pool ---------- */

static CURL *
take_handle(struct s3 *s)
{
	CURL	   *h = NULL;

	pthread_mutex_lock(&s->mu);
	if (s->nidle > 0)
		h = s->idle[--s->nidle];
	pthread_mutex_unlock(&s->mu);
	return h ? h : curl_easy_init();
}

static void
give_handle(struct s3 *s, CURL *h)
{
	pthread_mutex_lock(&s->mu);
	if (s->nidle < s->max_idle)
	{
		s->idle[s->nidle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (h)
		curl_easy_cleanup(h);
}

/* ---------- callbacks ---------- */

static size_t
on_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *q = arg;
	size_t		n = size * nmemb;

	if (q->status == 0)
		curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &q->status);
	if (q->sink && q->status / 100 == 2)
	{
		const char *p = data;
		size_t		k = n;

		/* a server that ignored our Range: keep only the range */
		if (q->ranged && q->status == 200)
		{
			uint64_t	drop = q->skip > q->body_seen ? q->skip - q->body_seen : 0;

			drop = drop < k ? drop : k;
			p += drop;
			k -= drop;
			if (q->limit != REMOTE_WHOLE && q->sink->written + k > q->limit)
				k = q->sink->written >= q->limit ? 0 : (size_t) (q->limit - q->sink->written);
		}
		q->body_seen += n;
		if (k > 0 && (q->sink_err = rs_sink_write(q->sink, p, k)) != 0)
			return 0;
		return n;
	}
	if (q->resp.len + n > S3XML_BODY_MAX)
	{
		q->too_big = 1;
		return 0;
	}
	if ((q->sink_err = rs_sink_write(&q->resp, data, n)) != 0)
		return 0;
	return n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *arg)
{
	struct req *q = arg;
	size_t		n = size * nmemb;

	if (n > 5 && strncasecmp(data, "ETag:", 5) == 0)
	{
		const char *v = data + 5;
		size_t		vl = n - 5;

		while (vl > 0 && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		if (vl < sizeof(q->etag))
		{
			memcpy(q->etag, v, vl);
			q->etag[vl] = '\0';
		}
	}
	return n;
}

static size_t
on_read(char *buf, size_t size, size_t nmemb, void *arg)
{
	struct req *q = arg;
	size_t		n = size * nmemb;

	if (q->src_len - q->read_pos < n)
		n = (size_t) (q->src_len - q->read_pos);
	if (n > 0 && rs_src_read(q->src, q->src_off + q->read_pos, buf, n) != 0)
	{
		q->read_failed = 1;
		return CURL_READFUNC_ABORT;
	}
	q->read_pos += n;
	return n;
}

static int
on_progress(void *arg, curl_off_t dlt, curl_off_t dln, curl_off_t ult, curl_off_t uln)
{
	(void) dlt;
	(void) dln;
	(void) ult;
	(void) uln;
	return rs_cancelled(arg);
}

/* ---------- one request, retried ---------- */

static int
transient_curl(CURLcode rc)
{
	switch (rc)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_OPERATION_TIMEDOUT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_HTTP2:
		case CURLE_HTTP2_STREAM:
		case CURLE_WEIRD_SERVER_REPLY:
			return 1;
		default:
			return 0;
	}
}

static int
setup(struct s3 *s, struct remote *r, struct req *q, struct curl_slist **hl, const char *sha)
{
	char		line[160];
	CURL	   *h = q->h;

	snprintf(line, sizeof(line), "x-amz-content-sha256: %s", sha);
	if ((*hl = curl_slist_append(NULL, line)) == NULL)
		return STRATA_ENOMEM;
	for (int i = 0; i < q->nheaders; i++)
		if ((*hl = curl_slist_append(*hl, q->headers[i])) == NULL)
			return STRATA_ENOMEM;
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, q->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->sigv4);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->creds.access_key);
	curl_easy_setopt(h, CURLOPT_PASSWORD, s->creds.secret_key);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long) r->cfg.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long) r->cfg.timeout_ms);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hl);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, q);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, r);
	if (strcmp(q->method, "HEAD") == 0)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "PUT") == 0)
	{
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_READDATA, q);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t) q->src_len);
	}
	else if (q->is_post)
	{
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, q->post ? q->post : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) q->postlen);
	}
	else if (strcmp(q->method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, q->method);
	return 0;
}

/* Code and message of an error body, for messages ("" if none). */
static void
error_body(struct req *q, char *code, size_t cl, char *msg, size_t ml)
{
	if (q->resp.len == 0 || s3xml_error((const char *) q->resp.buf, q->resp.len, code, cl, msg, ml) != 0)
	{
		code[0] = '\0';
		msg[0] = '\0';
	}
}

/*
 * What one attempt's outcome means: 0 done, 1 retry, else the error (res
 * set).
 */
static int
classify(struct remote *r, struct req *q, CURLcode rc, struct remote_result *res)
{
	char		code[64];
	char		msg[256];
	const char *key = q->key ? q->key : "";

	if (rc == CURLE_ABORTED_BY_CALLBACK && rs_cancelled(r))
		return rs_result(res, STRATA_ECANCELLED, "%s \"%s\": cancelled", q->op, key);
	if (rc == CURLE_READ_ERROR || q->read_failed)
		return rs_result(res, STRATA_EIO, "%s \"%s\": could not read the local source", q->op, key);
	if (q->sink_err)
		return rs_result(res, q->sink_err, "%s \"%s\": could not store the response: %s", q->op,
						 key, strata_strerror(q->sink_err));
	if (q->too_big)
		return rs_result(res, STRATA_EREMOTE, "%s \"%s\": response larger than %u bytes", q->op,
						 key, S3XML_BODY_MAX);
	if (rc != CURLE_OK)
	{
		rs_result(res, STRATA_ETRANSIENT, "%s \"%s\": %s", q->op, key, curl_easy_strerror(rc));
		return transient_curl(rc) ? 1 : (res->err = STRATA_EREMOTE);
	}
	res->http_status = (int) q->status;
	error_body(q, code, sizeof(code), msg, sizeof(msg));
	if (q->status / 100 == 2)
	{
		if (q->ok_root == NULL || s3xml_root_is((const char *) q->resp.buf, q->resp.len, q->ok_root))
			return 0;
		/* S3 may answer a multipart completion 200 and put the error in the body */
		rs_result(res, STRATA_ETRANSIENT, "%s \"%s\": HTTP %ld but %s%s%s", q->op, key, q->status,
				  code[0] ? code : "an unexpected body", msg[0] ? ": " : "", msg);
		if (strcmp(code, "InternalError") == 0 || strcmp(code, "SlowDown") == 0 ||
			strcmp(code, "ServiceUnavailable") == 0)
			return 1;
		return res->err = STRATA_EREMOTE;
	}
	rs_result(res, STRATA_EREMOTE, "%s \"%s\": HTTP %ld%s%s%s%s", q->op, key, q->status,
			  code[0] ? " " : "", code, msg[0] ? ": " : "", msg);
	if (q->status / 100 == 5 || q->status == 429)
	{
		res->err = STRATA_ETRANSIENT;
		return 1;
	}
	if (q->status == 404 && strcmp(code, "NoSuchBucket") != 0 && strcmp(code, "NoSuchUpload") != 0)
		res->err = STRATA_ENOTFOUND;
	else if (q->status == 412)
		res->err = STRATA_EPRECONDITION;
	else if (q->status == 416)
		res->err = STRATA_EINVAL;
	return res->err;
}

static int
perform(struct s3 *s, struct remote *r, struct req *q, struct remote_result *res)
{
	char		sha[65];
	int			err;

	if (q->src)
	{
		if ((err = src_sha256(q->src, q->src_off, q->src_len, sha)) != 0)
			return rs_result(res, err, "%s \"%s\": could not read the local source", q->op,
							 q->key ? q->key : "");
	}
	else if (q->post && q->postlen > 0)
		hex_digest(EVP_sha256(), q->post, q->postlen, sha);
	else
		strcpy(sha, EMPTY_SHA256);

	for (int attempt = 1;; attempt++)
	{
		struct curl_slist *hl = NULL;
		CURLcode	rc;

		if (attempt > 1)
		{
			if ((err = rs_backoff(r, attempt)) != 0)
				return rs_result(res, err, "%s \"%s\": cancelled while waiting to retry (%s)",
								 q->op, q->key ? q->key : "", res->message);
			rs_count(&r->metrics.retries_total, 1);
		}
		if (rs_cancelled(r))
			return rs_result(res, STRATA_ECANCELLED, "%s \"%s\": cancelled", q->op,
							 q->key ? q->key : "");
		q->status = 0;
		q->read_pos = q->body_seen = 0;
		q->read_failed = q->sink_err = q->too_big = 0;
		q->etag[0] = '\0';
		if (rs_sink_reset(&q->resp) != 0 || (q->sink && rs_sink_reset(q->sink) != 0))
			return rs_result(res, STRATA_EIO, "%s \"%s\": could not reset the download",
							 q->op, q->key ? q->key : "");
		if ((q->h = take_handle(s)) == NULL || (err = setup(s, r, q, &hl, sha)) != 0)
		{
			curl_slist_free_all(hl);
			if (q->h)
				give_handle(s, q->h);
			return rs_result(res, STRATA_ENOMEM, "%s: out of memory", q->op);
		}
		rs_count(&r->metrics.requests_total, 1);
		rc = curl_easy_perform(q->h);
		q->length = -1;
		if (rc == CURLE_OK)
		{
			curl_easy_getinfo(q->h, CURLINFO_RESPONSE_CODE, &q->status);
			curl_easy_getinfo(q->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &q->length);
		}
		res->attempts = attempt;
		err = classify(r, q, rc, res);
		curl_easy_setopt(q->h, CURLOPT_HTTPHEADER, NULL);
		curl_slist_free_all(hl);
		give_handle(s, q->h);
		q->h = NULL;
		if (err != 1)
			return err;
		if (attempt >= r->cfg.max_attempts)
		{
			char		last[REMOTE_MESSAGE_MAX];

			snprintf(last, sizeof(last), "%s", res->message);
			return rs_result(res, STRATA_ETRANSIENT, "%s (gave up after %d attempts)", last, attempt);
		}
		slog(SLOG_WARNING, "remote: %s, retrying (attempt %d of %d) bucket=%s", res->message,
			 attempt + 1, r->cfg.max_attempts, s->url.bucket);
	}
}

static void
req_free(struct req *q)
{
	free(q->url);
	free(q->resp.buf);
}

/* ---------- operations ---------- */

static int
url_or_fail(struct req *q, struct remote_result *res)
{
	if (q->url == NULL)
		return rs_result(res, STRATA_EINVAL, "%s \"%s\": URL too long", q->op, q->key ? q->key : "");
	return 0;
}

static int
put_single(struct s3 *s, struct remote *r, const char *key, const struct rs_src *src, int flags,
		   struct remote_result *res)
{
	struct req	q = {.op = "put", .key = key, .method = "PUT", .src = src, .src_len = src->size,
	.resp = {.fd = -1}};
	int			err;

	q.url = object_url(s, key, NULL);
	if (flags & REMOTE_IF_ABSENT)
		q.headers[q.nheaders++] = "If-None-Match: *";
	if ((err = url_or_fail(&q, res)) == 0 && (err = perform(s, r, &q, res)) == 0)
		rs_count(&r->metrics.bytes_sent_total, src->size);
	if (err == STRATA_EPRECONDITION)
		rs_result(res, err, "put \"%s\": object exists (HTTP 412)", key);
	req_free(&q);
	return err;
}

static void
abort_multipart(struct s3 *s, struct remote *r, const char *key, const char *query)
{
	struct req	q = {.op = "abort multipart upload", .key = key, .method = "DELETE",
	.resp = {.fd = -1}};
	struct remote_result res2 = {0};

	if ((q.url = object_url(s, key, query)) != NULL && perform(s, r, &q, &res2) != 0)
		slog(SLOG_WARNING, "remote: %s (the parts stay until the bucket's lifecycle removes them)",
			 res2.message);
	req_free(&q);
}

static int
put_multipart(struct s3 *s, struct remote *r, const char *key, const struct rs_src *src,
			  struct remote_result *res)
{
	uint64_t	psize = r->cfg.multipart_part_size;
	uint64_t	nparts = (src->size + psize - 1) / psize;
	struct req	q = {.op = "initiate multipart upload", .key = key, .method = "POST", .is_post = 1,
	.ok_root = "InitiateMultipartUploadResult", .resp = {.fd = -1}};
	char		id[512];
	char		idq[1600];
	char	   *doc = NULL;
	size_t		dlen = 0,
				dcap = 0;
	int			err;

	if (nparts > S3_MAX_PARTS)
		return rs_result(res, STRATA_EINVAL, "put \"%s\": %llu parts, more than S3's %d", key,
						 (unsigned long long) nparts, S3_MAX_PARTS);
	q.url = object_url(s, key, "uploads=");
	if ((err = url_or_fail(&q, res)) != 0 || (err = perform(s, r, &q, res)) != 0)
	{
		req_free(&q);
		return err;
	}
	err = s3xml_upload_id((const char *) q.resp.buf, q.resp.len, id, sizeof(id));
	req_free(&q);
	if (err != 0)
		return rs_result(res, STRATA_EREMOTE, "put \"%s\": no UploadId in the answer", key);
	strcpy(idq, "uploadId=");
	(void) pct_encode(id, 0, idq, sizeof(idq));	/* fits: 3 * 511 + 9 < 1600 */

	err = s3xml_append(&doc, &dlen, &dcap, "<CompleteMultipartUpload>", 0);
	for (uint64_t i = 0; i < nparts && err == 0; i++)
	{
		char		query[1700];
		char		num[64];
		struct req	p = {.op = "put part", .key = key, .method = "PUT", .src = src,
		.src_off = i * psize, .resp = {.fd = -1}};

		p.src_len = src->size - p.src_off < psize ? src->size - p.src_off : psize;
		snprintf(query, sizeof(query), "partNumber=%llu&%s", (unsigned long long) i + 1, idq);
		p.url = object_url(s, key, query);
		if ((err = url_or_fail(&p, res)) == 0 && (err = perform(s, r, &p, res)) == 0)
		{
			if (p.etag[0] == '\0')
				err = rs_result(res, STRATA_EREMOTE, "put \"%s\": part %llu: no ETag in the answer",
								key, (unsigned long long) i + 1);
			rs_count(&r->metrics.bytes_sent_total, p.src_len);
		}
		snprintf(num, sizeof(num), "<Part><PartNumber>%llu</PartNumber><ETag>",
				 (unsigned long long) i + 1);
		if (err == 0)
			err = s3xml_append(&doc, &dlen, &dcap, num, 0);
		if (err == 0)
			err = s3xml_append(&doc, &dlen, &dcap, p.etag, 1);
		if (err == 0)
			err = s3xml_append(&doc, &dlen, &dcap, "</ETag></Part>", 0);
		if (err == STRATA_ENOMEM)
			rs_result(res, err, "put \"%s\": out of memory", key);
		req_free(&p);
	}
	if (err == 0 && (err = s3xml_append(&doc, &dlen, &dcap, "</CompleteMultipartUpload>", 0)) != 0)
		rs_result(res, err, "put \"%s\": out of memory", key);
	if (err == 0)
	{
		struct req	c = {.op = "complete multipart upload", .key = key, .method = "POST",
			.is_post = 1, .post = doc, .postlen = dlen,
		.ok_root = "CompleteMultipartUploadResult", .resp = {.fd = -1}};

		c.headers[c.nheaders++] = "Content-Type: application/xml";
		c.url = object_url(s, key, idq);
		if ((err = url_or_fail(&c, res)) == 0)
			err = perform(s, r, &c, res);
		req_free(&c);
	}
	free(doc);
	if (err != 0)
		abort_multipart(s, r, key, idq);
	return err;
}

static int
s3_put(struct remote *r, const char *key, const struct rs_src *src, int flags,
	   struct remote_result *res)
{
	struct s3  *s = r->impl;

	if (src->size < r->cfg.multipart_threshold)
		return put_single(s, r, key, src, flags, res);
	if (flags & REMOTE_IF_ABSENT)
		return rs_result(res, STRATA_EINVAL, "put \"%s\": create-if-absent needs a single-part "
						 "upload, and %llu bytes is at or above the multipart threshold", key,
						 (unsigned long long) src->size);
	return put_multipart(s, r, key, src, res);
}

static int
s3_head(struct remote *r, const char *key, uint64_t *size, struct remote_result *res)
{
	struct s3  *s = r->impl;
	struct req	q = {.op = "head", .key = key, .method = "HEAD", .resp = {.fd = -1}};
	int			err;

	q.url = object_url(s, key, NULL);
	if ((err = url_or_fail(&q, res)) == 0 && (err = perform(s, r, &q, res)) == 0)
	{
		if (q.length < 0)
			err = rs_result(res, STRATA_EREMOTE, "head \"%s\": no Content-Length in the answer", key);
		else
			*size = (uint64_t) q.length;
	}
	if (err == STRATA_ENOTFOUND)
		rs_result(res, err, "head \"%s\": no such object (HTTP 404)", key);
	req_free(&q);
	return err;
}

static int
s3_get(struct remote *r, const char *key, uint64_t off, uint64_t len, struct rs_sink *sink,
	   struct remote_result *res)
{
	struct s3  *s = r->impl;
	struct req	q = {.op = "get", .key = key, .method = "GET", .sink = sink, .resp = {.fd = -1}};
	char		range[80];
	int			err;

	if (len == 0)
	{
		uint64_t	size;

		if ((err = s3_head(r, key, &size, res)) != 0)
			return err;
		if (off >= size && size > 0)
			return rs_result(res, STRATA_EINVAL, "get \"%s\": range starts at %llu, the object "
							 "has %llu bytes", key, (unsigned long long) off,
							 (unsigned long long) size);
		return 0;
	}
	if (off > 0 || len != REMOTE_WHOLE)
	{
		if (len == REMOTE_WHOLE || off + len < off)
			snprintf(range, sizeof(range), "Range: bytes=%llu-", (unsigned long long) off);
		else
			snprintf(range, sizeof(range), "Range: bytes=%llu-%llu", (unsigned long long) off,
					 (unsigned long long) (off + len - 1));
		q.headers[q.nheaders++] = range;
		q.ranged = 1;
		q.skip = off;
		q.limit = len;
	}
	q.url = object_url(s, key, NULL);
	if ((err = url_or_fail(&q, res)) == 0)
		err = perform(s, r, &q, res);
	req_free(&q);
	if (err == STRATA_EINVAL && off == 0)
	{
		/* 416 for "bytes=0-..." is what an empty object answers */
		uint64_t	size = 1;

		if (s3_head(r, key, &size, res) == 0 && size == 0)
			return 0;
		return rs_result(res, STRATA_EINVAL, "get \"%s\": range not satisfiable", key);
	}
	if (err == STRATA_EINVAL)
		rs_result(res, err, "get \"%s\": range starting at %llu is past the end (HTTP 416)", key,
				  (unsigned long long) off);
	if (err == 0)
		rs_count(&r->metrics.bytes_received_total, sink->written);
	return err;
}

static int
list_page(struct s3 *s, struct remote *r, const char *fullprefix, const char *token,
		  struct s3xml_list *page, struct remote_result *res)
{
	struct req	q = {.op = "list", .key = fullprefix, .method = "GET",
	.ok_root = "ListBucketResult", .resp = {.fd = -1}};
	char	   *query = malloc(URL_MAX);
	int			err;

	if (query == NULL)
		return rs_result(res, STRATA_ENOMEM, "list: out of memory");
	/* sorted by name: continuation-token, list-type, max-keys, prefix */
	query[0] = '\0';
	if (token)
	{
		strcpy(query, "continuation-token=");
		if (pct_encode(token, 0, query, URL_MAX / 2) != 0)
		{
			free(query);
			return rs_result(res, STRATA_EREMOTE, "list: continuation token too long");
		}
		strcat(query, "&");
	}
	snprintf(query + strlen(query), URL_MAX - strlen(query), "list-type=2&max-keys=%d&prefix=",
			 r->cfg.list_page_size);
	(void) pct_encode(fullprefix, 0, query, URL_MAX);	/* fits: prefixes are bounded */
	q.url = object_url(s, NULL, query);
	free(query);
	if ((err = url_or_fail(&q, res)) == 0 && (err = perform(s, r, &q, res)) == 0 &&
		s3xml_list_parse((const char *) q.resp.buf, q.resp.len, page) != 0)
		err = rs_result(res, STRATA_EREMOTE, "list \"%s\": malformed ListBucketResult", fullprefix);
	req_free(&q);
	return err;
}

static int
s3_list(struct remote *r, const char *prefix, struct remote_listing *out,
		struct remote_result *res)
{
	struct s3  *s = r->impl;
	char		fullprefix[RS_PREFIX_MAX + REMOTE_KEY_MAX + 2];
	size_t		skip = s->url.prefix[0] ? strlen(s->url.prefix) + 1 : 0;
	char	   *token = NULL;
	size_t		cap = 0;
	int			err = 0;

	full_key(s, prefix, fullprefix, sizeof(fullprefix));
	if (s->url.prefix[0] && prefix[0] == '\0')
		snprintf(fullprefix, sizeof(fullprefix), "%s/", s->url.prefix);
	do
	{
		struct s3xml_list page;

		if ((err = list_page(s, r, fullprefix, token, &page, res)) != 0)
			break;
		free(token);
		token = page.truncated ? page.next_token : NULL;
		page.next_token = NULL;
		for (size_t i = 0; i < page.n && err == 0; i++)
		{
			if (strlen(page.entries[i].key) <= skip ||
				strncmp(page.entries[i].key, fullprefix, strlen(fullprefix)) != 0)
				continue;		/* not ours (a confused server) */
			if (out->n == cap)
			{
				size_t		ncap = cap ? cap * 2 : 256;
				struct remote_object *o = realloc(out->objects, ncap * sizeof(*o));

				if (o == NULL)
				{
					err = rs_result(res, STRATA_ENOMEM, "list: out of memory");
					break;
				}
				out->objects = o;
				cap = ncap;
			}
			if ((out->objects[out->n].key = strdup(page.entries[i].key + skip)) == NULL)
				err = rs_result(res, STRATA_ENOMEM, "list: out of memory");
			else
				out->objects[out->n++].size = page.entries[i].size;
		}
		s3xml_list_free(&page);
	} while (err == 0 && token != NULL);
	free(token);
	return err;
}

static int
delete_one(struct s3 *s, struct remote *r, const char *key, struct remote_result *res)
{
	struct req	q = {.op = "delete", .key = key, .method = "DELETE", .resp = {.fd = -1}};
	int			err;

	q.url = object_url(s, key, NULL);
	if ((err = url_or_fail(&q, res)) == 0)
		err = perform(s, r, &q, res);
	req_free(&q);
	if (err == STRATA_ENOTFOUND)
		err = res->err = 0;		/* gone already */
	return err;
}

static int
delete_batch(struct s3 *s, struct remote *r, const char *const *keys, size_t n,
			 struct remote_result *res)
{
	struct req	q = {.op = "delete objects", .key = keys[0], .method = "POST", .is_post = 1,
	.ok_root = "DeleteResult", .resp = {.fd = -1}};
	char		md5[32];
	char		md5h[64];
	char		fk[RS_PREFIX_MAX + REMOTE_KEY_MAX + 2];
	char	   *doc = NULL;
	size_t		dlen = 0,
				dcap = 0;
	int			err;

	err = s3xml_append(&doc, &dlen, &dcap, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
					   "<Delete><Quiet>true</Quiet>", 0);
	for (size_t i = 0; i < n && err == 0; i++)
	{
		full_key(s, keys[i], fk, sizeof(fk));
		if ((err = s3xml_append(&doc, &dlen, &dcap, "<Object><Key>", 0)) == 0 &&
			(err = s3xml_append(&doc, &dlen, &dcap, fk, 1)) == 0)
			err = s3xml_append(&doc, &dlen, &dcap, "</Key></Object>", 0);
	}
	if (err == 0)
		err = s3xml_append(&doc, &dlen, &dcap, "</Delete>", 0);
	if (err != 0)
	{
		free(doc);
		return rs_result(res, err, "delete: out of memory");
	}
	content_md5(doc, dlen, md5);
	snprintf(md5h, sizeof(md5h), "Content-MD5: %s", md5);
	q.headers[q.nheaders++] = md5h;
	q.headers[q.nheaders++] = "Content-Type: application/xml";
	q.post = doc;
	q.postlen = dlen;
	q.url = object_url(s, NULL, "delete=");
	if ((err = url_or_fail(&q, res)) == 0 && (err = perform(s, r, &q, res)) == 0)
	{
		char		key[REMOTE_KEY_MAX + RS_PREFIX_MAX + 2];
		char		code[64];
		char		msg[256];

		if (s3xml_delete_result((const char *) q.resp.buf, q.resp.len, key, sizeof(key), code,
								sizeof(code), msg, sizeof(msg)) != 0)
			err = rs_result(res, STRATA_EREMOTE, "delete \"%s\": %s: %s", strip_prefix(s, key),
							code, msg);
	}
	req_free(&q);
	free(doc);
	return err;
}

static int
s3_del(struct remote *r, const char *const *keys, size_t n, struct remote_result *res)
{
	struct s3  *s = r->impl;
	int			err = 0;

	if (n == 1)
		return delete_one(s, r, keys[0], res);
	for (size_t i = 0; i < n && err == 0; i += S3_DELETE_BATCH)
		err = delete_batch(s, r, keys + i, n - i < S3_DELETE_BATCH ? n - i : S3_DELETE_BATCH, res);
	return err;
}

static void
s3_close(struct remote *r)
{
	struct s3  *s = r->impl;

	for (int i = 0; i < s->nidle; i++)
		curl_easy_cleanup(s->idle[i]);
	free(s->idle);
	pthread_mutex_destroy(&s->mu);
	rs_creds_clear(&s->creds);
	free(s);
}

static const struct remote_ops s3_ops = {
	.put = s3_put,
	.get = s3_get,
	.head = s3_head,
	.list = s3_list,
	.del = s3_del,
	.close = s3_close,
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
init_curl(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
rs_s3_open(struct remote *r, const struct rs_url *url, const struct rs_creds *creds,
		   char *err, size_t errlen)
{
	struct s3  *s;

	pthread_once(&curl_once, init_curl);
	if (curl_init_rc != CURLE_OK)
	{
		snprintf(err, errlen, "could not initialise libcurl: %s", curl_easy_strerror(curl_init_rc));
		return STRATA_EINTERNAL;
	}
	if (creds->access_key[0] == '\0' || creds->secret_key[0] == '\0')
	{
		snprintf(err, errlen, "s3 storage needs an access key and a secret key");
		return STRATA_EINVAL;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
		(s->idle = calloc((size_t) (r->cfg.max_handles > 0 ? r->cfg.max_handles : 1),
						  sizeof(CURL *))) == NULL)
	{
		free(s);
		snprintf(err, errlen, "out of memory");
		return STRATA_ENOMEM;
	}
	s->url = *url;
	s->creds = *creds;
	s->max_idle = r->cfg.max_handles;
	snprintf(s->sigv4, sizeof(s->sigv4), "aws:amz:%s:s3", url->region);
	pthread_mutex_init(&s->mu, NULL);
	r->impl = s;
	r->ops = &s3_ops;
	return 0;
}
