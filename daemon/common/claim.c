/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Claim statements: their bytes, text form, signing and checking
 * (claim.h has the layout). */
#include <errno.h>
#include <string.h>

#include "common/claim.h"
#include "common/message.h"
#include "common/note.h"

#define CLAIM_MAGIC "PPC"
#define OFF_PURPOSE 4
#define OFF_TIME 5
#define OFF_FUNDER 13
#define OFF_HOST_LEN 45
#define CLAIM_MAX (CLAIM_SIGNED_MAX + CRYPTO_SIG_SIZE)

#define E_TRUNCATED "Claim text is truncated"
#define E_TOO_LONG "Claim text is too long: extra data after the signature"
#define E_PURPOSE "Claim purpose is not valid"
#define E_TIME "Claim time out of range"
#define E_HOST "Claim host id is not valid"
#define E_SLICE "Claim slice id is not valid"

static bool purpose_is_valid(char p) {
        return p == CLAIM_PURPOSE_CLAIM || p == CLAIM_PURPOSE_EVENTS;
}

static const char *purpose_name(char p) {
        return p == CLAIM_PURPOSE_CLAIM ? "a claim" : "an events proof";
}

static const char *claim_check(const struct claim *c) {
        if (!purpose_is_valid(c->purpose))
                return E_PURPOSE;
        if (c->time_usec <= 0)
                return E_TIME;
        if (!voucher_audience_is_valid(c->host_id))
                return E_HOST;
        if (strlen(c->slice) > CLAIM_SLICE_ID_MAX || !slice_id_is_valid(c->slice))
                return E_SLICE;
        return NULL;
}

/* The signed bytes of c into buf (CLAIM_SIGNED_MAX); their length. */
static int claim_encode(const struct claim *c, uint8_t *buf, size_t *ret_len) {
        size_t h, s;

        if (claim_check(c))
                return -EINVAL;
        h = strlen(c->host_id);
        s = strlen(c->slice);
        memcpy(buf, CLAIM_MAGIC, 3);
        buf[3] = CLAIM_VERSION;
        buf[OFF_PURPOSE] = (uint8_t) c->purpose;
        be64_put(buf + OFF_TIME, c->time_usec);
        memcpy(buf + OFF_FUNDER, c->funder, CRYPTO_PUBKEY_SIZE);
        buf[OFF_HOST_LEN] = (uint8_t) h;
        memcpy(buf + OFF_HOST_LEN + 1, c->host_id, h);
        buf[OFF_HOST_LEN + 1 + h] = (uint8_t) s;
        memcpy(buf + OFF_HOST_LEN + 2 + h, c->slice, s);
        *ret_len = OFF_HOST_LEN + 2 + h + s;
        return 0;
}

int claim_sign(const struct crypto_key *k, char purpose, const char *host_id, const char *slice,
               int64_t time_usec, char buf[static CLAIM_TEXT_MAX]) {
        uint8_t bytes[CLAIM_SIGNED_MAX];
        struct claim c = { .purpose = purpose, .time_usec = time_usec };
        size_t len;
        int q;

        if (!k || !crypto_key_has_private(k) || !host_id || !slice || strlen(host_id) >= sizeof(c.host_id) ||
            strlen(slice) >= sizeof(c.slice))
                return -EINVAL;
        strcpy(c.host_id, host_id);
        strcpy(c.slice, slice);
        crypto_key_public_raw(k, c.funder);
        q = claim_encode(&c, bytes, &len);
        if (q < 0)
                return q;
        q = crypto_sign(k, bytes, len, c.signature);
        if (q < 0)
                return q;
        return note_to_text(CLAIM_TEXT_PREFIX, bytes, len, c.signature, buf, CLAIM_TEXT_MAX);
}

static const char *claim_read(const uint8_t *b, size_t size, struct claim *c) {
        size_t pos = OFF_HOST_LEN;
        const char *e;

        if (size <= OFF_HOST_LEN)
                return E_TRUNCATED;
        e = note_get_string(b, size, &pos, c->host_id, sizeof(c->host_id), E_HOST, E_TRUNCATED);
        if (!e)
                e = note_get_string(b, size, &pos, c->slice, sizeof(c->slice), E_SLICE, E_TRUNCATED);
        if (e)
                return e;
        if (size < pos + CRYPTO_SIG_SIZE)
                return E_TRUNCATED;
        if (size > pos + CRYPTO_SIG_SIZE)
                return E_TOO_LONG;
        c->purpose = (char) b[OFF_PURPOSE];
        c->time_usec = be64_get(b + OFF_TIME);
        memcpy(c->funder, b + OFF_FUNDER, CRYPTO_PUBKEY_SIZE);
        memcpy(c->signature, b + pos, CRYPTO_SIG_SIZE);
        return claim_check(c);
}

int claim_from_text(const char *s, struct claim *ret, const char **ret_error) {
        uint8_t bytes[CLAIM_MAX];
        struct claim c = {};
        size_t size = 0, text_len = 0;
        const char *e;
        int q;

        q = note_from_text(s, CLAIM_TEXT_PREFIX, bytes, sizeof(bytes), &size, &text_len);
        if (q == -ENOMSG)
                return note_text_error(ret_error, "Not a prepay claim (expected text starting " CLAIM_TEXT_PREFIX ")");
        if (q == -ENOBUFS)
                return note_text_error(ret_error, E_TOO_LONG);
        /* A claim is made and sent by a program, never typed: text cut
         * mid-group is damaged like any other. */
        if (q < 0)
                return note_text_error(ret_error,
                                       "Claim text is damaged: not valid base64url after " CLAIM_TEXT_PREFIX);
        if (size < 4)
                return note_text_error(ret_error, E_TRUNCATED);
        if (memcmp(bytes, CLAIM_MAGIC, 3) != 0)
                return note_text_error(ret_error, "Not a prepay claim (its bytes do not start with PPC)");
        if (bytes[3] != CLAIM_VERSION)
                return note_text_error(ret_error, "Claim has an unknown format version (this prepay reads version 2)");
        e = claim_read(bytes, size, &c);
        if (e)
                return note_text_error(ret_error, e);
        *ret = c;
        return 0;
}

/* The funder's key as a crypto_key: its SubjectPublicKeyInfo (RFC 8410),
 * in the one-line text crypto.h reads. */
static int funder_key(const uint8_t raw[CRYPTO_PUBKEY_SIZE], struct crypto_key **ret) {
        static const uint8_t spki[12] = { 0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00 };
        uint8_t der[sizeof(spki) + CRYPTO_PUBKEY_SIZE];
        char text[CRYPTO_PUBKEY_TEXT_MAX];

        memcpy(der, spki, sizeof(spki));
        memcpy(der + sizeof(spki), raw, CRYPTO_PUBKEY_SIZE);
        return crypto_key_from_public_text(base64_encode(der, sizeof(der), text), ret);
}

int claim_verify(const struct claim *c, char purpose, const char *host_id, const char *slice, int64_t now_usec,
                 char **ret_error) {
        uint8_t bytes[CLAIM_SIGNED_MAX];
        struct crypto_key *k = NULL;
        size_t len;
        int q;

        if (claim_encode(c, bytes, &len) < 0)
                return note_error(ret_error, -EINVAL, "Claim has a field out of range");
        /* First: whatever else holds, a statement given for one purpose
         * is never taken for the other. */
        if (c->purpose != purpose)
                return note_error(ret_error, -EPROTOTYPE, "The statement is %s, not %s: its funder signed it for "
                                  "that only", purpose_name(c->purpose), purpose_name(purpose));
        if (!streq(c->host_id, host_id))
                return note_error(ret_error, -EXDEV, "Claim is for host %s, not this host (%s)", c->host_id, host_id);
        if (!streq(c->slice, slice))
                return note_error(ret_error, -EXDEV, "Claim is for slice %s, not %s", c->slice, slice);
        /* Both ways: a clock behind as much as one ahead. */
        if (c->time_usec > now_usec + (int64_t) CLAIM_SKEW_USEC || c->time_usec < now_usec - (int64_t) CLAIM_SKEW_USEC)
                return note_error(ret_error, -ETIME,
                                  "Claim was made %s by this host's clock (5 minutes either way are taken): "
                                  "make it again, with the clock set right",
                                  c->time_usec > now_usec ? "more than 5 minutes in the future" :
                                                            "more than 5 minutes ago");
        q = funder_key(c->funder, &k);
        if (q < 0) /* 32 bytes that are no point on the curve: nobody's key */
                return note_error(ret_error, -EBADMSG, "Claim is not signed by the funder key it names");
        q = crypto_verify(k, bytes, len, c->signature);
        crypto_key_free(k);
        if (q < 0)
                return note_error(ret_error, -EBADMSG, "Claim is not signed by the funder key it names");
        return 0;
}
