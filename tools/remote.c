/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay --host, the pure half: a control request -> the HTTP API's call
 * for it, the answer -> the control reply, Server-Sent Events, --host and
 * --pin. http.c does the I/O with libcurl. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/api.h"
#include "common/encoding.h"
#include "common/message.h"
#include "common/money.h"
#include "common/util.h"
#include "remote.h"

#define REMOTE_JSON_DEPTH 16

static int why(const char **ret_why, const char *s, int r) {
        if (ret_why)
                *ret_why = s;
        return r;
}

/* ---- --host ---- */

static bool host_name_ok(const char *s, size_t n) {
        if (n == 0 || n >= REMOTE_HOST_MAX || s[0] == '-' || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && s[i] != '-' && s[i] != '.')
                        return false;
        return true;
}

static bool ipv6_ok(const char *s, size_t n) {
        /* Inside the brackets: hex digits, ':' and '.' (an IPv4 tail); the
         * resolver judges the rest. No zone id: "%" would need escaping. */
        if (n < 2 || n > 45)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isxdigit((unsigned char) s[i]) && s[i] != ':' && s[i] != '.')
                        return false;
        return memchr(s, ':', n) != NULL;
}

int remote_host_parse(const char *url, struct remote_host *ret, const char **ret_why) {
        struct remote_host h = { .port = 443 };
        const char *p, *host, *end;
        size_t n;

        if (!url || strncasecmp(url, "https://", 8) != 0)
                return why(ret_why, strncasecmp(strempty(url), "http://", 7) == 0
                                            ? "https://HOST[:PORT] (plain HTTP is not offered: vouchers and tokens "
                                              "are secrets)"
                                            : "https://HOST[:PORT]", -EINVAL);
        host = p = url + 8;
        if (*p == '[') {
                end = strchr(p, ']');
                if (!end || !ipv6_ok(p + 1, (size_t) (end - p - 1)))
                        return why(ret_why, "a host name, an IPv4 address or an IPv6 address in brackets", -EINVAL);
                p = end + 1;
        } else {
                p += strcspn(p, ":/?#@");
                if (*p == '@')
                        return why(ret_why, "no user name in the URL", -EINVAL);
                if (!host_name_ok(host, (size_t) (p - host)))
                        return why(ret_why, "a host name, an IPv4 address or an IPv6 address in brackets", -EINVAL);
        }
        n = (size_t) (p - host);
        memcpy(h.host, host, n);
        h.host[n] = 0;
        for (char *c = h.host; *c; c++)
                *c = (char) tolower((unsigned char) *c);

        if (*p == ':') {
                char *e;
                unsigned long port;

                p++;
                if (!isdigit((unsigned char) *p))
                        return why(ret_why, "a port of 1 to 65535 after ':'", -EINVAL);
                errno = 0;
                port = strtoul(p, &e, 10);
                if (errno || port == 0 || port > 65535 || e - p > 5)
                        return why(ret_why, "a port of 1 to 65535 after ':'", -EINVAL);
                h.port = (uint16_t) port;
                p = e;
        }
        if (*p == '/')
                p++;
        if (*p)
                return why(ret_why, "https://HOST[:PORT] and nothing after it (the API's paths are its own)",
                           -EINVAL);

        snprintf(h.origin, sizeof(h.origin), "https://%s:%u", h.host, h.port);
        snprintf(h.key, sizeof(h.key), "%s:%u", h.host, h.port);
        *ret = h;
        return 0;
}

/* ---- --pin ---- */

int remote_pin_parse(const char *pin, char ret[static REMOTE_PIN_MAX]) {
        uint8_t digest[32];
        char b64[BASE64_LEN(32) + 1];
        const char *v;
        size_t size = 0;

        if (!pin)
                return -EINVAL;
        if (strneq(pin, "sha256//", 8))
                v = pin + 8;
        else if (strneq(pin, "sha256:", 7))
                v = pin + 7;
        else
                return -EINVAL;

        if (strlen(v) == 64) {
                if (hex_decode(v, digest, sizeof(digest)) < 0)
                        return -EINVAL;
        } else if (base64_decode(v, strlen(v), digest, sizeof(digest), &size) < 0 || size != sizeof(digest))
                return -EINVAL;

        snprintf(ret, REMOTE_PIN_MAX, "sha256//%s", base64_encode(digest, sizeof(digest), b64));
        return 0;
}

/* ---- sizes as the API takes them ---- */

/* 1500 -> "1.5", 2000 -> "2" (parse_cpus). */
static void format_cpus_text(char *buf, size_t n, uint64_t milli) {
        int len = snprintf(buf, n, "%" PRIu64 ".%03" PRIu64, milli / 1000, milli % 1000);

        while (len > 0 && buf[len - 1] == '0')
                buf[--len] = 0;
        if (len > 0 && buf[len - 1] == '.')
                buf[--len] = 0;
}

/* Exact: the largest of T, G, M, K that divides it, else bytes (parse_size). */
static void format_size_text(char *buf, size_t n, uint64_t bytes) {
        static const char suffix[] = "TGMK";

        for (size_t i = 0; i < 4; i++) {
                uint64_t unit = UINT64_C(1) << (10 * (4 - i));

                if (bytes >= unit && bytes % unit == 0) {
                        snprintf(buf, n, "%" PRIu64 "%c", bytes / unit, suffix[i]);
                        return;
                }
        }
        snprintf(buf, n, "%" PRIu64, bytes);
}

/* Exact: "2h", "90min", "45s", "1500ms", "7us" (parse_duration). */
static void format_duration_text(char *buf, size_t n, uint64_t usec) {
        static const struct {
                uint64_t usec;
                const char *unit;
        } units[] = {
                { 3600 * USEC_PER_SEC, "h" }, { 60 * USEC_PER_SEC, "min" }, { USEC_PER_SEC, "s" },
                { USEC_PER_MSEC, "ms" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(units); i++)
                if (usec % units[i].usec == 0) {
                        snprintf(buf, n, "%" PRIu64 "%s", usec / units[i].usec, units[i].unit);
                        return;
                }
        snprintf(buf, n, "%" PRIu64 "us", usec);
}

static int add_string(json_object *o, const char *key, const char *value) {
        json_object *v = json_object_new_string(value);

        if (!v || json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* A u64 member of req, present and not 0, as API text into body. */
static int add_size(json_object *body, const char *key, json_object *req, const char *from,
                    void (*format)(char *, size_t, uint64_t)) {
        char buf[64];
        uint64_t v;
        int r;

        r = message_get_u64(req, from, &v);
        if (r == -ENOENT || (r >= 0 && v == 0))
                return 0;
        if (r < 0)
                return -EINVAL;
        format(buf, sizeof(buf), v);
        return add_string(body, key, buf);
}

/* A member of req copied as it is, if present. */
static int copy_member(json_object *body, const char *key, json_object *req, const char *from) {
        json_object *v;

        if (!json_object_object_get_ex(req, from, &v))
                return 0;
        if (json_object_object_add(body, key, json_object_get(v)) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

/* "voucher" or "vouchers", as the request has it. */
static int add_vouchers(json_object *body, json_object *req) {
        int r;

        r = copy_member(body, "voucher", req, "voucher");
        if (r >= 0)
                r = copy_member(body, "vouchers", req, "vouchers");
        return r;
}

/* Limits the API has no field for: only "memory_max" of "limits" has one. */
static bool limits_beyond_api(json_object *req) {
        json_object *limits;
        uint64_t v;

        if (!json_object_object_get_ex(req, "limits", &limits))
                return false;
        json_object_object_foreach(limits, key, val) {
                (void) val;
                if (!streq(key, "memory_max") && message_get_u64(limits, key, &v) >= 0 && v > 0)
                        return true;
        }
        return false;
}

/* The key file's text without the line end it finishes with: one line,
 * as a JSON field of the API is checked. */
static int add_ssh_key(json_object *vm, json_object *req) {
        const char *key = NULL;
        json_object *v;
        size_t n;
        int r;

        r = message_get_string(req, "ssh_key", &key);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        n = strlen(key);
        while (n > 0 && strchr(" \t\r\n", key[n - 1]))
                n--;
        v = json_object_new_string_len(key, (int) n);
        if (!v || json_object_object_add(vm, "ssh_key", v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int create_body(json_object *req, json_object *body, const char **ret_why) {
        json_object *limits = NULL, *vm;
        const char *image = NULL, *action = NULL;
        bool b = false;
        int r;

        if (message_get_bool(req, "attach", &b) >= 0 && b)
                return why(ret_why,
                           "a command runs on a local prepayd only: over HTTPS buy a VM (--vm IMAGE --ssh-key FILE) "
                           "or a unit the operator offers (--unit NAME)",
                           -EOPNOTSUPP);
        if (limits_beyond_api(req))
                return why(ret_why, "the HTTP API takes --cpus, --memory, --hours and --disk, not --pids or "
                           "--cpu-period", -EOPNOTSUPP);
        if (!json_object_object_get_ex(req, "voucher", NULL) && !json_object_object_get_ex(req, "vouchers", NULL))
                return why(ret_why, "a slice bought over HTTPS needs a voucher (--voucher FILE)", -EOPNOTSUPP);

        r = add_vouchers(body, req);
        if (r >= 0)
                r = add_size(body, "cpus", req, "cpus_milli", format_cpus_text);
        if (r >= 0 && json_object_object_get_ex(req, "limits", &limits))
                r = add_size(body, "memory", limits, "memory_max", format_size_text);
        if (r >= 0)
                r = add_size(body, "duration", req, "duration_usec", format_duration_text);
        if (r >= 0 && message_get_bool(req, "size_to_funds", &b) >= 0 && b)
                r = json_object_object_add(body, "size_to_funds", json_object_new_boolean(true));
        if (r >= 0 && message_get_string(req, "exhausted_action", &action) >= 0)
                r = add_string(body, "on_exhausted", action);
        if (r >= 0)
                r = copy_member(body, "unit", req, "unit");
        if (r >= 0)
                r = copy_member(body, "funder_key", req, "funder_key");
        if (r >= 0)
                r = copy_member(body, "donation_model", req, "donation_model");
        if (r < 0)
                return why(ret_why, "a field of the request is not of its form", r);

        if (message_get_string(req, "vm_image", &image) < 0)
                return 0;
        vm = json_object_new_object();
        if (!vm || json_object_object_add(body, "vm", vm) < 0) {
                json_object_put(vm);
                return -ENOMEM;
        }
        r = add_string(vm, "image", image);
        if (r >= 0)
                r = add_ssh_key(vm, req);
        if (r >= 0)
                r = add_size(vm, "disk", req, "disk_size", format_size_text);
        return r < 0 ? why(ret_why, "a field of the request is not of its form", r) : 0;
}

static int quote_body(json_object *req, json_object *body) {
        int r;

        r = add_size(body, "cpus", req, "cpus_milli", format_cpus_text);
        if (r >= 0)
                r = add_size(body, "memory", req, "memory_max", format_size_text);
        if (r >= 0)
                r = add_size(body, "duration", req, "duration_usec", format_duration_text);
        if (r >= 0)
                r = add_size(body, "disk", req, "disk_size", format_size_text);
        return r;
}

/* The ops the API offers, and how. */
static const struct {
        const char *op, *method, *suffix; /* suffix: after /v1/slices/ID; NULL: no slice in the path */
        const char *path;                 /* for the ops without a slice */
} routes[] = {
        { "images", "GET", NULL, "/v1/images" },
        { "quote", "POST", NULL, "/v1/quote" },
        { "create", "POST", NULL, "/v1/slices" },
        { "topup", "POST", "/topup", NULL },
        { "status", "GET", "", NULL },
        { "events", "GET", "/events", NULL },
        { "release", "POST", "/release", NULL },
        { "kill", "POST", "/kill", NULL },
        { "claim", "POST", "/claim", NULL },
        { "funders", "GET", "/funders", NULL },
        { "history", "GET", "/history", NULL },
        { "pay", "POST", "/pay", NULL },
        { "sponsor_bid", "POST", "/sponsor/bids", NULL },
        { "sponsor_outcome", "POST", "/sponsor/outcome", NULL },
};

static int request_body(const char *op, json_object *req, json_object *body, const char **ret_why) {
        bool keep = false;
        int r;

        if (streq(op, "create"))
                return create_body(req, body, ret_why);
        if (streq(op, "quote"))
                return quote_body(req, body) < 0 ? why(ret_why, "a size of the quote is not of its form", -EINVAL) : 0;
        if (streq(op, "topup") || streq(op, "pay") || streq(op, "sponsor_bid")) {
                r = add_vouchers(body, req);
                if (r >= 0)
                        r = copy_member(body, "funder_key", req, "funder_key");
                if (r >= 0 && streq(op, "sponsor_bid"))
                        r = copy_member(body, "name", req, "name");
                if (r >= 0 && streq(op, "sponsor_bid"))
                        r = copy_member(body, "url", req, "url");
                return r;
        }
        if (streq(op, "claim"))
                return copy_member(body, "claim", req, "claim");
        if (streq(op, "sponsor_outcome"))
                return copy_member(body, "bid", req, "bid");
        if (streq(op, "release") && message_get_bool(req, "keep", &keep) >= 0 && keep)
                return why(ret_why, "release --keep is not offered over HTTPS: release it for its change", -EOPNOTSUPP);
        return 0; /* release and kill: an empty object */
}

static bool line_ok(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n > max)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x21 || s[i] > 0x7e)
                        return false;
        return true;
}

static bool key_ok(const char *s) {
        return line_ok(s, REMOTE_KEY_MAX);
}

int remote_call_from_request(json_object *req, struct remote_call *ret, const char **ret_why) {
        struct remote_call c = {};
        const char *op = NULL, *slice = NULL, *token = NULL, *id = NULL, *proof = NULL;
        json_object *body = NULL;
        size_t i;
        int r;

        if (message_get_string(req, "op", &op) < 0)
                return why(ret_why, "a request without an op", -EINVAL);
        for (i = 0; i < ARRAY_SIZE(routes); i++)
                if (streq(op, routes[i].op))
                        break;
        if (i == ARRAY_SIZE(routes))
                return why(ret_why, "this runs on the host itself only, over prepayd's socket", -EOPNOTSUPP);
        c.op = routes[i].op;
        c.method = routes[i].method;
        c.stream = streq(op, "events");

        if (routes[i].suffix) {
                if (message_get_string(req, "slice", &slice) < 0)
                        return why(ret_why, c.stream ? "events over HTTPS are one slice's: name it"
                                                     : "a request about a slice without one",
                                   c.stream ? -EOPNOTSUPP : -EINVAL);
                if (!slice_id_is_valid(slice))
                        return why(ret_why, "a slice id that is not one", -EINVAL);
                snprintf(c.path, sizeof(c.path), "/v1/slices/%s%s", slice, routes[i].suffix);
        } else
                snprintf(c.path, sizeof(c.path), "%s", routes[i].path);

        if (message_get_string(req, "token", &token) >= 0) {
                /* It goes into a header line: one line of printable ASCII. */
                if (!key_ok(token) || strlen(token) > 256)
                        return why(ret_why, "an owner token that is not one line of printable ASCII", -EINVAL);
                c.token = strdup(token);
                if (!c.token)
                        return -ENOMEM;
        }
        if (message_get_string(req, "funder_proof", &proof) >= 0) {
                /* A header line too, and a statement's text is base64url. */
                if (!line_ok(proof, 512)) {
                        remote_call_done(&c);
                        return why(ret_why, "a funder's proof that is not one line of printable ASCII", -EINVAL);
                }
                c.funder_proof = strdup(proof);
                if (!c.funder_proof) {
                        remote_call_done(&c);
                        return -ENOMEM;
                }
        }
        if (message_get_string(req, "request_id", &id) >= 0) {
                if (!key_ok(id)) {
                        remote_call_done(&c);
                        return why(ret_why, "a request id of 1 to 128 printable ASCII characters without spaces",
                                   -EINVAL);
                }
                snprintf(c.idempotency_key, sizeof(c.idempotency_key), "%s", id);
        }

        if (streq(c.method, "POST")) {
                const char *text;

                body = json_object_new_object();
                if (!body) {
                        remote_call_done(&c);
                        return -ENOMEM;
                }
                r = request_body(op, req, body, ret_why);
                if (r < 0) {
                        json_object_put(body);
                        remote_call_done(&c);
                        return r;
                }
                text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
                c.body = text ? strdup(text) : NULL;
                json_object_put(body);
                if (!c.body) {
                        remote_call_done(&c);
                        return -ENOMEM;
                }
        }
        *ret = c;
        return 0;
}

void remote_call_done(struct remote_call *c) {
        if (!c)
                return;
        free(c->body);
        if (c->token)
                explicit_bzero(c->token, strlen(c->token));
        free(c->token);
        free(c->funder_proof);
        *c = (struct remote_call) {};
}

/* ---- replies ---- */

static int parse_json(const char *text, size_t size, json_object **ret) {
        struct json_tokener *tok;
        json_object *o;
        bool ok;

        if (size == 0 || size > REMOTE_REPLY_MAX || size > INT32_MAX || memchr(text, 0, size))
                return -EBADMSG;
        tok = json_tokener_new_ex(REMOTE_JSON_DEPTH);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS);
        o = json_tokener_parse_ex(tok, text, (int) size);
        ok = o && json_tokener_get_error(tok) == json_tokener_success;
        /* Only white space may follow the object. */
        for (size_t i = ok ? json_tokener_get_parse_end(tok) : size; i < size; i++)
                if (!strchr(" \t\r\n", text[i]))
                        ok = false;
        json_tokener_free(tok);
        if (!ok || !json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

/* Printable ASCII only, at most n - 1 bytes: the server's text reaches a
 * terminal, where an escape sequence would act. */
static void printable(char *buf, size_t n, const char *s) {
        size_t i;

        for (i = 0; s[i] && i + 1 < n; i++)
                buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
        buf[i] = 0;
}

static const char *status_text(long status) {
        switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 409: return "Conflict";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        default: return "";
        }
}

/* An amount of a 402, checked: the server's text is printed. */
static const char *amount_of(json_object *o, const char *key, char *buf, size_t n) {
        const char *s = NULL;
        int64_t v;

        if (message_get_string(o, key, &s) >= 0 && money_parse(s, &v) >= 0)
                return money_format(buf, n, v);
        return NULL;
}

static int refusal(long status, json_object *body, unsigned retry_after, json_object **ret) {
        char sentence[512], text[768], code[32] = "", a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX];
        const char *error = NULL, *c = NULL, *currency = NULL, *total, *missing;
        json_object *reply;
        int len;

        if (body && message_get_string(body, "error", &error) >= 0 && error[0])
                printable(sentence, sizeof(sentence), error);
        else
                snprintf(sentence, sizeof(sentence),
                         "The server answered %ld %s without the API's JSON body: is it a prepay gateway?", status,
                         status_text(status));
        if (body && message_get_string(body, "code", &c) >= 0)
                printable(code, sizeof(code), c);

        len = snprintf(text, sizeof(text), "%s", sentence);
        if (status == 402 && body) {
                char cur[8] = "";

                if (message_get_string(body, "currency", &currency) >= 0 && currency_is_valid(currency))
                        snprintf(cur, sizeof(cur), " %s", currency);
                total = amount_of(body, "total", a, sizeof(a));
                missing = amount_of(body, "missing", b, sizeof(b));
                if (total && missing)
                        len += snprintf(text + len, sizeof(text) - (size_t) len, " (total %s%s, missing %s%s)", total,
                                        cur, missing, cur);
        }
        if (retry_after > 0 && (status == 429 || status == 503) && len < (int) sizeof(text))
                snprintf(text + len, sizeof(text) - (size_t) len, " (try again in %u s)", retry_after);

        reply = json_object_new_object();
        if (!reply)
                return -ENOMEM;
        json_object_object_add(reply, "ok", json_object_new_boolean(false));
        json_object_object_add(reply, "error", json_object_new_string(text));
        if (code[0])
                json_object_object_add(reply, "code", json_object_new_string(code));
        json_object_object_add(reply, "status", json_object_new_int64(status));
        if (retry_after > 0)
                json_object_object_add(reply, "retry_after", json_object_new_int64(retry_after));
        *ret = reply;
        return 0;
}

/* "PREFIX" and base64url: a voucher (pv1-), an owner token (pt-). */
static bool token_of(const char *s, const char *prefix) {
        size_t p = strlen(prefix), n;

        if (!strneq(s, prefix, p))
                return false;
        n = strlen(s + p);
        return n > 0 && n <= 4096 && strspn(s + p, BASE64URL_ALPHABET) == n;
}

/* The API sends change as an array of voucher texts; prepayd (and so the
 * verbs) as one string, a voucher a line. Each is a voucher's text: it is
 * printed and written to a file. */
static int join_change(json_object *reply) {
        json_object *change, *s;
        char *text = NULL;
        size_t len = 0, n;

        if (!json_object_object_get_ex(reply, "change", &change))
                return 0;
        if (!json_object_is_type(change, json_type_array) || json_object_array_length(change) == 0)
                return -EBADMSG;
        n = json_object_array_length(change);
        for (size_t i = 0; i < n; i++) {
                json_object *v = json_object_array_get_idx(change, i);
                const char *t = json_object_get_string(v);
                size_t tl;
                char *p;

                if (!json_object_is_type(v, json_type_string) || !token_of(t, "pv1-")) {
                        free(text);
                        return -EBADMSG;
                }
                tl = strlen(t);
                p = realloc(text, len + tl + 2);
                if (!p) {
                        free(text);
                        return -ENOMEM;
                }
                text = p;
                if (i > 0)
                        text[len++] = '\n';
                memcpy(text + len, t, tl + 1);
                len += tl;
        }
        s = json_object_new_string(text);
        free(text);
        if (!s || json_object_object_add(reply, "change", s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        return 0;
}

/* The "ssh" object of a create: where the buyer connects, as the gateway
 * says, into the slice's "vm" record (whose host is prepayd's idea, which
 * may be a name only the host's own network knows). */
static int merge_ssh(json_object *reply) {
        static const struct {
                const char *from, *to;
        } keys[] = { { "host", "ssh_host" }, { "port", "ssh_port" }, { "user", "ssh_user" }, { "host_key", "host_key" } };
        json_object *ssh, *slice, *vm;

        if (!json_object_object_get_ex(reply, "ssh", &ssh))
                return 0;
        if (!json_object_is_type(ssh, json_type_object) || !json_object_object_get_ex(reply, "slice", &slice) ||
            !json_object_object_get_ex(slice, "vm", &vm) || !json_object_is_type(vm, json_type_object))
                return -EBADMSG;
        for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
                json_object *v;

                if (json_object_object_get_ex(ssh, keys[i].from, &v) &&
                    json_object_object_add(vm, keys[i].to, json_object_get(v)) < 0) {
                        json_object_put(v);
                        return -ENOMEM;
                }
        }
        return 0;
}

/* A quote's reply without its sizes: those asked (0 where the daemon
 * chose: it did not say). */
static int quote_sizes(json_object *reply, json_object *req) {
        static const char *const keys[] = { "cpus_milli", "memory_max", "duration_usec", "disk_size" };

        for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
                if (!json_object_object_get_ex(reply, keys[i], NULL) && copy_member(reply, keys[i], req, keys[i]) < 0)
                        return -ENOMEM;
        return 0;
}

/* Control characters in every string (C0, DEL, and C1 as UTF-8) become
 * '?': what the gateway sends is printed, and a terminal acts on escape
 * sequences. Other UTF-8 (an image's description) stays. */
static void defang(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_object: {
                json_object_object_foreach(o, key, v) {
                        (void) key;
                        defang(v);
                }
                return;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        defang(json_object_array_get_idx(o, i));
                return;
        case json_type_string: {
                const char *s = json_object_get_string(o);
                size_t n = (size_t) json_object_get_string_len(o);
                bool bad = false;
                char *copy;

                for (size_t i = 0; i < n && !bad; i++)
                        bad = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ||
                              ((unsigned char) s[i] == 0xc2 && i + 1 < n && (unsigned char) s[i + 1] >= 0x80 &&
                               (unsigned char) s[i + 1] <= 0x9f);
                if (!bad)
                        return;
                copy = malloc(n + 1);
                if (!copy)
                        return; /* left as it is: the caller checks what it prints */
                for (size_t i = 0; i < n; i++) {
                        unsigned char ch = (unsigned char) s[i];

                        if (ch == 0xc2 && i + 1 < n && (unsigned char) s[i + 1] >= 0x80 &&
                            (unsigned char) s[i + 1] <= 0x9f) {
                                copy[i] = copy[i + 1] = '?';
                                i++;
                        } else
                                copy[i] = ch < 0x20 || ch == 0x7f ? '?' : (char) ch;
                }
                copy[n] = 0;
                (void) json_object_set_string_len(o, copy, (int) n);
                free(copy);
                return;
        }
        default:
                return;
        }
}

int remote_reply_from_http(json_object *req, const struct remote_call *c, long status, const char *body,
                           size_t size, unsigned retry_after, json_object **ret, const char **ret_why) {
        json_object *o = NULL;
        int r;

        r = parse_json(body, size, &o);
        if (r == -ENOMEM)
                return r;
        if (status < 200 || status > 299) {
                r = refusal(status, o, retry_after, ret);
                json_object_put(o);
                return r;
        }
        if (r < 0)
                return why(ret_why, "its body is not a JSON object", -EBADMSG);

        /* -EINVAL, or -ERANGE from money_parse(): not an amount. */
        r = api_money_from_strings(o);
        if (r < 0 && r != -ENOMEM)
                r = why(ret_why, "an amount in it is not one", -EBADMSG);
        if (r >= 0)
                defang(o);
        if (r >= 0 && streq(c->op, "create")) {
                const char *token = NULL;

                /* Shown once, printed and saved in a file. */
                if (message_get_string(o, "token", &token) < 0 || !token_of(token, "pt-"))
                        r = why(ret_why, "its owner token is missing or not one", -EBADMSG);
        }
        if (r >= 0 && (streq(c->op, "release") || streq(c->op, "claim") || streq(c->op, "sponsor_bid"))) {
                r = join_change(o);
                if (r == -EBADMSG)
                        why(ret_why, "its change is not a list of vouchers", r);
        }
        /* A returned bid's change is in its bid, as prepayd's reply has it. */
        if (r >= 0 && streq(c->op, "sponsor_outcome") &&
            json_object_is_type(json_object_object_get(o, "bid"), json_type_object)) {
                r = join_change(json_object_object_get(o, "bid"));
                if (r == -EBADMSG)
                        why(ret_why, "its change is not a list of vouchers", r);
        }
        if (r >= 0 && streq(c->op, "create")) {
                r = merge_ssh(o);
                if (r == -EBADMSG)
                        why(ret_why, "its \"ssh\" is not an object beside a VM slice", r);
        }
        if (r >= 0 && streq(c->op, "quote"))
                r = quote_sizes(o, req);
        if (r >= 0)
                r = json_object_object_add(o, "ok", json_object_new_boolean(true)) < 0 ? -ENOMEM : 0;
        if (r < 0) {
                json_object_put(o);
                return r;
        }
        *ret = o;
        return 0;
}

/* ---- Server-Sent Events ---- */

void remote_sse_init(struct remote_sse *s) {
        *s = (struct remote_sse) {};
}

void remote_sse_done(struct remote_sse *s) {
        free(s->buf);
        free(s->data);
        remote_sse_init(s);
}

static int sse_append_data(struct remote_sse *s, const char *v, size_t n) {
        size_t need = s->data_len + (s->has_data ? 1 : 0) + n + 1;
        char *p;

        if (need > REMOTE_EVENT_MAX)
                return -EMSGSIZE;
        p = realloc(s->data, need);
        if (!p)
                return -ENOMEM;
        s->data = p;
        if (s->has_data)
                s->data[s->data_len++] = '\n';
        memcpy(s->data + s->data_len, v, n);
        s->data_len += n;
        s->data[s->data_len] = 0;
        s->has_data = true;
        return 0;
}

/* One line (without its end). An empty line ends the event. */
static int sse_line(struct remote_sse *s, int (*on_event)(const char *, const char *, void *), void *userdata) {
        const char *line = s->buf ?: "", *colon, *v;
        size_t n = s->len, field, vn;
        int r = 0;

        if (n == 0) {
                if (s->has_data)
                        r = on_event(s->type[0] ? s->type : "message", s->data, userdata);
                s->type[0] = 0;
                s->data_len = 0;
                s->has_data = false;
                return r;
        }
        if (line[0] == ':')
                return 0; /* a comment: the keep-alive */
        colon = memchr(line, ':', n);
        field = colon ? (size_t) (colon - line) : n;
        v = colon ? colon + 1 : line + n;
        if (v < line + n && *v == ' ')
                v++;
        vn = (size_t) (line + n - v);
        if (field == 4 && strneq(line, "data", 4))
                return sse_append_data(s, v, vn);
        if (field == 5 && strneq(line, "event", 5)) {
                if (vn >= sizeof(s->type))
                        return -EMSGSIZE;
                memcpy(s->type, v, vn);
                s->type[vn] = 0;
        }
        return 0; /* id, retry and the unknown: ignored, as the standard says */
}

int remote_sse_feed(struct remote_sse *s, const char *p, size_t n,
                    int (*on_event)(const char *type, const char *data, void *userdata), void *userdata) {
        for (size_t i = 0; i < n; i++) {
                char ch = p[i];
                int r;

                if (ch == '\n' && s->cr) {
                        s->cr = false;
                        continue; /* the LF of a CR LF */
                }
                s->cr = ch == '\r';
                if (ch == '\r' || ch == '\n') {
                        r = sse_line(s, on_event, userdata);
                        s->len = 0;
                        if (r < 0)
                                return r;
                        continue;
                }
                if (ch == 0)
                        return -EBADMSG;
                if (!s->buf) {
                        s->buf = malloc(REMOTE_EVENT_MAX + 1);
                        if (!s->buf)
                                return -ENOMEM;
                }
                if (s->len >= REMOTE_EVENT_MAX)
                        return -EMSGSIZE;
                s->buf[s->len++] = ch;
                s->buf[s->len] = 0;
        }
        return 0;
}

int remote_event_from_data(const char *data, json_object **ret) {
        json_object *o = NULL, *ev;
        int r;

        r = parse_json(data, strlen(data), &o);
        if (r < 0)
                return r;
        if (json_object_object_get_ex(o, "event", &ev) && json_object_is_type(ev, json_type_object)) {
                json_object_get(ev);
                json_object_put(o);
                o = ev;
        }
        r = api_money_from_strings(o);
        if (r < 0) {
                json_object_put(o);
                return r == -ENOMEM ? r : -EBADMSG;
        }
        defang(o);
        *ret = o;
        return 0;
}

/* ---- tokens and receipts ---- */

int remote_token_name(const char *slice, const struct remote_host *h, char *buf, size_t n) {
        int len;

        if (!slice || !slice_id_is_valid(slice))
                return -EINVAL;
        len = h ? snprintf(buf, n, "%s@%s", slice, h->key) : snprintf(buf, n, "%s", slice);
        return len < 0 || (size_t) len >= n ? -ENOBUFS : 0;
}
