/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* QEMU's machine protocol (QMP), as prepayd speaks it with the QEMU of a
 * VM slice. That QEMU runs a buyer's guest, so what it sends is treated as
 * untrusted: lines of at most QMP_LINE_MAX bytes, at most QMP_LINES_MAX
 * read per command, each parsed by message_parse() (one JSON object, 8
 * levels deep at most), every string kept bounded and printable.
 * qmp_parse_line() is pure (tests/unit/test-qmp.c, fuzz-qmp). */

#define QMP_LINE_MAX 65536
#define QMP_LINES_MAX 64

enum qmp_kind {
        QMP_GREETING, /* {"QMP": {...}} */
        QMP_RETURN,   /* {"return": ..., "id": ...} */
        QMP_ERROR,    /* {"error": {"class": ..., "desc": ...}} */
        QMP_EVENT,    /* {"event": "SHUTDOWN", ...} */
};

/* Every string NUL-terminated, truncated to fit, bytes outside printable
 * ASCII replaced by '?'. */
struct qmp_message {
        enum qmp_kind kind;
        char id[64];           /* QMP_RETURN, QMP_ERROR: "id" if it is a string, else "" */
        char error_class[128]; /* QMP_ERROR */
        char error_desc[128];  /* QMP_ERROR */
        char event[64];        /* QMP_EVENT: SHUTDOWN, STOP, RESUME, POWERDOWN, ... */
        char status[32];       /* QMP_RETURN of query-status: "running", "paused", ...; else "" */
};

/* One line (len bytes, no need of a NUL; a trailing "\r" or "\n" is
 * fine): 0 and *ret, or -EBADMSG for anything that is not one QMP
 * message. Checked in this order: "QMP" greeting, "event" (a string),
 * "error" (an object), "return". */
int qmp_parse_line(const char *line, size_t len, struct qmp_message *ret);

/* query-status's state ({"return": {"status": "running", ...}}) as
 * qmp_parse_line() kept it: a run state name of a-z, 0-9 and '-' only, at
 * most 31 bytes; NULL if m is not such a return. */
const char *qmp_status_from_return(const struct qmp_message *m);

/* Connects to another unix socket QEMU listens on (a chardev's), as
 * qmp_command() does: the listener must be process peer (SO_PEERCRED), or
 * -EPERM. On success *ret_fd is the connected, non-blocking, close-on-exec
 * socket. */
int qemu_socket_connect(const char *socket_path, pid_t peer, uint64_t timeout_usec, int *ret_fd);

/* Runs one argument-less command (1..63 of a-z, 0-9, '-', '_', e.g.
 * "system_powerdown", "stop", "cont", "query-status", "quit") on the QMP
 * unix socket at socket_path: connect, greeting, qmp_capabilities, the
 * command, its return; events on the way are skipped. Everything within
 * timeout_usec. For query-status, ret_status (size bytes; may be NULL)
 * gets the run state. With peer > 0, the socket must be that process's
 * (SO_PEERCRED), or nothing is sent: -EPERM.
 * Returns 0; -ETIMEDOUT; -ECONNREFUSED or -ENOENT when no QEMU listens;
 * -EIO when QEMU refused the command (its error logged), closed the
 * connection or broke the protocol (logged); -EINVAL for a bad command
 * name; -ENAMETOOLONG for a path longer than sockaddr_un holds. */
int qmp_command(const char *socket_path, pid_t peer, const char *command, uint64_t timeout_usec, char *ret_status,
                size_t size);
