#!/bin/bash
# Progress where people wait, and nowhere else: "prepay ledger verify" of
# a ledger of 20,001 entries (tests/ledger-fill writes it through
# ledger.c) draws a progress line on a terminal (script(1) gives it one
# and keeps every byte written, so nothing depends on catching the line
# before it is erased): "verifying the ledger: N% (D of T entries)",
# redrawn in place, erased before the verdict, which is the same line as
# without a terminal. Not on a terminal, standard error stays empty, for
# verify and for export: scripts and logs see what they always saw.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 600

command -v script >/dev/null || skip "script(1) is not installed (bsdutils)"

big=$T/big.db
"$BIN/tests/ledger-fill" "$big" 20000 || fail "ledger-fill failed"

prepay ledger verify --ledger "$big" >"$T/verify.out" 2>"$T/verify.err" || fail "verify failed: $(cat "$T/verify.err")"
[ ! -s "$T/verify.err" ] || fail "verify wrote to a standard error that is no terminal: $(cat "$T/verify.err")"
grep -q "^ledger $big: 20001 entries, .*: OK$" "$T/verify.out" || fail "verify said: $(cat "$T/verify.out")"

# On a terminal (TERM set: "dumb" would have none), at once: a fast
# machine reads the chain within the usual half second.
TERM=xterm PREPAY_PROGRESS_DELAY=0 script -q -e -c "$BIN/prepay ledger verify --ledger $big" "$T/tty.out" >/dev/null </dev/null ||
        fail "verify on a terminal failed: $(cat "$T/tty.out")"
tr '\r' '\n' <"$T/tty.out" >"$T/tty.lines"
grep -Eq "^prepay: verifying the ledger: [0-9]+% \([0-9]+ of 20001 entries\), " "$T/tty.lines" ||
        fail "no progress line on a terminal: $(head -c 600 "$T/tty.out" | od -c | head -20)"
say "on a terminal: $(grep -c 'verifying the ledger' "$T/tty.lines") progress lines, the last" \
        "$(grep 'verifying the ledger' "$T/tty.lines" | tail -n 1 | sed 's/\x1b\[K//')"
# The verdict after the line is erased, as without a terminal.
grep -qxF "$(cat "$T/verify.out")" <(sed 's/\x1b\[K//g' "$T/tty.lines" | tr -d '\r') ||
        fail "the verdict on a terminal differs: $(tail -c 300 "$T/tty.out" | od -c | tail -8)"

# Export: no progress when standard error is no terminal.
prepay ledger export --json --ledger "$big" >"$T/export.json" 2>"$T/export.err" || fail "export failed"
[ ! -s "$T/export.err" ] || fail "export wrote to a standard error that is no terminal: $(cat "$T/export.err")"
[ "$(jq '.entries | length' "$T/export.json")" = 20001 ] || fail "the export lacks entries"
say "no progress off a terminal: verify and export leave standard error empty"
exit 0
