/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The enforcer's decisions and the charging arithmetic (daemon/enforcer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "enforcer.h"

static void test_names(void **state _unused_) {
        for (int a = 0; a < _ENFORCE_ACTION_MAX; a++)
                assert_int_equal(enforce_action_from_string(enforce_action_to_string(a)), a);
        for (int s = 0; s < _ENFORCE_STATE_MAX; s++)
                assert_int_equal(enforce_state_from_string(enforce_state_to_string(s)), s);
        assert_int_equal(enforce_action_from_string("nuke"), -EINVAL);
        assert_null(enforce_action_to_string(_ENFORCE_ACTION_MAX));

        assert_true(enforce_action_allowed("throttle freeze kill", ENFORCE_ACTION_KILL));
        assert_true(enforce_action_allowed("freeze", ENFORCE_ACTION_FREEZE));
        assert_false(enforce_action_allowed("freeze", ENFORCE_ACTION_KILL));
        assert_false(enforce_action_allowed("freezer kil", ENFORCE_ACTION_FREEZE));
        assert_false(enforce_action_allowed("freezer kil", ENFORCE_ACTION_KILL));
        assert_true(enforce_action_allowed("kill  throttle", ENFORCE_ACTION_THROTTLE));
}

static void test_max_burn_rate(void **state _unused_) {
        struct rate_card rc = { .currency = "EUR" };

        rc.price[RESOURCE_CPU] = 10000; /* 0.01 per CPU-second */
        assert_int_equal(enforcer_max_burn_rate(&rc, 1000, 0), 10000);
        assert_int_equal(enforcer_max_burn_rate(&rc, 500, 0), 5000);
        assert_int_equal(enforcer_max_burn_rate(&rc, 2000, 0), 20000);
        /* 1 GiB at 3.6 per GiB-hour: 0.001 per second. */
        rc.price[RESOURCE_MEMORY] = 3600000;
        assert_int_equal(enforcer_max_burn_rate(&rc, 1000, UINT64_C(1) << 30), 11000);
        /* Traffic is not in it. */
        rc.price[RESOURCE_NET_OUT] = 1000000000;
        assert_int_equal(enforcer_max_burn_rate(&rc, 1000, UINT64_C(1) << 30), 11000);
        /* Rounded up: never later than the money could run out. */
        rc.price[RESOURCE_MEMORY] = 0;
        rc.price[RESOURCE_CPU] = 1;
        assert_int_equal(enforcer_max_burn_rate(&rc, 1, 0), 1);
}

#define STEADY(rate) (&(struct enforce_spend) { .max_rate = (rate), .peak_rate = (rate) })

static void test_next_check(void **state _unused_) {
        const uint64_t min = 1000, max = 10 * USEC_PER_SEC;

        /* 5000 at 10000/s: half a second. */
        assert_int_equal(enforcer_next_check(5000, STEADY(10000), min, max), 500000);
        assert_int_equal(enforcer_next_check(1, STEADY(10000), min, max), min);
        assert_int_equal(enforcer_next_check(0, STEADY(10000), min, max), min);
        assert_int_equal(enforcer_next_check(-5, STEADY(10000), min, max), min);
        assert_int_equal(enforcer_next_check(INT64_MAX, STEADY(1), min, max), max);
        assert_int_equal(enforcer_next_check(5000, STEADY(0), min, max), max);
        /* Each check at full burn lands where the money ends: the next
         * one is the floor. */
        assert_int_equal(enforcer_next_check(10000 - 10000 * 1, STEADY(10000), min, max), min);
}

static void test_next_low_check(void **state _unused_) {
        const uint64_t min = 1000, max = 60 * USEC_PER_SEC;

        /* 100000 at 10000/s, warned 5 s before the end: at 5 s. */
        assert_int_equal(enforcer_next_low_check(100000, STEADY(10000), 5 * USEC_PER_SEC, min, max),
                         5 * USEC_PER_SEC);
        /* Already within the warning's reach, or nothing to warn of. */
        assert_int_equal(enforcer_next_low_check(50000, STEADY(10000), 5 * USEC_PER_SEC, min, max), max);
        assert_int_equal(enforcer_next_low_check(100000, STEADY(10000), 0, min, max), max);
        assert_int_equal(enforcer_next_low_check(100000, STEADY(0), 5 * USEC_PER_SEC, min, max), max);
        assert_int_equal(enforcer_next_low_check(0, STEADY(10000), 5 * USEC_PER_SEC, min, max), max);
        /* Far off: clamped. */
        assert_int_equal(enforcer_next_low_check(INT64_MAX, STEADY(1), 5 * USEC_PER_SEC, min, max), max);
}

static void test_next_check_burst(void **state _unused_) {
        const uint64_t min = 1000, max = 10 * USEC_PER_SEC;
        /* 0.5 CPU at 0.01 per CPU-second on a 2-CPU host: 5000/s over
         * periods, a 50 ms quota (500) that may go at 2 CPUs (20000/s). */
        const struct enforce_spend half = { .max_rate = 5000, .burst = 500, .peak_rate = 20000 };

        /* Far from the end, the quota's head start is what counts. */
        assert_int_equal(enforcer_next_check(5000, &half, min, max), 900000);
        /* Within one quota of the end, the peak rate: 400 at 20000/s. */
        assert_int_equal(enforcer_next_check(400, &half, min, max), 20000);
        /* Between the two, the later bound wins: 600 at 20000/s (30 ms)
         * is later than (600 - 500) at 5000/s (20 ms). */
        assert_int_equal(enforcer_next_check(600, &half, min, max), 30000);
        /* Never later than the steady model alone would say. */
        assert_true(enforcer_next_check(5000, &half, min, max) <= enforcer_next_check(5000, STEADY(5000), min, max));
        assert_int_equal(enforcer_next_check(0, &half, min, max), min);
}

static void test_decide(void **state _unused_) {
        struct enforce_view v = { .state = ENFORCE_OK, .balance = 100, .burn_rate = 1,
                                  .low_balance_usec = 60 * USEC_PER_SEC };

        /* 100 s left, warn under 60 s. */
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
        v.burn_rate = 2; /* 50 s left */
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_LOW);
        v.burn_rate = 0; /* not burning: never low */
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
        v.balance = 0;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_EXHAUST);
        v.balance = -3;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_EXHAUST);

        v.state = ENFORCE_LOW;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_EXHAUST);
        v.balance = 10;
        v.burn_rate = 5;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE); /* warned once */

        for (enum enforce_state s = ENFORCE_THROTTLED; s <= ENFORCE_KILLED; s++) {
                v.state = s;
                v.balance = 0;
                assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
                v.balance = 1;
                assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_RESTORE);
        }
}

/* A kill's reserve: killed once no more than the exits' cost is left, and
 * what they leave of it is not new money. */
static void test_decide_reserve(void **state _unused_) {
        struct enforce_view v = { .state = ENFORCE_OK, .balance = 100, .reserve = 40 };

        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
        v.balance = 41;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
        v.balance = 40;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_EXHAUST);
        v.state = ENFORCE_LOW;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_EXHAUST);

        /* Killed with 40 held back, its exits used 30: 10 left is theirs. */
        v.state = ENFORCE_KILLED;
        v.balance = 10;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
        v.balance = 40;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
        v.balance = 41; /* a top-up */
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_RESTORE);

        /* A reserve below zero is none. */
        v = (struct enforce_view) { .state = ENFORCE_OK, .balance = 0, .reserve = -5 };
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_EXHAUST);
        v.balance = 1;
        assert_int_equal(enforcer_decide(&v), ENFORCE_STEP_NONE);
}

static void test_available(void **state _unused_) {
        assert_int_equal(enforcer_available(100, 30), 70);
        assert_int_equal(enforcer_available(100, 130), -30);
        assert_int_equal(enforcer_available(0, 0), 0);
        /* Past 64 bits: nothing is left, whatever was held. */
        assert_true(enforcer_available(INT64_MIN + 5, 10) == INT64_MIN);
}

static void test_net_budget(void **state _unused_) {
        /* No price: no bound. */
        assert_true(enforcer_net_budget(1000, 0) == ENFORCER_GRANT_UNLIMITED);
        assert_true(enforcer_net_budget(-5, 0) == ENFORCER_GRANT_UNLIMITED);
        /* No money: no traffic. */
        assert_int_equal(enforcer_net_budget(0, 1000000), 0);
        assert_int_equal(enforcer_net_budget(-1, 1000000), 0);
        /* 1.00 at 1.00 per GiB: one GiB; half of it, half a GiB. */
        assert_int_equal(enforcer_net_budget(1000000, 1000000), INT64_C(1) << 30);
        assert_int_equal(enforcer_net_budget(500000, 1000000), INT64_C(1) << 29);
        /* Rounded down: never more than is paid for. */
        assert_int_equal(enforcer_net_budget(1, 3), (INT64_C(1) << 30) / 3);
        /* Just below unlimited, never unlimited itself. */
        assert_true(enforcer_net_budget(INT64_MAX, 1) == ENFORCER_GRANT_UNLIMITED - 1);
}

static void test_price_due(void **state _unused_) {
        struct rate_card rc = { .currency = "EUR" };
        uint64_t billed[_RESOURCE_MAX] = {}, counters[_RESOURCE_MAX] = {};
        int64_t due[_RESOURCE_MAX];

        rc.price[RESOURCE_CPU] = 10000;   /* per CPU-second */
        rc.price[RESOURCE_BASE] = 3600;   /* per slice-hour: 1 a second */
        counters[RESOURCE_CPU] = 2 * USEC_PER_SEC;
        counters[RESOURCE_BASE] = 5 * USEC_PER_SEC;
        assert_int_equal(enforcer_price_due(&rc, billed, counters, due), 20005);
        assert_int_equal(due[RESOURCE_CPU], 20000);
        assert_int_equal(due[RESOURCE_BASE], 5);
        assert_int_equal(due[RESOURCE_MEMORY], 0);

        /* Only what is past the billed counters. */
        billed[RESOURCE_CPU] = USEC_PER_SEC;
        billed[RESOURCE_BASE] = 5 * USEC_PER_SEC;
        assert_int_equal(enforcer_price_due(&rc, billed, counters, due), 10000);
        /* A counter lower than billed charges nothing. */
        billed[RESOURCE_CPU] = 3 * USEC_PER_SEC;
        assert_int_equal(enforcer_price_due(&rc, billed, counters, due), 0);

        /* A price that does not fit: all of any balance, and the sum held. */
        memset(billed, 0, sizeof(billed));
        rc.price[RESOURCE_CPU] = MONEY_AMOUNT_MAX;
        counters[RESOURCE_CPU] = UINT64_MAX;
        counters[RESOURCE_NET_OUT] = UINT64_MAX;
        rc.price[RESOURCE_NET_OUT] = MONEY_AMOUNT_MAX;
        assert_true(enforcer_price_due(&rc, billed, counters, due) >= MONEY_AMOUNT_MAX);
        assert_true(due[RESOURCE_CPU] == MONEY_AMOUNT_MAX);
}

static void test_burn_window(void **state _unused_) {
        struct burn_window w = {};

        assert_int_equal(enforcer_burn_rate(&w), 0);
        enforcer_burn_push(&w, 1000, 0);
        assert_int_equal(enforcer_burn_rate(&w), 0); /* one pass: no rate yet */
        enforcer_burn_push(&w, 1000 + USEC_PER_SEC, 500);
        assert_int_equal(enforcer_burn_rate(&w), 500);
        /* Over the whole window: 500 in 2 s. */
        enforcer_burn_push(&w, 1000 + 2 * USEC_PER_SEC, 500);
        assert_int_equal(enforcer_burn_rate(&w), 250);

        /* A full window keeps the last ENFORCER_BURN_WINDOW passes only:
         * 100 a second, after a burst the window has left behind. */
        memset(&w, 0, sizeof(w));
        enforcer_burn_push(&w, 0, 0);
        enforcer_burn_push(&w, USEC_PER_SEC, 1000000);
        for (unsigned i = 2; i < 2 + ENFORCER_BURN_WINDOW; i++)
                enforcer_burn_push(&w, i * USEC_PER_SEC, 1000000 + (int64_t) (i - 1) * 100);
        assert_int_equal(w.n, ENFORCER_BURN_WINDOW);
        assert_int_equal(enforcer_burn_rate(&w), 100);

        /* No time passed: no rate, not a division by zero. */
        memset(&w, 0, sizeof(w));
        enforcer_burn_push(&w, 5, 0);
        enforcer_burn_push(&w, 5, 100);
        assert_int_equal(enforcer_burn_rate(&w), 0);
}

static void test_time_left(void **state _unused_) {
        assert_int_equal(enforcer_time_left(1000, 0), 0);
        assert_int_equal(enforcer_time_left(1000, -1), 0);
        assert_int_equal(enforcer_time_left(1000, 100), 10 * USEC_PER_SEC);
        /* 10^15 at 1 a second is 10^21 us: held where JSON ends. */
        assert_true(enforcer_time_left(INT64_C(1000000000000000), 1) == (uint64_t) INT64_MAX);
}

static void test_cpus(void **state _unused_) {
        /* No quota: the whole host (MaxCPUs=). */
        assert_int_equal(enforcer_cpus_of_limits(0, 100000, 4000), 4000);
        assert_int_equal(enforcer_cpus_of_limits(50000, 100000, 4000), 500);
        /* At least 1, and too large to count is as fast as anything. */
        assert_int_equal(enforcer_cpus_of_limits(1, 1000000, 4000), 1);
        assert_true(enforcer_cpus_of_limits(UINT64_MAX, 1, 4000) == UINT64_MAX);

        assert_int_equal(enforcer_low_cpus(1000, 50), 500);
        assert_int_equal(enforcer_low_cpus(1000, 100), 1000);
        assert_int_equal(enforcer_low_cpus(1000, 0), 10); /* a floor */
        assert_int_equal(enforcer_low_cpus(30, 10), 10);
        /* Near UINT64_MAX: no wrap. */
        assert_true(enforcer_low_cpus(UINT64_MAX, 50) == UINT64_MAX / 100 * 50 + UINT64_MAX % 100 * 50 / 100);
}

static void test_spend(void **state _unused_) {
        struct rate_card rc = { .currency = "EUR" };
        struct enforce_spend sp;

        rc.price[RESOURCE_CPU] = 10000; /* 0.01 per CPU-second */
        /* No quota: steady at its size. */
        enforcer_spend(&rc, 2000, 0, 0, 4000, &sp);
        assert_int_equal(sp.max_rate, 20000);
        assert_int_equal(sp.peak_rate, 20000);
        assert_int_equal(sp.burst, 0);
        /* 0.5 CPU as a 50 ms quota on a 2-CPU host: one period's quota
         * (50 ms of CPU: 500) may go at once, at 2 CPUs. */
        enforcer_spend(&rc, 500, 50000, 0, 2000, &sp);
        assert_int_equal(sp.max_rate, 5000);
        assert_int_equal(sp.peak_rate, 20000);
        assert_int_equal(sp.burst, 500);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_max_burn_rate),
                cmocka_unit_test(test_next_check),
                cmocka_unit_test(test_next_low_check),
                cmocka_unit_test(test_next_check_burst),
                cmocka_unit_test(test_decide),
                cmocka_unit_test(test_decide_reserve),
                cmocka_unit_test(test_available),
                cmocka_unit_test(test_net_budget),
                cmocka_unit_test(test_price_due),
                cmocka_unit_test(test_burn_window),
                cmocka_unit_test(test_time_left),
                cmocka_unit_test(test_cpus),
                cmocka_unit_test(test_spend),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
