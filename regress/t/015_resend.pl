# A request the compute re-sends after a reconnect must be idempotent:
# stratad may have applied it before the connection broke (issue 12, 8).
# stratad dies after acknowledging a CREATE in its log but before
# answering; the compute reconnects, re-sends the CREATE, and the
# statement succeeds instead of failing with "already exists".
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use StrataTest;

my $node = strata_node('main');
my $once = $node->basedir . '/kill-once';
$ENV{STRATA_KILL_ONCE_FILE} = $once;
$ENV{STRATA_KILL_POINT} = 'create-before-reply';
$node->start;
my $pid = stratad_pid($node);

sub touch { open(my $fh, '>', $_[0]) or die; close $fh; }

touch($once);
my ($rc, $out, $err) = $node->psql('postgres',
	'CREATE TABLE made_twice (id int); INSERT INTO made_twice SELECT generate_series(1, 1000)');
is($rc, 0, 'CREATE TABLE succeeds across the lost answer') or diag($err);
ok(!-e $once, 'stratad reached the kill point');
like(stratad_log($node), qr/aborting at kill point "create-before-reply"/,
	'it died after acknowledging the CREATE, before answering');
ok(wait_until(sub { my $p = stratad_pid($node); defined $p && $p != $pid }, 'a new stratad'),
	'the supervisor restarted stratad');
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM made_twice'), '1000|500500',
	'the table holds its rows');

delete $ENV{STRATA_KILL_POINT};
$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*), sum(id) FROM made_twice'), '1000|500500',
	'and keeps them across a restart');
$node->stop;
done_testing();
