/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay ledger verify|export|migrate: the operator's audit of the ledger
 * file, read directly and read-only, so it works whether prepayd runs or
 * not (WAL: the daemon goes on writing while it reads one snapshot); the
 * fleet database's audit (verify --fleet); and the shipping of a host's
 * ledger into a fleet database, verified before and after (migrate). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/money.h"
#include "common/voucher.h"
#include "ledger.h"
#include "prepay.h"

#define LEDGER_DEFAULT_PATH "/var/lib/prepay/ledger.db"

static const char *ledger_path(const char *arg) {
        const char *e;

        if (arg)
                return arg;
        e = getenv("PREPAY_LEDGER");
        if (e && e[0])
                return e;
        return LEDGER_DEFAULT_PATH;
}

static void help(void) {
        printf("Usage: prepay ledger verify [--ledger PATH]\n"
               "       prepay ledger verify --fleet CONNINFO [--host ID]\n"
               "       prepay ledger export --json [--ledger PATH]\n"
               "       prepay ledger migrate --to CONNINFO --host-id ID [--ledger PATH]\n\n"
               "Reads prepayd's ledger directly (read-only; prepayd may be running).\n\n"
               "  verify   check the hash chain, that every entry balances, that each slice's\n"
               "           row matches its postings, that every voucher spent has its entry,\n"
               "           and that redeemed = held + charged + refunded; exit 1 naming the\n"
               "           first discrepancy\n"
               "  export   the whole ledger as one JSON object (amounts in micro-units)\n"
               "  migrate  copy the ledger's entries and spent vouchers into a fleet's\n"
               "           PostgreSQL database, verified before and after\n\n"
               "Options:\n"
               "  --ledger PATH  the ledger file (default $PREPAY_LEDGER, else\n"
               "                 " LEDGER_DEFAULT_PATH ")\n"
               "  -h, --help     Show this help\n");
}

static void help_verify(void) {
        printf("Usage: prepay ledger verify [--ledger PATH]\n"
               "       prepay ledger verify --fleet CONNINFO [--host ID]\n\n"
               "Checks, in order: each entry's hash and its link to the one before; that\n"
               "each entry's postings sum to zero; that each slice's balance, credit,\n"
               "charges, refunds and overshoot equal the sums of its entries; that every\n"
               "voucher spent has its redeem entry; that redeemed = held + charged +\n"
               "refunded; that each slice's history kept folded for its chart is what\n"
               "its entries give. Prints the totals and OK (exit 0) or the first discrepancy\n"
               "(exit 1). On a terminal, a progress line on standard error while it\n"
               "reads a long chain.\n\n"
               "With --fleet, the fleet's PostgreSQL database instead: each host's chain\n"
               "(no entry missing, each hash and link, postings summing to zero, the\n"
               "chain ending where the host's row says), and that each voucher is spent\n"
               "once in the whole fleet, by the host whose entry spends it.\n\n"
               "  --ledger PATH      the ledger file (default $PREPAY_LEDGER, else\n"
               "                     " LEDGER_DEFAULT_PATH ")\n"
               "  --fleet CONNINFO   the fleet database: a libpq connection string or URI,\n"
               "                     as prepayd.conf's Ledger=\n"
               "  --host ID          with --fleet: only this host's chain\n"
               "  -h, --help         Show this help\n");
}

static void help_migrate(void) {
        printf("Usage: prepay ledger migrate --to CONNINFO --host-id ID [--ledger PATH]\n\n"
               "Verifies the ledger file, copies every entry the fleet database does not\n"
               "hold yet under host ID (the HostId= the host runs with) with its postings,\n"
               "and each voucher it spent into the fleet's spent set, then verifies the\n"
               "host's copy in the fleet database and that it ends with the file's last\n"
               "entry. A voucher another host of the fleet spent already stops it (exit\n"
               "1, naming it): the fleet cannot take a second spending back. Safe to run\n"
               "again; prepayd with Ledger= does the same as it starts.\n\n"
               "  --to CONNINFO  the fleet database (a libpq connection string or URI)\n"
               "  --host-id ID   this host's id in the fleet\n"
               "  --ledger PATH  the ledger file (default $PREPAY_LEDGER, else\n"
               "                 " LEDGER_DEFAULT_PATH ")\n"
               "  -h, --help     Show this help\n");
}

static void help_export(void) {
        printf("Usage: prepay ledger export --json [--ledger PATH]\n\n"
               "Writes the whole ledger to standard output as one JSON object: schema,\n"
               "books, slices, vouchers spent, and entries with their postings and hashes.\n"
               "Amounts are integer micro-units; hashes and ids are hex. Change vouchers\n"
               "are bearer money and are not exported (\"change_paid\" says whether one was).\n\n"
               "  --json         JSON output (the only format)\n"
               "  --ledger PATH  the ledger file (default $PREPAY_LEDGER, else\n"
               "                 " LEDGER_DEFAULT_PATH ")\n"
               "  -h, --help     Show this help\n");
}

/* The verb's options. Returns 1 to go on, 0 after --help, -EINVAL on a
 * usage error (already said). */
static int parse_options(int argc, char *argv[], void (*usage)(void), const char **ret_path, bool *ret_json) {
        const char *path = NULL;
        bool json = false;
        const struct arg_option options[] = {
                OPT_STRING("ledger", &path),
                OPT_FLAG("json", &json),
                {}
        };
        char hint[64];
        int r;

        snprintf(hint, sizeof(hint), "See 'prepay ledger %s --help'.", argv[0]);
        r = args_parse_no_operands(argc, argv, options, usage, hint);
        if (r <= 0)
                return r;
        if (ret_json)
                *ret_json = json;
        else if (json) {
                log_error("'prepay ledger %s' has no --json.", argv[0]);
                return -EINVAL;
        }
        *ret_path = ledger_path(path);
        return 1;
}

static int open_ledger(const char *path, struct ledger **ret) {
        _cleanup_(freep) char *error = NULL;
        int r;

        r = ledger_open(path, true, ret, &error);
        if (r < 0) {
                if (error)
                        log_error("%s", error);
                else
                        log_error_errno(r, "Failed to open ledger %s: %m", path);
        }
        return r;
}

/* A ledger_progress_fn: the entries read, on the progress line; once the
 * chain is read (the last call), what is left is the other tables, which
 * the line says rather than stand at 100%. */
static void on_progress(uint64_t done, uint64_t total, void *userdata) {
        struct progress *p = userdata;

        if (done == total)
                progress_say_now(p, "all %" PRIu64 " entries read, then the rest of the books", done);
        else
                progress_count(p, done, total, "entries");
}

static int connect_fleet(const char *conninfo, const char *host_id, struct ledger_fleet **ret) {
        _cleanup_(freep) char *error = NULL;
        int r;

        r = ledger_fleet_connect(conninfo, host_id, ret, &error);
        if (r < 0)
                log_error("Fleet database: %s", error ?: strerror(-r));
        return r;
}

/* The fleet's books verified (host's chain only, unless NULL), f freed;
 * the first discrepancy printed. */
static int fleet_check(struct ledger_fleet *f, const char *host, struct ledger_fleet_report *ret) {
        _cleanup_(freep) char *discrepancy = NULL;
        int r;

        r = ledger_fleet_verify(f, host, ret, &discrepancy);
        ledger_fleet_free(f);
        if (r < 0)
                printf("fleet: %s\n", discrepancy ?: strerror(-r));
        return r;
}

static int verify_fleet(const char *conninfo, const char *host) {
        struct ledger_fleet_report rep;
        struct ledger_fleet *f = NULL;

        if (connect_fleet(conninfo, NULL, &f) < 0 || fleet_check(f, host, &rep) < 0)
                return 1;
        printf("fleet: %ju host%s, %ju entries, %ju vouchers spent (%ju claimed whose entry is not shipped "
               "yet): OK\n", (uintmax_t) rep.hosts, rep.hosts == 1 ? "" : "s", (uintmax_t) rep.entries,
               (uintmax_t) rep.vouchers, (uintmax_t) rep.claimed_unshipped);
        return 0;
}

static int verify_main(int argc, char *argv[]) {
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX], d[MONEY_FORMAT_MAX],
                e[MONEY_FORMAT_MAX], g[MONEY_FORMAT_MAX], h[MONEY_FORMAT_MAX], funders[128 + 4 * MONEY_FORMAT_MAX] = "",
                investors[32 + MONEY_FORMAT_MAX] = "";
        _cleanup_(freep) char *discrepancy = NULL;
        struct ledger_books books;
        struct progress progress;
        struct ledger *l = NULL;
        const char *path;
        int r;

        {
                const char *p = NULL, *fleet = NULL, *host = NULL;
                const struct arg_option options[] = {
                        OPT_STRING("ledger", &p),
                        OPT_STRING("fleet", &fleet),
                        OPT_STRING("host", &host),
                        {}
                };

                r = args_parse_no_operands(argc, argv, options, help_verify, "See 'prepay ledger verify --help'.");
                if (r <= 0)
                        return r < 0 ? 2 : 0;
                if (fleet && p) {
                        log_error("'prepay ledger verify' takes --ledger or --fleet, not both.");
                        return 2;
                }
                if (host && !fleet) {
                        log_error("'prepay ledger verify --host' needs --fleet.");
                        return 2;
                }
                if (fleet)
                        return verify_fleet(fleet, host);
                path = ledger_path(p);
        }

        if (open_ledger(path, &l) < 0)
                return 1;
        progress_start(&progress, "prepay: verifying the ledger");
        ledger_set_progress(l, on_progress, &progress);
        r = ledger_verify_books(l, &books, &discrepancy);
        progress_end(&progress);
        ledger_close(l);

        if (r == -EBADMSG) {
                printf("ledger %s: %s\n", path, discrepancy ?: "a discrepancy");
                return 1;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to verify ledger %s: %m", path);
                return 1;
        }

        /* Held for funders only where a split held some: the line stays
         * as it was for every other ledger. */
        if (books.funders != 0)
                snprintf(funders, sizeof(funders), ", held for funders %s",
                         money_format(g, sizeof(g), books.funders));
        if (books.donated != 0) {
                char x[MONEY_FORMAT_MAX];

                snprintf(funders + strlen(funders), sizeof(funders) - strlen(funders), ", donated %s",
                         money_format(x, sizeof(x), books.donated));
        }
        /* And sponsors' bids only where some were made. */
        if (books.escrow != 0 || books.returned != 0) {
                char x[MONEY_FORMAT_MAX], y[MONEY_FORMAT_MAX];
                size_t len = strlen(funders);

                snprintf(funders + len, sizeof(funders) - len, ", bids in escrow %s, bids returned %s",
                         money_format(x, sizeof(x), books.escrow), money_format(y, sizeof(y), books.returned));
        }
        if (books.earned != 0)
                snprintf(investors, sizeof(investors), ", earned by investors %s",
                         money_format(h, sizeof(h), books.earned));
        printf("ledger %s: %ju entries, redeemed %s, held %s, charged %s, refunded %s%s%s, overshoot %s: OK\n", path,
               (uintmax_t) books.entries, money_format(a, sizeof(a), books.redeemed),
               money_format(b, sizeof(b), books.held), money_format(c, sizeof(c), books.charged),
               money_format(d, sizeof(d), books.refunded), funders, investors,
               money_format(e, sizeof(e), books.overshoot));
        return 0;
}

static int export_main(int argc, char *argv[]) {
        struct ledger *l = NULL;
        struct progress progress;
        const char *path;
        bool json;
        int r;

        r = parse_options(argc, argv, help_export, &path, &json);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (!json) {
                log_error("Say which format: 'prepay ledger export --json' (the only one so far).");
                return 2;
        }

        if (open_ledger(path, &l) < 0)
                return 1;
        progress_start(&progress, "prepay: exporting the ledger");
        /* Not between the lines of JSON on the same screen. */
        if (!isatty(STDOUT_FILENO))
                ledger_set_progress(l, on_progress, &progress);
        r = ledger_export_json(l, stdout);
        progress_end(&progress);
        ledger_close(l);
        if (r < 0) {
                log_error_errno(r, "Failed to export ledger %s: %m", path);
                return 1;
        }
        return 0;
}

/* Before (the file), the copy, after (the fleet's copy, and that it
 * ends where the file does). */
static int migrate_main(int argc, char *argv[]) {
        _cleanup_(freep) char *discrepancy = NULL, *error = NULL;
        const char *p = NULL, *to = NULL, *host_id = NULL, *path;
        const struct arg_option options[] = {
                OPT_STRING("ledger", &p),
                OPT_STRING("to", &to),
                OPT_STRING("host-id", &host_id),
                {}
        };
        struct ledger_fleet_report rep;
        struct ledger_books books;
        struct ledger_fleet *f = NULL;
        struct ledger *l = NULL;
        struct progress progress;
        uint64_t shipped = 0, last = 0, total = 0;
        int r;

        r = args_parse_no_operands(argc, argv, options, help_migrate, "See 'prepay ledger migrate --help'.");
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (!to || !host_id) {
                log_error("'prepay ledger migrate' needs --to CONNINFO and --host-id ID.");
                return 2;
        }
        if (!voucher_audience_is_valid(host_id)) {
                log_error("--host-id must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-', as HostId=.");
                return 2;
        }
        path = ledger_path(p);
        if (open_ledger(path, &l) < 0)
                return 1;
        progress_start(&progress, "prepay: verifying the ledger");
        ledger_set_progress(l, on_progress, &progress);
        r = ledger_verify_books(l, &books, &discrepancy);
        ledger_set_progress(l, NULL, NULL);
        progress_end(&progress);
        if (r < 0) {
                printf("ledger %s: %s; nothing was migrated\n", path, discrepancy ?: strerror(-r));
                ledger_close(l);
                return 1;
        }
        printf("ledger %s: %ju entries verified\n", path, (uintmax_t) books.entries);
        if (connect_fleet(to, host_id, &f) < 0) {
                ledger_close(l);
                return 1;
        }
        progress_start(&progress, "prepay: shipping to the fleet");
        while ((r = ledger_fleet_ship(f, l, 1024, &shipped, &error)) > 0) {
                total += (uint64_t) r;
                progress_count(&progress, shipped, books.entries, "entries");
        }
        progress_end(&progress);
        if (r >= 0)
                r = ledger_last_seq(l, &last);
        ledger_close(l);
        if (r < 0) {
                printf("fleet: shipping host %s stopped after entry %ju: %s\n", host_id, (uintmax_t) shipped,
                       error ?: strerror(-r));
                ledger_fleet_free(f);
                return 1;
        }
        if (fleet_check(f, host_id, &rep) < 0)
                return 1;
        if (shipped != last || rep.entries != last) {
                printf("fleet: host %s's copy ends at entry %ju, the file at %ju\n", host_id, (uintmax_t) shipped,
                       (uintmax_t) last);
                return 1;
        }
        printf("fleet: %ju entries shipped as host %s; its copy verified, %ju entries, the same last entry: OK\n",
               (uintmax_t) total, host_id, (uintmax_t) rep.entries);
        return 0;
}

int ledger_main(int argc, char *argv[]) {
        static const struct verb verbs[] = {
                { "verify", verify_main },
                { "export", export_main },
                { "migrate", migrate_main },
                {}
        };

        return args_dispatch(argc, argv, NULL, verbs, help, "ledger command", "prepay ledger");
}
