/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

/* The HTTP API of prepay-gatewayd (prepay-api(7)), as pure code: one HTTP
 * request read by the server becomes either a refusal (a status and a
 * JSON body) or the one control request to forward to prepayd as a
 * remote peer; prepayd's reply becomes the HTTP status and body. Every
 * byte of the peer's request is checked here: the path, the headers the
 * API reads, the JSON body against one decoder per route (types, lengths,
 * unknown members refused). No system call and no allocation beyond
 * json-c's and the strings returned: unit-tested and fuzzed without a
 * server (tests/unit/test-gateway-api.c, tests/fuzz/fuzz-gateway-*.c). */

#define API_CLIENT_MAX 64 /* the peer's address as text, as prepayd takes it */

enum api_route {
        API_PRICES,  /* GET /v1/prices */
        API_IMAGES,  /* GET /v1/images */
        API_QUOTE,   /* POST /v1/quote */
        API_CREATE,  /* POST /v1/slices */
        API_TOPUP,   /* POST /v1/slices/{id}/topup */
        API_STATUS,  /* GET /v1/slices/{id} */
        API_EVENTS,  /* GET /v1/slices/{id}/events: a stream (Server-Sent Events) */
        API_RELEASE, /* POST /v1/slices/{id}/release */
        API_KILL,    /* POST /v1/slices/{id}/kill */
        _API_ROUTE_MAX,
};

/* One HTTP request as the server read it. Header values are NULL when
 * absent; body is not NUL-terminated and may hold any byte. */
struct api_request {
        const char *method;
        const char *path; /* without the query string */
        const char *authorization;
        const char *idempotency_key;
        const char *content_type;
        const char *client; /* the peer's address, text (the server's, trusted) */
        const char *body;
        size_t body_size;
};

struct api_call {
        enum api_route route;
        char slice[64];      /* the slice id the path names, "" for none */
        bool has_token;      /* an owner token came (Authorization: Bearer) */
        json_object *request; /* the control request to send, owned */
};

/* Decodes rq. Returns 0 with *ret filled (free with api_call_done()), or
 * an HTTP status (400, 401, 404, 405, 411, 413, 415, ...) with
 * *ret_refusal the body ({"error": sentence, "code": ...}, owned). */
int api_decode(const struct api_request *rq, struct api_call *ret, json_object **ret_refusal);
void api_call_done(struct api_call *c); /* accepts a zeroed call */

/* prepayd's reply to call c (its JSON, NULL when none came) -> the HTTP
 * status returned, *ret_body (owned) and, for a 201, *ret_location (owned,
 * else NULL). A refusal's "code" gives the status (prepay-api(7)). */
int api_encode_reply(const struct api_call *c, json_object *reply, json_object **ret_body, char **ret_location);

/* One datagram of an event stream ({"event": {...}}) -> the text of one
 * Server-Sent Event ("event: KIND\ndata: JSON\n\n"), owned; -EINVAL for a
 * datagram that is not an event. */
int api_encode_event(json_object *datagram, char **ret_text);

/* A refusal the server makes itself (429, 503, 413, ...): {"error":
 * sentence, "code": code}; NULL when out of memory. */
json_object *api_refusal(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The status of a refusal code ("spent" -> 409, ...); 500 for an unknown one. */
int api_status_of_code(const char *code);
