/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ledger_verify(): the checks ledger.h lists, in its order, on one
 * snapshot, stopping at the first discrepancy. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/money.h"
#include "ledger-internal.h"

_printf_(2, 3) static int set_sentence(char **ret, const char *fmt, ...) {
        va_list ap;
        char *s;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (k < 0)
                return -ENOMEM;
        free(*ret);
        *ret = s;
        return 0;
}

/* The first discrepancy, -EBADMSG. */
#define discrepancy(ret, ...) (set_sentence((ret), __VA_ARGS__) < 0 ? -ENOMEM : -EBADMSG)

static char *fmt_money(char buf[MONEY_FORMAT_MAX], int64_t v) {
        return money_format(buf, MONEY_FORMAT_MAX, v);
}

static bool account_is_valid(const char *account, const char *slice) {
        if (streq(account, "vouchers") || streq(account, "refund"))
                return true;
        if (strneq(account, "charge:", 7))
                return resource_from_string(account + 7) >= 0;
        if (strneq(account, "slice:", 6))
                return streq(account + 6, slice);
        return false;
}

/* Step 2, for one entry: 0, or the sentence in *d. */
static int verify_postings(const struct entry *e, char **d) {
        char a[MONEY_FORMAT_MAX];
        int64_t sum = 0;

        for (size_t i = 0; i < e->n_postings; i++) {
                if (!account_is_valid(e->postings[i].account, e->slice))
                        return discrepancy(d, "Entry %" PRIu64 ": posts to '%s', not an account of slice %s.",
                                           e->seq, e->postings[i].account, e->slice);
                if (!money_add(sum, e->postings[i].amount, &sum))
                        return discrepancy(d, "Entry %" PRIu64 ": postings overflow when summed.", e->seq);
        }
        if (sum != 0)
                return discrepancy(d, "Entry %" PRIu64 ": postings sum to %s, not 0.", e->seq, fmt_money(a, sum));
        return 0;
}

/* Steps 1 and 2: the chain, then each entry's postings. The chain is
 * checked to its end before any sum is reported, so that the first
 * discrepancy named is the first in the order ledger.h gives. */
static int verify_entries(struct ledger *l, uint64_t *ret_entries, char **d) {
        _cleanup_(freep) char *sum_error = NULL;
        uint8_t prev[CRYPTO_SHA256_SIZE] = {}, hash[CRYPTO_SHA256_SIZE];
        struct entry_reader rd;
        uint64_t n = 0;
        int r;

        r = ledger_entry_reader_init(l, &rd);
        if (r < 0)
                return r;

        while ((r = ledger_entry_reader_next(&rd)) > 0) {
                const struct entry *e = &rd.e;

                if (e->seq != n + 1) {
                        if (n == 0)
                                r = discrepancy(d, "Entries 1 to %" PRIu64 " are missing: the chain starts at %"
                                                   PRIu64 ".", e->seq - 1, e->seq);
                        else
                                r = discrepancy(d, "Entry %" PRIu64 " is missing: entry %" PRIu64
                                                   " follows entry %" PRIu64 ".", n + 1, e->seq, n);
                        goto out;
                }
                if (rd.orphan) {
                        r = discrepancy(d, "A posting to '%s' belongs to entry %" PRIu64 ", which does not exist.",
                                        rd.orphan_account, rd.orphan_seq);
                        goto out;
                }
                if (rd.malformed) {
                        r = discrepancy(d, "Entry %" PRIu64 ": malformed: %s.", e->seq, rd.malformed);
                        goto out;
                }
                if (ledger_entry_hash(rd.prev_hash, e, hash) < 0 || memcmp(hash, rd.hash, sizeof(hash)) != 0) {
                        r = discrepancy(d, "Entry %" PRIu64 ": hash does not match its contents.", e->seq);
                        goto out;
                }
                if (memcmp(rd.prev_hash, prev, sizeof(prev)) != 0) {
                        if (n == 0)
                                r = discrepancy(d, "Entry 1: does not start the chain "
                                                   "(its previous hash is not zero).");
                        else
                                r = discrepancy(d, "Entry %" PRIu64 ": broken link: its previous hash is not entry %"
                                                   PRIu64 "'s hash.", e->seq, n);
                        goto out;
                }
                if (!sum_error) {
                        r = verify_postings(e, &sum_error);
                        if (r == -ENOMEM)
                                goto out;
                }
                memcpy(prev, rd.hash, sizeof(prev));
                n++;
        }
        if (r < 0)
                goto out;

        r = ledger_entry_reader_finish(&rd);
        if (r < 0)
                goto out;
        if (rd.orphan) {
                r = discrepancy(d, "A posting to '%s' belongs to entry %" PRIu64 ", which does not exist.",
                                rd.orphan_account, rd.orphan_seq);
                goto out;
        }
        if (sum_error) {
                free(*d);
                *d = TAKE_PTR(sum_error);
                r = -EBADMSG;
                goto out;
        }
        *ret_entries = n;
        r = 0;
out:
        ledger_entry_reader_done(&rd);
        return r;
}

/* Step 3: each slice row against its postings. */
static int verify_slices(struct ledger *l, char **d) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        char id[SLICE_ID_MAX], a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX];
        int r;

        r = ledger_stmt_get(l, STMT_VERIFY_SLICES, &s);
        if (r < 0)
                return r;
        while ((r = ledger_step_row(l, s, "sum the postings per slice")) > 0) {
                /* Columns: row values, then the same from postings. */
                static const char *const what[] = {
                        "balance", "credited", "refunded", "charged for cpu", "charged for memory",
                        "charged for net_out", "charged for net_in", "charged for io", "charged for base",
                        "overshoot",
                };
                const int n = (int) ARRAY_SIZE(what);

                if (!column_text_copy(s, 0, id, sizeof(id)))
                        snprintf(id, sizeof(id), "?");
                for (int i = 0; i < n; i++) {
                        int64_t row = column_i64(s, 1 + i), sum = column_i64(s, 1 + n + i);

                        if (row != sum)
                                return discrepancy(d, "Slice %s: %s %s in its row, %s from its %s.", id, what[i],
                                                   fmt_money(a, row), fmt_money(b, sum),
                                                   i == n - 1 ? "entries" : "postings");
                }
                if (column_i64(s, 1) < 0)
                        return discrepancy(d, "Slice %s: balance %s is negative.", id, fmt_money(a, column_i64(s, 1)));
        }
        if (r < 0)
                return r;
        sqlite3_reset(TAKE_PTR(s));

        r = ledger_stmt_get(l, STMT_VERIFY_SLICELESS_ENTRY, &s);
        if (r < 0)
                return r;
        r = ledger_step_row(l, s, "look for entries of unknown slices");
        if (r > 0) {
                if (!column_text_copy(s, 1, id, sizeof(id)))
                        snprintf(id, sizeof(id), "?");
                return discrepancy(d, "Entry %" PRId64 ": slice %s has no row.", column_i64(s, 0), id);
        }
        return r;
}

/* Step 4: every voucher spent has its redeem entry, and back. */
static int verify_vouchers(struct ledger *l, char **d) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        char hex[VOUCHER_ID_STRING_MAX], vslice[SLICE_ID_MAX], eslice[SLICE_ID_MAX], a[MONEY_FORMAT_MAX],
                b[MONEY_FORMAT_MAX];
        uint8_t id[VOUCHER_ID_SIZE], eid[VOUCHER_ID_SIZE];
        int r;

        r = ledger_stmt_get(l, STMT_VERIFY_VOUCHERS, &s);
        if (r < 0)
                return r;
        while ((r = ledger_step_row(l, s, "match vouchers to their entries")) > 0) {
                int64_t amount = column_i64(s, 1), seq = column_i64(s, 3);
                char kind[8];

                if (!column_blob_copy(s, 0, id, sizeof(id)))
                        return discrepancy(d, "A voucher row has an id of a wrong length.");
                hex_encode(id, sizeof(id), hex);
                if (!column_text_copy(s, 2, vslice, sizeof(vslice)))
                        snprintf(vslice, sizeof(vslice), "?");

                if (sqlite3_column_type(s, 4) == SQLITE_NULL)
                        return discrepancy(d, "Voucher %s: its redeem entry %" PRId64 " does not exist.", hex, seq);
                if (!column_text_copy(s, 4, kind, sizeof(kind)) || !streq(kind, "redeem") ||
                    !column_blob_copy(s, 6, eid, sizeof(eid)) || memcmp(id, eid, sizeof(id)) != 0)
                        return discrepancy(d, "Voucher %s: entry %" PRId64 " does not redeem it.", hex, seq);
                if (!column_text_copy(s, 5, eslice, sizeof(eslice)) || !streq(vslice, eslice))
                        return discrepancy(d, "Voucher %s: spent on slice %s, but entry %" PRId64 " credits %s.", hex,
                                           vslice, seq, eslice);
                if (sqlite3_column_type(s, 7) == SQLITE_NULL || column_i64(s, 7) != -amount)
                        return discrepancy(d, "Voucher %s: worth %s, but entry %" PRId64 " takes %s from vouchers.",
                                           hex, fmt_money(a, amount), seq, fmt_money(b, -column_i64(s, 7)));
        }
        if (r < 0)
                return r;
        sqlite3_reset(TAKE_PTR(s));

        r = ledger_stmt_get(l, STMT_VERIFY_REDEEMS, &s);
        if (r < 0)
                return r;
        r = ledger_step_row(l, s, "match entries to their vouchers");
        if (r > 0) {
                if (column_blob_copy(s, 1, id, sizeof(id)))
                        hex_encode(id, sizeof(id), hex);
                else
                        snprintf(hex, sizeof(hex), "?");
                return discrepancy(d, "Entry %" PRId64 ": redeems voucher %s, which is not recorded as spent there.",
                                   column_i64(s, 0), hex);
        }
        return r;
}

/* Step 5: redeemed = held + charged + refunded. */
static int verify_balance(struct ledger *l, struct ledger_books *ret, char **d) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX], e[MONEY_FORMAT_MAX];
        struct ledger_books books = {};
        int64_t out;
        int r;

        r = ledger_stmt_get(l, STMT_VERIFY_BOOKS, &s);
        if (r < 0)
                return r;
        r = ledger_step_row(l, s, "sum the books");
        if (r <= 0)
                return r < 0 ? r : -EIO;
        books.redeemed = column_i64(s, 0);
        books.held = column_i64(s, 1);
        books.charged = column_i64(s, 2);
        books.refunded = column_i64(s, 3);
        books.overshoot = column_i64(s, 4);

        if (!money_add(books.held, books.charged, &out) || !money_add(out, books.refunded, &out) ||
            out != books.redeemed)
                return discrepancy(d, "Books do not balance: redeemed %s != held %s + charged %s + refunded %s.",
                                   fmt_money(a, books.redeemed), fmt_money(b, books.held),
                                   fmt_money(c, books.charged), fmt_money(e, books.refunded));
        *ret = books;
        return 0;
}

int ledger_verify_books(struct ledger *l, struct ledger_books *ret_books, char **ret_discrepancy) {
        _cleanup_(freep) char *d = NULL;
        struct ledger_books books = {};
        uint64_t entries = 0;
        bool opened;
        int r;

        if (!l)
                return -EINVAL;

        r = ledger_read_begin(l, &opened);
        if (r < 0)
                return r;
        r = verify_entries(l, &entries, &d);
        if (r >= 0)
                r = verify_slices(l, &d);
        if (r >= 0)
                r = verify_vouchers(l, &d);
        if (r >= 0)
                r = verify_balance(l, &books, &d);
        ledger_read_end(l, opened);

        if (r == -EBADMSG && ret_discrepancy)
                *ret_discrepancy = TAKE_PTR(d);
        if (r < 0)
                return r;

        books.entries = entries;
        if (ret_books)
                *ret_books = books;
        return 0;
}

int ledger_verify(struct ledger *l, char **ret_discrepancy) {
        return ledger_verify_books(l, NULL, ret_discrepancy);
}

