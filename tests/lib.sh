# SPDX-License-Identifier: LGPL-2.1-or-later
# The part of the shell tests' library that the integration tests
# (tests/integration/lib.sh) and the system tests (tests/system/lib.sh)
# share; each of those sources this file first and adds only what is its
# own: where the daemon comes from, its configuration, the issuer's
# trusted key, the cleanup. Nothing here starts a daemon or changes the
# machine.
#
# A test exits 0 when it passes, 77 when it cannot run here (after saying
# "skipped: <test>: <reason>"), anything else when it fails.

set -uo pipefail

O=${O:-build}
TEST=$(basename "$0" .sh)
BG_PIDS=() # started by bg or bg_as, killed by the suite's cleanup

say() { printf '%s: %s\n' "$TEST" "$*"; }
fail() {
        say "FAIL: $*"
        exit 1
}
skip() {
        echo "skipped: $TEST: $*"
        exit 77
}

# Under full emulation (the booted guest without KVM: qemu TCG) a CPU is
# many times slower and timer wake-ups late by milliseconds; the few tests
# that bound a latency say what they allow there and why.
if [ "$(systemd-detect-virt 2>/dev/null)" = qemu ]; then
        EMULATED=1
else
        EMULATED=0
fi

# What every wait_for limit is multiplied by: 4 under emulation, where
# everything the daemon does takes several times longer, else 1;
# PREPAY_TEST_WAIT_SCALE (a whole number) overrides it. A limit only
# bounds how long a failing test takes to say so: it is no assertion.
WAIT_SCALE=${PREPAY_TEST_WAIT_SCALE:-$((EMULATED ? 4 : 1))}

# now_usec: the wall clock in microseconds, without a process.
now_usec() { echo "${EPOCHREALTIME//[.,]/}"; }

# usec_of SECONDS: "2", "0.5" or "1.25" in microseconds.
usec_of() {
        local int=${1%%.*} frac=
        [ "$int" = "$1" ] || frac=${1#*.}
        frac=${frac}000000
        echo $((10#${int:-0} * 1000000 + 10#${frac:0:6}))
}

# How often wait_for asks, unless told: a suite may ask less often.
WAIT_EVERY=${WAIT_EVERY:-0.05}

# wait_for [--every SECONDS] SECONDS CMD...: runs CMD (its error output
# discarded) until it succeeds, every WAIT_EVERY s or as asked, for at most
# SECONDS x WAIT_SCALE. A test waits so for what the daemon or a helper
# reports, never for a fixed time. On timeout it says what it waited for
# (on standard error, so that it never mixes with what a caller captures)
# and returns 1: the caller fails with its own words, or checks what it
# was waiting for with the assertion that follows.
wait_for() {
        local every=$WAIT_EVERY limit deadline
        if [ "$1" = --every ]; then
                every=$2
                shift 2
        fi
        limit=$(($(usec_of "$1") * WAIT_SCALE))
        shift
        deadline=$((${EPOCHREALTIME//[.,]/} + limit))
        until "$@" 2>/dev/null; do
                if [ "${EPOCHREALTIME//[.,]/}" -ge "$deadline" ]; then
                        say "waited $((limit / 1000)) ms in vain for: $*" >&2
                        return 1
                fi
                sleep "$every"
        done
}

# bg CMD...: start in the background, remembered for cleanup.
bg() {
        "$@" &
        BG_PIDS+=($!)
}

# as USER CMD...: CMD as USER with that user's groups, no PAM session, its
# own token directory ($T/tokens-USER) and no token from the environment.
as() {
        local u=$1
        shift
        env HOME="$T" PREPAY_TOKEN= PREPAY_TOKEN_DIR="$T/tokens-$u" \
                setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --init-groups "$@"
}

# bg_as USER CMD...: the same in the background, the pid in BG_PIDS being
# CMD's own (exec), wherever CMD moves itself.
bg_as() {
        (exec env HOME="$T" PREPAY_TOKEN= PREPAY_TOKEN_DIR="$T/tokens-$1" \
                setpriv --reuid="$(id -u "$1")" --regid="$(id -g "$1")" --init-groups "${@:2}") &
        BG_PIDS+=($!)
}

# slice_field SLICE JQ-PATH: one figure from "prepay status --json".
slice_field() { prepay status "$1" --json | jq -r "$2"; }

# field_is SLICE JQ-PATH VALUE: true when the daemon reports VALUE there.
field_is() { [ "$(slice_field "$1" "$2")" = "$3" ]; }

# pid_gone PID: true once no process has that pid.
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# slice_in_log FILE: the slice id of the line "prepay: running in slice
# s-..." (with the balance in parentheses, or not) that "prepay run"
# writes to FILE; empty until it is there.
slice_in_log() {
        sed -n 's/^prepay: running in slice \(s-[0-9a-f]*\)\( (.*)\)\{0,1\}$/\1/p' "$1" | head -n 1
}
has_slice_line() { [ -n "$(slice_in_log "$1")" ]; }

# slice_from_log FILE: waits until "prepay run" said which slice it runs
# in, and prints its id; else prints FILE to standard error and fails.
slice_from_log() {
        wait_for 30 has_slice_line "$1" || {
                cat "$1" >&2
                return 1
        }
        slice_in_log "$1"
}

# mint AMOUNT [MINT-OPTIONS...]: a voucher file of AMOUNT EUR by the test's
# issuer (make_issuer, the suite's own); prints its path. VOUCHER_MODE,
# when set, is the file's mode (and its directory is opened to all).
mint() {
        local amount=$1 dir
        shift
        make_issuer
        dir=$(mktemp -d "$T/v.XXXXXX")
        [ -z "${VOUCHER_MODE:-}" ] || chmod 0755 "$dir"
        prepay mint --key "$ISSUER_KEY" --amount "$amount" --currency EUR --out "$dir" "$@" >/dev/null 2>"$dir.err" ||
                fail "prepay mint $amount $* failed: $(cat "$dir.err")"
        [ -z "${VOUCHER_MODE:-}" ] || chmod "$VOUCHER_MODE" "$dir"/*.voucher
        ls "$dir"/*.voucher
}

# cpu_prices PRICE: a [Prices] section where a CPU-second costs PRICE and
# nothing else costs anything, so that every charge is CPU time.
cpu_prices() {
        printf '%s\n' "[Prices]" "CPUSecond=$1" MemoryGiBHour=0 NetOutGiB=0 NetInGiB=0 IOGiB=0 SliceHour=0
}

# owner_token_in FILE: the owner token "prepay run" printed into FILE.
owner_token_in() { sed -n 's/^prepay: owner token \(pt-[A-Za-z0-9_-]*\).*/\1/p' "$1"; }

# within VALUE EXPECTED PERCENT: true when |VALUE-EXPECTED| <= PERCENT% of EXPECTED.
within() {
        awk -v v="$1" -v e="$2" -v p="$3" 'BEGIN { d = v - e; if (d < 0) d = -d; exit !(d <= e * p / 100) }'
}
