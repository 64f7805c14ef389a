#!/bin/bash
# A slice of 50 running tasks funded with ExhaustedAction=kill, for 0.5 s
# of CPU at 0.5 CPU: it is killed, every task gone, and charged no more
# than its balance; what its tasks used past the balance (their exits are
# CPU the kernel charges to the slice after the kill) is in its overshoot,
# so that charged + overshoot is the price of all the CPU it used. A
# killed slice stays killed as what is left of the balance held back for
# its exits is charged or left over: only new money restores it.
#
# No time is asserted: the overshoot is printed (bench/enforce measures
# it). Each step waits for the daemon's state, none sleeps.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 120

TASKS=50

write_cpu_priced_config ExhaustedAction=kill
start_daemon

log=$T/run.log
bg prepay run --voucher "$(mint 0.005)" --cpus 0.5 -- "$BIN/tests/burners" "$TASKS" 600 >/dev/null 2>"$log"
s=$(slice_from_log "$log") || fail "no slice"
wait_state "$s" killed 30 || fail "not killed within 30 s: $(prepay status "$s")"

# Every task gone, then the daemon's CPU figure catches up with the
# kernel's (v2 cpu.stat, what the meter reads): the exits are charged.
d=$(cg_dir "" "$s")
dead() { grep -qx "populated 0" "$d/cgroup.events"; }
wait_for 30 dead || fail "killed, but tasks are left: $(wc -l <"$d/cgroup.procs")"
kernel=$(awk '$1 == "usage_usec" { print $2 }' "$d/cpu.stat")
charged_all() { [ "$(slice_field "$s" .usage.cpu_usec)" -ge "$kernel" ]; }
wait_for 30 charged_all || fail "the daemon's CPU figure stays below the kernel's $kernel us"

prepay status "$s" --json >"$T/status.json"
credited=$(jq -r .account.credited "$T/status.json")
balance=$(jq -r .account.balance "$T/status.json")
overshoot=$(jq -r .account.overshoot "$T/status.json")
charged=$(jq -r '[.account.charged | .. | numbers] | add' "$T/status.json")
cpu=$(jq -r .usage.cpu_usec "$T/status.json")
say "$TASKS tasks killed: ${cpu}us of CPU for a balance of ${credited} (0.5 s); charged $charged," \
        "overshoot $overshoot ($((overshoot * 100))us of CPU), left $balance"

[ "$(jq -r .account.enforcement "$T/status.json")" = killed ] || fail "no longer killed: $(prepay status "$s")"
# Live tasks: the v2 cgroup's members (pids.current also counts zombies
# until this machine's PID 1 reaps them).
[ ! -s "$d/cgroup.procs" ] || fail "tasks left after the kill: $(wc -l <"$d/cgroup.procs")"
[ "$charged" -le "$credited" ] || fail "charged $charged, more than the $credited credited"
[ "$balance" -ge 0 ] && [ $((charged + balance)) = "$credited" ] ||
        fail "charged $charged and left $balance do not make the $credited credited"
# 0.01 a CPU-second: a micro-unit is 100 us, rounded down.
[ $((charged + overshoot)) = $((cpu / 100)) ] ||
        fail "charged $charged + overshoot $overshoot is not the price of ${cpu}us ($((cpu / 100)))"
grep -q "Slice $s: event killed" "$T/prepayd.log" || fail "no killed event logged"

prepay release "$s" >/dev/null || fail "release failed"
exit 0
