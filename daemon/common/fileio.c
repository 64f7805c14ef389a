/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util.h"

/* cgroupfs and state files are small; anything larger is a mistake. */
#define READ_FULL_MAX (4U * 1024U * 1024U)
#define READ_BUF_INITIAL 4096U

void read_buf_done(struct read_buf *b) {
        free(b->data);
        *b = (struct read_buf) {};
}

/* The loop under every read of a whole file: reads fd to its end into b,
 * doubling it when full, and NUL-terminates. pread() from offset 0 with
 * positional (a kept fd needs no seek), else read() from where fd is. */
static int read_buf_fill(struct read_buf *b, int fd, bool positional, size_t max, size_t *ret_size) {
        size_t size = 0;

        for (;;) {
                ssize_t n;

                /* Room for one byte more and the NUL. */
                if (b->allocated - size < 2) {
                        size_t allocated = b->allocated ? MIN(b->allocated * 2, max + 1) : READ_BUF_INITIAL;
                        char *p;

                        if (b->allocated > max)
                                return -EFBIG;
                        p = realloc(b->data, allocated);
                        if (!p)
                                return -ENOMEM;
                        b->data = p;
                        b->allocated = allocated;
                }

                n = positional ? pread(fd, b->data + size, b->allocated - size - 1, (off_t) size)
                               : read(fd, b->data + size, b->allocated - size - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        b->data[size] = 0;
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_buf_pread(struct read_buf *b, int fd, size_t max, char **ret) {
        int r;

        r = read_buf_fill(b, fd, true, max, NULL);
        if (r < 0)
                return r;
        *ret = b->data;
        return 0;
}

int read_full_file_at(int dirfd, const char *path, char **ret, size_t *ret_size) {
        _cleanup_(closep) int fd = -1;
        struct read_buf b = {};
        int r;

        fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        r = read_buf_fill(&b, fd, false, READ_FULL_MAX, ret_size);
        if (r < 0) {
                read_buf_done(&b);
                return r;
        }
        *ret = b.data;
        return 0;
}

int read_full_file(const char *path, char **ret, size_t *ret_size) {
        return read_full_file_at(AT_FDCWD, path, ret, ret_size);
}

int read_one_line_file(const char *path, char **ret) {
        char *s;
        int r;

        r = read_full_file(path, &s, NULL);
        if (r < 0)
                return r;
        s[strcspn(s, "\n")] = 0;
        *ret = s;
        return 0;
}

int write_string_file_at(int dirfd, const char *path, const char *s) {
        _cleanup_(closep) int fd = -1;
        size_t len = strlen(s);
        ssize_t n;

        fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;

        /* cgroupfs takes one write() per value; a short write is an error. */
        n = write(fd, s, len);
        if (n < 0)
                return -errno;
        if ((size_t) n != len)
                return -EIO;
        return 0;
}

int write_string_file(const char *path, const char *s) {
        return write_string_file_at(AT_FDCWD, path, s);
}

/* The temp file gets a random name and is made with O_EXCL|O_NOFOLLOW, so
 * nothing planted beside path in advance is followed, truncated or renamed
 * into place (the name was "<path>.tmp.<pid>", which anyone could guess).
 * O_TMPFILE and linkat() would still need a name to rename over path, as
 * linkat() does not replace: a random name is the simpler way. With
 * durable, the file is fsynced before the rename and the directory after
 * it, so that after a crash of the machine path holds the old data or the
 * new, and the new stays; without, that holds after a crash of the
 * process only (the page cache survives it), for a millisecond or two
 * less on this machine's disk. */
static int write_file_replace(const char *path, const char *data, size_t size, bool durable) {
        _cleanup_(freep) char *dir = NULL, *tmp = NULL;
        _cleanup_(closep) int dfd = -1, fd = -1;
        const char *base;
        char *slash;
        size_t done = 0;
        int r;

        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (!slash) {
                base = path;
                strcpy(dir, ".");
        } else {
                base = path + (slash - dir) + 1;
                if (slash == dir)
                        slash[1] = 0; /* "/x": the directory is "/" */
                else
                        *slash = 0;
        }
        if (!*base || streq(base, ".") || streq(base, ".."))
                return -EISDIR;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;

        for (unsigned attempt = 0; fd < 0; attempt++) {
                uint64_t rnd;

                if (attempt >= 16)
                        return -EEXIST;
                if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
                        return errno > 0 ? -errno : -EIO;
                free(tmp);
                if (asprintf(&tmp, ".%s.%016" PRIx64 ".tmp", base, rnd) < 0) {
                        tmp = NULL;
                        return -ENOMEM;
                }
                fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
                if (fd < 0 && errno != EEXIST)
                        return -errno;
        }

        /* 0600 whatever the umask. */
        if (fchmod(fd, 0600) < 0) {
                r = -errno;
                goto fail;
        }
        while (done < size) {
                ssize_t n = write(fd, data + done, size - done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                done += (size_t) n;
        }

        if (durable && fsync(fd) < 0) {
                r = -errno;
                goto fail;
        }

        if (renameat(dfd, tmp, dfd, base) < 0) {
                r = -errno;
                goto fail;
        }
        if (durable && fsync(dfd) < 0)
                return -errno;
        return 0;

fail:
        (void) unlinkat(dfd, tmp, 0);
        return r;
}

int write_file_atomic(const char *path, const char *data, size_t size) {
        return write_file_replace(path, data, size, true);
}

int write_file_atomic_nosync(const char *path, const char *data, size_t size) {
        return write_file_replace(path, data, size, false);
}

static bool owner_trusted(uid_t uid) {
        return uid == 0 || uid == geteuid();
}

/* One directory on the way (at, open as fd): see dir_check_private(). */
static int check_one(int fd, const char *at, bool last, char **ret_error) {
        struct stat st;
        unsigned mode;
        int r;

        if (fstat(fd, &st) < 0) {
                r = -errno;
                if (asprintf(ret_error, "cannot check %s: %s", at, strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        mode = (unsigned) (st.st_mode & 07777);
        if (S_ISLNK(st.st_mode)) {
                if (asprintf(ret_error, "%s is a symbolic link (name the directory it leads to)", at) < 0)
                        *ret_error = NULL;
                return -ELOOP;
        }
        if (!S_ISDIR(st.st_mode)) {
                if (asprintf(ret_error, "%s is not a directory", at) < 0)
                        *ret_error = NULL;
                return -ENOTDIR;
        }
        if (!owner_trusted(st.st_uid)) {
                if (asprintf(ret_error, "%s is owned by uid %u (mode %04o), not by root", at, (unsigned) st.st_uid,
                             mode) < 0)
                        *ret_error = NULL;
                return -EPERM;
        }
        /* Above the directory, a sticky one open to all (/tmp, a 1777
         * /sys/fs/bpf) is fine: no one else may move or remove what root
         * has in it. The directory itself takes no one else's entries. */
        if ((st.st_mode & (S_IWGRP | S_IWOTH)) && (last || !(st.st_mode & S_ISVTX))) {
                if (asprintf(ret_error, "%s is writable by %s (mode %04o, owner uid %u)", at,
                             st.st_mode & S_IWOTH ? "others" : "its group", mode, (unsigned) st.st_uid) < 0)
                        *ret_error = NULL;
                return -EPERM;
        }
        return 0;
}

/* Walks path from "/" one name at a time without following symbolic links
 * (O_PATH|O_NOFOLLOW), so what is checked is what the names lead to. */
int dir_check_private(const char *path, char **ret_error) {
        _cleanup_(freep) char *at = NULL, *error = NULL;
        _cleanup_(closep) int fd = -1;
        const char *p = path;
        int r;

        if (!path || path[0] != '/')
                return -EINVAL;
        at = malloc(strlen(path) + 2);
        if (!at)
                return -ENOMEM;
        strcpy(at, "/");
        fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        for (;;) {
                size_t len;
                bool last;

                while (*p == '/')
                        p++;
                last = !*p;
                r = check_one(fd, at, last, &error);
                if (r < 0 || last)
                        break;

                len = strcspn(p, "/");
                if (len == 2 && strneq(p, "..", 2)) {
                        r = -EINVAL;
                        if (asprintf(&error, "%s has a \"..\" in it", path) < 0)
                                error = NULL;
                        break;
                }
                if (!(len == 1 && p[0] == '.')) {
                        char *name;
                        int next;

                        if (!streq(at, "/"))
                                strcat(at, "/");
                        name = at + strlen(at);
                        strncat(at, p, len);
                        next = openat(fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
                        if (next < 0) {
                                r = -errno;
                                if (asprintf(&error, "cannot open %s: %s", at, strerror(-r)) < 0)
                                        error = NULL;
                                break;
                        }
                        close(fd);
                        fd = next;
                }
                p += len;
        }
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(error);
        return r;
}
