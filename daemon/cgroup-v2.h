/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/util.h"
#include "slice.h"

/* What both slice backends share: the parsers of the cgroup files a
 * slice's counters and state come from, the v2 files a slice keeps open,
 * and the checks of what a slice may be given.
 *
 * The parsers take text and touch nothing else, so tests/unit/
 * test-cgroup-v2.c drives them with the kernel's formats: cg2_* for v2
 * files, cg1_* for the few v1 files hybrid hosts need, cg_path_* for
 * cgroup paths. The reading is kept apart (cg2_files_*). Nothing here
 * writes to cgroupfs, and nothing logs but cg2_populated(),
 * slice_features_require() and slice_limits_check(): the readers run at
 * every meter tick and their callers log. */

/* ---- Parsers (no system calls) ---- */

/* The v2 files a slice's counters and state come from. */
enum {
        CG2_EVENTS,
        CG2_CPU_STAT,
        CG2_MEMORY_CURRENT,
        CG2_MEMORY_PEAK,
        CG2_MEMORY_EVENTS,
        CG2_IO_STAT,
        CG2_PIDS_CURRENT,
        _CG2_FILE_MAX,
};

/* Takes into c what v2 file which says: its counters set (io.stat's added).
 * A v1 file of the same meaning has the same format (memory.usage_in_bytes,
 * memory.max_usage_in_bytes, memory.oom_control, pids.current), but for
 * blkio's and the cpu ones. */
void cg2_parse_file(int which, const char *text, struct slice_counters *c);

/* "key value" lines (cpu.stat, memory.events, cgroup.events, v1's
 * cpu.stat and memory.oom_control): -ENOENT when the key is absent,
 * -EINVAL when its value is not a number; *ret is written only on success. */
int cg2_keyed_get(const char *text, const char *key, uint64_t *ret);
/* One number and an optional newline (memory.current, memory.peak,
 * pids.current, and v1's memory.usage_in_bytes, memory.max_usage_in_bytes). */
int cg2_parse_u64(const char *text, uint64_t *ret);
/* cgroup.events: "populated" (required: -ENOENT without it) and "frozen"
 * (absent before Linux 5.2: false). Either ret may be NULL. */
int cg2_parse_events(const char *text, bool *ret_populated, bool *ret_frozen);
/* cpu.stat: usage_usec into c->cpu_usage_usec if usage, and if throttling
 * the figures only the cpu controller adds (nr_periods, nr_throttled,
 * throttled_usec). A field that is absent is left as it was. */
void cg2_parse_cpu_stat(const char *text, bool usage, bool throttling, struct slice_counters *c);
/* memory.events and v1's memory.oom_control: oom_kill, left as it was when
 * absent (before Linux 4.13). */
void cg2_parse_oom_kills(const char *text, uint64_t *ret);
/* io.stat: adds rbytes= and wbytes= of every device to *ret_read and
 * *ret_write; a sum that would overflow stays where it was. */
void cg2_parse_io_stat(const char *text, uint64_t *ret_read, uint64_t *ret_write);
/* cgroup.controllers and cgroup.subtree_control: is name one of the
 * space-separated words of list? */
bool cg2_controllers_have(const char *list, const char *name);
/* /proc/PID/cgroup: the path of the v2 line ("0::/a/b" gives "/a/b");
 * -ENOENT if there is none. */
int cg2_proc_cgroup_path(const char *text, char **ret);
/* cgroup.procs, one pid a line: the pid at *p, and *p moved past it; 0 at
 * the end or at anything that is not a pid, 1 with a pid. */
int cg2_procs_next(const char **p, pid_t *ret);

/* v1 cpu.stat: nr_periods, nr_throttled and throttled_time (ns, into
 * cpu_throttled_usec), each left as it was when absent. */
void cg1_parse_cpu_stat(const char *text, struct slice_counters *c);
/* v1 cpuacct.usage (ns) in us; *ret written only on success. */
int cg1_parse_cpuacct_usage(const char *text, uint64_t *ret);
/* v1 blkio.throttle.io_service_bytes: adds the "Read" and "Write" bytes of
 * every device to *ret_read and *ret_write, as cg2_parse_io_stat() does. */
void cg1_parse_blkio(const char *text, uint64_t *ret_read, uint64_t *ret_write);

/* Is child equal to or below parent? Both absolute cgroup paths; a
 * trailing slash of parent is ignored ("/a/" holds "/a/b", "/a" does not
 * hold "/ab"). */
bool cg_path_is_below(const char *parent, const char *child);

/* ---- Reading ---- */

/* The most a counter file may hold. */
#define CG_FILE_MAX (1U << 20)

/* The cgroup id of an open cgroup v2 directory (what BPF helpers report),
 * 0 if it cannot be found. */
uint64_t cg2_dir_id(int dir_fd);

/* The text of file name in dir_fd (AT_FDCWD: name is a path), read
 * afresh into a buffer all reads share, valid until the next read. 0 and
 * *ret = NULL when it does not exist. */
int cg_read_file_at(int dir_fd, const char *name, char **ret);

/* The v2 files of a slice's cgroup, opened for each read; cgroup.events
 * is held open while cg2_wait_events() polls it. */
struct cg2_files {
        int dir_fd; /* borrowed: the owner keeps it open */
        int fds[_CG2_FILE_MAX];
};

void cg2_files_init(struct cg2_files *f, int dir_fd);
void cg2_files_done(struct cg2_files *f);
/* Opens file which now, if it is not open yet: -ENOENT if it is absent. */
int cg2_files_open(struct cg2_files *f, int which);
/* The text of file which, valid until the next read. 0 and *ret = NULL
 * when the file does not exist; it is looked for again at the next read,
 * since a controller enabled later (systemd does so when a limit is set
 * on a running slice) makes its files appear. */
int cg2_files_read(struct cg2_files *f, int which, char **ret);
int cg2_read_events(struct cg2_files *f, bool *ret_populated, bool *ret_frozen);
/* Waits until cgroup.events says frozen (frozen_key) or populated is
 * want: -ETIMEDOUT after timeout_usec. */
int cg2_wait_events(struct cg2_files *f, bool frozen_key, bool want, uint64_t timeout_usec);
/* Every field of slice_counters from the v2 files of a cgroup that
 * carries every controller (a systemd slice); a file that does not exist
 * (a controller not enabled there, memory.peak before Linux 5.19) leaves
 * its fields 0. */
int cg2_read_counters(struct cg2_files *f, struct slice_counters *ret);
/* populated() of slice id: 1 populated, 0 empty; logs a failure. */
int cg2_populated(struct cg2_files *f, const char *id);

/* ---- What a slice may be given ---- */

/* Logs an error for each of the cpu, memory and pids controllers that
 * features lacks ("No cpu controller in <where>") and a note for io;
 * -EOPNOTSUPP if one that is required is missing. Logs: called once, at
 * open. */
int slice_features_require(const struct slice_features *features, const char *where);
/* -ERANGE, logged as "Failed to <what> slice <id>: ...", when the CPU
 * period of l is not within the kernel's 1 ms and 1 s. */
int slice_limits_check(const struct slice_limits *l, const char *what, const char *id);
/* The CPU bandwidth to set for l: the period (100 ms when 0) and the
 * quota per period, raised to the kernel's minimum of 1 ms (0: no limit). */
void slice_limits_cpu(const struct slice_limits *l, uint64_t *ret_quota, uint64_t *ret_period);
/* The CPU period without one asked, and the kernel's for a new cgroup. */
#define CPU_PERIOD_DEFAULT_USEC ((uint64_t) 100000)
