/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "note.h"
#include "util.h"
#include "voucher.h"

/* Offsets of the signed bytes, as the table in voucher.h and
 * prepay-voucher(5) give them. */
enum {
        OFF_MAGIC = 0,
        OFF_ID = 4,
        OFF_AMOUNT = 20,
        OFF_CURRENCY = 28,
        OFF_ISSUER = 31,
        OFF_NOT_BEFORE = 39,
        OFF_NOT_AFTER = 47,
        OFF_AUDIENCE_LEN = 55,
        OFF_AUDIENCE = 56,
};

#define VOUCHER_MAGIC "PPV"
#define VOUCHER_MAX (VOUCHER_SIGNED_MAX + CRYPTO_SIG_SIZE)

_Static_assert(OFF_AUDIENCE + VOUCHER_AUDIENCE_MAX == VOUCHER_SIGNED_MAX, "layout and VOUCHER_SIGNED_MAX disagree");
_Static_assert(VOUCHER_AUDIENCE_MAX <= UINT8_MAX, "the audience length is one byte");
_Static_assert(VOUCHER_MAX <= NOTE_MAX, "a voucher is a note");

static bool audience_char_is_valid(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
               c == '-';
}

bool voucher_audience_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, VOUCHER_AUDIENCE_MAX + 1);
        if (n == 0 || n > VOUCHER_AUDIENCE_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!audience_char_is_valid(s[i]))
                        return false;
        return true;
}

char *voucher_id_to_string(const uint8_t id[VOUCHER_ID_SIZE], char *buf) {
        return hex_encode(id, VOUCHER_ID_SIZE, buf);
}

int voucher_encode(const struct voucher *v, uint8_t *buf, size_t n, size_t *ret_len) {
        size_t audience_len;

        if (!v)
                return -EINVAL;
        if (v->amount <= 0 || v->amount > MONEY_AMOUNT_MAX)
                return -EINVAL;
        if (!currency_is_valid(v->currency))
                return -EINVAL;
        if (v->not_after <= v->not_before)
                return -EINVAL;
        audience_len = strnlen(v->audience, sizeof(v->audience));
        /* Also refuses an audience that fills the array without a NUL. */
        if (audience_len > 0 && !voucher_audience_is_valid(v->audience))
                return -EINVAL;
        if (!buf || n < OFF_AUDIENCE + audience_len)
                return -ENOBUFS;

        memcpy(buf + OFF_MAGIC, VOUCHER_MAGIC, 3);
        buf[OFF_MAGIC + 3] = VOUCHER_VERSION;
        memcpy(buf + OFF_ID, v->id, VOUCHER_ID_SIZE);
        be64_put(buf + OFF_AMOUNT, v->amount);
        memcpy(buf + OFF_CURRENCY, v->currency, 3);
        memcpy(buf + OFF_ISSUER, v->issuer, CRYPTO_KEY_ID_SIZE);
        be64_put(buf + OFF_NOT_BEFORE, v->not_before);
        be64_put(buf + OFF_NOT_AFTER, v->not_after);
        buf[OFF_AUDIENCE_LEN] = (uint8_t) audience_len;
        memcpy(buf + OFF_AUDIENCE, v->audience, audience_len);

        if (ret_len)
                *ret_len = OFF_AUDIENCE + audience_len;
        return 0;
}

int voucher_sign(struct voucher *v, const struct crypto_key *k) {
        uint8_t buf[VOUCHER_SIGNED_MAX], sig[CRYPTO_SIG_SIZE];
        struct voucher copy;
        size_t len;
        int r;

        if (!v || !crypto_key_has_private(k))
                return -EINVAL;

        /* v changes only once all has worked. */
        copy = *v;
        crypto_key_id(k, copy.issuer);
        r = voucher_encode(&copy, buf, sizeof(buf), &len);
        if (r < 0)
                return r;
        r = crypto_sign(k, buf, len, sig);
        if (r < 0)
                return r;

        memcpy(v->issuer, copy.issuer, sizeof(v->issuer));
        memcpy(v->signature, sig, sizeof(v->signature));
        return 0;
}

int voucher_to_text(const struct voucher *v, char *buf, size_t n) {
        uint8_t bytes[VOUCHER_SIGNED_MAX];
        size_t len;
        int r;

        r = voucher_encode(v, bytes, sizeof(bytes), &len);
        if (r < 0)
                return r;
        return note_to_text(VOUCHER_TEXT_PREFIX, bytes, len, v->signature, buf, n);
}

static int text_error(const char **ret_error, const char *sentence) {
        if (ret_error)
                *ret_error = sentence;
        return -EINVAL;
}

int voucher_from_text(const char *s, struct voucher *ret, const char **ret_error) {
        uint8_t bytes[VOUCHER_MAX];
        struct voucher v = {};
        size_t size = 0, audience_len, text_len = 0;
        int r;

        r = note_from_text(s, VOUCHER_TEXT_PREFIX, bytes, sizeof(bytes), &size, &text_len);
        if (r == -ENOMSG)
                return text_error(ret_error, "Not a prepay voucher (expected text starting " VOUCHER_TEXT_PREFIX ")");
        if (r == -ENOBUFS)
                return text_error(ret_error, "Voucher text is too long: extra data after the signature");
        /* Cut mid-group: its whole groups tell how long the voucher
         * should be, and whether the text (its bad ending included) is
         * too short for that. */
        if (r == -EPIPE && (size <= OFF_AUDIENCE_LEN ||
                            text_len * 3 / 4 < (size_t) OFF_AUDIENCE + bytes[OFF_AUDIENCE_LEN] + CRYPTO_SIG_SIZE))
                return text_error(ret_error, "Voucher text is truncated");
        if (r < 0)
                return text_error(ret_error, "Voucher text is damaged: not valid base64url after " VOUCHER_TEXT_PREFIX);

        if (size < OFF_ID)
                return text_error(ret_error, "Voucher text is truncated");
        if (memcmp(bytes + OFF_MAGIC, VOUCHER_MAGIC, 3) != 0)
                return text_error(ret_error, "Not a prepay voucher (its bytes do not start with PPV)");
        if (bytes[OFF_MAGIC + 3] != VOUCHER_VERSION)
                return text_error(ret_error, "Voucher has an unknown format version (this prepay reads version 1)");

        if (size <= OFF_AUDIENCE_LEN)
                return text_error(ret_error, "Voucher text is truncated");
        audience_len = bytes[OFF_AUDIENCE_LEN];
        if (audience_len > VOUCHER_AUDIENCE_MAX)
                return text_error(ret_error, "Voucher audience is longer than 64 characters");
        if (size < OFF_AUDIENCE + audience_len + CRYPTO_SIG_SIZE)
                return text_error(ret_error, "Voucher text is truncated");
        if (size > OFF_AUDIENCE + audience_len + CRYPTO_SIG_SIZE)
                return text_error(ret_error, "Voucher text is too long: extra data after the signature");

        memcpy(v.id, bytes + OFF_ID, VOUCHER_ID_SIZE);
        v.amount = be64_get(bytes + OFF_AMOUNT);
        memcpy(v.currency, bytes + OFF_CURRENCY, 3);
        memcpy(v.issuer, bytes + OFF_ISSUER, CRYPTO_KEY_ID_SIZE);
        v.not_before = be64_get(bytes + OFF_NOT_BEFORE);
        v.not_after = be64_get(bytes + OFF_NOT_AFTER);
        memcpy(v.audience, bytes + OFF_AUDIENCE, audience_len);
        memcpy(v.signature, bytes + OFF_AUDIENCE + audience_len, CRYPTO_SIG_SIZE);

        if (v.amount <= 0 || v.amount > MONEY_AMOUNT_MAX)
                return text_error(ret_error, "Voucher amount out of range");
        if (!currency_is_valid(v.currency))
                return text_error(ret_error, "Voucher currency is not three upper-case letters");
        if (v.not_after <= v.not_before)
                return text_error(ret_error,
                                  "Voucher validity period is empty (not-after is not later than not-before)");
        /* An embedded NUL shows here as a short audience: invalid too. */
        if (audience_len > 0 && (strlen(v.audience) != audience_len || !voucher_audience_is_valid(v.audience)))
                return text_error(ret_error, "Voucher audience is not a valid host id");

        *ret = v;
        return 0;
}

char *voucher_time_to_string(int64_t t, char *buf) {
        time_t tt = (time_t) t;
        struct tm tm;

        if ((int64_t) tt != t || !gmtime_r(&tt, &tm) ||
            strftime(buf, VOUCHER_TIME_STRING_MAX, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(buf, VOUCHER_TIME_STRING_MAX, "@%" PRIi64, t);
        return buf;
}

int voucher_verify(const struct voucher *v, const struct crypto_keyring *kr, int64_t now, const char *currency,
                   const char *host_id, char **ret_error) {
        uint8_t bytes[VOUCHER_SIGNED_MAX];
        char buf[MAX(VOUCHER_TIME_STRING_MAX, 2 * CRYPTO_KEY_ID_SIZE + 1)];
        const struct crypto_key *k;
        size_t len;
        int r;

        r = voucher_encode(v, bytes, sizeof(bytes), &len);
        if (r < 0)
                return note_error(ret_error, -EINVAL, "Voucher has a field out of range");

        k = crypto_keyring_find(kr, v->issuer);
        if (!k)
                return note_error(ret_error, -ENOKEY, "Voucher is signed by unknown issuer %s",
                                    hex_encode(v->issuer, CRYPTO_KEY_ID_SIZE, buf));

        r = crypto_verify(k, bytes, len, v->signature);
        if (r == -EBADMSG)
                return note_error(ret_error, r, "Voucher signature does not verify: forged or damaged");
        if (r < 0)
                return note_error(ret_error, r, "Cannot check the voucher's signature: %s", strerror(-r));

        if (currency && !streq(v->currency, currency))
                return note_error(ret_error, -EMEDIUMTYPE, "Voucher is in %s; this host takes %s", v->currency,
                                    currency);

        /* Valid from not-before up to, not including, not-after. */
        if (now < v->not_before)
                return note_error(ret_error, -ETIME, "Voucher not valid before %s",
                                    voucher_time_to_string(v->not_before, buf));
        if (now >= v->not_after)
                return note_error(ret_error, -EKEYEXPIRED, "Voucher expired at %s",
                                    voucher_time_to_string(v->not_after, buf));

        if (host_id && v->audience[0] && !streq(v->audience, host_id))
                return note_error(ret_error, -EACCES, "Voucher is bound to host %s, this is host %s", v->audience,
                                    host_id);

        return 0;
}
