#!/bin/bash
# The storefront end to end, with curl as the buyers: prepay-gatewayd runs
# as a throwaway unprivileged user that prepayd takes as its gateway
# (GatewayUser=), with a self-signed pair it makes itself and pins. A
# quote; a purchase of a VM slice that gets 402 (too little money for the
# hours asked) and then 201 (slice, owner token, receipt, the ssh line);
# a top-up by a second client without a token, seen on the buyer's
# Server-Sent Events stream; a wrong token refused; bad JSON refused with
# a sentence; a 2 MiB body refused; a retried POST with the same
# Idempotency-Key acting once; a release with change that buys again;
# 200 parallel purchases with one voucher: exactly one 201, the rest 409.
# A funder tops up with its key, sees its position by a proof it signs
# (no token), follows the slice's events by it, and claims its share after
# a pro-rata release: once (the second refused naming the first); an
# events proof is refused as a claim, a forged proof or claim with 403.
# Nothing of a voucher or a token reaches either daemon's log, and the
# books balance at the end.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 900

for tool in curl qemu-system-x86_64 qemu-img genisoimage ssh-keygen; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (packaging/build-deps, --vmslice)"
done
[ -x "$BIN/prepay-gatewayd" ] || skip "no $BIN/prepay-gatewayd"

# The guest bought here is the tiny image (a kernel and an initramfs
# answering on its port): the storefront's flow, not the guest, is tested.
tiny_image

GW=pgw-${ID#prepay-test-}
GW=${GW:0:31}
VMUSER=pvm-${ID#prepay-test-}
VMUSER=${VMUSER:0:31}
add_user "$GW"
add_user "$VMUSER"
chmod 0711 "$T"
first=$((30000 + ($$ % 2000) * 10))
port=$((20000 + ($$ % 5000)))

write_config "[Control]
GatewayUser=$GW
[Money]
MinRuntimeSec=1s
DonationModels=owner pro-rata
[Prices]
CPUSecond=0.001
MemoryGiBHour=0
IOGiB=0
SliceHour=0
NetOutGiB=0
NetInGiB=0
DiskGiBHour=0.01
[VM]
Directory=$T/vm
ImagesDirectory=$IMAGES
User=$VMUSER
ListenAddress=127.0.0.1
PortRange=$first-$((first + 9))
ShutdownTimeoutSec=2s"
start_daemon
# The gateway reaches the control socket as any client would.
chmod 0666 "$PREPAY_SOCKET"

install -d -o "$GW" -m 0700 "$T/gw"
cat >"$T/gatewayd.conf" <<CONF
[Gateway]
Listen=127.0.0.1:$port
StateDirectory=$T/gw
ControlSocket=$PREPAY_SOCKET
RatePerAddress=100000
BurstPerAddress=100000
RatePerSlice=100000
BurstPerSlice=100000
MaxConnectionsPerAddress=300
# 200 handshakes at once on one thread take long in an emulated guest:
# the deadline (test-gateway-tls checks it) is not what this test is about.
RequestTimeoutSec=300s
CONF
bg_as "$GW" "$BIN/prepay-gatewayd" --config "$T/gatewayd.conf" >>"$T/gatewayd.log" 2>&1
GW_PID=${BG_PIDS[-1]}
has_fingerprint() { [ -s "$T/gw/fingerprint" ]; }
wait_for 30 has_fingerprint || fail "the gateway made no fingerprint: $(tail -5 "$T/gatewayd.log")"
fp=$(cat "$T/gw/fingerprint")
grep -qF "$fp" "$T/gatewayd.log" || fail "the gateway did not log its fingerprint $fp"
URL=https://127.0.0.1:$port
pin="sha256//${fp#sha256:}"
# api OUT ARGS...: one request; its status printed, its body in $T/OUT.
api() {
        local out=$1
        shift
        curl -sS -k --pinnedpubkey "$pin" -o "$T/$out" -w '%{http_code}' "$@" 2>>"$T/curl.err"
}
answers() { [ "$(api ping "$URL/v1/prices")" = 200 ]; }
wait_for 30 answers || fail "the gateway does not answer: $(tail -5 "$T/gatewayd.log") $(tail -2 "$T/curl.err")"
say "gateway up as $GW on 127.0.0.1:$port, self-signed, $fp"

# --- prices and a quote
jq -e '.currency == "EUR" and (.prices | length > 0)' "$T/ping" >/dev/null || fail "GET /v1/prices: $(cat "$T/ping")"
code=$(api quote -H 'Content-Type: application/json' -d '{"cpus": "1", "memory": "512M", "duration": "1h", "disk": "1G"}' \
        "$URL/v1/quote")
[ "$code" = 200 ] || fail "POST /v1/quote: $code $(cat "$T/quote")"
total=$(jq -r .total "$T/quote")
[ "$total" = 3.61 ] || fail "the quote for 1 CPU and a 1G disk for 1 h is $total, expected 3.61 (3.60 CPU + 0.01 disk)"
say "quote: 1 CPU, 512M, 1G disk, 1 h: $total EUR"

ssh-keygen -q -t ed25519 -N '' -C buyer -f "$T/id" || fail "ssh-keygen failed"
# purchase VOUCHER-FILE [IDEMPOTENCY-KEY]: the body of a VM purchase for an hour.
purchase() {
        jq -n --arg v "$(cat "$1")" --arg k "$(cat "$T/id.pub")" --arg i "$IMAGE" \
                '{voucher: $v, cpus: "1", memory: "512M", duration: "1h", on_exhausted: "freeze",
                  vm: {image: $i, ssh_key: $k}}'
}

# --- 402, then 201
small=$(mint 1)
code=$(purchase "$small" | api 402 -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices")
[ "$code" = 402 ] || fail "a purchase of an hour with 1 EUR got $code: $(cat "$T/402")"
jq -e '.code == "payment_required" and .currency == "EUR" and (.error | length > 0)' "$T/402" >/dev/null ||
        fail "the 402's body: $(cat "$T/402")"
# What is missing is the order's total less the voucher's 1.00.
jq -e '((.total | tonumber) - (.missing | tonumber) - 1 | fabs) < 0.000001' "$T/402" >/dev/null ||
        fail "the 402's total and missing do not add up to the voucher's 1.00: $(cat "$T/402")"
say "402: $(jq -r .error "$T/402")"

v=$(mint 5)
code=$(purchase "$v" | api 201 -H 'Content-Type: application/json' -H 'Idempotency-Key: buy-1' \
        --data-binary @- -D "$T/201.headers" "$URL/v1/slices")
[ "$code" = 201 ] || fail "a purchase with 5 EUR got $code: $(cat "$T/201")"
s=$(jq -r .slice.id "$T/201")
token=$(jq -r .token "$T/201")
[[ $token == pt-* ]] || fail "no owner token in the 201"
grep -qi "^location: /v1/slices/$s" "$T/201.headers" || fail "no Location: /v1/slices/$s in the 201"
jq -e '.receipt | startswith("pr1-")' "$T/201" >/dev/null || fail "no receipt in the 201"
jq -e '.ssh.port > 0 and (.ssh.command | startswith("ssh -p "))' "$T/201" >/dev/null || fail "no ssh line in the 201: $(jq -c .ssh "$T/201")"
host_key=$(jq -r .host_key "$T/ping")
prepay receipt verify --key "$host_key" "$(jq -r .receipt "$T/201")" >"$T/receipt.out" 2>&1 ||
        fail "the purchase's receipt does not verify: $(cat "$T/receipt.out")"
say "201: slice $s, $(jq -r .ssh.command "$T/201"), balance $(jq -r .slice.account.balance "$T/201") EUR, receipt verified"

# The same POST again with its Idempotency-Key: the same slice, nothing spent twice.
code=$(purchase "$v" | api again -H 'Content-Type: application/json' -H 'Idempotency-Key: buy-1' \
        --data-binary @- "$URL/v1/slices")
[ "$code" = 201 ] && [ "$(jq -r .slice.id "$T/again")" = "$s" ] ||
        fail "a retried purchase (same Idempotency-Key) got $code: $(cat "$T/again")"
[ "$(jq -r .receipt "$T/again")" = "$(jq -r .receipt "$T/201")" ] || fail "the retried purchase got another receipt"
say "a retry with the same Idempotency-Key: the same slice and receipt"

# --- the owner's event stream; a second client tops up without a token
n=$(events_taken)
curl -sS -N -k --pinnedpubkey "$pin" -H "Authorization: Bearer $token" "$URL/v1/slices/$s/events" \
        >"$T/sse" 2>"$T/sse.err" &
BG_PIDS+=($!)
SSE_PID=$!
# An event before prepayd took the stream's request would not be replayed.
wait_for 20 events_above "$n" || fail "prepayd never took the stream's request: $(cat "$T/sse.err")"
w=$(mint 2)
code=$(jq -n --arg v "$(cat "$w")" '{voucher: $v}' |
        api topup -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices/$s/topup")
[ "$code" = 200 ] || fail "a top-up without a token got $code: $(cat "$T/topup")"
[ "$(jq -r .credited "$T/topup")" = 2.00 ] || fail "the top-up credited $(jq -r .credited "$T/topup")"
saw_topup() { grep -q '^event: topped-up' "$T/sse"; }
wait_for 30 saw_topup || fail "the event stream did not show the top-up: $(cat "$T/sse" "$T/sse.err")"
grep -A2 '^event: topped-up' "$T/sse" | grep '^data: ' | sed 's/^data: //' | jq -e '.balance | type == "string"' \
        >/dev/null || fail "the stream's event has no balance as a string: $(grep -A2 topped-up "$T/sse")"
kill "$SSE_PID" 2>/dev/null
say "a stranger topped up 2.00 EUR without a token; the owner's stream showed it"

# --- refusals, each with a sentence
refused() { # STATUS CODE OUT CURL-ARGS...: the request got STATUS with a sentence (and CODE if not -)
        local want=$1 c=$2 out=$3 got
        shift 3
        got=$(api "$out" "$@")
        [ "$got" = "$want" ] || fail "$* got $got, expected $want: $(head -c 300 "$T/$out")"
        jq -e '.error | length > 10' "$T/$out" >/dev/null || fail "$* got $want without a sentence: $(head -c 300 "$T/$out")"
        [ "$c" = - ] || [ "$(jq -r .code "$T/$out")" = "$c" ] || fail "$* said code $(jq -r .code "$T/$out"), expected $c"
}
refused 403 forbidden wrong -X POST -H "Authorization: Bearer pt-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" \
        "$URL/v1/slices/$s/release"
refused 401 unauthorized notoken -X POST "$URL/v1/slices/$s/release"
refused 400 - badjson -H 'Content-Type: application/json' -d '{"voucher": ' "$URL/v1/slices"
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$T/big"
refused 413 - big -H 'Content-Type: application/json' --data-binary @"$T/big" "$URL/v1/slices"
refused 409 spent spent -H 'Content-Type: application/json' --data-binary @<(purchase "$v") "$URL/v1/slices"
refused 404 - nosuch "$URL/v1/slices/s-00000000"
# Paths are routed byte for byte: an escape is not decoded into a route.
refused 404 - escaped --path-as-is "$URL/v1/%70rices"
say "refused: a wrong token (403), none (401), bad JSON (400), 2 MiB (413), a spent voucher (409), no slice (404), an escaped path (404)"

# --- release with change, which buys again
code=$(api rel -X POST -H "Authorization: Bearer $token" "$URL/v1/slices/$s/release")
[ "$code" = 200 ] || fail "release with the token got $code: $(cat "$T/rel")"
jq -r '.change[0]' "$T/rel" >"$T/change.voucher"
grep -q '^pv1-' "$T/change.voucher" || fail "the release gave no change: $(cat "$T/rel")"
prepay receipt verify --key "$host_key" "$(jq -r .receipt "$T/rel")" >"$T/receipt.out" 2>&1 ||
        fail "the release's receipt does not verify: $(cat "$T/receipt.out")"
say "released: $(jq -r .refund "$T/rel") EUR back as change"
code=$(purchase "$T/change.voucher" | api rebuy -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices")
[ "$code" = 201 ] || fail "the change did not buy again: $code $(cat "$T/rebuy")"
s2=$(jq -r .slice.id "$T/rebuy")
code=$(api rel2 -X POST -H "Authorization: Bearer $(jq -r .token "$T/rebuy")" "$URL/v1/slices/$s2/release")
[ "$code" = 200 ] || fail "release of $s2 got $code: $(cat "$T/rel2")"
say "the change bought slice $s2, released in turn"

# --- funders: a key with the money, its position, its events, its claim
host_id=$(jq -r .host_id "$T/ping")
prepay keygen --out "$T/funders" --name f1 >/dev/null || fail "prepay keygen f1 failed"
prepay keygen --out "$T/funders" --name f2 >/dev/null || fail "prepay keygen f2 failed"
f1_key=$(grep -v -- '-----' "$T/funders/f1.pub" | tr -d '\n')
code=$(purchase "$(mint 5)" | jq '.duration = "10min" | .donation_model = "pro-rata"' |
        api fbuy -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices")
[ "$code" = 201 ] || fail "a pro-rata purchase got $code: $(cat "$T/fbuy")"
fs=$(jq -r .slice.id "$T/fbuy")
ftoken=$(jq -r .token "$T/fbuy")
[ "$(jq -r .slice.account.donation_model "$T/fbuy")" = pro-rata ] || fail "bought $(jq -c .slice.account "$T/fbuy")"
fv=$(mint 2)
code=$(jq -n --arg v "$(cat "$fv")" --arg k "$f1_key" '{voucher: $v, funder_key: $k}' |
        api ftopup -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices/$fs/topup")
[ "$code" = 200 ] || fail "a top-up with a funder key got $code: $(cat "$T/ftopup")"
refused 400 invalid badkey -H 'Content-Type: application/json' \
        -d "$(jq -n --arg v "$(cat "$(mint 1)")" '{voucher: $v, funder_key: "not a key"}')" "$URL/v1/slices/$fs/topup"
grep -q "Member 'funder_key'" "$T/badkey" || fail "a bad funder_key: $(cat "$T/badkey")"
# Its position: the owner sees every funder, f1 by its proof its own, no
# one without either; a proof f2 signed naming f1 is a forgery.
proof=$(funder_statement "$fs" "$T/funders/f1.pub" "$T/funders/f1.key" e "$host_id")
code=$(api fowner -H "Authorization: Bearer $ftoken" "$URL/v1/slices/$fs/funders")
[ "$code" = 200 ] && [ "$(jq '.funders | length' "$T/fowner")" = 2 ] || fail "the owner's funders: $code $(cat "$T/fowner")"
code=$(api fown -H "Prepay-Funder-Proof: $proof" "$URL/v1/slices/$fs/funders")
[ "$code" = 200 ] || fail "f1's funders with its proof: $code $(cat "$T/fown")"
jq -e --arg k "$(raw_hex "$T/funders/f1.pub")" '.funders | length == 1 and .[0].funder == $k and .[0].put == "2.00"' \
        "$T/fown" >/dev/null || fail "f1's own position: $(cat "$T/fown")"
refused 401 unauthorized fnone "$URL/v1/slices/$fs/funders"
refused 403 forbidden fforged -H "Prepay-Funder-Proof: $(funder_statement "$fs" "$T/funders/f1.pub" "$T/funders/f2.key" e "$host_id")" \
        "$URL/v1/slices/$fs/funders"
refused 403 forbidden fstranger -H "Prepay-Funder-Proof: $(funder_statement "$fs" "$T/funders/f2.pub" "$T/funders/f2.key" e "$host_id")" \
        "$URL/v1/slices/$fs/funders"
say "a funder topped up $fs with its key over HTTPS; funders: the owner's all, f1's own by proof, none (401), forged (403), a stranger (403)"

# f1 follows the slice by its proof, no token, and is told of its release.
n=$(grep -c "subscribed to events of $fs as a funder" "$T/prepayd.log")
curl -sS -N -k --pinnedpubkey "$pin" -H "Prepay-Funder-Proof: $proof" "$URL/v1/slices/$fs/events" \
        >"$T/fsse" 2>"$T/fsse.err" &
BG_PIDS+=($!)
FSSE_PID=$!
funder_subscribed() { [ "$(grep -c "subscribed to events of $fs as a funder" "$T/prepayd.log")" -gt "$n" ]; }
wait_for 20 funder_subscribed || fail "f1's stream was not taken: $(cat "$T/fsse.err")"
code=$(api frel -X POST -H "Authorization: Bearer $ftoken" "$URL/v1/slices/$fs/release")
[ "$code" = 200 ] || fail "release of $fs got $code: $(cat "$T/frel")"
saw_released() { grep -q '^event: released' "$T/fsse"; }
wait_for 30 saw_released || fail "f1's stream did not show the release: $(cat "$T/fsse" "$T/fsse.err")"
grep '^event: ' "$T/fsse" | grep -qv '^event: released' && fail "f1 was told more than the release: $(grep '^event:' "$T/fsse")"
kill "$FSSE_PID" 2>/dev/null
say "f1 followed $fs by its proof (no token) and was told of its release, nothing else"

# f1 claims its share: change worth it; again: refused naming the first;
# its events proof as a claim, and a forged claim: refused, nothing paid.
claim_body() { jq -n --arg c "$1" '{claim: $c}'; }
refused 400 invalid fproofclaim -H 'Content-Type: application/json' \
        -d "$(claim_body "$proof")" "$URL/v1/slices/$fs/claim"
grep -q "events proof, not a claim" "$T/fproofclaim" || fail "an events proof as a claim: $(cat "$T/fproofclaim")"
refused 403 forbidden fforgedclaim -H 'Content-Type: application/json' \
        -d "$(claim_body "$(funder_statement "$fs" "$T/funders/f1.pub" "$T/funders/f2.key" c "$host_id")")" \
        "$URL/v1/slices/$fs/claim"
code=$(claim_body "$(funder_statement "$fs" "$T/funders/f1.pub" "$T/funders/f1.key" c "$host_id")" |
        api fclaim -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices/$fs/claim")
[ "$code" = 200 ] || fail "f1's claim got $code: $(cat "$T/fclaim")"
share=$(jq -r .claimed "$T/fclaim")
jq -r '.change[0]' "$T/fclaim" >"$T/fclaim.voucher"
amount=$(prepay voucher show "$T/fclaim.voucher" --json | jq -r .amount)
[ "$(jq -n --arg a "$amount" '$a | tonumber / 1000000')" = "$(jq -n --arg s "$share" '$s | tonumber')" ] ||
        fail "f1's change is worth $amount micro-units, its claim said $share"
[ "$amount" -gt 1000000 ] || fail "f1's pro-rata share of 2.00 in 7.00, little spent, is $share"
refused 409 spent fclaim2 -H 'Content-Type: application/json' \
        -d "$(claim_body "$(funder_statement "$fs" "$T/funders/f1.pub" "$T/funders/f1.key" c "$host_id")")" \
        "$URL/v1/slices/$fs/claim"
grep -q "claimed already, by ledger entry" "$T/fclaim2" || fail "the second claim: $(cat "$T/fclaim2")"
say "f1 claimed its share of $fs over HTTPS ($share EUR as change); again refused naming the first; a proof and a forgery paid nothing"

# --- sponsorship over HTTPS: two strangers bid, the higher is shown in
# the public view when the period starts; the lower fetches its change
# with its bid token alone, and the change is real money.
bg prepay run --voucher "$(mint 1.00)" --cpus 0.1 -- sleep 600 >/dev/null 2>"$T/sprun.err"
sp=$(slice_from_log "$T/sprun.err") || fail "no slice to sponsor: $(cat "$T/sprun.err")"
vbig=$(mint 2.00)
vsmall=$(mint 1.50)
vlow=$(mint 0.50)
prepay sponsor offer "$sp" --period 1h --min 1.00 --start +8s >/dev/null 2>"$T/offer.err" ||
        fail "offer refused: $(cat "$T/offer.err")"
bid_body() { jq -n --arg v "$(cat "$1")" --arg n "$2" '{voucher: $v, name: $n, url: "https://example.org/"}'; }
code=$(bid_body "$vbig" "Big Co" | api bidbig -H 'Content-Type: application/json' --data-binary @- \
        "$URL/v1/slices/$sp/sponsor/bids")
[ "$code" = 200 ] || fail "a bid of 2.00 got $code: $(cat "$T/bidbig")"
code=$(bid_body "$vsmall" "Small Co" | api bidsmall -H 'Content-Type: application/json' --data-binary @- \
        "$URL/v1/slices/$sp/sponsor/bids")
[ "$code" = 200 ] || fail "a bid of 1.50 got $code: $(cat "$T/bidsmall")"
small_n=$(jq -r .bid.id "$T/bidsmall")
small_token=$(jq -r .token "$T/bidsmall")
big_token=$(jq -r .token "$T/bidbig")
case $small_token in bt-*) ;; *) fail "the bid's reply has no bid token: $(cat "$T/bidsmall")" ;; esac
refused 409 bid_too_low bidlow -H 'Content-Type: application/json' -d "$(bid_body "$vlow" Cheap)" \
        "$URL/v1/slices/$sp/sponsor/bids"
prepay voucher show "$vlow" --json >/dev/null || fail "the low bid's voucher is not readable"
sponsored() {
        [ "$(api spview "$URL/v1/slices/$sp")" = 200 ] &&
                jq -e '.slice.sponsorship.current.name == "Big Co"' "$T/spview" >/dev/null
}
wait_for 120 sponsored || fail "the public view never showed the winner: $(cat "$T/spview")"
jq -e '.slice.public and .slice.sponsorship.min == "1.00" and .slice.sponsorship.current.amount == "2.00" and
        (.slice.sponsorship | has("env_file") | not)' "$T/spview" >/dev/null ||
        fail "the public view's sponsorship: $(jq -c .slice.sponsorship "$T/spview")"
outcome() { jq -n --argjson b "$1" '{bid: $b}'; }
code=$(outcome "$small_n" | api outsmall -H 'Content-Type: application/json' -H "Authorization: Bearer $small_token" \
        --data-binary @- "$URL/v1/slices/$sp/sponsor/outcome")
[ "$code" = 200 ] && jq -e '.bid.state == "returned" and (.bid.change | length) >= 1' "$T/outsmall" >/dev/null ||
        fail "the losing bid's outcome: $code $(cat "$T/outsmall")"
jq -r '.bid.change[0]' "$T/outsmall" >"$T/bidchange.voucher"
[ "$(prepay voucher show "$T/bidchange.voucher" --json | jq -r .amount)" = 1500000 ] ||
        fail "the losing bid's change is not worth its 1.50: $(prepay voucher show "$T/bidchange.voucher" 2>&1)"
refused 403 forbidden outwrong -H 'Content-Type: application/json' -H "Authorization: Bearer $big_token" \
        -d "$(outcome "$small_n")" "$URL/v1/slices/$sp/sponsor/outcome"
refused 401 unauthorized outnone -H 'Content-Type: application/json' -d "$(outcome "$small_n")" \
        "$URL/v1/slices/$sp/sponsor/outcome"
code=$(jq -n --arg v "$(cat "$T/bidchange.voucher")" '{voucher: $v}' |
        api bidchange -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices/$sp/topup")
[ "$code" = 200 ] || fail "the losing bid's change did not top up $sp: $code $(cat "$T/bidchange")"
prepay release "$sp" >/dev/null 2>&1 || fail "release of $sp failed"
say "sponsorship over HTTPS: Big Co shown on $sp, Small Co's 1.50 back as change by its bid token (spent), 0.50 refused"

# --- 200 parallel purchases with one voucher
one=$(mint 5)
purchase "$one" >"$T/one.json"
seq 200 | xargs -P 64 -I{} curl -sS -k --pinnedpubkey "$pin" -o /dev/null -w '%{http_code}\n' \
        -H 'Content-Type: application/json' --data-binary @"$T/one.json" "$URL/v1/slices" >"$T/codes" 2>>"$T/curl.err"
n201=$(grep -c '^201$' "$T/codes")
n409=$(grep -c '^409$' "$T/codes")
codes() { echo "$(sort "$T/codes" | uniq -c | tr '\n' ' ') $(tail -n 3 "$T/curl.err")"; }
[ "$n201" = 1 ] || fail "200 parallel purchases with one voucher: $n201 got 201 ($(codes))"
[ "$n409" = 199 ] || fail "200 parallel purchases: $n409 got 409, expected 199 ($(codes))"
say "200 parallel purchases with one voucher: 1 x 201, 199 x 409"
for id in $(prepay list --json | jq -r '.[] | select(.account.state == "active") | .id'); do
        prepay release "$id" >/dev/null 2>&1 || fail "release of $id failed"
done

# --- nothing secret in the logs; the books balance
for f in "$v" "$w" "$small" "$one" "$T/change.voucher" "$fv" "$T/fclaim.voucher" "$vbig" "$vsmall" \
        "$T/bidchange.voucher"; do
        grep -qF "$(cat "$f")" "$T/prepayd.log" "$T/gatewayd.log" && fail "a voucher's text is in a log"
done
grep -qF "$token" "$T/prepayd.log" "$T/gatewayd.log" && fail "the owner token is in a log"
grep -qF "$small_token" "$T/prepayd.log" "$T/gatewayd.log" && fail "a bid token is in a log"
kill -TERM "$GW_PID"
wait_for 10 pid_gone "$GW_PID" || fail "the gateway did not stop on SIGTERM"
ledger_verify >/dev/null || fail "the ledger does not verify: $(ledger_verify 2>&1 | tail -3)"
say "no voucher or token in either log; the books balance"
