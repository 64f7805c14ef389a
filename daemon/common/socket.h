/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Messages that carry a file descriptor. Shared by prepay (a request with a
 * pidfd of itself) and the tests' helpers. */

#include <stddef.h>

/* Sends len bytes of data on sock as one message, with fd attached
 * (SCM_RIGHTS) when it is >= 0. 0, or -errno (errno is left set too). */
int socket_send_with_fd(int sock, const void *data, size_t len, int fd);
