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

enum enforce_step enforcer_decide(const struct enforce_view *v) {
        switch (v->state) {
        case ENFORCE_THROTTLED:
        case ENFORCE_FROZEN:
        case ENFORCE_KILLED:
                return v->balance > 0 ? ENFORCE_STEP_RESTORE : ENFORCE_STEP_NONE;
        case ENFORCE_LOW:
                return v->balance <= 0 ? ENFORCE_STEP_EXHAUST : ENFORCE_STEP_NONE;
        case ENFORCE_OK:
        default:
                if (v->balance <= 0)
                        return ENFORCE_STEP_EXHAUST;
                /* time left = balance / rate < LowBalanceSec, without dividing. */
                if (v->burn_rate > 0 &&
                    (unsigned __int128) v->balance * USEC_PER_SEC <
                            (unsigned __int128) v->low_balance_usec * (uint64_t) v->burn_rate)
                        return ENFORCE_STEP_LOW;
                return ENFORCE_STEP_NONE;
        }
}
