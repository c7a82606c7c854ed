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

our @EXPORT = qw(strata_node stratad_metric stratad_pid stratad_status wait_until
  stratad_log pg_strata_dir stratad_socket stratad_api stratad_ids
  pgbench_money_check pgbench_amcheck);

# A new cluster whose compute runs on the embedded strata sidecar.
sub strata_node
{
	my ($name, %params) = @_;
	my $extra = delete $params{extra_conf} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	$node->append_conf('postgresql.conf', <<"CONF");
shared_preload_libraries = 'strata'
wal_level = replica
shared_buffers = 1MB
strata.stratad_http_port = 0
max_prepared_transactions = 5
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

# Call the management API: returns (HTTP status, decoded JSON body or undef).
sub stratad_api
{
	my ($node, $method, $path, $body) = @_;
	require HTTP::Tiny;
	require JSON::PP;
	my $addr;
	# after a (re)start, wait for the sidecar to write its status file
	wait_until(sub { (stratad_status($node) =~ /"http_addr"\s*:\s*"([^"]+)"/) && ($addr = $1) },
		'stratad status file', 30);
	die "stratad has no http_addr" unless $addr;
	my %opt = (headers => { 'Content-Type' => 'application/json' });
	$opt{content} = JSON::PP::encode_json($body) if defined $body;
	my $res = HTTP::Tiny->new(timeout => 120)->request($method, "http://$addr$path", \%opt);
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
