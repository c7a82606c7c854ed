# Hostile protocol input: stratad answers each bad frame with an
# ErrorResponse 08P01 naming the problem, logs it once, closes only that
# connection, stores nothing, and keeps serving everyone else.  Every check
# parses what came back, so a wrong answer (another SQLSTATE, no error, a
# connection left open) fails it.
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
	CHECKPOINT;
});
ok(wait_until(sub { defined stratad_socket($node) }, 'status file'),
	'stratad wrote its status file');
my $socket = stratad_socket($node);
my $db = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relnode = $node->safe_psql('postgres', "SELECT pg_relation_filenode('t')");
my $digest_sql = 'SELECT count(*), md5(string_agg(id::text, \',\' ORDER BY id)) FROM t';
my $digest = $node->safe_psql('postgres', $digest_sql);

my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
# the compute's strata.start: PgStartTime, microseconds since 2000-01-01
my $start_us = $node->safe_psql('postgres',
	q{SELECT ((extract(epoch FROM pg_postmaster_start_time()) - 946684800) * 1000000)::bigint});

# A valid startup packet (the options every client must send: StrataTest),
# read-only unless %p says otherwise.
sub startup_packet
{
	return pagestream_startup($node, application_name => 'hostile', @_);
}

# Everything the server sends until it closes; closed = 1 if it did within 10 s.
sub read_until_closed
{
	my ($s) = @_;
	my $buf = '';
	my $closed = 0;
	$s->blocking(1);
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 10;
	eval {
		while (1)
		{
			my $n = sysread($s, my $chunk, 65536);
			if (!$n)
			{
				$closed = 1;
				last;
			}
			$buf .= $chunk;
		}
	};
	alarm 0;
	return ($buf, $closed);
}

# The v3 messages in $buf: a list of [type, body]; dies on a torn message.
sub messages
{
	my ($buf) = @_;
	my @m;
	while (length($buf) > 0)
	{
		die "torn message" if length($buf) < 5;
		my ($type, $len) = unpack('a N', $buf);
		die "torn message" if length($buf) < 1 + $len;
		push @m, [ $type, substr($buf, 5, $len - 4) ];
		$buf = substr($buf, 1 + $len);
	}
	return @m;
}

# An ErrorResponse body's fields: code letter -> value.
sub error_fields
{
	my ($body) = @_;
	my %f;
	for my $field (split /\0/, $body)
	{
		next if $field eq '';
		$f{ substr($field, 0, 1) } = substr($field, 1);
	}
	return %f;
}

sub violations_logged
{
	my $n = () = stratad_log($node) =~ /protocol violation, closing connection/g;
	return $n;
}

# The server must answer with an ErrorResponse 08P01 whose message matches
# $re as its last message, close the connection, and log it once ($logged:
# the count before the bad bytes were sent).
sub expect_violation
{
	my ($s, $logged, $re, $name) = @_;
	my ($buf, $closed) = read_until_closed($s);
	my @m = eval { messages($buf) };
	ok(!$@, "$name: the answer is well-formed v3") or diag($@);
	my $last = $m[-1] // [ '', '' ];
	is($last->[0], 'E', "$name: the last message is an ErrorResponse");
	my %f = error_fields($last->[1]);
	is($f{C} // '', '08P01', "$name: SQLSTATE 08P01");
	like($f{M} // '', $re, "$name: the message says what was wrong");
	ok($closed, "$name: stratad closed the connection");
	ok(wait_until(sub { violations_logged() == $logged + 1 }, "$name logged"),
		"$name: logged once");
}

sub pagestream
{
	my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die "connect: $!";
	print $s startup_packet(@_);
	my $q = "strata_pagestream 1 default default\0";
	print $s 'Q' . pack('N', length($q) + 4) . $q;
	return $s;
}

my $before;

# 1. garbage instead of a startup packet (an unknown protocol number)
$before = violations_logged();
my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die;
print $s pack('N', 8) . pack('N', 12345678);
expect_violation($s, $before, qr/unsupported frontend protocol/, 'a bad startup packet');

# 2. a startup packet whose length is absurd
$before = violations_logged();
$s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die;
print $s pack('N', 3);
expect_violation($s, $before, qr/invalid startup packet length/, 'a startup length below its header');

# 3. an oversized CopyData frame
$before = violations_logged();
$s = pagestream();
print $s 'd' . pack('N', 64 * 1024 * 1024);
expect_violation($s, $before, qr/invalid message length/, 'an oversized frame');

# 4. an unknown pagestream tag
$before = violations_logged();
$s = pagestream();
my $msg = pack('C', 77) . ("\0" x 24);
print $s 'd' . pack('N', length($msg) + 4) . $msg;
expect_violation($s, $before, qr/malformed pagestream message/, 'an unknown tag');

# 5. a frame shorter than the pagestream header
$before = violations_logged();
$s = pagestream();
print $s 'd' . pack('N', 4 + 3) . 'abc';
expect_violation($s, $before, qr/malformed pagestream message/, 'a frame shorter than a header');

# 6. a truncated WRITE aimed at block 0 of the real table t: half a page.
# Sent as the compute itself (read-write, its own strata.start), so the
# frame check is the only thing between it and the table.
$before = violations_logged();
$s = pagestream(options => "-c strata.sysid=$sysid -c strata.mode=rw -c strata.start=$start_us");
$msg = pack('C Q> Q> Q>', 17, 1, 0xFFFFFFFF, 0) . pack('N N N C N', 1663, $db, $relnode, 0, 0)
  . ("x" x 4000);
print $s 'd' . pack('N', length($msg) + 4) . $msg;
expect_violation($s, $before, qr/malformed pagestream message/, 'a truncated WRITE');

# 7. a message type that is not allowed in COPY mode
$before = violations_logged();
$s = pagestream();
print $s 'P' . pack('N', 4);
expect_violation($s, $before, qr/unexpected message type 'P'/, 'an unexpected message type');

is($node->safe_psql('postgres', $digest_sql), $digest, 'the compute is served as before');
# a restart empties shared buffers: t is read back from stratad
$node->restart;
is($node->safe_psql('postgres', $digest_sql), $digest,
	'nothing was stored from the bad frames: t reads back exactly');
$node->stop;
done_testing();
