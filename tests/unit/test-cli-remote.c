/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay --host, its pure half (tools/remote.c): --host and --pin, the
 * API call made of each control request, the answers turned back into
 * control replies, Server-Sent Events, token file names. */
#include <ctype.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/message.h"
#include "common/parse.h"
#include "common/util.h"
#include "../../tools/remote.h"

/* ---- --host ---- */

static void test_host_parse(void **state _unused_) {
        static const struct {
                const char *url, *host, *origin, *key;
                uint16_t port;
        } good[] = {
                { "https://example.com", "example.com", "https://example.com:443", "example.com:443", 443 },
                { "https://Gw.Example.COM:8443/", "gw.example.com", "https://gw.example.com:8443", "gw.example.com:8443",
                  8443 },
                { "HTTPS://127.0.0.1:1", "127.0.0.1", "https://127.0.0.1:1", "127.0.0.1:1", 1 },
                { "https://[::1]:65535", "[::1]", "https://[::1]:65535", "[::1]:65535", 65535 },
                { "https://[2001:db8::1]/", "[2001:db8::1]", "https://[2001:db8::1]:443", "[2001:db8::1]:443", 443 },
                { "https://localhost:08443", "localhost", "https://localhost:8443", "localhost:8443", 8443 },
        };
        static const char *const bad[] = {
                "http://example.com", "ftp://example.com", "example.com", "https://", "https://:443",
                "https://example.com:0", "https://example.com:65536", "https://example.com:123456",
                "https://example.com:", "https://example.com:x", "https://example.com:-1",
                "https://example.com/v1", "https://example.com//", "https://user@example.com",
                "https://example.com?x=1", "https://example.com#f", "https://-example.com", "https://.example.com",
                "https://exa mple.com", "https://exa_mple.com", "https://[::1", "https://[]", "https://[fe80::1%eth0]",
                "https://[example.com]", "https://[::1]x", "https://ex\xc3\xa4mple.com", "",
        };
        struct remote_host h;
        const char *why;

        for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
                assert_int_equal(remote_host_parse(good[i].url, &h, NULL), 0);
                assert_string_equal(h.host, good[i].host);
                assert_int_equal(h.port, good[i].port);
                assert_string_equal(h.origin, good[i].origin);
                assert_string_equal(h.key, good[i].key);
        }
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                why = NULL;
                if (remote_host_parse(bad[i], &h, &why) != -EINVAL)
                        fail_msg("remote_host_parse('%s') accepted", bad[i]);
                assert_non_null(why);
        }
        assert_int_equal(remote_host_parse(NULL, &h, NULL), -EINVAL);
        /* Plain HTTP is named as such. */
        assert_int_equal(remote_host_parse("http://example.com", &h, &why), -EINVAL);
        assert_non_null(strstr(why, "plain HTTP"));
}

/* ---- --pin ---- */

static void test_pin_parse(void **state _unused_) {
        /* SHA-256 of "abc": base64 and hex of the same 32 bytes. */
        static const char b64[] = "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=";
        static const char hex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        char pin[REMOTE_PIN_MAX], in[128];
        static const char *const bad[] = {
                "", "sha256:", "sha256//", "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
                "sha1:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
                "sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0",   /* padding missing */
                "sha256:ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0=",  /* base64url */
                "sha256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0= ", /* a space */
                "sha256:YWJj",                                          /* 3 bytes */
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a", /* 63 digits */
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
                "sha256:ba:78:16:bf:8f:01:cf:ea:41:41:40:de:5d:ae:22:23:b0:03:61:a3:96:17:7a:9c:b4:10:ff:61:f2:00:15:ad",
                "SHA256:ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
        };

        snprintf(in, sizeof(in), "sha256:%s", b64);
        assert_int_equal(remote_pin_parse(in, pin), 0);
        assert_string_equal(pin, "sha256//ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        snprintf(in, sizeof(in), "sha256//%s", b64);
        assert_int_equal(remote_pin_parse(in, pin), 0);
        assert_string_equal(pin, "sha256//ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        snprintf(in, sizeof(in), "sha256:%s", hex);
        assert_int_equal(remote_pin_parse(in, pin), 0);
        assert_string_equal(pin, "sha256//ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
        for (size_t i = 0; i < strlen(hex); i++)
                in[7 + i] = (char) toupper(hex[i]);
        assert_int_equal(remote_pin_parse(in, pin), 0);
        assert_string_equal(pin, "sha256//ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (remote_pin_parse(bad[i], pin) != -EINVAL)
                        fail_msg("remote_pin_parse('%s') accepted", bad[i]);
        assert_int_equal(remote_pin_parse(NULL, pin), -EINVAL);
}

/* ---- requests -> calls ---- */

static json_object *parse(const char *text) {
        json_object *o = json_tokener_parse(text);

        assert_non_null(o);
        return o;
}

/* The call made of the request text; its body as compact text. */
static int call_of(const char *request, struct remote_call *ret, const char **ret_why) {
        json_object *req = parse(request);
        int r;

        r = remote_call_from_request(req, ret, ret_why);
        json_object_put(req);
        return r;
}

static void assert_call(const char *request, const char *method, const char *path, const char *body,
                        const char *token, const char *key) {
        struct remote_call c = {};
        const char *why = NULL;

        if (call_of(request, &c, &why) < 0)
                fail_msg("%s refused: %s", request, strna(why));
        assert_string_equal(c.method, method);
        assert_string_equal(c.path, path);
        if (body)
                assert_string_equal(c.body, body);
        else
                assert_null(c.body);
        if (token)
                assert_string_equal(c.token, token);
        else
                assert_null(c.token);
        assert_string_equal(c.idempotency_key, key);
        remote_call_done(&c);
}

static void test_call_create(void **state _unused_) {
        /* What run --vm sends prepayd, and what goes to the gateway. */
        assert_call("{\"version\":1,\"op\":\"create\",\"limits\":{\"memory_max\":1073741824},\"attach\":false,"
                    "\"vm_image\":\"debian-12\",\"ssh_key\":\"ssh-ed25519 AAAA me\\n\",\"disk_size\":10737418240,"
                    "\"cpus_milli\":1500,\"voucher\":\"pv1-x\",\"request_id\":\"0123abcd\","
                    "\"exhausted_action\":\"freeze\",\"size_to_funds\":true,\"duration_usec\":7200000000}",
                    "POST", "/v1/slices",
                    "{\"voucher\":\"pv1-x\",\"cpus\":\"1.5\",\"memory\":\"1G\",\"duration\":\"2h\","
                    "\"size_to_funds\":true,\"on_exhausted\":\"freeze\",\"vm\":{\"image\":\"debian-12\","
                    "\"ssh_key\":\"ssh-ed25519 AAAA me\",\"disk\":\"10G\"}}",
                    NULL, "0123abcd");
        /* A unit, several vouchers, nothing else: the gateway's defaults. */
        assert_call("{\"version\":1,\"op\":\"create\",\"limits\":{},\"attach\":false,\"unit\":\"job.service\","
                    "\"vouchers\":[\"pv1-a\",\"pv1-b\"]}",
                    "POST", "/v1/slices", "{\"vouchers\":[\"pv1-a\",\"pv1-b\"],\"unit\":\"job.service\"}", NULL, "");
        /* Zero sizes are the daemon's choice: left out. */
        assert_call("{\"op\":\"create\",\"limits\":{\"memory_max\":0,\"pids_max\":0},\"cpus_milli\":0,"
                    "\"voucher\":\"pv1-x\",\"unit\":\"u.service\"}",
                    "POST", "/v1/slices", "{\"voucher\":\"pv1-x\",\"unit\":\"u.service\"}", NULL, "");
}

static void test_call_slices(void **state _unused_) {
        assert_call("{\"op\":\"topup\",\"slice\":\"s-0123abcd\",\"voucher\":\"pv1-x\",\"request_id\":\"k1\"}", "POST",
                    "/v1/slices/s-0123abcd/topup", "{\"voucher\":\"pv1-x\"}", NULL, "k1");
        assert_call("{\"op\":\"topup\",\"slice\":\"s-0123abcd\",\"vouchers\":[\"pv1-x\",\"pv1-y\"]}", "POST",
                    "/v1/slices/s-0123abcd/topup", "{\"vouchers\":[\"pv1-x\",\"pv1-y\"]}", NULL, "");
        assert_call("{\"op\":\"status\",\"slice\":\"s-0123abcd\",\"token\":\"pt-abc\"}", "GET", "/v1/slices/s-0123abcd",
                    NULL, "pt-abc", "");
        assert_call("{\"op\":\"status\",\"slice\":\"s-0123abcd\"}", "GET", "/v1/slices/s-0123abcd", NULL, NULL, "");
        assert_call("{\"op\":\"events\",\"slice\":\"s-0123456789abcdef\",\"token\":\"pt-abc\"}", "GET",
                    "/v1/slices/s-0123456789abcdef/events", NULL, "pt-abc", "");
        assert_call("{\"op\":\"release\",\"slice\":\"s-0123abcd\",\"token\":\"pt-abc\",\"request_id\":\"r\"}", "POST",
                    "/v1/slices/s-0123abcd/release", "{}", "pt-abc", "r");
        assert_call("{\"op\":\"kill\",\"slice\":\"s-0123abcd\",\"token\":\"pt-abc\"}", "POST",
                    "/v1/slices/s-0123abcd/kill", "{}", "pt-abc", "");
        assert_call("{\"op\":\"images\"}", "GET", "/v1/images", NULL, NULL, "");
        assert_call("{\"op\":\"quote\",\"cpus_milli\":125,\"memory_max\":1610612736,\"duration_usec\":5400000000,"
                    "\"disk_size\":1000}",
                    "POST", "/v1/quote", "{\"cpus\":\"0.125\",\"memory\":\"1536M\",\"duration\":\"90min\",\"disk\":\"1000\"}",
                    NULL, "");
        assert_call("{\"op\":\"quote\"}", "POST", "/v1/quote", "{}", NULL, "");
}

/* Funders: a key with the money, a claim in a body, a proof in a header
 * (never in the body, never with the token). */
static void test_call_funders(void **state _unused_) {
        struct remote_call c = {};

        assert_call("{\"op\":\"topup\",\"slice\":\"s-0123abcd\",\"voucher\":\"pv1-x\",\"funder_key\":\"MCow\"}",
                    "POST", "/v1/slices/s-0123abcd/topup", "{\"voucher\":\"pv1-x\",\"funder_key\":\"MCow\"}", NULL, "");
        assert_call("{\"op\":\"create\",\"limits\":{},\"unit\":\"u.service\",\"voucher\":\"pv1-x\","
                    "\"funder_key\":\"MCow\",\"donation_model\":\"lifo\"}",
                    "POST", "/v1/slices",
                    "{\"voucher\":\"pv1-x\",\"unit\":\"u.service\",\"funder_key\":\"MCow\",\"donation_model\":\"lifo\"}",
                    NULL, "");
        assert_call("{\"op\":\"claim\",\"slice\":\"s-0123abcd\",\"claim\":\"pc1-x\",\"request_id\":\"c1\"}", "POST",
                    "/v1/slices/s-0123abcd/claim", "{\"claim\":\"pc1-x\"}", NULL, "c1");
        assert_call("{\"op\":\"funders\",\"slice\":\"s-0123abcd\",\"token\":\"pt-abc\"}", "GET",
                    "/v1/slices/s-0123abcd/funders", NULL, "pt-abc", "");
        assert_call("{\"op\":\"pay\",\"slice\":\"s-0123abcd\",\"vouchers\":[\"pv1-x\"]}", "POST",
                    "/v1/slices/s-0123abcd/pay", "{\"vouchers\":[\"pv1-x\"]}", NULL, "");
        assert_call("{\"op\":\"sponsor_bid\",\"slice\":\"s-0123abcd\",\"voucher\":\"pv1-x\",\"name\":\"N\","
                    "\"url\":\"https://n\"}",
                    "POST", "/v1/slices/s-0123abcd/sponsor/bids", "{\"voucher\":\"pv1-x\",\"name\":\"N\",\"url\":\"https://n\"}",
                    NULL, "");
        /* A bid's outcome: its number in the body, the bid token as the bearer. */
        assert_call("{\"op\":\"sponsor_outcome\",\"slice\":\"s-0123abcd\",\"bid\":3,\"token\":\"bt-abc\"}", "POST",
                    "/v1/slices/s-0123abcd/sponsor/outcome", "{\"bid\":3}", "bt-abc", "");

        assert_int_equal(call_of("{\"op\":\"events\",\"slice\":\"s-0123abcd\",\"funder_proof\":\"pc1-e\"}", &c, NULL), 0);
        assert_string_equal(c.path, "/v1/slices/s-0123abcd/events");
        assert_string_equal(c.funder_proof, "pc1-e");
        assert_null(c.token);
        assert_null(c.body);
        remote_call_done(&c);
        assert_int_equal(call_of("{\"op\":\"funders\",\"slice\":\"s-0123abcd\",\"funder_proof\":\"pc1-a\\r\\nX: 1\"}",
                                 &c, NULL),
                         -EINVAL);
}

static void test_call_refused(void **state _unused_) {
        static const struct {
                const char *request;
                int error;
        } cases[] = {
                /* A command here: the caller would be moved into the slice. */
                { "{\"op\":\"create\",\"attach\":true,\"voucher\":\"pv1-x\"}", -EOPNOTSUPP },
                { "{\"op\":\"create\",\"limits\":{\"pids_max\":4},\"voucher\":\"pv1-x\",\"unit\":\"u\"}", -EOPNOTSUPP },
                { "{\"op\":\"create\",\"limits\":{\"cpu_period_usec\":100000},\"voucher\":\"pv1-x\",\"unit\":\"u\"}",
                  -EOPNOTSUPP },
                /* Unfunded: a root's privilege on a local prepayd only. */
                { "{\"op\":\"create\",\"unit\":\"u\"}", -EOPNOTSUPP },
                { "{\"op\":\"create\",\"voucher\":\"pv1-x\",\"cpus_milli\":\"2\"}", -EINVAL },
                { "{\"op\":\"create\",\"voucher\":\"pv1-x\",\"cpus_milli\":-2}", -EINVAL },
                { "{\"op\":\"create\",\"voucher\":\"pv1-x\",\"unit\":\"u\",\"request_id\":\"a b\"}", -EINVAL },
                { "{\"op\":\"create\",\"voucher\":\"pv1-x\",\"unit\":\"u\",\"request_id\":\"\"}", -EINVAL },
                { "{\"op\":\"list\"}", -EOPNOTSUPP },
                { "{\"op\":\"attach\",\"slice\":\"s-0123abcd\"}", -EOPNOTSUPP },
                { "{\"op\":\"run-unit\",\"slice\":\"s-0123abcd\",\"unit\":\"u\"}", -EOPNOTSUPP },
                { "{\"op\":\"destroy\",\"slice\":\"s-0123abcd\"}", -EOPNOTSUPP },
                { "{\"op\":\"reload\"}", -EOPNOTSUPP },
                { "{\"op\":\"events\"}", -EOPNOTSUPP },
                { "{\"op\":\"release\",\"slice\":\"s-0123abcd\",\"keep\":true}", -EOPNOTSUPP },
                { "{\"op\":\"status\"}", -EINVAL },
                { "{\"op\":\"status\",\"slice\":\"../../etc\"}", -EINVAL },
                { "{\"op\":\"status\",\"slice\":\"s-0123abcd/x\"}", -EINVAL },
                { "{\"op\":\"status\",\"slice\":\"s-0123abcd\",\"token\":\"pt-a\\r\\nX-Evil: 1\"}", -EINVAL },
                { "{\"slice\":\"s-0123abcd\"}", -EINVAL },
                { "{\"op\":7}", -EINVAL },
        };
        struct remote_call c;
        const char *why;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                why = NULL;
                c = (struct remote_call) {};
                if (call_of(cases[i].request, &c, &why) != cases[i].error)
                        fail_msg("%s: not refused with %d", cases[i].request, cases[i].error);
                assert_non_null(why);
                assert_null(c.body);
        }
}

/* Every size the CLI can hold goes out as text the gateway's parsers read
 * back to the same number. */
static void test_call_sizes_exact(void **state _unused_) {
        srand(14);
        for (int i = 0; i < 2000; i++) {
                uint64_t cpus = 1 + (uint64_t) rand() % 200000, memory = 1 + (((uint64_t) rand() << 20) ^ (uint64_t) rand()),
                         duration = 1 + (((uint64_t) rand() << 16) ^ (uint64_t) rand()), disk = (uint64_t) (rand() % 64 + 1)
                                                                                                  << (rand() % 31),
                         v;
                char request[256];
                struct remote_call c = {};
                json_object *body;
                const char *s;

                if (i % 3 == 0)
                        duration = duration % 100 * 60 * USEC_PER_SEC;
                snprintf(request, sizeof(request),
                         "{\"op\":\"quote\",\"cpus_milli\":%" PRIu64 ",\"memory_max\":%" PRIu64 ",\"duration_usec\":%" PRIu64
                         ",\"disk_size\":%" PRIu64 "}",
                         cpus, memory, duration ?: 1, disk);
                assert_int_equal(call_of(request, &c, NULL), 0);
                body = parse(c.body);
                assert_int_equal(message_get_string(body, "cpus", &s), 0);
                assert_int_equal(parse_cpus(s, &v), 0);
                assert_int_equal(v, cpus);
                assert_int_equal(message_get_string(body, "memory", &s), 0);
                assert_int_equal(parse_size(s, &v), 0);
                assert_int_equal(v, memory);
                assert_int_equal(message_get_string(body, "duration", &s), 0);
                assert_int_equal(parse_duration(s, &v), 0);
                assert_int_equal(v, duration ?: 1);
                assert_int_equal(message_get_string(body, "disk", &s), 0);
                assert_int_equal(parse_size(s, &v), 0);
                assert_int_equal(v, disk);
                json_object_put(body);
                remote_call_done(&c);
        }
}

/* ---- answers -> replies ---- */

static json_object *reply_of(const char *request, long status, const char *body, unsigned retry_after, int expect) {
        json_object *req = parse(request), *reply = NULL;
        struct remote_call c = {};
        const char *why = NULL;
        int r;

        assert_int_equal(remote_call_from_request(req, &c, NULL), 0);
        r = remote_reply_from_http(req, &c, status, body, strlen(body), retry_after, &reply, &why);
        if (r != expect)
                fail_msg("%ld %s: %d, not %d (%s)", status, body, r, expect, strna(why));
        if (r < 0)
                assert_non_null(why);
        remote_call_done(&c);
        json_object_put(req);
        return reply;
}

static const char *get_string(json_object *o, const char *key) {
        const char *s = NULL;

        assert_int_equal(message_get_string(o, key, &s), 0);
        return s;
}

static int64_t get_int(json_object *o, const char *key) {
        json_object *v;

        assert_true(json_object_object_get_ex(o, key, &v));
        assert_true(json_object_is_type(v, json_type_int));
        return json_object_get_int64(v);
}

#define CREATE_VM "{\"op\":\"create\",\"voucher\":\"pv1-x\",\"vm_image\":\"debian-12\",\"ssh_key\":\"k\"}"
#define RELEASE "{\"op\":\"release\",\"slice\":\"s-0123abcd\",\"token\":\"pt-t\"}"

static void test_reply_create(void **state _unused_) {
        json_object *reply, *slice, *vm;
        struct slice_info info;
        bool ok = false;

        reply = reply_of(CREATE_VM, 201,
                         "{\"slice\":{\"id\":\"s-0123abcd\",\"state\":\"running\",\"account\":{\"funded\":true,"
                         "\"currency\":\"EUR\",\"balance\":\"9.5\",\"credited\":\"10.00\",\"refunded\":\"0\","
                         "\"burn_rate\":\"0.000123\",\"charged\":{\"cpu\":\"0.5\",\"base\":\"0\"}},"
                         "\"vm\":{\"image\":\"debian-12\",\"ssh_host\":\"internal\",\"ssh_port\":2222,"
                         "\"ssh_user\":\"debian\"}},\"token\":\"pt-t\",\"receipt\":\"pr1-abc\","
                         "\"ssh\":{\"host\":\"gw.example\",\"port\":2201,\"user\":\"debian\",\"host_key\":"
                         "\"ssh-ed25519 AAAA\",\"command\":\"ssh -p 2201 debian@gw.example\"}}\n",
                         0, 0);
        assert_int_equal(message_get_bool(reply, "ok", &ok), 0);
        assert_true(ok);
        assert_string_equal(get_string(reply, "token"), "pt-t");
        assert_string_equal(get_string(reply, "receipt"), "pr1-abc");
        assert_true(json_object_object_get_ex(reply, "slice", &slice));
        /* The local printer reads it as it reads prepayd's. */
        assert_int_equal(slice_info_from_json(slice, &info, NULL), 0);
        assert_int_equal(info.account.balance, 9500000);
        assert_int_equal(info.account.credited, 10000000);
        assert_int_equal(info.account.burn_rate, 123);
        assert_int_equal(info.account.charged[0], 500000);
        /* Where to connect is the gateway's word. */
        assert_true(info.vm.present);
        assert_string_equal(info.vm.ssh_host, "gw.example");
        assert_int_equal(info.vm.ssh_port, 2201);
        assert_string_equal(info.vm.host_key, "ssh-ed25519 AAAA");
        assert_true(json_object_object_get_ex(slice, "vm", &vm));
        json_object_put(reply);
}

/* Answers that are not what the API promises: -EBADMSG with a reason. */
static void test_reply_malformed(void **state _unused_) {
        static const struct {
                const char *request;
                long status;
                const char *body;
        } cases[] = {
                /* "ssh" without a VM in the slice. */
                { CREATE_VM, 201, "{\"slice\":{\"id\":\"s-0123abcd\"},\"ssh\":{\"host\":\"x\"}}" },
                { CREATE_VM, 201, "{\"slice\":{\"id\":\"s-0123abcd\",\"vm\":{}},\"ssh\":\"x\"}" },
                /* The owner token is printed and saved: pt- and base64url. */
                { CREATE_VM, 201, "{\"slice\":{\"id\":\"s-0123abcd\"}}" },
                { CREATE_VM, 201, "{\"slice\":{\"id\":\"s-0123abcd\"},\"token\":\"pt-a\\nb\"}" },
                { CREATE_VM, 201, "{\"slice\":{\"id\":\"s-0123abcd\"},\"token\":7}" },
                /* Not JSON, not an object, trailing bytes, an amount that is not one. */
                { CREATE_VM, 201, "" },
                { CREATE_VM, 201, "<html>" },
                { CREATE_VM, 201, "[1]" },
                { CREATE_VM, 201, "{} x" },
                { CREATE_VM, 201, "{\"slice\":{\"account\":{\"balance\":\"1e3\"}}}" },
                { CREATE_VM, 201, "{\"slice\":{\"account\":{\"balance\":12}}}" },
                /* Past money_parse()'s range (-ERANGE there). */
                { "{\"op\":\"topup\",\"slice\":\"s-0123abcd\",\"voucher\":\"pv1-x\"}", 200,
                  "{\"credited\":\"00000000000000000000058486747160784841384.05\"}" },
                /* Change: a line break inside a voucher would be two; an empty
                 * list, none; each is a voucher's text, which is printed. */
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":[\"pv1-a\\npv1-b\"]}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":[]}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":[7]}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":{}}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":\"pv1-a\"}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":[\"pv1-a b\"]}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":[\"pv1-\"]}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":[\"pv1-a\\u001b[2J\"]}" },
                { RELEASE, 200, "{\"refund\":\"1\",\"change\":[\"xx1-a\"]}" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
                assert_null(reply_of(cases[i].request, cases[i].status, cases[i].body, 0, -EBADMSG));
}

static void test_reply_refusals(void **state _unused_) {
        json_object *reply;
        bool ok = true;

        reply = reply_of(CREATE_VM, 402,
                         "{\"error\":\"The vouchers pay 1.00 EUR, less than 2 hours cost\",\"code\":\"payment_required\","
                         "\"missing\":\"1.4\",\"total\":\"2.40\",\"currency\":\"EUR\"}",
                         0, 0);
        assert_int_equal(message_get_bool(reply, "ok", &ok), 0);
        assert_false(ok);
        assert_string_equal(get_string(reply, "error"),
                            "The vouchers pay 1.00 EUR, less than 2 hours cost (total 2.40 EUR, missing 1.40 EUR)");
        assert_string_equal(get_string(reply, "code"), "payment_required");
        assert_int_equal(get_int(reply, "status"), 402);
        json_object_put(reply);

        /* A 402 whose amounts are not amounts: the sentence alone. */
        reply = reply_of(CREATE_VM, 402, "{\"error\":\"Pay more\",\"missing\":\"lots\",\"total\":\"2\"}", 0, 0);
        assert_string_equal(get_string(reply, "error"), "Pay more");
        json_object_put(reply);

        reply = reply_of("{\"op\":\"status\",\"slice\":\"s-0123abcd\"}", 429,
                         "{\"error\":\"Too many requests from your address\",\"code\":\"too_many\"}", 7, 0);
        assert_string_equal(get_string(reply, "error"), "Too many requests from your address (try again in 7 s)");
        assert_int_equal(get_int(reply, "retry_after"), 7);
        json_object_put(reply);

        /* The server's sentence reaches a terminal: no escape sequence. */
        reply = reply_of("{\"op\":\"status\",\"slice\":\"s-0123abcd\"}", 404,
                         "{\"error\":\"No \\u001b[2Jslice\\nhere\",\"code\":\"not\\u0007found\"}", 0, 0);
        assert_string_equal(get_string(reply, "error"), "No ?[2Jslice?here");
        assert_string_equal(get_string(reply, "code"), "not?found");
        json_object_put(reply);

        /* Not the API's body (a proxy's page): said so, with the status. */
        reply = reply_of("{\"op\":\"images\"}", 502, "<html>Bad Gateway</html>", 0, 0);
        assert_string_equal(get_string(reply, "error"),
                            "The server answered 502 Bad Gateway without the API's JSON body: is it a prepay gateway?");
        json_object_put(reply);
        reply = reply_of("{\"op\":\"images\"}", 401, "{\"code\":\"unauthorized\"}", 0, 0);
        assert_non_null(strstr(get_string(reply, "error"), "401 Unauthorized"));
        json_object_put(reply);
}

/* What the gateway sends reaches a terminal: no control character, C1
 * included; other UTF-8 stays. */
static void test_reply_defanged(void **state _unused_) {
        json_object *reply, *images, *image;

        reply = reply_of("{\"op\":\"images\"}", 200,
                         "{\"images\":[{\"name\":\"debian-12\",\"description\":\"Debian \\u001b[31mred\\r\\u007f"
                         "\\u009b1m caf\\u00e9\"}],\"x\":\"\\u0007\"}",
                         0, 0);
        assert_true(json_object_object_get_ex(reply, "images", &images));
        image = json_object_array_get_idx(images, 0);
        assert_string_equal(get_string(image, "description"), "Debian ?[31mred????1m caf\xc3\xa9");
        assert_string_equal(get_string(image, "name"), "debian-12");
        assert_string_equal(get_string(reply, "x"), "?");
        json_object_put(reply);
}

static void test_reply_release(void **state _unused_) {
        static const char req[] = RELEASE;
        json_object *reply;

        reply = reply_of(req, 200,
                         "{\"slice\":\"s-0123abcd\",\"refund\":\"9.5\",\"currency\":\"EUR\",\"change\":[\"pv1-a\","
                         "\"pv1-b\"],\"receipt\":\"pr1-r\"}",
                         0, 0);
        assert_string_equal(get_string(reply, "change"), "pv1-a\npv1-b");
        assert_int_equal(get_int(reply, "refund"), 9500000);
        assert_string_equal(get_string(reply, "slice"), "s-0123abcd");
        json_object_put(reply);

        reply = reply_of(req, 200, "{\"slice\":\"s-0123abcd\",\"refund\":\"0\",\"currency\":\"EUR\"}", 0, 0);
        assert_false(json_object_object_get_ex(reply, "change", NULL));
        json_object_put(reply);
}

/* A claim's change comes as an array, as a release's: one string of lines. */
static void test_reply_claim(void **state _unused_) {
        json_object *reply;

        reply = reply_of("{\"op\":\"claim\",\"slice\":\"s-0123abcd\",\"claim\":\"pc1-x\"}", 200,
                         "{\"slice\":\"s-0123abcd\",\"funder\":\"ab\",\"claimed\":\"1.5\",\"currency\":\"EUR\","
                         "\"change\":[\"pv1-a\",\"pv1-b\"]}",
                         0, 0);
        assert_string_equal(get_string(reply, "change"), "pv1-a\npv1-b");
        assert_int_equal(get_int(reply, "claimed"), 1500000);
        json_object_put(reply);
}

/* A returned bid's change is in its bid, an array: one string of lines. */
static void test_reply_outcome(void **state _unused_) {
        json_object *reply, *bid;

        reply = reply_of("{\"op\":\"sponsor_outcome\",\"slice\":\"s-0123abcd\",\"bid\":3,\"token\":\"bt-abc\"}",
                         200,
                         "{\"slice\":\"s-0123abcd\",\"bid\":{\"id\":3,\"amount\":\"1.5\",\"state\":\"returned\","
                         "\"change\":[\"pv1-a\",\"pv1-b\"]}}",
                         0, 0);
        assert_true(json_object_object_get_ex(reply, "bid", &bid));
        assert_string_equal(get_string(bid, "change"), "pv1-a\npv1-b");
        assert_int_equal(get_int(bid, "amount"), 1500000);
        json_object_put(reply);
}

static void test_reply_quote_topup(void **state _unused_) {
        json_object *reply, *items;

        /* The sizes asked fill in what the reply does not say. */
        reply = reply_of("{\"op\":\"quote\",\"cpus_milli\":1500,\"duration_usec\":7200000000}", 200,
                         "{\"currency\":\"EUR\",\"total\":\"2.40\",\"items\":{\"cpu\":\"2\",\"memory\":\"0.4\"},"
                         "\"prices\":{\"cpu\":\"0.000277\"},\"min_runtime\":\"1h\",\"memory_max\":536870912}",
                         0, 0);
        assert_int_equal(get_int(reply, "total"), 2400000);
        assert_int_equal(get_int(reply, "cpus_milli"), 1500);
        assert_int_equal(get_int(reply, "duration_usec"), 7200000000);
        assert_int_equal(get_int(reply, "memory_max"), 536870912);
        assert_false(json_object_object_get_ex(reply, "disk_size", NULL));
        assert_true(json_object_object_get_ex(reply, "items", &items));
        assert_int_equal(get_int(items, "cpu"), 2000000);
        assert_string_equal(get_string(reply, "min_runtime"), "1h");
        json_object_put(reply);

        reply = reply_of("{\"op\":\"topup\",\"slice\":\"s-0123abcd\",\"voucher\":\"pv1-x\"}", 200,
                         "{\"slice\":{\"id\":\"s-0123abcd\",\"account\":{\"balance\":\"-0.000001\"}},"
                         "\"credited\":\"2.75\",\"currency\":\"EUR\",\"receipt\":\"pr1-t\"}",
                         0, 0);
        assert_int_equal(get_int(reply, "credited"), 2750000);
        json_object_put(reply);
}

/* ---- Server-Sent Events ---- */

struct seen {
        char text[4096];
        int n, stop_at;
};

static int on_event(const char *type, const char *data, void *userdata) {
        struct seen *s = userdata;
        size_t len = strlen(s->text);

        snprintf(s->text + len, sizeof(s->text) - len, "[%s|%s]", type, data);
        if (++s->n == s->stop_at)
                return -ECANCELED;
        return 0;
}

static const char stream[] = ": keep-alive\n\n"
                             "event: topped-up\r\nid: 4\r\ndata: {\"a\":1}\r\n\r\n"
                             "data: line one\ndata:line two\nretry: 10\nunknown: x\n\n"
                             "event: low\rdata: {}\r\r"
                             ": keep-alive\n\n"
                             "event: lost\n\n" /* no data: no event */
                             "event: cut\ndata: half";  /* never ended */

static const char expected[] = "[topped-up|{\"a\":1}][message|line one\nline two][low|{}]";

static void test_sse(void **state _unused_) {
        struct remote_sse sse;
        struct seen seen = {};

        /* All at once. */
        remote_sse_init(&sse);
        assert_int_equal(remote_sse_feed(&sse, stream, strlen(stream), on_event, &seen), 0);
        assert_string_equal(seen.text, expected);
        remote_sse_done(&sse);

        /* A byte at a time, as a slow network hands it over. */
        seen = (struct seen) {};
        remote_sse_init(&sse);
        for (size_t i = 0; i < strlen(stream); i++)
                assert_int_equal(remote_sse_feed(&sse, stream + i, 1, on_event, &seen), 0);
        assert_string_equal(seen.text, expected);
        remote_sse_done(&sse);

        /* The reader stops the stream. */
        seen = (struct seen) { .stop_at = 2 };
        remote_sse_init(&sse);
        assert_int_equal(remote_sse_feed(&sse, stream, strlen(stream), on_event, &seen), -ECANCELED);
        assert_int_equal(seen.n, 2);
        remote_sse_done(&sse);

        /* A NUL. */
        seen = (struct seen) {};
        remote_sse_init(&sse);
        assert_int_equal(remote_sse_feed(&sse, "data: a\0b\n\n", 11, on_event, &seen), -EBADMSG);
        remote_sse_done(&sse);
}

static void test_sse_limits(void **state _unused_) {
        struct remote_sse sse;
        struct seen seen = {};
        char *big = malloc(REMOTE_EVENT_MAX + 16);

        assert_non_null(big);
        /* One line past the limit. */
        memset(big, 'x', REMOTE_EVENT_MAX + 16);
        memcpy(big, "data: ", 6);
        remote_sse_init(&sse);
        assert_int_equal(remote_sse_feed(&sse, big, REMOTE_EVENT_MAX + 16, on_event, &seen), -EMSGSIZE);
        remote_sse_done(&sse);

        /* Lines each short, an event too long in all. */
        remote_sse_init(&sse);
        memset(big, 'x', 1000);
        memcpy(big, "data: ", 6);
        big[999] = '\n';
        for (int i = 0;; i++) {
                int r = remote_sse_feed(&sse, big, 1000, on_event, &seen);

                if (r < 0) {
                        assert_int_equal(r, -EMSGSIZE);
                        assert_true(i >= REMOTE_EVENT_MAX / 1000 - 1);
                        break;
                }
                assert_true(i < REMOTE_EVENT_MAX / 900);
        }
        assert_int_equal(seen.n, 0);
        remote_sse_done(&sse);

        /* An event type that does not fit. */
        remote_sse_init(&sse);
        memset(big, 'e', 100);
        memcpy(big, "event: ", 7);
        big[99] = '\n';
        assert_int_equal(remote_sse_feed(&sse, big, 100, on_event, &seen), -EMSGSIZE);
        remote_sse_done(&sse);
        free(big);
}

static void test_event_from_data(void **state _unused_) {
        json_object *ev = NULL;

        assert_int_equal(remote_event_from_data("{\"slice\":\"s-0123abcd\",\"kind\":\"topped-up\",\"balance\":\"12.25\","
                                                "\"currency\":\"EUR\"}",
                                                &ev),
                         0);
        assert_int_equal(get_int(ev, "balance"), 12250000);
        assert_string_equal(get_string(ev, "kind"), "topped-up");
        json_object_put(ev);

        /* As prepayd's stream carries it: unwrapped. */
        assert_int_equal(remote_event_from_data("{\"event\":{\"slice\":\"s-0123abcd\",\"kind\":\"low\",\"balance\":"
                                                "\"-0.5\"}}",
                                                &ev),
                         0);
        assert_int_equal(get_int(ev, "balance"), -500000);
        json_object_put(ev);

        assert_int_equal(remote_event_from_data("{\"slice\":\"s-0123abcd\",\"reason\":\"a\\u001b[2Jb\"}", &ev), 0);
        assert_string_equal(get_string(ev, "reason"), "a?[2Jb");
        json_object_put(ev);

        assert_int_equal(remote_event_from_data("", &ev), -EBADMSG);
        assert_int_equal(remote_event_from_data("not json", &ev), -EBADMSG);
        assert_int_equal(remote_event_from_data("[]", &ev), -EBADMSG);
        assert_int_equal(remote_event_from_data("{\"balance\":\"x\"}", &ev), -EBADMSG);
}

/* ---- tokens, receipts ---- */

static void test_token_name(void **state _unused_) {
        struct remote_host h;
        char buf[REMOTE_HOST_MAX + 64];

        assert_int_equal(remote_token_name("s-0123abcd", NULL, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "s-0123abcd");
        assert_int_equal(remote_host_parse("https://GW.example:8443", &h, NULL), 0);
        assert_int_equal(remote_token_name("s-0123abcd", &h, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "s-0123abcd@gw.example:8443");
        assert_int_equal(remote_host_parse("https://[::1]", &h, NULL), 0);
        assert_int_equal(remote_token_name("s-0123abcd", &h, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "s-0123abcd@[::1]:443");
        assert_int_equal(remote_token_name("../x", &h, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(remote_token_name(NULL, &h, buf, sizeof(buf)), -EINVAL);
        assert_int_equal(remote_token_name("s-0123abcd", &h, buf, 12), -ENOBUFS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_host_parse),
                cmocka_unit_test(test_pin_parse),
                cmocka_unit_test(test_call_create),
                cmocka_unit_test(test_call_slices),
                cmocka_unit_test(test_call_funders),
                cmocka_unit_test(test_call_refused),
                cmocka_unit_test(test_call_sizes_exact),
                cmocka_unit_test(test_reply_create),
                cmocka_unit_test(test_reply_malformed),
                cmocka_unit_test(test_reply_refusals),
                cmocka_unit_test(test_reply_defanged),
                cmocka_unit_test(test_reply_release),
                cmocka_unit_test(test_reply_claim),
                cmocka_unit_test(test_reply_outcome),
                cmocka_unit_test(test_reply_quote_topup),
                cmocka_unit_test(test_sse),
                cmocka_unit_test(test_sse_limits),
                cmocka_unit_test(test_event_from_data),
                cmocka_unit_test(test_token_name),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
