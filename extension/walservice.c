/*-------------------------------------------------------------------------
 *
 * walservice.c
 *	  The compute's side of the WAL service (walservice.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "postmaster/postmaster.h"
#include "replication/syncrep.h"
#include "replication/walsender.h"
#include "utils/guc.h"

#include "strata.h"
#include "walservice.h"

static bool service_on;

/* The first entry of unix_socket_directories, or "" (TCP only). */
static void
first_socket_dir(char *buf, size_t len)
{
	const char *s = Unix_socket_directories ? Unix_socket_directories : "";
	size_t		n;

	while (*s == ' ' || *s == '\t')
		s++;
	n = strcspn(s, ",");
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	/* a quoted entry: the quotes go */
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
	{
		s++;
		n -= 2;
	}
	if (n >= len)
		n = 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
}

void
walservice_init(void)
{
	char		dir[MAXPGPATH];

	service_on = false;
	if (!strata_wal_service || !STRATA_EMBEDDED())
		return;
	first_socket_dir(dir, sizeof(dir));
	if (max_wal_senders <= 0)
	{
		ereport(WARNING,
				(errmsg("strata: the WAL service is off because max_wal_senders is 0"),
				 errdetail("The embedded stratad receives this cluster's WAL by streaming replication."),
				 errhint("Set max_wal_senders to at least 1, or strata.wal_service to off.")));
		return;
	}
	if (dir[0] == '\0')
	{
		ereport(WARNING,
				(errmsg("strata: the WAL service is off because the server listens on no unix socket"),
				 errhint("Set unix_socket_directories, or strata.wal_service to off.")));
		return;
	}
	/* bound what the slot may hold back, unless the user did */
	if (max_slot_wal_keep_size_mb < 0 && strata_wal_keep_size_mb > 0)
	{
		char		v[32];

		snprintf(v, sizeof(v), "%d", strata_wal_keep_size_mb);
		SetConfigOption("max_slot_wal_keep_size", v, PGC_POSTMASTER, PGC_S_DYNAMIC_DEFAULT);
	}
	/* synchronous mode: a commit returns once stratad has its WAL */
	if (strata_wal_synchronous)
	{
		if (SyncRepStandbyNames == NULL || SyncRepStandbyNames[0] == '\0')
			SetConfigOption("synchronous_standby_names", "\"strata-1\"", PGC_POSTMASTER,
							PGC_S_DYNAMIC_DEFAULT);
		else
			ereport(LOG,
					(errmsg("strata: strata.wal_synchronous leaves synchronous_standby_names as set (\"%s\")",
							SyncRepStandbyNames),
					 errhint("Name \"strata-1\" there for commits to wait for the embedded stratad.")));
	}
	service_on = true;
}

bool
walservice_source(char *buf, size_t len)
{
	char		dir[MAXPGPATH];

	if (!service_on)
		return false;
	first_socket_dir(dir, sizeof(dir));
	/* quoting: libpq's single-quoted values, backslash-escaped */
	{
		StringInfoData s;

		initStringInfo(&s);
		appendStringInfoString(&s, "host='");
		for (const char *p = dir; *p; p++)
		{
			if (*p == '\'' || *p == '\\')
				appendStringInfoChar(&s, '\\');
			appendStringInfoChar(&s, *p);
		}
		appendStringInfo(&s, "' port=%d", PostPortNumber);
		strlcpy(buf, s.data, len);
		pfree(s.data);
	}
	return true;
}
