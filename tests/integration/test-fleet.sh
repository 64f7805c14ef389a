#!/bin/bash
# A fleet (issue 17): two prepayd instances, hosts A and B (their own
# HostId=, state, cgroup roots, BPF pins and sockets), on one PostgreSQL
# database started here from Debian's packages (initdb in the test's
# directory as the postgres user, its own unix socket and port, no TCP).
#   1. 100 clients offer one any-host voucher to both hosts at once:
#      exactly one success in the fleet; every other is told the host and
#      the time it was spent, and nothing else was spent.
#   1b. A payment on host A and a sponsor's bid on host B: each voucher
#      claimed in the fleet, then refused on the other host naming it; a
#      losing bid's change (bound to fleet-1) spent once, on host A.
#   1c. Request ids are the fleet's: one taken on host A is refused on
#      host B naming host A and the time (nothing spent there), host A
#      replays its answer; 20 clients sending one id with a voucher each
#      to both hosts at once spend one voucher in the fleet.
#   2. The database SIGKILLed during a stream of top-ups and charges, and
#      started again: every top-up acknowledged is in the fleet's books
#      once, the refused ones spent nothing (refused with "cannot be
#      reached", fail closed; payments and bids as well), the slices went
#      on being charged, and their charges reached the database after:
#      "prepay ledger verify --fleet" passes and each host's chain there
#      ends where its own file does.
#   3. Change bound to the fleet (FleetId=fleet-1 on both): host A's
#      change buys a slice on host B; offered again on A it is refused as
#      spent on host B; a host in no fleet refuses it naming fleet-1.
#   4. A host's SQLite ledger migrated with "prepay ledger migrate --to"
#      verifies before and after, the same chain in both.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 300

. "$(dirname "$0")/lib-postgres.sh"
trap 'rc=$?; b_cleanup; pg_stop; (exit $rc); cleanup' EXIT

pg_init
say "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }') on $PGSOCK port $PGPORT"

# One euro per CPU-second: charges come as the burners run.
PRICES=$(cpu_prices 1)
write_config "HostId=host-a
FleetId=fleet-1
Ledger=$FLEET
MinRuntimeSec=1s
$PRICES"
start_daemon

# Host B: the same issuer, its own everything else.
b_start debug "HostId=host-b
FleetId=fleet-1
Ledger=$FLEET
MinRuntimeSec=1s
$PRICES"

# connected: both hosts' threads reached the database (each registers
# itself when it first ships).
both_registered() { [ "$(psql_q "SELECT count(*) FROM prepay_hosts")" = 2 ]; }

# A slice on each host, bought with a voucher of its own, running a
# burner that spends its balance slowly (0.01 CPU).
buy_on() { # HOST-PREFIX LOG
        local v
        v=$(mint 1000.00)
        if [ "$1" = b ]; then
                PREPAY_SOCKET=$B_SOCKET bg "$BIN/prepay" run --voucher "$v" --cpus 0.05 -- "$BIN/tests/burn" 600 \
                        >/dev/null 2>"$2"
        else
                bg "$BIN/prepay" run --voucher "$v" --cpus 0.05 -- "$BIN/tests/burn" 600 >/dev/null 2>"$2"
        fi
        slice_from_log "$2"
}
SA=$(buy_on a "$T/run-a.log") || fail "no slice on host A: $(cat "$T/run-a.log")"
SB=$(buy_on b "$T/run-b.log") || fail "no slice on host B: $(cat "$T/run-b.log")"
wait_for 20 both_registered || fail "the hosts did not reach the fleet database: $(psql_q 'TABLE prepay_hosts')"
say "host A: slice $SA; host B: slice $SB"

# race N NAME ARGS...: N top-ups at once, alternately on host B and A,
# client I with the voucher "race_voucher I" prints and ARGS; their output
# in $T/NAME.I.out, how many were accepted in $ok.
race() {
        local n=$1 name=$2 i pids=()
        shift 2
        for i in $(seq 1 "$n"); do
                if [ $((i % 2)) = 0 ]; then
                        on_b topup "$SB" --voucher "$(race_voucher "$i")" "$@" >"$T/$name.$i.out" 2>&1 &
                else
                        prepay topup "$SA" --voucher "$(race_voucher "$i")" "$@" >"$T/$name.$i.out" 2>&1 &
                fi
                pids+=($!)
        done
        ok=0
        for i in "${!pids[@]}"; do
                wait "${pids[$i]}" && ok=$((ok + 1))
        done
}

# ---- 1. one voucher, 100 clients, two hosts ----
V=$(mint 5.00)
race_voucher() { echo "$V"; }
race 100 race
spent_told=$(grep -l "already spent on host host-[ab] at 20" "$T"/race.*.out | wc -l)
busy=$(grep -l "being spent on this host" "$T"/race.*.out | wc -l)
say "one voucher offered 100 times to two hosts: $ok accepted, $spent_told told where it was spent, $busy told it was being spent"
[ "$ok" = 1 ] || fail "$ok top-ups accepted, not one: $(cat "$T"/race.*.out | sort | uniq -c | sort -rn | head -5)"
[ $((spent_told + busy)) = 99 ] || fail "refusals not naming the host and time: $(grep -L -e "host-[ab] at\|being spent\|^$" "$T"/race.*.out | head -3 | xargs cat)"
# Once in the spent set, by one host.
vid=$(basename "$V" .voucher)
[ "$(psql_q "SELECT count(*) FROM prepay_spent WHERE voucher = '\\x$vid'")" = 1 ] ||
        fail "voucher $vid is not in the spent set once"

# ---- 1b. payments and bids claim through the fleet too ----
VP=$(mint 0.50)
prepay pay "$SA" --voucher "$VP" >/dev/null 2>"$T/pay.err" || fail "a payment on host A failed: $(cat "$T/pay.err")"
on_b pay "$SB" --voucher "$VP" >/dev/null 2>"$T/pay-b.err" && fail "host B took a payment with a voucher host A spent"
grep -q "already spent on host host-a at 20" "$T/pay-b.err" || fail "the payment again on B: $(cat "$T/pay-b.err")"
on_b sponsor offer "$SB" --period 5s --min 0.01 >/dev/null 2>"$T/offer.err" ||
        fail "sponsor offer on host B refused: $(cat "$T/offer.err")"
VB=$(mint 0.50)
on_b sponsor bid "$SB" --voucher "$VB" --name "bidder" >/dev/null 2>"$T/bid.err" ||
        fail "a bid on host B failed: $(cat "$T/bid.err")"
prepay topup "$SA" --voucher "$VB" >/dev/null 2>"$T/bid-a.err" && fail "host A took a voucher host B's bid spent"
grep -q "already spent on host host-b at 20" "$T/bid-a.err" || fail "the bid's voucher on A: $(cat "$T/bid-a.err")"
# A second bid as high for the same period (it starts 5 s after the
# offer) loses to the first: its voucher stays spent, it is paid back in
# change bound to fleet-1, new money that host A takes, once in the fleet.
on_b sponsor bid "$SB" --voucher "$(mint 0.50)" --name "loser" --json >"$T/bid2.json" 2>"$T/bid2.err" ||
        fail "a second bid on host B failed: $(cat "$T/bid2.err")"
returned() {
        on_b sponsor outcome "$SB" --bid "$(jq -r .bid.id "$T/bid2.json")" --token "$(jq -r .token "$T/bid2.json")" \
                --json >"$T/outcome2.json" 2>&1 && [ "$(jq -r .bid.state "$T/outcome2.json")" = returned ]
}
wait_for 30 returned || fail "the second bid was not returned: $(cat "$T/outcome2.json")"
jq -r .bid.change "$T/outcome2.json" >"$T/bid-change.voucher"
# Host A connected before host B published its key: the first offer is
# a miss ("unknown issuer", nothing spent) that has A read the keys again.
change_on_a() {
        prepay topup "$SA" --voucher "$T/bid-change.voucher" >/dev/null 2>"$T/bid-change.err" && return 0
        grep -q "unknown issuer" "$T/bid-change.err" ||
                fail "host A refused the change of host B's losing bid: $(cat "$T/bid-change.err")"
        return 1
}
wait_for 10 change_on_a || fail "host A never took host B's key: $(cat "$T/bid-change.err")"
on_b topup "$SB" --voucher "$T/bid-change.voucher" >/dev/null 2>"$T/bid-change-b.err" &&
        fail "the losing bid's change was taken twice in the fleet"
grep -q "already spent on host host-a at 20" "$T/bid-change-b.err" ||
        fail "the losing bid's change again on B: $(cat "$T/bid-change-b.err")"
for pair in "$VP host-a" "$VB host-b"; do
        set -- $pair
        [ "$(psql_q "SELECT host FROM prepay_spent WHERE voucher = '\\x$(basename "$1" .voucher)'")" = "$2" ] ||
                fail "voucher $1 is not in the spent set under $2"
done
say "a payment on host A and a bid on host B claimed in the fleet; each voucher refused on the other host, naming it;" \
        "a losing bid's change spent on host A"

# ---- 1c. one request id, two hosts ----
# Taken on host A, the id is refused on host B naming host A and the
# time, and nothing is spent there; sent to A again, it is A's answer
# again (replayed, nothing spent twice).
V1=$(mint 1.00)
V2=$(mint 1.00)
prepay topup "$SA" --voucher "$V1" --request-id fleet-r1 >"$T/r1-a.out" 2>&1 ||
        fail "top-up with request id fleet-r1 on host A: $(cat "$T/r1-a.out")"
on_b topup "$SB" --voucher "$V2" --request-id fleet-r1 >"$T/r1-b.out" 2>&1 &&
        fail "request id fleet-r1, taken on host A, was processed again on host B: $(cat "$T/r1-b.out")"
grep -q "Request id fleet-r1 was taken on host host-a at 20" "$T/r1-b.out" ||
        fail "host B refused request id fleet-r1 with: $(cat "$T/r1-b.out")"
v2id=$(basename "$V2" .voucher)
[ "$(psql_q "SELECT count(*) FROM prepay_spent WHERE voucher = '\\x$v2id'")" = 0 ] ||
        fail "voucher $v2id of the refused request was spent"
prepay topup "$SA" --voucher "$V1" --request-id fleet-r1 >"$T/r1-a2.out" 2>&1 ||
        fail "request id fleet-r1 sent to host A again: $(cat "$T/r1-a2.out")"
cmp -s "$T/r1-a.out" "$T/r1-a2.out" || fail "host A answered fleet-r1 differently: $(cat "$T/r1-a.out" "$T/r1-a2.out")"
on_b topup "$SB" --voucher "$V2" --request-id fleet-r2 >"$T/r2-b.out" 2>&1 ||
        fail "voucher $v2id with a new request id on host B: $(cat "$T/r2-b.out")"
# 20 clients, one request id, a voucher each, both hosts at once: one
# voucher spent in the fleet; every client gets the winner's answer
# (replayed on the winner's host) or is told the id was taken.
vs=()
for i in $(seq 1 20); do vs+=("$(mint 1.00)"); done
race_voucher() { echo "${vs[$(($1 - 1))]}"; }
race 20 r3 --request-id fleet-r3
spent=0
for v in "${vs[@]}"; do
        n=$(psql_q "SELECT count(*) FROM prepay_spent WHERE voucher = '\\x$(basename "$v" .voucher)'")
        spent=$((spent + n))
done
taken=$(grep -l "Request id fleet-r3 was taken on host host-[ab] at 20" "$T"/r3.*.out | wc -l)
say "one request id sent by 20 clients to two hosts: $spent voucher spent, $ok answered, $taken told it was taken"
[ "$spent" = 1 ] || fail "request id fleet-r3 spent $spent vouchers in the fleet"
[ $((ok + taken)) = 20 ] || fail "answers to fleet-r3 neither the winner's nor naming the host: $(grep -L "was taken on host" "$T"/r3.*.out | xargs cat | sort | uniq -c | head -5)"
[ "$(psql_q "SELECT host FROM prepay_requests WHERE request_id = 'fleet-r1'")" = host-a ] ||
        fail "request id fleet-r1 is not host-a's in the fleet: $(psql_q 'TABLE prepay_requests')"

# ---- 2. the database killed during a stream of top-ups and charges ----
mkdir -p "$T/stream"
prepay mint --key "$ISSUER_KEY" --amount 1.00 --currency EUR --count 60 --out "$T/stream" >/dev/null 2>&1 ||
        fail "prepay mint --count failed"
# stream: one top-up after the other, alternating hosts; a line per
# voucher: "<id> <host> <exit code> <the reply's first line>".
stream() {
        local i=0 v rc
        for v in "$T"/stream/*.voucher; do
                if [ $((i % 2)) = 0 ]; then
                        prepay topup "$SA" --voucher "$v" >"$T/topup.out" 2>&1
                        rc=$?
                        echo "$(basename "$v" .voucher) host-a $rc $(head -n 1 "$T/topup.out")"
                else
                        on_b topup "$SB" --voucher "$v" >"$T/topup.out" 2>&1
                        rc=$?
                        echo "$(basename "$v" .voucher) host-b $rc $(head -n 1 "$T/topup.out")"
                fi
                i=$((i + 1))
                sleep 0.2
        done
        echo done
}
stream >"$T/stream.log" 2>&1 &
STREAM_PID=$!
BG_PIDS+=("$STREAM_PID")
lines() { wc -l <"$T/stream.log"; }
lines_above() { [ "$(lines)" -gt "$1" ]; }
wait_for 60 lines_above 10 || fail "the stream of top-ups did not start: $(cat "$T/stream.log")"
# entries N: the number of entries in a host's ledger file.
entries() { prepay ledger verify --ledger "$1" | sed -n 's/.*: \([0-9]*\) entries.*/\1/p'; }
before=$(entries "$LEDGER")
kill -KILL "$PG_PID"
say "database SIGKILLed after $(lines) top-ups; host A's ledger had $before entries"
wait_for 30 pg_gone || fail "the postmaster did not die"
refused_down() { grep -q "cannot be reached\|cannot be written" "$T/stream.log"; }
wait_for 30 refused_down || fail "no top-up was refused while the database was down: $(tail -5 "$T/stream.log")"
# Payments and bids too, nothing spent.
down_said() { [[ "$(cat "$1")" == *"cannot be reached ("*"): this host takes no new money meanwhile; the voucher was not spent"* ]]; }
prepay pay "$SA" --voucher "$(mint 0.10)" >/dev/null 2>"$T/pay-down.err" && fail "a payment was taken with the database down"
down_said "$T/pay-down.err" || fail "a payment with the database down: $(cat "$T/pay-down.err")"
on_b sponsor bid "$SB" --voucher "$(mint 0.10)" --name "bidder" >/dev/null 2>"$T/bid-down.err" &&
        fail "a bid was taken with the database down"
down_said "$T/bid-down.err" || fail "a bid with the database down: $(cat "$T/bid-down.err")"
# Charges go on into the host's own ledger meanwhile (a charge a second).
more_entries() { [ "$(entries "$LEDGER")" -ge $((before + 3)) ]; }
wait_for 30 more_entries || fail "host A wrote no charges while the database was down"
status_a=$(slice_field "$SA" .account.enforcement)
[ "$status_a" = ok ] || fail "slice $SA is $status_a while the database is down"
down_lines=$(lines)
# Its backends go once they see the postmaster gone; then it starts.
pg_restart() { runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG/data" -l "$PG/log" -w -t 30 \
        -o "-k $PGSOCK -p $PGPORT -c listen_addresses=''" start >/dev/null 2>&1; }
wait_for 60 pg_restart || fail "PostgreSQL did not start again: $(tail -5 "$PG/log")"
PG_PID=$(head -n 1 "$PG/data/postmaster.pid")
say "database started again after $((down_lines)) top-ups; host A's ledger has $(entries "$LEDGER") entries"
stream_done() { grep -q '^done' "$T/stream.log"; }
wait_for 120 stream_done || fail "the stream did not end: $(tail -3 "$T/stream.log")"
ack_after=$(sed -n "$((down_lines + 1)),\$p" "$T/stream.log" | awk '$3 == 0' | wc -l)
[ "$ack_after" -gt 0 ] || fail "no top-up was taken after the database came back: $(tail -5 "$T/stream.log")"

# The slices stop and release: their last charges and releases shipped.
prepay release "$SA" >"$T/a.change" 2>"$T/a.err" || fail "release of $SA failed: $(cat "$T/a.err")"
on_b release "$SB" >/dev/null 2>&1 || fail "release of $SB failed"
shipped() { psql_q "SELECT shipped_seq FROM prepay_hosts WHERE host = '$1'"; }
all_shipped() { [ "$(shipped host-a)" = "$(entries "$LEDGER")" ] && [ "$(shipped host-b)" = "$(entries "$B/state/ledger.db")" ]; }
wait_for 30 all_shipped || fail "not every entry reached the database: host-a $(shipped host-a)/$(entries "$LEDGER"), host-b $(shipped host-b)/$(entries "$B/state/ledger.db")"

# Every acknowledged top-up once in the fleet's books, by its host; every
# refused one spent nowhere (a claim whose answer was lost taken back).
acked=0 refused=0
while read -r id host rc _; do
        [ "$id" = done ] && continue
        n=$(psql_q "SELECT count(*) FROM prepay_entries WHERE voucher = '\\x$id' AND kind = 'redeem' AND host = '$host'")
        if [ "$rc" = 0 ]; then
                [ "$n" = 1 ] || fail "acknowledged top-up of voucher $id on $host is in the fleet's books $n times"
                acked=$((acked + 1))
        else
                [ "$n" = 0 ] || fail "refused top-up of voucher $id on $host is in the fleet's books"
                refused=$((refused + 1))
        fi
done <"$T/stream.log"
unclaimed() { [ "$(psql_q "SELECT count(*) FROM prepay_spent s WHERE NOT EXISTS (SELECT 1 FROM prepay_entries e WHERE e.voucher = s.voucher)")" = 0 ]; }
wait_for 30 unclaimed || fail "claims of refused top-ups were not taken back: $(psql_q 'SELECT count(*) FROM prepay_spent')"
say "stream: $acked top-ups acknowledged (each once in the fleet's books), $refused refused (none spent)"
prepay ledger verify --fleet "$FLEET" >"$T/fleet.out" 2>&1 || fail "ledger verify --fleet: $(cat "$T/fleet.out")"
say "$(cat "$T/fleet.out")"
grep -q "(0 claimed" "$T/fleet.out" || fail "claims left without their entries: $(cat "$T/fleet.out")"
prepay ledger verify --ledger "$B/state/ledger.db" >/dev/null || fail "host B's own ledger does not verify"

# ---- 3. change bound to the fleet ----
grep -m 1 "^pv1-" "$T/a.change" >"$T/a1.voucher" || fail "host A gave no change: $(cat "$T/a.change")"
aud=$(prepay voucher show "$T/a1.voucher" --json | jq -r .audience)
[ "$aud" = fleet-1 ] || fail "host A's change is bound to '$aud', not to fleet-1: $(cat "$T/a.change")"
# Host B reads host A's key from the fleet database at its connect (and
# again on a miss): A's change buys there.
on_b run --voucher "$T/a1.voucher" --cpus 0.5 -- "$BIN/tests/burn" 0.2 >/dev/null 2>"$T/run-fc.log" ||
        fail "host A's change did not buy a slice on host B: $(cat "$T/run-fc.log")"
sfc=$(slice_in_log "$T/run-fc.log")
say "host A's change (bound to fleet-1) bought slice $sfc on host B"
prepay run --voucher "$T/a1.voucher" --cpus 0.5 -- "$BIN/tests/burn" 0.2 >/dev/null 2>"$T/again.log" &&
        fail "host A's change spent on host B was taken again on host A"
grep -q "already spent on host host-b at 20" "$T/again.log" ||
        fail "the change offered again on A: $(cat "$T/again.log")"
on_b release "$sfc" >/dev/null 2>&1 || fail "release of $sfc on host B failed"
wait_for 30 all_shipped || fail "host B's purchase with change did not reach the database"
prepay ledger verify --fleet "$FLEET" >"$T/fleet.out" 2>&1 ||
        fail "ledger verify --fleet after the change: $(cat "$T/fleet.out")"

# ---- 4. a host's SQLite ledger migrated ----
stop_daemon
mv "$T/state" "$T/state-a"
write_config "HostId=host-c
MinRuntimeSec=1s
$PRICES"
start_daemon
# A host in no fleet refuses fleet-bound change, naming the fleet.
prepay run --voucher "$T/a1.voucher" --cpus 0.5 -- "$BIN/tests/burn" 0.2 >/dev/null 2>"$T/nofleet.log" &&
        fail "a host in no fleet took change bound to fleet-1"
grep -q "bound to fleet-1, this is host host-c (in no fleet: FleetId= is not set)" "$T/nofleet.log" ||
        fail "a host in no fleet refused the fleet's change with: $(cat "$T/nofleet.log")"
v=$(mint 3.00)
prepay run --voucher "$v" --cpus 0.5 -- "$BIN/tests/burn" 0.2 >/dev/null 2>"$T/run-c.log" ||
        fail "a purchase on the SQLite host failed: $(cat "$T/run-c.log")"
sc=$(slice_in_log "$T/run-c.log")
prepay topup "$sc" --voucher "$(mint 1.00)" >/dev/null 2>&1 || fail "a top-up on the SQLite host failed"
prepay release "$sc" >/dev/null 2>&1 || fail "release on the SQLite host failed"
stop_daemon
# On a terminal (script(1)), with its progress lines shown at once.
TERM=xterm PREPAY_PROGRESS_DELAY=0 script -q -e -c "$BIN/prepay ledger migrate --to '$FLEET' --host-id host-c \
        --ledger '$LEDGER'" "$T/migrate.tty" >/dev/null </dev/null || fail "ledger migrate: $(cat "$T/migrate.tty")"
tr '\r' '\n' <"$T/migrate.tty" | sed 's/\x1b\[K//g' >"$T/migrate.out"
grep -Eq "^prepay: shipping to the fleet: [0-9]+% \([0-9]+ of [0-9]+ entries\), " "$T/migrate.out" ||
        fail "no progress line of the shipping on a terminal: $(cat "$T/migrate.out")"
grep -q "entries shipped as host host-c; .*: OK$" "$T/migrate.out" || fail "ledger migrate said: $(cat "$T/migrate.out")"
say "migrate: $(grep -Ev '^(prepay: |Script |$)' "$T/migrate.out" | tr '\n' ' ')"
[ "$(shipped host-c)" = "$(entries "$LEDGER")" ] || fail "host-c's copy ends at $(shipped host-c), its file at $(entries "$LEDGER")"
prepay ledger verify --fleet "$FLEET" --host host-c >"$T/fleet-c.out" 2>&1 || fail "verify --fleet --host host-c: $(cat "$T/fleet-c.out")"
# Again: nothing more to ship, the same answer.
prepay ledger migrate --to "$FLEET" --host-id host-c --ledger "$LEDGER" >"$T/migrate2.out" 2>&1 ||
        fail "ledger migrate again: $(cat "$T/migrate2.out")"
grep -q "0 entries shipped" "$T/migrate2.out" || fail "migrate again shipped more: $(cat "$T/migrate2.out")"
grep -q "^prepay: " "$T/migrate2.out" && fail "migrate drew progress with no terminal: $(cat "$T/migrate2.out")"
# The same file as another host: its vouchers are host-c's, refused.
prepay ledger migrate --to "$FLEET" --host-id host-d --ledger "$LEDGER" >"$T/migrate3.out" 2>&1 &&
        fail "the vouchers of host-c were migrated again as host-d's"
grep -q "which host host-c spent" "$T/migrate3.out" || fail "migrate as host-d: $(cat "$T/migrate3.out")"
prepay ledger verify --fleet "$FLEET" >"$T/fleet.out" 2>&1 || fail "ledger verify --fleet at the end: $(cat "$T/fleet.out")"
say "$(cat "$T/fleet.out")"

# A request id left without the claim it came with (a take-back that
# deleted the vouchers but not the id) is found and named.
psql_q "INSERT INTO prepay_requests (requester, request_id, host, time_usec, claim)
        VALUES ('uid 0', 'orphan-1', 'host-a', 1, '\x00112233445566778899aabbccddeeff')" >/dev/null ||
        fail "could not write the orphan request id"
prepay ledger verify --fleet "$FLEET" >"$T/orphan.out" 2>&1 && fail "verify --fleet took a request id with no claim"
grep -q "Request id orphan-1 of uid 0, taken on host host-a, has no voucher spent by its claim" "$T/orphan.out" ||
        fail "verify --fleet on an orphan request id: $(cat "$T/orphan.out")"
psql_q "DELETE FROM prepay_requests WHERE request_id = 'orphan-1'" >/dev/null || fail "could not remove it"
prepay ledger verify --fleet "$FLEET" >/dev/null 2>&1 || fail "verify --fleet without the orphan failed"
say "verify --fleet names a request id left without its claim"

# A voucher an entry spends, given to another host in the spent set, is
# named with the entry.
row=$(psql_q "SELECT encode(voucher, 'hex') || ' ' || host || ' ' || seq FROM prepay_entries
        WHERE voucher IS NOT NULL ORDER BY host, seq LIMIT 1")
read -r vhex vhost vseq <<<"$row"
[ -n "$vseq" ] || fail "no entry spends a voucher: $row"
psql_q "UPDATE prepay_spent SET host = 'host-z' WHERE voucher = '\\x$vhex'" >/dev/null || fail "could not move the voucher"
prepay ledger verify --fleet "$FLEET" >"$T/moved.out" 2>&1 && fail "verify --fleet took a voucher spent by another host's entry"
grep -q "Host $vhost: entry $vseq spends voucher .*, which the spent set gives to host host-z" "$T/moved.out" ||
        fail "verify --fleet on a moved voucher: $(cat "$T/moved.out")"
psql_q "UPDATE prepay_spent SET host = '$vhost' WHERE voucher = '\\x$vhex'" >/dev/null || fail "could not move it back"
prepay ledger verify --fleet "$FLEET" >/dev/null 2>&1 || fail "verify --fleet with the voucher back failed"
say "verify --fleet names an entry whose voucher the spent set gives to another host"

exit 0
