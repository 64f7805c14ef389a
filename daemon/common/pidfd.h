/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A process pinned by a pidfd (Linux 5.3), and the pid number it holds
 * now, so that a number reused by another process is never taken for it.
 * Shared by prepayd (which moves the process behind one into a slice) and
 * prepay (which sends one of itself). */

#include <sys/types.h>

/* A pidfd of the calling process (pidfd_open(2)); -errno (-ENOSYS before
 * Linux 5.3). */
int pidfd_open_self(void);

/* The pid the process behind pidfd holds now, in this process's pid
 * namespace: -ESRCH once it has been reaped (Linux 5.10 reports -1 then;
 * a zombie still holds its number), -ENOENT if it is not visible in this
 * namespace, -EBADF if fd is not a pidfd. Read from /proc/self/fdinfo. */
int pidfd_get_pid(int pidfd, pid_t *ret);

