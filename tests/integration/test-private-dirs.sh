#!/bin/bash
# BpfPinPath= and StateDirectory= are refused at start, with the path, its
# owner and mode, when anyone but root could write them or swap them from
# a directory above: a tenant who made the pin directory in a 1777 bpffs
# could remove root's pins (and plant maps the meter would reuse), and the
# state directory holds the owner-token secret, the ledger and the slice
# records. Above the directory, a sticky one open to all (/tmp, a 1777
# /sys/fs/bpf) is fine. Only directories of the test's own are touched:
# $PIN (/sys/fs/bpf/prepay-test-<pid>, made 1777 here) and $T.
. "$(dirname "$0")/lib.sh"

NOBODY=$(id -u nobody 2>/dev/null) || skip "no user nobody"
as_nobody() { setpriv --reuid="$NOBODY" --regid="$(id -g nobody)" --clear-groups "$@"; }

write_config
mkdir "$PIN" && chmod 1777 "$PIN" || fail "cannot make $PIN"

# conf KEY VALUE: the test's config with one key changed, and a socket of
# its own ($T/refused-$n.sock); prints its path.
n=0
conf() {
        sed -e "s|^$1=.*|$1=$2|" -e "s|^ControlSocket=.*|ControlSocket=$T/refused-$n.sock|" "$CONF" >"$T/refused-$n.conf"
        grep -qx "$1=$2" "$T/refused-$n.conf" || fail "no $1= line to change in $CONF"
        echo "$T/refused-$n.conf"
}

# refused KEY VALUE PATTERN: prepayd with KEY=VALUE exits non-zero before
# it listens, and its log says PATTERN.
refused() {
        local c pid sock
        n=$((n + 1))
        c=$(conf "$1" "$2")
        sock=$T/refused-$n.sock
        "$BIN/prepayd" -c "$c" >"$T/refused-$n.log" 2>&1 &
        pid=$!
        BG_PIDS+=("$pid")
        exited_without_socket() {
                [ -S "$sock" ] && fail "prepayd started with $1=$2: $(cat "$T/refused-$n.log")"
                pid_gone "$pid"
        }
        wait_for 60 exited_without_socket
        wait "$pid" && fail "prepayd exited 0 with $1=$2"
        grep -qF -- "$3" "$T/refused-$n.log" ||
                fail "with $1=$2 prepayd did not say '$3': $(cat "$T/refused-$n.log")"
        say "$1=$2: $(grep -F -- "Refusing $1" "$T/refused-$n.log" | head -1)"
}

# A tenant's pin directory in a 1777 directory: refused, and nothing is
# pinned in it.
# Where nobody cannot reach $PIN (a bpffs mounted 0700 by systemd, as in
# the booted guest), root makes the directory and gives it to nobody.
if ! as_nobody mkdir "$PIN/pins" 2>/dev/null; then
        mkdir "$PIN/pins" && chown "$NOBODY" "$PIN/pins" || fail "cannot make $PIN/pins for nobody"
        say "nobody cannot reach $PIN ($(stat -c %a /sys/fs/bpf) /sys/fs/bpf): $PIN/pins made by root, given to nobody"
fi
refused BpfPinPath "$PIN/pins" \
        "Refusing BpfPinPath=$PIN/pins: $PIN/pins is owned by uid $NOBODY (mode 0755), not by root."
[ -z "$(ls -A "$PIN/pins")" ] || fail "prepayd pinned in the tenant's directory: $(ls "$PIN/pins")"
# Root's, but open to all.
mkdir "$PIN/open" && chmod 0777 "$PIN/open"
refused BpfPinPath "$PIN/open" "Refusing BpfPinPath=$PIN/open: $PIN/open is writable by others (mode 0777, owner uid 0)."
# Root's and private, in a directory anyone may rename it out of: the
# daemon makes it, refuses it and removes it again.
refused BpfPinPath "$PIN/open/pins" "Refusing BpfPinPath=$PIN/open/pins: $PIN/open is writable by others"
[ ! -e "$PIN/open/pins" ] || fail "the refused pin directory prepayd made is left"
# Root's and private, but holding a pin name someone else owns (bpffs
# takes symbolic links; one stands in for a map pinned while the
# directory was open).
mkdir -m 0700 "$PIN/planted" && ln -s /nowhere "$PIN/planted/cpu_ns" && chown -h "$NOBODY" "$PIN/planted/cpu_ns" ||
        fail "cannot plant a pin name in $PIN/planted"
refused BpfPinPath "$PIN/planted" "Refusing BpfPinPath=$PIN/planted: $PIN/planted/cpu_ns is owned by uid $NOBODY, not by root."

# The state directory: open to all, a tenant's, or under a directory
# anyone may write. Nothing is written in it.
mkdir "$T/open-state" && chmod 0777 "$T/open-state"
refused StateDirectory "$T/open-state" \
        "Refusing StateDirectory=$T/open-state: $T/open-state is writable by others (mode 0777, owner uid 0)."
[ -z "$(ls -A "$T/open-state")" ] || fail "prepayd wrote in the refused state directory: $(ls "$T/open-state")"
mkdir "$T/tenant-state" && chown "$NOBODY" "$T/tenant-state"
refused StateDirectory "$T/tenant-state" "$T/tenant-state is owned by uid $NOBODY (mode 0755), not by root."
[ -z "$(ls -A "$T/tenant-state")" ] || fail "prepayd wrote in the tenant's state directory"
mkdir "$T/pub" && chmod 0777 "$T/pub"
refused StateDirectory "$T/pub/state" "Refusing StateDirectory=$T/pub/state: $T/pub is writable by others"

# The daemon's own: made 0700 beneath the 1777 $PIN (as beneath a 1777
# /sys/fs/bpf) and in $T; it starts and pins there.
sed -i "s|^BpfPinPath=.*|BpfPinPath=$PIN/mine|" "$CONF"
start_daemon
[ "$(stat -c %a "$PIN/mine")" = 700 ] || fail "the pin directory prepayd made is mode $(stat -c %a "$PIN/mine"), not 700"
[ -e "$PIN/mine/cpu_ns" ] || fail "prepayd did not pin in the directory it made"
[ "$(stat -c %a "$T/state")" = 700 ] || fail "the state directory prepayd made is mode $(stat -c %a "$T/state"), not 700"
say "BpfPinPath=$PIN/mine and StateDirectory=$T/state, made by prepayd: 0700, used"
exit 0
