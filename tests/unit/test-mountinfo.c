/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /proc/self/mountinfo (daemon/mountinfo.c, no system calls): one line,
 * escaped paths, bad lines, and where the cgroup hierarchies are on a
 * hybrid host like the development machine, on pure v2, in a container
 * that sees a subtree, and under an over-mount. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/util.h"
#include "mountinfo.h"

/* The development machine: v1 controllers each on its own mount, the v2
 * tree at /sys/fs/cgroup/unified. */
static const char hybrid[] =
        "22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
        "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
        "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
        "32 30 0:29 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
        "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
        "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
        "35 30 0:32 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
        "36 30 0:33 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
        "37 30 0:34 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
        "38 30 0:35 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
        "39 30 0:36 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
        "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

/* Debian 12 booted: systemd mounts cgroup2 at /sys/fs/cgroup. */
static const char pure_v2[] =
        "25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
        "26 25 0:6 / /sys/kernel/security rw,nosuid,nodev,noexec,relatime shared:8 - securityfs securityfs rw\n"
        "27 25 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
        "rw,nsdelegate,memory_recursiveprot\n"
        "28 25 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:10 - pstore pstore rw\n";

static const char *const v1_controllers[] = { "cpu", "cpuacct", "memory", "pids", "blkio" };
#define ALL_V1 0x1fU

static int find(const char *text, const char *own, bool (*visible)(const char *), struct mountinfo_cgroups *ret) {
        const struct mountinfo_query q = {
                .own_cgroup = own,
                .v1_controllers = v1_controllers,
                .n_v1_controllers = ARRAY_SIZE(v1_controllers),
                .visible = visible,
        };

        return mountinfo_find_cgroups(text, &q, ret);
}

/* text parses into these fields. */
static void check_line(const char *text, const char *root, const char *mount_point, const char *fstype,
                       const char *super_options) {
        _cleanup_(freep) char *line = strdup(text);
        struct mountinfo_line l;

        assert_non_null(line);
        assert_int_equal(mountinfo_parse_line(line, &l), 0);
        assert_string_equal(l.root, root);
        assert_string_equal(l.mount_point, mount_point);
        assert_string_equal(l.fstype, fstype);
        assert_string_equal(l.super_options, super_options);
}

static void test_parse_line(void **state _unused_) {
        check_line("40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n", "/",
                   "/sys/fs/cgroup/unified", "cgroup2", "rw");
        /* Optional fields before the " - ". */
        check_line("27 25 0:24 / /sys/fs/cgroup rw,nosuid shared:9 master:2 - cgroup2 cgroup2 rw,nsdelegate", "/",
                   "/sys/fs/cgroup", "cgroup2", "rw,nsdelegate");
        check_line("31 30 0:28 /a /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct", "/a",
                   "/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct");
}

static void test_escapes(void **state _unused_) {
        check_line("50 30 0:40 /my\\040slice /mnt/cg\\040two\\011tab rw - cgroup2 cgroup2 rw\n", "/my slice",
                   "/mnt/cg two\ttab", "cgroup2", "rw");
        /* "\134" is a backslash; one not followed by three octal digits
         * stays, and so does "\000", which would end the string. */
        check_line("51 30 0:41 /a\\134b /mnt/x\\y\\0\\000 rw - tmpfs none rw\n", "/a\\b", "/mnt/x\\y\\0\\000", "tmpfs",
                   "rw");
        /* An escaped " - " in a path is not the separator. */
        check_line("52 30 0:42 / /mnt/a\\040-\\040b rw - cgroup2 cgroup2 rw\n", "/", "/mnt/a - b", "cgroup2", "rw");
}

static void test_bad_lines(void **state _unused_) {
        static const char *const bad[] = {
                "",
                "\n",
                "garbage",
                "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime cgroup2 cgroup2 rw",  /* no " - " */
                "40 30 0:37 / /sys/fs/cgroup/unified - cgroup2 cgroup2 rw",            /* no options */
                "40 30 0:37 / - cgroup2 cgroup2 rw",
                "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2",   /* no super options */
                "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2",
                "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - ",
                " - cgroup2 cgroup2 rw",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                _cleanup_(freep) char *line = strdup(bad[i]);
                struct mountinfo_line l;

                assert_non_null(line);
                assert_int_equal(mountinfo_parse_line(line, &l), -EINVAL);
        }
}

static void test_hybrid(void **state _unused_) {
        struct mountinfo_cgroups c = {};

        assert_int_equal(find(hybrid, "/", NULL, &c), 0);
        assert_string_equal(c.v2_mount, "/sys/fs/cgroup/unified");
        assert_string_equal(c.v2_root, "/");
        /* cpuset, devices, freezer and name=systemd are not asked about. */
        assert_int_equal(c.v1_mask, ALL_V1);
        mountinfo_cgroups_done(&c);
        assert_null(c.v2_mount);

        /* The Debian layout: cpu and cpuacct on one mount, no pids. */
        assert_int_equal(find("31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
                              "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
                              "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n",
                              "/user.slice", NULL, &c),
                         0);
        assert_string_equal(c.v2_mount, "/sys/fs/cgroup/unified");
        assert_int_equal(c.v1_mask, 0x7U);
        mountinfo_cgroups_done(&c);

        /* Only controllers prepay does not use, or none, on v1. */
        assert_int_equal(find("33 30 0:30 / /sys/fs/cgroup/cpuset rw - cgroup cgroup rw,cpuset\n"
                              "39 30 0:36 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
                              "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
                              "/", NULL, &c),
                         0);
        assert_int_equal(c.v1_mask, 0);
        mountinfo_cgroups_done(&c);
}

static void test_pure_v2(void **state _unused_) {
        struct mountinfo_cgroups c = {};

        assert_int_equal(find(pure_v2, "/system.slice/prepayd.service", NULL, &c), 0);
        assert_string_equal(c.v2_mount, "/sys/fs/cgroup");
        assert_string_equal(c.v2_root, "/");
        assert_int_equal(c.v1_mask, 0);
        mountinfo_cgroups_done(&c);

        /* No cgroup2 mount at all. */
        assert_int_equal(find("22 1 0:21 / /sys rw - sysfs sysfs rw\n", "/", NULL, &c), 0);
        assert_null(c.v2_mount);
        assert_null(c.v2_root);
        assert_int_equal(find("", "/", NULL, &c), 0);
        assert_null(c.v2_mount);
}

/* A container sees its subtree of the hierarchy: the mount's root. */
static void test_subtree(void **state _unused_) {
        static const char text[] = "900 800 0:24 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup rw\n";
        struct mountinfo_cgroups c = {};

        assert_int_equal(find(text, "/docker/abc/app", NULL, &c), 0);
        assert_string_equal(c.v2_mount, "/sys/fs/cgroup");
        assert_string_equal(c.v2_root, "/docker/abc");
        mountinfo_cgroups_done(&c);
        assert_int_equal(find(text, "/docker/abc", NULL, &c), 0);
        assert_string_equal(c.v2_root, "/docker/abc");
        mountinfo_cgroups_done(&c);

        /* A mount that does not show our cgroup is no use. */
        assert_int_equal(find(text, "/docker/abcd", NULL, &c), 0);
        assert_null(c.v2_mount);
        assert_int_equal(find(text, "/", NULL, &c), 0);
        assert_null(c.v2_mount);
}

static bool visible_unless_old(const char *mount_point) {
        return !streq(mount_point, "/sys/fs/cgroup/old");
}

/* The first visible mount that shows our cgroup wins. */
static void test_choice(void **state _unused_) {
        static const char text[] = "40 30 0:37 / /sys/fs/cgroup/old rw - cgroup2 cgroup2 rw\n"
                                   "41 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n"
                                   "42 30 0:37 / /mnt/again rw - cgroup2 cgroup2 rw\n";
        struct mountinfo_cgroups c = {};

        assert_int_equal(find(text, "/", NULL, &c), 0);
        assert_string_equal(c.v2_mount, "/sys/fs/cgroup/old");
        mountinfo_cgroups_done(&c);
        assert_int_equal(find(text, "/", visible_unless_old, &c), 0);
        assert_string_equal(c.v2_mount, "/sys/fs/cgroup/unified");
        mountinfo_cgroups_done(&c);

        /* An escaped mount point is handed over unescaped. */
        assert_int_equal(find("50 30 0:37 / /mnt/my\\040cgroup rw - cgroup2 cgroup2 rw\n", "/", NULL, &c), 0);
        assert_string_equal(c.v2_mount, "/mnt/my cgroup");
        mountinfo_cgroups_done(&c);
}

/* Lines that do not parse are passed over; the rest still count. */
static void test_bad_lines_skipped(void **state _unused_) {
        struct mountinfo_cgroups c = {};

        assert_int_equal(find("garbage\n"
                              "\n"
                              "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup\n"
                              "38 30 0:35 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n"
                              "40 30 0:37 / - cgroup2 cgroup2 rw\n"
                              "41 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw",
                              "/", NULL, &c),
                         0);
        assert_string_equal(c.v2_mount, "/sys/fs/cgroup/unified");
        assert_int_equal(c.v1_mask, 1U << 3); /* pids only */
        mountinfo_cgroups_done(&c);

        /* A line at a time, as prepayd reads the file. */
        {
                const struct mountinfo_query q = {
                        .own_cgroup = "/",
                        .v1_controllers = v1_controllers,
                        .n_v1_controllers = ARRAY_SIZE(v1_controllers),
                };
                char a[] = "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
                char b[] = "40 30 0:37 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
                char bad[] = "40 30\n";

                assert_int_equal(mountinfo_cgroups_add_line(&c, a, &q), 0);
                assert_int_equal(mountinfo_cgroups_add_line(&c, bad, &q), 0);
                assert_int_equal(mountinfo_cgroups_add_line(&c, b, &q), 0);
                assert_string_equal(c.v2_mount, "/sys/fs/cgroup/unified");
                assert_int_equal(c.v1_mask, 1U << 2);
                mountinfo_cgroups_done(&c);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_line),
                cmocka_unit_test(test_escapes),
                cmocka_unit_test(test_bad_lines),
                cmocka_unit_test(test_hybrid),
                cmocka_unit_test(test_pure_v2),
                cmocka_unit_test(test_subtree),
                cmocka_unit_test(test_choice),
                cmocka_unit_test(test_bad_lines_skipped),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
