/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Donation models: the split of a released slice's unspent balance among
 * its funders (funders.h has the rule). Integers only; the products of
 * pro-rata need 128 bits (two amounts of up to 2^63 each). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/money.h"
#include "common/util.h"
#include "funders.h"

static const char *const model_names[_DONATION_MODEL_MAX] = {
        [DONATION_OWNER] = "owner",
        [DONATION_PRO_RATA] = "pro-rata",
        [DONATION_LIFO] = "lifo",
};

const char *donation_model_to_string(enum donation_model m) {
        return m >= 0 && m < _DONATION_MODEL_MAX ? model_names[m] : NULL;
}

int donation_model_from_string(const char *s) {
        for (int m = 0; s && m < _DONATION_MODEL_MAX; m++)
                if (streq(s, model_names[m]))
                        return m;
        return -EINVAL;
}

/* What each funder put in, into put[] (zeroed by the caller), and their
 * sum. */
static int sum_credits(const struct funder_credit *credits, size_t n_credits, size_t n_funders, int64_t *put,
                       int64_t *ret_total) {
        int64_t total = 0;

        for (size_t i = 0; i < n_credits; i++) {
                const struct funder_credit *c = &credits[i];

                if (c->funder >= n_funders || c->amount <= 0)
                        return -EINVAL;
                if (!money_add(put[c->funder], c->amount, &put[c->funder]) || !money_add(total, c->amount, &total))
                        return -EOVERFLOW;
        }
        *ret_total = total;
        return 0;
}

/* Largest remainder: the floors first, then one micro-unit each to the
 * largest remainders, ties to the lower index (the earlier funder). A
 * funder whose floor is its whole put-in has remainder 0, so it is never
 * given more than it put in. */
static void split_pro_rata(const int64_t *put, size_t n_funders, int64_t total, int64_t unspent, int64_t *shares,
                           unsigned __int128 *rem) {
        int64_t left = unspent;

        if (total <= 0) {
                for (size_t f = 0; f < n_funders; f++)
                        shares[f] = 0;
                return;
        }

        for (size_t f = 0; f < n_funders; f++) {
                unsigned __int128 p = (unsigned __int128) unspent * (unsigned __int128) put[f];

                shares[f] = (int64_t) (p / (unsigned __int128) total);
                rem[f] = p % (unsigned __int128) total;
                left -= shares[f];
        }
        /* left < n_funders: each floor lost less than one micro-unit. */
        for (; left > 0; left--) {
                size_t best = SIZE_MAX;

                for (size_t f = 0; f < n_funders; f++)
                        if (rem[f] > 0 && (best == SIZE_MAX || rem[f] > rem[best]))
                                best = f;
                shares[best]++;
                rem[best] = 0;
        }
}

static void split_lifo(const struct funder_credit *credits, size_t n_credits, int64_t unspent, int64_t *shares) {
        for (size_t i = n_credits; i > 0 && unspent > 0; i--) {
                int64_t part = MIN(unspent, credits[i - 1].amount);

                shares[credits[i - 1].funder] += part;
                unspent -= part;
        }
}

int funders_split(enum donation_model model, const struct funder_credit *credits, size_t n_credits,
                  size_t n_funders, int64_t unspent, int64_t *ret_shares) {
        _cleanup_(freep) int64_t *put = NULL;
        _cleanup_(freep) unsigned __int128 *rem = NULL;
        int64_t total;
        int r;

        if ((n_credits > 0 && !credits) || (n_funders > 0 && !ret_shares) || unspent < 0 ||
            !donation_model_to_string(model))
                return -EINVAL;
        put = calloc(MAX(n_funders, (size_t) 1), sizeof(*put));
        rem = calloc(MAX(n_funders, (size_t) 1), sizeof(*rem));
        if (!put || !rem)
                return -ENOMEM;
        r = sum_credits(credits, n_credits, n_funders, put, &total);
        if (r < 0)
                return r;
        if (unspent > total)
                return -EINVAL;

        for (size_t f = 0; f < n_funders; f++)
                ret_shares[f] = 0;
        if (unspent == 0)
                return 0;
        switch (model) {
        case DONATION_PRO_RATA:
                split_pro_rata(put, n_funders, total, unspent, ret_shares, rem);
                break;
        case DONATION_LIFO:
                split_lifo(credits, n_credits, unspent, ret_shares);
                break;
        default:
                break;
        }
        return 0;
}

static const char *const terms_names[_INVEST_TERMS_MAX] = {
        [INVEST_REVENUE_SHARE] = "revenue-share",
        [INVEST_FIXED_RETURN] = "fixed-return",
};

const char *invest_terms_to_string(enum invest_terms t) {
        return t >= 0 && t < _INVEST_TERMS_MAX ? terms_names[t] : NULL;
}

int invest_terms_from_string(const char *s) {
        for (int t = 0; s && t < _INVEST_TERMS_MAX; t++)
                if (streq(s, terms_names[t]))
                        return t;
        return -EINVAL;
}

/* floor(a * ppm / 10^6), a >= 0, 0 <= ppm <= INVEST_RATE_MAX: fits. */
static int64_t apply_rate(int64_t a, int64_t ppm) {
        return (int64_t) ((unsigned __int128) a * (unsigned __int128) ppm / (unsigned __int128) INVEST_RATE_UNIT);
}

bool invest_offer_is_valid(const struct invest_offer *o) {
        switch (o->terms) {
        case INVEST_REVENUE_SHARE:
                return o->rate > 0 && o->rate <= INVEST_RATE_UNIT && o->cap >= 0;
        case INVEST_FIXED_RETURN:
                return o->rate >= 0 && o->rate <= INVEST_RATE_MAX && o->cap >= 0;
        default:
                return false;
        }
}

/* The weights the pool is split by (invested, or what each is still
 * owed), their sum, and what all earned. */
static int invest_weights(const struct invest_offer *o, const struct investor_stake *inv, size_t n, int64_t *w,
                          int64_t *ret_total, int64_t *ret_earned) {
        int64_t total = 0, earned = 0;

        for (size_t i = 0; i < n; i++) {
                int64_t owed;

                if (inv[i].invested <= 0 || inv[i].earned < 0)
                        return -EINVAL;
                if (!money_add(earned, inv[i].earned, &earned))
                        return -EOVERFLOW;
                if (o->terms == INVEST_REVENUE_SHARE)
                        w[i] = inv[i].invested;
                else {
                        if (!money_add(inv[i].invested, apply_rate(inv[i].invested, o->rate), &owed))
                                return -EOVERFLOW;
                        w[i] = MAX(owed - inv[i].earned, (int64_t) 0);
                }
                if (!money_add(total, w[i], &total))
                        return -EOVERFLOW;
        }
        *ret_total = total;
        *ret_earned = earned;
        return 0;
}

int invest_split(const struct invest_offer *o, const struct investor_stake *investors, size_t n, int64_t payment,
                 int64_t *ret_shares, int64_t *ret_to_investors) {
        _cleanup_(freep) int64_t *w = NULL;
        _cleanup_(freep) unsigned __int128 *rem = NULL;
        int64_t total, earned, pool;
        int r;

        if (!o || !invest_offer_is_valid(o) || payment <= 0 || (n > 0 && (!investors || !ret_shares)) ||
            !ret_to_investors)
                return -EINVAL;
        w = calloc(MAX(n, (size_t) 1), sizeof(*w));
        rem = calloc(MAX(n, (size_t) 1), sizeof(*rem));
        if (!w || !rem)
                return -ENOMEM;
        r = invest_weights(o, investors, n, w, &total, &earned);
        if (r < 0)
                return r;

        pool = o->terms == INVEST_REVENUE_SHARE ? apply_rate(payment, o->rate) : MIN(payment, total);
        if (total == 0)
                pool = 0;
        if (o->cap > 0)
                pool = MIN(pool, MAX(o->cap - earned, (int64_t) 0));
        split_pro_rata(w, n, total, pool, ret_shares, rem);
        *ret_to_investors = pool;
        return 0;
}
