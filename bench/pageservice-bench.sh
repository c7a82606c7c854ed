#!/usr/bin/env bash
# The page service's benchmarks (issue 5), vanilla PostgreSQL 15 beside a
# compute on strata in one run:
#   1. pagebench over the unix socket: QD1 latency, pipelined throughput,
#      and GETPAGEs per CPU-second of stratad (its loop and read workers);
#   2. a cold sequential scan of a 1 GB table with shared_buffers = 16MB:
#      vanilla, strata pipelined (default), strata serial (stratad
#      --pipelining off, compute readahead off: one round trip per page);
#   3. pgbench -S on both (scale 10, 4 clients): TPS and the ratio.
#
#   bench/pageservice-bench.sh            (needs make install, make -C bench pagebench)
#
# Environment: SIZE_MB (table size, default 1024), SECONDS_PB (pagebench
# seconds per run, default 10), PGBENCH_SCALE / PGBENCH_CLIENTS /
# PGBENCH_SECONDS (10, 4, 20), BENCH_DIR (default /tmp/strata-psbench).
# As root the servers run as "postgres" and the OS page cache is dropped
# before each cold scan; otherwise it stays warm (said in the output).
set -euo pipefail

size_mb=${SIZE_MB:-1024}
pbsecs=${SECONDS_PB:-10}
pgscale=${PGBENCH_SCALE:-10}
pgclients=${PGBENCH_CLIENTS:-4}
pgsecs=${PGBENCH_SECONDS:-20}
dir=${BENCH_DIR:-/tmp/strata-psbench}
here=$(cd "$(dirname "$0")" && pwd)
bindir=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)

if [ "$(id -u)" -eq 0 ]; then
	as_user=(runuser -u postgres --)
	owner=postgres
	cold="OS page cache dropped before each scan"
else
	as_user=()
	owner=$(id -un)
	cold="OS page cache warm (not root)"
fi

stop_all() {
	for kind in vanilla strata; do
		"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/$kind" -m fast -w stop >/dev/null 2>&1 || true
	done
}
trap stop_all EXIT
trap 'echo "pageservice-bench: command failed at line $LINENO" >&2' ERR

psql_() {
	local port=$1
	shift
	"${as_user[@]}" "$bindir/psql" -h "$dir" -p "$port" -U postgres -X -q -At "$@" postgres
}

setup() {
	local kind=$1 port=$2
	"${as_user[@]}" "$bindir/initdb" -D "$dir/$kind" -A trust -U postgres >/dev/null
	cat >>"$dir/$kind/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
shared_buffers = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
max_parallel_workers_per_gather = 0
CONF
	if [ "$kind" = strata ]; then
		echo "shared_preload_libraries = 'strata'" >>"$dir/$kind/postgresql.conf"
		echo "strata.stratad_http_port = 0" >>"$dir/$kind/postgresql.conf"
	fi
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/$kind" -l "$dir/$kind.log" -w start >/dev/null
}

restart() {
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/$1" -l "$dir/$1.log" -m fast -w restart >/dev/null
}

drop_caches() {
	sync
	if [ "$(id -u)" -eq 0 ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
}

# seconds for a cold full scan of big on port $1 (PGOPTIONS from the
# caller): the session first plans a query on big (connection, catalogs,
# relation size) and then times only the scan, on both servers alike
scan() {
	local port=$1
	printf 'SELECT 1 FROM big LIMIT 0;\n\\timing on\nSELECT count(*) FROM big;\n' |
		"${as_user[@]}" env PGOPTIONS="${PGOPTIONS:-}" "$bindir/psql" -h "$dir" -p "$port" -U postgres -X -q -At postgres |
		sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | awk '{ printf "%.2f", $1 / 1000 }'
}

stratad_cpu() {
	local pid
	pid=$(head -1 "$dir/strata/pg_strata/stratad.pid" | tr -dc 0-9)
	awk '{ print $14 + $15 }' "/proc/$pid/stat"
}

rm -rf "$dir"
mkdir -p "$dir"
chown "$owner": "$dir"
setup vanilla 5541
setup strata 5542

# ---- 1. pagebench ----
psql_ 5542 -c "CREATE TABLE pb AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 300000) g"
rel=$(psql_ 5542 -c "SELECT '1663/' || (SELECT oid FROM pg_database WHERE datname = 'postgres') || '/' || pg_relation_filenode('pb')")
conn="host=$dir/strata/pg_strata port=6400 dbname=x"
sysid=$(psql_ 5542 -c "SELECT system_identifier FROM pg_control_system()")
echo "== pagebench: relation $rel ($(psql_ 5542 -c "SELECT pg_relation_size('pb') / 8192") blocks, in stratad's memory and OS cache), ${pbsecs}s per run"
tick=$(getconf CLK_TCK)
for spec in "1 1" "1 32" "2 32" "4 64"; do
	set -- $spec
	c0=$(stratad_cpu)
	out=$("${as_user[@]}" "$here/pagebench" -d "$conn" -s "$sysid" -r "$rel" -c "$1" -q "$2" -t "$pbsecs")
	c1=$(stratad_cpu)
	rate=$(echo "$out" | sed -nE 's/^getpage\/s ([0-9]+)/\1/p')
	echo "$out" | sed 's/^/  /'
	awk -v r="${rate:-0}" -v s="$pbsecs" -v c=$((c1 - c0)) -v t="$tick" \
		'BEGIN { cpu = c / t; printf "  stratad CPU %.2f s of %d s: %.0f GETPAGE per stratad CPU-second\n", cpu, s, (cpu > 0 ? r * s / cpu : 0) }'
done

# ---- 2. cold sequential scan ----
rows=$((size_mb * 1024 * 1024 / 1024))
for port in 5541 5542; do
	psql_ "$port" -c "CREATE TABLE big AS SELECT g AS id, repeat('x', 990) AS pad FROM generate_series(1, $rows) g"
	# set hint bits and freeze now, so that no scan below writes pages
	psql_ "$port" -c "VACUUM (FREEZE) big"
	psql_ "$port" -c "CHECKPOINT"
done
# let strata finish the load's housekeeping too (flush, compaction, images,
# GC), as vanilla's CHECKPOINT did, so no scan below competes with it
for step in checkpoint compact gc; do
	"${as_user[@]}" "$bindir/stratactl" "$step" -D "$dir/strata" >/dev/null
done
echo "== cold sequential scan of $(psql_ 5541 -c "SELECT pg_size_pretty(pg_relation_size('big'))"), shared_buffers 16MB ($cold)"
restart vanilla
drop_caches
v=$(scan 5541)
restart strata
drop_caches
p=$(scan 5542)
psql_ 5542 -c "ALTER SYSTEM SET strata.stratad_options = '--pipelining off'"
restart strata
drop_caches
s=$(PGOPTIONS='-c strata.readahead_max=0' scan 5542)
drop_caches
restart strata
sp=$(scan 5542)
psql_ 5542 -c "ALTER SYSTEM RESET strata.stratad_options"
printf '  %-44s %8s s\n' "vanilla" "$v" "strata pipelined (default)" "$p" \
	"strata serial (stratad serial, no readahead)" "$s" "strata stratad serial, compute readahead" "$sp"
awk -v v="$v" -v p="$p" -v s="$s" 'BEGIN { printf "  pipelined vs serial: %.2fx faster; strata pipelined / vanilla time: %.2f\n", s / p, p / v }'

# ---- 3. pgbench -S (select-only), same settings ----
restart strata
echo "== pgbench -S: scale $pgscale, $pgclients clients, ${pgsecs}s, shared_buffers 16MB"
for port in 5541 5542; do
	"${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "$port" -U postgres -i -q -s "$pgscale" postgres >/dev/null 2>&1
	psql_ "$port" -c "VACUUM (FREEZE) pgbench_accounts" -c "CHECKPOINT"
done
tps() {
	"${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "$1" -U postgres -S -n -c "$pgclients" -j "$pgclients" \
		-T "$pgsecs" postgres 2>/dev/null | sed -nE 's/^tps = ([0-9.]+).*/\1/p'
}
tv=$(tps 5541)
ts=$(tps 5542)
printf '  %-10s %10s tps\n' vanilla "$tv" strata "$ts"
awk -v a="$tv" -v b="$ts" 'BEGIN { printf "  strata / vanilla: %.2f\n", b / a }'
echo "settings: $(nproc) cores, commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')"
