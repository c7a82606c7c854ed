#!/usr/bin/env bash
# README command 1: install what is missing, build, install, and run a
# demo compute on the embedded sidecar, then show that strata serves it.
#
# The cluster lives in $STRATA_DEMO_DIR (default /tmp/strata-demo) and
# listens on a unix socket there, port $STRATA_DEMO_PORT (default 5499).
# As root the server runs as the "postgres" user (PostgreSQL refuses root).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
demo=${STRATA_DEMO_DIR:-/tmp/strata-demo}
port=${STRATA_DEMO_PORT:-5499}
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

"$top/tools/install-deps.sh"
make -C "$top" -s all
"$top/tools/as-root.sh" make -C "$top" -s install

bindir=$("$pg_config" --bindir)
if [ "$(id -u)" -eq 0 ]; then
	as_user=(runuser -u postgres --)
	owner=postgres
else
	as_user=()
	owner=$(id -un)
fi
data=$demo/data

if [ ! -d "$data" ]; then
	mkdir -p "$demo"
	chown "$owner": "$demo"
	"${as_user[@]}" "$bindir/initdb" -D "$data" -A trust -U postgres >/dev/null
	cat >>"$data/postgresql.conf" <<CONF
# strata: this is the only setting it needs
shared_preload_libraries = 'strata'
# demo: a private socket, no TCP
listen_addresses = ''
unix_socket_directories = '$demo'
port = $port
CONF
	echo "strata: created a demo cluster in $data"
fi

if ! "${as_user[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
	"${as_user[@]}" "$bindir/pg_ctl" -D "$data" -l "$demo/postgres.log" -w start >/dev/null
fi
echo "strata: compute running (log: $demo/postgres.log, sidecar log: $data/pg_strata/stratad.log)"

psql=("${as_user[@]}" "$bindir/psql" -X -h "$demo" -p "$port" -U postgres -d postgres)
"${psql[@]}" -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION IF NOT EXISTS strata;
DROP TABLE IF EXISTS strata_demo;
CREATE TABLE strata_demo AS
  SELECT g AS id, md5(g::text) AS payload FROM generate_series(1, 100000) g;
CREATE INDEX ON strata_demo (id);
\echo
\echo == a table whose pages live in stratad
SELECT count(*) AS rows, pg_size_pretty(pg_total_relation_size('strata_demo')) AS size
  FROM strata_demo;
SELECT pg_relation_filepath('strata_demo') AS local_stub;
\echo
\echo == where the pages are
SELECT mode, target, tenant_id, timeline_id, stratad_pid FROM strata_status;
SELECT counter, value FROM strata_stats
 WHERE counter IN ('getpage', 'write', 'extend', 'prefetch_hits', 'sync');
SQL

echo
echo "== local relation files are empty stubs (bytes in base/ and global/ relation files):"
"${as_user[@]}" find "$data/base" "$data/global" -type f -name '[0-9]*' -printf '%s\n' |
	awk '{ n++; s += $1 } END { printf "%d files, %d bytes\n", n, s }'
echo
echo "== the sidecar"
"${as_user[@]}" "$bindir/stratactl" status -D "$data" || true
cat <<MSG

Connect:  ${as_user[*]} $bindir/psql -h $demo -p $port -U postgres postgres
Status:   ${as_user[*]} $bindir/stratactl status -D $data
Stop:     ${as_user[*]} $bindir/pg_ctl -D $data stop
MSG
