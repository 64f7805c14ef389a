/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Vouchers: byte layout, text form, parsing and verification
 * (daemon/common/voucher.c). The test vector here is the one printed in
 * prepay-voucher(5); if this test changes it, the man page must too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/util.h"
#include "common/voucher.h"

/* The test vector. The key is RFC 8032's TEST 1 key (section 7.1), so its
 * public half can be checked against the RFC:
 *   d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a */
#define TV_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define TV_KEY_ID "21fe31dfa154a261"
#define TV_ID "000102030405060708090a0b0c0d0e0f"
#define TV_AMOUNT INT64_C(12500000)      /* 12.50 */
#define TV_NOT_BEFORE INT64_C(1767225600) /* 2026-01-01 00:00:00 UTC */
#define TV_NOT_AFTER INT64_C(1798761600)  /* 2027-01-01 00:00:00 UTC */
#define TV_AUDIENCE "host-a.example"
#define TV_SIGNED                                                                                   \
        "50505601"                         /* "PPV", version 1 */                                  \
        "000102030405060708090a0b0c0d0e0f" /* id */                                                \
        "0000000000bebc20"                 /* amount 12500000 */                                   \
        "455552"                           /* "EUR" */                                             \
        "21fe31dfa154a261"                 /* issuer key id */                                     \
        "000000006955b900"                 /* not-before 1767225600 */                             \
        "000000006b36ec80"                 /* not-after 1798761600 */                              \
        "0e"                               /* audience length 14 */                                \
        "686f73742d612e6578616d706c65"     /* "host-a.example" */
#define TV_SIGNATURE                                                       \
        "8d9a35e37daf86f7561de78a085ad4fdc345aeeb67ba569a1ed8483f69735792" \
        "cb9ea688db5e86afb047504a435501d609ae22faac447ef6d6f8825c9cab9304"
#define TV_TEXT                                                                  \
        "pv1-UFBWAQABAgMEBQYHCAkKCwwNDg8AAAAAAL68IEVVUiH-Md-hVKJhAAAAAGlVuQAAAAAAazbs" \
        "gA5ob3N0LWEuZXhhbXBsZY2aNeN9r4b3Vh3nigha1P3DRa7rZ7pWmh7YSD9pc1eSy56miNtehq-w" \
        "R1BKQ1UB1gmuIvqsRH721viCXJyrkwQ"

#define TV_NOW INT64_C(1780000000) /* inside the validity period */
#define VOUCHER_MAX (VOUCHER_SIGNED_MAX + CRYPTO_SIG_SIZE)

static struct crypto_key *tv_key;
static struct crypto_keyring *tv_keyring;

static void keyringp(struct crypto_keyring **kr) {
        crypto_keyring_free(*kr);
}

static int setup(void **state) {
        uint8_t seed[CRYPTO_SEED_SIZE];
        struct crypto_key *k;

        if (hex_decode(TV_SEED, seed, sizeof(seed)) < 0 || crypto_key_from_seed(seed, &tv_key) < 0)
                return -1;
        if (crypto_keyring_new(&tv_keyring) < 0)
                return -1;
        /* The keyring gets its own copy: it frees what it is given. */
        if (crypto_key_from_seed(seed, &k) < 0 || crypto_keyring_add(tv_keyring, k) < 0)
                return -1;
        return 0;
}

static int teardown(void **state) {
        crypto_key_free(tv_key);
        crypto_keyring_free(tv_keyring);
        return 0;
}

/* The vector's fields, unsigned. */
static struct voucher tv_fields(void) {
        struct voucher v = {
                .amount = TV_AMOUNT,
                .currency = "EUR",
                .not_before = TV_NOT_BEFORE,
                .not_after = TV_NOT_AFTER,
                .audience = TV_AUDIENCE,
        };

        assert_int_equal(hex_decode(TV_ID, v.id, sizeof(v.id)), 0);
        return v;
}

static struct voucher tv_signed(void) {
        struct voucher v = tv_fields();

        assert_int_equal(voucher_sign(&v, tv_key), 0);
        return v;
}

/* The vector as bytes: signed bytes then signature. */
static size_t tv_bytes(uint8_t out[static VOUCHER_MAX]) {
        size_t n = strlen(TV_SIGNED) / 2;

        assert_int_equal(hex_decode(TV_SIGNED, out, n), 0);
        assert_int_equal(hex_decode(TV_SIGNATURE, out + n, CRYPTO_SIG_SIZE), 0);
        return n + CRYPTO_SIG_SIZE;
}

/* "pv1-" and base64url of n bytes, into a buffer to free. */
static char *text_of(const uint8_t *bytes, size_t n) {
        char *s = malloc(4 + BASE64URL_LEN(n) + 1);

        assert_non_null(s);
        memcpy(s, "pv1-", 4);
        base64url_encode(bytes, n, s + 4);
        return s;
}

static void test_vector(void **state _unused_) {
        struct voucher v = tv_fields(), parsed;
        uint8_t bytes[VOUCHER_SIGNED_MAX];
        char hex[2 * VOUCHER_MAX + 1], text[VOUCHER_TEXT_MAX];
        const char *error = NULL;
        char *verror = NULL;
        size_t len;

        assert_int_equal(voucher_sign(&v, tv_key), 0);
        assert_string_equal(hex_encode(v.issuer, sizeof(v.issuer), hex), TV_KEY_ID);

        /* 1. the signed bytes */
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), 0);
        assert_int_equal(len, 56 + strlen(TV_AUDIENCE));
        assert_string_equal(hex_encode(bytes, len, hex), TV_SIGNED);
        /* 2. the signature: Ed25519 is deterministic */
        assert_string_equal(hex_encode(v.signature, sizeof(v.signature), hex), TV_SIGNATURE);
        /* 3. the text */
        assert_int_equal(voucher_to_text(&v, text, sizeof(text)), 0);
        assert_string_equal(text, TV_TEXT);

        /* And back. */
        assert_int_equal(voucher_from_text(TV_TEXT, &parsed, &error), 0);
        assert_null(error);
        assert_memory_equal(&parsed, &v, sizeof(v));
        assert_int_equal(voucher_verify(&parsed, tv_keyring, TV_NOW, "EUR", TV_AUDIENCE, &verror), 0);
        assert_null(verror);
}

static void test_round_trip(void **state _unused_) {
        static const char *const audiences[] = {
                "", "a", "machine-0123456789abcdef", "A.b_c-9",
                "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
        };
        char text[VOUCHER_TEXT_MAX], *wrapped;
        const char *error;

        for (size_t i = 0; i < ARRAY_SIZE(audiences); i++) {
                struct voucher v = tv_fields(), back;

                assert_int_equal(crypto_random(v.id, sizeof(v.id)), 0);
                v.amount = i == 0 ? 1 : MONEY_AMOUNT_MAX;
                v.not_before = INT64_MIN;
                v.not_after = INT64_MAX;
                memset(v.audience, 0, sizeof(v.audience));
                strcpy(v.audience, audiences[i]);
                assert_int_equal(voucher_sign(&v, tv_key), 0);
                assert_int_equal(voucher_to_text(&v, text, sizeof(text)), 0);
                assert_true(strlen(text) < VOUCHER_TEXT_MAX);
                assert_int_equal(voucher_from_text(text, &back, &error), 0);
                assert_memory_equal(&back, &v, sizeof(v));
                assert_int_equal(voucher_verify(&back, tv_keyring, TV_NOW, "EUR", "elsewhere", NULL),
                                 audiences[i][0] ? -EACCES : 0);

                /* What a voucher file holds, and what people paste. */
                assert_true(asprintf(&wrapped, " \t\n%s\r\n\n", text) > 0);
                assert_int_equal(voucher_from_text(wrapped, &back, &error), 0);
                assert_memory_equal(&back, &v, sizeof(v));
                free(wrapped);
        }
}

static void test_encode_refuses(void **state _unused_) {
        uint8_t bytes[VOUCHER_SIGNED_MAX];
        char text[VOUCHER_TEXT_MAX];
        size_t len = 999;
        struct voucher v, before;

        v = tv_fields();
        v.amount = 0;
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);
        v.amount = -1;
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);
        v.amount = MONEY_AMOUNT_MAX + 1;
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);
        v.amount = MONEY_AMOUNT_MAX;
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), NULL), 0);

        v = tv_fields();
        strcpy(v.currency, "eur");
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);

        v = tv_fields();
        v.not_after = v.not_before;
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);
        v.not_after = v.not_before - 1;
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);

        v = tv_fields();
        strcpy(v.audience, "host a");
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);
        memset(v.audience, 'a', sizeof(v.audience)); /* 65 characters, no NUL */
        assert_int_equal(voucher_encode(&v, bytes, sizeof(bytes), &len), -EINVAL);

        v = tv_fields();
        assert_int_equal(voucher_encode(&v, bytes, 56 + strlen(TV_AUDIENCE) - 1, &len), -ENOBUFS);
        assert_int_equal(len, 999);
        assert_int_equal(voucher_encode(&v, bytes, 56 + strlen(TV_AUDIENCE), &len), 0);
        assert_int_equal(len, 56 + strlen(TV_AUDIENCE));

        /* Signing refuses the same, and leaves the voucher as it was. */
        v = tv_fields();
        v.amount = 0;
        before = v;
        assert_int_equal(voucher_sign(&v, tv_key), -EINVAL);
        assert_memory_equal(&v, &before, sizeof(v));

        /* A keyring's key is public only: it cannot sign. */
        v = tv_fields();
        before = v;
        assert_int_equal(voucher_sign(&v, crypto_keyring_find(tv_keyring, (uint8_t[]){ 0x21, 0xfe, 0x31, 0xdf, 0xa1,
                                                                                       0x54, 0xa2, 0x61 })),
                         -EINVAL);
        assert_memory_equal(&v, &before, sizeof(v));

        v = tv_signed();
        assert_int_equal(voucher_to_text(&v, text, strlen(TV_TEXT)), -ENOBUFS);
        assert_int_equal(voucher_to_text(&v, text, strlen(TV_TEXT) + 1), 0);
        assert_string_equal(text, TV_TEXT);
}

/* voucher_from_text() fails with -EINVAL and exactly this sentence, and
 * leaves *ret alone. */
static void check_bad_text(const char *s, const char *sentence) {
        struct voucher v, sentinel;
        const char *error = NULL;
        int r;

        memset(&sentinel, 0x5a, sizeof(sentinel));
        v = sentinel;
        r = voucher_from_text(s, &v, &error);
        if (r != -EINVAL)
                fail_msg("'%s': got %d, want -EINVAL", strna(s), r);
        if (!error || !streq(error, sentence))
                fail_msg("'%s': said '%s', want '%s'", strna(s), strna(error), sentence);
        assert_memory_equal(&v, &sentinel, sizeof(v));
        /* ret_error may be NULL. */
        assert_int_equal(voucher_from_text(s, &v, NULL), -EINVAL);
}

/* The vector's text with its "pv1-" replaced by prefix. */
static void check_bad_text_prefixed(const char *prefix, const char *sentence) {
        _cleanup_(freep) char *s = NULL;

        assert_true(asprintf(&s, "%s%s", prefix, TV_TEXT + 4) > 0);
        check_bad_text(s, sentence);
}

/* The vector's bytes with one change, as text. */
static void check_bad_bytes(void (*change)(uint8_t *b, size_t *n), const char *sentence) {
        _cleanup_(freep) char *s = NULL;
        uint8_t b[VOUCHER_MAX + 64];
        size_t n = tv_bytes(b);

        change(b, &n);
        s = text_of(b, n);
        check_bad_text(s, sentence);
}

static void magic_wrong(uint8_t *b, size_t *n) {
        b[0] = 'X';
}
static void version_2(uint8_t *b, size_t *n) {
        b[3] = 2;
}
static void version_0(uint8_t *b, size_t *n) {
        b[3] = 0;
}
static void audience_len_longer(uint8_t *b, size_t *n) {
        b[55]++; /* says 15, holds 14 */
}
static void audience_len_shorter(uint8_t *b, size_t *n) {
        b[55]--; /* says 13, holds 14: one byte left over */
}
static void audience_len_65(uint8_t *b, size_t *n) {
        b[55] = 65;
}
static void audience_len_255(uint8_t *b, size_t *n) {
        b[55] = 255;
}
static void trailing_byte(uint8_t *b, size_t *n) {
        b[(*n)++] = 0;
}
static void trailing_many(uint8_t *b, size_t *n) {
        memset(b + *n, 'x', 64);
        *n += 64;
}
static void cut_signature(uint8_t *b, size_t *n) {
        (*n)--;
}
static void cut_to_header(uint8_t *b, size_t *n) {
        *n = 56; /* no audience, no signature */
}
static void cut_to_magic(uint8_t *b, size_t *n) {
        *n = 3;
}
static void cut_in_fields(uint8_t *b, size_t *n) {
        *n = 40;
}
static void amount_zero(uint8_t *b, size_t *n) {
        memset(b + 20, 0, 8);
}
static void amount_negative(uint8_t *b, size_t *n) {
        memset(b + 20, 0xff, 8); /* -1 */
}
static void amount_over_max(uint8_t *b, size_t *n) {
        /* MONEY_AMOUNT_MAX + 1 = 10^15 + 1 = 0x00038d7ea4c68001 */
        memcpy(b + 20, (uint8_t[]){ 0x00, 0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x80, 0x01 }, 8);
}
static void currency_lower(uint8_t *b, size_t *n) {
        b[28] = 'e';
}
static void currency_digit(uint8_t *b, size_t *n) {
        b[30] = '1';
}
static void currency_nul(uint8_t *b, size_t *n) {
        b[30] = 0;
}
static void period_empty(uint8_t *b, size_t *n) {
        memcpy(b + 47, b + 39, 8); /* not-after = not-before */
}
static void period_reversed(uint8_t *b, size_t *n) {
        uint8_t t[8];

        memcpy(t, b + 39, 8);
        memcpy(b + 39, b + 47, 8);
        memcpy(b + 47, t, 8);
}
static void audience_space(uint8_t *b, size_t *n) {
        b[56 + 4] = ' '; /* "host a.example" */
}
static void audience_slash(uint8_t *b, size_t *n) {
        b[56] = '/';
}
static void audience_nul(uint8_t *b, size_t *n) {
        b[56 + 4] = 0;
}
static void audience_utf8(uint8_t *b, size_t *n) {
        b[56] = 0xc3;
        b[57] = 0xa9;
}

static void test_from_text_refuses(void **state _unused_) {
        static const char not_voucher[] = "Not a prepay voucher (expected text starting pv1-)";
        static const char damaged[] = "Voucher text is damaged: not valid base64url after pv1-";
        static const char truncated[] = "Voucher text is truncated";
        static const char too_long[] = "Voucher text is too long: extra data after the signature";
        _cleanup_(freep) char *s = NULL;

        /* wrong prefix */
        check_bad_text(NULL, not_voucher);
        check_bad_text("", not_voucher);
        check_bad_text(" \n", not_voucher);
        check_bad_text("pv1", not_voucher);
        check_bad_text_prefixed("pv2-", not_voucher);
        check_bad_text_prefixed("PV1-", not_voucher);
        check_bad_text_prefixed("pv1", not_voucher);
        check_bad_text_prefixed("", not_voucher);
        check_bad_text("x" TV_TEXT, not_voucher);
        check_bad_text("hello world", not_voucher);

        /* bad base64url */
        check_bad_text(TV_TEXT "=", damaged);
        check_bad_text(TV_TEXT "AA", damaged); /* a length no byte count gives */
        check_bad_text(TV_TEXT " x", damaged);
        check_bad_text_prefixed("pv1- ", damaged);
        check_bad_text_prefixed("pv1-\n", damaged);
        check_bad_text("pv1-UFBW+QAB", damaged);
        check_bad_text("pv1-UFBW/QAB", damaged);
        check_bad_text("pv1-\xff\xfe", damaged);

        /* truncated */
        check_bad_text("pv1-", truncated);
        check_bad_bytes(cut_to_magic, truncated);
        check_bad_bytes(cut_in_fields, truncated);
        check_bad_bytes(cut_to_header, truncated);
        check_bad_bytes(cut_signature, truncated);
        /* Cut anywhere, even mid-group, it is truncated; not damaged. */
        for (size_t cut = 1; cut < strlen(TV_TEXT) - 4; cut++) {
                s = strndup(TV_TEXT, strlen(TV_TEXT) - cut);
                check_bad_text(s, truncated);
                free(TAKE_PTR(s));
        }

        /* the audience length byte disagrees with the length */
        check_bad_bytes(audience_len_longer, truncated);
        check_bad_bytes(audience_len_shorter, too_long);
        check_bad_bytes(audience_len_65, "Voucher audience is longer than 64 characters");
        check_bad_bytes(audience_len_255, "Voucher audience is longer than 64 characters");

        /* trailing garbage */
        check_bad_bytes(trailing_byte, too_long);
        check_bad_bytes(trailing_many, too_long);
        check_bad_text(TV_TEXT "AAAA", too_long);

        /* magic and version */
        check_bad_bytes(magic_wrong, "Not a prepay voucher (its bytes do not start with PPV)");
        check_bad_bytes(version_2, "Voucher has an unknown format version (this prepay reads version 1)");
        check_bad_bytes(version_0, "Voucher has an unknown format version (this prepay reads version 1)");

        /* fields out of range */
        check_bad_bytes(amount_zero, "Voucher amount out of range");
        check_bad_bytes(amount_negative, "Voucher amount out of range");
        check_bad_bytes(amount_over_max, "Voucher amount out of range");
        check_bad_bytes(currency_lower, "Voucher currency is not three upper-case letters");
        check_bad_bytes(currency_digit, "Voucher currency is not three upper-case letters");
        check_bad_bytes(currency_nul, "Voucher currency is not three upper-case letters");
        check_bad_bytes(period_empty, "Voucher validity period is empty (not-after is not later than not-before)");
        check_bad_bytes(period_reversed, "Voucher validity period is empty (not-after is not later than not-before)");
        check_bad_bytes(audience_space, "Voucher audience is not a valid host id");
        check_bad_bytes(audience_slash, "Voucher audience is not a valid host id");
        check_bad_bytes(audience_nul, "Voucher audience is not a valid host id");
        check_bad_bytes(audience_utf8, "Voucher audience is not a valid host id");
}

/* Signature bits are not checked by the parser (a forged voucher parses),
 * but the text must be canonical: one voucher, one text. */
static void test_from_text_canonical(void **state _unused_) {
        char text[] = TV_TEXT;
        struct voucher v;

        /* "Q" is 16: 0b010000, its last four bits are not a byte's. */
        assert_int_equal(text[strlen(text) - 1], 'Q');
        text[strlen(text) - 1] = 'R';
        check_bad_text(text, "Voucher text is damaged: not valid base64url after pv1-");

        /* A changed signature still parses; voucher_verify() refuses it. */
        text[strlen(text) - 1] = 'g';
        assert_int_equal(voucher_from_text(text, &v, NULL), 0);
        assert_int_equal(voucher_verify(&v, tv_keyring, TV_NOW, NULL, NULL, NULL), -EBADMSG);
}

/* voucher_verify() fails with err and exactly this sentence. */
static void check_verify(const struct voucher *v, const struct crypto_keyring *kr, int64_t now, const char *currency,
                         const char *host, int err, const char *sentence) {
        _cleanup_(freep) char *error = NULL;
        int r;

        r = voucher_verify(v, kr, now, currency, host, &error);
        if (r != err)
                fail_msg("got %d (%s), want %d", r, strna(error), err);
        if (!sentence) {
                assert_null(error);
                return;
        }
        if (!error || !streq(error, sentence))
                fail_msg("said '%s', want '%s'", strna(error), sentence);
        assert_int_equal(voucher_verify(v, kr, now, currency, host, NULL), err);
}

#define FORGED "Voucher signature does not verify: forged or damaged"
#define UNKNOWN "Voucher is signed by unknown issuer 21fe31dfa154a261"
#define EXPIRED "Voucher expired at 2027-01-01 00:00:00 UTC"

static void test_verify(void **state _unused_) {
        _cleanup_(keyringp) struct crypto_keyring *empty = NULL;
        struct voucher good = tv_signed(), v;

        assert_int_equal(crypto_keyring_new(&empty), 0);

        /* valid */
        check_verify(&good, tv_keyring, TV_NOW, "EUR", "host-a.example", 0, NULL);
        check_verify(&good, tv_keyring, TV_NOW, NULL, NULL, 0, NULL);
        /* from not-before, inclusive, to not-after, exclusive */
        check_verify(&good, tv_keyring, TV_NOT_BEFORE, "EUR", NULL, 0, NULL);
        check_verify(&good, tv_keyring, TV_NOT_AFTER - 1, "EUR", NULL, 0, NULL);

        /* -ENOKEY */
        check_verify(&good, empty, TV_NOW, "EUR", NULL, -ENOKEY, UNKNOWN);
        check_verify(&good, NULL, TV_NOW, "EUR", NULL, -ENOKEY, UNKNOWN);

        /* -EBADMSG: one bit of the amount, of the signature, of the
         * audience, of the issuer-independent fields */
        v = good;
        v.amount ^= 1;
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EBADMSG, FORGED);
        v = good;
        v.signature[0] ^= 1;
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EBADMSG, FORGED);
        v = good;
        v.signature[63] ^= 0x80;
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EBADMSG, FORGED);
        v = good;
        v.audience[0] = 'H';
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EBADMSG, FORGED);
        v = good;
        v.not_after++;
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EBADMSG, FORGED);
        v = good;
        v.id[15] ^= 1;
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EBADMSG, FORGED);
        v = good;
        memcpy(v.currency, "EUS", 4);
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EBADMSG, FORGED);

        /* -EMEDIUMTYPE */
        check_verify(&good, tv_keyring, TV_NOW, "USD", NULL, -EMEDIUMTYPE,
                     "Voucher is in EUR; this host takes USD");

        /* -ETIME */
        check_verify(&good, tv_keyring, TV_NOT_BEFORE - 1, "EUR", NULL, -ETIME,
                     "Voucher not valid before 2026-01-01 00:00:00 UTC");

        /* -EKEYEXPIRED */
        check_verify(&good, tv_keyring, TV_NOT_AFTER, "EUR", NULL, -EKEYEXPIRED, EXPIRED);
        check_verify(&good, tv_keyring, INT64_MAX, "EUR", NULL, -EKEYEXPIRED, EXPIRED);

        /* -EACCES */
        check_verify(&good, tv_keyring, TV_NOW, "EUR", "host-b", -EACCES,
                     "Voucher is bound to host host-a.example, this is host host-b");
        check_verify(&good, tv_keyring, TV_NOW, "EUR", "HOST-A.EXAMPLE", -EACCES,
                     "Voucher is bound to host host-a.example, this is host HOST-A.EXAMPLE");

        /* -EINVAL: a struct nobody could have parsed */
        v = good;
        v.amount = 0;
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, -EINVAL, "Voucher has a field out of range");
}

static void test_verify_order(void **state _unused_) {
        _cleanup_(keyringp) struct crypto_keyring *empty = NULL;
        struct voucher good = tv_signed(), v;

        assert_int_equal(crypto_keyring_new(&empty), 0);

        /* Unknown issuer before everything else. */
        v = good;
        v.amount ^= 1;
        check_verify(&v, empty, TV_NOT_AFTER, "USD", "host-b", -ENOKEY,
                     "Voucher is signed by unknown issuer 21fe31dfa154a261");
        /* A forgery is a forgery, whatever else is wrong with it. */
        check_verify(&v, tv_keyring, TV_NOT_AFTER, "USD", "host-b", -EBADMSG,
                     FORGED);
        /* Then currency, then time, then host. */
        check_verify(&good, tv_keyring, TV_NOT_AFTER, "USD", "host-b", -EMEDIUMTYPE,
                     "Voucher is in EUR; this host takes USD");
        check_verify(&good, tv_keyring, TV_NOT_BEFORE - 1, "EUR", "host-b", -ETIME,
                     "Voucher not valid before 2026-01-01 00:00:00 UTC");
        check_verify(&good, tv_keyring, TV_NOT_AFTER, "EUR", "host-b", -EKEYEXPIRED,
                     "Voucher expired at 2027-01-01 00:00:00 UTC");
}

static void test_verify_any_host(void **state _unused_) {
        struct voucher v = tv_fields();

        v.audience[0] = 0;
        assert_int_equal(voucher_sign(&v, tv_key), 0);
        check_verify(&v, tv_keyring, TV_NOW, "EUR", "any-host-at-all", 0, NULL);
        check_verify(&v, tv_keyring, TV_NOW, "EUR", NULL, 0, NULL);
}

static void test_verify_untouched_on_success(void **state _unused_) {
        struct voucher good = tv_signed();
        char *error = (char *) "sentinel";

        assert_int_equal(voucher_verify(&good, tv_keyring, TV_NOW, "EUR", NULL, &error), 0);
        assert_string_equal(error, "sentinel");
}

static void test_helpers(void **state _unused_) {
        char buf[VOUCHER_ID_STRING_MAX];
        struct voucher v = tv_fields();

        assert_string_equal(voucher_id_to_string(v.id, buf), TV_ID);

        assert_true(voucher_audience_is_valid("host-a.example"));
        assert_true(voucher_audience_is_valid("0123456789abcdef0123456789abcdef")); /* a machine id */
        assert_true(voucher_audience_is_valid("A_b.c-D"));
        assert_true(voucher_audience_is_valid("0123456789012345678901234567890123456789012345678901234567890123"));
        assert_false(voucher_audience_is_valid("01234567890123456789012345678901234567890123456789012345678901234"));
        assert_false(voucher_audience_is_valid(""));
        assert_false(voucher_audience_is_valid(NULL));
        assert_false(voucher_audience_is_valid("host a"));
        assert_false(voucher_audience_is_valid("host/a"));
        assert_false(voucher_audience_is_valid("host:a"));
        assert_false(voucher_audience_is_valid("hôst"));
        assert_false(voucher_audience_is_valid("host\n"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vector),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_encode_refuses),
                cmocka_unit_test(test_from_text_refuses),
                cmocka_unit_test(test_from_text_canonical),
                cmocka_unit_test(test_verify),
                cmocka_unit_test(test_verify_order),
                cmocka_unit_test(test_verify_any_host),
                cmocka_unit_test(test_verify_untouched_on_success),
                cmocka_unit_test(test_helpers),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
