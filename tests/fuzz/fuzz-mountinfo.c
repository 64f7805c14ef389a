/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /proc/self/mountinfo as slice-cgroupfs reads it at open
 * (daemon/mountinfo.c): mountinfo_find_cgroups() over the whole text, and
 * mountinfo_parse_line() over each line. The kernel writes the file, but a
 * mount's paths are anyone's who may mount (a user namespace, a FUSE
 * file system), and the daemon reads them as root. Properties:
 *   - find succeeds (the only failure is -ENOMEM); a v2 mount comes with
 *     its root, and that root holds the cgroup asked about; a v1 bit is
 *     only ever set for a controller asked about;
 *   - a line either parses, with every field inside the line and no
 *     space in the type or options, or is -EINVAL;
 *   - the root and mount point of a parsed line, escaped again as the
 *     kernel escapes (octal for space, tab, newline, backslash), parse
 *     back to the same strings. */
#include <errno.h>

#include "cgroup-v2.h"
#include "fuzz.h"
#include "mountinfo.h"

FUZZ_QUIET_INITIALIZE

static const char *const v1_controllers[] = { "cpu", "cpuacct", "memory", "pids", "blkio" };

/* Every other mount point is hidden under a later mount, say. */
static bool visible_if_even(const char *mount_point) {
        return strlen(mount_point) % 2 == 0;
}

static void check_find(const char *text, const char *own, bool (*visible)(const char *)) {
        const struct mountinfo_query q = {
                .own_cgroup = own,
                .v1_controllers = v1_controllers,
                .n_v1_controllers = ARRAY_SIZE(v1_controllers),
                .visible = visible,
        };
        struct mountinfo_cgroups c = {};
        int r;

        r = mountinfo_find_cgroups(text, &q, &c);
        if (r < 0) {
                fuzz_check(r == -ENOMEM);
                return;
        }
        fuzz_check(!c.v2_mount == !c.v2_root);
        if (c.v2_mount) {
                fuzz_check(cg_path_is_below(c.v2_root, own));
                fuzz_check(!visible || visible(c.v2_mount));
        }
        fuzz_check((c.v1_mask & ~((1U << ARRAY_SIZE(v1_controllers)) - 1)) == 0);
        mountinfo_cgroups_done(&c);
}

/* s with space, tab, newline and backslash as the kernel writes them. */
static char *escape(const char *s) {
        char *e = malloc(strlen(s) * 4 + 1), *w = e;

        if (!e)
                return NULL;
        for (; *s; s++)
                if (strchr(" \t\n\\", *s))
                        w += sprintf(w, "\\%03o", (unsigned char) *s);
                else
                        *w++ = *s;
        *w = 0;
        return e;
}

static void check_round_trip(const struct mountinfo_line *l) {
        char *root = escape(l->root), *mount_point = escape(l->mount_point), *line = NULL;
        struct mountinfo_line back;

        if (root && mount_point && asprintf(&line, "1 2 3:4 %s %s rw - %s src %s\n", root, mount_point, l->fstype,
                                            l->super_options) >= 0) {
                fuzz_check(mountinfo_parse_line(line, &back) == 0);
                fuzz_check(streq(back.root, l->root));
                fuzz_check(streq(back.mount_point, l->mount_point));
                fuzz_check(streq(back.fstype, l->fstype));
                fuzz_check(streq(back.super_options, l->super_options));
                free(line);
        }
        free(root);
        free(mount_point);
}

static bool inside(const char *p, const char *buf, size_t size) {
        return p >= buf && p < buf + size;
}

static void check_lines(const char *text) {
        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                char *line = strndup(p, n);
                struct mountinfo_line l;
                int r;

                if (!line)
                        return;
                r = mountinfo_parse_line(line, &l);
                fuzz_check(r == 0 || r == -EINVAL);
                if (r == 0) {
                        fuzz_check(inside(l.root, line, n) && inside(l.mount_point, line, n));
                        fuzz_check(inside(l.fstype, line, n) && inside(l.super_options, line, n));
                        fuzz_check(*l.root && *l.mount_point && *l.fstype && *l.super_options);
                        fuzz_check(!strpbrk(l.fstype, " \n") && !strpbrk(l.super_options, " \n"));
                        check_round_trip(&l);
                }
                free(line);
                p += n;
                if (*p)
                        p++;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_strndup(data, size);

        if (!text)
                return 0;
        check_find(text, "/", NULL);
        check_find(text, "/user.slice/prepayd.service", visible_if_even);
        check_lines(text);
        free(text);
        return 0;
}
