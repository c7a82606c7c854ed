#!/bin/sh
# tools/run-fuzz.sh [SECONDS]: run every libFuzzer target (server/fuzz/,
# issue 12) for SECONDS each (default $STRATA_FUZZ_SECONDS, else 10).
#
# Each target runs on a temporary copy of its committed seed corpus, so a
# run never grows server/fuzz/corpus/, with its scratch files under that
# temporary directory (or one in /dev/shm) too.  A crash, leak, sanitizer report or hang fails
# the target; its reproducer is kept in server/obj-fuzz/artifacts/TARGET/
# (add it to the corpus as a regression input once the bug is fixed) and
# the end of its log is printed.  One line per target, then a total; the
# exit status is 1 if any target failed.
set -u

secs=${1:-${STRATA_FUZZ_SECONDS:-10}}
case $secs in
	''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
server=$root/server

if ! make -C "$server" fuzz >"${TMPDIR:-/tmp}/strata-fuzz-build.$$" 2>&1; then
	cat "${TMPDIR:-/tmp}/strata-fuzz-build.$$" >&2
	rm -f "${TMPDIR:-/tmp}/strata-fuzz-build.$$"
	echo "fuzz: the build failed" >&2
	exit 1
fi
rm -f "${TMPDIR:-/tmp}/strata-fuzz-build.$$"
targets=$(make -s --no-print-directory -C "$server" fuzz-targets) || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/strata-run-fuzz.XXXXXX") || exit 1
# The manifest and identity readers take a directory, so their targets
# write a file per input: on tmpfs that is ten times faster than on disk.
scratch=
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	scratch=$(mktemp -d /dev/shm/strata-run-fuzz.XXXXXX) || scratch=
fi
[ -n "$scratch" ] || scratch=$work/tmp
trap 'rm -rf "$work" "$scratch"' EXIT INT TERM

passed=0
failed=0
for t in $targets; do
	dir=$work/$t
	mkdir -p "$dir/corpus" "$dir/out" "$scratch/$t"
	if [ -d "$server/fuzz/corpus/$t" ]; then
		cp "$server/fuzz/corpus/$t"/* "$dir/corpus/" 2>/dev/null
	fi
	start=$(date +%s)
	# -timeout: an input that takes this long is a hang, i.e. a bug
	(cd "$dir" && TMPDIR=$scratch/$t \
		ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		"$server/obj-fuzz/fuzz_$t" -max_total_time="$secs" -timeout=20 \
			-print_final_stats=1 -artifact_prefix="$dir/out/" \
			"$dir/corpus" >"$dir/log" 2>&1)
	rc=$?
	end=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)
	crashes=$(find "$dir/out" -type f | wc -l)
	if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
		crashes=1
	fi
	echo "fuzz $t: ${execs:-0} executions in $((end - start)) s, $crashes crashes"
	if [ "$crashes" -ne 0 ]; then
		failed=$((failed + 1))
		keep=$server/obj-fuzz/artifacts/$t
		mkdir -p "$keep"
		cp "$dir/out"/* "$dir/log" "$keep/" 2>/dev/null
		echo "--- fuzz $t: exit status $rc; end of its log (all in $keep/log):"
		grep -v '^#[0-9]' "$dir/log" | tail -n 40
		echo "---"
	else
		passed=$((passed + 1))
	fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
