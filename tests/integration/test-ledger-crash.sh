#!/bin/bash
# prepayd killed with SIGKILL at random moments, KILLS times (default 200, 60 in an emulated guest),
# while clients redeem vouchers into new slices, top up slices and a
# burner is charged. After each kill: "prepay ledger verify" passes. At the
# end: no voucher credited twice, and every redemption or top-up a client
# saw acknowledged is in the ledger; every credit carries the funder its
# request named (one top-up in three is a funder's, --funder-key), never
# none or another. Clients retry with their request id
# while the daemon is down (prepay does this by itself).
# run-all-timeout: 900
. "$(dirname "$0")/lib.sh"

# 200 by default; 60 in an emulated guest, where each costs about 1 s
# (the soak is PREPAY_CRASH_KILLS=1000, outside make check).
KILLS=${PREPAY_CRASH_KILLS:-$([ "$EMULATED" = 1 ] && echo 60 || echo 200)}

write_config "[Money]
MinRuntimeSec=1s
[Prices]
CPUSecond=0.01"
start_daemon

bg prepay run --voucher "$(mint 100)" --cpus 0.5 -- "$BIN/tests/burn" 3600 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"

make_issuer
mkdir -p "$T/stream"
prepay mint --key "$ISSUER_KEY" --amount 0.01 --currency EUR --count 20000 --out "$T/stream" >/dev/null ||
        fail "mint failed"

# The client: top-ups, and every 20th voucher a new slice of its own,
# released again at once (its change is a redemption of the daemon's
# own). A line in acked is written only after the daemon said yes.
prepay keygen --out "$T/funder" --name f >/dev/null || fail "prepay keygen failed"
funder=$(grep -v -- '-----' "$T/funder/f.pub" | base64 -d | tail -c 32 | od -An -tx1 | tr -d ' \n')

client() {
        local i=0 f id out new
        for f in "$T"/stream/*.voucher; do
                [ -e "$T/stop" ] && break
                i=$((i + 1))
                id=$(basename "$f" .voucher)
                if [ $((i % 20)) = 0 ]; then
                        if out=$(prepay run --voucher "$f" --request-id "c-$id" --cpus 0.1 -- true 2>&1); then
                                echo "$id" >>"$T/acked"
                                new=$(sed -n 's/^prepay: running in slice \(s-[0-9a-f]*\).*/\1/p' <<<"$out")
                                prepay release "$new" --request-id "r-$id" >/dev/null 2>&1 ||
                                        echo "release of $new failed" >>"$T/refused"
                        else
                                echo "$id $out" >>"$T/refused"
                        fi
                elif [ $((i % 3)) = 0 ]; then
                        # A funder's top-up: its credit is never written
                        # without the funder, whenever the daemon dies.
                        echo "$id" >>"$T/keyed"
                        if prepay topup "$s" --voucher "$f" --funder-key "$T/funder/f.key" --request-id "t-$id" \
                                >/dev/null 2>"$T/last.err"; then
                                echo "$id" >>"$T/acked"
                        else
                                echo "$id $(cat "$T/last.err")" >>"$T/refused"
                        fi
                elif prepay topup "$s" --voucher "$f" --request-id "t-$id" >/dev/null 2>"$T/last.err"; then
                        echo "$id" >>"$T/acked"
                else
                        echo "$id $(cat "$T/last.err")" >>"$T/refused"
                fi
        done
}
client &
CLIENT=$!
BG_PIDS+=($CLIENT)

kills=0
started=$SECONDS
while [ "$kills" -lt "$KILLS" ]; do
        sleep "0.$((RANDOM % 300 + 20))"
        kill_daemon
        kills=$((kills + 1))
        prepay ledger verify --ledger "$LEDGER" >"$T/verify.out" 2>&1 ||
                fail "after kill $kills: $(cat "$T/verify.out")"
        start_daemon
        kill -0 "$CLIENT" 2>/dev/null || break
done
touch "$T/stop"
wait "$CLIENT"
stop_daemon

prepay ledger verify --ledger "$LEDGER" >"$T/verify.out" 2>&1 || fail "at the end: $(cat "$T/verify.out")"
prepay ledger export --json --ledger "$LEDGER" >"$T/ledger.json" || fail "export failed"
jq -r '.vouchers[].id' "$T/ledger.json" | sort >"$T/in-ledger"
dups=$(uniq -d "$T/in-ledger" | wc -l)
acked=$(sort -u "$T/acked" 2>/dev/null | wc -l)
missing=$(sort -u "$T/acked" | comm -23 - "$T/in-ledger" | wc -l)
refused=$(cat "$T/refused" 2>/dev/null | wc -l)
secs=$((SECONDS - started))
say "$kills kills in ${secs}s; $acked redemptions acknowledged, $missing of them missing from the ledger, $dups vouchers twice;" \
        "$refused refused; $(tail -1 "$T/verify.out")"
[ -s "$T/refused" ] && say "first refusals:" && head -3 "$T/refused" | sed 's/^/  /'
[ "$kills" -ge "$KILLS" ] || fail "the client ran out of vouchers after $kills kills"
[ "$dups" = 0 ] || fail "$dups vouchers credited twice"
[ "$missing" = 0 ] || fail "$missing acknowledged redemptions are not in the ledger"
[ "$acked" -gt 0 ] || fail "no redemption was acknowledged"
# Each credit in the ledger with the funder its request named: the
# funder's key for those sent with one, anonymous for the rest.
jq -r --arg k "$funder" '.entries[] | select(.kind == "redeem") |
        "\(.voucher) \(if .funder == null then "anonymous" elif .funder == $k then "keyed" else "other" end)"' \
        "$T/ledger.json" | sort >"$T/funders"
sort -u "$T/keyed" 2>/dev/null >"$T/keyed.sorted"
keyed=$(grep -c ' keyed$' "$T/funders")
wrong=$(join -a 1 "$T/funders" "$T/keyed.sorted" -o 1.1,1.2,2.1 -e - |
        awk '($3 == "-" && $2 != "anonymous") || ($3 != "-" && $2 != "keyed")' | wc -l)
say "$keyed credits in the ledger with the funder's key, $wrong with a funder other than the request's"
[ "$wrong" = 0 ] || fail "$wrong credits with a funder other than their request's"
[ "$keyed" -gt 0 ] || fail "no funder's credit reached the ledger"
# A refusal must be a real one, never "already spent" for a retry of our own.
if [ -s "$T/refused" ] && grep -v "could not be reached\|not running\|Retrying" "$T/refused" | grep -q "already spent"; then
        fail "a retried request was told its own voucher was spent: $(grep -m1 "already spent" "$T/refused")"
fi
start_daemon
prepay release "$s" >/dev/null 2>&1 || fail "release failed"
exit 0
