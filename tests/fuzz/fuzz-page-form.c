/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The donor page's form as a browser (or anyone) posts it to
 * prepay-gatewayd: page_form_voucher() (daemon/gateway-page.c) on the raw
 * body, and markup_text() (daemon/common/markup.c) on the same bytes as a
 * page would show them. Properties:
 *   - a body past PAGE_FORM_MAX is -E2BIG, whatever it holds;
 *   - a refusal is -EINVAL or -E2BIG with a sentence;
 *   - a voucher taken is 1..PAGE_VOUCHER_MAX characters of printable
 *     ASCII without a space, NUL-terminated;
 *   - escaped, the bytes hold none of < > " ' and no control character
 *     but tab and newline, and & only as the start of an entity. */
#include <errno.h>

#include "fuzz.h"
#include "common/markup.h"
#include "gateway-page.h"

FUZZ_QUIET_INITIALIZE

static void check_escaped(const uint8_t *data, size_t size) {
        char text[1024];
        _cleanup_(freep) char *out = NULL;
        struct markup m;
        size_t n = MIN(size, sizeof(text) - 1);

        memcpy(text, data, n);
        text[n] = 0;
        markup_init(&m, 16 * sizeof(text));
        markup_text(&m, text);
        fuzz_check(markup_finish(&m, &out, &n) == 0);
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) out[i];

                fuzz_check(c != '<' && c != '>' && c != '"' && c != '\'' && c != 0x7f);
                fuzz_check(c >= ' ' || c == '\t' || c == '\n');
                if (c == '&')
                        fuzz_check(strneq(out + i, "&amp;", 5) || strneq(out + i, "&lt;", 4) ||
                                   strneq(out + i, "&gt;", 4) || strneq(out + i, "&quot;", 6) ||
                                   strneq(out + i, "&#39;", 5));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char voucher[PAGE_VOUCHER_MAX + 1];
        const char *error = NULL;
        size_t n;
        int r;

        memset(voucher, 0x5a, sizeof(voucher));
        r = page_form_voucher((const char *) data, size, voucher, &error);
        if (size > PAGE_FORM_MAX)
                fuzz_check(r == -E2BIG);
        if (r < 0) {
                fuzz_check((r == -EINVAL || r == -E2BIG) && error && strlen(error) > 10);
        } else {
                fuzz_check(r == 0);
                n = strnlen(voucher, sizeof(voucher));
                fuzz_check(n >= 1 && n <= PAGE_VOUCHER_MAX);
                for (size_t i = 0; i < n; i++)
                        fuzz_check(voucher[i] > ' ' && voucher[i] <= '~');
        }
        check_escaped(data, size);
        return 0;
}
