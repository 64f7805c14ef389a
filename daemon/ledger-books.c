/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The books: slices, the vouchers spent on them, the writes that move
 * money (redeem, charge, release) or change a slice's state, the replies
 * kept for idempotent requests, and the sums. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/log.h"
#include "common/money.h"
#include "common/request.h"
#include "ledger-internal.h"

static const char *const slice_state_table[_LEDGER_SLICE_STATE_MAX] = {
        [LEDGER_SLICE_ACTIVE] = "active",
        [LEDGER_SLICE_KEPT] = "kept",
        [LEDGER_SLICE_RELEASED] = "released",
};

const char *ledger_slice_state_to_string(enum ledger_slice_state s) {
        if ((unsigned) s >= _LEDGER_SLICE_STATE_MAX)
                return NULL;
        return slice_state_table[s];
}

static int slice_state_from_string(const char *s) {
        for (size_t i = 0; s && i < ARRAY_SIZE(slice_state_table); i++)
                if (streq(s, slice_state_table[i]))
                        return (int) i;
        return -EINVAL;
}

/* Slices */

int ledger_slice_from_row(struct ledger *l, sqlite3_stmt *s, struct ledger_slice *ret, int64_t *ret_num) {
        struct ledger_slice sl = {};
        char state[16], model[16], share[8];
        int st, m;

        if (!column_text_copy(s, SLICE_COL_ID, sl.id, sizeof(sl.id)) ||
            !column_blob_copy(s, SLICE_COL_OWNER_HASH, sl.owner_hash, sizeof(sl.owner_hash)) ||
            !column_text_copy(s, SLICE_COL_STATE, state, sizeof(state)) ||
            (st = slice_state_from_string(state)) < 0 ||
            !column_text_copy(s, SLICE_COL_DONATION_MODEL, model, sizeof(model)) ||
            (m = donation_model_from_string(model)) < 0 ||
            !column_text_copy(s, SLICE_COL_ANONYMOUS_SHARE, share, sizeof(share)) ||
            (!streq(share, "owner") && !streq(share, "host")) ||
            !column_text_copy(s, SLICE_COL_CHANGE, sl.change, sizeof(sl.change)))
                return log_error_errno(EUCLEAN, "Ledger %s: a slice row is malformed.", l->path);

        sl.owner_uid = (uint32_t) column_i64(s, SLICE_COL_OWNER_UID);
        sl.state = st;
        sl.donation_model = (enum donation_model) m;
        sl.created_usec = column_u64(s, SLICE_COL_CREATED);
        sl.released_usec = column_u64(s, SLICE_COL_RELEASED);
        sl.balance = column_i64(s, SLICE_COL_BALANCE);
        sl.credited = column_i64(s, SLICE_COL_CREDITED);
        sl.refunded = column_i64(s, SLICE_COL_REFUNDED);
        sl.held = column_i64(s, SLICE_COL_HELD);
        sl.claimed = column_i64(s, SLICE_COL_CLAIMED);
        sl.anonymous_to_host = streq(share, "host");
        sl.donated = column_i64(s, SLICE_COL_DONATED);
        for (int r = 0; r < _RESOURCE_MAX; r++) {
                sl.charged[r] = column_i64(s, SLICE_COL_CHARGED + r);
                sl.billed[r] = column_u64(s, SLICE_COL_BILLED + r);
        }
        sl.overshoot = column_i64(s, SLICE_COL_OVERSHOOT);
        sl.revenue = column_i64(s, SLICE_COL_REVENUE);
        sl.invested = column_i64(s, SLICE_COL_INVESTED);
        sl.earned = column_i64(s, SLICE_COL_EARNED);
        sl.earned_claimed = column_i64(s, SLICE_COL_EARNED_CLAIMED);
        sl.invest_entry = column_u64(s, SLICE_COL_INVEST_ENTRY);
        if (sqlite3_column_type(s, SLICE_COL_INVEST_TERMS) != SQLITE_NULL) {
                if (!column_text_copy(s, SLICE_COL_INVEST_TERMS, model, sizeof(model)) ||
                    (m = invest_terms_from_string(model)) < 0)
                        return log_error_errno(EUCLEAN, "Ledger %s: a slice row is malformed.", l->path);
                sl.invest_open = true;
                sl.invest.terms = (enum invest_terms) m;
                sl.invest.rate = column_i64(s, SLICE_COL_INVEST_RATE);
                sl.invest.cap = column_i64(s, SLICE_COL_INVEST_CAP);
        }

        *ret = sl;
        if (ret_num)
                *ret_num = column_i64(s, SLICE_COL_NUM);
        return 0;
}

int ledger_slice_get(struct ledger *l, const char *id, struct ledger_slice *ret) {
        _cleanup_binder_ struct binder b = {};
        struct ledger_slice sl;
        int r;

        if (!l || !ret)
                return -EINVAL;
        if (!slice_id_is_valid(id))
                return -ENOENT;

        b = ledger_bind(l, STMT_SLICE_GET);
        bind_text(&b, id);
        r = ledger_bound_row(&b, "read a slice");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        r = ledger_slice_from_row(l, b.s, &sl, NULL);
        if (r < 0)
                return r;
        *ret = sl;
        return 0;
}

int ledger_slice_add(struct ledger *l, const struct ledger_slice *sl) {
        struct binder b;

        if (!l || !sl || !slice_id_is_valid(sl->id) || sl->created_usec > INT64_MAX ||
            !donation_model_to_string(sl->donation_model))
                return -EINVAL;

        b = ledger_bind(l, STMT_SLICE_INSERT);
        bind_text(&b, sl->id);
        bind_i64(&b, sl->owner_uid);
        bind_blob(&b, sl->owner_hash, sizeof(sl->owner_hash));
        bind_u64(&b, sl->created_usec);
        bind_u64(&b, sl->created_usec);
        bind_text(&b, donation_model_to_string(sl->donation_model));
        bind_text(&b, sl->anonymous_to_host ? "host" : "owner");
        return ledger_op_step(&b, LEDGER_STEP_INSERT, "add a slice");
}

int ledger_slice_foreach(struct ledger *l, int (*cb)(const struct ledger_slice *s, void *userdata),
                         void *userdata) {
        int64_t num = 0;
        int r;

        if (!l || !cb)
                return -EINVAL;

        for (;;) {
                struct binder b = ledger_bind(l, STMT_SLICE_NEXT_OPEN);
                struct ledger_slice sl;

                bind_i64(&b, num);
                r = ledger_bound_row(&b, "list slices");
                if (r > 0)
                        r = ledger_slice_from_row(l, b.s, &sl, &num) ?: 1;
                /* Reset before the callback runs: it may write. */
                binder_reset(&b);
                if (r <= 0)
                        return r;

                r = cb(&sl, userdata);
                if (r < 0)
                        return r;
        }
}

/* The slice a write changes, read in the write's savepoint: -ESTALE once
 * released (a kept one may still be topped up, charged and released). */
static int slice_get_open(struct ledger *l, const char *id, struct ledger_slice *ret) {
        int r;

        r = ledger_slice_get(l, id, ret);
        return r >= 0 && ret->state == LEDGER_SLICE_RELEASED ? -ESTALE : r;
}

/* ledger_op_begin() and slice_get_open(); the savepoint is closed again
 * when either fails. */
static int slice_op_begin(struct ledger *l, const char *id, struct tip *ret_saved, struct ledger_slice *ret) {
        int r;

        r = ledger_op_begin(l, ret_saved);
        if (r < 0)
                return r;
        r = slice_get_open(l, id, ret);
        return r < 0 ? ledger_op_end(l, ret_saved, r) : 0;
}

/* A new entry of kind for sl, with amount posted to the slice's account
 * unless it is 0. */
static void slice_entry(struct entry *e, const char *kind, const struct ledger_slice *sl, int64_t amount,
                        uint64_t now_usec) {
        char account[ACCOUNT_MAX];

        *e = (struct entry) {
                .time_usec = now_usec,
                .kind = kind,
                .slice = sl->id,
        };
        snprintf(account, sizeof(account), "slice:%s", sl->id);
        if (amount != 0)
                ledger_entry_post(e, account, amount);
}

/* For the other ledger*.c files that write (ledger-internal.h). */
int ledger_slice_op_begin(struct ledger *l, const char *id, struct tip *ret_saved, struct ledger_slice *ret) {
        return slice_op_begin(l, id, ret_saved, ret);
}

void ledger_slice_entry(struct entry *e, const char *kind, const struct ledger_slice *sl, int64_t amount,
                        uint64_t now_usec) {
        slice_entry(e, kind, sl, amount, now_usec);
}

/* An entry of kind with the funder's key and request_id that pays amount
 * from account (the funder's own) out as change: account -amount,
 * refund +amount. */
int ledger_refund_entry(struct ledger *l, struct entry *e, const char *kind, const struct ledger_slice *sl,
                        const uint8_t funder[CRYPTO_PUBKEY_SIZE], const char *account, int64_t amount,
                        const char *request_id, uint64_t now_usec) {
        slice_entry(e, kind, sl, 0, now_usec);
        e->funder = funder;
        e->request_id = request_id;
        ledger_entry_post(e, account, -amount);
        ledger_entry_post(e, "refund", amount);
        return ledger_entry_append(l, e);
}

/* Vouchers */

static int voucher_spent(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], struct ledger_spent *ret) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VOUCHER_GET);
        struct ledger_spent spent = {};
        int r;

        bind_blob(&b, id, VOUCHER_ID_SIZE);
        r = ledger_bound_row(&b, "look a voucher up");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        spent.time_usec = column_u64(b.s, 0);
        if (!column_text_copy(b.s, 1, spent.slice, sizeof(spent.slice)))
                return log_error_errno(EUCLEAN, "Ledger %s: a voucher row is malformed.", l->path);
        if (ret)
                *ret = spent;
        return 0;
}

int ledger_voucher_spent(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], struct ledger_spent *ret) {
        if (!l || !id)
                return -EINVAL;
        return voucher_spent(l, id, ret);
}

/* The protocol's rule (common/request.c), so a request id the control
 * socket took is always one the ledger keeps. */
bool ledger_request_id_is_valid(const char *s) {
        return request_id_is_valid(s);
}

/* Credits by funder */

void ledger_credits_done(struct ledger_credits *c) {
        if (!c)
                return;
        free(c->credits);
        free(c->funders);
        *c = (struct ledger_credits) {};
}

/* The index of the funder of key (NULL: anonymous), added when new. */
static int credits_funder(struct ledger_credits *c, const uint8_t *key, size_t *ret) {
        struct ledger_funder *f;

        for (size_t i = 0; i < c->n_funders; i++)
                if (key ? !c->funders[i].anonymous && memcmp(c->funders[i].key, key, CRYPTO_PUBKEY_SIZE) == 0
                        : c->funders[i].anonymous) {
                        *ret = i;
                        return 0;
                }
        f = reallocarray(c->funders, c->n_funders + 1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        c->funders = f;
        f[c->n_funders] = (struct ledger_funder) { .anonymous = !key };
        if (key)
                memcpy(f[c->n_funders].key, key, CRYPTO_PUBKEY_SIZE);
        *ret = c->n_funders++;
        return 0;
}

static int credits_add(struct ledger_credits *c, const uint8_t *key, int64_t amount) {
        struct funder_credit *n;
        size_t f;
        int r;

        r = credits_funder(c, key, &f);
        if (r < 0)
                return r;
        if (!money_add(c->funders[f].put, amount, &c->funders[f].put))
                return -EOVERFLOW;
        n = reallocarray(c->credits, c->n_credits + 1, sizeof(*n));
        if (!n)
                return -ENOMEM;
        c->credits = n;
        n[c->n_credits++] = (struct funder_credit) { .funder = f, .amount = amount };
        return 0;
}

static int slice_credits_read(struct ledger *l, const char *slice_id, struct ledger_credits *c) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_SLICE_CREDITS);
        struct ledger_slice sl;
        int64_t keyed_sum = 0;
        int r;

        r = ledger_slice_get(l, slice_id, &sl);
        if (r < 0)
                return r;
        bind_text(&b, slice_id);
        while ((r = ledger_bound_row(&b, "read a slice's credits")) > 0) {
                uint8_t key[CRYPTO_PUBKEY_SIZE];
                bool keyed = sqlite3_column_type(b.s, 0) != SQLITE_NULL;
                int64_t amount = column_i64(b.s, 1);

                if ((keyed && !column_blob_copy(b.s, 0, key, sizeof(key))) || amount <= 0)
                        return log_error_errno(EUCLEAN, "Ledger %s: a credit of slice %s is malformed.", l->path,
                                               slice_id);
                r = credits_add(c, keyed ? key : NULL, amount);
                if (r < 0)
                        return r;
                if (!money_add(keyed_sum, amount, &keyed_sum))
                        return -EOVERFLOW;
        }
        if (r < 0 || sl.donation_model != DONATION_OWNER)
                return r;
        /* An owner's slice keeps its keyed credits only: the rest of
         * what was credited is the anonymous funders', in one sum. */
        if (keyed_sum > sl.credited)
                return log_error_errno(EUCLEAN, "Ledger %s: the keyed credits of slice %s exceed what it was "
                                       "credited.", l->path, slice_id);
        return sl.credited > keyed_sum ? credits_add(c, NULL, sl.credited - keyed_sum) : 0;
}

int ledger_slice_credits(struct ledger *l, const char *slice_id, struct ledger_credits *ret) {
        struct ledger_credits c = {};
        bool opened;
        int r;

        if (!l || !ret)
                return -EINVAL;
        if (!slice_id_is_valid(slice_id))
                return -ENOENT;
        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = slice_credits_read(l, slice_id, &c);
        ledger_read_end(l, opened);
        if (r < 0) {
                ledger_credits_done(&c);
                return r;
        }
        *ret = c;
        return 0;
}

/* The split at release */

void ledger_held_account(char buf[static ACCOUNT_MAX], const char *slice_id, const uint8_t key[CRYPTO_PUBKEY_SIZE]) {
        char hex[2 * CRYPTO_PUBKEY_SIZE + 1];

        hex_encode(key, CRYPTO_PUBKEY_SIZE, hex);
        /* A slice id is valid by now: the account fits. */
        snprintf(buf, ACCOUNT_MAX, "held:%.18s:%s", slice_id, hex);
}

void ledger_split_done(struct ledger_split *s) {
        if (!s)
                return;
        free(s->shares);
        *s = (struct ledger_split) {};
}

/* The split of c by model: the keyed funders' shares into ret, the
 * anonymous one with the owner's, or the host's when to_host. */
static int split_credits(const struct ledger_credits *c, enum donation_model model, bool to_host, int64_t unspent,
                         struct ledger_split *ret) {
        _cleanup_(freep) int64_t *shares = NULL;
        struct ledger_split sp = { .model = model, .unspent = unspent, .owner = unspent };
        int64_t put = 0;
        int r;

        if (c->n_funders == 0) {
                *ret = sp; /* revenue only: the owner's */
                return 0;
        }
        /* Revenue the slice kept is spent before any funder's money: the
         * funders' part of the balance is at most what they put in, and
         * what it holds beyond that is the owner's. */
        for (size_t f = 0; f < c->n_funders; f++)
                if (!money_add(put, c->funders[f].put, &put))
                        return -EUCLEAN;
        shares = calloc(c->n_funders, sizeof(*shares));
        sp.shares = calloc(c->n_funders, sizeof(*sp.shares));
        if (!shares || !sp.shares) {
                free(sp.shares);
                return -ENOMEM;
        }
        r = funders_split(model, c->credits, c->n_credits, c->n_funders, MIN(unspent, put), shares);
        if (r < 0) {
                free(sp.shares);
                /* More unspent than was put in, or credits past INT64_MAX:
                 * the books are not what the schema allows. */
                return r == -ENOMEM ? r : -EUCLEAN;
        }
        for (size_t f = 0; f < c->n_funders; f++) {
                if (c->funders[f].anonymous) {
                        sp.anonymous = shares[f];
                        continue; /* what the keyed shares leave */
                }
                sp.shares[sp.n_shares++] = (struct ledger_share) { .put = c->funders[f].put, .share = shares[f] };
                memcpy(sp.shares[sp.n_shares - 1].key, c->funders[f].key, CRYPTO_PUBKEY_SIZE);
                sp.held += shares[f];
        }
        /* The anonymous share is the host's when to_host (under the
         * owner's model there are no shares: all is the owner's); what
         * revenue left beyond the funders' money stays the owner's. */
        if (to_host && model != DONATION_OWNER)
                sp.donated = sp.anonymous;
        sp.owner = unspent - sp.held - sp.donated;
        *ret = sp;
        return 0;
}

int ledger_split_read(struct ledger *l, const char *slice_id, enum donation_model model, bool to_host,
                      int64_t unspent, struct ledger_split *ret) {
        struct ledger_credits c = {};
        int r;

        /* Under the owner's model nothing is split: no credit need be read. */
        if (model == DONATION_OWNER) {
                *ret = (struct ledger_split) { .model = model, .unspent = unspent, .owner = unspent };
                return 0;
        }
        r = slice_credits_read(l, slice_id, &c);
        if (r >= 0)
                r = split_credits(&c, model, to_host, unspent, ret);
        ledger_credits_done(&c);
        return r;
}

int ledger_release_split(struct ledger *l, const char *slice_id, struct ledger_split *ret) {
        struct ledger_slice sl;
        bool opened;
        int r;

        if (!l || !ret)
                return -EINVAL;
        if (!slice_id_is_valid(slice_id))
                return -ENOENT;
        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = slice_get_open(l, slice_id, &sl);
        if (r >= 0)
                r = ledger_split_read(l, slice_id, sl.donation_model, sl.anonymous_to_host, sl.balance, ret);
        ledger_read_end(l, opened);
        return r;
}

/* Claims */

static int claim_get(struct ledger *l, const char *slice_id, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                     struct ledger_claimed *ret) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_CLAIM_GET);
        int r;

        bind_text(&b, slice_id);
        bind_blob(&b, funder, CRYPTO_PUBKEY_SIZE);
        r = ledger_bound_row(&b, "look a claim up");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        if (ret) {
                ret->entry = column_u64(b.s, 0);
                ret->time_usec = column_u64(b.s, 1);
                ret->amount = column_i64(b.s, 2);
                if (!column_text_copy(b.s, 3, ret->change, sizeof(ret->change)))
                        return log_error_errno(EUCLEAN, "Ledger %s: a claim of slice %s is malformed.", l->path,
                                               slice_id);
        }
        return 0;
}

/* The split sl's release made: what it split is what its row says went
 * out, to the owner, held, claimed and donated (verify holds each to the
 * books). */
static int released_split(struct ledger *l, const struct ledger_slice *sl, struct ledger_split *ret) {
        int64_t unspent;

        if (!money_add(sl->refunded, sl->held, &unspent) || !money_add(unspent, sl->claimed, &unspent) ||
            !money_add(unspent, sl->donated, &unspent))
                return -EUCLEAN;
        return ledger_split_read(l, sl->id, sl->donation_model, sl->anonymous_to_host, unspent, ret);
}

/* In a read transaction or the batch: what released slice_id holds for
 * funder, its share at release unless claimed, with the slice's row in
 * *ret_row. -ENOENT no such slice; -EAGAIN not released yet; -EALREADY
 * claimed before (*ret_first: by which entry, when, how much, the
 * change); -ENODATA no share (none of its credits, or nothing for it
 * under the slice's model). */
static int claim_share_read(struct ledger *l, const char *slice_id, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                            struct ledger_slice *ret_row, int64_t *ret_amount, struct ledger_claimed *ret_first) {
        _cleanup_(ledger_split_done) struct ledger_split sp = {};
        int r;

        r = ledger_slice_get(l, slice_id, ret_row);
        if (r < 0)
                return r;
        if (ret_row->state != LEDGER_SLICE_RELEASED)
                return -EAGAIN;
        r = claim_get(l, slice_id, funder, ret_first);
        if (r >= 0)
                return -EALREADY;
        if (r != -ENOENT)
                return r;
        r = released_split(l, ret_row, &sp);
        if (r < 0)
                return r;
        for (size_t i = 0; i < sp.n_shares; i++)
                if (memcmp(sp.shares[i].key, funder, CRYPTO_PUBKEY_SIZE) == 0 && sp.shares[i].share > 0) {
                        *ret_amount = sp.shares[i].share;
                        return 0;
                }
        return -ENODATA;
}

static int claim_write(struct ledger *l, struct ledger_slice *sl, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                       int64_t amount, const char *change, const char *request_id, uint64_t now_usec) {
        char account[ACCOUNT_MAX];
        struct binder b;
        struct entry e;
        int r;

        if (amount > sl->held || !money_add(sl->claimed, amount, &sl->claimed))
                return -EUCLEAN; /* the row holds less than the split gives */
        sl->held -= amount;

        ledger_held_account(account, sl->id, funder);
        r = ledger_refund_entry(l, &e, "claim", sl, funder, account, amount, request_id, now_usec);
        if (r < 0)
                return r;

        b = ledger_bind(l, STMT_CLAIM_INSERT);
        bind_text(&b, sl->id);
        bind_blob(&b, funder, CRYPTO_PUBKEY_SIZE);
        bind_u64(&b, e.seq);
        bind_u64(&b, now_usec);
        bind_i64(&b, amount);
        bind_text(&b, change);
        r = ledger_bound_step(&b, LEDGER_STEP_DONE, "record a claim");
        if (r < 0)
                return r;

        b = ledger_bind(l, STMT_SLICE_CLAIM);
        bind_i64(&b, sl->held);
        bind_i64(&b, sl->claimed);
        bind_text(&b, sl->id);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "pay a claim");
}

/* Claims of a share and of revenue together */

/* In a read transaction or the batch: ledger_claimable(), with the
 * slice's row in *ret_row. */
static int claimable_read(struct ledger *l, const char *slice_id, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                          struct ledger_slice *ret_row, struct ledger_claimable *ret) {
        _cleanup_(freep) struct ledger_investor *inv = NULL;
        struct ledger_claimable c = {};
        size_t n = 0;
        int r;

        r = claim_share_read(l, slice_id, funder, ret_row, &c.share, &c.first);
        if (r == -EAGAIN || r == -EALREADY || r == -ENODATA) {
                c.share_error = r;
                c.share = 0;
        } else if (r < 0)
                return r;
        r = ledger_investors_read(l, slice_id, &inv, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (memcmp(inv[i].key, funder, CRYPTO_PUBKEY_SIZE) == 0) {
                        int64_t unclaimed = inv[i].earned - inv[i].claimed;

                        c.investor = true;
                        /* One change pays both: at most what it may hold. */
                        c.revenue = MIN(unclaimed, LEDGER_BALANCE_MAX - c.share);
                        c.revenue_left = unclaimed - c.revenue;
                }
        *ret = c;
        return 0;
}

int ledger_claimable(struct ledger *l, const char *slice_id, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                     struct ledger_claimable *ret) {
        struct ledger_slice sl;
        bool opened;
        int r;

        if (!l || !funder || !ret)
                return -EINVAL;
        if (!slice_id_is_valid(slice_id))
                return -ENOENT;
        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = claimable_read(l, slice_id, funder, &sl, ret);
        ledger_read_end(l, opened);
        return r;
}

int ledger_claim_funder(struct ledger *l, const char *slice_id, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                        const struct ledger_claimable *want, const char *change_text, const char *request_id,
                        uint64_t now_usec) {
        struct ledger_claimable c;
        struct ledger_slice sl;
        struct tip saved;
        int r;

        if (!l || !funder || !want || !slice_id_is_valid(slice_id) || now_usec > INT64_MAX || !change_text ||
            !change_text[0] || strlen(change_text) >= LEDGER_CHANGE_MAX ||
            (request_id && !ledger_request_id_is_valid(request_id)))
                return -EINVAL;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        /* Read again in the savepoint: what the caller signed change
         * for must be what is owed now. */
        r = claimable_read(l, slice_id, funder, &sl, &c);
        if (r >= 0 && c.share == 0 && c.revenue == 0)
                r = -ENODATA;
        if (r >= 0 && (c.share != want->share || c.revenue != want->revenue))
                r = -EINVAL;
        if (r >= 0 && c.share > 0)
                r = claim_write(l, &sl, funder, c.share, change_text, request_id, now_usec);
        if (r >= 0 && c.revenue > 0)
                r = ledger_payout_write(l, &sl, funder, c.revenue, change_text, request_id, now_usec);
        return ledger_op_end(l, &saved, r);
}

/* Positions */

static int positions_claims(struct ledger *l, const char *slice_id, struct ledger_position *p, size_t n) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_SLICE_CLAIMS);
        uint8_t key[CRYPTO_PUBKEY_SIZE];
        int r;

        bind_text(&b, slice_id);
        while ((r = ledger_bound_row(&b, "read a slice's claims")) > 0) {
                if (!column_blob_copy(b.s, 0, key, sizeof(key)))
                        return log_error_errno(EUCLEAN, "Ledger %s: a claim of slice %s is malformed.", l->path,
                                               slice_id);
                for (size_t i = 0; i < n; i++)
                        if (!p[i].anonymous && memcmp(p[i].key, key, sizeof(key)) == 0) {
                                p[i].claim_entry = column_u64(b.s, 1);
                                p[i].claim_usec = column_u64(b.s, 2);
                                p[i].claimed = column_i64(b.s, 3);
                                p[i].held -= p[i].claimed;
                        }
        }
        return r;
}

static int positions_investors(struct ledger *l, const char *slice_id, struct ledger_position *p, size_t n) {
        _cleanup_(freep) struct ledger_investor *inv = NULL;
        size_t n_inv = 0;
        int r;

        r = ledger_investors_read(l, slice_id, &inv, &n_inv);
        if (r < 0)
                return r;
        for (size_t j = 0; j < n_inv; j++)
                for (size_t i = 0; i < n; i++)
                        if (!p[i].anonymous && memcmp(p[i].key, inv[j].key, CRYPTO_PUBKEY_SIZE) == 0) {
                                p[i].investor = true;
                                p[i].invested = inv[j].invested;
                                p[i].earned = inv[j].earned;
                                p[i].earned_claimed = inv[j].claimed;
                        }
        return 0;
}

static int positions_read(struct ledger *l, const char *slice_id, struct ledger_slice *row,
                          struct ledger_position **ret, size_t *ret_n) {
        _cleanup_(ledger_split_done) struct ledger_split sp = {};
        _cleanup_(ledger_credits_done) struct ledger_credits c = {};
        _cleanup_(freep) struct ledger_position *p = NULL;
        size_t k = 0;
        int r;

        r = ledger_slice_get(l, slice_id, row);
        if (r < 0)
                return r;
        r = slice_credits_read(l, slice_id, &c);
        if (r < 0)
                return r;
        p = calloc(MAX(c.n_funders, (size_t) 1), sizeof(*p));
        if (!p)
                return -ENOMEM;
        for (size_t i = 0; i < c.n_funders; i++) {
                p[i] = (struct ledger_position) { .anonymous = c.funders[i].anonymous, .put = c.funders[i].put };
                memcpy(p[i].key, c.funders[i].key, CRYPTO_PUBKEY_SIZE);
        }
        if (row->state == LEDGER_SLICE_RELEASED) {
                r = released_split(l, row, &sp);
                if (r < 0)
                        return r;
                /* The keyed shares in the same order, and the anonymous
                 * one (paid with the owner's change). */
                for (size_t i = 0; i < c.n_funders; i++)
                        if (!p[i].anonymous) {
                                p[i].share = p[i].held = k < sp.n_shares ? sp.shares[k++].share : 0;
                        } else
                                p[i].share = sp.anonymous;
                r = positions_claims(l, slice_id, p, c.n_funders);
                if (r < 0)
                        return r;
        } else {
                /* What each would get were it released now. */
                r = ledger_split_read(l, slice_id, row->donation_model, row->anonymous_to_host, row->balance, &sp);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < c.n_funders; i++)
                        p[i].would_get = p[i].anonymous ? sp.anonymous : k < sp.n_shares ? sp.shares[k++].share : 0;
        }
        r = positions_investors(l, slice_id, p, c.n_funders);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        *ret_n = c.n_funders;
        return 0;
}

int ledger_slice_positions(struct ledger *l, const char *slice_id, struct ledger_slice *ret_row,
                           struct ledger_position **ret, size_t *ret_n) {
        struct ledger_slice row;
        bool opened;
        int r;

        if (!l || !ret || !ret_n)
                return -EINVAL;
        if (!slice_id_is_valid(slice_id))
                return -ENOENT;
        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = positions_read(l, slice_id, &row, ret, ret_n);
        ledger_read_end(l, opened);
        if (r >= 0 && ret_row)
                *ret_row = row;
        return r;
}

/* Redeem */

/* A keyed credit to a slice whose balance will be split: a new funder
 * only while the release entry has room for its posting. */
static int redeem_funder_check(struct ledger *l, const struct ledger_slice *sl, const uint8_t *funder) {
        _cleanup_binder_ struct binder b = {};
        int r;

        if (!funder || sl->donation_model == DONATION_OWNER)
                return 0;
        b = ledger_bind(l, STMT_SLICE_FUNDERS);
        bind_blob(&b, funder, CRYPTO_PUBKEY_SIZE);
        bind_text(&b, sl->id);
        r = ledger_bound_row(&b, "count a slice's funders");
        if (r <= 0)
                return r < 0 ? r : -EIO;
        if (column_i64(b.s, 1) == 0 && column_i64(b.s, 0) >= LEDGER_FUNDERS_MAX)
                return -EUSERS;
        return 0;
}

/* The slice with amount credited. A balance is never more than its
 * change can be paid in. */
static int redeem_credit(struct ledger_slice *sl, int64_t amount) {
        int64_t balance, credited;

        if (!money_add(sl->balance, amount, &balance) || balance > LEDGER_BALANCE_MAX ||
            !money_add(sl->credited, amount, &credited))
                return -EOVERFLOW;
        sl->balance = balance;
        sl->credited = credited;
        return 0;
}

int ledger_voucher_record(struct ledger *l, const struct voucher *v, const char *slice_id, uint64_t entry,
                          uint64_t now_usec) {
        struct binder b = ledger_bind(l, STMT_VOUCHER_INSERT);

        bind_blob(&b, v->id, VOUCHER_ID_SIZE);
        bind_blob(&b, v->issuer, sizeof(v->issuer));
        bind_i64(&b, v->amount);
        bind_text(&b, v->currency);
        bind_i64(&b, v->not_after);
        bind_u64(&b, now_usec);
        bind_text(&b, slice_id);
        bind_u64(&b, entry);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "mark a voucher spent");
}

/* The credits a split or a funder's position reads (schema 4): an
 * anonymous credit of an owner's slice is not one. */
int ledger_credit_record(struct ledger *l, const struct ledger_slice *sl, uint64_t seq, const uint8_t *funder,
                         int64_t amount) {
        struct binder b;

        if (!funder && sl->donation_model == DONATION_OWNER)
                return 0;
        b = ledger_bind(l, STMT_CREDIT_INSERT);
        bind_u64(&b, seq);
        bind_text(&b, sl->id);
        bind_blob(&b, funder, CRYPTO_PUBKEY_SIZE); /* NULL: anonymous */
        bind_i64(&b, amount);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "record a funder's credit");
}

/* The entry, the voucher marked spent by it, the slice row as credited. */
static int redeem_write(struct ledger *l, const struct voucher *v, struct ledger_slice *sl,
                        const char *request_id, const uint8_t *funder, uint64_t now_usec) {
        struct binder b;
        struct entry e;
        int r;

        slice_entry(&e, "redeem", sl, v->amount, now_usec);
        e.voucher = v->id;
        e.request_id = request_id;
        e.funder = funder;
        ledger_entry_post(&e, "vouchers", -v->amount);
        r = ledger_entry_append(l, &e);
        if (r < 0)
                return r;

        r = ledger_voucher_record(l, v, sl->id, e.seq, now_usec);
        if (r < 0)
                return r;

        r = ledger_credit_record(l, sl, e.seq, funder, v->amount);
        if (r < 0)
                return r;

        b = ledger_bind(l, STMT_SLICE_CREDIT);
        bind_i64(&b, sl->balance);
        bind_i64(&b, sl->credited);
        bind_text(&b, sl->id);
        r = ledger_bound_step(&b, LEDGER_STEP_DONE, "credit a slice");
        if (r >= 0 && funder)
                r = ledger_invest_credit(l, sl, funder, v->amount, e.seq);
        return r;
}

static int redeem_one(struct ledger *l, const struct voucher *v, const char *slice_id, const char *request_id,
                      const uint8_t *funder, uint64_t now_usec, int64_t *ret_balance, struct ledger_spent *ret_spent) {
        struct ledger_spent spent;
        struct ledger_slice sl;
        struct tip saved;
        int r;

        if (!l || !v || !slice_id_is_valid(slice_id) || v->amount <= 0 || v->amount > MONEY_AMOUNT_MAX ||
            !currency_is_valid(v->currency) || now_usec > INT64_MAX ||
            (request_id && !ledger_request_id_is_valid(request_id)))
                return -EINVAL;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;

        /* Spent before anything else: a spent voucher is the answer
         * whatever became of its slice. */
        r = voucher_spent(l, v->id, &spent);
        if (r >= 0) {
                if (ret_spent)
                        *ret_spent = spent;
                r = -EALREADY;
        } else if (r == -ENOENT) {
                r = slice_get_open(l, slice_id, &sl);
                if (r >= 0)
                        r = redeem_funder_check(l, &sl, funder);
                if (r >= 0)
                        r = ledger_invest_funder_check(l, &sl, funder);
                if (r >= 0)
                        r = redeem_credit(&sl, v->amount);
                if (r >= 0)
                        r = redeem_write(l, v, &sl, request_id, funder, now_usec);
        }

        r = ledger_op_end(l, &saved, r);
        if (r >= 0 && ret_balance)
                *ret_balance = sl.balance;
        return r;
}

int ledger_redeem(struct ledger *l, const struct voucher *v, const char *slice_id, const char *request_id,
                  uint64_t now_usec, int64_t *ret_balance, struct ledger_spent *ret_spent) {
        return redeem_one(l, v, slice_id, request_id, NULL, now_usec, ret_balance, ret_spent);
}

int ledger_redeem_all(struct ledger *l, const struct voucher *v, size_t n, const char *slice_id,
                      const char *request_id, uint64_t now_usec, int64_t *ret_balance, size_t *ret_failed) {
        return ledger_redeem_funded(l, v, n, slice_id, request_id, NULL, now_usec, ret_balance, ret_failed);
}

int ledger_redeem_funded(struct ledger *l, const struct voucher *v, size_t n, const char *slice_id,
                         const char *request_id, const uint8_t *funder, uint64_t now_usec, int64_t *ret_balance,
                         size_t *ret_failed) {
        int64_t balance = 0;
        struct tip saved;
        size_t i = 0;
        int r;

        if (!l || !v || n < 1 || n > 16)
                return -EINVAL;
        /* Each redemption's own savepoint nests in this one: undone, it
         * takes the ones before with it. */
        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        for (i = 0; i < n && r >= 0; i++)
                r = redeem_one(l, &v[i], slice_id, request_id, funder, now_usec, &balance, NULL);
        r = ledger_op_end(l, &saved, r);
        if (r < 0) {
                if (ret_failed)
                        *ret_failed = i - 1;
                return r;
        }
        if (ret_balance)
                *ret_balance = balance;
        return 0;
}

/* Charges */

/* What a charge moves. */
struct charge {
        int64_t part[_RESOURCE_MAX]; /* per resource, what the balance paid */
        int64_t total;               /* their sum, at most the balance */
        int64_t over;                /* what the balance did not cover */
};

/* The arithmetic of a charge, on sl (balance, charged[], billed[] and
 * overshoot): 1 with what moved in *ret, 0 when no counter moved. */
static int charge_apply(struct ledger_slice *sl, const uint64_t counters[_RESOURCE_MAX],
                        const int64_t due[_RESOURCE_MAX], struct charge *ret) {
        int64_t charged[_RESOURCE_MAX], overshoot, left;
        struct charge c = {};
        bool moved = false;

        for (int i = 0; i < _RESOURCE_MAX; i++) {
                /* Counters only grow, and only a counter that moved can
                 * owe anything: a charge for one that did not would be
                 * charged twice. */
                if (due[i] < 0 || counters[i] < sl->billed[i] || (due[i] > 0 && counters[i] == sl->billed[i]))
                        return -EINVAL;
                moved = moved || counters[i] != sl->billed[i];
        }
        if (!moved)
                return 0;

        /* In enum order while the balance lasts; the rest is overshoot. */
        left = MAX(sl->balance, 0);
        for (int i = 0; i < _RESOURCE_MAX; i++) {
                c.part[i] = MIN(due[i], left);
                left -= c.part[i];
                c.total += c.part[i];
                if (!money_add(c.over, due[i] - c.part[i], &c.over) ||
                    !money_add(sl->charged[i], c.part[i], &charged[i]))
                        return -EOVERFLOW;
        }
        if (!money_add(sl->overshoot, c.over, &overshoot))
                return -EOVERFLOW;

        sl->balance -= c.total;
        memcpy(sl->charged, charged, sizeof(sl->charged));
        memcpy(sl->billed, counters, sizeof(sl->billed));
        sl->overshoot = overshoot;
        *ret = c;
        return 1;
}

/* The entry, when money moved or overshoot grew (then with no postings,
 * its overshoot in the entry), and the slice row as charged: even when
 * nothing was due, the counters moved. */
static int charge_write(struct ledger *l, const struct ledger_slice *sl, const struct charge *c, uint64_t now_usec) {
        char account[ACCOUNT_MAX];
        struct binder b;
        struct entry e;
        int r;

        slice_entry(&e, "charge", sl, -c->total, now_usec);
        e.overshoot = c->over;
        for (int i = 0; i < _RESOURCE_MAX; i++)
                if (c->part[i] > 0) {
                        snprintf(account, sizeof(account), "charge:%s", resource_to_string(i));
                        ledger_entry_post(&e, account, c->part[i]);
                }
        if (c->total > 0 || c->over > 0) {
                r = ledger_entry_append(l, &e);
                if (r < 0)
                        return r;
        }

        b = ledger_bind(l, STMT_SLICE_CHARGE);
        bind_i64(&b, sl->balance);
        for (int i = 0; i < _RESOURCE_MAX; i++)
                bind_i64(&b, sl->charged[i]);
        for (int i = 0; i < _RESOURCE_MAX; i++)
                bind_u64(&b, sl->billed[i]);
        bind_i64(&b, sl->overshoot);
        bind_text(&b, sl->id);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "charge a slice");
}

int ledger_charge(struct ledger *l, const char *slice_id, const uint64_t counters[_RESOURCE_MAX],
                  const int64_t due[_RESOURCE_MAX], uint64_t now_usec, int64_t *ret_balance) {
        struct ledger_slice sl;
        struct charge c;
        struct tip saved;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || !counters || !due || now_usec > INT64_MAX)
                return -EINVAL;

        r = slice_op_begin(l, slice_id, &saved, &sl);
        if (r < 0)
                return r;
        r = charge_apply(&sl, counters, due, &c);
        if (r > 0)
                r = charge_write(l, &sl, &c, now_usec);
        r = ledger_op_end(l, &saved, r);
        if (r >= 0 && ret_balance)
                *ret_balance = sl.balance;
        return r;
}

/* Slice states */

/* Change is the owner's part, paid out: none without one, and no part
 * of the owner's goes out without it. What the keyed funders get is held
 * for them. */
static int release_apply(struct ledger_slice *sl, const struct ledger_split *sp, bool change) {
        if (change != (sp->owner > 0) || sl->balance < 0 || sp->unspent != sl->balance)
                return -EINVAL;
        if (!money_add(sl->refunded, sp->owner, &sl->refunded) || !money_add(sl->held, sp->held, &sl->held) ||
            !money_add(sl->donated, sp->donated, &sl->donated))
                return -EOVERFLOW;
        return 0;
}

/* The entry, always, even for nothing paid out: the chain records when
 * each slice closed. Then the slice row, closed with its change. */
static int release_write(struct ledger *l, const struct ledger_slice *sl, const struct ledger_split *sp,
                         const char *change, uint64_t now_usec) {
        char account[ACCOUNT_MAX];
        struct binder b;
        struct entry e;
        int r;

        slice_entry(&e, "release", sl, -sl->balance, now_usec);
        if (sp->owner > 0)
                ledger_entry_post(&e, "refund", sp->owner);
        if (sp->donated > 0)
                ledger_entry_post(&e, "donated", sp->donated);
        for (size_t i = 0; i < sp->n_shares; i++)
                if (sp->shares[i].share > 0) {
                        /* Checked at each keyed credit (redeem_funder_check()). */
                        if (e.n_postings >= ENTRY_POSTINGS_MAX)
                                return -E2BIG;
                        ledger_held_account(account, sl->id, sp->shares[i].key);
                        ledger_entry_post(&e, account, sp->shares[i].share);
                }
        r = ledger_entry_append(l, &e);
        if (r < 0)
                return r;

        b = ledger_bind(l, STMT_SLICE_RELEASE);
        bind_u64(&b, now_usec);
        bind_u64(&b, now_usec);
        bind_i64(&b, sl->refunded);
        bind_i64(&b, sl->held);
        bind_i64(&b, sl->donated);
        bind_text(&b, change);
        bind_text(&b, sl->id);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "release a slice");
}

int ledger_release(struct ledger *l, const char *slice_id, const char *change_text, uint64_t now_usec) {
        struct ledger_split sp = {};
        struct ledger_slice sl;
        struct tip saved;
        bool change;
        int r;

        change = change_text && change_text[0];
        if (!l || !slice_id_is_valid(slice_id) || now_usec > INT64_MAX ||
            (change && strlen(change_text) >= LEDGER_CHANGE_MAX))
                return -EINVAL;

        r = slice_op_begin(l, slice_id, &saved, &sl);
        if (r < 0)
                return r;
        /* Split in the savepoint, from the books as they are now: what
         * the caller signed change for is checked against it. */
        r = ledger_split_read(l, slice_id, sl.donation_model, sl.anonymous_to_host, sl.balance, &sp);
        if (r >= 0)
                r = release_apply(&sl, &sp, change);
        if (r >= 0)
                r = release_write(l, &sl, &sp, change ? change_text : "", now_usec);
        ledger_split_done(&sp);
        return ledger_op_end(l, &saved, r);
}

static int slice_set_state(struct ledger *l, const char *slice_id, enum ledger_slice_state from,
                           enum ledger_slice_state to, uint64_t now_usec) {
        struct ledger_slice sl;
        struct tip saved;
        struct binder b;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || now_usec > INT64_MAX)
                return -EINVAL;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;

        r = ledger_slice_get(l, slice_id, &sl);
        if (r >= 0 && sl.state != from)
                r = sl.state == LEDGER_SLICE_RELEASED ? -ESTALE : sl.state == to ? -EALREADY : -EINVAL;
        if (r >= 0) {
                b = ledger_bind(l, STMT_SLICE_STATE);
                bind_text(&b, ledger_slice_state_to_string(to));
                bind_u64(&b, now_usec);
                bind_text(&b, slice_id);
                r = ledger_bound_step(&b, LEDGER_STEP_DONE, "change a slice's state");
        }
        return ledger_op_end(l, &saved, r);
}

int ledger_keep(struct ledger *l, const char *slice_id, uint64_t now_usec) {
        return slice_set_state(l, slice_id, LEDGER_SLICE_ACTIVE, LEDGER_SLICE_KEPT, now_usec);
}

int ledger_activate(struct ledger *l, const char *slice_id, uint64_t now_usec) {
        return slice_set_state(l, slice_id, LEDGER_SLICE_KEPT, LEDGER_SLICE_ACTIVE, now_usec);
}

/* Idempotency */

int ledger_request_get(struct ledger *l, uint32_t uid, const char *request_id, char **ret_reply) {
        _cleanup_binder_ struct binder b = {};
        const unsigned char *t;
        char *reply;
        int r;

        if (!l || !ret_reply || !ledger_request_id_is_valid(request_id))
                return -EINVAL;

        b = ledger_bind(l, STMT_REQUEST_GET);
        bind_i64(&b, uid);
        bind_text(&b, request_id);
        r = ledger_bound_row(&b, "look a request up");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;

        t = sqlite3_column_text(b.s, 0);
        if (!t)
                return log_error_errno(EUCLEAN, "Ledger %s: a request row is malformed.", l->path);
        reply = strdup((const char *) t);
        if (!reply)
                return -ENOMEM;
        *ret_reply = reply;
        return 0;
}

int ledger_request_put(struct ledger *l, uint32_t uid, const char *request_id, const char *op,
                       const char *reply, uint64_t now_usec) {
        struct binder b;
        size_t n;

        if (!l || !ledger_request_id_is_valid(request_id) || !op || !reply || now_usec > INT64_MAX)
                return -EINVAL;
        n = strlen(op);
        if (n == 0 || n > LEDGER_OP_MAX)
                return -EINVAL;
        if (strlen(reply) > PREPAY_MSG_MAX)
                return -EMSGSIZE;

        b = ledger_bind(l, STMT_REQUEST_INSERT);
        bind_i64(&b, uid);
        bind_text(&b, request_id);
        bind_text(&b, op);
        bind_text(&b, reply);
        bind_u64(&b, now_usec);
        return ledger_op_step(&b, LEDGER_STEP_INSERT, "record a request");
}

int ledger_request_prune(struct ledger *l, uint64_t before_usec) {
        return ledger_prune(l, STMT_REQUEST_PRUNE, before_usec, "prune old requests");
}

/* Books */

int ledger_books_read(struct ledger *l, enum stmt_id id, struct ledger_books *ret) {
        _cleanup_binder_ struct binder b = ledger_bind(l, id);
        struct ledger_books books = {};
        int n, r;

        r = ledger_bound_row(&b, "sum the books");
        if (r <= 0)
                return r < 0 ? r : -EIO;

        /* redeemed, held, charged in one column or one per resource,
         * refunded, claimed and claimed by investors (in refunded
         * already: 0), held for funders, earned by investors, donated,
         * overshoot, entries, bids in escrow, bids returned. */
        n = sqlite3_column_count(b.s) - 10;
        books.redeemed = column_i64(b.s, 0);
        books.held = column_i64(b.s, 1);
        for (int i = 2; i < n; i++)
                if (!money_add(books.charged, column_i64(b.s, i), &books.charged))
                        return -EOVERFLOW;
        if (!money_add(column_i64(b.s, n), column_i64(b.s, n + 1), &books.refunded) ||
            !money_add(books.refunded, column_i64(b.s, n + 2), &books.refunded))
                return -EOVERFLOW;
        books.funders = column_i64(b.s, n + 3);
        books.earned = column_i64(b.s, n + 4);
        books.donated = column_i64(b.s, n + 5);
        books.overshoot = column_i64(b.s, n + 6);
        books.entries = column_u64(b.s, n + 7);
        books.escrow = column_i64(b.s, n + 8);
        books.returned = column_i64(b.s, n + 9);
        *ret = books;
        return 0;
}

int ledger_books(struct ledger *l, struct ledger_books *ret) {
        if (!l || !ret)
                return -EINVAL;
        /* One statement: one snapshot. */
        return ledger_books_read(l, STMT_BOOKS, ret);
}
