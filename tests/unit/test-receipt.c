/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Receipts: byte layout, text form, parsing and verification
 * (daemon/common/receipt.c), and the one-line public key text
 * (crypto_key_public_to_text()) they are checked against. The test
 * vector here is the one printed in prepay-receipt(5); if this test
 * changes it, the man page must too. Its signature and text were made
 * apart from this code, with "openssl pkeyutl -sign -rawin" over the
 * bytes of TV_SIGNED and Python's base64 module. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/receipt.h"
#include "common/util.h"

/* RFC 8032's TEST 1 key (section 7.1), as in test-voucher.c. */
#define TV_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define TV_KEY_ID "21fe31dfa154a261"
#define TV_PUBLIC "MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define TV_AMOUNT INT64_C(12500000)         /* 12.50 */
#define TV_BALANCE INT64_C(20000000)        /* 20.00 */
#define TV_TIME INT64_C(1767225600123456)   /* 2026-01-01 00:00:00.123456 UTC */
#define TV_SLICE "s-0123456789abcdef"
#define TV_REQUEST_ID "req-1"
#define TV_HOST "host-a.example"
#define TV_VOUCHER "000102030405060708090a0b0c0d0e0f"
#define TV_SIGNED                                                                                   \
        "50505201"                             /* "PPR", version 1 */                              \
        "02"                                   /* kind: topup */                                   \
        "0000000000bebc20"                     /* amount 12500000 */                               \
        "0000000001312d00"                     /* balance 20000000 */                              \
        "455552"                               /* "EUR" */                                         \
        "0006474846222240"                     /* time 1767225600123456 */                         \
        "21fe31dfa154a261"                     /* host key id */                                   \
        "12"                                   /* slice id length 18 */                            \
        "732d30313233343536373839616263646566" /* "s-0123456789abcdef" */                          \
        "05"                                   /* request id length 5 */                           \
        "7265712d31"                           /* "req-1" */                                       \
        "0e"                                   /* host id length 14 */                             \
        "686f73742d612e6578616d706c65"         /* "host-a.example" */                              \
        "01"                                   /* one voucher */                                   \
        "000102030405060708090a0b0c0d0e0f"     /* its id */
#define TV_SIGNATURE                                                       \
        "102b137b1f3ef8f793c825423a4670b55f9fca9d70f649961b09b93db0cc8b47" \
        "ba01c090760b569342f321c6d858ac35155429ce55b861cf1cf26b8cfaaa2b09"
#define TV_TEXT                                                                          \
        "pr1-UFBSAQIAAAAAAL68IAAAAAABMS0ARVVSAAZHSEYiIkAh_jHfoVSiYRJzLTAxMjM0NTY3ODlhYmNkZWYF" \
        "cmVxLTEOaG9zdC1hLmV4YW1wbGUBAAECAwQFBgcICQoLDA0ODxArE3sfPvj3k8glQjpGcLVfn8qdcPZJlhsJ" \
        "uT2wzItHugHAkHYLVpNC8yHG2FisNRVUKc5VuGHPHPJrjPqqKwk"

/* Offsets in the vector's bytes. */
enum {
        TV_OFF_SLICE_LEN = 40,
        TV_OFF_REQUEST_LEN = 59,
        TV_OFF_HOST_LEN = 65,
        TV_OFF_COUNT = 80,
        TV_SIGNED_LEN = 97,
};
#define RECEIPT_MAX (RECEIPT_SIGNED_MAX + CRYPTO_SIG_SIZE)

static struct crypto_key *tv_key, *tv_public, *other_key;

static int setup(void **state) {
        uint8_t seed[CRYPTO_SEED_SIZE];

        if (hex_decode(TV_SEED, seed, sizeof(seed)) < 0 || crypto_key_from_seed(seed, &tv_key) < 0)
                return -1;
        if (crypto_key_from_public_text(TV_PUBLIC, &tv_public) < 0)
                return -1;
        memset(seed, 0x42, sizeof(seed));
        if (crypto_key_from_seed(seed, &other_key) < 0)
                return -1;
        return 0;
}

static int teardown(void **state) {
        crypto_key_free(tv_key);
        crypto_key_free(tv_public);
        crypto_key_free(other_key);
        return 0;
}

/* The vector's fields, unsigned. */
static struct receipt tv_fields(void) {
        struct receipt r = {
                .kind = RECEIPT_TOPUP,
                .amount = TV_AMOUNT,
                .balance = TV_BALANCE,
                .currency = "EUR",
                .time_usec = TV_TIME,
                .slice = TV_SLICE,
                .request_id = TV_REQUEST_ID,
                .host_id = TV_HOST,
                .n_vouchers = 1,
        };

        assert_int_equal(hex_decode(TV_VOUCHER, r.vouchers[0], VOUCHER_ID_SIZE), 0);
        return r;
}

static struct receipt tv_signed(void) {
        struct receipt r = tv_fields();

        assert_int_equal(receipt_sign(&r, tv_key), 0);
        return r;
}

/* The vector as bytes: signed bytes then signature. */
static size_t tv_bytes(uint8_t out[static RECEIPT_MAX]) {
        size_t n = strlen(TV_SIGNED) / 2;

        assert_int_equal(n, TV_SIGNED_LEN);
        assert_int_equal(hex_decode(TV_SIGNED, out, n), 0);
        assert_int_equal(hex_decode(TV_SIGNATURE, out + n, CRYPTO_SIG_SIZE), 0);
        return n + CRYPTO_SIG_SIZE;
}

/* "pr1-" and base64url of n bytes, into a buffer to free. */
static char *text_of(const uint8_t *bytes, size_t n) {
        char *s = malloc(4 + BASE64URL_LEN(n) + 1);

        assert_non_null(s);
        memcpy(s, "pr1-", 4);
        base64url_encode(bytes, n, s + 4);
        return s;
}

static void test_vector(void **state _unused_) {
        struct receipt r = tv_fields(), parsed;
        uint8_t bytes[RECEIPT_SIGNED_MAX];
        char hex[2 * RECEIPT_MAX + 1], text[RECEIPT_TEXT_MAX], pub[CRYPTO_PUBKEY_TEXT_MAX];
        const char *error = NULL;
        char *verror = NULL;
        size_t len;

        assert_int_equal(receipt_sign(&r, tv_key), 0);
        assert_string_equal(hex_encode(r.host_key, sizeof(r.host_key), hex), TV_KEY_ID);

        /* 1. the signed bytes */
        assert_int_equal(receipt_encode(&r, bytes, sizeof(bytes), &len), 0);
        assert_int_equal(len, TV_SIGNED_LEN);
        assert_string_equal(hex_encode(bytes, len, hex), TV_SIGNED);
        /* 2. the signature: Ed25519 is deterministic */
        assert_string_equal(hex_encode(r.signature, sizeof(r.signature), hex), TV_SIGNATURE);
        /* 3. the text */
        assert_int_equal(receipt_to_text(&r, text, sizeof(text)), 0);
        assert_string_equal(text, TV_TEXT);

        /* And back, checked with the public key's one-line text. */
        assert_int_equal(receipt_from_text(TV_TEXT, &parsed, &error), 0);
        assert_null(error);
        assert_memory_equal(&parsed, &r, sizeof(r));
        assert_int_equal(receipt_verify(&parsed, tv_public, &verror), 0);
        assert_null(verror);
        assert_int_equal(receipt_verify(&parsed, tv_key, NULL), 0);
        assert_string_equal(crypto_key_public_to_text(tv_key, pub), TV_PUBLIC);
        assert_string_equal(crypto_key_public_to_text(tv_public, pub), TV_PUBLIC);
}

static void test_round_trip(void **state _unused_) {
        static const char *const request_ids[] = {
                "", "a", "ik-0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
                "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
        };
        static const char *const hosts[] = {
                "a", "machine-0123456789abcdef", "A.b_c-9",
                "0123456789012345678901234567890123456789012345678901234567890123", /* 64 */
        };
        static const char *const slices[] = { "s-01234567", "s-0123456789abcdef", "s-abcdef012", "s-ffffffff" };
        char text[RECEIPT_TEXT_MAX], *wrapped;
        const char *error;

        for (size_t i = 0; i < ARRAY_SIZE(request_ids); i++)
                for (enum receipt_kind kind = RECEIPT_CREATE; kind <= RECEIPT_PAY; kind++) {
                        struct receipt r = {
                                .kind = kind,
                                .amount = i == 0 ? (kind == RECEIPT_RELEASE ? 0 : 1) : RECEIPT_AMOUNT_MAX,
                                .balance = i == 1 ? 0 : RECEIPT_AMOUNT_MAX,
                                .currency = "USD",
                                .time_usec = i == 2 ? 1 : INT64_MAX,
                                .n_vouchers = kind == RECEIPT_RELEASE ? 0 : i == 3 ? RECEIPT_VOUCHERS_MAX : i + 1,
                        }, back;

                        strcpy(r.slice, slices[i]);
                        strcpy(r.request_id, request_ids[i]);
                        strcpy(r.host_id, hosts[i]);
                        assert_int_equal(crypto_random(r.vouchers, r.n_vouchers * VOUCHER_ID_SIZE), 0);
                        assert_int_equal(receipt_sign(&r, tv_key), 0);
                        assert_int_equal(receipt_to_text(&r, text, sizeof(text)), 0);
                        assert_true(strlen(text) < RECEIPT_TEXT_MAX);
                        assert_int_equal(receipt_from_text(text, &back, &error), 0);
                        assert_memory_equal(&back, &r, sizeof(r));
                        assert_int_equal(receipt_verify(&back, tv_public, NULL), 0);

                        /* What a receipt file holds, and what people paste. */
                        assert_true(asprintf(&wrapped, " \t\n%s\r\n\n", text) > 0);
                        assert_int_equal(receipt_from_text(wrapped, &back, &error), 0);
                        assert_memory_equal(&back, &r, sizeof(r));
                        free(wrapped);
                }
}

/* The longest receipt fits the buffers the header sizes. */
static void test_longest(void **state _unused_) {
        struct receipt r = tv_fields(), back;
        char text[RECEIPT_TEXT_MAX];
        uint8_t bytes[RECEIPT_SIGNED_MAX];
        size_t len;

        memset(r.request_id, 'r', RECEIPT_REQUEST_ID_MAX);
        memset(r.host_id, 'h', VOUCHER_AUDIENCE_MAX);
        r.n_vouchers = RECEIPT_VOUCHERS_MAX;
        assert_int_equal(receipt_sign(&r, tv_key), 0);
        assert_int_equal(receipt_encode(&r, bytes, sizeof(bytes), &len), 0);
        assert_int_equal(len, RECEIPT_SIGNED_MAX);
        assert_int_equal(receipt_to_text(&r, text, sizeof(text)), 0);
        assert_int_equal(strlen(text), RECEIPT_TEXT_MAX - 1);
        assert_int_equal(receipt_from_text(text, &back, NULL), 0);
        assert_memory_equal(&back, &r, sizeof(r));
}

/* receipt_encode() refuses r, and receipt_sign() too, leaving it as it was. */
static void check_encode_refuses(struct receipt r) {
        uint8_t bytes[RECEIPT_SIGNED_MAX];
        struct receipt before = r;
        size_t len = 999;

        assert_int_equal(receipt_encode(&r, bytes, sizeof(bytes), &len), -EINVAL);
        assert_int_equal(len, 999);
        assert_int_equal(receipt_sign(&r, tv_key), -EINVAL);
        assert_memory_equal(&r, &before, sizeof(r));
}

static void test_encode_refuses(void **state _unused_) {
        uint8_t bytes[RECEIPT_SIGNED_MAX];
        char text[RECEIPT_TEXT_MAX];
        struct receipt r, before;
        size_t len = 999;

        r = tv_fields(), r.kind = 0, check_encode_refuses(r);
        r = tv_fields(), r.kind = 5, check_encode_refuses(r);
        r = tv_fields(), r.amount = 0, check_encode_refuses(r);
        r = tv_fields(), r.amount = -1, check_encode_refuses(r);
        r = tv_fields(), r.amount = RECEIPT_AMOUNT_MAX + 1, check_encode_refuses(r);
        r = tv_fields(), r.kind = RECEIPT_RELEASE, r.n_vouchers = 0, r.amount = -1, check_encode_refuses(r);
        r = tv_fields(), r.balance = -1, check_encode_refuses(r);
        r = tv_fields(), r.balance = RECEIPT_AMOUNT_MAX + 1, check_encode_refuses(r);
        r = tv_fields(), strcpy(r.currency, "eur"), check_encode_refuses(r);
        r = tv_fields(), memset(r.currency, 'E', sizeof(r.currency)), check_encode_refuses(r);
        r = tv_fields(), r.time_usec = 0, check_encode_refuses(r);
        r = tv_fields(), r.time_usec = -1, check_encode_refuses(r);
        r = tv_fields(), strcpy(r.slice, "s-0123"), check_encode_refuses(r);
        r = tv_fields(), strcpy(r.slice, "x-01234567"), check_encode_refuses(r);
        r = tv_fields(), strcpy(r.slice, ""), check_encode_refuses(r);
        r = tv_fields(), memset(r.slice, 'a', sizeof(r.slice)), check_encode_refuses(r);
        r = tv_fields(), strcpy(r.request_id, "a b"), check_encode_refuses(r);
        r = tv_fields(), memset(r.request_id, 'a', sizeof(r.request_id)), check_encode_refuses(r);
        r = tv_fields(), strcpy(r.host_id, ""), check_encode_refuses(r);
        r = tv_fields(), strcpy(r.host_id, "host:a"), check_encode_refuses(r);
        r = tv_fields(), memset(r.host_id, 'a', sizeof(r.host_id)), check_encode_refuses(r);
        r = tv_fields(), r.n_vouchers = 0, check_encode_refuses(r);
        r = tv_fields(), r.n_vouchers = RECEIPT_VOUCHERS_MAX + 1, check_encode_refuses(r);
        r = tv_fields(), r.kind = RECEIPT_CREATE, r.n_vouchers = 0, check_encode_refuses(r);
        r = tv_fields(), r.kind = RECEIPT_RELEASE, check_encode_refuses(r); /* a release spends none */

        r = tv_fields();
        assert_int_equal(receipt_encode(&r, bytes, TV_SIGNED_LEN - 1, &len), -ENOBUFS);
        assert_int_equal(len, 999);
        assert_int_equal(receipt_encode(&r, bytes, TV_SIGNED_LEN, &len), 0);
        assert_int_equal(len, TV_SIGNED_LEN);
        assert_int_equal(receipt_encode(NULL, bytes, sizeof(bytes), &len), -EINVAL);

        /* A public key cannot sign. */
        before = r;
        assert_int_equal(receipt_sign(&r, tv_public), -EINVAL);
        assert_int_equal(receipt_sign(&r, NULL), -EINVAL);
        assert_memory_equal(&r, &before, sizeof(r));

        r = tv_signed();
        assert_int_equal(receipt_to_text(&r, text, strlen(TV_TEXT)), -ENOBUFS);
        assert_int_equal(receipt_to_text(&r, text, strlen(TV_TEXT) + 1), 0);
        assert_string_equal(text, TV_TEXT);
}

/* receipt_from_text() fails with -EINVAL and exactly this sentence, and
 * leaves *ret alone. */
static void check_bad_text(const char *s, const char *sentence) {
        struct receipt r, sentinel;
        const char *error = NULL;
        int q;

        memset(&sentinel, 0x5a, sizeof(sentinel));
        r = sentinel;
        q = receipt_from_text(s, &r, &error);
        if (q != -EINVAL)
                fail_msg("'%s': got %d, want -EINVAL", strna(s), q);
        if (!error || !streq(error, sentence))
                fail_msg("'%s': said '%s', want '%s'", strna(s), strna(error), sentence);
        assert_memory_equal(&r, &sentinel, sizeof(r));
        assert_int_equal(receipt_from_text(s, &r, NULL), -EINVAL);
}

/* The vector's text with its "pr1-" replaced by prefix. */
static void check_bad_text_prefixed(const char *prefix, const char *sentence) {
        _cleanup_(freep) char *s = NULL;

        assert_true(asprintf(&s, "%s%s", prefix, TV_TEXT + 4) > 0);
        check_bad_text(s, sentence);
}

/* The vector's bytes with one change, as text. */
static void check_bad_bytes(void (*change)(uint8_t *b, size_t *n), const char *sentence) {
        _cleanup_(freep) char *s = NULL;
        uint8_t b[RECEIPT_MAX + 64];
        size_t n = tv_bytes(b);

        change(b, &n);
        s = text_of(b, n);
        check_bad_text(s, sentence);
}

/* Inserts k bytes of value v at off. */
static void insert(uint8_t *b, size_t *n, size_t off, size_t k, uint8_t v) {
        memmove(b + off + k, b + off, *n - off);
        memset(b + off, v, k);
        *n += k;
}

static void magic_wrong(uint8_t *b, size_t *n) {
        b[2] = 'V'; /* a voucher's magic */
}
static void version_2(uint8_t *b, size_t *n) {
        b[3] = 2;
}
static void version_0(uint8_t *b, size_t *n) {
        b[3] = 0;
}
static void kind_0(uint8_t *b, size_t *n) {
        b[4] = 0;
}
static void kind_5(uint8_t *b, size_t *n) {
        b[4] = 5;
}
static void kind_release(uint8_t *b, size_t *n) {
        b[4] = RECEIPT_RELEASE; /* with a voucher spent */
}
static void amount_zero(uint8_t *b, size_t *n) {
        memset(b + 5, 0, 8);
}
static void amount_negative(uint8_t *b, size_t *n) {
        memset(b + 5, 0xff, 8);
}
static void amount_over_max(uint8_t *b, size_t *n) {
        be64_put(b + 5, RECEIPT_AMOUNT_MAX + 1);
}
static void balance_negative(uint8_t *b, size_t *n) {
        memset(b + 13, 0xff, 8);
}
static void balance_over_max(uint8_t *b, size_t *n) {
        be64_put(b + 13, RECEIPT_AMOUNT_MAX + 1);
}
static void currency_lower(uint8_t *b, size_t *n) {
        b[21] = 'e';
}
static void currency_nul(uint8_t *b, size_t *n) {
        b[23] = 0;
}
static void time_zero(uint8_t *b, size_t *n) {
        memset(b + 24, 0, 8);
}
static void time_negative(uint8_t *b, size_t *n) {
        b[24] = 0x80;
}
static void slice_len_19(uint8_t *b, size_t *n) {
        b[TV_OFF_SLICE_LEN] = 19;
        insert(b, n, TV_OFF_SLICE_LEN + 1 + 18, 1, 'f');
}
static void slice_len_255(uint8_t *b, size_t *n) {
        b[TV_OFF_SLICE_LEN] = 255;
}
static void slice_upper(uint8_t *b, size_t *n) {
        b[TV_OFF_SLICE_LEN + 3] = 'A';
}
static void slice_nul(uint8_t *b, size_t *n) {
        b[TV_OFF_SLICE_LEN + 18] = 0;
}
static void slice_empty(uint8_t *b, size_t *n) {
        memmove(b + TV_OFF_SLICE_LEN + 1, b + TV_OFF_SLICE_LEN + 19, *n - TV_OFF_SLICE_LEN - 19);
        b[TV_OFF_SLICE_LEN] = 0;
        *n -= 18;
}
static void request_len_65(uint8_t *b, size_t *n) {
        b[TV_OFF_REQUEST_LEN] = 65;
        insert(b, n, TV_OFF_REQUEST_LEN + 1 + 5, 60, 'x');
}
static void request_space(uint8_t *b, size_t *n) {
        b[TV_OFF_REQUEST_LEN + 4] = ' ';
}
static void request_nul(uint8_t *b, size_t *n) {
        b[TV_OFF_REQUEST_LEN + 1] = 0;
}
static void host_len_0(uint8_t *b, size_t *n) {
        memmove(b + TV_OFF_HOST_LEN + 1, b + TV_OFF_HOST_LEN + 15, *n - TV_OFF_HOST_LEN - 15);
        b[TV_OFF_HOST_LEN] = 0;
        *n -= 14;
}
static void host_len_65(uint8_t *b, size_t *n) {
        b[TV_OFF_HOST_LEN] = 65;
        insert(b, n, TV_OFF_HOST_LEN + 1 + 14, 51, 'x');
}
static void host_slash(uint8_t *b, size_t *n) {
        b[TV_OFF_HOST_LEN + 1] = '/';
}
static void host_nul(uint8_t *b, size_t *n) {
        b[TV_OFF_HOST_LEN + 5] = 0;
}
static void count_0(uint8_t *b, size_t *n) {
        memmove(b + TV_OFF_COUNT + 1, b + TV_OFF_COUNT + 17, *n - TV_OFF_COUNT - 17);
        b[TV_OFF_COUNT] = 0;
        *n -= 16;
}
static void count_17(uint8_t *b, size_t *n) {
        b[TV_OFF_COUNT] = 17;
        insert(b, n, TV_OFF_COUNT + 17, 16 * 16, 0xaa);
}
static void count_2(uint8_t *b, size_t *n) {
        b[TV_OFF_COUNT] = 2; /* says 2, holds 1 */
}
static void count_more(uint8_t *b, size_t *n) {
        insert(b, n, TV_OFF_COUNT + 17, 16, 0xaa); /* says 1, holds 2 */
}
static void request_len_longer(uint8_t *b, size_t *n) {
        b[TV_OFF_REQUEST_LEN] = 64; /* takes in the host id, the count and the signature's first bytes */
}
static void trailing_byte(uint8_t *b, size_t *n) {
        b[(*n)++] = 0;
}
static void cut_signature(uint8_t *b, size_t *n) {
        (*n)--;
}
static void cut_to_signed(uint8_t *b, size_t *n) {
        *n = TV_SIGNED_LEN;
}
static void cut_to_magic(uint8_t *b, size_t *n) {
        *n = 3;
}
static void cut_to_fixed(uint8_t *b, size_t *n) {
        *n = TV_OFF_SLICE_LEN;
}
static void cut_in_slice(uint8_t *b, size_t *n) {
        *n = TV_OFF_SLICE_LEN + 5;
}
static void cut_before_count(uint8_t *b, size_t *n) {
        *n = TV_OFF_COUNT;
}

static void test_from_text_refuses(void **state _unused_) {
        static const char not_receipt[] = "Not a prepay receipt (expected text starting pr1-)";
        static const char damaged[] = "Receipt text is damaged: not valid base64url after pr1-";
        static const char truncated[] = "Receipt text is truncated";
        static const char too_long[] = "Receipt text is too long: extra data after the signature";
        static const char vouchers[] =
                "Receipt voucher count does not fit its kind (create, topup and pay spend 1 to 16, release none)";
        _cleanup_(freep) char *s = NULL;

        /* wrong prefix */
        check_bad_text(NULL, not_receipt);
        check_bad_text("", not_receipt);
        check_bad_text(" \n", not_receipt);
        check_bad_text("pr1", not_receipt);
        check_bad_text_prefixed("pr2-", not_receipt);
        check_bad_text_prefixed("PR1-", not_receipt);
        check_bad_text_prefixed("pv1-", not_receipt);
        check_bad_text_prefixed("", not_receipt);
        check_bad_text("x" TV_TEXT, not_receipt);

        /* bad base64url */
        check_bad_text(TV_TEXT "=", damaged);
        check_bad_text(TV_TEXT " x", damaged);
        check_bad_text_prefixed("pr1- ", damaged);
        check_bad_text("pr1-UFBS+QAB", damaged);
        check_bad_text("pr1-UFBS/QAB", damaged);
        check_bad_text("pr1-\xff\xfe", damaged);

        /* truncated */
        check_bad_text("pr1-", truncated);
        check_bad_bytes(cut_to_magic, truncated);
        check_bad_bytes(cut_to_fixed, truncated);
        check_bad_bytes(cut_in_slice, truncated);
        check_bad_bytes(cut_before_count, truncated);
        check_bad_bytes(cut_to_signed, truncated);
        check_bad_bytes(cut_signature, truncated);
        check_bad_bytes(count_2, truncated);
        /* Cut anywhere, even mid-group, it is truncated; not damaged. */
        for (size_t cut = 1; cut < strlen(TV_TEXT) - 4; cut++) {
                s = strndup(TV_TEXT, strlen(TV_TEXT) - cut);
                check_bad_text(s, truncated);
                free(TAKE_PTR(s));
        }

        /* trailing garbage */
        check_bad_bytes(trailing_byte, too_long);
        check_bad_bytes(count_more, too_long);
        check_bad_text(TV_TEXT "AAAA", too_long);
        /* Whole groups of base64url, decoding to more than any receipt. */
        s = calloc(1, 4 + 4 * RECEIPT_TEXT_MAX / 3 + 4 + 1);
        assert_non_null(s);
        memcpy(s, "pr1-", 4);
        memset(s + 4, 'A', 4 * (RECEIPT_TEXT_MAX / 3 + 1));
        check_bad_text(s, too_long);
        free(TAKE_PTR(s));

        /* magic and version */
        check_bad_bytes(magic_wrong, "Not a prepay receipt (its bytes do not start with PPR)");
        check_bad_bytes(version_2, "Receipt has an unknown format version (this prepay reads version 1)");
        check_bad_bytes(version_0, "Receipt has an unknown format version (this prepay reads version 1)");

        /* fields out of range */
        check_bad_bytes(kind_0, "Receipt kind is unknown (this prepay knows create, topup, release and pay)");
        check_bad_bytes(kind_5, "Receipt kind is unknown (this prepay knows create, topup, release and pay)");
        check_bad_bytes(kind_release, vouchers);
        check_bad_bytes(amount_zero, "Receipt amount out of range");
        check_bad_bytes(amount_negative, "Receipt amount out of range");
        check_bad_bytes(amount_over_max, "Receipt amount out of range");
        check_bad_bytes(balance_negative, "Receipt balance out of range");
        check_bad_bytes(balance_over_max, "Receipt balance out of range");
        check_bad_bytes(currency_lower, "Receipt currency is not three upper-case letters");
        check_bad_bytes(currency_nul, "Receipt currency is not three upper-case letters");
        check_bad_bytes(time_zero, "Receipt time out of range");
        check_bad_bytes(time_negative, "Receipt time out of range");
        check_bad_bytes(slice_len_19, "Receipt slice id is not valid");
        check_bad_bytes(slice_len_255, "Receipt slice id is not valid");
        check_bad_bytes(slice_upper, "Receipt slice id is not valid");
        check_bad_bytes(slice_nul, "Receipt slice id is not valid");
        check_bad_bytes(slice_empty, "Receipt slice id is not valid");
        check_bad_bytes(request_len_65, "Receipt request id is not valid");
        check_bad_bytes(request_space, "Receipt request id is not valid");
        check_bad_bytes(request_nul, "Receipt request id is not valid");
        check_bad_bytes(request_len_longer, "Receipt request id is not valid");
        check_bad_bytes(host_len_0, "Receipt host id is not valid");
        check_bad_bytes(host_len_65, "Receipt host id is not valid");
        check_bad_bytes(host_slash, "Receipt host id is not valid");
        check_bad_bytes(host_nul, "Receipt host id is not valid");
        check_bad_bytes(count_0, vouchers);
        check_bad_bytes(count_17, vouchers);
}

/* Signature bits are not checked by the parser (a forged receipt parses),
 * but the text must be canonical: one receipt, one text. */
static void test_from_text_canonical(void **state _unused_) {
        char text[] = TV_TEXT;
        struct receipt r;

        /* "k" is 36: 0b100100, its last four bits are not a byte's. */
        assert_int_equal(text[strlen(text) - 1], 'k');
        text[strlen(text) - 1] = 'l';
        check_bad_text(text, "Receipt text is damaged: not valid base64url after pr1-");

        /* A changed signature still parses; receipt_verify() refuses it. */
        text[strlen(text) - 1] = 'g';
        assert_int_equal(receipt_from_text(text, &r, NULL), 0);
        assert_int_equal(receipt_verify(&r, tv_public, NULL), -EBADMSG);
}

/* receipt_verify() fails with err and exactly this sentence. */
static void check_verify(const struct receipt *r, const struct crypto_key *k, int err, const char *sentence) {
        _cleanup_(freep) char *error = NULL;
        int q;

        q = receipt_verify(r, k, &error);
        if (q != err)
                fail_msg("got %d (%s), want %d", q, strna(error), err);
        if (!sentence) {
                assert_null(error);
                return;
        }
        if (!error || !streq(error, sentence))
                fail_msg("said '%s', want '%s'", strna(error), sentence);
        assert_int_equal(receipt_verify(r, k, NULL), err);
}

#define FORGED "Receipt signature does not verify: forged or damaged"

static void test_verify(void **state _unused_) {
        struct receipt good = tv_signed(), r;
        char *error = (char *) "sentinel";
        uint8_t b[RECEIPT_MAX];
        size_t n;

        check_verify(&good, tv_public, 0, NULL);
        /* Untouched on success. */
        assert_int_equal(receipt_verify(&good, tv_public, &error), 0);
        assert_string_equal(error, "sentinel");

        check_verify(&good, other_key, -ENOKEY,
                     "Receipt is signed by key 21fe31dfa154a261, not by the key given (3097e2dee2cb4a34)");
        check_verify(&good, NULL, -ENOKEY, "No key to check the receipt with");

        /* One bit of each field, and of the signature. */
        r = good, r.kind = RECEIPT_CREATE, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.amount ^= 1, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.balance ^= 1, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.currency[2] = 'S', check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.time_usec ^= 1, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.slice[17] = 'e', check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.request_id[0] = 0, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.host_id[0] = 'H', check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.vouchers[0][15] ^= 1, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.n_vouchers = 2, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.signature[0] ^= 1, check_verify(&r, tv_public, -EBADMSG, FORGED);
        r = good, r.signature[63] ^= 0x80, check_verify(&r, tv_public, -EBADMSG, FORGED);
        /* The key id is signed too: the right key named wrongly. */
        r = good, r.host_key[0] ^= 1;
        check_verify(&r, tv_public, -ENOKEY,
                     "Receipt is signed by key 20fe31dfa154a261, not by the key given (21fe31dfa154a261)");

        /* -EINVAL: a struct nobody could have parsed */
        r = good, r.amount = 0, check_verify(&r, tv_public, -EINVAL, "Receipt has a field out of range");

        /* Every single byte of the text changed is refused: by the parser
         * or by the signature. */
        n = tv_bytes(b);
        for (size_t i = 0; i < n; i++)
                for (int bit = 0; bit < 8; bit++) {
                        _cleanup_(freep) char *s = NULL;

                        b[i] ^= (uint8_t) (1u << bit);
                        s = text_of(b, n);
                        if (receipt_from_text(s, &r, NULL) == 0 && receipt_verify(&r, tv_public, NULL) == 0)
                                fail_msg("byte %zu bit %d changed, and the receipt still verifies", i, bit);
                        b[i] ^= (uint8_t) (1u << bit);
                }
}

static void test_public_text(void **state _unused_) {
        static const char pem[] = "-----BEGIN PUBLIC KEY-----\n" TV_PUBLIC "\n-----END PUBLIC KEY-----\n";
        struct crypto_key *k = NULL;
        char text[CRYPTO_PUBKEY_TEXT_MAX];
        uint8_t a[CRYPTO_KEY_ID_SIZE], b[CRYPTO_KEY_ID_SIZE];

        crypto_key_id(tv_key, a);
        /* The line, the line with white space, the whole PEM file. */
        assert_int_equal(crypto_key_from_public_text(" " TV_PUBLIC "\n", &k), 0);
        assert_false(crypto_key_has_private(k));
        crypto_key_id(k, b);
        assert_memory_equal(a, b, sizeof(a));
        crypto_key_free(TAKE_PTR(k));
        assert_int_equal(crypto_key_from_public_text(pem, &k), 0);
        assert_string_equal(crypto_key_public_to_text(k, text), TV_PUBLIC);
        crypto_key_free(TAKE_PTR(k));
        assert_int_equal(strlen(TV_PUBLIC), CRYPTO_PUBKEY_TEXT_MAX - 1);

        /* Anything else is refused. */
        assert_int_equal(crypto_key_from_public_text(NULL, &k), -EINVAL);
        assert_int_equal(crypto_key_from_public_text("", &k), -EINVAL);
        assert_int_equal(crypto_key_from_public_text(TV_PUBLIC "AAAA", &k), -EINVAL);
        assert_int_equal(crypto_key_from_public_text("MCowBQYDK2VwAyEA", &k), -EINVAL);
        /* X25519's prefix (1.3.101.110) with the same key bytes. */
        assert_int_equal(crypto_key_from_public_text("MCowBQYDK2VuAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                                                     &k),
                         -EINVAL);
        /* base64url is not base64 */
        assert_int_equal(crypto_key_from_public_text("MCowBQYDK2VwAyEA11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
                                                     &k),
                         -EINVAL);
        assert_int_equal(crypto_key_from_public_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
                                                     &k),
                         -EINVAL);
        /* A private key's PEM is not a public key. */
        assert_int_equal(crypto_key_from_public_text("-----BEGIN PRIVATE KEY-----\n"
                                                     "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
                                                     "-----END PRIVATE KEY-----\n",
                                                     &k),
                         -EINVAL);
        assert_null(k);
}

static void test_helpers(void **state _unused_) {
        char buf[RECEIPT_TIME_STRING_MAX];

        assert_string_equal(receipt_kind_to_string(RECEIPT_CREATE), "create");
        assert_string_equal(receipt_kind_to_string(RECEIPT_TOPUP), "topup");
        assert_string_equal(receipt_kind_to_string(RECEIPT_RELEASE), "release");
        assert_null(receipt_kind_to_string(0));
        assert_string_equal(receipt_kind_to_string(RECEIPT_PAY), "pay");
        assert_null(receipt_kind_to_string(5));

        assert_string_equal(receipt_time_to_string(TV_TIME, buf), "2026-01-01 00:00:00.123456 UTC");
        assert_string_equal(receipt_time_to_string(1, buf), "1970-01-01 00:00:00.000001 UTC");
        assert_string_equal(receipt_time_to_string(INT64_MAX, buf), "294247-01-10 04:00:54.775807 UTC");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_vector),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_longest),
                cmocka_unit_test(test_encode_refuses),
                cmocka_unit_test(test_from_text_refuses),
                cmocka_unit_test(test_from_text_canonical),
                cmocka_unit_test(test_verify),
                cmocka_unit_test(test_public_text),
                cmocka_unit_test(test_helpers),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}
