/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/money.h"

/* The control protocol between prepay and prepayd: one JSON object per
 * SOCK_SEQPACKET datagram, at most PREPAY_MSG_MAX bytes.
 *
 * Request:  {"op": "<verb>", ...arguments}
 * Reply:    {"ok": true, ...results} or {"ok": false, "error": "<sentence>",
 *           "code": "<code>"} (enum message_code below: invalid,
 *           unauthorized, forbidden, not_found, spent, conflict,
 *           payment_required with "missing", "total" (micro-units) and
 *           "currency", too_many, unavailable, internal, bid_too_low)
 *
 * Verbs (protocol version 1), with their arguments:
 *   create   "voucher": text (required unless the daemon has AllowUnfunded=
 *            and the peer is root), or "vouchers": an array of 1..16
 *            texts (not both), their sum priced, redeemed all or none,
 *            "request_id",
 *            "limits": {slice_limits}, "cpus_milli" (optional: the CPU
 *            quota over the period asked for or the daemon's CPUPeriod=),
 *            "size_to_funds": bool with "duration_usec" (the daemon picks
 *            the CPU size the voucher pays for over that time);
 *            "duration_usec" without it: the voucher must pay for the
 *            slice at its size for that long (never less than the
 *            daemon's MinRuntimeSec=), else "payment_required",
 *            "attach": bool (move the caller, by SO_PEERCRED, into it),
 *            and for a VM slice "vm_image": an image's name (1..64 of
 *            [A-Za-z0-9._-], not starting with '.' or '-': "images"),
 *            "ssh_key": the buyer's SSH public key, the text of a .pub
 *            file (1..8192 bytes, required with "vm_image", checked by
 *            the daemon with ssh_public_key_parse()), "disk_size": bytes
 *            of the guest's disk (0 or absent: the image's minimum).
 *            "vm_image" with "attach": true is refused. A daemon older
 *            than VM slices ignores these three and makes a plain slice:
 *            the reply's slice then has no "vm". Or "unit": a service's
 *            name (not with "vm_image"): a copy of that loaded unit is
 *            started in the new slice once it is funded, as run-unit
 *            does (Backend=systemd; other backends refuse before the
 *            voucher is read); the reply's "unit" is the transient
 *            unit's name, or "unit_error" says why it did not start
 *            (the slice stays funded; release returns the change).
 *            -> "slice": {slice_info}, "token": the owner token (funded
 *            slices; the daemon keeps only its hash), "receipt": the
 *            receipt of the payment (funded slices; below)
 *   topup    "slice": id, "voucher": text or "vouchers": [texts] (as
 *            create's), "request_id" -> "slice": {...}, "credited":
 *            micro-units (their sum), "receipt". Anyone may top up any
 *            slice.
 *   pay      "slice": id, "voucher" or "vouchers", "request_id" ->
 *            "slice": id, "paid", "to_investors", "to_slice", "balance"
 *            (micro-units), "investors": [{"funder_key": hex, "amount"}],
 *            "currency", "receipt" (kind pay): revenue, paid to the slice
 *            by its users (anyone), split with its investors (issue 16)
 *   invest_open "slice", "token", "revenue_share" or "fixed_return"
 *            ("50%"), "cap" ("5.00", optional), "request_id" -> "slice",
 *            "investors": {"terms", "rate", "cap", "invested", "earned",
 *            "claimed"}: the owner opens the slice to investors, once
 *   release  "slice": id, "token", "keep": bool, "request_id" -> "slice":
 *            id, "refund": micro-units, "change": voucher text (absent when
 *            nothing was left or with keep), "receipt" (not with keep).
 *            Released again, the same change is returned, with
 *            "released_before": true and no receipt (the first reply had
 *            it; the same request id gets that reply again).
 *   attach   "slice": id, "token" -> "slice": {slice_info}
 *   status   "slice": id, "token" (optional) -> "slice": {slice_info};
 *            without the owner token, to a client that did not create it,
 *            only "id", "state", "public": true and of "account" the
 *            currency, state, enforcement, exhausted_action, donation_model,
 *            anonymous_share, balance, burn_rate and time_left_usec
 *            (daemon/README.md)
 *   list     "cursor" (optional index), "brief" (bool) -> "slices": [...],
 *            or with "brief" "rows": [[...], ...] (one row per slice:
 *            slice_row_to_json()), and "next" when more slices follow
 *            than fit one message; "only_uid": uid when the peer is a
 *            client, who sees the slices it created only
 *   quote    "cpus_milli", "memory_max", "duration_usec", "disk_size"
 *            (bytes of a VM's disk) -> "items":
 *            {resource: micro-units}, "total", "currency",
 *            "min_runtime_usec", "prices": {resource: micro-units per unit},
 *            "host_id": the host id receipts and change name, "host_key":
 *            the public key receipts are signed with, one line (base64 of
 *            its DER SubjectPublicKeyInfo: the body of a .pub PEM file)
 *   destroy  "slice": id, "token" (unfunded slices only; funded ones are
 *            released, so that their balance is refunded)
 *   kill     "slice": id, "token" -> "slice": {slice_info}; every process
 *            SIGKILLed, the slice and its balance stay
 *   run-unit "slice": id, "token", "unit": name -> "slice": {slice_info},
 *            "unit": the transient unit started in the slice (Backend=
 *            systemd; others refuse)
 *   reload   -> nothing; the configuration read again (operators only)
 *   images   -> "images": [{"name", "description", "user" (the guest's
 *            login), "format" ("qcow2", ...), "boot": "kernel" or
 *            "firmware", "min_disk": bytes, "min_memory": bytes}], the
 *            VM images a slice may be bought with (any client)
 *   events   "slice": id (optional: that slice's events only), "token"
 *            (a client needs it, unless it created the slice) -> nothing
 *            more; after the reply the daemon sends one datagram
 *            {"event": {event}} per slice event (daemon/events.h) until
 *            the connection closes. The client sends nothing more (any
 *            further datagram closes it); a client that does not read
 *            fast enough is dropped (the daemon shuts the socket down).
 *            Without "slice", for operators only.
 * "receipt" is "pr1-..." (prepay-receipt(5), common/receipt.h): what was
 * paid into the slice (create, topup: the amount, the balance after, the
 * vouchers spent) or out of it as change (release), the slice, the
 * request id, the time, signed by the host key (the one that signs
 * change), for the payer to keep and anyone to check offline ("prepay
 * receipt verify"). A reply whose receipt could not be signed (logged)
 * has none: the money moved all the same.
 * "request_id" (1..64 of [A-Za-z0-9._:-]) makes a money-moving request
 * idempotent: sent again by the same uid, the first answer (its receipt
 * included) is returned and nothing is done twice. "token" may be left out by an operator.
 * Who may send what (clients, operators: daemon/control.h) is prepayd's
 * ClientGroup= and AdminGroup=; a refusal is "Permission denied: ..."
 * (code "forbidden"; "unauthorized" when the owner token is needed and
 * none was given). A peer whose uid is GatewayUser='s (prepay-gatewayd)
 * is a remote buyer: no uid, no group; it may send quote, images,
 * create (with a voucher, and "vm_image" or a "unit" in RemoteUnits=;
 * not "attach"), topup, status (public part without the token), events
 * (one slice, with its token), release and kill (token); its slices are
 * the gateway uid's, its request ids in that uid's namespace. Any
 * request may carry "client" (1..64 of [0-9A-Fa-f.:]): a remote buyer's
 * address, which prepayd puts in the log lines of a remote request and
 * ignores from anyone else.
 * An optional "version" must equal PREPAY_PROTOCOL_VERSION (an integer:
 * "1" or 1.0 is refused). Every field an op reads is checked for its
 * type and range before anything acts, and a bad one is refused naming
 * it; fields an op does not read are ignored (common/request.h). */

#define PREPAY_PROTOCOL_VERSION 1
#define PREPAY_MSG_MAX 65536
#define PREPAY_MSG_MAX_DEPTH 8
#define SLICE_ID_MAX 32 /* "s-" + 16 hex digits + NUL, with room */

/* 0 means "no limit" for every field. */
struct slice_limits {
        uint64_t cpu_quota_usec;  /* CPU time allowed per period */
        uint64_t cpu_period_usec; /* 0: the daemon's default */
        uint64_t memory_max;      /* bytes */
        uint64_t pids_max;
};

/* What a slice has used since it was created, cumulative. */
struct slice_usage {
        uint64_t cpu_usec;           /* eBPF meter (kernel's own rstat figure) */
        uint64_t cpu_throttled_usec; /* time throttled by the CPU limit */
        uint64_t cpu_nr_throttled;
        uint64_t memory_current; /* bytes */
        uint64_t memory_peak;    /* bytes */
        uint64_t memory_byte_sec; /* memory.current integrated over time */
        uint64_t net_rx_bytes; /* IP packet length, see bpf/README.md */
        uint64_t net_tx_bytes;
        uint64_t net_rx_packets;
        uint64_t net_tx_packets;
        uint64_t net_rx_dropped; /* packets dropped: the slice's grant was spent */
        uint64_t net_tx_dropped;
        uint64_t io_read_bytes;
        uint64_t io_write_bytes;
        uint64_t pids_current;
        uint64_t oom_kills;
};

/* A funded slice's money, as of the last meter pass; micro-units. */
#define SLICE_RESOURCES 6 /* pricing.h: cpu, memory, net_out, net_in, io, base */
struct slice_account_info {
        bool funded;
        char currency[CURRENCY_SIZE];
        char state[16];            /* "active", "kept", "released" */
        char enforcement[16];      /* "ok", "low", "throttled", "frozen", "killed" */
        char exhausted_action[16]; /* "throttle", "freeze", "kill" */
        char donation_model[16];   /* "owner", "pro-rata", "lifo": how the balance is split at release */
        char anonymous_share[8];   /* of a split: "owner" or "host" (AnonymousShares=); "" under owner */
        int64_t balance;           /* what is left, usage not yet written included */
        int64_t credited;          /* sum of vouchers redeemed into it */
        int64_t refunded;          /* paid out as change */
        int64_t overshoot;         /* priced usage the balance did not cover */
        int64_t charged[SLICE_RESOURCES];
        int64_t burn_rate;         /* per second, over the last second */
        uint64_t time_left_usec;   /* balance / burn_rate; 0 when not burning */
        int64_t revenue;           /* paid to it by its users, its own part (issue 16) */
        /* "investors": open to investors, on these terms (issue 16) */
        struct {
                bool open;
                char terms[16];    /* "revenue-share", "fixed-return" */
                char rate[16];     /* "50%" */
                int64_t cap;       /* what they may earn in all, 0: no cap */
                int64_t invested;  /* put in since it opened */
                int64_t earned;    /* paid to them from revenue, claimed or not */
                int64_t claimed;   /* of it, claimed as change */
        } investors;
};

/* A VM slice's guest ("vm" in the record; absent: the slice holds no VM). */
#define VM_IMAGE_NAME_MAX 64
#define VM_SSH_KEY_MAX 8192 /* create's "ssh_key": the text of a .pub file */
struct slice_vm_info {
        bool present;               /* the slice holds a VM ("vm" in the record) */
        char image[VM_IMAGE_NAME_MAX + 1];
        uint64_t vcpus;
        uint64_t memory;            /* guest RAM, bytes (the slice's memory_max less QEMU's own overhead) */
        uint64_t disk_size;         /* the overlay's virtual size, bytes */
        char accel[8];              /* "kvm" or "tcg" */
        char ssh_host[256];         /* what the buyer connects to */
        uint64_t ssh_port;          /* 1..65535 */
        char ssh_user[33];
        char host_key[128];         /* "ssh-ed25519 AAAA..." the guest serves */
        char state[16];             /* "booting", "running", "paused", "stopping", "stopped" */
        uint64_t pid;               /* QEMU's, 0 when none */
};

struct slice_info {
        char id[SLICE_ID_MAX];
        char state[16]; /* "running", "empty", "frozen" */
        uint64_t created_usec; /* CLOCK_REALTIME */
        uint64_t last_oom_usec; /* CLOCK_REALTIME of the last OOM kill seen, 0: none */
        uint64_t cgroup_id;    /* the v2 cgroup id the meter counts by */
        uint64_t read_usec;    /* CLOCK_REALTIME of the usage's read (a brief row's only) */
        char cgroup[256];      /* path below the v2 mount */
        struct slice_limits limits;
        struct slice_usage usage;
        struct slice_account_info account;
        struct slice_vm_info vm;
};

/* Each *_to_json() adds fields to an existing object; each *_from_json()
 * validates types and ranges and on failure returns -EINVAL with a
 * sentence naming the bad field in *ret_error (static string or NULL).
 * uint64_t fields travel as JSON integers in 0..INT64_MAX (json-c's range):
 * to_json() returns -ERANGE above it. Absent fields read as 0; "id" is
 * required in slice_info and must pass slice_id_is_valid(). "vm" is
 * written only when vm.present, and read into vm with present set; in it
 * "image" must pass vm_image_name_is_valid() and "ssh_port", when
 * present, be 1..65535. */
int slice_limits_to_json(const struct slice_limits *l, json_object *o);
int slice_limits_from_json(json_object *o, struct slice_limits *ret, const char **ret_error);
int slice_info_to_json(const struct slice_info *s, json_object **ret);
int slice_info_from_json(json_object *o, struct slice_info *ret, const char **ret_error);

/* A slice as one row of a brief list: what `prepay list` prints, a
 * tenth of the full record's bytes. An array, in this order: "id",
 * "state", limits.cpu_quota_usec, limits.cpu_period_usec,
 * limits.memory_max, usage.cpu_usec, usage.memory_current,
 * usage.net_tx_bytes, usage.net_rx_bytes, usage.pids_current,
 * usage.oom_kills, account.balance and account.currency (both null when
 * unfunded), "vm" (the full record's object, or null), then what `prepay
 * top` shows of the money: account.enforcement, account.burn_rate and
 * account.time_left_usec (all three null when unfunded), and read_usec
 * (when the usage was read, 0 before the first read: top's rates divide
 * by it, not by its own clock). Columns a later version appends are
 * ignored, and a row of a daemon older than the last four
 * (SLICE_ROW_COLUMNS_MIN) reads with them zero. slice_row_from_json()
 * fills those fields of *ret (account.funded from the balance) and zeroes
 * the rest. */
#define SLICE_ROW_NUMBERS 9
#define SLICE_ROW_COLUMNS_MIN (2 + SLICE_ROW_NUMBERS + 3)
#define SLICE_ROW_COLUMNS (SLICE_ROW_COLUMNS_MIN + 4)
int slice_row_to_json(const struct slice_info *s, json_object **ret);
int slice_row_from_json(json_object *o, struct slice_info *ret, const char **ret_error);

/* Names of the charged resources, index as in slice_account_info.charged. */
extern const char *const slice_resource_names[SLICE_RESOURCES];

/* Parses one datagram: must be a JSON object of at most PREPAY_MSG_MAX bytes
 * (-EMSGSIZE) and PREPAY_MSG_MAX_DEPTH nesting, with no trailing garbage
 * (white space after the object is part of JSON and allowed); -EINVAL and a
 * static sentence in *ret_error otherwise. */
int message_parse(const char *buf, size_t len, json_object **ret, const char **ret_error);

/* Serialises o (compact) and checks it fits PREPAY_MSG_MAX (-EMSGSIZE).
 * *ret_str belongs to o: valid until o is changed or freed. */
int message_serialize(json_object *o, const char **ret_str, size_t *ret_len);

/* What kind of refusal a reply is ("code"), for a program to act on
 * without reading the sentence; the HTTP status the gateway answers with
 * is beside each. */
enum message_code {
        MESSAGE_INVALID,          /* 400: a field, a voucher's text, a bad key, a wrong value */
        MESSAGE_UNAUTHORIZED,     /* 401: the op needs the owner token and none was given */
        MESSAGE_FORBIDDEN,        /* 403: a wrong token, a right the peer lacks */
        MESSAGE_NOT_FOUND,        /* 404: no such slice or image */
        MESSAGE_SPENT,            /* 409: a voucher was already spent */
        MESSAGE_CONFLICT,         /* 409: the slice's state forbids it (released, exhausted, busy) */
        MESSAGE_PAYMENT_REQUIRED, /* 402: with "missing", "total" and "currency" */
        MESSAGE_TOO_MANY,         /* 429: a cap (MaxRemoteSlices=, MaxSlicesPerUser=, connections, streams) */
        MESSAGE_UNAVAILABLE,      /* 503: the ledger cannot be written, disk full, shutting down */
        MESSAGE_INTERNAL,         /* 500 */
        MESSAGE_BID_TOO_LOW,      /* 402: a sponsor's bid below the offer's least (nothing spent) */
        _MESSAGE_CODE_MAX,
};
/* "invalid", ...; NULL for a value out of range. */
const char *message_code_to_string(enum message_code code);
/* The code named s, or -EINVAL. */
int message_code_from_string(const char *s);
/* 400, 401, ...: the HTTP status of a code (500 for one out of range). */
unsigned message_code_http_status(enum message_code code);
/* The code of a refusal whose cause is -errno r, where the errno says it
 * unambiguously (daemon/README.md has the table); else MESSAGE_INTERNAL.
 * A price shortfall is never told by an errno: the caller says
 * MESSAGE_PAYMENT_REQUIRED (message_reply_payment()). */
enum message_code message_code_from_errno(int r);

/* Adds key to o, taking v over (also when adding fails: a NULL v, from
 * a json_object_new_*() that ran out of memory, is -ENOMEM). */
int message_add(json_object *o, const char *key, json_object *v);
/* The same for an unsigned integer: -ERANGE past INT64_MAX, which JSON
 * numbers here never hold. */
int message_add_u64(json_object *o, const char *key, uint64_t v);

/* Helpers for replies. A refusal always carries its "code":
 * message_reply_error() is message_reply_refusal(MESSAGE_INTERNAL, ...),
 * for what no code fits. message_reply_payment() is the 402 refusal with
 * the shortfall: "missing" and "total" (micro-units) and "currency". */
json_object *message_reply_ok(void);
json_object *message_reply_refusal(enum message_code code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
json_object *message_reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
json_object *message_reply_payment(int64_t missing, int64_t total, const char *currency, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* The code of reply, if it is a refusal that carries one; else -ENOENT. */
int message_reply_code(json_object *reply);

/* Field accessors: -ENOENT when absent, -EINVAL when of the wrong type
 * (null included), -ERANGE for an integer outside 0..INT64_MAX. */
int message_get_string(json_object *o, const char *key, const char **ret);
int message_get_u64(json_object *o, const char *key, uint64_t *ret);
int message_get_bool(json_object *o, const char *key, bool *ret);

/* A VM image's name: 1 to VM_IMAGE_NAME_MAX of A-Z a-z 0-9 . _ -, not
 * starting with "." or "-" (so never a path, a hidden file or an option). */
bool vm_image_name_is_valid(const char *s);

/* A slice id is "s-" followed by 8 to 16 lower-case hex digits. */
bool slice_id_is_valid(const char *s);
