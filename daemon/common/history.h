/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "chart.h"
#include "message.h"
#include "money.h"

/* A "history" reply (prepay-control(7)) read back into a chart's series:
 * what `prepay report` reads from prepayd or, with --host, from a
 * gateway it may not trust, and what the gateway reads from prepayd for
 * its donor page. Strict: at most CHART_POINTS_MAX points of 2 integers
 * (time, balance) or, all of them, 3 (and what was charged), in time
 * order; at most CHART_EVENTS_MAX events of a time, a kind of [a-z_-]
 * and a balance; a valid slice id and currency. Pure, fuzzed
 * (tests/fuzz/fuzz-history.c). */

struct chart_history {
        char slice[SLICE_ID_MAX];
        char currency[CURRENCY_SIZE];
        bool public_view; /* the public figures only */
        bool released;
        bool has_spent;
        int64_t credited; /* every voucher redeemed into it so far */
        struct chart_point points[CHART_POINTS_MAX];
        size_t n_points;
        struct chart_event events[CHART_EVENTS_MAX];
        size_t n_events;
};

/* 0, or -EINVAL with *ret_error a constant sentence. */
int chart_history_from_json(json_object *reply, struct chart_history *ret, const char **ret_error);
/* The chart of h, titled title. */
static inline struct chart chart_of_history(const struct chart_history *h, const char *title) {
        return (struct chart) { .title = title, .currency = h->currency, .points = h->points,
                                .n_points = h->n_points, .events = h->events, .n_events = h->n_events,
                                .has_spent = h->has_spent };
}
