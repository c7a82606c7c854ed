# Random-moment crash soak (Issue 12): pgbench runs without pause while
# stratad is killed -9 at random moments, every 5th time the postmaster
# with it, and every 7th time its successor too, during its startup.  stratad runs with tiny layers and an eager background, so the
# kills land in group writes, SYNCs, flushes, L0 compaction, image
# creation, GC and gc-compaction (with --gc-verify), and in the compute's
# checkpoints and crash recovery.  After every batch of cycles and at the
# end: the timeline is Active and nothing was logged as broken or corrupt,
# pgbench's money invariant holds, amcheck (heapallindexed) passes on every
# btree index, and a clean restart changes no row of any pgbench table.
#
# The kill moments come from a seeded generator; the seed is printed and
# STRATA_SOAK_SEED=N reruns the same schedule (the interleaving with
# pgbench and the background work still varies, so run a failing seed a
# few times).  STRATA_SOAK_CYCLES (default 20) sets the number of kills,
# STRATA_SOAK_BATCH (default 10) how many run between the full checks.
#
# Soak mode:
#   STRATA_SOAK_CYCLES=200 tools/run-tests.sh tap t/014_crash_soak.pl
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use IPC::Run;
use StrataTest;

my $seed = $ENV{STRATA_SOAK_SEED} // (time() ^ ($$ << 8)) % 1_000_000;
my $cycles = $ENV{STRATA_SOAK_CYCLES} // 20;
my $batch = $ENV{STRATA_SOAK_BATCH} // 10;
srand($seed);
diag("STRATA_SOAK_SEED=$seed STRATA_SOAK_CYCLES=$cycles STRATA_SOAK_BATCH=$batch");

my $opts = '--checkpoint-distance 262144 --compaction-threshold 3 '
  . '--image-creation-threshold 2 --compaction-period-ms 200 '
  . '--gc-horizon 1048576 --gc-verify';
my $node = strata_node('soak', extra_conf => <<"CONF");
strata.stratad_options = '$opts'
checkpoint_timeout = 30s
max_wal_size = 32MB
min_wal_size = 32MB
CONF
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');
$node->command_ok([ 'pgbench', '-i', '-s', '2', '-q', '-p', $node->port, '-h', $node->host, 'postgres' ],
	'pgbench initialized on strata');

# ---------- the load: pgbench, restarted whenever it exits ----------

my $bench_out = $node->basedir . '/pgbench.out';
my $bench_err = $node->basedir . '/pgbench.err';
my $bench;
my $bench_runs = 0;
my $bench_tx = 0;

sub bench_collect
{
	my $out = -e $bench_out ? slurp_file($bench_out) : '';
	$bench_tx = 0;
	$bench_tx += $1 while $out =~ /number of transactions actually processed: (\d+)/g;
}

# Start pgbench unless it runs.  Its clients abort on the errors a killed
# compute causes; once they all have, it exits and is started again.
sub bench_ensure
{
	return if $bench && $bench->pumpable;
	$bench->finish if $bench;
	$bench_runs++;
	$bench = IPC::Run::start(
		[ 'pgbench', '-n', '-c', '3', '-T', '100000', '-p', $node->port, '-h', $node->host, 'postgres' ],
		'<', '/dev/null', '>>', $bench_out, '2>>', $bench_err);
}

sub bench_stop
{
	return unless $bench;
	$bench->kill_kill(grace => 5) if $bench->pumpable;
	$bench->finish;
	$bench = undef;
}

# ---------- waits ----------

# The compute answers a query that reads pages from stratad.
sub compute_serves
{
	my $timed_out;
	my ($r) = $node->psql('postgres', 'SELECT sum(bbalance) FROM pgbench_branches',
		timeout => 60, timed_out => \$timed_out);
	diag('a query on the compute took over 60 s') if $timed_out;
	return !$timed_out && defined $r && $r == 0;
}

my $early_kills = 0;

# kill -9 stratad; with $again, kill its successor too, $again ms after it
# appears (so that kill lands in its startup: log replay, manifest load,
# import check), and wait for the third.
sub kill_stratad
{
	my ($again) = @_;
	my $pid = stratad_pid($node);
	die 'no stratad to kill' unless $pid;
	kill 'KILL', $pid;
	my $new;
	if (defined $again)
	{
		# wait_until polls too slowly for a startup of some 30 ms
		my $deadline = time() + 60;
		usleep(2000) until (($new = stratad_pid($node)) && $new != $pid) || time() > $deadline;
		return 0 unless $new && $new != $pid;
		usleep($again * 1000);
		$early_kills++ unless stratad_serving($node, $new);
		kill 'KILL', $new;
		$pid = $new;
	}
	return wait_until(sub { $new = stratad_pid($node); defined $new && $new != $pid
			  && stratad_serving($node, $new) }, "a new stratad after $pid", 60)
	  && wait_until(\&compute_serves, 'the compute serves again', 90);
}

sub kill_both
{
	crash_compute_and_stratad($node);
	return wait_until(sub { stratad_serving($node, stratad_pid($node)) }, 'stratad serves', 60)
	  && wait_until(\&compute_serves, 'the compute serves after crash recovery', 90);
}

# ---------- the checks ----------

my $broken_re = qr/is broken|timeline broken|data corrupted|GC verification failed|GC failed|could not be loaded/;
my $history_rows = 0;

sub full_check
{
	my ($when) = @_;
	bench_stop();

	my $tl;
	ok(wait_until(sub { $tl = stratad_timeline($node) }, 'the timeline API answers', 60),
		"$when: stratad's API answers");
	is($tl ? $tl->{state} : 'none', 'Active', "$when: the timeline is Active");
	my @bad = grep { /$broken_re/ } split /\n/, stratad_log($node);
	ok(!@bad, "$when: stratad logged nothing broken or corrupt") or diag(join("\n", @bad));
	my @pg_bad = grep { /PANIC|data corrupted|invalid page|could not read block/ } split /\n/,
	  slurp_file($node->logfile);
	ok(!@pg_bad, "$when: the compute logged no PANIC or bad page") or diag(join("\n", @pg_bad[0 .. ($#pg_bad < 20 ? $#pg_bad : 19)]));

	is(pgbench_money_check($node), 't', "$when: balances match history");
	my ($pass, $total) = split /\|/, amcheck_all_btree($node);
	ok($total >= 3 && $pass == $total, "$when: amcheck passes on every btree index ($pass of $total)");
	my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM pgbench_history');
	ok($rows > $history_rows, "$when: pgbench committed more transfers ($history_rows -> $rows)");
	$history_rows = $rows;

	my $before = pgbench_checksums($node);
	$node->stop('fast');
	$node->start;
	my $after = pgbench_checksums($node);
	is($after, $before, "$when: a clean restart changes no row");
	is(pgbench_money_check($node), 't', "$when: balances match history after the restart");
}

# ---------- the soak ----------

my $t0 = time();
bench_ensure();
for my $c (1 .. $cycles)
{
	bench_ensure();
	my $delay = 50 + int(rand(751));
	my $both = $c % 5 == 0;
	# every 7th cycle (from the 3rd) also kills the restarted stratad 0-40 ms
	# after its pid file appears, mostly before it serves
	my $again = !$both && $c % 7 == 3 ? int(rand(40)) : undef;
	usleep($delay * 1000);    # the random moment: nothing is awaited here
	my $ok = $both ? kill_both() : kill_stratad($again);
	ok($ok, sprintf('cycle %d: killed %s after %d ms%s; serving again', $c,
		$both ? 'postmaster and stratad' : 'stratad', $delay,
		defined $again ? ", its successor after $again ms" : ''))
	  or BAIL_OUT("cycle $c: the node did not come back (seed $seed)");
	full_check("after cycle $c") if $c % $batch == 0 || $c == $cycles;
	bench_ensure() if $c < $cycles;
}
bench_stop();
bench_collect();

# the kills had background work to land in
my $log = stratad_log($node);
my %done = (
	flush => scalar(() = $log =~ /flushed an in-memory layer/g),
	compaction => scalar(() = $log =~ /compacted \d+ L0 layers/g),
	image => scalar(() = $log =~ /created \d+ image layers/g),
	gc => scalar(() = $log =~ /GC removed \d+ layers|gc-compaction rewrote/g));
for my $k (sort keys %done)
{
	ok($done{$k} > 0, "stratad's background work ran: $k ($done{$k} times)");
}
my $torn = () = $log =~ /torn or corrupt record/g;
my $unlisted = () = $log =~ /which the manifest does not list/g;
diag(sprintf('background work: %s; %d successors killed before they served; '
	  . '%d unlisted files removed at startup', join(', ', map { "$_ $done{$_}" } sort keys %done),
	$early_kills, $unlisted));
my %bench_errors;
if (-e $bench_err)
{
	for (grep { /error|abort/i } split /\n/, slurp_file($bench_err))
	{
		s/\d+/N/g;
		$bench_errors{$_}++;
	}
}
diag(sprintf('seed %d: %d cycles in %d s; pgbench ran %d times, %d transactions; %d torn log tails cut',
	$seed, $cycles, time() - $t0, $bench_runs, $bench_tx, $torn));
diag("pgbench: $bench_errors{$_} x $_") for sort keys %bench_errors;
$node->stop;
done_testing();
