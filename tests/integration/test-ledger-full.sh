#!/bin/bash
# A full disk under the ledger: a top-up is refused with an error that says
# so and that nothing was spent; the voucher stays good; charging stops
# being written but nothing is lost: once there is room again, the top-up
# goes through, the usage of the full stretch is charged once, and the
# books balance. The state directory is a small tmpfs of the test's own.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/state"
# mode=0700: a tmpfs is 1777 by default, a state directory prepayd refuses.
mount -t tmpfs -o size=4m,mode=0700 tmpfs "$T/state" || skip "cannot mount a tmpfs"
MOUNTS+=("$T/state")

write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=0.01"
start_daemon

bg prepay run --voucher "$(mint 1.00)" --cpus 0.5 -- "$BIN/tests/burn" 60 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"
sleep 1

# Fill what is left of the tmpfs.
dd if=/dev/zero of="$T/state/filler" bs=64k 2>/dev/null
v=$(mint 0.50)
prepay topup "$s" --voucher "$v" >"$T/out" 2>&1 && fail "a top-up went through on a full disk"
say "full disk: $(head -1 "$T/out")"
grep -q "No space left on device" "$T/out" || fail "the error does not name the full disk: $(cat "$T/out")"
grep -q "nothing was spent" "$T/out" || fail "the error does not say nothing was spent"
cpu_full=$(slice_field "$s" .usage.cpu_usec)
sleep 1.5
grep -q "Failed to commit the ledger" "$T/prepayd.log" || fail "the daemon did not log the failed commit"

rm -f "$T/state/filler"
sleep 1.2
prepay topup "$s" --voucher "$v" >"$T/out" 2>&1 || fail "the voucher refused on a full disk is not good any more: $(cat "$T/out")"
sleep 1.2
st=$(prepay status "$s" --json)
credited=$(jq -r .account.credited <<<"$st")
charged=$(jq -r .account.charged.cpu <<<"$st")
cpu=$(jq -r .usage.cpu_usec <<<"$st")
say "room again: credited $credited, cpu charged $charged for ${cpu}us (${cpu_full}us when the disk filled)"
[ "$credited" = 1500000 ] || fail "credited $credited, expected 1500000"
# Everything metered, the full stretch included, is charged once: within
# the one second of usage not yet written.
[ "$charged" -ge $((cpu_full / 100)) ] || fail "usage while the disk was full was not charged"
[ "$charged" -le $((cpu / 100)) ] || fail "charged $charged, more than the ${cpu}us used"
prepay release "$s" >/dev/null 2>&1 || fail "release failed"
exit 0
