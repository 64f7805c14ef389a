/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control protocol's messages (daemon/common/message.c): what a client
 * may send the daemon, and what the CLI reads back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/message.h"
#include "common/util.h"

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static json_object *parse_ok(const char *s) {
        json_object *o = NULL;
        const char *error = NULL;
        int r;

        r = message_parse(s, strlen(s), &o, &error);
        if (r != 0)
                fail_msg("'%s': r=%d error=%s", s, r, strna(error));
        assert_non_null(o);
        return o;
}

/* message_parse() refuses buf with err and a sentence containing what. */
static void parse_fails(const char *buf, size_t len, int err, const char *what) {
        json_object *o = (json_object *) 0x1;
        const char *error = NULL;
        int r;

        r = message_parse(buf, len, &o, &error);
        if (r != err)
                fail_msg("'%.*s': r=%d, want %d", (int) (len > 60 ? 60 : len), buf, r, err);
        assert_ptr_equal(o, (json_object *) 0x1);
        assert_non_null(error);
        if (!strstr(error, what))
                fail_msg("error '%s' does not mention '%s'", error, what);
}

static void test_slice_id(void **state _unused_) {
        assert_true(slice_id_is_valid("s-0123abcd"));
        assert_true(slice_id_is_valid("s-0123456789abcdef"));
        assert_true(slice_id_is_valid("s-00000000"));

        assert_false(slice_id_is_valid(NULL));
        assert_false(slice_id_is_valid(""));
        assert_false(slice_id_is_valid("s-"));
        assert_false(slice_id_is_valid("s-0123abc"));          /* 7 digits */
        assert_false(slice_id_is_valid("s-0123456789abcdef0")); /* 17 */
        assert_false(slice_id_is_valid("s-0123ABCD"));
        assert_false(slice_id_is_valid("S-0123abcd"));
        assert_false(slice_id_is_valid("x-0123abcd"));
        assert_false(slice_id_is_valid("s_0123abcd"));
        assert_false(slice_id_is_valid("s-0123abcg"));
        assert_false(slice_id_is_valid("s-0123abcd\n"));
        assert_false(slice_id_is_valid(" s-0123abcd"));
        assert_false(slice_id_is_valid("s-../../etc"));
        assert_false(slice_id_is_valid("0123abcd"));
}

static void fill_info(struct slice_info *s) {
        uint64_t *p;

        *s = (struct slice_info) {};
        strcpy(s->id, "s-0123456789abcdef");
        strcpy(s->state, "running");
        strcpy(s->cgroup, "/prepay/s-0123456789abcdef \"quoted\" \\ /é");
        s->created_usec = 1700000000123456;
        s->last_oom_usec = 0;
        s->cgroup_id = INT64_MAX; /* the largest a field may hold */
        s->limits = (struct slice_limits) {
                .cpu_quota_usec = 50000,
                .cpu_period_usec = 100000,
                .memory_max = UINT64_C(4) << 30,
                .pids_max = 4096,
        };
        /* Every usage counter distinct, so a swapped field shows. */
        p = &s->usage.cpu_usec;
        for (size_t i = 0; i < sizeof(s->usage) / sizeof(uint64_t); i++)
                p[i] = 1000 + i;
}

static void test_info_round_trip(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL, *back = NULL;
        struct slice_info in, out;
        const char *text, *error = NULL;
        size_t len;

        fill_info(&in);
        assert_int_equal(slice_info_to_json(&in, &o), 0);
        assert_int_equal(message_serialize(o, &text, &len), 0);
        assert_int_equal(strlen(text), len);
        /* Paths are not "\/"-escaped. */
        assert_non_null(strstr(text, "\"cgroup\":\"/prepay/s-"));

        assert_int_equal(message_parse(text, len, &back, &error), 0);
        memset(&out, 0xaa, sizeof(out)); /* all of it must be written */
        assert_int_equal(slice_info_from_json(back, &out, &error), 0);
        assert_memory_equal(&in, &out, sizeof(in));
}

static void fill_vm(struct slice_vm_info *vm) {
        *vm = (struct slice_vm_info) {
                .present = true,
                .vcpus = 2,
                .memory = UINT64_C(512) << 20,
                .disk_size = UINT64_C(4) << 30,
                .ssh_port = 65535,
                .pid = 4242,
        };
        strcpy(vm->image, "debian-12.genericcloud_amd64");
        strcpy(vm->accel, "tcg");
        strcpy(vm->ssh_host, "vm.example.org");
        strcpy(vm->ssh_user, "debian");
        strcpy(vm->host_key, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKn1vKQ0");
        strcpy(vm->state, "running");
}

/* A VM slice's record: "vm" written, read back whole; without a VM no
 * "vm" at all, and present stays false. */
static void test_info_vm(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL, *back = NULL, *plain = NULL;
        struct slice_info in, out;
        const char *text, *error = NULL;
        json_object *vm, *v;
        size_t len;

        fill_info(&in);
        fill_vm(&in.vm);
        assert_int_equal(slice_info_to_json(&in, &o), 0);
        assert_true(json_object_object_get_ex(o, "vm", &vm));
        assert_true(json_object_object_get_ex(vm, "image", &v));
        assert_string_equal(json_object_get_string(v), "debian-12.genericcloud_amd64");
        assert_true(json_object_object_get_ex(vm, "ssh_port", &v));
        assert_int_equal(json_object_get_int64(v), 65535);
        assert_true(json_object_object_get_ex(vm, "host_key", &v));
        assert_false(json_object_object_get_ex(vm, "present", NULL));

        assert_int_equal(message_serialize(o, &text, &len), 0);
        assert_int_equal(message_parse(text, len, &back, &error), 0);
        memset(&out, 0xaa, sizeof(out));
        assert_int_equal(slice_info_from_json(back, &out, &error), 0);
        assert_memory_equal(&in, &out, sizeof(in));

        /* No port yet: left out, and read back as 0. */
        in.vm.ssh_port = 0;
        json_object_put(o);
        o = NULL;
        assert_int_equal(slice_info_to_json(&in, &o), 0);
        assert_true(json_object_object_get_ex(o, "vm", &vm));
        assert_false(json_object_object_get_ex(vm, "ssh_port", NULL));
        assert_int_equal(slice_info_from_json(o, &out, &error), 0);
        assert_true(out.vm.present);
        assert_int_equal(out.vm.ssh_port, 0);

        fill_info(&in);
        assert_int_equal(slice_info_to_json(&in, &plain), 0);
        assert_false(json_object_object_get_ex(plain, "vm", NULL));
        memset(&out, 0xaa, sizeof(out));
        assert_int_equal(slice_info_from_json(plain, &out, &error), 0);
        assert_false(out.vm.present);
        assert_string_equal(out.vm.image, "");
}

static void test_vm_image_name(void **state _unused_) {
        char name[VM_IMAGE_NAME_MAX + 2];

        assert_true(vm_image_name_is_valid("debian-12"));
        assert_true(vm_image_name_is_valid("a"));
        assert_true(vm_image_name_is_valid("A.b_c-9"));
        assert_true(vm_image_name_is_valid("9"));
        assert_true(vm_image_name_is_valid("_x"));
        memset(name, 'a', VM_IMAGE_NAME_MAX);
        name[VM_IMAGE_NAME_MAX] = 0;
        assert_true(vm_image_name_is_valid(name));
        name[VM_IMAGE_NAME_MAX] = 'a';
        name[VM_IMAGE_NAME_MAX + 1] = 0;
        assert_false(vm_image_name_is_valid(name));

        assert_false(vm_image_name_is_valid(NULL));
        assert_false(vm_image_name_is_valid(""));
        assert_false(vm_image_name_is_valid(".hidden"));
        assert_false(vm_image_name_is_valid(".."));
        assert_false(vm_image_name_is_valid("-rf"));
        assert_false(vm_image_name_is_valid("a/b"));
        assert_false(vm_image_name_is_valid("../etc"));
        assert_false(vm_image_name_is_valid("a b"));
        assert_false(vm_image_name_is_valid("a\n"));
        assert_false(vm_image_name_is_valid("a\nb"));
        assert_false(vm_image_name_is_valid("d\xc3\xa9" "bian"));
}

static void test_info_nesting(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL;
        json_object *limits, *usage, *v;
        struct slice_info in;

        fill_info(&in);
        assert_int_equal(slice_info_to_json(&in, &o), 0);

        assert_true(json_object_object_get_ex(o, "limits", &limits));
        assert_true(json_object_is_type(limits, json_type_object));
        assert_true(json_object_object_get_ex(limits, "memory_max", &v));
        assert_true(json_object_is_type(v, json_type_int));
        assert_int_equal(json_object_get_int64(v), INT64_C(4) << 30);
        assert_false(json_object_object_get_ex(o, "memory_max", NULL));

        assert_true(json_object_object_get_ex(o, "usage", &usage));
        assert_true(json_object_is_type(usage, json_type_object));
        assert_true(json_object_object_get_ex(usage, "oom_kills", &v));
        assert_true(json_object_is_type(v, json_type_int));
        assert_false(json_object_object_get_ex(o, "oom_kills", NULL));

        assert_true(json_object_object_get_ex(o, "cgroup_id", &v));
        assert_int_equal(json_object_get_int64(v), INT64_MAX);
}

static void test_to_json_range(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL, *l = NULL;
        struct slice_info in;
        struct slice_limits limits = { .memory_max = (uint64_t) INT64_MAX + 1 };

        fill_info(&in);
        in.usage.net_rx_bytes = UINT64_MAX;
        o = (json_object *) 0x1;
        assert_int_equal(slice_info_to_json(&in, &o), -ERANGE);
        assert_ptr_equal(o, (json_object *) 0x1);
        o = NULL;

        l = json_object_new_object();
        assert_int_equal(slice_limits_to_json(&limits, l), -ERANGE);
}

static void test_limits_from_json(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL, *empty = NULL;
        struct slice_limits l;
        const char *error = NULL;

        /* A create request: other keys are the request's, not errors. */
        o = parse_ok("{\"op\":\"create\",\"memory_max\":1073741824,\"pids_max\":0,"
                     "\"cpu_quota_usec\":9223372036854775807}");
        assert_int_equal(slice_limits_from_json(o, &l, &error), 0);
        assert_int_equal(l.memory_max, UINT64_C(1) << 30);
        assert_int_equal(l.pids_max, 0);
        assert_int_equal(l.cpu_quota_usec, INT64_MAX);
        assert_int_equal(l.cpu_period_usec, 0); /* absent: the default */

        empty = json_object_new_object();
        memset(&l, 0xff, sizeof(l));
        assert_int_equal(slice_limits_from_json(empty, &l, &error), 0);
        assert_int_equal(l.memory_max, 0);
        assert_int_equal(l.cpu_quota_usec, 0);
}

/* {"<field>": <value>} is refused by from_json, naming the field. */
static void limits_bad(const char *field, const char *value) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_(freep) char *text = NULL;
        struct slice_limits l = { .pids_max = 77 };
        const char *error = NULL;

        assert_true(asprintf(&text, "{\"%s\":%s}", field, value) > 0);
        o = parse_ok(text);
        assert_int_equal(slice_limits_from_json(o, &l, &error), -EINVAL);
        assert_int_equal(l.pids_max, 77); /* untouched */
        assert_non_null(error);
        if (!strstr(error, field))
                fail_msg("%s: error '%s' does not name the field", text, error);
}

static void test_limits_from_json_bad(void **state _unused_) {
        static const char *const values[] = {
                "-1", "-9223372036854775808", "9223372036854775808", "18446744073709551615",
                "99999999999999999999999", "1.5", "1.0", "1e3", "\"1G\"", "\"100\"", "true", "null", "[]", "{}",
        };
        static const char *const fields[] = { "cpu_quota_usec", "cpu_period_usec", "memory_max", "pids_max" };

        for (size_t f = 0; f < ARRAY_SIZE(fields); f++)
                for (size_t v = 0; v < ARRAY_SIZE(values); v++)
                        limits_bad(fields[f], values[v]);
}

static void test_limits_from_json_not_object(void **state _unused_) {
        _cleanup_json_ json_object *a = json_object_new_array();
        struct slice_limits l;
        const char *error = NULL;

        assert_int_equal(slice_limits_from_json(a, &l, &error), -EINVAL);
        assert_non_null(error);
        assert_int_equal(slice_limits_from_json(NULL, &l, NULL), -EINVAL);
}

/* An info reply with one thing changed is refused, naming what. */
static void info_bad(const char *json, const char *what) {
        _cleanup_json_ json_object *o = NULL;
        struct slice_info s = { .cgroup_id = 5 };
        const char *error = NULL;

        o = parse_ok(json);
        assert_int_equal(slice_info_from_json(o, &s, &error), -EINVAL);
        assert_int_equal(s.cgroup_id, 5);
        assert_non_null(error);
        if (!strstr(error, what))
                fail_msg("%s: error '%s' does not mention '%s'", json, error, what);
}

/* A brief list's row holds what `prepay list` prints, and reads back to
 * those fields exactly, the others zero. */
static void test_row_round_trip(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL, *back = NULL;
        struct slice_info in, out, want = {};
        const char *text, *error = NULL;
        size_t len;

        fill_info(&in);
        in.account = (struct slice_account_info) { .funded = true, .balance = -7, .credited = 9, .burn_rate = 12,
                                                   .time_left_usec = 34 };
        strcpy(in.account.currency, "EUR");
        strcpy(in.account.enforcement, "low");
        in.read_usec = 56;
        fill_vm(&in.vm);
        assert_int_equal(slice_row_to_json(&in, &o), 0);
        assert_true(json_object_is_type(o, json_type_array));
        assert_int_equal(json_object_array_length(o), SLICE_ROW_COLUMNS);
        assert_int_equal(message_serialize(o, &text, &len), 0);
        back = json_tokener_parse(text);
        assert_non_null(back);
        memset(&out, 0xaa, sizeof(out));
        assert_int_equal(slice_row_from_json(back, &out, &error), 0);

        strcpy(want.id, in.id);
        strcpy(want.state, in.state);
        want.limits.cpu_quota_usec = in.limits.cpu_quota_usec;
        want.limits.cpu_period_usec = in.limits.cpu_period_usec;
        want.limits.memory_max = in.limits.memory_max;
        want.usage.cpu_usec = in.usage.cpu_usec;
        want.usage.memory_current = in.usage.memory_current;
        want.usage.net_tx_bytes = in.usage.net_tx_bytes;
        want.usage.net_rx_bytes = in.usage.net_rx_bytes;
        want.usage.pids_current = in.usage.pids_current;
        want.usage.oom_kills = in.usage.oom_kills;
        want.account.funded = true;
        want.account.balance = -7;
        strcpy(want.account.currency, "EUR");
        strcpy(want.account.enforcement, "low");
        want.account.burn_rate = 12;
        want.account.time_left_usec = 34;
        want.read_usec = 56;
        want.vm = in.vm;
        assert_memory_equal(&want, &out, sizeof(want));

        /* Unfunded, no VM: nulls, read back as such. */
        in.account = (struct slice_account_info) {};
        in.vm = (struct slice_vm_info) {};
        json_object_put(o);
        o = NULL;
        assert_int_equal(slice_row_to_json(&in, &o), 0);
        assert_null(json_object_array_get_idx(o, SLICE_ROW_COLUMNS_MIN - 3));
        for (size_t i = SLICE_ROW_COLUMNS_MIN - 1; i < SLICE_ROW_COLUMNS - 1; i++)
                assert_null(json_object_array_get_idx(o, i));
        assert_int_equal(slice_row_from_json(o, &out, &error), 0);
        assert_false(out.account.funded);
        assert_false(out.vm.present);

        /* A column a later version appends is ignored. */
        json_object_array_add(o, json_object_new_string("later"));
        assert_int_equal(slice_row_from_json(o, &out, &error), 0);
        assert_string_equal(out.id, in.id);

        /* An older daemon's row, without top's four columns: they read
         * as zero. */
        json_object_put(o);
        o = json_tokener_parse("[\"s-0123abcd\",\"running\",1,2,3,4,5,6,7,8,9,5,\"EUR\",null]");
        assert_non_null(o);
        assert_int_equal(slice_row_from_json(o, &out, &error), 0);
        assert_true(out.account.funded);
        assert_int_equal(out.account.balance, 5);
        assert_string_equal(out.account.enforcement, "");
        assert_int_equal(out.account.burn_rate, 0);
}

static void row_bad(const char *json, const char *what) {
        _cleanup_json_ json_object *o = NULL;
        struct slice_info s = { .cgroup_id = 5 };
        const char *error = NULL;

        o = json_tokener_parse(json);
        assert_non_null(o);
        assert_int_equal(slice_row_from_json(o, &s, &error), -EINVAL);
        assert_int_equal(s.cgroup_id, 5);
        assert_non_null(error);
        if (!strstr(error, what))
                fail_msg("%s: error '%s' does not mention '%s'", json, error, what);
}

static void test_row_from_json_bad(void **state _unused_) {
#define ROW(id, state, nums, bal, cur, vm) "[" id "," state "," nums "," bal "," cur "," vm "]"
#define NUMS "1,2,3,4,5,6,7,8,9"
#define ROWT(bal, cur, more) "[\"s-0123abcd\",\"empty\"," NUMS "," bal "," cur ",null" more "]"
        row_bad("{}", "array");
        row_bad("[\"s-0123abcd\",\"empty\"]", "at least 14");
        row_bad(ROW("\"s-123\"", "\"empty\"", NUMS, "null", "null", "null"), "'id'");
        row_bad(ROW("7", "\"empty\"", NUMS, "null", "null", "null"), "'id'");
        row_bad(ROW("\"s-0123abcd\"", "\"a-state-much-too-long\"", NUMS, "null", "null", "null"), "'state'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", "-1,2,3,4,5,6,7,8,9", "null", "null", "null"),
                "'limits.cpu_quota_usec'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", "1,2,3,4,5,6,7,8,\"9\"", "null", "null", "null"),
                "'usage.oom_kills'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", "1,2,3,4,5,6,7,8,null", "null", "null", "null"),
                "'usage.oom_kills'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", NUMS, "1.5", "\"EUR\"", "null"), "'balance'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", NUMS, "5", "null", "null"), "'currency'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", NUMS, "null", "\"EUR\"", "null"), "'currency'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", NUMS, "5", "\"a-currency-far-too-long\"", "null"), "'currency'");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", NUMS, "null", "null", "{}"), "'vm.image' is missing");
        row_bad(ROW("\"s-0123abcd\"", "\"empty\"", NUMS, "null", "null", "[]"), "'vm' must be an object");
        row_bad(ROWT("null", "null", ",\"ok\""), "'enforcement'");
        row_bad(ROWT("5", "\"EUR\"", ",7"), "'enforcement'");
        row_bad(ROWT("5", "\"EUR\"", ",\"ok\",1.5"), "'burn_rate'");
        row_bad(ROWT("null", "null", ",null,5"), "'burn_rate'");
        row_bad(ROWT("5", "\"EUR\"", ",\"ok\",1,-1"), "'time_left_usec'");
        row_bad(ROWT("5", "\"EUR\"", ",\"ok\",1,2,\"x\""), "'read_usec'");
#undef ROWT
#undef NUMS
#undef ROW
}

static void test_info_from_json_bad(void **state _unused_) {
        char json[512];

        info_bad("{}", "id");
        info_bad("{\"id\":1}", "id");
        info_bad("{\"id\":\"s-123\"}", "id");
        info_bad("{\"id\":\"s-0123abcd\",\"state\":\"a-state-much-too-long\"}", "state");
        info_bad("{\"id\":\"s-0123abcd\",\"state\":7}", "state");
        info_bad("{\"id\":\"s-0123abcd\",\"created_usec\":-5}", "created_usec");
        info_bad("{\"id\":\"s-0123abcd\",\"cgroup_id\":\"7\"}", "cgroup_id");
        info_bad("{\"id\":\"s-0123abcd\",\"limits\":[]}", "limits");
        info_bad("{\"id\":\"s-0123abcd\",\"limits\":{\"memory_max\":-1}}", "memory_max");
        info_bad("{\"id\":\"s-0123abcd\",\"usage\":7}", "usage");
        info_bad("{\"id\":\"s-0123abcd\",\"usage\":{\"oom_kills\":-1}}", "oom_kills");
        info_bad("{\"id\":\"s-0123abcd\",\"usage\":{\"net_rx_bytes\":1.5}}", "net_rx_bytes");
        info_bad("{\"id\":\"s-0123abcd\",\"usage\":{\"cpu_usec\":9223372036854775808}}", "cpu_usec");
        info_bad("{\"id\":\"s-0123abcd\",\"cgroup\":\"a\\u0000b\"}", "cgroup");

        snprintf(json, sizeof(json), "{\"id\":\"s-0123abcd\",\"cgroup\":\"%0256d\"}", 0);
        info_bad(json, "cgroup");

#define VM(x) "{\"id\":\"s-0123abcd\",\"vm\":" x "}"
        info_bad(VM("[]"), "'vm' must be an object");
        info_bad(VM("null"), "'vm'");
        info_bad(VM("{}"), "'vm.image' is missing");
        info_bad(VM("{\"image\":\"\"}"), "'vm.image'");
        info_bad(VM("{\"image\":\"../base\"}"), "'vm.image'");
        info_bad(VM("{\"image\":\"-x\"}"), "'vm.image'");
        info_bad(VM("{\"image\":7}"), "'vm.image'");
        info_bad(VM("{\"image\":\"d\",\"accel\":\"kvm-and-more\"}"), "'vm.accel'");
        info_bad(VM("{\"image\":\"d\",\"state\":\"a-state-much-too-long\"}"), "'vm.state'");
        info_bad(VM("{\"image\":\"d\",\"ssh_user\":\"a-user-name-longer-than-32-bytes!\"}"), "'vm.ssh_user'");
        info_bad(VM("{\"image\":\"d\",\"ssh_host\":null}"), "'vm.ssh_host'");
        info_bad(VM("{\"image\":\"d\",\"host_key\":\"a\\u0000b\"}"), "'vm.host_key'");
        info_bad(VM("{\"image\":\"d\",\"vcpus\":-1}"), "'vm.vcpus'");
        info_bad(VM("{\"image\":\"d\",\"memory\":1.5}"), "'vm.memory'");
        info_bad(VM("{\"image\":\"d\",\"disk_size\":\"4G\"}"), "'vm.disk_size'");
        info_bad(VM("{\"image\":\"d\",\"pid\":9223372036854775808}"), "'vm.pid'");
        info_bad(VM("{\"image\":\"d\",\"ssh_port\":0}"), "'vm.ssh_port' must be a port");
        info_bad(VM("{\"image\":\"d\",\"ssh_port\":65536}"), "'vm.ssh_port'");
        info_bad(VM("{\"image\":\"d\",\"ssh_port\":-22}"), "'vm.ssh_port'");
        info_bad(VM("{\"image\":\"d\",\"ssh_port\":\"22\"}"), "'vm.ssh_port'");
        snprintf(json, sizeof(json), VM("{\"image\":\"d\",\"host_key\":\"%0128d\"}"), 0);
        info_bad(json, "'vm.host_key'");
        snprintf(json, sizeof(json), VM("{\"image\":\"%065d\"}"), 0);
        info_bad(json, "'vm.image'");
#undef VM
}

/* The longest of each VM string, and the ends of the port's range. */
static void test_info_vm_bounds(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL, *p = NULL;
        struct slice_info s;
        char json[1024];

        snprintf(json, sizeof(json),
                 "{\"id\":\"s-0123abcd\",\"vm\":{\"image\":\"%064d\",\"accel\":\"kvmkvmk\",\"ssh_host\":\"%0255d\","
                 "\"ssh_user\":\"%032d\",\"host_key\":\"%0127d\",\"state\":\"%015d\",\"ssh_port\":1,\"future\":[]}}",
                 0, 0, 0, 0, 0);
        o = parse_ok(json);
        assert_int_equal(slice_info_from_json(o, &s, NULL), 0);
        assert_true(s.vm.present);
        assert_int_equal(strlen(s.vm.image), VM_IMAGE_NAME_MAX);
        assert_int_equal(strlen(s.vm.ssh_host), 255);
        assert_int_equal(strlen(s.vm.host_key), 127);
        assert_int_equal(s.vm.ssh_port, 1);
        assert_int_equal(s.vm.vcpus, 0);

        p = parse_ok("{\"id\":\"s-0123abcd\",\"vm\":{\"image\":\"d\",\"ssh_port\":65535}}");
        assert_int_equal(slice_info_from_json(p, &s, NULL), 0);
        assert_int_equal(s.vm.ssh_port, 65535);
        assert_string_equal(s.vm.image, "d");
}

static void test_info_from_json_minimal(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL;
        struct slice_info s;
        char json[512];

        /* 255 bytes of cgroup path is the most that fits. */
        snprintf(json, sizeof(json), "{\"id\":\"s-0123abcd\",\"cgroup\":\"%0255d\",\"future_field\":[1]}", 0);
        o = parse_ok(json);
        assert_int_equal(slice_info_from_json(o, &s, NULL), 0);
        assert_string_equal(s.id, "s-0123abcd");
        assert_string_equal(s.state, "");
        assert_int_equal(strlen(s.cgroup), 255);
        assert_int_equal(s.usage.cpu_usec, 0);
}

static void test_parse_ok(void **state _unused_) {
        _cleanup_json_ json_object *a = NULL, *b = NULL, *c = NULL;
        const char *error = NULL;
        const char *s;

        a = parse_ok("{\"op\":\"status\",\"id\":\"s-0123abcd\"}");
        assert_int_equal(message_get_string(a, "op", &s), 0);
        assert_string_equal(s, "status");

        /* White space around the object is part of JSON (RFC 8259). */
        b = parse_ok(" \n{}\r\n\t ");

        /* len is honoured: what follows it is not part of the message. */
        assert_int_equal(message_parse("{}garbage", 2, &c, &error), 0);
        assert_true(json_object_is_type(c, json_type_object));
}

static void test_parse_not_object(void **state _unused_) {
        static const char *const bad[] = { "[]", "[{}]", "123", "\"x\"", "null", "true", "1.5" };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                parse_fails(bad[i], strlen(bad[i]), -EINVAL, "not a JSON object");
        parse_fails(" \n[]", 4, -EINVAL, "not a JSON object");
}

static void test_parse_malformed(void **state _unused_) {
        static const char *const bad[] = {
                "{", "{\"a\":", "{\"a\":1,}", "{a:1}", "{\"a\":01}", "{\"a\" 1}", "}", "{\"a\":tru}",
                "{\"a\":\"\xff\"}", "{\"a\":\"\xc3\"}", "{\"a\":[1,]}",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                parse_fails(bad[i], strlen(bad[i]), -EINVAL, "");
        parse_fails("", 0, -EINVAL, "Empty");
        parse_fails("{}\0", 3, -EINVAL, "NUL");
        parse_fails("{\"a\":\"\0\"}", 8, -EINVAL, "NUL");
}

static void test_parse_trailing(void **state _unused_) {
        static const char *const bad[] = { "{}x", "{}{}", "{} {\"op\":\"destroy\"}", "{}]", "{} 1", "{}\n\f", "{} //" };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                parse_fails(bad[i], strlen(bad[i]), -EINVAL, "Trailing data");
}

/* {"a":{"a":...{}...}} with depth levels of objects. */
static char *nested(unsigned depth) {
        char *s = malloc(depth * 6 + 1), *p = s;

        assert_non_null(s);
        for (unsigned i = 1; i < depth; i++)
                p = stpcpy(p, "{\"a\":");
        p = stpcpy(p, "{}");
        for (unsigned i = 1; i < depth; i++)
                *p++ = '}';
        *p = 0;
        return s;
}

static void test_parse_depth(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_(freep) char *ok = nested(PREPAY_MSG_MAX_DEPTH), *deep = nested(PREPAY_MSG_MAX_DEPTH + 1);
        _cleanup_(freep) char *very = nested(10000);
        const char *error = NULL;

        assert_int_equal(message_parse(ok, strlen(ok), &o, &error), 0);
        parse_fails(deep, strlen(deep), -EINVAL, "deep");
        parse_fails(very, strlen(very), -EINVAL, "deep");
        parse_fails("{\"a\":[[[[[[[[1]]]]]]]]}", strlen("{\"a\":[[[[[[[[1]]]]]]]]}"), -EINVAL, "deep");
}

/* {"a":"xxx..."} of exactly len bytes. */
static char *sized(size_t len) {
        char *s = malloc(len + 1);

        assert_non_null(s);
        assert_true(len >= 8);
        memcpy(s, "{\"a\":\"", 6);
        memset(s + 6, 'x', len - 8);
        memcpy(s + len - 2, "\"}", 3);
        return s;
}

static void test_parse_size(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL;
        _cleanup_(freep) char *max = sized(PREPAY_MSG_MAX), *over = sized(PREPAY_MSG_MAX + 1);
        const char *error = NULL;

        assert_int_equal(message_parse(max, PREPAY_MSG_MAX, &o, &error), 0);
        parse_fails(over, PREPAY_MSG_MAX + 1, -EMSGSIZE, "large");
}

static void test_serialize(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL, *big = NULL;
        _cleanup_(freep) char *filler = NULL;
        const char *s = NULL;
        size_t len = 0;

        o = parse_ok("{ \"path\" : \"/run/prepay\", \"n\" : 1 }");
        assert_int_equal(message_serialize(o, &s, &len), 0);
        assert_string_equal(s, "{\"path\":\"/run/prepay\",\"n\":1}");
        assert_int_equal(len, strlen(s));
        assert_int_equal(message_serialize(o, &s, NULL), 0);

        /* Too big to send: refused here, not truncated on the socket. */
        filler = malloc(PREPAY_MSG_MAX);
        assert_non_null(filler);
        memset(filler, 'x', PREPAY_MSG_MAX - 1);
        filler[PREPAY_MSG_MAX - 1] = 0;
        big = json_object_new_object();
        assert_int_equal(json_object_object_add(big, "a", json_object_new_string(filler)), 0);
        s = NULL;
        assert_int_equal(message_serialize(big, &s, &len), -EMSGSIZE);
        assert_null(s);
}

static void test_replies(void **state _unused_) {
        _cleanup_json_ json_object *ok = NULL, *err = NULL, *back = NULL;
        const char *s, *error = NULL;
        size_t len;
        bool b = false;

        ok = message_reply_ok();
        assert_non_null(ok);
        assert_int_equal(message_serialize(ok, &s, &len), 0);
        assert_string_equal(s, "{\"ok\":true}");

        err = message_reply_error("No slice %s: %s", "s-0123abcd", "gone \"away\"");
        assert_non_null(err);
        assert_int_equal(message_serialize(err, &s, &len), 0);
        assert_string_equal(s, "{\"ok\":false,\"error\":\"No slice s-0123abcd: gone \\\"away\\\"\",\"code\":"
                               "\"internal\"}");

        assert_int_equal(message_parse(s, len, &back, &error), 0);
        assert_int_equal(message_get_bool(back, "ok", &b), 0);
        assert_false(b);
        assert_int_equal(message_get_string(back, "error", &s), 0);
        assert_string_equal(s, "No slice s-0123abcd: gone \"away\"");
}

/* Every refusal carries its "code" (the contract's table), a 402 its
 * shortfall too; codes and statuses go both ways. */
static void test_codes(void **state _unused_) {
        _cleanup_json_ json_object *nf = NULL, *pay = NULL, *ok = NULL;
        const char *s;
        size_t len;

        nf = message_reply_refusal(MESSAGE_NOT_FOUND, "No slice %s", "s-0123abcd");
        assert_int_equal(message_serialize(nf, &s, &len), 0);
        assert_string_equal(s, "{\"ok\":false,\"error\":\"No slice s-0123abcd\",\"code\":\"not_found\"}");
        assert_int_equal(message_reply_code(nf), MESSAGE_NOT_FOUND);

        pay = message_reply_payment(1500000, 4000000, "EUR", "The voucher's %s does not cover it", "2.50");
        assert_int_equal(message_serialize(pay, &s, &len), 0);
        assert_string_equal(s, "{\"ok\":false,\"error\":\"The voucher's 2.50 does not cover it\",\"code\":"
                               "\"payment_required\",\"missing\":1500000,\"total\":4000000,\"currency\":\"EUR\"}");
        assert_int_equal(message_reply_code(pay), MESSAGE_PAYMENT_REQUIRED);

        ok = message_reply_ok();
        assert_int_equal(message_reply_code(ok), -ENOENT);

        for (int i = 0; i < _MESSAGE_CODE_MAX; i++) {
                assert_non_null(message_code_to_string(i));
                assert_int_equal(message_code_from_string(message_code_to_string(i)), i);
        }
        assert_null(message_code_to_string(_MESSAGE_CODE_MAX));
        assert_int_equal(message_code_from_string("teapot"), -EINVAL);
        assert_int_equal(message_code_from_string(NULL), -EINVAL);
        assert_int_equal(message_code_http_status(MESSAGE_INVALID), 400);
        assert_int_equal(message_code_http_status(MESSAGE_UNAUTHORIZED), 401);
        assert_int_equal(message_code_http_status(MESSAGE_PAYMENT_REQUIRED), 402);
        assert_int_equal(message_code_http_status(MESSAGE_FORBIDDEN), 403);
        assert_int_equal(message_code_http_status(MESSAGE_NOT_FOUND), 404);
        assert_int_equal(message_code_http_status(MESSAGE_SPENT), 409);
        assert_int_equal(message_code_http_status(MESSAGE_CONFLICT), 409);
        assert_int_equal(message_code_http_status(MESSAGE_TOO_MANY), 429);
        assert_int_equal(message_code_http_status(MESSAGE_INTERNAL), 500);
        assert_int_equal(message_code_http_status(MESSAGE_UNAVAILABLE), 503);
        assert_int_equal(message_code_http_status(_MESSAGE_CODE_MAX), 500);

        assert_int_equal(message_code_from_errno(-EINVAL), MESSAGE_INVALID);
        assert_int_equal(message_code_from_errno(-ENOKEY), MESSAGE_UNAUTHORIZED);
        assert_int_equal(message_code_from_errno(-EPERM), MESSAGE_FORBIDDEN);
        assert_int_equal(message_code_from_errno(-ENOENT), MESSAGE_NOT_FOUND);
        assert_int_equal(message_code_from_errno(-EALREADY), MESSAGE_SPENT);
        assert_int_equal(message_code_from_errno(-ESTALE), MESSAGE_CONFLICT);
        assert_int_equal(message_code_from_errno(-EUSERS), MESSAGE_TOO_MANY);
        assert_int_equal(message_code_from_errno(-ENOSPC), MESSAGE_UNAVAILABLE);
        assert_int_equal(message_code_from_errno(-ENOMEM), MESSAGE_INTERNAL);
}

static void test_getters(void **state _unused_) {
        _cleanup_json_ json_object *o = NULL;
        const char *s = "untouched";
        uint64_t u = 77;
        bool b = false;

        o = parse_ok("{\"s\":\"text\",\"n\":42,\"max\":9223372036854775807,\"neg\":-1,"
                     "\"big\":9223372036854775808,\"f\":1.5,\"t\":true,\"z\":null,\"nul\":\"a\\u0000b\"}");

        assert_int_equal(message_get_string(o, "s", &s), 0);
        assert_string_equal(s, "text");
        s = "untouched";
        assert_int_equal(message_get_string(o, "missing", &s), -ENOENT);
        assert_int_equal(message_get_string(o, "n", &s), -EINVAL);
        assert_int_equal(message_get_string(o, "z", &s), -EINVAL);
        assert_int_equal(message_get_string(o, "nul", &s), -EINVAL);
        assert_string_equal(s, "untouched");

        assert_int_equal(message_get_u64(o, "n", &u), 0);
        assert_int_equal(u, 42);
        assert_int_equal(message_get_u64(o, "max", &u), 0);
        assert_int_equal(u, INT64_MAX);
        u = 77;
        assert_int_equal(message_get_u64(o, "missing", &u), -ENOENT);
        assert_int_equal(message_get_u64(o, "s", &u), -EINVAL);
        assert_int_equal(message_get_u64(o, "f", &u), -EINVAL);
        assert_int_equal(message_get_u64(o, "t", &u), -EINVAL);
        assert_int_equal(message_get_u64(o, "z", &u), -EINVAL);
        assert_int_equal(message_get_u64(o, "neg", &u), -ERANGE);
        assert_int_equal(message_get_u64(o, "big", &u), -ERANGE);
        assert_int_equal(u, 77);

        assert_int_equal(message_get_bool(o, "t", &b), 0);
        assert_true(b);
        assert_int_equal(message_get_bool(o, "missing", &b), -ENOENT);
        assert_int_equal(message_get_bool(o, "n", &b), -EINVAL);
        assert_int_equal(message_get_bool(o, "s", &b), -EINVAL);
        assert_int_equal(message_get_bool(o, "z", &b), -EINVAL);
        assert_true(b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_slice_id),
                cmocka_unit_test(test_info_round_trip),
                cmocka_unit_test(test_info_vm),
                cmocka_unit_test(test_vm_image_name),
                cmocka_unit_test(test_info_vm_bounds),
                cmocka_unit_test(test_info_nesting),
                cmocka_unit_test(test_to_json_range),
                cmocka_unit_test(test_limits_from_json),
                cmocka_unit_test(test_limits_from_json_bad),
                cmocka_unit_test(test_limits_from_json_not_object),
                cmocka_unit_test(test_info_from_json_bad),
                cmocka_unit_test(test_row_round_trip),
                cmocka_unit_test(test_row_from_json_bad),
                cmocka_unit_test(test_info_from_json_minimal),
                cmocka_unit_test(test_parse_ok),
                cmocka_unit_test(test_parse_not_object),
                cmocka_unit_test(test_parse_malformed),
                cmocka_unit_test(test_parse_trailing),
                cmocka_unit_test(test_parse_depth),
                cmocka_unit_test(test_parse_size),
                cmocka_unit_test(test_serialize),
                cmocka_unit_test(test_replies),
                cmocka_unit_test(test_codes),
                cmocka_unit_test(test_getters),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
