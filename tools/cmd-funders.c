/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay funders: who funded a slice, and each funder's position. */
#include "common/claim.h"
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay funders SLICE [--json] [--token TOKEN | --funder-key FILE]\n"
               "\n"
               "Shows who funded SLICE, from the host's ledger: each funder key (the hex of\n"
               "its public key) and the anonymous funders as one, with what each put in;\n"
               "once the slice is released, each one's share by its donation model, what\n"
               "is held for it still and what it claimed (prepay claim). The anonymous\n"
               "share is paid with the owner's change. On the host anyone may ask; over\n"
               "HTTPS (--host) the owner token shows every funder, and a funder's key\n"
               "(--funder-key, which signs a proof: only the proof is sent) its own.\n"
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

static int print_funders(json_object *reply, void *userdata) {
        const char *slice = userdata, *model = "?", *currency = "", *anonymous = "owner";
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX], d[MONEY_FORMAT_MAX];
        bool released = false;
        json_object *list = NULL;

        (void) message_get_string(reply, "donation_model", &model);
        (void) message_get_string(reply, "anonymous_share", &anonymous);
        (void) message_get_string(reply, "currency", &currency);
        (void) message_get_bool(reply, "released", &released);
        (void) json_object_object_get_ex(reply, "funders", &list);
        printf("slice %s: donation model %s, %s; %s %s put in\n", slice, model,
               released ? "released" : "not released (no share yet)",
               money_format(a, sizeof(a), get_i64(reply, "credited")), currency);
        printf("%-64s %14s %14s %14s %14s\n", "FUNDER", "PUT IN", "SHARE", "HELD", "CLAIMED");
        for (size_t i = 0; list && i < json_object_array_length(list); i++) {
                json_object *f = json_object_array_get_idx(list, i), *k = NULL;
                bool keyed = json_object_object_get_ex(f, "funder", &k) && k;

                money_format(a, sizeof(a), get_i64(f, "put"));
                money_format(b, sizeof(b), get_i64(f, "share"));
                money_format(c, sizeof(c), get_i64(f, "held"));
                money_format(d, sizeof(d), get_i64(f, "claimed"));
                printf("%-64s %14s %14s %14s %14s\n", keyed ? json_object_get_string(k) : "anonymous", a, b,
                       keyed ? c : "-", keyed ? d : streq(anonymous, "host") ? "(to the host)" : "(with change)");
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
