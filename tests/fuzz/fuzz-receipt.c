/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The receipt's text form, as a file, "prepay receipt verify" or a reply's
 * "receipt" field holds it: receipt_from_text(). Properties:
 *   - a refusal is -EINVAL with one of the sentences receipt.h lists;
 *   - what is accepted re-encodes (receipt_to_text()) to the very text
 *     given, white space around it aside: one text per receipt;
 *   - that text parses back to the same receipt;
 *   - receipt_verify() on it fails (another key, or a forgery) unless
 *     Ed25519 is broken, and once signed by the harness's key (1 in 16
 *     receipts, by the time's last bits: signing is slow) verifies, and
 *     any change to a signed field is a forgery. */
#include <errno.h>

#include "fuzz.h"
#include "common/receipt.h"

static struct crypto_key *key;

FUZZ_KEY_INITIALIZE(key)

static const char *const sentences[] = {
        "Not a prepay receipt (expected text starting pr1-)",
        "Receipt text is damaged: not valid base64url after pr1-",
        "Receipt text is truncated",
        "Receipt text is too long: extra data after the signature",
        "Not a prepay receipt (its bytes do not start with PPR)",
        "Receipt has an unknown format version (this prepay reads version 1)",
        "Receipt kind is unknown (this prepay knows create, topup, release and pay)",
        "Receipt amount out of range",
        "Receipt balance out of range",
        "Receipt currency is not three upper-case letters",
        "Receipt time out of range",
        "Receipt slice id is not valid",
        "Receipt request id is not valid",
        "Receipt host id is not valid",
        "Receipt voucher count does not fit its kind (create, topup and pay spend 1 to 16, release none)",
};

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Field by field: the struct's padding and the bytes after each string's
 * NUL are not the receipt's. */
static bool receipt_equal(const struct receipt *a, const struct receipt *b) {
        return a->kind == b->kind && a->amount == b->amount && a->balance == b->balance &&
               streq(a->currency, b->currency) && a->time_usec == b->time_usec &&
               memcmp(a->host_key, b->host_key, sizeof(a->host_key)) == 0 && streq(a->slice, b->slice) &&
               streq(a->request_id, b->request_id) && streq(a->host_id, b->host_id) &&
               a->n_vouchers == b->n_vouchers &&
               memcmp(a->vouchers, b->vouchers, a->n_vouchers * VOUCHER_ID_SIZE) == 0 &&
               memcmp(a->signature, b->signature, sizeof(a->signature)) == 0;
}

static int verify(const struct receipt *r) {
        char *error = NULL;
        int q;

        q = receipt_verify(r, key, &error);
        fuzz_check(q == 0 ? !error : fuzz_sentence_ok(error));
        free(error);
        return q;
}

static void check_signed(struct receipt r) {
        struct receipt c;

        fuzz_check(receipt_sign(&r, key) == 0);
        fuzz_check(verify(&r) == 0);
        /* Any change to what is signed is a forgery. */
        c = r, c.balance = c.balance == 0 ? 1 : c.balance - 1;
        fuzz_check(verify(&c) == -EBADMSG);
        c = r, c.time_usec = c.time_usec == 1 ? 2 : c.time_usec - 1;
        fuzz_check(verify(&c) == -EBADMSG);
        c = r, c.slice[2] = c.slice[2] == 'a' ? 'b' : 'a';
        fuzz_check(verify(&c) == -EBADMSG);
        c = r, c.signature[0] ^= 1;
        fuzz_check(verify(&c) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char out[RECEIPT_TEXT_MAX], again_text[RECEIPT_TEXT_MAX], t[RECEIPT_TIME_STRING_MAX];
        struct receipt r, again;
        const char *error = NULL, *p;
        char *s;
        size_t len;
        int q;

        /* A receipt is at most about 700 characters; white space around it
         * is allowed, but a few kilobytes of it find nothing more. */
        if (size > 4096)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;

        q = receipt_from_text(s, &r, &error);
        if (q < 0) {
                fuzz_check(q == -EINVAL && fuzz_sentence_in(error, sentences, ARRAY_SIZE(sentences)));
                free(s);
                return 0;
        }

        /* One text per receipt: the input, white space aside. */
        fuzz_check(receipt_to_text(&r, out, sizeof(out)) == 0);
        for (p = s; is_space(*p); p++)
                ;
        len = strlen(p);
        while (len > 0 && is_space(p[len - 1]))
                len--;
        fuzz_check(len == strlen(out) && memcmp(p, out, len) == 0);

        fuzz_check(receipt_from_text(out, &again, NULL) == 0);
        fuzz_check(receipt_equal(&r, &again));
        fuzz_check(receipt_to_text(&again, again_text, sizeof(again_text)) == 0 && streq(out, again_text));

        fuzz_check(receipt_kind_to_string(r.kind) != NULL);
        fuzz_check(receipt_time_to_string(r.time_usec, t)[0] != 0);

        /* Nobody with the harness's key signed what the fuzzer made (bar a
         * forgery of Ed25519). */
        q = verify(&r);
        fuzz_check(q == -ENOKEY || q == -EBADMSG);

        if ((r.time_usec & 15) == 0)
                check_signed(r);

        free(s);
        return 0;
}
