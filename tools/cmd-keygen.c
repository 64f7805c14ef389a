/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay keygen: make an issuer's Ed25519 key pair. */
#include <sys/stat.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/log.h"
#include "prepay.h"

#define ISSUERS_DIR_DEFAULT "/etc/prepay/issuers.d"
#define KEY_NAME_MAX 64

static void help(void) {
        printf("Usage: prepay keygen --out DIR [--name NAME]\n"
               "\n"
               "Makes an Ed25519 key pair for signing vouchers: DIR/NAME.key, the\n"
               "private key (mode 0600; whoever holds it can mint money), and\n"
               "DIR/NAME.pub, the public key for prepayd's issuers directory. Both are\n"
               "PEM, as openssl writes them. Existing files are never overwritten.\n"
               "\n"
               "  --out=DIR     Directory for the two files (created if missing)\n"
               "  --name=NAME   File name without extension (default: issuer)\n"
               "  -h, --help    Show this help\n");
}

/* A file name, not a path: no '/', nothing hidden, nothing odd. */
static bool key_name_is_valid(const char *s) {
        size_t n = strlen(s);

        if (n == 0 || n > KEY_NAME_MAX || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
                      s[i] == '.' || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static int save_key(const struct crypto_key *k, const char *path,
                    int (*save)(const struct crypto_key *k, const char *path)) {
        int r;

        r = save(k, path);
        if (r == -EEXIST)
                log_error("Refusing to overwrite %s: it already exists.", path);
        else if (r < 0)
                log_error_errno(r, "Failed to write %s: %m", path);
        return r;
}

int keygen_main(int argc, char *argv[]) {
        const char *out = NULL, *name = "issuer";
        const struct arg_option options[] = {
                OPT_STRING("out", &out),
                OPT_STRING("name", &name),
                {}
        };
        struct crypto_key *k = NULL;
        _cleanup_(freep) char *key_path = NULL, *pub_path = NULL;
        uint8_t id[CRYPTO_KEY_ID_SIZE];
        char id_hex[2 * CRYPTO_KEY_ID_SIZE + 1];
        int r, rc = 1;

        r = args_parse_no_operands(argc, argv, options, help, "Usage: prepay keygen --out DIR [--name NAME]");
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (!out || !*out) {
                log_error("No output directory given. Usage: prepay keygen --out DIR [--name NAME]");
                return 2;
        }
        if (!key_name_is_valid(name)) {
                log_error("Invalid --name '%s': expected 1 to %d characters from A-Z a-z 0-9 . _ -, "
                          "not starting with '.' or '-'.", name, KEY_NAME_MAX);
                return 2;
        }

        if (asprintf(&key_path, "%s/%s.key", out, name) < 0 || asprintf(&pub_path, "%s/%s.pub", out, name) < 0) {
                key_path = pub_path = NULL;
                return log_oom(), 1;
        }

        if (mkdir(out, 0755) < 0 && errno != EEXIST) {
                log_error_errno(errno, "Failed to create directory %s: %m", out);
                return 1;
        }

        /* Check both before writing either, so that a refusal leaves no
         * half pair behind. O_EXCL below still guards against a race. */
        if (access(key_path, F_OK) == 0 || access(pub_path, F_OK) == 0) {
                log_error("Refusing to overwrite %s: it already exists. Choose another --name or --out.",
                          access(key_path, F_OK) == 0 ? key_path : pub_path);
                return 1;
        }

        r = crypto_key_generate(&k);
        if (r < 0) {
                log_error_errno(r, "Failed to generate an Ed25519 key: %m");
                return 1;
        }

        if (save_key(k, key_path, crypto_key_save_private) < 0)
                goto out;
        if (save_key(k, pub_path, crypto_key_save_public) < 0) {
                /* A private key without its public half is of no use. */
                (void) unlink(key_path);
                goto out;
        }

        crypto_key_id(k, id);
        hex_encode(id, sizeof(id), id_hex);
        printf("Key id:      %s\n"
               "Private key: %s (keep it secret: it signs vouchers)\n"
               "Public key:  %s\n"
               "\n"
               "To have prepayd accept vouchers signed with this key, copy %s into its\n"
               "issuers directory (IssuersDirectory=, by default %s) and\n"
               "restart prepayd.\n",
               id_hex, key_path, pub_path, pub_path, ISSUERS_DIR_DEFAULT);
        rc = 0;

out:
        crypto_key_free(k);
        return rc;
}
