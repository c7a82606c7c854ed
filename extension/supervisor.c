/*-------------------------------------------------------------------------
 *
 * supervisor.c
 *	  The bgworker that runs the embedded stratad (ARCHITECTURE.md 2.5).
 *
 * Started at postmaster start (before recovery: the startup process needs
 * pages), it fork/execs stratad in its own session with the read end of
 * the postmaster-death pipe on fd 3.  stratad exits when that pipe reaches
 * EOF, i.e. after the postmaster, never on our SIGTERM: bgworkers stop
 * before the shutdown checkpoint, which still writes pages.  After a
 * crash-restart the new supervisor adopts the running stratad (found by
 * its locked pid file); a dead stratad is restarted within a second.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "common/hashfn.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "stats.h"
#include "strata.h"
#include "supervisor.h"
#include "walservice.h"

#define STRATAD_DEATH_FD 3
#define SUPERVISE_INTERVAL_MS 500

static volatile sig_atomic_t got_sigterm;

char *
supervisor_socket_dir(void)
{
	static char dir[MAXPGPATH];
	struct sockaddr_un sun;

	if (dir[0] != '\0')
		return dir;
	snprintf(dir, sizeof(dir), "%s/pg_strata", DataDir);
	/* libpq appends "/.s.PGSQL.<port>"; fall back to /tmp if too long */
	if (strlen(dir) + 20 >= sizeof(sun.sun_path))
		snprintf(dir, sizeof(dir), "/tmp/strata-%08x",
				 hash_bytes((const unsigned char *) DataDir, strlen(DataDir)));
	return dir;
}

void
supervisor_register(void)
{
	BackgroundWorker bgw;

	if (!STRATA_EMBEDDED())
		return;
	memset(&bgw, 0, sizeof(bgw));
	bgw.bgw_flags = BGWORKER_SHMEM_ACCESS;
	bgw.bgw_start_time = BgWorkerStart_PostmasterStart;
	bgw.bgw_restart_time = 1;
	snprintf(bgw.bgw_library_name, BGW_MAXLEN, "strata");
	snprintf(bgw.bgw_function_name, BGW_MAXLEN, "strata_supervisor_main");
	snprintf(bgw.bgw_name, BGW_MAXLEN, "strata supervisor");
	snprintf(bgw.bgw_type, BGW_MAXLEN, "strata supervisor");
	RegisterBackgroundWorker(&bgw);
}

static void
supervisor_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* The pid of a running stratad holding the lock on its pid file, or 0. */
static pid_t
running_stratad(const char *datadir)
{
	char		path[MAXPGPATH];
	char		buf[32];
	int			fd;
	ssize_t		n;
	pid_t		pid = 0;

	snprintf(path, sizeof(path), "%s/stratad.pid", datadir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
	{
		/* nobody holds it: no stratad */
		close(fd);
		return 0;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	if (n > 0)
	{
		buf[n] = '\0';
		pid = (pid_t) atoi(buf);
	}
	close(fd);
	return pid;
}

static void
stratad_path(char *path)
{
	if (strata_stratad_path[0] != '\0')
		strlcpy(path, strata_stratad_path, MAXPGPATH);
	else
	{
		strlcpy(path, my_exec_path, MAXPGPATH);
		get_parent_directory(path);
		strlcat(path, "/stratad", MAXPGPATH);
	}
}

/*
 * In a forked child: own session, default signals, the postmaster-death
 * pipe on STRATAD_DEATH_FD, stdout/stderr to the sidecar log, nothing
 * else inherited; then exec.  No elog here.
 */
static void
exec_child(const char *exe, char **argv, const char *logpath)
{
	sigset_t	none;
	int			fd;

	(void) setsid();
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* dispositions set to SIG_IGN would survive exec */
	for (int sig = 1; sig < NSIG; sig++)
		(void) signal(sig, SIG_DFL);
	if (postmaster_alive_fds[POSTMASTER_FD_WATCH] >= 0 &&
		postmaster_alive_fds[POSTMASTER_FD_WATCH] != STRATAD_DEATH_FD)
		dup2(postmaster_alive_fds[POSTMASTER_FD_WATCH], STRATAD_DEATH_FD);
	(void) fcntl(STRATAD_DEATH_FD, F_SETFD, 0);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0 && fd != 0)
		dup2(fd, 0);
	fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd >= 0)
	{
		dup2(fd, 1);
		dup2(fd, 2);
	}
	for (fd = STRATAD_DEATH_FD + 1; fd < 1024; fd++)
		(void) close(fd);
	execv(exe, argv);
	_exit(127);
}

/*
 * strata.stratad_options, split at spaces, appended to argv (at most max
 * entries in all).  The strings live in a static copy: the caller execs.
 */
static int
add_extra_options(char **argv, int argc, int max)
{
	static char *copy;
	char	   *tok;
	char	   *save = NULL;

	if (strata_stratad_options == NULL || strata_stratad_options[0] == '\0')
		return argc;
	if (copy == NULL)
		copy = MemoryContextStrdup(TopMemoryContext, strata_stratad_options);
	else
		strcpy(copy, strata_stratad_options);
	for (tok = strtok_r(copy, " \t", &save); tok && argc < max; tok = strtok_r(NULL, " \t", &save))
		argv[argc++] = tok;
	return argc;
}

/* fork/exec stratad; returns its pid or -1. */
static pid_t
start_stratad(const char *datadir)
{
	char		exe[MAXPGPATH];
	char		http[64];
	char		port[16];
	char		logpath[MAXPGPATH];
	char		deathfd[16];
	char		sync_ms[16];
	char		wal_source[MAXPGPATH + 64];
	char	   *argv[48];
	int			argc = 0;
	pid_t		pid;

	stratad_path(exe);
	snprintf(http, sizeof(http), "127.0.0.1:%d", strata_stratad_http_port);
	snprintf(port, sizeof(port), "%d", PROTO_DEFAULT_PORT);
	snprintf(logpath, sizeof(logpath), "%s/stratad.log", datadir);
	snprintf(deathfd, sizeof(deathfd), "%d", STRATAD_DEATH_FD);
	snprintf(sync_ms, sizeof(sync_ms), "%d", strata_stratad_sync_interval_ms);
	argv[argc++] = exe;
	argv[argc++] = "-D";
	argv[argc++] = unconstify(char *, datadir);
	argv[argc++] = "--socket-dir";
	argv[argc++] = supervisor_socket_dir();
	argv[argc++] = "--port";
	argv[argc++] = port;
	argv[argc++] = "--http";
	argv[argc++] = http;
	argv[argc++] = "--http-any-port";
	argv[argc++] = "--sync-interval-ms";
	argv[argc++] = sync_ms;
	argv[argc++] = "--postmaster-fd";
	argv[argc++] = deathfd;
	if (walservice_source(wal_source, sizeof(wal_source)))
	{
		argv[argc++] = "--wal-source";
		argv[argc++] = wal_source;
	}
	argc = add_extra_options(argv, argc, lengthof(argv) - 1);
	argv[argc] = NULL;

	if (access(exe, X_OK) != 0)
	{
		static bool reported;

		if (reported)
			return -1;
		reported = true;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("strata: cannot run stratad at \"%s\": %m", exe),
				 errhint("Install stratad next to postgres, or set strata.stratad_path.")));
		return -1;
	}

	pid = fork();
	if (pid < 0)
	{
		ereport(LOG, (errmsg("strata: could not fork stratad: %m")));
		return -1;
	}
	if (pid == 0)
		exec_child(exe, argv, logpath);
	ereport(LOG, (errmsg("strata: started stratad (PID %d) for \"%s\"", (int) pid, datadir)));
	return pid;
}

/*
 * Import the cluster's relation files before anything reads them: run
 * "stratad --import-only" and wait.  Called from _PG_init in the
 * postmaster, before the startup process exists, so nothing else touches
 * the files meanwhile (PostgreSQL's own unlogged-relation cleanup would).
 * Returns at once once the import is complete.
 */
void
supervisor_import(void)
{
	char		datadir[MAXPGPATH];
	char		exe[MAXPGPATH];
	char		logpath[MAXPGPATH];
	char	   *argv[40];
	int			argc = 0;
	pid_t		pid;
	int			status;

	snprintf(datadir, sizeof(datadir), "%s/pg_strata", DataDir);
	if (mkdir(datadir, 0700) != 0 && errno != EEXIST)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("strata: could not create directory \"%s\": %m", datadir)));
	stratad_path(exe);
	snprintf(logpath, sizeof(logpath), "%s/stratad.log", datadir);
	argv[argc++] = exe;
	argv[argc++] = "-D";
	argv[argc++] = datadir;
	argv[argc++] = "--pgdata";
	argv[argc++] = DataDir;
	argv[argc++] = "--import-only";
	argc = add_extra_options(argv, argc, lengthof(argv) - 1);
	argv[argc] = NULL;

	pid = fork();
	if (pid < 0)
		ereport(FATAL, (errmsg("strata: could not fork stratad for the import: %m")));
	if (pid == 0)
		exec_child(exe, argv, logpath);
	while (waitpid(pid, &status, 0) < 0)
	{
		if (errno != EINTR)
			ereport(FATAL, (errmsg("strata: could not wait for the import: %m")));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		ereport(FATAL,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("strata: importing the cluster into stratad failed"),
				 errdetail("\"%s --import-only\" exited with status %d.", exe, status),
				 errhint("See \"%s\".", logpath)));
}

/*
 * From any process that cannot reach the embedded stratad: start one if
 * none runs.  Needed during crash recovery, when the postmaster does not
 * restart our bgworker until the startup process finishes, and that
 * process waits for stratad.  A double fork leaves no zombie; if several
 * processes race, the pid-file lock lets one stratad win and the others
 * exit.
 */
void
supervisor_ensure_running(void)
{
	char		datadir[MAXPGPATH];
	pid_t		pid;

	snprintf(datadir, sizeof(datadir), "%s/pg_strata", DataDir);
	if (running_stratad(datadir) > 0)
		return;
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0)
	{
		/* the intermediate child: start stratad and leave at once */
		(void) start_stratad(datadir);
		_exit(0);
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

void
strata_supervisor_main(Datum arg)
{
	char		datadir[MAXPGPATH];
	pid_t		child = 0;		/* our child: reaped with waitpid */
	pid_t		adopted = 0;	/* found running: polled with kill(0) */

	pqsignal(SIGTERM, supervisor_sigterm);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();

	snprintf(datadir, sizeof(datadir), "%s/pg_strata", DataDir);
	if (mkdir(datadir, 0700) != 0 && errno != EEXIST)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("strata: could not create directory \"%s\": %m", datadir)));

	while (!got_sigterm)
	{
		if (child > 0)
		{
			int			status;
			pid_t		r = waitpid(child, &status, WNOHANG);

			if (r == child)
			{
				if (WIFSIGNALED(status))
					ereport(LOG, (errmsg("strata: stratad (PID %d) was terminated by signal %d; restarting",
										 (int) child, WTERMSIG(status))));
				else
					ereport(LOG, (errmsg("strata: stratad (PID %d) exited with exit code %d; restarting",
										 (int) child, WEXITSTATUS(status))));
				child = 0;
			}
		}
		else if (adopted > 0 && kill(adopted, 0) != 0 && errno == ESRCH)
		{
			ereport(LOG, (errmsg("strata: stratad (PID %d) is gone; restarting", (int) adopted)));
			adopted = 0;
		}

		if (child == 0 && adopted == 0)
		{
			pid_t		running = running_stratad(datadir);

			if (running > 0)
			{
				adopted = running;
				ereport(LOG, (errmsg("strata: supervising running stratad (PID %d)", (int) running)));
			}
			else
			{
				child = start_stratad(datadir);
				if (child < 0)
					child = 0;
				else
					pg_atomic_fetch_add_u32(&strata_shared->stratad_starts, 1);
			}
			pg_atomic_write_u32(&strata_shared->stratad_pid,
								(uint32) (child ? child : adopted));
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SUPERVISE_INTERVAL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
	}
	/*
	 * stratad keeps running: the shutdown checkpoint still needs it.  Exit
	 * code 1 so the postmaster restarts us if this was not a shutdown.
	 */
	proc_exit(1);
}
