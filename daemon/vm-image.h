/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/message.h" /* VM_IMAGE_NAME_MAX, vm_image_name_is_valid() */

/* The images a VM slice can boot: for each, a description NAME.image that
 * the operator puts in ImagesDirectory= beside its disk:
 *
 *   [Image]
 *   Description=Debian 12     optional, at most 127 printable bytes
 *   Disk=debian-12.qcow2      required, a file name in the same directory
 *   Format=qcow2              optional: qcow2 (the default) or raw
 *   Kernel=NAME.vmlinuz       optional, a file name: direct kernel boot
 *   Initrd=NAME.initrd        optional, only with Kernel=
 *   KernelCommandLine=...     optional, only with Kernel=, at most 511
 *   User=debian               required: the login user cloud-init makes
 *   MinDiskSize=2G            required, at least 1M
 *   MinMemory=256M            optional (256M), at least 1M
 *
 * Lines are "Key=Value" (white space around both trimmed), "[Image]",
 * blank, or comments starting with '#' or ';'. Printable ASCII only.
 * vm_image_name_is_valid() and vm_image_parse() are pure
 * (tests/unit/test-vm-image.c, fuzz-vm-image); the rest reads the
 * directory. */

#define VM_IMAGE_FILE_MAX 65536
#define VM_IMAGES_MAX 256

struct vm_image {
        char name[VM_IMAGE_NAME_MAX + 1];
        char description[128];
        char disk[256];
        char format[8]; /* "qcow2" or "raw" */
        char kernel[256]; /* "": firmware boot */
        char initrd[256];
        char cmdline[512];
        char user[33];
        uint64_t min_disk;
        uint64_t min_memory;
};


/* Parses a description of size bytes (NUL bytes refused, at most
 * VM_IMAGE_FILE_MAX); name is the image's (the file name without
 * ".image"), checked too ("Image name is not valid: ..."). Unknown keys or sections, duplicates, a missing
 * required key, a bad value: -EINVAL with a sentence such as
 * "debian-12.image:3: Unknown key 'Foo' in [Image]" in error (which may
 * be NULL). *ret is written only on success. */
int vm_image_parse(const char *name, const char *text, size_t size, struct vm_image *ret, char *error,
                   size_t error_size);

/* Every valid NAME.image in dir, sorted by name, at most VM_IMAGES_MAX
 * (the first by name; the rest ignored with a warning). A description
 * that cannot be read (a symbolic link, not a regular file, larger than
 * VM_IMAGE_FILE_MAX) or parsed is logged ("..., ignoring") and skipped.
 * -errno with a sentence in *ret_error (free it) if dir cannot be read.
 * *ret (free it) is NULL when there are none. */
int vm_images_list(const char *dir, struct vm_image **ret, size_t *ret_n, char **ret_error);

/* The image name in dir, checked: an invalid name is -EINVAL ("Image name
 * 'x/y' is not valid: ..."), a missing one -ENOENT ("No image 'x' in /dir
 * (prepay images lists them)"), a description that cannot be read -ELOOP
 * (a symbolic link), -EBADFD (not a regular file), -EFBIG or -errno
 * ("Cannot read /dir/x.image: ..."), a bad one -EINVAL with the parser's
 * sentence, a Disk=, Kernel= or Initrd= that is not a regular file in dir
 * (a symbolic link to one is fine) -ENOENT, -EBADFD or -errno ("Image 'x':
 * Disk=x.qcow2: no such file in /dir"). A sentence for every failure but
 * -ENOMEM in *ret_error (free it). */
int vm_image_find(const char *dir, const char *name, struct vm_image *ret, char **ret_error);
