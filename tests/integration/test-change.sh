#!/bin/bash
# Change, the money a release pays back. Released once, a slice's change
# goes again only to its owner token's holder: an operator (root) without
# the token gets a sentence, no voucher, and the request is logged at
# notice. A balance above what one voucher may hold (1000000000.00) is paid
# back as several vouchers, one per line, each within that maximum, that
# spend here; a balance never passes what 16 of them hold: a top-up past
# that is refused and its voucher stays unspent.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 180

# LogLevel=notice: what reaches the log was logged at notice or above.
write_config "[Daemon]
LogLevel=notice
[Money]
MinRuntimeSec=1s
$(cpu_prices 0.01)"
start_daemon

# buy AMOUNT: a slice holding a sleeper, bought with a voucher of AMOUNT;
# its id in $s, its owner token in $tok.
buy() {
        local log
        log=$(mktemp "$T/run.XXXXXX")
        bg prepay run --voucher "$(mint "$1")" --cpus 0.1 -- sleep 600 >/dev/null 2>"$log"
        s=$(slice_from_log "$log") || fail "no slice: $(cat "$log")"
        tok=$(owner_token_in "$log")
}

buy 1.00
# `prepay list` prints a funded slice's row (a brief list) as its full
# record says: running, and the same balance, once the balance holds still.
money() {
        awk -v m="$1" 'BEGIN { f = sprintf("%06d", m % 1000000)
                while (length(f) > 2 && substr(f, length(f)) == "0") f = substr(f, 1, length(f) - 1)
                printf "%d.%s\n", int(m / 1000000), f }'
}
row_matches_record() {
        local before after line
        before=$(prepay list --json | jq -r --arg s "$s" '.[] | select(.id == $s) | .account.balance')
        line=$(prepay list | awk -v s="$s" '$1 == s')
        after=$(prepay list --json | jq -r --arg s "$s" '.[] | select(.id == $s) | .account.balance')
        [ "$before" = "$after" ] && [ "$(awk '{ print $2, $(NF - 1), $NF }' <<<"$line")" = "running $(money "$after") EUR" ]
}
wait_for 30 row_matches_record || fail "list's row of $s: '$(prepay list | awk -v s="$s" '$1 == s')', its record:" \
        "$(prepay list --json | jq -c --arg s "$s" '.[] | select(.id == $s) | [.state, .account.balance]')"
# The owner releases; root without the token asks again.
prepay release "$s" >"$T/owner.change" 2>"$T/owner.err" || fail "the owner's release failed: $(cat "$T/owner.err")"
grep -q '^pv1-' "$T/owner.change" || fail "the owner's release printed no change"
PREPAY_TOKEN_DIR=$T/no-tokens prepay release "$s" >"$T/ops.out" 2>&1 &&
        fail "root without the token was answered as if it released the slice: $(cat "$T/ops.out")"
grep -q 'pv1-' "$T/ops.out" && fail "root without the owner token got the owner's change again"
grep -q "Slice $s was released before: its change .* was paid out then and is given again only with the owner token" \
        "$T/ops.out" || fail "root's release of a released slice: $(cat "$T/ops.out")"
grep -q "Slice $s: release asked again (by operator uid 0 without the owner token); it was released before" \
        "$T/prepayd.log" || fail "root's request for another's change was not logged at notice"
prepay release "$s" --token "$tok" >"$T/owner2.change" 2>/dev/null || fail "the owner's second release failed"
cmp -s "$T/owner.change" "$T/owner2.change" || fail "the owner's second release gave other change"
say "released before: root without the token got no change, the owner the same again"

# Two vouchers' worth of balance: change as two vouchers.
buy 1000000000
prepay topup "$s" --voucher "$(mint 1000000000)" >/dev/null || fail "top-up to 2000000000.00 refused"
prepay release "$s" --json >"$T/big.json" 2>"$T/big.err" || fail "release of a 2000000000.00 balance: $(cat "$T/big.err")"
refund=$(jq -r .refund "$T/big.json")
jq -r .change "$T/big.json" >"$T/big.change"
[ "$(wc -l <"$T/big.change")" = 2 ] || fail "a refund of $refund came as $(wc -l <"$T/big.change") vouchers, not 2"
sum=0
i=0
while read -r line; do
        i=$((i + 1))
        echo "$line" >"$T/big.$i.voucher"
        amount=$(prepay voucher show "$T/big.$i.voucher" --json | jq -r .amount) || fail "change line $i is no voucher"
        [ "$amount" -gt 0 ] && [ "$amount" -le 1000000000000000 ] || fail "change voucher $i holds $amount"
        sum=$((sum + amount))
done <"$T/big.change"
[ "$sum" = "$refund" ] || fail "the change vouchers hold $sum, the refund was $refund"
# They spend here: one buys a slice, the other tops it up.
bg prepay run --voucher "$T/big.1.voucher" --cpus 0.1 -- sleep 600 >/dev/null 2>"$T/rebuy.err"
s2=$(slice_from_log "$T/rebuy.err") || fail "the first change voucher did not buy a slice: $(cat "$T/rebuy.err")"
prepay topup "$s2" --voucher "$T/big.2.voucher" >/dev/null || fail "the second change voucher did not spend"
[ "$(slice_field "$s2" .account.credited)" = "$refund" ] || fail "the change credited $(slice_field "$s2" .account.credited)"
say "a balance of $refund paid back as 2 vouchers, which spend here"

# The most a balance may hold: 16 vouchers of 1000000000.00. The slice
# above holds almost 2; 14 more, then one past it is refused.
for _ in $(seq 14); do
        prepay topup "$s2" --voucher "$(mint 1000000000)" >/dev/null 2>"$T/topup.err" ||
                fail "a top-up under the maximum balance was refused: $(cat "$T/topup.err")"
done
over=$(mint 1000000000)
prepay topup "$s2" --voucher "$over" >/dev/null 2>"$T/over.err" && fail "a balance past 16 vouchers' worth was taken"
grep -q "would pass 16000000000.00" "$T/over.err" || fail "the refusal does not say why: $(cat "$T/over.err")"
grep -q "the voucher was not spent" "$T/over.err" || fail "the refusal does not say the voucher is unspent"
prepay release "$s2" --json >"$T/max.json" 2>"$T/max.err" || fail "release of the largest balance: $(cat "$T/max.err")"
[ "$(jq -r .change "$T/max.json" | grep -c '^pv1-')" = 16 ] || fail "the largest balance came back as other than 16 vouchers"
# The refused voucher is still good money.
buy 1.00
prepay topup "$s" --voucher "$over" >/dev/null || fail "the voucher refused for the maximum did not spend afterwards"
say "a top-up past 16000000000.00 refused, its voucher unspent; the largest balance paid as 16 vouchers"

prepay release "$s" >/dev/null 2>&1 || fail "release failed"
exit 0
