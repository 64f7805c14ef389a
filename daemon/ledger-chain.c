/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The hash chain: the bytes each entry's hash covers (specified in the
 * "Ledger" section of daemon/README.md, byte for byte: keep the two in
 * step), appending an entry with its postings, and reading entries back
 * in seq order with their postings for verify and export. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"
#include "ledger-internal.h"

struct wbuf {
        uint8_t *p;
        size_t size;
        size_t len;
        bool overflow;
};

static void put_bytes(struct wbuf *w, const void *d, size_t n) {
        if (n == 0)
                return; /* d may be NULL then */
        if (w->overflow || n > w->size - w->len) {
                w->overflow = true;
                return;
        }
        memcpy(w->p + w->len, d, n);
        w->len += n;
}

static void put_u8(struct wbuf *w, uint8_t v) {
        put_bytes(w, &v, 1);
}

static void put_u64(struct wbuf *w, uint64_t v) {
        uint8_t b[8];

        for (size_t i = 0; i < 8; i++)
                b[i] = (uint8_t) (v >> (56 - 8 * i));
        put_bytes(w, b, sizeof(b));
}

/* One length byte, then the bytes. */
static void put_string(struct wbuf *w, const void *s, size_t n) {
        if (n > UINT8_MAX) {
                w->overflow = true;
                return;
        }
        put_u8(w, (uint8_t) n);
        put_bytes(w, s, n);
}

int ledger_entry_hash(const uint8_t prev[CRYPTO_SHA256_SIZE], const struct entry *e,
                      uint8_t ret[CRYPTO_SHA256_SIZE]) {
        uint8_t buf[CRYPTO_SHA256_SIZE + ENTRY_CANONICAL_MAX];
        struct wbuf w = { .p = buf, .size = sizeof(buf) };

        put_bytes(&w, prev, CRYPTO_SHA256_SIZE);
        /* Version 2 only where there is a funder to cover: an anonymous
         * credit, and every entry a ledger held before schema 3, keeps
         * the bytes it was chained with. */
        put_bytes(&w, e->funder ? "PLE\x02" : "PLE\x01", 4);
        put_u64(&w, e->seq);
        put_u64(&w, e->time_usec);
        put_string(&w, e->kind, strlen(e->kind));
        put_string(&w, e->slice, strlen(e->slice));
        put_string(&w, e->voucher, e->voucher ? VOUCHER_ID_SIZE : 0);
        put_string(&w, e->request_id, e->request_id ? strlen(e->request_id) : 0);
        if (e->funder)
                put_string(&w, e->funder, CRYPTO_PUBKEY_SIZE);
        put_u64(&w, (uint64_t) e->overshoot);
        put_u8(&w, (uint8_t) e->n_postings);
        for (size_t i = 0; i < e->n_postings; i++) {
                put_string(&w, e->postings[i].account, strlen(e->postings[i].account));
                put_u64(&w, (uint64_t) e->postings[i].amount);
        }
        if (w.overflow || e->n_postings > UINT8_MAX)
                return -ENOBUFS;

        crypto_sha256(buf, w.len, ret);
        return 0;
}

static int posting_compare(const void *a, const void *b) {
        return strcmp(((const struct posting *) a)->account, ((const struct posting *) b)->account);
}

void ledger_entry_post(struct entry *e, const char *account, int64_t amount) {
        struct posting *p = &e->postings[e->n_postings++];

        snprintf(p->account, sizeof(p->account), "%s", account);
        p->amount = amount;
}

int ledger_entry_append(struct ledger *l, struct entry *e) {
        uint8_t hash[CRYPTO_SHA256_SIZE];
        struct binder b;
        int r;

        e->seq = l->tip.seq + 1;
        /* Canonical order: by account, as verify reads them back. */
        qsort(e->postings, e->n_postings, sizeof(e->postings[0]), posting_compare);
        r = ledger_entry_hash(l->tip.hash, e, hash);
        if (r < 0)
                return log_error_errno(r, "Ledger %s: entry %" PRIu64 " does not fit its encoding.", l->path,
                                       e->seq);

        b = ledger_bind(l, STMT_ENTRY_INSERT);
        bind_u64(&b, e->seq);
        bind_u64(&b, e->time_usec);
        bind_text(&b, e->kind);
        bind_text(&b, e->slice);
        bind_blob(&b, e->voucher, VOUCHER_ID_SIZE);
        bind_text(&b, e->request_id);
        bind_i64(&b, e->overshoot);
        bind_blob(&b, l->tip.hash, sizeof(l->tip.hash));
        bind_blob(&b, hash, sizeof(hash));
        bind_blob(&b, e->funder, CRYPTO_PUBKEY_SIZE);
        r = ledger_bound_step(&b, LEDGER_STEP_DONE, "append an entry");

        for (size_t i = 0; r >= 0 && i < e->n_postings; i++) {
                b = ledger_bind(l, STMT_POSTING_INSERT);
                bind_u64(&b, e->seq);
                bind_text(&b, e->postings[i].account);
                bind_i64(&b, e->postings[i].amount);
                r = ledger_bound_step(&b, LEDGER_STEP_DONE, "add a posting");
        }
        /* Its slice's history, folded at the batch's commit (schema 10). */
        if (r >= 0)
                r = ledger_history_note(l, e);
        if (r < 0)
                return r;

        l->tip.seq = e->seq;
        memcpy(l->tip.hash, hash, sizeof(hash));
        return 0;
}

/* The last entry's seq, for a progress line only: 0 when it cannot be
 * told, which verify then finds and names itself. */
static uint64_t last_seq(struct ledger *l) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_TIP);
        int64_t seq;

        if (ledger_bound_row(&b, "read the last entry") <= 0)
                return 0;
        seq = sqlite3_column_int64(b.s, 0);
        return seq > 0 ? (uint64_t) seq : 0;
}

int ledger_entry_reader_init(struct ledger *l, struct entry_reader *ret) {
        *ret = (struct entry_reader) {
                .l = l,
                .entries = ledger_bind(l, STMT_ENTRIES_ALL),
                .postings = ledger_bind(l, STMT_POSTINGS_ALL),
        };
        if (l->progress)
                ret->total = last_seq(l);
        return ret->entries.error ?: ret->postings.error;
}

void ledger_set_progress(struct ledger *l, ledger_progress_fn fn, void *userdata) {
        l->progress = fn;
        l->progress_userdata = userdata;
}

int ledger_entry_reader_init_after(struct ledger *l, uint64_t after, struct entry_reader *ret) {
        *ret = (struct entry_reader) {
                .l = l,
                .entries = ledger_bind(l, STMT_ENTRIES_AFTER),
                .postings = ledger_bind(l, STMT_POSTINGS_AFTER),
        };
        bind_u64(&ret->entries, after);
        bind_u64(&ret->postings, after);
        return ret->entries.error ?: ret->postings.error;
}

void ledger_entry_reader_done(struct entry_reader *rd) {
        binder_reset(&rd->entries);
        binder_reset(&rd->postings);
}

static int posting_peek(struct entry_reader *rd) {
        int r;

        if (rd->posting_pending || rd->postings_done)
                return rd->posting_pending;
        r = ledger_bound_row(&rd->postings, "read postings");
        if (r < 0)
                return r;
        rd->posting_pending = r > 0;
        rd->postings_done = r == 0;
        return r;
}

static void posting_orphan(struct entry_reader *rd, uint64_t seq) {
        if (!rd->orphan) {
                rd->orphan = true;
                rd->orphan_seq = seq;
                if (!column_text_copy(rd->postings.s, 1, rd->orphan_account, sizeof(rd->orphan_account)))
                        snprintf(rd->orphan_account, sizeof(rd->orphan_account), "?");
        }
        rd->posting_pending = false;
}

/* The entry on the entries cursor into rd->e; rd->malformed says what
 * of it is out of shape, first found first. */
static void entry_from_row(struct entry_reader *rd) {
        sqlite3_stmt *s = rd->entries.s;
        int64_t seq = column_i64(s, 0);

        rd->malformed = NULL;
        rd->e = (struct entry) {
                .seq = (uint64_t) seq,
                .time_usec = column_u64(s, 1),
                .kind = rd->kind,
                .slice = rd->slice,
                .overshoot = column_i64(s, 6),
        };
        if (!column_text_copy(s, 2, rd->kind, sizeof(rd->kind)) ||
            (!streq(rd->kind, "redeem") && !streq(rd->kind, "charge") && !streq(rd->kind, "release") &&
             !streq(rd->kind, "claim") && !streq(rd->kind, "bid") && !streq(rd->kind, "award") &&
             !streq(rd->kind, "return") && !streq(rd->kind, "invest") && !streq(rd->kind, "pay") &&
             !streq(rd->kind, "payout")))
                rd->malformed = "unknown kind";
        else if (!column_text_copy(s, 3, rd->slice, sizeof(rd->slice)) || !rd->slice[0])
                rd->malformed = "slice id of a wrong length";
        else if (!column_blob_copy(s, 7, rd->prev_hash, sizeof(rd->prev_hash)) ||
                 !column_blob_copy(s, 8, rd->hash, sizeof(rd->hash)))
                rd->malformed = "hash of a wrong length";
        else if (seq < 1 || column_i64(s, 1) < 0)
                rd->malformed = "negative sequence number or time";

        if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
                if (column_blob_copy(s, 4, rd->voucher, sizeof(rd->voucher)))
                        rd->e.voucher = rd->voucher;
                else
                        rd->malformed = rd->malformed ?: "voucher id of a wrong length";
        }
        if (!rd->malformed && (rd->e.voucher != NULL) !=
                                      (streq(rd->kind, "redeem") || streq(rd->kind, "bid") || streq(rd->kind, "pay")))
                rd->malformed = "a voucher id where none belongs, or none where one does";

        if (sqlite3_column_type(s, 5) != SQLITE_NULL) {
                if (column_text_copy(s, 5, rd->request_id, sizeof(rd->request_id)) && rd->request_id[0])
                        rd->e.request_id = rd->request_id;
                else
                        rd->malformed = rd->malformed ?: "request id of a wrong length";
        }

        if (sqlite3_column_type(s, 9) != SQLITE_NULL) {
                if (column_blob_copy(s, 9, rd->funder, sizeof(rd->funder)))
                        rd->e.funder = rd->funder;
                else
                        rd->malformed = rd->malformed ?: "funder key of a wrong length";
                if (!streq(rd->kind, "redeem") && !streq(rd->kind, "claim") && !streq(rd->kind, "award") &&
                    !streq(rd->kind, "payout"))
                        rd->malformed = rd->malformed ?: "a funder where none belongs";
        } else if (streq(rd->kind, "claim") || streq(rd->kind, "payout"))
                rd->malformed = rd->malformed ?: "a claim without its funder";
}

/* The postings of rd->e, from the postings cursor: those of entries that
 * do not exist are skipped (the first is kept as the orphan). */
static int entry_take_postings(struct entry_reader *rd) {
        sqlite3_stmt *s = rd->postings.s;
        int64_t seq = (int64_t) rd->e.seq;
        int r;

        while ((r = posting_peek(rd)) > 0) {
                int64_t pseq = column_i64(s, 0);

                if (pseq < seq) {
                        posting_orphan(rd, (uint64_t) pseq);
                        continue;
                }
                if (pseq > seq)
                        break;

                if (rd->e.n_postings >= ENTRY_POSTINGS_MAX)
                        rd->malformed = rd->malformed ?: "too many postings";
                else {
                        struct posting *p = &rd->e.postings[rd->e.n_postings++];

                        if (!column_text_copy(s, 1, p->account, sizeof(p->account)))
                                rd->malformed = rd->malformed ?: "posting account of a wrong length";
                        p->amount = column_i64(s, 2);
                }
                rd->posting_pending = false;
        }
        return r;
}

int ledger_entry_reader_next(struct entry_reader *rd) {
        int r;

        r = ledger_bound_row(&rd->entries, "read entries");
        if (r == 0 && rd->l->progress)
                rd->l->progress(rd->done, rd->total, rd->l->progress_userdata);
        if (r <= 0)
                return r;
        if (rd->l->progress && ++rd->done % LEDGER_PROGRESS_EVERY == 0)
                rd->l->progress(rd->done, rd->total, rd->l->progress_userdata);
        entry_from_row(rd);
        r = entry_take_postings(rd);
        return r < 0 ? r : 1;
}

/* After the last entry: whatever postings are left belong to none. */
int ledger_entry_reader_finish(struct entry_reader *rd) {
        int r;

        for (;;) {
                r = posting_peek(rd);
                if (r <= 0)
                        return r;
                posting_orphan(rd, column_u64(rd->postings.s, 0));
        }
}

