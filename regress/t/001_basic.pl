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

# stratactl and the management API
my ($out, $err);
IPC::Run::run([ 'stratactl', 'status', '--json', '-D', $node->data_dir ], '>', \$out, '2>', \$err)
  or die "stratactl: $err";
my $tenant = $node->safe_psql('postgres', 'SELECT tenant_id FROM strata_status');
like($out, qr/"tenant_id": "$tenant"/, 'stratactl status --json shows the tenant the compute sees');
like($out, qr/"timeline_id": "[0-9a-f]{32}"/, 'and the timeline');
like($out, qr/"socket": "[^"]+\.s\.PGSQL\.6400"/, 'and the socket');
my ($http) = $out =~ /"http_addr": "([^"]+)"/;
ok($http, "and the API address $http");
IPC::Run::run([ 'stratactl', 'status', '-D', $node->data_dir ], '>', \$out, '2>', \$err);
like($out, qr/^state\s+active$/m, 'stratactl status prints a summary');

sub http_get
{
	my ($addr, $path) = @_;
	my ($host, $port) = split /:/, $addr;
	my $s = IO::Socket::INET->new(PeerAddr => $host, PeerPort => $port) or die "connect $addr: $!";
	my $token = stratad_token($node);
	print $s "GET $path HTTP/1.0\r\nHost: $addr\r\nAuthorization: Bearer $token\r\n\r\n";
	local $/;
	return scalar <$s>;
}
use IO::Socket::INET;
my $metrics = http_get($http, '/metrics');
like($metrics, qr/^HTTP\/1\.\d 200/, 'GET /metrics answers 200');
like($metrics, qr/^strata_pageservice_requests_total\{op="getpage"\} [1-9]\d*$/m,
	'and counts getpage requests');
like($metrics, qr/^# TYPE strata_log_sync_seconds histogram$/m, 'and has the sync histogram');
like(http_get($http, '/v1/status'), qr/"state": "active"/, 'GET /v1/status answers');
like(http_get($http, '/nope'), qr/^HTTP\/1\.\d 404.*"error"/s, 'unknown paths get 404 with a JSON error');

$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t'),
	'50000|1250025000', 'data survives a clean restart');

$node->stop('immediate');
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t'),
	'50000|1250025000', 'data survives an immediate stop and crash recovery');

# back-to-back restarts: the new postmaster's import check waits for the
# previous stratad to finish its shutdown instead of failing
for my $mode ('immediate', 'fast', 'immediate')
{
	$node->stop($mode);
	$node->start;
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '50000',
	'back-to-back restarts work');

# without preloading, CREATE EXTENSION fails with a hint
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my $ret;
($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION strata');
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
