/*-------------------------------------------------------------------------
 *
 * inmem_log.h
 *	  An in-memory layer: the versions a timeline received since its last
 *	  freeze, indexed in memory, their values in an ephemeral file that is
 *	  also the write log (ARCHITECTURE.md 5.2).
 *
 * File TIMELINE_DIR/log-<16 hex digits of lsn_start>, little-endian:
 *	header, 64 bytes:
 *	  0 8 magic "STRATAWL", 8 4 version (2), 12 4 header length (64),
 *	  16 16 tenant id, 32 16 timeline id, 48 8 lsn_start,
 *	  56 4 synced_upto (version 2: a sync covered this many bytes; 0 in
 *	  version 1),
 *	  60 4 CRC-32C of bytes 0..59
 *	records:
 *	  0 4 record length (all fields; bit 31: "more", another record of
 *	  the same change follows), 4 18 key (key.h, big-endian),
 *	  22 8 LSN, 30 n value (value.h: kind, will_init, payload),
 *	  30+n 4 CRC-32C of bytes 0..29+n
 *	A change (one request: a DROP DATABASE's forks, an EXTEND and its
 *	holes) is its records in a row at one LSN (I7), all but the last with
 *	"more"; it is readable, and replayed, only whole.  Version 1 logs (no
 *	"more" bit) are still read: each of their records is a change.
 * The first log of a timeline is created under "<name>.tmp", its header
 * written and fdatasynced, then renamed to its name (never over an
 * existing one) and the directory fsynced.  Later ones come from a spare
 * the timeline's background thread prepares the same way, with a
 * placeholder header (lsn_start LSN_MAX); a freeze, on the loop, writes
 * the real header over it and renames it into place without waiting for
 * the disk, and the log's first sync (inmem_sync) makes both durable.  So
 * a log under its own name always has a header with a valid CRC on disk,
 * and one still holding the placeholder was never synced.  Replay
 * (inmem_open_log) indexes records in order and cuts the file at the
 * first short, oversized or CRC-failing record (a torn tail, logged with
 * file and offset), and back to the start of a change the tail leaves
 * incomplete.  Every sync records in the header how far it reached (in
 * the kernel; durable with the next sync, so the disk never claims more
 * than is durable): a damaged record with good ones after it is
 * corruption below that mark, and past it the unsynced tail a host crash
 * may write back in any order, which is cut.  A bad header refuses to open, except that the newest log
 * shorter than a header and all zeros (left by versions that created the
 * file before writing its header) is removed, and so is a log with the
 * placeholder header: neither can hold a synced record.
 *
 * Reads come from a read-only shared mapping of the file (no syscall, no
 * copy through a buffer), falling back to pread when it cannot be mapped.
 * Only readable records are touched, and those were written to the kernel
 * and are never truncated (inmem_cut drops pending ones only), so the
 * mapping never faults past the end of the file.  An open layer reserves
 * INMEM_MAP_MAX of address space at once, so the mapping never moves: a
 * reader may keep a reference to it (inmem_map) and send a page straight
 * from it after the layer itself is gone; the file's pages then stay until
 * the last reference is dropped.  A record's CRC is
 * checked the first time it is read in this process (replay checks every
 * record): the log is this process's own recent output, and checking an
 * 8 KiB page on every read was a tenth of the page service's CPU.
 *
 * Lifecycle: OPEN (appends through a bufwriter, loop thread only) ->
 * FROZEN (immutable; readable from any thread; flushed to an L0 delta by
 * the timeline's background thread) -> dropped once a durable layer file
 * and manifest cover it.  Appended versions become readable only when
 * inmem_publish() says they reached the kernel (I2); until then they are
 * pending: inmem_last() (for LSN assignment and validation) sees them,
 * readers do not, and inmem_cut() can drop them after a failed write.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_INMEM_LOG_H
#define STRATA_INMEM_LOG_H

#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bufwriter.h"
#include "key.h"
#include "lsn.h"

#define INMEM_HDR_SIZE		64
#define INMEM_REC_HDR		30
#define INMEM_REC_OVERHEAD	(INMEM_REC_HDR + 4)
#define INMEM_MAP_MAX		((uint64_t) 1 << 30)	/* records beyond: pread */

enum inmem_state
{
	INMEM_OPEN,
	INMEM_FROZEN,
};

struct inmem_version
{
	lsn_t		lsn;
	uint64_t	off;			/* of the record in the file */
	uint16_t	vlen;			/* value length (<= VAL_MAX) */
	_Atomic uint8_t checked;	/* the record's CRC was verified */
	uint32_t	size;			/* size entries: decoded nblocks (or UINT32_MAX = dropped) */
};

struct inmem_key
{
	uint8_t		key[KEY_SIZE];
	struct inmem_key *hnext;
	uint32_t	n;
	uint32_t	cap;
	struct inmem_version *v;	/* ascending LSN */
};

/* A mapping of a log, shared by its layer and the pages sent from it. */
struct inmem_map
{
	_Atomic int refs;
	const uint8_t *base;
	size_t		len;
};

struct inmem_pend
{
	struct inmem_key *k;
	uint32_t	idx;			/* of the version in k->v */
	uint8_t		last;			/* the last record of its change */
};

struct inmem
{
	char		path[PATH_MAX];
	int			fd;
	enum inmem_state state;
	lsn_t		lsn_start;
	lsn_t		lsn_end;		/* FROZEN: exclusive end; OPEN: LSN_MAX */
	lsn_t		max_lsn;		/* newest version, pending included (0: none) */
	struct bufwriter *bw;		/* OPEN only */
	size_t		bufsize;
	bw_notify_fn notify;
	void	   *notify_arg;
	uint64_t	end;			/* bytes appended (header included) */
	uint64_t	visible;		/* bytes in the kernel: wholly covered versions are readable */

	struct inmem_key **buckets;
	uint32_t	nbuckets;
	uint32_t	nkeys;
	uint64_t	nversions;

	/* pending versions in append order: [npub, npend) are not yet readable */
	struct inmem_pend *pend;
	uint32_t	npend;
	uint32_t	npub;
	uint32_t	pend_cap;
	lsn_t		visible_max_lsn;	/* newest readable version */

	struct inmem_map *map;		/* read-only mapping, or NULL */

	/*
	 * References: the timeline's open-layer pointer or the snapshots
	 * holding a frozen layer, and tl_sync() while it syncs the log.  The
	 * file stays open until the last one goes (inmem_unref).
	 */
	_Atomic int refs;
	_Atomic int drop_file;		/* flushed: remove the log with the last ref */
	_Atomic int name_durable;	/* 0: renamed into place, directory not yet fsynced */
	_Atomic uint32_t synced_mark;	/* synced_upto in the header (in the kernel) */
};

/*
 * Create a new log (header fsynced under a temporary name, renamed, the
 * directory fsynced) and open it for appends.  STRATA_EEXIST if a log with
 * that start exists; ENOSPC, EIO.
 */
extern int	inmem_create(const char *dir, const uint8_t tenant[16], const uint8_t timeline[16],
						 lsn_t lsn_start, size_t bufsize, bw_notify_fn notify, void *arg,
						 struct inmem **out);

/*
 * A spare log for the next freeze (any thread but the loop: it waits for
 * the disk): "<dir>/spare-N.tmp" (a name of its own) with a durable placeholder header,
 * mapped, no writer.  ENOSPC, EIO.
 */
extern int	inmem_create_spare(const char *dir, const uint8_t tenant[16],
							   const uint8_t timeline[16], struct inmem **out);

/*
 * Freeze m at lsn_end into a spare (loop thread, never waits for the
 * disk): the spare gets its real header and its name (log-<lsn_end>) in
 * the kernel, m's idle writer moves over to it, and *out is the new OPEN
 * layer; its first inmem_sync() makes header and name durable.  The spare
 * is consumed either way.  STRATA_EBUSY: m's writer is not idle or failed
 * (nothing changed); EEXIST, ENOSPC, EIO (nothing changed).
 */
extern int	inmem_freeze_into(struct inmem *m, lsn_t lsn_end, struct inmem *spare,
							  const uint8_t tenant[16], const uint8_t timeline[16],
							  struct inmem **out);

/*
 * Replay an existing log.  Versions below skip_below (already in layer
 * files) are not indexed.  The result is FROZEN unless open_for_append, in
 * which case appends continue after the last good record.
 * STRATA_ENOTFOUND: the log held nothing and has been removed: shorter
 * than its header and all zeros, an interrupted creation (newest log
 * only), or a spare's placeholder header (a host crash before its first
 * sync).
 */
extern int	inmem_open_log(const char *path, const uint8_t tenant[16], const uint8_t timeline[16],
						   lsn_t skip_below, int open_for_append, size_t bufsize,
						   bw_notify_fn notify, void *arg, struct inmem **out);

/*
 * Close and free; remove the log file too if unlink_file.  Only for a
 * layer nobody else references (error paths, replay); else inmem_unref.
 */
extern void inmem_free(struct inmem *m, int unlink_file);
/* References (any thread): a new layer starts with one, its creator's. */
extern void inmem_ref(struct inmem *m);
/* Drop one; the last frees, removing the log if drop_file was set. */
extern void inmem_unref(struct inmem *m);

/*
 * Append one version (loop thread, OPEN only).  more: further records of
 * the same change (same LSN) follow; the change becomes readable, and
 * survives replay, only as a whole.  STRATA_EBUSY: the writer has no
 * buffer space now; retry after its notify.  *end_off is the end of the
 * record in the file (the ack waits until it is visible).
 */
extern int	inmem_append(struct inmem *m, const uint8_t key[KEY_SIZE], lsn_t lsn,
						 const uint8_t *val, uint32_t vlen, int more, uint64_t *end_off);

/*
 * Take back the records appended from off on (a change that could not be
 * appended whole; loop thread): nothing of them handed to the writer yet.
 * max_lsn: the layer's max_lsn before them.  STRATA_EINVAL if they were.
 */
extern int	inmem_unappend(struct inmem *m, uint64_t off, lsn_t max_lsn);

/*
 * Make the changes wholly below upto readable (upto <= written): visible
 * ends at the last whole change.  Calls cb for each newly readable version
 * (the timeline applies size entries); clears the pending list once all
 * are readable.
 */
typedef void (*inmem_publish_fn) (const struct inmem_key *k, const struct inmem_version *v,
								  void *arg);
extern void inmem_publish(struct inmem *m, uint64_t upto, inmem_publish_fn cb, void *arg);

/*
 * Drop pending versions not wholly below off (written bytes), discard the
 * writer (cancelled), truncate the file at the start of the first dropped
 * record (off if none straddles it) and start a new writer there.
 */
extern int	inmem_cut(struct inmem *m, uint64_t off);

/* OPEN -> FROZEN: waits for the writer (the caller made sure it is idle). */
extern int	inmem_freeze(struct inmem *m, lsn_t lsn_end);

/* fdatasync the log, and fsync its directory the first time after a freeze put it in place; any thread. */
extern int	inmem_sync(struct inmem *m);

/* The key's entry or NULL; the newest version at or below lsn (readable only, or pending too). */
extern struct inmem_key *inmem_find(const struct inmem *m, const uint8_t key[KEY_SIZE]);
extern const struct inmem_version *inmem_at(const struct inmem *m, const struct inmem_key *k,
											lsn_t lsn, int include_pending);

/*
 * A readable version's value: *val points into the mapping, or into buf
 * (VAL_MAX bytes) when the record is not mapped.  Returns its length or
 * < 0.  A mapped value stays valid until inmem_free, or for as long as
 * the reference put in *ref (if ref is not NULL; NULL when *val is buf)
 * is held: drop it with inmem_map_unref (any thread).
 */
extern int	inmem_value(struct inmem *m, const struct inmem_version *v, uint8_t *buf,
						const uint8_t **val, struct inmem_map **ref);
extern void inmem_map_unref(struct inmem_map *map);

/* The same, copied into buf. */
extern int	inmem_read_value(struct inmem *m, const struct inmem_version *v, uint8_t *buf);

/* All keys sorted (malloc'd array of pointers; caller frees), for flushes and scans. */
extern int	inmem_sorted_keys(const struct inmem *m, struct inmem_key ***out, uint32_t *n);

#endif							/* STRATA_INMEM_LOG_H */
