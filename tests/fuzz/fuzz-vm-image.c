/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An image description (daemon/vm-image.c), as the operator writes it:
 * vm_image_parse(). Properties:
 *   - a refusal is -EINVAL with a sentence "fuzz.image:N: ..." or
 *     "fuzz.image: ..." of printable ASCII, and *ret untouched;
 *   - what is accepted has every field NUL-terminated and printable, the
 *     required ones set, file names without '/' and not "." or "..",
 *     Initrd= and KernelCommandLine= only with Kernel=, sizes of at least
 *     1M; written back as a description, it parses to the same image. */
#include <errno.h>
#include <inttypes.h>

#include "fuzz.h"
#include "vm-image.h"

FUZZ_QUIET_INITIALIZE

static int file_name_ok(const char *s) {
        return s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* Field by field: a struct copy need not copy padding. */
static int same(const struct vm_image *a, const struct vm_image *b) {
        return !strcmp(a->name, b->name) && !strcmp(a->description, b->description) && !strcmp(a->disk, b->disk) &&
               !strcmp(a->format, b->format) && !strcmp(a->kernel, b->kernel) && !strcmp(a->initrd, b->initrd) &&
               !strcmp(a->cmdline, b->cmdline) && !strcmp(a->user, b->user) && a->min_disk == b->min_disk &&
               a->min_memory == b->min_memory;
}

static void check_image(const struct vm_image *im) {
        struct vm_image again;
        char text[2048], error[256];
        int n;

        fuzz_check(strcmp(im->name, "fuzz") == 0);
        fuzz_check(fuzz_printable(im->description, sizeof(im->description)));
        fuzz_check(fuzz_printable(im->disk, sizeof(im->disk)) && fuzz_printable(im->kernel, sizeof(im->kernel)) &&
                   fuzz_printable(im->initrd, sizeof(im->initrd)));
        fuzz_check(fuzz_printable(im->cmdline, sizeof(im->cmdline)) && fuzz_printable(im->user, sizeof(im->user)));
        fuzz_check(strcmp(im->format, "qcow2") == 0 || strcmp(im->format, "raw") == 0);
        fuzz_check(file_name_ok(im->disk));
        fuzz_check(!im->kernel[0] || file_name_ok(im->kernel));
        fuzz_check(!im->initrd[0] || file_name_ok(im->initrd));
        fuzz_check(im->kernel[0] || (!im->initrd[0] && !im->cmdline[0]));
        fuzz_check(im->user[0] && strspn(im->user, "abcdefghijklmnopqrstuvwxyz0123456789_-") == strlen(im->user));
        fuzz_check(im->min_disk >= (1 << 20) && im->min_memory >= (1 << 20));

        n = snprintf(text, sizeof(text),
                     "[Image]\nDisk=%s\nFormat=%s\nUser=%s\nMinDiskSize=%" PRIu64 "\nMinMemory=%" PRIu64 "\n%s%s%s",
                     im->disk, im->format, im->user, im->min_disk, im->min_memory,
                     im->description[0] ? "Description=" : "", im->description, im->description[0] ? "\n" : "");
        if (im->kernel[0])
                n += snprintf(text + n, sizeof(text) - (size_t) n, "Kernel=%s\n", im->kernel);
        if (im->initrd[0])
                n += snprintf(text + n, sizeof(text) - (size_t) n, "Initrd=%s\n", im->initrd);
        if (im->cmdline[0])
                n += snprintf(text + n, sizeof(text) - (size_t) n, "KernelCommandLine=%s\n", im->cmdline);
        fuzz_check((size_t) n < sizeof(text));
        fuzz_check(vm_image_parse("fuzz", text, (size_t) n, &again, error, sizeof(error)) == 0);
        fuzz_check(same(&again, im));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct vm_image im, untouched;
        char error[256];
        int r;

        if (size > VM_IMAGE_FILE_MAX + 1)
                return 0;
        memset(&im, 0x5a, sizeof(im));
        untouched = im;
        r = vm_image_parse("fuzz", (const char *) data, size, &im, error, sizeof(error));
        if (r == -ENOMEM)
                return 0;
        if (r < 0) {
                fuzz_check(r == -EINVAL && memcmp(&im, &untouched, sizeof(im)) == 0);
                fuzz_check(strncmp(error, "fuzz.image", 10) == 0 && fuzz_printable(error, sizeof(error)));
                return 0;
        }
        check_image(&im);
        return 0;
}
