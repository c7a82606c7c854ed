/*-------------------------------------------------------------------------
 *
 * key.c
 *	  Storage key encoding (see key.h).
 *
 *-------------------------------------------------------------------------
 */
#include "key.h"

#include "bytes.h"

void
key_encode(const struct strata_key *k, uint8_t out[KEY_SIZE])
{
	out[0] = k->f1;
	put_be32(out + 1, k->spc);
	put_be32(out + 5, k->db);
	put_be32(out + 9, k->rel);
	out[13] = k->fork;
	put_be32(out + 14, k->blk);
}

void
key_decode(const uint8_t in[KEY_SIZE], struct strata_key *k)
{
	k->f1 = in[0];
	k->spc = get_be32(in + 1);
	k->db = get_be32(in + 5);
	k->rel = get_be32(in + 9);
	k->fork = in[13];
	k->blk = get_be32(in + 14);
}

#define CMP(x, y) do { if ((x) != (y)) return (x) < (y) ? -1 : 1; } while (0)

int
key_cmp(const struct strata_key *a, const struct strata_key *b)
{
	CMP(a->f1, b->f1);
	CMP(a->spc, b->spc);
	CMP(a->db, b->db);
	CMP(a->rel, b->rel);
	CMP(a->fork, b->fork);
	CMP(a->blk, b->blk);
	return 0;
}

struct strata_key
key_block(uint32_t spc, uint32_t db, uint32_t rel, uint8_t fork, uint32_t blk)
{
	struct strata_key k = {
		.f1 = KEY_F1_REL, .spc = spc, .db = db, .rel = rel, .fork = fork, .blk = blk,
	};

	return k;
}
