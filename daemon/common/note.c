/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "encoding.h"
#include "note.h"

int note_to_text(const char *prefix, const uint8_t *bytes, size_t len, const uint8_t sig[CRYPTO_SIG_SIZE],
                 char *buf, size_t n) {
        size_t prefix_len = strlen(prefix);
        uint8_t all[NOTE_MAX];

        if (len > sizeof(all) - CRYPTO_SIG_SIZE)
                return -EINVAL;
        if (!buf || n < prefix_len + BASE64URL_LEN(len + CRYPTO_SIG_SIZE) + 1)
                return -ENOBUFS;
        memcpy(all, bytes, len);
        memcpy(all + len, sig, CRYPTO_SIG_SIZE);
        memcpy(buf, prefix, prefix_len);
        base64url_encode(all, len + CRYPTO_SIG_SIZE, buf + prefix_len);
        return 0;
}

static bool char_is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

int note_from_text(const char *s, const char *prefix, uint8_t *buf, size_t cap, size_t *ret_size,
                   size_t *ret_text_len) {
        size_t prefix_len = strlen(prefix), len, body_len, size = 0;
        const char *body;
        int r;

        if (!s)
                return -ENOMSG;
        while (char_is_space(*s))
                s++;
        len = strlen(s);
        while (len > 0 && char_is_space(s[len - 1]))
                len--;
        if (len < prefix_len || strncmp(s, prefix, prefix_len) != 0)
                return -ENOMSG;

        body = s + prefix_len;
        body_len = len - prefix_len;
        r = base64url_decode(body, body_len, buf, cap, &size);
        if (r == -ENOBUFS)
                return r;
        if (r < 0) {
                /* Cut short mostly means cut mid-group, which is not valid
                 * base64url; its whole groups still decode. */
                if (body_len % 4 == 0 || strspn(body, BASE64URL_ALPHABET) < body_len ||
                    base64url_decode(body, body_len - body_len % 4, buf, cap, &size) < 0)
                        return -EBADMSG;
                *ret_size = size;
                *ret_text_len = body_len;
                return -EPIPE;
        }
        *ret_size = size;
        *ret_text_len = body_len;
        return 0;
}

int note_error(char **ret_error, int error, const char *fmt, ...) {
        va_list ap;
        int r;

        if (!ret_error)
                return error;
        va_start(ap, fmt);
        r = vasprintf(ret_error, fmt, ap);
        va_end(ap);
        if (r < 0) {
                *ret_error = NULL;
                return -ENOMEM;
        }
        return error;
}

int note_text_error(const char **ret_error, const char *sentence) {
        if (ret_error)
                *ret_error = sentence;
        return -EINVAL;
}

const char *note_get_string(const uint8_t *b, size_t size, size_t *pos, char *out, size_t out_size,
                            const char *bad, const char *truncated) {
        size_t n = b[*pos];

        if (n >= out_size)
                return bad;
        if (*pos + 1 + n >= size)
                return truncated;
        memcpy(out, b + *pos + 1, n);
        out[n] = 0;
        if (strlen(out) != n)
                return bad;
        *pos += 1 + n;
        return NULL;
}
