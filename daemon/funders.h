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
