#!/bin/bash
# prepay run and topup with several vouchers, and run --hours without
# --size-to-funds, against the local daemon: two vouchers that each pay
# too little buy together what one does not (their sum credited, both
# spent); --hours asks the vouchers to pay for that long at the size
# asked, and a purchase they do not pay for is refused with the amount
# missing and spends nothing; a top-up with two vouchers credits both.
. "$(dirname "$0")/lib.sh"

write_config "[Money]
MinRuntimeSec=1s
$(cpu_prices 0.01)"
start_daemon

a=$(mint 0.30)
b=$(mint 0.30)
# 1 CPU for 0.01 h (36 s) costs 0.36: more than either, less than both.
prepay run --voucher "$a" --cpus 1 --hours 0.01 -- true >"$T/one.out" 2>&1 &&
        fail "0.30 EUR bought 36 s at 1 CPU (0.36 EUR)"
grep -q "more is needed" "$T/one.out" || fail "the refusal does not say what is missing: $(cat "$T/one.out")"
prepay run --voucher "$a" --voucher "$b" --cpus 1 --hours 0.01 -- sleep 60 >"$T/two.out" 2>"$T/two.err" &
BG_PIDS+=($!)
has_slice() { [ -n "$(slice_in_log "$T/two.err")" ]; }
wait_for 20 has_slice || fail "two vouchers together bought nothing: $(cat "$T/two.err" "$T/two.out")"
s=$(slice_from_log "$T/two.err")
[ "$(slice_field "$s" .account.credited)" = 600000 ] || fail "slice $s was credited $(slice_field "$s" .account.credited), expected 600000"
prepay run --voucher "$a" -- true >"$T/again.out" 2>&1 && fail "a voucher spent with another was spent again"
grep -q "already spent" "$T/again.out" || fail "no 'already spent': $(cat "$T/again.out")"
say "two vouchers of 0.30 paid 36 s at 1 CPU (0.36) that one did not; the first refusal spent nothing"

c=$(mint 0.25)
d=$(mint 0.25)
prepay topup "$s" --voucher "$c" --voucher "$d" >"$T/topup.out" 2>&1 || fail "topup with two vouchers failed: $(cat "$T/topup.out")"
[ "$(slice_field "$s" .account.credited)" = 1100000 ] || fail "after the top-up $s was credited $(slice_field "$s" .account.credited)"
prepay release "$s" >/dev/null 2>&1 || fail "release of $s failed"
ledger_verify >/dev/null || fail "the ledger does not verify"
say "a top-up with two vouchers credited both (1.10 EUR in all); the books balance"
