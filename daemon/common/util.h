/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers shared by prepayd and prepay: cleanup attributes in the
 * style of systemd's, and a few string and array macros. */

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
/* The struct of type t whose member m is at p. */
#define container_of(p, t, m) ((t *) ((char *) (p) - offsetof(t, m)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

#define USEC_PER_SEC ((uint64_t) 1000000ULL)
#define USEC_PER_MSEC ((uint64_t) 1000ULL)
#define NSEC_PER_USEC ((uint64_t) 1000ULL)
#define NSEC_PER_SEC ((uint64_t) 1000000000ULL)

/* The time of clock in microseconds. For the clocks every Linux has
 * (CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME) clock_gettime() only
 * fails on a bad pointer. */
static inline uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

/* func##p(), for _cleanup_(func##p) on a pointer that func frees; func
 * itself need not take NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) {   \
                if (*p)                         \
                        func(*p);               \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static inline void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

/* Hand an owned pointer or fd over, leaving NULL or -1 behind so that the
 * cleanup attribute does not free it. */
#define TAKE_PTR(p)                        \
        ({                                 \
                __typeof__(p) _p_ = (p);   \
                (p) = NULL;                \
                _p_;                       \
        })
#define TAKE_FD(fd)                        \
        ({                                 \
                int _fd_ = (fd);           \
                (fd) = -1;                 \
                _fd_;                      \
        })

static inline const char *strempty(const char *s) {
        return s ?: "";
}

static inline const char *strna(const char *s) {
        return s ?: "n/a";
}

/* Checked unsigned arithmetic: false on overflow, *ret untouched then. */
static inline bool u64_add(uint64_t a, uint64_t b, uint64_t *ret) {
        uint64_t r;
        if (__builtin_add_overflow(a, b, &r))
                return false;
        *ret = r;
        return true;
}

static inline bool u64_mul(uint64_t a, uint64_t b, uint64_t *ret) {
        uint64_t r;
        if (__builtin_mul_overflow(a, b, &r))
                return false;
        *ret = r;
        return true;
}

/* Small file I/O used on cgroupfs and state files (fileio.c). */
/* A read buffer that grows as needed and is kept for the next read of a
 * file read again and again (a cgroup's counters, every tick). */
struct read_buf {
        char *data;
        size_t allocated;
};
void read_buf_done(struct read_buf *b);
/* Reads all that fd holds, from offset 0 (pread(): a kept fd needs no
 * seek), into b, NUL-terminated; *ret points into b. -EFBIG past max
 * bytes. */
int read_buf_pread(struct read_buf *b, int fd, size_t max, char **ret);
int read_one_line_file(const char *path, char **ret);
int write_string_file(const char *path, const char *s);
int read_full_file(const char *path, char **ret, size_t *ret_size);
/* The same relative to a directory fd (AT_FDCWD for the above). */
int read_full_file_at(int dirfd, const char *path, char **ret, size_t *ret_size);
int write_string_file_at(int dirfd, const char *path, const char *s);
/* Writes the file whole or not at all, mode 0600: a temp file of a random
 * name beside it (O_EXCL|O_NOFOLLOW), fsync, rename, fsync of the
 * directory. On failure no temp file is left. */
int write_file_atomic(const char *path, const char *data, size_t size);
/* The same without either fsync: whole or not at all after a crash of the
 * process; after a crash of the machine, maybe the old data, maybe none. */
int write_file_atomic_nosync(const char *path, const char *data, size_t size);
/* Whether only root (or this process's user) can change what the absolute
 * path names and what is in it: it is a directory owned by root or the
 * euid and writable by no one else, and every directory above it is owned
 * by root or the euid and writable by no one else unless it is sticky
 * (where no one else may move or remove root's entries). No symbolic link
 * on the way. 0 if so; else -EPERM (owner or mode), -ELOOP, -ENOTDIR,
 * -ENOENT, ... with a sentence in *ret_error (free it) naming the
 * directory at fault, its owner and mode. */
int dir_check_private(const char *path, char **ret_error);
