/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "stats.h"

#include "common/util.h"

/* Microseconds. A meter read is a BPF run and a few files per slice
 * (tens of microseconds to milliseconds); a commit an fsync (a
 * millisecond or so on a disk, far more on a busy one). */
static const uint64_t read_bounds[] = { 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000 };
static const uint64_t commit_bounds[] = { 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
                                          1000000, 2500000 };

_Static_assert(ARRAY_SIZE(read_bounds) <= METRICS_BUCKETS_MAX, "read_bounds");
_Static_assert(ARRAY_SIZE(commit_bounds) <= METRICS_BUCKETS_MAX, "commit_bounds");

struct stats stats = {
        .meter_read = { .bounds = read_bounds, .n = ARRAY_SIZE(read_bounds) },
        .commit = { .bounds = commit_bounds, .n = ARRAY_SIZE(commit_bounds) },
};

const char *stats_action_to_string(enum stats_action a) {
        static const char *const names[_STATS_ACTION_MAX] = {
                [STATS_ACTION_LOW] = "low",
                [STATS_ACTION_THROTTLE] = "throttle",
                [STATS_ACTION_FREEZE] = "freeze",
                [STATS_ACTION_KILL] = "kill",
                [STATS_ACTION_RESTORE] = "restore",
        };
        return a < _STATS_ACTION_MAX ? names[a] : NULL;
}

const char *stats_refusal_to_string(enum stats_refusal r) {
        static const char *const names[_STATS_REFUSED_MAX] = {
                [STATS_REFUSED_MALFORMED] = "malformed",
                [STATS_REFUSED_INVALID] = "invalid",
                [STATS_REFUSED_SPENT] = "spent",
                [STATS_REFUSED_DUPLICATE] = "duplicate",
                [STATS_REFUSED_REDEEM] = "refused",
        };
        return r < _STATS_REFUSED_MAX ? names[r] : NULL;
}

void stats_committed(int r) {
        if (r >= 0)
                stats.redemptions += stats.redemptions_uncommitted;
        else
                stats.commit_failures++;
        stats.redemptions_uncommitted = 0;
}
