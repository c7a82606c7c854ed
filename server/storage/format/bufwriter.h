/*-------------------------------------------------------------------------
 *
 * bufwriter.h
 *	  An append-only file writer with two buffers and a background flush
 *	  thread (ARCHITECTURE.md 5.2): the writer fills one buffer while the
 *	  flush thread writes the other to the kernel.
 *
 * The two buffers form a ring of 2 x bufsize bytes over the file's tail.
 * The writer (one thread, typically an event loop) appends and calls
 * bw_submit() at the end of each group; the flush thread takes the byte
 * range appended since the last hand-over through a one-slot channel
 * (further submits fold into the waiting range), pwrite()s it and advances
 * the written offset, then calls notify(arg).  Writer and flush thread
 * touch disjoint bytes, so a partial buffer can be handed over while the
 * writer keeps appending after it.  The writer never blocks: with no room
 * in the ring bw_append() returns STRATA_EBUSY and the caller retries
 * after a notify.
 *
 * A failed pwrite is retried with backoff (100 ms doubling, capped at
 * 10 s), each failure logged; the first failure of a range is reported
 * through notify and bw_failed().  bw_close(cancel) interrupts a backoff
 * at once; unwritten data then ends as STRATA_ECANCELLED, which callers
 * log at INFO, never as an error.  No durability here: fdatasync is the
 * caller's.
 *
 * Threads: bw_append, bw_submit, bw_room, bw_read and bw_close from the
 * writer thread only; bw_written, bw_failed, bw_appended from any thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_BUFWRITER_H
#define STRATA_BUFWRITER_H

#include <stddef.h>
#include <stdint.h>

struct bufwriter;

/* Called on the flush thread after progress or a failure; must not block long. */
typedef void (*bw_notify_fn) (void *arg);

/*
 * fd: open for writing, not closed by bw.  start_off: the file offset of
 * the first append.  bufsize: each buffer.  name: for log lines.
 */
extern int	bw_open(int fd, uint64_t start_off, size_t bufsize, const char *name,
					bw_notify_fn notify, void *arg, struct bufwriter **out);

/*
 * Copy len bytes to the end; *off gets their file offset.  STRATA_EBUSY:
 * not enough room now; STRATA_EINVAL: len exceeds the ring; after a
 * reported failure, that error.
 */
extern int	bw_append(struct bufwriter *bw, const void *data, size_t len, uint64_t *off);

/*
 * Take back what was appended after to (writer thread): only what was
 * not yet handed over by bw_submit(), else STRATA_EINVAL.
 */
extern int	bw_unappend(struct bufwriter *bw, uint64_t to);

/* Hand everything appended so far to the flush thread; never blocks. */
extern void bw_submit(struct bufwriter *bw);

extern uint64_t bw_appended(const struct bufwriter *bw);
/* Bytes bw_append() takes now without STRATA_EBUSY (writer thread). */
extern size_t bw_room(const struct bufwriter *bw);
/* The most it can ever hold at once (the ring). */
extern size_t bw_capacity(const struct bufwriter *bw);
extern uint64_t bw_written(const struct bufwriter *bw);

/*
 * 0 when healthy; else STRATA_ENOSPC or STRATA_EIO of the failing write,
 * *attempts (if not NULL) the failed attempts so far.
 */
extern int	bw_failed(const struct bufwriter *bw, int *attempts);

/*
 * Go on appending to another file at start_off (writer thread), with no
 * thread started or stopped: only while idle (everything appended is
 * written, no failure), else STRATA_EBUSY and nothing changed.
 */
extern int	bw_retarget(struct bufwriter *bw, int fd, uint64_t start_off, const char *name);

/*
 * Make the ring hold at least need bytes (writer thread; for a change
 * larger than the ring): only while idle, else STRATA_EBUSY; ENOMEM.
 */
extern int	bw_grow(struct bufwriter *bw, size_t need);

/* Copy [off, off + len) into buf, from the ring if still there, else pread. */
extern int	bw_read(struct bufwriter *bw, uint64_t off, void *buf, size_t len);

/*
 * Stop and free.  cancel = 0: submit and wait until everything is written
 * (0), or until a failure with nothing more written (that error); cancel
 * = 1: stop at the next attempt boundary, STRATA_ECANCELLED if data was
 * left unwritten.
 */
extern int	bw_close(struct bufwriter *bw, int cancel);

/* Tests only: fail the next n write attempts with errno err. */
extern void bw_test_fail_writes(struct bufwriter *bw, int n, int err);

#endif							/* STRATA_BUFWRITER_H */
