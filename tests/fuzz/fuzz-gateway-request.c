/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One HTTP request as prepay-gatewayd's server hands it over, through
 * api_decode() (daemon/gateway-api.c) and, when it is taken, through
 * prepayd's own request_decode() and api_encode_reply() of fixed replies.
 * The input is split at its first seven newlines into the method, the
 * path, Authorization, Idempotency-Key, Content-Type, the client's address
 * and Prepay-Funder-Proof (an empty line is a header that did not come);
 * the rest is the body.
 * Properties:
 *   - api_decode() returns 0 or one of the statuses it documents, and a
 *     refusal is {"error": sentence, "code": code} whose code has that
 *     status; a 405 path has its allowed method, a 404 route none;
 *   - a refusal never holds the owner token sent (unless the body did);
 *   - a funder's proof is forwarded only when no token is, on a route
 *     that reads one, and only an events proof (never a claim); a claim
 *     forwarded is never an events proof;
 *   - a request taken is one prepayd's decoder takes, of the route's op,
 *     that fits a control datagram, with a valid slice id where the
 *     route has one and a request id only on a POST with a key;
 *   - every fixed reply encodes to a status and a body. */
#include <errno.h>

#include "fuzz-json.h"
#include "common/claim.h"
#include "common/message.h"
#include "common/request.h"
#include "gateway-api.h"

FUZZ_QUIET_INITIALIZE

static const char *const ops[_API_ROUTE_MAX] = {
        [API_PRICES] = "quote",  [API_IMAGES] = "images", [API_QUOTE] = "quote",
        [API_CREATE] = "create", [API_TOPUP] = "topup",   [API_STATUS] = "status",
        [API_EVENTS] = "events", [API_RELEASE] = "release", [API_KILL] = "kill",
        [API_CLAIM] = "claim",   [API_FUNDERS] = "funders", [API_PAY] = "pay",
        [API_SPONSOR_BID] = "sponsor_bid", [API_SPONSOR_OUTCOME] = "sponsor_outcome",
        [API_HISTORY] = "history",
};

/* A statement's purpose, 0 when it is not one. */
static char purpose_of(const char *s) {
        struct claim c;

        return s && claim_from_text(s, &c, NULL) == 0 ? c.purpose : 0;
}

static const char *const replies[] = {
        "{\"ok\": true, \"slice\": {\"id\": \"s-0123abcd\", \"state\": \"running\", \"cgroup\": \"/x\", "
        "\"account\": {\"balance\": 5}, \"vm\": {\"image\": \"d\", \"ssh_host\": \"h\", \"ssh_port\": 22, "
        "\"ssh_user\": \"u\", \"pid\": 1}}, \"token\": \"pt-x\", \"credited\": 1, \"refund\": 2, \"currency\": "
        "\"EUR\", \"change\": \"pv1-a\\npv1-b\", \"images\": [], \"total\": 3, \"items\": {\"cpu\": 1}}",
        "{\"ok\": false, \"error\": \"No\", \"code\": \"payment_required\", \"missing\": 1, \"total\": 2}",
        "{\"ok\": false, \"error\": \"No\"}",
};

static void check_refusal(int status, json_object *refusal, const char *token, const char *body) {
        json_object *error, *code;

        fuzz_check(status == 400 || status == 401 || status == 404 || status == 405 || status == 413 ||
                   status == 415);
        fuzz_check(json_object_is_type(refusal, json_type_object) && json_object_object_length(refusal) == 2);
        fuzz_check(json_object_object_get_ex(refusal, "error", &error) && json_object_is_type(error, json_type_string));
        fuzz_check(json_object_object_get_ex(refusal, "code", &code) && json_object_is_type(code, json_type_string));
        fuzz_check(api_status_of_code(json_object_get_string(code)) == status);
        fuzz_check(fuzz_sentence_ok(json_object_get_string(error)));
        if (token && strlen(token) >= 16 && !strstr(body, token))
                fuzz_check(!strstr(json_object_get_string(error), token));
}

static void check_call(const struct api_request *rq, const struct api_call *c) {
        char error[REQUEST_ERROR_MAX] = "";
        struct request d;
        const char *text;
        size_t len;

        fuzz_check((unsigned) c->route < _API_ROUTE_MAX);
        fuzz_check(message_serialize(c->request, &text, &len) == 0);
        fuzz_check(request_decode(c->request, &d, error, sizeof(error)) == 0);
        fuzz_check(ops[c->route] && streq(d.op, ops[c->route]));
        fuzz_check(!d.funder_proof || (c->has_funder_proof && !d.token && purpose_of(d.funder_proof) == 'e'));
        fuzz_check(!d.claim || purpose_of(d.claim) == 'c');
        fuzz_check(!c->slice[0] || slice_id_is_valid(c->slice));
        fuzz_check(!d.slice || streq(d.slice, c->slice));
        fuzz_check(!d.request_id || (streq(rq->method, "POST") && rq->idempotency_key));
        fuzz_check(!d.token || c->has_token);
        fuzz_check(streq(api_allowed_methods(rq->path), rq->method));

        for (size_t i = 0; i < ARRAY_SIZE(replies); i++) {
                json_object *reply = json_tokener_parse(replies[i]), *body = NULL;
                char *location = NULL;
                int status;

                status = api_encode_reply(c, reply, &body, &location);
                fuzz_check(status >= 200 && status <= 599 && body);
                fuzz_check(!location || status == 201);
                json_object_put(body);
                free(location);
                json_object_put(reply);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text = fuzz_strndup(data, size), *p, *lines[7] = {};
        struct api_request rq = {};
        struct api_call c = {};
        json_object *refusal = NULL;
        char token[64] = "";
        int status;

        if (!text)
                return 0;
        p = text;
        for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
                char *nl = memchr(p, '\n', size - (size_t) (p - text));

                if (!nl) {
                        free(text);
                        return 0;
                }
                *nl = 0;
                lines[i] = p[0] ? p : NULL;
                p = nl + 1;
        }
        if (!lines[0] || !lines[1]) {
                free(text);
                return 0;
        }
        rq = (struct api_request) {
                .method = lines[0], .path = lines[1], .authorization = lines[2], .idempotency_key = lines[3],
                .content_type = lines[4], .client = lines[5], .funder_proof = lines[6], .body = p,
                .body_size = size - (size_t) (p - text),
        };
        if (rq.authorization && strncasecmp(rq.authorization, "Bearer ", 7) == 0)
                snprintf(token, sizeof(token), "%s", rq.authorization + 7 + strspn(rq.authorization + 7, " "));

        status = api_decode(&rq, &c, &refusal);
        if (status == 0) {
                fuzz_check(!refusal && c.request);
                check_call(&rq, &c);
        } else {
                check_refusal(status, refusal, token[0] ? token : NULL, rq.body);
                if (status == 405)
                        fuzz_check(api_allowed_methods(rq.path) && !streq(api_allowed_methods(rq.path), rq.method));
        }
        json_object_put(refusal);
        api_call_done(&c);
        free(text);
        return 0;
}
