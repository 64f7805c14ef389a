#!/bin/bash
# prepay-gatewayd's side of the control socket, against a real prepayd
# that takes it as a remote peer (GatewayUser=): 200 parallel quotes over
# ControlConnections=2 all answered (the rest wait in the queue); a slice
# root bought, seen through the gateway (public part without the token,
# all with it), its event stream (token) showing a top-up made through the
# gateway and ending with the release; a retried top-up (same
# Idempotency-Key) acting once, the voucher spent again 409; a wrong token
# 403; prepayd stopped: 503, started again: 200 with no restart of the
# gateway; SIGTERM with a stream open ends the stream and the gateway.
# The purchase flow itself (create through the gateway) is
# test-gateway-flow's.
. "$(dirname "$0")/lib.sh"

GW=$BIN/prepay-gatewayd
[ -x "$GW" ] || skip "no $GW (built from daemon/gateway-main.c)"
command -v curl >/dev/null || skip "no curl"
grep -q "^#GatewayUser=" <<<"$("$BIN/prepayd" --dump-config)" || skip "this prepayd has no GatewayUser= (remote peers)"

P=pgc$$
start_gateway_daemon "$P"

G=$T/gateway
install -d -o "${P}gw" -m 0700 "$G"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$T/gatewayd.conf" <<CONF
[Gateway]
Listen=127.0.0.1:$PORT
StateDirectory=$G
ControlSocket=$PREPAY_SOCKET
ControlConnections=2
ControlQueue=300
MaxConnectionsPerAddress=300
RatePerAddress=0
RatePerSlice=0
# 200 handshakes at once on one thread take long in an emulated guest:
# the deadline (test-gateway-tls checks it) is not what this test is about.
RequestTimeoutSec=300s
CONF
chmod 0644 "$T/gatewayd.conf"
setpriv --reuid "${P}gw" --regid "${P}c" --init-groups "$GW" -c "$T/gatewayd.conf" >"$T/gateway.log" 2>&1 &
GW_PID=$!
BG_PIDS+=("$GW_PID")
U=https://127.0.0.1:$PORT
status_of() { curl -sk -o /dev/null -w '%{http_code}' "$@"; }
answers() { [ "$(status_of "$U/v1/prices")" = 200 ]; }
wait_for 10 answers || fail "the gateway does not answer 200 on /v1/prices: $(tail -n 5 "$T/gateway.log")"

# 200 at once over 2 control connections.
pids=()
for _ in $(seq 200); do
        curl -sSk -o /dev/null -w '%{http_code}\n' -X POST -H 'Content-Type: application/json' \
                -d '{"cpus": "1", "hours": "1"}' "$U/v1/quote" >>"$T/codes" 2>>"$T/curl.err" &
        pids+=($!)
done
wait "${pids[@]}"
[ "$(grep -c '^200$' "$T/codes")" = 200 ] ||
        fail "200 parallel quotes: $(sort "$T/codes" | uniq -c | tr '\n' ' ') $(sort "$T/curl.err" | uniq -c | head -3)"
say "200 parallel quotes over 2 control connections: all 200"

# A slice root buys; the gateway shows it, streams it, tops it up.
bg prepay run --voucher "$(mint 1.00)" --cpus 0.1 -- sleep 120 >/dev/null 2>"$T/run.err"
wait_for 10 has_slice_line "$T/run.err" || fail "no slice bought: $(cat "$T/run.err")"
s=$(slice_from_log "$T/run.err")
tok=$(owner_token_in "$T/run.err")
curl -sk "$U/v1/slices/$s" | jq -e '.slice.public == true and (.slice.account.balance | type) == "string"' \
        >/dev/null || fail "public status: $(curl -sk "$U/v1/slices/$s")"
curl -sk -H "Authorization: Bearer $tok" "$U/v1/slices/$s" | jq -e '.slice.public != true and .slice.usage != null' \
        >/dev/null || fail "status with the token: $(curl -sk -H "Authorization: Bearer $tok" "$U/v1/slices/$s")"
n=$(events_taken)
curl -skN -H "Authorization: Bearer $tok" "$U/v1/slices/$s/events" >"$T/sse" 2>&1 &
SSE_PID=$!
BG_PIDS+=("$SSE_PID")
wait_for 20 events_above "$n" || fail "prepayd never took the stream's request: $(cat "$T/sse")"
v=$(cat "$(mint 0.50)")
topup() { curl -sk -o "$T/topup.$1" -w '%{http_code}' -H 'Content-Type: application/json' ${2:+-H "Idempotency-Key: $2"} \
        -d "{\"voucher\": \"$v\"}" "$U/v1/slices/$s/topup"; }
[ "$(topup 1 k1)" = 200 ] || fail "top-up: $(cat "$T/topup.1")"
[ "$(topup 2 k1)" = 200 ] || fail "retried top-up: $(cat "$T/topup.2")"
jq -e '.credited == "0.50"' "$T/topup.2" >/dev/null || fail "retried top-up's reply: $(cat "$T/topup.2")"
[ "$(topup 3)" = 409 ] || fail "the voucher spent again: $(cat "$T/topup.3")"
jq -e '.code == "spent"' "$T/topup.3" >/dev/null || fail "409 body: $(cat "$T/topup.3")"
wait_for 5 grep -q "^event: topped-up" "$T/sse" || fail "no topped-up event in the stream: $(cat "$T/sse")"
say "status public and with the token; a top-up once for two tries, then 409; the stream shows it"

[ "$(status_of -X POST -H 'Authorization: Bearer pt-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' \
        -H 'Content-Type: application/json' -d '{}' "$U/v1/slices/$s/release")" = 403 ] || fail "a wrong token was not 403"
curl -sk -o "$T/release" -X POST -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' -d '{}' \
        "$U/v1/slices/$s/release"
jq -e '(.change | length) == 1 and (.refund | type) == "string"' "$T/release" >/dev/null ||
        fail "release: $(cat "$T/release")"
wait_for 5 grep -q "^event: released" "$T/sse" || fail "no released event in the stream"
say "a wrong token 403; release with change; the stream shows it"

# prepayd goes and comes back.
stop_daemon
[ "$(status_of "$U/v1/prices")" = 503 ] || fail "no 503 while prepayd is stopped"
start_daemon
wait_for 10 answers || fail "no 200 once prepayd is back"
say "prepayd stopped: 503; back: 200, the gateway not restarted"

# SIGTERM with a stream open.
bg prepay run --voucher "$(mint 1.00)" --cpus 0.1 -- sleep 120 >/dev/null 2>"$T/run2.err"
wait_for 10 has_slice_line "$T/run2.err" || fail "no second slice bought"
s2=$(slice_from_log "$T/run2.err")
tok2=$(owner_token_in "$T/run2.err")
n=$(events_taken)
curl -skN -H "Authorization: Bearer $tok2" "$U/v1/slices/$s2/events" >/dev/null 2>&1 &
SSE2=$!
BG_PIDS+=("$SSE2")
wait_for 20 events_above "$n" || fail "prepayd never took the second stream's request"
kill -TERM "$GW_PID"
wait_for 5 pid_gone "$GW_PID" || fail "the gateway did not stop on SIGTERM with a stream open"
wait_for 5 pid_gone "$SSE2" || fail "the stream did not end when the gateway stopped"
grep -E "pv1-|pt-" "$T/gateway.log" && fail "a secret reached the gateway's log"
prepay release "$s2" >/dev/null 2>&1
say "SIGTERM with a stream open: the stream ended, the gateway stopped; no secret in its log"
exit 0
