/*
 * unit_main.c: the one runner of stratad's unit tests.
 *
 *	unit_tests            run every suite
 *	unit_tests NAME ...   run only the named suites (e.g. "timeline")
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
}			suites[] =
{
	{"proto", check_proto_suite},
	{"loopcall", check_loopcall_suite},
	{"identity", check_identity_suite},
	{"lsntime", check_lsntime_suite},
	{"manifest", check_manifest_suite},
	{"bufwriter", check_bufwriter_suite},
	{"inmem_log", check_inmem_log_suite},
	{"layerfile", check_layerfile_suite},
	{"timeline", check_timeline_suite},
	{"faults", check_faults_suite},
	{"secret", check_secret_suite},
	{"apiauth", check_apiauth_suite},
	{"pgwire", check_pgwire_suite},
	{"rs_url", check_rs_url_suite},
	{"upload_queue", check_upload_queue_suite},
};

#define NSUITES (sizeof(suites) / sizeof(suites[0]))

static int
wanted(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
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
		if (!wanted(suites[j].name, argc, argv))
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
