/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Token buckets by key (a client's address, a slice id), for
 * prepay-gatewayd's 429s. Pure: the time is passed in (CLOCK_MONOTONIC
 * usec), no system call, unit-tested in tests/unit/test-gateway-limits.c.
 *
 * A key's bucket holds at most burst tokens and gains rate_milli/1000 of
 * one per second; a request takes one. The table holds at most capacity
 * keys: a new key past it evicts the one used least recently, whose bucket
 * is the likeliest to be full again anyway (a full bucket and no entry
 * are the same). So a flood of new addresses costs a bounded table and
 * lets no one through who would not pass with an empty one. */

#define LIMITS_KEY_MAX 64 /* bytes of a key, NUL included; longer keys are cut */

struct limits;

/* rate_milli 0: no limit (limits_take() always admits). -EINVAL for a zero
 * capacity or burst, -ENOMEM. */
int limits_new(size_t capacity, uint64_t rate_milli, uint64_t burst, struct limits **ret);
void limits_free(struct limits *l);

/* Takes a token of key's bucket at now_usec: 0 when there was one, else
 * the seconds until there will be (>= 1, for Retry-After). */
uint64_t limits_take(struct limits *l, const char *key, uint64_t now_usec);

/* Keys held (for tests). */
size_t limits_size(const struct limits *l);
