/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slice events: a table beside the books, outside the chain and verify. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "common/log.h"
#include "common/money.h"
#include "ledger-internal.h"

static bool event_kind_is_valid(const char *k) {
        size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz-");

        return n >= 1 && n < LEDGER_EVENT_KIND_MAX && k[n] == 0;
}

static bool event_is_valid(const struct ledger_event *ev) {
        return slice_id_is_valid(ev->slice) && event_kind_is_valid(ev->kind) && ev->time_usec <= INT64_MAX &&
               ev->time_left_usec <= INT64_MAX && (!ev->currency[0] || currency_is_valid(ev->currency)) &&
               strnlen(ev->reason, sizeof(ev->reason)) < sizeof(ev->reason);
}

int ledger_event_add(struct ledger *l, const struct ledger_event *ev, uint64_t *ret_seq) {
        struct binder b;
        int r;

        if (!l || !ev || !event_is_valid(ev))
                return -EINVAL;

        b = ledger_bind(l, STMT_EVENT_INSERT);
        bind_u64(&b, ev->time_usec);
        bind_text(&b, ev->slice);
        bind_text(&b, ev->kind);
        bind_i64(&b, ev->funded);
        bind_i64(&b, ev->owner_uid);
        bind_i64(&b, ev->balance);
        bind_text(&b, ev->currency);
        bind_i64(&b, ev->burn_rate);
        bind_u64(&b, ev->time_left_usec);
        bind_text(&b, ev->reason);
        r = ledger_op_step(&b, LEDGER_STEP_DONE, "record an event");
        /* The insert's rowid: RELEASE inserts nothing. */
        if (r >= 0 && ret_seq)
                *ret_seq = (uint64_t) sqlite3_last_insert_rowid(l->db);
        return r;
}

static int event_from_row(struct ledger *l, sqlite3_stmt *s, struct ledger_event *ret) {
        struct ledger_event ev = {};
        int64_t funded;

        ev.seq = column_u64(s, 0);
        ev.time_usec = column_u64(s, 1);
        funded = column_i64(s, 4);
        ev.owner_uid = (uint32_t) column_i64(s, 5);
        ev.balance = column_i64(s, 6);
        ev.burn_rate = column_i64(s, 8);
        ev.time_left_usec = column_u64(s, 9);
        ev.funded = funded == 1;
        if (!column_text_copy(s, 2, ev.slice, sizeof(ev.slice)) || !column_text_copy(s, 3, ev.kind, sizeof(ev.kind)) ||
            !column_text_copy(s, 7, ev.currency, sizeof(ev.currency)) ||
            !column_text_copy(s, 10, ev.reason, sizeof(ev.reason)) || (funded != 0 && funded != 1) ||
            !event_is_valid(&ev))
                return log_error_errno(EUCLEAN, "Ledger %s: event %" PRIu64 " is malformed.", l->path, ev.seq);
        *ret = ev;
        return 0;
}

/* Inside a read transaction or the batch. */
int ledger_events_read(struct ledger *l, const char *slice, int (*cb)(const struct ledger_event *ev, void *userdata),
                       void *userdata) {
        _cleanup_binder_ struct binder b = ledger_bind(l, slice ? STMT_EVENT_SLICE : STMT_EVENT_ALL);
        int r;

        if (slice)
                bind_text(&b, slice);
        while ((r = ledger_bound_row(&b, "read events")) > 0) {
                struct ledger_event ev;

                r = event_from_row(l, b.s, &ev);
                if (r < 0)
                        return r;
                r = cb(&ev, userdata);
                if (r < 0)
                        return r;
        }
        return r;
}

int ledger_event_foreach(struct ledger *l, const char *slice,
                         int (*cb)(const struct ledger_event *ev, void *userdata), void *userdata) {
        bool opened;
        int r;

        if (!l || !cb || (slice && !slice_id_is_valid(slice)))
                return -EINVAL;

        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = ledger_events_read(l, slice, cb, userdata);
        ledger_read_end(l, opened);
        return r;
}

int ledger_event_prune(struct ledger *l, uint64_t before_usec) {
        return ledger_prune(l, STMT_EVENT_PRUNE, before_usec, "prune old events");
}

/* A slice's balance and what it was charged after each of its entries
 * up to upto_seq, from its postings: the books' own figures, so a
 * history never disagrees with verify. Inside a read transaction or the
 * batch. */
int ledger_history_read(struct ledger *l, const char *slice, uint64_t upto_seq,
                        int (*cb)(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata),
                        void *userdata) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_HISTORY);
        int64_t balance = 0, spent = 0;
        int r;

        bind_text(&b, slice);
        bind_u64(&b, MIN(upto_seq, (uint64_t) INT64_MAX));
        while ((r = ledger_bound_row(&b, "read a slice's history")) > 0) {
                if (!money_add(balance, column_i64(b.s, 1), &balance) ||
                    !money_add(spent, column_i64(b.s, 2), &spent))
                        return log_error_errno(EOVERFLOW, "Ledger %s: slice %s's history overflows.", l->path,
                                               slice);
                r = cb(column_u64(b.s, 0), balance, spent, userdata);
                if (r < 0)
                        return r;
        }
        return r;
}

/* Inside one read snapshot, which is why the caller's cb may not
 * write. */
int ledger_slice_history(struct ledger *l, const char *slice,
                         int (*cb)(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata),
                         void *userdata) {
        bool opened;
        int r;

        if (!l || !cb || !slice_id_is_valid(slice))
                return -EINVAL;
        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = ledger_history_read(l, slice, UINT64_MAX, cb, userdata);
        ledger_read_end(l, opened);
        return r;
}
