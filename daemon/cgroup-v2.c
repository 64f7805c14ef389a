/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sys/stat.h>

#include "cgroup-v2.h"
#include "common/log.h"
#include "common/util.h"

#define BUF_INITIAL 4096
#define BUF_MAX (1U << 20)

#define FD_UNOPENED (-1)
#define FD_ABSENT (-2)

static const char *const cg2_file_name[_CG2_FILE_MAX] = {
        [CG2_EVENTS] = "cgroup.events",
        [CG2_CPU_STAT] = "cpu.stat",
        [CG2_MEMORY_CURRENT] = "memory.current",
        [CG2_MEMORY_PEAK] = "memory.peak",
        [CG2_MEMORY_EVENTS] = "memory.events",
        [CG2_IO_STAT] = "io.stat",
        [CG2_PIDS_CURRENT] = "pids.current",
};

void cg2_buf_done(struct cg2_buf *buf) {
        free(buf->data);
        buf->data = NULL;
        buf->size = 0;
}

int cg2_pread_all(struct cg2_buf *buf, int fd, char **ret) {
        size_t off = 0;

        if (!buf->data) {
                buf->data = malloc(BUF_INITIAL);
                if (!buf->data)
                        return -ENOMEM;
                buf->size = BUF_INITIAL;
        }
        for (;;) {
                ssize_t n;

                if (buf->size - off < 2) {
                        char *p;

                        if (buf->size >= BUF_MAX)
                                return -EFBIG;
                        p = realloc(buf->data, buf->size * 2);
                        if (!p)
                                return -ENOMEM;
                        buf->data = p;
                        buf->size *= 2;
                }
                n = pread(fd, buf->data + off, buf->size - off - 1, (off_t) off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                off += (size_t) n;
        }
        buf->data[off] = 0;
        *ret = buf->data;
        return 0;
}

int cg2_keyed_get(const char *text, const char *key, uint64_t *ret) {
        size_t n = strlen(key);

        for (const char *p = text; *p;) {
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
                p = strchrnul(p, '\n');
                if (*p)
                        p++;
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
        cg2_buf_done(&f->buf);
        cg2_files_init(f, -1);
}

/* 0 and *ret = NULL when the file does not exist. A controller systemd
 * enables later (a limit set on a running slice) makes its files appear:
 * an absent file is looked for again at the next read. */
static int cg2_read(struct cg2_files *f, int which, char **ret) {
        if (f->fds[which] < 0) {
                int fd = openat(f->dir_fd, cg2_file_name[which], O_RDONLY | O_CLOEXEC);

                if (fd < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        *ret = NULL;
                        return 0;
                }
                f->fds[which] = fd;
        }
        return cg2_pread_all(&f->buf, f->fds[which], ret);
}

int cg2_read_events(struct cg2_files *f, bool *ret_populated, bool *ret_frozen) {
        char *text;
        int r;

        r = cg2_read(f, CG2_EVENTS, &text);
        if (r < 0)
                return r;
        if (!text)
                return -ENOENT; /* every v2 cgroup but the root has it */
        return cg2_parse_events(text, ret_populated, ret_frozen);
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

int cg2_read_counters(struct cg2_files *f, struct slice_counters *ret) {
        struct slice_counters c = {};
        char *text;
        int r;

        r = cg2_read_events(f, &c.populated, &c.frozen);
        if (r < 0)
                return r;

        /* cpu.stat is a core file: usage_usec is there without the cpu
         * controller, the throttling figures only with it. */
        r = cg2_read(f, CG2_CPU_STAT, &text);
        if (r < 0)
                return r;
        if (text) {
                (void) cg2_keyed_get(text, "usage_usec", &c.cpu_usage_usec);
                (void) cg2_keyed_get(text, "nr_periods", &c.cpu_nr_periods);
                (void) cg2_keyed_get(text, "nr_throttled", &c.cpu_nr_throttled);
                (void) cg2_keyed_get(text, "throttled_usec", &c.cpu_throttled_usec);
        }

        r = cg2_read(f, CG2_MEMORY_CURRENT, &text);
        if (r < 0)
                return r;
        if (text)
                (void) cg2_parse_u64(text, &c.memory_current);
        r = cg2_read(f, CG2_MEMORY_PEAK, &text);
        if (r < 0)
                return r;
        if (text)
                (void) cg2_parse_u64(text, &c.memory_peak);
        r = cg2_read(f, CG2_MEMORY_EVENTS, &text);
        if (r < 0)
                return r;
        if (text)
                (void) cg2_keyed_get(text, "oom_kill", &c.oom_kills);

        r = cg2_read(f, CG2_IO_STAT, &text);
        if (r < 0)
                return r;
        if (text)
                cg2_parse_io_stat(text, &c.io_read_bytes, &c.io_write_bytes);

        r = cg2_read(f, CG2_PIDS_CURRENT, &text);
        if (r < 0)
                return r;
        if (text)
                (void) cg2_parse_u64(text, &c.pids_current);

        *ret = c;
        return 0;
}

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
