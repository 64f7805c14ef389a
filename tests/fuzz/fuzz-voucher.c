/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The voucher's text form, as a file or a request's "voucher" field holds
 * it: voucher_from_text(). Properties:
 *   - a refusal is -EINVAL with one of the sentences voucher.h lists;
 *   - what is accepted re-encodes (voucher_to_text()) to the very text
 *     given, white space around it aside: one text per voucher;
 *   - that text parses back to the same voucher;
 *   - voucher_verify() on it fails as a forgery unless its issuer is
 *     trusted, and once signed by a trusted key (1 in 256 vouchers, by the
 *     id's first byte: signing is slow) verifies within its validity, is
 *     not yet valid before it and expired at its end, and is refused in
 *     another currency and on another host when it names one. */
#include <errno.h>

#include "fuzz.h"
#include "common/voucher.h"

static struct crypto_keyring *keyring;
static struct crypto_key *key;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        static const uint8_t seed[CRYPTO_SEED_SIZE] = { 'f', 'u', 'z', 'z' };
        struct crypto_key *k;

        (void) argc;
        (void) argv;
        fuzz_quiet();
        if (crypto_keyring_new(&keyring) < 0 || crypto_key_from_seed(seed, &key) < 0 ||
            crypto_key_from_seed(seed, &k) < 0 || crypto_keyring_add(keyring, k) < 0)
                abort();
        return 0;
}

static const char *const sentences[] = {
        "Not a prepay voucher (expected text starting pv1-)",
        "Voucher text is damaged: not valid base64url after pv1-",
        "Voucher text is truncated",
        "Voucher text is too long: extra data after the signature",
        "Not a prepay voucher (its bytes do not start with PPV)",
        "Voucher has an unknown format version (this prepay reads version 1)",
        "Voucher audience is longer than 64 characters",
        "Voucher amount out of range",
        "Voucher currency is not three upper-case letters",
        "Voucher validity period is empty (not-after is not later than not-before)",
        "Voucher audience is not a valid host id",
};

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool voucher_equal(const struct voucher *a, const struct voucher *b) {
        return memcmp(a->id, b->id, sizeof(a->id)) == 0 && a->amount == b->amount &&
               streq(a->currency, b->currency) && memcmp(a->issuer, b->issuer, sizeof(a->issuer)) == 0 &&
               a->not_before == b->not_before && a->not_after == b->not_after && streq(a->audience, b->audience) &&
               memcmp(a->signature, b->signature, sizeof(a->signature)) == 0;
}

static int verify(const struct voucher *v, int64_t now, const char *currency, const char *host) {
        char *error = NULL;
        int r;

        r = voucher_verify(v, keyring, now, currency, host, &error);
        fuzz_check(r == 0 ? !error : fuzz_sentence_ok(error));
        free(error);
        return r;
}

static void check_signed(struct voucher v) {
        fuzz_check(voucher_sign(&v, key) == 0);
        fuzz_check(verify(&v, v.not_before, NULL, NULL) == 0);
        fuzz_check(verify(&v, v.not_after - 1, v.currency, v.audience[0] ? v.audience : "any") == 0);
        fuzz_check(verify(&v, v.not_after, NULL, NULL) == -EKEYEXPIRED);
        if (v.not_before > INT64_MIN)
                fuzz_check(verify(&v, v.not_before - 1, NULL, NULL) == -ETIME);
        fuzz_check(verify(&v, v.not_before, streq(v.currency, "EUR") ? "USD" : "EUR", NULL) == -EMEDIUMTYPE);
        if (v.audience[0])
                fuzz_check(verify(&v, v.not_before, NULL, streq(v.audience, "x") ? "y" : "x") == -EACCES);
        /* Any change to what is signed is a forgery. */
        v.amount = v.amount == 1 ? 2 : v.amount - 1;
        fuzz_check(verify(&v, v.not_before, NULL, NULL) == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char out[VOUCHER_TEXT_MAX], again_text[VOUCHER_TEXT_MAX], t[VOUCHER_TIME_STRING_MAX];
        char id[VOUCHER_ID_STRING_MAX];
        struct voucher v, again;
        const char *error = NULL, *p;
        char *s;
        size_t len;
        bool known = false;
        int r;

        /* A voucher is about 200 characters; white space around it is
         * allowed, but a few kilobytes of it find nothing more. */
        if (size > 4096)
                return 0;
        s = fuzz_strndup(data, size);
        if (!s)
                return 0;

        r = voucher_from_text(s, &v, &error);
        if (r < 0) {
                fuzz_check(r == -EINVAL);
                for (size_t i = 0; i < sizeof(sentences) / sizeof(sentences[0]); i++)
                        known = known || (error && streq(error, sentences[i]));
                fuzz_check(known);
                free(s);
                return 0;
        }

        /* One text per voucher: the input, white space aside. */
        fuzz_check(voucher_to_text(&v, out, sizeof(out)) == 0);
        for (p = s; is_space(*p); p++)
                ;
        len = strlen(p);
        while (len > 0 && is_space(p[len - 1]))
                len--;
        fuzz_check(len == strlen(out) && memcmp(p, out, len) == 0);

        fuzz_check(voucher_from_text(out, &again, NULL) == 0);
        fuzz_check(voucher_equal(&v, &again));
        fuzz_check(voucher_to_text(&again, again_text, sizeof(again_text)) == 0 && streq(out, again_text));

        fuzz_check(strlen(voucher_id_to_string(v.id, id)) == 2 * VOUCHER_ID_SIZE);
        fuzz_check(voucher_time_to_string(v.not_before, t)[0] != 0);
        fuzz_check(voucher_time_to_string(v.not_after, t)[0] != 0);

        /* Nobody trusted signed what the fuzzer made (bar a forgery of
         * Ed25519): unknown issuer, or a signature that does not verify. */
        r = verify(&v, v.not_before, NULL, NULL);
        fuzz_check(r == -ENOKEY || r == -EBADMSG);

        if (v.id[0] == 0)
                check_signed(v);

        free(s);
        return 0;
}
