#!/bin/bash
# A replayed purchase lets no work into a slice that would refuse it now.
# "prepay run --request-id ID" sent again with the voucher it spent is
# answered from the ledger; the caller is moved into the slice only as
# "prepay run --slice" would be: not into one killed at the end of its
# balance, nor one killed when its freeze grace ended (refused, the burner
# never runs, no CPU used, the overshoot unchanged); a slice stopped with
# "release --keep" is made active again, so the work in it is billed and
# stopped at the end of its balance.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 180

# One euro per CPU-second and nothing else: a 1.00 EUR slice is spent
# after one CPU-second.
write_config "[Money]
MinRuntimeSec=1s
$(cpu_prices 1)
[Enforce]
GraceSec=1s"
start_daemon

# wait_field SLICE JQ-PATH VALUE: until the daemon reports it (at most
# 90 s, for a busy machine).
wait_field() { wait_for 90 field_is "$@"; }

# buy ACTION REQUEST-ID: a 1.00 EUR slice at 0.5 CPU running a burner;
# its id in $s, its voucher in $v.
buy() {
        local log
        v=$(mint 1.00)
        log=$(mktemp "$T/run.XXXXXX")
        bg prepay run --voucher "$v" --request-id "$2" --cpus 0.5 --exhausted-action "$1" -- \
                "$BIN/tests/burn" >/dev/null 2>"$log"
        s=$(slice_from_log "$log") || fail "$1: no slice: $(cat "$log")"
}

# replay SLICE REQUEST-ID SECONDS: the purchase of SLICE sent again, its
# command a burner of SECONDS; its exit code.
replay() {
        timeout 60 "$BIN/prepay" run --voucher "$v" --request-id "$2" --cpus 0.5 --exhausted-action kill -- \
                "$BIN/tests/burn" "$3" >"$T/replay.out" 2>&1
}

# refused WHAT SLICE REQUEST-ID: the replay is refused, saying the slice
# is killed, and nothing runs or is used in the slice.
refused() {
        local cpu over
        cpu=$(kernel_cpu_usec "$2")
        over=$(slice_field "$2" .account.overshoot)
        replay "$2" "$3" 2 && fail "$1: the replayed purchase ran its command in slice $2: $(cat "$T/replay.out")"
        grep -q "Slice $2 is killed" "$T/replay.out" || fail "$1: the refusal does not say why: $(cat "$T/replay.out")"
        grep -q "nothing was spent again" "$T/replay.out" || fail "$1: the refusal does not say it spent nothing"
        [ "$(kernel_cpu_usec "$2")" = "$cpu" ] || fail "$1: CPU was used in slice $2 after the replay"
        [ "$(slice_field "$2" .usage.pids_current)" = 0 ] || fail "$1: processes run in slice $2"
        [ "$(slice_field "$2" .account.overshoot)" = "$over" ] || fail "$1: the overshoot moved"
        say "$1: the replay was refused: $(sed -n 's/^prepay: //p' "$T/replay.out" | head -n 1)"
}

# Killed at the end of its balance.
buy kill replay-kill
wait_field "$s" .account.enforcement killed || fail "kill: not enforced: $(prepay status "$s")"
wait_field "$s" .usage.pids_current 0 || fail "kill: processes left"
prepay run --slice "$s" -- true >"$T/slice.out" 2>&1 && fail "run --slice was let into a killed slice"
grep -q "is killed" "$T/slice.out" || fail "run --slice: $(cat "$T/slice.out")"
refused "killed at the end of its balance" "$s" replay-kill

# Frozen, and killed when its grace ended.
buy freeze replay-freeze
wait_field "$s" .account.enforcement killed || fail "freeze: not killed after the grace: $(prepay status "$s")"
wait_field "$s" .usage.pids_current 0 || fail "freeze: processes left after the grace"
refused "killed when its freeze grace ended" "$s" replay-freeze

# Stopped with release --keep: the replay runs in it as run --slice would,
# active again, so the burner is billed and killed when the rest is spent.
buy kill replay-keep
prepay release "$s" --keep >/dev/null 2>&1 || fail "release --keep failed"
wait_field "$s" .account.state kept || fail "the slice was not kept"
kept=$(slice_field "$s" .account.balance)
cpu=$(kernel_cpu_usec "$s")
# (Its burner is killed: bash's word on that is not needed.)
{ replay "$s" replay-keep 20; } 2>/dev/null
rc=$?
used=$(($(kernel_cpu_usec "$s") - cpu))
state=$(slice_field "$s" .account.state)
say "kept with $kept: the replay exited $rc after ${used}us of CPU in the slice, now $state"
[ "$state" = active ] || fail "the replay ran in the kept slice without making it active (state $state)"
wait_field "$s" .account.enforcement killed || fail "the replayed burner was not stopped at the end of the balance"
[ "$rc" -ne 0 ] || fail "the replayed burner ran to its end: $(cat "$T/replay.out")"
# At 1 EUR per CPU-second the rest of the balance buys $kept us of CPU;
# the kill lands within milliseconds of that (test-enforce), 200 ms allowed.
[ "$used" -le $((kept + 200000)) ] || fail "${used}us of CPU used in the slice on a balance of ${kept}us"
# Billed: what is left is at most what the kill keeps back for the
# tasks' exits (daemon/README.md, enforcement), a few ms of CPU; the same
# 200 ms allowed.
left=$(slice_field "$s" .account.balance)
[ "$left" -le 200000 ] || fail "the work in the reactivated slice was not billed: $left of $kept left"

exit 0
