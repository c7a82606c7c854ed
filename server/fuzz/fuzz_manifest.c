/*-------------------------------------------------------------------------
 *
 * fuzz_manifest.c
 *	  libFuzzer target: the timeline manifest reader (manifest_load: the
 *	  envelope, the JSON, ids, LSNs, layer names, lsn_by_time, then
 *	  manifest_validate).  A manifest comes back from remote storage on
 *	  attach, so it is untrusted.
 *
 * The input is TIMELINE_DIR/manifest, tried as it is and sealed
 * (fuzz_envelope.h).  A manifest that loads must pass its own validation
 * again and survive the lookups made on it (lsntime).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "fuzz_envelope.h"
#include "manifest.h"

static void
try_file(const uint8_t *data, size_t len)
{
	struct manifest m;

	fuzz_put_file("manifest", data, len);
	if (manifest_load(fuzz_dir(), &m) != 0)
		return;
	if (manifest_validate(&m) != 0)
	{
		fprintf(stderr, "a loaded manifest does not validate\n");
		abort();
	}
	for (uint32_t i = 0; i < m.lsntime.n; i++)
		(void) lsntime_lsn_at(&m.lsntime, m.lsntime.s[i].t);
	(void) lsntime_lsn_at(&m.lsntime, INT64_MAX);
	(void) lsntime_lsn_at(&m.lsntime, INT64_MIN);
	manifest_free(&m);
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
