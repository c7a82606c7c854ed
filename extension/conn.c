/*-------------------------------------------------------------------------
 *
 * conn.c
 *	  This process's connection to stratad (see conn.h).
 *
 * conn_connect() runs the libpq handshake non-blocking, so that every wait
 * goes through the latch and stays cancellable, and bounds each attempt by
 * the reconnect deadline.  Once the pagestream is up the socket stays
 * non-blocking and all waits go through one WaitEventSet.
 *
 * Secrets (ARCHITECTURE.md I20): the TCP token comes from the file named
 * by strata.stratad_token_file, read at each connection attempt, never
 * from strata.stratad_connstring (conn_check_connstring() refuses a
 * password there).  On a unix socket libpq's requirepeer makes sure the
 * socket's server runs as this cluster's OS user: a socket planted by
 * someone else (in /tmp, say) is never talked to.
 *
 * TLS (issue 13): libpq does it all, as the connstring says; sslmode
 * defaults to disable, and the only other value allowed is verify-full
 * (conn_check_connstring()): every TLS mode short of it lets whoever sits
 * on the path pose as stratad and collect the token.  Over TLS, decrypted
 * input can wait inside OpenSSL while the socket is not readable, so
 * every wait for input looks there first (tls_pending()).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "access/xlog.h"
#include "libpq-fe.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "conn.h"
#include "stats.h"
#include "strata.h"
#include "supervisor.h"

static PGconn *conn;
static WaitEventSet *conn_wes;
static int	conn_wes_sock;

/*
 * Our waits reset the process latch.  A wakeup meant for the caller's own
 * wait loop (a shutdown signal arriving while interrupts were held, say)
 * must not be lost: whoever consumed one sets the latch again before
 * returning to the caller (the logical replication launcher otherwise
 * slept through a fast shutdown).
 */
static bool latch_consumed = false;

void
conn_rearm_latch(void)
{
	if (latch_consumed)
	{
		latch_consumed = false;
		SetLatch(MyLatch);
	}
}

void
conn_close(void)
{
	if (conn_wes != NULL)
	{
		FreeWaitEventSet(conn_wes);
		conn_wes = NULL;
	}
	if (conn != NULL)
	{
		PQfinish(conn);
		conn = NULL;
	}
}

bool
conn_connected(void)
{
	return conn != NULL;
}

const char *
conn_target(void)
{
	static char buf[MAXPGPATH + 64];
	PQconninfoOption *opts;
	const char *host = NULL;
	const char *port = NULL;

	if (buf[0] != '\0')
		return buf;
	if (STRATA_EMBEDDED())
	{
		snprintf(buf, sizeof(buf), "embedded stratad at \"%s/.s.PGSQL.%d\"",
				 supervisor_socket_dir(), PROTO_DEFAULT_PORT);
		return buf;
	}
	opts = PQconninfoParse(strata_stratad_connstring, NULL);
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
	{
		if (strcmp(o->keyword, "host") == 0 || (strcmp(o->keyword, "hostaddr") == 0 && host == NULL))
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	}
	snprintf(buf, sizeof(buf), "stratad at %s:%s", host ? host : "(default host)",
			 port ? port : "(default port)");
	if (opts)
		PQconninfoFree(opts);
	return buf;
}

/* A keyword's value in parsed options, or NULL if unset or empty. */
static const char *
option(PQconninfoOption *opts, const char *keyword)
{
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val != NULL && o->val[0] != '\0' ? o->val : NULL;
	return NULL;
}

/* The secret keyword in opts ("password", "passfile", "sslpassword"), or NULL. */
static const char *
secret_keyword(PQconninfoOption *opts)
{
	static const char *const secrets[] = {"password", "passfile", "sslpassword"};

	for (size_t i = 0; i < lengthof(secrets); i++)
		if (option(opts, secrets[i]) != NULL)
			return secrets[i];
	return NULL;
}

/*
 * An sslmode that encrypts without checking that the server is the host
 * named (allow, prefer, require, verify-ca), or NULL.
 */
static const char *
unverified_sslmode(PQconninfoOption *opts)
{
	const char *mode = option(opts, "sslmode");

	if (mode == NULL || strcmp(mode, "disable") == 0 || strcmp(mode, "verify-full") == 0)
		return NULL;
	return mode;
}

/* Whether opts reach stratad over TCP (a host that is no socket directory). */
static bool
uses_tcp(PQconninfoOption *opts)
{
	const char *h = option(opts, "host");

	if (option(opts, "hostaddr") != NULL)
		return true;
	/* a comma-separated list: any name or address in it is TCP */
	while (h != NULL && *h != '\0')
	{
		if (*h != '/' && *h != '@' && *h != ',')
			return true;
		h = strchr(h, ',');
		if (h != NULL)
			h++;
	}
	return false;
}

void
conn_check_settings(void)
{
	PQconninfoOption *opts;
	const char *kw;
	const char *mode;

	if (strata_stratad_connstring[0] == '\0')
		return;
	if ((opts = PQconninfoParse(strata_stratad_connstring, NULL)) == NULL)
		return;					/* libpq says what is wrong at the first connection */
	if ((kw = secret_keyword(opts)) != NULL)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("strata.stratad_connstring must not contain \"%s\"", kw),
				 errdetail("A setting can be read by more users than a file, and ends up in logs and backups."),
				 strcmp(kw, "sslpassword") == 0 ?
				 errhint("Store the client key without a passphrase in a file of mode 0600.") :
				 errhint("Put the token in a file of mode 0600 and set strata.stratad_token_file.")));
	if ((mode = unverified_sslmode(opts)) != NULL)
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("strata.stratad_connstring must not set sslmode to \"%s\"", mode),
				 errdetail("With sslmode=%s libpq does not check that the server's certificate names the host it connects to, so a machine on the path could pose as stratad and collect the token and the pages.", mode),
				 errhint("Use sslmode=verify-full with sslrootcert set to the CA of stratad's certificate, or sslmode=disable on a network you trust.")));
	if (uses_tcp(opts) && option(opts, "sslmode") == NULL)
		ereport(WARNING,
				(errmsg("strata.stratad_connstring reaches stratad over TCP without TLS"),
				 errdetail("The token and the pages cross the network in clear text."),
				 errhint("Start stratad with --tls-cert and --tls-key, and add sslmode=verify-full and sslrootcert to strata.stratad_connstring.")));
	PQconninfoFree(opts);
}

bool
conn_check_connstring(char **newval, void **extra, GucSource source)
{
	char	   *err = NULL;
	PQconninfoOption *opts;
	const char *kw;
	bool		ok = true;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	/*
	 * At postmaster start a refused value would only be a WARNING and the
	 * default (the embedded sidecar!) used instead: let it through, and
	 * conn_check_settings() stops the server.
	 */
	if (process_shared_preload_libraries_in_progress)
		return true;
	opts = PQconninfoParse(*newval, &err);
	if (opts == NULL)
	{
		GUC_check_errmsg("invalid strata.stratad_connstring: %s", err ? pchomp(err) : "out of memory");
		if (err)
			PQfreemem(err);
		return false;
	}
	if ((kw = secret_keyword(opts)) != NULL)
	{
		GUC_check_errmsg("strata.stratad_connstring must not contain \"%s\"", kw);
		GUC_check_errdetail("A setting can be read by more users than a file, and ends up in logs.");
		if (strcmp(kw, "sslpassword") == 0)
			GUC_check_errhint("Store the client key without a passphrase in a file of mode 0600.");
		else
			GUC_check_errhint("Put the token in a file of mode 0600 and set strata.stratad_token_file.");
		ok = false;
	}
	else if ((kw = unverified_sslmode(opts)) != NULL)
	{
		GUC_check_errmsg("strata.stratad_connstring must not set sslmode to \"%s\"", kw);
		GUC_check_errdetail("With sslmode=%s libpq does not check that the server's certificate names the host it connects to.", kw);
		GUC_check_errhint("Use sslmode=verify-full with sslrootcert, or sslmode=disable on a network you trust.");
		ok = false;
	}
	PQconninfoFree(opts);
	return ok;
}

/*
 * The token in strata.stratad_token_file, into buf (len bytes): false
 * with *why (palloc'd) if the file cannot be read or breaks stratad's
 * rules for token files (a regular file of our uid, mode 0600).
 */
static bool
read_token_file(char *buf, size_t len, char **why)
{
	const char *path = strata_stratad_token_file;
	int			fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	ssize_t		n;

	if (fd < 0)
	{
		*why = psprintf("could not open token file \"%s\": %m", path);
		return false;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
		(st.st_mode & 077) != 0)
	{
		close(fd);
		*why = psprintf("token file \"%s\" must be a regular file owned by the server's user "
						"with mode 0600", path);
		return false;
	}
	n = read(fd, buf, len - 1);
	close(fd);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n <= 0)
	{
		*why = psprintf("token file \"%s\" is empty or unreadable", path);
		return false;
	}
	buf[n] = '\0';
	return true;
}

/* This cluster's OS user, which stratad runs as on a unix socket. */
static const char *
own_user_name(void)
{
	static char name[128];
	struct passwd *pw;

	if (name[0] == '\0' && (pw = getpwuid(geteuid())) != NULL)
		strlcpy(name, pw->pw_name, sizeof(name));
	return name[0] ? name : NULL;
}

/*
 * Whether c's TLS layer holds input already decrypted: PQconsumeInput()
 * reads one buffer's worth, OpenSSL may have taken the rest of a record
 * off the socket, and the socket then stays quiet however long one
 * waits on it.
 */
static bool
tls_pending(PGconn *c)
{
	SSL		   *ssl = PQsslStruct(c, "OpenSSL");

	return ssl != NULL && SSL_pending(ssl) > 0;
}

/* Wait for the socket in a connect step; false on timeout. */
static bool
wait_socket(pgsocket sock, uint32 events, TimestampTz deadline)
{
	long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
	int			rc;

	if (ms <= 0)
		return false;
	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH | events,
						   sock, ms, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		latch_consumed = true;
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * One connection attempt, bounded by deadline.  Returns NULL and sets
 * *why (palloc'd) on failure.
 */
static PGconn *
connect_once(TimestampTz deadline, char **why)
{
	const char *keys[10];
	const char *vals[10];
	char		token[256];
	char		pid[16];
	char		port[16];
	char		options[256];
	char		query[256];
	int			n = 0;
	PGconn	   *c;
	PGresult   *res;

	snprintf(pid, sizeof(pid), "%d", MyProcPid);
	snprintf(options, sizeof(options),
			 "-c strata.sysid=" UINT64_FORMAT " -c strata.mode=rw -c strata.start=" INT64_FORMAT,
			 GetSystemIdentifier(), (int64) PgStartTime);
	/* before dbname: a remote connstring may name another user, or TLS */
	if (own_user_name() != NULL)
	{
		keys[n] = "requirepeer";
		vals[n++] = own_user_name();
	}
	keys[n] = "sslmode";
	vals[n++] = "disable";
	if (STRATA_EMBEDDED())
	{
		snprintf(port, sizeof(port), "%d", PROTO_DEFAULT_PORT);
		keys[n] = "host";
		vals[n++] = supervisor_socket_dir();
		keys[n] = "port";
		vals[n++] = port;
		keys[n] = "dbname";
		vals[n++] = "strata";
	}
	else
	{
		keys[n] = "dbname";
		vals[n++] = strata_stratad_connstring;
		if (strata_stratad_token_file[0] != '\0')
		{
			if (!read_token_file(token, sizeof(token), why))
				return NULL;
			keys[n] = "password";
			vals[n++] = token;
		}
	}
	keys[n] = "application_name";
	vals[n++] = pid;
	keys[n] = "options";
	vals[n++] = options;
	keys[n] = NULL;
	vals[n] = NULL;

	c = PQconnectStartParams(keys, vals, STRATA_EMBEDDED() ? 0 : 1);
	explicit_bzero(token, sizeof(token));
	if (c == NULL)
	{
		*why = pstrdup("out of memory");
		return NULL;
	}
	for (;;)
	{
		PostgresPollingStatusType st = PQconnectPoll(c);
		uint32		ev;

		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
			goto fail;
		ev = st == PGRES_POLLING_READING ? WL_SOCKET_READABLE : WL_SOCKET_WRITEABLE;
		if (!wait_socket(PQsocket(c), ev, deadline))
		{
			PQfinish(c);
			*why = pstrdup("timed out");
			return NULL;
		}
	}

	snprintf(query, sizeof(query), "strata_pagestream %d %s %s", PROTO_VERSION,
			 strata_tenant_id, strata_timeline_id);
	if (!PQsendQuery(c, query))
		goto fail;
	for (;;)
	{
		if (!PQconsumeInput(c))
			goto fail;
		if (!PQisBusy(c))
			break;
		if (tls_pending(c))
			continue;
		if (!wait_socket(PQsocket(c), WL_SOCKET_READABLE, deadline))
		{
			PQfinish(c);
			*why = pstrdup("timed out waiting for the pagestream to start");
			return NULL;
		}
	}
	res = PQgetResult(c);
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		*why = pstrdup(PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(c);
		return NULL;
	}
	PQclear(res);
	if (PQsetnonblocking(c, 1) != 0)
		goto fail;
	return c;

fail:
	*why = pstrdup(PQerrorMessage(c));
	PQfinish(c);
	return NULL;
}

/*
 * I2: stratad bumps its durability epoch when acknowledged but unsynced
 * writes may have been lost (a failed fsync, a host crash).  The compute
 * then must not go on as if they were stored: PANIC, so that crash
 * recovery replays WAL and rewrites those pages, as after a failed fsync
 * on md.  Shared memory is reinitialized by the crash restart, so the new
 * epoch is then simply recorded.
 */
static void
check_epoch(void)
{
	const char *s = PQparameterStatus(conn, "strata_durability_epoch");
	uint32		epoch = s ? (uint32) strtoul(s, NULL, 10) : 0;
	uint32		known = 0;

	if (epoch == 0)
		return;
	if (pg_atomic_compare_exchange_u32(&strata_shared->durability_epoch, &known, epoch) ||
		known == epoch)
		return;
	ereport(PANIC,
			(errcode(ERRCODE_DATA_CORRUPTED),
			 errmsg("stratad's durability epoch changed from %u to %u", known, epoch),
			 errdetail("stratad may have lost writes it had acknowledged but not yet synced."),
			 errhint("Crash recovery will replay WAL to rewrite them.")));
}

/*
 * Connect, retrying with backoff (1 ms doubling to 1 s) until
 * strata.reconnect_timeout.  On failure give_up() runs, then ERROR.
 */
void
conn_connect(void (*give_up) (void))
{
	TimestampTz start = GetCurrentTimestamp();
	TimestampTz deadline = TimestampTzPlusMilliseconds(start, strata_reconnect_timeout_ms);
	long		backoff = 1;
	char	   *why = NULL;
	char	   *last_real = NULL;	/* the last failure that was not our deadline */
	bool		logged = false;

	if (conn != NULL)
		return;
	for (;;)
	{
		conn = connect_once(deadline, &why);
		if (conn != NULL)
			break;
		if (strcmp(why, "timed out") != 0)
		{
			if (last_real)
				pfree(last_real);
			last_real = pstrdup(why);
		}
		if (GetCurrentTimestamp() >= deadline)
		{
			give_up();
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not connect to %s: %s", conn_target(),
							pchomp(last_real ? last_real : why)),
					 errdetail("Retried for %d ms (strata.reconnect_timeout).",
							   strata_reconnect_timeout_ms),
					 STRATA_EMBEDDED() ?
					 errhint("See the sidecar's log in \"pg_strata/stratad.log\".") : 0));
		}
		/* nobody else may restart it now: see supervisor_ensure_running() */
		if (STRATA_EMBEDDED() && backoff >= 512)
			supervisor_ensure_running();
		if (!logged && backoff >= 256)
		{
			ereport(LOG,
					(errmsg("strata: could not connect to %s: %s; retrying",
							conn_target(), pchomp(why))));
			logged = true;
		}
		pfree(why);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 backoff, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		latch_consumed = true;
		CHECK_FOR_INTERRUPTS();
		backoff = Min(backoff * 2, 1000);
	}

	check_epoch();

	conn_wes = CreateWaitEventSet(TopMemoryContext, 3);
	AddWaitEventToSet(conn_wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(conn_wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	conn_wes_sock = AddWaitEventToSet(conn_wes, WL_SOCKET_READABLE, PQsocket(conn),
									  NULL, NULL);
	strata_count(SC_CONNECTS, 1);
	if (last_real)
		pfree(last_real);
	if (logged)
		ereport(LOG, (errmsg("strata: connected to %s", conn_target())));
}

void
conn_lost(const char *why)
{
	ereport(LOG,
			(errmsg("strata: lost connection to %s: %s; reconnecting",
					conn_target(), why)));
	conn_close();
	strata_count(SC_RECONNECTS, 1);
}

const char *
conn_param(const char *name)
{
	return conn ? PQparameterStatus(conn, name) : NULL;
}

bool
conn_wait(uint32 events)
{
	WaitEvent	ev;

	/* input the socket will not announce: take it now */
	if ((events & WL_SOCKET_READABLE) && tls_pending(conn))
	{
		if (!PQconsumeInput(conn))
		{
			conn_lost(pchomp(PQerrorMessage(conn)));
			return false;
		}
		return true;
	}
	ModifyWaitEvent(conn_wes, conn_wes_sock, events, NULL);
	if (WaitEventSetWait(conn_wes, 1000, &ev, 1, PG_WAIT_EXTENSION) <= 0)
		return true;
	if (ev.events & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		latch_consumed = true;
		CHECK_FOR_INTERRUPTS();
	}
	if ((ev.events & WL_SOCKET_READABLE) && !PQconsumeInput(conn))
	{
		conn_lost(pchomp(PQerrorMessage(conn)));
		return false;
	}
	return true;
}

bool
conn_send(const uint8 *msg, size_t len)
{
	for (;;)
	{
		int			rc = PQputCopyData(conn, (const char *) msg, (int) len);

		if (rc == 1)
			return true;
		if (rc < 0)
		{
			conn_lost(pchomp(PQerrorMessage(conn)));
			return false;
		}
		/* libpq's buffer is full: push some out, then retry */
		if (PQflush(conn) < 0)
		{
			conn_lost(pchomp(PQerrorMessage(conn)));
			return false;
		}
	}
}

/*
 * Reads input while it waits, so that a stratad blocked on writing to us
 * cannot deadlock with us.
 */
bool
conn_flush(void)
{
	for (;;)
	{
		int			rc = PQflush(conn);

		if (rc == 0)
			return true;
		if (rc < 0)
		{
			conn_lost(pchomp(PQerrorMessage(conn)));
			return false;
		}
		if (!conn_wait(WL_SOCKET_READABLE | WL_SOCKET_WRITEABLE))
			return false;
	}
}

int
conn_receive(char **msg)
{
	int			len = PQgetCopyData(conn, msg, 1);

	if (len < 0)
	{
		PGresult   *res = PQgetResult(conn);
		char	   *why = pstrdup(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));

		PQclear(res);
		conn_lost(why[0] ? pchomp(why) : "stream ended");
		return -1;
	}
	return len;
}

void
conn_free_message(char *msg)
{
	PQfreemem(msg);
}
