#!/bin/bash
# The same voucher offered by 20 clients at once: exactly one top-up
# succeeds, the 19 others are told it was already spent, and the slice is
# credited once. Then idempotency: a request sent twice with one request
# id is answered twice the same and acted on once, for create, top-up and
# release alike.
. "$(dirname "$0")/lib.sh"

write_config "[Money]
MinRuntimeSec=1s"
start_daemon

base=$(mint 1.00)
bg prepay run --voucher "$base" --cpus 0.1 -- sleep 120 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"

v=$(mint 0.25)
pids=()
for i in $(seq 20); do
        prepay topup "$s" --voucher "$v" >"$T/c$i.out" 2>&1 &
        pids+=($!)
done
ok=0
spent=0
for i in $(seq 20); do
        if wait "${pids[$((i - 1))]}"; then
                ok=$((ok + 1))
        elif grep -q "already spent" "$T/c$i.out"; then
                spent=$((spent + 1))
        else
                fail "client $i failed otherwise: $(cat "$T/c$i.out")"
        fi
done
credited=$(slice_field "$s" .account.credited)
say "20 clients, one voucher: $ok succeeded, $spent told it was spent; credited $credited"
[ "$ok" = 1 ] && [ "$spent" = 19 ] || fail "expected exactly one winner"
[ "$credited" = 1250000 ] || fail "credited $credited, expected 1250000 (1.00 + 0.25 once)"

# Idempotent top-up: the same request id twice, with the voucher once.
v2=$(mint 0.10)
prepay topup "$s" --voucher "$v2" --request-id retry-topup-1 --json >"$T/t1" || fail "top-up failed"
prepay topup "$s" --voucher "$v2" --request-id retry-topup-1 --json >"$T/t2" || fail "retried top-up was refused"
[ "$(jq -r .credited "$T/t1")" = "$(jq -r .credited "$T/t2")" ] || fail "the retry answered differently"
credited=$(slice_field "$s" .account.credited)
[ "$credited" = 1350000 ] || fail "credited $credited after a retried top-up, expected 1350000"
say "retried top-up: one credit of 0.10"
# The same id for another kind of request is refused, naming the first.
prepay release "$s" --request-id retry-topup-1 >"$T/reuse.out" 2>&1 && fail "a request id was reused for a release"
grep -q 'used before for "topup"' "$T/reuse.out" || fail "reused request id: $(cat "$T/reuse.out")"
[ "$(slice_field "$s" .account.state)" = active ] || fail "the slice was released by a reused request id"

# Idempotent create: the same slice and the same token.
v3=$(mint 0.50)
bg prepay run --voucher "$v3" --request-id retry-create-1 --cpus 0.1 -- sleep 120 2>"$T/r1.err"
a=$(slice_from_log "$T/r1.err") || fail "no slice"
bg prepay run --voucher "$v3" --request-id retry-create-1 --cpus 0.1 -- sleep 120 2>"$T/r2.err"
b=$(slice_from_log "$T/r2.err") || fail "the retried create failed: $(cat "$T/r2.err")"
[ "$a" = "$b" ] || fail "a retried create made a second slice ($a, $b)"
ta=$(owner_token_in "$T/r1.err")
tb=$(owner_token_in "$T/r2.err")
[ -n "$ta" ] && [ "$ta" = "$tb" ] || fail "a retried create returned another token"
n=$(prepay list --json | jq --arg a "$a" '[.[] | select(.id == $a)] | length')
[ "$n" = 1 ] || fail "slice $a listed $n times"
say "retried create: slice $a once, same token"

# Idempotent release: the same change, once.
prepay release "$a" --request-id retry-release-1 >"$T/c1" 2>/dev/null || fail "release failed"
prepay release "$a" --request-id retry-release-1 >"$T/c2" 2>/dev/null || fail "retried release failed"
cmp -s "$T/c1" "$T/c2" || fail "a retried release gave other change"
prepay topup "$s" --voucher "$T/c1" >/dev/null || fail "the change does not spend"

prepay release "$s" >/dev/null 2>&1 || fail "release failed"
exit 0
