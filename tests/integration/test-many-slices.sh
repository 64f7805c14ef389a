#!/bin/bash
# More slices than fit one control message: "list" and "status" page
# through them all, a brief list starts where its cursor says, and one
# "destroy" removes them all.
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
# The rows of a brief list, from a cursor on: the same slices in the same
# order as the full records, one row each, its first column the id.
prepay list --json | jq -r '.[].id' >"$T/ids"
brief() {
        echo "brief {\"op\":\"list\",\"brief\":true,\"cursor\":$1}" |
                "$BIN/tests/raw-request" "$PREPAY_SOCKET" --lines | cut -d' ' -f2-
}
brief 0 | jq -r '.rows[][0]' | diff -q - "$T/ids" >/dev/null || fail "brief rows differ from the records: $(brief 0)"
brief 100 | jq -r '.rows[][0]' | diff -q - <(tail -n +101 "$T/ids") >/dev/null ||
        fail "brief rows from cursor 100 are not the last $((n - 100)): $(brief 100)"
[ "$(brief 0 | jq -c '[.rows[] | length] | unique')" = "[18]" ] || fail "brief rows not of 18 columns: $(brief 0)"
prepay destroy $(prepay list --json | jq -r '.[].id') || fail "destroy failed"
[ "$(prepay list --json | jq length)" = 0 ] || fail "slices left after destroy"
say "$n slices listed across pages and destroyed"
exit 0
