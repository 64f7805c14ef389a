/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Change bound to a fleet (FleetId=, keys.h): which keys a voucher bound
 * to the fleet is checked against, that the fleet's keys sign nothing
 * else, and that a voucher bound elsewhere is refused naming its
 * audience and this host's fleet. The fleet's keys as the fleet database
 * hands them over: one line each, a bad line skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/util.h"
#include "keys.h"

#define NOW 1800000000

struct fixture {
        struct crypto_key *operator_key, *host_a, *host_b, *stranger;
        struct crypto_keyring *issuers, *fleet;
};

static struct crypto_key *public_of(const struct crypto_key *k) {
        char text[CRYPTO_PUBKEY_TEXT_MAX];
        struct crypto_key *pub = NULL;

        assert_int_equal(crypto_key_from_public_text(crypto_key_public_to_text(k, text), &pub), 0);
        return pub;
}

static int setup(void **state) {
        char a[CRYPTO_PUBKEY_TEXT_MAX], b[CRYPTO_PUBKEY_TEXT_MAX], *text = NULL;
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(crypto_key_generate(&f->operator_key), 0);
        assert_int_equal(crypto_key_generate(&f->host_a), 0);
        assert_int_equal(crypto_key_generate(&f->host_b), 0);
        assert_int_equal(crypto_key_generate(&f->stranger), 0);
        /* Host A's view: the operator's key, and its own. */
        assert_int_equal(crypto_keyring_new(&f->issuers), 0);
        assert_int_equal(crypto_keyring_add(f->issuers, public_of(f->operator_key)), 0);
        assert_int_equal(crypto_keyring_add(f->issuers, public_of(f->host_a)), 0);
        /* The fleet's keys as read: A's, B's, a line that is no key. */
        assert_true(asprintf(&text, "%s\nnot a key\n%s\n", crypto_key_public_to_text(f->host_a, a),
                             crypto_key_public_to_text(f->host_b, b)) > 0);
        assert_int_equal(keys_parse_fleet_keys(text, &f->fleet), 2);
        free(text);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        crypto_key_free(f->operator_key);
        crypto_key_free(f->host_a);
        crypto_key_free(f->host_b);
        crypto_key_free(f->stranger);
        crypto_keyring_free(f->issuers);
        crypto_keyring_free(f->fleet);
        free(f);
        return 0;
}

static struct voucher make(const struct crypto_key *k, const char *audience) {
        struct voucher v = {
                .amount = 1000000,
                .not_before = NOW - 60,
                .not_after = NOW + 3600,
        };

        snprintf(v.currency, sizeof(v.currency), "EUR");
        snprintf(v.audience, sizeof(v.audience), "%s", audience);
        assert_int_equal(crypto_random(v.id, sizeof(v.id)), 0);
        assert_int_equal(voucher_sign(&v, k), 0);
        return v;
}

/* verify on host "host-a" of fleet (NULL: none): its errno, its message
 * in *msg (to free) when refused. */
static int check(struct fixture *f, const struct voucher *v, const char *fleet, char **msg) {
        *msg = NULL;
        return keys_verify_audience(f->issuers, fleet ? f->fleet : NULL, "EUR", "host-a", fleet, v, NOW, msg);
}

static void test_fleet_change(void **state) {
        struct fixture *f = *state;
        struct voucher v;
        char *msg = NULL;

        /* B's change, bound to the fleet: taken by A of the same fleet. */
        v = make(f->host_b, "fleet-1");
        assert_int_equal(check(f, &v, "fleet-1", &msg), 0);
        assert_null(msg);
        /* A's own change, and the operator's voucher for the fleet. */
        v = make(f->host_a, "fleet-1");
        assert_int_equal(check(f, &v, "fleet-1", &msg), 0);
        v = make(f->operator_key, "fleet-1");
        assert_int_equal(check(f, &v, "fleet-1", &msg), 0);
        /* A key nobody published: unknown, whatever the voucher says. */
        v = make(f->stranger, "fleet-1");
        assert_int_equal(check(f, &v, "fleet-1", &msg), -ENOKEY);
        assert_non_null(strstr(msg, "unknown issuer"));
        free(msg);
}

static void test_fleet_keys_sign_change_only(void **state) {
        struct fixture *f = *state;
        struct voucher v;
        char *msg = NULL;

        /* B's key signs change for the fleet, not vouchers for any host
         * or for A alone. */
        v = make(f->host_b, "");
        assert_int_equal(check(f, &v, "fleet-1", &msg), -ENOKEY);
        free(msg);
        v = make(f->host_b, "host-a");
        assert_int_equal(check(f, &v, "fleet-1", &msg), -ENOKEY);
        free(msg);
        /* The operator's as today. */
        v = make(f->operator_key, "");
        assert_int_equal(check(f, &v, "fleet-1", &msg), 0);
        v = make(f->operator_key, "host-a");
        assert_int_equal(check(f, &v, NULL, &msg), 0);
}

static void test_bound_elsewhere(void **state) {
        struct fixture *f = *state;
        struct voucher v;
        char *msg = NULL;

        /* Another fleet's change, signed by a key this host trusts. */
        v = make(f->host_a, "fleet-2");
        assert_int_equal(check(f, &v, "fleet-1", &msg), -EACCES);
        assert_string_equal(msg, "Voucher is bound to host fleet-2, this is host host-a (of fleet fleet-1)");
        free(msg);
        /* A host in no fleet. */
        v = make(f->host_a, "fleet-1");
        assert_int_equal(check(f, &v, NULL, &msg), -EACCES);
        assert_string_equal(msg, "Voucher is bound to host fleet-1, this is host host-a (in no fleet: FleetId= is "
                                 "not set)");
        free(msg);
        /* Signed by a key it does not know: still named. */
        v = make(f->host_b, "fleet-1");
        assert_int_equal(check(f, &v, NULL, &msg), -ENOKEY);
        assert_non_null(strstr(msg, "; it is bound to fleet-1, this is host host-a (in no fleet: FleetId= is not "
                                    "set)"));
        free(msg);
        /* Without a message wanted, the same verdicts. */
        assert_int_equal(keys_verify_audience(f->issuers, NULL, "EUR", "host-a", NULL, &v, NOW, NULL), -ENOKEY);
}

static void test_parse(void **state _unused_) {
        struct crypto_keyring *kr = NULL;

        assert_int_equal(keys_parse_fleet_keys(NULL, &kr), 0);
        assert_int_equal(crypto_keyring_size(kr), 0);
        crypto_keyring_free(kr);
        assert_int_equal(keys_parse_fleet_keys("\n\nx\n", &kr), 0);
        crypto_keyring_free(kr);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_fleet_change, setup, teardown),
                cmocka_unit_test_setup_teardown(test_fleet_keys_sign_change_only, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bound_elsewhere, setup, teardown),
                cmocka_unit_test(test_parse),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
