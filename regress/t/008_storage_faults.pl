# Storage faults in stratad (injected). A failed fsync: the checkpoint fails as a failed
# fsync does (PANIC), stratad restarts with a new durability epoch, the
# compute crash-recovers from WAL, and no committed row is lost.  A failed
# background sync, which no compute waits for, is caught by the epoch
# change on reconnect (I2).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

# no background syncs at first, so the checkpoint's SYNC meets the fault;
# PANICs must restart the cluster; and fsync must be on, else PostgreSQL
# never runs the checkpoint's sync phase (Cluster.pm turns both off)
my $node = strata_node('main', extra_conf => "fsync = on\nrestart_after_crash = on\nstrata.stratad_sync_interval = '1h'");
my $fail = $node->basedir . '/fail-fsync';
$ENV{STRATA_FAIL_FSYNC_ONCE_FILE} = $fail;
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE f (id int PRIMARY KEY, v text);
	INSERT INTO f SELECT g, md5(g::text) FROM generate_series(1, 10000) g;
	CHECKPOINT;
	INSERT INTO f SELECT g, 'after' FROM generate_series(10001, 20000) g;
});

sub touch { open(my $fh, '>', $_[0]) or die; close $fh; }

# 1. the checkpoint's SYNC fails
my $pid = stratad_pid($node);
touch($fail);
my ($ret, $out, $err) = $node->psql('postgres', 'CHECKPOINT');
isnt($ret, 0, 'CHECKPOINT fails when stratad cannot sync');
ok(wait_until(sub { accepts_connections($node) }, 'compute back'), 'the compute recovered');
my $log = slurp_file($node->logfile);
like($log, qr/PANIC:  could not fsync file/, 'the failed SYNC is a PANIC, as a failed fsync is');
like($log, qr/database system was not properly shut down; automatic recovery in progress/,
	'followed by crash recovery');
ok(wait_until(sub { stratad_log($node) =~ /durability epoch is now 2/ }, 'epoch 2'),
	'stratad restarted with a new durability epoch');
is($node->safe_psql('postgres', q{SELECT count(*), count(*) FILTER (WHERE v = 'after') FROM f}),
	'20000|10000', 'no committed row was lost');

# 2. a background sync fails while nobody waits for it
$node->append_conf('postgresql.conf', "strata.stratad_sync_interval = '100ms'\n");
$node->restart;
$node->safe_psql('postgres', q{UPDATE f SET v = 'second' WHERE id <= 5000});
$pid = stratad_pid($node);
touch($fail);
ok(wait_until(sub { my $p = stratad_pid($node); !-e $fail && defined $p && $p != $pid },
		'stratad restarted after the background sync failed'),
	'a failed background sync restarts stratad');
ok(wait_until(sub { stratad_log($node) =~ /durability epoch is now 3/ }, 'epoch 3'),
	'with the next epoch');
# the next request sees the new epoch and the compute recovers from WAL
query_now($node, 'SELECT count(*) FROM f');
ok(wait_until(sub {
	my $o = query_now($node, q{SELECT count(*) FILTER (WHERE v = 'second') FROM f});
	defined $o && $o eq '5000' }, 'data after recovery'),
	'after the epoch change the compute recovered and has every committed row');
like(slurp_file($node->logfile), qr/durability epoch changed from 2 to 3/,
	'the compute noticed the epoch change');
my ($st_out, $st_err);
IPC::Run::run([ 'stratactl', 'status', '--json', '-D', $node->data_dir ], '>', \$st_out, '2>', \$st_err);
like($st_out, qr/"durability_epoch": 3/, 'stratactl status shows the epoch');

# 3. the failed fsync's record cannot be saved at first (the disk that
# failed): stratad stays up refusing service and tries again, and only
# exits once it is saved, so the next start still bumps the epoch
my $nosave = $node->basedir . '/fail-identity-save';
$ENV{STRATA_FAIL_IDENTITY_SAVE_ONCE_FILE} = $nosave;
$node->restart;
$node->safe_psql('postgres', q{UPDATE f SET v = 'fourth' WHERE id <= 2000});
$pid = stratad_pid($node);
touch($nosave);
touch($fail);
ok(wait_until(sub { stratad_log($node) =~ /could not record the failed fsync in the identity file; refusing service/ },
		'the save failed'), 'a failed save of the fsync record keeps stratad refusing service');
ok(wait_until(sub { my $p = stratad_pid($node); !-e $nosave && defined $p && $p != $pid },
		'stratad restarted once the record was saved'),
	'the save is retried and stratad restarts');
ok(wait_until(sub { stratad_log($node) =~ /durability epoch is now 4/ }, 'epoch 4'),
	'with the next epoch: the record reached the disk');
query_now($node, 'SELECT count(*) FROM f');
ok(wait_until(sub {
	my $o = query_now($node, q{SELECT count(*) FILTER (WHERE v = 'fourth') FROM f});
	defined $o && $o eq '2000' }, 'data after recovery'),
	'and the compute recovered every committed row');
delete $ENV{STRATA_FAIL_IDENTITY_SAVE_ONCE_FILE};

# a full disk: the write fails with a clear error, nothing stored is
# harmed, and work resumes once there is room again
my $full = $node->basedir . '/disk-full';
$ENV{STRATA_FAIL_WRITE_ONCE_FILE} = $full;
$node->restart;
$node->safe_psql('postgres', q{UPDATE f SET v = 'third' WHERE id <= 3000});
touch($full);
# the checkpoint's writes meet the fault, unless the background writer's
# write did first: either way a write fails, with a clear error
($ret, $out, $err) = $node->psql('postgres', 'CHECKPOINT');
ok(wait_until(sub { !-e $full }, 'the fault fired'), 'a write met the full disk');
ok(wait_until(sub { slurp_file($node->logfile) =~
	  /could not write block \d+ of relation "[^"]+": write: disk full/ }, 'disk-full error'),
	'writing failed with a clear disk-full error');
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE v = 'third') FROM f}), '3000',
	'the data is intact');
$node->safe_psql('postgres', 'CHECKPOINT');
$node->restart;
is($node->safe_psql('postgres', q{SELECT count(*) FILTER (WHERE v = 'third') FROM f}), '3000',
	'and durable once there is room again');
delete $ENV{STRATA_FAIL_WRITE_ONCE_FILE};

# with fsync on, checkpoints and commits after skipFsync writes send SYNC
$node->safe_psql('postgres', q{CREATE EXTENSION strata; CREATE INDEX f_v ON f (v); CHECKPOINT});
is($node->safe_psql('postgres', q{SELECT string_agg(counter || '=' || (value > 0)::text, ',' ORDER BY counter)
	FROM strata_stats WHERE counter IN ('checkpoint_syncs', 'commit_syncs')}),
	'checkpoint_syncs=true,commit_syncs=true', 'checkpoints and index builds send SYNC');

$node->stop;
# a clean stop leaves nothing to bump
$node->start;
$node->stop;
unlike(stratad_log($node), qr/durability epoch is now 5/, 'a clean restart keeps the epoch');
done_testing();
