# A compute on strata: the first start imports the cluster, relation files
# become empty stubs, and data survives clean and immediate restarts.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('main');
$node->start;

ok(wait_until(sub { defined stratad_pid($node) }, 'stratad running'),
	'the supervisor started stratad');
like($node->safe_psql('postgres', 'SELECT count(*) FROM pg_class'),
	qr/^\d+$/, 'catalogs are readable through strata');
like(slurp_file($node->logfile), qr/strata: storage manager installed/,
	'the storage manager was installed');
like(stratad_log($node), qr/import/i, 'stratad imported the cluster');

$node->safe_psql('postgres', q{
	CREATE EXTENSION strata;
	CREATE TABLE t (id int PRIMARY KEY, v text);
	INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50000) g;
});

# every local relation file in base/ and global/ is an empty stub
my $nonempty = 0;
for my $dir (glob($node->data_dir . '/base/*'), $node->data_dir . '/global')
{
	for my $f (glob("$dir/*"))
	{
		next unless $f =~ m{/\d+(_\w+)?(\.\d+)?$};
		$nonempty++ if -s $f;
	}
}
is($nonempty, 0, 'no local relation file has data');

is($node->safe_psql('postgres', 'SELECT mode FROM strata_status'),
	'embedded', 'strata_status reports the embedded sidecar');

$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t'),
	'50000|1250025000', 'data survives a clean restart');

$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t'),
	'50000|1250025000', 'data survives an immediate stop and crash recovery');

# without preloading, CREATE EXTENSION fails with a hint
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my ($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION strata');
isnt($ret, 0, 'CREATE EXTENSION without preloading fails');
like($err, qr/strata must be loaded via shared_preload_libraries/,
	'with a clear message');
like($err, qr/HINT:.*shared_preload_libraries/, 'and a hint');
$plain->stop;

# wal_level = minimal is refused at start
my $minimal = PostgreSQL::Test::Cluster->new('minimal');
$minimal->init;
$minimal->append_conf('postgresql.conf', "shared_preload_libraries = 'strata'\nwal_level = minimal\nmax_wal_senders = 0\n");
ok(!$minimal->start(fail_ok => 1), 'wal_level = minimal refuses to start');
like(slurp_file($minimal->logfile), qr/strata requires wal_level "replica" or higher/,
	'with a clear message');

$node->stop;
ok(wait_until(sub { !defined stratad_pid($node) }, 'stratad exits'),
	'stratad exits after the postmaster');
done_testing();
