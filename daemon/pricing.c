/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "pricing.h"

/* Every price is per a unit larger than the counter's (a CPU-second of
 * usec, a GiB-hour of byte-seconds, ...), so a cost is counter * price /
 * divisor. The product is taken in 128 bits: a 64-bit counter times a
 * price of at most MONEY_AMOUNT_MAX (< 2^50) fits with room to spare, so
 * the only overflow left is a result beyond int64_t, reported as -ERANGE.
 * Nothing here is a float. */

typedef unsigned __int128 u128;

#define GIB (UINT64_C(1) << 30)
#define USEC_PER_HOUR (UINT64_C(3600) * USEC_PER_SEC)

static const char *const resource_names[_RESOURCE_MAX] = {
        [RESOURCE_CPU] = "cpu",
        [RESOURCE_MEMORY] = "memory",
        [RESOURCE_NET_OUT] = "net_out",
        [RESOURCE_NET_IN] = "net_in",
        [RESOURCE_IO] = "io",
        [RESOURCE_BASE] = "base",
};

/* Counter units per priced unit. */
static const uint64_t cost_divisor[_RESOURCE_MAX] = {
        [RESOURCE_CPU] = USEC_PER_SEC,            /* usec per CPU-second */
        [RESOURCE_MEMORY] = GIB * 3600,           /* byte-seconds per GiB-hour */
        [RESOURCE_NET_OUT] = GIB,                 /* bytes per GiB */
        [RESOURCE_NET_IN] = GIB,
        [RESOURCE_IO] = GIB,
        [RESOURCE_BASE] = USEC_PER_HOUR,          /* usec per slice-hour */
};

const char *resource_to_string(enum resource res) {
        if ((unsigned) res >= _RESOURCE_MAX)
                return NULL;
        return resource_names[res];
}

int resource_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ARRAY_SIZE(resource_names); i++)
                if (streq(s, resource_names[i]))
                        return (int) i;
        return -EINVAL;
}

/* The price of r, checked: a rate card is config, but a bad one must not
 * turn into a negative charge. */
static int rate_card_price(const struct rate_card *rc, enum resource res, uint64_t *ret) {
        int64_t p;

        if (!rc || (unsigned) res >= _RESOURCE_MAX)
                return -EINVAL;
        p = rc->price[res];
        if (p < 0 || p > MONEY_AMOUNT_MAX)
                return -EINVAL;
        *ret = (uint64_t) p;
        return 0;
}

static int u128_to_money(u128 v, int64_t *ret) {
        if (v > (u128) INT64_MAX)
                return -ERANGE;
        *ret = (int64_t) v;
        return 0;
}

/* floor(counter * price / divisor); fits: see the top of the file. */
static u128 cost_u128(enum resource res, uint64_t counter, uint64_t price) {
        return (u128) counter * price / cost_divisor[res];
}

int pricing_cost(const struct rate_card *rc, enum resource res, uint64_t counter, int64_t *ret) {
        uint64_t price;
        int r;

        r = rate_card_price(rc, res, &price);
        if (r < 0)
                return r;
        return u128_to_money(cost_u128(res, counter, price), ret);
}

int pricing_charge(const struct rate_card *rc, enum resource res, uint64_t from, uint64_t to, int64_t *ret) {
        uint64_t price;
        int r;

        r = rate_card_price(rc, res, &price);
        if (r < 0)
                return r;
        if (to <= from) {
                *ret = 0;
                return 0;
        }
        /* The difference of the two floors, in 128 bits: exact even where
         * cost(to) alone would not fit, and -ERANGE only if the charge
         * itself does not. */
        return u128_to_money(cost_u128(res, to, price) - cost_u128(res, from, price), ret);
}

/* ceil(a * b / divisor), -ERANGE if it does not fit an int64_t. a is
 * itself a product of two 64-bit values, so a * b may not fit 128 bits;
 * when it does not, the result certainly does not fit 64. */
static int mul_div_ceil(u128 a, uint64_t b, uint64_t divisor, int64_t *ret) {
        u128 p, q;

        if (__builtin_mul_overflow(a, (u128) b, &p))
                return -ERANGE;
        q = p / divisor + (p % divisor != 0);
        return u128_to_money(q, ret);
}

int pricing_with_disk(const struct rate_card *rc, int64_t disk_gib_hour, uint64_t disk_bytes,
                      struct rate_card *ret) {
        const uint64_t gib = UINT64_C(1) << 30;
        uint64_t n = disk_bytes / gib + (disk_bytes % gib != 0);
        __int128 extra, base;

        if (!rc || disk_gib_hour < 0 || disk_gib_hour > MONEY_AMOUNT_MAX)
                return -EINVAL;
        extra = (__int128) n * disk_gib_hour;
        base = (__int128) rc->price[RESOURCE_BASE] + extra;
        if (base > MONEY_AMOUNT_MAX)
                return -ERANGE;
        *ret = *rc;
        ret->price[RESOURCE_BASE] = (int64_t) base;
        return 0;
}

int pricing_quote(const struct rate_card *rc, const struct pricing_size *size, uint64_t duration_usec,
                  int64_t ret_items[_RESOURCE_MAX], int64_t *ret_total) {
        int64_t items[_RESOURCE_MAX] = {}, total = 0;
        uint64_t price[_RESOURCE_MAX];
        int r;

        if (!rc || !size)
                return -EINVAL;
        for (size_t i = 0; i < _RESOURCE_MAX; i++) {
                r = rate_card_price(rc, (enum resource) i, &price[i]);
                if (r < 0)
                        return r;
        }

        /* Full use: cpus_milli / 1000 CPUs for the whole duration, the
         * memory held all along. The counters the charges are made from
         * can only fall short of these, and the quote rounds up where a
         * charge rounds down, so a quote covers what it prices. */
        r = mul_div_ceil((u128) size->cpus_milli * duration_usec, price[RESOURCE_CPU],
                         1000 * USEC_PER_SEC, &items[RESOURCE_CPU]);
        if (r < 0)
                return r;
        r = mul_div_ceil((u128) size->memory_bytes * duration_usec, price[RESOURCE_MEMORY],
                         GIB * USEC_PER_HOUR, &items[RESOURCE_MEMORY]);
        if (r < 0)
                return r;
        r = mul_div_ceil(duration_usec, price[RESOURCE_BASE], USEC_PER_HOUR, &items[RESOURCE_BASE]);
        if (r < 0)
                return r;
        /* RESOURCE_NET_OUT, _NET_IN, _IO: traffic, which no size bounds. */

        for (size_t i = 0; i < _RESOURCE_MAX; i++)
                if (!money_add(total, items[i], &total))
                        return -ERANGE;

        if (ret_items)
                memcpy(ret_items, items, sizeof(items));
        if (ret_total)
                *ret_total = total;
        return 0;
}

static int quote_total(const struct rate_card *rc, uint64_t cpus_milli, uint64_t memory_bytes,
                       uint64_t duration_usec, int64_t *ret) {
        struct pricing_size size = {
                .cpus_milli = cpus_milli,
                .memory_bytes = memory_bytes,
        };

        return pricing_quote(rc, &size, duration_usec, NULL, ret);
}

int pricing_size_to_funds(const struct rate_card *rc, int64_t funds, uint64_t duration_usec, uint64_t memory_bytes,
                          uint64_t min_cpus_milli, uint64_t max_cpus_milli, uint64_t *ret_cpus_milli,
                          int64_t *ret_shortfall) {
        int64_t fixed, left, total;
        uint64_t price, cpus;
        int r;

        if (!rc || min_cpus_milli == 0 || min_cpus_milli > max_cpus_milli)
                return -EINVAL;
        r = rate_card_price(rc, RESOURCE_CPU, &price);
        if (r < 0)
                return r;
        if (price == 0)
                return -EDOM;

        /* What does not depend on the CPUs: memory and the base fee. */
        r = quote_total(rc, 0, memory_bytes, duration_usec, &fixed);
        if (r < 0)
                return r;

        /* The CPU item is ceil(c * d * p / 10^9), and ceil(x) <= left iff
         * x <= left for an integer left, so the largest c that fits is
         * floor(left * 10^9 / (d * p)) exactly: no search. */
        if (!money_sub(funds, fixed, &left))
                return -ERANGE;
        if (left < 0)
                cpus = 0;
        else if (duration_usec == 0)
                cpus = max_cpus_milli;
        else {
                u128 c = (u128) left * (1000 * USEC_PER_SEC) / ((u128) duration_usec * price);

                cpus = c > max_cpus_milli ? max_cpus_milli : (uint64_t) c;
        }

        if (cpus < min_cpus_milli) {
                int64_t shortfall;

                r = quote_total(rc, min_cpus_milli, memory_bytes, duration_usec, &total);
                if (r < 0)
                        return r;
                if (!money_sub(total, funds, &shortfall))
                        return -ERANGE;
                if (ret_shortfall)
                        *ret_shortfall = shortfall;
                return -ENOSPC;
        }

        /* The closed form above is the whole answer; the quote is what the
         * caller will show, so make sure the two agree. */
        r = quote_total(rc, cpus, memory_bytes, duration_usec, &total);
        if (r < 0)
                return r;
        if (total > funds)
                return -EIO; /* cannot happen */

        if (ret_cpus_milli)
                *ret_cpus_milli = cpus;
        return 0;
}

int pricing_cpus_of_quota(uint64_t quota_usec, uint64_t period_usec, uint64_t *ret_cpus_milli) {
        u128 c;

        if (period_usec == 0)
                return -EINVAL;
        c = ((u128) quota_usec * 1000 + period_usec - 1) / period_usec;
        if (c > UINT64_MAX)
                return -ERANGE;
        *ret_cpus_milli = (uint64_t) c;
        return 0;
}

int pricing_quota_of_cpus(uint64_t cpus_milli, uint64_t period_usec, uint64_t *ret_quota_usec) {
        u128 q;

        if (period_usec == 0)
                return -EINVAL;
        q = (u128) cpus_milli * period_usec / 1000;
        if (q > UINT64_MAX)
                return -ERANGE;
        *ret_quota_usec = (uint64_t) q;
        return 0;
}

int pricing_quota_per_sec(uint64_t quota_usec, uint64_t period_usec, uint64_t *ret_per_sec_usec) {
        u128 s;

        if (period_usec == 0)
                return -EINVAL;
        s = ((u128) quota_usec * USEC_PER_SEC + period_usec - 1) / period_usec;
        if (s >= UINT64_MAX)
                return -ERANGE;
        *ret_per_sec_usec = (uint64_t) s;
        return 0;
}
