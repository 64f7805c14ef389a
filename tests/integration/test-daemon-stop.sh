#!/bin/bash
# OnDaemonStop=freeze: stopping prepayd freezes its funded slices; started
# again, it thaws those that still have money and leaves frozen the one
# whose balance was spent (frozen by its own policy before the stop).
. "$(dirname "$0")/lib.sh"

write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=0.01
[Enforce]
OnDaemonStop=freeze
ExhaustedAction=freeze"
start_daemon

frozen() { [ "$(cat "$(cg_dir "" "$1")/cgroup.freeze")" = 1 ]; }
thawed() { ! frozen "$1"; }

bg prepay run --voucher "$(mint 1.00)" --cpus 0.5 -- "$BIN/tests/burn" 60 >/dev/null 2>"$T/a.err"
a=$(slice_from_log "$T/a.err") || fail "no slice a"
bg prepay run --voucher "$(mint 0.005)" --cpus 0.5 -- "$BIN/tests/burn" 60 >/dev/null 2>"$T/b.err"
b=$(slice_from_log "$T/b.err") || fail "no slice b"
wait_for 10 field_is "$b" .account.enforcement frozen
[ "$(slice_field "$b" .account.enforcement)" = frozen ] || fail "slice b was not frozen when its balance was spent"

stop_daemon
frozen "$a" || fail "slice a is not frozen while the daemon is stopped"
k0=$(kernel_cpu_usec "$a")
sleep 0.5
k1=$(kernel_cpu_usec "$a")
say "daemon stopped: slice a frozen, $((k1 - k0))us of CPU in 0.5 s"
[ $((k1 - k0)) -le 2000 ] || fail "slice a ran while frozen"

start_daemon
wait_for 2 thawed "$a"
frozen "$a" && fail "slice a (money left) was not thawed at start"
frozen "$b" || fail "slice b (balance spent) was thawed at start"
# It runs again: its CPU counter moves on by 100 ms (how soon depends on
# the machine's load, so that is waited for, up to 20 s).
ran_100ms() {
        k1=$(kernel_cpu_usec "$a")
        [ $((k1 - k0)) -ge 100000 ]
}
k0=$(kernel_cpu_usec "$a") t0=$(date +%s%N)
wait_for 20 ran_100ms
t1=$(date +%s%N)
say "daemon started: slice a thawed, $(((k1 - k0) / 1000)) ms of CPU in $(((t1 - t0) / 1000000)) ms; slice b still frozen"
[ $((k1 - k0)) -ge 100000 ] || fail "slice a does not run after the restart"
prepay release "$a" >/dev/null 2>&1 && prepay release "$b" >/dev/null 2>&1 || fail "release failed"
exit 0
