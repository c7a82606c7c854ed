# Cancelling queries in the middle of prefetching never desynchronises
# requests and responses; a sidecar that stays away fails statements with
# a clear ERROR after strata.reconnect_timeout, and service resumes when
# it comes back.
use strict;
use warnings;
use File::Copy;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('main');
# a private copy of stratad, so the test can take it away
my $bin = $node->basedir . '/stratad';
copy(`pg_config --bindir` =~ s/\s+$//r . '/stratad', $bin) or die "copy: $!";
chmod 0755, $bin;
$node->append_conf('postgresql.conf', "strata.stratad_path = '$bin'\n");
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE big (id int, pad text);
	INSERT INTO big SELECT g, repeat('x', 200) FROM generate_series(1, 200000) g;
	CREATE EXTENSION strata;
});

# 1. cancel sequential scans (readahead in flight) many times over
my $session = $node->background_psql('postgres', on_error_stop => 0);
my $cancelled = 0;
for my $i (1 .. 20)
{
	my $timeout = 5 + ($i % 7) * 3;
	my $r = $session->query("SET statement_timeout = '${timeout}ms'; SELECT count(*) FROM big WHERE pad <> 'y'");
	$cancelled++ if $session->{stderr} =~ /canceling statement due to statement timeout/;
	$session->{stderr} = '';
}
$session->query_safe('RESET statement_timeout');
ok($cancelled > 0, "$cancelled scans were cancelled mid-flight");
is($session->query_safe('SELECT count(*), sum(id) FROM big'), '200000|20000100000',
	'the same session reads correct data after the cancellations');
is($session->query_safe(q{SELECT value FROM strata_stats WHERE counter = 'reconnects'}), '0',
	'no reconnect was needed: the stream stayed in sync');
$session->quit;

# 2. pg_cancel_backend from another session while prefetching
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_until(qr/started/, "\\echo started\nSELECT count(*) FROM big b1, (SELECT 1 FROM generate_series(1, 3)) g WHERE b1.pad <> 'z';\n");
$node->safe_psql('postgres', q{
	SELECT pg_cancel_backend(pid) FROM pg_stat_activity
	 WHERE query LIKE 'SELECT count(*) FROM big b1%' AND pid <> pg_backend_pid()});
is($bg->query('SELECT count(*) FROM big'), '200000', 'a cancelled backend goes on correctly');
like($bg->{stderr}, qr/canceling statement due to user request/, 'the scan was cancelled');
$bg->quit;

# 3. stratad stays away: ERROR after reconnect_timeout, then recovery
$node->safe_psql('postgres', q{ALTER SYSTEM SET strata.reconnect_timeout = '2s'; SELECT pg_reload_conf()});
my $pid = stratad_pid($node);
unlink $bin or die;
kill 'KILL', $pid;
ok(wait_until(sub { !kill(0, $pid) }, 'stratad gone'), 'stratad killed');
my ($ret, $out, $err) = $node->psql('postgres', 'SELECT count(*) FROM big');
isnt($ret, 0, 'a query fails while stratad is away');
like($err, qr/could not connect to embedded stratad/, 'with a clear ERROR');
unlike($err, qr/PANIC/, 'not a PANIC');
copy(`pg_config --bindir` =~ s/\s+$//r . '/stratad', $bin) or die;
chmod 0755, $bin;
ok(wait_until(sub { defined stratad_pid($node) }, 'stratad restarted'),
	'the supervisor starts stratad again once it can');
is($node->safe_psql('postgres', 'SELECT count(*) FROM big'), '200000',
	'service resumes');
$node->stop;
done_testing();
