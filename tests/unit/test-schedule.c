/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The meter's schedule (daemon/schedule.c): a min-heap whose entries can
 * be moved and removed, and the wait between two reads of a slice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "schedule.h"

/* Every parent due no later than its children, every pos right. */
static void check_heap(const struct schedule *q) {
        for (size_t i = 0; i < q->n; i++) {
                assert_int_equal(q->v[i]->pos, i);
                if (i > 0)
                        assert_true(q->v[(i - 1) / 2]->due <= q->v[i]->due);
        }
}

static void test_order(void **state _unused_) {
        struct schedule q = {};
        struct schedule_entry e[1000], *x;
        uint64_t last = 0;
        size_t n = 0;

        srand(1);
        for (size_t i = 0; i < ARRAY_SIZE(e); i++) {
                schedule_entry_init(&e[i]);
                assert_int_equal(schedule_put(&q, &e[i], (uint64_t) (rand() % 5000)), 0);
        }
        check_heap(&q);
        /* Move a third of them, take a third out. */
        for (size_t i = 0; i < ARRAY_SIZE(e); i += 3)
                assert_int_equal(schedule_put(&q, &e[i], (uint64_t) (rand() % 5000)), 0);
        for (size_t i = 1; i < ARRAY_SIZE(e); i += 3) {
                schedule_remove(&q, &e[i]);
                assert_int_equal(e[i].pos, SCHEDULE_NONE);
                schedule_remove(&q, &e[i]); /* twice is harmless */
        }
        check_heap(&q);
        assert_int_equal(q.n, ARRAY_SIZE(e) - ARRAY_SIZE(e) / 3);

        /* Only what is due comes out, in order. */
        if (schedule_peek(&q)->due > 0)
                assert_null(schedule_pop_due(&q, schedule_peek(&q)->due - 1));
        while ((x = schedule_pop_due(&q, 2500))) {
                assert_true(x->due >= last);
                assert_true(x->due <= 2500);
                assert_int_equal(x->pos, SCHEDULE_NONE);
                last = x->due;
                n++;
        }
        check_heap(&q);
        assert_true(schedule_peek(&q)->due > 2500);
        while ((x = schedule_pop_due(&q, UINT64_MAX))) {
                assert_true(x->due >= last);
                last = x->due;
                n++;
        }
        assert_int_equal(n, ARRAY_SIZE(e) - ARRAY_SIZE(e) / 3);
        assert_null(schedule_peek(&q));
        schedule_done(&q);
        schedule_done(&q);
}

static void test_reserve(void **state _unused_) {
        struct schedule q = {};
        struct schedule_entry e;

        assert_int_equal(schedule_reserve(&q, 10000), 0);
        assert_true(q.cap >= 10000);
        schedule_entry_init(&e);
        assert_int_equal(schedule_put(&q, &e, 7), 0);
        assert_ptr_equal(schedule_peek(&q), &e);
        /* Moving it later or earlier keeps the one entry. */
        assert_int_equal(schedule_put(&q, &e, 9), 0);
        assert_int_equal(schedule_put(&q, &e, 3), 0);
        assert_int_equal(q.n, 1);
        assert_null(schedule_pop_due(&q, 2));
        assert_ptr_equal(schedule_pop_due(&q, 3), &e);
        schedule_done(&q);
}

static void test_next_wait(void **state _unused_) {
        const uint64_t i = 100, idle = 10000;

        /* Moving: the short interval, whatever the last wait was. */
        assert_int_equal(schedule_next_wait(idle, 1, i, idle), i);
        assert_int_equal(schedule_next_wait(0, 0, i, idle), i);
        /* Standing still: doubling up to idle, then idle. */
        assert_int_equal(schedule_next_wait(i, 0, i, idle), 2 * i);
        assert_int_equal(schedule_next_wait(6400, 0, i, idle), idle);
        assert_int_equal(schedule_next_wait(idle, 0, i, idle), idle);
        /* An idle wait below the interval is the interval. */
        assert_int_equal(schedule_next_wait(i, 0, i, 50), i);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_reserve),
                cmocka_unit_test(test_next_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
