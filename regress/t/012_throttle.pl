# The per-tenant GETPAGE throttle: off by default, set at run time through
# the management API; a client asking as fast as it can gets the configured
# rate (100/s +- 5 % over 10 s); time held is counted apart.  Retention
# (gc_horizon, pitr_interval) is tenant config as well.
use strict;
use warnings;
use IO::Socket::UNIX;
use IO::Select;
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('main');
$node->start;
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 50000) g');
my ($db, $rel, $nblocks) = split /\|/, $node->safe_psql('postgres', q{
	SELECT (SELECT oid FROM pg_database WHERE datname = current_database()),
	       pg_relation_filenode('t'), pg_relation_size('t') / 8192});
my ($tenant, $timeline) = stratad_ids($node);
my $socket = stratad_socket($node);

my ($code, $body) = stratad_api($node, 'GET', "/v1/tenant/$tenant");
is($body->{getpage_throttle}{rate_per_sec}, 0, 'no throttle by default');

# GETPAGEs as fast as the answers come (16 in flight) for $secs seconds
sub hammer
{
	my ($secs) = @_;
	my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die "connect: $!";
	# read-only, with the options every client must send (StrataTest)
	print $s pagestream_startup($node, application_name => 'hammer');
	my $q = "strata_pagestream 1 default default\0";
	print $s 'Q' . pack('N', length($q) + 4) . $q;
	my ($sent, $got, $buf) = (0, 0, '');
	my $send = sub {
		my $msg = pack('C Q> Q> Q> N N N C N', 2, ++$sent, ~0, 0, 1663, $db,
			$rel, 0, $sent % $nblocks);
		print $s 'd' . pack('N', length($msg) + 4) . $msg;
	};
	$send->() for 1 .. 16;
	my $sel = IO::Select->new($s);
	my $end = time() + $secs;
	while (time() < $end)
	{
		next unless $sel->can_read($end - time());
		my $n = sysread($s, my $chunk, 1 << 20);
		last unless $n;
		$buf .= $chunk;
		while (length($buf) >= 5)
		{
			my ($type, $len) = unpack('a N', $buf);
			last if length($buf) < $len + 1;
			substr($buf, 0, $len + 1) = '';
			next unless $type eq 'd';
			$got++;
			$send->();
		}
	}
	close $s;
	return $got;
}

my $free = hammer(2);
ok($free > 500, "unthrottled: $free GETPAGEs in 2 s");

($code, $body) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/config",
	{ getpage_throttle => { rate_per_sec => 100, burst => 1 } });
is($code, 200, 'throttle set to 100/s');
is($body->{getpage_throttle}{rate_per_sec}, 100, 'and reported');
my $got = hammer(10);
my $rate = $got / 10;
ok($rate >= 95 && $rate <= 105, "throttled: $got GETPAGEs in 10 s = $rate/s (100 +- 5 %)");

($code) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/config", { getpage_throttle => undef });
is($code, 200, 'throttle off again');
ok(hammer(2) > 500, 'unthrottled again');
($code) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/config", { getpage_throttle => 'fast' });
is($code, 400, 'a malformed config is bad input');

# retention is tenant config too: absent keys stay, null is the default
($code, $body) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/config",
	{ gc_horizon => 1048576, pitr_interval => '2h' });
is($code, 200, 'retention set');
is($body->{gc_horizon}, 1048576, 'gc_horizon reported');
is($body->{pitr_interval}, 7200, 'pitr_interval reported in seconds');
is($body->{getpage_throttle}{rate_per_sec}, 0, 'the throttle stays as it was');
for my $bad ({ pitr_interval => '2x' }, { pitr_interval => -5 }, { gc_horizon => 'big' })
{
	($code) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/config", $bad);
	is($code, 400, 'malformed retention is bad input');
}
($code, $body) = stratad_api($node, 'GET', "/v1/tenant/$tenant");
is($body->{pitr_interval}, 7200, 'and nothing changed');

# the settings survive a restart of stratad
($code) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/config",
	{ getpage_throttle => { rate_per_sec => 5000, burst => 100 }, pitr_interval => 600 });
$node->restart;
($code, $body) = stratad_api($node, 'GET', "/v1/tenant/$tenant");
is($body->{getpage_throttle}{rate_per_sec}, 5000, 'the throttle is persisted');
is($body->{pitr_interval}, 600, 'pitr_interval is persisted');
is($body->{gc_horizon}, 1048576, 'gc_horizon is persisted');
($code, $body) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/config",
	{ gc_horizon => undef, pitr_interval => undef });
is($body->{pitr_interval}, 0, 'null: back to the default pitr_interval');
is($body->{gc_horizon}, 67108864, 'null: back to the default gc_horizon');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '50000', 'the compute works under a throttle');
$node->stop;
done_testing();
