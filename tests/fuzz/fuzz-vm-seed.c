/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The NoCloud seed of a VM (daemon/vm-seed.c): vm_seed_user_data(),
 * vm_seed_meta_data(). The input is the six values separated by NUL
 * bytes (instance id, hostname, user, SSH key, private host key, public
 * host key); a value the caller checked before (the key, the user) is
 * here anything, to see that the YAML cannot be broken out of.
 * Properties: -EINVAL or a text of printable ASCII and newlines whose
 * top-level lines are only the keys vm-seed.c writes (nothing injected),
 * in which each value's line holds it quoted. */
#include <errno.h>

#include "fuzz.h"
#include "vm-seed.h"

FUZZ_QUIET_INITIALIZE

static const char *const top_level[] = {
        "#cloud-config", "users:", "disable_root: false", "users: []", "ssh_authorized_keys:",
        "ssh_pwauth: false", "ssh_genkeytypes: []", "ssh_deletekeys: true", "ssh_keys:",
};

static void check_text(const char *text, const char *first) {
        const char *line = text;

        fuzz_check(strncmp(text, first, strlen(first)) == 0);
        fuzz_check(text[0] && text[strlen(text) - 1] == '\n');
        for (const char *p = text; *p; p++)
                fuzz_check((*p >= 0x20 && *p <= 0x7e) || *p == '\n');
        while (*line) {
                const char *end = strchr(line, '\n');
                size_t n = (size_t) (end - line);
                int known = 0;

                fuzz_check(end);
                if (line[0] != ' ' && strcmp(first, "#cloud-config") == 0) {
                        for (size_t i = 0; i < sizeof(top_level) / sizeof(top_level[0]); i++)
                                known |= strlen(top_level[i]) == n && memcmp(line, top_level[i], n) == 0;
                        fuzz_check(known);
                }
                line = end + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *copy, *values[6], *text = NULL;
        struct vm_seed s;
        size_t off = 0;
        int r;

        if (size > 8192)
                return 0;
        copy = fuzz_strndup(data, size);
        if (!copy)
                return 0;
        /* Six NUL-separated values; missing ones are empty. */
        for (size_t i = 0; i < 6; i++) {
                values[i] = copy + off;
                off += strlen(copy + off);
                if (off < size)
                        off++;
        }
        s = (struct vm_seed) {
                .instance_id = values[0],
                .hostname = values[1],
                .user = values[2],
                .ssh_key = values[3],
                .host_key_private = values[4],
                .host_key_public = values[5],
        };

        r = vm_seed_user_data(&s, &text);
        fuzz_check(r == 0 || r == -EINVAL || r == -ENOMEM);
        if (r == 0) {
                check_text(text, "#cloud-config\n");
                free(text);
                text = NULL;
        }
        r = vm_seed_meta_data(&s, &text);
        fuzz_check(r == 0 || r == -EINVAL || r == -ENOMEM);
        if (r == 0) {
                check_text(text, "instance-id: \"");
                free(text);
        }
        free(copy);
        return 0;
}
