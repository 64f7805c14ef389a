/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay topup: add a voucher's amount to a slice. Anyone holding a voucher
 * may fund any slice; no owner token is needed. */
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay topup SLICE --voucher FILE [OPTIONS]\n"
               "\n"
               "Adds the voucher's amount to SLICE's balance. Anyone may top up any slice.\n"
               "A voucher that is refused (forged, expired, spent, for another host or\n"
               "currency, or a slice that does not exist) is not spent. The receipt of\n"
               "the payment is printed on standard error and saved beside the owner\n"
               "tokens (prepay receipt verify checks it).\n"
               "\n"
               "  --voucher=FILE     The voucher (\"-\": standard input); up to 16 times:\n"
               "                     all are redeemed or none\n"
               "  --funder-key=FILE  Record the credit as this funder's: an Ed25519 key in\n"
               "                     PEM (private or public; the public half is sent)\n"
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

struct topup {
        const char *slice;
        bool json;
};

/* Keeps the receipt, then says what happened. */
static int print_topup(json_object *reply, void *userdata) {
        const struct topup *t = userdata;
        const char *slice = t->slice;
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX];
        struct slice_info info = {};
        int64_t credited = 0;
        json_object *o;

        (void) client_keep_receipt(slice, reply, !t->json);
        if (t->json) {
                client_print_json(reply);
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
        return 0;
}

int topup_main(int argc, char *argv[]) {
        const char *request_id = NULL, *funder_key = NULL;
        struct arg_vouchers vouchers = {};
        struct topup t = {};
        const struct arg_option options[] = {
                OPT_VOUCHERS(&vouchers),
                OPT_STRING("request-id", &request_id),
                OPT_STRING("funder-key", &funder_key),
                OPT_FLAG("json", &t.json),
                {}
        };
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, help, "Usage: prepay topup SLICE --voucher FILE", NULL, &t.slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (vouchers.n == 0) {
                log_error("Usage: prepay topup SLICE --voucher FILE");
                return 2;
        }

        req = client_request_slice("topup", t.slice, NULL);
        if (req && (client_add_funder_key(req, funder_key) < 0 || client_add_vouchers(req, &vouchers) < 0)) {
                json_object_put(req);
                return 1;
        }
        if (req && request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        /* --json is printed after the receipt is kept: print_topup. */
        return client_run(req, true, false, print_topup, &t);
}
