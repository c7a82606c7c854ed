/*
 * unit_main.c: the one runner of stratad's unit tests.
 *
 *	unit_tests            run every suite but those marked "named only"
 *	unit_tests NAME ...   run only the named suites (e.g. "timeline")
 *
 * A named-only suite needs a service a plain run does not have (remote_s3:
 * an S3 server, started by `make -C server check-remote`); it runs only
 * when named, and then fails, never skips, if the service is missing.
 *
 * Each test runs in a child process (CK_FORK, Check's default), so a crash
 * fails that test only.  Exit status 0 only if every test passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suites.h"

static const struct
{
	const char *name;
	Suite	   *(*make) (void);
	int			named_only;
}			suites[] =
{
	{"proto", check_proto_suite, 0},
	{"loopcall", check_loopcall_suite, 0},
	{"identity", check_identity_suite, 0},
	{"lsntime", check_lsntime_suite, 0},
	{"manifest", check_manifest_suite, 0},
	{"bufwriter", check_bufwriter_suite, 0},
	{"inmem_log", check_inmem_log_suite, 0},
	{"layerfile", check_layerfile_suite, 0},
	{"timeline", check_timeline_suite, 0},
	{"faults", check_faults_suite, 0},
	{"secret", check_secret_suite, 0},
	{"tls", check_tls_suite, 0},
	{"apiauth", check_apiauth_suite, 0},
	{"pgwire", check_pgwire_suite, 0},
	{"rs_url", check_rs_url_suite, 0},
	{"upload_queue", check_upload_queue_suite, 0},
	{"remote_file", check_remote_file_suite, 0},
	{"remote_s3", check_remote_s3_suite, 1},
	{"walstore", check_walstore_suite, 0},
};

#define NSUITES (sizeof(suites) / sizeof(suites[0]))

static int
wanted(const char *name, int named_only, int argc, char **argv)
{
	if (argc < 2)
		return !named_only;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	SRunner    *sr = NULL;
	int			failed;

	for (int i = 1; i < argc; i++)
	{
		size_t		j;

		for (j = 0; j < NSUITES && strcmp(suites[j].name, argv[i]) != 0; j++)
			;
		if (j == NSUITES)
		{
			fprintf(stderr, "unit_tests: no suite \"%s\"\n", argv[i]);
			return EXIT_FAILURE;
		}
	}
	for (size_t j = 0; j < NSUITES; j++)
	{
		if (!wanted(suites[j].name, suites[j].named_only, argc, argv))
			continue;
		if (sr == NULL)
			sr = srunner_create(suites[j].make());
		else
			srunner_add_suite(sr, suites[j].make());
	}
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
