/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A slice record as a reply carries it ("slice": {...} of status, create,
 * attach, kill; "slices": [...] of list), which the CLI reads from a socket
 * it may not trust: message_parse(), then slice_info_from_json() on the
 * "slice" object, on each of "slices", and on the message itself; and
 * slice_limits_from_json() on "limits". Properties:
 *   - a refusal is -EINVAL with a sentence;
 *   - a record accepted has a valid id and NUL-terminated strings, and
 *     its VM, if any, a valid image name and a port in 0..65535;
 *   - it writes back (slice_info_to_json()) to an object that reads to the
 *     same record, which writes the same text again.
 * The same for each of "rows" (a brief list) with slice_row_from_json()
 * and slice_row_to_json(). */
#include <errno.h>

#include "fuzz-json.h"
#include "common/message.h"

FUZZ_QUIET_INITIALIZE

static void check_record(json_object *o) {
        struct slice_info s, back;
        json_object *out = NULL, *out2 = NULL;
        const char *error = NULL;
        int r;

        r = slice_info_from_json(o, &s, &error);
        if (fuzz_refused(r, error))
                return;
        fuzz_check(slice_id_is_valid(s.id));
        fuzz_check(memchr(s.state, 0, sizeof(s.state)) && memchr(s.cgroup, 0, sizeof(s.cgroup)));
        fuzz_check(memchr(s.account.currency, 0, sizeof(s.account.currency)) &&
                   memchr(s.account.state, 0, sizeof(s.account.state)) &&
                   memchr(s.account.enforcement, 0, sizeof(s.account.enforcement)) &&
                   memchr(s.account.exhausted_action, 0, sizeof(s.account.exhausted_action)));
        fuzz_check(memchr(s.vm.image, 0, sizeof(s.vm.image)) && memchr(s.vm.accel, 0, sizeof(s.vm.accel)) &&
                   memchr(s.vm.ssh_host, 0, sizeof(s.vm.ssh_host)) &&
                   memchr(s.vm.ssh_user, 0, sizeof(s.vm.ssh_user)) &&
                   memchr(s.vm.host_key, 0, sizeof(s.vm.host_key)) && memchr(s.vm.state, 0, sizeof(s.vm.state)));
        fuzz_check(!s.vm.present || vm_image_name_is_valid(s.vm.image));
        fuzz_check(s.vm.ssh_port <= 65535);

        fuzz_check(slice_info_to_json(&s, &out) == 0);
        r = slice_info_from_json(out, &back, &error);
        fuzz_check(r == 0);
        fuzz_check(slice_info_to_json(&back, &out2) == 0);
        fuzz_check_same_json(out, out2);
}

static void check_row(json_object *o) {
        json_object *out = NULL, *out2 = NULL;
        struct slice_info s, back;
        const char *error = NULL;
        int r;

        r = slice_row_from_json(o, &s, &error);
        if (fuzz_refused(r, error))
                return;
        fuzz_check(slice_id_is_valid(s.id));
        fuzz_check(memchr(s.state, 0, sizeof(s.state)) && memchr(s.account.currency, 0, sizeof(s.account.currency)));
        fuzz_check(!s.vm.present || vm_image_name_is_valid(s.vm.image));
        fuzz_check(s.vm.ssh_port <= 65535);

        fuzz_check(slice_row_to_json(&s, &out) == 0);
        r = slice_row_from_json(out, &back, &error);
        fuzz_check(r == 0);
        fuzz_check(slice_row_to_json(&back, &out2) == 0);
        fuzz_check_same_json(out, out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct slice_limits limits;
        json_object *o = NULL, *v;
        const char *error = NULL;
        int r;

        if (message_parse((const char *) data, size, &o, &error) < 0)
                return 0;

        check_record(o);
        if (json_object_object_get_ex(o, "slice", &v))
                check_record(v);
        if (json_object_object_get_ex(o, "slices", &v) && json_object_is_type(v, json_type_array))
                for (size_t i = 0; i < json_object_array_length(v); i++)
                        check_record(json_object_array_get_idx(v, i));
        if (json_object_object_get_ex(o, "rows", &v) && json_object_is_type(v, json_type_array))
                for (size_t i = 0; i < json_object_array_length(v); i++)
                        check_row(json_object_array_get_idx(v, i));
        if (json_object_object_get_ex(o, "limits", &v)) {
                r = slice_limits_from_json(v, &limits, &error);
                fuzz_check(r == 0 || (r == -EINVAL && fuzz_sentence_ok(error)));
        }

        json_object_put(o);
        return 0;
}
