/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "stats.h"
#include "billing.h"
#include "common/chart.h"
#include "common/claim.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/receipt.h"
#include "config.h"
#include "events.h"
#include "fleet.h"
#include "keys.h"
#include "meter.h"
#include "slices.h"
#include "sponsor.h"
#include "verify.h"

_Static_assert(ENFORCER_GRANT_UNLIMITED == METER_GRANT_UNLIMITED, "the enforcer and the meter agree on \"no limit\"");

struct billing {
        const struct config *config;
        sd_event *event;
        struct slices *slices;
        struct meter *meter;
        struct batch *batch;
        struct ledger *ledger;  /* the batch's */
        struct keys *keys;
        struct events *events;
        void (*changed)(void *userdata);  /* after each flush: money held may have changed */
        void *userdata;
        struct slice *dirty;    /* written in the open batch (account.dirty) */
        struct slice *pending;  /* usage priced and not yet written (account.pending > 0) */

        sd_event_source *flush_timer;
        sd_event_source *sponsor_timer; /* the next sponsorship period's start */
        uint64_t last_prune_usec;
        struct enforce enforce;
        struct verify_pool *verify; /* signature checks off the loop */

        /* Claim statements paid on, while they could still be taken
         * (billing_claim()): their signatures' first bytes, and until. */
        struct used_claim {
                uint8_t sig[16];
                uint64_t until_usec;
        } used_claims[BILLING_USED_CLAIMS_MAX];
        size_t n_used_claims;

        struct fleet *fleet;            /* Ledger= a fleet database; NULL: SQLite only */
        struct fleet_attempt *attempts; /* requests whose vouchers are being claimed or credited */
        struct fleet_waiter *waiters;   /* requests waiting for a take-back of their vouchers */
};

/* A request's vouchers on their way through the fleet database: from
 * their intents' write to the request's answer. */
struct fleet_attempt {
        struct billing *billing;
        uint8_t claim[LEDGER_CLAIM_SIZE];
        uint8_t ids[REQUEST_VOUCHERS_MAX][VOUCHER_ID_SIZE];
        size_t n;
        char request_id[REQUEST_ID_MAX + 1];
        /* Whose request ids it is among, in the fleet: "uid N" (a fleet's
         * hosts share their users), "remote" (the storefront's buyers). */
        char requester[24];
        bool has_request_id;
        void (*done)(int r, const char *error, void *userdata);
        void *userdata; /* the request's */
        struct fleet_attempt *next;
};

/* A request offering a voucher whose intent an attempt no request owns
 * left (a claim being taken back: the daemon died, or a request failed,
 * after it): most often the buyer's own retry across a restart. It
 * waits for that take-back and is handled again, rather than being told
 * its voucher is being spent by another request; for
 * BILLING_FLEET_WAIT_USEC at most (a database away holds take-backs). */
#define BILLING_FLEET_WAIT_USEC (10 * USEC_PER_SEC)
struct fleet_waiter {
        struct billing *billing;
        uint8_t claim[LEDGER_CLAIM_SIZE]; /* the take-back's */
        uint8_t id[VOUCHER_ID_SIZE];
        sd_event_source *timer;
        void (*done)(int r, const char *error, void *userdata);
        void *userdata; /* the request's */
        struct fleet_waiter *next;
};

static const char *fmt_money(char buf[static MONEY_FORMAT_MAX], int64_t v) {
        return money_format(buf, MONEY_FORMAT_MAX, v);
}

/* ---- the lists ---- */

/* With 10,000 slices alive, a walk of them all at each commit and each
 * flush cost more than the few slices that had anything to do. */
static void link_add(struct slice **head, struct slice *s, struct account_link *l,
                     struct account_link *(*link_of)(struct slice *s)) {
        if (l->prevp)
                return;
        l->next = *head;
        if (*head)
                link_of(*head)->prevp = &l->next;
        l->prevp = head;
        *head = s;
}

static void link_del(struct account_link *l, struct account_link *(*link_of)(struct slice *s)) {
        if (!l->prevp)
                return;
        *l->prevp = l->next;
        if (l->next)
                link_of(l->next)->prevp = l->prevp;
        *l = (struct account_link) {};
}

static struct account_link *dirty_link(struct slice *s) {
        return &s->account.dirty_link;
}

static struct account_link *pending_link(struct slice *s) {
        return &s->account.pending_link;
}

/* Written in the open batch: reread after its commit. */
static void set_dirty(struct billing *b, struct slice *s) {
        s->account.dirty = true;
        link_add(&b->dirty, s, &s->account.dirty_link, dirty_link);
}

static void set_pending(struct billing *b, struct slice *s, int64_t pending) {
        s->account.pending = pending;
        if (pending > 0)
                link_add(&b->pending, s, &s->account.pending_link, pending_link);
        else
                link_del(&s->account.pending_link, pending_link);
}

/* ---- the batch ---- */

static void account_reload(struct billing *b, struct slice *s) {
        struct ledger_slice l;

        if (ledger_slice_get(b->ledger, s->id, &l) >= 0)
                ledger_slice_figures_of(&l, &s->account.l);
        s->account.dirty = false;
        link_del(&s->account.dirty_link, dirty_link);
}

/* After each commit (batch_set_committed()). After a failed commit the
 * ledger rolled back: slices are reread, and slices whose creation was
 * in the batch are removed again (their voucher was not spent). Each
 * turn takes the first slice off the list (account_reload(), or
 * slice_freed() as it is destroyed). */
static void fleet_resolve(struct billing *b);

/* Vouchers redeemed into the open batch (the metrics' redemptions,
 * counted once it commits: stats_committed()), or a request the ledger
 * refused for a reason of the slice's (redeem_error()); a failure to
 * write is no refusal of the voucher. */
static void redeemed(int q, size_t n) {
        if (q >= 0)
                stats.redemptions_uncommitted += n;
        else if (q == -EALREADY)
                stats.refused[STATS_REFUSED_SPENT]++;
        else if (q == -EOVERFLOW || q == -ESTALE || q == -ENOENT || q == -EUSERS)
                stats.refused[STATS_REFUSED_REDEEM]++;
}

static void on_committed(int r, void *userdata) {
        struct billing *b = userdata;
        struct ledger_slice row;
        struct slice *s;

        /* Committed entries go to the fleet database; after a failed
         * commit the credits of the batch are undone and their intents
         * back: what they claimed is taken back. */
        if (b->fleet && r >= 0)
                fleet_poke(b->fleet);
        else if (b->fleet)
                fleet_resolve(b);

        while ((s = b->dirty)) {
                if (r < 0 && s->account.funded && ledger_slice_get(b->ledger, s->id, &row) == -ENOENT) {
                        log_warning("Slice %s: its funding was not committed, removing it.", s->id);
                        (void) slices_destroy(b->slices, s);
                        continue;
                }
                account_reload(b, s);
        }
}

/* ---- charging ---- */

static void slice_counters(struct slice *s, uint64_t now_rt, uint64_t ret[_RESOURCE_MAX]) {
        const struct slice_usage *u = &s->usage;

        ret[RESOURCE_CPU] = u->cpu_usec;
        ret[RESOURCE_MEMORY] = u->memory_byte_sec;
        ret[RESOURCE_NET_OUT] = u->net_tx_bytes;
        ret[RESOURCE_NET_IN] = u->net_rx_bytes;
        ret[RESOURCE_IO] = u->io_read_bytes + u->io_write_bytes;
        ret[RESOURCE_BASE] = now_rt > s->account.l.created_usec ? now_rt - s->account.l.created_usec : 0;
        /* Counters only grow; one read lower than what was billed (a
         * cgroup file that restarted, a clock set back) charges nothing. */
        for (int r = 0; r < _RESOURCE_MAX; r++)
                ret[r] = MAX(ret[r], s->account.l.billed[r]);
}

/* The host's prices, and for a VM slice its disk's in the base fee. A
 * disk priced past any amount (refused when it was bought, so only after
 * a reload raised DiskGiBHour=) is charged at the highest base fee. */
static void slice_rates(struct billing *b, const struct slice *s, struct rate_card *ret) {
        *ret = b->config->rates;
        if (s->vm && pricing_with_disk(&b->config->rates, b->config->disk_gib_hour, vm_disk_size(s->vm), ret) < 0)
                ret->price[RESOURCE_BASE] = MONEY_AMOUNT_MAX;
}

static int64_t price_due(struct billing *b, const struct slice *s, const uint64_t counters[_RESOURCE_MAX],
                         int64_t due[_RESOURCE_MAX]) {
        struct rate_card rc;

        slice_rates(b, s, &rc);
        return enforcer_price_due(&rc, s->account.l.billed, counters, due);
}

/* Writes the slice's usage up to now into the batch. */
static int charge_slice(struct billing *b, struct slice *s) {
        uint64_t counters[_RESOURCE_MAX];
        int64_t due[_RESOURCE_MAX];
        int r;

        if (!s->account.funded || s->account.l.state == LEDGER_SLICE_RELEASED)
                return 0;

        r = batch_open(b->batch);
        if (r < 0)
                return r;
        slice_counters(s, now_usec(CLOCK_REALTIME), counters);
        (void) price_due(b, s, counters, due);
        r = ledger_charge(b->ledger, s->id, counters, due, now_usec(CLOCK_REALTIME), NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to charge slice %s: %m", s->id);
        account_reload(b, s);
        set_dirty(b, s);
        set_pending(b, s, 0);
        return 0;
}

int64_t billing_held(struct billing *b, size_t *ret_funded) {
        int64_t sum = 0;
        size_t n = 0;

        for (struct slice *s = b->slices->list; s; s = s->next) {
                if (!s->account.funded || s->account.l.state == LEDGER_SLICE_RELEASED)
                        continue;
                n++;
                sum += MAX(s->account.l.balance - MAX(s->account.pending, (int64_t) 0), (int64_t) 0);
        }
        *ret_funded = n;
        return sum;
}

static int on_flush_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        struct billing *b = userdata;
        struct slice *s;

        /* A charge takes the slice off the list; one that cannot be
         * charged now (not funded, released) leaves it until it is priced
         * again; one that fails leaves it and the rest for the next
         * flush: the ledger cannot be written. */
        while ((s = b->pending)) {
                link_del(&s->account.pending_link, pending_link);
                if (s->account.funded && charge_slice(b, s) < 0) {
                        link_add(&b->pending, s, &s->account.pending_link, pending_link);
                        break;
                }
        }
        if (b->changed)
                b->changed(b->userdata);
        /* Counters that moved without costing anything are written with
         * the next charge: they need not wake the disk every second. */
        if (usec - b->last_prune_usec >= 3600 * USEC_PER_SEC) {
                uint64_t now = now_usec(CLOCK_REALTIME);

                b->last_prune_usec = usec;
                if (now > BILLING_EVENT_KEEP_USEC && batch_open(b->batch) >= 0) {
                        (void) ledger_request_prune(b->ledger, now - BILLING_REQUEST_KEEP_USEC);
                        (void) ledger_event_prune(b->ledger, now - BILLING_EVENT_KEEP_USEC);
                }
        }
        (void) sd_event_source_set_time(source, usec + BILLING_FLUSH_USEC);
        return sd_event_source_set_enabled(source, SD_EVENT_ON);
}

/* Prices what the slice used past its billed counters, as of its last
 * sample. */
static int64_t reprice(struct billing *b, struct slice *s) {
        uint64_t counters[_RESOURCE_MAX];
        int64_t due[_RESOURCE_MAX];

        slice_counters(s, now_usec(CLOCK_REALTIME), counters);
        set_pending(b, s, price_due(b, s, counters, due));
        return s->account.pending;
}

static void enforce_slice(struct billing *b, struct slice *s);

void billing_sampled(struct billing *b, struct slice *s) {
        struct slice_account *a = &s->account;
        int64_t spent = a->l.overshoot;

        if (!a->funded || a->l.state != LEDGER_SLICE_ACTIVE)
                return;
        (void) reprice(b, s);
        for (int r = 0; r < _RESOURCE_MAX; r++)
                (void) money_add(spent, a->l.charged[r], &spent);
        (void) money_add(spent, a->pending, &spent);

        enforcer_burn_push(&a->burn, now_usec(CLOCK_MONOTONIC), spent);
        enforce_slice(b, s);
}

static void account_info(struct billing *b, struct slice *s, struct slice_account_info *ret) {
        const struct slice_account *a = &s->account;
        struct slice_account_info i = { .funded = a->funded };

        if (!a->funded) {
                *ret = i;
                return;
        }
        snprintf(i.currency, sizeof(i.currency), "%s", b->config->currency);
        snprintf(i.state, sizeof(i.state), "%s", ledger_slice_state_to_string(a->l.state));
        snprintf(i.enforcement, sizeof(i.enforcement), "%s", strempty(enforce_state_to_string(a->enforce.state)));
        snprintf(i.exhausted_action, sizeof(i.exhausted_action), "%s",
                 strempty(enforce_action_to_string(a->enforce.action)));
        snprintf(i.donation_model, sizeof(i.donation_model), "%s",
                 strempty(donation_model_to_string(a->l.donation_model)));
        if (a->l.donation_model != DONATION_OWNER)
                snprintf(i.anonymous_share, sizeof(i.anonymous_share), "%s", a->l.anonymous_to_host ? "host" : "owner");
        i.balance = a->l.balance - MIN(a->pending, a->l.balance);
        i.credited = a->l.credited;
        i.refunded = a->l.refunded;
        i.overshoot = a->l.overshoot + MAX(a->pending - a->l.balance, (int64_t) 0);
        for (int r = 0; r < _RESOURCE_MAX && r < SLICE_RESOURCES; r++)
                i.charged[r] = a->l.charged[r];
        if (a->l.state == LEDGER_SLICE_ACTIVE)
                i.burn_rate = enforcer_burn_rate(&a->burn);
        i.time_left_usec = enforcer_time_left(i.balance, i.burn_rate);
        i.revenue = a->l.revenue;
        if (a->l.invest_open) {
                i.investors.open = true;
                snprintf(i.investors.terms, sizeof(i.investors.terms), "%s",
                         strempty(invest_terms_to_string(a->l.invest.terms)));
                format_percent(i.investors.rate, sizeof(i.investors.rate), (uint64_t) a->l.invest.rate);
                i.investors.cap = a->l.invest.cap;
                i.investors.invested = a->l.invested;
                i.investors.earned = a->l.earned + a->l.earned_claimed;
                i.investors.claimed = a->l.earned_claimed;
        }
        *ret = i;
}

static void slice_vanished(struct billing *b, struct slice *s) {
        char buf[MONEY_FORMAT_MAX];

        if (!s->account.funded || s->account.l.state == LEDGER_SLICE_RELEASED)
                return;
        (void) charge_slice(b, s);
        if (s->account.l.state == LEDGER_SLICE_ACTIVE && ledger_keep(b->ledger, s->id, now_usec(CLOCK_REALTIME)) < 0)
                return;
        log_warning("Slice %s: %s %s kept for its owner, who may release it for change.", s->id,
                    fmt_money(buf, s->account.l.balance), b->config->currency);
}

int billing_activate(struct billing *b, struct slice *s) {
        int r;

        if (!s->account.funded || s->account.l.state != LEDGER_SLICE_KEPT)
                return 0;
        r = batch_open(b->batch);
        if (r >= 0)
                r = ledger_activate(b->ledger, s->id, now_usec(CLOCK_REALTIME));
        if (r < 0)
                return log_error_errno(r, "Failed to make slice %s active again: %m", s->id);
        account_reload(b, s);
        set_dirty(b, s);
        log_info("Slice %s: its owner runs in it again.", s->id);
        return 0;
}

/* ---- enforcement ---- */

/* Checks never come closer than this, and at least this often. */
#define ENFORCE_MIN_CHECK_USEC (1 * USEC_PER_MSEC)
#define ENFORCE_MAX_CHECK_USEC (60 * USEC_PER_SEC)

static int64_t available(const struct slice *s) {
        return enforcer_available(s->account.l.balance, s->account.pending);
}

static void emitv(struct billing *b, struct slice *s, enum event_kind kind, const char *action, bool repeatable,
                  const char *fmt, va_list ap) _printf_(6, 0);
static void emitv(struct billing *b, struct slice *s, enum event_kind kind, const char *action, bool repeatable,
                  const char *fmt, va_list ap) {
        struct slice_account_info info;
        struct event ev = {
                .time_usec = now_usec(CLOCK_REALTIME),
                .kind = kind,
                .unfunded = !s->account.funded,
                .owner_uid = s->account.funded ? s->account.l.owner_uid : (uint32_t) s->owner_uid,
                .repeatable = repeatable,
        };

        if (!b->events)
                return;
        account_info(b, s, &info);
        ev.balance = info.balance;
        ev.burn_rate = info.burn_rate;
        ev.time_left_usec = info.time_left_usec;
        snprintf(ev.slice, sizeof(ev.slice), "%s", s->id);
        snprintf(ev.action, sizeof(ev.action), "%s", strempty(action));
        vsnprintf(ev.reason, sizeof(ev.reason), fmt, ap);
        if (s->vm) {
                struct slice_vm_info vm;

                vm_info(s->vm, s->frozen, &vm);
                snprintf(ev.vm_image, sizeof(ev.vm_image), "%s", vm.image);
                ev.vm_ssh_port = (uint16_t) vm.ssh_port;
        }
        events_emit(b->events, &ev);
}

void billing_emit(struct billing *b, struct slice *s, enum event_kind kind, const char *action, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        emitv(b, s, kind, action, false, fmt, ap);
        va_end(ap);
}

void billing_emit_repeatable(struct billing *b, struct slice *s, enum event_kind kind, const char *action,
                             const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        emitv(b, s, kind, action, true, fmt, ap);
        va_end(ap);
}

static uint64_t slice_cpus_milli(struct billing *b, const struct slice *s) {
        return enforcer_cpus_of_limits(s->limits.cpu_quota_usec, s->limits.cpu_period_usec,
                                       b->slices->max_cpus_milli);
}

/* The network grants in the kernel: what the balance left pays for.
 * Lowered every meter pass as other usage spends the money, raised only
 * by new money (raise), never while the ledger cannot be written. */
static void update_grants(struct billing *b, struct slice *s, bool raise) {
        const struct rate_card *rc = &b->config->rates;
        struct slice_enforce *e = &s->account.enforce;
        int64_t tx, rx, ktx, krx;

        if (!s->handle)
                return;
        if (e->state == ENFORCE_OK || e->state == ENFORCE_LOW) {
                tx = enforcer_net_budget(available(s), rc->price[RESOURCE_NET_OUT]);
                rx = enforcer_net_budget(available(s), rc->price[RESOURCE_NET_IN]);
        } else
                tx = rx = 0;
        /* No price on traffic: nothing to hand the kernel, no syscall. */
        if (tx == METER_GRANT_UNLIMITED && rx == METER_GRANT_UNLIMITED && e->tx_grant == tx && e->rx_grant == rx)
                return;
        if ((!raise || batch_failing(b->batch)) &&
            meter_get_net_grant(b->meter, s->cgroup_id, &ktx, &krx) >= 0) {
                tx = MIN(tx, ktx);
                rx = MIN(rx, krx);
        }
        if (tx == e->tx_grant && rx == e->rx_grant && !raise)
                return;
        if (meter_set_net_grant(b->meter, s->cgroup_id, tx, rx) >= 0) {
                e->tx_grant = tx;
                e->rx_grant = rx;
        }
}

static int on_check(sd_event_source *source, uint64_t usec, void *userdata) {
        struct slice *s = userdata;
        struct billing *b = s->account.enforce.billing;

        /* The kernel's counters now, for this moment's balance. (They
         * take in a running task's time at the tick, 4 ms at HZ=250:
         * the floor of what a check can see; asking the task's CPU clock
         * was tried and does not fold it into the cgroup's figure.) */
        slices_sample_one(b->slices, s);
        (void) reprice(b, s);
        log_debug("Slice %s: check %" PRIu64 "us late, %" PRIu64 "us of CPU, %" PRIi64 " left.", s->id,
                  now_usec(CLOCK_MONOTONIC) - usec, s->usage.cpu_usec, available(s));
        enforce_slice(b, s);
        return 0;
}

/* How fast the slice can spend (enforcer.h): its size at full use, and
 * with a CPU quota, one period's quota at once on every online CPU. */
static void slice_spend(struct billing *b, const struct slice *s, struct enforce_spend *ret) {
        struct rate_card rc;

        slice_rates(b, s, &rc);
        enforcer_spend(&rc, slice_cpus_milli(b, s), s->limits.cpu_quota_usec,
                       s->limits.memory_max, b->slices->online_cpus_milli, ret);
}

/* What enforce.c needs of the money side (struct enforce_callbacks). */
static void enforce_emit(struct slice *s, enum event_kind kind, const char *action, const char *reason,
                         void *userdata) {
        billing_emit(userdata, s, kind, action, "%s", reason);
}

static void enforce_settle(struct slice *s, void *userdata) {
        struct billing *b = userdata;

        slices_sample_one(b->slices, s);
        (void) charge_slice(b, s);
}

static void enforce_grants(struct slice *s, bool raise, void *userdata) {
        update_grants(userdata, s, raise);
}

static void enforce_save(struct slice *s, void *userdata) {
        struct billing *b = userdata;

        (void) slices_save(b->slices, s);
}

static const struct enforce_callbacks enforce_callbacks = {
        .emit = enforce_emit,
        .settle = enforce_settle,
        .grants = enforce_grants,
        .save = enforce_save,
};

/* Decides and acts, then arms the check for the soonest moment the rest
 * of the balance could be spent. */
static void enforce_slice(struct billing *b, struct slice *s) {
        const struct config *cfg = b->config;
        struct slice_enforce *e = &s->account.enforce;
        struct slice_account_info info;
        struct enforce_spend spend;
        struct enforce_view v;
        struct rate_card rc;
        uint64_t next, wait;

        e->billing = b;
        if (!s->account.funded || s->account.l.state != LEDGER_SLICE_ACTIVE || !s->handle) {
                if (e->check_timer)
                        (void) sd_event_source_set_enabled(e->check_timer, SD_EVENT_OFF);
                return;
        }

        account_info(b, s, &info);
        slice_rates(b, s, &rc);
        v = (struct enforce_view) {
                .state = e->state,
                .balance = available(s),
                .reserve = enforce_kill_reserve(&b->enforce, s, &rc),
                .burn_rate = info.burn_rate,
                .low_balance_usec = cfg->low_balance_usec,
        };
        /* Money again: a failed action is no longer due. */
        if (v.balance > 0)
                e->action_failing = false;
        switch (enforcer_decide(&v)) {
        case ENFORCE_STEP_LOW:
                (void) enforce_low(&b->enforce, s);
                break;
        case ENFORCE_STEP_EXHAUST:
                (void) enforce_exhaust(&b->enforce, s);
                break;
        case ENFORCE_STEP_RESTORE:
                enforce_restore(&b->enforce, s);
                break;
        default:
                break;
        }
        if (e->state == ENFORCE_FROZEN)
                enforce_grace_check(&b->enforce, s);

        /* A failed action is tried again at the next meter pass, not at
         * every check (they come a millisecond apart when nothing is
         * left). */
        if ((e->state != ENFORCE_OK && e->state != ENFORCE_LOW) || e->action_failing) {
                if (e->check_timer)
                        (void) sd_event_source_set_enabled(e->check_timer, SD_EVENT_OFF);
                return;
        }
        update_grants(b, s, false);

        slice_spend(b, s, &spend);
        /* The balance runs out for it once what is left holds no more
         * than its kill's reserve (enforce_kill_reserve()). */
        wait = enforcer_next_check(enforcer_available(available(s), v.reserve), &spend, ENFORCE_MIN_CHECK_USEC,
                                   ENFORCE_MAX_CHECK_USEC);
        /* A slice standing still is read seldom (MeterIdleInterval=): its
         * low-balance warning, as its end, must not wait for that. */
        if (e->state == ENFORCE_OK)
                wait = MIN(wait, enforcer_next_low_check(available(s), &spend, cfg->low_balance_usec,
                                                         ENFORCE_MIN_CHECK_USEC, ENFORCE_MAX_CHECK_USEC));
        next = now_usec(CLOCK_MONOTONIC) + wait;
        if (!e->check_timer) {
                if (sd_event_add_time(b->event, &e->check_timer, CLOCK_MONOTONIC, next, 1, on_check, s) < 0)
                        log_warning("Slice %s: failed to arm its balance check, relying on the meter pass.", s->id);
                return;
        }
        (void) sd_event_source_set_time(e->check_timer, next);
        (void) sd_event_source_set_enabled(e->check_timer, SD_EVENT_ONESHOT);
}

static void slice_freed(struct billing *b, struct slice *s) {
        struct slice_enforce *e = &s->account.enforce;

        e->check_timer = sd_event_source_disable_unref(e->check_timer);
        enforce_slice_free(e);
}

void billing_daemon_stop(struct billing *b) {
        if (!streq(b->config->on_daemon_stop, "freeze"))
                return;
        for (struct slice *s = b->slices->list; s; s = s->next)
                if (s->account.funded)
                        (void) enforce_daemon_stop(&b->enforce, s);
}

/* ---- who asks ---- */

/* The op as it may go into a log line: it is the client's text. */
static const char *printable_op(const char *op) {
        if (!op || !op[0] || strlen(op) > 32 || strspn(op, "abcdefghijklmnopqrstuvwxyz-") != strlen(op))
                return "?";
        return op;
}

const char *billing_requester(const struct billing_request *r, char buf[static BILLING_REQUESTER_MAX]) {
        /* The address was checked (request_client_is_valid()): it cannot
         * forge a log line. */
        if (r->remote)
                snprintf(buf, BILLING_REQUESTER_MAX, "remote client %s", r->client ?: "(address not given)");
        else
                snprintf(buf, BILLING_REQUESTER_MAX, "uid %u", (unsigned) r->uid);
        return buf;
}

/* The journal fields every line about a request carries. */
struct request_fields {
        char op[48], uid[32], pid[32], slice[48], request[96], client[96];
};

static void request_fields(const struct billing_request *r, const char *slice, struct request_fields *ret) {
        *ret = (struct request_fields) {};
        snprintf(ret->op, sizeof(ret->op), "OP=%s", printable_op(r->op));
        snprintf(ret->uid, sizeof(ret->uid), "PEER_UID=%u", (unsigned) r->uid);
        snprintf(ret->pid, sizeof(ret->pid), "PEER_PID=%d", (int) r->pid);
        if (slice)
                snprintf(ret->slice, sizeof(ret->slice), "SLICE=%s", slice);
        if (r->request_id)
                snprintf(ret->request, sizeof(ret->request), "REQUEST_ID=%s", r->request_id);
        if (r->remote)
                snprintf(ret->client, sizeof(ret->client), "REMOTE_CLIENT=%s", r->client ?: "");
}

/* A refusal's sentence for the client, -errno returned: the error
 * convention of the request path. */
static int refuse(char **ret_error, int r, const char *fmt, ...) _printf_(3, 4);
static int refuse(char **ret_error, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return r;
}

/* err: -EPERM (forbidden), or -ENOKEY (the owner token is missing). */
static int denyv(const struct billing_request *r, const char *slice, int err, char **ret_error, const char *fmt,
                 va_list ap) _printf_(5, 0);
static int denyv(const struct billing_request *r, const char *slice, int err, char **ret_error, const char *fmt,
                 va_list ap) {
        struct request_fields f;
        const char *fields[] = { f.op, f.uid, f.pid, f.slice, f.request, f.client, NULL };
        char reason[512], who[BILLING_REQUESTER_MAX];

        vsnprintf(reason, sizeof(reason), fmt, ap);
        request_fields(r, slice, &f);
        if (r->remote)
                log_fields(LOG_NOTICE, fields, "Denied \"%s\" to %s: %s.", printable_op(r->op),
                           billing_requester(r, who), reason);
        else
                log_fields(LOG_NOTICE, fields, "Denied \"%s\" to uid %u (pid %d): %s.", printable_op(r->op),
                           (unsigned) r->uid, (int) r->pid, reason);
        return refuse(ret_error, err, "Permission denied: %s", reason);
}

int billing_refuse_permission(const struct billing_request *r, const char *slice, char **ret_error, const char *fmt,
                              ...) {
        va_list ap;
        int q;

        va_start(ap, fmt);
        q = denyv(r, slice, -EPERM, ret_error, fmt, ap);
        va_end(ap);
        return q;
}

json_object *billing_deny(const struct billing_request *r, const char *slice, const char *fmt, ...) {
        _cleanup_(freep) char *error = NULL;
        va_list ap;

        va_start(ap, fmt);
        (void) denyv(r, slice, -EPERM, &error, fmt, ap);
        va_end(ap);
        return message_reply_refusal(MESSAGE_FORBIDDEN, "%s", error ?: "Permission denied");
}

static int deny(const struct billing_request *r, const char *slice, int err, char **ret_error, const char *fmt, ...)
        _printf_(5, 6);
static int deny(const struct billing_request *r, const char *slice, int err, char **ret_error, const char *fmt, ...) {
        va_list ap;
        int q;

        va_start(ap, fmt);
        q = denyv(r, slice, err, ret_error, fmt, ap);
        va_end(ap);
        return q;
}

int billing_refuse_token(const struct billing_request *r, const char *slice, const char *token, char **ret_error,
                         const char *what) {
        /* Without a token it is not -EPERM: asked with it, it would be
         * let in (the gateway answers 401, not 403). */
        if (!token)
                return deny(r, slice, -ENOKEY, ret_error, "%s needs its owner token (none was given)", what);
        return deny(r, slice, -EPERM, ret_error, "%s needs its owner token (the one given is wrong)", what);
}

json_object *billing_deny_token(const struct billing_request *r, const char *slice, const char *token,
                                const char *what) {
        _cleanup_(freep) char *error = NULL;
        int q;

        q = billing_refuse_token(r, slice, token, &error, what);
        return message_reply_refusal(message_code_from_errno(q), "%s", error ?: "Permission denied");
}

bool billing_may_act(struct slice *s, const struct billing_request *r, const char *token, json_object **ret_reply) {
        char what[64];

        if (r->operator)
                return true;
        if (s->account.funded) {
                if (keys_check_token(s->account.l.owner_hash, token))
                        return true;
                snprintf(what, sizeof(what), "slice %s", s->id);
                *ret_reply = billing_deny_token(r, s->id, token, what);
                return false;
        }
        /* A remote buyer made no unfunded slice: its uid is the
         * gateway's, which names nobody's slices. */
        if (!r->remote && r->uid == s->owner_uid)
                return true;
        /* Who owns it is no remote buyer's business. */
        if (r->remote)
                *ret_reply = billing_deny(r, s->id, "slice %s is unfunded: only its owner on the host may act on it",
                                          s->id);
        else
                *ret_reply = billing_deny(r, s->id, "slice %s belongs to uid %u", s->id, (unsigned) s->owner_uid);
        return false;
}

/* prefix and a local peer's uid, for a line log_money_at() writes: a
 * remote peer's it names itself. */
static const char *local_uid(const struct billing_request *r, const char *prefix, char buf[static 48]) {
        if (r->remote)
                return "";
        snprintf(buf, 48, "%s%u", prefix, (unsigned) r->uid);
        return buf;
}

/* A money request done, logged with journal fields for audits: at info,
 * or at notice for an operator's action on another's money. A remote
 * peer's line ends with who it was ("(remote client ADDRESS)"). */
#define log_money(...) log_money_at(LOG_INFO, __VA_ARGS__)
static void log_money_at(int level, struct billing *b, const struct billing_request *r, const char *slice,
                         int64_t balance, const char *voucher, const char *fmt, ...) _printf_(7, 8);
static void log_money_at(int level, struct billing *b, const struct billing_request *r, const char *slice,
                         int64_t balance, const char *voucher, const char *fmt, ...) {
        char message[512], money[MONEY_FORMAT_MAX], f_balance[64], f_currency[32], f_voucher[64] = "";
        struct request_fields f;
        const char *fields[] = { f.op, f.uid, f.slice, f.request, f.client, f_balance, f_currency, f_voucher, NULL };
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(message, sizeof(message), fmt, ap);
        va_end(ap);
        if (r->remote) {
                char who[BILLING_REQUESTER_MAX];
                size_t n = strlen(message);

                if (n > 0 && message[n - 1] == '.')
                        message[--n] = '\0';
                snprintf(message + n, sizeof(message) - n, " (%s).", billing_requester(r, who));
        }
        request_fields(r, slice, &f);
        snprintf(f_balance, sizeof(f_balance), "BALANCE=%s", fmt_money(money, balance));
        snprintf(f_currency, sizeof(f_currency), "CURRENCY=%s", b->config->currency);
        if (voucher)
                snprintf(f_voucher, sizeof(f_voucher), "VOUCHER=%s", voucher);
        log_fields(level, fields, "%s", message);
}

/* ---- request ids ---- */

json_object *billing_replay(struct billing *b, struct billing_request *r, const char *op) {
        _cleanup_(freep) char *stored = NULL;
        const char *request_id = r->fields->request_id;
        json_object *reply = NULL, *v;
        const char *err = NULL, *stored_op = NULL;
        int q;

        if (!request_id)
                return NULL;
        if (!ledger_request_id_is_valid(request_id))
                return message_reply_refusal(MESSAGE_INVALID, "Invalid request id: 1 to 64 of A-Z a-z 0-9 . _ : - "
                                             "expected");
        q = ledger_request_get(b->ledger, (uint32_t) r->uid, request_id, &stored);
        if (q == -ENOENT)
                return NULL;
        if (q < 0)
                return message_reply_refusal(MESSAGE_UNAVAILABLE, "Failed to read the ledger: %s", strerror(-q));
        if (message_parse(stored, strlen(stored), &reply, &err) < 0)
                return message_reply_refusal(MESSAGE_INTERNAL, "Stored reply to request %s is unreadable: %s",
                                             request_id, strna(err));
        if (message_get_string(reply, "op", &stored_op) >= 0 && !streq(stored_op, op)) {
                json_object *e = message_reply_refusal(MESSAGE_CONFLICT, "Request id %s was used before for \"%s\"",
                                                       request_id, stored_op);
                json_object_put(reply);
                return e;
        }
        json_object_object_del(reply, "op");
        log_debug("Request %s of %s answered again from the ledger.", request_id,
                  billing_requester(r, (char[BILLING_REQUESTER_MAX]) {}));

        if (streq(op, "create") && json_object_object_get_ex(reply, "slice", &v) &&
            json_object_object_get_ex(v, "id", &v)) {
                char token[OWNER_TOKEN_MAX];

                keys_make_token(b->keys, json_object_get_string(v), token);
                json_object_object_add(reply, "token", json_object_new_string(token));
                /* The slice may be spent, killed, kept or released by now:
                 * the caller is let in only as any new work would be
                 * (requests.c, admit_replayed_create()). */
                if (r->fields->attach) {
                        snprintf(r->attach, sizeof(r->attach), "%s", json_object_get_string(v));
                        r->replayed = true;
                }
        }
        /* Answered after the batch it may belong to is committed. */
        (void) batch_open(b->batch);
        return reply;
}

void billing_remember(struct billing *b, const struct billing_request *r, const char *op, json_object *reply) {
        const char *text, *request_id = r->fields->request_id;
        json_object *token = NULL;
        int q;

        if (!request_id)
                return;
        /* The reply itself, with "op" and without the token while it is
         * written out, not a deep copy of it: a copy of a slice's whole
         * reply per redemption was a good part of the loop's time. The
         * token is added back last, which moves it in the reply's order
         * only. */
        if (json_object_object_get_ex(reply, "token", &token)) {
                json_object_get(token);
                json_object_object_del(reply, "token");
        }
        json_object_object_add(reply, "op", json_object_new_string(op));
        text = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN);
        q = ledger_request_put(b->ledger, (uint32_t) r->uid, request_id, op, text, now_usec(CLOCK_REALTIME));
        if (q < 0)
                log_warning_errno(q, "Failed to record request %s, a retry would be refused: %m", request_id);
        json_object_object_del(reply, "op");
        if (token)
                json_object_object_add(reply, "token", token);
}

void billing_add_receipt(struct billing *b, const struct billing_request *r, struct receipt *rc, json_object *reply) {
        char text[RECEIPT_TEXT_MAX];
        int q;

        snprintf(rc->request_id, sizeof(rc->request_id), "%s", strempty(r->fields->request_id));
        q = keys_make_receipt(b->keys, rc, text);
        if (q < 0) {
                log_error_errno(q, "Slice %s: failed to sign the receipt of its %s, replying without one: %m",
                                rc->slice, strna(receipt_kind_to_string(rc->kind)));
                return;
        }
        json_object_object_add(reply, "receipt", json_object_new_string(text));
}

/* ---- vouchers ---- */

int billing_read_voucher(struct billing *b, const char *text, const struct verify_checked *checked, struct voucher *ret,
                         char **ret_error) {
        _cleanup_(freep) char *error = NULL;
        char id[VOUCHER_ID_STRING_MAX], when[64];
        struct ledger_spent spent;
        const char *err = NULL, *why = NULL;
        struct voucher v;
        struct tm tm;
        time_t t;
        int r;

        /* A voucher that is not good is a bad value ("invalid"), whatever
         * voucher.c's errno says: its -ENOKEY (no such issuer) or -EACCES
         * (another host's) are not about the peer's rights. */
        r = voucher_from_text(text, &v, &err);
        if (r < 0 && r != -ENOMEM)
                stats.refused[STATS_REFUSED_MALFORMED]++;
        if (r < 0)
                return refuse(ret_error, r == -ENOMEM ? r : -EINVAL, "Invalid voucher: %s", strna(err));
        /* Checked on a worker against the keys trusted now, or here. */
        if (verify_checked_find(checked, b->keys, &v, &r, &why) <= 0) {
                r = keys_verify_voucher(b->keys, &v, &error);
                why = error;
        }
        if (r < 0 && r != -ENOMEM)
                stats.refused[STATS_REFUSED_INVALID]++;
        /* Change of a host of the fleet that joined since the keys were
         * read: read them again, and the buyer's retry finds it. */
        if (r == -ENOKEY && b->fleet && streq(v.audience, keys_change_audience(b->keys)))
                fleet_refresh_keys(b->fleet);
        if (r < 0)
                return refuse(ret_error, r == -ENOMEM ? r : -EINVAL, "%s (voucher %s); it was not spent",
                              why ?: strerror(-r), voucher_id_to_string(v.id, id));
        r = ledger_voucher_spent(b->ledger, v.id, &spent);
        if (r >= 0) {
                stats.refused[STATS_REFUSED_SPENT]++;
                t = (time_t) (spent.time_usec / USEC_PER_SEC);
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
                /* In a fleet, said as the fleet database says it of
                 * another host's. */
                if (b->fleet)
                        return refuse(ret_error, -EALREADY, "Voucher %s was already spent on host %s at %s (into "
                                      "slice %s)", voucher_id_to_string(v.id, id), keys_host_id(b->keys), when,
                                      spent.slice);
                return refuse(ret_error, -EALREADY, "Voucher %s was already spent at %s (into slice %s)",
                              voucher_id_to_string(v.id, id), when, spent.slice);
        }
        if (r != -ENOENT)
                return refuse(ret_error, r, "Failed to read the ledger: %s", strerror(-r));
        *ret = v;
        return 0;
}

int billing_read_vouchers(struct billing *b, const struct request *f, const struct verify_checked *checked,
                          struct voucher ret[static REQUEST_VOUCHERS_MAX],
                          int64_t *ret_amount, char **ret_error) {
        char id[VOUCHER_ID_STRING_MAX];
        int64_t amount = 0;
        int r;

        if (f->n_vouchers < 1 || f->n_vouchers > REQUEST_VOUCHERS_MAX)
                return refuse(ret_error, -EINVAL, "A voucher is needed");
        for (size_t i = 0; i < f->n_vouchers; i++) {
                r = billing_read_voucher(b, f->vouchers[i], checked, &ret[i], ret_error);
                if (r < 0)
                        return r;
                /* A voucher spends once: twice in one request it would
                 * be credited twice before the ledger saw the first. */
                for (size_t j = 0; j < i; j++)
                        if (memcmp(ret[j].id, ret[i].id, VOUCHER_ID_SIZE) == 0) {
                                stats.refused[STATS_REFUSED_DUPLICATE]++;
                                return refuse(ret_error, -EINVAL, "Voucher %s is given twice; none was spent",
                                              voucher_id_to_string(ret[i].id, id));
                        }
                /* The issuer's checks held each to this host's currency;
                 * said again here, where the sum is made. */
                if (!streq(ret[i].currency, ret[0].currency))
                        return refuse(ret_error, -EINVAL, "The vouchers are in %s and %s: one currency only; none "
                                      "was spent", ret[0].currency, ret[i].currency);
                if (!money_add(amount, ret[i].amount, &amount))
                        return refuse(ret_error, -EOVERFLOW, "The vouchers add up to more than any balance may "
                                      "hold; none was spent");
        }
        *ret_amount = amount;
        return 0;
}

int billing_check_vouchers(struct billing *b, const struct request *f,
                           void (*done)(struct verify_checked *c, void *userdata), void *userdata,
                           char **ret_error) {
        struct voucher v[REQUEST_VOUCHERS_MAX];
        const char *err = NULL;
        int r;

        if (!b->verify || f->n_vouchers < 1 || f->n_vouchers > REQUEST_VOUCHERS_MAX)
                return 0;
        for (size_t i = 0; i < f->n_vouchers; i++)
                if (voucher_from_text(f->vouchers[i], &v[i], &err) < 0)
                        return 0; /* refused where it is read, with the usual sentence */
        r = verify_submit(b->verify, keys_issuers_ref(b->keys), v, f->n_vouchers, done, userdata);
        if (r == -EBUSY)
                return refuse(ret_error, -EAGAIN, "The daemon is checking %d requests' vouchers already, the most "
                              "at once; try again; %s", VERIFY_JOBS_MAX,
                              f->n_vouchers > 1 ? "none of the vouchers was spent" : "the voucher was not spent");
        if (r < 0)
                return refuse(ret_error, r, "Failed to check the vouchers: %s; %s", strerror(-r),
                              f->n_vouchers > 1 ? "none of the vouchers was spent" : "the voucher was not spent");
        return 1;
}

void billing_cancel_checks(struct billing *b, void *userdata) {
        if (b)
                verify_cancel(b->verify, userdata);
}

_Static_assert(LEDGER_BALANCE_MAX == INT64_C(16000000000000000), "redeem_error() names LEDGER_BALANCE_MAX");
_Static_assert(LEDGER_FUNDERS_MAX == 32, "redeem_error() names LEDGER_FUNDERS_MAX");

static const char *redeem_error(int r) {
        switch (r) {
        case -EALREADY:
                return "the voucher was already spent";
        case -EOVERFLOW:
                return "the slice's balance would pass 16000000000.00, the most its change (16 vouchers) can "
                       "pay back";
        case -ESTALE:
                return "the slice was released";
        case -ENOENT:
                return "no such slice";
        case -EUSERS:
                return "the slice has 32 keyed funders already, the most its "
                       "release pays shares to; fund it anonymously or with a key that funded it before";
        case -ENOSPC:
                return "the ledger's disk is full";
        default:
                return strerror(-r);
        }
}

/* One line per voucher of several redeemed together, each with its id
 * (the summary line has room for none of them). */
static void log_vouchers(struct billing *b, const struct billing_request *r, const char *slice,
                         const struct voucher *v, size_t n) {
        char vid[VOUCHER_ID_STRING_MAX], have[MONEY_FORMAT_MAX];

        for (size_t i = 0; i < n; i++) {
                voucher_id_to_string(v[i].id, vid);
                log_money(b, r, slice, 0, vid, "Slice %s: voucher %s (%zu of %zu) redeemed: %s %s.", slice, vid,
                          i + 1, n, fmt_money(have, v[i].amount), v[i].currency);
        }
}

/* ---- a fleet ---- */

/* Why a redemption is two commits here and one transaction there, in
 * this order, and pays neither twice nor never (daemon/README.md
 * "Fleet"):
 *   1. the intents (voucher, attempt) are committed in the host's ledger;
 *   2. one transaction of the fleet database inserts each voucher into
 *      the spent set under this host and attempt (its primary key makes
 *      a second insert, on any host, find the first: "already spent");
 *   3. the credit and the deletion of the intents are committed here in
 *      one batch, and only then is the buyer answered.
 * A credit here (3) always follows a claim there (2): no voucher is
 * credited on two hosts. A claim there with no credit here leaves its
 * intents (the batch of 3 never committed, or the request failed or
 * went): those are taken back there (the spent row of this host and
 * attempt deleted, never one whose redeem entry was shipped), at once,
 * after a failed commit and at every start, and the intents deleted
 * after: the voucher may be spent again, so no money is lost. An
 * intent is deleted only with its credit (3) or after its take-back, so
 * one is always left while the spent set may hold a claim not credited. */

bool billing_fleet(struct billing *b) {
        return b && b->fleet;
}

static struct fleet_attempt *attempt_find(struct billing *b, const uint8_t claim[LEDGER_CLAIM_SIZE]) {
        for (struct fleet_attempt *a = b->attempts; a; a = a->next)
                if (memcmp(a->claim, claim, LEDGER_CLAIM_SIZE) == 0)
                        return a;
        return NULL;
}

static void attempt_free(struct billing *b, struct fleet_attempt *a) {
        for (struct fleet_attempt **p = &b->attempts; *p; p = &(*p)->next)
                if (*p == a) {
                        *p = a->next;
                        break;
                }
        batch_cancel(b->batch, a);
        fleet_cancel(b->fleet, a);
        free(a);
}

static void intents_delete(struct billing *b, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                           const uint8_t claim[LEDGER_CLAIM_SIZE]) {
        int q;

        q = batch_open(b->batch);
        for (size_t i = 0; q >= 0 && i < n; i++)
                q = ledger_intent_del(b->ledger, ids[i], claim);
        if (q < 0)
                log_warning_errno(q, "Failed to delete the intents of a fleet claim, ignoring: %m. They are "
                                  "taken back again at the next start.");
}

/* The fleet's change-signing keys as the fleet database has them now:
 * change from those hosts is taken here (keys.h). */
static void on_fleet_keys(const char *keys, void *userdata) {
        struct billing *b = userdata;

        (void) keys_set_fleet_keys(b->keys, keys);
}

static void waiter_free(struct billing *b, struct fleet_waiter *w) {
        for (struct fleet_waiter **p = &b->waiters; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        sd_event_source_disable_unref(w->timer);
        free(w);
}

static int on_waiter_timeout(sd_event_source *source _unused_, uint64_t usec _unused_, void *userdata) {
        struct fleet_waiter *w = userdata;
        void (*done)(int r, const char *error, void *userdata) = w->done;
        void *ud = w->userdata;
        char vid[VOUCHER_ID_STRING_MAX], *error = NULL;

        if (asprintf(&error, "Voucher %s is being taken back from the fleet database after an earlier attempt, "
                     "which takes longer than it should; try again; the voucher was not spent",
                     voucher_id_to_string(w->id, vid)) < 0)
                error = NULL;
        waiter_free(w->billing, w);
        done(-EBUSY, error, ud);
        free(error);
        return 0;
}

/* Parks the request of done/userdata until claim's take-back. */
static int waiter_add(struct billing *b, const uint8_t claim[LEDGER_CLAIM_SIZE], const uint8_t id[VOUCHER_ID_SIZE],
                      void (*done)(int r, const char *error, void *userdata), void *userdata) {
        struct fleet_waiter *w;
        int q;

        w = calloc(1, sizeof(*w));
        if (!w)
                return -ENOMEM;
        *w = (struct fleet_waiter) { .billing = b, .done = done, .userdata = userdata };
        memcpy(w->claim, claim, LEDGER_CLAIM_SIZE);
        memcpy(w->id, id, VOUCHER_ID_SIZE);
        q = sd_event_add_time_relative(b->event, &w->timer, CLOCK_MONOTONIC, BILLING_FLEET_WAIT_USEC, 0,
                                       on_waiter_timeout, w);
        if (q < 0) {
                free(w);
                return q;
        }
        w->next = b->waiters;
        b->waiters = w;
        return 0;
}

/* The fleet's thread took a claim back: its intents go, and the
 * requests that waited for them are handled again (done(1)). */
static void on_unclaimed(int r, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                         const uint8_t claim[LEDGER_CLAIM_SIZE], void *userdata) {
        struct billing *b = userdata;
        struct fleet_waiter *woken = NULL, **p = &b->waiters, *w;

        if (r < 0)
                return;
        intents_delete(b, ids, n, claim);
        /* Taken off the list first: a request handled again may park
         * itself anew (on another voucher, or on this one should the
         * deletion have failed), and waits then for the next take-back. */
        while ((w = *p))
                if (memcmp(w->claim, claim, LEDGER_CLAIM_SIZE) == 0) {
                        *p = w->next;
                        w->next = woken;
                        woken = w;
                } else
                        p = &w->next;
        while ((w = woken)) {
                void (*done)(int r, const char *error, void *userdata) = w->done;
                void *ud = w->userdata;

                woken = w->next;
                sd_event_source_disable_unref(w->timer);
                free(w);
                done(1, NULL, ud);
        }
}

struct resolve {
        struct billing *billing;
        uint8_t claim[LEDGER_CLAIM_SIZE];
        uint8_t ids[REQUEST_VOUCHERS_MAX][VOUCHER_ID_SIZE];
        size_t n;
        unsigned queued;
};

static void resolve_flush(struct resolve *rs) {
        if (rs->n == 0)
                return;
        if (fleet_unclaim(rs->billing->fleet, (const uint8_t(*)[VOUCHER_ID_SIZE]) rs->ids, rs->n, rs->claim) >= 0)
                rs->queued++;
        rs->n = 0;
}

static int resolve_one(const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE], void *userdata) {
        struct resolve *rs = userdata;

        /* A request still on its way owns its intents. */
        if (attempt_find(rs->billing, claim))
                return 0;
        if (rs->n > 0 && (memcmp(rs->claim, claim, LEDGER_CLAIM_SIZE) != 0 || rs->n == REQUEST_VOUCHERS_MAX))
                resolve_flush(rs);
        memcpy(rs->claim, claim, LEDGER_CLAIM_SIZE);
        memcpy(rs->ids[rs->n++], id, VOUCHER_ID_SIZE);
        return 0;
}

/* Every intent no request owns: a claim that may stand in the fleet
 * database with no credit here, taken back. */
static void fleet_resolve(struct billing *b) {
        struct resolve rs = { .billing = b };
        int q;

        q = ledger_intents_foreach(b->ledger, resolve_one, &rs);
        resolve_flush(&rs);
        if (q < 0)
                log_warning_errno(q, "Failed to read the fleet intents, ignoring: %m. They are read again at "
                                  "the next start.");
        if (rs.queued > 0)
                log_info("Taking back %u fleet claim%s that no credit followed.", rs.queued,
                         rs.queued == 1 ? "" : "s");
}

static void on_claimed(const struct fleet_claimed *c, void *userdata) {
        struct fleet_attempt *a = userdata;
        struct billing *b = a->billing;
        char vid[VOUCHER_ID_STRING_MAX], when[64], *error = NULL;
        void (*done)(int r, const char *error, void *userdata) = a->done;
        void *ud = a->userdata;
        struct tm tm;
        time_t t;
        int r = c->r;

        if (r == 0) {
                /* Claimed: the request credits the vouchers next, or
                 * billing_fleet_finish() takes them back. */
                a->done = NULL;
                done(0, NULL, ud);
                return;
        }
        if (r == -EALREADY || r == -EEXIST) {
                t = (time_t) (c->spent.time_usec / USEC_PER_SEC);
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
                /* Its answer is on that host, which replays it: the
                 * fleet does not copy answers (daemon/README.md). */
                if (r == -EEXIST && asprintf(&error, "Request id %s was taken on host %s at %s: send the request "
                                             "there again for its answer, or use a new request id; %s",
                                             a->request_id, c->spent.host, when,
                                             a->n > 1 ? "none of the vouchers was spent"
                                                      : "the voucher was not spent") < 0)
                        error = NULL;
                if (r == -EALREADY && asprintf(&error, "Voucher %s was already spent on host %s at %s%s",
                                               voucher_id_to_string(a->ids[MIN(c->failed, a->n - 1)], vid),
                                               c->spent.host, when,
                                               a->n > 1 ? "; none of the vouchers was spent" : "") < 0)
                        error = NULL;
                /* The transaction kept nothing of this claim: nothing
                 * to take back. */
                intents_delete(b, (const uint8_t(*)[VOUCHER_ID_SIZE]) a->ids, a->n, a->claim);
        } else {
                if (asprintf(&error, "The fleet database cannot be written (%s); %s", c->error,
                             a->n > 1 ? "none of the vouchers was spent" : "the voucher was not spent") < 0)
                        error = NULL;
                /* It may have committed before the answer was lost. */
                (void) fleet_unclaim(b->fleet, (const uint8_t(*)[VOUCHER_ID_SIZE]) a->ids, a->n, a->claim);
                r = -ESHUTDOWN;
        }
        attempt_free(b, a);
        done(r, error, ud);
        free(error);
}

/* The intents are committed: the claim goes to the fleet's thread. */
static void on_intents_committed(int r, void *userdata) {
        struct fleet_attempt *a = userdata;
        struct billing *b = a->billing;
        void (*done)(int r, const char *error, void *userdata) = a->done;
        void *ud = a->userdata;

        if (r >= 0)
                r = fleet_claim(b->fleet, (const uint8_t(*)[VOUCHER_ID_SIZE]) a->ids, a->n, a->claim,
                                a->requester, a->has_request_id ? a->request_id : NULL, on_claimed, a);
        if (r >= 0)
                return;
        /* Not committed (rolled back with the batch), or committed and
         * the claim not queued: the intents are taken back. */
        attempt_free(b, a);
        if (r != -ENOMEM)
                fleet_resolve(b);
        done(r, "The ledger cannot be written: the voucher was not spent", ud);
}

int billing_fleet_claim(struct billing *b, const struct billing_request *r, const struct voucher *v, size_t n,
                        void (*done)(int r, const char *error, void *userdata), void *userdata,
                        uint8_t ret_claim[LEDGER_CLAIM_SIZE], char **ret_error) {
        const char *none = n > 1 ? "none of the vouchers was spent" : "the voucher was not spent";
        char vid[VOUCHER_ID_STRING_MAX], why[256];
        struct fleet_attempt *a;
        uint64_t unshipped;
        size_t i;
        int q;

        if (!b->fleet)
                return 0;
        if (n < 1 || n > REQUEST_VOUCHERS_MAX)
                return -EINVAL;
        /* Fail closed, and at once: a database that is away takes no
         * claim, and a host that cannot ship what it wrote takes no new
         * money until the database holds it. */
        if (!fleet_connected(b->fleet)) {
                fleet_last_error(b->fleet, why, sizeof(why));
                return refuse(ret_error, -ESHUTDOWN, "The fleet database cannot be reached (%s): this host takes "
                              "no new money meanwhile; %s", why, none);
        }
        unshipped = fleet_unshipped(b->fleet);
        if (unshipped > b->config->max_unshipped)
                return refuse(ret_error, -ESHUTDOWN, "This host holds %" PRIu64 " ledger entries the fleet database "
                              "does not have yet, more than MaxUnshipped=%" PRIu64 ": it takes no new money until "
                              "they are shipped; %s", unshipped, b->config->max_unshipped, none);

        a = calloc(1, sizeof(*a));
        if (!a)
                return log_oom();
        a->billing = b;
        a->n = n;
        for (i = 0; i < n; i++)
                memcpy(a->ids[i], v[i].id, VOUCHER_ID_SIZE);
        if (r->request_id) {
                snprintf(a->request_id, sizeof(a->request_id), "%s", r->request_id);
                a->has_request_id = true;
        }
        if (r->remote)
                snprintf(a->requester, sizeof(a->requester), "remote");
        else
                snprintf(a->requester, sizeof(a->requester), "uid %u", (unsigned) r->uid);
        a->done = done;
        a->userdata = userdata;
        q = crypto_random(a->claim, sizeof(a->claim));
        if (q >= 0)
                q = batch_open(b->batch);
        if (q < 0) {
                free(a);
                return refuse(ret_error, q, "The ledger cannot be written: %s; %s", strerror(-q), none);
        }
        for (i = 0; i < n; i++) {
                q = ledger_intent_add(b->ledger, a->ids[i], a->claim, a->has_request_id ? a->request_id : NULL,
                                      now_usec(CLOCK_REALTIME));
                if (q < 0)
                        break;
        }
        if (q < 0) {
                uint8_t held[LEDGER_CLAIM_SIZE];
                bool left = q == -EEXIST && ledger_intent_get(b->ledger, v[i].id, held) >= 0 &&
                            !attempt_find(b, held);

                /* Named before the loop below takes i down to zero and past. */
                voucher_id_to_string(v[i].id, vid);
                if (left)
                        left = waiter_add(b, held, v[i].id, done, userdata) >= 0;
                while (i-- > 0)
                        (void) ledger_intent_del(b->ledger, a->ids[i], a->claim);
                free(a);
                if (left)
                        return 1; /* handled again after the take-back */
                if (q == -EEXIST)
                        return refuse(ret_error, -EBUSY, "Voucher %s is being spent on this host by another "
                                      "request; %s", vid, none);
                return refuse(ret_error, q, "The ledger cannot be written: %s; %s", strerror(-q), none);
        }
        a->next = b->attempts;
        b->attempts = a;
        q = batch_wait(b->batch, on_intents_committed, a);
        if (q < 0) {
                attempt_free(b, a);
                fleet_resolve(b);
                return refuse(ret_error, q, "Failed to wait for the ledger: %s; %s", strerror(-q), none);
        }
        memcpy(ret_claim, a->claim, LEDGER_CLAIM_SIZE);
        return 1;
}

/* The vouchers r claimed, each held by its attempt: what a credit in a
 * fleet checks first (a request that did not claim them, or a claim
 * taken back, credits nothing). */
static int fleet_check_claimed(struct billing *b, const struct billing_request *r, const struct voucher *v,
                               size_t n, char **ret_error) {
        uint8_t claim[LEDGER_CLAIM_SIZE];

        if (!b->fleet)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!r->fleet_claim || ledger_intent_get(b->ledger, v[i].id, claim) < 0 ||
                    memcmp(claim, r->fleet_claim, LEDGER_CLAIM_SIZE) != 0)
                        return refuse(ret_error, -ESHUTDOWN, "The fleet database's claim of the voucher%s is "
                                      "gone; %s", n > 1 ? "s" : "",
                                      n > 1 ? "none of the vouchers was spent" : "the voucher was not spent");
        return 0;
}

/* In the batch of the credit: the intents go with it. */
static int fleet_credited(struct billing *b, const struct billing_request *r, const struct voucher *v, size_t n) {
        int q = 0;

        if (!b->fleet)
                return 0;
        for (size_t i = 0; q >= 0 && i < n; i++)
                q = ledger_intent_del(b->ledger, v[i].id, r->fleet_claim);
        return q;
}

static struct fleet_attempt *attempt_of(struct billing *b, void *userdata) {
        for (struct fleet_attempt *a = b->attempts; a; a = a->next)
                if (a->userdata == userdata)
                        return a;
        return NULL;
}

void billing_fleet_finish(struct billing *b, void *userdata) {
        struct fleet_attempt *a;
        bool any = false;

        if (!b || !b->fleet)
                return;
        while ((a = attempt_of(b, userdata))) {
                attempt_free(b, a);
                any = true;
        }
        for (struct fleet_waiter *w = b->waiters, *next; w; w = next) {
                next = w->next;
                if (w->userdata == userdata)
                        waiter_free(b, w);
        }
        /* Intents left in the batch: not credited. */
        if (any)
                fleet_resolve(b);
}

void billing_fleet_cancel(struct billing *b, void *userdata) {
        billing_fleet_finish(b, userdata);
}

/* ---- create ---- */

/* What MaxSlices= counts, for one uid: its slices, kept ones too (they
 * hold a balance and a place), released ones not. */
static uint64_t slices_of_uid(struct billing *b, uid_t uid) {
        uint64_t n = 0;

        for (struct slice *s = b->slices->list; s; s = s->next)
                if (s->owner_uid == uid && !(s->account.funded && s->account.l.state == LEDGER_SLICE_RELEASED))
                        n++;
        return n;
}

/* All remote buyers together hold MaxRemoteSlices=: they are all the
 * gateway's uid, and one of them cannot be told from another. */
static int check_remote_cap(struct billing *b, const struct billing_request *r, char **ret_error) {
        uint64_t max = b->config->max_remote_slices, n;
        char who[BILLING_REQUESTER_MAX];

        n = slices_of_uid(b, r->uid);
        if (n < max)
                return 0;
        log_info("Refused a slice to %s: remote buyers hold %" PRIu64 " (MaxRemoteSlices=%" PRIu64 ").",
                 billing_requester(r, who), n, max);
        return refuse(ret_error, -EUSERS, "Too many slices bought remotely: %" PRIu64 " are held, the most this "
                      "host sells remotely; try again later; the voucher was not spent", n);
}

int billing_check_user_cap(struct billing *b, const struct billing_request *r, char **ret_error) {
        uint64_t max = b->config->max_slices_per_user, n;

        if (r->remote)
                return check_remote_cap(b, r, ret_error);
        if (r->operator || max == 0)
                return 0;
        n = slices_of_uid(b, r->uid);
        if (n < max)
                return 0;
        log_info("Refused a slice to uid %u: it holds %" PRIu64 " (MaxSlicesPerUser=%" PRIu64 ").",
                 (unsigned) r->uid, n, max);
        return refuse(ret_error, -EUSERS, "Too many slices for uid %u: it holds %" PRIu64 ", the most one user may "
                      "(MaxSlicesPerUser=%" PRIu64 "); release one first (prepay release); the voucher was not "
                      "spent", (unsigned) r->uid, n, max);
}

static void format_cpus(char buf[static 32], uint64_t milli) {
        snprintf(buf, 32, "%" PRIu64 ".%02" PRIu64, milli / 1000, (milli % 1000) / 10);
}

/* "voucher's", or "vouchers'" for a sum, in sentences. */
static const char *whose(const struct billing_order *o) {
        return o->n_vouchers > 1 ? "vouchers'" : "voucher's";
}

/* The CPUs of a create sized to its voucher (--hours): the most the
 * voucher pays for over the duration. */
static int size_to_funds(struct billing *b, const struct rate_card *rates, struct billing_order *o,
                         uint64_t memory, uint64_t duration, char **ret_error) {
        char need[MONEY_FORMAT_MAX], have[MONEY_FORMAT_MAX], dur[FORMAT_DURATION_MAX];
        const char *currency = b->config->currency;
        int64_t shortfall;
        int q;

        if (duration == 0)
                return refuse(ret_error, -EINVAL, "Sizing to funds needs a duration (--hours)");
        q = pricing_size_to_funds(rates, o->amount, duration, memory, 10, b->slices->max_cpus_milli,
                                  &o->cpus_milli, &shortfall);
        if (q == -EDOM)
                o->cpus_milli = b->slices->max_cpus_milli;
        else if (q == -ENOSPC) {
                o->missing = shortfall;
                (void) money_add(o->amount, shortfall, &o->total);
                return refuse(ret_error, q, "The %s %s %s does not pay for the smallest slice (0.01 CPU) for %s: %s "
                              "%s more is needed", whose(o), fmt_money(have, o->amount), currency,
                              format_duration(dur, sizeof(dur), duration), fmt_money(need, shortfall), currency);
        }
        else if (q < 0)
                return refuse(ret_error, q, "Failed to size the slice: %s", strerror(-q));
        o->limits.cpu_quota_usec = 0;
        return 0;
}

/* The guest of a VM slice, checked before anything is spent: its image,
 * the buyer's key, its disk (now priced at its real size) and memory. */
static int billing_plan_vm(struct billing *b, const struct request *f, uint64_t cpus_milli, uint64_t memory,
                           struct billing_order *o, struct rate_card *rates, char **ret_error) {
        const struct config *cfg = b->config;
        _cleanup_(freep) char *error = NULL;
        int q;

        if (!b->slices->vms)
                return refuse(ret_error, -EOPNOTSUPP, "This daemon does not run VM slices");
        q = vms_plan(b->slices->vms,
                     &(struct vm_request) { .image = f->vm_image, .ssh_key = f->ssh_key, .disk_size = f->disk_size,
                                            .cpus_milli = cpus_milli, .memory_max = memory },
                     &o->vm, &error);
        if (q < 0)
                return refuse(ret_error, q, "%s; the voucher was not spent", error ?: strerror(-q));
        o->has_vm = true;
        q = pricing_with_disk(&cfg->rates, cfg->disk_gib_hour, o->vm.disk_size, rates);
        if (q < 0)
                return refuse(ret_error, q, "A disk of that size costs more than any voucher holds");
        return 0;
}

int billing_price_order(struct billing *b, const struct request *f, struct billing_order *o, char **ret_error) {
        const struct config *cfg = b->config;
        _cleanup_(freep) char *error = NULL;
        char need[MONEY_FORMAT_MAX], have[MONEY_FORMAT_MAX], cost[MONEY_FORMAT_MAX];
        char cpus[32], dur[FORMAT_DURATION_MAX];
        uint64_t memory, size_cpus, duration;
        int64_t items[_RESOURCE_MAX], total;
        struct rate_card rates = cfg->rates;
        int q;

        o->limits = f->limits;
        o->cpus_milli = f->cpus_milli;
        /* The size to price: what the slice may use at most. A VM
         * slice's memory is its guest's and QEMU's, never unlimited. */
        if (f->vm_image && o->limits.memory_max == 0)
                o->limits.memory_max = cfg->vm_default_memory;
        memory = o->limits.memory_max ?: cfg->default_memory_max;
        if (f->vm_image) {
                q = pricing_with_disk(&cfg->rates, cfg->disk_gib_hour,
                                      MAX(f->disk_size, (uint64_t) 1), &rates);
                if (q < 0)
                        return refuse(ret_error, q, "A disk of that size costs more than any voucher holds");
        }
        if (f->size_to_funds) {
                q = size_to_funds(b, &rates, o, memory, f->duration_usec, ret_error);
                if (q < 0)
                        return q;
        }
        /* The limits the slice will get, checked before they are priced:
         * a quota beyond MaxCPUs= is refused, not priced as it wraps. */
        q = slices_check_limits(b->slices, &o->limits, o->cpus_milli, &error);
        if (q < 0)
                return refuse(ret_error, q, "%s", error ?: strerror(-q));
        size_cpus = o->cpus_milli;
        if (size_cpus == 0 && o->limits.cpu_quota_usec > 0)
                (void) pricing_cpus_of_quota(o->limits.cpu_quota_usec, o->limits.cpu_period_usec, &size_cpus);
        if (size_cpus == 0) /* no CPU limit: it may use the whole host */
                size_cpus = b->slices->max_cpus_milli;
        if (f->vm_image) {
                q = billing_plan_vm(b, f, size_cpus, memory, o, &rates, ret_error);
                if (q < 0)
                        return q;
        }

        /* A duration asked for is paid for in full (sized to funds, the
         * size was made to fit it); the minimum run is the floor. */
        duration = MAX(f->duration_usec, cfg->min_runtime_usec);
        q = pricing_quote(&rates, &(struct pricing_size) { .cpus_milli = size_cpus, .memory_bytes = memory },
                          duration, items, &total);
        if (q < 0)
                return refuse(ret_error, q, "Failed to price the slice: %s", strerror(-q));
        if (total > o->amount) {
                o->total = total;
                o->missing = total - o->amount;
                format_cpus(cpus, size_cpus);
                return refuse(ret_error, -ENOSPC,
                              "The %s %s %s does not cover %s%s at %s CPUs%s%s (%s %s): %s %s more is needed",
                              whose(o), fmt_money(have, o->amount), cfg->currency,
                              duration > cfg->min_runtime_usec ? "a run of " : "the minimum run of ",
                              format_duration(dur, sizeof(dur), duration), cpus, memory ? " and " : "",
                              memory ? format_size((char[FORMAT_SIZE_MAX]) {}, FORMAT_SIZE_MAX, memory) : "",
                              fmt_money(cost, total), cfg->currency, fmt_money(need, o->missing), cfg->currency);
        }
        return 0;
}

/* The funder the request names (issue 16): 1 with its raw public key in
 * ret, 0 for an anonymous one (no "funder_key"). Called before anything
 * is spent, so a key that is not one refuses the whole request. */
static int read_funder(const struct request *f, uint8_t ret[static CRYPTO_PUBKEY_SIZE], char **ret_error) {
        struct crypto_key *k = NULL;
        int q;

        if (!f->funder_key)
                return 0;
        q = crypto_key_from_public_text(f->funder_key, &k);
        if (q < 0)
                return refuse(ret_error, -EINVAL,
                              "Field 'funder_key' must be an Ed25519 public key (the line of a .pub file): "
                              "nothing was spent");
        crypto_key_public_raw(k, ret);
        crypto_key_free(k);
        return 1;
}

/* The slice's row and the vouchers' redemption (all or none), in the
 * open batch. A failed redemption closes the row it left unfunded. */
static int fund_in_ledger(struct billing *b, struct slice *s, const struct billing_request *r,
                          const struct billing_order *o, const uint8_t *funder,
                          const char token[static OWNER_TOKEN_MAX]) {
        struct ledger_slice row = {};
        int q;

        snprintf(row.id, sizeof(row.id), "%s", s->id);
        row.owner_uid = (uint32_t) r->uid;
        keys_token_hash(token, row.owner_hash);
        row.state = LEDGER_SLICE_ACTIVE;
        row.created_usec = s->created_usec;
        row.donation_model = o->model;
        /* Fixed now, as the model is: what the buyer and every funder
         * were shown is what its release does. */
        row.anonymous_to_host = o->model != DONATION_OWNER && streq(b->config->anonymous_shares, "host");
        q = ledger_slice_add(b->ledger, &row);
        if (q >= 0)
                q = ledger_redeem_funded(b->ledger, o->vouchers, o->n_vouchers, s->id, r->fields->request_id,
                                         funder, now_usec(CLOCK_REALTIME), NULL, NULL);
        redeemed(q, o->n_vouchers);
        if (q < 0 && ledger_slice_get(b->ledger, s->id, &row) >= 0)
                (void) ledger_release(b->ledger, s->id, NULL, now_usec(CLOCK_REALTIME));
        return q;
}

int billing_fund(struct billing *b, const struct billing_request *r, const struct billing_order *o,
                 struct slice **ret, char ret_token[static OWNER_TOKEN_MAX], char **ret_error) {
        _cleanup_(freep) char *error = NULL;
        char have[MONEY_FORMAT_MAX], vid[VOUCHER_ID_STRING_MAX];
        const char *currency = b->config->currency;
        uint8_t funder[CRYPTO_PUBKEY_SIZE];
        struct slice *s;
        int q, keyed;

        keyed = read_funder(r->fields, funder, ret_error);
        if (keyed < 0)
                return keyed;
        q = fleet_check_claimed(b, r, o->vouchers, o->n_vouchers, ret_error);
        if (q < 0)
                return q;
        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));

        q = slices_create(b->slices, &o->limits, o->cpus_milli, r->uid, o->has_vm ? &o->vm : NULL, &s, &error);
        if (q < 0)
                return refuse(ret_error, q, "%s", error ?: strerror(-q));

        keys_make_token(b->keys, s->id, ret_token);
        q = fund_in_ledger(b, s, r, o, keyed ? funder : NULL, ret_token);
        if (q >= 0)
                q = fleet_credited(b, r, o->vouchers, o->n_vouchers);
        if (q < 0) {
                (void) slices_destroy(b->slices, s);
                return refuse(ret_error, q, "Failed to fund the slice: %s; %s", redeem_error(q),
                              o->n_vouchers > 1 ? "none of the vouchers was spent" : "the voucher was not spent");
        }
        s->account.funded = true;
        account_reload(b, s);
        set_dirty(b, s);
        s->account.enforce.action = o->action;
        s->account.enforce.tx_grant = s->account.enforce.rx_grant = METER_GRANT_UNLIMITED;
        update_grants(b, s, true);
        enforce_slice(b, s);
        (void) slices_save(b->slices, s);
        fmt_money(have, o->amount);
        if (o->n_vouchers == 1) {
                voucher_id_to_string(o->vouchers[0].id, vid);
                billing_emit(b, s, EVENT_FUNDED, NULL, "funded with voucher %s: %s %s", vid, have, currency);
                log_money(b, r, s->id, o->amount, vid, "Slice %s funded with voucher %s: %s %s%s.", s->id, vid,
                          have, currency, local_uid(r, ", uid ", (char[48]) {}));
        } else {
                billing_emit(b, s, EVENT_FUNDED, NULL, "funded with %zu vouchers: %s %s", o->n_vouchers, have,
                             currency);
                log_vouchers(b, r, s->id, o->vouchers, o->n_vouchers);
                log_money(b, r, s->id, o->amount, NULL, "Slice %s funded with %zu vouchers: %s %s%s.", s->id,
                          o->n_vouchers, have, currency, local_uid(r, ", uid ", (char[48]) {}));
        }
        *ret = s;
        return 0;
}

/* ---- top-up ---- */

/* Money again (a top-up, a payment): limits back and thawed now, not at
 * the next pass. */
static void money_came(struct billing *b, struct slice *s) {
        bool killed = s->account.enforce.state == ENFORCE_KILLED;

        if (s->account.enforce.state != ENFORCE_OK)
                enforce_restore(&b->enforce, s);
        else
                update_grants(b, s, true);
        enforce_slice(b, s);
        /* A guest the ladder killed boots again from its kept disk. */
        if (killed && s->vm && vm_get_state(s->vm) == VM_STOPPED &&
            (s->account.enforce.state == ENFORCE_OK || s->account.enforce.state == ENFORCE_LOW)) {
                _cleanup_(freep) char *why = NULL;

                if (slices_start_vm(b->slices, s, &why) < 0)
                        log_warning("Slice %s: its guest did not start again: %s.", s->id, strna(why));
        }
}

int billing_topup(struct billing *b, const struct billing_request *r, struct billing_topup *ret, char **ret_error) {
        const char *id = r->fields->slice;
        char have[MONEY_FORMAT_MAX], vid[VOUCHER_ID_STRING_MAX];
        struct voucher v[REQUEST_VOUCHERS_MAX];
        const size_t n = r->fields->n_vouchers;
        uint8_t funder[CRYPTO_PUBKEY_SIZE];
        struct ledger_slice row;
        struct slice *s;
        int64_t balance, amount;
        int q, keyed;

        s = slices_find(b->slices, id);
        q = ledger_slice_get(b->ledger, id, &row);
        if (q >= 0 && row.state == LEDGER_SLICE_RELEASED)
                return refuse(ret_error, -ESTALE, "No funded slice %s (it was released): the voucher was not spent",
                              id);
        if (q == -ENOENT)
                return refuse(ret_error, -ENOENT, "No funded slice %s: the voucher was not spent", id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));

        keyed = read_funder(r->fields, funder, ret_error);
        if (keyed < 0)
                return keyed;
        q = billing_read_vouchers(b, r->fields, r->checked, v, &amount, ret_error);
        if (q >= 0)
                q = fleet_check_claimed(b, r, v, n, ret_error);
        if (q < 0)
                return q;

        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));
        /* Usage so far is paid from the old balance. */
        if (s && s->account.pending > 0)
                (void) charge_slice(b, s);
        q = ledger_redeem_funded(b->ledger, v, n, id, r->fields->request_id, keyed ? funder : NULL,
                                 now_usec(CLOCK_REALTIME), &balance, NULL);
        if (q >= 0)
                q = fleet_credited(b, r, v, n);
        redeemed(q, n);
        if (q < 0)
                return refuse(ret_error, q, "Top-up of slice %s refused: %s; %s", id, redeem_error(q),
                              n > 1 ? "none of the vouchers was spent" : "the voucher was not spent");
        fmt_money(have, amount);
        if (n == 1) {
                voucher_id_to_string(v[0].id, vid);
                log_money(b, r, id, balance, vid, "Slice %s topped up with voucher %s: %s %s%s.", id, vid, have,
                          b->config->currency, local_uid(r, " by uid ", (char[48]) {}));
        } else {
                log_vouchers(b, r, id, v, n);
                log_money(b, r, id, balance, NULL, "Slice %s topped up with %zu vouchers: %s %s%s.", id, n, have,
                          b->config->currency, local_uid(r, " by uid ", (char[48]) {}));
        }

        if (s) {
                /* As the ledger now has it; reread after the commit. */
                s->account.l.balance = balance;
                (void) money_add(s->account.l.credited, amount, &s->account.l.credited);
                set_dirty(b, s);
                if (n == 1)
                        billing_emit(b, s, EVENT_TOPPED_UP, NULL, "topped up with voucher %s: %s %s", vid, have,
                                     b->config->currency);
                else
                        billing_emit(b, s, EVENT_TOPPED_UP, NULL, "topped up with %zu vouchers: %s %s", n, have,
                                     b->config->currency);
                money_came(b, s);
        }
        *ret = (struct billing_topup) { .slice = s, .balance = balance, .credited = amount, .n_vouchers = n };
        for (size_t i = 0; i < n; i++)
                memcpy(ret->voucher_ids[i], v[i].id, VOUCHER_ID_SIZE);
        return 0;
}

/* ---- release ---- */

/* A slice released before: the change was paid out then. It goes again
 * only to the owner token's holder (or, by request id, to whoever
 * released it). An operator without the token gets a sentence, not the
 * owner's money. */
static int released_before(struct billing *b, const struct billing_request *r, const struct ledger_slice *row,
                           bool by_operator, const char *operator_note, struct billing_release *ret,
                           char **ret_error) {
        char buf[MONEY_FORMAT_MAX];

        if (by_operator && row->change[0]) {
                log_money_at(LOG_NOTICE, b, r, row->id, 0, NULL,
                             "Slice %s: release asked again%s; it was released before and its change is not "
                             "given again.", row->id, operator_note);
                return refuse(ret_error, -EPERM, "Slice %s was released before: its change (%s %s) was paid out "
                              "then and is given again only with the owner token", row->id,
                              fmt_money(buf, row->refunded), b->config->currency);
        }
        /* Released before: the same answer, change included. */
        ret->outcome = BILLING_RELEASED_BEFORE;
        ret->amount = row->refunded;
        ret->held = row->held;
        snprintf(ret->change, sizeof(ret->change), "%s", row->change);
        return 0;
}

/* release --keep: the work stopped, the balance kept for its owner. */
static int keep(struct billing *b, const struct billing_request *r, struct slice *s, const struct ledger_slice *row,
                bool by_operator, const char *operator_note, struct billing_release *ret, char **ret_error) {
        char buf[MONEY_FORMAT_MAX];
        int q;

        if (row->state == LEDGER_SLICE_ACTIVE) {
                q = ledger_keep(b->ledger, row->id, now_usec(CLOCK_REALTIME));
                if (q < 0)
                        return refuse(ret_error, q, "Failed to keep slice %s: %s", row->id, strerror(-q));
        }
        if (s) {
                account_reload(b, s);
                set_dirty(b, s);
        }
        log_money_at(by_operator ? LOG_NOTICE : LOG_INFO, b, r, row->id, row->balance, NULL,
                     "Slice %s: work stopped, %s %s kept for its owner%s.", row->id, fmt_money(buf, row->balance),
                     b->config->currency, by_operator ? operator_note : "");
        ret->outcome = BILLING_KEPT;
        ret->amount = row->balance;
        return 0;
}

static int sponsor_return_all(struct billing *b, const char *slice);
static int sponsor_env_update(struct billing *b, const char *slice, const struct ledger_bid *win);

/* The balance split by the slice's donation model: the owner's part (with
 * every anonymous share) paid as change, each keyed funder's share held
 * in the books for it to claim, all in the one release entry of this
 * batch, so that a crash pays all of it or none. */
static int release_split(struct billing *b, struct billing_request *r, struct slice *s,
                         const struct ledger_slice *row, const char *operator_note, struct billing_release *ret,
                         char **ret_error) {
        _cleanup_(ledger_split_done) struct ledger_split sp = {};
        char buf[MONEY_FORMAT_MAX], held[MONEY_FORMAT_MAX], donated[MONEY_FORMAT_MAX], what[192] = "";
        const char *id = row->id;
        int q;

        q = ledger_release_split(b->ledger, id, &sp);
        if (q < 0)
                return refuse(ret_error, q, "Failed to split the balance of slice %s: %s", id, strerror(-q));
        if (sp.owner > 0) {
                q = keys_make_change(b->keys, sp.owner, ret->change);
                if (q < 0)
                        return refuse(ret_error, q, "Failed to sign the change vouchers: %s", strerror(-q));
        }
        /* Its open bids are paid back first, in this batch: a released
         * slice takes no sponsor. */
        q = sponsor_return_all(b, id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to pay back the open bids on slice %s: %s", id, strerror(-q));
        q = ledger_release(b->ledger, id, ret->change, now_usec(CLOCK_REALTIME));
        if (q < 0)
                return refuse(ret_error, q, "Failed to release slice %s: %s", id, strerror(-q));
        if (sp.held > 0)
                snprintf(what, sizeof(what), ", %s %s held for its funders (%s)", fmt_money(held, sp.held),
                         b->config->currency, donation_model_to_string(sp.model));
        if (sp.donated > 0)
                snprintf(what + strlen(what), sizeof(what) - strlen(what), ", %s %s of anonymous funders kept "
                         "by the host", fmt_money(donated, sp.donated), b->config->currency);
        if (s) {
                account_reload(b, s);
                set_dirty(b, s);
                snprintf(r->destroy, sizeof(r->destroy), "%s", id);
                billing_emit(b, s, EVENT_RELEASED, NULL, "released: %s %s refunded as change%s",
                             fmt_money(buf, sp.owner), b->config->currency, what);
                slice_freed(b, s);
        }
        (void) sponsor_env_update(b, id, NULL);
        log_money_at(operator_note[0] ? LOG_NOTICE : LOG_INFO, b, r, id, 0, NULL,
                     "Slice %s released: %s %s refunded as change%s%s.", id, fmt_money(buf, sp.owner),
                     b->config->currency, what, operator_note);
        ret->outcome = BILLING_RELEASED;
        ret->amount = sp.owner;
        ret->held = sp.held;
        ret->donated = sp.donated;
        return 0;
}

int billing_release(struct billing *b, struct billing_request *r, struct billing_release *ret, char **ret_error) {
        const char *id = r->fields->slice, *token = r->fields->token;
        char operator_note[80];
        struct ledger_slice row;
        bool by_operator;
        struct slice *s;
        int q;

        *ret = (struct billing_release) {};
        s = slices_find(b->slices, id);
        q = ledger_slice_get(b->ledger, id, &row);
        if (q == -ENOENT)
                return refuse(ret_error, q, s ? "Slice %s is not funded: destroy it instead" : "No slice %s", id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));
        /* An operator may release any slice; the change is then in the
         * operator's reply, not its owner's. */
        by_operator = !keys_check_token(row.owner_hash, token);
        if (by_operator && !r->operator) {
                char what[64];

                snprintf(what, sizeof(what), "releasing slice %s", id);
                return billing_refuse_token(r, id, token, ret_error, what);
        }
        snprintf(operator_note, sizeof(operator_note), " (by operator uid %u without the owner token)",
                 (unsigned) r->uid);

        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));

        if (row.state == LEDGER_SLICE_RELEASED)
                return released_before(b, r, &row, by_operator, operator_note, ret, ret_error);

        if (s) {
                /* Stop the work, then bill it to the last microsecond. */
                if (s->handle && slice_kill(s) < 0)
                        log_warning("Slice %s: not every process could be killed, charging what was used.", id);
                slices_sample_one(b->slices, s);
                q = charge_slice(b, s);
                if (q < 0)
                        return refuse(ret_error, q, "Failed to charge slice %s: %s", id, strerror(-q));
                /* The row as the charge left it (the batch's writes are seen). */
                q = ledger_slice_get(b->ledger, id, &row);
                if (q < 0)
                        return refuse(ret_error, q, "Failed to read slice %s from the ledger: %s", id, strerror(-q));
        }

        if (r->fields->keep)
                return keep(b, r, s, &row, by_operator, operator_note, ret, ret_error);

        return release_split(b, r, s, &row, by_operator ? operator_note : "", ret, ret_error);
}

/* ---- claims ---- */

/* Nothing to pay the claimant, as a sentence; nothing was paid. The
 * share's refusal names why it holds nothing (q), and an investor is
 * told its revenue is all claimed. */
static int claim_refused(struct billing *b, const struct billing_request *r, int q, const char *hex,
                         const struct ledger_claimable *c, char **ret_error) {
        const char *id = r->fields->slice, *cur = b->config->currency;
        const char *rev = c && c->investor ? " and all the revenue it earned was claimed" : "";
        char buf[MONEY_FORMAT_MAX], when[RECEIPT_TIME_STRING_MAX];

        switch (q) {
        case -ENOENT:
                return refuse(ret_error, q, "No funded slice %s: nothing was paid", id);
        case -EAGAIN:
                return refuse(ret_error, -EBUSY, "Slice %s is not released yet: its funders' shares are held only "
                              "once it is (prepay release)%s; nothing was paid", id,
                              c && c->investor ? ", and the revenue funder earned was all claimed" : "");
        case -EALREADY:
                log_money_at(LOG_NOTICE, b, r, id, 0, NULL, "Slice %s: funder %s claimed again; refused, its share "
                             "was paid by entry %" PRIu64 ".", id, hex, c->first.entry);
                return refuse(ret_error, q, "Slice %s: funder %s's share (%s %s) was claimed already, by ledger "
                              "entry %" PRIu64 " at %s%s; nothing was paid again", id, hex,
                              fmt_money(buf, c->first.amount), cur, c->first.entry,
                              receipt_time_to_string((int64_t) c->first.time_usec, when), rev);
        case -ENODATA:
                return refuse(ret_error, -ENOENT, "Slice %s holds nothing for funder %s: the key funded none of it, "
                              "or the slice's donation model gives it nothing back%s; nothing was paid", id, hex,
                              rev);
        default:
                return refuse(ret_error, q, "Failed to pay the claim on slice %s: %s; nothing was paid", id,
                              strerror(-q));
        }
}

/* A claim statement paid on is not taken again while it could be (until
 * CLAIM_SKEW_USEC past its time): an investor claims its revenue again as
 * more is earned, so a statement overheard and replayed within its
 * minutes would pay whoever replays it what was earned since. A claim
 * again is signed anew (prepay claim does). A retry of the same request
 * is answered from the ledger before this (billing_replay()). In memory
 * only: a restart within those minutes forgets, and the ledger's
 * once-only rules stand. */
static void used_claims_prune(struct billing *b, uint64_t now) {
        size_t k = 0;

        for (size_t i = 0; i < b->n_used_claims; i++)
                if (b->used_claims[i].until_usec >= now)
                        b->used_claims[k++] = b->used_claims[i];
        b->n_used_claims = k;
}

static bool claim_was_used(struct billing *b, const struct claim *c, uint64_t now) {
        used_claims_prune(b, now);
        for (size_t i = 0; i < b->n_used_claims; i++)
                if (memcmp(b->used_claims[i].sig, c->signature, sizeof(b->used_claims[i].sig)) == 0)
                        return true;
        return false;
}

static int claim_use(struct billing *b, const struct claim *c, uint64_t now) {
        struct used_claim *u;

        used_claims_prune(b, now);
        if (b->n_used_claims >= BILLING_USED_CLAIMS_MAX)
                return -EBUSY;
        u = &b->used_claims[b->n_used_claims++];
        memcpy(u->sig, c->signature, sizeof(u->sig));
        u->until_usec = (uint64_t) c->time_usec + CLAIM_SKEW_USEC;
        return 0;
}

int billing_claim(struct billing *b, const struct billing_request *r, struct billing_claim *ret, char **ret_error) {
        const char *id = r->fields->slice, *error = NULL;
        _cleanup_(freep) char *why = NULL;
        struct ledger_claimable c = {};
        char buf[MONEY_FORMAT_MAX], share[MONEY_FORMAT_MAX], rev[MONEY_FORMAT_MAX];
        struct slice *s;
        struct claim st;
        int64_t amount;
        int q;

        *ret = (struct billing_claim) {};
        /* Proven before anything is read or moves: only the key's holder
         * claims what is held for it. */
        q = claim_from_text(r->fields->claim, &st, &error);
        if (q < 0)
                return refuse(ret_error, -EINVAL, "%s; nothing was paid", error);
        q = claim_verify(&st, CLAIM_PURPOSE_CLAIM, keys_host_id(b->keys), id, (int64_t) now_usec(CLOCK_REALTIME),
                         &why);
        if (q < 0) {
                log_money_at(LOG_NOTICE, b, r, id, 0, NULL, "Slice %s: a claim refused: %s.", id, strna(why));
                return refuse(ret_error, q == -EBADMSG ? -EPERM : -EINVAL, "Claim refused: %s; nothing was paid",
                              strna(why));
        }
        hex_encode(st.funder, sizeof(st.funder), ret->funder);
        if (claim_was_used(b, &st, now_usec(CLOCK_REALTIME))) {
                log_money_at(LOG_NOTICE, b, r, id, 0, NULL, "Slice %s: a claim statement of funder %s used again; "
                             "refused.", id, ret->funder);
                return refuse(ret_error, -EALREADY, "Slice %s: this claim statement was used already; nothing was "
                              "paid again (sign a new one: prepay claim does)", id);
        }
        /* Marked before anything moves: one statement, one payment. */
        q = claim_use(b, &st, now_usec(CLOCK_REALTIME));
        if (q < 0)
                return refuse(ret_error, q, "Too many claims at once; nothing was paid: try again in a minute");

        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));
        /* Its share of a released slice, once, and the revenue it earned
         * as an investor and has not claimed yet, paid together. */
        q = ledger_claimable(b->ledger, id, st.funder, &c);
        if (q < 0)
                return claim_refused(b, r, q, ret->funder, NULL, ret_error);
        if (c.share == 0 && c.revenue == 0)
                return claim_refused(b, r, c.share_error ?: -ENODATA, ret->funder, &c, ret_error);
        amount = c.share + c.revenue;
        q = keys_make_change(b->keys, amount, ret->change);
        if (q < 0)
                return refuse(ret_error, q, "Failed to sign the change vouchers: %s; nothing was paid", strerror(-q));
        q = ledger_claim_funder(b->ledger, id, st.funder, &c, ret->change, r->fields->request_id,
                                now_usec(CLOCK_REALTIME));
        if (q < 0)
                return claim_refused(b, r, q, ret->funder, &c, ret_error);
        /* A live slice's figures (what its investors claimed) as the
         * ledger now has them. */
        s = slices_find(b->slices, id);
        if (s) {
                account_reload(b, s);
                set_dirty(b, s);
        }
        log_money(b, r, id, 0, NULL, "Slice %s: funder %s claimed %s %s as change (its share %s, revenue %s).", id,
                  ret->funder, fmt_money(buf, amount), b->config->currency, fmt_money(share, c.share),
                  fmt_money(rev, c.revenue));
        ret->amount = amount;
        ret->share = c.share;
        ret->revenue = c.revenue;
        ret->revenue_left = c.revenue_left;
        return 0;
}

/* ---- investors and revenue ---- */

/* The terms r asks for, checked before anything is written. */
static int invest_offer_of(const struct request *f, struct invest_offer *ret, char **ret_error) {
        struct invest_offer o = {};
        uint64_t rate;

        if (f->revenue_share) {
                o.terms = INVEST_REVENUE_SHARE;
                if (parse_percent(f->revenue_share, &rate) < 0 || rate == 0 || rate > (uint64_t) INVEST_RATE_UNIT)
                        return refuse(ret_error, -EINVAL, "Field 'revenue_share' must be more than 0%% and at most "
                                      "100%%, got \"%s\"", f->revenue_share);
        } else {
                o.terms = INVEST_FIXED_RETURN;
                if (!f->fixed_return || parse_percent(f->fixed_return, &rate) < 0 ||
                    rate > (uint64_t) INVEST_RATE_MAX)
                        return refuse(ret_error, -EINVAL, "Field 'fixed_return' must be from 0%% to 1000%%, got "
                                      "\"%s\"", strna(f->fixed_return));
        }
        o.rate = (int64_t) rate;
        if (f->cap && (money_parse(f->cap, &o.cap) < 0 || o.cap <= 0))
                return refuse(ret_error, -EINVAL, "Field 'cap' must be an amount above 0, got \"%s\"", f->cap);
        *ret = o;
        return 0;
}

int billing_invest_open(struct billing *b, const struct billing_request *r, struct invest_offer *ret,
                        char **ret_error) {
        const char *id = r->fields->slice;
        char rate[FORMAT_PERCENT_MAX], cap[MONEY_FORMAT_MAX];
        struct ledger_slice row;
        struct invest_offer o;
        struct slice *s;
        int q;

        q = invest_offer_of(r->fields, &o, ret_error);
        if (q < 0)
                return q;
        q = ledger_slice_get(b->ledger, id, &row);
        if (q == -ENOENT)
                return refuse(ret_error, q, "No funded slice %s", id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));
        /* The owner's terms for the owner's revenue: its token, even for
         * an operator. */
        if (!keys_check_token(row.owner_hash, r->fields->token)) {
                char what[64];

                snprintf(what, sizeof(what), "opening slice %s to investors", id);
                return billing_refuse_token(r, id, r->fields->token, ret_error, what);
        }
        if (row.state == LEDGER_SLICE_RELEASED)
                return refuse(ret_error, -ESTALE, "Slice %s is released: it takes no investors", id);
        if (row.invest_open)
                return refuse(ret_error, -EEXIST, "Slice %s is open to investors already (%s %s%s%s, ledger entry "
                              "%" PRIu64 "): its terms stay as they were", id,
                              invest_terms_to_string(row.invest.terms),
                              format_percent(rate, sizeof(rate), (uint64_t) row.invest.rate),
                              row.invest.cap > 0 ? ", cap " : "", row.invest.cap > 0 ? fmt_money(cap, row.invest.cap) : "",
                              row.invest_entry);

        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));
        q = ledger_invest_open(b->ledger, id, &o, r->fields->request_id, now_usec(CLOCK_REALTIME));
        if (q < 0)
                return refuse(ret_error, q, "Failed to open slice %s to investors: %s", id, strerror(-q));
        s = slices_find(b->slices, id);
        if (s) {
                account_reload(b, s);
                set_dirty(b, s);
        }
        log_money(b, r, id, 0, NULL, "Slice %s opened to investors: %s %s%s%s %s.", id, invest_terms_to_string(o.terms),
                  format_percent(rate, sizeof(rate), (uint64_t) o.rate), o.cap > 0 ? ", cap " : "",
                  o.cap > 0 ? fmt_money(cap, o.cap) : "", o.cap > 0 ? b->config->currency : "");
        *ret = o;
        return 0;
}

int billing_pay_check(struct billing *b, const struct billing_request *r,
                      struct voucher ret_vouchers[static REQUEST_VOUCHERS_MAX], char **ret_error) {
        const char *id = r->fields->slice;
        struct ledger_slice row;
        int64_t amount;
        int q;

        q = ledger_slice_get(b->ledger, id, &row);
        if (q >= 0 && row.state == LEDGER_SLICE_RELEASED)
                return refuse(ret_error, -ESTALE, "Slice %s was released: it takes no payments; the voucher was not "
                              "spent", id);
        if (q == -ENOENT)
                return refuse(ret_error, -ENOENT, "No funded slice %s: the voucher was not spent", id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));
        return billing_read_vouchers(b, r->fields, r->checked, ret_vouchers, &amount, ret_error);
}

int billing_pay(struct billing *b, const struct billing_request *r, struct billing_pay *ret, char **ret_error) {
        const char *id = r->fields->slice, *cur = b->config->currency;
        char paid[MONEY_FORMAT_MAX], inv[MONEY_FORMAT_MAX], own[MONEY_FORMAT_MAX];
        struct voucher v[REQUEST_VOUCHERS_MAX];
        const size_t n = r->fields->n_vouchers;
        struct slice *s;
        int q;

        *ret = (struct billing_pay) {};
        q = billing_pay_check(b, r, v, ret_error);
        if (q >= 0)
                q = fleet_check_claimed(b, r, v, n, ret_error);
        if (q < 0)
                return q;

        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));
        s = slices_find(b->slices, id);
        /* Usage so far is paid from the old balance. */
        if (s && s->account.pending > 0)
                (void) charge_slice(b, s);
        q = ledger_pay(b->ledger, v, n, id, r->fields->request_id, now_usec(CLOCK_REALTIME), &ret->paid, NULL);
        if (q >= 0)
                q = fleet_credited(b, r, v, n);
        redeemed(q, n);
        if (q < 0)
                return refuse(ret_error, q, "Payment to slice %s refused: %s; %s", id, redeem_error(q),
                              n > 1 ? "none of the vouchers was spent" : "the voucher was not spent");
        fmt_money(paid, ret->paid.paid);
        fmt_money(inv, ret->paid.to_investors);
        fmt_money(own, ret->paid.to_slice);
        if (n > 1)
                log_vouchers(b, r, id, v, n);
        log_money(b, r, id, ret->paid.balance, NULL, "Slice %s paid %s %s%s: %s to its investors, %s to the slice.",
                  id, paid, cur, local_uid(r, " by uid ", (char[48]) {}), inv, own);
        if (s) {
                account_reload(b, s);
                set_dirty(b, s);
                billing_emit(b, s, EVENT_PAID, NULL, "paid %s %s: %s to its investors, %s to the slice", paid, cur,
                             inv, own);
                money_came(b, s);
        }
        ret->slice = s;
        ret->n_vouchers = n;
        for (size_t i = 0; i < n; i++)
                memcpy(ret->voucher_ids[i], v[i].id, VOUCHER_ID_SIZE);
        return 0;
}

/* Whether key is one of the keyed funders of slice: -ENOENT no such
 * slice, -ENODATA not among them. */
static int funder_of(struct billing *b, const char *slice, const uint8_t key[CRYPTO_PUBKEY_SIZE]) {
        _cleanup_(freep) struct ledger_position *p = NULL;
        _cleanup_(freep) struct ledger_slice *row = malloc(sizeof(*row)); /* the change is large for a stack */
        size_t n = 0;
        int q;

        if (!row)
                return -ENOMEM;
        q = ledger_slice_positions(b->ledger, slice, row, &p, &n);
        if (q < 0)
                return q;
        for (size_t i = 0; i < n; i++)
                if (!p[i].anonymous && memcmp(p[i].key, key, CRYPTO_PUBKEY_SIZE) == 0)
                        return 0;
        return -ENODATA;
}

int billing_funder_proof(struct billing *b, const char *slice, const char *proof,
                         uint8_t ret_key[static CRYPTO_PUBKEY_SIZE], char **ret_error) {
        _cleanup_(freep) char *why = NULL;
        char hex[2 * CRYPTO_PUBKEY_SIZE + 1];
        const char *error = NULL;
        struct claim c;
        int q;

        q = claim_from_text(proof, &c, &error);
        if (q < 0)
                return refuse(ret_error, -EINVAL, "Field 'funder_proof' is not a funder's proof: %s", error);
        q = claim_verify(&c, CLAIM_PURPOSE_EVENTS, keys_host_id(b->keys), slice, (int64_t) now_usec(CLOCK_REALTIME),
                         &why);
        if (q < 0)
                return refuse(ret_error, q == -EBADMSG ? -EPERM : -EINVAL, "Funder proof refused: %s", strna(why));
        hex_encode(c.funder, sizeof(c.funder), hex);
        q = funder_of(b, slice, c.funder);
        if (q == -ENOENT)
                return refuse(ret_error, q, "No funded slice %s", slice);
        if (q == -ENODATA)
                return refuse(ret_error, -EPERM, "Funder proof refused: key %s funded none of slice %s", hex, slice);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));
        memcpy(ret_key, c.funder, CRYPTO_PUBKEY_SIZE);
        return 0;
}

int billing_funders(struct billing *b, const char *slice, struct ledger_slice *ret_row, struct ledger_position **ret,
                    size_t *ret_n) {
        return ledger_slice_positions(b->ledger, slice, ret_row, ret, ret_n);
}

struct history_replay {
        const struct billing_history_callbacks *cb;
        void *userdata;
};

static int history_replay_point(const struct chart_point *p, void *userdata) {
        struct history_replay *h = userdata;

        return h->cb->point(p->time_usec, p->balance, p->spent, h->userdata);
}

/* The history the ledger folded as the slice's entries were written
 * (ledger_slice_history_summary()): at most CHART_SUMMARY_BUCKETS rows
 * read on the event loop, however long the slice has lived, the first
 * request as every other. */
int billing_history(struct billing *b, const char *slice, struct ledger_slice *ret_row,
                    const struct billing_history_callbacks *cb, void *userdata) {
        _cleanup_(freep) struct chart_summary *summary = malloc(sizeof(*summary));
        struct history_replay replay = { cb, userdata };
        int r;

        if (!summary)
                return -ENOMEM;
        r = ledger_slice_get(b->ledger, slice, ret_row);
        if (r >= 0)
                r = ledger_slice_history_summary(b->ledger, slice, summary);
        if (r >= 0)
                r = chart_summary_foreach(summary, history_replay_point, &replay);
        if (r < 0)
                return r;
        return ledger_event_foreach(b->ledger, slice, cb->event, userdata);
}

/* ---- sponsorship (issue 16) ---- */

/* The directory a slice's workload reads its sponsor from:
 * <the control socket's directory>/slices/<id>, 0755 like that
 * directory, since a sponsor is public (status shows it to anyone). */
static int sponsor_env_dir(struct billing *b, const char *slice, char *buf, size_t size, size_t *ret_parent) {
        const char *sock = b->config->control_socket, *slash = sock ? strrchr(sock, '/') : NULL;
        int n;

        if (!slash)
                return -EINVAL;
        n = snprintf(buf, size, "%.*s/slices/%s", (int) (slash - sock), sock, slice);
        if (n < 0 || (size_t) n >= size)
                return -ENAMETOOLONG;
        if (ret_parent)
                *ret_parent = (size_t) (slash - sock) + strlen("/slices");
        return 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

/* sponsor.env replaced whole (a new file renamed over the old: a reader
 * sees one or the other), 0644; removed with its directory when win is
 * NULL (no sponsor now). */
static int sponsor_env_update(struct billing *b, const char *slice, const struct ledger_bid *win) {
        char dir[PATH_MAX - 32], path[PATH_MAX], tmp[PATH_MAX], text[SPONSOR_ENV_MAX];
        _cleanup_(closep) int fd = -1;
        size_t parent;
        int n, r;

        r = sponsor_env_dir(b, slice, dir, sizeof(dir), &parent);
        if (r < 0)
                return r;
        snprintf(path, sizeof(path), "%s/sponsor.env", dir);
        snprintf(tmp, sizeof(tmp), "%s/.sponsor.env.tmp", dir);
        if (!win) {
                (void) slices_tell_guest(b->slices, slice, "");
                if (unlink(path) < 0 && errno != ENOENT)
                        return -errno;
                (void) rmdir(dir);
                return 0;
        }
        n = sponsor_env_text(win->name, win->url, win->end_usec, text, sizeof(text));
        if (n < 0)
                return n;
        /* A guest is told the same lines (the file may not be its to read). */
        r = slices_tell_guest(b->slices, slice, text);
        if (r < 0)
                log_warning_errno(r, "Slice %s: failed to tell its guest its sponsor, ignoring: %m", slice);
        dir[parent] = 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        dir[parent] = '/';
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, 0644) < 0)
                return -errno;
        r = write_all(fd, text, (size_t) n);
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

/* What the workload sees is the books' current winner, or nothing. */
static void sponsor_env_refresh(struct billing *b, const char *slice, uint64_t now) {
        _cleanup_(freep) struct ledger_bid *win = malloc(sizeof(struct ledger_bid));
        int q;

        if (!win) {
                log_oom();
                return;
        }
        q = ledger_bid_current(b->ledger, slice, now, win);
        if (q < 0 && q != -ENOENT)
                log_warning_errno(q, "Slice %s: failed to read its sponsor, its environment file is left as it is: "
                                  "%m", slice);
        else if ((q = sponsor_env_update(b, slice, q >= 0 ? win : NULL)) < 0)
                log_warning_errno(q, "Slice %s: failed to write its sponsor's environment file, ignoring: %m", slice);
}

/* An event of a bid (sponsor, bid_refunded): of the slice's figures as
 * they are, with the bid's number and amount; the name and link of a
 * winner. Never the change: events reach the owner and operators, the
 * change is the bidder's alone (sponsor_outcome). */
static void sponsor_emit(struct billing *b, const struct ledger_bid *bid, enum event_kind kind, const char *reason) {
        struct slice *s = slices_find(b->slices, bid->slice);
        struct ledger_slice row;
        struct event ev = {
                .time_usec = now_usec(CLOCK_REALTIME),
                .kind = kind,
                .bid = bid->n,
                .amount = bid->amount,
        };

        if (!b->events)
                return;
        if (s && s->account.funded) {
                struct slice_account_info info;

                account_info(b, s, &info);
                ev.balance = info.balance;
                ev.burn_rate = info.burn_rate;
                ev.time_left_usec = info.time_left_usec;
                ev.owner_uid = s->account.l.owner_uid;
        } else if (ledger_slice_get(b->ledger, bid->slice, &row) >= 0) {
                ev.balance = row.balance;
                ev.owner_uid = row.owner_uid;
        }
        snprintf(ev.slice, sizeof(ev.slice), "%s", bid->slice);
        snprintf(ev.reason, sizeof(ev.reason), "%s", reason);
        if (kind == EVENT_SPONSOR) {
                snprintf(ev.sponsor_name, sizeof(ev.sponsor_name), "%s", bid->name);
                snprintf(ev.sponsor_url, sizeof(ev.sponsor_url), "%s", bid->url);
        }
        events_emit(b->events, &ev);
}

/* The change of every bid in returns[], signed before any of it is
 * written, so that a period is settled whole. changes is n buffers of
 * LEDGER_CHANGE_MAX. */
static int sponsor_sign_returns(struct billing *b, const struct ledger_bid *bids, const size_t *idx, size_t n,
                                char *changes, struct ledger_return *ret) {
        int q;

        for (size_t i = 0; i < n; i++) {
                q = keys_make_change(b->keys, bids[idx[i]].amount, changes + i * LEDGER_CHANGE_MAX);
                if (q < 0)
                        return q;
                ret[i] = (struct ledger_return) { .n = bids[idx[i]].n, .change = changes + i * LEDGER_CHANGE_MAX };
        }
        return 0;
}

/* Settles bids[0..n) of one slice: winner (an index; n: none, as when
 * the slice is released) credited, every other paid back as change, in
 * the open batch, all or none; then each told. */
static int sponsor_settle_bids(struct billing *b, const char *slice, const struct ledger_bid *bids, size_t n,
                               size_t winner, const char *why) {
        _cleanup_(freep) struct ledger_return *returns = NULL;
        _cleanup_(freep) size_t *idx = NULL;
        _cleanup_(freep) char *changes = NULL;
        char buf[MONEY_FORMAT_MAX], reason[EVENT_REASON_MAX];
        const char *cur = b->config->currency;
        size_t k = 0;
        int q;

        idx = calloc(n, sizeof(*idx));
        returns = calloc(n, sizeof(*returns));
        changes = calloc(n, LEDGER_CHANGE_MAX);
        if (!idx || !returns || !changes)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (i != winner)
                        idx[k++] = i;
        q = sponsor_sign_returns(b, bids, idx, k, changes, returns);
        if (q < 0)
                return log_error_errno(q, "Slice %s: failed to sign the change of its losing bids, settling later: %m",
                                       slice);
        q = batch_open(b->batch);
        if (q >= 0)
                q = ledger_bids_settle(b->ledger, slice, winner < n ? bids[winner].n : 0, returns, k,
                                       now_usec(CLOCK_REALTIME));
        if (q < 0)
                return log_error_errno(q, "Slice %s: failed to settle its bids, settling later: %m", slice);

        if (winner < n) {
                const struct ledger_bid *w = &bids[winner];

                log_info("Slice %s: bid %" PRIu64 " of %s %s won the sponsorship of the period from %" PRIu64
                         " to %" PRIu64 " and was credited to it.", slice, w->n, fmt_money(buf, w->amount), cur,
                         w->start_usec / USEC_PER_SEC, w->end_usec / USEC_PER_SEC);
                snprintf(reason, sizeof(reason), "bid %" PRIu64 " won the sponsorship: %s %s credited", w->n,
                         fmt_money(buf, w->amount), cur);
                sponsor_emit(b, w, EVENT_SPONSOR, reason);
                struct slice *s = slices_find(b->slices, slice);
                if (s) {
                        /* As the ledger now has it; reread after the commit. */
                        (void) money_add(s->account.l.balance, w->amount, &s->account.l.balance);
                        (void) money_add(s->account.l.credited, w->amount, &s->account.l.credited);
                        set_dirty(b, s);
                        if (s->account.enforce.state != ENFORCE_OK)
                                enforce_restore(&b->enforce, s);
                        enforce_slice(b, s);
                }
        }
        for (size_t i = 0; i < k; i++) {
                const struct ledger_bid *l = &bids[idx[i]];

                log_info("Slice %s: bid %" PRIu64 " of %s %s %s; paid back as change.", slice, l->n,
                         fmt_money(buf, l->amount), cur, why);
                snprintf(reason, sizeof(reason), "bid %" PRIu64 " %s: %s %s paid back as change to its bidder", l->n,
                         why, fmt_money(buf, l->amount), cur);
                sponsor_emit(b, l, EVENT_BID_REFUNDED, reason);
        }
        return 0;
}

/* Every open bid of slice paid back (its release). */
static int sponsor_return_all(struct billing *b, const char *slice) {
        _cleanup_(freep) struct ledger_bid *bids = NULL;
        size_t n = 0;
        int q;

        q = ledger_bids_open(b->ledger, slice, &bids, &n);
        if (q < 0 || n == 0)
                return q;
        return sponsor_settle_bids(b, slice, bids, n, n, "lost: the slice was released");
}

/* The open bids of sp's slice whose period has started, settled period
 * by period (the highest bid wins, of equal ones the earliest); then
 * what the workload sees, when a period began. */
static int sponsor_settle(const struct ledger_sponsorship *sp, void *userdata) {
        struct billing *b = userdata;
        _cleanup_(freep) struct ledger_bid *bids = NULL;
        int64_t amounts[LEDGER_BIDS_OPEN_MAX];
        uint64_t now = now_usec(CLOCK_REALTIME), current;
        size_t n = 0, i = 0;
        bool changed = false;
        int q;

        q = ledger_bids_open(b->ledger, sp->slice, &bids, &n);
        if (q < 0)
                return log_error_errno(q, "Slice %s: failed to read its bids: %m", sp->slice);
        while (i < n && bids[i].start_usec <= now) {
                size_t j = i;

                while (j < n && bids[j].start_usec == bids[i].start_usec) {
                        amounts[j - i] = bids[j].amount;
                        j++;
                }
                if (sponsor_settle_bids(b, sp->slice, bids + i, j - i, sponsor_winner(amounts, j - i),
                                        "lost its period") < 0)
                        break; /* said; the next pass tries again */
                changed = true;
                i = j;
        }
        current = sponsor_current_start(sp->start_usec, sp->period_usec, now);
        if (current > sp->settled_usec && batch_open(b->batch) >= 0 &&
            ledger_sponsor_settled(b->ledger, sp->slice, current) >= 0)
                changed = true;
        if (changed)
                sponsor_env_refresh(b, sp->slice, now);
        return 0;
}

struct sponsor_next {
        uint64_t now, next;
};

static int sponsor_next(const struct ledger_sponsorship *sp, void *userdata) {
        struct sponsor_next *nx = userdata;

        nx->next = MIN(nx->next, sponsor_next_start(sp->start_usec, sp->period_usec, nx->now));
        return 0;
}

/* The timer armed for the next period's start of any slice offered. */
static void sponsor_arm(struct billing *b) {
        struct sponsor_next nx = { .now = now_usec(CLOCK_REALTIME), .next = UINT64_MAX };
        int q;

        q = ledger_sponsorships_foreach(b->ledger, sponsor_next, &nx);
        if (q < 0 || nx.next == UINT64_MAX) {
                (void) sd_event_source_set_enabled(b->sponsor_timer, SD_EVENT_OFF);
                return;
        }
        q = sd_event_source_set_time(b->sponsor_timer, nx.next);
        if (q >= 0)
                q = sd_event_source_set_enabled(b->sponsor_timer, SD_EVENT_ONESHOT);
        if (q < 0)
                log_error_errno(q, "Failed to arm the sponsorship timer: %m");
}

static void sponsor_pass(struct billing *b) {
        int q;

        q = ledger_sponsorships_foreach(b->ledger, sponsor_settle, b);
        if (q < 0)
                log_error_errno(q, "Failed to settle the sponsorships, trying at the next period: %m");
        sponsor_arm(b);
}

static int on_sponsor_timer(sd_event_source *source _unused_, uint64_t usec _unused_, void *userdata) {
        sponsor_pass(userdata);
        return 0;
}

static int sponsor_timer_new(struct billing *b) {
        int r;

        /* Periods are wall-clock times: CLOCK_REALTIME. */
        r = sd_event_add_time(b->event, &b->sponsor_timer, CLOCK_REALTIME, UINT64_MAX, 10 * USEC_PER_MSEC,
                              on_sponsor_timer, b);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(b->sponsor_timer, SD_EVENT_OFF);
}

/* The slice's row, for an op on its sponsorship: -ENOENT and -ESTALE
 * said. */
static int sponsor_slice(struct billing *b, const char *id, struct ledger_slice *ret, const char *nothing,
                         char **ret_error) {
        int q;

        q = ledger_slice_get(b->ledger, id, ret);
        if (q == -ENOENT)
                return refuse(ret_error, q, "No funded slice %s; %s", id, nothing);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));
        if (ret->state == LEDGER_SLICE_RELEASED)
                return refuse(ret_error, -ESTALE, "Slice %s was released: it takes no sponsors; %s", id, nothing);
        return 0;
}

int billing_sponsor_offer(struct billing *b, const struct billing_request *r, struct ledger_sponsorship *ret,
                          char **ret_error) {
        const char *id = r->fields->slice;
        char what[64], buf[MONEY_FORMAT_MAX];
        struct ledger_sponsorship sp = {};
        struct ledger_slice row;
        uint64_t now = now_usec(CLOCK_REALTIME);
        int q;

        q = sponsor_slice(b, id, &row, "nothing was offered", ret_error);
        if (q < 0)
                return q;
        if (!keys_check_token(row.owner_hash, r->fields->token) && !r->operator) {
                snprintf(what, sizeof(what), "offering slice %s to sponsors", id);
                return billing_refuse_token(r, id, r->fields->token, ret_error, what);
        }
        /* The forms were checked at the edge (common/request.c). */
        if (parse_duration(r->fields->period, &sp.period_usec) < 0 || money_parse(r->fields->min, &sp.min) < 0)
                return refuse(ret_error, -EINVAL, "Invalid period or least bid");
        if (r->fields->start > (uint64_t) INT64_MAX / USEC_PER_SEC)
                return refuse(ret_error, -EINVAL, "Field 'start' is too far ahead");
        snprintf(sp.slice, sizeof(sp.slice), "%s", id);
        /* By default the first period starts one period from now: the
         * bidders have that long. */
        sp.start_usec = r->fields->start > 0 ? r->fields->start * USEC_PER_SEC : now + sp.period_usec;
        sp.offered_usec = now;
        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));
        q = ledger_sponsor_offer(b->ledger, &sp);
        if (q == -EBUSY)
                return refuse(ret_error, q, "Slice %s has open bids: they were made against the offer as it is; "
                              "offer anew once their period has started", id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to record the offer: %s", strerror(-q));
        log_money(b, r, id, row.balance, NULL, "Slice %s offered to sponsors: periods of %" PRIu64 " s from %" PRIu64
                  ", bids from %s %s.", id, sp.period_usec / USEC_PER_SEC, sp.start_usec / USEC_PER_SEC,
                  fmt_money(buf, sp.min), b->config->currency);
        *ret = sp;
        sponsor_arm(b);
        return 0;
}

/* Everything a bid is refused for before its vouchers move, into ret
 * (and v, row): also what a fleet's host checks before it claims them. */
static int bid_prepare(struct billing *b, const struct billing_request *r, struct ledger_bid *ret,
                       struct voucher v[static REQUEST_VOUCHERS_MAX], struct ledger_slice *row, char **ret_error) {
        const char *id = r->fields->slice, *cur = b->config->currency;
        const size_t n = r->fields->n_vouchers;
        char have[MONEY_FORMAT_MAX], min[MONEY_FORMAT_MAX];
        struct ledger_sponsorship sp;
        uint64_t now = now_usec(CLOCK_REALTIME);
        int64_t amount;
        int q, keyed;

        q = sponsor_slice(b, id, row, "the voucher was not spent", ret_error);
        if (q < 0)
                return q;
        q = ledger_sponsorship_get(b->ledger, id, &sp);
        if (q == -ENOENT)
                return refuse(ret_error, -ENOENT, "Slice %s is not offered to sponsors (prepay sponsor offer); the "
                              "voucher was not spent", id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));
        *ret = (struct ledger_bid) {};
        keyed = read_funder(r->fields, ret->funder, ret_error);
        if (keyed < 0)
                return keyed;
        q = billing_read_vouchers(b, r->fields, r->checked, v, &amount, ret_error);
        if (q < 0)
                return q;
        if (amount < sp.min)
                return refuse(ret_error, -EDOM, "A bid of %s %s is below the least this slice takes, %s %s; %s",
                              fmt_money(have, amount), cur, fmt_money(min, sp.min), cur,
                              n > 1 ? "none of the vouchers was spent" : "the voucher was not spent");

        snprintf(ret->slice, sizeof(ret->slice), "%s", id);
        snprintf(ret->name, sizeof(ret->name), "%s", r->fields->name);
        snprintf(ret->url, sizeof(ret->url), "%s", strempty(r->fields->url));
        ret->keyed = keyed > 0;
        ret->amount = amount;
        ret->start_usec = sponsor_next_start(sp.start_usec, sp.period_usec, now);
        ret->end_usec = ret->start_usec + sp.period_usec;
        ret->time_usec = now;
        return 0;
}

int billing_sponsor_bid_check(struct billing *b, const struct billing_request *r, struct ledger_bid *ret,
                              struct voucher ret_vouchers[static REQUEST_VOUCHERS_MAX], char **ret_error) {
        struct ledger_slice row;

        return bid_prepare(b, r, ret, ret_vouchers, &row, ret_error);
}

int billing_sponsor_bid(struct billing *b, const struct billing_request *r, struct ledger_bid *ret,
                        char **ret_error) {
        const char *id = r->fields->slice, *cur = b->config->currency;
        const size_t n = r->fields->n_vouchers;
        char have[MONEY_FORMAT_MAX];
        struct voucher v[REQUEST_VOUCHERS_MAX];
        struct ledger_slice row;
        uint64_t number = 0;
        int q;

        q = bid_prepare(b, r, ret, v, &row, ret_error);
        if (q >= 0)
                q = fleet_check_claimed(b, r, v, n, ret_error);
        if (q < 0)
                return q;
        q = batch_open(b->batch);
        if (q < 0)
                return refuse(ret_error, q, "The ledger cannot be written: %s", strerror(-q));
        q = ledger_bid(b->ledger, v, n, ret, r->fields->request_id, ret->time_usec, &number);
        if (q >= 0)
                q = fleet_credited(b, r, v, n);
        redeemed(q, n);
        if (q == -EUSERS)
                return refuse(ret_error, q, "Slice %s has %d open bids, the most it takes; %s", id,
                              LEDGER_BIDS_OPEN_MAX, n > 1 ? "none of the vouchers was spent" :
                              "the voucher was not spent");
        if (q < 0)
                return refuse(ret_error, q, "Bid on slice %s refused: %s; %s", id, redeem_error(q),
                              n > 1 ? "none of the vouchers was spent" : "the voucher was not spent");
        ret->n = number;
        log_money(b, r, id, row.balance, NULL, "Slice %s: bid %" PRIu64 " of %s %s for the period from %" PRIu64
                  ", in escrow.", id, number, fmt_money(have, ret->amount), cur, ret->start_usec / USEC_PER_SEC);
        return 0;
}

int billing_sponsor_outcome(struct billing *b, const struct billing_request *r, struct ledger_bid *ret,
                            char **ret_error) {
        const char *id = r->fields->slice;
        int q;

        q = ledger_bid_get(b->ledger, id, r->fields->bid, ret);
        /* The same answer for a bid that does not exist and a wrong
         * token: a token is what proves the bid is one's own. */
        if (q == -ENOENT || (q >= 0 && !keys_check_bid_token(b->keys, id, r->fields->bid, r->fields->token)))
                return refuse(ret_error, -EPERM, "Permission denied: no bid %" PRIu64 " on slice %s with that bid "
                              "token", r->fields->bid, id);
        if (q < 0)
                return refuse(ret_error, q, "Failed to read the ledger: %s", strerror(-q));
        return 0;
}

void billing_bid_token(struct billing *b, const char *slice, uint64_t n, char ret[static OWNER_TOKEN_MAX]) {
        keys_make_bid_token(b->keys, slice, n, ret);
}

int billing_sponsorship(struct billing *b, const char *slice, struct billing_sponsorship *ret) {
        uint64_t now = now_usec(CLOCK_REALTIME);
        int q;

        *ret = (struct billing_sponsorship) {};
        q = ledger_sponsorship_get(b->ledger, slice, &ret->offer);
        if (q < 0)
                return q;
        q = ledger_bids_open_count(b->ledger, slice, &ret->bids);
        if (q < 0)
                return q;
        ret->next_start_usec = sponsor_next_start(ret->offer.start_usec, ret->offer.period_usec, now);
        q = ledger_bid_current(b->ledger, slice, now, &ret->current);
        if (q < 0 && q != -ENOENT)
                return q;
        ret->has_current = q >= 0;
        (void) sponsor_env_dir(b, slice, ret->env_dir, sizeof(ret->env_dir), NULL);
        return 0;
}

/* ---- quote ---- */

int billing_quote(struct billing *b, const struct request *f, struct billing_quote *ret, char **ret_error) {
        const struct config *cfg = b->config;
        /* Checked by request_decode(): a negative, float or oversized
         * one was refused, never taken for "none". */
        struct billing_quote q = {
                .cpus_milli = f->cpus_milli,
                .memory_max = f->memory_max,
                .duration_usec = f->duration_usec,
        };
        struct rate_card rates = cfg->rates;

        /* The size "prepay run" is priced at when it asks none. */
        if (q.cpus_milli == 0)
                q.cpus_milli = b->slices->max_cpus_milli;
        if (q.memory_max == 0)
                q.memory_max = cfg->default_memory_max;
        if (q.duration_usec == 0)
                q.duration_usec = cfg->min_runtime_usec;

        if (f->disk_size && pricing_with_disk(&cfg->rates, cfg->disk_gib_hour, f->disk_size, &rates) < 0)
                return refuse(ret_error, -ERANGE, "That disk does not fit in a 64-bit amount of money");
        if (pricing_quote(&rates, &(struct pricing_size) { .cpus_milli = q.cpus_milli, .memory_bytes = q.memory_max },
                          q.duration_usec, q.items, &q.total) < 0)
                return refuse(ret_error, -ERANGE, "That quote does not fit in a 64-bit amount of money");
        q.host_id = keys_host_id(b->keys);
        keys_host_public_text(b->keys, q.host_key);
        *ret = q;
        return 0;
}

/* ---- set-up ---- */

/* What the registry asks of the money side (struct slices_callbacks). */
static void slices_account_info(struct slice *s, struct slice_account_info *ret, void *userdata) {
        account_info(userdata, s, ret);
}

static void slices_sampled(struct slice *s, void *userdata) {
        billing_sampled(userdata, s);
}

static void slices_vanished(struct slice *s, void *userdata) {
        slice_vanished(userdata, s);
}

static void slices_freed(struct slice *s, void *userdata) {
        slice_freed(userdata, s);
        /* Here, not in slice_freed(): a released slice is reread after
         * the commit until it is gone. */
        link_del(&s->account.dirty_link, dirty_link);
        link_del(&s->account.pending_link, pending_link);
}

static const struct slices_callbacks slices_callbacks = {
        .account_info = slices_account_info,
        .sampled = slices_sampled,
        .vanished = slices_vanished,
        .freed = slices_freed,
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct billing *, billing_free);

int billing_new(const struct billing_context *ctx, struct billing **ret) {
        _cleanup_(billing_freep) struct billing *b = NULL;
        char public_key[CRYPTO_PUBKEY_TEXT_MAX];
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_oom();
        b->config = ctx->config;
        b->event = ctx->event;
        b->slices = ctx->slices;
        b->meter = ctx->meter;
        b->batch = ctx->batch;
        b->ledger = batch_ledger(ctx->batch);
        b->keys = ctx->keys;
        b->events = ctx->events;
        b->changed = ctx->changed;
        b->userdata = ctx->userdata;
        b->enforce = (struct enforce) {
                .event = ctx->event,
                .config = ctx->config,
                .max_cpus_milli = ctx->slices->max_cpus_milli,
                .cb = &enforce_callbacks,
                .userdata = b,
        };

        r = sd_event_add_time_relative(b->event, &b->flush_timer, CLOCK_MONOTONIC, BILLING_FLUSH_USEC,
                                       BILLING_FLUSH_USEC / 20, on_flush_timer, b);
        if (r < 0)
                return log_error_errno(r, "Failed to set up billing's event sources: %m");

        r = sponsor_timer_new(b);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the sponsorship timer: %m");

        r = verify_pool_new(b->event, verify_threads(b->config->verify_threads), VERIFY_JOBS_MAX, &b->verify);
        if (r < 0)
                return r;

        if (b->config->ledger && b->config->ledger[0]) {
                r = fleet_new(&(struct fleet_context) {
                                      .event = b->event,
                                      .conninfo = b->config->ledger,
                                      .host_id = keys_host_id(b->keys),
                                      .ledger_path = ctx->ledger_path,
                                      .fleet_id = b->config->fleet_id,
                                      .public_key = keys_host_public_text(b->keys, public_key),
                                      .fleet_keys = on_fleet_keys,
                                      .unclaimed = on_unclaimed,
                                      .userdata = b,
                              },
                              &b->fleet);
                if (r < 0)
                        return r;
                log_info("Ledger: a fleet's, as host %s; vouchers are spent through the fleet database; change "
                         "is bound to %s.",
                         keys_host_id(b->keys), keys_change_audience(b->keys));
                /* Nothing is on its way yet: every intent left is a claim
                 * from before the stop that no credit followed. */
                fleet_resolve(b);
        }

        batch_set_committed(b->batch, on_committed, b);
        b->slices->cb = &slices_callbacks;
        b->slices->userdata = b;
        *ret = TAKE_PTR(b);
        return 0;
}

struct reconcile {
        struct billing *billing;
        unsigned kept;
};

static int reconcile_ledger_slice(const struct ledger_slice *l, void *userdata) {
        struct reconcile *rc = userdata;
        struct billing *b = rc->billing;

        if (slices_find(b->slices, l->id) || l->state != LEDGER_SLICE_ACTIVE)
                return 0;
        log_warning("Slice %s vanished while the daemon was not running; its balance is kept for its owner.",
                    l->id);
        if (batch_open(b->batch) >= 0)
                (void) ledger_keep(b->ledger, l->id, now_usec(CLOCK_REALTIME));
        rc->kept++;
        return 0;
}

int billing_reconcile(struct billing *b) {
        struct reconcile rc = { .billing = b };
        struct slice *next;
        int r;

        for (struct slice *s = b->slices->list; s; s = next) {
                struct ledger_slice l;

                next = s->next;
                if (!s->account.funded)
                        continue;
                r = ledger_slice_get(b->ledger, s->id, &l);
                if (r == -ENOENT) {
                        log_warning("Slice %s: its funding was never committed (the daemon stopped first), "
                                    "removing it.", s->id);
                        (void) slices_destroy(b->slices, s);
                        continue;
                }
                if (r < 0)
                        return log_error_errno(r, "Failed to read slice %s from the ledger: %m", s->id);
                ledger_slice_figures_of(&l, &s->account.l);
                if (l.state == LEDGER_SLICE_RELEASED) {
                        log_info("Slice %s was released before the daemon stopped, removing its cgroups.", s->id);
                        (void) slices_destroy(b->slices, s);
                        continue;
                }
                /* The memory integral in the state file may be older than
                 * what was billed: never bill that stretch twice. */
                if (s->usage.memory_byte_sec < l.billed[RESOURCE_MEMORY])
                        s->usage.memory_byte_sec = l.billed[RESOURCE_MEMORY];
                s->account.enforce.billing = b;
        }

        r = ledger_slice_foreach(b->ledger, reconcile_ledger_slice, &rc);
        if (r < 0)
                return log_error_errno(r, "Failed to read the ledger's slices: %m");

        /* Usage while the daemon was down is charged now. */
        for (struct slice *s = b->slices->list; s; s = s->next)
                if (s->account.funded)
                        (void) charge_slice(b, s);
        r = batch_commit(b->batch);
        if (r < 0)
                return r;

        /* Then each is enforced as if the daemon had never gone: thawed
         * if OnDaemonStop=freeze froze it and money is left, its grace
         * running on from when it was frozen. */
        for (struct slice *s = b->slices->list; s; s = next) {
                struct slice_enforce *e = &s->account.enforce;

                next = s->next;
                if (!s->account.funded || !s->handle)
                        continue;
                enforce_resume(&b->enforce, s);
                e->tx_grant = e->rx_grant = METER_GRANT_UNLIMITED;
                update_grants(b, s, true);
                enforce_slice(b, s);
        }
        /* Periods that started while the daemon was down are settled
         * now, and the timer armed for the next. */
        sponsor_pass(b);
        return 0;
}

void billing_free(struct billing *b) {
        if (!b)
                return;
        if (b->batch) {
                for (struct slice *s = b->slices->list; s; s = s->next)
                        if (s->account.funded)
                                (void) charge_slice(b, s);
                (void) batch_commit(b->batch);
                batch_set_committed(b->batch, NULL, NULL);
        }
        if (b->slices && b->slices->userdata == b)
                b->slices->cb = NULL;
        sd_event_source_disable_unref(b->flush_timer);
        sd_event_source_disable_unref(b->sponsor_timer);
        verify_pool_free(b->verify);
        /* Attempts on their way keep their intents on disk: the next
         * start takes their claims back. */
        while (b->attempts) {
                struct fleet_attempt *a = b->attempts;

                b->attempts = a->next;
                free(a);
        }
        while (b->waiters)
                waiter_free(b, b->waiters);
        fleet_free(b->fleet);
        free(b);
}
