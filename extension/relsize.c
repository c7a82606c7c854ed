/*-------------------------------------------------------------------------
 *
 * relsize.c
 *	  Shared cache of relation fork sizes (ARCHITECTURE.md 2.3).
 *
 * (rel, fork) -> nblocks or RELSIZE_NOT_EXISTS.  Local changes (create,
 * extend, truncate, unlink) set entries after stratad acknowledged them;
 * an NBLOCKS answer fills an entry only if no local change happened since
 * the question was sent (I10), which a global change counter tells.  When
 * the table is full an arbitrary entry is dropped: stratad stays the
 * source of truth, the cache only saves round trips.  One LWLock guards
 * the hash.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/shmem.h"
#include "utils/hsearch.h"

#include "relsize.h"
#include "stats.h"
#include "strata.h"

typedef struct relsize_key
{
	RelFileNode rnode;
	ForkNumber	fork;
} relsize_key;

typedef struct relsize_entry
{
	relsize_key key;
	BlockNumber nblocks;
} relsize_entry;

static HTAB *relsize_hash;
static pg_atomic_uint64 *relsize_changes;

#define RELSIZE_LOCK (&strata_shared->locks[STRATA_LOCK_RELSIZE].lock)

Size
relsize_shmem_size(void)
{
	return add_size(hash_estimate_size(strata_relsize_cache_size, sizeof(relsize_entry)),
					sizeof(pg_atomic_uint64));
}

void
relsize_shmem_init(void)
{
	HASHCTL		ctl;
	bool		found;

	ctl.keysize = sizeof(relsize_key);
	ctl.entrysize = sizeof(relsize_entry);
	relsize_hash = ShmemInitHash("strata relsize cache",
								 strata_relsize_cache_size, strata_relsize_cache_size,
								 &ctl, HASH_ELEM | HASH_BLOBS);
	relsize_changes = ShmemInitStruct("strata relsize changes",
									  sizeof(pg_atomic_uint64), &found);
	if (!found)
		pg_atomic_init_u64(relsize_changes, 0);
}

static relsize_key
make_key(RelFileNode rnode, ForkNumber fork)
{
	relsize_key k;

	memset(&k, 0, sizeof(k));
	k.rnode = rnode;
	k.fork = fork;
	return k;
}

bool
relsize_get(RelFileNode rnode, ForkNumber fork, BlockNumber *nblocks)
{
	relsize_key k = make_key(rnode, fork);
	relsize_entry *e;
	bool		found = false;

	LWLockAcquire(RELSIZE_LOCK, LW_SHARED);
	e = hash_search(relsize_hash, &k, HASH_FIND, NULL);
	if (e != NULL)
	{
		*nblocks = e->nblocks;
		found = true;
	}
	LWLockRelease(RELSIZE_LOCK);
	return found;
}

/* Caller holds the lock exclusively. */
static void
put_locked(relsize_key *k, BlockNumber nblocks)
{
	relsize_entry *e;
	bool		found;

	e = hash_search(relsize_hash, k, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		HASH_SEQ_STATUS seq;
		relsize_entry *victim;

		hash_seq_init(&seq, relsize_hash);
		victim = hash_seq_search(&seq);
		if (victim != NULL)
		{
			relsize_key vk = victim->key;

			hash_seq_term(&seq);
			(void) hash_search(relsize_hash, &vk, HASH_REMOVE, NULL);
		}
		e = hash_search(relsize_hash, k, HASH_ENTER_NULL, &found);
		if (e == NULL)
			return;
	}
	e->nblocks = nblocks;
}

void
relsize_set(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks)
{
	relsize_key k = make_key(rnode, fork);

	LWLockAcquire(RELSIZE_LOCK, LW_EXCLUSIVE);
	pg_atomic_fetch_add_u64(relsize_changes, 1);
	put_locked(&k, nblocks);
	LWLockRelease(RELSIZE_LOCK);
}

void
relsize_extend(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks)
{
	relsize_key k = make_key(rnode, fork);
	relsize_entry *e;

	LWLockAcquire(RELSIZE_LOCK, LW_EXCLUSIVE);
	pg_atomic_fetch_add_u64(relsize_changes, 1);
	e = hash_search(relsize_hash, &k, HASH_FIND, NULL);
	if (e != NULL && (e->nblocks == RELSIZE_NOT_EXISTS || e->nblocks < nblocks))
		e->nblocks = nblocks;
	LWLockRelease(RELSIZE_LOCK);
}

uint64
relsize_change_count(void)
{
	return pg_atomic_read_u64(relsize_changes);
}

void
relsize_set_if_unchanged(RelFileNode rnode, ForkNumber fork,
						 BlockNumber nblocks, uint64 change_count)
{
	relsize_key k = make_key(rnode, fork);

	LWLockAcquire(RELSIZE_LOCK, LW_EXCLUSIVE);
	if (pg_atomic_read_u64(relsize_changes) == change_count)
		put_locked(&k, nblocks);
	LWLockRelease(RELSIZE_LOCK);
}

void
relsize_forget_rel(RelFileNode rnode)
{
	LWLockAcquire(RELSIZE_LOCK, LW_EXCLUSIVE);
	pg_atomic_fetch_add_u64(relsize_changes, 1);
	for (ForkNumber f = 0; f <= MAX_FORKNUM; f++)
	{
		relsize_key k = make_key(rnode, f);

		(void) hash_search(relsize_hash, &k, HASH_REMOVE, NULL);
	}
	LWLockRelease(RELSIZE_LOCK);
}

/* Remove entries of database dbid, or all when dbid is InvalidOid. */
static void
forget_where(Oid dbid)
{
	HASH_SEQ_STATUS seq;
	relsize_entry *e;

	LWLockAcquire(RELSIZE_LOCK, LW_EXCLUSIVE);
	pg_atomic_fetch_add_u64(relsize_changes, 1);
	hash_seq_init(&seq, relsize_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		/* dynahash allows removing the entry just returned */
		if (dbid == InvalidOid || e->key.rnode.dbNode == dbid)
			(void) hash_search(relsize_hash, &e->key, HASH_REMOVE, NULL);
	}
	LWLockRelease(RELSIZE_LOCK);
}

void
relsize_forget_db(Oid dbid)
{
	forget_where(dbid);
}

void
relsize_forget_all(void)
{
	forget_where(InvalidOid);
}
