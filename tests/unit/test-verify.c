/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The voucher check pool (daemon/verify.c): verdicts handed back on the
 * event loop, a full queue refused, a reload while checks run, jobs
 * cancelled, and the pool freed with jobs in flight. Real keys (keys.c)
 * in a throwaway directory, real threads, a real sd-event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "config.h"
#include "keys.h"
#include "verify.h"

struct fixture {
        char dir[64];
        char issuers[128];
        char issuer_path[192];
        struct config cfg;
        struct crypto_key *issuer;
        struct keys *keys;
        sd_event *event;
};

/* The callbacks' record: how many ran, and the last verdicts. */
struct seen {
        unsigned n;
        struct verify_checked *last;
};

static void on_done(struct verify_checked *c, void *userdata) {
        struct seen *s = userdata;

        s->n++;
        verify_checked_free(s->last);
        s->last = c;
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        char text[1024];

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-verify.XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->issuers, sizeof(f->issuers), "%s/issuers.d", f->dir);
        snprintf(f->issuer_path, sizeof(f->issuer_path), "%s/issuer.pub", f->issuers);
        if (mkdir(f->issuers, 0700) < 0)
                return -1;
        if (crypto_key_generate(&f->issuer) < 0 || crypto_key_save_public(f->issuer, f->issuer_path) < 0)
                return -1;
        snprintf(text, sizeof(text),
                 "[Daemon]\nStateDirectory=%s\n[Money]\nCurrency=EUR\nIssuersDirectory=%s\nHostId=host-a\n", f->dir,
                 f->issuers);
        if (config_load_string(&f->cfg, text, "test") < 0)
                return -1;
        if (keys_new(&f->cfg, &f->keys) < 0)
                return -1;
        if (sd_event_new(&f->event) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        char cmd[128];

        keys_free(f->keys);
        config_done(&f->cfg);
        crypto_key_free(f->issuer);
        sd_event_unref(f->event);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* A voucher of the fixture's issuer, good now. */
static struct voucher good_voucher(struct fixture *f) {
        int64_t now = (int64_t) time(NULL);
        struct voucher v = {
                .amount = 10000, .currency = "EUR", .not_before = now - 60, .not_after = now + 3600,
        };

        assert_int_equal(crypto_random(v.id, sizeof(v.id)), 0);
        assert_int_equal(voucher_sign(&v, f->issuer), 0);
        return v;
}

/* Runs the loop until want callbacks have run (or ten seconds). */
static void run_until(struct fixture *f, const unsigned *n, unsigned want) {
        for (unsigned i = 0; i < 1000 && *n < want; i++)
                assert_true(sd_event_run(f->event, 10 * 1000) >= 0);
        assert_int_equal(*n, want);
}

static void test_verdicts(void **state) {
        struct fixture *f = *state;
        struct verify_pool *p = NULL;
        struct voucher v[3];
        struct seen s = {};
        const char *error;
        int r;

        v[0] = good_voucher(f);
        v[1] = good_voucher(f);
        v[1].amount++; /* its signature no longer matches */
        v[2] = good_voucher(f);
        snprintf(v[2].audience, sizeof(v[2].audience), "host-b");
        assert_int_equal(voucher_sign(&v[2], f->issuer), 0);

        assert_int_equal(verify_pool_new(f->event, 2, 8, &p), 0);
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), v, 3, on_done, &s), 0);
        run_until(f, &s.n, 1);
        assert_int_equal(verify_in_flight(p), 0);

        assert_int_equal(s.last->n, 3);
        assert_int_equal(verify_checked_find(s.last, f->keys, &v[0], &r, &error), 1);
        assert_int_equal(r, 0);
        assert_int_equal(verify_checked_find(s.last, f->keys, &v[1], &r, &error), 1);
        assert_int_equal(r, -EBADMSG);
        assert_non_null(error);
        assert_int_equal(verify_checked_find(s.last, f->keys, &v[2], &r, &error), 1);
        assert_int_equal(r, -EACCES);

        /* A voucher it did not check has no verdict there. */
        v[0].amount += 2;
        assert_int_equal(verify_checked_find(s.last, f->keys, &v[0], &r, &error), 0);
        assert_int_equal(verify_checked_find(NULL, f->keys, &v[0], &r, &error), 0);

        verify_checked_free(s.last);
        verify_pool_free(p);
}

/* At most max_jobs at once, counted until handed back on the loop: one
 * more is -EBUSY whatever the workers' speed, and nothing is queued. */
static void test_queue_full(void **state) {
        struct fixture *f = *state;
        struct verify_pool *p = NULL;
        struct voucher v = good_voucher(f);
        struct seen s = {};

        assert_int_equal(verify_pool_new(f->event, 1, 2, &p), 0);
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, 1, on_done, &s), 0);
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, 1, on_done, &s), 0);
        /* Its reference is dropped with it. */
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, 1, on_done, &s), -EBUSY);
        assert_int_equal(verify_in_flight(p), 2);
        run_until(f, &s.n, 2);
        assert_int_equal(verify_in_flight(p), 0);

        /* Room again. */
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, 1, on_done, &s), 0);
        run_until(f, &s.n, 3);

        /* More vouchers than a request holds, or none, is no job. */
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, 0, on_done, &s), -EINVAL);
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, REQUEST_VOUCHERS_MAX + 1, on_done, &s),
                         -EINVAL);

        verify_checked_free(s.last);
        verify_pool_free(p);
}

/* The issuer is removed and the keys reloaded while its vouchers are
 * checked: the check runs on against the snapshot it was given (which
 * stays until the job is done), and its verdict is no longer current. */
static void test_reload_during_checks(void **state) {
        struct fixture *f = *state;
        struct verify_pool *p = NULL;
        struct voucher v[REQUEST_VOUCHERS_MAX];
        struct seen s = {};
        const char *error;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(v); i++)
                v[i] = good_voucher(f);
        assert_int_equal(verify_pool_new(f->event, 2, 64, &p), 0);
        for (unsigned i = 0; i < 32; i++)
                assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), v, ARRAY_SIZE(v), on_done, &s), 0);

        assert_int_equal(unlink(f->issuer_path), 0);
        assert_int_equal(keys_reload_issuers(f->keys), 0);
        run_until(f, &s.n, 32);

        assert_int_equal(verify_checked_find(s.last, f->keys, &v[0], &r, &error), 0);
        for (size_t i = 0; i < s.last->n; i++)
                assert_int_equal(s.last->r[i], 0);

        /* Checked now, against the keys trusted now. */
        assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), v, 1, on_done, &s), 0);
        run_until(f, &s.n, 33);
        assert_int_equal(verify_checked_find(s.last, f->keys, &v[0], &r, &error), 1);
        assert_int_equal(r, -ENOKEY);

        verify_checked_free(s.last);
        verify_pool_free(p);
}

/* A cancelled job's callback never runs, queued, running or done. */
static void test_cancel(void **state) {
        struct fixture *f = *state;
        struct verify_pool *p = NULL;
        struct voucher v = good_voucher(f);
        struct seen a = {}, b = {};

        assert_int_equal(verify_pool_new(f->event, 2, 64, &p), 0);
        for (unsigned i = 0; i < 20; i++) {
                assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, 1, on_done, &a), 0);
                assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), &v, 1, on_done, &b), 0);
        }
        usleep(2000); /* some running, some done */
        verify_cancel(p, &a);
        run_until(f, &b.n, 20);
        /* Those marked while running come back and are dropped. */
        for (unsigned i = 0; i < 100 && verify_in_flight(p) > 0; i++)
                assert_true(sd_event_run(f->event, 10 * 1000) >= 0);
        assert_int_equal(verify_in_flight(p), 0);
        assert_int_equal(a.n, 0);

        verify_checked_free(b.last);
        verify_pool_free(p);
}

/* Freed with jobs queued, running and done: the workers stop, no
 * callback runs, every snapshot reference is dropped (ASan, valgrind). */
static void test_shutdown_in_flight(void **state) {
        struct fixture *f = *state;
        struct verify_pool *p = NULL;
        struct voucher v[4];
        struct seen s = {};

        for (size_t i = 0; i < ARRAY_SIZE(v); i++)
                v[i] = good_voucher(f);
        assert_int_equal(verify_pool_new(f->event, 2, 256, &p), 0);
        for (unsigned i = 0; i < 200; i++)
                assert_int_equal(verify_submit(p, keys_issuers_ref(f->keys), v, ARRAY_SIZE(v), on_done, &s), 0);
        usleep(5000);
        verify_pool_free(p);
        assert_int_equal(s.n, 0);
        /* Nothing is left to hand back: the eventfd went with the pool. */
        assert_true(sd_event_run(f->event, 1000) >= 0);
        assert_int_equal(s.n, 0);

        /* The keys outlive the pool's snapshots: a reload frees the old. */
        assert_int_equal(keys_reload_issuers(f->keys), 0);
}

static void test_threads(void **state) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);

        assert_int_equal(verify_threads(3), 3);
        assert_int_equal(verify_threads(1000), VERIFY_THREADS_MAX);
        assert_int_equal(verify_threads(0), online < 1 ? 1 : MIN(online, (long) VERIFY_THREADS_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_verdicts, setup, teardown),
                cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reload_during_checks, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
                cmocka_unit_test_setup_teardown(test_shutdown_in_flight, setup, teardown),
                cmocka_unit_test(test_threads),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
