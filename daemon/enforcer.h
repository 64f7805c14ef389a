/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "pricing.h"

/* The enforcer's decisions, pure (no syscalls): what a funded slice's
 * balance calls for, and when to look at it again; billing.c decides
 * with them, enforce.c acts. Unit-tested in tests/unit/test-enforcer.c.
 *
 * No blind poll: a slice cannot spend faster than its size allows (its
 * CPU quota, its memory limit, the base fee; network is bounded in the
 * kernel by its grant), so its balance cannot run out before
 * balance / enforcer_max_burn_rate() seconds (less one CPU period's quota,
 * which may go at once: struct enforce_spend). The daemon arms a timer for
 * that moment, reads the kernel's counters then, and either acts or arms
 * the timer again for the (shorter) time the rest could last. Near the
 * end the checks come closer together, never closer than a floor. */

enum enforce_action {
        ENFORCE_ACTION_THROTTLE, /* a tiny CPU quota (ThrottleCPU=), network dropped */
        ENFORCE_ACTION_FREEZE,   /* cgroup freezer; killed after GraceSec= without a top-up */
        ENFORCE_ACTION_KILL,     /* every process at once */
        _ENFORCE_ACTION_MAX,
};

enum enforce_state {
        ENFORCE_OK,
        ENFORCE_LOW,       /* warned; maybe throttled to LowBalanceCPU= */
        ENFORCE_THROTTLED, /* exhausted, throttled */
        ENFORCE_FROZEN,    /* exhausted, frozen, grace running */
        ENFORCE_KILLED,    /* exhausted, killed (the slice stays, empty) */
        _ENFORCE_STATE_MAX,
};

const char *enforce_action_to_string(enum enforce_action a);
int enforce_action_from_string(const char *s); /* -EINVAL */
const char *enforce_state_to_string(enum enforce_state s);
int enforce_state_from_string(const char *s);
/* Whether a is one of the space-separated words of list (AllowedActions=). */
bool enforce_action_allowed(const char *list, enum enforce_action a);

/* Micro-units per second a slice of this size spends at most: CPUs at
 * full use, memory_bytes held, the base fee; rounded up. Traffic is not
 * in it: network is bounded by its grant, disk IO charged as it comes. */
int64_t enforcer_max_burn_rate(const struct rate_card *rc, uint64_t cpus_milli, uint64_t memory_bytes);

/* How fast a slice can spend, in micro-units. Over any stretch t it spends
 * at most max_rate * t + burst, and at most peak_rate * t: a CPU quota is
 * handed out per period, and one period's quota (burst) may go at once on
 * every CPU of the host (peak_rate), so a 0.5-CPU slice can burn at 1 CPU
 * or more for up to 50 ms of every 100. burst 0: max_rate is the bound. */
struct enforce_spend {
        int64_t max_rate;  /* per second, over periods */
        int64_t burst;     /* one CPU period's quota */
        int64_t peak_rate; /* per second, within a period */
};

/* How long the balance lasts at the soonest under sp, clamped to
 * [min_usec, max_usec]; max_usec when nothing can be spent (rate 0). */
uint64_t enforcer_next_check(int64_t balance, const struct enforce_spend *sp, uint64_t min_usec, uint64_t max_usec);
/* When the balance could first fall to what low_usec of spending at the
 * highest rate costs (where the low-balance warning may be due), clamped
 * the same way; max_usec when it is already there or nothing can be
 * spent: the reads of a slice that spends come anyway. */
uint64_t enforcer_next_low_check(int64_t balance, const struct enforce_spend *sp, uint64_t low_usec,
                                 uint64_t min_usec, uint64_t max_usec);

struct enforce_view {
        enum enforce_state state;
        int64_t balance;        /* what is left now, unwritten usage included */
        /* What stopping the slice will cost it, held back from balance
         * (enforce_kill_reserve(), enforce.h): a slice to be killed is
         * killed once no more than this is left, so that its tasks' exits
         * are paid for; a killed one is restored only by money past what
         * was held back for them. 0 for the other actions. */
        int64_t reserve;
        int64_t burn_rate;      /* per second, recent */
        uint64_t low_balance_usec; /* LowBalanceSec= */
};

enum enforce_step {
        ENFORCE_STEP_NONE,
        ENFORCE_STEP_LOW,      /* warn (and throttle to LowBalanceCPU=) */
        ENFORCE_STEP_EXHAUST,  /* take the slice's action */
        ENFORCE_STEP_RESTORE,  /* money again: limits back, thaw */
};

enum enforce_step enforcer_decide(const struct enforce_view *v);

/* ---- the charging arithmetic (pure; billing.c and enforce.c use it) ---- */

/* A network grant without a bound (meter.h's METER_GRANT_UNLIMITED). */
#define ENFORCER_GRANT_UNLIMITED INT64_MAX

/* What is left of balance once pending (priced usage not yet written) is
 * paid: INT64_MIN when that does not fit in 64 bits. */
int64_t enforcer_available(int64_t balance, int64_t pending);

/* Bytes money pays for at a price per GiB: ENFORCER_GRANT_UNLIMITED when
 * traffic has no price, 0 when there is no money, and just below
 * unlimited at most. */
int64_t enforcer_net_budget(int64_t money, int64_t price_per_gib);

/* What each resource's counter past billed costs (due[r]), and their sum.
 * A resource whose price does not fit costs MONEY_AMOUNT_MAX (beyond any
 * balance: all of it), and the sum saturates at INT64_MAX. */
int64_t enforcer_price_due(const struct rate_card *rc, const uint64_t billed[static _RESOURCE_MAX],
                           const uint64_t counters[static _RESOURCE_MAX], int64_t due[static _RESOURCE_MAX]);

/* The burn rate: what a slice had spent in all (charged, overshoot and
 * unwritten usage) at its last ENFORCER_BURN_WINDOW meter passes. */
#define ENFORCER_BURN_WINDOW 11
struct burn_window {
        uint64_t usec[ENFORCER_BURN_WINDOW];  /* CLOCK_MONOTONIC */
        int64_t spent[ENFORCER_BURN_WINDOW];
        unsigned n, head;
};
/* One pass more; the oldest goes once the window is full. */
void enforcer_burn_push(struct burn_window *w, uint64_t now, int64_t spent);
/* Per second over the window; 0 with fewer than two passes, or when
 * nothing was spent or no time passed. */
int64_t enforcer_burn_rate(const struct burn_window *w);
/* How long balance lasts at rate per second: 0 when rate is not
 * positive; held at INT64_MAX, what JSON carries. */
uint64_t enforcer_time_left(int64_t balance, int64_t rate);

/* A slice's size in milli-CPUs: its quota over its period (at least 1,
 * UINT64_MAX when it does not fit), or, without a quota, max_cpus_milli
 * (it may use the whole host). */
uint64_t enforcer_cpus_of_limits(uint64_t quota_usec, uint64_t period_usec, uint64_t max_cpus_milli);
/* percent (LowBalanceCPU=, at most 100) of milli, at least 10 milli-CPUs:
 * divided first, so that a size near UINT64_MAX cannot wrap. */
uint64_t enforcer_low_cpus(uint64_t milli, uint64_t percent);
/* How fast a slice of cpus_milli (enforcer_cpus_of_limits()) and
 * memory_max can spend: its size at full use, and with a CPU quota, one
 * period's quota at once on every online CPU. */
void enforcer_spend(const struct rate_card *rc, uint64_t cpus_milli, uint64_t quota_usec, uint64_t memory_max,
                    uint64_t online_cpus_milli, struct enforce_spend *ret);
