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

/* The first discrepancy, in *ret: -EBADMSG (-ENOMEM). */
int ledger_discrepancy(char **ret, const char *fmt, ...) {
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
        return -EBADMSG;
}

#define discrepancy(ret, ...) ledger_discrepancy((ret), __VA_ARGS__)

static char *fmt_money(char buf[MONEY_FORMAT_MAX], int64_t v) {
        return money_format(buf, MONEY_FORMAT_MAX, v);
}

/* "<slice>:" and a key in 64 lower-case hex digits, as
 * ledger_held_account() writes it: one spelling per funder. */
static bool held_account_is_valid(const char *rest, const char *slice) {
        size_t n = strlen(slice);

        if (!strneq(rest, slice, n) || rest[n] != ':' || strlen(rest + n + 1) != 2 * CRYPTO_PUBKEY_SIZE)
                return false;
        for (const char *p = rest + n + 1; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
                        return false;
        return true;
}

/* "<slice>:" and a bid's number, as ledger_bid_account() writes it. */
static bool bid_account_is_valid(const char *rest, const char *slice) {
        size_t n = strlen(slice), d;

        if (!strneq(rest, slice, n) || rest[n] != ':')
                return false;
        rest += n + 1;
        d = strspn(rest, "0123456789");
        return d >= 1 && d <= 19 && rest[d] == 0 && rest[0] != '0';
}

static bool account_is_valid(const char *account, const char *slice) {
        if (streq(account, "vouchers") || streq(account, "refund") || streq(account, "donated") ||
            streq(account, "returned"))
                return true;
        if (strneq(account, "bid:", 4))
                return bid_account_is_valid(account + 4, slice);
        if (strneq(account, "charge:", 7))
                return resource_from_string(account + 7) >= 0;
        if (strneq(account, "slice:", 6))
                return streq(account + 6, slice);
        if (strneq(account, "held:", 5))
                return held_account_is_valid(account + 5, slice);
        if (strneq(account, "earned:", 7))
                return held_account_is_valid(account + 7, slice);
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

/* A posting whose entry does not exist, if the reader met one. */
static int verify_orphan(const struct entry_reader *rd, char **d) {
        if (!rd->orphan)
                return 0;
        return discrepancy(d, "A posting to '%s' belongs to entry %" PRIu64 ", which does not exist.",
                           rd->orphan_account, rd->orphan_seq);
}

/* Step 1, for the entry after n entries that chain to prev: its seq, its
 * shape, its hash and its link. */
static int verify_link(const struct entry_reader *rd, uint64_t n, const uint8_t prev[CRYPTO_SHA256_SIZE], char **d) {
        const struct entry *e = &rd->e;
        uint8_t hash[CRYPTO_SHA256_SIZE];

        if (e->seq != n + 1 && n == 0)
                return discrepancy(d, "Entries 1 to %" PRIu64 " are missing: the chain starts at %" PRIu64 ".",
                                   e->seq - 1, e->seq);
        if (e->seq != n + 1)
                return discrepancy(d, "Entry %" PRIu64 " is missing: entry %" PRIu64 " follows entry %" PRIu64 ".",
                                   n + 1, e->seq, n);
        if (rd->orphan)
                return verify_orphan(rd, d);
        if (rd->malformed)
                return discrepancy(d, "Entry %" PRIu64 ": malformed: %s.", e->seq, rd->malformed);
        if (ledger_entry_hash(rd->prev_hash, e, hash) < 0 || memcmp(hash, rd->hash, sizeof(hash)) != 0)
                return discrepancy(d, "Entry %" PRIu64 ": hash does not match its contents.", e->seq);
        if (memcmp(rd->prev_hash, prev, CRYPTO_SHA256_SIZE) != 0 && n == 0)
                return discrepancy(d, "Entry 1: does not start the chain (its previous hash is not zero).");
        if (memcmp(rd->prev_hash, prev, CRYPTO_SHA256_SIZE) != 0)
                return discrepancy(d, "Entry %" PRIu64 ": broken link: its previous hash is not entry %" PRIu64
                                      "'s hash.", e->seq, n);
        return 0;
}

/* Steps 1 and 2: the chain, then each entry's postings. The chain is
 * checked to its end before any sum is reported, so that the first
 * discrepancy named is the first in the order ledger.h gives. */
static int verify_chain(struct entry_reader *rd, uint64_t *ret_entries, char **d) {
        _cleanup_(freep) char *sum_error = NULL;
        uint8_t prev[CRYPTO_SHA256_SIZE] = {};
        uint64_t n = 0;
        int r;

        while ((r = ledger_entry_reader_next(rd)) > 0) {
                r = verify_link(rd, n, prev, d);
                if (r < 0)
                        return r;
                if (!sum_error && verify_postings(&rd->e, &sum_error) == -ENOMEM)
                        return -ENOMEM;
                memcpy(prev, rd->hash, sizeof(prev));
                n++;
        }
        if (r >= 0)
                r = ledger_entry_reader_finish(rd);
        if (r >= 0)
                r = verify_orphan(rd, d);
        if (r < 0)
                return r;
        if (sum_error) {
                free(*d);
                *d = TAKE_PTR(sum_error);
                return -EBADMSG;
        }
        *ret_entries = n;
        return 0;
}

static int verify_entries(struct ledger *l, uint64_t *ret_entries, char **d) {
        struct entry_reader rd;
        int r;

        r = ledger_entry_reader_init(l, &rd);
        if (r >= 0)
                r = verify_chain(&rd, ret_entries, d);
        ledger_entry_reader_done(&rd);
        return r;
}

/* Checks whose statement selects the first entry at fault: its seq, and
 * the slice (text) or voucher (blob) it names, put between before and
 * after. */
struct entry_check {
        enum stmt_id stmt;
        const char *what;
        const char *before;
        const char *after;
};

static const struct entry_check entries_of_unknown_slices = {
        STMT_VERIFY_SLICELESS_ENTRY,
        "look for entries of unknown slices",
        "slice ",
        " has no row.",
};

static const struct entry_check redeems_unrecorded = {
        STMT_VERIFY_REDEEMS,
        "match entries to their vouchers",
        "redeems voucher ",
        ", which is not recorded as spent there.",
};

static const struct entry_check claims_unrecorded = {
        STMT_VERIFY_CLAIMLESS,
        "match claims rows to their entries",
        "is the entry of the claim on slice ",
        ", but it is no claim.",
};

static const struct entry_check credits_unrecorded = {
        STMT_VERIFY_CREDITS,
        "match credits rows to their entries",
        "is a credit of slice ",
        " that the credits table does not hold as it is.",
};

static const struct entry_check payouts_unrecorded = {
        STMT_VERIFY_PAYOUTLESS,
        "match payouts rows to their entries",
        "is the entry of the payout on slice ",
        ", but it is no payout.",
};

static const struct entry_check invest_unopened = {
        STMT_VERIFY_INVEST_OPENED,
        "match investors' openings to their slices",
        "the opening of slice ",
        " to investors does not match its row.",
};

static int verify_no_entry(struct ledger *l, const struct entry_check *c, char **d) {
        _cleanup_binder_ struct binder b = ledger_bind(l, c->stmt);
        char name[MAX(VOUCHER_ID_STRING_MAX, SLICE_ID_MAX)];
        uint8_t id[VOUCHER_ID_SIZE];
        int r;

        r = ledger_bound_row(&b, c->what);
        if (r <= 0)
                return r;
        if (sqlite3_column_type(b.s, 1) == SQLITE_BLOB && column_blob_copy(b.s, 1, id, sizeof(id)))
                hex_encode(id, sizeof(id), name);
        else if (sqlite3_column_type(b.s, 1) != SQLITE_TEXT || !column_text_copy(b.s, 1, name, SLICE_ID_MAX))
                snprintf(name, sizeof(name), "?");
        return discrepancy(d, "Entry %" PRId64 ": %s%s%s", column_i64(b.s, 0), c->before, name, c->after);
}

/* Step 3: each slice row against its postings. */
static int verify_slices(struct ledger *l, char **d) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VERIFY_SLICES);
        char id[SLICE_ID_MAX], x[MONEY_FORMAT_MAX], y[MONEY_FORMAT_MAX];
        sqlite3_stmt *s;
        int r;

        while ((r = ledger_bound_row(&b, "sum the postings per slice")) > 0) {
                /* Columns: row values, then the same from postings. */
                static const char *const what[] = {
                        "balance", "credited", "refunded", "held for funders", "claimed by funders",
                        "donated to the host",
                        "revenue", "earned by investors", "claimed by investors",
                        "charged for cpu", "charged for memory",
                        "charged for net_out", "charged for net_in", "charged for io", "charged for base",
                        "overshoot",
                };
                const int n = (int) ARRAY_SIZE(what);

                s = b.s;
                if (!column_text_copy(s, 0, id, sizeof(id)))
                        snprintf(id, sizeof(id), "?");
                for (int i = 0; i < n; i++) {
                        int64_t row = column_i64(s, 1 + i), sum = column_i64(s, 1 + n + i);

                        if (row != sum)
                                return discrepancy(d, "Slice %s: %s %s in its row, %s from its %s.", id, what[i],
                                                   fmt_money(x, row), fmt_money(y, sum),
                                                   i == n - 1 ? "entries" : "postings");
                }
                if (column_i64(s, 1) < 0)
                        return discrepancy(d, "Slice %s: balance %s is negative.", id, fmt_money(x, column_i64(s, 1)));
        }
        return r < 0 ? r : verify_no_entry(l, &entries_of_unknown_slices, d);
}

/* Step 4, for the voucher row on s: its redeem entry, for the same slice
 * and amount. */
static int verify_voucher(sqlite3_stmt *s, char **d) {
        char hex[VOUCHER_ID_STRING_MAX], vslice[SLICE_ID_MAX], eslice[SLICE_ID_MAX], x[MONEY_FORMAT_MAX],
                y[MONEY_FORMAT_MAX], kind[8];
        int64_t amount = column_i64(s, 1), seq = column_i64(s, 3);
        uint8_t id[VOUCHER_ID_SIZE], eid[VOUCHER_ID_SIZE];

        if (!column_blob_copy(s, 0, id, sizeof(id)))
                return discrepancy(d, "A voucher row has an id of a wrong length.");
        hex_encode(id, sizeof(id), hex);
        if (!column_text_copy(s, 2, vslice, sizeof(vslice)))
                snprintf(vslice, sizeof(vslice), "?");

        if (sqlite3_column_type(s, 4) == SQLITE_NULL)
                return discrepancy(d, "Voucher %s: its redeem entry %" PRId64 " does not exist.", hex, seq);
        if (!column_text_copy(s, 4, kind, sizeof(kind)) ||
            !(streq(kind, "redeem") || streq(kind, "bid") || streq(kind, "pay")) ||
            !column_blob_copy(s, 6, eid, sizeof(eid)) || memcmp(id, eid, sizeof(id)) != 0)
                return discrepancy(d, "Voucher %s: entry %" PRId64 " does not redeem it.", hex, seq);
        if (!column_text_copy(s, 5, eslice, sizeof(eslice)) || !streq(vslice, eslice))
                return discrepancy(d, "Voucher %s: spent on slice %s, but entry %" PRId64 " credits %s.", hex, vslice,
                                   seq, eslice);
        if (sqlite3_column_type(s, 7) == SQLITE_NULL || column_i64(s, 7) != -amount)
                return discrepancy(d, "Voucher %s: worth %s, but entry %" PRId64 " takes %s from vouchers.", hex,
                                   fmt_money(x, amount), seq, fmt_money(y, -column_i64(s, 7)));
        return 0;
}

/* Step 4: every voucher spent has its redeem entry, and back. */
static int verify_vouchers(struct ledger *l, char **d) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VERIFY_VOUCHERS);
        int r;

        while ((r = ledger_bound_row(&b, "match vouchers to their entries")) > 0) {
                r = verify_voucher(b.s, d);
                if (r < 0)
                        return r;
        }
        return r < 0 ? r : verify_no_entry(l, &redeems_unrecorded, d);
}

static int posting_compare(const void *a, const void *b) {
        return strcmp(((const struct posting *) a)->account, ((const struct posting *) b)->account);
}

/* What a release of slice should post besides the slice's own posting,
 * by sp, in the order of their accounts (the order they are read in). */
static size_t split_postings(const char *slice, const struct ledger_split *sp, struct posting *p) {
        size_t n = 0;

        if (sp->owner > 0)
                p[n++] = (struct posting) { .account = "refund", .amount = sp->owner };
        if (sp->donated > 0)
                p[n++] = (struct posting) { .account = "donated", .amount = sp->donated };
        for (size_t i = 0; i < sp->n_shares && n < ENTRY_POSTINGS_MAX; i++)
                if (sp->shares[i].share > 0) {
                        ledger_held_account(p[n].account, slice, sp->shares[i].key);
                        p[n++].amount = sp->shares[i].share;
                }
        qsort(p, n, sizeof(*p), posting_compare);
        return n;
}

/* Step 5, for the release entry seq of slice: its postings are exactly
 * the split of unspent by model (the anonymous share the host's when
 * to_host), recomputed from the slice's credits. */
static int verify_split(struct ledger *l, uint64_t seq, const char *slice, enum donation_model model,
                        bool to_host, int64_t unspent, char **d) {
        _cleanup_(ledger_split_done) struct ledger_split sp = {};
        _cleanup_binder_ struct binder b = {};
        _cleanup_(freep) struct posting *want = NULL;
        char account[ACCOUNT_MAX], x[MONEY_FORMAT_MAX], y[MONEY_FORMAT_MAX];
        const char *m = donation_model_to_string(model);
        size_t n, i = 0;
        int r;

        r = ledger_split_read(l, slice, model, to_host, unspent, &sp);
        if (r == -EUCLEAN)
                return discrepancy(d, "Entry %" PRIu64 ": releases %s of slice %s, which its credits cannot have "
                                   "paid.", seq, fmt_money(x, unspent), slice);
        if (r < 0)
                return r;
        want = calloc(ENTRY_POSTINGS_MAX, sizeof(*want));
        if (!want)
                return -ENOMEM;
        n = split_postings(slice, &sp, want);

        b = ledger_bind(l, STMT_ENTRY_POSTINGS);
        bind_u64(&b, seq);
        while ((r = ledger_bound_row(&b, "read a release's postings")) > 0) {
                int64_t amount = column_i64(b.s, 1);

                if (!column_text_copy(b.s, 0, account, sizeof(account)))
                        snprintf(account, sizeof(account), "?");
                if (strneq(account, "slice:", 6))
                        continue; /* what was split */
                if (i >= n || !streq(account, want[i].account))
                        return discrepancy(d, "Entry %" PRIu64 ": posts %s to '%s', which the %s split of slice %s "
                                           "does not pay.", seq, fmt_money(x, amount), account, m, slice);
                if (amount != want[i].amount)
                        return discrepancy(d, "Entry %" PRIu64 ": posts %s to '%s', but the %s split of slice %s "
                                           "gives it %s.", seq, fmt_money(x, amount), account, m, slice,
                                           fmt_money(y, want[i].amount));
                i++;
        }
        if (r < 0)
                return r;
        if (i < n)
                return discrepancy(d, "Entry %" PRIu64 ": the %s split of slice %s pays %s to '%s', which it does "
                                   "not post.", seq, m, slice, fmt_money(x, want[i].amount), want[i].account);
        return 0;
}

/* Step 5: each release of a slice whose model splits its balance is the
 * split, and no other entry posts to a funder's account. */
static int verify_splits(struct ledger *l, char **d) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VERIFY_RELEASES);
        _cleanup_binder_ struct binder h = {};
        char slice[SLICE_ID_MAX], model[16], account[ACCOUNT_MAX];
        int r, m;

        while ((r = ledger_bound_row(&b, "read the releases to split")) > 0) {
                uint64_t seq = column_u64(b.s, 0);

                if (!column_text_copy(b.s, 1, slice, sizeof(slice)) ||
                    !column_text_copy(b.s, 2, model, sizeof(model)) || (m = donation_model_from_string(model)) < 0)
                        return discrepancy(d, "Entry %" PRIu64 ": its slice's row is malformed.", seq);
                r = verify_split(l, seq, slice, (enum donation_model) m, column_i64(b.s, 3) != 0,
                                 column_i64(b.s, 4), d);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        h = ledger_bind(l, STMT_VERIFY_HELD_ELSEWHERE);
        r = ledger_bound_row(&h, "look for funders' money outside a split");
        if (r <= 0)
                return r;
        if (!column_text_copy(h.s, 1, account, sizeof(account)))
                snprintf(account, sizeof(account), "?");
        return discrepancy(d, "Entry %" PRId64 ": posts to '%s', but it is no release of a slice whose model "
                           "splits its balance paying into it, nor a claim taking from it.", column_i64(h.s, 0),
                           account);
}

/* Step 6, for the claim entry on s (STMT_VERIFY_CLAIMS): its claims
 * row, for the same slice and funder and amount, and its two postings,
 * the funder's held account to the refund. */
static int verify_claim(struct ledger *l, sqlite3_stmt *s,
                        void (*account_of)(char buf[static ACCOUNT_MAX], const char *slice,
                                           const uint8_t key[CRYPTO_PUBKEY_SIZE]),
                        char **d) {
        _cleanup_binder_ struct binder b = {};
        uint8_t efunder[CRYPTO_PUBKEY_SIZE], cfunder[CRYPTO_PUBKEY_SIZE];
        char slice[SLICE_ID_MAX], cslice[SLICE_ID_MAX], account[ACCOUNT_MAX], want[ACCOUNT_MAX];
        char x[MONEY_FORMAT_MAX], y[MONEY_FORMAT_MAX];
        uint64_t seq = column_u64(s, 0);
        int64_t amount = column_i64(s, 6);
        int r;

        if (!column_text_copy(s, 1, slice, sizeof(slice)) || !column_blob_copy(s, 2, efunder, sizeof(efunder)))
                return discrepancy(d, "Entry %" PRIu64 ": a claim without its slice or funder.", seq);
        if (sqlite3_column_type(s, 3) == SQLITE_NULL)
                return discrepancy(d, "Entry %" PRIu64 ": a claim on slice %s that no %s row records.", seq,
                                   slice, account_of == ledger_held_account ? "claims" : "payouts");
        if (!column_text_copy(s, 4, cslice, sizeof(cslice)) || !streq(slice, cslice) ||
            !column_blob_copy(s, 5, cfunder, sizeof(cfunder)) || memcmp(efunder, cfunder, sizeof(efunder)) != 0)
                return discrepancy(d, "Entry %" PRIu64 ": its %s row is for another slice or funder.", seq,
                                   account_of == ledger_held_account ? "claims" : "payouts");
        if (column_i64(s, 8) != 2 || sqlite3_column_type(s, 7) == SQLITE_NULL || column_i64(s, 7) != amount)
                return discrepancy(d, "Entry %" PRIu64 ": pays %s as change, its claims row says %s.", seq,
                                   fmt_money(x, sqlite3_column_type(s, 7) == SQLITE_NULL ? 0 : column_i64(s, 7)),
                                   fmt_money(y, amount));

        /* The money comes from the claimant's own account. */
        account_of(want, slice, efunder);
        b = ledger_bind(l, STMT_ENTRY_POSTINGS);
        bind_u64(&b, seq);
        while ((r = ledger_bound_row(&b, "read a claim's postings")) > 0) {
                if (!column_text_copy(b.s, 0, account, sizeof(account)))
                        snprintf(account, sizeof(account), "?");
                if (!streq(account, "refund") && (!streq(account, want) || column_i64(b.s, 1) != -amount))
                        return discrepancy(d, "Entry %" PRIu64 ": pays %s from '%s', not from its claimant's "
                                           "share.", seq, fmt_money(x, amount), account);
        }
        return r;
}

/* Step 6: each claim entry is its claims row and back, and no funder's
 * account pays out more than was held in it. */
static int verify_claims(struct ledger *l, char **d) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VERIFY_CLAIMS);
        _cleanup_binder_ struct binder o = {};
        char account[ACCOUNT_MAX], x[MONEY_FORMAT_MAX];
        int r;

        while ((r = ledger_bound_row(&b, "match claims to their entries")) > 0) {
                r = verify_claim(l, b.s, ledger_held_account, d);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = verify_no_entry(l, &claims_unrecorded, d);
        if (r == 0)
                r = verify_no_entry(l, &credits_unrecorded, d);
        if (r < 0)
                return r;

        o = ledger_bind(l, STMT_VERIFY_OVERDRAWN);
        r = ledger_bound_row(&o, "look for funders' accounts overdrawn");
        if (r <= 0)
                return r;
        if (!column_text_copy(o.s, 0, account, sizeof(account)))
                snprintf(account, sizeof(account), "?");
        return discrepancy(d, "Account '%s' paid out %s more than was held in it.", account,
                           fmt_money(x, -column_i64(o.s, 1)));
}

/* Step 7, for the bid row on s (STMT_VERIFY_BIDS): its escrow holds what
 * its vouchers paid while it is open, and once settled, all of it went
 * out once, by the entry its row names, of the kind its state says. */
static int verify_bid(sqlite3_stmt *s, char **d) {
        char slice[SLICE_ID_MAX], state[16], kind[8] = "", x[MONEY_FORMAT_MAX], y[MONEY_FORMAT_MAX];
        uint64_t n = column_u64(s, 1), entry = column_u64(s, 4);
        int64_t amount = column_i64(s, 3), paid = column_i64(s, 5), out = column_i64(s, 8);
        bool open;

        if (!column_text_copy(s, 0, slice, sizeof(slice)) || !column_text_copy(s, 2, state, sizeof(state)))
                return discrepancy(d, "A bids row is malformed.");
        open = streq(state, "open");
        if (paid != amount || column_i64(s, 6) != 0)
                return discrepancy(d, "Bid %" PRIu64 " on slice %s: worth %s, but its vouchers paid %s into its "
                                   "escrow.", n, slice, fmt_money(x, amount), fmt_money(y, paid));
        if (open && column_i64(s, 7) != 0)
                return discrepancy(d, "Bid %" PRIu64 " on slice %s: open, but entry %" PRId64 " took its escrow.", n,
                                   slice, column_i64(s, 9));
        if (open)
                return 0;
        if (column_i64(s, 7) != 1 || out != amount)
                return discrepancy(d, "Bid %" PRIu64 " on slice %s: %s, but %" PRId64 " entries took %s of its %s "
                                   "from escrow.", n, slice, state, column_i64(s, 7), fmt_money(x, out),
                                   fmt_money(y, amount));
        if (sqlite3_column_type(s, 10) != SQLITE_NULL)
                (void) column_text_copy(s, 10, kind, sizeof(kind));
        if (column_u64(s, 9) != entry || !streq(kind, streq(state, "won") ? "award" : "return"))
                return discrepancy(d, "Bid %" PRIu64 " on slice %s: %s by entry %" PRIu64 ", but entry %" PRId64
                                   " (%s) took its escrow.", n, slice, state, entry, column_i64(s, 9),
                                   kind[0] ? kind : "none");
        return 0;
}

/* Step 7: each bid's escrow is open, credited to its slice once or
 * returned once; no escrow account without its bid; sponsorship's
 * entries post only where they belong. */
static int verify_bids(struct ledger *l, char **d) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VERIFY_BIDS);
        _cleanup_binder_ struct binder o = {};
        char account[ACCOUNT_MAX];
        int r;

        while ((r = ledger_bound_row(&b, "match bids to their escrow")) > 0) {
                r = verify_bid(b.s, d);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        o = ledger_bind(l, STMT_VERIFY_BIDLESS);
        r = ledger_bound_row(&o, "look for escrow without its bid");
        if (r < 0)
                return r;
        if (r > 0) {
                if (!column_text_copy(o.s, 1, account, sizeof(account)))
                        snprintf(account, sizeof(account), "?");
                return discrepancy(d, "Entry %" PRId64 ": posts to '%s', which no bid owns.", column_i64(o.s, 0),
                                   account);
        }
        binder_reset(&o);
        o = ledger_bind(l, STMT_VERIFY_BID_POSTINGS);
        r = ledger_bound_row(&o, "look for sponsorship's postings out of place");
        if (r <= 0)
                return r;
        if (!column_text_copy(o.s, 1, account, sizeof(account)))
                snprintf(account, sizeof(account), "?");
        return discrepancy(d, "Entry %" PRId64 ": posts to '%s', where a bid, an award or a return posts nothing "
                           "of its kind.", column_i64(o.s, 0), account);
}

/* Step 8, investors (schema 7). */

/* What the replay of one invested slice holds. */
struct replay {
        const char *slice;
        struct invest_offer offer;
        struct ledger_investor inv[LEDGER_FUNDERS_MAX];
        size_t n;
};

static int replay_find(struct replay *rp, const uint8_t *key, bool add, uint64_t seq) {
        for (size_t i = 0; i < rp->n; i++)
                if (memcmp(rp->inv[i].key, key, CRYPTO_PUBKEY_SIZE) == 0)
                        return (int) i;
        if (!add || rp->n >= LEDGER_FUNDERS_MAX)
                return -ENOENT;
        rp->inv[rp->n] = (struct ledger_investor) { .first = seq };
        memcpy(rp->inv[rp->n].key, key, CRYPTO_PUBKEY_SIZE);
        return (int) rp->n++;
}

/* The postings of entry seq, into p (at most ENTRY_POSTINGS_MAX). */
static int entry_postings(struct ledger *l, uint64_t seq, struct posting *p, size_t *ret_n) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_ENTRY_POSTINGS);
        size_t n = 0;
        int r;

        bind_u64(&b, seq);
        while ((r = ledger_bound_row(&b, "read an entry's postings")) > 0) {
                if (n >= ENTRY_POSTINGS_MAX)
                        return -E2BIG;
                if (!column_text_copy(b.s, 0, p[n].account, sizeof(p[n].account)))
                        snprintf(p[n].account, sizeof(p[n].account), "?");
                p[n++].amount = column_i64(b.s, 1);
        }
        *ret_n = n;
        return r;
}

static int64_t posting_of(const struct posting *p, size_t n, const char *account) {
        for (size_t i = 0; i < n; i++)
                if (streq(p[i].account, account))
                        return p[i].amount;
        return 0;
}

/* A pay entry of an invested slice posts exactly the split of what it
 * took from vouchers over the investors as it found them. */
static int replay_pay(struct replay *rp, uint64_t seq, const struct posting *p, size_t n, char **d) {
        struct investor_stake stakes[LEDGER_FUNDERS_MAX];
        int64_t shares[LEDGER_FUNDERS_MAX] = {}, to_investors = 0, payment = -posting_of(p, n, "vouchers");
        char account[ACCOUNT_MAX], x[MONEY_FORMAT_MAX], y[MONEY_FORMAT_MAX];
        size_t expected = 1;
        int r;

        for (size_t i = 0; i < rp->n; i++)
                stakes[i] = (struct investor_stake) { .invested = rp->inv[i].invested, .earned = rp->inv[i].earned };
        r = rp->n > 0 ? invest_split(&rp->offer, stakes, rp->n, payment, shares, &to_investors) : 0;
        if (r < 0)
                return discrepancy(d, "Entry %" PRIu64 ": a payment of %s to slice %s that its terms cannot split.",
                                   seq, fmt_money(x, payment), rp->slice);
        snprintf(account, sizeof(account), "slice:%s", rp->slice);
        if (posting_of(p, n, account) != payment - to_investors)
                return discrepancy(d, "Entry %" PRIu64 ": pays %s to slice %s, but its %s terms give it %s.", seq,
                                   fmt_money(x, posting_of(p, n, account)), rp->slice,
                                   invest_terms_to_string(rp->offer.terms), fmt_money(y, payment - to_investors));
        expected += payment - to_investors > 0;
        for (size_t i = 0; i < rp->n; i++) {
                ledger_earned_account(account, rp->slice, rp->inv[i].key);
                if (posting_of(p, n, account) != shares[i])
                        return discrepancy(d, "Entry %" PRIu64 ": posts %s to '%s', but the %s terms of slice %s "
                                           "give it %s.", seq, fmt_money(x, posting_of(p, n, account)), account,
                                           invest_terms_to_string(rp->offer.terms), rp->slice,
                                           fmt_money(y, shares[i]));
                rp->inv[i].earned += shares[i];
                expected += shares[i] > 0;
        }
        if (n != expected)
                return discrepancy(d, "Entry %" PRIu64 ": a payment to slice %s posts to an account its split does "
                                   "not pay.", seq, rp->slice);
        return 0;
}

/* One entry of an invested slice since it opened: an investment, a
 * payment or a payout. */
static int replay_entry(struct ledger *l, struct replay *rp, sqlite3_stmt *s, char **d) {
        _cleanup_(freep) struct posting *p = NULL;
        char kind[8], account[ACCOUNT_MAX];
        uint8_t key[CRYPTO_PUBKEY_SIZE];
        uint64_t seq = column_u64(s, 0);
        bool keyed;
        size_t n;
        int r, i;

        if (!column_text_copy(s, 1, kind, sizeof(kind)))
                return discrepancy(d, "Entry %" PRIu64 ": malformed: unknown kind.", seq);
        keyed = sqlite3_column_type(s, 2) == SQLITE_BLOB && column_blob_copy(s, 2, key, sizeof(key));
        if (streq(kind, "redeem") && !keyed)
                return 0; /* anonymous: no investment */
        p = calloc(ENTRY_POSTINGS_MAX, sizeof(*p));
        if (!p)
                return -ENOMEM;
        r = entry_postings(l, seq, p, &n);
        if (r < 0)
                return r == -E2BIG ? discrepancy(d, "Entry %" PRIu64 ": too many postings.", seq) : r;
        if (streq(kind, "pay"))
                return replay_pay(rp, seq, p, n, d);
        if (!keyed)
                return 0;
        i = replay_find(rp, key, streq(kind, "redeem"), seq);
        if (i < 0)
                return discrepancy(d, "Entry %" PRIu64 ": a payout to a key that did not invest in slice %s, or "
                                   "an investor past the %d a slice may have.", seq, rp->slice, LEDGER_FUNDERS_MAX);
        if (streq(kind, "redeem")) {
                snprintf(account, sizeof(account), "slice:%s", rp->slice);
                rp->inv[i].invested += posting_of(p, n, account);
        } else {
                ledger_earned_account(account, rp->slice, key);
                rp->inv[i].claimed -= posting_of(p, n, account);
        }
        return 0;
}

/* The investors table says what the replay found, row by row. */
static int replay_compare(struct ledger *l, const struct replay *rp, int64_t invested_row, char **d) {
        _cleanup_(freep) struct ledger_investor *inv = NULL;
        char x[MONEY_FORMAT_MAX], y[MONEY_FORMAT_MAX], hex[2 * CRYPTO_PUBKEY_SIZE + 1];
        int64_t invested = 0;
        size_t n = 0;
        int r;

        r = ledger_investors_read(l, rp->slice, &inv, &n);
        if (r == -EUCLEAN)
                return discrepancy(d, "Slice %s: its investors' rows are malformed.", rp->slice);
        if (r < 0)
                return r;
        if (n != rp->n)
                return discrepancy(d, "Slice %s: %zu investors in its rows, %zu from its entries.", rp->slice, n,
                                   rp->n);
        for (size_t i = 0; i < n; i++) {
                const struct ledger_investor *a = &inv[i], *b = &rp->inv[i];

                hex_encode(b->key, sizeof(b->key), hex);
                if (memcmp(a->key, b->key, sizeof(a->key)) != 0 || a->first != b->first)
                        return discrepancy(d, "Slice %s: investor %s is not where its entries put it.", rp->slice,
                                           hex);
                if (a->invested != b->invested || a->earned != b->earned || a->claimed != b->claimed)
                        return discrepancy(d, "Slice %s: investor %s invested %s and earned %s in its row, %s and "
                                           "%s from its entries (or claimed otherwise).", rp->slice, hex,
                                           fmt_money(x, a->invested), fmt_money(y, a->earned),
                                           fmt_money((char[MONEY_FORMAT_MAX]) {}, b->invested),
                                           fmt_money((char[MONEY_FORMAT_MAX]) {}, b->earned));
                (void) money_add(invested, a->invested, &invested);
        }
        if (invested != invested_row)
                return discrepancy(d, "Slice %s: invested %s in its row, %s from its investors.", rp->slice,
                                   fmt_money(x, invested_row), fmt_money(y, invested));
        return 0;
}

static int verify_invested_slice(struct ledger *l, sqlite3_stmt *s, char **d) {
        _cleanup_binder_ struct binder b = {};
        _cleanup_(freep) struct replay *rp = NULL;
        char slice[SLICE_ID_MAX], terms[16];
        int r, t;

        if (!column_text_copy(s, 0, slice, sizeof(slice)) || !column_text_copy(s, 1, terms, sizeof(terms)) ||
            (t = invest_terms_from_string(terms)) < 0)
                return discrepancy(d, "A slice row open to investors is malformed.");
        rp = calloc(1, sizeof(*rp));
        if (!rp)
                return -ENOMEM;
        rp->slice = slice;
        rp->offer = (struct invest_offer) { .terms = t, .rate = column_i64(s, 2), .cap = column_i64(s, 3) };

        b = ledger_bind(l, STMT_VERIFY_INVEST_ENTRIES);
        bind_u64(&b, column_u64(s, 4));
        bind_text(&b, slice);
        while ((r = ledger_bound_row(&b, "read an invested slice's entries")) > 0) {
                r = replay_entry(l, rp, b.s, d);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        return replay_compare(l, rp, column_i64(s, 5), d);
}

/* Each slice open to investors has its opening entry, every payment to
 * it since posts its split exactly, its investors' rows are what its
 * entries make them, every payout is its payouts row and back, and no
 * other entry posts to an investor's account. */
static int verify_investors(struct ledger *l, char **d) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_VERIFY_INVESTED);
        _cleanup_binder_ struct binder h = {}, o = {};
        char account[ACCOUNT_MAX];
        int r;

        r = verify_no_entry(l, &invest_unopened, d);
        if (r < 0)
                return r;
        while ((r = ledger_bound_row(&b, "read the slices open to investors")) > 0) {
                r = verify_invested_slice(l, b.s, d);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;

        o = ledger_bind(l, STMT_VERIFY_PAYOUTS);
        while ((r = ledger_bound_row(&o, "match payouts to their entries")) > 0) {
                r = verify_claim(l, o.s, ledger_earned_account, d);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                return r;
        r = verify_no_entry(l, &payouts_unrecorded, d);
        if (r < 0)
                return r;

        h = ledger_bind(l, STMT_VERIFY_EARNED_ELSEWHERE);
        r = ledger_bound_row(&h, "look for investors' money outside a payment");
        if (r <= 0)
                return r;
        if (!column_text_copy(h.s, 1, account, sizeof(account)))
                snprintf(account, sizeof(account), "?");
        return discrepancy(d, "Entry %" PRId64 ": posts to '%s', but it is no payment to a slice open to investors "
                           "paying into it, nor a payout taking from it.", column_i64(h.s, 0), account);
}

/* Step 9: redeemed = held + charged + refunded + held for funders +
 * earned by investors + donated to the host + bids in escrow + bids
 * returned. */
static int verify_balance(struct ledger *l, struct ledger_books *ret, char **d) {
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX], e[MONEY_FORMAT_MAX],
                g[MONEY_FORMAT_MAX], h[MONEY_FORMAT_MAX], k[MONEY_FORMAT_MAX], m[MONEY_FORMAT_MAX],
                n[MONEY_FORMAT_MAX];
        struct ledger_books books;
        int64_t out;
        int r;

        r = ledger_books_read(l, STMT_VERIFY_BOOKS, &books);
        if (r < 0)
                return r;
        if (!money_add(books.held, books.charged, &out) || !money_add(out, books.refunded, &out) ||
            !money_add(out, books.funders, &out) || !money_add(out, books.earned, &out) ||
            !money_add(out, books.donated, &out) || !money_add(out, books.escrow, &out) ||
            !money_add(out, books.returned, &out) || out != books.redeemed)
                return discrepancy(d, "Books do not balance: redeemed %s != held %s + charged %s + refunded %s + "
                                   "held for funders %s + earned by investors %s + donated %s + bids in escrow %s "
                                   "+ bids returned %s.",
                                   fmt_money(a, books.redeemed), fmt_money(b, books.held),
                                   fmt_money(c, books.charged), fmt_money(e, books.refunded),
                                   fmt_money(g, books.funders), fmt_money(n, books.earned),
                                   fmt_money(m, books.donated), fmt_money(h, books.escrow),
                                   fmt_money(k, books.returned));
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
                r = verify_splits(l, &d);
        if (r >= 0)
                r = verify_claims(l, &d);
        if (r >= 0)
                r = verify_bids(l, &d);
        if (r >= 0)
                r = verify_investors(l, &d);
        if (r >= 0)
                r = verify_balance(l, &books, &d);
        if (r >= 0)
                r = ledger_history_verify(l, &d);
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

