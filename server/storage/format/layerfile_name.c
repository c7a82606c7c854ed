/*-------------------------------------------------------------------------
 *
 * layerfile_name.c
 *	  Layer file names (layerfile.h): a layer's kind, key range, LSN range
 *	  and generation, formatted as its file name and parsed back from one.
 *
 *-------------------------------------------------------------------------
 */
#include "layerfile.h"

#include <stdio.h>
#include <string.h>

#include "bytes.h"
#include "strata_err.h"

static void
hex(char *out, const uint8_t *b, int n)
{
	for (int i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02X", b[i]);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
unhex(const char *s, uint8_t *b, int n)
{
	for (int i = 0; i < n; i++)
	{
		int			hi = hexval(s[2 * i]);
		int			lo = hi < 0 ? -1 : hexval(s[2 * i + 1]);

		if (lo < 0)
			return -1;
		b[i] = (uint8_t) (hi * 16 + lo);
	}
	return 0;
}

int
layer_format_name(const struct layer_desc *d, char *buf, size_t len)
{
	char		ks[KEY_SIZE * 2 + 1];
	char		ke[KEY_SIZE * 2 + 1];
	int			n;

	hex(ks, d->key_start, KEY_SIZE);
	hex(ke, d->key_end, KEY_SIZE);
	if (d->kind == LAYER_IMAGE)
		n = snprintf(buf, len, "%s-%s__%016llX-%08X", ks, ke, (unsigned long long) d->lsn_start,
					 d->generation);
	else
		n = snprintf(buf, len, "%s-%s__%016llX-%016llX-%08X", ks, ke,
					 (unsigned long long) d->lsn_start, (unsigned long long) d->lsn_end,
					 d->generation);
	return n > 0 && (size_t) n < len ? 0 : STRATA_EINVAL;
}

static int
parse_hex64(const char *s, uint64_t *v)
{
	uint64_t	x = 0;

	for (int i = 0; i < 16; i++)
	{
		int			h = hexval(s[i]);

		if (h < 0)
			return -1;
		x = x * 16 + (uint64_t) h;
	}
	*v = x;
	return 0;
}

int
layer_parse_name(const char *name, struct layer_desc *d)
{
	size_t		n = strlen(name);
	const size_t keys = KEY_SIZE * 4 + 1;	/* KS-KE */
	uint8_t		g[4];
	const char *p;

	memset(d, 0, sizeof(*d));
	if (n < keys + 2 || name[KEY_SIZE * 2] != '-' || name[keys] != '_' || name[keys + 1] != '_' ||
		unhex(name, d->key_start, KEY_SIZE) != 0 ||
		unhex(name + KEY_SIZE * 2 + 1, d->key_end, KEY_SIZE) != 0)
		return STRATA_EINVAL;
	p = name + keys + 2;
	if (strlen(p) == 16 + 1 + 8 && p[16] == '-')
	{
		d->kind = LAYER_IMAGE;
		if (parse_hex64(p, &d->lsn_start) != 0 || d->lsn_start == LSN_MAX)
			return STRATA_EINVAL;
		d->lsn_end = d->lsn_start + 1;
		p += 17;
	}
	else if (strlen(p) == 16 + 1 + 16 + 1 + 8 && p[16] == '-' && p[33] == '-')
	{
		d->kind = LAYER_DELTA;
		if (parse_hex64(p, &d->lsn_start) != 0 || parse_hex64(p + 17, &d->lsn_end) != 0 ||
			d->lsn_end <= d->lsn_start)
			return STRATA_EINVAL;
		p += 34;
	}
	else
		return STRATA_EINVAL;
	if (unhex(p, g, 4) != 0)
		return STRATA_EINVAL;
	d->generation = get_be32(g);
	if (memcmp(d->key_start, d->key_end, KEY_SIZE) >= 0)
		return STRATA_EINVAL;
	return 0;
}
