#!/bin/bash
# Progress where people wait, and nowhere else: "prepay ledger verify" of
# a ledger of 20,001 entries (tests/ledger-fill writes it through
# ledger.c) draws a progress line on a terminal (script(1) gives it one
# and keeps every byte written, so nothing depends on catching the line
# before it is erased): "verifying the ledger: N% (D of T entries)",
# redrawn in place, erased before the verdict, which is the same line as
# without a terminal. Not on a terminal, standard error stays empty, for
# verify and for export: scripts and logs see what they always saw.
# prepay-mkimage's ticker beside debootstrap, with a mirror whose
# InRelease is a FIFO (debootstrap waits on it, as on a slow mirror, until
# the test closes it): on a terminal the line "debootstrap: N s" is drawn
# and redrawn each second, then erased before the error; off a terminal
# nothing but the build's own messages.
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

# mkimage WAYS OUT: prepay-mkimage against the FIFO mirror, TERM=xterm, in
# the background; WAYS is "tty" (under script(1), its bytes in OUT as they come: -f) or
# "plain" (standard error into OUT). Sets mk (its PID).
mkimage() {
        local cmd="$SRC/tools/prepay-mkimage --cache $T/mkcache --output $T/mkout --mirror file://$T/mirror"
        if [ "$1" = tty ]; then
                TERM=xterm script -q -e -f -c "$cmd" "$2" >/dev/null </dev/null &
        else
                TERM=xterm $cmd >/dev/null 2>"$2" </dev/null &
        fi
        mk=$!
}
# debootstrap's cp waits to open the FIFO (an open for reading waits for
# a writer).
reading() { pgrep -f "^cp $T/mirror/dists/bookworm/InRelease " >/dev/null; }
# release: the mirror's InRelease ends, empty; debootstrap fails on it.
release() {
        wait_for 120 reading || fail "debootstrap never opened the mirror's InRelease"
        : >"$T/mirror/dists/bookworm/InRelease"
}

SRC=$(cd "$(dirname "$0")/../.." && pwd)
missing=
for t in debootstrap qemu-img mkfs.ext4; do
        command -v "$t" >/dev/null || missing="$missing $t"
done
if [ -n "$missing" ]; then
        say "prepay-mkimage's progress not tried: no$missing here (packaging/build-deps --vmslice)"
        exit 0
fi
mkdir -p "$T/mirror/dists/bookworm"
mkfifo "$T/mirror/dists/bookworm/InRelease"

mkimage tty "$T/mk.tty"
wait_for 120 grep -Eq 'prepay-mkimage: debootstrap: [1-9][0-9]* s' "$T/mk.tty" ||
        fail "no progress line redrawn on a terminal: $(od -c "$T/mk.tty" | head -20)"
release
rc=0
wait "$mk" || rc=$?
[ "$rc" = 1 ] || fail "prepay-mkimage exited $rc, not 1, with a mirror that has no release: $(cat "$T/mk.tty")"
tr '\r' '\n' <"$T/mk.tty" | sed 's/\x1b\[K//g' >"$T/mk.lines"
grep -q '^prepay-mkimage: debootstrap failed' "$T/mk.lines" || fail "no error after the progress: $(cat "$T/mk.lines")"
# Erased before the error: a carriage return and erase-line come between
# the last progress line and the message.
grep -qF "$(printf '\033[K\r\033[K')" "$T/mk.tty" ||
        fail "the progress line was not erased before what followed: $(od -c "$T/mk.tty" | tail -20)"
say "prepay-mkimage on a terminal: $(grep -c '^prepay-mkimage: debootstrap: ' "$T/mk.lines") progress lines, the last" \
        "$(grep '^prepay-mkimage: debootstrap: ' "$T/mk.lines" | tail -n 1)"

mkimage plain "$T/mk.err"
release
rc=0
wait "$mk" || rc=$?
[ "$rc" = 1 ] || fail "prepay-mkimage exited $rc off a terminal: $(cat "$T/mk.err")"
grep -q '^prepay-mkimage: debootstrap failed' "$T/mk.err" || fail "no error off a terminal: $(cat "$T/mk.err")"
! grep -q 'debootstrap: [0-9]* s' "$T/mk.err" || fail "progress off a terminal: $(cat "$T/mk.err")"
[ ! -e "$T/mkout" ] || [ -z "$(ls -A "$T/mkout")" ] || fail "a failed build installed something: $(ls "$T/mkout")"
say "prepay-mkimage off a terminal: no progress, the same error"
exit 0
