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
# host does not offer is refused with nothing spent.
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
[ "$(jq .schema "$T/export.json")" = 3 ] || fail "ledger schema $(jq .schema "$T/export.json"), not 3"
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

prepay release "$s" >/dev/null 2>&1 || fail "release failed"
ledger_verify >/dev/null || fail "ledger verify failed after release: $(ledger_verify 2>&1)"
say "released; the books verify"
