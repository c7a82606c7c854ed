/*-------------------------------------------------------------------------
 *
 * checksum.c
 *	  CRC-32C via PostgreSQL's pg_crc32c.
 *
 * Only c.h is included, so this file builds the same inside the extension
 * (where postgres provides pg_comp_crc32c) and in stratad/stratactl (which
 * link libpgport).
 *
 *-------------------------------------------------------------------------
 */
#include "c.h"

#include "port/pg_crc32c.h"

#include "checksum.h"

uint32_t
strata_crc32c_init(void)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	return crc;
}

uint32_t
strata_crc32c_update(uint32_t crc, const void *data, size_t len)
{
	COMP_CRC32C(crc, data, len);
	return crc;
}

uint32_t
strata_crc32c_final(uint32_t crc)
{
	FIN_CRC32C(crc);
	return crc;
}

uint32_t
strata_crc32c(const void *data, size_t len)
{
	return strata_crc32c_final(strata_crc32c_update(strata_crc32c_init(),
													data, len));
}
