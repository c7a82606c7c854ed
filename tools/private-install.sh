#!/usr/bin/env bash
# Install this tree's strata into a private copy of PostgreSQL 15, so a
# test run (or a second worktree) does not touch the system installation:
#
#   tools/private-install.sh DIR
#   STRATA_PG_ROOT=DIR tools/run-tests.sh tap t/001_basic.pl
#
# DIR/usr/lib/postgresql/15 and DIR/usr/share/postgresql/15 are copies of
# the system's (made once); PostgreSQL finds its files relative to its own
# executable, so the copy serves itself, and the supervisor starts the
# stratad installed beside that postgres.  strata is installed into it
# with DESTDIR, exactly as "make install" does into the system.
set -euo pipefail
dir=${1:?usage: private-install.sh DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$dir/usr/lib/postgresql/15/bin/postgres" ]; then
	mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql"
	cp -a /usr/lib/postgresql/15 "$dir/usr/lib/postgresql/"
	cp -a /usr/share/postgresql/15 "$dir/usr/share/postgresql/"
fi
dir=$(cd "$dir" && pwd)
make -s -C "$top/server" install install-test DESTDIR="$dir"
make -s -C "$top/extension" install DESTDIR="$dir"
chmod -R a+rX "$dir"
