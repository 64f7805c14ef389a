#!/bin/bash
# A process holding 100 MiB for 2 s accumulates 200 MiB·s ±15%.
. "$(dirname "$0")/lib.sh"

start_daemon
prepay run --memory 512M -- "$BIN/tests/memhog" 100 2 >/dev/null 2>"$T/run.err" || fail "memhog failed: $(cat "$T/run.err")"
s=$(slice_from_log "$T/run.err") || fail "no slice"
sleep 0.3
bs=$(slice_field "$s" .usage.memory_byte_sec)
peak=$(slice_field "$s" .usage.memory_peak)
mibs=$(awk -v b="$bs" 'BEGIN { printf "%.1f", b / 1048576 }')
say "memory integral ${mibs} MiB·s, peak $((peak / 1048576)) MiB"
within "$mibs" 200 15 || fail "expected 200 MiB·s ±15%, got $mibs"
[ "$peak" -ge $((100 * 1048576)) ] || fail "peak $peak is below 100 MiB"
exit 0
