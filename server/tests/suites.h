/*
 * suites.h: the Check suites of stratad's modules, one per module, each
 * beside the module it tests (SUBSYSTEM/tests/check_MODULE.c).  The one
 * runner, unit_main.c, runs them all or those named on its command line.
 */
#ifndef STRATA_SUITES_H
#define STRATA_SUITES_H

#include <check.h>

extern Suite *check_proto_suite(void);
extern Suite *check_loopcall_suite(void);
extern Suite *check_identity_suite(void);
extern Suite *check_lsntime_suite(void);
extern Suite *check_manifest_suite(void);
extern Suite *check_bufwriter_suite(void);
extern Suite *check_inmem_log_suite(void);
extern Suite *check_layerfile_suite(void);
extern Suite *check_timeline_suite(void);
extern Suite *check_faults_suite(void);
extern Suite *check_secret_suite(void);
extern Suite *check_tls_suite(void);
extern Suite *check_apiauth_suite(void);
extern Suite *check_pgwire_suite(void);
extern Suite *check_rs_url_suite(void);
extern Suite *check_upload_queue_suite(void);
extern Suite *check_remote_file_suite(void);
extern Suite *check_remote_s3_suite(void);
extern Suite *check_walstore_suite(void);

#endif							/* STRATA_SUITES_H */
