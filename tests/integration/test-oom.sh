#!/bin/bash
# A process that allocates past the slice's memory max is OOM-killed and
# "prepay status" reports the OOM event.
. "$(dirname "$0")/lib.sh"

start_daemon
prepay run --memory 64M -- "$BIN/tests/memhog" 256 1 >/dev/null 2>"$T/run.err"
rc=$?
s=$(slice_from_log "$T/run.err") || fail "no slice"
[ "$rc" -eq 137 ] || fail "memhog exited $rc, expected to be killed by SIGKILL (137)"
oom_counted() { [ "$(slice_field "$s" .usage.oom_kills)" -ge 1 ]; }
wait_for 2 oom_counted
n=$(slice_field "$s" .usage.oom_kills)
[ "$n" -ge 1 ] || fail "status reports $n OOM kills"
prepay status "$s" | grep -q 'OOM-killed' || fail "human status does not mention the OOM kill"
grep -q "Slice $s: .*OOM-killed" "$T/prepayd.log" || fail "the daemon did not log the OOM kill"
say "OOM kill reported: $(prepay status "$s" | grep oom:)"
