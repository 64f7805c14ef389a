/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One control-socket datagram, as prepayd reads it from any client (and the
 * CLI reads a reply from a socket it may not trust): message_parse(), then
 * the field getters message_get_string(), message_get_u64(),
 * message_get_bool() on every key the protocol knows and on every key the
 * message holds, and message_serialize(). Properties:
 *   - a refusal is -EINVAL or -EMSGSIZE with a sentence, and nothing is
 *     returned; what is accepted is an object;
 *   - at most one getter reads a present field, all say -ENOENT for an
 *     absent one, a string read has no NUL inside, a number is in
 *     0..INT64_MAX;
 *   - what is accepted serialises to text that parses again and serialises
 *     to the same text (the daemon stores replies and sends them again). */
#include <errno.h>

#include "fuzz.h"
#include "common/message.h"

FUZZ_QUIET_INITIALIZE

static const char *const protocol_keys[] = {
        "op",     "version", "request_id", "voucher",       "slice",         "token",  "limits", "cpus_milli",
        "attach", "keep",    "cursor",     "size_to_funds", "duration_usec", "memory_max", "unit", "exhausted_action",
        "ok",     "error",   "refund",     "change",        "credited",      "next",   "only_uid", "event",
};

static void check_getters(json_object *o, const char *key) {
        const char *s = NULL;
        uint64_t u = UINT64_MAX;
        bool b;
        int rs, ru, rb;

        rs = message_get_string(o, key, &s);
        ru = message_get_u64(o, key, &u);
        rb = message_get_bool(o, key, &b);
        fuzz_check(rs == 0 || rs == -ENOENT || rs == -EINVAL);
        fuzz_check(ru == 0 || ru == -ENOENT || ru == -EINVAL || ru == -ERANGE);
        fuzz_check(rb == 0 || rb == -ENOENT || rb == -EINVAL);
        fuzz_check((rs == -ENOENT) == (ru == -ENOENT) && (ru == -ENOENT) == (rb == -ENOENT));
        fuzz_check((rs == 0) + (ru == 0) + (rb == 0) <= 1);
        if (rs == 0)
                fuzz_check(s && strlen(s) == (size_t) json_object_get_string_len(json_object_object_get(o, key)));
        if (ru == 0)
                fuzz_check(u <= INT64_MAX);
        else
                fuzz_check(u == UINT64_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_object *o = NULL, *again = NULL;
        const char *error = NULL, *text, *text2;
        char *copy = NULL;
        size_t len, len2;
        int r;

        r = message_parse((const char *) data, size, &o, &error);
        if (r < 0) {
                fuzz_check((r == -EINVAL || r == -EMSGSIZE) && fuzz_sentence_ok(error) && !o);
                return 0;
        }
        fuzz_check(r == 0 && json_object_is_type(o, json_type_object));

        for (size_t i = 0; i < ARRAY_SIZE(protocol_keys); i++)
                check_getters(o, protocol_keys[i]);
        json_object_object_foreach(o, key, value) {
                (void) value;
                check_getters(o, key);
        }

        r = message_serialize(o, &text, &len);
        fuzz_check(r == 0 || r == -EMSGSIZE);
        if (r == 0) {
                copy = strndup(text, len);
                fuzz_check(copy && strlen(copy) == len);
                r = message_parse(copy, len, &again, &error);
                fuzz_check(r == 0);
                fuzz_check(message_serialize(again, &text2, &len2) == 0);
                fuzz_check(len2 == len && memcmp(text2, copy, len) == 0);
        }

        free(copy);
        json_object_put(again);
        json_object_put(o);
        return 0;
}
