#!/bin/bash
# A slice whose cgroup is removed behind the daemon's back is reported once,
# with its last figures, and dropped; the daemon goes on serving the others.
. "$(dirname "$0")/lib.sh"

start_daemon
prepay run -q -- "$BIN/tests/burn" 0.2 || fail "prepay run failed"
prepay run -q -- true || fail "prepay run failed"
gone=$(prepay list --json | jq -r '.[0].id')
kept=$(prepay list --json | jq -r '.[1].id')
[ -f "$T/state/slices/$gone.json" ] || fail "no record for $gone"

# Both are empty now: remove one slice's cgroups in every hierarchy. Once
# one is gone the daemon may see the slice vanish and remove the others
# itself, between find and rmdir: gone is what is asked.
for d in $(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/$ID/$gone"); do
        rmdir "$d" 2>/dev/null || [ ! -d "$d" ] || fail "cannot remove $d"
done
sleep 0.5

out=$(prepay status "$gone" 2>&1) && fail "status of a vanished slice succeeded"
grep -q "No slice $gone" <<<"$out" || fail "status said: $out"
[ "$(grep -c "Slice $gone vanished" "$T/prepayd.log")" = 1 ] || fail "the vanishing was not logged exactly once"
grep -q "Slice $gone vanished.*[0-9]ms of CPU" "$T/prepayd.log" || fail "the log line lacks the last figures"
[ ! -e "$T/state/slices/$gone.json" ] || fail "the vanished slice's record is still there"
grep -q "Failed to read counters" "$T/prepayd.log" && fail "a vanished cgroup was logged as a read failure"
prepay status "$kept" >/dev/null || fail "the other slice is no longer served"
say "$(grep "Slice $gone vanished" "$T/prepayd.log")"
exit 0
