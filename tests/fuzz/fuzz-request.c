/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Each request's fields, as prepayd decodes them from a client's datagram
 * before anything acts: message_parse(), then request_check_version() and
 * request_decode() (common/request.c), then the checks of meaning the
 * handlers make on what the decoder let through: voucher_from_text() on
 * "voucher", slice_limits_to_json() on "limits", enforce_action_from_string()
 * and enforce_action_allowed() on "exhausted_action".
 * Properties:
 *   - the decoder returns 0, -EINVAL (a field), -EPROTONOSUPPORT (the
 *     version) or -EOPNOTSUPP (the op), nothing else; a refusal comes with
 *     a sentence in printable ASCII that fits its buffer;
 *   - the decoder refuses a version the version check refuses, with the
 *     same answer (it is its first check), and says the same twice;
 *   - what it accepts keeps its promises: the op is named, strings are
 *     within their bounds and forms (a valid slice id, request id), numbers
 *     are 0..INT64_MAX, and decoding again gives the same request; a
 *     VM image comes with an SSH key and without "attach";
 *   - a voucher accepted re-encodes to its text; limits accepted write
 *     back to an object that decodes to the same limits; an action accepted
 *     has a name that maps back to it. */
#include <errno.h>

#include "fuzz.h"
#include "common/message.h"
#include "common/request.h"
#include "common/voucher.h"
#include "config.h"
#include "enforcer.h"

/* The default AllowedActions= (packaging/prepayd.conf). */
static struct config config;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        if (config_init(&config) < 0)
                abort();
        return 0;
}

static void check_refusal(int r, const char *error) {
        fuzz_check(r == -EINVAL || r == -EPROTONOSUPPORT || r == -EOPNOTSUPP);
        fuzz_check(strnlen(error, REQUEST_ERROR_MAX) < REQUEST_ERROR_MAX && error[0]);
        for (const char *p = error; *p; p++)
                fuzz_check(*p >= 0x20 && *p <= 0x7e);
}

static void check_string(const char *s, size_t min, size_t max) {
        size_t n;

        if (!s)
                return;
        n = strlen(s);
        fuzz_check(n >= min && n <= max);
}

/* Member by member: padding is not compared. */
static bool same_request(const struct request *a, const struct request *b) {
        return a->op == b->op && a->request_id == b->request_id && a->slice == b->slice && a->token == b->token &&
               a->voucher == b->voucher && a->unit == b->unit && a->exhausted_action == b->exhausted_action &&
               a->vm_image == b->vm_image && a->ssh_key == b->ssh_key && a->disk_size == b->disk_size &&
               a->has_limits == b->has_limits && memcmp(&a->limits, &b->limits, sizeof(a->limits)) == 0 &&
               a->cpus_milli == b->cpus_milli && a->memory_max == b->memory_max &&
               a->duration_usec == b->duration_usec && a->cursor == b->cursor && a->attach == b->attach &&
               a->size_to_funds == b->size_to_funds && a->keep == b->keep;
}

static void check_meaning(const struct request *q) {
        const char *error = NULL;
        char text[VOUCHER_TEXT_MAX];
        struct slice_limits back;
        struct voucher v;
        json_object *o;
        int a;

        if (q->voucher && voucher_from_text(q->voucher, &v, &error) >= 0)
                fuzz_check(voucher_to_text(&v, text, sizeof(text)) == 0 && strstr(q->voucher, text));
        if (q->has_limits) {
                o = json_object_new_object();
                fuzz_check(o && slice_limits_to_json(&q->limits, o) == 0);
                fuzz_check(slice_limits_from_json(o, &back, NULL) == 0);
                fuzz_check(memcmp(&q->limits, &back, sizeof(back)) == 0);
                json_object_put(o);
        }
        if (q->exhausted_action) {
                a = enforce_action_from_string(q->exhausted_action);
                if (a >= 0) {
                        fuzz_check(streq(enforce_action_to_string((enum enforce_action) a), q->exhausted_action));
                        (void) enforce_action_allowed(config.allowed_actions, (enum enforce_action) a);
                } else
                        fuzz_check(a == -EINVAL);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char error[REQUEST_ERROR_MAX] = "", again_error[REQUEST_ERROR_MAX] = "";
        const char *parse_error = NULL;
        struct request q, again;
        json_object *req = NULL;
        int r, v;

        if (message_parse((const char *) data, size, &req, &parse_error) < 0)
                return 0;

        v = request_check_version(req, error, sizeof(error));
        if (v < 0)
                check_refusal(v, error);

        r = request_decode(req, &q, error, sizeof(error));
        if (r < 0) {
                check_refusal(r, error);
                /* The version is the first check of all. */
                fuzz_check(v >= 0 || r == v);
                fuzz_check(request_decode(req, &again, again_error, sizeof(again_error)) == r);
                fuzz_check(streq(error, again_error));
                goto out;
        }
        fuzz_check(v >= 0);

        fuzz_check(q.op && q.op[0]);
        check_string(q.op, 1, REQUEST_OP_MAX);
        if (q.slice)
                fuzz_check(slice_id_is_valid(q.slice));
        if (q.request_id)
                fuzz_check(request_id_is_valid(q.request_id));
        check_string(q.request_id, 1, REQUEST_ID_MAX);
        check_string(q.token, 1, REQUEST_TOKEN_MAX);
        check_string(q.unit, 1, REQUEST_UNIT_MAX);
        check_string(q.exhausted_action, 0, REQUEST_ACTION_MAX);
        if (q.vm_image)
                fuzz_check(vm_image_name_is_valid(q.vm_image));
        check_string(q.ssh_key, 1, VM_SSH_KEY_MAX);
        /* A VM slice comes with its key and never takes the caller in. */
        if (q.vm_image)
                fuzz_check(streq(q.op, "create") && q.ssh_key && !q.attach);
        fuzz_check(q.disk_size <= INT64_MAX);
        fuzz_check(q.cpus_milli <= INT64_MAX && q.memory_max <= INT64_MAX && q.duration_usec <= INT64_MAX &&
                   q.cursor <= INT64_MAX);

        fuzz_check(request_decode(req, &again, again_error, sizeof(again_error)) == 0);
        fuzz_check(same_request(&q, &again));

        check_meaning(&q);
out:
        json_object_put(req);
        return 0;
}
