/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parsers for what people type: sizes, CPU counts, durations. Pure code,
 * no syscalls; unit-tested in tests/unit/test-parse.c.
 *
 * All return 0 on success, -EINVAL for text that is not of the form,
 * -ERANGE for a value that does not fit. *ret is written only on success.
 * Leading/trailing white space is rejected, as is an empty string. */

/* "4096", "512K", "100M", "4G", "1T", "1.5G" (binary multiples, 1K = 1024;
 * an optional trailing "B"/"iB" is accepted: "4GiB", "100MB" is still 1024-based).
 * A fraction is allowed with a suffix and rounded down to a byte. */
int parse_size(const char *s, uint64_t *ret);

/* CPUs as a decimal with at most three fractional digits: "2" -> 2000,
 * "0.5" -> 500, "0.125" -> 125 (milli-CPUs). "0" is -ERANGE. */
int parse_cpus(const char *s, uint64_t *ret_millicpus);

/* A time span: a number with an optional unit, several may be summed
 * ("1h 30min"). Units: us, ms, s, sec, m, min, h, hr, d, w. A bare number is
 * seconds. Fractions allowed ("1.5s", "0.1s"). Result in microseconds. */
int parse_duration(const char *s, uint64_t *ret_usec);

/* A number of hours, as a decimal ("2", "0.5"), in microseconds; 0 is
 * -ERANGE. */
int parse_hours(const char *s, uint64_t *ret_usec);

/* A plain unsigned decimal, no sign, no suffix. */
int parse_u64(const char *s, uint64_t *ret);

/* A percentage, the sign required: "50%" -> 500000, "12.5%" -> 125000,
 * "0.0001%" -> 1 (parts per million); at most four fractional digits
 * (-EINVAL beyond), at most 1000% (-ERANGE). */
int parse_percent(const char *s, uint64_t *ret_ppm);
bool percent_is_valid(const char *s);
/* "50%", "12.5%", "0.0001%": as parse_percent() reads it back. */
#define FORMAT_PERCENT_MAX 32
char *format_percent(char *buf, size_t n, uint64_t ppm);

/* Human-readable renderings into buf (always NUL-terminated); return buf.
 * format_size: "0B", "1023B", "1.0K", "100.0M", "4.0G" (one decimal).
 * format_duration: "250ms", "3.2s", "4min 10s", "2h 5min", "3d 4h". */
#define FORMAT_SIZE_MAX 32
#define FORMAT_DURATION_MAX 64
char *format_size(char *buf, size_t n, uint64_t bytes);
char *format_duration(char *buf, size_t n, uint64_t usec);
