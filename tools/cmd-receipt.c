/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay receipt: show and check a receipt offline, without prepayd. */
#include "common/crypto.h"
#include "common/log.h"
#include "common/money.h"
#include "common/receipt.h"
#include "prepay.h"

#define VERIFY_ARGS "prepay receipt verify [--key KEY | --key-file FILE] RECEIPT|FILE|- [--json]"
#define SHOW_ARGS "prepay receipt show RECEIPT|FILE|- [--json]"
#define USAGE_VERIFY "Usage: " VERIFY_ARGS
#define USAGE_SHOW "Usage: " SHOW_ARGS
/* A receipt is one line of at most RECEIPT_TEXT_MAX; a file of a slice's
 * receipts is not one receipt. */
#define RECEIPT_INPUT_MAX (RECEIPT_TEXT_MAX + 64)

static void help(void) {
        printf("Usage: %s\n       %s\n"
               "\n"
               "Reads a receipt: its pr1-... text, a file holding it, or - for standard\n"
               "input. prepayd signs one with its host key for each payment into a slice\n"
               "(run, topup) and out of it (release); prepay saves them beside the owner\n"
               "tokens, in SLICE.receipts (prepay(1)).\n"
               "\n"
               "  verify   Checks that the host key signed it, and prints what it proves.\n"
               "           Exits 0 if valid, 1 if not (saying why).\n"
               "  show     Prints its fields. Does not check the signature.\n"
               "\n"
               "See 'prepay receipt verify --help', 'prepay receipt show --help' and\n"
               "prepay-receipt(5).\n",
               VERIFY_ARGS, SHOW_ARGS);
}

static void show_help(void) {
        printf("%s\n"
               "\n"
               "Prints a receipt's fields, one per line. The signature is not checked:\n"
               "anyone can write such a text; see prepay receipt verify.\n"
               "\n"
               "  --json      Print the fields as JSON (amounts in micro-units)\n"
               "  -h, --help  Show this help\n",
               USAGE_SHOW);
}

static void verify_help(void) {
        printf("%s\n"
               "\n"
               "Checks offline that a receipt was signed by the host key given, and prints\n"
               "what it then proves, one line per field. Exits 0 if valid, 1 if not.\n"
               "\n"
               "  --key=KEY        The host's public key: the one line prepayd's quote\n"
               "                   reply gives as host_key (prepay quote --json), the\n"
               "                   base64 line of its .pub PEM file\n"
               "  --key-file=FILE  The host's public key file (PEM, as prepay keygen\n"
               "                   writes it; a private key file gives its public half)\n"
               "  --json           Print the result and the fields as JSON\n"
               "  -h, --help       Show this help\n",
               USAGE_VERIFY);
}

/* How many lines of s hold something. */
static size_t count_lines(const char *s) {
        size_t n = 0;

        for (const char *p = s; *p; p += strcspn(p, "\n"), p += *p == '\n') {
                size_t len = strcspn(p, "\n");

                if (strspn(p, " \t\r") < len)
                        n++;
        }
        return n;
}

/* The operand: a receipt's text itself, "-" for standard input, or a
 * file; its text in *ret, to free. A SLICE.receipts file of several is
 * refused with how to pick one, rather than called damaged. */
static int read_operand(const char *arg, char **ret) {
        _cleanup_(freep) char *text = NULL;
        size_t n;
        int r;

        if (strneq(arg, RECEIPT_TEXT_PREFIX, strlen(RECEIPT_TEXT_PREFIX)))
                return (*ret = strdup(arg)) ? 0 : log_oom();
        /* Room for a few receipts, to say how many there are. */
        r = client_read_text(arg, "receipt file", 64 * RECEIPT_INPUT_MAX, &text);
        if (r < 0)
                return r;
        n = count_lines(text);
        if (n > 1) {
                log_error("%s holds %zu lines, one receipt each: give one (sed -n 2p %s | prepay receipt ... -).",
                          streq(arg, "-") ? "Standard input" : arg, n, streq(arg, "-") ? "FILE" : arg);
                return -EINVAL;
        }
        *ret = TAKE_PTR(text);
        return 0;
}

static int read_receipt(const char *arg, struct receipt *ret) {
        _cleanup_(freep) char *text = NULL;
        const char *error = NULL;
        int r;

        r = read_operand(arg, &text);
        if (r < 0)
                return r;
        r = receipt_from_text(text, ret, &error);
        if (r < 0) {
                if (streq(arg, "-") || strneq(arg, RECEIPT_TEXT_PREFIX, strlen(RECEIPT_TEXT_PREFIX)))
                        log_error("%s.", strna(error));
                else
                        log_error("%s: %s.", arg, strna(error));
                return r;
        }
        return 0;
}

static const char *kind_meaning(enum receipt_kind k) {
        switch (k) {
        case RECEIPT_CREATE:
                return "create: the slice bought, paid for with the vouchers below";
        case RECEIPT_TOPUP:
                return "topup: the vouchers below paid into the slice";
        case RECEIPT_PAY:
                return "pay: the vouchers below paid to the slice by a user (revenue; its investors' part held "
                       "for them)";
        case RECEIPT_RELEASE:
        default:
                return "release: the slice closed, its balance paid out as change";
        }
}

static void print_fields(const struct receipt *rc) {
        char amount[MONEY_FORMAT_MAX], balance[MONEY_FORMAT_MAX], when[RECEIPT_TIME_STRING_MAX];
        char key[2 * CRYPTO_KEY_ID_SIZE + 1], id[VOUCHER_ID_STRING_MAX];

        printf("kind:       %s\n"
               "slice:      %s\n"
               "request id: %s\n"
               "amount:     %s %s %s\n"
               "balance:    %s %s after it\n"
               "time:       %s\n"
               "host:       %s\n"
               "host key:   %s\n",
               kind_meaning(rc->kind), rc->slice, rc->request_id[0] ? rc->request_id : "none",
               money_format(amount, sizeof(amount), rc->amount), rc->currency,
               rc->kind == RECEIPT_RELEASE ? "paid out as change" : "paid in",
               money_format(balance, sizeof(balance), rc->balance), rc->currency,
               receipt_time_to_string(rc->time_usec, when), rc->host_id,
               hex_encode(rc->host_key, sizeof(rc->host_key), key));
        if (rc->n_vouchers == 0)
                printf("vouchers:   none spent\n");
        for (size_t i = 0; i < rc->n_vouchers; i++)
                printf("%s%s\n", i == 0 ? "vouchers:   " : "            ", voucher_id_to_string(rc->vouchers[i], id));
}

/* The fields as JSON, with "verified" (and "valid": true when it was);
 * NULL on OOM (said). */
static json_object *fields_json(const struct receipt *rc, bool verified) {
        char text[MONEY_FORMAT_MAX], when[RECEIPT_TIME_STRING_MAX], key[2 * CRYPTO_KEY_ID_SIZE + 1];
        char id[VOUCHER_ID_STRING_MAX];
        json_object *o, *vouchers;
        bool ok;

        o = json_object_new_object();
        vouchers = json_object_new_array();
        ok = o && vouchers;
        for (size_t i = 0; ok && i < rc->n_vouchers; i++)
                ok = json_object_array_add(vouchers,
                                           json_object_new_string(voucher_id_to_string(rc->vouchers[i], id))) >= 0;
        if (ok && verified)
                ok = json_object_object_add(o, "valid", json_object_new_boolean(true)) >= 0;
        ok = ok && json_object_object_add(o, "verified", json_object_new_boolean(verified)) >= 0 &&
             json_object_object_add(o, "kind", json_object_new_string(receipt_kind_to_string(rc->kind))) >= 0 &&
             json_object_object_add(o, "slice", json_object_new_string(rc->slice)) >= 0 &&
             json_object_object_add(o, "request_id",
                                    rc->request_id[0] ? json_object_new_string(rc->request_id) : NULL) >= 0 &&
             json_object_object_add(o, "amount", json_object_new_int64(rc->amount)) >= 0 &&
             json_object_object_add(o, "amount_text",
                                    json_object_new_string(money_format(text, sizeof(text), rc->amount))) >= 0 &&
             json_object_object_add(o, "balance", json_object_new_int64(rc->balance)) >= 0 &&
             json_object_object_add(o, "balance_text",
                                    json_object_new_string(money_format(text, sizeof(text), rc->balance))) >= 0 &&
             json_object_object_add(o, "currency", json_object_new_string(rc->currency)) >= 0 &&
             json_object_object_add(o, "time_usec", json_object_new_int64(rc->time_usec)) >= 0 &&
             json_object_object_add(o, "time", json_object_new_string(receipt_time_to_string(rc->time_usec, when))) >=
                     0 &&
             json_object_object_add(o, "host_id", json_object_new_string(rc->host_id)) >= 0 &&
             json_object_object_add(o, "host_key_id",
                                    json_object_new_string(hex_encode(rc->host_key, sizeof(rc->host_key), key))) >= 0 &&
             json_object_object_add(o, "vouchers", json_object_get(vouchers)) >= 0;
        json_object_put(vouchers);
        if (!ok) {
                json_object_put(o);
                log_oom();
                return NULL;
        }
        return o;
}

static int print_json(json_object *o) {
        if (!o)
                return -ENOMEM;
        client_print_json(o);
        json_object_put(o);
        return 0;
}

static int show_main(int argc, char *argv[]) {
        bool json = false;
        const struct arg_option options[] = {
                OPT_FLAG("json", &json),
                {}
        };
        struct receipt rc;
        int r;

        r = args_parse(argc, argv, options, false, show_help);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (argc - optind != 1) {
                log_error("%s. " USAGE_SHOW, optind >= argc ? "No receipt given" : "Only one receipt at a time");
                return 2;
        }

        if (read_receipt(argv[optind], &rc) < 0)
                return 1;
        if (json)
                return print_json(fields_json(&rc, false)) < 0 ? 1 : 0;
        print_fields(&rc);
        printf("signature:  not checked (see prepay receipt verify)\n");
        return 0;
}

/* --key's text or --key-file's file; said on failure. */
static int load_key(const char *text, const char *file, struct crypto_key **ret) {
        _cleanup_(freep) char *error = NULL;
        int r;

        if (text) {
                r = crypto_key_from_public_text(text, ret);
                if (r < 0)
                        log_error("Invalid --key: expected an Ed25519 public key, the one line of base64 that quote "
                                  "gives as host_key (\"MCowBQYDK2VwAyEA...\") or a .pub file's PEM text.");
                return r;
        }
        r = crypto_key_load(file, ret, &error);
        if (r < 0)
                log_error("Failed to load key %s: %s.", file, strna(error));
        return r;
}

/* The refusal: said on standard error, and with --json as JSON too. */
static int refuse(bool json, const char *why) {
        json_object *o;

        log_error("%s.", why);
        if (json) {
                o = json_object_new_object();
                if (o && json_object_object_add(o, "valid", json_object_new_boolean(false)) >= 0 &&
                    json_object_object_add(o, "error", json_object_new_string(why)) >= 0)
                        client_print_json(o);
                json_object_put(o);
        }
        return 1;
}

static int verify_main(int argc, char *argv[]) {
        const char *key_text = NULL, *key_file = NULL;
        bool json = false;
        const struct arg_option options[] = {
                OPT_STRING("key", &key_text),
                OPT_STRING("key-file", &key_file),
                OPT_FLAG("json", &json),
                {}
        };
        _cleanup_(freep) char *text = NULL, *verror = NULL;
        char kid[2 * CRYPTO_KEY_ID_SIZE + 1];
        const char *error = NULL;
        struct crypto_key *k = NULL;
        struct receipt rc;
        int r, rc_exit = 1;

        r = args_parse(argc, argv, options, false, verify_help);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (argc - optind != 1) {
                log_error("%s. " USAGE_VERIFY, optind >= argc ? "No receipt given" : "Only one receipt at a time");
                return 2;
        }
        if (!key_text == !key_file) {
                log_error("%s. " USAGE_VERIFY, key_text ? "Give --key or --key-file, not both"
                                                        : "No key given: --key KEY (quote's host_key) or "
                                                          "--key-file FILE (the host's .pub file)");
                return 2;
        }

        if (read_operand(argv[optind], &text) < 0)
                return 1;
        if (load_key(key_text, key_file, &k) < 0)
                return 1;

        if (receipt_from_text(text, &rc, &error) < 0)
                rc_exit = refuse(json, strna(error));
        else if ((r = receipt_verify(&rc, k, &verror)) < 0)
                rc_exit = refuse(json, verror ?: strerror(-r));
        else if (json)
                rc_exit = print_json(fields_json(&rc, true)) < 0 ? 1 : 0;
        else {
                printf("valid: signed by host key %s, the key given\n"
                       "It proves that the holder of that key (host %s) signed what follows;\n"
                       "not what the slice has used or holds since.\n",
                       hex_encode(rc.host_key, sizeof(rc.host_key), kid), rc.host_id);
                print_fields(&rc);
                rc_exit = 0;
        }
        crypto_key_free(k);
        return rc_exit;
}

int receipt_main(int argc, char *argv[]) {
        if (argc < 2) {
                log_error("No subcommand given. Usage: prepay receipt verify|show RECEIPT|FILE|- [OPTIONS]");
                return 2;
        }
        if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
                help();
                return 0;
        }

        /* The subcommand takes its own options (args_parse starts getopt
         * afresh). */
        if (streq(argv[1], "verify"))
                return verify_main(argc - 1, argv + 1);
        if (streq(argv[1], "show"))
                return show_main(argc - 1, argv + 1);

        log_error("Unknown subcommand '%s'. Usage: prepay receipt verify|show RECEIPT|FILE|- [OPTIONS]", argv[1]);
        return 2;
}
