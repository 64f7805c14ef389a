/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <systemd/sd-event.h>

#include "gateway-config.h"

/* The gateway's side of prepayd's control socket (common/message.h): up to
 * ControlConnections= connections, each carrying one request at a time
 * (prepayd may park one until its batch commits, so a reply can come late
 * and a busy connection is not a dead one); requests past them wait in a
 * queue of ControlQueue=, and past that are refused at once. Connections
 * are made when needed and again after prepayd restarts; none is kept
 * idle long enough for prepayd's IdleTimeoutSec= to close it under a
 * request. Event streams (the "events" op) hold a connection each, apart
 * from the pool, at most MaxEventStreams= of them. */

struct control_pool;
struct control_req;
struct control_stream;

/* error 0 and prepayd's reply (borrowed: valid during the call), or a
 * negative errno and NULL: -ECONNREFUSED/-ENOENT (prepayd is not there),
 * -ECONNRESET (it went away before answering), -ETIMEDOUT
 * (ControlTimeoutSec=), -ESHUTDOWN (the gateway stops), -EBADMSG. */
typedef void (*control_reply_fn)(void *userdata, int error, json_object *reply);

int control_pool_new(sd_event *e, const struct gateway_config *c, struct control_pool **ret);
/* Every request still waiting is answered -ESHUTDOWN first. */
void control_pool_free(struct control_pool *p);

/* Sends request (a reference is taken) as soon as a connection is free;
 * cb is called exactly once, later, never from within this call. Returns
 * 0 with *ret (the handle, valid until cb returns), -EBUSY when the queue
 * is full, or the error connecting to prepayd (-ECONNREFUSED, -ENOENT,
 * -EACCES...) when no connection is open and none can be made. */
int control_submit(struct control_pool *p, json_object *request, control_reply_fn cb, void *userdata,
                   struct control_req **ret);
/* cb will not be called (the reply, if one comes, is dropped). */
void control_req_cancel(struct control_req *r);

/* An event stream: request ({"op": "events", ...}) sent on a connection
 * of its own; cb gets every datagram, the reply first, then one
 * {"event": ...} per event, until an error (-ECONNRESET when prepayd
 * closes it), after which the stream only waits to be closed. -EBUSY past
 * MaxEventStreams=. */
int control_stream_open(struct control_pool *p, json_object *request, control_reply_fn cb, void *userdata,
                        struct control_stream **ret);
void control_stream_close(struct control_stream *s);
