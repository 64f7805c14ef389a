/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sizes, CPU counts and durations as people type them (daemon/common/parse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/parse.h"
#include "common/util.h"

#define SENTINEL UINT64_C(0xdeadbeefcafe)

#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define TIB (UINT64_C(1) << 40)

typedef int (*parser_t)(const char *s, uint64_t *ret);

static void check_ok(parser_t parse, const char *s, uint64_t want) {
        uint64_t v = SENTINEL;
        int r;

        r = parse(s, &v);
        if (r != 0 || v != want)
                fail_msg("'%s': got r=%d v=%ju, want 0 and %ju", s, r, (uintmax_t) v, (uintmax_t) want);
}

/* Fails with err, and leaves the output alone. */
static void check_err(parser_t parse, const char *s, int err) {
        uint64_t v = SENTINEL;
        int r;

        r = parse(s, &v);
        if (r != err || v != SENTINEL)
                fail_msg("'%s': got r=%d v=%ju, want %d and untouched", s ? s : "(null)", r, (uintmax_t) v, err);
}

static void test_size_suffixes(void **state _unused_) {
        check_ok(parse_size, "0", 0);
        check_ok(parse_size, "1", 1);
        check_ok(parse_size, "4096", 4096);
        check_ok(parse_size, "0004096", 4096);
        check_ok(parse_size, "4096B", 4096);
        check_ok(parse_size, "512K", 512 * KIB);
        check_ok(parse_size, "100M", 100 * MIB);
        check_ok(parse_size, "4G", 4 * GIB);
        check_ok(parse_size, "1T", TIB);
        check_ok(parse_size, "0K", 0);

        /* "B" and "iB" are decoration; the multiple is 1024 either way. */
        check_ok(parse_size, "1KB", KIB);
        check_ok(parse_size, "1KiB", KIB);
        check_ok(parse_size, "100MB", 100 * MIB);
        check_ok(parse_size, "100MiB", 100 * MIB);
        check_ok(parse_size, "4GB", 4 * GIB);
        check_ok(parse_size, "4GiB", 4 * GIB);
        check_ok(parse_size, "2TB", 2 * TIB);
        check_ok(parse_size, "2TiB", 2 * TIB);
}

static void test_size_fractions(void **state _unused_) {
        check_ok(parse_size, "1.5G", GIB + GIB / 2);
        check_ok(parse_size, "0.5K", 512);
        check_ok(parse_size, "0.25M", MIB / 4);
        check_ok(parse_size, "1.5GiB", GIB + GIB / 2);
        check_ok(parse_size, "2.0T", 2 * TIB);
        /* Rounded down to a byte: 1.001 * 1024 = 1025.024 */
        check_ok(parse_size, "1.001K", 1025);
        check_ok(parse_size, "0.0001K", 0);
        check_ok(parse_size, "0.999K", 1022); /* 1022.976 */
        /* However many digits, no overflow and no rounding up. */
        check_ok(parse_size, "0.99999999999999999999999999999999T", TIB - 1);
        check_ok(parse_size, "1.00000000000000000000000000000001K", KIB);
        check_ok(parse_size, "0.1M", 104857); /* 104857.6 */
}

static void test_size_boundaries(void **state _unused_) {
        check_ok(parse_size, "18446744073709551615", UINT64_MAX);
        check_ok(parse_size, "18446744073709551615B", UINT64_MAX);
        check_ok(parse_size, "16777215T", UINT64_MAX - TIB + 1);
        /* 2^64 - 2^40 + floor(0.999999999999 * 2^40) */
        check_ok(parse_size, "16777215.999999999999T", UINT64_MAX - 1);
        check_ok(parse_size, "17179869183G", UINT64_MAX - GIB + 1);

        check_err(parse_size, "18446744073709551616", -ERANGE);
        check_err(parse_size, "99999999999999999999", -ERANGE);
        check_err(parse_size, "16777216T", -ERANGE);
        check_err(parse_size, "17179869184G", -ERANGE);
        /* A fraction of a power of two cannot carry past 2^64 - 1. */
        check_ok(parse_size, "17179869183.99999999999999999999G", UINT64_MAX);
        check_err(parse_size, "18014398509481984K", -ERANGE);
}

static void test_size_garbage(void **state _unused_) {
        static const char *const bad[] = {
                "", " ", " 1G", "1G ", "1 G", "\t1", "1\n", "1X", "1.5.5", "1.5.5G", "-1", "+1", "G", "B",
                "K1", "1.5", "1.5B", "1.", "1.G", ".5G", "1iB", "1k", "1g", "1GG", "1GBB", "1Gi",
                "1GiBB", "0x10", "1e3", "1,5G", "one", "1G1", "１",
                /* malformed beats out of range */
                "99999999999999999999X",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                check_err(parse_size, bad[i], -EINVAL);
        check_err(parse_size, NULL, -EINVAL);
}

static void test_cpus(void **state _unused_) {
        check_ok(parse_cpus, "2", 2000);
        check_ok(parse_cpus, "1", 1000);
        check_ok(parse_cpus, "0.5", 500);
        check_ok(parse_cpus, "0.125", 125);
        check_ok(parse_cpus, "0.001", 1);
        check_ok(parse_cpus, "1.1", 1100);
        check_ok(parse_cpus, "1.10", 1100);
        check_ok(parse_cpus, "64", 64000);
        check_ok(parse_cpus, "18446744073709551.615", UINT64_MAX);

        check_err(parse_cpus, "0", -ERANGE);
        check_err(parse_cpus, "0.000", -ERANGE);
        check_err(parse_cpus, "00", -ERANGE);
        check_err(parse_cpus, "18446744073709551.616", -ERANGE);
        check_err(parse_cpus, "18446744073709552", -ERANGE);

        static const char *const bad[] = {
                "", " 1", "1 ", "-1", "+1", "1.", ".5", "1.5.5", "0.0001", "0.1250", "1K", "2cpus", "1e3",
                "0x2", "1,5", "half",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                check_err(parse_cpus, bad[i], -EINVAL);
        check_err(parse_cpus, NULL, -EINVAL);
}

static void test_duration_units(void **state _unused_) {
        check_ok(parse_duration, "0", 0);
        check_ok(parse_duration, "0s", 0);
        check_ok(parse_duration, "1", USEC_PER_SEC);
        check_ok(parse_duration, "90", 90 * USEC_PER_SEC);
        check_ok(parse_duration, "1us", 1);
        check_ok(parse_duration, "1usec", 1);
        check_ok(parse_duration, "1ms", USEC_PER_MSEC);
        check_ok(parse_duration, "1msec", USEC_PER_MSEC);
        check_ok(parse_duration, "100ms", 100 * USEC_PER_MSEC);
        check_ok(parse_duration, "1s", USEC_PER_SEC);
        check_ok(parse_duration, "1sec", USEC_PER_SEC);
        check_ok(parse_duration, "1m", 60 * USEC_PER_SEC);
        check_ok(parse_duration, "1min", 60 * USEC_PER_SEC);
        check_ok(parse_duration, "1h", 3600 * USEC_PER_SEC);
        check_ok(parse_duration, "1hr", 3600 * USEC_PER_SEC);
        check_ok(parse_duration, "1d", 86400 * USEC_PER_SEC);
        check_ok(parse_duration, "1w", 7 * 86400 * USEC_PER_SEC);
        check_ok(parse_duration, "2weeks", 14 * 86400 * USEC_PER_SEC);
}

static void test_duration_sums_and_fractions(void **state _unused_) {
        check_ok(parse_duration, "1h 30min", 5400 * USEC_PER_SEC);
        check_ok(parse_duration, "1h30min", 5400 * USEC_PER_SEC);
        check_ok(parse_duration, "1h  30min\t10s", 5410 * USEC_PER_SEC);
        check_ok(parse_duration, "1min 30", 90 * USEC_PER_SEC);
        check_ok(parse_duration, "1s 1s", 2 * USEC_PER_SEC);
        check_ok(parse_duration, "1.5s", 1500 * USEC_PER_MSEC);
        check_ok(parse_duration, "0.1s", 100 * USEC_PER_MSEC);
        check_ok(parse_duration, "0.5", 500 * USEC_PER_MSEC);
        check_ok(parse_duration, "2.5ms", 2500);
        check_ok(parse_duration, "1.5us", 1); /* rounded down */
        check_ok(parse_duration, "1.5h", 5400 * USEC_PER_SEC);
        check_ok(parse_duration, "0.000001s", 1);
        check_ok(parse_duration, "0.0000001s", 0);
}

static void test_duration_boundaries(void **state _unused_) {
        check_ok(parse_duration, "18446744073709551615us", UINT64_MAX);
        check_ok(parse_duration, "18446744073709551614us 1us", UINT64_MAX);
        check_ok(parse_duration, "30500568w", UINT64_C(30500568) * 7 * 86400 * USEC_PER_SEC);

        check_err(parse_duration, "18446744073709551616us", -ERANGE);
        check_err(parse_duration, "18446744073709551615us 1us", -ERANGE);
        /* Here a fraction can tip it over. */
        check_ok(parse_duration, "18446744073709.551615s", UINT64_MAX);
        check_err(parse_duration, "18446744073709.551616s", -ERANGE);
        check_err(parse_duration, "30500569w", -ERANGE);
        check_err(parse_duration, "18446744073709551616", -ERANGE);
        check_err(parse_duration, "9999999999999999999999d", -ERANGE);
}

static void test_hours(void **state _unused_) {
        check_ok(parse_hours, "2", 2 * 3600 * USEC_PER_SEC);
        check_ok(parse_hours, "0.5", 1800 * USEC_PER_SEC);
        check_ok(parse_hours, "0.001", 3600 * USEC_PER_MSEC);
        check_err(parse_hours, "0", -ERANGE);
        check_err(parse_hours, "2h", -EINVAL);
        check_err(parse_hours, "1 30min", -EINVAL);
        check_err(parse_hours, "-1", -EINVAL);
        check_err(parse_hours, "", -EINVAL);
}

static void test_duration_garbage(void **state _unused_) {
        static const char *const bad[] = {
                "", " ", " 1s", "1s ", "1 s", "1x", "1t", "s", "ms", "-1s", "+1s", "1.5.5", "1.5.5s",
                "1ss", "1S", "1MS", "1.s", ".5s", "1s,2s", "1s-", "1e3", "1mins",
                /* malformed beats out of range */
                "99999999999999999999999d 1x",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                check_err(parse_duration, bad[i], -EINVAL);
        check_err(parse_duration, NULL, -EINVAL);
}

static void test_u64(void **state _unused_) {
        check_ok(parse_u64, "0", 0);
        check_ok(parse_u64, "42", 42);
        check_ok(parse_u64, "007", 7);
        check_ok(parse_u64, "18446744073709551615", UINT64_MAX);
        check_err(parse_u64, "18446744073709551616", -ERANGE);
        check_err(parse_u64, "99999999999999999999999", -ERANGE);

        static const char *const bad[] = {
                "", " 1", "1 ", "-1", "+1", "1K", "1.0", "0x1", "1e3", "1_000", "G",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                check_err(parse_u64, bad[i], -EINVAL);
        check_err(parse_u64, NULL, -EINVAL);
}

static void test_format_size(void **state _unused_) {
        char buf[FORMAT_SIZE_MAX];

        assert_string_equal(format_size(buf, sizeof(buf), 0), "0B");
        assert_string_equal(format_size(buf, sizeof(buf), 1), "1B");
        assert_string_equal(format_size(buf, sizeof(buf), 1023), "1023B");
        assert_string_equal(format_size(buf, sizeof(buf), 1024), "1.0K");
        assert_string_equal(format_size(buf, sizeof(buf), 1536), "1.5K");
        assert_string_equal(format_size(buf, sizeof(buf), 2047), "1.9K"); /* down, never up */
        assert_string_equal(format_size(buf, sizeof(buf), 512 * KIB), "512.0K");
        assert_string_equal(format_size(buf, sizeof(buf), MIB - 1), "1023.9K");
        assert_string_equal(format_size(buf, sizeof(buf), 100 * MIB), "100.0M");
        assert_string_equal(format_size(buf, sizeof(buf), 4 * GIB), "4.0G");
        assert_string_equal(format_size(buf, sizeof(buf), GIB + GIB / 2), "1.5G");
        assert_string_equal(format_size(buf, sizeof(buf), TIB), "1.0T");
        assert_string_equal(format_size(buf, sizeof(buf), 1024 * TIB), "1.0P");
        assert_string_equal(format_size(buf, sizeof(buf), UINT64_MAX), "15.9E");
}

static void test_format_duration(void **state _unused_) {
        char buf[FORMAT_DURATION_MAX];

        assert_string_equal(format_duration(buf, sizeof(buf), 0), "0s");
        assert_string_equal(format_duration(buf, sizeof(buf), 999), "999us");
        assert_string_equal(format_duration(buf, sizeof(buf), 250 * USEC_PER_MSEC), "250ms");
        assert_string_equal(format_duration(buf, sizeof(buf), 250 * USEC_PER_MSEC + 999), "250ms");
        assert_string_equal(format_duration(buf, sizeof(buf), 3 * USEC_PER_SEC), "3s");
        assert_string_equal(format_duration(buf, sizeof(buf), 3200 * USEC_PER_MSEC), "3.2s");
        assert_string_equal(format_duration(buf, sizeof(buf), 3299 * USEC_PER_MSEC), "3.2s");
        assert_string_equal(format_duration(buf, sizeof(buf), 250 * USEC_PER_SEC), "4min 10s");
        assert_string_equal(format_duration(buf, sizeof(buf), 240 * USEC_PER_SEC), "4min");
        assert_string_equal(format_duration(buf, sizeof(buf), 7500 * USEC_PER_SEC), "2h 5min");
        assert_string_equal(format_duration(buf, sizeof(buf), 3600 * USEC_PER_SEC), "1h");
        assert_string_equal(format_duration(buf, sizeof(buf), (3 * 86400 + 4 * 3600) * USEC_PER_SEC), "3d 4h");
        assert_string_equal(format_duration(buf, sizeof(buf), 30 * 86400 * USEC_PER_SEC), "30d");
        assert_string_equal(format_duration(buf, sizeof(buf), UINT64_MAX), "213503982d 8h");
}

/* What format_duration() prints, parse_duration() reads back. */
static void test_format_duration_parses(void **state _unused_) {
        static const uint64_t values[] = {
                0, 1, 999, 250 * USEC_PER_MSEC, 3 * USEC_PER_SEC, 3200 * USEC_PER_MSEC, 250 * USEC_PER_SEC,
                7500 * USEC_PER_SEC, (3 * 86400 + 4 * 3600) * USEC_PER_SEC,
        };
        char buf[FORMAT_DURATION_MAX];

        for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
                uint64_t v = SENTINEL;

                format_duration(buf, sizeof(buf), values[i]);
                assert_int_equal(parse_duration(buf, &v), 0);
                assert_int_equal(v, values[i]);
        }
}

static void test_format_small_buffers(void **state _unused_) {
        char buf[8];

        memset(buf, 'x', sizeof(buf));
        assert_ptr_equal(format_size(buf, 4, 4 * GIB), buf);
        assert_string_equal(buf, "4.0");
        assert_string_equal(format_duration(buf, 3, 250 * USEC_PER_SEC), "4m");
        assert_string_equal(format_size(buf, 1, 1), "");

        /* n == 0: nothing written at all. */
        memset(buf, 'x', sizeof(buf));
        assert_ptr_equal(format_size(buf, 0, 1), buf);
        assert_ptr_equal(format_duration(buf, 0, 1), buf);
        assert_int_equal(buf[0], 'x');
}

/* Rates as people type them, in parts per million; back as typed. */
static void test_percent(void **state _unused_) {
        char buf[FORMAT_PERCENT_MAX];

        check_ok(parse_percent, "50%", 500000);
        check_ok(parse_percent, "12.5%", 125000);
        check_ok(parse_percent, "0.0001%", 1);
        check_ok(parse_percent, "0%", 0);
        check_ok(parse_percent, "1000%", 10000000);
        check_err(parse_percent, "1000.0001%", -ERANGE);
        check_err(parse_percent, "50", -EINVAL);
        check_err(parse_percent, "50 %", -EINVAL);
        check_err(parse_percent, "0.00001%", -EINVAL);
        check_err(parse_percent, "-5%", -EINVAL);
        check_err(parse_percent, "%", -EINVAL);
        check_err(parse_percent, "5%%", -EINVAL);
        assert_true(percent_is_valid("7%"));
        assert_false(percent_is_valid("seven"));
        assert_string_equal(format_percent(buf, sizeof(buf), 500000), "50%");
        assert_string_equal(format_percent(buf, sizeof(buf), 125000), "12.5%");
        assert_string_equal(format_percent(buf, sizeof(buf), 1), "0.0001%");
        assert_string_equal(format_percent(buf, sizeof(buf), 0), "0%");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_size_suffixes),
                cmocka_unit_test(test_size_fractions),
                cmocka_unit_test(test_size_boundaries),
                cmocka_unit_test(test_size_garbage),
                cmocka_unit_test(test_cpus),
                cmocka_unit_test(test_duration_units),
                cmocka_unit_test(test_hours),
                cmocka_unit_test(test_duration_sums_and_fractions),
                cmocka_unit_test(test_duration_boundaries),
                cmocka_unit_test(test_duration_garbage),
                cmocka_unit_test(test_u64),
                cmocka_unit_test(test_format_size),
                cmocka_unit_test(test_format_duration),
                cmocka_unit_test(test_format_duration_parses),
                cmocka_unit_test(test_format_small_buffers),
                cmocka_unit_test(test_percent),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
