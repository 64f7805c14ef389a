#!/bin/bash
# 64 top-ups at once, their signatures checked on prepayd's worker
# threads (VerifyThreads=), with the issuer keys reloaded (SIGHUP) while
# they run: 40 good vouchers, 6 more each offered by two clients, 6
# signed by an issuer this host does not trust and 6 with a damaged
# signature. Exactly the 46 good ones are credited, each once; the
# others are refused saying why; and the books balance.
. "$(dirname "$0")/lib.sh"

write_config "[Daemon]
VerifyThreads=2
[Money]
MinRuntimeSec=1s"
start_daemon

bg prepay run --voucher "$(mint 1.00)" --cpus 0.1 -- sleep 120 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"
before=$(slice_field "$s" .account.credited)

mkdir -p "$T/good" "$T/rogue" "$T/c"
prepay mint --key "$ISSUER_KEY" --amount 0.01 --currency EUR --count 46 --out "$T/good" >/dev/null ||
        fail "mint failed"
prepay keygen --out "$T/rogue-key" >/dev/null || fail "keygen failed"
prepay mint --key "$T/rogue-key/issuer.key" --amount 0.01 --currency EUR --count 6 --out "$T/rogue" >/dev/null ||
        fail "rogue mint failed"
mapfile -t good < <(ls "$T"/good/*.voucher)

# One character of the signature changed (well before the last, whose
# spare bits would make it unreadable instead): it reads, and does not verify.
damage() {
        local text=$(tr -d '\n' <"$1") i c
        i=$((${#text} - 20))
        c=${text:$i:1}
        [ "$c" = A ] && c=B || c=A
        printf '%s%s%s\n' "${text:0:$i}" "$c" "${text:$((i + 1))}"
}

n=0
add() { cp "$1" "$T/c/$n.voucher"; n=$((n + 1)); }
for i in $(seq 0 39); do add "${good[$i]}"; done
for i in $(seq 40 45); do add "${good[$i]}"; add "${good[$i]}"; done
for f in "$T"/rogue/*.voucher; do add "$f"; done
for i in $(seq 0 5); do
        damage "${good[$i]}" >"$T/c/$n.voucher"
        n=$((n + 1))
done
[ "$n" = 64 ] || fail "made $n vouchers for 64 clients"

pids=()
for i in $(seq 0 63); do
        prepay topup "$s" --voucher "$T/c/$i.voucher" >"$T/c/$i.out" 2>&1 &
        pids+=($!)
        [ "$i" = 31 ] && kill -HUP "$DAEMON_PID"
done
ok=0 spent=0 forged=0 unknown=0
for i in $(seq 0 63); do
        if wait "${pids[$i]}"; then
                ok=$((ok + 1))
        elif grep -q "already spent" "$T/c/$i.out"; then
                spent=$((spent + 1))
        elif grep -q "does not verify" "$T/c/$i.out"; then
                forged=$((forged + 1))
        elif grep -q "unknown issuer" "$T/c/$i.out"; then
                unknown=$((unknown + 1))
        else
                fail "client $i failed otherwise: $(cat "$T/c/$i.out")"
        fi
done
say "64 top-ups: $ok credited, $spent told spent, $forged forged, $unknown of an unknown issuer"
[ "$ok" = 46 ] && [ "$spent" = 6 ] && [ "$forged" = 6 ] && [ "$unknown" = 6 ] ||
        fail "expected 46 credited, 6 spent, 6 forged, 6 unknown"

credited=$(slice_field "$s" .account.credited)
[ "$credited" = $((before + 46 * 10000)) ] || fail "credited $credited, expected $((before + 46 * 10000))"
grep -q "Checking voucher signatures on 2 threads" "$T/prepayd.log" || fail "the checks did not run on 2 threads"
grep -q "Reloaded" "$T/prepayd.log" || fail "no reload during the top-ups"

# Each of the 46 spent once; the books balance.
prepay release "$s" >/dev/null 2>&1 || fail "release failed"
stop_daemon
ledger_verify >"$T/verify.out" 2>&1 || fail "the books do not balance: $(cat "$T/verify.out")"
exit 0
