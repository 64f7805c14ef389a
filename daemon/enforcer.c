/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "enforcer.h"

static const char *const action_names[_ENFORCE_ACTION_MAX] = {
        [ENFORCE_ACTION_THROTTLE] = "throttle",
        [ENFORCE_ACTION_FREEZE] = "freeze",
        [ENFORCE_ACTION_KILL] = "kill",
};

static const char *const state_names[_ENFORCE_STATE_MAX] = {
        [ENFORCE_OK] = "ok",
        [ENFORCE_LOW] = "low",
        [ENFORCE_THROTTLED] = "throttled",
        [ENFORCE_FROZEN] = "frozen",
        [ENFORCE_KILLED] = "killed",
};

const char *enforce_action_to_string(enum enforce_action a) {
        return (unsigned) a < _ENFORCE_ACTION_MAX ? action_names[a] : NULL;
}

int enforce_action_from_string(const char *s) {
        for (int i = 0; s && i < _ENFORCE_ACTION_MAX; i++)
                if (streq(s, action_names[i]))
                        return i;
        return -EINVAL;
}

const char *enforce_state_to_string(enum enforce_state s) {
        return (unsigned) s < _ENFORCE_STATE_MAX ? state_names[s] : NULL;
}

int enforce_state_from_string(const char *s) {
        for (int i = 0; s && i < _ENFORCE_STATE_MAX; i++)
                if (streq(s, state_names[i]))
                        return i;
        return -EINVAL;
}

bool enforce_action_allowed(const char *list, enum enforce_action a) {
        const char *name = enforce_action_to_string(a);
        size_t n;

        if (!list || !name)
                return false;
        n = strlen(name);
        for (const char *p = list; *p;) {
                size_t w = strcspn(p, " ");

                if (w == n && strneq(p, name, n))
                        return true;
                p += w;
                p += strspn(p, " ");
        }
        return false;
}

int64_t enforcer_max_burn_rate(const struct rate_card *rc, uint64_t cpus_milli, uint64_t memory_bytes) {
        int64_t items[_RESOURCE_MAX], total;

        /* The cost of one second at full use, rounded up item by item. */
        if (pricing_quote(rc, &(struct pricing_size) { .cpus_milli = cpus_milli, .memory_bytes = memory_bytes },
                          USEC_PER_SEC, items, &total) < 0)
                return INT64_MAX;
        return total;
}

uint64_t enforcer_next_check(int64_t balance, const struct enforce_spend *sp, uint64_t min_usec, uint64_t max_usec) {
        unsigned __int128 t = 0;

        if (sp->max_rate <= 0)
                return max_usec;
        if (balance <= 0)
                return min_usec;
        /* The later of the two bounds: neither rate may be exceeded. */
        if (balance > sp->burst)
                t = (unsigned __int128) (balance - MAX(sp->burst, (int64_t) 0)) * USEC_PER_SEC / (uint64_t) sp->max_rate;
        if (sp->peak_rate > 0)
                t = MAX(t, (unsigned __int128) balance * USEC_PER_SEC / (uint64_t) sp->peak_rate);
        if (t < min_usec)
                return min_usec;
        if (t > max_usec)
                return max_usec;
        return (uint64_t) t;
}

uint64_t enforcer_next_low_check(int64_t balance, const struct enforce_spend *sp, uint64_t low_usec,
                                 uint64_t min_usec, uint64_t max_usec) {
        unsigned __int128 low;
        int64_t rate = MAX(sp->max_rate, sp->peak_rate);

        if (rate <= 0 || low_usec == 0 || balance <= 0)
                return max_usec;
        low = (unsigned __int128) rate * low_usec / USEC_PER_SEC;
        if (low >= (unsigned __int128) balance)
                return max_usec;
        return enforcer_next_check(balance - (int64_t) low, &(struct enforce_spend) { .max_rate = rate }, min_usec,
                                   max_usec);
}

enum enforce_step enforcer_decide(const struct enforce_view *v) {
        switch (v->state) {
        case ENFORCE_THROTTLED:
        case ENFORCE_FROZEN:
        case ENFORCE_KILLED:
                return v->balance > MAX(v->reserve, (int64_t) 0) ? ENFORCE_STEP_RESTORE : ENFORCE_STEP_NONE;
        case ENFORCE_LOW:
                return v->balance <= MAX(v->reserve, (int64_t) 0) ? ENFORCE_STEP_EXHAUST : ENFORCE_STEP_NONE;
        case ENFORCE_OK:
        default:
                if (v->balance <= MAX(v->reserve, (int64_t) 0))
                        return ENFORCE_STEP_EXHAUST;
                /* time left = balance / rate < LowBalanceSec, without dividing. */
                if (v->burn_rate > 0 &&
                    (unsigned __int128) v->balance * USEC_PER_SEC <
                            (unsigned __int128) v->low_balance_usec * (uint64_t) v->burn_rate)
                        return ENFORCE_STEP_LOW;
                return ENFORCE_STEP_NONE;
        }
}

int64_t enforcer_available(int64_t balance, int64_t pending) {
        int64_t v;

        if (!money_sub(balance, pending, &v))
                v = INT64_MIN;
        return v;
}

int64_t enforcer_net_budget(int64_t money, int64_t price_per_gib) {
        unsigned __int128 bytes;

        if (price_per_gib <= 0)
                return ENFORCER_GRANT_UNLIMITED;
        if (money <= 0)
                return 0;
        bytes = ((unsigned __int128) money << 30) / (uint64_t) price_per_gib;
        return bytes >= (unsigned __int128) ENFORCER_GRANT_UNLIMITED ? ENFORCER_GRANT_UNLIMITED - 1 : (int64_t) bytes;
}

int64_t enforcer_price_due(const struct rate_card *rc, const uint64_t billed[static _RESOURCE_MAX],
                           const uint64_t counters[static _RESOURCE_MAX], int64_t due[static _RESOURCE_MAX]) {
        int64_t total = 0;

        for (int r = 0; r < _RESOURCE_MAX; r++) {
                if (pricing_charge(rc, (enum resource) r, billed[r], counters[r], &due[r]) < 0)
                        due[r] = MONEY_AMOUNT_MAX; /* beyond any balance: all of it */
                if (!money_add(total, due[r], &total))
                        total = INT64_MAX;
        }
        return total;
}

void enforcer_burn_push(struct burn_window *w, uint64_t now, int64_t spent) {
        unsigned i = (w->head + w->n) % ENFORCER_BURN_WINDOW;

        if (w->n == ENFORCER_BURN_WINDOW) {
                w->head = (w->head + 1) % ENFORCER_BURN_WINDOW;
                i = (w->head + ENFORCER_BURN_WINDOW - 1) % ENFORCER_BURN_WINDOW;
        } else
                w->n++;
        w->usec[i] = now;
        w->spent[i] = spent;
}

int64_t enforcer_burn_rate(const struct burn_window *w) {
        unsigned first = w->head, last = (w->head + w->n - 1) % ENFORCER_BURN_WINDOW;
        uint64_t dt;
        int64_t spent;

        if (w->n < 2)
                return 0;
        dt = w->usec[last] - w->usec[first];
        spent = w->spent[last] - w->spent[first];
        if (dt == 0 || spent <= 0)
                return 0;
        return (int64_t) MIN((__int128) spent * (__int128) USEC_PER_SEC / dt, (__int128) INT64_MAX);
}

uint64_t enforcer_time_left(int64_t balance, int64_t rate) {
        /* A balance of 10^15 at a micro-unit a second lasts 10^21 us. */
        if (rate <= 0)
                return 0;
        return (uint64_t) MIN((__int128) balance * USEC_PER_SEC / rate, (__int128) INT64_MAX);
}

uint64_t enforcer_cpus_of_limits(uint64_t quota_usec, uint64_t period_usec, uint64_t max_cpus_milli) {
        uint64_t milli;

        if (quota_usec > 0 && period_usec > 0)
                /* Too large to count is as fast as anything can spend. */
                return pricing_cpus_of_quota(quota_usec, period_usec, &milli) < 0 ? UINT64_MAX
                                                                                 : MAX(milli, (uint64_t) 1);
        return max_cpus_milli;
}

uint64_t enforcer_low_cpus(uint64_t milli, uint64_t percent) {
        return MAX(milli / 100 * percent + milli % 100 * percent / 100, (uint64_t) 10);
}

void enforcer_spend(const struct rate_card *rc, uint64_t cpus_milli, uint64_t quota_usec, uint64_t memory_max,
                    uint64_t online_cpus_milli, struct enforce_spend *ret) {
        *ret = (struct enforce_spend) {
                .max_rate = enforcer_max_burn_rate(rc, cpus_milli, memory_max),
        };
        ret->peak_rate = ret->max_rate;
        if (quota_usec > 0) {
                int64_t one_cpu = enforcer_max_burn_rate(rc, 1000, 0);

                ret->peak_rate = enforcer_max_burn_rate(rc, MAX(cpus_milli, online_cpus_milli), memory_max);
                ret->burst = (int64_t) (((unsigned __int128) one_cpu * quota_usec + USEC_PER_SEC - 1) / USEC_PER_SEC);
        }
}
