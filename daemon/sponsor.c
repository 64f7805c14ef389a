/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "sponsor.h"

uint64_t sponsor_next_start(uint64_t start, uint64_t period, uint64_t now) {
        uint64_t k;

        if (now < start || period == 0)
                return start;
        k = (now - start) / period + 1;
        if (k > (UINT64_MAX - start) / period)
                return UINT64_MAX;
        return start + k * period;
}

uint64_t sponsor_current_start(uint64_t start, uint64_t period, uint64_t now) {
        if (now < start || period == 0)
                return 0;
        return start + (now - start) / period * period;
}

size_t sponsor_winner(const int64_t *amounts, size_t n) {
        size_t best = 0;

        /* Strictly higher only: of equal bids the first made stays. */
        for (size_t i = 1; i < n; i++)
                if (amounts[i] > amounts[best])
                        best = i;
        return best;
}

/* s single-quoted at buf + *at; false when it does not fit. */
static bool quote(char *buf, size_t size, size_t *at, const char *s) {
        size_t i = *at;

        if (i >= size)
                return false;
        buf[i++] = '\'';
        for (; *s; s++) {
                const char *piece = *s == '\'' ? "'\\''" : NULL;
                size_t len = piece ? strlen(piece) : 1;

                if (i + len >= size)
                        return false;
                if (piece)
                        memcpy(buf + i, piece, len);
                else
                        buf[i] = *s;
                i += len;
        }
        if (i + 1 >= size)
                return false;
        buf[i++] = '\'';
        buf[i] = 0;
        *at = i;
        return true;
}

static bool append(char *buf, size_t size, size_t *at, const char *s) {
        size_t len = strlen(s);

        if (*at + len >= size)
                return false;
        memcpy(buf + *at, s, len + 1);
        *at += len;
        return true;
}

int sponsor_env_text(const char *name, const char *url, uint64_t until_usec, char *buf, size_t size) {
        char until[32];
        size_t at = 0;

        if (!name || !buf || size == 0)
                return -EINVAL;
        snprintf(until, sizeof(until), "%" PRIu64, until_usec / USEC_PER_SEC);
        if (!append(buf, size, &at, "PREPAY_SPONSOR_NAME=") || !quote(buf, size, &at, name) ||
            !append(buf, size, &at, "\nPREPAY_SPONSOR_URL=") || !quote(buf, size, &at, url ?: "") ||
            !append(buf, size, &at, "\nPREPAY_SPONSOR_UNTIL=") || !quote(buf, size, &at, until) ||
            !append(buf, size, &at, "\n"))
                return -ENOBUFS;
        return (int) at;
}
