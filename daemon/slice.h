/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/message.h"

/* One interface for every way of making slices: cgroupfs (libcgroup, this
 * file's first implementation, slice-cgroupfs.c) and, later, systemd
 * transient units (slice-systemd.c). The manager only speaks slice_ops.
 *
 * Every function returns 0 or a positive value on success and -errno on
 * failure, and logs its failure itself (once, naming the slice). */

struct slice_backend;  /* per-backend state, opaque */
struct slice_handle;   /* one slice in one backend, opaque */

/* Kernel counters for one slice, read from cgroupfs files. */
struct slice_counters {
        uint64_t cpu_usage_usec;     /* kernel's own figure: v2 cpu.stat usage_usec or v1 cpuacct.usage */
        uint64_t cpu_nr_periods;
        uint64_t cpu_nr_throttled;
        uint64_t cpu_throttled_usec;
        uint64_t memory_current;
        uint64_t memory_peak;
        uint64_t oom_kills;          /* v2 memory.events oom_kill, v1 memory.oom_control oom_kill */
        uint64_t io_read_bytes;
        uint64_t io_write_bytes;
        uint64_t pids_current;
        bool populated;
        bool frozen;
};

/* What the host offers, found by the probe. */
struct slice_features {
        bool hybrid;          /* v1 controllers for limits, v2 for ids/freeze/kill */
        bool cpu;             /* a hierarchy offers the cpu controller */
        bool memory;
        bool pids;
        bool io;
        bool cgroup_kill;     /* cgroup.kill exists (Linux 5.14+) */
        bool memory_peak;     /* v2 memory.peak exists (Linux 5.19+) */
};

struct slice_ops {
        const char *name;

        /* Finds the hierarchies, checks what is required and makes the
         * root beneath the daemon's own cgroup (cgroup_root relative to
         * it, or absolute from the hierarchy root if it starts with "/").
         * Fails with one clear log line per missing thing. */
        int (*open)(const char *cgroup_root, struct slice_backend **ret);
        /* Removes the (empty) root it made, then frees. Accepts NULL. */
        void (*close)(struct slice_backend *b, bool remove_root);

        const struct slice_features *(*features)(struct slice_backend *b);
        /* fd of the v2 root directory (O_DIRECTORY), for BPF attachment
         * and the cgroup iterator. Owned by the backend. */
        int (*root_fd)(struct slice_backend *b);
        /* Path of the v2 root, for messages. */
        const char *(*root_path)(struct slice_backend *b);

        /* Creates the slice with these limits; fails with -EEXIST if a
         * cgroup of that id is already there. */
        int (*create)(struct slice_backend *b, const char *id, const struct slice_limits *l,
                      struct slice_handle **ret);
        /* Takes over an existing slice of that id (after a daemon restart);
         * -ENOENT if it has vanished. */
        int (*adopt)(struct slice_backend *b, const char *id, struct slice_handle **ret);
        /* Lists ids of slice cgroups present under the root: calls cb for
         * each; stops and returns cb's value if negative. */
        int (*enumerate)(struct slice_backend *b, int (*cb)(const char *id, void *userdata), void *userdata);
        /* Kills what is left, removes the cgroups in every hierarchy, and
         * frees the handle (also on failure). */
        int (*destroy)(struct slice_backend *b, struct slice_handle *h);
        /* Frees the handle, leaves the cgroups. Accepts NULL. */
        void (*release)(struct slice_handle *h);

        int (*set_limits)(struct slice_handle *h, const struct slice_limits *l);
        int (*attach)(struct slice_handle *h, pid_t pid);
        int (*freeze)(struct slice_handle *h, bool freeze);
        /* SIGKILLs every process in the slice: cgroup.kill where it exists,
         * else freeze, signal each pid, thaw, until empty. */
        int (*kill)(struct slice_handle *h);
        /* 1 populated, 0 empty, <0 error. */
        int (*populated)(struct slice_handle *h);
        /* Does not log (it runs every tick); -ENOENT: the slice's cgroup
         * was removed behind the daemon's back. */
        int (*read_counters)(struct slice_handle *h, struct slice_counters *ret);
        /* The v2 cgroup id (inode number of the v2 directory). */
        uint64_t (*cgroup_id)(struct slice_handle *h);
        /* Path of the slice's v2 cgroup below the v2 mount ("/prepay/s-1a2b"). */
        const char *(*cgroup_path)(struct slice_handle *h);

        /* Starts an existing unit's command inside the slice: a transient
         * service "prepay-<id>-<unit>" with the unit's ExecStart=, User=,
         * Group=, WorkingDirectory= and Environment=, in Slice= of the slice.
         * If required_uid is not (uid_t) -1, the unit must run as that uid
         * (-EPERM otherwise). On success *ret_name is the transient unit's
         * name; on failure *ret_error may hold a sentence for the client.
         * NULL where the backend has no units (cgroupfs). */
        int (*run_unit)(struct slice_handle *h, const char *unit, uid_t required_uid, char **ret_name,
                        char **ret_error);
        /* Starts argv as uid/gid (with groups) in the slice: the transient
         * service "prepay-<id>-<name>.service" in the slice unit; *ret_pid
         * is its main process. NULL where the daemon forks the process
         * and moves it in with attach() before it execs (cgroupfs). */
        int (*spawn)(struct slice_handle *h, const char *name, char *const argv[], uid_t uid, gid_t gid,
                     const gid_t *groups, size_t n_groups, pid_t *ret_pid);
        /* Whether pid is still the process spawn() started as name (after
         * a restart, before it is taken back): 1, 0 or -errno. In the
         * slice's cgroup.procs (cgroupfs), the unit's MainPID (systemd).
         * Neither needs /proc, which the packaged unit hides. */
        int (*owns_pid)(struct slice_handle *h, const char *name, pid_t pid);
};

extern const struct slice_ops slice_cgroupfs_ops;
extern const struct slice_ops slice_systemd_ops;

/* Backend=auto picks systemd when this is true: systemd is PID 1
 * (sd_booted()) and /sys/fs/cgroup is a pure cgroup v2 mount. */
bool slice_systemd_usable(void);
