/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/message.h"

/* A control request decoded once, at the edge (common/message.h has the
 * protocol): every field the op reads is checked for its JSON type and
 * range before anything acts on the request, and a bad one is refused with
 * a sentence naming it, what it must be and what came ("Field 'cpus_milli'
 * must be an integer from 0 to 9223372036854775807, got 1.5"). Pure code,
 * no system calls and no allocation beyond json-c's own, for the unit
 * tests and the fuzz harnesses.
 *
 * - A field the op reads and that is absent takes its default (NULL, 0,
 *   false): the handlers decide what that means ("no limit", "none").
 *   Absence of a field the op cannot do without ("slice" of status, ...)
 *   is refused here.
 * - Present, it must be of its type: null, a string for a number, a
 *   float (1.0 too) for an integer, a number for a boolean are all
 *   refused. Integers are 0..INT64_MAX (json-c's range; bigger ones
 *   arrive clamped and are told apart, see message.c), strings have their
 *   length bounds and formats (slice ids, request ids).
 * - Fields the op does not read, known to other ops or to nobody, are
 *   ignored: a newer client may add hints an older daemon can do without.
 *   A field whose meaning matters (to money above all) comes with a new
 *   protocol version, and "version" other than PREPAY_PROTOCOL_VERSION is
 *   refused.
 * - What a value means beyond its type is the handler's to check, with
 *   its own sentence: a voucher's text (voucher.c), an exhausted action's
 *   name (enforcer.c), CPUs against MaxCPUs= (slices.c), an SSH key's
 *   text (sshkey.c), whether an image exists.
 * - Fields that do not go together are refused here too: create with
 *   "vm_image" needs "ssh_key" and refuses "attach": true (a VM slice
 *   runs a guest, not the caller), "vm_image" with "unit", and "voucher"
 *   with "vouchers" (topup needs one of them). */

#define REQUEST_ERROR_MAX 256
#define REQUEST_ID_MAX 64    /* "request_id": 1..64 of [A-Za-z0-9._:-] */
#define REQUEST_CLIENT_MAX 64 /* "client": 1..64 of [0-9A-Fa-f.:], a remote buyer's address */
#define REQUEST_TOKEN_MAX 63 /* an owner token's bytes (keys.h OWNER_TOKEN_MAX less its NUL) */
#define REQUEST_OP_MAX 32
#define REQUEST_UNIT_MAX 255
#define REQUEST_ACTION_MAX 15
#define REQUEST_VOUCHERS_MAX 16 /* "vouchers": 1..16 texts, redeemed all or none */
#define REQUEST_PERIOD_MAX 32   /* "period": a duration's text */
#define REQUEST_MONEY_MAX 32    /* "min": an amount's text */
#define REQUEST_SPONSOR_NAME_MAX 64    /* "name": characters */
#define REQUEST_SPONSOR_NAME_BYTES 256 /* and bytes (UTF-8) */
#define REQUEST_SPONSOR_URL_MAX 256
#define REQUEST_FUNDER_KEY_MAX 128 /* "funder_key": a public key's one-line text (60 bytes today) */

/* Strings point into the json_object decoded, valid while it is. */
struct request {
        const char *op;
        const char *request_id;       /* every op: idempotency (money) and logs */
        const char *client;           /* every op: a remote buyer's address, for logs (the gateway's word) */
        const char *slice;            /* a valid slice id */
        const char *token;            /* 1..REQUEST_TOKEN_MAX bytes */
        /* create, topup: "voucher" or "vouchers" (not both), as one list:
         * vouchers[0..n_vouchers) the texts (checked by
         * voucher_from_text()), voucher the first of them (NULL: none). */
        const char *voucher;
        const char *vouchers[REQUEST_VOUCHERS_MAX];
        size_t n_vouchers;
        const char *unit;             /* run-unit, create: 1..REQUEST_UNIT_MAX bytes */
        const char *exhausted_action; /* create: a name, checked by enforcer.c */
        const char *vm_image;         /* create: a valid image name (vm_image_name_is_valid()) */
        const char *ssh_key;          /* create: 1..VM_SSH_KEY_MAX bytes, checked by ssh_public_key_parse() */
        /* create, topup: who funds the credit, an Ed25519 public key's
         * one-line text (crypto_key_from_public_text() checks it); NULL:
         * anonymous */
        const char *funder_key;
        /* create: how the balance left at release is split among the
         * funders, a name funders.c checks; NULL: the host's default
         * (the first of DonationModels=) */
        const char *donation_model;
        /* claim: a signed claim statement's text ("pc1-...", claim.h);
         * its form and signature are claim.c's to check */
        const char *claim;
        /* events, funders: a keyed funder's proof that it holds its key,
         * a statement of claim.h's form for purpose 'e' (never a claim) */
        const char *funder_proof;
        /* sponsor_offer: the length of each period (a duration of at
         * least a second) and the least bid (an amount above 0), as
         * typed; start (unix seconds, 0: one period from now) */
        const char *period;
        const char *min;
        uint64_t start;
        /* sponsor_bid: the sponsor's name
         * (request_sponsor_name_is_valid()) and link (NULL: none) */
        const char *name;
        const char *url;
        uint64_t bid; /* sponsor_outcome: the bid's number */
        /* invest_open: the terms, one of a revenue share or a fixed
         * return ("50%", parse_percent()), and an optional cap on what
         * the investors earn in all (money text); NULL: not given */
        const char *revenue_share;
        const char *fixed_return;
        const char *cap;
        bool has_limits;
        struct slice_limits limits;   /* create */
        uint64_t cpus_milli;          /* create, quote */
        uint64_t memory_max;          /* quote */
        uint64_t duration_usec;       /* create, quote */
        uint64_t disk_size;           /* create, quote: bytes (0: the image's minimum) */
        uint64_t cursor;              /* list */
        bool brief;                   /* list: rows (slice_row_to_json()) */
        bool attach;                  /* create */
        bool size_to_funds;           /* create */
        bool keep;                    /* release */
};

/* Decodes request o (a parsed message, message_parse()) into *ret.
 * Returns 0, or on refusal writes a sentence into error (error_size bytes,
 * REQUEST_ERROR_MAX is enough; NULL: none) and returns -EINVAL (a field),
 * -EPROTONOSUPPORT ("version") or -EOPNOTSUPP (an unknown "op"). *ret is
 * written only on success. */
int request_decode(json_object *o, struct request *ret, char *error, size_t error_size);

/* "version", when present, must be the integer PREPAY_PROTOCOL_VERSION:
 * the first check of every request, before its "op" is even read. The
 * same returns and sentences as request_decode(). */
int request_check_version(json_object *o, char *error, size_t error_size);

/* Safe to quote back as it is: printable ASCII, nothing JSON escapes. */
bool request_printable(const char *s, size_t len);
/* What came, for "got ...": short, and only bytes that are safe to send
 * back in a reply (a string cut in the middle of a UTF-8 sequence would
 * make the reply itself invalid): null, true, 1.5, "abc", "a string of N
 * bytes", "an array of N elements", ... Returns buf or a constant. Used by
 * the control protocol's decoder and the gateway's (gateway-api.c). */
const char *request_describe(json_object *v, char *buf, size_t size);

/* A sponsor's name: 1 to REQUEST_SPONSOR_NAME_MAX characters of valid
 * UTF-8 (REQUEST_SPONSOR_NAME_BYTES at most), no control character (C0,
 * DEL, C1). A sponsor's link: http:// or https:// and more, up to
 * REQUEST_SPONSOR_URL_MAX of printable ASCII without space, quotes,
 * backslash, backquote, < or >. */
bool request_sponsor_name_is_valid(const char *s);
bool request_sponsor_url_is_valid(const char *s);

/* A request id is 1 to REQUEST_ID_MAX of A-Z a-z 0-9 . _ : - */
bool request_id_is_valid(const char *s);
/* A client's address ("client") is 1 to REQUEST_CLIENT_MAX of 0-9 A-F a-f
 * . : (an IPv4 or IPv6 address's text, nothing a log line could be
 * fooled by). */
bool request_client_is_valid(const char *s);
