# Hostile protocol input: stratad answers with an error, closes only that
# connection, stores nothing, and keeps serving everyone else.
use strict;
use warnings;
use IO::Socket::UNIX;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('main');
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE t (id int);
	INSERT INTO t SELECT generate_series(1, 10000);
});
ok(wait_until(sub { defined stratad_socket($node) }, 'status file'),
	'stratad wrote its status file');
my $socket = stratad_socket($node);

sub startup_packet
{
	my %p = (user => 'x', database => 'x', application_name => 'hostile', @_);
	my $body = pack('N', 196608) . join('', map { "$_\0$p{$_}\0" } sort keys %p) . "\0";
	return pack('N', length($body) + 4) . $body;
}

sub read_all
{
	my ($s) = @_;
	my $buf = '';
	$s->blocking(1);
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 10;
	eval {
		while (1)
		{
			my $n = sysread($s, my $chunk, 65536);
			last if !$n;
			$buf .= $chunk;
		}
	};
	alarm 0;
	return $buf;
}

sub pagestream
{
	my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die "connect: $!";
	print $s startup_packet();
	my $q = "strata_pagestream 1 default default\0";
	print $s 'Q' . pack('N', length($q) + 4) . $q;
	return $s;
}

# 1. garbage instead of a startup packet
my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die;
print $s pack('N', 8) . pack('N', 12345678);
like(read_all($s), qr/E/, 'a bad startup packet gets an ErrorResponse');

# 2. an oversized CopyData frame
$s = pagestream();
print $s 'd' . pack('N', 64 * 1024 * 1024);
my $r = read_all($s);
like($r, qr/08P01/, 'an oversized frame gets 08P01 and the connection closes');

# 3. an unknown pagestream tag
$s = pagestream();
my $msg = pack('C', 77) . ("\0" x 24);
print $s 'd' . pack('N', length($msg) + 4) . $msg;
like(read_all($s), qr/08P01/, 'an unknown tag gets 08P01');

# 4. a truncated WRITE (header and rel, half a page)
$s = pagestream();
$msg = pack('C Q> Q> Q>', 17, 1, 100, 0) . pack('N N N C N', 1663, 5, 99999, 0, 0) . ("x" x 4000);
print $s 'd' . pack('N', length($msg) + 4) . $msg;
like(read_all($s), qr/08P01/, 'a truncated write gets 08P01');

# 5. a message type that is not allowed in COPY mode
$s = pagestream();
print $s 'P' . pack('N', 4);
like(read_all($s), qr/08P01/, 'an unexpected message type gets 08P01');

like(stratad_log($node), qr/08P01|protocol/i, 'stratad logged the violations');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '10000',
	'the compute is served as before');
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '10000',
	'nothing was stored from the bad frames');
$node->stop;
done_testing();
