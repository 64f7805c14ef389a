/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The enforcer's decisions (daemon/enforcer.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_max_burn_rate),
                cmocka_unit_test(test_next_check),
                cmocka_unit_test(test_next_check_burst),
                cmocka_unit_test(test_decide),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
