#!/bin/bash
# MaxSlicesPerUser=: a client (nobody here) holds at most that many slices
# at once, kept ones included; one more is refused with a sentence naming
# the limit, before its voucher is spent: the same voucher buys a slice
# once one of the client's is released. Operators are not bound by it.
. "$(dirname "$0")/lib.sh"

command -v setpriv >/dev/null || skip "no setpriv (package util-linux)"

# The socket open to all and nobody's group a client group.
chmod 0755 "$T"
write_config "[Daemon]
SocketMode=0666
ClientGroup=nogroup
MaxSlicesPerUser=2"
start_daemon

install -d -o 65534 -m 0700 "$T/tokens-nobody"
nobody() {
        PREPAY_TOKEN= PREPAY_TOKEN_DIR=$T/tokens-nobody \
                setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/prepay" "$@"
}
# buy VOUCHER: nobody buys a slice with VOUCHER (on standard input: the
# file is root's) and prints its id.
buy() {
        nobody run --voucher - --cpus 0.1 -- true <"$1" 2>"$T/buy.err" || return 1
        slice_from_log "$T/buy.err"
}
# spent VOUCHER: true when the ledger has the voucher as spent.
spent() {
        local id
        id=$(prepay voucher show "$1" --json | jq -r .id) || fail "prepay voucher show $1 failed"
        prepay ledger export --json --ledger "$LEDGER" | jq -e --arg id "$id" 'any(.vouchers[]; .id == $id)' >/dev/null
}

v1=$(mint 1) v2=$(mint 1) v3=$(mint 1)
s1=$(buy "$v1") || fail "nobody's first slice was refused: $(cat "$T/buy.err")"
s2=$(buy "$v2") || fail "nobody's second slice was refused: $(cat "$T/buy.err")"

expect_refused() { # expect_refused WHY
        buy "$v3" >/dev/null && fail "a third slice was sold to nobody ($1) with MaxSlicesPerUser=2"
        grep -q "Too many slices for uid 65534: it holds 2, the most one user may (MaxSlicesPerUser=2); release one first (prepay release); the voucher was not spent" "$T/buy.err" ||
                fail "the refusal ($1) does not name the limit: $(cat "$T/buy.err")"
        spent "$v3" && fail "the refused voucher was spent ($1)"
        return 0
}
expect_refused "two funded"
say "a third slice refused: $(sed -n 's/^prepay: //p' "$T/buy.err" | head -1)"

# A kept slice holds a balance and a place: it counts.
nobody release --keep "$s1" >/dev/null 2>"$T/keep.err" || fail "release --keep failed: $(cat "$T/keep.err")"
expect_refused "one kept"

# An operator is bound by MaxSlices= only.
for i in 1 2 3; do
        prepay run --voucher "$(mint 1)" --cpus 0.1 -- true 2>"$T/root.err" ||
                fail "root's slice $i was refused: $(cat "$T/root.err")"
done

# One released: the same voucher buys a slice now.
nobody release "$s1" >/dev/null 2>"$T/release.err" || fail "release failed: $(cat "$T/release.err")"
s3=$(buy "$v3") || fail "the voucher refused at the limit did not buy a slice once one was released: $(cat "$T/buy.err")"
spent "$v3" || fail "the voucher that bought $s3 is not in the ledger"
say "after releasing $s1, the same voucher bought $s3; root holds 3"
