# TLS for TCP (issue 13): a compute on a standalone stratad over TLS
# (sslmode=verify-full against the CA, a client certificate required),
# and the management API over HTTPS with stratactl.  Refused: a stolen
# token with the wrong CA, a server with another CA's certificate or one
# for another host (the token never reaches it), a client without a
# certificate or with one of another CA, plaintext on the TLS-only
# listeners, bytes sent behind an SSLRequest, weak sslmode settings on
# the compute, loose key files.  The unix sockets stay plaintext.
#
# Certificates are made here with the openssl command line: a CA, a
# server certificate for 127.0.0.1 and localhost, a client certificate,
# and a second, unrelated CA with its own server and client certificates.
use strict;
use warnings;
use File::Copy;
use IO::Socket::INET;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

delete $ENV{PGDATA};				# stratactl must not find a token by accident

my $node = PostgreSQL::Test::Cluster->new('compute');
$node->init;
$node->start;
# about 1,500 pages: a scan with shared_buffers = 1MB reads them all from stratad
$node->safe_psql('postgres',
	q{CREATE TABLE r AS SELECT g AS id, repeat('x', 600) AS pad FROM generate_series(1, 20000) g});
$node->stop;

# ---- certificates ----
my $tls = $node->basedir . '/tls';
mkdir $tls or die;
my $serial = 1;

sub openssl
{
	my @cmd = ('openssl', @_);
	my ($out, $err);
	IPC::Run::run(\@cmd, '>', \$out, '2>', \$err) or die "@cmd failed: $err";
}

sub make_ca
{
	my ($name) = @_;
	openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', "$tls/$name.key", '-out', "$tls/$name.crt", '-days', '2', '-subj', "/CN=$name");
}

# a certificate signed by $ca with the extension line $ext
sub make_cert
{
	my ($ca, $name, $ext) = @_;
	open(my $f, '>', "$tls/$name.ext") or die;
	print $f "$ext\n";
	close $f;
	openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
		'-keyout', "$tls/$name.key", '-out', "$tls/$name.csr", '-subj', "/CN=$name");
	openssl('x509', '-req', '-in', "$tls/$name.csr", '-CA', "$tls/$ca.crt", '-CAkey', "$tls/$ca.key",
		'-set_serial', $serial++, '-days', '2', '-extfile', "$tls/$name.ext", '-out', "$tls/$name.crt");
	chmod 0600, "$tls/$name.key";
}
make_ca('ca');
make_ca('otherca');
make_cert('ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
make_cert('ca', 'client', 'extendedKeyUsage=clientAuth');
make_cert('ca', 'elsewhere', 'subjectAltName=DNS:db.example.com');
make_cert('otherca', 'forged', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
make_cert('otherca', 'stranger', 'extendedKeyUsage=clientAuth');

# ---- the standalone stratad, TLS on TCP, client certificates required ----
my $sdir = $node->basedir . '/sidecar';
my ($out, $err);
ok(IPC::Run::run([ 'stratad', '-D', $sdir, '--pgdata', $node->data_dir, '--import-only',
	'--log', "$sdir.import.log" ], '>', \$out, '2>', \$err), 'stratad --import-only imports the cluster');
my $secret = sprintf('tls%d%08x', $$, int(rand(2**31)));
my $tokfile = $node->basedir . '/stratad.token';
open(my $tf, '>', $tokfile) or die;
print $tf "$secret\n";
close $tf;
chmod 0600, $tokfile;

# every stratad started here stops with the test, even one that dies early
my @stratads;
END { eval { $_->kill_kill(grace => 5) } for @stratads }

# a stratad on $dir with TLS options @tls; returns its IPC::Run handle once serving
sub start_stratad
{
	my ($dir, $port, $http, $token, @tls) = @_;
	mkdir $dir, 0700;
	my $h = IPC::Run::start([ 'stratad', '-D', $dir, '--listen-tcp', '127.0.0.1', '--port', $port,
		'--token-file', $token, '--http', "127.0.0.1:$http", '--http-socket', "$dir.api",
		'--log', "$dir/stratad.log", '--log-level', 'debug', '--rw-grace-ms', '1000', @tls ]);
	push @stratads, $h;
	ok(wait_until(sub { -e "$dir/stratad.status" }, "stratad on $dir serving"), "stratad on port $port serves");
	return $h;
}

# stratad refuses to start with a bad TLS setup, and says why
sub stratad_refuses
{
	my ($what, $rc, $re, @args) = @_;
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'stratad', '-D', $node->basedir . '/refused', @args ], '>', \$o, '2>', \$e);
	is($? >> 8, $rc, "stratad refuses $what (exit $rc)");
	like($e, $re, '... saying why');
}
File::Copy::copy("$tls/server.key", "$tls/loose.key") or die;
chmod 0644, "$tls/loose.key";
stratad_refuses('a key file others may read', 1,
	qr/refusing the private key file ".*loose\.key": its mode is 0644/,
	'--tls-cert', "$tls/server.crt", '--tls-key', "$tls/loose.key");
stratad_refuses('a certificate without its key', 2, qr/--tls-cert and --tls-key go together/,
	'--tls-cert', "$tls/server.crt");
stratad_refuses('required client certificates without a CA', 2, qr/needs --tls-ca/,
	'--tls-cert', "$tls/server.crt", '--tls-key', "$tls/server.key", '--tls-client-cert', 'require');
stratad_refuses('a key of another certificate', 1, qr/does not belong to the certificate/,
	'--tls-cert', "$tls/server.crt", '--tls-key', "$tls/client.key");

my $port = PostgreSQL::Test::Cluster::get_free_port();
my $http = PostgreSQL::Test::Cluster::get_free_port();
my $stratad = start_stratad($sdir, $port, $http, $tokfile, '--tls-cert', "$tls/server.crt",
	'--tls-key', "$tls/server.key", '--tls-ca', "$tls/ca.crt");
like(slurp_file("$sdir/stratad.log"), qr/TLS on TCP connections \(page service and API\).*client certificates: require/,
	'stratad says TLS is on and client certificates are required');

# ---- a compute over TLS ----
my $tcp = "host=127.0.0.1 port=$port dbname=strata";
my $verified = "$tcp sslmode=verify-full sslrootcert=$tls/ca.crt";
my $with_cert = "$verified sslcert=$tls/client.crt sslkey=$tls/client.key";
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'strata'
wal_level = replica
shared_buffers = 1MB
strata.stratad_connstring = '$with_cert'
strata.stratad_token_file = '$tokfile'
strata.response_timeout = '10s'
});
$node->start;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM r'), '20000|200010000',
	'the compute reads its data from stratad over TLS');
$node->safe_psql('postgres', q{CREATE EXTENSION strata;
	INSERT INTO r SELECT g, repeat('y', 600) FROM generate_series(20001, 30000) g});
like($node->safe_psql('postgres', 'SELECT mode, target FROM strata_status'),
	qr/^remote\|stratad at 127\.0\.0\.1:$port$/, 'strata_status reports the remote sidecar');
like(slurp_file("$sdir/stratad.log"),
	qr{TLS established conn=\d+ peer=127\.0\.0\.1:\d+: TLSv1\.3 \S+, client certificate "/CN=client"},
	'stratad logs the TLS session and the client certificate');
# every page of the table, again and again: a response stuck in libpq's TLS
# buffer would stall a read until strata.response_timeout (a reconnect);
# one held back by Nagle (a TLS response leaves in several writes) would
# wait for a delayed ACK, 40 ms a round trip: 20 s a scan, not 0.2 s
my $t0 = Time::HiRes::time();
for (1 .. 3)
{
	$node->safe_psql('postgres', 'SELECT count(*) FROM r WHERE pad <> \'\'');
}
my $scans = Time::HiRes::time() - $t0;
is($node->safe_psql('postgres', q{SELECT value FROM strata_stats WHERE counter = 'reconnects'}),
	'0', 'scans over TLS never stall into a reconnect');
cmp_ok($scans, '<', 15, "three scans of 2,300 pages over TLS take seconds at most (${scans}s)");
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM r'), '30000|450015000',
	'writes over TLS survive a compute restart');
unlike(slurp_file($node->logfile), qr/reaches stratad over TCP without TLS/,
	'a verify-full connstring draws no warning');

# ---- computes that are refused (a second cluster, tried one setting at a time) ----
my $other = PostgreSQL::Test::Cluster->new('other');
$other->init;
$other->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'strata'
wal_level = replica
strata.stratad_token_file = '$tokfile'
strata.reconnect_timeout = 1000
});

# the error of the first query of $other with connstring $cs (undef: it did not start)
sub other_query_error
{
	my ($cs) = @_;
	$other->append_conf('postgresql.conf', "strata.stratad_connstring = '$cs'\n");
	return undef unless $other->start(fail_ok => 1);
	my ($rc, $o, $e) = $other->psql('postgres', 'SELECT count(*) FROM pg_class');
	$other->stop('immediate');
	return $e;
}
like(other_query_error($tcp), qr/stratad requires TLS on TCP connections: connect with sslmode=verify-full/,
	'a compute connecting in plaintext to the TLS-only listener is refused clearly');
like(slurp_file($other->logfile), qr/WARNING:  strata\.stratad_connstring reaches stratad over TCP without TLS/,
	'... and was warned at start that it sends the token in clear text');
like(other_query_error("$tcp sslmode=verify-full sslrootcert=$tls/otherca.crt sslcert=$tls/client.crt sslkey=$tls/client.key"),
	qr/certificate verify failed/, 'a compute trusting another CA does not talk to stratad');
like(other_query_error($verified . ' sslcert=/nonexistent'), qr/alert certificate required/,
	'a compute without a client certificate is refused');
for my $mode (qw(require verify-ca prefer))
{
	is(other_query_error("$tcp sslmode=$mode sslrootcert=$tls/ca.crt"), undef,
		"a compute with sslmode=$mode does not start");
	like(slurp_file($other->logfile), qr/FATAL:  strata\.stratad_connstring must not set sslmode to "$mode"/,
		'... and says why');
}
is(other_query_error("$with_cert sslpassword=x"), undef, 'a compute with an sslpassword does not start');
like(slurp_file($other->logfile), qr/must not contain "sslpassword"/, '... and says why');
my ($arc, $aout, $aerr) = $node->psql('postgres',
	"ALTER SYSTEM SET strata.stratad_connstring = '$tcp sslmode=require'");
like($aerr, qr/must not set sslmode to "require"/, 'ALTER SYSTEM refuses sslmode=require');

# ---- a stolen token ----
sub psql_error
{
	my ($cs) = @_;
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-d', $cs, '-c', 'select 1' ], '>', \$o, '2>', \$e);
	return $e;
}
my $log_pos = length(slurp_file("$sdir/stratad.log"));
like(psql_error("$tcp password=$secret sslmode=verify-full sslrootcert=$tls/otherca.crt sslcert=$tls/client.crt sslkey=$tls/client.key"),
	qr/certificate verify failed/, 'the token with the wrong CA gets nowhere');
like(psql_error("$with_cert password=$secret sslcert=$tls/stranger.crt sslkey=$tls/stranger.key"),
	qr/alert unknown ca/, 'the token with a client certificate of another CA is refused');
like(psql_error("$tcp password=$secret sslmode=disable"), qr/stratad requires TLS on TCP connections/,
	'the token in plaintext is refused');
like(psql_error("$with_cert password=$secret"), qr/lacks the option strata\.sysid/,
	'the token with the right CA and certificate passes TLS and authentication');
my $log = substr(slurp_file("$sdir/stratad.log"), $log_pos);
like($log, qr/TLS handshake failed, closing connection conn=\d+ peer=127\.0\.0\.1:\d+: tlsv1 alert unknown ca/,
	'stratad logs the failed handshake with the peer');
like($log, qr/TLS handshake failed.*certificate verify failed \(client certificate: unable to get local issuer certificate\)/,
	'... and a client certificate it could not verify');
like($log, qr/refusing a plaintext TCP client conn=\d+ peer=127\.0\.0\.1:\d+/, '... and the plaintext client');

# impostors on the path: a certificate of another CA, or of ours for another host
# (libpq checks the host name once the handshake is done, then hangs up)
for my $fake ([ 'forged', qr/certificate verify failed/, 'another CA', qr/TLS handshake failed/ ],
	[ 'elsewhere', qr/server certificate for "db\.example\.com"( \(and \d+ other names?\))? does not match host name "127\.0\.0\.1"/,
		'our CA, for another host', qr/TLS established/ ])
{
	my $idir = $node->basedir . "/impostor-$fake->[0]";
	my $itok = "$idir.token";
	open(my $f, '>', $itok) or die;
	print $f "not-the-token\n";
	close $f;
	chmod 0600, $itok;
	my $iport = PostgreSQL::Test::Cluster::get_free_port();
	my $impostor = start_stratad($idir, $iport, PostgreSQL::Test::Cluster::get_free_port(), $itok,
		'--tls-cert', "$tls/$fake->[0].crt", '--tls-key', "$tls/$fake->[0].key");
	like(psql_error("host=127.0.0.1 port=$iport dbname=strata password=$secret sslmode=verify-full "
		  . "sslrootcert=$tls/ca.crt sslcert=$tls/client.crt sslkey=$tls/client.key"),
		$fake->[1], "a server with a certificate of $fake->[2] is not trusted");
	ok(wait_until(sub { slurp_file("$idir/stratad.log") =~ $fake->[3] }, 'the impostor\'s log'),
		'... the impostor saw the handshake');
	unlike(slurp_file("$idir/stratad.log"), qr/wrong token|pgwire:/,
		'... and no startup packet, let alone the token, reached it');
	$impostor->signal('TERM');
	$impostor->finish;
}

# ---- the wire, byte by byte ----
sub read_answer
{
	my ($s) = @_;
	my $buf = '';
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 10;
	eval {
		while (1)
		{
			my $n = sysread($s, my $chunk, 65536);
			last unless $n;
			$buf .= $chunk;
			last if $buf eq 'N' || $buf eq 'S';
		}
	};
	alarm 0;
	return $buf;
}
sub tcp_socket
{
	my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
	  or die "connect: $!";
	return $sock;
}
my $sslrequest = pack('N N', 8, 80877103);
my $s = tcp_socket();
syswrite($s, $sslrequest . pagestream_startup($node));
like(read_answer($s), qr/C08P01\0Mreceived unencrypted data after SSL request\0/,
	'bytes sent behind an SSLRequest are refused (they were not encrypted)');
$s = tcp_socket();
syswrite($s, pack('N N', 8, 80877104));
is(read_answer($s), 'N', 'a GSSENCRequest gets N');
$s = tcp_socket();
syswrite($s, pagestream_startup($node));
like(read_answer($s), qr/C28000\0Mstratad requires TLS on TCP connections/,
	'a plaintext startup packet gets FATAL 28000');
$s = tcp_socket();
syswrite($s, $sslrequest);
is(read_answer($s), 'S', 'an SSLRequest gets S');
syswrite($s, "GET / HTTP/1.0\r\n\r\n");
is(read_answer($s), '', '... and what follows must be a TLS handshake');
ok(wait_until(sub { slurp_file("$sdir/stratad.log") =~ /TLS handshake failed.*: (wrong version number|http request)/ },
	'the bad handshake logged'), '... which stratad logs');
my $u = IO::Socket::UNIX->new(Peer => "$sdir/.s.PGSQL.$port", Type => SOCK_STREAM) or die "connect: $!";
syswrite($u, $sslrequest);
is(read_answer($u), 'N', 'the unix socket stays plaintext: an SSLRequest gets N');
# a CancelRequest closes the connection, which once freed it under the reader's feet
for my $sock (tcp_socket(),
	IO::Socket::UNIX->new(Peer => "$sdir/.s.PGSQL.$port", Type => SOCK_STREAM))
{
	syswrite($sock, pack('N N N N', 16, 80877102, 1, 2));
	is(read_answer($sock), '', 'a CancelRequest is answered by closing');
}
like(psql_error("$with_cert password=$secret"), qr/lacks the option strata\.sysid/,
	'... and stratad goes on serving');

# ---- the management API over HTTPS ----
my $admin = "$sdir/api-token-admin";
my @client = ('--tls-ca', "$tls/ca.crt", '--tls-cert', "$tls/client.crt", '--tls-key', "$tls/client.key");
sub stratactl
{
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'stratactl', @_ ], '>', \$o, '2>', \$e);
	return ($? >> 8, $o, $e);
}
my ($rc, $o, $e) = stratactl('status', '-D', $sdir);
is($rc, 1, 'stratactl without --tls-ca fails on an HTTPS API');
like($e, qr/the management API at 127\.0\.0\.1:$http is HTTPS: give --tls-ca FILE/, '... and says what to give');
($rc, $o, $e) = stratactl('status', '-D', $sdir, @client);
is($rc, 0, 'stratactl status over HTTPS with the CA and a client certificate');
like($o, qr/^state\s+active$/m, '... shows the status');
($rc, $o, $e) = stratactl('timeline', 'list', '--http', "localhost:$http", '--token-file', $admin, @client);
is($rc, 0, 'stratactl reaches the API by a name in the certificate');
like($o, qr/Active/, '... and lists the timeline');
($rc, $o, $e) = stratactl('status', '--http', "127.0.0.1:$http", '--token-file', $admin,
	'--tls-ca', "$tls/otherca.crt", '--tls-cert', "$tls/client.crt", '--tls-key', "$tls/client.key");
is($rc, 1, 'stratactl trusting another CA fails');
like($e, qr/TLS handshake failed: certificate verify failed/, '... saying why');
($rc, $o, $e) = stratactl('status', '--http', "127.0.0.1:$http", '--token-file', $admin,
	'--tls-ca', "$tls/ca.crt");
is($rc, 1, 'stratactl without a client certificate is refused');
like($e, qr/alert certificate required/, '... saying why');
($rc, $o, $e) = stratactl('status', '--http', "127.0.0.1:$http", '--token-file', $admin,
	'--tls-ca', "$tls/ca.crt", '--tls-cert', "$tls/client.crt", '--tls-key', "$tls/loose.key");
is($rc, 1, 'stratactl refuses a client key others may read');
like($e, qr/its mode is 0644/, '... saying why');
($rc, $o, $e) = stratactl('status', '--http', "127.0.0.1:$http", '--token-file', $admin);
like($e, qr/HTTP 400: this management API speaks HTTPS only/, 'plain HTTP to the HTTPS API is told so');
require HTTP::Tiny;
my $res = HTTP::Tiny->new(timeout => 30)->get("http://127.0.0.1:$http/v1/status",
	{ headers => { Authorization => 'Bearer ' . slurp_file($admin) =~ s/\s+//r } });
is($res->{status}, 400, '... any plain HTTP client');
like(slurp_file("$sdir/stratad.log"), qr/api: TLS handshake with 127\.0\.0\.1 failed \(logged once per peer\)/,
	'stratad logs the failed API handshake');
# the API's unix socket stays plain HTTP (with the token)
($rc, $o, $e) = stratactl('status', '--http', "unix:$sdir.api", '--token-file', $admin);
is($rc, 0, 'the API on its unix socket stays plain HTTP');
$u = IO::Socket::UNIX->new(Peer => "$sdir.api", Type => SOCK_STREAM) or die "connect $sdir.api: $!";
print $u "GET /metrics HTTP/1.0\r\nAuthorization: Bearer " . (slurp_file($admin) =~ s/\s+//r) . "\r\n\r\n";
my $metrics = do { local $/; <$u> } // '';
like($metrics, qr/^strata_pageservice_tls_handshakes_total [1-9]\d*$/m, 'TLS sessions are counted');
like($metrics, qr/^strata_pageservice_tls_handshake_failures_total [1-9]\d*$/m, '... and failed handshakes');

unlike(`ps -eo args`, qr/\Q$secret\E/, 'the token is on no command line');
unlike(slurp_file($node->logfile) . slurp_file($other->logfile), qr/\Q$secret\E/,
	'the token never appears in the computes\' logs');

$node->stop;
$stratad->signal('TERM');
$stratad->finish;
like(slurp_file("$sdir/stratad.log"), qr/stratad: stopped/, 'the standalone stratad stops on SIGTERM');
done_testing();
