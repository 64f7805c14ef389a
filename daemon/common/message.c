/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "message.h"
#include "util.h"

/* Every message prepayd reads comes from a process it does not trust, so
 * each field is checked for type and range here, before any other module
 * sees it. json-c keeps integers as int64_t (and silently clamps bigger
 * ones), so a uint64_t field travels as a JSON integer in 0..INT64_MAX and
 * anything else is refused rather than rounded. */

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

static void json_tokener_freep(struct json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

int message_add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int message_add_u64(json_object *o, const char *key, uint64_t v) {
        if (v > INT64_MAX)
                return -ERANGE;
        return message_add(o, key, json_object_new_int64((int64_t) v));
}

/* A JSON integer in 0..INT64_MAX: -EINVAL for another type, -ERANGE for a
 * number out of that range. */
static int json_to_u64(json_object *v, uint64_t *ret) {
        int64_t i;

        if (!v || !json_object_is_type(v, json_type_int))
                return -EINVAL;
        i = json_object_get_int64(v);
        if (i < 0)
                return -ERANGE;
        /* Above INT64_MAX json-c stores a uint64_t and get_int64() clamps;
         * get_uint64() tells the two apart. */
        if (json_object_get_uint64(v) > INT64_MAX)
                return -ERANGE;
        *ret = (uint64_t) i;
        return 0;
}

/* One table row per uint64_t field, with its error sentences spelled out
 * at compile time so that *ret_error can stay a static string. */
struct u64_field {
        const char *name;
        size_t offset;
        const char *error_type;
        const char *error_range;
};

#define U64_FIELD(type, field)                                                         \
        {                                                                              \
                .name = #field,                                                        \
                .offset = offsetof(type, field),                                       \
                .error_type = "Field '" #field "' must be an integer",                 \
                .error_range = "Field '" #field "' must be between 0 and 9223372036854775807", \
        }

/* The same, for the members of a nested object named in the sentence
 * ("Field 'vm.vcpus' must ..."). */
#define U64_MEMBER(prefix, type, field)                                                                \
        {                                                                                              \
                .name = #field,                                                                        \
                .offset = offsetof(type, field),                                                       \
                .error_type = "Field '" prefix "." #field "' must be an integer",                      \
                .error_range = "Field '" prefix "." #field "' must be between 0 and 9223372036854775807", \
        }

static const struct u64_field limits_fields[] = {
        U64_FIELD(struct slice_limits, cpu_quota_usec),
        U64_FIELD(struct slice_limits, cpu_period_usec),
        U64_FIELD(struct slice_limits, memory_max),
        U64_FIELD(struct slice_limits, pids_max),
};

static const struct u64_field usage_fields[] = {
        U64_FIELD(struct slice_usage, cpu_usec),
        U64_FIELD(struct slice_usage, cpu_throttled_usec),
        U64_FIELD(struct slice_usage, cpu_nr_throttled),
        U64_FIELD(struct slice_usage, memory_current),
        U64_FIELD(struct slice_usage, memory_peak),
        U64_FIELD(struct slice_usage, memory_byte_sec),
        U64_FIELD(struct slice_usage, net_rx_bytes),
        U64_FIELD(struct slice_usage, net_tx_bytes),
        U64_FIELD(struct slice_usage, net_rx_packets),
        U64_FIELD(struct slice_usage, net_tx_packets),
        U64_FIELD(struct slice_usage, net_rx_dropped),
        U64_FIELD(struct slice_usage, net_tx_dropped),
        U64_FIELD(struct slice_usage, io_read_bytes),
        U64_FIELD(struct slice_usage, io_write_bytes),
        U64_FIELD(struct slice_usage, pids_current),
        U64_FIELD(struct slice_usage, oom_kills),
};

static const struct u64_field info_fields[] = {
        U64_FIELD(struct slice_info, created_usec),
        U64_FIELD(struct slice_info, last_oom_usec),
        U64_FIELD(struct slice_info, cgroup_id),
};

static const struct u64_field vm_fields[] = {
        U64_MEMBER("vm", struct slice_vm_info, vcpus),
        U64_MEMBER("vm", struct slice_vm_info, memory),
        U64_MEMBER("vm", struct slice_vm_info, disk_size),
        U64_MEMBER("vm", struct slice_vm_info, pid),
};

static int fields_to_json(const struct u64_field *fields, size_t n, const void *p, json_object *o) {
        for (size_t i = 0; i < n; i++) {
                const uint64_t *v = (const uint64_t *) ((const char *) p + fields[i].offset);
                int r;

                r = message_add_u64(o, fields[i].name, *v);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Absent fields are left alone (zero, "no limit", in a fresh struct): a
 * client sends only what it sets. Present ones must be valid. */
static int fields_from_json(const struct u64_field *fields, size_t n, json_object *o, void *p,
                            const char **ret_error) {
        for (size_t i = 0; i < n; i++) {
                json_object *v;
                int r;

                if (!json_object_object_get_ex(o, fields[i].name, &v))
                        continue;

                r = json_to_u64(v, (uint64_t *) ((char *) p + fields[i].offset));
                if (r < 0) {
                        if (ret_error)
                                *ret_error = r == -ERANGE ? fields[i].error_range : fields[i].error_type;
                        return -EINVAL;
                }
        }
        return 0;
}

static void set_error(const char **ret_error, const char *error) {
        if (ret_error)
                *ret_error = error;
}

int slice_limits_to_json(const struct slice_limits *l, json_object *o) {
        if (!l || !json_object_is_type(o, json_type_object))
                return -EINVAL;
        return fields_to_json(limits_fields, ARRAY_SIZE(limits_fields), l, o);
}

int slice_limits_from_json(json_object *o, struct slice_limits *ret, const char **ret_error) {
        struct slice_limits l = {};
        int r;

        if (!json_object_is_type(o, json_type_object)) {
                set_error(ret_error, "Limits must be a JSON object");
                return -EINVAL;
        }

        r = fields_from_json(limits_fields, ARRAY_SIZE(limits_fields), o, &l, ret_error);
        if (r < 0)
                return r;

        *ret = l;
        return 0;
}

static int add_nested(json_object *o, const char *key, const struct u64_field *fields, size_t n,
                      const void *p) {
        json_object *child;
        int r;

        child = json_object_new_object();
        if (!child)
                return -ENOMEM;
        r = fields_to_json(fields, n, p, child);
        if (r < 0) {
                json_object_put(child);
                return r;
        }
        return message_add(o, key, child);
}

const char *const slice_resource_names[SLICE_RESOURCES] = {
        "cpu", "memory", "net_out", "net_in", "io", "base",
};

static int money_from_json(json_object *o, const char *key, int64_t *ret);

static int investors_to_json(const struct slice_account_info *a, json_object *parent) {
        json_object *o = json_object_new_object();
        int r;

        if (!o)
                return -ENOMEM;
        r = message_add(parent, "investors", o);
        if (r >= 0)
                r = message_add(o, "terms", json_object_new_string(a->investors.terms));
        if (r >= 0)
                r = message_add(o, "rate", json_object_new_string(a->investors.rate));
        if (r >= 0 && a->investors.cap > 0)
                r = message_add(o, "cap", json_object_new_int64(a->investors.cap));
        if (r >= 0)
                r = message_add(o, "invested", json_object_new_int64(a->investors.invested));
        if (r >= 0)
                r = message_add(o, "earned", json_object_new_int64(a->investors.earned));
        if (r >= 0)
                r = message_add(o, "claimed", json_object_new_int64(a->investors.claimed));
        return r;
}

static int investors_from_json(json_object *o, struct slice_account_info *a) {
        json_object *v;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return -EINVAL;
        a->investors.open = true;
        if (json_object_object_get_ex(o, "terms", &v) && json_object_is_type(v, json_type_string))
                snprintf(a->investors.terms, sizeof(a->investors.terms), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "rate", &v) && json_object_is_type(v, json_type_string))
                snprintf(a->investors.rate, sizeof(a->investors.rate), "%s", json_object_get_string(v));
        r = money_from_json(o, "cap", &a->investors.cap);
        if (r >= 0)
                r = money_from_json(o, "invested", &a->investors.invested);
        if (r >= 0)
                r = money_from_json(o, "earned", &a->investors.earned);
        if (r >= 0)
                r = money_from_json(o, "claimed", &a->investors.claimed);
        return r;
}

static int account_to_json(const struct slice_account_info *a, json_object *parent) {
        json_object *o, *charged;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = message_add(parent, "account", o);
        if (r < 0)
                return r;
        r = message_add(o, "currency", json_object_new_string(a->currency));
        if (r >= 0)
                r = message_add(o, "state", json_object_new_string(a->state));
        if (r >= 0)
                r = message_add(o, "enforcement", json_object_new_string(a->enforcement));
        if (r >= 0)
                r = message_add(o, "exhausted_action", json_object_new_string(a->exhausted_action));
        if (r >= 0)
                r = message_add(o, "donation_model", json_object_new_string(a->donation_model));
        if (r >= 0 && a->anonymous_share[0])
                r = message_add(o, "anonymous_share", json_object_new_string(a->anonymous_share));
        if (r >= 0)
                r = message_add(o, "balance", json_object_new_int64(a->balance));
        if (r >= 0)
                r = message_add(o, "credited", json_object_new_int64(a->credited));
        if (r >= 0)
                r = message_add(o, "refunded", json_object_new_int64(a->refunded));
        if (r >= 0)
                r = message_add(o, "overshoot", json_object_new_int64(a->overshoot));
        if (r >= 0)
                r = message_add(o, "burn_rate", json_object_new_int64(a->burn_rate));
        if (r >= 0)
                r = message_add_u64(o, "time_left_usec", a->time_left_usec);
        if (r >= 0)
                r = message_add(o, "revenue", json_object_new_int64(a->revenue));
        if (r >= 0 && a->investors.open)
                r = investors_to_json(a, o);
        if (r < 0)
                return r;
        charged = json_object_new_object();
        if (!charged)
                return -ENOMEM;
        r = message_add(o, "charged", charged);
        for (size_t i = 0; r >= 0 && i < SLICE_RESOURCES; i++)
                r = message_add(charged, slice_resource_names[i], json_object_new_int64(a->charged[i]));
        return r;
}

static int money_from_json(json_object *o, const char *key, int64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return 0;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        *ret = json_object_get_int64(v);
        return 0;
}

static int account_from_json(json_object *o, struct slice_account_info *ret, const char **ret_error) {
        struct slice_account_info a = { .funded = true };
        json_object *v, *charged;
        int r = 0;

        if (!json_object_is_type(o, json_type_object)) {
                set_error(ret_error, "Field 'account' must be an object");
                return -EINVAL;
        }
        if (json_object_object_get_ex(o, "currency", &v) && json_object_is_type(v, json_type_string))
                snprintf(a.currency, sizeof(a.currency), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "state", &v) && json_object_is_type(v, json_type_string))
                snprintf(a.state, sizeof(a.state), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "enforcement", &v) && json_object_is_type(v, json_type_string))
                snprintf(a.enforcement, sizeof(a.enforcement), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "exhausted_action", &v) && json_object_is_type(v, json_type_string))
                snprintf(a.exhausted_action, sizeof(a.exhausted_action), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "donation_model", &v) && json_object_is_type(v, json_type_string))
                snprintf(a.donation_model, sizeof(a.donation_model), "%s", json_object_get_string(v));
        if (json_object_object_get_ex(o, "anonymous_share", &v) && json_object_is_type(v, json_type_string))
                snprintf(a.anonymous_share, sizeof(a.anonymous_share), "%s", json_object_get_string(v));
        r = money_from_json(o, "balance", &a.balance);
        if (r >= 0)
                r = money_from_json(o, "credited", &a.credited);
        if (r >= 0)
                r = money_from_json(o, "refunded", &a.refunded);
        if (r >= 0)
                r = money_from_json(o, "overshoot", &a.overshoot);
        if (r >= 0)
                r = money_from_json(o, "burn_rate", &a.burn_rate);
        if (r >= 0 && json_object_object_get_ex(o, "time_left_usec", &v))
                r = json_to_u64(v, &a.time_left_usec);
        if (r >= 0)
                r = money_from_json(o, "revenue", &a.revenue);
        if (r >= 0 && json_object_object_get_ex(o, "investors", &v))
                r = investors_from_json(v, &a);
        if (r >= 0 && json_object_object_get_ex(o, "charged", &charged)) {
                if (!json_object_is_type(charged, json_type_object))
                        r = -EINVAL;
                for (size_t i = 0; r >= 0 && i < SLICE_RESOURCES; i++)
                        r = money_from_json(charged, slice_resource_names[i], &a.charged[i]);
        }
        if (r < 0) {
                set_error(ret_error, "Field 'account' holds a value of the wrong type");
                return -EINVAL;
        }
        *ret = a;
        return 0;
}

/* The strings of "vm", with their buffers and sentences. */
#define VM_STRING(field, what)                                                                        \
        { .name = #field, .offset = offsetof(struct slice_vm_info, field),                            \
          .size = sizeof(((struct slice_vm_info *) NULL)->field),                                      \
          .error = "Field 'vm." #field "' must be " what }
static const struct {
        const char *name;
        size_t offset, size;
        const char *error;
} vm_strings[] = {
        VM_STRING(image, "an image name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -)"),
        VM_STRING(accel, "a string of at most 7 bytes"),
        VM_STRING(ssh_host, "a string of at most 255 bytes"),
        VM_STRING(ssh_user, "a string of at most 32 bytes"),
        VM_STRING(host_key, "a string of at most 127 bytes"),
        VM_STRING(state, "a string of at most 15 bytes"),
};

static int vm_to_json(const struct slice_vm_info *vm, json_object *parent) {
        json_object *o;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        r = message_add(parent, "vm", o);
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(vm_strings); i++)
                r = message_add(o, vm_strings[i].name,
                               json_object_new_string((const char *) vm + vm_strings[i].offset));
        if (r >= 0)
                r = fields_to_json(vm_fields, ARRAY_SIZE(vm_fields), vm, o);
        /* 0 is no port (none forwarded, or not yet): left out, as a
         * present one must be a port. */
        if (r >= 0 && vm->ssh_port > 0)
                r = message_add_u64(o, "ssh_port", vm->ssh_port);
        return r;
}

int slice_info_to_json(const struct slice_info *s, json_object **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        int r;

        if (!s || !ret)
                return -EINVAL;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;

        r = message_add(o, "id", json_object_new_string(s->id));
        if (r < 0)
                return r;
        r = message_add(o, "state", json_object_new_string(s->state));
        if (r < 0)
                return r;
        r = fields_to_json(info_fields, ARRAY_SIZE(info_fields), s, o);
        if (r < 0)
                return r;
        r = message_add(o, "cgroup", json_object_new_string(s->cgroup));
        if (r < 0)
                return r;
        r = add_nested(o, "limits", limits_fields, ARRAY_SIZE(limits_fields), &s->limits);
        if (r < 0)
                return r;
        r = add_nested(o, "usage", usage_fields, ARRAY_SIZE(usage_fields), &s->usage);
        if (r < 0)
                return r;
        if (s->account.funded) {
                r = account_to_json(&s->account, o);
                if (r < 0)
                        return r;
        }
        if (s->vm.present) {
                r = vm_to_json(&s->vm, o);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(o);
        return 0;
}

/* Copies string v into buf: -EINVAL for another type, one too long for
 * buf or one with an embedded NUL. */
static int string_value(json_object *v, char *buf, size_t size) {
        const char *s;
        size_t len;

        if (!json_object_is_type(v, json_type_string))
                return -EINVAL;

        s = json_object_get_string(v);
        len = (size_t) json_object_get_string_len(v);
        if (len >= size || strlen(s) != len) /* too long, or an embedded NUL */
                return -EINVAL;

        memcpy(buf, s, len + 1);
        return 0;
}

/* Copies an optional string field into buf; absent leaves buf alone. */
static int string_from_json(json_object *o, const char *key, char *buf, size_t size) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return 0;
        return string_value(v, buf, size);
}

static int vm_from_json(json_object *o, struct slice_vm_info *ret, const char **ret_error) {
        struct slice_vm_info vm = { .present = true };
        json_object *v;
        int r;

        if (!json_object_is_type(o, json_type_object)) {
                set_error(ret_error, "Field 'vm' must be an object");
                return -EINVAL;
        }
        /* A VM is of an image: a record without one is not of a VM. */
        if (!json_object_object_get_ex(o, "image", NULL)) {
                set_error(ret_error, "Field 'vm.image' is missing");
                return -EINVAL;
        }
        for (size_t i = 0; i < ARRAY_SIZE(vm_strings); i++) {
                r = string_from_json(o, vm_strings[i].name, (char *) &vm + vm_strings[i].offset,
                                     vm_strings[i].size);
                if (r < 0) {
                        set_error(ret_error, vm_strings[i].error);
                        return -EINVAL;
                }
        }
        if (!vm_image_name_is_valid(vm.image)) {
                set_error(ret_error, vm_strings[0].error);
                return -EINVAL;
        }
        r = fields_from_json(vm_fields, ARRAY_SIZE(vm_fields), o, &vm, ret_error);
        if (r < 0)
                return r;
        if (json_object_object_get_ex(o, "ssh_port", &v) &&
            (json_to_u64(v, &vm.ssh_port) < 0 || vm.ssh_port < 1 || vm.ssh_port > 65535)) {
                set_error(ret_error, "Field 'vm.ssh_port' must be a port, an integer from 1 to 65535");
                return -EINVAL;
        }
        *ret = vm;
        return 0;
}

int slice_info_from_json(json_object *o, struct slice_info *ret, const char **ret_error) {
        struct slice_info s = {};
        json_object *v;
        int r;

        if (!json_object_is_type(o, json_type_object)) {
                set_error(ret_error, "Slice info must be a JSON object");
                return -EINVAL;
        }

        if (!json_object_object_get_ex(o, "id", NULL)) {
                set_error(ret_error, "Field 'id' is missing");
                return -EINVAL;
        }
        r = string_from_json(o, "id", s.id, sizeof(s.id));
        if (r < 0 || !slice_id_is_valid(s.id)) {
                set_error(ret_error, "Field 'id' must be a slice id (\"s-\" and 8 to 16 lower-case hex digits)");
                return -EINVAL;
        }

        r = string_from_json(o, "state", s.state, sizeof(s.state));
        if (r < 0) {
                set_error(ret_error, "Field 'state' must be a string of at most 15 bytes");
                return -EINVAL;
        }

        r = string_from_json(o, "cgroup", s.cgroup, sizeof(s.cgroup));
        if (r < 0) {
                set_error(ret_error, "Field 'cgroup' must be a string of at most 255 bytes");
                return -EINVAL;
        }

        r = fields_from_json(info_fields, ARRAY_SIZE(info_fields), o, &s, ret_error);
        if (r < 0)
                return r;

        if (json_object_object_get_ex(o, "limits", &v)) {
                if (!json_object_is_type(v, json_type_object)) {
                        set_error(ret_error, "Field 'limits' must be an object");
                        return -EINVAL;
                }
                r = fields_from_json(limits_fields, ARRAY_SIZE(limits_fields), v, &s.limits, ret_error);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(o, "usage", &v)) {
                if (!json_object_is_type(v, json_type_object)) {
                        set_error(ret_error, "Field 'usage' must be an object");
                        return -EINVAL;
                }
                r = fields_from_json(usage_fields, ARRAY_SIZE(usage_fields), v, &s.usage, ret_error);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(o, "account", &v)) {
                r = account_from_json(v, &s.account, ret_error);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(o, "vm", &v)) {
                r = vm_from_json(v, &s.vm, ret_error);
                if (r < 0)
                        return r;
        }

        *ret = s;
        return 0;
}

/* The numbers of a list row, between its state and its balance
 * (message.h): what `prepay list` prints of a slice. */
#define ROW_COLUMN(field)                                                                           \
        {                                                                                           \
                .name = #field,                                                                     \
                .offset = offsetof(struct slice_info, field),                                       \
                .error_type = "Row column '" #field "' must be an integer",                         \
                .error_range = "Row column '" #field "' must be between 0 and 9223372036854775807", \
        }
static const struct u64_field row_fields[] = {
        ROW_COLUMN(limits.cpu_quota_usec), ROW_COLUMN(limits.cpu_period_usec), ROW_COLUMN(limits.memory_max),
        ROW_COLUMN(usage.cpu_usec),        ROW_COLUMN(usage.memory_current),   ROW_COLUMN(usage.net_tx_bytes),
        ROW_COLUMN(usage.net_rx_bytes),    ROW_COLUMN(usage.pids_current),     ROW_COLUMN(usage.oom_kills),
};

enum {
        ROW_ID,
        ROW_STATE,
        ROW_NUMBERS,
        ROW_BALANCE = ROW_NUMBERS + SLICE_ROW_NUMBERS,
        ROW_CURRENCY,
        ROW_VM,
        ROW_ENFORCEMENT,
        ROW_BURN_RATE,
        ROW_TIME_LEFT,
        ROW_READ,
        _ROW_COLUMNS,
};
_Static_assert(ARRAY_SIZE(row_fields) == SLICE_ROW_NUMBERS, "row_fields and SLICE_ROW_NUMBERS disagree");
_Static_assert(_ROW_COLUMNS == SLICE_ROW_COLUMNS, "the row's columns and SLICE_ROW_COLUMNS disagree");
_Static_assert(ROW_ENFORCEMENT == SLICE_ROW_COLUMNS_MIN, "the columns top added must come last");

/* json_object_array_add() takes NULL as JSON null: a column left empty. */
static int row_add(json_object *a, json_object *v, bool null) {
        if (!v && !null)
                return -ENOMEM;
        if (json_object_array_add(a, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

int slice_row_to_json(const struct slice_info *s, json_object **ret) {
        _cleanup_(json_object_putp) json_object *a = NULL;
        int r;

        if (!s || !ret)
                return -EINVAL;

        a = json_object_new_array_ext(SLICE_ROW_COLUMNS);
        if (!a)
                return -ENOMEM;
        r = row_add(a, json_object_new_string(s->id), false);
        if (r >= 0)
                r = row_add(a, json_object_new_string(s->state), false);
        for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(row_fields); i++) {
                uint64_t v = *(const uint64_t *) ((const char *) s + row_fields[i].offset);

                r = v > INT64_MAX ? -ERANGE : row_add(a, json_object_new_int64((int64_t) v), false);
        }
        if (r >= 0)
                r = row_add(a, s->account.funded ? json_object_new_int64(s->account.balance) : NULL,
                            !s->account.funded);
        if (r >= 0)
                r = row_add(a, s->account.funded ? json_object_new_string(s->account.currency) : NULL,
                            !s->account.funded);
        if (r >= 0 && s->vm.present) {
                /* vm_to_json() adds "vm" to an object: take it from there. */
                _cleanup_(json_object_putp) json_object *holder = json_object_new_object();
                json_object *vm;

                r = holder ? vm_to_json(&s->vm, holder) : -ENOMEM;
                if (r >= 0 && json_object_object_get_ex(holder, "vm", &vm))
                        r = row_add(a, json_object_get(vm), false);
        } else if (r >= 0)
                r = row_add(a, NULL, true);
        /* top's columns: the money's state and pace, nulls when unfunded. */
        if (r >= 0 && s->account.funded) {
                r = s->account.time_left_usec > INT64_MAX ? -ERANGE : 0;
                if (r >= 0)
                        r = row_add(a, json_object_new_string(s->account.enforcement), false);
                if (r >= 0)
                        r = row_add(a, json_object_new_int64(s->account.burn_rate), false);
                if (r >= 0)
                        r = row_add(a, json_object_new_int64((int64_t) s->account.time_left_usec), false);
        } else
                for (size_t i = ROW_ENFORCEMENT; r >= 0 && i <= ROW_TIME_LEFT; i++)
                        r = row_add(a, NULL, true);
        if (r >= 0)
                r = s->read_usec > INT64_MAX ? -ERANGE : row_add(a, json_object_new_int64((int64_t) s->read_usec), false);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(a);
        return 0;
}

int slice_row_from_json(json_object *o, struct slice_info *ret, const char **ret_error) {
        struct slice_info s = {};
        json_object *v;
        int r;

        if (!json_object_is_type(o, json_type_array) || json_object_array_length(o) < SLICE_ROW_COLUMNS_MIN) {
                set_error(ret_error, "A row must be an array of at least 14 columns");
                return -EINVAL;
        }

        if (string_value(json_object_array_get_idx(o, ROW_ID), s.id, sizeof(s.id)) < 0 ||
            !slice_id_is_valid(s.id)) {
                set_error(ret_error, "Row column 'id' must be a slice id (\"s-\" and 8 to 16 lower-case hex digits)");
                return -EINVAL;
        }
        if (string_value(json_object_array_get_idx(o, ROW_STATE), s.state, sizeof(s.state)) < 0) {
                set_error(ret_error, "Row column 'state' must be a string of at most 15 bytes");
                return -EINVAL;
        }
        for (size_t i = 0; i < ARRAY_SIZE(row_fields); i++) {
                r = json_to_u64(json_object_array_get_idx(o, ROW_NUMBERS + i),
                                (uint64_t *) ((char *) &s + row_fields[i].offset));
                if (r < 0) {
                        set_error(ret_error, r == -ERANGE ? row_fields[i].error_range : row_fields[i].error_type);
                        return -EINVAL;
                }
        }

        /* Unfunded: balance and currency both null. */
        v = json_object_array_get_idx(o, ROW_BALANCE);
        if (v) {
                if (!json_object_is_type(v, json_type_int)) {
                        set_error(ret_error, "Row column 'balance' must be an integer or null");
                        return -EINVAL;
                }
                s.account.funded = true;
                s.account.balance = json_object_get_int64(v);
        }
        v = json_object_array_get_idx(o, ROW_CURRENCY);
        if (s.account.funded ? string_value(v, s.account.currency, sizeof(s.account.currency)) < 0 : v != NULL) {
                set_error(ret_error, "Row column 'currency' must be a currency's code with a balance, else null");
                return -EINVAL;
        }

        v = json_object_array_get_idx(o, ROW_VM);
        if (v) {
                r = vm_from_json(v, &s.vm, ret_error);
                if (r < 0)
                        return r;
        }

        /* top's columns: absent from an older daemon's row; null, as the
         * balance, when unfunded. */
        v = json_object_array_get_idx(o, ROW_ENFORCEMENT);
        if (s.account.funded ? v && string_value(v, s.account.enforcement, sizeof(s.account.enforcement)) < 0
                             : v != NULL) {
                set_error(ret_error, "Row column 'enforcement' must be a string of at most 15 bytes with a balance, "
                          "else null");
                return -EINVAL;
        }
        v = json_object_array_get_idx(o, ROW_BURN_RATE);
        if (s.account.funded ? v && !json_object_is_type(v, json_type_int) : v != NULL) {
                set_error(ret_error, "Row column 'burn_rate' must be an integer with a balance, else null");
                return -EINVAL;
        }
        if (v)
                s.account.burn_rate = json_object_get_int64(v);
        v = json_object_array_get_idx(o, ROW_TIME_LEFT);
        if (s.account.funded ? v && json_to_u64(v, &s.account.time_left_usec) < 0 : v != NULL) {
                set_error(ret_error, "Row column 'time_left_usec' must be between 0 and 9223372036854775807 with "
                          "a balance, else null");
                return -EINVAL;
        }
        v = json_object_array_get_idx(o, ROW_READ);
        if (v && json_to_u64(v, &s.read_usec) < 0) {
                set_error(ret_error, "Row column 'read_usec' must be between 0 and 9223372036854775807");
                return -EINVAL;
        }

        *ret = s;
        return 0;
}

int message_parse(const char *buf, size_t len, json_object **ret, const char **ret_error) {
        _cleanup_(json_tokener_freep) struct json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *o = NULL;
        enum json_tokener_error e;
        size_t i;

        if (!buf || !ret)
                return -EINVAL;

        if (len > PREPAY_MSG_MAX) {
                set_error(ret_error, "Message too large");
                return -EMSGSIZE;
        }
        if (len == 0) {
                set_error(ret_error, "Empty message");
                return -EINVAL;
        }
        /* json-c would stop at a NUL and call what came before the message. */
        if (memchr(buf, 0, len)) {
                set_error(ret_error, "Message contains a NUL byte");
                return -EINVAL;
        }

        /* An object is self-delimiting; anything else at the top would
         * only be called "incomplete" by the tokener. */
        for (i = 0; i < len && strchr(" \t\n\r", buf[i]); i++)
                ;
        if (i >= len || buf[i] != '{') {
                set_error(ret_error, "Message is not a JSON object");
                return -EINVAL;
        }

        tok = json_tokener_new_ex(PREPAY_MSG_MAX_DEPTH);
        if (!tok)
                return -ENOMEM;
        /* Strict: no trailing commas, no bare words. The tokener stops
         * after the object, and what follows is checked below. */
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                            JSON_TOKENER_VALIDATE_UTF8);

        o = json_tokener_parse_ex(tok, buf, (int) len);
        e = json_tokener_get_error(tok);
        if (e != json_tokener_success) {
                if (e == json_tokener_error_depth)
                        set_error(ret_error, "Message nested too deeply");
                else if (e == json_tokener_continue)
                        set_error(ret_error, "Message is truncated JSON");
                else if (e == json_tokener_error_parse_utf8_string)
                        set_error(ret_error, "Message is not valid UTF-8");
                else
                        set_error(ret_error, "Message is not valid JSON");
                return -EINVAL;
        }
        /* Only the white space RFC 8259 allows after a JSON text. */
        for (i = json_tokener_get_parse_end(tok); i < len; i++)
                if (!strchr(" \t\n\r", buf[i])) {
                        set_error(ret_error, "Trailing data after the JSON object");
                        return -EINVAL;
                }
        if (!json_object_is_type(o, json_type_object)) {
                set_error(ret_error, "Message is not a JSON object");
                return -EINVAL;
        }

        *ret = TAKE_PTR(o);
        return 0;
}

int message_serialize(json_object *o, const char **ret_str, size_t *ret_len) {
        const char *s;
        size_t len;

        if (!o || !ret_str)
                return -EINVAL;

        /* No "\/" escapes: cgroup and socket paths stay readable. */
        s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!s)
                return -ENOMEM;
        if (len > PREPAY_MSG_MAX)
                return -EMSGSIZE;

        *ret_str = s;
        if (ret_len)
                *ret_len = len;
        return 0;
}

json_object *message_reply_ok(void) {
        _cleanup_(json_object_putp) json_object *o = NULL;

        o = json_object_new_object();
        if (!o)
                return NULL;
        if (message_add(o, "ok", json_object_new_boolean(1)) < 0)
                return NULL;
        return TAKE_PTR(o);
}

static const struct {
        const char *name;
        unsigned status;
} codes[_MESSAGE_CODE_MAX] = {
        [MESSAGE_INVALID] = { "invalid", 400 },
        [MESSAGE_UNAUTHORIZED] = { "unauthorized", 401 },
        [MESSAGE_FORBIDDEN] = { "forbidden", 403 },
        [MESSAGE_NOT_FOUND] = { "not_found", 404 },
        [MESSAGE_SPENT] = { "spent", 409 },
        [MESSAGE_CONFLICT] = { "conflict", 409 },
        [MESSAGE_PAYMENT_REQUIRED] = { "payment_required", 402 },
        [MESSAGE_TOO_MANY] = { "too_many", 429 },
        [MESSAGE_UNAVAILABLE] = { "unavailable", 503 },
        [MESSAGE_INTERNAL] = { "internal", 500 },
        [MESSAGE_BID_TOO_LOW] = { "bid_too_low", 402 },
};

const char *message_code_to_string(enum message_code code) {
        if ((unsigned) code >= _MESSAGE_CODE_MAX)
                return NULL;
        return codes[code].name;
}

int message_code_from_string(const char *s) {
        for (int i = 0; s && i < _MESSAGE_CODE_MAX; i++)
                if (streq(codes[i].name, s))
                        return i;
        return -EINVAL;
}

unsigned message_code_http_status(enum message_code code) {
        if ((unsigned) code >= _MESSAGE_CODE_MAX)
                return 500;
        return codes[code].status;
}

/* The errnos prepayd's refusals are made with, each of one meaning
 * there. -ENOKEY is "the owner token is missing" (billing.c); a voucher
 * verification's own -ENOKEY (an untrusted issuer) reaches the reply as
 * -EINVAL. -ENOSPC is the disk's, never a voucher too small. */
enum message_code message_code_from_errno(int r) {
        switch (r) {
        case -EINVAL:
        case -ERANGE:
        case -EBADMSG:
        case -EDOM:
        case -E2BIG:
        case -EOVERFLOW:
        case -EPROTONOSUPPORT:
        case -EOPNOTSUPP:
        case -ENAMETOOLONG:
        case -EMSGSIZE:
                return MESSAGE_INVALID;
        case -ENOKEY:
                return MESSAGE_UNAUTHORIZED;
        case -EPERM:
        case -EACCES:
                return MESSAGE_FORBIDDEN;
        case -ENOENT:
        case -ESRCH:
                return MESSAGE_NOT_FOUND;
        case -EALREADY:
                return MESSAGE_SPENT;
        case -ESTALE:
        case -EBUSY:
        case -EEXIST:
                return MESSAGE_CONFLICT;
        case -EUSERS:
        case -EMFILE:
        case -ENFILE:
        case -EAGAIN:
                return MESSAGE_TOO_MANY;
        case -ENOSPC:
        case -EDQUOT:
        case -EIO:
        case -EROFS:
        case -ESHUTDOWN:
                return MESSAGE_UNAVAILABLE;
        default:
                return MESSAGE_INTERNAL;
        }
}

static json_object *reply_refusalv(enum message_code code, const char *fmt, va_list ap) _printf_(2, 0);
static json_object *reply_refusalv(enum message_code code, const char *fmt, va_list ap) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(freep) char *text = NULL;

        if (vasprintf(&text, fmt, ap) < 0) {
                text = NULL;
                return NULL;
        }

        o = json_object_new_object();
        if (!o)
                return NULL;
        if (message_add(o, "ok", json_object_new_boolean(0)) < 0)
                return NULL;
        if (message_add(o, "error", json_object_new_string(text)) < 0)
                return NULL;
        if (message_add(o, "code", json_object_new_string(message_code_to_string(code) ?: "internal")) < 0)
                return NULL;
        return TAKE_PTR(o);
}

json_object *message_reply_refusal(enum message_code code, const char *fmt, ...) {
        json_object *o;
        va_list ap;

        va_start(ap, fmt);
        o = reply_refusalv(code, fmt, ap);
        va_end(ap);
        return o;
}

json_object *message_reply_error(const char *fmt, ...) {
        json_object *o;
        va_list ap;

        va_start(ap, fmt);
        o = reply_refusalv(MESSAGE_INTERNAL, fmt, ap);
        va_end(ap);
        return o;
}

json_object *message_reply_payment(int64_t missing, int64_t total, const char *currency, const char *fmt, ...) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        va_list ap;

        va_start(ap, fmt);
        o = reply_refusalv(MESSAGE_PAYMENT_REQUIRED, fmt, ap);
        va_end(ap);
        if (!o)
                return NULL;
        if (message_add(o, "missing", json_object_new_int64(missing)) < 0 ||
            message_add(o, "total", json_object_new_int64(total)) < 0 ||
            message_add(o, "currency", json_object_new_string(currency ?: "")) < 0)
                return NULL;
        return TAKE_PTR(o);
}

int message_reply_code(json_object *reply) {
        json_object *v;

        if (!json_object_object_get_ex(reply, "code", &v) || !json_object_is_type(v, json_type_string))
                return -ENOENT;
        return message_code_from_string(json_object_get_string(v));
}

static int get_field(json_object *o, const char *key, json_type type, json_object **ret) {
        json_object *v;

        if (!json_object_is_type(o, json_type_object) || !key)
                return -EINVAL;
        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, type)) /* also for null */
                return -EINVAL;
        *ret = v;
        return 0;
}

int message_get_string(json_object *o, const char *key, const char **ret) {
        json_object *v;
        int r;

        r = get_field(o, key, json_type_string, &v);
        if (r < 0)
                return r;
        /* A C string cannot hold "\u0000"; refuse rather than truncate. */
        if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return -EINVAL;

        *ret = json_object_get_string(v);
        return 0;
}

int message_get_u64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;
        int r;

        r = get_field(o, key, json_type_int, &v);
        if (r < 0)
                return r;
        return json_to_u64(v, ret);
}

int message_get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;
        int r;

        r = get_field(o, key, json_type_boolean, &v);
        if (r < 0)
                return r;

        *ret = json_object_get_boolean(v);
        return 0;
}

bool vm_image_name_is_valid(const char *s) {
        size_t n;

        if (!s || s[0] == '.' || s[0] == '-')
                return false;
        n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
        return s[n] == 0 && n >= 1 && n <= VM_IMAGE_NAME_MAX;
}

bool slice_id_is_valid(const char *s) {
        size_t n;

        if (!s || !strneq(s, "s-", 2))
                return false;

        s += 2;
        n = strspn(s, "0123456789abcdef");
        return s[n] == 0 && n >= 8 && n <= 16;
}
