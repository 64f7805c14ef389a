/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Sponsorship's arithmetic and texts (pure, tests/unit/test-sponsor.c):
 * periods, the winner of one, the workload's environment file. billing.c
 * moves the money, ledger-sponsor.c keeps it. */

/* Periods are [start + k * period, start + (k + 1) * period), k >= 0. A
 * bid made at now is for the first period that starts after now: the
 * start of the next one (start itself before it). Saturates at
 * UINT64_MAX. */
uint64_t sponsor_next_start(uint64_t start, uint64_t period, uint64_t now);
/* The start of the period running at now; 0 before the first. */
uint64_t sponsor_current_start(uint64_t start, uint64_t period, uint64_t now);

/* The winner of a period among n bids in the order they were made: the
 * highest amount, of equal ones the earliest. n > 0; its index. */
size_t sponsor_winner(const int64_t *amounts, size_t n);

/* The environment file a slice's workload reads its sponsor from
 * (sponsor.env), every value single-quoted for a POSIX shell (a ' inside
 * as '\''), so `. sponsor.env` sets exactly three variables:
 *   PREPAY_SPONSOR_NAME='...'
 *   PREPAY_SPONSOR_URL='...'     ('' for none)
 *   PREPAY_SPONSOR_UNTIL='...'   (the period's end, seconds since the epoch)
 * -ENOBUFS when it does not fit size (SPONSOR_ENV_MAX always does for a
 * name and url the request's checks let through). */
#define SPONSOR_ENV_MAX 2048
int sponsor_env_text(const char *name, const char *url, uint64_t until_usec, char *buf, size_t size);
