#!/usr/bin/env bash
# pgbench on a compute on strata beside vanilla PostgreSQL 15, same
# settings, in one run; prints TPS for each and the ratio strata/vanilla.
#
#   bench/pgbench-compare.sh [scale ...]      (default: 10 100)
#
# Environment: DURATION (seconds per run, default 30), CLIENTS (one or more
# client counts, default 4), MODES (pgbench built-in scripts, default
# "S N"), SHARED_BUFFERS (default 128MB), FILE_CACHE (one or more
# strata.file_cache_size values to run strata with, default "1GB"; 0 is
# without the cache), WARMUP (seconds of pgbench -S on both servers after
# each (re)start, default 10), BENCH_DIR (default /tmp/strata-bench),
# PG_CONFIG (a private installation's pg_config).
# As root the servers run as "postgres".  Needs `make install` (or
# tools/private-install.sh and PG_CONFIG) first.
set -euo pipefail

scales=("$@")
[ ${#scales[@]} -gt 0 ] || scales=(10 100)
duration=${DURATION:-30}
read -r -a client_counts <<<"${CLIENTS:-4}"
read -r -a modes <<<"${MODES:-S N}"
read -r -a caches <<<"${FILE_CACHE:-1GB}"
warmup=${WARMUP:-10}
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

# tps PORT CLIENTS SECONDS [pgbench options]
tps() {
	local port=$1 clients=$2 secs=$3
	shift 3
	"${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "$port" -U postgres -n \
		-c "$clients" -j "$clients" -T "$secs" "$@" postgres 2>/dev/null |
		sed -nE 's/^tps = ([0-9.]+).*/\1/p'
}

# Restart the strata compute with strata.file_cache_size (and its limit) = $1.
strata_cache() {
	local size=$1
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/strata" -m fast -w stop >/dev/null
	sed -i '/^strata.file_cache_size/d' "$dir/strata/postgresql.conf"
	printf 'strata.file_cache_size = %s\nstrata.file_cache_size_limit = %s\n' "$size" "$size" \
		>>"$dir/strata/postgresql.conf"
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/strata" -l "$dir/strata.log" -w start >/dev/null
}

# The strata compute's file cache hit ratio since its start.
hit_ratio() {
	"${as_user[@]}" "$bindir/psql" -h "$dir" -p 5532 -U postgres -XAtq -d postgres -c \
		"SELECT CASE WHEN hits + misses > 0 THEN round(hits::numeric / (hits + misses), 3) ELSE 0 END FROM strata_file_cache" \
		2>/dev/null || echo n/a
}

rm -rf "$dir"
mkdir -p "$dir"
chown "$owner": "$dir"
setup vanilla 5531
setup strata 5532

printf '%-6s %-6s %-7s %-4s %12s %12s %8s %9s\n' scale cache clients mode vanilla_tps strata_tps ratio hit_ratio
for s in "${scales[@]}"; do
	for port in 5531 5532; do
		"${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "$port" -U postgres -i -q -s "$s" postgres >/dev/null 2>&1
	done
	"${as_user[@]}" "$bindir/psql" -h "$dir" -p 5532 -U postgres -XAtq -d postgres \
		-c 'CREATE EXTENSION IF NOT EXISTS strata' >/dev/null
	for cache in "${caches[@]}"; do
		strata_cache "$cache"
		# both sides warm: vanilla's OS page cache, strata's file cache
		for port in 5531 5532; do
			tps "$port" "${client_counts[0]}" "$warmup" -S >/dev/null
		done
		for c in "${client_counts[@]}"; do
			for mode in "${modes[@]}"; do
				v=$(tps 5531 "$c" "$duration" "-$mode")
				t=$(tps 5532 "$c" "$duration" "-$mode")
				r=$(awk -v a="$t" -v b="$v" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')
				printf '%-6s %-6s %-7s %-4s %12s %12s %8s %9s\n' "$s" "$cache" "$c" "-$mode" "$v" "$t" "$r" "$(hit_ratio)"
			done
		done
	done
done
echo "settings: duration=${duration}s warmup=${warmup}s shared_buffers=$sb $(nproc) cores"
