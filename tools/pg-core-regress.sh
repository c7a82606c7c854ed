#!/usr/bin/env bash
# Run PostgreSQL 15's own core regression suite twice with identical
# settings — on vanilla PostgreSQL and on a compute on strata — and compare.
#
#   tools/pg-core-regress.sh PG15_SOURCE_DIR [shared_buffers]
#
# PG15_SOURCE_DIR is a PostgreSQL 15 source tree (only src/test/regress is
# used; it is not part of this repository).  Builds regress.so against the
# installed server, uses the server's autoinc.so and refint.so, runs
# parallel_schedule on temporary instances, prints both summaries and
# exits non-zero if strata's results differ from vanilla's.  As root the
# servers run as the "postgres" user, like tools/run-tests.sh.
set -euo pipefail

src=$(cd "${1:?usage: pg-core-regress.sh PG15_SOURCE_DIR [shared_buffers]}" && pwd)
sb=${2:-${SHARED_BUFFERS:-16MB}}
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=$("$pg_config" --bindir)
pkglibdir=$("$pg_config" --pkglibdir)
pgxs=$(dirname "$("$pg_config" --pgxs)")/..
regress="$src/src/test/regress"
[ -f "$regress/parallel_schedule" ] || { echo "no src/test/regress in $src" >&2; exit 2; }

work=$(mktemp -d /tmp/pg-core-regress.XXXXXX)
cp -r "$regress" "$work/regress"
mkdir -p "$work/lib"
gcc -O2 -fPIC -shared -I"$("$pg_config" --includedir-server)" \
	-o "$work/lib/regress.so" "$work/regress/regress.c"
ln -s "$pkglibdir/autoinc.so" "$pkglibdir/refint.so" "$work/lib/"

common="shared_buffers = $sb
wal_level = replica
max_prepared_transactions = 10
autovacuum = off"
printf '%s\n' "$common" > "$work/vanilla.conf"
printf '%s\n' "$common" "shared_preload_libraries = 'strata'" \
	"strata.stratad_http_port = 0" > "$work/strata.conf"

as_user=()
if [ "$(id -u)" -eq 0 ]; then
	chown -R postgres: "$work"
	as_user=(runuser -u postgres --)
fi

run() {
	local name=$1
	mkdir -p "$work/out-$name"
	[ ${#as_user[@]} -eq 0 ] || chown postgres: "$work/out-$name"
	(cd "$work/regress" && "${as_user[@]}" env PATH="$bindir:$PATH" \
		"$pgxs/test/regress/pg_regress" --temp-instance="$work/tmp-$name" \
		--temp-config="$work/$name.conf" --bindir="$bindir" \
		--inputdir=. --outputdir="$work/out-$name" --dlpath="$work/lib" \
		--schedule=parallel_schedule --max-concurrent-tests=20 \
		> "$work/$name.log" 2>&1) || true
	grep -E '^(test| *[a-z_0-9]+ +\.\.\.)|^ok|^not ok|^# |tests (passed|failed)|All [0-9]+ tests' \
		"$work/$name.log" | sed -E 's/ +[0-9]+ ms$//' > "$work/$name.summary" || true
}

start=$(date +%s)
run vanilla
mid=$(date +%s)
run strata
end=$(date +%s)

echo "== vanilla ($((mid - start)) s, shared_buffers $sb)"
tail -n 3 "$work/vanilla.log"
echo "== strata ($((end - mid)) s, shared_buffers $sb)"
tail -n 3 "$work/strata.log"
# per-test outcomes, timings stripped
norm() { grep -E '\.\.\. ' "$1" | sed -E 's/ +[0-9]+ ms//; s/ +/ /g'; }
# the failing tests' output, paths normalised, must match too
diffs() { [ -f "$1" ] && sed -E "s#$work/(out|tmp)-[a-z]+#X#g" "$1" | grep -vE '^(diff |--- |\+\+\+ )' || true; }
if diff <(norm "$work/vanilla.log") <(norm "$work/strata.log") > "$work/outcome.diff" &&
	diff <(diffs "$work/out-vanilla/regression.diffs") <(diffs "$work/out-strata/regression.diffs") \
		>> "$work/outcome.diff"; then
	echo "RESULT: strata and vanilla give the same result for every test (and the same output where both fail)"
	status=0
else
	echo "RESULT: outcomes differ:"
	cat "$work/outcome.diff"
	[ -f "$work/out-strata/regression.diffs" ] && head -n 200 "$work/out-strata/regression.diffs"
	status=1
fi
echo "(logs in $work)"
exit $status
