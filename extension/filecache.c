/*-------------------------------------------------------------------------
 *
 * filecache.c
 *	  The compute's local file cache (see filecache.h).
 *
 * Slot state, all under the slot's spinlock:
 *
 *	FREE	--alloc_pin()-->	USED (in the hash, pinned by the allocator)
 *	USED	--drop_slot()-->	FREE if unpinned, else DOOMED
 *	DOOMED	--unpin() of the last pin-->	FREE
 *
 * USED means in_use: the slot is in the hash under its key, and the key
 * and in_use change only with the key's partition lock held exclusively.
 * A DOOMED slot is out of the hash but still pinned; its valid bits are
 * clear and its generations were bumped, so whatever its pinners do with
 * it is never seen.  The clock sweep takes only unpinned slots.
 *
 * Per block: valid (the image at this block's offset in the file is the
 * newest one, with crc[b] its CRC-32C), busy (one process is storing into
 * it; only that process sets valid again), gen (bumped by every change:
 * a store beginning, a write racing a store, an invalidation).  A reader
 * notes gen before its pread and trusts the bytes only if gen is the same
 * afterwards; a store sets valid only if gen is still the one it began
 * with.
 *
 * The soft limit: the postmaster's assign hook publishes the wanted number
 * of slots (desired_slots); the first process to notice applies it
 * (apply_limit()) under FC_LOCK_RESIZE.  The clock sweep uses only slots
 * below limit_slots; shrinking drops the slots above and punches their
 * space out of the file, growing lets the sweep reach them again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "port/pg_crc32c.h"
#include "storage/bufpage.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"

#include "filecache.h"
#include "lwlsn.h"
#include "stats.h"

#define FC_LOCK_RESIZE	FC_PARTITIONS
#define FC_NLOCKS		(FC_PARTITIONS + 1)
#define FC_USAGE_MAX	5
#define FC_ALL_BLOCKS	((uint32) 0xFFFFFFFF)
#define FC_MAX_MB		(16 * 1024 * 1024)	/* 16 TB */
#define SLOTS_PER_MB	((1024 * 1024) / FC_CHUNK_SIZE)

StaticAssertDecl(FC_CHUNK_BLOCKS == 32, "a chunk's block bitmaps are uint32");

/* Hash key: no padding, so HASH_BLOBS hashes and compares it bytewise. */
typedef struct fc_key
{
	Oid			spc;
	Oid			db;
	Oid			rel;
	int32		fork;
	uint32		chunk;
} fc_key;

typedef struct fc_entry
{
	fc_key		key;			/* must be first */
	int			slot;
} fc_entry;

typedef struct fc_slot
{
	slock_t		mutex;			/* guards every field below */
	bool		in_use;			/* in the hash under key */
	uint8		usage;			/* clock sweep */
	uint32		pins;
	fc_key		key;
	uint32		valid;
	uint32		busy;
	uint32		gen[FC_CHUNK_BLOCKS];
	pg_crc32c	crc[FC_CHUNK_BLOCKS];
} fc_slot;

typedef struct fc_shared
{
	int			nslots;			/* strata.file_cache_size, fixed */
	pg_atomic_uint32 limit_slots;	/* applied soft limit */
	pg_atomic_uint32 desired_slots; /* published by the postmaster */
	pg_atomic_uint64 ticket;	/* bumped by every invalidation */
	pg_atomic_uint64 clock;
	pg_atomic_uint64 used_blocks;	/* valid blocks */
	LWLockPadded *locks;		/* FC_PARTITIONS partitions, then resize */
	fc_slot		slots[FLEXIBLE_ARRAY_MEMBER];
} fc_shared;

int			strata_file_cache_size_mb = 1024;
int			strata_file_cache_size_limit_mb = 1024;
char	   *strata_file_cache_path = "";

static fc_shared *fc;
static HTAB *fc_hash;
/* opened and locked by the postmaster, inherited by every child */
static int	fc_fd = -1;
static char fc_path[MAXPGPATH];

static int
mb_to_slots(int mb)
{
	return (int) Min((int64) mb * SLOTS_PER_MB, (int64) INT_MAX);
}

static int
configured_slots(void)
{
	return mb_to_slots(strata_file_cache_size_mb);
}

static void
assign_limit(int newval, void *extra)
{
	/* only the postmaster's reload counts: every child reloads later */
	if (fc != NULL && !IsUnderPostmaster)
		pg_atomic_write_u32(&fc->desired_slots,
							(uint32) Min(mb_to_slots(newval), fc->nslots));
}

void
fc_define_gucs(void)
{
	DefineCustomIntVariable("strata.file_cache_size",
							"Largest size of the local file cache (0 disables it).",
							"Shared memory for its index is sized for this at start.",
							&strata_file_cache_size_mb, 1024, 0, FC_MAX_MB,
							PGC_POSTMASTER, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("strata.file_cache_size_limit",
							"Size the local file cache may use now, up to strata.file_cache_size.",
							"Shrinking it evicts chunks and punches their space out of the file.",
							&strata_file_cache_size_limit_mb, 1024, 0, FC_MAX_MB,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, assign_limit, NULL);
	DefineCustomStringVariable("strata.file_cache_path",
							   "Local file cache file; empty means next to the data directory.",
							   "The default is <data directory>.strata_cache, outside what pg_basebackup copies.",
							   &strata_file_cache_path, "",
							   PGC_POSTMASTER, GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
}

static bool
fc_enabled(void)
{
	return fc != NULL;
}

/* ---------- shared memory and the file ---------- */

static long
hash_entries(int nslots)
{
	return (long) nslots + FC_PARTITIONS;
}

Size
fc_shmem_size(void)
{
	int			n = configured_slots();
	Size		sz;

	if (n == 0)
		return 0;
	sz = add_size(offsetof(fc_shared, slots), mul_size(n, sizeof(fc_slot)));
	return add_size(MAXALIGN(sz), hash_estimate_size(hash_entries(n), sizeof(fc_entry)));
}

void
fc_shmem_request(void)
{
	RequestNamedLWLockTranche("strata_file_cache", FC_NLOCKS);
}

/* The file's path: the setting, or <data directory>.strata_cache. */
static void
resolve_path(void)
{
	char	   *abs;
	size_t		dlen = strlen(DataDir);

	if (strata_file_cache_path[0] == '\0')
		snprintf(fc_path, sizeof(fc_path), "%s.strata_cache", DataDir);
	else
	{
		abs = make_absolute_path(strata_file_cache_path);
		strlcpy(fc_path, abs, sizeof(fc_path));
		free(abs);
	}
	canonicalize_path(fc_path);
	if (strncmp(fc_path, DataDir, dlen) == 0 && fc_path[dlen] == '/')
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("strata.file_cache_path \"%s\" is inside the data directory", fc_path),
				 errdetail("pg_basebackup would copy the cache file, which is only valid for the running server."),
				 errhint("Leave strata.file_cache_path empty to put the cache next to the data directory.")));
}

/*
 * Postmaster, at every start and crash-restart: open and lock the file
 * once, and empty it each time, because nothing in it is known to be
 * current after the index in shared memory was lost.
 */
static void
open_and_empty(void)
{
	if (fc_fd < 0)
	{
		resolve_path();
		fc_fd = open(fc_path, O_RDWR | O_CREAT | O_CLOEXEC, S_IRUSR | S_IWUSR);
		if (fc_fd < 0)
			ereport(FATAL,
					(errcode_for_file_access(),
					 errmsg("could not open file cache \"%s\": %m", fc_path)));
		if (flock(fc_fd, LOCK_EX | LOCK_NB) != 0)
		{
			int			save_errno = errno;

			close(fc_fd);
			fc_fd = -1;
			errno = save_errno;
			ereport(FATAL,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("could not lock file cache \"%s\": %m", fc_path),
					 errdetail("Another server is using this file cache."),
					 errhint("Give each server its own strata.file_cache_path.")));
		}
	}
	if (ftruncate(fc_fd, 0) != 0)
		ereport(FATAL,
				(errcode_for_file_access(),
				 errmsg("could not empty file cache \"%s\": %m", fc_path)));
	ereport(LOG,
			(errmsg("strata: file cache \"%s\" emptied, up to %d MB",
					fc_path, strata_file_cache_size_mb)));
}

void
fc_shmem_startup(void)
{
	int			n = configured_slots();
	bool		found;
	HASHCTL		info;

	if (n == 0)
		return;
	fc = ShmemInitStruct("strata file cache",
						 add_size(offsetof(fc_shared, slots), mul_size(n, sizeof(fc_slot))),
						 &found);
	if (!found)
	{
		memset(fc, 0, offsetof(fc_shared, slots));
		fc->nslots = n;
		pg_atomic_init_u32(&fc->limit_slots,
						   (uint32) Min(mb_to_slots(strata_file_cache_size_limit_mb), n));
		pg_atomic_init_u32(&fc->desired_slots, pg_atomic_read_u32(&fc->limit_slots));
		pg_atomic_init_u64(&fc->ticket, 1);
		pg_atomic_init_u64(&fc->clock, 0);
		pg_atomic_init_u64(&fc->used_blocks, 0);
		for (int i = 0; i < n; i++)
		{
			fc_slot    *s = &fc->slots[i];

			memset(s, 0, sizeof(*s));
			SpinLockInit(&s->mutex);
		}
	}
	fc->locks = GetNamedLWLockTranche("strata_file_cache");

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(fc_key);
	info.entrysize = sizeof(fc_entry);
	info.num_partitions = FC_PARTITIONS;
	fc_hash = ShmemInitHash("strata file cache index", hash_entries(n), hash_entries(n),
							&info, HASH_ELEM | HASH_BLOBS | HASH_PARTITION);
	if (!IsUnderPostmaster)
		open_and_empty();
}

/* ---------- slots ---------- */

static void
make_key(fc_key *k, RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	memset(k, 0, sizeof(*k));
	k->spc = rnode.spcNode;
	k->db = rnode.dbNode;
	k->rel = rnode.relNode;
	k->fork = (int32) fork;
	k->chunk = blk / FC_CHUNK_BLOCKS;
}

static inline bool
key_equal(const fc_key *a, const fc_key *b)
{
	return memcmp(a, b, sizeof(fc_key)) == 0;
}

static inline LWLock *
partition_lock(uint32 hash)
{
	return &fc->locks[hash % FC_PARTITIONS].lock;
}

static inline off_t
block_offset(int slot, int b)
{
	return (off_t) slot * FC_CHUNK_SIZE + (off_t) b * BLCKSZ;
}

/* Under s->mutex: clear valid bits and bump the generations of mask. */
static void
invalidate_blocks(fc_slot *s, uint32 mask)
{
	uint32		dropped = s->valid & mask;

	s->valid &= ~mask;
	if (dropped != 0)
		pg_atomic_fetch_sub_u64(&fc->used_blocks, pg_popcount32(dropped));
	for (int b = 0; b < FC_CHUNK_BLOCKS; b++)
		if (mask & ((uint32) 1 << b))
			s->gen[b]++;
}

static void
punch(int first_slot, int nslots)
{
	if (nslots <= 0)
		return;
	if (fallocate(fc_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t) first_slot * FC_CHUNK_SIZE, (off_t) nslots * FC_CHUNK_SIZE) != 0)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not punch a hole in file cache \"%s\": %m", fc_path)));
}

static void
unpin(int i)
{
	fc_slot    *s = &fc->slots[i];
	bool		freed;

	SpinLockAcquire(&s->mutex);
	Assert(s->pins > 0);
	s->pins--;
	freed = s->pins == 0 && !s->in_use;
	SpinLockRelease(&s->mutex);
	/* a slot doomed by a shrink gives its space back once unpinned */
	if (freed && (uint32) i >= pg_atomic_read_u32(&fc->limit_slots))
		punch(i, 1);
}

/* The slot holding key, pinned, or -1. */
static int
lookup_pin(const fc_key *key, uint32 hash)
{
	LWLock	   *lock = partition_lock(hash);
	fc_entry   *e;
	int			i = -1;

	LWLockAcquire(lock, LW_SHARED);
	e = hash_search_with_hash_value(fc_hash, key, hash, HASH_FIND, NULL);
	if (e != NULL)
	{
		fc_slot    *s = &fc->slots[e->slot];

		i = e->slot;
		SpinLockAcquire(&s->mutex);
		s->pins++;
		if (s->usage < FC_USAGE_MAX)
			s->usage++;
		SpinLockRelease(&s->mutex);
	}
	LWLockRelease(lock);
	return i;
}

/*
 * Clock sweep below the soft limit: an unpinned slot that is free or was
 * not used since the hand last passed, returned pinned with what it held.
 * -1 if every slot is pinned (or the limit is 0).
 */
static int
victim(bool *was_in_use, fc_key *old)
{
	uint32		limit = pg_atomic_read_u32(&fc->limit_slots);

	for (uint64 tries = 0; tries < (uint64) limit * (FC_USAGE_MAX + 1); tries++)
	{
		int			i = (int) (pg_atomic_fetch_add_u64(&fc->clock, 1) % limit);
		fc_slot    *s = &fc->slots[i];

		SpinLockAcquire(&s->mutex);
		if (s->pins == 0)
		{
			if (!s->in_use || s->usage == 0)
			{
				s->pins = 1;
				*was_in_use = s->in_use;
				*old = s->key;
				SpinLockRelease(&s->mutex);
				return i;
			}
			s->usage--;
		}
		SpinLockRelease(&s->mutex);
	}
	return -1;
}

static void
lock_pair(LWLock *a, LWLock *b)
{
	if (a == b)
		LWLockAcquire(a, LW_EXCLUSIVE);
	else if (a < b)
	{
		LWLockAcquire(a, LW_EXCLUSIVE);
		LWLockAcquire(b, LW_EXCLUSIVE);
	}
	else
	{
		LWLockAcquire(b, LW_EXCLUSIVE);
		LWLockAcquire(a, LW_EXCLUSIVE);
	}
}

static void
unlock_pair(LWLock *a, LWLock *b)
{
	LWLockRelease(a);
	if (a != b)
		LWLockRelease(b);
}

/*
 * A slot for key, pinned: the existing one, or a victim given the key (an
 * eviction if it held another chunk).  -1 if no slot can be had.
 */
static int
alloc_pin(const fc_key *key, uint32 hash)
{
	for (int attempt = 0; attempt < 8; attempt++)
	{
		bool		was_in_use;
		fc_key		old;
		int			v = victim(&was_in_use, &old);
		uint32		old_hash;
		LWLock	   *new_lock = partition_lock(hash);
		LWLock	   *old_lock;
		fc_entry   *e;
		fc_slot    *s;
		bool		ok;
		bool		found;

		if (v < 0)
			return -1;
		s = &fc->slots[v];
		old_hash = was_in_use ? get_hash_value(fc_hash, &old) : hash;
		old_lock = partition_lock(old_hash);
		lock_pair(new_lock, old_lock);

		/* someone may have cached the chunk meanwhile */
		e = hash_search_with_hash_value(fc_hash, key, hash, HASH_FIND, NULL);
		if (e != NULL)
		{
			fc_slot    *theirs = &fc->slots[e->slot];
			int			i = e->slot;

			SpinLockAcquire(&theirs->mutex);
			theirs->pins++;
			SpinLockRelease(&theirs->mutex);
			unlock_pair(new_lock, old_lock);
			unpin(v);
			return i;
		}

		/* still ours alone, holding what we saw, and below the limit */
		SpinLockAcquire(&s->mutex);
		ok = s->pins == 1 && s->in_use == was_in_use &&
			(!was_in_use || key_equal(&s->key, &old)) &&
			(uint32) v < pg_atomic_read_u32(&fc->limit_slots);
		if (ok)
		{
			if (was_in_use)
				invalidate_blocks(s, FC_ALL_BLOCKS);
			s->in_use = true;
			s->key = *key;
			s->busy = 0;
			s->usage = 1;
		}
		SpinLockRelease(&s->mutex);
		if (!ok)
		{
			unlock_pair(new_lock, old_lock);
			unpin(v);
			continue;
		}
		if (was_in_use)
		{
			(void) hash_search_with_hash_value(fc_hash, &old, old_hash, HASH_REMOVE, NULL);
			strata_count(SC_FC_EVICTIONS, 1);
		}
		e = hash_search_with_hash_value(fc_hash, key, hash, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			/* cannot happen: the hash has room for every slot */
			SpinLockAcquire(&s->mutex);
			s->in_use = false;
			SpinLockRelease(&s->mutex);
			unlock_pair(new_lock, old_lock);
			unpin(v);
			return -1;
		}
		Assert(!found);
		e->slot = v;
		unlock_pair(new_lock, old_lock);
		return v;
	}
	return -1;
}

/*
 * Drop slot i's chunk if it still holds key: out of the hash, every block
 * invalid (DOOMED until its pinners leave).  Caller holds no lock.
 */
static void
drop_slot(int i, const fc_key *key, uint32 mask)
{
	fc_slot    *s = &fc->slots[i];
	uint32		hash = get_hash_value(fc_hash, key);
	LWLock	   *lock = partition_lock(hash);
	bool		remove = false;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	SpinLockAcquire(&s->mutex);
	if (s->in_use && key_equal(&s->key, key))
	{
		invalidate_blocks(s, mask);
		if (mask == FC_ALL_BLOCKS)
		{
			s->in_use = false;
			remove = true;
		}
	}
	SpinLockRelease(&s->mutex);
	if (remove)
		(void) hash_search_with_hash_value(fc_hash, key, hash, HASH_REMOVE, NULL);
	LWLockRelease(lock);
}

/* ---------- the soft limit ---------- */

static void
apply_limit(void)
{
	LWLock	   *lock = &fc->locks[FC_LOCK_RESIZE].lock;
	uint32		desired;
	uint32		applied;

	if (!LWLockConditionalAcquire(lock, LW_EXCLUSIVE))
		return;					/* someone else is applying it */
	desired = pg_atomic_read_u32(&fc->desired_slots);
	applied = pg_atomic_read_u32(&fc->limit_slots);
	if (desired != applied)
	{
		/* first the limit, so that no allocation goes above it */
		pg_atomic_write_u32(&fc->limit_slots, desired);
		pg_memory_barrier();
		for (int i = (int) desired; i < fc->nslots; i++)
		{
			fc_slot    *s = &fc->slots[i];
			fc_key		key;
			bool		in_use;

			SpinLockAcquire(&s->mutex);
			in_use = s->in_use;
			key = s->key;
			SpinLockRelease(&s->mutex);
			if (in_use)
			{
				drop_slot(i, &key, FC_ALL_BLOCKS);
				strata_count(SC_FC_EVICTIONS, 1);
			}
		}
		if (desired < applied)
			punch((int) desired, fc->nslots - (int) desired);
		ereport(LOG,
				(errmsg("strata: file cache limit changed from %u to %u chunks of %d kB",
						applied, desired, FC_CHUNK_SIZE / 1024)));
	}
	LWLockRelease(lock);
}

static inline void
check_limit(void)
{
	if (unlikely(pg_atomic_read_u32(&fc->desired_slots) !=
				 pg_atomic_read_u32(&fc->limit_slots)))
		apply_limit();
}

/* ---------- reads ---------- */

static pg_crc32c
page_crc(const char *page)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, page, BLCKSZ);
	FIN_CRC32C(crc);
	return crc;
}

/* Drop block b of slot i if it is still the image of generation gen. */
static void
drop_block_if(int i, int b, uint32 gen)
{
	fc_slot    *s = &fc->slots[i];

	SpinLockAcquire(&s->mutex);
	if (s->gen[b] == gen)
		invalidate_blocks(s, (uint32) 1 << b);
	SpinLockRelease(&s->mutex);
}

bool
fc_read(RelFileNode rnode, ForkNumber fork, BlockNumber blk, char *buf)
{
	fc_key		key;
	int			i;
	int			b = blk % FC_CHUNK_BLOCKS;
	uint32		bit = (uint32) 1 << b;
	fc_slot    *s;
	uint32		gen;
	pg_crc32c	crc;
	bool		usable;
	ssize_t		n;

	if (!fc_enabled())
		return false;
	check_limit();
	make_key(&key, rnode, fork, blk);
	i = lookup_pin(&key, get_hash_value(fc_hash, &key));
	if (i < 0)
		goto miss;
	s = &fc->slots[i];
	SpinLockAcquire(&s->mutex);
	usable = (s->valid & bit) != 0 && (s->busy & bit) == 0;
	gen = s->gen[b];
	crc = s->crc[b];
	SpinLockRelease(&s->mutex);
	if (!usable)
		goto miss_unpin;

	n = pread(fc_fd, buf, BLCKSZ, block_offset(i, b));
	if (n != BLCKSZ)
	{
		if (n < 0)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not read block %u of relation %u/%u/%u from file cache \"%s\": %m",
							blk, rnode.spcNode, rnode.dbNode, rnode.relNode, fc_path)));
		strata_count(SC_FC_IO_ERRORS, 1);
		drop_block_if(i, b, gen);
		goto miss_unpin;
	}

	/* nobody changed the block while we read it */
	SpinLockAcquire(&s->mutex);
	usable = s->gen[b] == gen && (s->valid & bit) != 0;
	SpinLockRelease(&s->mutex);
	if (!usable)
		goto miss_unpin;

	if (page_crc(buf) != crc || !PageIsVerifiedExtended((Page) buf, blk, 0))
	{
		ereport(WARNING,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("damaged page in file cache \"%s\": block %u of relation %u/%u/%u fork %d",
						fc_path, blk, rnode.spcNode, rnode.dbNode, rnode.relNode, (int) fork),
				 errdetail("The cached copy was dropped and the page is read from stratad.")));
		strata_count(SC_FC_CORRUPT, 1);
		drop_block_if(i, b, gen);
		goto miss_unpin;
	}
	unpin(i);
	strata_count(SC_FC_HITS, 1);
	return true;

miss_unpin:
	unpin(i);
miss:
	strata_count(SC_FC_MISSES, 1);
	return false;
}

bool
fc_contains(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	fc_key		key;
	uint32		hash;
	LWLock	   *lock;
	fc_entry   *e;
	bool		found = false;

	if (!fc_enabled())
		return false;
	make_key(&key, rnode, fork, blk);
	hash = get_hash_value(fc_hash, &key);
	lock = partition_lock(hash);
	LWLockAcquire(lock, LW_SHARED);
	e = hash_search_with_hash_value(fc_hash, &key, hash, HASH_FIND, NULL);
	if (e != NULL)
	{
		fc_slot    *s = &fc->slots[e->slot];

		SpinLockAcquire(&s->mutex);
		found = (s->valid & ((uint32) 1 << (blk % FC_CHUNK_BLOCKS))) != 0;
		SpinLockRelease(&s->mutex);
	}
	LWLockRelease(lock);
	return found;
}

/* ---------- stores ---------- */

uint64
fc_ticket(void)
{
	return fc_enabled() ? pg_atomic_read_u64(&fc->ticket) : 0;
}

/*
 * Mark block b of pinned slot i busy for our store; false if someone else
 * is storing into it.  A write-through (writer) then makes that other
 * store fail (FC1); a store from stratad just gives way.  A store from
 * stratad also gives way to a block already valid: that image is current.
 */
static bool
begin_store(int i, int b, bool writer, uint32 *gen)
{
	fc_slot    *s = &fc->slots[i];
	uint32		bit = (uint32) 1 << b;
	bool		ok = true;

	SpinLockAcquire(&s->mutex);
	if ((s->busy & bit) != 0)
	{
		if (writer)
			invalidate_blocks(s, bit);
		ok = false;
	}
	else if (!writer && (s->valid & bit) != 0)
		ok = false;
	else
	{
		invalidate_blocks(s, bit);
		s->busy |= bit;
		*gen = s->gen[b];
	}
	SpinLockRelease(&s->mutex);
	return ok;
}

static void
end_store(int i, int b, uint32 gen, bool written, pg_crc32c crc)
{
	fc_slot    *s = &fc->slots[i];
	uint32		bit = (uint32) 1 << b;

	SpinLockAcquire(&s->mutex);
	s->busy &= ~bit;
	if (written && s->gen[b] == gen && s->in_use)
	{
		s->valid |= bit;
		s->crc[b] = crc;
		pg_atomic_fetch_add_u64(&fc->used_blocks, 1);
	}
	SpinLockRelease(&s->mutex);
}

/* Write page as block b of pinned slot i; false (with a WARNING) on error. */
static bool
write_block(int i, int b, const char *page, BlockNumber blk)
{
	ssize_t		n = pwrite(fc_fd, page, BLCKSZ, block_offset(i, b));

	if (n == BLCKSZ)
		return true;
	if (n < 0)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not write block %u to file cache \"%s\": %m", blk, fc_path)));
	else
		ereport(WARNING,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("could not write block %u to file cache \"%s\": wrote only %zd of %d bytes",
						blk, fc_path, n, BLCKSZ)));
	strata_count(SC_FC_IO_ERRORS, 1);
	return false;
}

void
fc_store(RelFileNode rnode, ForkNumber fork, BlockNumber blk,
		 const char *page, XLogRecPtr nms, uint64 ticket)
{
	fc_key		key;
	int			i;
	int			b = blk % FC_CHUNK_BLOCKS;
	uint32		gen;
	bool		current;
	bool		written;

	if (!fc_enabled())
		return;
	check_limit();
	make_key(&key, rnode, fork, blk);
	i = alloc_pin(&key, get_hash_value(fc_hash, &key));
	if (i < 0)
		return;
	if (!begin_store(i, b, false, &gen))
	{
		unpin(i);
		return;
	}

	/*
	 * FC2, checked with the block busy: a writer advances the last-written
	 * LSN before it looks for a busy block, and an invalidation bumps the
	 * ticket before it scans, so either we see their change here or they
	 * see our busy bit and bump the generation.
	 */
	pg_memory_barrier();
	current = lwlsn_get(rnode, fork, blk) <= nms &&
		pg_atomic_read_u64(&fc->ticket) == ticket;
	written = current && write_block(i, b, page, blk);
	end_store(i, b, gen, written, written ? page_crc(page) : 0);
	unpin(i);
	strata_count(written ? SC_FC_STORES : SC_FC_STALE_SKIPS, 1);
}

void
fc_write(RelFileNode rnode, ForkNumber fork, BlockNumber blk, const char *page)
{
	fc_key		key;
	int			i;
	int			b = blk % FC_CHUNK_BLOCKS;
	uint32		gen;
	bool		written;
	PGAlignedBlock copy;

	if (!fc_enabled())
		return;
	check_limit();
	make_key(&key, rnode, fork, blk);
	i = alloc_pin(&key, get_hash_value(fc_hash, &key));
	/* no slot: then no older image of the block is cached either */
	if (i < 0)
		return;
	if (!begin_store(i, b, true, &gen))
	{
		unpin(i);
		return;
	}

	/*
	 * The caller's buffer may be a shared buffer under a share lock, where
	 * hint bits can change: the CRC and the file must see the same bytes.
	 */
	memcpy(copy.data, page, BLCKSZ);
	written = write_block(i, b, copy.data, blk);
	end_store(i, b, gen, written, written ? page_crc(copy.data) : 0);
	unpin(i);
	if (written)
		strata_count(SC_FC_WRITES, 1);
}

/* ---------- invalidation ---------- */

typedef bool (*fc_match_fn) (const fc_key *key, const void *arg, uint32 *mask);

typedef struct rel_match
{
	RelFileNode rnode;
	ForkNumber	fork;			/* InvalidForkNumber: every fork */
	BlockNumber nblocks;
} rel_match;

static bool
match_rel(const fc_key *key, const void *arg, uint32 *mask)
{
	const rel_match *m = arg;
	BlockNumber first = key->chunk * FC_CHUNK_BLOCKS;

	if (key->rel != m->rnode.relNode || key->db != m->rnode.dbNode ||
		key->spc != m->rnode.spcNode ||
		(m->fork != InvalidForkNumber && key->fork != (int32) m->fork))
		return false;
	if (first >= m->nblocks)
		*mask = FC_ALL_BLOCKS;
	else if (m->nblocks - first < FC_CHUNK_BLOCKS)
		*mask = ~(((uint32) 1 << (m->nblocks - first)) - 1);
	else
		return false;
	return true;
}

static bool
match_db(const fc_key *key, const void *arg, uint32 *mask)
{
	*mask = FC_ALL_BLOCKS;
	return key->db == *(const Oid *) arg;
}

static bool
match_all(const fc_key *key, const void *arg, uint32 *mask)
{
	*mask = FC_ALL_BLOCKS;
	return true;
}

/*
 * The ticket first (stores of answers requested before now will not
 * validate), then every slot whose chunk matches.
 */
static void
forget(fc_match_fn match, const void *arg)
{
	pg_atomic_fetch_add_u64(&fc->ticket, 1);
	for (int i = 0; i < fc->nslots; i++)
	{
		fc_slot    *s = &fc->slots[i];
		fc_key		key;
		uint32		mask;
		bool		hit;

		SpinLockAcquire(&s->mutex);
		hit = s->in_use && match(&s->key, arg, &mask);
		key = s->key;
		SpinLockRelease(&s->mutex);
		if (hit)
		{
			drop_slot(i, &key, mask);
			strata_count(SC_FC_INVALIDATIONS, 1);
		}
	}
}

void
fc_forget_rel(RelFileNode rnode, ForkNumber fork, BlockNumber nblocks)
{
	rel_match	m = {.rnode = rnode, .fork = fork, .nblocks = nblocks};

	if (fc_enabled())
		forget(match_rel, &m);
}

void
fc_forget_db(Oid dbid)
{
	if (fc_enabled())
		forget(match_db, &dbid);
}

void
fc_forget_all(void)
{
	if (fc_enabled())
		forget(match_all, NULL);
}

/* ---------- metrics and the view ---------- */

uint64
fc_used_bytes(void)
{
	return fc_enabled() ? pg_atomic_read_u64(&fc->used_blocks) * BLCKSZ : 0;
}

uint64
fc_limit_bytes(void)
{
	return fc_enabled() ? (uint64) pg_atomic_read_u32(&fc->limit_slots) * FC_CHUNK_SIZE : 0;
}

PG_FUNCTION_INFO_V1(strata_file_cache);

/* One row: the cache's configuration, occupancy and counters. */
Datum
strata_file_cache(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[12];
	bool		nulls[12] = {0};
	int64		chunks = 0;
	struct stat st;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (fc_enabled())
	{
		check_limit();
		for (int i = 0; i < fc->nslots; i++)
		{
			fc_slot    *s = &fc->slots[i];

			SpinLockAcquire(&s->mutex);
			chunks += s->in_use ? 1 : 0;
			SpinLockRelease(&s->mutex);
		}
	}
	values[0] = BoolGetDatum(fc_enabled());
	if (fc_enabled())
		values[1] = CStringGetTextDatum(fc_path);
	else
		nulls[1] = true;
	values[2] = Int64GetDatum(fc_enabled() ? (int64) fc->nslots * FC_CHUNK_SIZE : 0);
	values[3] = Int64GetDatum((int64) fc_limit_bytes());
	values[4] = Int64GetDatum(chunks);
	values[5] = Int64GetDatum((int64) fc_used_bytes());
	if (fc_enabled() && fstat(fc_fd, &st) == 0)
		values[6] = Int64GetDatum((int64) st.st_blocks * 512);
	else
		nulls[6] = true;
	values[7] = Int64GetDatum((int64) pg_atomic_read_u64(&strata_shared->counters[SC_FC_HITS]));
	values[8] = Int64GetDatum((int64) pg_atomic_read_u64(&strata_shared->counters[SC_FC_MISSES]));
	values[9] = Int64GetDatum((int64) pg_atomic_read_u64(&strata_shared->counters[SC_FC_WRITES]));
	values[10] = Int64GetDatum((int64) pg_atomic_read_u64(&strata_shared->counters[SC_FC_STORES]));
	values[11] = Int64GetDatum((int64) pg_atomic_read_u64(&strata_shared->counters[SC_FC_EVICTIONS]));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
