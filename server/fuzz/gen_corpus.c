/*-------------------------------------------------------------------------
 *
 * gen_corpus.c
 *	  Writes the generated seeds of the fuzz corpus (make fuzz-corpus):
 *	  real files made by the real writers (layer_writer_*, manifest_save,
 *	  jsonfile_save, identity_save, inmem_create/append, proto_encode_*),
 *	  so every target starts from inputs that get past its checks, plus a
 *	  few hand-made edge cases (truncated, torn, empty).
 *
 *	  gen_corpus OUTDIR		writes OUTDIR/<target>/gen-*
 *
 * Deterministic apart from nothing: fixed ids, keys, LSNs and page
 * contents, so regenerating changes no seed unless a format changed.
 * Seeds found by fuzzing (regressions) are other files in the same
 * directories and are left alone.
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "bytes.h"
#include "codec.h"
#include "fsutil.h"
#include "fuzz_common.h"
#include "identity.h"
#include "inmem_log.h"
#include "jsonfile.h"
#include "key.h"
#include "layerfile.h"
#include "manifest.h"
#include "proto.h"
#include "slog.h"
#include "value.h"

static const uint8_t tenant[16] = FUZZ_TENANT_ID;
static const uint8_t timeline[16] = FUZZ_TIMELINE_ID;
static const char *outdir;
static char scratch[PATH_MAX];

static void
die(const char *what, int err)
{
	fprintf(stderr, "gen_corpus: %s failed (%d)\n", what, err);
	exit(1);
}

static void
check(const char *what, int err)
{
	if (err != 0)
		die(what, err);
}

/* OUTDIR/target/name := data[0, len) */
static void
put(const char *target, const char *name, const void *data, size_t len)
{
	char		p[PATH_MAX];
	FILE	   *f;

	snprintf(p, sizeof(p), "%s/%s", outdir, target);
	if (mkdir(p, 0755) != 0 && errno != EEXIST)
		die("mkdir", -errno);
	snprintf(p, sizeof(p), "%s/%s/gen-%s", outdir, target, name);
	if ((f = fopen(p, "wb")) == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0)
		die(p, -errno);
}

/* Copy a file the writers made into the corpus, its first len bytes if len. */
static void
put_file(const char *target, const char *name, const char *path, size_t len)
{
	void	   *data;
	size_t		n;

	check(path, fs_read_file(path, &data, &n));
	put(target, name, data, len && len < n ? len : n);
	free(data);
}

static void
make_page(uint8_t *page, uint32_t seed)
{
	/* mostly zero with a header and a tail, like a real heap page */
	memset(page, 0, PROTO_PAGE_SIZE);
	for (int i = 0; i < 64; i++)
		page[i] = (uint8_t) (seed * 31 + i);
	for (int i = PROTO_PAGE_SIZE - 512; i < PROTO_PAGE_SIZE; i++)
		page[i] = (uint8_t) (seed + i / 7);
}

static void
block_key(uint32_t rel, uint32_t blk, uint8_t out[KEY_SIZE])
{
	struct strata_key k = key_block(1663, 5, rel, KEY_FORK_MAIN, blk);

	key_encode(&k, out);
}

/* ---------- pagestream ---------- */

static void
gen_proto(void)
{
	static const uint8_t tags[] = {
		PROTO_EXISTS, PROTO_NBLOCKS, PROTO_GETPAGE, PROTO_DBSIZE, PROTO_GET_SLRU_SEGMENT,
		PROTO_CREATE, PROTO_WRITE, PROTO_EXTEND, PROTO_TRUNCATE, PROTO_UNLINK, PROTO_SYNC,
		PROTO_DROPDB, PROTO_RESET_UNLOGGED, PROTO_TEST,
	};
	static uint8_t buf[PROTO_MAX_FRAME];
	uint8_t		page[PROTO_PAGE_SIZE];
	char		name[64];
	size_t		n;

	make_page(page, 7);
	for (size_t i = 0; i < sizeof(tags); i++)
	{
		struct proto_req req = {
			.tag = tags[i], .reqid = 1000 + i, .request_lsn = 0x1690F28, .nms = 0x1690F00,
			.rel = {1663, 5, 16384, 0}, .blk = 3, .nblocks = 9, .db = 5, .flags = 1,
			.slru_kind = 1, .segno = 2, .test_op = PROTO_TEST_SLEEP_MS, .test_arg = 10,
			.page = page,
		};
		struct proto_resp resp = {
			.exists = 1, .nblocks = 12, .dbsize = 8192 * 12, .stored_lsn = 0x1690F30,
			.count = 2, .page = page,
		};

		snprintf(name, sizeof(name), "%s", proto_tag_name(tags[i]));
		if ((n = proto_encode_req(&req, buf, sizeof(buf))) == 0)
			die("proto_encode_req", tags[i]);
		put("proto_req", name, buf, n);
		/* GET_SLRU_SEGMENT responses are not encodable yet */
		if ((n = proto_encode_resp(&req, &resp, buf, sizeof(buf))) > 0)
			put("proto_resp", name, buf, n);
		if (i == 0)
		{
			n = proto_encode_error(&req, PROTO_E_NOT_FOUND, "relation 1663/5/16384 not found",
								   buf, sizeof(buf));
			put("proto_resp", "error", buf, n);
			n = proto_encode_error(&req, PROTO_E_INTERNAL, "", buf, sizeof(buf));
			put("proto_resp", "error-empty", buf, n);
			/* edge cases: a header alone, an error without its NUL */
			put("proto_req", "edge-header-only", buf, PROTO_HDR_SIZE);
			put("proto_resp", "edge-error-no-nul", buf, n - 1);
		}
	}
}

/* ---------- layer files ---------- */

/*
 * Write a layer of nkeys keys x nver versions (image: nver 1) into the
 * scratch directory with codec c; its path goes to path.  Values cycle
 * through page images, zero pages and size entries.
 */
static void
write_layer(enum layer_kind kind, enum codec c, uint32_t nkeys, uint32_t nver,
			char path[PATH_MAX])
{
	struct layer_writer *w;
	struct layer_desc d;
	uint8_t		key[KEY_SIZE];
	uint8_t		lo[KEY_SIZE];
	uint8_t		hi[KEY_SIZE];
	uint8_t		val[VAL_MAX];
	char		name[LAYER_NAME_MAX];
	lsn_t		lsn0 = 0x1000000;

	codec_set_default(c);
	check("layer_writer_begin", layer_writer_begin(scratch, kind, tenant, timeline, 3, &w));
	for (uint32_t k = 0; k < nkeys; k++)
	{
		block_key(16384, k, key);
		for (uint32_t v = 0; v < nver; v++)
		{
			uint32_t	len;

			switch ((k + v) % 3)
			{
				case 0:
					val[0] = VAL_IMAGE;
					val[1] = 1;
					make_page(val + VAL_HDR, k * 16 + v);
					len = VAL_MAX;
					break;
				case 1:
					val[0] = VAL_ZERO;
					val[1] = 1;
					len = VAL_HDR;
					break;
				default:
					len = value_put_size(val, k + v);
					break;
			}
			check("layer_writer_add",
				  layer_writer_add(w, key, lsn0 + (kind == LAYER_IMAGE ? 0 : v * 0x100), val, len));
		}
	}
	block_key(16384, 0, lo);
	block_key(16384, nkeys, hi);
	check("layer_writer_finish",
		  layer_writer_finish(w, lo, hi, lsn0,
							  kind == LAYER_IMAGE ? lsn0 + 1 : lsn0 + nver * 0x100, &d, name,
							  sizeof(name)));
	snprintf(path, PATH_MAX, "%s/%s", scratch, name);
}

static void
gen_layerfile(void)
{
	char		path[PATH_MAX];

	write_layer(LAYER_DELTA, CODEC_LZ4, 12, 3, path);
	put_file("layerfile", "delta-lz4", path, 0);
	/* edge cases: the summary and a little, the summary alone */
	put_file("layerfile", "edge-truncated", path, 8192 + 700);
	put_file("layerfile", "edge-summary-only", path, 8192);
	unlink(path);
	write_layer(LAYER_DELTA, CODEC_NONE, 4, 2, path);
	put_file("layerfile", "delta-raw", path, 0);
	unlink(path);
	/* more than one leaf: an inner root over three of them */
	write_layer(LAYER_DELTA, CODEC_LZ4, 300, 2, path);
	put_file("layerfile", "delta-3-leaves", path, 0);
	unlink(path);
	write_layer(LAYER_IMAGE, CODEC_ZSTD, 16, 1, path);
	put_file("layerfile", "image-zstd", path, 0);
	unlink(path);
	write_layer(LAYER_IMAGE, CODEC_LZ4, 1, 1, path);
	put_file("layerfile", "image-one", path, 0);
	unlink(path);
	codec_set_default(CODEC_LZ4);
}

/* ---------- manifests and other envelopes ---------- */

static void
gen_manifest(void)
{
	struct manifest m;
	struct manifest_layer layers[3];
	struct layer_desc d = {.kind = LAYER_DELTA, .generation = 2};
	char		path[PATH_MAX];

	memset(&m, 0, sizeof(m));
	memcpy(m.tenant, tenant, 16);
	memcpy(m.timeline, timeline, 16);
	m.disk_consistent_lsn = 0x4000000;
	m.gc_cutoff = 0x1000000;
	m.generation = 3;
	lsntime_init(&m.lsntime);
	lsntime_note(&m.lsntime, 1700000000, 0x1000000);
	lsntime_note(&m.lsntime, 1700000600, 0x2000000);
	lsntime_note(&m.lsntime, 1700001200, 0x3000000);
	block_key(16384, 0, d.key_start);
	block_key(16384, 100, d.key_end);
	for (int i = 0; i < 3; i++)
	{
		d.kind = i == 2 ? LAYER_IMAGE : LAYER_DELTA;
		d.lsn_start = 0x1000000 * (uint64_t) (i + 1);
		d.lsn_end = i == 2 ? d.lsn_start + 1 : d.lsn_start + 0x1000000;
		check("layer_format_name", layer_format_name(&d, layers[i].name, sizeof(layers[i].name)));
		layers[i].size = 40960 + i;
	}
	m.layers = layers;
	m.nlayers = 3;
	snprintf(path, sizeof(path), "%s/manifest", scratch);
	check("manifest_save", manifest_save(scratch, &m));
	put_file("manifest", "layers", path, 0);

	/* a branch: ancestor, no layers of its own, deleting */
	m.has_ancestor = 1;
	memcpy(m.ancestor, tenant, 16);
	m.ancestor_lsn = 0x2000000;
	m.nlayers = 0;
	m.deleting = 1;
	check("manifest_save", manifest_save(scratch, &m));
	put_file("manifest", "branch", path, 0);

	/* a new timeline: nothing at all */
	memset(&m, 0, sizeof(m));
	lsntime_init(&m.lsntime);
	check("manifest_save", manifest_save(scratch, &m));
	put_file("manifest", "empty", path, 0);
	put_file("manifest", "edge-truncated", path, 40);
	unlink(path);
}

static void
gen_jsonfile(void)
{
	char		path[PATH_MAX];
	json_t	   *o;

	snprintf(path, sizeof(path), "%s/config", scratch);
	o = json_pack("{s:i, s:{s:i, s:i}, s:I, s:i}", "generation", 4, "getpage_throttle",
				  "rate_per_sec", 1000, "burst", 100, "gc_horizon", (json_int_t) 67108864,
				  "pitr_interval", 3600);
	check("jsonfile_save", jsonfile_save(path, "STRATATC", 1, o));
	json_decref(o);
	put_file("jsonfile", "config", path, 0);
	o = json_pack("{s:i, s:n}", "generation", 1, "gc_horizon");
	check("jsonfile_save", jsonfile_save(path, "STRATATC", 1, o));
	json_decref(o);
	put_file("jsonfile", "config-minimal", path, 0);
	unlink(path);
}

static void
gen_identity(void)
{
	struct identity id = {.sysid = 7301234567890123456ULL, .import = IMPORT_COMPLETE,
	.epoch = 4, .boot = 0x1234567890ABCDEFULL, .flags = IDENTITY_CLEAN};
	uint8_t		v1[64];
	char		path[PATH_MAX];

	memcpy(id.tenant, tenant, 16);
	memcpy(id.timeline, timeline, 16);
	snprintf(path, sizeof(path), "%s/identity", scratch);
	check("identity_save", identity_save(scratch, &id));
	put_file("identity", "v2", path, 0);
	unlink(path);

	/* version 1, as the first releases wrote it: no epoch, boot or flags */
	memset(v1, 0, sizeof(v1));
	memcpy(v1, "STRATAID", 8);
	put_le32(v1 + 8, 1);
	put_le32(v1 + 12, 64);
	memcpy(v1 + 16, tenant, 16);
	memcpy(v1 + 32, timeline, 16);
	put_le64(v1 + 48, id.sysid);
	put_le32(v1 + 56, IMPORT_IMPORTED);
	fuzz_seal_crc(v1, 60);
	put("identity", "v1", v1, sizeof(v1));
	put("identity", "hex-id", "7e4a1100000000000000000000000001", 32);
}

/* ---------- write logs ---------- */

/* The flush thread's progress: the generator waits in inmem_freeze instead. */
static void
ignore_progress(void *arg)
{
	(void) arg;
}

static void
gen_inmem_log(void)
{
	struct inmem *m;
	uint8_t		key[KEY_SIZE];
	uint8_t		val[VAL_MAX];
	char		path[PATH_MAX];
	uint64_t	end;
	uint64_t	first_end = 0;
	uint64_t	complete_end;

	check("inmem_create", inmem_create(scratch, tenant, timeline, 0x1000000, 1 << 16, ignore_progress, NULL,
									&m));
	snprintf(path, sizeof(path), "%s", m->path);
	put_file("inmem_log", "header-only", path, 0);
	for (uint32_t i = 0; i < 6; i++)
	{
		uint32_t	len;

		block_key(16384, i % 3, key);
		if (i % 2 == 0)
		{
			val[0] = VAL_IMAGE;
			val[1] = 1;
			make_page(val + VAL_HDR, i);
			len = VAL_MAX;
		}
		else
			len = value_put_size(val, i);
		check("inmem_append", inmem_append(m, key, 0x1000000 + i * 0x28, val, len, 0, &end));
		if (first_end == 0)
			first_end = end;
	}
	/* a change of three records (format 2: "more" on all but the last) */
	for (uint32_t i = 0; i < 3; i++)
	{
		block_key(16385 + i, KEY_BLK_SIZE, key);
		check("inmem_append", inmem_append(m, key, 0x1000180, val, value_put_size(val, 0), i < 2,
										   &end));
	}
	block_key(16384, KEY_BLK_SIZE, key);
	val[0] = VAL_DROPPED;
	val[1] = 1;
	check("inmem_append", inmem_append(m, key, 0x1000200, val, VAL_HDR, 0, &end));
	complete_end = end;
	/* a crash inside a change: its last record never written */
	block_key(16390, KEY_BLK_SIZE, key);
	check("inmem_append", inmem_append(m, key, 0x1000210, val, value_put_size(val, 0), 1, &end));
	bw_submit(m->bw);
	check("inmem_freeze", inmem_freeze(m, 0x1000211));
	put_file("inmem_log", "edge-incomplete-change", path, 0);
	check("ftruncate", ftruncate(m->fd, (off_t) complete_end));
	put_file("inmem_log", "records", path, 0);
	/* a crash mid-append: the last record torn */
	put_file("inmem_log", "edge-torn", path, first_end + 100);
	inmem_free(m, 1);
}

int
main(int argc, char **argv)
{
	if (argc != 2)
	{
		fprintf(stderr, "usage: gen_corpus OUTDIR\n");
		return 2;
	}
	outdir = argv[1];
	slog_set_level(SLOG_ERROR);
	snprintf(scratch, sizeof(scratch), "/tmp/strata-gen-corpus.XXXXXX");
	if (mkdtemp(scratch) == NULL)
		die("mkdtemp", -errno);
	gen_proto();
	gen_layerfile();
	gen_manifest();
	gen_jsonfile();
	gen_identity();
	gen_inmem_log();
	if (rmdir(scratch) != 0)
		die("rmdir (files left behind)", -errno);
	return 0;
}
