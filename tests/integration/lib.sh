# SPDX-License-Identifier: LGPL-2.1-or-later
# Sourced by every integration test; it sources tests/lib.sh first (say,
# fail, skip, wait_for, mint and the other helpers the system tests share).
# Each test runs its own prepayd on its own throwaway names: cgroup root
# "prepay-test-<pid>" beneath the test's own cgroup in every hierarchy, BPF
# pins in /sys/fs/bpf/prepay-test-<pid>, socket and state in a temporary
# directory. The EXIT trap removes all of it, whatever happened, and ends
# only processes the test started.

. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

BIN=$(cd "$O" && pwd)
# A test that re-runs itself in a pid namespace of its own is pid 1 there:
# it names itself after its pid outside (PREPAY_TEST_ID).
ID=prepay-test-${PREPAY_TEST_ID:-$$}
T=$(mktemp -d "/tmp/$ID.XXXXXX")
# Until the cleanup below is in place: a test skipped on the way leaves
# no directory behind.
trap 'rm -rf "$T"' EXIT
PIN=/sys/fs/bpf/$ID
CONF=$T/prepayd.conf
export PREPAY_SOCKET=$T/control.sock
DAEMON_PID=
MOUNTS=() # mounts the test made, unmounted by cleanup once the daemon is gone

# The python3 a test runs as a peer writes its output as it goes: a test
# reads it while the helper runs (a marker file says how far it got).
export PYTHONUNBUFFERED=1

[ "$(id -u)" -eq 0 ] || skip "needs root (cgroups and BPF)"
[ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" = bpf_fs ] ||
        skip "no BPF filesystem at /sys/fs/bpf (tests/run-all mounts one)"

V2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$V2" ] || skip "no cgroup v2 hierarchy mounted"
# Hybrid when v1 controllers are mounted beside the v2 tree.
if awk '$3 == "cgroup" { found = 1 } END { exit !found }' /proc/mounts; then
        HYBRID=1
else
        HYBRID=0
fi

# The slice backend the test's daemon uses: cgroupfs (the default: a
# subtree beneath the test's own cgroup, as described above) or systemd
# (PREPAY_TEST_BACKEND=systemd: slices are units prepay-s-<hex>.slice in
# prepay-s.slice, which needs systemd as PID 1 on a pure v2 host; the
# suites in tests/system/ use it).
BACKEND=${PREPAY_TEST_BACKEND:-cgroupfs}
case $BACKEND in
cgroupfs) ;;
systemd)
        [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ] && [ -d /run/systemd/system ] ||
                skip "the systemd backend needs systemd as PID 1"
        [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] ||
                skip "the systemd backend needs a pure cgroup v2 hierarchy at /sys/fs/cgroup"
        # Units a test's daemon makes are not beneath the test's cgroup:
        # cleanup stops the ones that were not there before the test.
        SYSTEMD_UNITS_BEFORE=" $(systemctl list-units --state=active --plain --no-legend 'prepay-s-*.slice' 'prepay-s.slice' \
                'prepay.slice' 2>/dev/null | awk '{ print $1 }' | tr '\n' ' ') "
        ;;
*) echo "PREPAY_TEST_BACKEND=$BACKEND: must be cgroupfs or systemd" >&2; exit 2 ;;
esac

# cg_dir HIER SLICE: the slice's directory in one hierarchy ("unified" or
# "" for the v2 tree, else a v1 controller such as cpuacct).
cg_dir() {
        local base cg
        if [ "$BACKEND" = systemd ]; then
                cg=$(systemctl show -p ControlGroup --value "prepay-$2.slice" 2>/dev/null)
                [ -n "$cg" ] && [ -d "$V2$cg" ] && echo "$V2$cg"
                return 0
        fi
        if [ -z "$1" ] || [ "$1" = unified ]; then
                base=$V2
        else
                base=/sys/fs/cgroup/$1
        fi
        find "$base" -maxdepth 8 -type d -path "*/$ID/$2" -print -quit 2>/dev/null
}

# The kernel's own CPU time of a slice, in microseconds, independent of the
# eBPF meter: v1 cpuacct.usage where it is mounted, else v2 cpu.stat.
kernel_cpu_usec() {
        local d
        if [ "$HYBRID" = 1 ] && d=$(cg_dir cpuacct "$1") && [ -n "$d" ]; then
                echo $(($(cat "$d/cpuacct.usage") / 1000))
        else
                d=$(cg_dir "" "$1")
                awk '$1 == "usage_usec" { print $2 }' "$d/cpu.stat"
        fi
}

# kernel_cpu_limit_milli SLICE: the CPU limit the kernel enforces on a
# slice, in milli-CPUs (quota x 1000 / period; "max" when there is none):
# v1 cpu.cfs_quota_us/cpu.cfs_period_us on hybrid, else v2 cpu.max.
kernel_cpu_limit_milli() {
        local d q p
        if [ "$HYBRID" = 1 ] && d=$(cg_dir cpu "$1") && [ -n "$d" ]; then
                q=$(cat "$d/cpu.cfs_quota_us") p=$(cat "$d/cpu.cfs_period_us")
                [ "$q" = -1 ] && q=max
        else
                d=$(cg_dir "" "$1")
                read -r q p <"$d/cpu.max"
        fi
        if [ "$q" = max ]; then echo max; else echo $((q * 1000 / p)); fi
}

# On pure v2 a cgroup that holds processes cannot hand controllers to its
# children ("no internal processes"), and the test shares its cgroup with
# the daemon it starts. So the root goes beside the test's cgroup, in the
# parent that the harness delegated (tests/vm runs the suite in a leaf of a
# Delegate=yes unit), named by an absolute CgroupRoot=. On hybrid the v1
# limits work beneath any cgroup, so the default relative form is used.
if [ "$HYBRID" = 1 ]; then
        CGROUP_ROOT=$ID
else
        own=$(sed -n 's/^0:://p' /proc/self/cgroup)
        CGROUP_ROOT=${own%/*}/$ID
        CGROUP_ROOT=/${CGROUP_ROOT#/}
fi

# Every test's daemon trusts the test's own issuer key ($T/issuer.key,
# made by "prepay keygen" on first use) and takes EUR on host "test-host".
# The metering tests of the foundation run unfunded slices as root
# (AllowUnfunded=yes); money tests that need it off say so in their extra
# lines, which come last and so win.
write_config() {
        cat >"$CONF" <<CONF
[Daemon]
ControlSocket=$PREPAY_SOCKET
StateDirectory=$T/state
LogLevel=debug
[Cgroup]
Backend=$BACKEND
$([ "$BACKEND" = cgroupfs ] && echo "CgroupRoot=$CGROUP_ROOT")
[Meter]
BpfPinPath=$PIN
[Money]
Currency=EUR
IssuersDirectory=$T/issuers.d
HostId=test-host
AllowUnfunded=yes
$*
CONF
}

# write_cpu_priced_config [ENFORCE-LINE...]: a cent per CPU-second and
# nothing else priced (memory, traffic out, I/O), MinRuntimeSec=1s, and
# the lines given under [Enforce]: the enforcement tests' money, where a
# burner's balance runs out in seconds at a known rate.
write_cpu_priced_config() {
        local IFS=$'\n'
        write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=0.01
MemoryGiBHour=0
NetOutGiB=0
IOGiB=0
[Enforce]
$*"
}

LEDGER=$T/state/ledger.db
ISSUER_KEY=$T/issuer/issuer.key

# The test's issuer: a key pair, its public half trusted by the daemon.
make_issuer() {
        [ -f "$ISSUER_KEY" ] && return 0
        prepay keygen --out "$T/issuer" >/dev/null || fail "prepay keygen failed"
        mkdir -p "$T/issuers.d"
        cp "$T/issuer/issuer.pub" "$T/issuers.d/test.pub"
}

# The books must balance after every test that kept a ledger.
ledger_verify() {
        [ -f "$LEDGER" ] || return 0
        prepay ledger verify --ledger "$LEDGER"
}

daemon_answers() { [ -S "$PREPAY_SOCKET" ] && "$BIN/prepay" list >/dev/null 2>&1; }
daemon_gone() { pid_gone "$DAEMON_PID"; }
answers_or_gone() { daemon_answers || daemon_gone; }

start_daemon() {
        [ -f "$CONF" ] || write_config
        make_issuer
        "$BIN/prepayd" -c "$CONF" >>"$T/prepayd.log" 2>&1 &
        DAEMON_PID=$!
        wait_for 20 answers_or_gone && daemon_answers && return 0
        cat "$T/prepayd.log"
        fail "prepayd did not start"
}

stop_daemon() {
        [ -n "$DAEMON_PID" ] || return 0
        kill -TERM "$DAEMON_PID" 2>/dev/null
        wait_for 5 daemon_gone
        kill -KILL "$DAEMON_PID" 2>/dev/null
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
}

kill_daemon() {
        kill -KILL "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null
        DAEMON_PID=
}

prepay() { "$BIN/prepay" "$@"; }
# Tokens "prepay run" saves stay inside the test's directory.
export PREPAY_TOKEN_DIR=$T/tokens

# wait_state SLICE STATE SECONDS: until the daemon reports the slice's
# enforcement as STATE (ok, low, throttled, frozen, killed).
wait_state() { wait_for "$3" field_is "$1" .account.enforcement "$2"; }

# Stops the prepay units that appeared during the test, slices first
# (stopping a slice stops what runs in it), then the roots if they were
# made by it. Units a test starts itself are named "$ID-...".
systemd_cleanup() {
        local u cg pid
        systemctl kill --signal=KILL "$ID-*" 2>/dev/null
        systemctl stop "$ID-*" 2>/dev/null
        for u in $(systemctl list-units --state=active --plain --no-legend 'prepay-s-*.slice' 2>/dev/null | awk '{ print $1 }'); do
                case $SYSTEMD_UNITS_BEFORE in *" $u "*) continue ;; esac
                cg=$(systemctl show -p ControlGroup --value "$u" 2>/dev/null)
                if [ -n "$cg" ] && [ -d "$V2$cg" ]; then
                        for pid in $(find "$V2$cg" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                                kill -KILL "$pid" 2>/dev/null
                        done
                fi
                systemctl stop "$u" 2>/dev/null
        done
        for u in prepay-s.slice prepay.slice; do
                case $SYSTEMD_UNITS_BEFORE in *" $u "*) continue ;; esac
                systemctl is-active -q "$u" && systemctl stop "$u" 2>/dev/null
        done
}

# events_taken: how many "events" requests the test's prepayd has taken
# (LogLevel=debug logs each). A stream is subscribed in the step that
# takes its request, so an event after the count grows reaches it:
#   n=$(events_taken); start a stream; wait_for 10 events_above "$n"
events_taken() { grep -c 'Request "events"' "$T/prepayd.log"; }
events_above() { [ "$(events_taken)" -gt "$1" ]; }

# raw_hex PUB: the raw 32-byte key of a .pub file (the DER's last 32 bytes),
# as the ledger's export and prepayd's replies spell it.
raw_hex() { grep -v -- '-----' "$1" | base64 -d | tail -c 32 | od -An -tx1 | tr -d ' \n'; }

# be64 N: N as 8 bytes, big-endian (printf alone: the booted guest has
# no xxd).
be64() {
        local hex i
        hex=$(printf '%016x' "$1")
        for ((i = 0; i < 16; i += 2)); do
                printf "\\x${hex:i:2}"
        done
}

# funder_statement SLICE NAMED_PUB SIGNER_KEY PURPOSE HOST_ID: a funder's
# statement (common/claim.h's bytes, version 2) made by hand with openssl,
# as an attacker could: it names NAMED_PUB's key (a .pub file), SIGNER_KEY
# signs it, for PURPOSE (c: a claim, e: an events proof) on HOST_ID, now.
funder_statement() {
        local slice=$1 named=$2 signer=$3 purpose=$4 host=$5 t
        t=$(date +%s%6N)
        {
                printf 'PPC\x02%s' "$purpose"
                be64 "$t"
                grep -v -- '-----' "$named" | base64 -d | tail -c 32
                printf "\\x$(printf %02x ${#host})%s" "$host"
                printf "\\x$(printf %02x ${#slice})%s" "$slice"
        } >"$T/statement.bytes"
        openssl pkeyutl -sign -inkey "$signer" -rawin -in "$T/statement.bytes" -out "$T/statement.sig" 2>/dev/null ||
                fail "openssl cannot sign with $signer"
        printf 'pc1-%s' "$(cat "$T/statement.bytes" "$T/statement.sig" | base64 -w0 | tr '+/' '-_' | tr -d '=')"
}

# tiny_image: sets IMAGES to a directory holding the tiny VM image
# (debian-12-tiny: a kernel and an initramfs answering on the forwarded
# port) for tests about what is around a guest, not the guest: the one
# the tests/vm payload carries in the emulated guest (skipped without
# it), else built by tools/prepay-mkimage --tiny (cached) into $T/images.
tiny_image() {
        IMAGE=debian-12-tiny
        if [ "$EMULATED" = 1 ]; then
                IMAGES=${PREPAY_VM_IMAGES:-}
                [ -n "$IMAGES" ] && [ -f "$IMAGES/$IMAGE.image" ] || skip "no tiny image in the guest's payload"
        else
                IMAGES=$T/images
                "$(dirname "${BASH_SOURCE[0]}")/../../tools/prepay-mkimage" --tiny --output "$IMAGES" \
                        >"$T/mkimage.log" 2>&1 || fail "prepay-mkimage --tiny failed: $(tail -5 "$T/mkimage.log")"
        fi
}

# Users and groups a test makes (add_group, add_user), removed by
# cleanup once nothing of the test runs any more.
MADE_USERS=()
MADE_GROUPS=()

# add_group NAME: a throwaway system group.
add_group() {
        getent group "$1" >/dev/null && fail "group $1 exists already"
        groupadd -r "$1" || fail "groupadd $1 failed"
        MADE_GROUPS+=("$1")
}

# add_user NAME [GROUPS]: a throwaway system user without a home or a
# login shell, in GROUPS (comma-separated) if given, with a token
# directory of its own, $T/tokens-NAME (where "as" points it).
add_user() {
        getent passwd "$1" >/dev/null && fail "user $1 exists already"
        useradd -r -M -N -s /usr/sbin/nologin ${2:+-G "$2"} "$1" || fail "useradd $1 failed"
        MADE_USERS+=("$1")
        install -d -o "$1" -m 0700 "$T/tokens-$1"
}

# start_gateway_daemon PREFIX [EXTRA-CONFIG]: prepayd for a gateway's
# tests: clients are group PREFIXc, and user PREFIXgw (in it) is its
# gateway (GatewayUser=); unfunded slices off; EXTRA-CONFIG last.
start_gateway_daemon() {
        add_group "${1}c"
        add_user "${1}gw" "${1}c"
        chmod 0755 "$T"
        write_config "[Daemon]
ClientGroup=${1}c
[Money]
MinRuntimeSec=1s
AllowUnfunded=no
[Control]
GatewayUser=${1}gw
${2:-}"
        start_daemon
}

# rmdir_tree DIR: removes the cgroup DIR and every cgroup beneath it.
rmdir_tree() { find "$1" -depth -type d -exec rmdir {} + 2>/dev/null; }

remove_accounts() {
        local n
        for n in "${MADE_USERS[@]}"; do
                # Killed processes may still be going away.
                wait_for 2 userdel "$n" || say "could not remove user $n"
        done
        for n in "${MADE_GROUPS[@]}"; do groupdel "$n" 2>/dev/null; done
}

cleanup() {
        local rc=$? d pid
        for pid in "${BG_PIDS[@]}"; do
                kill -KILL "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
        done
        stop_daemon
        if [ "$rc" -eq 0 ] && [ -f "$LEDGER" ]; then
                ledger_verify >"$T/verify.out" 2>&1 || {
                        say "FAIL: ledger verify after the test: $(cat "$T/verify.out")"
                        rc=1
                }
        fi
        for d in "${MOUNTS[@]}"; do
                umount "$d" 2>/dev/null || umount -l "$d"
        done
        # Whatever is still inside our cgroups was started by this test.
        for d in $(find /sys/fs/cgroup -maxdepth 8 -type d -name "$ID" 2>/dev/null); do
                for pid in $(find "$d" -name cgroup.procs -exec cat {} + 2>/dev/null); do
                        kill -KILL "$pid" 2>/dev/null
                done
        done
        wait 2>/dev/null
        [ "$BACKEND" = systemd ] && systemd_cleanup
        remove_accounts
        for d in $(find /sys/fs/cgroup -maxdepth 8 -type d -name "$ID" 2>/dev/null); do
                wait_for 2 rmdir_tree "$d"
        done
        rm -rf "$PIN"
        if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -f "$T/prepayd.log" ]; then
                say "prepayd log (last 40 lines):"
                tail -n 40 "$T/prepayd.log" | sed 's/^/  | /'
        fi
        rm -rf "$T"
        exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v jq >/dev/null || skip "jq is not installed (packaging/build-deps installs it)"
