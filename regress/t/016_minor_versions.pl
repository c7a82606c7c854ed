# The load-time checks that let one strata build run on any PostgreSQL 15
# minor (issue 13), on whichever minor runs this test (tools/minor-versions.sh
# runs it on each): the truncate signature is chosen from the version and
# agrees with the executable, the smgr probe reaches every relied-on slot at
# load and, once shared memory exists, truncate and unlink; after a
# crash-restart (shared memory rebuilt by the same postmaster) the shmem
# probe runs again and the compute still serves, truncates and unlinks.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('minor', extra_conf => 'restart_after_crash = on');
$node->start;

my $version = $node->safe_psql('postgres', 'SHOW server_version_num');
my $log = slurp_file($node->logfile);
like($log, qr/strata: running on server version $version \(built against \d+\)/,
	"strata runs on server $version and says so");
my $truncate2 = $version >= 150011;
like($log,
	$truncate2
	? qr/mdtruncate with old_blocks \(smgrtruncate2 present\)/
	: qr/mdtruncate without old_blocks \(no smgrtruncate2\)/,
	'the truncate signature matches the version');
like($log,
	qr/strata: smgr probe: create, exists, nblocks, extend, prefetch, read, write, writeback and close reach strata/,
	'the load-time probe reached every slot');
my $entries = $truncate2 ? 'smgrtruncate and smgrtruncate2' : 'smgrtruncate';
like($log, qr/strata: smgr probe: truncate \(through \Q$entries\E\) and unlink reach strata/,
	'the shared-memory probe reached truncate and unlink');

# truncation of a strata and a temp relation (both signatures' md path)
$node->safe_psql('postgres', q{
	CREATE EXTENSION strata;
	CREATE TABLE t (id int, v text);
	INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	DELETE FROM t WHERE id > 100;
});
# FREEZE: a plain VACUUM skips pages whose buffer someone else has pinned
# (the bgwriter writing it out) and then cannot truncate past them
# (docs/reliability.md, issue 12 point 2)
$node->safe_psql('postgres', 'VACUUM (FREEZE) t');
my $t_blocks = $node->safe_psql('postgres', q{SELECT pg_relation_size('t') / 8192});
ok($t_blocks > 0 && $t_blocks < 5, "VACUUM truncated a strata relation to $t_blocks blocks");
is($node->safe_psql('postgres', q{
	CREATE TEMP TABLE tt AS SELECT g FROM generate_series(1, 20000) g;
	DELETE FROM tt WHERE g > 10;
	VACUUM tt;
	SELECT count(*) || ' ' || (pg_relation_size('tt') / 8192) FROM tt;
}), '10 1', 'VACUUM truncated a temp relation through md');

# crash-restart: the postmaster rebuilds shared memory and probes again
my $probes = () = slurp_file($node->logfile) =~ /smgr probe: truncate/g;
my $checkpointer = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'});
kill 'KILL', $checkpointer;
ok(wait_until(sub {
	my $n = () = slurp_file($node->logfile) =~ /smgr probe: truncate/g;
	return $n > $probes;
}, 'the shmem probe after a crash-restart'),
	'the shared-memory probe ran again after a crash-restart');
ok(wait_until(sub { accepts_connections($node) }, 'the server after the crash-restart'),
	'the server accepts connections again');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '100',
	'data survives the crash-restart');
$node->safe_psql('postgres', 'TRUNCATE t');
$node->safe_psql('postgres', 'DROP TABLE t');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class WHERE relname = 't'}), '0',
	'truncate and drop work after the crash-restart');

$node->stop;
done_testing();
