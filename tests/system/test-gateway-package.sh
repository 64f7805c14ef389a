#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The storefront as the package installs it, on a systemd host: dpkg -i
# leaves prepay-gatewayd.socket and .service disabled; once the operator
# enables the socket, the first HTTPS connection starts the gateway
# (socket activation) as prepay-gateway with no capabilities, with a
# self-signed pair made on first start whose fingerprint it logged; a
# buyer with curl (pinning that fingerprint) gets 402 for too little
# money, then buys a slice running a unit of RemoteUnits=, reads it with
# its owner token, verifies the receipt with the host key of /v1/prices,
# and releases it for change, which `prepay --host` spends again. The
# exposure of the installed unit is printed (the aim: at most 2.0); a
# purge removes both units and the gateway's state.
# run-all-timeout: 900
. "$(dirname "$0")/lib.sh"

GW_UNIT=prepay-gatewayd.service
GW_SOCKET=prepay-gatewayd.socket
JOB_UNIT=prepay-remote-job.service
URL=https://127.0.0.1:8443

extra_cleanup() {
        systemctl stop "$GW_SOCKET" "$GW_UNIT" >/dev/null 2>&1
        rm -f "/run/systemd/system/$JOB_UNIT"
}
trap 'rc=$?; extra_cleanup; (exit $rc); cleanup' EXIT

install_package

# --- installed, not enabled
# The service has no [Install] of its own but Also= its socket, so systemd
# calls it "indirect": enabled it is only through the socket.
st=$(systemctl is-enabled "$GW_SOCKET" 2>&1)
[ "$st" = disabled ] || fail "$GW_SOCKET is $st after install: the storefront must be installed disabled"
st=$(systemctl is-enabled "$GW_UNIT" 2>&1)
[ "$st" = disabled ] || [ "$st" = indirect ] || fail "$GW_UNIT is $st after install, not disabled (or indirect)"
is_active "$GW_UNIT" && fail "$GW_UNIT runs right after install"
is_active "$GW_SOCKET" && fail "$GW_SOCKET listens right after install"
getent passwd prepay-gateway >/dev/null || fail "no user prepay-gateway after install"
id -nG prepay-gateway | grep -qw prepay || fail "prepay-gateway is not in group prepay: $(id -nG prepay-gateway)"
say "install: $GW_SOCKET and $GW_UNIT disabled; user prepay-gateway in group prepay"

if systemd-analyze verify "/lib/systemd/system/$GW_UNIT" "/lib/systemd/system/$GW_SOCKET" >"$T/verify" 2>&1; then
        say "systemd-analyze verify $GW_UNIT $GW_SOCKET: passed"
else
        sed 's/^/  | /' "$T/verify"
        soft_fail "systemd-analyze verify of the gateway's units failed"
fi
exposure=$(systemd-analyze security "$GW_UNIT" 2>/dev/null | sed -n 's/^→ Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
say "systemd-analyze security $GW_UNIT: exposure ${exposure:-?} (aim: at most 2.0)"
[ -n "$exposure" ] || soft_fail "systemd-analyze security printed no exposure for $GW_UNIT"
if [ -n "$exposure" ] && ! awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
        soft_fail "$GW_UNIT's exposure is $exposure, above 2.0"
fi

# --- the daemon: prices, an issuer, a unit remote buyers may run
cat >"/run/systemd/system/$JOB_UNIT" <<UNITFILE
[Unit]
Description=prepay system test: the work a remote buyer may run
[Service]
ExecStart=/bin/sleep infinity
User=nobody
UNITFILE
systemctl daemon-reload
cat >"$CONF" <<CONF
# Written by tests/system/test-gateway-package.sh.
[Daemon]
LogLevel=debug
[Control]
RemoteUnits=$JOB_UNIT
[Money]
MinRuntimeSec=2s
$(cpu_prices 0.01)
CONF
make_issuer
wait_for 60 is_active "$UNIT" || fail "$UNIT is not active after install"
reload_daemon || fail "systemctl reload $UNIT failed"

# --- the operator opens the storefront: socket activation
systemctl enable --now "$GW_SOCKET" >"$T/enable" 2>&1 || fail "systemctl enable --now $GW_SOCKET failed: $(cat "$T/enable")"
is_active "$GW_SOCKET" || fail "$GW_SOCKET is $(systemctl is-active "$GW_SOCKET") after enable --now"
[ "$(systemctl is-active "$GW_UNIT")" != active ] || fail "$GW_UNIT runs before any connection"
code=$(curl -sS -k -o "$T/prices" -w '%{http_code}' "$URL/v1/prices" 2>"$T/curl.err") ||
        fail "the first HTTPS request failed: $(cat "$T/curl.err")"
[ "$code" = 200 ] || fail "GET /v1/prices: $code $(cat "$T/prices")"
wait_for 30 is_active "$GW_UNIT" || fail "$GW_UNIT was not started by the first connection"
gw_pid=$(systemctl show -p MainPID --value "$GW_UNIT")
gw_uid=$(awk '/^Uid:/ { print $2 }' "/proc/$gw_pid/status")
gw_cap=$(awk '/^CapEff:/ { print $2 }' "/proc/$gw_pid/status")
[ "$gw_uid" = "$(id -u prepay-gateway)" ] || fail "the gateway runs as uid $gw_uid, not prepay-gateway"
[ "$gw_cap" = 0000000000000000 ] || fail "the gateway holds capabilities $gw_cap"
say "socket activation: GET /v1/prices started $GW_UNIT (pid $gw_pid, uid prepay-gateway, no capabilities)"

# --- the self-signed pair and its fingerprint
fp=$(cat /var/lib/prepay-gateway/fingerprint 2>/dev/null) || fail "no /var/lib/prepay-gateway/fingerprint"
[[ $fp == sha256:* ]] || fail "the fingerprint is '$fp', not sha256:BASE64"
grep -qF "$fp" <<<"$(journalctl -q -u "$GW_UNIT" --no-pager)" || fail "the gateway did not log its fingerprint $fp"
pin="sha256//${fp#sha256:}"
api() { curl -sS -k --pinnedpubkey "$pin" "$@"; }
curl -sS -k --pinnedpubkey "sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" "$URL/v1/prices" >/dev/null 2>&1 &&
        fail "curl with a wrong pin was answered"
say "self-signed pair: $fp logged; a wrong pin is refused"

# --- 402, then 201
host_key=$(jq -r .host_key "$T/prices")
[ -n "$host_key" ] && [ "$host_key" != null ] || fail "GET /v1/prices gave no host_key: $(cat "$T/prices")"
body() { jq -n --arg v "$(cat "$1")" --arg u "$JOB_UNIT" '{voucher: $v, cpus: "0.5", duration: "30s", unit: $u}'; }
small=$(mint 0.01)
code=$(body "$small" | api -o "$T/402" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @- "$URL/v1/slices")
[ "$code" = 402 ] || fail "a purchase with 0.01 EUR for 0.5 CPU over 30 s got $code: $(cat "$T/402")"
[ "$(jq -r .code "$T/402")" = payment_required ] || fail "the 402 says code $(jq -r .code "$T/402")"
say "402: $(jq -r .error "$T/402") (missing $(jq -r .missing "$T/402") $(jq -r .currency "$T/402"))"

v=$(mint 1.00)
code=$(body "$v" | api -o "$T/201" -w '%{http_code}' -H 'Content-Type: application/json' -H 'Idempotency-Key: pkg-1' \
        --data-binary @- "$URL/v1/slices")
[ "$code" = 201 ] || fail "a purchase with 1.00 EUR got $code: $(cat "$T/201")"
s=$(jq -r .slice.id "$T/201")
token=$(jq -r .token "$T/201")
receipt=$(jq -r .receipt "$T/201")
[[ $token == pt-* ]] || fail "no owner token in the 201: $(jq -c 'del(.token)' "$T/201")"
grep -qF -e "$token" -e "$(cat "$v")" <<<"$(journalctl -q -u "$GW_UNIT" -u "$UNIT" --no-pager)" &&
        fail "the owner token or the voucher appears in the journal"
prepay receipt verify --key "$host_key" "$receipt" >"$T/verify-receipt" 2>&1 ||
        fail "the purchase's receipt does not verify: $(cat "$T/verify-receipt")"
job_running() { grep -q running <<<"$(systemctl list-units --plain --no-legend "prepay-$s-*.service")"; }
wait_for 30 job_running || fail "no running unit in slice $s: $(systemctl list-units --all --plain --no-legend "prepay-$s-*")"
say "201: slice $s bought remotely, $JOB_UNIT runs in it, its receipt verifies against the host key"

code=$(api -o "$T/full" -w '%{http_code}' -H "Authorization: Bearer $token" "$URL/v1/slices/$s")
[ "$code" = 200 ] && [ "$(jq -r '.slice.public // false' "$T/full")" = false ] ||
        fail "status with the token: $code $(cat "$T/full")"
code=$(api -o "$T/pub" -w '%{http_code}' "$URL/v1/slices/$s")
[ "$code" = 200 ] && [ "$(jq -r .slice.public "$T/pub")" = true ] || fail "status without the token: $code $(cat "$T/pub")"
code=$(api -o "$T/rel" -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "$URL/v1/slices/$s/release")
[ "$code" = 200 ] || fail "release with the token: $code $(cat "$T/rel")"
jq -r '.change[0] // empty' "$T/rel" >"$T/change.voucher"
[ -s "$T/change.voucher" ] || fail "the release gave no change: $(cat "$T/rel")"
say "release: refund $(jq -r .refund "$T/rel") $(jq -r .currency "$T/rel"), change voucher returned"

# --- prepay --host spends the change
prepay --host "$URL" --pin "$fp" run --voucher "$T/change.voucher" --unit "$JOB_UNIT" --cpus 0.1 \
        >"$T/cli.out" 2>"$T/cli.err" || fail "prepay --host run with the change failed: $(cat "$T/cli.err")"
say "prepay --host run: $(grep -m1 -o 's-[0-9a-f]*' "$T/cli.out" "$T/cli.err" | head -n 1 | cut -d: -f2) bought with the change"

# --- purge: the storefront goes too
systemctl disable --now "$GW_SOCKET" >/dev/null 2>&1
purge_package || { sed 's/^/  | /' "$T/dpkg-purge.log"; fail "dpkg --purge prepay failed"; }
for f in "/lib/systemd/system/$GW_UNIT" "/lib/systemd/system/$GW_SOCKET" /var/lib/prepay-gateway /usr/sbin/prepay-gatewayd; do
        [ -e "$f" ] && fail "purge left $f"
done
is_active "$GW_UNIT" && fail "$GW_UNIT still runs after the purge"
say "purge: the gateway's units, binary and state are gone"

[ ${#SOFT_FAILS[@]} -eq 0 ] || fail "${#SOFT_FAILS[@]} check(s) failed: ${SOFT_FAILS[*]}"
exit 0
