/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay images: the VM images a slice may be bought with (run --vm). */
#include <inttypes.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay images [--json]\n"
               "\n"
               "Lists the VM images this host sells slices with (prepay run --vm IMAGE):\n"
               "name, how it boots, the user to log in as, the least disk and memory it\n"
               "needs, and its description.\n"
               "\n"
               "  --json       Print the daemon's list as a JSON array\n"
               "  -h, --help   Show this help\n");
}

/* A string member for a terminal: what is not printable ASCII shows as
 * "?", so that no escape sequence from the socket reaches it. */
static const char *member(json_object *image, const char *key, char *buf, size_t n) {
        const char *s = NULL;
        size_t i;

        if (message_get_string(image, key, &s) < 0)
                s = "-";
        for (i = 0; s[i] && i + 1 < n; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        buf[i] = 0;
        return buf;
}

static const char *member_size(json_object *image, const char *key, char *buf, size_t n) {
        uint64_t v;

        if (message_get_u64(image, key, &v) < 0 || v == 0)
                snprintf(buf, n, "-");
        else
                format_size(buf, n, v);
        return buf;
}

static int print_images(json_object *images) {
        size_t n = json_object_array_length(images);

        if (n == 0) {
                printf("No images: the operator has put none in the daemon's ImagesDirectory=.\n");
                return 0;
        }
        printf("%-24s %-8s %-12s %9s %9s  %s\n", "NAME", "BOOT", "USER", "MIN-DISK", "MIN-MEM", "DESCRIPTION");
        for (size_t i = 0; i < n; i++) {
                json_object *image = json_object_array_get_idx(images, i);
                char name[VM_IMAGE_NAME_MAX + 1], boot[16], user[33], disk[FORMAT_SIZE_MAX],
                        memory[FORMAT_SIZE_MAX], description[256];

                if (!json_object_is_type(image, json_type_object))
                        return log_error_errno(EPROTO, "Malformed reply from prepayd: an image is not an object.");
                printf("%-24s %-8s %-12s %9s %9s  %s\n", member(image, "name", name, sizeof(name)),
                       member(image, "boot", boot, sizeof(boot)), member(image, "user", user, sizeof(user)),
                       member_size(image, "min_disk", disk, sizeof(disk)),
                       member_size(image, "min_memory", memory, sizeof(memory)),
                       member(image, "description", description, sizeof(description)));
        }
        return 0;
}

int images_main(int argc, char *argv[]) {
        bool json = false;
        const struct arg_option options[] = {
                OPT_FLAG("json", &json),
                {}
        };
        json_object *req, *reply = NULL, *images;
        int r;

        r = args_parse_no_operands(argc, argv, options, help, "Usage: prepay images [--json]");
        if (r <= 0)
                return r < 0 ? 2 : 0;

        req = client_request("images");
        if (!req)
                return log_oom(), 1;
        if (client_call(req, &reply) < 0)
                return 1;
        if (!json_object_object_get_ex(reply, "images", &images) || !json_object_is_type(images, json_type_array)) {
                json_object_put(reply);
                log_error("Malformed reply from prepayd: no image list.");
                return 1;
        }
        if (json)
                client_print_json(images);
        else
                r = print_images(images);
        json_object_put(reply);
        return r < 0 ? 1 : 0;
}
