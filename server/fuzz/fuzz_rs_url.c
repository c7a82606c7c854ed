/*-------------------------------------------------------------------------
 *
 * fuzz_rs_url.c
 *	  libFuzzer target: --remote-storage URLs (remote/rs_url.c) and
 *	  object keys (remote_key_check), strings a user or a setting gives.
 *
 * Checks beyond "no crash": an accepted URL formats to one that parses to
 * the same result; an accepted URL never has user information or a
 * secret-looking parameter; a refused one leaves the result zeroed with a
 * message.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "remote.h"
#include "rs_url.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char	   *s = malloc(len + 1);
	struct rs_url u;
	struct rs_url v;
	char		why[256];
	char		again[4096];
	static const struct rs_url zero;

	if (s == NULL)
		abort();
	fuzz_init();
	memcpy(s, data, len);
	s[len] = '\0';
	why[0] = '\0';
	if (rs_url_parse(s, &u, why, sizeof(why)) == 0)
	{
		if (u.kind == RS_S3 && (strchr(u.endpoint, '@') != NULL || strchr(u.bucket, '@') != NULL))
			abort();
		rs_url_format(&u, again, sizeof(again));
		if (rs_url_parse(again, &v, why, sizeof(why)) != 0 || memcmp(&u, &v, sizeof(u)) != 0)
		{
			fprintf(stderr, "\"%s\" parses, formats as \"%s\", which %s\n", s, again,
					why[0] ? why : "parses differently");
			abort();
		}
	}
	else if (memcmp(&u, &zero, sizeof(u)) != 0 || why[0] == '\0')
		abort();
	(void) remote_key_check(s);
	free(s);
	return 0;
}
