/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ledger on SQLite (the only file that includes it). The schema, the
 * bytes each entry's hash covers and the reasons behind both are in the
 * "Ledger" section of daemon/README.md; keep the two in step. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/log.h"
#include "common/money.h"
#include "common/request.h"
#include "common/util.h"
#include "ledger.h"

/* "PPLG" in the file header (PRAGMA application_id): a ledger is told
 * apart from any other SQLite file before anything is read from it. */
#define LEDGER_APPLICATION_ID 0x50504c47
/* How long a statement waits for a lock another process holds (a reader
 * that is starting up, a checkpoint) before it fails with -EBUSY. */
#define LEDGER_BUSY_TIMEOUT_MSEC 5000
#define LEDGER_REQUEST_ID_MAX REQUEST_ID_MAX
#define LEDGER_OP_MAX 32
#define ACCOUNT_MAX 48
/* A charge posts to the slice and to each resource; verify reads what is
 * stored, which may be anything, so it takes a few more before it calls
 * an entry malformed. */
#define ENTRY_POSTINGS_MAX 16
#define ENTRY_CANONICAL_MAX 2048

_Static_assert(_RESOURCE_MAX == 6, "the slices table has one charged_ and one billed_ column per resource");
_Static_assert(_LEDGER_SLICE_STATE_MAX == 3, "the slices table's CHECK names every state");

/* Per resource, in enum order, the way the columns are spelled. */
#define RESOURCE_COLUMNS(p) p "cpu, " p "memory, " p "net_out, " p "net_in, " p "io, " p "base"
#define RESOURCE_ASSIGN(p) p "cpu = ?, " p "memory = ?, " p "net_out = ?, " p "net_in = ?, " p "io = ?, " p "base = ?"
#define RESOURCE_PARAMS "?, ?, ?, ?, ?, ?"

/* Schema migrations: migrations[i] takes the schema from version i to
 * i + 1, in the same transaction as the user_version it sets. Append a
 * step for a new version; never edit one that has shipped. */
static const char *const migrations[] = {
        /* 1: the first schema. */
        "PRAGMA application_id = 1347439687;\n" /* LEDGER_APPLICATION_ID */
        "CREATE TABLE slices (\n"
        "        num INTEGER PRIMARY KEY,\n" /* creation order */
        "        id TEXT NOT NULL UNIQUE,\n"
        "        owner_uid INTEGER NOT NULL,\n"
        "        owner_hash BLOB NOT NULL CHECK (length(owner_hash) = 32),\n"
        "        state TEXT NOT NULL CHECK (state IN ('active', 'kept', 'released')),\n"
        "        created_usec INTEGER NOT NULL,\n"
        "        state_usec INTEGER NOT NULL,\n"
        "        released_usec INTEGER NOT NULL DEFAULT 0,\n"
        "        balance INTEGER NOT NULL DEFAULT 0,\n"
        "        credited INTEGER NOT NULL DEFAULT 0,\n"
        "        refunded INTEGER NOT NULL DEFAULT 0,\n"
        "        charged_cpu INTEGER NOT NULL DEFAULT 0,\n"
        "        charged_memory INTEGER NOT NULL DEFAULT 0,\n"
        "        charged_net_out INTEGER NOT NULL DEFAULT 0,\n"
        "        charged_net_in INTEGER NOT NULL DEFAULT 0,\n"
        "        charged_io INTEGER NOT NULL DEFAULT 0,\n"
        "        charged_base INTEGER NOT NULL DEFAULT 0,\n"
        "        billed_cpu INTEGER NOT NULL DEFAULT 0,\n"
        "        billed_memory INTEGER NOT NULL DEFAULT 0,\n"
        "        billed_net_out INTEGER NOT NULL DEFAULT 0,\n"
        "        billed_net_in INTEGER NOT NULL DEFAULT 0,\n"
        "        billed_io INTEGER NOT NULL DEFAULT 0,\n"
        "        billed_base INTEGER NOT NULL DEFAULT 0,\n"
        "        overshoot INTEGER NOT NULL DEFAULT 0,\n"
        "        change TEXT NOT NULL DEFAULT ''\n"
        ") STRICT;\n"
        "CREATE INDEX slices_open ON slices (num) WHERE state <> 'released';\n"
        "CREATE TABLE entries (\n"
        "        seq INTEGER PRIMARY KEY,\n"
        "        time_usec INTEGER NOT NULL,\n"
        "        kind TEXT NOT NULL CHECK (kind IN ('redeem', 'charge', 'release')),\n"
        "        slice TEXT NOT NULL REFERENCES slices (id),\n"
        "        voucher BLOB,\n"
        "        request_id TEXT,\n"
        "        overshoot INTEGER NOT NULL DEFAULT 0,\n"
        "        prev_hash BLOB NOT NULL,\n"
        "        hash BLOB NOT NULL\n"
        ") STRICT;\n"
        "CREATE TABLE postings (\n"
        "        entry INTEGER NOT NULL REFERENCES entries (seq),\n"
        "        account TEXT NOT NULL,\n"
        "        amount INTEGER NOT NULL CHECK (amount <> 0),\n"
        "        PRIMARY KEY (entry, account)\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE TABLE vouchers (\n"
        "        id BLOB PRIMARY KEY CHECK (length(id) = 16),\n"
        "        issuer BLOB NOT NULL,\n"
        "        amount INTEGER NOT NULL CHECK (amount > 0),\n"
        "        currency TEXT NOT NULL,\n"
        "        not_after INTEGER NOT NULL,\n"
        "        redeemed_usec INTEGER NOT NULL,\n"
        "        slice TEXT NOT NULL REFERENCES slices (id),\n"
        "        entry INTEGER NOT NULL REFERENCES entries (seq)\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE TABLE requests (\n"
        "        uid INTEGER NOT NULL,\n"
        "        request_id TEXT NOT NULL,\n"
        "        op TEXT NOT NULL,\n"
        "        reply TEXT NOT NULL,\n"
        "        time_usec INTEGER NOT NULL,\n"
        "        PRIMARY KEY (uid, request_id)\n"
        ") STRICT;\n",
        /* 2: slice events, a log beside the books: no foreign key (an
         * unfunded slice is in no other table), no list of kinds in a
         * CHECK (a new kind needs no migration), not in the chain. */
        "CREATE TABLE events (\n"
        "        seq INTEGER PRIMARY KEY,\n"
        "        time_usec INTEGER NOT NULL,\n"
        "        slice TEXT NOT NULL,\n"
        "        kind TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 15),\n"
        "        funded INTEGER NOT NULL CHECK (funded IN (0, 1)),\n"
        "        owner_uid INTEGER NOT NULL,\n"
        "        balance INTEGER NOT NULL,\n"
        "        currency TEXT NOT NULL,\n"
        "        burn_rate INTEGER NOT NULL,\n"
        "        time_left_usec INTEGER NOT NULL,\n"
        "        reason TEXT NOT NULL\n"
        ") STRICT;\n"
        "CREATE INDEX events_slice ON events (slice, seq);\n",
};
#define LEDGER_SCHEMA_VERSION ((int) ARRAY_SIZE(migrations))

#define SLICE_COLUMNS                                                                                  \
        "id, owner_uid, owner_hash, state, created_usec, released_usec, balance, credited, refunded, " \
        RESOURCE_COLUMNS("charged_") ", " RESOURCE_COLUMNS("billed_") ", overshoot, change, num"
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
};

#define EVENT_COLUMNS \
        "seq, time_usec, slice, kind, funded, owner_uid, balance, currency, burn_rate, time_left_usec, reason"

#define CHARGED_FROM_POSTINGS(r) "sum(CASE WHEN p.account = 'charge:" r "' THEN p.amount ELSE 0 END)"
#define SLICE_POSTING "p.account GLOB 'slice:*'"

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
        _STMT_MAX,
};

static const char *const stmt_sql[_STMT_MAX] = {
        [STMT_BEGIN_WRITE] = "BEGIN IMMEDIATE",
        [STMT_BEGIN_READ] = "BEGIN",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_SAVEPOINT] = "SAVEPOINT op",
        [STMT_RELEASE] = "RELEASE op",
        [STMT_ROLLBACK_TO] = "ROLLBACK TO op",
        [STMT_TIP] = "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
        [STMT_SLICE_INSERT] = "INSERT INTO slices (id, owner_uid, owner_hash, state, created_usec, state_usec) "
                              "VALUES (?, ?, ?, 'active', ?, ?)",
        [STMT_SLICE_GET] = "SELECT " SLICE_COLUMNS " FROM slices WHERE id = ?",
        /* One row at a time, so that the caller's callback may write. */
        [STMT_SLICE_NEXT_OPEN] = "SELECT " SLICE_COLUMNS " FROM slices "
                                 "WHERE state <> 'released' AND num > ? ORDER BY num LIMIT 1",
        [STMT_SLICE_ALL] = "SELECT " SLICE_COLUMNS " FROM slices ORDER BY num",
        [STMT_SLICE_CREDIT] = "UPDATE slices SET balance = ?, credited = ? WHERE id = ?",
        [STMT_SLICE_CHARGE] = "UPDATE slices SET balance = ?, " RESOURCE_ASSIGN("charged_") ", "
                              RESOURCE_ASSIGN("billed_") ", overshoot = ? WHERE id = ?",
        [STMT_SLICE_RELEASE] = "UPDATE slices SET state = 'released', state_usec = ?, released_usec = ?, "
                               "balance = 0, refunded = ?, change = ? WHERE id = ?",
        [STMT_SLICE_STATE] = "UPDATE slices SET state = ?, state_usec = ? WHERE id = ?",
        [STMT_VOUCHER_GET] = "SELECT redeemed_usec, slice FROM vouchers WHERE id = ?",
        [STMT_VOUCHER_INSERT] = "INSERT INTO vouchers (id, issuer, amount, currency, not_after, redeemed_usec, "
                                "slice, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [STMT_VOUCHER_ALL] = "SELECT id, issuer, amount, currency, not_after, redeemed_usec, slice, entry "
                             "FROM vouchers ORDER BY entry",
        [STMT_ENTRY_INSERT] = "INSERT INTO entries (seq, time_usec, kind, slice, voucher, request_id, overshoot, "
                              "prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [STMT_POSTING_INSERT] = "INSERT INTO postings (entry, account, amount) VALUES (?, ?, ?)",
        [STMT_REQUEST_GET] = "SELECT reply FROM requests WHERE uid = ? AND request_id = ?",
        [STMT_REQUEST_INSERT] = "INSERT INTO requests (uid, request_id, op, reply, time_usec) VALUES (?, ?, ?, ?, ?)",
        [STMT_REQUEST_PRUNE] = "DELETE FROM requests WHERE time_usec < ?",
        [STMT_EVENT_PRUNE] = "DELETE FROM events WHERE time_usec < ?",
        /* Sums per column, added up in C: SQLite would turn an overflowing
         * "a + b" into a float without a word. */
        [STMT_BOOKS] = "SELECT (SELECT coalesce(sum(amount), 0) FROM vouchers), coalesce(sum(balance), 0), "
                       "coalesce(sum(charged_cpu), 0), coalesce(sum(charged_memory), 0), "
                       "coalesce(sum(charged_net_out), 0), coalesce(sum(charged_net_in), 0), "
                       "coalesce(sum(charged_io), 0), coalesce(sum(charged_base), 0), "
                       "coalesce(sum(refunded), 0), coalesce(sum(overshoot), 0), "
                       "(SELECT coalesce(max(seq), 0) FROM entries) FROM slices",
        [STMT_ENTRIES_ALL] = "SELECT seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash "
                             "FROM entries ORDER BY seq",
        /* The primary key's order: read alongside the entries, a merge. */
        [STMT_POSTINGS_ALL] = "SELECT entry, account, amount FROM postings ORDER BY entry, account",
        /* Each slice row beside the sums of its postings and entries. A
         * posting to "slice:X" is only ever in an entry of slice X (verify
         * checks that first), so grouping by the entry's slice is exact. */
        [STMT_VERIFY_SLICES] =
                "WITH p AS (SELECT e.slice AS slice, "
                "sum(CASE WHEN " SLICE_POSTING " THEN p.amount ELSE 0 END) AS balance, "
                "sum(CASE WHEN e.kind = 'redeem' AND " SLICE_POSTING " THEN p.amount ELSE 0 END) AS credited, "
                "sum(CASE WHEN e.kind = 'release' AND " SLICE_POSTING " THEN p.amount ELSE 0 END) AS released, "
                CHARGED_FROM_POSTINGS("cpu") " AS cpu, " CHARGED_FROM_POSTINGS("memory") " AS memory, "
                CHARGED_FROM_POSTINGS("net_out") " AS net_out, " CHARGED_FROM_POSTINGS("net_in") " AS net_in, "
                CHARGED_FROM_POSTINGS("io") " AS io, " CHARGED_FROM_POSTINGS("base") " AS base "
                "FROM postings p JOIN entries e ON e.seq = p.entry GROUP BY e.slice), "
                "o AS (SELECT slice, sum(overshoot) AS overshoot FROM entries GROUP BY slice) "
                "SELECT s.id, s.balance, s.credited, s.refunded, " RESOURCE_COLUMNS("s.charged_") ", s.overshoot, "
                "coalesce(p.balance, 0), coalesce(p.credited, 0), -coalesce(p.released, 0), "
                "coalesce(p.cpu, 0), coalesce(p.memory, 0), coalesce(p.net_out, 0), coalesce(p.net_in, 0), "
                "coalesce(p.io, 0), coalesce(p.base, 0), coalesce(o.overshoot, 0) "
                "FROM slices s LEFT JOIN p ON p.slice = s.id LEFT JOIN o ON o.slice = s.id ORDER BY s.num",
        [STMT_VERIFY_SLICELESS_ENTRY] = "SELECT e.seq, e.slice FROM entries e "
                                        "WHERE NOT EXISTS (SELECT 1 FROM slices s WHERE s.id = e.slice) "
                                        "ORDER BY e.seq LIMIT 1",
        [STMT_VERIFY_VOUCHERS] = "SELECT v.id, v.amount, v.slice, v.entry, e.kind, e.slice, e.voucher, "
                                 "(SELECT amount FROM postings WHERE entry = v.entry AND account = 'vouchers') "
                                 "FROM vouchers v LEFT JOIN entries e ON e.seq = v.entry ORDER BY v.entry",
        [STMT_VERIFY_REDEEMS] = "SELECT e.seq, e.voucher FROM entries e WHERE e.kind = 'redeem' AND NOT EXISTS "
                                "(SELECT 1 FROM vouchers v WHERE v.id = e.voucher AND v.entry = e.seq) "
                                "ORDER BY e.seq LIMIT 1",
        [STMT_VERIFY_BOOKS] = "SELECT (SELECT coalesce(sum(amount), 0) FROM vouchers), "
                              "(SELECT coalesce(sum(balance), 0) FROM slices), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account GLOB 'charge:*'), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account = 'refund'), "
                              "(SELECT coalesce(sum(overshoot), 0) FROM slices)",
        [STMT_EVENT_INSERT] = "INSERT INTO events (time_usec, slice, kind, funded, owner_uid, balance, currency, "
                              "burn_rate, time_left_usec, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [STMT_EVENT_ALL] = "SELECT " EVENT_COLUMNS " FROM events ORDER BY seq",
        [STMT_EVENT_SLICE] = "SELECT " EVENT_COLUMNS " FROM events WHERE slice = ? ORDER BY seq",
};

/* The last entry of the chain. */
struct tip {
        uint64_t seq;
        uint8_t hash[CRYPTO_SHA256_SIZE];
};

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
        int64_t overshoot;
        size_t n_postings;
        struct posting postings[ENTRY_POSTINGS_MAX];
};

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

/* Errors */

static int errno_from_sqlite(sqlite3 *db, int rc) {
        int e;

        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
                return -EINVAL;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_INTERRUPT:
                return -EINTR;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EUCLEAN;
        case SQLITE_CANTOPEN:
        case SQLITE_IOERR:
                e = db ? sqlite3_system_errno(db) : 0;
                return e > 0 ? -e : -EIO;
        default:
                return -EIO;
        }
}

/* Logs what failed with SQLite's own words and returns it as -errno. */
static int sql_fail(struct ledger *l, int rc, const char *what) {
        int r = errno_from_sqlite(l->db, rc);

        if (r == 0)
                r = -EIO; /* a statement that should not have returned a row did */
        return log_error_errno(r, "Ledger %s: failed to %s: %s", l->path, what, sqlite3_errmsg(l->db));
}

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

/* For ledger_verify(): the first discrepancy, -EBADMSG. */
#define discrepancy(ret, ...) (set_sentence((ret), __VA_ARGS__) < 0 ? -ENOMEM : -EBADMSG)

/* Statements */

static int stmt_get(struct ledger *l, enum stmt_id id, sqlite3_stmt **ret) {
        int rc;

        if (!l->stmts[id]) {
                rc = sqlite3_prepare_v3(l->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &l->stmts[id], NULL);
                if (rc != SQLITE_OK)
                        return sql_fail(l, rc, "prepare a statement");
        }
        *ret = l->stmts[id];
        return 0;
}

/* A statement is reset when its user is done with it, so that no read
 * transaction stays open behind the caller's back. */
static void stmt_resetp(sqlite3_stmt **s) {
        if (*s)
                sqlite3_reset(*s);
}
#define _cleanup_reset_ _cleanup_(stmt_resetp)

/* Binds parameters left to right; the first failure is kept. */
struct binder {
        sqlite3_stmt *s;
        int i;
        int rc;
};

static void bind_i64(struct binder *b, int64_t v) {
        if (b->rc == SQLITE_OK)
                b->rc = sqlite3_bind_int64(b->s, ++b->i, v);
}

/* A uint64_t travels as the int64_t with the same bits. */
static void bind_u64(struct binder *b, uint64_t v) {
        bind_i64(b, (int64_t) v);
}

static void bind_text(struct binder *b, const char *t) {
        if (b->rc != SQLITE_OK)
                return;
        if (t)
                b->rc = sqlite3_bind_text(b->s, ++b->i, t, -1, SQLITE_STATIC);
        else
                b->rc = sqlite3_bind_null(b->s, ++b->i);
}

static void bind_blob(struct binder *b, const void *p, size_t n) {
        if (b->rc != SQLITE_OK)
                return;
        if (p)
                b->rc = sqlite3_bind_blob(b->s, ++b->i, p, (int) n, SQLITE_STATIC);
        else
                b->rc = sqlite3_bind_null(b->s, ++b->i);
}

/* stmt_get() and a fresh binder for it. */
static int stmt_bind(struct ledger *l, enum stmt_id id, sqlite3_stmt **ret, struct binder *ret_binder) {
        int r;

        r = stmt_get(l, id, ret);
        if (r < 0)
                return r;
        *ret_binder = (struct binder) { .s = *ret };
        return 0;
}

static int bind_check(struct ledger *l, const struct binder *b) {
        if (b->rc != SQLITE_OK)
                return sql_fail(l, b->rc, "bind a value");
        return 0;
}

/* 1 with a row, 0 when there is none. */
static int step_row(struct ledger *l, sqlite3_stmt *s, const char *what) {
        int rc;

        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return sql_fail(l, rc, what);
}

static int step_done(struct ledger *l, sqlite3_stmt *s, const char *what) {
        int rc;

        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        return sql_fail(l, rc, what);
}

/* An insert whose key may already be there: -EEXIST then, not logged. */
static int step_insert(struct ledger *l, sqlite3_stmt *s, const char *what) {
        int rc;

        rc = sqlite3_step(s);
        if (rc == SQLITE_DONE)
                return 0;
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
                return -EEXIST;
        return sql_fail(l, rc, what);
}

static int exec_stmt(struct ledger *l, enum stmt_id id, const char *what) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        int r;

        r = stmt_get(l, id, &s);
        if (r < 0)
                return r;
        return step_done(l, s, what);
}

/* Column readers: a value of another shape than the schema allows means
 * the file was edited or damaged. */
static bool column_text_copy(sqlite3_stmt *s, int i, char *buf, size_t n) {
        const unsigned char *t = sqlite3_column_text(s, i);
        int len = sqlite3_column_bytes(s, i);

        if (!t || len < 0 || (size_t) len >= n || memchr(t, 0, (size_t) len))
                return false;
        memcpy(buf, t, (size_t) len);
        buf[len] = 0;
        return true;
}

static bool column_blob_copy(sqlite3_stmt *s, int i, void *buf, size_t n) {
        const void *p = sqlite3_column_blob(s, i);

        if (!p || sqlite3_column_bytes(s, i) != (int) n)
                return false;
        memcpy(buf, p, n);
        return true;
}

static int64_t column_i64(sqlite3_stmt *s, int i) {
        return sqlite3_column_int64(s, i);
}

static uint64_t column_u64(sqlite3_stmt *s, int i) {
        return (uint64_t) sqlite3_column_int64(s, i);
}

/* Transactions and savepoints */

static int tip_load(struct ledger *l, struct tip *ret) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct tip t = {};
        int r;

        r = stmt_get(l, STMT_TIP, &s);
        if (r < 0)
                return r;
        r = step_row(l, s, "read the last entry");
        if (r < 0)
                return r;
        if (r > 0) {
                int64_t seq = column_i64(s, 0);

                if (seq < 1 || !column_blob_copy(s, 1, t.hash, sizeof(t.hash)))
                        return log_error_errno(EUCLEAN, "Ledger %s: the last entry (%" PRId64 ") is malformed.",
                                               l->path, seq);
                t.seq = (uint64_t) seq;
        }
        *ret = t;
        return 0;
}

/* The batch cannot go on: its transaction is rolled back now (if SQLite
 * has not done so already) and r is what commit will return. */
static void batch_fail(struct ledger *l, int r) {
        if (l->batch_error == 0)
                l->batch_error = r < 0 ? r : -EIO;
        if (!sqlite3_get_autocommit(l->db))
                (void) exec_stmt(l, STMT_ROLLBACK, "roll the batch back");
        l->tip = l->batch_tip;
}

int ledger_begin(struct ledger *l) {
        struct tip t;
        int r;

        if (!l)
                return -EINVAL;
        if (l->in_batch)
                return 0;
        if (l->read_only)
                return -EROFS;

        r = exec_stmt(l, STMT_BEGIN_WRITE, "begin a batch");
        if (r < 0)
                return r;
        r = tip_load(l, &t);
        if (r < 0) {
                (void) exec_stmt(l, STMT_ROLLBACK, "roll the batch back");
                return r;
        }

        l->tip = l->batch_tip = t;
        l->in_batch = true;
        l->batch_error = 0;
        return 0;
}

bool ledger_in_batch(const struct ledger *l) {
        return l && l->in_batch;
}

int ledger_commit(struct ledger *l) {
        int r;

        if (!l)
                return -EINVAL;
        if (!l->in_batch)
                return 0;

        if (l->batch_error < 0) {
                r = l->batch_error;
                batch_fail(l, r);
                l->in_batch = false;
                l->batch_error = 0;
                return r;
        }

        r = exec_stmt(l, STMT_COMMIT, "commit a batch");
        if (r < 0) {
                log_error("Ledger %s: batch of entries %" PRIu64 "..%" PRIu64 " rolled back.", l->path,
                          l->batch_tip.seq + 1, l->tip.seq);
                batch_fail(l, r);
        }
        l->in_batch = false;
        l->batch_error = 0;
        return r;
}

void ledger_rollback(struct ledger *l) {
        if (!l || !l->in_batch)
                return;
        batch_fail(l, -ECANCELED);
        l->in_batch = false;
        l->batch_error = 0;
}

/* Every write runs between op_begin() and op_end(): in a savepoint of the
 * open batch, so that a failure part way through leaves no trace. */
static int op_begin(struct ledger *l, struct tip *ret_saved) {
        int r;

        if (l->read_only)
                return -EROFS;
        if (!l->in_batch)
                return -ENOTCONN;
        if (l->batch_error < 0)
                return l->batch_error;

        r = exec_stmt(l, STMT_SAVEPOINT, "open a savepoint");
        if (r < 0) {
                batch_fail(l, r);
                return r;
        }
        *ret_saved = l->tip;
        return 0;
}

static int op_end(struct ledger *l, const struct tip *saved, int r) {
        int q;

        if (r >= 0) {
                q = exec_stmt(l, STMT_RELEASE, "release a savepoint");
                if (q >= 0)
                        return r;
                r = q;
        }

        l->tip = *saved;
        /* After a full disk or an I/O error SQLite may have rolled the
         * whole transaction back: the batch is lost, not just this op. */
        if (sqlite3_get_autocommit(l->db)) {
                batch_fail(l, r);
                return r;
        }
        q = exec_stmt(l, STMT_ROLLBACK_TO, "roll a savepoint back");
        if (q >= 0)
                q = exec_stmt(l, STMT_RELEASE, "release a savepoint");
        if (q < 0)
                batch_fail(l, q);
        return r;
}

/* Reads that take more than one statement see one snapshot: inside the
 * batch when one is open, else in a read transaction of their own (the
 * daemon may commit between two statements of "prepay ledger verify"). */
static int read_begin(struct ledger *l, bool *ret_opened) {
        int r;

        if (l->in_batch) {
                if (l->batch_error < 0)
                        return l->batch_error;
                *ret_opened = false;
                return 0;
        }
        r = exec_stmt(l, STMT_BEGIN_READ, "begin a read transaction");
        if (r < 0)
                return r;
        *ret_opened = true;
        return 0;
}

static void read_end(struct ledger *l, bool opened) {
        if (opened && !sqlite3_get_autocommit(l->db))
                (void) exec_stmt(l, STMT_COMMIT, "end a read transaction");
}

/* The hash chain. The bytes are documented in daemon/README.md. */

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

static int entry_hash(const uint8_t prev[CRYPTO_SHA256_SIZE], const struct entry *e,
                      uint8_t ret[CRYPTO_SHA256_SIZE]) {
        uint8_t buf[CRYPTO_SHA256_SIZE + ENTRY_CANONICAL_MAX];
        struct wbuf w = { .p = buf, .size = sizeof(buf) };

        put_bytes(&w, prev, CRYPTO_SHA256_SIZE);
        put_bytes(&w, "PLE\x01", 4);
        put_u64(&w, e->seq);
        put_u64(&w, e->time_usec);
        put_string(&w, e->kind, strlen(e->kind));
        put_string(&w, e->slice, strlen(e->slice));
        put_string(&w, e->voucher, e->voucher ? VOUCHER_ID_SIZE : 0);
        put_string(&w, e->request_id, e->request_id ? strlen(e->request_id) : 0);
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

static void entry_post(struct entry *e, const char *account, int64_t amount) {
        struct posting *p = &e->postings[e->n_postings++];

        snprintf(p->account, sizeof(p->account), "%s", account);
        p->amount = amount;
}

/* Appends e (its seq is the next one) with its postings and moves the tip. */
static int entry_append(struct ledger *l, struct entry *e) {
        uint8_t hash[CRYPTO_SHA256_SIZE];
        sqlite3_stmt *s;
        struct binder b;
        int r;

        e->seq = l->tip.seq + 1;
        /* Canonical order: by account, as verify reads them back. */
        qsort(e->postings, e->n_postings, sizeof(e->postings[0]), posting_compare);
        r = entry_hash(l->tip.hash, e, hash);
        if (r < 0)
                return log_error_errno(r, "Ledger %s: entry %" PRIu64 " does not fit its encoding.", l->path,
                                       e->seq);

        r = stmt_bind(l, STMT_ENTRY_INSERT, &s, &b);
        if (r < 0)
                return r;
        bind_u64(&b, e->seq);
        bind_u64(&b, e->time_usec);
        bind_text(&b, e->kind);
        bind_text(&b, e->slice);
        bind_blob(&b, e->voucher, VOUCHER_ID_SIZE);
        bind_text(&b, e->request_id);
        bind_i64(&b, e->overshoot);
        bind_blob(&b, l->tip.hash, sizeof(l->tip.hash));
        bind_blob(&b, hash, sizeof(hash));
        r = bind_check(l, &b);
        if (r >= 0)
                r = step_done(l, s, "append an entry");
        sqlite3_reset(s);
        if (r < 0)
                return r;

        r = stmt_get(l, STMT_POSTING_INSERT, &s);
        if (r < 0)
                return r;
        for (size_t i = 0; i < e->n_postings; i++) {
                b = (struct binder) { .s = s };
                bind_u64(&b, e->seq);
                bind_text(&b, e->postings[i].account);
                bind_i64(&b, e->postings[i].amount);
                r = bind_check(l, &b);
                if (r >= 0)
                        r = step_done(l, s, "add a posting");
                sqlite3_reset(s);
                if (r < 0)
                        return r;
        }

        l->tip.seq = e->seq;
        memcpy(l->tip.hash, hash, sizeof(hash));
        return 0;
}

/* Open and close */

static void ledger_freep(struct ledger **l) {
        ledger_close(*l);
}

void ledger_close(struct ledger *l) {
        int rc;

        if (!l)
                return;
        if (l->db) {
                ledger_rollback(l);
                for (size_t i = 0; i < ARRAY_SIZE(l->stmts); i++)
                        sqlite3_finalize(l->stmts[i]);
                rc = sqlite3_close(l->db);
                if (rc != SQLITE_OK)
                        log_warning("Ledger %s: failed to close: %s, ignoring.", l->path, sqlite3_errstr(rc));
        }
        free(l->path);
        free(l);
}

/* A single-row pragma's integer (or text, into buf). */
static int pragma_get(struct ledger *l, const char *sql, int64_t *ret_int, char *buf, size_t n) {
        sqlite3_stmt *s = NULL;
        int rc, r;

        rc = sqlite3_prepare_v2(l->db, sql, -1, &s, NULL);
        if (rc != SQLITE_OK)
                return errno_from_sqlite(l->db, rc);
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
                if (ret_int)
                        *ret_int = sqlite3_column_int64(s, 0);
                if (buf && !column_text_copy(s, 0, buf, n))
                        buf[0] = 0;
                r = 0;
        } else
                r = rc == SQLITE_DONE ? -ENODATA : errno_from_sqlite(l->db, rc);
        sqlite3_finalize(s);
        return r;
}

static int exec_sql(struct ledger *l, const char *sql) {
        int rc;

        rc = sqlite3_exec(l->db, sql, NULL, NULL, NULL);
        return rc == SQLITE_OK ? 0 : errno_from_sqlite(l->db, rc);
}

_printf_(3, 4) static int open_error(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;
        char *s;

        if (ret_error) {
                va_start(ap, fmt);
                if (vasprintf(&s, fmt, ap) >= 0) {
                        free(*ret_error);
                        *ret_error = s;
                }
                va_end(ap);
        }
        return r;
}

/* Reads the schema version and checks the file is a ledger this build
 * reads. Migrates it when writable. */
static int ledger_migrate(struct ledger *l, char **ret_error) {
        int64_t version, app_id, objects;
        int r;

        if (!l->read_only) {
                /* Under the write lock, so that two openers cannot both
                 * migrate. */
                r = exec_sql(l, "BEGIN IMMEDIATE");
                if (r < 0)
                        return open_error(ret_error, r, "Ledger %s: failed to lock it to check its schema: %s",
                                          l->path, sqlite3_errmsg(l->db));
        }

        r = pragma_get(l, "PRAGMA user_version", &version, NULL, 0);
        if (r >= 0)
                r = pragma_get(l, "PRAGMA application_id", &app_id, NULL, 0);
        if (r >= 0)
                r = pragma_get(l, "SELECT count(*) FROM sqlite_schema", &objects, NULL, 0);
        if (r < 0) {
                r = open_error(ret_error, r, "Ledger %s: cannot read it: %s", l->path, sqlite3_errmsg(l->db));
                goto fail;
        }

        if (version == 0 && objects > 0) {
                r = open_error(ret_error, -EMEDIUMTYPE,
                               "Ledger %s: not a prepay ledger (a database of something else).", l->path);
                goto fail;
        }
        if (version > 0 && app_id != LEDGER_APPLICATION_ID) {
                r = open_error(ret_error, -EMEDIUMTYPE,
                               "Ledger %s: not a prepay ledger (application id 0x%08" PRIx64 ").", l->path,
                               (uint64_t) app_id & UINT32_MAX);
                goto fail;
        }
        if (version > LEDGER_SCHEMA_VERSION || version < 0) {
                r = open_error(ret_error, -EPROTONOSUPPORT,
                               "Ledger %s: schema version %" PRId64 " is newer than this build knows (%d); "
                               "use a newer prepay.", l->path, version, LEDGER_SCHEMA_VERSION);
                goto fail;
        }

        if (l->read_only) {
                if (version == 0)
                        return open_error(ret_error, -ENODATA, "Ledger %s: holds no ledger yet.", l->path);
                if (version < LEDGER_SCHEMA_VERSION)
                        return open_error(ret_error, -EPROTONOSUPPORT,
                                          "Ledger %s: schema version %" PRId64 " is older than this build's (%d); "
                                          "prepayd migrates it when it next opens it.",
                                          l->path, version, LEDGER_SCHEMA_VERSION);
                l->schema = (int) version;
                return 0;
        }

        for (int64_t v = version; v < LEDGER_SCHEMA_VERSION; v++) {
                char sql[64];

                r = exec_sql(l, migrations[v]);
                if (r >= 0) {
                        snprintf(sql, sizeof(sql), "PRAGMA user_version = %" PRId64, v + 1);
                        r = exec_sql(l, sql);
                }
                if (r < 0) {
                        r = open_error(ret_error, r,
                                       "Ledger %s: failed to migrate schema %" PRId64 " to %" PRId64 ": %s", l->path,
                                       v, v + 1, sqlite3_errmsg(l->db));
                        goto fail;
                }
                /* A new file passes through every version: not news. */
                if (version > 0)
                        log_info("Ledger %s: schema migrated to version %" PRId64 ".", l->path, v + 1);
        }

        r = exec_sql(l, "COMMIT");
        if (r < 0) {
                r = open_error(ret_error, r, "Ledger %s: failed to commit its schema: %s", l->path,
                               sqlite3_errmsg(l->db));
                goto fail;
        }
        l->schema = LEDGER_SCHEMA_VERSION;
        return 0;

fail:
        if (!sqlite3_get_autocommit(l->db))
                (void) exec_sql(l, "ROLLBACK");
        return r;
}

int ledger_open(const char *path, bool read_only, struct ledger **ret, char **ret_error) {
        _cleanup_(ledger_freep) struct ledger *l = NULL;
        char mode[16];
        int flags, rc, r;

        if (!path || !ret)
                return -EINVAL;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->path = strdup(path);
        if (!l->path)
                return -ENOMEM;
        l->read_only = read_only;

        if (!read_only) {
                /* Change vouchers are bearer money: the file (and the -wal
                 * and -shm files, which SQLite creates with its mode) is
                 * for the daemon's user only. */
                int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

                if (fd < 0)
                        return open_error(ret_error, -errno, "Ledger %s: cannot create it: %m", path);
                close(fd);
        }

        flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        rc = sqlite3_open_v2(path, &l->db, flags, NULL);
        if (rc != SQLITE_OK) {
                r = errno_from_sqlite(l->db, rc);
                errno = -r;
                return open_error(ret_error, r, "Ledger %s: cannot open it: %m", path);
        }

        sqlite3_extended_result_codes(l->db, 1);
        sqlite3_busy_timeout(l->db, LEDGER_BUSY_TIMEOUT_MSEC);
        /* The file is data, not code: no writable schema, no functions or
         * virtual tables run on its say-so. */
        sqlite3_db_config(l->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        sqlite3_db_config(l->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);

        if (read_only)
                r = exec_sql(l, "PRAGMA query_only = ON");
        else {
                /* WAL: the CLI reads while the daemon writes; one fsync
                 * per commit, of the log only. */
                r = pragma_get(l, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
                if (r >= 0 && !streq(mode, "wal"))
                        return open_error(ret_error, -EOPNOTSUPP,
                                          "Ledger %s: the file system does not allow WAL mode (journal mode %s).",
                                          path, mode);
                if (r >= 0)
                        r = exec_sql(l, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
        }
        if (r < 0)
                return open_error(ret_error, r, "Ledger %s: cannot set it up: %s", path, sqlite3_errmsg(l->db));

        r = ledger_migrate(l, ret_error);
        if (r < 0)
                return r;

        if (!read_only) {
                r = tip_load(l, &l->tip);
                if (r < 0)
                        return open_error(ret_error, r, "Ledger %s: cannot read its last entry.", path);
        }

        *ret = TAKE_PTR(l);
        return 0;
}

/* Slices */

static int slice_from_row(struct ledger *l, sqlite3_stmt *s, struct ledger_slice *ret, int64_t *ret_num) {
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

        r = stmt_bind(l, STMT_SLICE_GET, &s, &b);
        if (r < 0)
                return r;
        bind_text(&b, id);
        r = bind_check(l, &b);
        if (r < 0)
                return r;
        r = step_row(l, s, "read a slice");
        if (r <= 0)
                return r < 0 ? r : -ENOENT;
        r = slice_from_row(l, s, &sl, NULL);
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

        r = op_begin(l, &saved);
        if (r < 0)
                return r;

        r = stmt_bind(l, STMT_SLICE_INSERT, &s, &b);
        if (r >= 0) {
                bind_text(&b, sl->id);
                bind_i64(&b, sl->owner_uid);
                bind_blob(&b, sl->owner_hash, sizeof(sl->owner_hash));
                bind_u64(&b, sl->created_usec);
                bind_u64(&b, sl->created_usec);
                r = bind_check(l, &b);
        }
        if (r >= 0)
                r = step_insert(l, s, "add a slice");
        return op_end(l, &saved, r);
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
                r = stmt_bind(l, STMT_SLICE_NEXT_OPEN, &s, &b);
                if (r < 0)
                        return r;
                bind_i64(&b, num);
                r = bind_check(l, &b);
                if (r >= 0)
                        r = step_row(l, s, "list slices");
                if (r > 0)
                        r = slice_from_row(l, s, &sl, &num) ?: 1;
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

        r = stmt_bind(l, STMT_VOUCHER_GET, &s, &b);
        if (r < 0)
                return r;
        bind_blob(&b, id, VOUCHER_ID_SIZE);
        r = bind_check(l, &b);
        if (r < 0)
                return r;
        r = step_row(l, s, "look a voucher up");
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

        r = op_begin(l, &saved);
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
        entry_post(&e, "vouchers", -v->amount);
        entry_post(&e, account, v->amount);
        r = entry_append(l, &e);
        if (r < 0)
                goto out;

        r = stmt_bind(l, STMT_VOUCHER_INSERT, &s, &b);
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
        r = bind_check(l, &b);
        if (r >= 0)
                r = step_done(l, s, "mark a voucher spent");
        sqlite3_reset(TAKE_PTR(s));
        if (r < 0)
                goto out;

        r = stmt_bind(l, STMT_SLICE_CREDIT, &s, &b);
        if (r < 0)
                goto out;
        bind_i64(&b, balance);
        bind_i64(&b, credited);
        bind_text(&b, slice_id);
        r = bind_check(l, &b);
        if (r >= 0)
                r = step_done(l, s, "credit a slice");

out:
        r = op_end(l, &saved, r);
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

        r = op_begin(l, &saved);
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
                        entry_post(&e, account, -total);
                }
                for (int i = 0; i < _RESOURCE_MAX; i++)
                        if (part[i] > 0) {
                                snprintf(account, sizeof(account), "charge:%s", resource_to_string(i));
                                entry_post(&e, account, part[i]);
                        }
                r = entry_append(l, &e);
                if (r < 0)
                        goto out;
        }

        /* Even when nothing was due: the counters moved. */
        r = stmt_bind(l, STMT_SLICE_CHARGE, &s, &b);
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
        r = bind_check(l, &b);
        if (r >= 0)
                r = step_done(l, s, "charge a slice");

out:
        r = op_end(l, &saved, r);
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

        r = op_begin(l, &saved);
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
                entry_post(&e, account, -sl.balance);
                entry_post(&e, "refund", sl.balance);
        }
        r = entry_append(l, &e);
        if (r < 0)
                goto out;

        r = stmt_bind(l, STMT_SLICE_RELEASE, &s, &b);
        if (r < 0)
                goto out;
        bind_u64(&b, now_usec);
        bind_u64(&b, now_usec);
        bind_i64(&b, refunded);
        bind_text(&b, change ? change_text : "");
        bind_text(&b, slice_id);
        r = bind_check(l, &b);
        if (r >= 0)
                r = step_done(l, s, "release a slice");
out:
        return op_end(l, &saved, r);
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

        r = op_begin(l, &saved);
        if (r < 0)
                return r;

        r = ledger_slice_get(l, slice_id, &sl);
        if (r < 0)
                goto out;
        if (sl.state != from) {
                r = sl.state == LEDGER_SLICE_RELEASED ? -ESTALE : sl.state == to ? -EALREADY : -EINVAL;
                goto out;
        }

        r = stmt_bind(l, STMT_SLICE_STATE, &s, &b);
        if (r < 0)
                goto out;
        bind_text(&b, ledger_slice_state_to_string(to));
        bind_u64(&b, now_usec);
        bind_text(&b, slice_id);
        r = bind_check(l, &b);
        if (r >= 0)
                r = step_done(l, s, "change a slice's state");
out:
        return op_end(l, &saved, r);
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

        r = stmt_bind(l, STMT_REQUEST_GET, &s, &b);
        if (r < 0)
                return r;
        bind_i64(&b, uid);
        bind_text(&b, request_id);
        r = bind_check(l, &b);
        if (r < 0)
                return r;
        r = step_row(l, s, "look a request up");
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

        r = op_begin(l, &saved);
        if (r < 0)
                return r;
        r = stmt_bind(l, STMT_REQUEST_INSERT, &s, &b);
        if (r >= 0) {
                bind_i64(&b, uid);
                bind_text(&b, request_id);
                bind_text(&b, op);
                bind_text(&b, reply);
                bind_u64(&b, now_usec);
                r = bind_check(l, &b);
        }
        if (r >= 0)
                r = step_insert(l, s, "record a request");
        return op_end(l, &saved, r);
}

static int prune(struct ledger *l, int stmt, uint64_t before_usec, const char *what) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct binder b;
        struct tip saved;
        int r;

        if (!l)
                return -EINVAL;

        r = op_begin(l, &saved);
        if (r < 0)
                return r;
        r = stmt_bind(l, stmt, &s, &b);
        if (r >= 0) {
                bind_u64(&b, MIN(before_usec, (uint64_t) INT64_MAX));
                r = bind_check(l, &b);
        }
        if (r >= 0)
                r = step_done(l, s, what);
        if (r >= 0)
                r = (int) MIN(sqlite3_changes64(l->db), (sqlite3_int64) INT32_MAX);
        return op_end(l, &saved, r);
}

int ledger_request_prune(struct ledger *l, uint64_t before_usec) {
        return prune(l, STMT_REQUEST_PRUNE, before_usec, "prune old requests");
}

int ledger_event_prune(struct ledger *l, uint64_t before_usec) {
        return prune(l, STMT_EVENT_PRUNE, before_usec, "prune old events");
}

/* Events */

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
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct binder b;
        struct tip saved;
        uint64_t seq = 0;
        int r;

        if (!l || !ev || !event_is_valid(ev))
                return -EINVAL;

        r = op_begin(l, &saved);
        if (r < 0)
                return r;
        r = stmt_bind(l, STMT_EVENT_INSERT, &s, &b);
        if (r >= 0) {
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
                r = bind_check(l, &b);
        }
        if (r >= 0)
                r = step_done(l, s, "record an event");
        if (r >= 0)
                seq = (uint64_t) sqlite3_last_insert_rowid(l->db);
        r = op_end(l, &saved, r);
        if (r >= 0 && ret_seq)
                *ret_seq = seq;
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
static int events_read(struct ledger *l, const char *slice, int (*cb)(const struct ledger_event *ev, void *userdata),
                       void *userdata) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct binder b;
        int r;

        r = stmt_bind(l, slice ? STMT_EVENT_SLICE : STMT_EVENT_ALL, &s, &b);
        if (r < 0)
                return r;
        if (slice) {
                bind_text(&b, slice);
                r = bind_check(l, &b);
                if (r < 0)
                        return r;
        }
        while ((r = step_row(l, s, "read events")) > 0) {
                struct ledger_event ev;

                r = event_from_row(l, s, &ev);
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

        r = read_begin(l, &opened);
        if (r < 0)
                return r;
        r = events_read(l, slice, cb, userdata);
        read_end(l, opened);
        return r;
}

/* Books */

static int books_read(struct ledger *l, struct ledger_books *ret) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        struct ledger_books books = {};
        int r;

        r = stmt_get(l, STMT_BOOKS, &s);
        if (r < 0)
                return r;
        r = step_row(l, s, "sum the books");
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
        return books_read(l, ret);
}

/* Reading entries with their postings, in seq order: two ordered scans
 * merged, one pass over each table. */
struct entry_reader {
        struct ledger *l;
        sqlite3_stmt *entries;
        sqlite3_stmt *postings;
        bool posting_pending; /* the postings cursor is on a row not yet taken */
        bool postings_done;

        struct entry e;
        char kind[8];
        char slice[SLICE_ID_MAX];
        uint8_t voucher[VOUCHER_ID_SIZE];
        char request_id[LEDGER_REQUEST_ID_MAX + 1];
        uint8_t prev_hash[CRYPTO_SHA256_SIZE];
        uint8_t hash[CRYPTO_SHA256_SIZE];
        const char *malformed; /* why this entry is out of shape, or NULL */

        /* The first posting seen whose entry does not exist. */
        bool orphan;
        uint64_t orphan_seq;
        char orphan_account[ACCOUNT_MAX];
};

static int entry_reader_init(struct ledger *l, struct entry_reader *ret) {
        int r;

        *ret = (struct entry_reader) { .l = l };
        r = stmt_get(l, STMT_ENTRIES_ALL, &ret->entries);
        if (r >= 0)
                r = stmt_get(l, STMT_POSTINGS_ALL, &ret->postings);
        return r;
}

static void entry_reader_done(struct entry_reader *rd) {
        if (rd->entries)
                sqlite3_reset(rd->entries);
        if (rd->postings)
                sqlite3_reset(rd->postings);
}

static int posting_peek(struct entry_reader *rd) {
        int r;

        if (rd->posting_pending || rd->postings_done)
                return rd->posting_pending;
        r = step_row(rd->l, rd->postings, "read postings");
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
                if (!column_text_copy(rd->postings, 1, rd->orphan_account, sizeof(rd->orphan_account)))
                        snprintf(rd->orphan_account, sizeof(rd->orphan_account), "?");
        }
        rd->posting_pending = false;
}

/* 1 with the next entry in rd->e, 0 after the last. */
static int entry_reader_next(struct entry_reader *rd) {
        sqlite3_stmt *s = rd->entries;
        int64_t seq;
        int r, type;

        r = step_row(rd->l, s, "read entries");
        if (r <= 0)
                return r;

        rd->malformed = NULL;
        seq = column_i64(s, 0);
        rd->e = (struct entry) {
                .seq = (uint64_t) seq,
                .time_usec = column_u64(s, 1),
                .kind = rd->kind,
                .slice = rd->slice,
                .overshoot = column_i64(s, 6),
        };
        if (!column_text_copy(s, 2, rd->kind, sizeof(rd->kind)) ||
            (!streq(rd->kind, "redeem") && !streq(rd->kind, "charge") && !streq(rd->kind, "release")))
                rd->malformed = "unknown kind";
        else if (!column_text_copy(s, 3, rd->slice, sizeof(rd->slice)) || !rd->slice[0])
                rd->malformed = "slice id of a wrong length";
        else if (!column_blob_copy(s, 7, rd->prev_hash, sizeof(rd->prev_hash)) ||
                 !column_blob_copy(s, 8, rd->hash, sizeof(rd->hash)))
                rd->malformed = "hash of a wrong length";
        else if (seq < 1 || column_i64(s, 1) < 0)
                rd->malformed = "negative sequence number or time";

        type = sqlite3_column_type(s, 4);
        if (type != SQLITE_NULL) {
                if (column_blob_copy(s, 4, rd->voucher, sizeof(rd->voucher)))
                        rd->e.voucher = rd->voucher;
                else
                        rd->malformed = rd->malformed ?: "voucher id of a wrong length";
        }
        if (!rd->malformed && (rd->e.voucher != NULL) != streq(rd->kind, "redeem"))
                rd->malformed = "a voucher id where none belongs, or none where one does";

        type = sqlite3_column_type(s, 5);
        if (type != SQLITE_NULL) {
                if (column_text_copy(s, 5, rd->request_id, sizeof(rd->request_id)) && rd->request_id[0])
                        rd->e.request_id = rd->request_id;
                else
                        rd->malformed = rd->malformed ?: "request id of a wrong length";
        }

        /* Its postings: skip those of entries that do not exist. */
        for (;;) {
                int64_t pseq;

                r = posting_peek(rd);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                pseq = column_i64(rd->postings, 0);
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

                        if (!column_text_copy(rd->postings, 1, p->account, sizeof(p->account)))
                                rd->malformed = rd->malformed ?: "posting account of a wrong length";
                        p->amount = column_i64(rd->postings, 2);
                }
                rd->posting_pending = false;
        }
        return 1;
}

/* After the last entry: whatever postings are left belong to none. */
static int entry_reader_finish(struct entry_reader *rd) {
        int r;

        for (;;) {
                r = posting_peek(rd);
                if (r <= 0)
                        return r;
                posting_orphan(rd, column_u64(rd->postings, 0));
        }
}

/* Verify */

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

        r = entry_reader_init(l, &rd);
        if (r < 0)
                return r;

        while ((r = entry_reader_next(&rd)) > 0) {
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
                if (entry_hash(rd.prev_hash, e, hash) < 0 || memcmp(hash, rd.hash, sizeof(hash)) != 0) {
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

        r = entry_reader_finish(&rd);
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
        entry_reader_done(&rd);
        return r;
}

/* Step 3: each slice row against its postings. */
static int verify_slices(struct ledger *l, char **d) {
        _cleanup_reset_ sqlite3_stmt *s = NULL;
        char id[SLICE_ID_MAX], a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX];
        int r;

        r = stmt_get(l, STMT_VERIFY_SLICES, &s);
        if (r < 0)
                return r;
        while ((r = step_row(l, s, "sum the postings per slice")) > 0) {
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

        r = stmt_get(l, STMT_VERIFY_SLICELESS_ENTRY, &s);
        if (r < 0)
                return r;
        r = step_row(l, s, "look for entries of unknown slices");
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

        r = stmt_get(l, STMT_VERIFY_VOUCHERS, &s);
        if (r < 0)
                return r;
        while ((r = step_row(l, s, "match vouchers to their entries")) > 0) {
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

        r = stmt_get(l, STMT_VERIFY_REDEEMS, &s);
        if (r < 0)
                return r;
        r = step_row(l, s, "match entries to their vouchers");
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

        r = stmt_get(l, STMT_VERIFY_BOOKS, &s);
        if (r < 0)
                return r;
        r = step_row(l, s, "sum the books");
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

        r = read_begin(l, &opened);
        if (r < 0)
                return r;
        r = verify_entries(l, &entries, &d);
        if (r >= 0)
                r = verify_slices(l, &d);
        if (r >= 0)
                r = verify_vouchers(l, &d);
        if (r >= 0)
                r = verify_balance(l, &books, &d);
        read_end(l, opened);

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

        r = books_read(l, &books);
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
        r = stmt_get(l, STMT_SLICE_ALL, &s);
        if (r < 0)
                return r;
        sep = "\n";
        while ((r = step_row(l, s, "read slices")) > 0) {
                _cleanup_json_ json_object *o = NULL;
                struct ledger_slice sl;

                r = slice_from_row(l, s, &sl, NULL);
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
        r = stmt_get(l, STMT_VOUCHER_ALL, &s);
        if (r < 0)
                return r;
        sep = "\n";
        while ((r = step_row(l, s, "read vouchers")) > 0) {
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
        r = entry_reader_init(l, &rd);
        sep = "\n";
        while (r >= 0 && (r = entry_reader_next(&rd)) > 0) {
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
        entry_reader_done(&rd);
        if (r < 0)
                return r;

        fputs("],\n\"events\":[", f);
        r = events_read(l, NULL, export_event_cb, &x);
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

        r = read_begin(l, &opened);
        if (r < 0)
                return r;
        r = export_all(l, f);
        read_end(l, opened);
        if (r < 0)
                return r;
        if (fflush(f) != 0 || ferror(f))
                return -errno ?: -EIO;
        return 0;
}
