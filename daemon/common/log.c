/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/uio.h>
/* CODE_FILE= and CODE_LINE= are the caller's, not this file's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

/* Fields of one log_fields() call, beyond the ones it adds itself. */
#define LOG_FIELDS_MAX 16

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
        int saved = errno, k, m;
        char buf[1024];
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

        /* One write a line: stderr is unbuffered, and prefix, message and
         * newline written apart cost three syscalls (prepayd logs two lines
         * per redemption at the default level). A longer line goes in
         * pieces, as before. */
        k = use_prefix ? snprintf(buf, sizeof(buf), "<%d>", level) : snprintf(buf, sizeof(buf), "%.64s: ", program);
        errno = error;
        va_start(ap, fmt);
        m = vsnprintf(buf + k, sizeof(buf) - (size_t) k, fmt, ap);
        va_end(ap);
        if (m >= 0 && (size_t) (k + m) < sizeof(buf) - 1) {
                buf[k + m] = '\n';
                fwrite(buf, 1, (size_t) (k + m + 1), stderr);
        } else {
                fwrite(buf, 1, (size_t) k, stderr);
                errno = error;
                va_start(ap, fmt);
                vfprintf(stderr, fmt, ap);
                va_end(ap);
                fputc('\n', stderr);
        }

        errno = saved;
        return -error;
}

bool log_stderr_is_journal(void) {
        static int cached = -1;
        const char *e = getenv("JOURNAL_STREAM");
        unsigned long long dev, ino;
        struct stat st;

        if (cached >= 0)
                return cached;
        cached = e && sscanf(e, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) >= 0 &&
                 (unsigned long long) st.st_dev == dev && (unsigned long long) st.st_ino == ino;
        return cached;
}

/* sd_journal_sendv(), from libsystemd loaded on first use: the CLI, whose
 * stderr is a journal stream only when a unit runs it, would otherwise
 * load libsystemd and the compression and crypto libraries it pulls in
 * at every start (tools/README.md). The daemons link it anyway. NULL
 * when it cannot be loaded: the stream then takes the message. */
typedef typeof(sd_journal_sendv) *journal_sendv_fn;

static journal_sendv_fn journal_sendv(void) {
        static journal_sendv_fn fn;
        static bool tried;
        void *dl;

        if (tried)
                return fn;
        tried = true;
        dl = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (dl)
                fn = (journal_sendv_fn) dlsym(dl, "sd_journal_sendv");
        return fn;
}

static struct iovec iovec_string(const char *s) {
        return (struct iovec) { .iov_base = (char *) s, .iov_len = strlen(s) };
}

int log_fields_internal(int level, int error, const char *file, int line, const char *const *fields,
                        const char *fmt, ...) {
        char message[2048] = "MESSAGE=", priority[32], ident[80], code_file[256], code_line[32], errno_field[32];
        struct iovec iov[LOG_FIELDS_MAX + 6];
        int saved = errno;
        size_t n = 0;
        va_list ap;

        if (error < 0)
                error = -error;
        if (level > max_level)
                return -error;

        errno = error;
        va_start(ap, fmt);
        vsnprintf(message + strlen("MESSAGE="), sizeof(message) - strlen("MESSAGE="), fmt, ap);
        va_end(ap);
        errno = saved;

        if (!log_stderr_is_journal() || !journal_sendv())
                return log_internal(level, error, file, line, "%s", message + strlen("MESSAGE="));

        snprintf(priority, sizeof(priority), "PRIORITY=%d", level);
        snprintf(ident, sizeof(ident), "SYSLOG_IDENTIFIER=%s", program);
        snprintf(code_file, sizeof(code_file), "CODE_FILE=%s", file);
        snprintf(code_line, sizeof(code_line), "CODE_LINE=%d", line);
        iov[n++] = iovec_string(message);
        iov[n++] = iovec_string(priority);
        iov[n++] = iovec_string(ident);
        iov[n++] = iovec_string(code_file);
        iov[n++] = iovec_string(code_line);
        if (error > 0) {
                snprintf(errno_field, sizeof(errno_field), "ERRNO=%d", error);
                iov[n++] = iovec_string(errno_field);
        }
        for (size_t i = 0; fields && fields[i] && n < ARRAY_SIZE(iov); i++)
                if (fields[i][0])
                        iov[n++] = iovec_string(fields[i]);

        /* The journal's socket refused it: the stream still takes it. */
        if (journal_sendv()(iov, (int) n) < 0)
                return log_internal(level, error, file, line, "%s", message + strlen("MESSAGE="));
        errno = saved;
        return -error;
}
