/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the ledger*.c files share, and nothing outside them includes: the
 * handle, the statements, the SQLite plumbing and the chain's entries.
 * SQLite stays behind ledger.h.
 *
 *   ledger.c         the handle: open, schema migrations, statements,
 *                    transactions and savepoints, close
 *   ledger-chain.c   the hash chain: an entry's bytes, appending one,
 *                    reading them back with their postings
 *   ledger-books.c   slices, vouchers, the writes that move money,
 *                    idempotent requests, the books' sums
 *   ledger-sponsor.c sponsorship: offers, bids in escrow, their
 *                    settlement (schema 6)
 *   ledger-invest.c  investors: the opening, investments, payments
 *                    split by the terms, payouts (schema 7)
 *   ledger-events.c  the events table beside the books
 *   ledger-history.c a slice's history folded as its entries are
 *                    written, beside the books (schema 10)
 *   ledger-verify.c  ledger_verify()
 *   ledger-export.c  ledger_export_json()
 *   ledger-fleet.c   the fleet database (PostgreSQL, the only file that
 *                    includes libpq): claims, shipping, fleet verify;
 *                    and the intents table beside the books (schema 8) */

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/chart.h"
#include "common/request.h"
#include "common/util.h"
#include "ledger.h"

#define LEDGER_REQUEST_ID_MAX REQUEST_ID_MAX
#define LEDGER_OP_MAX 32
/* "held:" SLICE_ID ":" and 64 hex digits, the longest account. */
#define ACCOUNT_MAX 96
/* A charge posts to the slice and to each resource, a release to the
 * slice, the refund and each keyed funder (LEDGER_FUNDERS_MAX); verify
 * reads what is stored, which may be anything, so it takes more before
 * it calls an entry malformed. */
#define ENTRY_POSTINGS_MAX 64
#define ENTRY_CANONICAL_MAX 8192

/* Per resource, in enum order, the way the columns are spelled. */
#define RESOURCE_COLUMNS(p) p "cpu, " p "memory, " p "net_out, " p "net_in, " p "io, " p "base"

/* The columns STMT_SLICE_* select, and where each is. */
#define SLICE_COLUMNS                                                                                  \
        "id, owner_uid, owner_hash, state, created_usec, released_usec, balance, credited, refunded, " \
        RESOURCE_COLUMNS("charged_") ", " RESOURCE_COLUMNS("billed_") ", overshoot, change, num, donation_model, held, claimed, " \
        "anonymous_share, donated, revenue, invested, earned, earned_claimed, invest_terms, invest_rate, invest_cap, "     \
        "invest_entry"
enum {
        SLICE_COL_ID,
        SLICE_COL_OWNER_UID,
        SLICE_COL_OWNER_HASH,
        SLICE_COL_STATE,
        SLICE_COL_CREATED,
        SLICE_COL_RELEASED,
        SLICE_COL_BALANCE,
        SLICE_COL_CREDITED,
        SLICE_COL_REFUNDED,
        SLICE_COL_CHARGED,
        SLICE_COL_BILLED = SLICE_COL_CHARGED + _RESOURCE_MAX,
        SLICE_COL_OVERSHOOT = SLICE_COL_BILLED + _RESOURCE_MAX,
        SLICE_COL_CHANGE,
        SLICE_COL_NUM,
        SLICE_COL_DONATION_MODEL,
        SLICE_COL_HELD,
        SLICE_COL_CLAIMED,
        SLICE_COL_ANONYMOUS_SHARE,
        SLICE_COL_DONATED,
        SLICE_COL_REVENUE,
        SLICE_COL_INVESTED,
        SLICE_COL_EARNED,
        SLICE_COL_EARNED_CLAIMED,
        SLICE_COL_INVEST_TERMS,
        SLICE_COL_INVEST_RATE,
        SLICE_COL_INVEST_CAP,
        SLICE_COL_INVEST_ENTRY,
};

/* The columns STMT_SPONSOR_* and STMT_BID* select (ledger-sponsor.c
 * reads them in this order). */
#define SPONSOR_COLUMNS "slice, period_usec, min, start_usec, settled_usec, offered_usec"
#define BID_COLUMNS                                                                                        \
        "slice, n, time_usec, start_usec, end_usec, amount, name, url, funder, state, settled_entry, " \
        "settled_usec, change"

/* A stored history bucket's columns (schema 10), as STMT_HISTORY_TAIL
 * and STMT_HISTORY_SUMMARY select them after origin, width and n (names
 * of that table alone, so that they need no prefix in a join). */
#define HISTORY_BUCKET_COLUMNS                                                                        \
        "idx, low_time, low_balance, low_spent, high_time, high_balance, high_spent, last_time, " \
        "last_balance, last_spent"

/* Every statement, prepared once (on first use) and kept. */
enum stmt_id {
        STMT_BEGIN_WRITE,
        STMT_BEGIN_READ,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_SAVEPOINT,
        STMT_RELEASE,
        STMT_ROLLBACK_TO,
        STMT_TIP,
        STMT_SLICE_INSERT,
        STMT_SLICE_GET,
        STMT_SLICE_NEXT_OPEN,
        STMT_SLICE_ALL,
        STMT_SLICE_CREDIT,
        STMT_SLICE_CHARGE,
        STMT_SLICE_RELEASE,
        STMT_SLICE_STATE,
        STMT_VOUCHER_GET,
        STMT_VOUCHER_INSERT,
        STMT_VOUCHER_ALL,
        STMT_ENTRY_INSERT,
        STMT_POSTING_INSERT,
        STMT_REQUEST_GET,
        STMT_REQUEST_INSERT,
        STMT_REQUEST_PRUNE,
        STMT_EVENT_PRUNE,
        STMT_BOOKS,
        STMT_ENTRIES_ALL,
        STMT_POSTINGS_ALL,
        STMT_VERIFY_SLICES,
        STMT_VERIFY_SLICELESS_ENTRY,
        STMT_VERIFY_VOUCHERS,
        STMT_VERIFY_REDEEMS,
        STMT_VERIFY_BOOKS,
        STMT_EVENT_INSERT,
        STMT_EVENT_ALL,
        STMT_EVENT_SLICE,
        STMT_HISTORY,
        STMT_SLICE_CREDITS,
        STMT_SLICE_FUNDERS,
        STMT_CREDIT_INSERT,
        STMT_VERIFY_CREDITS,
        STMT_VERIFY_RELEASES,
        STMT_VERIFY_HELD_ELSEWHERE,
        STMT_ENTRY_POSTINGS,
        STMT_CLAIM_GET,
        STMT_CLAIM_INSERT,
        STMT_SLICE_CLAIM,
        STMT_SLICE_CLAIMS,
        STMT_VERIFY_CLAIMS,
        STMT_VERIFY_CLAIMLESS,
        STMT_VERIFY_OVERDRAWN,
        STMT_SPONSOR_GET,
        STMT_SPONSOR_PUT,
        STMT_SPONSOR_SETTLED,
        STMT_SPONSOR_ALL,
        STMT_BID_GET,
        STMT_BID_NEXT,
        STMT_BID_INSERT,
        STMT_BID_SETTLE,
        STMT_BIDS_OPEN,
        STMT_BID_CURRENT,
        STMT_VERIFY_BIDS,
        STMT_VERIFY_BIDLESS,
        STMT_VERIFY_BID_POSTINGS,
        STMT_SLICE_INVEST_OPEN,
        STMT_INVESTORS_OF,
        STMT_INVESTOR_ADD,
        STMT_INVESTOR_SET,
        STMT_SLICE_INVESTED,
        STMT_SLICE_PAY,
        STMT_SLICE_PAYOUT,
        STMT_PAYOUT_INSERT,
        STMT_VERIFY_INVESTED,
        STMT_VERIFY_INVEST_ENTRIES,
        STMT_VERIFY_INVEST_OPENED,
        STMT_VERIFY_EARNED_ELSEWHERE,
        STMT_VERIFY_PAYOUTS,
        STMT_VERIFY_PAYOUTLESS,
        STMT_ENTRIES_AFTER,
        STMT_POSTINGS_AFTER,
        STMT_INTENT_INSERT,
        STMT_INTENT_DELETE,
        STMT_INTENT_GET,
        STMT_INTENT_ALL,
        STMT_HISTORY_TAIL,
        STMT_HISTORY_SUMMARY,
        STMT_HISTORY_HEAD_PUT,
        STMT_HISTORY_BUCKET_PUT,
        STMT_HISTORY_BUCKETS_DELETE,
        STMT_HISTORY_SLICES,
        STMT_VERIFY_HISTORY_STRAYS,
        _STMT_MAX,
};

/* The last entry of the chain. */
struct tip {
        uint64_t seq;
        uint8_t hash[CRYPTO_SHA256_SIZE];
};

/* An entry of the open batch, to be folded into its slice's stored
 * history at commit (ledger_history_note()): what it did to the slice's
 * balance and charges. */
struct history_point {
        char slice[SLICE_ID_MAX];
        uint64_t seq, time_usec;
        int64_t balance, spent;
};

/* A slice's stored history as the last commit of this handle left it:
 * what a fold of its next entries reads (ledger_history_flush()). */
struct history_tail {
        char slice[SLICE_ID_MAX];
        uint64_t origin, width;
        size_t n;
        struct chart_summary_bucket last;
};
/* Slices whose history tails a handle keeps (about 120 bytes each). */
#define LEDGER_HISTORY_TAILS_MAX 65536

struct ledger {
        sqlite3 *db;
        char *path;
        bool read_only;
        int schema;
        bool in_batch;
        /* The batch's transaction is gone (SQLite rolled it back after a
         * full disk or an I/O error, or a savepoint could not be undone):
         * every write fails with this until commit or rollback ends it. */
        int batch_error;
        /* Kept in memory so that an append costs no read; read afresh at
         * each ledger_begin(), under the write lock, and put back when a
         * savepoint or the batch is rolled back. */
        struct tip tip;
        struct tip batch_tip;
        sqlite3_stmt *stmts[_STMT_MAX];
        /* ledger_set_progress(): told as entries are read. */
        ledger_progress_fn progress;
        void *progress_userdata;
        /* The open batch's entries, in seq order, not yet in their
         * slices' stored histories: a savepoint or batch rolled back
         * drops those after the tip it puts back. */
        struct history_point *pending;
        size_t n_pending, cap_pending;
        /* The tails of the stored histories this handle folded, by slice
         * id, so that a commit reads none of them again; good while the
         * chain's tip is tails_seq (no other handle wrote since). */
        struct history_tail *tails;
        size_t n_tails, cap_tails;
        uint64_t tails_seq;
};

struct posting {
        char account[ACCOUNT_MAX];
        int64_t amount;
};

/* One entry as its hash sees it. */
struct entry {
        uint64_t seq;
        uint64_t time_usec;
        const char *kind;
        const char *slice;
        const uint8_t *voucher; /* VOUCHER_ID_SIZE bytes, or NULL */
        const char *request_id; /* NULL when none */
        /* redeem: who funded the credit, a raw Ed25519 public key
         * (CRYPTO_PUBKEY_SIZE bytes), or NULL for anonymous (schema 3) */
        const uint8_t *funder;
        int64_t overshoot;
        size_t n_postings;
        struct posting postings[ENTRY_POSTINGS_MAX];
};

/* Statements (ledger.c) */

/* A statement and the parameters bound to it so far, left to right: the
 * first failure is kept, and reported (once) when the statement runs, so
 * that a caller binds every value and checks once. */
struct binder {
        struct ledger *l;
        sqlite3_stmt *s;
        int i;
        int rc;    /* SQLite's code for the first bind that failed */
        int error; /* -errno: the statement could not be prepared (logged) */
};

/* The statement id, prepared on first use and kept, with no value bound. */
struct binder ledger_bind(struct ledger *l, enum stmt_id id);

/* A statement is reset when its user is done with it, so that no read
 * transaction stays open behind the caller's back. */
static inline void binder_reset(struct binder *b) {
        if (b->s)
                sqlite3_reset(b->s);
}
#define _cleanup_binder_ _cleanup_(binder_reset)

static inline void bind_i64(struct binder *b, int64_t v) {
        if (b->rc == SQLITE_OK)
                b->rc = sqlite3_bind_int64(b->s, ++b->i, v);
}

/* A uint64_t travels as the int64_t with the same bits. */
static inline void bind_u64(struct binder *b, uint64_t v) {
        bind_i64(b, (int64_t) v);
}

static inline void bind_text(struct binder *b, const char *t) {
        if (b->rc != SQLITE_OK)
                return;
        if (t)
                b->rc = sqlite3_bind_text(b->s, ++b->i, t, -1, SQLITE_STATIC);
        else
                b->rc = sqlite3_bind_null(b->s, ++b->i);
}

static inline void bind_blob(struct binder *b, const void *p, size_t n) {
        if (b->rc != SQLITE_OK)
                return;
        if (p)
                b->rc = sqlite3_bind_blob(b->s, ++b->i, p, (int) n, SQLITE_STATIC);
        else
                b->rc = sqlite3_bind_null(b->s, ++b->i);
}

/* Steps the statement: 1 with a row (on b->s until the next step or
 * binder_reset()), 0 when there is none. */
int ledger_bound_row(struct binder *b, const char *what);

enum ledger_step {
        LEDGER_STEP_DONE,   /* runs to its end, no row */
        LEDGER_STEP_INSERT, /* the same, or -EEXIST (not logged) for a key already there */
};
/* Runs the statement to its end and resets it. */
int ledger_bound_step(struct binder *b, enum ledger_step step, const char *what);

/* Column readers: a value of another shape than the schema allows means
 * the file was edited or damaged. */
static inline bool column_text_copy(sqlite3_stmt *s, int i, char *buf, size_t n) {
        const unsigned char *t = sqlite3_column_text(s, i);
        int len = sqlite3_column_bytes(s, i);

        if (!t || len < 0 || (size_t) len >= n || memchr(t, 0, (size_t) len))
                return false;
        memcpy(buf, t, (size_t) len);
        buf[len] = 0;
        return true;
}

static inline bool column_blob_copy(sqlite3_stmt *s, int i, void *buf, size_t n) {
        const void *p = sqlite3_column_blob(s, i);

        if (!p || sqlite3_column_bytes(s, i) != (int) n)
                return false;
        memcpy(buf, p, n);
        return true;
}

static inline int64_t column_i64(sqlite3_stmt *s, int i) {
        return sqlite3_column_int64(s, i);
}

static inline uint64_t column_u64(sqlite3_stmt *s, int i) {
        return (uint64_t) sqlite3_column_int64(s, i);
}

/* Transactions (ledger.c) */

/* Every write runs between ledger_op_begin() and ledger_op_end(): in a
 * savepoint of the open batch, so that a failure part way through leaves
 * no trace. ledger_op_end() returns r, or what undoing the savepoint
 * failed with. */
int ledger_op_begin(struct ledger *l, struct tip *ret_saved);
int ledger_op_end(struct ledger *l, const struct tip *saved, int r);
/* A write of one statement: ledger_bound_step() in a savepoint. */
int ledger_op_step(struct binder *b, enum ledger_step step, const char *what);
/* Reads that take more than one statement see one snapshot: inside the
 * batch when one is open, else in a read transaction of their own. */
int ledger_read_begin(struct ledger *l, bool *ret_opened);
void ledger_read_end(struct ledger *l, bool opened);
/* Deletes the rows stmt selects by a time before before_usec, in a
 * savepoint; returns how many went. */
int ledger_prune(struct ledger *l, enum stmt_id stmt, uint64_t before_usec, const char *what);

/* The hash chain (ledger-chain.c). The bytes are documented in
 * daemon/README.md. */
int ledger_entry_hash(const uint8_t prev[CRYPTO_SHA256_SIZE], const struct entry *e, uint8_t ret[CRYPTO_SHA256_SIZE]);
void ledger_entry_post(struct entry *e, const char *account, int64_t amount);
/* Appends e (its seq is the next one) with its postings and moves the tip. */
int ledger_entry_append(struct ledger *l, struct entry *e);

/* A slice's history (ledger-history.c, schema 10). e, just appended,
 * noted to be folded into its slice's stored history when the batch
 * commits (in l->pending). */
int ledger_history_note(struct ledger *l, const struct entry *e);
/* The notes of entries rolled back (after l->tip) forgotten. */
void ledger_history_trim(struct ledger *l);
/* The batch's notes folded into the stored histories, before its
 * commit: per slice, its last bucket read and the buckets changed
 * written, outside any request's savepoint. */
int ledger_history_flush(struct ledger *l);
/* After the batch's commit (r: its result): the tails kept stay good
 * only if it succeeded. */
void ledger_history_committed(struct ledger *l, int r);
/* At a batch's start: the tails kept are forgotten if another handle
 * wrote since. */
void ledger_history_begin(struct ledger *l);
/* Every slice's stored history made again from its entries (the
 * migration to schema 10), in the caller's transaction. */
int ledger_history_rebuild(struct ledger *l);
/* Verify's first discrepancy as a sentence in *ret (to free): -EBADMSG,
 * or -ENOMEM (ledger-verify.c). */
_printf_(2, 3) int ledger_discrepancy(char **ret, const char *fmt, ...);
/* ledger_slice_history() of the entries up to upto_seq, inside the
 * caller's read transaction or batch (ledger-events.c). */
int ledger_history_read(struct ledger *l, const char *slice, uint64_t upto_seq,
                        int (*cb)(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata),
                        void *userdata);
/* Verify's step: each slice's stored history is the fold of its
 * entries. 0, or -EBADMSG and the sentence in *d. */
int ledger_history_verify(struct ledger *l, char **d);

/* Reading entries with their postings, in seq order: two ordered scans
 * merged, one pass over each table. */
struct entry_reader {
        struct ledger *l;
        struct binder entries;
        struct binder postings;
        bool posting_pending; /* the postings cursor is on a row not yet taken */
        bool postings_done;

        struct entry e;
        char kind[8]; /* the longest, "release", and its NUL */
        char slice[SLICE_ID_MAX];
        uint8_t voucher[VOUCHER_ID_SIZE];
        char request_id[LEDGER_REQUEST_ID_MAX + 1];
        uint8_t funder[CRYPTO_PUBKEY_SIZE];
        uint8_t prev_hash[CRYPTO_SHA256_SIZE];
        uint8_t hash[CRYPTO_SHA256_SIZE];
        const char *malformed; /* why this entry is out of shape, or NULL */

        /* For the progress: entries read, and how many there are. */
        uint64_t done, total;

        /* The first posting seen whose entry does not exist. */
        bool orphan;
        uint64_t orphan_seq;
        char orphan_account[ACCOUNT_MAX];
};

int ledger_entry_reader_init(struct ledger *l, struct entry_reader *ret);
/* The same for the entries after seq after (the fleet's shipper). */
int ledger_entry_reader_init_after(struct ledger *l, uint64_t after, struct entry_reader *ret);
/* 1 with the next entry in rd->e, 0 after the last. */
int ledger_entry_reader_next(struct entry_reader *rd);
/* After the last entry: whatever postings are left belong to none. */
int ledger_entry_reader_finish(struct entry_reader *rd);
void ledger_entry_reader_done(struct entry_reader *rd);

/* Rows (ledger-books.c, ledger-events.c). */
int ledger_slice_from_row(struct ledger *l, sqlite3_stmt *s, struct ledger_slice *ret, int64_t *ret_num);
/* The books from STMT_BOOKS (the slice rows' sums) or STMT_VERIFY_BOOKS
 * (the postings'). */
int ledger_books_read(struct ledger *l, enum stmt_id id, struct ledger_books *ret);
/* The split of slice_id's unspent balance by its model (ledger_release_split()),
 * inside a read transaction or the batch. */
int ledger_split_read(struct ledger *l, const char *slice_id, enum donation_model model, bool to_host,
                      int64_t unspent, struct ledger_split *ret);
/* v marked spent by entry (a redeem's or a bid's) into slice_id. */
int ledger_voucher_record(struct ledger *l, const struct voucher *v, const char *slice_id, uint64_t entry,
                          uint64_t now_usec);
/* "bid:<slice>:<n>", a bid's escrow (schema 6). */
void ledger_bid_account(char buf[static ACCOUNT_MAX], const char *slice_id, uint64_t n);
/* A credit of sl (a redeem or award entry seq) in the credits table,
 * where a split or a funder's position needs it. */
int ledger_credit_record(struct ledger *l, const struct ledger_slice *sl, uint64_t seq, const uint8_t *funder,
                         int64_t amount);
/* "held:<slice>:<64 lower-case hex of key>" */
void ledger_held_account(char buf[static ACCOUNT_MAX], const char *slice_id, const uint8_t key[CRYPTO_PUBKEY_SIZE]);
/* "earned:<slice>:<64 lower-case hex of key>" (schema 7) */
void ledger_earned_account(char buf[static ACCOUNT_MAX], const char *slice_id, const uint8_t key[CRYPTO_PUBKEY_SIZE]);
/* A slice's investors (ledger-invest.c), in the order of their first
 * investment. */
struct ledger_investor {
        uint8_t key[CRYPTO_PUBKEY_SIZE];
        int64_t invested, earned, claimed;
        uint64_t first;
};
/* *ret (n in *ret_n) to free; inside a read transaction or the batch. */
int ledger_investors_read(struct ledger *l, const char *slice_id, struct ledger_investor **ret, size_t *ret_n);
/* After a keyed credit of amount to sl by entry seq: an investment if sl
 * is open to investors (its investor row and the row's invested). */
int ledger_invest_credit(struct ledger *l, struct ledger_slice *sl, const uint8_t *funder, int64_t amount,
                         uint64_t seq);
/* ledger_op_begin() and the slice's row, not released (-ESTALE); the
 * savepoint is closed again when either fails. */
int ledger_slice_op_begin(struct ledger *l, const char *id, struct tip *ret_saved, struct ledger_slice *ret);
/* A new entry of kind for sl, amount posted to the slice unless 0. */
void ledger_slice_entry(struct entry *e, const char *kind, const struct ledger_slice *sl, int64_t amount,
                        uint64_t now_usec);
/* An entry of kind (claim, payout) with the funder's key and request_id
 * paying amount from account, the funder's own, out as change: account
 * -amount, refund +amount; appended, its seq in e. */
int ledger_refund_entry(struct ledger *l, struct entry *e, const char *kind, const struct ledger_slice *sl,
                        const uint8_t funder[CRYPTO_PUBKEY_SIZE], const char *account, int64_t amount,
                        const char *request_id, uint64_t now_usec);
/* A payout of amount of funder's earned revenue as change (entry
 * "payout", its payouts row, the investor's and the slice's rows). */
int ledger_payout_write(struct ledger *l, struct ledger_slice *sl, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                        int64_t amount, const char *change, const char *request_id, uint64_t now_usec);
/* Whether a keyed credit by funder may come: -EUSERS for a new
 * investor past LEDGER_FUNDERS_MAX (a payment's entry names each). */
int ledger_invest_funder_check(struct ledger *l, const struct ledger_slice *sl, const uint8_t *funder);
/* Inside a read transaction or the batch. */
int ledger_events_read(struct ledger *l, const char *slice, int (*cb)(const struct ledger_event *ev, void *userdata),
                       void *userdata);
