/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay topup: add a voucher's amount to a slice. Anyone holding a voucher
 * may fund any slice; no owner token is needed. */
#include <getopt.h>

#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay topup SLICE --voucher FILE [OPTIONS]\n"
               "\n"
               "Adds the voucher's amount to SLICE's balance. Anyone may top up any slice.\n"
               "A voucher that is refused (forged, expired, spent, for another host or\n"
               "currency, or a slice that does not exist) is not spent.\n"
               "\n"
               "  --voucher=FILE     The voucher (\"-\": standard input)\n"
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

int topup_main(int argc, char *argv[]) {
        enum { ARG_VOUCHER = 0x100, ARG_REQUEST_ID, ARG_JSON };
        static const struct option options[] = {
                { "voucher", required_argument, NULL, ARG_VOUCHER },
                { "request-id", required_argument, NULL, ARG_REQUEST_ID },
                { "json", no_argument, NULL, ARG_JSON },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        const char *voucher_path = NULL, *request_id = NULL, *slice;
        _cleanup_(freep) char *text = NULL;
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX];
        json_object *req, *reply = NULL, *o;
        struct slice_info info = {};
        int64_t credited = 0;
        bool json = false;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_VOUCHER:
                        voucher_path = optarg;
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
        if (optind + 1 != argc || !voucher_path) {
                log_error("Usage: prepay topup SLICE --voucher FILE");
                return 2;
        }
        slice = argv[optind];
        if (!slice_id_is_valid(slice)) {
                log_error("Invalid slice id '%s': expected s- and 8 to 16 hex digits.", slice);
                return 2;
        }
        if (client_read_voucher(voucher_path, &text) < 0)
                return 1;

        req = client_request("topup");
        json_object_object_add(req, "slice", json_object_new_string(slice));
        json_object_object_add(req, "voucher", json_object_new_string(text));
        if (request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        if (client_call_money(req, &reply) < 0)
                return 1;

        if (json) {
                printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PRETTY));
                json_object_put(reply);
                return 0;
        }
        if (json_object_object_get_ex(reply, "credited", &o))
                credited = json_object_get_int64(o);
        if (json_object_object_get_ex(reply, "slice", &o))
                (void) slice_info_from_json(o, &info, NULL);
        else if (json_object_object_get_ex(reply, "balance", &o)) {
                const char *currency = "";

                info.account.balance = json_object_get_int64(o);
                info.account.funded = true;
                (void) message_get_string(reply, "currency", &currency);
                snprintf(info.account.currency, sizeof(info.account.currency), "%s", currency);
        }
        printf("Slice %s topped up with %s %s; balance now %s %s.\n", slice, money_format(a, sizeof(a), credited),
               info.account.currency, money_format(b, sizeof(b), info.account.balance), info.account.currency);
        json_object_put(reply);
        return 0;
}
