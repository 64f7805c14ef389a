/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SSH public keys: the .pub line, the wire blob inside it (RFC 4253
 * section 6.6, RFC 5656 section 3.1, RFC 8709, OpenSSH's PROTOCOL.u2f),
 * its fingerprint. */
#include "common/sshkey.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/util.h"

#define RSA_MIN_BITS 2048
/* OpenSSH's own limit (SSH_RSA_MAXIMUM_MODULUS_SIZE). */
#define RSA_MAX_BITS 16384
#define SK_APPLICATION_MAX 256

enum key_kind { KIND_ED25519, KIND_RSA, KIND_ECDSA };

struct key_type {
        const char *name;
        enum key_kind kind;
        const char *curve; /* ECDSA: the curve's name in the blob */
        size_t point_size; /* ECDSA: 0x04 || X || Y */
        bool sk;           /* a security key's: an application string follows */
};

static const struct key_type key_types[] = {
        { "ssh-ed25519", KIND_ED25519 },
        { "ssh-rsa", KIND_RSA },
        { "ecdsa-sha2-nistp256", KIND_ECDSA, "nistp256", 65 },
        { "ecdsa-sha2-nistp384", KIND_ECDSA, "nistp384", 97 },
        { "ecdsa-sha2-nistp521", KIND_ECDSA, "nistp521", 133 },
        { "sk-ssh-ed25519@openssh.com", KIND_ED25519, .sk = true },
        { "sk-ecdsa-sha2-nistp256@openssh.com", KIND_ECDSA, "nistp256", 65, true },
};

static const struct key_type *key_type_find(const char *s, size_t n) {
        for (size_t i = 0; i < ARRAY_SIZE(key_types); i++)
                if (strlen(key_types[i].name) == n && memcmp(key_types[i].name, s, n) == 0)
                        return &key_types[i];
        return NULL;
}

_printf_(3, 4) static int refuse(char *error, size_t size, const char *fmt, ...) {
        va_list ap;

        if (error && size > 0) {
                va_start(ap, fmt);
                (void) vsnprintf(error, size, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

/* The blob, read front to back. */
struct wire {
        const uint8_t *p;
        size_t left;
};

static bool wire_string(struct wire *w, const uint8_t **ret, size_t *ret_len) {
        uint32_t n;

        if (w->left < 4)
                return false;
        n = (uint32_t) w->p[0] << 24 | (uint32_t) w->p[1] << 16 | (uint32_t) w->p[2] << 8 | w->p[3];
        if (n > w->left - 4)
                return false;
        *ret = w->p + 4;
        *ret_len = n;
        w->p += 4 + n;
        w->left -= 4 + n;
        return true;
}

static bool bytes_equal(const uint8_t *p, size_t n, const char *s) {
        return n == strlen(s) && memcmp(p, s, n) == 0;
}

/* A positive mpint (RFC 4251 section 5) in its one encoding: no leading
 * zero byte unless the next has its top bit set; zero is refused too.
 * Returns its bits, 0 if malformed. */
static size_t mpint_positive_bits(const uint8_t *p, size_t n) {
        size_t bits;

        if (n == 0 || p[0] & 0x80)
                return 0;
        if (p[0] == 0) {
                if (n == 1 || !(p[1] & 0x80))
                        return 0;
                p++;
                n--;
        }
        bits = n * 8;
        for (uint8_t top = p[0]; !(top & 0x80); top <<= 1)
                bits--;
        return bits;
}

static int check_rsa(struct wire *w, char *error, size_t size) {
        const uint8_t *e, *n;
        size_t e_len, n_len, bits;

        if (!wire_string(w, &e, &e_len) || !wire_string(w, &n, &n_len))
                return refuse(error, size, "not an SSH public key: the RSA key is truncated");
        if (mpint_positive_bits(e, e_len) == 0 || !(e[e_len - 1] & 1))
                return refuse(error, size, "not an SSH public key: the RSA exponent is malformed");
        bits = mpint_positive_bits(n, n_len);
        if (bits == 0 || !(n[n_len - 1] & 1))
                return refuse(error, size, "not an SSH public key: the RSA modulus is malformed");
        if (bits < RSA_MIN_BITS)
                return refuse(error, size, "RSA key of %zu bits, at least %d are needed", bits, RSA_MIN_BITS);
        if (bits > RSA_MAX_BITS)
                return refuse(error, size, "RSA key of %zu bits, at most %d are accepted", bits, RSA_MAX_BITS);
        return 0;
}

static int check_ecdsa(const struct key_type *t, struct wire *w, char *error, size_t size) {
        const uint8_t *curve, *point;
        size_t curve_len, point_len;

        if (!wire_string(w, &curve, &curve_len) || !wire_string(w, &point, &point_len))
                return refuse(error, size, "not an SSH public key: the ECDSA key is truncated");
        if (!bytes_equal(curve, curve_len, t->curve))
                return refuse(error, size, "not an SSH public key: the curve does not match the type %s", t->name);
        /* Uncompressed (0x04), the only form OpenSSH writes. */
        if (point_len != t->point_size || point[0] != 0x04)
                return refuse(error, size, "not an SSH public key: the ECDSA point is malformed");
        return 0;
}

static int check_application(struct wire *w, char *error, size_t size) {
        const uint8_t *app;
        size_t app_len;

        if (!wire_string(w, &app, &app_len))
                return refuse(error, size, "not an SSH public key: the security key's application is missing");
        if (app_len == 0 || app_len > SK_APPLICATION_MAX)
                return refuse(error, size, "not an SSH public key: the security key's application is malformed");
        for (size_t i = 0; i < app_len; i++)
                if (app[i] < 0x20 || app[i] > 0x7e)
                        return refuse(error, size,
                                      "not an SSH public key: the security key's application is malformed");
        return 0;
}

static int check_blob(const struct key_type *t, const uint8_t *blob, size_t len, char *error, size_t size) {
        struct wire w = { blob, len };
        const uint8_t *s;
        size_t n;
        int r;

        if (!wire_string(&w, &s, &n) || !bytes_equal(s, n, t->name))
                return refuse(error, size, "not an SSH public key: the key inside is not of type %s", t->name);

        switch (t->kind) {
        case KIND_ED25519:
                if (!wire_string(&w, &s, &n) || n != 32)
                        return refuse(error, size, "not an SSH public key: the Ed25519 key is not 32 bytes");
                r = 0;
                break;
        case KIND_RSA:
                r = check_rsa(&w, error, size);
                break;
        case KIND_ECDSA:
                r = check_ecdsa(t, &w, error, size);
                break;
        default:
                r = -EINVAL;
        }
        if (r < 0)
                return r;
        if (t->sk) {
                r = check_application(&w, error, size);
                if (r < 0)
                        return r;
        }
        if (w.left > 0)
                return refuse(error, size, "not an SSH public key: more data follows the key");
        return 0;
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t';
}

/* A field: the bytes up to a blank or the end. */
static size_t field_len(const char *s, size_t n) {
        size_t i = 0;

        while (i < n && !is_blank(s[i]))
                i++;
        return i;
}

static size_t blanks_len(const char *s, size_t n) {
        size_t i = 0;

        while (i < n && is_blank(s[i]))
                i++;
        return i;
}

/* What the buyer gave, safe to show back: at most size-1 bytes, anything
 * but printable ASCII as '?'. */
static const char *shown(const char *s, size_t n, char *buf, size_t size) {
        size_t i;

        for (i = 0; i < n && i + 1 < size; i++)
                buf[i] = s[i] >= 0x20 && s[i] <= 0x7e ? s[i] : '?';
        buf[i] = 0;
        return buf;
}

/* One line of printable text, at most SSH_KEY_TEXT_MAX bytes: no line
 * break, no control character anywhere, not even in the comment (UTF-8
 * there is fine). *size loses the final line break. */
static int check_line(const char *s, size_t *size, char *error, size_t error_size) {
        size_t n = *size;

        if (n > SSH_KEY_TEXT_MAX)
                return refuse(error, error_size, "not an SSH public key: longer than %d bytes", SSH_KEY_TEXT_MAX);
        if (n > 0 && s[n - 1] == '\n')
                n -= 1 + (n > 1 && s[n - 2] == '\r');
        for (size_t i = 0; i < n; i++)
                if (((unsigned char) s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
                        return refuse(error, error_size, "not an SSH public key: %s",
                                      s[i] == '\n' ? "more than one line" : "it holds a control character");
        if (n == 0)
                return refuse(error, error_size, "not an SSH public key: it is empty");
        if (is_blank(s[0]))
                return refuse(error, error_size, "not an SSH public key: it starts with white space");
        *size = n;
        return 0;
}

/* The first field, of type_len bytes, is no key type we take. */
static int refuse_type(const char *s, size_t size, size_t type_len, char *error, size_t error_size) {
        size_t next = type_len + blanks_len(s + type_len, size - type_len);
        char buf[41];

        /* "command=... ssh-ed25519 AAAA...", as authorized_keys allows:
         * another meaning for the same file. */
        if (memchr(s, '=', type_len) || memchr(s, ',', type_len) || memchr(s, '"', type_len) ||
            key_type_find(s + next, field_len(s + next, size - next)))
                return refuse(error, error_size,
                              "not an SSH public key: it begins with options, which are not accepted");
        return refuse(error, error_size, "not an SSH public key: unknown key type '%s'",
                      shown(s, type_len, buf, sizeof(buf)));
}

int ssh_public_key_parse(const void *text, size_t size, char **ret_key, char *error, size_t error_size) {
        _cleanup_(freep) uint8_t *blob = NULL;
        const struct key_type *t;
        const char *s = text, *b64;
        size_t type_len, b64_len, blob_len, i;
        char *key;
        int r;

        if (error && error_size > 0)
                error[0] = 0;
        if (!text && size > 0)
                return -EINVAL;
        if (!ret_key)
                return -EINVAL;

        r = check_line(s, &size, error, error_size);
        if (r < 0)
                return r;

        type_len = field_len(s, size);
        t = key_type_find(s, type_len);
        if (!t)
                return refuse_type(s, size, type_len, error, error_size);

        i = type_len + blanks_len(s + type_len, size - type_len);
        if (i == type_len || i >= size)
                return refuse(error, error_size, "not an SSH public key: no key follows the type %s", t->name);
        b64 = s + i;
        b64_len = field_len(b64, size - i);

        blob = malloc(b64_len / 4 * 3 + 3);
        if (!blob)
                return -ENOMEM;
        r = base64_decode(b64, b64_len, blob, b64_len / 4 * 3 + 3, &blob_len);
        if (r < 0)
                return refuse(error, error_size, "not an SSH public key: the key is not valid base64");
        r = check_blob(t, blob, blob_len, error, error_size);
        if (r < 0)
                return r;

        /* The blob encoded again: base64_decode() accepts one text per
         * blob, so this is the text given, whatever the comment was. */
        key = malloc(strlen(t->name) + 1 + BASE64_LEN(blob_len) + 1);
        if (!key)
                return -ENOMEM;
        strcpy(key, t->name);
        strcat(key, " ");
        base64_encode(blob, blob_len, key + strlen(key));
        *ret_key = key;
        return 0;
}

int ssh_public_key_fingerprint(const char *key, char *ret, size_t size) {
        _cleanup_(freep) uint8_t *blob = NULL;
        uint8_t digest[CRYPTO_SHA256_SIZE];
        char b64[BASE64_LEN(CRYPTO_SHA256_SIZE) + 1];
        const char *space;
        size_t len, blob_len;
        char *pad;
        int r;

        if (!key || !ret)
                return -EINVAL;
        space = strchr(key, ' ');
        if (!space || !key_type_find(key, (size_t) (space - key)))
                return -EINVAL;
        len = strlen(space + 1);
        blob = malloc(len / 4 * 3 + 3);
        if (!blob)
                return -ENOMEM;
        r = base64_decode(space + 1, len, blob, len / 4 * 3 + 3, &blob_len);
        if (r < 0)
                return r;
        if (size < SSH_FINGERPRINT_MAX)
                return -ENOBUFS;

        crypto_sha256(blob, blob_len, digest);
        base64_encode(digest, sizeof(digest), b64);
        pad = strchr(b64, '=');
        if (pad)
                *pad = 0;
        snprintf(ret, size, "SHA256:%s", b64);
        return 0;
}
