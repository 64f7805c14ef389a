#!/bin/bash
# A client's requests that move no money cannot grow the ledger without
# bound: 2,000 kills of a slice, by a client with its owner token over one
# connection as fast as the daemon answers, are each done and answered,
# but recorded once per slice in RepeatedEventSec= (default 60s), the rest
# counted in one event at its end or when the daemon stops. The ledger
# gains one or two event rows, not 2,000, and their counts add up to
# 2,000. With RepeatedEventSec=2s the count comes in an event of its own
# once the time is up. And "release --keep", run again and again, adds no
# request row (it is not stored for retries: it moves no money).
# 2,000 kills take about 1 s here; an emulated guest may take 30 times that.
# run-all-timeout: 240
. "$(dirname "$0")/lib.sh"

N=2000
# The socket open to all and nobody's group a client group: the flood
# comes from a client, not an operator (whose kills are recorded each).
chmod 0755 "$T"
write_config "[Daemon]
SocketMode=0666
ClientGroup=nogroup"
start_daemon

v=$(mint 1)
prepay run --voucher "$v" -- true 2>"$T/run.err" || fail "buying a slice failed: $(cat "$T/run.err")"
s=$(slice_from_log "$T/run.err") || fail "no slice"
token=$(cat "$PREPAY_TOKEN_DIR/$s") || fail "no owner token saved for $s"

# Work in the slice, to see that the kill is done, not only answered.
bg prepay run --slice "$s" -- sleep 300 2>/dev/null
runs_work() { [ "$(slice_field "$s" .usage.pids_current)" -ge 1 ]; }
wait_for 20 runs_work
[ "$(slice_field "$s" .usage.pids_current)" -ge 1 ] || fail "nothing runs in slice $s"

# flood N: N kill requests from nobody; prints how many were answered ok.
flood() {
        printf '%s' "{\"version\":1,\"op\":\"kill\",\"slice\":\"$s\",\"token\":\"$token\"}" |
                setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/tests/raw-request" "$PREPAY_SOCKET" --repeat "$1"
}
# The slice's "killed" events in the ledger, and how many kills they
# stand for: 1 each, or N for "N more in ...".
kill_events() {
        prepay ledger export --json --ledger "$LEDGER" |
                jq -c --arg s "$s" '[.events[] | select(.slice == $s and .kind == "killed")]'
}
rows() { jq length <<<"$1"; }
kills() {
        jq '[.[] | .reason | if test("^[0-9]+ more in ") then (capture("^(?<n>[0-9]+) ").n | tonumber)
                else 1 end] | add // 0' <<<"$1"
}

rows_before=$(rows "$(kill_events)")
start=$(date +%s%N)
ok=$(flood "$N") || fail "only $ok of $N kill requests were answered ok"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
[ "$(slice_field "$s" .usage.pids_current)" = 0 ] || fail "the kills left processes in slice $s"

ev=$(kill_events)
added=$(($(rows "$ev") - rows_before))
# One row at once, then at most one per 60 s the flood lasted.
bound=$((2 + elapsed_ms / 60000))
say "$N kills by a client in ${elapsed_ms} ms: $added event rows added (at most $bound)"
[ "$added" -ge 1 ] || fail "no kill was recorded"
[ "$added" -le "$bound" ] || fail "$N kills added $added event rows to the ledger, more than $bound"
[ "$(grep -c "Slice $s: event killed, balance" "$T/prepayd.log")" -le "$bound" ] ||
        fail "each kill was logged: $(grep -c "Slice $s: event killed, balance" "$T/prepayd.log") lines"

# What was held back is recorded when the daemon stops: nothing lost.
stop_daemon
ev=$(kill_events)
[ "$(kills "$ev")" = "$N" ] ||
        fail "the ledger's kill events stand for $(kills "$ev") kills, not $N: $(jq -r '.[].reason' <<<"$ev")"
say "after the stop: $(rows "$ev") rows, the last saying: $(jq -r '.[-1].reason' <<<"$ev")"

# A short RepeatedEventSec=: the count comes when the time is up.
write_config "[Daemon]
SocketMode=0666
ClientGroup=nogroup
[Enforce]
RepeatedEventSec=2s"
start_daemon
ok=$(flood 300) || fail "only $ok of 300 kill requests were answered ok"
counted() { [ "$(kills "$(kill_events)")" = $((N + 300)) ]; }
wait_for 15 counted
ev=$(kill_events)
counted || fail "15 s after 300 more kills the ledger stands for $(kills "$ev") kills, not $((N + 300))"
say "RepeatedEventSec=2s: $(($(rows "$ev") - rows_before)) rows in all, the last: $(jq -r '.[-1].reason' <<<"$ev")"

# release --keep moves no money: a loop of run --slice and release --keep
# (each keep with a request id of its own, as prepay sends) adds no
# request row. The requests table is not in the export: read with sqlite3.
if command -v sqlite3 >/dev/null; then
        requests() { sqlite3 -readonly "$LEDGER" "SELECT count(*) FROM requests"; }
        prepay release --keep "$s" >/dev/null 2>"$T/keep.err" || fail "release --keep failed: $(cat "$T/keep.err")"
        before=$(requests)
        for _ in $(seq 20); do
                prepay run --slice "$s" -- true 2>/dev/null || fail "running in the kept slice $s failed"
                prepay release --keep "$s" >/dev/null 2>"$T/keep.err" || fail "release --keep failed: $(cat "$T/keep.err")"
        done
        added=$(($(requests) - before))
        say "20 cycles of run --slice and release --keep: $added request rows added"
        [ "$added" = 0 ] || fail "20 keeps of slice $s added $added request rows to the ledger"
else
        say "no sqlite3: the request rows of release --keep are not counted"
fi
