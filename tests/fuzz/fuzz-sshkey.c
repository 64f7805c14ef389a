/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A buyer's SSH public key (common/sshkey.c): ssh_public_key_parse(),
 * ssh_public_key_fingerprint(). Properties:
 *   - a refusal is -EINVAL with a clause of printable ASCII in error, no
 *     key handed back;
 *   - a key accepted is "TYPE BASE64", printable, with one space, the
 *     type the one the input began with, the base64 as the input had it;
 *     it parses again to itself; its
 *     fingerprint is "SHA256:" and 43 characters of base64. */
#include <errno.h>

#include "fuzz.h"
#include "common/sshkey.h"

FUZZ_QUIET_INITIALIZE

static void check_key(const uint8_t *data, size_t size, const char *key) {
        char fp[SSH_FINGERPRINT_MAX], *again = NULL;
        const char *space = strchr(key, ' ');

        fuzz_check(space && !strchr(space + 1, ' '));
        /* The input began with the type and a blank; the base64 follows
         * in it as it is in the key. */
        fuzz_check(memcmp(key, data, (size_t) (space - key)) == 0);
        fuzz_check(data[space - key] == ' ' || data[space - key] == '\t');
        fuzz_check(memmem(data, size, space + 1, strlen(space + 1)));
        for (const char *p = key; *p; p++)
                fuzz_check((*p > 0x20 && *p < 0x7f) || p == space);
        if (ssh_public_key_parse(key, strlen(key), &again, NULL, 0) == -ENOMEM)
                return;
        fuzz_check(again && strcmp(again, key) == 0);
        free(again);
        fuzz_check(ssh_public_key_fingerprint(key, fp, sizeof(fp)) == 0);
        fuzz_check(strlen(fp) == 50 && strncmp(fp, "SHA256:", 7) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char error[256], *key = NULL;
        int r;

        r = ssh_public_key_parse(data, size, &key, error, sizeof(error));
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                fuzz_check(r == -EINVAL && !key && error[0]);
                for (const char *p = error; *p; p++)
                        fuzz_check(*p >= 0x20 && *p < 0x7f);
                return 0;
        }
        fuzz_check(r == 0 && key);
        check_key(data, size, key);
        free(key);
        return 0;
}
