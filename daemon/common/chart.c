/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "chart.h"
#include "markup.h"
#include "money.h"
#include "util.h"

/* The plot areas, in pixels: the balance above, the burn below, on one
 * time axis. */
#define LEFT 88
#define RIGHT (CHART_WIDTH - 20)
#define BAL_TOP 44
#define BAL_BOTTOM 250
#define BURN_TOP 282
#define BURN_BOTTOM 352
#define USEC_PER_HOUR (3600 * USEC_PER_SEC)

#define COLOUR_BALANCE "#1f6feb"
#define COLOUR_BURN "#cf222e"
#define COLOUR_EVENT "#6e7781"
#define COLOUR_GRID "#d0d7de"

bool chart_event_is_public(const char *kind) {
        static const char *const public[] = {
                "funded", "topped-up", "low",      "exhausted", "throttled",
                "frozen", "thawed",    "released", "sponsor",   "paid",
        };

        for (size_t i = 0; kind && i < ARRAY_SIZE(public); i++)
                if (streq(kind, public[i]))
                        return true;
        return false;
}

/* ---- downsampling ---- */

void chart_downsampler_init(struct chart_downsampler *d, uint64_t from, uint64_t to, struct chart_point *out) {
        uint64_t span = to > from ? to - from : 0;

        /* Buckets of span / CHART_BUCKETS, rounded up, so that `to` falls
         * in the last; at least 1 µs. */
        *d = (struct chart_downsampler) {
                .from = from,
                .width = span / CHART_BUCKETS + 1,
                .out = out,
                .cap = CHART_POINTS_MAX,
        };
}

static void emit(struct chart_downsampler *d, const struct chart_point *p) {
        if (d->n > 0 && memcmp(&d->out[d->n - 1], p, sizeof(*p)) == 0)
                return;
        if (d->n < d->cap)
                d->out[d->n++] = *p;
}

static void close_bucket(struct chart_downsampler *d) {
        const struct chart_point *v[3] = { &d->low, &d->high, &d->last };

        if (!d->open)
                return;
        /* In time order; the last is last by construction. */
        if (v[1]->time_usec < v[0]->time_usec) {
                v[0] = &d->high;
                v[1] = &d->low;
        }
        for (size_t i = 0; i < 3; i++)
                emit(d, v[i]);
        d->open = false;
}

void chart_downsampler_add(struct chart_downsampler *d, const struct chart_point *p) {
        uint64_t b = p->time_usec > d->from ? (p->time_usec - d->from) / d->width : 0;

        b = MIN(b, (uint64_t) CHART_BUCKETS - 1);
        if (d->open && b != d->bucket)
                close_bucket(d);
        if (!d->open) {
                d->open = true;
                d->bucket = b;
                d->low = d->high = d->last = *p;
                return;
        }
        /* The first of equals: a bucket's figures do not move with later
         * points that only repeat them. */
        if (p->balance < d->low.balance)
                d->low = *p;
        if (p->balance > d->high.balance)
                d->high = *p;
        d->last = *p;
}

size_t chart_downsampler_finish(struct chart_downsampler *d) {
        close_bucket(d);
        return d->n;
}

/* ---- summary ---- */

void chart_summary_init(struct chart_summary *s) {
        s->origin = 0;
        s->width = CHART_SUMMARY_WIDTH_USEC;
        s->n = 0;
}

/* a's figures with b's, b after a. */
static void bucket_merge(struct chart_summary_bucket *a, const struct chart_summary_bucket *b) {
        if (b->low.balance < a->low.balance)
                a->low = b->low;
        if (b->high.balance > a->high.balance)
                a->high = b->high;
        a->last = b->last;
}

/* Twice the width: each two neighbours one. */
static void summary_halve(struct chart_summary *s) {
        size_t n = 0;

        s->width *= 2;
        for (size_t i = 0; i < s->n; i++) {
                struct chart_summary_bucket b = s->b[i];

                b.index /= 2;
                if (n > 0 && s->b[n - 1].index == b.index)
                        bucket_merge(&s->b[n - 1], &b);
                else
                        s->b[n++] = b;
        }
        s->n = n;
}

int chart_summary_add_tail(uint64_t origin, uint64_t width, size_t n, struct chart_summary_bucket *last,
                           const struct chart_point *p, struct chart_summary_bucket *ret_new) {
        uint64_t index;

        if (width == 0 || (n > 0 && !last) || p->time_usec < origin)
                return -EINVAL;
        if (last && p->time_usec < last->last.time_usec)
                return -EINVAL;
        index = (p->time_usec - origin) / width;
        if (last && last->index == index) {
                /* As the downsampler: the first of equals stays. */
                if (p->balance < last->low.balance)
                        last->low = *p;
                if (p->balance > last->high.balance)
                        last->high = *p;
                last->last = *p;
                return 0;
        }
        if (n >= CHART_SUMMARY_BUCKETS)
                return -EXFULL;
        *ret_new = (struct chart_summary_bucket) { index, *p, *p, *p };
        return 1;
}

int chart_summary_add(struct chart_summary *s, const struct chart_point *p) {
        struct chart_summary_bucket b;
        int r;

        if (s->n == 0)
                s->origin = p->time_usec;
        for (;;) {
                r = chart_summary_add_tail(s->origin, s->width, s->n, s->n > 0 ? &s->b[s->n - 1] : NULL, p, &b);
                if (r != -EXFULL)
                        break;
                summary_halve(s);
        }
        if (r > 0)
                s->b[s->n++] = b;
        return MIN(r, 0);
}

int chart_summary_foreach(const struct chart_summary *s, int (*cb)(const struct chart_point *p, void *userdata),
                          void *userdata) {
        for (size_t i = 0; i < s->n; i++) {
                const struct chart_point *v[3] = { &s->b[i].low, &s->b[i].high, &s->b[i].last };
                const struct chart_point *prev = NULL;

                if (v[1]->time_usec < v[0]->time_usec) {
                        v[0] = &s->b[i].high;
                        v[1] = &s->b[i].low;
                }
                for (size_t j = 0; j < 3; j++) {
                        int r;

                        if (prev && memcmp(prev, v[j], sizeof(*prev)) == 0)
                                continue;
                        prev = v[j];
                        r = cb(v[j], userdata);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* ---- scales ---- */

/* The step of about `ticks` ticks over range: 1, 2 or 5 times a power of
 * ten, at least 1. */
static int64_t nice_step(int64_t range, int ticks) {
        int64_t raw = MAX(range / ticks, (int64_t) 1), p = 1;

        while (p <= INT64_MAX / 10 && p * 10 <= raw)
                p *= 10;
        if (raw <= p)
                return p;
        if (p <= INT64_MAX / 2 && raw <= 2 * p)
                return 2 * p;
        if (p <= INT64_MAX / 5 && raw <= 5 * p)
                return 5 * p;
        return p <= INT64_MAX / 10 ? 10 * p : p;
}

/* v from [lo, hi] onto [top, bottom] (pixels, bottom is lo), in tenths of
 * a pixel: integers, so that no locale can write "12,5" into the SVG. */
static int64_t scale(int64_t v, int64_t lo, int64_t hi, int top, int bottom) {
        __int128 span = (__int128) hi - lo, off = (__int128) v - lo;

        if (span <= 0)
                return (int64_t) bottom * 10;
        return (int64_t) bottom * 10 - (int64_t) (off * (bottom - top) * 10 / span);
}

static int64_t x_of(uint64_t t, uint64_t t0, uint64_t t1) {
        __int128 span = (__int128) t1 - t0, off = (__int128) t - t0;

        if (span <= 0)
                return (int64_t) LEFT * 10;
        return (int64_t) LEFT * 10 + (int64_t) (off * (RIGHT - LEFT) * 10 / span);
}

/* A coordinate in tenths as text: "123.4". */
static const char *px(char buf[static 24], int64_t tenths) {
        snprintf(buf, 24, "%s%" PRId64 ".%" PRId64, tenths < 0 ? "-" : "", (tenths < 0 ? -tenths : tenths) / 10,
                 (tenths < 0 ? -tenths : tenths) % 10);
        return buf;
}

/* The burn over interval i (points i-1, i) in micro-units per hour. */
static int64_t burn_of(const struct chart *c, size_t i) {
        const struct chart_point *a = &c->points[i - 1], *b = &c->points[i];
        uint64_t dt = b->time_usec - a->time_usec;
        __int128 spent, rate;

        if (dt == 0)
                return 0;
        spent = c->has_spent ? (__int128) b->spent - a->spent : (__int128) a->balance - b->balance;
        if (spent <= 0)
                return 0;
        rate = spent * USEC_PER_HOUR / dt;
        return rate > INT64_MAX ? INT64_MAX : (int64_t) rate;
}

struct time_unit {
        const char *name;
        uint64_t usec;
};

static struct time_unit time_unit_of(uint64_t span) {
        if (span < 2 * 60 * USEC_PER_SEC)
                return (struct time_unit) { "s", USEC_PER_SEC };
        if (span < 2 * USEC_PER_HOUR)
                return (struct time_unit) { "min", 60 * USEC_PER_SEC };
        if (span < 48 * USEC_PER_HOUR)
                return (struct time_unit) { "h", USEC_PER_HOUR };
        return (struct time_unit) { "days", 24 * USEC_PER_HOUR };
}

static void money_axis(struct markup *m, int64_t lo, int64_t hi, int64_t step, int top, int bottom) {
        char a[24], b[24], text[MONEY_FORMAT_MAX];

        for (int64_t v = lo; v <= hi; v += step) {
                int64_t y = scale(v, lo, hi, top, bottom);

                markup_printf(m, "<line x1=\"%d\" x2=\"%d\" y1=\"%s\" y2=\"%s\" stroke=\"" COLOUR_GRID "\"/>\n",
                              LEFT, RIGHT, px(a, y), px(b, y));
                markup_printf(m, "<text x=\"%d\" y=\"%s\" text-anchor=\"end\">%s</text>\n", LEFT - 6,
                              px(a, y + 35), money_format(text, sizeof(text), v));
                if (v > INT64_MAX - step)
                        break;
        }
}

/* The lowest and highest tick that hold [lo, hi] at step. */
static void ticks_around(int64_t *lo, int64_t *hi, int64_t step) {
        int64_t l = *lo / step * step, h = *hi / step * step;

        /* A hostile series' extremes may leave no room for one more
         * tick: it is drawn past the axis rather than overflow. */
        if (l > *lo && l >= INT64_MIN + step)
                l -= step;
        if (h < *hi && h <= INT64_MAX - step)
                h += step;
        if (h <= l)
                h = l <= INT64_MAX - step ? l + step : INT64_MAX;
        *lo = l;
        *hi = h;
}

int chart_svg(const struct chart *c, char **ret, size_t *ret_size) {
        const char *currency = c->currency && c->currency[0] ? c->currency : "";
        uint64_t t0, t1, span, tstep;
        int64_t lo = 0, hi = 1, blo = 0, bhi = 1, step, bstep;
        struct time_unit unit;
        struct markup m;
        char a[24], b[24], start[64];
        struct tm tm;
        time_t secs;

        if (!c || !ret || c->n_points == 0 || !c->points)
                return -EINVAL;
        for (size_t i = 1; i < c->n_points; i++)
                if (c->points[i].time_usec < c->points[i - 1].time_usec)
                        return -EINVAL;

        t0 = c->points[0].time_usec;
        t1 = c->points[c->n_points - 1].time_usec;
        for (size_t i = 0; i < c->n_events; i++) {
                t0 = MIN(t0, c->events[i].time_usec);
                t1 = MAX(t1, c->events[i].time_usec);
        }
        if (t1 == t0)
                t1 = t0 + USEC_PER_SEC;
        span = t1 - t0;
        for (size_t i = 0; i < c->n_points; i++) {
                lo = MIN(lo, c->points[i].balance);
                hi = MAX(hi, c->points[i].balance);
        }
        for (size_t i = 1; i < c->n_points; i++)
                bhi = MAX(bhi, burn_of(c, i));
        step = nice_step(hi > INT64_MAX / 2 || lo < INT64_MIN / 2 ? INT64_MAX / 4 : hi - lo, 4);
        ticks_around(&lo, &hi, step);
        bstep = nice_step(bhi, 2);
        ticks_around(&blo, &bhi, bstep);

        markup_init(&m, CHART_SVG_MAX);
        markup_printf(&m, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                          "role=\"img\" aria-labelledby=\"chart-title\" font-family=\"sans-serif\" font-size=\"11\">\n",
                      CHART_WIDTH, CHART_HEIGHT, CHART_WIDTH, CHART_HEIGHT);
        markup_raw(&m, "<title id=\"chart-title\">");
        markup_text(&m, c->title ?: "");
        markup_raw(&m, "</title>\n");
        markup_printf(&m, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", CHART_WIDTH, CHART_HEIGHT);
        markup_printf(&m, "<text x=\"%d\" y=\"22\" font-size=\"14\" font-weight=\"bold\">", LEFT);
        markup_text(&m, c->title ?: "");
        markup_raw(&m, "</text>\n");

        /* Axes: money on the left of each panel, with its unit. */
        money_axis(&m, lo, hi, step, BAL_TOP, BAL_BOTTOM);
        money_axis(&m, blo, bhi, bstep, BURN_TOP, BURN_BOTTOM);
        markup_printf(&m, "<text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">balance (",
                      (BAL_TOP + BAL_BOTTOM) / 2);
        markup_text(&m, currency);
        markup_raw(&m, ")</text>\n");
        markup_printf(&m, "<text transform=\"translate(14 %d) rotate(-90)\" text-anchor=\"middle\">burn (",
                      (BURN_TOP + BURN_BOTTOM) / 2);
        markup_text(&m, currency);
        markup_raw(&m, "/h)</text>\n");

        /* Time: from the first point, in a unit that suits the span. */
        unit = time_unit_of(span);
        tstep = (uint64_t) nice_step((int64_t) MIN(span / unit.usec, (uint64_t) INT64_MAX), 6) * unit.usec;
        for (uint64_t t = 0; t <= span; t += tstep) {
                int64_t x = x_of(t0 + t, t0, t1);

                markup_printf(&m, "<line x1=\"%s\" x2=\"%s\" y1=\"%d\" y2=\"%d\" stroke=\"" COLOUR_GRID "\"/>\n",
                              px(a, x), px(b, x), BURN_BOTTOM, BURN_BOTTOM + 4);
                markup_printf(&m, "<text x=\"%s\" y=\"%d\" text-anchor=\"middle\">%" PRIu64 "</text>\n", px(a, x),
                              BURN_BOTTOM + 16, t / unit.usec);
                if (t > UINT64_MAX - tstep)
                        break;
        }
        secs = (time_t) (t0 / USEC_PER_SEC);
        if (!gmtime_r(&secs, &tm) || strftime(start, sizeof(start), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(start, sizeof(start), "%" PRIu64 " s", t0 / USEC_PER_SEC);
        markup_printf(&m, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since %s (%s)</text>\n",
                      (LEFT + RIGHT) / 2, CHART_HEIGHT - 14, start, unit.name);
        markup_printf(&m, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"#57606a\"/>\n", LEFT, LEFT, BAL_TOP,
                      BURN_BOTTOM);

        /* Events: a dashed line through both panels, a dot on the
         * balance, the kind written beside it. */
        for (size_t i = 0; i < c->n_events; i++) {
                const struct chart_event *e = &c->events[i];
                int64_t x = x_of(e->time_usec, t0, t1), y = scale(e->balance, lo, hi, BAL_TOP, BAL_BOTTOM);

                y = MAX(MIN(y, (int64_t) BAL_BOTTOM * 10), (int64_t) BAL_TOP * 10);
                markup_printf(&m, "<g class=\"event\"><title>");
                markup_text(&m, e->kind);
                markup_printf(&m, "</title><line x1=\"%s\" x2=\"%s\" y1=\"%d\" y2=\"%d\" stroke=\"" COLOUR_EVENT
                                  "\" stroke-dasharray=\"3 3\"/>",
                              px(a, x), px(b, x), BAL_TOP, BURN_BOTTOM);
                markup_printf(&m, "<circle cx=\"%s\" cy=\"%s\" r=\"3.5\" fill=\"" COLOUR_EVENT "\"/>", px(a, x),
                              px(b, y));
                markup_printf(&m, "<text transform=\"translate(%s %d) rotate(-90)\" text-anchor=\"end\" "
                                  "font-size=\"10\" fill=\"" COLOUR_EVENT "\">",
                              px(a, x + 110), BAL_TOP + 2);
                markup_text(&m, e->kind);
                markup_raw(&m, "</text></g>\n");
        }

        /* The balance, and the burn as steps (each interval at its rate). */
        markup_raw(&m, "<polyline fill=\"none\" stroke=\"" COLOUR_BALANCE "\" stroke-width=\"2\" points=\"");
        for (size_t i = 0; i < c->n_points; i++)
                markup_printf(&m, "%s%s,%s", i ? " " : "", px(a, x_of(c->points[i].time_usec, t0, t1)),
                              px(b, scale(c->points[i].balance, lo, hi, BAL_TOP, BAL_BOTTOM)));
        markup_raw(&m, "\"/>\n");
        if (c->n_points > 1) {
                markup_raw(&m, "<polyline fill=\"none\" stroke=\"" COLOUR_BURN "\" stroke-width=\"1.5\" points=\"");
                for (size_t i = 1; i < c->n_points; i++) {
                        int64_t y = scale(burn_of(c, i), blo, bhi, BURN_TOP, BURN_BOTTOM);

                        markup_printf(&m, "%s%s,%s %s,%s", i > 1 ? " " : "",
                                      px(a, x_of(c->points[i - 1].time_usec, t0, t1)), px(b, y),
                                      px((char[24]) {}, x_of(c->points[i].time_usec, t0, t1)),
                                      px((char[24]) {}, y));
                }
                markup_raw(&m, "\"/>\n");
        }
        markup_raw(&m, "</svg>\n");
        return markup_finish(&m, ret, ret_size);
}
