#!/bin/bash
# Funders without accounts (issue 16): every credit records who funded it,
# anonymous by default or an Ed25519 public key given with --funder-key on
# the buy or a top-up. The key file may hold the private key (the funder's
# own, which proves a claim later) or only the public one: the public half
# alone is sent. The ledger keeps the funder of each credit under the hash
# chain and verify holds; a funder key that is not one is refused with
# nothing spent, on the command line and on the socket. Each slice is
# bought with a donation model the host offers (DonationModels=, the first
# its default), kept in the ledger with it and shown by status; one the
# host does not offer is refused with nothing spent. At release the
# balance is split by the model: pro-rata (three keyed funders and the
# anonymous ones, part spent) and lifo, each keyed funder's share held in
# its own account of the release entry, the owner's and the anonymous
# share paid as change; shares and spending add up to what was put in,
# and a retried release is answered as the first was. Each keyed funder
# claims its share with its private key (prepay claim), once; a second
# claim is refused naming the first, a forged one pays nothing; prepay
# funders shows each one's position.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 120

write_config "[Money]
MinRuntimeSec=1s
DonationModels=owner pro-rata
$(cpu_prices 0.001)"
start_daemon

for n in 1 2 3; do
        prepay keygen --out "$T/funders" --name "f$n" >/dev/null || fail "prepay keygen f$n failed"
done
# raw_hex PUB: the raw 32-byte key of a .pub file (the DER's last 32 bytes),
# as the ledger's export spells it.
raw_hex() { grep -v -- '-----' "$1" | base64 -d | tail -c 32 | od -An -tx1 | tr -d ' \n'; }

# Bought by funder 1 (its private key file given), topped up by funder 2
# (public key file), funder 3 (private) and someone anonymous.
bg prepay run --voucher "$(mint 1.00)" --funder-key "$T/funders/f1.key" --donation-model pro-rata --cpus 0.1 \
        -- sleep 600 >/dev/null 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice: $(cat "$T/run.err")"
prepay topup "$s" --voucher "$(mint 2.00)" --funder-key "$T/funders/f2.pub" >/dev/null 2>"$T/t2.err" ||
        fail "top-up by funder 2 refused: $(cat "$T/t2.err")"
prepay topup "$s" --voucher "$(mint 3.00)" --funder-key "$T/funders/f3.key" >/dev/null 2>"$T/t3.err" ||
        fail "top-up by funder 3 refused: $(cat "$T/t3.err")"
prepay topup "$s" --voucher "$(mint 0.50)" >/dev/null 2>"$T/t4.err" ||
        fail "anonymous top-up refused: $(cat "$T/t4.err")"
[ "$(slice_field "$s" .account.credited)" = 6500000 ] || fail "credited $(slice_field "$s" .account.credited)"

# The private key never went over the socket: the daemon logs requests at
# debug, and none holds more than the public key's line.
priv=$(grep -v -- '-----' "$T/funders/f1.key" | tr -d '\n')
grep -qF -- "$priv" "$T/prepayd.log" && fail "funder 1's private key reached the daemon's log"

# What the ledger says, in the order the money came.
prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"
got=$(jq -r --arg s "$s" '[.entries[] | select(.kind == "redeem" and .slice == $s) |
        "\(.postings[] | select(.account == "slice:" + $s) | .amount) \(.funder // "anonymous")"] | join(",")' \
        "$T/export.json")
want="1000000 $(raw_hex "$T/funders/f1.pub"),2000000 $(raw_hex "$T/funders/f2.pub"),3000000 $(raw_hex "$T/funders/f3.pub"),500000 anonymous"
[ "$got" = "$want" ] || fail "the ledger's credits and funders: $got, not $want"
[ "$(jq .schema "$T/export.json")" = 5 ] || fail "ledger schema $(jq .schema "$T/export.json"), not 5"
ledger_verify >/dev/null || fail "ledger verify failed: $(ledger_verify 2>&1)"
say "four credits with their funders (three keys, one anonymous) in the ledger; verify holds"

# The donation model it was bought with: in status and in the ledger's
# row of the slice.
[ "$(slice_field "$s" .account.donation_model)" = pro-rata ] ||
        fail "status: donation model $(slice_field "$s" .account.donation_model), not pro-rata"
prepay status "$s" | grep -q "donation: pro-rata" || fail "prepay status does not show the donation model"
[ "$(jq -r --arg s "$s" '.slices[] | select(.id == $s) | .donation_model' "$T/export.json")" = pro-rata ] ||
        fail "the ledger's row of $s does not say pro-rata"
# Bought without --donation-model: the host's default, the first offered.
bg prepay run --voucher "$(mint 0.50)" --cpus 0.1 -- sleep 600 >/dev/null 2>"$T/run2.err"
s2=$(slice_from_log "$T/run2.err") || fail "no slice: $(cat "$T/run2.err")"
[ "$(slice_field "$s2" .account.donation_model)" = owner ] ||
        fail "default donation model $(slice_field "$s2" .account.donation_model), not owner"
# One the host does not offer: refused before the voucher is spent, naming
# those it does; the same voucher then buys.
offer=$(mint 0.50)
prepay run --voucher "$offer" --donation-model lifo --cpus 0.1 -- true >/dev/null 2>"$T/lifo.err" &&
        fail "a slice with a donation model the host does not offer was bought"
grep -q 'DonationModels=owner pro-rata' "$T/lifo.err" || fail "the refusal does not name those offered: $(cat "$T/lifo.err")"
prepay run --voucher "$offer" --donation-model sideways -- true >/dev/null 2>"$T/bad-model.err" &&
        fail "--donation-model sideways was taken"
printf '{"op":"create","limits":{},"voucher":"%s","donation_model":"sideways"}\n' "$(cat "$offer")" |
        "$BIN/tests/raw-request" "$PREPAY_SOCKET" >"$T/raw-model.out" || fail "no reply to a raw create"
grep -q "Field 'donation_model' must be owner, pro-rata or lifo.*nothing was spent" "$T/raw-model.out" ||
        fail "an unknown donation_model on the socket: $(cat "$T/raw-model.out")"
printf '{"op":"create","limits":{},"voucher":"%s","donation_model":7}\n' "$(cat "$offer")" |
        "$BIN/tests/raw-request" "$PREPAY_SOCKET" >"$T/raw-model.out" || fail "no reply to a raw create"
grep -q "Field 'donation_model'" "$T/raw-model.out" || fail "a number as donation_model: $(cat "$T/raw-model.out")"
prepay run --voucher "$offer" --cpus 0.1 -- true >/dev/null 2>"$T/offer.err" ||
        fail "the voucher of the refused creates does not spend: $(cat "$T/offer.err")"
prepay release "$s2" >/dev/null 2>&1 || fail "release of $s2 failed"
say "donation models: pro-rata asked and kept (status, ledger), owner by default, lifo (not offered) refused"

# Not a key: the command line refuses before anything is sent.
spare=$(mint 0.25)
echo "not a key" >"$T/bad.pem"
prepay topup "$s" --voucher "$spare" --funder-key "$T/bad.pem" >/dev/null 2>"$T/bad.err" &&
        fail "a top-up with a funder key that is not one was taken"
grep -q "bad.pem" "$T/bad.err" || fail "the refusal does not name the file: $(cat "$T/bad.err")"
prepay topup "$s" --voucher "$spare" --funder-key "$T/missing.pem" >/dev/null 2>&1 &&
        fail "a top-up with a missing funder key file was taken"
# On the socket: refused by the daemon, and the voucher is still good.
printf '{"op":"topup","slice":"%s","voucher":"%s","funder_key":"MCowBQYDK2VwAyEAnotakey"}\n' "$s" "$(cat "$spare")" |
        "$BIN/tests/raw-request" "$PREPAY_SOCKET" >"$T/raw.out" || fail "no reply to a raw top-up"
jq -e '.ok == false' "$T/raw.out" >/dev/null || fail "a top-up with a bad funder_key was taken: $(cat "$T/raw.out")"
grep -q "funder_key.*nothing was spent" "$T/raw.out" || fail "the refusal does not say why: $(cat "$T/raw.out")"
prepay topup "$s" --voucher "$spare" >/dev/null 2>"$T/spare.err" ||
        fail "the voucher of the refused top-ups does not spend: $(cat "$T/spare.err")"
[ "$(slice_field "$s" .account.credited)" = 6750000 ] || fail "credited $(slice_field "$s" .account.credited)"
say "a funder key that is not one: refused by prepay and by prepayd, the voucher unspent"

# Through a storefront a funder key is not taken yet: refused, rather than
# the money credited as anonymous.
PREPAY_HOST=https://127.0.0.1:1 prepay topup "$s" --voucher "$spare" --funder-key "$T/funders/f1.pub" \
        >/dev/null 2>"$T/remote.err" && fail "a remote top-up with --funder-key was taken"
grep -q "not taken by a storefront" "$T/remote.err" || fail "remote --funder-key: $(cat "$T/remote.err")"

# slice_row S FIELD: FIELD of slice S's row in export.json.
slice_row() { jq -r --arg s "$1" ".slices[] | select(.id == \$s) | $2" "$T/export.json"; }
# release_posting S ACCOUNT: what S's release entry posts to ACCOUNT, 0 for none.
release_posting() {
        jq -r --arg s "$1" --arg a "$2" '[.entries[] | select(.kind == "release" and .slice == $s) |
                .postings[] | select(.account == $a) | .amount] | add // 0' "$T/export.json"
}
# check_release S REPLY SHARES...: S released (REPLY its reply), each
# "KEYFILE AMOUNT" of SHARES held in that funder's account, nothing else
# held; the refund is the rest, paid as change worth it; what was spent
# and what came back add up to what was put in.
check_release() {
        local s=$1 reply=$2 credited spent refund held sum=0 pair key amount got
        shift 2
        prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"
        credited=$(slice_row "$s" .credited)
        spent=$(slice_row "$s" '.charged | add')
        refund=$(jq -r .refund "$reply")
        held=$(jq -r '.held_for_funders // 0' "$reply")
        for pair in "$@"; do
                read -r key amount <<<"$pair"
                got=$(release_posting "$s" "held:$s:$(raw_hex "$key")")
                [ "$got" = "$amount" ] || fail "$s: $(basename "$key") holds $got, not its share $amount"
                sum=$((sum + amount))
        done
        [ "$held" = "$sum" ] || fail "$s: the reply holds $held for funders, their shares sum to $sum"
        [ "$(jq '[.entries[] | select(.slice == "'"$s"'") | .postings[] | select(.account | startswith("held:"))] |
                length' "$T/export.json")" = "$#" ] || fail "$s: held postings other than the funders' shares"
        [ "$(slice_row "$s" .held_for_funders)" = "$held" ] || fail "$s: its row holds $(slice_row "$s" .held_for_funders)"
        [ "$(slice_row "$s" .refunded)" = "$refund" ] || fail "$s: its row refunded $(slice_row "$s" .refunded), the reply $refund"
        [ "$(release_posting "$s" refund)" = "$refund" ] || fail "$s: the release entry refunds $(release_posting "$s" refund)"
        [ $((spent + refund + held)) = "$credited" ] ||
                fail "$s: spent $spent + refunded $refund + held $held != put in $credited"
        if [ "$refund" -gt 0 ]; then
                jq -r .change "$reply" >"$T/change.voucher"
                [ "$(prepay voucher show "$T/change.voucher" --json | jq -r .amount)" = "$refund" ] ||
                        fail "$s: the change is not worth $refund: $(prepay voucher show "$T/change.voucher" 2>&1)"
        fi
        ledger_verify >/dev/null || fail "ledger verify failed after releasing $s: $(ledger_verify 2>&1)"
}

# Pro-rata: f1 1.00, f2 2.00, f3 3.00 and 0.75 anonymous (0.50, 0.25) put
# in; what is left after the sleep's charges is split by largest remainder
# (daemon/README.md), the anonymous share the owner's.
prepay release "$s" --json --request-id "rel-$s" >"$T/release.json" 2>"$T/release.err" ||
        fail "release failed: $(cat "$T/release.err")"
prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"
U=$(( $(slice_row "$s" .credited) - $(slice_row "$s" '.charged | add') ))
puts=(1000000 2000000 3000000 750000)
P=6750000 left=$U best=-1
for i in 0 1 2 3; do
        share[i]=$((U * puts[i] / P))
        rem[i]=$((U * puts[i] % P))
        left=$((left - share[i]))
done
# The micro-units the floors leave, one each to the largest remainders,
# ties to the earliest funder.
while [ "$left" -gt 0 ]; do
        best=-1
        for i in 0 1 2 3; do
                [ "${rem[i]}" -ge 0 ] && { [ "$best" = -1 ] || [ "${rem[i]}" -gt "${rem[best]}" ]; } && best=$i
        done
        share[best]=$((share[best] + 1))
        rem[best]=-1
        left=$((left - 1))
done
check_release "$s" "$T/release.json" "$T/funders/f1.pub ${share[0]}" "$T/funders/f2.pub ${share[1]}" \
        "$T/funders/f3.pub ${share[2]}"
[ "$(jq -r .refund "$T/release.json")" = "${share[3]}" ] ||
        fail "the owner got $(jq -r .refund "$T/release.json"), not the anonymous share ${share[3]}"
say "pro-rata: $U left split ${share[*]} (f1 f2 f3 anonymous), each keyed share held in its funder's account"

# Retried with its request id: the first reply, change and all; nothing
# moves again.
# entries_of S: how many entries the ledger has for slice S (others'
# charges go on meanwhile).
entries_of() { jq --arg s "$1" '[.entries[] | select(.slice == $s)] | length' "$T/export.json"; }
entries=$(entries_of "$s")
prepay release "$s" --json --request-id "rel-$s" >"$T/release2.json" 2>/dev/null || fail "the retried release failed"
for k in refund held_for_funders change receipt; do
        [ "$(jq -c ".$k" "$T/release2.json")" = "$(jq -c ".$k" "$T/release.json")" ] ||
                fail "the retried release's $k differs from the first's"
done
# Without --json, the same reply says what was held.
prepay release "$s" --request-id "rel-$s" >/dev/null 2>"$T/release3.err" || fail "the retried release failed"
grep -q "^$(jq -r .held_for_funders "$T/release.json" | sed 's/\(......\)$/.\1/; s/^\./0./') EUR held for the slice's keyed funders" \
        "$T/release3.err" || fail "prepay release does not say what was held: $(cat "$T/release3.err")"
prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"
[ "$(entries_of "$s")" = "$entries" ] || fail "the retried release wrote to the ledger"
say "a retried release is answered as the first was; nothing moves twice"

# A claim statement made by hand (common/claim.h's bytes), as an attacker
# would: the statement names KEY's public half, SIGNER signs it.
# forge_claim SLICE NAMED_PUB SIGNER_KEY
forge_claim() {
        local slice=$1 named=$2 signer=$3 t
        t=$(date +%s%6N)
        {
                printf 'PPC\x01'
                printf '%016x' "$t" | xxd -r -p
                grep -v -- '-----' "$named" | base64 -d | tail -c 32
                printf "\\x$(printf %02x ${#HOST_ID})%s" "$HOST_ID"
                printf "\\x$(printf %02x ${#slice})%s" "$slice"
        } >"$T/claim.bytes"
        openssl pkeyutl -sign -inkey "$signer" -rawin -in "$T/claim.bytes" -out "$T/claim.sig" 2>/dev/null ||
                fail "openssl cannot sign with $signer"
        printf 'pc1-%s' "$(cat "$T/claim.bytes" "$T/claim.sig" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
}
HOST_ID=test-host

# Each keyed funder claims its share with its private key, as change
# worth exactly that share; a forged claim (f3's share, signed by f1) is
# refused first, with nothing paid.
entries=$(entries_of "$s")
printf '{"op":"claim","slice":"%s","claim":"%s"}\n' "$s" "$(forge_claim "$s" "$T/funders/f3.pub" "$T/funders/f1.key")" |
        "$BIN/tests/raw-request" "$PREPAY_SOCKET" >"$T/forged.out" || fail "no reply to a forged claim"
jq -e '.ok == false' "$T/forged.out" >/dev/null || fail "a forged claim was paid: $(cat "$T/forged.out")"
grep -q "nothing was paid" "$T/forged.out" || fail "the forged claim's refusal: $(cat "$T/forged.out")"
# The same bytes signed by the right key hold: the forgery was refused for
# its signature, not for its shape.
printf '{"op":"claim","slice":"%s","claim":"%s"}\n' "$s" "$(forge_claim "$s" "$T/funders/f3.pub" "$T/funders/f3.key")" \
        >"$T/claim3.req"
prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"
[ "$(entries_of "$s")" = "$entries" ] || fail "the forged claim wrote to the ledger"
prepay claim "$s" --funder-key "$T/funders/f2.pub" >/dev/null 2>"$T/pub.err" &&
        fail "a claim was made with a public key only"
grep -q "holds no private key" "$T/pub.err" || fail "claim with a .pub: $(cat "$T/pub.err")"
"$BIN/tests/raw-request" "$PREPAY_SOCKET" <"$T/claim3.req" >"$T/claim3.json" || fail "no reply to f3's claim"
jq -e '.ok == true' "$T/claim3.json" >/dev/null || fail "f3's own claim refused: $(cat "$T/claim3.json")"
for i in 1 2; do
        prepay claim "$s" --funder-key "$T/funders/f$i.key" --json >"$T/claim$i.json" 2>"$T/claim$i.err" ||
                fail "f$i's claim refused: $(cat "$T/claim$i.err")"
done
paid=0
for i in 1 2 3; do
        got=$(jq -r .claimed "$T/claim$i.json")
        [ "$got" = "${share[i - 1]}" ] || fail "f$i claimed $got, not its share ${share[i - 1]}"
        jq -r .change "$T/claim$i.json" >"$T/claim$i.voucher"
        [ "$(prepay voucher show "$T/claim$i.voucher" --json | jq -r .amount)" = "$got" ] ||
                fail "f$i's change is not worth its share $got"
        paid=$((paid + got))
done
refund=$(jq -r .refund "$T/release.json")
spent=$(slice_row "$s" '.charged | add')
[ $((paid + refund + spent)) = 6750000 ] || fail "claimed $paid + refunded $refund + spent $spent != 6.75 put in"
# A second claim is refused, naming the first; nothing is paid again.
first=$(prepay ledger export --json --ledger "$LEDGER" |
        jq -r --arg s "$s" '[.entries[] | select(.kind == "claim" and .slice == $s)] | .[1].seq')
prepay claim "$s" --funder-key "$T/funders/f1.key" >/dev/null 2>"$T/again.err" && fail "f1 was paid twice"
grep -q "claimed already, by ledger entry $first at" "$T/again.err" ||
        fail "the second claim's refusal does not name the first (entry $first): $(cat "$T/again.err")"
prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"
[ "$(slice_row "$s" .held_for_funders)" = 0 ] || fail "$s still holds $(slice_row "$s" .held_for_funders)"
[ "$(slice_row "$s" .claimed_by_funders)" = "$paid" ] || fail "$s: claimed $(slice_row "$s" .claimed_by_funders) in its row"
# Each funder's position, as anyone may ask.
prepay funders "$s" --json >"$T/funders.json" || fail "prepay funders failed"
got=$(jq -r '[.funders[] | "\(.put)/\(.share)/\(.held // "-")/\(.claimed // "-")"] | join(" ")' "$T/funders.json")
want="1000000/${share[0]}/0/${share[0]} 2000000/${share[1]}/0/${share[1]} 3000000/${share[2]}/0/${share[2]} 750000/${share[3]}/-/-"
[ "$got" = "$want" ] || fail "prepay funders: $got, not $want"
prepay funders "$s" | grep -q "^anonymous .* (with change)" || fail "prepay funders: $(prepay funders "$s" 2>&1)"
ledger_verify >/dev/null || fail "ledger verify failed after the claims: $(ledger_verify 2>&1)"
say "claims: f1 f2 f3 each paid its share as change, once (the second refused naming entry $first); a forged claim paid nothing"

# lifo, offered now: f1 1.00, 2.00 anonymous, f3 0.50; spending is taken
# from the earliest money, so f3's 0.50 comes back whole, the anonymous
# 2.00 as change, and f1 gets what is left of its 1.00.
stop_daemon
write_config "[Money]
MinRuntimeSec=1s
DonationModels=owner pro-rata lifo
$(cpu_prices 0.001)"
start_daemon
bg prepay run --voucher "$(mint 1.00)" --funder-key "$T/funders/f1.key" --donation-model lifo --cpus 0.1 \
        -- sleep 600 >/dev/null 2>"$T/run3.err"
s3=$(slice_from_log "$T/run3.err") || fail "no slice: $(cat "$T/run3.err")"
prepay topup "$s3" --voucher "$(mint 2.00)" >/dev/null 2>&1 || fail "anonymous top-up of $s3 refused"
prepay topup "$s3" --voucher "$(mint 0.50)" --funder-key "$T/funders/f3.pub" >/dev/null 2>&1 ||
        fail "top-up of $s3 by funder 3 refused"
prepay release "$s3" --json >"$T/release3.json" 2>/dev/null || fail "release of $s3 failed"
prepay ledger export --json --ledger "$LEDGER" >"$T/export.json" || fail "prepay ledger export failed"
U3=$(( $(slice_row "$s3" .credited) - $(slice_row "$s3" '.charged | add') ))
[ "$U3" -gt 2500000 ] || fail "$s3 spent more than f1's 1.00 in a few seconds: $U3 left"
check_release "$s3" "$T/release3.json" "$T/funders/f1.pub $((U3 - 2500000))" "$T/funders/f3.pub 500000"
[ "$(jq -r .refund "$T/release3.json")" = 2000000 ] || fail "lifo: the owner got $(jq -r .refund "$T/release3.json")"
say "lifo: $U3 left: f3's 0.50 back whole, the anonymous 2.00 as change, f1 $((U3 - 2500000))"
