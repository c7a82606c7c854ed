# A compute on a standalone stratad over TCP: strata.stratad_connstring
# points at it, the token (from files on both sides, never on a command
# line or in a setting) is the password, and a foreign cluster or a wrong
# token is refused.
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
# the token lives in a file of mode 0600, read by stratad and the compute
# (unique, so that no other process on the host shows it by chance)
my $secret = sprintf('s3cret%d%08x', $$, int(rand(2**31)));
my $tokfile = $node->basedir . '/stratad.token';
open(my $tf, '>', $tokfile) or die;
print $tf "$secret\n";
close $tf;
chmod 0600, $tokfile;
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $http = PostgreSQL::Test::Cluster::get_free_port();
my $stratad = IPC::Run::start([ 'stratad', '-D', $sdir, '--listen-tcp', '127.0.0.1', '--port', $port,
	'--token-file', $tokfile, '--http', "127.0.0.1:$http", '--log', "$sdir/stratad.log",
	'--rw-grace-ms', '1000' ]);
ok(wait_until(sub { -e "$sdir/stratad.status" }, 'standalone stratad serving'), 'standalone stratad serves');

my $connstr = "host=127.0.0.1 port=$port dbname=strata";

# a password in the connstring, readable as a setting, is refused
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'strata'
wal_level = replica
shared_buffers = 1MB
strata.stratad_connstring = '$connstr password=$secret'
});
ok(!$node->start(fail_ok => 1), 'a compute whose connstring holds a password does not start');
like(slurp_file($node->logfile), qr/strata.stratad_connstring must not contain "password"/,
	'... and says why');
$node->append_conf('postgresql.conf', qq{
strata.stratad_connstring = '$connstr'
strata.stratad_token_file = '$tokfile'
});
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM r'), '20000|200010000',
	'the compute reads its data from the remote stratad');
$node->safe_psql('postgres', q{CREATE EXTENSION strata; INSERT INTO r SELECT generate_series(20001, 30000)});
like($node->safe_psql('postgres', 'SELECT mode, target FROM strata_status'),
	qr/^remote\|stratad at 127\.0\.0\.1:\d+$/, 'strata_status reports the remote sidecar');
ok(!-e $node->data_dir . '/pg_strata/stratad.pid', 'no embedded sidecar was started');

# the settings that lead to the token are for superusers only
$node->safe_psql('postgres', 'CREATE ROLE alice LOGIN');
for my $guc (qw(strata.stratad_connstring strata.stratad_token_file))
{
	my ($rc, $o, $e) = $node->psql('postgres', "SHOW $guc", extra_params => [ '-U', 'alice' ]);
	like($e, qr/must be superuser or have privileges of pg_read_all_settings/,
		"an ordinary user cannot SHOW $guc");
	($rc, $o, $e) = $node->psql('postgres', "SELECT count(*) FROM pg_settings WHERE name = '$guc'",
		extra_params => [ '-U', 'alice' ]);
	is($o, '0', "... nor see it in pg_settings");
}
unlike(`ps -eo args`, qr/\Q$secret\E/, 'the token is on no command line');
my ($arc, $aout, $aerr) = $node->psql('postgres',
	"ALTER SYSTEM SET strata.stratad_connstring = '$connstr password=x'");
like($aerr, qr/strata.stratad_connstring must not contain "password"/,
	'ALTER SYSTEM refuses a connstring with a password');
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
strata.stratad_token_file = '$tokfile'
strata.reconnect_timeout = 1000
});
$foreign->start;
($ret, $o2, $e2) = $foreign->psql('postgres', 'SELECT count(*) FROM pg_class');
like($e2, qr/system identifier mismatch/, 'a foreign cluster is refused');
unlike(slurp_file($foreign->logfile), qr/\Q$secret\E/, 'the token never appears in the log');
$foreign->stop('immediate');

$node->stop;
$stratad->signal('TERM');
$stratad->finish;
like(slurp_file("$sdir/stratad.log"), qr/stratad: stopped/, 'the standalone stratad stops on SIGTERM');
done_testing();
