/*-------------------------------------------------------------------------
 *
 * tablepatch.c
 *	  Find and patch smgrsw, syncsw, fmgr_builtins and RmgrTable in the
 *	  running server executable (see tablepatch.h).
 *
 * smgrsw and syncsw are file-static, so no symbol names them; but every
 * word of each is an exported function or NULL, so we search the
 * executable's loaded segments, pointer-aligned, for the exact pattern and
 * require one match.  In a PIE both live in .data.rel.ro under RELRO, which
 * is only a private mapping ld.so made read-only: mprotect() opens the one
 * page, we store, and restore the loader's protection.  The first write
 * gives the postmaster a private copy of the page that children share.
 *
 * Four smgrsw slots (init, shutdown, open, immedsync) are dead in Debian's
 * 15.18 and 15.20 builds: gcc folded their call sites to direct md calls.
 * Nothing strata needs depends on that (md's own functions or wrappers
 * that are correct either way sit there; smgr.c), and which slots are
 * really reached is not assumed: smgrprobe.c proves it per build after
 * this module has patched.  Here, after writing, each size function is
 * looked up through fmgr as a backend would, and RmgrTable is re-read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include "access/clog.h"
#include "access/commit_ts.h"
#include "access/multixact.h"
#include "access/xlog_internal.h"
#include "commands/dbcommands_xlog.h"
#include "storage/md.h"
#include "utils/fmgrtab.h"

#include "tablepatch.h"

#if PG_VERSION_NUM / 10000 != 15
#error "strata mirrors PostgreSQL 15's private smgrsw and syncsw layouts"
#endif

#define SMGR_NWORDS (sizeof(strata_f_smgr) / sizeof(void *))

StaticAssertDecl(sizeof(strata_f_smgr) == 15 * sizeof(void *),
				 "f_smgr must be 15 pointers without padding");

typedef union smgr_image
{
	strata_f_smgr fn;
	void	   *word[SMGR_NWORDS];
} smgr_image;

/* smgrsw[0] exactly as smgr.c initializes it. */
static const smgr_image md_image = {.fn = {
		.smgr_init = mdinit,
		.smgr_shutdown = NULL,
		.smgr_open = mdopen,
		.smgr_close = mdclose,
		.smgr_create = mdcreate,
		.smgr_exists = mdexists,
		.smgr_unlink = mdunlink,
		.smgr_extend = mdextend,
		.smgr_prefetch = mdprefetch,
		.smgr_read = mdread,
		.smgr_write = mdwrite,
		.smgr_writeback = mdwriteback,
		.smgr_nblocks = mdnblocks,
		.smgr_truncate = mdtruncate,
		.smgr_immedsync = mdimmedsync,
}};

/* PostgreSQL 15's private SyncOps (src/backend/storage/sync/sync.c). */
typedef struct strata_syncops
{
	int			(*sync_syncfiletag) (const FileTag *ftag, char *path);
	int			(*sync_unlinkfiletag) (const FileTag *ftag, char *path);
	bool		(*sync_filetagmatches) (const FileTag *ftag,
										const FileTag *candidate);
} strata_syncops;

#define SYNC_NWORDS (SYNC_HANDLER_NONE * sizeof(strata_syncops) / sizeof(void *))

typedef union syncsw_image
{
	strata_syncops ops[SYNC_HANDLER_NONE];
	void	   *word[SYNC_NWORDS];
} syncsw_image;

#define MD_SYNC_WORD \
	(offsetof(syncsw_image, ops[SYNC_HANDLER_MD].sync_syncfiletag) / sizeof(void *))

/* syncsw exactly as sync.c initializes it: one md entry, four SLRUs. */
static const syncsw_image syncsw_orig = {.ops = {
		[SYNC_HANDLER_MD] = {
			.sync_syncfiletag = mdsyncfiletag,
			.sync_unlinkfiletag = mdunlinkfiletag,
			.sync_filetagmatches = mdfiletagmatches,
		},
		[SYNC_HANDLER_CLOG] = {.sync_syncfiletag = clogsyncfiletag},
		[SYNC_HANDLER_COMMIT_TS] = {.sync_syncfiletag = committssyncfiletag},
		[SYNC_HANDLER_MULTIXACT_OFFSET] =
		{.sync_syncfiletag = multixactoffsetssyncfiletag},
		[SYNC_HANDLER_MULTIXACT_MEMBER] =
		{.sync_syncfiletag = multixactmemberssyncfiletag},
}};

/* ---------- the executable's image ---------- */

static ElfW(Addr) img_bias;
static const ElfW(Phdr) *img_phdr;
static int	img_phnum;
static uintptr_t img_pagesz;

static int
img_phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	/* glibc reports the main program first */
	img_bias = info->dlpi_addr;
	img_phdr = info->dlpi_phdr;
	img_phnum = info->dlpi_phnum;
	return 1;
}

/*
 * Count pointer-aligned copies of pattern in every readable segment of the
 * executable, so that a second copy anywhere is reported as ambiguous
 * rather than missed.  Our own copy lives in strata.so, never searched.
 */
static int
img_find(void *const *pattern, int n, void ***first)
{
	int			matches = 0;

	for (int i = 0; i < img_phnum; i++)
	{
		const ElfW(Phdr) *ph = &img_phdr[i];
		uintptr_t	end = img_bias + ph->p_vaddr + ph->p_memsz;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_R))
			continue;
		for (void **p = (void **) TYPEALIGN(sizeof(void *), img_bias + ph->p_vaddr);
			 (uintptr_t) (p + n) <= end; p++)
		{
			if (p[0] != pattern[0] || memcmp(p, pattern, n * sizeof(void *)) != 0)
				continue;
			if (matches++ == 0)
				*first = p;
		}
	}
	return matches;
}

/*
 * The protection ld.so left on addr's page: RELRO pages are read-only (ld.so
 * rounds RELRO's bounds down to pages, and so do we), others keep their
 * segment's flags.
 */
static int
img_prot(uintptr_t addr)
{
	uintptr_t	page = TYPEALIGN_DOWN(img_pagesz, addr);
	int			prot = -1;

	for (int i = 0; i < img_phnum; i++)
	{
		const ElfW(Phdr) *ph = &img_phdr[i];
		uintptr_t	start = img_bias + ph->p_vaddr;
		uintptr_t	end = start + ph->p_memsz;

		if (ph->p_type == PT_GNU_RELRO &&
			page >= TYPEALIGN_DOWN(img_pagesz, start) &&
			page < TYPEALIGN_DOWN(img_pagesz, end))
			return PROT_READ;
		if (ph->p_type == PT_LOAD && addr >= start && addr < end)
			prot = ((ph->p_flags & PF_R) ? PROT_READ : 0) |
				((ph->p_flags & PF_W) ? PROT_WRITE : 0) |
				((ph->p_flags & PF_X) ? PROT_EXEC : 0);
	}
	if (prot < 0)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: address %p is not in the server executable",
						(void *) addr)));
	return prot;
}

/* Overwrite one aligned word that must still hold expected. */
static void
img_poke(void **slot, void *expected, void *value)
{
	void	   *page = (void *) TYPEALIGN_DOWN(img_pagesz, (uintptr_t) slot);
	int			prot = img_prot((uintptr_t) slot);
	bool		readonly = (prot & PROT_WRITE) == 0;

	if (*slot != expected)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: server executable word at %p does not hold the pointer to be replaced",
						(void *) slot),
				 errdetail("It holds %p; %p was expected.", *slot, expected)));
	if (readonly && mprotect(page, img_pagesz, prot | PROT_WRITE) != 0)
		ereport(FATAL,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("strata: could not make server executable page %p writable: %m", page)));
	*slot = value;
	if (readonly && mprotect(page, img_pagesz, prot) != 0)
		ereport(FATAL,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("strata: could not restore protection of server executable page %p: %m", page)));
}

/* ---------- locating ---------- */

static void **
locate_table(void *const *pattern, int nwords, const char *name, const char *shape)
{
	void	  **table = NULL;
	int			matches = img_find(pattern, nwords, &table);

	if (matches != 1)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: found %d copies of the table \"%s\" in the server executable, expected exactly 1",
						matches, name),
				 errdetail("The table searched for is %s.", shape),
				 errhint("This server was not built from the PostgreSQL 15 source strata was verified against; strata refuses to guess.")));
	return table;
}

static const FmgrBuiltin *
locate_builtin(const strata_builtin_patch *b)
{
	const FmgrBuiltin *entry = NULL;
	int			matches = 0;

	for (int i = 0; i < fmgr_nbuiltins; i++)
	{
		if (strcmp(fmgr_builtins[i].funcName, b->name) != 0)
			continue;
		if (matches++ == 0)
			entry = &fmgr_builtins[i];
	}
	if (matches != 1)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: found %d entries named \"%s\" in fmgr_builtins, expected 1",
						matches, b->name)));
	if (entry->func != b->real)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: fmgr_builtins entry \"%s\" does not point to the exported function of that name",
						b->name),
				 errdetail("The entry holds %p; the symbol is at %p.",
						   (void *) entry->func, (void *) b->real)));
	if (entry->foid > fmgr_last_builtin_oid ||
		fmgr_builtin_oid_index[entry->foid] != entry - fmgr_builtins)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: fmgr_builtin_oid_index does not lead to the fmgr_builtins entry \"%s\" (OID %u)",
						b->name, entry->foid)));
	return entry;
}

/* ---------- JIT steering ---------- */

#define MAX_PATCHED_BUILTINS 16
static Oid	patched_oids[MAX_PATCHED_BUILTINS];
static int	n_patched_oids;
static needs_fmgr_hook_type prev_needs_fmgr_hook;

/*
 * The JIT calls an internal function by its C symbol, skipping
 * fmgr_builtins; answering true here routes it through fmgr_info(), which
 * finds our entry.  The interpreter never asks for built-ins.
 */
static bool
tablepatch_needs_fmgr_hook(Oid fn_oid)
{
	for (int i = 0; i < n_patched_oids; i++)
	{
		if (patched_oids[i] == fn_oid)
			return true;
	}
	return prev_needs_fmgr_hook ? prev_needs_fmgr_hook(fn_oid) : false;
}

/*
 * After patching: fmgr_info() (the interpreter's path, fmgr_isbuiltin()'s
 * OID index) must resolve the OID to the replacement, and the JIT must be
 * told to go through fmgr for it.  Safe in the postmaster: built-ins are
 * resolved without catalog access.
 */
static void
verify_builtin(const strata_builtin_patch *b, Oid foid)
{
	FmgrInfo	flinfo;

	fmgr_info(foid, &flinfo);
	if (flinfo.fn_addr != b->replacement || !needs_fmgr_hook(foid))
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: the built-in function \"%s\" (OID %u) does not resolve to strata's replacement after patching",
						b->name, foid),
				 errdetail("fmgr_info() found %p; strata's function is at %p.",
						   (void *) flinfo.fn_addr, (void *) b->replacement)));
}

/* ---------- install ---------- */

void
tablepatch_install(const strata_f_smgr *smgr,
			  int (*md_sync) (const FileTag *ftag, char *path),
			  const strata_builtin_patch *builtins, int nbuiltins,
			  void (*dbase_redo_wrapper) (XLogReaderState *record))
{
	smgr_image	repl;
	void	  **smgrsw;
	void	  **syncsw;
	const FmgrBuiltin *entries[MAX_PATCHED_BUILTINS];

	if (nbuiltins > MAX_PATCHED_BUILTINS)
		elog(FATAL, "strata: too many built-in patches");

	dl_iterate_phdr(img_phdr_cb, NULL);
	img_pagesz = (uintptr_t) sysconf(_SC_PAGESIZE);

	/* Locate and verify everything before writing anything. */
	smgrsw = locate_table(md_image.word, SMGR_NWORDS, "smgrsw",
						  "{mdinit, NULL, mdopen, mdclose, ..., mdimmedsync}");
	syncsw = locate_table(syncsw_orig.word, SYNC_NWORDS, "syncsw",
						  "{mdsyncfiletag, mdunlinkfiletag, mdfiletagmatches, clogsyncfiletag, NULL, NULL, ...}");
	for (int i = 0; i < nbuiltins; i++)
		entries[i] = locate_builtin(&builtins[i]);
	if (RmgrTable[RM_DBASE_ID].rm_redo != dbase_redo)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: RmgrTable entry for \"Database\" does not hold dbase_redo")));

	/* Write. */
	repl.fn = *smgr;
	for (int i = 0; i < (int) SMGR_NWORDS; i++)
	{
		if (repl.word[i] != md_image.word[i])
			img_poke(&smgrsw[i], md_image.word[i], repl.word[i]);
	}
	img_poke(&syncsw[MD_SYNC_WORD], syncsw_orig.word[MD_SYNC_WORD], (void *) md_sync);
	for (int i = 0; i < nbuiltins; i++)
	{
		img_poke((void **) unconstify(PGFunction *, &entries[i]->func),
				 (void *) builtins[i].real, (void *) builtins[i].replacement);
		patched_oids[n_patched_oids++] = entries[i]->foid;
	}
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = tablepatch_needs_fmgr_hook;

	/* RmgrTable is writable data in 15 (custom resource managers). */
	RmgrTable[RM_DBASE_ID].rm_redo = dbase_redo_wrapper;

	/* Prove the patches are what a lookup now finds. */
	for (int i = 0; i < nbuiltins; i++)
		verify_builtin(&builtins[i], entries[i]->foid);
	if (GetRmgr(RM_DBASE_ID).rm_redo != dbase_redo_wrapper)
		ereport(FATAL,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("strata: the resource manager \"Database\" does not redo through strata after patching")));

	ereport(LOG,
			(errmsg("strata: storage manager installed (smgrsw at postgres+0x%lx, syncsw at postgres+0x%lx, %d size functions)",
					(unsigned long) ((uintptr_t) smgrsw - img_bias),
					(unsigned long) ((uintptr_t) syncsw - img_bias),
					nbuiltins)));
}
