#!/bin/bash
# A CPU burner in a slice limited to 0.5 CPU gets 0.5 CPU ±10% over 3 s,
# read from the kernel's own counters (not the meter).
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

sleep 0.5
c0=$(kernel_cpu_usec "$s"); t0=$(date +%s%N)
sleep 3
c1=$(kernel_cpu_usec "$s"); t1=$(date +%s%N)

share=$(awk -v c="$((c1 - c0))" -v t="$(((t1 - t0) / 1000))" 'BEGIN { printf "%.3f", c / t }')
say "0.5 CPU limit: got $share CPU over $(((t1 - t0) / 1000000)) ms"
within "$share" 0.5 10 || fail "expected 0.5 CPU ±10%, got $share"

d=$(cg_dir cpu "$s"); [ -n "$d" ] || d=$(cg_dir "" "$s")
thr=$(awk '$1 == "nr_throttled" { print $2 }' "$d/cpu.stat")
[ "${thr:-0}" -gt 0 ] || fail "the kernel did not throttle the slice (nr_throttled=$thr)"
say "nr_throttled=$thr"
[ "$(slice_field "$s" .usage.cpu_nr_throttled)" -gt 0 ] || fail "prepay status does not show the throttling"
