/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>

#include "money.h"
#include "util.h"

#define MONEY_DECIMALS 6

static bool char_is_digit(char c) {
        return c >= '0' && c <= '9';
}

int money_parse(const char *s, int64_t *ret) {
        size_t n_integer = 0, n_fraction = 0;
        const char *fraction = NULL;
        uint64_t v = 0;

        if (!s)
                return -EINVAL;

        /* The whole syntax first, so that malformed text is -EINVAL even
         * when its digits would also be out of range. */
        while (char_is_digit(s[n_integer]))
                n_integer++;
        if (n_integer == 0)
                return -EINVAL; /* "", ".5", "-1", " 1" */
        if (s[n_integer] == '.') {
                fraction = s + n_integer + 1;
                while (char_is_digit(fraction[n_fraction]))
                        n_fraction++;
                if (n_fraction == 0 || fraction[n_fraction] != 0)
                        return -EINVAL; /* "1.", "1.5x" */
                if (n_fraction > MONEY_DECIMALS)
                        return -EINVAL; /* would have to round */
        } else if (s[n_integer] != 0)
                return -EINVAL; /* "1e3", "1 ", "1,5" */

        /* Checked at every step: "99999999999999999999999" is -ERANGE. */
        for (size_t i = 0; i < n_integer; i++)
                if (!u64_mul(v, 10, &v) || !u64_add(v, (uint64_t) (s[i] - '0'), &v))
                        return -ERANGE;
        if (!u64_mul(v, (uint64_t) MONEY_UNIT, &v))
                return -ERANGE;

        if (fraction) {
                uint64_t f = 0;

                for (size_t i = 0; i < MONEY_DECIMALS; i++)
                        f = f * 10 + (i < n_fraction ? (uint64_t) (fraction[i] - '0') : 0);
                if (!u64_add(v, f, &v))
                        return -ERANGE;
        }

        if (v > (uint64_t) MONEY_AMOUNT_MAX)
                return -ERANGE;

        *ret = (int64_t) v;
        return 0;
}

char *money_format(char *buf, size_t n, int64_t v) {
        char fraction[MONEY_DECIMALS + 1];
        uint64_t magnitude;
        size_t digits = MONEY_DECIMALS;

        if (n == 0)
                return buf;

        /* INT64_MIN has no positive int64_t; its magnitude fits a uint64_t. */
        magnitude = v < 0 ? -(uint64_t) v : (uint64_t) v;

        snprintf(fraction, sizeof(fraction), "%06" PRIu64, magnitude % (uint64_t) MONEY_UNIT);
        while (digits > 2 && fraction[digits - 1] == '0')
                digits--;
        fraction[digits] = 0;

        snprintf(buf, n, "%s%" PRIu64 ".%s", v < 0 ? "-" : "", magnitude / (uint64_t) MONEY_UNIT, fraction);
        return buf;
}

int money_split(int64_t amount, int64_t max_part, int64_t *ret_parts, size_t n) {
        int64_t k;

        if (amount < 0 || max_part <= 0)
                return -EINVAL;
        k = amount / max_part + (amount % max_part != 0);
        if ((uint64_t) k > n || k > INT_MAX)
                return -ENOBUFS;
        for (int64_t i = 0; i < k; i++)
                ret_parts[i] = i < k - 1 ? max_part : amount - (k - 1) * max_part;
        return (int) k;
}

bool currency_is_valid(const char *s) {
        if (!s)
                return false;
        for (size_t i = 0; i < 3; i++)
                if (s[i] < 'A' || s[i] > 'Z')
                        return false;
        return s[3] == 0;
}
