/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Image descriptions (daemon/vm-image.c): the parser, and the listing and
 * lookup in a temporary directory. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "vm-image.h"

#define GOOD                                   \
        "# Debian 12, genericcloud\n"          \
        "[Image]\n"                            \
        "Description=Debian 12 (bookworm)\n"   \
        "Disk = debian-12.qcow2\n"             \
        "User=debian\n"                        \
        "MinDiskSize=2G\n"

static int parse(const char *text, struct vm_image *ret, char *error) {
        return vm_image_parse("debian-12", text, strlen(text), ret, error, 256);
}

static void test_name(void **state _unused_) {
        static const char *const good[] = { "debian-12", "a", "A.b_c-9", "1",
                                            "0123456789012345678901234567890123456789012345678901234567890123" };
        static const char *const bad[] = { "", ".", "..", ".hidden", "-x", "a/b", "a b", "caf\xc3\xa9", "a\n",
                                           "01234567890123456789012345678901234567890123456789012345678901234" };

        for (size_t i = 0; i < ARRAY_SIZE(good); i++)
                assert_true(vm_image_name_is_valid(good[i]));
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (vm_image_name_is_valid(bad[i]))
                        fail_msg("'%s' taken for a valid name", bad[i]);
        assert_false(vm_image_name_is_valid(NULL));
}

static void test_parse_good(void **state _unused_) {
        struct vm_image im;
        char error[256];

        assert_int_equal(parse(GOOD, &im, error), 0);
        assert_string_equal(im.name, "debian-12");
        assert_string_equal(im.description, "Debian 12 (bookworm)");
        assert_string_equal(im.disk, "debian-12.qcow2");
        assert_string_equal(im.format, "qcow2");
        assert_string_equal(im.kernel, "");
        assert_string_equal(im.user, "debian");
        assert_int_equal(im.min_disk, UINT64_C(2) << 30);
        assert_int_equal(im.min_memory, UINT64_C(256) << 20);

        assert_int_equal(parse("\xef\xbb\xbf[Image]\n; a comment\n\nDisk=alpine.raw\nFormat=raw\nKernel=vmlinuz\n"
                               "Initrd=initrd.img\nKernelCommandLine=console=ttyS0 root=/dev/vda ro ; not a comment\n"
                               "User=_root-1\nMinDiskSize=1M\nMinMemory=1.5G",
                               &im, error),
                         0);
        assert_string_equal(im.format, "raw");
        assert_string_equal(im.kernel, "vmlinuz");
        assert_string_equal(im.initrd, "initrd.img");
        assert_string_equal(im.cmdline, "console=ttyS0 root=/dev/vda ro ; not a comment");
        assert_string_equal(im.user, "_root-1");
        assert_int_equal(im.min_disk, UINT64_C(1) << 20);
        assert_int_equal(im.min_memory, UINT64_C(3) << 29);
}

static void test_parse_long_cmdline(void **state _unused_) {
        char text[1024], error[256];
        struct vm_image im;
        int n;

        n = snprintf(text, sizeof(text), "[Image]\nDisk=d\nUser=u\nMinDiskSize=1G\nKernel=k\nKernelCommandLine=");
        memset(text + n, 'x', 511);
        text[n + 511] = 0;
        assert_int_equal(parse(text, &im, error), 0);
        assert_int_equal(strlen(im.cmdline), 511);
        strcat(text, "x");
        assert_int_equal(parse(text, &im, error), -EINVAL);
        assert_string_equal(error, "debian-12.image:6: KernelCommandLine= is longer than 511 bytes");
}

static void test_parse_bad(void **state _unused_) {
        static const char *const bad[][2] = {
                { "", "debian-12.image: Disk= is missing in [Image]" },
                { "[Image]\nUser=debian\nMinDiskSize=2G\n", "debian-12.image: Disk= is missing in [Image]" },
                { "[Image]\nDisk=d\nMinDiskSize=2G\n", "debian-12.image: User= is missing in [Image]" },
                { "[Image]\nDisk=d\nUser=debian\n", "debian-12.image: MinDiskSize= is missing in [Image]" },
                { "Disk=d\n", "debian-12.image:1: Key outside of [Image]" },
                { "[Image]\n[Other]\n", "debian-12.image:2: Unknown section [Other], expected [Image]" },
                { "[Image]\n[Image]\n", "debian-12.image:2: Section [Image] given twice" },
                { "[Image]\nFoo=bar\n", "debian-12.image:2: Unknown key 'Foo' in [Image]" },
                { "[Image]\ndisk=d\n", "debian-12.image:2: Unknown key 'disk' in [Image]" },
                { "[Image]\njust words\n", "debian-12.image:2: Expected [Image] or a Key=Value line" },
                { "[Image]\nDisk=a\nDisk=b\n", "debian-12.image:3: Disk= given twice (first on line 2)" },
                { "[Image]\nDisk=../etc/shadow\n",
                  "debian-12.image:2: Disk= must name a file in the images directory, got '../etc/shadow'" },
                { "[Image]\nDisk=..\n", "debian-12.image:2: Disk= must name a file" },
                { "[Image]\nDisk=\n", "debian-12.image:2: Disk= must name a file" },
                { "[Image]\nKernel=/boot/vmlinuz\n", "debian-12.image:2: Kernel= must name a file" },
                { "[Image]\nFormat=vmdk\n", "debian-12.image:2: Format= must be qcow2 or raw, got 'vmdk'" },
                { "[Image]\nUser=Debian\n", "debian-12.image:2: User= must be 1 to 32" },
                { "[Image]\nUser=1x\n", "debian-12.image:2: User= must be 1 to 32" },
                { "[Image]\nUser=abcdefghijabcdefghijabcdefghijabc\n", "debian-12.image:2: User= must be 1 to 32" },
                { "[Image]\nUser=a:b\n", "debian-12.image:2: User= must be 1 to 32" },
                { "[Image]\nMinDiskSize=lots\n",
                  "debian-12.image:2: MinDiskSize= must be a size such as 2G, got 'lots'" },
                { "[Image]\nMinDiskSize=1023K\n", "debian-12.image:2: MinDiskSize= must be at least 1M" },
                { "[Image]\nMinMemory=0\n", "debian-12.image:2: MinMemory= must be at least 1M" },
                { "[Image]\nDescription=a\tb\n",
                  "debian-12.image:2: Description= holds a byte that is not printable ASCII" },
                { "[Image]\nDescription=caf\xc3\xa9\n", "debian-12.image:2: Description= holds a byte" },
                { "[Image]\nDisk=d\r\n", "debian-12.image:2: Disk= holds a byte" },
                { GOOD "Initrd=i\n", "debian-12.image:7: Initrd= needs Kernel=" },
                { GOOD "KernelCommandLine=quiet\n", "debian-12.image:7: KernelCommandLine= needs Kernel=" },
        };
        struct vm_image im, untouched;
        char error[256];

        memset(&im, 0x5a, sizeof(im));
        untouched = im;
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                if (parse(bad[i][0], &im, error) != -EINVAL)
                        fail_msg("accepted '%s'", bad[i][0]);
                if (!strneq(error, bad[i][1], strlen(bad[i][1])))
                        fail_msg("'%s': '%s', not '%s'", bad[i][0], error, bad[i][1]);
                assert_memory_equal(&im, &untouched, sizeof(im));
        }

        assert_int_equal(vm_image_parse("debian-12", "[Image]\0", 8, &im, error, sizeof(error)), -EINVAL);
        assert_string_equal(error, "debian-12.image: Contains a NUL byte");
        assert_int_equal(vm_image_parse("../x", GOOD, strlen(GOOD), &im, error, sizeof(error)), -EINVAL);
        assert_string_equal(error, "Image name is not valid: 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-', not "
                                   "starting with '.' or '-'");
        /* A description of 128 bytes. */
        assert_int_equal(parse("[Image]\nDescription=0123456789012345678901234567890123456789012345678901234567890123"
                               "4567890123456789012345678901234567890123456789012345678901234567\n",
                               &im, error),
                         -EINVAL);
        assert_string_equal(error, "debian-12.image:2: Description= is longer than 127 bytes");
}

static void write_file(int dfd, const char *name, const char *text) {
        int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

struct dir {
        char path[64];
        int fd;
};

static int dir_setup(void **state) {
        struct dir *d = calloc(1, sizeof(*d));

        if (!d)
                return -1;
        strcpy(d->path, "/tmp/prepay-test-vm-image.XXXXXX");
        if (!mkdtemp(d->path))
                return -1;
        d->fd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        *state = d;
        return d->fd < 0 ? -1 : 0;
}

static int dir_teardown(void **state) {
        struct dir *d = *state;
        _cleanup_(closedirp) DIR *dir = fdopendir(d->fd);
        struct dirent *de;

        while (dir && (de = readdir(dir)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, "..") &&
                    unlinkat(d->fd, de->d_name, 0) < 0 && errno == EISDIR)
                        (void) unlinkat(d->fd, de->d_name, AT_REMOVEDIR); /* dir.image */
        (void) rmdir(d->path);
        free(d);
        return 0;
}

/* *error is the sentence expected; freed. */
_printf_(2, 3) static void expect_error(char **error, const char *fmt, ...) {
        char want[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(want, sizeof(want), fmt, ap);
        va_end(ap);
        assert_non_null(*error);
        assert_string_equal(*error, want);
        free(*error);
        *error = NULL;
}

static void test_list_and_find(void **state) {
        struct dir *d = *state;
        _cleanup_(freep) struct vm_image *images = NULL;
        _cleanup_(freep) char *error = NULL;
        struct vm_image im;
        size_t n;
        int fd;

        write_file(d->fd, "debian-12.image", GOOD);
        write_file(d->fd, "debian-12.qcow2", "");
        write_file(d->fd, "alpine.image", "[Image]\nDisk=alpine.raw\nFormat=raw\nUser=root\nMinDiskSize=1G\n"
                                          "Kernel=alpine.vmlinuz\n");
        write_file(d->fd, "alpine.raw", "");
        write_file(d->fd, "broken.image", "[Image]\nDisk=x\n");
        write_file(d->fd, ".hidden.image", GOOD);
        write_file(d->fd, "notes.txt", "");
        assert_int_equal(symlinkat("debian-12.image", d->fd, "linked.image"), 0);
        assert_int_equal(mkdirat(d->fd, "dir.image", 0755), 0);
        /* Over 64 KiB. */
        fd = openat(d->fd, "big.image", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, VM_IMAGE_FILE_MAX + 1), 0);
        close(fd);

        assert_int_equal(vm_images_list(d->path, &images, &n, &error), 0);
        assert_int_equal(n, 2);
        assert_string_equal(images[0].name, "alpine");
        assert_string_equal(images[0].user, "root");
        assert_string_equal(images[1].name, "debian-12");

        assert_int_equal(vm_image_find(d->path, "debian-12", &im, &error), 0);
        assert_string_equal(im.disk, "debian-12.qcow2");

        /* Kernel= is not there. */
        assert_int_equal(vm_image_find(d->path, "alpine", &im, &error), -ENOENT);
        expect_error(&error, "Image 'alpine': Kernel=alpine.vmlinuz: no such file in %s", d->path);
        write_file(d->fd, "alpine.vmlinuz", "");
        assert_int_equal(vm_image_find(d->path, "alpine", &im, &error), 0);
        assert_string_equal(im.kernel, "alpine.vmlinuz");

        assert_int_equal(vm_image_find(d->path, "x/y", &im, &error), -EINVAL);
        expect_error(&error, "Image name 'x/y' is not valid: 1 to 64 of A-Z, a-z, 0-9, '.', '_' and '-', not "
                             "starting with '.' or '-'");
        assert_int_equal(vm_image_find(d->path, "fedora", &im, &error), -ENOENT);
        expect_error(&error, "No image 'fedora' in %s (prepay images lists them)", d->path);
        assert_int_equal(vm_image_find(d->path, "linked", &im, &error), -ELOOP);
        expect_error(&error, "Cannot read %s/linked.image: it is a symbolic link", d->path);
        assert_int_equal(vm_image_find(d->path, "big", &im, &error), -EFBIG);
        expect_error(&error, "Cannot read %s/big.image: it is larger than 64 KiB", d->path);
        assert_int_equal(vm_image_find(d->path, "dir", &im, &error), -EBADFD);
        expect_error(&error, "Cannot read %s/dir.image: it is not a regular file", d->path);
        assert_int_equal(vm_image_find(d->path, "broken", &im, &error), -EINVAL);
        expect_error(&error, "broken.image: User= is missing in [Image]");
        assert_int_equal(unlinkat(d->fd, "debian-12.qcow2", 0), 0);
        assert_int_equal(mkdirat(d->fd, "debian-12.qcow2", 0755), 0);
        assert_int_equal(vm_image_find(d->path, "debian-12", &im, &error), -EBADFD);
        expect_error(&error, "Image 'debian-12': Disk=debian-12.qcow2: not a regular file in %s", d->path);
        assert_int_equal(unlinkat(d->fd, "debian-12.qcow2", AT_REMOVEDIR), 0);
}

static void test_list_missing(void **state _unused_) {
        _cleanup_(freep) char *error = NULL;
        struct vm_image *images = NULL;
        size_t n;

        assert_int_equal(vm_images_list("/nonexistent-prepay", &images, &n, &error), -ENOENT);
        assert_string_equal(error, "Cannot open the images directory /nonexistent-prepay: No such file or directory");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_name),
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_long_cmdline),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test_setup_teardown(test_list_and_find, dir_setup, dir_teardown),
                cmocka_unit_test(test_list_missing),
        };

        /* The listing's warnings are expected. */
        log_set_max_level(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
