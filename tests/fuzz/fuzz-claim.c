/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The claim statement's text form (common/claim.c), which a funder sends
 * and prepayd parses: claim_from_text(), then claim_verify(). Properties:
 *   - a refusal is -EINVAL with one of the sentences claim.h lists;
 *   - what is accepted has purpose 'c' or 'e' and is refused for the
 *     other one (-EPROTOTYPE) whatever its signature;
 *   - what is accepted is checked without a crash: for its own host,
 *     slice and time it holds (signed by the key it names) or is a
 *     forgery (-EBADMSG); for another host or slice it is -EXDEV, and
 *     an hour later -ETIME, whatever its signature;
 *   - re-signed by the harness's key (1 in 16 claims, by the time's last
 *     bits: signing is slow) it parses back to the same fields and holds,
 *     and any change to a signed field (its purpose too) is a forgery. */
#include <errno.h>

#include "fuzz.h"
#include "common/claim.h"

static struct crypto_key *key;

FUZZ_KEY_INITIALIZE(key)

static const char *const sentences[] = {
        "Not a prepay claim (expected text starting pc1-)",
        "Claim text is damaged: not valid base64url after pc1-",
        "Claim text is truncated",
        "Claim text is too long: extra data after the signature",
        "Not a prepay claim (its bytes do not start with PPC)",
        "Claim has an unknown format version (this prepay reads version 2)",
        "Claim purpose is not valid",
        "Claim time out of range",
        "Claim host id is not valid",
        "Claim slice id is not valid",
};

static int verify(const struct claim *c, const char *host, const char *slice, int64_t now) {
        char *error = NULL;
        int q;

        q = claim_verify(c, c->purpose, host, slice, now, &error);
        fuzz_check(q == 0 ? !error : fuzz_sentence_ok(error));
        free(error);
        return q;
}

static void check_signed(const struct claim *c) {
        char text[CLAIM_TEXT_MAX];
        struct claim s, f;

        fuzz_check(claim_sign(key, c->purpose, c->host_id, c->slice, c->time_usec, text) == 0);
        fuzz_check(claim_from_text(text, &s, NULL) == 0);
        fuzz_check(s.purpose == c->purpose && s.time_usec == c->time_usec && streq(s.host_id, c->host_id) &&
                   streq(s.slice, c->slice));
        fuzz_check(verify(&s, s.host_id, s.slice, s.time_usec) == 0);
        f = s, f.purpose = f.purpose == CLAIM_PURPOSE_CLAIM ? CLAIM_PURPOSE_EVENTS : CLAIM_PURPOSE_CLAIM;
        fuzz_check(verify(&f, f.host_id, f.slice, f.time_usec) == -EBADMSG);
        f = s, f.time_usec = f.time_usec == 1 ? 2 : f.time_usec - 1;
        fuzz_check(verify(&f, f.host_id, f.slice, f.time_usec) == -EBADMSG);
        f = s, f.funder[0] ^= 1;
        fuzz_check(verify(&f, f.host_id, f.slice, f.time_usec) == -EBADMSG);
        f = s, f.signature[0] ^= 1;
        fuzz_check(verify(&f, f.host_id, f.slice, f.time_usec) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *error = NULL;
        struct claim c;
        char *s;
        int q;

        /* A claim is under 250 characters; kilobytes of white space around
         * one find nothing more. */
        if (size > 4096)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;

        q = claim_from_text(s, &c, &error);
        free(s);
        if (q < 0) {
                fuzz_check(q == -EINVAL && fuzz_sentence_in(error, sentences, ARRAY_SIZE(sentences)));
                return 0;
        }

        fuzz_check(c.purpose == CLAIM_PURPOSE_CLAIM || c.purpose == CLAIM_PURPOSE_EVENTS);
        q = verify(&c, c.host_id, c.slice, c.time_usec);
        fuzz_check(q == 0 || q == -EBADMSG);
        /* Taken for the other purpose: refused, whatever its signature. */
        fuzz_check(claim_verify(&c, c.purpose == CLAIM_PURPOSE_CLAIM ? CLAIM_PURPOSE_EVENTS : CLAIM_PURPOSE_CLAIM,
                                c.host_id, c.slice, c.time_usec, NULL) == -EPROTOTYPE);
        fuzz_check(verify(&c, streq(c.host_id, "x") ? "y" : "x", c.slice, c.time_usec) == -EXDEV);
        fuzz_check(verify(&c, c.host_id, streq(c.slice, "s-00000000") ? "s-00000001" : "s-00000000",
                          c.time_usec) == -EXDEV);
        if (c.time_usec < INT64_MAX - 3600 * (int64_t) USEC_PER_SEC)
                fuzz_check(verify(&c, c.host_id, c.slice, c.time_usec + 3600 * (int64_t) USEC_PER_SEC) == -ETIME);

        if ((c.time_usec & 15) == 0)
                check_signed(&c);
        return 0;
}
