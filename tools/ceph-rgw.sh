#!/usr/bin/env bash
# tools/ceph-rgw.sh start|stop BASE: a throwaway single-node Ceph (one
# monitor, one memstore OSD) and radosgw on 127.0.0.1, for the remote
# storage tests (issue 14).  A real S3 implementation: it checks
# signatures, payload hashes and conditional PUTs.
#
#   start BASE  make BASE (must not exist or be empty), pick free ports,
#               start the daemons, create the S3 user and the bucket
#               "strata-test", write BASE/env and print it:
#                   export S3_ENDPOINT=http://127.0.0.1:PORT
#                   export S3_REGION=us-east-1
#                   export S3_BUCKET=strata-test
#                   export AWS_ACCESS_KEY_ID=...
#                   export AWS_SECRET_ACCESS_KEY=...
#               (`. BASE/env` in a test; the keys are throwaway test keys).
#               Fails (exit 1, the daemon logs' tails on stderr) if anything
#               does not come up; what it started is stopped again.
#   stop BASE   stop the daemons by their PID files and remove BASE.
#
# Nothing outside BASE is used: no /etc/ceph, /var/lib/ceph or /var/log/ceph.
# Ports are random free ones (checked with ss), so parallel runs with
# different BASEs do not collide; a start that loses a port race is
# retried on other ports.  Needs ceph-mon, ceph-osd, radosgw, ceph-common,
# uuid-runtime, curl and iproute2 (tools/deps.txt).  Takes about 2 s.
set -euo pipefail

usage() { echo "usage: $0 start|stop BASE" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
BASE=$2
case $BASE in /*) ;; *) BASE=$PWD/$BASE ;; esac

log() { echo "ceph-rgw: $*" >&2; }

stop_daemons() {
	local f pid
	for f in "$BASE"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
	done
	for f in "$BASE"/run/*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

if [ "$cmd" = stop ]; then
	[ -d "$BASE" ] || exit 0
	stop_daemons
	# remove only a directory this script made
	if [ -f "$BASE/.strata-ceph-rgw" ]; then rm -rf "$BASE"; fi
	exit 0
fi
[ "$cmd" = start ] || usage

for p in ceph-mon ceph-osd radosgw ceph ceph-authtool monmaptool radosgw-admin uuidgen curl ss; do
	command -v "$p" >/dev/null || { log "\"$p\" is missing: apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl iproute2"; exit 1; }
done
if [ -e "$BASE" ] && [ -n "$(ls -A "$BASE" 2>/dev/null)" ]; then
	log "$BASE exists and is not empty"
	exit 1
fi

port_free() { [ -z "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }
pick_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		port_free "$p" && port_free $((p + 1)) && port_free $((p + 2)) && { echo "$p"; return; }
	done
}

fail_logs() {
	local f
	for f in "$BASE"/log/*.log "$BASE"/log/*.stdout; do
		[ -s "$f" ] || continue
		echo "--- $f" >&2
		tail -n 15 "$f" >&2
	done
}

wait_for() { # what tries cmd...
	local what=$1 n=0
	shift
	until "$@" >/dev/null 2>&1; do
		sleep 0.1
		n=$((n + 1))
		if [ $n -ge 600 ]; then log "$what did not come up in 60 s"; return 1; fi
	done
}

ACCESS_KEY=STRATATEST$(printf '%010d' $((RANDOM * RANDOM % 10000000000)))
SECRET_KEY=$(head -c 30 /dev/urandom | od -An -tx1 | tr -d ' \n')

start_once() {
	local base_port=$1
	MON_PORT=$base_port
	MON_PORT2=$((base_port + 1))
	RGW_PORT=$((base_port + 2))
	rm -rf "$BASE"
	mkdir -p "$BASE"/{run,log,mon/ceph-a,osd/ceph-0,rgw,crash}
	touch "$BASE/.strata-ceph-rgw"
	CONF=$BASE/ceph.conf
	FSID=$(uuidgen)
	cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT2,v1:127.0.0.1:$MON_PORT]
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
keyring = $BASE/keyring
run dir = $BASE/run
admin socket = $BASE/run/\$name.asok
pid file = $BASE/run/\$name.pid
log file = $BASE/log/\$name.log
mon cluster log file = $BASE/log/\$cluster.\$channel.log
crash dir = $BASE/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
osd objectstore = memstore
memstore device bytes = 1073741824
osd memory target = 939524096
mon data avail warn = 1
mon data avail crit = 0
# every pool radosgw creates is a monitor map change: do not batch them for 1 s
paxos propose interval = 0.05
paxos min wait = 0.01
auth allow insecure global id reclaim = true
mon warn on insecure global id reclaim allowed = false
mon warn on insecure global id reclaim = false

[mon]
mon data = $BASE/mon/\$cluster-\$id
[osd]
osd data = $BASE/osd/\$cluster-\$id
[client.rgw.a]
# radosgw defaults to cephx and "secure" mode, which cannot be negotiated
# with cephx off (it would hang): say so explicitly
auth client required = none
ms mon client mode = crc
ms client mode = crc
rgw data = $BASE/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 32
EOF
	export CEPH_CONF=$CONF
	ceph-authtool --create-keyring "$BASE/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
	ceph-authtool "$BASE/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' >/dev/null
	monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT2,v1:127.0.0.1:$MON_PORT]" "$BASE/monmap" >/dev/null
	ceph-mon -c "$CONF" --mkfs -i a --monmap "$BASE/monmap" --keyring "$BASE/keyring" 2>>"$BASE/log/mkfs.log"
	ceph-mon -c "$CONF" -i a 2>>"$BASE/log/mon.stdout" || return 1
	wait_for "the monitor" ceph -c "$CONF" --connect-timeout 2 mon stat || return 1

	OSD_UUID=$(uuidgen)
	OSD_ID=$(ceph -c "$CONF" osd new "$OSD_UUID")
	ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" 2>>"$BASE/log/mkfs.log"
	ceph-osd -c "$CONF" -i "$OSD_ID" 2>>"$BASE/log/osd.stdout" || return 1
	osd_up() { ceph -c "$CONF" osd dump 2>/dev/null | grep -q "^osd.$OSD_ID up"; }
	wait_for "the OSD" osd_up || return 1

	# radosgw returns from daemonizing only once it reaches the cluster: keep it in the foreground
	radosgw -c "$CONF" -n client.rgw.a -f >"$BASE/log/radosgw.stdout" 2>&1 &
	echo $! >"$BASE/run/client.rgw.a.pid"
	rgw_up() {
		kill -0 "$(cat "$BASE/run/client.rgw.a.pid")" 2>/dev/null || return 2
		curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$RGW_PORT/" | grep -q 200
	}
	local n=0
	while :; do
		rgw_up && break
		[ $? -eq 2 ] && { log "radosgw exited"; return 1; }
		sleep 0.1
		n=$((n + 1))
		[ $n -lt 600 ] || { log "radosgw did not answer in 60 s"; return 1; }
	done
	radosgw-admin -c "$CONF" -n client.admin user create --uid=strata-test --display-name=strata-test \
		--access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$BASE/user.json" 2>>"$BASE/log/admin.log"

	# the bucket, signed by curl; the keys go through a private config file, not argv
	umask 077
	printf 'user = "%s:%s"\n' "$ACCESS_KEY" "$SECRET_KEY" >"$BASE/curl-keys"
	curl -sS -f -K "$BASE/curl-keys" --aws-sigv4 "aws:amz:us-east-1:s3" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		-X PUT "http://127.0.0.1:$RGW_PORT/strata-test" -o /dev/null 2>>"$BASE/log/admin.log" || {
		log "could not create the bucket"; return 1; }
	cat >"$BASE/env" <<EOF
export S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export S3_REGION=us-east-1
export S3_BUCKET=strata-test
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
EOF
}

for attempt in 1 2 3; do
	if start_once "$(pick_port)"; then
		cat "$BASE/env"
		exit 0
	fi
	log "start attempt $attempt failed"
	fail_logs
	stop_daemons
done
rm -rf "$BASE"
exit 1
