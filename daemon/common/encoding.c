/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "encoding.h"

/* Both decoders check all their input before they write a byte, so a
 * failed decode leaves out as it was. */

static const char hex_digits[] = "0123456789abcdef";

int hex_digit_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *hex_encode(const void *p, size_t n, char *out) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = hex_digits[b[i] >> 4];
                out[2 * i + 1] = hex_digits[b[i] & 15];
        }
        out[2 * n] = 0;
        return out;
}

int hex_decode(const char *s, void *out, size_t n) {
        uint8_t *b = out;

        if (!s)
                return -EINVAL;
        /* strnlen: s may be shorter than 2n, and need not end soon after. */
        if (strnlen(s, 2 * n + 1) != 2 * n)
                return -EINVAL;
        for (size_t i = 0; i < 2 * n; i++)
                if (hex_digit_value(s[i]) < 0)
                        return -EINVAL;

        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t) (hex_digit_value(s[2 * i]) << 4 | hex_digit_value(s[2 * i + 1]));
        return 0;
}

/* RFC 4648's two alphabets differ in their last two characters only:
 * base64url ("-_") for our tokens, standard base64 ("+/", padded with '=')
 * for what others write, such as OpenSSH's public keys. */
static const char base64url_alphabet[] = BASE64URL_ALPHABET;
static const char base64_alphabet[] = BASE64_ALPHABET;

static int base64_value(const char *alphabet, char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == alphabet[62])
                return 62;
        if (c == alphabet[63])
                return 63;
        return -1;
}

/* Without padding; returns the end of what it wrote. */
static char *encode_with(const char *alphabet, const uint8_t *b, size_t n, char *o) {
        size_t i;

        for (i = 0; i + 3 <= n; i += 3) {
                uint32_t v = (uint32_t) b[i] << 16 | (uint32_t) b[i + 1] << 8 | b[i + 2];

                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
                *o++ = alphabet[v >> 6 & 63];
                *o++ = alphabet[v & 63];
        }

        /* One byte left makes two characters, two bytes three. */
        if (n - i == 1) {
                uint32_t v = (uint32_t) b[i] << 16;

                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
        } else if (n - i == 2) {
                uint32_t v = (uint32_t) b[i] << 16 | (uint32_t) b[i + 1] << 8;

                *o++ = alphabet[v >> 18 & 63];
                *o++ = alphabet[v >> 12 & 63];
                *o++ = alphabet[v >> 6 & 63];
        }
        return o;
}

char *base64url_encode(const void *p, size_t n, char *out) {
        *encode_with(base64url_alphabet, p, n, out) = 0;
        return out;
}

char *base64_encode(const void *p, size_t n, char *out) {
        char *o = encode_with(base64_alphabet, p, n, out);

        while ((size_t) (o - out) % 4 != 0)
                *o++ = '=';
        *o = 0;
        return out;
}

/* Unpadded text of len characters. */
static int decode_with(const char *alphabet, const char *s, size_t len, void *out, size_t cap, size_t *ret_size) {
        uint8_t *b = out;
        size_t size, o = 0;
        uint32_t acc = 0;
        unsigned bits = 0;

        if (!s && len > 0)
                return -EINVAL;
        /* Groups of four make three bytes; a last group of two or three
         * makes one or two. A single character is not a whole byte. */
        if (len % 4 == 1)
                return -EINVAL;
        for (size_t i = 0; i < len; i++)
                if (base64_value(alphabet, s[i]) < 0)
                        return -EINVAL;
        /* The bits of the last character that make no byte must be zero,
         * or two texts would decode to the same bytes. */
        if (len % 4 == 2 && (base64_value(alphabet, s[len - 1]) & 15) != 0)
                return -EINVAL;
        if (len % 4 == 3 && (base64_value(alphabet, s[len - 1]) & 3) != 0)
                return -EINVAL;

        size = len / 4 * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
        if (size > cap)
                return -ENOBUFS;

        for (size_t i = 0; i < len; i++) {
                acc = acc << 6 | (uint32_t) base64_value(alphabet, s[i]);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        b[o++] = (uint8_t) (acc >> bits);
                        acc &= (UINT32_C(1) << bits) - 1;
                }
        }

        if (ret_size)
                *ret_size = size;
        return 0;
}

int base64url_decode(const char *s, size_t len, void *out, size_t cap, size_t *ret_size) {
        return decode_with(base64url_alphabet, s, len, out, cap, ret_size);
}

int base64_decode(const char *s, size_t len, void *out, size_t cap, size_t *ret_size) {
        size_t pad = 0;

        if (!s && len > 0)
                return -EINVAL;
        /* Padded to whole groups of four, with one or two '=' only where
         * the last group is short. */
        if (len % 4 != 0)
                return -EINVAL;
        while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
                pad++;
        return decode_with(base64_alphabet, s, len - pad, out, cap, ret_size);
}

void be64_put(uint8_t p[static 8], int64_t v) {
        uint64_t u = (uint64_t) v;

        for (int i = 7; i >= 0; i--, u >>= 8)
                p[i] = (uint8_t) u;
}

int64_t be64_get(const uint8_t p[static 8]) {
        uint64_t u = 0;

        for (int i = 0; i < 8; i++)
                u = u << 8 | p[i];
        return (int64_t) u;
}
