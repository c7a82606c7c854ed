/*-------------------------------------------------------------------------
 *
 * fuzz_jsonfile.c
 *	  libFuzzer target: the JSON-in-CRC-envelope reader (jsonfile_load),
 *	  here with the tenant config's magic and version as
 *	  storage/tenant.c reads DATADIR/tenants/<id>/config.  The input is the
 *	  file, tried as it is and sealed (fuzz_envelope.h).
 *
 * XXX: what tenant.c then reads from the document (load_config) is
 * static there and not reached; the manifest target covers a reader of
 * the document itself.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fuzz_common.h"
#include "fuzz_envelope.h"
#include "jsonfile.h"

#define CONFIG_MAGIC	"STRATATC"	/* storage/tenant.c */
#define CONFIG_VERSION	1

static void
try_file(const uint8_t *data, size_t len)
{
	char		path[PATH_MAX];
	int			fd = fuzz_memfile(data, len, path);
	json_t	   *o = NULL;

	if (jsonfile_load(path, CONFIG_MAGIC, CONFIG_VERSION, &o) == 0)
	{
		if (!json_is_object(o) && !json_is_array(o))
			abort();			/* jansson's promise without JSON_DECODE_ANY */
		json_decref(o);
	}
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	uint8_t    *sealed = fuzz_copy(data, len);

	fuzz_init();
	try_file(data, len);
	if (fuzz_seal_envelope(sealed, len) && memcmp(sealed, data, len) != 0)
		try_file(sealed, len);
	free(sealed);
	return 0;
}
