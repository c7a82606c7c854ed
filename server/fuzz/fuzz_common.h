/*-------------------------------------------------------------------------
 *
 * fuzz_common.h
 *	  What the libFuzzer targets in server/fuzz/ share (issue 12): quiet
 *	  logging, turning an input into a file the code under test can open,
 *	  and re-sealing checksums so mutations get past them.
 *
 * Each target is one fuzz_<name>.c defining LLVMFuzzerTestOneInput, and
 * one line in fuzz/targets.mk; its seeds live in fuzz/corpus/<name>/.
 * A target must free everything it allocates per input (LeakSanitizer
 * runs at exit) and write files only through these helpers, which keep
 * them in memory (memfd) or in one per-process directory under $TMPDIR
 * that is removed at exit.
 *
 * Checksums: nearly every byte of our formats sits under a CRC-32C, so a
 * random mutation is almost always rejected by the first check and the
 * fuzzer never reaches the parsing behind it.  The file targets therefore
 * run each input twice: as it is, and "sealed" (lengths and CRCs recomputed
 * by the target's own sealer), which lets mutations of the structure reach
 * the code that trusts a verified block.
 *
 * Runs in one thread of a fuzzing process; nothing here is thread-safe.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STRATA_FUZZ_COMMON_H
#define STRATA_FUZZ_COMMON_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

/* The ids the seed generator writes into every file that carries them. */
#define FUZZ_TENANT_ID		{0x7e, 0x4a, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01}
#define FUZZ_TIMELINE_ID	{0x7e, 0x4a, 0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02}

/* The libFuzzer entry point every target defines. */
extern int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

/*
 * Once per process, from every target's first input: send slog to
 * /dev/null (STRATA_FUZZ_LOG=1 keeps it on stderr, for reproducing).
 */
extern void fuzz_init(void);

/*
 * An anonymous in-memory file holding data; path gets a name for it that
 * open(2) accepts (/proc/self/fd/N).  Returns the fd (the caller closes
 * it), or aborts: the harness, not the input, has failed then.
 */
extern int	fuzz_memfile(const uint8_t *data, size_t len, char path[PATH_MAX]);

/*
 * The per-process scratch directory (created on first use under $TMPDIR
 * or /tmp, removed with its files at exit), for code that takes a
 * directory rather than a path.
 */
extern const char *fuzz_dir(void);

/* Replace fuzz_dir()/name with data (no fsync: scratch only); aborts on error. */
extern void fuzz_put_file(const char *name, const uint8_t *data, size_t len);

/* A malloc'd copy of data (aborts when out of memory); the caller frees. */
extern uint8_t *fuzz_copy(const uint8_t *data, size_t len);

/* Store the CRC-32C of buf[0, len) little-endian at buf + len. */
extern void fuzz_seal_crc(uint8_t *buf, size_t len);

#endif							/* STRATA_FUZZ_COMMON_H */
