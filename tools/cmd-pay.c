/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay pay: pay a slice as one of its users (revenue). Anyone may; the
 * slice's investors get their part by its terms, the rest goes onto its
 * balance. */
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay pay SLICE --voucher FILE [OPTIONS]\n"
               "\n"
               "Pays SLICE the voucher's amount as one of its users: revenue. If its owner\n"
               "opened it to investors (prepay invest open), their part by its terms is\n"
               "held for them to claim (prepay claim); the rest goes onto the slice's\n"
               "balance and pays for its running. The split is printed, and the receipt\n"
               "of the payment on standard error (saved beside the owner tokens; prepay\n"
               "receipt verify checks it). A voucher that is refused (forged, expired,\n"
               "spent, for another host, or a slice released or unknown) is not spent.\n"
               "\n"
               "  --voucher=FILE     The voucher (\"-\": standard input); up to 16 times:\n"
               "                     all are paid or none\n"
               "  --request-id=ID    Make a retry of this request harmless (default: random)\n"
               "  --json             Print the daemon's reply as JSON\n"
               "  -h, --help         Show this help\n");
}

struct pay {
        const char *slice;
        bool json;
};

static int print_pay(json_object *reply, void *userdata) {
        const struct pay *p = userdata;
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], c[MONEY_FORMAT_MAX];
        const char *currency = "";
        json_object *o;

        (void) client_keep_receipt(p->slice, reply, !p->json);
        if (p->json) {
                client_print_json(reply);
                return 0;
        }
        (void) message_get_string(reply, "currency", &currency);
        printf("Slice %s paid %s %s: %s to its investors, %s to the slice.\n", p->slice,
               money_format(a, sizeof(a), json_object_object_get_ex(reply, "paid", &o) ? json_object_get_int64(o) : 0),
               currency,
               money_format(b, sizeof(b),
                            json_object_object_get_ex(reply, "to_investors", &o) ? json_object_get_int64(o) : 0),
               money_format(c, sizeof(c), json_object_object_get_ex(reply, "to_slice", &o) ? json_object_get_int64(o) : 0));
        return 0;
}

int pay_main(int argc, char *argv[]) {
        const char *request_id = NULL;
        struct arg_vouchers vouchers = {};
        struct pay p = {};
        const struct arg_option options[] = {
                OPT_VOUCHERS(&vouchers),
                OPT_STRING("request-id", &request_id),
                OPT_FLAG("json", &p.json),
                {}
        };
        json_object *req;
        int r;

        r = args_parse_slice(argc, argv, options, help, "Usage: prepay pay SLICE --voucher FILE", NULL, &p.slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (vouchers.n == 0) {
                log_error("Usage: prepay pay SLICE --voucher FILE");
                return 2;
        }
        /* With --host, through the storefront (POST /v1/slices/ID/pay). */
        req = client_request_slice("pay", p.slice, NULL);
        if (req && client_add_vouchers(req, &vouchers) < 0) {
                json_object_put(req);
                return 1;
        }
        if (req && request_id)
                json_object_object_add(req, "request_id", json_object_new_string(request_id));
        /* --json is printed after the receipt is kept: print_pay. */
        return client_run(req, true, false, print_pay, &p);
}
