/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/socket.h>
#include <sys/un.h>

#include "common/log.h"
#include "prepay.h"

#define DEFAULT_SOCKET "/run/prepay/control.sock"

const char *arg_socket = NULL;

static const char *socket_path(void) {
        return arg_socket ?: getenv("PREPAY_SOCKET") ?: DEFAULT_SOCKET;
}

json_object *client_request(const char *op) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "version", json_object_new_int(PREPAY_PROTOCOL_VERSION));
        json_object_object_add(o, "op", json_object_new_string(op));
        return o;
}

int client_call(json_object *req, json_object **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = socket_path(), *text, *err = NULL;
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        json_object *reply = NULL;
        size_t len;
        ssize_t n;
        bool ok = false;
        int r;

        r = message_serialize(req, &text, &len);
        if (r < 0) {
                json_object_put(req);
                return log_error_errno(r, "Request too large.");
        }

        if (strlen(path) >= sizeof(sa.sun_path)) {
                json_object_put(req);
                return log_error_errno(ENAMETOOLONG, "Socket path %s is too long.", path);
        }
        strcpy(sa.sun_path, path);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                json_object_put(req);
                return log_error_errno(errno, "Failed to create a socket: %m");
        }
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                r = -errno;
                json_object_put(req);
                if (r == -ENOENT || r == -ECONNREFUSED)
                        return log_error_errno(r, "prepayd is not running (no daemon on %s).", path);
                return log_error_errno(r, "Failed to connect to prepayd on %s: %m", path);
        }

        n = send(fd, text, len, MSG_NOSIGNAL);
        json_object_put(req);
        if (n < 0)
                return log_error_errno(errno, "Failed to send the request to prepayd: %m");

        buf = malloc(PREPAY_MSG_MAX + 1);
        if (!buf)
                return log_oom();
        do
                n = recv(fd, buf, PREPAY_MSG_MAX + 1, MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return log_error_errno(errno, "Failed to read prepayd's reply: %m");
        if (n == 0)
                return log_error_errno(ECONNRESET, "prepayd closed the connection without replying.");
        if (n > PREPAY_MSG_MAX)
                return log_error_errno(EMSGSIZE, "prepayd's reply is too large.");

        r = message_parse(buf, (size_t) n, &reply, &err);
        if (r < 0)
                return log_error_errno(r, "Malformed reply from prepayd: %s", strna(err));

        if (message_get_bool(reply, "ok", &ok) < 0 || !ok) {
                const char *e = NULL;

                (void) message_get_string(reply, "error", &e);
                log_error("%s", e ?: "prepayd refused the request without saying why.");
                json_object_put(reply);
                return -EPROTO;
        }

        if (ret)
                *ret = reply;
        else
                json_object_put(reply);
        return 0;
}
