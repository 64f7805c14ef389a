/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ledger (daemon/ledger*.c): vouchers spent once, slices credited and
 * charged, batches and savepoints, the hash chain and what verify catches.
 * Each test works in its own mkdtemp directory, removed afterwards. Edits
 * behind the ledger's back go through a second SQLite handle. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/chart.h"
#include "common/crypto.h"
#include "common/util.h"
#include "ledger.h"

#define CENTS(x) ((int64_t) (x) * (MONEY_UNIT / 100))
#define SENTINEL INT64_C(-424242)

#define SLICE_A "s-0000000a"
#define SLICE_B "s-0000000b"
#define SLICE_C "s-0000000c"

struct fixture {
        char dir[64];
        char path[128];
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        snprintf(f->dir, sizeof(f->dir), "/tmp/test-ledger-XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->path, sizeof(f->path), "%s/ledger.db", f->dir);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;
        struct dirent *de;
        DIR *d;

        d = opendir(f->dir);
        if (d) {
                while ((de = readdir(d)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                                unlinkat(dirfd(d), de->d_name, 0);
                closedir(d);
        }
        rmdir(f->dir);
        free(f);
        return 0;
}

static struct ledger *open_ok(const char *path, bool read_only) {
        struct ledger *l = NULL;
        char *error = NULL;
        int r;

        r = ledger_open(path, read_only, &l, &error);
        if (r < 0)
                fail_msg("ledger_open(%s, %s): %d %s", path, read_only ? "ro" : "rw", r, strna(error));
        assert_non_null(l);
        free(error);
        return l;
}

/* Read-write, with a batch open. */
static struct ledger *open_batch(const char *path) {
        struct ledger *l = open_ok(path, false);

        assert_int_equal(ledger_begin(l), 0);
        return l;
}

static struct voucher make_voucher(unsigned n, int64_t amount) {
        struct voucher v = {
                .amount = amount,
                .currency = "EUR",
                .not_before = 1700000000,
                .not_after = 1800000000,
        };

        for (size_t i = 0; i < sizeof(v.id); i++)
                v.id[i] = (uint8_t) (n + i);
        memset(v.issuer, 0xab, sizeof(v.issuer));
        return v;
}

static void add_slice(struct ledger *l, const char *id, uint32_t uid) {
        struct ledger_slice s = { .owner_uid = uid, .created_usec = 1000 };

        snprintf(s.id, sizeof(s.id), "%s", id);
        memset(s.owner_hash, 0x5a, sizeof(s.owner_hash));
        assert_int_equal(ledger_slice_add(l, &s), 0);
}

static void redeem_ok(struct ledger *l, unsigned n, int64_t amount, const char *slice, int64_t want_balance) {
        struct voucher v = make_voucher(n, amount);
        int64_t balance = SENTINEL;

        assert_int_equal(ledger_redeem(l, &v, slice, NULL, 2000 + n, &balance, NULL), 0);
        assert_int_equal(balance, want_balance);
}

/* The schema this build writes, and one newer than it knows. */
#define SCHEMA_NOW 10
#define SCHEMA_NEWER "11"

/* A ledger as schema 9 left it: schema 10's stored histories gone. */
#define SCHEMA_9_SQL "DROP TABLE slice_history_buckets; DROP TABLE slice_history; "

/* A ledger as schema 8 left it: schema 9's index of entries by slice gone. */
#define SCHEMA_8_SQL SCHEMA_9_SQL "DROP INDEX entries_slice; "

/* A ledger as schema 7 left it: schema 8's fleet intents gone. */
#define SCHEMA_7_SQL SCHEMA_8_SQL "DROP TABLE fleet_intents; "

/* A ledger as schema 6 left it: schema 7's investors, payouts and
 * columns gone, entries as migration 6 made it (the CHECKs of kind and
 * funder without investors), its rows as they were. */
#define SCHEMA_6_SQL                                                                                       \
        SCHEMA_7_SQL "DROP TABLE payouts; DROP TABLE investors; ALTER TABLE slices DROP COLUMN revenue; "              \
        "ALTER TABLE slices DROP COLUMN invested; ALTER TABLE slices DROP COLUMN earned; "                  \
        "ALTER TABLE slices DROP COLUMN earned_claimed; ALTER TABLE slices DROP COLUMN invest_terms; "      \
        "ALTER TABLE slices DROP COLUMN invest_rate; ALTER TABLE slices DROP COLUMN invest_cap; "           \
        "ALTER TABLE slices DROP COLUMN invest_entry; "                                                     \
        "CREATE TABLE e7 AS SELECT * FROM entries; DROP TABLE entries; "                                    \
        "CREATE TABLE entries (seq INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL, "                     \
        "kind TEXT NOT NULL CHECK (kind IN ('redeem', 'charge', 'release', 'claim', 'bid', 'award', "      \
        "'return')), slice TEXT NOT NULL REFERENCES slices (id), voucher BLOB, request_id TEXT, "           \
        "overshoot INTEGER NOT NULL DEFAULT 0, prev_hash BLOB NOT NULL, hash BLOB NOT NULL, "                \
        "funder BLOB CHECK (funder IS NULL OR (kind IN ('redeem', 'claim', 'award') AND length(funder) = 32))) " \
        "STRICT; INSERT INTO entries SELECT * FROM e7; DROP TABLE e7; "

/* A ledger as schema 5 left it: schema 6's sponsorships and bids gone,
 * entries as migration 4 made it (kinds without bid, award, return). */
#define SCHEMA_5_SQL                                                                                       \
        SCHEMA_6_SQL "DROP INDEX bids_open; DROP TABLE bids; DROP TABLE sponsorships; "                    \
        "CREATE TABLE e5 AS SELECT * FROM entries; DROP TABLE entries; "                                    \
        "CREATE TABLE entries (seq INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL, "                     \
        "kind TEXT NOT NULL CHECK (kind IN ('redeem', 'charge', 'release', 'claim')), "                    \
        "slice TEXT NOT NULL REFERENCES slices (id), voucher BLOB, request_id TEXT, "                       \
        "overshoot INTEGER NOT NULL DEFAULT 0, prev_hash BLOB NOT NULL, hash BLOB NOT NULL, "                \
        "funder BLOB CHECK (funder IS NULL OR (kind IN ('redeem', 'claim') AND length(funder) = 32))) STRICT; " \
        "INSERT INTO entries SELECT * FROM e5; DROP TABLE e5; "

/* A ledger as schema 4 left it: schema 5's columns gone too. */
#define SCHEMA_4_SQL                                                                                       \
        SCHEMA_5_SQL "ALTER TABLE slices DROP COLUMN anonymous_share; ALTER TABLE slices DROP COLUMN donated; "

/* A ledger as schema 3 left it: schema 4's claims, credits and columns
 * gone, entries as migrations 1 and 3 made it (the CHECKs of kind and
 * funder without claims), its rows as they were. This connection does
 * not enforce foreign keys, as sqlite3(1) does not by default. */
#define SCHEMA_3_SQL                                                                                       \
        SCHEMA_4_SQL "DROP TABLE claims; DROP TABLE credits; ALTER TABLE slices DROP COLUMN held; "        \
        "ALTER TABLE slices DROP COLUMN claimed; CREATE TABLE e4 AS SELECT * FROM entries; DROP TABLE entries; " \
        "CREATE TABLE entries (seq INTEGER PRIMARY KEY, time_usec INTEGER NOT NULL, "                     \
        "kind TEXT NOT NULL CHECK (kind IN ('redeem', 'charge', 'release')), "                             \
        "slice TEXT NOT NULL REFERENCES slices (id), voucher BLOB, request_id TEXT, "                       \
        "overshoot INTEGER NOT NULL DEFAULT 0, prev_hash BLOB NOT NULL, hash BLOB NOT NULL) STRICT; "        \
        "ALTER TABLE entries ADD COLUMN funder BLOB "                                                       \
        "CHECK (funder IS NULL OR (kind = 'redeem' AND length(funder) = 32)); "                             \
        "INSERT INTO entries SELECT * FROM e4; DROP TABLE e4; "

/* SQL on a second handle, as an operator with sqlite3(1) would. */
static void raw_exec(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        char *err = NULL;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
                fail_msg("%s: %s", sql, strna(err));
        sqlite3_close(db);
}

static int64_t raw_int(const char *path, const char *sql) {
        sqlite3_stmt *s = NULL;
        sqlite3 *db = NULL;
        int64_t v;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        v = sqlite3_column_int64(s, 0);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return v;
}

/* The schema as text, objects in name order (to free). */
static char *raw_schema(const char *path) {
        sqlite3_stmt *s = NULL;
        sqlite3 *db = NULL;
        char *v;

        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT group_concat(type || ' ' || name || ': ' || coalesce(sql, ''), "
                                            "char(10)) FROM (SELECT * FROM sqlite_schema ORDER BY name)",
                                            -1, &s, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(s), SQLITE_ROW);
        v = strdup((const char *) sqlite3_column_text(s, 0));
        assert_non_null(v);
        sqlite3_finalize(s);
        sqlite3_close(db);
        return v;
}

static uint64_t add_event(struct ledger *l, const char *slice, const char *kind, bool funded, const char *reason) {
        struct ledger_event ev = {
                .time_usec = 1700000000000000,
                .funded = funded,
                .owner_uid = 1000,
                .balance = funded ? CENTS(5) : 0,
                .burn_rate = funded ? 1000 : 0,
                .time_left_usec = funded ? 45000000 : 0,
                .currency = "EUR",
        };
        uint64_t seq = 0;

        snprintf(ev.slice, sizeof(ev.slice), "%s", slice);
        snprintf(ev.kind, sizeof(ev.kind), "%s", kind);
        snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
        assert_int_equal(ledger_event_add(l, &ev, &seq), 0);
        assert_true(seq > 0);
        return seq;
}

static void verify_ok(struct ledger *l) {
        char *d = NULL;
        int r;

        r = ledger_verify(l, &d);
        if (r != 0)
                fail_msg("verify: %d %s", r, strna(d));
        assert_null(d);
}

/* Verify fails, naming what. */
static void verify_fails(struct ledger *l, const char *what) {
        char *d = NULL;

        assert_int_equal(ledger_verify(l, &d), -EBADMSG);
        assert_non_null(d);
        if (!strstr(d, what))
                fail_msg("discrepancy '%s' does not say '%s'", d, what);
        free(d);
}

static void test_open_migrate_reopen(void **state) {
        struct fixture *f = *state;
        struct ledger_books books;
        struct ledger *l;
        char *error = NULL;
        struct stat st;

        l = open_ok(f->path, false);
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.entries, 0);
        assert_int_equal(books.redeemed, 0);
        verify_ok(l);
        ledger_close(l);

        assert_int_equal(stat(f->path, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
        assert_int_equal(raw_int(f->path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'entries'"), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'events'"), 1);

        /* Again, read-write (nothing to migrate) and read-only. */
        l = open_ok(f->path, false);
        ledger_close(l);
        l = open_ok(f->path, true);
        assert_false(ledger_in_batch(l));
        assert_int_equal(ledger_begin(l), -EROFS);
        ledger_close(l);

        /* A file that is not there is not created by a reader. */
        l = (struct ledger *) 0x1;
        snprintf(f->path + strlen(f->dir), sizeof(f->path) - strlen(f->dir), "/missing.db");
        assert_int_equal(ledger_open(f->path, true, &l, &error), -ENOENT);
        assert_ptr_equal(l, (struct ledger *) 0x1);
        assert_non_null(strstr(error, "missing.db"));
        free(error);
        assert_int_equal(access(f->path, F_OK), -1);
}

static void test_redeem(void **state) {
        struct fixture *f = *state;
        struct ledger_spent spent = {};
        struct ledger_slice s;
        struct voucher v;
        struct ledger *l;
        int64_t balance;

        l = open_ok(f->path, false);

        /* Writes need a batch. */
        v = make_voucher(1, CENTS(1000));
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 1, NULL, NULL), -ENOTCONN);
        assert_int_equal(ledger_commit(l), 0); /* no batch: nothing to do */

        assert_int_equal(ledger_begin(l), 0);
        assert_true(ledger_in_batch(l));
        assert_int_equal(ledger_begin(l), 0); /* already open */
        add_slice(l, SLICE_A, 1000);
        {
                struct ledger_slice dup = { .id = SLICE_A };
                assert_int_equal(ledger_slice_add(l, &dup), -EEXIST);
        }
        redeem_ok(l, 1, CENTS(1000), SLICE_A, CENTS(1000));
        redeem_ok(l, 2, CENTS(250), SLICE_A, CENTS(1250));
        assert_int_equal(ledger_commit(l), 0);
        assert_false(ledger_in_batch(l));

        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.balance, CENTS(1250));
        assert_int_equal(s.credited, CENTS(1250));
        assert_int_equal(s.state, LEDGER_SLICE_ACTIVE);
        assert_int_equal(s.owner_uid, 1000);
        assert_int_equal(s.created_usec, 1000);
        assert_string_equal(s.change, "");

        assert_int_equal(ledger_voucher_spent(l, v.id, &spent), 0);
        assert_int_equal(spent.time_usec, 2001);
        assert_string_equal(spent.slice, SLICE_A);

        assert_int_equal(ledger_begin(l), 0);
        /* Twice: refused, with when and where. */
        memset(&spent, 0, sizeof(spent));
        balance = SENTINEL;
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 5000, &balance, &spent), -EALREADY);
        assert_int_equal(balance, SENTINEL);
        assert_int_equal(spent.time_usec, 2001);
        assert_string_equal(spent.slice, SLICE_A);

        /* Into a slice that does not exist: refused, voucher not spent. */
        v = make_voucher(3, CENTS(100));
        assert_int_equal(ledger_redeem(l, &v, SLICE_B, NULL, 5000, &balance, &spent), -ENOENT);
        assert_int_equal(ledger_voucher_spent(l, v.id, &spent), -ENOENT);
        assert_int_equal(balance, SENTINEL);

        /* Malformed arguments. */
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, "bad id!", 5000, NULL, NULL), -EINVAL);
        assert_int_equal(ledger_redeem(l, &v, "nope", NULL, 5000, NULL, NULL), -EINVAL);
        v.amount = 0;
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 5000, NULL, NULL), -EINVAL);
        v.amount = MONEY_AMOUNT_MAX + 1;
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 5000, NULL, NULL), -EINVAL);

        /* With a request id: it is in the entry. */
        v = make_voucher(4, CENTS(100));
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, "req-4", 5000, &balance, NULL), 0);
        assert_int_equal(balance, CENTS(1350));
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE request_id = 'req-4'"), 1);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM vouchers"), 3);

        /* A balance that would not fit an int64_t. The edit breaks the
         * books; this test is about the refusal only. */
        raw_exec(f->path, "UPDATE slices SET balance = 9223372036854775000 WHERE id = '" SLICE_A "'");
        assert_int_equal(ledger_begin(l), 0);
        v = make_voucher(5, CENTS(100));
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 6000, &balance, NULL), -EOVERFLOW);
        assert_int_equal(ledger_voucher_spent(l, v.id, NULL), -ENOENT);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(raw_int(f->path, "SELECT max(seq) FROM entries"), 3);

        ledger_close(l);
}

/* A balance holds at most what its change can be paid in: the
 * LEDGER_CHANGE_VOUCHERS_MAX largest vouchers. Up to that it is
 * credited; past it the voucher is refused and stays unspent. The
 * release then keeps every line of that change. */
/* Several vouchers in one savepoint: all of them, or (one spent, one
 * past the balance's cap) none, the hash chain as if nothing was tried. */
static void test_redeem_all(void **state) {
        struct fixture *f = *state;
        struct ledger_spent spent;
        struct voucher v[3];
        struct ledger_slice s;
        struct ledger *l;
        int64_t balance = SENTINEL;
        size_t failed = 99;
        char *discrepancy = NULL;

        l = open_batch(f->path);
        add_slice(l, SLICE_A, 1000);
        v[0] = make_voucher(10, CENTS(100));
        v[1] = make_voucher(20, CENTS(200));
        v[2] = make_voucher(30, CENTS(300));
        assert_int_equal(ledger_redeem_all(l, v, 2, SLICE_A, "r-all", 3000, &balance, &failed), 0);
        assert_int_equal(balance, CENTS(300));
        assert_int_equal(failed, 99);

        /* v[0] again, after v[2]: v[2] is not spent either. */
        v[1] = v[0];
        v[0] = v[2];
        balance = SENTINEL;
        assert_int_equal(ledger_redeem_all(l, v, 2, SLICE_A, NULL, 3001, &balance, &failed), -EALREADY);
        assert_int_equal(failed, 1);
        assert_int_equal(balance, SENTINEL);
        assert_int_equal(ledger_voucher_spent(l, v[0].id, &spent), -ENOENT);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.balance, CENTS(300));

        /* The first alone still goes, after the batch went on. */
        assert_int_equal(ledger_redeem_all(l, v, 1, SLICE_A, NULL, 3002, &balance, NULL), 0);
        assert_int_equal(balance, CENTS(600));
        assert_int_equal(ledger_redeem_all(l, v, 0, SLICE_A, NULL, 3003, NULL, NULL), -EINVAL);
        assert_int_equal(ledger_redeem_all(l, v, 17, SLICE_A, NULL, 3003, NULL, NULL), -EINVAL);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(ledger_verify(l, &discrepancy), 0);
        free(discrepancy);
        ledger_close(l);
}

static void test_balance_max(void **state) {
        struct fixture *f = *state;
        struct ledger *l = open_ok(f->path, false);
        char change[LEDGER_CHANGE_MAX], line[VOUCHER_TEXT_MAX];
        struct ledger_slice s;
        struct voucher v;
        int64_t balance;
        size_t len = 0;

        assert_int_equal(ledger_begin(l), 0);
        add_slice(l, SLICE_A, 1000);
        for (unsigned i = 0; i < LEDGER_CHANGE_VOUCHERS_MAX; i++)
                redeem_ok(l, 10 + i, MONEY_AMOUNT_MAX, SLICE_A, (int64_t) (i + 1) * MONEY_AMOUNT_MAX);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.balance, LEDGER_BALANCE_MAX);
        v = make_voucher(99, 1);
        assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 5000, &balance, NULL), -EOVERFLOW);
        assert_int_equal(ledger_voucher_spent(l, v.id, NULL), -ENOENT);

        /* The longest change there can be, one voucher text per line. */
        memset(line, 'x', sizeof(line) - 1);
        line[sizeof(line) - 1] = 0;
        memcpy(line, "pv1-", 4);
        for (unsigned i = 0; i < LEDGER_CHANGE_VOUCHERS_MAX; i++)
                len += (size_t) snprintf(change + len, sizeof(change) - len, "%s%s", i ? "\n" : "", line);
        assert_int_equal(strlen(change), LEDGER_CHANGE_MAX - 1);
        assert_int_equal(ledger_release(l, SLICE_A, change, 6000), 0);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.refunded, LEDGER_BALANCE_MAX);
        assert_string_equal(s.change, change);
        verify_ok(l);
        ledger_close(l);
}

static void test_charge(void **state) {
        struct fixture *f = *state;
        uint64_t counters[_RESOURCE_MAX] = {};
        int64_t due[_RESOURCE_MAX] = {}, balance;
        struct ledger_books books;
        struct ledger_slice s;
        struct ledger *l;

        l = open_batch(f->path);
        add_slice(l, SLICE_A, 0);
        redeem_ok(l, 1, CENTS(100), SLICE_A, CENTS(100));
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 10, NULL), -ENOTCONN);
        assert_int_equal(ledger_begin(l), 0);

        /* Nothing moved: nothing written. */
        balance = SENTINEL;
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 10, &balance), 0);
        assert_int_equal(balance, CENTS(100));

        /* 0.30 of CPU. */
        counters[RESOURCE_CPU] = 100;
        due[RESOURCE_CPU] = CENTS(30);
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 11, &balance), 0);
        assert_int_equal(balance, CENTS(70));

        /* Counters moved, cost nothing: no entry, counters stored. */
        counters[RESOURCE_NET_IN] = 5000;
        due[RESOURCE_CPU] = 0;
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 12, &balance), 0);
        assert_int_equal(balance, CENTS(70));
        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.billed[RESOURCE_NET_IN], 5000);
        assert_int_equal(s.billed[RESOURCE_CPU], 100);

        /* A counter that went back, a negative charge, a charge for a
         * counter that did not move: refused. */
        counters[RESOURCE_CPU] = 99;
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 13, &balance), -EINVAL);
        counters[RESOURCE_CPU] = 200;
        due[RESOURCE_CPU] = -1;
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 13, &balance), -EINVAL);
        counters[RESOURCE_CPU] = 100;
        due[RESOURCE_CPU] = 1;
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 13, &balance), -EINVAL);
        assert_int_equal(ledger_charge(l, SLICE_B, counters, due, 13, &balance), -ENOENT);

        /* Partial cover: CPU 0.50 in full, memory 0.20 of 0.40, the rest
         * (and all of the base fee) overshoot. */
        counters[RESOURCE_CPU] = 300;
        counters[RESOURCE_MEMORY] = 1 << 20;
        counters[RESOURCE_BASE] = 60000000;
        due[RESOURCE_CPU] = CENTS(50);
        due[RESOURCE_MEMORY] = CENTS(40);
        due[RESOURCE_BASE] = CENTS(5);
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 14, &balance), 0);
        assert_int_equal(balance, 0);

        /* Nothing left: all overshoot, an entry without postings. */
        counters[RESOURCE_CPU] = 400;
        memset(due, 0, sizeof(due));
        due[RESOURCE_CPU] = CENTS(10);
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 15, &balance), 0);
        assert_int_equal(balance, 0);
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.balance, 0);
        assert_int_equal(s.charged[RESOURCE_CPU], CENTS(80));
        assert_int_equal(s.charged[RESOURCE_MEMORY], CENTS(20));
        assert_int_equal(s.charged[RESOURCE_BASE], 0);
        assert_int_equal(s.overshoot, CENTS(20) + CENTS(5) + CENTS(10));
        assert_int_equal(s.billed[RESOURCE_CPU], 400);
        assert_int_equal(s.billed[RESOURCE_MEMORY], 1 << 20);
        assert_int_equal(s.billed[RESOURCE_BASE], 60000000);

        /* redeem, charge 0.30, charge 0.50 + 0.20, charge of nothing. */
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), 4);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM postings WHERE entry = 3"), 3);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM postings WHERE entry = 4"), 0);
        assert_int_equal(raw_int(f->path, "SELECT overshoot FROM entries WHERE seq = 4"), CENTS(10));

        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.redeemed, CENTS(100));
        assert_int_equal(books.held, 0);
        assert_int_equal(books.charged, CENTS(100));
        assert_int_equal(books.overshoot, CENTS(35));
        assert_int_equal(books.entries, 4);
        verify_ok(l);
        ledger_close(l);
}

static int collect(const struct ledger_slice *s, void *userdata) {
        char *buf = userdata;

        strcat(buf, s->id);
        strcat(buf, " ");
        return 0;
}

static int stop_at_b(const struct ledger_slice *s, void *userdata) {
        return streq(s->id, SLICE_B) ? -ECANCELED : 0;
}

/* A slice's history (ledger_slice_history()): its balance and what it
 * was charged after each of its entries, in order, its own entries only,
 * the open batch's included; stopped by the callback's error. */
struct history_seen {
        uint64_t time[8];
        int64_t balance[8], spent[8];
        size_t n;
};

static int history_cb(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata) {
        struct history_seen *h = userdata;

        if (h->n == ARRAY_SIZE(h->time))
                return -ENOBUFS;
        h->time[h->n] = time_usec;
        h->balance[h->n] = balance;
        h->spent[h->n++] = spent;
        return 0;
}

static void test_history(void **state) {
        struct fixture *f = *state;
        uint64_t counters[_RESOURCE_MAX] = {};
        int64_t due[_RESOURCE_MAX] = {}, balance;
        struct history_seen h = {};
        struct ledger *l;

        l = open_batch(f->path);
        add_slice(l, SLICE_A, 0);
        add_slice(l, SLICE_B, 0);
        redeem_ok(l, 1, CENTS(100), SLICE_A, CENTS(100));
        redeem_ok(l, 2, CENTS(40), SLICE_B, CENTS(40));
        counters[RESOURCE_CPU] = 100;
        due[RESOURCE_CPU] = CENTS(30);
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 3000, &balance), 0);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(ledger_begin(l), 0);
        redeem_ok(l, 3, CENTS(50), SLICE_A, CENTS(120)); /* in the open batch */

        assert_int_equal(ledger_slice_history(l, SLICE_A, history_cb, &h), 0);
        assert_int_equal(h.n, 3);
        assert_int_equal(h.time[0], 2001);
        assert_int_equal(h.balance[0], CENTS(100));
        assert_int_equal(h.spent[0], 0);
        assert_int_equal(h.time[1], 3000);
        assert_int_equal(h.balance[1], CENTS(70));
        assert_int_equal(h.spent[1], CENTS(30));
        assert_int_equal(h.time[2], 2003);
        assert_int_equal(h.balance[2], CENTS(120));
        assert_int_equal(h.spent[2], CENTS(30));

        h = (struct history_seen) { .n = ARRAY_SIZE(h.time) };
        assert_int_equal(ledger_slice_history(l, SLICE_B, history_cb, &h), -ENOBUFS);
        assert_int_equal(ledger_slice_history(l, "not a slice", history_cb, &h), -EINVAL);
        h = (struct history_seen) {};
        assert_int_equal(ledger_slice_history(l, "s-00000000", history_cb, &h), 0);
        assert_int_equal(h.n, 0);
        ledger_close(l);
}

/* A slice's stored history (schema 10): the summary the ledger folds at
 * each commit is the one chart_summary_add() makes of every point
 * ledger_slice_history() gives (an entry after a step back of the clock
 * at the time of the one before), across batches, a batch rolled back,
 * the width doubled many times, a reopen, another handle writing between
 * two batches of one that keeps its tails, and a migration from schema 9
 * that builds it; verify finds one that is not. */
static int history_fold_cb(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata) {
        struct chart_summary *s = userdata;
        struct chart_point p = { time_usec, balance, spent };

        if (s->n > 0 && p.time_usec < s->b[s->n - 1].last.time_usec)
                p.time_usec = s->b[s->n - 1].last.time_usec;
        return chart_summary_add(s, &p);
}

static void assert_stored_is_fold(struct ledger *l, const char *slice) {
        static struct chart_summary want, got;

        chart_summary_init(&want);
        assert_int_equal(ledger_slice_history(l, slice, history_fold_cb, &want), 0);
        assert_int_equal(ledger_slice_history_summary(l, slice, &got), 0);
        assert_int_equal(got.n, want.n);
        if (want.n == 0)
                return;
        assert_int_equal(got.origin, want.origin);
        assert_int_equal(got.width, want.width);
        assert_memory_equal(got.b, want.b, want.n * sizeof(want.b[0]));
}

/* n charges of slice at times from *t on, about 14 ms apart, every
 * 500th a step back of 50 ms; slice_b charged every 10th. */
static void charge_steps(struct ledger *l, const char *slice, const char *slice_b, unsigned n, uint64_t *t,
                         uint64_t *cpu) {
        int64_t due[_RESOURCE_MAX] = { [RESOURCE_CPU] = 3 };
        uint64_t counters[_RESOURCE_MAX] = {};

        for (unsigned i = 0; i < n; i++) {
                *t += 7919 + (i % 13) * 1000;
                if (i % 500 == 499)
                        *t -= 50000;
                counters[RESOURCE_CPU] = ++*cpu;
                assert_int_equal(ledger_charge(l, slice, counters, due, *t, NULL), 0);
                if (slice_b && i % 10 == 0)
                        assert_int_equal(ledger_charge(l, slice_b, counters, due, *t, NULL), 0);
        }
}

static void test_history_stored(void **state) {
        struct fixture *f = *state;
        static struct chart_summary before, after;
        uint64_t t = 10000, cpu = 0;
        struct ledger *l, *l2;
        char *d = NULL;

        l = open_batch(f->path);
        add_slice(l, SLICE_A, 0);
        add_slice(l, SLICE_B, 0);
        add_slice(l, SLICE_C, 0);
        redeem_ok(l, 1, CENTS(1000), SLICE_A, CENTS(1000));
        redeem_ok(l, 2, CENTS(1000), SLICE_B, CENTS(1000));
        assert_int_equal(ledger_commit(l), 0);
        assert_stored_is_fold(l, SLICE_A);

        /* 42 s of 10 ms buckets: the width doubles within a batch and
         * between two. */
        for (int k = 0; k < 6; k++) {
                assert_int_equal(ledger_begin(l), 0);
                charge_steps(l, SLICE_A, SLICE_B, 500, &t, &cpu);
                if (k == 2)
                        redeem_ok(l, 3, CENTS(500), SLICE_A, CENTS(1500) - 3 * (int64_t) cpu);
                assert_int_equal(ledger_commit(l), 0);
                assert_stored_is_fold(l, SLICE_A);
                assert_stored_is_fold(l, SLICE_B);
        }
        assert_int_equal(ledger_slice_history_summary(l, SLICE_A, &before), 0);
        assert_true(before.width > CHART_SUMMARY_WIDTH_USEC);

        /* A batch rolled back leaves it as it was. */
        assert_int_equal(ledger_begin(l), 0);
        charge_steps(l, SLICE_A, NULL, 50, &(uint64_t) { t }, &(uint64_t) { cpu });
        ledger_rollback(l);
        assert_int_equal(ledger_slice_history_summary(l, SLICE_A, &after), 0);
        assert_memory_equal(&after, &before, sizeof(before));
        assert_stored_is_fold(l, SLICE_A);
        assert_stored_is_fold(l, SLICE_C);
        assert_int_equal(after.n, before.n);
        verify_ok(l);
        ledger_close(l);

        /* After a restart, read-write and read-only. */
        l = open_ok(f->path, false);
        assert_stored_is_fold(l, SLICE_A);
        assert_int_equal(ledger_begin(l), 0);
        charge_steps(l, SLICE_A, SLICE_B, 100, &t, &cpu);
        /* Verify inside a batch: its entries are folded at its commit. */
        verify_ok(l);
        assert_int_equal(ledger_commit(l), 0);
        ledger_close(l);
        l = open_ok(f->path, true);
        assert_stored_is_fold(l, SLICE_A);
        assert_stored_is_fold(l, SLICE_B);
        assert_int_equal(ledger_slice_history_summary(l, "not a slice", &after), -EINVAL);
        ledger_close(l);

        /* A handle keeps the tails it folded: another writing between
         * two of its batches is seen. */
        l = open_batch(f->path);
        charge_steps(l, SLICE_A, NULL, 20, &t, &cpu);
        assert_int_equal(ledger_commit(l), 0);
        l2 = open_batch(f->path);
        charge_steps(l2, SLICE_A, NULL, 20, &t, &cpu);
        assert_int_equal(ledger_commit(l2), 0);
        ledger_close(l2);
        assert_int_equal(ledger_begin(l), 0);
        charge_steps(l, SLICE_A, NULL, 20, &t, &cpu);
        assert_int_equal(ledger_commit(l), 0);
        assert_stored_is_fold(l, SLICE_A);
        verify_ok(l);
        ledger_close(l);

        /* A stored history that is not the fold of the entries. */
        raw_exec(f->path, "UPDATE slice_history_buckets SET last_balance = last_balance + 1 WHERE slice = '" SLICE_B
                          "' AND idx = 0");
        l = open_ok(f->path, true);
        assert_int_equal(ledger_verify(l, &d), -EBADMSG);
        assert_non_null(strstr(d, "Slice " SLICE_B ": bucket 0 of its stored history"));
        free(d);
        d = NULL;
        ledger_close(l);
        raw_exec(f->path, "DELETE FROM slice_history WHERE slice = '" SLICE_B "'");
        l = open_ok(f->path, true);
        assert_int_equal(ledger_verify(l, &d), -EBADMSG);
        assert_non_null(strstr(d, "Stored history of " SLICE_B));
        free(d);
        ledger_close(l);

        /* A ledger of schema 9 gets them built by the migration. */
        raw_exec(f->path, SCHEMA_9_SQL "PRAGMA user_version = 9");
        l = open_ok(f->path, false);
        assert_stored_is_fold(l, SLICE_A);
        assert_stored_is_fold(l, SLICE_B);
        assert_stored_is_fold(l, SLICE_C);
        verify_ok(l);
        ledger_close(l);
}

static int count_point(const struct chart_point *p, void *userdata) {
        (*(size_t *) userdata)++;
        return 0;
}

static double now_sec(void);

/* A history request's read on a slice of a month of charges, its first
 * and after a reopen, against folding its entries (what the first
 * request read before schema 10). N: TEST_LEDGER_HISTORY_ENTRIES charges
 * (100,000 unless set; 1,000,000 for the figure in daemon/README.md).
 * Printed, never asserted. */
static void test_history_performance(void **state) {
        struct fixture *f = *state;
        static struct chart_summary s;
        int64_t due[_RESOURCE_MAX] = { [RESOURCE_CPU] = 1 };
        uint64_t counters[_RESOURCE_MAX] = {};
        const char *env = getenv("TEST_LEDGER_HISTORY_ENTRIES");
        unsigned n = env ? (unsigned) strtoul(env, NULL, 10) : 100000;
        double t0, t_write, t_first, t_second, t_reopen, t_fold;
        size_t points = 0;
        struct ledger *l;

        assert_true(n > 0);
        l = open_batch(f->path);
        add_slice(l, SLICE_A, 0);
        redeem_ok(l, 1, (int64_t) n + 1000, SLICE_A, (int64_t) n + 1000);
        t0 = now_sec();
        for (unsigned i = 1; i <= n; i++) {
                counters[RESOURCE_CPU] = i;
                /* One charge each 2.6 s: a million is a month. */
                assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 2000 + (uint64_t) i * 2600000, NULL), 0);
                if (i % 10000 == 0) {
                        assert_int_equal(ledger_commit(l), 0);
                        assert_int_equal(ledger_begin(l), 0);
                }
        }
        assert_int_equal(ledger_commit(l), 0);
        t_write = now_sec() - t0;

        t0 = now_sec();
        assert_int_equal(ledger_slice_history_summary(l, SLICE_A, &s), 0);
        assert_int_equal(chart_summary_foreach(&s, count_point, &points), 0);
        t_first = now_sec() - t0;
        t0 = now_sec();
        assert_int_equal(ledger_slice_history_summary(l, SLICE_A, &s), 0);
        t_second = now_sec() - t0;
        ledger_close(l);

        l = open_ok(f->path, false);
        t0 = now_sec();
        assert_int_equal(ledger_slice_history_summary(l, SLICE_A, &s), 0);
        t_reopen = now_sec() - t0;

        t0 = now_sec();
        chart_summary_init(&s);
        assert_int_equal(ledger_slice_history(l, SLICE_A, history_fold_cb, &s), 0);
        t_fold = now_sec() - t0;
        assert_stored_is_fold(l, SLICE_A);
        ledger_close(l);

        printf("# ledger: history of a slice of %u entries (%zu buckets, %zu points): first request %.2f ms, "
               "the next %.2f ms, after a reopen %.2f ms; its entries folded (a first request before schema 10) %.0f ms; "
               "written in %.1f s (%.1f us a charge)\n",
               n + 1, s.n, points, t_first * 1e3, t_second * 1e3, t_reopen * 1e3, t_fold * 1e3, t_write, t_write * 1e6 / n);
}

static void test_release_keep_activate(void **state) {
        struct fixture *f = *state;
        struct ledger_books books;
        struct ledger_slice s;
        struct ledger *l;
        char seen[128] = "";

        l = open_batch(f->path);
        add_slice(l, SLICE_C, 0); /* creation order, not id order */
        add_slice(l, SLICE_A, 0);
        add_slice(l, SLICE_B, 0);
        redeem_ok(l, 1, CENTS(500), SLICE_A, CENTS(500));

        assert_int_equal(ledger_keep(l, SLICE_A, 100), 0);
        assert_int_equal(ledger_keep(l, SLICE_A, 100), -EALREADY);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.state, LEDGER_SLICE_KEPT);
        /* Anyone may top a kept slice up. */
        redeem_ok(l, 2, CENTS(100), SLICE_A, CENTS(600));
        assert_int_equal(ledger_activate(l, SLICE_A, 101), 0);
        assert_int_equal(ledger_activate(l, SLICE_A, 101), -EALREADY);
        assert_int_equal(ledger_keep(l, SLICE_B, 100), 0);

        /* Change is the balance: needed when there is one, refused when
         * there is none. */
        assert_int_equal(ledger_release(l, SLICE_A, NULL, 200), -EINVAL);
        assert_int_equal(ledger_release(l, SLICE_A, "", 200), -EINVAL);
        assert_int_equal(ledger_release(l, SLICE_C, "pv1-change", 200), -EINVAL);
        assert_int_equal(ledger_release(l, SLICE_A, "pv1-change", 200), 0);
        assert_int_equal(ledger_release(l, SLICE_A, "pv1-change", 200), -ESTALE);
        assert_int_equal(ledger_release(l, SLICE_C, NULL, 201), 0);
        assert_int_equal(ledger_keep(l, SLICE_A, 300), -ESTALE);
        assert_int_equal(ledger_activate(l, SLICE_A, 300), -ESTALE);
        {
                struct voucher v = make_voucher(3, CENTS(100));
                assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 300, NULL, NULL), -ESTALE);
        }
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.state, LEDGER_SLICE_RELEASED);
        assert_int_equal(s.balance, 0);
        assert_int_equal(s.refunded, CENTS(600));
        assert_int_equal(s.released_usec, 200);
        assert_string_equal(s.change, "pv1-change");
        assert_string_equal(ledger_slice_state_to_string(s.state), "released");
        assert_null(ledger_slice_state_to_string(_LEDGER_SLICE_STATE_MAX));

        /* Released slices are not listed; the rest in creation order. */
        assert_int_equal(ledger_begin(l), 0);
        add_slice(l, SLICE_A "1", 0);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(ledger_slice_foreach(l, collect, seen), 0);
        assert_string_equal(seen, SLICE_B " " SLICE_A "1 ");
        assert_int_equal(ledger_slice_foreach(l, stop_at_b, NULL), -ECANCELED);

        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.redeemed, CENTS(600));
        assert_int_equal(books.refunded, CENTS(600));
        assert_int_equal(books.held, 0);
        assert_int_equal(books.entries, 4); /* 2 redeems, 2 releases */
        verify_ok(l);
        ledger_close(l);
}

static void test_requests(void **state) {
        struct fixture *f = *state;
        struct ledger *l;
        char *reply = NULL;

        assert_true(ledger_request_id_is_valid("a"));
        assert_true(ledger_request_id_is_valid("2024-01-01T00:00:00.1_x"));
        assert_true(ledger_request_id_is_valid("0123456789012345678901234567890123456789012345678901234567890123"));
        assert_false(ledger_request_id_is_valid("01234567890123456789012345678901234567890123456789012345678901234"));
        assert_false(ledger_request_id_is_valid(""));
        assert_false(ledger_request_id_is_valid(NULL));
        assert_false(ledger_request_id_is_valid("a b"));
        assert_false(ledger_request_id_is_valid("a/b"));
        assert_false(ledger_request_id_is_valid("é"));

        l = open_ok(f->path, false);
        assert_int_equal(ledger_request_put(l, 1000, "r1", "topup", "{\"ok\":true}", 10), -ENOTCONN);
        assert_int_equal(ledger_begin(l), 0);
        assert_int_equal(ledger_request_put(l, 1000, "r1", "topup", "{\"ok\":true}", 10), 0);
        assert_int_equal(ledger_request_put(l, 1000, "r1", "topup", "{\"ok\":false}", 11), -EEXIST);
        assert_int_equal(ledger_request_put(l, 1001, "r1", "run", "{\"ok\":false}", 12), 0);
        assert_int_equal(ledger_request_put(l, 1000, "bad id", "run", "{}", 12), -EINVAL);
        assert_int_equal(ledger_request_put(l, 1000, "r2", "", "{}", 12), -EINVAL);
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_request_get(l, 1000, "r1", &reply), 0);
        assert_string_equal(reply, "{\"ok\":true}");
        free(reply);
        assert_int_equal(ledger_request_get(l, 1001, "r1", &reply), 0);
        assert_string_equal(reply, "{\"ok\":false}");
        free(reply);
        reply = NULL;
        assert_int_equal(ledger_request_get(l, 1002, "r1", &reply), -ENOENT);
        assert_int_equal(ledger_request_get(l, 1000, "r2", &reply), -ENOENT);
        assert_null(reply);

        assert_int_equal(ledger_begin(l), 0);
        assert_int_equal(ledger_request_prune(l, 11), 1);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(ledger_request_get(l, 1000, "r1", &reply), -ENOENT);
        assert_int_equal(ledger_request_get(l, 1001, "r1", &reply), 0);
        free(reply);
        ledger_close(l);
}

static void test_batch_rollback(void **state) {
        struct fixture *f = *state;
        struct ledger_books books;
        struct ledger_slice s;
        struct voucher v;
        struct ledger *l;
        char *reply = NULL;

        l = open_ok(f->path, false);
        ledger_rollback(l); /* no batch: nothing */

        /* A committed first entry, so the chain has a tip to go back to. */
        assert_int_equal(ledger_begin(l), 0);
        add_slice(l, SLICE_A, 0);
        redeem_ok(l, 1, CENTS(100), SLICE_A, CENTS(100));
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_begin(l), 0);
        add_slice(l, SLICE_B, 0);
        redeem_ok(l, 2, CENTS(200), SLICE_B, CENTS(200));
        redeem_ok(l, 3, CENTS(300), SLICE_A, CENTS(400));
        assert_int_equal(ledger_request_put(l, 7, "rq", "run", "{}", 1), 0);
        ledger_rollback(l);
        assert_false(ledger_in_batch(l));

        assert_int_equal(ledger_slice_get(l, SLICE_B, &s), -ENOENT);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.balance, CENTS(100));
        v = make_voucher(2, CENTS(200));
        assert_int_equal(ledger_voucher_spent(l, v.id, NULL), -ENOENT);
        assert_int_equal(ledger_request_get(l, 7, "rq", &reply), -ENOENT);
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.entries, 1);
        assert_int_equal(books.redeemed, CENTS(100));

        /* The chain goes on from entry 1, not from what was rolled back. */
        assert_int_equal(ledger_begin(l), 0);
        redeem_ok(l, 2, CENTS(200), SLICE_A, CENTS(300));
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(raw_int(f->path, "SELECT max(seq) FROM entries"), 2);
        verify_ok(l);

        /* Closing with a batch open rolls it back. */
        assert_int_equal(ledger_begin(l), 0);
        redeem_ok(l, 4, CENTS(400), SLICE_A, CENTS(700));
        ledger_close(l);
        l = open_ok(f->path, false);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.balance, CENTS(300));
        verify_ok(l);
        ledger_close(l);
}

/* A write that fails half way (here the last statement of a redeem,
 * refused by a trigger put in behind the ledger's back) leaves no trace,
 * and the rest of the batch is kept. */
static void test_savepoint_failure(void **state) {
        struct fixture *f = *state;
        uint64_t counters[_RESOURCE_MAX] = { 10 };
        int64_t due[_RESOURCE_MAX] = { CENTS(50) }, balance;
        struct ledger_slice s;
        struct voucher v;
        struct ledger *l;

        l = open_batch(f->path);
        add_slice(l, SLICE_A, 0);
        add_slice(l, SLICE_B, 0);
        assert_int_equal(ledger_commit(l), 0);

        raw_exec(f->path, "CREATE TRIGGER fail_b BEFORE UPDATE OF balance ON slices WHEN NEW.id = '" SLICE_B "' "
                          "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");

        assert_int_equal(ledger_begin(l), 0);
        redeem_ok(l, 1, CENTS(100), SLICE_A, CENTS(100));
        v = make_voucher(2, CENTS(200));
        balance = SENTINEL;
        assert_true(ledger_redeem(l, &v, SLICE_B, NULL, 10, &balance, NULL) < 0);
        assert_int_equal(balance, SENTINEL);
        assert_int_equal(ledger_voucher_spent(l, v.id, NULL), -ENOENT);
        assert_true(ledger_in_batch(l));
        /* The same for a charge, which fails after its entry. */
        assert_true(ledger_charge(l, SLICE_B, counters, due, 11, &balance) < 0);
        redeem_ok(l, 3, CENTS(300), SLICE_A, CENTS(400));
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 12, &balance), 0);
        assert_int_equal(balance, CENTS(350));
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_slice_get(l, SLICE_A, &s), 0);
        assert_int_equal(s.balance, CENTS(350));
        assert_int_equal(ledger_slice_get(l, SLICE_B, &s), 0);
        assert_int_equal(s.balance, 0);
        assert_int_equal(s.billed[0], 0);
        assert_int_equal(raw_int(f->path, "SELECT max(seq) FROM entries"), 3);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM postings"), 6);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE slice = '" SLICE_B "'"), 0);
        verify_ok(l);
        ledger_close(l);
}

/* A small ledger with every kind of entry:
 *   1 redeem A 10.00, 2 redeem B 4.00, 3 charge A 2.50 (cpu 2.00, io 0.50),
 *   4 redeem A 1.00, 5 release B (4.00 refunded), 6 charge A 8.50 of 9.50 (1.00 overshoot) */
static void build(const char *path) {
        uint64_t counters[_RESOURCE_MAX] = {};
        int64_t due[_RESOURCE_MAX] = {};
        struct ledger *l;

        l = open_ok(path, false);
        assert_int_equal(ledger_begin(l), 0);
        add_slice(l, SLICE_A, 1000);
        add_slice(l, SLICE_B, 1001);
        redeem_ok(l, 1, CENTS(1000), SLICE_A, CENTS(1000));
        redeem_ok(l, 2, CENTS(400), SLICE_B, CENTS(400));
        counters[RESOURCE_CPU] = 1000;
        counters[RESOURCE_IO] = 1000;
        due[RESOURCE_CPU] = CENTS(200);
        due[RESOURCE_IO] = CENTS(50);
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 3000, NULL), 0);
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_begin(l), 0);
        redeem_ok(l, 4, CENTS(100), SLICE_A, CENTS(850));
        assert_int_equal(ledger_release(l, SLICE_B, "pv1-change-b", 4000), 0);
        counters[RESOURCE_CPU] = 2000;
        due[RESOURCE_CPU] = CENTS(950);
        due[RESOURCE_IO] = 0;
        assert_int_equal(ledger_charge(l, SLICE_A, counters, due, 5000, NULL), 0);
        assert_int_equal(ledger_commit(l), 0);
        verify_ok(l);
        ledger_close(l);
}

static void test_verify_good(void **state) {
        struct fixture *f = *state;
        struct ledger_books books;
        char *d = NULL;
        struct ledger *l;

        build(f->path);
        l = open_ok(f->path, true);
        assert_int_equal(ledger_verify_books(l, &books, &d), 0);
        assert_int_equal(books.entries, 6);
        assert_int_equal(books.redeemed, CENTS(1500));
        assert_int_equal(books.held, 0);
        assert_int_equal(books.charged, CENTS(1100));
        assert_int_equal(books.refunded, CENTS(400));
        assert_int_equal(books.overshoot, CENTS(100));
        ledger_close(l);
}

/* The hash as daemon/README.md documents it, written again here from
 * that text: the test fails if the two ever part. */
static void put(uint8_t *buf, size_t *n, const void *p, size_t len) {
        if (len > 0)
                memcpy(buf + *n, p, len);
        *n += len;
}

static void put64(uint8_t *buf, size_t *n, uint64_t v) {
        for (int i = 7; i >= 0; i--)
                buf[(*n)++] = (uint8_t) (v >> (8 * i));
}

static void put_str(uint8_t *buf, size_t *n, const void *p, size_t len) {
        buf[(*n)++] = (uint8_t) len;
        put(buf, n, p, len);
}

static void documented_hash(sqlite3 *db, int64_t seq, uint8_t ret[32]) {
        sqlite3_stmt *e = NULL, *p = NULL;
        uint8_t buf[4096];
        size_t n = 0;
        int count = 0;

        assert_int_equal(sqlite3_prepare_v2(db,
                                            "SELECT prev_hash, seq, time_usec, kind, slice, voucher, request_id, "
                                            "overshoot, funder FROM entries WHERE seq = ?",
                                            -1, &e, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(e, 1, seq);
        assert_int_equal(sqlite3_step(e), SQLITE_ROW);
        put(buf, &n, sqlite3_column_blob(e, 0), 32);
        bool funded = sqlite3_column_type(e, 8) != SQLITE_NULL;
        put(buf, &n, funded ? "PLE\x02" : "PLE\x01", 4);
        put64(buf, &n, (uint64_t) sqlite3_column_int64(e, 1));
        put64(buf, &n, (uint64_t) sqlite3_column_int64(e, 2));
        put_str(buf, &n, sqlite3_column_text(e, 3), (size_t) sqlite3_column_bytes(e, 3));
        put_str(buf, &n, sqlite3_column_text(e, 4), (size_t) sqlite3_column_bytes(e, 4));
        put_str(buf, &n, sqlite3_column_blob(e, 5), (size_t) sqlite3_column_bytes(e, 5));
        put_str(buf, &n, sqlite3_column_text(e, 6), (size_t) sqlite3_column_bytes(e, 6));
        if (funded)
                put_str(buf, &n, sqlite3_column_blob(e, 8), (size_t) sqlite3_column_bytes(e, 8));
        put64(buf, &n, (uint64_t) sqlite3_column_int64(e, 7));

        assert_int_equal(sqlite3_prepare_v2(db, "SELECT account, amount FROM postings WHERE entry = ? ORDER BY account",
                                            -1, &p, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(p, 1, seq);
        while (sqlite3_step(p) == SQLITE_ROW)
                count++;
        sqlite3_reset(p);
        buf[n++] = (uint8_t) count;
        while (sqlite3_step(p) == SQLITE_ROW) {
                put_str(buf, &n, sqlite3_column_text(p, 0), (size_t) sqlite3_column_bytes(p, 0));
                put64(buf, &n, (uint64_t) sqlite3_column_int64(p, 1));
        }
        sqlite3_finalize(p);
        sqlite3_finalize(e);
        crypto_sha256(buf, n, ret);
}

static void test_hash_as_documented(void **state) {
        struct fixture *f = *state;
        uint8_t want[32], zero[32] = {};
        sqlite3_stmt *s = NULL;
        sqlite3 *db = NULL;

        build(f->path);
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq, prev_hash, hash FROM entries ORDER BY seq", -1, &s, NULL),
                         SQLITE_OK);
        for (int64_t seq = 1; seq <= 6; seq++) {
                assert_int_equal(sqlite3_step(s), SQLITE_ROW);
                assert_int_equal(sqlite3_column_int64(s, 0), seq);
                if (seq == 1)
                        assert_memory_equal(sqlite3_column_blob(s, 1), zero, 32);
                documented_hash(db, seq, want);
                assert_memory_equal(sqlite3_column_blob(s, 2), want, 32);
        }
        sqlite3_finalize(s);
        sqlite3_close(db);
}

/* The sample ledger, afresh, edited by sql: verify names what. */
static void tampered_fails(void **state, const char *sql, const char *what) {
        struct fixture *f;
        struct ledger *l;

        teardown(state);
        setup(state);
        f = *state;
        build(f->path);
        raw_exec(f->path, sql);
        l = open_ok(f->path, true);
        verify_fails(l, what);
        ledger_close(l);
}

static void test_verify_detects(void **state) {
        static const struct {
                const char *sql;
                const char *what;
        } edits[] = {
                /* An entry deleted: the chain has a hole. */
                { "DELETE FROM entries WHERE seq = 4", "Entry 4 is missing: entry 5 follows entry 3" },
                /* The last entry and its postings deleted: the chain alone
                 * cannot tell, the slice's row can. */
                { "DELETE FROM postings WHERE entry = 6; DELETE FROM entries WHERE seq = 6",
                  "Slice " SLICE_A ": balance 0.00 in its row, 8.50 from its postings" },
                /* A slice's balance edited. */
                { "UPDATE slices SET balance = 1200000 WHERE id = '" SLICE_A "'",
                  "Slice " SLICE_A ": balance 1.20 in its row, 0.00 from its postings" },
                /* Overshoot edited. */
                { "UPDATE slices SET overshoot = 0 WHERE id = '" SLICE_A "'",
                  "Slice " SLICE_A ": overshoot 0.00 in its row, 1.00 from its entries" },
                /* A voucher's amount edited. */
                { "UPDATE vouchers SET amount = 11000000 WHERE entry = 1",
                  "worth 11.00, but entry 1 takes 10.00 from vouchers" },
                /* A spent voucher forgotten (it could be spent again). */
                { "DELETE FROM vouchers WHERE entry = 4", "Entry 4: redeems voucher" },
        };
        struct fixture *f = *state;
        struct ledger *l;
        uint8_t hash[32];
        sqlite3_stmt *s = NULL;
        sqlite3 *db = NULL;

        /* A posting amount changed: entry 3's hash no longer fits it. */
        tampered_fails(state, "UPDATE postings SET amount = amount + 1 WHERE entry = 3 AND account = 'charge:cpu'",
                       "Entry 3: hash does not match its contents");

        /* The same change with the hash made to fit (on the last entry,
         * so no link breaks): then the postings no longer sum to zero. */
        teardown(state);
        setup(state);
        f = *state;
        build(f->path);
        raw_exec(f->path, "UPDATE postings SET amount = amount + 1 WHERE entry = 6 AND account = 'charge:cpu'");
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        documented_hash(db, 6, hash);
        assert_int_equal(sqlite3_prepare_v2(db, "UPDATE entries SET hash = ? WHERE seq = 6", -1, &s, NULL), SQLITE_OK);
        sqlite3_bind_blob(s, 1, hash, 32, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(s), SQLITE_DONE);
        sqlite3_finalize(s);
        sqlite3_close(db);
        l = open_ok(f->path, true);
        verify_fails(l, "Entry 6: postings sum to 0.000001, not 0");
        ledger_close(l);

        for (size_t i = 0; i < ARRAY_SIZE(edits); i++)
                tampered_fails(state, edits[i].sql, edits[i].what);
}

static void test_read_only(void **state) {
        struct fixture *f = *state;
        struct ledger *rw, *ro;
        struct ledger_slice s;
        struct voucher v;

        build(f->path);
        rw = open_ok(f->path, false);
        ro = open_ok(f->path, true);
        assert_int_equal(ledger_slice_get(ro, SLICE_A, &s), 0);
        assert_int_equal(s.charged[RESOURCE_CPU], CENTS(1050));

        /* A batch in progress is not seen; a committed one is. */
        assert_int_equal(ledger_begin(rw), 0);
        redeem_ok(rw, 9, CENTS(300), SLICE_A, CENTS(300));
        v = make_voucher(9, CENTS(300));
        assert_int_equal(ledger_voucher_spent(ro, v.id, NULL), -ENOENT);
        verify_ok(ro);
        assert_int_equal(ledger_commit(rw), 0);
        assert_int_equal(ledger_voucher_spent(ro, v.id, NULL), 0);
        assert_int_equal(ledger_slice_get(ro, SLICE_A, &s), 0);
        assert_int_equal(s.balance, CENTS(300));
        verify_ok(ro);

        /* A reader writes nothing. */
        assert_int_equal(ledger_begin(ro), -EROFS);
        v = make_voucher(10, CENTS(300));
        assert_int_equal(ledger_redeem(ro, &v, SLICE_A, NULL, 1, NULL, NULL), -EROFS);

        /* A writer's open batch does not stop the reader's verify. */
        assert_int_equal(ledger_begin(rw), 0);
        redeem_ok(rw, 10, CENTS(300), SLICE_A, CENTS(600));
        verify_ok(ro);
        ledger_rollback(rw);

        ledger_close(ro);
        ledger_close(rw);
}

static void test_schema_refused(void **state) {
        struct fixture *f = *state;
        struct ledger *l = NULL;
        char *error = NULL, other[160];

        build(f->path);
        raw_exec(f->path, "PRAGMA user_version = " SCHEMA_NEWER);
        assert_int_equal(ledger_open(f->path, false, &l, &error), -EPROTONOSUPPORT);
        assert_null(l);
        assert_non_null(strstr(error, "schema version " SCHEMA_NEWER " is newer"));
        free(error);
        error = NULL;
        assert_int_equal(ledger_open(f->path, true, &l, &error), -EPROTONOSUPPORT);
        assert_null(l);
        free(error);
        error = NULL;
        /* Left as it was. */
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW + 1);

        /* Some other program's database. */
        snprintf(other, sizeof(other), "%s/other.db", f->dir);
        raw_exec(other, "CREATE TABLE t (x)");
        assert_int_equal(ledger_open(other, false, &l, &error), -EMEDIUMTYPE);
        assert_non_null(strstr(error, "not a prepay ledger"));
        free(error);
        error = NULL;

        /* An empty file: a writer makes a ledger of it, a reader does not. */
        snprintf(other, sizeof(other), "%s/empty.db", f->dir);
        fclose(fopen(other, "w"));
        assert_int_equal(ledger_open(other, true, &l, &error), -ENODATA);
        free(error);
        error = NULL;
        l = open_ok(other, false);
        ledger_close(l);

        /* Not SQLite at all. */
        snprintf(other, sizeof(other), "%s/text.db", f->dir);
        {
                FILE *t = fopen(other, "w");
                fputs("this is not a database, just some text that is long enough to have a header\n", t);
                fclose(t);
        }
        assert_true(ledger_open(other, true, &l, &error) < 0);
        assert_non_null(error);
        free(error);
}

struct collected {
        struct ledger_event ev[8];
        size_t n;
        size_t stop_at; /* return -ECANCELED at this many, 0: never */
};

static int collect_event(const struct ledger_event *ev, void *userdata) {
        struct collected *c = userdata;

        if (c->stop_at && c->n == c->stop_at)
                return -ECANCELED;
        assert_true(c->n < ARRAY_SIZE(c->ev));
        c->ev[c->n++] = *ev;
        return 0;
}

/* Events: a log beside the books. Kept in order, by slice on request,
 * for slices the books do not know, checked on the way in, rolled back
 * with their batch, and invisible to verify and the books. */
static void test_events(void **state) {
        struct fixture *f = *state;
        struct ledger_event bad;
        struct ledger_books before, after;
        struct collected c = {};
        struct ledger *l, *ro;
        uint64_t s1, s2, s3;

        build(f->path);
        l = open_ok(f->path, false);
        assert_int_equal(ledger_books(l, &before), 0);

        /* Outside a batch, nothing is written. */
        bad = (struct ledger_event) { .time_usec = 1, .slice = SLICE_A, .kind = "low", .currency = "EUR" };
        assert_int_equal(ledger_event_add(l, &bad, NULL), -ENOTCONN);

        assert_int_equal(ledger_begin(l), 0);
        s1 = add_event(l, SLICE_A, "low", true, "45s left at 0.001 EUR/s");
        /* An unfunded slice: in no other table. */
        s2 = add_event(l, "s-00000fff", "oom", false, "1 process OOM-killed at its memory limit 64.0M");
        s3 = add_event(l, SLICE_A, "exhausted", true, "the balance is spent");
        assert_true(s1 < s2 && s2 < s3);

        /* Malformed ones are refused and leave nothing behind. */
        bad = (struct ledger_event) { .time_usec = 1, .slice = "s-xyz", .kind = "low", .currency = "EUR" };
        assert_int_equal(ledger_event_add(l, &bad, NULL), -EINVAL);
        bad = (struct ledger_event) { .time_usec = 1, .slice = SLICE_A, .kind = "Low", .currency = "EUR" };
        assert_int_equal(ledger_event_add(l, &bad, NULL), -EINVAL);
        bad = (struct ledger_event) { .time_usec = 1, .slice = SLICE_A, .kind = "", .currency = "EUR" };
        assert_int_equal(ledger_event_add(l, &bad, NULL), -EINVAL);
        bad = (struct ledger_event) { .time_usec = 1, .slice = SLICE_A, .kind = "a; DROP TABLE x", .currency = "EUR" };
        assert_int_equal(ledger_event_add(l, &bad, NULL), -EINVAL);
        bad = (struct ledger_event) { .time_usec = 1, .slice = SLICE_A, .kind = "low", .currency = "eur" };
        assert_int_equal(ledger_event_add(l, &bad, NULL), -EINVAL);
        bad = (struct ledger_event) { .time_usec = UINT64_MAX, .slice = SLICE_A, .kind = "low" };
        assert_int_equal(ledger_event_add(l, &bad, NULL), -EINVAL);
        assert_int_equal(ledger_commit(l), 0);

        /* Another batch, rolled back: its event goes with it. */
        assert_int_equal(ledger_begin(l), 0);
        add_event(l, SLICE_A, "frozen", true, "rolled back");
        ledger_rollback(l);

        ro = open_ok(f->path, true);
        assert_int_equal(ledger_event_foreach(ro, NULL, collect_event, &c), 0);
        assert_int_equal(c.n, 3);
        assert_int_equal(c.ev[0].seq, s1);
        assert_string_equal(c.ev[0].kind, "low");
        assert_string_equal(c.ev[0].slice, SLICE_A);
        assert_true(c.ev[0].funded);
        assert_int_equal(c.ev[0].owner_uid, 1000);
        assert_int_equal(c.ev[0].balance, CENTS(5));
        assert_int_equal(c.ev[0].burn_rate, 1000);
        assert_int_equal(c.ev[0].time_left_usec, 45000000);
        assert_int_equal(c.ev[0].time_usec, 1700000000000000);
        assert_string_equal(c.ev[0].currency, "EUR");
        assert_string_equal(c.ev[0].reason, "45s left at 0.001 EUR/s");
        assert_string_equal(c.ev[1].slice, "s-00000fff");
        assert_false(c.ev[1].funded);
        assert_string_equal(c.ev[2].kind, "exhausted");

        c = (struct collected) {};
        assert_int_equal(ledger_event_foreach(ro, SLICE_A, collect_event, &c), 0);
        assert_int_equal(c.n, 2);
        assert_int_equal(c.ev[0].seq, s1);
        assert_int_equal(c.ev[1].seq, s3);
        c = (struct collected) {};
        assert_int_equal(ledger_event_foreach(ro, SLICE_C, collect_event, &c), 0);
        assert_int_equal(c.n, 0);
        c = (struct collected) { .stop_at = 1 };
        assert_int_equal(ledger_event_foreach(ro, NULL, collect_event, &c), -ECANCELED);
        assert_int_equal(c.n, 1);
        assert_int_equal(ledger_event_foreach(ro, "s-!", collect_event, &c), -EINVAL);

        /* Not money: the books and the chain are as they were. */
        assert_int_equal(ledger_books(ro, &after), 0);
        assert_int_equal(after.entries, before.entries);
        assert_int_equal(after.held, before.held);
        verify_ok(ro);
        bad = (struct ledger_event) { .time_usec = 1, .slice = SLICE_A, .kind = "low" };
        assert_int_equal(ledger_event_add(ro, &bad, NULL), -EROFS);
        ledger_close(ro);

        /* A row edited into something the ledger never writes is refused
         * on the way out. */
        raw_exec(f->path, "UPDATE events SET slice = 'not a slice' WHERE seq = 2");
        c = (struct collected) {};
        assert_int_equal(ledger_event_foreach(l, NULL, collect_event, &c), -EUCLEAN);

        /* Pruning: what bounds the table. Older than the cut goes, in the
         * batch; nothing else of the ledger moves. */
        assert_int_equal(ledger_event_prune(l, 1), -ENOTCONN);
        assert_int_equal(ledger_begin(l), 0);
        assert_int_equal(ledger_event_prune(l, 1700000000000000), 0);
        assert_int_equal(ledger_event_prune(l, 1700000000000001), 3);
        assert_int_equal(ledger_commit(l), 0);
        c = (struct collected) {};
        assert_int_equal(ledger_event_foreach(l, NULL, collect_event, &c), 0);
        assert_int_equal(c.n, 0);
        verify_ok(l);
        ledger_close(l);
}

/* A version 1 file (what every ledger was before events) is migrated on
 * the first read-write open, in place, its books untouched; a reader
 * refuses it until then. The v1 file is made the way such a file looks:
 * today's schema less the objects of steps 2 to 4, user_version 1. */
static void test_migrate_v1(void **state) {
        struct fixture *f = *state;
        struct ledger_books before, after;
        struct collected c = {};
        char fresh[160], *want, *got, *error = NULL;
        struct ledger *l;

        snprintf(fresh, sizeof(fresh), "%s/fresh.db", f->dir);
        l = open_ok(fresh, false);
        ledger_close(l);
        want = raw_schema(fresh);

        build(f->path);
        l = open_ok(f->path, true);
        assert_int_equal(ledger_books(l, &before), 0);
        ledger_close(l);
        raw_exec(f->path, SCHEMA_3_SQL "DROP INDEX events_slice; DROP TABLE events; "
                          "ALTER TABLE entries DROP COLUMN funder; "
                          "ALTER TABLE slices DROP COLUMN donation_model; PRAGMA user_version = 1");
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'events%'"), 0);

        l = (struct ledger *) 0x1;
        assert_int_equal(ledger_open(f->path, true, &l, &error), -EPROTONOSUPPORT);
        assert_ptr_equal(l, (struct ledger *) 0x1);
        assert_non_null(strstr(error, "schema version 1 is older"));
        free(error);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), 1);

        l = open_ok(f->path, false);
        ledger_close(l);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
        got = raw_schema(f->path);
        assert_string_equal(got, want);
        free(got);
        free(want);

        l = open_ok(f->path, true);
        assert_int_equal(ledger_books(l, &after), 0);
        assert_memory_equal(&after, &before, sizeof(before));
        verify_ok(l);
        assert_int_equal(ledger_event_foreach(l, NULL, collect_event, &c), 0);
        assert_int_equal(c.n, 0);
        ledger_close(l);

        /* And it takes events and more money. */
        l = open_batch(f->path);
        assert_int_equal(add_event(l, SLICE_A, "topped-up", true, "topped up with 1.00 EUR"), 1);
        redeem_ok(l, 20, CENTS(100), SLICE_A, CENTS(100) + before.held); /* A holds all that is held */
        assert_int_equal(ledger_commit(l), 0);
        verify_ok(l);
        ledger_close(l);
}

/* o's member key, which must be there (its value may be null). */
static json_object *json_get(json_object *o, const char *key) {
        json_object *v = NULL;

        assert_true(json_object_object_get_ex(o, key, &v));
        return v;
}

/* The sample ledger with an event, exported (to free). */
static char *export_sample(const char *path, const char *reason) {
        struct ledger *l;
        char *buf = NULL;
        size_t size = 0;
        FILE *m;

        build(path);
        l = open_batch(path);
        add_event(l, SLICE_A, "low", 1, reason);
        assert_int_equal(ledger_commit(l), 0);
        ledger_close(l);
        l = open_ok(path, true);
        m = open_memstream(&buf, &size);
        assert_non_null(m);
        assert_int_equal(ledger_export_json(l, m), 0);
        fclose(m);
        ledger_close(l);
        return buf;
}

static void test_export_json(void **state) {
        struct fixture *f = *state;
        json_object *o, *a, *e, *p, *v;
        char *buf;

        buf = export_sample(f->path, "45s left at 0.01 EUR/s");
        o = json_tokener_parse(buf);
        if (!o)
                fail_msg("not JSON: %s", buf);
        assert_int_equal(json_object_get_int(json_get(o, "schema")), SCHEMA_NOW);
        assert_int_equal(json_object_get_int64(json_get(json_get(o, "books"), "redeemed")), CENTS(1500));

        a = json_get(o, "slices");
        assert_int_equal(json_object_array_length(a), 2);
        v = json_object_array_get_idx(a, 1);
        assert_string_equal(json_object_get_string(json_get(v, "state")), "released");
        assert_true(json_object_get_boolean(json_get(v, "change_paid")));
        assert_null(strstr(buf, "pv1-change-b")); /* bearer money stays in the file */

        a = json_get(o, "vouchers");
        assert_int_equal(json_object_array_length(a), 3);
        v = json_object_array_get_idx(a, 0);
        assert_string_equal(json_object_get_string(json_get(v, "id")), "0102030405060708090a0b0c0d0e0f10");

        a = json_get(o, "entries");
        assert_int_equal(json_object_array_length(a), 6);
        e = json_object_array_get_idx(a, 2);
        assert_string_equal(json_object_get_string(json_get(e, "kind")), "charge");
        assert_null(json_get(e, "voucher"));
        assert_null(json_get(e, "funder"));
        p = json_get(e, "postings");
        assert_int_equal(json_object_array_length(p), 3);
        v = json_object_array_get_idx(p, 0);
        assert_string_equal(json_object_get_string(json_get(v, "account")), "charge:cpu");
        assert_int_equal(strlen(json_object_get_string(json_get(e, "hash"))), 64);
        e = json_object_array_get_idx(a, 0);
        assert_string_equal(json_object_get_string(json_get(e, "prev_hash")),
                            "0000000000000000000000000000000000000000000000000000000000000000");

        a = json_get(o, "events");
        assert_int_equal(json_object_array_length(a), 1);
        e = json_object_array_get_idx(a, 0);
        assert_int_equal(json_object_get_int64(json_get(e, "seq")), 1);
        assert_string_equal(json_object_get_string(json_get(e, "kind")), "low");
        assert_string_equal(json_object_get_string(json_get(e, "slice")), SLICE_A);
        assert_true(json_object_get_boolean(json_get(e, "funded")));
        assert_int_equal(json_object_get_int64(json_get(e, "balance")), CENTS(5));
        assert_string_equal(json_object_get_string(json_get(e, "currency")), "EUR");
        assert_string_equal(json_object_get_string(json_get(e, "reason")), "45s left at 0.01 EUR/s");

        json_object_put(o);
        free(buf);
}

/* Funders (schema 3, issue 16): a ledger of schema 2 migrates with its
 * chain as it was; a keyed credit's funder is in the hash (entry bytes
 * version 2, as documented), in the export, and an edit of it is caught
 * by verify. */
static void test_funders(void **state) {
        struct fixture *f = *state;
        struct voucher v[3] = { make_voucher(30, CENTS(100)), make_voucher(31, CENTS(250)),
                                make_voucher(32, CENTS(5)) };
        uint8_t key[CRYPTO_PUBKEY_SIZE], want[32];
        int64_t balance = SENTINEL;
        struct ledger_slice row;
        json_object *o, *e;
        char *buf = NULL, *d = NULL;
        size_t size = 0;
        struct ledger *l;
        sqlite3 *db = NULL;
        FILE *m;

        build(f->path);
        raw_exec(f->path, SCHEMA_3_SQL "ALTER TABLE entries DROP COLUMN funder; "
                          "ALTER TABLE slices DROP COLUMN donation_model; PRAGMA user_version = 2");
        l = open_batch(f->path);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
        verify_ok(l);
        /* Every slice before was the owner's to the last micro-unit. */
        assert_int_equal(ledger_slice_get(l, SLICE_A, &row), 0);
        assert_int_equal(row.donation_model, DONATION_OWNER);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM slices WHERE donation_model <> 'owner'"), 0);

        memset(key, 0x11, sizeof(key));
        add_slice(l, SLICE_C, 1002);
        /* The model a slice is bought with is kept with its row; a
         * number that names none is refused. */
        row = (struct ledger_slice) { .owner_uid = 1003, .created_usec = 1000,
                                      .donation_model = DONATION_PRO_RATA };
        snprintf(row.id, sizeof(row.id), "%s", "s-000000d0");
        assert_int_equal(ledger_slice_add(l, &row), 0);
        assert_int_equal(ledger_slice_get(l, "s-000000d0", &row), 0);
        assert_int_equal(row.donation_model, DONATION_PRO_RATA);
        row.donation_model = _DONATION_MODEL_MAX;
        snprintf(row.id, sizeof(row.id), "%s", "s-000000d1");
        assert_int_equal(ledger_slice_add(l, &row), -EINVAL);
        assert_int_equal(ledger_redeem_funded(l, v, 2, SLICE_C, "fund-1", key, 7000, &balance, NULL), 0);
        assert_int_equal(balance, CENTS(350));
        assert_int_equal(ledger_redeem_funded(l, &v[2], 1, SLICE_C, NULL, NULL, 7001, &balance, NULL), 0);
        assert_int_equal(balance, CENTS(355));
        /* Spent is spent, whoever funds it. */
        assert_int_equal(ledger_redeem_funded(l, v, 1, SLICE_C, NULL, key, 7002, &balance, NULL), -EALREADY);
        assert_int_equal(ledger_commit(l), 0);
        verify_ok(l);
        ledger_close(l);

        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE funder IS NOT NULL"), 2);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), 9);
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        for (int64_t seq = 1; seq <= 9; seq++) {
                sqlite3_stmt *s = NULL;

                documented_hash(db, seq, want);
                assert_int_equal(sqlite3_prepare_v2(db, "SELECT hash FROM entries WHERE seq = ?", -1, &s, NULL),
                                 SQLITE_OK);
                sqlite3_bind_int64(s, 1, seq);
                assert_int_equal(sqlite3_step(s), SQLITE_ROW);
                assert_memory_equal(sqlite3_column_blob(s, 0), want, 32);
                sqlite3_finalize(s);
        }
        sqlite3_close(db);

        l = open_ok(f->path, true);
        m = open_memstream(&buf, &size);
        assert_non_null(m);
        assert_int_equal(ledger_export_json(l, m), 0);
        fclose(m);
        ledger_close(l);
        o = json_tokener_parse(buf);
        assert_non_null(o);
        e = json_object_array_get_idx(json_get(o, "entries"), 6);
        assert_string_equal(json_object_get_string(json_get(e, "slice")), SLICE_C);
        assert_string_equal(json_object_get_string(json_get(e, "funder")),
                            "1111111111111111111111111111111111111111111111111111111111111111");
        e = json_object_array_get_idx(json_get(o, "entries"), 8);
        assert_null(json_get(e, "funder"));
        json_object_put(o);
        free(buf);

        /* A funder is only ever a redeem's, 32 bytes. */
        assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "UPDATE entries SET funder = zeroblob(32) WHERE kind = 'charge'", NULL,
                                      NULL, NULL),
                         SQLITE_CONSTRAINT);
        assert_int_equal(sqlite3_exec(db, "UPDATE entries SET funder = zeroblob(31) WHERE seq = 7", NULL, NULL,
                                      NULL),
                         SQLITE_CONSTRAINT);
        sqlite3_close(db);

        /* Money moved to another funder's name, or made anonymous: the
         * chain says so. */
        raw_exec(f->path, "UPDATE entries SET funder = zeroblob(32) WHERE seq = 8");
        l = open_ok(f->path, true);
        verify_fails(l, "Entry 8");
        ledger_close(l);
        raw_exec(f->path, "UPDATE entries SET funder = NULL WHERE seq = 8");
        l = open_ok(f->path, true);
        assert_int_equal(ledger_verify(l, &d), -EBADMSG);
        assert_non_null(strstr(d, "Entry 8"));
        free(d);
        ledger_close(l);
}

static int count_intent(const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE], void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

/* A fleet's intents (schema 8): one per voucher, found by it, deleted
 * only by the attempt that holds it, rolled back with their batch; and a
 * ledger of schema 7 migrated to them. */
static void test_fleet_intents(void **state) {
        struct fixture *f = *state;
        const uint8_t a[LEDGER_CLAIM_SIZE] = { 1 }, b[LEDGER_CLAIM_SIZE] = { 2 };
        struct voucher v1 = make_voucher(1, CENTS(100)), v2 = make_voucher(2, CENTS(100));
        uint8_t got[LEDGER_CLAIM_SIZE];
        struct ledger *l;
        unsigned n = 0;
        uint64_t seq;

        build(f->path);
        raw_exec(f->path, SCHEMA_7_SQL "PRAGMA user_version = 7");
        l = open_ok(f->path, false);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
        assert_int_equal(ledger_intent_add(l, v1.id, a, "r-1", 10), -ENOTCONN);
        assert_int_equal(ledger_begin(l), 0);
        assert_int_equal(ledger_intent_add(l, v1.id, a, "r-1", 10), 0);
        assert_int_equal(ledger_intent_add(l, v2.id, a, NULL, 10), 0);
        assert_int_equal(ledger_intent_add(l, v1.id, b, NULL, 11), -EEXIST);
        assert_int_equal(ledger_intent_get(l, v1.id, got), 0);
        assert_memory_equal(got, a, sizeof(got));
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_begin(l), 0);
        /* Another attempt's delete leaves it. */
        assert_int_equal(ledger_intent_del(l, v1.id, b), 0);
        assert_int_equal(ledger_intent_get(l, v1.id, got), 0);
        assert_int_equal(ledger_intent_del(l, v1.id, a), 0);
        assert_int_equal(ledger_intent_get(l, v1.id, got), -ENOENT);
        ledger_rollback(l);
        assert_int_equal(ledger_intent_get(l, v1.id, got), 0);
        assert_int_equal(ledger_intents_foreach(l, count_intent, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(ledger_last_seq(l, &seq), 0);
        assert_true(seq > 0);
        verify_ok(l);
        ledger_close(l);
}

/* What "prepay ledger export" writes is read by scripts: the export of
 * the sample, with a reason that needs escaping, byte for byte (by its
 * SHA-256; printed whole when it differs). Its "schema" is the one
 * figure a migration changes: schema 10's stored histories are not in
 * the export, nor in the chain. */
static void test_export_bytes(void **state) {
        static const char want[] = "a1fbc3bf7b0e8d9c61a44a43489d06fd4197ca33fa94a220a88686030b8f7282";
        struct fixture *f = *state;
        uint8_t hash[CRYPTO_SHA256_SIZE];
        char hex[2 * CRYPTO_SHA256_SIZE + 1];
        char *buf;

        buf = export_sample(f->path, "\"quoted\" \\ / \t \x01 \xc3\xa9");
        crypto_sha256(buf, strlen(buf), hash);
        for (size_t i = 0; i < sizeof(hash); i++)
                snprintf(hex + 2 * i, 3, "%02x", hash[i]);
        if (!streq(hex, want))
                fail_msg("export is %s, not %s:\n%s", hex, want, buf);
        free(buf);
}

/* A slice of model with credits of amounts[i] by keys[i] (NULL:
 * anonymous), vouchers numbered from n, then spent charged for CPU. */
static void funded_slice(struct ledger *l, const char *id, enum donation_model model, const uint8_t *const *keys,
                         const int64_t *amounts, size_t n_credits, unsigned n, int64_t spent) {
        struct ledger_slice s = { .owner_uid = 1000, .created_usec = 1000, .donation_model = model };
        uint64_t counters[_RESOURCE_MAX] = { [RESOURCE_CPU] = 1 };
        int64_t due[_RESOURCE_MAX] = { [RESOURCE_CPU] = spent };

        snprintf(s.id, sizeof(s.id), "%s", id);
        memset(s.owner_hash, 0x5a, sizeof(s.owner_hash));
        assert_int_equal(ledger_slice_add(l, &s), 0);
        for (size_t i = 0; i < n_credits; i++) {
                struct voucher v = make_voucher(n + (unsigned) i * 20, amounts[i]);

                assert_int_equal(ledger_redeem_funded(l, &v, 1, id, NULL, keys[i], 6000 + i, NULL, NULL), 0);
        }
        assert_int_equal(ledger_charge(l, id, counters, due, 7000, NULL), 0);
}

/* What entry seq posts to account, 0 for none. */
static int64_t posting_of(const char *path, uint64_t seq, const char *account) {
        char sql[256];

        snprintf(sql, sizeof(sql), "SELECT coalesce(sum(amount), 0) FROM postings WHERE entry = %" PRIu64
                 " AND account = '%s'", seq, account);
        return raw_int(path, sql);
}

/* The split at release (issue 16): a pro-rata slice's balance is split as
 * daemon/README.md's example says, each keyed share held in its funder's
 * account in the release entry, the owner's and the anonymous share paid
 * as change; lifo refunds the latest credit first; verify recomputes the
 * split and catches a slice whose model was changed after it. */
static void test_release_split(void **state) {
        static const char k1_hex[] = "1111111111111111111111111111111111111111111111111111111111111111";
        static const char k3_hex[] = "3333333333333333333333333333333333333333333333333333333333333333";
        struct fixture *f = *state;
        uint8_t k1[CRYPTO_PUBKEY_SIZE], k2[CRYPTO_PUBKEY_SIZE], k3[CRYPTO_PUBKEY_SIZE];
        const uint8_t *keys[4] = { k1, k2, k3, NULL };
        const int64_t amounts[4] = { CENTS(100), CENTS(200), CENTS(300), CENTS(50) };
        const uint8_t *lifo_keys[3] = { k1, NULL, k3 };
        const int64_t lifo_amounts[3] = { CENTS(100), CENTS(200), CENTS(50) };
        struct ledger_split sp = {};
        struct ledger_books books;
        struct ledger_slice row;
        char account[160];
        struct ledger *l;
        uint64_t seq;

        memset(k1, 0x11, sizeof(k1));
        memset(k2, 0x22, sizeof(k2));
        memset(k3, 0x33, sizeof(k3));
        l = open_batch(f->path);
        funded_slice(l, SLICE_A, DONATION_PRO_RATA, keys, amounts, 4, 50, 1234567);

        /* What release will pay, before it does. */
        assert_int_equal(ledger_release_split(l, SLICE_A, &sp), 0);
        assert_int_equal(sp.model, DONATION_PRO_RATA);
        assert_int_equal(sp.unspent, 5265433);
        assert_int_equal(sp.n_shares, 3);
        assert_memory_equal(sp.shares[0].key, k1, sizeof(k1));
        assert_int_equal(sp.shares[0].put, CENTS(100));
        assert_int_equal(sp.shares[0].share, 810067);
        assert_int_equal(sp.shares[1].share, 1620133);
        assert_int_equal(sp.shares[2].share, 2430200);
        assert_int_equal(sp.owner, 405033); /* the anonymous share */
        assert_int_equal(sp.held, 810067 + 1620133 + 2430200);
        assert_int_equal(sp.owner + sp.held, sp.unspent);
        ledger_split_done(&sp);
        ledger_split_done(&sp);

        /* Change is the owner's part: required, as before. */
        assert_int_equal(ledger_release(l, SLICE_A, NULL, 8000), -EINVAL);
        assert_int_equal(ledger_release(l, SLICE_A, "change-a", 8000), 0);
        assert_int_equal(ledger_release_split(l, SLICE_A, &sp), -ESTALE);
        assert_int_equal(ledger_commit(l), 0);
        seq = (uint64_t) raw_int(f->path, "SELECT max(seq) FROM entries");
        assert_int_equal(posting_of(f->path, seq, "slice:" SLICE_A), -5265433);
        assert_int_equal(posting_of(f->path, seq, "refund"), 405033);
        snprintf(account, sizeof(account), "held:%s:%s", SLICE_A, k1_hex);
        assert_int_equal(posting_of(f->path, seq, account), 810067);
        snprintf(account, sizeof(account), "held:%s:%s", SLICE_A, k3_hex);
        assert_int_equal(posting_of(f->path, seq, account), 2430200);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM postings WHERE account GLOB 'held:*'"), 3);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &row), 0);
        assert_int_equal(row.state, LEDGER_SLICE_RELEASED);
        assert_int_equal(row.balance, 0);
        assert_int_equal(row.refunded, 405033);
        assert_int_equal(row.held, 4860400);
        assert_string_equal(row.change, "change-a");
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.funders, 4860400);
        assert_int_equal(books.redeemed, books.held + books.charged + books.refunded + books.funders);
        verify_ok(l);

        /* lifo: 3.50 put in, 1.00 spent: the latest (k3's 0.50) back
         * whole, then the anonymous 2.00, k1's 1.00 spent. A share of 0
         * gets no posting. */
        assert_int_equal(ledger_begin(l), 0);
        funded_slice(l, SLICE_B, DONATION_LIFO, lifo_keys, lifo_amounts, 3, 150, CENTS(100));
        assert_int_equal(ledger_release_split(l, SLICE_B, &sp), 0);
        assert_int_equal(sp.n_shares, 2);
        assert_int_equal(sp.shares[0].share, 0);
        assert_int_equal(sp.shares[1].share, CENTS(50));
        assert_int_equal(sp.owner, CENTS(200));
        ledger_split_done(&sp);
        assert_int_equal(ledger_release(l, SLICE_B, "change-b", 8001), 0);
        /* Under the owner's model a keyed funder gets nothing back. */
        funded_slice(l, SLICE_C, DONATION_OWNER, keys, amounts, 1, 250, CENTS(10));
        assert_int_equal(ledger_release(l, SLICE_C, "change-c", 8002), 0);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(ledger_slice_get(l, SLICE_B, &row), 0);
        assert_int_equal(row.refunded, CENTS(200));
        assert_int_equal(row.held, CENTS(50));
        assert_int_equal(ledger_slice_get(l, SLICE_C, &row), 0);
        assert_int_equal(row.refunded, CENTS(90));
        assert_int_equal(row.held, 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM postings WHERE account GLOB 'held:*'"), 4);
        verify_ok(l);
        ledger_close(l);

        /* The model is in the row, the split in the chain: a model
         * changed afterwards no longer gives the split posted. */
        raw_exec(f->path, "UPDATE slices SET donation_model = 'lifo' WHERE id = '" SLICE_A "'");
        l = open_ok(f->path, true);
        verify_fails(l, "split of slice " SLICE_A);
        ledger_close(l);
        raw_exec(f->path, "UPDATE slices SET donation_model = 'owner' WHERE id = '" SLICE_A "'");
        l = open_ok(f->path, true);
        verify_fails(l, "no release of a slice whose model splits");
        ledger_close(l);
        raw_exec(f->path, "UPDATE slices SET donation_model = 'pro-rata' WHERE id = '" SLICE_A "'");
        /* The row's held total against its postings. */
        raw_exec(f->path, "UPDATE slices SET held = held - 1 WHERE id = '" SLICE_B "'");
        l = open_ok(f->path, true);
        verify_fails(l, "held for funders");
        ledger_close(l);
        raw_exec(f->path, "UPDATE slices SET held = held + 1 WHERE id = '" SLICE_B "'");
        /* The credits a split reads against the chained entries: one
         * changed, one gone, one of no credit. */
        raw_exec(f->path, "UPDATE credits SET amount = amount + 1 WHERE entry = "
                          "(SELECT min(entry) FROM credits WHERE slice = '" SLICE_A "')");
        l = open_ok(f->path, true);
        verify_fails(l, "credits table does not hold");
        ledger_close(l);
        raw_exec(f->path, "UPDATE credits SET amount = amount - 1 WHERE entry = "
                          "(SELECT min(entry) FROM credits WHERE slice = '" SLICE_A "')");
        l = open_ok(f->path, true);
        verify_ok(l);
        ledger_close(l);
        raw_exec(f->path, "DELETE FROM credits WHERE entry = (SELECT max(entry) FROM credits)");
        l = open_ok(f->path, true);
        verify_fails(l, "credits table does not hold");
        ledger_close(l);
}

/* AnonymousShares=host (schema 5): the anonymous share of a split is
 * posted to 'donated', not paid as change; the keyed shares are as
 * before; the books balance with it; an owner's slice ignores it; verify
 * catches the row's choice changed afterwards and a donation posted by
 * anything but such a release. */
static void test_release_donated(void **state) {
        struct fixture *f = *state;
        uint8_t k1[CRYPTO_PUBKEY_SIZE];
        const uint8_t *keys[2] = { k1, NULL };
        struct ledger_slice a = { .id = SLICE_A, .owner_uid = 1000, .created_usec = 1000,
                                  .donation_model = DONATION_PRO_RATA, .anonymous_to_host = true };
        struct ledger_slice b = { .id = SLICE_B, .owner_uid = 1000, .created_usec = 1000,
                                  .donation_model = DONATION_OWNER, .anonymous_to_host = true };
        struct voucher v[3] = { make_voucher(70, CENTS(300)), make_voucher(71, CENTS(100)),
                                make_voucher(72, CENTS(80)) };
        struct ledger_split sp = {};
        struct ledger_books books;
        struct ledger_slice row;
        struct ledger *l;
        uint64_t seq;

        memset(k1, 0x11, sizeof(k1));
        memset(a.owner_hash, 0x5a, sizeof(a.owner_hash));
        memset(b.owner_hash, 0x5a, sizeof(b.owner_hash));
        l = open_batch(f->path);
        assert_int_equal(ledger_slice_add(l, &a), 0);
        assert_int_equal(ledger_slice_add(l, &b), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[0], 1, SLICE_A, NULL, keys[0], 6000, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[1], 1, SLICE_A, NULL, keys[1], 6001, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[2], 1, SLICE_B, NULL, NULL, 6002, NULL, NULL), 0);

        /* 4.00 unspent: 3.00 held for k1, the anonymous 1.00 the host's,
         * nothing the owner's: no change. */
        assert_int_equal(ledger_release_split(l, SLICE_A, &sp), 0);
        assert_int_equal(sp.held, CENTS(300));
        assert_int_equal(sp.donated, CENTS(100));
        assert_int_equal(sp.owner, 0);
        ledger_split_done(&sp);
        assert_int_equal(ledger_release(l, SLICE_A, "change-a", 8000), -EINVAL);
        assert_int_equal(ledger_release(l, SLICE_A, NULL, 8000), 0);
        /* Under the owner's model all is the owner's, whatever the row. */
        assert_int_equal(ledger_release_split(l, SLICE_B, &sp), 0);
        assert_int_equal(sp.owner, CENTS(80));
        assert_int_equal(sp.donated, 0);
        ledger_split_done(&sp);
        assert_int_equal(ledger_release(l, SLICE_B, "change-b", 8001), 0);
        assert_int_equal(ledger_commit(l), 0);

        seq = (uint64_t) raw_int(f->path, "SELECT seq FROM entries WHERE kind = 'release' AND slice = '" SLICE_A "'");
        assert_int_equal(posting_of(f->path, seq, "donated"), CENTS(100));
        assert_int_equal(posting_of(f->path, seq, "refund"), 0);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &row), 0);
        assert_true(row.anonymous_to_host);
        assert_int_equal(row.donated, CENTS(100));
        assert_int_equal(row.refunded, 0);
        assert_int_equal(row.held, CENTS(300));
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.donated, CENTS(100));
        assert_int_equal(books.redeemed,
                         books.held + books.charged + books.refunded + books.funders + books.donated);
        verify_ok(l);
        ledger_close(l);

        raw_exec(f->path, "UPDATE slices SET anonymous_share = 'owner' WHERE id = '" SLICE_A "'");
        l = open_ok(f->path, true);
        verify_fails(l, "'donated'");
        ledger_close(l);
        raw_exec(f->path, "UPDATE slices SET anonymous_share = 'host' WHERE id = '" SLICE_A "'");
        raw_exec(f->path, "UPDATE slices SET donated = donated + 1 WHERE id = '" SLICE_A "'");
        l = open_ok(f->path, true);
        verify_fails(l, "donated to the host");
        ledger_close(l);
}

/* Claims (schema 4): each keyed funder of a released pro-rata slice is
 * paid its held share once, as change; a second claim is refused naming
 * the first; a key that put nothing in, a slice not released, an amount
 * not the share are refused with nothing paid; the positions add up to
 * what was put in; verify ties each claim entry to its row. */
static void test_claims(void **state) {
        struct fixture *f = *state;
        uint8_t k1[CRYPTO_PUBKEY_SIZE], k2[CRYPTO_PUBKEY_SIZE], k3[CRYPTO_PUBKEY_SIZE], k4[CRYPTO_PUBKEY_SIZE];
        const uint8_t *keys[4] = { k1, k2, k3, NULL };
        const int64_t amounts[4] = { CENTS(100), CENTS(200), CENTS(300), CENTS(50) };
        struct ledger_claimable c = {}, c4 = {};
        struct ledger_position *p = NULL;
        struct ledger_books books;
        struct ledger_slice row;
        int64_t sum = 0;
        struct ledger *l;
        size_t n = 0;
        uint64_t seq;

        memset(k1, 0x11, sizeof(k1));
        memset(k2, 0x22, sizeof(k2));
        memset(k3, 0x33, sizeof(k3));
        memset(k4, 0x44, sizeof(k4));
        l = open_batch(f->path);
        funded_slice(l, SLICE_A, DONATION_PRO_RATA, keys, amounts, 4, 50, 1234567);
        /* Nothing is held before the release. */
        assert_int_equal(ledger_claimable(l, SLICE_A, k1, &c), 0);
        assert_int_equal(c.share, 0);
        assert_int_equal(c.share_error, -EAGAIN);
        c.share = 810067;
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "c", NULL, 8500), -ENODATA);
        assert_int_equal(ledger_release(l, SLICE_A, "change-a", 9000), 0);

        assert_int_equal(ledger_claimable(l, SLICE_A, k1, &c), 0);
        assert_int_equal(c.share, 810067);
        c.share++;
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "c1", NULL, 9100), -EINVAL);
        c.share--;
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k4, &c, "c1", NULL, 9100), -ENODATA);
        assert_int_equal(ledger_claimable(l, SLICE_A, k4, &c4), 0);
        assert_int_equal(c4.share_error, -ENODATA);
        assert_int_equal(ledger_claimable(l, SLICE_C, k1, &c4), -ENOENT);
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "", NULL, 9100), -EINVAL);
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "change-k1", "claim-1", 9100), 0);
        assert_int_equal(ledger_commit(l), 0);
        seq = (uint64_t) raw_int(f->path, "SELECT max(seq) FROM entries");
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE kind = 'claim' AND funder IS NOT NULL "
                                          "AND request_id = 'claim-1'"), 1);

        /* Once: a second claim finds the first. */
        assert_int_equal(ledger_begin(l), 0);
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "again", NULL, 9200), -ENODATA);
        assert_int_equal(ledger_claimable(l, SLICE_A, k1, &c), 0);
        assert_int_equal(c.share, 0);
        assert_int_equal(c.share_error, -EALREADY);
        assert_int_equal(c.first.entry, seq);
        assert_int_equal(c.first.time_usec, 9100);
        assert_int_equal(c.first.amount, 810067);
        assert_string_equal(c.first.change, "change-k1");
        assert_int_equal(ledger_claimable(l, SLICE_A, k3, &c), 0);
        assert_int_equal(c.share, 2430200);
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k3, &c, "change-k3", NULL, 9300), 0);
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_slice_get(l, SLICE_A, &row), 0);
        assert_int_equal(row.refunded, 405033);
        assert_int_equal(row.claimed, 810067 + 2430200);
        assert_int_equal(row.held, 1620133);
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.funders, 1620133);
        assert_int_equal(books.refunded, 405033 + 810067 + 2430200);
        assert_int_equal(books.redeemed, books.held + books.charged + books.refunded + books.funders);
        verify_ok(l);

        /* Each funder's position: shares and spending add up to what was
         * put in. */
        assert_int_equal(ledger_slice_positions(l, SLICE_A, &row, &p, &n), 0);
        assert_int_equal(n, 4);
        assert_memory_equal(p[0].key, k1, sizeof(k1));
        assert_int_equal(p[0].put, CENTS(100));
        assert_int_equal(p[0].share, 810067);
        assert_int_equal(p[0].claimed, 810067);
        assert_int_equal(p[0].held, 0);
        assert_int_equal(p[0].claim_entry, seq);
        assert_int_equal(p[1].share, 1620133);
        assert_int_equal(p[1].held, 1620133);
        assert_int_equal(p[1].claimed, 0);
        assert_int_equal(p[2].claimed, 2430200);
        assert_true(p[3].anonymous);
        assert_int_equal(p[3].put, CENTS(50));
        assert_int_equal(p[3].share, 405033);
        for (size_t i = 0; i < n; i++)
                sum += p[i].share;
        assert_int_equal(sum + 1234567, row.credited);
        free(p);
        ledger_close(l);

        /* The claims row and its entry are one. */
        raw_exec(f->path, "UPDATE claims SET amount = amount + 1 WHERE entry = (SELECT max(entry) FROM claims)");
        l = open_ok(f->path, true);
        verify_fails(l, "its claims row says");
        ledger_close(l);
        raw_exec(f->path, "UPDATE claims SET amount = amount - 1 WHERE entry = (SELECT max(entry) FROM claims)");
        raw_exec(f->path, "DELETE FROM claims WHERE entry = (SELECT max(entry) FROM claims)");
        l = open_ok(f->path, true);
        verify_fails(l, "no claims row records");
        ledger_close(l);
}

/* Investors (schema 5): a credit by a key after the opening is an
 * investment, one before it is not; payments are split by the terms to
 * the micro-unit, their revenue claimed again and again, never twice;
 * verify recomputes each payment's split from the investors' entries. */
static void test_investors(void **state) {
        struct fixture *f = *state;
        const struct invest_offer half = { INVEST_REVENUE_SHARE, INVEST_RATE_UNIT / 2, 0 };
        uint8_t k1[CRYPTO_PUBKEY_SIZE], k2[CRYPTO_PUBKEY_SIZE], k3[CRYPTO_PUBKEY_SIZE];
        struct voucher v = make_voucher(90, CENTS(50));
        struct ledger_position *p = NULL;
        struct ledger_claimable c;
        struct ledger_books books;
        struct ledger_paid paid;
        struct ledger_slice row;
        struct ledger *l;
        size_t n = 0;

        memset(k1, 0x11, sizeof(k1));
        memset(k2, 0x22, sizeof(k2));
        memset(k3, 0x33, sizeof(k3));
        l = open_batch(f->path);
        add_slice(l, SLICE_A, 1000);
        assert_int_equal(ledger_redeem_funded(l, &v, 1, SLICE_A, NULL, k3, 2000, NULL, NULL), 0);
        assert_int_equal(ledger_invest_open(l, SLICE_A, &half, "open-1", 3000), 0);
        assert_int_equal(ledger_invest_open(l, SLICE_A, &half, NULL, 3001), -EALREADY);
        assert_int_equal(ledger_invest_open(l, SLICE_B, &half, NULL, 3001), -ENOENT);
        assert_int_equal(ledger_invest_open(l, SLICE_A, &(struct invest_offer) { INVEST_REVENUE_SHARE, 0, 0 }, NULL,
                                            3001), -EINVAL);
        v = make_voucher(91, CENTS(200));
        assert_int_equal(ledger_redeem_funded(l, &v, 1, SLICE_A, NULL, k1, 4000, NULL, NULL), 0);
        v = make_voucher(92, CENTS(100));
        assert_int_equal(ledger_redeem_funded(l, &v, 1, SLICE_A, NULL, k2, 4001, NULL, NULL), 0);

        /* 0.000007: 3 to the investors (2 and 1), 4 to the slice. */
        v = make_voucher(93, 7);
        assert_int_equal(ledger_pay(l, &v, 1, SLICE_A, "pay-1", 5000, &paid, NULL), 0);
        assert_int_equal(paid.to_investors, 3);
        assert_int_equal(paid.to_slice, 4);
        assert_int_equal(paid.n_shares, 2);
        assert_int_equal(paid.shares[0].amount, 2);
        assert_int_equal(paid.shares[1].amount, 1);
        /* 1.00: 0.50 by 2:1, the odd micro-unit to the larger remainder. */
        v = make_voucher(94, CENTS(100));
        assert_int_equal(ledger_pay(l, &v, 1, SLICE_A, NULL, 5001, &paid, NULL), 0);
        assert_int_equal(paid.shares[0].amount, 333333);
        assert_int_equal(paid.shares[1].amount, 166667);
        assert_int_equal(paid.balance, CENTS(350) + 4 + CENTS(50));
        /* Spent is spent, a payment or a credit. */
        assert_int_equal(ledger_pay(l, &v, 1, SLICE_A, NULL, 5002, &paid, NULL), -EALREADY);

        /* k1 claims its revenue, before any release; then has nothing. */
        assert_int_equal(ledger_claimable(l, SLICE_A, k1, &c), 0);
        assert_true(c.investor);
        assert_int_equal(c.share_error, -EAGAIN);
        assert_int_equal(c.revenue, 333335);
        c.revenue++;
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "rc-1", NULL, 6000), -EINVAL);
        c.revenue--;
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "rc-1", "claim-1", 6000), 0);
        assert_int_equal(ledger_claimable(l, SLICE_A, k1, &c), 0);
        assert_int_equal(c.revenue, 0);
        assert_int_equal(ledger_claim_funder(l, SLICE_A, k1, &c, "rc-2", NULL, 6001), -ENODATA);
        /* k3 funded before the opening: no investor. */
        assert_int_equal(ledger_claimable(l, SLICE_A, k3, &c), 0);
        assert_false(c.investor);
        assert_int_equal(ledger_commit(l), 0);

        assert_int_equal(ledger_slice_get(l, SLICE_A, &row), 0);
        assert_int_equal(row.revenue, 4 + CENTS(50));
        assert_int_equal(row.invested, CENTS(300));
        assert_int_equal(row.earned, 166668);
        assert_int_equal(row.earned_claimed, 333335);
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.earned, 166668);
        assert_int_equal(books.redeemed, books.held + books.charged + books.refunded + books.funders + books.earned);
        assert_int_equal(ledger_slice_positions(l, SLICE_A, &row, &p, &n), 0);
        assert_int_equal(n, 3);
        assert_false(p[0].investor); /* k3 */
        assert_true(p[1].investor);
        assert_int_equal(p[1].invested, CENTS(200));
        assert_int_equal(p[1].earned, 333335);
        assert_int_equal(p[1].earned_claimed, 333335);
        free(p);
        verify_ok(l);
        ledger_close(l);

        /* What verify holds to the entries. */
        raw_exec(f->path, "UPDATE investors SET earned = earned + 1 WHERE funder = x'" "2222222222222222222222222222222222222222222222222222222222222222" "'");
        l = open_ok(f->path, true);
        verify_fails(l, "from its entries");
        ledger_close(l);
        raw_exec(f->path, "UPDATE investors SET earned = earned - 1 WHERE funder = x'" "2222222222222222222222222222222222222222222222222222222222222222" "'");
        raw_exec(f->path, "UPDATE slices SET invest_rate = 400000");
        l = open_ok(f->path, true);
        verify_fails(l, "but its revenue-share terms give it");
        ledger_close(l);
        raw_exec(f->path, "UPDATE slices SET invest_rate = 500000");
        raw_exec(f->path, "DELETE FROM payouts");
        l = open_ok(f->path, true);
        verify_fails(l, "no payouts row records");
        ledger_close(l);
}

/* A slice whose balance is split has at most LEDGER_FUNDERS_MAX keyed
 * funders: the release entry has room for each one's posting. A funder
 * it has, or an anonymous one, may still fund it; an owner's slice has
 * no such bound. A ledger of schema 3 migrates to 4 and splits. */
static void test_funders_max(void **state) {
        struct fixture *f = *state;
        struct ledger_slice s = { .owner_uid = 1000, .created_usec = 1000, .donation_model = DONATION_PRO_RATA };
        uint8_t key[CRYPTO_PUBKEY_SIZE] = {};
        struct ledger_split sp = {};
        struct voucher v;
        struct ledger *l;

        build(f->path);
        raw_exec(f->path, SCHEMA_3_SQL "PRAGMA user_version = 3");
        /* Schema 3 knew no claim. */
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM sqlite_schema WHERE name = 'claims'"), 0);
        l = open_batch(f->path);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
        /* entries rebuilt, every posting and voucher still with its entry */
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries"), 6);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM slices WHERE held <> 0"), 0);
        verify_ok(l);

        snprintf(s.id, sizeof(s.id), "%s", "s-000000f0");
        memset(s.owner_hash, 0x5a, sizeof(s.owner_hash));
        assert_int_equal(ledger_slice_add(l, &s), 0);
        for (unsigned i = 0; i < LEDGER_FUNDERS_MAX; i++) {
                key[0] = (uint8_t) i;
                v = make_voucher(100 + i, CENTS(1));
                assert_int_equal(ledger_redeem_funded(l, &v, 1, s.id, NULL, key, 9000, NULL, NULL), 0);
        }
        key[0] = LEDGER_FUNDERS_MAX;
        v = make_voucher(200, CENTS(1));
        assert_int_equal(ledger_redeem_funded(l, &v, 1, s.id, NULL, key, 9001, NULL, NULL), -EUSERS);
        key[0] = 3;
        assert_int_equal(ledger_redeem_funded(l, &v, 1, s.id, NULL, key, 9002, NULL, NULL), 0);
        v = make_voucher(201, CENTS(1));
        assert_int_equal(ledger_redeem_funded(l, &v, 1, s.id, NULL, NULL, 9003, NULL, NULL), 0);

        /* Every funder paid back in the one entry. */
        assert_int_equal(ledger_release_split(l, s.id, &sp), 0);
        assert_int_equal(sp.n_shares, LEDGER_FUNDERS_MAX);
        assert_int_equal(sp.owner, CENTS(1));
        assert_int_equal(sp.held, CENTS(LEDGER_FUNDERS_MAX + 1));
        ledger_split_done(&sp);
        assert_int_equal(ledger_release(l, s.id, "change", 9004), 0);
        assert_int_equal(ledger_commit(l), 0);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM postings WHERE account GLOB 'held:*'"),
                         LEDGER_FUNDERS_MAX);
        verify_ok(l);
        ledger_close(l);
}

/* A slice's credits by funder, from the books, for funders_split():
 * in the order made, funders in the order of their first credit, every
 * anonymous credit one funder; and the split of them sums exactly. */
static void test_slice_credits(void **state) {
        struct fixture *f = *state;
        struct voucher v[7] = { make_voucher(40, CENTS(100)), make_voucher(41, CENTS(200)),
                                make_voucher(42, CENTS(300)), make_voucher(43, CENTS(50)),
                                make_voucher(44, CENTS(25)),  make_voucher(45, CENTS(5)),
                                make_voucher(46, CENTS(10)) };
        uint8_t k1[CRYPTO_PUBKEY_SIZE], k2[CRYPTO_PUBKEY_SIZE];
        struct ledger_credits c = {};
        int64_t shares[3], sum = 0;
        struct ledger *l;

        memset(k1, 0x11, sizeof(k1));
        memset(k2, 0x22, sizeof(k2));
        struct ledger_slice a = { .id = SLICE_A, .owner_uid = 1000, .created_usec = 1000,
                                  .donation_model = DONATION_PRO_RATA };

        l = open_batch(f->path);
        assert_int_equal(ledger_slice_add(l, &a), 0);
        add_slice(l, SLICE_B, 1001);
        assert_int_equal(ledger_slice_credits(l, SLICE_B, &c), 0);
        assert_int_equal(c.n_credits, 0);
        assert_int_equal(c.n_funders, 0);
        ledger_credits_done(&c);

        assert_int_equal(ledger_redeem_funded(l, &v[0], 1, SLICE_A, NULL, k1, 5000, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[1], 1, SLICE_A, NULL, NULL, 5001, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[4], 1, SLICE_B, NULL, k2, 5002, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[2], 1, SLICE_A, NULL, k2, 5003, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[3], 1, SLICE_A, NULL, k1, 5004, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[5], 1, SLICE_B, NULL, NULL, 5005, NULL, NULL), 0);
        assert_int_equal(ledger_redeem_funded(l, &v[6], 1, SLICE_B, NULL, k2, 5006, NULL, NULL), 0);
        assert_int_equal(ledger_commit(l), 0);

        /* An owner's slice keeps its keyed credits in order, and what
         * the anonymous put in as one sum after them. */
        assert_int_equal(ledger_slice_credits(l, SLICE_B, &c), 0);
        assert_int_equal(c.n_credits, 3);
        assert_int_equal(c.n_funders, 2);
        assert_false(c.funders[0].anonymous);
        assert_int_equal(c.funders[0].put, CENTS(25) + CENTS(10));
        assert_true(c.funders[1].anonymous);
        assert_int_equal(c.funders[1].put, CENTS(5));
        ledger_credits_done(&c);
        assert_int_equal(ledger_verify(l, NULL), 0);

        assert_int_equal(ledger_slice_credits(l, SLICE_A, &c), 0);
        assert_int_equal(c.n_credits, 4);
        assert_int_equal(c.n_funders, 3);
        assert_false(c.funders[0].anonymous);
        assert_memory_equal(c.funders[0].key, k1, sizeof(k1));
        assert_int_equal(c.funders[0].put, CENTS(150));
        assert_true(c.funders[1].anonymous);
        assert_int_equal(c.funders[1].put, CENTS(200));
        assert_false(c.funders[2].anonymous);
        assert_memory_equal(c.funders[2].key, k2, sizeof(k2));
        assert_int_equal(c.funders[2].put, CENTS(300));
        assert_int_equal(c.credits[0].funder, 0);
        assert_int_equal(c.credits[0].amount, CENTS(100));
        assert_int_equal(c.credits[1].funder, 1);
        assert_int_equal(c.credits[2].funder, 2);
        assert_int_equal(c.credits[3].funder, 0);
        assert_int_equal(c.credits[3].amount, CENTS(50));
        /* lifo: the last credit (funder 0's 0.50) back first, then 2.00
         * of funder 2's 3.00. */
        assert_int_equal(funders_split(DONATION_LIFO, c.credits, c.n_credits, c.n_funders, CENTS(250), shares), 0);
        assert_int_equal(shares[0], CENTS(50));
        assert_int_equal(shares[1], 0);
        assert_int_equal(shares[2], CENTS(200));
        assert_int_equal(funders_split(DONATION_PRO_RATA, c.credits, c.n_credits, c.n_funders, 1234567, shares),
                         0);
        for (size_t i = 0; i < c.n_funders; i++)
                sum += shares[i];
        assert_int_equal(sum, 1234567);
        ledger_credits_done(&c);
        ledger_credits_done(&c); /* twice is harmless */

        assert_int_equal(ledger_slice_credits(l, SLICE_C, &c), -ENOENT);
        assert_int_equal(ledger_slice_credits(l, "../x", &c), -ENOENT);
        ledger_close(l);
}

/* In a forked child, where cmocka's assertions must not run: a failed
 * check exits with the line that failed. */
#define CHILD_CHECK(expr)                                                                 \
        do {                                                                              \
                if (!(expr)) {                                                            \
                        fprintf(stderr, "test-ledger:%d: %s failed\n", __LINE__, #expr); \
                        _exit(1);                                                         \
                }                                                                         \
        } while (0)

/* A mount namespace of our own, as root or else as root of a new user
 * namespace; false where neither is allowed. */
static bool private_mounts(void) {
        uid_t uid = getuid();
        gid_t gid = getgid();
        char map[64];

        if (unshare(CLONE_NEWNS) < 0) {
                if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
                        return false;
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) uid);
                if (write_string_file("/proc/self/uid_map", map) < 0 ||
                    write_string_file("/proc/self/setgroups", "deny") < 0)
                        return false;
                snprintf(map, sizeof(map), "0 %u 1", (unsigned) gid);
                if (write_string_file("/proc/self/gid_map", map) < 0)
                        return false;
        }
        return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) >= 0;
}

/* The disk fills up during a batch: commit says -ENOSPC, the batch is
 * gone as a whole, and once there is room again the chain goes on. */
static void disk_full_child(const char *dir) {
        char path[128], filler[128];
        struct ledger_books books;
        struct statvfs sv;
        struct ledger *l;
        char *error = NULL, *d = NULL;
        uint64_t room;
        int fd;

        snprintf(path, sizeof(path), "%s/ledger.db", dir);
        snprintf(filler, sizeof(filler), "%s/filler", dir);

        CHILD_CHECK(ledger_open(path, false, &l, &error) == 0);
        {
                struct ledger_slice s = { .id = SLICE_A };
                struct voucher v = make_voucher(1, CENTS(100));

                CHILD_CHECK(ledger_begin(l) == 0);
                CHILD_CHECK(ledger_slice_add(l, &s) == 0);
                CHILD_CHECK(ledger_redeem(l, &v, SLICE_A, NULL, 1, NULL, NULL) == 0);
                CHILD_CHECK(ledger_commit(l) == 0);
        }

        /* Leave 16 KiB: less than the batch below needs. */
        CHILD_CHECK(statvfs(dir, &sv) == 0);
        room = (uint64_t) sv.f_bavail * sv.f_frsize;
        CHILD_CHECK(room > 16384);
        fd = open(filler, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        CHILD_CHECK(fd >= 0);
        CHILD_CHECK(posix_fallocate(fd, 0, (off_t) (room - 16384)) == 0);
        close(fd);

        CHILD_CHECK(ledger_begin(l) == 0);
        for (unsigned i = 2; i < 250; i++) {
                struct voucher v = make_voucher(i, CENTS(1));
                char rid[16], reply[256];

                snprintf(rid, sizeof(rid), "r%u", i);
                memset(reply, 'x', sizeof(reply) - 1);
                reply[sizeof(reply) - 1] = 0;
                CHILD_CHECK(ledger_redeem(l, &v, SLICE_A, rid, 2, NULL, NULL) == 0);
                CHILD_CHECK(ledger_request_put(l, 0, rid, "topup", reply, 2) == 0);
        }
        CHILD_CHECK(ledger_commit(l) == -ENOSPC);
        CHILD_CHECK(!ledger_in_batch(l));

        CHILD_CHECK(ledger_books(l, &books) == 0);
        CHILD_CHECK(books.entries == 1 && books.redeemed == CENTS(100));
        CHILD_CHECK(ledger_verify(l, &d) == 0);

        CHILD_CHECK(unlink(filler) == 0);
        {
                struct voucher v = make_voucher(2, CENTS(1));

                CHILD_CHECK(ledger_begin(l) == 0);
                CHILD_CHECK(ledger_redeem(l, &v, SLICE_A, NULL, 3, NULL, NULL) == 0);
                CHILD_CHECK(ledger_commit(l) == 0);
        }
        CHILD_CHECK(ledger_verify(l, &d) == 0);
        ledger_close(l);
        _exit(0);
}

static void test_disk_full(void **state) {
        struct fixture *f = *state;
        int status;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                if (!private_mounts() || mount("tmpfs", f->dir, "tmpfs", 0, "size=512k,mode=0700") < 0)
                        _exit(77);
                disk_full_child(f->dir);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) == 77) {
                printf("# skipped: cannot mount a small file system here (no mount or user namespace)\n");
                skip();
        }
        assert_int_equal(WEXITSTATUS(status), 0);
}

static double now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Figures, not assertions: what a redeem and its idempotency record cost
 * inside a batch, and what a commit (an fsync of the WAL) costs here. */
static void test_performance(void **state) {
        enum { N = 20000, COMMITS = 100, GROUP = 64, GROUPS = 50 };
        struct fixture *f = *state;
        char rid[32], reply[64];
        double t0, t_ops, t_commit, t_single, t_group;
        unsigned n = 0;
        struct ledger *l;
        char *d = NULL;

        l = open_batch(f->path);
        add_slice(l, SLICE_A, 0);
        assert_int_equal(ledger_commit(l), 0);

        /* One big batch. */
        assert_int_equal(ledger_begin(l), 0);
        t0 = now_sec();
        for (int i = 0; i < N; i++, n++) {
                struct voucher v = make_voucher(0, 1000);

                memcpy(v.id, &n, sizeof(n));
                snprintf(rid, sizeof(rid), "r%u", n);
                snprintf(reply, sizeof(reply), "{\"ok\":true,\"balance\":%u}", n);
                assert_int_equal(ledger_redeem(l, &v, SLICE_A, rid, 1000 + n, NULL, NULL), 0);
                assert_int_equal(ledger_request_put(l, 1000, rid, "topup", reply, 1000 + n), 0);
        }
        t_ops = now_sec() - t0;
        t0 = now_sec();
        assert_int_equal(ledger_commit(l), 0);
        t_commit = now_sec() - t0;

        /* One redeem per commit: the fsync alone. */
        t0 = now_sec();
        for (int i = 0; i < COMMITS; i++, n++) {
                struct voucher v = make_voucher(0, 1000);

                memcpy(v.id, &n, sizeof(n));
                assert_int_equal(ledger_begin(l), 0);
                assert_int_equal(ledger_redeem(l, &v, SLICE_A, NULL, 1000 + n, NULL, NULL), 0);
                assert_int_equal(ledger_commit(l), 0);
        }
        t_single = (now_sec() - t0) / COMMITS;

        /* Group commit as 64 concurrent clients would fill it. */
        t0 = now_sec();
        for (int g = 0; g < GROUPS; g++) {
                assert_int_equal(ledger_begin(l), 0);
                for (int i = 0; i < GROUP; i++, n++) {
                        struct voucher v = make_voucher(0, 1000);

                        memcpy(v.id, &n, sizeof(n));
                        snprintf(rid, sizeof(rid), "r%u", n);
                        assert_int_equal(ledger_redeem(l, &v, SLICE_A, rid, 1000 + n, NULL, NULL), 0);
                        assert_int_equal(ledger_request_put(l, 1000, rid, "topup", "{\"ok\":true}", 1000 + n), 0);
                }
                assert_int_equal(ledger_commit(l), 0);
        }
        t_group = now_sec() - t0;

        printf("# ledger: redeem + request_put in a batch: %.1f us each (%d in %.3f s; commit of them %.1f ms)\n",
               t_ops * 1e6 / N, N, t_ops, t_commit * 1e3);
        printf("# ledger: begin + 1 redeem + commit (synchronous=FULL): %.2f ms\n", t_single * 1e3);
        printf("# ledger: batches of %d redeem + request_put: %.0f acknowledged redemptions/s\n", GROUP,
               GROUP * GROUPS / t_group);

        t0 = now_sec();
        assert_int_equal(ledger_verify(l, &d), 0);
        printf("# ledger: verify of %u entries: %.0f ms\n", n, (now_sec() - t0) * 1e3);
        ledger_close(l);
}

/* Sponsorship (schema 5): bids spent into escrow, a period settled whole
 * (the winner credited with its funder key, the losers returned with
 * their change), a released slice taking none; the books balance at each
 * step and verify catches escrow taken twice, a bid row edited, a return
 * to the wrong account. A ledger of schema 4 migrates to 5. */
static void bid_ok(struct ledger *l, const char *slice, unsigned voucher, int64_t amount, const char *name,
                   const uint8_t *funder, uint64_t start, uint64_t now, uint64_t want_n) {
        struct voucher v = make_voucher(voucher, amount);
        struct ledger_bid bid = { .amount = amount, .start_usec = start, .end_usec = start + 100 };
        uint64_t n = 0;

        snprintf(bid.slice, sizeof(bid.slice), "%s", slice);
        snprintf(bid.name, sizeof(bid.name), "%s", name);
        if (funder) {
                bid.keyed = true;
                memcpy(bid.funder, funder, CRYPTO_PUBKEY_SIZE);
        }
        assert_int_equal(ledger_bid(l, &v, 1, &bid, NULL, now, &n), 0);
        assert_int_equal(n, want_n);
}

static void books_balance(struct ledger *l) {
        struct ledger_books b;

        assert_int_equal(ledger_books(l, &b), 0);
        assert_int_equal(b.redeemed, b.held + b.charged + b.refunded + b.funders + b.escrow + b.returned);
}

static void test_sponsorship(void **state) {
        struct fixture *f = *state;
        struct ledger_sponsorship sp = { .slice = SLICE_A, .period_usec = 100, .min = CENTS(100), .start_usec = 5000,
                                         .offered_usec = 3000 };
        struct ledger_return ret[2] = { { .n = 2, .change = "change-2" }, { .n = 3, .change = "change-3" } };
        struct ledger_bid *open = NULL, got;
        struct voucher v = make_voucher(40, CENTS(50));
        struct ledger_bid low = { .slice = SLICE_A, .amount = CENTS(50), .start_usec = 5000, .end_usec = 5100,
                                  .name = "Low" };
        struct ledger_books books;
        struct ledger_slice row;
        uint8_t key[CRYPTO_PUBKEY_SIZE];
        struct ledger *l;
        size_t n = 0;

        memset(key, 0x77, sizeof(key));
        l = open_batch(f->path);
        add_slice(l, SLICE_A, 1000);
        add_slice(l, SLICE_B, 1000);
        redeem_ok(l, 1, CENTS(100), SLICE_A, CENTS(100));
        redeem_ok(l, 2, CENTS(100), SLICE_B, CENTS(100));
        /* No offer, no bid. */
        assert_int_equal(ledger_bid(l, &v, 1, &low, NULL, 4000, NULL), -ENOMSG);
        assert_int_equal(ledger_sponsor_offer(l, &sp), 0);
        assert_int_equal(ledger_sponsorship_get(l, SLICE_A, &sp), 0);
        assert_int_equal(sp.min, CENTS(100));
        /* Below the least: refused where the money moves too, nothing spent. */
        assert_int_equal(ledger_bid(l, &v, 1, &low, NULL, 4000, NULL), -EINVAL);
        assert_int_equal(ledger_voucher_spent(l, v.id, NULL), -ENOENT);

        bid_ok(l, SLICE_A, 10, CENTS(200), "Alice", key, 5000, 4001, 1);
        bid_ok(l, SLICE_A, 11, CENTS(150), "Bob", NULL, 5000, 4002, 2);
        bid_ok(l, SLICE_A, 12, CENTS(200), "Carol", NULL, 5000, 4003, 3);
        books_balance(l);
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.escrow, CENTS(550));
        /* The same voucher twice: -EALREADY. */
        {
                struct voucher again = make_voucher(10, CENTS(200));
                struct ledger_bid b = low;

                b.amount = CENTS(200);
                assert_int_equal(ledger_bid(l, &again, 1, &b, NULL, 4004, NULL), -EALREADY);
        }
        /* While bids are open the offer stands. */
        assert_int_equal(ledger_sponsor_offer(l, &sp), -EBUSY);
        verify_ok(l);

        assert_int_equal(ledger_bids_open(l, SLICE_A, &open, &n), 0);
        assert_int_equal(n, 3);
        assert_string_equal(open[0].name, "Alice");
        assert_true(open[0].keyed);
        free(open);

        /* The period: Alice wins (Carol bid as much, later). */
        assert_int_equal(ledger_bids_settle(l, SLICE_A, 1, ret, 2, 5001), 0);
        assert_int_equal(ledger_bid_award(l, SLICE_A, 1, 5002), -EALREADY);
        assert_int_equal(ledger_bid_return(l, SLICE_A, 2, "again", 5002), -EALREADY);
        assert_int_equal(ledger_slice_get(l, SLICE_A, &row), 0);
        assert_int_equal(row.balance, CENTS(300));
        assert_int_equal(row.credited, CENTS(300));
        assert_int_equal(ledger_bid_get(l, SLICE_A, 2, &got), 0);
        assert_int_equal(got.state, LEDGER_BID_RETURNED);
        assert_string_equal(got.change, "change-2");
        assert_int_equal(ledger_bid_current(l, SLICE_A, 5050, &got), 0);
        assert_string_equal(got.name, "Alice");
        assert_int_equal(ledger_bid_current(l, SLICE_A, 5100, &got), -ENOENT);
        assert_int_equal(ledger_books(l, &books), 0);
        assert_int_equal(books.escrow, 0);
        assert_int_equal(books.returned, CENTS(350));
        books_balance(l);
        assert_int_equal(ledger_commit(l), 0);
        /* The winner is a funder of the slice like any other. */
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM entries WHERE kind = 'award' AND funder IS NOT NULL"),
                         1);
        verify_ok(l);

        /* A released slice takes no bid, and an open one is returned. */
        assert_int_equal(ledger_begin(l), 0);
        bid_ok(l, SLICE_A, 13, CENTS(100), "Dave", NULL, 5100, 5003, 4);
        {
                struct ledger_return r4 = { .n = 4, .change = "change-4" };

                assert_int_equal(ledger_bids_settle(l, SLICE_A, 0, &r4, 1, 5004), 0);
        }
        assert_int_equal(ledger_release(l, SLICE_A, "change-a", 5005), 0);
        assert_int_equal(ledger_bid_award(l, SLICE_A, 4, 5006), -EALREADY);
        {
                struct voucher late = make_voucher(50, CENTS(100));
                struct ledger_bid b = low;

                b.amount = CENTS(100);
                assert_int_equal(ledger_bid(l, &late, 1, &b, NULL, 5007, NULL), -ESTALE);
                assert_int_equal(ledger_voucher_spent(l, late.id, NULL), -ENOENT);
        }
        assert_int_equal(ledger_commit(l), 0);
        verify_ok(l);
        ledger_close(l);

        /* Tampering. */
        raw_exec(f->path, "UPDATE bids SET amount = amount + 1 WHERE n = 2");
        l = open_ok(f->path, true);
        verify_fails(l, "Bid 2 on slice " SLICE_A);
        ledger_close(l);
        raw_exec(f->path, "UPDATE bids SET amount = amount - 1 WHERE n = 2");
        raw_exec(f->path, "UPDATE bids SET state = 'open', settled_entry = NULL WHERE n = 3");
        l = open_ok(f->path, true);
        verify_fails(l, "open, but entry");
        ledger_close(l);
        raw_exec(f->path, "UPDATE bids SET state = 'won', settled_entry = (SELECT settled_entry FROM bids WHERE n = 2) "
                          "WHERE n = 3");
        l = open_ok(f->path, true);
        verify_fails(l, "Bid 3 on slice " SLICE_A);
        ledger_close(l);

}

/* A ledger of schema 4 migrates to 5 in place: the schema as a fresh
 * one's, its books and chain untouched. */
static void test_migrate_v4(void **state) {
        struct fixture *f = *state;
        struct ledger_books before, after;
        char fresh[160], *want, *got;
        struct ledger *l;

        snprintf(fresh, sizeof(fresh), "%s/fresh.db", f->dir);
        l = open_ok(fresh, false);
        ledger_close(l);
        want = raw_schema(fresh);

        build(f->path);
        l = open_ok(f->path, true);
        assert_int_equal(ledger_books(l, &before), 0);
        ledger_close(l);
        raw_exec(f->path, SCHEMA_4_SQL "PRAGMA user_version = 4");
        l = open_ok(f->path, false);
        ledger_close(l);
        assert_int_equal(raw_int(f->path, "PRAGMA user_version"), SCHEMA_NOW);
        got = raw_schema(f->path);
        assert_string_equal(got, want);
        free(got);
        free(want);
        assert_int_equal(raw_int(f->path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
        l = open_ok(f->path, true);
        assert_int_equal(ledger_books(l, &after), 0);
        assert_memory_equal(&after, &before, sizeof(before));
        verify_ok(l);
        ledger_close(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_open_migrate_reopen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_redeem, setup, teardown),
                cmocka_unit_test_setup_teardown(test_redeem_all, setup, teardown),
                cmocka_unit_test_setup_teardown(test_balance_max, setup, teardown),
                cmocka_unit_test_setup_teardown(test_charge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_keep_activate, setup, teardown),
                cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
                cmocka_unit_test_setup_teardown(test_batch_rollback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_savepoint_failure, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verify_good, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hash_as_documented, setup, teardown),
                cmocka_unit_test_setup_teardown(test_verify_detects, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_schema_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_json, setup, teardown),
                cmocka_unit_test_setup_teardown(test_export_bytes, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fleet_intents, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_v1, setup, teardown),
                cmocka_unit_test_setup_teardown(test_funders, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slice_credits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_split, setup, teardown),
                cmocka_unit_test_setup_teardown(test_release_donated, setup, teardown),
                cmocka_unit_test_setup_teardown(test_funders_max, setup, teardown),
                cmocka_unit_test_setup_teardown(test_claims, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sponsorship, setup, teardown),
                cmocka_unit_test_setup_teardown(test_migrate_v4, setup, teardown),
                cmocka_unit_test_setup_teardown(test_investors, setup, teardown),
                cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history_stored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_history_performance, setup, teardown),
                cmocka_unit_test_setup_teardown(test_performance, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
