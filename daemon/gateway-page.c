/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "common/chart.h"
#include "common/crypto.h"
#include "common/encoding.h"
#include "common/history.h"
#include "common/markup.h"
#include "common/message.h"
#include "common/money.h"
#include "common/util.h"
#include "gateway-page.h"

/* A page is the chart (at most CHART_SVG_MAX) and a few KiB of text. */
#define PAGE_HTML_MAX (CHART_SVG_MAX + 64 * 1024)

/* The one stylesheet, inline; the policy allows it by its hash and
 * nothing else: no script at all, no image, no font, no frame. */
static const char STYLE[] =
        "body{font-family:sans-serif;margin:0;background:#f6f8fa;color:#1f2328}"
        "main{max-width:760px;margin:0 auto;padding:16px 20px;background:#fff}"
        "h1{font-size:22px}code{font-size:95%}"
        "dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{color:#57606a}dd{margin:0}"
        "figure{margin:16px 0}svg{max-width:100%;height:auto}"
        "textarea{width:100%;font-family:monospace;box-sizing:border-box}"
        "button{margin-top:8px;padding:6px 16px;font-size:15px}"
        ".ok{color:#1a7f37}.refused{color:#cf222e}.note{color:#57606a;font-size:90%}";

static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char csp[256];

static void csp_make(void) {
        uint8_t h[CRYPTO_SHA256_SIZE];
        char b64[64];

        crypto_sha256(STYLE, strlen(STYLE), h);
        base64_encode(h, sizeof(h), b64);
        snprintf(csp, sizeof(csp),
                 "default-src 'none'; style-src 'sha256-%s'; form-action 'self'; base-uri 'none'; "
                 "frame-ancestors 'none'",
                 b64);
}

const char *page_csp(void) {
        (void) pthread_once(&csp_once, csp_make);
        return csp;
}

/* ---- routes ---- */

enum page_route page_route_of(const char *method, const char *path, char slice[static 64], const char **ret_allowed) {
        const char *rest, *slash;
        size_t n;

        *ret_allowed = NULL;
        if (!method || !path || !strneq(path, "/slices/", 8))
                return PAGE_NONE;
        rest = path + 8;
        slash = strchr(rest, '/');
        n = slash ? (size_t) (slash - rest) : strlen(rest);
        if (n == 0 || n >= 64)
                return PAGE_NONE;
        memcpy(slice, rest, n);
        slice[n] = 0;
        if (!slice_id_is_valid(slice))
                return PAGE_NONE;
        if (!slash) {
                if (streq(method, "GET") || streq(method, "HEAD"))
                        return PAGE_SLICE;
                *ret_allowed = "GET";
                return PAGE_NONE;
        }
        if (!streq(slash, "/topup"))
                return PAGE_NONE;
        if (streq(method, "POST"))
                return PAGE_TOPUP;
        *ret_allowed = "POST";
        return PAGE_NONE;
}

/* ---- the form ---- */

static int form_refuse(const char **ret_error, int r, const char *why) {
        if (ret_error)
                *ret_error = why;
        return r;
}

int page_form_voucher(const char *body, size_t size, char ret[static PAGE_VOUCHER_MAX + 1], const char **ret_error) {
        char v[PAGE_VOUCHER_MAX + 1];
        size_t n = 0, start, end;
        bool found = false;

        if (!body || size > PAGE_FORM_MAX)
                return form_refuse(ret_error, -E2BIG, "The form is larger than a voucher can be.");
        for (size_t i = 0; i < size;) {
                size_t len = 0;
                const char *field = body + i, *eq, *amp;

                amp = memchr(field, '&', size - i);
                len = amp ? (size_t) (amp - field) : size - i;
                i += len + (amp ? 1 : 0);
                if (len == 0)
                        continue;
                eq = memchr(field, '=', len);
                if (!eq || (size_t) (eq - field) != 7 || !strneq(field, "voucher", 7))
                        return form_refuse(ret_error, -EINVAL, "The form holds a field other than \"voucher\".");
                if (found)
                        return form_refuse(ret_error, -EINVAL, "The form holds more than one voucher.");
                found = true;
                for (const char *p = eq + 1; p < field + len; p++) {
                        int c = (unsigned char) *p, hi, lo;

                        if (c == '%') {
                                if (field + len - p < 3 || (hi = hex_digit_value(p[1])) < 0 ||
                                    (lo = hex_digit_value(p[2])) < 0)
                                        return form_refuse(ret_error, -EINVAL,
                                                           "The form's voucher holds a broken %-escape.");
                                c = hi * 16 + lo;
                                p += 2;
                        } else if (c == '+')
                                c = ' ';
                        if (n >= PAGE_VOUCHER_MAX)
                                return form_refuse(ret_error, -E2BIG, "The voucher is longer than any voucher.");
                        v[n++] = (char) c;
                }
        }
        if (!found)
                return form_refuse(ret_error, -EINVAL, "The form holds no voucher: paste one into the box.");
        /* What a paste brings along: a line break, spaces, tabs. */
        for (start = 0; start < n && strchr(" \t\r\n", v[start]) && v[start]; start++)
                ;
        for (end = n; end > start && strchr(" \t\r\n", v[end - 1]) && v[end - 1]; end--)
                ;
        if (end == start)
                return form_refuse(ret_error, -EINVAL, "The form holds no voucher: paste one into the box.");
        for (size_t i = start; i < end; i++)
                if (v[i] <= ' ' || v[i] > '~')
                        return form_refuse(ret_error, -EINVAL,
                                           "The voucher holds a character no voucher has (a space, a line break "
                                           "or a letter outside ASCII).");
        memcpy(ret, v + start, end - start);
        ret[end - start] = 0;
        return 0;
}

/* ---- pages ---- */

static void head(struct markup *m, const char *title) {
        markup_raw(m, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                      "<meta name=\"referrer\" content=\"no-referrer\">\n<title>");
        markup_text(m, title);
        markup_raw(m, "</title>\n<style>");
        markup_raw(m, STYLE); /* constant: the CSP names its hash */
        markup_raw(m, "</style>\n</head>\n<body>\n<main>\n");
}

static int foot(struct markup *m, char **ret, size_t *ret_size) {
        markup_raw(m, "</main>\n</body>\n</html>\n");
        return markup_finish(m, ret, ret_size);
}

static bool get_i64(json_object *o, const char *key, int64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
                return false;
        *ret = json_object_get_int64(v);
        return true;
}

static const char *get_text(json_object *o, const char *key) {
        const char *s = NULL;

        return message_get_string(o, key, &s) >= 0 ? s : NULL;
}

static void money_dd(struct markup *m, const char *id, int64_t v, const char *currency) {
        char a[MONEY_FORMAT_MAX];

        markup_printf(m, "<dd><span id=\"%s\">%s</span> ", id, money_format(a, sizeof(a), v));
        markup_text(m, currency);
        markup_raw(m, "</dd>\n");
}

/* "3 days 4 h", "2 h 5 min", "45 s". */
static void duration_text(struct markup *m, uint64_t usec) {
        uint64_t s = usec / USEC_PER_SEC, d = s / 86400, h = s % 86400 / 3600, min = s % 3600 / 60;

        if (d > 0)
                markup_printf(m, "%" PRIu64 " days %" PRIu64 " h", d, h);
        else if (h > 0)
                markup_printf(m, "%" PRIu64 " h %" PRIu64 " min", h, min);
        else if (min > 0)
                markup_printf(m, "%" PRIu64 " min %" PRIu64 " s", min, s % 60);
        else
                markup_printf(m, "%" PRIu64 " s", s);
}

/* A sponsor's link only for an https URL of printable ASCII (the daemon
 * checked it; a page checks again what it puts in an href). */
static bool url_is_linkable(const char *u) {
        if (!u || !strneq(u, "https://", 8))
                return false;
        for (const char *p = u; *p; p++)
                if (*p <= ' ' || *p > '~')
                        return false;
        return true;
}

static void sponsor(struct markup *m, json_object *slice) {
        json_object *sp, *cur;
        const char *name, *url;

        if (!json_object_object_get_ex(slice, "sponsorship", &sp) || !json_object_object_get_ex(sp, "current", &cur) ||
            !json_object_is_type(cur, json_type_object) || !(name = get_text(cur, "name")))
                return;
        url = get_text(cur, "url");
        markup_raw(m, "<p id=\"sponsor\">Sponsored by ");
        if (url_is_linkable(url)) {
                markup_raw(m, "<a rel=\"nofollow noopener noreferrer\" href=\"");
                markup_text(m, url);
                markup_raw(m, "\">");
                markup_text(m, name);
                markup_raw(m, "</a>");
        } else
                markup_text(m, name);
        markup_raw(m, "</p>\n");
}

static void form(struct markup *m, const char *id) {
        markup_raw(m, "<h2>Top it up</h2>\n<form method=\"post\" action=\"/slices/");
        markup_text(m, id);
        markup_printf(m, "/topup\" accept-charset=\"utf-8\">\n"
                         "<label for=\"voucher\">Paste a voucher (pv1-...):</label>\n"
                         "<textarea id=\"voucher\" name=\"voucher\" rows=\"4\" maxlength=\"%d\" required "
                         "autocomplete=\"off\" spellcheck=\"false\"></textarea>\n"
                         "<button type=\"submit\">Top up</button>\n</form>\n"
                         "<p class=\"note\">Anyone may top up a slice. A voucher is cash: whoever holds its text "
                         "can spend it, once. The whole of it goes to this slice, and it is not given back.</p>\n",
                      PAGE_VOUCHER_MAX);
}

int page_slice_html(json_object *status, json_object *history, char **ret, size_t *ret_size) {
        _cleanup_(freep) struct chart_history *h = NULL;
        _cleanup_(freep) char *svg = NULL;
        const char *id, *state, *currency = "", *enforcement, *error = NULL;
        json_object *slice, *account = NULL;
        int64_t balance = 0, burn = 0, v;
        uint64_t left = 0;
        char title[128];
        struct markup m;

        if (!json_object_object_get_ex(status, "slice", &slice) || !(id = get_text(slice, "id")) ||
            !slice_id_is_valid(id))
                return -EBADMSG;
        state = get_text(slice, "state");
        (void) json_object_object_get_ex(slice, "account", &account);
        if (account) {
                currency = get_text(account, "currency") ?: "";
                (void) get_i64(account, "balance", &balance);
                (void) get_i64(account, "burn_rate", &burn);
                if (get_i64(account, "time_left_usec", &v) && v > 0)
                        left = (uint64_t) v;
        }
        enforcement = account ? get_text(account, "enforcement") : NULL;

        h = malloc(sizeof(*h));
        if (!h)
                return -ENOMEM;
        if (history && chart_history_from_json(history, h, &error) >= 0 && h->n_points > 0) {
                struct chart c;

                snprintf(title, sizeof(title), "Balance of slice %s", id);
                c = chart_of_history(h, title);
                if (chart_svg(&c, &svg, NULL) < 0)
                        svg = NULL;
        } else
                h->credited = -1;

        markup_init(&m, PAGE_HTML_MAX);
        snprintf(title, sizeof(title), "Slice %s", id);
        head(&m, title);
        markup_element(&m, "<h1>Slice <code>", id, "</code></h1>\n");
        sponsor(&m, slice);
        markup_element(&m, "<dl>\n<dt>State</dt><dd id=\"state\">", state ?: "unknown", "");
        if (enforcement && !streq(enforcement, "ok"))
                markup_element(&m, " (", enforcement, ")");
        markup_raw(&m, "</dd>\n");
        if (h->credited >= 0) {
                markup_raw(&m, "<dt>Given so far</dt>");
                money_dd(&m, "credited", h->credited, currency);
        }
        markup_raw(&m, "<dt>Balance</dt>");
        money_dd(&m, "balance", balance, currency);
        markup_raw(&m, "<dt>Burn</dt>");
        if (__builtin_mul_overflow(burn, 3600, &burn))
                burn = INT64_MAX;
        markup_printf(&m, "<dd><span id=\"burn\">%s</span> ", money_format((char[MONEY_FORMAT_MAX]) {}, MONEY_FORMAT_MAX, burn));
        markup_text(&m, currency);
        markup_raw(&m, " an hour</dd>\n<dt>Lasts</dt><dd id=\"left\">");
        if (left > 0) {
                duration_text(&m, left);
                markup_raw(&m, " at this burn");
        } else
                markup_raw(&m, "as long as it burns nothing");
        markup_raw(&m, "</dd>\n</dl>\n");
        if (svg) {
                markup_raw(&m, "<figure id=\"chart\">\n");
                markup_raw(&m, svg); /* the renderer's, its text escaped there */
                markup_raw(&m, "</figure>\n");
        } else
                markup_raw(&m, "<p class=\"note\">No chart: the ledger's history of this slice could not be read.</p>\n");
        form(&m, id);
        return foot(&m, ret, ret_size);
}

/* An amount of the API's answer: text ("2.00") as the API writes it, or
 * micro-units. */
static const char *amount_text(json_object *o, const char *key, char buf[static MONEY_FORMAT_MAX]) {
        int64_t v;

        if (get_text(o, key))
                return get_text(o, key);
        return get_i64(o, key, &v) ? money_format(buf, MONEY_FORMAT_MAX, v) : NULL;
}

int page_topup_html(const char *slice, unsigned status, json_object *reply, char **ret, size_t *ret_size) {
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX];
        const char *currency, *credited, *balance, *error;
        json_object *account = NULL;
        struct markup m;

        markup_init(&m, PAGE_HTML_MAX);
        head(&m, status == 200 ? "Topped up" : "Not topped up");
        if (status == 200) {
                /* The API's answer: amounts as text already ("2.00"). */
                (void) json_object_object_get_ex(json_object_object_get(reply, "slice"), "account", &account);
                credited = amount_text(reply, "credited", a);
                balance = amount_text(reply, "balance", b) ?: (account ? amount_text(account, "balance", b) : NULL);
                currency = get_text(reply, "currency") ?: "";
                markup_element(&m, "<h1 class=\"ok\">Topped up</h1>\n<dl>\n<dt>Credited</dt><dd><span id=\"credited\">",
                               credited ?: "?", "</span> ");
                markup_element(&m, "", currency, "</dd>\n<dt>Balance now</dt><dd><span id=\"balance\">");
                markup_element(&m, "", balance ?: "?", "</span> ");
                markup_element(&m, "", currency, "</dd>\n</dl>\n");
        } else {
                error = get_text(reply, "error");
                markup_element(&m, "<h1 class=\"refused\">Not topped up</h1>\n<p id=\"error\">",
                               error ?: "The top-up was refused.", "");
                markup_printf(&m, "</p>\n<p class=\"note\">HTTP status %u.", status);
                markup_raw(&m, " A voucher that was refused was not spent, unless it says it was spent before.</p>\n");
        }
        markup_element(&m, "<p><a id=\"back\" href=\"/slices/", slice, "\">Back to slice ");
        markup_element(&m, "", slice, "</a></p>\n");
        return foot(&m, ret, ret_size);
}

int page_error_html(const char *title, const char *sentence, char **ret, size_t *ret_size) {
        struct markup m;

        markup_init(&m, PAGE_HTML_MAX);
        head(&m, title);
        markup_element(&m, "<h1 class=\"refused\">", title, "</h1>\n");
        markup_element(&m, "<p id=\"error\">", sentence, "</p>\n");
        return foot(&m, ret, ret_size);
}
