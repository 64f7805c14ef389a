/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Hex, base64url and base64 (daemon/common/encoding.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/encoding.h"
#include "common/util.h"

static void test_hex_encode(void **state _unused_) {
        static const uint8_t bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xcd, 0xef, 0xff };
        char out[2 * sizeof(bytes) + 1];

        assert_ptr_equal(hex_encode(bytes, sizeof(bytes), out), out);
        assert_string_equal(out, "00017f80abcdefff");
        assert_string_equal(hex_encode(bytes, 0, out), "");
}

static void test_hex_decode(void **state _unused_) {
        uint8_t out[4];

        assert_int_equal(hex_decode("0001abff", out, 4), 0);
        assert_memory_equal(out, ((uint8_t[]){ 0x00, 0x01, 0xab, 0xff }), 4);
        /* Either case. */
        assert_int_equal(hex_decode("DEADbeef", out, 4), 0);
        assert_memory_equal(out, ((uint8_t[]){ 0xde, 0xad, 0xbe, 0xef }), 4);
        assert_int_equal(hex_decode("", out, 0), 0);
}

static void test_hex_decode_bad(void **state _unused_) {
        static const char *const bad[] = {
                "",          /* too short */
                "0001abf",   /* odd */
                "0001abff0", /* too long */
                "0001abff00",
                "0001abfg", /* not a digit */
                "0001ab f", " 001abff", "0001abf ", "0x01abff", "-001abff",
        };
        uint8_t out[4];

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                memset(out, 0x5a, sizeof(out));
                if (hex_decode(bad[i], out, sizeof(out)) != -EINVAL)
                        fail_msg("hex_decode('%s') accepted", bad[i]);
                /* Nothing written on failure, even past a good prefix. */
                assert_memory_equal(out, ((uint8_t[]){ 0x5a, 0x5a, 0x5a, 0x5a }), 4);
        }
        assert_int_equal(hex_decode(NULL, out, 4), -EINVAL);
        assert_int_equal(hex_decode("00", out, 0), -EINVAL);
}

static void test_hex_round_trip(void **state _unused_) {
        uint8_t bytes[256], back[256];
        char text[2 * sizeof(bytes) + 1];

        for (size_t i = 0; i < sizeof(bytes); i++)
                bytes[i] = (uint8_t) i;
        hex_encode(bytes, sizeof(bytes), text);
        assert_int_equal(strlen(text), 2 * sizeof(bytes));
        assert_int_equal(hex_decode(text, back, sizeof(back)), 0);
        assert_memory_equal(bytes, back, sizeof(bytes));
}

/* RFC 4648 section 10, without the padding. */
static const struct {
        const char *bytes;
        const char *text;
} rfc4648[] = {
        { "", "" },
        { "f", "Zg" },
        { "fo", "Zm8" },
        { "foo", "Zm9v" },
        { "foob", "Zm9vYg" },
        { "fooba", "Zm9vYmE" },
        { "foobar", "Zm9vYmFy" },
};

static void test_base64url_encode(void **state _unused_) {
        char out[64];

        for (size_t i = 0; i < ARRAY_SIZE(rfc4648); i++) {
                size_t n = strlen(rfc4648[i].bytes);

                assert_ptr_equal(base64url_encode(rfc4648[i].bytes, n, out), out);
                assert_string_equal(out, rfc4648[i].text);
                assert_int_equal(strlen(out), BASE64URL_LEN(n));
        }

        /* The URL alphabet: '-' and '_' where base64 has '+' and '/'. */
        assert_string_equal(base64url_encode((uint8_t[]){ 0xfb, 0xff, 0xbf }, 3, out), "-_-_");
        assert_string_equal(base64url_encode((uint8_t[]){ 0xff }, 1, out), "_w");
        assert_string_equal(base64url_encode((uint8_t[]){ 0xff, 0xff }, 2, out), "__8");
        assert_string_equal(base64url_encode((uint8_t[]){ 0, 0, 0 }, 3, out), "AAAA");
}

static void test_base64url_decode(void **state _unused_) {
        uint8_t out[16];
        size_t size;

        for (size_t i = 0; i < ARRAY_SIZE(rfc4648); i++) {
                const char *t = rfc4648[i].text;

                size = 999;
                assert_int_equal(base64url_decode(t, strlen(t), out, sizeof(out), &size), 0);
                assert_int_equal(size, strlen(rfc4648[i].bytes));
                assert_memory_equal(out, rfc4648[i].bytes, size);
        }

        assert_int_equal(base64url_decode("-_-_", 4, out, sizeof(out), &size), 0);
        assert_int_equal(size, 3);
        assert_memory_equal(out, ((uint8_t[]){ 0xfb, 0xff, 0xbf }), 3);

        /* len, not the NUL, bounds the input. */
        assert_int_equal(base64url_decode("Zm9vYmFyXXXX", 8, out, sizeof(out), &size), 0);
        assert_int_equal(size, 6);
        assert_memory_equal(out, "foobar", 6);

        /* An exact fit is enough; ret_size may be NULL. */
        assert_int_equal(base64url_decode("Zm9vYmFy", 8, out, 6, NULL), 0);
        assert_int_equal(base64url_decode("", 0, out, 0, &size), 0);
        assert_int_equal(size, 0);
}

static void test_base64url_decode_bad(void **state _unused_) {
        static const char *const bad[] = {
                "Z",        /* one character is not a byte */
                "Zm9vY",    /* nor are five */
                "Zm8=",     /* padding */
                "Zg==",
                "+/+/",     /* plain base64's alphabet */
                "Zm9v Yg",  /* white space */
                "Zm9v\nYg", /* line breaks */
                "Zm9v.g",
                "Zh",       /* 'f' is "Zg": non-zero bits left over */
                "Zm9",      /* "fo" is "Zm8" */
                "Zm_",
                "__",
                "\xc3\xa9\xc3\xa9",
        };
        uint8_t out[16];
        size_t size;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                memset(out, 0x5a, sizeof(out));
                size = 999;
                if (base64url_decode(bad[i], strlen(bad[i]), out, sizeof(out), &size) != -EINVAL)
                        fail_msg("base64url_decode('%s') did not fail with -EINVAL", bad[i]);
                assert_int_equal(size, 999);
                assert_int_equal(out[0], 0x5a);
        }
        assert_int_equal(base64url_decode(NULL, 4, out, sizeof(out), &size), -EINVAL);
}

static void test_base64url_decode_nobufs(void **state _unused_) {
        uint8_t out[8];
        size_t size = 999;

        memset(out, 0x5a, sizeof(out));
        assert_int_equal(base64url_decode("Zm9vYmFy", 8, out, 5, &size), -ENOBUFS);
        assert_int_equal(base64url_decode("Zg", 2, out, 0, &size), -ENOBUFS);
        assert_int_equal(size, 999);
        assert_int_equal(out[0], 0x5a);
        /* Malformed wins over too long. */
        assert_int_equal(base64url_decode("Zm9vYmF=", 8, out, 2, &size), -EINVAL);
}

/* Every length, every byte value: decode(encode(x)) == x, and the text has
 * no padding. */
static void test_base64url_round_trip(void **state _unused_) {
        uint8_t bytes[200], back[200];
        char text[BASE64URL_LEN(sizeof(bytes)) + 1];

        for (size_t i = 0; i < sizeof(bytes); i++)
                bytes[i] = (uint8_t) (i * 97 + 13);

        for (size_t n = 0; n <= sizeof(bytes); n++) {
                size_t size = 999;

                base64url_encode(bytes, n, text);
                assert_int_equal(strlen(text), BASE64URL_LEN(n));
                assert_null(strchr(text, '='));
                assert_int_equal(base64url_decode(text, strlen(text), back, n, &size), 0);
                assert_int_equal(size, n);
                assert_memory_equal(back, bytes, n);
        }
}

/* RFC 4648 section 10, with its padding. */
static void test_base64(void **state _unused_) {
        static const char *const vectors[][2] = {
                { "", "" },         { "f", "Zg==" },        { "fo", "Zm8=" },         { "foo", "Zm9v" },
                { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
        };
        char out[16];
        uint8_t back[8];
        size_t size;

        for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
                const char *bytes = vectors[i][0], *text = vectors[i][1];

                assert_string_equal(base64_encode(bytes, strlen(bytes), out), text);
                assert_int_equal(base64_decode(text, strlen(text), back, sizeof(back), &size), 0);
                assert_int_equal(size, strlen(bytes));
                assert_memory_equal(back, bytes, size);
        }
        assert_string_equal(base64_encode((uint8_t[]){ 0xfb, 0xff, 0xbf }, 3, out), "+/+/");
        assert_int_equal(base64_decode("+/+/", 4, back, sizeof(back), &size), 0);
        assert_memory_equal(back, ((uint8_t[]){ 0xfb, 0xff, 0xbf }), 3);
}

static void test_base64_decode_bad(void **state _unused_) {
        static const char *const bad[] = {
                "Zg",   "Zg=",  "Zg===", "Zh==", /* bits left over */
                "Z===", "====", "Zm8",   "Zm9=", "Zg==Zg==", "Zm9v=", "-_-_", "Zm 9", "Zm=v",
        };
        uint8_t out[8];

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
                if (base64_decode(bad[i], strlen(bad[i]), out, sizeof(out), NULL) != -EINVAL)
                        fail_msg("base64_decode('%s') accepted", bad[i]);
        assert_int_equal(base64_decode("Zm9vYmFy", 8, out, 5, NULL), -ENOBUFS);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hex_encode),
                cmocka_unit_test(test_hex_decode),
                cmocka_unit_test(test_hex_decode_bad),
                cmocka_unit_test(test_hex_round_trip),
                cmocka_unit_test(test_base64url_encode),
                cmocka_unit_test(test_base64url_decode),
                cmocka_unit_test(test_base64url_decode_bad),
                cmocka_unit_test(test_base64url_decode_nobufs),
                cmocka_unit_test(test_base64url_round_trip),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_base64_decode_bad),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
