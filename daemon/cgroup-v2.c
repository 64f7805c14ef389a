/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sys/stat.h>

#include "cgroup-v2.h"
#include "common/log.h"

#define CPU_PERIOD_MIN_USEC ((uint64_t) 1000) /* kernel limits for cfs_period_us and cpu.max */
#define CPU_PERIOD_MAX_USEC ((uint64_t) 1000000)
#define CPU_QUOTA_MIN_USEC ((uint64_t) 1000)

static const char *const cg2_file_name[_CG2_FILE_MAX] = {
        [CG2_EVENTS] = "cgroup.events",
        [CG2_CPU_STAT] = "cpu.stat",
        [CG2_MEMORY_CURRENT] = "memory.current",
        [CG2_MEMORY_PEAK] = "memory.peak",
        [CG2_MEMORY_EVENTS] = "memory.events",
        [CG2_IO_STAT] = "io.stat",
        [CG2_PIDS_CURRENT] = "pids.current",
};

/* ---------------------------------------------------------------------- */
/* Parsers */

/* The line after the one p is in, or the final NUL. */
static const char *next_line(const char *p) {
        p = strchrnul(p, '\n');
        return *p ? p + 1 : p;
}

int cg2_keyed_get(const char *text, const char *key, uint64_t *ret) {
        size_t n = strlen(key);

        for (const char *p = text; *p; p = next_line(p))
                if (strneq(p, key, n) && p[n] == ' ') {
                        char *end;
                        unsigned long long v;

                        errno = 0;
                        v = strtoull(p + n + 1, &end, 10);
                        if (errno != 0 || end == p + n + 1)
                                return -EINVAL;
                        *ret = v;
                        return 0;
                }
        return -ENOENT;
}

int cg2_parse_u64(const char *text, uint64_t *ret) {
        unsigned long long v;
        char *end;

        errno = 0;
        v = strtoull(text, &end, 10);
        if (errno != 0 || end == text || (*end && *end != '\n'))
                return -EINVAL;
        *ret = v;
        return 0;
}

int cg2_parse_events(const char *text, bool *ret_populated, bool *ret_frozen) {
        uint64_t populated = 0, frozen = 0;
        int r;

        r = cg2_keyed_get(text, "populated", &populated);
        if (r < 0)
                return r;
        (void) cg2_keyed_get(text, "frozen", &frozen); /* absent before Linux 5.2 */
        if (ret_populated)
                *ret_populated = populated != 0;
        if (ret_frozen)
                *ret_frozen = frozen != 0;
        return 0;
}

/* cpu.stat is a core file: usage_usec is there without the cpu
 * controller, the throttling figures only with it. */
void cg2_parse_cpu_stat(const char *text, bool usage, bool throttling, struct slice_counters *c) {
        if (usage)
                (void) cg2_keyed_get(text, "usage_usec", &c->cpu_usage_usec);
        if (throttling) {
                (void) cg2_keyed_get(text, "nr_periods", &c->cpu_nr_periods);
                (void) cg2_keyed_get(text, "nr_throttled", &c->cpu_nr_throttled);
                (void) cg2_keyed_get(text, "throttled_usec", &c->cpu_throttled_usec);
        }
}

void cg2_parse_oom_kills(const char *text, uint64_t *ret) {
        (void) cg2_keyed_get(text, "oom_kill", ret);
}

/* "8:0 rbytes=1 wbytes=2 rios=..." per device. */
void cg2_parse_io_stat(const char *text, uint64_t *ret_read, uint64_t *ret_write) {
        for (const char *p = text; *p;) {
                const char *eol = strchrnul(p, '\n');

                for (const char *q = p; q < eol;) {
                        size_t n = strcspn(q, " \n");
                        uint64_t *dst = strneq(q, "rbytes=", 7) ? ret_read : strneq(q, "wbytes=", 7) ? ret_write : NULL;

                        if (dst)
                                (void) u64_add(*dst, strtoull(q + 7, NULL, 10), dst);
                        q += n;
                        q += strspn(q, " ");
                }
                p = *eol ? eol + 1 : eol;
        }
}

void cg2_parse_file(int which, const char *text, struct slice_counters *c) {
        switch (which) {
        case CG2_EVENTS:
                (void) cg2_parse_events(text, &c->populated, &c->frozen);
                break;
        case CG2_CPU_STAT:
                cg2_parse_cpu_stat(text, true, true, c);
                break;
        case CG2_MEMORY_CURRENT:
                (void) cg2_parse_u64(text, &c->memory_current);
                break;
        case CG2_MEMORY_PEAK:
                (void) cg2_parse_u64(text, &c->memory_peak);
                break;
        case CG2_MEMORY_EVENTS:
                cg2_parse_oom_kills(text, &c->oom_kills);
                break;
        case CG2_IO_STAT:
                cg2_parse_io_stat(text, &c->io_read_bytes, &c->io_write_bytes);
                break;
        case CG2_PIDS_CURRENT:
                (void) cg2_parse_u64(text, &c->pids_current);
                break;
        }
}

bool cg2_controllers_have(const char *list, const char *name) {
        size_t n = strlen(name);

        for (const char *p = list; *p;) {
                size_t m;

                p += strspn(p, " \t\n");
                m = strcspn(p, " \t\n");
                if (m == n && strneq(p, name, n))
                        return true;
                p += m;
        }
        return false;
}

int cg2_proc_cgroup_path(const char *text, char **ret) {
        for (const char *p = text; *p; p = next_line(p))
                if (strneq(p, "0::", 3)) {
                        char *s = strndup(p + 3, strcspn(p + 3, "\n"));

                        if (!s)
                                return -ENOMEM;
                        *ret = s;
                        return 0;
                }
        return -ENOENT;
}

int cg2_procs_next(const char **p, pid_t *ret) {
        char *end;
        long pid;

        errno = 0;
        pid = strtol(*p, &end, 10);
        if (errno != 0 || end == *p || pid <= 0 || pid > INT_MAX)
                return 0;
        *ret = (pid_t) pid;
        *p = end + strspn(end, "\n");
        return 1;
}

void cg1_parse_cpu_stat(const char *text, struct slice_counters *c) {
        (void) cg2_keyed_get(text, "nr_periods", &c->cpu_nr_periods);
        (void) cg2_keyed_get(text, "nr_throttled", &c->cpu_nr_throttled);
        if (cg2_keyed_get(text, "throttled_time", &c->cpu_throttled_usec) >= 0)
                c->cpu_throttled_usec /= NSEC_PER_USEC;
}

int cg1_parse_cpuacct_usage(const char *text, uint64_t *ret) {
        uint64_t nsec;
        int r;

        r = cg2_parse_u64(text, &nsec);
        if (r < 0)
                return r;
        *ret = nsec / NSEC_PER_USEC;
        return 0;
}

/* "8:0 Read 123" per device and operation, then "Total N". Kernels
 * before about 6.3 count these bytes only for a cgroup that has a throttle
 * rule (measured: 0 after 8 MiB of direct reads on 6.1), so on hybrid
 * hosts io counters may read 0. */
void cg1_parse_blkio(const char *text, uint64_t *ret_read, uint64_t *ret_write) {
        for (const char *p = text; *p; p = next_line(p)) {
                char dev[32], op[16];
                unsigned long long v;

                if (sscanf(p, "%31s %15s %llu", dev, op, &v) == 3 && strchr(dev, ':')) {
                        if (streq(op, "Read"))
                                (void) u64_add(*ret_read, v, ret_read);
                        else if (streq(op, "Write"))
                                (void) u64_add(*ret_write, v, ret_write);
                }
        }
}

bool cg_path_is_below(const char *parent, const char *child) {
        size_t n = strlen(parent);

        while (n > 0 && parent[n - 1] == '/')
                n--;
        if (!strneq(parent, child, n))
                return false;
        return child[n] == 0 || child[n] == '/';
}

/* ---------------------------------------------------------------------- */
/* Reading */

#define FD_UNOPENED (-1)

/* The kernfs node id, which the BPF helpers report, is what the file
 * handle of a cgroup2 directory carries; the inode number is the same on
 * 64-bit hosts. */
uint64_t cg2_dir_id(int dir_fd) {
        struct {
                struct file_handle fh;
                uint64_t id;
        } h = { .fh.handle_bytes = sizeof(uint64_t) };
        struct stat st;
        int mnt_id;

        if (name_to_handle_at(dir_fd, "", &h.fh, &mnt_id, AT_EMPTY_PATH) >= 0 && h.fh.handle_bytes == sizeof(uint64_t)) {
                uint64_t id;

                memcpy(&id, h.fh.f_handle, sizeof(id));
                return id;
        }
        if (fstat(dir_fd, &st) >= 0)
                return (uint64_t) st.st_ino;
        return 0;
}

void cg2_files_init(struct cg2_files *f, int dir_fd) {
        *f = (struct cg2_files) { .dir_fd = dir_fd };
        for (size_t i = 0; i < _CG2_FILE_MAX; i++)
                f->fds[i] = FD_UNOPENED;
}

void cg2_files_done(struct cg2_files *f) {
        for (size_t i = 0; i < _CG2_FILE_MAX; i++)
                if (f->fds[i] >= 0)
                        (void) close(f->fds[i]);
        cg2_files_init(f, -1);
}

/* One buffer for every read: cgroup files are read on the event loop's
 * thread only, and each text is parsed before the next read. A buffer per
 * slice cost 4 KiB or more each (measured: 15.7 KiB of prepayd's memory
 * per slice at 1,000 slices, with two). */
static struct read_buf cg_buf;

int cg_read_file_at(int dir_fd, const char *name, char **ret) {
        _cleanup_(closep) int fd = -1;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                if (errno != ENOENT)
                        return -errno;
                *ret = NULL;
                return 0;
        }
        return read_buf_pread(&cg_buf, fd, CG_FILE_MAX, ret);
}

int cg2_files_open(struct cg2_files *f, int which) {
        int fd;

        if (f->fds[which] >= 0)
                return 0;
        fd = openat(f->dir_fd, cg2_file_name[which], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        f->fds[which] = fd;
        return 0;
}

int cg2_files_read(struct cg2_files *f, int which, char **ret) {
        int r;

        /* Opened for the read, unless a waiter holds it open: a slice
         * read at most once a second need not hold files open, and at
         * 10,000 slices a dozen each would pass the daemon's limit on
         * them (20,000 in some sandboxes). */
        if (f->fds[which] < 0)
                return cg_read_file_at(f->dir_fd, cg2_file_name[which], ret);
        r = cg2_files_open(f, which);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;
        return read_buf_pread(&cg_buf, f->fds[which], CG_FILE_MAX, ret);
}

int cg2_read_events(struct cg2_files *f, bool *ret_populated, bool *ret_frozen) {
        char *text;
        int r;

        r = cg2_files_read(f, CG2_EVENTS, &text);
        if (r < 0)
                return r;
        if (!text)
                return -ENOENT; /* every v2 cgroup but the root has it */
        return cg2_parse_events(text, ret_populated, ret_frozen);
}

/* cgroup.events signals every change with POLLPRI to pollers of an fd
 * that has read it. */
static int wait_events(struct cg2_files *f, bool frozen_key, bool want, uint64_t deadline) {
        for (;;) {
                struct pollfd p = { .events = POLLPRI };
                bool populated, frozen;
                uint64_t now;
                int r;

                r = cg2_read_events(f, &populated, &frozen);
                if (r < 0)
                        return r;
                if ((frozen_key ? frozen : populated) == want)
                        return 0;
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline)
                        return -ETIMEDOUT;
                p.fd = f->fds[CG2_EVENTS]; /* open: it was just read */
                r = poll(&p, 1, (int) ((deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (r < 0 && errno != EINTR)
                        return -errno;
        }
}

int cg2_wait_events(struct cg2_files *f, bool frozen_key, bool want, uint64_t timeout_usec) {
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + timeout_usec;
        int r;

        /* Held open while waiting: the poll needs the fd that read it. */
        r = cg2_files_open(f, CG2_EVENTS);
        if (r < 0)
                return r;
        r = wait_events(f, frozen_key, want, deadline);
        (void) close(f->fds[CG2_EVENTS]);
        f->fds[CG2_EVENTS] = FD_UNOPENED;
        return r;
}

int cg2_read_counters(struct cg2_files *f, struct slice_counters *ret) {
        struct slice_counters c = {};
        int r;

        r = cg2_read_events(f, &c.populated, &c.frozen);
        if (r < 0)
                return r;
        for (int which = CG2_EVENTS + 1; which < _CG2_FILE_MAX; which++) {
                char *text;

                r = cg2_files_read(f, which, &text);
                if (r < 0)
                        return r;
                if (text)
                        cg2_parse_file(which, text, &c);
        }
        *ret = c;
        return 0;
}

int cg2_populated(struct cg2_files *f, const char *id) {
        bool populated;
        int r;

        r = cg2_read_events(f, &populated, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to read cgroup.events of slice %s: %m", id);
        return populated;
}

/* ---------------------------------------------------------------------- */
/* What a slice may be given */

int slice_features_require(const struct slice_features *features, const char *where) {
        static const struct {
                size_t offset;
                const char *name;
        } required[] = {
                { offsetof(struct slice_features, cpu), "cpu" },
                { offsetof(struct slice_features, memory), "memory" },
                { offsetof(struct slice_features, pids), "pids" },
        };
        bool missing = false;

        for (size_t i = 0; i < ARRAY_SIZE(required); i++)
                if (!*(const bool *) ((const char *) features + required[i].offset)) {
                        log_error("No %s controller in %s", required[i].name, where);
                        missing = true;
                }
        if (!features->io)
                log_info("No io controller in %s: io counters will read 0", where);
        return missing ? -EOPNOTSUPP : 0;
}

int slice_limits_check(const struct slice_limits *l, const char *what, const char *id) {
        uint64_t period = l->cpu_period_usec ?: CPU_PERIOD_DEFAULT_USEC;

        if (period < CPU_PERIOD_MIN_USEC || period > CPU_PERIOD_MAX_USEC)
                return log_error_errno(ERANGE, "Failed to %s slice %s: CPU period %" PRIu64 " us is not within 1 ms and 1 s",
                                       what, id, l->cpu_period_usec);
        return 0;
}

void slice_limits_cpu(const struct slice_limits *l, uint64_t *ret_quota, uint64_t *ret_period) {
        uint64_t quota = l->cpu_quota_usec;

        /* The kernel refuses a quota under 1 ms; the tiniest throttle is that. */
        if (quota > 0 && quota < CPU_QUOTA_MIN_USEC)
                quota = CPU_QUOTA_MIN_USEC;
        *ret_quota = quota;
        *ret_period = l->cpu_period_usec ?: CPU_PERIOD_DEFAULT_USEC;
}
