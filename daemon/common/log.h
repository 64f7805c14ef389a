/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <syslog.h>

#include "util.h"

/* Logging in the style of systemd: log_*_errno() returns -abs(error) so a
 * failure can be logged and returned in one statement, and "%m" in the
 * format prints that error. Messages go to stderr with a "<N>" syslog prefix
 * when stderr is the journal (JOURNAL_STREAM), plain otherwise. */

void log_set_max_level(int level);
int log_get_max_level(void);
void log_set_program(const char *name);

int log_internal(int level, int error, const char *file, int line, const char *fmt, ...) _printf_(5, 6);

/* True when stderr is the stream journald handed us (JOURNAL_STREAM names
 * fd 2's device and inode): then entries with fields of their own can go
 * to the journal directly. */
bool log_stderr_is_journal(void);

/* log_internal() with journal fields: fields is a NULL-terminated array of
 * "KEY=value" strings ("" entries are skipped, so that optional ones need
 * no second array). On the journal the entry is sent with them (and
 * MESSAGE=, PRIORITY=, SYSLOG_IDENTIFIER=, CODE_FILE=, CODE_LINE=, ERRNO=);
 * elsewhere only the message is written, as log_internal() does. */
int log_fields_internal(int level, int error, const char *file, int line, const char *const *fields,
                        const char *fmt, ...) _printf_(6, 7);

#define log_full_errno(level, error, ...) \
        log_internal((level), (error), __FILE__, __LINE__, __VA_ARGS__)

#define log_fields(level, fields, ...) \
        log_fields_internal((level), 0, __FILE__, __LINE__, (fields), __VA_ARGS__)

#define log_debug(...) log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...) log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...) log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...) log_full_errno(LOG_ERR, 0, __VA_ARGS__)

#define log_debug_errno(e, ...) log_full_errno(LOG_DEBUG, (e), __VA_ARGS__)
#define log_info_errno(e, ...) log_full_errno(LOG_INFO, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, (e), __VA_ARGS__)
#define log_error_errno(e, ...) log_full_errno(LOG_ERR, (e), __VA_ARGS__)

#define log_oom() log_error_errno(ENOMEM, "Out of memory.")
