/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Amounts of money as people and files write them: money_parse(), with
 * money_format(), the checked sums and currency_is_valid() beside it.
 * Properties:
 *   - money_parse() agrees with a reference written independently here
 *     (digits, an optional point and 1 to 6 decimals, nothing else; the
 *     value in 128 bits): the same verdict, -EINVAL before -ERANGE, and
 *     the same value;
 *   - an accepted amount formats to text that parses back to it;
 *   - any int64_t (the first 8 bytes) formats within MONEY_FORMAT_MAX, and
 *     its text without the sign parses back to its magnitude or is -ERANGE
 *     above MONEY_AMOUNT_MAX; a small buffer truncates, NUL-terminated;
 *   - money_add()/money_sub() agree with 128-bit arithmetic and leave the
 *     result alone on overflow. */
#include <errno.h>

#include "fuzz.h"
#include "common/money.h"

FUZZ_QUIET_INITIALIZE

static int reference_parse(const char *s, int64_t *ret) {
        unsigned __int128 v = 0;
        size_t i = 0, decimals = 0;
        bool big = false, point = false;

        for (; s[i]; i++) {
                if (s[i] == '.') {
                        if (point || i == 0)
                                return -EINVAL;
                        point = true;
                        continue;
                }
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                if (point && ++decimals > 6)
                        return -EINVAL;
                v = v * 10 + (unsigned) (s[i] - '0');
                if (v > (unsigned __int128) UINT64_MAX * 1000000)
                        big = true, v = 0;
        }
        if (i == 0 || (point && decimals == 0))
                return -EINVAL;
        for (; decimals < 6; decimals++)
                v *= 10;
        if (big || v > (unsigned __int128) MONEY_AMOUNT_MAX)
                return -ERANGE;
        *ret = (int64_t) v;
        return 0;
}

static int64_t get_i64(const uint8_t *p) {
        uint64_t u = 0;

        for (int i = 0; i < 8; i++)
                u = u << 8 | p[i];
        return (int64_t) u;
}

static void check_int64(int64_t a, int64_t b) {
        char buf[MONEY_FORMAT_MAX], small[8];
        __int128 sum = (__int128) a + b, diff = (__int128) a - b;
        int64_t v, r = 42;
        int q;

        money_format(buf, sizeof(buf), a);
        fuzz_check(strlen(buf) < sizeof(buf) - 1 || buf[sizeof(buf) - 1] == 0);
        q = money_parse(buf + (a < 0), &v);
        if (a == INT64_MIN || (a < 0 ? -a : a) > MONEY_AMOUNT_MAX)
                fuzz_check(q == -ERANGE);
        else
                fuzz_check(q == 0 && v == (a < 0 ? -a : a));
        money_format(small, sizeof(small), a);
        fuzz_check(strlen(small) < sizeof(small) && strncmp(small, buf, strlen(small)) == 0);

        if (sum < INT64_MIN || sum > INT64_MAX)
                fuzz_check(!money_add(a, b, &r) && r == 42);
        else
                fuzz_check(money_add(a, b, &r) && r == (int64_t) sum);
        r = 42;
        if (diff < INT64_MIN || diff > INT64_MAX)
                fuzz_check(!money_sub(a, b, &r) && r == 42);
        else
                fuzz_check(money_sub(a, b, &r) && r == (int64_t) diff);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char buf[MONEY_FORMAT_MAX];
        int64_t v = -1, ref = -2, back;
        char *s;
        int r, q;

        if (size > 256)
                return 0;
        if (size >= 16)
                check_int64(get_i64(data), get_i64(data + 8));

        s = fuzz_strndup(data, size);
        if (!s)
                return 0;

        r = money_parse(s, &v);
        q = reference_parse(s, &ref);
        fuzz_check(r == q);
        if (r == 0) {
                fuzz_check(v == ref && v >= 0 && v <= MONEY_AMOUNT_MAX);
                money_format(buf, sizeof(buf), v);
                fuzz_check(money_parse(buf, &back) == 0 && back == v);
        } else
                fuzz_check(v == -1); /* untouched */

        fuzz_check(currency_is_valid(s) ==
                   (strlen(s) == 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' &&
                    s[2] <= 'Z'));
        free(s);
        return 0;
}
