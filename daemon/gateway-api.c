/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/api.h"
#include "common/claim.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/message.h"
#include "common/money.h"
#include "common/parse.h"
#include "common/request.h"
#include "common/util.h"
#include "common/voucher.h"
#include "gateway-api.h"

/* The HTTP API as pure code (prepay-api(7) is its specification). What
 * this file decides, and why:
 *
 * - Paths are matched exactly, byte for byte: "/v1/" and segments of
 *   A-Z a-z 0-9 . _ -. A percent-escape, an empty segment (a doubled or
 *   trailing slash), "." or "..", or any other byte is no route (404):
 *   no name in the API needs an escape, and a path that has one spelling
 *   only cannot be made to mean two things to a proxy and to us. The
 *   query string is the server's to cut off; no route reads one, so it
 *   is ignored. A slice id that is not one (slice_id_is_valid(), the rule
 *   prepayd uses) is "no such slice", 404.
 * - Bodies are decoded strictly, one decoder per route: a member the
 *   route does not know is refused, naming it. prepayd's control
 *   protocol ignores unknown fields so that a newer client can talk to an
 *   older daemon (common/request.h); a buyer on the network typing
 *   "on_exhaust" would instead get a slice that does not do what was
 *   paid for, so here a typo is a 400 before any money moves.
 * - Sizes are strings, as the CLI takes them ("1.5", "4G", "2h"): a JSON
 *   number for a size is refused rather than guessed at (is 4 bytes or
 *   GiB?).
 * - The owner token is only ever read from "Authorization: Bearer" and
 *   is never quoted back: no refusal text here holds it. A funder's
 *   events proof (a statement it signed, common/claim.h) is read from
 *   "Prepay-Funder-Proof" on the routes that take one instead of the
 *   token (events, funders); its shape and purpose are checked here, its
 *   signature and key by prepayd. A claim comes in a body: it moves money.
 * - An Idempotency-Key is read on a POST only (a GET changes nothing). */

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

#define ERROR_MAX 320

/* ---- refusals ---- */

static const struct {
        const char *code;
        int status;
} codes[] = {
        /* prepayd's (the contract's section A) */
        { "invalid", 400 },
        { "unauthorized", 401 },
        { "forbidden", 403 },
        { "not_found", 404 },
        { "spent", 409 },
        { "conflict", 409 },
        { "payment_required", 402 },
        { "too_many", 429 },
        { "unavailable", 503 },
        { "internal", 500 },
        /* a sponsorship bid below the slice's minimum (nothing spent) */
        { "bid_too_low", 409 },
        /* the gateway's own */
        { "method_not_allowed", 405 },
        { "length_required", 411 },
        { "too_large", 413 },
        { "unsupported_media_type", 415 },
        { "headers_too_large", 431 },
        { "bad_gateway", 502 },
};

int api_status_of_code(const char *code) {
        for (size_t i = 0; code && i < ARRAY_SIZE(codes); i++)
                if (streq(codes[i].code, code))
                        return codes[i].status;
        return 500;
}

static bool code_is_known(const char *code) {
        for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
                if (streq(codes[i].code, code))
                        return true;
        return false;
}

static int add_string(json_object *o, const char *key, const char *s) {
        return message_add(o, key, json_object_new_string(s));
}

static json_object *refusal(const char *code, const char *text) {
        _cleanup_json_ json_object *o = json_object_new_object();

        if (!o || add_string(o, "error", text) < 0 || add_string(o, "code", code) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_object *api_refusal(const char *code, const char *fmt, ...) {
        char text[ERROR_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        return refusal(code, text);
}

/* Sets *ret to the refusal and returns its status (500 and NULL when out
 * of memory). */
static int refuse(json_object **ret, const char *code, const char *fmt, ...) _printf_(3, 4);
static int refuse(json_object **ret, const char *code, const char *fmt, ...) {
        char text[ERROR_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        *ret = refusal(code, text);
        return *ret ? api_status_of_code(code) : 500;
}

/* A member's name as it may be quoted: itself, or its length. */
static const char *describe_name(const char *prefix, const char *name, char *buf, size_t size) {
        size_t len = strlen(name);

        if (len <= 32 && request_printable(name, len))
                snprintf(buf, size, "'%s%s'", prefix, name);
        else if (prefix[0]) /* "vm.": "in 'vm'" */
                snprintf(buf, size, "of %zu bytes in '%.*s'", len, (int) strlen(prefix) - 1, prefix);
        else
                snprintf(buf, size, "of %zu bytes", len);
        return buf;
}

/* ---- routes ---- */

struct route {
        enum api_route route;
        const char *name;
        const char *method;
        const char *shape; /* the path after "/v1/"; "*" is the slice id */
        const char *op;
        bool has_body;    /* a POST that reads a body */
        bool needs_token; /* 401 without it (or without a funder's proof, if reads_proof) */
        bool reads_token; /* optional, forwarded when it came */
        bool reads_proof; /* Prepay-Funder-Proof, forwarded as "funder_proof" */
        const char *const *members; /* of the body, NULL-terminated */
};

static const char *const quote_members[] = { "cpus", "memory", "hours", "duration", "disk", NULL };
static const char *const create_members[] = { "voucher",      "vouchers", "cpus", "memory",       "hours",
                                              "duration",     "size_to_funds", "vm", "unit", "on_exhausted",
                                              "funder_key", "donation_model", NULL };
static const char *const topup_members[] = { "voucher", "vouchers", "funder_key", NULL };
static const char *const claim_members[] = { "claim", NULL };
static const char *const pay_members[] = { "voucher", "vouchers", NULL };
static const char *const bid_members[] = { "voucher", "vouchers", "name", "url", "funder_key", NULL };
static const char *const outcome_members[] = { "bid", NULL };
static const char *const no_members[] = { NULL };
static const char *const vm_members[] = { "image", "ssh_key", "disk", NULL };

static const struct route routes[_API_ROUTE_MAX] = {
        [API_PRICES] = { API_PRICES, "prices", "GET", "prices", "quote", .members = no_members },
        [API_IMAGES] = { API_IMAGES, "images", "GET", "images", "images", .members = no_members },
        [API_QUOTE] = { API_QUOTE, "quote", "POST", "quote", "quote", .has_body = true, .members = quote_members },
        [API_CREATE] = { API_CREATE, "create", "POST", "slices", "create", .has_body = true,
                         .members = create_members },
        [API_TOPUP] = { API_TOPUP, "topup", "POST", "slices/*/topup", "topup", .has_body = true,
                        .members = topup_members },
        [API_STATUS] = { API_STATUS, "status", "GET", "slices/*", "status", .reads_token = true,
                         .members = no_members },
        [API_EVENTS] = { API_EVENTS, "events", "GET", "slices/*/events", "events", .needs_token = true,
                         .reads_proof = true, .members = no_members },
        [API_RELEASE] = { API_RELEASE, "release", "POST", "slices/*/release", "release", .has_body = true,
                          .needs_token = true, .members = no_members },
        [API_KILL] = { API_KILL, "kill", "POST", "slices/*/kill", "kill", .has_body = true, .needs_token = true,
                       .members = no_members },
        /* No token: the signed claim in the body is the proof. */
        [API_CLAIM] = { API_CLAIM, "claim", "POST", "slices/*/claim", "claim", .has_body = true,
                        .members = claim_members },
        [API_FUNDERS] = { API_FUNDERS, "funders", "GET", "slices/*/funders", "funders", .needs_token = true,
                          .reads_proof = true, .members = no_members },
        [API_PAY] = { API_PAY, "pay", "POST", "slices/*/pay", "pay", .has_body = true, .members = pay_members },
        [API_SPONSOR_BID] = { API_SPONSOR_BID, "sponsor_bid", "POST", "slices/*/sponsor/bids", "sponsor_bid",
                              .has_body = true, .members = bid_members },
        /* The token is the bid's (bt-...), from the bid's reply: a losing
         * bidder's change is its alone. A POST: a bid number in a path
         * would be a route shape of its own. */
        [API_SPONSOR_OUTCOME] = { API_SPONSOR_OUTCOME, "sponsor_outcome", "POST", "slices/*/sponsor/outcome",
                                  "sponsor_outcome", .has_body = true, .needs_token = true,
                                  .members = outcome_members },
        [API_HISTORY] = { API_HISTORY, "history", "GET", "slices/*/history", "history", .reads_token = true,
                          .members = no_members },
};

const char *api_route_to_string(enum api_route r) {
        if ((unsigned) r >= _API_ROUTE_MAX)
                return NULL;
        return routes[r].name;
}

#define PATH_MAX_LEN 128
#define PATH_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-/"

/* The part of path after "/v1/", when path is one spelling of a route
 * could have: NULL otherwise (see the top of this file). */
static const char *path_rest(const char *path) {
        const char *rest, *p;

        if (!path || strlen(path) > PATH_MAX_LEN || strspn(path, PATH_CHARS) != strlen(path))
                return NULL;
        if (!strneq(path, "/v1/", 4))
                return NULL;
        rest = path + 4;
        for (p = rest;;) {
                size_t n = strcspn(p, "/");

                if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
                        return NULL;
                p += n;
                if (!*p)
                        return rest;
                p++;
        }
}

/* Whether rest has the shape; the segment at "*" goes to slice. */
static bool shape_matches(const char *rest, const char *shape, char *slice, size_t slice_size) {
        while (*shape) {
                size_t n = strcspn(rest, "/"), m = strcspn(shape, "/");

                if (m == 1 && shape[0] == '*') {
                        if (n == 0 || n >= slice_size)
                                return false;
                        memcpy(slice, rest, n);
                        slice[n] = 0;
                } else if (n != m || memcmp(rest, shape, n) != 0)
                        return false;
                rest += n;
                shape += m;
                if (*shape != *rest)
                        return false;
                if (*shape) {
                        shape++;
                        rest++;
                }
        }
        return *rest == 0;
}

/* Each shape has one method, so the path alone names the allowed one. */
const char *api_allowed_methods(const char *path) {
        const char *rest = path_rest(path);
        char slice[64];

        if (!rest)
                return NULL;
        for (size_t i = 0; i < ARRAY_SIZE(routes); i++)
                if (shape_matches(rest, routes[i].shape, slice, sizeof(slice)))
                        return routes[i].method;
        return NULL;
}

/* ---- headers ---- */

#define TOKEN_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

/* "Bearer TOKEN" (the scheme's case does not matter, RFC 9110 11.1) into
 * token: 1..REQUEST_TOKEN_MAX of the owner tokens' alphabet ("pt-" and
 * base64url). */
static bool parse_bearer(const char *h, char token[static REQUEST_TOKEN_MAX + 1]) {
        size_t n;

        if (strncasecmp(h, "Bearer ", 7) != 0)
                return false;
        h += 7;
        h += strspn(h, " ");
        n = strspn(h, TOKEN_CHARS);
        if (n < 1 || n > REQUEST_TOKEN_MAX || h[n] != 0)
                return false;
        memcpy(token, h, n + 1);
        return true;
}

static bool idempotency_key_is_valid(const char *k) {
        size_t n = strlen(k);

        if (n < 1 || n > API_IDEMPOTENCY_KEY_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (k[i] < 0x20 || k[i] > 0x7e)
                        return false;
        return true;
}

/* The address prepayd logs: 1..64 of [0-9A-Fa-f.:] (so an IPv6 zone or
 * anything stranger is left out rather than refused: it is for logs). */
static bool client_is_valid(const char *c) {
        size_t n = strspn(c, "0123456789abcdefABCDEF.:");

        return n >= 1 && n <= API_CLIENT_MAX && c[n] == 0;
}

/* "application/json", with parameters; a charset, if any, UTF-8 (the only
 * one JSON has, RFC 8259 8.1). */
static bool content_type_is_json(const char *ct) {
        const char *p;

        ct += strspn(ct, " \t");
        if (strncasecmp(ct, "application/json", 16) != 0)
                return false;
        p = ct + 16;
        p += strspn(p, " \t");
        if (*p == 0)
                return true;
        if (*p != ';')
                return false;
        while (*p == ';') {
                size_t n;

                p++;
                p += strspn(p, " \t");
                n = strcspn(p, ";");
                if (strncasecmp(p, "charset=", 8) == 0) {
                        const char *v = p + 8;
                        size_t m = n - 8;

                        while (m > 0 && strchr(" \t", v[m - 1]))
                                m--;
                        if (m >= 2 && v[0] == '"' && v[m - 1] == '"') {
                                v++;
                                m -= 2;
                        }
                        if (m != 5 || strncasecmp(v, "utf-8", 5) != 0)
                                return false;
                }
                p += n;
        }
        return true;
}

int api_idempotency_request_id(const char *key, const char *method, const char *path, const char *token,
                               const void *body, size_t body_size, char ret[static API_REQUEST_ID_SIZE]) {
        static const char domain[] = "prepay-idempotency-v1"; /* hashed with its NUL */
        uint8_t digest[CRYPTO_SHA256_SIZE];
        char text[BASE64URL_LEN(CRYPTO_SHA256_SIZE) + 1];
        struct crypto_hash *h;
        int r;

        r = crypto_hash_new(&h);
        if (r < 0)
                return r;
        crypto_hash_update(h, domain, sizeof(domain));
        crypto_hash_update(h, key, strlen(key) + 1);
        crypto_hash_update(h, method, strlen(method));
        crypto_hash_update(h, " ", 1);
        crypto_hash_update(h, path, strlen(path) + 1);
        crypto_hash_update(h, token ?: "", strlen(token ?: "") + 1);
        crypto_hash_update(h, body ?: "", body ? body_size : 0);
        crypto_hash_final(h, digest);
        crypto_hash_free(h);

        base64url_encode(digest, sizeof(digest), text);
        _Static_assert(BASE64URL_LEN(CRYPTO_SHA256_SIZE) == 43, "a SHA-256 is 43 base64url characters");
        _Static_assert(API_REQUEST_ID_SIZE - 1 <= REQUEST_ID_MAX, "a derived request id is one prepayd takes");
        snprintf(ret, API_REQUEST_ID_SIZE, "ik-%s", text);
        return 0;
}

/* ---- bodies ---- */

/* One decoder's state: the body, the control request being built, and
 * the sentence of a refusal. */
struct decoder {
        json_object *body;
        json_object *req;
        char error[ERROR_MAX];
};

/* -EINVAL with the sentence set, or what message_add() returned. */
static int fail(struct decoder *d, const char *fmt, ...) _printf_(2, 3);
static int fail(struct decoder *d, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(d->error, sizeof(d->error), fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static int fail_value(struct decoder *d, const char *name, const char *expect, json_object *v) {
        char got[64];

        return fail(d, "Member '%s' must be %s, got %s", name, expect, request_describe(v, got, sizeof(got)));
}

/* Every member of o is one of members: a typo is refused, naming it and
 * the members known. */
static int check_members(struct decoder *d, json_object *o, const char *const *members, const char *prefix) {
        json_object_object_foreach(o, key, v) {
                char name[64], list[160] = "";
                size_t i;

                (void) v;
                for (i = 0; members[i]; i++)
                        if (streq(members[i], key))
                                break;
                if (members[i])
                        continue;
                for (i = 0; members[i]; i++)
                        snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s%s", i ? ", " : "",
                                 prefix, members[i]);
                return fail(d, "Unknown member %s: %s%s", describe_name(prefix, key, name, sizeof(name)),
                            members[0] ? "the members known here are " : "this request takes no members", list);
        }
        return 0;
}

/* A string member: 0 with *ret, -ENOENT when absent, -EINVAL (set). */
static int get_string(struct decoder *d, json_object *o, const char *key, const char *name, size_t min, size_t max,
                      const char *expect, const char **ret) {
        json_object *v;
        size_t len;

        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_string))
                return fail_value(d, name, expect, v);
        len = (size_t) json_object_get_string_len(v);
        /* "\u0000" cannot be in a C string: refused, never cut short. */
        if (len < min || len > max || strlen(json_object_get_string(v)) != len)
                return fail_value(d, name, expect, v);
        *ret = json_object_get_string(v);
        return 0;
}

struct size_kind {
        int (*parse)(const char *s, uint64_t *ret);
        const char *expect;
};

static const struct size_kind CPUS = { parse_cpus, "a number of CPUs as a string, such as \"1.5\"" };
static const struct size_kind BYTES = { parse_size, "a size as a string, such as \"4G\" or \"512M\"" };
static const struct size_kind HOURS = { parse_hours, "a number of hours as a string, such as \"2\" or \"0.5\"" };
static const struct size_kind DURATION = { parse_duration, "a duration as a string, such as \"2h\" or \"90min\"" };

/* A size member: more than 0 (0 means "no limit" to prepayd, not what
 * "memory": "0" reads as) and within json-c's integers. */
static int get_size(struct decoder *d, json_object *o, const char *key, const char *name, const struct size_kind *k,
                    uint64_t *ret) {
        const char *s;
        uint64_t v;
        int r;

        r = get_string(d, o, key, name, 1, 32, k->expect, &s);
        if (r < 0)
                return r;
        if (k->parse(s, &v) < 0 || v == 0 || v > INT64_MAX)
                return fail_value(d, name, k->expect, json_object_object_get(o, key));
        *ret = v;
        return 0;
}

/* An optional size, added to the request as field. */
static int size_to_field(struct decoder *d, json_object *to, const char *key, const struct size_kind *k,
                         const char *field) {
        uint64_t v;
        int r;

        r = get_size(d, d->body, key, key, k, &v);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return message_add_u64(to, field, v);
}

/* "hours" or "duration", not both, as "duration_usec". */
static int decode_duration(struct decoder *d) {
        if (json_object_object_get_ex(d->body, "hours", NULL) && json_object_object_get_ex(d->body, "duration", NULL))
                return fail(d, "Members 'hours' and 'duration' do not go together: send one");
        if (json_object_object_get_ex(d->body, "hours", NULL))
                return size_to_field(d, d->req, "hours", &HOURS, "duration_usec");
        return size_to_field(d, d->req, "duration", &DURATION, "duration_usec");
}

#define VOUCHER_EXPECT "a voucher's text (pv1-...)"
#define VOUCHERS_MAX 16

/* A voucher's text, its shape only (voucher_from_text()): the signature,
 * the issuer and whether it was spent are prepayd's to check. */
static int check_voucher(struct decoder *d, json_object *v, const char *name) {
        const char *s, *error = NULL;
        struct voucher parsed;
        size_t len;

        if (!json_object_is_type(v, json_type_string))
                return fail_value(d, name, VOUCHER_EXPECT, v);
        s = json_object_get_string(v);
        len = (size_t) json_object_get_string_len(v);
        /* A little room for the white space voucher_from_text() allows. */
        if (len < 1 || len > VOUCHER_TEXT_MAX + 16 || strlen(s) != len)
                return fail_value(d, name, VOUCHER_EXPECT, v);
        if (voucher_from_text(s, &parsed, &error) < 0)
                return fail(d, "%s (member '%s')", error ?: "Not a prepay voucher", name);
        return 0;
}

/* "voucher" or "vouchers" (1..16, redeemed all or none), one of them. */
static int decode_vouchers(struct decoder *d) {
        _cleanup_json_ json_object *list = NULL;
        json_object *v, *vs;
        bool one, many;
        size_t n;
        int r;

        one = json_object_object_get_ex(d->body, "voucher", &v);
        many = json_object_object_get_ex(d->body, "vouchers", &vs);
        if (one && many)
                return fail(d, "Members 'voucher' and 'vouchers' do not go together: send one");
        if (!one && !many)
                return fail(d, "Member 'voucher' is missing: it must be %s (or 'vouchers', an array of 1 to %d)",
                            VOUCHER_EXPECT, VOUCHERS_MAX);
        if (one) {
                r = check_voucher(d, v, "voucher");
                if (r < 0)
                        return r;
                return add_string(d->req, "voucher", json_object_get_string(v));
        }

        if (!json_object_is_type(vs, json_type_array) || json_object_array_length(vs) < 1 ||
            json_object_array_length(vs) > VOUCHERS_MAX)
                return fail_value(d, "vouchers", "an array of 1 to 16 vouchers' texts", vs);
        n = json_object_array_length(vs);
        list = json_object_new_array_ext((int) n);
        if (!list)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(vs, i), *copy;
                char name[32];

                snprintf(name, sizeof(name), "vouchers[%zu]", i);
                r = check_voucher(d, e, name);
                if (r < 0)
                        return r;
                copy = json_object_new_string(json_object_get_string(e));
                if (!copy || json_object_array_add(list, copy) < 0) {
                        json_object_put(copy);
                        return -ENOMEM;
                }
        }
        return message_add(d->req, "vouchers", TAKE_PTR(list));
}

#define UNIT_EXPECT "a unit name such as \"worker.service\" (1 to 255 of A-Z a-z 0-9 : _ . @ -)"
#define UNIT_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:_.@-"

/* A unit name's form (systemd's characters, a type suffix, no leading
 * '-' or '.'): whether it is in RemoteUnits= is prepayd's to say. */
static bool unit_name_is_valid(const char *s) {
        size_t n = strlen(s);
        const char *dot = strrchr(s, '.');

        if (n < 1 || n > REQUEST_UNIT_MAX || strspn(s, UNIT_CHARS) != n || s[0] == '-' || s[0] == '.')
                return false;
        return dot && dot > s && dot[1] && strspn(dot + 1, "abcdefghijklmnopqrstuvwxyz") == strlen(dot + 1);
}

static int decode_vm(struct decoder *d, json_object *vm) {
        const char *image, *key;
        uint64_t disk;
        int r;

        if (!json_object_is_type(vm, json_type_object))
                return fail_value(d, "vm", "an object {\"image\", \"ssh_key\", \"disk\"}", vm);
        r = check_members(d, vm, vm_members, "vm.");
        if (r < 0)
                return r;

#define IMAGE_EXPECT "an image name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -)"
        r = get_string(d, vm, "image", "vm.image", 1, VM_IMAGE_NAME_MAX, IMAGE_EXPECT, &image);
        if (r == -ENOENT)
                return fail(d, "Member 'vm.image' is missing: it must be %s (GET /v1/images)", IMAGE_EXPECT);
        if (r < 0)
                return r;
        if (!vm_image_name_is_valid(image))
                return fail_value(d, "vm.image", IMAGE_EXPECT, json_object_object_get(vm, "image"));

#define SSH_KEY_EXPECT "an SSH public key, the text of a .pub file (1 to 8192 bytes)"
        r = get_string(d, vm, "ssh_key", "vm.ssh_key", 1, VM_SSH_KEY_MAX, SSH_KEY_EXPECT, &key);
        if (r == -ENOENT)
                return fail(d, "Member 'vm.ssh_key' is missing: it must be %s", SSH_KEY_EXPECT);
        if (r < 0)
                return r;

        r = add_string(d->req, "vm_image", image);
        if (r >= 0)
                r = add_string(d->req, "ssh_key", key);
        if (r < 0)
                return r;
        r = get_size(d, vm, "disk", "vm.disk", &BYTES, &disk);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return message_add_u64(d->req, "disk_size", disk);
}

/* What runs in the slice: a VM or a unit, exactly one (a remote buyer
 * has no process to put in it). */
static int decode_work(struct decoder *d) {
        json_object *vm;
        const char *unit;
        bool has_vm;
        int r;

        has_vm = json_object_object_get_ex(d->body, "vm", &vm);
        r = get_string(d, d->body, "unit", "unit", 1, REQUEST_UNIT_MAX, UNIT_EXPECT, &unit);
        if (r == -EINVAL)
                return r;
        if (has_vm && r == 0)
                return fail(d, "Members 'vm' and 'unit' do not go together: a slice runs a VM or a unit");
        if (has_vm)
                return decode_vm(d, vm);
        if (r == -ENOENT)
                return fail(d, "The slice needs work to run: send 'vm' ({\"image\", \"ssh_key\"}) or 'unit'");
        if (!unit_name_is_valid(unit))
                return fail_value(d, "unit", UNIT_EXPECT, json_object_object_get(d->body, "unit"));
        return add_string(d->req, "unit", unit);
}

static int decode_on_exhausted(struct decoder *d) {
        static const char *const actions[] = { "throttle", "freeze", "kill" };
        const char *s;
        int r;

#define ACTION_EXPECT "\"throttle\", \"freeze\" or \"kill\""
        r = get_string(d, d->body, "on_exhausted", "on_exhausted", 1, 16, ACTION_EXPECT, &s);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        for (size_t i = 0; i < ARRAY_SIZE(actions); i++)
                if (streq(s, actions[i]))
                        return add_string(d->req, "exhausted_action", s);
        return fail_value(d, "on_exhausted", ACTION_EXPECT, json_object_object_get(d->body, "on_exhausted"));
}

#define FUNDER_KEY_EXPECT "an Ed25519 public key, the line of a funder's .pub file"

/* "funder_key": a public key's text (crypto.c reads it, as prepayd
 * will): who funds the credit, for its share at release. */
static int decode_funder_key(struct decoder *d) {
        struct crypto_key *k = NULL;
        const char *s;
        int r;

        r = get_string(d, d->body, "funder_key", "funder_key", 1, REQUEST_FUNDER_KEY_MAX, FUNDER_KEY_EXPECT, &s);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        r = crypto_key_from_public_text(s, &k);
        if (r == -ENOMEM)
                return r;
        crypto_key_free(k);
        if (r < 0)
                return fail_value(d, "funder_key", FUNDER_KEY_EXPECT, json_object_object_get(d->body, "funder_key"));
        return add_string(d->req, "funder_key", s);
}

/* "donation_model": a name's shape; whether the host offers it is
 * prepayd's to say (DonationModels=). */
static int decode_donation_model(struct decoder *d) {
        const char *s;
        int r;

#define MODEL_EXPECT "the name of a donation model (owner, pro-rata or lifo)"
        r = get_string(d, d->body, "donation_model", "donation_model", 1, REQUEST_ACTION_MAX, MODEL_EXPECT, &s);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        if (strspn(s, "abcdefghijklmnopqrstuvwxyz-") != strlen(s))
                return fail_value(d, "donation_model", MODEL_EXPECT,
                                  json_object_object_get(d->body, "donation_model"));
        return add_string(d->req, "donation_model", s);
}

static int decode_quote(struct decoder *d) {
        int r;

        r = size_to_field(d, d->req, "cpus", &CPUS, "cpus_milli");
        if (r >= 0)
                r = size_to_field(d, d->req, "memory", &BYTES, "memory_max");
        if (r >= 0)
                r = decode_duration(d);
        if (r >= 0)
                r = size_to_field(d, d->req, "disk", &BYTES, "disk_size");
        return r;
}

static int decode_create(struct decoder *d) {
        _cleanup_json_ json_object *limits = json_object_new_object();
        json_object *v;
        int r;

        if (!limits)
                return -ENOMEM;
        r = decode_vouchers(d);
        if (r >= 0)
                r = size_to_field(d, d->req, "cpus", &CPUS, "cpus_milli");
        if (r >= 0)
                r = size_to_field(d, limits, "memory", &BYTES, "memory_max");
        if (r >= 0)
                r = decode_duration(d);
        if (r < 0)
                return r;
        if (json_object_object_get_ex(d->body, "size_to_funds", &v)) {
                if (!json_object_is_type(v, json_type_boolean))
                        return fail_value(d, "size_to_funds", "true or false", v);
                r = message_add(d->req, "size_to_funds", json_object_new_boolean(json_object_get_boolean(v)));
                if (r < 0)
                        return r;
        }
        r = decode_work(d);
        if (r >= 0)
                r = decode_on_exhausted(d);
        if (r >= 0)
                r = decode_funder_key(d);
        if (r >= 0)
                r = decode_donation_model(d);
        if (r < 0)
                return r;
        /* prepayd's create cannot do without "limits" ({} is none). */
        return message_add(d->req, "limits", TAKE_PTR(limits));
}

static int decode_topup(struct decoder *d) {
        int r = decode_vouchers(d);

        return r < 0 ? r : decode_funder_key(d);
}

/* A claim's shape (claim.c) and purpose: an events proof is refused
 * here, never sent as one; the signature and the share are prepayd's. */
static int decode_claim(struct decoder *d) {
        const char *s, *error = NULL;
        struct claim c;
        int r;

#define CLAIM_EXPECT "a signed claim's text (pc1-..., prepay claim makes one)"
        r = get_string(d, d->body, "claim", "claim", 1, CLAIM_TEXT_MAX - 1, CLAIM_EXPECT, &s);
        if (r == -ENOENT)
                return fail(d, "Member 'claim' is missing: it must be %s", CLAIM_EXPECT);
        if (r < 0)
                return r;
        if (claim_from_text(s, &c, &error) < 0)
                return fail(d, "%s (member 'claim')", error);
        if (c.purpose != CLAIM_PURPOSE_CLAIM)
                return fail(d, "Member 'claim' holds a funder's events proof, not a claim: a proof is never "
                            "taken for a claim (prepay claim makes one)");
        return add_string(d->req, "claim", s);
}

/* Printable UTF-8 (message_parse() checked the encoding), no control
 * character of C0, DEL or C1; its length in characters. */
static bool text_is_printable(const char *s, size_t *ret_chars) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n = 0;

        for (; *p; p++) {
                if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
                        return false;
                n += (*p & 0xc0) != 0x80;
        }
        *ret_chars = n;
        return true;
}

#define BID_NAME_MAX 64
#define BID_URL_MAX 256

static int decode_bid(struct decoder *d) {
        const char *name, *url;
        size_t chars = 0;
        int r;

        r = decode_vouchers(d);
        if (r < 0)
                return r;
#define NAME_EXPECT "the sponsor's name shown on the slice (1 to 64 printable characters)"
        r = get_string(d, d->body, "name", "name", 1, 4 * BID_NAME_MAX, NAME_EXPECT, &name);
        if (r == -ENOENT)
                return fail(d, "Member 'name' is missing: it must be %s", NAME_EXPECT);
        if (r < 0)
                return r;
        /* And what prepayd takes: one rule, not two that may disagree. */
        if (!text_is_printable(name, &chars) || chars > BID_NAME_MAX || !request_sponsor_name_is_valid(name))
                return fail_value(d, "name", NAME_EXPECT, json_object_object_get(d->body, "name"));
        r = add_string(d->req, "name", name);
        if (r < 0)
                return r;

#define URL_EXPECT                                                                                   \
        "an https:// or http:// address (at most 256 printable ASCII characters, no space, quote, "   \
        "backslash or angle bracket)"
        r = get_string(d, d->body, "url", "url", 1, BID_URL_MAX, URL_EXPECT, &url);
        if (r == -EINVAL)
                return r;
        if (r == 0) {
                if (!request_sponsor_url_is_valid(url))
                        return fail_value(d, "url", URL_EXPECT, json_object_object_get(d->body, "url"));
                r = add_string(d->req, "url", url);
                if (r < 0)
                        return r;
        }
        return decode_funder_key(d);
}

/* {"bid": N}: a bid's number, as its reply gave it. */
static int decode_outcome(struct decoder *d) {
        json_object *v = json_object_object_get(d->body, "bid");
        int64_t n;

#define BID_EXPECT "the bid's number (an integer from 1), as the bid's reply gave it"
        if (!v)
                return fail(d, "Member 'bid' is missing: it must be %s", BID_EXPECT);
        n = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
        if (n < 1 || n > INT32_MAX)
                return fail_value(d, "bid", BID_EXPECT, v);
        return message_add_u64(d->req, "bid", (uint64_t) n);
}

static int decode_body(struct decoder *d, enum api_route route) {
        int r = check_members(d, d->body, routes[route].members, "");

        if (r < 0)
                return r;
        switch (route) {
        case API_QUOTE:
                return decode_quote(d);
        case API_CREATE:
                return decode_create(d);
        case API_TOPUP:
                return decode_topup(d);
        case API_CLAIM:
                return decode_claim(d);
        case API_PAY:
                return decode_vouchers(d);
        case API_SPONSOR_BID:
                return decode_bid(d);
        case API_SPONSOR_OUTCOME:
                return decode_outcome(d);
        default:
                return 0; /* no members: checked above */
        }
}

/* The body as one JSON object: message_parse()'s bounds (depth, UTF-8,
 * nothing after it); none is {}. */
static int parse_body(const struct api_request *rq, json_object **ret, json_object **ret_refusal) {
        const char *error = NULL;
        int r;

        if (rq->body_size == 0) {
                *ret = json_object_new_object();
                return *ret ? 0 : refuse(ret_refusal, "internal", "Out of memory");
        }
        r = message_parse(rq->body, rq->body_size, ret, &error);
        if (r == -ENOMEM)
                return refuse(ret_refusal, "internal", "Out of memory");
        if (r < 0)
                return refuse(ret_refusal, "invalid", "The body must be one JSON object in UTF-8 (%s)",
                              error ?: "it is not");
        return 0;
}

/* ---- requests ---- */

void api_call_done(struct api_call *c) {
        if (!c)
                return;
        json_object_put(c->request);
        c->request = NULL;
}

/* The path to its route, or the refusal (404, 405). */
static int find_route(const struct api_request *rq, const struct route **ret, char slice[static 64],
                      json_object **ret_refusal) {
        const char *rest = path_rest(rq->path);

        for (size_t i = 0; rest && i < ARRAY_SIZE(routes); i++) {
                if (!shape_matches(rest, routes[i].shape, slice, 64))
                        continue;
                if (!streq(rq->method, routes[i].method))
                        return refuse(ret_refusal, "method_not_allowed", "This path takes %s only",
                                      routes[i].method);
                if (strchr(routes[i].shape, '*') && !slice_id_is_valid(slice))
                        return refuse(ret_refusal, "not_found",
                                      "No such slice: a slice id is \"s-\" and 8 to 16 lower-case hex digits");
                *ret = &routes[i];
                return 0;
        }
        return refuse(ret_refusal, "not_found", "No such route: the API's paths are in prepay-api(7)");
}

/* A funder's proof: a statement of claim.h's form (its signature and key
 * are prepayd's to check) made for following a slice, never a claim. */
static int check_proof(const char *h, json_object **ret_refusal) {
        const char *error = NULL;
        struct claim c;

        if (strlen(h) >= CLAIM_TEXT_MAX)
                return refuse(ret_refusal, "invalid", "The Prepay-Funder-Proof header is too long for a proof");
        if (claim_from_text(h, &c, &error) < 0)
                return refuse(ret_refusal, "invalid", "The Prepay-Funder-Proof header is not a funder's proof: %s",
                              error);
        if (c.purpose != CLAIM_PURPOSE_EVENTS)
                return refuse(ret_refusal, "invalid",
                              "The Prepay-Funder-Proof header holds a claim, not an events proof: a claim is "
                              "never sent where a proof is read (prepay events --funder-key makes a proof)");
        return 0;
}

/* The headers and the body's framing, before the body is read. */
static int check_headers(const struct api_request *rq, const struct route *rt, char token[static 64],
                         json_object **ret_refusal) {
        bool proof = rt->reads_proof && rq->funder_proof;
        int r;

        token[0] = 0;
        if (rq->authorization && (rt->needs_token || rt->reads_token) && !parse_bearer(rq->authorization, token))
                return refuse(ret_refusal, "invalid",
                              "The Authorization header must be \"Bearer\" and the slice's owner token (1 to %d of "
                              "A-Z a-z 0-9 _ -)",
                              REQUEST_TOKEN_MAX);
        if (proof && token[0])
                return refuse(ret_refusal, "invalid",
                              "Send the owner token or a funder's proof (Prepay-Funder-Proof), not both");
        if (proof) {
                r = check_proof(rq->funder_proof, ret_refusal);
                if (r != 0)
                        return r;
        }
        if (rt->needs_token && !token[0] && !proof)
                return refuse(ret_refusal, "unauthorized",
                              rt->reads_proof ? "This request needs the slice's owner token (\"Authorization: "
                                                "Bearer pt-...\") or a funder's proof (\"Prepay-Funder-Proof: "
                                                "pc1-...\")"
                                              : "This request needs the slice's owner token: send \"Authorization: "
                                                "Bearer pt-...\"");

        if (!rt->has_body) {
                if (rq->body_size > 0)
                        return refuse(ret_refusal, "invalid", "A %s request takes no body", rq->method);
                return 0;
        }
        if (rq->idempotency_key && !idempotency_key_is_valid(rq->idempotency_key))
                return refuse(ret_refusal, "invalid",
                              "The Idempotency-Key header must be 1 to %d printable ASCII characters",
                              API_IDEMPOTENCY_KEY_MAX);
        if (rq->body_size > API_BODY_MAX)
                return refuse(ret_refusal, "too_large", "The body is larger than %d bytes", API_BODY_MAX);
        if (rq->body_size > 0 && (!rq->content_type || !content_type_is_json(rq->content_type)))
                return refuse(ret_refusal, "unsupported_media_type",
                              "The body must be sent as \"Content-Type: application/json\"");
        return 0;
}

/* The members every request gets: op, slice, token or funder_proof,
 * request_id, client. */
static int add_common(const struct api_request *rq, const struct route *rt, const char *slice, const char *token,
                      json_object *req) {
        int r;

        r = add_string(req, "op", rt->op);
        if (r >= 0 && slice[0])
                r = add_string(req, "slice", slice);
        if (r >= 0 && token[0])
                r = add_string(req, "token", token);
        if (r >= 0 && !token[0] && rt->reads_proof && rq->funder_proof)
                r = add_string(req, "funder_proof", rq->funder_proof);
        if (r >= 0 && rt->has_body && rq->idempotency_key) {
                char id[API_REQUEST_ID_SIZE];

                r = api_idempotency_request_id(rq->idempotency_key, rq->method, rq->path, token, rq->body,
                                               rq->body_size, id);
                if (r >= 0)
                        r = add_string(req, "request_id", id);
        }
        if (r >= 0 && rq->client && client_is_valid(rq->client))
                r = add_string(req, "client", rq->client);
        return r;
}

int api_decode(const struct api_request *rq, struct api_call *ret, json_object **ret_refusal) {
        _cleanup_json_ json_object *body = NULL, *req = NULL;
        struct decoder d = {};
        const struct route *rt = NULL;
        char slice[64] = "", token[64] = "";
        int r;

        if (!ret_refusal)
                return 500;
        *ret_refusal = NULL;
        if (!rq || !ret || !rq->method || !rq->path || (rq->body_size > 0 && !rq->body))
                return refuse(ret_refusal, "internal", "The server passed no request");

        r = find_route(rq, &rt, slice, ret_refusal);
        if (r != 0)
                return r;
        r = check_headers(rq, rt, token, ret_refusal);
        if (r != 0)
                return r;
        if (rt->has_body) {
                r = parse_body(rq, &body, ret_refusal);
                if (r != 0)
                        return r;
        }

        req = json_object_new_object();
        if (!req)
                return refuse(ret_refusal, "internal", "Out of memory");
        r = add_common(rq, rt, strchr(rt->shape, '*') ? slice : "", token, req);
        if (r >= 0 && body) {
                d.body = body;
                d.req = req;
                r = decode_body(&d, rt->route);
        }
        if (r == -EINVAL)
                return refuse(ret_refusal, "invalid", "%s", d.error);
        if (r < 0)
                return refuse(ret_refusal, "internal", "Out of memory");

        *ret = (struct api_call) { .route = rt->route,
                                   .has_token = token[0] != 0,
                                   .has_funder_proof = !token[0] && rt->reads_proof && rq->funder_proof,
                                   .request = TAKE_PTR(req) };
        if (strchr(rt->shape, '*'))
                memcpy(ret->slice, slice, sizeof(ret->slice));
        return 0;
}

/* ---- replies ---- */

/* What goes out of prepayd's records to a buyer on the network: not the
 * host's own bookkeeping (its cgroup path and id, the owner uid, which is
 * always the gateway's, QEMU's pid, the meter's schedule). */
static void strip_host_details(json_object *o) {
        json_object *vm;

        if (!json_object_is_type(o, json_type_object))
                return;
        json_object_object_del(o, "owner_uid");
        json_object_object_del(o, "cgroup");
        json_object_object_del(o, "cgroup_id");
        json_object_object_del(o, "meter");
        if (json_object_object_get_ex(o, "vm", &vm) && json_object_is_type(vm, json_type_object))
                json_object_object_del(vm, "pid");
}

/* A deep copy of reply's key into body (as it is), when present. */
static int copy_member(json_object *body, json_object *reply, const char *key) {
        json_object *v, *copy = NULL;

        if (!json_object_object_get_ex(reply, key, &v))
                return 0;
        if (json_object_deep_copy(v, &copy, NULL) < 0)
                return -ENOMEM;
        return message_add(body, key, copy);
}

static const char *string_member(json_object *o, const char *key) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static bool u64_member(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) < 0)
                return false;
        *ret = (uint64_t) json_object_get_int64(v);
        return true;
}

/* "slice": the record as a view: -EBADMSG when it is not one. */
static int add_view(json_object *body, json_object *reply) {
        json_object *s;
        const char *id;
        int r;

        if (!json_object_object_get_ex(reply, "slice", &s) || !json_object_is_type(s, json_type_object))
                return -EBADMSG;
        id = string_member(s, "id");
        if (!id || !slice_id_is_valid(id))
                return -EBADMSG;
        r = copy_member(body, reply, "slice");
        if (r < 0)
                return r;
        strip_host_details(json_object_object_get(body, "slice"));
        return 0;
}

/* The way in to a VM slice's guest, from the record's "vm". */
static int add_ssh(json_object *body, json_object *slice) {
        _cleanup_json_ json_object *ssh = NULL;
        const char *host, *user, *key;
        json_object *vm;
        uint64_t port = 0;
        int r = 0;

        if (!json_object_object_get_ex(slice, "vm", &vm) || !json_object_is_type(vm, json_type_object))
                return 0;
        ssh = json_object_new_object();
        if (!ssh)
                return -ENOMEM;
        host = string_member(vm, "ssh_host");
        user = string_member(vm, "ssh_user");
        key = string_member(vm, "host_key");
        if (host && host[0])
                r = add_string(ssh, "host", host);
        if (r >= 0 && u64_member(vm, "ssh_port", &port) && port > 0)
                r = message_add_u64(ssh, "port", port);
        if (r >= 0 && user && user[0])
                r = add_string(ssh, "user", user);
        if (r >= 0 && key && key[0])
                r = add_string(ssh, "host_key", key);
        if (r >= 0 && host && host[0] && user && user[0] && port > 0 && port <= 65535) {
                char command[sizeof("ssh -p 65535 ") + 256 + 256];

                snprintf(command, sizeof(command), "ssh -p %u %s@%s", (unsigned) port, user, host);
                r = add_string(ssh, "command", command);
        }
        if (r < 0)
                return r;
        return message_add(body, "ssh", TAKE_PTR(ssh));
}

/* The resources' units of price (daemon/pricing.h). */
static int add_units(json_object *body) {
        static const struct {
                const char *resource, *unit;
        } units[] = {
                { "cpu", "CPU-second" }, { "memory", "GiB-hour" }, { "net_out", "GiB" },
                { "net_in", "GiB" },     { "io", "GiB" },          { "base", "slice-hour" },
        };
        json_object *o = json_object_new_object();
        int r = o ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(units); i++)
                r = add_string(o, units[i].resource, units[i].unit);
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        return message_add(body, "units", o);
}

static int add_duration(json_object *body, const char *key, json_object *reply, const char *from) {
        char text[FORMAT_DURATION_MAX];
        uint64_t usec;

        if (!u64_member(reply, from, &usec))
                return 0;
        return add_string(body, key, format_duration(text, sizeof(text), usec));
}

static int encode_prices(json_object *body, json_object *reply) {
        int r;

        r = copy_member(body, reply, "currency");
        if (r >= 0)
                r = copy_member(body, reply, "prices");
        if (r >= 0)
                r = add_units(body);
        if (r >= 0)
                r = add_duration(body, "min_runtime", reply, "min_runtime_usec");
        if (r >= 0)
                r = copy_member(body, reply, "host_id");
        if (r >= 0)
                r = copy_member(body, reply, "host_key");
        return r;
}

static int encode_quote(json_object *body, json_object *reply) {
        int r;

        if (!json_object_object_get_ex(reply, "total", NULL))
                return -EBADMSG;
        r = copy_member(body, reply, "currency");
        if (r >= 0)
                r = copy_member(body, reply, "total");
        if (r >= 0)
                r = copy_member(body, reply, "items");
        if (r >= 0)
                r = add_duration(body, "duration", reply, "duration_usec");
        if (r >= 0)
                r = add_duration(body, "min_runtime", reply, "min_runtime_usec");
        if (r >= 0)
                r = copy_member(body, reply, "prices");
        /* The size priced: what was asked, or prepayd's defaults for what
         * was not (MaxCPUs=, the default memory, MinRuntime=). Sizes in
         * replies are integers, as in a slice record. */
        if (r >= 0)
                r = copy_member(body, reply, "cpus_milli");
        if (r >= 0)
                r = copy_member(body, reply, "memory_max");
        if (r >= 0)
                r = copy_member(body, reply, "duration_usec");
        /* Who sells, as GET /v1/prices says: a funder's statement is
         * signed for this host id. */
        if (r >= 0)
                r = copy_member(body, reply, "host_id");
        if (r >= 0)
                r = copy_member(body, reply, "host_key");
        return r;
}

static int encode_create(json_object *body, json_object *reply, char **ret_location) {
        const char *id;
        int r;

        r = add_view(body, reply);
        if (r < 0)
                return r;
        r = copy_member(body, reply, "token");
        if (r >= 0)
                r = copy_member(body, reply, "receipt");
        if (r >= 0)
                r = copy_member(body, reply, "unit");
        /* Paid for, but the unit did not start: the buyer holds the token
         * and releases the slice for its change. */
        if (r >= 0)
                r = copy_member(body, reply, "unit_error");
        if (r >= 0)
                r = add_ssh(body, json_object_object_get(reply, "slice"));
        if (r < 0)
                return r;
        id = string_member(json_object_object_get(reply, "slice"), "id");
        if (asprintf(ret_location, "/v1/slices/%s", id) < 0) {
                *ret_location = NULL;
                return -ENOMEM;
        }
        return 0;
}

static int encode_topup(json_object *body, json_object *reply) {
        json_object *account;
        const char *currency;
        int r;

        r = add_view(body, reply);
        if (r >= 0)
                r = copy_member(body, reply, "credited");
        if (r < 0)
                return r;
        currency = string_member(reply, "currency");
        if (!currency && json_object_object_get_ex(json_object_object_get(reply, "slice"), "account", &account))
                currency = string_member(account, "currency");
        if (currency)
                r = add_string(body, "currency", currency);
        if (r >= 0)
                r = copy_member(body, reply, "receipt");
        return r;
}

/* prepayd's change is one voucher per line: an array here. */
static int add_change(json_object *body, const char *change) {
        _cleanup_json_ json_object *list = json_object_new_array();

        if (!list)
                return -ENOMEM;
        for (const char *p = change; *p;) {
                size_t n = strcspn(p, "\n");

                if (n > 0) {
                        json_object *v = json_object_new_string_len(p, (int) n);

                        if (!v || json_object_array_add(list, v) < 0) {
                                json_object_put(v);
                                return -ENOMEM;
                        }
                }
                p += n;
                if (*p)
                        p++;
        }
        return message_add(body, "change", TAKE_PTR(list));
}

static int encode_release(json_object *body, json_object *reply) {
        const char *id = string_member(reply, "slice"), *change;
        int r;

        if (!id || !slice_id_is_valid(id))
                return -EBADMSG;
        r = add_string(body, "slice", id);
        if (r >= 0)
                r = copy_member(body, reply, "refund");
        if (r >= 0)
                r = copy_member(body, reply, "kept");
        if (r >= 0)
                r = copy_member(body, reply, "currency");
        if (r >= 0) {
                change = string_member(reply, "change");
                r = add_change(body, change ?: "");
        }
        if (r >= 0)
                r = copy_member(body, reply, "receipt");
        if (r >= 0)
                r = copy_member(body, reply, "released_before");
        return r;
}

/* The members of reply named, each copied when present. */
static int copy_members(json_object *body, json_object *reply, const char *const *keys) {
        int r = 0;

        for (size_t i = 0; r >= 0 && keys[i]; i++)
                r = copy_member(body, reply, keys[i]);
        return r;
}

/* The slice id the reply names, a valid one: else -EBADMSG. */
static int add_slice_id(json_object *body, json_object *reply) {
        const char *id = string_member(reply, "slice");

        if (!id || !slice_id_is_valid(id))
                return -EBADMSG;
        return add_string(body, "slice", id);
}

/* A claim paid: the key, the amount and the change (an array, as a
 * release's). */
static int encode_claim(json_object *body, json_object *reply) {
        static const char *const keys[] = { "funder", "claimed", "currency", NULL };
        const char *change = string_member(reply, "change");
        int r;

        r = add_slice_id(body, reply);
        if (r >= 0)
                r = copy_members(body, reply, keys);
        if (r >= 0)
                r = add_change(body, change ?: "");
        return r;
}

/* Every member but "ok": the positions (and what the investors' part
 * adds to them) as prepayd tells them; none is the host's bookkeeping. */
static int encode_funders(json_object *body, json_object *reply) {
        int r;

        if (!json_object_is_type(json_object_object_get(reply, "funders"), json_type_array))
                return -EBADMSG;
        r = add_slice_id(body, reply);
        json_object_object_foreach(reply, key, v) {
                (void) v;
                if (r >= 0 && !streq(key, "ok") && !streq(key, "slice"))
                        r = copy_member(body, reply, key);
        }
        return r;
}

/* The points and events as prepayd bounded and filtered them. */
static int encode_history(json_object *body, json_object *reply) {
        static const char *const keys[] = { "currency", "public", "created_usec", "released",
                                            "credited", "points", "events", "events_before", NULL };
        int r;

        if (!json_object_is_type(json_object_object_get(reply, "points"), json_type_array))
                return -EBADMSG;
        r = add_slice_id(body, reply);
        return r < 0 ? r : copy_members(body, reply, keys);
}

static int encode_pay(json_object *body, json_object *reply) {
        static const char *const keys[] = { "paid",    "currency", "to_investors", "to_slice",
                                            "balance", "investors", "receipt",     NULL };
        int r;

        r = add_slice_id(body, reply);
        if (r >= 0)
                r = copy_members(body, reply, keys);
        return r;
}

static int encode_bid(json_object *body, json_object *reply) {
        const char *change = string_member(reply, "change");
        int r;

        if (!json_object_is_type(json_object_object_get(reply, "bid"), json_type_object))
                return -EBADMSG;
        r = add_slice_id(body, reply);
        if (r >= 0)
                r = copy_member(body, reply, "bid");
        if (r >= 0 && change)
                r = add_change(body, change);
        /* The bid token, which alone fetches a losing bid's change. */
        if (r >= 0 && string_member(reply, "token"))
                r = copy_member(body, reply, "token");
        return r;
}

/* A bid's outcome: the bid, with its change (one voucher per line in
 * the reply) as a list once returned. */
static int encode_outcome(json_object *body, json_object *reply) {
        json_object *bid = json_object_object_get(reply, "bid"), *copy = NULL;
        const char *change;
        int r;

        if (!json_object_is_type(bid, json_type_object))
                return -EBADMSG;
        r = add_slice_id(body, reply);
        if (r < 0)
                return r;
        r = json_object_deep_copy(bid, &copy, NULL);
        if (r < 0)
                return -ENOMEM;
        /* The list is made before it replaces the text it is read from. */
        change = string_member(copy, "change");
        if (change)
                r = add_change(copy, change);
        if (r < 0) {
                json_object_put(copy);
                return r;
        }
        return message_add(body, "bid", copy);
}

static int encode_ok(const struct api_call *c, json_object *reply, json_object *body, char **ret_location) {
        switch (c->route) {
        case API_PRICES:
                return encode_prices(body, reply);
        case API_IMAGES:
                if (!json_object_is_type(json_object_object_get(reply, "images"), json_type_array))
                        return -EBADMSG;
                return copy_member(body, reply, "images");
        case API_QUOTE:
                return encode_quote(body, reply);
        case API_CREATE:
                return encode_create(body, reply, ret_location);
        case API_TOPUP:
                return encode_topup(body, reply);
        case API_STATUS:
        case API_KILL:
                return add_view(body, reply);
        case API_EVENTS:
                return 0;
        case API_RELEASE:
                return encode_release(body, reply);
        case API_CLAIM:
                return encode_claim(body, reply);
        case API_FUNDERS:
                return encode_funders(body, reply);
        case API_HISTORY:
                return encode_history(body, reply);
        case API_PAY:
                return encode_pay(body, reply);
        case API_SPONSOR_BID:
                return encode_bid(body, reply);
        case API_SPONSOR_OUTCOME:
                return encode_outcome(body, reply);
        default:
                return -EINVAL;
        }
}

/* {"ok": false, "error", "code"}: the status of its code. */
static int encode_refusal(json_object *reply, json_object **ret_body) {
        _cleanup_json_ json_object *body = NULL;
        const char *error = string_member(reply, "error"), *code = string_member(reply, "code");
        int r;

        if (!error || !error[0])
                error = "The host refused the request without saying why";
        if (!code)
                return refuse(ret_body, "bad_gateway",
                              "The host's prepayd refused the request without a code (is it older than the "
                              "gateway?): %s",
                              error);
        if (!code_is_known(code))
                code = "internal";
        body = refusal(code, error);
        if (!body)
                return 500;
        if (streq(code, "payment_required")) {
                r = copy_member(body, reply, "missing");
                if (r >= 0)
                        r = copy_member(body, reply, "total");
                if (r >= 0)
                        r = copy_member(body, reply, "currency");
                if (r >= 0)
                        r = api_money_to_strings(body);
                if (r < 0)
                        return 500;
        }
        *ret_body = TAKE_PTR(body);
        return api_status_of_code(code);
}

int api_encode_reply(const struct api_call *c, json_object *reply, json_object **ret_body, char **ret_location) {
        _cleanup_json_ json_object *body = NULL;
        _cleanup_(freep) char *location = NULL;
        json_object *ok;
        int r;

        if (!c || !ret_body || !ret_location)
                return 500;
        *ret_body = NULL;
        *ret_location = NULL;
        if (!reply)
                return refuse(ret_body, "unavailable", "The host's prepayd did not answer: try again later");
        if (!json_object_is_type(reply, json_type_object) || !json_object_object_get_ex(reply, "ok", &ok) ||
            !json_object_is_type(ok, json_type_boolean))
                return refuse(ret_body, "bad_gateway", "The host's prepayd sent a reply that is not one");
        if (!json_object_get_boolean(ok))
                return encode_refusal(reply, ret_body);

        body = json_object_new_object();
        if (!body)
                return 500;
        r = encode_ok(c, reply, body, &location);
        if (r >= 0)
                r = api_money_to_strings(body);
        if (r == -ENOMEM)
                return 500;
        if (r < 0)
                return refuse(ret_body, "bad_gateway", "The host's prepayd sent a reply this gateway cannot read");

        *ret_body = TAKE_PTR(body);
        *ret_location = TAKE_PTR(location);
        return *ret_location ? 201 : 200;
}

/* ---- events ---- */

#define EVENT_NAME_MAX 32

static bool event_name_is_valid(const char *s) {
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz_-");

        return n >= 1 && n <= EVENT_NAME_MAX && s[n] == 0;
}

int api_encode_event(json_object *datagram, char **ret_text) {
        _cleanup_json_ json_object *event = NULL;
        json_object *e;
        const char *kind, *data;
        char id[32] = "";
        uint64_t seq;
        int r;

        if (!ret_text)
                return -EINVAL;
        if (!json_object_is_type(datagram, json_type_object) || !json_object_object_get_ex(datagram, "event", &e) ||
            !json_object_is_type(e, json_type_object))
                return -EINVAL;
        /* The event's name is a line of the stream: only letters, '_' and
         * '-', so nothing in it can start another line or field. */
        kind = string_member(e, "kind");
        if (!kind || !event_name_is_valid(kind))
                return -EINVAL;
        if (u64_member(e, "seq", &seq))
                snprintf(id, sizeof(id), "id: %" PRIu64 "\n", seq);

        if (json_object_deep_copy(e, &event, NULL) < 0)
                return -ENOMEM;
        strip_host_details(event);
        r = api_money_to_strings(event);
        if (r < 0)
                return r;
        /* json-c escapes every control character in strings: the data is
         * one line. */
        data = json_object_to_json_string_ext(event, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!data)
                return -ENOMEM;
        if (strpbrk(data, "\r\n"))
                return -EINVAL;
        if (asprintf(ret_text, "event: %s\n%sdata: %s\n\n", kind, id, data) < 0)
                return -ENOMEM;
        return 0;
}
