# The local file cache (issue 17, phase 1): reads hit it, writes keep it
# current, DDL invalidates it, damaged pages are not served, it is emptied
# at every start and crash-restart, its soft limit shrinks and grows at run
# time, and size 0 disables it.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use StrataTest;

# checksums on, so PostgreSQL's own page verification is exercised too
my $node = strata_node('fc', extra => ['--data-checksums'],
	extra_conf => 'restart_after_crash = on');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION strata; CREATE EXTENSION amcheck');

my $cache = $node->data_dir . '.strata_cache';

sub fc
{
	my ($col) = @_;
	return $node->safe_psql('postgres', "SELECT $col FROM strata_file_cache");
}

sub counter
{
	my ($name, $n) = @_;
	$n //= $node;
	return $n->safe_psql('postgres', "SELECT value FROM strata_stats WHERE counter = '$name'");
}

sub emptied_count
{
	my $log = slurp_file($node->logfile);
	return scalar(() = $log =~ /file cache "[^"]*" emptied/g);
}

# ---------- configuration ----------
is(fc('enabled'), 't', 'the cache is on');
is(fc('path'), $cache, 'the cache file is next to the data directory');
ok(-f $cache, 'the cache file exists');
is(fc('size_bytes'), 16 * 1024 * 1024, 'strata.file_cache_size is its size');
is(emptied_count(), 1, 'the postmaster emptied the cache file at start');

# ---------- reads hit after a first read ----------
# ~4 MB: larger than shared_buffers (1 MB), smaller than the cache (16 MB)
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v int, pad text);
	INSERT INTO t SELECT g, g, repeat('x', 200) FROM generate_series(1, 16000) g});
my $expect = $node->safe_psql('postgres', 'SELECT sum(v) FROM t');
is($expect, 16000 * 16001 / 2, 'the table is there');
my $hits = counter('file_cache_hits');
is($node->safe_psql('postgres', 'SELECT sum(v) FROM t'), $expect, 'a scan reads the right data');
cmp_ok(counter('file_cache_hits'), '>', $hits + 100, 'the scan was served by the cache');
cmp_ok(counter('file_cache_writes'), '>', 0, 'writes were copied into the cache');
cmp_ok(fc('used_bytes'), '>', 1024 * 1024, 'the cache holds the table');

# ---------- writes, truncate, VACUUM FULL, DROP ----------
# every check reads the table once through the cache and compares with an
# expected value computed independently of the cache's content
$node->safe_psql('postgres', 'UPDATE t SET v = v + 1 WHERE id % 3 = 0');
is($node->safe_psql('postgres', 'SELECT sum(v) FROM t'), $expect + 5333,
	'updated rows are read back, not their cached old versions');
$node->safe_psql('postgres', 'DELETE FROM t WHERE id > 8000; VACUUM t');
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t'), '8000|32004000',
	'VACUUM truncated the table and the cache is still right');
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, g, repeat('y', 200) FROM generate_series(8001, 12000) g});
is($node->safe_psql('postgres', q{SELECT count(*), count(*) FILTER (WHERE pad LIKE 'y%') FROM t}),
	'12000|4000', 'blocks re-extended after the truncation hold the new rows');
$node->safe_psql('postgres', 'VACUUM FULL t');
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t'), '12000|72006000',
	'VACUUM FULL');
$node->safe_psql('postgres', 'TRUNCATE t');
$node->safe_psql('postgres', q{INSERT INTO t SELECT g, -g, 'z' FROM generate_series(1, 1000) g});
is($node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM t'), '1000|-500500', 'TRUNCATE');
my $inval = counter('file_cache_invalidations');
$node->safe_psql('postgres', 'DROP TABLE t');
cmp_ok(counter('file_cache_invalidations'), '>', $inval, 'DROP TABLE dropped the table from the cache');
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int PRIMARY KEY, v int, pad text);
	INSERT INTO t SELECT g, 2 * g, 'w' FROM generate_series(1, 3000) g});
is($node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM t'), '3000|9003000', 'a new table after DROP TABLE');

# DROP DATABASE drops every chunk of the database
$node->safe_psql('postgres', 'CREATE DATABASE d');
$node->safe_psql('d', q{CREATE TABLE big AS SELECT g, repeat('d', 500) AS pad FROM generate_series(1, 5000) g});
$node->safe_psql('d', 'SELECT count(*) FROM big');
my $dboid = $node->safe_psql('postgres', q{SELECT oid FROM pg_database WHERE datname = 'd'});
my $before = fc('used_bytes');
$node->safe_psql('postgres', 'DROP DATABASE d');
cmp_ok(fc('used_bytes'), '<', $before - 1024 * 1024, 'DROP DATABASE dropped its pages from the cache');
$node->safe_psql('postgres', 'CREATE DATABASE d');
is($node->safe_psql('d', q{SELECT count(*) FROM pg_class WHERE relname = 'big'}), '0',
	'a database made after DROP DATABASE does not see the old one');
$node->safe_psql('postgres', 'DROP DATABASE d');

# ---------- a damaged cached page is detected and not served ----------
# t is cached; push it out of shared buffers (pg_prewarm reads without a
# ring) so that the next read of t goes to the cache
$node->safe_psql('postgres', q{
	CREATE EXTENSION pg_prewarm;
	CREATE TABLE filler AS SELECT g, repeat('p', 500) AS pad FROM generate_series(1, 5000) g});
$node->safe_psql('postgres', 'SELECT count(*) FROM t');
$node->safe_psql('postgres', q{SELECT pg_prewarm('filler', 'buffer')});
my $corrupt = counter('file_cache_corrupt_pages');
$hits = counter('file_cache_hits');
{
	# flip a byte in the middle of every block the file holds
	open(my $fh, '+<', $cache) or die "open $cache: $!";
	binmode $fh;
	my $size = -s $cache;
	for (my $off = 0; $off + 8192 <= $size; $off += 8192)
	{
		seek($fh, $off + 4000, 0);
		my $c;
		read($fh, $c, 1);
		seek($fh, $off + 4000, 0);
		print $fh chr(ord($c) ^ 0x5a);
	}
	close $fh;
}
is($node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM t'), '3000|9003000',
	'data read over a damaged cache is right');
cmp_ok(counter('file_cache_corrupt_pages'), '>', $corrupt, 'the damaged pages were detected');
like(slurp_file($node->logfile), qr/damaged page in file cache/, 'and logged');
is($node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM t'), '3000|9003000',
	'a second read is right too (served again from stratad, then the cache)');

# ---------- a stale page is never stored: writes racing prefetches ----------
# Sequential scans prefetch through the ring while other sessions update the
# same blocks; then the cache's view of the table must equal stratad's.
$node->safe_psql('postgres', q{
	CREATE TABLE race (id int PRIMARY KEY, n int, pad text) WITH (fillfactor = 50);
	INSERT INTO race SELECT g, 0, repeat('r', 300) FROM generate_series(1, 6000) g});
my $bench_dir = PostgreSQL::Test::Utils::tempdir();
PostgreSQL::Test::Utils::append_to_file("$bench_dir/upd.sql",
	"\\set id random(1, 6000)\nUPDATE race SET n = n + 1 WHERE id = :id;\n");
PostgreSQL::Test::Utils::append_to_file("$bench_dir/scan.sql",
	"SELECT sum(n) FROM race;\n");
$node->command_ok(
	[ 'pgbench', '-n', '-c', '4', '-j', '2', '-T', '8',
	  '-f', "$bench_dir/upd.sql\@3", '-f', "$bench_dir/scan.sql\@1", 'postgres' ],
	'updates racing prefetching scans');
my $updates = $node->safe_psql('postgres', 'SELECT sum(n) FROM race');
cmp_ok($updates, '>', 0, 'updates happened');
my $rows_cached = $node->safe_psql('postgres', q{SELECT md5(string_agg(id || ':' || n, ',' ORDER BY id)) FROM race});
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id) FROM race'), '6000|6000',
	'no row is seen twice (no stale page with an old tuple version)');

# Deterministically: answers to prefetches that arrive after a change.  A
# restart empties the cache; blocks 0-19 are then cached without readahead,
# so a cursor reading them is served by the cache alone while its readahead
# sends GETPAGEs for blocks 20 and on, whose answers it receives only at
# its next wait.  Meanwhile another session changes a block in that range
# and drops a table (an invalidation): none of those answers may be stored.
$node->restart;
$node->safe_psql('postgres', q{SET strata.readahead_max = 0;
	SELECT count(*) FROM race WHERE ctid < '(20,0)'});
my $cursor = $node->background_psql('postgres');
$cursor->query_safe('BEGIN');
$cursor->query_safe('DECLARE c CURSOR FOR SELECT id, n FROM race');
my $stale = counter('file_cache_stale_skips');
my $gets = counter('getpage');
$cursor->query_safe('FETCH 150 FROM c');
cmp_ok(counter('getpage'), '>', $gets, 'the cursor prefetched uncached blocks');
$node->safe_psql('postgres', q{
	UPDATE race SET n = n + 1000 WHERE ctid = '(25,1)';
	CREATE TABLE gone (x int); DROP TABLE gone;
	CHECKPOINT});
$cursor->query_safe('FETCH ALL FROM c');
$cursor->query_safe('COMMIT');
$cursor->quit;
cmp_ok(counter('file_cache_stale_skips'), '>', $stale,
	'answers that raced a change were not stored');
$rows_cached = $node->safe_psql('postgres', q{SELECT md5(string_agg(id || ':' || n, ',' ORDER BY id)) FROM race});

# now without the cache: everything from stratad
$node->append_conf('postgresql.conf', 'strata.file_cache_size_limit = 0');
$node->reload;
wait_until(sub { fc('limit_bytes') eq '0' }, 'the limit is applied', 30);
is(fc('chunks_used'), '0', 'a limit of 0 empties the cache');
is($node->safe_psql('postgres', q{SELECT md5(string_agg(id || ':' || n, ',' ORDER BY id)) FROM race}),
	$rows_cached, 'the cache served exactly what stratad has');
diag('stale answers refused: ' . counter('file_cache_stale_skips'));

# ---------- the soft limit: shrink punches holes, grow reuses ----------
$node->append_conf('postgresql.conf', 'strata.file_cache_size_limit = 16MB');
$node->reload;
wait_until(sub { fc('limit_bytes') == 16 * 1024 * 1024 }, 'the limit grows back', 30);
$node->safe_psql('postgres', q{
	CREATE TABLE fill AS SELECT g, repeat('f', 1000) AS pad FROM generate_series(1, 20000) g});
$node->safe_psql('postgres', 'SELECT count(*) FROM fill');
my $alloc = fc('file_allocated_bytes');
cmp_ok($alloc, '>', 12 * 1024 * 1024, "a full cache uses its file ($alloc bytes)");
my $evict = counter('file_cache_evictions');
cmp_ok($evict, '>', 0, 'a table larger than the cache evicts chunks');
$node->append_conf('postgresql.conf', 'strata.file_cache_size_limit = 4MB');
$node->reload;
wait_until(sub { fc('limit_bytes') == 4 * 1024 * 1024 }, 'the shrunk limit is applied', 30);
$node->safe_psql('postgres', 'SELECT count(*) FROM fill');
cmp_ok(fc('file_allocated_bytes'), '<=', 4 * 1024 * 1024 + 512 * 1024,
	'shrinking punched the space above the limit out of the file');
cmp_ok(fc('used_bytes'), '<=', 4 * 1024 * 1024, 'the cache holds at most the limit');
cmp_ok(counter('file_cache_evictions'), '>', $evict, 'shrinking evicted chunks');
like(slurp_file($node->logfile), qr/file cache limit changed from 64 to 16 chunks/, 'the change is logged');
$node->append_conf('postgresql.conf', 'strata.file_cache_size_limit = 16MB');
$node->reload;
wait_until(sub { fc('limit_bytes') == 16 * 1024 * 1024 }, 'the limit grows again', 30);
$node->safe_psql('postgres', 'SELECT count(*) FROM fill');
cmp_ok(fc('file_allocated_bytes'), '>', 8 * 1024 * 1024, 'growing the limit reuses the punched space');
is($node->safe_psql('postgres', 'SELECT count(*), sum(g) FROM fill'), '20000|200010000', 'data is right');

# ---------- amcheck ----------
my $am = amcheck_all_btree($node);
my ($passed, $total) = split /\|/, $am;
is($passed, $total, "amcheck: every btree index verifies ($am)");

# ---------- a restart and a crash empty the cache ----------
my $emptied = emptied_count();
$node->restart;
is(emptied_count(), $emptied + 1, 'a restart emptied the cache file');
$node->safe_psql('postgres', 'SELECT 1');
cmp_ok(fc('used_bytes'), '<', 4 * 1024 * 1024, 'the cache starts empty after a restart');
is($node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM t'), '3000|9003000', 'data after the restart');

# kill -9 of a child (the checkpointer): the postmaster reinitializes shared memory
$node->safe_psql('postgres', 'SELECT count(*) FROM fill');
cmp_ok(fc('used_bytes'), '>', 8 * 1024 * 1024, 'the cache filled again');
my $victim = $node->safe_psql('postgres',
	q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'});
kill 'KILL', $victim;
wait_until(sub { emptied_count() == $emptied + 2 }, 'the crash-restart emptied the cache', 60);
is(emptied_count(), $emptied + 2, 'the crash-restart emptied the cache file');
wait_until(sub { accepts_connections($node) }, 'the server is back', 60);
cmp_ok(fc('used_bytes'), '<', 8 * 1024 * 1024, 'nothing from before the crash is cached');
is($node->safe_psql('postgres', 'SELECT count(*), sum(v) FROM t'), '3000|9003000', 'data after the crash');

# kill -9 of the postmaster (and stratad): a new postmaster empties it too
crash_compute_and_stratad($node);
is(emptied_count(), $emptied + 3, 'a new postmaster after kill -9 emptied the cache file');
is($node->safe_psql('postgres', 'SELECT count(*), sum(g) FROM fill'), '20000|200010000', 'data after kill -9');

# ---------- a second server on the same cache file fails clearly ----------
my $other = strata_node('fc_other', extra_conf => "strata.file_cache_path = '$cache'");
ok(!$other->start(fail_ok => 1), 'a second server on the same cache file does not start');
like(slurp_file($other->logfile), qr/could not lock file cache "\Q$cache\E"/, 'and says why');

# a cache path inside the data directory is refused
my $inside = strata_node('fc_inside');
$inside->append_conf('postgresql.conf', "strata.file_cache_path = '" . $inside->data_dir . "/cache'");
ok(!$inside->start(fail_ok => 1), 'a cache file inside the data directory is refused');
like(slurp_file($inside->logfile), qr/is inside the data directory/, 'and says why');

# ---------- size 0 disables it ----------
my $off = strata_node('fc_off', extra_conf => 'strata.file_cache_size = 0');
$off->start;
$off->safe_psql('postgres', 'CREATE EXTENSION strata');
is($off->safe_psql('postgres', 'SELECT enabled, chunks_used FROM strata_file_cache'), 'f|0',
	'size 0: the cache is off');
ok(!-e $off->data_dir . '.strata_cache', 'size 0: no cache file');
$off->safe_psql('postgres', q{CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g});
is($off->safe_psql('postgres', 'SELECT sum(g) FROM t'), '50005000', 'size 0: data is served');
is(counter('file_cache_hits', $off) + counter('file_cache_writes', $off), 0, 'size 0: nothing touches a cache');
$off->stop;

$node->stop;
done_testing();
