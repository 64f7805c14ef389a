/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Byte encodings for printable tokens (vouchers, key ids, owner tokens)
 * and standard base64 (SSH public keys).
 * Pure code, unit-tested in tests/unit/test-encoding.c. */

/* Lower-case hex; out must hold 2*n+1 bytes. Returns out. */
char *hex_encode(const void *p, size_t n, char *out);
/* Exactly 2*n hex digits (either case) into n bytes; -EINVAL otherwise. */
int hex_decode(const char *s, void *out, size_t n);
/* One hex digit's value (either case), -1 for any other character. */
int hex_digit_value(char c);

/* base64url (RFC 4648 section 5) without padding. */
#define BASE64URL_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define BASE64URL_LEN(n) (((n) * 4 + 2) / 3)
/* out must hold BASE64URL_LEN(n)+1 bytes. Returns out. */
char *base64url_encode(const void *p, size_t n, char *out);
/* Decodes len characters of s into out (capacity cap); -EINVAL on a
 * character outside the alphabet, a length that no byte count gives, or
 * non-zero bits left over (so every byte string has one encoding);
 * -ENOBUFS if cap is too small. *ret_size is the decoded length. */
int base64url_decode(const char *s, size_t len, void *out, size_t cap, size_t *ret_size);

/* Standard base64 (RFC 4648 section 4), padded with '='. */
#define BASE64_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
#define BASE64_LEN(n) (((n) + 2) / 3 * 4)
/* out must hold BASE64_LEN(n)+1 bytes. Returns out. */
char *base64_encode(const void *p, size_t n, char *out);
/* As base64url_decode(), for padded text: len a multiple of 4, one or two
 * '=' exactly where the last group is short, nothing else. */
int base64_decode(const char *s, size_t len, void *out, size_t cap, size_t *ret_size);

/* A signed 64-bit integer as 8 big-endian bytes (two's complement), the
 * byte order of the voucher and receipt formats, and back. */
void be64_put(uint8_t p[static 8], int64_t v);
int64_t be64_get(const uint8_t p[static 8]);
