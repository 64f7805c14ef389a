/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "note.h"
#include "receipt.h"
#include "request.h"
#include "util.h"

/* Offsets of the fixed part of the signed bytes, as the table in
 * receipt.h and prepay-receipt(5) give them; the variable part (slice id,
 * request id, host id, voucher ids, each after its length or count byte)
 * follows from OFF_SLICE_LEN on. */
enum {
        OFF_MAGIC = 0,
        OFF_KIND = 4,
        OFF_AMOUNT = 5,
        OFF_BALANCE = 13,
        OFF_CURRENCY = 21,
        OFF_TIME = 24,
        OFF_HOST_KEY = 32,
        OFF_SLICE_LEN = 40,
        OFF_SLICE = 41,
};

#define RECEIPT_MAGIC "PPR"
#define RECEIPT_MAX (RECEIPT_SIGNED_MAX + CRYPTO_SIG_SIZE)

_Static_assert(RECEIPT_REQUEST_ID_MAX == REQUEST_ID_MAX, "a receipt holds any request id the protocol takes");
_Static_assert(RECEIPT_SLICE_ID_MAX == 2 + 16 && RECEIPT_SLICE_ID_MAX < SLICE_ID_MAX,
               "a receipt holds any slice id slice_id_is_valid() takes");
_Static_assert(RECEIPT_VOUCHERS_MAX <= UINT8_MAX && VOUCHER_AUDIENCE_MAX <= UINT8_MAX &&
               RECEIPT_REQUEST_ID_MAX <= UINT8_MAX, "lengths and the count are one byte each");
_Static_assert(RECEIPT_AMOUNT_MAX / 16 == MONEY_AMOUNT_MAX, "RECEIPT_AMOUNT_MAX does not overflow");
_Static_assert(RECEIPT_MAX <= NOTE_MAX, "a receipt is a note");

#define E_KIND "Receipt kind is unknown (this prepay knows create, topup, release and pay)"
#define E_AMOUNT "Receipt amount out of range"
#define E_BALANCE "Receipt balance out of range"
#define E_CURRENCY "Receipt currency is not three upper-case letters"
#define E_TIME "Receipt time out of range"
#define E_SLICE "Receipt slice id is not valid"
#define E_REQUEST_ID "Receipt request id is not valid"
#define E_HOST_ID "Receipt host id is not valid"
#define E_VOUCHERS "Receipt voucher count does not fit its kind (create, topup and pay spend 1 to 16, release none)"
#define E_TRUNCATED "Receipt text is truncated"
#define E_TOO_LONG "Receipt text is too long: extra data after the signature"

const char *receipt_kind_to_string(enum receipt_kind k) {
        switch (k) {
        case RECEIPT_CREATE:
                return "create";
        case RECEIPT_TOPUP:
                return "topup";
        case RECEIPT_RELEASE:
                return "release";
        case RECEIPT_PAY:
                return "pay";
        default:
                return NULL;
        }
}

/* A string field of the struct: NUL-terminated inside its array. */
static bool field_is_string(const char *s, size_t size) {
        return strnlen(s, size) < size;
}

/* The sentence for the first field of r out of its range, NULL when all
 * are in range: the same rules before signing and after reading. */
static const char *receipt_check(const struct receipt *r) {
        bool pays_in = r->kind == RECEIPT_CREATE || r->kind == RECEIPT_TOPUP || r->kind == RECEIPT_PAY;

        if (!receipt_kind_to_string(r->kind))
                return E_KIND;
        /* A payment in is of something; a payout may be of nothing (the
         * balance was spent), and is still worth a receipt. */
        if (r->amount < (pays_in ? 1 : 0) || r->amount > RECEIPT_AMOUNT_MAX)
                return E_AMOUNT;
        if (r->balance < 0 || r->balance > RECEIPT_AMOUNT_MAX)
                return E_BALANCE;
        if (!currency_is_valid(r->currency))
                return E_CURRENCY;
        if (r->time_usec <= 0)
                return E_TIME;
        if (!field_is_string(r->slice, sizeof(r->slice)) || !slice_id_is_valid(r->slice))
                return E_SLICE;
        if (!field_is_string(r->request_id, sizeof(r->request_id)) ||
            (r->request_id[0] && !request_id_is_valid(r->request_id)))
                return E_REQUEST_ID;
        if (!voucher_audience_is_valid(r->host_id))
                return E_HOST_ID;
        if (pays_in ? r->n_vouchers < 1 || r->n_vouchers > RECEIPT_VOUCHERS_MAX : r->n_vouchers != 0)
                return E_VOUCHERS;
        return NULL;
}

/* A length byte and the bytes it counts. */
static uint8_t *put_string(uint8_t *p, const char *s) {
        size_t n = strlen(s);

        *p++ = (uint8_t) n;
        memcpy(p, s, n);
        return p + n;
}

int receipt_encode(const struct receipt *r, uint8_t *buf, size_t n, size_t *ret_len) {
        size_t len;
        uint8_t *p;

        if (!r || receipt_check(r))
                return -EINVAL;
        len = OFF_SLICE + strlen(r->slice) + 1 + strlen(r->request_id) + 1 + strlen(r->host_id) + 1 +
              r->n_vouchers * VOUCHER_ID_SIZE;
        if (!buf || n < len)
                return -ENOBUFS;

        memcpy(buf + OFF_MAGIC, RECEIPT_MAGIC, 3);
        buf[OFF_MAGIC + 3] = RECEIPT_VERSION;
        buf[OFF_KIND] = (uint8_t) r->kind;
        be64_put(buf + OFF_AMOUNT, r->amount);
        be64_put(buf + OFF_BALANCE, r->balance);
        memcpy(buf + OFF_CURRENCY, r->currency, 3);
        be64_put(buf + OFF_TIME, r->time_usec);
        memcpy(buf + OFF_HOST_KEY, r->host_key, CRYPTO_KEY_ID_SIZE);
        p = put_string(buf + OFF_SLICE_LEN, r->slice);
        p = put_string(p, r->request_id);
        p = put_string(p, r->host_id);
        *p++ = (uint8_t) r->n_vouchers;
        memcpy(p, r->vouchers, r->n_vouchers * VOUCHER_ID_SIZE);

        if (ret_len)
                *ret_len = len;
        return 0;
}

int receipt_sign(struct receipt *r, const struct crypto_key *k) {
        uint8_t buf[RECEIPT_SIGNED_MAX], sig[CRYPTO_SIG_SIZE];
        struct receipt copy;
        size_t len;
        int q;

        if (!r || !crypto_key_has_private(k))
                return -EINVAL;

        /* r changes only once all has worked. */
        copy = *r;
        crypto_key_id(k, copy.host_key);
        q = receipt_encode(&copy, buf, sizeof(buf), &len);
        if (q < 0)
                return q;
        q = crypto_sign(k, buf, len, sig);
        if (q < 0)
                return q;

        memcpy(r->host_key, copy.host_key, sizeof(r->host_key));
        memcpy(r->signature, sig, sizeof(r->signature));
        return 0;
}

int receipt_to_text(const struct receipt *r, char *buf, size_t n) {
        uint8_t bytes[RECEIPT_SIGNED_MAX];
        size_t len;
        int q;

        q = receipt_encode(r, bytes, sizeof(bytes), &len);
        if (q < 0)
                return q;
        return note_to_text(RECEIPT_TEXT_PREFIX, bytes, len, r->signature, buf, n);
}

/* The whole receipt's size (signature included) that the length and
 * count bytes among the first n bytes announce; 0 when n ends before the
 * last of them. */
static size_t announced_size(const uint8_t *b, size_t n) {
        size_t pos = OFF_SLICE_LEN;

        for (int i = 0; i < 3; i++) { /* slice id, request id, host id */
                if (n <= pos)
                        return 0;
                pos += 1 + b[pos];
        }
        if (n <= pos)
                return 0;
        return pos + 1 + (size_t) b[pos] * VOUCHER_ID_SIZE + CRYPTO_SIG_SIZE;
}

/* The bytes after the magic and version, into r: sizes first, then
 * every field's range. */
static const char *receipt_read(const uint8_t *b, size_t size, struct receipt *r) {
        size_t pos = OFF_SLICE_LEN, count;
        const char *e;

        if (size <= OFF_SLICE_LEN)
                return E_TRUNCATED;
        e = note_get_string(b, size, &pos, r->slice, sizeof(r->slice), E_SLICE, E_TRUNCATED);
        if (!e)
                e = note_get_string(b, size, &pos, r->request_id, sizeof(r->request_id), E_REQUEST_ID, E_TRUNCATED);
        if (!e)
                e = note_get_string(b, size, &pos, r->host_id, sizeof(r->host_id), E_HOST_ID, E_TRUNCATED);
        if (e)
                return e;
        count = b[pos++];
        if (count > RECEIPT_VOUCHERS_MAX)
                return E_VOUCHERS;
        if (size < pos + count * VOUCHER_ID_SIZE + CRYPTO_SIG_SIZE)
                return E_TRUNCATED;
        if (size > pos + count * VOUCHER_ID_SIZE + CRYPTO_SIG_SIZE)
                return E_TOO_LONG;

        r->kind = (enum receipt_kind) b[OFF_KIND];
        r->amount = be64_get(b + OFF_AMOUNT);
        r->balance = be64_get(b + OFF_BALANCE);
        memcpy(r->currency, b + OFF_CURRENCY, 3);
        r->time_usec = be64_get(b + OFF_TIME);
        memcpy(r->host_key, b + OFF_HOST_KEY, CRYPTO_KEY_ID_SIZE);
        r->n_vouchers = count;
        memcpy(r->vouchers, b + pos, count * VOUCHER_ID_SIZE);
        memcpy(r->signature, b + pos + count * VOUCHER_ID_SIZE, CRYPTO_SIG_SIZE);
        return receipt_check(r);
}

int receipt_from_text(const char *s, struct receipt *ret, const char **ret_error) {
        uint8_t bytes[RECEIPT_MAX];
        struct receipt r = {};
        size_t size = 0, text_len = 0, want;
        const char *e;
        int q;

        q = note_from_text(s, RECEIPT_TEXT_PREFIX, bytes, sizeof(bytes), &size, &text_len);
        if (q == -ENOMSG)
                return note_text_error(ret_error,
                                       "Not a prepay receipt (expected text starting " RECEIPT_TEXT_PREFIX ")");
        if (q == -ENOBUFS)
                return note_text_error(ret_error, E_TOO_LONG);
        if (q == -EPIPE) {
                /* Cut mid-group: the lengths in its whole groups tell
                 * whether the text (its bad ending included) is too short
                 * for the receipt they announce. */
                want = announced_size(bytes, size);
                if (want == 0 || text_len * 3 / 4 < want)
                        return note_text_error(ret_error, E_TRUNCATED);
        }
        if (q < 0)
                return note_text_error(ret_error,
                                       "Receipt text is damaged: not valid base64url after " RECEIPT_TEXT_PREFIX);

        if (size < OFF_KIND)
                return note_text_error(ret_error, E_TRUNCATED);
        if (memcmp(bytes + OFF_MAGIC, RECEIPT_MAGIC, 3) != 0)
                return note_text_error(ret_error, "Not a prepay receipt (its bytes do not start with PPR)");
        if (bytes[OFF_MAGIC + 3] != RECEIPT_VERSION)
                return note_text_error(ret_error,
                                       "Receipt has an unknown format version (this prepay reads version 1)");

        e = receipt_read(bytes, size, &r);
        if (e)
                return note_text_error(ret_error, e);
        *ret = r;
        return 0;
}

int receipt_verify(const struct receipt *r, const struct crypto_key *k, char **ret_error) {
        char signer[2 * CRYPTO_KEY_ID_SIZE + 1], given[2 * CRYPTO_KEY_ID_SIZE + 1];
        uint8_t bytes[RECEIPT_SIGNED_MAX], id[CRYPTO_KEY_ID_SIZE];
        size_t len;
        int q;

        if (!k)
                return note_error(ret_error, -ENOKEY, "No key to check the receipt with");
        q = receipt_encode(r, bytes, sizeof(bytes), &len);
        if (q < 0)
                return note_error(ret_error, -EINVAL, "Receipt has a field out of range");

        crypto_key_id(k, id);
        if (!crypto_equal(id, r->host_key, sizeof(id)))
                return note_error(ret_error, -ENOKEY, "Receipt is signed by key %s, not by the key given (%s)",
                                    hex_encode(r->host_key, CRYPTO_KEY_ID_SIZE, signer),
                                    hex_encode(id, sizeof(id), given));

        q = crypto_verify(k, bytes, len, r->signature);
        if (q == -EBADMSG)
                return note_error(ret_error, q, "Receipt signature does not verify: forged or damaged");
        if (q < 0)
                return note_error(ret_error, q, "Cannot check the receipt's signature: %s", strerror(-q));
        return 0;
}

char *receipt_time_to_string(int64_t usec, char *buf) {
        time_t tt = (time_t) (usec / (int64_t) USEC_PER_SEC);
        char date[32];
        struct tm tm;

        if (usec < 0 || !gmtime_r(&tt, &tm) || strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, RECEIPT_TIME_STRING_MAX, "@%" PRIi64 " usec", usec);
        else
                snprintf(buf, RECEIPT_TIME_STRING_MAX, "%s.%06" PRIi64 " UTC", date,
                         usec % (int64_t) USEC_PER_SEC);
        return buf;
}
