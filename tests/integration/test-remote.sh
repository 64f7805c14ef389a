#!/bin/bash
# Remote peers: a throwaway user is GatewayUser=, and what it sends on the
# control socket (python3, one request a connection, as prepay-gatewayd
# will) is a remote buyer's: list, attach, run-unit, destroy and reload
# are refused; a create without "vm_image" or "unit", with "attach", or
# with a unit RemoteUnits= does not list is refused before its voucher is
# read (the voucher buys afterwards); MaxRemoteSlices= is checked before
# the voucher too. A slice root bought is topped up by the remote peer,
# which sees its public part without the token and all of it with it,
# follows its events only with the token, kills and releases it with the
# token and gets the change. Refusals carry their "code" (spent,
# payment_required with missing/total/currency, unauthorized, forbidden,
# too_many, invalid, not_found), the log names "remote client ADDRESS",
# and no voucher text or owner token ever reaches the log. A remote VM is
# left to the gateway's own test (images, and slow under TCG).
# run-all-timeout: 300
. "$(dirname "$0")/lib.sh"

command -v useradd >/dev/null && command -v groupadd >/dev/null || skip "no useradd/groupadd (package passwd)"
command -v setpriv >/dev/null || skip "no setpriv (package util-linux)"
# The system's: a python3 of root's own (pyenv) is out of the gateway
# user's reach.
PYTHON=/usr/bin/python3
[ -x "$PYTHON" ] || skip "no $PYTHON"

P=prr$$
CLIENTS=${P}c
GW=${P}gw
add_group "$CLIENTS"
# The gateway reaches the socket as a member of ClientGroup=, as
# packaging makes it; its rights are a remote peer's all the same.
add_user "$GW" "$CLIENTS"
chmod 0755 "$T"

CLIENT=203.0.113.7
write_config "[Daemon]
ClientGroup=$CLIENTS
[Money]
MinRuntimeSec=1s
AllowUnfunded=no
[Prices]
CPUSecond=0.01
MemoryGiBHour=0
SliceHour=0.36
[Control]
GatewayUser=$GW
MaxRemoteSlices=0
RemoteUnits=offered.service"
start_daemon

# One request a line on stdin, each on a connection of its own; one
# reply a line on stdout. With --events: the first line's reply, then
# the first event that comes within 10 s (or "none").
cat >"$T/rq.py" <<'EOF'
import json, socket, sys
path, events = sys.argv[1], "--events" in sys.argv
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.send(line.encode())
    print(s.recv(65536).decode(), flush=True)
    if events:
        s.settimeout(10)
        try:
            print(s.recv(65536).decode(), flush=True)
        except socket.timeout:
            print("none", flush=True)
        break
    s.close()
EOF
chmod 0644 "$T/rq.py"

# remote JSON: the gateway's request, its reply. local JSON: root's.
remote() { echo "$1" | as "$GW" "$PYTHON" "$T/rq.py" "$PREPAY_SOCKET"; }
local_rq() { echo "$1" | "$PYTHON" "$T/rq.py" "$PREPAY_SOCKET"; }

# refused_with CODE PATTERN REPLY: a refusal with that code, saying PATTERN.
refused_with() {
        jq -e --arg c "$1" '.ok == false and .code == $c' <<<"$3" >/dev/null ||
                fail "expected a refusal with code $1, got: $3"
        grep -q -- "$2" <<<"$(jq -r .error <<<"$3")" || fail "the refusal does not say '$2': $3"
}
ok() { jq -e '.ok == true' <<<"$1" >/dev/null || fail "${2:-request} failed: $1"; }

books() { prepay ledger export --json --ledger "$LEDGER" | jq -c '[(.vouchers | length), (.slices | length)]'; }

SECRETS=() # every voucher text and owner token, looked for in the log at the end
# voucher NAME AMOUNT: a voucher's text in $NAME (not in a subshell, so
# that SECRETS keeps it).
voucher() {
        local text
        text=$(cat "$(mint "$2")") || fail "mint $2 failed"
        printf -v "$1" '%s' "$text"
        SECRETS+=("$text")
}

# ---- what a remote peer may not ask ----
for op in list reload; do
        refused_with forbidden "is not offered to remote buyers" \
                "$(remote "{\"op\":\"$op\",\"client\":\"$CLIENT\"}")"
done
for op in attach destroy; do
        refused_with forbidden "is not offered to remote buyers" \
                "$(remote "{\"op\":\"$op\",\"slice\":\"s-00000000\",\"client\":\"$CLIENT\"}")"
done
refused_with forbidden "is not offered to remote buyers" \
        "$(remote "{\"op\":\"run-unit\",\"slice\":\"s-00000000\",\"unit\":\"a.service\",\"client\":\"$CLIENT\"}")"
grep -q "Denied \"list\" to remote client $CLIENT: \"list\" is not offered to remote buyers" "$T/prepayd.log" ||
        fail "the refusal of a remote list is not logged with the client's address"
say "list, reload, attach, destroy, run-unit: refused to the remote peer (forbidden), logged with its address"

# What the remote peer may ask of anyone's: quote; images (there are none here, or no VM slices).
ok "$(remote '{"op":"quote","cpus_milli":1000,"duration_usec":3600000000}')" "a remote quote"
refused_with not_found "" "$(remote '{"op":"images"}')"

# ---- create: refused before the voucher is read ----
voucher v1 1.00
refused_with invalid "runs a VM (\"vm_image\") or a unit" \
        "$(remote "{\"op\":\"create\",\"limits\":{},\"voucher\":\"$v1\",\"client\":\"$CLIENT\"}")"
refused_with forbidden "no process to move" \
        "$(remote "{\"op\":\"create\",\"limits\":{},\"voucher\":\"$v1\",\"unit\":\"offered.service\",\"attach\":true}")"
refused_with forbidden "unit other.service is not offered to remote buyers" \
        "$(remote "{\"op\":\"create\",\"limits\":{},\"voucher\":\"$v1\",\"unit\":\"other.service\"}")"
refused_with invalid "A voucher is needed" "$(remote '{"op":"create","limits":{},"unit":"offered.service"}')"
# Listed, but this backend runs no units: refused before money moves too.
if [ "$BACKEND" != systemd ]; then
        refused_with invalid "Backend=systemd" \
                "$(remote "{\"op\":\"create\",\"limits\":{},\"voucher\":\"$v1\",\"unit\":\"offered.service\"}")"
fi
# MaxRemoteSlices=0: no slice is sold remotely, said before the voucher
# is read (the VM's image is not even looked for).
refused_with too_many "Too many slices bought remotely" \
        "$(remote "{\"op\":\"create\",\"limits\":{},\"voucher\":\"$v1\",\"vm_image\":\"none\",\"ssh_key\":\"k\"}")"
[ "$(books)" = "[0,0]" ] || fail "refused remote creates spent or made something: $(books)"
say "remote creates without vm_image/unit, with attach, with an unlisted unit, beyond MaxRemoteSlices=: refused, nothing spent"

# MaxRemoteSlices= raised by a reload: the next refusal is the image's.
sed -i 's/^MaxRemoteSlices=0$/MaxRemoteSlices=4/' "$CONF"
kill -HUP "$DAEMON_PID"
reload_seen() {
        ! remote "{\"op\":\"create\",\"limits\":{},\"voucher\":\"$v1\",\"vm_image\":\"none\",\"ssh_key\":\"k\"}" |
                jq -e '.code == "too_many"' >/dev/null
}
wait_for 10 reload_seen || fail "MaxRemoteSlices=4 after a reload still refuses as too many"
reply=$(remote "{\"op\":\"create\",\"limits\":{},\"voucher\":\"$v1\",\"vm_image\":\"none\",\"ssh_key\":\"k\"}")
jq -e '.ok == false and (.code == "not_found" or .code == "invalid")' <<<"$reply" >/dev/null ||
        fail "a remote VM create of no image: $reply"
say "after a reload to MaxRemoteSlices=4, a remote VM create of no image: $(jq -r '.code + ": " + .error' <<<"$reply")"
[ "$(books)" = "[0,0]" ] || fail "a refused remote VM create spent something: $(books)"

# ---- a slice root buys; the remote peer acts on it ----
reply=$(local_rq "{\"op\":\"create\",\"limits\":{},\"cpus_milli\":100,\"voucher\":\"$v1\"}")
ok "$reply" "root's create with the voucher the remote creates did not spend"
s=$(jq -r .slice.id <<<"$reply")
token=$(jq -r .token <<<"$reply")
SECRETS+=("$token")
say "the voucher refused to the remote peer bought $s"

# status: the public part without the token, all of it with it.
reply=$(remote "{\"op\":\"status\",\"slice\":\"$s\",\"client\":\"$CLIENT\"}")
jq -e '.slice.public == true and .slice.account.balance != null and .slice.usage == null and .slice.cgroup == null' \
        <<<"$reply" >/dev/null || fail "a remote status without the token is not the public part: $reply"
reply=$(remote "{\"op\":\"status\",\"slice\":\"$s\",\"token\":\"$token\"}")
jq -e '.slice.public == null and .slice.usage != null and .slice.account.credited == 1000000' <<<"$reply" >/dev/null ||
        fail "a remote status with the token is not the whole record: $reply"
refused_with not_found "No slice s-00000000" "$(remote '{"op":"status","slice":"s-00000000"}')"
say "remote status: public without the token, whole with it"

# events: the slice and its token only.
refused_with forbidden "for operators" "$(remote '{"op":"events"}')"
refused_with unauthorized "none was given" "$(remote "{\"op\":\"events\",\"slice\":\"$s\"}")"
refused_with forbidden "the one given is wrong" \
        "$(remote "{\"op\":\"events\",\"slice\":\"$s\",\"token\":\"pt-wrong\"}")"
echo "{\"op\":\"events\",\"slice\":\"$s\",\"token\":\"$token\"}" |
        as "$GW" "$PYTHON" "$T/rq.py" "$PREPAY_SOCKET" --events >"$T/events" &
BG_PIDS+=($!)
wait_for 10 grep -q '"ok":true' "$T/events" || fail "the remote event stream was not opened: $(cat "$T/events")"

# topup by the remote peer, which the stream sees.
voucher v2 0.50
reply=$(remote "{\"op\":\"topup\",\"slice\":\"$s\",\"voucher\":\"$v2\",\"client\":\"$CLIENT\",\"request_id\":\"ik-1\"}")
ok "$reply" "a remote topup"
jq -e '.credited == 500000' <<<"$reply" >/dev/null || fail "the remote topup credited: $reply"
wait_for 10 grep -q '"kind":"topped-up"' "$T/events" || fail "the event stream did not show the top-up: $(cat "$T/events")"
grep -q "Slice $s topped up with voucher .* (remote client $CLIENT)\." "$T/prepayd.log" ||
        fail "the remote topup's log line does not name the remote client"
# The same request id again: answered once, nothing spent twice.
reply=$(remote "{\"op\":\"topup\",\"slice\":\"$s\",\"voucher\":\"$v2\",\"request_id\":\"ik-1\"}")
ok "$reply" "the remote topup retried"
# The voucher again under a new id: spent.
refused_with spent "already spent" \
        "$(remote "{\"op\":\"topup\",\"slice\":\"$s\",\"voucher\":\"$v2\",\"client\":\"$CLIENT\"}")"
refused_with invalid "Invalid voucher" "$(remote "{\"op\":\"topup\",\"slice\":\"$s\",\"voucher\":\"pv1-nonsense\"}")"
refused_with invalid "'client'" "$(remote "{\"op\":\"quote\",\"client\":\"1.2.3.4 uid 0\"}")"
say "remote topup: credited, seen by the stream, once per request id; spent again: code spent"

# kill and release: the token only.
refused_with unauthorized "none was given" "$(remote "{\"op\":\"kill\",\"slice\":\"$s\"}")"
refused_with forbidden "the one given is wrong" "$(remote "{\"op\":\"kill\",\"slice\":\"$s\",\"token\":\"pt-x\"}")"
ok "$(remote "{\"op\":\"kill\",\"slice\":\"$s\",\"token\":\"$token\",\"client\":\"$CLIENT\"}")" "a remote kill"
refused_with unauthorized "none was given" "$(remote "{\"op\":\"release\",\"slice\":\"$s\"}")"
reply=$(remote "{\"op\":\"release\",\"slice\":\"$s\",\"token\":\"$token\",\"client\":\"$CLIENT\",\"request_id\":\"ik-2\"}")
ok "$reply" "a remote release"
change=$(jq -r .change <<<"$reply")
case $change in pv1-*) SECRETS+=("$change") ;; *) fail "the remote release gave no change: $reply" ;; esac
grep -q "Slice $s released: .* (remote client $CLIENT)\." "$T/prepayd.log" ||
        fail "the remote release's log line does not name the remote client"
voucher v4 0.10
refused_with conflict "it was released" "$(remote "{\"op\":\"topup\",\"slice\":\"$s\",\"voucher\":\"$v4\"}")"
say "remote kill and release: with the token only (unauthorized/forbidden without); the change came back; a topup then: conflict"

# ---- payment_required: a voucher too small for the duration asked ----
voucher v3 0.10
# 1 CPU for an hour: 36.00 of CPU and 0.36 of base, far beyond 0.10.
reply=$(local_rq "{\"op\":\"create\",\"limits\":{},\"cpus_milli\":1000,\"duration_usec\":3600000000,\"voucher\":\"$v3\"}")
refused_with payment_required "does not cover a run of" "$reply"
jq -e '.currency == "EUR" and .total == 36360000 and .missing == 36260000' <<<"$reply" >/dev/null ||
        fail "the 402 refusal's figures: $reply"
# Only the minimum run (1s) without a duration: the same voucher pays.
reply=$(local_rq "{\"op\":\"create\",\"limits\":{},\"cpus_milli\":1000,\"voucher\":\"$v3\"}")
ok "$reply" "a create without a duration, with the voucher refused for the hour"
token3=$(jq -r .token <<<"$reply")
SECRETS+=("$token3")
ok "$(local_rq "{\"op\":\"release\",\"slice\":\"$(jq -r .slice.id <<<"$reply")\",\"token\":\"$token3\"}")" "release"
say "a voucher too small for duration_usec: payment_required with missing, total, currency"

# ---- several vouchers: summed, all or none ----
voucher va 0.08
voucher vb 0.08
voucher vc 0.05
# 0.01 CPU for 500 s: 0.05 of CPU and 0.05 of base; one voucher is short.
buy='"op":"create","limits":{},"cpus_milli":10,"duration_usec":500000000'
reply=$(local_rq "{$buy,\"vouchers\":[\"$va\"]}")
refused_with payment_required "The voucher's 0.08 EUR does not cover a run of" "$reply"
jq -e '.missing > 0 and .total - .missing == 80000' <<<"$reply" >/dev/null || fail "one voucher short: $reply"
refused_with invalid "given twice" "$(local_rq "{$buy,\"vouchers\":[\"$va\",\"$va\"]}")"
refused_with invalid "do not go together" "$(local_rq "{$buy,\"voucher\":\"$va\",\"vouchers\":[\"$vb\"]}")"
reply=$(local_rq "{$buy,\"vouchers\":[\"$va\",\"$vb\"]}")
ok "$reply" "a create with two vouchers"
jq -e '.slice.account.credited == 160000' <<<"$reply" >/dev/null || fail "two vouchers credited: $reply"
s2=$(jq -r .slice.id <<<"$reply")
token2=$(jq -r .token <<<"$reply")
SECRETS+=("$token2")
# A remote top-up with one good voucher and one spent: neither goes.
refused_with spent "already spent" "$(remote "{\"op\":\"topup\",\"slice\":\"$s2\",\"vouchers\":[\"$vc\",\"$va\"]}")"
reply=$(remote "{\"op\":\"topup\",\"slice\":\"$s2\",\"vouchers\":[\"$vc\"],\"client\":\"$CLIENT\"}")
ok "$reply" "the good voucher of a refused pair, alone"
jq -e '.credited == 50000' <<<"$reply" >/dev/null || fail "the top-up credited: $reply"
ok "$(remote "{\"op\":\"release\",\"slice\":\"$s2\",\"token\":\"$token2\"}")" "release"
say "two vouchers pay together what one does not; a pair with a spent one spends neither"

# ---- no voucher text and no token in the log ----
# Whole, or the first 40 characters of one (a line cut short).
for x in "${SECRETS[@]}"; do
        grep -qF -- "${x:0:40}" "$T/prepayd.log" && fail "a voucher or token is in the daemon's log: ${x:0:12}..."
done
say "no voucher text and no owner token in the daemon's log (${#SECRETS[@]} looked for)"
exit 0
