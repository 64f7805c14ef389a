#!/bin/bash
# 10 MiB sent over loopback TCP from inside a slice to a listener outside it
# is counted as egress within 1%. A counted byte is an IP packet byte
# (headers included), so the figure is a little above the payload.
. "$(dirname "$0")/lib.sh"

bytes=$((10 * 1024 * 1024))
start_daemon
bg "$BIN/tests/tcpsink" "$T/port" >"$T/sink.out"
wait_for 5 test -s "$T/port"
port=$(cat "$T/port")

prepay run -- "$BIN/tests/tcpsend" "$port" "$bytes" 2>"$T/run.err" || fail "tcpsend failed: $(cat "$T/run.err")"
s=$(slice_from_log "$T/run.err") || fail "no slice"
wait "${BG_PIDS[0]}"
[ "$(cat "$T/sink.out")" = "$bytes" ] || fail "the listener got $(cat "$T/sink.out") bytes"

tx=$(slice_field "$s" .usage.net_tx_bytes)
rx=$(slice_field "$s" .usage.net_rx_bytes)
say "sent $bytes payload bytes; counted out $tx, in $rx IP bytes"
[ "$tx" -ge "$bytes" ] || fail "egress $tx is less than the payload"
within "$tx" "$bytes" 1 || fail "egress $tx is not within 1% of $bytes"
[ "$rx" -gt 0 ] || fail "no ingress counted (the ACKs)"
exit 0
