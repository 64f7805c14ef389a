/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

#include "gateway-config.h"
#include "gateway-control.h"
#include "gateway-tls.h"

/* prepay-gatewayd's HTTPS server: libmicrohttpd in sd-event (its epoll fd
 * an IO source, MHD_get_timeout() a timer, no thread of its own). Each
 * request is read whole (bounded by MaxBodySize=, RequestTimeoutSec=),
 * rate-limited by client address and by slice, decoded by gateway-api.c,
 * and forwarded to prepayd through the control pool with the connection
 * suspended until the reply; "events" becomes a Server-Sent Events stream.
 * One log line per request: method, route, status, duration, client
 * address; never a header's or a body's content. */

struct gateway_http;

/* A listening TCP socket on Listen= (non-blocking, close-on-exec). */
int gateway_http_listen(const char *listen);

/* Serves on listen_fd (taken). tls's key is handed to the TLS library
 * and wiped here. The pool must outlive the server. */
int gateway_http_new(sd_event *e, const struct gateway_config *c, struct gateway_tls *tls, int listen_fd,
                     struct control_pool *pool, struct gateway_http **ret);
/* Stops accepting, answers or cancels what is in flight, closes every
 * connection. Accepts NULL. */
void gateway_http_free(struct gateway_http *h);
