/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay funders: who funded a slice, and each funder's position. */
#include "common/claim.h"
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay funders SLICE [--json] [--token TOKEN | --funder-key FILE]\n"
               "\n"
               "Shows who funded SLICE, from the host's ledger: each funder key (the hex of\n"
               "its public key) and the anonymous funders as one, with its position:\n"
               "  PUT IN     what it credited (top-ups, investments)\n"
               "  SPENT      what of it does not come back to it: what it put in less its\n"
               "             share by the donation model (at release; before, the share it\n"
               "             would get were the slice released now)\n"
               "  REFUNDED   its share, once the slice is released\n"
               "  EARNED     revenue it earned as an investor (prepay invest, prepay pay)\n"
               "  CLAIMABLE  what prepay claim pays it now: its share held for it and the\n"
               "             revenue it earned and did not claim yet\n"
               "The anonymous share is paid with the owner's change (or kept by the host,\n"
               "where it says so). On the host anyone may ask; over HTTPS (--host) the\n"
               "owner token shows every funder, and a funder's key (--funder-key, which\n"
               "signs a proof: only the proof is sent) its own.\n"
               "\n"
               "  --json             Print the daemon's reply as JSON\n"
               HELP_TOKEN
               HELP_TOKEN_FILE
               "  --funder-key=FILE  A funder's Ed25519 private key (PEM)\n"
               "  -h, --help         Show this help\n");
}

static int64_t get_i64(json_object *o, const char *key) {
        json_object *v;

        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

static void print_investors(json_object *reply, const char *currency) {
        const char *terms = "?", *rate = "?";
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX];
        json_object *inv;

        if (!json_object_object_get_ex(reply, "investors", &inv) || !inv)
                return;
        (void) message_get_string(inv, "terms", &terms);
        (void) message_get_string(inv, "rate", &rate);
        printf("open to investors: %s %s%s%s; %s %s invested, %s earned (%s claimed); %s revenue kept by the slice\n",
               terms, rate, get_i64(inv, "cap") > 0 ? ", cap " : "",
               get_i64(inv, "cap") > 0 ? money_format(a, sizeof(a), get_i64(inv, "cap")) : "",
               money_format(b, sizeof(b), get_i64(inv, "invested")), currency,
               money_format(c, sizeof(c), get_i64(inv, "earned")),
               money_format(a, sizeof(a), get_i64(inv, "claimed")),
               money_format((char[MONEY_FORMAT_MAX]) {}, MONEY_FORMAT_MAX, get_i64(reply, "revenue")));
}

static int print_funders(json_object *reply, void *userdata) {
        const char *slice = userdata, *model = "?", *currency = "", *anonymous = "owner";
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX], d[MONEY_FORMAT_MAX], e[MONEY_FORMAT_MAX];
        bool released = false;
        json_object *list = NULL;

        (void) message_get_string(reply, "donation_model", &model);
        (void) message_get_string(reply, "anonymous_share", &anonymous);
        (void) message_get_string(reply, "currency", &currency);
        (void) message_get_bool(reply, "released", &released);
        (void) json_object_object_get_ex(reply, "funders", &list);
        printf("slice %s: donation model %s, %s; %s %s put in\n", slice, model,
               released ? "released" : "not released (shares as if released now)",
               money_format(a, sizeof(a), get_i64(reply, "credited")), currency);
        print_investors(reply, currency);
        printf("%-64s %13s %13s %13s %13s %13s\n", "FUNDER", "PUT IN", "SPENT", "REFUNDED", "EARNED", "CLAIMABLE");
        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                json_object *f = json_object_array_get_idx(list, i), *k = NULL;
                bool keyed = json_object_object_get_ex(f, "funder_key", &k) && k;

                money_format(a, sizeof(a), get_i64(f, "put_in"));
                money_format(b, sizeof(b), get_i64(f, "spent"));
                money_format(c, sizeof(c), get_i64(f, "refunded"));
                money_format(d, sizeof(d), get_i64(f, "earned"));
                money_format(e, sizeof(e), get_i64(f, "claimable"));
                printf("%-64s %13s %13s %13s %13s %13s\n", keyed ? json_object_get_string(k) : "anonymous", a, b,
                       c, d, keyed ? e : streq(anonymous, "host") ? "(to the host)" : "(with change)");
        }
        return 0;
}

int funders_main(int argc, char *argv[]) {
        _cleanup_(freep) char *token = NULL;
        struct arg_token t = {};
        const char *slice, *key_path = NULL;
        bool json = false;
        const struct arg_option options[] = {
                OPT_FLAG("json", &json),
                OPT_TOKEN(&t),
                OPT_TOKEN_FILE(&t),
                OPT_STRING("funder-key", &key_path),
                {}
        };
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, help, "Usage: prepay funders SLICE [--json]", NULL, &slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (arg_token_check(&t) < 0)
                return 2;
        if (key_path && (t.given || t.file)) {
                log_error("--funder-key and --token do not go together: the token shows every funder.");
                return 2;
        }
        if (!key_path && arg_token_find(&t, slice, &token) < 0)
                return 1;
        req = client_request_slice("funders", slice, token);
        if (req && key_path &&
            client_add_funder_statement(req, "funder_proof", CLAIM_PURPOSE_EVENTS, slice, key_path) < 0) {
                json_object_put(req);
                return 1;
        }
        if (!req)
                return 1;
        return client_run(req, false, json, print_funders, (void *) slice);
}
