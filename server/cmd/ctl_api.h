/*-------------------------------------------------------------------------
 *
 * ctl_api.h
 *	  stratactl's commands that ask a running stratad's management API:
 *	  status, tenant, timeline, layers, checkpoint, compact, gc, wal and
 *	  wal-fetch.
 *
 * The API is found from --http, or else from the status file a running
 * stratad keeps in its data directory (-D DIR or $PGDATA: a compute's data
 * directory, whose sidecar lives in DIR/pg_strata, or a sidecar's own).
 * The default tenant and timeline are the ones that stratad serves.
 * Every request carries a bearer token (apiauth.h): read from
 * --token-file, or else from the admin token file in that data directory
 * (DIR/pg_strata/api-token-admin or DIR/api-token-admin); never from the
 * command line.  With --tls-ca FILE the API is reached over HTTPS on TCP
 * (the server's certificate must chain to FILE and name the host given);
 * a status file saying the API is HTTPS makes --tls-ca mandatory.
 *
 * Each command prints its result on stdout (rows, or JSON with --json),
 * its errors on stderr, and returns the process exit code: OPT_EXIT_OK,
 * OPT_EXIT_FAIL (stratad not found or not answering, or the API refused)
 * or OPT_EXIT_USAGE (a bad subcommand).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_CTL_API_H
#define STRATA_CTL_API_H

/* The options of a stratactl invocation; strings borrowed from argv/environ. */
struct ctl_args
{
	const char *datadir;		/* -D, else $PGDATA; NULL if neither */
	const char *http;			/* --http HOST:PORT or unix:PATH, or NULL */
	const char *token_file;		/* --token-file, or NULL: the data directory's */
	const char *tls_ca;			/* --tls-ca: HTTPS on TCP, verified by these CAs */
	const char *tls_cert;		/* --tls-cert, --tls-key: our client certificate */
	const char *tls_key;
	const char *tenant;			/* --tenant, or NULL: stratad's own */
	const char *timeline;		/* --timeline, or NULL: stratad's own */
	const char *ancestor;		/* --ancestor (timeline create) */
	const char *lsn;			/* --lsn (timeline create) */
	int			as_json;		/* --json */
	int			partial;		/* --partial (wal-fetch) */
	int			top;			/* --top (page-trace) */
};

/*
 * A command: cmd is its name, argv[0..argc) the operands after it.
 * ctl_timeline_op serves layers, checkpoint, compact and gc.
 */
extern int	ctl_status(const char *cmd, const struct ctl_args *a, int argc, char **argv);
extern int	ctl_tenant(const char *cmd, const struct ctl_args *a, int argc, char **argv);
extern int	ctl_timeline(const char *cmd, const struct ctl_args *a, int argc, char **argv);
extern int	ctl_timeline_op(const char *cmd, const struct ctl_args *a, int argc, char **argv);
/* wal (GET .../wal) and wal-fetch SEGMENT DEST (GET .../wal/SEGMENT). */
extern int	ctl_wal(const char *cmd, const struct ctl_args *a, int argc, char **argv);
extern int	ctl_wal_fetch(const char *cmd, const struct ctl_args *a, int argc, char **argv);

#endif							/* STRATA_CTL_API_H */
