#!/bin/bash
# test-ledger-crash.sh with the ledger in a fleet (issue 17): the host's
# Ledger= is a PostgreSQL server started here (lib-postgres.sh; skipped
# where it is not installed), so every redemption, payment and bid claims
# its vouchers there before it credits them, and prepayd is SIGKILLed at
# random moments, PREPAY_CRASH_KILLS times (default 60). Everything
# test-ledger-crash.sh checks, and at the end "prepay ledger verify
# --fleet" passes, every acknowledged redemption's voucher is spent once
# in the fleet by this host (its spent row, one entry of its copy), no
# claim is left that no credit followed, and the fleet spends exactly the
# vouchers the host's file does.
# run-all-timeout: 600
. "$(dirname "$0")/lib.sh"
CRASH_FLEET=1
. "$(dirname "$0")/lib-ledger-crash.sh"
