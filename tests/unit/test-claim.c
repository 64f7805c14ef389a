/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Claim statements (common/claim.c): the funder's signed "this share is
 * mine", made, parsed and checked; the layout pinned by a test vector. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "common/claim.h"
#include "common/util.h"

#define HOST "test-host"
#define SLICE "s-0123abcd"
#define NOW INT64_C(1800000000000000)
/* Checked apart from this code: Python's cryptography makes the same
 * text from the seed's key over the 66 signed bytes laid out as claim.h
 * says (purpose 'c'); EVENTS_VECTOR the same with purpose 'e'. */
#define VECTOR                                                                                                    \
        "pc1-UFBDAmMABmUXKJiAAK8Go-MpFxTk81bBnJsVzRlR7G5mYqp3vgdUfyiTgzQdCXRlc3QtaG9zdApzLTAxMjNhYmNkjYyrHYWIPw9-" \
        "cIIifA6mMybbZq8ooEOD54wTzboTbfTOxafYubPC37MHNYqIPkpGR5q7CHND6B1GEPaTpE5_Ag"
#define EVENTS_VECTOR                                                                                             \
        "pc1-UFBDAmUABmUXKJiAAK8Go-MpFxTk81bBnJsVzRlR7G5mYqp3vgdUfyiTgzQdCXRlc3QtaG9zdApzLTAxMjNhYmNkFRug6S2C6Bi3764d" \
        "65Ng0WRPBCIcFUY20KYd0paTcclt-kQNx9Yd3CQcU8HOFKdiOcXbXMLQDuufN64LOTV_BA"

static struct crypto_key *key_of(char c) {
        uint8_t seed[CRYPTO_SEED_SIZE];
        struct crypto_key *k = NULL;

        memset(seed, c, sizeof(seed));
        assert_int_equal(crypto_key_from_seed(seed, &k), 0);
        return k;
}

static void parse_ok(const char *text, struct claim *c) {
        const char *e = NULL;

        if (claim_from_text(text, c, &e) < 0)
                fail_msg("%s: %s", text, e);
}

static int verify(const struct claim *c, const char *host, const char *slice, int64_t now) {
        char *e = NULL;
        int q = claim_verify(c, CLAIM_PURPOSE_CLAIM, host, slice, now, &e);

        assert_true(q == 0 ? e == NULL : e != NULL);
        free(e);
        return q;
}

/* The format, byte for byte: a fixed key (seed 32 x 'a'), host, slice and
 * time give this text, as claim.h lays out. */
static void test_vector(void **state _unused_) {
        struct crypto_key *k = key_of('a');
        char text[CLAIM_TEXT_MAX];
        uint8_t raw[CRYPTO_PUBKEY_SIZE];
        struct claim c;

        assert_int_equal(claim_sign(k, CLAIM_PURPOSE_CLAIM, HOST, SLICE, NOW, text), 0);
        assert_string_equal(text, VECTOR);
        parse_ok(text, &c);
        crypto_key_public_raw(k, raw);
        assert_memory_equal(c.funder, raw, sizeof(raw));
        assert_int_equal(c.time_usec, NOW);
        assert_string_equal(c.host_id, HOST);
        assert_string_equal(c.slice, SLICE);
        assert_int_equal(verify(&c, HOST, SLICE, NOW), 0);
        crypto_key_free(k);
}

static void test_checks(void **state _unused_) {
        struct crypto_key *a = key_of('a'), *b = key_of('b');
        char text[CLAIM_TEXT_MAX];
        uint8_t raw_a[CRYPTO_PUBKEY_SIZE];
        struct claim c, forged;

        assert_int_equal(claim_sign(a, CLAIM_PURPOSE_CLAIM, HOST, SLICE, NOW, text), 0);
        parse_ok(text, &c);
        /* Another host, another slice. */
        assert_int_equal(verify(&c, "other-host", SLICE, NOW), -EXDEV);
        assert_int_equal(verify(&c, HOST, "s-0123abce", NOW), -EXDEV);
        /* Five minutes either way, not a microsecond more. */
        assert_int_equal(verify(&c, HOST, SLICE, NOW + (int64_t) CLAIM_SKEW_USEC), 0);
        assert_int_equal(verify(&c, HOST, SLICE, NOW - (int64_t) CLAIM_SKEW_USEC), 0);
        assert_int_equal(verify(&c, HOST, SLICE, NOW + (int64_t) CLAIM_SKEW_USEC + 1), -ETIME);
        assert_int_equal(verify(&c, HOST, SLICE, NOW - (int64_t) CLAIM_SKEW_USEC - 1), -ETIME);

        /* B signs, naming A's key: a forgery. */
        assert_int_equal(claim_sign(b, CLAIM_PURPOSE_CLAIM, HOST, SLICE, NOW, text), 0);
        parse_ok(text, &forged);
        assert_int_equal(verify(&forged, HOST, SLICE, NOW), 0); /* B's own claim holds, as B's */
        crypto_key_public_raw(a, raw_a);
        assert_memory_not_equal(forged.funder, raw_a, sizeof(raw_a));
        memcpy(forged.funder, raw_a, sizeof(raw_a));
        assert_int_equal(verify(&forged, HOST, SLICE, NOW), -EBADMSG);
        /* A's claim with its time or slice moved, or its signature hurt. */
        forged = c, forged.time_usec++;
        assert_int_equal(verify(&forged, HOST, SLICE, NOW), -EBADMSG);
        forged = c, forged.slice[9] = 'e';
        assert_int_equal(verify(&forged, HOST, "s-0123abce", NOW), -EBADMSG);
        forged = c, forged.signature[10] ^= 0x40;
        assert_int_equal(verify(&forged, HOST, SLICE, NOW), -EBADMSG);

        /* Only a private key signs; fields in range. */
        assert_int_equal(claim_sign(NULL, CLAIM_PURPOSE_CLAIM, HOST, SLICE, NOW, text), -EINVAL);
        assert_int_equal(claim_sign(a, CLAIM_PURPOSE_CLAIM, "bad host", SLICE, NOW, text), -EINVAL);
        assert_int_equal(claim_sign(a, CLAIM_PURPOSE_CLAIM, HOST, "s-XYZ", NOW, text), -EINVAL);
        assert_int_equal(claim_sign(a, CLAIM_PURPOSE_CLAIM, HOST, SLICE, 0, text), -EINVAL);
        crypto_key_free(a);
        crypto_key_free(b);
}

/* A statement is good for the purpose it was signed for only: an
 * events proof is never a claim, nor the other way, and the purpose
 * cannot be changed without the signature. */
static void test_purpose(void **state _unused_) {
        struct crypto_key *k = key_of('a');
        char text[CLAIM_TEXT_MAX], *e = NULL;
        struct claim c, moved;

        assert_int_equal(claim_sign(k, CLAIM_PURPOSE_EVENTS, HOST, SLICE, NOW, text), 0);
        assert_string_equal(text, EVENTS_VECTOR);
        parse_ok(text, &c);
        assert_int_equal(c.purpose, CLAIM_PURPOSE_EVENTS);
        assert_int_equal(claim_verify(&c, CLAIM_PURPOSE_EVENTS, HOST, SLICE, NOW, NULL), 0);
        assert_int_equal(claim_verify(&c, CLAIM_PURPOSE_CLAIM, HOST, SLICE, NOW, &e), -EPROTOTYPE);
        assert_string_equal(e, "The statement is an events proof, not a claim: its funder signed it for that only");
        free(e);
        /* Its purpose byte changed: the signature no longer holds. */
        moved = c, moved.purpose = CLAIM_PURPOSE_CLAIM;
        assert_int_equal(verify(&moved, HOST, SLICE, NOW), -EBADMSG);

        parse_ok(VECTOR, &c);
        assert_int_equal(c.purpose, CLAIM_PURPOSE_CLAIM);
        assert_int_equal(claim_verify(&c, CLAIM_PURPOSE_EVENTS, HOST, SLICE, NOW, NULL), -EPROTOTYPE);

        /* No other purpose is signed or read. */
        assert_int_equal(claim_sign(k, 'x', HOST, SLICE, NOW, text), -EINVAL);
        assert_int_equal(claim_sign(k, 0, HOST, SLICE, NOW, text), -EINVAL);
        crypto_key_free(k);
}

static void refused(const char *text, const char *want) {
        const char *e = NULL;
        struct claim c;

        assert_int_equal(claim_from_text(text, &c, &e), -EINVAL);
        if (!e || !streq(e, want))
                fail_msg("%s: '%s', not '%s'", text, strna(e), want);
}

static void test_refused(void **state _unused_) {
        char text[CLAIM_TEXT_MAX + 8];
        size_t n = strlen(VECTOR);
        struct claim c;

        refused("pv1-AAAA", "Not a prepay claim (expected text starting pc1-)");
        refused("", "Not a prepay claim (expected text starting pc1-)");
        refused("pc1-!!!!", "Claim text is damaged: not valid base64url after pc1-");
        refused("pc1-UFBWAQ", "Not a prepay claim (its bytes do not start with PPC)"); /* "PPV" */
        /* Version 1 (no purpose) and 3: not read. */
        refused("pc1-UFBDAQ", "Claim has an unknown format version (this prepay reads version 2)");
        refused("pc1-UFBDAw", "Claim has an unknown format version (this prepay reads version 2)");
        refused("pc1-UFBDAg", "Claim text is truncated");
        /* The vector, cut by four characters (three bytes) or with three
         * bytes more. */
        snprintf(text, sizeof(text), "%.*s", (int) (n - 6), VECTOR);
        refused(text, "Claim text is truncated");
        snprintf(text, sizeof(text), "%sAAAA", VECTOR);
        refused(text, "Claim text is too long: extra data after the signature");
        /* White space around it is a file's. */
        snprintf(text, sizeof(text), "  %s\n", VECTOR);
        parse_ok(text, &c);
        /* A purpose byte other than 'c' or 'e' ('x', with the vector's
         * signature: the shape is checked first). */
        snprintf(text, sizeof(text), "%s", VECTOR);
        memcpy(text + 4, "UFBDAngA", 8); /* "PPC" 2 'x' 0 */
        refused(text, "Claim purpose is not valid");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vector),
                cmocka_unit_test(test_checks),
                cmocka_unit_test(test_purpose),
                cmocka_unit_test(test_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
