/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/voucher.h"

/* Funder statements (issue 16): what a funder signs, with the private
 * half of the funder key it gave with its credits, to prove it holds that
 * key, for one purpose:
 *   'c' a claim: "I, holder of this key, claim my share of this slice on
 *       this host, now" (made by "prepay claim", op "claim");
 *   'e' an events proof: "I, holder of this key, want to follow this
 *       slice on this host" (made by "prepay events --funder-key", op
 *       "events" and "funders" as "funder_proof"): it reads, never pays.
 * The purpose is signed: an events proof handed to a gateway or a
 * third party can never be replayed as a claim of the funder's money.
 * Checked by prepayd against the funder keys its ledger recorded. Pure
 * code, fuzzed (tests/fuzz/fuzz-claim.c): the text comes from anyone.
 *
 * Signed bytes (integers big-endian):
 *   0   4  magic "PPC" and the format version, 0x02: the magic, which
 *          no voucher ("PPV") or receipt ("PPR") begins with, so that no
 *          signature of one is ever taken for another
 *   4   1  purpose: 'c' (claim) or 'e' (events)
 *   5   8  time, Unix microseconds, signed, > 0
 *  13  32  the funder's Ed25519 public key, raw
 *  45   1  host id length h, 1..VOUCHER_AUDIENCE_MAX
 *  46   h  host id: [A-Za-z0-9._-] (the host's HostId=)
 *   .   1  slice id length s, 10..18
 *   .   s  slice id: "s-" and 8 to 16 lower-case hex digits
 * followed by the 64-byte Ed25519 signature of those bytes by that key.
 * The text form is "pc1-" and base64url (no padding) of all of it, on
 * one line (common/note.h).
 *
 * Version 1 (no purpose byte: every statement a claim) is not read: it
 * was never released, and a statement is good for CLAIM_SKEW_USEC only,
 * so none made before an upgrade could still be used after it; one format
 * leaves no doubt about what a signature was given for. */

#define CLAIM_VERSION 2
#define CLAIM_PURPOSE_CLAIM 'c'
#define CLAIM_PURPOSE_EVENTS 'e'
#define CLAIM_SLICE_ID_MAX 18
#define CLAIM_SIGNED_MAX (46 + VOUCHER_AUDIENCE_MAX + 1 + CLAIM_SLICE_ID_MAX)
#define CLAIM_TEXT_PREFIX "pc1-"
#define CLAIM_TEXT_MAX (4 + BASE64URL_LEN(CLAIM_SIGNED_MAX + CRYPTO_SIG_SIZE) + 1)
/* How far a claim's time may be from the checker's clock, either way: a
 * claim is answered at once, so a few minutes cover clocks that are not
 * synchronised; a claim overheard and replayed later is refused, and one
 * replayed within the window finds its share claimed already (prepayd
 * pays a share once). */
#define CLAIM_SKEW_USEC (5 * 60 * USEC_PER_SEC)

struct claim {
        char purpose; /* CLAIM_PURPOSE_* */
        int64_t time_usec;
        uint8_t funder[CRYPTO_PUBKEY_SIZE];
        char host_id[VOUCHER_AUDIENCE_MAX + 1];
        char slice[CLAIM_SLICE_ID_MAX + 1];
        uint8_t signature[CRYPTO_SIG_SIZE];
};

/* A statement for purpose (CLAIM_PURPOSE_*) by k (a private key) on slice
 * at host_id, made at time_usec, as text into buf (CLAIM_TEXT_MAX).
 * -EINVAL for a field out of range or a key without its private half. */
int claim_sign(const struct crypto_key *k, char purpose, const char *host_id, const char *slice, int64_t time_usec,
               char buf[static CLAIM_TEXT_MAX]);
/* Parses a claim's text (white space around it allowed): its shape and
 * ranges only, not its signature. -EINVAL with one constant sentence in
 * *ret_error (may be NULL): "Not a prepay claim (expected text starting
 * pc1-)", "Claim text is damaged: not valid base64url after pc1-", "Claim
 * text is truncated", "Claim text is too long: extra data after the
 * signature", "Not a prepay claim (its bytes do not start with PPC)",
 * "Claim has an unknown format version (this prepay reads version 2)",
 * "Claim purpose is not valid", "Claim time out of range", "Claim host id is not valid", "Claim slice
 * id is not valid". */
int claim_from_text(const char *s, struct claim *ret, const char **ret_error);
/* Checks a parsed statement for purpose, host_id and slice at now_usec,
 * with a sentence in *ret_error (to free; may be NULL):
 *   -EPROTOTYPE made for the other purpose (an events proof sent as a
 *             claim, or a claim as an events proof)
 *   -EXDEV    made for another host or another slice (names both)
 *   -ETIME    its time is more than CLAIM_SKEW_USEC from now_usec
 *   -EBADMSG  not signed by the key it names (a forgery, or damaged)
 * 0 when it holds: c->funder is then proven to be the claimant's. */
int claim_verify(const struct claim *c, char purpose, const char *host_id, const char *slice, int64_t now_usec,
                 char **ret_error);
