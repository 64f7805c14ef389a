/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What people type and the config file holds (common/parse.c): sizes, CPU
 * counts, durations, hours, plain numbers. Every parser reads every input.
 * Properties:
 *   - the verdicts are -EINVAL or -ERANGE, and *ret is untouched then;
 *   - parse_u64() and parse_size() without a fraction agree with a
 *     reference in 128-bit arithmetic written here;
 *   - parse_cpus() is parse_size()'s decimal times 1000 with at most three
 *     decimals, and never 0;
 *   - parse_hours(s) is parse_duration(s + "h") for digits and points;
 *   - format_size() and format_duration() of what parsed read back (where
 *     the parser knows the unit) to at most the value, never more: they
 *     round down;
 *   - parse_percent() takes what ends in one '%', at most 1000%, and
 *     format_percent() of it reads back to the same value exactly. */
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "common/parse.h"

FUZZ_QUIET_INITIALIZE

#define UNTOUCHED UINT64_C(0xdeadbeefcafe)

/* digits [* factor], or -ERANGE past UINT64_MAX; s is all digits. */
static int reference_u64(const char *s, size_t n, unsigned __int128 factor, uint64_t *ret) {
        unsigned __int128 v = 0;

        for (size_t i = 0; i < n; i++) {
                v = v * 10 + (unsigned) (s[i] - '0');
                if (v > UINT64_MAX)
                        return -ERANGE;
        }
        v *= factor;
        if (v > UINT64_MAX)
                return -ERANGE;
        *ret = (uint64_t) v;
        return 0;
}

static void check_u64(const char *s) {
        uint64_t v = UNTOUCHED, ref = UNTOUCHED;
        size_t n = strspn(s, "0123456789");
        int r, q;

        r = parse_u64(s, &v);
        q = n == 0 || s[n] ? -EINVAL : reference_u64(s, n, 1, &ref);
        fuzz_check(r == q && v == ref);
}

static void check_size(const char *s) {
        char buf[FORMAT_SIZE_MAX];
        uint64_t v = UNTOUCHED, ref = UNTOUCHED, back;
        size_t n = strspn(s, "0123456789");
        unsigned __int128 factor = 0;
        const char *suffix = s + n;
        int r;

        r = parse_size(s, &v);
        fuzz_check(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r < 0) {
                fuzz_check(v == UNTOUCHED);
                return;
        }

        /* Without a fraction the value is exact. */
        if (!strchr(s, '.')) {
                static const char *const units[] = { "", "B", "K", "KB", "KiB", "M", "MB", "MiB",
                                                     "G", "GB", "GiB", "T", "TB", "TiB" };
                for (size_t i = 0; i < ARRAY_SIZE(units); i++)
                        if (streq(suffix, units[i]))
                                factor = (unsigned __int128) 1 << (10 * ((i + 1) / 3));
                fuzz_check(factor != 0 && n > 0);
                fuzz_check(reference_u64(s, n, factor, &ref) == 0 && ref == v);
        }

        /* Read back, rounded down, to at most one tenth of a unit less. */
        if (v < (UINT64_C(1) << 50)) {
                format_size(buf, sizeof(buf), v);
                fuzz_check(parse_size(buf, &back) == 0 && back <= v);
                fuzz_check(v < 1024 ? back == v : v - back <= v / 10 + 1);
        }
}

static void check_cpus(const char *s) {
        uint64_t v = UNTOUCHED, size;
        const char *point = strchr(s, '.');
        int r;

        r = parse_cpus(s, &v);
        fuzz_check(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r < 0) {
                fuzz_check(v == UNTOUCHED);
                return;
        }
        fuzz_check(v > 0);
        fuzz_check(!point || strlen(point + 1) <= 3);
        /* "1.5" as a size of K would be 1536: the same decimal, times 1024;
         * here it is times 1000, exact with at most three decimals. */
        if (!point)
                fuzz_check(parse_u64(s, &size) == 0 && size * 1000 == v);
}

static void check_duration(const char *s) {
        char buf[FORMAT_DURATION_MAX];
        uint64_t v = UNTOUCHED, back;
        int r;

        r = parse_duration(s, &v);
        fuzz_check(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r < 0) {
                fuzz_check(v == UNTOUCHED);
                return;
        }
        format_duration(buf, sizeof(buf), v);
        fuzz_check(parse_duration(buf, &back) == 0 && back <= v);
}

static void check_hours(const char *s) {
        char buf[80];
        uint64_t v = UNTOUCHED, ref = UNTOUCHED;
        int r, q;

        r = parse_hours(s, &v);
        fuzz_check(r == 0 || r == -EINVAL || r == -ERANGE);
        if (s[0] && strlen(s) <= 62 && strspn(s, "0123456789.") == strlen(s)) {
                snprintf(buf, sizeof(buf), "%sh", s);
                q = parse_duration(buf, &ref);
                if (q == 0 && ref == 0)
                        q = -ERANGE, ref = UNTOUCHED;
                fuzz_check(r == q && v == ref);
        } else
                fuzz_check(r == -EINVAL && v == UNTOUCHED);
}

static void check_percent(const char *s) {
        char buf[FORMAT_PERCENT_MAX];
        uint64_t v = UNTOUCHED, back = UNTOUCHED;
        size_t n = strlen(s);
        int r;

        r = parse_percent(s, &v);
        fuzz_check(r == 0 || r == -EINVAL || r == -ERANGE);
        if (r < 0) {
                fuzz_check(v == UNTOUCHED);
                return;
        }
        fuzz_check(n >= 2 && s[n - 1] == '%' && v <= 10000000 && percent_is_valid(s));
        format_percent(buf, sizeof(buf), v);
        fuzz_check(parse_percent(buf, &back) == 0 && back == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *s;

        if (size > 256)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;
        check_u64(s);
        check_size(s);
        check_cpus(s);
        check_duration(s);
        check_hours(s);
        check_percent(s);
        free(s);
        return 0;
}
