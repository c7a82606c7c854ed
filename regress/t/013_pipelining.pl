# The page service's pipeline: a sequential scan's readahead arrives as
# batches of GETPAGEs (batch size > 1), per-request timings reach
# /metrics, a page_trace streams what the timeline serves and stratactl
# summarizes it; with --pipelining off every request runs alone and the
# answers are the same.
use strict;
use warnings;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

# No local file cache: the scans below measure the page service, and a
# cache would serve them (t is written through it and fits in it).
my $node = strata_node('main', extra_conf => 'strata.file_cache_size = 0');
$node->start;
$node->safe_psql('postgres',
	"CREATE TABLE t AS SELECT g AS id, repeat('x', 200) AS pad FROM generate_series(1, 60000) g");
my ($db, $rel, $nblocks) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT oid FROM pg_database WHERE datname = current_database()),
	       pg_relation_filenode('t'), pg_relation_size('t') / 8192});
ok($nblocks > 1000, "table t has $nblocks blocks");
my $expect = $node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t');
is($expect, '60000|1800030000', 'the table reads back');

sub batch_avg
{
	my $n = stratad_metric($node, 'strata_pageservice_batch_size_count');
	return $n ? stratad_metric($node, 'strata_pageservice_batch_size_sum') / $n : 0;
}

# ---- pipelined (the default): readahead folds into batches ----
my $before = stratad_metric($node, 'strata_pageservice_batch_size_sum');
$node->safe_psql('postgres', 'SELECT count(*) FROM t') for 1 .. 3;
ok(stratad_metric($node, 'strata_pageservice_batch_size_sum') - $before >= 3 * $nblocks,
	'the scans were served in batches');
cmp_ok(batch_avg(), '>', 1.5, 'sequential scans give batches of several GETPAGEs');
my (undef, undef, $m) = stratad_api($node, 'GET', '/metrics');
like($m, qr/^strata_pageservice_execution_seconds_bucket\{op="getpage",le="1e-05"\} \d+$/m,
	'execution time histogram by operation, microsecond buckets');
like($m, qr/^strata_pageservice_execution_seconds_count\{op="getpage"\} [1-9]\d*$/m,
	'getpage executions counted');
like($m, qr/^strata_pageservice_execution_seconds_count\{op="write"\} [1-9]\d*$/m,
	'page writes timed too');
like($m, qr/^strata_pageservice_flush_seconds_count [1-9]\d*$/m, 'flush time histogram');
like($m, qr/^strata_pageservice_phase_seconds_total\{phase="executing"\} [0-9.]+$/m,
	'time per request phase');
like($m, qr/^strata_pageservice_batch_size_bucket\{le="32"\} \d+$/m, 'batch size histogram');
is(stratad_metric($node, 'strata_pageservice_batch_size_bucket{le="32"}'),
	stratad_metric($node, 'strata_pageservice_batch_size_count'),
	'no batch exceeds max_batch_size (32)');

# ---- page_trace ----
my ($t, $tl) = stratad_ids($node);
my $trace_file = PostgreSQL::Test::Utils::tempdir() . '/trace.bin';
my $http = (stratad_status($node) =~ /"http_addr"\s*:\s*"([^"]+)"/)[0];
# GET a trace in a child process (the response streams while we query)
sub trace_start
{
	my ($query, $file) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	return $pid if $pid;
	require HTTP::Tiny;
	my $res = HTTP::Tiny->new(timeout => 60)->get("http://$http/v1/tenant/$t/timeline/$tl/page_trace?$query",
		{ headers => { Authorization => 'Bearer ' . stratad_token($node) } });
	open(my $fh, '>:raw', $file) or POSIX::_exit(1);
	print $fh $res->{content};
	close $fh;
	POSIX::_exit($res->{status} == 200 ? 0 : 2);
}

my $pid = trace_start('time_limit_secs=3&size_limit_bytes=100000000', $trace_file);
wait_until(sub { stratad_log($node) =~ /page trace started/ }, 'the trace started', 10);
my ($code) = stratad_api($node, 'GET', "/v1/tenant/$t/timeline/$tl/page_trace");
is($code, 409, 'a second trace of the same timeline conflicts');
$node->safe_psql('postgres', 'SELECT count(*) FROM t');
waitpid($pid, 0);
is($?, 0, 'the trace streamed for its time limit and ended');
my $size = -s $trace_file;
ok($size > 64 + 40 * $nblocks && ($size - 64) % 40 == 0, "the trace holds the scan ($size bytes)");
my $sum = `stratactl page-trace $trace_file`;
like($sum, qr/^(\d+) GETPAGE requests \(0 errors\)/m, 'stratactl page-trace summarizes it');
like($sum, qr{^\s+\d+\s+[\d.]+%\s+1663/$db/$rel fork 0$}m, 'requests per relation name the table');
like($sum, qr/^hottest blocks/m, 'the hottest blocks are listed');
like($sum, qr/^rate over time:\n\s+0-1 s/m, 'and the rate over time');
my $json = `stratactl page-trace $trace_file --json`;
like($json, qr/"requests": \d+/, 'page-trace --json');

wait_until(sub { (() = stratad_log($node) =~ /page trace ended/g) >= 1 }, 'the first trace ended', 10);
$pid = trace_start('size_limit_bytes=464&time_limit_secs=60', "$trace_file.small");
wait_until(sub { (() = stratad_log($node) =~ /page trace started/g) >= 2 }, 'the second trace started', 10);
$node->safe_psql('postgres', 'SELECT count(*) FROM t');
waitpid($pid, 0);
is($?, 0, 'a size-limited trace');
is(-s "$trace_file.small", 464, 'ends at its size limit: the header and ten records');
($code) = stratad_api($node, 'GET', "/v1/tenant/$t/timeline/$tl/page_trace?size_limit_bytes=-3");
is($code, 400, 'bad trace limits are refused');
system("head -c 100 /dev/zero > $trace_file.bad");
isnt(system("stratactl page-trace $trace_file.bad 2>/dev/null"), 0, 'a non-trace file is refused');

# ---- serial: pipelining off ----
$node->append_conf('postgresql.conf', "strata.stratad_options = '--pipelining off'");
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM t'), $expect,
	'serial mode answers the same');
is(batch_avg(), 1, 'serial mode runs one request at a time');

$node->stop;
done_testing();
