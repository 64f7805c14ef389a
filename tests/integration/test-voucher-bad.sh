#!/bin/bash
# Bad money, each refused with an error naming the problem, and nothing
# spent or charged: forged, unknown issuer, expired, not yet valid, wrong
# audience, wrong currency, amount out of range, truncated and garbage
# text, spent before (the error says when), a top-up of a slice that does
# not exist (the voucher stays good), too little for MinRuntimeSec=, and
# no voucher at all. The ledger balances after each.
. "$(dirname "$0")/lib.sh"

write_config "[Money]
MinRuntimeSec=10s
AllowUnfunded=no
[Prices]
CPUSecond=0.01"
start_daemon

good=$(mint 1.00)
bg prepay run --voucher "$good" --cpus 0.1 -- sleep 120 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice: $(cat "$T/run.err")"
spent_before=$(prepay ledger export --json --ledger "$LEDGER" | jq '.vouchers | length')

# refuse NAME FILE PATTERN: a top-up with FILE fails, its error matches
# PATTERN, and the ledger has no more vouchers than before.
refuse() {
        local name=$1 file=$2 pattern=$3 n
        if prepay topup "$s" --voucher "$file" >"$T/out" 2>&1; then
                fail "$name: accepted"
        fi
        grep -qiE "$pattern" "$T/out" || fail "$name: error does not say '$pattern': $(cat "$T/out")"
        n=$(prepay ledger export --json --ledger "$LEDGER" | jq '.vouchers | length')
        [ "$n" = "$spent_before" ] || fail "$name: a voucher was spent anyway"
        say "$name: $(head -1 "$T/out")"
}

# Forged: one byte of the signature changed (the last base64url character
# before it would be padding bits, so change one in the middle).
text=$(cat "$(mint 1.00)")
i=$((${#text} - 20))
c=${text:$i:1}
[ "$c" = A ] && r=B || r=A
printf '%s%s%s\n' "${text:0:$i}" "$r" "${text:$((i + 1))}" >"$T/forged"
refuse forged "$T/forged" "forged|signature"

# Unknown issuer: a key the daemon does not trust.
prepay keygen --out "$T/stranger" >/dev/null || fail "keygen failed"
prepay mint --key "$T/stranger/issuer.key" --amount 1 --currency EUR >"$T/stranger.v" || fail "mint failed"
refuse "unknown issuer" "$T/stranger.v" "unknown issuer"

refuse expired "$(mint 1.00 --not-before $(($(date +%s) - 7200)) --expires 1h)" "expired"
refuse "not yet valid" "$(mint 1.00 --not-before $(($(date +%s) + 3600)))" "not valid before|not yet valid"
refuse "wrong audience" "$(mint 1.00 --audience other-host)" "bound to|host"
prepay mint --key "$ISSUER_KEY" --amount 1 --currency USD >"$T/usd.v" || fail "mint USD failed"
refuse "wrong currency" "$T/usd.v" "USD"
printf '%s\n' "${text:0:40}" >"$T/truncated"
refuse truncated "$T/truncated" "truncated|invalid voucher"
echo "hello, I am money" >"$T/garbage"
refuse garbage "$T/garbage" "not a prepay voucher|invalid voucher"
prepay mint --key "$ISSUER_KEY" --amount 2000000000 --currency EUR >"$T/big.v" 2>"$T/big.err" &&
        fail "mint accepted an amount over the maximum"
grep -qi "range\|maximum\|large" "$T/big.err" || fail "mint of a huge amount: $(cat "$T/big.err")"
say "amount overflow at mint: $(head -1 "$T/big.err")"

# Spent before: the error says when.
refuse "spent before" "$good" "already spent at [0-9]{4}-[0-9]{2}-[0-9]{2}"

# A top-up of a slice that does not exist does not spend the voucher.
keep=$(mint 0.50)
prepay topup s-00000000 --voucher "$keep" >"$T/out" 2>&1 && fail "top-up of a missing slice succeeded"
grep -q "No funded slice s-00000000" "$T/out" || fail "missing slice: $(cat "$T/out")"
grep -q "not spent" "$T/out" || fail "missing slice: the error does not say the voucher was not spent"
prepay topup "$s" --voucher "$keep" >/dev/null || fail "the voucher refused for a missing slice is not good any more"
say "top-up of a missing slice: refused, voucher still good"

# Too little for the minimum run: the error says how much more is needed.
small=$(mint 0.05)
prepay run --voucher "$small" --cpus 1 -- true >"$T/out" 2>&1 && fail "an underfunded slice was admitted"
grep -q "0.05 EUR more is needed" "$T/out" || fail "underfunded: $(cat "$T/out")"
say "underfunded: $(head -1 "$T/out")"
prepay run --cpus 1 -- true >"$T/out" 2>&1 && fail "a slice without a voucher was made"
grep -q "voucher is needed" "$T/out" || fail "no voucher: $(cat "$T/out")"

prepay release "$s" >/dev/null 2>&1 || fail "release failed"
exit 0
