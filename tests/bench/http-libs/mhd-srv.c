/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libmicrohttpd half of the HTTP library measurement (issue 14).
 *
 * One thread, TLS 1.3 by GnuTLS, MHD driven from an outer epoll the way
 * sd-event would drive it: MHD's own epoll fd sits in ours, MHD_run() when it
 * is readable or its timeout expires.
 *   POST /echo  reads the body (any size up to MAX_BODY, else 413) and answers
 *               a fixed 300-byte JSON reply.
 *   GET /sse    a never-ending text/event-stream, one event a second, by
 *               suspend/resume: no polling between events.
 * Usage: mhd-srv PORT CERT.pem KEY.pem   (with LISTEN_FDS=1 it takes fd 3)
 * Knobs for the limit checks (environment): MHD_TIMEOUT (s, default 600),
 * MHD_MAXCONN (default 4000), MHD_PERIP (default 0: none), MHD_POOL
 * (per-connection memory pool, bytes, default MHD's 32 KiB).
 */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "reply.h"

#define MAX_BODY (64 * 1024)
#define MAX_STREAMS 64

struct request {
        size_t body_len;
        bool refused;
};

struct stream {
        struct MHD_Connection *conn;
        unsigned long long sent;
        bool suspended;
};

static struct MHD_Response *echo_reply;
static struct stream *streams[MAX_STREAMS];
static unsigned long long ticks;

static unsigned env_uint(const char *name, unsigned def) {
        const char *v = getenv(name);

        return v ? (unsigned) strtoul(v, NULL, 10) : def;
}

static char *read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf;
        size_t n;

        if (!f)
                return NULL;
        buf = calloc(1, 65536);
        n = buf ? fread(buf, 1, 65535, f) : 0;
        fclose(f);
        if (buf && n == 0) {
                free(buf);
                return NULL;
        }
        return buf;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
        struct stream *s = cls;
        int n;

        (void) pos;
        if (s->sent >= ticks) {
                /* Nothing new: park the connection until the timer resumes
                 * it. Returning 0 without suspending would make MHD call us
                 * again at once (a busy loop). */
                s->suspended = true;
                MHD_suspend_connection(s->conn);
                return 0;
        }
        s->sent = ticks;
        n = snprintf(buf, max, "event: tick\ndata: {\"n\": %llu}\n\n", ticks);
        return n < 0 || (size_t) n >= max ? MHD_CONTENT_READER_END_WITH_ERROR : n;
}

static void sse_free(void *cls) {
        struct stream *s = cls;

        for (size_t i = 0; i < MAX_STREAMS; i++)
                if (streams[i] == s)
                        streams[i] = NULL;
        free(s);
}

static enum MHD_Result start_sse(struct MHD_Connection *conn) {
        struct MHD_Response *r;
        struct stream *s;
        enum MHD_Result ret;
        size_t i;

        for (i = 0; i < MAX_STREAMS && streams[i]; i++)
                ;
        if (i == MAX_STREAMS)
                return MHD_NO;
        s = calloc(1, sizeof(*s));
        if (!s)
                return MHD_NO;
        s->conn = conn;
        s->sent = ticks;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256, sse_read, s, sse_free);
        if (!r) {
                free(s);
                return MHD_NO;
        }
        streams[i] = s;
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        ret = MHD_queue_response(conn, 200, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result reply_static(struct MHD_Connection *conn, unsigned code, const char *body) {
        struct MHD_Response *r;
        enum MHD_Result ret;

        r = MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_PERSISTENT);
        if (!r)
                return MHD_NO;
        MHD_add_response_header(r, "Content-Type", "application/json");
        ret = MHD_queue_response(conn, code, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
        struct request *req = *con_cls;

        (void) cls;
        (void) version;
        (void) upload;
        if (strcmp(method, "GET") == 0 && strcmp(url, "/sse") == 0)
                return start_sse(conn);
        if (strcmp(method, "POST") != 0 || strcmp(url, "/echo") != 0)
                return reply_static(conn, 404, "{\"error\": \"No such resource.\"}");

        if (!req) {
                /* First call: headers only. A declared length over the limit
                 * is refused before any body is read. */
                const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");

                if (cl && strtoull(cl, NULL, 10) > MAX_BODY)
                        return reply_static(conn, 413, "{\"error\": \"Body too large.\"}");
                req = calloc(1, sizeof(*req));
                if (!req)
                        return MHD_NO;
                *con_cls = req;
                return MHD_YES;
        }
        if (*upload_size > 0) {
                /* Chunked bodies have no Content-Length: count as they come. */
                req->body_len += *upload_size;
                *upload_size = 0;
                if (req->body_len > MAX_BODY && !req->refused) {
                        req->refused = true;
                        return reply_static(conn, 413, "{\"error\": \"Body too large.\"}");
                }
                return MHD_YES;
        }
        if (req->refused)
                return MHD_YES;
        return MHD_queue_response(conn, 200, echo_reply);
}

static void request_done(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
        (void) cls;
        (void) conn;
        (void) toe;
        free(*con_cls);
        *con_cls = NULL;
}

static void tick(int tfd) {
        uint64_t n;

        if (read(tfd, &n, sizeof(n)) != sizeof(n))
                return;
        ticks += n;
        for (size_t i = 0; i < MAX_STREAMS; i++)
                if (streams[i] && streams[i]->suspended) {
                        streams[i]->suspended = false;
                        MHD_resume_connection(streams[i]->conn);
                }
}

int main(int argc, char **argv) {
        struct itimerspec its = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
        struct epoll_event ev = { .events = EPOLLIN };
        const union MHD_DaemonInfo *info;
        struct MHD_Daemon *d;
        char *cert, *key;
        int ep, tfd, listen_fd = -1;
        const char *lf = getenv("LISTEN_FDS");

        if (argc != 4) {
                fprintf(stderr, "Usage: %s PORT CERT KEY\n", argv[0]);
                return 2;
        }
        cert = read_file(argv[2]);
        key = read_file(argv[3]);
        if (!cert || !key) {
                fprintf(stderr, "Cannot read the certificate or key\n");
                return 1;
        }
        if (lf && atoi(lf) == 1)
                listen_fd = 3; /* socket activation: the inherited listener */

        echo_reply = MHD_create_response_from_buffer(REPLY_LEN, (void *) REPLY_JSON,
                                                     MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(echo_reply, "Content-Type", "application/json");

        d = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_TLS | MHD_ALLOW_SUSPEND_RESUME,
                             (uint16_t) atoi(argv[1]), NULL, NULL, handle, NULL,
                             MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key,
                             MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3",
                             MHD_OPTION_CONNECTION_LIMIT, env_uint("MHD_MAXCONN", 4000),
                             MHD_OPTION_CONNECTION_TIMEOUT, env_uint("MHD_TIMEOUT", 600),
                             MHD_OPTION_PER_IP_CONNECTION_LIMIT, env_uint("MHD_PERIP", 0),
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) env_uint("MHD_POOL", 32 * 1024),
                             MHD_OPTION_LISTEN_SOCKET, listen_fd,
                             MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
                             MHD_OPTION_END);
        if (!d) {
                fprintf(stderr, "MHD_start_daemon failed\n");
                return 1;
        }
        info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
        ep = epoll_create1(EPOLL_CLOEXEC);
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (!info || ep < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
                return 1;
        ev.data.fd = info->epoll_fd;
        epoll_ctl(ep, EPOLL_CTL_ADD, info->epoll_fd, &ev);
        ev.data.fd = tfd;
        epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev);

        for (;;) {
                MHD_UNSIGNED_LONG_LONG to;
                struct epoll_event evs[4];
                int n, timeout = -1;

                if (MHD_get_timeout(d, &to) == MHD_YES)
                        timeout = to > 60000 ? 60000 : (int) to;
                n = epoll_wait(ep, evs, 4, timeout);
                if (n < 0 && errno != EINTR)
                        return 1;
                for (int i = 0; i < n; i++)
                        if (evs[i].data.fd == tfd)
                                tick(tfd);
                MHD_run(d);
        }
}
