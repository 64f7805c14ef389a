# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced after lib.sh by what needs a PostgreSQL server (test-fleet,
# tests/bench/fleet): Debian's, started by the test in its directory as
# the postgres user (initdb refuses root), its own unix socket and port,
# no TCP. Skips (77) where it is not installed. pg_stop ends it; the
# caller puts pg_stop in its EXIT trap. $FLEET is the connection string.

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] && [ -x "$PGBIN/pg_ctl" ] ||
        skip "PostgreSQL's server is not installed (packaging/build-deps installs postgresql)"
id postgres >/dev/null 2>&1 || skip "no postgres user (the postgresql package makes it)"
command -v psql >/dev/null || skip "psql is not installed (postgresql-client)"

# The server runs as postgres (initdb refuses root) in a directory of its
# own; the test's directory is only traversable for it.
PG=$T/pg
PGSOCK=$T/pgsock
PGPORT=$((20000 + $$ % 20000))
PG_PID=
chmod 0711 "$T"
install -d -o postgres -m 0700 "$PG"
install -d -o postgres -m 0755 "$PGSOCK"
FLEET="host=$PGSOCK port=$PGPORT dbname=postgres user=postgres"

pg_stop() {
        [ -f "$PG/data/postmaster.pid" ] || return 0
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG/data" -m immediate -w stop >/dev/null 2>&1 ||
                kill -KILL "$(head -n 1 "$PG/data/postmaster.pid")" 2>/dev/null
}

pg_start() {
        runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t 60 \
                -o "-k $PGSOCK -p $PGPORT -c listen_addresses='' -c fsync=on" start >/dev/null ||
                fail "PostgreSQL did not start: $(tail -5 "$PG/log")"
        PG_PID=$(head -n 1 "$PG/data/postmaster.pid")
}
pg_gone() { pid_gone "$PG_PID"; }
psql_q() { psql -X -At -h "$PGSOCK" -p "$PGPORT" -U postgres -d postgres -c "$1"; }

# pg_init: a new cluster, started.
pg_init() {
        runuser -u postgres -- "$PGBIN/initdb" -D "$PG/data" --auth=trust -U postgres >"$T/initdb.log" 2>&1 ||
                fail "initdb failed: $(tail -5 "$T/initdb.log")"
        pg_start
}
