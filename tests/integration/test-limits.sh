#!/bin/bash
# One tenant against everyone (issue 11, items 3 and 6): a uid that opens
# connections in a loop holds MaxConnectionsPerUser= of them, and the
# rest of its connections are told why and closed; the last
# OperatorConnections= places are the operators', so root's "prepay list"
# works however many connections tenants hold; the refusals are logged a
# few times, not once each; a connection that sends nothing is told so
# and closed after IdleTimeoutSec=. Event streams only for a slice that
# exists, only with its owner token (or its owner's uid, or an
# operator), at most MaxEventStreamsPerUser= per uid, and the operator's
# stream still opens. A member without the token sees a slice's public
# part only (id, state, balance, burn rate, time left; no usage, cgroup,
# limits or credits), with the token everything.
. "$(dirname "$0")/lib.sh"

command -v useradd >/dev/null && command -v groupadd >/dev/null || skip "no useradd/groupadd (package passwd)"
command -v setpriv >/dev/null || skip "no setpriv (package util-linux)"
# A python3 the test's users may run (not one in root's home).
PY=
for p in /usr/bin/python3 /usr/local/bin/python3; do
        [ -x "$p" ] && PY=$p && break
done
[ -n "$PY" ] || skip "no /usr/bin/python3 (it opens the many connections)"

# Users and groups of our own (lib.sh's add_user and add_group), removed
# by lib.sh's cleanup whatever happens; "as" and "bg_as" run a command as
# one of them, with its token directory $T/tokens-USER.
P=plt$$
CLIENTS=${P}c
ADMINS=${P}a
add_group "$CLIENTS"
add_group "$ADMINS"
# Ann and Bob are clients.
ANN=${P}ann BOB=${P}bob
add_user "$ANN" "$CLIENTS"
add_user "$BOB" "$CLIENTS"
chmod 0755 "$T"

# wait_file FILE WHAT: until FILE exists (a helper says it got that far).
wait_file() { wait_for 60 test -e "$1" || fail "$2"; }

# The peer's side: plain SOCK_SEQPACKET connections, as many as asked.
cat >"$T/peer.py" <<'PY'
import json, os, select, socket, sys, time

path = os.environ["PREPAY_SOCKET"]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    return s

def message(s, deadline):
    """The next datagram (b"" at the end of the stream)."""
    r, _, _ = select.select([s], [], [], max(0, deadline - time.monotonic()))
    if not r:
        sys.exit("no answer from prepayd in time")
    return s.recv(65536)

def error(data):
    return json.loads(data).get("error", "") if data else "(end of stream)"

mode = sys.argv[1]
deadline = time.monotonic() + 120
if mode == "flood":
    # flood N HELD MARKER RELEASE: N connections that send nothing; all
    # but HELD are refused; then the held ones are kept until RELEASE
    # exists, and must all still be open then.
    n, held, marker, release = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    open_ = [connect() for _ in range(n)]
    refusals = {}
    while len(open_) > held:
        r, _, _ = select.select(open_, [], [], max(0, deadline - time.monotonic()))
        if not r:
            sys.exit("%d connections refused, %d open: expected %d open" % (n - len(open_), len(open_), held))
        for s in r:
            e = error(s.recv(65536))
            refusals[e] = refusals.get(e, 0) + 1
            open_.remove(s)
            s.close()
    for e, k in sorted(refusals.items()):
        print("refused %d: %s" % (k, e))
    open(marker, "w").close()
    while not os.path.exists(release):
        r, _, _ = select.select(open_, [], [], 0.1)
        if r:
            sys.exit("a held connection was closed early: %s" % error(r[0].recv(65536)))
    print("held %d" % len(open_))
elif mode == "idle":
    # idle N: N connections that send nothing, each told why and closed.
    conns = [connect() for _ in range(int(sys.argv[2]))]
    start = time.monotonic()
    for s in conns:
        first, last = message(s, deadline), message(s, deadline)
        print("closed: %s, then %s" % (error(first), error(last)))
    print("after %.1fs" % (time.monotonic() - start))
elif mode == "events":
    # events N MARKER RELEASE SLICE [TOKEN]: N event streams asked for, each
    # reply printed; those taken are kept until RELEASE exists.
    n, marker, release, slice_ = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
    req = {"op": "events", "slice": slice_}
    if len(sys.argv) > 6:
        req["token"] = sys.argv[6]
    kept = []
    for _ in range(n):
        s = connect()
        s.send(json.dumps(req).encode())
        data = message(s, deadline)
        if json.loads(data).get("ok"):
            print("subscribed")
            kept.append(s)
        else:
            print("refused: %s" % error(data))
            s.close()
    sys.stdout.flush()
    open(marker, "w").close()
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
PY

write_config "[Daemon]
ClientGroup=$CLIENTS
AdminGroup=$ADMINS
[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=0.01
MemoryGiBHour=0
SliceHour=0
[Control]
MaxConnections=12
OperatorConnections=4
MaxConnectionsPerUser=6
MaxEventStreamsPerUser=2
IdleTimeoutSec=1h"
start_daemon

# Ann opens 64 connections and sends nothing: she keeps 6, the other 58
# are told why; Bob then gets one of the 2 places left to clients and
# not a third: the last 4 are kept for operators, and root gets one.
bg_as "$ANN" "$PY" "$T/peer.py" flood 64 6 "$T/tokens-$ANN/held" "$T/release" >"$T/flood.out" 2>&1
wait_file "$T/tokens-$ANN/held" "64 connections of one uid: not all but 6 refused: $(cat "$T/flood.out")"
grep -qx "refused 58: Too many connections of uid $(id -u "$ANN"): at most 6 at once (MaxConnectionsPerUser=)" \
        "$T/flood.out" || fail "the refused connections were not told why: $(cat "$T/flood.out")"
bg_as "$BOB" "$PY" "$T/peer.py" flood 3 2 "$T/tokens-$BOB/held" "$T/release" >"$T/flood-bob.out" 2>&1
wait_file "$T/tokens-$BOB/held" "a second uid: not all but 2 refused: $(cat "$T/flood-bob.out")"
grep -qx "refused 1: Too many connections: the 4 places left are kept for operators (OperatorConnections=); try again later" \
        "$T/flood-bob.out" || fail "a second uid was not refused the operators' places: $(cat "$T/flood-bob.out")"
out=$(as "$BOB" "$BIN/prepay" quote --cpus 1 --hours 1 2>&1) && fail "a client got an operator's place"
grep -q "kept for operators" <<<"$out" || fail "the prepay CLI did not say why it was refused: $out"
prepay list >/dev/null 2>"$T/list.err" || fail "root's list failed while tenants hold connections: $(cat "$T/list.err")"
touch "$T/release"
wait "${BG_PIDS[@]}" || fail "the held connections did not stay: $(cat "$T/flood.out" "$T/flood-bob.out")"
grep -qx "held 6" "$T/flood.out" || fail "the tenant's connections did not stay open: $(cat "$T/flood.out")"
BG_PIDS=()
say "64 connections of one uid: 6 kept, 58 told why; the operators' places kept; root's list works"

# 60 refusals within a few seconds: one warning with the count, not 60.
n=$(grep -c "Refused [0-9]* control connection" "$T/prepayd.log")
[ "$n" -ge 1 ] && [ "$n" -le 3 ] || fail "the refusals were logged $n times"
grep -q "Refused 1 control connection since the last such warning; the latest, of pid [0-9]* uid $(id -u "$ANN"): Too many" \
        "$T/prepayd.log" || fail "the first refusal was not logged"
say "the refusals are logged $n time(s), not 60"

# Idle connections are closed after IdleTimeoutSec=, and told why.
sed -i 's/^IdleTimeoutSec=.*/IdleTimeoutSec=1s/' "$CONF"
prepay reload 2>/dev/null || fail "reload failed"
as "$ANN" "$PY" "$T/peer.py" idle 6 >"$T/idle.out" 2>&1 || fail "idle connections: $(cat "$T/idle.out")"
[ "$(grep -c '^closed: No request came for 1s (IdleTimeoutSec=): closing the connection, then (end of stream)$' \
        "$T/idle.out")" = 6 ] || fail "the idle connections were not closed as said: $(cat "$T/idle.out")"
prepay list >/dev/null 2>&1 || fail "root's list failed after the idle connections went"
say "connections that send nothing: told and closed after IdleTimeoutSec=1s ($(tail -n1 "$T/idle.out"))"

# Ann buys a slice (her token saved in her directory).
v=$(mktemp "$T/voucher.XXXXXX") && cp "$(mint 1.00)" "$v" && chown "$ANN" "$v"
bg_as "$ANN" "$BIN/prepay" run --voucher "$v" --cpus 0.1 -- sleep 120 2>"$T/ann.err"
sa=$(slice_from_log "$T/ann.err") || fail "a member could not buy a slice: $(cat "$T/ann.err")"
ta=$(owner_token_in "$T/ann.err")
[ -n "$ta" ] || fail "no owner token for the member's slice"

# Bob without the token: the public part only, and told so.
as "$BOB" "$BIN/prepay" status "$sa" --json >"$T/pub.json" 2>&1 || fail "status without the token: $(cat "$T/pub.json")"
[ "$(jq -r '[.id, .public, .account.balance > 0, .account.currency] | join(" ")' "$T/pub.json")" = "$sa true true EUR" ] ||
        fail "the public status lacks what a donor needs: $(cat "$T/pub.json")"
[ "$(jq -r '[has("usage"), has("cgroup"), has("limits"), has("cgroup_id"), (.account | has("credited")),
        (.account | has("charged"))] | join(" ")' "$T/pub.json")" = "false false false false false false" ] ||
        fail "the public status shows more than it should: $(cat "$T/pub.json")"
as "$BOB" "$BIN/prepay" status "$sa" >"$T/pub.txt" 2>&1 || fail "status without the token failed"
grep -q "^  balance:  0.99" "$T/pub.txt" && grep -q "Only what anyone may see of slice $sa" "$T/pub.txt" ||
        fail "the public status is not printed as such: $(cat "$T/pub.txt")"
# With the token, Ann as owner, root: everything.
as "$BOB" "$BIN/prepay" status "$sa" --token "$ta" --json | jq -e 'has("usage") and (has("public") | not)' >/dev/null ||
        fail "status with the token is not complete"
as "$ANN" "$BIN/prepay" status "$sa" --json | jq -e 'has("usage")' >/dev/null || fail "the owner's status is not complete"
prepay status "$sa" --json | jq -e '.account | has("credited")' >/dev/null || fail "root's status is not complete"
say "status: the public part without the token; everything with it, to the owner and to root"

# Events: not of a slice that does not exist (32 asked), not without the
# token, at most 2 streams for Ann; root's stream still opens.
as "$ANN" "$PY" "$T/peer.py" events 32 "$T/tokens-$ANN/m1" "$T/tokens-$ANN/m1" s-00000000deadbeef >"$T/ev-missing.out" 2>&1
[ "$(grep -cx "refused: No slice s-00000000deadbeef" "$T/ev-missing.out")" = 32 ] ||
        fail "streams of a slice that does not exist were not refused: $(cat "$T/ev-missing.out")"
out=$(as "$BOB" "$BIN/prepay" events "$sa" 2>&1 </dev/null) && fail "events without the token: $out"
grep -q "Permission denied: following the events of slice $sa needs its owner token (none was given)" <<<"$out" ||
        fail "events without the token: $out"
bg_as "$ANN" "$PY" "$T/peer.py" events 3 "$T/tokens-$ANN/m2" "$T/release2" "$sa" >"$T/ev-ann.out" 2>&1
wait_file "$T/tokens-$ANN/m2" "the owner's streams: $(cat "$T/ev-ann.out")"
[ "$(grep -cx subscribed "$T/ev-ann.out")" = 2 ] &&
        grep -qx "refused: Too many event streams of uid $(id -u "$ANN"): at most 2 at once (MaxEventStreamsPerUser=); end one first" \
                "$T/ev-ann.out" || fail "a uid's streams are not capped: $(cat "$T/ev-ann.out")"
bg_as "$BOB" "$BIN/prepay" events --json --token "$ta" "$sa" >"$T/ev-bob.out" 2>&1
prepay events --json "$sa" >"$T/ev-root.out" 2>&1 &
BG_PIDS+=($!)
# Both streams are open once a top-up reaches them: one more top-up
# until both carry one (or one of them said why it ended).
topup_reaches_streams() {
        prepay topup "$sa" --voucher "$(mint 0.01)" >/dev/null 2>&1 || fail "top-up failed"
        grep -q topped-up "$T/ev-bob.out" && grep -q topped-up "$T/ev-root.out" && return 0
        grep -q "prepay:" "$T/ev-bob.out" "$T/ev-root.out"
}
wait_for --every 0.2 30 topup_reaches_streams
grep -q '"kind":"topped-up"' "$T/ev-root.out" || fail "root's stream did not open: $(cat "$T/ev-root.out")"
grep -q '"kind":"topped-up"' "$T/ev-bob.out" || fail "a stream with the token did not open: $(cat "$T/ev-bob.out")"
touch "$T/release2"
say "events: a slice that exists only, with its token; 2 streams per uid; root's stream opens"
exit 0
