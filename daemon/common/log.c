/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "log.h"

static int max_level = LOG_INFO;
static const char *program = "prepay";
static int use_prefix = -1;

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

void log_set_program(const char *name) {
        program = name;
}

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) {
        int saved = errno;
        va_list ap;

        (void) file;
        (void) line;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        /* When stderr is connected to journald, let the "<N>" prefix carry
         * the priority; on a terminal, name the program instead. */
        if (use_prefix < 0)
                use_prefix = !!getenv("JOURNAL_STREAM");

        if (use_prefix)
                fprintf(stderr, "<%d>", level);
        else
                fprintf(stderr, "%s: ", program);

        errno = error;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);

        errno = saved;
        return -error;
}
