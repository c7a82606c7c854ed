/*-------------------------------------------------------------------------
 *
 * reldir.h
 *	  The relation directory: the size of every relation fork a timeline
 *	  knows, kept in memory so that a size question at the newest LSN and
 *	  every write's validation need no read of the history.
 *
 * A timeline holds one (tl->reldir) with the acknowledged sizes: the
 * write path sets an entry when a size record becomes readable
 * (tl_write.c), and loading builds it from the whole history with
 * reldir_build() (timeline.c).  reldir_build() on a fresh directory also
 * answers "which forks exist at this older LSN" (tl_live_forks()).
 *
 * Sizes live in the key space as the value of a fork's size key (block
 * number KEY_BLK_SIZE, see key.h); reldir_key() and reldir_key_to_rel()
 * map between a fork and its keys.
 *
 * Ownership and threads: a directory belongs to its creator, who frees it
 * with reldir_free(); there is no lock.  tl->reldir is read and changed on
 * the loop thread only.  The fields of struct reldir may be read to walk
 * the entries (every bucket, each chain through next); only the functions
 * below change them.
 *
 * Failure: reldir_set() and reldir_put() return STRATA_ENOMEM and leave
 * the directory as it was; reldir_build() also passes on the errors of
 * the layer reads and STRATA_ECORRUPT for a size entry of another kind.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_RELDIR_H
#define STRATA_RELDIR_H

#include <stdint.h>

#include "key.h"
#include "lsn.h"
#include "proto.h"

struct timeline;

struct reldir_ent
{
	struct proto_rel rel;
	uint32_t	nblocks;
	/* while building from history: the entry's LSN, and whether it is a drop */
	lsn_t		lsn;
	int			dropped;
	struct reldir_ent *next;
};

struct reldir
{
	uint32_t	nbuckets;		/* a power of two */
	uint32_t	n;				/* entries */
	struct reldir_ent **b;
};

/* NULL when out of memory. */
extern struct reldir *reldir_new(void);
extern void reldir_free(struct reldir *d);
/* The entry of a fork, or NULL; borrowed until the directory changes. */
extern struct reldir_ent *reldir_find(struct reldir *d, const struct proto_rel *r);
/* Set (nblocks) or remove (VAL_NOT_EXISTS) a fork. */
extern int	reldir_set(struct reldir *d, const struct proto_rel *r, uint64_t nblocks);
/*
 * Building from history: keep the newest entry by LSN, drops included
 * (VAL_NOT_EXISTS); reldir_purge_dropped() then removes the drops.
 */
extern int	reldir_put(struct reldir *d, const struct proto_rel *r, lsn_t lsn, uint64_t nblocks);
extern void reldir_purge_dropped(struct reldir *d);

/* The fork (and block, if blk is not NULL) of a key. */
extern void reldir_key_to_rel(const uint8_t key[KEY_SIZE], struct proto_rel *r, uint32_t *blk);
/* The key of a fork's block, or of its size with blk KEY_BLK_SIZE. */
extern void reldir_key(const struct proto_rel *r, uint32_t blk, uint8_t out[KEY_SIZE]);
extern int	reldir_is_size_key(const uint8_t key[KEY_SIZE]);

/*
 * Fill dir (empty) with every fork's size at upto in src and its
 * ancestors, src's open layer included if include_open.  Takes snapshots
 * of src; any thread that holds a ref on src, but include_open only on
 * src's loop thread.
 */
extern int	reldir_build(struct reldir *dir, struct timeline *src, lsn_t upto, int include_open);

#endif							/* STRATA_RELDIR_H */
