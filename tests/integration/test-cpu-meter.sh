#!/bin/bash
# The eBPF CPU figure for a slice agrees with the kernel's own cgroup CPU
# accounting within 2% over at least 1 s of CPU (1.3 s of the burner's own
# CPU time, however busy the machine).
. "$(dirname "$0")/lib.sh"

start_daemon
prepay run -- "$BIN/tests/burn" --cpu 1.3 2>"$T/run.err" || fail "prepay run failed: $(cat "$T/run.err")"
s=$(slice_from_log "$T/run.err") || fail "no slice"

meter=$(slice_field "$s" .usage.cpu_usec)
kernel=$(kernel_cpu_usec "$s")
say "eBPF meter ${meter}us, kernel accounting ${kernel}us"
[ "$kernel" -ge 1000000 ] || fail "the burner used only ${kernel}us of CPU, need at least 1 s"
within "$meter" "$kernel" 2 || fail "meter and kernel differ by more than 2%"
prepay destroy "$s" || fail "destroy failed"
prepay status "$s" 2>/dev/null && fail "a destroyed slice still has a status"
[ -z "$(cg_dir "" "$s")" ] || fail "the slice's v2 cgroup is still there"
exit 0
