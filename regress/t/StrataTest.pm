# Helpers for strata's TAP tests: a compute on the embedded sidecar, and
# ways to find, wait for and kill its stratad.
package StrataTest;

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(strata_node stratad_test_path stratad_metric stratad_pid stratad_status wait_until
  accepts_connections query_now
  stratad_log pg_strata_dir stratad_socket stratad_api stratad_ids stratad_token
  pagestream_startup
  pgbench_money_check pgbench_amcheck amcheck_all_btree pgbench_checksums
  stratad_timeline stratad_serving crash_compute_and_stratad);

# stratad-test: stratad built with the test hooks (fault injection, kill
# points), installed beside it by "make install-test"; production stratad
# has none.  The TAP suites run it; the pg_regress suite runs stratad.
sub stratad_test_path
{
	my $bindir = `pg_config --bindir`;
	chomp $bindir;
	return "$bindir/stratad-test";
}

# A new cluster whose compute runs on the embedded strata sidecar.
sub strata_node
{
	my ($name, %params) = @_;
	my $extra = delete $params{extra_conf} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $stratad = stratad_test_path();
	$node->init(%params);
	$node->append_conf('postgresql.conf', <<"CONF");
shared_preload_libraries = 'strata'
wal_level = replica
shared_buffers = 1MB
strata.stratad_http_port = 0
strata.stratad_path = '$stratad'
max_prepared_transactions = 5
strata.file_cache_size = 16MB
strata.file_cache_size_limit = 16MB
$extra
CONF
	return $node;
}

sub pg_strata_dir
{
	my ($node) = @_;
	return $node->data_dir . '/pg_strata';
}

# PID of the running stratad (from its locked pid file), or undef.
sub stratad_pid
{
	my ($node) = @_;
	my $f = pg_strata_dir($node) . '/stratad.pid';
	return undef unless -e $f;
	my $pid = slurp_file($f);
	chomp $pid;
	$pid =~ s/\s+//g;
	return undef unless $pid =~ /^\d+$/ && kill(0, $pid);
	return $pid;
}

# The status file stratad writes once it serves, as a string.
sub stratad_status
{
	my ($node) = @_;
	my $f = pg_strata_dir($node) . '/stratad.status';
	return -e $f ? slurp_file($f) : '';
}

sub stratad_socket
{
	my ($node) = @_;
	my $st = stratad_status($node);
	return $st =~ /"socket"\s*:\s*"([^"]+)"/ ? $1 : undef;
}

# A management API token of the embedded stratad ($scope: admin, the
# default, or readonly), or undef before stratad created it.
sub stratad_token
{
	my ($node, $scope) = @_;
	my $f = pg_strata_dir($node) . '/api-token-' . ($scope // 'admin');
	return undef unless -e $f;
	my $t = slurp_file($f);
	chomp $t;
	return $t;
}

# A v3 startup packet as a page-service client must send it: the options
# strata.sysid and strata.mode (ro unless given) of proto.h.  %p adds or
# replaces packet parameters (undef removes one).
sub pagestream_startup
{
	my ($node, %p) = @_;
	my $sysid = $node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()');
	my %packet = (user => 'x', database => 'x', application_name => 'test',
		options => "-c strata.sysid=$sysid -c strata.mode=ro", %p);
	delete $packet{$_} for grep { !defined $packet{$_} } keys %packet;
	my $body = pack('N', 196608) . join('', map { "$_\0$packet{$_}\0" } sort keys %packet) . "\0";
	return pack('N', length($body) + 4) . $body;
}

# Call the management API: returns (HTTP status, decoded JSON body or
# undef, raw body).  Sends the admin token unless %opt says token => a
# token (undef: none); headers => {...} adds or replaces request headers.
sub stratad_api
{
	my ($node, $method, $path, $body, %opt) = @_;
	require HTTP::Tiny;
	require JSON::PP;
	my $addr;
	# after a (re)start, wait for the sidecar to write its status file
	wait_until(sub { (stratad_status($node) =~ /"http_addr"\s*:\s*"([^"]+)"/) && ($addr = $1) },
		'stratad status file', 30);
	die "stratad has no http_addr" unless $addr;
	my $token = exists $opt{token} ? $opt{token} : stratad_token($node);
	my %h = ('Content-Type' => 'application/json');
	$h{Authorization} = "Bearer $token" if defined $token;
	%h = (%h, %{ $opt{headers} }) if $opt{headers};
	my %req = (headers => \%h);
	$req{content} = ref $body ? JSON::PP::encode_json($body) : $body if defined $body;
	my $res = HTTP::Tiny->new(timeout => 120)->request($method, "http://$addr$path", \%req);
	my $json = eval { JSON::PP::decode_json($res->{content}) };
	return ($res->{status}, $json, $res->{content});
}

# The sum of every sample of a Prometheus metric (any labels) at GET /metrics.
sub stratad_metric
{
	my ($node, $name) = @_;
	my (undef, undef, $text) = stratad_api($node, 'GET', '/metrics');
	my $sum = 0;
	$sum += $1 while $text =~ /^\Q$name\E(?:\{[^}]*\})? ([0-9.e+-]+)$/mg;
	return $sum;
}

# pgbench's invariant: every committed transfer is in history and in the
# balances.  Returns 't' when it holds.
sub pgbench_money_check
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
	SELECT (SELECT sum(abalance) FROM pgbench_accounts) =
	       (SELECT coalesce(sum(delta), 0) FROM pgbench_history)
	   AND (SELECT sum(bbalance) FROM pgbench_branches) =
	       (SELECT coalesce(sum(delta), 0) FROM pgbench_history)
	   AND (SELECT sum(tbalance) FROM pgbench_tellers) =
	       (SELECT coalesce(sum(delta), 0) FROM pgbench_history)});
}

# amcheck (heapallindexed) on pgbench's indexes: the number that pass.
sub pgbench_amcheck
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
	SELECT count(*) FROM (SELECT bt_index_check(c.oid, true)
	  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	 WHERE c.relname LIKE 'pgbench%') s});
}

# amcheck (bt_index_check with heapallindexed) on every btree index of the
# database, catalogs included: returns "passed|total".
sub amcheck_all_btree
{
	my ($node, $db) = @_;
	return $node->safe_psql($db // 'postgres', q{
	SELECT (SELECT count(*) FROM (SELECT bt_index_check(c.oid, true)
	          FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	          JOIN pg_am a ON a.oid = c.relam
	         WHERE a.amname = 'btree' AND c.relpersistence <> 't'
	           AND i.indisvalid AND i.indisready) s)
	  || '|' ||
	       (SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
	          JOIN pg_am a ON a.oid = c.relam
	         WHERE a.amname = 'btree' AND c.relpersistence <> 't'
	           AND i.indisvalid AND i.indisready)});
}

# A checksum of every row of each pgbench table, as "table=md5" lines.
sub pgbench_checksums
{
	my ($node) = @_;
	return join("\n", map {
		my $t = $_;
		"$t=" . $node->safe_psql('postgres',
			"SELECT count(*) || ':' || coalesce(md5(string_agg(r::text, ',' ORDER BY r::text)), '') FROM $t r")
	} qw(pgbench_accounts pgbench_branches pgbench_tellers pgbench_history));
}

# GET the embedded timeline from the management API: its decoded JSON, or
# undef if stratad does not answer (yet).
sub stratad_timeline
{
	my ($node) = @_;
	my ($t, $tl) = stratad_ids($node);
	return undef unless $t && $tl;
	my ($code, $body) = eval { stratad_api($node, 'GET', "/v1/tenant/$t/timeline/$tl") };
	return defined $code && $code == 200 ? $body : undef;
}

# Whether stratad $pid is running and has written its status file (that is,
# it serves).
sub stratad_serving
{
	my ($node, $pid) = @_;
	return 0 unless defined $pid && kill(0, $pid);
	return stratad_status($node) =~ /"pid"\s*:\s*$pid\b/ ? 1 : 0;
}

# kill -9 the postmaster and stratad at the same moment, wait until every
# process of the compute is gone (its backends notice the postmaster's
# death; they all share its process group, as pg_ctl makes it a session
# leader) and start the node again: crash recovery runs.  Dies if the node
# does not come back.
sub crash_compute_and_stratad
{
	my ($node) = @_;
	my $pm = (split /\n/, slurp_file($node->data_dir . '/postmaster.pid'))[0];
	my $sd = stratad_pid($node);
	kill 'KILL', $pm, (defined $sd ? $sd : ());
	wait_until(sub { !kill(0, -$pm) }, 'every process of the killed compute exits', 60)
	  or die "processes of the killed compute (pgid $pm) linger";
	wait_until(sub { !defined stratad_pid($node) }, 'the killed stratad exits', 60)
	  or die 'the killed stratad lingers';
	unlink($node->data_dir . '/postmaster.pid');
	$node->_update_pid(0);
	$node->start;
	return;
}

# The embedded tenant and timeline ids.
sub stratad_ids
{
	my ($node) = @_;
	my $st = stratad_status($node);
	my ($t) = $st =~ /"tenant_id"\s*:\s*"([0-9a-f]+)"/;
	my ($tl) = $st =~ /"timeline_id"\s*:\s*"([0-9a-f]+)"/;
	return ($t, $tl);
}

sub stratad_log
{
	my ($node) = @_;
	my $f = pg_strata_dir($node) . '/stratad.log';
	return -e $f ? slurp_file($f) : '';
}

# The result of one query, or undef if it failed.  For polling a server
# that may be restarting: $node->psql feeds its SQL on stdin, and a psql
# that exits at once (the server refused it) makes IPC::Run die with EPIPE
# (the test exits 32), so this passes the query with -c and no stdin.
sub query_now
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'psql', '-X', '-A', '-t', '-q', '-d', $node->connstr('postgres'), '-c', $sql ],
		'<', \undef, '>', \$out, '2>', \$err);
	return undef unless $ok;
	chomp $out;
	return $out;
}

# Whether the server answers a query now.
sub accepts_connections
{
	my ($node) = @_;
	my $out = query_now($node, 'SELECT 1');
	return defined $out && $out eq '1';
}

# Poll $cond every 100 ms until it returns true or $timeout seconds pass.
sub wait_until
{
	my ($cond, $what, $timeout) = @_;
	$timeout //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $timeout;
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(100_000);
	}
	diag("timed out waiting for: $what");
	return 0;
}

1;
