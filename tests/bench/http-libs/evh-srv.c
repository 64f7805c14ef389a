/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The libevent evhttp half of the HTTP library measurement (issue 14).
 *
 * One thread, TLS 1.3 by OpenSSL through bufferevent_openssl (evhttp_set_bevcb).
 *   POST /echo  the body (up to MAX_BODY: evhttp answers 413 itself) and a
 *               fixed 300-byte JSON reply.
 *   GET /sse    a never-ending text/event-stream, one event a second, as
 *               chunks sent from a timer.
 * Usage: evh-srv PORT CERT.pem KEY.pem   (with LISTEN_FDS=1 it takes fd 3)
 * EVH_RELEASE_BUFFERS=1 sets SSL_MODE_RELEASE_BUFFERS (idle memory variant),
 * EVH_NO_TICKETS=1 sends no session tickets (as MHD+GnuTLS by default),
 * EVH_TIMEOUT=S sets evhttp's one timeout (default 600 s).
 */
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reply.h"

#define MAX_BODY (64 * 1024)

struct stream {
        struct evhttp_request *req;
        struct event *timer;
        unsigned long long n;
};

static SSL_CTX *ctx;

static struct bufferevent *make_bev(struct event_base *base, void *arg) {
        SSL *ssl = SSL_new(ctx);

        (void) arg;
        /* Returning NULL here does not refuse the connection: evhttp 2.1.12
         * then makes a plain socket bufferevent and serves clear-text HTTP on
         * the TLS port. */
        if (!ssl)
                abort();
        return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                              BEV_OPT_CLOSE_ON_FREE);
}

static void echo(struct evhttp_request *req, void *arg) {
        struct evbuffer *out = evhttp_request_get_output_buffer(req);

        (void) arg;
        if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
                evhttp_send_error(req, 405, NULL);
                return;
        }
        /* evhttp has read the whole body (within max_body_size) by now. */
        evbuffer_add_reference(out, REPLY_JSON, REPLY_LEN, NULL, NULL);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, 200, "OK", NULL);
}

static void stream_free(struct stream *s) {
        event_free(s->timer);
        free(s);
}

static void stream_closed(struct evhttp_connection *conn, void *arg) {
        (void) conn;
        stream_free(arg);
}

static void stream_tick(evutil_socket_t fd, short what, void *arg) {
        struct stream *s = arg;
        struct evbuffer *b = evbuffer_new();

        (void) fd;
        (void) what;
        if (!b)
                return;
        evbuffer_add_printf(b, "event: tick\ndata: {\"n\": %llu}\n\n", ++s->n);
        evhttp_send_reply_chunk(s->req, b);
        evbuffer_free(b);
}

static void sse(struct evhttp_request *req, void *arg) {
        struct timeval one = { 1, 0 };
        struct event_base *base = arg;
        struct stream *s = calloc(1, sizeof(*s));

        if (!s) {
                evhttp_send_error(req, 503, NULL);
                return;
        }
        s->req = req;
        s->timer = event_new(base, -1, EV_PERSIST, stream_tick, s);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/event-stream");
        evhttp_send_reply_start(req, 200, "OK");
        evhttp_connection_set_closecb(evhttp_request_get_connection(req), stream_closed, s);
        event_add(s->timer, &one);
}

/* bufferevent_openssl writes the head and the body as separate TLS records:
 * without TCP_NODELAY Nagle holds the second until the client's delayed ACK
 * (40 ms a reply). Accepted sockets inherit it from the listener on Linux;
 * a systemd .socket says NoDelay=yes instead. */
static int set_nodelay(struct evhttp_bound_socket *bound) {
        int one = 1;

        return setsockopt(evhttp_bound_socket_get_fd(bound), IPPROTO_TCP, TCP_NODELAY, &one,
                          sizeof(one));
}

int main(int argc, char **argv) {
        struct evhttp_bound_socket *bound;
        struct event_base *base;
        struct evhttp *http;
        const char *lf = getenv("LISTEN_FDS");

        if (argc != 4) {
                fprintf(stderr, "Usage: %s PORT CERT KEY\n", argv[0]);
                return 2;
        }
        ctx = SSL_CTX_new(TLS_server_method());
        if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
            SSL_CTX_use_certificate_chain_file(ctx, argv[2]) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) != 1) {
                ERR_print_errors_fp(stderr);
                return 1;
        }
        if (getenv("EVH_RELEASE_BUFFERS"))
                SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
        /* OpenSSL sends two TLS 1.3 session tickets per handshake by default,
         * GnuTLS under MHD none: EVH_NO_TICKETS=1 makes the work equal. */
        if (getenv("EVH_NO_TICKETS"))
                SSL_CTX_set_num_tickets(ctx, 0);

        base = event_base_new();
        http = base ? evhttp_new(base) : NULL;
        if (!http)
                return 1;
        evhttp_set_bevcb(http, make_bev, NULL);
        evhttp_set_max_body_size(http, MAX_BODY);
        evhttp_set_max_headers_size(http, 8192);
        evhttp_set_timeout(http, getenv("EVH_TIMEOUT") ? atoi(getenv("EVH_TIMEOUT")) : 600);
        evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
        evhttp_set_cb(http, "/echo", echo, NULL);
        evhttp_set_cb(http, "/sse", sse, base);

        /* evhttp writes with write(), not send(MSG_NOSIGNAL): a client that
         * goes away would kill us. */
        signal(SIGPIPE, SIG_IGN);
        if (lf && atoi(lf) == 1) {
                /* socket activation: systemd hands over a blocking listener,
                 * and evconnlistener accepts until EAGAIN (a blocking accept()
                 * would hang the loop). */
                evutil_make_socket_nonblocking(3);
                bound = evhttp_accept_socket_with_handle(http, 3);
        } else
                bound = evhttp_bind_socket_with_handle(http, "0.0.0.0", (ev_uint16_t) atoi(argv[1]));
        if (!bound || set_nodelay(bound) < 0) {
                perror("listen");
                return 1;
        }
        return event_base_dispatch(base) < 0;
}
