/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/message.h"
#include "common/metrics.h"
#include "common/util.h"
#include "gateway-http.h"
#include "gateway-metrics.h"

/* A scrape is Prometheus' (one at a time, every few seconds), or an
 * operator's curl: a few connections are plenty, and a scraper is
 * patient. */
#define METRICS_CONNECTIONS 8
#define METRICS_TIMEOUT_SEC 30
/* The text a scrape may gather: the series per slice of 10,000 slices
 * are about 1.3 MB; a bound all the same. */
#define METRICS_TEXT_MAX (64 * 1024 * 1024)
/* A slice made or dropped between two pages makes prepayd refuse the next
 * one (409): the scrape starts again, this many times. */
#define METRICS_RESTARTS 3

struct gateway_metrics {
        sd_event *event;
        struct control_pool *pool;
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer;
        struct scrape *scrapes; /* answered 503 at shutdown */
};

struct scrape {
        struct gateway_metrics *m;
        struct MHD_Connection *conn;
        struct scrape *prev, *next;
        struct control_req *pending;
        struct metrics_buf text;
        unsigned restarts;
        uint64_t start_usec;
        unsigned status; /* 0: not answered yet */
        const char *error;
        bool suspended, started;
};

static void kick(struct gateway_metrics *m) {
        (void) sd_event_source_set_time_relative(m->timer, 0);
        (void) sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
}

static void scrape_free(struct scrape *s) {
        if (!s)
                return;
        if (s->pending)
                control_req_cancel(s->pending);
        if (s->prev)
                s->prev->next = s->next;
        else if (s->m->scrapes == s)
                s->m->scrapes = s->next;
        if (s->next)
                s->next->prev = s->prev;
        metrics_buf_done(&s->text);
        free(s);
}

static void scrape_done(struct scrape *s, unsigned status, const char *error) {
        s->status = status;
        s->error = error;
        if (s->suspended) {
                s->suspended = false;
                MHD_resume_connection(s->conn);
                kick(s->m);
        }
}

static int scrape_ask(struct scrape *s, uint64_t cursor);

/* Adds the page's text; 0, or the status to answer with *ret_error. */
static unsigned page_take(struct scrape *s, json_object *reply, const char **ret_error) {
        json_object *o;
        const char *text;
        size_t len;

        if (!json_object_object_get_ex(reply, "text", &o) || !json_object_is_type(o, json_type_string)) {
                *ret_error = "prepayd's reply holds no text\n";
                return MHD_HTTP_BAD_GATEWAY;
        }
        text = json_object_get_string(o);
        len = (size_t) json_object_get_string_len(o);
        if (s->text.len + len > METRICS_TEXT_MAX) {
                *ret_error = "the metrics are larger than the gateway takes\n";
                return MHD_HTTP_BAD_GATEWAY;
        }
        if (s->text.len + len + 1 > s->text.size) {
                size_t size = MAX(s->text.size * 2, s->text.len + len + 1);
                char *t = realloc(s->text.text, size);

                if (!t) {
                        *ret_error = "out of memory\n";
                        return MHD_HTTP_INTERNAL_SERVER_ERROR;
                }
                s->text.text = t;
                s->text.size = size;
        }
        memcpy(s->text.text + s->text.len, text, len);
        s->text.len += len;
        s->text.text[s->text.len] = '\0';
        return 0;
}

static void on_page(void *userdata, int error, json_object *reply) {
        struct scrape *s = userdata;
        const char *sentence = NULL, *code = NULL, *why = NULL;
        unsigned status;
        json_object *o;
        int64_t next;

        s->pending = NULL;
        if (error < 0) {
                log_full_errno(error == -ESHUTDOWN ? LOG_DEBUG : LOG_WARNING, error,
                               "prepayd did not answer a metrics request: %m");
                scrape_done(s, MHD_HTTP_SERVICE_UNAVAILABLE, "prepayd is not answering\n");
                return;
        }
        if (!json_object_object_get_ex(reply, "ok", &o) || !json_object_get_boolean(o)) {
                (void) message_get_string(reply, "code", &code);
                (void) message_get_string(reply, "error", &sentence);
                if (code && streq(code, "conflict") && s->restarts++ < METRICS_RESTARTS) {
                        s->text.len = 0;
                        if (scrape_ask(s, 0) < 0)
                                scrape_done(s, MHD_HTTP_SERVICE_UNAVAILABLE, "prepayd is not answering\n");
                        return;
                }
                /* Said each time: a refusal here is a setting to fix
                 * (prepayd's [Metrics] Gateway=), not a passing state. */
                log_warning("prepayd refused the metrics: %s", strna(sentence));
                scrape_done(s, code && streq(code, "forbidden") ? MHD_HTTP_FORBIDDEN : MHD_HTTP_SERVICE_UNAVAILABLE,
                            "prepayd refused the metrics (see the gateway's log)\n");
                return;
        }
        status = page_take(s, reply, &why);
        if (status > 0) {
                scrape_done(s, status, why);
                return;
        }
        if (!json_object_object_get_ex(reply, "next", &o)) {
                scrape_done(s, MHD_HTTP_OK, NULL);
                return;
        }
        next = json_object_get_int64(o);
        if (!json_object_is_type(o, json_type_int) || next <= 0)
                scrape_done(s, MHD_HTTP_BAD_GATEWAY, "prepayd's reply has a bad cursor\n");
        else if (scrape_ask(s, (uint64_t) next) < 0)
                scrape_done(s, MHD_HTTP_SERVICE_UNAVAILABLE, "prepayd is not answering\n");
}

static int scrape_ask(struct scrape *s, uint64_t cursor) {
        json_object *req = json_object_new_object();
        int r;

        if (!req)
                return -ENOMEM;
        json_object_object_add(req, "version", json_object_new_int(PREPAY_PROTOCOL_VERSION));
        json_object_object_add(req, "op", json_object_new_string("metrics"));
        if (cursor > 0)
                json_object_object_add(req, "cursor", json_object_new_int64((int64_t) cursor));
        r = control_submit(s->m->pool, req, on_page, s, &s->pending);
        json_object_put(req);
        if (r < 0)
                log_warning_errno(r, "Failed to ask prepayd for the metrics: %m");
        return r;
}

static enum MHD_Result respond(struct scrape *s) {
        struct MHD_Response *resp;
        enum MHD_Result ret;
        bool ok = s->status == MHD_HTTP_OK;

        if (ok)
                resp = MHD_create_response_from_buffer(s->text.len, s->text.text, MHD_RESPMEM_MUST_COPY);
        else
                resp = MHD_create_response_from_buffer(strlen(s->error), (void *) s->error, MHD_RESPMEM_PERSISTENT);
        if (!resp)
                return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                ok ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (s->status == MHD_HTTP_METHOD_NOT_ALLOWED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
        ret = MHD_queue_response(s->conn, s->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct gateway_metrics *m = cls;
        struct scrape *s = *con_cls;

        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s)
                        return MHD_NO;
                s->m = m;
                s->conn = conn;
                s->start_usec = now_usec(CLOCK_MONOTONIC);
                s->next = m->scrapes;
                if (m->scrapes)
                        m->scrapes->prev = s;
                m->scrapes = s;
                *con_cls = s;
                return MHD_YES;
        }
        /* No route takes a body: what comes is dropped. */
        if (*upload_data_size > 0) {
                *upload_data_size = 0;
                return MHD_YES;
        }
        if (s->status > 0)
                return respond(s);
        if (s->started)
                return MHD_YES;
        s->started = true;
        if (!streq(url, "/metrics"))
                s->status = MHD_HTTP_NOT_FOUND, s->error = "Not found: the metrics are at /metrics\n";
        else if (!streq(method, "GET") && !streq(method, "HEAD"))
                s->status = MHD_HTTP_METHOD_NOT_ALLOWED, s->error = "Only GET\n";
        else if (scrape_ask(s, 0) < 0)
                s->status = MHD_HTTP_SERVICE_UNAVAILABLE, s->error = "prepayd is not answering\n";
        if (s->status > 0)
                return respond(s);
        s->suspended = true;
        MHD_suspend_connection(conn);
        return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
        struct scrape *s = *con_cls;

        if (!s)
                return;
        *con_cls = NULL;
        /* At debug: Prometheus scrapes every few seconds. */
        log_debug("metrics: %u, %zu bytes, %" PRIu64 "ms%s", s->status, s->text.len,
                  (now_usec(CLOCK_MONOTONIC) - s->start_usec) / USEC_PER_MSEC,
                  toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (not all sent)");
        scrape_free(s);
}

static void rearm(struct gateway_metrics *m) {
        MHD_UNSIGNED_LONG_LONG ms;

        if (MHD_get_timeout(m->mhd, &ms) == MHD_YES) {
                (void) sd_event_source_set_time_relative(m->timer, ms * USEC_PER_MSEC);
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_ONESHOT);
        } else
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
}

static int on_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct gateway_metrics *m = userdata;

        (void) MHD_run(m->mhd);
        rearm(m);
        return 0;
}

static int on_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        return on_io(NULL, -1, 0, userdata);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[512];

        vsnprintf(buf, sizeof(buf), fmt, ap);
        buf[strcspn(buf, "\n")] = 0;
        log_debug("libmicrohttpd (metrics): %s", buf);
}

int gateway_metrics_new(sd_event *e, const struct gateway_config *c, struct control_pool *pool,
                        struct gateway_metrics **ret) {
        _cleanup_(closep) int fd = -1;
        const union MHD_DaemonInfo *di;
        struct gateway_metrics *m;
        int r;

        *ret = NULL;
        if (!c->metrics_listen[0])
                return 0;
        fd = gateway_http_listen(c->metrics_listen);
        if (fd < 0)
                return fd;
        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->event = sd_event_ref(e);
        m->pool = pool;
        m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                  on_request, m, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, m,
                                  MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
                                  (unsigned) METRICS_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                  (unsigned) METRICS_TIMEOUT_SEC, MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
                                  MHD_OPTION_END);
        if (!m->mhd) {
                gateway_metrics_free(m);
                return log_error_errno(EINVAL, "Failed to start the metrics listener on %s.", c->metrics_listen);
        }
        TAKE_FD(fd); /* libmicrohttpd's now */
        di = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        r = di ? sd_event_add_io(e, &m->io, di->epoll_fd, EPOLLIN, on_io, m) : -EINVAL;
        if (r >= 0)
                r = sd_event_add_time(e, &m->timer, CLOCK_MONOTONIC, 0, 1, on_timer, m);
        if (r < 0) {
                gateway_metrics_free(m);
                return log_error_errno(r, "Failed to add the metrics listener to the event loop: %m");
        }
        rearm(m);
        log_info("Serving metrics on http://%s/metrics.", c->metrics_listen);
        *ret = m;
        return 0;
}

void gateway_metrics_free(struct gateway_metrics *m) {
        if (!m)
                return;
        if (m->mhd) {
                /* Every suspended scrape resumed, so that libmicrohttpd
                 * can close it. */
                for (struct scrape *s = m->scrapes; s; s = s->next) {
                        if (s->pending)
                                control_req_cancel(TAKE_PTR(s->pending));
                        if (s->status == 0)
                                scrape_done(s, MHD_HTTP_SERVICE_UNAVAILABLE, "The gateway is stopping\n");
                }
                (void) MHD_run(m->mhd);
                MHD_stop_daemon(m->mhd);
        }
        sd_event_source_disable_unref(m->io);
        sd_event_source_disable_unref(m->timer);
        sd_event_unref(m->event);
        free(m);
}
