#!/usr/bin/env bash
# Run one test suite against the installed strata: "regress" (pg_regress on
# a compute on strata) or "tap" (PostgreSQL::Test::Cluster scenarios).
#
# PostgreSQL refuses to run as root, so as root the suite is copied to a
# scratch directory owned by the "postgres" user (created by the Debian
# package) and run as that user; otherwise it runs in place.  A suite that
# cannot run fails: nothing is skipped.
#
# STRATA_PG_ROOT=DIR runs against a private installation made by
# tools/private-install.sh DIR instead of the system's.
set -euo pipefail

suite=${1:?usage: run-tests.sh regress|tap [test ...]}
shift
top=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${STRATA_PG_ROOT:-}" ]; then
	pg_config=$STRATA_PG_ROOT/usr/lib/postgresql/15/bin/pg_config
else
	pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
fi
bindir=$("$pg_config" --bindir)
pgxs=$(dirname "$("$pg_config" --pgxs)")/..

if [ "$(id -u)" -eq 0 ]; then
	work=$(mktemp -d /tmp/strata-tests.XXXXXX)
	cp -r "$top/regress" "$work/"
	chown -R postgres: "$work"
	as_user=(runuser -u postgres --)
	if [ -z "${STRATA_TEST_KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; else echo "keeping $work"; fi
else
	work=$top
	as_user=()
fi
cd "$work/regress"

case "$suite" in
regress)
	tests=("$@")
	if [ ${#tests[@]} -eq 0 ]; then
		mapfile -t tests < <(ls sql/*.sql | xargs -n1 basename | sed 's/\.sql$//')
	fi
	rm -rf tmp_check results testtablespace
	"${as_user[@]}" mkdir -p testtablespace
	status=0
	"${as_user[@]}" env PATH="$bindir:$PATH" \
		"$pgxs/test/regress/pg_regress" \
		--temp-instance=tmp_check --temp-config=strata.conf \
		--bindir="$bindir" --inputdir=. --outputdir=. \
		--dbname=contrib_regression "${tests[@]}" || status=$?
	if [ $status -ne 0 ]; then
		[ -f regression.diffs ] && cat regression.diffs
		find tmp_check -name 'stratad.log' -exec tail -n 50 {} \; 2>/dev/null || true
		tail -n 50 log/postmaster.log 2>/dev/null || true
		exit $status
	fi
	;;
tap)
	tests=("$@")
	if [ ${#tests[@]} -eq 0 ]; then
		tests=(t/*.pl)
	fi
	rm -rf tmp_check sanitizer
	"${as_user[@]}" mkdir -p sanitizer
	# an ASan/UBSan build of stratad reports into sanitizer/; any report fails
	export ASAN_OPTIONS="log_path=$work/regress/sanitizer/asan:detect_leaks=1"
	export UBSAN_OPTIONS="log_path=$work/regress/sanitizer/ubsan:print_stacktrace=1:halt_on_error=1"
	"${as_user[@]}" env PATH="$bindir:$PATH" \
		ASAN_OPTIONS="$ASAN_OPTIONS" UBSAN_OPTIONS="$UBSAN_OPTIONS" \
		PERL5LIB="$pgxs/test/perl:$work/regress/t" \
		PG_REGRESS="$pgxs/test/regress/pg_regress" \
		TESTDIR="$work/regress" \
		PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-120}" \
		prove --timer "${tests[@]}" || {
		status=$?
		for f in tmp_check/log/*; do
			echo "=== $f"
			tail -n 80 "$f"
		done
		exit $status
	}
	if [ -n "$(ls -A sanitizer)" ]; then
		echo "sanitizer reports from stratad:"
		cat sanitizer/*
		exit 1
	fi
	;;
*)
	echo "unknown suite: $suite" >&2
	exit 2
	;;
esac
