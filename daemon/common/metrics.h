/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The OpenMetrics text format (what Prometheus asks for first and reads
 * best, application/openmetrics-text; version=1.0.0), written, never
 * parsed. Pure, tests/unit/test-metrics.c.
 *
 * No value here is a float: counts are integers, and seconds and money
 * are micro-units (int64_t) written as exact decimals ("12.345678"), so a
 * balance shown is the ledger's to the last micro-unit.
 *
 * Families must be written whole, one after the other (OpenMetrics
 * refuses a family split in two): metrics_family() opens one, its
 * samples follow, and the text ends with metrics_eof(). */

/* A growing text. failed: an allocation failed (every later write is
 * skipped; the caller checks once at the end). */
struct metrics_buf {
        char *text;
        size_t len, size;
        bool failed;
};

void metrics_buf_done(struct metrics_buf *b);

/* "# TYPE NAME TYPE" and "# HELP NAME HELP". type is "counter", "gauge",
 * "histogram" or "info"; a counter's NAME here is without "_total", its
 * samples carry it (metrics_sample(b, "x_total", ...)). help is the
 * project's own text (escaped anyway). */
void metrics_family(struct metrics_buf *b, const char *name, const char *type, const char *help);

/* One label, `key="value"`, value escaped as OpenMetrics says (\\, \",
 * \n), written into buf (always NUL-terminated, cut short at a whole
 * character when too small). A value is anyone's text: a control
 * character or a byte past ASCII becomes '?', so the line stays one line
 * of valid UTF-8 whatever it held. Returns buf. Several labels are joined
 * with a comma by the caller. */
#define METRICS_LABEL_MAX 256
char *metrics_label(char *buf, size_t size, const char *key, const char *value);

/* "NAME{LABELS} VALUE": labels NULL or "" for none. */
void metrics_sample_u64(struct metrics_buf *b, const char *name, const char *labels, uint64_t value);
/* value in micro-units (seconds, money) written as an exact decimal. */
void metrics_sample_micro(struct metrics_buf *b, const char *name, const char *labels, int64_t value);

/* A histogram of durations in microseconds, with fixed upper bounds
 * (ascending, in microseconds); counts[i] are the observations at or
 * below bounds[i] and above bounds[i - 1] (made cumulative when written),
 * counts[n] those above the last. */
#define METRICS_BUCKETS_MAX 16
struct metrics_histogram {
        const uint64_t *bounds;
        size_t n;
        uint64_t counts[METRICS_BUCKETS_MAX + 1];
        uint64_t count;
        uint64_t sum_usec;
};

void metrics_histogram_observe(struct metrics_histogram *h, uint64_t usec);
/* The family and its samples: NAME_bucket{le="..."} (cumulative, with
 * le="+Inf" equal to NAME_count), NAME_count and NAME_sum (seconds). */
void metrics_histogram(struct metrics_buf *b, const char *name, const char *help,
                       const struct metrics_histogram *h);

void metrics_eof(struct metrics_buf *b);

/* The media type of this text, for Content-Type. */
#define METRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"
