/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay report: a slice's life from the ledger, as text or as an SVG chart. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <time.h>

#include "common/history.h"
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay report SLICE [--svg FILE] [--json] [--token TOKEN]\n"
               "\n"
               "Shows SLICE's life from the host's ledger: its balance over time (at most\n"
               "%d points, however long it lived: each stretch of its life gives its\n"
               "lowest, highest and last balance) and its last %d events (funded,\n"
               "topped-up, low, exhausted, frozen, thawed, released, ...). With --svg the\n"
               "same as a chart: balance and burn per hour over time with the events\n"
               "marked, %dx%d pixels, one file that needs nothing else. Its owner (the\n"
               "token, or the uid that made it on this host) and operators see what was\n"
               "charged and every event with its reason; anyone else the public figures.\n"
               "\n"
               "  --svg=FILE         Write the chart to FILE (\"-\": standard output)\n"
               "  --json             Print the daemon's reply as JSON\n"
               HELP_TOKEN
               HELP_TOKEN_FILE
               "  -h, --help         Show this help\n",
               CHART_POINTS_MAX, CHART_EVENTS_MAX, CHART_WIDTH, CHART_HEIGHT);
}

struct report {
        const char *slice, *svg;
};

static const char *utc(char buf[static 32], uint64_t usec) {
        time_t t = (time_t) (usec / USEC_PER_SEC);
        struct tm tm;

        if (!gmtime_r(&t, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, 32, "%" PRIu64, usec / USEC_PER_SEC);
        return buf;
}

static int write_svg(const char *path, const char *text, size_t n) {
        _cleanup_(closep) int fd = -EBADF;
        int r;

        if (streq(path, "-"))
                return fwrite(text, 1, n, stdout) == n && fflush(stdout) == 0
                               ? 0
                               : log_error_errno(EIO, "Failed to write the chart to standard output.");
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return log_error_errno(errno, "Failed to open %s: %m", path);
        while (n > 0) {
                ssize_t k = write(fd, text, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return log_error_errno(errno, "Failed to write %s: %m", path);
                text += k;
                n -= (size_t) k;
        }
        r = close(TAKE_FD(fd));
        if (r < 0)
                return log_error_errno(errno, "Failed to write %s: %m", path);
        return 0;
}

static int print_report(json_object *reply, void *userdata) {
        const struct report *rp = userdata;
        _cleanup_(freep) struct chart_history *h = NULL;
        _cleanup_(freep) char *svg = NULL;
        char title[96], a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], t[32];
        const char *error = NULL;
        struct chart c;
        size_t n;
        int r;

        h = malloc(sizeof(*h));
        if (!h)
                return log_oom();
        r = chart_history_from_json(reply, h, &error);
        if (r < 0)
                return log_error_errno(-r, "Failed to read the history of slice %s: %s.", rp->slice, error);
        if (rp->svg) {
                snprintf(title, sizeof(title), "slice %s%s", h->slice, h->released ? " (released)" : "");
                c = chart_of_history(h, title);
                r = chart_svg(&c, &svg, &n);
                if (r < 0)
                        return log_error_errno(-r, "Failed to draw the chart of slice %s: %m", rp->slice);
                r = write_svg(rp->svg, svg, n);
                if (r < 0 || streq(rp->svg, "-"))
                        return r;
                printf("Wrote the chart of slice %s to %s: %zu points, %zu events%s.\n", h->slice, rp->svg,
                       h->n_points, h->n_events, h->public_view ? " (public figures)" : "");
                return 0;
        }
        printf("slice %s%s%s\n", h->slice, h->released ? ", released" : "",
               h->public_view ? " (public figures: the owner token shows what was charged)" : "");
        if (h->n_points > 0)
                printf("balance %s %s at %s UTC, %s %s at %s UTC (%zu points)\n",
                       money_format(a, sizeof(a), h->points[0].balance), h->currency,
                       utc(t, h->points[0].time_usec),
                       money_format(b, sizeof(b), h->points[h->n_points - 1].balance), h->currency,
                       utc((char[32]) {}, h->points[h->n_points - 1].time_usec), h->n_points);
        if (h->has_spent && h->n_points > 0)
                printf("charged %s %s\n", money_format(a, sizeof(a), h->points[h->n_points - 1].spent), h->currency);
        if (h->n_events > 0)
                printf("%-19s  %-12s %14s\n", "TIME (UTC)", "EVENT", "BALANCE");
        for (size_t i = 0; i < h->n_events; i++)
                printf("%-19s  %-12s %14s\n", utc(t, h->events[i].time_usec), h->events[i].kind,
                       money_format(a, sizeof(a), h->events[i].balance));
        return 0;
}

int report_main(int argc, char *argv[]) {
        _cleanup_(freep) char *token = NULL;
        struct arg_token tk = {};
        struct report rp = {};
        bool json = false;
        const struct arg_option options[] = {
                OPT_STRING("svg", &rp.svg),
                OPT_FLAG("json", &json),
                OPT_TOKEN(&tk),
                OPT_TOKEN_FILE(&tk),
                {}
        };
        int r;

        r = args_parse_slice(argc, argv, options, help, "Usage: prepay report SLICE [--svg FILE] [--json]", &tk,
                             &rp.slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (json && rp.svg) {
                log_error("--json and --svg do not go together.");
                return 2;
        }
        if (arg_token_find(&tk, rp.slice, &token) < 0)
                return 1;
        return client_run(client_request_slice("history", rp.slice, token), false, json, print_report, &rp);
}
