/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The donor's page (daemon/gateway-page.c): its routes, the form's
 * parser, and pages whose every figure from prepayd is escaped. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "gateway-page.h"

static void test_routes(void **state _unused_) {
        const char *allow;
        char slice[64];

        assert_int_equal(page_route_of("GET", "/slices/s-1a2b3c4d", slice, &allow), PAGE_SLICE);
        assert_string_equal(slice, "s-1a2b3c4d");
        assert_int_equal(page_route_of("HEAD", "/slices/s-1a2b3c4d", slice, &allow), PAGE_SLICE);
        assert_int_equal(page_route_of("POST", "/slices/s-1a2b3c4d/topup", slice, &allow), PAGE_TOPUP);
        assert_int_equal(page_route_of("POST", "/slices/s-1a2b3c4d", slice, &allow), PAGE_NONE);
        assert_string_equal(allow, "GET");
        assert_int_equal(page_route_of("GET", "/slices/s-1a2b3c4d/topup", slice, &allow), PAGE_NONE);
        assert_string_equal(allow, "POST");
        assert_int_equal(page_route_of("GET", "/slices/s-1a2b3c4d/", slice, &allow), PAGE_NONE);
        assert_null(allow);
        assert_int_equal(page_route_of("GET", "/slices/<x>", slice, &allow), PAGE_NONE);
        assert_int_equal(page_route_of("GET", "/slices/", slice, &allow), PAGE_NONE);
        assert_int_equal(page_route_of("GET", "/v1/slices/s-1a2b3c4d", slice, &allow), PAGE_NONE);
        assert_null(allow);
}

static int form(const char *body, char out[static PAGE_VOUCHER_MAX + 1]) {
        const char *why = NULL;
        int r = page_form_voucher(body, strlen(body), out, &why);

        if (r < 0)
                assert_non_null(why);
        return r;
}

static void test_form(void **state _unused_) {
        char v[PAGE_VOUCHER_MAX + 1], big[PAGE_FORM_MAX + 2];

        assert_int_equal(form("voucher=pv1-AbC_d-9", v), 0);
        assert_string_equal(v, "pv1-AbC_d-9");
        /* What a paste brings: a line break (CR LF, as a form sends it). */
        assert_int_equal(form("voucher=+pv1-x%0D%0A", v), 0);
        assert_string_equal(v, "pv1-x");
        assert_int_equal(form("voucher=pv1-%41%2d", v), 0);
        assert_string_equal(v, "pv1-A-");
        assert_int_equal(form("&voucher=pv1-x&", v), 0);
        assert_int_equal(form("voucher=", v), -EINVAL);
        assert_int_equal(form("voucher=+%20", v), -EINVAL);
        assert_int_equal(form("", v), -EINVAL);
        assert_int_equal(form("voucher=a&voucher=b", v), -EINVAL);
        assert_int_equal(form("voucher=a&other=b", v), -EINVAL);
        assert_int_equal(form("vouchers=a", v), -EINVAL);
        assert_int_equal(form("voucher", v), -EINVAL);
        assert_int_equal(form("voucher=a%4", v), -EINVAL);
        assert_int_equal(form("voucher=a%zz", v), -EINVAL);
        assert_int_equal(form("voucher=a+b", v), -EINVAL);
        assert_int_equal(form("voucher=a%00b", v), -EINVAL);
        assert_int_equal(form("voucher=%C3%A9", v), -EINVAL);
        memset(big, 'a', sizeof(big));
        memcpy(big, "voucher=", 8);
        big[PAGE_FORM_MAX + 1] = 0;
        assert_int_equal(form(big, v), -E2BIG);
        big[PAGE_VOUCHER_MAX + 9] = 0; /* one character too many */
        assert_int_equal(form(big, v), -E2BIG);
        big[PAGE_VOUCHER_MAX + 8] = 0;
        assert_int_equal(form(big, v), 0);
        assert_int_equal(strlen(v), PAGE_VOUCHER_MAX);
}

static void test_csp(void **state _unused_) {
        assert_non_null(strstr(page_csp(), "default-src 'none'; style-src 'sha256-"));
        assert_null(strstr(page_csp(), "unsafe"));
        assert_null(strstr(page_csp(), "script-src"));
}

/* A status whose sponsor and state are markup, and a history. */
static void test_slice_page(void **state _unused_) {
        _cleanup_(freep) char *html = NULL;
        json_object *status, *history;
        size_t n;

        status = json_tokener_parse(
                "{\"ok\": true, \"slice\": {\"id\": \"s-1a2b3c4d\", \"state\": \"<b>running</b>\", \"public\": true, "
                "\"account\": {\"currency\": \"EUR\", \"enforcement\": \"low\", \"balance\": 1234567, "
                "\"burn_rate\": 100, \"time_left_usec\": 12345000000}, "
                "\"sponsorship\": {\"current\": {\"name\": \"<script>alert(1)</script>\", "
                "\"url\": \"javascript:alert(1)\"}}}}");
        history = json_tokener_parse(
                "{\"ok\": true, \"slice\": \"s-1a2b3c4d\", \"currency\": \"EUR\", \"public\": true, "
                "\"credited\": 5000000, \"points\": [[1796000000000000, 2000000], [1796000060000000, 1234567]], "
                "\"events\": [{\"time_usec\": 1796000000000000, \"kind\": \"funded\", \"balance\": 2000000}]}");
        assert_non_null(status);
        assert_non_null(history);
        assert_int_equal(page_slice_html(status, history, &html, &n), 0);
        assert_int_equal(strlen(html), n);
        assert_non_null(strstr(html, "<span id=\"balance\">1.234567</span> EUR"));
        assert_non_null(strstr(html, "<span id=\"credited\">5.00</span> EUR"));
        assert_non_null(strstr(html, "<span id=\"burn\">0.36</span> EUR an hour"));
        assert_non_null(strstr(html, "3 h 25 min at this burn"));
        assert_non_null(strstr(html, "&lt;b&gt;running&lt;/b&gt; (low)"));
        assert_non_null(strstr(html, "Sponsored by &lt;script&gt;alert(1)&lt;/script&gt;"));
        assert_null(strstr(html, "<script"));
        assert_null(strstr(html, "javascript:")); /* not an https link: no link */
        assert_non_null(strstr(html, "<svg xmlns="));
        assert_non_null(strstr(html, "<form method=\"post\" action=\"/slices/s-1a2b3c4d/topup\""));
        free(TAKE_PTR(html));

        /* Without a history: the page, without its chart. */
        assert_int_equal(page_slice_html(status, NULL, &html, &n), 0);
        assert_null(strstr(html, "<svg"));
        assert_null(strstr(html, "id=\"credited\""));
        free(TAKE_PTR(html));
        json_object_put(status);

        status = json_tokener_parse("{\"ok\": true, \"slice\": {\"id\": \"../x\"}}");
        assert_int_equal(page_slice_html(status, NULL, &html, &n), -EBADMSG);
        json_object_put(status);
        json_object_put(history);
}

static void test_topup_page(void **state _unused_) {
        _cleanup_(freep) char *html = NULL;
        json_object *reply;
        size_t n;

        reply = json_tokener_parse("{\"credited\": \"3.00\", \"currency\": \"EUR\", "
                                   "\"slice\": {\"account\": {\"balance\": \"4.95\"}}}");
        assert_int_equal(page_topup_html("s-1a2b3c4d", 200, reply, &html, &n), 0);
        assert_non_null(strstr(html, "<span id=\"credited\">3.00</span> EUR"));
        assert_non_null(strstr(html, "<span id=\"balance\">4.95</span> EUR"));
        assert_non_null(strstr(html, "href=\"/slices/s-1a2b3c4d\""));
        free(TAKE_PTR(html));
        json_object_put(reply);

        reply = json_tokener_parse("{\"error\": \"Voucher <x> & \\\"y\\\" was spent\", \"code\": \"spent\"}");
        assert_int_equal(page_topup_html("s-1a2b3c4d", 409, reply, &html, &n), 0);
        assert_non_null(strstr(html, "Voucher &lt;x&gt; &amp; &quot;y&quot; was spent"));
        assert_non_null(strstr(html, "HTTP status 409"));
        json_object_put(reply);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_routes),     cmocka_unit_test(test_form),
                cmocka_unit_test(test_csp),        cmocka_unit_test(test_slice_page),
                cmocka_unit_test(test_topup_page),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
