# kill -9 of stratad under a pgbench load: the compute survives, the
# supervisor restarts stratad, and no committed transaction is lost.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

# a tiny last-written-LSN cache stresses prefetch validity (I9) under load
my $node = strata_node('main', extra_conf => 'strata.lwlsn_cache_size = 1024');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench initialized on strata');

my $pid = stratad_pid($node);
ok($pid, "stratad runs (PID $pid)");

# A load in the background; it may see errors while stratad is away,
# which it reports but survives (-c clients keep going with retries off).
my $bench = IPC::Run::start(
	[ 'pgbench', '-n', '-c', '4', '-T', '12', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'>', \my $bench_out, '2>', \my $bench_err);

sleep 3;
kill 'KILL', $pid;
ok(wait_until(sub { my $p = stratad_pid($node); defined $p && $p != $pid },
		'a new stratad'), 'the supervisor restarted stratad');

$bench->finish;
note "pgbench: $bench_out $bench_err";

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the compute kept running');

# money is conserved: every committed transfer is in history and balances
is(pgbench_money_check($node), 't', 'balances match history');
is(pgbench_amcheck($node), '3', 'pgbench indexes pass amcheck');

# and all of it survives a restart of both
$node->restart;
is(pgbench_money_check($node), 't', 'balances match history after restart');
$node->stop;
done_testing();
