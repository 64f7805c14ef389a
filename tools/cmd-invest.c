/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay invest open: the owner opens a slice to investors, on terms.
 * Investors then fund it with prepay topup --funder-key; revenue paid to
 * it (prepay pay) is split by the terms; prepay claim pays them. */
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay invest open SLICE (--revenue-share PCT | --fixed-return PCT) [OPTIONS]\n"
               "\n"
               "Opens SLICE to investors, once, on terms that then stay. From now on a\n"
               "top-up with --funder-key is an investment, and revenue paid to the slice by\n"
               "its users (prepay pay) is split between its investors and its balance:\n"
               "  --revenue-share PCT  that percent of every payment (rounded down to the\n"
               "                       micro-unit) goes to the investors, split among them\n"
               "                       in proportion to what each invested so far\n"
               "  --fixed-return PCT   payments go to the investors first, until each is\n"
               "                       paid back what it invested and PCT of it more, split\n"
               "                       in proportion to what each is still owed; then\n"
               "                       everything goes to the slice\n"
               "  --cap AMOUNT         the most the investors together earn from the slice\n"
               "Investors claim what they earned with prepay claim. Needs the owner token.\n"
               "\n"
               HELP_TOKEN
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

static int print_open(json_object *reply, void *userdata) {
        const char *slice = userdata, *terms = "?", *rate = "?";
        json_object *inv = NULL, *cap = NULL;
        char m[MONEY_FORMAT_MAX];

        if (json_object_object_get_ex(reply, "investors", &inv)) {
                (void) message_get_string(inv, "terms", &terms);
                (void) message_get_string(inv, "rate", &rate);
                (void) json_object_object_get_ex(inv, "cap", &cap);
        }
        printf("Slice %s is open to investors: %s %s%s%s.\n", slice, terms, rate, cap ? ", cap " : "",
               cap ? money_format(m, sizeof(m), json_object_get_int64(cap)) : "");
        return 0;
}

static int open_main(int argc, char *argv[]) {
        const char *given = NULL, *request_id = NULL, *share = NULL, *fixed = NULL, *cap = NULL, *slice;
        bool json = false;
        const struct arg_option options[] = {
                OPT_STRING("revenue-share", &share),
                OPT_STRING("fixed-return", &fixed),
                OPT_STRING("cap", &cap),
                OPT_STRING("token", &given),
                OPT_STRING("request-id", &request_id),
                OPT_FLAG("json", &json),
                {}
        };
        _cleanup_(freep) char *token = NULL;
        uint64_t ppm;
        int64_t amount;
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, help,
                             "Usage: prepay invest open SLICE (--revenue-share PCT | --fixed-return PCT) [--cap AMOUNT]",
                             NULL, &slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (!share == !fixed) {
                log_error("Give one of --revenue-share and --fixed-return.");
                return 2;
        }
        if (parse_percent(share ?: fixed, &ppm) < 0) {
                arg_invalid(share ? "--revenue-share" : "--fixed-return", share ?: fixed,
                            "a percentage such as 50% (at most four decimals)");
                return 2;
        }
        if (cap && (money_parse(cap, &amount) < 0 || amount <= 0)) {
                arg_invalid("--cap", cap, "an amount above 0 such as 5.00");
                return 2;
        }

        (void) client_find_token(slice, given, &token);
        req = client_request_slice("invest_open", slice, token);
        if (req) {
                json_object_object_add(req, share ? "revenue_share" : "fixed_return",
                                       json_object_new_string(share ?: fixed));
                if (cap)
                        json_object_object_add(req, "cap", json_object_new_string(cap));
                if (request_id)
                        json_object_object_add(req, "request_id", json_object_new_string(request_id));
        }
        return client_run(req, true, json, print_open, (void *) slice);
}

static void invest_help(void) {
        printf("Usage: prepay invest open SLICE ...\n\n"
               "Commands:\n"
               "  open       open a slice to investors, on terms (its owner)\n"
               "\nSee prepay invest open --help, prepay(1).\n");
}

int invest_main(int argc, char *argv[]) {
        static const struct verb verbs[] = {
                { "open", open_main, "open a slice to investors, on terms (its owner)" },
                {}
        };
        return args_dispatch(argc, argv, NULL, verbs, invest_help, "invest command", "prepay invest");
}
