/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ledger_export_json(): the whole ledger as one JSON object. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>

#include "common/encoding.h"
#include "common/log.h"
#include "ledger-internal.h"

/* Export: streamed, one JSON value per slice, voucher and entry, so that
 * a large ledger needs no more memory than a small one. */

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static int json_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int json_add_null(json_object *o, const char *key) {
        return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
}

static json_object *json_hex(const void *p, size_t n) {
        char buf[2 * CRYPTO_SHA256_SIZE + 1];

        if (n > CRYPTO_SHA256_SIZE)
                return NULL;
        return json_object_new_string(hex_encode(p, n, buf));
}

static int json_write(FILE *f, json_object *o, const char *sep) {
        fputs(sep, f);
        fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f);
        return ferror(f) ? -EIO : 0;
}

static int export_books(const struct ledger_books *books, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        int r = 0;

        if (!o)
                return -ENOMEM;
        r = r ?: json_add(o, "redeemed", json_object_new_int64(books->redeemed));
        r = r ?: json_add(o, "held", json_object_new_int64(books->held));
        r = r ?: json_add(o, "charged", json_object_new_int64(books->charged));
        r = r ?: json_add(o, "refunded", json_object_new_int64(books->refunded));
        r = r ?: json_add(o, "overshoot", json_object_new_int64(books->overshoot));
        r = r ?: json_add(o, "entries", json_object_new_uint64(books->entries));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int export_slice(const struct ledger_slice *sl, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object(), *charged = json_object_new_object(),
                                   *billed = json_object_new_object();
        int r = 0;

        if (!o || !charged || !billed)
                return -ENOMEM;
        for (int i = 0; i < _RESOURCE_MAX && r >= 0; i++) {
                r = json_add(charged, resource_to_string(i), json_object_new_int64(sl->charged[i]));
                r = r ?: json_add(billed, resource_to_string(i), json_object_new_uint64(sl->billed[i]));
        }
        r = r ?: json_add(o, "id", json_object_new_string(sl->id));
        r = r ?: json_add(o, "owner_uid", json_object_new_int64(sl->owner_uid));
        r = r ?: json_add(o, "owner_hash", json_hex(sl->owner_hash, sizeof(sl->owner_hash)));
        r = r ?: json_add(o, "state", json_object_new_string(ledger_slice_state_to_string(sl->state)));
        r = r ?: json_add(o, "created_usec", json_object_new_uint64(sl->created_usec));
        r = r ?: json_add(o, "released_usec", json_object_new_uint64(sl->released_usec));
        r = r ?: json_add(o, "balance", json_object_new_int64(sl->balance));
        r = r ?: json_add(o, "credited", json_object_new_int64(sl->credited));
        r = r ?: json_add(o, "refunded", json_object_new_int64(sl->refunded));
        r = r ?: json_add(o, "charged", TAKE_PTR(charged));
        r = r ?: json_add(o, "billed", TAKE_PTR(billed));
        r = r ?: json_add(o, "overshoot", json_object_new_int64(sl->overshoot));
        /* Whether change was paid, not the change voucher: that is
         * bearer money, and an export travels further than the file. */
        r = r ?: json_add(o, "change_paid", json_object_new_boolean(sl->change[0] != 0));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int export_voucher(struct ledger *l, sqlite3_stmt *s, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        uint8_t id[VOUCHER_ID_SIZE], issuer[CRYPTO_KEY_ID_SIZE];
        char currency[CURRENCY_SIZE], slice[SLICE_ID_MAX];
        int r = 0;

        if (!o)
                return -ENOMEM;
        if (!column_blob_copy(s, 0, id, sizeof(id)) || !column_blob_copy(s, 1, issuer, sizeof(issuer)) ||
            !column_text_copy(s, 3, currency, sizeof(currency)) || !column_text_copy(s, 6, slice, sizeof(slice)))
                return log_error_errno(EUCLEAN, "Ledger %s: a voucher row is malformed.", l->path);

        r = r ?: json_add(o, "id", json_hex(id, sizeof(id)));
        r = r ?: json_add(o, "issuer", json_hex(issuer, sizeof(issuer)));
        r = r ?: json_add(o, "amount", json_object_new_int64(column_i64(s, 2)));
        r = r ?: json_add(o, "currency", json_object_new_string(currency));
        r = r ?: json_add(o, "not_after", json_object_new_int64(column_i64(s, 4)));
        r = r ?: json_add(o, "redeemed_usec", json_object_new_uint64(column_u64(s, 5)));
        r = r ?: json_add(o, "slice", json_object_new_string(slice));
        r = r ?: json_add(o, "entry", json_object_new_int64(column_i64(s, 7)));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int export_entry(const struct entry_reader *rd, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object(), *postings = json_object_new_array();
        const struct entry *e = &rd->e;
        int r = 0;

        if (!o || !postings)
                return -ENOMEM;
        for (size_t i = 0; i < e->n_postings && r >= 0; i++) {
                _cleanup_json_ json_object *p = json_object_new_object();

                if (!p)
                        return -ENOMEM;
                r = json_add(p, "account", json_object_new_string(e->postings[i].account));
                r = r ?: json_add(p, "amount", json_object_new_int64(e->postings[i].amount));
                if (r >= 0 && json_object_array_add(postings, p) < 0)
                        r = -ENOMEM;
                if (r >= 0)
                        p = NULL;
        }
        r = r ?: json_add(o, "seq", json_object_new_uint64(e->seq));
        r = r ?: json_add(o, "time_usec", json_object_new_uint64(e->time_usec));
        r = r ?: json_add(o, "kind", json_object_new_string(e->kind));
        r = r ?: json_add(o, "slice", json_object_new_string(e->slice));
        r = r ?: (e->voucher ? json_add(o, "voucher", json_hex(e->voucher, VOUCHER_ID_SIZE))
                             : json_add_null(o, "voucher"));
        r = r ?: (e->request_id ? json_add(o, "request_id", json_object_new_string(e->request_id))
                                : json_add_null(o, "request_id"));
        r = r ?: json_add(o, "overshoot", json_object_new_int64(e->overshoot));
        r = r ?: json_add(o, "postings", TAKE_PTR(postings));
        r = r ?: json_add(o, "prev_hash", json_hex(rd->prev_hash, sizeof(rd->prev_hash)));
        r = r ?: json_add(o, "hash", json_hex(rd->hash, sizeof(rd->hash)));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

static int export_event(const struct ledger_event *ev, json_object **ret) {
        _cleanup_json_ json_object *o = json_object_new_object();
        int r = 0;

        if (!o)
                return -ENOMEM;
        r = r ?: json_add(o, "seq", json_object_new_uint64(ev->seq));
        r = r ?: json_add(o, "time_usec", json_object_new_uint64(ev->time_usec));
        r = r ?: json_add(o, "slice", json_object_new_string(ev->slice));
        r = r ?: json_add(o, "kind", json_object_new_string(ev->kind));
        r = r ?: json_add(o, "funded", json_object_new_boolean(ev->funded));
        r = r ?: json_add(o, "owner_uid", json_object_new_int64(ev->owner_uid));
        r = r ?: json_add(o, "balance", json_object_new_int64(ev->balance));
        r = r ?: json_add(o, "currency", json_object_new_string(ev->currency));
        r = r ?: json_add(o, "burn_rate", json_object_new_int64(ev->burn_rate));
        r = r ?: json_add(o, "time_left_usec", json_object_new_uint64(ev->time_left_usec));
        r = r ?: json_add(o, "reason", json_object_new_string(ev->reason));
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

struct export_events {
        FILE *f;
        const char *sep;
};

static int export_event_cb(const struct ledger_event *ev, void *userdata) {
        _cleanup_json_ json_object *o = NULL;
        struct export_events *x = userdata;
        int r;

        r = export_event(ev, &o);
        if (r >= 0)
                r = json_write(x->f, o, x->sep);
        x->sep = ",\n";
        return r;
}

static int export_all(struct ledger *l, FILE *f) {
        struct export_events x = { .f = f, .sep = "\n" };
        _cleanup_json_ json_object *books_json = NULL;
        struct ledger_books books;
        struct entry_reader rd;
        sqlite3_stmt *s;
        const char *sep;
        int r;

        r = ledger_books_read(l, &books);
        if (r < 0)
                return r;
        r = export_books(&books, &books_json);
        if (r < 0)
                return r;
        fprintf(f, "{\"schema\":%d,", l->schema);
        r = json_write(f, books_json, "\"books\":");
        if (r < 0)
                return r;

        fputs(",\n\"slices\":[", f);
        r = ledger_stmt_get(l, STMT_SLICE_ALL, &s);
        if (r < 0)
                return r;
        sep = "\n";
        while ((r = ledger_step_row(l, s, "read slices")) > 0) {
                _cleanup_json_ json_object *o = NULL;
                struct ledger_slice sl;

                r = ledger_slice_from_row(l, s, &sl, NULL);
                if (r >= 0)
                        r = export_slice(&sl, &o);
                if (r >= 0)
                        r = json_write(f, o, sep);
                if (r < 0)
                        break;
                sep = ",\n";
        }
        sqlite3_reset(s);
        if (r < 0)
                return r;

        fputs("],\n\"vouchers\":[", f);
        r = ledger_stmt_get(l, STMT_VOUCHER_ALL, &s);
        if (r < 0)
                return r;
        sep = "\n";
        while ((r = ledger_step_row(l, s, "read vouchers")) > 0) {
                _cleanup_json_ json_object *o = NULL;

                r = export_voucher(l, s, &o);
                if (r >= 0)
                        r = json_write(f, o, sep);
                if (r < 0)
                        break;
                sep = ",\n";
        }
        sqlite3_reset(s);
        if (r < 0)
                return r;

        fputs("],\n\"entries\":[", f);
        r = ledger_entry_reader_init(l, &rd);
        sep = "\n";
        while (r >= 0 && (r = ledger_entry_reader_next(&rd)) > 0) {
                _cleanup_json_ json_object *o = NULL;

                if (rd.malformed) {
                        r = log_error_errno(EUCLEAN, "Ledger %s: entry %" PRIu64 " is malformed: %s.", l->path,
                                            rd.e.seq, rd.malformed);
                        break;
                }
                r = export_entry(&rd, &o);
                if (r >= 0)
                        r = json_write(f, o, sep);
                if (r < 0)
                        break;
                sep = ",\n";
        }
        ledger_entry_reader_done(&rd);
        if (r < 0)
                return r;

        fputs("],\n\"events\":[", f);
        r = ledger_events_read(l, NULL, export_event_cb, &x);
        if (r < 0)
                return r;
        fputs("]}\n", f);
        return 0;
}

int ledger_export_json(struct ledger *l, FILE *f) {
        bool opened;
        int r;

        if (!l || !f)
                return -EINVAL;

        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = export_all(l, f);
        ledger_read_end(l, opened);
        if (r < 0)
                return r;
        if (fflush(f) != 0 || ferror(f))
                return -errno ?: -EIO;
        return 0;
}
