/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "batch.h"
#include "common/log.h"
#include "common/util.h"
#include "stats.h"

struct waiter {
        void (*cb)(int r, void *userdata);
        void *userdata;
        struct waiter *next;
};

struct batch {
        struct ledger *ledger;
        sd_event_source *commit_source;
        struct waiter *waiters;
        bool commit_failing;
        void (*committed)(int r, void *userdata);
        void *committed_userdata;
};

static int on_commit(sd_event_source *source, void *userdata) {
        (void) batch_commit(userdata);
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct batch *, batch_free);

int batch_new(sd_event *event, const char *path, struct batch **ret) {
        _cleanup_(freep) char *error = NULL;
        _cleanup_(batch_freep) struct batch *b = NULL;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_oom();
        r = ledger_open(path, false, &b->ledger, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to open the ledger %s: %s", path, error ?: strerror(-r));
        r = sd_event_add_defer(event, &b->commit_source, on_commit, b);
        if (r >= 0)
                r = sd_event_source_set_priority(b->commit_source, SD_EVENT_PRIORITY_IDLE);
        if (r >= 0)
                r = sd_event_source_set_enabled(b->commit_source, SD_EVENT_OFF);
        if (r < 0)
                return log_error_errno(r, "Failed to set up billing's event sources: %m");
        *ret = TAKE_PTR(b);
        return 0;
}

void batch_free(struct batch *b) {
        if (!b)
                return;
        while (b->waiters) {
                struct waiter *w = b->waiters;

                b->waiters = w->next;
                free(w);
        }
        sd_event_source_disable_unref(b->commit_source);
        ledger_close(b->ledger);
        free(b);
}

struct ledger *batch_ledger(struct batch *b) {
        return b->ledger;
}

void batch_set_committed(struct batch *b, void (*cb)(int r, void *userdata), void *userdata) {
        b->committed = cb;
        b->committed_userdata = userdata;
}

int batch_begin(struct batch *b) {
        int r;

        r = ledger_begin(b->ledger);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(b->commit_source, SD_EVENT_ONESHOT);
        /* -ESTALE: the event loop has finished, the daemon stops. What is
         * written now is committed by whoever stops it (billing_free());
         * taken for a failure, the last charges and the held-back events
         * were silently dropped. */
        return r == -ESTALE ? 0 : r;
}

int batch_open(struct batch *b) {
        int r;

        r = batch_begin(b);
        if (r < 0)
                return log_error_errno(r, "Failed to open a ledger transaction: %m");
        return r;
}

bool batch_is_open(struct batch *b) {
        return ledger_in_batch(b->ledger);
}

bool batch_failing(struct batch *b) {
        return b->commit_failing;
}

int batch_commit(struct batch *b) {
        struct waiter *w;
        int r;

        if (!ledger_in_batch(b->ledger))
                r = 0;
        else {
                uint64_t start = now_usec(CLOCK_MONOTONIC);

                r = ledger_commit(b->ledger);
                metrics_histogram_observe(&stats.commit, now_usec(CLOCK_MONOTONIC) - start);
        }
        stats_committed(r);
        if (r < 0) {
                if (!b->commit_failing)
                        log_error_errno(r, "Failed to commit the ledger: %m. Nothing in the batch was spent "
                                        "or charged; usage stays unbilled until a commit succeeds.");
                b->commit_failing = true;
        } else if (b->commit_failing) {
                log_info("The ledger is written again.");
                b->commit_failing = false;
        }

        if (b->committed)
                b->committed(r, b->committed_userdata);

        /* Waiters may queue new writes: take the list first. */
        w = b->waiters;
        b->waiters = NULL;
        while (w) {
                struct waiter *n = w->next;

                w->cb(r, w->userdata);
                free(w);
                w = n;
        }
        return r;
}

int batch_wait(struct batch *b, void (*cb)(int r, void *userdata), void *userdata) {
        struct waiter *w, **p;

        w = calloc(1, sizeof(*w));
        if (!w)
                return log_oom();
        w->cb = cb;
        w->userdata = userdata;
        for (p = &b->waiters; *p; p = &(*p)->next)
                ;
        *p = w;
        return sd_event_source_set_enabled(b->commit_source, SD_EVENT_ONESHOT);
}

bool batch_has_waiters(struct batch *b) {
        return b->waiters;
}

void batch_cancel(struct batch *b, void *userdata) {
        struct waiter **p = &b->waiters;

        while (*p) {
                if ((*p)->userdata == userdata) {
                        struct waiter *w = *p;

                        *p = w->next;
                        free(w);
                } else
                        p = &(*p)->next;
        }
}
