/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "common/log.h"
#include "common/parse.h"
#include "config.h"
#include "enforce.h"
#include "slices.h"
#include "stats.h"

static void emit(struct enforce *en, struct slice *s, enum event_kind kind, const char *action, const char *fmt, ...)
        _printf_(5, 6);
static void emit(struct enforce *en, struct slice *s, enum event_kind kind, const char *action, const char *fmt, ...) {
        char reason[EVENT_REASON_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);
        en->cb->emit(s, kind, action, reason, en->userdata);
}

static void save(struct enforce *en, struct slice *s) {
        en->cb->save(s, en->userdata);
}

/* A CPU quota of milli CPUs over the slice's own period. */
static struct slice_limits limits_with_cpus(const struct slice *s, uint64_t milli) {
        struct slice_limits l = s->limits;
        uint64_t quota;

        /* A quota past 64 bits is more than the slice's own: that stays. */
        if (pricing_quota_of_cpus(milli, l.cpu_period_usec, &quota) >= 0)
                l.cpu_quota_usec = MAX(quota, (uint64_t) 1000);
        return l;
}

/* LowBalanceCPU=: the slice's CPUs cut to that share of its size. */
static int throttle_low(struct enforce *en, struct slice *s) {
        uint64_t milli = enforcer_cpus_of_limits(s->limits.cpu_quota_usec, s->limits.cpu_period_usec,
                                                 en->max_cpus_milli);
        struct slice_limits l = limits_with_cpus(s, enforcer_low_cpus(milli, en->config->low_balance_cpu));

        return slice_set_limits(s, &l);
}

int enforce_low(struct enforce *en, struct slice *s) {
        const struct config *cfg = en->config;
        char d[FORMAT_DURATION_MAX];
        int r;

        s->account.enforce.state = ENFORCE_LOW;
        stats.actions[STATS_ACTION_LOW]++;
        emit(en, s, EVENT_LOW, NULL, "less than %s left at the current burn rate",
             format_duration(d, sizeof(d), cfg->low_balance_usec));
        if (cfg->low_balance_cpu > 0 && s->handle) {
                r = throttle_low(en, s);
                if (r < 0)
                        log_warning_errno(r, "Slice %s: failed to throttle it on a low balance, ignoring: %m", s->id);
                else
                        emit(en, s, EVENT_THROTTLED, "throttle", "low balance: CPU throttled to %" PRIu64 "%% of its size",
                             cfg->low_balance_cpu);
        }
        save(en, s);
        return 0;
}

/* ---- a kill's exits ----
 *
 * A killed task stops running user code at once (cgroup.kill sends
 * SIGKILL to each; one on a CPU is interrupted, the others never return
 * to user mode), but each must still run to exit, and its exit, nearly
 * all of it the teardown of its memory map (exit_mmap, free_pgtables),
 * is CPU the kernel charges to the slice after the kill. Measured on this
 * project's 2-CPU guest: 250-560 us a task, so a slice of 200 tasks
 * killed at a zero balance used 70-100 ms of CPU past it. That cannot be
 * stopped, only paid for: a slice to be killed is killed while its
 * balance still holds its tasks' exits (enforce_kill_reserve()), and each
 * kill measures what they cost once its cgroup is empty. */

/* The guess until a kill has taught better: above what was measured. */
#define EXIT_COST_START_USEC ((uint64_t) 1000)
/* Never more per task: a large memory to free is not a task's cost, and
 * a guess this size already stops a 200-task slice a second early. */
#define EXIT_COST_MAX_USEC ((uint64_t) 5000)
/* A kill of fewer tasks teaches nothing of the per-task cost: there it is
 * the memory's (and a VM's guest is all memory). */
#define EXIT_LEARN_MIN_TASKS 8
/* How often a killed slice is looked at until it is empty, how long. */
#define EXIT_POLL_USEC (10 * USEC_PER_MSEC)
#define EXIT_WATCH_USEC (10 * USEC_PER_SEC)

uint64_t enforce_exit_cost_usec(const struct enforce *en) {
        uint64_t most = 0;

        if (en->n_exit_costs == 0)
                return EXIT_COST_START_USEC;
        for (unsigned i = 0; i < en->n_exit_costs; i++)
                most = MAX(most, en->exit_cost_usec[i]);
        return most;
}

int64_t enforce_kill_reserve(struct enforce *en, struct slice *s, const struct rate_card *rc) {
        struct slice_enforce *e = &s->account.enforce;
        uint64_t usec;
        int64_t m;

        if (e->state == ENFORCE_KILLED)
                return e->kill_reserve;
        e->kill_reserve = 0;
        if (e->action != ENFORCE_ACTION_KILL || !s->handle || (e->state != ENFORCE_OK && e->state != ENFORCE_LOW))
                return 0;
        if (__builtin_mul_overflow(s->usage.pids_current, enforce_exit_cost_usec(en), &usec) ||
            pricing_cost(rc, RESOURCE_CPU, usec, &m) < 0)
                m = MONEY_AMOUNT_MAX;
        /* Kept: the kill that follows holds this much back. */
        e->kill_reserve = m;
        return m;
}

static void exit_learn(struct enforce *en, struct slice *s) {
        struct slice_enforce *e = &s->account.enforce;
        uint64_t used, each;

        used = s->usage.cpu_usec > e->kill_cpu_usec ? s->usage.cpu_usec - e->kill_cpu_usec : 0;
        each = used / MAX(e->kill_tasks, (uint64_t) 1);
        if (e->kill_tasks < EXIT_LEARN_MIN_TASKS || s->vm) {
                log_debug("Slice %s: its %" PRIu64 " tasks used %" PRIu64 "us of CPU to exit after the kill.", s->id,
                          e->kill_tasks, used);
                return;
        }
        /* The dearest of the last few, not their mean: the same 200
         * tasks' exits cost 77-100 ms here from one kill to the next. A
         * reserve too small is overshoot, the host's loss; one too large
         * stops the slice that much early, and what its exits leave stays
         * its owner's. */
        en->exit_cost_usec[en->exit_next] = MIN(MAX(each, (uint64_t) 1), EXIT_COST_MAX_USEC);
        en->exit_next = (en->exit_next + 1) % ENFORCE_EXIT_KILLS;
        en->n_exit_costs = MIN(en->n_exit_costs + 1, (unsigned) ENFORCE_EXIT_KILLS);
        log_info("Slice %s: its %" PRIu64 " tasks used %" PRIu64 "us of CPU to exit after the kill (%" PRIu64
                 "us each); a task's exit is now reckoned at %" PRIu64 "us.",
                 s->id, e->kill_tasks, used, each, enforce_exit_cost_usec(en));
}

static int on_exit_watch(sd_event_source *source, uint64_t usec, void *userdata) {
        struct slice *s = userdata;
        struct slice_enforce *e = &s->account.enforce;
        struct enforce *en = e->enforce;
        int r;

        r = s->handle && s->ops->populated ? s->ops->populated(s->handle) : -ENODEV;
        if (r > 0 && usec < e->kill_usec + EXIT_WATCH_USEC &&
            sd_event_source_set_time_relative(source, EXIT_POLL_USEC) >= 0 &&
            sd_event_source_set_enabled(source, SD_EVENT_ONESHOT) >= 0)
                return 0;
        e->exit_timer = sd_event_source_disable_unref(e->exit_timer);
        if (r != 0)
                return 0; /* still running after the watch, or unreadable: nothing learnt */
        /* Its exits charged now, not at the next meter pass. */
        en->cb->settle(s, en->userdata);
        exit_learn(en, s);
        return 0;
}

/* Killed with tasks running: watched until they are gone. The CPU figure
 * is the last sample's (just after the kill, or a frozen slice's). */
static void exit_watch(struct enforce *en, struct slice *s, uint64_t tasks) {
        struct slice_enforce *e = &s->account.enforce;

        e->exit_timer = sd_event_source_disable_unref(e->exit_timer);
        if (tasks == 0)
                return;
        e->enforce = en;
        e->kill_tasks = tasks;
        e->kill_cpu_usec = s->usage.cpu_usec;
        e->kill_usec = now_usec(CLOCK_MONOTONIC);
        if (sd_event_add_time_relative(en->event, &e->exit_timer, CLOCK_MONOTONIC, EXIT_POLL_USEC, USEC_PER_MSEC,
                                       on_exit_watch, s) < 0)
                log_debug("Slice %s: failed to watch its exits; what they cost is not learnt.", s->id);
}

static int grace_arm(struct enforce *en, struct slice *s, uint64_t usec);

/* The end of a frozen slice's grace: every process killed, the cgroup
 * thawed so that they die. A kill that failed leaves it frozen, and is
 * tried again. */
static int grace_kill(struct enforce *en, struct slice *s, const char *reason) {
        struct slice_enforce *e = &s->account.enforce;
        uint64_t tasks = s->usage.pids_current;
        char d[FORMAT_DURATION_MAX];
        int r;

        r = slice_kill(s);
        if (r < 0) {
                log_warning_errno(r, "Slice %s: failed to kill it at the end of its grace, trying again in %s: %m",
                                  s->id, format_duration(d, sizeof(d), ENFORCE_RETRY_USEC));
                if (grace_arm(en, s, ENFORCE_RETRY_USEC) < 0)
                        log_error("Slice %s: it stays frozen until the next meter pass tries again.", s->id);
                return r;
        }
        (void) slice_freeze(s, false);
        e->state = ENFORCE_KILLED;
        e->kill_reserve = 0;
        stats.actions[STATS_ACTION_KILL]++;
        exit_watch(en, s, tasks);
        emit(en, s, EVENT_KILLED, "kill", "%s", reason);
        save(en, s);
        return 0;
}

static int on_grace(sd_event_source *source, uint64_t usec, void *userdata) {
        struct slice *s = userdata;
        struct slice_enforce *e = &s->account.enforce;

        e->grace_timer = sd_event_source_disable_unref(e->grace_timer);
        if (e->state != ENFORCE_FROZEN || !s->handle)
                return 0;
        (void) grace_kill(e->enforce, s, "grace ended without a top-up: every process killed");
        return 0;
}

static int grace_arm(struct enforce *en, struct slice *s, uint64_t usec) {
        struct slice_enforce *e = &s->account.enforce;
        int r;

        e->grace_timer = sd_event_source_disable_unref(e->grace_timer);
        e->enforce = en;
        r = sd_event_add_time_relative(en->event, &e->grace_timer, CLOCK_MONOTONIC, usec, 0, on_grace, s);
        if (r < 0)
                return log_error_errno(r, "Slice %s: failed to arm its grace timer: %m", s->id);
        return 0;
}

void enforce_grace_check(struct enforce *en, struct slice *s) {
        struct slice_enforce *e = &s->account.enforce;
        uint64_t now, end;

        if (e->state != ENFORCE_FROZEN || e->grace_timer || !s->handle)
                return;
        now = now_usec(CLOCK_REALTIME);
        end = e->frozen_usec + en->config->grace_usec;
        if (grace_arm(en, s, end > now ? end - now : 0) >= 0)
                return;
        log_error("Slice %s: without a grace timer it would stay frozen for good: killing it now.", s->id);
        (void) grace_kill(en, s, "balance spent and its grace could not be timed: every process killed");
}

/* The action at the end of the balance failed: nothing is recorded as
 * done. The state stays, so the next meter pass decides "exhausted" again
 * and tries again; the usage goes on being charged. An event says so the
 * first time, not at every pass: each would be a ledger row. */
static int exhaust_failed(struct enforce *en, struct slice *s, int r) {
        struct slice_enforce *e = &s->account.enforce;
        const char *action = enforce_action_to_string(e->action);

        if (e->action_failing) {
                log_debug_errno(r, "Slice %s: failed to %s it again: %m", s->id, action);
                return r;
        }
        log_error_errno(r, "Slice %s: failed to %s it at the end of its balance: %m; trying again at each meter pass",
                        s->id, action);
        e->action_failing = true;
        en->cb->grants(s, false, en->userdata);
        en->cb->settle(s, en->userdata);
        emit(en, s, EVENT_EXHAUSTED, action, "balance spent; action: %s failed (%s), tried again at each meter pass",
             action, strerror(-r));
        return r;
}

int enforce_exhaust(struct enforce *en, struct slice *s) {
        const struct config *cfg = en->config;
        struct slice_enforce *e = &s->account.enforce;
        uint64_t tasks = s->usage.pids_current;
        char d[FORMAT_DURATION_MAX];
        struct slice_limits l;
        int r;

        if (!s->handle)
                return 0;
        switch (e->action) {
        case ENFORCE_ACTION_KILL:
                r = slice_kill(s);
                if (r < 0)
                        return exhaust_failed(en, s, r);
                e->state = ENFORCE_KILLED;
                break;
        case ENFORCE_ACTION_FREEZE:
                /* Frozen or not, its grace runs: one that could not be
                 * frozen is killed when it ends, as one that was. */
                r = slice_freeze(s, true);
                if (r < 0)
                        log_error_errno(r, "Slice %s: failed to freeze it at the end of its balance, killing it "
                                        "when its grace ends: %m", s->id);
                e->state = ENFORCE_FROZEN;
                e->frozen_usec = now_usec(CLOCK_REALTIME);
                break;
        case ENFORCE_ACTION_THROTTLE:
        default:
                /* A new quota bites only once the CPU time already handed
                 * out for this period is used: freeze around the change,
                 * so that it stops now. */
                (void) slice_freeze(s, true);
                l = limits_with_cpus(s, cfg->throttle_cpus_milli);
                r = slice_set_limits(s, &l);
                (void) slice_freeze(s, false);
                if (r < 0)
                        return exhaust_failed(en, s, r);
                e->state = ENFORCE_THROTTLED;
                break;
        }
        e->action_failing = false;
        en->cb->grants(s, false, en->userdata);

        /* What it used to the last microsecond, overshoot included. */
        en->cb->settle(s, en->userdata);
        if (e->state == ENFORCE_KILLED)
                exit_watch(en, s, tasks);
        else
                e->kill_reserve = 0;

        emit(en, s, EVENT_EXHAUSTED, enforce_action_to_string(e->action), "balance spent; action: %s",
             enforce_action_to_string(e->action));
        /* Counted as done only when done: a freeze that failed is not. */
        if (e->state == ENFORCE_KILLED)
                stats.actions[STATS_ACTION_KILL]++;
        else if (e->state == ENFORCE_FROZEN && r >= 0)
                stats.actions[STATS_ACTION_FREEZE]++;
        else if (e->state == ENFORCE_THROTTLED)
                stats.actions[STATS_ACTION_THROTTLE]++;
        switch (e->state) {
        case ENFORCE_KILLED:
                emit(en, s, EVENT_KILLED, "kill", "balance spent: every process killed");
                break;
        case ENFORCE_FROZEN:
                emit(en, s, EVENT_FROZEN, "freeze", "balance spent: %s; killed in %s unless topped up",
                     r < 0 ? "freezing failed" : "frozen", format_duration(d, sizeof(d), cfg->grace_usec));
                e->grace_timer = sd_event_source_disable_unref(e->grace_timer);
                enforce_grace_check(en, s);
                break;
        default:
                emit(en, s, EVENT_THROTTLED, "throttle",
                     "balance spent: CPU throttled to %" PRIu64 ".%03" PRIu64 " CPUs, network dropped",
                     cfg->throttle_cpus_milli / 1000, cfg->throttle_cpus_milli % 1000);
                break;
        }
        save(en, s);
        return 0;
}

void enforce_restore(struct enforce *en, struct slice *s) {
        struct slice_enforce *e = &s->account.enforce;
        enum enforce_state was = e->state;

        if (was == ENFORCE_OK)
                return;
        if (s->handle) {
                if (was == ENFORCE_FROZEN || e->daemon_frozen)
                        (void) slice_freeze(s, false);
                if (was == ENFORCE_THROTTLED || was == ENFORCE_LOW)
                        (void) slice_set_limits(s, &s->limits);
        }
        e->grace_timer = sd_event_source_disable_unref(e->grace_timer);
        e->state = ENFORCE_OK;
        e->kill_reserve = 0;
        stats.actions[STATS_ACTION_RESTORE]++;
        e->daemon_frozen = false;
        e->frozen_usec = 0;
        en->cb->grants(s, true, en->userdata);
        if (was == ENFORCE_THROTTLED || was == ENFORCE_FROZEN)
                emit(en, s, EVENT_THAWED, was == ENFORCE_FROZEN ? "thaw" : "restore", "topped up: %s",
                     was == ENFORCE_FROZEN ? "thawed, limits restored" : "limits restored");
        save(en, s);
}

void enforce_resume(struct enforce *en, struct slice *s) {
        struct slice_enforce *e = &s->account.enforce;

        /* Frozen for the stop only: thawed, and a slice without money
         * then gets its own policy at once. */
        if (e->daemon_frozen) {
                e->daemon_frozen = false;
                if (e->state != ENFORCE_FROZEN) {
                        (void) slice_freeze(s, false);
                        log_info("Slice %s thawed: it was frozen while prepayd was stopped.", s->id);
                }
                save(en, s);
        }
        enforce_grace_check(en, s);
}

int enforce_daemon_stop(struct enforce *en, struct slice *s) {
        struct slice_enforce *e = &s->account.enforce;
        int r;

        if (!s->handle || e->state == ENFORCE_FROZEN || e->state == ENFORCE_KILLED)
                return 0;
        r = slice_freeze(s, true);
        if (r < 0)
                return r;
        e->daemon_frozen = true;
        save(en, s);
        log_info("Slice %s frozen while prepayd is stopped (OnDaemonStop=freeze).", s->id);
        return 0;
}

void enforce_slice_free(struct slice_enforce *e) {
        e->grace_timer = sd_event_source_disable_unref(e->grace_timer);
        e->exit_timer = sd_event_source_disable_unref(e->exit_timer);
}
