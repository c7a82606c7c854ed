# kill -9 of the postmaster: crash recovery replays WAL through strata, and
# unlogged relations are reset from their init forks as on md.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('main');
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE logged (id int PRIMARY KEY, v text);
	CREATE UNLOGGED TABLE ul (id int PRIMARY KEY, v text);
	INSERT INTO ul SELECT g, 'before' FROM generate_series(1, 1000) g;
	CHECKPOINT;
	INSERT INTO logged SELECT g, md5(g::text) FROM generate_series(1, 20000) g;
	UPDATE logged SET v = 'changed' WHERE id <= 100;
});

# crash the compute without a checkpoint: the pages written since the last
# one come back from WAL replay (or from stratad, if already acknowledged)
$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*), count(*) FILTER (WHERE v = 'changed') FROM logged}),
	'20000|100', 'committed data survives a crash');
is($node->safe_psql('postgres', 'SELECT count(*) FROM ul'), '0',
	'an unlogged table is empty after a crash');
$node->safe_psql('postgres', q{INSERT INTO ul SELECT g, 'after' FROM generate_series(1, 10) g});
is($node->safe_psql('postgres', 'SELECT count(*) FROM ul'), '10',
	'and usable again');
like(slurp_file($node->logfile), qr/strata: reset \d+ unlogged relation/,
	'stratad reset the unlogged relations');

# a clean restart keeps the unlogged table's contents
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM ul'), '10',
	'unlogged data survives a clean restart');

# DROP DATABASE replayed from WAL reaches stratad too
$node->safe_psql('postgres', q{CREATE DATABASE gone});
$node->safe_psql('gone', q{CREATE TABLE g AS SELECT generate_series(1, 1000) x});
$node->safe_psql('postgres', q{CHECKPOINT});
$node->safe_psql('postgres', q{DROP DATABASE gone});
$node->stop('immediate');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION strata');
is($node->safe_psql('postgres', q{SELECT value > 0 FROM strata_stats WHERE counter = 'dropdb'}),
	't', 'replaying DROP DATABASE sent DROPDB to stratad');

# kill -9 the postmaster itself (children notice its death and exit)
my $pm = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
my $pid = slurp_file($node->data_dir . '/postmaster.pid');
($pid) = split /\n/, $pid;
$node->safe_psql('postgres', q{INSERT INTO logged SELECT g, 'late' FROM generate_series(20001, 20500) g});
kill 'KILL', $pid;
ok(wait_until(sub { !kill(0, $pid) }, 'postmaster gone'), 'postmaster killed');
# stratad sees the death pipe close and exits; wait before restarting
ok(wait_until(sub { !defined stratad_pid($node) }, 'stratad exits'),
	'stratad exits when the postmaster dies');
# backends may linger for a moment after the postmaster's death
sleep 1;
unlink($node->data_dir . '/postmaster.pid');
$node->_update_pid(0);
$node->start;
is($node->safe_psql('postgres', q{SELECT count(*) FROM logged WHERE v = 'late'}),
	'500', 'commits before the postmaster was killed survive');
$node->stop;
done_testing();
