/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who may do what on the control socket (daemon/control.c): a peer's
 * rights from its uid, primary gid and supplementary gids, and whether
 * one more connection or event stream is taken. The socket, the group
 * lookups and the refusals run in tests/integration/test-rights.sh and
 * test-limits.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/util.h"
#include "control.h"

#define ADMIN 990
#define CLIENT 991

static enum control_rights rights(uid_t uid, gid_t gid, const gid_t *groups, size_t n, bool everyone) {
        return control_rights_of(uid, gid, groups, n, ADMIN, CLIENT, everyone);
}

static void test_root_and_admins(void **state _unused_) {
        const gid_t admin[] = { 100, ADMIN }, both[] = { CLIENT, ADMIN };

        /* root, whatever its groups */
        assert_int_equal(rights(0, 0, NULL, 0, false), CONTROL_OPERATOR);
        assert_int_equal(rights(0, 1234, NULL, 0, false), CONTROL_OPERATOR);
        /* the admin group, as primary or supplementary group */
        assert_int_equal(rights(1000, ADMIN, NULL, 0, false), CONTROL_OPERATOR);
        assert_int_equal(rights(1000, 100, admin, ARRAY_SIZE(admin), false), CONTROL_OPERATOR);
        assert_int_equal(rights(1000, 100, both, ARRAY_SIZE(both), false), CONTROL_OPERATOR);
        /* a gid that only looks like one: the uid is not a gid */
        assert_int_equal(rights(ADMIN, 100, NULL, 0, false), CONTROL_NONE);
}

static void test_clients(void **state _unused_) {
        const gid_t client[] = { 100, 27, CLIENT }, other[] = { 100, 27, 992 };

        assert_int_equal(rights(1000, CLIENT, NULL, 0, false), CONTROL_CLIENT);
        assert_int_equal(rights(1000, 100, client, ARRAY_SIZE(client), false), CONTROL_CLIENT);
        assert_int_equal(rights(1000, 100, other, ARRAY_SIZE(other), false), CONTROL_NONE);
        assert_int_equal(rights(1000, 100, NULL, 0, false), CONTROL_NONE);
        /* groups beyond n are not looked at */
        assert_int_equal(rights(1000, 100, client, 2, false), CONTROL_NONE);
        /* ClientGroup= empty: everyone is a client, operators stay so */
        assert_int_equal(rights(1000, 100, other, ARRAY_SIZE(other), true), CONTROL_CLIENT);
        assert_int_equal(rights(1000, ADMIN, NULL, 0, true), CONTROL_OPERATOR);
}

/* A group that does not exist (GID_INVALID) has no members, not even a
 * peer whose gid reads as (gid_t) -1. */
static void test_missing_groups(void **state _unused_) {
        const gid_t odd[] = { GID_INVALID };

        assert_int_equal(control_rights_of(1000, GID_INVALID, odd, 1, GID_INVALID, GID_INVALID, false),
                         CONTROL_NONE);
        assert_int_equal(control_rights_of(1000, ADMIN, NULL, 0, GID_INVALID, CLIENT, false), CONTROL_NONE);
        assert_int_equal(control_rights_of(1000, CLIENT, NULL, 0, GID_INVALID, CLIENT, false), CONTROL_CLIENT);
        assert_int_equal(control_rights_of(0, 0, NULL, 0, GID_INVALID, GID_INVALID, false), CONTROL_OPERATOR);
        assert_int_equal(control_rights_of(1000, 100, NULL, 0, GID_INVALID, GID_INVALID, true), CONTROL_CLIENT);
}

/* 12 places, 4 kept for operators, 3 per uid that is not one. */
static enum control_admission admit(bool operator, uint64_t n, uint64_t n_uid) {
        return control_admit(operator, n, n_uid, 12, 4, 3);
}

static void test_admission(void **state _unused_) {
        assert_int_equal(admit(false, 0, 0), CONTROL_ADMIT);
        assert_int_equal(admit(false, 2, 2), CONTROL_ADMIT);
        assert_int_equal(admit(false, 3, 3), CONTROL_FULL_FOR_USER);
        assert_int_equal(admit(false, 7, 0), CONTROL_ADMIT);
        /* The last 4 places are the operators'. */
        assert_int_equal(admit(false, 8, 0), CONTROL_ONLY_OPERATORS);
        assert_int_equal(admit(false, 11, 0), CONTROL_ONLY_OPERATORS);
        assert_int_equal(admit(true, 8, 8), CONTROL_ADMIT);
        assert_int_equal(admit(true, 11, 11), CONTROL_ADMIT);
        /* Nobody beyond the last place, operators included. */
        assert_int_equal(admit(true, 12, 0), CONTROL_FULL);
        assert_int_equal(admit(false, 12, 0), CONTROL_FULL);
        /* A reserve as large as everything still leaves others one place. */
        assert_int_equal(control_admit(false, 0, 0, 4, 100, 8), CONTROL_ADMIT);
        assert_int_equal(control_admit(false, 1, 0, 4, 100, 8), CONTROL_ONLY_OPERATORS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_root_and_admins),
                cmocka_unit_test(test_clients),
                cmocka_unit_test(test_missing_groups),
                cmocka_unit_test(test_admission),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
