/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay-gatewayd's token buckets (daemon/gateway-limits.c): the burst,
 * the refill, Retry-After, keys apart, and a full table that evicts the
 * least recently used key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "common/util.h"
#include "gateway-limits.h"

#define SEC(n) ((uint64_t) (n) * USEC_PER_SEC)

static void test_burst_then_refill(void **state) {
        struct limits *l;
        uint64_t t = SEC(1000);

        /* 2 per second, a burst of 5 */
        assert_int_equal(limits_new(16, 2000, 5, &l), 0);
        for (int i = 0; i < 5; i++)
                assert_int_equal(limits_take(l, "192.0.2.1", t), 0);
        assert_int_equal(limits_take(l, "192.0.2.1", t), 1);
        /* half a second later: one token */
        assert_int_equal(limits_take(l, "192.0.2.1", t + 500 * USEC_PER_MSEC), 0);
        assert_int_equal(limits_take(l, "192.0.2.1", t + 500 * USEC_PER_MSEC), 1);
        /* a long pause fills the bucket, never past the burst */
        for (int i = 0; i < 5; i++)
                assert_int_equal(limits_take(l, "192.0.2.1", t + SEC(3600)), 0);
        assert_int_not_equal(limits_take(l, "192.0.2.1", t + SEC(3600)), 0);
        limits_free(l);
}

static void test_retry_after(void **state) {
        struct limits *l;

        /* one every 10 s */
        assert_int_equal(limits_new(4, 100, 1, &l), 0);
        assert_int_equal(limits_take(l, "a", SEC(1)), 0);
        assert_int_equal(limits_take(l, "a", SEC(1)), 10);
        assert_int_equal(limits_take(l, "a", SEC(4)), 7);
        assert_int_equal(limits_take(l, "a", SEC(4) + 1), 7); /* rounded up */
        assert_int_equal(limits_take(l, "a", SEC(11)), 0);
        /* a refusal takes nothing: the wait shrinks with the time */
        assert_int_equal(limits_take(l, "a", SEC(20)), 1);
        limits_free(l);
}

static void test_keys_apart(void **state) {
        struct limits *l;

        assert_int_equal(limits_new(16, 1000, 1, &l), 0);
        assert_int_equal(limits_take(l, "s-0000000000000001", SEC(1)), 0);
        assert_int_not_equal(limits_take(l, "s-0000000000000001", SEC(1)), 0);
        assert_int_equal(limits_take(l, "s-0000000000000002", SEC(1)), 0);
        assert_int_equal(limits_size(l), 2);
        limits_free(l);
}

static void test_no_limit(void **state) {
        struct limits *l;

        assert_int_equal(limits_new(1, 0, 1, &l), 0);
        for (int i = 0; i < 1000; i++)
                assert_int_equal(limits_take(l, "x", SEC(1)), 0);
        assert_int_equal(limits_size(l), 0);
        limits_free(l);

        assert_int_equal(limits_new(0, 1000, 1, &l), -EINVAL);
        assert_int_equal(limits_new(1, 1000, 0, &l), -EINVAL);
}

/* Past capacity the least recently used key goes: its bucket starts full
 * when it comes back, and the table never grows. */
static void test_eviction(void **state) {
        struct limits *l;
        char key[32];

        assert_int_equal(limits_new(3, 1, 1, &l), 0); /* one per 1000 s */
        assert_int_equal(limits_take(l, "a", SEC(1)), 0);
        assert_int_equal(limits_take(l, "b", SEC(2)), 0);
        assert_int_equal(limits_take(l, "c", SEC(3)), 0);
        assert_int_not_equal(limits_take(l, "a", SEC(4)), 0); /* a is now the newest */
        assert_int_equal(limits_take(l, "d", SEC(5)), 0);     /* evicts b */
        assert_int_equal(limits_size(l), 3);
        assert_int_not_equal(limits_take(l, "a", SEC(6)), 0);
        assert_int_not_equal(limits_take(l, "c", SEC(6)), 0);
        assert_int_not_equal(limits_take(l, "d", SEC(6)), 0);
        assert_int_equal(limits_take(l, "b", SEC(7)), 0); /* forgotten: full again; evicts a */
        assert_int_equal(limits_take(l, "a", SEC(8)), 0);

        /* a flood of keys keeps the table bounded and each chain sound */
        for (int i = 0; i < 10000; i++) {
                snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
                assert_int_equal(limits_take(l, key, SEC(10) + (uint64_t) i), 0);
                assert_int_not_equal(limits_take(l, key, SEC(10) + (uint64_t) i), 0);
        }
        assert_int_equal(limits_size(l), 3);
        limits_free(l);
}

static void test_long_key(void **state) {
        char key[200];
        struct limits *l;

        memset(key, 'k', sizeof(key) - 1);
        key[sizeof(key) - 1] = 0;
        assert_int_equal(limits_new(2, 1, 1, &l), 0);
        assert_int_equal(limits_take(l, key, SEC(1)), 0);
        assert_int_not_equal(limits_take(l, key, SEC(1)), 0);
        limits_free(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_burst_then_refill),
                cmocka_unit_test(test_retry_after),
                cmocka_unit_test(test_keys_apart),
                cmocka_unit_test(test_no_limit),
                cmocka_unit_test(test_eviction),
                cmocka_unit_test(test_long_key),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
