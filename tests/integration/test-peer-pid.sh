#!/bin/bash
# attach moves the process that asked, never one that took its number
# later. A client connects, hands the connection to its parent and exits;
# a process of root's is given its pid (ns_last_pid, in a pid namespace of
# the test's own so that nothing else takes numbers meanwhile); the parent,
# as nobody with the slice's owner token, then asks "attach" and "kill" on
# that connection: with nothing beside the request, with a pidfd of its own,
# and with a pidfd of the process that now holds the number. Each time the
# attach is refused, root's process stays where it was and the kill does
# not touch it. A create with "attach" on such a connection is refused
# before its voucher is spent. A connecting process that sends a pidfd of
# another (its parent, root's) is refused too. The connecting process itself is moved when it asks (by
# SO_PEERPIDFD where the kernel has it, Linux 6.5; refused with the reason
# where not), and prepay run --slice, which sends a pidfd of itself, works.
if [ -z "${PREPAY_TEST_ID:-}" ] && [ "$(id -u)" -eq 0 ] &&
        unshare --pid --fork --mount --mount-proc true 2>/dev/null; then
        export PREPAY_TEST_ID=$$
        exec unshare --pid --fork --kill-child --mount --mount-proc "$BASH" "$0" "$@"
fi
. "$(dirname "$0")/lib.sh"

[ $$ -eq 1 ] || skip "needs a pid namespace of its own (unshare --pid --mount-proc)"
# systemd (PID 1 outside) would read the numbers of this namespace as its own.
[ "$BACKEND" = cgroupfs ] || skip "the daemon runs in the test's pid namespace, which systemd does not see into"
[ -w /proc/sys/kernel/ns_last_pid ] || skip "/proc/sys/kernel/ns_last_pid cannot be written"
command -v setpriv >/dev/null || skip "no setpriv (package util-linux)"
NOBODY=$(id -u nobody 2>/dev/null) || skip "no user nobody"
NOGROUP=$(id -g nobody)

chmod 0755 "$T"
write_config "[Daemon]
SocketMode=0666
ClientGroup=
[Money]
MinRuntimeSec=1s
$(cpu_prices 0.01)"
start_daemon

# A funded slice whose owner token the attacker holds.
prepay run --voucher "$(mint 1)" -- true 2>"$T/run.err" || fail "prepay run failed: $(cat "$T/run.err")"
s=$(slice_from_log "$T/run.err") || fail "no slice"
token=$(cat "$PREPAY_TOKEN_DIR/$s") || fail "no owner token saved"
slice_cg=$(cg_dir "" "$s")
[ -n "$slice_cg" ] || fail "no cgroup for $s"

attach='{"version":1,"op":"attach","slice":"'$s'","token":"'$token'"}'
kill='{"version":1,"op":"kill","slice":"'$s'","token":"'$token'"}'

in_slice() { grep -qx "$1" "$slice_cg/cgroup.procs"; }

# give_pid N: a process of root's with pid N, in VICTIM (no subshell: its
# fork would take a number).
give_pid() {
        local p
        VICTIM=
        for _ in $(seq 20); do
                echo $(($1 - 1)) >/proc/sys/kernel/ns_last_pid
                sleep 600 &
                p=$!
                BG_PIDS+=("$p")
                if [ "$p" = "$1" ]; then
                        VICTIM=$p
                        return 0
                fi
                kill -KILL "$p"
        done
        return 1
}

# swap_start WHAT MODE REQUEST...: helpers/peer-swap as nobody in MODE on
# this daemon's socket, as the coprocess SWAP (its pid in $swap), with the
# REQUESTs to send; its first line (a pid) in $first. swap_end lets it go.
swap_start() {
        local what=$1
        shift
        coproc SWAP { exec setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups \
                "$BIN/tests/peer-swap" "$1" "$PREPAY_SOCKET" "${@:2}" 2>&1; }
        swap=$SWAP_PID
        BG_PIDS+=("$swap")
        read -r -t 30 -u "${SWAP[0]}" first || fail "$what: peer-swap printed no pid"
}
swap_end() {
        echo done >&"${SWAP[1]}"
        wait "$swap" 2>/dev/null
}

for mode in none self stale; do
        swap_start "$mode" "$mode" "$attach" "$kill"
        gone=$first
        [[ $gone =~ ^[0-9]+$ ]] || fail "$mode: peer-swap said: $gone"
        give_pid "$gone" || fail "$mode: could not give pid $gone to a process of root's"
        echo go >&"${SWAP[1]}"
        read -r -t 30 -u "${SWAP[0]}" r_attach || fail "$mode: no reply to attach"
        read -r -t 30 -u "${SWAP[0]}" r_kill || fail "$mode: no reply to kill"
        swap_end

        kill -0 "$VICTIM" 2>/dev/null || fail "$mode: kill through a stale peer killed root's process $VICTIM"
        ! in_slice "$VICTIM" || fail "$mode: attach moved root's process $VICTIM into $s (reply: $r_attach)"
        grep -q "process $VICTIM moved in" "$T/prepayd.log" && fail "$mode: the daemon logged moving $VICTIM in"
        jq -e '.ok == false' <<<"$r_attach" >/dev/null || fail "$mode: attach was not refused: $r_attach"
        say "$mode: refused: $(jq -r .error <<<"$r_attach")"
        kill -KILL "$VICTIM"
        wait "$VICTIM" 2>/dev/null
done

# The same through create: a voucher offered with "attach" on a connection
# whose process is gone buys nothing and moves nothing.
v=$(mint 1)
create=$(jq -cn --arg v "$(cat "$v")" '{version: 1, op: "create", voucher: $v, limits: {}, attach: true}')
swap_start create none "$create"
gone=$first
[[ $gone =~ ^[0-9]+$ ]] || fail "create: peer-swap said: $gone"
give_pid "$gone" || fail "create: could not give pid $gone to a process of root's"
cg_before=$(cat "/proc/$VICTIM/cgroup")
echo go >&"${SWAP[1]}"
read -r -t 30 -u "${SWAP[0]}" r_create || fail "create: no reply"
swap_end
[ "$(cat "/proc/$VICTIM/cgroup")" = "$cg_before" ] ||
        fail "create: root's process $VICTIM was moved: $(cat "/proc/$VICTIM/cgroup") (reply: $r_create)"
jq -e '.ok == false' <<<"$r_create" >/dev/null || fail "create: not refused: $r_create"
say "create: refused: $(jq -r .error <<<"$r_create")"
kill -KILL "$VICTIM"
wait "$VICTIM" 2>/dev/null
# Nothing was spent: the voucher still buys.
prepay run --voucher "$v" -- true 2>"$T/run2.err" || fail "the voucher offered by create was spent: $(cat "$T/run2.err")"

# The process that connected asks, with a pidfd of another process (the
# test's own shell, root's, its parent).
swap_start foreign foreign "$attach"
echo go >&"${SWAP[1]}"
read -r -t 30 -u "${SWAP[0]}" r_attach || fail "foreign: no reply to attach"
swap_end
! in_slice $$ || fail "foreign: attach moved the test's shell (root's, pid $$) into $s"
jq -e '.ok == false' <<<"$r_attach" >/dev/null || fail "foreign: attach was not refused: $r_attach"
say "foreign: refused: $(jq -r .error <<<"$r_attach")"

# The process that connected, asking itself, with nothing beside it.
swap_start direct direct "$attach"
self=$first
echo go >&"${SWAP[1]}"
read -r -t 30 -u "${SWAP[0]}" r_attach || fail "direct: no reply to attach"
if jq -e '.ok == true' <<<"$r_attach" >/dev/null; then
        in_slice "$self" || fail "direct: attach said yes but $self is not in $s"
        say "direct: the connecting process was moved in (SO_PEERPIDFD)"
else
        grep -q "Linux 6.5" <<<"$r_attach" || fail "direct: refused without a reason: $r_attach"
        say "direct: refused, this kernel cannot pin the peer: $(jq -r .error <<<"$r_attach")"
fi
swap_end

# prepay sends a pidfd of itself: it is moved in on any kernel. A copy
# nobody can reach: the tree may be where nobody may look (a clone in
# /root, mode 0700, on a fresh machine).
install -m 0755 "$BIN/prepay" "$T/prepay"
out=$(setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups env PREPAY_TOKEN="$token" \
        "$T/prepay" run --slice "$s" -- cat /proc/self/cgroup 2>&1) || fail "prepay run --slice failed: $out"
grep -q "^0::.*/$s\$" <<<"$out" || fail "prepay run --slice did not run in $s: $out"
say "prepay run --slice: moved in with its pidfd"
