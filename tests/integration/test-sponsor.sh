#!/bin/bash
# Sponsorship (issue 16), as a new user meets it. An owner offers its
# slice's periods to sponsors (prepay sponsor offer); two sponsors bid with
# vouchers, spent at once into escrow. When the period starts the higher
# bid is credited to the slice and shown: in status, in prepay sponsor
# show, in a "sponsor" event, and to the workload in the slice's
# environment file (shell-quoted: a name with a quote in it reads back
# as it was). The lower one is paid back as change at once; its bidder
# fetches it with the bid token, and it is real: it tops up another slice.
# A bid below the least, or in another currency, is refused and its
# voucher stays unspent (it is spent afterwards). Of equal bids the
# earliest wins. A release pays every open bid back. The books balance
# throughout.
. "$(dirname "$0")/lib.sh"
# run-all-timeout: 180

write_config "[Money]
MinRuntimeSec=1s
$(cpu_prices 0.001)"
start_daemon

# buy: a slice holding a sleeper (1.00 EUR), its id in $s.
buy() {
        local log
        log=$(mktemp "$T/run.XXXXXX")
        bg prepay run --voucher "$(mint 1.00)" --cpus 0.1 -- sleep 600 >/dev/null 2>"$log"
        s=$(slice_from_log "$log") || fail "no slice: $(cat "$log")"
}
buy
a=$s
buy
b=$s
buy
c=$s

# Every voucher minted before the offer: the bids then come within the
# seconds before the first period starts.
v_alice=$(mint 2.00)
v_bob=$(mint 1.50)
v_low=$(mint 0.50)
v_usd=$(mint 2.00 --currency USD)
v_carol=$(mint 1.00)
v_dave=$(mint 1.00)

# Periods of an hour, the first 8 s from now (time enough for the bids on
# a machine twice as slow; the test waits for the daemon, not for 8 s).
# The same second since the epoch for both slices: two "+8s" could fall
# on either side of a second's boundary.
at=$(($(date +%s) + 8))
prepay sponsor offer "$a" --period 1h --min 1.00 --start "$at" --json >"$T/offer-a.json" 2>"$T/offer-a.err" ||
        fail "offer refused: $(cat "$T/offer-a.err")"
prepay sponsor offer "$b" --period 1h --min 1.00 --start "$at" >/dev/null 2>"$T/offer-b.err" ||
        fail "offer refused: $(cat "$T/offer-b.err")"
start=$(jq -r .sponsorship.start_usec "$T/offer-a.json")
[ "$(slice_field "$a" .sponsorship.min)" = 1000000 ] || fail "status: min $(slice_field "$a" .sponsorship.min)"
[ "$(slice_field "$a" .sponsorship.current)" = null ] || fail "a sponsor before any period"

bg prepay events "$a" --json >"$T/events.json" 2>"$T/events.err"

# bid NAME VOUCHER SLICE [OPTIONS]: its reply in $T/bid-NAME.json.
bid() {
        local name=$1 v=$2 slice=$3
        shift 3
        prepay sponsor bid "$slice" --voucher "$v" --name "$name" "$@" --json >"$T/bid-$name.json" 2>"$T/bid-$name.err"
}
bid "Alice's Café" "$v_alice" "$a" --url "https://alice.example/?x=1&y=2" ||
        fail "Alice's bid refused: $(cat "$T/bid-Alice's Café.err")"
bid Bob "$v_bob" "$a" || fail "Bob's bid refused: $(cat "$T/bid-Bob.err")"
bid Carol "$v_carol" "$b" || fail "Carol's bid refused: $(cat "$T/bid-Carol.err")"
bid Dave "$v_dave" "$b" || fail "Dave's bid refused: $(cat "$T/bid-Dave.err")"
for n in "Alice's Café" Bob Carol Dave; do
        [ "$(jq -r .bid.period_start_usec "$T/bid-$n.json")" = "$start" ] ||
                fail "$n's bid is for the period from $(jq -r .bid.period_start_usec "$T/bid-$n.json"), not $start" \
                        "(the machine took more than 8 s to bid?)"
done
[ "$(jq -r .bid.id "$T/bid-Bob.json")" = 2 ] || fail "Bob's bid is not bid 2: $(cat "$T/bid-Bob.json")"
bob_token=$(jq -r .token "$T/bid-Bob.json")
dave_token=$(jq -r .token "$T/bid-Dave.json")
say "two bids on each of two slices, in escrow for the period from $start"

# Below the least: refused, bid_too_low, nothing spent. In another
# currency: refused, nothing spent.
prepay sponsor bid "$a" --voucher "$v_low" --name Cheap >/dev/null 2>"$T/low.err" && fail "a bid of 0.50 was taken"
grep -q "below the least" "$T/low.err" || fail "low bid: $(cat "$T/low.err")"
prepay sponsor bid "$a" --voucher "$v_usd" --name Dollar >/dev/null 2>"$T/usd.err" && fail "a bid in USD was taken"
# Bad names and links never reach the daemon, nor does it take them.
prepay sponsor bid "$a" --voucher "$v_low" --name "$(printf 'a\tb')" >/dev/null 2>&1 && fail "a name with a tab was taken"
prepay sponsor bid "$a" --voucher "$v_low" --name X --url "ftp://x" >/dev/null 2>&1 && fail "an ftp link was taken"
prepay sponsor bid "$a" --voucher "$v_low" --name X --url "https://x.example/café" >/dev/null 2>&1 &&
        fail "a link with non-ASCII characters was taken"
[ "$(slice_field "$a" .sponsorship.bids)" = 2 ] || fail "status: $(slice_field "$a" .sponsorship.bids) bids"
say "a bid below the least and one in USD refused"

# The period starts: Alice (the higher) wins on a, Carol (the earlier of
# two equal) on b.
wait_for 60 field_is "$a" .sponsorship.current.name "Alice's Café" ||
        fail "no sponsor on $a: $(prepay status "$a" --json | jq -c .sponsorship)"
wait_for 30 field_is "$b" .sponsorship.current.name Carol ||
        fail "the tie on $b: $(prepay status "$b" --json | jq -c .sponsorship)"
[ "$(slice_field "$a" .sponsorship.current.url)" = "https://alice.example/?x=1&y=2" ] ||
        fail "status: url $(slice_field "$a" .sponsorship.current.url)"
[ "$(slice_field "$a" .account.credited)" = 3000000 ] || fail "credited $(slice_field "$a" .account.credited), not 3.00"
[ "$(slice_field "$b" .account.credited)" = 2000000 ] || fail "credited $(slice_field "$b" .account.credited), not 2.00"
[ "$(slice_field "$a" .sponsorship.bids)" = 0 ] || fail "bids left open on $a"
prepay sponsor show "$a" | grep -qF "sponsor:     Alice's Café" || fail "prepay sponsor show: $(prepay sponsor show "$a")"
say "the period started: Alice credited to $a, Carol (first of two equal bids) to $b"

# The workload's environment file: beside the control socket, read back
# by a shell exactly as the name and link were given.
env_file=$(slice_field "$a" .sponsorship.env_file)
[ "$env_file" = "$T/slices/$a/sponsor.env" ] || fail "env_file $env_file"
[ "$(stat -c %a "$env_file")" = 644 ] || fail "$env_file has mode $(stat -c %a "$env_file")"
(
        . "$env_file"
        [ "$PREPAY_SPONSOR_NAME" = "Alice's Café" ] || fail "PREPAY_SPONSOR_NAME=$PREPAY_SPONSOR_NAME"
        [ "$PREPAY_SPONSOR_URL" = "https://alice.example/?x=1&y=2" ] || fail "PREPAY_SPONSOR_URL=$PREPAY_SPONSOR_URL"
        [ "$PREPAY_SPONSOR_UNTIL" = $(((start / 1000000) + 3600)) ] || fail "PREPAY_SPONSOR_UNTIL=$PREPAY_SPONSOR_UNTIL"
) || exit 1
[ "$(env -i bash -c "set -a; . '$env_file'; env | grep -c '^PREPAY_SPONSOR_'")" = 3 ] || fail "$env_file sets more than 3 variables"
say "the workload reads its sponsor from $env_file"

# The events: "sponsor" with the winner, "bid_refunded" for Bob's, which
# carries no change (the owner's stream is not the bidder's).
has_events() { grep -q '"sponsor"' "$T/events.json" && grep -q '"bid_refunded"' "$T/events.json"; }
wait_for 10 has_events || fail "no sponsor and bid_refunded events: $(cat "$T/events.json" "$T/events.err")"
jq -s -e '[.[] | select(.kind == "sponsor")][0] | .name == "Alice'"'"'s Café" and .amount == 2000000 and .bid == 1' \
        "$T/events.json" >/dev/null || fail "the sponsor event: $(cat "$T/events.json")"
jq -s -e '[.[] | select(.kind == "bid_refunded")][0] | .amount == 1500000 and .bid == 2 and (has("change") | not)' \
        "$T/events.json" >/dev/null || fail "the bid_refunded event: $(cat "$T/events.json")"

# Bob's change, to Bob alone: a wrong token is refused; with his, the
# change, worth his bid, which tops up slice c.
prepay sponsor outcome "$a" --bid 2 --token "$dave_token" >/dev/null 2>"$T/wrong.err" && fail "a wrong bid token was taken"
prepay sponsor outcome "$a" --bid 2 --token "$bob_token" --out "$T/bob.change" >"$T/bob.out" 2>&1 ||
        fail "Bob's outcome: $(cat "$T/bob.out")"
grep -q returned "$T/bob.out" || fail "Bob's outcome: $(cat "$T/bob.out")"
prepay voucher show "$T/bob.change" 2>&1 | grep -q "1.50" || fail "Bob's change: $(prepay voucher show "$T/bob.change" 2>&1)"
before=$(slice_field "$c" .account.credited)
prepay topup "$c" --voucher "$T/bob.change" >/dev/null 2>"$T/bob-topup.err" || fail "Bob's change refused: $(cat "$T/bob-topup.err")"
[ "$(slice_field "$c" .account.credited)" = $((before + 1500000)) ] || fail "Bob's change credited $(slice_field "$c" .account.credited)"
prepay sponsor outcome "$b" --bid 2 --token "$dave_token" --out "$T/dave.change" >/dev/null 2>&1 || fail "Dave's outcome"
prepay topup "$c" --voucher "$T/dave.change" >/dev/null 2>&1 || fail "Dave's change refused"
say "Bob's and Dave's change (the losers) fetched with their bid tokens and spent on $c"

# The vouchers refused before are unspent: they top up now.
prepay topup "$c" --voucher "$v_low" >/dev/null 2>"$T/low-topup.err" || fail "the low bid's voucher: $(cat "$T/low-topup.err")"
say "the low bid's voucher was not spent: it topped up $c"

# A release pays every open bid back: one bid for the next period, then
# the release; its change comes back with its token, and the released
# slice takes no more bids (the voucher stays unspent).
bid Erin "$(mint 1.25)" "$a" || fail "Erin's bid refused: $(cat "$T/bid-Erin.err")"
erin=$(jq -r .bid.id "$T/bid-Erin.json")
prepay release "$a" >/dev/null 2>"$T/release.err" || fail "release refused: $(cat "$T/release.err")"
prepay sponsor outcome "$a" --bid "$erin" --token "$(jq -r .token "$T/bid-Erin.json")" --json >"$T/erin.json" 2>&1 ||
        fail "Erin's outcome: $(cat "$T/erin.json")"
[ "$(jq -r .bid.state "$T/erin.json")" = returned ] || fail "Erin's bid after the release: $(cat "$T/erin.json")"
[ -e "$env_file" ] && fail "$env_file outlived the release"
late=$(mint 1.00)
prepay sponsor bid "$a" --voucher "$late" --name Late >/dev/null 2>&1 && fail "a released slice took a bid"
prepay topup "$c" --voucher "$late" >/dev/null 2>&1 || fail "the refused late bid's voucher was spent"
say "a release paid the open bid back; a released slice takes none"

ledger_verify >"$T/verify.out" 2>&1 || fail "ledger verify: $(cat "$T/verify.out")"
say "ledger verify holds"
