/*-------------------------------------------------------------------------
 *
 * fuzz_identity.c
 *	  libFuzzer target: the identity file reader (identity_load, both
 *	  format versions), and the hex id parser every id from a file, a
 *	  URL or a startup packet goes through (identity_parse_hex).
 *
 * The input is DATADIR/identity, tried as it is and sealed (length field
 * and CRC of the version it claims); then, as a string, a hex id.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "fuzz_common.h"
#include "identity.h"

#define ID_SIZE		80			/* durability/identity.c */
#define ID_V1_SIZE	64

static void
try_file(const uint8_t *data, size_t len)
{
	struct identity id;

	fuzz_put_file("identity", data, len);
	if (identity_load(fuzz_dir(), &id) == 0)
		(void) identity_import_name(id.import);
}

static void
try_hex(const uint8_t *data, size_t len)
{
	char	   *s = malloc(len + 1);
	uint8_t		id[IDENTITY_ID_LEN];
	char		hex[IDENTITY_HEX_LEN];

	if (s == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	if (identity_parse_hex(s, id) == 0)
	{
		/* 32 hex digits in, the same id out (case aside) */
		identity_hex(id, hex);
		if (strcasecmp(hex, s) != 0)
		{
			fprintf(stderr, "hex id \"%s\" parses, formats as \"%s\"\n", s, hex);
			abort();
		}
	}
	free(s);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t    *sealed = fuzz_copy(data, len);

	fuzz_init();
	try_file(data, len);
	if (len == ID_SIZE || len == ID_V1_SIZE)
	{
		put_le32(sealed + 12, (uint32_t) len);
		fuzz_seal_crc(sealed, len - 4);
		if (memcmp(sealed, data, len) != 0)
			try_file(sealed, len);
	}
	free(sealed);
	try_hex(data, len);
	return 0;
}
