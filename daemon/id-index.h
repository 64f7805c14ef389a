/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* Things found by a string id in constant time: a chained hash table
 * whose nodes live in the things themselves (struct slice embeds one,
 * keyed by its id), so that adding and removing allocate nothing. The
 * table doubles as it fills; should that allocation fail, the chains
 * just grow longer. Pure: tests/unit/test-id-index.c drives it. */

struct id_index_node {
        struct id_index_node *next;
        const char *key; /* the thing's own id, which must not change while indexed */
};

struct id_index {
        struct id_index_node **buckets;
        size_t n_buckets; /* a power of two */
        size_t n;
};

/* An empty index: 0 or -ENOMEM. */
int id_index_init(struct id_index *x);
/* Frees the table, not the things. Accepts an index never initialised
 * (all zero). */
void id_index_done(struct id_index *x);
/* Adds node (its key set): -EEXIST when that key is there already. */
int id_index_put(struct id_index *x, struct id_index_node *node);
struct id_index_node *id_index_get(const struct id_index *x, const char *key);
/* Removes node, which must be in x. */
void id_index_remove(struct id_index *x, struct id_index_node *node);
