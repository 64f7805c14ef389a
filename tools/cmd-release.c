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
               "\n"
               "  --token=TOKEN      The owner token (default: $PREPAY_TOKEN, or the one\n"
               "                     \"prepay run\" saved)\n"
               "  --keep             Stop the work but keep the balance on the slice\n"
               "  --out=FILE         Write the change voucher(s) to FILE (mode 0600)\n"
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

int release_main(int argc, char *argv[]) {
        const char *given = NULL, *out = NULL, *request_id = NULL, *slice, *change = NULL, *currency = "";
        bool keep = false, json = false;
        const struct arg_option options[] = {
                OPT_STRING("token", &given),
                OPT_FLAG("keep", &keep),
                OPT_STRING("out", &out),
                OPT_STRING("request-id", &request_id),
                OPT_FLAG("json", &json),
                {}
        };
        _cleanup_(freep) char *token = NULL, *line = NULL;
        char a[MONEY_FORMAT_MAX];
        json_object *req, *reply = NULL, *o;
        int r;

        r = args_parse(argc, argv, options, false, help);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (optind + 1 != argc) {
                log_error("Usage: prepay release SLICE [--keep] [--token TOKEN] [--out FILE]");
                return 2;
        }
        slice = argv[optind];
        if (arg_slice(slice) < 0)
                return 2;

        (void) client_find_token(slice, given, &token);
        req = client_request_slice("release", slice, token);
        if (!req)
                return 1;
        if (keep)
                json_object_object_add(req, "keep", json_object_new_boolean(true));
        if (request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        if (client_call_money(req, &reply) < 0)
                return 1;

        (void) message_get_string(reply, "change", &change);
        (void) message_get_string(reply, "currency", &currency);
        if (change && out) {
                if (asprintf(&line, "%s\n", change) < 0)
                        return log_oom(), 1;
                r = client_write_secret_file(out, line);
                if (r < 0) {
                        /* The change is money: never lose it. */
                        log_error_errno(r, "Failed to write the change to %s: %m. Here it is:", out);
                        printf("%s\n", change);
                        json_object_put(reply);
                        return 1;
                }
        }
        if (!keep)
                client_forget_token(slice);

        if (json)
                client_print_json(reply);
        else if (keep && json_object_object_get_ex(reply, "kept", &o))
                fprintf(stderr, "Slice %s stopped; %s %s kept on it.\n", slice,
                        money_format(a, sizeof(a), json_object_get_int64(o)), currency);
        else {
                int64_t refund = json_object_object_get_ex(reply, "refund", &o) ? json_object_get_int64(o) : 0;

                if (change && !out)
                        printf("%s\n", change);
                fprintf(stderr, "Slice %s %sreleased; %s %s refunded%s%s.\n", slice,
                        json_object_object_get_ex(reply, "released_before", NULL) ? "was already " : "",
                        money_format(a, sizeof(a), refund), currency,
                        change ? (out ? " as change in "
                                      : strchr(change, '\n') ? " as the change vouchers above"
                                                             : " as the change voucher above")
                               : "",
                        change && out ? out : "");
        }
        json_object_put(reply);
        return 0;
}
