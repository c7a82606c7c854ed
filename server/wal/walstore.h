/*-------------------------------------------------------------------------
 *
 * walstore.h
 *	  A timeline's copy of its compute's WAL (ARCHITECTURE.md 5.7): the
 *	  bytes PostgreSQL's walsender streamed, kept per WAL segment, CRC'd,
 *	  and served back byte for byte (stratactl wal-fetch, restore_command).
 *
 * One directory per store, one file per WAL segment, named like the
 * segment in pg_wal plus ".swal" (TTTTTTTTXXXXXXXXYYYYYYYY.swal).  Layout
 * (integers little-endian, I13):
 *
 *	header, 64 bytes:
 *	  0  magic "STRATAWL"           8
 *	  8  format version (1)         u32
 *	 12  header length (64)         u32
 *	 16  PostgreSQL timeline (TLI)  u32
 *	 20  WAL segment size           u32
 *	 24  segment number             u64
 *	 32  system identifier          u64
 *	 40  reserved, zero             20 bytes
 *	 60  CRC-32C of bytes 0..59     u32
 *	records, back to back:
 *	  0  payload length n (1..seg)  u32
 *	  4  LSN of the first byte      u64
 *	 12  payload                    n bytes
 *	 12+n CRC-32C of bytes 0..12+n  u32
 *
 * Records of a file are contiguous in LSN and never cross its segment;
 * the files of a store are contiguous too (segment N+1 starts where N
 * ends), so the store holds one range [start_lsn, end_lsn) of WAL.  Only
 * the first file may start after its segment's beginning (when streaming
 * began there); a store started by walrecv always begins at a segment
 * boundary, so every segment but the newest is whole.
 *
 * Crash safety.  Appends reach the kernel (walstore_append) and then the
 * disk (walstore_sync: fdatasync of every file written since the last
 * sync, and of the directory when a file was created).  Only a synced
 * position is reported to the walsender, so the compute's slot never
 * lets it recycle WAL that is not durable here.  walstore_open() cuts the
 * newest file at its first incomplete or failing record (a torn tail
 * after a crash); a failing record anywhere else, a bad header, a gap
 * between files or a file of another system is STRATA_ECORRUPT, never
 * dropped silently (I21).
 *
 * Threads.  One writer (the WAL receiver) calls append and sync; any
 * thread may read (walstore_read_segment, walstore_info) at the same time.
 * walstore_remove_before() is the writer's too.
 * ws->lock protects the range and the file list; reads copy only what was
 * synced when they started.  Removing old segments (walstore_remove_before)
 * is safe while readers run: an open file outlives its unlink.
 *
 * Test builds: STRATA_FAIL_WAL_WRITE_ONCE_FILE (fio.h's fio_fault_once):
 * the next write fails with ENOSPC.
 *
 * Limit: one PostgreSQL timeline (TLI) per store.  A compute that changes
 * TLI (promotion after recovery) starts a new strata timeline, whose store
 * begins at the switch point (issue 16).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_WALSTORE_H
#define STRATA_WALSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "lsn.h"

#define WALSTORE_HEADER_SIZE	64
#define WALSTORE_RECORD_OVERHEAD 16
#define WALSTORE_VERSION		1
#define WALSTORE_SUFFIX			".swal"
/* PostgreSQL's segment file name: 24 hex digits */
#define WALSTORE_SEGNAME_LEN	24

struct walstore;

struct walstore_info
{
	uint64_t	system_id;		/* 0 while empty and unbound */
	uint32_t	tli;
	uint32_t	seg_size;
	lsn_t		start_lsn;		/* oldest byte held; 0 when empty */
	lsn_t		end_lsn;		/* end of what reached the kernel */
	lsn_t		flush_lsn;		/* end of what is durable */
	uint64_t	segments;		/* files */
	uint64_t	bytes;			/* on disk, headers and frames included */
};

/*
 * Open (creating the directory if missing) the store in dir.  An empty
 * store takes system_id, tli and seg_size from its first append.  A
 * non-empty one must match a non-zero system_id given here
 * (STRATA_EINVAL otherwise, with a log line naming both).  Torn tails are
 * cut (logged at WARNING); see the contract above for what is
 * STRATA_ECORRUPT.  The caller frees with walstore_close().
 */
extern int	walstore_open(const char *dir, uint64_t system_id, struct walstore **out);
extern void walstore_close(struct walstore *ws);

/*
 * Append len bytes of WAL starting at lsn, which must be the store's
 * end_lsn (or, for an empty store, any LSN: it becomes start_lsn).  The
 * bytes may cross segment boundaries: a new file is started for each
 * segment.  tli, seg_size and system_id must match the store's (an empty
 * store adopts them; seg_size must be a power of two from 1 MiB to 1 GiB).
 * Errors: STRATA_EINVAL (a gap, an overlap, a mismatch), STRATA_ENOSPC,
 * STRATA_EIO.  After an I/O error the store refuses further appends
 * (STRATA_EIO) until reopened, as after a failed fsync nothing written
 * since the last sync can be trusted.
 */
extern int	walstore_append(struct walstore *ws, uint64_t system_id, uint32_t tli,
							uint32_t seg_size, lsn_t lsn, const void *data, size_t len);

/* Whether a write or sync failed: the store must be reopened (writer). */
extern int	walstore_failed(struct walstore *ws);

/* Make everything appended durable; on success flush_lsn = end_lsn. */
extern int	walstore_sync(struct walstore *ws);

extern void walstore_info(struct walstore *ws, struct walstore_info *out);

/*
 * Copy the segment named segname (24 hex digits, as in pg_wal) into buf
 * (info.seg_size bytes).  Whole segments only, unless allow_partial: then
 * the newest, incomplete segment is returned up to flush_lsn and zero
 * after it (as PostgreSQL reads a segment still being written).  Sets
 * *complete.  STRATA_ENOTFOUND for a segment not held (or not whole and
 * !allow_partial, or past flush_lsn), STRATA_EINVAL for a bad name,
 * STRATA_ECORRUPT when a record fails its CRC (the error names file and
 * offset).
 */
extern int	walstore_read_segment(struct walstore *ws, const char *segname, int allow_partial,
								  void *buf, int *complete);

/* Remove whole segments that end at or before lsn (retention; the writer's thread). */
extern int	walstore_remove_before(struct walstore *ws, lsn_t lsn);

/* PostgreSQL's name of the segment holding lsn. */
extern void walstore_segname(uint32_t tli, uint64_t segno, uint32_t seg_size, char out[WALSTORE_SEGNAME_LEN + 1]);
/* Parse a segment name; 0 or STRATA_EINVAL. */
extern int	walstore_parse_segname(const char *name, uint32_t seg_size, uint32_t *tli, uint64_t *segno);

#endif							/* STRATA_WALSTORE_H */
