/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Each request's fields, as prepayd decodes them from a client's datagram.
 * Today that decoding sits inside the handlers (control.c, billing.c),
 * which need a whole manager; this harness makes, for the op the message
 * names (every op for a message without a known one), the same calls
 * they make on each field:
 *   message_parse(); "version" message_get_u64(); "op" message_get_string();
 *   "slice" message_get_string() + slice_id_is_valid(); "token", "unit"
 *   message_get_string(); "request_id" message_get_string() +
 *   ledger_request_id_is_valid(); "voucher" message_get_string() +
 *   voucher_from_text(); "limits" slice_limits_from_json();
 *   "exhausted_action" message_get_string() + enforce_action_from_string()
 *   + enforce_action_allowed() against the default AllowedActions=;
 *   "attach", "size_to_funds", "keep" message_get_bool(); "cpus_milli",
 *   "duration_usec", "memory_max", "cursor" message_get_u64().
 * When the per-request decoders (one pure function per op) land, this
 * harness calls them instead, with the same properties.
 * Properties:
 *   - a field's verdict is -ENOENT (absent), -EINVAL (wrong type) or
 *     -ERANGE (a number out of range), never anything else;
 *   - a slice id accepted fits SLICE_ID_MAX, a request id 1..64
 *     characters, a unit name is a string without NUL;
 *   - a voucher accepted re-encodes to its text;
 *   - limits accepted write back (slice_limits_to_json()) to an object
 *     that decodes to the same limits;
 *   - an action accepted has a name that maps back to it. */
#include <errno.h>

#include "fuzz.h"
#include "common/message.h"
#include "common/voucher.h"
#include "config.h"
#include "enforcer.h"
#include "ledger.h"

enum field_kind {
        FIELD_U64,
        FIELD_BOOL,
        FIELD_STRING,
        FIELD_SLICE,
        FIELD_REQUEST_ID,
        FIELD_VOUCHER,
        FIELD_LIMITS,
        FIELD_ACTION,
};

struct field {
        const char *name;
        enum field_kind kind;
};

#define MAX_FIELDS 10
struct op {
        const char *name;
        struct field fields[MAX_FIELDS];
};

/* The verbs of common/message.h, with the fields their handlers read. */
static const struct op ops[] = {
        { "create",
          { { "voucher", FIELD_VOUCHER },
            { "request_id", FIELD_REQUEST_ID },
            { "limits", FIELD_LIMITS },
            { "cpus_milli", FIELD_U64 },
            { "size_to_funds", FIELD_BOOL },
            { "duration_usec", FIELD_U64 },
            { "attach", FIELD_BOOL },
            { "exhausted_action", FIELD_ACTION } } },
        { "topup", { { "slice", FIELD_SLICE }, { "voucher", FIELD_VOUCHER }, { "request_id", FIELD_REQUEST_ID } } },
        { "release",
          { { "slice", FIELD_SLICE },
            { "token", FIELD_STRING },
            { "keep", FIELD_BOOL },
            { "request_id", FIELD_REQUEST_ID } } },
        { "attach", { { "slice", FIELD_SLICE }, { "token", FIELD_STRING } } },
        { "status", { { "slice", FIELD_SLICE } } },
        { "list", { { "cursor", FIELD_U64 } } },
        { "quote", { { "cpus_milli", FIELD_U64 }, { "memory_max", FIELD_U64 }, { "duration_usec", FIELD_U64 } } },
        { "destroy", { { "slice", FIELD_SLICE }, { "token", FIELD_STRING } } },
        { "kill", { { "slice", FIELD_SLICE }, { "token", FIELD_STRING } } },
        { "run-unit", { { "slice", FIELD_SLICE }, { "token", FIELD_STRING }, { "unit", FIELD_STRING } } },
        { "reload", { { NULL, 0 } } },
        { "events", { { "slice", FIELD_SLICE } } },
};

/* The default AllowedActions= (packaging/prepayd.conf). */
static const char *allowed_actions;
static struct config config;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_quiet();
        if (config_init(&config) < 0)
                abort();
        allowed_actions = config.allowed_actions;
        return 0;
}

static void check_verdict(int r) {
        fuzz_check(r == 0 || r == -ENOENT || r == -EINVAL || r == -ERANGE);
}

static void decode_field(json_object *req, const struct field *f) {
        const char *s = NULL, *error = NULL;
        struct slice_limits limits, back;
        struct voucher v;
        char text[VOUCHER_TEXT_MAX];
        json_object *o;
        uint64_t u;
        bool b;
        int r, a;

        switch (f->kind) {
        case FIELD_U64:
                check_verdict(message_get_u64(req, f->name, &u));
                return;
        case FIELD_BOOL:
                check_verdict(message_get_bool(req, f->name, &b));
                return;
        case FIELD_LIMITS:
                if (!json_object_object_get_ex(req, f->name, &o))
                        return;
                r = slice_limits_from_json(o, &limits, &error);
                if (r < 0) {
                        fuzz_check(r == -EINVAL && fuzz_sentence_ok(error));
                        return;
                }
                o = json_object_new_object();
                fuzz_check(o && slice_limits_to_json(&limits, o) == 0);
                fuzz_check(slice_limits_from_json(o, &back, NULL) == 0);
                fuzz_check(memcmp(&limits, &back, sizeof(limits)) == 0);
                json_object_put(o);
                return;
        default:
                break;
        }

        r = message_get_string(req, f->name, &s);
        check_verdict(r);
        if (r < 0)
                return;
        fuzz_check(s);

        switch (f->kind) {
        case FIELD_SLICE:
                if (slice_id_is_valid(s))
                        fuzz_check(strlen(s) < SLICE_ID_MAX && strlen(s) >= 10);
                return;
        case FIELD_REQUEST_ID:
                if (ledger_request_id_is_valid(s))
                        fuzz_check(strlen(s) >= 1 && strlen(s) <= 64); /* message.h: 1..64 */
                return;
        case FIELD_VOUCHER:
                r = voucher_from_text(s, &v, &error);
                if (r < 0) {
                        fuzz_check(r == -EINVAL && fuzz_sentence_ok(error));
                        return;
                }
                fuzz_check(voucher_to_text(&v, text, sizeof(text)) == 0 && strstr(s, text));
                return;
        case FIELD_ACTION:
                a = enforce_action_from_string(s);
                if (a < 0) {
                        fuzz_check(a == -EINVAL);
                        return;
                }
                fuzz_check(streq(enforce_action_to_string((enum enforce_action) a), s));
                (void) enforce_action_allowed(allowed_actions, (enum enforce_action) a);
                return;
        default:
                return;
        }
}

static void decode_request(json_object *req, const struct op *op) {
        for (size_t i = 0; i < MAX_FIELDS && op->fields[i].name; i++)
                decode_field(req, &op->fields[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *error = NULL, *name = NULL;
        json_object *req = NULL;
        uint64_t version;
        bool known = false;

        if (message_parse((const char *) data, size, &req, &error) < 0)
                return 0;

        check_verdict(message_get_u64(req, "version", &version));
        check_verdict(message_get_string(req, "op", &name));
        for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
                if (name && streq(name, ops[i].name)) {
                        decode_request(req, &ops[i]);
                        known = true;
                }
        if (!known)
                for (size_t i = 0; i < ARRAY_SIZE(ops); i++)
                        decode_request(req, &ops[i]);

        json_object_put(req);
        return 0;
}
