/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What one fsync-bound commit costs each store of a redemption, one at a
 * time, through prepayd's own code:
 *
 *   bench-commit DIR CONNINFO COUNT
 *       SQLite: COUNT transactions of the ledger file DIR/commit.db
 *       (WAL, synchronous=FULL, as ledger_open() sets it), each one
 *       intent, the smallest write a fleet's redemption commits there.
 *       PostgreSQL: COUNT claims of one voucher (ledger_fleet_claims(),
 *       the fleet's INSERT and COMMIT with the server's
 *       synchronous_commit) in the database CONNINFO names, as host
 *       "bench-commit": give it a database of its own.
 *
 * Each alone, after as many not measured. Prints "<store>: <n> commits,
 * p50 X ms, p99 Y ms" for each; tests/bench/fleet prints the ratio. */
#include <sys/random.h>

#include "bench.h"
#include "ledger.h"

static int random_bytes(void *p, size_t n) {
        return getrandom(p, n, 0) == (ssize_t) n ? 0 : -EIO;
}

static void report(const char *store, double *lat, size_t n) {
        double p50 = bench_percentile(lat, n, 50), p99 = bench_percentile(lat, n, 99);

        printf("%s: %zu commits, p50 %.3f ms, p99 %.3f ms\n", store, n, p50 * 1e3, p99 * 1e3);
}

static int commit_sqlite(struct ledger *l, double *ret) {
        uint8_t id[VOUCHER_ID_SIZE], claim[LEDGER_CLAIM_SIZE];
        double t0;
        int r;

        r = random_bytes(id, sizeof(id));
        if (r >= 0)
                r = random_bytes(claim, sizeof(claim));
        t0 = bench_now_sec();
        if (r >= 0)
                r = ledger_begin(l);
        if (r >= 0)
                r = ledger_intent_add(l, id, claim, NULL, (uint64_t) time(NULL) * USEC_PER_SEC);
        if (r >= 0)
                r = ledger_commit(l);
        *ret = bench_now_sec() - t0;
        return r;
}

static int commit_pg(struct ledger_fleet *f, double *ret) {
        uint8_t id[1][VOUCHER_ID_SIZE], claim[LEDGER_CLAIM_SIZE];
        struct ledger_fleet_claim c = { .ids = (const uint8_t(*)[VOUCHER_ID_SIZE]) id, .n = 1, .claim = claim };
        double t0;
        int r;

        r = random_bytes(id, sizeof(id));
        if (r >= 0)
                r = random_bytes(claim, sizeof(claim));
        c.now_usec = (uint64_t) time(NULL) * USEC_PER_SEC;
        t0 = bench_now_sec();
        if (r >= 0)
                r = ledger_fleet_claims(f, &c, 1);
        *ret = bench_now_sec() - t0;
        return r < 0 ? r : c.r;
}

static int bench_commits(const char *dir, const char *conninfo, size_t count) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        _cleanup_(freep) double *sq = calloc(count, sizeof(double)), *pg = calloc(count, sizeof(double));
        struct ledger_fleet *f = NULL;
        struct ledger *l = NULL;
        int r;

        if (!sq || !pg || asprintf(&path, "%s/commit.db", dir) < 0)
                return log_oom();
        r = ledger_open(path, false, &l, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to open %s: %s", path, strna(error));
        r = ledger_fleet_connect(conninfo, "bench-commit", &f, &error);
        if (r < 0) {
                ledger_close(l);
                return log_error_errno(r, "Failed to connect to %s: %s", conninfo, strna(error));
        }
        /* Each store alone (in turn, each fsync would flush the other's
         * writes too, on one disk), after COUNT commits not measured: a
         * new file's WAL grows at each commit (its fsync then commits the
         * file system's journal too), a running ledger's is rewritten in
         * place after its checkpoints, as the server's recycled WAL
         * segments are. */
        for (size_t i = 0; i < 2 * count && r >= 0; i++) {
                r = commit_sqlite(l, &sq[i % count]);
                if (r < 0)
                        log_error_errno(r, "SQLite commit failed: %m");
        }
        for (size_t i = 0; i < 2 * count && r >= 0; i++) {
                r = commit_pg(f, &pg[i % count]);
                if (r < 0)
                        log_error_errno(r, "PostgreSQL claim failed: %s", ledger_fleet_error(f));
        }
        ledger_fleet_free(f);
        ledger_close(l);
        if (r < 0)
                return r;
        report("sqlite", sq, count);
        report("postgresql", pg, count);
        return 0;
}

int main(int argc, char *argv[]) {
        size_t count;

        if (argc != 4 || (count = (size_t) atol(argv[3])) < 1) {
                fprintf(stderr, "Usage: bench-commit DIR CONNINFO COUNT\n");
                return 2;
        }
        return bench_commits(argv[1], argv[2], count) < 0 ? 1 : 0;
}
