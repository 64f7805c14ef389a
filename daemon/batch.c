/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>

#include "batch.h"
#include "common/log.h"
#include "common/util.h"

struct waiter {
        void (*cb)(int r, void *userdata);
        void *userdata;
        struct waiter *next;
};

struct batch {
        struct ledger *ledger;
        sd_event_source *commit_source;
        /* Writes still to come (batch_set_pending()): the commit waits
         * for them from due_usec (CLOCK_MONOTONIC; 0: not waiting) until
         * hold_source fires at the latest. */
        bool (*busy)(void *userdata);
        void *busy_userdata;
        uint64_t due_usec;
        sd_event_source *hold_source;
        struct waiter *waiters;
        bool commit_failing;
        void (*committed)(int r, void *userdata);
        void *committed_userdata;
};

static int on_hold_over(sd_event_source *source, uint64_t usec, void *userdata) {
        (void) batch_commit(userdata);
        return 0;
}

/* Whether the commit waits: writes are still to come and it has not
 * waited BATCH_HOLD_USEC yet. Then the hold timer is armed for the end
 * of the wait, and batch_kick() may end it sooner. */
static bool commit_held(struct batch *b) {
        sd_event *event = sd_event_source_get_event(b->commit_source);
        uint64_t now;
        int r;

        if (!b->busy || !b->busy(b->busy_userdata))
                return false;
        if (sd_event_now(event, CLOCK_MONOTONIC, &now) < 0)
                return false;
        if (b->due_usec == 0)
                b->due_usec = now;
        if (now >= b->due_usec + BATCH_HOLD_USEC)
                return false;
        if (!b->hold_source)
                r = sd_event_add_time(event, &b->hold_source, CLOCK_MONOTONIC, b->due_usec + BATCH_HOLD_USEC, 0,
                                      on_hold_over, b);
        else {
                r = sd_event_source_set_time(b->hold_source, b->due_usec + BATCH_HOLD_USEC);
                if (r >= 0)
                        r = sd_event_source_set_enabled(b->hold_source, SD_EVENT_ONESHOT);
        }
        /* No timer, no wait: committed now. */
        return r >= 0;
}

static int on_commit(sd_event_source *source, void *userdata) {
        if (!commit_held(userdata))
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
        sd_event_source_disable_unref(b->hold_source);
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

void batch_set_pending(struct batch *b, bool (*busy)(void *userdata), void *userdata) {
        b->busy = busy;
        b->busy_userdata = userdata;
}

void batch_kick(struct batch *b) {
        if (b->due_usec != 0 && ledger_in_batch(b->ledger))
                (void) sd_event_source_set_enabled(b->commit_source, SD_EVENT_ONESHOT);
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

        b->due_usec = 0;
        if (b->hold_source)
                (void) sd_event_source_set_enabled(b->hold_source, SD_EVENT_OFF);
        if (!ledger_in_batch(b->ledger))
                r = 0;
        else
                r = ledger_commit(b->ledger);
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
