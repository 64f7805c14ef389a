/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* /proc/self/mountinfo (proc_pid_mountinfo(5)), parsed without system
 * calls: where the cgroup hierarchies are mounted. slice-cgroupfs reads
 * the file and asks; tests/unit/test-mountinfo.c and
 * tests/fuzz/fuzz-mountinfo.c hand it text. */

/* One line:
 *   "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS"
 * Every field points into the line it was parsed from. */
struct mountinfo_line {
        const char *root;          /* the mount's root within its file system, escapes undone */
        const char *mount_point;   /* escapes undone */
        const char *fstype;        /* "cgroup2", "cgroup", "tmpfs", ... */
        const char *super_options; /* for cgroup (v1): the controllers, "rw,cpu,cpuacct" */
};

/* Splits line (one line, with or without its newline) in place: writes
 * NULs between the fields and undoes the octal escapes ("\040" for a
 * space) of root and mount point. -EINVAL, line changed, if it does not
 * have the six fields, the " - " and the three after it. */
int mountinfo_parse_line(char *line, struct mountinfo_line *ret);

/* What to look for. */
struct mountinfo_query {
        /* The cgroup v2 path of the process, as /proc/self/cgroup names it
         * ("/user.slice/session-2.scope"). */
        const char *own_cgroup;
        /* v1 controller names ("cpu", "memory", ...), at most 32. */
        const char *const *v1_controllers;
        size_t n_v1_controllers;
        /* Whether the cgroup2 mount at this path is the one seen there,
         * not hidden under a later mount on the same path (statfs()).
         * NULL: every one is. */
        bool (*visible)(const char *mount_point);
};

/* What was found. */
struct mountinfo_cgroups {
        /* The first visible cgroup2 mount whose root holds own_cgroup:
         * where the process's cgroup is to be found. NULL if none. */
        char *v2_mount;
        char *v2_root; /* that mount's root in the hierarchy, "/" unless a subtree is mounted */
        /* Bit i: v1_controllers[i] is carried by a cgroup (v1) mount. */
        unsigned v1_mask;
};

void mountinfo_cgroups_done(struct mountinfo_cgroups *c);
/* Takes one line into c, which starts zeroed; line is changed. A line
 * that does not parse is passed over. 0, or -ENOMEM. */
int mountinfo_cgroups_add_line(struct mountinfo_cgroups *c, char *line, const struct mountinfo_query *q);
/* The same over every line of text. On failure *ret is left alone. */
int mountinfo_find_cgroups(const char *text, const struct mountinfo_query *q, struct mountinfo_cgroups *ret);
