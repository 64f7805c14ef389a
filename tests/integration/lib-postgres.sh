# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced after lib.sh by what needs a PostgreSQL server (test-fleet,
# tests/bench/fleet): Debian's, started by the test in its directory as
# the postgres user (initdb refuses root), its own unix socket and port,
# no TCP. Skips (77) where it is not installed. pg_stop ends it; the
# caller puts pg_stop in its EXIT trap. $FLEET is the connection string.
# b_start starts a second host (B) of the fleet beside lib.sh's daemon;
# b_cleanup (in the EXIT trap too) ends it and removes what it made.

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

# Host B: a second prepayd beside lib.sh's (host A), the same issuers,
# its own state, cgroup root, BPF pins and socket under $B.
B_PID=
B=$T/b
B_SOCKET=$B/control.sock
B_PIN=/sys/fs/bpf/$ID-b
on_b() { PREPAY_SOCKET=$B_SOCKET "$BIN/prepay" "$@"; }
b_answers() { [ -S "$B_SOCKET" ] && on_b list >/dev/null 2>&1; }

# b_start LOGLEVEL LINES: LINES go in its [Money] section (HostId=,
# Ledger=, prices).
b_start() {
        local root
        mkdir -p "$B"
        if [ "$HYBRID" = 1 ]; then root=$ID-b; else root=${CGROUP_ROOT%/*}/$ID-b; fi
        cat >"$B/prepayd.conf" <<CONF
[Daemon]
ControlSocket=$B_SOCKET
StateDirectory=$B/state
LogLevel=$1
[Cgroup]
Backend=cgroupfs
CgroupRoot=$root
[Meter]
BpfPinPath=$B_PIN
[Money]
Currency=EUR
IssuersDirectory=$T/issuers.d
$2
CONF
        "$BIN/prepayd" -c "$B/prepayd.conf" >>"$B/prepayd.log" 2>&1 &
        B_PID=$!
        wait_for 20 b_answers || fail "host B did not start: $(tail -20 "$B/prepayd.log")"
}

b_stop() {
        [ -n "$B_PID" ] || return 0
        kill -TERM "$B_PID" 2>/dev/null
        wait_for 5 pid_gone "$B_PID"
        kill -KILL "$B_PID" 2>/dev/null
        wait "$B_PID" 2>/dev/null
        B_PID=
}

b_cleanup() {
        local d pid
        b_stop
        for d in $(find /sys/fs/cgroup -maxdepth 8 -type d -name "$ID-b" 2>/dev/null); do
                for pid in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                        kill -KILL "$pid" 2>/dev/null
                done
                wait_for 2 rmdir_tree "$d"
        done
        rm -rf "$B_PIN"
}
