#!/usr/bin/env bash
# The WAL service measured side by side (issue 15), in one run:
#
#  1. commit latency: pgbench -N on vanilla PostgreSQL 15, on strata with
#     the WAL service off, on (asynchronous, the default) and synchronous
#     (strata.wal_synchronous); average latency, TPS, ratio to vanilla.
#  2. WAL ingest: a bulk INSERT's WAL, from the first byte until the
#     receiver has it durably (pg_stat_replication.flush_lsn): stratad's
#     receiver beside PostgreSQL's own pg_receivewal --synchronous on the
#     same machine (the machine's baseline), and the compute's WAL rate
#     with no receiver at all.
#
#   bench/wal-service.sh
#
# Environment: DURATION (seconds per pgbench run, default 20), SCALE
# (default 10), CLIENTS (space-separated list, default "1 4"), INGEST_ROWS
# (default 2000000, ~700 MB of WAL), BENCH_DIR (default /tmp/strata-walbench).
# As root the servers run as "postgres".  Needs `make install` first.
set -euo pipefail

duration=${DURATION:-20}
scale=${SCALE:-10}
clients_list=${CLIENTS:-"1 4"}
rows=${INGEST_ROWS:-2000000}
dir=${BENCH_DIR:-/tmp/strata-walbench}
bindir=$(${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} --bindir)
kinds=(vanilla off async sync)
declare -A port=([vanilla]=5541 [off]=5542 [async]=5543 [sync]=5544)

if [ "$(id -u)" -eq 0 ]; then
	as_user=(runuser -u postgres --)
	owner=postgres
else
	as_user=()
	owner=$(id -un)
fi

recv_pid=
stop_all() {
	[ -n "$recv_pid" ] && kill "$recv_pid" 2>/dev/null || true
	for k in "${kinds[@]}"; do
		"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/$k" -m fast -w stop >/dev/null 2>&1 || true
	done
}
trap stop_all EXIT

psqlc() {
	local p=$1
	shift
	PGOPTIONS='-c client_min_messages=warning' "${as_user[@]}" "$bindir/psql" -X -A -t -q -h "$dir" -p "$p" -U postgres -d postgres "$@"
}

setup() {
	local k=$1
	"${as_user[@]}" "$bindir/initdb" -D "$dir/$k" -A trust -U postgres >/dev/null
	cat >>"$dir/$k/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$dir'
port = ${port[$k]}
shared_buffers = 128MB
max_wal_size = 4GB
checkpoint_timeout = 15min
CONF
	case $k in
	vanilla) ;;
	off) printf "shared_preload_libraries = 'strata'\nstrata.stratad_http_port = 0\nstrata.wal_service = off\n" >>"$dir/$k/postgresql.conf" ;;
	async) printf "shared_preload_libraries = 'strata'\nstrata.stratad_http_port = 0\n" >>"$dir/$k/postgresql.conf" ;;
	sync) printf "shared_preload_libraries = 'strata'\nstrata.stratad_http_port = 0\nstrata.wal_synchronous = on\n" >>"$dir/$k/postgresql.conf" ;;
	esac
	"${as_user[@]}" "$bindir/pg_ctl" -D "$dir/$k" -l "$dir/$k.log" -w start >/dev/null
}

rm -rf "$dir"
mkdir -p "$dir"
chown "$owner": "$dir"
for k in "${kinds[@]}"; do
	setup "$k"
	"${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "${port[$k]}" -U postgres -i -q -s "$scale" postgres >/dev/null 2>&1
done

start_receivewal() {
	mkdir -p "$dir/receivewal"
	chown "$owner": "$dir/receivewal"
	"${as_user[@]}" "$bindir/pg_receivewal" -h "$dir" -p "${port[vanilla]}" -U postgres -S bench \
		--synchronous -D "$dir/receivewal" >/dev/null 2>&1 &
	recv_pid=$!
	until [ "$(psqlc "${port[vanilla]}" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ]; do
		sleep 0.1
	done
}
stop_receivewal() {
	kill "$recv_pid"
	wait "$recv_pid" 2>/dev/null || true
	recv_pid=
}
psqlc "${port[vanilla]}" -c "SELECT pg_create_physical_replication_slot('bench', true)" >/dev/null

# one pgbench -N run: prints a row; the first of each client count (vanilla)
# sets the TPS the others are compared with
run_n() {
	local c=$1 kind=$2 p=$3 out lat tps
	out=$("${as_user[@]}" "$bindir/pgbench" -h "$dir" -p "$p" -U postgres -n -N \
		-c "$c" -j "$c" -T "$duration" postgres 2>/dev/null)
	lat=$(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' <<<"$out")
	tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$out")
	[ -z "$vtps" ] && vtps=$tps
	printf '%-8s %-28s %12s %10.0f %14s\n' "$c" "$kind" "$lat" "$tps" \
		"$(awk -v a="$tps" -v b="$vtps" 'BEGIN { printf "%.3f", a / b }')"
}

echo "== commit latency: pgbench -N, scale $scale, ${duration}s per run"
echo "   (vanilla + pg_receivewal: PostgreSQL's own receiver, fsyncing, as the"
echo "    baseline cost of streaming WAL on this machine; as a synchronous"
echo "    standby when named in synchronous_standby_names)"
printf '%-8s %-28s %12s %10s %14s\n' clients kind latency_ms tps tps_vs_vanilla
for c in $clients_list; do
	vtps=
	run_n "$c" vanilla "${port[vanilla]}"
	start_receivewal
	run_n "$c" "vanilla + pg_receivewal" "${port[vanilla]}"
	psqlc "${port[vanilla]}" -c "ALTER SYSTEM SET synchronous_standby_names = 'pg_receivewal'" -c "SELECT pg_reload_conf()" >/dev/null
	run_n "$c" "vanilla + pg_receivewal sync" "${port[vanilla]}"
	psqlc "${port[vanilla]}" -c "ALTER SYSTEM RESET synchronous_standby_names" -c "SELECT pg_reload_conf()" >/dev/null
	stop_receivewal
	run_n "$c" "strata, WAL service off" "${port[off]}"
	run_n "$c" "strata, WAL service on" "${port[async]}"
	run_n "$c" "strata, synchronous" "${port[sync]}"
done

# Time from the start of a bulk INSERT until the receiver (if any) has
# all its WAL durably; prints "MiB seconds MiB/s".
ingest() {
	local p=$1 wait_recv=$2
	local start end t0 t1 bytes
	psqlc "$p" -c "DROP TABLE IF EXISTS ingest" -c "CHECKPOINT"
	start=$(psqlc "$p" -c "SELECT pg_current_wal_insert_lsn()")
	t0=$(date +%s.%N)
	psqlc "$p" -c "CREATE TABLE ingest AS SELECT g, repeat('i', 200) AS pad FROM generate_series(1, $rows) g"
	end=$(psqlc "$p" -c "SELECT pg_current_wal_insert_lsn()")
	if [ "$wait_recv" = 1 ]; then
		until [ "$(psqlc "$p" -c "SELECT coalesce(bool_or(flush_lsn >= '$end'), false) FROM pg_stat_replication")" = t ]; do
			sleep 0.01
		done
	fi
	t1=$(date +%s.%N)
	bytes=$(psqlc "$p" -c "SELECT pg_wal_lsn_diff('$end', '$start')")
	awk -v b="$bytes" -v a="$t0" -v z="$t1" 'BEGIN { printf "%10.1f %9.2f %9.1f", b / 1048576, z - a, b / 1048576 / (z - a) }'
}

echo
echo "== WAL ingest: CREATE TABLE AS of $rows rows, until the receiver has it durably"
printf '%-34s %10s %9s %9s\n' receiver wal_MiB seconds MiB_per_s
printf '%-34s %s\n' "none (vanilla, the compute alone)" "$(ingest "${port[vanilla]}" 0)"
# PostgreSQL's own receiver, fsyncing like stratad, on the same machine
start_receivewal
printf '%-34s %s\n' "pg_receivewal --synchronous" "$(ingest "${port[vanilla]}" 1)"
stop_receivewal
# stratad's receiver on the same source: a standalone stratad streaming
# from the vanilla cluster
mkdir -p "$dir/sd" "$dir/sdsock"
chmod 700 "$dir/sdsock"
chown "$owner": "$dir/sd" "$dir/sdsock"
"${as_user[@]}" "$bindir/stratad" -D "$dir/sd" --socket-dir "$dir/sdsock" --port 6499 \
	--http 127.0.0.1:0 --http-any-port --wal-source "host=$dir port=${port[vanilla]}" \
	--wal-slot bench_strata --log "$dir/sd.log" &
recv_pid=$!
until [ "$(psqlc "${port[vanilla]}" -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" = 1 ]; do sleep 0.1; done
printf '%-34s %s\n' "stratad --wal-source (same source)" "$(ingest "${port[vanilla]}" 1)"
kill "$recv_pid"
wait "$recv_pid" 2>/dev/null || true
recv_pid=
# end to end on a strata compute: its pages go to stratad as well
printf '%-34s %s\n' "strata compute, embedded stratad" "$(ingest "${port[async]}" 1)"
printf '%-34s %s\n' "strata compute, WAL service off" "$(ingest "${port[off]}" 0)"
echo "(ingest: time from the start of the statement until the receiver has all"
echo " its WAL durably; \"none\": until the statement returns)"
echo
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r)"
