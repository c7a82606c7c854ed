/*-------------------------------------------------------------------------
 *
 * codec.c
 *	  Layer value compression (see codec.h).
 *
 *-------------------------------------------------------------------------
 */
#include "codec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <lz4.h>
#include <zstd.h>

#define ZSTD_LEVEL		1
#define MIN_LEN			256		/* shorter values are stored raw */

static _Atomic int default_codec = CODEC_LZ4;

/*
 * zstd contexts per thread, kept: ZSTD_decompress() builds and clears a
 * fresh ~100 KiB context on every call, which costs more than the
 * decompression itself.
 */
static __thread ZSTD_DCtx *tls_dctx;
static __thread ZSTD_CCtx *tls_cctx;
static pthread_key_t dctx_key;
static pthread_key_t cctx_key;
static pthread_once_t keys_once = PTHREAD_ONCE_INIT;

static void
dctx_free(void *p)
{
	ZSTD_freeDCtx(p);
}

static void
cctx_free(void *p)
{
	ZSTD_freeCCtx(p);
}

static void
keys_init(void)
{
	(void) pthread_key_create(&dctx_key, dctx_free);
	(void) pthread_key_create(&cctx_key, cctx_free);
}

static ZSTD_CCtx *
cctx(void)
{
	if (tls_cctx == NULL)
	{
		pthread_once(&keys_once, keys_init);
		if ((tls_cctx = ZSTD_createCCtx()) != NULL)
			(void) pthread_setspecific(cctx_key, tls_cctx);
	}
	return tls_cctx;
}

static ZSTD_DCtx *
dctx(void)
{
	if (tls_dctx == NULL)
	{
		pthread_once(&keys_once, keys_init);
		if ((tls_dctx = ZSTD_createDCtx()) != NULL)
			(void) pthread_setspecific(dctx_key, tls_dctx);
	}
	return tls_dctx;
}

static const char *const names[] = {
	[CODEC_NONE] = "none", [CODEC_ZSTD] = "zstd", [CODEC_LZ4] = "lz4",
};

int
codec_parse(const char *name, enum codec *out)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
		{
			*out = (enum codec) i;
			return 0;
		}
	return -1;
}

const char *
codec_name(enum codec c)
{
	return (unsigned) c < sizeof(names) / sizeof(names[0]) ? names[c] : "unknown";
}

void
codec_set_default(enum codec c)
{
	atomic_store(&default_codec, (int) c);
}

enum codec
codec_default(void)
{
	return (enum codec) atomic_load(&default_codec);
}

size_t
codec_bound(enum codec c, size_t len)
{
	switch (c)
	{
		case CODEC_ZSTD:
			return ZSTD_compressBound(len);
		case CODEC_LZ4:
			return (size_t) LZ4_compressBound((int) len);
		default:
			return len;
	}
}

size_t
codec_compress(enum codec c, const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	size_t		n = 0;

	if (len < MIN_LEN)
		return 0;
	if (c == CODEC_ZSTD)
	{
		n = cctx() ? ZSTD_compressCCtx(tls_cctx, dst, cap, src, len, ZSTD_LEVEL)
			: ZSTD_compress(dst, cap, src, len, ZSTD_LEVEL);
		if (ZSTD_isError(n))
			n = 0;
	}
	else if (c == CODEC_LZ4)
	{
		int			r = LZ4_compress_default((const char *) src, (char *) dst, (int) len, (int) cap);

		n = r > 0 ? (size_t) r : 0;
	}
	/* worth it only when it saves at least an eighth */
	return n > 0 && n <= len - len / 8 ? n : 0;
}

long
codec_decompress(enum codec c, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
				 const char **why)
{
	if (c == CODEC_ZSTD)
	{
		size_t		n = dctx() ? ZSTD_decompressDCtx(tls_dctx, dst, cap, src, len)
			: ZSTD_decompress(dst, cap, src, len);

		if (!ZSTD_isError(n))
			return (long) n;
		*why = ZSTD_getErrorName(n);
		return -1;
	}
	if (c == CODEC_LZ4)
	{
		int			n = LZ4_decompress_safe((const char *) src, (char *) dst, (int) len, (int) cap);

		if (n >= 0)
			return n;
		*why = "malformed LZ4 data";
		return -1;
	}
	*why = "unknown compression";
	return -1;
}
