#!/bin/bash
# Socket activation: started with its control socket made and passed by a
# service manager (systemd-socket-activate here, as a .socket unit would),
# prepayd takes requests on it, leaves it in place when it stops (it is
# not its to remove). (systemd-socket-activate, like a .socket unit,
# starts the daemon at the first connection.)
. "$(dirname "$0")/lib.sh"

command -v systemd-socket-activate >/dev/null || skip "no systemd-socket-activate (package systemd)"
write_config
make_issuer

activate() {
        systemd-socket-activate "$@" -l "$PREPAY_SOCKET" "$BIN/prepayd" -c "$CONF" >>"$T/prepayd.log" 2>&1 &
        DAEMON_PID=$!
}

activate --seqpacket
wait_for 20 daemon_answers
prepay list >/dev/null || fail "no answer on the passed socket"
grep -q "socket from the service manager" "$T/prepayd.log" || fail "prepayd made its own socket"
bg prepay run --voucher "$(mint 1.00)" --cpus 0.1 -- sleep 30 >/dev/null 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice bought over the passed socket"
prepay release "$s" >/dev/null 2>&1 || fail "release failed"
stop_daemon
[ -S "$PREPAY_SOCKET" ] || fail "prepayd removed a socket it did not make"
say "served on the service manager's socket; left it in place"
rm -f "$PREPAY_SOCKET"

exit 0
