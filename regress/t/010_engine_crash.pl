# kill -9 of stratad at each step of the storage engine's background work:
# after a layer file is written but before the manifest names it, while
# the manifest is written, after the manifest but before the snapshot
# swap, before a compaction is published.  Each time the supervisor
# restarts stratad, half-written or unlisted files are removed, and no
# committed row is lost.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use StrataTest;

my $opts = '--checkpoint-distance 131072 --compaction-threshold 2 '
  . '--image-creation-threshold 2 --compaction-period-ms 200 --gc-horizon 0';
my $node = strata_node('main', extra_conf => "strata.stratad_options = '$opts'");
my $once = $node->basedir . '/kill-once';
$ENV{STRATA_KILL_ONCE_FILE} = $once;
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE k (id int PRIMARY KEY, v text)');
my $rows = 0;

sub touch { open(my $fh, '>', $_[0]) or die; close $fh; }

for my $point (qw(flush-after-layer manifest-write publish-after-manifest compact-before-publish))
{
	$ENV{STRATA_KILL_POINT} = $point;
	$node->restart;
	my $pid = stratad_pid($node);
	touch($once);
	# enough writes for freezes, flushes and compactions to reach the point
	for my $i (1 .. 20)
	{
		my $from = $rows + 1;
		$rows += 500;
		$node->psql('postgres', "INSERT INTO k SELECT g, repeat('x', 200) FROM generate_series($from, $rows) g");
		$node->psql('postgres', 'CHECKPOINT');
		# the background work runs after the acks: give it a moment
		for (1 .. 20)
		{
			last if !-e $once;
			usleep(100_000);
		}
		last if !-e $once;
	}
	ok(!-e $once, "stratad reached kill point $point");
	ok(wait_until(sub { my $p = stratad_pid($node); defined $p && $p != $pid }, "restart after $point"),
		"stratad was restarted after dying at $point");
	like(stratad_log($node), qr/aborting at kill point "$point"/, "it died at $point");
	# the compute reconnects; every committed row is there
	ok(wait_until(sub {
		my ($r, $o) = $node->psql('postgres', 'SELECT count(*) FROM k');
		$r == 0 && $o == $rows }, "rows after $point"),
	  "no committed row lost after $point") or diag($node->psql('postgres', 'SELECT count(*) FROM k'));
}
like(stratad_log($node), qr/which the manifest does not list/,
	'files the manifest did not name were removed at restart');
delete $ENV{STRATA_KILL_POINT};
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM k'),
	"$rows|" . ($rows * ($rows + 1) / 2), 'all rows intact after a clean restart');
$node->stop;
done_testing();
