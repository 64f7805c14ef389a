/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A "history" reply as `prepay report --host` reads it from a gateway it
 * may not trust, and the gateway from prepayd for its donor page:
 * message_parse(), chart_history_from_json() (daemon/common/history.c),
 * then chart_svg() (daemon/common/chart.c). Properties:
 *   - a refusal is -EINVAL with a sentence;
 *   - a history taken has at most CHART_POINTS_MAX points in time order
 *     and CHART_EVENTS_MAX events, a valid slice id and NUL-terminated
 *     kinds;
 *   - drawn, it is an SVG within CHART_SVG_MAX that opens and closes,
 *     and holds no markup the renderer did not write (no "<script", no
 *     "href=": a kind may spell "href", never an attribute). */
#include <errno.h>

#include "fuzz-json.h"
#include "common/history.h"

FUZZ_QUIET_INITIALIZE

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static struct chart_history h;
        _cleanup_(freep) char *svg = NULL;
        const char *error = NULL;
        json_object *o = NULL;
        struct chart c;
        size_t n;
        int r;

        if (message_parse((const char *) data, size, &o, &error) < 0)
                return 0;
        r = chart_history_from_json(o, &h, &error);
        json_object_put(o);
        if (fuzz_refused(r, error))
                return 0;
        fuzz_check(h.n_points <= CHART_POINTS_MAX && h.n_events <= CHART_EVENTS_MAX);
        fuzz_check(slice_id_is_valid(h.slice));
        for (size_t i = 1; i < h.n_points; i++)
                fuzz_check(h.points[i].time_usec >= h.points[i - 1].time_usec);
        for (size_t i = 0; i < h.n_events; i++)
                fuzz_check(memchr(h.events[i].kind, 0, sizeof(h.events[i].kind)));
        if (h.n_points == 0)
                return 0;
        c = chart_of_history(&h, "<title>");
        r = chart_svg(&c, &svg, &n);
        fuzz_check(r == 0);
        fuzz_check(n < CHART_SVG_MAX && strneq(svg, "<svg ", 5) && strstr(svg, "</svg>\n"));
        fuzz_check(!strstr(svg, "<script") && !strstr(svg, "href=") && !strstr(svg, "<title>&"));
        return 0;
}
