/*-------------------------------------------------------------------------
 *
 * key.h
 *	  The 18-byte storage key (ARCHITECTURE.md 5.1), in Neon's layout.
 *
 * Encoded big-endian so that memcmp() of two encodings orders them like
 * key_cmp():  u8 f1, u32 spc, u32 db, u32 rel, u8 fork, u32 blk.
 * f1 KEY_F1_REL addresses relation blocks; blk KEY_BLK_SIZE is the
 * relation fork's size entry.  Pure functions, any thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_KEY_H
#define STRATA_KEY_H

#include <stdint.h>

#define KEY_SIZE 18

#define KEY_F1_REL		0x00	/* relation blocks and sizes */
#define KEY_F1_SLRU		0x01	/* phase 2 */
#define KEY_F1_TWOPHASE 0x02	/* phase 2 */
#define KEY_F1_CONTROL	0x03	/* phase 2 */
#define KEY_F1_DBDIR	0x64	/* sparse: database directory */
#define KEY_F1_RELDIR	0x65	/* sparse: relation fork directory */
#define KEY_F1_AUX		0x62	/* sparse: aux blobs */

#define KEY_BLK_SIZE	0xFFFFFFFFu /* the fork's size entry */

/* PostgreSQL's fork numbers, restated so stratad needs no PG headers. */
#define KEY_FORK_MAIN	0
#define KEY_FORK_FSM	1
#define KEY_FORK_VM		2
#define KEY_FORK_INIT	3
#define KEY_FORK_MAX	3
#define KEY_FORK_ALL	255		/* UNLINK: every fork */

struct strata_key
{
	uint8_t		f1;
	uint32_t	spc;
	uint32_t	db;
	uint32_t	rel;
	uint8_t		fork;
	uint32_t	blk;
};

extern void key_encode(const struct strata_key *k, uint8_t out[KEY_SIZE]);
extern void key_decode(const uint8_t in[KEY_SIZE], struct strata_key *k);

/* <0, 0, >0 like memcmp of the encodings. */
extern int	key_cmp(const struct strata_key *a, const struct strata_key *b);

/* The key of block blk of a relation fork. */
extern struct strata_key key_block(uint32_t spc, uint32_t db, uint32_t rel,
								   uint8_t fork, uint32_t blk);

#endif							/* STRATA_KEY_H */
