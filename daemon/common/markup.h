/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* A growing text of SVG or HTML, with a bound: what the gateway renders
 * for a stranger, and the chart `prepay report` writes. Every byte that
 * comes from data (a slice id, a sponsor's name, an event's kind, a
 * currency) goes through markup_text(), which escapes the five
 * characters that mean something in XML and HTML and drops control
 * characters; markup_raw() is for the renderer's own constant markup.
 * After the first failure (out of memory, past max) every call is a no-op
 * and markup_finish() returns the error. Pure, tests/unit/test-chart.c. */

struct markup {
        char *text;
        size_t len, size, max;
        int error; /* the first failure: -ENOMEM, -E2BIG */
};

void markup_init(struct markup *m, size_t max);
void markup_raw(struct markup *m, const char *s);
void markup_printf(struct markup *m, const char *fmt, ...) _printf_(2, 3);
/* s escaped (&amp; &lt; &gt; &quot; &#39;); bytes below 0x20 but tab and
 * newline, and 0x7f, are left out: XML 1.0 has no place for them. */
void markup_text(struct markup *m, const char *s);
/* open and close as they are, text between them escaped. */
void markup_element(struct markup *m, const char *open, const char *text, const char *close);
/* The text (owned by the caller, NUL-terminated) and its length, or the
 * first error; the markup is empty again either way. */
int markup_finish(struct markup *m, char **ret, size_t *ret_len);
void markup_done(struct markup *m);
