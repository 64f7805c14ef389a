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
# A VM slice: what the CLI refuses by itself, before anything is bought
# (the daemon's side: tests/integration/test-vm*.sh).
echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb0Qh3r4j2Yf7m0Zq1s2vPpV9kq8t7wE3xJm2n5cYtB test" >"$T/key.pub"
v=$(mint 100)
expect_error "not a place for a command: give no COMMAND" prepay run --voucher "$v" --vm debian-12 --ssh-key "$T/key.pub" -- true
expect_error "--vm needs --ssh-key FILE" prepay run --voucher "$v" --vm debian-12
expect_error "not with --slice" prepay run --slice s-00000000 --vm debian-12 --ssh-key "$T/key.pub"
expect_error "go with --vm" prepay run --voucher "$v" --ssh-key "$T/key.pub" -- true
expect_error "go with --vm" prepay run --voucher "$v" --wait -- true
expect_error "Invalid --vm value '../base'" prepay run --voucher "$v" --vm ../base --ssh-key "$T/key.pub"
expect_error "Invalid --disk value '10X'" prepay run --voucher "$v" --vm debian-12 --ssh-key "$T/key.pub" --disk 10X
expect_error "Failed to open SSH public key $T/none.pub: No such file or directory" \
        prepay run --voucher "$v" --vm debian-12 --ssh-key "$T/none.pub"
expect_error "Failed to read SSH public key $T: Is a directory" prepay run --voucher "$v" --vm debian-12 --ssh-key "$T"
head -c 8193 /dev/zero | tr '\0' k >"$T/big.pub"
expect_error "too large to be an SSH public key" prepay run --voucher "$v" --vm debian-12 --ssh-key "$T/big.pub"
printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\n' >"$T/id_ed25519"
expect_error "is a private key: give its public half" prepay run --voucher "$v" --vm debian-12 --ssh-key "$T/id_ed25519"
: >"$T/empty.pub"
expect_error "is empty" prepay run --voucher "$v" --vm debian-12 --ssh-key "$T/empty.pub"
# Root reads any file whatever its mode: an unreadable one for another user.
chmod 000 "$T/key.pub"
expect_error "Failed to open SSH public key $T/key.pub: Permission denied" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/prepay" run --voucher /dev/null --vm debian-12 \
        --ssh-key "$T/key.pub"
chmod 644 "$T/key.pub"
# None of these spent the voucher.
prepay run --voucher "$v" -- true 2>"$T/vm-voucher.err" || fail "a refused --vm spent the voucher: $(cat "$T/vm-voucher.err")"
bought=$(slice_from_log "$T/vm-voucher.err") || fail "no slice bought with the voucher --vm left unspent"
prepay release "$bought" >/dev/null 2>&1 || fail "the slice bought after the --vm refusals could not be released"
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
for verb in kill reload run list images; do
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
