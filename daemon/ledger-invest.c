/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Investors and revenue (schema 7): a slice opened to investors, the
 * investments (keyed credits after the opening), payments to the slice
 * split between its investors and itself, and payouts of what investors
 * earned. The rule is invest_split()'s (funders.h); daemon/README.md
 * ("Investors") writes it down. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/log.h"
#include "common/money.h"
#include "ledger-internal.h"

void ledger_earned_account(char buf[static ACCOUNT_MAX], const char *slice_id, const uint8_t key[CRYPTO_PUBKEY_SIZE]) {
        char hex[2 * CRYPTO_PUBKEY_SIZE + 1];

        hex_encode(key, CRYPTO_PUBKEY_SIZE, hex);
        snprintf(buf, ACCOUNT_MAX, "earned:%.18s:%s", slice_id, hex);
}

int ledger_investors_read(struct ledger *l, const char *slice_id, struct ledger_investor **ret, size_t *ret_n) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_INVESTORS_OF);
        _cleanup_(freep) struct ledger_investor *inv = NULL;
        size_t n = 0;
        int r;

        bind_text(&b, slice_id);
        while ((r = ledger_bound_row(&b, "read a slice's investors")) > 0) {
                struct ledger_investor *p;

                if (n >= LEDGER_FUNDERS_MAX)
                        return log_error_errno(EUCLEAN, "Ledger %s: slice %s has more than %d investors.", l->path,
                                               slice_id, LEDGER_FUNDERS_MAX);
                p = reallocarray(inv, n + 1, sizeof(*inv));
                if (!p)
                        return -ENOMEM;
                inv = p;
                inv[n] = (struct ledger_investor) {
                        .invested = column_i64(b.s, 1),
                        .earned = column_i64(b.s, 2),
                        .claimed = column_i64(b.s, 3),
                        .first = column_u64(b.s, 4),
                };
                if (!column_blob_copy(b.s, 0, inv[n].key, CRYPTO_PUBKEY_SIZE))
                        return log_error_errno(EUCLEAN, "Ledger %s: an investor of slice %s is malformed.", l->path,
                                               slice_id);
                n++;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(inv);
        *ret_n = n;
        return 0;
}

static int investor_find(const struct ledger_investor *inv, size_t n, const uint8_t *key) {
        for (size_t i = 0; i < n; i++)
                if (memcmp(inv[i].key, key, CRYPTO_PUBKEY_SIZE) == 0)
                        return (int) i;
        return -ENOENT;
}

int ledger_invest_funder_check(struct ledger *l, const struct ledger_slice *sl, const uint8_t *funder) {
        _cleanup_(freep) struct ledger_investor *inv = NULL;
        size_t n = 0;
        int r;

        if (!funder || !sl->invest_open)
                return 0;
        r = ledger_investors_read(l, sl->id, &inv, &n);
        if (r < 0)
                return r;
        return n >= LEDGER_FUNDERS_MAX && investor_find(inv, n, funder) < 0 ? -EUSERS : 0;
}

int ledger_invest_credit(struct ledger *l, struct ledger_slice *sl, const uint8_t *funder, int64_t amount,
                         uint64_t seq) {
        struct binder b;
        int r;

        if (!funder || !sl->invest_open || seq <= sl->invest_entry)
                return 0;
        if (!money_add(sl->invested, amount, &sl->invested))
                return -EOVERFLOW;
        b = ledger_bind(l, STMT_INVESTOR_ADD);
        bind_text(&b, sl->id);
        bind_blob(&b, funder, CRYPTO_PUBKEY_SIZE);
        bind_u64(&b, seq);
        bind_i64(&b, amount);
        r = ledger_bound_step(&b, LEDGER_STEP_DONE, "record an investment");
        if (r < 0)
                return r;
        b = ledger_bind(l, STMT_SLICE_INVESTED);
        bind_i64(&b, sl->invested);
        bind_text(&b, sl->id);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "record an investment");
}

static int investor_set(struct ledger *l, const char *slice_id, const struct ledger_investor *inv) {
        struct binder b = ledger_bind(l, STMT_INVESTOR_SET);

        bind_i64(&b, inv->earned);
        bind_i64(&b, inv->claimed);
        bind_text(&b, slice_id);
        bind_blob(&b, inv->key, CRYPTO_PUBKEY_SIZE);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "update an investor");
}

/* Opening */

int ledger_invest_open(struct ledger *l, const char *slice_id, const struct invest_offer *o, const char *request_id,
                       uint64_t now_usec) {
        struct ledger_slice sl;
        struct binder b;
        struct tip saved;
        struct entry e;
        int r;

        if (!l || !o || !invest_offer_is_valid(o) || !slice_id_is_valid(slice_id) || now_usec > INT64_MAX ||
            (request_id && !ledger_request_id_is_valid(request_id)))
                return -EINVAL;

        r = ledger_slice_op_begin(l, slice_id, &saved, &sl);
        if (r < 0)
                return r;
        if (sl.invest_open)
                r = -EALREADY;
        if (r >= 0) {
                /* No money moves: the entry says, in the chain, from when
                 * a keyed credit is an investment. */
                ledger_slice_entry(&e, "invest", &sl, 0, now_usec);
                e.request_id = request_id;
                r = ledger_entry_append(l, &e);
        }
        if (r >= 0) {
                b = ledger_bind(l, STMT_SLICE_INVEST_OPEN);
                bind_text(&b, invest_terms_to_string(o->terms));
                bind_i64(&b, o->rate);
                bind_i64(&b, o->cap);
                bind_u64(&b, e.seq);
                bind_text(&b, slice_id);
                r = ledger_bound_step(&b, LEDGER_STEP_DONE, "open a slice to investors");
        }
        return ledger_op_end(l, &saved, r);
}

/* Payments */

/* How payment splits among the slice's investors as they are now:
 * shares[i] for inv[i], their sum in *ret_to_investors. */
static int pay_split(const struct ledger_slice *sl, const struct ledger_investor *inv, size_t n, int64_t payment,
                     int64_t *shares, int64_t *ret_to_investors) {
        struct investor_stake stakes[LEDGER_FUNDERS_MAX];

        if (!sl->invest_open || n == 0) {
                *ret_to_investors = 0;
                return 0;
        }
        for (size_t i = 0; i < n; i++)
                stakes[i] = (struct investor_stake) { .invested = inv[i].invested, .earned = inv[i].earned };
        return invest_split(&sl->invest, stakes, n, payment, shares, ret_to_investors);
}

static void paid_add(struct ledger_paid *p, const uint8_t *key, int64_t amount) {
        for (size_t i = 0; i < p->n_shares; i++)
                if (memcmp(p->shares[i].key, key, CRYPTO_PUBKEY_SIZE) == 0) {
                        p->shares[i].amount += amount;
                        return;
                }
        if (p->n_shares < LEDGER_FUNDERS_MAX) {
                memcpy(p->shares[p->n_shares].key, key, CRYPTO_PUBKEY_SIZE);
                p->shares[p->n_shares++].amount = amount;
        }
}

/* The entry, the voucher spent by it, the investors' and the slice's
 * rows as paid. */
static int pay_write(struct ledger *l, const struct voucher *v, struct ledger_slice *sl, struct ledger_investor *inv,
                     size_t n, const int64_t *shares, int64_t to_investors, const char *request_id,
                     uint64_t now_usec) {
        char account[ACCOUNT_MAX];
        struct binder b;
        struct entry e;
        int r;

        ledger_slice_entry(&e, "pay", sl, v->amount - to_investors, now_usec);
        e.voucher = v->id;
        e.request_id = request_id;
        ledger_entry_post(&e, "vouchers", -v->amount);
        for (size_t i = 0; i < n; i++)
                if (shares[i] > 0) {
                        ledger_earned_account(account, sl->id, inv[i].key);
                        ledger_entry_post(&e, account, shares[i]);
                }
        r = ledger_entry_append(l, &e);
        if (r < 0)
                return r;

        r = ledger_voucher_record(l, v, sl->id, e.seq, now_usec);
        for (size_t i = 0; r >= 0 && i < n; i++)
                if (shares[i] > 0) {
                        inv[i].earned += shares[i];
                        r = investor_set(l, sl->id, &inv[i]);
                }
        if (r < 0)
                return r;

        b = ledger_bind(l, STMT_SLICE_PAY);
        bind_i64(&b, sl->balance);
        bind_i64(&b, sl->revenue);
        bind_i64(&b, sl->earned);
        bind_text(&b, sl->id);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "pay a slice");
}

static int pay_one(struct ledger *l, const struct voucher *v, const char *slice_id, const char *request_id,
                   uint64_t now_usec, struct ledger_paid *p) {
        _cleanup_(freep) struct ledger_investor *inv = NULL;
        int64_t shares[LEDGER_FUNDERS_MAX] = {}, to_investors = 0, to_slice = 0, balance, revenue, earned;
        struct ledger_slice sl;
        struct tip saved;
        size_t n = 0;
        int r;

        if (!v || v->amount <= 0 || v->amount > MONEY_AMOUNT_MAX || !currency_is_valid(v->currency))
                return -EINVAL;
        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        /* Spent before anything else, as a redemption. */
        r = ledger_voucher_spent(l, v->id, NULL);
        if (r >= 0)
                r = -EALREADY;
        else if (r == -ENOENT) {
                r = ledger_slice_get(l, slice_id, &sl);
                if (r >= 0 && sl.state == LEDGER_SLICE_RELEASED)
                        r = -ESTALE;
        }
        if (r >= 0 && sl.invest_open)
                r = ledger_investors_read(l, slice_id, &inv, &n);
        if (r >= 0)
                r = pay_split(&sl, inv, n, v->amount, shares, &to_investors);
        if (r >= 0) {
                to_slice = v->amount - to_investors;
                if (!money_add(sl.balance, to_slice, &balance) || balance > LEDGER_BALANCE_MAX ||
                    !money_add(sl.revenue, to_slice, &revenue) || !money_add(sl.earned, to_investors, &earned))
                        r = -EOVERFLOW;
                else {
                        sl.balance = balance;
                        sl.revenue = revenue;
                        sl.earned = earned;
                }
        }
        if (r >= 0)
                r = pay_write(l, v, &sl, inv, n, shares, to_investors, request_id, now_usec);
        r = ledger_op_end(l, &saved, r);
        if (r < 0)
                return r;

        p->paid += v->amount;
        p->to_investors += to_investors;
        p->to_slice += to_slice;
        p->balance = sl.balance;
        for (size_t i = 0; i < n; i++)
                if (shares[i] > 0)
                        paid_add(p, inv[i].key, shares[i]);
        return 0;
}

int ledger_pay(struct ledger *l, const struct voucher *v, size_t n, const char *slice_id, const char *request_id,
               uint64_t now_usec, struct ledger_paid *ret, size_t *ret_failed) {
        struct ledger_paid p = {};
        struct tip saved;
        size_t i = 0;
        int r;

        if (!l || !v || n < 1 || n > 16 || !ret || !slice_id_is_valid(slice_id) || now_usec > INT64_MAX ||
            (request_id && !ledger_request_id_is_valid(request_id)))
                return -EINVAL;
        /* Each voucher's savepoint nests in this one: all or none. */
        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        for (i = 0; i < n && r >= 0; i++)
                r = pay_one(l, &v[i], slice_id, request_id, now_usec, &p);
        r = ledger_op_end(l, &saved, r);
        if (r < 0) {
                if (ret_failed)
                        *ret_failed = i - 1;
                return r;
        }
        *ret = p;
        return 0;
}

/* Payouts */

int ledger_payout_write(struct ledger *l, struct ledger_slice *sl, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                        int64_t amount, const char *change, const char *request_id, uint64_t now_usec) {
        _cleanup_(freep) struct ledger_investor *inv = NULL;
        char account[ACCOUNT_MAX];
        struct binder b;
        struct entry e;
        size_t n = 0;
        int r, i;

        r = ledger_investors_read(l, sl->id, &inv, &n);
        if (r < 0)
                return r;
        i = investor_find(inv, n, funder);
        if (i < 0 || amount <= 0 || amount > inv[i].earned - inv[i].claimed || amount > sl->earned ||
            !money_add(sl->earned_claimed, amount, &sl->earned_claimed))
                return -EUCLEAN; /* the rows hold less than was asked */
        sl->earned -= amount;
        inv[i].claimed += amount;

        ledger_earned_account(account, sl->id, funder);
        r = ledger_refund_entry(l, &e, "payout", sl, funder, account, amount, request_id, now_usec);
        if (r < 0)
                return r;

        b = ledger_bind(l, STMT_PAYOUT_INSERT);
        bind_u64(&b, e.seq);
        bind_text(&b, sl->id);
        bind_blob(&b, funder, CRYPTO_PUBKEY_SIZE);
        bind_u64(&b, now_usec);
        bind_i64(&b, amount);
        bind_text(&b, change);
        r = ledger_bound_step(&b, LEDGER_STEP_DONE, "record a payout");
        if (r >= 0)
                r = investor_set(l, sl->id, &inv[i]);
        if (r < 0)
                return r;

        b = ledger_bind(l, STMT_SLICE_PAYOUT);
        bind_i64(&b, sl->earned);
        bind_i64(&b, sl->earned_claimed);
        bind_text(&b, sl->id);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "pay an investor");
}
