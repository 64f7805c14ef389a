/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A slice's state file, StateDirectory/slices/<id>.json, as prepayd reads
 * it back after a restart: slice_state_from_text() (daemon/slices.c), with
 * slice_limits_from_json() and enforce_from_json() inside it.
 * Properties:
 *   - a refusal is -EINVAL or -EMSGSIZE with a sentence;
 *   - what is read writes back (slice_state_to_json(), as the daemon
 *     writes the file) to text that reads to the same slice state. */
#include <errno.h>

#include "fuzz.h"
#include "slices.h"

FUZZ_QUIET_INITIALIZE

static void check_same(const struct slice *a, const struct slice *b) {
        fuzz_check(memcmp(&a->limits, &b->limits, sizeof(a->limits)) == 0);
        fuzz_check(a->owner_uid == b->owner_uid && a->created_usec == b->created_usec);
        fuzz_check(a->usage.memory_byte_sec == b->usage.memory_byte_sec && a->memory_rem == b->memory_rem);
        fuzz_check(a->usage.memory_current == b->usage.memory_current && a->usage.oom_kills == b->usage.oom_kills);
        fuzz_check(a->last_sample_usec == b->last_sample_usec && a->last_oom_usec == b->last_oom_usec);
        fuzz_check(a->account.funded == b->account.funded);
        fuzz_check(a->account.enforce.action == b->account.enforce.action &&
                   a->account.enforce.state == b->account.enforce.state &&
                   a->account.enforce.frozen_usec == b->account.enforce.frozen_usec &&
                   a->account.enforce.daemon_frozen == b->account.enforce.daemon_frozen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct slice s = { .id = "s-0123456789abcdef" }, back = { .id = "s-0123456789abcdef" };
        const char *error = NULL, *text;
        json_object *o = NULL;
        char *copy;
        int r;

        r = slice_state_from_text(&s, (const char *) data, size, &error);
        if (r < 0) {
                fuzz_check((r == -EINVAL || r == -EMSGSIZE) && fuzz_sentence_ok(error));
                return 0;
        }

        fuzz_check(slice_state_to_json(&s, &o) == 0);
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        copy = text ? strdup(text) : NULL;
        if (copy) {
                fuzz_check(slice_state_from_text(&back, copy, strlen(copy), &error) == 0);
                check_same(&s, &back);
        }
        free(copy);
        json_object_put(o);
        return 0;
}
