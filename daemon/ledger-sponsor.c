/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sponsorship in the books (schema 5): offers, bids whose vouchers are
 * spent into an escrow account at once, and their settlement, each write
 * in a savepoint of the open batch (all or none). daemon/README.md,
 * "Sponsorship", has the rules. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/money.h"
#include "ledger-internal.h"

static const char *const bid_states[_LEDGER_BID_STATE_MAX] = {
        [LEDGER_BID_OPEN] = "open",
        [LEDGER_BID_WON] = "won",
        [LEDGER_BID_RETURNED] = "returned",
};

const char *ledger_bid_state_to_string(enum ledger_bid_state s) {
        return s >= 0 && s < _LEDGER_BID_STATE_MAX ? bid_states[s] : NULL;
}

static int bid_state_from_string(const char *s) {
        for (int i = 0; i < _LEDGER_BID_STATE_MAX; i++)
                if (streq(s, bid_states[i]))
                        return i;
        return -EINVAL;
}

void ledger_bid_account(char buf[static ACCOUNT_MAX], const char *slice_id, uint64_t n) {
        snprintf(buf, ACCOUNT_MAX, "bid:%s:%" PRIu64, slice_id, n);
}

/* Offers */

static int sponsorship_from_row(struct ledger *l, sqlite3_stmt *s, struct ledger_sponsorship *ret) {
        struct ledger_sponsorship sp = {
                .period_usec = column_u64(s, 1),
                .min = column_i64(s, 2),
                .start_usec = column_u64(s, 3),
                .settled_usec = column_u64(s, 4),
                .offered_usec = column_u64(s, 5),
        };

        if (!column_text_copy(s, 0, sp.slice, sizeof(sp.slice)) || sp.period_usec == 0 || sp.min <= 0)
                return log_error_errno(EUCLEAN, "Ledger %s: a sponsorships row is malformed.", l->path);
        *ret = sp;
        return 0;
}

int ledger_sponsorship_get(struct ledger *l, const char *slice_id, struct ledger_sponsorship *ret) {
        _cleanup_binder_ struct binder b = {};
        int r;

        if (!l || !slice_id_is_valid(slice_id) || !ret)
                return -EINVAL;
        b = ledger_bind(l, STMT_SPONSOR_GET);
        bind_text(&b, slice_id);
        r = ledger_bound_row(&b, "read a sponsorship");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        return sponsorship_from_row(l, b.s, ret);
}

static int bids_open_count(struct ledger *l, const char *slice_id, uint64_t *ret_next, uint64_t *ret_open) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_BID_NEXT);
        int r;

        bind_text(&b, slice_id);
        r = ledger_bound_row(&b, "number a bid");
        if (r <= 0)
                return r < 0 ? r : -EIO;
        if (ret_next)
                *ret_next = column_u64(b.s, 0);
        if (ret_open)
                *ret_open = column_u64(b.s, 1);
        return 0;
}

int ledger_sponsor_offer(struct ledger *l, const struct ledger_sponsorship *sp) {
        struct ledger_slice sl;
        uint64_t open = 0;
        struct tip saved;
        struct binder b;
        int r;

        if (!l || !sp || !slice_id_is_valid(sp->slice) || sp->period_usec == 0 || sp->period_usec > INT64_MAX ||
            sp->min <= 0 || sp->start_usec > INT64_MAX || sp->offered_usec > INT64_MAX)
                return -EINVAL;
        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        r = ledger_slice_get(l, sp->slice, &sl);
        if (r >= 0 && sl.state == LEDGER_SLICE_RELEASED)
                r = -ESTALE;
        if (r >= 0)
                r = bids_open_count(l, sp->slice, NULL, &open);
        if (r >= 0 && open > 0)
                r = -EBUSY;
        if (r >= 0) {
                b = ledger_bind(l, STMT_SPONSOR_PUT);
                bind_text(&b, sp->slice);
                bind_u64(&b, sp->period_usec);
                bind_i64(&b, sp->min);
                bind_u64(&b, sp->start_usec);
                bind_u64(&b, sp->settled_usec);
                bind_u64(&b, sp->offered_usec);
                r = ledger_bound_step(&b, LEDGER_STEP_DONE, "offer a sponsorship");
        }
        return ledger_op_end(l, &saved, r);
}

int ledger_sponsorships_foreach(struct ledger *l,
                                int (*cb)(const struct ledger_sponsorship *sp, void *userdata), void *userdata) {
        _cleanup_binder_ struct binder b = {};
        struct ledger_sponsorship sp;
        int r;

        if (!l || !cb)
                return -EINVAL;
        /* Few rows (one per sponsored slice), read whole before cb runs:
         * cb may write. */
        _cleanup_(freep) struct ledger_sponsorship *all = NULL;
        size_t n = 0, size = 0;

        b = ledger_bind(l, STMT_SPONSOR_ALL);
        while ((r = ledger_bound_row(&b, "read the sponsorships")) > 0) {
                r = sponsorship_from_row(l, b.s, &sp);
                if (r < 0)
                        return r;
                if (n == size) {
                        struct ledger_sponsorship *p;

                        size = size ? 2 * size : 16;
                        p = reallocarray(all, size, sizeof(*all));
                        if (!p)
                                return -ENOMEM;
                        all = p;
                }
                all[n++] = sp;
        }
        binder_reset(&b);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                struct ledger_slice sl;

                r = ledger_slice_get(l, all[i].slice, &sl);
                if (r < 0)
                        return r;
                if (sl.state == LEDGER_SLICE_RELEASED)
                        continue;
                r = cb(&all[i], userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int ledger_sponsor_settled(struct ledger *l, const char *slice_id, uint64_t settled_usec) {
        struct binder b;

        if (!l || !slice_id_is_valid(slice_id) || settled_usec > INT64_MAX)
                return -EINVAL;
        b = ledger_bind(l, STMT_SPONSOR_SETTLED);
        bind_u64(&b, settled_usec);
        bind_text(&b, slice_id);
        return ledger_op_step(&b, LEDGER_STEP_DONE, "record a period settled");
}

/* Bids */

static int bid_from_row(struct ledger *l, sqlite3_stmt *s, struct ledger_bid *ret) {
        char state[16];
        int st;

        *ret = (struct ledger_bid) {
                .n = column_u64(s, 1),
                .time_usec = column_u64(s, 2),
                .start_usec = column_u64(s, 3),
                .end_usec = column_u64(s, 4),
                .amount = column_i64(s, 5),
                .settled_entry = column_u64(s, 10),
                .settled_usec = column_u64(s, 11),
        };
        if (!column_text_copy(s, 0, ret->slice, sizeof(ret->slice)) ||
            !column_text_copy(s, 6, ret->name, sizeof(ret->name)) ||
            !column_text_copy(s, 7, ret->url, sizeof(ret->url)) ||
            !column_text_copy(s, 9, state, sizeof(state)) || (st = bid_state_from_string(state)) < 0 ||
            !column_text_copy(s, 12, ret->change, sizeof(ret->change)))
                return log_error_errno(EUCLEAN, "Ledger %s: a bids row is malformed.", l->path);
        ret->state = (enum ledger_bid_state) st;
        if (sqlite3_column_type(s, 8) != SQLITE_NULL) {
                if (!column_blob_copy(s, 8, ret->funder, sizeof(ret->funder)))
                        return log_error_errno(EUCLEAN, "Ledger %s: a bids row is malformed.", l->path);
                ret->keyed = true;
        }
        return 0;
}

int ledger_bid_get(struct ledger *l, const char *slice_id, uint64_t n, struct ledger_bid *ret) {
        _cleanup_binder_ struct binder b = {};
        int r;

        if (!l || !slice_id_is_valid(slice_id) || !ret || n == 0 || n > INT64_MAX)
                return -EINVAL;
        b = ledger_bind(l, STMT_BID_GET);
        bind_text(&b, slice_id);
        bind_u64(&b, n);
        r = ledger_bound_row(&b, "read a bid");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        return bid_from_row(l, b.s, ret);
}

int ledger_bid_current(struct ledger *l, const char *slice_id, uint64_t now_usec, struct ledger_bid *ret) {
        _cleanup_binder_ struct binder b = {};
        int r;

        if (!l || !slice_id_is_valid(slice_id) || !ret || now_usec > INT64_MAX)
                return -EINVAL;
        b = ledger_bind(l, STMT_BID_CURRENT);
        bind_text(&b, slice_id);
        bind_u64(&b, now_usec);
        r = ledger_bound_row(&b, "read a slice's sponsor");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        r = bid_from_row(l, b.s, ret);
        if (r >= 0 && ret->end_usec <= now_usec)
                return -ENOENT;
        return r;
}

int ledger_bids_open_count(struct ledger *l, const char *slice_id, size_t *ret) {
        uint64_t open = 0;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || !ret)
                return -EINVAL;
        r = bids_open_count(l, slice_id, NULL, &open);
        if (r < 0)
                return r;
        *ret = (size_t) open;
        return 0;
}

int ledger_bids_open(struct ledger *l, const char *slice_id, struct ledger_bid **ret, size_t *ret_n) {
        _cleanup_binder_ struct binder b = {};
        _cleanup_(freep) struct ledger_bid *all = NULL;
        size_t n = 0, max = 0;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || !ret || !ret_n)
                return -EINVAL;
        /* As many as there are, at most LEDGER_BIDS_OPEN_MAX (ledger_bid()
         * refuses more; rows edited in by hand are cut there): a bid
         * with its change room is some kilobytes. */
        r = ledger_bids_open_count(l, slice_id, &max);
        if (r < 0)
                return r;
        max = MIN(max, (size_t) LEDGER_BIDS_OPEN_MAX);
        if (max == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        all = calloc(max, sizeof(*all));
        if (!all)
                return -ENOMEM;
        b = ledger_bind(l, STMT_BIDS_OPEN);
        bind_text(&b, slice_id);
        while (n < max && (r = ledger_bound_row(&b, "read a slice's open bids")) > 0) {
                r = bid_from_row(l, b.s, &all[n]);
                if (r < 0)
                        return r;
                n++;
        }
        if (r < 0)
                return r;
        *ret = TAKE_PTR(all);
        *ret_n = n;
        return 0;
}

/* One voucher of a bid into its escrow: entry "bid", the voucher spent. */
static int bid_voucher_write(struct ledger *l, const struct voucher *v, const char *slice_id, const char *account,
                             const char *request_id, uint64_t now_usec) {
        struct entry e = {
                .time_usec = now_usec,
                .kind = "bid",
                .slice = slice_id,
                .voucher = v->id,
                .request_id = request_id,
        };
        int r;

        r = ledger_voucher_spent(l, v->id, NULL);
        if (r >= 0)
                return -EALREADY;
        if (r != -ENOENT)
                return r;
        ledger_entry_post(&e, account, v->amount);
        ledger_entry_post(&e, "vouchers", -v->amount);
        r = ledger_entry_append(l, &e);
        if (r < 0)
                return r;

        return ledger_voucher_record(l, v, slice_id, e.seq, now_usec);
}

static int bid_row_write(struct ledger *l, const struct ledger_bid *bid, uint64_t n, int64_t amount,
                         uint64_t now_usec) {
        struct binder b = ledger_bind(l, STMT_BID_INSERT);

        bind_text(&b, bid->slice);
        bind_u64(&b, n);
        bind_u64(&b, now_usec);
        bind_u64(&b, bid->start_usec);
        bind_u64(&b, bid->end_usec);
        bind_i64(&b, amount);
        bind_text(&b, bid->name);
        bind_text(&b, bid->url);
        bind_blob(&b, bid->keyed ? bid->funder : NULL, CRYPTO_PUBKEY_SIZE);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "record a bid");
}

static int bid_write(struct ledger *l, const struct voucher *v, size_t n_vouchers, const struct ledger_bid *bid,
                     const char *request_id, uint64_t now_usec, uint64_t *ret_n) {
        struct ledger_sponsorship sp;
        char account[ACCOUNT_MAX];
        struct ledger_slice sl;
        uint64_t n = 0, open = 0;
        int64_t amount = 0;
        int r;

        r = ledger_slice_get(l, bid->slice, &sl);
        if (r < 0)
                return r;
        if (sl.state == LEDGER_SLICE_RELEASED)
                return -ESTALE;
        r = ledger_sponsorship_get(l, bid->slice, &sp);
        if (r < 0)
                return r == -ENOENT ? -ENOMSG : r;
        r = bids_open_count(l, bid->slice, &n, &open);
        if (r < 0)
                return r;
        if (open >= LEDGER_BIDS_OPEN_MAX)
                return -EUSERS;
        ledger_bid_account(account, bid->slice, n);
        for (size_t i = 0; i < n_vouchers; i++) {
                if (!money_add(amount, v[i].amount, &amount))
                        return -EOVERFLOW;
                r = bid_voucher_write(l, &v[i], bid->slice, account, request_id, now_usec);
                if (r < 0)
                        return r;
        }
        /* The least bid is the caller's to check, before anything is
         * spent; said again where the money moves. */
        if (amount != bid->amount || amount < sp.min)
                return -EINVAL;
        r = bid_row_write(l, bid, n, amount, now_usec);
        if (r < 0)
                return r;
        *ret_n = n;
        return 0;
}

int ledger_bid(struct ledger *l, const struct voucher *v, size_t n, const struct ledger_bid *bid,
               const char *request_id, uint64_t now_usec, uint64_t *ret_n) {
        struct tip saved;
        uint64_t number = 0;
        int r;

        if (!l || !v || n < 1 || n > 16 || !bid || !slice_id_is_valid(bid->slice) || bid->amount <= 0 ||
            !bid->name[0] || bid->end_usec <= bid->start_usec || bid->end_usec > INT64_MAX ||
            now_usec > INT64_MAX || (request_id && !ledger_request_id_is_valid(request_id)))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (v[i].amount <= 0 || v[i].amount > MONEY_AMOUNT_MAX || !currency_is_valid(v[i].currency))
                        return -EINVAL;
        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        r = bid_write(l, v, n, bid, request_id, now_usec, &number);
        r = ledger_op_end(l, &saved, r);
        if (r >= 0 && ret_n)
                *ret_n = number;
        return r;
}

/* Settlement */

static int bid_settle_row(struct ledger *l, const struct ledger_bid *bid, enum ledger_bid_state state, uint64_t entry,
                          const char *change, uint64_t now_usec) {
        struct binder b = ledger_bind(l, STMT_BID_SETTLE);

        bind_text(&b, ledger_bid_state_to_string(state));
        bind_u64(&b, entry);
        bind_u64(&b, now_usec);
        bind_text(&b, change);
        bind_text(&b, bid->slice);
        bind_u64(&b, bid->n);
        return ledger_bound_step(&b, LEDGER_STEP_DONE, "settle a bid");
}

/* The sponsor's key, if it gave one, makes it a funder of the slice like
 * any other: unless the slice splits its balance among 32 keyed funders
 * already, then the credit is anonymous (its share goes with the
 * owner's, as an anonymous one's does). */
static const uint8_t *award_funder(struct ledger *l, const struct ledger_slice *sl, const struct ledger_bid *bid) {
        _cleanup_binder_ struct binder b = {};

        if (!bid->keyed)
                return NULL;
        if (sl->donation_model == DONATION_OWNER)
                return bid->funder;
        b = ledger_bind(l, STMT_SLICE_FUNDERS);
        bind_blob(&b, bid->funder, CRYPTO_PUBKEY_SIZE);
        bind_text(&b, sl->id);
        if (ledger_bound_row(&b, "count a slice's funders") <= 0)
                return NULL;
        if (column_i64(b.s, 1) == 0 && column_i64(b.s, 0) >= LEDGER_FUNDERS_MAX)
                return NULL;
        return bid->funder;
}

static int award_write(struct ledger *l, struct ledger_slice *sl, const struct ledger_bid *bid, uint64_t now_usec) {
        char account[ACCOUNT_MAX], slice_account[ACCOUNT_MAX];
        int64_t balance, credited;
        struct binder b;
        struct entry e = {
                .time_usec = now_usec,
                .kind = "award",
                .slice = sl->id,
        };
        int r;

        if (!money_add(sl->balance, bid->amount, &balance) || balance > LEDGER_BALANCE_MAX ||
            !money_add(sl->credited, bid->amount, &credited))
                return -EOVERFLOW;
        e.funder = award_funder(l, sl, bid);
        ledger_bid_account(account, sl->id, bid->n);
        snprintf(slice_account, sizeof(slice_account), "slice:%s", sl->id);
        ledger_entry_post(&e, account, -bid->amount);
        ledger_entry_post(&e, slice_account, bid->amount);
        r = ledger_entry_append(l, &e);
        if (r < 0)
                return r;
        r = ledger_credit_record(l, sl, e.seq, e.funder, bid->amount);
        if (r < 0)
                return r;
        b = ledger_bind(l, STMT_SLICE_CREDIT);
        bind_i64(&b, balance);
        bind_i64(&b, credited);
        bind_text(&b, sl->id);
        r = ledger_bound_step(&b, LEDGER_STEP_DONE, "credit a slice");
        if (r < 0)
                return r;
        return bid_settle_row(l, bid, LEDGER_BID_WON, e.seq, "", now_usec);
}

static int return_write(struct ledger *l, const struct ledger_bid *bid, const char *change, uint64_t now_usec) {
        char account[ACCOUNT_MAX];
        struct entry e = {
                .time_usec = now_usec,
                .kind = "return",
                .slice = bid->slice,
        };
        int r;

        ledger_bid_account(account, bid->slice, bid->n);
        ledger_entry_post(&e, account, -bid->amount);
        ledger_entry_post(&e, "returned", bid->amount);
        r = ledger_entry_append(l, &e);
        if (r < 0)
                return r;
        return bid_settle_row(l, bid, LEDGER_BID_RETURNED, e.seq, change, now_usec);
}

static int settle(struct ledger *l, const char *slice_id, uint64_t n, const char *change, uint64_t now_usec) {
        _cleanup_(freep) struct ledger_bid *bid = NULL;
        struct ledger_slice sl;
        struct tip saved;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || n == 0 || now_usec > INT64_MAX ||
            (change && (!change[0] || strlen(change) >= LEDGER_CHANGE_MAX)))
                return -EINVAL;
        bid = malloc(sizeof(*bid)); /* its change is large for a stack */
        if (!bid)
                return -ENOMEM;
        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        r = ledger_bid_get(l, slice_id, n, bid);
        if (r >= 0 && bid->state != LEDGER_BID_OPEN)
                r = -EALREADY;
        if (r >= 0 && !change) {
                r = ledger_slice_get(l, slice_id, &sl);
                if (r >= 0 && sl.state == LEDGER_SLICE_RELEASED)
                        r = -ESTALE;
                if (r >= 0)
                        r = award_write(l, &sl, bid, now_usec);
        } else if (r >= 0)
                r = return_write(l, bid, change, now_usec);
        return ledger_op_end(l, &saved, r);
}

int ledger_bid_award(struct ledger *l, const char *slice_id, uint64_t n, uint64_t now_usec) {
        return settle(l, slice_id, n, NULL, now_usec);
}

int ledger_bid_return(struct ledger *l, const char *slice_id, uint64_t n, const char *change_text,
                      uint64_t now_usec) {
        if (!change_text)
                return -EINVAL;
        return settle(l, slice_id, n, change_text, now_usec);
}

int ledger_bids_settle(struct ledger *l, const char *slice_id, uint64_t winner, const struct ledger_return *returns,
                       size_t n_returns, uint64_t now_usec) {
        struct tip saved;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || (n_returns > 0 && !returns) || now_usec > INT64_MAX)
                return -EINVAL;
        /* One savepoint around the nested ones: a period is settled
         * whole or not at all, so that a winner is never taken twice. */
        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        if (winner > 0)
                r = ledger_bid_award(l, slice_id, winner, now_usec);
        for (size_t i = 0; r >= 0 && i < n_returns; i++)
                r = ledger_bid_return(l, slice_id, returns[i].n, returns[i].change, now_usec);
        return ledger_op_end(l, &saved, r);
}
