#!/usr/bin/env bash
# Run this tree's strata on every other PostgreSQL 15 minor release that
# apt offers (issue 13: one build serves every 15.x minor it can verify).
#
#   tools/minor-versions.sh
#
# The build is the one in this tree, compiled against the installed
# (system) minor's headers; nothing is installed into the system.  For each
# version of postgresql-15 that "apt-cache madison" lists besides the
# installed one:
#   1. apt-get download postgresql-15, postgresql-client-15 (psql) and
#      postgresql-server-dev-15 (pg_regress, the TAP modules) of that
#      version and unpack them with dpkg-deb -x into a scratch root, which
#      serves itself like tools/private-install.sh's copy;
#   2. check that build's executable: the only direct calls into md.c's
#      smgr functions from outside md.c are the slots gcc folded (smgrinit,
#      smgropen, smgrimmedsync, smgrdosyncall), and the sync handlers are
#      only ever called through syncsw (the run-time probe cannot reach
#      those: see extension/smgrprobe.h);
#   3. install strata into it (tools/private-install.sh) and run the
#      regression suite and the load-time checks' TAP test on it
#      (tools/run-tests.sh regress; tap t/016_minor_versions.pl);
#   4. upgrade test, both ways: a cluster made and loaded on one minor,
#      restarted on the other (data identical, strata serving reads, a
#      checkpoint syncs through strata's handler, more writes), then back.
# The installed minor gets the static check too.
#
# Nothing is skipped: no other minor available, a failed download, a
# missing tool or a failed check is a failure with a message saying which.
# Downloads and unpacked roots are kept in STRATA_MINORS_DIR (default
# /tmp/strata-minors-<hash of this tree's path>) and reused; each cluster
# lives in a fresh directory.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# per tree: strata is installed into these roots, so two trees must not share one
cache=${STRATA_MINORS_DIR:-/tmp/strata-minors-$(printf '%s' "$top" | md5sum | cut -c1-8)}
packages=(postgresql-15 postgresql-client-15 postgresql-server-dev-15)
sysbin=/usr/lib/postgresql/15/bin
md_fns='md(init|open|close|create|exists|unlink|extend|prefetch|read|write|writeback|nblocks|truncate|immedsync)'
sync_fns='md(syncfiletag|unlinkfiletag|filetagmatches)|(clog|committs|multixact(offsets|members))syncfiletag'
# caller->callee pairs gcc produces from smgr.c's one-entry table
folded='smgrdosyncall->mdimmedsync smgrimmedsync->mdimmedsync smgrinit->mdinit smgropen->mdopen'

fail() {
	echo "minor-versions: FAILED: $*" >&2
	exit 1
}
say() { printf '\n== %s\n' "$*"; }

for tool in apt-cache apt-get dpkg-deb dpkg-query objdump nm; do
	command -v "$tool" >/dev/null || fail "\"$tool\" is not installed (see tools/deps.txt)"
done

if [ "$(id -u)" -eq 0 ]; then
	as_pg=(runuser -u postgres --)
else
	as_pg=()
fi

installed=$(dpkg-query -W -f '${Version}' postgresql-15 2>/dev/null) ||
	fail "postgresql-15 is not installed; strata is built against it"

available() {
	apt-cache madison postgresql-15 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' | sort -u
}
others=$(available | grep -vxF "$installed" || true)
if [ -z "$others" ] && [ "$(id -u)" -eq 0 ]; then
	echo "apt knows no other postgresql-15 version; running apt-get update"
	apt-get update -qq || fail "apt-get update failed"
	others=$(available | grep -vxF "$installed" || true)
fi
[ -n "$others" ] ||
	fail "apt offers no PostgreSQL 15 minor besides the installed $installed (apt-cache madison postgresql-15), so strata cannot be run on a second minor"
echo "installed: $installed; others: $(echo $others)"

mkdir -p "$cache"
work=$(mktemp -d /tmp/strata-mv.XXXXXX)
chmod 755 "$work"
[ "$(id -u)" -ne 0 ] || chown postgres: "$work"
up_root=			# the root whose server runs the upgrade test's cluster
cleanup() {
	if [ -n "$up_root" ] && [ -f "$work/up/data/postmaster.pid" ]; then
		"${as_pg[@]}" "$up_root/usr/lib/postgresql/15/bin/pg_ctl" -D "$work/up/data" \
			-m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ -z "${STRATA_TEST_KEEP:-}" ]; then rm -rf "$work"; else echo "keeping $work"; fi
}
trap cleanup EXIT

# ---------- 1. fetch and unpack ----------

# The root for a Debian version, unpacked from its packages (cached).
fetch_root() {
	local ver=$1 dir="$cache/$1"
	if [ -x "$dir/root/usr/lib/postgresql/15/bin/postgres" ] &&
		[ -x "$dir/root/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress" ]; then
		return
	fi
	rm -rf "$dir"
	mkdir -p "$dir/debs" "$dir/root"
	local pkgs=()
	for p in "${packages[@]}"; do pkgs+=("$p=$ver"); done
	(cd "$dir/debs" && apt-get download -q "${pkgs[@]}") ||
		fail "apt-get download ${pkgs[*]} failed; the minor-version suite needs these packages"
	for deb in "$dir"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir/root" || fail "dpkg-deb -x $deb failed"
	done
	[ -x "$dir/root/usr/lib/postgresql/15/bin/postgres" ] ||
		fail "the packages of $ver have no usr/lib/postgresql/15/bin/postgres"
}

# ---------- 2. the executable's direct calls ----------

static_check() {
	local postgres=$1 s="$work/postgres.s" direct unexpected
	objdump -d --no-show-raw-insn "$postgres" >"$s" || fail "objdump $postgres failed"
	# objdump labels code by the nearest exported symbol before it, so
	# md.c's own static functions appear under an md* name: skipped
	direct=$(awk -v md="$md_fns" '
		/^[0-9a-f]+ <.*>:$/ { fn = substr($2, 2, index($2, "@") - 2); next }
		$0 ~ "(call|jmp) +[0-9a-f]+ <" md "@@Base>" && fn !~ /^md/ {
			t = $0; sub(/.*</, "", t); sub(/@@Base>.*/, "", t); print fn "->" t }' "$s" | sort -u)
	echo "direct calls into md.c: $(echo $direct)"
	unexpected=$(comm -23 <(printf '%s\n' $direct) <(printf '%s\n' $folded))
	[ -z "$unexpected" ] ||
		fail "$postgres calls md.c directly past smgrsw: $(echo $unexpected); strata would not see those calls"
	for f in $folded; do
		printf '%s\n' $direct | grep -qxF "$f" ||
			echo "note: $f is no longer folded in this build (harmless: md's own function sits in that slot)"
	done
	if grep -Eq "(call|jmp) +[0-9a-f]+ <($sync_fns)@@Base>" "$s"; then
		fail "$postgres calls a sync handler directly, not through syncsw"
	fi
	grep -Eq 'call +\*' <(awk '/^[0-9a-f]+ <ProcessSyncRequests@@Base>:$/ { on = 1; next }
		/^[0-9a-f]+ <.*>:$/ { on = 0 } on' "$s") ||
		fail "ProcessSyncRequests in $postgres makes no indirect call (syncsw)"
	echo "sync handlers: called only through syncsw"
	rm -f "$s"
}

# ---------- 4. upgrade test ----------

port=$((54400 + RANDOM % 500))

pgbin() { echo "$1/usr/lib/postgresql/15/bin"; }
server() { # root action
	up_root=$1
	"${as_pg[@]}" "$(pgbin "$1")/pg_ctl" -D "$work/up/data" -l "$work/up/log" -w -t 120 "$2" >/dev/null ||
		{ tail -n 40 "$work/up/log"; fail "pg_ctl $2 with $(pgbin "$1") failed"; }
}
sql() { # root statement... (each its own -c: its own transaction, its result printed)
	local root=$1 args=() c
	shift
	for c in "$@"; do args+=(-c "$c"); done
	"${as_pg[@]}" "$(pgbin "$root")/psql" -X -q -A -t -v ON_ERROR_STOP=1 \
		-h "$work/up" -p "$port" -d postgres "${args[@]}"
}
counter() { sql "$1" "SELECT value FROM strata_stats WHERE counter = '$2'"; }

# One line per table: name and md5 of every row in key order, plus what an
# index scan returns, so heap, TOAST and btree pages are all compared.
checksums() {
	sql "$1" "SELECT 'acct ' || count(*) || ' ' || md5(string_agg(id || ':' || v, ',' ORDER BY id)) FROM acct" \
		"SELECT 'big ' || count(*) || ' ' || md5(string_agg(id || ':' || payload, ',' ORDER BY id)) FROM big" \
		"SET enable_seqscan = off; SET enable_bitmapscan = off;
		 SELECT 'acct_idx ' || count(*) || ' ' || sum(id) FROM acct WHERE id BETWEEN 100 AND 15000" \
		"SELECT 'bt_index_check ok' FROM (SELECT bt_index_check('acct_pkey', true)) c"
}

expect_running() { # root version_num
	grep -q "strata: running on server version $2 " "$work/up/log" ||
		{ tail -n 40 "$work/up/log"; fail "the server in $1 did not log strata running on $2"; }
	grep -q "strata: smgr probe: truncate" "$work/up/log" ||
		fail "the server in $1 did not log the truncate and unlink probe"
}

# server_version_num of a root's server, from its pg_config ("PostgreSQL 15.18")
version_num() {
	"$(pgbin "$1")/pg_config" --version | awk '{ split($2, v, "."); printf "%d%04d\n", v[1], v[2] }'
}

upgrade_test() { # from_root to_root
	local a=$1 b=$2 na nb getpages before after c1 c2 c3
	na=$(version_num "$a")
	nb=$(version_num "$b")
	rm -rf "$work/up"
	"${as_pg[@]}" mkdir -p "$work/up"
	"${as_pg[@]}" "$(pgbin "$a")/initdb" -D "$work/up/data" -A trust --no-sync >/dev/null ||
		fail "initdb on $na failed"
	"${as_pg[@]}" tee -a "$work/up/data/postgresql.conf" >/dev/null <"$top/regress/strata.conf"
	"${as_pg[@]}" tee -a "$work/up/data/postgresql.conf" >/dev/null <<EOF
listen_addresses = ''
unix_socket_directories = '$work/up'
port = $port
strata.stratad_http_port = 0
EOF
	say "upgrade test: cluster created on $na"
	server "$a" start
	expect_running "$a" "$na"
	sql "$a" "CREATE EXTENSION strata; CREATE EXTENSION amcheck" \
		"CREATE TABLE acct (id int PRIMARY KEY, v text);
		 INSERT INTO acct SELECT g, md5(g::text) FROM generate_series(1, 20000) g" \
		"CREATE TABLE big (id int, payload text);
		 INSERT INTO big SELECT g, (SELECT string_agg(md5((g * 1000 + i)::text), '')
			FROM generate_series(1, 200) i) FROM generate_series(1, 30) g" \
		"DELETE FROM acct WHERE id > 18000" "VACUUM acct" >/dev/null
	c1=$(checksums "$a")
	echo "$c1"
	server "$a" stop

	say "upgrade test: same cluster on $nb"
	: | "${as_pg[@]}" tee "$work/up/log" >/dev/null
	server "$b" start
	expect_running "$b" "$nb"
	c2=$(checksums "$b")
	[ "$c2" = "$c1" ] || fail "data read on $nb differs from what $na wrote: $c2"
	getpages=$(counter "$b" getpage)
	[ "$getpages" -gt 0 ] || fail "on $nb, no page was read from stratad"
	before=$(counter "$b" checkpoint_syncs)
	sql "$b" "INSERT INTO acct SELECT g, md5(g::text) || 'x' FROM generate_series(18001, 25000) g" \
		"UPDATE big SET payload = upper(payload) WHERE id % 3 = 0" \
		"DELETE FROM acct WHERE id > 24000" "VACUUM acct" "CHECKPOINT" >/dev/null
	after=$(counter "$b" checkpoint_syncs)
	[ "$after" -gt "$before" ] ||
		fail "on $nb, a checkpoint after writes did not sync through strata's handler ($before -> $after)"
	echo "on $nb: $getpages pages read from stratad; checkpoint syncs through strata's handler $before -> $after"
	c3=$(checksums "$b")
	echo "$c3"
	server "$b" stop

	say "upgrade test: back on $na"
	: | "${as_pg[@]}" tee "$work/up/log" >/dev/null
	server "$a" start
	expect_running "$a" "$na"
	[ "$(checksums "$a")" = "$c3" ] || fail "data read back on $na differs from what $nb wrote"
	server "$a" stop
	echo "upgrade test $na -> $nb -> $na: data identical"
}

# ---------- run ----------

say "static check of the installed minor $installed"
static_check "$sysbin/postgres"

say "this tree, installed into a private copy of $installed"
self="$cache/$installed/self"
mkdir -p "$self"
"$top/tools/private-install.sh" "$self" >/dev/null

for ver in $others; do
	say "fetch $ver"
	fetch_root "$ver"
	root="$cache/$ver/root"
	say "static check of $ver"
	static_check "$(pgbin "$root")/postgres"
	say "install strata into $ver"
	"$top/tools/private-install.sh" "$root" >/dev/null
	say "regression suite on $ver"
	STRATA_PG_ROOT="$root" "$top/tools/run-tests.sh" regress ||
		fail "the regression suite failed on $ver"
	say "load-time checks on $ver (TAP t/016_minor_versions.pl)"
	STRATA_PG_ROOT="$root" "$top/tools/run-tests.sh" tap t/016_minor_versions.pl ||
		fail "t/016_minor_versions.pl failed on $ver"
	upgrade_test "$self" "$root"
	upgrade_test "$root" "$self"
done
say "minor-version suite passed on $installed and $(echo $others)"
