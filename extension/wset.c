/*-------------------------------------------------------------------------
 *
 * wset.c
 *	  Working-set estimate (see wset.h), and its SQL functions.
 *
 * A page's 32-bit hash picks a register with its top WS_BITS bits; the
 * rank is one more than the number of leading zeros of the other bits
 * (1 .. WS_RANKS).  regs[register][rank - 1] is the last time (µs since the
 * PostgreSQL epoch, 0 = never) a page of that register and rank was seen.
 * The estimate for "since T" takes, per register, the largest rank seen at
 * or after T, then the usual HyperLogLog formula with its small-range
 * correction (Flajolet et al. 2007).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "port/pg_bitutils.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "wset.h"

#define WS_BITS		12
#define WS_REGS		(1 << WS_BITS)
#define WS_RANKS	(32 - WS_BITS + 1)

typedef struct ws_shared
{
	TimestampTz regs[WS_REGS][WS_RANKS];
} ws_shared;

static ws_shared *ws;

Size
ws_shmem_size(void)
{
	return MAXALIGN(sizeof(ws_shared));
}

void
ws_shmem_init(void)
{
	bool		found;

	ws = ShmemInitStruct("strata working set", ws_shmem_size(), &found);
	if (!found)
		memset(ws, 0, sizeof(*ws));
}

void
ws_add(RelFileNode rnode, ForkNumber fork, BlockNumber blk)
{
	uint32		k[5] = {rnode.spcNode, rnode.dbNode, rnode.relNode, (uint32) fork, blk};
	uint32		h = hash_bytes((const unsigned char *) k, sizeof(k));
	uint32		reg = h >> (32 - WS_BITS);
	uint32		rest = h << WS_BITS;
	int			rank;
	volatile TimestampTz *slot;
	TimestampTz now;

	/* leading zeros of the 32 - WS_BITS remaining bits, plus one */
	if (rest == 0)
		rank = WS_RANKS;
	else
		rank = Min(31 - pg_leftmost_one_pos32(rest) + 1, WS_RANKS);
	slot = &ws->regs[reg][rank - 1];
	now = GetCurrentTimestamp();
	if (*slot < now)
		*slot = now;
}

/* Distinct pages seen at or after since. */
static int64
estimate(TimestampTz since)
{
	double		z = 0;
	int			zeros = 0;
	double		m = WS_REGS;
	double		e;

	for (int i = 0; i < WS_REGS; i++)
	{
		int			max = 0;

		for (int r = WS_RANKS; r >= 1; r--)
		{
			if (ws->regs[i][r - 1] != 0 && ws->regs[i][r - 1] >= since)
			{
				max = r;
				break;
			}
		}
		z += ldexp(1.0, -max);
		if (max == 0)
			zeros++;
	}
	e = (0.7213 / (1.0 + 1.079 / m)) * m * m / z;
	if (e <= 2.5 * m && zeros > 0)
		e = m * log(m / zeros);
	return (int64) (e + 0.5);
}

PG_FUNCTION_INFO_V1(strata_working_set_seconds);
PG_FUNCTION_INFO_V1(strata_working_set);

/* approximate_working_set_size_seconds(seconds) */
Datum
strata_working_set_seconds(PG_FUNCTION_ARGS)
{
	int32		seconds = PG_GETARG_INT32(0);

	if (seconds <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the interval must be a positive number of seconds")));
	PG_RETURN_INT64(estimate(GetCurrentTimestamp() - (TimestampTz) seconds * USECS_PER_SEC));
}

/* approximate_working_set_size(reset): since the last reset */
Datum
strata_working_set(PG_FUNCTION_ARGS)
{
	bool		reset = PG_GETARG_BOOL(0);
	int64		n = estimate(1);

	if (reset)
		memset(ws, 0, sizeof(*ws));
	PG_RETURN_INT64(n);
}
