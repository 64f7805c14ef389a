#!/bin/bash
# A process holding 100 MiB for 2 s accumulates 200 MiB·s ±15%. The figure
# is taken from the moment memhog has touched all of its memory to after it
# exits, so the time it takes to fault 100 MiB in (long under emulation)
# is not counted as holding.
. "$(dirname "$0")/lib.sh"

start_daemon
bg prepay run --memory 512M -- "$BIN/tests/memhog" 100 2 >"$T/hog.out" 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"
for _ in $(seq 600); do grep -q held "$T/hog.out" && break; sleep 0.05; done
grep -q held "$T/hog.out" || fail "memhog did not get its memory"
b0=$(slice_field "$s" .usage.memory_byte_sec)
wait "${BG_PIDS[0]}" || fail "memhog failed: $(cat "$T/run.err")"
sleep 0.3
b1=$(slice_field "$s" .usage.memory_byte_sec)
peak=$(slice_field "$s" .usage.memory_peak)
mibs=$(awk -v b="$((b1 - b0))" 'BEGIN { printf "%.1f", b / 1048576 }')
total=$(awk -v b="$b1" 'BEGIN { printf "%.1f", b / 1048576 }')
say "held 100 MiB for 2 s: ${mibs} MiB·s while held (${total} MiB·s over the slice's life), peak $((peak / 1048576)) MiB"
within "$mibs" 200 15 || fail "expected 200 MiB·s ±15%, got $mibs"
[ "$peak" -ge $((100 * 1048576)) ] || fail "peak $peak is below 100 MiB"
exit 0
