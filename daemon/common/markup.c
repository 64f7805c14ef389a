/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markup.h"

void markup_init(struct markup *m, size_t max) {
        *m = (struct markup) { .max = max };
}

static bool reserve(struct markup *m, size_t n) {
        size_t want;
        char *t;

        if (m->error < 0)
                return false;
        if (n > m->max || m->len > m->max - n) {
                m->error = -E2BIG;
                return false;
        }
        want = m->len + n + 1;
        if (want <= m->size)
                return true;
        want = MAX(want, m->size * 2);
        want = MAX(want, (size_t) 4096);
        t = realloc(m->text, want);
        if (!t) {
                m->error = -ENOMEM;
                return false;
        }
        m->text = t;
        m->size = want;
        return true;
}

static void append(struct markup *m, const char *s, size_t n) {
        if (!reserve(m, n))
                return;
        memcpy(m->text + m->len, s, n);
        m->len += n;
        m->text[m->len] = 0;
}

void markup_raw(struct markup *m, const char *s) {
        append(m, s, strlen(s));
}

void markup_printf(struct markup *m, const char *fmt, ...) {
        char small[256];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(small, sizeof(small), fmt, ap);
        va_end(ap);
        if (n < 0) {
                if (m->error == 0)
                        m->error = -EINVAL;
                return;
        }
        if ((size_t) n < sizeof(small)) {
                append(m, small, (size_t) n);
                return;
        }
        if (!reserve(m, (size_t) n))
                return;
        va_start(ap, fmt);
        (void) vsnprintf(m->text + m->len, (size_t) n + 1, fmt, ap);
        va_end(ap);
        m->len += (size_t) n;
}

/* What each character XML and HTML give a meaning is written as. */
static const char *const entities[128] = {
        ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;", ['\''] = "&#39;",
};

void markup_text(struct markup *m, const char *s) {
        for (const char *p = s; p && *p; p++) {
                unsigned char c = (unsigned char) *p;
                size_t run = strcspn(p, "&<>\"'\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0d\x0e\x0f\x10\x11\x12"
                                        "\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f");

                if (run > 0) {
                        append(m, p, run);
                        p += run - 1;
                } else if (c < 128 && entities[c])
                        markup_raw(m, entities[c]);
                /* else a control character: dropped */
        }
}

void markup_element(struct markup *m, const char *open, const char *text, const char *close) {
        markup_raw(m, open);
        markup_text(m, text);
        markup_raw(m, close);
}

int markup_finish(struct markup *m, char **ret, size_t *ret_len) {
        int r = m->error;

        if (r == 0 && !m->text) {
                r = reserve(m, 0) ? 0 : m->error;
                if (r == 0)
                        m->text[0] = 0;
        }
        if (r < 0) {
                markup_done(m);
                return r;
        }
        *ret = m->text;
        if (ret_len)
                *ret_len = m->len;
        *m = (struct markup) { .max = m->max };
        return 0;
}

void markup_done(struct markup *m) {
        free(m->text);
        *m = (struct markup) { .max = m->max };
}
