#!/bin/bash
# A CPU burner in a slice limited to 0.5 CPU gets 0.5 CPU ±10% over 3 s,
# read from the kernel's own counters (not the meter), and the kernel
# throttled it meanwhile. In an emulated guest on a busy host the guest's
# CPUs run less than its clock (the host's) says, so there the burner may
# get less: at most 0.55 CPU, and throttled in that window, says the limit
# is what held it.
. "$(dirname "$0")/lib.sh"

# A period other than the usual 100ms: "--cpus" is the daemon's to turn
# into a quota over its own CPUPeriod=.
write_config "[Limits]
CPUPeriod=50ms"
start_daemon
bg prepay run --cpus 0.5 -- "$BIN/tests/burn" 6 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "prepay run did not report a slice"

[ "$(slice_field "$s" .limits.cpu_period_usec)" = 50000 ] || fail "CPUPeriod=50ms was not applied"
[ "$(slice_field "$s" .limits.cpu_quota_usec)" = 25000 ] || fail "0.5 CPU over 50ms is not a 25ms quota"

d=$(cg_dir cpu "$s"); [ -n "$d" ] || d=$(cg_dir "" "$s")
nr_throttled() { awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat"; }

sleep 0.5
c0=$(kernel_cpu_usec "$s"); t0=$(date +%s%N); thr0=$(nr_throttled)
sleep 3
c1=$(kernel_cpu_usec "$s"); t1=$(date +%s%N); thr=$(nr_throttled)

share=$(awk -v c="$((c1 - c0))" -v t="$(((t1 - t0) / 1000))" 'BEGIN { printf "%.3f", c / t }')
say "0.5 CPU limit: got $share CPU over $(((t1 - t0) / 1000000)) ms, throttled $((thr - thr0)) times meanwhile"
if [ "$EMULATED" = 1 ]; then
        awk -v v="$share" 'BEGIN { exit !(v <= 0.55) }' || fail "expected at most 0.55 CPU, got $share"
else
        within "$share" 0.5 10 || fail "expected 0.5 CPU ±10%, got $share"
fi
[ "${thr:-0}" -gt "${thr0:-0}" ] || fail "the kernel did not throttle the slice (nr_throttled=$thr0 -> $thr)"
say "nr_throttled=$thr"
[ "$(slice_field "$s" .usage.cpu_nr_throttled)" -gt 0 ] || fail "prepay status does not show the throttling"
