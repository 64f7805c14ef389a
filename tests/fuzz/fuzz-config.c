/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepayd.conf (daemon/config.c over inih): config_load_string(), the
 * reader config_load() hands a file's text to. Properties:
 *   - a refusal is -EINVAL, -ERANGE, -ENAMETOOLONG (a ControlSocket= too
 *     long for AF_UNIX) or -ENOMEM, and the config given is not written
 *     then;
 *   - a config accepted dumps (config_dump()) to a file that loads again
 *     and dumps to the very same text: what the daemon took is what
 *     --dump-config shows and what it would read back. */
#include <errno.h>

#include "fuzz.h"
#include "config.h"

FUZZ_QUIET_INITIALIZE

static char *dump(const struct config *c, size_t *ret_len) {
        char *text = NULL;
        size_t len = 0;
        FILE *f;

        f = open_memstream(&text, &len);
        if (!f)
                return NULL;
        fuzz_check(config_dump(f, c) == 0);
        if (fclose(f) != 0) {
                free(text);
                return NULL;
        }
        *ret_len = len;
        return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct config c = {}, again = {};
        static const struct config zero;
        char *text, *d1 = NULL, *d2 = NULL;
        size_t n1 = 0, n2 = 0;
        int r;

        if (size > 16384)
                return 0;
        /* config_load() refuses a file with a NUL before it gets here. */
        if (memchr(data, 0, size))
                return 0;
        text = fuzz_strndup(data, size);
        if (!text)
                return 0;

        r = config_load_string(&c, text, "fuzz.conf");
        if (r < 0) {
                fuzz_check(r == -EINVAL || r == -ERANGE || r == -ENAMETOOLONG || r == -ENOMEM);
                fuzz_check(memcmp(&c, &zero, sizeof(c)) == 0);
                goto out;
        }

        d1 = dump(&c, &n1);
        if (!d1)
                goto out;
        fuzz_check(strlen(d1) == n1);
        fuzz_check(config_load_string(&again, d1, "dump.conf") == 0);
        d2 = dump(&again, &n2);
        if (!d2)
                goto out;
        fuzz_check(n1 == n2 && memcmp(d1, d2, n1) == 0);
out:
        config_done(&c);
        config_done(&again);
        free(d1);
        free(d2);
        free(text);
        return 0;
}
