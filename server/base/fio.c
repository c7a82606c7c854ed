/*-------------------------------------------------------------------------
 *
 * fio.c
 *	  Test hooks on stratad's file operations (see fio.h).  Compiled to
 *	  nothing in production builds.
 *
 *-------------------------------------------------------------------------
 */
#include "fio.h"

#ifdef STRATA_TEST_HOOKS

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "slog.h"

static const char *const op_names[FIO_NOPS] = {
	"open", "pwrite", "write", "fdatasync", "fsync", "rename", "link", "unlink",
	"ftruncate", "mkdir", "rmdir",
};

static _Atomic uint64_t plan_nth;	/* 0: no plan */
static _Atomic int plan_err;
static _Atomic unsigned plan_ops;
static _Atomic uint64_t calls;		/* of planned ops since the plan */
static const char *_Atomic fired_site;
static _Atomic int die_after;	/* _exit at the Nth operation after the fault */
static _Atomic int after_fault;
static const char **record;		/* tests: the site of each counted call */
static uint64_t record_cap;

static pthread_once_t env_once = PTHREAD_ONCE_INIT;
static const char *kill_point;
static const char *kill_once_file;

const char *
fio_op_name(enum fio_op op)
{
	return op < FIO_NOPS ? op_names[op] : "?";
}

int64_t
fio_parse_ops(const char *names)
{
	int64_t		mask = 0;
	const char *p = names;

	while (*p)
	{
		size_t		n = strcspn(p, ",");
		int			found = 0;

		for (int i = 0; i < FIO_NOPS; i++)
			if (strlen(op_names[i]) == n && strncmp(p, op_names[i], n) == 0)
			{
				mask |= 1 << i;
				found = 1;
			}
		if (!found)
			return -1;
		p += n;
		if (*p == ',')
			p++;
	}
	return mask;
}

/* stratad-test: the plan and kill point from the environment, read once. */
static void
read_env(void)
{
	const char *nth = getenv("STRATA_FAULT_NTH");
	const char *err = getenv("STRATA_FAULT_ERRNO");
	const char *ops = getenv("STRATA_FAULT_OPS");

	kill_point = getenv("STRATA_KILL_POINT");
	kill_once_file = getenv("STRATA_KILL_ONCE_FILE");
	if (nth != NULL && atoll(nth) > 0)
	{
		int64_t		mask = ops ? fio_parse_ops(ops) : FIO_ALL_OPS;

		if (mask < 0)
		{
			slog(SLOG_ERROR, "fio: unknown operation in STRATA_FAULT_OPS=\"%s\"", ops);
			mask = FIO_ALL_OPS;
		}
		fio_fault_plan((uint64_t) atoll(nth),
					   err != NULL && strcmp(err, "EIO") == 0 ? EIO : ENOSPC, (unsigned) mask);
	}
}

void
fio_fault_plan(uint64_t nth, int err, unsigned ops)
{
	atomic_store(&plan_nth, 0);
	atomic_store(&calls, 0);
	atomic_store(&fired_site, NULL);
	atomic_store(&after_fault, 0);
	atomic_store(&plan_err, err);
	atomic_store(&plan_ops, ops);
	atomic_store(&plan_nth, nth);
}

uint64_t
fio_calls(void)
{
	return atomic_load(&calls);
}

const char *
fio_fault_site(void)
{
	return atomic_load(&fired_site);
}

void
fio_die_after_fault(int on)
{
	atomic_store(&die_after, on);
}

void
fio_record_sites(const char **sites, uint64_t cap)
{
	record = sites;
	record_cap = sites ? cap : 0;
}

static _Thread_local const char *no_sync_here;	/* the loop this thread runs */

void
fio_no_sync_on_this_thread(const char *what)
{
	no_sync_here = what;
}

int
fio_fault_check(enum fio_op op, const char *site)
{
	uint64_t	nth;
	uint64_t	n;

	if ((op == FIO_FSYNC || op == FIO_FDATASYNC) && no_sync_here != NULL)
	{
		/* a rule, not a fault: the loop must never wait for the disk */
		slog(SLOG_ERROR, "fio: %s at %s on the %s thread, which must never wait for the disk",
			 fio_op_name(op), site, no_sync_here);
		abort();
	}
	pthread_once(&env_once, read_env);
	if (atomic_load(&die_after) && atomic_load(&fired_site) != NULL &&
		atomic_fetch_add(&after_fault, 1) + 1 >= atomic_load(&die_after))
		_exit(0);
	if (!(atomic_load(&plan_ops) & (1u << op)))
		return 0;
	nth = atomic_load(&plan_nth);
	n = atomic_fetch_add(&calls, 1);
	if (n < record_cap)
		record[n] = site;
	if (n + 1 != nth || nth == 0)
		return 0;
	atomic_store(&fired_site, site);
	slog(SLOG_WARNING, "fio: injecting %s into call %llu, %s at %s",
		 strerror(atomic_load(&plan_err)), (unsigned long long) nth, fio_op_name(op), site);
	errno = atomic_load(&plan_err);
	return -1;
}

int
fio_kill_armed(const char *name)
{
	pthread_once(&env_once, read_env);
	return kill_point != NULL && strcmp(kill_point, name) == 0;
}

void
fio_kill_point(const char *name)
{
	pthread_once(&env_once, read_env);
	if (kill_point == NULL || strcmp(kill_point, name) != 0)
		return;
	if (kill_once_file != NULL && unlink(kill_once_file) != 0)
		return;
	slog(SLOG_WARNING, "fio: aborting at kill point \"%s\"", name);
	abort();
}

int
fio_fault_once(const char *envvar)
{
	const char *f = getenv(envvar);

	if (f == NULL || unlink(f) != 0)
		return 0;
	slog(SLOG_WARNING, "fio: injecting the fault of %s", envvar);
	return 1;
}

#endif							/* STRATA_TEST_HOOKS */
