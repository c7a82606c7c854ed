/*-------------------------------------------------------------------------
 *
 * lsn.c
 *	  LSN formatting and parsing (see lsn.h).
 *
 *-------------------------------------------------------------------------
 */
#include "lsn.h"

#include <stdio.h>
#include <stdlib.h>

#include "strata_err.h"

char *
lsn_format(lsn_t lsn, char *buf)
{
	snprintf(buf, LSN_STRLEN, "%X/%X", (unsigned) (lsn >> 32), (unsigned) lsn);
	return buf;
}

int
lsn_parse(const char *s, lsn_t *out)
{
	char	   *end;
	unsigned long hi;
	unsigned long lo;

	hi = strtoul(s, &end, 16);
	if (end == s || *end != '/' || hi > 0xFFFFFFFFul)
		return STRATA_EINVAL;
	s = end + 1;
	lo = strtoul(s, &end, 16);
	if (end == s || *end != '\0' || lo > 0xFFFFFFFFul)
		return STRATA_EINVAL;
	*out = ((lsn_t) hi << 32) | lo;
	return 0;
}
