/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  The identity file (see identity.h).
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bytes.h"
#include "checksum.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"

#define ID_MAGIC "STRATAID"
#define ID_VERSION 1
#define ID_SIZE 64

void
identity_hex(const uint8_t id[IDENTITY_ID_LEN], char out[IDENTITY_HEX_LEN])
{
	for (int i = 0; i < IDENTITY_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

const char *
identity_import_name(enum identity_import s)
{
	switch (s)
	{
		case IMPORT_NONE:
			return "none";
		case IMPORT_RUNNING:
			return "importing";
		case IMPORT_IMPORTED:
			return "imported";
		case IMPORT_COMPLETE:
			return "complete";
	}
	return "unknown";
}

int
identity_save(const char *datadir, const struct identity *id)
{
	uint8_t		buf[ID_SIZE];
	char		path[4096];

	memset(buf, 0, sizeof(buf));
	memcpy(buf, ID_MAGIC, 8);
	put_le32(buf + 8, ID_VERSION);
	put_le32(buf + 12, ID_SIZE);
	memcpy(buf + 16, id->tenant, IDENTITY_ID_LEN);
	memcpy(buf + 32, id->timeline, IDENTITY_ID_LEN);
	put_le64(buf + 48, id->sysid);
	put_le32(buf + 56, (uint32_t) id->import);
	put_le32(buf + 60, strata_crc32c(buf, 60));
	snprintf(path, sizeof(path), "%s/identity", datadir);
	return fs_write_durable(path, buf, sizeof(buf));
}

int
identity_load(const char *datadir, struct identity *id)
{
	char		path[4096];
	void	   *data;
	size_t		len;
	const uint8_t *buf;
	int			err;

	snprintf(path, sizeof(path), "%s/identity", datadir);
	err = fs_read_file(path, &data, &len);
	if (err == STRATA_ENOTFOUND)
	{
		memset(id, 0, sizeof(*id));
		if (getrandom(id->tenant, IDENTITY_ID_LEN, 0) != IDENTITY_ID_LEN ||
			getrandom(id->timeline, IDENTITY_ID_LEN, 0) != IDENTITY_ID_LEN)
		{
			slog(SLOG_ERROR, "identity: getrandom failed: %s", strerror(errno));
			return STRATA_EIO;
		}
		id->import = IMPORT_NONE;
		return identity_save(datadir, id);
	}
	if (err != 0)
	{
		slog(SLOG_ERROR, "identity: could not read \"%s\": %s", path, strata_strerror(err));
		return err;
	}
	buf = data;
	err = STRATA_ECORRUPT;
	if (len < 16 || memcmp(buf, ID_MAGIC, 8) != 0)
		slog(SLOG_ERROR, "identity: \"%s\" is not a strata identity file (bad magic at offset 0)", path);
	else if (get_le32(buf + 8) != ID_VERSION)
	{
		slog(SLOG_ERROR, "identity: \"%s\": unsupported version %u at offset 8",
			 path, get_le32(buf + 8));
		err = STRATA_EVERSION;
	}
	else if (len != ID_SIZE || get_le32(buf + 12) != ID_SIZE)
		slog(SLOG_ERROR, "identity: \"%s\": wrong length %zu", path, len);
	else if (get_le32(buf + 60) != strata_crc32c(buf, 60))
		slog(SLOG_ERROR, "identity: \"%s\": CRC mismatch at offset 60", path);
	else
	{
		memcpy(id->tenant, buf + 16, IDENTITY_ID_LEN);
		memcpy(id->timeline, buf + 32, IDENTITY_ID_LEN);
		id->sysid = get_le64(buf + 48);
		id->import = (enum identity_import) get_le32(buf + 56);
		err = 0;
	}
	free(data);
	return err;
}
