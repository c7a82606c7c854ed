/*-------------------------------------------------------------------------
 *
 * enginebench.c
 *	  Storage-engine benchmarks without a network in between, in one
 *	  process on a scratch directory:
 *
 *	ingest      MiB/s of 8 KiB page images into the open layer, acknowledged
 *	            (in the kernel, not fsynced), then the flush to L0 layers
 *	getpage     random page reads from layer files, per core: hot (OS cache
 *	            warm) and cold (cache dropped with POSIX_FADV_DONTNEED)
 *	read amp    layers visited per read before and after compaction
 *
 *	enginebench [-d DIR] [-m MIB] [-r READS] [-f FREEZE_MIB]
 *
 *-------------------------------------------------------------------------
 */
#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "import.h"
#include "slog.h"
#include "strata_err.h"
#include "tenant.h"
#include "timeline.h"
#include "clock.h"

static const uint8_t TENANT[16] = {0xBE, 0x0C};
static const uint8_t TIMELINE[16] = {0x01};

static void
die(const char *what, int err)
{
	fprintf(stderr, "enginebench: %s: %s\n", what, strata_strerror(err));
	exit(1);
}

static void
drop_cache(const char *dir)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
	{
		char		path[8400];
		int			fd;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((fd = open(path, O_RDONLY)) < 0)
			continue;
		(void) fdatasync(fd);
		(void) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
		close(fd);
	}
	closedir(d);
}

static double
read_random(struct timeline *tl, uint32_t npages, long reads, double *amp)
{
	struct proto_rel rel = {1663, 5, 16384, 0};
	uint8_t		page[PROTO_PAGE_SIZE];
	uint64_t	r0 = atomic_load(&tl->reads);
	uint64_t	v0 = atomic_load(&tl->layers_visited);
	double		t0 = clock_mono_s();

	for (long i = 0; i < reads; i++)
	{
		uint32_t	blk = (uint32_t) (random() % npages);
		int			err = tl_getpage(tl, &rel, blk, LSN_MAX, page);

		if (err != 0)
			die("getpage", err);
	}
	*amp = (double) (atomic_load(&tl->layers_visited) - v0) /
		(double) (atomic_load(&tl->reads) - r0);
	return reads / (clock_mono_s() - t0);
}

int
main(int argc, char **argv)
{
	char		tmpl[] = "/tmp/enginebench.XXXXXX";
	const char *dir = NULL;
	long		mib = 256;
	long		reads = 200000;
	long		freeze_mib = 32;
	struct tl_conf conf;
	struct registry *reg;
	struct timeline *tl;
	struct import_loader ld;
	const struct proto_rel rel = {1663, 5, 16384, 0};
	uint8_t		page[PROTO_PAGE_SIZE];
	uint32_t	npages;
	double		t0,
				t_ingest,
				t_flush,
				amp;
	char		tldir[4200];
	int			c;
	int			err;

	while ((c = getopt(argc, argv, "d:m:r:f:")) != -1)
	{
		switch (c)
		{
			case 'd':
				dir = optarg;
				break;
			case 'm':
				mib = atol(optarg);
				break;
			case 'r':
				reads = atol(optarg);
				break;
			case 'f':
				freeze_mib = atol(optarg);
				break;
			default:
				fprintf(stderr, "usage: enginebench [-d DIR] [-m MIB] [-r READS] [-f FREEZE_MIB]\n");
				return 2;
		}
	}
	if (dir == NULL && (dir = mkdtemp(tmpl)) == NULL)
	{
		perror("mkdtemp");
		return 1;
	}
	slog_set_level(SLOG_WARNING);
	tl_conf_default(&conf);
	conf.freeze_bytes = (uint64_t) freeze_mib << 20;
	conf.compaction_period_ms = 3600 * 1000;
	conf.compaction_threshold = 1000;	/* only when asked */
	conf.image_threshold = 1000;
	if ((err = registry_open(dir, NULL, &conf, &reg)) != 0 ||
		(err = registry_ensure_timeline(reg, TENANT, TIMELINE)) != 0)
		die("open", err);
	tl = registry_timeline(reg, TENANT, TIMELINE);
	npages = (uint32_t) (mib * 1024 * 1024 / PROTO_PAGE_SIZE);

	import_loader_init(&ld, tl, 32, "the benchmark relation");
	if ((err = import_create(&ld, &rel, 1, 0)) != 0)
		die("create", err);
	t0 = clock_mono_s();
	for (uint32_t b = 0; b < npages; b++)
	{
		memset(page, (int) (b & 0xFF), sizeof(page));
		memcpy(page, &b, sizeof(b));
		/* acknowledged in groups of 32, as the page service does per loop iteration */
		if ((err = import_page(&ld, &rel, b, 16 + (lsn_t) b * 64, page)) != 0)
			die("extend", err);
	}
	if ((err = import_flush(&ld)) != 0)
		die("wait", err);
	t_ingest = clock_mono_s() - t0;
	t0 = clock_mono_s();
	if ((err = tl_checkpoint(tl)) != 0)
		die("checkpoint", err);
	t_flush = clock_mono_s() - t0;
	printf("ingest:  %ld MiB of 8 KiB pages acknowledged in %.2f s = %.0f MiB/s "
		   "(%.0f pages/s)\n", mib, t_ingest, mib / t_ingest, npages / t_ingest);
	printf("flush:   frozen layers to L0 files in %.2f s = %.0f MiB/s\n", t_flush, mib / t_flush);

	snprintf(tldir, sizeof(tldir), "%s/tenants/be0c0000000000000000000000000000/timelines/"
			 "01000000000000000000000000000000", dir);
	read_random(tl, npages, reads / 10, &amp);	/* warm */
	printf("getpage: hot  %.0f keys/s on one core, %.2f layers visited per read (L0 only)\n",
		   read_random(tl, npages, reads, &amp), amp);
	drop_cache(tldir);
	printf("getpage: cold %.0f keys/s on one core (first %ld reads after dropping the cache)\n",
		   read_random(tl, npages, reads / 10, &amp), reads / 10);

	tl->conf.compaction_threshold = 2;
	tl->conf.image_threshold = 1;
	t0 = clock_mono_s();
	if ((err = tl_compact(tl)) != 0)
		die("compact", err);
	printf("compact: L0 -> L1 and image layers in %.2f s\n", clock_mono_s() - t0);
	read_random(tl, npages, reads / 10, &amp);
	printf("getpage: hot  %.0f keys/s on one core after compaction, %.2f layers visited per read\n",
		   read_random(tl, npages, reads, &amp), amp);
	registry_close(reg, 0);
	if (dir == tmpl)
	{
		char		cmd[4200];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpl);
		if (system(cmd) != 0)
			fprintf(stderr, "enginebench: could not remove %s\n", tmpl);
	}
	return 0;
}
