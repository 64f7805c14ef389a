/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/syscall.h>

#include "pidfd.h"
#include "util.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* every architecture since Linux 5.3 */
#endif

int pidfd_open_self(void) {
        int fd = (int) syscall(SYS_pidfd_open, getpid(), 0);

        return fd < 0 ? -errno : fd;
}

/* The value of "key:" in text (lines "key:\tvalue"), or NULL. */
static const char *find_field(const char *text, const char *key) {
        size_t n = strlen(key);

        for (const char *p = text; *p;) {
                if (strneq(p, key, n) && p[n] == ':')
                        return p + n + 1;
                p = strchrnul(p, '\n');
                if (*p)
                        p++;
        }
        return NULL;
}

int pidfd_get_pid(int pidfd, pid_t *ret) {
        _cleanup_(freep) char *text = NULL;
        const char *v;
        char path[64], *end;
        long long pid;
        int r;

        if (pidfd < 0)
                return -EBADF;
        (void) snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
        r = read_full_file(path, &text, NULL);
        if (r < 0)
                return r;
        /* Only a pidfd's fdinfo has a "Pid:" line. */
        v = find_field(text, "Pid");
        if (!v)
                return -EBADF;
        errno = 0;
        pid = strtoll(v, &end, 10);
        if (errno != 0 || end == v || (*end && *end != '\n') || pid < -1 || pid > INT_MAX)
                return -EBADF;
        if (pid == -1)
                return -ESRCH;
        if (pid == 0)
                return -ENOENT;
        *ret = (pid_t) pid;
        return 0;
}
