/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void metrics_buf_done(struct metrics_buf *b) {
        free(b->text);
        *b = (struct metrics_buf) {};
}

static bool reserve(struct metrics_buf *b, size_t more) {
        size_t size;
        char *t;

        if (b->failed)
                return false;
        if (b->len + more + 1 <= b->size)
                return true;
        size = MAX(b->size * 2, b->len + more + 1);
        size = MAX(size, (size_t) 4096);
        t = realloc(b->text, size);
        if (!t) {
                b->failed = true;
                return false;
        }
        b->text = t;
        b->size = size;
        return true;
}

_printf_(2, 3) static void append(struct metrics_buf *b, const char *fmt, ...) {
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->failed = true;
                return;
        }
        if (!reserve(b, (size_t) n))
                return;
        va_start(ap, fmt);
        (void) vsnprintf(b->text + b->len, b->size - b->len, fmt, ap);
        va_end(ap);
        b->len += (size_t) n;
}

/* HELP text: only \\ and newlines are special there. */
static void append_help(struct metrics_buf *b, const char *help) {
        for (const char *p = help; *p; p++) {
                if (!reserve(b, 2))
                        return;
                if (*p == '\\' || *p == '\n') {
                        b->text[b->len++] = '\\';
                        b->text[b->len++] = *p == '\n' ? 'n' : '\\';
                } else
                        b->text[b->len++] = *p;
        }
        b->text[b->len] = '\0';
}

void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help) {
        append(b, "# TYPE %s %s\n# HELP %s ", name, type, name);
        append_help(b, help);
        append(b, "\n");
}

char *metrics_label(char *buf, size_t size, const char *key, const char *value) {
        size_t n = 0;

        if (size == 0)
                return buf;
        n = (size_t) snprintf(buf, size, "%s=\"", key);
        if (n >= size) {
                buf[0] = '\0';
                return buf;
        }
        for (const unsigned char *p = (const unsigned char *) value; *p; p++) {
                char esc = 0, c = (char) *p;

                if (*p == '\\' || *p == '"')
                        esc = c;
                else if (*p == '\n')
                        esc = 'n';
                else if (*p < 0x20 || *p >= 0x7f)
                        c = '?';
                /* Room for this character (two bytes if escaped), the
                 * closing quote and the NUL. */
                if (n + (esc ? 2 : 1) + 2 > size)
                        break;
                if (esc) {
                        buf[n++] = '\\';
                        buf[n++] = esc;
                } else
                        buf[n++] = c;
        }
        buf[n++] = '"';
        buf[n] = '\0';
        return buf;
}

static void sample_start(struct metrics_buf *b, const char *name, const char *labels) {
        if (labels && *labels)
                append(b, "%s{%s} ", name, labels);
        else
                append(b, "%s ", name);
}

void metrics_sample_u64(struct metrics_buf *b, const char *name, const char *labels, uint64_t value) {
        sample_start(b, name, labels);
        append(b, "%" PRIu64 "\n", value);
}

/* Exact: the integer part, then the six digits of the fraction with
 * trailing zeros dropped ("1.5", "0.000001", "3"). */
static void append_micro(struct metrics_buf *b, int64_t value) {
        uint64_t mag = value < 0 ? (uint64_t) 0 - (uint64_t) value : (uint64_t) value;
        char frac[8];
        int len = 6;

        snprintf(frac, sizeof(frac), "%06" PRIu64, mag % 1000000);
        while (len > 0 && frac[len - 1] == '0')
                frac[--len] = '\0';
        append(b, "%s%" PRIu64 "%s%s", value < 0 ? "-" : "", mag / 1000000, len > 0 ? "." : "", frac);
}

void metrics_sample_micro(struct metrics_buf *b, const char *name, const char *labels, int64_t value) {
        sample_start(b, name, labels);
        append_micro(b, value);
        append(b, "\n");
}

void metrics_histogram_observe(struct metrics_histogram *h, uint64_t usec) {
        size_t i = 0;

        while (i < h->n && usec > h->bounds[i])
                i++;
        h->counts[i]++;
        h->count++;
        h->sum_usec += usec;
}

void metrics_histogram(struct metrics_buf *b, const char *name, const char *help,
                       const struct metrics_histogram *h) {
        uint64_t cumulative = 0;

        metrics_family(b, name, "histogram", help);
        for (size_t i = 0; i < h->n && i < METRICS_BUCKETS_MAX; i++) {
                cumulative += h->counts[i];
                append(b, "%s_bucket{le=\"", name);
                append_micro(b, (int64_t) h->bounds[i]);
                append(b, "\"} %" PRIu64 "\n", cumulative);
        }
        append(b, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, h->count);
        append(b, "%s_count %" PRIu64 "\n", name, h->count);
        append(b, "%s_sum ", name);
        append_micro(b, (int64_t) MIN(h->sum_usec, (uint64_t) INT64_MAX));
        append(b, "\n");
}

void metrics_eof(struct metrics_buf *b) {
        append(b, "# EOF\n");
}
