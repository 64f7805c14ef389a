#!/bin/bash
# More slices than fit one control message: "list" and "status" page
# through them all, and one "destroy" removes them all.
# 120 clients one after the other: about 25 s here, over 120 s in the
# booted guest (emulated, TCG) on a loaded host.
# run-all-timeout: 480
. "$(dirname "$0")/lib.sh"

n=120
start_daemon
for i in $(seq $n); do
        prepay run -q -- true || fail "prepay run $i failed"
done
listed=$(prepay list --json | jq length)
[ "$listed" = $n ] || fail "list --json shows $listed of $n slices"
[ "$(prepay list | wc -l)" = $((n + 1)) ] || fail "list shows $(($(prepay list | wc -l) - 1)) of $n slices"
[ "$(prepay status | grep -c '^s-')" = $n ] || fail "status shows fewer than $n slices"
[ "$(prepay list --json | jq -r '.[].id' | sort -u | wc -l)" = $n ] || fail "list repeats slices"
prepay destroy $(prepay list --json | jq -r '.[].id') || fail "destroy failed"
[ "$(prepay list --json | jq length)" = 0 ] || fail "slices left after destroy"
say "$n slices listed across pages and destroyed"
exit 0
