/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "common/log.h"
#include "common/message.h"
#include "common/util.h"
#include "gateway-control.h"

/* prepayd closes a connection that sends nothing for IdleTimeoutSec=
 * (10 s by default) after its last reply, telling it so in a datagram:
 * one reused after that could take the notice for the reply. Half that
 * is safe if counted from when the last request was sent, which is never
 * later than prepayd's reply to it. Counted from when the reply was read
 * (as it once was), a gateway busy with 200 TLS handshakes in an emulated
 * guest read a reply seconds late, reused the connection prepayd had
 * just closed and answered 503 with the notice. */
#define IDLE_MAX_USEC (5 * USEC_PER_SEC)
#define SWEEP_USEC USEC_PER_SEC

struct control_req {
        struct control_pool *pool;
        json_object *request;
        control_reply_fn cb; /* NULL once cancelled */
        void *userdata;
        uint64_t deadline_usec;
        struct control_req *next; /* in the queue */
        bool queued;
};

struct conn {
        struct control_pool *pool;
        int fd;
        sd_event_source *io;
        struct control_req *req; /* in flight, NULL: idle */
        uint64_t idle_since_usec; /* its accept, or its last request sent */
};

struct control_stream {
        struct control_pool *pool;
        int fd;
        sd_event_source *io;
        control_reply_fn cb;
        void *userdata;
        bool dead;
};

struct control_pool {
        sd_event *event;
        sd_event_source *sweep;
        char *path;
        uint64_t timeout_usec;
        size_t queue_max, queued, streams, streams_max;
        struct control_req *head, *tail;
        size_t n_conns;
        struct conn conns[];
};

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int stream_io(sd_event_source *s, int fd, uint32_t revents, void *userdata);

static uint64_t now(void) {
        return now_usec(CLOCK_MONOTONIC);
}

static int socket_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_(closep) int fd = -1;

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        /* AF_UNIX connects at once, or fails with EAGAIN when prepayd's
         * backlog is full: never EINPROGRESS. */
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int send_request(int fd, json_object *request) {
        const char *text;
        size_t len;
        int r;

        r = message_serialize(request, &text, &len);
        if (r < 0)
                return r;
        if (send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                return -errno;
        return 0;
}

/* One datagram: 0 and *ret, -EAGAIN when none is waiting, -ECONNRESET when
 * prepayd closed the connection, -EBADMSG for one that is not JSON. */
static int recv_datagram(int fd, json_object **ret) {
        static char buf[PREPAY_MSG_MAX + 1];
        const char *error;
        ssize_t n;

        n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? -EAGAIN : -ECONNRESET;
        if (n == 0)
                return -ECONNRESET;
        if ((size_t) n > PREPAY_MSG_MAX || message_parse(buf, (size_t) n, ret, &error) < 0) {
                log_warning("prepayd sent a datagram that is not a message (%zd bytes), closing the connection.", n);
                return -EBADMSG;
        }
        return 0;
}

static void conn_close(struct conn *c) {
        c->io = sd_event_source_disable_unref(c->io);
        closep(&c->fd);
        c->fd = -1;
}

static void req_free(struct control_req *r) {
        json_object_put(r->request);
        free(r);
}

/* Calls r's callback once and frees r. */
static void req_finish(struct control_req *r, int error, json_object *reply) {
        if (r->cb)
                r->cb(r->userdata, error, reply);
        req_free(r);
}

static int conn_open(struct control_pool *p, struct conn *c) {
        int fd, r;

        fd = socket_connect(p->path);
        if (fd < 0)
                return fd;
        r = sd_event_add_io(p->event, &c->io, fd, EPOLLIN, conn_io, c);
        if (r < 0) {
                close(fd);
                return r;
        }
        c->fd = fd;
        c->idle_since_usec = now();
        return 0;
}

/* Puts r on c (open, idle). On failure r is left to the caller. */
static int conn_start(struct control_pool *p, struct conn *c, struct control_req *r) {
        int k;

        k = send_request(c->fd, r->request);
        if (k < 0) {
                conn_close(c);
                /* prepayd may have closed it since: try a new one once */
                k = conn_open(p, c);
                if (k < 0)
                        return k;
                k = send_request(c->fd, r->request);
                if (k < 0) {
                        conn_close(c);
                        return k;
                }
        }
        c->req = r;
        c->idle_since_usec = now();
        return 0;
}

/* The connection r can go on now: an idle one, else a free slot opened.
 * NULL with *ret_error when none (an error, or 0: all busy). */
static struct conn *conn_get(struct control_pool *p, int *ret_error) {
        struct conn *free_slot = NULL;
        uint64_t t = now();
        int r;

        *ret_error = 0;
        for (size_t i = 0; i < p->n_conns; i++) {
                struct conn *c = p->conns + i;

                if (c->fd >= 0 && !c->req && t - c->idle_since_usec > IDLE_MAX_USEC)
                        conn_close(c);
                if (c->fd >= 0 && !c->req)
                        return c;
                if (c->fd < 0 && !free_slot)
                        free_slot = c;
        }
        if (!free_slot)
                return NULL;
        r = conn_open(p, free_slot);
        if (r < 0) {
                *ret_error = r;
                return NULL;
        }
        return free_slot;
}

static bool pool_has_busy(const struct control_pool *p) {
        for (size_t i = 0; i < p->n_conns; i++)
                if (p->conns[i].req)
                        return true;
        return false;
}

static struct control_req *queue_pop(struct control_pool *p) {
        struct control_req *r = p->head;

        if (!r)
                return NULL;
        p->head = r->next;
        if (!p->head)
                p->tail = NULL;
        r->next = NULL;
        r->queued = false;
        p->queued--;
        return r;
}

static void queue_push(struct control_pool *p, struct control_req *r) {
        r->queued = true;
        r->next = NULL;
        if (p->tail)
                p->tail->next = r;
        else
                p->head = r;
        p->tail = r;
        p->queued++;
}

/* Sends what waits while connections are free. */
static void pool_pump(struct control_pool *p) {
        while (p->head) {
                struct control_req *r;
                struct conn *c;
                int error;

                c = conn_get(p, &error);
                if (!c) {
                        /* prepayd went away with requests waiting: they
                         * would wait for nothing. */
                        if (error < 0 && !pool_has_busy(p))
                                while ((r = queue_pop(p)))
                                        req_finish(r, error, NULL);
                        return;
                }
                r = queue_pop(p);
                error = conn_start(p, c, r);
                if (error < 0)
                        req_finish(r, error, NULL);
        }
}

static void conn_done(struct control_pool *p, struct conn *c, int error, json_object *reply) {
        struct control_req *r = TAKE_PTR(c->req);

        if (error < 0)
                conn_close(c);
        if (r)
                req_finish(r, error, reply);
        pool_pump(p);
}

static int conn_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct conn *c = userdata;
        json_object *reply = NULL;
        int r;

        r = recv_datagram(fd, &reply);
        if (r == -EAGAIN)
                return 0;
        if (r >= 0 && !c->req) {
                /* Unasked: prepayd's notice that it closes an idle
                 * connection, or refuses this one. */
                json_object_put(reply);
                conn_close(c);
                return 0;
        }
        conn_done(c->pool, c, r, reply);
        json_object_put(reply);
        return 0;
}

static int sweep(sd_event_source *s, uint64_t usec, void *userdata) {
        struct control_pool *p = userdata;
        uint64_t t = now();
        struct control_req **q;

        for (size_t i = 0; i < p->n_conns; i++) {
                struct conn *c = p->conns + i;

                if (c->req && t >= c->req->deadline_usec) {
                        log_warning("prepayd did not answer within %" PRIu64 " s, closing that connection.",
                                    p->timeout_usec / USEC_PER_SEC);
                        conn_done(p, c, -ETIMEDOUT, NULL);
                } else if (c->fd >= 0 && !c->req && t - c->idle_since_usec > IDLE_MAX_USEC)
                        conn_close(c);
        }
        for (q = &p->head; *q;) {
                struct control_req *r = *q;

                if (t < r->deadline_usec) {
                        p->tail = r;
                        q = &r->next;
                        continue;
                }
                *q = r->next;
                p->queued--;
                req_finish(r, -ETIMEDOUT, NULL);
        }
        if (!p->head)
                p->tail = NULL;
        (void) sd_event_source_set_time_relative(s, SWEEP_USEC);
        return 0;
}

int control_pool_new(sd_event *e, const struct gateway_config *c, struct control_pool **ret) {
        struct control_pool *p;
        int r;

        p = calloc(1, sizeof(*p) + c->control_connections * sizeof(struct conn));
        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(e);
        p->path = strdup(c->control_socket);
        p->timeout_usec = c->control_timeout_usec;
        p->queue_max = c->control_queue;
        p->streams_max = c->max_event_streams;
        p->n_conns = c->control_connections;
        for (size_t i = 0; i < p->n_conns; i++)
                p->conns[i] = (struct conn) { .pool = p, .fd = -1 };
        if (!p->path) {
                control_pool_free(p);
                return -ENOMEM;
        }
        r = sd_event_add_time_relative(e, &p->sweep, CLOCK_MONOTONIC, SWEEP_USEC, 100 * USEC_PER_MSEC, sweep, p);
        if (r < 0) {
                control_pool_free(p);
                return r;
        }
        (void) sd_event_source_set_enabled(p->sweep, SD_EVENT_ON);
        *ret = p;
        return 0;
}

void control_pool_free(struct control_pool *p) {
        struct control_req *r;

        if (!p)
                return;
        while ((r = queue_pop(p)))
                req_finish(r, -ESHUTDOWN, NULL);
        for (size_t i = 0; i < p->n_conns; i++) {
                r = TAKE_PTR(p->conns[i].req);
                conn_close(p->conns + i);
                if (r)
                        req_finish(r, -ESHUTDOWN, NULL);
        }
        sd_event_source_disable_unref(p->sweep);
        sd_event_unref(p->event);
        free(p->path);
        free(p);
}

int control_submit(struct control_pool *p, json_object *request, control_reply_fn cb, void *userdata,
                   struct control_req **ret) {
        struct control_req *r;
        struct conn *c = NULL;
        int error = 0;

        /* first come, first served: nothing overtakes the queue */
        if (!p->head)
                c = conn_get(p, &error);
        if (!c && (error < 0 && !pool_has_busy(p)))
                return error;
        if (!c && p->queued >= p->queue_max)
                return -EBUSY;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->pool = p;
        r->request = json_object_get(request);
        r->cb = cb;
        r->userdata = userdata;
        r->deadline_usec = now() + p->timeout_usec;

        if (c) {
                error = conn_start(p, c, r);
                if (error < 0) {
                        req_free(r);
                        return error;
                }
        } else
                queue_push(p, r);
        *ret = r;
        return 0;
}

void control_req_cancel(struct control_req *r) {
        struct control_pool *p;
        struct control_req **q;

        if (!r)
                return;
        if (!r->queued) {
                r->cb = NULL; /* in flight: freed with its reply */
                return;
        }
        p = r->pool;
        for (q = &p->head; *q && *q != r; q = &(*q)->next)
                ;
        if (*q)
                *q = r->next;
        p->tail = NULL;
        for (struct control_req *t = p->head; t; t = t->next)
                p->tail = t;
        p->queued--;
        req_free(r);
}

static void stream_fail(struct control_stream *st, int error) {
        st->dead = true;
        st->io = sd_event_source_disable_unref(st->io);
        if (st->cb)
                st->cb(st->userdata, error, NULL);
}

static int stream_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct control_stream *st = userdata;

        /* prepayd drops a reader that falls behind: read all there is */
        for (;;) {
                json_object *d = NULL;
                int r;

                r = recv_datagram(fd, &d);
                if (r == -EAGAIN)
                        return 0;
                if (r < 0) {
                        stream_fail(st, r);
                        return 0;
                }
                st->cb(st->userdata, 0, d);
                json_object_put(d);
                if (st->dead)
                        return 0;
        }
}

int control_stream_open(struct control_pool *p, json_object *request, control_reply_fn cb, void *userdata,
                        struct control_stream **ret) {
        struct control_stream *st;
        int r;

        if (p->streams >= p->streams_max)
                return -EBUSY;
        st = calloc(1, sizeof(*st));
        if (!st)
                return -ENOMEM;
        st->pool = p;
        st->cb = cb;
        st->userdata = userdata;
        st->fd = socket_connect(p->path);
        if (st->fd < 0) {
                r = st->fd;
                free(st);
                return r;
        }
        r = send_request(st->fd, request);
        if (r >= 0)
                r = sd_event_add_io(p->event, &st->io, st->fd, EPOLLIN, stream_io, st);
        if (r < 0) {
                close(st->fd);
                free(st);
                return r;
        }
        p->streams++;
        *ret = st;
        return 0;
}

void control_stream_close(struct control_stream *st) {
        if (!st)
                return;
        sd_event_source_disable_unref(st->io);
        closep(&st->fd);
        st->pool->streams--;
        free(st);
}
