# Shutdown is never held hostage by a client that stops reading (I4; the
# Neon incident in ARCHITECTURE.md 4.2): a client floods GETPAGEs on a
# timeline and never reads its responses.  Deleting that timeline, deleting
# its tenant and stopping stratad each finish within 5 seconds, and
# stratad keeps serving the compute meanwhile.
use strict;
use warnings;
use IO::Socket::UNIX;
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('main');
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE t AS SELECT g AS id, repeat(md5(g::text), 8) AS v FROM generate_series(1, 20000) g;
	CHECKPOINT;
});
my ($db, $rel, $nblocks) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT oid FROM pg_database WHERE datname = current_database()),
	       pg_relation_filenode('t'), pg_relation_size('t') / 8192});
ok($nblocks > 100, "table t has $nblocks blocks");
my ($tenant, $main) = stratad_ids($node);
my $socket = stratad_socket($node);

# read-only, with the options every client must send (StrataTest)
my $startup = pagestream_startup($node, application_name => 'flooder');
sub startup_packet { return $startup; }

# Connect on tenant/timeline, then send GETPAGEs until the socket is full;
# never read a response.  Returns the socket (kept open) and the count sent.
sub flood
{
	my ($t, $tl) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die "connect: $!";
	print $s startup_packet();
	my $q = "strata_pagestream 1 $t $tl\0";
	print $s 'Q' . pack('N', length($q) + 4) . $q;
	$s->blocking(0);
	my $sent = 0;
	my $pending = '';
	my $deadline = time() + 20;
	my $stuck_since;
	while (time() < $deadline && $sent < 200000)
	{
		if ($pending eq '')
		{
			my $msg = pack('C Q> Q> Q> N N N C N', 2, $sent + 1, ~0, 0, 1663, $db,
				$rel, 0, $sent % $nblocks);
			$pending = 'd' . pack('N', length($msg) + 4) . $msg;
		}
		my $n = syswrite($s, $pending);
		if (!defined $n || $n == 0)
		{
			# a full socket for a second: stratad stopped reading us
			$stuck_since //= time();
			last if time() - $stuck_since > 1;
			select(undef, undef, undef, 0.01);
			next;
		}
		undef $stuck_since;
		substr($pending, 0, $n) = '';
		$sent++ if $pending eq '';
	}
	return ($s, $sent);
}

sub timed
{
	my ($what, $code) = @_;
	my $t0 = time();
	my @r = $code->();
	my $dt = time() - $t0;
	ok($dt < 5, sprintf('%s took %.2f s (< 5 s)', $what, $dt));
	return @r;
}

sub compute_works
{
	my ($r, $o) = $node->psql('postgres', 'SELECT count(*) FROM t');
	return $r == 0 && $o eq '20000';
}

# 1. delete the timeline a flooder is stuck on
my $branch = '0b' x 16;
my ($code) = stratad_api($node, 'POST', "/v1/tenant/$tenant/timeline",
	{ new_timeline_id => $branch, ancestor_timeline_id => $main });
is($code, 201, 'a branch of the compute timeline');
my ($s1, $sent1) = flood($tenant, $branch);
ok($sent1 > 1000, "the flooder sent $sent1 GETPAGEs without reading");
ok(compute_works(), 'the compute is served while the flooder is stuck');
($code) = timed('deleting the flooded timeline', sub { stratad_api($node, 'DELETE', "/v1/tenant/$tenant/timeline/$branch") });
is($code, 200, 'the timeline was deleted');
ok(compute_works(), 'the compute is still served');

# 2. delete a tenant whose timeline is flooded
my $t2 = 'c2' x 16;
my $tl2 = '0c' x 16;
($code) = stratad_api($node, 'POST', '/v1/tenant', { new_tenant_id => $t2 });
is($code, 201, 'a second tenant');
($code) = stratad_api($node, 'POST', "/v1/tenant/$t2/timeline", { new_timeline_id => $tl2 });
is($code, 201, 'with a timeline');
# an empty timeline answers NOT_FOUND errors, which fill the socket all the same
my ($s2, $sent2) = flood($t2, $tl2);
ok($sent2 > 1000, "the flooder sent $sent2 requests without reading");
($code) = timed('deleting the flooded tenant', sub { stratad_api($node, 'DELETE', "/v1/tenant/$t2") });
is($code, 200, 'the tenant was deleted');
ok(compute_works(), 'the compute is still served');

# 3. stop stratad while a flooder is stuck on the compute's own timeline
my ($s3, $sent3) = flood($tenant, $main);
ok($sent3 > 1000, "the flooder sent $sent3 GETPAGEs on the main timeline without reading");
my $pid = stratad_pid($node);
timed('stopping stratad', sub {
	kill 'TERM', $pid;
	wait_until(sub { !kill(0, $pid) }, 'stratad exits', 10);
});
ok(!kill(0, $pid), 'stratad exited');
# the supervisor brings a new one and the compute goes on
ok(wait_until(\&compute_works, 'compute after restart'), 'the compute is served by the next stratad');
close $_ for ($s1, $s2, $s3);
$node->stop;
done_testing();
