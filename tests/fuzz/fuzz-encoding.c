/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* hex, base64url and base64 decoding (common/encoding.c), which read key
 * ids, owner tokens, the body of every voucher and SSH public keys. The
 * first byte picks the decoder (odd: hex; else bit 1: base64; else
 * base64url), the rest is the text. Properties:
 *   - base64url: what decodes re-encodes to the same text (one encoding
 *     per byte string), and a too small buffer is -ENOBUFS, never a write
 *     past it; the bytes given encode and decode back to themselves;
 *   - base64: the same, with its padding;
 *   - hex: what decodes re-encodes to the same text, lower-cased, and
 *     bytes encode and decode back to themselves. */
#include <ctype.h>
#include <errno.h>

#include "fuzz.h"
#include "common/encoding.h"

FUZZ_QUIET_INITIALIZE

/* base64url and base64 differ in alphabet and padding only: one
 * harness for both. */
struct base64_variant {
        char *(*encode)(const void *p, size_t n, char *out);
        int (*decode)(const char *s, size_t len, void *out, size_t cap, size_t *ret_size);
        size_t (*len)(size_t n);
};

static size_t base64url_len(size_t n) {
        return BASE64URL_LEN(n);
}

static size_t base64_len(size_t n) {
        return BASE64_LEN(n);
}

static const struct base64_variant base64url = { base64url_encode, base64url_decode, base64url_len };
static const struct base64_variant base64 = { base64_encode, base64_decode, base64_len };

static void fuzz_base64(const struct base64_variant *v, const uint8_t *data, size_t size) {
        const char *s = (const char *) data;
        size_t n, n2, cap = size * 3 / 4 + 1;
        uint8_t *out = malloc(cap), *back = malloc(size + 1);
        char *text = malloc(v->len(cap) + 1), *enc = malloc(v->len(size) + 1);
        int r;

        if (!out || !back || !text || !enc)
                goto out;

        r = v->decode(s, size, out, cap, &n);
        fuzz_check(r == 0 || r == -EINVAL);
        if (r == 0) {
                fuzz_check(n <= cap && v->len(n) == size);
                v->encode(out, n, text);
                fuzz_check(strlen(text) == size && memcmp(text, s, size) == 0);
                /* One byte short is refused, and nothing is written past it. */
                if (n > 0) {
                        uint8_t *tight = malloc(n - 1 ?: 1);

                        fuzz_check(!tight || v->decode(s, size, tight, n - 1, &n2) == -ENOBUFS);
                        free(tight);
                }
        }

        /* And the input as bytes. */
        v->encode(data, size, enc);
        fuzz_check(strlen(enc) == v->len(size));
        fuzz_check(v->decode(enc, strlen(enc), back, size, &n2) == 0);
        fuzz_check(n2 == size && memcmp(back, data, size) == 0);
out:
        free(out);
        free(back);
        free(text);
        free(enc);
}

static void fuzz_hex(const uint8_t *data, size_t size) {
        char *s = fuzz_strndup(data, size), *text = malloc(size + 1), *enc = malloc(2 * size + 1);
        uint8_t *out = malloc(size / 2 + 1), *back = malloc(size + 1);
        int r;

        if (!s || !text || !out || !back || !enc)
                goto out;

        /* The decoder takes a C string: what a NUL cuts off is not seen. */
        r = hex_decode(s, out, size / 2);
        fuzz_check(r == 0 || r == -EINVAL);
        if (r == 0) {
                fuzz_check(strlen(s) == size / 2 * 2);
                hex_encode(out, size / 2, text);
                for (size_t i = 0; i < size / 2 * 2; i++)
                        fuzz_check(text[i] == tolower((unsigned char) s[i]));
        }

        hex_encode(data, size, enc);
        fuzz_check(strlen(enc) == 2 * size);
        fuzz_check(hex_decode(enc, back, size) == 0 && memcmp(back, data, size) == 0);
out:
        free(s);
        free(text);
        free(out);
        free(back);
        free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 1 || size > 4096)
                return 0;
        if (data[0] & 1)
                fuzz_hex(data + 1, size - 1);
        else if (data[0] & 2)
                fuzz_base64(&base64, data + 1, size - 1);
        else
                fuzz_base64(&base64url, data + 1, size - 1);
        return 0;
}
