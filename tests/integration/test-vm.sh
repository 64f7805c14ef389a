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
# with the smallest guest that proves the path, the tiny image of
# prepay-mkimage --tiny (a kernel and an initramfs that answer on the
# forwarded port), with the cgroupfs backend here and the systemd one in
# tests/system/test-systemd-vm.sh: QEMU runs as prepay-<id>-vm.service in
# the slice unit.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 1800

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

# config CPU-PRICE [NET-OUT-PRICE [GRACE]]: the test's daemon, CPU at
# CPU-PRICE a second, traffic out at NET-OUT-PRICE a GiB (0), everything
# else free but the disk; a frozen slice is killed after GRACE (1h).
config() {
        write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=$1
MemoryGiBHour=0
IOGiB=0
SliceHour=0
DiskGiBHour=0.01
NetOutGiB=${2:-0}
[Enforce]
ExhaustedAction=freeze
GraceSec=${3:-1h}
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
# --wait: until the guest's sshd answers (60-75 s under TCG here; the tiny
# guest nested in the emulated test guest takes minutes). Standard error
# is a terminal (script(1), every byte kept in run.tty as it comes), as
# for a buyer at a shell: the wait draws its progress line there.
printf -v cmd '%q ' "$BIN/prepay" run --voucher "$v" --vm "$IMAGE" --ssh-key "$T/id.pub" --cpus 1 \
        --memory "$memory" --wait --known-hosts "$T/known_hosts"
TERM=xterm PREPAY_PROGRESS_DELAY=0 timeout $((900 * WAIT_SCALE)) script -q -e -f -c "$cmd >$T/run.out" \
        "$T/run.tty" >/dev/null </dev/null || fail "run --vm failed: $(cat "$T/run.tty" "$T/run.out")"
tr '\r' '\n' <"$T/run.tty" | sed 's/\x1b\[K//g' >"$T/run.err"
s=$(sed -n 's/^Slice \(s-[0-9a-f]*\): .*/\1/p' "$T/run.out" | head -1)
[ -n "$s" ] || fail "no slice id in: $(cat "$T/run.out" "$T/run.err")"
cat "$T/run.out"
grep -Eq "^prepay: waiting for the guest's SSH: [a-z ]+, " "$T/run.err" ||
        fail "no progress line while waiting on a terminal: $(head -c 800 "$T/run.tty" | od -c | head -20)"
grep -q "^prepay: the guest of $s answers on SSH after " "$T/run.err" || fail "the wait's end was not said: $(cat "$T/run.err")"
say "the wait on a terminal: $(grep -c "^prepay: waiting for the guest's SSH: " "$T/run.err") progress lines, the last" \
        "$(grep "^prepay: waiting for the guest's SSH: " "$T/run.err" | tail -n 1)"
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

if [ "$BACKEND" = systemd ]; then
        # systemd: the guest is a service of the slice unit.
        systemctl is-active --quiet "prepay-$s-vm.service" || fail "prepay-$s-vm.service is not active"
        systemctl show -p Slice --value "prepay-$s-vm.service" | grep -qx "prepay-$s.slice" ||
                fail "prepay-$s-vm.service is not in prepay-$s.slice"
        say "QEMU is prepay-$s-vm.service in prepay-$s.slice"
fi
if [ "$TINY" = 1 ]; then
        banner=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; head -c 7 <&3")
        [ "$banner" = SSH-2.0 ] || fail "the tiny guest did not answer on port $port: '$banner'"
        prepay release "$s" >"$T/release.out" 2>&1 || fail "release failed: $(cat "$T/release.out")"
        gone "$qemu" || fail "QEMU still runs after release"
        [ ! -e "$T/vm/$s" ] || fail "the guest's files are left in $T/vm/$s"
        [ "$BACKEND" = systemd ] && systemctl is-active --quiet "prepay-$s-vm.service" &&
                fail "prepay-$s-vm.service is still active"
        ledger_verify || fail "the books do not balance"
        say "the tiny guest ($BACKEND backend) answered on port $port; released, nothing left"
        exit 0
fi

SSH=(ssh -i "$T/id" -o UserKnownHostsFile="$T/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes
        -o ConnectTimeout=20 -o ServerAliveInterval=0 -p "$port" "$user@127.0.0.1")
"${SSH[@]}" 'echo kept >marker && sync' 2>"$T/ssh.err" ||
        fail "ssh with strict host key checking failed: $(cat "$T/ssh.err")"
say "logged in with the buyer's key; the host key was known from the purchase"

# A sponsor is told to the guest while it runs: its metadata port, and
# the reader its seed installed (/var/lib/prepay/sponsor.env, the same
# lines as the host's file for a command).
guest_reader() { "${SSH[@]}" systemctl is-active --quiet prepay-meta.service; }
wait_for 240 guest_reader || fail "the guest's metadata reader never started: $("${SSH[@]}" \
        systemctl status prepay-meta.service 2>&1 | tail -5)"
"${SSH[@]}" test -e /var/lib/prepay/sponsor.env && fail "the guest has a sponsor before any bid"
prepay sponsor offer "$s" --period 1h --min 0.10 --start +6s >/dev/null 2>"$T/offer.err" ||
        fail "sponsor offer refused: $(cat "$T/offer.err")"
prepay sponsor bid "$s" --voucher "$(mint 0.50)" --name "Guest's Co" --url https://guest.example/ >/dev/null \
        2>"$T/bid.err" || fail "sponsor bid refused: $(cat "$T/bid.err")"
wait_for 60 field_is "$s" .sponsorship.current.name "Guest's Co" ||
        fail "the bid did not win its period: $(prepay status "$s" --json | jq -c .sponsorship)"
guest_sponsor() { "${SSH[@]}" cat /var/lib/prepay/sponsor.env >"$T/guest-sponsor.env" 2>/dev/null; }
wait_for 60 guest_sponsor || fail "the guest was never told its sponsor"
cmp -s "$T/guest-sponsor.env" "$(slice_field "$s" .sponsorship.env_file)" ||
        fail "the guest was told $(cat "$T/guest-sponsor.env"), the host's file says \
$(cat "$(slice_field "$s" .sponsorship.env_file)")"
[ "$("${SSH[@]}" '. /var/lib/prepay/sponsor.env && echo "$PREPAY_SPONSOR_NAME|$PREPAY_SPONSOR_URL"')" = \
        "Guest's Co|https://guest.example/" ] || fail "the guest's sponsor.env does not read back"
say "the running guest was told its sponsor: /var/lib/prepay/sponsor.env as on the host"

# CPU burnt in the guest is the slice's.
before=$(slice_field "$s" .usage.cpu_usec)
"${SSH[@]}" 'timeout 4 sh -c "while :; do :; done"; true' || fail "the burn over ssh failed"
prepay status "$s" >/dev/null # a meter pass
after=$(slice_field "$s" .usage.cpu_usec)
[ $((after - before)) -ge 3000000 ] || fail "4 s burnt in the guest counted $(((after - before) / 1000)) ms"
say "4 s of CPU in the guest: the slice counted $(((after - before) / 1000)) ms"

# The guest's traffic is QEMU's sockets', so the slice's: 20 MB the guest
# sends over its SSH connection is counted out.
before=$(slice_field "$s" .usage.net_tx_bytes)
got=$("${SSH[@]}" 'head -c 20000000 /dev/zero' | wc -c)
[ "$got" = 20000000 ] || fail "20 MB from the guest arrived as $got bytes"
prepay status "$s" >/dev/null
after=$(slice_field "$s" .usage.net_tx_bytes)
[ $((after - before)) -ge 20000000 ] || fail "20 MB sent by the guest counted $((after - before)) bytes out"
say "20 MB sent by the guest: the slice counted $((after - before)) bytes out"

# A guest that fills its RAM is not OOM-killed: QEMU's own memory fits in
# the slice's limit beside it (MemoryOverhead=, TCG's cache bounded).
"${SSH[@]}" 'sudo mount -t tmpfs -o size=400M none /mnt && sudo dd if=/dev/zero of=/mnt/fill bs=1M count=380 \
        status=none && sudo rm /mnt/fill && sudo umount /mnt' || fail "filling the guest's RAM failed"
kill -0 "$qemu" || fail "QEMU died while its guest filled its RAM"
[ "$(slice_field "$s" .usage.oom_kills)" = 0 ] || fail "the slice saw an OOM kill"
say "the guest filled 380M of its 512M: no OOM kill, the slice's peak $(slice_field "$s" .usage.memory_peak) bytes \
of its limit $(slice_field "$s" .limits.memory_max)"

# An SSH session that prints a line a second, to see it stall and resume.
bg "${SSH[@]}" 'while :; do date +%s; sleep 1; done' >"$T/session.out" 2>"$T/session.err"
session=${BG_PIDS[-1]}
lines() { wc -l <"$T/session.out"; }
has_lines() { [ "$(lines)" -ge "$1" ]; }
wait_for 30 has_lines 2 || fail "the session printed nothing: $(cat "$T/session.err")"

# The balance runs out on traffic: from now on a GiB out costs 1000, so
# the in-kernel grant holds what about 5 EUR buys, some 5 MB; 50 MB asked
# of the guest is cut there, and the slice is exhausted and frozen.
config 0.001 1000
prepay reload >/dev/null || fail "reload failed"
got=$(timeout 30 "${SSH[@]}" -o ServerAliveInterval=5 -o ServerAliveCountMax=2 'head -c 50000000 /dev/zero' | wc -c)
say "50 MB asked of the guest with a grant of about 5 MB: $got bytes arrived"
[ "$got" -lt 12000000 ] || fail "the grant did not cut the guest's traffic: $got bytes arrived"
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
guest_sponsor && cmp -s "$T/guest-sponsor.env" "$(slice_field "$s" .sponsorship.env_file)" ||
        fail "after the restart the guest's sponsor is: $(cat "$T/guest-sponsor.env")"
say "the restarted daemon took QEMU $qemu back; the guest keeps its sponsor"

# The ladder's kill: a frozen guest left alone past its grace (2 s now)
# is killed, its disk kept; a top-up boots it again from that disk, with
# the same host key.
disk=$T/vm/$s/disk.qcow2
inode=$(stat -c %i "$disk")
config 1000 0 2s
prepay reload >/dev/null || fail "reload failed"
wait_state "$s" killed 60 || fail "the slice was not killed: $(slice_field "$s" .account.enforcement)"
wait_for 30 field_is "$s" .vm.state stopped || fail "the killed guest is $(slice_field "$s" .vm.state)"
gone "$qemu" || fail "QEMU $qemu runs on in a killed slice"
[ "$(stat -c %i "$disk")" = "$inode" ] || fail "the killed guest's disk was not kept"
config 0.001
prepay reload >/dev/null || fail "reload failed"
prepay topup "$s" --voucher "$(mint 5)" >/dev/null || fail "topup failed"
wait_for 240 field_is "$s" .vm.state running || fail "after the top-up the guest is $(slice_field "$s" .vm.state)"
qemu=$(slice_field "$s" .vm.pid)
[ "$("${SSH[@]}" cat marker)" = kept ] || fail "ssh to the guest booted again failed, or its disk is not the same"
say "killed past its grace (disk kept), booted again by a top-up: QEMU $qemu, the same disk and host key"

# Release: ACPI power-off, change paid, nothing left behind.
prepay release "$s" >"$T/release.out" 2>&1 || fail "release failed: $(cat "$T/release.out")"
grep -q "change" "$T/release.out" || fail "release returned no change: $(cat "$T/release.out")"
gone "$qemu" || fail "QEMU still runs after release"
[ ! -e "$T/vm/$s" ] || fail "the guest's files are left: $(ls "$T/vm/$s")"
ss -tln "sport = :$port" | grep -q LISTEN && fail "port $port still listens"
grep -q "VM $s did not power off" "$T/prepayd.log" && fail "the guest did not power off by itself"
ledger_verify || fail "the books do not balance"
say "released: powered off, change returned, no QEMU, files or port left"
