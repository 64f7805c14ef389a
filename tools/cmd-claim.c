/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay claim: a keyed funder takes its share of a released slice back
 * as change, proving with its private key that the funder key is its
 * own (a signed claim statement, common/claim.h); on this host or, with
 * --host, through its storefront. */
#include "common/claim.h"
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay claim SLICE --funder-key FILE [OPTIONS]\n"
               "\n"
               "Claims what SLICE holds for a funder key (one given with --funder-key to\n"
               "run or topup): its share of the released slice by its donation model, and\n"
               "the revenue it earned as an investor and did not claim yet, together as a\n"
               "change voucher signed by the host, printed on standard output (or written\n"
               "to --out). FILE is the funder's private key (PEM): the claim is signed with\n"
               "it on this machine; only the signed claim is sent. A share is paid once:\n"
               "a second claim is refused, naming the first. Revenue may be claimed again\n"
               "as more is earned; a claim with nothing to pay is refused, saying why.\n"
               "\n"
               "  --funder-key=FILE  The funder's Ed25519 private key (PEM)\n"
               "  --out=FILE         Write the change voucher(s) to FILE (mode 0600)\n"
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

struct claim_args {
        const char *slice, *out;
        bool json;
};

/* Keeps the change (--out), then says what happened. */
static int claim_done(json_object *reply, void *userdata) {
        const struct claim_args *a = userdata;
        const char *change = NULL, *currency = "";
        char m[MONEY_FORMAT_MAX];
        json_object *o;
        int r;

        (void) message_get_string(reply, "change", &change);
        (void) message_get_string(reply, "currency", &currency);
        r = client_write_change(a->out, change);
        if (r < 0)
                return r;
        if (a->json) {
                client_print_json(reply);
                return 0;
        }
        if (change && !a->out)
                printf("%s\n", change);
        fprintf(stderr, "Slice %s: %s %s claimed, paid as %s%s", a->slice,
                money_format(m, sizeof(m), json_object_object_get_ex(reply, "claimed", &o) ? json_object_get_int64(o) : 0),
                currency, a->out ? "change in " : "the change above", a->out ?: "");
        if (json_object_object_get_ex(reply, "revenue", &o) && json_object_get_int64(o) > 0) {
                fprintf(stderr, " (revenue %s", money_format(m, sizeof(m), json_object_get_int64(o)));
                fprintf(stderr, ", share %s)",
                        money_format(m, sizeof(m),
                                     json_object_object_get_ex(reply, "share", &o) ? json_object_get_int64(o) : 0));
        }
        fprintf(stderr, ".\n");
        if (json_object_object_get_ex(reply, "revenue_left", &o))
                fprintf(stderr, "%s %s more earned is left for another claim.\n",
                        money_format(m, sizeof(m), json_object_get_int64(o)), currency);
        return 0;
}

int claim_main(int argc, char *argv[]) {
        struct claim_args a = {};
        const char *request_id = NULL, *key_path = NULL;
        const struct arg_option options[] = {
                OPT_STRING("funder-key", &key_path),
                OPT_STRING("out", &a.out),
                OPT_STRING("request-id", &request_id),
                OPT_FLAG("json", &a.json),
                {}
        };
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, help, "Usage: prepay claim SLICE --funder-key FILE", NULL,
                             &a.slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (!key_path) {
                log_error("Usage: prepay claim SLICE --funder-key FILE");
                return 2;
        }
        req = client_request_slice("claim", a.slice, NULL);
        if (!req)
                return 1; /* said */
        if (client_add_funder_statement(req, "claim", CLAIM_PURPOSE_CLAIM, a.slice, key_path) < 0) {
                json_object_put(req);
                return 1;
        }
        if (request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        /* --json is printed after the change is safe: claim_done. */
        return client_run(req, true, false, claim_done, &a);
}
