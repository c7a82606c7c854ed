# A compute on a standalone stratad over TCP: strata.stratad_connstring
# points at it, the token is the password, and a foreign cluster or a
# wrong token is refused.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Path;
use PostgreSQL::Test::RecursiveCopy;
use StrataTest;

my $node = PostgreSQL::Test::Cluster->new('compute');
$node->init;
$node->start;
$node->safe_psql('postgres', q{CREATE TABLE r AS SELECT g AS id FROM generate_series(1, 20000) g});
$node->stop;

# import into a sidecar directory of its own, then serve it over TCP
my $sdir = $node->basedir . '/sidecar';
my ($out, $err);
ok(IPC::Run::run([ 'stratad', '-D', $sdir, '--pgdata', $node->data_dir, '--import-only',
	'--log', "$sdir.import.log" ], '>', \$out, '2>', \$err), 'stratad --import-only imports the cluster');
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $http = PostgreSQL::Test::Cluster::get_free_port();
my $stratad = IPC::Run::start([ 'stratad', '-D', $sdir, '--listen-tcp', '127.0.0.1', '--port', $port,
	'--token', 's3cret', '--http', "127.0.0.1:$http", '--log', "$sdir/stratad.log",
	'--rw-grace-ms', '1000' ]);
ok(wait_until(sub { -e "$sdir/stratad.status" }, 'standalone stratad serving'), 'standalone stratad serves');

my $connstr = "host=127.0.0.1 port=$port password=s3cret dbname=strata";
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'strata'
wal_level = replica
shared_buffers = 1MB
strata.stratad_connstring = '$connstr'
});
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM r'), '20000|200010000',
	'the compute reads its data from the remote stratad');
$node->safe_psql('postgres', q{CREATE EXTENSION strata; INSERT INTO r SELECT generate_series(20001, 30000)});
like($node->safe_psql('postgres', 'SELECT mode, target FROM strata_status'),
	qr/^remote\|stratad at 127\.0\.0\.1:\d+$/, 'strata_status reports the remote sidecar');
ok(!-e $node->data_dir . '/pg_strata/stratad.pid', 'no embedded sidecar was started');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM r'), '30000', 'writes survive a compute restart');

# a second read-write compute on the same timeline is refused (I19)
$node->stop;
my $twin = PostgreSQL::Test::Cluster->new('twin');
$twin->init;
File::Path::rmtree($twin->data_dir);
PostgreSQL::Test::RecursiveCopy::copypath($node->data_dir, $twin->data_dir);
chmod 0700, $twin->data_dir;
$twin->append_conf('postgresql.conf', "port = " . $twin->port . "\nunix_socket_directories = '"
	  . $twin->host . "'\nstrata.reconnect_timeout = 1000\n");
$node->start;
# a session of the first compute keeps its connection to stratad open
my $hold = $node->background_psql('postgres');
is($hold->query_safe('SELECT count(*) FROM r'), '30000', 'the first compute attaches');
$twin->start;
my ($r3, $o3, $e3) = $twin->psql('postgres', 'SELECT count(*) FROM r');
like($e3, qr/another read-write compute \(postmaster started at \d+\) is attached to this timeline/,
	'a second read-write compute is refused');
$twin->stop('immediate');
is($hold->query_safe('SELECT count(*) FROM r'), '30000', 'the first compute goes on');
$hold->quit;

# a wrong token is refused with a clear error
my ($ret, $o2, $e2) = (0, '', '');
IPC::Run::run([ 'psql', '-X', '-d', "host=127.0.0.1 port=$port password=wrong dbname=strata", '-c', 'select 1' ],
	'>', \$o2, '2>', \$e2);
like($e2, qr/token authentication failed/, 'a wrong token is refused');

# a foreign cluster is refused: its system identifier differs
my $foreign = PostgreSQL::Test::Cluster->new('foreign');
$foreign->init;
$foreign->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'strata'
wal_level = replica
strata.stratad_connstring = '$connstr'
strata.reconnect_timeout = 1000
});
$foreign->start;
($ret, $o2, $e2) = $foreign->psql('postgres', 'SELECT count(*) FROM pg_class');
like($e2, qr/system identifier mismatch/, 'a foreign cluster is refused');
unlike(slurp_file($foreign->logfile), qr/s3cret/, 'the token never appears in the log');
$foreign->stop('immediate');

$node->stop;
$stratad->signal('TERM');
$stratad->finish;
like(slurp_file("$sdir/stratad.log"), qr/stratad: stopped/, 'the standalone stratad stops on SIGTERM');
done_testing();
