/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/voucher.h"

/* Claim statements (issue 16): what a funder signs, with the private half
 * of the funder key it gave with its credits, to claim its share of a
 * released slice: "I, holder of this key, claim my share of this slice on
 * this host, now". Made by "prepay claim", checked by prepayd against the
 * funder keys its ledger recorded. Pure code, fuzzed (tests/fuzz/
 * fuzz-claim.c): the text comes from anyone.
 *
 * Signed bytes (integers big-endian):
 *   0   4  magic "PPC" and the format version, 0x01: the purpose, which
 *          no voucher ("PPV") or receipt ("PPR") begins with, so that no
 *          signature of one is ever taken for another
 *   4   8  time, Unix microseconds, signed, > 0
 *  12  32  the funder's Ed25519 public key, raw
 *  44   1  host id length h, 1..VOUCHER_AUDIENCE_MAX
 *  45   h  host id: [A-Za-z0-9._-] (the host's HostId=)
 *   .   1  slice id length s, 10..18
 *   .   s  slice id: "s-" and 8 to 16 lower-case hex digits
 * followed by the 64-byte Ed25519 signature of those bytes by that key.
 * The text form is "pc1-" and base64url (no padding) of all of it, on
 * one line (common/note.h). */

#define CLAIM_VERSION 1
#define CLAIM_SLICE_ID_MAX 18
#define CLAIM_SIGNED_MAX (45 + VOUCHER_AUDIENCE_MAX + 1 + CLAIM_SLICE_ID_MAX)
#define CLAIM_TEXT_PREFIX "pc1-"
#define CLAIM_TEXT_MAX (4 + BASE64URL_LEN(CLAIM_SIGNED_MAX + CRYPTO_SIG_SIZE) + 1)
/* How far a claim's time may be from the checker's clock, either way: a
 * claim is answered at once, so a few minutes cover clocks that are not
 * synchronised; a claim overheard and replayed later is refused, and one
 * replayed within the window finds its share claimed already (prepayd
 * pays a share once). */
#define CLAIM_SKEW_USEC (5 * 60 * USEC_PER_SEC)

struct claim {
        int64_t time_usec;
        uint8_t funder[CRYPTO_PUBKEY_SIZE];
        char host_id[VOUCHER_AUDIENCE_MAX + 1];
        char slice[CLAIM_SLICE_ID_MAX + 1];
        uint8_t signature[CRYPTO_SIG_SIZE];
};

/* A claim by k (a private key) on slice at host_id, made at time_usec, as
 * text into buf (CLAIM_TEXT_MAX). -EINVAL for a field out of range or a
 * key without its private half. */
int claim_sign(const struct crypto_key *k, const char *host_id, const char *slice, int64_t time_usec,
               char buf[static CLAIM_TEXT_MAX]);
/* Parses a claim's text (white space around it allowed): its shape and
 * ranges only, not its signature. -EINVAL with one constant sentence in
 * *ret_error (may be NULL): "Not a prepay claim (expected text starting
 * pc1-)", "Claim text is damaged: not valid base64url after pc1-", "Claim
 * text is truncated", "Claim text is too long: extra data after the
 * signature", "Not a prepay claim (its bytes do not start with PPC)",
 * "Claim has an unknown format version (this prepay reads version 1)",
 * "Claim time out of range", "Claim host id is not valid", "Claim slice
 * id is not valid". */
int claim_from_text(const char *s, struct claim *ret, const char **ret_error);
/* Checks a parsed claim for host_id and slice at now_usec, with a
 * sentence in *ret_error (to free; may be NULL):
 *   -EXDEV    made for another host or another slice (names both)
 *   -ETIME    its time is more than CLAIM_SKEW_USEC from now_usec
 *   -EBADMSG  not signed by the key it names (a forgery, or damaged)
 * 0 when it holds: c->funder is then proven to be the claimant's. */
int claim_verify(const struct claim *c, const char *host_id, const char *slice, int64_t now_usec,
                 char **ret_error);
