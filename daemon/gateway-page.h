/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

/* The donor's page (prepay-gatewayd(8), "Donor pages"): for a browser,
 * not for the API. GET /slices/{id} is one slice's public figures (its
 * state, sponsor, what it was given so far, balance, burn and time left)
 * with the chart of its balance (common/chart.c, inline SVG) and a form;
 * the form's POST /slices/{id}/topup, a voucher pasted in, becomes the
 * API's top-up, and its answer a page. Plain HTML: no script, no
 * external asset, one inline stylesheet its Content-Security-Policy
 * names by hash. Pure: the form parser and the pages are unit-tested
 * (tests/unit/test-gateway-page.c) and the parser fuzzed
 * (tests/fuzz/fuzz-page-form.c). */

/* A form body: more is refused (413) before it is parsed. A voucher is
 * about 200 characters, escaped three times as many at most. */
#define PAGE_FORM_MAX 8192
#define PAGE_VOUCHER_MAX 4096

enum page_route {
        PAGE_NONE,  /* not a page: the API's, or nothing */
        PAGE_SLICE, /* GET /slices/{id} */
        PAGE_TOPUP, /* POST /slices/{id}/topup */
};

/* Which page method and path ask for, the slice id in slice (a valid one,
 * else PAGE_NONE). A page's path with another method: PAGE_NONE and
 * *ret_allowed the method it takes ("GET", "POST"). */
enum page_route page_route_of(const char *method, const char *path, char slice[static 64], const char **ret_allowed);

/* The voucher of an application/x-www-form-urlencoded body: exactly one
 * field "voucher" (other fields are refused, naming none of their bytes),
 * its %XX and '+' decoded, white space around it dropped, then printable
 * ASCII without spaces, 1..PAGE_VOUCHER_MAX characters; what it means is
 * prepayd's to say. 0 with ret filled, or -EINVAL/-E2BIG with *ret_error
 * a constant sentence for the page. */
int page_form_voucher(const char *body, size_t size, char ret[static PAGE_VOUCHER_MAX + 1], const char **ret_error);

/* The Content-Security-Policy of every page. */
const char *page_csp(void);

/* The slice's page from prepayd's public status reply and its history
 * reply (NULL or a refusal: the page says the chart is missing). 0 and
 * *ret (owned, HTML), or -ENOMEM/-E2BIG/-EBADMSG (a status that is not
 * one of a slice). */
int page_slice_html(json_object *status, json_object *history, char **ret, size_t *ret_size);

/* The answer to a top-up: status is the HTTP status of the API's answer
 * (200: reply is prepayd's top-up reply; else a refusal's sentence in
 * reply's "error"). */
int page_topup_html(const char *slice, unsigned status, json_object *reply, char **ret, size_t *ret_size);

/* A page for a request that did not get as far as prepayd (a form too
 * large, a bad voucher field, prepayd away): its title and sentence. */
int page_error_html(const char *title, const char *sentence, char **ret, size_t *ret_size);
