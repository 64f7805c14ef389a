/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay release: stop a slice's work, pay its last usage and get what is
 * left back as a change voucher, signed by the host. */
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay release SLICE [OPTIONS]\n"
               "\n"
               "Kills every process in SLICE, charges its usage to the last microsecond\n"
               "and refunds the balance as a change voucher signed by this host, printed\n"
               "on standard output (or written to --out); above 1000000000.00, as several\n"
               "vouchers, one per line. Needs the slice's owner token (or root). Releasing\n"
               "a released slice prints the same change again, given the owner token.\n"
               "A slice bought with the pro-rata or lifo donation model pays the owner only\n"
               "its share and the anonymous funders': each keyed funder's share is held\n"
               "for it to claim.\n"
               "The receipt of the payout is printed on standard error and saved beside\n"
               "the owner tokens (prepay receipt verify checks it).\n"
               "\n"
               HELP_TOKEN
               "  --keep             Stop the work but keep the balance on the slice\n"
               "  --out=FILE         Write the change voucher(s) to FILE (mode 0600)\n"
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

struct release {
        const char *slice, *out;
        bool keep, json;
};

/* Keeps the change (--out), forgets a released slice's token, then
 * says what happened. */
static int release_done(json_object *reply, void *userdata) {
        const struct release *rel = userdata;
        const char *change = NULL, *currency = "";
        char a[MONEY_FORMAT_MAX];
        json_object *o;
        int r;

        (void) message_get_string(reply, "change", &change);
        (void) message_get_string(reply, "currency", &currency);
        r = client_write_change(rel->out, change);
        if (r < 0)
                return r;
        if (!rel->keep)
                client_forget_token(rel->slice);
        (void) client_keep_receipt(rel->slice, reply, !rel->json);

        if (rel->json)
                client_print_json(reply);
        else if (rel->keep && json_object_object_get_ex(reply, "kept", &o))
                fprintf(stderr, "Slice %s stopped; %s %s kept on it.\n", rel->slice,
                        money_format(a, sizeof(a), json_object_get_int64(o)), currency);
        else {
                int64_t refund = json_object_object_get_ex(reply, "refund", &o) ? json_object_get_int64(o) : 0;

                if (change && !rel->out)
                        printf("%s\n", change);
                fprintf(stderr, "Slice %s %sreleased; %s %s refunded%s%s.\n", rel->slice,
                        json_object_object_get_ex(reply, "released_before", NULL) ? "was already " : "",
                        money_format(a, sizeof(a), refund), currency,
                        change ? (rel->out ? " as change in "
                                           : strchr(change, '\n') ? " as the change vouchers above"
                                                                  : " as the change voucher above")
                               : "",
                        change && rel->out ? rel->out : "");
                if (json_object_object_get_ex(reply, "held_for_funders", &o))
                        fprintf(stderr, "%s %s held for the slice's keyed funders (its donation model).\n", money_format(a, sizeof(a), json_object_get_int64(o)),
                                currency);
        }
        return 0;
}

int release_main(int argc, char *argv[]) {
        struct release rel = {};
        const char *given = NULL, *request_id = NULL;
        const struct arg_option options[] = {
                OPT_STRING("token", &given),
                OPT_FLAG("keep", &rel.keep),
                OPT_STRING("out", &rel.out),
                OPT_STRING("request-id", &request_id),
                OPT_FLAG("json", &rel.json),
                {}
        };
        _cleanup_(freep) char *token = NULL;
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, help,
                             "Usage: prepay release SLICE [--keep] [--token TOKEN] [--out FILE]", NULL, &rel.slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        (void) client_find_token(rel.slice, given, &token);
        req = client_request_slice("release", rel.slice, token);
        if (req && rel.keep)
                json_object_object_add(req, "keep", json_object_new_boolean(true));
        if (req && request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        /* --json is printed after the change is safe: release_done. */
        return client_run(req, true, false, release_done, &rel);
}
