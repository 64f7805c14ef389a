/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>

#include "common/util.h"
#include "schedule.h"

static void place(struct schedule *q, size_t i, struct schedule_entry *e) {
        q->v[i] = e;
        e->pos = i;
}

static void sift_up(struct schedule *q, size_t i) {
        struct schedule_entry *e = q->v[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;

                if (q->v[parent]->due <= e->due)
                        break;
                place(q, i, q->v[parent]);
                i = parent;
        }
        place(q, i, e);
}

static void sift_down(struct schedule *q, size_t i) {
        struct schedule_entry *e = q->v[i];

        for (;;) {
                size_t l = 2 * i + 1, m = i;
                uint64_t due = e->due;

                if (l < q->n && q->v[l]->due < due) {
                        m = l;
                        due = q->v[l]->due;
                }
                if (l + 1 < q->n && q->v[l + 1]->due < due)
                        m = l + 1;
                if (m == i)
                        break;
                place(q, i, q->v[m]);
                i = m;
        }
        place(q, i, e);
}

int schedule_reserve(struct schedule *q, size_t n) {
        struct schedule_entry **v;
        size_t cap;

        if (n <= q->cap)
                return 0;
        cap = MAX(n, q->cap * 2);
        cap = MAX(cap, (size_t) 16);
        v = reallocarray(q->v, cap, sizeof(*v));
        if (!v)
                return -ENOMEM;
        q->v = v;
        q->cap = cap;
        return 0;
}

int schedule_put(struct schedule *q, struct schedule_entry *e, uint64_t due) {
        uint64_t old = e->due;

        if (e->pos == SCHEDULE_NONE) {
                if (schedule_reserve(q, q->n + 1) < 0)
                        return -ENOMEM;
                e->due = due;
                place(q, q->n++, e);
                sift_up(q, e->pos);
                return 0;
        }
        e->due = due;
        if (due < old)
                sift_up(q, e->pos);
        else
                sift_down(q, e->pos);
        return 0;
}

void schedule_remove(struct schedule *q, struct schedule_entry *e) {
        size_t i = e->pos;
        struct schedule_entry *last;

        if (i == SCHEDULE_NONE || i >= q->n || q->v[i] != e)
                return;
        e->pos = SCHEDULE_NONE;
        last = q->v[--q->n];
        if (i == q->n)
                return;
        place(q, i, last);
        sift_up(q, i);
        sift_down(q, last->pos);
}

struct schedule_entry *schedule_peek(const struct schedule *q) {
        return q->n > 0 ? q->v[0] : NULL;
}

struct schedule_entry *schedule_pop_due(struct schedule *q, uint64_t limit) {
        struct schedule_entry *e = schedule_peek(q);

        if (!e || e->due > limit)
                return NULL;
        schedule_remove(q, e);
        return e;
}

void schedule_done(struct schedule *q) {
        free(q->v);
        *q = (struct schedule) {};
}

uint64_t schedule_next_wait(uint64_t last_wait, int moved, uint64_t interval, uint64_t idle) {
        idle = MAX(idle, interval);
        if (moved || last_wait < interval)
                return interval;
        if (last_wait >= idle / 2)
                return idle;
        return last_wait * 2;
}
