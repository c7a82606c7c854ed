/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Who this stratad serves: its tenant and timeline ids, the compute's
 *	  system identifier, and the state of the first-start import.
 *
 * It also carries the durability epoch (ARCHITECTURE.md 5.2, I2): bumped
 * at startup when acknowledged but unsynced writes may have been lost (the
 * previous run saw an fsync fail, or the machine rebooted without a clean
 * shutdown), so computes that see it change crash-recover from WAL.
 *
 * Persisted in DATADIR/identity, rewritten durably (temp, fsync, rename,
 * directory fsync) on every change.  Layout, 80 bytes, little-endian:
 *	0	8	magic "STRATAID"
 *	8	4	format version (2; version 1 was the first 60 bytes and a CRC,
 *			without epoch, boot id and flags, and is still read)
 *	12	4	length of this structure (80)
 *	16	16	tenant id
 *	32	16	timeline id
 *	48	8	system identifier (0 = not known yet)
 *	56	4	import state (enum identity_import)
 *	60	4	durability epoch (starts at 1)
 *	64	8	hash of the kernel boot id of the last start
 *	72	4	flags: 1 = shut down cleanly, 2 = an fsync failed
 *	76	4	CRC-32C of bytes 0..75
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

#define IDENTITY_CLEAN			0x1
#define IDENTITY_FSYNC_FAILED	0x2

struct identity
{
	uint8_t		tenant[IDENTITY_ID_LEN];
	uint8_t		timeline[IDENTITY_ID_LEN];
	uint64_t	sysid;
	enum identity_import import;
	uint32_t	epoch;
	uint64_t	boot;
	uint32_t	flags;
};

/*
 * At the start of serving: bump the epoch if writes may have been lost,
 * record this boot, clear the flags, and save.  Logs a WARNING on a bump.
 */
extern int	identity_begin_serving(const char *datadir, struct identity *id);

/* Load DATADIR/identity, creating fresh random ids if it does not exist. */
extern int	identity_load(const char *datadir, struct identity *id);
extern int	identity_save(const char *datadir, const struct identity *id);

extern void identity_hex(const uint8_t id[IDENTITY_ID_LEN], char out[IDENTITY_HEX_LEN]);
/* Parse 32 hex digits; STRATA_EINVAL otherwise. */
extern int	identity_parse_hex(const char *s, uint8_t id[IDENTITY_ID_LEN]);
extern const char *identity_import_name(enum identity_import s);

#endif							/* STRATA_IDENTITY_H */
