/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* For the harnesses whose parsers read JSON: the round trip's last step. */

#include <json-c/json.h>

#include "fuzz.h"
#include "common/util.h"

/* out, written from a value read back from its own text, and out2,
 * written from the value read back from out, write the same text. Puts
 * both. */
static inline void fuzz_check_same_json(json_object *out, json_object *out2) {
        const char *t1, *t2;
        char *copy;

        t1 = json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN);
        copy = t1 ? strdup(t1) : NULL;
        t2 = json_object_to_json_string_ext(out2, JSON_C_TO_STRING_PLAIN);
        fuzz_check(!copy || (t2 && streq(copy, t2)));
        free(copy);
        json_object_put(out);
        json_object_put(out2);
}
