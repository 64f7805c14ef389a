/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What a gateway, or whoever answers on its address, sends prepay --host
 * (tools/remote.c), and what the user types for --host and --pin. The
 * first byte picks the part, the second the request and the HTTP status
 * (for an answer) or where to cut the stream (for events); the rest is the
 * input. Properties:
 *   - an answer becomes a reply with "ok", or -EBADMSG with a reason, or
 *     -ENOMEM; a refusal's sentence and code are printable ASCII, and the
 *     sentence is never empty; in a reply that is not a refusal no string
 *     holds a control character; a release's change is lines, none empty;
 *   - Server-Sent Events give the same events however the bytes are cut;
 *     each event's data converts, or is -EBADMSG;
 *   - a --host accepted gives an origin that parses to the same host and
 *     port; a --pin accepted gives libcurl's form, which parses to itself. */
#include <errno.h>

#include "fuzz.h"
#include "common/encoding.h"
#include "common/message.h"
#include "../../tools/remote.h"

FUZZ_QUIET_INITIALIZE

static const char *const requests[] = {
        "{\"op\":\"create\",\"voucher\":\"pv1-x\",\"vm_image\":\"debian-12\",\"ssh_key\":\"k\"}",
        "{\"op\":\"release\",\"slice\":\"s-0123abcd\",\"token\":\"pt-t\"}",
        "{\"op\":\"quote\",\"cpus_milli\":1500}",
        "{\"op\":\"topup\",\"slice\":\"s-0123abcd\",\"voucher\":\"pv1-x\"}",
        "{\"op\":\"status\",\"slice\":\"s-0123abcd\"}",
        "{\"op\":\"images\"}",
};
static const long statuses[] = { 200, 201, 400, 401, 402, 404, 409, 429, 500, 502, 503, 299, 100, 999 };

static bool printable(const char *s) {
        for (; *s; s++)
                if (*s < 0x20 || *s > 0x7e)
                        return false;
        return true;
}

/* No control character in any string (C0, DEL, C1 as UTF-8). */
static bool defanged(json_object *o) {
        switch (json_object_get_type(o)) {
        case json_type_object: {
                json_object_object_foreach(o, key, v) {
                        (void) key;
                        if (!defanged(v))
                                return false;
                }
                return true;
        }
        case json_type_array:
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        if (!defanged(json_object_array_get_idx(o, i)))
                                return false;
                return true;
        case json_type_string: {
                const unsigned char *s = (const unsigned char *) json_object_get_string(o);
                size_t n = (size_t) json_object_get_string_len(o);

                for (size_t i = 0; i < n; i++)
                        if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f))
                                return false;
                return true;
        }
        default:
                return true;
        }
}

static void check_answer(uint8_t pick, const char *body, size_t size) {
        json_object *req = json_tokener_parse(requests[pick % ARRAY_SIZE(requests)]), *reply = NULL;
        long status = statuses[(pick / ARRAY_SIZE(requests)) % ARRAY_SIZE(statuses)];
        struct remote_call c = {};
        const char *why = NULL, *s;
        bool ok = true;
        int r;

        if (!req)
                return;
        fuzz_check(remote_call_from_request(req, &c, NULL) == 0);
        r = remote_reply_from_http(req, &c, status, body, size, pick & 1 ? 7 : 0, &reply, &why);
        if (r < 0) {
                fuzz_check(r == -ENOMEM || (r == -EBADMSG && why && why[0]));
                fuzz_check(status >= 200 && status <= 299);
        } else {
                fuzz_check(message_get_bool(reply, "ok", &ok) == 0);
                fuzz_check(ok == (status >= 200 && status <= 299));
                if (!ok) {
                        fuzz_check(message_get_string(reply, "error", &s) == 0 && s[0] && printable(s));
                        if (json_object_object_get_ex(reply, "code", NULL))
                                fuzz_check(message_get_string(reply, "code", &s) == 0 && printable(s));
                } else if (streq(c.op, "release") && json_object_object_get_ex(reply, "change", NULL)) {
                        /* Vouchers a line: the only line breaks of a reply. */
                        fuzz_check(message_get_string(reply, "change", &s) == 0 && s[0]);
                        fuzz_check(!strstr(s, "\n\n") && s[strlen(s) - 1] != '\n' && strncmp(s, "pv1-", 4) == 0);
                        for (const char *p = s; *p; p++)
                                fuzz_check(*p == '\n' || strchr(BASE64URL_ALPHABET "pv1", *p) || *p == '-');
                        json_object_object_del(reply, "change");
                }
                if (ok)
                        fuzz_check(defanged(reply));
        }
        json_object_put(reply);
        remote_call_done(&c);
        json_object_put(req);
}

struct seen {
        char *text;
        size_t len;
};

static int on_event(const char *type, const char *data, void *userdata) {
        struct seen *s = userdata;
        size_t n = strlen(type) + strlen(data) + 2;
        json_object *ev = NULL;
        char *p;
        int r;

        r = remote_event_from_data(data, &ev);
        fuzz_check(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r == 0)
                fuzz_check(defanged(ev));
        json_object_put(ev);

        p = realloc(s->text, s->len + n + 1);
        if (!p)
                return -ENOMEM;
        s->text = p;
        s->len += (size_t) snprintf(p + s->len, n + 1, "%s\x01%s\x02", type, data);
        return 0;
}

static int feed(const char *data, size_t size, size_t cut, struct seen *seen) {
        struct remote_sse sse;
        int r;

        remote_sse_init(&sse);
        r = remote_sse_feed(&sse, data, cut, on_event, seen);
        if (r >= 0)
                r = remote_sse_feed(&sse, data + cut, size - cut, on_event, seen);
        remote_sse_done(&sse);
        return r;
}

static void check_events(uint8_t pick, const char *data, size_t size) {
        struct seen whole = {}, cut = {};
        int a, b;

        a = feed(data, size, 0, &whole);
        b = feed(data, size, size ? pick % (size + 1) : 0, &cut);
        fuzz_check(a == 0 || a == -EBADMSG || a == -EMSGSIZE || a == -ENOMEM);
        if (a != -ENOMEM && b != -ENOMEM) {
                fuzz_check(a == b);
                fuzz_check(whole.len == cut.len && (!whole.len || memcmp(whole.text, cut.text, whole.len) == 0));
        }
        free(whole.text);
        free(cut.text);
}

static void check_host_pin(const char *s) {
        struct remote_host h, again;
        char pin[REMOTE_PIN_MAX], pin2[REMOTE_PIN_MAX];
        const char *why = NULL;

        if (remote_host_parse(s, &h, &why) == 0) {
                fuzz_check(strneq(h.origin, "https://", 8) && h.port > 0);
                fuzz_check(remote_host_parse(h.origin, &again, NULL) == 0);
                fuzz_check(streq(again.host, h.host) && again.port == h.port && streq(again.key, h.key));
                fuzz_check(!strchr(h.key, '/') && printable(h.key));
        } else
                fuzz_check(why && why[0]);
        if (remote_pin_parse(s, pin) == 0) {
                fuzz_check(strneq(pin, "sha256//", 8) && strlen(pin) == 8 + 44);
                fuzz_check(remote_pin_parse(pin, pin2) == 0 && streq(pin, pin2));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text;

        if (size < 2 || size > 256 * 1024)
                return 0;
        text = fuzz_strndup(data + 2, size - 2);
        if (!text)
                return 0;
        switch (data[0] % 3) {
        case 0:
                check_answer(data[1], text, size - 2);
                break;
        case 1:
                check_events(data[1], text, size - 2);
                break;
        default:
                check_host_pin(text);
        }
        free(text);
        return 0;
}
