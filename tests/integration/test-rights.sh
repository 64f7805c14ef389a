#!/bin/bash
# Who may do what, with users and groups of the test's own: the control
# socket belongs to ClientGroup=; a user outside it is refused (by the
# socket's mode, then by the daemon, which logs it); members quote, buy,
# top up, list their own slices only, and act on a slice's work (release,
# kill, run in it) only with its owner token; a member of AdminGroup=
# lists every slice, kills and releases another's without the token, and
# reloads, which a member may not. ClientGroup= empty lets everyone in.
. "$(dirname "$0")/lib.sh"

command -v useradd >/dev/null && command -v groupadd >/dev/null || skip "no useradd/groupadd (package passwd)"
command -v setpriv >/dev/null || skip "no setpriv (package util-linux)"

# Names of our own, removed by lib.sh's cleanup whatever happens.
P=prt$$
CLIENTS=${P}c
ADMINS=${P}a
add_group "$CLIENTS"
add_group "$ADMINS"
# Ann and Bob are clients, Eve is in neither group, Ops is an admin.
ANN=${P}ann BOB=${P}bob EVE=${P}eve OPS=${P}ops
add_user "$ANN" "$CLIENTS"
add_user "$BOB" "$CLIENTS"
add_user "$EVE"
# The socket is ClientGroup='s: an operator who is to reach it with the
# default SocketMode= is in that group too (prepayd.conf(5)).
add_user "$OPS" "$ADMINS,$CLIENTS"

# prepay_as USER ARGS...: prepay as that user (lib.sh's "as": its groups,
# its own token directory, no token from the environment).
prepay_as() { as "$1" "$BIN/prepay" "${@:2}"; }

# voucher_for USER AMOUNT: a voucher file only USER (and root) may read.
voucher_for() {
        local f
        f=$(mktemp "$T/voucher-$1.XXXXXX")
        cp "$(mint "$2")" "$f" && chown "$1" "$f" && echo "$f"
}

# expect_denied PATTERN USER ARGS...: the command fails saying PATTERN.
expect_denied() {
        local pat=$1 out
        shift
        out=$(prepay_as "$@" 2>&1 </dev/null) && fail "'prepay ${*:2}' as $1 succeeded: $out"
        grep -q -- "$pat" <<<"$out" || fail "'prepay ${*:2}' as $1 said '$out', expected '$pat'"
}

chmod 0755 "$T"
write_config "[Daemon]
ClientGroup=$CLIENTS
AdminGroup=$ADMINS
[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=0.01
MemoryGiBHour=0
SliceHour=0"
start_daemon

# The socket: ClientGroup='s, mode 0660 (the default SocketMode=).
[ "$(stat -c '%G %a' "$PREPAY_SOCKET")" = "$CLIENTS 660" ] ||
        fail "the socket is $(stat -c '%G %a' "$PREPAY_SOCKET"), expected $CLIENTS 660"

# Eve cannot even connect, and is told why.
expect_denied "Permission denied connecting to $PREPAY_SOCKET: your user must be in the daemon's client group" \
        "$EVE" list
# With the socket opened by hand, the daemon refuses her itself, and logs it.
chmod 0666 "$PREPAY_SOCKET"
expect_denied "Permission denied: uid $(id -u "$EVE") is not in group $CLIENTS (ClientGroup=)" "$EVE" quote
grep -q "Denied \"quote\" to uid $(id -u "$EVE") (pid [0-9]*): uid $(id -u "$EVE") is not in group" \
        "$T/prepayd.log" || fail "the refusal of a non-member is not in the daemon's log"
expect_denied "is not in group $CLIENTS" "$EVE" topup s-00000000 --voucher /dev/null
chmod 0660 "$PREPAY_SOCKET"
say "a non-member: refused by the socket, then by the daemon (logged)"

# Ann quotes, buys and tops up.
prepay_as "$ANN" quote --cpus 1 --hours 1 >/dev/null || fail "a member could not quote"
bg_as "$ANN" "$BIN/prepay" run --voucher "$(voucher_for "$ANN" 1.00)" --cpus 0.1 -- sleep 60 2>"$T/ann.err"
sa=$(slice_from_log "$T/ann.err") || fail "a member could not buy a slice: $(cat "$T/ann.err")"
ta=$(owner_token_in "$T/ann.err")
[ -n "$ta" ] || fail "no owner token for the member's slice"
prepay_as "$ANN" topup "$sa" --voucher "$(voucher_for "$ANN" 0.50)" >/dev/null || fail "a member could not top up"
[ "$(slice_field "$sa" .account.credited)" = 1500000 ] || fail "the member's top-up was not credited"

# Bob, a member too, cannot act on Ann's slice without its token...
expect_denied "Permission denied: releasing slice $sa needs its owner token" "$BOB" release "$sa"
expect_denied "Permission denied: slice $sa needs its owner token (the one given is wrong)" \
        "$BOB" kill "$sa" --token pt-wrong
expect_denied "Permission denied: slice $sa needs its owner token" "$BOB" run --slice "$sa" -- true
grep -q "Denied \"release\" to uid $(id -u "$BOB") .*needs its owner token" "$T/prepayd.log" ||
        fail "a refused release is not in the daemon's log"
[ "$(slice_field "$sa" .usage.pids_current)" -ge 1 ] || fail "a refused kill killed the slice's work"
# ...and can with it (from a file, for kill).
echo "$ta" >"$T/ta" && chmod 0644 "$T/ta"
prepay_as "$BOB" kill "$sa" --token-file "$T/ta" 2>/dev/null || fail "kill with the owner token failed"
wait_for 2 field_is "$sa" .usage.pids_current 0
[ "$(slice_field "$sa" .usage.pids_current)" = 0 ] || fail "processes left in the slice after kill"
[ "$(slice_field "$sa" .account.state)" = active ] || fail "kill changed the slice's money state"
prepay_as "$BOB" run --slice "$sa" --token "$ta" -- true 2>/dev/null || fail "running in the slice with its token failed"
say "another member: refused without the owner token, served with it"

# Each member lists only their own slices, and is told so.
bg_as "$BOB" "$BIN/prepay" run --voucher "$(voucher_for "$BOB" 1.00)" --cpus 0.1 -- sleep 60 2>"$T/bob.err"
sb=$(slice_from_log "$T/bob.err") || fail "the second member could not buy a slice: $(cat "$T/bob.err")"
[ "$(prepay_as "$ANN" list --json 2>"$T/list.err" | jq -r '[.[].id] | join(" ")')" = "$sa" ] ||
        fail "a member's list is not their slice $sa alone"
grep -q "Only the slices of uid $(id -u "$ANN") are shown" "$T/list.err" || fail "a filtered list does not say so"
prepay_as "$BOB" list 2>/dev/null | grep -q "$sa" && fail "a member's list shows another's slice"
prepay_as "$BOB" list 2>/dev/null | grep -q "$sb" || fail "a member's list lacks their own slice"
expect_denied "the events of every slice are for operators" "$BOB" events
# One slice's events are for its owner token (test-limits.sh has more).
expect_denied "following the events of slice $sa needs its owner token" "$BOB" events "$sa"
timeout 1 setpriv --reuid="$BOB" --regid="$(id -g "$BOB")" --init-groups "$BIN/prepay" events "$sa" --token "$ta" \
        >/dev/null 2>"$T/events.err"
[ $? = 124 ] || fail "a member could not follow one slice's events with its token: $(cat "$T/events.err")"
say "members: lists of their own slices only"

# The admin: every slice, kill and release of another's without a token.
[ "$(prepay_as "$OPS" list --json 2>"$T/ops.err" | jq -r '[.[].id] | sort | join(" ")')" = \
        "$(printf '%s\n' "$sa" "$sb" | sort | paste -sd ' ')" ] || fail "the admin does not list every slice"
grep -q "Only the slices" "$T/ops.err" && fail "the admin's list says it is filtered"
prepay_as "$OPS" kill "$sb" 2>/dev/null || fail "the admin could not kill another's slice"
wait_for 2 field_is "$sb" .usage.pids_current 0
[ "$(slice_field "$sb" .usage.pids_current)" = 0 ] || fail "processes left in the slice the admin killed"
prepay_as "$OPS" release "$sb" >"$T/ops.change" 2>/dev/null || fail "the admin could not release another's slice"
grep -q '^pv1-' "$T/ops.change" || fail "the admin's release printed no change voucher"
grep -q "Slice $sb released: .* (by operator uid $(id -u "$OPS") without the owner token)" "$T/prepayd.log" ||
        fail "a release by an operator is not logged as such"
say "the admin: every slice listed, another's killed and released (change to the admin)"

# Reload: operators only.
expect_denied "Permission denied: \"reload\" is for operators" "$ANN" reload
prepay_as "$OPS" reload 2>/dev/null || fail "the admin could not reload"
grep -q "Reloaded" "$T/prepayd.log" || fail "no reload logged"

# ClientGroup= empty: every local user is a client, and the socket is
# root's again (SocketMode= decides who reaches it).
write_config "[Daemon]
ClientGroup=
AdminGroup=$ADMINS
SocketMode=0666"
prepay_as "$OPS" reload 2>/dev/null || fail "the admin could not reload"
[ "$(stat -c %G "$PREPAY_SOCKET")" = root ] || fail "with no ClientGroup= the socket is not root's again"
chmod 0666 "$PREPAY_SOCKET"
prepay_as "$EVE" quote --cpus 1 --hours 1 >/dev/null || fail "with ClientGroup= empty, a user was refused"
say "reload for the admin only; ClientGroup= empty lets every user in"

prepay release "$sa" >/dev/null 2>&1 || fail "root could not release the member's slice"
exit 0
