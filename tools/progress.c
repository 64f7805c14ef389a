/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A progress line on standard error, for the waits a person watches
 * (ledger verify and export of a big ledger, a guest's boot): redrawn in
 * place with "\r" and erase-to-end-of-line, at most ten times a second,
 * and only when standard error is a terminal (not "dumb"): a script's or
 * a log's output stays exactly what it was. Nothing is shown for the
 * first half second, so a quick command draws no line at all. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/parse.h"
#include "common/util.h"
#include "prepay.h"

#define PROGRESS_DELAY_USEC (500 * USEC_PER_MSEC)
#define PROGRESS_EVERY_USEC (100 * USEC_PER_MSEC)

void progress_start(struct progress *p, const char *what) {
        const char *term = getenv("TERM");

        *p = (struct progress) {
                .on = isatty(STDERR_FILENO) && !(term && streq(term, "dumb")),
                .what = what,
                .start_usec = now_usec(CLOCK_MONOTONIC),
        };
}

/* Whether a line is due now. */
static bool due(struct progress *p, bool force) {
        uint64_t now;

        if (!p->on)
                return false;
        now = now_usec(CLOCK_MONOTONIC);
        if (now - p->start_usec < PROGRESS_DELAY_USEC)
                return false;
        if (!force && p->shown && now - p->shown_usec < PROGRESS_EVERY_USEC)
                return false;
        p->shown_usec = now;
        p->shown = true;
        return true;
}

static void draw(struct progress *p, const char *text) {
        char d[FORMAT_DURATION_MAX];

        fprintf(stderr, "\r%s: %s, %s\033[K",
                p->what, text, format_duration(d, sizeof(d), now_usec(CLOCK_MONOTONIC) - p->start_usec));
        fflush(stderr);
}

void progress_count(struct progress *p, uint64_t done, uint64_t total, const char *unit) {
        char text[128];

        if (!due(p, false))
                return;
        if (total > 0 && done <= total)
                snprintf(text, sizeof(text), "%" PRIu64 "%% (%" PRIu64 " of %" PRIu64 " %s)",
                         done * 100 / total, done, total, unit);
        else
                snprintf(text, sizeof(text), "%" PRIu64 " %s", done, unit);
        draw(p, text);
}

static void say(struct progress *p, bool force, const char *fmt, va_list ap) {
        char text[256];

        if (!due(p, force))
                return;
        vsnprintf(text, sizeof(text), fmt, ap);
        draw(p, text);
}

void progress_say(struct progress *p, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        say(p, false, fmt, ap);
        va_end(ap);
}

void progress_say_now(struct progress *p, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        say(p, true, fmt, ap);
        va_end(ap);
}

void progress_end(struct progress *p) {
        if (p->on && p->shown) {
                fputs("\r\033[K", stderr);
                fflush(stderr);
        }
        p->shown = false;
}
