/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "account.h"
#include "common/util.h"
#include "enforcer.h"
#include "events.h"

/* Enforcement's actions: what enforcer.c decided, done to a slice through
 * slices.c (throttle, freeze, kill, restore, the grace of a frozen
 * slice, OnDaemonStop=freeze). Each returns what happened: 0 when done,
 * -errno when the backend failed, and a slice is never recorded or
 * reported as throttled or killed when that failed. The money side
 * (billing.c) decides when, and gives the callbacks this needs of it. */

struct slice;
struct config;
struct enforce;

/* What enforcement needs of the money side, called back with userdata:
 * emit an event (reason: a sentence, no final "."), charge the slice's
 * usage to this moment (after an action: its last microsecond), set its
 * network grants for its state now (raise: new money), and write its
 * state file. */
struct enforce_callbacks {
        void (*emit)(struct slice *s, enum event_kind kind, const char *action, const char *reason, void *userdata);
        void (*settle)(struct slice *s, void *userdata);
        void (*grants)(struct slice *s, bool raise, void *userdata);
        void (*save)(struct slice *s, void *userdata);
};

/* How many kills' exit costs are remembered. */
#define ENFORCE_EXIT_KILLS 8

struct enforce {
        sd_event *event;
        const struct config *config;  /* read at each action: a reload applies at once */
        uint64_t max_cpus_milli;       /* the size of a slice without a CPU quota */
        const struct enforce_callbacks *cb;
        void *userdata;
        /* The CPU a killed task cost to exit, usec, in the last kills of
         * many tasks (ENFORCE_EXIT_KILLS at most; the next one goes at
         * exit_next): enforce_exit_cost_usec() takes the dearest. */
        uint64_t exit_cost_usec[ENFORCE_EXIT_KILLS];
        unsigned n_exit_costs, exit_next;
};

/* A failed kill at the end of a grace is tried again this soon. */
#define ENFORCE_RETRY_USEC (1 * USEC_PER_SEC)

/* What a killed task costs to exit, in CPU usec: the dearest of this
 * daemon's last ENFORCE_EXIT_KILLS kills of slices with many tasks (the
 * mm's teardown, which the kernel charges to the slice), a guess above
 * what was measured until the first. */
uint64_t enforce_exit_cost_usec(const struct enforce *en);
/* What the kill of s will cost it, in money at rc's CPU price: its tasks'
 * exits (enforce_exit_cost_usec() each), held back from its balance
 * (struct enforce_view.reserve) so that they are paid for. 0 for a slice
 * whose action is not kill; for a killed one, what was held back at the
 * kill (so that its exits' leftover is not taken for new money). */
int64_t enforce_kill_reserve(struct enforce *en, struct slice *s, const struct rate_card *rc);

/* LowBalanceSec= reached: warned, and throttled to LowBalanceCPU=. */
int enforce_low(struct enforce *en, struct slice *s);
/* The balance is spent: the slice's action. On failure (-errno) the
 * state stays as it was, the failure is logged and, the first time, an
 * "exhausted" event says so; the next call tries again. A slice that
 * could not be frozen is still killed at the end of its grace. */
int enforce_exhaust(struct enforce *en, struct slice *s);
/* Money again: limits back, thawed. */
void enforce_restore(struct enforce *en, struct slice *s);
/* A frozen slice whose grace timer is not running (after a restart, or a
 * failure to arm or to kill): armed for what is left of its grace. A
 * timer that cannot be armed would leave the slice frozen for good: it
 * is killed now instead. */
void enforce_grace_check(struct enforce *en, struct slice *s);
/* After a restart: a slice frozen only for the daemon's stop is thawed,
 * a frozen slice's grace goes on from when it was frozen. */
void enforce_resume(struct enforce *en, struct slice *s);
/* OnDaemonStop=freeze, for one funded slice: 0 when frozen (or nothing
 * to do), -errno when freezing failed. */
int enforce_daemon_stop(struct enforce *en, struct slice *s);
/* Its timers go (before the slice is freed). */
void enforce_slice_free(struct slice_enforce *e);
