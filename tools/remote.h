/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* prepay --host: the CLI as a client of prepay-gatewayd's HTTP API
 * (prepay-api(7)) instead of prepayd's control socket.
 *
 * The verbs keep building the control requests they send to a local
 * prepayd; remote.c turns one into the HTTP call the API has for it (a
 * method, a path, the owner token as a Bearer, the request id as the
 * Idempotency-Key, a JSON body in the API's form: sizes and amounts as
 * strings) and the HTTP answer back into the control reply the verb
 * already prints (amounts as micro-units again, api_money_from_strings()).
 * Pure: no system call, no libcurl (that is http.c), unit-tested in
 * tests/unit/test-cli-remote.c. */

#define REMOTE_HOST_MAX 256
#define REMOTE_PIN_MAX 64     /* "sha256//" + 44 characters of base64 */
#define REMOTE_KEY_MAX 128    /* Idempotency-Key: 1..128 printable ASCII */
#define REMOTE_REPLY_MAX (1024 * 1024) /* a reply's body, at most */
#define REMOTE_EVENT_MAX 65536 /* one Server-Sent Event, at most */
#define REMOTE_VOUCHERS_MAX 16

/* https://HOST[:PORT] as given to --host or $PREPAY_HOST. */
struct remote_host {
        char host[REMOTE_HOST_MAX]; /* lower case; an IPv6 address in brackets */
        uint16_t port;              /* 443 when not given */
        char origin[REMOTE_HOST_MAX + 16]; /* "https://HOST:PORT" */
        char key[REMOTE_HOST_MAX + 8];     /* "HOST:PORT": names its tokens' files */
};

/* "https://" and a host name, an IPv4 address or a bracketed IPv6 address,
 * an optional ":PORT" (1..65535) and an optional "/". No user, path, query
 * or fragment; no other scheme (a voucher is money: never over plain
 * HTTP). -EINVAL with the reason in *ret_why (static). */
int remote_host_parse(const char *url, struct remote_host *ret, const char **ret_why);

/* --pin: "sha256:BASE64" (the SHA-256 of the server certificate's
 * SubjectPublicKeyInfo, as prepay-gatewayd logs it), "sha256//BASE64"
 * (curl's spelling) or "sha256:" and 64 hex digits -> libcurl's
 * CURLOPT_PINNEDPUBLICKEY form "sha256//BASE64". -EINVAL otherwise. */
int remote_pin_parse(const char *pin, char ret[static REMOTE_PIN_MAX]);

/* The HTTP call for one control request. */
struct remote_call {
        const char *op;     /* the control request's op */
        const char *method; /* "GET" or "POST" */
        char path[96];      /* "/v1/slices/s-12345678/topup" */
        char *body;         /* JSON text (POST), NULL for a GET; owned */
        char *token;        /* owner token for Authorization: Bearer, or NULL; owned */
        char *funder_proof; /* a funder's events proof for Prepay-Funder-Proof, or NULL; owned */
        char idempotency_key[REMOTE_KEY_MAX + 1]; /* the request's "request_id", "" if none */
        bool stream;        /* events: a text/event-stream */
};

/* req (not consumed) -> *ret (free with remote_call_done()). -EOPNOTSUPP
 * for what the API does not offer (list, attach, run-unit, destroy,
 * reload, events of every slice, a create that attaches the caller, limits
 * it has no field for, release --keep), -EINVAL for a field of a form the
 * CLI never sends; the reason in *ret_why (static). */
int remote_call_from_request(json_object *req, struct remote_call *ret, const char **ret_why);
void remote_call_done(struct remote_call *c);

/* The answer to call c, made from req: status and body (size bytes, any
 * bytes) -> the control reply the verb reads, in *ret (owned):
 *  - 2xx: the body's object with "ok": true, amounts as micro-units,
 *    control characters in its strings made '?', a create's "token"
 *    checked (pt- and base64url), "change" (an array of pv1- vouchers)
 *    as one string of lines (as prepayd sends it), and a VM's
 *    "ssh" endpoint put into the slice's "vm" (the gateway's view of
 *    where to connect); a quote's sizes are those asked when the reply
 *    does not say;
 *  - a refusal: {"ok": false, "error": SENTENCE, "code": CODE, "status":
 *    N}, the sentence in printable ASCII, a 402's total and what is missing
 *    appended, a 429's or 503's retry_after (seconds, if > 0) too.
 * -EBADMSG for a success that is not the JSON the API promises (the
 * reason in *ret_why); -ENOMEM. */
int remote_reply_from_http(json_object *req, const struct remote_call *c, long status, const char *body,
                           size_t size, unsigned retry_after, json_object **ret, const char **ret_why);

/* Server-Sent Events (text/event-stream), read as they come: bytes are fed
 * in pieces of any size, each complete event is handed to on_event with
 * its "event:" type ("message" when none) and its "data:" lines joined by
 * "\n". Comments (": keep-alive") and "id:"/"retry:" lines are skipped.
 * An event or a line past REMOTE_EVENT_MAX is an error (-EMSGSIZE).
 * on_event returning < 0 stops the stream with that error. */
struct remote_sse {
        char *buf;       /* the line being read */
        size_t len;
        char type[64];
        char *data;      /* the event's data so far */
        size_t data_len;
        bool has_data;
        bool cr;         /* the last byte was a '\r' (CR LF is one end of line) */
};
void remote_sse_init(struct remote_sse *s);
void remote_sse_done(struct remote_sse *s);
int remote_sse_feed(struct remote_sse *s, const char *p, size_t n,
                    int (*on_event)(const char *type, const char *data, void *userdata), void *userdata);

/* One event's data, as the API sends it (amounts as strings) -> the event
 * object the local printers read (micro-units, control characters made
 * '?'); {"event": {...}} is unwrapped. -EBADMSG if it is not one. */
int remote_event_from_data(const char *data, json_object **ret);

/* The file name a slice's owner token is kept under: the slice id for
 * the local prepayd, "ID@HOST:PORT" for a gateway's, so that one host's
 * token is never sent to another. -EINVAL for an id that is not one. */
int remote_token_name(const char *slice, const struct remote_host *h, char *buf, size_t n);

