/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/money.h"

/* Vouchers: signed bearer notes, the digital cash a request carries. With
 * crypto.c, the only code that knows their format; the format itself is
 * specified in prepay-voucher(5) (packaging/man/prepay-voucher.5), with a
 * test vector checked by tests/unit/test-voucher.c.
 *
 * Signed bytes (all integers big-endian):
 *   0   4  magic "PPV" and the format version, 0x01
 *   4  16  voucher id (random)
 *  20   8  amount, micro-units, signed, 1..MONEY_AMOUNT_MAX
 *  28   3  currency, ISO 4217 letters
 *  31   8  issuer key id
 *  39   8  not-before, Unix seconds, signed
 *  47   8  not-after, Unix seconds, signed, > not-before
 *  55   1  audience length n, 0..VOUCHER_AUDIENCE_MAX (0: any host)
 *  56   n  audience, a host id: [A-Za-z0-9._-]
 * followed, in the voucher but not in what is signed, by the 64-byte
 * Ed25519 signature. The text form is "pv1-" and base64url (no padding)
 * of all of it, on one line. */

#define VOUCHER_VERSION 1
#define VOUCHER_ID_SIZE 16
#define VOUCHER_ID_STRING_MAX (2 * VOUCHER_ID_SIZE + 1)
#define VOUCHER_AUDIENCE_MAX 64
#define VOUCHER_SIGNED_MAX (56 + VOUCHER_AUDIENCE_MAX)
#define VOUCHER_TEXT_PREFIX "pv1-"
#define VOUCHER_TEXT_MAX (4 + BASE64URL_LEN(VOUCHER_SIGNED_MAX + CRYPTO_SIG_SIZE) + 1)

struct voucher {
        uint8_t id[VOUCHER_ID_SIZE];
        int64_t amount;
        char currency[CURRENCY_SIZE];
        uint8_t issuer[CRYPTO_KEY_ID_SIZE];
        int64_t not_before;
        int64_t not_after;
        char audience[VOUCHER_AUDIENCE_MAX + 1];
        uint8_t signature[CRYPTO_SIG_SIZE];
};

/* The signed bytes; buf holds VOUCHER_SIGNED_MAX. -EINVAL if a field is
 * out of its range (so nothing out of range is ever signed), -ENOBUFS if
 * n is too small. */
int voucher_encode(const struct voucher *v, uint8_t *buf, size_t n, size_t *ret_len);
/* Sets v->issuer to k's id and signs; v is untouched on failure (-EINVAL
 * for a field out of range or a key without its private half). */
int voucher_sign(struct voucher *v, const struct crypto_key *k);
/* buf holds VOUCHER_TEXT_MAX; no newline. -EINVAL as voucher_encode(),
 * -ENOBUFS if n is too small. */
int voucher_to_text(const struct voucher *v, char *buf, size_t n);

/* Parses the text form (leading and trailing white space, a final newline
 * included, is allowed: it is what a voucher file holds). Checks shape and
 * ranges only, not the signature. -EINVAL with a static sentence naming
 * the problem in *ret_error (ret_error may be NULL), one per problem:
 *   "Not a prepay voucher (expected text starting pv1-)"
 *   "Voucher text is damaged: not valid base64url after pv1-"
 *   "Voucher text is truncated"
 *   "Voucher text is too long: extra data after the signature"
 *   "Not a prepay voucher (its bytes do not start with PPV)"
 *   "Voucher has an unknown format version (this prepay reads version 1)"
 *   "Voucher audience is longer than 64 characters"
 *   "Voucher amount out of range"
 *   "Voucher currency is not three upper-case letters"
 *   "Voucher validity period is empty (not-after is not later than not-before)"
 *   "Voucher audience is not a valid host id"
 * The sentences start with a capital and end without a full stop. */
int voucher_from_text(const char *s, struct voucher *ret, const char **ret_error);

/* Everything a redeemer checks, in this order, each with its own error
 * (negative errno) and a sentence in *ret_error (to free; ret_error may be
 * NULL; not written on success; -ENOMEM and nothing written if the
 * sentence cannot be allocated):
 *   -EINVAL        a field out of range (a struct not from voucher_from_text)
 *   -ENOKEY        issuer key not trusted ("unknown issuer 0123abcd...")
 *   -EBADMSG       signature does not verify ("forged or damaged")
 *   -EMEDIUMTYPE   currency differs from currency ("in USD; this host takes EUR")
 *   -ETIME         not yet valid at now (names the time it becomes valid)
 *   -EKEYEXPIRED   expired at now (names when)
 *   -EACCES        audience set and differs from host_id (names both)
 * now is Unix seconds; a voucher is valid for not_before <= now <
 * not_after. Times are named as "2026-11-20 10:00:00 UTC". currency or
 * host_id NULL: not checked. An empty audience is valid on every host. */
int voucher_verify(const struct voucher *v, const struct crypto_keyring *kr, int64_t now, const char *currency,
                   const char *host_id, char **ret_error);

/* A voucher time as its messages name it: "2026-11-20 10:00:00 UTC", or
 * "@<seconds>" for one gmtime() cannot render. buf holds
 * VOUCHER_TIME_STRING_MAX. Returns buf. */
#define VOUCHER_TIME_STRING_MAX 64
char *voucher_time_to_string(int64_t t, char *buf);

/* 32 lower-case hex digits; buf holds VOUCHER_ID_STRING_MAX. */
char *voucher_id_to_string(const uint8_t id[VOUCHER_ID_SIZE], char *buf);
/* A host id as an audience: 1..VOUCHER_AUDIENCE_MAX of [A-Za-z0-9._-].
 * (An empty audience in struct voucher means any host; it is not a host
 * id, so "" is not valid here.) */
bool voucher_audience_is_valid(const char *s);
