/*-------------------------------------------------------------------------
 *
 * fio.h
 *	  stratad's file operations that change what is on disk, and the test
 *	  hooks on them: fault injection and kill points.
 *
 * Every open, write, sync, rename, link, unlink, truncate, mkdir and rmdir
 * of the storage engine goes through fio_*(), so a test can fail any one
 * of them (issue 12: "fault injection at every I/O site").
 *
 * Production builds (no STRATA_TEST_HOOKS): each fio_*() is the system
 * call itself, inlined; fio_kill_point() and fio_fault_once() are nothing.
 * Nothing reads the environment.
 *
 * Test builds (-DSTRATA_TEST_HOOKS: the unit tests, stratad-test used by
 * the TAP suites, the sanitizer builds) count every call and its call
 * site, and can fail one of them:
 *	- fio_fault_plan(nth, err, ops): the nth call (1-based, counted from
 *	  the plan) among the operations in the ops mask fails with errno err
 *	  and no effect (a write writes nothing); 0 turns the plan off.
 *	- stratad-test reads STRATA_FAULT_NTH, STRATA_FAULT_ERRNO (ENOSPC, EIO)
 *	  and STRATA_FAULT_OPS (comma-separated names, default all) once.
 *	- fio_kill_point(name): abort() when STRATA_KILL_POINT names it (with
 *	  STRATA_KILL_ONCE_FILE: only while that file exists; it is removed).
 *	- fio_fault_once(envvar): true once per creation of the file that
 *	  $envvar names (the file is removed when it fires).
 *	- fio_no_sync_on_this_thread(name): from then on an fsync or
 *	  fdatasync on the calling thread abort()s with its site (the
 *	  page-service loop says so while it serves: ARCHITECTURE's rule of no
 *	  fsync on a loop thread, checked by every test); NULL lifts it.
 * The counters are atomics: any thread may call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_FIO_H
#define STRATA_FIO_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum fio_op
{
	FIO_OPEN,
	FIO_PWRITE,
	FIO_WRITE,
	FIO_FDATASYNC,
	FIO_FSYNC,
	FIO_RENAME,
	FIO_LINK,
	FIO_UNLINK,
	FIO_FTRUNCATE,
	FIO_MKDIR,
	FIO_RMDIR,
	FIO_NOPS
};

#define FIO_ALL_OPS		((1u << FIO_NOPS) - 1)

#ifdef STRATA_TEST_HOOKS

#define FIO_STR2(x) #x
#define FIO_STR(x) FIO_STR2(x)
#define FIO_SITE	__FILE__ ":" FIO_STR(__LINE__)

/* Returns 0 to go ahead, or -1 with errno set: the call must fail. */
extern int	fio_fault_check(enum fio_op op, const char *site);

#define FIO_WRAP(op, call) (fio_fault_check((op), FIO_SITE) != 0 ? -1 : (call))

#define fio_open(...)				FIO_WRAP(FIO_OPEN, open(__VA_ARGS__))
#define fio_pwrite(fd, b, n, off)	((ssize_t) FIO_WRAP(FIO_PWRITE, pwrite((fd), (b), (n), (off))))
#define fio_write(fd, b, n)			((ssize_t) FIO_WRAP(FIO_WRITE, write((fd), (b), (n))))
#define fio_fdatasync(fd)			FIO_WRAP(FIO_FDATASYNC, fdatasync(fd))
#define fio_fsync(fd)				FIO_WRAP(FIO_FSYNC, fsync(fd))
#define fio_rename(a, b)			FIO_WRAP(FIO_RENAME, rename((a), (b)))
#define fio_renameat2(d1, a, d2, b, f) FIO_WRAP(FIO_RENAME, renameat2((d1), (a), (d2), (b), (f)))
#define fio_link(a, b)				FIO_WRAP(FIO_LINK, link((a), (b)))
#define fio_unlink(p)				FIO_WRAP(FIO_UNLINK, unlink(p))
#define fio_ftruncate(fd, len)		FIO_WRAP(FIO_FTRUNCATE, ftruncate((fd), (len)))
#define fio_mkdir(p, mode)			FIO_WRAP(FIO_MKDIR, mkdir((p), (mode)))
#define fio_rmdir(p)				FIO_WRAP(FIO_RMDIR, rmdir(p))

extern void fio_kill_point(const char *name);
/* Whether STRATA_KILL_POINT names this point (for a half-done step first). */
extern int	fio_kill_armed(const char *name);
extern int	fio_fault_once(const char *envvar);
extern void fio_no_sync_on_this_thread(const char *what);

/*
 * Tests: the plan (see above), and what happened under it.  With
 * fio_die_after_fault(k), k > 0, the process _exit()s at its kth file
 * operation after the fault fired (that operation not done): a crash in
 * the middle of handling the failure.
 */
extern void fio_fault_plan(uint64_t nth, int err, unsigned ops);
extern void fio_die_after_fault(int k);
extern uint64_t fio_calls(void);		/* counted calls of planned ops since the plan */
extern const char *fio_fault_site(void);	/* where the planned fault fired, or NULL */
extern const char *fio_op_name(enum fio_op op);
/* Record the site of each counted call into sites[0..cap) (NULL: stop). */
extern void fio_record_sites(const char **sites, uint64_t cap);
/* Name list ("pwrite,fdatasync") to a mask; -1 if a name is unknown. */
extern int64_t fio_parse_ops(const char *names);

#else							/* !STRATA_TEST_HOOKS */

#define fio_open			open
#define fio_pwrite			pwrite
#define fio_write			write
#define fio_fdatasync		fdatasync
#define fio_fsync			fsync
#define fio_rename			rename
#define fio_renameat2		renameat2
#define fio_link			link
#define fio_unlink			unlink
#define fio_ftruncate		ftruncate
#define fio_mkdir			mkdir
#define fio_rmdir			rmdir

#define fio_kill_point(name)	((void) 0)
#define fio_kill_armed(name)	0
#define fio_fault_once(envvar)	0
#define fio_no_sync_on_this_thread(what)	((void) 0)

#endif							/* STRATA_TEST_HOOKS */

#endif							/* STRATA_FIO_H */
