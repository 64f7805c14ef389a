/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slice's life as a picture: its balance and burn over time, with its
 * events marked, as one SVG of a fixed size that needs nothing else (no
 * script, no font file, no stylesheet link). `prepay report --svg` and
 * the gateway's donor page (prepay-gatewayd(8)) draw it with the same
 * code. And the downsampling that keeps a history reply bounded however
 * long a slice lived. Pure: tests/unit/test-chart.c. */

#define CHART_WIDTH 720
#define CHART_HEIGHT 400
/* What one history reply (the "history" op) carries at most: buckets of
 * the slice's life, each giving up to 3 points (its lowest, its highest
 * and its last balance), and its last events. About 40 bytes a point:
 * far below a control datagram (64 KiB). */
#define CHART_BUCKETS 160
#define CHART_POINTS_MAX (3 * CHART_BUCKETS)
#define CHART_EVENTS_MAX 48
#define CHART_KIND_MAX 16
/* An SVG of CHART_POINTS_MAX points and CHART_EVENTS_MAX events is about
 * 30 KiB; this bounds what a hostile series could make it. */
#define CHART_SVG_MAX (256 * 1024)

struct chart_point {
        uint64_t time_usec; /* CLOCK_REALTIME */
        int64_t balance;    /* micro-units */
        int64_t spent;      /* charged since the slice began, micro-units; see chart.has_spent */
};

struct chart_event {
        uint64_t time_usec;
        int64_t balance;
        char kind[CHART_KIND_MAX]; /* "funded", "topped-up", "low", "frozen", ... */
};

struct chart {
        const char *title;    /* text, escaped here */
        const char *currency; /* "EUR" */
        const struct chart_point *points; /* in time order */
        size_t n_points;
        const struct chart_event *events; /* in time order */
        size_t n_events;
        /* The points carry what was charged (the owner's view): burn is its
         * rise. Else (the public view) burn is read off the falls of the
         * balance, which top-ups hide while they last. */
        bool has_spent;
};

/* The chart as SVG text (owned, NUL-terminated). The same chart gives
 * the same bytes: no clock, no locale, no random id. -EINVAL for no
 * points or points out of time order, -ENOMEM, -E2BIG. */
int chart_svg(const struct chart *c, char **ret, size_t *ret_size);

/* Streaming downsampling: points added in time order from `from` to `to`
 * fall in CHART_BUCKETS buckets of equal time; each bucket keeps its
 * lowest, its highest and its last point (once each, in time order), so
 * a top-up's jump and a spend down to nothing both survive. A series
 * shorter than the buckets comes out as it went in (when no two points
 * share a bucket). Bounded memory whatever the number of points. */
struct chart_downsampler {
        uint64_t from, width;
        struct chart_point *out;
        size_t n, cap;
        /* the open bucket */
        bool open;
        uint64_t bucket;
        struct chart_point low, high, last;
};

/* out holds at least CHART_POINTS_MAX points. */
void chart_downsampler_init(struct chart_downsampler *d, uint64_t from, uint64_t to, struct chart_point *out);
void chart_downsampler_add(struct chart_downsampler *d, const struct chart_point *p);
/* Closes the last bucket; returns the number of points in out. */
size_t chart_downsampler_finish(struct chart_downsampler *d);

/* A long series folded as it grows, so that a slice's history is not
 * read again from its first entry at each request: buckets of equal time
 * from the first point, each its lowest, highest and last point, at most
 * CHART_SUMMARY_BUCKETS of them; when the series outgrows them the width
 * doubles (each two neighbours merged). Fed to a chart_downsampler
 * (chart_summary_foreach()), it gives the downsampler's own points but
 * where a summary bucket straddles two of the downsampler's: the points
 * of the summary's lowest, highest and last, not of every point. */
#define CHART_SUMMARY_BUCKETS 1024
#define CHART_SUMMARY_WIDTH_USEC 10000 /* 10 ms: 10 s of life before a merge */

struct chart_summary_bucket {
        uint64_t index; /* (time - origin) / width */
        struct chart_point low, high, last;
};

struct chart_summary {
        uint64_t origin, width;
        size_t n;
        struct chart_summary_bucket b[CHART_SUMMARY_BUCKETS];
};

void chart_summary_init(struct chart_summary *s);
/* -EINVAL for a point before the last one added. */
int chart_summary_add(struct chart_summary *s, const struct chart_point *p);
/* chart_summary_add() known only by a summary's origin, width, number of
 * buckets and last bucket (NULL when none), as the ledger keeps one
 * (its rows are not read whole for each entry): 0 when p went into
 * *last, 1 when it opens a new bucket, *ret_new; -EXFULL when the
 * buckets are full and only the whole summary can take p (the width
 * doubles); -EINVAL for a point before the last. The same code as
 * chart_summary_add(), so the two give the same buckets. */
int chart_summary_add_tail(uint64_t origin, uint64_t width, size_t n, struct chart_summary_bucket *last,
                           const struct chart_point *p, struct chart_summary_bucket *ret_new);
/* Each bucket's points, in time order, a point its bucket's low, high and
 * last at once given once. Stops at cb's first negative return. */
int chart_summary_foreach(const struct chart_summary *s, int (*cb)(const struct chart_point *p, void *userdata),
                          void *userdata);

/* Whether kind is an event anyone may see marked on a slice's chart: what
 * happened to its money and state, never who did what (a kill, an OOM,
 * an attach name its owner's work). */
bool chart_event_is_public(const char *kind);
