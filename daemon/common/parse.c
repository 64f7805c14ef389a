/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "util.h"

/* Everything here is integer arithmetic: a fraction such as "1.5G" is kept
 * as its digit string and multiplied out exactly, so no value depends on
 * how a double happens to round. Syntax is checked in full before any
 * arithmetic, so "99999999999999999999X" is -EINVAL, not -ERANGE. */

static bool char_is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool char_is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static size_t span_digits(const char *s) {
        size_t n = 0;

        while (char_is_digit(s[n]))
                n++;
        return n;
}

/* The value of n decimal digits; -ERANGE if it does not fit. */
static int digits_to_u64(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        for (size_t i = 0; i < n; i++)
                if (!u64_mul(v, 10, &v) || !u64_add(v, (uint64_t) (s[i] - '0'), &v))
                        return -ERANGE;
        *ret = v;
        return 0;
}

/* floor(0.<digits> * mult), exactly, for mult < 2^60: multiplies the digit
 * string by mult from its last digit, as on paper; the carry out of the
 * first digit is the integer part. Every intermediate stays below
 * 10 * mult, so nothing overflows however many digits there are. */
static uint64_t fraction_times(const char *digits, size_t n, uint64_t mult) {
        uint64_t carry = 0;

        for (size_t i = n; i > 0; i--)
                carry = ((uint64_t) (digits[i - 1] - '0') * mult + carry) / 10;
        return carry;
}

/* A number "<digits>[.<digits>]" at the start of s. Returns the number of
 * characters it spans (0: no number there) and where its parts are. */
struct decimal {
        const char *integer;
        size_t n_integer;
        const char *fraction; /* NULL without a '.' */
        size_t n_fraction;
};

static size_t scan_decimal(const char *s, struct decimal *ret) {
        struct decimal d = { .integer = s };
        size_t n;

        d.n_integer = span_digits(s);
        if (d.n_integer == 0)
                return 0;
        n = d.n_integer;

        if (s[n] == '.') {
                d.fraction = s + n + 1;
                d.n_fraction = span_digits(d.fraction);
                if (d.n_fraction == 0)
                        return 0; /* "1." */
                n += 1 + d.n_fraction;
        }

        *ret = d;
        return n;
}

/* integer * mult + floor(fraction * mult) */
static int decimal_times(const struct decimal *d, uint64_t mult, uint64_t *ret) {
        uint64_t v;
        int r;

        r = digits_to_u64(d->integer, d->n_integer, &v);
        if (r < 0)
                return r;
        if (!u64_mul(v, mult, &v))
                return -ERANGE;
        if (d->fraction && !u64_add(v, fraction_times(d->fraction, d->n_fraction, mult), &v))
                return -ERANGE;

        *ret = v;
        return 0;
}

int parse_u64(const char *s, uint64_t *ret) {
        size_t n;

        if (!s)
                return -EINVAL;
        n = span_digits(s);
        if (n == 0 || s[n] != 0)
                return -EINVAL;
        return digits_to_u64(s, n, ret);
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                char suffix;
                uint64_t factor;
        } table[] = {
                { 'K', UINT64_C(1) << 10 },
                { 'M', UINT64_C(1) << 20 },
                { 'G', UINT64_C(1) << 30 },
                { 'T', UINT64_C(1) << 40 },
        };
        struct decimal d;
        uint64_t factor = 1;
        const char *p;
        size_t n;

        if (!s)
                return -EINVAL;

        n = scan_decimal(s, &d);
        if (n == 0)
                return -EINVAL;
        p = s + n;

        for (size_t i = 0; i < ARRAY_SIZE(table); i++)
                if (*p == table[i].suffix) {
                        factor = table[i].factor;
                        p++;
                        break;
                }

        /* "B" after any number, "iB" only after a multiple. */
        if (factor > 1 && p[0] == 'i' && p[1] == 'B')
                p += 2;
        else if (*p == 'B')
                p++;

        if (*p != 0)
                return -EINVAL;
        /* A fraction of a byte makes no sense; of a K, M, G or T it does. */
        if (d.fraction && factor == 1)
                return -EINVAL;

        return decimal_times(&d, factor, ret);
}

int parse_cpus(const char *s, uint64_t *ret_millicpus) {
        struct decimal d;
        uint64_t v;
        size_t n;
        int r;

        if (!s)
                return -EINVAL;

        n = scan_decimal(s, &d);
        if (n == 0 || s[n] != 0)
                return -EINVAL;
        if (d.n_fraction > 3)
                return -EINVAL;

        r = decimal_times(&d, 1000, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -ERANGE;

        *ret_millicpus = v;
        return 0;
}

static const struct {
        const char *unit;
        uint64_t usec;
} duration_units[] = {
        { "us", 1 },
        { "usec", 1 },
        { "ms", USEC_PER_MSEC },
        { "msec", USEC_PER_MSEC },
        { "s", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "seconds", USEC_PER_SEC },
        { "m", 60 * USEC_PER_SEC },
        { "min", 60 * USEC_PER_SEC },
        { "minute", 60 * USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
        { "hr", 3600 * USEC_PER_SEC },
        { "hour", 3600 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC },
        { "d", 86400 * USEC_PER_SEC },
        { "day", 86400 * USEC_PER_SEC },
        { "days", 86400 * USEC_PER_SEC },
        { "w", 7 * 86400 * USEC_PER_SEC },
        { "week", 7 * 86400 * USEC_PER_SEC },
        { "weeks", 7 * 86400 * USEC_PER_SEC },
};

static int duration_unit(const char *s, size_t n, uint64_t *ret) {
        if (n == 0) {
                *ret = USEC_PER_SEC; /* a bare number is seconds */
                return 0;
        }
        for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++)
                if (strlen(duration_units[i].unit) == n && strneq(s, duration_units[i].unit, n)) {
                        *ret = duration_units[i].usec;
                        return 0;
                }
        return -EINVAL;
}

/* Walks "<decimal><unit>" components separated by white space (or nothing:
 * "1h30min"), none before or after. With ret == NULL it only checks the
 * syntax, so that the caller can tell -EINVAL from -ERANGE in that order. */
static int duration_walk(const char *s, uint64_t *ret) {
        const char *p = s;
        uint64_t sum = 0;
        int r;

        for (;;) {
                struct decimal d;
                uint64_t unit;
                size_t n;

                n = scan_decimal(p, &d);
                if (n == 0)
                        return -EINVAL;
                p += n;

                n = 0;
                while (char_is_alpha(p[n]))
                        n++;
                r = duration_unit(p, n, &unit);
                if (r < 0)
                        return r;
                p += n;

                if (ret) {
                        uint64_t v;

                        r = decimal_times(&d, unit, &v);
                        if (r < 0)
                                return r;
                        if (!u64_add(sum, v, &sum))
                                return -ERANGE;
                }

                if (*p == 0)
                        break;
                if (*p == ' ' || *p == '\t') {
                        while (*p == ' ' || *p == '\t')
                                p++;
                        if (*p == 0)
                                return -EINVAL; /* trailing white space */
                } else if (!char_is_digit(*p))
                        return -EINVAL;
        }

        if (ret)
                *ret = sum;
        return 0;
}

int parse_duration(const char *s, uint64_t *ret_usec) {
        int r;

        if (!s)
                return -EINVAL;

        r = duration_walk(s, NULL);
        if (r < 0)
                return r;
        return duration_walk(s, ret_usec);
}

char *format_size(char *buf, size_t n, uint64_t bytes) {
        static const char suffixes[] = "KMGTPE";
        unsigned i = 0;
        uint64_t factor = 1024;

        if (n == 0)
                return buf;

        if (bytes < 1024) {
                snprintf(buf, n, "%" PRIu64 "B", bytes);
                return buf;
        }

        /* The largest multiple not above the value; E is 2^60, the last
         * one a uint64_t can reach. */
        while (i < sizeof(suffixes) - 2 && bytes / 1024 >= factor) {
                factor *= 1024;
                i++;
        }

        /* Rounded down: never show more than there is. The remainder is
         * below 2^60, so ten times it fits. */
        snprintf(buf, n, "%" PRIu64 ".%" PRIu64 "%c",
                 bytes / factor, (bytes % factor) * 10 / factor, suffixes[i]);
        return buf;
}

char *format_duration(char *buf, size_t n, uint64_t usec) {
        static const uint64_t usec_per_min = 60 * USEC_PER_SEC;
        static const uint64_t usec_per_hour = 60 * usec_per_min;
        static const uint64_t usec_per_day = 24 * usec_per_hour;
        const char *major_unit, *minor_unit;
        uint64_t major, minor;

        if (n == 0)
                return buf;

        if (usec == 0) {
                snprintf(buf, n, "0s");
                return buf;
        }
        if (usec < USEC_PER_MSEC) {
                snprintf(buf, n, "%" PRIu64 "us", usec);
                return buf;
        }
        if (usec < USEC_PER_SEC) {
                snprintf(buf, n, "%" PRIu64 "ms", usec / USEC_PER_MSEC);
                return buf;
        }
        if (usec < usec_per_min) {
                uint64_t tenths = usec % USEC_PER_SEC / (USEC_PER_SEC / 10);

                if (tenths == 0)
                        snprintf(buf, n, "%" PRIu64 "s", usec / USEC_PER_SEC);
                else
                        snprintf(buf, n, "%" PRIu64 ".%" PRIu64 "s", usec / USEC_PER_SEC, tenths);
                return buf;
        }

        /* Two units, the smaller one left out when it is zero. */
        if (usec < usec_per_hour) {
                major = usec / usec_per_min;
                minor = usec % usec_per_min / USEC_PER_SEC;
                major_unit = "min";
                minor_unit = "s";
        } else if (usec < usec_per_day) {
                major = usec / usec_per_hour;
                minor = usec % usec_per_hour / usec_per_min;
                major_unit = "h";
                minor_unit = "min";
        } else {
                major = usec / usec_per_day;
                minor = usec % usec_per_day / usec_per_hour;
                major_unit = "d";
                minor_unit = "h";
        }

        if (minor == 0)
                snprintf(buf, n, "%" PRIu64 "%s", major, major_unit);
        else
                snprintf(buf, n, "%" PRIu64 "%s %" PRIu64 "%s", major, major_unit, minor, minor_unit);
        return buf;
}

int parse_hours(const char *s, uint64_t *ret_usec) {
        char buf[64];
        uint64_t usec;
        int r;

        /* The unit must be the only one: "2h" or "1 30min" are not hours. */
        if (!s || !*s || strlen(s) + 2 > sizeof(buf) || strspn(s, "0123456789.") != strlen(s))
                return -EINVAL;
        snprintf(buf, sizeof(buf), "%sh", s);
        r = parse_duration(buf, &usec);
        if (r < 0)
                return r;
        if (usec == 0)
                return -ERANGE;
        *ret_usec = usec;
        return 0;
}

/* "50%" -> 500000: four fractional digits at most (no silent rounding),
 * the sign required; up to 1000% (what a rate anywhere here may be). */
int parse_percent(const char *s, uint64_t *ret_ppm) {
        struct decimal d;
        uint64_t v;
        size_t n;
        int r;

        if (!s)
                return -EINVAL;
        n = scan_decimal(s, &d);
        if (n == 0 || !streq(s + n, "%") || d.n_fraction > 4)
                return -EINVAL;
        r = decimal_times(&d, 10000, &v);
        if (r < 0)
                return r;
        if (v > 10000000)
                return -ERANGE;
        *ret_ppm = v;
        return 0;
}

bool percent_is_valid(const char *s) {
        uint64_t v;

        return parse_percent(s, &v) >= 0;
}

char *format_percent(char *buf, size_t n, uint64_t ppm) {
        char frac[8];
        size_t k;

        snprintf(frac, sizeof(frac), "%04" PRIu64, ppm % 10000);
        for (k = strlen(frac); k > 0 && frac[k - 1] == '0'; k--)
                frac[k - 1] = 0;
        snprintf(buf, n, "%" PRIu64 "%s%s%%", ppm / 10000, frac[0] ? "." : "", frac);
        return buf;
}
