/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Requests decoded at the edge (daemon/common/request.c): every field of
 * every op, with every wrong JSON type and every value out of range,
 * refused with a sentence naming the field; absent fields default; fields
 * an op does not read ignored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/message.h"
#include "common/request.h"
#include "common/util.h"

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

#define SLICE "s-0123abcd"

static json_object *parse(const char *s) {
        json_object *o = NULL;
        const char *error = NULL;

        if (message_parse(s, strlen(s), &o, &error) < 0)
                fail_msg("'%s' does not parse: %s", s, strna(error));
        return o;
}

/* A JSON value from its text (not only objects, so not message_parse). */
static json_object *value(const char *text) {
        json_object *v;
        enum json_tokener_error e;

        v = json_tokener_parse_verbose(text, &e);
        if (e != json_tokener_success)
                fail_msg("bad test value %s", text);
        return v; /* NULL for "null" */
}

static int decode(json_object *o, struct request *ret, char error[static REQUEST_ERROR_MAX]) {
        error[0] = 0;
        return request_decode(o, ret, error, REQUEST_ERROR_MAX);
}

/* A decoded request's strings point into its json_object: those of
 * decode_ok() are kept until the test ends. */
static json_object *kept[32];
static size_t n_kept;

static int free_kept(void **state _unused_) {
        while (n_kept > 0)
                json_object_put(kept[--n_kept]);
        return 0;
}

static void decode_ok(const char *s, struct request *ret) {
        json_object *o = parse(s);
        char error[REQUEST_ERROR_MAX];
        int r;

        assert_true(n_kept < ARRAY_SIZE(kept));
        kept[n_kept++] = o;
        r = decode(o, ret, error);
        if (r != 0)
                fail_msg("%s: r=%d '%s'", s, r, error);
}

/* Every sentence: whole (not cut by the buffer), and only printable
 * ASCII, so it travels back in a reply whatever the client sent. */
static void check_sentence(const char *what, const char *error) {
        size_t len = strlen(error);

        if (len == 0 || len >= REQUEST_ERROR_MAX - 1)
                fail_msg("%s: sentence of %zu bytes: '%s'", what, len, error);
        for (size_t i = 0; i < len; i++)
                if (error[i] < 0x20 || error[i] > 0x7e)
                        fail_msg("%s: byte 0x%02x in '%s'", what, (unsigned char) error[i], error);
}

/* o is refused with r and a sentence containing each of the strings. */
static void refused_with(json_object *o, int want, const char *what, ...) {
        struct request d = { .op = "untouched" };
        char error[REQUEST_ERROR_MAX];
        const char *part;
        va_list ap;
        int r;

        r = decode(o, &d, error);
        if (r != want)
                fail_msg("%s: r=%d, want %d ('%s')", what, r, want, error);
        assert_string_equal(d.op, "untouched");
        check_sentence(what, error);
        va_start(ap, what);
        while ((part = va_arg(ap, const char *)))
                if (!strstr(error, part))
                        fail_msg("%s: '%s' does not say '%s'", what, error, part);
        va_end(ap);
}

static void refused_as(const char *s, int want, const char *part) {
        _cleanup_json_ json_object *o = parse(s);

        refused_with(o, want, s, part, NULL);
}

static void refused(const char *s, const char *part) {
        refused_as(s, -EINVAL, part);
}

/* Each op with the fields it cannot do without, and the fields it reads. */
static const struct {
        const char *good;
        const char *strings[10];
        const char *integers[8];
        const char *booleans[8];
        bool limits;
} ops[] = {
        { "{\"op\":\"create\",\"limits\":{}}",
          { "request_id", "client", "voucher", "exhausted_action", "vm_image", "ssh_key", "unit", "funder_key",
            "donation_model" },
          { "cpus_milli", "duration_usec", "disk_size" },
          { "attach", "size_to_funds" },
          true },
        { "{\"op\":\"topup\",\"slice\":\"" SLICE "\",\"voucher\":\"pv1-x\"}",
          { "request_id", "slice", "voucher", "funder_key" } },
        { "{\"op\":\"release\",\"slice\":\"" SLICE "\"}", { "request_id", "slice", "token" }, {}, { "keep" } },
        { "{\"op\":\"attach\",\"slice\":\"" SLICE "\"}", { "request_id", "slice", "token" } },
        { "{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"a.service\"}",
          { "request_id", "slice", "token", "unit" } },
        { "{\"op\":\"kill\",\"slice\":\"" SLICE "\"}", { "request_id", "slice", "token" } },
        { "{\"op\":\"destroy\",\"slice\":\"" SLICE "\"}", { "request_id", "slice", "token" } },
        { "{\"op\":\"status\",\"slice\":\"" SLICE "\"}", { "request_id", "slice" } },
        { "{\"op\":\"list\"}", { "request_id" }, { "cursor" } },
        { "{\"op\":\"quote\"}", { "request_id" }, { "cpus_milli", "memory_max", "duration_usec", "disk_size" } },
        { "{\"op\":\"events\"}", { "request_id", "slice", "token", "funder_proof" } },
        { "{\"op\":\"funders\",\"slice\":\"" SLICE "\"}", { "request_id", "slice", "token", "funder_proof" } },
        { "{\"op\":\"reload\"}", { "request_id" } },
        { "{\"op\":\"images\"}", { "request_id" } },
        { "{\"op\":\"sponsor_offer\",\"slice\":\"" SLICE "\",\"period\":\"1h\",\"min\":\"1.00\"}",
          { "request_id", "slice", "token", "period", "min" }, { "start" } },
        { "{\"op\":\"sponsor_bid\",\"slice\":\"" SLICE "\",\"voucher\":\"pv1-x\",\"name\":\"A\"}",
          { "request_id", "slice", "voucher", "funder_key", "name", "url" } },
        { "{\"op\":\"sponsor_outcome\",\"slice\":\"" SLICE "\",\"bid\":1,\"token\":\"bt-x\"}",
          { "request_id", "slice", "token" }, { "bid" } },
};

/* What no integer field takes: each JSON type but an integer, negative
 * numbers, 2^63 and what json-c clamps, floats however round. */
static const char *const not_u64[] = {
        "\"1\"", "\"\"", "1.5", "1.0", "1e30", "-1e30", "true", "false", "null", "-1",
        "-9223372036854775808", "9223372036854775808", "18446744073709551615", "99999999999999999999999",
        "-99999999999999999999999", "[]", "[1]", "{}", "{\"value\":1}",
};
static const char *const not_bool[] = {
        "\"true\"", "\"\"", "1", "0", "-1", "1.5", "null", "[]", "[true]", "{}", "9223372036854775808", "1e30",
};
/* Of the wrong type for every string field; formats are tested apart. */
static const char *const not_string[] = {
        "1", "0", "-1", "1.5", "1e30", "9223372036854775808", "true", "false", "null", "[]", "[\"" SLICE "\"]",
        "{}", "\"\"",
};

static size_t op_index(const char *op) {
        char good[64];

        snprintf(good, sizeof(good), "{\"op\":\"%s\"", op);
        for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
                if (strneq(ops[i].good, good, strlen(good)))
                        return i;
        fail_msg("no op %s", op);
        return 0;
}

/* The good request of op i with field set to the value in text. */
static json_object *with(size_t i, const char *field, const char *text) {
        json_object *o = parse(ops[i].good);

        json_object_object_add(o, field, value(text));
        return o;
}

static void check_field(size_t i, const char *field, const char *const *bad, size_t n_bad) {
        char name[64];

        snprintf(name, sizeof(name), "'%s'", field);
        for (size_t k = 0; k < n_bad; k++) {
                _cleanup_json_ json_object *o = with(i, field, bad[k]);
                char what[128];

                snprintf(what, sizeof(what), "%s with %s=%s", ops[i].good, field, bad[k]);
                refused_with(o, -EINVAL, what, name, "must be", ", got ", NULL);
        }
}

static void test_every_field_every_type(void **state _unused_) {
        for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
                struct request d;

                decode_ok(ops[i].good, &d);
                for (size_t j = 0; ops[i].strings[j]; j++)
                        check_field(i, ops[i].strings[j], not_string, ARRAY_SIZE(not_string));
                for (size_t j = 0; ops[i].integers[j]; j++)
                        check_field(i, ops[i].integers[j], not_u64, ARRAY_SIZE(not_u64));
                for (size_t j = 0; ops[i].booleans[j]; j++)
                        check_field(i, ops[i].booleans[j], not_bool, ARRAY_SIZE(not_bool));
                if (ops[i].limits)
                        check_field(i, "limits", (const char *const[]) { "null", "[]", "1", "true", "\"{}\"" }, 5);
        }
}

/* The sentence says what came, in a form safe to send back. */
static void test_got(void **state _unused_) {
        const struct {
                const char *value, *got;
        } cases[] = {
                { "\"1\"", "got \"1\"" },
                { "1.5", "got 1.5" },
                { "1.0", "got 1.0" },
                { "1e30", "got 1e30" },
                { "true", "got true" },
                { "-1", "got -1" },
                { "null", "got null" },
                { "9223372036854775808", "got 9223372036854775808" },
                { "99999999999999999999999", "got a number of 18446744073709551615 or more" },
                { "-99999999999999999999999", "got a number of -9223372036854775808 or less" },
                { "123456789012345678901234567890.5", "got a number of 32 characters" },
                { "[1,2,3]", "got an array of 3 elements" },
                { "{}", "got an object" },
                { "\"a\\\"b\"", "got a string of 3 bytes" },
                { "\"\\u00e9t\\u00e9\"", "got a string of 5 bytes" },
                { "\"line\\nbreak\"", "got a string of 10 bytes" },
                { "\"abcdefghijklmnopqrstuvwxyz\"", "got a string of 26 bytes" },
        };

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                _cleanup_json_ json_object *o = with(op_index("quote"), "cpus_milli", cases[i].value);

                refused_with(o, -EINVAL, cases[i].value,
                             "Field 'cpus_milli' must be an integer from 0 to 9223372036854775807", cases[i].got,
                             NULL);
        }
}

static void test_limits_members(void **state _unused_) {
        static const char *const members[] = { "cpu_quota_usec", "cpu_period_usec", "memory_max", "pids_max" };

        for (size_t m = 0; m < ARRAY_SIZE(members); m++)
                for (size_t k = 0; k < ARRAY_SIZE(not_u64); k++) {
                        _cleanup_json_ json_object *o = parse("{\"op\":\"create\"}");
                        json_object *limits = json_object_new_object();
                        char name[64], what[128];

                        json_object_object_add(limits, members[m], value(not_u64[k]));
                        json_object_object_add(o, "limits", limits);
                        snprintf(name, sizeof(name), "Field 'limits.%s' must be an integer", members[m]);
                        snprintf(what, sizeof(what), "limits.%s=%s", members[m], not_u64[k]);
                        refused_with(o, -EINVAL, what, name, NULL);
                }
}

/* Strings of the right type but the wrong form or length. */
static void test_string_forms(void **state _unused_) {
        char long_id[REQUEST_ID_MAX + 2], token[REQUEST_TOKEN_MAX + 2], unit[REQUEST_UNIT_MAX + 2], buf[1024];
        _cleanup_(freep) char *huge = NULL;
        struct request d;

        memset(long_id, 'a', sizeof(long_id) - 1);
        long_id[sizeof(long_id) - 1] = 0;
        memset(token, 't', sizeof(token) - 1);
        token[sizeof(token) - 1] = 0;
        memset(unit, 'u', sizeof(unit) - 1);
        unit[sizeof(unit) - 1] = 0;

        refused("{\"op\":\"status\",\"slice\":\"bogus\"}", "Field 'slice' must be a slice id");
        refused("{\"op\":\"status\",\"slice\":\"S-0123ABCD\"}", "got \"S-0123ABCD\"");
        refused("{\"op\":\"status\",\"slice\":\"s-0123abcd0123456789\"}", "Field 'slice'");
        refused("{\"op\":\"status\",\"slice\":\"s-0123abcd\\u0000\"}", "Field 'slice'");
        refused("{\"op\":\"events\",\"slice\":\"\"}", "Field 'slice'");
        refused("{\"op\":\"list\",\"request_id\":\"two words\"}", "Field 'request_id' must be a request id");
        refused("{\"op\":\"list\",\"request_id\":\"\"}", "Field 'request_id'");
        refused("{\"op\":\"list\",\"request_id\":\"a/b\"}", "Field 'request_id'");
        snprintf(buf, sizeof(buf), "{\"op\":\"list\",\"request_id\":\"%s\"}", long_id);
        refused(buf, "Field 'request_id'");
        long_id[REQUEST_ID_MAX] = 0;
        snprintf(buf, sizeof(buf), "{\"op\":\"list\",\"request_id\":\"%s\"}", long_id);
        decode_ok(buf, &d);
        assert_int_equal(strlen(d.request_id), REQUEST_ID_MAX);

        snprintf(buf, sizeof(buf), "{\"op\":\"kill\",\"slice\":\"" SLICE "\",\"token\":\"%s\"}", token);
        refused(buf, "Field 'token' must be an owner token");
        refused("{\"op\":\"kill\",\"slice\":\"" SLICE "\",\"token\":\"\"}", "Field 'token'");
        token[REQUEST_TOKEN_MAX] = 0;
        snprintf(buf, sizeof(buf), "{\"op\":\"kill\",\"slice\":\"" SLICE "\",\"token\":\"%s\"}", token);
        decode_ok(buf, &d);
        assert_string_equal(d.token, token);

        snprintf(buf, sizeof(buf), "{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"%s\"}", unit);
        refused(buf, "Field 'unit' must be a unit name (1 to 255 of A-Z a-z 0-9 : - _ . @ \\), got a string of 256 "
                     "bytes");
        refused("{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"\"}", "Field 'unit'");
        /* Only systemd's characters: the name goes into log lines. */
        refused("{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"a\\nb.service\"}", "Field 'unit'");
        refused("{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"a b.service\"}", "Field 'unit'");
        refused("{\"op\":\"create\",\"limits\":{},\"unit\":\"../x.service\"}", "Field 'unit'");
        decode_ok("{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"getty@tty1.service\"}", &d);
        decode_ok("{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"a\\\\x2d.service\"}", &d);
        assert_string_equal(d.unit, "a\\x2d.service");
        unit[REQUEST_UNIT_MAX] = 0;
        snprintf(buf, sizeof(buf), "{\"op\":\"run-unit\",\"slice\":\"" SLICE "\",\"unit\":\"%s\"}", unit);
        decode_ok(buf, &d);

        refused("{\"op\":\"create\",\"limits\":{},\"exhausted_action\":\"throttle-then-freeze\"}",
                "Field 'exhausted_action'");
        refused("{\"op\":\"create\",\"limits\":{},\"exhausted_action\":\"\"}", "Field 'exhausted_action'");
        refused("{\"op\":\"create\",\"limits\":{},\"donation_model\":\"\"}", "Field 'donation_model'");
        refused("{\"op\":\"create\",\"limits\":{},\"donation_model\":\"pro-rata-pro-rata\"}",
                "Field 'donation_model'");
        refused("{\"op\":\"create\",\"limits\":{},\"voucher\":\"\"}", "Field 'voucher'");

        /* As long as a datagram allows, and longer: a json_object built by
         * hand has no size bound, the decoder keeps its own. */
        huge = malloc(PREPAY_MSG_MAX + 2);
        assert_non_null(huge);
        memset(huge, 'x', PREPAY_MSG_MAX + 1);
        huge[PREPAY_MSG_MAX + 1] = 0;
        {
                _cleanup_json_ json_object *o = parse("{\"op\":\"topup\",\"slice\":\"" SLICE "\"}");

                json_object_object_add(o, "voucher", json_object_new_string(huge));
                refused_with(o, -EINVAL, "huge voucher", "Field 'voucher'", "got a string of 65537 bytes", NULL);
                json_object_object_add(o, "voucher", json_object_new_string("pv1-x"));
                json_object_object_add(o, "request_id", json_object_new_string(huge));
                refused_with(o, -EINVAL, "huge request id", "Field 'request_id'", NULL);
                json_object_object_add(o, "request_id", json_object_new_string("r-1"));
                json_object_object_add(o, "slice", json_object_new_string(huge));
                refused_with(o, -EINVAL, "huge slice", "Field 'slice'", NULL);
        }
        {
                _cleanup_json_ json_object *o = parse("{\"op\":\"quote\"}");
                json_object *a = json_object_new_array();

                for (int i = 0; i < 10000; i++)
                        json_object_array_add(a, json_object_new_int(i));
                json_object_object_add(o, "memory_max", a);
                refused_with(o, -EINVAL, "huge array", "Field 'memory_max'", "got an array of 10000 elements",
                             NULL);
        }
}

#define KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKn1vKQ0 ann@host\\n"

/* A VM slice's fields: the image's name is never a path, the key is
 * bounded, and the fields that do not go together are refused. */
static void test_vm(void **state _unused_) {
        char name[VM_IMAGE_NAME_MAX + 2], buf[VM_SSH_KEY_MAX + 256];
        _cleanup_(freep) char *key = NULL;
        struct request d;

        decode_ok("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"debian-12\",\"ssh_key\":\"" KEY "\","
                  "\"disk_size\":4294967296,\"attach\":false,\"voucher\":\"pv1-x\"}",
                  &d);
        assert_string_equal(d.vm_image, "debian-12");
        assert_string_equal(d.ssh_key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKn1vKQ0 ann@host\n");
        assert_int_equal(d.disk_size, UINT64_C(4) << 30);
        assert_false(d.attach);
        /* Absent "attach" is false; absent "disk_size" is 0. */
        decode_ok("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"ssh_key\":\"k\"}", &d);
        assert_int_equal(d.disk_size, 0);
        /* Without an image the slice is a plain one: the key is the
         * handler's to ignore. */
        decode_ok("{\"op\":\"create\",\"limits\":{},\"ssh_key\":\"k\",\"attach\":true}", &d);
        assert_null(d.vm_image);
        assert_true(d.attach);

        refused("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"ssh_key\":\"k\",\"attach\":true}",
                "Fields 'vm_image' and 'attach' do not go together");
        refused("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\"}",
                "Field 'ssh_key' is missing: with 'vm_image' it must be an SSH public key");
        refused("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"attach\":false}", "Field 'ssh_key' is missing");
        /* Each field on its own first: a bad one is named, not the pair. */
        refused("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"attach\":1}", "Field 'attach' must be");

        static const char *const bad_names[] = { "../base", ".hidden", "-rf", "a/b", "a b", "/etc/passwd", "..",
                                                 "d\\u00e9bian", "x\\n" };
        for (size_t i = 0; i < ARRAY_SIZE(bad_names); i++) {
                snprintf(buf, sizeof(buf),
                         "{\"op\":\"create\",\"limits\":{},\"vm_image\":\"%s\",\"ssh_key\":\"k\"}", bad_names[i]);
                refused(buf, "Field 'vm_image' must be an image name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with");
        }
        memset(name, 'a', sizeof(name) - 1);
        name[sizeof(name) - 1] = 0;
        snprintf(buf, sizeof(buf), "{\"op\":\"create\",\"limits\":{},\"vm_image\":\"%s\",\"ssh_key\":\"k\"}", name);
        refused(buf, "got a string of 65 bytes");
        name[VM_IMAGE_NAME_MAX] = 0;
        snprintf(buf, sizeof(buf), "{\"op\":\"create\",\"limits\":{},\"vm_image\":\"%s\",\"ssh_key\":\"k\"}", name);
        decode_ok(buf, &d);
        assert_int_equal(strlen(d.vm_image), VM_IMAGE_NAME_MAX);

        key = malloc(VM_SSH_KEY_MAX + 2);
        assert_non_null(key);
        memset(key, 'k', VM_SSH_KEY_MAX + 1);
        key[VM_SSH_KEY_MAX + 1] = 0;
        snprintf(buf, sizeof(buf), "{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"ssh_key\":\"%s\"}", key);
        refused(buf, "Field 'ssh_key' must be an SSH public key, the text of a .pub file (1 to 8192 bytes), got a "
                     "string of 8193 bytes");
        key[VM_SSH_KEY_MAX] = 0;
        snprintf(buf, sizeof(buf), "{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"ssh_key\":\"%s\"}", key);
        decode_ok(buf, &d);
        assert_int_equal(strlen(d.ssh_key), VM_SSH_KEY_MAX);
        refused("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"ssh_key\":\"\"}", "Field 'ssh_key'");
        refused("{\"op\":\"create\",\"limits\":{},\"vm_image\":\"d\",\"ssh_key\":\"a\\u0000b\"}", "Field 'ssh_key'");

        decode_ok("{\"op\":\"quote\",\"disk_size\":9223372036854775807}", &d);
        assert_true(d.disk_size == INT64_MAX);
        refused("{\"op\":\"quote\",\"disk_size\":\"4G\"}", "Field 'disk_size' must be an integer");

        /* images takes nothing but request_id, and reads nothing else. */
        decode_ok("{\"op\":\"images\",\"vm_image\":7,\"slice\":null}", &d);
        assert_string_equal(d.op, "images");
        assert_null(d.vm_image);
        assert_null(d.slice);
        /* Other ops do not read the VM's fields. */
        decode_ok("{\"op\":\"status\",\"slice\":\"" SLICE "\",\"vm_image\":\"../x\",\"disk_size\":-1}", &d);
        assert_null(d.vm_image);
        assert_int_equal(d.disk_size, 0);
}

static void test_missing(void **state _unused_) {
        refused("{\"op\":\"create\"}", "Field 'limits' is missing: it must be an object");
        refused("{\"op\":\"topup\",\"voucher\":\"pv1-x\"}", "Field 'slice' is missing");
        refused("{\"op\":\"topup\",\"slice\":\"" SLICE "\"}", "Field 'voucher' is missing");
        refused("{\"op\":\"release\"}", "Field 'slice' is missing");
        refused("{\"op\":\"attach\"}", "Field 'slice' is missing");
        refused("{\"op\":\"run-unit\",\"slice\":\"" SLICE "\"}", "Field 'unit' is missing");
        refused("{\"op\":\"run-unit\",\"unit\":\"a.service\"}", "Field 'slice' is missing");
        refused("{\"op\":\"kill\"}", "Field 'slice' is missing");
        refused("{\"op\":\"destroy\"}", "Field 'slice' is missing");
        refused("{\"op\":\"status\"}", "Field 'slice' is missing");
}

static void test_version(void **state _unused_) {
        static const char *const not_int[] = { "\"1\"", "1.5", "1.0", "true", "null", "[1]", "{}", "1e30" };
        static const char *const other[] = { "0", "2", "-1", "9223372036854775807", "9223372036854775808",
                                             "99999999999999999999999" };
        struct request d;

        decode_ok("{\"op\":\"list\",\"version\":1}", &d);
        decode_ok("{\"op\":\"list\"}", &d);
        for (size_t i = 0; i < ARRAY_SIZE(not_int); i++) {
                _cleanup_json_ json_object *o = with(op_index("list"), "version", not_int[i]);
                char error[REQUEST_ERROR_MAX];

                refused_with(o, -EINVAL, not_int[i], "Field 'version' must be an integer", NULL);
                assert_int_equal(request_check_version(o, error, sizeof(error)), -EINVAL);
                check_sentence(not_int[i], error);
        }
        for (size_t i = 0; i < ARRAY_SIZE(other); i++) {
                _cleanup_json_ json_object *o = with(op_index("list"), "version", other[i]);

                refused_with(o, -EPROTONOSUPPORT, other[i], "Unsupported protocol version", "speaks 1", NULL);
        }
        /* Checked before the op: a newer client learns why first. */
        refused_as("{\"version\":2,\"op\":\"fly\"}", -EPROTONOSUPPORT, "Unsupported protocol version 2");
}

static void test_op(void **state _unused_) {
        refused("{}", "Field 'op' is missing");
        refused("{\"op\":null}", "Field 'op' must be the name of an operation, got null");
        refused("{\"op\":[\"list\"]}", "Field 'op'");
        refused("{\"op\":\"\"}", "Field 'op'");
        refused_as("{\"op\":\"fly\"}", -EOPNOTSUPP, "Unknown operation \"fly\"");
        refused_as("{\"op\":\"LIST\"}", -EOPNOTSUPP, "Unknown operation \"LIST\"");
        refused_as("{\"op\":\"\\u00e9\\u00e9\"}", -EOPNOTSUPP, "Unknown operation (a string of 4 bytes)");
}

/* Absent fields default; present ones arrive as they were sent. */
static void test_values(void **state _unused_) {
        struct request d;

        decode_ok("{\"op\":\"create\",\"version\":1,\"limits\":{\"cpu_quota_usec\":50000,\"cpu_period_usec\":100000,"
                  "\"memory_max\":9223372036854775807,\"pids_max\":0},\"cpus_milli\":500,\"duration_usec\":0,"
                  "\"attach\":true,\"size_to_funds\":false,\"voucher\":\"pv1-abc\",\"request_id\":\"r.1:x_y-z\","
                  "\"exhausted_action\":\"freeze\",\"donation_model\":\"pro-rata\"}",
                  &d);
        assert_string_equal(d.op, "create");
        assert_true(d.has_limits);
        assert_int_equal(d.limits.cpu_quota_usec, 50000);
        assert_int_equal(d.limits.cpu_period_usec, 100000);
        assert_true(d.limits.memory_max == INT64_MAX);
        assert_int_equal(d.limits.pids_max, 0);
        assert_int_equal(d.cpus_milli, 500);
        assert_int_equal(d.duration_usec, 0);
        assert_true(d.attach);
        assert_false(d.size_to_funds);
        assert_string_equal(d.voucher, "pv1-abc");
        assert_string_equal(d.request_id, "r.1:x_y-z");
        assert_string_equal(d.exhausted_action, "freeze");
        assert_string_equal(d.donation_model, "pro-rata");
        assert_null(d.slice);
        assert_null(d.token);

        decode_ok("{\"op\":\"create\",\"limits\":{}}", &d);
        assert_true(d.has_limits);
        assert_int_equal(d.limits.memory_max, 0);
        assert_int_equal(d.cpus_milli, 0);
        assert_false(d.attach);
        assert_null(d.voucher);
        assert_null(d.request_id);

        decode_ok("{\"op\":\"quote\",\"cpus_milli\":2000,\"memory_max\":4294967296,\"duration_usec\":3600000000}", &d);
        assert_int_equal(d.cpus_milli, 2000);
        assert_int_equal(d.memory_max, 4294967296);
        assert_int_equal(d.duration_usec, 3600000000);

        decode_ok("{\"op\":\"release\",\"slice\":\"s-0123456789abcdef\",\"token\":\"pt-x\",\"keep\":true}", &d);
        assert_string_equal(d.slice, "s-0123456789abcdef");
        assert_string_equal(d.token, "pt-x");
        assert_true(d.keep);

        decode_ok("{\"op\":\"list\",\"cursor\":9223372036854775807}", &d);
        assert_true(d.cursor == INT64_MAX);
        decode_ok("{\"op\":\"events\"}", &d);
        assert_null(d.slice);
}

/* What an op does not read is not looked at: a newer client's hints, or
 * another op's fields, whatever their type. */
static void test_unknown_ignored(void **state _unused_) {
        struct request d;

        decode_ok("{\"op\":\"status\",\"slice\":\"" SLICE "\",\"cpus_milli\":\"two\",\"keep\":null,"
                  "\"hint\":[1,{\"x\":1.5}],\"limits\":7}",
                  &d);
        assert_string_equal(d.slice, SLICE);
        assert_int_equal(d.cpus_milli, 0);
        assert_false(d.keep);
        assert_false(d.has_limits);
        decode_ok("{\"op\":\"quote\",\"voucher\":false,\"slice\":1}", &d);
        assert_null(d.voucher);
        assert_null(d.slice);
        /* Inside "limits" too. */
        decode_ok("{\"op\":\"create\",\"limits\":{\"io_max\":\"x\"}}", &d);
}

/* Small or no error buffers are never overrun; *ret stays as it was. */
static void test_error_buffer(void **state _unused_) {
        _cleanup_json_ json_object *o = parse("{\"op\":\"quote\",\"cpus_milli\":-1}");
        struct request d = { .cpus_milli = 7 };
        char small[8] = "xxxxxxx";

        assert_int_equal(request_decode(o, &d, small, sizeof(small)), -EINVAL);
        assert_string_equal(small, "Field '");
        assert_int_equal(request_decode(o, &d, NULL, 0), -EINVAL);
        assert_int_equal(d.cpus_milli, 7);
        assert_int_equal(request_decode(o, NULL, NULL, 0), -EINVAL);
        assert_int_equal(request_decode(NULL, &d, small, sizeof(small)), -EINVAL);
        assert_int_equal(request_check_version(NULL, NULL, 0), -EINVAL);
}

/* "client", a remote buyer's address for logs, is read by every op;
 * "unit" by create, and not with "vm_image". */
static void test_remote_fields(void **state _unused_) {
        char long_client[REQUEST_CLIENT_MAX + 32];
        struct request d;

        decode_ok("{\"op\":\"status\",\"slice\":\"" SLICE "\",\"client\":\"203.0.113.7\"}", &d);
        assert_string_equal(d.client, "203.0.113.7");
        decode_ok("{\"op\":\"quote\",\"client\":\"2001:db8::1\"}", &d);
        assert_string_equal(d.client, "2001:db8::1");
        decode_ok("{\"op\":\"reload\",\"client\":\"::ffff:10.0.0.1\"}", &d);
        assert_string_equal(d.client, "::ffff:10.0.0.1");
        decode_ok("{\"op\":\"quote\"}", &d);
        assert_null(d.client);
        /* Nothing a log line could be fooled by. */
        refused("{\"op\":\"quote\",\"client\":\"1.2.3.4 uid 0\"}", "'client'");
        refused("{\"op\":\"quote\",\"client\":\"1.2.3.4\\n\"}", "'client'");
        refused("{\"op\":\"quote\",\"client\":\"example.org\"}", "'client'");
        refused("{\"op\":\"quote\",\"client\":\"\"}", "'client'");
        snprintf(long_client, sizeof(long_client), "{\"op\":\"quote\",\"client\":\"%0*d\"}",
                 REQUEST_CLIENT_MAX + 1, 1);
        refused(long_client, "'client'");
        assert_true(request_client_is_valid("1.2.3.4"));
        assert_true(request_client_is_valid("fe80::1"));
        assert_false(request_client_is_valid(NULL));
        assert_false(request_client_is_valid("1.2.3.4/24"));
        assert_false(request_client_is_valid("[::1]"));

        decode_ok("{\"op\":\"create\",\"limits\":{},\"unit\":\"web.service\",\"voucher\":\"pv1-x\","
                  "\"duration_usec\":3600000000}", &d);
        assert_string_equal(d.unit, "web.service");
        assert_int_equal(d.duration_usec, UINT64_C(3600000000));
        refused("{\"op\":\"create\",\"limits\":{},\"unit\":\"web.service\",\"vm_image\":\"d\","
                "\"ssh_key\":\"k\"}", "'unit'");
}

/* "vouchers": 1 to 16 non-empty strings, not beside "voucher"; either
 * way the handlers read one list (vouchers[], n_vouchers) and "voucher"
 * is its first. topup needs one of the two. */
static void test_vouchers(void **state _unused_) {
        char many[64 + 17 * 8];
        struct request d;
        size_t len;

        decode_ok("{\"op\":\"create\",\"limits\":{},\"vouchers\":[\"pv1-a\",\"pv1-b\",\"pv1-c\"]}", &d);
        assert_int_equal(d.n_vouchers, 3);
        assert_string_equal(d.vouchers[0], "pv1-a");
        assert_string_equal(d.vouchers[2], "pv1-c");
        assert_string_equal(d.voucher, "pv1-a");
        decode_ok("{\"op\":\"topup\",\"slice\":\"" SLICE "\",\"voucher\":\"pv1-x\"}", &d);
        assert_int_equal(d.n_vouchers, 1);
        assert_string_equal(d.vouchers[0], "pv1-x");
        decode_ok("{\"op\":\"topup\",\"slice\":\"" SLICE "\",\"vouchers\":[\"pv1-x\"]}", &d);
        assert_int_equal(d.n_vouchers, 1);
        assert_string_equal(d.voucher, "pv1-x");
        decode_ok("{\"op\":\"create\",\"limits\":{}}", &d);
        assert_int_equal(d.n_vouchers, 0);
        assert_null(d.voucher);

        refused("{\"op\":\"topup\",\"slice\":\"" SLICE "\"}", "'voucher' is missing");
        refused("{\"op\":\"topup\",\"slice\":\"" SLICE "\",\"voucher\":\"pv1-x\",\"vouchers\":[\"pv1-y\"]}",
                "do not go together");
        refused("{\"op\":\"create\",\"limits\":{},\"voucher\":\"pv1-x\",\"vouchers\":[\"pv1-y\"]}",
                "do not go together");
        refused("{\"op\":\"create\",\"limits\":{},\"vouchers\":[]}", "'vouchers' must be");
        refused("{\"op\":\"create\",\"limits\":{},\"vouchers\":\"pv1-x\"}", "'vouchers' must be");
        refused("{\"op\":\"create\",\"limits\":{},\"vouchers\":null}", "'vouchers' must be");
        refused("{\"op\":\"create\",\"limits\":{},\"vouchers\":[\"pv1-x\",\"\"]}", "'vouchers[1]' must be");
        refused("{\"op\":\"create\",\"limits\":{},\"vouchers\":[\"pv1-x\",7]}", "'vouchers[1]' must be");
        refused("{\"op\":\"create\",\"limits\":{},\"vouchers\":[[\"pv1-x\"]]}", "'vouchers[0]' must be");
        refused("{\"op\":\"topup\",\"slice\":\"" SLICE "\",\"vouchers\":[\"a\\u0000b\"]}", "'vouchers[0]'");
        /* 16 go, 17 do not. */
        len = (size_t) snprintf(many, sizeof(many), "{\"op\":\"create\",\"limits\":{},\"vouchers\":[");
        for (int i = 0; i < 16; i++)
                len += (size_t) snprintf(many + len, sizeof(many) - len, "%s\"v%d\"", i ? "," : "", i);
        snprintf(many + len, sizeof(many) - len, "]}");
        decode_ok(many, &d);
        assert_int_equal(d.n_vouchers, 16);
        assert_string_equal(d.vouchers[15], "v15");
        snprintf(many + len, sizeof(many) - len, ",\"v16\"]}");
        refused(many, "'vouchers' must be");
}

/* Its form is the handler's (billing.c) to check; here its type and size. */
static void test_funder_key(void **state _unused_) {
        char buf[256];
        struct request d;

        decode_ok("{\"op\":\"topup\",\"slice\":\"" SLICE "\",\"voucher\":\"pv1-x\",\"funder_key\":\"MCow\"}", &d);
        assert_string_equal(d.funder_key, "MCow");
        decode_ok("{\"op\":\"create\",\"limits\":{},\"funder_key\":\"MCow\"}", &d);
        assert_string_equal(d.funder_key, "MCow");
        decode_ok("{\"op\":\"topup\",\"slice\":\"" SLICE "\",\"voucher\":\"pv1-x\"}", &d);
        assert_null(d.funder_key);
        /* 128 bytes go, 129 do not. */
        snprintf(buf, sizeof(buf), "{\"op\":\"create\",\"limits\":{},\"funder_key\":\"%0128d\"}", 0);
        decode_ok(buf, &d);
        snprintf(buf, sizeof(buf), "{\"op\":\"create\",\"limits\":{},\"funder_key\":\"%0129d\"}", 0);
        refused(buf, "'funder_key' must be");
}

/* Sponsorship's fields: their forms, each refused with a sentence naming
 * the field before anything acts. */
static void test_sponsor_fields(void **state _unused_) {
        char buf[512], name[300];
        struct request d;

#define OFFER "{\"op\":\"sponsor_offer\",\"slice\":\"" SLICE "\","
#define BID "{\"op\":\"sponsor_bid\",\"slice\":\"" SLICE "\",\"voucher\":\"pv1-x\","
        decode_ok(OFFER "\"period\":\"24h\",\"min\":\"1.00\",\"start\":1800000000}", &d);
        assert_string_equal(d.period, "24h");
        assert_string_equal(d.min, "1.00");
        assert_int_equal(d.start, 1800000000);
        refused(OFFER "\"period\":\"soon\",\"min\":\"1.00\"}", "'period' must be");
        refused(OFFER "\"period\":\"10ms\",\"min\":\"1.00\"}", "'period' must be");
        refused(OFFER "\"period\":\"1h\",\"min\":\"one euro\"}", "'min' must be");
        refused(OFFER "\"period\":\"1h\",\"min\":\"0\"}", "'min' must be");
        refused(OFFER "\"period\":\"1h\",\"min\":\"-1.00\"}", "'min' must be");
        refused(OFFER "\"min\":\"1.00\"}", "period");

        decode_ok(BID "\"name\":\"Caf\u00e9 \\\"Z\\\"\",\"url\":\"https://x.example/a?b=1&c=2\"}", &d);
        assert_string_equal(d.name, "Caf\xc3\xa9 \"Z\"");
        assert_string_equal(d.url, "https://x.example/a?b=1&c=2");
        refused(BID "\"name\":\"a\\tb\"}", "'name' must be");
        refused(BID "\"name\":\"a\\u0085b\"}", "'name' must be");
        refused(BID "\"name\":\"a\\u007fb\"}", "'name' must be");
        refused(BID "\"name\":\"A\",\"url\":\"ftp://x.example\"}", "'url' must be");
        refused(BID "\"name\":\"A\",\"url\":\"https://\"}", "'url' must be");
        refused(BID "\"name\":\"A\",\"url\":\"https://x.example/a b\"}", "'url' must be");
        refused(BID "\"name\":\"A\",\"url\":\"javascript:alert(1)\"}", "'url' must be");
        refused(BID "\"url\":\"https://x.example\"}", "name");
        /* 64 characters go (each two bytes here), 65 do not. */
        name[0] = 0;
        for (int i = 0; i < 64; i++)
                strcat(name, "\xc3\xa9");
        snprintf(buf, sizeof(buf), BID "\"name\":\"%s\"}", name);
        decode_ok(buf, &d);
        strcat(name, "x");
        snprintf(buf, sizeof(buf), BID "\"name\":\"%s\"}", name);
        refused(buf, "'name' must be");
#undef OFFER
#undef BID

        assert_true(request_sponsor_name_is_valid("Alice's Caf\xc3\xa9"));
        assert_false(request_sponsor_name_is_valid(""));
        assert_false(request_sponsor_name_is_valid("\xc3"));         /* cut short */
        assert_false(request_sponsor_name_is_valid("\xc0\xaf"));     /* overlong */
        assert_false(request_sponsor_name_is_valid("\xed\xa0\x80")); /* a surrogate */
        assert_false(request_sponsor_name_is_valid("a\nb"));
        assert_true(request_sponsor_url_is_valid("http://x"));
        assert_false(request_sponsor_url_is_valid("http://"));
        assert_false(request_sponsor_url_is_valid("https://x.example/'"));
        assert_false(request_sponsor_url_is_valid("https://x.example/`id`"));
        assert_false(request_sponsor_url_is_valid(NULL));
}

static void test_request_id_is_valid(void **state _unused_) {
        assert_true(request_id_is_valid("a"));
        assert_true(request_id_is_valid("A-z.0_9:"));
        assert_false(request_id_is_valid(NULL));
        assert_false(request_id_is_valid(""));
        assert_false(request_id_is_valid("a b"));
        assert_false(request_id_is_valid("a/b"));
        assert_false(request_id_is_valid("\xc3\xa9"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_every_field_every_type, free_kept),
                cmocka_unit_test_teardown(test_remote_fields, free_kept),
                cmocka_unit_test_teardown(test_vouchers, free_kept),
                cmocka_unit_test_teardown(test_funder_key, free_kept),
                cmocka_unit_test_teardown(test_sponsor_fields, free_kept),
                cmocka_unit_test_teardown(test_got, free_kept),
                cmocka_unit_test_teardown(test_limits_members, free_kept),
                cmocka_unit_test_teardown(test_string_forms, free_kept),
                cmocka_unit_test_teardown(test_vm, free_kept),
                cmocka_unit_test_teardown(test_missing, free_kept),
                cmocka_unit_test_teardown(test_version, free_kept),
                cmocka_unit_test_teardown(test_op, free_kept),
                cmocka_unit_test_teardown(test_values, free_kept),
                cmocka_unit_test_teardown(test_unknown_ignored, free_kept),
                cmocka_unit_test_teardown(test_error_buffer, free_kept),
                cmocka_unit_test_teardown(test_request_id_is_valid, free_kept),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
