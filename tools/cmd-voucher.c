/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay voucher: show and check a voucher offline, without prepayd. */
#include <sys/stat.h>
#include <time.h>

#include "common/crypto.h"
#include "common/log.h"
#include "common/money.h"
#include "common/voucher.h"
#include "prepay.h"

#define ISSUERS_DIR_DEFAULT "/etc/prepay/issuers.d"
/* A voucher is one short line; anything much longer is not one. */
#define VOUCHER_INPUT_MAX (64U * 1024U)

static void help(void) {
        printf("Usage: prepay voucher show FILE|- [--json]\n"
               "       prepay voucher verify FILE|- [--issuers DIR] [--key PUBKEY]...\n"
               "                                    [--currency CUR] [--audience HOST]\n"
               "\n"
               "Reads a voucher (a file holding its pv1-... line, or - for standard input).\n"
               "\n"
               "  show     Prints its fields. Does not check the signature.\n"
               "  verify   Checks it as prepayd would, short of spending it: a trusted\n"
               "           issuer, an intact signature and the validity period; the currency\n"
               "           and the host it is bound to when --currency and --audience\n"
               "           are given. Exits 0 if valid, 1 if not.\n"
               "\n"
               "See 'prepay voucher show --help', 'prepay voucher verify --help' and\n"
               "prepay-voucher(5).\n");
}

static void show_help(void) {
        printf("Usage: prepay voucher show FILE|- [--json]\n"
               "\n"
               "Prints a voucher's id, amount, issuer key id, validity period and the host\n"
               "it is bound to. The signature is not checked: see prepay voucher verify.\n"
               "\n"
               "  --json      Print the fields as JSON (amount in micro-units)\n"
               "  -h, --help  Show this help\n");
}

static void verify_help(void) {
        printf("Usage: prepay voucher verify FILE|- [OPTIONS]\n"
               "\n"
               "Checks a voucher offline: its issuer key is trusted, its signature holds,\n"
               "and it is valid now. Prints \"valid: ...\" and exits 0, or prints why not\n"
               "and exits 1. Whether it was already spent only prepayd's ledger knows.\n"
               "\n"
               "  --issuers=DIR     Trust the keys in DIR (*.pem, *.pub)\n"
               "  --key=FILE        Trust the key in FILE (public or private PEM); may be\n"
               "                    repeated. Without --issuers or --key: the keys in\n"
               "                    " ISSUERS_DIR_DEFAULT "\n"
               "  --currency=CUR    Require this currency (as prepayd's Currency=)\n"
               "  --audience=HOST   Check as host HOST would (as prepayd's HostId=)\n"
               "  -h, --help        Show this help\n");
}

/* The whole of path ("-": standard input), at most VOUCHER_INPUT_MAX. */
static int read_input(const char *path, char **ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;

        if (streq(path, "-")) {
                buf = malloc(VOUCHER_INPUT_MAX + 1);
                if (!buf)
                        return log_oom();
                for (;;) {
                        ssize_t n = read(STDIN_FILENO, buf + size, VOUCHER_INPUT_MAX + 1 - size);

                        if (n < 0) {
                                if (errno == EINTR)
                                        continue;
                                return log_error_errno(errno, "Failed to read standard input: %m");
                        }
                        if (n == 0)
                                break;
                        size += (size_t) n;
                        if (size > VOUCHER_INPUT_MAX)
                                break;
                }
                buf[MIN(size, (size_t) VOUCHER_INPUT_MAX)] = 0;
        } else {
                int r = read_full_file(path, &buf, &size);

                if (r < 0)
                        return log_error_errno(r, "Failed to read %s: %m", path);
        }

        if (size > VOUCHER_INPUT_MAX) {
                log_error("%s is too large to be a voucher.", streq(path, "-") ? "Standard input" : path);
                return -EFBIG;
        }
        if (strlen(buf) != size) {
                log_error("%s holds a NUL byte: not a voucher.", streq(path, "-") ? "Standard input" : path);
                return -EINVAL;
        }

        *ret = TAKE_PTR(buf);
        return 0;
}

static int read_voucher(const char *path, struct voucher *ret) {
        _cleanup_(freep) char *text = NULL;
        const char *error = NULL;
        int r;

        r = read_input(path, &text);
        if (r < 0)
                return r;
        r = voucher_from_text(text, ret, &error);
        if (r < 0) {
                if (streq(path, "-"))
                        log_error("%s.", strna(error));
                else
                        log_error("%s: %s.", path, strna(error));
                return r;
        }
        return 0;
}

static int show_json(const struct voucher *v) {
        char id[VOUCHER_ID_STRING_MAX], issuer[2 * CRYPTO_KEY_ID_SIZE + 1], amount[MONEY_FORMAT_MAX];
        json_object *o;
        int r = 0;

        o = json_object_new_object();
        if (!o)
                return log_oom();
        if (json_object_object_add(o, "id", json_object_new_string(voucher_id_to_string(v->id, id))) < 0 ||
            json_object_object_add(o, "amount", json_object_new_int64(v->amount)) < 0 ||
            json_object_object_add(o, "amount_text",
                                   json_object_new_string(money_format(amount, sizeof(amount), v->amount))) < 0 ||
            json_object_object_add(o, "currency", json_object_new_string(v->currency)) < 0 ||
            json_object_object_add(o, "issuer",
                                   json_object_new_string(hex_encode(v->issuer, sizeof(v->issuer), issuer))) < 0 ||
            json_object_object_add(o, "not_before", json_object_new_int64(v->not_before)) < 0 ||
            json_object_object_add(o, "not_after", json_object_new_int64(v->not_after)) < 0 ||
            json_object_object_add(o, "audience", v->audience[0] ? json_object_new_string(v->audience) : NULL) < 0)
                r = log_oom();
        else
                printf("%s\n",
                       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return r;
}

static void show_text(const struct voucher *v) {
        char id[VOUCHER_ID_STRING_MAX], issuer[2 * CRYPTO_KEY_ID_SIZE + 1], amount[MONEY_FORMAT_MAX];
        char from[VOUCHER_TIME_STRING_MAX], until[VOUCHER_TIME_STRING_MAX];

        printf("id:         %s\n"
               "amount:     %s %s\n"
               "issuer:     %s\n"
               "not-before: %s\n"
               "not-after:  %s\n"
               "audience:   %s\n"
               "signature:  not checked (see prepay voucher verify)\n",
               voucher_id_to_string(v->id, id), money_format(amount, sizeof(amount), v->amount), v->currency,
               hex_encode(v->issuer, sizeof(v->issuer), issuer), voucher_time_to_string(v->not_before, from),
               voucher_time_to_string(v->not_after, until), v->audience[0] ? v->audience : "any host");
}

static int show_main(int argc, char *argv[]) {
        bool json = false;
        const struct arg_option options[] = {
                OPT_FLAG("json", &json),
                {}
        };
        struct voucher v;
        int r;

        r = args_parse(argc, argv, options, false, show_help);
        if (r <= 0)
                return r < 0 ? 2 : 0;

        if (argc - optind != 1) {
                log_error("%s. Usage: prepay voucher show FILE|- [--json]",
                          optind >= argc ? "No voucher given" : "Only one voucher at a time");
                return 2;
        }

        if (read_voucher(argv[optind], &v) < 0)
                return 1;
        if (json)
                return show_json(&v) < 0 ? 1 : 0;
        show_text(&v);
        return 0;
}

static void keyringp(struct crypto_keyring **kr) {
        crypto_keyring_free(*kr);
}

static int add_key_file(struct crypto_keyring *kr, const char *path) {
        _cleanup_(freep) char *error = NULL;
        struct crypto_key *k;
        int r;

        r = crypto_key_load(path, &k, &error);
        if (r < 0) {
                log_error("Failed to load key %s: %s", path, strna(error));
                return r;
        }
        r = crypto_keyring_add(kr, k);
        if (r == -EEXIST)
                return 0; /* given twice: trusted all the same */
        if (r < 0)
                return log_error_errno(r, "Failed to add key %s: %m", path);
        return 0;
}

static int add_key_dir(struct crypto_keyring *kr, const char *dir, bool must_exist) {
        struct stat st;
        int r;

        if (stat(dir, &st) < 0) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                return log_error_errno(errno, "Failed to open issuers directory %s: %m", dir);
        }
        r = crypto_keyring_load_dir(kr, dir);
        if (r < 0)
                return log_error_errno(r, "Failed to read issuers directory %s: %m", dir);
        return 0;
}

static int arg_audience(const char *s, void *ret) {
        if (!voucher_audience_is_valid(s)) {
                log_error("Invalid --audience '%s': a host id is 1 to %d characters from A-Z a-z 0-9 . _ -.", s,
                          VOUCHER_AUDIENCE_MAX);
                return -EINVAL;
        }
        *(const char **) ret = s;
        return 0;
}

/* Each --key is kept (argv outlives verify_main) and loaded once all
 * options are known to be well-formed. */
struct key_list {
        const char **keys;
        size_t n;
};

static int arg_key(const char *s, void *ret) {
        struct key_list *l = ret;

        l->keys[l->n++] = s;
        return 0;
}

static int verify_main(int argc, char *argv[]) {
        const char *issuers = NULL, *currency = NULL, *audience = NULL;
        struct key_list keys = {};
        const struct arg_option options[] = {
                OPT_STRING("issuers", &issuers),
                OPT_CALL("key", arg_key, &keys),
                OPT_CALL("currency", arg_currency, &currency),
                OPT_CALL("audience", arg_audience, &audience),
                {}
        };
        _cleanup_(keyringp) struct crypto_keyring *kr = NULL;
        _cleanup_(freep) char *error = NULL;
        char id[VOUCHER_ID_STRING_MAX], issuer[2 * CRYPTO_KEY_ID_SIZE + 1], amount[MONEY_FORMAT_MAX];
        char until[VOUCHER_TIME_STRING_MAX];
        struct voucher v;
        int r, rc = 1;

        /* As many --key as argv has words, at the most. */
        keys.keys = calloc((size_t) argc, sizeof(*keys.keys));
        if (!keys.keys)
                return log_oom(), 1;

        r = args_parse(argc, argv, options, false, verify_help);
        if (r <= 0) {
                rc = r < 0 ? 2 : 0;
                goto out;
        }

        if (argc - optind != 1) {
                log_error("%s. Usage: prepay voucher verify FILE|- [--issuers DIR] [--key PUBKEY]...",
                          optind >= argc ? "No voucher given" : "Only one voucher at a time");
                rc = 2;
                goto out;
        }

        if (read_voucher(argv[optind], &v) < 0)
                goto out;

        r = crypto_keyring_new(&kr);
        if (r < 0) {
                log_oom();
                goto out;
        }
        if (issuers && add_key_dir(kr, issuers, true) < 0)
                goto out;
        for (size_t i = 0; i < keys.n; i++)
                if (add_key_file(kr, keys.keys[i]) < 0)
                        goto out;
        if (!issuers && keys.n == 0 && add_key_dir(kr, ISSUERS_DIR_DEFAULT, false) < 0)
                goto out;
        if (crypto_keyring_size(kr) == 0) {
                /* --key FILE either adds a key or has failed above. */
                log_error("No trusted issuer keys in %s: %s. Give --issuers DIR or --key FILE.",
                          issuers ?: ISSUERS_DIR_DEFAULT,
                          access(issuers ?: ISSUERS_DIR_DEFAULT, F_OK) < 0 ? "no such directory"
                                                                           : "no usable *.pem or *.pub file");
                goto out;
        }

        r = voucher_verify(&v, kr, (int64_t) time(NULL), currency, audience, &error);
        if (r < 0) {
                log_error("%s.", error ?: strerror(-r));
                goto out;
        }

        printf("valid: %s %s, voucher %s, issuer %s, until %s, %s%s\n", money_format(amount, sizeof(amount), v.amount),
               v.currency, voucher_id_to_string(v.id, id), hex_encode(v.issuer, sizeof(v.issuer), issuer),
               voucher_time_to_string(v.not_after, until), v.audience[0] ? "for host " : "any host",
               v.audience);
        rc = 0;

out:
        free(keys.keys);
        return rc;
}

int voucher_main(int argc, char *argv[]) {
        if (argc < 2) {
                log_error("No subcommand given. Usage: prepay voucher show|verify FILE|- [OPTIONS]");
                return 2;
        }
        if (streq(argv[1], "-h") || streq(argv[1], "--help")) {
                help();
                return 0;
        }

        /* The subcommand takes its own options (args_parse starts getopt
         * afresh). */
        if (streq(argv[1], "show"))
                return show_main(argc - 1, argv + 1);
        if (streq(argv[1], "verify"))
                return verify_main(argc - 1, argv + 1);

        log_error("Unknown subcommand '%s'. Usage: prepay voucher show|verify FILE|- [OPTIONS]", argv[1]);
        return 2;
}
