/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Donation models (daemon/funders.c): the split of an unspent balance
 * among funders, exact to the micro-unit, by the rule daemon/README.md
 * writes down. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/money.h"
#include "common/util.h"
#include "funders.h"

#define CENTS(x) ((int64_t) (x) * (MONEY_UNIT / 100))

static void split_ok(enum donation_model m, const struct funder_credit *c, size_t n, size_t n_funders,
                     int64_t unspent, int64_t *shares) {
        assert_int_equal(funders_split(m, c, n, n_funders, unspent, shares), 0);
}

/* The split of unspent is want[0..n_funders), share by share. */
#define SPLIT_IS(m, c, n_funders, unspent, ...)                                                   \
        do {                                                                                      \
                const int64_t want_[] = { __VA_ARGS__ };                                          \
                int64_t got_[ARRAY_SIZE(want_)];                                                  \
                                                                                                  \
                _Static_assert(ARRAY_SIZE(want_) == (n_funders), "one share per funder");         \
                split_ok(m, c, ARRAY_SIZE(c), n_funders, unspent, got_);                          \
                for (size_t f_ = 0; f_ < ARRAY_SIZE(want_); f_++)                                 \
                        if (got_[f_] != want_[f_])                                                \
                                fail_msg("share %zu of %s: %" PRId64 ", not %" PRId64, f_, #unspent, \
                                         got_[f_], want_[f_]);                                    \
        } while (0)

static void test_names(void **state _unused_) {
        for (int m = 0; m < _DONATION_MODEL_MAX; m++)
                assert_int_equal(donation_model_from_string(donation_model_to_string(m)), m);
        assert_string_equal(donation_model_to_string(DONATION_PRO_RATA), "pro-rata");
        assert_int_equal(donation_model_from_string("lifo"), DONATION_LIFO);
        assert_int_equal(donation_model_from_string("LIFO"), -EINVAL);
        assert_int_equal(donation_model_from_string("prorata"), -EINVAL);
        assert_int_equal(donation_model_from_string(""), -EINVAL);
        assert_int_equal(donation_model_from_string(NULL), -EINVAL);
        assert_null(donation_model_to_string(_DONATION_MODEL_MAX));
}

/* The case: three keyed funders and one anonymous put in 1.00,
 * 2.00, 3.00 and 0.50; 1.234567 is spent. */
static void test_pro_rata_four_funders(void **state _unused_) {
        const struct funder_credit c[] = { { 0, CENTS(100) }, { 1, CENTS(200) }, { 2, CENTS(300) }, { 3, CENTS(50) } };
        const int64_t unspent = CENTS(650) - 1234567;
        int64_t s[4], sum = 0;

        split_ok(DONATION_PRO_RATA, c, 4, 4, unspent, s);
        /* 5265433 * {100, 200, 300, 50} / 650: 810066.61..., 1620133.23...,
         * 2430199.84..., 405033.30...; the floors leave 2, which go to the
         * two largest remainders (funder 2's .84, funder 0's .61). */
        assert_int_equal(s[0], 810067);
        assert_int_equal(s[1], 1620133);
        assert_int_equal(s[2], 2430200);
        assert_int_equal(s[3], 405033);
        for (size_t f = 0; f < 4; f++)
                sum += s[f];
        assert_int_equal(sum, unspent);
        /* Shares and spending add up to what was put in. */
        assert_int_equal(sum + 1234567, CENTS(650));
}

/* Ties among remainders go to the earliest funder. */
static void test_pro_rata_ties(void **state _unused_) {
        const struct funder_credit c[] = { { 0, 1 }, { 1, 1 }, { 2, 1 } };
        const struct funder_credit d[] = { { 0, 1 }, { 1, 2 } };

        SPLIT_IS(DONATION_PRO_RATA, c, 3, 1, 1, 0, 0);
        SPLIT_IS(DONATION_PRO_RATA, c, 3, 2, 1, 1, 0);
        /* 2 of 3: floors 0 (remainder 2) and 1 (remainder 1): the larger
         * remainder wins, though it is the smaller funder. */
        SPLIT_IS(DONATION_PRO_RATA, d, 2, 2, 1, 1);
        /* Everything unspent: everyone gets exactly what it put in. */
        SPLIT_IS(DONATION_PRO_RATA, d, 2, 3, 1, 2);
}

/* A funder's credits add up: two credits of one funder weigh as their sum. */
static void test_pro_rata_grouped(void **state _unused_) {
        const struct funder_credit c[] = { { 0, 100 }, { 1, 300 }, { 0, 200 } };

        SPLIT_IS(DONATION_PRO_RATA, c, 2, 60, 30, 30);
}

static void test_lifo(void **state _unused_) {
        const struct funder_credit c[] = { { 0, 100 }, { 1, 200 }, { 0, 50 }, { 2, 25 } };

        /* The last credit first (funder 2's 25), then funder 0's 50, then
         * 45 of funder 1's 200. */
        SPLIT_IS(DONATION_LIFO, c, 3, 120, 50, 45, 25);
        SPLIT_IS(DONATION_LIFO, c, 3, 10, 0, 0, 10);
        SPLIT_IS(DONATION_LIFO, c, 3, 375, 150, 200, 25);
}

static void test_owner_and_zero(void **state _unused_) {
        const struct funder_credit c[] = { { 0, 100 }, { 1, 200 } };
        int64_t s[2] = { -1, -1 };

        split_ok(DONATION_OWNER, c, 2, 2, 250, s);
        assert_int_equal(s[0], 0);
        assert_int_equal(s[1], 0);
        for (int m = 0; m < _DONATION_MODEL_MAX; m++) {
                s[0] = s[1] = -1;
                split_ok(m, c, 2, 2, 0, s);
                assert_int_equal(s[0], 0);
                assert_int_equal(s[1], 0);
        }
        /* No credits at all (an unfunded slice): nothing to split. */
        split_ok(DONATION_PRO_RATA, NULL, 0, 0, 0, NULL);
}

/* The largest balance a slice may hold, in the largest vouchers: the
 * products need more than 64 bits, and the split is still exact. */
static void test_large(void **state _unused_) {
        struct funder_credit c[16];
        int64_t s[3], sum = 0, unspent = 16 * MONEY_AMOUNT_MAX - 7;

        for (size_t i = 0; i < 16; i++)
                c[i] = (struct funder_credit) { .funder = i % 3, .amount = MONEY_AMOUNT_MAX };
        split_ok(DONATION_PRO_RATA, c, 16, 3, unspent, s);
        for (size_t f = 0; f < 3; f++)
                sum += s[f];
        assert_int_equal(sum, unspent);
        assert_true(s[0] <= 6 * MONEY_AMOUNT_MAX && s[1] <= 5 * MONEY_AMOUNT_MAX && s[2] <= 5 * MONEY_AMOUNT_MAX);
}

static void test_refused(void **state _unused_) {
        const struct funder_credit c[] = { { 0, 100 }, { 1, 200 } };
        const struct funder_credit zero[] = { { 0, 0 } };
        const struct funder_credit stray[] = { { 2, 10 } };
        const struct funder_credit huge[] = { { 0, INT64_MAX }, { 1, 1 } };
        int64_t s[2];

        assert_int_equal(funders_split(DONATION_PRO_RATA, c, 2, 2, 301, s), -EINVAL);
        assert_int_equal(funders_split(DONATION_PRO_RATA, c, 2, 2, -1, s), -EINVAL);
        assert_int_equal(funders_split(DONATION_LIFO, zero, 1, 1, 0, s), -EINVAL);
        assert_int_equal(funders_split(DONATION_LIFO, stray, 1, 2, 0, s), -EINVAL);
        assert_int_equal(funders_split(_DONATION_MODEL_MAX, c, 2, 2, 0, s), -EINVAL);
        assert_int_equal(funders_split(DONATION_PRO_RATA, huge, 2, 2, 0, s), -EOVERFLOW);
        assert_int_equal(funders_split(DONATION_PRO_RATA, NULL, 2, 2, 0, s), -EINVAL);
}

/* Many random cases (a fixed seed): every share between 0 and what its
 * funder put in, the sum exact, pro-rata within one micro-unit of the
 * exact proportion. */
static void test_random(void **state _unused_) {
        uint64_t x = 0x9e3779b97f4a7c15u;

        for (int round = 0; round < 2000; round++) {
                struct funder_credit c[16];
                int64_t put[8] = {}, s[8], total = 0, sum;
                size_t n, n_funders;

                x = x * 6364136223846793005u + 1442695040888963407u;
                n_funders = 1 + (x >> 33) % 8;
                n = n_funders + (x >> 40) % (16 - n_funders + 1);
                if (n > 16)
                        n = 16;
                for (size_t i = 0; i < n; i++) {
                        x = x * 6364136223846793005u + 1442695040888963407u;
                        /* Every funder has a credit; small and huge amounts. */
                        c[i].funder = i < n_funders ? i : (x >> 20) % n_funders;
                        c[i].amount = 1 + (int64_t) ((x >> 11) % ((x & 1) ? 1000 : (uint64_t) MONEY_AMOUNT_MAX));
                        put[c[i].funder] += c[i].amount;
                        total += c[i].amount;
                }
                x = x * 6364136223846793005u + 1442695040888963407u;
                int64_t unspent = (int64_t) ((x >> 2) % (uint64_t) (total + 1));

                for (int m = 0; m < _DONATION_MODEL_MAX; m++) {
                        split_ok(m, c, n, n_funders, unspent, s);
                        sum = 0;
                        for (size_t f = 0; f < n_funders; f++) {
                                assert_true(s[f] >= 0 && s[f] <= put[f]);
                                sum += s[f];
                                if (m == DONATION_PRO_RATA) {
                                        __int128 exact_num = (__int128) unspent * put[f];
                                        __int128 got = (__int128) s[f] * total;

                                        assert_true(got - exact_num < total && exact_num - got < total);
                                }
                        }
                        assert_int_equal(sum, m == DONATION_OWNER ? 0 : unspent);
                }
        }
}

/* Investors: invest_split() as daemon/README.md ("Investors") says. */
static void invest_split_is(const struct invest_offer *o, const struct investor_stake *inv, size_t n,
                            int64_t payment, int64_t want_to_investors, const int64_t *want) {
        int64_t shares[8] = {}, to = -1, sum = 0;

        assert_int_equal(invest_split(o, inv, n, payment, shares, &to), 0);
        assert_int_equal(to, want_to_investors);
        for (size_t i = 0; i < n; i++) {
                if (shares[i] != want[i])
                        fail_msg("share %zu of %" PRId64 ": %" PRId64 ", not %" PRId64, i, payment, shares[i], want[i]);
                sum += shares[i];
        }
        assert_int_equal(sum, to);
}

static void test_invest_names(void **state _unused_) {
        assert_string_equal(invest_terms_to_string(INVEST_REVENUE_SHARE), "revenue-share");
        assert_string_equal(invest_terms_to_string(INVEST_FIXED_RETURN), "fixed-return");
        assert_int_equal(invest_terms_from_string("fixed-return"), INVEST_FIXED_RETURN);
        assert_int_equal(invest_terms_from_string("revenue"), -EINVAL);
        assert_null(invest_terms_to_string(_INVEST_TERMS_MAX));
}

/* The case: 50%, one investor, 1.00 paid: 0.50 to it. Then two
 * investors (2.00 and 1.00) and 0.000007 paid: 3.5 rounds down to 3 for
 * the investors, 2 and 1; the slice keeps 4. */
static void test_invest_revenue_share(void **state _unused_) {
        const struct invest_offer half = { INVEST_REVENUE_SHARE, INVEST_RATE_UNIT / 2, 0 };
        const struct investor_stake one[] = { { CENTS(200), 0 } };
        const struct investor_stake two[] = { { CENTS(200), 0 }, { CENTS(100), 0 } };
        const struct investor_stake tie[] = { { CENTS(100), 0 }, { CENTS(100), 0 } };

        invest_split_is(&half, one, 1, CENTS(100), CENTS(50), (int64_t[]) { CENTS(50) });
        invest_split_is(&half, two, 2, 7, 3, (int64_t[]) { 2, 1 });
        invest_split_is(&half, two, 2, CENTS(30), CENTS(15), (int64_t[]) { CENTS(10), CENTS(5) });
        /* Equal stakes, an odd micro-unit: to the earlier investor. */
        invest_split_is(&half, tie, 2, 2, 1, (int64_t[]) { 1, 0 });
        /* No investor yet: all the slice's. */
        invest_split_is(&half, NULL, 0, CENTS(100), 0, NULL);
}

/* Fixed return 10%: owed 1.10 on 1.00; paid first, then nothing. */
static void test_invest_fixed_return(void **state _unused_) {
        const struct invest_offer ten = { INVEST_FIXED_RETURN, INVEST_RATE_UNIT / 10, 0 };
        const struct invest_offer zero = { INVEST_FIXED_RETURN, 0, 0 };
        struct investor_stake inv[] = { { CENTS(100), 0 } };
        /* Owed 1.10 and 0.55; 0.60 more earned by the first: 0.50 and 0.55
         * still owed; 0.21 paid goes 0.50:0.55 by largest remainder. */
        const struct investor_stake two[] = { { CENTS(100), CENTS(60) }, { CENTS(50), 0 } };

        invest_split_is(&ten, inv, 1, CENTS(60), CENTS(60), (int64_t[]) { CENTS(60) });
        inv[0].earned = CENTS(60);
        invest_split_is(&ten, inv, 1, CENTS(60), CENTS(50), (int64_t[]) { CENTS(50) });
        inv[0].earned = CENTS(110);
        invest_split_is(&ten, inv, 1, CENTS(30), 0, (int64_t[]) { 0 });
        invest_split_is(&zero, inv, 1, CENTS(30), 0, (int64_t[]) { 0 });
        /* 210000 * 500000 / 1050000 = 100000, * 550000 / 1050000 = 110000. */
        invest_split_is(&ten, two, 2, 210000, 210000, (int64_t[]) { 100000, 110000 });
        /* 1 micro-unit: the larger remainder (the second, owed more). */
        invest_split_is(&ten, two, 2, 1, 1, (int64_t[]) { 0, 1 });
}

/* A cap on what all investors earn: what is left of it bounds each pool. */
static void test_invest_cap(void **state _unused_) {
        const struct invest_offer capped = { INVEST_REVENUE_SHARE, INVEST_RATE_UNIT, CENTS(25) };
        struct investor_stake inv[] = { { CENTS(100), 0 } };

        invest_split_is(&capped, inv, 1, CENTS(20), CENTS(20), (int64_t[]) { CENTS(20) });
        inv[0].earned = CENTS(20);
        invest_split_is(&capped, inv, 1, CENTS(20), CENTS(5), (int64_t[]) { CENTS(5) });
        inv[0].earned = CENTS(25);
        invest_split_is(&capped, inv, 1, CENTS(20), 0, (int64_t[]) { 0 });
}

static void test_invest_refused(void **state _unused_) {
        const struct investor_stake inv[] = { { CENTS(100), 0 } }, none[] = { { 0, 0 } };
        int64_t s[1], to;

        assert_int_equal(invest_split(&(struct invest_offer) { INVEST_REVENUE_SHARE, 0, 0 }, inv, 1, 1, s, &to),
                         -EINVAL);
        assert_int_equal(invest_split(&(struct invest_offer) { INVEST_REVENUE_SHARE, INVEST_RATE_UNIT + 1, 0 }, inv,
                                      1, 1, s, &to), -EINVAL);
        assert_int_equal(invest_split(&(struct invest_offer) { INVEST_FIXED_RETURN, INVEST_RATE_MAX + 1, 0 }, inv, 1,
                                      1, s, &to), -EINVAL);
        assert_int_equal(invest_split(&(struct invest_offer) { INVEST_FIXED_RETURN, 0, 0 }, inv, 1, 0, s, &to),
                         -EINVAL);
        assert_int_equal(invest_split(&(struct invest_offer) { INVEST_FIXED_RETURN, 0, 0 }, none, 1, 1, s, &to),
                         -EINVAL);
}

/* Random stakes and payments: the shares sum to the pool, the pool and
 * the slice's part to the payment, and a fixed return never pays anyone
 * more than it is owed. */
static void test_invest_random(void **state _unused_) {
        uint64_t seed = 0x1de5;

        for (int round = 0; round < 2000; round++) {
                struct investor_stake inv[8];
                int64_t shares[8], to, sum = 0, payment, rate;
                size_t n = 1 + (size_t) (round % 8);
                enum invest_terms t = round % 2 ? INVEST_FIXED_RETURN : INVEST_REVENUE_SHARE;

                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                payment = 1 + (int64_t) ((seed >> 20) % (uint64_t) CENTS(1000));
                rate = 1 + (int64_t) ((seed >> 8) % (uint64_t) INVEST_RATE_UNIT);
                for (size_t i = 0; i < n; i++) {
                        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                        inv[i] = (struct investor_stake) { 1 + (int64_t) ((seed >> 24) % (uint64_t) CENTS(500)),
                                                           (int64_t) ((seed >> 4) % (uint64_t) CENTS(300)) };
                }
                assert_int_equal(invest_split(&(struct invest_offer) { t, rate, (int64_t) (seed % 3) * CENTS(700) },
                                              inv, n, payment, shares, &to), 0);
                assert_true(to >= 0 && to <= payment);
                for (size_t i = 0; i < n; i++) {
                        assert_true(shares[i] >= 0);
                        if (t == INVEST_FIXED_RETURN) {
                                int64_t owed = inv[i].invested + inv[i].invested * rate / INVEST_RATE_UNIT;

                                assert_true(inv[i].earned + shares[i] <= MAX(owed, inv[i].earned));
                        }
                        sum += shares[i];
                }
                assert_int_equal(sum, to);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_pro_rata_four_funders),
                cmocka_unit_test(test_pro_rata_ties),
                cmocka_unit_test(test_pro_rata_grouped),
                cmocka_unit_test(test_lifo),
                cmocka_unit_test(test_owner_and_zero),
                cmocka_unit_test(test_large),
                cmocka_unit_test(test_refused),
                cmocka_unit_test(test_random),
                cmocka_unit_test(test_invest_names),
                cmocka_unit_test(test_invest_revenue_share),
                cmocka_unit_test(test_invest_fixed_return),
                cmocka_unit_test(test_invest_cap),
                cmocka_unit_test(test_invest_refused),
                cmocka_unit_test(test_invest_random),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
