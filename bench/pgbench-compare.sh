#!/usr/bin/env bash
# pgbench on a compute on strata beside vanilla PostgreSQL 15, same
# settings, in one run; prints TPS for each and the ratio strata/vanilla.
#
#   bench/pgbench-compare.sh [scale ...]      (default: 10 100)
#
# Environment: DURATION (seconds per run, default 30), CLIENTS (default 4),
# SHARED_BUFFERS (default 128MB), BENCH_DIR (default /tmp/strata-bench).
# As root the servers run as "postgres".  Needs `make install` first.
set -euo pipefail

scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(10 100)
duration=${DURATION:-30}
clients=${CLIENTS:-4}
sb=${SHARED_BUFFERS:-128MB}
dir=${BENCH_DIR:-/tmp/strata-bench}
bindir=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)

if [ "$(id -u)" -eq 0 ]; then
	as_user=(runuser -u postgres --)
	owner=postgres
else
	as_user=()
	owner=$(id -un)
fi

stop_all() {
	for kind in vanilla strata; do
		"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/$kind" -m fast -w stop >/dev/null 2>&1 || true
	done
}
trap stop_all EXIT

setup() {
	local kind=$1 port=$2
	"${as_user[@]}" "$bindir/initdb" -D "$dir/$kind" -A trust -U postgres >/dev/null
	cat >>"$dir/$kind/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
shared_buffers = $sb
max_wal_size = 4GB
checkpoint_timeout = 15min
CONF
	if [ "$kind" = strata ]; then
		echo "shared_preload_libraries = 'strata'" >>"$dir/$kind/postgresql.conf"
		echo "strata.stratad_http_port = 0" >>"$dir/$kind/postgresql.conf"
	fi
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/$kind" -l "$dir/$kind.log" -w start >/dev/null
}

tps() {
	local port=$1
	shift
	"${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "$port" -U postgres -n \
		-c "$clients" -j "$clients" -T "$duration" "$@" postgres 2>/dev/null |
		sed -nE 's/^tps = ([0-9.]+).*/\1/p'
}

rm -rf "$dir"
mkdir -p "$dir"
chown "$owner": "$dir"
setup vanilla 5531
setup strata 5532

printf '%-6s %-4s %12s %12s %8s\n' scale mode vanilla_tps strata_tps ratio
for s in "${scales[@]}"; do
	for port in 5531 5532; do
		"${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "$port" -U postgres -i -q -s "$s" postgres >/dev/null 2>&1
	done
	for mode in S N; do
		v=$(tps 5531 "-$mode")
		t=$(tps 5532 "-$mode")
		r=$(awk -v a="$t" -v b="$v" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')
		printf '%-6s %-4s %12s %12s %8s\n' "$s" "-$mode" "$v" "$t" "$r"
	done
done
echo "settings: clients=$clients duration=${duration}s shared_buffers=$sb $(nproc) cores"
