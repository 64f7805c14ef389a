/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/message.h"
#include "common/money.h"
#include "common/voucher.h"

/* Receipts: what prepayd signs, with its host key (the key that signs its
 * change), for each payment into a slice (create, topup) and each payout
 * of one (release): the payer's proof, checkable offline by anyone who
 * has the host's public key. With crypto.c, the only code that knows
 * their format; the format is specified in prepay-receipt(5)
 * (packaging/man/prepay-receipt.5), with a test vector checked by
 * tests/unit/test-receipt.c.
 *
 * Signed bytes (all integers big-endian):
 *   0   4  magic "PPR" and the format version, 0x01
 *   4   1  kind: 1 create, 2 topup, 3 release, 4 pay (revenue: paid to
 *          the slice by its users, issue 16)
 *   5   8  amount, micro-units, signed: paid in (create, topup, pay:
 *          1..RECEIPT_AMOUNT_MAX) or paid out as change (release:
 *          0..RECEIPT_AMOUNT_MAX)
 *  13   8  the slice's balance after it, micro-units, signed,
 *          0..RECEIPT_AMOUNT_MAX (0 after a release)
 *  21   3  currency, ISO 4217 letters
 *  24   8  time, Unix microseconds, signed, > 0
 *  32   8  host key id (the signer's, crypto.h)
 *  40   1  slice id length s, 10..18
 *  41   s  slice id: "s-" and 8 to 16 lower-case hex digits
 *   .   1  request id length r, 0..RECEIPT_REQUEST_ID_MAX (0: none)
 *   .   r  request id: [A-Za-z0-9._:-]
 *   .   1  host id length h, 1..VOUCHER_AUDIENCE_MAX
 *   .   h  host id: [A-Za-z0-9._-]
 *   .   1  count c of the vouchers spent: 1..16 (create, topup, pay), 0 (release)
 *   .  16c their ids
 * followed, in the receipt but not in what is signed, by the 64-byte
 * Ed25519 signature. The text form is "pr1-" and base64url (no padding)
 * of all of it, on one line. */

#define RECEIPT_VERSION 1
/* A slice's balance at most (LEDGER_BALANCE_MAX: 16 change vouchers). */
#define RECEIPT_AMOUNT_MAX (16 * MONEY_AMOUNT_MAX)
#define RECEIPT_VOUCHERS_MAX 16
#define RECEIPT_REQUEST_ID_MAX 64
#define RECEIPT_SLICE_ID_MAX 18
#define RECEIPT_SIGNED_MAX                                                                                \
        (41 + RECEIPT_SLICE_ID_MAX + 1 + RECEIPT_REQUEST_ID_MAX + 1 + VOUCHER_AUDIENCE_MAX + 1 +         \
         RECEIPT_VOUCHERS_MAX * VOUCHER_ID_SIZE)
#define RECEIPT_TEXT_PREFIX "pr1-"
#define RECEIPT_TEXT_MAX (4 + BASE64URL_LEN(RECEIPT_SIGNED_MAX + CRYPTO_SIG_SIZE) + 1)

enum receipt_kind {
        RECEIPT_CREATE = 1,
        RECEIPT_TOPUP = 2,
        RECEIPT_RELEASE = 3,
        RECEIPT_PAY = 4, /* revenue: the amount paid, the slice's balance after (its part of it added) */
};

struct receipt {
        enum receipt_kind kind;
        int64_t amount;
        int64_t balance;
        char currency[CURRENCY_SIZE];
        int64_t time_usec;
        uint8_t host_key[CRYPTO_KEY_ID_SIZE];
        char slice[RECEIPT_SLICE_ID_MAX + 1];
        char request_id[RECEIPT_REQUEST_ID_MAX + 1]; /* "": none */
        char host_id[VOUCHER_AUDIENCE_MAX + 1];
        size_t n_vouchers;
        uint8_t vouchers[RECEIPT_VOUCHERS_MAX][VOUCHER_ID_SIZE];
        uint8_t signature[CRYPTO_SIG_SIZE];
};

/* "create", "topup", "release", "pay"; NULL for another value. */
const char *receipt_kind_to_string(enum receipt_kind k);

/* The signed bytes; buf holds RECEIPT_SIGNED_MAX. -EINVAL if a field is
 * out of its range (so nothing out of range is ever signed), -ENOBUFS if
 * n is too small. */
int receipt_encode(const struct receipt *r, uint8_t *buf, size_t n, size_t *ret_len);
/* Sets r->host_key to k's id and signs; r is untouched on failure (-EINVAL
 * for a field out of range or a key without its private half). */
int receipt_sign(struct receipt *r, const struct crypto_key *k);
/* buf holds RECEIPT_TEXT_MAX; no newline. -EINVAL as receipt_encode(),
 * -ENOBUFS if n is too small. */
int receipt_to_text(const struct receipt *r, char *buf, size_t n);

/* Parses the text form (white space around it, a final newline included,
 * is allowed: it is what a receipt file holds). Checks length, prefix,
 * base64url and every field, not the signature. -EINVAL with a static
 * sentence naming the problem in *ret_error (ret_error may be NULL), one
 * per problem:
 *   "Not a prepay receipt (expected text starting pr1-)"
 *   "Receipt text is damaged: not valid base64url after pr1-"
 *   "Receipt text is truncated"
 *   "Receipt text is too long: extra data after the signature"
 *   "Not a prepay receipt (its bytes do not start with PPR)"
 *   "Receipt has an unknown format version (this prepay reads version 1)"
 *   "Receipt kind is unknown (this prepay knows create, topup, release and pay)"
 *   "Receipt amount out of range"
 *   "Receipt balance out of range"
 *   "Receipt currency is not three upper-case letters"
 *   "Receipt time out of range"
 *   "Receipt slice id is not valid"
 *   "Receipt request id is not valid"
 *   "Receipt host id is not valid"
 *   "Receipt voucher count does not fit its kind (create, topup and pay spend 1 to 16, release none)"
 * The sentences start with a capital and end without a full stop. */
int receipt_from_text(const char *s, struct receipt *ret, const char **ret_error);

/* Whether k signed r, each failure with its own error (negative errno)
 * and a sentence in *ret_error (to free; ret_error may be NULL; not
 * written on success; -ENOMEM and nothing written if the sentence cannot
 * be allocated):
 *   -EINVAL    a field out of range (a struct not from receipt_from_text)
 *   -ENOKEY    signed by another key ("Receipt is signed by key X, not by
 *              the key given (Y)")
 *   -EBADMSG   the signature does not verify ("forged or damaged") */
int receipt_verify(const struct receipt *r, const struct crypto_key *k, char **ret_error);

/* A receipt's time as "2026-11-20 10:00:00.123456 UTC"; buf holds
 * RECEIPT_TIME_STRING_MAX. Returns buf. */
#define RECEIPT_TIME_STRING_MAX 64
char *receipt_time_to_string(int64_t usec, char *buf);
