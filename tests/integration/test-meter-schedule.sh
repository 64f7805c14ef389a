#!/bin/bash
# The meter's schedule of one slice, as "status --json" reports it in
# "meter" (reads, wait_usec): a still slice's wait doubles from
# MeterInterval= up to MeterIdleInterval= and stays there; a process
# moved in brings it back to MeterInterval= at the next read; while the
# slice's CPU moves every read waits MeterInterval=; once it stops the
# wait grows to MeterIdleInterval= again. A status reads the slice too,
# out of the schedule: finding it still, that must back nothing off, or
# the polling here would make the backoff.
. "$(dirname "$0")/lib.sh"

interval=200000
idle=2000000
write_config "[Meter]
MeterInterval=200ms
MeterIdleInterval=2s"
start_daemon

# meter_now: READS and WAIT from one status of the slice.
meter_now() {
        read -r reads wait < <(prepay status "$s" --json | jq -r '"\(.meter.reads) \(.meter.wait_usec)"') &&
                [ -n "$wait" ] && [ "$wait" != null ]
}
# A wait the schedule may set while the slice stands still: 0 (moved in,
# not read yet), MeterInterval= doubled some times, MeterIdleInterval=.
still_wait() {
        local w=$interval
        [ "$1" = 0 ] && return 0
        while [ "$w" -lt "$idle" ]; do
                [ "$1" = "$w" ] && return 0
                w=$((w * 2))
        done
        [ "$1" = "$idle" ]
}
# backed_off: the wait is MeterIdleInterval=; every wait seen on the way
# is one a still slice may have.
backed_off() {
        meter_now || return 1
        still_wait "$wait" || fail "a still slice waits ${wait}us: not MeterInterval= doubled, nor MeterIdleInterval="
        [ "$wait" = "$idle" ]
}
read_since() { meter_now && [ "$reads" -gt "$1" ]; }

bg prepay run -- sleep 1000 2>"$T/run.err"
wait_for 10 has_slice_line "$T/run.err" || fail "prepay run did not start: $(cat "$T/run.err")"
s=$(slice_in_log "$T/run.err")

say "a still slice backs off to MeterIdleInterval="
wait_for 30 backed_off || fail "the wait is ${wait}us after ${reads} reads, not ${idle}us"
[ "$reads" -ge 5 ] || fail "the wait reached ${idle}us after only $reads reads (200ms doubled needs 5)"
read_usec=$(slice_field "$s" .meter.read_usec)
now=${EPOCHREALTIME//[.,]/}
[ "$read_usec" -gt 0 ] && [ "$read_usec" -le "$now" ] || fail "last read at $read_usec, now is $now"

say "a process moved in brings it back to MeterInterval="
meter_now || fail "no status"
r0=$reads
bg prepay run --slice "$s" -- sleep 1000 2>"$T/attach.err"
wait_for 10 read_since "$r0" || fail "no read since the process was moved in (still $reads)"
# The first read after the move waits MeterInterval=, and each one after
# doubles it at most; a read of the old schedule may have come between
# r0 and the move, which only loosens the bound.
j=$((reads - r0))
bound=$((interval << (j > 10 ? 10 : j - 1)))
[ "$bound" -gt "$idle" ] && bound=$idle
[ "$wait" -le "$bound" ] && [ "$wait" -lt "$idle" ] ||
        fail "read $j after the move waits ${wait}us: more than ${bound}us"
say "  read $j after the move waits ${wait}us"
wait_for 30 backed_off || fail "the wait is ${wait}us after ${reads} reads, not ${idle}us"

say "while its CPU moves, every read waits MeterInterval="
meter_now || fail "no status"
r1=$reads
# The binary, not the shell function: $! is then the burner itself.
bg "$BIN/prepay" run --slice "$s" -- "$BIN/tests/burn" 1000 2>"$T/burn.err"
burner=$!
moving() { read_since "$r1" && [ "$wait" = "$interval" ]; }
wait_for 10 moving || fail "the wait is ${wait}us after the burner started, not ${interval}us"
r2=$reads
# Five reads more, every one at MeterInterval=.
five_more() {
        meter_now || return 1
        [ "$wait" = "$interval" ] || fail "the wait grew to ${wait}us while the slice burns CPU"
        [ "$reads" -ge $((r2 + 5)) ]
}
wait_for 10 five_more || fail "only $((reads - r2)) reads while the slice burns"

say "once it stops, it backs off again"
kill "$burner"
wait "$burner" 2>/dev/null
wait_for 30 backed_off || fail "the wait is ${wait}us after ${reads} reads, not ${idle}us"
exit 0
