/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/message.h"
#include "common/parse.h"
#include "common/util.h"
#include "gateway-api.h"
#include "gateway-http.h"
#include "gateway-limits.h"
#include "gateway-page.h"

/* TLS 1.2 and 1.3 only (issue 14); GnuTLS's NORMAL ciphers otherwise. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* What one connection may hold of headers and read buffer. Headers that
 * do not fit are not answered 431 by libmicrohttpd 0.9.75 in this mode:
 * it stops reading, and the RequestTimeoutSec= sweep closes it. */
#define CONNECTION_MEMORY (32 * 1024)
#define SSE_KEEPALIVE_USEC (15 * USEC_PER_SEC)
/* Events a slow reader has not taken yet; past it the stream ends (the
 * client reconnects, as prepayd drops a control reader that lags). */
#define SSE_BUFFER_MAX (256 * 1024)
#define RETRY_UNAVAILABLE 5 /* seconds, for Retry-After with 503 */
#define SWEEP_USEC USEC_PER_SEC

struct http_conn;

struct sse {
        struct control_stream *stream;
        sd_event_source *keepalive;
        char *buf;
        size_t len, off;
        bool ended;
        bool waiting; /* the reader found nothing and suspended the connection */
};

/* One request, from its headers to its completion. */
struct http_request {
        struct gateway_http *h;
        struct http_conn *hc;
        struct MHD_Connection *conn;
        struct http_request *prev, *next; /* h->requests: cancelled at shutdown */
        uint64_t start_usec;
        char method[8];
        const char *route;
        char slice[64];

        char *body;
        size_t body_size;
        bool too_large; /* the body passed MaxBodySize=: the rest is dropped */

        struct api_call call;
        struct control_req *pending;
        bool suspended;

        struct MHD_Response *response; /* made, to be queued */
        unsigned status;
        struct sse *sse;

        /* A donor's page (gateway-page.h): its status reply while its
         * history is asked for. */
        enum page_route page;
        json_object *page_status;
};

/* One TCP connection, for RequestTimeoutSec= and KeepAliveRequests=. */
struct http_conn {
        struct gateway_http *h;
        struct MHD_Connection *conn;
        struct http_conn *prev, *next;
        char client[API_CLIENT_MAX + 1];
        char limit_key[API_CLIENT_MAX + 1]; /* its token bucket's: the address, an IPv6 one's /64 */
        uint64_t deadline_usec; /* while reading a request; UINT64_MAX: none */
        unsigned requests;
};

struct gateway_http {
        sd_event *event;
        const struct gateway_config *config;
        struct control_pool *pool;
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer, *sweep;
        struct limits *by_address, *by_slice;
        struct http_request *requests;
        struct http_conn *conns;
        bool prepayd_down; /* said once, not per request */
};

static void mhd_kick(struct gateway_http *h);

int gateway_http_listen(const char *listen_on) {
        struct sockaddr_storage ss;
        _cleanup_(closep) int fd = -1;
        unsigned len;
        int one = 1;

        if (gateway_config_parse_listen(listen_on, &ss, &len) < 0)
                return log_error_errno(EINVAL, "Invalid Listen= address %s.", listen_on);
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to make a socket for %s: %m", listen_on);
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &ss, len) < 0)
                return log_error_errno(errno, "Failed to bind to %s: %m", listen_on);
        if (listen(fd, SOMAXCONN) < 0)
                return log_error_errno(errno, "Failed to listen on %s: %m", listen_on);
        return TAKE_FD(fd);
}

/* The peer's address as text, an IPv4-mapped IPv6 one as IPv4. */
static void format_client(const struct sockaddr *sa, char *buf, size_t n) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

        if (!sa)
                snprintf(buf, n, "unknown");
        else if (sa->sa_family == AF_INET)
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, (socklen_t) n);
        else if (sa->sa_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
                inet_ntop(AF_INET, in6->sin6_addr.s6_addr + 12, buf, (socklen_t) n);
        else if (sa->sa_family == AF_INET6)
                inet_ntop(AF_INET6, &in6->sin6_addr, buf, (socklen_t) n);
        else
                snprintf(buf, n, "unknown");
}

/* Whom RatePerAddress= counts: an IPv4 address, or an IPv6 address's
 * /64, which one subscriber usually holds whole (counting by address
 * would give it 2^64 buckets). */
static void format_limit_key(const struct sockaddr *sa, const char *client, char *buf, size_t n) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;
        struct in6_addr prefix;
        char text[INET6_ADDRSTRLEN];

        if (!sa || sa->sa_family != AF_INET6 || IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
                snprintf(buf, n, "%s", client);
                return;
        }
        prefix = in6->sin6_addr;
        memset(prefix.s6_addr + 8, 0, 8);
        inet_ntop(AF_INET6, &prefix, text, sizeof(text));
        snprintf(buf, n, "%s/64", text);
}

static void sse_free(struct sse *s) {
        if (!s)
                return;
        control_stream_close(s->stream);
        sd_event_source_disable_unref(s->keepalive);
        free(s->buf);
        free(s);
}

static void request_free(struct http_request *rq) {
        struct gateway_http *h = rq->h;

        control_req_cancel(rq->pending);
        sse_free(rq->sse);
        if (rq->response)
                MHD_destroy_response(rq->response);
        api_call_done(&rq->call);
        json_object_put(rq->page_status);
        free(rq->body);
        if (rq->prev)
                rq->prev->next = rq->next;
        else
                h->requests = rq->next;
        if (rq->next)
                rq->next->prev = rq->prev;
        free(rq);
}

static void resume(struct http_request *rq) {
        if (!rq->suspended)
                return;
        rq->suspended = false;
        MHD_resume_connection(rq->conn);
        mhd_kick(rq->h);
}

static void suspend(struct http_request *rq) {
        rq->suspended = true;
        MHD_suspend_connection(rq->conn);
}

/* Makes rq's response out of a JSON body; queued by the next call of the
 * access handler (now, or after a resume). */
static int prepare_json(struct http_request *rq, unsigned status, json_object *body, const char *location,
                        uint64_t retry_after) {
        struct MHD_Response *resp;
        const char *text;
        char n[32];

        text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN) : NULL;
        if (!text) {
                text = "{\"error\": \"Out of memory.\", \"code\": \"internal\"}";
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        }
        resp = MHD_create_response_from_buffer(strlen(text), (void *) text, MHD_RESPMEM_MUST_COPY);
        if (!resp)
                return -ENOMEM;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        if (location)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, location);
        if (status == MHD_HTTP_UNAUTHORIZED)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        if (status == MHD_HTTP_TOO_MANY_REQUESTS || status == MHD_HTTP_SERVICE_UNAVAILABLE) {
                snprintf(n, sizeof(n), "%" PRIu64, retry_after ?: 1);
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, n);
        }
        if (rq->response)
                MHD_destroy_response(rq->response);
        rq->response = resp;
        rq->status = status;
        return 0;
}

static int prepare_refusal(struct http_request *rq, unsigned status, uint64_t retry_after, const char *code,
                           const char *sentence) {
        json_object *body = api_refusal(code, "%s", sentence);
        int r;

        r = prepare_json(rq, status, body, NULL, retry_after);
        json_object_put(body);
        return r;
}

/* The headers every reply carries. */
static void add_common_headers(struct http_request *rq, struct MHD_Response *resp) {
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        if (rq->hc && rq->hc->requests >= rq->h->config->keep_alive_requests)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static enum MHD_Result queue_prepared(struct http_request *rq) {
        struct MHD_Response *resp = TAKE_PTR(rq->response);
        enum MHD_Result ret;

        add_common_headers(rq, resp);
        ret = MHD_queue_response(rq->conn, rq->status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void on_reply(void *userdata, int error, json_object *reply) {
        struct http_request *rq = userdata;
        _cleanup_(freep) char *location = NULL;
        json_object *body = NULL;
        int status;

        rq->pending = NULL;
        if (error < 0) {
                log_full_errno(error == -ESHUTDOWN ? LOG_DEBUG : LOG_WARNING, error,
                               "prepayd did not answer a %s request: %m", strempty(rq->route));
                (void) prepare_refusal(rq, MHD_HTTP_SERVICE_UNAVAILABLE, RETRY_UNAVAILABLE, "unavailable",
                                       "The service is unavailable for a moment (prepayd is not answering); "
                                       "try again later.");
        } else {
                status = api_encode_reply(&rq->call, reply, &body, &location);
                (void) prepare_json(rq, (unsigned) status, body, location, RETRY_UNAVAILABLE);
                json_object_put(body);
        }
        resume(rq);
}

/* Server-Sent Events. */

static int sse_keepalive(sd_event_source *s, uint64_t usec, void *userdata);

static int sse_append(struct http_request *rq, const char *text) {
        struct sse *s = rq->sse;
        size_t n = strlen(text);

        if (s->off > 0 && s->off == s->len)
                s->off = s->len = 0;
        if (s->len - s->off + n > SSE_BUFFER_MAX) {
                log_info("Event stream of %s from %s fell behind, ending it.", rq->slice, rq->hc->client);
                s->ended = true;
                return -ENOBUFS;
        }
        if (s->off > 0) {
                memmove(s->buf, s->buf + s->off, s->len - s->off);
                s->len -= s->off;
                s->off = 0;
        }
        char *b = realloc(s->buf, s->len + n);
        if (!b) {
                s->ended = true;
                return -ENOMEM;
        }
        memcpy(b + s->len, text, n);
        s->buf = b;
        s->len += n;
        return 0;
}

static void sse_wake(struct http_request *rq) {
        if (rq->sse->waiting) {
                rq->sse->waiting = false;
                resume(rq);
        }
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
        struct http_request *rq = cls;
        struct sse *s = rq->sse;
        size_t n;

        if (s->off < s->len) {
                n = MIN(max, s->len - s->off);
                memcpy(buf, s->buf + s->off, n);
                s->off += n;
                return (ssize_t) n;
        }
        if (s->ended)
                return MHD_CONTENT_READER_END_OF_STREAM;
        /* Nothing to send: sleep until an event or the keep-alive comes,
         * rather than be asked again and again. */
        s->waiting = true;
        suspend(rq);
        return 0;
}

static int sse_keepalive(sd_event_source *src, uint64_t usec, void *userdata) {
        struct http_request *rq = userdata;

        (void) sse_append(rq, ": keep-alive\n\n");
        sse_wake(rq);
        (void) sd_event_source_set_time_relative(src, SSE_KEEPALIVE_USEC);
        return 0;
}

static int sse_start(struct http_request *rq) {
        struct MHD_Response *resp;
        int r;

        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, rq, NULL);
        if (!resp)
                return -ENOMEM;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        r = sd_event_add_time_relative(rq->h->event, &rq->sse->keepalive, CLOCK_MONOTONIC, SSE_KEEPALIVE_USEC,
                                       USEC_PER_SEC, sse_keepalive, rq);
        if (r < 0) {
                MHD_destroy_response(resp);
                return r;
        }
        (void) sd_event_source_set_enabled(rq->sse->keepalive, SD_EVENT_ON);
        /* A stream is quiet for long stretches: the keep-alive and a write
         * that fails find a client that went, not the idle timeout. */
        MHD_set_connection_option(rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
        if (rq->response)
                MHD_destroy_response(rq->response);
        rq->response = resp;
        rq->status = MHD_HTTP_OK;
        return 0;
}

static void on_event(void *userdata, int error, json_object *d) {
        struct http_request *rq = userdata;
        struct sse *s = rq->sse;
        json_object *ok;
        char *text = NULL;

        if (!rq->response && rq->status == 0) {
                /* the reply to "events" */
                if (error < 0)
                        on_reply(rq, error, NULL);
                else if (json_object_object_get_ex(d, "ok", &ok) && json_object_get_boolean(ok)) {
                        if (sse_start(rq) < 0)
                                (void) prepare_refusal(rq, MHD_HTTP_INTERNAL_SERVER_ERROR, 0, "internal",
                                                       "Out of memory.");
                        resume(rq);
                } else
                        on_reply(rq, 0, d);
                return;
        }
        if (error < 0)
                s->ended = true;
        else if (api_encode_event(d, &text) >= 0) {
                (void) sse_append(rq, text);
                free(text);
        }
        sse_wake(rq);
}

/* Requests. */

static void on_page_reply(void *userdata, int error, json_object *reply);
static enum MHD_Result refuse_now(struct http_request *rq, unsigned status, uint64_t retry_after, const char *code,
                                  const char *sentence) {
        if (prepare_refusal(rq, status, retry_after, code, sentence) < 0)
                return MHD_NO;
        return queue_prepared(rq);
}

static const char *header(struct MHD_Connection *conn, const char *name) {
        return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static struct http_request *request_new(struct gateway_http *h, struct MHD_Connection *conn, const char *method) {
        const union MHD_ConnectionInfo *ci;
        struct http_request *rq;

        rq = calloc(1, sizeof(*rq));
        if (!rq)
                return NULL;
        rq->h = h;
        rq->conn = conn;
        rq->start_usec = now_usec(CLOCK_MONOTONIC);
        /* the method as the log shows it: a known one, else "?" */
        snprintf(rq->method, sizeof(rq->method), "%s",
                 streq(method, "GET") || streq(method, "POST") || streq(method, "HEAD") || streq(method, "PUT") ||
                                 streq(method, "DELETE") || streq(method, "OPTIONS") || streq(method, "PATCH")
                         ? method
                         : "?");
        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        rq->hc = ci ? ci->socket_context : NULL;
        if (rq->hc)
                rq->hc->requests++;
        rq->next = h->requests;
        if (h->requests)
                h->requests->prev = rq;
        h->requests = rq;
        return rq;
}

/* The first call: headers read, no body yet. Refusals that need no body
 * are made here, before a byte of it is read. */
static enum MHD_Result request_begin(struct http_request *rq) {
        struct gateway_http *h = rq->h;
        const char *cl;
        uint64_t wait, length;

        wait = limits_take(h->by_address, rq->hc ? rq->hc->limit_key : "", now_usec(CLOCK_MONOTONIC));
        if (wait > 0)
                return refuse_now(rq, MHD_HTTP_TOO_MANY_REQUESTS, wait, "too_many",
                                  "Too many requests from this address; try again after the time Retry-After gives.");

        cl = header(rq->conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && (parse_u64(cl, &length) < 0 || length > h->config->max_body_size)) {
                rq->too_large = true;
                return refuse_now(rq, MHD_HTTP_CONTENT_TOO_LARGE, 0, "too_large",
                                  "The request body is larger than this server takes.");
        }
        return MHD_YES;
}

static enum MHD_Result request_body(struct http_request *rq, const char *data, size_t *size) {
        size_t n = *size;
        char *b;

        *size = 0;
        if (rq->too_large)
                return MHD_YES;
        if (n > rq->h->config->max_body_size - rq->body_size) {
                /* Chunked, so no length came first. libmicrohttpd 0.9.75
                 * takes no reply in the middle of a body (it closes the
                 * connection instead): the rest is read and dropped, within
                 * RequestTimeoutSec=, and the 413 goes at its end. */
                rq->too_large = true;
                free(rq->body);
                rq->body = NULL;
                return prepare_refusal(rq, MHD_HTTP_CONTENT_TOO_LARGE, 0, "too_large",
                                       "The request body is larger than this server takes.") < 0
                               ? MHD_NO
                               : MHD_YES;
        }
        b = realloc(rq->body, rq->body_size + n + 1);
        if (!b)
                return MHD_NO;
        memcpy(b + rq->body_size, data, n);
        rq->body = b;
        rq->body_size += n;
        return MHD_YES;
}

/* ---- donor pages ---- */

/* Makes rq's response out of a page (html taken, NULL: out of memory). */
static int prepare_html(struct http_request *rq, unsigned status, char *html, size_t size, const char *allow) {
        struct MHD_Response *resp;

        if (!html) {
                static const char oom[] = "<!DOCTYPE html><title>Out of memory</title><p>Out of memory.</p>\n";

                resp = MHD_create_response_from_buffer(strlen(oom), (void *) oom, MHD_RESPMEM_PERSISTENT);
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        } else
                resp = MHD_create_response_from_buffer(size, html, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(html);
                return -ENOMEM;
        }
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/html; charset=utf-8");
        /* No script runs, nothing loads from elsewhere, no frame holds it:
         * what a page shows of a slice cannot become code (it is escaped
         * too: common/markup.c). */
        MHD_add_response_header(resp, "Content-Security-Policy", page_csp());
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
        MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
        if (allow)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        if (status == MHD_HTTP_TOO_MANY_REQUESTS || status == MHD_HTTP_SERVICE_UNAVAILABLE)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
        if (rq->response)
                MHD_destroy_response(rq->response);
        rq->response = resp;
        rq->status = status;
        return 0;
}

static int prepare_error_page(struct http_request *rq, unsigned status, const char *title, const char *sentence,
                              const char *allow) {
        char *html = NULL;
        size_t n = 0;

        (void) page_error_html(title, sentence, &html, &n);
        return prepare_html(rq, status, html, n, allow);
}

static enum MHD_Result queue_error_page(struct http_request *rq, unsigned status, const char *title,
                                        const char *sentence, const char *allow) {
        if (prepare_error_page(rq, status, title, sentence, allow) < 0)
                return MHD_NO;
        return queue_prepared(rq);
}

/* The API's call behind a page: the same decoding, checks and control
 * request as a client of the API would get (gateway-api.c). */
static int page_call(struct http_request *rq, const char *method, const char *path, const char *json_body) {
        json_object *refusal = NULL;
        struct api_request arq = {
                .method = method,
                .path = path,
                .content_type = json_body ? "application/json" : NULL,
                .client = rq->hc ? rq->hc->client : NULL,
                .body = json_body ?: "",
                .body_size = json_body ? strlen(json_body) : 0,
        };
        int status;

        api_call_done(&rq->call);
        status = api_decode(&arq, &rq->call, &refusal);
        json_object_put(refusal);
        if (status != 0)
                return -EINVAL;
        return control_submit(rq->h->pool, rq->call.request, on_page_reply, rq, &rq->pending);
}

static void page_unavailable(struct http_request *rq) {
        (void) prepare_error_page(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "Unavailable for a moment",
                                  "The service is unavailable for a moment (prepayd is not answering); try again "
                                  "later.",
                                  NULL);
}

static void page_render(struct http_request *rq, json_object *history) {
        char *html = NULL;
        size_t n = 0;
        int r;

        r = page_slice_html(rq->page_status, history, &html, &n);
        if (r == -EBADMSG) {
                (void) prepare_error_page(rq, MHD_HTTP_BAD_GATEWAY, "Bad answer",
                                          "prepayd's answer was not one of a slice.", NULL);
                return;
        }
        if (r < 0)
                log_warning_errno(r, "Failed to render the page of slice %s: %m", rq->slice);
        (void) prepare_html(rq, MHD_HTTP_OK, html, n, NULL);
}

static void on_page_reply(void *userdata, int error, json_object *reply) {
        struct http_request *rq = userdata;
        _cleanup_(freep) char *location = NULL, *html = NULL;
        json_object *body = NULL;
        char path[96];
        size_t n = 0;
        int status;

        rq->pending = NULL;
        if (error < 0) {
                log_full_errno(error == -ESHUTDOWN ? LOG_DEBUG : LOG_WARNING, error,
                               "prepayd did not answer a %s request: %m", strempty(rq->route));
                if (rq->page == PAGE_SLICE && rq->page_status)
                        page_render(rq, NULL); /* the page without its chart */
                else
                        page_unavailable(rq);
                resume(rq);
                return;
        }
        status = api_encode_reply(&rq->call, reply, &body, &location);
        if (rq->page == PAGE_TOPUP) {
                (void) page_topup_html(rq->slice, (unsigned) status, body, &html, &n);
                (void) prepare_html(rq, (unsigned) status, TAKE_PTR(html), n, NULL);
        } else if (!rq->page_status && status != MHD_HTTP_OK) {
                const char *sentence = NULL;

                (void) message_get_string(body, "error", &sentence);
                (void) prepare_error_page(rq, (unsigned) status,
                                          status == MHD_HTTP_NOT_FOUND ? "No such slice" : "Refused",
                                          sentence ?: "prepayd refused to show the slice.", NULL);
        } else if (!rq->page_status) {
                /* The status; now the history for the chart. */
                rq->page_status = json_object_get(reply);
                snprintf(path, sizeof(path), "/v1/slices/%s/history", rq->slice);
                if (page_call(rq, "GET", path, NULL) < 0) {
                        page_render(rq, NULL);
                        json_object_put(body);
                        resume(rq);
                        return;
                }
                json_object_put(body);
                return; /* still suspended */
        } else
                page_render(rq, status == MHD_HTTP_OK ? reply : NULL);
        json_object_put(body);
        resume(rq);
}

static enum MHD_Result page_dispatch(struct http_request *rq, enum page_route page, const char *slice) {
        struct gateway_http *h = rq->h;
        _cleanup_(freep) char *json_body = NULL;
        char voucher[PAGE_VOUCHER_MAX + 1], path[96];
        const char *ct, *why = NULL;
        json_object *o;
        uint64_t wait;
        int r;

        rq->page = page;
        rq->route = page == PAGE_SLICE ? "page" : "page-topup";
        snprintf(rq->slice, sizeof(rq->slice), "%s", slice);
        wait = limits_take(h->by_slice, rq->slice, now_usec(CLOCK_MONOTONIC));
        if (wait > 0)
                return queue_error_page(rq, MHD_HTTP_TOO_MANY_REQUESTS, "Too many requests",
                                        "Too many requests for this slice; try again in a few seconds.", NULL);
        if (page == PAGE_SLICE) {
                snprintf(path, sizeof(path), "/v1/slices/%s", slice);
                r = page_call(rq, "GET", path, NULL);
        } else {
                ct = header(rq->conn, MHD_HTTP_HEADER_CONTENT_TYPE);
                if (!ct || !strneq(ct, "application/x-www-form-urlencoded", 33) ||
                    (ct[33] != 0 && ct[33] != ';' && ct[33] != ' '))
                        return queue_error_page(rq, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "Not a form",
                                                "The top-up takes the page's form "
                                                "(application/x-www-form-urlencoded).",
                                                NULL);
                if (rq->body_size > PAGE_FORM_MAX)
                        return queue_error_page(rq, MHD_HTTP_CONTENT_TOO_LARGE, "Too large",
                                                "The form is larger than a voucher can be.", NULL);
                r = page_form_voucher(rq->body ?: "", rq->body_size, voucher, &why);
                if (r < 0)
                        return queue_error_page(rq, MHD_HTTP_BAD_REQUEST, "Not topped up", why, NULL);
                o = json_object_new_object();
                if (!o || message_add(o, "voucher", json_object_new_string(voucher)) < 0) {
                        json_object_put(o);
                        explicit_bzero(voucher, sizeof(voucher));
                        return MHD_NO;
                }
                json_body = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
                explicit_bzero(voucher, sizeof(voucher));
                if (!json_body)
                        return MHD_NO;
                snprintf(path, sizeof(path), "/v1/slices/%s/topup", slice);
                r = page_call(rq, "POST", path, json_body);
                explicit_bzero(json_body, strlen(json_body));
        }
        if (r == -EINVAL)
                return queue_error_page(rq, MHD_HTTP_BAD_REQUEST, "Refused", "The request was refused.", NULL);
        if (r == -EBUSY)
                return queue_error_page(rq, MHD_HTTP_SERVICE_UNAVAILABLE, "Busy",
                                        "The service is busy; try again in a few seconds.", NULL);
        if (r < 0) {
                if (!h->prepayd_down)
                        log_warning_errno(r, "Failed to reach prepayd at %s, answering 503 until it is back: %m",
                                          h->config->control_socket);
                h->prepayd_down = true;
                page_unavailable(rq);
                return queue_prepared(rq);
        }
        if (h->prepayd_down)
                log_info("prepayd is back at %s.", h->config->control_socket);
        h->prepayd_down = false;
        suspend(rq);
        return MHD_YES;
}

static enum MHD_Result request_dispatch(struct http_request *rq, const char *url) {
        struct gateway_http *h = rq->h;
        const char *allow = NULL;
        char page_slice[64];
        enum page_route page;
        json_object *refusal = NULL;
        struct api_request arq = {
                .method = rq->method,
                .path = url,
                .authorization = header(rq->conn, MHD_HTTP_HEADER_AUTHORIZATION),
                .idempotency_key = header(rq->conn, "Idempotency-Key"),
                .content_type = header(rq->conn, MHD_HTTP_HEADER_CONTENT_TYPE),
                .funder_proof = header(rq->conn, "Prepay-Funder-Proof"),
                .client = rq->hc ? rq->hc->client : NULL,
                .body = rq->body ?: "",
                .body_size = rq->body_size,
        };
        uint64_t wait;
        int status, r;

        /* the body is read: the connection's deadline is met */
        if (rq->hc)
                rq->hc->deadline_usec = UINT64_MAX;

        page = page_route_of(rq->method, url, page_slice, &allow);
        if (page != PAGE_NONE)
                return page_dispatch(rq, page, page_slice);
        if (allow)
                return queue_error_page(rq, MHD_HTTP_METHOD_NOT_ALLOWED, "Method not allowed",
                                        "This page takes another method.", allow);

        status = api_decode(&arq, &rq->call, &refusal);
        if (status > 0) {
                r = prepare_json(rq, (unsigned) status, refusal, NULL, 0);
                json_object_put(refusal);
                if (r < 0)
                        return MHD_NO;
                if (status == MHD_HTTP_METHOD_NOT_ALLOWED && api_allowed_methods(url))
                        MHD_add_response_header(rq->response, MHD_HTTP_HEADER_ALLOW, api_allowed_methods(url));
                return queue_prepared(rq);
        }
        rq->route = api_route_to_string(rq->call.route);
        snprintf(rq->slice, sizeof(rq->slice), "%s", rq->call.slice);

        if (rq->slice[0]) {
                wait = limits_take(h->by_slice, rq->slice, now_usec(CLOCK_MONOTONIC));
                if (wait > 0)
                        return refuse_now(rq, MHD_HTTP_TOO_MANY_REQUESTS, wait, "too_many",
                                          "Too many requests for this slice; try again after the time Retry-After "
                                          "gives.");
        }

        if (rq->call.route == API_EVENTS) {
                rq->sse = calloc(1, sizeof(struct sse));
                if (!rq->sse)
                        return MHD_NO;
                r = control_stream_open(h->pool, rq->call.request, on_event, rq, &rq->sse->stream);
        } else
                r = control_submit(h->pool, rq->call.request, on_reply, rq, &rq->pending);
        if (r == -EBUSY)
                return refuse_now(rq, rq->sse ? MHD_HTTP_TOO_MANY_REQUESTS : MHD_HTTP_SERVICE_UNAVAILABLE,
                                  RETRY_UNAVAILABLE, rq->sse ? "too_many" : "unavailable",
                                  rq->sse ? "Too many event streams are open; try again later."
                                          : "The service is busy; try again later.");
        if (r < 0) {
                if (!h->prepayd_down)
                        log_warning_errno(r, "Failed to reach prepayd at %s, answering 503 until it is back: %m",
                                          h->config->control_socket);
                h->prepayd_down = true;
                return refuse_now(rq, MHD_HTTP_SERVICE_UNAVAILABLE, RETRY_UNAVAILABLE, "unavailable",
                                  "The service is unavailable for a moment (prepayd is not running); try again "
                                  "later.");
        }
        if (h->prepayd_down)
                log_info("prepayd is back at %s.", h->config->control_socket);
        h->prepayd_down = false;
        suspend(rq);
        return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        struct gateway_http *h = cls;
        struct http_request *rq = *con_cls;

        if (!rq) {
                rq = request_new(h, conn, method);
                if (!rq)
                        return MHD_NO;
                *con_cls = rq;
                return request_begin(rq);
        }
        if (*upload_data_size > 0)
                return request_body(rq, upload_data, upload_data_size);
        if (rq->response)
                return queue_prepared(rq);
        if (rq->pending || rq->sse)
                return MHD_YES;
        return request_dispatch(rq, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
        struct gateway_http *h = cls;
        struct http_request *rq = *con_cls;
        uint64_t ms;

        if (!rq)
                return;
        *con_cls = NULL;
        ms = (now_usec(CLOCK_MONOTONIC) - rq->start_usec) / USEC_PER_MSEC;
        /* Method, route, status, time, address: nothing the client wrote
         * but the method, which is one of a few words. */
        if (rq->status > 0)
                log_info("%s %s%s%s %u %" PRIu64 "ms %s%s", rq->method, rq->route ?: "-", rq->slice[0] ? " " : "",
                         rq->slice, rq->status, ms, rq->hc ? rq->hc->client : "-",
                         toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (not all sent)");
        else
                log_info("%s %s - %" PRIu64 "ms %s (closed before a reply)", rq->method, rq->route ?: "-", ms,
                         rq->hc ? rq->hc->client : "-");
        if (rq->hc)
                rq->hc->deadline_usec = now_usec(CLOCK_MONOTONIC) + h->config->request_timeout_usec;
        request_free(rq);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
        struct gateway_http *h = cls;
        struct http_conn *hc = *socket_context;
        const union MHD_ConnectionInfo *ci;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                hc = calloc(1, sizeof(*hc));
                if (!hc)
                        return; /* no deadline, no count: MHD's own timeout still holds */
                hc->h = h;
                hc->conn = conn;
                ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
                format_client(ci ? ci->client_addr : NULL, hc->client, sizeof(hc->client));
                format_limit_key(ci ? ci->client_addr : NULL, hc->client, hc->limit_key, sizeof(hc->limit_key));
                hc->deadline_usec = now_usec(CLOCK_MONOTONIC) + h->config->request_timeout_usec;
                hc->next = h->conns;
                if (h->conns)
                        h->conns->prev = hc;
                h->conns = hc;
                *socket_context = hc;
                return;
        }
        if (!hc)
                return;
        if (hc->prev)
                hc->prev->next = hc->next;
        else
                h->conns = hc->next;
        if (hc->next)
                hc->next->prev = hc->prev;
        free(hc);
        *socket_context = NULL;
}

/* RequestTimeoutSec= as a deadline, not only as libmicrohttpd's idle
 * timeout: a client that sends a byte now and then is never idle, so a
 * connection still reading its request (or its TLS handshake, or waiting
 * between requests) when its time is up is shut down. */
static int sweep(sd_event_source *s, uint64_t usec, void *userdata) {
        struct gateway_http *h = userdata;
        uint64_t t = now_usec(CLOCK_MONOTONIC);
        bool any = false;

        for (struct http_conn *hc = h->conns; hc; hc = hc->next) {
                const union MHD_ConnectionInfo *ci;

                if (t < hc->deadline_usec)
                        continue;
                hc->deadline_usec = UINT64_MAX;
                ci = MHD_get_connection_info(hc->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (ci && ci->connect_fd >= 0) {
                        log_debug("Connection from %s took longer than RequestTimeoutSec=, closing it.", hc->client);
                        (void) shutdown(ci->connect_fd, SHUT_RDWR);
                        any = true;
                }
        }
        if (any)
                mhd_kick(h);
        (void) sd_event_source_set_time_relative(s, SWEEP_USEC);
        return 0;
}

/* libmicrohttpd in sd-event. */

/* How early the timer may fire rather than be set again: an early run
 * finds nothing to do and sets it again. Setting it after every
 * MHD_run() (the idle timeout's deadline moves by a few microseconds each
 * time) cost 14% of the gateway's CPU in timerfd_settime() under load
 * (tests/bench/gateway, perf). */
#define REARM_SLACK_USEC (50 * USEC_PER_MSEC)

static void mhd_rearm(struct gateway_http *h) {
        MHD_UNSIGNED_LONG_LONG ms;
        uint64_t now, next, cur;
        int enabled;

        if (!h->mhd)
                return;
        if (MHD_get_timeout(h->mhd, &ms) == MHD_YES) {
                if (sd_event_now(h->event, CLOCK_MONOTONIC, &now) >= 0 && ms < UINT64_MAX / USEC_PER_MSEC - now &&
                    sd_event_source_get_enabled(h->timer, &enabled) >= 0 && enabled != SD_EVENT_OFF &&
                    sd_event_source_get_time(h->timer, &cur) >= 0) {
                        next = now + ms * USEC_PER_MSEC;
                        if (cur <= next && next - cur <= REARM_SLACK_USEC)
                                return;
                }
                (void) sd_event_source_set_time_relative(h->timer, ms * USEC_PER_MSEC);
                (void) sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
        } else
                (void) sd_event_source_set_enabled(h->timer, SD_EVENT_OFF);
}

/* Work to do outside MHD_run() (a resume, a shut socket): run it now.
 * The timer's accuracy is 1 us (sd-event's default, for 0, is 250 ms:
 * every reply would wait for it). */
static void mhd_kick(struct gateway_http *h) {
        if (!h->timer)
                return;
        (void) sd_event_source_set_time_relative(h->timer, 0);
        (void) sd_event_source_set_enabled(h->timer, SD_EVENT_ONESHOT);
}

static int mhd_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct gateway_http *h = userdata;

        (void) MHD_run(h->mhd);
        mhd_rearm(h);
        return 0;
}

static int mhd_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        return mhd_io(NULL, -1, 0, userdata);
}

static bool starting;

static void mhd_log(void *cls, const char *fmt, va_list ap) {
        char buf[512];
        size_t n;

        vsnprintf(buf, sizeof(buf), fmt, ap);
        n = strlen(buf);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '.'))
                buf[--n] = 0;
        /* Once serving, its messages are about single connections
         * (handshakes that fail, clients that go): debug. */
        log_full_errno(starting ? LOG_ERR : LOG_DEBUG, 0, "libmicrohttpd: %s", buf);
}

/* The URL as it came: libmicrohttpd would decode %XX first (a "%2F" a
 * "/", a "%00" an early end), and api_decode() refuses escapes in the
 * byte-for-byte paths it routes, which it can only do if it sees them. */
static size_t unescape_none(void *cls, struct MHD_Connection *connection, char *s) {
        return strlen(s);
}

int gateway_http_new(sd_event *e, const struct gateway_config *c, struct gateway_tls *tls, int listen_fd,
                     struct control_pool *pool, struct gateway_http **ret) {
        struct gateway_http *h;
        const union MHD_DaemonInfo *di;
        int r;

        h = calloc(1, sizeof(*h));
        if (!h) {
                close(listen_fd);
                return log_oom();
        }
        h->event = sd_event_ref(e);
        h->config = c;
        h->pool = pool;
        r = limits_new(c->limits_table_size, c->rate_per_address_milli, c->burst_per_address, &h->by_address);
        if (r >= 0)
                r = limits_new(c->limits_table_size, c->rate_per_slice_milli, c->burst_per_slice, &h->by_slice);
        if (r < 0) {
                close(listen_fd);
                gateway_http_free(h);
                return log_error_errno(r, "Failed to set up the rate limits: %m");
        }

        starting = true;
        h->mhd = MHD_start_daemon(
                MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h, MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_HTTPS_MEM_CERT, tls->cert_pem,
                MHD_OPTION_HTTPS_MEM_KEY, tls->key_pem, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
                MHD_OPTION_CONNECTION_LIMIT, (unsigned) c->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
                (unsigned) c->max_connections_per_address, MHD_OPTION_CONNECTION_TIMEOUT,
                (unsigned) ((c->request_timeout_usec + USEC_PER_SEC - 1) / USEC_PER_SEC),
                MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) CONNECTION_MEMORY, MHD_OPTION_NOTIFY_COMPLETED,
                on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_UNESCAPE_CALLBACK,
                unescape_none, NULL, MHD_OPTION_END);
        starting = false;
        /* libmicrohttpd has loaded the key into GnuTLS's own structures. */
        gateway_tls_forget_key(tls);
        if (!h->mhd) {
                close(listen_fd);
                gateway_http_free(h);
                return log_error_errno(EINVAL, "Failed to start the HTTPS server (libmicrohttpd said why above).");
        }

        di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!di) {
                gateway_http_free(h);
                return log_error_errno(EINVAL, "libmicrohttpd has no epoll fd: built without epoll?");
        }
        r = sd_event_add_io(e, &h->io, di->epoll_fd, EPOLLIN, mhd_io, h);
        if (r >= 0)
                r = sd_event_add_time(e, &h->timer, CLOCK_MONOTONIC, 0, 1, mhd_timer, h);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &h->sweep, CLOCK_MONOTONIC, SWEEP_USEC, 100 * USEC_PER_MSEC, sweep,
                                               h);
        if (r < 0) {
                gateway_http_free(h);
                return log_error_errno(r, "Failed to add the HTTPS server to the event loop: %m");
        }
        (void) sd_event_source_set_enabled(h->sweep, SD_EVENT_ON);
        mhd_rearm(h);
        *ret = h;
        return 0;
}

void gateway_http_free(struct gateway_http *h) {
        if (!h)
                return;
        if (h->mhd) {
                /* What waits for prepayd is answered 503 and what streams
                 * ends, so that every suspended connection is resumed
                 * before libmicrohttpd closes them. */
                for (struct http_request *rq = h->requests; rq; rq = rq->next) {
                        if (rq->pending) {
                                control_req_cancel(TAKE_PTR(rq->pending));
                                (void) prepare_refusal(rq, MHD_HTTP_SERVICE_UNAVAILABLE, RETRY_UNAVAILABLE,
                                                       "unavailable", "The server is shutting down; try again later.");
                        }
                        if (rq->sse) {
                                rq->sse->ended = true;
                                rq->sse->waiting = false;
                        }
                        resume(rq);
                }
                (void) MHD_run(h->mhd);
                MHD_stop_daemon(h->mhd);
        }
        sd_event_source_disable_unref(h->io);
        sd_event_source_disable_unref(h->timer);
        sd_event_source_disable_unref(h->sweep);
        limits_free(h->by_address);
        limits_free(h->by_slice);
        sd_event_unref(h->event);
        free(h);
}
