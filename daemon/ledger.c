/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ledger's handle: open, schema migrations, the statements and the
 * plumbing every ledger*.c file goes through (binds, steps, errors),
 * transactions and savepoints, close. The schema, the bytes each entry's
 * hash covers and the reasons behind both are in the "Ledger" section of
 * daemon/README.md; keep the two in step. ledger-internal.h says which
 * file holds what. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ledger-internal.h"

/* "PPLG" in the file header (PRAGMA application_id): a ledger is told
 * apart from any other SQLite file before anything is read from it. */
#define LEDGER_APPLICATION_ID 0x50504c47
/* How long a statement waits for a lock another process holds (a reader
 * that is starting up, a checkpoint) before it fails with -EBUSY. */
#define LEDGER_BUSY_TIMEOUT_MSEC 5000

_Static_assert(_RESOURCE_MAX == 6, "the slices table has one charged_ and one billed_ column per resource");
_Static_assert(_LEDGER_SLICE_STATE_MAX == 3, "the slices table's CHECK names every state");

/* Per resource, in enum order, the way the columns are assigned. */
#define RESOURCE_ASSIGN(p) p "cpu = ?, " p "memory = ?, " p "net_out = ?, " p "net_in = ?, " p "io = ?, " p "base = ?"

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
        /* 3: who funded each credit (issue 16): NULL for an anonymous
         * funder, as every credit before this version was; else the
         * funder's raw Ed25519 public key. In the chain: an entry with a
         * funder hashes as version 2 of the entry's bytes. And the
         * donation model each slice was bought with, which says how its
         * balance is split at release: 'owner' for every slice before
         * (all of it to the owner, as release did). */
        ("ALTER TABLE entries ADD COLUMN funder BLOB\n"
         "        CHECK (funder IS NULL OR (kind = 'redeem' AND length(funder) = 32));\n"
         "ALTER TABLE slices ADD COLUMN donation_model TEXT NOT NULL DEFAULT 'owner'\n"
         "        CHECK (donation_model IN ('owner', 'pro-rata', 'lifo'));\n"),
        /* 4: the split at release (issue 16): what a released slice holds
         * for its keyed funders to claim, the sum of its held:<slice>:<key>
         * accounts (0 for every slice before: all was the owner's). And
         * credits: the redeem entries a split or a funder's position
         * reads, found without reading every entry: each keyed credit,
         * and every credit of a slice whose model splits. Not an index
         * on entries: that cost every redeem (an anonymous top-up of an
         * owner's slice, most of them) a third of its time in the books;
         * this costs it nothing. Derived from the chained entries, which
         * verify checks it against, row by row. */
        /* And claims: a keyed funder's held share paid out as change, an
         * entry of kind 'claim' with the funder's key, which the CHECKs
         * of entries (migration 1's kind, 3's funder) do not allow and
         * SQLite cannot alter: the table is rebuilt. Its rows are copied
         * as they are (no entry is rehashed); the drop's implicit delete
         * is a deferred foreign-key violation for every posting and
         * voucher, which the copy back, row by row, resolves before the
         * commit checks it. A claim is one row of claims per (slice,
         * funder): a second is refused by the key, naming the first; the
         * row keeps the change paid, for a claim asked again. */
        ("ALTER TABLE slices ADD COLUMN held INTEGER NOT NULL DEFAULT 0 CHECK (held >= 0);\n"
         "ALTER TABLE slices ADD COLUMN claimed INTEGER NOT NULL DEFAULT 0 CHECK (claimed >= 0);\n"
         "PRAGMA defer_foreign_keys = ON;\n"
         "CREATE TABLE entries_v3 AS SELECT * FROM entries;\n"
         "DROP TABLE entries;\n"
         "CREATE TABLE entries (\n"
         "        seq INTEGER PRIMARY KEY,\n"
         "        time_usec INTEGER NOT NULL,\n"
         "        kind TEXT NOT NULL CHECK (kind IN ('redeem', 'charge', 'release', 'claim')),\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        voucher BLOB,\n"
         "        request_id TEXT,\n"
         "        overshoot INTEGER NOT NULL DEFAULT 0,\n"
         "        prev_hash BLOB NOT NULL,\n"
         "        hash BLOB NOT NULL,\n"
         "        funder BLOB CHECK (funder IS NULL OR (kind IN ('redeem', 'claim') AND length(funder) = 32))\n"
         ") STRICT;\n"
         "INSERT INTO entries (seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash, funder)\n"
         "        SELECT seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash, funder\n"
         "        FROM entries_v3 ORDER BY seq;\n"
         "DROP TABLE entries_v3;\n"
         "CREATE TABLE credits (\n"
         "        entry INTEGER PRIMARY KEY REFERENCES entries (seq),\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        funder BLOB CHECK (funder IS NULL OR length(funder) = 32),\n"
         "        amount INTEGER NOT NULL CHECK (amount > 0)\n"
         ") STRICT;\n"
         "CREATE INDEX credits_slice ON credits (slice, entry);\n"
         "INSERT INTO credits (entry, slice, funder, amount)\n"
         "        SELECT e.seq, e.slice, e.funder, p.amount FROM entries e JOIN slices s ON s.id = e.slice\n"
         "        JOIN postings p ON p.entry = e.seq AND p.account = 'slice:' || e.slice\n"
         "        WHERE e.kind = 'redeem' AND (e.funder IS NOT NULL OR s.donation_model <> 'owner')\n"
         "        ORDER BY e.seq;\n"
         "CREATE TABLE claims (\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        funder BLOB NOT NULL CHECK (length(funder) = 32),\n"
         "        entry INTEGER NOT NULL UNIQUE REFERENCES entries (seq),\n"
         "        time_usec INTEGER NOT NULL,\n"
         "        amount INTEGER NOT NULL CHECK (amount > 0),\n"
         "        change TEXT NOT NULL,\n"
         "        PRIMARY KEY (slice, funder)\n"
         ") STRICT, WITHOUT ROWID;\n"),
        /* 5: where the anonymous funders' share of a split goes (issue
         * 16): to the owner as change, as every slice before, or to the
         * host, as the operator set AnonymousShares= when the slice was
         * bought; and what a release gave the host that way, posted to
         * the account 'donated'. */
        ("ALTER TABLE slices ADD COLUMN anonymous_share TEXT NOT NULL DEFAULT 'owner'\n"
         "        CHECK (anonymous_share IN ('owner', 'host'));\n"
         "ALTER TABLE slices ADD COLUMN donated INTEGER NOT NULL DEFAULT 0 CHECK (donated >= 0);\n"),
        /* 6: sponsorship (issue 16). An offer per slice (its period, the
         * least bid, the first period's start, the last period settled);
         * a bid per row, numbered per slice, the money of its vouchers
         * held in escrow, account bid:<slice>:<n>, until its period
         * starts: then the highest (the earliest of equal ones) is
         * credited to the slice (entry 'award', with the sponsor's funder
         * key if it gave one) and every other is paid back as change
         * (entry 'return', to account 'returned'; the change kept in the
         * row for the bidder). A bid's vouchers are spent by entries
         * 'bid', one per voucher, as a redeem spends one. entries is
         * rebuilt again for the new kinds, as in 4. */
        ("PRAGMA defer_foreign_keys = ON;\n"
         "CREATE TABLE entries_v4 AS SELECT * FROM entries;\n"
         "DROP TABLE entries;\n"
         "CREATE TABLE entries (\n"
         "        seq INTEGER PRIMARY KEY,\n"
         "        time_usec INTEGER NOT NULL,\n"
         "        kind TEXT NOT NULL CHECK (kind IN ('redeem', 'charge', 'release', 'claim', 'bid', 'award', "
         "'return')),\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        voucher BLOB,\n"
         "        request_id TEXT,\n"
         "        overshoot INTEGER NOT NULL DEFAULT 0,\n"
         "        prev_hash BLOB NOT NULL,\n"
         "        hash BLOB NOT NULL,\n"
         "        funder BLOB CHECK (funder IS NULL OR (kind IN ('redeem', 'claim', 'award') AND length(funder) = 32))\n"
         ") STRICT;\n"
         "INSERT INTO entries (seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash, funder)\n"
         "        SELECT seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash, funder\n"
         "        FROM entries_v4 ORDER BY seq;\n"
         "DROP TABLE entries_v4;\n"
         "CREATE TABLE sponsorships (\n"
         "        slice TEXT PRIMARY KEY REFERENCES slices (id),\n"
         "        period_usec INTEGER NOT NULL CHECK (period_usec > 0),\n"
         "        min INTEGER NOT NULL CHECK (min > 0),\n"
         "        start_usec INTEGER NOT NULL CHECK (start_usec >= 0),\n"
         "        settled_usec INTEGER NOT NULL DEFAULT 0,\n"
         "        offered_usec INTEGER NOT NULL\n"
         ") STRICT, WITHOUT ROWID;\n"
         "CREATE TABLE bids (\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        n INTEGER NOT NULL CHECK (n > 0),\n"
         "        time_usec INTEGER NOT NULL,\n"
         "        start_usec INTEGER NOT NULL,\n"
         "        end_usec INTEGER NOT NULL CHECK (end_usec > start_usec),\n"
         "        amount INTEGER NOT NULL CHECK (amount > 0),\n"
         "        name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 256),\n"
         "        url TEXT NOT NULL DEFAULT '' CHECK (length(url) <= 256),\n"
         "        funder BLOB CHECK (funder IS NULL OR length(funder) = 32),\n"
         "        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'won', 'returned')),\n"
         "        settled_entry INTEGER REFERENCES entries (seq),\n"
         "        settled_usec INTEGER NOT NULL DEFAULT 0,\n"
         "        change TEXT NOT NULL DEFAULT '',\n"
         "        CHECK ((state = 'open') = (settled_entry IS NULL)),\n"
         "        PRIMARY KEY (slice, n)\n"
         ") STRICT, WITHOUT ROWID;\n"
         "CREATE INDEX bids_open ON bids (start_usec) WHERE state = 'open';\n"),
        /* 7: investors and revenue (issue 16). A slice's terms, once its
         * owner opens it to investors (NULL: not open), and the 'invest'
         * entry that opened it: a keyed credit after that entry is an
         * investment. Revenue is paid to a slice by its users in 'pay'
         * entries, split between the investors' earned:<slice>:<key>
         * accounts and the slice (revenue: the slice's part, earned: what
         * its investors hold unclaimed, earned_claimed: paid out to them
         * by 'payout' entries, each with its payouts row). investors
         * keeps each investor's figures, so that a payment reads one
         * slice's rows, not the chain. New entry kinds, and a funder on a
         * payout, need entries rebuilt as version 4 did: its rows copied
         * as they are, and its indexes made again (a DROP TABLE drops
         * them; keep this list to what the versions before leave). */
        ("ALTER TABLE slices ADD COLUMN revenue INTEGER NOT NULL DEFAULT 0 CHECK (revenue >= 0);\n"
         "ALTER TABLE slices ADD COLUMN invested INTEGER NOT NULL DEFAULT 0 CHECK (invested >= 0);\n"
         "ALTER TABLE slices ADD COLUMN earned INTEGER NOT NULL DEFAULT 0 CHECK (earned >= 0);\n"
         "ALTER TABLE slices ADD COLUMN earned_claimed INTEGER NOT NULL DEFAULT 0 CHECK (earned_claimed >= 0);\n"
         "ALTER TABLE slices ADD COLUMN invest_terms TEXT\n"
         "        CHECK (invest_terms IS NULL OR invest_terms IN ('revenue-share', 'fixed-return'));\n"
         "ALTER TABLE slices ADD COLUMN invest_rate INTEGER NOT NULL DEFAULT 0 CHECK (invest_rate >= 0);\n"
         "ALTER TABLE slices ADD COLUMN invest_cap INTEGER NOT NULL DEFAULT 0 CHECK (invest_cap >= 0);\n"
         "ALTER TABLE slices ADD COLUMN invest_entry INTEGER NOT NULL DEFAULT 0 CHECK (invest_entry >= 0);\n"
         "PRAGMA defer_foreign_keys = ON;\n"
         "CREATE TABLE entries_v6 AS SELECT * FROM entries;\n"
         "DROP TABLE entries;\n"
         "CREATE TABLE entries (\n"
         "        seq INTEGER PRIMARY KEY,\n"
         "        time_usec INTEGER NOT NULL,\n"
         "        kind TEXT NOT NULL CHECK (kind IN ('redeem', 'charge', 'release', 'claim', 'bid', 'award', "
         "'return', 'invest', 'pay', 'payout')),\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        voucher BLOB,\n"
         "        request_id TEXT,\n"
         "        overshoot INTEGER NOT NULL DEFAULT 0,\n"
         "        prev_hash BLOB NOT NULL,\n"
         "        hash BLOB NOT NULL,\n"
         "        funder BLOB CHECK (funder IS NULL OR (kind IN ('redeem', 'claim', 'award', 'payout') AND "
         "length(funder) = 32))\n"
         ") STRICT;\n"
         "INSERT INTO entries (seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash, funder)\n"
         "        SELECT seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash, funder\n"
         "        FROM entries_v6 ORDER BY seq;\n"
         "DROP TABLE entries_v6;\n"
         "CREATE TABLE investors (\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        funder BLOB NOT NULL CHECK (length(funder) = 32),\n"
         "        first INTEGER NOT NULL,\n" /* the entry of its first investment: the investors' order */
         "        invested INTEGER NOT NULL CHECK (invested > 0),\n"
         "        earned INTEGER NOT NULL DEFAULT 0 CHECK (earned >= 0),\n"
         "        claimed INTEGER NOT NULL DEFAULT 0 CHECK (claimed >= 0 AND claimed <= earned),\n"
         "        PRIMARY KEY (slice, funder)\n"
         ") STRICT, WITHOUT ROWID;\n"
         "CREATE TABLE payouts (\n"
         "        entry INTEGER PRIMARY KEY REFERENCES entries (seq),\n"
         "        slice TEXT NOT NULL REFERENCES slices (id),\n"
         "        funder BLOB NOT NULL CHECK (length(funder) = 32),\n"
         "        time_usec INTEGER NOT NULL,\n"
         "        amount INTEGER NOT NULL CHECK (amount > 0),\n"
         "        change TEXT NOT NULL\n"
         ") STRICT;\n"),
        /* 8: a fleet (issue 17, Ledger=postgresql://...). A redemption's
         * intent, written and committed here before its vouchers are
         * claimed in the fleet database, and deleted in the batch that
         * credits them: a row left over is a claim that may stand in the
         * fleet database with no credit here, which prepayd takes back
         * (daemon/README.md "Fleet"). claim: the 16 random bytes that
         * name the attempt in both stores. Not in the chain: no money
         * moves until the redeem entry. */
        "CREATE TABLE fleet_intents (\n"
        "        voucher BLOB PRIMARY KEY CHECK (length(voucher) = 16),\n"
        "        claim BLOB NOT NULL CHECK (length(claim) = 16),\n"
        "        request_id TEXT,\n"
        "        time_usec INTEGER NOT NULL\n"
        ") STRICT, WITHOUT ROWID;\n",
        /* 9: a slice's entries by its id, for its history (prepay report,
         * the gateway's donor page: every load of a slice's page reads
         * them), which was a scan of every entry of the host. */
        "CREATE INDEX entries_slice ON entries (slice, seq);\n",
        /* 10: a slice's history folded as its entries are written
         * (chart_summary, common/chart.h), in the same transaction, so
         * that a history request reads at most CHART_SUMMARY_BUCKETS
         * rows whatever the slice's age: slice_history its origin, bucket
         * width and number of buckets, slice_history_buckets each bucket's
         * lowest, highest and last point (time, balance after the entry,
         * charged so far). A cache of the entries, not books: outside the
         * chain and the export; verify folds the entries again and
         * compares. The rows of the entries written before are built
         * when this step runs (ledger_history_rebuild(), below). */
        "CREATE TABLE slice_history (\n"
        "        slice TEXT PRIMARY KEY,\n"
        "        origin INTEGER NOT NULL CHECK (origin >= 0),\n"
        "        width INTEGER NOT NULL CHECK (width > 0),\n"
        "        n INTEGER NOT NULL CHECK (n > 0)\n"
        ") STRICT, WITHOUT ROWID;\n"
        "CREATE TABLE slice_history_buckets (\n"
        "        slice TEXT NOT NULL,\n"
        "        idx INTEGER NOT NULL CHECK (idx >= 0),\n"
        "        low_time INTEGER NOT NULL, low_balance INTEGER NOT NULL, low_spent INTEGER NOT NULL,\n"
        "        high_time INTEGER NOT NULL, high_balance INTEGER NOT NULL, high_spent INTEGER NOT NULL,\n"
        "        last_time INTEGER NOT NULL, last_balance INTEGER NOT NULL, last_spent INTEGER NOT NULL,\n"
        "        PRIMARY KEY (slice, idx)\n"
        ") STRICT, WITHOUT ROWID;\n",
};
/* The version whose step above adds the history tables: its rows are
 * built from the entries in C when a ledger is migrated to it. Renumber
 * it with the step. */
#define LEDGER_SCHEMA_HISTORY 10
#define LEDGER_SCHEMA_VERSION ((int) ARRAY_SIZE(migrations))

#define EVENT_COLUMNS \
        "seq, time_usec, slice, kind, funded, owner_uid, balance, currency, burn_rate, time_left_usec, reason"

#define CHARGED_FROM_POSTINGS(r) "sum(CASE WHEN p.account = 'charge:" r "' THEN p.amount ELSE 0 END)"
#define SLICE_POSTING "p.account GLOB 'slice:*'"

static const char *const stmt_sql[_STMT_MAX] = {
        /* A batch (or a reader's snapshot), and one write in it. */
        [STMT_BEGIN_WRITE] = "BEGIN IMMEDIATE", [STMT_BEGIN_READ] = "BEGIN",
        [STMT_COMMIT] = "COMMIT", [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_SAVEPOINT] = "SAVEPOINT op", [STMT_RELEASE] = "RELEASE op", [STMT_ROLLBACK_TO] = "ROLLBACK TO op",
        [STMT_TIP] = "SELECT seq, hash FROM entries ORDER BY seq DESC LIMIT 1",
        [STMT_SLICE_INSERT] = "INSERT INTO slices (id, owner_uid, owner_hash, state, created_usec, state_usec, "
                              "donation_model, anonymous_share) VALUES (?, ?, ?, 'active', ?, ?, ?, ?)",
        [STMT_SLICE_GET] = "SELECT " SLICE_COLUMNS " FROM slices WHERE id = ?",
        /* One row at a time, so that the caller's callback may write. */
        [STMT_SLICE_NEXT_OPEN] = "SELECT " SLICE_COLUMNS " FROM slices "
                                 "WHERE state <> 'released' AND num > ? ORDER BY num LIMIT 1",
        [STMT_SLICE_ALL] = "SELECT " SLICE_COLUMNS " FROM slices ORDER BY num",
        [STMT_SLICE_CREDIT] = "UPDATE slices SET balance = ?, credited = ? WHERE id = ?",
        [STMT_SLICE_CHARGE] = "UPDATE slices SET balance = ?, " RESOURCE_ASSIGN("charged_") ", "
                              RESOURCE_ASSIGN("billed_") ", overshoot = ? WHERE id = ?",
        [STMT_SLICE_RELEASE] = "UPDATE slices SET state = 'released', state_usec = ?, released_usec = ?, "
                               "balance = 0, refunded = ?, held = ?, donated = ?, change = ? WHERE id = ?",
        [STMT_SLICE_STATE] = "UPDATE slices SET state = ?, state_usec = ? WHERE id = ?",
        [STMT_VOUCHER_GET] = "SELECT redeemed_usec, slice FROM vouchers WHERE id = ?",
        [STMT_VOUCHER_INSERT] = "INSERT INTO vouchers (id, issuer, amount, currency, not_after, redeemed_usec, "
                                "slice, entry) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        /* The credits of a slice kept in credits, by their funder, in
         * the order they were made: the books' amounts (the slice's
         * posting of each redeem or award entry), not the vouchers'. */
        [STMT_SLICE_CREDITS] = "SELECT funder, amount FROM credits WHERE slice = ? ORDER BY entry",
        [STMT_CREDIT_INSERT] = "INSERT INTO credits (entry, slice, funder, amount) VALUES (?, ?, ?, ?)",
        /* How many keyed funders a slice has, and whether the key is
         * one of them. */
        [STMT_SLICE_FUNDERS] = "SELECT count(DISTINCT funder), coalesce(max(funder = ?), 0) FROM credits "
                               "WHERE slice = ? AND funder IS NOT NULL",
        /* The first redeem or award entry that credits should have and has not
         * as it is, or a credits row of no such entry. */
        [STMT_VERIFY_CREDITS] = "SELECT seq, slice FROM (SELECT e.seq AS seq, e.slice AS slice FROM entries e "
                                "JOIN slices s ON s.id = e.slice LEFT JOIN credits c ON c.entry = e.seq "
                                "WHERE e.kind IN ('redeem', 'award') AND (e.funder IS NOT NULL OR s.donation_model <> 'owner') "
                                "AND (c.entry IS NULL OR c.slice IS NOT e.slice OR c.funder IS NOT e.funder OR "
                                "c.amount IS NOT (SELECT amount FROM postings WHERE entry = e.seq "
                                "AND account = 'slice:' || e.slice)) "
                                "UNION ALL SELECT c.entry, c.slice FROM credits c LEFT JOIN entries e "
                                "ON e.seq = c.entry LEFT JOIN slices s ON s.id = e.slice WHERE e.seq IS NULL "
                                "OR e.kind NOT IN ('redeem', 'award') OR (e.funder IS NULL AND s.donation_model = 'owner')) "
                                "ORDER BY seq LIMIT 1",
        /* Each release entry of a slice whose model is not the owner's,
         * with the slice's posting (what was split) and the model. */
        [STMT_VERIFY_RELEASES] = "SELECT e.seq, e.slice, s.donation_model, s.anonymous_share = 'host', "
                                 "coalesce((SELECT -amount FROM postings WHERE entry = e.seq "
                                 "AND account = 'slice:' || e.slice), 0) FROM entries e JOIN slices s "
                                 "ON s.id = e.slice WHERE e.kind = 'release' AND s.donation_model <> 'owner' "
                                 "ORDER BY e.seq",
        /* A posting to a funder's account, or to the host's donations,
         * where no split can put one: an entry other than a release (or
         * a claim, from a funder's), or a release of an owner's slice. */
        [STMT_VERIFY_HELD_ELSEWHERE] = "SELECT e.seq, p.account FROM postings p JOIN entries e ON e.seq = p.entry "
                                       "JOIN slices s ON s.id = e.slice WHERE (p.account GLOB 'held:*' AND "
                                       "(s.donation_model = 'owner' OR NOT ((e.kind = 'release' AND p.amount > 0) "
                                       "OR (e.kind = 'claim' AND p.amount < 0)))) OR (p.account = 'donated' AND "
                                       "(s.donation_model = 'owner' OR e.kind <> 'release' OR p.amount < 0)) "
                                       "ORDER BY e.seq LIMIT 1",
        [STMT_CLAIM_GET] = "SELECT entry, time_usec, amount, change FROM claims WHERE slice = ? AND funder = ?",
        [STMT_CLAIM_INSERT] = "INSERT INTO claims (slice, funder, entry, time_usec, amount, change) "
                              "VALUES (?, ?, ?, ?, ?, ?)",
        [STMT_SLICE_CLAIM] = "UPDATE slices SET held = ?, claimed = ? WHERE id = ?",
        [STMT_SLICE_CLAIMS] = "SELECT funder, entry, time_usec, amount FROM claims WHERE slice = ?",
        /* Each claim entry beside its claims row and what it posts. */
        [STMT_VERIFY_CLAIMS] = "SELECT e.seq, e.slice, e.funder, c.entry, c.slice, c.funder, c.amount, "
                               "(SELECT amount FROM postings WHERE entry = e.seq AND account = 'refund'), "
                               "(SELECT count(*) FROM postings WHERE entry = e.seq) "
                               "FROM entries e LEFT JOIN claims c ON c.entry = e.seq "
                               "WHERE e.kind = 'claim' ORDER BY e.seq",
        [STMT_VERIFY_CLAIMLESS] = "SELECT c.entry, c.slice FROM claims c WHERE NOT EXISTS "
                                  "(SELECT 1 FROM entries e WHERE e.seq = c.entry AND e.kind = 'claim') "
                                  "ORDER BY c.entry LIMIT 1",
        /* A funder's account paid out more than was held in it. */
        [STMT_VERIFY_OVERDRAWN] = "SELECT account, sum(amount) FROM postings WHERE (account GLOB 'held:*' OR "
                                  "account GLOB 'earned:*') "
                                  "GROUP BY account HAVING sum(amount) < 0 ORDER BY account LIMIT 1",
        /* Sponsorship (schema 5). */
        [STMT_SPONSOR_GET] = "SELECT " SPONSOR_COLUMNS " FROM sponsorships WHERE slice = ?",
        [STMT_SPONSOR_PUT] = "INSERT OR REPLACE INTO sponsorships (slice, period_usec, min, start_usec, settled_usec, "
                             "offered_usec) VALUES (?, ?, ?, ?, ?, ?)",
        [STMT_SPONSOR_SETTLED] = "UPDATE sponsorships SET settled_usec = ? WHERE slice = ?",
        [STMT_SPONSOR_ALL] = "SELECT " SPONSOR_COLUMNS " FROM sponsorships ORDER BY slice",
        [STMT_BID_GET] = "SELECT " BID_COLUMNS " FROM bids WHERE slice = ? AND n = ?",
        [STMT_BID_NEXT] = "SELECT coalesce(max(n), 0) + 1, count(*) FILTER (WHERE state = 'open') FROM bids "
                          "WHERE slice = ?",
        [STMT_BID_INSERT] = "INSERT INTO bids (slice, n, time_usec, start_usec, end_usec, amount, name, url, funder) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [STMT_BID_SETTLE] = "UPDATE bids SET state = ?, settled_entry = ?, settled_usec = ?, change = ? "
                            "WHERE slice = ? AND n = ? AND state = 'open'",
        [STMT_BIDS_OPEN] = "SELECT " BID_COLUMNS " FROM bids WHERE slice = ? AND state = 'open' "
                           "ORDER BY start_usec, n",
        [STMT_BID_CURRENT] = "SELECT " BID_COLUMNS " FROM bids WHERE slice = ? AND state = 'won' "
                             "AND start_usec <= ? ORDER BY start_usec DESC LIMIT 1",
        /* Each bid beside what its escrow account holds and what took
         * it out; then an escrow account no bid row owns. */
        [STMT_VERIFY_BIDS] =
                "WITH x AS (SELECT p.account AS account, "
                "sum(CASE WHEN e.kind = 'bid' THEN p.amount ELSE 0 END) AS paid, "
                "sum(CASE WHEN e.kind = 'bid' AND p.amount <= 0 THEN 1 ELSE 0 END) AS bad_in, "
                "sum(CASE WHEN e.kind IN ('award', 'return') THEN 1 ELSE 0 END) AS outs, "
                "sum(CASE WHEN e.kind IN ('award', 'return') THEN -p.amount ELSE 0 END) AS out, "
                "max(CASE WHEN e.kind IN ('award', 'return') THEN e.seq END) AS out_seq, "
                "max(CASE WHEN e.kind IN ('award', 'return') THEN e.kind END) AS out_kind "
                "FROM postings p JOIN entries e ON e.seq = p.entry WHERE p.account GLOB 'bid:*' "
                "GROUP BY p.account) "
                "SELECT b.slice, b.n, b.state, b.amount, b.settled_entry, coalesce(x.paid, 0), "
                "coalesce(x.bad_in, 0), coalesce(x.outs, 0), coalesce(x.out, 0), x.out_seq, x.out_kind "
                "FROM bids b LEFT JOIN x ON x.account = 'bid:' || b.slice || ':' || b.n ORDER BY b.slice, b.n",
        [STMT_VERIFY_BIDLESS] = "SELECT p.entry, p.account FROM postings p WHERE p.account GLOB 'bid:*' AND NOT EXISTS "
                                "(SELECT 1 FROM bids b WHERE p.account = 'bid:' || b.slice || ':' || b.n) "
                                "ORDER BY p.entry LIMIT 1",
        /* Sponsorship's entries post only where they belong: a bid from
         * vouchers into escrow, an award from escrow to its slice, a
         * return from escrow to 'returned'; nothing else touches either. */
        [STMT_VERIFY_BID_POSTINGS] =
                "SELECT e.seq, p.account FROM postings p JOIN entries e ON e.seq = p.entry WHERE "
                "(p.account GLOB 'bid:*' AND (e.kind NOT IN ('bid', 'award', 'return') OR "
                "p.account NOT GLOB 'bid:' || e.slice || ':*')) OR "
                "(p.account = 'returned' AND e.kind <> 'return') OR "
                "(e.kind = 'bid' AND p.account NOT GLOB 'bid:*' AND p.account <> 'vouchers') OR "
                "(e.kind = 'award' AND p.account NOT GLOB 'bid:*' AND p.account <> 'slice:' || e.slice) OR "
                "(e.kind = 'return' AND p.account NOT GLOB 'bid:*' AND p.account <> 'returned') "
                "ORDER BY e.seq LIMIT 1",
        /* Investors (schema 5). */
        [STMT_SLICE_INVEST_OPEN] = "UPDATE slices SET invest_terms = ?, invest_rate = ?, invest_cap = ?, "
                                   "invest_entry = ? WHERE id = ?",
        [STMT_INVESTORS_OF] = "SELECT funder, invested, earned, claimed, first FROM investors WHERE slice = ? "
                              "ORDER BY first",
        [STMT_INVESTOR_ADD] = "INSERT INTO investors (slice, funder, first, invested) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT (slice, funder) DO UPDATE SET invested = invested + excluded.invested",
        [STMT_INVESTOR_SET] = "UPDATE investors SET earned = ?, claimed = ? WHERE slice = ? AND funder = ?",
        [STMT_SLICE_INVESTED] = "UPDATE slices SET invested = ? WHERE id = ?",
        [STMT_SLICE_PAY] = "UPDATE slices SET balance = ?, revenue = ?, earned = ? WHERE id = ?",
        [STMT_SLICE_PAYOUT] = "UPDATE slices SET earned = ?, earned_claimed = ? WHERE id = ?",
        [STMT_PAYOUT_INSERT] = "INSERT INTO payouts (entry, slice, funder, time_usec, amount, change) "
                               "VALUES (?, ?, ?, ?, ?, ?)",
        [STMT_VERIFY_INVESTED] = "SELECT id, invest_terms, invest_rate, invest_cap, invest_entry, invested "
                                 "FROM slices WHERE invest_terms IS NOT NULL ORDER BY num",
        /* What moved an invested slice's investors since it opened. */
        [STMT_VERIFY_INVEST_ENTRIES] = "SELECT seq, kind, funder FROM entries WHERE seq > ? AND slice = ? AND "
                                       "kind IN ('redeem', 'pay', 'payout') ORDER BY seq",
        /* An invest entry that opened no slice, or a slice open to
         * investors without its entry. */
        [STMT_VERIFY_INVEST_OPENED] = "SELECT e.seq, e.slice FROM entries e LEFT JOIN slices s ON s.id = e.slice "
                                      "WHERE e.kind = 'invest' AND (s.invest_terms IS NULL OR s.invest_entry <> "
                                      "e.seq) UNION ALL SELECT s.invest_entry, s.id FROM slices s WHERE "
                                      "s.invest_terms IS NOT NULL AND NOT EXISTS (SELECT 1 FROM entries e WHERE "
                                      "e.seq = s.invest_entry AND e.kind = 'invest' AND e.slice = s.id) LIMIT 1",
        /* A posting to an investor's account that no payment to an open
         * slice made and no payout took. */
        [STMT_VERIFY_EARNED_ELSEWHERE] = "SELECT e.seq, p.account FROM postings p JOIN entries e ON e.seq = p.entry "
                                         "JOIN slices s ON s.id = e.slice WHERE p.account GLOB 'earned:*' AND NOT "
                                         "((e.kind = 'pay' AND p.amount > 0 AND s.invest_terms IS NOT NULL AND "
                                         "e.seq > s.invest_entry) OR (e.kind = 'payout' AND p.amount < 0)) "
                                         "ORDER BY e.seq LIMIT 1",
        [STMT_VERIFY_PAYOUTS] = "SELECT e.seq, e.slice, e.funder, o.entry, o.slice, o.funder, o.amount, "
                                "(SELECT amount FROM postings WHERE entry = e.seq AND account = 'refund'), "
                                "(SELECT count(*) FROM postings WHERE entry = e.seq) "
                                "FROM entries e LEFT JOIN payouts o ON o.entry = e.seq "
                                "WHERE e.kind = 'payout' ORDER BY e.seq",
        [STMT_VERIFY_PAYOUTLESS] = "SELECT o.entry, o.slice FROM payouts o WHERE NOT EXISTS "
                                   "(SELECT 1 FROM entries e WHERE e.seq = o.entry AND e.kind = 'payout') "
                                   "ORDER BY o.entry LIMIT 1",
        [STMT_ENTRY_POSTINGS] = "SELECT account, amount FROM postings WHERE entry = ? ORDER BY account",
        [STMT_VOUCHER_ALL] = "SELECT id, issuer, amount, currency, not_after, redeemed_usec, slice, entry "
                             "FROM vouchers ORDER BY entry",
        [STMT_ENTRY_INSERT] = "INSERT INTO entries (seq, time_usec, kind, slice, voucher, request_id, overshoot, "
                              "prev_hash, hash, funder) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                       "coalesce(sum(refunded), 0), coalesce(sum(claimed), 0), coalesce(sum(earned_claimed), 0), "
                       "coalesce(sum(held), 0), coalesce(sum(earned), 0), coalesce(sum(donated), 0), "
                       "coalesce(sum(overshoot), 0), (SELECT coalesce(max(seq), 0) FROM entries), "
                       "(SELECT coalesce(sum(amount), 0) FROM bids WHERE state = 'open'), "
                       "(SELECT coalesce(sum(amount), 0) FROM bids WHERE state = 'returned') FROM slices",
        [STMT_ENTRIES_ALL] = "SELECT seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, hash, "
                             "funder FROM entries ORDER BY seq",
        /* The primary key's order: read alongside the entries, a merge. */
        [STMT_POSTINGS_ALL] = "SELECT entry, account, amount FROM postings ORDER BY entry, account",
        /* The same from a seq on: what the fleet's shipper has not sent. */
        [STMT_ENTRIES_AFTER] = "SELECT seq, time_usec, kind, slice, voucher, request_id, overshoot, prev_hash, "
                               "hash, funder FROM entries WHERE seq > ? ORDER BY seq",
        [STMT_POSTINGS_AFTER] = "SELECT entry, account, amount FROM postings WHERE entry > ? ORDER BY entry, account",
        [STMT_INTENT_INSERT] = "INSERT INTO fleet_intents (voucher, claim, request_id, time_usec) VALUES (?, ?, ?, ?)",
        [STMT_INTENT_DELETE] = "DELETE FROM fleet_intents WHERE voucher = ? AND claim = ?",
        [STMT_INTENT_GET] = "SELECT claim FROM fleet_intents WHERE voucher = ?",
        [STMT_INTENT_ALL] = "SELECT voucher, claim FROM fleet_intents ORDER BY claim, voucher",
        /* Each slice row beside the sums of its postings and entries. A
         * posting to "slice:X" is only ever in an entry of slice X (verify
         * checks that first), so grouping by the entry's slice is exact. */
        [STMT_VERIFY_SLICES] =
                "WITH p AS (SELECT e.slice AS slice, "
                "sum(CASE WHEN " SLICE_POSTING " THEN p.amount ELSE 0 END) AS balance, "
                "sum(CASE WHEN e.kind IN ('redeem', 'award') AND " SLICE_POSTING " THEN p.amount ELSE 0 END) AS credited, "
                "sum(CASE WHEN p.account = 'refund' AND e.kind NOT IN ('claim', 'payout') THEN p.amount ELSE 0 END) "
                "AS refunded, "
                "sum(CASE WHEN p.account = 'refund' AND e.kind = 'claim' THEN p.amount ELSE 0 END) AS claimed, "
                "sum(CASE WHEN p.account GLOB 'held:*' THEN p.amount ELSE 0 END) AS held, "
                "sum(CASE WHEN p.account = 'donated' THEN p.amount ELSE 0 END) AS donated, "
                "sum(CASE WHEN e.kind = 'pay' AND " SLICE_POSTING " THEN p.amount ELSE 0 END) AS revenue, "
                "sum(CASE WHEN p.account GLOB 'earned:*' THEN p.amount ELSE 0 END) AS earned, "
                "sum(CASE WHEN p.account = 'refund' AND e.kind = 'payout' THEN p.amount ELSE 0 END) AS earned_claimed, "
                CHARGED_FROM_POSTINGS("cpu") " AS cpu, " CHARGED_FROM_POSTINGS("memory") " AS memory, "
                CHARGED_FROM_POSTINGS("net_out") " AS net_out, " CHARGED_FROM_POSTINGS("net_in") " AS net_in, "
                CHARGED_FROM_POSTINGS("io") " AS io, " CHARGED_FROM_POSTINGS("base") " AS base "
                "FROM postings p JOIN entries e ON e.seq = p.entry GROUP BY e.slice), "
                "o AS (SELECT slice, sum(overshoot) AS overshoot FROM entries GROUP BY slice) "
                "SELECT s.id, s.balance, s.credited, s.refunded, s.held, s.claimed, s.donated, s.revenue, s.earned, "
                "s.earned_claimed, " RESOURCE_COLUMNS("s.charged_") ", "
                "s.overshoot, coalesce(p.balance, 0), coalesce(p.credited, 0), coalesce(p.refunded, 0), "
                "coalesce(p.held, 0), coalesce(p.claimed, 0), coalesce(p.donated, 0), coalesce(p.revenue, 0), "
                "coalesce(p.earned, 0), coalesce(p.earned_claimed, 0), "
                "coalesce(p.cpu, 0), coalesce(p.memory, 0), coalesce(p.net_out, 0), coalesce(p.net_in, 0), "
                "coalesce(p.io, 0), coalesce(p.base, 0), coalesce(o.overshoot, 0) "
                "FROM slices s LEFT JOIN p ON p.slice = s.id LEFT JOIN o ON o.slice = s.id ORDER BY s.num",
        [STMT_VERIFY_SLICELESS_ENTRY] = "SELECT e.seq, e.slice FROM entries e "
                                        "WHERE NOT EXISTS (SELECT 1 FROM slices s WHERE s.id = e.slice) "
                                        "ORDER BY e.seq LIMIT 1",
        [STMT_VERIFY_VOUCHERS] = "SELECT v.id, v.amount, v.slice, v.entry, e.kind, e.slice, e.voucher, "
                                 "(SELECT amount FROM postings WHERE entry = v.entry AND account = 'vouchers') "
                                 "FROM vouchers v LEFT JOIN entries e ON e.seq = v.entry ORDER BY v.entry",
        [STMT_VERIFY_REDEEMS] = "SELECT e.seq, e.voucher FROM entries e WHERE e.kind IN ('redeem', 'bid', 'pay') AND NOT EXISTS "
                                "(SELECT 1 FROM vouchers v WHERE v.id = e.voucher AND v.entry = e.seq) "
                                "ORDER BY e.seq LIMIT 1",
        [STMT_VERIFY_BOOKS] = "SELECT (SELECT coalesce(sum(amount), 0) FROM vouchers), "
                              "(SELECT coalesce(sum(balance), 0) FROM slices), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account GLOB 'charge:*'), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account = 'refund'), 0, 0, "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account GLOB 'held:*'), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account GLOB 'earned:*'), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account = 'donated'), "
                              "(SELECT coalesce(sum(overshoot), 0) FROM slices), "
                              "(SELECT coalesce(max(seq), 0) FROM entries), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account GLOB 'bid:*'), "
                              "(SELECT coalesce(sum(amount), 0) FROM postings WHERE account = 'returned')",
        [STMT_EVENT_INSERT] = "INSERT INTO events (time_usec, slice, kind, funded, owner_uid, balance, currency, "
                              "burn_rate, time_left_usec, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [STMT_EVENT_ALL] = "SELECT " EVENT_COLUMNS " FROM events ORDER BY seq",
        [STMT_EVENT_SLICE] = "SELECT " EVENT_COLUMNS " FROM events WHERE slice = ? ORDER BY seq",
        /* A slice's balance and charges after each of its entries: the
         * sums of its postings, in entry order (entries_slice). */
        [STMT_HISTORY] = "SELECT e.time_usec, sum(CASE WHEN p.account = 'slice:' || e.slice THEN p.amount ELSE 0 END), "
                         "sum(CASE WHEN p.account GLOB 'charge:*' THEN p.amount ELSE 0 END) "
                         "FROM entries e JOIN postings p ON p.entry = e.seq WHERE e.slice = ? AND e.seq <= ? "
                         "GROUP BY e.seq ORDER BY e.seq",
        /* A slice's stored history (schema 10): its last bucket, then all
         * of them. */
        [STMT_HISTORY_TAIL] = "SELECT h.origin, h.width, h.n, " HISTORY_BUCKET_COLUMNS " FROM slice_history h "
                              "JOIN slice_history_buckets b ON b.slice = h.slice WHERE h.slice = ? "
                              "ORDER BY b.idx DESC LIMIT 1",
        [STMT_HISTORY_SUMMARY] = "SELECT h.origin, h.width, h.n, " HISTORY_BUCKET_COLUMNS " FROM slice_history h "
                                 "JOIN slice_history_buckets b ON b.slice = h.slice WHERE h.slice = ? "
                                 "ORDER BY b.idx",
        [STMT_HISTORY_HEAD_PUT] = "INSERT OR REPLACE INTO slice_history (slice, origin, width, n) VALUES (?, ?, ?, ?)",
        [STMT_HISTORY_BUCKET_PUT] = "INSERT OR REPLACE INTO slice_history_buckets (slice, " HISTORY_BUCKET_COLUMNS
                                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [STMT_HISTORY_BUCKETS_DELETE] = "DELETE FROM slice_history_buckets WHERE slice = ?",
        [STMT_HISTORY_SLICES] = "SELECT id FROM slices ORDER BY num",
        /* Stored histories of no slice, or not as many buckets as
         * their count says. */
        [STMT_VERIFY_HISTORY_STRAYS] = "SELECT h.slice FROM slice_history h WHERE NOT EXISTS (SELECT 1 FROM slices "
                                       "WHERE id = h.slice) OR h.n <> (SELECT count(*) FROM slice_history_buckets "
                                       "WHERE slice = h.slice) UNION ALL SELECT b.slice FROM slice_history_buckets b "
                                       "WHERE NOT EXISTS (SELECT 1 FROM slice_history WHERE slice = b.slice) LIMIT 1",
};

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

/* Statements */

struct binder ledger_bind(struct ledger *l, enum stmt_id id) {
        int rc;

        if (!l->stmts[id]) {
                rc = sqlite3_prepare_v3(l->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &l->stmts[id], NULL);
                if (rc != SQLITE_OK)
                        return (struct binder) { .l = l, .rc = rc, .error = sql_fail(l, rc, "prepare a statement") };
        }
        return (struct binder) { .l = l, .s = l->stmts[id] };
}

/* What went wrong before the statement could run: it could not be
 * prepared (already logged), or a value could not be bound. */
static int bound_check(const struct binder *b) {
        if (b->error < 0)
                return b->error;
        if (b->rc != SQLITE_OK)
                return sql_fail(b->l, b->rc, "bind a value");
        return 0;
}

int ledger_bound_row(struct binder *b, const char *what) {
        int rc, r;

        r = bound_check(b);
        if (r < 0)
                return r;
        rc = sqlite3_step(b->s);
        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return sql_fail(b->l, rc, what);
}

static int step_done(struct binder *b, enum ledger_step step, const char *what) {
        int rc;

        rc = sqlite3_step(b->s);
        if (rc == SQLITE_DONE)
                return 0;
        /* A key that is already there: the caller's answer, not a failure
         * to log. */
        if (step == LEDGER_STEP_INSERT && (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE))
                return -EEXIST;
        return sql_fail(b->l, rc, what); /* SQLITE_ROW too: -EIO */
}

int ledger_bound_step(struct binder *b, enum ledger_step step, const char *what) {
        int r;

        r = bound_check(b);
        if (r >= 0)
                r = step_done(b, step, what);
        binder_reset(b);
        return r;
}

static int exec_stmt(struct ledger *l, enum stmt_id id, const char *what) {
        struct binder b = ledger_bind(l, id);

        return ledger_bound_step(&b, LEDGER_STEP_DONE, what);
}

/* Transactions and savepoints */

static int tip_load(struct ledger *l, struct tip *ret) {
        _cleanup_binder_ struct binder b = ledger_bind(l, STMT_TIP);
        struct tip t = {};
        int r;

        r = ledger_bound_row(&b, "read the last entry");
        if (r < 0)
                return r;
        if (r > 0) {
                int64_t seq = column_i64(b.s, 0);

                if (seq < 1 || !column_blob_copy(b.s, 1, t.hash, sizeof(t.hash)))
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
        ledger_history_trim(l);
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
        ledger_history_begin(l);
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
                ledger_history_committed(l, r);
                l->in_batch = false;
                l->batch_error = 0;
                return r;
        }

        r = ledger_history_flush(l);
        if (r >= 0)
                r = exec_stmt(l, STMT_COMMIT, "commit a batch");
        if (r < 0) {
                log_error("Ledger %s: batch of entries %" PRIu64 "..%" PRIu64 " rolled back.", l->path,
                          l->batch_tip.seq + 1, l->tip.seq);
                batch_fail(l, r);
        }
        ledger_history_committed(l, r);
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

/* Every write runs between ledger_op_begin() and ledger_op_end(): in a
 * savepoint of the open batch, so that a failure part way through leaves
 * no trace. */
static int op_check(struct ledger *l) {
        if (l->read_only)
                return -EROFS;
        if (!l->in_batch)
                return -ENOTCONN;
        return MIN(l->batch_error, 0);
}

int ledger_op_begin(struct ledger *l, struct tip *ret_saved) {
        int r;

        r = op_check(l);
        if (r < 0)
                return r;

        r = exec_stmt(l, STMT_SAVEPOINT, "open a savepoint");
        if (r < 0) {
                batch_fail(l, r);
                return r;
        }
        *ret_saved = l->tip;
        return 0;
}

int ledger_op_end(struct ledger *l, const struct tip *saved, int r) {
        int q;

        if (r >= 0) {
                q = exec_stmt(l, STMT_RELEASE, "release a savepoint");
                if (q >= 0)
                        return r;
                r = q;
        }

        l->tip = *saved;
        ledger_history_trim(l);
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
int ledger_read_begin(struct ledger *l, bool *ret_opened) {
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

void ledger_read_end(struct ledger *l, bool opened) {
        if (opened && !sqlite3_get_autocommit(l->db))
                (void) exec_stmt(l, STMT_COMMIT, "end a read transaction");
}

/* One statement needs no savepoint of its own: SQLite undoes a statement
 * that fails by itself (its statement journal; no statement here says OR
 * FAIL), and should it roll the whole transaction back instead (a full
 * disk, an I/O error), the batch is failed as ledger_op_end() does. Two
 * statements fewer for each request id and each event stored, and a
 * top-up stores one of each. No such statement moves the chain's tip. */
int ledger_op_step(struct binder *b, enum ledger_step step, const char *what) {
        struct ledger *l = b->l;
        int r;

        r = op_check(l);
        if (r < 0) {
                binder_reset(b);
                return r;
        }
        r = ledger_bound_step(b, step, what);
        if (r < 0 && sqlite3_get_autocommit(l->db))
                batch_fail(l, r);
        return r;
}

int ledger_prune(struct ledger *l, enum stmt_id stmt, uint64_t before_usec, const char *what) {
        struct binder b;
        int r;

        if (!l)
                return -EINVAL;

        b = ledger_bind(l, stmt);
        bind_u64(&b, MIN(before_usec, (uint64_t) INT64_MAX));
        r = ledger_op_step(&b, LEDGER_STEP_DONE, what);
        /* What the DELETE removed: RELEASE changes no rows. */
        return r < 0 ? r : (int) MIN(sqlite3_changes64(l->db), (sqlite3_int64) INT32_MAX);
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
        free(l->pending);
        free(l->tails);
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

/* Whether a file of this schema version and application id, holding
 * this many schema objects, is a ledger this build opens: read-only, as
 * it is; read-write, migrated. */
static int schema_check(struct ledger *l, int64_t version, int64_t app_id, int64_t objects, char **ret_error) {
        if (version == 0 && objects > 0)
                return open_error(ret_error, -EMEDIUMTYPE,
                                  "Ledger %s: not a prepay ledger (a database of something else).", l->path);
        if (version > 0 && app_id != LEDGER_APPLICATION_ID)
                return open_error(ret_error, -EMEDIUMTYPE,
                                  "Ledger %s: not a prepay ledger (application id 0x%08" PRIx64 ").", l->path,
                                  (uint64_t) app_id & UINT32_MAX);
        if (version > LEDGER_SCHEMA_VERSION || version < 0)
                return open_error(ret_error, -EPROTONOSUPPORT,
                                  "Ledger %s: schema version %" PRId64 " is newer than this build knows (%d); "
                                  "use a newer prepay.", l->path, version, LEDGER_SCHEMA_VERSION);
        if (l->read_only && version == 0)
                return open_error(ret_error, -ENODATA, "Ledger %s: holds no ledger yet.", l->path);
        if (l->read_only && version < LEDGER_SCHEMA_VERSION)
                return open_error(ret_error, -EPROTONOSUPPORT,
                                  "Ledger %s: schema version %" PRId64 " is older than this build's (%d); "
                                  "prepayd migrates it when it next opens it.",
                                  l->path, version, LEDGER_SCHEMA_VERSION);
        return 0;
}

/* The steps from version on, in the caller's transaction. */
static int schema_migrate(struct ledger *l, int64_t version, char **ret_error) {
        for (int64_t v = version; v < LEDGER_SCHEMA_VERSION; v++) {
                char sql[64];
                int r;

                r = exec_sql(l, migrations[v]);
                if (r >= 0 && v + 1 == LEDGER_SCHEMA_HISTORY)
                        r = ledger_history_rebuild(l);
                if (r >= 0) {
                        snprintf(sql, sizeof(sql), "PRAGMA user_version = %" PRId64, v + 1);
                        r = exec_sql(l, sql);
                }
                if (r < 0)
                        return open_error(ret_error, r,
                                          "Ledger %s: failed to migrate schema %" PRId64 " to %" PRId64 ": %s",
                                          l->path, v, v + 1, sqlite3_errmsg(l->db));
                /* A new file passes through every version: not news. */
                if (version > 0)
                        log_info("Ledger %s: schema migrated to version %" PRId64 ".", l->path, v + 1);
        }
        return 0;
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
        if (r < 0)
                r = open_error(ret_error, r, "Ledger %s: cannot read it: %s", l->path, sqlite3_errmsg(l->db));
        if (r >= 0)
                r = schema_check(l, version, app_id, objects, ret_error);
        if (r >= 0 && !l->read_only) {
                r = schema_migrate(l, version, ret_error);
                if (r >= 0 && (r = exec_sql(l, "COMMIT")) < 0)
                        r = open_error(ret_error, r, "Ledger %s: failed to commit its schema: %s", l->path,
                                       sqlite3_errmsg(l->db));
        }
        if (r < 0) {
                if (!sqlite3_get_autocommit(l->db))
                        (void) exec_sql(l, "ROLLBACK");
                return r;
        }
        /* Read-only, the check above took nothing else. */
        l->schema = LEDGER_SCHEMA_VERSION;
        return 0;
}

/* The file, opened by SQLite, with what every connection needs. */
static int ledger_connect(struct ledger *l, char **ret_error) {
        int flags, rc, r;

        if (!l->read_only) {
                /* Change vouchers are bearer money: the file (and the -wal
                 * and -shm files, which SQLite creates with its mode) is
                 * for the daemon's user only. */
                int fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);

                if (fd < 0)
                        return open_error(ret_error, -errno, "Ledger %s: cannot create it: %m", l->path);
                close(fd);
        }

        flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE |
                (l->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        rc = sqlite3_open_v2(l->path, &l->db, flags, NULL);
        if (rc != SQLITE_OK) {
                r = errno_from_sqlite(l->db, rc);
                errno = -r;
                return open_error(ret_error, r, "Ledger %s: cannot open it: %m", l->path);
        }

        sqlite3_extended_result_codes(l->db, 1);
        sqlite3_busy_timeout(l->db, LEDGER_BUSY_TIMEOUT_MSEC);
        /* The file is data, not code: no writable schema, no functions or
         * virtual tables run on its say-so. */
        sqlite3_db_config(l->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
        sqlite3_db_config(l->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
        return 0;
}

static int ledger_setup(struct ledger *l, char **ret_error) {
        char mode[16];
        int r;

        if (l->read_only)
                r = exec_sql(l, "PRAGMA query_only = ON");
        else {
                /* WAL: the CLI reads while the daemon writes; one fsync
                 * per commit, of the log only. */
                r = pragma_get(l, "PRAGMA journal_mode = WAL", NULL, mode, sizeof(mode));
                if (r >= 0 && !streq(mode, "wal"))
                        return open_error(ret_error, -EOPNOTSUPP,
                                          "Ledger %s: the file system does not allow WAL mode (journal mode %s).",
                                          l->path, mode);
                if (r >= 0)
                        r = exec_sql(l, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON");
        }
        if (r < 0)
                return open_error(ret_error, r, "Ledger %s: cannot set it up: %s", l->path, sqlite3_errmsg(l->db));
        return 0;
}

/* Each redemption opens and releases a savepoint, and SQLite frees the
 * savepoint's journal pages at the top of the heap: with glibc's default
 * trim threshold (128 KiB) the heap was given back by brk() and taken
 * again on the next redemption, two system calls and a TLB shootdown on
 * every CPU each time (20,000 redemptions in a batch: 38,331 brk() calls
 * and 113 us each; with a 4 MiB threshold 707 calls and 22 us: measured
 * by test_performance in tests/unit/test-ledger.c). It is the process's
 * allocator, but the ledger is what needs it, so the ledger sets it, once:
 * at most 4 MiB stays unreturned at the heap's top. */
static void ledger_tune_malloc(void) {
        static bool done;

        if (done)
                return;
        done = true;
        if (mallopt(M_TRIM_THRESHOLD, 4 << 20) != 1)
                log_debug("Failed to raise malloc's trim threshold, ignoring.");
}

int ledger_open(const char *path, bool read_only, struct ledger **ret, char **ret_error) {
        _cleanup_(ledger_freep) struct ledger *l = NULL;
        int r;

        if (!path || !ret)
                return -EINVAL;
        ledger_tune_malloc();

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->path = strdup(path);
        if (!l->path)
                return -ENOMEM;
        l->read_only = read_only;

        r = ledger_connect(l, ret_error);
        if (r >= 0)
                r = ledger_setup(l, ret_error);
        if (r >= 0)
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
