/*-------------------------------------------------------------------------
 *
 * fuzz_inmem_log.c
 *	  libFuzzer target: replay of a write log (inmem_open_log), which a
 *	  restarting stratad runs on whatever a crash left on disk, then a
 *	  read of every version it indexed.
 *
 * The input is the log file.  It is replayed as it is, with the seed
 * generator's ids, and once more sealed: the header's CRC and each
 * record's CRC recomputed for as long as the record lengths chain, and
 * the ids taken from the header, so mutated records reach the indexing.
 * Replay must index only records that lie wholly inside the file, and a
 * read of each must return its value (decoded as the timeline would).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "fuzz_common.h"
#include "inmem_log.h"
#include "value.h"

static const uint8_t tenant[16] = FUZZ_TENANT_ID;
static const uint8_t timeline[16] = FUZZ_TIMELINE_ID;

static void
fail(const char *what, const struct inmem_version *v)
{
	fprintf(stderr, "write log version at offset %llu: %s\n", (unsigned long long) v->off, what);
	abort();
}

static void
read_version(struct inmem *m, const struct inmem_key *k, const struct inmem_version *v)
{
	static uint8_t buf[VAL_MAX];
	static uint8_t page[PROTO_PAGE_SIZE];
	const uint8_t *val;
	struct inmem_map *ref;
	uint64_t	nblocks;
	int			n;

	if (v->off < INMEM_HDR_SIZE || v->off + INMEM_REC_OVERHEAD + v->vlen > m->end ||
		v->vlen < VAL_HDR || v->vlen > VAL_MAX)
		fail("indexed outside the log or of a bad length", v);
	if (inmem_find(m, k->key) != k)
		fail("its key is not found", v);
	if (inmem_at(m, k, v->lsn, 0) == NULL)
		fail("not visible at its own LSN", v);
	if ((n = inmem_value(m, v, buf, &val, &ref)) < 0)
		return;
	if (n != v->vlen)
		fail("value of another length", v);
	(void) value_get_page(val, (uint32_t) n, page);
	(void) value_get_size(val, (uint32_t) n, &nblocks);
	inmem_map_unref(ref);
	if (inmem_read_value(m, v, buf) != n)
		fail("read twice, another length", v);
}

static void
try_file(const uint8_t *data, size_t len, const uint8_t *ten, const uint8_t *tl, lsn_t skip)
{
	char		path[PATH_MAX];
	int			fd = fuzz_memfile(data, len, path);
	struct inmem *m;
	struct inmem_key **keys;
	uint32_t	nkeys;

	if (inmem_open_log(path, ten, tl, skip, 0, 0, NULL, NULL, &m) == 0)
	{
		if (inmem_sorted_keys(m, &keys, &nkeys) == 0)
		{
			for (uint32_t i = 0; i < nkeys; i++)
				for (uint32_t j = 0; j < keys[i]->n; j++)
					read_version(m, keys[i], &keys[i]->v[j]);
			free(keys);
		}
		inmem_free(m, 0);
	}
	close(fd);
}

static void
seal(uint8_t *b, size_t len)
{
	size_t		off = INMEM_HDR_SIZE;

	fuzz_seal_crc(b, INMEM_HDR_SIZE - 4);
	while (off + 4 <= len)
	{
		uint32_t	rlen = get_le32(b + off);

		if (rlen < INMEM_REC_OVERHEAD || rlen > len - off)
			break;
		fuzz_seal_crc(b + off, rlen - 4);
		off += rlen;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t    *sealed;

	fuzz_init();
	try_file(data, len, tenant, timeline, 0);
	if (len < INMEM_HDR_SIZE)
		return 0;
	sealed = fuzz_copy(data, len);
	seal(sealed, len);
	/* ids from the header; skip what lies below its start, as a restart does */
	try_file(sealed, len, sealed + 16, sealed + 32, get_le64(sealed + 48));
	free(sealed);
	return 0;
}
