/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The HTTP API as pure code (daemon/gateway-api.c, prepay-api(7)): every
 * route to the control request prepayd's request_decode() takes, every
 * refusal with its status and code, the Idempotency-Key derivation's test
 * vector, prepayd's replies and events to the API's bodies, and money
 * both ways through daemon/common/api.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/api.h"
#include "common/claim.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/message.h"
#include "common/request.h"
#include "common/util.h"
#include "common/voucher.h"
#include "gateway-api.h"

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

#define SLICE "s-0123abcd"
#define TOKEN "pt-AAAAbbbbCCCCddddEEEEffffGGGGhhhhIIIIjjjjKKK"
#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv0nJ9Vv5jYkqQ3m2Y3s3oVvKqKkGg0bQXqWZ8xkSxE buyer@example"

static char voucher[VOUCHER_TEXT_MAX];
/* A funder's key, its claim and its events proof on SLICE (the API
 * checks their shape and purpose only). */
static char funder_key[CRYPTO_PUBKEY_TEXT_MAX], claim[CLAIM_TEXT_MAX], proof[CLAIM_TEXT_MAX];

/* One real voucher's text (signed by a key from a fixed seed): the API
 * checks its shape only. */
static int setup(void **state _unused_) {
        uint8_t seed[CRYPTO_SEED_SIZE] = { 1, 2, 3 };
        struct crypto_key *k = NULL;
        struct voucher v = {
                .id = { 7 }, .amount = 5 * MONEY_UNIT, .currency = "EUR", .not_before = 1700000000,
                .not_after = 1900000000,
        };

        if (crypto_key_from_seed(seed, &k) < 0 || voucher_sign(&v, k) < 0 ||
            voucher_to_text(&v, voucher, sizeof(voucher)) < 0)
                return -1;
        crypto_key_public_to_text(k, funder_key);
        if (claim_sign(k, CLAIM_PURPOSE_CLAIM, "h1", SLICE, 1800000000000000, claim) < 0 ||
            claim_sign(k, CLAIM_PURPOSE_EVENTS, "h1", SLICE, 1800000000000000, proof) < 0)
                return -1;
        crypto_key_free(k);
        return 0;
}

static json_object *parse(const char *s) {
        json_object *o = NULL;
        const char *error = NULL;

        if (message_parse(s, strlen(s), &o, &error) < 0)
                fail_msg("'%s' does not parse: %s", s, strna(error));
        return o;
}

static void assert_json(json_object *o, const char *expected) {
        _cleanup_json_ json_object *e = parse(expected);

        if (!json_object_equal(o, e))
                fail_msg("got %s\nwanted %s", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN), expected);
}

struct rq {
        const char *method, *path, *auth, *key, *type, *body, *client, *proof;
};

/* Decodes; on success the call's control request must also be one that
 * prepayd's own decoder takes (with "client", "unit", "vouchers" and the
 * like, which it ignores until it knows them). */
static int decode(const struct rq *r, struct api_call *c, json_object **refusal) {
        struct api_request rq = {
                .method = r->method, .path = r->path, .authorization = r->auth, .idempotency_key = r->key,
                .content_type = r->type ?: (r->body ? "application/json" : NULL), .client = r->client,
                .body = r->body, .body_size = r->body ? strlen(r->body) : 0, .funder_proof = r->proof,
        };
        char error[REQUEST_ERROR_MAX] = "";
        struct request d;
        int status;

        *c = (struct api_call) {};
        *refusal = NULL;
        status = api_decode(&rq, c, refusal);
        if (status == 0) {
                assert_null(*refusal);
                assert_non_null(c->request);
                if (request_decode(c->request, &d, error, sizeof(error)) < 0)
                        fail_msg("prepayd would refuse %s: %s",
                                 json_object_to_json_string_ext(c->request, JSON_C_TO_STRING_PLAIN), error);
        } else {
                assert_non_null(*refusal);
                assert_int_equal(json_object_object_length(*refusal), 2);
        }
        return status;
}

static void expect_request(const struct rq *r, enum api_route route, const char *request) {
        _cleanup_json_ json_object *refusal = NULL;
        struct api_call c;

        if (decode(r, &c, &refusal) != 0)
                fail_msg("%s %s refused: %s", r->method, r->path,
                         json_object_to_json_string_ext(refusal, JSON_C_TO_STRING_PLAIN));
        assert_int_equal(c.route, route);
        assert_json(c.request, request);
        api_call_done(&c);
        api_call_done(&c); /* twice is harmless */
}

/* The refusal's status, code, and a piece of its sentence. */
static void expect_refusal(const struct rq *r, int status, const char *code, const char *says) {
        _cleanup_json_ json_object *refusal = NULL;
        struct api_call c;
        const char *error;

        assert_int_equal(decode(r, &c, &refusal), status);
        assert_string_equal(json_object_get_string(json_object_object_get(refusal, "code")), code);
        assert_int_equal(api_status_of_code(code), status);
        error = json_object_get_string(json_object_object_get(refusal, "error"));
        if (!strstr(error, says))
                fail_msg("'%s' does not say '%s'", error, says);
        assert_null(strstr(error, "AAAAbbbb")); /* never the token */
        assert_true(error[0] >= 'A' && error[0] <= 'Z');
}

static void test_gets(void **state _unused_) {
        expect_request(&(struct rq) { "GET", "/v1/prices" }, API_PRICES, "{\"op\": \"quote\"}");
        expect_request(&(struct rq) { "GET", "/v1/images", .client = "192.0.2.7" }, API_IMAGES,
                       "{\"op\": \"images\", \"client\": \"192.0.2.7\"}");
        expect_request(&(struct rq) { "GET", "/v1/slices/" SLICE }, API_STATUS,
                       "{\"op\": \"status\", \"slice\": \"" SLICE "\"}");
        expect_request(&(struct rq) { "GET", "/v1/slices/" SLICE, .auth = "Bearer " TOKEN }, API_STATUS,
                       "{\"op\": \"status\", \"slice\": \"" SLICE "\", \"token\": \"" TOKEN "\"}");
        expect_request(&(struct rq) { "GET", "/v1/slices/" SLICE "/events", .auth = "bearer  " TOKEN }, API_EVENTS,
                       "{\"op\": \"events\", \"slice\": \"" SLICE "\", \"token\": \"" TOKEN "\"}");
        /* An IPv6 peer is logged; an address prepayd would refuse is left out. */
        expect_request(&(struct rq) { "GET", "/v1/images", .client = "2001:db8::1" }, API_IMAGES,
                       "{\"op\": \"images\", \"client\": \"2001:db8::1\"}");
        expect_request(&(struct rq) { "GET", "/v1/images", .client = "fe80::1%eth0" }, API_IMAGES,
                       "{\"op\": \"images\"}");
        /* An Idempotency-Key on a GET changes nothing. */
        expect_request(&(struct rq) { "GET", "/v1/prices", .key = "k" }, API_PRICES, "{\"op\": \"quote\"}");
}

static void test_slice_and_token(void **state _unused_) {
        _cleanup_json_ json_object *refusal = NULL;
        struct api_call c;

        assert_int_equal(decode(&(struct rq) { "GET", "/v1/slices/" SLICE, .auth = "Bearer " TOKEN }, &c, &refusal),
                         0);
        assert_string_equal(c.slice, SLICE);
        assert_true(c.has_token);
        api_call_done(&c);
        assert_int_equal(decode(&(struct rq) { "GET", "/v1/prices" }, &c, &refusal), 0);
        assert_string_equal(c.slice, "");
        assert_false(c.has_token);
        api_call_done(&c);
}

static void test_quote(void **state _unused_) {
        expect_request(&(struct rq) { "POST", "/v1/quote",
                                      .body = "{\"cpus\": \"1.5\", \"memory\": \"4G\", \"hours\": \"2\", \"disk\": "
                                              "\"10G\"}" },
                       API_QUOTE,
                       "{\"op\": \"quote\", \"cpus_milli\": 1500, \"memory_max\": 4294967296, \"duration_usec\": "
                       "7200000000, \"disk_size\": 10737418240}");
        expect_request(&(struct rq) { "POST", "/v1/quote", .body = "{\"duration\": \"90min\"}" }, API_QUOTE,
                       "{\"op\": \"quote\", \"duration_usec\": 5400000000}");
        /* No body is {}. */
        expect_request(&(struct rq) { "POST", "/v1/quote" }, API_QUOTE, "{\"op\": \"quote\"}");
        expect_request(&(struct rq) { "POST", "/v1/quote", .body = "{}", .type = "Application/JSON; charset=\"UTF-8\"" },
                       API_QUOTE, "{\"op\": \"quote\"}");
}

static void test_create(void **state _unused_) {
        char body[4096], want[4096];

        snprintf(body, sizeof(body),
                 "{\"voucher\": \"%s\", \"cpus\": \"2\", \"memory\": \"2G\", \"hours\": \"1\", \"vm\": "
                 "{\"image\": \"debian-12\", \"ssh_key\": \"" KEY "\", \"disk\": \"8G\"}, \"on_exhausted\": "
                 "\"freeze\"}",
                 voucher);
        snprintf(want, sizeof(want),
                 "{\"op\": \"create\", \"voucher\": \"%s\", \"cpus_milli\": 2000, \"limits\": {\"memory_max\": "
                 "2147483648}, \"duration_usec\": 3600000000, \"vm_image\": \"debian-12\", \"ssh_key\": \"" KEY
                 "\", \"disk_size\": 8589934592, \"exhausted_action\": \"freeze\", \"client\": \"10.0.0.1\"}",
                 voucher);
        expect_request(&(struct rq) { "POST", "/v1/slices", .body = body, .client = "10.0.0.1" }, API_CREATE, want);

        snprintf(body, sizeof(body),
                 "{\"vouchers\": [\"%s\", \"%s\"], \"duration\": \"2h\", \"size_to_funds\": true, \"unit\": "
                 "\"worker@1.service\"}",
                 voucher, voucher);
        snprintf(want, sizeof(want),
                 "{\"op\": \"create\", \"vouchers\": [\"%s\", \"%s\"], \"limits\": {}, \"duration_usec\": "
                 "7200000000, \"size_to_funds\": true, \"unit\": \"worker@1.service\"}",
                 voucher, voucher);
        expect_request(&(struct rq) { "POST", "/v1/slices", .body = body }, API_CREATE, want);
}

static void test_topup_release_kill(void **state _unused_) {
        char body[1024], want[1024];

        snprintf(body, sizeof(body), "{\"voucher\": \"%s\"}", voucher);
        snprintf(want, sizeof(want), "{\"op\": \"topup\", \"slice\": \"" SLICE "\", \"voucher\": \"%s\"}", voucher);
        /* Anyone may top up: a token that came is not forwarded. */
        expect_request(&(struct rq) { "POST", "/v1/slices/" SLICE "/topup", .auth = "Bearer " TOKEN, .body = body },
                       API_TOPUP, want);

        expect_request(&(struct rq) { "POST", "/v1/slices/" SLICE "/release", .auth = "Bearer " TOKEN }, API_RELEASE,
                       "{\"op\": \"release\", \"slice\": \"" SLICE "\", \"token\": \"" TOKEN "\"}");
        expect_request(&(struct rq) { "POST", "/v1/slices/" SLICE "/release", .auth = "Bearer " TOKEN, .body = "{}" },
                       API_RELEASE, "{\"op\": \"release\", \"slice\": \"" SLICE "\", \"token\": \"" TOKEN "\"}");
        expect_request(&(struct rq) { "POST", "/v1/slices/" SLICE "/kill", .auth = "Bearer " TOKEN }, API_KILL,
                       "{\"op\": \"kill\", \"slice\": \"" SLICE "\", \"token\": \"" TOKEN "\"}");
}

/* The vector of prepay-api(7), computed apart (Python's hashlib). */
static void test_idempotency(void **state _unused_) {
        char id[API_REQUEST_ID_SIZE];
        const char *body = "{\"voucher\":\"pv1-x\"}";

        assert_int_equal(api_idempotency_request_id("order-1", "POST", "/v1/slices", "", body, strlen(body), id), 0);
        assert_string_equal(id, "ik-FO0DGB7xmPaVCUnseH7GKMZrGZ4mFiagcgv-L99Gw_M");
        assert_true(request_id_is_valid(id));
        assert_int_equal(api_idempotency_request_id("k", "POST", "/v1/slices/" SLICE "/release", "pt-secret", NULL, 0,
                                                    id),
                         0);
        assert_string_equal(id, "ik-AlUGMWK5za_T2nKlhLwYZJBXl69Mflbq1EQzuaCkB2M");

        /* Through api_decode(): the same, with the route's token. */
        expect_request(&(struct rq) { "POST", "/v1/slices/" SLICE "/release", .auth = "Bearer pt-secret", .key = "k" },
                       API_RELEASE,
                       "{\"op\": \"release\", \"slice\": \"" SLICE "\", \"token\": \"pt-secret\", \"request_id\": "
                       "\"ik-AlUGMWK5za_T2nKlhLwYZJBXl69Mflbq1EQzuaCkB2M\"}");
        /* Another token, body or key maps elsewhere. */
        assert_int_equal(api_idempotency_request_id("k", "POST", "/v1/slices/" SLICE "/release", "pt-secreT", NULL, 0,
                                                    id),
                         0);
        assert_string_not_equal(id, "ik-AlUGMWK5za_T2nKlhLwYZJBXl69Mflbq1EQzuaCkB2M");
        assert_int_equal(api_idempotency_request_id("k", "POST", "/v1/slices/" SLICE "/release", "pt-secret", "{}", 2,
                                                    id),
                         0);
        assert_string_not_equal(id, "ik-AlUGMWK5za_T2nKlhLwYZJBXl69Mflbq1EQzuaCkB2M");
}

static void test_paths(void **state _unused_) {
        static const char *const no_route[] = {
                "/v1/prices/", "/v1//prices", "/v1/./prices", "/v1/slices/../prices", "/v1/pr%69ces", "/v1/prices?x=1",
                "/v1", "/v1/", "/v2/prices", "v1/prices", "/V1/prices", "/v1/Prices", "/v1/slices/" SLICE "/",
                "/v1/slices/" SLICE "/topup/x", "/v1/slices/" SLICE "/nothing", "", "/v1/pri ces", "/v1/prices\n",
                "/v1/slices/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        };

        for (size_t i = 0; i < ARRAY_SIZE(no_route); i++) {
                expect_refusal(&(struct rq) { "GET", no_route[i] }, 404, "not_found", "No such route");
                assert_null(api_allowed_methods(no_route[i]));
        }
        /* A slice id that is not one: no such slice. */
        expect_refusal(&(struct rq) { "GET", "/v1/slices/s-0123ABCD" }, 404, "not_found", "No such slice");
        expect_refusal(&(struct rq) { "GET", "/v1/slices/s-0123" }, 404, "not_found", "No such slice");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/x/kill", .auth = "Bearer " TOKEN }, 404, "not_found",
                       "No such slice");
}

static void test_methods(void **state _unused_) {
        static const struct {
                const char *path, *allowed, *wrong;
        } t[] = {
                { "/v1/prices", "GET", "POST" },
                { "/v1/images", "GET", "DELETE" },
                { "/v1/quote", "POST", "GET" },
                { "/v1/slices", "POST", "GET" },
                { "/v1/slices/" SLICE, "GET", "DELETE" },
                { "/v1/slices/" SLICE "/topup", "POST", "PUT" },
                { "/v1/slices/" SLICE "/events", "GET", "POST" },
                { "/v1/slices/" SLICE "/release", "POST", "GET" },
                { "/v1/slices/" SLICE "/kill", "POST", "HEAD" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                assert_string_equal(api_allowed_methods(t[i].path), t[i].allowed);
                expect_refusal(&(struct rq) { t[i].wrong, t[i].path }, 405, "method_not_allowed", t[i].allowed);
        }
}

static void test_authorization(void **state _unused_) {
        static const char *const bad[] = {
                "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer pt-a b", "Bearer pt-a\n",
                "Bearer " TOKEN "AAAAAAAAAAAAAAAAAAAA", "Bearer pt-\xc3\xa9", "Bearer pt+a",
                "Bearer " TOKEN " ", "Token " TOKEN,
        };

        expect_refusal(&(struct rq) { "GET", "/v1/slices/" SLICE "/events" }, 401, "unauthorized", "owner token");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/release" }, 401, "unauthorized", "Bearer");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/kill" }, 401, "unauthorized", "Bearer");
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                expect_refusal(&(struct rq) { "GET", "/v1/slices/" SLICE "/events", .auth = bad[i] }, 400, "invalid",
                               "Authorization");
                expect_refusal(&(struct rq) { "GET", "/v1/slices/" SLICE, .auth = bad[i] }, 400, "invalid",
                               "Authorization");
        }
        /* A route that reads no token ignores the header. */
        expect_request(&(struct rq) { "GET", "/v1/prices", .auth = "Basic x" }, API_PRICES, "{\"op\": \"quote\"}");
}

static void test_framing(void **state _unused_) {
        char *big;

        expect_refusal(&(struct rq) { "POST", "/v1/quote", .body = "{}", .type = "text/plain" }, 415,
                       "unsupported_media_type", "application/json");
        expect_refusal(&(struct rq) { "POST", "/v1/quote", .body = "{}", .type = "application/jsonx" }, 415,
                       "unsupported_media_type", "application/json");
        expect_refusal(&(struct rq) { "POST", "/v1/quote", .body = "{}", .type = "application/json; charset=latin1" },
                       415, "unsupported_media_type", "application/json");
        expect_refusal(&(struct rq) { "POST", "/v1/quote", .body = "{}", .type = "" }, 415, "unsupported_media_type",
                       "Content-Type");
        expect_refusal(&(struct rq) { "GET", "/v1/prices", .body = "{}" }, 400, "invalid", "takes no body");
        expect_refusal(&(struct rq) { "POST", "/v1/quote", .key = "" }, 400, "invalid", "Idempotency-Key");
        expect_refusal(&(struct rq) { "POST", "/v1/quote", .key = "a\tb" }, 400, "invalid", "Idempotency-Key");

        big = malloc(API_BODY_MAX + 2);
        assert_non_null(big);
        memset(big, ' ', API_BODY_MAX + 1);
        big[0] = '{';
        big[API_BODY_MAX] = '}';
        big[API_BODY_MAX + 1] = 0;
        expect_refusal(&(struct rq) { "POST", "/v1/quote", .body = big }, 413, "too_large", "larger than");
        big[API_BODY_MAX - 1] = '}';
        big[API_BODY_MAX] = 0;
        expect_request(&(struct rq) { "POST", "/v1/quote", .body = big }, API_QUOTE, "{\"op\": \"quote\"}");
        free(big);
}

static void test_bodies(void **state _unused_) {
        static const struct {
                const char *path, *body, *says;
        } t[] = {
                { "/v1/quote", "[]", "JSON object" },
                { "/v1/quote", "{", "JSON object" },
                { "/v1/quote", "{} {}", "JSON object" },
                { "/v1/quote", "{\"cpus\": \"\xff\"}", "UTF-8" },
                { "/v1/quote", "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}", "deeply" },
                { "/v1/quote", "{\"cpu\": \"1\"}", "Unknown member 'cpu': the members known here are cpus, memory" },
                { "/v1/quote", "{\"cpus\": 2}", "Member 'cpus' must be a number of CPUs as a string" },
                { "/v1/quote", "{\"cpus\": \"0\"}", "Member 'cpus' must be" },
                { "/v1/quote", "{\"cpus\": \"two\"}", "got \"two\"" },
                { "/v1/quote", "{\"memory\": \"4X\"}", "Member 'memory' must be a size" },
                { "/v1/quote", "{\"memory\": \"0\"}", "Member 'memory' must be a size" },
                { "/v1/quote", "{\"memory\": \"99999999999T\"}", "Member 'memory' must be a size" },
                { "/v1/quote", "{\"hours\": \"1\", \"duration\": \"1h\"}", "do not go together" },
                { "/v1/quote", "{\"hours\": \"-1\"}", "Member 'hours' must be a number of hours" },
                { "/v1/quote", "{\"duration\": \"1 fortnight\"}", "Member 'duration' must be a duration" },
                { "/v1/quote", "{\"disk\": null}", "got null" },
                { "/v1/quote", "{\"cpus\": \"1\\u00002\"}", "Member 'cpus' must be" },
                { "/v1/quote", "{\"cpus\": \"111111111111111111111111111111111\"}", "a string of 33 bytes" },
                { "/v1/slices", "{}", "Member 'voucher' is missing" },
                { "/v1/slices", "{\"voucher\": \"pv1-AAAA\", \"vouchers\": []}", "do not go together" },
                { "/v1/slices", "{\"voucher\": \"cash\"}", "Not a prepay voucher (expected text starting pv1-) (member 'voucher')" },
                { "/v1/slices", "{\"voucher\": \"pv1-AAAA\"}", "(member 'voucher')" },
                { "/v1/slices", "{\"voucher\": 5}", "Member 'voucher' must be a voucher's text" },
                { "/v1/slices", "{\"vouchers\": []}", "an array of 1 to 16" },
                { "/v1/slices", "{\"vouchers\": \"pv1-\"}", "an array of 1 to 16" },
                { "/v1/slices", "{\"vouchers\": [\"x\"]}", "(member 'vouchers[0]')" },
                { "/v1/slices", "{\"on_exhausted\": \"throttle\", \"\\u00e9\": 1}", "Unknown member of 2 bytes" },
                { "/v1/slices/" SLICE "/topup", "{}", "Member 'voucher' is missing" },
                { "/v1/slices/" SLICE "/topup", "{\"voucher\": \"x\", \"cpus\": \"1\"}", "Unknown member 'cpus': the members known here are voucher, vouchers" },
                { "/v1/slices/" SLICE "/release", "{\"keep\": true}", "Unknown member 'keep': this request takes no members" },
                { "/v1/slices/" SLICE "/kill", "{\"signal\": 9}", "Unknown member 'signal'" },
                { "/v1/slices/" SLICE "/kill", "\"\"", "JSON object" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                expect_refusal(&(struct rq) { "POST", t[i].path, .auth = "Bearer " TOKEN, .body = t[i].body }, 400,
                               "invalid", t[i].says);
}

/* The members of a create that need a voucher to be reached. */
static void test_create_members(void **state _unused_) {
        static const struct {
                const char *members, *says;
        } t[] = {
                { "", "needs work to run" },
                { ", \"vm\": {\"image\": \"x\", \"ssh_key\": \"k\"}, \"unit\": \"a.service\"", "do not go together" },
                { ", \"vm\": []", "Member 'vm' must be an object" },
                { ", \"vm\": {\"ssh_key\": \"k\"}", "Member 'vm.image' is missing" },
                { ", \"vm\": {\"image\": \"x\"}", "Member 'vm.ssh_key' is missing" },
                { ", \"vm\": {\"image\": \".x\", \"ssh_key\": \"k\"}", "Member 'vm.image' must be an image name" },
                { ", \"vm\": {\"image\": \"x/y\", \"ssh_key\": \"k\"}", "Member 'vm.image' must be an image name" },
                { ", \"vm\": {\"image\": \"x\", \"ssh_key\": \"\"}", "Member 'vm.ssh_key' must be an SSH public key" },
                { ", \"vm\": {\"image\": \"x\", \"ssh_key\": \"k\", \"disk\": \"lots\"}", "Member 'vm.disk' must be a size" },
                { ", \"vm\": {\"image\": \"x\", \"ssh_key\": \"k\", \"user\": \"root\"}",
                  "Unknown member 'vm.user': the members known here are vm.image, vm.ssh_key, vm.disk" },
                { ", \"unit\": \"worker\"", "Member 'unit' must be a unit name" },
                { ", \"unit\": \"-x.service\"", "Member 'unit' must be a unit name" },
                { ", \"unit\": \"a/b.service\"", "Member 'unit' must be a unit name" },
                { ", \"unit\": \"x.\"", "Member 'unit' must be a unit name" },
                { ", \"unit\": \"\"", "Member 'unit' must be a unit name" },
                { ", \"unit\": \"x.service\", \"on_exhausted\": \"explode\"", "Member 'on_exhausted' must be \"throttle\"" },
                { ", \"unit\": \"x.service\", \"size_to_funds\": \"yes\"", "Member 'size_to_funds' must be true or false" },
                { ", \"unit\": \"x.service\", \"on_exhaust\": \"kill\"", "Unknown member 'on_exhaust'" },
        };
        char body[4096];

        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                snprintf(body, sizeof(body), "{\"voucher\": \"%s\"%s}", voucher, t[i].members);
                expect_refusal(&(struct rq) { "POST", "/v1/slices", .body = body }, 400, "invalid", t[i].says);
        }
        /* An SSH key's size: 8192 bytes is the most. */
        {
                char *key = malloc(8200), *b = malloc(9000);

                memset(key, 'A', 8193);
                key[8193] = 0;
                snprintf(b, 9000, "{\"voucher\": \"%s\", \"vm\": {\"image\": \"x\", \"ssh_key\": \"%s\"}}", voucher, key);
                expect_refusal(&(struct rq) { "POST", "/v1/slices", .body = b }, 400, "invalid",
                               "a string of 8193 bytes");
                free(key);
                free(b);
        }
}

static void test_status_of_code(void **state _unused_) {
        static const struct {
                const char *code;
                int status;
        } t[] = {
                { "invalid", 400 },        { "unauthorized", 401 },       { "forbidden", 403 },
                { "not_found", 404 },      { "spent", 409 },              { "conflict", 409 },
                { "payment_required", 402 }, { "too_many", 429 },         { "unavailable", 503 },
                { "internal", 500 },       { "method_not_allowed", 405 }, { "length_required", 411 },
                { "too_large", 413 },      { "unsupported_media_type", 415 }, { "headers_too_large", 431 },
                { "bad_gateway", 502 },    { "teapot", 500 },             { NULL, 500 },
        };

        for (size_t i = 0; i < ARRAY_SIZE(t); i++)
                assert_int_equal(api_status_of_code(t[i].code), t[i].status);
}

static void test_refusal(void **state _unused_) {
        _cleanup_json_ json_object *o = api_refusal("too_many", "Slow down: %d requests", 3);

        assert_json(o, "{\"error\": \"Slow down: 3 requests\", \"code\": \"too_many\"}");
        assert_string_equal(api_route_to_string(API_CREATE), "create");
        assert_string_equal(api_route_to_string(API_KILL), "kill");
        assert_null(api_route_to_string(_API_ROUTE_MAX));
}

/* prepayd's reply (text) to a call of route -> status, body, Location. */
static void expect_reply(enum api_route route, const char *reply, int status, const char *body,
                         const char *location) {
        _cleanup_json_ json_object *r = reply ? parse(reply) : NULL, *b = NULL;
        _cleanup_(freep) char *loc = NULL;
        struct api_call c = { .route = route };
        const char *before = r ? strdupa(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN)) : NULL;

        assert_int_equal(api_encode_reply(&c, r, &b, &loc), status);
        assert_non_null(b);
        assert_json(b, body);
        if (location)
                assert_string_equal(loc, location);
        else
                assert_null(loc);
        if (r) /* the reply is the server's still, unchanged */
                assert_string_equal(json_object_to_json_string_ext(r, JSON_C_TO_STRING_PLAIN), before);
}

#define RECORD                                                                                                   \
        "{\"id\": \"" SLICE "\", \"state\": \"running\", \"created_usec\": 1, \"cgroup_id\": 99, \"cgroup\": "   \
        "\"/prepay.slice/x\", \"limits\": {\"memory_max\": 1024}, \"account\": {\"currency\": \"EUR\", "          \
        "\"balance\": 12500000, \"credited\": 15000000, \"refunded\": 0, \"overshoot\": 0, \"burn_rate\": 123, " \
        "\"time_left_usec\": 5, \"charged\": {\"cpu\": 2500000, \"base\": 0}}"
#define VIEW                                                                                                     \
        "{\"id\": \"" SLICE "\", \"state\": \"running\", \"created_usec\": 1, \"limits\": {\"memory_max\": 1024}, " \
        "\"account\": {\"currency\": \"EUR\", \"balance\": \"12.50\", \"credited\": \"15.00\", \"refunded\": "    \
        "\"0.00\", \"overshoot\": \"0.00\", \"burn_rate\": \"0.000123\", \"time_left_usec\": 5, \"charged\": "    \
        "{\"cpu\": \"2.50\", \"base\": \"0.00\"}}"
#define VM                                                                                                       \
        ", \"vm\": {\"image\": \"debian-12\", \"vcpus\": 2, \"ssh_host\": \"203.0.113.5\", \"ssh_port\": 2201, "  \
        "\"ssh_user\": \"debian\", \"host_key\": \"ssh-ed25519 AAAAhost\", \"state\": \"booting\", \"pid\": 4242}"
#define VM_VIEW                                                                                                  \
        ", \"vm\": {\"image\": \"debian-12\", \"vcpus\": 2, \"ssh_host\": \"203.0.113.5\", \"ssh_port\": 2201, "  \
        "\"ssh_user\": \"debian\", \"host_key\": \"ssh-ed25519 AAAAhost\", \"state\": \"booting\"}"

static void test_replies(void **state _unused_) {
        expect_reply(API_PRICES,
                     "{\"ok\": true, \"items\": {\"cpu\": 0}, \"prices\": {\"cpu\": 10, \"memory\": 500000}, \"total\": "
                     "0, \"currency\": \"EUR\", \"cpus_milli\": 0, \"memory_max\": 0, \"duration_usec\": 3600000000, "
                     "\"min_runtime_usec\": 3600000000, \"host_id\": \"h1\", \"host_key\": \"pk1-x\"}",
                     200,
                     "{\"currency\": \"EUR\", \"prices\": {\"cpu\": \"0.00001\", \"memory\": \"0.50\"}, \"units\": "
                     "{\"cpu\": \"CPU-second\", \"memory\": \"GiB-hour\", \"net_out\": \"GiB\", \"net_in\": \"GiB\", "
                     "\"io\": \"GiB\", \"base\": \"slice-hour\"}, \"min_runtime\": \"1h\", \"host_id\": \"h1\", "
                     "\"host_key\": \"pk1-x\"}",
                     NULL);
        expect_reply(API_QUOTE,
                     "{\"ok\": true, \"items\": {\"cpu\": 72000, \"memory\": 1000000}, \"prices\": {\"cpu\": 10}, "
                     "\"total\": 1072000, \"currency\": \"EUR\", \"cpus_milli\": 500, \"memory_max\": 1024, "
                     "\"duration_usec\": 7200000000, \"min_runtime_usec\": 3600000000}",
                     200,
                     "{\"currency\": \"EUR\", \"total\": \"1.072\", \"items\": {\"cpu\": \"0.072\", \"memory\": "
                     "\"1.00\"}, \"duration\": \"2h\", \"min_runtime\": \"1h\", \"prices\": {\"cpu\": \"0.00001\"}, "
                     "\"cpus_milli\": 500, \"memory_max\": 1024, \"duration_usec\": 7200000000}",
                     NULL);
        expect_reply(API_IMAGES, "{\"ok\": true, \"images\": [{\"name\": \"debian-12\", \"min_disk\": 1073741824}]}",
                     200, "{\"images\": [{\"name\": \"debian-12\", \"min_disk\": 1073741824}]}", NULL);
        expect_reply(API_CREATE,
                     "{\"ok\": true, \"slice\": " RECORD VM "}, \"token\": \"" TOKEN "\", \"receipt\": \"pr1-r\"}",
                     201,
                     "{\"slice\": " VIEW VM_VIEW "}, \"token\": \"" TOKEN "\", \"receipt\": \"pr1-r\", \"ssh\": "
                     "{\"host\": \"203.0.113.5\", \"port\": 2201, \"user\": \"debian\", \"host_key\": "
                     "\"ssh-ed25519 AAAAhost\", \"command\": \"ssh -p 2201 debian@203.0.113.5\"}}",
                     "/v1/slices/" SLICE);
        expect_reply(API_CREATE,
                     "{\"ok\": true, \"slice\": " RECORD "}, \"token\": \"" TOKEN "\", \"unit\": \"run-u1.service\"}",
                     201, "{\"slice\": " VIEW "}, \"token\": \"" TOKEN "\", \"unit\": \"run-u1.service\"}",
                     "/v1/slices/" SLICE);
        expect_reply(API_TOPUP,
                     "{\"ok\": true, \"slice\": " RECORD "}, \"credited\": 5000000, \"receipt\": \"pr1-t\"}", 200,
                     "{\"slice\": " VIEW "}, \"credited\": \"5.00\", \"currency\": \"EUR\", \"receipt\": \"pr1-t\"}",
                     NULL);
        expect_reply(API_STATUS, "{\"ok\": true, \"slice\": " RECORD "}}", 200, "{\"slice\": " VIEW "}}", NULL);
        expect_reply(API_STATUS,
                     "{\"ok\": true, \"slice\": {\"id\": \"" SLICE "\", \"state\": \"running\", \"public\": true, "
                     "\"account\": {\"balance\": -5}}}",
                     200,
                     "{\"slice\": {\"id\": \"" SLICE "\", \"state\": \"running\", \"public\": true, \"account\": "
                     "{\"balance\": \"-0.000005\"}}}",
                     NULL);
        expect_reply(API_KILL, "{\"ok\": true, \"slice\": " RECORD "}}", 200, "{\"slice\": " VIEW "}}", NULL);
        expect_reply(API_EVENTS, "{\"ok\": true}", 200, "{}", NULL);
        expect_reply(API_RELEASE,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"refund\": 7250000, \"currency\": \"EUR\", "
                     "\"change\": \"pv1-a\\npv1-b\", \"receipt\": \"pr1-x\"}",
                     200,
                     "{\"slice\": \"" SLICE "\", \"refund\": \"7.25\", \"currency\": \"EUR\", \"change\": "
                     "[\"pv1-a\", \"pv1-b\"], \"receipt\": \"pr1-x\"}",
                     NULL);
        expect_reply(API_RELEASE,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"refund\": 0, \"currency\": \"EUR\", "
                     "\"released_before\": true}",
                     200,
                     "{\"slice\": \"" SLICE "\", \"refund\": \"0.00\", \"currency\": \"EUR\", \"change\": [], "
                     "\"released_before\": true}",
                     NULL);
}

static void test_reply_refusals(void **state _unused_) {
        static const struct {
                const char *code;
                int status;
        } t[] = {
                { "invalid", 400 },  { "unauthorized", 401 }, { "forbidden", 403 }, { "not_found", 404 },
                { "spent", 409 },    { "conflict", 409 },     { "too_many", 429 },  { "unavailable", 503 },
                { "internal", 500 },
        };
        char reply[256], body[256];

        for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
                snprintf(reply, sizeof(reply), "{\"ok\": false, \"error\": \"Nope\", \"code\": \"%s\"}", t[i].code);
                snprintf(body, sizeof(body), "{\"error\": \"Nope\", \"code\": \"%s\"}", t[i].code);
                expect_reply(API_STATUS, reply, t[i].status, body, NULL);
        }
        expect_reply(API_CREATE,
                     "{\"ok\": false, \"error\": \"Not enough\", \"code\": \"payment_required\", \"missing\": "
                     "2500000, \"total\": 7500000, \"currency\": \"EUR\"}",
                     402,
                     "{\"error\": \"Not enough\", \"code\": \"payment_required\", \"missing\": \"2.50\", \"total\": "
                     "\"7.50\", \"currency\": \"EUR\"}",
                     NULL);
        /* An unknown code: 500, as internal. */
        expect_reply(API_STATUS, "{\"ok\": false, \"error\": \"Hm\", \"code\": \"weird\"}", 500,
                     "{\"error\": \"Hm\", \"code\": \"internal\"}", NULL);
        /* No code: an older prepayd. */
        expect_reply(API_STATUS, "{\"ok\": false, \"error\": \"Old\"}", 502,
                     "{\"error\": \"The host's prepayd refused the request without a code (is it older than the "
                     "gateway?): Old\", \"code\": \"bad_gateway\"}",
                     NULL);
        expect_reply(API_STATUS, NULL, 503,
                     "{\"error\": \"The host's prepayd did not answer: try again later\", \"code\": \"unavailable\"}",
                     NULL);
        expect_reply(API_STATUS, "{\"ok\": 1}", 502,
                     "{\"error\": \"The host's prepayd sent a reply that is not one\", \"code\": \"bad_gateway\"}",
                     NULL);
        /* A success without what the route answers with. */
        expect_reply(API_STATUS, "{\"ok\": true}", 502,
                     "{\"error\": \"The host's prepayd sent a reply this gateway cannot read\", \"code\": "
                     "\"bad_gateway\"}",
                     NULL);
        expect_reply(API_CREATE, "{\"ok\": true, \"slice\": {\"id\": \"../x\"}}", 502,
                     "{\"error\": \"The host's prepayd sent a reply this gateway cannot read\", \"code\": "
                     "\"bad_gateway\"}",
                     NULL);
        expect_reply(API_RELEASE, "{\"ok\": true, \"slice\": 5}", 502,
                     "{\"error\": \"The host's prepayd sent a reply this gateway cannot read\", \"code\": "
                     "\"bad_gateway\"}",
                     NULL);
}

static void test_events(void **state _unused_) {
        _cleanup_json_ json_object *ev =
                parse("{\"event\": {\"time_usec\": 1, \"slice\": \"" SLICE "\", \"kind\": \"topped-up\", \"funded\": "
                      "true, \"balance\": 2000000, \"burn_rate\": 10, \"time_left_usec\": 3, \"owner_uid\": 998, "
                      "\"currency\": \"EUR\", \"reason\": \"line\\nbreak\", \"seq\": 17}}");
        _cleanup_json_ json_object *bad_kind = parse("{\"event\": {\"kind\": \"low\\ndata: x\"}}");
        _cleanup_json_ json_object *no_event = parse("{\"ok\": true}");
        _cleanup_json_ json_object *upper = parse("{\"event\": {\"kind\": \"Low\"}}");
        _cleanup_(freep) char *text = NULL;

        assert_int_equal(api_encode_event(ev, &text), 0);
        assert_string_equal(text, "event: topped-up\nid: 17\ndata: {\"time_usec\":1,\"slice\":\"" SLICE
                                  "\",\"kind\":\"topped-up\",\"funded\":true,\"balance\":\"2.00\",\"burn_rate\":"
                                  "\"0.00001\",\"time_left_usec\":3,\"currency\":\"EUR\",\"reason\":\"line\\nbreak\","
                                  "\"seq\":17}\n\n");
        assert_int_equal(api_encode_event(bad_kind, &text), -EINVAL);
        assert_int_equal(api_encode_event(no_event, &text), -EINVAL);
        assert_int_equal(api_encode_event(upper, &text), -EINVAL);
        assert_int_equal(api_encode_event(NULL, &text), -EINVAL);
}

/* Funders at the storefront: a key with the money, a claim in a body, a
 * proof in a header instead of the token; never one for the other. */
static void test_funders(void **state _unused_) {
        char body[1024], want[1024];

        snprintf(body, sizeof(body), "{\"voucher\": \"%s\", \"funder_key\": \"%s\"}", voucher, funder_key);
        snprintf(want, sizeof(want), "{\"op\": \"topup\", \"slice\": \"" SLICE "\", \"voucher\": \"%s\", "
                 "\"funder_key\": \"%s\"}", voucher, funder_key);
        expect_request(&(struct rq) { "POST", "/v1/slices/" SLICE "/topup", .body = body }, API_TOPUP, want);
        snprintf(body, sizeof(body), "{\"voucher\": \"%s\", \"funder_key\": \"ssh-ed25519 AAAA\"}", voucher);
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/topup", .body = body }, 400, "invalid",
                       "Member 'funder_key' must be an Ed25519 public key");

        snprintf(body, sizeof(body), "{\"voucher\": \"%s\", \"unit\": \"w.service\", \"funder_key\": \"%s\", "
                 "\"donation_model\": \"pro-rata\"}", voucher, funder_key);
        snprintf(want, sizeof(want), "{\"op\": \"create\", \"voucher\": \"%s\", \"limits\": {}, \"unit\": "
                 "\"w.service\", \"funder_key\": \"%s\", \"donation_model\": \"pro-rata\"}", voucher, funder_key);
        expect_request(&(struct rq) { "POST", "/v1/slices", .body = body }, API_CREATE, want);
        snprintf(body, sizeof(body), "{\"voucher\": \"%s\", \"unit\": \"w.service\", \"donation_model\": "
                 "\"Pro Rata\"}", voucher);
        expect_refusal(&(struct rq) { "POST", "/v1/slices", .body = body }, 400, "invalid",
                       "Member 'donation_model' must be the name of a donation model");

        /* A claim: no token, the statement is the proof. */
        snprintf(body, sizeof(body), "{\"claim\": \"%s\"}", claim);
        snprintf(want, sizeof(want), "{\"op\": \"claim\", \"slice\": \"" SLICE "\", \"claim\": \"%s\"}", claim);
        expect_request(&(struct rq) { "POST", "/v1/slices/" SLICE "/claim", .body = body }, API_CLAIM, want);
        snprintf(body, sizeof(body), "{\"claim\": \"%s\"}", proof);
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/claim", .body = body }, 400, "invalid",
                       "Member 'claim' holds a funder's events proof, not a claim");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/claim", .body = "{\"claim\": \"pc1-AAAA\"}" },
                       400, "invalid", "(member 'claim')");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/claim", .body = "{}" }, 400, "invalid",
                       "Member 'claim' is missing");
        snprintf(body, sizeof(body), "{\"claim\": \"%s\", \"key\": 1}", claim);
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/claim", .body = body }, 400, "invalid",
                       "Unknown member 'key': the members known here are claim");

        /* The funders and the events: the token, or a proof (never a claim). */
        expect_request(&(struct rq) { "GET", "/v1/slices/" SLICE "/funders", .auth = "Bearer " TOKEN }, API_FUNDERS,
                       "{\"op\": \"funders\", \"slice\": \"" SLICE "\", \"token\": \"" TOKEN "\"}");
        snprintf(want, sizeof(want), "{\"op\": \"funders\", \"slice\": \"" SLICE "\", \"funder_proof\": \"%s\"}",
                 proof);
        expect_request(&(struct rq) { "GET", "/v1/slices/" SLICE "/funders", .proof = proof }, API_FUNDERS, want);
        snprintf(want, sizeof(want), "{\"op\": \"events\", \"slice\": \"" SLICE "\", \"funder_proof\": \"%s\"}",
                 proof);
        expect_request(&(struct rq) { "GET", "/v1/slices/" SLICE "/events", .proof = proof }, API_EVENTS, want);
        expect_refusal(&(struct rq) { "GET", "/v1/slices/" SLICE "/funders" }, 401, "unauthorized",
                       "or a funder's proof");
        expect_refusal(&(struct rq) { "GET", "/v1/slices/" SLICE "/events", .proof = claim }, 400, "invalid",
                       "holds a claim, not an events proof");
        expect_refusal(&(struct rq) { "GET", "/v1/slices/" SLICE "/events", .proof = "pc1-!" }, 400, "invalid",
                       "is not a funder's proof: Claim text is damaged");
        expect_refusal(&(struct rq) { "GET", "/v1/slices/" SLICE "/events", .auth = "Bearer " TOKEN, .proof = proof },
                       400, "invalid", "not both");
        /* A route that reads no proof ignores the header. */
        expect_request(&(struct rq) { "GET", "/v1/slices/" SLICE, .proof = claim }, API_STATUS,
                       "{\"op\": \"status\", \"slice\": \"" SLICE "\"}");
}

/* pay and sponsor_bid: prepayd's ops are the investors' and the
 * sponsorship's parts, so only the gateway's half is checked here. */
static void expect_call_token(const char *path, const char *body, const char *token, enum api_route route,
                              const char *request) {
        char auth[96];
        struct api_request rq = { .method = "POST", .path = path, .content_type = "application/json",
                                  .body = body, .body_size = strlen(body) };
        _cleanup_json_ json_object *refusal = NULL;
        struct api_call c = {};

        if (token) {
                snprintf(auth, sizeof(auth), "Bearer %s", token);
                rq.authorization = auth;
        }
        if (api_decode(&rq, &c, &refusal) != 0)
                fail_msg("%s refused: %s", path, json_object_to_json_string_ext(refusal, JSON_C_TO_STRING_PLAIN));
        assert_int_equal(c.route, route);
        assert_json(c.request, request);
        api_call_done(&c);
}

static void expect_call(const char *path, const char *body, enum api_route route, const char *request) {
        expect_call_token(path, body, NULL, route, request);
}

static void test_pay_and_bids(void **state _unused_) {
        char body[1024], want[1024];

        snprintf(body, sizeof(body), "{\"vouchers\": [\"%s\"]}", voucher);
        snprintf(want, sizeof(want), "{\"op\": \"pay\", \"slice\": \"" SLICE "\", \"vouchers\": [\"%s\"]}",
                 voucher);
        expect_call("/v1/slices/" SLICE "/pay", body, API_PAY, want);
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/pay", .body = "{}" }, 400, "invalid",
                       "Member 'voucher' is missing");

        snprintf(body, sizeof(body), "{\"voucher\": \"%s\", \"name\": \"Caf\u00e9 Kr\u00f6te\", \"url\": "
                 "\"https://example.org/x\", \"funder_key\": \"%s\"}", voucher, funder_key);
        snprintf(want, sizeof(want), "{\"op\": \"sponsor_bid\", \"slice\": \"" SLICE "\", \"voucher\": \"%s\", "
                 "\"name\": \"Caf\u00e9 Kr\u00f6te\", \"url\": \"https://example.org/x\", \"funder_key\": \"%s\"}",
                 voucher, funder_key);
        expect_call("/v1/slices/" SLICE "/sponsor/bids", body, API_SPONSOR_BID, want);
        static const struct {
                const char *members, *says;
        } bad[] = {
                { "", "Member 'name' is missing" },
                { ", \"name\": \"\"", "Member 'name' must be the sponsor's name" },
                { ", \"name\": \"a\\nb\"", "Member 'name' must be the sponsor's name" },
                { ", \"name\": \"a\\u0085b\"", "Member 'name' must be the sponsor's name" },
                { ", \"name\": \"0123456789012345678901234567890123456789012345678901234567890123x\"",
                  "Member 'name' must be" },
                { ", \"name\": \"n\", \"url\": \"ftp://example.org\"", "Member 'url' must be an https://" },
                { ", \"name\": \"n\", \"url\": \"https://a b\"", "Member 'url' must be" },
                /* What prepayd refuses (found by fuzz-gateway-request). */
                { ", \"name\": \"n\", \"url\": \"https://B1R/KJ`0=\"", "Member 'url' must be" },
                { ", \"name\": \"n\", \"logo\": \"x\"", "Unknown member 'logo'" },
        };
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                snprintf(body, sizeof(body), "{\"voucher\": \"%s\"%s}", voucher, bad[i].members);
                expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/sponsor/bids", .body = body }, 400,
                               "invalid", bad[i].says);
        }

        /* A bid's outcome: its number, the bid token as the bearer. */
        expect_call_token("/v1/slices/" SLICE "/sponsor/outcome", "{\"bid\": 7}", "bt-abc", API_SPONSOR_OUTCOME,
                          "{\"op\": \"sponsor_outcome\", \"slice\": \"" SLICE "\", \"token\": \"bt-abc\", "
                          "\"bid\": 7}");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/sponsor/outcome", .body = "{\"bid\": 7}" }, 401,
                       "unauthorized", "owner token");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/sponsor/outcome", .body = "{\"bid\": 0}",
                                      .auth = "Bearer bt-abc" },
                       400, "invalid", "Member 'bid' must be the bid's number");
        expect_refusal(&(struct rq) { "POST", "/v1/slices/" SLICE "/sponsor/outcome", .body = "{\"bid\": \"7\"}",
                                      .auth = "Bearer bt-abc" },
                       400, "invalid", "Member 'bid' must be the bid's number");
}

static void test_funder_replies(void **state _unused_) {
        expect_reply(API_CLAIM,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"funder\": \"ab12\", \"claimed\": 1500000, "
                     "\"currency\": \"EUR\", \"change\": \"pv1-A\\npv1-B\"}",
                     200,
                     "{\"slice\": \"" SLICE "\", \"funder\": \"ab12\", \"claimed\": \"1.50\", \"currency\": "
                     "\"EUR\", \"change\": [\"pv1-A\", \"pv1-B\"]}",
                     NULL);
        expect_reply(API_FUNDERS,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"donation_model\": \"pro-rata\", \"released\": "
                     "true, \"currency\": \"EUR\", \"credited\": 3000000, \"refunded\": 0, \"held_for_funders\": "
                     "1000000, \"funders\": [{\"funder\": \"ab12\", \"put\": 2000000, \"share\": 1000000, "
                     "\"held\": 0, \"claimed\": 1000000}, {\"funder\": null, \"put\": 1000000, \"share\": 0}]}",
                     200,
                     "{\"slice\": \"" SLICE "\", \"donation_model\": \"pro-rata\", \"released\": true, "
                     "\"currency\": \"EUR\", \"credited\": \"3.00\", \"refunded\": \"0.00\", "
                     "\"held_for_funders\": \"1.00\", \"funders\": [{\"funder\": \"ab12\", \"put\": \"2.00\", "
                     "\"share\": \"1.00\", \"held\": \"0.00\", \"claimed\": \"1.00\"}, {\"funder\": null, "
                     "\"put\": \"1.00\", \"share\": \"0.00\"}]}",
                     NULL);
        expect_reply(API_FUNDERS, "{\"ok\": true, \"slice\": \"" SLICE "\"}", 502,
                     "{\"error\": \"The host's prepayd sent a reply this gateway cannot read\", \"code\": "
                     "\"bad_gateway\"}",
                     NULL);
        expect_reply(API_PAY,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"paid\": 2000000, \"currency\": \"EUR\", "
                     "\"to_investors\": 1000000, \"to_slice\": 1000000}",
                     200,
                     "{\"slice\": \"" SLICE "\", \"paid\": \"2.00\", \"currency\": \"EUR\", \"to_investors\": "
                     "\"1.00\", \"to_slice\": \"1.00\"}",
                     NULL);
        expect_reply(API_SPONSOR_BID,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"bid\": {\"id\": 3, \"amount\": 1000000, "
                     "\"currency\": \"EUR\", \"period_start\": 5}}",
                     200,
                     "{\"slice\": \"" SLICE "\", \"bid\": {\"id\": 3, \"amount\": \"1.00\", \"currency\": "
                     "\"EUR\", \"period_start\": 5}}",
                     NULL);
        expect_reply(API_SPONSOR_BID,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"bid\": {\"id\": 4, \"amount\": 1000000}, "
                     "\"token\": \"bt-xyz\"}",
                     200, "{\"slice\": \"" SLICE "\", \"bid\": {\"id\": 4, \"amount\": \"1.00\"}, \"token\": \"bt-xyz\"}",
                     NULL);
        expect_reply(API_SPONSOR_OUTCOME,
                     "{\"ok\": true, \"slice\": \"" SLICE "\", \"bid\": {\"id\": 4, \"amount\": 1000000, "
                     "\"state\": \"returned\", \"change\": \"pv1-A\\npv1-B\"}}",
                     200,
                     "{\"slice\": \"" SLICE "\", \"bid\": {\"id\": 4, \"amount\": \"1.00\", \"state\": "
                     "\"returned\", \"change\": [\"pv1-A\", \"pv1-B\"]}}",
                     NULL);
        expect_reply(API_SPONSOR_BID,
                     "{\"ok\": false, \"code\": \"bid_too_low\", \"error\": \"Bid below the minimum\"}", 409,
                     "{\"error\": \"Bid below the minimum\", \"code\": \"bid_too_low\"}", NULL);
}

/* daemon/common/api.c: every money key, both ways, and what is refused
 * on the way back. */
static void test_money(void **state _unused_) {
        static const char *const keys[] = { "balance", "burn_rate", "credited", "refunded", "overshoot",
                                            "refund",  "kept",      "total",    "missing",  "amount" };
        char text[256];

        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                _cleanup_json_ json_object *o = NULL;

                snprintf(text, sizeof(text), "{\"%s\": 1234567, \"deep\": [{\"%s\": -1}], \"charged\": {\"x\": 5}}",
                         keys[i], keys[i]);
                o = parse(text);
                assert_int_equal(api_money_to_strings(o), 0);
                snprintf(text, sizeof(text),
                         "{\"%s\": \"1.234567\", \"deep\": [{\"%s\": \"-0.000001\"}], \"charged\": {\"x\": "
                         "\"0.000005\"}}",
                         keys[i], keys[i]);
                assert_json(o, text);
                assert_int_equal(api_money_from_strings(o), 0);
                snprintf(text, sizeof(text), "{\"%s\": 1234567, \"deep\": [{\"%s\": -1}], \"charged\": {\"x\": 5}}",
                         keys[i], keys[i]);
                assert_json(o, text);
        }
        {
                _cleanup_json_ json_object *o = parse("{\"items\": {\"cpu\": 1}, \"prices\": {\"io\": 1000000}, "
                                                      "\"time_left_usec\": 5, \"memory_max\": 7}");

                assert_int_equal(api_money_to_strings(o), 0);
                assert_json(o, "{\"items\": {\"cpu\": \"0.000001\"}, \"prices\": {\"io\": \"1.00\"}, "
                               "\"time_left_usec\": 5, \"memory_max\": 7}");
                assert_int_equal(api_money_to_strings(o), 0); /* again: nothing more to do */
                assert_int_equal(api_money_from_strings(o), 0);
                assert_json(o, "{\"items\": {\"cpu\": 1}, \"prices\": {\"io\": 1000000}, \"time_left_usec\": 5, "
                               "\"memory_max\": 7}");
        }
        {
                static const struct {
                        const char *text;
                        int r;
                } bad[] = {
                        { "{\"balance\": \"1.0000001\"}", -EINVAL }, { "{\"balance\": \"1e3\"}", -EINVAL },
                        { "{\"balance\": 5}", -EINVAL },            { "{\"total\": \"\"}", -EINVAL },
                        { "{\"items\": {\"a\": true}}", -EINVAL },  { "{\"balance\": \"--1\"}", -EINVAL },
                        { "{\"missing\": \"1000000000.01\"}", -ERANGE },
                };

                for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                        _cleanup_json_ json_object *o = parse(bad[i].text);

                        assert_int_equal(api_money_from_strings(o), bad[i].r);
                }
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gets),
                cmocka_unit_test(test_slice_and_token),
                cmocka_unit_test(test_quote),
                cmocka_unit_test(test_create),
                cmocka_unit_test(test_topup_release_kill),
                cmocka_unit_test(test_idempotency),
                cmocka_unit_test(test_paths),
                cmocka_unit_test(test_methods),
                cmocka_unit_test(test_authorization),
                cmocka_unit_test(test_framing),
                cmocka_unit_test(test_bodies),
                cmocka_unit_test(test_create_members),
                cmocka_unit_test(test_status_of_code),
                cmocka_unit_test(test_refusal),
                cmocka_unit_test(test_replies),
                cmocka_unit_test(test_reply_refusals),
                cmocka_unit_test(test_events),
                cmocka_unit_test(test_funders),
                cmocka_unit_test(test_pay_and_bids),
                cmocka_unit_test(test_funder_replies),
                cmocka_unit_test(test_money),
        };

        return cmocka_run_group_tests(tests, setup, NULL);
}
