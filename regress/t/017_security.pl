# Security of a shared host (issue 13, ARCHITECTURE.md I20): the
# management API wants a bearer token (401 without, 403 for the read-only
# one asking to change things), refuses a Host that does not name it (DNS
# rebinding) and oversized bodies; token files that others may read are
# refused; the page service wants the startup options and keeps a
# read-only connection from writing; the socket directory must be ours.
#
# A second local user being refused by the page service's peer-uid check
# is not tested here: these tests run as one unprivileged user, who cannot
# become another.  The unit test check_pgwire does it for real when the
# unit tests run as root (a child becomes "nobody" and connects).
use strict;
use warnings;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(WNOHANG);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

delete $ENV{PGDATA};				# stratactl must not find a token by accident

my $node = strata_node('main');
$node->start;
$node->safe_psql('postgres', q{
	CREATE TABLE t AS SELECT g AS id FROM generate_series(1, 5000) g;
	CHECKPOINT;
});
my ($tenant, $tl) = stratad_ids($node);
ok(defined $tl, 'stratad serves');
my $dir = pg_strata_dir($node);
my $addr = (stratad_status($node) =~ /"http_addr"\s*:\s*"([^"]+)"/)[0];
my ($code, $body, $raw);

# ---- token files ----
for my $scope (qw(admin readonly))
{
	my $f = "$dir/api-token-$scope";
	ok(-f $f, "stratad created $f");
	is((stat $f)[2] & 07777, 0600, "... with mode 0600");
	like(stratad_token($node, $scope), qr/^[0-9a-f]{64}$/, '... holding 32 random bytes in hex');
}
isnt(stratad_token($node, 'admin'), stratad_token($node, 'readonly'), 'the two tokens differ');

# ---- 401 ----
my $refusals = () = stratad_log($node) =~ /api: refusing a request/g;
($code, $body) = stratad_api($node, 'GET', '/v1/status', undef, token => undef);
is($code, 401, 'no token: 401');
like($body->{error} // '', qr/bearer token is required/, '... with a JSON error');
($code, $body) = stratad_api($node, 'DELETE', "/v1/tenant/$tenant/timeline/$tl", undef, token => 'x' x 64);
is($code, 401, 'a wrong token: 401');
is($body->{error}, 'wrong token', '... saying so');
($code) = stratad_api($node, 'GET', '/metrics', undef, token => undef);
is($code, 401, '/metrics wants a token by default');
($code) = stratad_api($node, 'GET', '/v1/status', undef,
	token => substr(stratad_token($node), 0, 63));
is($code, 401, 'a prefix of the admin token: 401');
for (1 .. 20) { stratad_api($node, 'GET', '/v1/status', undef, token => undef) }
my $now = () = stratad_log($node) =~ /api: refusing a request/g;
is($now - $refusals, 1, 'refusals are logged once per peer, not once per request');
ok(defined stratad_pid($node), 'stratad is still running');
is(stratad_timeline($node)->{state}, 'Active', 'the timeline was not deleted');

# ---- scopes ----
my $ro = stratad_token($node, 'readonly');
($code, $body) = stratad_api($node, 'GET', '/v1/status', undef, token => $ro);
is($code, 200, 'the read-only token reads the status');
($code) = stratad_api($node, 'GET', '/metrics', undef, token => $ro);
is($code, 200, '... and /metrics');
($code) = stratad_api($node, 'GET', "/v1/tenant/$tenant/timeline/$tl", undef, token => $ro);
is($code, 200, '... and the timeline');
my $t2 = 'ab' x 16;
for my $req ([ 'POST', '/v1/tenant', { new_tenant_id => $t2 } ],
	[ 'PUT', "/v1/tenant/$tenant/config", { gc_horizon => 0 } ],
	[ 'PUT', "/v1/tenant/$tenant/timeline/$tl/checkpoint" ],
	[ 'DELETE', "/v1/tenant/$tenant/timeline/$tl" ],
	[ 'DELETE', "/v1/tenant/$tenant" ],
	[ 'GET', "/v1/tenant/$tenant/timeline/$tl/page_trace" ])
{
	($code, $body) = stratad_api($node, $req->[0], $req->[1], $req->[2], token => $ro);
	is($code, 403, "the read-only token cannot $req->[0] $req->[1]");
}
like($body->{error}, qr/read-only token/, '... and is told why');
($code, $body) = stratad_api($node, 'GET', "/v1/tenant/$tenant", undef);
is($body->{gc_horizon} != 0 ? 1 : 0, 1, 'the tenant config was not changed');
($code) = stratad_api($node, 'PUT', "/v1/tenant/$tenant/timeline/$tl/checkpoint");
is($code, 200, 'the admin token may change things');

# ---- Host check and size caps: raw HTTP, as HTTP::Tiny sets Host itself ----
sub raw_http
{
	my ($req) = @_;
	my ($h, $p) = split /:/, $addr;
	my $s = IO::Socket::INET->new(PeerAddr => $h, PeerPort => $p, Proto => 'tcp') or die "connect: $!";
	print $s $req;
	local $/;
	my $resp = <$s> // '';
	close $s;
	my ($status) = $resp =~ m{^HTTP/1\.\d (\d{3})};
	return ($status // 0, $resp);
}
my $auth = 'Authorization: Bearer ' . stratad_token($node);
my ($status, $resp) = raw_http("GET /v1/status HTTP/1.1\r\nHost: $addr\r\n$auth\r\nConnection: close\r\n\r\n");
is($status, 200, 'a request whose Host is the listener passes');
($status, $resp) = raw_http("GET /v1/status HTTP/1.1\r\nHost: rebind.example:" . (split /:/, $addr)[1]
	  . "\r\n$auth\r\nConnection: close\r\n\r\n");
is($status, 421, 'a forged Host (DNS rebinding) is refused with 421');
like($resp, qr/"error": "the Host header does not name this server"/, '... with a JSON error');
($status) = raw_http("GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1:1\r\n$auth\r\nConnection: close\r\n\r\n");
is($status, 421, 'a Host with another port is refused');
($status) = raw_http("POST /v1/tenant HTTP/1.1\r\nHost: $addr\r\n$auth\r\nContent-Type: application/json\r\n"
	  . "Content-Length: 1048576\r\nConnection: close\r\n\r\n{}");
is($status, 413, 'an oversized body is refused with 413');
($status) = raw_http("GET /v1/status HTTP/1.1\r\nHost: $addr\r\n$auth\r\nX-Pad: " . ('x' x 40000)
	  . "\r\nConnection: close\r\n\r\n");
ok($status >= 400 && $status < 500, "oversized headers are refused ($status)");
ok(defined stratad_pid($node), 'stratad is still running');

# ---- open files ----
($code, $body) = stratad_api($node, 'GET', '/v1/status');
my $hard = `sh -c 'ulimit -Hn'`;
chomp $hard;
$hard = -1 if $hard eq 'unlimited';
is($body->{open_files_limit}, $hard, "stratad raised its open-file limit to the hard limit ($hard)");

# ---- stratactl finds the token, or is given one ----
my ($out, $err);
ok(IPC::Run::run([ 'stratactl', 'status', '-D', $node->data_dir ], '>', \$out, '2>', \$err),
	'stratactl reads the admin token from the data directory') or diag($err);
like($out, qr/^state\s+active$/m, '... and prints the status');
ok(IPC::Run::run([ 'stratactl', 'timeline', 'list', '--http', $addr, '--token-file',
	"$dir/api-token-readonly" ], '>', \$out, '2>', \$err), 'stratactl --token-file (read-only) lists')
  or diag($err);
ok(!IPC::Run::run([ 'stratactl', 'tenant', 'create', $t2, '--http', $addr, '--token-file',
	"$dir/api-token-readonly" ], '>', \$out, '2>', \$err), '... but cannot create a tenant');
like($err, qr/HTTP 403/, '... (403)');
ok(!IPC::Run::run([ 'stratactl', 'status', '--http', $addr ], '>', \$out, '2>', \$err),
	'stratactl without any token is refused');
like($err, qr/HTTP 401/, '... (401)');
my $loose = $node->basedir . '/loose.token';
open(my $lf, '>', $loose) or die;
print $lf stratad_token($node), "\n";
close $lf;
chmod 0644, $loose;
ok(!IPC::Run::run([ 'stratactl', 'status', '--http', $addr, '--token-file', $loose ], '>', \$out, '2>', \$err),
	'stratactl refuses a token file of mode 0644');
like($err, qr/mode is 0644/, '... saying why');

# ---- page service: mandatory options, read-only connections ----
my $socket = stratad_socket($node);
my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
my $db = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'postgres'");
my $relnode = $node->safe_psql('postgres', "SELECT pg_relation_filenode('t')");
my $digest_sql = 'SELECT count(*), md5(string_agg(id::text, \',\' ORDER BY id)) FROM t';
my $digest = $node->safe_psql('postgres', $digest_sql);

# read v3 messages until $want arrives or the server closes: [type, body] list
sub read_messages
{
	my ($s, $want) = @_;
	my ($buf, @m) = ('');
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 10;
	eval {
		while (1)
		{
			while (length($buf) >= 5)
			{
				my ($type, $len) = unpack('a N', $buf);
				last if length($buf) < 1 + $len;
				push @m, [ $type, substr($buf, 5, $len - 4) ];
				$buf = substr($buf, 1 + $len);
				return if $type eq $want;
			}
			my $n = sysread($s, my $chunk, 65536);
			last unless $n;
			$buf .= $chunk;
		}
	};
	alarm 0;
	return @m;
}

sub error_of
{
	my (@m) = @_;
	my ($e) = grep { $_->[0] eq 'E' } @m;
	return ('', '') unless $e;
	my %f = map { substr($_, 0, 1) => substr($_, 1) } grep { $_ ne '' } split /\0/, $e->[1];
	return ($f{C} // '', $f{M} // '');
}

for my $case ([ 'no options', undef, qr/lacks the option strata\.sysid/ ],
	[ 'no mode', "-c strata.sysid=$sysid", qr/lacks the option strata\.mode/ ],
	[ 'rw without start', "-c strata.sysid=$sysid -c strata.mode=rw", qr/lacks the option strata\.start/ ],
	[ 'a bad mode', "-c strata.sysid=$sysid -c strata.mode=rx", qr/lacks the option strata\.mode/ ])
{
	my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die "connect: $!";
	print $s pagestream_startup($node, options => $case->[1]);
	my ($c, $m) = error_of(read_messages($s, 'Z'));
	is($c, '08P01', "a client with $case->[0] is refused (08P01)");
	like($m, $case->[2], '... naming the option');
}
{
	my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die "connect: $!";
	print $s pagestream_startup($node, options => '-c strata.sysid=42 -c strata.mode=ro');
	my ($c, $m) = error_of(read_messages($s, 'Z'));
	like($m, qr/system identifier mismatch/, 'a read-only client of another system is refused');
}

# a read-only connection: reads are served, a valid WRITE gets READ_ONLY
my $s = IO::Socket::UNIX->new(Peer => $socket, Type => SOCK_STREAM) or die "connect: $!";
print $s pagestream_startup($node);
my $q = "strata_pagestream 1 default default\0";
print $s 'Q' . pack('N', length($q) + 4) . $q;
my @m = read_messages($s, 'W');
is($m[-1][0], 'W', 'a read-only client starts a pagestream');
my $hdr = sub { pack('C Q> Q> Q>', $_[0], $_[1], ~0, 0) };
my $rel = pack('N N N C', 1663, $db, $relnode, 0);
my $msg = $hdr->(2, 1) . $rel . pack('N', 0);
print $s 'd' . pack('N', length($msg) + 4) . $msg;
@m = read_messages($s, 'd');
is(unpack('C', $m[-1][1] // "\0"), 102, '... and gets a GETPAGE answered');
$msg = $hdr->(17, 2) . $rel . pack('N', 0) . ("\0" x 8192);
print $s 'd' . pack('N', length($msg) + 4) . $msg;
@m = read_messages($s, 'd');
$resp = $m[-1][1] // '';
is(unpack('C', $resp), 103, 'a WRITE on a read-only connection gets an ERROR response');
is(unpack('n', substr($resp, 25, 2)), 5, '... READ_ONLY');
like(substr($resp, 27), qr/read-only \(strata\.mode=ro\)/, '... saying why');
$msg = $hdr->(19, 3) . $rel . pack('N', 0);
print $s 'd' . pack('N', length($msg) + 4) . $msg;
@m = read_messages($s, 'd');
is(unpack('n', substr($m[-1][1] // '', 25, 2)), 5, 'so does a TRUNCATE');
close $s;
$node->restart;
is($node->safe_psql('postgres', $digest_sql), $digest, 'nothing was written: t reads back exactly');

# ---- /metrics opened by the explicit option ----
$node->append_conf('postgresql.conf', "strata.stratad_options = '--metrics-no-auth'\n");
$node->restart;
($code, undef, $raw) = stratad_api($node, 'GET', '/metrics', undef, token => undef);
is($code, 200, 'with --metrics-no-auth /metrics needs no token');
like($raw, qr/^strata_/m, '... and serves the metrics');
($code) = stratad_api($node, 'GET', '/v1/status', undef, token => undef);
is($code, 401, '... while the rest still does');
$node->stop;

# ---- a standalone stratad: token files, socket directory, unix API ----
my $sd = $node->basedir . '/standalone';
my $port = PostgreSQL::Test::Cluster::get_free_port();
my $http = PostgreSQL::Test::Cluster::get_free_port();

# Run stratad with @args until it serves or exits: returns (pid, log) if
# it serves (stop it with stratad_stop), else (exit code, log and stderr).
sub stratad_try
{
	my ($datadir, @args) = @_;
	my $log = "$datadir.log";
	unlink $log, "$log.err";
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open(STDERR, '>', "$log.err");
		exec('stratad', '-D', $datadir, '--port', $port, '--http', "127.0.0.1:$http",
			'--log', $log, @args) or POSIX::_exit(127);
	}
	my $exit;
	wait_until(sub {
		$exit = $? if !defined $exit && waitpid($pid, WNOHANG) == $pid;
		defined $exit || -e "$datadir/stratad.status" }, 'stratad serves or exits', 30);
	my $text = (-e $log ? slurp_file($log) : '') . (-e "$log.err" ? slurp_file("$log.err") : '');
	return ("pid $pid", $text) unless defined $exit;
	return ($exit >> 8, $text);
}

sub stratad_stop
{
	my ($h) = @_;
	my ($pid) = $h =~ /^pid (\d+)$/ or return;
	kill 'TERM', $pid;
	waitpid($pid, 0);
	return;
}

my ($h, $log) = stratad_try($sd, '--http-socket', "$sd.api");
like($h, qr/^pid/, 'a standalone stratad serves') or diag($log);
is((stat "$sd/api-token-admin")[2] & 07777, 0600, 'it created its token files');
my $admin = slurp_file("$sd/api-token-admin");
chomp $admin;
{
	my $u = IO::Socket::UNIX->new(Peer => "$sd.api", Type => SOCK_STREAM) or die "connect $sd.api: $!";
	print $u "GET /v1/status HTTP/1.0\r\nHost: anything\r\n\r\n";
	local $/;
	like(<$u> // '', qr{^HTTP/1\.\d 401}, 'the API on the unix socket wants a token too');
}
ok(IPC::Run::run([ 'stratactl', 'status', '--http', "unix:$sd.api", '-D', $sd ], '>', \$out, '2>', \$err),
	'stratactl talks to the API on the unix socket') or diag($err);
like($out, qr/^state\s+active$/m, '... and gets the status');
stratad_stop($h);

chmod 0644, "$sd/api-token-admin";
(my $rc, $log) = stratad_try($sd);
ok($rc =~ /^\d+$/ && $rc != 0, 'stratad refuses to start with an API token file of mode 0644');
like($log, qr/refusing the token file ".*api-token-admin": its mode is 0644/, '... saying why');
chmod 0600, "$sd/api-token-admin";

my $tok = $node->basedir . '/tcp.token';
open(my $tf, '>', $tok) or die;
print $tf "tcp-token\n";
close $tf;
chmod 0644, $tok;
($rc, $log) = stratad_try($sd, '--listen-tcp', '127.0.0.1', '--token-file', $tok);
ok($rc =~ /^\d+$/ && $rc != 0, 'stratad refuses a --token-file of mode 0644');
like($log, qr/refusing the token file ".*tcp\.token": its mode is 0644/, '... saying why');
($rc, $log) = stratad_try($sd, '--token', 'tcp-token');
ok($rc =~ /^\d+$/ && $rc != 0, 'stratad refuses --token on its command line');
like($log, qr/--token is no longer accepted/, '... and points to --token-file');

# a socket directory someone else could have made: refused
my $sockdir = $node->basedir . '/sockets';
mkdir $sockdir;
chmod 0755, $sockdir;
($rc, $log) = stratad_try($sd, '--socket-dir', $sockdir);
ok($rc =~ /^\d+$/ && $rc != 0, 'stratad refuses a socket directory of mode 0755');
like($log, qr/refusing directory ".*sockets": it must be a directory owned by uid \d+ with mode 0700/,
	'... saying why');
symlink($sd, "$sockdir.link");
($rc, $log) = stratad_try($sd, '--socket-dir', "$sockdir.link");
ok($rc =~ /^\d+$/ && $rc != 0, 'stratad refuses a socket directory that is a symlink');
chmod 0700, $sockdir;
($h, $log) = stratad_try($sd, '--socket-dir', $sockdir);
like($h, qr/^pid/, 'a socket directory of ours with mode 0700 is used') or diag($log);
ok(-S "$sockdir/.s.PGSQL.$port", '... for the socket');
stratad_stop($h);
done_testing();
