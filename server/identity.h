/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Who this stratad serves: its tenant and timeline ids, the compute's
 *	  system identifier, and the state of the first-start import.
 *
 * Persisted in DATADIR/identity, rewritten durably (temp, fsync, rename,
 * directory fsync) on every change.  Layout, 64 bytes, little-endian:
 *	0	8	magic "STRATAID"
 *	8	4	format version (1)
 *	12	4	length of this structure (64)
 *	16	16	tenant id
 *	32	16	timeline id
 *	48	8	system identifier (0 = not known yet)
 *	56	4	import state (enum identity_import)
 *	60	4	CRC-32C of bytes 0..59
 * Read order: magic, version, CRC; a mismatch refuses to start.  Owned by
 * the main thread.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_IDENTITY_H
#define STRATA_IDENTITY_H

#include <stdint.h>

#define IDENTITY_ID_LEN 16
#define IDENTITY_HEX_LEN (IDENTITY_ID_LEN * 2 + 1)

enum identity_import
{
	IMPORT_NONE = 0,			/* nothing imported (standalone, or not yet) */
	IMPORT_RUNNING = 1,			/* started; local files intact; redo on restart */
	IMPORT_IMPORTED = 2,		/* durable; local files may still need truncating */
	IMPORT_COMPLETE = 3,		/* local files are stubs */
};

struct identity
{
	uint8_t		tenant[IDENTITY_ID_LEN];
	uint8_t		timeline[IDENTITY_ID_LEN];
	uint64_t	sysid;
	enum identity_import import;
};

/* Load DATADIR/identity, creating fresh random ids if it does not exist. */
extern int	identity_load(const char *datadir, struct identity *id);
extern int	identity_save(const char *datadir, const struct identity *id);

extern void identity_hex(const uint8_t id[IDENTITY_ID_LEN], char out[IDENTITY_HEX_LEN]);
extern const char *identity_import_name(enum identity_import s);

#endif							/* STRATA_IDENTITY_H */
