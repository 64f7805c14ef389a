/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The voucher's bytes (prepay-voucher(5): the signed fields, then the
 * signature), which the text form carries in base64url: the input is taken
 * as those bytes, wrapped as "pv1-" and base64url, and read with
 * voucher_from_text(), the only reader of the binary form. Mutating the
 * bytes rather than the text reaches the field checks far more often.
 * Properties:
 *   - a refusal is -EINVAL with a sentence;
 *   - what is accepted re-encodes to the very bytes given: voucher_encode()
 *     gives the signed part, the signature follows, and nothing is left
 *     over; voucher_to_text() gives the very text read;
 *   - the fields read are those at the documented offsets. */
#include <errno.h>

#include "fuzz.h"
#include "common/voucher.h"

FUZZ_QUIET_INITIALIZE

#define VOUCHER_BYTES_MAX (VOUCHER_SIGNED_MAX + CRYPTO_SIG_SIZE)

static int64_t be64(const uint8_t *p) {
        uint64_t u = 0;

        for (int i = 0; i < 8; i++)
                u = u << 8 | p[i];
        return (int64_t) u;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char text[4 + BASE64URL_LEN(VOUCHER_BYTES_MAX + 16) + 1], out[VOUCHER_TEXT_MAX];
        uint8_t bytes[VOUCHER_BYTES_MAX];
        const char *error = NULL;
        struct voucher v;
        size_t len;
        int r;

        /* A few bytes too many is a case of its own ("too long"). */
        if (size > VOUCHER_BYTES_MAX + 16)
                return 0;
        memcpy(text, VOUCHER_TEXT_PREFIX, 4);
        base64url_encode(data, size, text + 4);

        r = voucher_from_text(text, &v, &error);
        if (fuzz_refused(r, error))
                return 0;

        fuzz_check(voucher_encode(&v, bytes, sizeof(bytes), &len) == 0);
        fuzz_check(len + CRYPTO_SIG_SIZE == size);
        fuzz_check(memcmp(bytes, data, len) == 0);
        fuzz_check(memcmp(v.signature, data + len, CRYPTO_SIG_SIZE) == 0);

        fuzz_check(voucher_to_text(&v, out, sizeof(out)) == 0 && streq(out, text));

        /* The table of voucher.h, read independently. */
        fuzz_check(memcmp(data, "PPV\x01", 4) == 0);
        fuzz_check(memcmp(v.id, data + 4, VOUCHER_ID_SIZE) == 0);
        fuzz_check(v.amount == be64(data + 20) && v.amount > 0 && v.amount <= MONEY_AMOUNT_MAX);
        fuzz_check(memcmp(v.currency, data + 28, 3) == 0 && currency_is_valid(v.currency));
        fuzz_check(memcmp(v.issuer, data + 31, CRYPTO_KEY_ID_SIZE) == 0);
        fuzz_check(v.not_before == be64(data + 39) && v.not_after == be64(data + 47));
        fuzz_check(v.not_before < v.not_after);
        fuzz_check(strlen(v.audience) == data[55] && memcmp(v.audience, data + 56, data[55]) == 0);
        fuzz_check(!v.audience[0] || voucher_audience_is_valid(v.audience));
        return 0;
}
