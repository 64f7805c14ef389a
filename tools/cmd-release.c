/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay release: stop a slice's work, pay its last usage and get what is
 * left back as a change voucher, signed by the host. */
#include <getopt.h>

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
        enum { ARG_TOKEN = 0x100, ARG_KEEP, ARG_OUT, ARG_REQUEST_ID, ARG_JSON };
        static const struct option options[] = {
                { "token", required_argument, NULL, ARG_TOKEN },
                { "keep", no_argument, NULL, ARG_KEEP },
                { "out", required_argument, NULL, ARG_OUT },
                { "request-id", required_argument, NULL, ARG_REQUEST_ID },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *given = NULL, *out = NULL, *request_id = NULL, *slice, *change = NULL, *currency = "";
        _cleanup_(freep) char *token = NULL, *line = NULL;
        char a[MONEY_FORMAT_MAX];
        json_object *req, *reply = NULL, *o;
        bool keep = false, json = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_TOKEN:
                        given = optarg;
                        break;
                case ARG_KEEP:
                        keep = true;
                        break;
                case ARG_OUT:
                        out = optarg;
                        break;
                case ARG_REQUEST_ID:
                        request_id = optarg;
                        break;
                case ARG_JSON:
                        json = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        if (optind + 1 != argc) {
                log_error("Usage: prepay release SLICE [--keep] [--token TOKEN] [--out FILE]");
                return 2;
        }
        slice = argv[optind];
        if (!slice_id_is_valid(slice)) {
                log_error("Invalid slice id '%s': expected s- and 8 to 16 hex digits.", slice);
                return 2;
        }

        req = client_request("release");
        json_object_object_add(req, "slice", json_object_new_string(slice));
        if (client_find_token(slice, given, &token) >= 0)
                json_object_object_add(req, "token", json_object_new_string(token));
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
                printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
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
