#!/bin/bash
# The CLI's errors name the bad value; the daemon refuses what it must.
. "$(dirname "$0")/lib.sh"

expect_error() { # expect_error PATTERN CMD...
        local pat=$1 out
        shift
        out=$("$@" 2>&1) && fail "'$*' succeeded"
        grep -q -- "$pat" <<<"$out" || fail "'$*' said '$out', expected '$pat'"
}

expect_error "prepayd is not running" prepay list
start_daemon
expect_error "Invalid --memory value '4X'" prepay run --memory 4X -- true
expect_error "Invalid --cpus value 'lots'" prepay run --cpus lots -- true
expect_error "Invalid --pids value '-3'" prepay run --pids -3 -- true
expect_error "at most" prepay run --cpus 4096 -- true
expect_error "No slice s-00000000" prepay status s-00000000
expect_error "Invalid slice id 'bogus'" prepay status bogus
expect_error "Unknown command" prepay frobnicate
expect_error "No command given" prepay run --cpus 1
expect_error "--unit starts a unit, not a command" prepay run --unit job.service -- true
expect_error "Invalid slice id 'bogus'" prepay kill bogus
expect_error "give one" prepay kill s-00000000 --token pt-x --token-file /dev/null
expect_error "No slice s-00000000" prepay kill s-00000000
prepay reload 2>/dev/null || fail "root could not reload"
# A unit needs the systemd backend; here it is cgroupfs, which says so.
bg prepay run -- sleep 30 2>"$T/unfunded.err"
s=$(slice_from_log "$T/unfunded.err") || fail "no unfunded slice"
expect_error "Backend=systemd" prepay run --slice "$s" --unit job.service
# Bought for a unit the backend cannot run: the slice stays, with its money.
out=$(prepay run --voucher "$(mint 100)" --unit job.service 2>&1) && fail "a unit ran on the cgroupfs backend"
grep -q "Backend=systemd" <<<"$out" || fail "run --unit on cgroupfs said '$out'"
bought=$(sed -n 's/.*Slice \(s-[0-9a-f]*\) stays, with its balance.*/\1/p' <<<"$out")
[ -n "$bought" ] || fail "run --unit did not say the slice it bought stays: '$out'"
prepay release "$bought" >/dev/null 2>&1 || fail "the slice bought for a unit could not be released"
prepay kill "$s" 2>/dev/null || fail "root could not kill a slice's processes"
prepay destroy "$s" || fail "destroy after kill failed"
for verb in kill reload run list; do
        prepay "$verb" --help | grep -q "Usage: prepay $verb" || fail "prepay $verb --help has no usage line"
done
prepay --help | grep -q 'reload' || fail "--help does not list reload"
prepay run -- /nonexistent/cmd 2>"$T/err"; rc=$?
[ "$rc" -eq 127 ] || fail "running a missing command exited $rc, expected 127"
prepay --help | grep -q 'run' || fail "--help does not list run"
prepay list | head -1 | grep -q SLICE || fail "list has no header"
[ "$(prepay list --json | jq length)" -ge 1 ] || fail "list --json has no slice"
"$BIN/prepayd" --dump-config | cmp -s - "$(dirname "$0")/../../packaging/prepayd.conf" ||
        fail "packaging/prepayd.conf differs from prepayd --dump-config"
echo "[Daemon]
Bogus=1" >"$T/bad.conf"
out=$("$BIN/prepayd" -c "$T/bad.conf" --check-config 2>&1) && fail "a config with an unknown key was accepted"
grep -q "Bogus" <<<"$out" || fail "config error does not name the key: $out"
# Backend=systemd where systemd does not own the cgroup tree: refused at
# start, with the reason, before anything is made (tests/system covers the
# other side).
if [ "$(cat /proc/1/comm)" != systemd ]; then
        sed -e 's/^Backend=cgroupfs$/Backend=systemd/' -e "s|^ControlSocket=.*|ControlSocket=$T/sd.sock|" \
                -e "s|^StateDirectory=.*|StateDirectory=$T/sd-state|" "$CONF" >"$T/sd.conf"
        grep -q "^Backend=systemd$" "$T/sd.conf" || fail "no Backend= line to change in $CONF"
        out=$(timeout 20 "$BIN/prepayd" -c "$T/sd.conf" 2>&1) && fail "Backend=systemd started without systemd as PID 1"
        grep -q "Backend=systemd needs systemd as PID 1" <<<"$out" || fail "the refusal does not say why: $out"
        [ ! -e "$T/sd.sock" ] || fail "the refused daemon made its socket"
fi
exit 0
