#!/bin/bash
# prepayd killed with SIGKILL at random moments, KILLS times (default 200, 60 in an emulated guest),
# while clients redeem vouchers into new slices, top up slices and a
# burner is charged. After each kill: "prepay ledger verify" passes. At the
# end: no voucher credited twice, and every redemption or top-up a client
# saw acknowledged is in the ledger; every credit carries the funder its
# request named (one top-up in three is a funder's, --funder-key), never
# none or another. Clients retry with their request id
# while the daemon is down (prepay does this by itself). Half the slices
# the client buys and releases at once are the funder's, pro-rata: every
# release acknowledged is in the ledger once, as its reply said (change to
# the owner, the funder's share held), and a retry of it replays that
# reply; the funder then claims its share: each claim acknowledged is in
# the ledger once, for the whole share, and a retry replays it.
# The burner's slice is offered to sponsors in periods of 2 s, and one
# voucher in seven is a sponsor's bid of it (all equal): every bid
# acknowledged is in the books once, settled once (won or returned, its
# escrow empty), each period has one winner at most, the earliest of its
# bids, whatever the kills interrupted; a returned bid's change spends,
# and a retried bid replays its number and token.
# The burner's slice is also open to investors (a 50% revenue share), so
# the funder's top-ups of it are investments; one voucher in eleven is
# paid to it as revenue (prepay pay): each payment acknowledged is in the ledger
# once, split as its reply said; now and then the funder claims the
# revenue it earned: each claim acknowledged is one payout of what its
# reply said, never paid twice, and a retry replays it.
# The body is lib-ledger-crash.sh's, which test-ledger-crash-fleet.sh
# runs with the ledger in a fleet's PostgreSQL database too.
# run-all-timeout: 900
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-ledger-crash.sh"
