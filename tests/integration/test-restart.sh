#!/bin/bash
# prepayd killed with SIGKILL and restarted while a burner runs: usage
# counted after the restart includes the time it was down (±2%), and the
# network counters kept counting through pinned maps and links.
. "$(dirname "$0")/lib.sh"

start_daemon
bg prepay run --cpus 1 -- "$BIN/tests/burn" 8 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"
sleep 1
before=$(slice_field "$s" .usage.cpu_usec)
kill_daemon
[ -e "$PIN" ] || fail "no pins left at $PIN while slices run"
sleep 2
down_kernel=$(kernel_cpu_usec "$s")
start_daemon
# The burner still runs: bracket the meter's figure between two kernel reads
# (under emulation the gap between reads is long enough to matter).
k0=$(kernel_cpu_usec "$s")
after=$(slice_field "$s" .usage.cpu_usec)
k1=$(kernel_cpu_usec "$s")
say "before kill ${before}us; kernel while down ${down_kernel}us; after restart meter ${after}us, kernel ${k0}..${k1}us"
[ "$after" -ge "$down_kernel" ] || fail "usage after restart misses the time the daemon was down"
awk -v a="$after" -v k0="$k0" -v k1="$k1" 'BEGIN { exit !(a >= k0 * 0.98 && a <= k1 * 1.02) }' ||
        fail "meter after restart is not within 2% of the kernel's figure"
grep -q "Slice $s adopted" "$T/prepayd.log" || fail "the restarted daemon did not adopt the slice"

prepay destroy "$s" || fail "destroy failed"
stop_daemon
[ ! -e "$PIN" ] || fail "pins left at $PIN after the last slice was destroyed and the daemon stopped"
exit 0
