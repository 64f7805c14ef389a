/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "common/metrics.h"

/* prepayd's own counters for the operator's Prometheus (the "metrics" op,
 * requests.c renders them; daemon/README.md, "Metrics"). One instance for
 * the process: the figures are counted where they happen, in enforce,
 * batch, billing and slices, and a registry threaded through every one of
 * them would carry nothing but this. Since the daemon started: Prometheus
 * takes a counter that starts again from zero as a restart. */

enum stats_action {
        STATS_ACTION_LOW,      /* warned (and maybe throttled to LowBalanceCPU=) */
        STATS_ACTION_THROTTLE,
        STATS_ACTION_FREEZE,
        STATS_ACTION_KILL,
        STATS_ACTION_RESTORE,  /* limits back, thawed: money again */
        _STATS_ACTION_MAX,
};

/* Why a voucher was not spent (the reason label; a fixed set, never the
 * voucher's own text). */
enum stats_refusal {
        STATS_REFUSED_MALFORMED, /* not a voucher's text */
        STATS_REFUSED_INVALID,   /* signature, issuer, host, currency or expiry */
        STATS_REFUSED_SPENT,     /* already redeemed */
        STATS_REFUSED_DUPLICATE, /* twice in one request */
        STATS_REFUSED_REDEEM,    /* the ledger refused it (the balance's cap, the funders' model) */
        _STATS_REFUSED_MAX,
};

struct stats {
        uint64_t redemptions;             /* vouchers redeemed, committed */
        uint64_t redemptions_uncommitted; /* in the open batch */
        uint64_t actions[_STATS_ACTION_MAX];
        uint64_t refused[_STATS_REFUSED_MAX];
        uint64_t commit_failures;
        struct metrics_histogram meter_read; /* one batched read of slices (slices.c) */
        struct metrics_histogram commit;     /* one ledger commit (batch.c) */
};

extern struct stats stats;

const char *stats_action_to_string(enum stats_action a);
const char *stats_refusal_to_string(enum stats_refusal r);

/* After a commit: what the batch redeemed is counted, or dropped with it. */
void stats_committed(int r);
