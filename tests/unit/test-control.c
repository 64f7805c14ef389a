/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who may do what on the control socket (daemon/control.c): a peer's
 * rights from its uid, primary gid and supplementary gids (the gateway's
 * uid a remote peer's), what each may ask, and whether one more
 * connection or event stream is taken. The socket, the group
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
        return control_rights_of(uid, gid, groups, n, ADMIN, CLIENT, everyone, UID_INVALID);
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

        assert_int_equal(control_rights_of(1000, GID_INVALID, odd, 1, GID_INVALID, GID_INVALID, false, UID_INVALID),
                         CONTROL_NONE);
        assert_int_equal(control_rights_of(1000, ADMIN, NULL, 0, GID_INVALID, CLIENT, false, UID_INVALID), CONTROL_NONE);
        assert_int_equal(control_rights_of(1000, CLIENT, NULL, 0, GID_INVALID, CLIENT, false, UID_INVALID), CONTROL_CLIENT);
        assert_int_equal(control_rights_of(0, 0, NULL, 0, GID_INVALID, GID_INVALID, false, UID_INVALID), CONTROL_OPERATOR);
        assert_int_equal(control_rights_of(1000, 100, NULL, 0, GID_INVALID, GID_INVALID, true, UID_INVALID), CONTROL_CLIENT);
}

#define GATEWAY 995

/* The gateway's uid is a remote peer whatever its groups; root never is
 * (GatewayUser=root resolves to no gateway, and uid 0 is checked first
 * anyway); without a gateway that uid is as any other. */
static void test_gateway(void **state _unused_) {
        const gid_t admin[] = { ADMIN }, client[] = { CLIENT };

        assert_int_equal(control_rights_of(GATEWAY, CLIENT, NULL, 0, ADMIN, CLIENT, false, GATEWAY),
                         CONTROL_REMOTE);
        assert_int_equal(control_rights_of(GATEWAY, 100, admin, 1, ADMIN, CLIENT, false, GATEWAY), CONTROL_REMOTE);
        assert_int_equal(control_rights_of(GATEWAY, ADMIN, NULL, 0, ADMIN, CLIENT, true, GATEWAY), CONTROL_REMOTE);
        assert_int_equal(control_rights_of(GATEWAY, 100, NULL, 0, ADMIN, CLIENT, false, GATEWAY), CONTROL_REMOTE);
        assert_int_equal(control_rights_of(0, 0, NULL, 0, ADMIN, CLIENT, false, 0), CONTROL_OPERATOR);
        assert_int_equal(control_rights_of(GATEWAY, 100, client, 1, ADMIN, CLIENT, false, UID_INVALID),
                         CONTROL_CLIENT);
        assert_int_equal(control_rights_of(1000, 100, client, 1, ADMIN, CLIENT, false, GATEWAY), CONTROL_CLIENT);
}

/* What a remote peer may ask (control.h), beside a client's and an
 * operator's. */
static void test_ops(void **state _unused_) {
        static const char *const remote_ok[] = { "quote", "images", "create", "topup", "status",
                                                  "events", "release", "kill" };
        static const char *const remote_no[] = { "list", "attach", "run-unit", "destroy", "reload" };

        for (size_t i = 0; i < ARRAY_SIZE(remote_ok); i++) {
                assert_true(control_op_allowed(CONTROL_REMOTE, remote_ok[i]));
                assert_true(control_op_allowed(CONTROL_CLIENT, remote_ok[i]));
                assert_false(control_op_allowed(CONTROL_NONE, remote_ok[i]));
        }
        for (size_t i = 0; i < ARRAY_SIZE(remote_no); i++) {
                assert_false(control_op_allowed(CONTROL_REMOTE, remote_no[i]));
                assert_true(control_op_allowed(CONTROL_OPERATOR, remote_no[i]));
        }
        assert_true(control_op_allowed(CONTROL_CLIENT, "list"));
        assert_false(control_op_allowed(CONTROL_CLIENT, "reload"));
        assert_false(control_op_allowed(CONTROL_REMOTE, "nonsense"));
        assert_false(control_op_allowed(CONTROL_OPERATOR, "nonsense"));
        assert_false(control_op_allowed(CONTROL_OPERATOR, NULL));
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

/* The gateway is admitted as a uid that is not an operator, with its own
 * cap (GatewayConnections=, GatewayEventStreams=) as per_user: the
 * defaults (128 places, 8 for operators, 32 for the gateway) leave local
 * users room, and the gateway never takes the operators' places. */
static void test_gateway_admission(void **state _unused_) {
        assert_int_equal(control_admit(false, 31, 31, 128, 8, 32), CONTROL_ADMIT);
        assert_int_equal(control_admit(false, 32, 32, 128, 8, 32), CONTROL_FULL_FOR_USER);
        assert_int_equal(control_admit(false, 120, 10, 128, 8, 32), CONTROL_ONLY_OPERATORS);
        /* event streams: 64, of which 16 the gateway's */
        assert_int_equal(control_admit(false, 40, 15, 64, 8, 16), CONTROL_ADMIT);
        assert_int_equal(control_admit(false, 40, 16, 64, 8, 16), CONTROL_FULL_FOR_USER);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_root_and_admins),
                cmocka_unit_test(test_clients),
                cmocka_unit_test(test_missing_groups),
                cmocka_unit_test(test_gateway),
                cmocka_unit_test(test_ops),
                cmocka_unit_test(test_admission),
                cmocka_unit_test(test_gateway_admission),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
