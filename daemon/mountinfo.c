/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cgroup-v2.h"
#include "common/util.h"
#include "mountinfo.h"

static bool is_octal(char c) {
        return c >= '0' && c <= '7';
}

/* Undoes the kernel's octal escapes of space, tab, newline and backslash
 * ("\040") in place. Any other backslash stays as it is, and so does
 * "\000", which would cut the string short. */
static void unescape(char *s) {
        char *w = s;

        for (char *r = s; *r;) {
                int c = r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && is_octal(r[2]) && is_octal(r[3])
                                ? ((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0')
                                : 0;

                if (c != 0) {
                        *w++ = (char) c;
                        r += 4;
                } else
                        *w++ = *r++;
        }
        *w = 0;
}

/* Splits s into n words separated by runs of any of sep. -EINVAL if there
 * are fewer. */
static int split(char *s, const char *sep, char **words, size_t n) {
        char *save = NULL;

        for (size_t i = 0; i < n; i++) {
                words[i] = strtok_r(i == 0 ? s : NULL, sep, &save);
                if (!words[i])
                        return -EINVAL;
        }
        return 0;
}

int mountinfo_parse_line(char *line, struct mountinfo_line *ret) {
        /* The optional fields end at the first "-" field, and no field
         * holds a space (the kernel escapes it). */
        char *sep = strstr(line, " - "), *head[6], *tail[3];

        if (!sep)
                return -EINVAL;
        *sep = 0;
        if (split(line, " ", head, ARRAY_SIZE(head)) < 0 || split(sep + 3, " \n", tail, ARRAY_SIZE(tail)) < 0)
                return -EINVAL;
        unescape(head[3]);
        unescape(head[4]);
        *ret = (struct mountinfo_line) {
                .root = head[3],
                .mount_point = head[4],
                .fstype = tail[0],
                .super_options = tail[2],
        };
        return 0;
}

/* The bits of the controllers of q among the comma-separated options. */
static unsigned v1_controllers_in(const char *options, const struct mountinfo_query *q) {
        unsigned mask = 0;

        for (const char *p = options; *p;) {
                size_t n = strcspn(p, ",");

                for (size_t i = 0; i < q->n_v1_controllers && i < 32; i++)
                        if (strlen(q->v1_controllers[i]) == n && strneq(p, q->v1_controllers[i], n))
                                mask |= 1U << i;
                p += n;
                if (*p)
                        p++;
        }
        return mask;
}

void mountinfo_cgroups_done(struct mountinfo_cgroups *c) {
        free(c->v2_mount);
        free(c->v2_root);
        *c = (struct mountinfo_cgroups) {};
}

int mountinfo_cgroups_add_line(struct mountinfo_cgroups *c, char *line, const struct mountinfo_query *q) {
        struct mountinfo_line l;
        char *mount, *root;

        if (mountinfo_parse_line(line, &l) < 0)
                return 0;
        if (streq(l.fstype, "cgroup")) {
                c->v1_mask |= v1_controllers_in(l.super_options, q);
                return 0;
        }
        /* Below the v2 mount that shows our cgroup, the first one wins; an
         * over-mounted one shows nothing. */
        if (!streq(l.fstype, "cgroup2") || c->v2_mount || !cg_path_is_below(l.root, q->own_cgroup) ||
            (q->visible && !q->visible(l.mount_point)))
                return 0;

        mount = strdup(l.mount_point);
        root = strdup(l.root);
        if (!mount || !root) {
                free(mount);
                free(root);
                return -ENOMEM;
        }
        c->v2_mount = mount;
        c->v2_root = root;
        return 0;
}

int mountinfo_find_cgroups(const char *text, const struct mountinfo_query *q, struct mountinfo_cgroups *ret) {
        struct mountinfo_cgroups c = {};

        for (const char *p = text; *p;) {
                size_t n = strcspn(p, "\n");
                _cleanup_(freep) char *line = strndup(p, n);
                int r;

                if (!line) {
                        mountinfo_cgroups_done(&c);
                        return -ENOMEM;
                }
                r = mountinfo_cgroups_add_line(&c, line, q);
                if (r < 0) {
                        mountinfo_cgroups_done(&c);
                        return r;
                }
                p += n;
                if (*p)
                        p++;
        }
        *ret = c;
        return 0;
}
