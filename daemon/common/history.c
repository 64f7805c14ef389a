/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "history.h"
#include "util.h"

static int refuse(const char **ret_error, const char *why) {
        if (ret_error)
                *ret_error = why;
        return -EINVAL;
}

static bool get_int(json_object *v, int64_t *ret) {
        if (!json_object_is_type(v, json_type_int))
                return false;
        errno = 0;
        *ret = json_object_get_int64(v);
        /* json-c clamps what does not fit; a clamped value is not one. */
        return errno == 0 && *ret != INT64_MAX && *ret != INT64_MIN;
}

static bool kind_is_valid(const char *k) {
        size_t n = strspn(k, "abcdefghijklmnopqrstuvwxyz-_");

        return n >= 1 && n < CHART_KIND_MAX && k[n] == 0;
}

static int read_points(json_object *a, struct chart_history *h, const char **ret_error) {
        size_t n = json_object_array_length(a), width = 0;

        if (n > CHART_POINTS_MAX)
                return refuse(ret_error, "A history carries too many points");
        for (size_t i = 0; i < n; i++) {
                json_object *p = json_object_array_get_idx(a, i);
                int64_t t, balance, spent = 0;
                size_t w;

                if (!json_object_is_type(p, json_type_array))
                        return refuse(ret_error, "A point of a history is not an array");
                w = json_object_array_length(p);
                if ((w != 2 && w != 3) || (width && w != width))
                        return refuse(ret_error, "A point of a history is not [time, balance] or [time, balance, "
                                                 "spent], as every other");
                width = w;
                if (!get_int(json_object_array_get_idx(p, 0), &t) || t < 0 ||
                    !get_int(json_object_array_get_idx(p, 1), &balance) ||
                    (w == 3 && !get_int(json_object_array_get_idx(p, 2), &spent)))
                        return refuse(ret_error, "A point of a history holds something but integers");
                if (i > 0 && (uint64_t) t < h->points[i - 1].time_usec)
                        return refuse(ret_error, "The points of a history are not in time order");
                h->points[i] = (struct chart_point) { (uint64_t) t, balance, spent };
        }
        h->n_points = n;
        h->has_spent = width == 3;
        return 0;
}

static int read_events(json_object *a, struct chart_history *h, const char **ret_error) {
        size_t n = json_object_array_length(a);

        if (n > CHART_EVENTS_MAX)
                return refuse(ret_error, "A history carries too many events");
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(a, i), *v;
                struct chart_event ev = {};
                const char *kind;
                int64_t t;

                if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "time_usec", &v) ||
                    !get_int(v, &t) || t < 0 || !json_object_object_get_ex(e, "balance", &v) ||
                    !get_int(v, &ev.balance) || message_get_string(e, "kind", &kind) < 0 || !kind_is_valid(kind))
                        return refuse(ret_error, "An event of a history is not {time_usec, kind, balance}");
                ev.time_usec = (uint64_t) t;
                memcpy(ev.kind, kind, strlen(kind) + 1);
                h->events[i] = ev;
        }
        h->n_events = n;
        return 0;
}

int chart_history_from_json(json_object *reply, struct chart_history *ret, const char **ret_error) {
        const char *slice, *currency;
        json_object *points, *events;
        int r;

        if (!ret)
                return -EINVAL;
        *ret = (struct chart_history) {};
        if (!json_object_is_type(reply, json_type_object) || message_get_string(reply, "slice", &slice) < 0 ||
            !slice_id_is_valid(slice))
                return refuse(ret_error, "A history names no valid slice");
        if (message_get_string(reply, "currency", &currency) < 0 || (currency[0] && !currency_is_valid(currency)))
                return refuse(ret_error, "A history's currency is not three capital letters");
        if (!json_object_object_get_ex(reply, "points", &points) || !json_object_is_type(points, json_type_array) ||
            !json_object_object_get_ex(reply, "events", &events) || !json_object_is_type(events, json_type_array))
                return refuse(ret_error, "A history has no points or no events");
        (void) message_get_bool(reply, "public", &ret->public_view);
        (void) message_get_bool(reply, "released", &ret->released);
        if (json_object_object_get_ex(reply, "credited", &points) && !get_int(points, &ret->credited))
                return refuse(ret_error, "A history's credited is not an integer");
        (void) json_object_object_get_ex(reply, "points", &points);
        r = read_points(points, ret, ret_error);
        if (r >= 0)
                r = read_events(events, ret, ret_error);
        if (r < 0)
                return r;
        memcpy(ret->slice, slice, strlen(slice) + 1);
        memcpy(ret->currency, currency, strlen(currency) + 1);
        return 0;
}
