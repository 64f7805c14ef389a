/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Enforcement's actions (daemon/enforce.c) on a slice with a fake backend: an
 * action that failed is never recorded or reported as done. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "enforce.h"
#include "slices.h"

/* The fake backend: what each call returns, and what was done. */
static struct fake {
        int kill_r, freeze_r, set_limits_r;
        unsigned kills, freezes, thaws, set_limits;
        bool frozen, killed;
        int populated_after; /* populated() answers 1 this many times, then 0 */
        uint64_t cpu_dead;   /* the CPU figure a settle reads once it is empty */
} fake;

static int fake_kill(struct slice_handle *h) {
        fake.kills++;
        if (fake.kill_r < 0)
                return fake.kill_r;
        fake.killed = true;
        return 0;
}

static int fake_freeze(struct slice_handle *h, bool freeze) {
        if (freeze)
                fake.freezes++;
        else
                fake.thaws++;
        if (fake.freeze_r < 0)
                return fake.freeze_r;
        fake.frozen = freeze;
        return 0;
}

static int fake_set_limits(struct slice_handle *h, const struct slice_limits *l) {
        fake.set_limits++;
        return fake.set_limits_r;
}

static int fake_populated(struct slice_handle *h) {
        return fake.populated_after-- > 0;
}

static const struct slice_ops fake_ops = {
        .name = "fake",
        .kill = fake_kill,
        .populated = fake_populated,
        .freeze = fake_freeze,
        .set_limits = fake_set_limits,
};

/* The fake money side: the events emitted, in order. */
static struct emitted {
        enum event_kind kind[16];
        char reason[16][EVENT_REASON_MAX];
        unsigned n, settled, saved;
} emitted;

static void cb_emit(struct slice *s, enum event_kind kind, const char *action, const char *reason, void *userdata) {
        assert_true(emitted.n < ARRAY_SIZE(emitted.kind));
        emitted.kind[emitted.n] = kind;
        snprintf(emitted.reason[emitted.n], EVENT_REASON_MAX, "%s", reason);
        emitted.n++;
}

static void cb_settle(struct slice *s, void *userdata) {
        emitted.settled++;
        if (fake.cpu_dead && fake.populated_after < 0)
                s->usage.cpu_usec = fake.cpu_dead;
}

static void cb_grants(struct slice *s, bool raise, void *userdata) {
}

static void cb_save(struct slice *s, void *userdata) {
        emitted.saved++;
}

static const struct enforce_callbacks callbacks = {
        .emit = cb_emit,
        .settle = cb_settle,
        .grants = cb_grants,
        .save = cb_save,
};

static bool emitted_kind(enum event_kind kind) {
        for (unsigned i = 0; i < emitted.n; i++)
                if (emitted.kind[i] == kind)
                        return true;
        return false;
}

static struct config config = {
        .grace_usec = 30 * USEC_PER_SEC,
        .throttle_cpus_milli = 10,
        .low_balance_usec = 60 * USEC_PER_SEC,
};

static struct slice slice;
static sd_event *event;

static int setup(void **state _unused_) {
        memset(&fake, 0, sizeof(fake));
        memset(&emitted, 0, sizeof(emitted));
        memset(&slice, 0, sizeof(slice));
        snprintf(slice.id, sizeof(slice.id), "s-0000abcd");
        slice.ops = &fake_ops;
        slice.handle = (struct slice_handle *) &slice; /* never dereferenced by the fake */
        slice.limits.cpu_period_usec = 100000;
        slice.account.funded = true;
        return sd_event_new(&event) < 0 ? -1 : 0;
}

static int teardown(void **state _unused_) {
        enforce_slice_free(&slice.account.enforce);
        event = sd_event_unref(event);
        return 0;
}

static struct enforce enforce_with(sd_event *e) {
        return (struct enforce) {
                .event = e,
                .config = &config,
                .max_cpus_milli = 2000,
                .cb = &callbacks,
        };
}

static void test_kill(void **state _unused_) {
        struct enforce en = enforce_with(event);

        slice.account.enforce.action = ENFORCE_ACTION_KILL;
        assert_int_equal(enforce_exhaust(&en, &slice), 0);
        assert_int_equal(slice.account.enforce.state, ENFORCE_KILLED);
        assert_true(fake.killed);
        assert_true(emitted_kind(EVENT_EXHAUSTED));
        assert_true(emitted_kind(EVENT_KILLED));
        assert_string_equal(emitted.reason[emitted.n - 1], "balance spent: every process killed");
}

/* A kill's reserve: its tasks' exits at the cost the last kills showed,
 * and once killed, what was held back stays held back. */
static void test_kill_reserve(void **state _unused_) {
        struct enforce en = enforce_with(event);
        struct rate_card rc = { .price[RESOURCE_CPU] = 10000 }; /* 0.01 a CPU-second */
        uint64_t guess = enforce_exit_cost_usec(&en);

        slice.usage.pids_current = 200;
        assert_int_equal(enforce_kill_reserve(&en, &slice, &rc), 0); /* not a kill slice */
        slice.account.enforce.action = ENFORCE_ACTION_KILL;
        assert_true(guess > 0);
        assert_int_equal(enforce_kill_reserve(&en, &slice, &rc), (int64_t) (200 * guess / 100));

        en.exit_cost_usec[0] = 450;
        en.n_exit_costs = 1;
        assert_int_equal(enforce_kill_reserve(&en, &slice, &rc), 900); /* 90 ms of CPU */
        assert_int_equal(enforce_exhaust(&en, &slice), 0);
        slice.usage.pids_current = 0;
        assert_int_equal(enforce_kill_reserve(&en, &slice, &rc), 900);

        /* Topped up: nothing held back any more. */
        enforce_restore(&en, &slice);
        assert_int_equal(enforce_kill_reserve(&en, &slice, &rc), 0);
}

/* Kills the slice (up again first) with tasks that use each us of CPU to
 * exit, its cgroup seen populated polls times, and runs the loop until
 * its exits are watched out. */
static void kill_and_watch(struct enforce *en, uint64_t tasks, uint64_t each, int polls) {
        memset(&emitted, 0, sizeof(emitted));
        enforce_restore(en, &slice);
        slice.usage.pids_current = tasks;
        slice.usage.cpu_usec += 1000000;
        fake.populated_after = polls;
        fake.cpu_dead = slice.usage.cpu_usec + tasks * each;
        assert_int_equal(enforce_exhaust(en, &slice), 0);
        assert_non_null(slice.account.enforce.exit_timer);
        while (slice.account.enforce.exit_timer)
                assert_true(sd_event_run(event, 5 * USEC_PER_SEC) > 0);
        assert_int_equal(slice.usage.cpu_usec, fake.cpu_dead); /* charged at once */
}

/* Each kill of many tasks measures their exits once the cgroup is empty;
 * the dearest of the last ENFORCE_EXIT_KILLS counts. */
static void test_exit_cost_learnt(void **state _unused_) {
        struct enforce en = enforce_with(event);

        slice.account.enforce.action = ENFORCE_ACTION_KILL;
        kill_and_watch(&en, 200, 600, 2);
        assert_int_equal(enforce_exit_cost_usec(&en), 600);

        /* Cheaper: the dearer one still counts. */
        kill_and_watch(&en, 200, 400, 0);
        assert_int_equal(enforce_exit_cost_usec(&en), 600);

        /* A few tasks teach nothing: their cost is their memory's. */
        kill_and_watch(&en, 2, 50000, 0);
        assert_int_equal(enforce_exit_cost_usec(&en), 600);
        assert_int_equal(en.n_exit_costs, 2);

        /* Once ENFORCE_EXIT_KILLS cheaper kills came after it, it is gone. */
        for (unsigned i = 0; i < ENFORCE_EXIT_KILLS; i++)
                kill_and_watch(&en, 100, 300, 0);
        assert_int_equal(enforce_exit_cost_usec(&en), 300);
}

static void test_kill_fails(void **state _unused_) {
        struct enforce en = enforce_with(event);

        slice.account.enforce.action = ENFORCE_ACTION_KILL;
        slice.account.enforce.state = ENFORCE_LOW;
        fake.kill_r = -EBUSY;
        assert_int_equal(enforce_exhaust(&en, &slice), -EBUSY);
        /* Not killed, and not said to be: the state stays, one event says
         * the kill failed. */
        assert_int_equal(slice.account.enforce.state, ENFORCE_LOW);
        assert_true(slice.account.enforce.action_failing);
        assert_false(emitted_kind(EVENT_KILLED));
        assert_int_equal(emitted.n, 1);
        assert_int_equal(emitted.kind[0], EVENT_EXHAUSTED);
        assert_non_null(strstr(emitted.reason[0], "kill failed"));
        assert_non_null(strstr(emitted.reason[0], strerror(EBUSY)));

        /* Tried again (the next meter pass): still failing, no event more. */
        assert_int_equal(enforce_exhaust(&en, &slice), -EBUSY);
        assert_int_equal(fake.kills, 2);
        assert_int_equal(emitted.n, 1);
        assert_int_equal(slice.account.enforce.state, ENFORCE_LOW);

        /* Then it works: killed, and said so. */
        fake.kill_r = 0;
        assert_int_equal(enforce_exhaust(&en, &slice), 0);
        assert_int_equal(slice.account.enforce.state, ENFORCE_KILLED);
        assert_false(slice.account.enforce.action_failing);
        assert_true(emitted_kind(EVENT_KILLED));
}

static void test_throttle_fails(void **state _unused_) {
        struct enforce en = enforce_with(event);

        slice.account.enforce.action = ENFORCE_ACTION_THROTTLE;
        fake.set_limits_r = -EIO;
        assert_int_equal(enforce_exhaust(&en, &slice), -EIO);
        assert_int_equal(slice.account.enforce.state, ENFORCE_OK);
        assert_false(emitted_kind(EVENT_THROTTLED));
        /* Never left frozen by the freeze around the change. */
        assert_int_equal(fake.freezes, fake.thaws);
}

static void test_freeze_then_grace(void **state _unused_) {
        struct enforce en = enforce_with(event);

        config.grace_usec = 0;
        slice.account.enforce.action = ENFORCE_ACTION_FREEZE;
        assert_int_equal(enforce_exhaust(&en, &slice), 0);
        assert_int_equal(slice.account.enforce.state, ENFORCE_FROZEN);
        assert_true(fake.frozen);
        assert_non_null(slice.account.enforce.grace_timer);
        assert_false(fake.killed);

        /* The grace ends: killed, and thawed so that the processes die. */
        assert_true(sd_event_run(event, 5 * USEC_PER_SEC) > 0);
        assert_int_equal(slice.account.enforce.state, ENFORCE_KILLED);
        assert_true(fake.killed);
        assert_false(fake.frozen);
        assert_string_equal(emitted.reason[emitted.n - 1], "grace ended without a top-up: every process killed");
        config.grace_usec = 30 * USEC_PER_SEC;
}

static void test_grace_kill_fails(void **state _unused_) {
        struct enforce en = enforce_with(event);

        config.grace_usec = 0;
        slice.account.enforce.action = ENFORCE_ACTION_FREEZE;
        assert_int_equal(enforce_exhaust(&en, &slice), 0);
        fake.kill_r = -EBUSY;
        assert_true(sd_event_run(event, 5 * USEC_PER_SEC) > 0);
        /* Still frozen, not reported killed, and tried again. */
        assert_int_equal(slice.account.enforce.state, ENFORCE_FROZEN);
        assert_false(emitted_kind(EVENT_KILLED));
        assert_non_null(slice.account.enforce.grace_timer);
        fake.kill_r = 0;
        assert_true(sd_event_run(event, 5 * ENFORCE_RETRY_USEC) > 0);
        assert_int_equal(slice.account.enforce.state, ENFORCE_KILLED);
        assert_true(emitted_kind(EVENT_KILLED));
        config.grace_usec = 30 * USEC_PER_SEC;
}

static void test_grace_cannot_be_armed(void **state _unused_) {
        /* No event loop: sd_event_add_time_relative() fails. A frozen
         * slice whose grace cannot be timed would stay frozen for good:
         * it is killed at once, and said so. */
        struct enforce en = enforce_with(NULL);

        slice.account.enforce.action = ENFORCE_ACTION_FREEZE;
        assert_int_equal(enforce_exhaust(&en, &slice), 0);
        assert_null(slice.account.enforce.grace_timer);
        assert_int_equal(slice.account.enforce.state, ENFORCE_KILLED);
        assert_true(fake.killed);
        assert_true(emitted_kind(EVENT_FROZEN));
        assert_true(emitted_kind(EVENT_KILLED));
}

static void test_resume_frozen(void **state _unused_) {
        /* After a restart, a frozen slice without its timer: the same. */
        struct enforce en = enforce_with(NULL);

        slice.account.enforce.state = ENFORCE_FROZEN;
        slice.account.enforce.frozen_usec = 1;
        enforce_resume(&en, &slice);
        assert_int_equal(slice.account.enforce.state, ENFORCE_KILLED);
        assert_true(fake.killed);
}

static void test_restore(void **state _unused_) {
        struct enforce en = enforce_with(event);

        slice.account.enforce.action = ENFORCE_ACTION_FREEZE;
        assert_int_equal(enforce_exhaust(&en, &slice), 0);
        enforce_restore(&en, &slice);
        assert_int_equal(slice.account.enforce.state, ENFORCE_OK);
        assert_false(fake.frozen);
        assert_null(slice.account.enforce.grace_timer);
        assert_int_equal(emitted.kind[emitted.n - 1], EVENT_THAWED);
}

static void test_low(void **state _unused_) {
        struct enforce en = enforce_with(event);

        config.low_balance_cpu = 50;
        assert_int_equal(enforce_low(&en, &slice), 0);
        assert_int_equal(slice.account.enforce.state, ENFORCE_LOW);
        assert_int_equal(fake.set_limits, 1);
        assert_true(emitted_kind(EVENT_LOW));
        assert_true(emitted_kind(EVENT_THROTTLED));

        /* A throttle that fails is not said to be done. */
        memset(&emitted, 0, sizeof(emitted));
        fake.set_limits_r = -EIO;
        assert_int_equal(enforce_low(&en, &slice), 0);
        assert_true(emitted_kind(EVENT_LOW));
        assert_false(emitted_kind(EVENT_THROTTLED));
        config.low_balance_cpu = 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
        const struct CMUnitTest tests[] = {
                T(test_kill),
                T(test_kill_reserve),
                T(test_exit_cost_learnt),
                T(test_kill_fails),
                T(test_throttle_fails),
                T(test_freeze_then_grace),
                T(test_grace_kill_fails),
                T(test_grace_cannot_be_armed),
                T(test_resume_frozen),
                T(test_restore),
                T(test_low),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
