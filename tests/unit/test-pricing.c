/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rate card (daemon/pricing.c): exact costs, charges that never
 * accumulate rounding, quotes that round up, and sizing to the funds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/util.h"
#include "pricing.h"

#define SENTINEL INT64_C(0x5eed5eed)
#define KIB (UINT64_C(1) << 10)
#define MIB (UINT64_C(1) << 20)
#define GIB (UINT64_C(1) << 30)
#define USEC_PER_HOUR (UINT64_C(3600) * USEC_PER_SEC)

/* The shipped defaults' kind of card: 0.0001 per CPU-second, 0.01 per
 * GiB-hour, 0.05 per GiB out, nothing in, 0.01 per GiB of IO, 1.00 per
 * slice-hour. */
static const struct rate_card card = {
        .currency = "EUR",
        .price = {
                [RESOURCE_CPU] = 100,
                [RESOURCE_MEMORY] = 10000,
                [RESOURCE_NET_OUT] = 50000,
                [RESOURCE_NET_IN] = 0,
                [RESOURCE_IO] = 10000,
                [RESOURCE_BASE] = 1000000,
        },
};

/* Prices chosen so that almost nothing divides evenly. */
static const struct rate_card odd_card = {
        .currency = "EUR",
        .price = {
                [RESOURCE_CPU] = 123457,
                [RESOURCE_MEMORY] = 9999991,
                [RESOURCE_NET_OUT] = 77777,
                [RESOURCE_NET_IN] = 3,
                [RESOURCE_IO] = 1000003,
                [RESOURCE_BASE] = 4999999,
        },
};

/* A fixed-seed xorshift64*: the same "random" steps on every run. */
static uint64_t rng_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t rng(void) {
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * UINT64_C(2685821657736338717);
}

static void check_cost(const struct rate_card *rc, enum resource res, uint64_t counter, int64_t want) {
        int64_t v = SENTINEL;
        int r;

        r = pricing_cost(rc, res, counter, &v);
        if (r != 0 || v != want)
                fail_msg("cost(%s, %ju): got r=%d v=%jd, want %jd", resource_to_string(res), (uintmax_t) counter,
                         r, (intmax_t) v, (intmax_t) want);
}

static void check_cost_err(const struct rate_card *rc, enum resource res, uint64_t counter, int err) {
        int64_t v = SENTINEL;
        int r;

        r = pricing_cost(rc, res, counter, &v);
        if (r != err || v != SENTINEL)
                fail_msg("cost(%d, %ju): got r=%d v=%jd, want %d and untouched", (int) res, (uintmax_t) counter, r,
                         (intmax_t) v, err);
}

static void test_resource_names(void **state _unused_) {
        for (int i = 0; i < _RESOURCE_MAX; i++) {
                const char *s = resource_to_string((enum resource) i);

                assert_non_null(s);
                assert_int_equal(resource_from_string(s), i);
        }
        assert_string_equal(resource_to_string(RESOURCE_NET_OUT), "net_out");
        assert_string_equal(resource_to_string(RESOURCE_BASE), "base");
        assert_null(resource_to_string(_RESOURCE_MAX));
        assert_null(resource_to_string((enum resource) -1));
        assert_int_equal(resource_from_string("CPU"), -EINVAL);
        assert_int_equal(resource_from_string(""), -EINVAL);
        assert_int_equal(resource_from_string(NULL), -EINVAL);
}

static void test_cost_exact(void **state _unused_) {
        for (int i = 0; i < _RESOURCE_MAX; i++)
                check_cost(&card, (enum resource) i, 0, 0);

        /* CPU: usec, per CPU-second. */
        check_cost(&card, RESOURCE_CPU, USEC_PER_SEC, 100);
        check_cost(&card, RESOURCE_CPU, USEC_PER_HOUR, 360000);
        check_cost(&card, RESOURCE_CPU, 9999, 0);   /* 0.9999 */
        check_cost(&card, RESOURCE_CPU, 10000, 1);
        check_cost(&card, RESOURCE_CPU, 1234567, 123); /* 123.4567 */

        /* Memory: byte-seconds, per GiB-hour. */
        check_cost(&card, RESOURCE_MEMORY, GIB * 3600, 10000);
        check_cost(&card, RESOURCE_MEMORY, GIB * 1800, 5000);
        check_cost(&card, RESOURCE_MEMORY, 4 * GIB * 3600 * 24, 960000);
        check_cost(&card, RESOURCE_MEMORY, 1, 0);
        check_cost(&card, RESOURCE_MEMORY, 100 * MIB * 2, 0);              /* 0.54 */
        check_cost(&card, RESOURCE_MEMORY, GIB * 3600 / 10000 - 1, 0);     /* just under 1 */
        check_cost(&card, RESOURCE_MEMORY, (GIB * 3600 + 9999) / 10000, 1);

        /* Network and IO: bytes, per GiB. */
        check_cost(&card, RESOURCE_NET_OUT, GIB, 50000);
        check_cost(&card, RESOURCE_NET_OUT, MIB, 48);   /* 48.828125 */
        check_cost(&card, RESOURCE_NET_OUT, 10 * MIB, 488); /* 488.28125 */
        check_cost(&card, RESOURCE_NET_IN, UINT64_MAX, 0);  /* free */
        check_cost(&card, RESOURCE_IO, 3 * GIB, 30000);
        check_cost(&card, RESOURCE_IO, KIB, 0);          /* 0.0095... */

        /* Base: lifetime usec, per slice-hour. */
        check_cost(&card, RESOURCE_BASE, USEC_PER_HOUR, 1000000);
        check_cost(&card, RESOURCE_BASE, USEC_PER_SEC, 277);     /* 277.77... */
        check_cost(&card, RESOURCE_BASE, 3599, 0);
        check_cost(&card, RESOURCE_BASE, 3600, 1);
        check_cost(&card, RESOURCE_BASE, 30 * 86400 * USEC_PER_SEC, 720000000);
}

/* The units of pricing.h: counter units per priced unit. */
static const uint64_t divisor[_RESOURCE_MAX] = {
        [RESOURCE_CPU] = USEC_PER_SEC,
        [RESOURCE_MEMORY] = GIB * 3600,
        [RESOURCE_NET_OUT] = GIB,
        [RESOURCE_NET_IN] = GIB,
        [RESOURCE_IO] = GIB,
        [RESOURCE_BASE] = USEC_PER_HOUR,
};

/* Charges are cost(to) - cost(from): whatever the steps, they add up to
 * the cost of the final counter, to the micro-unit. */
static void test_charges_sum_to_cost(void **state _unused_) {
        const struct rate_card *cards[] = { &card, &odd_card };

        for (size_t k = 0; k < ARRAY_SIZE(cards); k++)
                for (int i = 0; i < _RESOURCE_MAX; i++) {
                        enum resource res = (enum resource) i;
                        uint64_t counter = rng() % 1000; /* not from 0: as after an adoption */
                        int64_t start, sum = 0, final, c;
                        unsigned small = 0;

                        /* Counter units per micro-unit, at least 1. */
                        uint64_t price = (uint64_t) cards[k]->price[res];
                        uint64_t unit = price > 0 ? MAX(divisor[res] / price, UINT64_C(1)) : 5000;

                        assert_int_equal(pricing_cost(cards[k], res, counter, &start), 0);
                        for (unsigned step = 0; step < 20000; step++) {
                                /* Mostly steps worth 0 to 3 micro-units, rarely
                                 * whole ones, sometimes a large one, sometimes
                                 * none. */
                                uint64_t inc = step % 97 == 0 ? rng() % (GIB * 100) : rng() % (3 * unit + 1);

                                assert_int_equal(pricing_charge(cards[k], res, counter, counter + inc, &c), 0);
                                assert_true(c >= 0);
                                if (c == 0 && inc > 0)
                                        small++;
                                sum += c;
                                counter += inc;
                        }
                        assert_int_equal(pricing_cost(cards[k], res, counter, &final), 0);
                        assert_int_equal(start + sum, final);
                        /* The test did exercise rounding: many steps charged
                         * nothing on their own (unless the price is 0). */
                        if (cards[k]->price[res] > 0)
                                assert_true(small > 1000);
                }
}

static void test_counter_back(void **state _unused_) {
        int64_t v;

        for (int i = 0; i < _RESOURCE_MAX; i++) {
                v = SENTINEL;
                assert_int_equal(pricing_charge(&odd_card, (enum resource) i, 10 * GIB, 1000, &v), 0);
                assert_int_equal(v, 0);
                v = SENTINEL;
                assert_int_equal(pricing_charge(&odd_card, (enum resource) i, 10 * GIB, 10 * GIB, &v), 0);
                assert_int_equal(v, 0);
        }
        /* Back to 0, as a recreated cgroup's counter would. */
        assert_int_equal(pricing_charge(&card, RESOURCE_CPU, USEC_PER_HOUR, 0, &v), 0);
        assert_int_equal(v, 0);
}

static void test_overflow(void **state _unused_) {
        struct rate_card rc = card;
        int64_t v = SENTINEL;

        /* The largest price on the largest counter. */
        for (int i = 0; i < _RESOURCE_MAX; i++)
                rc.price[i] = MONEY_AMOUNT_MAX;
        for (int i = 0; i < _RESOURCE_MAX; i++)
                check_cost_err(&rc, (enum resource) i, UINT64_MAX, -ERANGE);
        assert_int_equal(pricing_charge(&rc, RESOURCE_CPU, 0, UINT64_MAX, &v), -ERANGE);
        assert_int_equal(v, SENTINEL);

        /* The boundary, at one unit per CPU-second: cost is the counter. */
        rc.price[RESOURCE_CPU] = MONEY_UNIT;
        check_cost(&rc, RESOURCE_CPU, (uint64_t) INT64_MAX, INT64_MAX);
        check_cost_err(&rc, RESOURCE_CPU, (uint64_t) INT64_MAX + 1, -ERANGE);

        /* A charge is exact even where the absolute costs do not fit. */
        rc.price[RESOURCE_CPU] = MONEY_AMOUNT_MAX;
        assert_int_equal(pricing_charge(&rc, RESOURCE_CPU, UINT64_MAX - USEC_PER_SEC, UINT64_MAX, &v), 0);
        assert_int_equal(v, MONEY_AMOUNT_MAX);
}

static void test_bad_card(void **state _unused_) {
        struct rate_card rc = card;
        int64_t items[_RESOURCE_MAX], total = SENTINEL;
        struct pricing_size size = { .cpus_milli = 1000 };
        uint64_t cpus = 42;

        check_cost_err(NULL, RESOURCE_CPU, 1, -EINVAL);
        check_cost_err(&card, _RESOURCE_MAX, 1, -EINVAL);
        check_cost_err(&card, (enum resource) -1, 1, -EINVAL);

        rc.price[RESOURCE_IO] = -1;
        check_cost_err(&rc, RESOURCE_IO, 1, -EINVAL);
        check_cost(&rc, RESOURCE_CPU, USEC_PER_SEC, 100); /* the others still price */
        /* A quote reads every price. */
        assert_int_equal(pricing_quote(&rc, &size, USEC_PER_SEC, items, &total), -EINVAL);
        assert_int_equal(total, SENTINEL);

        rc.price[RESOURCE_IO] = MONEY_AMOUNT_MAX + 1;
        check_cost_err(&rc, RESOURCE_IO, 1, -EINVAL);

        assert_int_equal(pricing_quote(NULL, &size, USEC_PER_SEC, items, &total), -EINVAL);
        assert_int_equal(pricing_quote(&card, NULL, USEC_PER_SEC, items, &total), -EINVAL);
        assert_int_equal(pricing_size_to_funds(NULL, 1, 1, 0, 1, 1, &cpus, NULL), -EINVAL);
        assert_int_equal(cpus, 42);
}

static void check_quote(const struct rate_card *rc, uint64_t cpus_milli, uint64_t memory_bytes, uint64_t duration_usec,
                        int64_t want_cpu, int64_t want_memory, int64_t want_base) {
        struct pricing_size size = { .cpus_milli = cpus_milli, .memory_bytes = memory_bytes };
        int64_t items[_RESOURCE_MAX], total;

        for (int i = 0; i < _RESOURCE_MAX; i++)
                items[i] = SENTINEL;
        assert_int_equal(pricing_quote(rc, &size, duration_usec, items, &total), 0);
        assert_int_equal(items[RESOURCE_CPU], want_cpu);
        assert_int_equal(items[RESOURCE_MEMORY], want_memory);
        assert_int_equal(items[RESOURCE_BASE], want_base);
        /* Traffic cannot be quoted ahead, whatever it costs. */
        assert_int_equal(items[RESOURCE_NET_OUT], 0);
        assert_int_equal(items[RESOURCE_NET_IN], 0);
        assert_int_equal(items[RESOURCE_IO], 0);
        assert_int_equal(total, want_cpu + want_memory + want_base);
}

static void test_quote(void **state _unused_) {
        struct pricing_size size = { .cpus_milli = 2000, .memory_bytes = 4 * GIB };
        int64_t items[_RESOURCE_MAX], total = SENTINEL;

        /* Exact figures are not bumped up. */
        check_quote(&card, 2000, 4 * GIB, USEC_PER_HOUR, 720000, 40000, 1000000);
        check_quote(&card, 500, 0, 60 * USEC_PER_SEC, 3000, 0, 16667); /* base 16666.67 up */
        check_quote(&card, 1000, GIB, 0, 0, 0, 0);

        /* Each item rounded up on its own: the smallest anything costs. */
        check_quote(&card, 1, 1, 1, 1, 1, 1);
        /* 0.25 CPU for 1s at 100/CPU-s is exactly 25; 0.001 CPU for 1s is 0.1. */
        check_quote(&card, 250, 0, USEC_PER_SEC, 25, 0, 278);
        check_quote(&card, 1, 0, USEC_PER_SEC, 1, 0, 278);
        /* 100 MiB for 2 s: 0.5425... */
        check_quote(&card, 0, 100 * MIB, 2 * USEC_PER_SEC, 0, 1, 556);

        /* A quote covers the charges for the same use: counters at full use
         * priced as the meter would. */
        for (unsigned n = 0; n < 2000; n++) {
                struct pricing_size s = {
                        .cpus_milli = 1 + rng() % 64000,
                        .memory_bytes = rng() % (256 * GIB),
                };
                uint64_t d = rng() % (30 * 86400 * USEC_PER_SEC);
                int64_t cpu, mem, base;

                assert_int_equal(pricing_quote(&odd_card, &s, d, items, &total), 0);
                /* cpus_milli * d / 1000 usec of CPU and memory * d / 10^6
                 * byte-seconds: the most the meter can count. */
                assert_int_equal(pricing_cost(&odd_card, RESOURCE_CPU,
                                              (uint64_t) ((unsigned __int128) s.cpus_milli * d / 1000), &cpu),
                                 0);
                assert_int_equal(pricing_cost(&odd_card, RESOURCE_MEMORY,
                                              (uint64_t) (((unsigned __int128) s.memory_bytes * d) / USEC_PER_SEC),
                                              &mem),
                                 0);
                assert_int_equal(pricing_cost(&odd_card, RESOURCE_BASE, d, &base), 0);
                assert_true(items[RESOURCE_CPU] >= cpu);
                assert_true(items[RESOURCE_CPU] <= cpu + 2);
                assert_true(items[RESOURCE_MEMORY] >= mem);
                assert_true(items[RESOURCE_MEMORY] <= mem + 2);
                assert_true(items[RESOURCE_BASE] >= base);
                assert_true(items[RESOURCE_BASE] <= base + 1);
        }

        /* Outputs may be NULL. */
        assert_int_equal(pricing_quote(&card, &size, USEC_PER_HOUR, NULL, &total), 0);
        assert_int_equal(total, 1760000);
        assert_int_equal(pricing_quote(&card, &size, USEC_PER_HOUR, items, NULL), 0);
        assert_int_equal(items[RESOURCE_MEMORY], 40000);
}

static void test_quote_overflow(void **state _unused_) {
        struct rate_card rc = card;
        struct pricing_size size = { .cpus_milli = UINT64_MAX, .memory_bytes = UINT64_MAX };
        int64_t items[_RESOURCE_MAX] = { [RESOURCE_CPU] = SENTINEL }, total = SENTINEL;

        for (int i = 0; i < _RESOURCE_MAX; i++)
                rc.price[i] = MONEY_AMOUNT_MAX;
        /* Beyond 128 bits in the product... */
        assert_int_equal(pricing_quote(&rc, &size, UINT64_MAX, items, &total), -ERANGE);
        /* ... and within them, but beyond int64_t. */
        size = (struct pricing_size) { .cpus_milli = 1000 };
        assert_int_equal(pricing_quote(&rc, &size, 30 * 86400 * USEC_PER_SEC, items, &total), -ERANGE);
        assert_int_equal(items[RESOURCE_CPU], SENTINEL);
        assert_int_equal(total, SENTINEL);

        /* Items that fit but whose sum does not. */
        rc = card;
        rc.price[RESOURCE_CPU] = MONEY_UNIT;
        rc.price[RESOURCE_BASE] = MONEY_UNIT;
        size = (struct pricing_size) { .cpus_milli = 1000 };
        /* CPU: one micro-unit per usec of a whole CPU, 807 short of
         * INT64_MAX; base: one unit per hour for that long, 2.6e15. */
        assert_int_equal(pricing_quote(&rc, &size, (uint64_t) INT64_MAX / 1000 * 1000, items, &total), -ERANGE);
        assert_int_equal(total, SENTINEL);
}

/* The reference: the largest c in [lo, hi] whose quote fits funds, by
 * bisection over pricing_quote() itself (0 if none). */
static uint64_t size_by_search(const struct rate_card *rc, int64_t funds, uint64_t d, uint64_t mem, uint64_t lo,
                               uint64_t hi) {
        uint64_t best = 0;

        while (lo <= hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                struct pricing_size s = { .cpus_milli = mid, .memory_bytes = mem };
                int64_t total;

                assert_int_equal(pricing_quote(rc, &s, d, NULL, &total), 0);
                if (total <= funds) {
                        best = mid;
                        lo = mid + 1;
                } else {
                        if (mid == 0)
                                break;
                        hi = mid - 1;
                }
        }
        return best;
}

static int64_t quote_total(const struct rate_card *rc, uint64_t cpus, uint64_t mem, uint64_t d) {
        struct pricing_size s = { .cpus_milli = cpus, .memory_bytes = mem };
        int64_t total;

        assert_int_equal(pricing_quote(rc, &s, d, NULL, &total), 0);
        return total;
}

static void test_size_to_funds(void **state _unused_) {
        const uint64_t hour = USEC_PER_HOUR;
        uint64_t cpus = 42;
        int64_t shortfall = SENTINEL;

        /* 1 GiB and the base fee for an hour: 10000 + 1000000; each
         * milli-CPU for an hour: 360. */
        assert_int_equal(quote_total(&card, 1500, GIB, hour), 1550000);

        /* Exactly enough for 1.5 CPUs. */
        assert_int_equal(pricing_size_to_funds(&card, 1550000, hour, GIB, 1, 64000, &cpus, &shortfall), 0);
        assert_int_equal(cpus, 1500);
        assert_int_equal(shortfall, SENTINEL);
        /* One micro-unit short: the next size down. */
        assert_int_equal(pricing_size_to_funds(&card, 1549999, hour, GIB, 1, 64000, &cpus, NULL), 0);
        assert_int_equal(cpus, 1499);
        assert_int_equal(pricing_size_to_funds(&card, 1550359, hour, GIB, 1, 64000, &cpus, NULL), 0);
        assert_int_equal(cpus, 1500);
        assert_int_equal(pricing_size_to_funds(&card, 1550360, hour, GIB, 1, 64000, &cpus, NULL), 0);
        assert_int_equal(cpus, 1501);

        /* More than the largest size needs: the largest size. */
        assert_int_equal(pricing_size_to_funds(&card, MONEY_AMOUNT_MAX, hour, GIB, 1, 4000, &cpus, NULL), 0);
        assert_int_equal(cpus, 4000);
        /* Exactly the smallest, and one short of it. */
        assert_int_equal(pricing_size_to_funds(&card, 1370000, hour, GIB, 1000, 4000, &cpus, NULL), 0);
        assert_int_equal(cpus, 1000);
        cpus = 42;
        assert_int_equal(pricing_size_to_funds(&card, 1369999, hour, GIB, 1000, 4000, &cpus, &shortfall), -ENOSPC);
        assert_int_equal(shortfall, 1);
        assert_int_equal(cpus, 42);

        /* The shortfall is what the smallest size costs minus the funds. */
        assert_int_equal(pricing_size_to_funds(&card, 1000000, hour, GIB, 1000, 4000, &cpus, &shortfall), -ENOSPC);
        assert_int_equal(shortfall, 370000);
        /* Funds that do not even cover memory and the base fee. */
        assert_int_equal(pricing_size_to_funds(&card, 5000, hour, GIB, 1, 4000, &cpus, &shortfall), -ENOSPC);
        assert_int_equal(shortfall, 1010360 - 5000);
        assert_int_equal(pricing_size_to_funds(&card, 0, hour, 0, 1, 4000, &cpus, &shortfall), -ENOSPC);
        assert_int_equal(shortfall, 1000360);
        assert_int_equal(pricing_size_to_funds(&card, -10, hour, 0, 1, 4000, &cpus, &shortfall), -ENOSPC);
        assert_int_equal(shortfall, 1000370);
        /* The shortfall output is optional. */
        assert_int_equal(pricing_size_to_funds(&card, 0, hour, 0, 1, 4000, &cpus, NULL), -ENOSPC);
        assert_int_equal(cpus, 42);

        /* No time: every size is free. */
        assert_int_equal(pricing_size_to_funds(&card, 0, 0, GIB, 1, 4000, &cpus, NULL), 0);
        assert_int_equal(cpus, 4000);
}

static void test_size_to_funds_errors(void **state _unused_) {
        struct rate_card rc = card;
        uint64_t cpus = 42;
        int64_t shortfall = SENTINEL;

        rc.price[RESOURCE_CPU] = 0;
        assert_int_equal(pricing_size_to_funds(&rc, MONEY_UNIT, USEC_PER_HOUR, 0, 1, 4000, &cpus, &shortfall), -EDOM);
        assert_int_equal(pricing_size_to_funds(&rc, 0, USEC_PER_HOUR, GIB, 1, 4000, &cpus, &shortfall), -EDOM);
        assert_int_equal(cpus, 42);
        assert_int_equal(shortfall, SENTINEL);

        assert_int_equal(pricing_size_to_funds(&card, MONEY_UNIT, USEC_PER_HOUR, 0, 0, 4000, &cpus, NULL), -EINVAL);
        assert_int_equal(pricing_size_to_funds(&card, MONEY_UNIT, USEC_PER_HOUR, 0, 2000, 1000, &cpus, NULL), -EINVAL);
        assert_int_equal(cpus, 42);

        /* A smallest size whose price does not fit. */
        rc = card;
        rc.price[RESOURCE_CPU] = MONEY_AMOUNT_MAX;
        assert_int_equal(pricing_size_to_funds(&rc, MONEY_UNIT, UINT64_MAX, 0, 1000, 4000, &cpus, &shortfall),
                         -ERANGE);
        assert_int_equal(shortfall, SENTINEL);
}

/* Against a bisection over the quote itself, with prices, durations and
 * memory where every rounding shows. */
static void test_size_to_funds_search(void **state _unused_) {
        for (unsigned n = 0; n < 3000; n++) {
                uint64_t d = 1 + rng() % (7 * 86400 * USEC_PER_SEC);
                uint64_t mem = n % 3 == 0 ? 0 : rng() % (64 * GIB);
                uint64_t lo = 1 + rng() % 2000, hi = lo + rng() % 126000;
                int64_t funds = quote_total(&odd_card, lo + rng() % (hi - lo + 1), mem, d) + (int64_t) (rng() % 3) - 1;
                uint64_t want = size_by_search(&odd_card, funds, d, mem, lo, hi), cpus = 0;
                int64_t shortfall = 0;
                int r;

                r = pricing_size_to_funds(&odd_card, funds, d, mem, lo, hi, &cpus, &shortfall);
                if (want == 0) {
                        assert_int_equal(r, -ENOSPC);
                        assert_int_equal(shortfall, quote_total(&odd_card, lo, mem, d) - funds);
                        assert_true(shortfall > 0);
                        continue;
                }
                if (r != 0 || cpus != want)
                        fail_msg("funds=%jd d=%ju mem=%ju [%ju, %ju]: got r=%d cpus=%ju, want %ju", (intmax_t) funds,
                                 (uintmax_t) d, (uintmax_t) mem, (uintmax_t) lo, (uintmax_t) hi, r, (uintmax_t) cpus,
                                 (uintmax_t) want);
                assert_true(quote_total(&odd_card, cpus, mem, d) <= funds);
                if (cpus < hi)
                        assert_true(quote_total(&odd_card, cpus + 1, mem, d) > funds);
        }
}

/* CPU quotas and sizes: exact, rounded as documented, and never wrapped.
 * 18446744073709552 us is the quota that once passed MaxCPUs=1: times 1000
 * it wraps to 384, which read as 0 CPUs. */
static void test_cpu_quota(void **state _unused_) {
        uint64_t v;

        v = 7;
        assert_int_equal(pricing_cpus_of_quota(50000, 100000, &v), 0);
        assert_int_equal(v, 500);
        assert_int_equal(pricing_cpus_of_quota(100001, 100000, &v), 0);
        assert_int_equal(v, 1001); /* rounded up: more than 1 CPU is not 1 CPU */
        assert_int_equal(pricing_cpus_of_quota(1000, 1000000, &v), 0);
        assert_int_equal(v, 1);
        assert_int_equal(pricing_cpus_of_quota(0, 100000, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(pricing_cpus_of_quota(UINT64_C(18446744073709552), 100000, &v), 0);
        assert_int_equal(v, UINT64_C(184467440737096)); /* 1.8e11 CPUs, not 0 */
        v = 7;
        assert_int_equal(pricing_cpus_of_quota(UINT64_MAX, 1000, &v), 0);
        assert_int_equal(v, UINT64_MAX);
        v = 7;
        assert_int_equal(pricing_cpus_of_quota(UINT64_MAX, 999, &v), -ERANGE);
        assert_int_equal(pricing_cpus_of_quota(UINT64_MAX, 1, &v), -ERANGE);
        assert_int_equal(pricing_cpus_of_quota(1000, 0, &v), -EINVAL);
        assert_int_equal(v, 7);

        assert_int_equal(pricing_quota_of_cpus(555, 50000, &v), 0);
        assert_int_equal(v, 27750);
        assert_int_equal(pricing_quota_of_cpus(1, 1500, &v), 0);
        assert_int_equal(v, 1); /* rounded down */
        assert_int_equal(pricing_quota_of_cpus(UINT64_MAX, 1000, &v), 0);
        assert_int_equal(v, UINT64_MAX);
        v = 7;
        assert_int_equal(pricing_quota_of_cpus(UINT64_MAX, 1001, &v), -ERANGE);
        assert_int_equal(pricing_quota_of_cpus(UINT64_MAX / 1000 + 1, USEC_PER_SEC, &v), -ERANGE);
        assert_int_equal(pricing_quota_of_cpus(1000, 0, &v), -EINVAL);
        assert_int_equal(v, 7);

        assert_int_equal(pricing_quota_per_sec(50000, 100000, &v), 0);
        assert_int_equal(v, 500000);
        assert_int_equal(pricing_quota_per_sec(1000, 3000, &v), 0);
        assert_int_equal(v, 333334); /* rounded up ... */
        assert_int_equal(v * 3000 / USEC_PER_SEC, 1000); /* ... so that systemd's way back gives the quota */
        /* The product overflows 64 bits, the result does not: this was
         * sent as UINT64_MAX, systemd's "infinity", no limit at all. */
        assert_int_equal(pricing_quota_per_sec(UINT64_C(18446744073709552), 100000, &v), 0);
        assert_int_equal(v, UINT64_C(184467440737095520));
        v = 7;
        assert_int_equal(pricing_quota_per_sec(UINT64_MAX, 1000, &v), -ERANGE);
        assert_int_equal(pricing_quota_per_sec(UINT64_MAX, USEC_PER_SEC, &v), -ERANGE); /* UINT64_MAX itself */
        assert_int_equal(pricing_quota_per_sec(1000, 0, &v), -EINVAL);
        assert_int_equal(v, 7);

        /* Round trips over every period: quota -> per second -> quota, and
         * CPUs -> quota -> CPUs never more than asked. */
        for (unsigned n = 0; n < 3000; n++) {
                uint64_t period = 1000 + rng() % (USEC_PER_SEC - 999), quota = 1000 + rng() % (64 * period);
                uint64_t milli = 1 + rng() % 64000, q, c;

                assert_int_equal(pricing_quota_per_sec(quota, period, &v), 0);
                assert_int_equal(v * period / USEC_PER_SEC, quota);
                assert_int_equal(pricing_quota_of_cpus(milli, period, &q), 0);
                assert_int_equal(pricing_cpus_of_quota(q, period, &c), 0);
                assert_true(c <= milli);
                assert_true(q * 1000 <= milli * period && (q + 1) * 1000 > milli * period);
        }
}

/* A VM's disk adds its hourly price to the base fee, GiB rounded up. */
static void test_with_disk(void **state) {
        struct rate_card rc = { .currency = "EUR" }, out;

        (void) state;
        rc.price[RESOURCE_BASE] = 10000;
        rc.price[RESOURCE_CPU] = 7;
        assert_int_equal(pricing_with_disk(&rc, 1000, UINT64_C(10) << 30, &out), 0);
        assert_int_equal(out.price[RESOURCE_BASE], 10000 + 10 * 1000);
        assert_int_equal(out.price[RESOURCE_CPU], 7);
        assert_int_equal(pricing_with_disk(&rc, 1000, (UINT64_C(10) << 30) + 1, &out), 0);
        assert_int_equal(out.price[RESOURCE_BASE], 10000 + 11 * 1000);
        assert_int_equal(pricing_with_disk(&rc, 1000, 0, &out), 0);
        assert_int_equal(out.price[RESOURCE_BASE], 10000);
        assert_int_equal(pricing_with_disk(&rc, 0, UINT64_C(1) << 40, &out), 0);
        assert_int_equal(out.price[RESOURCE_BASE], 10000);
        /* 2^34 GiB at the highest price is past any amount: refused, not wrapped. */
        assert_int_equal(pricing_with_disk(&rc, MONEY_AMOUNT_MAX, UINT64_MAX, &out), -ERANGE);
        assert_int_equal(pricing_with_disk(&rc, -1, 1, &out), -EINVAL);
        assert_int_equal(pricing_with_disk(NULL, 1, 1, &out), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_resource_names),
                cmocka_unit_test(test_cost_exact),
                cmocka_unit_test(test_charges_sum_to_cost),
                cmocka_unit_test(test_counter_back),
                cmocka_unit_test(test_overflow),
                cmocka_unit_test(test_bad_card),
                cmocka_unit_test(test_quote),
                cmocka_unit_test(test_quote_overflow),
                cmocka_unit_test(test_size_to_funds),
                cmocka_unit_test(test_size_to_funds_errors),
                cmocka_unit_test(test_size_to_funds_search),
                cmocka_unit_test(test_cpu_quota),
                cmocka_unit_test(test_with_disk),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
