/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What the benchmarks' clients share (header only: every tests/bench/X.c
 * is a program of its own). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/util.h"

static inline double bench_now_sec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return (x > y) - (x < y);
}

/* The p'th percentile (nearest rank) of v[0..n), which it sorts; 0 for none. */
static inline double bench_percentile(double *v, size_t n, unsigned p) {
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(double), bench_cmp_double);
        return v[(n * p + 99) / 100 - 1];
}

/* The lines of a file (vouchers, one a line), without their newlines. */
static inline int bench_read_lines(const char *path, char ***ret, size_t *ret_n) {
        _cleanup_(fclosep) FILE *f = fopen(path, "re");
        char **lines = NULL, *line = NULL;
        size_t cap = 0, n = 0, size = 0;

        if (!f)
                return log_error_errno(errno, "Failed to open %s: %m", path);
        while (getline(&line, &cap, f) > 0) {
                if (n == size) {
                        size_t m = size ? size * 2 : 1024;
                        char **p = realloc(lines, m * sizeof(char *));

                        if (!p)
                                return log_oom();
                        lines = p;
                        size = m;
                }
                line[strcspn(line, "\n")] = 0;
                lines[n] = strdup(line);
                if (!lines[n++])
                        return log_oom();
        }
        free(line);
        *ret = lines;
        *ret_n = n;
        return 0;
}
