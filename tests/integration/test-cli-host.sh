#!/bin/bash
# prepay --host: the CLI as a buyer anywhere, through a real
# prepay-gatewayd in front of the test's prepayd (issue 14, "The CLI speaks
# it"). The gateway runs as a throwaway user, prepayd's GatewayUser=, on a
# port of 127.0.0.1 with the self-signed pair it makes on first start; the
# CLI trusts it by --pin, the SHA-256 of its public key, read here with
# openssl s_client and looked for in the gateway's log.
#
# The flow: a TLS failure without a pin and with a wrong one, each saying
# which; images and a quote; a purchase the voucher cannot pay (402: the
# sentence, the total and what is missing; the voucher not spent); the same
# voucher and a second one buy it (--voucher twice: the slice, the
# balance, the receipt, the ssh line, the guest's key in --known-hosts, the
# owner token saved under ID@HOST:PORT); the events of the slice followed
# over Server-Sent Events while a second buyer without the token tops it
# up; status with the token (all of it, amounts as micro-units again) and
# without (the public part); a wrong token refused; release with change,
# and the change (a file of vouchers, a line each) buys again; what the API
# does not offer refused before anything moves. A donor funds a slice with
# its funder key, sees its position and follows the slice by a proof
# (--funder-key, no token), and claims its share after a pro-rata release,
# once. The books balance.
#
# What the slice runs: a unit of RemoteUnits= with the systemd backend,
# else the tiny VM image (prepay-mkimage --tiny). Skipped, with the reason,
# until build/prepay-gatewayd exists and prepayd knows GatewayUser=.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 900

[ -x "$BIN/prepay-gatewayd" ] || skip "build/prepay-gatewayd does not exist (the gateway of issue 14 is not built)"
for tool in openssl curl; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (packaging/build-deps)"
done
SRC=$(cd "$(dirname "$0")/../.." && pwd)

GW_USER=pgw-${ID#prepay-test-}
GW_USER=${GW_USER:0:31}
PORT=$((40000 + ($$ % 2000) * 10))
HOST=https://127.0.0.1:$PORT
GW_CONF=$T/gatewayd.conf

# What the slices run.
if [ "$BACKEND" = systemd ]; then
        KIND=unit
        UNIT=$ID-job.service
        WHAT=(--unit "$UNIT")
        KNOWN=()
        EXTRA="[Control]
RemoteUnits=$UNIT"
else
        KIND=vm
        for tool in qemu-system-x86_64 qemu-img genisoimage ssh-keygen; do
                command -v "$tool" >/dev/null || skip "$tool is not installed (packaging/build-deps --vmslice)"
        done
        tiny_image
        ssh-keygen -q -t ed25519 -N '' -C buyer -f "$T/id" || fail "ssh-keygen failed"
        WHAT=(--vm "$IMAGE" --ssh-key "$T/id.pub")
        KNOWN=(--known-hosts "$T/known_hosts")
        VMUSER=pvm-${ID#prepay-test-}
        VMUSER=${VMUSER:0:31}
        add_user "$VMUSER"
        EXTRA="[VM]
Directory=$T/vm
ImagesDirectory=$IMAGES
User=$VMUSER
ListenAddress=127.0.0.1
PortRange=$((PORT + 1))-$((PORT + 9))"
fi

# A CPU-hour costs 3.60 EUR, nothing else costs anything; a slice is
# bought for at least an hour.
# The gateway reaches the control socket as a member of ClientGroup=,
# as the package's user prepay-gateway is of group prepay.
CLIENTS=pcl-${ID#prepay-test-}
CLIENTS=${CLIENTS:0:31}
add_group "$CLIENTS"
add_user "$GW_USER" "$CLIENTS"
chmod 0711 "$T"
write_config "[Daemon]
ClientGroup=$CLIENTS
[Control]
GatewayUser=$GW_USER
[Money]
MinRuntimeSec=1h
DonationModels=owner pro-rata
$(cpu_prices 0.001)
DiskGiBHour=0
$EXTRA"
grep -q '^GatewayUser=' <<<"$("$BIN/prepayd" -c "$CONF" --dump-config 2>/dev/null)" ||
        skip "prepayd does not know GatewayUser= (the remote-peer part of issue 14 is not merged)"

if [ "$KIND" = unit ]; then
        # A loaded unit prepayd starts a copy of in the slice.
        printf '%s\n' "[Service]" "ExecStart=/bin/sleep infinity" >"/run/systemd/system/$UNIT"
        systemctl daemon-reload
        trap 'rc=$?; rm -f "/run/systemd/system/$UNIT"; systemctl daemon-reload; (exit $rc); cleanup' EXIT
fi
start_daemon

# The gateway's configuration: gatewayd.conf(5), [Gateway].
install -d -o "$GW_USER" -m 0700 "$T/gateway"
cat >"$GW_CONF" <<CONF
[Gateway]
Listen=127.0.0.1:$PORT
ControlSocket=$PREPAY_SOCKET
StateDirectory=$T/gateway
CONF
chmod 0644 "$GW_CONF"
bg_as "$GW_USER" "$BIN/prepay-gatewayd" -c "$GW_CONF" >"$T/gateway.log" 2>&1
GW_PID=${BG_PIDS[-1]}
gateway_answers() { curl -sk --max-time 2 "$HOST/v1/prices" | jq -e .currency >/dev/null; }
wait_for 20 gateway_answers || fail "the gateway did not answer on $HOST: $(tail -20 "$T/gateway.log")"

# The pin: the SHA-256 of the server's SubjectPublicKeyInfo, base64.
pin=$(openssl s_client -connect "127.0.0.1:$PORT" </dev/null 2>/dev/null | openssl x509 -pubkey -noout |
        openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
[ -n "$pin" ] || fail "no certificate from the gateway"
if grep -qF "$pin" "$T/gateway.log"; then
        say "the gateway logged its pin sha256:$pin"
else
        say "note: the gateway's log does not show sha256:$pin as such"
fi

# remote ARGS...: prepay --host with the pin; the buyer's tokens in $T/tokens.
remote() { "$BIN/prepay" --host "$HOST" --pin "sha256:$pin" "$@"; }
# donor ARGS...: another buyer, without the first one's tokens.
donor() { PREPAY_TOKEN_DIR=$T/donor-tokens "$BIN/prepay" --host "$HOST" --pin "sha256:$pin" "$@"; }

# TLS: nothing is sent to a server that is not trusted, and it says which.
"$BIN/prepay" --host "$HOST" images >"$T/tls.out" 2>&1 && fail "a self-signed gateway was trusted without --pin"
grep -q "TLS: the certificate of 127.0.0.1:$PORT is not trusted" "$T/tls.out" || fail "no pin: $(cat "$T/tls.out")"
"$BIN/prepay" --host "$HOST" --pin sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= images >"$T/tls.out" 2>&1 &&
        fail "a wrong pin was accepted"
grep -q "does not match --pin" "$T/tls.out" || fail "wrong pin: $(cat "$T/tls.out")"
PREPAY_HOST=$HOST PREPAY_PIN=sha256:$pin "$BIN/prepay" quote --cpus 1 --hours 1 >/dev/null ||
        fail "\$PREPAY_HOST and \$PREPAY_PIN were not used"
say "TLS: refused without a pin and with a wrong one; \$PREPAY_HOST and \$PREPAY_PIN work"

if [ "$KIND" = vm ]; then
        remote images >"$T/images.out" || fail "images: $(cat "$T/images.out")"
        grep -q "^$IMAGE " "$T/images.out" || fail "images does not list $IMAGE: $(cat "$T/images.out")"
fi
remote quote --cpus 1 --memory 512M --hours 1 >"$T/quote.out" || fail "quote failed: $(cat "$T/quote.out")"
grep -q "total *3.60 EUR" "$T/quote.out" || fail "quote: $(cat "$T/quote.out")"
say "quote: 1 CPU for an hour costs 3.60 EUR"

# 402: the sentence, the total and what is missing; the voucher stays unspent.
a=$(mint 2)
b=$(mint 2)
remote run --voucher "$a" "${WHAT[@]}" --cpus 1 --memory 512M --hours 1 >"$T/402.out" 2>&1 &&
        fail "2 EUR bought an hour that costs 3.60: $(cat "$T/402.out")"
grep -q "(total 3.60 EUR, missing 1.60 EUR)" "$T/402.out" || fail "402 said: $(cat "$T/402.out")"
say "402: $(head -1 "$T/402.out")"

# 201, paid with the same voucher and a second one.
remote run --voucher "$a" --voucher "$b" "${WHAT[@]}" --cpus 1 --memory 512M --hours 1 \
        "${KNOWN[@]}" >"$T/run.out" 2>"$T/run.err" ||
        fail "the purchase failed: $(cat "$T/run.err" "$T/run.out")"
cat "$T/run.err" "$T/run.out"
s=$(sed -n 's/^prepay: slice \(s-[0-9a-f]*\) bought, balance 4.00 EUR$/\1/p' "$T/run.err")
[ -n "$s" ] || fail "no slice bought for 4.00 EUR in: $(cat "$T/run.err")"
grep -q "^prepay: receipt pr1-" "$T/run.err" || fail "no receipt printed"
[ -s "$T/tokens/$s@127.0.0.1:$PORT" ] || fail "the owner token was not saved as $s@127.0.0.1:$PORT"
[ ! -e "$T/tokens/$s" ] || fail "a gateway's token was saved as a local slice's"
if [ "$KIND" = vm ]; then
        login=$(sed -n 's/^Log in with:  \(ssh -p [0-9]* [a-z0-9._-]*@[^ ]*\)$/\1/p' "$T/run.out")
        [ -n "$login" ] || fail "no ssh line in: $(cat "$T/run.out")"
        port=${login#ssh -p }
        port=${port%% *}
        grep -q "^\[[^]]*\]:$port ssh-ed25519 " "$T/known_hosts" || fail "no known_hosts line: $(cat "$T/known_hosts")"
        say "bought $s: $login"
else
        [ -s "$T/run.out" ] || fail "run --unit printed no unit name"
        say "bought $s running $(cat "$T/run.out")"
fi

# The events, read as Server-Sent Events, while a donor tops up: once
# prepayd has taken the stream's request (an event before it is not
# replayed).
n=$(events_taken)
bg "$BIN/prepay" --host "$HOST" --pin "sha256:$pin" events "$s" >"$T/events.out" 2>"$T/events.err"
events_pid=${BG_PIDS[-1]}
wait_for 20 events_above "$n" || fail "prepayd never took the stream's request: $(cat "$T/events.err")"
c=$(mint 1)
donor topup "$s" --voucher "$c" >"$T/topup.out" 2>&1 || fail "the donor's top-up failed: $(cat "$T/topup.out")"
grep -q "^Slice $s topped up with 1.00 EUR; balance now " "$T/topup.out" || fail "topup said: $(cat "$T/topup.out")"
grep -q "^prepay: receipt pr1-" "$T/topup.out" || fail "the top-up printed no receipt"
# Revenue, paid by a user of the slice through the storefront (no
# investors: all of it to the slice).
donor pay "$s" --voucher "$(mint 0.50)" >"$T/pay.out" 2>&1 || fail "the user's payment failed: $(cat "$T/pay.out")"
grep -q "^Slice $s paid 0.50 EUR: 0.00 to its investors, 0.50 to the slice." "$T/pay.out" ||
        fail "pay said: $(cat "$T/pay.out")"
has_topup() { grep -q " $s topped up " "$T/events.out"; }
wait_for 10 has_topup || fail "the event stream did not show the top-up: $(cat "$T/events.out" "$T/events.err")"
kill "$events_pid" 2>/dev/null
say "events over SSE: $(grep " topped up " "$T/events.out" | head -1)"

# Status: all of it with the token (amounts as micro-units, as prepayd's
# own), the public part without.
remote status "$s" --json >"$T/status.json" || fail "status failed"
[ "$(jq -r .account.credited "$T/status.json")" = 5000000 ] ||
        fail "credited over HTTPS: $(jq -c .account "$T/status.json")"
[ "$(prepay status "$s" --json | jq -r .account.credited)" = 5000000 ] || fail "prepayd's own figure differs"
donor status "$s" >"$T/public.out" 2>&1 || fail "a public status failed: $(cat "$T/public.out")"
grep -q "^  balance:  " "$T/public.out" || fail "the public status shows no balance: $(cat "$T/public.out")"
grep -q "cgroup:" "$T/public.out" && fail "the public status shows more than the public part"
say "status: all with the token, the public part without"

# A wrong token moves nothing.
remote release "$s" --token pt-wrongwrongwrongwrongwrongwrongwrongwrongwrong >"$T/wrong.out" 2>&1 &&
        fail "release with a wrong token worked"
say "a wrong token: $(head -1 "$T/wrong.out")"

# What the API does not offer: refused here, before anything moves.
remote run --voucher "$c" -- true >"$T/cmd.out" 2>&1
[ $? = 2 ] || fail "a command with --host was not refused as a usage error: $(cat "$T/cmd.out")"
remote list >"$T/list.out" 2>&1 && fail "list went over HTTPS"
grep -q "Not offered over HTTPS" "$T/list.out" || fail "list said: $(cat "$T/list.out")"

# Release: the change, printed and in --out; then it buys again.
remote release "$s" --out "$T/change" >"$T/release.out" 2>"$T/release.err" ||
        fail "release failed: $(cat "$T/release.err")"
grep -q "^pv1-" "$T/change" || fail "no change voucher in --out: $(cat "$T/change")"
grep -q "^prepay: receipt pr1-" "$T/release.err" || fail "the release printed no receipt"
[ ! -e "$T/tokens/$s@127.0.0.1:$PORT" ] || fail "the released slice's token was kept"
say "released: $(tail -1 "$T/release.err")"
remote run --voucher "$T/change" "${WHAT[@]}" --cpus 1 --memory 512M --hours 1 >"$T/run2.out" 2>"$T/run2.err" ||
        fail "the change did not buy again: $(cat "$T/run2.err")"
s2=$(sed -n 's/^prepay: slice \(s-[0-9a-f]*\) bought, .*/\1/p' "$T/run2.err")
[ -n "$s2" ] || fail "no second slice: $(cat "$T/run2.err")"
remote release "$s2" >/dev/null 2>"$T/release2.err" || fail "the second release failed: $(cat "$T/release2.err")"
say "the change bought $s2, released"

# Funders over HTTPS: a donor tops up with its funder key; its position
# and the slice's events by a proof it signs (no token); after the
# pro-rata release it claims its share, once.
prepay keygen --out "$T/funders" --name f1 >/dev/null || fail "prepay keygen failed"
remote run --voucher "$(mint 4)" --donation-model pro-rata "${WHAT[@]}" --cpus 1 --memory 512M --hours 1 \
        >"$T/run3.out" 2>"$T/run3.err" || fail "a pro-rata purchase failed: $(cat "$T/run3.err")"
s3=$(sed -n 's/^prepay: slice \(s-[0-9a-f]*\) bought, .*/\1/p' "$T/run3.err")
[ -n "$s3" ] || fail "no pro-rata slice: $(cat "$T/run3.err")"
donor topup "$s3" --voucher "$(mint 1)" --funder-key "$T/funders/f1.pub" >"$T/ftopup.out" 2>&1 ||
        fail "the donor's top-up with its key failed: $(cat "$T/ftopup.out")"
donor funders "$s3" --funder-key "$T/funders/f1.key" --json >"$T/fown.json" 2>"$T/fown.err" ||
        fail "the donor's position by its proof: $(cat "$T/fown.err")"
jq -e --arg k "$(raw_hex "$T/funders/f1.pub")" '.funders | length == 1 and .[0].funder == $k and .[0].put == 1000000' \
        "$T/fown.json" >/dev/null || fail "the donor's own position: $(cat "$T/fown.json")"
remote funders "$s3" --json >"$T/fall.json" 2>"$T/fall.err" || fail "the owner's funders: $(cat "$T/fall.err")"
[ "$(jq '.funders | length' "$T/fall.json")" = 2 ] || fail "the owner's funders: $(cat "$T/fall.json")"
donor funders "$s3" >"$T/fnone.out" 2>&1 && fail "the funders were shown over HTTPS without a token or a proof"
grep -q "owner token" "$T/fnone.out" || fail "funders without a token: $(cat "$T/fnone.out")"
say "a donor topped up $s3 with its funder key; its own position by its proof, the owner's all, none without"

n=$(grep -c "subscribed to events of $s3 as a funder" "$T/prepayd.log")
bg "$BIN/prepay" --host "$HOST" --pin "sha256:$pin" events "$s3" --funder-key "$T/funders/f1.key" \
        >"$T/fevents.out" 2>"$T/fevents.err"
funder_subscribed() { [ "$(grep -c "subscribed to events of $s3 as a funder" "$T/prepayd.log")" -gt "$n" ]; }
wait_for 20 funder_subscribed || fail "the donor's stream was not taken: $(cat "$T/fevents.err")"
remote release "$s3" >/dev/null 2>"$T/release3.err" || fail "release of $s3 failed: $(cat "$T/release3.err")"
has_release() { grep -q " $s3 released" "$T/fevents.out"; }
wait_for 30 has_release || fail "the donor was not told of the release: $(cat "$T/fevents.out" "$T/fevents.err")"
say "the donor followed $s3 by its proof: $(grep " released" "$T/fevents.out" | head -1)"

donor claim "$s3" --funder-key "$T/funders/f1.key" --out "$T/fchange" --json >"$T/fclaim.json" 2>"$T/fclaim.err" ||
        fail "the donor's claim failed: $(cat "$T/fclaim.err")"
claimed=$(jq -r .claimed "$T/fclaim.json")
[ "$claimed" -gt 0 ] && [ "$(prepay voucher show "$T/fchange" --json | jq -r .amount)" = "$claimed" ] ||
        fail "the donor's change is not its claim ($claimed): $(cat "$T/fclaim.json")"
donor claim "$s3" --funder-key "$T/funders/f1.key" >/dev/null 2>"$T/fclaim2.err" && fail "the donor was paid twice"
grep -q "claimed already, by ledger entry" "$T/fclaim2.err" || fail "the second claim: $(cat "$T/fclaim2.err")"
say "the donor claimed its share of $s3 ($claimed micro-units as change), once"

kill -0 "$GW_PID" || fail "the gateway died: $(tail -20 "$T/gateway.log")"
