/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Donation models (issue 16): how a released slice's unspent balance is
 * split among those who funded it. Pure arithmetic, no system calls, so
 * tests/unit/test-funders.c drives it directly; the rule, written down in
 * daemon/README.md ("Funders"), is exact to the micro-unit. */

enum donation_model {
        DONATION_OWNER,    /* everything to the owner token's holder (the behaviour before funders) */
        DONATION_PRO_RATA, /* each funder in proportion to what it put in */
        DONATION_LIFO,     /* the latest credit refunded first, up to its amount, then the one before */
        _DONATION_MODEL_MAX,
};
const char *donation_model_to_string(enum donation_model m);
/* -EINVAL for a name that is none of "owner", "pro-rata", "lifo". */
int donation_model_from_string(const char *s);

/* One credit: funder is the index of who put it in, 0..n_funders-1,
 * funders numbered in the order of their first credit; amount > 0. */
struct funder_credit {
        size_t funder;
        int64_t amount;
};

/* Splits unspent (0 <= unspent <= the sum of the credits) by model over
 * credits[0..n_credits), in the order they were made: ret_shares[f] is
 * what funder f gets back, every share between 0 and what f put in, and
 * the shares sum to unspent exactly. Under DONATION_OWNER every share is
 * 0: the owner's part is what the shares leave, unspent - their sum, for
 * every model (an anonymous funder's share is the caller's to route).
 *   pro-rata  floor(unspent * put_f / put) to each funder; the micro-units
 *             the floors leave (fewer than the funders) go one each to the
 *             largest remainders, ties to the earliest funder
 *   lifo      from the last credit back, each refunded up to its amount
 *             until unspent is used up: spending is taken to have used
 *             the earliest money first
 * -EINVAL for a bad argument (a credit of 0 or less or of no funder,
 * unspent out of range), -EOVERFLOW when the credits sum past INT64_MAX. */
int funders_split(enum donation_model model, const struct funder_credit *credits, size_t n_credits,
                  size_t n_funders, int64_t unspent, int64_t *ret_shares);

/* Investors (issue 16): an owner opens a slice to investors with terms;
 * a keyed credit made after that is an investment; revenue, money paid
 * to the slice by its users, is split between its investors and the
 * slice by the terms. daemon/README.md ("Investors") has the rule. */
enum invest_terms {
        INVEST_REVENUE_SHARE, /* rate of every payment to the investors, pro rata to what each invested */
        INVEST_FIXED_RETURN,  /* each investor paid back invested * (1 + rate) from revenue first, then nothing */
        _INVEST_TERMS_MAX,
};
const char *invest_terms_to_string(enum invest_terms t);
int invest_terms_from_string(const char *s); /* -EINVAL */

/* Rates are parts per million: 50% is 500000. */
#define INVEST_RATE_UNIT INT64_C(1000000)
#define INVEST_RATE_MAX (10 * INVEST_RATE_UNIT) /* 1000% */

struct invest_offer {
        enum invest_terms terms;
        int64_t rate; /* ppm; a revenue share 1..INVEST_RATE_UNIT, a fixed return 0..INVEST_RATE_MAX */
        int64_t cap;  /* the most all investors together earn from the slice; 0: no cap */
};

/* The terms' rate in its range (a revenue share more than 0 and at most
 * 100%, a fixed return at most INVEST_RATE_MAX), the cap not negative. */
bool invest_offer_is_valid(const struct invest_offer *o);

/* One investor as a payment finds it: what it invested before the
 * payment, what it earned from the payments before. */
struct investor_stake {
        int64_t invested; /* > 0 */
        int64_t earned;   /* >= 0 */
};

/* Splits payment (> 0) by o among investors[0..n), numbered in the order
 * of their first investment: ret_shares[i] what investor i earns, their
 * sum in *ret_to_investors, payment less it the slice's. With no
 * investor everything is the slice's.
 *   cap left    cap less what all earned before (no limit without a cap)
 *   revenue-share  pool = min(floor(payment * rate / 10^6), cap left),
 *               split pro rata to invested
 *   fixed-return   each is owed owed_i = invested_i + floor(invested_i *
 *               rate / 10^6) less what it earned; pool = min(payment,
 *               the sum owed, cap left), split pro rata to what each is
 *               owed (so no one gets more than it is owed)
 * A pool is split by largest remainder, as pro-rata release is: the
 * floors first, the micro-units they leave one each to the largest
 * remainders, ties to the earliest investor. -EINVAL for a bad argument,
 * -EOVERFLOW for sums past INT64_MAX. */
int invest_split(const struct invest_offer *o, const struct investor_stake *investors, size_t n, int64_t payment,
                 int64_t *ret_shares, int64_t *ret_to_investors);
