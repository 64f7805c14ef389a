/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay sponsor: sponsorship periods of a slice. Its owner offers them
 * (offer); anyone bids with vouchers, a name and a link (bid); the
 * highest bid of a period is credited to the slice when the period
 * starts and every other paid back as change, which its bidder fetches
 * with the bid token (outcome); show says who sponsors it now. */
#include <time.h>

#include "common/log.h"
#include "common/request.h"
#include "common/util.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay sponsor COMMAND SLICE [OPTIONS]\n"
               "\n"
               "Commands:\n"
               "  offer SLICE --period=D --min=M [--start=T]  offer SLICE's periods to sponsors\n"
               "                                              (its owner)\n"
               "  bid SLICE --voucher=FILE --name=NAME [--url=URL] [--funder-key=FILE]\n"
               "                                              bid for its next period (anyone)\n"
               "  show SLICE                                  the offer, the open bids, the sponsor\n"
               "  outcome SLICE --bid=N --token=TOKEN [--out=FILE]\n"
               "                                              a bid's outcome, and its change if it\n"
               "                                              lost\n"
               "\n"
               "See 'prepay sponsor COMMAND --help' and prepay(1).\n");
}

static char *format_time(char buf[static 32], uint64_t usec) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (!localtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, 32, "%" PRIu64, usec / USEC_PER_SEC);
        return buf;
}

static int64_t get_i64(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static const char *get_str(json_object *o, const char *key, const char *fallback) {
        const char *s = NULL;

        return message_get_string(o, key, &s) >= 0 ? s : fallback;
}

/* A sponsorship object (status's, offer's) in a few lines. */
static void print_sponsorship(const char *slice, json_object *sp) {
        char a[32], b[32], m[MONEY_FORMAT_MAX], p[64];
        const char *cur = get_str(sp, "currency", "");
        json_object *c = NULL;

        printf("slice %s: sponsored in periods of %s from %s, bids from %s %s\n", slice,
               format_duration(p, sizeof(p), (uint64_t) get_i64(sp, "period_usec")),
               format_time(a, (uint64_t) get_i64(sp, "start_usec")), money_format(m, sizeof(m), get_i64(sp, "min")),
               cur);
        printf("  next period: %s, open bids: %" PRId64 "\n", format_time(a, (uint64_t) get_i64(sp, "next_start_usec")),
               get_i64(sp, "bids"));
        if (json_object_object_get_ex(sp, "current", &c) && c)
                printf("  sponsor:     %s%s%s%s, %s %s, %s to %s\n", get_str(c, "name", "?"),
                       get_str(c, "url", NULL) ? " (" : "", get_str(c, "url", ""), get_str(c, "url", NULL) ? ")" : "",
                       money_format(m, sizeof(m), get_i64(c, "amount")), cur,
                       format_time(a, (uint64_t) get_i64(c, "since_usec")),
                       format_time(b, (uint64_t) get_i64(c, "until_usec")));
        else
                printf("  sponsor:     none now\n");
        if (get_str(sp, "env_file", NULL))
                printf("  workload:    %s\n", get_str(sp, "env_file", ""));
}

/* ---- offer ---- */

static void offer_help(void) {
        printf("Usage: prepay sponsor offer SLICE --period=DURATION --min=AMOUNT [OPTIONS]\n"
               "\n"
               "Offers SLICE's time to sponsors in periods of DURATION, one after the other\n"
               "from --start. Sponsors bid at least AMOUNT for the next period; when it\n"
               "starts the highest bid (of equal ones the earliest) is credited to SLICE\n"
               "and shown as its sponsor, and every other bid is paid back as change.\n"
               "Needs the owner token. Offered anew, the new terms apply to the periods\n"
               "after; refused while bids are open.\n"
               "\n"
               "  --period=DURATION  Each period's length, such as 24h, 30min or 90s\n"
               "  --min=AMOUNT       The least bid, such as 1.00\n"
               "  --start=TIME       When the first period starts: seconds since the epoch,\n"
               "                     or +DURATION from now (default: one period from now)\n"
               HELP_TOKEN HELP_TOKEN_FILE
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

/* --start: seconds since the epoch, or +DURATION from now. */
static int parse_start(const char *s, uint64_t *ret) {
        uint64_t v;

        if (s[0] == '+') {
                if (parse_duration(s + 1, &v) < 0)
                        return arg_invalid("--start", s, "seconds since the epoch or +DURATION such as +90s");
                *ret = (uint64_t) time(NULL) + (v + USEC_PER_SEC - 1) / USEC_PER_SEC;
                return 0;
        }
        if (parse_u64(s, &v) < 0 || v == 0 || v > INT64_MAX / USEC_PER_SEC)
                return arg_invalid("--start", s, "seconds since the epoch or +DURATION such as +90s");
        *ret = v;
        return 0;
}

static int print_offer(json_object *reply, void *userdata) {
        json_object *sp;

        if (json_object_object_get_ex(reply, "sponsorship", &sp) && sp)
                print_sponsorship(userdata, sp);
        return 0;
}

static int offer_main(int argc, char *argv[]) {
        const char *period = NULL, *min = NULL, *start = NULL, *request_id = NULL, *slice;
        _cleanup_(freep) char *token = NULL;
        struct arg_token t = {};
        uint64_t start_sec = 0, usec;
        int64_t amount;
        bool json = false;
        const struct arg_option options[] = {
                OPT_STRING_REQUIRED("period", &period),
                OPT_STRING_REQUIRED("min", &min),
                OPT_STRING("start", &start),
                OPT_TOKEN(&t),
                OPT_TOKEN_FILE(&t),
                OPT_STRING("request-id", &request_id),
                OPT_FLAG("json", &json),
                {}
        };
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, offer_help,
                             "Usage: prepay sponsor offer SLICE --period=DURATION --min=AMOUNT", &t, &slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (parse_duration(period, &usec) < 0 || usec < USEC_PER_SEC) {
                arg_invalid("--period", period, "a duration of at least a second, such as 24h");
                return 2;
        }
        if (money_parse(min, &amount) < 0 || amount <= 0) {
                arg_invalid("--min", min, "an amount above 0, such as 1.00");
                return 2;
        }
        if (start && parse_start(start, &start_sec) < 0)
                return 2;
        if (arg_token_find(&t, slice, &token) < 0)
                return 1;

        req = client_request_slice("sponsor_offer", slice, token);
        if (!req)
                return 1;
        json_object_object_add(req, "period", json_object_new_string(period));
        json_object_object_add(req, "min", json_object_new_string(min));
        if (start_sec > 0)
                json_object_object_add(req, "start", json_object_new_int64((int64_t) start_sec));
        if (request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        return client_run(req, true, json, print_offer, (void *) slice);
}

/* ---- bid ---- */

static void bid_help(void) {
        printf("Usage: prepay sponsor bid SLICE --voucher=FILE --name=NAME [OPTIONS]\n"
               "\n"
               "Bids the voucher's amount for SLICE's next sponsorship period. The voucher\n"
               "is spent at once into escrow: when the period starts the highest bid wins\n"
               "(of equal ones the earliest) and is credited to SLICE, and every other is\n"
               "paid back as a change voucher, which only the holder of the bid token\n"
               "printed here fetches (prepay sponsor outcome). A bid below the least the\n"
               "offer takes is refused and the voucher is not spent. Anyone may bid.\n"
               "\n"
               "  --voucher=FILE     The voucher (\"-\": standard input)\n"
               "  --name=NAME        The sponsor's name as shown (1 to 64 characters, no\n"
               "                     control characters)\n"
               "  --url=URL          A link shown with it (http:// or https://)\n"
               "  --funder-key=FILE  Credit the winning bid as this funder's: an Ed25519 key\n"
               "                     in PEM (private or public; the public half is sent)\n"
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

static int print_bid(json_object *reply, void *userdata) {
        const char *slice = userdata;
        char a[32], b[32], m[MONEY_FORMAT_MAX];
        json_object *bid = NULL;

        if (!json_object_object_get_ex(reply, "bid", &bid) || !bid)
                return 0;
        printf("Bid %" PRId64 " on slice %s: %s %s in escrow for the period from %s to %s.\n", get_i64(bid, "id"),
               slice, money_format(m, sizeof(m), get_i64(bid, "amount")), get_str(bid, "currency", ""),
               format_time(a, (uint64_t) get_i64(bid, "period_start_usec")),
               format_time(b, (uint64_t) get_i64(bid, "period_end_usec")));
        printf("Bid token: %s\n", get_str(reply, "token", "?"));
        printf("Keep it: if the bid loses, 'prepay sponsor outcome %s --bid=%" PRId64 " --token=TOKEN' gives its "
               "change.\n", slice, get_i64(bid, "id"));
        return 0;
}

static int bid_main(int argc, char *argv[]) {
        const char *name = NULL, *url = NULL, *funder_key = NULL, *request_id = NULL, *slice;
        struct arg_vouchers vouchers = {};
        bool json = false;
        const struct arg_option options[] = {
                OPT_VOUCHERS(&vouchers),
                OPT_STRING_REQUIRED("name", &name),
                OPT_STRING("url", &url),
                OPT_STRING("funder-key", &funder_key),
                OPT_STRING("request-id", &request_id),
                OPT_FLAG("json", &json),
                {}
        };
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, bid_help,
                             "Usage: prepay sponsor bid SLICE --voucher=FILE --name=NAME", NULL, &slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (vouchers.n == 0) {
                log_error("Usage: prepay sponsor bid SLICE --voucher=FILE --name=NAME");
                return 2;
        }
        /* What the daemon would refuse, said before a voucher is read. */
        if (!request_sponsor_name_is_valid(name)) {
                arg_invalid("--name", name, "1 to 64 characters of UTF-8, no control characters");
                return 2;
        }
        if (url && !request_sponsor_url_is_valid(url)) {
                arg_invalid("--url", url, "an http:// or https:// link of printable ASCII, no spaces or quotes");
                return 2;
        }
        req = client_request_slice("sponsor_bid", slice, NULL);
        if (req && (client_add_funder_key(req, funder_key) < 0 || client_add_vouchers(req, &vouchers) < 0)) {
                json_object_put(req);
                return 1;
        }
        if (!req)
                return 1;
        json_object_object_add(req, "name", json_object_new_string(name));
        if (url)
                json_object_object_add(req, "url", json_object_new_string(url));
        if (request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        return client_run(req, true, json, print_bid, (void *) slice);
}

/* ---- show ---- */

static void show_help(void) {
        printf("Usage: prepay sponsor show SLICE [--json]\n"
               "\n"
               "Shows SLICE's sponsorship: its periods and least bid, the next period's\n"
               "start, how many bids are open, who sponsors it now and until when, and the\n"
               "environment file its workload reads that from. Anyone may ask.\n"
               "\n"
               "  --json      Print the sponsorship as JSON\n"
               "  -h, --help  Show this help\n");
}

struct show {
        const char *slice;
        bool json;
};

static int print_show(json_object *reply, void *userdata) {
        const struct show *s = userdata;
        json_object *info, *sp = NULL;

        if (!json_object_object_get_ex(reply, "slice", &info) ||
            !json_object_object_get_ex(info, "sponsorship", &sp) || !sp)
                return log_error_errno(ENOENT, "Slice %s is not offered to sponsors.", s->slice);
        if (s->json)
                client_print_json(sp);
        else
                print_sponsorship(s->slice, sp);
        return 0;
}

static int show_main(int argc, char *argv[]) {
        struct show s = {};
        const struct arg_option options[] = {
                OPT_FLAG("json", &s.json),
                {}
        };
        int r;

        r = args_parse_slice(argc, argv, options, show_help, "Usage: prepay sponsor show SLICE", NULL, &s.slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        return client_run(client_request_slice("status", s.slice, NULL), false, false, print_show, &s);
}

/* ---- outcome ---- */

static void outcome_help(void) {
        printf("Usage: prepay sponsor outcome SLICE --bid=N --token=TOKEN [OPTIONS]\n"
               "\n"
               "Says what became of bid N on SLICE: open (its period has not started),\n"
               "won (credited to the slice) or returned. A returned bid's change voucher\n"
               "is printed on standard output (or written to --out); ask again and it is\n"
               "the same change. TOKEN is the bid token 'prepay sponsor bid' printed.\n"
               "\n"
               "  --bid=N        The bid's number\n"
               "  --token=TOKEN  The bid token\n"
               "  --out=FILE     Write the change voucher(s) to FILE (mode 0600)\n"
               "  --json         Print the daemon's reply as JSON\n"
               "  -h, --help     Show this help\n");
}

struct outcome {
        const char *slice, *out;
        bool json;
};

static int print_outcome(json_object *reply, void *userdata) {
        const struct outcome *a = userdata;
        const char *change = NULL;
        char m[MONEY_FORMAT_MAX];
        json_object *bid = NULL;
        int r;

        if (!json_object_object_get_ex(reply, "bid", &bid) || !bid)
                return 0;
        (void) message_get_string(bid, "change", &change);
        r = client_write_change(a->out, change);
        if (r < 0)
                return r;
        if (a->json) {
                client_print_json(reply);
                return 0;
        }
        if (change && !a->out)
                printf("%s\n", change);
        fprintf(change && !a->out ? stderr : stdout, "Bid %" PRId64 " on slice %s (%s %s): %s%s%s.\n",
                get_i64(bid, "id"), a->slice, money_format(m, sizeof(m), get_i64(bid, "amount")),
                get_str(bid, "currency", ""), get_str(bid, "state", "?"),
                change ? ", paid back as change" : "", change && a->out ? " in " : "");
        if (change && a->out)
                printf("%s\n", a->out);
        return 0;
}

static int outcome_main(int argc, char *argv[]) {
        const char *token = NULL;
        struct outcome a = {};
        uint64_t bid = 0;
        const struct arg_option options[] = {
                OPT_U64("bid", parse_u64, &bid, "a bid's number"),
                OPT_STRING_REQUIRED("token", &token),
                OPT_STRING("out", &a.out),
                OPT_FLAG("json", &a.json),
                {}
        };
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, outcome_help,
                             "Usage: prepay sponsor outcome SLICE --bid=N --token=TOKEN", NULL, &a.slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (bid == 0) {
                log_error("Usage: prepay sponsor outcome SLICE --bid=N --token=TOKEN");
                return 2;
        }
        req = client_request_slice("sponsor_outcome", a.slice, token);
        if (!req)
                return 1;
        json_object_object_add(req, "bid", json_object_new_int64((int64_t) bid));
        return client_run(req, false, false, print_outcome, &a);
}

int sponsor_main(int argc, char *argv[]) {
        static const struct verb verbs[] = {
                { "offer", offer_main },
                { "bid", bid_main },
                { "show", show_main },
                { "outcome", outcome_main },
                {}
        };

        return args_dispatch(argc, argv, NULL, verbs, help, "sponsor command", "prepay sponsor");
}
