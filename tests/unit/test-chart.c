/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A slice's chart (daemon/common/chart.c) and the markup it is written
 * with (daemon/common/markup.c): downsampling, escaping, valid and
 * deterministic SVG. */
#include <errno.h>
#include <locale.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/chart.h"
#include "common/markup.h"
#include "common/util.h"

#define T0 (UINT64_C(1796000000) * USEC_PER_SEC)

static void test_markup_escape(void **state _unused_) {
        _cleanup_(freep) char *text = NULL;
        struct markup m;
        size_t n;

        markup_init(&m, 1024);
        markup_raw(&m, "<p>");
        markup_text(&m, "a<b>&\"c'\x01\x1b[31m\x7f\td");
        markup_raw(&m, "</p>");
        assert_int_equal(markup_finish(&m, &text, &n), 0);
        assert_string_equal(text, "<p>a&lt;b&gt;&amp;&quot;c&#39;[31m\td</p>");
        assert_int_equal(n, strlen(text));
}

static void test_markup_bound(void **state _unused_) {
        char *text = NULL;
        struct markup m;

        markup_init(&m, 8);
        markup_raw(&m, "12345");
        markup_text(&m, "<<");
        markup_raw(&m, "x");
        assert_int_equal(markup_finish(&m, &text, NULL), -E2BIG);
        assert_null(text);
        markup_init(&m, 8);
        assert_int_equal(markup_finish(&m, &text, NULL), 0);
        assert_string_equal(text, "");
        free(text);
}

static void test_downsample_short(void **state _unused_) {
        struct chart_point in[10], out[CHART_POINTS_MAX];
        struct chart_downsampler d;

        for (size_t i = 0; i < ARRAY_SIZE(in); i++)
                in[i] = (struct chart_point) { T0 + i * 60 * USEC_PER_SEC, 1000000 - (int64_t) i * 1000,
                                               (int64_t) i * 1000 };
        chart_downsampler_init(&d, T0, in[9].time_usec, out);
        for (size_t i = 0; i < ARRAY_SIZE(in); i++)
                chart_downsampler_add(&d, &in[i]);
        assert_int_equal(chart_downsampler_finish(&d), ARRAY_SIZE(in));
        assert_memory_equal(in, out, sizeof(in));
}

/* Point i of n, one a second: 300 micro-units charged each, a top-up of
 * 300.00 at the middle. */
static struct chart_point month_point(uint64_t i, uint64_t n, int64_t *balance) {
        if (i == n / 2)
                *balance += 300 * INT64_C(1000000);
        else if (*balance >= 300)
                *balance -= 300;
        return (struct chart_point) { T0 + i * USEC_PER_SEC, *balance, (int64_t) i * 300 };
}

/* A month of one charge a second, a top-up in the middle and a spend
 * down to nothing: bounded, in order, its ends and extremes kept. */
static void test_downsample_long(void **state _unused_) {
        const uint64_t n = 30 * 24 * 3600;
        struct chart_point out[CHART_POINTS_MAX], p;
        struct chart_downsampler d;
        int64_t balance = 500 * INT64_C(1000000), high = 0, low = INT64_MAX;
        uint64_t t_high = 0;
        size_t k;

        chart_downsampler_init(&d, T0, T0 + (n - 1) * USEC_PER_SEC, out);
        for (uint64_t i = 0; i < n; i++) {
                p = month_point(i, n, &balance);
                if (balance > high) {
                        high = balance;
                        t_high = p.time_usec;
                }
                low = MIN(low, balance);
                chart_downsampler_add(&d, &p);
        }
        k = chart_downsampler_finish(&d);
        assert_true(k <= CHART_POINTS_MAX);
        assert_true(k >= CHART_BUCKETS);
        assert_int_equal(out[0].time_usec, T0);
        assert_int_equal(out[k - 1].time_usec, p.time_usec);
        assert_int_equal(out[k - 1].balance, p.balance);
        for (size_t i = 1; i < k; i++)
                assert_true(out[i].time_usec > out[i - 1].time_usec);
        bool saw_high = false, saw_low = false;
        for (size_t i = 0; i < k; i++) {
                saw_high |= out[i].balance == high && out[i].time_usec == t_high;
                saw_low |= out[i].balance == low;
        }
        assert_true(saw_high);
        assert_true(saw_low);
}

static int collect(const struct chart_point *p, void *userdata) {
        struct chart_downsampler *d = userdata;

        chart_downsampler_add(d, p);
        return 0;
}

/* A short series goes through a summary as it came. */
static void test_summary_short(void **state _unused_) {
        static struct chart_summary s;
        struct chart_point in[10], out[CHART_POINTS_MAX];
        struct chart_downsampler d;

        chart_summary_init(&s);
        for (size_t i = 0; i < ARRAY_SIZE(in); i++) {
                in[i] = (struct chart_point) { T0 + i * 60 * USEC_PER_SEC, 1000000 - (int64_t) i * 1000,
                                               (int64_t) i * 1000 };
                assert_int_equal(chart_summary_add(&s, &in[i]), 0);
        }
        assert_int_equal(chart_summary_add(&s, &in[3]), -EINVAL);
        chart_downsampler_init(&d, T0, in[9].time_usec, out);
        assert_int_equal(chart_summary_foreach(&s, collect, &d), 0);
        assert_int_equal(chart_downsampler_finish(&d), ARRAY_SIZE(in));
        assert_memory_equal(in, out, sizeof(in));
}

/* A month of one charge a second folded as it grows (in two parts, as
 * two requests would), then downsampled: bounded, and the chart has the
 * series' first and last points, its highest (the top-up) and its lowest
 * (spent to nothing), as the downsampler given every point has. */
static void test_summary_long(void **state _unused_) {
        const uint64_t n = 30 * 24 * 3600;
        static struct chart_summary s;
        struct chart_point out[CHART_POINTS_MAX], all[CHART_POINTS_MAX], p;
        struct chart_downsampler d, direct;
        int64_t balance = 500 * INT64_C(1000000);
        size_t k, k_all;

        chart_summary_init(&s);
        chart_downsampler_init(&direct, T0, T0 + (n - 1) * USEC_PER_SEC, all);
        for (uint64_t i = 0; i < n; i++) {
                p = month_point(i, n, &balance);
                assert_int_equal(chart_summary_add(&s, &p), 0);
                chart_downsampler_add(&direct, &p);
        }
        assert_true(s.n <= CHART_SUMMARY_BUCKETS);
        chart_downsampler_init(&d, T0, p.time_usec, out);
        assert_int_equal(chart_summary_foreach(&s, collect, &d), 0);
        k = chart_downsampler_finish(&d);
        k_all = chart_downsampler_finish(&direct);
        assert_true(k <= CHART_POINTS_MAX && k >= CHART_BUCKETS);
        assert_memory_equal(&out[0], &all[0], sizeof(out[0]));
        assert_memory_equal(&out[k - 1], &all[k_all - 1], sizeof(out[0]));
        for (size_t i = 1; i < k; i++)
                assert_true(out[i].time_usec > out[i - 1].time_usec);
        /* The top-up's jump, where it was (the lowest is the last). */
        size_t checked = 0;
        for (size_t want = 0; want < k_all; want++) {
                bool found = false;

                if (all[want].balance != 800 * INT64_C(1000000) - 300 * (int64_t) (n / 2))
                        continue;
                for (size_t i = 0; i < k && !found; i++)
                        found = memcmp(&out[i], &all[want], sizeof(out[i])) == 0;
                assert_true(found);
                checked++;
        }
        assert_int_equal(checked, 1);
}

static void series(struct chart_point *pts, size_t n, struct chart_event *ev, size_t *n_ev) {
        int64_t balance = 2 * INT64_C(1000000), spent = 0;

        for (size_t i = 0; i < n; i++) {
                if (i == n / 2)
                        balance += 3 * INT64_C(1000000);
                else {
                        balance -= 20000;
                        spent += 20000;
                }
                pts[i] = (struct chart_point) { T0 + i * 30 * USEC_PER_SEC, balance, spent };
        }
        ev[0] = (struct chart_event) { pts[0].time_usec, pts[0].balance, "funded" };
        ev[1] = (struct chart_event) { pts[n / 2].time_usec, pts[n / 2].balance, "topped-up" };
        ev[2] = (struct chart_event) { pts[n - 1].time_usec, pts[n - 1].balance, "low" };
        *n_ev = 3;
}

static bool have_xmllint(void) {
        return system("command -v xmllint >/dev/null 2>&1") == 0;
}

static void assert_valid_xml(const char *svg, size_t n) {
        char path[] = "/tmp/test-chart-XXXXXX";
        char cmd[128];
        int fd, status;

        if (!have_xmllint()) {
                print_message("xmllint is not installed (libxml2-utils): the SVG's XML is not checked\n");
                return;
        }
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, svg, n), (ssize_t) n);
        close(fd);
        snprintf(cmd, sizeof(cmd), "xmllint --noout %s", path);
        status = system(cmd);
        unlink(path);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_svg(void **state _unused_) {
        struct chart_point pts[40];
        struct chart_event ev[3];
        _cleanup_(freep) char *a = NULL, *b = NULL;
        size_t n_ev, na, nb;
        struct chart c;

        series(pts, ARRAY_SIZE(pts), ev, &n_ev);
        c = (struct chart) { .title = "slice s-1 <&> \"x\"", .currency = "EUR", .points = pts,
                             .n_points = ARRAY_SIZE(pts), .events = ev, .n_events = n_ev, .has_spent = true };
        assert_int_equal(chart_svg(&c, &a, &na), 0);
        assert_true(na < CHART_SVG_MAX);
        assert_non_null(strstr(a, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"720\" height=\"400\""));
        assert_non_null(strstr(a, "slice s-1 &lt;&amp;&gt; &quot;x&quot;"));
        assert_null(strstr(a, "<&>"));
        assert_non_null(strstr(a, "balance (EUR)"));
        assert_non_null(strstr(a, "burn (EUR/h)"));
        assert_non_null(strstr(a, "time since 2026-11-30 00:53:20 UTC (min)"));
        assert_non_null(strstr(a, ">topped-up</text>"));
        assert_null(strstr(a, "href")); /* nothing from outside */
        assert_valid_xml(a, na);

        /* The same series, the same bytes, whatever the locale says a
         * decimal point is. */
        (void) setlocale(LC_ALL, "de_DE.UTF-8");
        assert_int_equal(chart_svg(&c, &b, &nb), 0);
        (void) setlocale(LC_ALL, "C");
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);
}

static void test_svg_public_and_edges(void **state _unused_) {
        struct chart_point one = { T0, 1000000, 0 }, bad[2] = { { T0 + 1, 1, 0 }, { T0, 1, 0 } };
        struct chart_point pts[CHART_POINTS_MAX];
        struct chart_event ev[CHART_EVENTS_MAX];
        _cleanup_(freep) char *svg = NULL;
        char *none = NULL;
        size_t n;

        /* One point: a chart still, one second wide. */
        assert_int_equal(chart_svg(&(struct chart) { .title = "t", .currency = "EUR", .points = &one, .n_points = 1 },
                                   &svg, &n),
                         0);
        assert_valid_xml(svg, n);
        free(TAKE_PTR(svg));
        assert_int_equal(chart_svg(&(struct chart) { .points = bad, .n_points = 2 }, &none, &n), -EINVAL);
        assert_int_equal(chart_svg(&(struct chart) { .points = NULL, .n_points = 0 }, &none, &n), -EINVAL);
        assert_null(none);

        /* The largest reply, a hostile one: extreme balances, every kind
         * text full of markup; bounded and valid. */
        for (size_t i = 0; i < ARRAY_SIZE(pts); i++)
                pts[i] = (struct chart_point) { T0 + i, i % 2 ? INT64_MAX : INT64_MIN, 0 };
        for (size_t i = 0; i < ARRAY_SIZE(ev); i++) {
                ev[i] = (struct chart_event) { T0 + i, INT64_MIN };
                memcpy(ev[i].kind, "<>&\"'<>&\"'<>&\"", CHART_KIND_MAX - 1);
        }
        assert_int_equal(chart_svg(&(struct chart) { .title = "<x>", .currency = "<&>", .points = pts,
                                                     .n_points = ARRAY_SIZE(pts), .events = ev,
                                                     .n_events = ARRAY_SIZE(ev) },
                                   &svg, &n),
                         0);
        assert_true(n < CHART_SVG_MAX);
        assert_valid_xml(svg, n);

        assert_true(chart_event_is_public("topped-up"));
        assert_true(chart_event_is_public("frozen"));
        assert_false(chart_event_is_public("killed"));
        assert_false(chart_event_is_public("oom"));
        assert_false(chart_event_is_public(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_markup_escape),    cmocka_unit_test(test_markup_bound),
                cmocka_unit_test(test_downsample_short), cmocka_unit_test(test_downsample_long),
                cmocka_unit_test(test_summary_short),    cmocka_unit_test(test_summary_long),
                cmocka_unit_test(test_svg),              cmocka_unit_test(test_svg_public_and_edges),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
