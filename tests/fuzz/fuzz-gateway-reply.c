/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What prepayd sends prepay-gatewayd, as api_encode_reply() and
 * api_encode_event() (daemon/gateway-api.c) turn it into HTTP: the first
 * byte picks the route, the rest is any JSON (a reply, or an event
 * datagram). Properties:
 *   - a reply gives a status of 200, 201 (create only, with Location
 *     /v1/slices/ID of a valid id) or a refusal {"error", "code"} whose
 *     code has that status, and never changes the reply it reads;
 *   - what goes out holds no "owner_uid" or "cgroup" anywhere a slice
 *     record or event has them, and no money left as an integer
 *     (api_money_to_strings() on it changes nothing);
 *   - an event is "event: NAME\n", maybe "id: N\n", "data: JSON\n\n" and
 *     nothing else: the name of [a-z_-], the JSON one line, an object
 *     without owner_uid. */
#include <errno.h>

#include "fuzz-json.h"
#include "common/api.h"
#include "common/message.h"
#include "gateway-api.h"

FUZZ_QUIET_INITIALIZE

static char *serialize(json_object *o) {
        const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

        return t ? strdup(t) : NULL;
}

/* Nothing left for api_money_to_strings() to do. */
static void check_no_money_integers(json_object *body) {
        json_object *copy = NULL;
        char *before, *after;

        if (json_object_deep_copy(body, &copy, NULL) < 0)
                return;
        before = serialize(body);
        if (api_money_to_strings(copy) == 0 && before) {
                after = serialize(copy);
                fuzz_check(!after || streq(before, after));
                free(after);
        }
        free(before);
        json_object_put(copy);
}

static void check_view(json_object *body) {
        json_object *s, *vm;

        if (!json_object_object_get_ex(body, "slice", &s) || !json_object_is_type(s, json_type_object))
                return;
        fuzz_check(!json_object_object_get_ex(s, "owner_uid", NULL));
        fuzz_check(!json_object_object_get_ex(s, "cgroup", NULL));
        if (json_object_object_get_ex(s, "vm", &vm) && json_object_is_type(vm, json_type_object))
                fuzz_check(!json_object_object_get_ex(vm, "pid", NULL));
}

static void check_reply(enum api_route route, json_object *reply) {
        struct api_call c = { .route = route };
        json_object *body = NULL, *code;
        char *location = NULL, *before = serialize(reply), *after;
        int status;

        status = api_encode_reply(&c, reply, &body, &location);
        after = serialize(reply);
        fuzz_check(!before || !after || streq(before, after));
        free(before);
        free(after);
        if (!body) { /* out of memory only */
                fuzz_check(status == 500);
                return;
        }
        fuzz_check(json_object_is_type(body, json_type_object));
        if (status == 200 || status == 201) {
                fuzz_check((status == 201) == (route == API_CREATE));
                fuzz_check((status == 201) == !!location);
                if (location) {
                        fuzz_check(strneq(location, "/v1/slices/", 11));
                        fuzz_check(slice_id_is_valid(location + 11));
                }
                check_view(body);
                check_no_money_integers(body);
        } else {
                fuzz_check(status >= 400 && status <= 599 && !location);
                fuzz_check(json_object_object_get_ex(body, "code", &code) &&
                           json_object_is_type(code, json_type_string));
                fuzz_check(api_status_of_code(json_object_get_string(code)) == status);
                fuzz_check(json_object_is_type(json_object_object_get(body, "error"), json_type_string));
                check_no_money_integers(body);
        }
        json_object_put(body);
        free(location);
}

static void check_event(json_object *datagram) {
        char *text = NULL, *p, *end;
        json_object *data;
        int r;

        r = api_encode_event(datagram, &text);
        if (r < 0) {
                fuzz_check(r == -EINVAL || r == -ENOMEM);
                return;
        }
        fuzz_check(strneq(text, "event: ", 7));
        p = text + 7;
        fuzz_check(strspn(p, "abcdefghijklmnopqrstuvwxyz_-") == strcspn(p, "\n"));
        p += strcspn(p, "\n") + 1;
        if (strneq(p, "id: ", 4)) {
                p += 4;
                fuzz_check(strspn(p, "0123456789") == strcspn(p, "\n"));
                p += strcspn(p, "\n") + 1;
        }
        fuzz_check(strneq(p, "data: ", 6));
        p += 6;
        end = strchr(p, '\n');
        fuzz_check(end && streq(end, "\n\n"));
        *end = 0;
        data = json_tokener_parse(p);
        fuzz_check(json_object_is_type(data, json_type_object));
        fuzz_check(!json_object_object_get_ex(data, "owner_uid", NULL));
        json_object_put(data);
        free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct json_tokener *tok;
        json_object *o;

        if (size < 1)
                return 0;
        tok = json_tokener_new_ex(PREPAY_MSG_MAX_DEPTH);
        if (!tok)
                return 0;
        o = json_tokener_parse_ex(tok, (const char *) data + 1, (int) (size - 1));
        if (json_tokener_get_error(tok) == json_tokener_success) {
                check_reply((enum api_route) (data[0] % _API_ROUTE_MAX), o);
                check_event(o);
        }
        json_object_put(o);
        json_tokener_free(tok);
        return 0;
}
