/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ledger_export_json(): the whole ledger as one JSON object, streamed one
 * value per slice, voucher, entry and event, so that a large ledger needs
 * no more memory than a small one. Each value is built by json_build()
 * from a list of its keys and their types; the sections are a table. */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/encoding.h"
#include "common/log.h"
#include "ledger-internal.h"

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_putp)

static json_object *json_hex(const void *p, size_t n) {
        char buf[2 * CRYPTO_SHA256_SIZE + 1];

        if (n > CRYPTO_SHA256_SIZE)
                return NULL;
        return json_object_new_string(hex_encode(p, n, buf));
}

/* {"cpu": v[0], "memory": v[1], ...}, signed or not. */
static json_object *json_resources(const int64_t *v, const uint64_t *u) {
        _cleanup_json_ json_object *o = json_object_new_object();

        for (int i = 0; o && i < _RESOURCE_MAX; i++) {
                json_object *x = v ? json_object_new_int64(v[i]) : json_object_new_uint64(u[i]);

                if (!x || json_object_object_add(o, resource_to_string(i), x) < 0) {
                        json_object_put(x);
                        return NULL;
                }
        }
        return TAKE_PTR(o);
}

static int json_build(json_object **ret, const char *spec, ...);

static json_object *json_postings(const struct entry *e) {
        _cleanup_json_ json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < e->n_postings; i++) {
                json_object *p = NULL;

                if (json_build(&p, "account:s amount:i", e->postings[i].account, e->postings[i].amount) < 0 ||
                    json_object_array_add(a, p) < 0) {
                        json_object_put(p);
                        return NULL;
                }
        }
        return TAKE_PTR(a);
}

/* The next value of ap as type, in *ret: NULL for a JSON null. */
static int json_value(va_list *ap, char type, json_object **ret) {
        const void *p;
        json_object *v;
        size_t n;

        switch (type) {
        case 'i':
                v = json_object_new_int64(va_arg(*ap, int64_t));
                break;
        case 'u':
                v = json_object_new_uint64(va_arg(*ap, uint64_t));
                break;
        case 'b':
                v = json_object_new_boolean(va_arg(*ap, int));
                break;
        case 's':
                p = va_arg(*ap, const char *);
                if (!p)
                        goto null;
                v = json_object_new_string(p);
                break;
        case 'x':
                p = va_arg(*ap, const void *);
                n = va_arg(*ap, size_t);
                if (!p)
                        goto null;
                v = json_hex(p, n);
                break;
        case 'r':
                v = json_resources(va_arg(*ap, const int64_t *), NULL);
                break;
        case 'R':
                v = json_resources(NULL, va_arg(*ap, const uint64_t *));
                break;
        case 'p':
                v = json_postings(va_arg(*ap, const struct entry *));
                break;
        default:
                return -EINVAL;
        }
        if (!v)
                return -ENOMEM;
        *ret = v;
        return 0;
null:
        *ret = NULL;
        return 0;
}

/* A JSON object of the keys spec lists, in its order, as "key:type"
 * separated by spaces, with one argument after spec per key (two for x)
 * of exactly the C type its type letter names:
 *   i int64_t   u uint64_t   b bool or int
 *   s const char *, NULL for null       x const void *, size_t: hex, NULL for null
 *   r const int64_t *, R const uint64_t *: an object of one value per resource
 *   p const struct entry *: its postings, an array of {"account", "amount"} */
static int json_build(json_object **ret, const char *spec, ...) {
        _cleanup_json_ json_object *o = json_object_new_object();
        va_list ap;
        int r = 0;

        if (!o)
                return -ENOMEM;
        va_start(ap, spec);
        for (const char *p = spec; *p && r >= 0; p += strspn(p, " ")) {
                size_t n = strcspn(p, ":");
                json_object *v = NULL;
                char key[32];

                if (n >= sizeof(key) || !p[n] || !p[n + 1]) {
                        r = -EINVAL;
                        break;
                }
                memcpy(key, p, n);
                key[n] = 0;
                r = json_value(&ap, p[n + 1], &v);
                if (r >= 0 && json_object_object_add(o, key, v) < 0) {
                        json_object_put(v);
                        r = -ENOMEM;
                }
                p += n + 2;
        }
        va_end(ap);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(o);
        return 0;
}

/* Writes one element of a section's array. */
struct export_writer {
        FILE *f;
        const char *sep;
};

static int json_write(FILE *f, json_object *o, const char *sep) {
        fputs(sep, f);
        fputs(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), f);
        return ferror(f) ? -EIO : 0;
}

static int export_put(struct export_writer *w, json_object *o) {
        int r;

        r = json_write(w->f, o, w->sep);
        w->sep = ",\n";
        return r;
}

static int slice_to_json(struct ledger *l, sqlite3_stmt *s, json_object **ret) {
        struct ledger_slice sl;
        int r;

        r = ledger_slice_from_row(l, s, &sl, NULL);
        if (r < 0)
                return r;
        /* Whether change was paid, not the change voucher: that is
         * bearer money, and an export travels further than the file. */
        return json_build(ret,
                          "id:s owner_uid:i owner_hash:x state:s created_usec:u released_usec:u balance:i "
                          "credited:i refunded:i charged:r billed:R overshoot:i change_paid:b donation_model:s "
                          "held_for_funders:i claimed_by_funders:i anonymous_share:s donated:i revenue:i "
                          "invest_terms:s invest_rate:i invest_cap:i invest_entry:u invested:i earned_by_investors:i "
                          "claimed_by_investors:i",
                          sl.id, (int64_t) sl.owner_uid, sl.owner_hash, sizeof(sl.owner_hash),
                          ledger_slice_state_to_string(sl.state), sl.created_usec, sl.released_usec, sl.balance,
                          sl.credited, sl.refunded, sl.charged, sl.billed, sl.overshoot, sl.change[0] != 0,
                          donation_model_to_string(sl.donation_model), sl.held, sl.claimed,
                          sl.anonymous_to_host ? "host" : "owner", sl.donated, sl.revenue,
                          sl.invest_open ? invest_terms_to_string(sl.invest.terms) : NULL, sl.invest.rate,
                          sl.invest.cap, sl.invest_entry, sl.invested, sl.earned, sl.earned_claimed);
}

static int voucher_to_json(struct ledger *l, sqlite3_stmt *s, json_object **ret) {
        uint8_t id[VOUCHER_ID_SIZE], issuer[CRYPTO_KEY_ID_SIZE];
        char currency[CURRENCY_SIZE], slice[SLICE_ID_MAX];

        if (!column_blob_copy(s, 0, id, sizeof(id)) || !column_blob_copy(s, 1, issuer, sizeof(issuer)) ||
            !column_text_copy(s, 3, currency, sizeof(currency)) || !column_text_copy(s, 6, slice, sizeof(slice)))
                return log_error_errno(EUCLEAN, "Ledger %s: a voucher row is malformed.", l->path);
        return json_build(ret, "id:x issuer:x amount:i currency:s not_after:i redeemed_usec:u slice:s entry:i", id,
                          sizeof(id), issuer, sizeof(issuer), column_i64(s, 2), currency, column_i64(s, 4),
                          column_u64(s, 5), slice, column_i64(s, 7));
}

/* Each row of stmt, as row_to_json() makes it. */
static int export_rows(struct ledger *l, struct export_writer *w, enum stmt_id stmt, const char *what,
                       int (*row_to_json)(struct ledger *l, sqlite3_stmt *s, json_object **ret)) {
        _cleanup_binder_ struct binder b = ledger_bind(l, stmt);
        int r;

        while ((r = ledger_bound_row(&b, what)) > 0) {
                _cleanup_json_ json_object *o = NULL;

                r = row_to_json(l, b.s, &o);
                if (r >= 0)
                        r = export_put(w, o);
                if (r < 0)
                        return r;
        }
        return r;
}

static int export_slices(struct ledger *l, struct export_writer *w) {
        return export_rows(l, w, STMT_SLICE_ALL, "read slices", slice_to_json);
}

static int export_vouchers(struct ledger *l, struct export_writer *w) {
        return export_rows(l, w, STMT_VOUCHER_ALL, "read vouchers", voucher_to_json);
}

static int entry_to_json(const struct entry_reader *rd, json_object **ret) {
        const struct entry *e = &rd->e;

        if (rd->malformed)
                return log_error_errno(EUCLEAN, "Ledger %s: entry %" PRIu64 " is malformed: %s.", rd->l->path,
                                       e->seq, rd->malformed);
        return json_build(ret,
                          "seq:u time_usec:u kind:s slice:s voucher:x request_id:s funder:x overshoot:i "
                          "postings:p prev_hash:x hash:x",
                          e->seq, e->time_usec, e->kind, e->slice, e->voucher, (size_t) VOUCHER_ID_SIZE,
                          e->request_id, e->funder, (size_t) CRYPTO_PUBKEY_SIZE, e->overshoot, e, rd->prev_hash,
                          sizeof(rd->prev_hash), rd->hash, sizeof(rd->hash));
}

static int export_entries(struct ledger *l, struct export_writer *w) {
        struct entry_reader rd;
        int r;

        r = ledger_entry_reader_init(l, &rd);
        while (r >= 0 && (r = ledger_entry_reader_next(&rd)) > 0) {
                _cleanup_json_ json_object *o = NULL;

                r = entry_to_json(&rd, &o);
                if (r >= 0)
                        r = export_put(w, o);
        }
        ledger_entry_reader_done(&rd);
        return r;
}

static int event_put(const struct ledger_event *ev, void *userdata) {
        _cleanup_json_ json_object *o = NULL;
        int r;

        r = json_build(&o,
                       "seq:u time_usec:u slice:s kind:s funded:b owner_uid:i balance:i currency:s burn_rate:i "
                       "time_left_usec:u reason:s",
                       ev->seq, ev->time_usec, ev->slice, ev->kind, ev->funded, (int64_t) ev->owner_uid,
                       ev->balance, ev->currency, ev->burn_rate, ev->time_left_usec, ev->reason);
        return r < 0 ? r : export_put(userdata, o);
}

static int export_events(struct ledger *l, struct export_writer *w) {
        return ledger_events_read(l, NULL, event_put, w);
}

/* After "schema" and "books", in this order: each an array. */
static const struct export_section {
        const char *name;
        int (*write)(struct ledger *l, struct export_writer *w);
} export_sections[] = {
        { "slices", export_slices },
        { "vouchers", export_vouchers },
        { "entries", export_entries },
        { "events", export_events },
};

static int export_all(struct ledger *l, FILE *f) {
        _cleanup_json_ json_object *books_json = NULL;
        struct ledger_books b;
        int r;

        r = ledger_books_read(l, STMT_BOOKS, &b);
        if (r >= 0)
                r = json_build(&books_json, "redeemed:i held:i charged:i refunded:i held_for_funders:i "
                               "earned_by_investors:i donated:i bids_in_escrow:i bids_returned:i overshoot:i "
                               "entries:u", b.redeemed, b.held, b.charged, b.refunded, b.funders, b.earned,
                               b.donated, b.escrow, b.returned, b.overshoot, b.entries);
        if (r < 0)
                return r;
        fprintf(f, "{\"schema\":%d,", l->schema);
        r = json_write(f, books_json, "\"books\":");
        if (r < 0)
                return r;

        for (size_t i = 0; i < ARRAY_SIZE(export_sections); i++) {
                struct export_writer w = { .f = f, .sep = "\n" };

                fprintf(f, ",\n\"%s\":[", export_sections[i].name);
                r = export_sections[i].write(l, &w);
                if (r < 0)
                        return r;
                fputs("]", f);
        }
        fputs("}\n", f);
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
