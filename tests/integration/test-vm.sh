#!/bin/bash
# A VM slice, as a buyer with a voucher and an SSH key uses it: bad
# requests refused with a sentence and nothing spent (the same voucher
# buys the VM afterwards); "prepay run --vm --wait --known-hosts" boots a
# real guest under QEMU (TCG here) from the image tools/prepay-mkimage
# builds; OpenSSH's client logs in with the buyer's key and strict host
# key checking from the first time; CPU burnt in the guest is the slice's;
# the balance runs out (a reload makes CPU dear): the guest pauses (the
# cgroup freezer), an open SSH session stalls and the slice uses no CPU; a
# top-up resumes it and the same session goes on; a daemon restart takes
# QEMU back; release powers the guest off and leaves no QEMU, overlay,
# seed or port behind.
#
# In the booted guest of tests/vm (systemd, pure v2, and itself emulated:
# a nested Debian guest would take many minutes to boot), the same is done
# with the smallest guest that proves the systemd path, the tiny image of
# prepay-mkimage --tiny (a kernel and an initramfs that answer on the
# forwarded port): QEMU runs as prepay-<id>-vm.service in the slice unit.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 1200

for tool in qemu-system-x86_64 qemu-img genisoimage ssh ssh-keygen; do
        command -v "$tool" >/dev/null || skip "$tool is not installed (packaging/build-deps --vmslice)"
done

SRC=$(cd "$(dirname "$0")/../.." && pwd)
# gone PID: no such process runs (a zombie waiting for its reaper does
# not: after the restart QEMU is no longer the daemon's child).
gone() { [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

if [ "$EMULATED" = 1 ]; then
        TINY=1
        IMAGE=debian-12-tiny
        IMAGES=${PREPAY_VM_IMAGES:-}
        [ -n "$IMAGES" ] && [ -f "$IMAGES/$IMAGE.image" ] || skip "no tiny image in the guest's payload"
else
        TINY=0
        IMAGE=debian-12
        IMAGES=$T/images
        say "the image (built once, cached in /var/cache/prepay-images):"
        "$SRC/tools/prepay-mkimage" --output "$IMAGES" >"$T/mkimage.log" 2>&1 ||
                fail "prepay-mkimage failed: $(tail -5 "$T/mkimage.log")"
        tail -2 "$T/mkimage.log"
fi

# QEMU runs as a throwaway user, which must reach the guest's files.
VMUSER=pvm-${ID#prepay-test-}
VMUSER=${VMUSER:0:31}
add_user "$VMUSER"
chmod 0711 "$T"
# Ports of a range of the test's own, so that tests running at once do not meet.
first=$((30000 + ($$ % 2000) * 10))

config() {
        write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=$1
MemoryGiBHour=0
IOGiB=0
NetOutGiB=0
SliceHour=0
DiskGiBHour=0.01
[Enforce]
ExhaustedAction=freeze
GraceSec=1h
[VM]
Directory=$T/vm
ImagesDirectory=$IMAGES
User=$VMUSER
ListenAddress=127.0.0.1
PortRange=$first-$((first + 9))
MaxDiskSize=8G
ShutdownTimeoutSec=120s"
}
config 0.001
start_daemon

ssh-keygen -q -t ed25519 -N '' -C buyer -f "$T/id" || fail "ssh-keygen failed"
v=$(mint 5)
printf 'not a key at all\n' >"$T/junk.pub"

# refused NEEDLE RUN-ARGS...: the purchase fails, saying NEEDLE.
refused() {
        local needle=$1
        shift
        prepay run --voucher "$v" "$@" >"$T/refused.out" 2>&1 && fail "run $* was not refused"
        grep -q -- "$needle" "$T/refused.out" || fail "run $* did not say '$needle': $(cat "$T/refused.out")"
}
refused "No image 'nosuch'" --vm nosuch --ssh-key "$T/id.pub"
refused "the name of an image" --vm ../etc --ssh-key "$T/id.pub"
refused "SSH key" --vm "$IMAGE" --ssh-key "$T/junk.pub"
refused "private key" --vm "$IMAGE" --ssh-key "$T/id"
refused "MaxDiskSize" --vm "$IMAGE" --ssh-key "$T/id.pub" --disk 64G
refused "leaves the guest" --vm "$IMAGE" --ssh-key "$T/id.pub" --memory 200M
[ "$(prepay list --json | jq length)" = 0 ] || fail "a refused request left a slice"
say "bad requests refused, nothing made"

# The purchase, with the voucher every refusal was shown: it was not spent.
memory=768M
[ "$TINY" = 1 ] && memory=512M
prepay run --voucher "$v" --vm "$IMAGE" --ssh-key "$T/id.pub" --cpus 1 --memory "$memory" --wait \
        --known-hosts "$T/known_hosts" >"$T/run.out" 2>"$T/run.err" ||
        fail "run --vm failed: $(cat "$T/run.err" "$T/run.out")"
s=$(sed -n 's/^Slice \(s-[0-9a-f]*\): .*/\1/p' "$T/run.out" | head -1)
[ -n "$s" ] || fail "no slice id in: $(cat "$T/run.out" "$T/run.err")"
cat "$T/run.out"
port=$(slice_field "$s" .vm.ssh_port)
user=$(slice_field "$s" .vm.ssh_user)
qemu=$(slice_field "$s" .vm.pid)
field_is "$s" .vm.state running || fail "the guest is $(slice_field "$s" .vm.state) after --wait"
grep -q "ssh -p $port $user@" "$T/run.out" || fail "run did not print how to log in"
grep -q "^\[127.0.0.1\]:$port ssh-ed25519 " "$T/known_hosts" || fail "no known_hosts line: $(cat "$T/known_hosts")"
say "slice $s: QEMU pid $qemu, $(slice_field "$s" .vm.accel), SSH on port $port as $user"

# Every QEMU thread is in the slice's cgroup.
for task in /proc/"$qemu"/task/*; do
        cg=$(sed -n 's/^0:://p' "$task/cgroup")
        [ "$cg" = "$(slice_field "$s" .cgroup)" ] ||
                [ "${cg%/*}" = "$(slice_field "$s" .cgroup)" ] || fail "QEMU thread ${task##*/} is in $cg"
done
[ "$(stat -c %U /proc/"$qemu")" = "$VMUSER" ] || fail "QEMU runs as $(stat -c %U /proc/"$qemu"), not $VMUSER"

if [ "$TINY" = 1 ]; then
        # systemd: the guest is a service of the slice unit.
        systemctl is-active --quiet "prepay-$s-vm.service" || fail "prepay-$s-vm.service is not active"
        systemctl show -p Slice --value "prepay-$s-vm.service" | grep -qx "prepay-$s.slice" ||
                fail "prepay-$s-vm.service is not in prepay-$s.slice"
        banner=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; head -c 7 <&3")
        [ "$banner" = SSH-2.0 ] || fail "the tiny guest did not answer on port $port: '$banner'"
        prepay release "$s" >"$T/release.out" 2>&1 || fail "release failed: $(cat "$T/release.out")"
        gone "$qemu" || fail "QEMU still runs after release"
        [ ! -e "$T/vm/$s" ] || fail "the guest's files are left in $T/vm/$s"
        systemctl is-active --quiet "prepay-$s-vm.service" && fail "prepay-$s-vm.service is still active"
        ledger_verify || fail "the books do not balance"
        say "the systemd path: prepay-$s-vm.service in prepay-$s.slice, answered, released"
        exit 0
fi

SSH=(ssh -i "$T/id" -o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes
        -o ConnectTimeout=20 -o ServerAliveInterval=0 -p "$port" "$user@127.0.0.1")
"${SSH[@]}" true 2>"$T/ssh.err" || fail "ssh with strict host key checking failed: $(cat "$T/ssh.err")"
say "logged in with the buyer's key; the host key was known from the purchase"

# CPU burnt in the guest is the slice's.
before=$(slice_field "$s" .usage.cpu_usec)
"${SSH[@]}" 'timeout 4 sh -c "while :; do :; done"; true' || fail "the burn over ssh failed"
prepay status "$s" >/dev/null # a meter pass
after=$(slice_field "$s" .usage.cpu_usec)
[ $((after - before)) -ge 3000000 ] || fail "4 s burnt in the guest counted $(((after - before) / 1000)) ms"
say "4 s of CPU in the guest: the slice counted $(((after - before) / 1000)) ms"

# An SSH session that prints a line a second, to see it stall and resume.
bg "${SSH[@]}" 'while :; do date +%s; sleep 1; done' >"$T/session.out" 2>"$T/session.err"
session=${BG_PIDS[-1]}
lines() { wc -l <"$T/session.out"; }
has_lines() { [ "$(lines)" -ge "$1" ]; }
wait_for 30 has_lines 2 || fail "the session printed nothing: $(cat "$T/session.err")"

# The balance runs out: CPU costs 1000 a second from now on.
config 1000
prepay reload >/dev/null || fail "reload failed"
wait_state "$s" frozen 30 || fail "the slice was not frozen: $(slice_field "$s" .account.enforcement)"
field_is "$s" .vm.state paused || fail "the guest is $(slice_field "$s" .vm.state), not paused"
n=$(lines)
cpu=$(slice_field "$s" .usage.cpu_usec)
# The pause must hold: 5 s in which a session printing a line a second
# prints nothing (a stall is seen only by letting time pass).
sleep 5
[ "$(lines)" -le $((n + 1)) ] || fail "the session went on while the guest was paused"
[ $(($(slice_field "$s" .usage.cpu_usec) - cpu)) -le 20000 ] || fail "a paused guest used CPU"
pid_gone "$session" && fail "the SSH session ended during the pause: $(cat "$T/session.err")"
say "exhausted: the guest is paused, the session stalled at $n lines, no CPU used"

# A top-up (at the old price) resumes it, and the same session goes on.
config 0.001
prepay reload >/dev/null || fail "reload failed"
prepay topup "$s" --voucher "$(mint 5)" >/dev/null || fail "topup failed"
wait_state "$s" ok 30 || fail "the top-up did not restore the slice"
wait_for 60 has_lines $((n + 3)) || fail "the session did not resume: $(cat "$T/session.err")"
pid_gone "$session" && fail "the SSH session ended"
say "topped up: the guest runs again, the same session is at $(lines) lines"
kill "$session" 2>/dev/null

# A restart of the daemon takes the running guest back.
stop_daemon
kill -0 "$qemu" 2>/dev/null || fail "QEMU stopped with the daemon"
start_daemon
[ "$(slice_field "$s" .vm.pid)" = "$qemu" ] || fail "the restarted daemon did not take QEMU $qemu back"
wait_for 30 field_is "$s" .vm.state running || fail "after the restart the guest is $(slice_field "$s" .vm.state)"
"${SSH[@]}" true || fail "ssh after the daemon's restart failed"
say "the restarted daemon took QEMU $qemu back"

# Release: ACPI power-off, change paid, nothing left behind.
prepay release "$s" >"$T/release.out" 2>&1 || fail "release failed: $(cat "$T/release.out")"
grep -q "change" "$T/release.out" || fail "release returned no change: $(cat "$T/release.out")"
gone "$qemu" || fail "QEMU still runs after release"
[ ! -e "$T/vm/$s" ] || fail "the guest's files are left: $(ls "$T/vm/$s")"
ss -tln "sport = :$port" | grep -q LISTEN && fail "port $port still listens"
grep -q "VM $s did not power off" "$T/prepayd.log" && fail "the guest did not power off by itself"
ledger_verify || fail "the books do not balance"
say "released: powered off, change returned, no QEMU, files or port left"
