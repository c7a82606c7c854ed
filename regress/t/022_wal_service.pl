# The WAL service (issue 15): the embedded stratad streams its compute's
# WAL over physical replication, keeps it per segment and serves it back
# byte for byte; the slot never lets the compute recycle WAL stratad does
# not hold durably; kill -9 of either process leaves no gap; damage is
# reported, not served.
use strict;
use warnings;
use File::Compare;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $tmp = PostgreSQL::Test::Utils::tempdir();
# stratad-test's receiver reads nothing while this file exists
$ENV{STRATA_WALRECV_PAUSE_FILE} = "$tmp/pause";
# ... and its WAL store's next write fails with ENOSPC once this file exists
$ENV{STRATA_FAIL_WAL_WRITE_ONCE_FILE} = "$tmp/enospc";
my $node = strata_node('wal', allows_streaming => 1);
$node->start;

is($node->safe_psql('postgres', 'SHOW max_slot_wal_keep_size'), '1GB',
	'the slot is bounded by strata.wal_keep_size unless the user set max_slot_wal_keep_size');
ok(wait_until(sub { (query_now($node, "SELECT active FROM pg_replication_slots WHERE slot_name = 'strata'") // '') eq 't' },
		'the slot is active'), 'stratad created the physical slot "strata" and streams from it');
is($node->safe_psql('postgres', 'SELECT application_name FROM pg_stat_replication'), 'strata-1',
	'stratad names itself strata-<node id>');

sub wal_status
{
	my ($t, $tl) = stratad_ids($node);
	my ($code, $j) = stratad_api($node, 'GET', "/v1/tenant/$t/timeline/$tl/wal");
	return $code == 200 ? $j : undef;
}

sub lsn_num
{
	my ($l) = @_;
	my ($hi, $lo) = split m{/}, $l;
	return hex($hi) * 4294967296 + hex($lo);
}

sub wait_flushed
{
	my ($target) = @_;
	return wait_until(sub { my $s = eval { wal_status() }; $s && lsn_num($s->{flush_lsn}) >= lsn_num($target) },
		"stratad has WAL up to $target");
}

# Fetch every segment both stratad and pg_wal hold whole and compare.
sub compare_segments
{
	my ($what) = @_;
	my $s = wal_status();
	my $seg = 16 * 1024 * 1024;
	my ($from, $to) = (lsn_num($s->{start_lsn}), lsn_num($s->{flush_lsn}));
	my ($n, $bad) = (0, 0);
	opendir(my $d, $node->data_dir . '/pg_wal') or die;
	for my $f (sort grep { /^[0-9A-F]{24}$/ } readdir $d)
	{
		my $segno = hex(substr($f, 8, 8)) * 256 + hex(substr($f, 16, 8));
		next if $segno * $seg < $from || ($segno + 1) * $seg > $to;
		my ($out, $err) = ('', '');
		my $ok = IPC::Run::run([ 'stratactl', 'wal-fetch', $f, "$tmp/$f", '-D', $node->data_dir ],
			'>', \$out, '2>', \$err);
		if (!$ok || compare("$tmp/$f", $node->data_dir . "/pg_wal/$f") != 0)
		{
			diag("segment $f differs or is missing: $err");
			$bad++;
		}
		$n++;
		unlink "$tmp/$f";
	}
	closedir $d;
	ok($n > 0 && $bad == 0, "$what: $n segments byte-identical to pg_wal");
	return $n;
}

# the slot holds back exactly what stratad has not synced: read it first,
# stratad's (only growing) flush position after
sub slot_behind_stratad
{
	my $restart = $node->safe_psql('postgres', "SELECT restart_lsn FROM pg_replication_slots WHERE slot_name = 'strata'");
	my $s = wal_status();
	return lsn_num($restart) <= lsn_num($s->{flush_lsn});
}

$node->safe_psql('postgres', "CREATE TABLE t AS SELECT g, repeat('x', 300) AS pad FROM generate_series(1, 150000) g");
my $sw = $node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(wait_flushed($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()')), 'stratad caught up');
compare_segments('after a load');
ok(slot_behind_stratad(), "the slot's restart_lsn is at or behind stratad's synced WAL");
my $start = wal_status()->{start_lsn};
ok(stratad_metric($node, 'strata_wal_received_bytes_total') >= 4 * 16 * 1024 * 1024, 'metrics count the WAL received');
is(stratad_metric($node, 'strata_wal_receiver_streaming'), 1, 'and say the receiver streams');

# kill -9 of stratad while WAL streams in: the supervisor restarts it and
# it resumes where its durable WAL ends
my $bench = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c',
	"INSERT INTO t SELECT g, repeat('y', 300) FROM generate_series(1, 300000) g" ],
	'>', \my $bout, '2>', \my $berr);
usleep(700_000);
my $pid = stratad_pid($node);
kill 'KILL', $pid;
ok(wait_until(sub { my $p = stratad_pid($node); defined $p && $p != $pid }, 'a new stratad'),
	'stratad restarted after kill -9');
$bench->finish;
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(wait_flushed($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()')), 'stratad caught up after its kill -9');
is(wal_status()->{start_lsn}, $start, 'no WAL lost: the stored range still starts where it did');
compare_segments('after kill -9 of stratad');
ok(slot_behind_stratad(), 'the slot never passed stratad');

# kill -9 of the compute (and a crash restart of its stratad with it)
$bench = IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c',
	"INSERT INTO t SELECT g, repeat('z', 300) FROM generate_series(1, 300000) g" ],
	'>', \$bout, '2>', \$berr);
usleep(700_000);
crash_compute_and_stratad($node);
$bench->finish;
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(wait_flushed($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()')), 'stratad caught up after the crash');
is(wal_status()->{start_lsn}, $start, 'the stored range still starts where it did');
compare_segments('after kill -9 of compute and stratad');

# a clean restart: the shutdown checkpoint reaches stratad before the
# walsender lets the compute go
$node->restart;
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(wait_flushed($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()')), 'streaming again after a restart');
compare_segments('after a clean restart');

# a full disk while receiving: the write fails, the store is reopened at
# its durable end, streaming resumes, nothing is lost
open(my $e, '>', "$tmp/enospc") or die;
close $e;
$node->safe_psql('postgres', "INSERT INTO t SELECT g, repeat('v', 300) FROM generate_series(1, 50000) g");
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(wait_flushed($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()')), 'stratad caught up after a full disk');
ok(!-e "$tmp/enospc", 'the disk-full fault fired');
like(stratad_log($node), qr/could not store WAL at \S+: disk full/, 'the failed write is logged');
is(wal_status()->{start_lsn}, $start, 'the stored range still starts where it did');
compare_segments('after a full disk');

# damage in a stored segment is found when it is served, never sent
my $s = wal_status();
my ($t, $tl) = stratad_ids($node);
my $store = pg_strata_dir($node) . "/wal/$tl";
opendir(my $d, $store) or die "no store at $store";
my ($victim) = sort grep { /\.swal$/ } readdir $d;
closedir $d;
open(my $fh, '+<', "$store/$victim") or die;
binmode $fh;
seek($fh, 64 + 16 + 1000, 0);
my $byte;
read($fh, $byte, 1);
seek($fh, 64 + 16 + 1000, 0);
print $fh chr(ord($byte) ^ 0x40);
close $fh;
(my $segname = $victim) =~ s/\.swal$//;
my ($out, $err) = ('', '');
my $ok = IPC::Run::run([ 'stratactl', 'wal-fetch', $segname, "$tmp/$segname", '-D', $node->data_dir ],
	'>', \$out, '2>', \$err);
ok(!$ok && !-e "$tmp/$segname", 'a damaged segment is not served');
like($err, qr/HTTP 500.*could not read WAL segment.*data corrupted/s, 'and the error says why');
like(stratad_log($node), qr/walstore: .*\Q$victim\E" is damaged/, 'stratad logs the file and offset');

# what recovery asks for and stratad does not hold: exit 1, nothing written
$ok = IPC::Run::run([ 'stratactl', 'wal-fetch', '00000002.history', "$tmp/h", '-D', $node->data_dir ],
	'>', \$out, '2>', \$err);
ok(!$ok && !-e "$tmp/h", 'a history file is "not found" for restore_command');
$ok = IPC::Run::run([ 'stratactl', 'wal-fetch', 'FFFFFFFF0000000000000001', "$tmp/h", '-D', $node->data_dir ],
	'>', \$out, '2>', \$err);
ok(!$ok && !-e "$tmp/h", 'an unknown segment too');

# stratad falls behind past max_slot_wal_keep_size: the compute's disk is
# protected (PostgreSQL invalidates the slot), and stratad reports the WAL
# it lost and starts a new store where the compute's WAL begins
$node->safe_psql('postgres', "ALTER SYSTEM SET max_slot_wal_keep_size = '48MB'");
$node->reload;
open(my $p, '>', "$tmp/pause") or die;
close $p;
for (1 .. 6)
{
	$node->safe_psql('postgres', "INSERT INTO t SELECT g, repeat('w', 300) FROM generate_series(1, 40000) g");
	$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
}
$node->safe_psql('postgres', 'CHECKPOINT');
is($node->safe_psql('postgres', "SELECT wal_status FROM pg_replication_slots WHERE slot_name = 'strata'"), 'lost',
	'the compute gave up the WAL the slot held for a stratad far behind');
unlink "$tmp/pause";
$node->safe_psql('postgres', 'SELECT pg_switch_wal()');
ok(wait_flushed($node->safe_psql('postgres', 'SELECT pg_current_wal_lsn()')), 'stratad streams again');
ok(defined wal_status()->{lost}, 'the API names the lost range: ' .
	(wal_status()->{lost} ? wal_status()->{lost}{from} . '..' . wal_status()->{lost}{to} : 'none'));
like(stratad_log($node), qr/ERROR:  walrecv: WAL from \S+ to \S+ is lost/, 'stratad logs the loss at ERROR');
ok(-d "$store.before-" . sprintf('%016X', lsn_num(wal_status()->{lost}{from})), 'the old WAL is kept aside, whole');
compare_segments('in the new store');
ok(slot_behind_stratad(), 'the new slot is behind stratad again');

# a password on --wal-source is refused (it would sit on a command line)
my ($rc, $so, $se) = (undef, '', '');
IPC::Run::run([ stratad_test_path(), '-D', "$tmp/sd", '--wal-source', 'host=/tmp password=secret' ],
	'>', \$so, '2>', \$se);
like($se, qr/must not hold a password/, 'stratad refuses a password in --wal-source');

# strata.wal_service = off: no slot, no stream
my $off = strata_node('off', allows_streaming => 1, extra_conf => 'strata.wal_service = off');
$off->start;
is($off->safe_psql('postgres', 'SELECT count(*) FROM pg_replication_slots'), '0', 'wal_service off: no slot');
is($off->safe_psql('postgres', 'SHOW max_slot_wal_keep_size'), '-1', 'and max_slot_wal_keep_size untouched');
$off->stop;

# max_wal_senders = 0: the service is off, and the log says why
my $nows = strata_node('nows');
$nows->start;
like(slurp_file($nows->logfile), qr/WARNING:  strata: the WAL service is off because max_wal_senders is 0/,
	'without max_wal_senders the service is off, with a warning');
$nows->stop;

$node->stop;

# synchronous mode: when COMMIT returns, its WAL is durable in stratad.
# Kill -9 stratad right after a commit returns: the restarted stratad's
# store holds the commit record.
my $sync = strata_node('sync', allows_streaming => 1, extra_conf => 'strata.wal_synchronous = on');
$sync->start;
is($sync->safe_psql('postgres', 'SHOW synchronous_standby_names'), '"strata-1"',
	'strata.wal_synchronous names the embedded stratad as the synchronous standby');
ok(wait_until(sub { (query_now($sync, 'SELECT sync_state FROM pg_stat_replication') // '') eq 'sync' },
		'stratad is a synchronous standby'), 'stratad streams as a synchronous standby');
$sync->safe_psql('postgres', 'CREATE TABLE s (x int)');
my $spid = stratad_pid($sync);
my $xid = $sync->safe_psql('postgres', 'INSERT INTO s VALUES (42) RETURNING pg_current_xact_id()');
kill 'KILL', $spid;
ok(wait_until(sub { my $p = stratad_pid($sync); defined $p && $p != $spid }, 'a new stratad'),
	'stratad killed right after the commit returned, and restarted');
my ($st, $stl) = stratad_ids($sync);
my $ws;
ok(wait_until(sub { my ($c, $j) = eval { stratad_api($sync, 'GET', "/v1/tenant/$st/timeline/$stl/wal") };
			$ws = $j; $c && $c == 200 && $j->{state} eq 'streaming' }, 'streaming again'),
	'the new stratad streams again');
my $dir = "$tmp/syncwal";
mkdir $dir;
my $seg = 16 * 1024 * 1024;
my ($from, $to) = (lsn_num($ws->{start_lsn}), lsn_num($ws->{flush_lsn}));
for (my $n = int($from / $seg); $n * $seg < $to; $n++)
{
	my $name = sprintf('%08X%08X%08X', 1, int($n / 256), $n % 256);
	IPC::Run::run([ 'stratactl', 'wal-fetch', '--partial', $name, "$dir/$name", '-D', $sync->data_dir ]);
}
my ($dump, $derr) = ('', '');
IPC::Run::run([ 'pg_waldump', '--path', $dir, '--start', $ws->{start_lsn}, '--rmgr', 'Transaction' ],
	'>', \$dump, '2>', \$derr);
like($dump, qr/tx:\s+$xid,.*COMMIT/, "the commit of transaction $xid is in stratad's WAL");
is($sync->safe_psql('postgres', 'SELECT x FROM s'), '42', 'and the row is there');
$sync->stop;

done_testing();
