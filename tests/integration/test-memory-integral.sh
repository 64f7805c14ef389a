#!/bin/bash
# Memory is charged by its integral over time: a process holding 100 MiB
# accumulates 100 MiB·s per second it holds it. The two figures are read
# while memhog holds all of its memory (after it has touched every page,
# before it exits), so the memory is constant between them and the
# integral is exact whatever the meter's pace; each read is bracketed by
# the clock, so the expected figure is a range that does not depend on how
# fast the machine answers (an emulated guest's CLI takes long).
. "$(dirname "$0")/lib.sh"

start_daemon
bg prepay run --memory 512M -- "$BIN/tests/memhog" 100 600 >"$T/hog.out" 2>"$T/run.err"
hog=${BG_PIDS[-1]}
s=$(slice_from_log "$T/run.err") || fail "no slice"
wait_for 30 grep -q held "$T/hog.out"
grep -q held "$T/hog.out" || fail "memhog did not get its memory"

now_us() { date +%s%6N; }
t_a=$(now_us)
b0=$(slice_field "$s" .usage.memory_byte_sec)
t_b=$(now_us)
sleep 2
t_c=$(now_us)
b1=$(slice_field "$s" .usage.memory_byte_sec)
t_d=$(now_us)
cur=$(slice_field "$s" .usage.memory_current)
kill "$hog" 2>/dev/null
peak=$(slice_field "$s" .usage.memory_peak)

# Held the whole time: at least 100 MiB over the shortest interval the two
# samples can span, at most the memory in use (the 100 MiB, the program's
# own pages) over the longest.
mibs=$(awk -v b="$((b1 - b0))" 'BEGIN { printf "%.1f", b / 1048576 }')
lo=$(awk -v t="$((t_c - t_b))" 'BEGIN { printf "%.1f", 100 * t / 1e6 }')
hi=$(awk -v t="$((t_d - t_a))" -v c="$cur" 'BEGIN { m = c / 1048576; if (m < 100) m = 100; printf "%.1f", m * 1.02 * t / 1e6 }')
say "holding 100 MiB: ${mibs} MiB·s between two reads $(((t_c - t_b) / 1000))-$(((t_d - t_a) / 1000)) ms apart (expected ${lo}-${hi}); in use $((cur / 1048576)) MiB, peak $((peak / 1048576)) MiB"
awk -v v="$mibs" -v lo="$lo" -v hi="$hi" 'BEGIN { exit !(v >= lo && v <= hi) }' ||
        fail "memory integral ${mibs} MiB·s, expected ${lo} to ${hi} MiB·s"
[ "$peak" -ge $((100 * 1048576)) ] || fail "peak $peak is below 100 MiB"
exit 0
