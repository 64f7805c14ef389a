/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The books: slices, the vouchers spent on them, the writes that move
 * money (redeem, charge, release) or change a slice's state, the replies
 * kept for idempotent requests, and the sums. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
        char state[16];
        int st;

        if (!column_text_copy(s, SLICE_COL_ID, sl.id, sizeof(sl.id)) ||
            !column_blob_copy(s, SLICE_COL_OWNER_HASH, sl.owner_hash, sizeof(sl.owner_hash)) ||
            !column_text_copy(s, SLICE_COL_STATE, state, sizeof(state)) ||
            (st = slice_state_from_string(state)) < 0 ||
            !column_text_copy(s, SLICE_COL_CHANGE, sl.change, sizeof(sl.change)))
                return log_error_errno(EUCLEAN, "Ledger %s: a slice row is malformed.", l->path);

        sl.owner_uid = (uint32_t) column_i64(s, SLICE_COL_OWNER_UID);
        sl.state = st;
        sl.created_usec = column_u64(s, SLICE_COL_CREATED);
        sl.released_usec = column_u64(s, SLICE_COL_RELEASED);
        sl.balance = column_i64(s, SLICE_COL_BALANCE);
        sl.credited = column_i64(s, SLICE_COL_CREDITED);
        sl.refunded = column_i64(s, SLICE_COL_REFUNDED);
        for (int r = 0; r < _RESOURCE_MAX; r++) {
                sl.charged[r] = column_i64(s, SLICE_COL_CHARGED + r);
                sl.billed[r] = column_u64(s, SLICE_COL_BILLED + r);
        }
        sl.overshoot = column_i64(s, SLICE_COL_OVERSHOOT);

        *ret = sl;
        if (ret_num)
                *ret_num = column_i64(s, SLICE_COL_NUM);
        return 0;
}

int ledger_slice_get(struct ledger *l, const char *id, struct ledger_slice *ret) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct ledger_slice sl;
        struct binder b;
        int r;

        if (!l || !ret)
                return -EINVAL;
        if (!slice_id_is_valid(id))
                return -ENOENT;

        r = ledger_stmt_bind(l, STMT_SLICE_GET, &s, &b);
        if (r < 0)
                return r;
        bind_text(&b, id);
        r = ledger_bind_check(l, &b);
        if (r < 0)
                return r;
        r = ledger_step_row(l, s, "read a slice");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        r = ledger_slice_from_row(l, s, &sl, NULL);
        if (r < 0)
                return r;
        *ret = sl;
        return 0;
}

int ledger_slice_add(struct ledger *l, const struct ledger_slice *sl) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct binder b;
        struct tip saved;
        int r;

        if (!l || !sl || !slice_id_is_valid(sl->id) || sl->created_usec > INT64_MAX)
                return -EINVAL;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;

        r = ledger_stmt_bind(l, STMT_SLICE_INSERT, &s, &b);
        if (r >= 0) {
                bind_text(&b, sl->id);
                bind_i64(&b, sl->owner_uid);
                bind_blob(&b, sl->owner_hash, sizeof(sl->owner_hash));
                bind_u64(&b, sl->created_usec);
                bind_u64(&b, sl->created_usec);
                r = ledger_bind_check(l, &b);
        }
        if (r >= 0)
                r = ledger_step_insert(l, s, "add a slice");
        return ledger_op_end(l, &saved, r);
}

int ledger_slice_foreach(struct ledger *l, int (*cb)(const struct ledger_slice *s, void *userdata),
                         void *userdata) {
        int64_t num = 0;
        int r;

        if (!l || !cb)
                return -EINVAL;

        for (;;) {
                struct ledger_slice sl;
                sqlite3_stmt *s;
                struct binder b;

                /* Reset before the callback runs: it may write. */
                r = ledger_stmt_bind(l, STMT_SLICE_NEXT_OPEN, &s, &b);
                if (r < 0)
                        return r;
                bind_i64(&b, num);
                r = ledger_bind_check(l, &b);
                if (r >= 0)
                        r = ledger_step_row(l, s, "list slices");
                if (r > 0)
                        r = ledger_slice_from_row(l, s, &sl, &num) ?: 1;
                sqlite3_reset(s);
                if (r <= 0)
                        return r;

                r = cb(&sl, userdata);
                if (r < 0)
                        return r;
        }
}

/* Vouchers */

static int voucher_spent(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], struct ledger_spent *ret) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct ledger_spent spent = {};
        struct binder b;
        int r;

        r = ledger_stmt_bind(l, STMT_VOUCHER_GET, &s, &b);
        if (r < 0)
                return r;
        bind_blob(&b, id, VOUCHER_ID_SIZE);
        r = ledger_bind_check(l, &b);
        if (r < 0)
                return r;
        r = ledger_step_row(l, s, "look a voucher up");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        spent.time_usec = column_u64(s, 0);
        if (!column_text_copy(s, 1, spent.slice, sizeof(spent.slice)))
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

static void account_slice(char buf[ACCOUNT_MAX], const char *slice_id) {
        snprintf(buf, ACCOUNT_MAX, "slice:%s", slice_id);
}

int ledger_redeem(struct ledger *l, const struct voucher *v, const char *slice_id, const char *request_id,
                  uint64_t now_usec, int64_t *ret_balance, struct ledger_spent *ret_spent) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        char account[ACCOUNT_MAX];
        struct ledger_spent spent;
        struct ledger_slice sl;
        int64_t balance = 0, credited;
        struct entry e = {};
        struct binder b;
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
                goto out;
        }
        if (r != -ENOENT)
                goto out;

        r = ledger_slice_get(l, slice_id, &sl);
        if (r < 0)
                goto out;
        if (sl.state == LEDGER_SLICE_RELEASED) {
                r = -ESTALE;
                goto out;
        }
        /* A balance is never more than its change can be paid in. */
        if (!money_add(sl.balance, v->amount, &balance) || balance > LEDGER_BALANCE_MAX ||
            !money_add(sl.credited, v->amount, &credited)) {
                r = -EOVERFLOW;
                goto out;
        }

        account_slice(account, slice_id);
        e = (struct entry) {
                .time_usec = now_usec,
                .kind = "redeem",
                .slice = slice_id,
                .voucher = v->id,
                .request_id = request_id,
        };
        ledger_entry_post(&e, "vouchers", -v->amount);
        ledger_entry_post(&e, account, v->amount);
        r = ledger_entry_append(l, &e);
        if (r < 0)
                goto out;

        r = ledger_stmt_bind(l, STMT_VOUCHER_INSERT, &s, &b);
        if (r < 0)
                goto out;
        bind_blob(&b, v->id, VOUCHER_ID_SIZE);
        bind_blob(&b, v->issuer, sizeof(v->issuer));
        bind_i64(&b, v->amount);
        bind_text(&b, v->currency);
        bind_i64(&b, v->not_after);
        bind_u64(&b, now_usec);
        bind_text(&b, slice_id);
        bind_u64(&b, e.seq);
        r = ledger_bind_check(l, &b);
        if (r >= 0)
                r = ledger_step_done(l, s, "mark a voucher spent");
        sqlite3_reset(TAKE_PTR(s));
        if (r < 0)
                goto out;

        r = ledger_stmt_bind(l, STMT_SLICE_CREDIT, &s, &b);
        if (r < 0)
                goto out;
        bind_i64(&b, balance);
        bind_i64(&b, credited);
        bind_text(&b, slice_id);
        r = ledger_bind_check(l, &b);
        if (r >= 0)
                r = ledger_step_done(l, s, "credit a slice");

out:
        r = ledger_op_end(l, &saved, r);
        if (r >= 0 && ret_balance)
                *ret_balance = balance;
        return r;
}

/* Charges */

int ledger_charge(struct ledger *l, const char *slice_id, const uint64_t counters[_RESOURCE_MAX],
                  const int64_t due[_RESOURCE_MAX], uint64_t now_usec, int64_t *ret_balance) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int64_t charged[_RESOURCE_MAX], part[_RESOURCE_MAX], total = 0, over = 0, overshoot, left;
        char account[ACCOUNT_MAX];
        struct ledger_slice sl;
        struct entry e = {};
        struct binder b;
        struct tip saved;
        bool moved = false;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || !counters || !due || now_usec > INT64_MAX)
                return -EINVAL;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;

        r = ledger_slice_get(l, slice_id, &sl);
        if (r < 0)
                goto out;
        if (sl.state == LEDGER_SLICE_RELEASED) {
                r = -ESTALE;
                goto out;
        }

        for (int i = 0; i < _RESOURCE_MAX; i++) {
                /* Counters only grow, and only a counter that moved can
                 * owe anything: a charge for one that did not would be
                 * charged twice. */
                if (due[i] < 0 || counters[i] < sl.billed[i] || (due[i] > 0 && counters[i] == sl.billed[i])) {
                        r = -EINVAL;
                        goto out;
                }
                moved = moved || counters[i] != sl.billed[i];
        }
        if (!moved)
                goto out;

        /* In enum order while the balance lasts; the rest is overshoot. */
        left = MAX(sl.balance, 0);
        for (int i = 0; i < _RESOURCE_MAX; i++) {
                part[i] = MIN(due[i], left);
                left -= part[i];
                total += part[i]; /* <= the balance */
                if (!money_add(over, due[i] - part[i], &over) || !money_add(sl.charged[i], part[i], &charged[i])) {
                        r = -EOVERFLOW;
                        goto out;
                }
        }
        if (!money_add(sl.overshoot, over, &overshoot)) {
                r = -EOVERFLOW;
                goto out;
        }

        if (total > 0 || over > 0) {
                e = (struct entry) {
                        .time_usec = now_usec,
                        .kind = "charge",
                        .slice = slice_id,
                        .overshoot = over,
                };
                if (total > 0) {
                        account_slice(account, slice_id);
                        ledger_entry_post(&e, account, -total);
                }
                for (int i = 0; i < _RESOURCE_MAX; i++)
                        if (part[i] > 0) {
                                snprintf(account, sizeof(account), "charge:%s", resource_to_string(i));
                                ledger_entry_post(&e, account, part[i]);
                        }
                r = ledger_entry_append(l, &e);
                if (r < 0)
                        goto out;
        }

        /* Even when nothing was due: the counters moved. */
        r = ledger_stmt_bind(l, STMT_SLICE_CHARGE, &s, &b);
        if (r < 0)
                goto out;
        sl.balance -= total;
        bind_i64(&b, sl.balance);
        for (int i = 0; i < _RESOURCE_MAX; i++)
                bind_i64(&b, charged[i]);
        for (int i = 0; i < _RESOURCE_MAX; i++)
                bind_u64(&b, counters[i]);
        bind_i64(&b, overshoot);
        bind_text(&b, slice_id);
        r = ledger_bind_check(l, &b);
        if (r >= 0)
                r = ledger_step_done(l, s, "charge a slice");

out:
        r = ledger_op_end(l, &saved, r);
        if (r >= 0 && ret_balance)
                *ret_balance = sl.balance;
        return r;
}

/* Slice states */

int ledger_release(struct ledger *l, const char *slice_id, const char *change_text, uint64_t now_usec) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        char account[ACCOUNT_MAX];
        struct ledger_slice sl;
        struct entry e = {};
        struct binder b;
        struct tip saved;
        int64_t refunded;
        bool change;
        int r;

        change = change_text && change_text[0];
        if (!l || !slice_id_is_valid(slice_id) || now_usec > INT64_MAX ||
            (change && strlen(change_text) >= LEDGER_CHANGE_MAX))
                return -EINVAL;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;

        r = ledger_slice_get(l, slice_id, &sl);
        if (r < 0)
                goto out;
        if (sl.state == LEDGER_SLICE_RELEASED) {
                r = -ESTALE;
                goto out;
        }
        /* Change is the balance, paid out: none without a balance, and
         * no balance goes out without it. */
        if (change != (sl.balance > 0) || sl.balance < 0) {
                r = -EINVAL;
                goto out;
        }
        if (!money_add(sl.refunded, sl.balance, &refunded)) {
                r = -EOVERFLOW;
                goto out;
        }

        /* Always an entry, even for nothing paid out: the chain records
         * when each slice closed. */
        e = (struct entry) {
                .time_usec = now_usec,
                .kind = "release",
                .slice = slice_id,
        };
        if (sl.balance > 0) {
                account_slice(account, slice_id);
                ledger_entry_post(&e, account, -sl.balance);
                ledger_entry_post(&e, "refund", sl.balance);
        }
        r = ledger_entry_append(l, &e);
        if (r < 0)
                goto out;

        r = ledger_stmt_bind(l, STMT_SLICE_RELEASE, &s, &b);
        if (r < 0)
                goto out;
        bind_u64(&b, now_usec);
        bind_u64(&b, now_usec);
        bind_i64(&b, refunded);
        bind_text(&b, change ? change_text : "");
        bind_text(&b, slice_id);
        r = ledger_bind_check(l, &b);
        if (r >= 0)
                r = ledger_step_done(l, s, "release a slice");
out:
        return ledger_op_end(l, &saved, r);
}

static int slice_set_state(struct ledger *l, const char *slice_id, enum ledger_slice_state from,
                           enum ledger_slice_state to, uint64_t now_usec) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct ledger_slice sl;
        struct binder b;
        struct tip saved;
        int r;

        if (!l || !slice_id_is_valid(slice_id) || now_usec > INT64_MAX)
                return -EINVAL;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;

        r = ledger_slice_get(l, slice_id, &sl);
        if (r < 0)
                goto out;
        if (sl.state != from) {
                r = sl.state == LEDGER_SLICE_RELEASED ? -ESTALE : sl.state == to ? -EALREADY : -EINVAL;
                goto out;
        }

        r = ledger_stmt_bind(l, STMT_SLICE_STATE, &s, &b);
        if (r < 0)
                goto out;
        bind_text(&b, ledger_slice_state_to_string(to));
        bind_u64(&b, now_usec);
        bind_text(&b, slice_id);
        r = ledger_bind_check(l, &b);
        if (r >= 0)
                r = ledger_step_done(l, s, "change a slice's state");
out:
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
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        const unsigned char *t;
        struct binder b;
        char *reply;
        int r;

        if (!l || !ret_reply || !ledger_request_id_is_valid(request_id))
                return -EINVAL;

        r = ledger_stmt_bind(l, STMT_REQUEST_GET, &s, &b);
        if (r < 0)
                return r;
        bind_i64(&b, uid);
        bind_text(&b, request_id);
        r = ledger_bind_check(l, &b);
        if (r < 0)
                return r;
        r = ledger_step_row(l, s, "look a request up");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;

        t = sqlite3_column_text(s, 0);
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
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct binder b;
        struct tip saved;
        size_t n;
        int r;

        if (!l || !ledger_request_id_is_valid(request_id) || !op || !reply || now_usec > INT64_MAX)
                return -EINVAL;
        n = strlen(op);
        if (n == 0 || n > LEDGER_OP_MAX)
                return -EINVAL;
        if (strlen(reply) > PREPAY_MSG_MAX)
                return -EMSGSIZE;

        r = ledger_op_begin(l, &saved);
        if (r < 0)
                return r;
        r = ledger_stmt_bind(l, STMT_REQUEST_INSERT, &s, &b);
        if (r >= 0) {
                bind_i64(&b, uid);
                bind_text(&b, request_id);
                bind_text(&b, op);
                bind_text(&b, reply);
                bind_u64(&b, now_usec);
                r = ledger_bind_check(l, &b);
        }
        if (r >= 0)
                r = ledger_step_insert(l, s, "record a request");
        return ledger_op_end(l, &saved, r);
}

int ledger_request_prune(struct ledger *l, uint64_t before_usec) {
        return ledger_prune(l, STMT_REQUEST_PRUNE, before_usec, "prune old requests");
}

/* Books */

int ledger_books_read(struct ledger *l, struct ledger_books *ret) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct ledger_books books = {};
        int r;

        r = ledger_stmt_get(l, STMT_BOOKS, &s);
        if (r < 0)
                return r;
        r = ledger_step_row(l, s, "sum the books");
        if (r <= 0)
                return r < 0 ? r : -EIO;

        books.redeemed = column_i64(s, 0);
        books.held = column_i64(s, 1);
        for (int i = 0; i < _RESOURCE_MAX; i++)
                if (!money_add(books.charged, column_i64(s, 2 + i), &books.charged))
                        return -EOVERFLOW;
        books.refunded = column_i64(s, 8);
        books.overshoot = column_i64(s, 9);
        books.entries = column_u64(s, 10);
        *ret = books;
        return 0;
}

int ledger_books(struct ledger *l, struct ledger_books *ret) {
        if (!l || !ret)
                return -EINVAL;
        /* One statement: one snapshot. */
        return ledger_books_read(l, ret);
}

