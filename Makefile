# strata: top-level build.
#
#   make              build the extension (PGXS), stratad and stratactl
#   make install      install them into PostgreSQL 15's directories
#   make check        run every test suite (unit, remote storage against a
#                     real radosgw, fuzz, pg_regress, TAP), then
#                     the unit and TAP suites again under ASan + UBSan
#   make check-asan   only the sanitizer runs
#   make check-minors the extension on every other PostgreSQL 15 minor apt
#                     offers: pg_regress there, and a cluster moved to it and
#                     back (tools/minor-versions.sh; downloads with apt-get)
#   make check-fuzz   every libFuzzer target for 15 s (tools/run-fuzz.sh;
#                     STRATA_FUZZ_SECONDS=600 make check-fuzz for longer)
#   make run          install dependencies, build, install, start a demo
#                     compute on the embedded sidecar (tools/run-demo.sh)
#   make bench        pgbench on strata beside vanilla PostgreSQL

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
export PG_CONFIG

.PHONY: all install install-test uninstall clean check check-unit check-remote check-regress check-tap \
	check-asan check-fuzz check-minors run bench deps

all:
	$(MAKE) -C server
	$(MAKE) -C extension

install: all
	$(MAKE) -C server install
	$(MAKE) -C extension install

# stratad-test (stratad with the test hooks), which the TAP suites run.
install-test: all
	$(MAKE) -C server install-test

uninstall:
	$(MAKE) -C server uninstall
	$(MAKE) -C extension uninstall

clean:
	$(MAKE) -C server clean
	$(MAKE) -C extension clean
	$(MAKE) -C bench clean
	rm -rf regress/tmp_check regress/results regress/log regress/regression.*

# Installing needs root; tools/as-root.sh uses sudo when we are not root.
check: all
	tools/as-root.sh $(MAKE) install install-test
	$(MAKE) check-unit
	$(MAKE) check-remote
	$(MAKE) check-fuzz
	tools/run-tests.sh regress
	tools/run-tests.sh tap
	$(MAKE) check-minors
	$(MAKE) check-asan

check-unit:
	$(MAKE) -C server check

# The remote storage suites against a radosgw it starts and stops (tools/ceph-rgw.sh).
check-remote:
	$(MAKE) -C server check-remote

# A private copy of each minor: the system installation is not touched.
check-minors: all
	tools/minor-versions.sh

# Needs clang and libclang-rt-14-dev (tools/deps.txt).
STRATA_FUZZ_SECONDS ?= 15
check-fuzz:
	tools/run-fuzz.sh $(STRATA_FUZZ_SECONDS)

# The extension runs inside the stock (uninstrumented) server, so the
# sanitizers cover stratad, stratactl and the unit tests.
check-asan: all
	$(MAKE) -C server SANITIZE=1
	tools/as-root.sh $(MAKE) -C server SANITIZE=1 install install-test
	tools/as-root.sh $(MAKE) -C extension install
	$(MAKE) -C server SANITIZE=1 check
	$(MAKE) -C server SANITIZE=1 check-remote
	STRATA_ASAN=1 tools/run-tests.sh tap
	$(MAKE) -C server
	tools/as-root.sh $(MAKE) -C server install install-test

run:
	tools/run-demo.sh

deps:
	tools/install-deps.sh

bench: all
	tools/as-root.sh $(MAKE) install
	$(MAKE) -C bench pagebench
	bench/pgbench-compare.sh
