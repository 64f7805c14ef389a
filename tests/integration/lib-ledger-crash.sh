# SPDX-License-Identifier: LGPL-2.1-or-later
# The body of test-ledger-crash.sh (what it checks is said there), sourced
# after lib.sh. With CRASH_FLEET=1 (test-ledger-crash-fleet.sh) the host
# is one of a fleet (Ledger= a PostgreSQL server lib-postgres.sh starts):
# every voucher is claimed there before it is credited, and at the end
# "prepay ledger verify --fleet" passes and every acknowledged redemption
# is in the fleet's spent set and books once, by this host.

# 200 by default; 60 in an emulated guest, where each costs about 1 s
# (the soak is PREPAY_CRASH_KILLS=1000, outside make check); in a fleet,
# where each redemption waits for the database too, 60 (about 2 minutes
# here) and 20 in an emulated guest (whose image has no PostgreSQL yet).
if [ "${CRASH_FLEET:-0}" = 1 ]; then
        KILLS=${PREPAY_CRASH_KILLS:-$([ "$EMULATED" = 1 ] && echo 20 || echo 60)}
        . "$(dirname "$0")/lib-postgres.sh"
        trap 'rc=$?; pg_stop; (exit $rc); cleanup' EXIT
        pg_init
        say "PostgreSQL $("$PGBIN/postgres" --version | awk '{ print $3 }') on $PGSOCK port $PGPORT"
        LEDGER_LINE="Ledger=$FLEET"
else
        KILLS=${PREPAY_CRASH_KILLS:-$([ "$EMULATED" = 1 ] && echo 60 || echo 200)}
        LEDGER_LINE=
fi

write_config "[Money]
$LEDGER_LINE
MinRuntimeSec=1s
DonationModels=owner pro-rata
[Prices]
CPUSecond=0.01"
start_daemon

bg prepay run --voucher "$(mint 100)" --cpus 0.5 -- "$BIN/tests/burn" 3600 2>"$T/run.err"
s=$(slice_from_log "$T/run.err") || fail "no slice"
prepay invest open "$s" --revenue-share 50% >/dev/null || fail "invest open failed"

prepay sponsor offer "$s" --period 2s --min 0.01 --start +2s >/dev/null 2>"$T/offer.err" ||
        fail "sponsor offer refused: $(cat "$T/offer.err")"

make_issuer
mkdir -p "$T/stream" "$T/rel" "$T/claim" "$T/bids" "$T/pay" "$T/rclaim"
prepay mint --key "$ISSUER_KEY" --amount 0.01 --currency EUR --count 20000 --out "$T/stream" >/dev/null ||
        fail "mint failed"

# The client: top-ups, and every 20th voucher a new slice of its own,
# released again at once (its change is a redemption of the daemon's
# own). A line in acked is written only after the daemon said yes.
prepay keygen --out "$T/funder" --name f >/dev/null || fail "prepay keygen failed"
funder=$(grep -v -- '-----' "$T/funder/f.pub" | base64 -d | tail -c 32 | od -An -tx1 | tr -d ' \n')

claim_share() {
        local new=$1 id=$2 try
        for try in $(seq 50); do
                if prepay claim "$new" --funder-key "$T/funder/f.key" --request-id "$id" --json \
                        >"$T/claim/$new.tmp" 2>"$T/last.err"; then
                        echo "$id" >"$T/claim/$new.id"
                        mv "$T/claim/$new.tmp" "$T/claim/$new.json"
                        return 0
                fi
                grep -q "not running\|could not be reached" "$T/last.err" || break
                sleep 0.2
        done
        echo "claim on $new: $(cat "$T/last.err")" >>"$T/refused"
}

# A revenue claim on the burner's slice: acknowledged, or refused for
# having nothing to pay (then nothing moved).
claim_revenue() {
        local id=$1 try
        for try in $(seq 50); do
                if prepay claim "$s" --funder-key "$T/funder/f.key" --request-id "$id" --json \
                        >"$T/rclaim/$id.tmp" 2>"$T/last.err"; then
                        mv "$T/rclaim/$id.tmp" "$T/rclaim/$id.json"
                        return 0
                fi
                grep -q "not running\|could not be reached" "$T/last.err" || break
                sleep 0.2
        done
        grep -q "nothing was paid" "$T/last.err" || echo "revenue claim $id: $(cat "$T/last.err")" >>"$T/refused"
}

client() {
        local i=0 f id out new
        for f in "$T"/stream/*.voucher; do
                [ -e "$T/stop" ] && break
                i=$((i + 1))
                id=$(basename "$f" .voucher)
                if [ $((i % 20)) = 0 ]; then
                        # Every other one bought by the funder, pro-rata:
                        # its release holds the funder's share.
                        split=()
                        if [ $((i % 40)) = 0 ]; then
                                split=(--funder-key "$T/funder/f.key" --donation-model pro-rata)
                                echo "$id" >>"$T/keyed"
                        fi
                        if out=$(prepay run --voucher "$f" --request-id "c-$id" "${split[@]}" --cpus 0.1 -- true 2>&1); then
                                echo "$id" >>"$T/acked"
                                new=$(sed -n 's/^prepay: running in slice \(s-[0-9a-f]*\).*/\1/p' <<<"$out")
                                if prepay release "$new" --request-id "r-$id" --json >"$T/rel/$new.tmp" 2>/dev/null; then
                                        echo "r-$id" >"$T/rel/$new.id"
                                        mv "$T/rel/$new.tmp" "$T/rel/$new.json"
                                else
                                        echo "release of $new failed" >>"$T/refused"
                                fi
                                # The funder claims what was held for it, again
                                # with the same request id while the daemon is
                                # down (prepay claim asks it the host id first,
                                # and that does not wait for it).
                                [ ${#split[@]} -gt 0 ] && [ -e "$T/rel/$new.json" ] && claim_share "$new" "cl-$id"
                        else
                                echo "$id $out" >>"$T/refused"
                        fi
                elif [ $((i % 7)) = 0 ]; then
                        # A sponsor's bid: its voucher into escrow, settled
                        # when its period starts, whenever the daemon dies.
                        if prepay sponsor bid "$s" --voucher "$f" --name "bidder $id" --request-id "b-$id" --json \
                                >"$T/bids/$id.tmp" 2>"$T/last.err"; then
                                echo "$id" >>"$T/acked"
                                mv "$T/bids/$id.tmp" "$T/bids/$id.json"
                        else
                                echo "$id $(cat "$T/last.err")" >>"$T/refused"
                        fi
                elif [ $((i % 11)) = 0 ]; then
                        # Revenue: paid to the slice, split with its investor.
                        if prepay pay "$s" --voucher "$f" --request-id "p-$id" --json >"$T/pay/$id.tmp" \
                                2>"$T/last.err"; then
                                echo "$id" >>"$T/acked"
                                mv "$T/pay/$id.tmp" "$T/pay/$id.json"
                        else
                                echo "$id $(cat "$T/last.err")" >>"$T/refused"
                        fi
                        [ $((i % 55)) = 0 ] && claim_revenue "rc-$id"
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
# In a fleet, with the daemon up: its whole file shipped, the claims no
# credit followed taken back; "prepay ledger verify --fleet" passes; each
# acknowledged redemption's voucher spent once in the fleet, by this host
# (its spent row and one entry of its copy), and none spent there that
# this host's file does not spend.
fleet_check() {
        local entries spent booked
        entries=$(prepay ledger verify --ledger "$LEDGER" | sed -n 's/.*: \([0-9]*\) entries.*/\1/p')
        shipped() { [ "$(psql_q "SELECT shipped_seq FROM prepay_hosts WHERE host = 'test-host'")" = "$entries" ]; }
        wait_for 30 shipped || fail "the fleet holds $(psql_q "SELECT shipped_seq FROM prepay_hosts") of $entries entries"
        unclaimed() { [ "$(psql_q "SELECT count(*) FROM prepay_spent s WHERE NOT EXISTS (SELECT 1 FROM prepay_entries e
                WHERE e.voucher = s.voucher)")" = 0 ]; }
        wait_for 30 unclaimed || fail "claims no credit followed were not taken back: $(psql_q "SELECT count(*) FROM
                prepay_spent s WHERE NOT EXISTS (SELECT 1 FROM prepay_entries e WHERE e.voucher = s.voucher)")"
        prepay ledger verify --fleet "$FLEET" >"$T/fleet.out" 2>&1 || fail "ledger verify --fleet: $(cat "$T/fleet.out")"
        psql_q "SELECT encode(voucher, 'hex') FROM prepay_spent WHERE host = 'test-host'" | sort >"$T/fleet-spent"
        psql_q "SELECT encode(voucher, 'hex') FROM prepay_entries WHERE voucher IS NOT NULL AND host = 'test-host'" |
                sort >"$T/fleet-books"
        prepay ledger export --json --ledger "$LEDGER" | jq -r '.vouchers[].id' | sort >"$T/in-file"
        [ "$(uniq -d "$T/fleet-books" | wc -l)" = 0 ] || fail "vouchers twice in the fleet's books: $(uniq -d "$T/fleet-books" | head -3)"
        spent=$(sort -u "$T/acked" | comm -23 - "$T/fleet-spent" | wc -l)
        booked=$(sort -u "$T/acked" | comm -23 - "$T/fleet-books" | wc -l)
        [ "$spent" = 0 ] || fail "$spent acknowledged redemptions are not in the fleet's spent set"
        [ "$booked" = 0 ] || fail "$booked acknowledged redemptions are not in the fleet's books"
        cmp -s "$T/fleet-books" "$T/in-file" || fail "the fleet's books and the file spend other vouchers: $(diff "$T/fleet-books" "$T/in-file" | head -5)"
        cmp -s "$T/fleet-spent" "$T/in-file" || fail "the fleet's spent set and the file differ: $(diff "$T/fleet-spent" "$T/in-file" | head -5)"
        say "fleet: $(sort -u "$T/acked" | wc -l) acknowledged redemptions each spent once there by this host, $(wc -l <"$T/fleet-books") vouchers in its copy as in its file; $(cat "$T/fleet.out")"
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
# The last bids' period starts: every bid settled.
bids_settled() { [ "$(slice_field "$s" .sponsorship.bids)" = 0 ]; }
wait_for 30 bids_settled || fail "bids still open: $(prepay status "$s" --json | jq -c .sponsorship)"
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
# Each release acknowledged: one release entry, the books' refund and
# held as its reply said; the split ones hold the funder's share.
releases=0 split=0
for reply in "$T"/rel/*.json; do
        [ -e "$reply" ] || continue
        new=$(basename "$reply" .json)
        got=$(jq -r --arg s "$new" '"\([.entries[] | select(.kind == "release" and .slice == $s)] | length)" +
                " \(.slices[] | select(.id == $s) | "\(.refunded) \(.held_for_funders + .claimed_by_funders)")"' \
                "$T/ledger.json")
        want="1 $(jq -r '"\(.refund) \(.held_for_funders // 0)"' "$reply")"
        [ "$got" = "$want" ] ||
                fail "release of $new: the ledger says $got (entries, refunded, held and claimed since), its reply $want"
        releases=$((releases + 1))
        [ "$(jq -r '.held_for_funders // 0' "$reply")" -gt 0 ] && split=$((split + 1))
done
say "$releases releases acknowledged, $split of them split (the funder's share held): each in the ledger once, as replied"
[ "$split" -gt 0 ] || fail "no split release was acknowledged"
# Each claim acknowledged: one claim entry, the whole share the release
# held, nothing held after it.
claims=0
for reply in "$T"/claim/*.json; do
        [ -e "$reply" ] || continue
        new=$(basename "$reply" .json)
        got=$(jq -r --arg s "$new" '"\([.entries[] | select(.kind == "claim" and .slice == $s)] | length)" +
                " \(.slices[] | select(.id == $s) | "\(.claimed_by_funders) \(.held_for_funders)")"' "$T/ledger.json")
        want="1 $(jq -r .claimed "$reply") 0"
        [ "$got" = "$want" ] || fail "claim on $new: the ledger says $got (entries, claimed, held), its reply $want"
        [ "$(jq -r .claimed "$reply")" = "$(jq -r .held_for_funders "$T/rel/$new.json")" ] ||
                fail "claim on $new paid $(jq -r .claimed "$reply"), its release held $(jq -r .held_for_funders "$T/rel/$new.json")"
        claims=$((claims + 1))
done
say "$claims claims acknowledged: each in the ledger once, the whole share its release held"
[ "$claims" -gt 0 ] || fail "no claim was acknowledged"
# No claim without its acknowledgement paid twice: at most one per slice.
[ "$(jq '[.entries[] | select(.kind == "claim") | .slice] | (length == (unique | length))' "$T/ledger.json")" = true ] ||
        fail "a slice's share was claimed twice"
# Each bid acknowledged: settled once, its escrow empty; of each period
# the earliest bid won (all bid the same), and no period twice.
bids=0
for reply in "$T"/bids/*.json; do
        [ -e "$reply" ] || continue
        n=$(jq -r .bid.id "$reply")
        got=$(jq -r --arg a "bid:$s:$n" '[.entries[] | .postings[]? | select(.account == $a) | .amount] |
                "\(length) \(add) \([.[] | select(. < 0)] | length)"' "$T/ledger.json")
        [ "$got" = "2 0 1" ] || fail "bid $n: its escrow's postings (count, sum, taken out) are $got, not 2 0 1"
        bids=$((bids + 1))
done
say "$bids bids acknowledged: each paid into escrow once and taken out once"
[ "$bids" -gt 0 ] || fail "no bid was acknowledged"
# Each payment acknowledged: one pay entry for its voucher, split as its
# reply said.
pays=0
for reply in "$T"/pay/*.json; do
        [ -e "$reply" ] || continue
        id=$(basename "$reply" .json)
        got=$(jq -r --arg v "$id" '[.entries[] | select(.kind == "pay" and .voucher == $v)] |
                "\(length) \([.[].postings[] | select(.account | startswith("earned:")) | .amount] | add // 0)"' \
                "$T/ledger.json")
        [ "$got" = "1 $(jq -r .to_investors "$reply")" ] ||
                fail "payment $id: the ledger says $got (entries, to investors), its reply $(jq -c . "$reply")"
        pays=$((pays + 1))
done
# Each revenue claim acknowledged: one payout of what it said, with its
# request id; all payouts together what the slice's row says was claimed.
rclaims=0 paid=0
for reply in "$T"/rclaim/*.json; do
        [ -e "$reply" ] || continue
        id=$(basename "$reply" .json)
        got=$(jq -r --arg r "$id" '[.entries[] | select(.kind == "payout" and .request_id == $r)] |
                "\(length) \([.[].postings[] | select(.account == "refund") | .amount] | add // 0)"' "$T/ledger.json")
        [ "$got" = "1 $(jq -r .revenue "$reply")" ] ||
                fail "revenue claim $id: the ledger says $got (payouts, amount), its reply $(jq -c . "$reply")"
        rclaims=$((rclaims + 1))
        paid=$((paid + $(jq -r .revenue "$reply")))
done
[ "$(jq --arg s "$s" '.slices[] | select(.id == $s) | .claimed_by_investors' "$T/ledger.json")" -ge "$paid" ] ||
        fail "the slice's row says less claimed by investors than the claims acknowledged ($paid)"
say "$pays payments acknowledged, each in the ledger once as split; $rclaims revenue claims acknowledged ($paid paid), each one payout"
[ "$pays" -gt 0 ] || fail "no payment was acknowledged"
[ "$rclaims" -gt 0 ] || fail "no revenue claim was acknowledged"
start_daemon
returned=0 won=0
: >"$T/outcomes"
for reply in "$T"/bids/*.json; do
        [ -e "$reply" ] || continue
        n=$(jq -r .bid.id "$reply")
        prepay sponsor outcome "$s" --bid "$n" --token "$(jq -r .token "$reply")" --json >"$T/outcome.json" 2>&1 ||
                fail "outcome of bid $n: $(cat "$T/outcome.json")"
        jq -r '"\(.bid.period_start_usec) \(.bid.id) \(.bid.state) \(.bid.change // "-")"' "$T/outcome.json" >>"$T/outcomes"
done
# Per period (sorted by period, then bid number): the first bid won, the
# rest were returned with change.
bad=$(sort -k1,1n -k2,2n "$T/outcomes" | awk '$1 != last { last = $1; if ($3 != "won") print; next }
        $3 != "returned" || $4 == "-" { print }')
[ -z "$bad" ] || fail "periods not settled by the rule (earliest of equal bids wins, the rest returned): $bad"
won=$(grep -c ' won ' "$T/outcomes")
returned=$(grep -c ' returned ' "$T/outcomes")
say "$won periods won by their earliest bid, $returned bids returned with change"
# A returned bid's change is money: two of them top the slice up.
for change in $(awk '$3 == "returned" { print $4 }' "$T/outcomes" | head -2); do
        printf '%s\n' "$change" >"$T/change.voucher"
        prepay topup "$s" --voucher "$T/change.voucher" >/dev/null 2>"$T/change.err" ||
                fail "a returned bid's change was refused: $(cat "$T/change.err")"
done
# A bid retried with its request id: the same number and token.
for reply in $(ls "$T"/bids/*.json | head -3); do
        id=$(basename "$reply" .json)
        prepay sponsor bid "$s" --voucher "$T/stream/$id.voucher" --name "bidder $id" --request-id "b-$id" --json \
                >"$T/again.json" 2>/dev/null || fail "the retried bid $id failed"
        for k in .bid.id .token; do
                [ "$(jq -c "$k" "$T/again.json")" = "$(jq -c "$k" "$reply")" ] ||
                        fail "the retried bid $id: $k $(jq -c "$k" "$T/again.json"), first $(jq -c "$k" "$reply")"
        done
done
# Retried with their request ids: the first replies again.
for reply in "$T"/rel/*.json; do
        [ -e "$reply" ] || continue
        new=$(basename "$reply" .json)
        prepay release "$new" --request-id "$(cat "$T/rel/$new.id")" --json >"$T/again.json" 2>/dev/null ||
                fail "the retried release of $new failed"
        for k in refund held_for_funders change; do
                [ "$(jq -c ".$k" "$T/again.json")" = "$(jq -c ".$k" "$reply")" ] ||
                        fail "the retried release of $new: $k $(jq -c ".$k" "$T/again.json"), first $(jq -c ".$k" "$reply")"
        done
done
for reply in "$T"/claim/*.json; do
        [ -e "$reply" ] || continue
        new=$(basename "$reply" .json)
        prepay claim "$new" --funder-key "$T/funder/f.key" --request-id "$(cat "$T/claim/$new.id")" --json \
                >"$T/again.json" 2>/dev/null || fail "the retried claim on $new failed"
        for k in claimed change; do
                [ "$(jq -c ".$k" "$T/again.json")" = "$(jq -c ".$k" "$reply")" ] ||
                        fail "the retried claim on $new: $k $(jq -c ".$k" "$T/again.json"), first $(jq -c ".$k" "$reply")"
        done
done
for reply in "$T"/rclaim/*.json; do
        [ -e "$reply" ] || continue
        id=$(basename "$reply" .json)
        prepay claim "$s" --funder-key "$T/funder/f.key" --request-id "$id" --json >"$T/again.json" 2>/dev/null ||
                fail "the retried revenue claim $id failed"
        for k in claimed change; do
                [ "$(jq -c ".$k" "$T/again.json")" = "$(jq -c ".$k" "$reply")" ] ||
                        fail "the retried revenue claim $id: $k $(jq -c ".$k" "$T/again.json"), first $(jq -c ".$k" "$reply")"
        done
done
prepay release "$s" >/dev/null 2>&1 || fail "release failed"
[ "${CRASH_FLEET:-0}" = 1 ] && fleet_check
stop_daemon
prepay ledger verify --ledger "$LEDGER" >"$T/verify.out" 2>&1 || fail "after the retries: $(cat "$T/verify.out")"
exit 0
