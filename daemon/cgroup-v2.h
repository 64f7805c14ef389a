/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "slice.h"

/* Reading cgroup v2 files: what both slice backends need to read a slice's
 * counters (slice-cgroupfs on every layout, slice-systemd for the whole
 * set). Nothing here writes to cgroupfs, and nothing logs: the callers run
 * at every meter tick and log themselves. */

/* A growing read buffer, reused from tick to tick. */
struct cg2_buf {
        char *data;
        size_t size;
};

void cg2_buf_done(struct cg2_buf *buf);
/* Reads the whole file behind fd from offset 0 (pread: kept fds need no
 * seek) into buf, NUL-terminated; *ret points into buf. At most 1 MiB. */
int cg2_pread_all(struct cg2_buf *buf, int fd, char **ret);

/* "key value" lines (cpu.stat, memory.events, cgroup.events, v1's
 * memory.oom_control): -ENOENT when the key is absent. */
int cg2_keyed_get(const char *text, const char *key, uint64_t *ret);
/* One number and an optional newline (memory.current, pids.current). */
int cg2_parse_u64(const char *text, uint64_t *ret);
/* io.stat: sums rbytes= and wbytes= over every device. */
void cg2_parse_io_stat(const char *text, uint64_t *ret_read, uint64_t *ret_write);
/* The cgroup id of an open cgroup v2 directory (what BPF helpers report),
 * 0 if it cannot be found. */
uint64_t cg2_dir_id(int dir_fd);

/* The counter files of one v2 cgroup that carries every controller (a
 * systemd slice): opened on first use and kept, since read_counters() runs
 * every tick for every slice. */
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

struct cg2_files {
        int dir_fd; /* borrowed: the owner keeps it open */
        int fds[_CG2_FILE_MAX];
        struct cg2_buf buf;
};

/* Logs an error for each of the cpu, memory and pids controllers that
 * features lacks ("No cpu controller in <where>") and a note for io;
 * -EOPNOTSUPP if one that is required is missing. Logs: called once, at
 * open. */
int slice_features_require(const struct slice_features *features, const char *where);

void cg2_files_init(struct cg2_files *f, int dir_fd);
void cg2_files_done(struct cg2_files *f);
/* cgroup.events text: "populated" (required) and "frozen" (absent before
 * Linux 5.2: false). Either ret may be NULL. */
int cg2_parse_events(const char *text, bool *ret_populated, bool *ret_frozen);
int cg2_read_events(struct cg2_files *f, bool *ret_populated, bool *ret_frozen);
/* Every field of slice_counters from the v2 files; a file that does not
 * exist (a controller not enabled there, memory.peak before Linux 5.19)
 * leaves its fields 0. */
int cg2_read_counters(struct cg2_files *f, struct slice_counters *ret);
