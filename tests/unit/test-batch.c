/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Group commit's hold (daemon/batch.c, batch_set_pending()): a due
 * commit waits while writes are still to come, ends its wait when
 * kicked, and never waits longer than BATCH_HOLD_USEC. A real ledger in
 * a throwaway directory, a real sd-event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"

struct fixture {
        char dir[64];
        sd_event *event;
        struct batch *batch;
        bool busy;
        unsigned commits;
};

static bool is_busy(void *userdata) {
        struct fixture *f = userdata;

        return f->busy;
}

static void on_committed(int r, void *userdata) {
        struct fixture *f = userdata;

        assert_int_equal(r, 0);
        f->commits++;
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        char path[128];

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-batch.XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(path, sizeof(path), "%s/ledger.db", f->dir);
        if (sd_event_new(&f->event) < 0 || batch_new(f->event, path, &f->batch) < 0)
                return -1;
        batch_set_committed(f->batch, on_committed, f);
        batch_set_pending(f->batch, is_busy, f);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        char cmd[128];

        batch_free(f->batch);
        sd_event_unref(f->event);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static uint64_t now_usec_mono(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

/* Runs the loop for up to usec, or until a commit. */
static void run_for(struct fixture *f, uint64_t usec) {
        uint64_t end = now_usec_mono() + usec;

        while (f->commits == 0 && now_usec_mono() < end)
                assert_true(sd_event_run(f->event, 1000) >= 0);
}

static void test_not_busy(void **state) {
        struct fixture *f = *state;

        assert_int_equal(batch_begin(f->batch), 0);
        run_for(f, 100 * 1000);
        assert_int_equal(f->commits, 1);
        assert_false(batch_is_open(f->batch));
}

static void test_kicked(void **state) {
        struct fixture *f = *state;

        f->busy = true;
        assert_int_equal(batch_begin(f->batch), 0);
        assert_true(sd_event_run(f->event, 0) >= 0);
        assert_int_equal(f->commits, 0);
        assert_true(batch_is_open(f->batch));

        f->busy = false;
        batch_kick(f->batch);
        run_for(f, 100 * 1000);
        assert_int_equal(f->commits, 1);
        assert_false(batch_is_open(f->batch));
}

/* Busy for good: committed anyway once the hold is over. */
static void test_hold_ends(void **state) {
        struct fixture *f = *state;
        uint64_t t0 = now_usec_mono();

        f->busy = true;
        assert_int_equal(batch_begin(f->batch), 0);
        run_for(f, 2 * 1000 * 1000);
        assert_int_equal(f->commits, 1);
        assert_true(now_usec_mono() - t0 >= BATCH_HOLD_USEC);
        assert_false(batch_is_open(f->batch));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_not_busy, setup, teardown),
                cmocka_unit_test_setup_teardown(test_kicked, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hold_ends, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
