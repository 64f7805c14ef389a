#!/bin/bash
# Network grants are enforced in the kernel: a slice bought for 1 EUR at
# 1 EUR per MiB out sends 1 MiB (and at most one packet more) of 10 MiB,
# the rest is dropped at its cgroup_skb egress; a top-up of 1 EUR lets it
# send another MiB. The billing sets the grant from the balance; the
# meter's programs drop once it is spent (bpf/README.md, "Network grants").
. "$(dirname "$0")/lib.sh"

MIB=$((1024 * 1024))
# The most that may pass beyond a grant: one skb. On loopback one TCP
# segment is nearly the MTU (65,536) and a TSO skb holds at least
# tcp_min_tso_segs (2) of them: 131,018 bytes measured on 6.18.
segs=$(cat /proc/sys/net/ipv4/tcp_min_tso_segs 2>/dev/null || echo 2)
SKB=$((segs * $(cat /sys/class/net/lo/mtu)))
[ "$SKB" -ge 65536 ] || SKB=65536

# 1024 EUR per GiB is 1 EUR per MiB; nothing else costs anything.
write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=0
MemoryGiBHour=0
NetOutGiB=1024
NetInGiB=0
IOGiB=0
SliceHour=0"
start_daemon

# The listener outside the slice, so only the sender's traffic is the
# slice's (its ACKs come back as ingress, which costs nothing here).
bg "$BIN/tests/tcpsink" "$T/port" >"$T/sink.out"
wait_for 5 test -s "$T/port"
port=$(cat "$T/port")
[ -n "$port" ] || fail "tcpsink did not listen"

bg prepay run --voucher "$(mint 1.00)" -- "$BIN/tests/tcpsend" "$port" $((10 * MIB)) 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice: $(cat "$T/run.err")"

# tx_field FIELD: one of the slice's usage figures.
tx_field() { slice_field "$s" ".usage.$1"; }

# Until net_tx_bytes has not moved for 2 s (TCP retransmits on its timer,
# dropped each time, without counting a byte): the same in 5 reads 0.5 s
# apart.
tx_still() {
        tx=$(tx_field net_tx_bytes) || fail "status failed"
        if [ "$tx" = "$last" ]; then
                still=$((still + 1))
        else
                still=0 last=$tx
        fi
        [ "$still" -ge 4 ]
}
last=-1 still=0
wait_for --every 0.5 30 tx_still
[ "$still" -ge 4 ] || fail "net_tx_bytes still growing after 30 s: $tx (no grant enforced?)"

dropped=$(tx_field net_tx_dropped)
bal=$(slice_field "$s" .account.balance)
say "capped: net_tx_bytes $tx (1 MiB + $((tx - MIB))), net_tx_dropped $dropped, balance $bal"
[ "$tx" -le $((MIB + SKB)) ] || fail "sent $tx bytes on a 1 MiB grant: more than one skb ($SKB) beyond it"
[ "$tx" -ge $((MIB - SKB)) ] || fail "sent only $tx bytes on a 1 MiB grant"
[ "$dropped" -gt 0 ] || fail "nothing dropped, yet sending stopped"
kill -0 "${BG_PIDS[-1]}" 2>/dev/null || fail "the sender ended: $(cat "$T/run.err")"

# A top-up raises the grant (and thaws the slice, which billing froze when
# the balance ran out): sending resumes at TCP's next retransmission, which
# backs off while packets are dropped. Measured here: 20 ms to 1.12 s.
prepay topup "$s" --voucher "$(mint 1.00)" >"$T/topup.out" 2>&1 || fail "top-up failed: $(cat "$T/topup.out")"
resumed() {
        tx2=$(tx_field net_tx_bytes) || fail "status failed"
        [ "$tx2" -gt $((19 * MIB / 10)) ]
}
start=$(date +%s%N)
wait_for --every 0.2 10 resumed
waited=$((($(date +%s%N) - start) / 1000000))
say "after a top-up of 1.00: net_tx_bytes $tx2 (2 MiB + $((tx2 - 2 * MIB))) after ${waited} ms, net_tx_dropped $(tx_field net_tx_dropped)"
[ "$tx2" -gt $((19 * MIB / 10)) ] || fail "sending did not resume past 1.9 MiB within 10 s of the top-up: $tx2"
exit 0
