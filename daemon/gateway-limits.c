/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "gateway-limits.h"

/* Tokens are counted in billionths: a rate of rate_milli thousandths per
 * second is then exactly rate_milli billionths per microsecond, so
 * refills lose nothing to rounding however often they come. */
#define TOKEN UINT64_C(1000000000)
#define NONE SIZE_MAX

struct entry {
        char key[LIMITS_KEY_MAX];
        uint64_t tokens; /* in 1/TOKEN */
        uint64_t updated_usec;
        size_t hash_next;          /* the next entry of this hash chain */
        size_t lru_prev, lru_next; /* older, newer */
};

struct limits {
        uint64_t rate_milli, burst;
        size_t capacity, used;
        size_t *heads; /* n_heads chains, NONE-terminated */
        size_t n_heads;
        size_t oldest, newest;
        struct entry entries[];
};

/* FNV-1a: keys are short, and an attacker who picks addresses to collide
 * only lengthens a chain of a bounded table. */
static size_t key_hash(const char *key) {
        uint64_t h = UINT64_C(14695981039346656037);

        for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
                h ^= *p;
                h *= UINT64_C(1099511628211);
        }
        return (size_t) h;
}

int limits_new(size_t capacity, uint64_t rate_milli, uint64_t burst, struct limits **ret) {
        struct limits *l;
        size_t n = 1;

        if (capacity == 0 || burst == 0 || capacity > SIZE_MAX / 4 / sizeof(struct entry) ||
            burst > UINT64_MAX / TOKEN)
                return -EINVAL;
        while (n < capacity)
                n <<= 1;

        l = calloc(1, sizeof(*l) + capacity * sizeof(struct entry));
        if (!l)
                return -ENOMEM;
        l->heads = malloc(n * sizeof(size_t));
        if (!l->heads) {
                free(l);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n; i++)
                l->heads[i] = NONE;
        l->n_heads = n;
        l->capacity = capacity;
        l->rate_milli = rate_milli;
        l->burst = burst;
        l->oldest = l->newest = NONE;
        *ret = l;
        return 0;
}

void limits_free(struct limits *l) {
        if (!l)
                return;
        free(l->heads);
        free(l);
}

size_t limits_size(const struct limits *l) {
        return l->used;
}

static void lru_unlink(struct limits *l, size_t i) {
        struct entry *e = l->entries + i;

        if (e->lru_prev != NONE)
                l->entries[e->lru_prev].lru_next = e->lru_next;
        else
                l->oldest = e->lru_next;
        if (e->lru_next != NONE)
                l->entries[e->lru_next].lru_prev = e->lru_prev;
        else
                l->newest = e->lru_prev;
}

static void lru_append(struct limits *l, size_t i) {
        struct entry *e = l->entries + i;

        e->lru_prev = l->newest;
        e->lru_next = NONE;
        if (l->newest != NONE)
                l->entries[l->newest].lru_next = i;
        else
                l->oldest = i;
        l->newest = i;
}

static void hash_unlink(struct limits *l, size_t i) {
        size_t *p = &l->heads[key_hash(l->entries[i].key) & (l->n_heads - 1)];

        while (*p != NONE && *p != i)
                p = &l->entries[*p].hash_next;
        if (*p == i)
                *p = l->entries[i].hash_next;
}

static size_t entry_find(struct limits *l, const char *key) {
        for (size_t i = l->heads[key_hash(key) & (l->n_heads - 1)]; i != NONE; i = l->entries[i].hash_next)
                if (streq(l->entries[i].key, key))
                        return i;
        return NONE;
}

/* A new entry for key with a full bucket: a free slot, else the least
 * recently used one's. */
static size_t entry_add(struct limits *l, const char *key, uint64_t now_usec) {
        size_t i, h;

        if (l->used < l->capacity)
                i = l->used++;
        else {
                i = l->oldest;
                lru_unlink(l, i);
                hash_unlink(l, i);
        }

        struct entry *e = l->entries + i;
        snprintf(e->key, sizeof(e->key), "%s", key);
        e->tokens = l->burst * TOKEN;
        e->updated_usec = now_usec;
        h = key_hash(e->key) & (l->n_heads - 1);
        e->hash_next = l->heads[h];
        l->heads[h] = i;
        lru_append(l, i);
        return i;
}

static void entry_refill(const struct limits *l, struct entry *e, uint64_t now_usec) {
        uint64_t elapsed, gained, full = l->burst * TOKEN;

        /* The clock is monotonic, but a caller's "now" taken before
         * another's may come second. */
        if (now_usec <= e->updated_usec)
                return;
        elapsed = now_usec - e->updated_usec;
        e->updated_usec = now_usec;
        if (!u64_mul(elapsed, l->rate_milli, &gained))
                gained = UINT64_MAX;
        e->tokens = (gained >= full - MIN(e->tokens, full)) ? full : e->tokens + gained;
}

uint64_t limits_take(struct limits *l, const char *key, uint64_t now_usec) {
        char k[LIMITS_KEY_MAX];
        struct entry *e;
        uint64_t missing, wait;
        size_t i;

        if (l->rate_milli == 0)
                return 0;

        snprintf(k, sizeof(k), "%s", key);
        i = entry_find(l, k);
        if (i == NONE)
                i = entry_add(l, k, now_usec);
        else {
                lru_unlink(l, i);
                lru_append(l, i);
        }
        e = l->entries + i;
        entry_refill(l, e, now_usec);

        if (e->tokens >= TOKEN) {
                e->tokens -= TOKEN;
                return 0;
        }
        /* usec until one token, rounded up to whole seconds */
        missing = TOKEN - e->tokens;
        wait = (missing + l->rate_milli - 1) / l->rate_milli;
        return MAX((wait + USEC_PER_SEC - 1) / USEC_PER_SEC, (uint64_t) 1);
}
