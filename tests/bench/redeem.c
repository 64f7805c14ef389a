/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Acknowledged, durable redemptions per second.
 *
 *   bench-redeem daemon SOCKET SLICE VOUCHERS CLIENTS COUNT
 *       CLIENTS threads, each on its own control connection, send COUNT
 *       top-ups of SLICE one after the other (each waits for its answer,
 *       which prepayd gives only once the redemption is committed), with
 *       vouchers taken from the file VOUCHERS (one per line). SOCKET and
 *       SLICE may be lists ("a.sock,b.sock" and "s-1,s-2": several hosts
 *       of a fleet): client i talks to the (i mod n)th with its slice.
 *   bench-redeem baseline DIR ISSUER_PUB VOUCHERS COUNT
 *       The same work without the daemon and without group commit: parse,
 *       verify and redeem each voucher in a ledger of its own in DIR, one
 *       transaction with synchronous=FULL per redemption.
 *
 * Both print "<n> redemptions in <s> s: <rate>/s"; the daemon mode adds
 * each answer's latency, p50 and p99. tests/bench/redeem runs them side by
 * side and prints the ratios. */
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "bench.h"
#include "common/log.h"
#include "common/voucher.h"
#include "ledger.h"

static char **vouchers;
static size_t n_vouchers;

struct client {
        const char *socket;
        const char *slice;
        size_t first, count;
        size_t failed;
        double *latency; /* count seconds, each request's */
        pthread_t thread;
};

static void *client_run(void *userdata) {
        struct client *c = userdata;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char req[1024], reply[65536];
        int fd;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", c->socket);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                c->failed = c->count;
                return NULL;
        }
        for (size_t i = c->first; i < c->first + c->count; i++) {
                int n = snprintf(req, sizeof(req),
                                 "{\"op\":\"topup\",\"slice\":\"%s\",\"voucher\":\"%s\",\"request_id\":\"b-%.24s\"}",
                                 c->slice, vouchers[i], vouchers[i] + 4);
                double t0 = bench_now_sec();
                ssize_t k;

                if (send(fd, req, (size_t) n, MSG_NOSIGNAL) < 0) {
                        c->failed++;
                        continue;
                }
                k = recv(fd, reply, sizeof(reply) - 1, 0);
                c->latency[i - c->first] = bench_now_sec() - t0;
                if (k <= 0) {
                        c->failed++;
                        continue;
                }
                reply[k] = 0;
                if (!strstr(reply, "\"ok\":true"))
                        c->failed++;
        }
        close(fd);
        return NULL;
}

/* "a,b,c": its i mod n'th item, in buf. */
static const char *list_item(const char *list, unsigned i, char *buf, size_t size) {
        unsigned n = 1, k = 0;
        const char *p;

        for (p = list; *p; p++)
                n += *p == ',';
        i %= n;
        for (p = list; k < i; p++)
                k += *p == ',';
        snprintf(buf, size, "%.*s", (int) strcspn(p, ","), p);
        return buf;
}

static int bench_daemon(const char *sockets, const char *slices, unsigned n_clients, size_t count) {
        struct client *clients;
        char (*names)[2][128];
        size_t failed = 0, total = (size_t) n_clients * count;
        double t0, t, *all;

        if (total > n_vouchers)
                return log_error_errno(EINVAL, "%u x %zu redemptions need more than the %zu vouchers given.",
                                       n_clients, count, n_vouchers);
        clients = calloc(n_clients, sizeof(*clients));
        names = calloc(n_clients, sizeof(*names));
        all = calloc(total ?: 1, sizeof(double));
        if (!clients || !names || !all)
                return log_oom();

        t0 = bench_now_sec();
        for (unsigned i = 0; i < n_clients; i++) {
                clients[i] = (struct client) {
                        .socket = list_item(sockets, i, names[i][0], sizeof(names[i][0])),
                        .slice = list_item(slices, i, names[i][1], sizeof(names[i][1])),
                        .first = i * count, .count = count, .latency = all + i * count,
                };
                pthread_create(&clients[i].thread, NULL, client_run, &clients[i]);
        }
        for (unsigned i = 0; i < n_clients; i++) {
                pthread_join(clients[i].thread, NULL);
                failed += clients[i].failed;
        }
        t = bench_now_sec() - t0;
        printf("%zu redemptions in %.3f s: %.0f/s (%u clients, %zu failed; latency p50 %.2f ms, p99 %.2f ms)\n",
               total - failed, t, (double) (total - failed) / t, n_clients, failed,
               bench_percentile(all, total, 50) * 1e3, bench_percentile(all, total, 99) * 1e3);
        free(all);
        free(names);
        free(clients);
        return failed ? -EIO : 0;
}

static int bench_baseline(const char *dir, const char *issuer, size_t count) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        struct crypto_keyring *kr = NULL;
        struct crypto_key *key = NULL;
        struct ledger *l = NULL;
        struct ledger_slice s = { .id = "s-0000beef", .state = LEDGER_SLICE_ACTIVE };
        double t0, t;
        int r;

        if (count > n_vouchers)
                return log_error_errno(EINVAL, "%zu redemptions need more than %zu vouchers.", count, n_vouchers);
        if (asprintf(&path, "%s/baseline.db", dir) < 0)
                return log_oom();
        r = crypto_key_load(issuer, &key, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to load %s: %s", issuer, strna(error));
        r = crypto_keyring_new(&kr);
        if (r >= 0)
                r = crypto_keyring_add(kr, key);
        if (r < 0)
                return log_error_errno(r, "Failed to make a keyring: %m");
        r = ledger_open(path, false, &l, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to open %s: %s", path, strna(error));
        r = ledger_begin(l);
        if (r >= 0)
                r = ledger_slice_add(l, &s);
        if (r >= 0)
                r = ledger_commit(l);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the baseline ledger: %m");

        /* 1: the baseline, the daemon's work for one redemption with a
         * transaction of its own. */
        t0 = bench_now_sec();
        for (size_t i = 0; i < count; i++) {
                _cleanup_(freep) char *verr = NULL;
                const char *perr = NULL;
                struct voucher v;

                r = voucher_from_text(vouchers[i], &v, &perr);
                if (r >= 0)
                        r = voucher_verify(&v, kr, (int64_t) time(NULL), NULL, NULL, &verr);
                if (r >= 0)
                        r = ledger_begin(l);
                if (r >= 0)
                        r = ledger_redeem(l, &v, s.id, NULL, (uint64_t) time(NULL) * USEC_PER_SEC, NULL, NULL);
                if (r >= 0)
                        r = ledger_commit(l);
                if (r < 0)
                        return log_error_errno(r, "Baseline redemption %zu failed: %m", i);
        }
        t = bench_now_sec() - t0;
        printf("%zu redemptions in %.3f s: %.0f/s (baseline: one transaction per redemption, 1 client)\n", count,
               t, (double) count / t);

        /* 2 and 3: where the time goes. The signature checks alone, and
         * the ledger alone, one transaction per redemption and then 64
         * per transaction (what group commit does at 64 clients). The
         * same vouchers again would be refused as spent: fresh ids. */
        t0 = bench_now_sec();
        for (size_t i = 0; i < count; i++) {
                _cleanup_(freep) char *verr = NULL;
                const char *perr = NULL;
                struct voucher v;

                if (voucher_from_text(vouchers[i], &v, &perr) < 0 ||
                    voucher_verify(&v, kr, (int64_t) time(NULL), NULL, NULL, &verr) < 0)
                        return log_error_errno(EBADMSG, "Voucher %zu does not verify.", i);
        }
        t = bench_now_sec() - t0;
        printf("parse+verify alone: %.1f us per voucher\n", t * 1e6 / (double) count);

        for (unsigned batch = 1; batch <= 64; batch *= 64) {
                t0 = bench_now_sec();
                for (size_t i = 0; i < count; i++) {
                        const char *perr = NULL;
                        struct voucher v;

                        (void) voucher_from_text(vouchers[i], &v, &perr);
                        v.id[0] ^= (uint8_t) (batch == 1 ? 0x55 : 0xaa);
                        if (i % batch == 0)
                                r = ledger_begin(l);
                        if (r >= 0)
                                r = ledger_redeem(l, &v, s.id, NULL, (uint64_t) time(NULL) * USEC_PER_SEC, NULL, NULL);
                        if (r >= 0 && (i % batch == batch - 1 || i == count - 1))
                                r = ledger_commit(l);
                        if (r < 0)
                                return log_error_errno(r, "Ledger-only redemption %zu failed: %m", i);
                }
                t = bench_now_sec() - t0;
                printf("ledger alone, %2u per transaction: %.0f/s\n", batch, (double) count / t);
        }
        ledger_close(l);
        crypto_keyring_free(kr);
        return 0;
}

int main(int argc, char *argv[]) {
        int r;

        if (argc == 7 && streq(argv[1], "daemon")) {
                r = bench_read_lines(argv[4], &vouchers, &n_vouchers);
                if (r >= 0)
                        r = bench_daemon(argv[2], argv[3], (unsigned) atoi(argv[5]), (size_t) atol(argv[6]));
        } else if (argc == 6 && streq(argv[1], "baseline")) {
                r = bench_read_lines(argv[4], &vouchers, &n_vouchers);
                if (r >= 0)
                        r = bench_baseline(argv[2], argv[3], (size_t) atol(argv[5]));
        } else {
                fprintf(stderr, "Usage: bench-redeem daemon SOCKET SLICE VOUCHERS CLIENTS COUNT\n"
                                "       bench-redeem baseline DIR ISSUER_PUB VOUCHERS COUNT\n");
                return 2;
        }
        return r < 0 ? 1 : 0;
}
