/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  The identity file (see identity.h).
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bytes.h"
#include "checksum.h"
#include "fio.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"

#define ID_MAGIC "STRATAID"
#define ID_VERSION 2
#define ID_SIZE 80
#define ID_V1_SIZE 64		/* version 1: no epoch, boot id or flags */

void
identity_hex(const uint8_t id[IDENTITY_ID_LEN], char out[IDENTITY_HEX_LEN])
{
	for (int i = 0; i < IDENTITY_ID_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

int
identity_parse_hex(const char *s, uint8_t id[IDENTITY_ID_LEN])
{
	if (s == NULL || strlen(s) != IDENTITY_ID_LEN * 2)
		return STRATA_EINVAL;
	for (int i = 0; i < IDENTITY_ID_LEN; i++)
	{
		unsigned	v;

		if (!isxdigit((unsigned char) s[2 * i]) || !isxdigit((unsigned char) s[2 * i + 1]) ||
			sscanf(s + 2 * i, "%2x", &v) != 1)
			return STRATA_EINVAL;
		id[i] = (uint8_t) v;
	}
	return 0;
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
	put_le32(buf + 60, id->epoch);
	put_le64(buf + 64, id->boot);
	put_le32(buf + 72, id->flags);
	put_le32(buf + 76, strata_crc32c(buf, 76));
	snprintf(path, sizeof(path), "%s/identity", datadir);
	/* tests: one save fails, as on the disk whose fsync just failed */
	if (fio_fault_once("STRATA_FAIL_IDENTITY_SAVE_ONCE_FILE"))
	{
		slog(SLOG_ERROR, "identity: could not write \"%s\": injected EIO", path);
		return STRATA_EIO;
	}
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
		id->epoch = 1;
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
	else if (get_le32(buf + 8) == 1 && len == ID_V1_SIZE && get_le32(buf + 12) == ID_V1_SIZE &&
			 get_le32(buf + 60) == strata_crc32c(buf, 60))
	{
		/* version 1 (before the durability epoch): rewritten as 2 on save */
		memcpy(id->tenant, buf + 16, IDENTITY_ID_LEN);
		memcpy(id->timeline, buf + 32, IDENTITY_ID_LEN);
		id->sysid = get_le64(buf + 48);
		id->import = (enum identity_import) get_le32(buf + 56);
		id->epoch = 1;
		id->boot = 0;
		id->flags = 0;
		err = 0;
	}
	else if (get_le32(buf + 8) != ID_VERSION)
	{
		slog(SLOG_ERROR, "identity: \"%s\": unsupported version %u at offset 8",
			 path, get_le32(buf + 8));
		err = STRATA_EVERSION;
	}
	else if (len != ID_SIZE || get_le32(buf + 12) != ID_SIZE)
		slog(SLOG_ERROR, "identity: \"%s\": wrong length %zu", path, len);
	else if (get_le32(buf + 76) != strata_crc32c(buf, 76))
		slog(SLOG_ERROR, "identity: \"%s\": CRC mismatch at offset 76", path);
	else
	{
		memcpy(id->tenant, buf + 16, IDENTITY_ID_LEN);
		memcpy(id->timeline, buf + 32, IDENTITY_ID_LEN);
		id->sysid = get_le64(buf + 48);
		id->import = (enum identity_import) get_le32(buf + 56);
		id->epoch = get_le32(buf + 60);
		id->boot = get_le64(buf + 64);
		id->flags = get_le32(buf + 72);
		err = 0;
	}
	free(data);
	return err;
}

/*
 * A hash of the kernel's boot id: it changes exactly when the host reboots.
 * procfs reports size 0, so read it with read(2); 0 if unavailable.
 */
static uint64_t
boot_hash(void)
{
	char		text[64];
	int			fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	ssize_t		n;

	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text));
	close(fd);
	if (n <= 0)
		return 0;
	return ((uint64_t) strata_crc32c(text, n) << 32) | strata_crc32c(text, n / 2 + 1);
}

int
identity_begin_serving(const char *datadir, struct identity *id)
{
	uint64_t	boot = boot_hash();
	const char *why = NULL;

	if (id->flags & IDENTITY_FSYNC_FAILED)
		why = "an fsync of the page log failed in the previous run";
	else if (!(id->flags & IDENTITY_CLEAN) && id->boot != 0 && boot != id->boot)
		why = "the host restarted without a clean shutdown";
	if (why != NULL)
	{
		id->epoch++;
		slog(SLOG_WARNING, "identity: durability epoch is now %u: acknowledged writes may have been lost because %s; computes will recover from WAL",
			 id->epoch, why);
	}
	if (id->epoch == 0)
		id->epoch = 1;
	id->boot = boot;
	id->flags = 0;
	return identity_save(datadir, id);
}
