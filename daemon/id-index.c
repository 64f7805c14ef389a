/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "id-index.h"

#define ID_INDEX_MIN_BUCKETS 64

/* FNV-1a: ids are short; slice ids are random already, other keys need
 * not be. */
static uint64_t hash_key(const char *s) {
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * UINT64_C(0x100000001b3);
        return h;
}

static size_t bucket_of(const struct id_index *x, const char *key) {
        return (size_t) (hash_key(key) & (x->n_buckets - 1));
}

int id_index_init(struct id_index *x) {
        struct id_index_node **b = calloc(ID_INDEX_MIN_BUCKETS, sizeof(*b));

        if (!b)
                return -ENOMEM;
        *x = (struct id_index) { .buckets = b, .n_buckets = ID_INDEX_MIN_BUCKETS };
        return 0;
}

void id_index_done(struct id_index *x) {
        free(x->buckets);
        *x = (struct id_index) {};
}

/* Twice the buckets, every node moved over; without memory, as it was. */
static void grow(struct id_index *x) {
        size_t n = x->n_buckets * 2;
        struct id_index_node **b;

        if (n < x->n_buckets)
                return;
        b = calloc(n, sizeof(*b));
        if (!b)
                return;
        for (size_t i = 0; i < x->n_buckets; i++)
                while (x->buckets[i]) {
                        struct id_index_node *node = x->buckets[i];
                        size_t j = (size_t) (hash_key(node->key) & (n - 1));

                        x->buckets[i] = node->next;
                        node->next = b[j];
                        b[j] = node;
                }
        free(x->buckets);
        x->buckets = b;
        x->n_buckets = n;
}

struct id_index_node *id_index_get(const struct id_index *x, const char *key) {
        if (x->n_buckets == 0)
                return NULL;
        for (struct id_index_node *node = x->buckets[bucket_of(x, key)]; node; node = node->next)
                if (strcmp(node->key, key) == 0)
                        return node;
        return NULL;
}

int id_index_put(struct id_index *x, struct id_index_node *node) {
        size_t b;

        if (x->n_buckets == 0)
                return -ENOMEM;
        if (id_index_get(x, node->key))
                return -EEXIST;
        if (x->n >= x->n_buckets)
                grow(x);
        b = bucket_of(x, node->key);
        node->next = x->buckets[b];
        x->buckets[b] = node;
        x->n++;
        return 0;
}

void id_index_remove(struct id_index *x, struct id_index_node *node) {
        for (struct id_index_node **p = &x->buckets[bucket_of(x, node->key)]; *p; p = &(*p)->next)
                if (*p == node) {
                        *p = node->next;
                        node->next = NULL;
                        x->n--;
                        return;
                }
}
