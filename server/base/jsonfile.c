/*-------------------------------------------------------------------------
 *
 * jsonfile.c
 *	  JSON documents in a checksummed envelope (jsonfile.h).
 *
 *-------------------------------------------------------------------------
 */
#include "jsonfile.h"

#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "checksum.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"

#define HDR 16

int
jsonfile_save(const char *path, const char magic[8], uint32_t version, json_t *o)
{
	char	   *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	uint8_t    *buf;
	size_t		n;
	int			err;

	if (text == NULL)
		return STRATA_ENOMEM;
	n = strlen(text);
	if ((buf = malloc(HDR + n + 4)) == NULL)
	{
		free(text);
		return STRATA_ENOMEM;
	}
	memcpy(buf, magic, 8);
	put_le32(buf + 8, version);
	put_le32(buf + 12, (uint32_t) n);
	memcpy(buf + HDR, text, n);
	put_le32(buf + HDR + n, strata_crc32c(buf, HDR + n));
	err = fs_write_durable(path, buf, HDR + n + 4);
	free(buf);
	free(text);
	return err;
}

int
jsonfile_load(const char *path, const char magic[8], uint32_t version, json_t **out)
{
	void	   *data = NULL;
	uint8_t    *b;
	size_t		len;
	uint32_t	n;
	json_error_t jerr;
	int			err;

	if ((err = fs_read_file(path, &data, &len)) != 0)
		return err;
	b = data;
	err = STRATA_ECORRUPT;
	if (len < HDR + 4 || memcmp(b, magic, 8) != 0)
		slog(SLOG_ERROR, "\"%s\" has no valid header", path);
	else if (get_le32(b + 8) != version)
	{
		slog(SLOG_ERROR, "\"%s\" has unsupported format version %u", path, get_le32(b + 8));
		err = STRATA_EVERSION;
	}
	else if ((size_t) (n = get_le32(b + 12)) + HDR + 4 != len ||
			 get_le32(b + HDR + n) != strata_crc32c(b, HDR + n))
		slog(SLOG_ERROR, "\"%s\": length or checksum mismatch", path);
	else if ((*out = json_loadb((const char *) b + HDR, n, 0, &jerr)) == NULL)
		slog(SLOG_ERROR, "\"%s\": malformed JSON: %s", path, jerr.text);
	else
		err = 0;
	free(data);
	return err;
}
