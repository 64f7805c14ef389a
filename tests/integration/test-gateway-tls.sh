#!/bin/bash
# prepay-gatewayd on its own (prepayd absent), as an unprivileged user of
# the test's: refuses root; makes a self-signed pair (key mode 0600) and
# logs the pin of its public key, which matches the certificate; speaks
# TLS 1.3 and 1.2 and refuses 1.1 and 1.0 (the client at SECLEVEL=0, so
# that the refusal is the server's); refuses a 2 MiB body with 413 before
# reading it; 429 past a slice's burst; closes a connection after
# KeepAliveRequests=; cuts off a client that trickles its headers past
# RequestTimeoutSec=; refuses connections past MaxConnectionsPerAddress=;
# answers 503 with Retry-After and a JSON sentence while prepayd is not
# there; never logs a token or a voucher; stops on SIGTERM; started again
# by socket activation, serves on the socket it is passed, with the same
# pair. The shipped gatewayd.conf is what --dump-config prints.
. "$(dirname "$0")/lib.sh"

GW=$BIN/prepay-gatewayd
[ -x "$GW" ] || skip "no $GW (built from daemon/gateway-main.c)"
command -v openssl >/dev/null || skip "no openssl"
command -v curl >/dev/null || skip "no curl"

GWUSER=pgw-$$
add_user "$GWUSER"
chmod 0711 "$T"
G=$T/gateway
install -d -o "$GWUSER" -m 0700 "$G"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TIMEOUT=3
PER_ADDRESS=4
cat >"$T/gatewayd.conf" <<CONF
[Gateway]
Listen=127.0.0.1:$PORT
StateDirectory=$G
ControlSocket=$T/absent.sock
RequestTimeoutSec=$TIMEOUT
MaxConnectionsPerAddress=$PER_ADDRESS
RatePerAddress=0
RatePerSlice=0.001
BurstPerSlice=2
KeepAliveRequests=2
CONF
chmod 0644 "$T/gatewayd.conf"
URL=https://127.0.0.1:$PORT

"$GW" --dump-config | cmp -s - "$(dirname "$0")/../../packaging/gatewayd.conf" ||
        fail "packaging/gatewayd.conf differs from prepay-gatewayd --dump-config"

"$GW" -c "$T/gatewayd.conf" >"$T/root.log" 2>&1 && fail "prepay-gatewayd ran as root"
grep -q "must not run as root" "$T/root.log" || fail "no reason given to root: $(cat "$T/root.log")"

setpriv --reuid "$GWUSER" --regid "$(id -g "$GWUSER")" --clear-groups "$GW" -c "$T/gatewayd.conf" >"$T/gateway.log" 2>&1 &
GW_PID=$!
BG_PIDS+=("$GW_PID")
listening() { curl -sk -o /dev/null "$URL/v1/prices"; }
wait_for 10 listening || { cat "$T/gateway.log"; fail "prepay-gatewayd does not answer on port $PORT"; }

# The pair and its pin.
[ "$(stat -c %a:%U "$G/tls.key")" = "600:$GWUSER" ] || fail "key file is $(stat -c %a:%U "$G/tls.key")"
logged=$(sed -n 's/.*fingerprint sha256:\([A-Za-z0-9+/=]*\).*/\1/p' "$T/gateway.log" | head -n 1)
actual=$(openssl x509 -in "$G/tls.crt" -pubkey -noout | openssl pkey -pubin -outform der |
        openssl dgst -sha256 -binary | base64)
[ -n "$logged" ] || fail "no fingerprint logged: $(cat "$T/gateway.log")"
[ "$logged" = "$actual" ] || fail "logged fingerprint $logged, the certificate's is $actual"
[ "$(cat "$G/fingerprint")" = "sha256:$actual" ] || fail "fingerprint file holds $(cat "$G/fingerprint")"
served=$(echo | openssl s_client -connect "127.0.0.1:$PORT" 2>/dev/null | openssl x509 -pubkey -noout |
        openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)
[ "$served" = "$actual" ] || fail "the server presents another key ($served)"
say "self-signed pair made, pin sha256:$actual logged and matching"

# Protocol versions.
tls() { echo | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -cipher 'DEFAULT@SECLEVEL=0' "$@" 2>&1; }
# The output is read whole before grep -q looks at it: grep leaving at
# the first match would SIGPIPE the writer, and pipefail call that a failure.
out=$(tls -tls1_3)
grep -q "New, TLSv1.3" <<<"$out" || fail "TLS 1.3 not accepted: $(tail -n 5 <<<"$out")"
out=$(tls -tls1_2)
grep -q "New, TLSv1.2" <<<"$out" || fail "TLS 1.2 not accepted: $(tail -n 5 <<<"$out")"
for v in tls1_1 tls1; do
        out=$(tls -$v)
        grep -q "Cipher is (NONE)" <<<"$out" || fail "-$v was accepted: $(grep -m1 New <<<"$out")"
done
say "TLS 1.3 and 1.2 accepted, 1.1 and 1.0 refused"

# 503 while prepayd is absent: a JSON sentence, Retry-After.
curl -sk -D "$T/h503" -o "$T/b503" "$URL/v1/prices"
grep -q "^HTTP/1.1 503" "$T/h503" || fail "no 503 without prepayd: $(head -n 1 "$T/h503")"
grep -qi "^Retry-After: [0-9]" "$T/h503" || fail "503 without Retry-After"
grep -qi "^Cache-Control: no-store" "$T/h503" || fail "no Cache-Control: no-store"
grep -qi "^X-Content-Type-Options: nosniff" "$T/h503" || fail "no X-Content-Type-Options: nosniff"
jq -e '(.error | length > 10) and .code == "unavailable"' "$T/b503" >/dev/null || fail "503 body: $(cat "$T/b503")"
say "503 with Retry-After and \"$(jq -r .error "$T/b503")\""

# A 2 MiB body: 413 before it is read.
head -c $((2 << 20)) /dev/zero | tr '\0' 'a' >"$T/2m"
code=$(curl -sk -o "$T/b413" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary @"$T/2m" "$URL/v1/slices")
[ "$code" = 413 ] || fail "2 MiB body got $code"
jq -e '.error | length > 0' "$T/b413" >/dev/null || fail "413 body: $(cat "$T/b413")"
say "2 MiB body refused with 413"

# Neither a token nor a voucher reaches the log.
curl -sk -o /dev/null -H 'Authorization: Bearer pt-SECRETTOKEN' -H 'Content-Type: application/json' \
        -d '{"voucher": "pv1-SECRETVOUCHER"}' "$URL/v1/slices/s-0123456789abcdef/topup"
curl -sk -o /dev/null -H 'Authorization: Bearer pt-SECRETTOKEN' "$URL/v1/slices/s-0123456789abcdef"

# Per slice: a burst of 2, then 429 with Retry-After (a token per 1000 s).
for i in 1 2; do
        curl -sk -o /dev/null "$URL/v1/slices/s-00000000000000aa"
done
curl -sk -D "$T/h429" -o "$T/b429" "$URL/v1/slices/s-00000000000000aa"
grep -q "^HTTP/1.1 429" "$T/h429" || fail "third request of a slice got $(head -n 1 "$T/h429")"
grep -qi "^Retry-After: [0-9]" "$T/h429" || fail "429 without Retry-After"
jq -e '.code == "too_many"' "$T/b429" >/dev/null || fail "429 body: $(cat "$T/b429")"
# KeepAliveRequests=2: the second reply on a connection closes it.
curl -sk -v "$URL/v1/prices" "$URL/v1/prices" "$URL/v1/prices" -o /dev/null -o /dev/null -o /dev/null \
        2>"$T/keepalive" >/dev/null
[ "$(grep -ci "^< Connection: close" "$T/keepalive")" -ge 1 ] || fail "no Connection: close after 2 requests"
[ "$(grep -c "Connected to" "$T/keepalive")" = 2 ] ||
        fail "3 requests took $(grep -c "Connected to" "$T/keepalive") connections, not 2"
say "429 with Retry-After past a slice's burst; Connection: close after KeepAliveRequests="

# Slow clients and the connection cap, over TLS from Python.
cat >"$T/clients.py" <<'PY'
import socket, ssl, sys, time
port, timeout, per_address = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE

def connect():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
    return s

# A header line a byte a second: never idle, yet cut at the deadline.
s = connect()
start = time.monotonic()
s.sendall(b"GET /v1/prices HTTP/1.1\r\nHost: x\r\nX-Slow: ")
cut = None
try:
    while time.monotonic() - start < 4 * timeout + 5:
        s.sendall(b"a")
        s.settimeout(1.0)
        try:
            if s.recv(1) == b"":
                cut = time.monotonic() - start
                break
        except socket.timeout:
            pass
except (OSError, ssl.SSLError):
    cut = time.monotonic() - start
if cut is None:
    print("slow client never cut off"); sys.exit(1)
if not (timeout - 0.5 <= cut <= timeout + 3):
    print("slow client cut after %.1f s, RequestTimeoutSec=%g" % (cut, timeout)); sys.exit(1)
print("slow: cut after %.1f s" % cut)
s.close()
time.sleep(0.5)

held = [connect() for _ in range(per_address)]
try:
    extra = connect()
    extra.settimeout(5)
    extra.sendall(b"GET /v1/prices HTTP/1.1\r\nHost: x\r\n\r\n")
    if extra.recv(100):
        print("connection %d past MaxConnectionsPerAddress= was served" % (per_address + 1)); sys.exit(1)
except (OSError, ssl.SSLError):
    pass
print("cap: connection %d refused" % (per_address + 1))
for c in held:
    c.close()
PY
python3 "$T/clients.py" "$PORT" "$TIMEOUT" "$PER_ADDRESS" >"$T/clients.out" 2>&1 ||
        fail "$(cat "$T/clients.out")"
say "$(paste -sd ';' "$T/clients.out")"
sleep 0.5
wait_for 10 listening || fail "no answer after the connections were released"

grep -E "pt-SECRET|pv1-SECRET|Bearer" "$T/gateway.log" && fail "a secret reached the log"
grep -q "GET status s-0123456789abcdef 503 [0-9]*ms 127.0.0.1" "$T/gateway.log" ||
        fail "no request line in the log: $(tail -n 5 "$T/gateway.log")"

kill -TERM "$GW_PID"
wait_for 5 pid_gone "$GW_PID" || fail "prepay-gatewayd did not stop on SIGTERM"
wait "$GW_PID"
rc=$?
[ "$rc" -eq 0 ] || fail "prepay-gatewayd exited $rc on SIGTERM: $(tail -n 5 "$T/gateway.log")"
say "one line per request, no secret in the log; stopped on SIGTERM"

# Socket activation (as prepay-gatewayd.socket would): Listen= is not
# used, the passed socket is, and the pair made before is kept.
if command -v systemd-socket-activate >/dev/null; then
        PORT2=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        systemd-socket-activate -l "127.0.0.1:$PORT2" setpriv --reuid "$GWUSER" --regid "$(id -g "$GWUSER")" \
                --clear-groups "$GW" -c "$T/gatewayd.conf" >"$T/activated.log" 2>&1 &
        BG_PIDS+=($!)
        activated() { [ "$(curl -sk -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT2/v1/prices")" = 503 ]; }
        wait_for 10 activated || fail "no answer on the passed socket: $(cat "$T/activated.log")"
        grep -q "socket systemd passed" "$T/activated.log" || fail "the passed socket was not used"
        grep -q "fingerprint sha256:$actual" "$T/activated.log" || fail "another pair after a restart"
        listening && fail "Listen= was bound although a socket was passed"
        say "socket-activated: served on the passed socket with the same pair"
else
        say "no systemd-socket-activate: socket activation not checked"
fi
exit 0
