/*-------------------------------------------------------------------------
 *
 * codec.h
 *	  Compression of layer values (ARCHITECTURE.md 5.3): one codec per
 *	  blob, named by the blob's flag byte, so files with mixed codecs read
 *	  fine.  LZ4 is the default for new files: a page is read far more
 *	  often than it is written, and LZ4 decompresses an 8 KiB PostgreSQL
 *	  page 5-10x faster than zstd level 1 (docs/benchmarks.md) for a
 *	  somewhat larger file.  zstd stays readable and selectable.
 *
 * Threads: everything may run on many threads at once; zstd contexts
 * are kept per thread (freed at thread exit).
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_CODEC_H
#define STRATA_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* Values are the blob flag byte. */
enum codec
{
	CODEC_NONE = 0,
	CODEC_ZSTD = 1,
	CODEC_LZ4 = 2,
};

/* "none", "zstd", "lz4" -> codec; -1 if unknown. */
extern int	codec_parse(const char *name, enum codec *out);
extern const char *codec_name(enum codec c);

/* The codec new layer files use (process-wide; default LZ4). */
extern void codec_set_default(enum codec c);
extern enum codec codec_default(void);

/* Room compressing len bytes may need. */
extern size_t codec_bound(enum codec c, size_t len);

/*
 * Compress src into dst (cap >= codec_bound(c, len)).  Returns the
 * compressed length, or 0 when compressing does not pay (store it raw).
 */
extern size_t codec_compress(enum codec c, const uint8_t *src, size_t len, uint8_t *dst,
							 size_t cap);

/*
 * Decompress into dst (at most cap bytes); returns the length, or -1 with
 * *why saying what failed (corrupt input, unknown codec).
 */
extern long codec_decompress(enum codec c, const uint8_t *src, size_t len, uint8_t *dst,
							 size_t cap, const char **why);

#endif							/* STRATA_CODEC_H */
