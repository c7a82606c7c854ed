/*-------------------------------------------------------------------------
 *
 * checksum.h
 *	  CRC-32C for every on-disk structure and record.
 *
 * A thin wrapper over PostgreSQL's pg_crc32c (libpgport in stratad and
 * stratactl, the server binary in the extension), which picks SSE4.2 or a
 * table at run time.  Thread-safe, never fails.  Incremental use:
 *	crc = strata_crc32c_init(); crc = strata_crc32c_update(crc, a, n); ...
 *	crc = strata_crc32c_final(crc);
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_CHECKSUM_H
#define STRATA_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

extern uint32_t strata_crc32c_init(void);
extern uint32_t strata_crc32c_update(uint32_t crc, const void *data, size_t len);
extern uint32_t strata_crc32c_final(uint32_t crc);

/* One-shot CRC-32C of a buffer. */
extern uint32_t strata_crc32c(const void *data, size_t len);

#endif							/* STRATA_CHECKSUM_H */
