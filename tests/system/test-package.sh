#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The Debian package on a systemd host, end to end: dpkg -i enables and
# starts prepayd.socket and prepayd.service; the socket is root:prepay
# 0660; the first request starts the service (socket activation); the
# installed units pass systemd-analyze verify (their exposure figure is
# printed); a slice bought with a voucher from a trusted issuer runs under
# the packaged daemon; a reload with a new price changes the quote and not
# the running slice; the watchdog restarts a hung daemon and the slice keeps
# its money; a user outside group prepay is refused, a member may quote
# and buy but not release another's slice; dpkg --purge removes units,
# configuration, state and pins, and stops every slice.
# run-all-timeout: 900
. "$(dirname "$0")/lib.sh"

install_package

# --- enabled, listening, mode and group
for u in prepayd.socket prepayd.service; do
        [ "$(systemctl is-enabled "$u" 2>&1)" = enabled ] || fail "$u is $(systemctl is-enabled "$u" 2>&1) after install, not enabled"
done
is_active prepayd.socket || fail "prepayd.socket is $(systemctl is-active prepayd.socket) after install"
[ -S "$SOCKET" ] || fail "no socket at $SOCKET"
perm=$(stat -c '%a %U:%G' "$SOCKET")
[ "$perm" = "660 root:prepay" ] || fail "$SOCKET is $perm, expected 660 root:prepay"
getent group prepay >/dev/null && getent group prepay-admin >/dev/null || fail "groups prepay and prepay-admin were not made"
[ "$(stat -c '%a' /var/lib/prepay)" = 700 ] || fail "/var/lib/prepay is mode $(stat -c %a /var/lib/prepay), expected 700"
[ -d /etc/prepay/issuers.d ] || fail "no /etc/prepay/issuers.d"
say "enabled: prepayd.socket prepayd.service; $SOCKET $perm; groups prepay, prepay-admin"
wait_for 60 is_active "$UNIT" || { fail "$UNIT did not start after install: $(systemctl is-active "$UNIT")"; }

# --- the units as installed
if systemd-analyze verify /lib/systemd/system/prepayd.service /lib/systemd/system/prepayd.socket >"$T/verify" 2>&1; then
        say "systemd-analyze verify: passed"
else
        sed 's/^/  | /' "$T/verify"
        soft_fail "systemd-analyze verify of the installed units failed"
fi
exposure=$(systemd-analyze security "$UNIT" 2>/dev/null | sed -n 's/^→ Overall exposure level for [^:]*: //p')
say "systemd-analyze security $UNIT: exposure ${exposure:-?}"
say "capability bounding set: $(systemctl show -p CapabilityBoundingSet --value "$UNIT")"

# --- socket activation: the service stopped, the socket still listening
# (systemctl warns that the socket can still start it: that is the point)
systemctl stop "$UNIT" 2>"$T/stop.err" || fail "systemctl stop $UNIT failed: $(cat "$T/stop.err")"
is_active prepayd.socket || fail "stopping the service stopped the socket"
[ "$(systemctl is-active "$UNIT")" != active ] || fail "$UNIT still active after stop"
prepay list >"$T/list" 2>&1 || { fail "the first request after a stop failed: $(cat "$T/list")"; }
is_active "$UNIT" || fail "$UNIT was not started by the first request"
say "socket activation: prepay list started $UNIT (MainPID $(main_pid))"

# --- a funded slice through the packaged daemon
cat >"$CONF" <<CONF
# Written by tests/system/test-package.sh: one cent per CPU-second, nothing else.
[Daemon]
LogLevel=debug
[Money]
MinRuntimeSec=2s
$(cpu_prices 0.01)
CONF
make_issuer
reload_daemon || fail "systemctl reload $UNIT failed"
quote_total() { prepay quote --cpus 1 --duration 10s --json | jq -r .total; }
quote_is() { [ "$(quote_total)" = "$1" ]; }
wait_for 30 quote_is 100000 || fail "quote for 1 CPU, 10 s is $(quote_total) after reload, expected 100000 (0.01/CPU-s)"

v=$(mint 0.50)
bg prepay run --voucher "$v" --cpus 0.5 -- sleep 900 2>"$T/run.err"
job=${BG_PIDS[-1]}
s=$(slice_from_log "$T/run.err") || { fail "no slice: $(cat "$T/run.err")"; }
token=$(owner_token_in "$T/run.err")
[ -n "$token" ] || fail "prepay run printed no owner token"
st=$(prepay status "$s" --json) || fail "status of $s failed"
credited=$(jq -r .account.credited <<<"$st")
[ "$credited" = 500000 ] || fail "slice $s credited $credited, expected 500000"
unit_state=$(systemctl is-active "prepay-$s.slice" 2>&1)
say "slice $s: credited $credited, balance $(jq -r .account.balance <<<"$st"), unit prepay-$s.slice $unit_state"
[ "$unit_state" = active ] || soft_fail "prepay-$s.slice is $unit_state (the systemd backend makes slices as units)"
kill -0 "$job" 2>/dev/null || fail "the slice's work is not running"
status_funded() { systemctl show -p StatusText --value "$UNIT" | grep -q "1 funded, holding 0\.[0-9]* EUR\."; }
wait_for 10 status_funded ||
        soft_fail "the service's STATUS= does not show the money held: $(systemctl show -p StatusText --value "$UNIT")"
say "systemctl status: $(systemctl show -p StatusText --value "$UNIT")"

# --- reload with a new price: the quote changes, the slice does not
pid0=$(main_pid)
pids0=$(jq -r .usage.pids_current <<<"$st")
quota0=$(jq -r .limits.cpu_quota_usec <<<"$st")
sed -i 's/^CPUSecond=0.01$/CPUSecond=0.02/' "$CONF"
reload_daemon || fail "systemctl reload $UNIT failed"
wait_for 30 quote_is 200000 || fail "quote is $(quote_total) after a reload with CPUSecond=0.02, expected 200000"
st=$(prepay status "$s" --json) || fail "status of $s after reload failed"
[ "$(main_pid)" = "$pid0" ] || fail "reload changed the MainPID ($pid0 -> $(main_pid))"
[ "$(jq -r .account.credited <<<"$st")" = "$credited" ] || fail "reload changed the slice's credit"
[ "$(jq -r .usage.pids_current <<<"$st")" = "$pids0" ] || fail "reload changed the slice's tasks"
[ "$(jq -r .limits.cpu_quota_usec <<<"$st")" = "$quota0" ] || fail "reload changed the slice's CPU quota"
kill -0 "$job" 2>/dev/null || fail "the slice's work died on reload"
say "reload: quote 100000 -> 200000, MainPID $pid0 kept, slice $s untouched (balance $(jq -r .account.balance <<<"$st"))"

# --- the watchdog: a hung daemon is restarted, the slice keeps its money
mkdir -p "$DROPIN"
cat >"$DROPIN/50-test-watchdog.conf" <<'CONF'
[Service]
WatchdogSec=3s
TimeoutAbortSec=3s
CONF
systemctl daemon-reload
systemctl restart "$UNIT" || fail "restart with a 3 s watchdog failed"
wait_for 30 is_active "$UNIT" || fail "$UNIT did not come back after a restart"
sleep 5 # a few watchdog periods: a daemon that pings stays up
pid1=$(main_pid)
restarts1=$(systemctl show -p NRestarts --value "$UNIT")
kill -STOP "$pid1"
new_main() { p=$(main_pid); [ "$p" != 0 ] && [ "$p" != "$pid1" ] && is_active "$UNIT"; }
t0=$SECONDS
wait_for 90 new_main || { kill -CONT "$pid1" 2>/dev/null; fail "no new MainPID 90 s after SIGSTOP of $pid1"; }
pid2=$(main_pid)
restarts2=$(systemctl show -p NRestarts --value "$UNIT")
why=$(journalctl -q -u "$UNIT" --no-pager -n 50 2>/dev/null | grep -m1 -o 'Watchdog timeout[^!]*' || true)
say "watchdog: MainPID $pid1 stopped, restarted as $pid2 in $((SECONDS - t0)) s (NRestarts $restarts1 -> $restarts2; ${why:-no journal line})"
[ "$restarts2" -gt "$restarts1" ] || fail "NRestarts did not grow: not restarted by Restart=on-failure"
rm -rf "$DROPIN"
systemctl daemon-reload
st=$(prepay status "$s" --json) || fail "status of $s after the watchdog restart failed"
[ "$(jq -r .account.credited <<<"$st")" = "$credited" ] || fail "the slice lost its credit in the restart"
bal=$(jq -r .account.balance <<<"$st")
[ "$bal" -gt 0 ] || fail "the slice's balance is $bal after the restart"
kill -0 "$job" 2>/dev/null || fail "the slice's work died with the daemon"
say "after the watchdog restart: slice $s credited $credited, balance $bal, work running"

# --- rights: the socket's group, the owner token
add_user pp-outsider
add_user pp-tenant prepay
if as pp-outsider prepay quote --cpus 1 >"$T/out.out" 2>"$T/out.err"; then
        soft_fail "a user outside group prepay got a quote"
elif grep -q 'Permission denied' "$T/out.err" && grep -q 'prepay' "$T/out.err" && grep -qi 'group' "$T/out.err"; then
        say "outsider refused: $(head -n 1 "$T/out.err")"
else
        soft_fail "the outsider's refusal does not say Permission denied and name the group: $(cat "$T/out.err")"
fi
as pp-tenant prepay quote --cpus 1 --duration 10s >"$T/ten.quote" 2>&1 ||
        soft_fail "a member of group prepay cannot quote: $(cat "$T/ten.quote")"
vt=$(mint 0.20)
as pp-tenant prepay run --voucher "$vt" --cpus 0.1 -- true >"$T/ten.run" 2>&1 ||
        soft_fail "a member of group prepay cannot buy a slice: $(cat "$T/ten.run")"
s2=$(sed -n 's/^prepay: running in slice \(s-[0-9a-f]*\).*$/\1/p' "$T/ten.run" | head -n 1)
[ -n "$s2" ] && say "tenant bought slice $s2"
if as pp-tenant prepay release "$s" >"$T/ten.rel" 2>&1; then
        soft_fail "a member of group prepay released another's slice without its token"
elif grep -q 'Permission denied' "$T/ten.rel" && grep -qi 'token' "$T/ten.rel"; then
        say "tenant refused another's slice: $(head -n 1 "$T/ten.rel")"
else
        soft_fail "the refusal to release another's slice does not say Permission denied and name the token: $(cat "$T/ten.rel")"
fi
kill -0 "$job" 2>/dev/null || fail "the slice's work died when a tenant tried to release it"
if [ -n "$s2" ]; then
        as pp-tenant prepay release "$s2" >"$T/ten.change" 2>"$T/ten.rel2" ||
                soft_fail "the tenant could not release its own slice: $(cat "$T/ten.rel2")"
fi

# --- purge: everything goes, the running slice included
purge_package || { sed 's/^/  | /' "$T/dpkg-purge.log"; fail "dpkg --purge prepay failed"; }
dpkg-query -W prepay >/dev/null 2>&1 && fail "dpkg still knows prepay after the purge: $(dpkg-query -W -f='${Status}' prepay)"
say "purge: dpkg --purge prepay: $(grep -m1 -o 'Purging configuration files for prepay ([^)]*)' "$T/dpkg-purge.log" || echo done)"
left=()
for f in /lib/systemd/system/prepayd.service /lib/systemd/system/prepayd.socket \
        /etc/systemd/system/sockets.target.wants/prepayd.socket \
        /etc/systemd/system/multi-user.target.wants/prepayd.service \
        /etc/prepay /var/lib/prepay /var/lib/prepay-vm /run/prepay /sys/fs/bpf/prepay /usr/sbin/prepayd \
        /usr/sbin/prepay-mkimage /usr/bin/prepay; do
        [ -e "$f" ] && left+=("$f")
done
[ ${#left[@]} -eq 0 ] || fail "purge left: ${left[*]}"
no_prepay_units() { [ -z "$(prepay_units)" ]; }
wait_for 30 no_prepay_units || fail "units still loaded after purge: $(prepay_units)"
pgrep -x prepayd >/dev/null && fail "prepayd still runs after purge (pid $(pgrep -x prepayd | tr '\n' ' '))"
wait_for 10 pid_gone "$job" || fail "the slice's work still runs after purge"
say "purge: no units, configuration, state, pins or slices left"

[ ${#SOFT_FAILS[@]} -eq 0 ] || fail "${#SOFT_FAILS[@]} check(s) failed: ${SOFT_FAILS[*]}"
exit 0
