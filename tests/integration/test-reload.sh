#!/bin/bash
# SIGHUP: prices, issuer keys and policies change at once, running slices
# keep their limits, processes and money; a key that needs a restart keeps
# its running value with a warning; a file that does not load changes
# nothing. And what prepayd tells its service manager (sd_notify, to a
# stand-in socket): READY=1 with a STATUS=, RELOADING=1 then READY=1 on
# SIGHUP, STOPPING=1 on SIGTERM.
. "$(dirname "$0")/lib.sh"

prices() {
        write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=$1
${2:-}"
}
prices 0.01
"$BIN/tests/notify-sink" "$T/notify" >"$T/notify.log" 2>&1 &
BG_PIDS+=($!)
wait_for 5 test -S "$T/notify"
NOTIFY_SOCKET=$T/notify start_daemon
grep -q "READY=1 STATUS=0 slices, 0 funded, holding 0.00 EUR." "$T/notify.log" || fail "no READY=1 with a status: $(cat "$T/notify.log")"

[ "$(prepay quote --cpus 1 --duration 1s --json | jq .total)" = 10000 ] || fail "quote before the reload"
bg prepay run --voucher "$(mint 1.00)" --cpus 0.5 -- "$BIN/tests/burn" 60 >/dev/null 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"
wait_for 1 test -s "$(cg_dir "" "$s")/cgroup.procs"
quota=$(slice_field "$s" .limits.cpu_quota_usec)
pid=$(cat "$(cg_dir "" "$s")/cgroup.procs" | head -1)

# New prices, a new issuer, and a restart-only key changed.
prepay keygen --out "$T/second" >/dev/null || fail "keygen failed"
cp "$T/second/issuer.pub" "$T/issuers.d/second.pub"
prices 0.02 "[Daemon]
ControlSocket=$T/other.sock"
kill -HUP "$DAEMON_PID"
wait_for 5 grep -q "Reloaded" "$T/prepayd.log"
grep -q "Reloaded" "$T/prepayd.log" || fail "no reload logged"
total=$(prepay quote --cpus 1 --duration 1s --json | jq .total)
say "after SIGHUP: 1 CPU-second quoted at $total micro-units (was 10000)"
[ "$total" = 20000 ] || fail "the new price is not in force"
grep -q "ControlSocket= changed" "$T/prepayd.log" || fail "no warning for a restart-only key"
[ -S "$PREPAY_SOCKET" ] && [ ! -e "$T/other.sock" ] || fail "the control socket moved on a reload"
prepay mint --key "$T/second/issuer.key" --amount 0.50 --currency EUR >"$T/second.v" 2>/dev/null || fail "mint failed"
prepay topup "$s" --voucher "$T/second.v" >/dev/null || fail "a voucher of the newly trusted issuer was refused"
[ "$(slice_field "$s" .limits.cpu_quota_usec)" = "$quota" ] || fail "the running slice's limits changed"
grep -qx "$pid" "$(cg_dir "" "$s")/cgroup.procs" || fail "the running slice's process is gone"
[ "$(slice_field "$s" .account.credited)" = 1500000 ] || fail "the running slice's money changed"
grep -q "RELOADING=1 MONOTONIC_USEC=" "$T/notify.log" || fail "no RELOADING=1"
[ "$(grep -c "READY=1" "$T/notify.log")" -ge 2 ] || fail "no READY=1 after the reload"
# STATUS= follows the money held, at most once a second.
wait_for 4 grep -q "STATUS=1 slice, 1 funded, holding 1\.[0-9]* EUR\." "$T/notify.log"
grep -q "STATUS=1 slice, 1 funded, holding 1\.[0-9]* EUR\." "$T/notify.log" ||
        fail "STATUS= does not show the money held: $(tail -3 "$T/notify.log")"

# A file that does not load changes nothing.
prices "lots"
kill -HUP "$DAEMON_PID"
wait_for 5 grep -q "Reloading .* failed" "$T/prepayd.log"
grep -q "Reloading .* failed" "$T/prepayd.log" || fail "a bad file was not reported"
[ "$(prepay quote --cpus 1 --duration 1s --json | jq .total)" = 20000 ] || fail "a bad file changed the prices"
say "a bad file: refused, prices unchanged"

prepay release "$s" >/dev/null 2>&1 || fail "release failed"
stop_daemon
grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
say "notifications: $(tr '\n' '|' <"$T/notify.log" | cut -c1-200)"
exit 0
