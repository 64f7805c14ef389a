/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The OpenMetrics text (daemon/common/metrics.c): families, exact
 * decimals, label escaping, histograms' cumulative buckets, "# EOF". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"
#include "common/util.h"

static void test_family_and_samples(void **state _unused_) {
        struct metrics_buf b = {};

        metrics_family(&b, "prepay_redemptions", "counter", "Vouchers\nredeemed \\ committed.");
        metrics_sample_u64(&b, "prepay_redemptions_total", NULL, 2);
        metrics_family(&b, "prepay_balance", "gauge", "Balances.");
        metrics_sample_micro(&b, "prepay_balance", "", 5999850);
        metrics_sample_micro(&b, "prepay_balance", "slice=\"s-1\"", 1);
        metrics_sample_micro(&b, "prepay_balance", "slice=\"s-2\"", -3000000);
        metrics_sample_micro(&b, "prepay_balance", "slice=\"s-3\"", INT64_MIN);
        metrics_sample_micro(&b, "prepay_balance", "slice=\"s-4\"", 0);
        metrics_eof(&b);
        assert_false(b.failed);
        assert_string_equal(b.text, "# TYPE prepay_redemptions counter\n"
                                    "# HELP prepay_redemptions Vouchers\\nredeemed \\\\ committed.\n"
                                    "prepay_redemptions_total 2\n"
                                    "# TYPE prepay_balance gauge\n"
                                    "# HELP prepay_balance Balances.\n"
                                    "prepay_balance 5.99985\n"
                                    "prepay_balance{slice=\"s-1\"} 0.000001\n"
                                    "prepay_balance{slice=\"s-2\"} -3\n"
                                    "prepay_balance{slice=\"s-3\"} -9223372036854.775808\n"
                                    "prepay_balance{slice=\"s-4\"} 0\n"
                                    "# EOF\n");
        assert_int_equal(b.len, strlen(b.text));
        metrics_buf_done(&b);
        assert_null(b.text);
}

static void test_label_escaping(void **state _unused_) {
        char l[METRICS_LABEL_MAX], small[12];

        assert_string_equal(metrics_label(l, sizeof(l), "slice", "s-1a2b"), "slice=\"s-1a2b\"");
        /* Backslash, quote and newline escaped; other control bytes and
         * anything past ASCII made '?', so the line stays one valid line. */
        assert_string_equal(metrics_label(l, sizeof(l), "k", "a\\b\"c\nd"), "k=\"a\\\\b\\\"c\\nd\"");
        assert_string_equal(metrics_label(l, sizeof(l), "k", "\t\r\x7f\xc3\xa9}"), "k=\"?????}\"");
        assert_string_equal(metrics_label(l, sizeof(l), "k", ""), "k=\"\"");
        /* Cut short, never inside an escape, always closed. */
        assert_string_equal(metrics_label(small, sizeof(small), "k", "abcdefghij"), "k=\"abcdefg\"");
        assert_string_equal(metrics_label(small, sizeof(small), "k", "abcdef\"g"), "k=\"abcdef\"");
        assert_string_equal(metrics_label(small, 3, "key", "v"), "");
}

static void test_histogram(void **state _unused_) {
        static const uint64_t bounds[] = { 100, 1000, 10000 };
        struct metrics_histogram h = { .bounds = bounds, .n = ARRAY_SIZE(bounds) };
        struct metrics_buf b = {};

        metrics_histogram_observe(&h, 50);
        metrics_histogram_observe(&h, 100); /* at the bound: in it (le) */
        metrics_histogram_observe(&h, 101);
        metrics_histogram_observe(&h, 20000);
        metrics_histogram(&b, "prepay_ledger_commit_seconds", "One commit.", &h);
        assert_false(b.failed);
        assert_string_equal(b.text, "# TYPE prepay_ledger_commit_seconds histogram\n"
                                    "# HELP prepay_ledger_commit_seconds One commit.\n"
                                    "prepay_ledger_commit_seconds_bucket{le=\"0.0001\"} 2\n"
                                    "prepay_ledger_commit_seconds_bucket{le=\"0.001\"} 3\n"
                                    "prepay_ledger_commit_seconds_bucket{le=\"0.01\"} 3\n"
                                    "prepay_ledger_commit_seconds_bucket{le=\"+Inf\"} 4\n"
                                    "prepay_ledger_commit_seconds_count 4\n"
                                    "prepay_ledger_commit_seconds_sum 0.020251\n");
        metrics_buf_done(&b);
}

/* Grows past its first allocation without losing a byte. */
static void test_growth(void **state _unused_) {
        struct metrics_buf b = {};
        char label[METRICS_LABEL_MAX], id[32];
        size_t lines = 0;

        for (int i = 0; i < 10000; i++) {
                snprintf(id, sizeof(id), "s-%08x", (unsigned) i);
                metrics_sample_u64(&b, "prepay_slice_memory_bytes", metrics_label(label, sizeof(label), "slice", id),
                                   (uint64_t) i);
        }
        assert_false(b.failed);
        assert_int_equal(b.len, strlen(b.text));
        for (const char *p = b.text; *p; p++)
                lines += *p == '\n';
        assert_int_equal(lines, 10000);
        assert_non_null(strstr(b.text, "prepay_slice_memory_bytes{slice=\"s-0000270f\"} 9999\n"));
        metrics_buf_done(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_family_and_samples),
                cmocka_unit_test(test_label_escaping),
                cmocka_unit_test(test_histogram),
                cmocka_unit_test(test_growth),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
