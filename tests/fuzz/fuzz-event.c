/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A slice event as "prepay events" reads it from the socket, one
 * {"event": {...}} datagram each: message_parse(), then event_from_json()
 * (daemon/events.c) on "event" and on the message itself. Properties:
 *   - a refusal is -EINVAL with a sentence;
 *   - an event accepted has a valid slice id, a known kind, a currency
 *     that is empty or valid, NUL-terminated strings;
 *   - it writes back (event_to_json()) to an object that reads to the same
 *     event, which writes the same text again. */
#include <errno.h>

#include "fuzz-json.h"
#include "common/message.h"
#include "events.h"

FUZZ_QUIET_INITIALIZE

static void check_event(json_object *o) {
        struct event ev, back;
        json_object *out = NULL, *out2 = NULL;
        const char *error = NULL;
        int r;

        r = event_from_json(o, &ev, &error);
        if (fuzz_refused(r, error))
                return;
        fuzz_check(slice_id_is_valid(ev.slice));
        fuzz_check(event_kind_to_string(ev.kind));
        fuzz_check(!ev.currency[0] || currency_is_valid(ev.currency));
        fuzz_check(memchr(ev.reason, 0, sizeof(ev.reason)));

        r = event_to_json(&ev, &out);
        fuzz_check(r == 0);
        fuzz_check(event_from_json(out, &back, &error) == 0);
        fuzz_check(event_to_json(&back, &out2) == 0);
        fuzz_check_same_json(out, out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        json_object *o = NULL, *v;
        const char *error = NULL;

        if (message_parse((const char *) data, size, &o, &error) < 0)
                return 0;

        check_event(o);
        if (json_object_object_get_ex(o, "event", &v))
                check_event(v);

        json_object_put(o);
        return 0;
}
