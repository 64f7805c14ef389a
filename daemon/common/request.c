/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "claim.h"
#include "money.h"
#include "parse.h"
#include "request.h"
#include "util.h"

/* One table row per field a request may carry, one per op saying which
 * it reads and which it cannot do without. Everything a client sends is
 * checked against them before a handler runs (request.h says why unknown
 * fields are ignored). */

enum field_kind {
        KIND_STRING,
        KIND_U64,
        KIND_BOOL,
        KIND_LIMITS,
        KIND_VOUCHERS, /* an array of 1..REQUEST_VOUCHERS_MAX voucher texts */
};

enum field_id {
        F_REQUEST_ID,
        F_CLIENT,
        F_SLICE,
        F_TOKEN,
        F_VOUCHER,
        F_VOUCHERS,
        F_UNIT,
        F_EXHAUSTED_ACTION,
        F_VM_IMAGE,
        F_SSH_KEY,
        F_FUNDER_KEY,
        F_DONATION_MODEL,
        F_CLAIM,
        F_FUNDER_PROOF,
        F_PERIOD,
        F_MIN,
        F_START,
        F_NAME,
        F_URL,
        F_BID,
        F_REVENUE_SHARE,
        F_FIXED_RETURN,
        F_CAP,
        F_LIMITS,
        F_CPUS_MILLI,
        F_MEMORY_MAX,
        F_DURATION_USEC,
        F_DISK_SIZE,
        F_CURSOR,
        F_ATTACH,
        F_SIZE_TO_FUNDS,
        F_KEEP,
        F_BRIEF,
        _F_MAX,
};

struct field {
        const char *name;
        enum field_kind kind;
        size_t offset; /* in struct request */
        /* Strings: bytes allowed, and a check of the form beyond that. */
        size_t min_len, max_len;
        bool (*valid)(const char *s);
        const char *expect; /* "must be ..." */
};

#define U64_EXPECT "an integer from 0 to 9223372036854775807"

#define STRING(f, min, max, check, what)                                                                  \
        { .name = #f, .kind = KIND_STRING, .offset = offsetof(struct request, f), .min_len = (min),       \
          .max_len = (max), .valid = (check), .expect = (what) }
#define U64(f) { .name = #f, .kind = KIND_U64, .offset = offsetof(struct request, f), .expect = U64_EXPECT }
#define BOOL(f) { .name = #f, .kind = KIND_BOOL, .offset = offsetof(struct request, f), .expect = "true or false" }

static bool unit_name_is_valid(const char *s);
static bool period_is_valid(const char *s);
static bool min_is_valid(const char *s);
static bool money_text_is_valid(const char *s);

static const struct field fields[_F_MAX] = {
        [F_REQUEST_ID] = STRING(request_id, 1, REQUEST_ID_MAX, request_id_is_valid,
                                "a request id (1 to 64 of A-Z a-z 0-9 . _ : -)"),
        [F_CLIENT] = STRING(client, 1, REQUEST_CLIENT_MAX, request_client_is_valid,
                            "a client's address (1 to 64 of 0-9 A-F a-f . :)"),
        [F_SLICE] = STRING(slice, 1, SLICE_ID_MAX - 1, slice_id_is_valid,
                           "a slice id (\"s-\" and 8 to 16 lower-case hex digits)"),
        [F_TOKEN] = STRING(token, 1, REQUEST_TOKEN_MAX, NULL, "an owner token (a string of 1 to 63 bytes)"),
        /* Its form is voucher.c's to check, with a sentence for each fault;
         * the datagram's size bounds it. */
        [F_VOUCHER] = STRING(voucher, 1, PREPAY_MSG_MAX, NULL, "a voucher's text (a non-empty string)"),
        [F_VOUCHERS] = { .name = "vouchers", .kind = KIND_VOUCHERS, .offset = offsetof(struct request, vouchers),
                         .min_len = 1, .max_len = PREPAY_MSG_MAX,
                         .expect = "an array of 1 to 16 voucher texts (non-empty strings)" },
        /* systemd's characters only: the name goes into log lines and
         * sentences (run-unit, create's unit) before systemd sees it. */
        [F_UNIT] = STRING(unit, 1, REQUEST_UNIT_MAX, unit_name_is_valid,
                          "a unit name (1 to 255 of A-Z a-z 0-9 : - _ . @ \\)"),
        [F_EXHAUSTED_ACTION] = STRING(exhausted_action, 1, REQUEST_ACTION_MAX, NULL,
                                      "the name of an action (throttle, freeze or kill)"),
        [F_VM_IMAGE] = STRING(vm_image, 1, VM_IMAGE_NAME_MAX, vm_image_name_is_valid,
                              "an image name (1 to 64 of A-Z a-z 0-9 . _ -, not starting with . or -)"),
        /* Its form is sshkey.c's to check; here only its size. */
        [F_SSH_KEY] = STRING(ssh_key, 1, VM_SSH_KEY_MAX, NULL,
                             "an SSH public key, the text of a .pub file (1 to 8192 bytes)"),
        /* Its form is crypto.c's to check (the handler's); here only
         * its size. */
        [F_FUNDER_KEY] = STRING(funder_key, 1, REQUEST_FUNDER_KEY_MAX, NULL,
                                "an Ed25519 public key, the line of a .pub file (1 to 128 bytes)"),
        /* Its name is funders.c's to check, and whether the host
         * allows it requests.c's (DonationModels=); here only its size. */
        [F_DONATION_MODEL] = STRING(donation_model, 1, REQUEST_ACTION_MAX, NULL,
                                    "the name of a donation model (owner, pro-rata or lifo)"),
        /* Its form is claim.c's to check, with a sentence for each
         * fault; here only its size. */
        [F_CLAIM] = STRING(claim, 1, CLAIM_TEXT_MAX, NULL, "a claim statement's text (pc1-...)"),
        /* The same: an events proof is a statement of the same form. */
        [F_FUNDER_PROOF] = STRING(funder_proof, 1, CLAIM_TEXT_MAX, NULL,
                                  "a funder's events proof, a signed statement's text (pc1-...)"),
        /* Sponsorship (issue 16): the period and the least bid of an
         * offer, what people type ("24h", "1.00"); a bid's sponsor name
         * and link, shown to anyone (status, events, the workload's
         * environment file), so held to forms that are safe there. */
        [F_PERIOD] = STRING(period, 1, REQUEST_PERIOD_MAX, period_is_valid,
                            "a duration of at least a second (such as 24h, 30min or 90s)"),
        [F_MIN] = STRING(min, 1, REQUEST_MONEY_MAX, min_is_valid, "an amount of money above 0 (such as 1.00)"),
        [F_START] = U64(start),
        [F_NAME] = STRING(name, 1, REQUEST_SPONSOR_NAME_BYTES, request_sponsor_name_is_valid,
                          "a sponsor's name (1 to 64 characters of UTF-8, no control characters)"),
        [F_URL] = STRING(url, 1, REQUEST_SPONSOR_URL_MAX, request_sponsor_url_is_valid,
                         "an http:// or https:// link (up to 256 of printable ASCII, no spaces or quotes)"),
        [F_BID] = U64(bid),
        /* invest_open: the terms; what a rate may be for its terms is
         * the handler's to check. */
        [F_REVENUE_SHARE] = STRING(revenue_share, 2, 16, percent_is_valid,
                                   "a percentage such as \"50%\" (at most four decimals)"),
        [F_FIXED_RETURN] = STRING(fixed_return, 2, 16, percent_is_valid,
                                  "a percentage such as \"10%\" (at most four decimals)"),
        [F_CAP] = STRING(cap, 1, MONEY_FORMAT_MAX, money_text_is_valid,
                         "an amount such as \"5.00\" (at most six decimals)"),
        [F_LIMITS] = { .name = "limits", .kind = KIND_LIMITS, .offset = offsetof(struct request, limits),
                       .expect = "an object of slice limits ({} for none)" },
        [F_CPUS_MILLI] = U64(cpus_milli),
        [F_MEMORY_MAX] = U64(memory_max),
        [F_DURATION_USEC] = U64(duration_usec),
        [F_DISK_SIZE] = U64(disk_size),
        [F_CURSOR] = U64(cursor),
        [F_ATTACH] = BOOL(attach),
        [F_SIZE_TO_FUNDS] = BOOL(size_to_funds),
        [F_KEEP] = BOOL(keep),
        [F_BRIEF] = BOOL(brief),
};

/* The members of "limits", named "limits.<member>" in sentences. */
static const struct {
        const char *name;
        size_t offset;
} limits_fields[] = {
        { "limits.cpu_quota_usec", offsetof(struct slice_limits, cpu_quota_usec) },
        { "limits.cpu_period_usec", offsetof(struct slice_limits, cpu_period_usec) },
        { "limits.memory_max", offsetof(struct slice_limits, memory_max) },
        { "limits.pids_max", offsetof(struct slice_limits, pids_max) },
};

#define BIT(f) (UINT64_C(1) << (f))
#define SLICE_OWNED (BIT(F_SLICE) | BIT(F_TOKEN))

static int refuse(int r, char *error, size_t size, const char *fmt, ...) _printf_(4, 5);
static int check_create(const struct request *d, char *error, size_t size);
static int check_topup(const struct request *d, char *error, size_t size);
static int check_invest_open(const struct request *d, char *error, size_t size);

/* Every op reads "request_id" and "client" too (idempotency for money,
 * logs for all).
 * An op control.c dispatches needs its row here, or it is refused as
 * unknown; a field a handler reads needs its bit, or it reaches the
 * handler unchecked. check, if any, refuses fields that do not go
 * together, once each has passed on its own. */
static const struct {
        const char *name;
        uint64_t reads;
        uint64_t needs;
        int (*check)(const struct request *d, char *error, size_t size);
} ops[] = {
        { "create",
          BIT(F_VOUCHER) | BIT(F_EXHAUSTED_ACTION) | BIT(F_LIMITS) | BIT(F_CPUS_MILLI) | BIT(F_DURATION_USEC) |
                  BIT(F_ATTACH) | BIT(F_SIZE_TO_FUNDS) | BIT(F_VM_IMAGE) | BIT(F_SSH_KEY) | BIT(F_DISK_SIZE) |
                  BIT(F_UNIT) | BIT(F_VOUCHERS) | BIT(F_FUNDER_KEY) | BIT(F_DONATION_MODEL),
          BIT(F_LIMITS), check_create },
        { "topup", BIT(F_SLICE) | BIT(F_VOUCHER) | BIT(F_VOUCHERS) | BIT(F_FUNDER_KEY), BIT(F_SLICE), check_topup },
        { "release", SLICE_OWNED | BIT(F_KEEP), BIT(F_SLICE) },
        /* No owner token: the claim statement is the claimant's proof. */
        { "claim", BIT(F_SLICE) | BIT(F_CLAIM), BIT(F_SLICE) | BIT(F_CLAIM) },
        /* A remote peer shows the owner token or a funder's proof
         * (requests.c); a local one needs neither. */
        { "funders", SLICE_OWNED | BIT(F_FUNDER_PROOF), BIT(F_SLICE) },
        /* Sponsorship: an offer is the owner's (its token); a bid is
         * anyone's, paid with vouchers; a bid's outcome (its change, if
         * it lost) is the bidder's, "token" its bid token. */
        { "sponsor_offer", SLICE_OWNED | BIT(F_PERIOD) | BIT(F_MIN) | BIT(F_START),
          BIT(F_SLICE) | BIT(F_PERIOD) | BIT(F_MIN) },
        { "sponsor_bid", BIT(F_SLICE) | BIT(F_VOUCHER) | BIT(F_VOUCHERS) | BIT(F_FUNDER_KEY) | BIT(F_NAME) | BIT(F_URL),
          BIT(F_SLICE) | BIT(F_NAME), check_topup },
        { "sponsor_outcome", SLICE_OWNED | BIT(F_BID), BIT(F_SLICE) | BIT(F_BID) | BIT(F_TOKEN) },
        { "invest_open", SLICE_OWNED | BIT(F_REVENUE_SHARE) | BIT(F_FIXED_RETURN) | BIT(F_CAP), BIT(F_SLICE),
          check_invest_open },
        /* Anyone: a slice's users pay it; the vouchers are the proof. */
        { "pay", BIT(F_SLICE) | BIT(F_VOUCHER) | BIT(F_VOUCHERS), BIT(F_SLICE), check_topup },
        { "attach", SLICE_OWNED, BIT(F_SLICE) },
        { "run-unit", SLICE_OWNED | BIT(F_UNIT), BIT(F_SLICE) | BIT(F_UNIT) },
        { "kill", SLICE_OWNED, BIT(F_SLICE) },
        { "destroy", SLICE_OWNED, BIT(F_SLICE) },
        { "status", SLICE_OWNED, BIT(F_SLICE) },
        { "history", SLICE_OWNED, BIT(F_SLICE) },
        { "list", BIT(F_CURSOR) | BIT(F_BRIEF), 0 },
        { "quote", BIT(F_CPUS_MILLI) | BIT(F_MEMORY_MAX) | BIT(F_DURATION_USEC) | BIT(F_DISK_SIZE), 0 },
        /* funder_proof: a keyed funder follows the slice it funded
         * without its owner token (requests.c) */
        { "events", SLICE_OWNED | BIT(F_FUNDER_PROOF), 0 },
        { "reload", 0, 0 },
        { "images", 0, 0 },
        { "metrics", BIT(F_CURSOR), 0 },
};

_Static_assert(_F_MAX <= 64, "field bits must fit a uint64_t");

static int refuse(int r, char *error, size_t size, const char *fmt, ...) {
        va_list ap;

        if (error && size > 0) {
                va_start(ap, fmt);
                (void) vsnprintf(error, size, fmt, ap);
                va_end(ap);
        }
        return r;
}

bool request_printable(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '"' || s[i] == '\\')
                        return false;
        return true;
}

/* A number as it came (json-c keeps a float's text), unless long. */
static const char *describe_number(json_object *v, char *buf, size_t size) {
        const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        size_t len = s ? strlen(s) : 0;

        if (len > 24 || !request_printable(s, len))
                snprintf(buf, size, "a number of %zu characters", len);
        else
                snprintf(buf, size, "%s", s);
        return buf;
}

const char *request_describe(json_object *v, char *buf, size_t size) {
        const char *s;
        size_t len, n;

        switch (json_object_get_type(v)) {
        case json_type_null:
                return "null";
        case json_type_boolean:
                return json_object_get_boolean(v) ? "true" : "false";
        case json_type_int:
                /* json-c clamps what does not fit 64 bits. */
                if (json_object_get_uint64(v) == UINT64_MAX)
                        return "a number of 18446744073709551615 or more";
                if (json_object_get_int64(v) == INT64_MIN)
                        return "a number of -9223372036854775808 or less";
                return describe_number(v, buf, size);
        case json_type_double:
                return describe_number(v, buf, size);
        case json_type_string:
                s = json_object_get_string(v);
                len = (size_t) json_object_get_string_len(v);
                if (len <= 24 && request_printable(s, len))
                        snprintf(buf, size, "\"%s\"", s);
                else
                        snprintf(buf, size, "a string of %zu bytes", len);
                return buf;
        case json_type_array:
                n = json_object_array_length(v);
                snprintf(buf, size, "an array of %zu element%s", n, n == 1 ? "" : "s");
                return buf;
        case json_type_object:
                return "an object";
        }
        return "something else";
}

/* A JSON integer in 0..INT64_MAX: above it json-c stores a uint64_t and
 * get_int64() clamps, which get_uint64() tells apart. */
static bool get_u64(json_object *v, uint64_t *ret) {
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
            json_object_get_uint64(v) > INT64_MAX)
                return false;
        *ret = (uint64_t) json_object_get_int64(v);
        return true;
}

static int refuse_value(const char *name, const char *expect, json_object *v, char *error, size_t size) {
        char got[64];

        return refuse(-EINVAL, error, size, "Field '%s' must be %s, got %s", name, expect,
                      request_describe(v, got, sizeof(got)));
}

static int decode_string(const struct field *f, json_object *v, const char **ret, char *error, size_t size) {
        const char *s;
        size_t len;

        if (!json_object_is_type(v, json_type_string))
                return refuse_value(f->name, f->expect, v, error, size);
        s = json_object_get_string(v);
        len = (size_t) json_object_get_string_len(v);
        /* A C string cannot hold "\u0000": refused, never cut short. */
        if (len < f->min_len || len > f->max_len || strlen(s) != len || (f->valid && !f->valid(s)))
                return refuse_value(f->name, f->expect, v, error, size);
        *ret = s;
        return 0;
}

static int decode_limits(const struct field *f, json_object *v, struct slice_limits *ret, char *error,
                         size_t size) {
        struct slice_limits l = {};

        if (!json_object_is_type(v, json_type_object))
                return refuse_value(f->name, f->expect, v, error, size);
        for (size_t i = 0; i < ARRAY_SIZE(limits_fields); i++) {
                json_object *m;

                if (!json_object_object_get_ex(v, strchr(limits_fields[i].name, '.') + 1, &m))
                        continue;
                if (!get_u64(m, (uint64_t *) ((char *) &l + limits_fields[i].offset)))
                        return refuse_value(limits_fields[i].name, U64_EXPECT, m, error, size);
        }
        *ret = l;
        return 0;
}

/* Each element a string as "voucher" takes; the element named in the
 * sentence ("vouchers[2]"). */
static int decode_vouchers(const struct field *f, json_object *v, struct request *d, char *error, size_t size) {
        static const struct field element = STRING(voucher, 1, PREPAY_MSG_MAX, NULL,
                                                   "a voucher's text (a non-empty string)");
        size_t n;

        if (!json_object_is_type(v, json_type_array))
                return refuse_value(f->name, f->expect, v, error, size);
        n = json_object_array_length(v);
        if (n < 1 || n > REQUEST_VOUCHERS_MAX)
                return refuse_value(f->name, f->expect, v, error, size);
        for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(v, i);
                char name[32];

                if (decode_string(&element, e, &d->vouchers[i], NULL, 0) < 0) {
                        snprintf(name, sizeof(name), "vouchers[%zu]", i);
                        return refuse_value(name, element.expect, e, error, size);
                }
        }
        d->n_vouchers = n;
        return 0;
}

static int decode_field(const struct field *f, json_object *v, struct request *d, char *error, size_t size) {
        void *p = (char *) d + f->offset;

        switch (f->kind) {
        case KIND_STRING:
                return decode_string(f, v, (const char **) p, error, size);
        case KIND_U64:
                if (!get_u64(v, (uint64_t *) p))
                        return refuse_value(f->name, f->expect, v, error, size);
                return 0;
        case KIND_BOOL:
                if (!json_object_is_type(v, json_type_boolean))
                        return refuse_value(f->name, f->expect, v, error, size);
                *(bool *) p = json_object_get_boolean(v);
                return 0;
        case KIND_LIMITS:
                d->has_limits = true;
                return decode_limits(f, v, (struct slice_limits *) p, error, size);
        case KIND_VOUCHERS:
                return decode_vouchers(f, v, d, error, size);
        }
        return -EINVAL;
}

/* A VM slice holds a guest, reached over SSH with the buyer's key: it has
 * no room for the caller, and no way in without the key; nor for a unit. */
/* One voucher or several, not both: which would pay? */
static int check_vouchers(const struct request *d, char *error, size_t size) {
        if (d->voucher && d->n_vouchers > 0)
                return refuse(-EINVAL, error, size,
                              "Fields 'voucher' and 'vouchers' do not go together: send one voucher as 'voucher' or "
                              "all of them in 'vouchers'");
        return 0;
}

static int check_topup(const struct request *d, char *error, size_t size) {
        if (!d->voucher && d->n_vouchers == 0)
                return refuse(-EINVAL, error, size, "Field 'voucher' is missing: it must be %s (or 'vouchers' %s)",
                              fields[F_VOUCHER].expect, fields[F_VOUCHERS].expect);
        return check_vouchers(d, error, size);
}

/* One kind of terms: a revenue share or a fixed return. */
static int check_invest_open(const struct request *d, char *error, size_t size) {
        if (!d->revenue_share == !d->fixed_return)
                return refuse(-EINVAL, error, size, "Fields 'revenue_share' and 'fixed_return': exactly one must "
                              "be given, %s", fields[F_REVENUE_SHARE].expect);
        return 0;
}

static bool money_text_is_valid(const char *s) {
        int64_t v;

        return money_parse(s, &v) >= 0;
}

static int check_create(const struct request *d, char *error, size_t size) {
        int r;

        r = check_vouchers(d, error, size);
        if (r < 0)
                return r;
        if (d->unit && d->vm_image)
                return refuse(-EINVAL, error, size,
                              "Fields 'vm_image' and 'unit' do not go together: a slice runs a guest or a unit, not "
                              "both");
        if (!d->vm_image)
                return 0;
        if (d->attach)
                return refuse(-EINVAL, error, size,
                              "Fields 'vm_image' and 'attach' do not go together: a VM slice runs a guest, not the "
                              "caller (send 'attach': false)");
        if (!d->ssh_key)
                return refuse(-EINVAL, error, size, "Field 'ssh_key' is missing: with 'vm_image' it must be %s",
                              fields[F_SSH_KEY].expect);
        return 0;
}

static bool unit_name_is_valid(const char *s) {
        size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789:-_.@\\");

        return n >= 1 && s[n] == 0;
}

static bool period_is_valid(const char *s) {
        uint64_t usec;

        return parse_duration(s, &usec) >= 0 && usec >= USEC_PER_SEC;
}

static bool min_is_valid(const char *s) {
        int64_t v;

        return money_parse(s, &v) >= 0 && v > 0;
}

/* One UTF-8 character at s (n bytes left): its length, 0 if it is not
 * one (overlong, a surrogate, past U+10FFFF, cut short), and whether it
 * is a control character (C0, DEL, C1) in *ret_control. */
static size_t utf8_char(const unsigned char *s, size_t n, bool *ret_control) {
        uint32_t c;
        size_t len;

        *ret_control = false;
        if (s[0] < 0x80) {
                *ret_control = s[0] < 0x20 || s[0] == 0x7f;
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                len = 2, c = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                len = 3, c = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                len = 4, c = s[0] & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = (c << 6) | (s[i] & 0x3f);
        }
        if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
                return 0;
        *ret_control = c >= 0x80 && c <= 0x9f;
        return len;
}

bool request_sponsor_name_is_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;
        size_t n, chars = 0;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > REQUEST_SPONSOR_NAME_BYTES)
                return false;
        for (size_t i = 0; i < n;) {
                bool control;
                size_t k = utf8_char(p + i, n - i, &control);

                if (k == 0 || control || ++chars > REQUEST_SPONSOR_NAME_MAX)
                        return false;
                i += k;
        }
        return true;
}

bool request_sponsor_url_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n > REQUEST_SPONSOR_URL_MAX)
                return false;
        if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
                return false;
        /* Printable ASCII without space, quotes, backslash or backquote:
         * it goes into log lines and a shell-quoted environment file. */
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7f || strchr("\"'\\`<>", s[i]))
                        return false;
        return n > (s[4] == 's' ? 8u : 7u);
}

bool request_client_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strspn(s, "0123456789ABCDEFabcdef.:");
        return n >= 1 && n <= REQUEST_CLIENT_MAX && s[n] == 0;
}

bool request_id_is_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-");
        return n >= 1 && n <= REQUEST_ID_MAX && s[n] == 0;
}

int request_check_version(json_object *o, char *error, size_t size) {
        char got[64];
        json_object *v;
        uint64_t version;

        if (!json_object_is_type(o, json_type_object))
                return refuse(-EINVAL, error, size, "A request must be a JSON object");
        if (!json_object_object_get_ex(o, "version", &v))
                return 0;
        /* Any integer is a version, if not ours; anything else is not one. */
        if (!json_object_is_type(v, json_type_int))
                return refuse(-EINVAL, error, size, "Field 'version' must be an integer (this daemon speaks %d), got %s",
                              PREPAY_PROTOCOL_VERSION, request_describe(v, got, sizeof(got)));
        if (!get_u64(v, &version) || version != PREPAY_PROTOCOL_VERSION)
                return refuse(-EPROTONOSUPPORT, error, size, "Unsupported protocol version %s (this daemon speaks %d)",
                              request_describe(v, got, sizeof(got)), PREPAY_PROTOCOL_VERSION);
        return 0;
}

int request_decode(json_object *o, struct request *ret, char *error, size_t size) {
        static const struct field op_field = {
                .name = "op", .kind = KIND_STRING, .min_len = 1, .max_len = REQUEST_OP_MAX,
                .expect = "the name of an operation",
        };
        struct request d = {};
        uint64_t reads = 0, needs = 0;
        char got[64];
        json_object *v;
        size_t i;
        int r;

        if (!ret)
                return -EINVAL;
        r = request_check_version(o, error, size);
        if (r < 0)
                return r;

        if (!json_object_object_get_ex(o, "op", &v))
                return refuse(-EINVAL, error, size, "Field 'op' is missing: it must be %s", op_field.expect);
        r = decode_string(&op_field, v, &d.op, error, size);
        if (r < 0)
                return r;
        for (i = 0; i < ARRAY_SIZE(ops); i++)
                if (streq(ops[i].name, d.op))
                        break;
        if (i >= ARRAY_SIZE(ops)) {
                const char *what = request_describe(v, got, sizeof(got));
                bool quoted = what[0] == '"';

                return refuse(-EOPNOTSUPP, error, size, "Unknown operation %s%s%s", quoted ? "" : "(", what,
                              quoted ? "" : ")");
        }
        reads = ops[i].reads | BIT(F_REQUEST_ID) | BIT(F_CLIENT);
        needs = ops[i].needs;

        for (enum field_id f = 0; f < _F_MAX; f++) {
                if (!(reads & BIT(f)))
                        continue;
                if (!json_object_object_get_ex(o, fields[f].name, &v)) {
                        if (needs & BIT(f))
                                return refuse(-EINVAL, error, size, "Field '%s' is missing: it must be %s",
                                              fields[f].name, fields[f].expect);
                        continue;
                }
                r = decode_field(&fields[f], v, &d, error, size);
                if (r < 0)
                        return r;
        }
        if (ops[i].check) {
                r = ops[i].check(&d, error, size);
                if (r < 0)
                        return r;
        }
        /* One list for the handlers, whichever field came. */
        if (d.voucher) {
                d.vouchers[0] = d.voucher;
                d.n_vouchers = 1;
        } else if (d.n_vouchers > 0)
                d.voucher = d.vouchers[0];

        *ret = d;
        return 0;
}
