# The working-set estimate: approximate_working_set_size(reset) counts the
# distinct pages that reached the storage manager since the last reset,
# approximate_working_set_size_seconds(n) those of the last n seconds.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use StrataTest;

my $node = strata_node('ws');
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION strata');
# ~3,000 blocks: larger than shared_buffers (1 MB), so a scan reads them all
$node->safe_psql('postgres', q{
	CREATE TABLE t AS SELECT g, repeat('w', 2000) AS pad FROM generate_series(1, 9000) g});
my $nblocks = $node->safe_psql('postgres', q{SELECT pg_relation_size('t') / 8192});
cmp_ok($nblocks, '>', 2000, "t has $nblocks blocks");

sub wss
{
	my ($arg) = @_;
	return $node->safe_psql('postgres', "SELECT approximate_working_set_size($arg)");
}

wss('true');
cmp_ok(wss('false'), '<', 50, 'a reset empties the estimate');
$node->safe_psql('postgres', 'SELECT count(*) FROM t');
my $one = wss('false');
cmp_ok($one, '>=', 0.9 * $nblocks, "one scan: at least the table's blocks ($one for $nblocks)");
cmp_ok($one, '<=', 1.15 * $nblocks + 100, 'and not much more');
$node->safe_psql('postgres', 'SELECT count(*) FROM t') for 1 .. 3;
my $four = wss('false');
cmp_ok(abs($four - $one), '<=', 0.05 * $nblocks + 50,
	"reading the same pages again adds nothing ($four)");
my $recent = $node->safe_psql('postgres', 'SELECT approximate_working_set_size_seconds(60)');
cmp_ok(abs($recent - $four), '<=', 0.05 * $nblocks + 50, "the last minute holds them ($recent)");

# pages not touched for a while leave the window
ok(wait_until(sub {
	$node->safe_psql('postgres', 'SELECT approximate_working_set_size_seconds(1)') < 0.1 * $nblocks },
	'the scanned pages leave a 1-second window', 30),
	'a short window forgets pages not read within it');
cmp_ok(wss('false'), '>=', 0.9 * $nblocks, 'the estimate since the reset still holds them');

my ($ret, $out, $err) = $node->psql('postgres', 'SELECT approximate_working_set_size_seconds(0)');
like($err, qr/the interval must be a positive number of seconds/, 'a zero interval is refused');

# the reset needs a grant
$node->safe_psql('postgres', 'CREATE ROLE plain LOGIN');
($ret, $out, $err) = $node->psql('postgres', 'SELECT approximate_working_set_size(true)',
	extra_params => [ '-U', 'plain' ]);
like($err, qr/permission denied/, 'an unprivileged role cannot reset the estimate');

$node->stop;
done_testing();
