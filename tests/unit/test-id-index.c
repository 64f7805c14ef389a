/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The index of slices by id (daemon/id-index.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "id-index.h"

struct thing {
        char id[20];
        struct id_index_node node;
};

#define N 5000

static struct thing things[N];

static void test_put_get_remove(void **state _unused_) {
        struct id_index x = {};
        struct id_index_node extra = { .key = "s-00000007" };

        /* Never initialised: nothing found, nothing added. */
        assert_null(id_index_get(&x, "s-1"));
        assert_int_equal(id_index_put(&x, &extra), -ENOMEM);
        id_index_done(&x);

        assert_int_equal(id_index_init(&x), 0);
        for (size_t i = 0; i < N; i++) {
                snprintf(things[i].id, sizeof(things[i].id), "s-%08zx", i);
                things[i].node.key = things[i].id;
                assert_int_equal(id_index_put(&x, &things[i].node), 0);
        }
        assert_int_equal(x.n, N);
        /* It grew: chains stay short. */
        assert_true(x.n_buckets >= N);
        /* A second node with a key already there is refused. */
        assert_int_equal(id_index_put(&x, &extra), -EEXIST);

        for (size_t i = 0; i < N; i++)
                assert_ptr_equal(id_index_get(&x, things[i].id), &things[i].node);
        assert_null(id_index_get(&x, "s-ffffffff"));
        assert_null(id_index_get(&x, ""));

        /* Every other one removed: the rest are still found. */
        for (size_t i = 0; i < N; i += 2)
                id_index_remove(&x, &things[i].node);
        assert_int_equal(x.n, N / 2);
        for (size_t i = 0; i < N; i++)
                if (i % 2)
                        assert_ptr_equal(id_index_get(&x, things[i].id), &things[i].node);
                else
                        assert_null(id_index_get(&x, things[i].id));
        /* A removed key may come back. */
        assert_int_equal(id_index_put(&x, &things[0].node), 0);
        assert_ptr_equal(id_index_get(&x, "s-00000000"), &things[0].node);
        id_index_done(&x);
        assert_null(id_index_get(&x, "s-00000000"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_put_get_remove),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
