/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* When each slice is read next: a binary min-heap of entries by due time.
 * An entry lives inside what it schedules (struct slice) and knows its
 * place in the heap, so moving or removing it is O(log n) and taking
 * every entry that is due costs nothing for the ones that are not: the
 * meter's cost follows the reads that are due, not the slices alive.
 * Pure: no system calls, tests/unit/test-schedule.c drives it. */

#define SCHEDULE_NONE SIZE_MAX /* pos of an entry not in the heap */

struct schedule_entry {
        uint64_t due; /* CLOCK_MONOTONIC usec */
        size_t pos;   /* index in the heap, SCHEDULE_NONE when not queued */
};

struct schedule {
        struct schedule_entry **v;
        size_t n, cap;
};

static inline void schedule_entry_init(struct schedule_entry *e) {
        e->due = 0;
        e->pos = SCHEDULE_NONE;
}

/* Queues e at due, or moves it there if it is queued: 0, or -ENOMEM
 * (then e is as it was). */
int schedule_put(struct schedule *q, struct schedule_entry *e, uint64_t due);
/* Takes e out if it is queued. */
void schedule_remove(struct schedule *q, struct schedule_entry *e);
/* The entry due first, NULL when none is queued. */
struct schedule_entry *schedule_peek(const struct schedule *q);
/* Takes the first entry out if it is due at or before limit. */
struct schedule_entry *schedule_pop_due(struct schedule *q, uint64_t limit);
/* Room for n entries without allocating (a slice's creation reserves its
 * place, so a read never fails for want of memory). 0 or -ENOMEM. */
int schedule_reserve(struct schedule *q, size_t n);
void schedule_done(struct schedule *q);

/* The wait before a slice's next read: interval while its counters move,
 * else the last wait doubled, up to idle. */
uint64_t schedule_next_wait(uint64_t last_wait, int moved, uint64_t interval, uint64_t idle);
