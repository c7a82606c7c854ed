/*-------------------------------------------------------------------------
 *
 * pgwire.c
 *	  The PostgreSQL v3 protocol as stratad speaks it: messages out, the
 *	  startup packet (peer checks, system identifier), and the one query
 *	  that starts a pagestream (see pagesvc.h for the whole exchange).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "bytes.h"
#include "identity.h"
#include "pagesvc_internal.h"
#include "proto.h"
#include "secret.h"
#include "slog.h"
#include "tenant.h"

void
pgwire_put_msg(struct conn *c, char type, const void *body, size_t len)
{
	uint8_t		hdr[5];
	struct evbuffer *o = bufferevent_get_output(c->bev);

	hdr[0] = (uint8_t) type;
	put_be32(hdr + 1, (uint32_t) (len + 4));
	evbuffer_add(o, hdr, 5);
	if (len)
		evbuffer_add(o, body, len);
	c->srv->m.bytes_sent += len + 5;
}

int
pgwire_put_msg_ref(struct conn *c, char type, const void *head, size_t head_len,
				   const void *tail, size_t tail_len, evbuffer_ref_cleanup_cb done, void *arg)
{
	uint8_t		buf[5 + 256];
	struct evbuffer *o = bufferevent_get_output(c->bev);

	if (head_len > sizeof(buf) - 5)
		return -1;
	buf[0] = (uint8_t) type;
	put_be32(buf + 1, (uint32_t) (head_len + tail_len + 4));
	memcpy(buf + 5, head, head_len);
	if (evbuffer_add(o, buf, 5 + head_len) != 0)
		return -1;
	if (evbuffer_add_reference(o, tail, tail_len, done, arg) != 0)
	{
		/* no memory for a chain: a copy, or the stream is broken */
		if (evbuffer_add(o, tail, tail_len) != 0)
			return -2;
		done(tail, tail_len, arg);
	}
	c->srv->m.bytes_sent += 5 + head_len + tail_len;
	return 0;
}

uint8_t *
pgwire_begin_msg(struct conn *c, size_t max, struct pgwire_msg *m)
{
	struct evbuffer_iovec v;

	m->o = bufferevent_get_output(c->bev);
	if (evbuffer_reserve_space(m->o, (ev_ssize_t) (max + 5), &v, 1) != 1)
		return NULL;
	m->iov_base = v.iov_base;
	m->iov_len = v.iov_len;
	return (uint8_t *) v.iov_base + 5;
}

void
pgwire_end_msg(struct conn *c, char type, struct pgwire_msg *m, size_t len)
{
	struct evbuffer_iovec v = {m->iov_base, len + 5};
	uint8_t    *hdr = m->iov_base;

	hdr[0] = (uint8_t) type;
	put_be32(hdr + 1, (uint32_t) (len + 4));
	(void) evbuffer_commit_space(m->o, &v, 1);	/* cannot fail: the space is ours */
	c->srv->m.bytes_sent += len + 5;
}

void
pgwire_put_error(struct conn *c, const char *severity, const char *sqlstate, const char *msg)
{
	char		body[1024];
	int			n = snprintf(body, sizeof(body) - 1, "S%s%cV%s%cC%s%cM%s%c",
							 severity, 0, severity, 0, sqlstate, 0, msg, 0);

	if (n < 0 || n >= (int) sizeof(body) - 1)
		n = sizeof(body) - 2;
	body[n++] = '\0';
	pgwire_put_msg(c, 'E', body, n);
}

static void
put_param(struct conn *c, const char *name, const char *value)
{
	char		body[256];
	int			n = snprintf(body, sizeof(body), "%s%c%s", name, 0, value);

	pgwire_put_msg(c, 'S', body, n + 1);
}

void
pgwire_put_ready(struct conn *c)
{
	pgwire_put_msg(c, 'Z', "I", 1);
}

/* ---------- startup and query ---------- */

static const char *
option_value(const char *options, const char *name, char *buf, size_t len)
{
	const char *p = strstr(options, name);
	size_t		n = 0;

	if (p == NULL || p[strlen(name)] != '=')
		return NULL;
	p += strlen(name) + 1;
	while (p[n] && p[n] != ' ' && n < len - 1)
	{
		buf[n] = p[n];
		n++;
	}
	buf[n] = '\0';
	return buf;
}

int
pgwire_peer_uid_ok(int fd, uid_t want, uid_t *got)
{
	struct ucred cred;
	socklen_t	len = sizeof(cred);

	*got = (uid_t) -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
		return 0;
	*got = cred.uid;
	return cred.uid == want;
}

/* A unix-socket peer must run as our user. */
static int
check_peer_uid(struct conn *c)
{
	uid_t		uid;

	if (!pgwire_peer_uid_ok(bufferevent_getfd(c->bev), geteuid(), &uid))
	{
		slog(SLOG_WARNING, "pgwire: refusing a unix-socket peer running as uid %d conn=%llu",
			 (int) uid, (unsigned long long) c->id);
		pgwire_put_error(c, "FATAL", "28000", "peer is not running as stratad's user");
		return -1;
	}
	return 0;
}

/*
 * The options every client must send (pagesvc.h): strata.sysid, and
 * strata.mode rw (with strata.start) or ro.  Sets c->read_only.
 */
static int
check_options(struct conn *c)
{
	char		buf[32];
	char	   *end;
	const char *missing = NULL;

	if (option_value(c->options, "strata.sysid", buf, sizeof(buf)) == NULL)
		missing = "strata.sysid";
	else if (strtoull(buf, &end, 10) == 0 || *end != '\0')
		missing = "strata.sysid (a database system identifier)";
	else if (option_value(c->options, "strata.mode", buf, sizeof(buf)) == NULL ||
			 (strcmp(buf, "rw") != 0 && strcmp(buf, "ro") != 0))
		missing = "strata.mode (rw or ro)";
	else if (strcmp(buf, "rw") == 0 &&
			 option_value(c->options, "strata.start", buf, sizeof(buf)) == NULL)
		missing = "strata.start (a read-write compute's postmaster start time)";
	if (missing != NULL)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "startup packet lacks the option %s", missing);
		slog(SLOG_WARNING, "pgwire: refusing a client conn=%llu app=%s: %s",
			 (unsigned long long) c->id, c->app, msg);
		pgwire_put_error(c, "FATAL", "08P01", msg);
		return -1;
	}
	c->read_only = option_value(c->options, "strata.mode", buf, sizeof(buf)) != NULL &&
		strcmp(buf, "ro") == 0;
	return 0;
}

static int
check_sysid(struct conn *c, const char *options)
{
	struct server *srv = c->srv;
	char		buf[32];
	unsigned long long sysid;

	if (option_value(options, "strata.sysid", buf, sizeof(buf)) == NULL)
		return -1;				/* check_options() said so */
	sysid = strtoull(buf, NULL, 10);
	if (srv->id.sysid == 0 && c->read_only)
		return 0;				/* only a read-write compute claims the timeline */
	if (srv->id.sysid == 0)
	{
		srv->id.sysid = sysid;
		if (identity_save(srv->datadir, &srv->id) != 0)
		{
			pgwire_put_error(c, "FATAL", "58030", "could not record the compute's system identifier");
			return -1;
		}
		slog(SLOG_INFO, "pagesvc: timeline now belongs to database system %llu", sysid);
		return 0;
	}
	if (srv->id.sysid != sysid)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg),
				 "system identifier mismatch: this timeline belongs to database system %llu, the compute is %llu",
				 (unsigned long long) srv->id.sysid, sysid);
		slog(SLOG_WARNING, "pagesvc: refusing a compute: %s", msg);
		pgwire_put_error(c, "FATAL", "08004", msg);
		return -1;
	}
	return 0;
}

/*
 * I19: a read-write compute may attach only if no other one holds the
 * timeline (its connections are open, or closed less than the grace ago).
 */
static int
check_owner(struct conn *c)
{
	struct server *srv = c->srv;
	char		buf[32];
	long long	start;
	char		msg[256];

	if (c->read_only)
		return 0;
	if (option_value(c->options, "strata.start", buf, sizeof(buf)) == NULL)
		return -1;				/* check_options() said so */
	start = strtoll(buf, NULL, 10);
	if (srv->owner_start != 0 && srv->owner_start != start &&
		(srv->owner_conns > 0 ||
		 (time(NULL) - srv->owner_left) * 1000 < srv->rw_grace_ms))
	{
		snprintf(msg, sizeof(msg),
				 "another read-write compute (postmaster started at %lld) is attached to this timeline",
				 srv->owner_start);
		slog(SLOG_WARNING, "pgwire: refusing a compute started at %lld: %s", start, msg);
		pgwire_put_error(c, "FATAL", "55000", msg);
		return -1;
	}
	if (srv->owner_start != start)
		slog(SLOG_INFO, "pgwire: the read-write compute started at %lld now owns the timeline", start);
	srv->owner_start = start;
	srv->owner_conns++;
	c->owner = 1;
	return 0;
}

/* Authenticated: check the system identifier and say hello; nonzero if c closed. */
static int
finish_startup(struct conn *c)
{
	uint8_t		kd[8];

	if (check_options(c) != 0 || check_sysid(c, c->options) != 0 || check_owner(c) != 0)
	{
		conn_close(c);
		return 1;
	}
	pgwire_put_msg(c, 'R', "\0\0\0\0", 4);
	put_param(c, "server_version", "15.0 (strata)");
	put_param(c, "server_encoding", "UTF8");
	put_param(c, "client_encoding", "UTF8");
	put_param(c, "DateStyle", "ISO, MDY");
	put_param(c, "integer_datetimes", "on");
	put_param(c, "standard_conforming_strings", "on");
	put_param(c, "strata_tenant_id", c->srv->tenant_hex);
	put_param(c, "strata_timeline_id", c->srv->timeline_hex);
	{
		char		epoch[16];

		snprintf(epoch, sizeof(epoch), "%u", c->srv->id.epoch);
		put_param(c, "strata_durability_epoch", epoch);
	}
	put_be32(kd, (uint32_t) getpid());
	put_be32(kd + 4, (uint32_t) c->id);
	pgwire_put_msg(c, 'K', kd, 8);
	pgwire_put_ready(c);
	c->state = CONN_QUERY;
	return 0;
}

/* Protocol codes of the startup packet (PostgreSQL's pqcomm.h) */
#define PGWIRE_V3			196608	/* 3.0 */
#define PGWIRE_CANCEL_CODE	80877102
#define PGWIRE_SSL_CODE		80877103
#define PGWIRE_GSSENC_CODE	80877104

enum pgwire_request
pgwire_classify(uint32_t code, int is_unix, int tls_configured, enum conn_tls tls)
{
	switch (code)
	{
		case PGWIRE_CANCEL_CODE:
			return PGWIRE_CANCEL;
		case PGWIRE_SSL_CODE:
			if (tls != CONN_TLS_NONE)
				return PGWIRE_UNSUPPORTED;
			return !is_unix && tls_configured ? PGWIRE_TLS_ACCEPT : PGWIRE_TLS_DECLINE;
		case PGWIRE_GSSENC_CODE:
			return tls != CONN_TLS_NONE ? PGWIRE_UNSUPPORTED : PGWIRE_TLS_DECLINE;
		case PGWIRE_V3:
			return !is_unix && tls_configured && tls != CONN_TLS_ON ?
				PGWIRE_TLS_REQUIRED : PGWIRE_STARTUP;
		default:
			return PGWIRE_UNSUPPORTED;
	}
}

/* A plaintext startup where TCP needs TLS: refused, saying how to connect. */
static int
refuse_plaintext(struct conn *c)
{
	slog(SLOG_WARNING, "pgwire: refusing a plaintext TCP client conn=%llu peer=%s: "
		 "TLS is required on TCP", (unsigned long long) c->id, c->peer);
	pgwire_put_error(c, "FATAL", "28000",
					 "stratad requires TLS on TCP connections: connect with sslmode=verify-full");
	conn_close(c);
	return 1;
}

int
pgwire_startup(struct conn *c, const uint8_t *buf, size_t len)
{
	uint32_t	code = get_be32(buf + 4);
	const char *options = "";

	switch (pgwire_classify(code, c->is_unix, c->srv->tls_ctx != NULL, c->tls))
	{
		case PGWIRE_TLS_DECLINE:
			evbuffer_add(bufferevent_get_output(c->bev), "N", 1);
			return 0;
		case PGWIRE_TLS_ACCEPT:
			return conn_start_tls(c);
		case PGWIRE_CANCEL:
			conn_close(c);		/* nothing to cancel */
			return 1;
		case PGWIRE_TLS_REQUIRED:
			return refuse_plaintext(c);
		case PGWIRE_UNSUPPORTED:
			conn_violation(c, "unsupported frontend protocol %u.%u%s", code >> 16, code & 0xFFFF,
						   c->tls != CONN_TLS_NONE && code >> 16 == 1234 ?
						   " inside TLS" : "");
			return 1;
		case PGWIRE_STARTUP:
			break;
	}
	/* name\0value\0 ... \0 */
	for (size_t i = 8; i < len && buf[i] != '\0';)
	{
		const char *name = (const char *) buf + i;
		size_t		nlen = strnlen(name, len - i);
		const char *val;
		size_t		vlen;

		if (i + nlen + 1 >= len)
			break;
		val = name + nlen + 1;
		vlen = strnlen(val, len - i - nlen - 1);
		if (strcmp(name, "application_name") == 0)
			snprintf(c->app, sizeof(c->app), "%.*s", (int) vlen, val);
		else if (strcmp(name, "options") == 0)
			options = val;
		i += nlen + 1 + vlen + 1;
	}
	if (buf[len - 1] != '\0')
	{
		conn_violation(c, "malformed startup packet");
		return 1;
	}
	snprintf(c->options, sizeof(c->options), "%s", options);
	if (c->is_unix)
	{
		if (check_peer_uid(c) != 0)
		{
			conn_close(c);
			return 1;
		}
		return finish_startup(c);
	}
	if (c->srv->token == NULL)
	{
		pgwire_put_error(c, "FATAL", "28000", "this stratad accepts no TCP clients without --token-file");
		conn_close(c);
		return 1;
	}
	/* AuthenticationCleartextPassword: the token is the password */
	pgwire_put_msg(c, 'R', "\0\0\0\3", 4);
	c->state = CONN_AUTH;
	return 0;
}

void
pgwire_password(struct conn *c, const uint8_t *buf, size_t len)
{
	if (len == 0 || buf[len - 1] != '\0')
	{
		conn_violation(c, "malformed password message");
		return;
	}
	if (!secret_equal((const char *) buf, c->srv->token))
	{
		slog(SLOG_WARNING, "pgwire: wrong token from a TCP peer conn=%llu peer=%s",
			 (unsigned long long) c->id, c->peer);
		pgwire_put_error(c, "FATAL", "28P01", "token authentication failed");
		conn_close(c);
		return;
	}
	(void) finish_startup(c);	/* the caller looks at c->state */
}

void
pgwire_query(struct conn *c, const char *q)
{
	struct server *srv = c->srv;
	char		tenant[80];
	char		timeline[80];
	int			version;
	char		msg[256];

	if (sscanf(q, "strata_pagestream %d %79s %79s", &version, tenant, timeline) != 3)
	{
		pgwire_put_error(c, "ERROR", "42601", "stratad understands only: strata_pagestream <version> <tenant> <timeline>");
		pgwire_put_ready(c);
		return;
	}
	if (version != PROTO_VERSION)
	{
		snprintf(msg, sizeof(msg), "unsupported pagestream protocol version %d; supported: %d",
				 version, PROTO_VERSION);
		pgwire_put_error(c, "ERROR", "0A000", msg);
		pgwire_put_ready(c);
		return;
	}
	{
		uint8_t		tid[16];
		uint8_t		tlid[16];
		struct timeline *tl = NULL;

		if (strcmp(tenant, "default") == 0)
			memcpy(tid, srv->id.tenant, 16);
		if (strcmp(timeline, "default") == 0)
			memcpy(tlid, srv->id.timeline, 16);
		if ((strcmp(tenant, "default") == 0 || identity_parse_hex(tenant, tid) == 0) &&
			(strcmp(timeline, "default") == 0 || identity_parse_hex(timeline, tlid) == 0))
			tl = registry_timeline(srv->reg, tid, tlid);
		/* a Broken timeline is served: its requests get clear CORRUPT errors */
		if (tl == NULL || (atomic_load(&tl->state) != TL_ACTIVE &&
						   atomic_load(&tl->state) != TL_BROKEN))
		{
			snprintf(msg, sizeof(msg), "tenant %s timeline %s %s", tenant, timeline,
					 tl ? "is not active" : "not found");
			pgwire_put_error(c, "ERROR", "58P01", msg);
			pgwire_put_ready(c);
			return;
		}
		pagesvc_attach(c, tl);
	}
	pgwire_put_msg(c, 'W', "\0\0\0", 3);	/* text format, 0 columns */
	c->state = CONN_COPY;
	slog(SLOG_DEBUG, "pagesvc: pagestream started conn=%llu app=%s",
		 (unsigned long long) c->id, c->app);
}

