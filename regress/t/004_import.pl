# Import on first start: an existing cluster's relation files move into
# stratad; an import interrupted by a crash of stratad restarts cleanly.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE pre (id int PRIMARY KEY, v text);
	INSERT INTO pre SELECT g, md5(g::text) FROM generate_series(1, 30000) g;
	CREATE UNLOGGED TABLE pre_ul (id int);
	INSERT INTO pre_ul SELECT generate_series(1, 100);
});
my $relpath = $node->safe_psql('postgres', q{SELECT pg_relation_filepath('pre')});
$node->stop;
ok(-s $node->data_dir . "/$relpath", 'the table has a local file before strata');

$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'strata'
wal_level = replica
shared_buffers = 1MB
strata.stratad_http_port = 0
strata.stratad_path = '@{[ stratad_test_path() ]}'
});

# Interrupt the first import: stratad aborts halfway once.
my $once = $node->basedir . '/kill-once';
open(my $fh, '>', $once) or die;
close $fh;
$ENV{STRATA_KILL_POINT} = 'import-mid';
$ENV{STRATA_KILL_ONCE_FILE} = $once;
ok(!$node->start(fail_ok => 1), 'a start whose import is killed halfway fails');
like(slurp_file($node->logfile), qr/importing the cluster into stratad failed/,
	'with a clear message');
ok(-s $node->data_dir . "/$relpath", 'the local file is intact after the failed import');
$node->start;
delete $ENV{STRATA_KILL_POINT};
delete $ENV{STRATA_KILL_ONCE_FILE};
like(stratad_log($node), qr/earlier import was interrupted; starting over/,
	'the next start redoes the import');

is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM pre'),
	'30000|450015000', 'data is served after an interrupted import');
ok(!-e $once, 'the kill point fired');
like(stratad_log($node), qr/import/i, 'stratad logged the import');
ok(-e $node->data_dir . "/$relpath" && !-s $node->data_dir . "/$relpath",
	'the local file is an empty stub');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pre_ul'), '100',
	'unlogged data of a cleanly shut down cluster is imported');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pre WHERE v = md5(id::text)}),
	'30000', 'every row is intact');

$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM pre'), '30000',
	'no second import after a restart');
$node->stop;

# stratactl import: the same, offline, before the first start on strata
my $off = PostgreSQL::Test::Cluster->new('offline');
$off->init;
$off->start;
$off->safe_psql('postgres', q{CREATE TABLE o AS SELECT g FROM generate_series(1, 12345) g});
$off->stop;
my ($out, $err);
ok(IPC::Run::run([ 'stratactl', 'import', '-D', $off->data_dir ], '>', \$out, '2>', \$err),
	'stratactl import succeeds offline');
like($out, qr/imported \d+ pages; the import is complete/, 'and reports it');
$off->append_conf('postgresql.conf', "shared_preload_libraries = 'strata'\nwal_level = replica\nstrata.stratad_http_port = 0\n");
$off->start;
is($off->safe_psql('postgres', 'SELECT count(*) FROM o'), '12345', 'the offline import is served');
unlike(stratad_log($off), qr/importing \d+ relation files/, 'without a second import');
$off->stop;
done_testing();
