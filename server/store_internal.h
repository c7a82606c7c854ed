/*-------------------------------------------------------------------------
 *
 * store_internal.h
 *	  The page log's structures, shared by the log (store.c) and its
 *	  in-memory version index (store_index.c).  See store.h for the format
 *	  and the contract; single-threaded except where store.h says.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_STORE_INTERNAL_H
#define STRATA_STORE_INTERNAL_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "key.h"
#include "lsn.h"
#include "proto.h"

#define LOG_MAGIC "STRATALG"
#define LOG_VERSION 1
#define LOG_HDR_SIZE 32
#define REC_HDR_SIZE 32
#define REC_MIN_SIZE (REC_HDR_SIZE + 4)
#define REC_MAX_SIZE (REC_HDR_SIZE + PROTO_PAGE_SIZE + 4)

#define KIND_IMAGE 1
#define KIND_STRATA 3

enum strata_op
{
	OP_CREATE = 1,
	OP_TRUNCATE = 2,
	OP_UNLINK = 3,
	OP_DROPDB = 4,
	OP_RESET_UNLOGGED = 5,
};

#define OFF_ZERO UINT64_MAX
#define SIZE_NONE UINT64_MAX

struct version
{
	lsn_t		lsn;
	uint64_t	val;			/* page offset / OFF_ZERO, or nblocks / SIZE_NONE */
};

struct vlist
{
	uint32_t	n;
	uint32_t	cap;
	struct version *v;
};

struct fork
{
	struct proto_rel rel;
	struct fork *hnext;
	struct vlist size;
	uint32_t	nblk;			/* entries allocated in blocks */
	struct vlist *blocks;
};

/* One change in the pending batch. */
struct pending
{
	struct strata_key key;
	lsn_t		lsn;
	uint8_t		kind;
	uint8_t		op;
	uint32_t	arg;
	uint64_t	page_off;		/* offset of the page inside the batch */
};

struct store
{
	char		path[PATH_MAX];
	int			fd;
	uint64_t	end;			/* bytes in the kernel */
	_Atomic uint64_t written;	/* = end, for the sync thread */
	_Atomic int failed;			/* a write or fsync failed: refuse writes */

	struct fork **buckets;
	uint32_t	nbuckets;
	uint64_t	nentries;		/* forks in the hash, dropped ones too */
	uint64_t	nforks;			/* forks that exist */
	uint64_t	npages;
	lsn_t		last_record_lsn;
	uint32_t	last_reset_count;

	uint8_t    *batch;
	size_t		batch_len;
	size_t		batch_cap;
	struct pending *pend;
	uint32_t	npend;
	uint32_t	pend_cap;
};

/* store_index.c: version lists, the fork hash, applying records */
extern int	vlist_push(struct vlist *l, lsn_t lsn, uint64_t val);
/* the newest version at or below lsn, or NULL */
extern const struct version *vlist_at(const struct vlist *l, lsn_t lsn);
extern lsn_t vlist_last_lsn(const struct vlist *l);
extern struct fork *fork_find(const struct store *s, const struct proto_rel *rel);
/* find or create (as not existing); NULL if out of memory */
extern struct fork *fork_get(struct store *s, const struct proto_rel *rel);
/* nblocks at lsn, or SIZE_NONE */
extern uint64_t fork_size_at(const struct fork *f, lsn_t lsn);
extern int	fork_exists(const struct fork *f);
/* the version list of a block, growing the array; NULL if out of memory */
extern struct vlist *fork_block(struct fork *f, uint32_t blk);
/* apply one record already in the log; page_off is its page's offset */
extern int	apply(struct store *s, const struct strata_key *k, lsn_t lsn, uint8_t kind,
				  uint8_t op, uint32_t arg, uint64_t page_off);
extern void free_index(struct store *s);

#endif							/* STRATA_STORE_INTERNAL_H */
