# The storage engine under a compute: pgbench while flushes, compaction,
# image layers and GC run all the time (verified by --gc-verify), then
# amcheck and pgbench's money check; the management API (tenants,
# timelines, branches, layers, checkpoint/compact/do_gc, errors); and a
# corrupted layer file gives a clear error naming the file.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $opts = '--checkpoint-distance 262144 --compaction-threshold 3 '
  . '--image-creation-threshold 2 --compaction-period-ms 300 --gc-horizon 0 '
  . '--gc-verify --compaction-target-size 1048576';
my $node = strata_node('main', extra_conf => "strata.stratad_options = '$opts'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench initialized on strata');
$node->command_ok([ 'pgbench', '-n', '-c', '4', '-T', '10', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench ran while the engine compacted and collected garbage');

my ($t, $tl) = stratad_ids($node);
ok($t && $tl, "embedded tenant $t timeline $tl");
my $base = "/v1/tenant/$t/timeline/$tl";

my ($code, $body) = stratad_api($node, 'GET', "$base/layer");
is($code, 200, 'layer listing');
my @kinds = map { $_->{kind} } @{ $body->{layers} };
ok(@kinds && !(grep { $_ ne 'delta' && $_ ne 'image' } @kinds), 'layers are delta or image layers');
# compaction, GC and gc-compaction keep rewriting them: count what was made
ok(stratad_metric($node, 'strata_timeline_flushes_total') > 0, 'in-memory layers were flushed to delta layers');
# gc-compaction (--gc-horizon 0) may since have rewritten the images below the cutoff
ok(stratad_metric($node, 'strata_timeline_image_layers_created_total') > 0, 'image layers were created');
ok(stratad_metric($node, 'strata_timeline_gc_compactions_total') > 0, 'gc-compaction rewrote history');
my $l = $body->{layers}[0];
ok(defined $l->{layer_file_name} && defined $l->{layer_file_size} && defined $l->{key_start}
	  && defined $l->{key_end} && defined $l->{lsn_start} && defined $l->{lsn_end},
	'a layer shows name, size, key and LSN ranges');

($code) = stratad_api($node, 'PUT', "$base/checkpoint");
is($code, 200, 'checkpoint');
($code, $body) = stratad_api($node, 'PUT', "$base/compact");
is($code, 200, 'compact');
($code, $body) = stratad_api($node, 'PUT', "$base/do_gc");
is($code, 200, 'do_gc');
like($body->{gc_cutoff_lsn}, qr{^[0-9A-F]+/[0-9A-F]+$}, 'timeline info shows the GC cutoff');
unlike(stratad_log($node), qr/GC verification failed/, 'every GC kept reads unchanged');
# L0 compaction needs two L0 layers at once, and image layers and GC keep
# consuming them (--image-creation-threshold 2, --gc-horizon 0): whether
# pgbench left two depends on timing.  Make three in a row and compact.
for (my $i = 0; $i < 10 && stratad_log($node) !~ /compacted \d+ L0 layers/; $i++)
{
	for my $j (1 .. 3)
	{
		$node->safe_psql('postgres',
			"UPDATE pgbench_accounts SET abalance = abalance WHERE aid % 20 = $j");
		stratad_api($node, 'PUT', "$base/checkpoint");
	}
	stratad_api($node, 'PUT', "$base/compact");
}
like(stratad_log($node), qr/compacted \d+ L0 layers/, 'compaction ran');
like(stratad_log($node), qr/GC removed \d+ layers/, 'GC removed layers');

is(pgbench_money_check($node), 't', 'balances match history');
is(pgbench_amcheck($node), '3', 'pgbench indexes pass amcheck');
$node->restart;
is(pgbench_money_check($node), 't', 'balances match history after a restart');

# ---- the API: tenants, timelines, branches, errors ----
my $t2 = 'ab' x 16;
($code) = stratad_api($node, 'POST', '/v1/tenant', { new_tenant_id => $t2 });
is($code, 201, 'tenant created');
($code) = stratad_api($node, 'POST', '/v1/tenant', { new_tenant_id => $t2 });
is($code, 409, 'creating it again conflicts');
($code, $body) = stratad_api($node, 'GET', '/v1/tenant');
is(scalar(@$body), 2, 'two tenants listed');
my $root = '01' x 16;
my $child = '02' x 16;
($code, $body) = stratad_api($node, 'POST', "/v1/tenant/$t2/timeline", { new_timeline_id => $root });
is($code, 201, 'timeline created');
($code, $body) = stratad_api($node, 'POST', "/v1/tenant/$t2/timeline",
	{ new_timeline_id => $child, ancestor_timeline_id => $root });
is($code, 201, 'branch created');
is($body->{ancestor_timeline_id}, $root, 'the branch names its ancestor');
($code) = stratad_api($node, 'POST', "/v1/tenant/$t2/timeline",
	{ new_timeline_id => '03' x 16, ancestor_timeline_id => $root, ancestor_start_lsn => 'FF/0' });
is($code, 400, 'a branch point past the ancestor is refused');
($code) = stratad_api($node, 'POST', "/v1/tenant/$t2/timeline",
	{ new_timeline_id => '03' x 16, ancestor_timeline_id => '09' x 16 });
is($code, 404, 'an unknown ancestor is not found');
($code) = stratad_api($node, 'POST', "/v1/tenant/$t2/timeline", { new_timeline_id => 'xyz' });
is($code, 400, 'a malformed id is bad input');
($code, $body) = stratad_api($node, 'GET', "/v1/tenant/$t2/timeline");
is(scalar(@$body), 2, 'two timelines listed');
($code) = stratad_api($node, 'DELETE', "/v1/tenant/$t2/timeline/$root");
is($code, 412, 'a timeline with branches cannot be deleted');
($code) = stratad_api($node, 'DELETE', "/v1/tenant/$t2/timeline/$child");
is($code, 200, 'the branch is deleted');
($code) = stratad_api($node, 'GET', "/v1/tenant/$t2/timeline/$child");
is($code, 404, 'and is gone');
($code) = stratad_api($node, 'DELETE', "/v1/tenant/$t2");
is($code, 200, 'the tenant is deleted');
ok(!-e pg_strata_dir($node) . "/tenants/$t2", 'with its directory');
($code) = stratad_api($node, 'GET', "/v1/tenant/$t2");
is($code, 404, 'an unknown tenant is not found');

# stratactl wraps the API
my ($out, $err);
IPC::Run::run([ 'stratactl', 'timeline', 'list', '-D', $node->data_dir ], '>', \$out, '2>', \$err);
like($out, qr/$tl/, 'stratactl timeline list shows the timeline');
IPC::Run::run([ 'stratactl', 'layers', '-D', $node->data_dir ], '>', \$out, '2>', \$err);
like($out, qr/\b(?:delta|image)\b/, 'stratactl layers lists the layers with their kind');

# ---- a corrupted layer file: a clear error naming it, nothing wrong returned ----
$node->safe_psql('postgres', 'CREATE TABLE c AS SELECT g, repeat(md5(g::text), 10) v FROM generate_series(1, 2000) g');
($code) = stratad_api($node, 'PUT', "$base/checkpoint");
is($code, 200, 'checkpoint before corrupting');
$node->stop;
my $dir = pg_strata_dir($node) . "/tenants/$t/timelines/$tl";
opendir(my $dh, $dir) or die;
my @layers = grep { /__/ } readdir($dh);
closedir $dh;
ok(@layers > 0, 'layer files exist');
for my $f (@layers)
{
	my $path = "$dir/$f";
	my $size = -s $path;
	open(my $fh, '+<', $path) or die;
	binmode $fh;
	# past the 8 KiB summary, into the values
	for my $off (8192 + 100, int($size / 2))
	{
		seek($fh, $off, 0);
		my $b;
		read($fh, $b, 1);
		seek($fh, $off, 0);
		print $fh chr((ord($b) ^ 0xFF) & 0xFF);
	}
	close $fh;
}
$node->start;
my ($ret, $o, $e) = $node->psql('postgres', 'SELECT count(*) FROM c');
isnt($ret, 0, 'reading corrupted data fails');
like($e, qr/corrupt|checksum/i, 'with a clear error');
like(stratad_log($node), qr/layer file "[^"\n]*__[^"\n]*": [^\n]*(checksum|corrupt)/,
	'stratad names the layer file');
like(stratad_log($node), qr/timeline $tl is broken/, 'and marks the timeline broken');
$node->stop('immediate');
done_testing();
