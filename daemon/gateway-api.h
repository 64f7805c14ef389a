/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
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
/* A request body: more is refused with 413 before it is parsed. A create
 * with 16 vouchers and an 8 KiB SSH key takes about 13 KiB. */
#define API_BODY_MAX 32768
#define API_IDEMPOTENCY_KEY_MAX 128
/* "ik-" and 43 base64url characters (SHA-256), and the NUL. */
#define API_REQUEST_ID_SIZE (3 + 43 + 1)

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
        API_CLAIM,   /* POST /v1/slices/{id}/claim: a keyed funder's share, by its signed claim */
        API_FUNDERS, /* GET /v1/slices/{id}/funders: the owner token's, or a funder's proof (its own) */
        API_PAY,     /* POST /v1/slices/{id}/pay: revenue paid to the slice by its users */
        API_SPONSOR_BID, /* POST /v1/slices/{id}/sponsor/bids */
        API_SPONSOR_OUTCOME, /* POST /v1/slices/{id}/sponsor/outcome: a bid's fate, its change if it lost */
        API_HISTORY, /* GET /v1/slices/{id}/history: its balance over its life and its events (public figures without the token) */
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
        const char *funder_proof; /* Prepay-Funder-Proof: a funder's events proof (pc1-...) */
        const char *client; /* the peer's address, text (the server's, trusted) */
        const char *body;
        size_t body_size;
};

struct api_call {
        enum api_route route;
        char slice[64];      /* the slice id the path names, "" for none */
        bool has_token;      /* an owner token came (Authorization: Bearer) and the route reads it */
        bool has_funder_proof; /* a funder's proof came (Prepay-Funder-Proof) and the route reads it */
        json_object *request; /* the control request to send, owned */
};

/* Decodes rq. Returns 0 with *ret filled (free with api_call_done()), or
 * an HTTP status (400, 401, 404, 405, 411, 413, 415, ...) with
 * *ret_refusal the body ({"error": sentence, "code": ...}, owned; NULL
 * only when out of memory, with 500). A 401 wants "WWW-Authenticate:
 * Bearer", a 405 "Allow: " api_allowed_methods(rq->path): the server adds
 * those headers. */
int api_decode(const struct api_request *rq, struct api_call *ret, json_object **ret_refusal);
void api_call_done(struct api_call *c); /* accepts a zeroed call */

/* prepayd's reply to call c (its JSON, NULL when none came) -> the HTTP
 * status returned, *ret_body (owned) and, for a 201, *ret_location (owned,
 * else NULL). A refusal's "code" gives the status (prepay-api(7)). No
 * reply is 503, a reply that is not one of prepayd's 502; out of memory
 * 500 with *ret_body NULL. For API_EVENTS a 200 has an empty object as
 * body: the stream follows (api_encode_event()). reply is not changed. */
int api_encode_reply(const struct api_call *c, json_object *reply, json_object **ret_body, char **ret_location);

/* One datagram of an event stream ({"event": {...}}) -> the text of one
 * Server-Sent Event ("event: KIND\ndata: JSON\n\n"), owned; -EINVAL for a
 * datagram that is not an event. */
int api_encode_event(json_object *datagram, char **ret_text);

/* A refusal the server makes itself (429, 503, 413, ...): {"error":
 * sentence, "code": code}; NULL when out of memory. */
json_object *api_refusal(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The status of a refusal code ("spent" -> 409, ...); 500 for an unknown one.
 * prepayd's codes (invalid, unauthorized, forbidden, not_found, spent,
 * conflict, payment_required, too_many, unavailable, internal) and the
 * gateway's own: method_not_allowed 405, length_required 411, too_large
 * 413, unsupported_media_type 415, headers_too_large 431, bad_gateway 502. */
int api_status_of_code(const char *code);

/* The methods path takes ("GET", "POST"), for a 405's Allow header; NULL
 * when no route has that path. */
const char *api_allowed_methods(const char *path);

/* "prices", "create", ...: a route's name for logs and rate limits. */
const char *api_route_to_string(enum api_route r);

/* The control request id of a POST with "Idempotency-Key: key":
 * "ik-" + base64url(SHA-256("prepay-idempotency-v1\0" key "\0" method " "
 * path "\0" token "\0" body)), token "" when the route reads none. 0, or
 * -ENOMEM/-EIO from the hash. */
int api_idempotency_request_id(const char *key, const char *method, const char *path, const char *token,
                                const void *body, size_t body_size, char ret[static API_REQUEST_ID_SIZE]);
