/*-------------------------------------------------------------------------
 *
 * fuzz_envelope.h
 *	  Sealing a jsonfile.h envelope (magic, version, JSON length, JSON,
 *	  CRC-32C) for the targets of its readers: the length field set to
 *	  what the input holds and the CRC recomputed, so that mutated JSON
 *	  reaches the parser and the code that walks the document.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_FUZZ_ENVELOPE_H
#define STRATA_FUZZ_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "bytes.h"
#include "fuzz_common.h"

#define FUZZ_ENVELOPE_HDR	16

/* 0 if len cannot hold an envelope (nothing to seal). */
static inline int
fuzz_seal_envelope(uint8_t *b, size_t len)
{
	if (len < FUZZ_ENVELOPE_HDR + 4)
		return 0;
	put_le32(b + 12, (uint32_t) (len - FUZZ_ENVELOPE_HDR - 4));
	fuzz_seal_crc(b, len - 4);
	return 1;
}

#endif							/* STRATA_FUZZ_ENVELOPE_H */
