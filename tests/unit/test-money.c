/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Money as integer micro-units (daemon/common/money.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/money.h"
#include "common/util.h"

#define SENTINEL INT64_C(-0x5a5a5a5a5a)

static void check_ok(const char *s, int64_t want) {
        int64_t v = SENTINEL;
        int r;

        r = money_parse(s, &v);
        if (r != 0 || v != want)
                fail_msg("'%s': got r=%d v=%jd, want 0 and %jd", s, r, (intmax_t) v, (intmax_t) want);
}

static void check_err(const char *s, int err) {
        int64_t v = SENTINEL;
        int r;

        r = money_parse(s, &v);
        if (r != err || v != SENTINEL)
                fail_msg("'%s': got r=%d v=%jd, want %d and untouched", s ? s : "(null)", r, (intmax_t) v, err);
}

static void test_parse(void **state _unused_) {
        check_ok("12.50", 12500000);
        check_ok("12.5", 12500000);
        check_ok("7", 7 * MONEY_UNIT);
        check_ok("0.000001", 1);
        check_ok("0.1", 100000);
        check_ok("0.123456", 123456);
        check_ok("1.000000", MONEY_UNIT);
        check_ok("999999999.999999", MONEY_AMOUNT_MAX - 1);
        /* Zero is an amount (a free resource); a voucher refuses it. */
        check_ok("0", 0);
        check_ok("0.0", 0);
        check_ok("0.000000", 0);
        /* Leading zeros are harmless, as parse_u64() has them. */
        check_ok("007.50", 7500000);
        check_ok("00000000000000000000000001", MONEY_UNIT);
}

static void test_parse_range(void **state _unused_) {
        check_ok("1000000000", MONEY_AMOUNT_MAX);
        check_ok("1000000000.0", MONEY_AMOUNT_MAX);
        check_ok("1000000000.000000", MONEY_AMOUNT_MAX);
        check_err("1000000000.000001", -ERANGE);
        check_err("1000000001", -ERANGE);
        check_err("9223372036854", -ERANGE);      /* * 10^6 still fits int64 */
        check_err("9223372036855", -ERANGE);      /* * 10^6 does not */
        check_err("18446744073709551616", -ERANGE); /* not even a uint64 */
        check_err("99999999999999999999999", -ERANGE);
        check_err("99999999999999999999999.999999", -ERANGE);
}

static void test_parse_refused(void **state _unused_) {
        static const char *const bad[] = {
                /* more than six decimals: no silent rounding, even of zeros */
                "0.0000001", "1.0000000", "12.5000001", "1.1234567",
                /* signs and exponents */
                "-1", "+1", "-0", "1e3", "1E3", "1e-3", "0x10", "inf", "nan",
                /* white space: the caller trims, or it is a mistake */
                " 1", "1 ", "\t1", "1\n", "1 .5", "1. 5",
                /* incomplete numbers */
                "", ".", "1.", ".5", "..5", "1..5", "1.2.3",
                /* other separators and decorations */
                "1,5", "1,000.00", "1_000", "1'000", "$1", "1EUR", "1 EUR", "EUR", "one",
                /* malformed beats out of range */
                "99999999999999999999999x", "1000000000.0000001",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                check_err(bad[i], -EINVAL);
        check_err(NULL, -EINVAL);
}

static void check_format(int64_t v, const char *want) {
        char buf[MONEY_FORMAT_MAX];

        assert_ptr_equal(money_format(buf, sizeof(buf), v), buf);
        if (!streq(buf, want))
                fail_msg("money_format(%jd) = '%s', want '%s'", (intmax_t) v, buf, want);
}

static void test_format(void **state _unused_) {
        check_format(0, "0.00");
        check_format(1, "0.000001");
        check_format(10, "0.00001");
        check_format(123, "0.000123");
        check_format(100000, "0.10");
        check_format(120000, "0.12");
        check_format(123000, "0.123");
        check_format(MONEY_UNIT, "1.00");
        check_format(12500000, "12.50");
        check_format(1000000100000, "1000000.10");
        check_format(MONEY_AMOUNT_MAX, "1000000000.00");
        check_format(-3 * MONEY_UNIT, "-3.00");
        check_format(-1, "-0.000001");
        check_format(-12500000, "-12.50");
        check_format(INT64_MAX, "9223372036854.775807");
        check_format(INT64_MIN, "-9223372036854.775808");
}

/* What money_format() prints, money_parse() reads back exactly. */
static void test_round_trip(void **state _unused_) {
        static const int64_t values[] = {
                0, 1, 9, 10, 99, 100, 999999, MONEY_UNIT, MONEY_UNIT + 1, 12500000, 12345678,
                100000, 120000, 123000, 123400, 123450, 123456, 987654321987654, MONEY_AMOUNT_MAX - 1,
                MONEY_AMOUNT_MAX,
        };
        char buf[MONEY_FORMAT_MAX];

        for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
                int64_t v = SENTINEL;

                money_format(buf, sizeof(buf), values[i]);
                assert_int_equal(money_parse(buf, &v), 0);
                assert_int_equal(v, values[i]);

                /* Negative: the same digits after the sign. */
                if (values[i] > 0) {
                        money_format(buf, sizeof(buf), -values[i]);
                        assert_int_equal(buf[0], '-');
                        assert_int_equal(money_parse(buf + 1, &v), 0);
                        assert_int_equal(v, values[i]);
                }
        }

        /* And every micro-unit below two units. */
        for (int64_t v = 0; v < 2 * MONEY_UNIT; v += 7) {
                int64_t back = SENTINEL;

                money_format(buf, sizeof(buf), v);
                assert_int_equal(money_parse(buf, &back), 0);
                assert_int_equal(back, v);
        }
}

static void test_format_small_buffers(void **state _unused_) {
        char buf[8];

        assert_string_equal(money_format(buf, 5, 12500000), "12.5");
        assert_string_equal(money_format(buf, 1, 12500000), "");
        memset(buf, 'x', sizeof(buf));
        assert_ptr_equal(money_format(buf, 0, 1), buf);
        assert_int_equal(buf[0], 'x');
}

static void test_checked_arithmetic(void **state _unused_) {
        int64_t v = SENTINEL;

        assert_true(money_add(1, 2, &v));
        assert_int_equal(v, 3);
        assert_true(money_add(INT64_MAX - 1, 1, &v));
        assert_int_equal(v, INT64_MAX);
        v = SENTINEL;
        assert_false(money_add(INT64_MAX, 1, &v));
        assert_false(money_add(INT64_MIN, -1, &v));
        assert_int_equal(v, SENTINEL);

        assert_true(money_sub(5, 7, &v));
        assert_int_equal(v, -2);
        v = SENTINEL;
        assert_false(money_sub(INT64_MIN, 1, &v));
        assert_false(money_sub(0, INT64_MIN, &v));
        assert_int_equal(v, SENTINEL);
}

/* Change above what one voucher holds is paid as several vouchers:
 * every part within the maximum, as few as can be, summing exactly. */
static void test_split(void **state _unused_) {
        const int64_t amounts[] = { 1, MONEY_AMOUNT_MAX - 1, MONEY_AMOUNT_MAX, MONEY_AMOUNT_MAX + 1,
                                    2 * MONEY_AMOUNT_MAX, 2 * MONEY_AMOUNT_MAX + 123456789,
                                    16 * MONEY_AMOUNT_MAX };
        int64_t parts[16], sum;
        int k;

        for (size_t i = 0; i < ARRAY_SIZE(amounts); i++) {
                k = money_split(amounts[i], MONEY_AMOUNT_MAX, parts, ARRAY_SIZE(parts));
                assert_int_equal(k, (amounts[i] + MONEY_AMOUNT_MAX - 1) / MONEY_AMOUNT_MAX);
                sum = 0;
                for (int j = 0; j < k; j++) {
                        assert_true(parts[j] > 0 && parts[j] <= MONEY_AMOUNT_MAX);
                        if (j < k - 1)
                                assert_int_equal(parts[j], MONEY_AMOUNT_MAX);
                        assert_true(money_add(sum, parts[j], &sum));
                }
                assert_int_equal(sum, amounts[i]);
        }
        k = money_split(2 * MONEY_AMOUNT_MAX + 5, MONEY_AMOUNT_MAX, parts, ARRAY_SIZE(parts));
        assert_int_equal(k, 3);
        assert_int_equal(parts[0], MONEY_AMOUNT_MAX);
        assert_int_equal(parts[1], MONEY_AMOUNT_MAX);
        assert_int_equal(parts[2], 5);

        assert_int_equal(money_split(0, MONEY_AMOUNT_MAX, parts, ARRAY_SIZE(parts)), 0);
        assert_int_equal(money_split(7, 3, parts, 3), 3);
        assert_int_equal(parts[2], 1);
        /* More parts than there is room for: refused, nothing written. */
        parts[0] = -1;
        assert_int_equal(money_split(7, 3, parts, 2), -ENOBUFS);
        assert_int_equal(parts[0], -1);
        assert_int_equal(money_split(INT64_MAX, MONEY_AMOUNT_MAX, parts, ARRAY_SIZE(parts)), -ENOBUFS);
        assert_int_equal(money_split(INT64_MAX, 1, parts, ARRAY_SIZE(parts)), -ENOBUFS);
        assert_int_equal(money_split(-1, MONEY_AMOUNT_MAX, parts, ARRAY_SIZE(parts)), -EINVAL);
        assert_int_equal(money_split(1, 0, parts, ARRAY_SIZE(parts)), -EINVAL);
        assert_int_equal(money_split(1, -1, parts, ARRAY_SIZE(parts)), -EINVAL);
}

static void test_currency(void **state _unused_) {
        assert_true(currency_is_valid("EUR"));
        assert_true(currency_is_valid("USD"));
        assert_true(currency_is_valid("XTS"));

        static const char *const bad[] = {
                "", "E", "EU", "eur", "Eur", "EURO", "EU1", "E R", " EUR", "EUR ", "€", "ÄBC",
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (currency_is_valid(bad[i]))
                        fail_msg("currency '%s' accepted", bad[i]);
        assert_false(currency_is_valid(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_range),
                cmocka_unit_test(test_parse_refused),
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_format_small_buffers),
                cmocka_unit_test(test_checked_arithmetic),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_currency),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
