#!/bin/bash
# Investors and revenue (issue 16), as a new user meets them. An owner
# opens a slice to investors (prepay invest open: a 50% revenue share),
# once; a keyed top-up made after that is an investment, one made before
# is not. Users pay the slice (prepay pay): 1.00 paid, 0.50 goes to the
# investor, 0.50 onto the slice's balance, with a receipt; the investor
# claims its 0.50 with its private key (prepay claim) as change, which is
# real money: it tops up another slice. A claim with nothing to pay is
# refused saying why. Two investors split a payment by what each put in,
# to the micro-unit (largest remainder). A fixed return pays investors
# first until each has back what it put in and the rate on top, then
# nothing more; a cap stops what investors earn in all. A payment to a
# released or unknown slice is refused with the voucher unspent. After a
# pro-rata release, one claim pays an investor its share and its
# revenue left. The owner's view (status), prepay funders and the books
# (export, ledger verify) agree throughout.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 120

write_config "[Money]
MinRuntimeSec=1s
DonationModels=pro-rata owner
$(cpu_prices 0.000001)"
start_daemon

for n in 1 2 3; do
        prepay keygen --out "$T/inv" --name "i$n" >/dev/null || fail "prepay keygen i$n failed"
done
raw_hex() { grep -v -- '-----' "$1" | base64 -d | tail -c 32 | od -An -tx1 | tr -d ' \n'; }
# position S KEYFILE FIELD: FIELD of that funder's position in prepay funders.
position() {
        prepay funders "$1" --json | jq -r --arg k "$(raw_hex "$2")" ".funders[] | select(.funder_key == \$k) | .$3"
}
export_json() { prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"; }
slice_row() { jq -r --arg s "$1" ".slices[] | select(.id == \$s) | $2" "$T/export.json"; }
# buy N: a slice running sleep, pro-rata, bought with 1.00 by its owner,
# its id in $BOUGHT (not in a subshell: bg keeps the process for cleanup).
buy() {
        bg prepay run --voucher "$(mint 1.00)" --donation-model pro-rata --cpus 0.1 -- sleep 600 >/dev/null \
                2>"$T/run$1.err"
        BOUGHT=$(slice_from_log "$T/run$1.err") || fail "no slice: $(cat "$T/run$1.err")"
}

buy 1
s=$BOUGHT
# A keyed top-up before the opening is a donation, not an investment.
prepay topup "$s" --voucher "$(mint 0.50)" --funder-key "$T/inv/i3.pub" >/dev/null 2>&1 || fail "i3's top-up refused"

# Only the owner opens it, on terms that are checked, once.
prepay invest open "$s" --revenue-share 50% --token pt-not-the-token >/dev/null 2>"$T/notoken.err" &&
        fail "a slice was opened to investors without its owner token"
prepay invest open "$s" --revenue-share 150% >/dev/null 2>"$T/bad.err" && fail "a 150% revenue share was taken"
grep -q "revenue_share.*at most 100%" "$T/bad.err" || fail "150%: $(cat "$T/bad.err")"
prepay invest open "$s" --revenue-share 50 >/dev/null 2>&1 && fail "a rate without % was taken"
prepay invest open "$s" --revenue-share 50% >"$T/open.out" 2>&1 || fail "invest open refused: $(cat "$T/open.out")"
grep -q "open to investors: revenue-share 50%" "$T/open.out" || fail "invest open said: $(cat "$T/open.out")"
prepay invest open "$s" --fixed-return 10% >/dev/null 2>"$T/again.err" && fail "the terms were changed"
grep -q "open to investors already (revenue-share 50%" "$T/again.err" || fail "second open: $(cat "$T/again.err")"
[ "$(slice_field "$s" .account.investors.terms)" = revenue-share ] || fail "status does not show the terms"
prepay status "$s" | grep -q "investors: revenue-share 50%" || fail "prepay status does not show the terms"
say "invest open: owner only, terms checked, once; shown in status"

# i1 invests 2.00; users pay 1.00: 0.50 to i1, 0.50 to the slice.
prepay topup "$s" --voucher "$(mint 2.00)" --funder-key "$T/inv/i1.pub" >/dev/null 2>&1 || fail "i1's investment refused"
before=$(slice_field "$s" .account.balance)
prepay pay "$s" --voucher "$(mint 1.00)" --json >"$T/pay.json" 2>"$T/pay.err" || fail "pay refused: $(cat "$T/pay.err")"
for k in paid:1000000 to_investors:500000 to_slice:500000; do
        [ "$(jq -r ".${k%%:*}" "$T/pay.json")" = "${k#*:}" ] || fail "pay: ${k%%:*} $(jq -r ".${k%%:*}" "$T/pay.json")"
done
[ "$(jq -r '.investors[0].amount' "$T/pay.json")" = 500000 ] || fail "pay: i1's part $(jq -c .investors "$T/pay.json")"
jq -r .receipt "$T/pay.json" >"$T/pay.receipt"
prepay receipt show "$T/pay.receipt" >"$T/rcpt.out" 2>&1 && grep -q "^kind: *pay" "$T/rcpt.out" ||
        fail "the receipt: $(cat "$T/rcpt.out")"
after=$(slice_field "$s" .account.balance)
[ $((after - before)) -ge 490000 ] && [ $((after - before)) -le 500000 ] ||
        fail "the balance went from $before to $after, not up by 0.50 (less a little CPU)"
[ "$(slice_field "$s" .account.revenue)" = 500000 ] || fail "status: revenue $(slice_field "$s" .account.revenue)"
[ "$(slice_field "$s" .account.investors.earned)" = 500000 ] || fail "status: investors earned"
prepay pay "$s" --voucher "$(mint 0.10)" 2>/dev/null | grep -q "paid 0.10 EUR: 0.05 to its investors, 0.05 to the slice" ||
        fail "prepay pay does not say the split"
say "users paid 1.10: 0.55 to the investor, 0.55 onto the balance, receipts of kind pay"

# The investor claims with its key; the change is real money elsewhere.
prepay claim "$s" --funder-key "$T/inv/i1.key" --json >"$T/claim.json" 2>"$T/claim.err" ||
        fail "i1's claim refused: $(cat "$T/claim.json" "$T/claim.err")"
[ "$(jq -r .claimed "$T/claim.json")" = 550000 ] || fail "i1 claimed $(jq -r .claimed "$T/claim.json"), not 0.55"
[ "$(jq -r .revenue "$T/claim.json")" = 550000 ] && [ "$(jq -r .share "$T/claim.json")" = 0 ] ||
        fail "the claim's parts: $(jq -c '{share, revenue}' "$T/claim.json")"
jq -r .change "$T/claim.json" >"$T/claim.voucher"
buy 2
s2=$BOUGHT
prepay topup "$s2" --voucher "$T/claim.voucher" --json >"$T/redeem.json" 2>"$T/redeem.err" ||
        fail "the claimed change does not spend: $(cat "$T/redeem.err")"
[ "$(jq -r .credited "$T/redeem.json")" = 550000 ] || fail "the change credited $(jq -r .credited "$T/redeem.json")"
# Nothing more to pay: refused, saying why, nothing moves.
prepay claim "$s" --funder-key "$T/inv/i1.key" >/dev/null 2>"$T/claim2.err" && fail "i1 was paid twice"
grep -q "not released yet.*revenue .* was all claimed; nothing was paid" "$T/claim2.err" ||
        fail "the empty claim's refusal: $(cat "$T/claim2.err")"
# i3 funded before the opening: no revenue.
prepay claim "$s" --funder-key "$T/inv/i3.key" >/dev/null 2>"$T/claim3.err" && fail "i3 was paid revenue"
[ "$(position "$s" "$T/inv/i3.pub" earned)" = 0 ] || fail "i3 earned revenue from a donation before the opening"
[ "$(position "$s" "$T/inv/i1.pub" earned)/$(position "$s" "$T/inv/i1.pub" claimable)" = 550000/0 ] ||
        fail "i1's position: $(prepay funders "$s" --json)"
export_json
[ "$(slice_row "$s" .claimed_by_investors)/$(slice_row "$s" .earned_by_investors)/$(slice_row "$s" .revenue)" = \
        550000/0/550000 ] || fail "the ledger's row of $s: $(slice_row "$s" .)"
[ "$(slice_field "$s" .account.investors.claimed)" = 550000 ] || fail "status: claimed"
ledger_verify >/dev/null || fail "ledger verify failed: $(ledger_verify 2>&1)"
say "i1 claimed 0.55 as change that spends; a claim with nothing to pay refused; status, funders and books agree"

# Two investors split by what each put in: i1 2.00, i2 1.00. 0.000007
# paid: 50% is 3.5, rounded down to 3 for the investors, split 2:1.
prepay topup "$s" --voucher "$(mint 1.00)" --funder-key "$T/inv/i2.key" >/dev/null 2>&1 || fail "i2's investment refused"
prepay pay "$s" --voucher "$(mint 0.000007)" --json >"$T/pay7.json" 2>/dev/null || fail "pay of 0.000007 refused"
[ "$(jq -c '[.to_investors, .to_slice, [.investors[].amount]]' "$T/pay7.json")" = '[3,4,[2,1]]' ] ||
        fail "0.000007 split $(jq -c . "$T/pay7.json")"
prepay pay "$s" --voucher "$(mint 0.30)" --json >"$T/pay30.json" 2>/dev/null || fail "pay of 0.30 refused"
[ "$(jq -c '[.to_investors, [.investors[].amount]]' "$T/pay30.json")" = '[150000,[100000,50000]]' ] ||
        fail "0.30 split $(jq -c . "$T/pay30.json")"
[ "$(position "$s" "$T/inv/i2.pub" earned)" = 50001 ] || fail "i2 earned $(position "$s" "$T/inv/i2.pub" earned)"
say "two investors: 0.000007 split 3 (2 and 1) and 4, 0.30 split 0.10 and 0.05"

# Released, pro-rata: one claim pays i1 its share and its revenue left.
prepay release "$s" --json >"$T/release.json" 2>/dev/null || fail "release of $s failed"
export_json
share=$(jq -r --arg s "$s" --arg a "held:$s:$(raw_hex "$T/inv/i1.pub")" \
        '[.entries[] | select(.kind == "release" and .slice == $s) | .postings[] | select(.account == $a) | .amount] | add' \
        "$T/export.json")
prepay claim "$s" --funder-key "$T/inv/i1.key" --json >"$T/claim4.json" 2>/dev/null || fail "i1's last claim refused"
[ "$(jq -c '[.share, .revenue, .claimed]' "$T/claim4.json")" = "[$share,100002,$((share + 100002))]" ] ||
        fail "i1's last claim: $(jq -c . "$T/claim4.json"), its share $share"
# The released slice takes no payment, and the voucher stays good.
v=$(mint 0.40)
prepay pay "$s" --voucher "$v" >/dev/null 2>"$T/released.err" && fail "a released slice was paid"
grep -q "was released: it takes no payments; the voucher was not spent" "$T/released.err" ||
        fail "pay to a released slice: $(cat "$T/released.err")"
prepay pay s-00000000deadbeef --voucher "$v" >/dev/null 2>"$T/unknown.err" && fail "an unknown slice was paid"
grep -q "No funded slice s-00000000deadbeef: the voucher was not spent" "$T/unknown.err" ||
        fail "pay to an unknown slice: $(cat "$T/unknown.err")"
prepay pay "$s2" --voucher "$v" >/dev/null 2>&1 || fail "the refused payments' voucher does not spend"
ledger_verify >/dev/null || fail "ledger verify failed: $(ledger_verify 2>&1)"
say "after release one claim paid i1 its share $share and revenue 0.100002; pay to released/unknown refused, nothing spent"

# A fixed return: 10% on i1's 1.00, owed 1.10 from revenue first, then
# nothing more.
buy 4
s4=$BOUGHT
prepay invest open "$s4" --fixed-return 10% >/dev/null 2>&1 || fail "invest open --fixed-return refused"
prepay topup "$s4" --voucher "$(mint 1.00)" --funder-key "$T/inv/i1.pub" >/dev/null 2>&1 || fail "i1's investment refused"
got=
for a in 0.60 0.60 0.30; do
        prepay pay "$s4" --voucher "$(mint $a)" --json >"$T/pf.json" 2>/dev/null || fail "pay $a to $s4 refused"
        got="$got $(jq -r .to_investors "$T/pf.json")/$(jq -r .to_slice "$T/pf.json")"
done
[ "$got" = " 600000/0 500000/100000 0/300000" ] || fail "fixed return: $got"
# And a cap: a 100% revenue share capped at 0.25 in all.
buy 5
s5=$BOUGHT
prepay invest open "$s5" --revenue-share 100% --cap 0.25 >/dev/null 2>&1 || fail "invest open --cap refused"
prepay topup "$s5" --voucher "$(mint 1.00)" --funder-key "$T/inv/i2.pub" >/dev/null 2>&1 || fail "i2's investment refused"
got=
for a in 0.20 0.20 0.20; do
        prepay pay "$s5" --voucher "$(mint $a)" --json >"$T/pc.json" 2>/dev/null || fail "pay $a to $s5 refused"
        got="$got $(jq -r .to_investors "$T/pc.json")"
done
[ "$got" = " 200000 50000 0" ] || fail "capped: $got"
prepay funders "$s5" | grep -q "^$(raw_hex "$T/inv/i2.pub") .* 0.25 *0.25$" ||
        fail "prepay funders: $(prepay funders "$s5" 2>&1)"
export_json
[ "$(jq .schema "$T/export.json")" -ge 7 ] || fail "schema $(jq .schema "$T/export.json"), older than the investors'"
# Unclaimed: i2's 0.050001 on the first slice, i1's 1.10, i2's 0.25.
[ "$(jq '.books.earned_by_investors' "$T/export.json")" = 1400001 ] ||
        fail "books: earned by investors $(jq '.books.earned_by_investors' "$T/export.json")"
ledger_verify >/dev/null || fail "ledger verify failed: $(ledger_verify 2>&1)"
say "fixed return 10%: 0.60, 0.50 then nothing to i1 (1.10 in all); a cap of 0.25 stopped a 100% share; verify holds"

# A claim statement pays once: i2 claims its 0.25 on $s5 with a statement
# made by hand; the same statement sent again (as one overheard would be)
# is refused for that, not for having nothing to pay, and pays nothing.
host_id=$(prepay quote --json | jq -r .host_id)
stmt=$(funder_statement "$s5" "$T/inv/i2.pub" "$T/inv/i2.key" c "$host_id")
printf '{"op":"claim","slice":"%s","claim":"%s"}\n' "$s5" "$stmt" >"$T/stmt.req"
"$BIN/tests/raw-request" "$PREPAY_SOCKET" <"$T/stmt.req" >"$T/stmt1.json" || fail "no reply to i2's claim"
jq -e '.ok and .claimed == 250000' "$T/stmt1.json" >/dev/null || fail "i2's claim by statement: $(cat "$T/stmt1.json")"
"$BIN/tests/raw-request" "$PREPAY_SOCKET" <"$T/stmt.req" >"$T/stmt2.json" || fail "no reply to the replay"
jq -e '.ok == false' "$T/stmt2.json" >/dev/null && grep -q "statement was used already" "$T/stmt2.json" ||
        fail "a claim statement taken twice: $(cat "$T/stmt2.json")"
ledger_verify >/dev/null || fail "ledger verify failed: $(ledger_verify 2>&1)"
say "a claim statement paid i2 0.25 once; the same statement again refused as used"
