/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Money is an int64_t count of micro-units (1.000000 of a currency is
 * 1000000), never a float. Every sum goes through the checked helpers.
 * Pure code, unit-tested in tests/unit/test-money.c. */

#define MONEY_UNIT INT64_C(1000000)
/* The largest single amount (a voucher, a price, a quote): 10^9 units.
 * Balances may sum several, still checked against INT64_MAX. */
#define MONEY_AMOUNT_MAX (INT64_C(1000000000) * MONEY_UNIT)
#define MONEY_FORMAT_MAX 32
#define CURRENCY_SIZE 4 /* three letters and a NUL */

/* "12.50" -> 12500000, "0.000001" -> 1, "7" -> 7000000. At most six
 * fractional digits (-EINVAL beyond: no silent rounding), no sign, no
 * exponent, no white space; -ERANGE above MONEY_AMOUNT_MAX. *ret is
 * written only on success. In detail, as tests/unit/test-money.c checks:
 *   "0", "0.0", "007.50"          accepted (0, 0, 7500000): zero is an
 *                                  amount (a price may be free); callers
 *                                  that need more than zero check that
 *   "1.0000000" (7 decimals)       -EINVAL, even when the extra digits are 0
 *   "", " 1", "1 ", "-1", "+1",
 *   "1e3", "1.", ".5", "1,5",
 *   "0x10", "1.2.3"                -EINVAL
 *   "1000000000"                   accepted: MONEY_AMOUNT_MAX
 *   "1000000000.000001",
 *   "99999999999999999999999"      -ERANGE
 * Malformed text is -EINVAL even when its digits are also out of range. */
int money_parse(const char *s, int64_t *ret);

/* "12.50", "0.000123", "-3.00", "1000000.10": at least two fractional
 * digits, at most six, trailing zeros past the second dropped. Exact: the
 * text parses back (without its sign) to the same value. Any int64_t,
 * INT64_MIN included, fits MONEY_FORMAT_MAX. Always NUL-terminated
 * (truncated if n is too small); n == 0 writes nothing. Returns buf. */
char *money_format(char *buf, size_t n, int64_t v);

/* Checked arithmetic: false on overflow, *ret untouched then. */
static inline bool money_add(int64_t a, int64_t b, int64_t *ret) {
        int64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return false;
        *ret = r;
        return true;
}

static inline bool money_sub(int64_t a, int64_t b, int64_t *ret) {
        int64_t r;
        if (__builtin_sub_overflow(a, b, &r))
                return false;
        *ret = r;
        return true;
}

/* Splits amount into as few parts of at most max_part as can be, largest
 * first (each max_part but the last): how a balance above what one
 * voucher may hold is paid as several. Writes ret_parts[0..k) and returns
 * k (0 for an amount of 0); -EINVAL for a negative amount or max_part of
 * 0 or less, -ENOBUFS when more than n parts would be needed (ret_parts
 * untouched then). */
int money_split(int64_t amount, int64_t max_part, int64_t *ret_parts, size_t n);

/* ISO 4217 form: exactly three ASCII upper-case letters. */
bool currency_is_valid(const char *s);
