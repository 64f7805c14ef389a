/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QMP (qmp.h): parsing a line, and a small synchronous client. */
#include "qmp.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "common/log.h"
#include "common/message.h"
#include "common/util.h"

static void json_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

/* src into dst (size bytes), truncated, non-printable bytes as '?'. */
static void copy_bounded(char *dst, size_t size, const char *src) {
        size_t i;

        for (i = 0; src[i] && i + 1 < size; i++)
                dst[i] = src[i] >= 0x20 && src[i] <= 0x7e ? src[i] : '?';
        dst[i] = 0;
}

static const char *get_string(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static void parse_status(json_object *ret, struct qmp_message *m) {
        const char *status;
        size_t n;

        if (!json_object_is_type(ret, json_type_object))
                return;
        status = get_string(ret, "status");
        if (!status)
                return;
        n = strlen(status);
        /* A run state's name (QEMU's RunState): anything else is kept
         * out, rather than shown to a buyer changed. */
        if (n == 0 || n >= sizeof(m->status) || strspn(status, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
                return;
        strcpy(m->status, status);
}

int qmp_parse_line(const char *line, size_t len, struct qmp_message *ret) {
        _cleanup_(json_putp) json_object *o = NULL;
        struct qmp_message m = {};
        json_object *v;
        const char *s;

        if (!ret || (!line && len > 0))
                return -EINVAL;
        if (len == 0 || len > QMP_LINE_MAX)
                return -EBADMSG;
        if (message_parse(line, len, &o, NULL) < 0)
                return -EBADMSG;

        s = get_string(o, "id");
        if (s)
                copy_bounded(m.id, sizeof(m.id), s);

        if (json_object_object_get_ex(o, "QMP", &v) && json_object_is_type(v, json_type_object))
                m.kind = QMP_GREETING;
        else if ((s = get_string(o, "event"))) {
                m.kind = QMP_EVENT;
                copy_bounded(m.event, sizeof(m.event), s);
        } else if (json_object_object_get_ex(o, "error", &v) && json_object_is_type(v, json_type_object)) {
                m.kind = QMP_ERROR;
                copy_bounded(m.error_class, sizeof(m.error_class), get_string(v, "class") ?: "");
                copy_bounded(m.error_desc, sizeof(m.error_desc), get_string(v, "desc") ?: "");
        } else if (json_object_object_get_ex(o, "return", &v)) {
                m.kind = QMP_RETURN;
                parse_status(v, &m);
        } else
                return -EBADMSG;

        *ret = m;
        return 0;
}

const char *qmp_status_from_return(const struct qmp_message *m) {
        if (!m || m->kind != QMP_RETURN || !m->status[0])
                return NULL;
        return m->status;
}

/* The client's side of one connection. */
struct qmp_conn {
        int fd;
        uint64_t deadline; /* CLOCK_MONOTONIC, usec */
        const char *path;
        pid_t peer;        /* who must have made the socket; 0: anyone */
        char *buf;         /* QMP_LINE_MAX + 1 bytes */
        size_t filled;
        unsigned lines;    /* read so far */
};

/* Waits for events on the socket until the deadline. */
static int conn_wait(struct qmp_conn *c, short events) {
        for (;;) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                struct pollfd p = { .fd = c->fd, .events = events };
                int r;

                if (now >= c->deadline)
                        return -ETIMEDOUT;
                r = poll(&p, 1, (int) MIN((c->deadline - now + 999) / 1000, (uint64_t) INT32_MAX));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return -errno;
                if (r > 0)
                        return 0;
        }
}

/* The socket sits where QEMU may write, so a socket of another QEMU (or
 * of anyone) could be put in its place: the process that listens must be
 * the one expected (SO_PEERCRED: who called listen()). */
static int conn_check_peer(struct qmp_conn *c) {
        struct ucred cred;
        socklen_t len = sizeof(cred);

        if (c->peer <= 0)
                return 0;
        if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                return -errno;
        if (cred.pid != c->peer) {
                log_warning("QMP %s: the socket is pid %d's, not QEMU's (pid %d): not talking to it", c->path,
                            (int) cred.pid, (int) c->peer);
                return -EPERM;
        }
        return 0;
}

static int conn_connect(struct qmp_conn *c) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        socklen_t len = sizeof(int);
        int r, error = 0;

        if (strlen(c->path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, c->path);

        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->fd < 0)
                return -errno;
        if (connect(c->fd, (struct sockaddr *) &sa, sizeof(sa)) == 0)
                return conn_check_peer(c);
        /* A full backlog: the connection completes when QEMU accepts. */
        if (errno != EAGAIN && errno != EINPROGRESS)
                return -errno;
        r = conn_wait(c, POLLOUT);
        if (r < 0)
                return r;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
                return -errno;
        return error ? -error : conn_check_peer(c);
}

static int conn_send(struct qmp_conn *c, const char *s) {
        size_t len = strlen(s), done = 0;

        while (done < len) {
                ssize_t n = send(c->fd, s + done, len - done, MSG_NOSIGNAL);
                int r;

                if (n >= 0) {
                        done += (size_t) n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN) {
                        log_warning_errno(errno, "QMP %s: cannot send: %m", c->path);
                        return -EIO;
                }
                r = conn_wait(c, POLLOUT);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The next line, parsed; what follows it stays in c->buf. */
static int conn_read_message(struct qmp_conn *c, struct qmp_message *ret) {
        for (;;) {
                char *nl = memchr(c->buf, '\n', c->filled);
                ssize_t n;
                int r;

                if (nl) {
                        size_t len = (size_t) (nl - c->buf);

                        if (++c->lines > QMP_LINES_MAX) {
                                log_warning("QMP %s: more than %d lines in one exchange", c->path, QMP_LINES_MAX);
                                return -EIO;
                        }
                        r = qmp_parse_line(c->buf, len, ret);
                        memmove(c->buf, nl + 1, c->filled - len - 1);
                        c->filled -= len + 1;
                        if (r < 0) {
                                log_warning("QMP %s: a line that is not a QMP message", c->path);
                                return -EIO;
                        }
                        return 0;
                }
                if (c->filled > QMP_LINE_MAX) {
                        log_warning("QMP %s: a line longer than %d bytes", c->path, QMP_LINE_MAX);
                        return -EIO;
                }

                n = recv(c->fd, c->buf + c->filled, QMP_LINE_MAX + 1 - c->filled, 0);
                if (n == 0) {
                        log_warning("QMP %s: QEMU closed the connection", c->path);
                        return -EIO;
                }
                if (n > 0) {
                        c->filled += (size_t) n;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno != EAGAIN) {
                        log_warning_errno(errno, "QMP %s: cannot read: %m", c->path);
                        return -EIO;
                }
                r = conn_wait(c, POLLIN);
                if (r < 0)
                        return r;
        }
}

/* Sends {"execute": command} and reads up to its return or error. */
static int conn_execute(struct qmp_conn *c, const char *command, struct qmp_message *ret) {
        char request[128];
        int r;

        (void) snprintf(request, sizeof(request), "{\"execute\":\"%s\"}\n", command);
        r = conn_send(c, request);
        if (r < 0)
                return r;
        for (;;) {
                r = conn_read_message(c, ret);
                if (r < 0)
                        return r;
                if (ret->kind == QMP_EVENT) {
                        log_debug("QMP %s: event %s", c->path, ret->event);
                        continue;
                }
                if (ret->kind == QMP_ERROR) {
                        log_warning("QMP %s: %s failed: %s (%s)", c->path, command, ret->error_desc,
                                    ret->error_class);
                        return -EIO;
                }
                if (ret->kind != QMP_RETURN) {
                        log_warning("QMP %s: a second greeting in answer to %s", c->path, command);
                        return -EIO;
                }
                return 0;
        }
}

int qemu_socket_connect(const char *socket_path, pid_t peer, uint64_t timeout_usec, int *ret_fd) {
        struct qmp_conn c = { .fd = -1, .path = socket_path, .peer = peer };
        int r;

        if (!socket_path || peer <= 0 || !ret_fd)
                return -EINVAL;
        if (!u64_add(now_usec(CLOCK_MONOTONIC), timeout_usec, &c.deadline))
                c.deadline = UINT64_MAX;
        r = conn_connect(&c);
        if (r < 0) {
                if (c.fd >= 0)
                        (void) close(c.fd);
                return r;
        }
        *ret_fd = c.fd;
        return 0;
}

static bool command_is_valid(const char *s) {
        size_t n = strlen(s);

        return n > 0 && n < 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-_") == n;
}

int qmp_command(const char *socket_path, pid_t peer, const char *command, uint64_t timeout_usec, char *ret_status,
                size_t size) {
        _cleanup_(freep) char *buf = NULL;
        struct qmp_conn c = { .fd = -1, .path = socket_path, .peer = peer };
        struct qmp_message m;
        const char *status;
        int r;

        if (!socket_path || !command || !command_is_valid(command))
                return -EINVAL;
        if (!u64_add(now_usec(CLOCK_MONOTONIC), timeout_usec, &c.deadline))
                c.deadline = UINT64_MAX;
        buf = malloc(QMP_LINE_MAX + 1);
        if (!buf)
                return -ENOMEM;
        c.buf = buf;

        r = conn_connect(&c);
        if (r < 0)
                goto out;
        r = conn_read_message(&c, &m);
        if (r < 0)
                goto out;
        if (m.kind != QMP_GREETING) {
                log_warning("QMP %s: no greeting", socket_path);
                r = -EIO;
                goto out;
        }
        r = conn_execute(&c, "qmp_capabilities", &m);
        if (r < 0)
                goto out;
        r = conn_execute(&c, command, &m);
        if (r < 0)
                goto out;

        if (ret_status && size > 0) {
                status = qmp_status_from_return(&m);
                (void) snprintf(ret_status, size, "%s", strempty(status));
        }
out:
        closep(&c.fd);
        return r;
}
