/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fleet's ledger (issue 17): the intents table beside the books
 * (SQLite, schema 8), and the fleet database (PostgreSQL through libpq,
 * the only file that includes it): claims of vouchers in the shared
 * spent set, the shipping of a host's entries, and the fleet's verify.
 * The reasons are in daemon/README.md "Fleet". Every value travels as
 * text (bytea as "\x" and hex, as PostgreSQL prints it): the server is
 * the operator's, and its replies are checked for shape all the same. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/encoding.h"
#include "common/log.h"
#include "ledger-internal.h"

/* ---- intents (SQLite) ---- */

int ledger_intent_add(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE],
                      const char *request_id, uint64_t now_usec) {
        struct binder b;

        if (!l || !id || !claim)
                return -EINVAL;
        b = ledger_bind(l, STMT_INTENT_INSERT);
        bind_blob(&b, id, VOUCHER_ID_SIZE);
        bind_blob(&b, claim, LEDGER_CLAIM_SIZE);
        bind_text(&b, request_id);
        bind_u64(&b, now_usec);
        return ledger_op_step(&b, LEDGER_STEP_INSERT, "record a fleet intent");
}

int ledger_intent_del(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE]) {
        struct binder b;

        if (!l || !id || !claim)
                return -EINVAL;
        b = ledger_bind(l, STMT_INTENT_DELETE);
        bind_blob(&b, id, VOUCHER_ID_SIZE);
        bind_blob(&b, claim, LEDGER_CLAIM_SIZE);
        return ledger_op_step(&b, LEDGER_STEP_DONE, "delete a fleet intent");
}

int ledger_intent_get(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], uint8_t ret_claim[LEDGER_CLAIM_SIZE]) {
        _cleanup_binder_ struct binder b = {};
        int r;

        if (!l || !id)
                return -EINVAL;
        b = ledger_bind(l, STMT_INTENT_GET);
        bind_blob(&b, id, VOUCHER_ID_SIZE);
        r = ledger_bound_row(&b, "read a fleet intent");
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        if (!column_blob_copy(b.s, 0, ret_claim, LEDGER_CLAIM_SIZE))
                return -EBADMSG;
        return 0;
}

int ledger_intents_foreach(struct ledger *l,
                           int (*cb)(const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE],
                                     void *userdata),
                           void *userdata) {
        _cleanup_binder_ struct binder b = {};
        uint8_t id[VOUCHER_ID_SIZE], claim[LEDGER_CLAIM_SIZE];
        int r;

        if (!l || !cb)
                return -EINVAL;
        b = ledger_bind(l, STMT_INTENT_ALL);
        while ((r = ledger_bound_row(&b, "read the fleet intents")) > 0) {
                if (!column_blob_copy(b.s, 0, id, sizeof(id)) || !column_blob_copy(b.s, 1, claim, sizeof(claim)))
                        return -EBADMSG;
                r = cb(id, claim, userdata);
                if (r < 0)
                        return r;
        }
        return r;
}

int ledger_last_seq(struct ledger *l, uint64_t *ret) {
        _cleanup_binder_ struct binder b = {};
        int r;

        if (!l || !ret)
                return -EINVAL;
        b = ledger_bind(l, STMT_TIP);
        r = ledger_bound_row(&b, "read the last entry");
        if (r < 0)
                return r;
        *ret = r > 0 ? column_u64(b.s, 0) : 0;
        return 0;
}

/* ---- the fleet database (PostgreSQL) ---- */

/* Tables of their own names, so that the fleet's database may be one the
 * operator uses for more; each created if missing, under an advisory
 * lock ("PPLG"), so that two hosts starting together do not race. */
static const char fleet_schema[] =
        "SELECT pg_advisory_xact_lock(1347439687);\n"
        "CREATE TABLE IF NOT EXISTS prepay_hosts (\n"
        "        host text PRIMARY KEY,\n"
        "        shipped_seq bigint NOT NULL DEFAULT 0 CHECK (shipped_seq >= 0),\n"
        "        shipped_hash bytea NOT NULL DEFAULT '\\x0000000000000000000000000000000000000000000000000000000000000000',\n"
        "        shipped_usec bigint NOT NULL DEFAULT 0\n"
        ");\n"
        "CREATE TABLE IF NOT EXISTS prepay_spent (\n"
        "        voucher bytea PRIMARY KEY CHECK (length(voucher) = 16),\n"
        "        host text NOT NULL,\n"
        "        time_usec bigint NOT NULL,\n"
        "        claim bytea CHECK (claim IS NULL OR length(claim) = 16),\n"
        "        request_id text\n"
        ");\n"
        /* The request ids the fleet shares (a client's retry sent to
         * another host finds its id taken): one row per claim that had
         * one, taken back with the claim. */
        "CREATE TABLE IF NOT EXISTS prepay_requests (\n"
        "        requester text NOT NULL,\n"
        "        request_id text NOT NULL,\n"
        "        host text NOT NULL,\n"
        "        time_usec bigint NOT NULL,\n"
        "        claim bytea NOT NULL CHECK (length(claim) = 16),\n"
        "        PRIMARY KEY (requester, request_id)\n"
        ");\n"
        "CREATE INDEX IF NOT EXISTS prepay_requests_claim ON prepay_requests (claim);\n"
        "CREATE TABLE IF NOT EXISTS prepay_entries (\n"
        "        host text NOT NULL,\n"
        "        seq bigint NOT NULL CHECK (seq > 0),\n"
        "        time_usec bigint NOT NULL,\n"
        "        kind text NOT NULL,\n"
        "        slice text NOT NULL,\n"
        "        voucher bytea,\n"
        "        request_id text,\n"
        "        funder bytea,\n"
        "        overshoot bigint NOT NULL,\n"
        "        prev_hash bytea NOT NULL,\n"
        "        hash bytea NOT NULL,\n"
        "        PRIMARY KEY (host, seq)\n"
        ");\n"
        "CREATE INDEX IF NOT EXISTS prepay_entries_voucher ON prepay_entries (voucher) WHERE voucher IS NOT NULL;\n"
        "CREATE TABLE IF NOT EXISTS prepay_postings (\n"
        "        host text NOT NULL,\n"
        "        entry bigint NOT NULL,\n"
        "        account text NOT NULL,\n"
        "        amount bigint NOT NULL CHECK (amount <> 0),\n"
        "        PRIMARY KEY (host, entry, account),\n"
        "        FOREIGN KEY (host, entry) REFERENCES prepay_entries (host, seq)\n"
        ");\n"
        /* FleetId=: each host's change-signing public key, which the
         * other hosts of its fleet take change of. */
        "CREATE TABLE IF NOT EXISTS prepay_fleet_keys (\n"
        "        host text PRIMARY KEY,\n"
        "        fleet text NOT NULL,\n"
        "        public_key text NOT NULL,\n"
        "        time_usec bigint NOT NULL\n"
        ");\n";

/* How often a transaction the server aborted as a serialization failure
 * or a deadlock is tried again before the caller is told. */
#define FLEET_RETRIES 5

struct ledger_fleet {
        PGconn *conn;
        char host[VOUCHER_AUDIENCE_MAX + 1];
        char *error;
};

static void set_error(struct ledger_fleet *f, const char *fmt, ...) _printf_(2, 3);
static void set_error(struct ledger_fleet *f, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (vasprintf(&s, fmt, ap) >= 0) {
                free(f->error);
                f->error = s;
        }
        va_end(ap);
}

const char *ledger_fleet_error(struct ledger_fleet *f) {
        return f && f->error ? f->error : "no error";
}

bool ledger_fleet_ok(struct ledger_fleet *f) {
        return f && f->conn && PQstatus(f->conn) == CONNECTION_OK;
}

/* libpq's messages end in a newline. */
static void set_pq_error(struct ledger_fleet *f, const char *what, const char *msg) {
        size_t n = strlen(msg);

        while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
                n--;
        set_error(f, "%s: %.*s", what, (int) n, msg);
}

/* A result's errno: a unique violation is -EEXIST, a serialization
 * failure or a deadlock -EAGAIN (try the transaction again), a lost
 * connection -ECONNRESET, anything else -EIO. */
static int result_errno(struct ledger_fleet *f, PGresult *res, const char *what) {
        const char *state;

        if (!res) {
                set_pq_error(f, what, PQerrorMessage(f->conn));
                return PQstatus(f->conn) == CONNECTION_OK ? -ENOMEM : -ECONNRESET;
        }
        switch (PQresultStatus(res)) {
        case PGRES_COMMAND_OK:
        case PGRES_TUPLES_OK:
                return 0;
        default:
                break;
        }
        set_pq_error(f, what, PQresultErrorMessage(res));
        if (PQstatus(f->conn) != CONNECTION_OK)
                return -ECONNRESET;
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && streq(state, "23505"))
                return -EEXIST;
        if (state && (streq(state, "40001") || streq(state, "40P01")))
                return -EAGAIN;
        return -EIO;
}

/* Runs sql with n text parameters; 0 with *ret (PQclear() it) when it
 * returns rows or none, else -errno (result_errno()). */
static int exec_params(struct ledger_fleet *f, const char *sql, int n, const char *const *values, const char *what,
                       PGresult **ret) {
        PGresult *res;
        int r;

        res = PQexecParams(f->conn, sql, n, NULL, values, NULL, NULL, 0);
        r = result_errno(f, res, what);
        if (r < 0) {
                PQclear(res);
                return r;
        }
        if (ret)
                *ret = res;
        else
                PQclear(res);
        return 0;
}

/* Without parameters: the simple protocol, which takes several
 * statements (the schema) in one string. */
static int exec_simple(struct ledger_fleet *f, const char *sql, const char *what) {
        PGresult *res = PQexec(f->conn, sql);
        int r = result_errno(f, res, what);

        PQclear(res);
        return r;
}

static void rollback(struct ledger_fleet *f) {
        if (PQstatus(f->conn) == CONNECTION_OK)
                PQclear(PQexec(f->conn, "ROLLBACK"));
}

/* "\x" and lower-case hex, how bytea is written as text. */
#define BYTEA_TEXT_MAX(n) (2 + 2 * (n) + 1)
static const char *bytea_text(char *buf, const void *p, size_t n) {
        buf[0] = '\\';
        buf[1] = 'x';
        hex_encode(p, n, buf + 2);
        return buf;
}

/* A bytea column of exactly n bytes. */
static bool bytea_get(PGresult *res, int row, int col, void *out, size_t n) {
        const char *s;

        if (PQgetisnull(res, row, col))
                return false;
        s = PQgetvalue(res, row, col);
        if (strncmp(s, "\\x", 2) != 0 || strlen(s + 2) != 2 * n)
                return false;
        return hex_decode(s + 2, out, n) >= 0;
}

static bool i64_get(PGresult *res, int row, int col, int64_t *ret) {
        const char *s;
        char *end;
        long long v;

        if (PQgetisnull(res, row, col))
                return false;
        s = PQgetvalue(res, row, col);
        errno = 0;
        v = strtoll(s, &end, 10);
        if (errno != 0 || end == s || *end)
                return false;
        *ret = (int64_t) v;
        return true;
}

void ledger_fleet_free(struct ledger_fleet *f) {
        if (!f)
                return;
        if (f->conn)
                PQfinish(f->conn);
        free(f->error);
        free(f);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct ledger_fleet *, ledger_fleet_free);

int ledger_fleet_connect(const char *conninfo, const char *host_id, struct ledger_fleet **ret, char **ret_error) {
        _cleanup_(ledger_fleet_freep) struct ledger_fleet *f = NULL;
        /* A default the connection string may override (a later
         * keyword wins): a database that does not answer is an error
         * after 10 s, not a thread that waits forever. Keepalives find a
         * peer that vanished. */
        const char *const keys[] = { "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
                                     "keepalives_count", "application_name", "dbname", NULL };
        const char *const values[] = { "10", "1", "10", "5", "3", "prepayd", conninfo, NULL };
        int r;

        if (!conninfo || !ret)
                return -EINVAL;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        snprintf(f->host, sizeof(f->host), "%s", host_id ?: "");
        f->conn = PQconnectdbParams(keys, values, 1);
        if (!f->conn)
                return -ENOMEM;
        if (PQstatus(f->conn) != CONNECTION_OK) {
                set_pq_error(f, "cannot connect", PQerrorMessage(f->conn));
                r = -ECONNREFUSED;
                goto fail;
        }
        /* Money as bigint, time as bigint: nothing depends on the
         * server's locale or time zone. A statement that hangs fails;
         * "already exists, skipping" is not news. */
        r = exec_simple(f, "SET statement_timeout = '30s'; SET client_min_messages = warning",
                        "set the session up");
        /* A reader (verify) creates nothing: it may hold a role that
         * may only read. */
        if (r >= 0 && host_id)
                r = exec_simple(f, "BEGIN", "begin");
        if (r >= 0 && host_id)
                r = exec_simple(f, fleet_schema, "create the fleet's tables");
        if (r >= 0 && host_id)
                r = exec_simple(f, "COMMIT", "commit the fleet's tables");
        if (r < 0) {
                rollback(f);
                goto fail;
        }
        *ret = TAKE_PTR(f);
        return 0;
fail:
        if (ret_error) {
                free(*ret_error);
                *ret_error = strdup(f->error ?: "cannot connect");
        }
        return r;
}

int ledger_fleet_publish_key(struct ledger_fleet *f, const char *fleet_id, const char *public_key,
                             uint64_t now_usec) {
        char now[24];

        if (!f || !fleet_id || !public_key || !f->host[0])
                return -EINVAL;
        snprintf(now, sizeof(now), "%" PRIu64, now_usec);
        /* A host in one fleet at a time: a new FleetId= or a new key
         * replaces its row. */
        return exec_params(f,
                           "INSERT INTO prepay_fleet_keys (host, fleet, public_key, time_usec) VALUES ($1, $2, $3, $4) "
                           "ON CONFLICT (host) DO UPDATE SET fleet = EXCLUDED.fleet, public_key = "
                           "EXCLUDED.public_key, time_usec = EXCLUDED.time_usec",
                           4, (const char *const[]) { f->host, fleet_id, public_key, now }, "publish this host's key",
                           NULL);
}

int ledger_fleet_keys(struct ledger_fleet *f, const char *fleet_id, char **ret) {
        _cleanup_(freep) char *text = NULL;
        PGresult *res = NULL;
        char limit[16];
        size_t len = 0;
        int r, n;

        if (!f || !fleet_id || !ret)
                return -EINVAL;
        snprintf(limit, sizeof(limit), "%d", LEDGER_FLEET_KEYS_MAX);
        /* In a fixed order: the same set reads as the same text. */
        r = exec_params(f, "SELECT public_key FROM prepay_fleet_keys WHERE fleet = $1 ORDER BY host LIMIT $2", 2,
                        (const char *const[]) { fleet_id, limit }, "read the fleet's keys",
                        &res);
        if (r < 0)
                return r;
        n = PQntuples(res);
        text = calloc((size_t) n + 1, CRYPTO_PUBKEY_TEXT_MAX);
        if (!text) {
                PQclear(res);
                return -ENOMEM;
        }
        for (int i = 0; i < n; i++) {
                const char *v = PQgetvalue(res, i, 0);

                /* A row of another shape is skipped (the server is
                 * checked, not trusted, for shape): it is no key. */
                if (PQgetisnull(res, i, 0) || strlen(v) >= CRYPTO_PUBKEY_TEXT_MAX || strchr(v, '\n'))
                        continue;
                len += (size_t) sprintf(text + len, "%s\n", v);
        }
        PQclear(res);
        *ret = TAKE_PTR(text);
        return n;
}

/* A text array parameter ("{"a","b",NULL}"), every element quoted (one
 * spelled NULL stays text) and escaped (the server's grammar for array
 * literals: a backslash before a quote or a backslash). */
struct text_array {
        char *buf;
        size_t size, n;
        FILE *f;
};

static int array_begin(struct text_array *a) {
        *a = (struct text_array) {};
        a->f = open_memstream(&a->buf, &a->size);
        if (!a->f)
                return -ENOMEM;
        fputc('{', a->f);
        return 0;
}

static void array_add(struct text_array *a, const char *value) {
        if (a->n++ > 0)
                fputc(',', a->f);
        if (!value) {
                fputs("NULL", a->f);
                return;
        }
        fputc('"', a->f);
        for (const char *p = value; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fputc('\\', a->f);
                fputc(*p, a->f);
        }
        fputc('"', a->f);
}

static void array_add_hex(struct text_array *a, const void *p, size_t n) {
        char hex[2 * LEDGER_CLAIM_SIZE + 2 * VOUCHER_ID_SIZE + 1];

        array_add(a, hex_encode(p, MIN(n, (sizeof(hex) - 1) / 2), hex));
}

static void array_add_u64(struct text_array *a, uint64_t v) {
        char s[24];

        snprintf(s, sizeof(s), "%" PRIu64, v);
        array_add(a, s);
}

/* The text, or NULL when out of memory. */
static const char *array_end(struct text_array *a) {
        bool failed;

        fputc('}', a->f);
        failed = ferror(a->f);
        failed = fclose(a->f) != 0 || failed;
        a->f = NULL;
        return failed ? NULL : a->buf;
}

static void array_done(struct text_array *a) {
        if (a->f)
                fclose(a->f);
        free(a->buf);
        *a = (struct text_array) {};
}

#define ARRAYS 8
static void arrays_done(struct text_array (*a)[ARRAYS]) {
        for (size_t i = 0; i < ARRAYS; i++)
                array_done(&(*a)[i]);
}

/* Each claim's vouchers in one order, the same on every host: two
 * groups that claim the same vouchers wait for each other instead of
 * deadlocking (the INSERT below takes its rows in voucher order too). */
static int claims_arrays(struct ledger_fleet_claim *c, size_t n, struct text_array (*a)[ARRAYS],
                         const char *(*ret)[ARRAYS]) {
        int r = 0;

        for (size_t k = 0; r >= 0 && k < ARRAYS; k++)
                r = array_begin(&(*a)[k]);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                for (size_t k = 0; k < c[i].n; k++) {
                        array_add_hex(&(*a)[0], c[i].ids[k], VOUCHER_ID_SIZE);
                        array_add_hex(&(*a)[1], c[i].claim, LEDGER_CLAIM_SIZE);
                        array_add_u64(&(*a)[2], c[i].now_usec);
                        array_add(&(*a)[3], c[i].request_id);
                }
                if (!c[i].request_id)
                        continue;
                array_add(&(*a)[4], c[i].requester);
                array_add(&(*a)[5], c[i].request_id);
                array_add_hex(&(*a)[6], c[i].claim, LEDGER_CLAIM_SIZE);
                array_add_u64(&(*a)[7], c[i].now_usec);
        }
        for (size_t k = 0; k < ARRAYS; k++) {
                (*ret)[k] = array_end(&(*a)[k]);
                if (!(*ret)[k])
                        return -ENOMEM;
        }
        return 0;
}

/* Who holds each voucher and request id of the group, after an insert
 * that left some where they were: each claim is decided by them. A row
 * gone meanwhile (taken back by its host) is -EAGAIN: the group is
 * tried again, and its insert takes it this time. */
static int claims_decide(struct ledger_fleet *f, struct ledger_fleet_claim *c, size_t n, const char *const *p,
                         size_t *ret_failed) {
        PGresult *res = NULL;
        size_t failed = 0;
        int r, rows;

        r = exec_params(f,
                        "SELECT 'v', encode(voucher, 'hex'), NULL, host, time_usec, encode(claim, 'hex') "
                        "FROM prepay_spent WHERE voucher IN (SELECT decode(x, 'hex') FROM unnest($1::text[]) x) "
                        "UNION ALL "
                        "SELECT 'r', request_id, requester, host, time_usec, encode(claim, 'hex') "
                        "FROM prepay_requests WHERE (requester, request_id) IN "
                        "(SELECT * FROM unnest($2::text[], $3::text[]))",
                        3, (const char *const[]) { p[0], p[4], p[5] }, "read who holds the vouchers", &res);
        if (r < 0)
                return r;
        rows = PQntuples(res);
        for (size_t i = 0; i < n; i++) {
                char cid[2 * LEDGER_CLAIM_SIZE + 1], vid[2 * VOUCHER_ID_SIZE + 1];
                bool found;

                hex_encode(c[i].claim, LEDGER_CLAIM_SIZE, cid);
                c[i].r = 0;
                /* The request id first: a retry sent to another host is
                 * told where its answer is. */
                for (size_t k = 0; k <= c[i].n && c[i].r == 0; k++) {
                        const char *kind = k == 0 ? "r" : "v";

                        if (k == 0 && !c[i].request_id)
                                continue;
                        if (k > 0)
                                hex_encode(c[i].ids[k - 1], VOUCHER_ID_SIZE, vid);
                        found = false;
                        for (int row = 0; row < rows && !found; row++) {
                                int64_t t;

                                if (!streq(PQgetvalue(res, row, 0), kind) ||
                                    !streq(PQgetvalue(res, row, 1), k == 0 ? c[i].request_id : vid) ||
                                    (k == 0 && !streq(PQgetvalue(res, row, 2), c[i].requester)))
                                        continue;
                                found = true;
                                /* This claim's own. */
                                if (streq(PQgetvalue(res, row, 3), f->host) && !PQgetisnull(res, row, 5) &&
                                    streq(PQgetvalue(res, row, 5), cid))
                                        break;
                                if (!i64_get(res, row, 4, &t)) {
                                        set_error(f, "the spent set holds a row without a time");
                                        PQclear(res);
                                        return -EIO;
                                }
                                snprintf(c[i].spent.host, sizeof(c[i].spent.host), "%s", PQgetvalue(res, row, 3));
                                c[i].spent.time_usec = (uint64_t) t;
                                c[i].failed = k > 0 ? k - 1 : 0;
                                c[i].r = k == 0 ? -EEXIST : -EALREADY;
                        }
                        if (!found) {
                                PQclear(res);
                                return -EAGAIN;
                        }
                }
                if (c[i].r < 0)
                        failed++;
        }
        PQclear(res);
        *ret_failed = failed;
        return 0;
}

/* One try of a group: -EAGAIN to try again. */
static int claims_once(struct ledger_fleet *f, struct ledger_fleet_claim *c, size_t n, const char *const *p,
                       size_t total) {
        _cleanup_(array_done) struct text_array fv = {}, fc = {}, fr = {};
        const char *sv, *sc, *sr;
        PGresult *res = NULL;
        size_t failed = 0;
        int64_t inserted;
        int r;

        for (size_t i = 0; i < n; i++)
                c[i].r = 0;
        r = exec_simple(f, "BEGIN", "begin a claim");
        if (r < 0)
                return r;
        /* One statement for the group: under READ COMMITTED an insert
         * that meets another's uncommitted row waits for its
         * transaction, then does nothing if that committed: exactly one
         * insert of a voucher (or of a request id) wins in the fleet. */
        r = exec_params(f,
                        "WITH q AS (INSERT INTO prepay_requests (requester, request_id, host, time_usec, claim) "
                        "SELECT x.requester, x.request_id, $1, x.t, decode(x.claim, 'hex') "
                        "FROM unnest($6::text[], $7::text[], $8::text[], $9::bigint[]) AS x(requester, request_id, "
                        "claim, t) ORDER BY 1, 2 ON CONFLICT DO NOTHING RETURNING 1), "
                        "v AS (INSERT INTO prepay_spent (voucher, host, time_usec, claim, request_id) "
                        "SELECT decode(x.voucher, 'hex'), $1, x.t, decode(x.claim, 'hex'), x.request_id "
                        "FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[]) AS x(voucher, claim, t, "
                        "request_id) ORDER BY 1 ON CONFLICT DO NOTHING RETURNING 1) "
                        "SELECT (SELECT count(*) FROM q) + (SELECT count(*) FROM v)",
                        9,
                        (const char *const[]) { f->host, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7] },
                        "claim the vouchers", &res);
        if (r < 0)
                goto fail;
        if (PQntuples(res) != 1 || !i64_get(res, 0, 0, &inserted)) {
                set_error(f, "the claim's insert answered in an unknown shape");
                PQclear(res);
                r = -EIO;
                goto fail;
        }
        PQclear(res);
        if ((uint64_t) inserted != total) {
                r = claims_decide(f, c, n, p, &failed);
                if (r < 0)
                        goto fail;
        }
        if (failed > 0) {
                /* All or none per claim: the refused ones' rows go, the
                 * others' stay, in the same transaction. */
                r = array_begin(&fv);
                if (r >= 0)
                        r = array_begin(&fc);
                if (r >= 0)
                        r = array_begin(&fr);
                if (r < 0)
                        goto fail;
                for (size_t i = 0; i < n; i++) {
                        if (c[i].r == 0)
                                continue;
                        array_add_hex(&fr, c[i].claim, LEDGER_CLAIM_SIZE);
                        for (size_t k = 0; k < c[i].n; k++) {
                                array_add_hex(&fv, c[i].ids[k], VOUCHER_ID_SIZE);
                                array_add_hex(&fc, c[i].claim, LEDGER_CLAIM_SIZE);
                        }
                }
                sv = array_end(&fv);
                sc = array_end(&fc);
                sr = array_end(&fr);
                if (!sv || !sc || !sr) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = exec_params(f,
                                "WITH d AS (DELETE FROM prepay_spent WHERE host = $1 AND (voucher, claim) IN "
                                "(SELECT decode(x.v, 'hex'), decode(x.c, 'hex') FROM unnest($2::text[], "
                                "$3::text[]) AS x(v, c))) "
                                "DELETE FROM prepay_requests WHERE host = $1 AND claim IN "
                                "(SELECT decode(x, 'hex') FROM unnest($4::text[]) x)",
                                4, (const char *const[]) { f->host, sv, sc, sr }, "take a refused claim back",
                                NULL);
                if (r < 0)
                        goto fail;
        }
        r = exec_simple(f, "COMMIT", "commit a claim");
        if (r < 0)
                goto fail;
        return 0;
fail:
        rollback(f);
        return r;
}

int ledger_fleet_claims(struct ledger_fleet *f, struct ledger_fleet_claim *c, size_t n) {
        _cleanup_(arrays_done) struct text_array a[ARRAYS] = {};
        const char *p[ARRAYS];
        size_t total = 0;
        int r = -EAGAIN;

        if (!f || !c || n < 1)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!c[i].ids || c[i].n < 1 || c[i].n > REQUEST_VOUCHERS_MAX || !c[i].claim ||
                    (c[i].request_id && !c[i].requester))
                        return -EINVAL;
                total += c[i].n + (c[i].request_id ? 1 : 0);
        }
        if (!ledger_fleet_ok(f))
                return -ENOTCONN;
        r = claims_arrays(c, n, &a, &p);
        if (r < 0)
                return r;
        r = -EAGAIN;
        for (int i = 0; i < FLEET_RETRIES && r == -EAGAIN; i++)
                r = claims_once(f, c, n, p, total);
        return r;
}

int ledger_fleet_unclaim(struct ledger_fleet *f, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                         const uint8_t claim[LEDGER_CLAIM_SIZE]) {
        char vid[BYTEA_TEXT_MAX(VOUCHER_ID_SIZE)], cid[BYTEA_TEXT_MAX(LEDGER_CLAIM_SIZE)];
        int r = 0;

        if (!f || !ids || !claim)
                return -EINVAL;
        if (!ledger_fleet_ok(f))
                return -ENOTCONN;
        bytea_text(cid, claim, LEDGER_CLAIM_SIZE);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                const char *const del[] = { bytea_text(vid, ids[i], VOUCHER_ID_SIZE), f->host, cid };

                /* Never a voucher whose redeem entry was shipped: that
                 * one was credited, whatever the intents say. */
                r = exec_params(f,
                                "DELETE FROM prepay_spent s WHERE s.voucher = $1 AND s.host = $2 AND s.claim = $3 "
                                "AND NOT EXISTS (SELECT 1 FROM prepay_entries e WHERE e.host = $2 AND "
                                "e.voucher = $1)",
                                3, del, "take a claim back", NULL);
        }
        /* Its request id goes with its last voucher: one shipped
         * (credited) keeps it taken. */
        if (r >= 0) {
                _cleanup_(array_done) struct text_array a = {};
                const char *ids_text;

                r = array_begin(&a);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++)
                        array_add_hex(&a, ids[i], VOUCHER_ID_SIZE);
                ids_text = array_end(&a);
                if (!ids_text)
                        return -ENOMEM;
                r = exec_params(f,
                                "DELETE FROM prepay_requests q WHERE q.host = $1 AND q.claim = $2 AND NOT EXISTS "
                                "(SELECT 1 FROM prepay_spent s WHERE s.host = $1 AND s.claim = $2 AND s.voucher IN "
                                "(SELECT decode(x, 'hex') FROM unnest($3::text[]) x))",
                                3, (const char *const[]) { f->host, cid, ids_text }, "take a request id back",
                                NULL);
        }
        return r;
}

/* ---- shipping ---- */

static int ship_entry(struct ledger_fleet *f, const struct entry_reader *rd) {
        const struct entry *e = &rd->e;
        char seq[24], t[24], over[24], amount[24], vid[BYTEA_TEXT_MAX(VOUCHER_ID_SIZE)],
                fun[BYTEA_TEXT_MAX(CRYPTO_PUBKEY_SIZE)], prev[BYTEA_TEXT_MAX(CRYPTO_SHA256_SIZE)],
                hash[BYTEA_TEXT_MAX(CRYPTO_SHA256_SIZE)];
        int r;

        snprintf(seq, sizeof(seq), "%" PRIu64, e->seq);
        snprintf(t, sizeof(t), "%" PRIu64, e->time_usec);
        snprintf(over, sizeof(over), "%" PRId64, e->overshoot);
        {
                const char *const v[] = { f->host,
                                          seq,
                                          t,
                                          e->kind,
                                          e->slice,
                                          e->voucher ? bytea_text(vid, e->voucher, VOUCHER_ID_SIZE) : NULL,
                                          e->request_id,
                                          e->funder ? bytea_text(fun, e->funder, CRYPTO_PUBKEY_SIZE) : NULL,
                                          over,
                                          bytea_text(prev, rd->prev_hash, CRYPTO_SHA256_SIZE),
                                          bytea_text(hash, rd->hash, CRYPTO_SHA256_SIZE) };

                r = exec_params(f,
                                "INSERT INTO prepay_entries (host, seq, time_usec, kind, slice, voucher, "
                                "request_id, funder, overshoot, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, "
                                "$7, $8, $9, $10, $11)",
                                11, v, "ship an entry", NULL);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < e->n_postings; i++) {
                snprintf(amount, sizeof(amount), "%" PRId64, e->postings[i].amount);
                const char *const v[] = { f->host, seq, e->postings[i].account, amount };

                r = exec_params(f,
                                "INSERT INTO prepay_postings (host, entry, account, amount) VALUES ($1, $2, $3, $4)",
                                4, v, "ship a posting", NULL);
                if (r < 0)
                        return r;
        }
        if (e->voucher) {
                const char *const v[] = { vid, f->host, t, e->request_id };
                PGresult *res = NULL;

                /* Claimed already by this host (the usual case), or an
                 * entry from before the fleet: spent here, unless another
                 * host spent it, which is a second spending the fleet
                 * cannot take back, and shipping stops at it. */
                r = exec_params(f,
                                "INSERT INTO prepay_spent (voucher, host, time_usec, request_id) VALUES ($1, $2, "
                                "$3, $4) ON CONFLICT (voucher) DO NOTHING",
                                4, v, "mark a shipped voucher spent", NULL);
                if (r >= 0)
                        r = exec_params(f, "SELECT host FROM prepay_spent WHERE voucher = $1", 1, v,
                                        "read who spent a voucher", &res);
                if (r < 0)
                        return r;
                if (PQntuples(res) != 1 || !streq(PQgetvalue(res, 0, 0), f->host)) {
                        set_error(f, "entry %" PRIu64 " spends voucher %s, which host %s spent", e->seq, vid + 2,
                                  PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?");
                        PQclear(res);
                        return -EEXIST;
                }
                PQclear(res);
        }
        return 0;
}

static int ship_once(struct ledger_fleet *f, struct ledger *local, size_t max, uint64_t *ret_shipped,
                     char **ret_error) {
        _cleanup_(ledger_entry_reader_done) struct entry_reader rd = {};
        uint8_t tip[CRYPTO_SHA256_SIZE];
        const char *const hv[] = { f->host };
        char seq[24], hash[BYTEA_TEXT_MAX(CRYPTO_SHA256_SIZE)], now[24];
        PGresult *res = NULL;
        bool opened = false;
        uint64_t shipped;
        int64_t s;
        size_t n = 0;
        int r, q;

        r = exec_simple(f, "BEGIN", "begin shipping");
        if (r >= 0)
                r = exec_params(f, "INSERT INTO prepay_hosts (host) VALUES ($1) ON CONFLICT (host) DO NOTHING", 1,
                                hv, "register the host", NULL);
        if (r >= 0)
                r = exec_params(f, "SELECT shipped_seq, shipped_hash FROM prepay_hosts WHERE host = $1 FOR UPDATE",
                                1, hv, "read what was shipped", &res);
        if (r < 0)
                goto out;
        if (PQntuples(res) != 1 || !i64_get(res, 0, 0, &s) || s < 0 || !bytea_get(res, 0, 1, tip, sizeof(tip))) {
                set_error(f, "host %s's row in prepay_hosts is out of shape", f->host);
                r = -EBADMSG;
                goto out;
        }
        shipped = (uint64_t) s;

        r = ledger_read_begin(local, &opened);
        if (r >= 0)
                r = ledger_entry_reader_init_after(local, shipped, &rd);
        while (r >= 0 && n < max && (q = ledger_entry_reader_next(&rd)) != 0) {
                if (q < 0) {
                        r = q;
                        break;
                }
                if (rd.malformed || rd.e.seq != shipped + 1 || memcmp(rd.prev_hash, tip, sizeof(tip)) != 0) {
                        set_error(f, "entry %" PRIu64 " of this host's ledger does not continue the fleet's copy "
                                  "(entry %" PRIu64 " and its hash)%s%s", rd.e.seq, shipped,
                                  rd.malformed ? ": " : "", strempty(rd.malformed));
                        r = -ESTALE;
                        break;
                }
                r = ship_entry(f, &rd);
                if (r < 0)
                        break;
                shipped = rd.e.seq;
                memcpy(tip, rd.hash, sizeof(tip));
                n++;
        }
        ledger_entry_reader_done(&rd);
        ledger_read_end(local, opened);
        if (r < 0 || n == 0)
                goto out;

        snprintf(seq, sizeof(seq), "%" PRIu64, shipped);
        snprintf(now, sizeof(now), "%" PRIu64, now_usec(CLOCK_REALTIME));
        {
                const char *const v[] = { f->host, seq, bytea_text(hash, tip, sizeof(tip)), now };

                r = exec_params(f,
                                "UPDATE prepay_hosts SET shipped_seq = $2, shipped_hash = $3, shipped_usec = $4 "
                                "WHERE host = $1",
                                4, v, "record what was shipped", NULL);
        }
out:
        PQclear(res);
        if (r >= 0)
                r = exec_simple(f, "COMMIT", "commit shipping");
        if (r < 0) {
                rollback(f);
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = strdup(f->error ?: strerror(-r));
                }
                return r;
        }
        *ret_shipped = shipped;
        return (int) n;
}

int ledger_fleet_ship(struct ledger_fleet *f, struct ledger *local, size_t max, uint64_t *ret_shipped,
                      char **ret_error) {
        int r = -EAGAIN;

        if (!f || !local || !ret_shipped || max < 1 || max > INT32_MAX)
                return -EINVAL;
        if (!ledger_fleet_ok(f))
                return -ENOTCONN;
        for (int i = 0; i < FLEET_RETRIES && r == -EAGAIN; i++)
                r = ship_once(f, local, max, ret_shipped, ret_error);
        return r;
}

/* ---- verify ---- */

_printf_(3, 4) static int discrepancy(char **ret, int r, const char *fmt, ...) {
        va_list ap;
        char *s;

        va_start(ap, fmt);
        if (ret && vasprintf(&s, fmt, ap) >= 0) {
                free(*ret);
                *ret = s;
        }
        va_end(ap);
        return r;
}

/* A check whose query finds what must not be: 0 when it found nothing,
 * 1 with the first row in *res (the previous result freed either way),
 * or -errno with the database's error in *ret_discrepancy. */
static int first_row(struct ledger_fleet *f, const char *sql, const char *what, PGresult **res,
                     char **ret_discrepancy) {
        int r;

        PQclear(*res);
        *res = NULL;
        r = exec_params(f, sql, 0, NULL, what, res);
        if (r < 0)
                return discrepancy(ret_discrepancy, r, "%s", ledger_fleet_error(f));
        return PQntuples(*res) > 0;
}

/* The entry of row i of res (host, seq, time_usec, kind, slice, voucher,
 * request_id, funder, overshoot, prev_hash, hash) into e and its buffers;
 * false when a column is out of shape. */
struct fleet_row {
        struct entry e;
        char kind[16], slice[SLICE_ID_MAX], request_id[LEDGER_REQUEST_ID_MAX + 1];
        uint8_t voucher[VOUCHER_ID_SIZE], funder[CRYPTO_PUBKEY_SIZE], prev[CRYPTO_SHA256_SIZE],
                hash[CRYPTO_SHA256_SIZE];
};

static bool row_text(PGresult *res, int row, int col, char *buf, size_t n) {
        const char *s = PQgetvalue(res, row, col);

        if (PQgetisnull(res, row, col) || strlen(s) >= n)
                return false;
        memcpy(buf, s, strlen(s) + 1);
        return true;
}

static bool entry_from_pg(PGresult *res, int i, struct fleet_row *row) {
        int64_t seq, t, over;

        *row = (struct fleet_row) {};
        if (!i64_get(res, i, 1, &seq) || seq < 1 || !i64_get(res, i, 2, &t) || t < 0 ||
            !row_text(res, i, 3, row->kind, sizeof(row->kind)) ||
            !row_text(res, i, 4, row->slice, sizeof(row->slice)) || !i64_get(res, i, 8, &over) ||
            !bytea_get(res, i, 9, row->prev, sizeof(row->prev)) || !bytea_get(res, i, 10, row->hash, sizeof(row->hash)))
                return false;
        row->e = (struct entry) { .seq = (uint64_t) seq, .time_usec = (uint64_t) t, .kind = row->kind,
                                  .slice = row->slice, .overshoot = over };
        if (!PQgetisnull(res, i, 5)) {
                if (!bytea_get(res, i, 5, row->voucher, sizeof(row->voucher)))
                        return false;
                row->e.voucher = row->voucher;
        }
        if (!PQgetisnull(res, i, 6)) {
                if (!row_text(res, i, 6, row->request_id, sizeof(row->request_id)))
                        return false;
                row->e.request_id = row->request_id;
        }
        if (!PQgetisnull(res, i, 7)) {
                if (!bytea_get(res, i, 7, row->funder, sizeof(row->funder)))
                        return false;
                row->e.funder = row->funder;
        }
        return true;
}

/* One host's chain, entries and postings read in one snapshot (the
 * caller's transaction), merged by seq. */
static int verify_host(struct ledger_fleet *f, const char *host, uint64_t shipped_seq,
                       const uint8_t shipped_hash[CRYPTO_SHA256_SIZE], uint64_t *ret_entries, char **ret) {
        const char *const hv[] = { host };
        PGresult *es = NULL, *ps = NULL;
        uint8_t prev[CRYPTO_SHA256_SIZE] = {}, hash[CRYPTO_SHA256_SIZE];
        struct fleet_row row;
        int r, np, p = 0;
        uint64_t last = 0;

        r = exec_params(f,
                        "SELECT host, seq, time_usec, kind, slice, voucher, request_id, funder, overshoot, "
                        "prev_hash, hash FROM prepay_entries WHERE host = $1 ORDER BY seq",
                        1, hv, "read a host's entries", &es);
        if (r >= 0)
                /* Byte order, as the chain sorts a posting's accounts. */
                r = exec_params(f,
                                "SELECT entry, account, amount FROM prepay_postings WHERE host = $1 "
                                "ORDER BY entry, account COLLATE \"C\"",
                                1, hv, "read a host's postings", &ps);
        if (r < 0) {
                r = discrepancy(ret, r, "%s", ledger_fleet_error(f));
                goto out;
        }
        np = PQntuples(ps);
        for (int i = 0; i < PQntuples(es); i++) {
                int64_t sum = 0;

                if (!entry_from_pg(es, i, &row)) {
                        r = discrepancy(ret, -EBADMSG, "Host %s: entry %s is out of shape.", host,
                                        PQgetvalue(es, i, 1));
                        goto out;
                }
                if (row.e.seq != last + 1) {
                        r = discrepancy(ret, -EBADMSG, "Host %s: entry %" PRIu64 " is missing: entry %" PRIu64
                                        " follows entry %" PRIu64 ".", host, last + 1, row.e.seq, last);
                        goto out;
                }
                for (; p < np; p++) {
                        int64_t e, amount;

                        if (!i64_get(ps, p, 0, &e) || !i64_get(ps, p, 2, &amount)) {
                                r = discrepancy(ret, -EBADMSG, "Host %s: a posting is out of shape.", host);
                                goto out;
                        }
                        if ((uint64_t) e < row.e.seq) {
                                r = discrepancy(ret, -EBADMSG, "Host %s: a posting of entry %" PRId64
                                                " which does not exist.", host, e);
                                goto out;
                        }
                        if ((uint64_t) e > row.e.seq)
                                break;
                        if (row.e.n_postings >= ENTRY_POSTINGS_MAX ||
                            strlen(PQgetvalue(ps, p, 1)) >= ACCOUNT_MAX) {
                                r = discrepancy(ret, -EBADMSG, "Host %s: entry %" PRIu64 ": too many postings or "
                                                "an account of a wrong length.", host, row.e.seq);
                                goto out;
                        }
                        ledger_entry_post(&row.e, PQgetvalue(ps, p, 1), amount);
                        if (!money_add(sum, amount, &sum)) {
                                r = discrepancy(ret, -EBADMSG, "Host %s: entry %" PRIu64 ": postings overflow.",
                                                host, row.e.seq);
                                goto out;
                        }
                }
                if (memcmp(row.prev, prev, sizeof(prev)) != 0) {
                        r = discrepancy(ret, -EBADMSG, "Host %s: entry %" PRIu64 " does not link to entry %" PRIu64
                                        ".", host, row.e.seq, last);
                        goto out;
                }
                r = ledger_entry_hash(prev, &row.e, hash);
                if (r < 0 || memcmp(hash, row.hash, sizeof(hash)) != 0) {
                        r = discrepancy(ret, -EBADMSG, "Host %s: entry %" PRIu64 ": hash does not match its "
                                        "contents.", host, row.e.seq);
                        goto out;
                }
                if (sum != 0) {
                        r = discrepancy(ret, -EBADMSG, "Host %s: entry %" PRIu64 ": postings do not sum to zero.",
                                        host, row.e.seq);
                        goto out;
                }
                memcpy(prev, hash, sizeof(prev));
                last = row.e.seq;
        }
        if (p < np) {
                r = discrepancy(ret, -EBADMSG, "Host %s: a posting of entry %s which does not exist.", host,
                                PQgetvalue(ps, p, 0));
                goto out;
        }
        if (last != shipped_seq || memcmp(prev, shipped_hash, sizeof(prev)) != 0) {
                r = discrepancy(ret, -EBADMSG, "Host %s: its chain ends at entry %" PRIu64 ", its row says %" PRIu64
                                " (or another hash): entries were cut off or added.", host, last, shipped_seq);
                goto out;
        }
        *ret_entries = last;
        r = 0;
out:
        PQclear(es);
        PQclear(ps);
        return r;
}

int ledger_fleet_verify(struct ledger_fleet *f, const char *host, struct ledger_fleet_report *ret,
                        char **ret_discrepancy) {
        struct ledger_fleet_report rep = {};
        const char *const hv[] = { host };
        PGresult *res = NULL;
        int r;

        if (!f || !ret)
                return -EINVAL;
        if (!ledger_fleet_ok(f))
                return discrepancy(ret_discrepancy, -ENOTCONN, "Not connected to the fleet database.");
        /* One snapshot of the whole fleet while the hosts ship on. */
        r = exec_simple(f, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin verify");
        if (r >= 0)
                r = exec_params(f,
                                host ? "SELECT host, shipped_seq, shipped_hash FROM prepay_hosts WHERE host = $1"
                                     : "SELECT host, shipped_seq, shipped_hash FROM prepay_hosts ORDER BY host",
                                host ? 1 : 0, host ? hv : NULL, "read the hosts", &res);
        if (r < 0) {
                r = discrepancy(ret_discrepancy, r, "%s", ledger_fleet_error(f));
                goto out;
        }
        if (host && PQntuples(res) == 0) {
                r = discrepancy(ret_discrepancy, -ENOENT, "Host %s has shipped nothing to the fleet.", host);
                goto out;
        }
        for (int i = 0; i < PQntuples(res); i++) {
                uint8_t hash[CRYPTO_SHA256_SIZE];
                uint64_t n = 0;
                int64_t s;

                if (!i64_get(res, i, 1, &s) || s < 0 || !bytea_get(res, i, 2, hash, sizeof(hash))) {
                        r = discrepancy(ret_discrepancy, -EBADMSG, "Host %s: its row is out of shape.",
                                        PQgetvalue(res, i, 0));
                        goto out;
                }
                r = verify_host(f, PQgetvalue(res, i, 0), (uint64_t) s, hash, &n, ret_discrepancy);
                if (r < 0)
                        goto out;
                rep.hosts++;
                rep.entries += n;
        }

        /* Each voucher spent once: by one entry fleet-wide, of the host
         * the spent set names. */
        r = first_row(f,
                      "SELECT encode(voucher, 'hex'), count(*) FROM prepay_entries WHERE voucher IS NOT NULL "
                      "GROUP BY voucher HAVING count(*) > 1 LIMIT 1",
                      "look for vouchers spent twice", &res, ret_discrepancy);
        if (r > 0)
                r = discrepancy(ret_discrepancy, -EBADMSG, "Voucher %s is spent by %s entries in the fleet.",
                                PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
        if (r == 0)
                r = first_row(f,
                              "SELECT e.host, e.seq, encode(e.voucher, 'hex'), coalesce(s.host, '(none)') FROM "
                              "prepay_entries e LEFT JOIN prepay_spent s ON s.voucher = e.voucher WHERE "
                              "e.voucher IS NOT NULL AND (s.host IS NULL OR s.host <> e.host) LIMIT 1",
                              "match entries with the spent set", &res, ret_discrepancy);
        if (r > 0)
                r = discrepancy(ret_discrepancy, -EBADMSG, "Host %s: entry %s spends voucher %s, which the spent "
                                "set gives to host %s.", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
                                PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
        /* Each request id the fleet holds belongs to a claim of its host
         * that spends a voucher: a take-back deletes both together, so an
         * id left alone would refuse a client's retry for nothing. */
        if (r == 0)
                r = first_row(f,
                              "SELECT q.requester, q.request_id, q.host FROM prepay_requests q WHERE NOT EXISTS "
                              "(SELECT 1 FROM prepay_spent s WHERE s.claim = q.claim AND s.host = q.host) LIMIT 1",
                              "match request ids with the spent set", &res, ret_discrepancy);
        if (r > 0)
                r = discrepancy(ret_discrepancy, -EBADMSG, "Request id %s of %s, taken on host %s, has no voucher "
                                "spent by its claim.", PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 0),
                                PQgetvalue(res, 0, 2));
        if (r < 0)
                goto out;
        PQclear(res);
        res = NULL;
        r = exec_params(f,
                        "SELECT (SELECT count(*) FROM prepay_spent), (SELECT count(*) FROM prepay_spent s "
                        "WHERE NOT EXISTS (SELECT 1 FROM prepay_entries e WHERE e.voucher = s.voucher))",
                        0, NULL, "count the spent set", &res);
        if (r < 0) {
                r = discrepancy(ret_discrepancy, r, "%s", ledger_fleet_error(f));
                goto out;
        }
        {
                int64_t v, u;

                if (PQntuples(res) != 1 || !i64_get(res, 0, 0, &v) || !i64_get(res, 0, 1, &u)) {
                        r = discrepancy(ret_discrepancy, -EBADMSG, "The spent set's counts are out of shape.");
                        goto out;
                }
                rep.vouchers = (uint64_t) v;
                rep.claimed_unshipped = (uint64_t) u;
        }
        r = 0;
out:
        PQclear(res);
        rollback(f);
        if (r >= 0)
                *ret = rep;
        return r;
}
