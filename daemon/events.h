/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>
#include <systemd/sd-event.h>

#include "common/message.h"
#include "common/money.h"

/* Slice events: every state change of a funded slice (and an OOM kill of
 * any slice) is logged once (with journald fields SLICE=, EVENT=,
 * ACTION=, BALANCE=, CURRENCY=, REQUEST_ID=, REASON= when stderr is the
 * journal: event_journal_fields()), written to the ledger,
 * sent to every "prepay events" subscriber, and, for low-balance and
 * exhausted, handed to the operator's hook (OnLowBalance=, OnExhausted=):
 * the command from the config run without a shell, with the slice and its
 * figures in the environment only, a time limit (HookTimeoutSec=) and a
 * bound on how many run at once. */

enum event_kind {
        EVENT_FUNDED,
        EVENT_TOPPED_UP,
        EVENT_LOW,
        EVENT_EXHAUSTED,
        EVENT_THROTTLED,
        EVENT_FROZEN,
        EVENT_THAWED,
        EVENT_KILLED,
        EVENT_RELEASED,
        EVENT_OOM,
        EVENT_VM,         /* a VM slice's guest: booting, running (sshd answers), stopped */
        EVENT_SPONSOR,    /* a sponsorship period's winner taken: sponsor_name, sponsor_url, amount, bid */
        EVENT_BID_REFUNDED, /* a losing bid paid back as change to its bidder (never the change): amount, bid */
        EVENT_PAID,       /* revenue: paid to the slice by its users (issue 16) */
        _EVENT_MAX,
};

/* "funded", "topped-up", "low", "exhausted", "throttled", "frozen",
 * "thawed", "killed", "released", "oom", "vm", "paid". _from_string: -EINVAL for any
 * other text (NULL included). */
#define EVENT_KIND_MAX 16 /* the longest name and its NUL, with room */
const char *event_kind_to_string(enum event_kind k);
int event_kind_from_string(const char *s);

#define EVENT_REASON_MAX 256
#define EVENT_ACTION_MAX 16
#define EVENT_REQUEST_ID_MAX 65 /* a request id (ledger.h) and its NUL */
struct event {
        uint64_t time_usec; /* CLOCK_REALTIME; 0: events_emit() takes now */
        char slice[SLICE_ID_MAX];
        enum event_kind kind;
        /* An unfunded slice (an OOM kill): balance, burn rate and time
         * left mean nothing. Every other event is of a funded slice, so
         * the default (false) is right for them. */
        bool unfunded;
        int64_t balance;        /* micro-units, as the event happened */
        int64_t burn_rate;      /* per second */
        uint64_t time_left_usec;
        uint32_t owner_uid;
        char currency[CURRENCY_SIZE]; /* events_emit() fills it from Currency= */
        char reason[EVENT_REASON_MAX]; /* a sentence from the daemon, never tenant text; no final "." */
        /* For the log only (not in the ledger row or the stream): what was
         * done to the slice, "throttle", "freeze", "kill", "thaw",
         * "restore" ("" when the event is no action), and the request id
         * of the client request that caused it (events_emit() fills it in
         * while events_set_request_id() holds one). */
        char action[EVENT_ACTION_MAX];
        char request_id[EVENT_REQUEST_ID_MAX];
        /* One a client can cause again and again at no cost (a kill on
         * its request, an OOM kill): recorded at most once per slice and
         * kind in each RepeatedEventSec=, the rest counted (see
         * events_emit()). Every event that moves money or follows from
         * money running out leaves this false: it is always recorded. */
        bool repeatable;
        /* A VM slice's guest, for the hooks' environment only
         * (PREPAY_VM_IMAGE=, PREPAY_VM_SSH_PORT=): "" and 0 otherwise. */
        char vm_image[VM_IMAGE_NAME_MAX + 1];
        uint16_t vm_ssh_port;
        /* sponsor and bid_refunded: the bid's number and amount; sponsor:
         * the winner's name and link ("" for none), checked when the bid
         * was taken (request_sponsor_name_is_valid()). In the stream's
         * JSON only: the ledger row keeps the reason, the bids table the
         * rest. */
        uint64_t bid;
        int64_t amount;
        char sponsor_name[256 + 1];
        char sponsor_url[256 + 1];
};

struct config;
struct batch;
struct events;

/* Splits the hook commands of the config, blocks SIGCHLD (child event
 * sources need it). Events are written to the ledger in batch (NULL: not
 * written); config is read at each event (a reload applies at once). */
int events_new(const struct config *config, sd_event *event, struct batch *batch, struct events **ret);
/* Kills hooks still running (SIGKILL to their process group) and reaps
 * them, drops subscribers. Accepts NULL. */
void events_free(struct events *e);

/* Logs, records (into the open ledger batch: ledger_begin() is called,
 * and the commit armed), streams, and runs the hook of e's kind if one is
 * configured. Failures along the way are logged and the rest goes on.
 * A repeatable event of a slice that had one of its kind less than
 * RepeatedEventSec= ago is held back and counted instead (logged at debug
 * only); when that time is up, one event, the last held back, says how
 * many there were ("N more in 1min, held back ...; the last: ..."), and starts
 * the next such time. So each slice adds at most one row per kind and
 * RepeatedEventSec= to the ledger, however often it is asked. */
void events_emit(struct events *e, const struct event *ev);
/* Held-back repeatable events of every slice (at most this many slices
 * and kinds at once; beyond, an event is recorded as if it were not
 * repeatable, with a warning). */
#define EVENTS_MAX_REPEATS 4096

/* The request id of the client request being handled (NULL: none, or the
 * request is done): events emitted meanwhile were caused by it and carry
 * it as REQUEST_ID=. The id is copied; an invalid one
 * (ledger_request_id_is_valid()) counts as none. */
void events_set_request_id(struct events *e, const char *request_id);

/* The journal entry event_log() sends for ev: MESSAGE= (as the plain log
 * line says it), PRIORITY=, SYSLOG_IDENTIFIER=, SLICE=, EVENT=, then
 * ACTION= and REQUEST_ID= when set, BALANCE= and CURRENCY= for a funded
 * slice, REASON=. iov[0..n) point into buf: use it where it is, do not
 * copy it. No system call, for tests. */
#define EVENT_FIELDS_MAX 12
struct event_fields {
        struct iovec iov[EVENT_FIELDS_MAX];
        size_t n;
        const char *message; /* the text of MESSAGE=, inside buf */
        int priority;
        char buf[2048];
};
void event_journal_fields(const struct event *ev, struct event_fields *ret);

/* A control connection that asked for events: every later event (of
 * slice only, unless NULL) is sent on fd as one datagram {"event": {...}}.
 * cookie identifies the subscription for events_unsubscribe(). At most
 * EVENTS_MAX_SUBSCRIBERS (-EUSERS beyond); a subscriber whose socket is
 * full or gone is dropped: its socket is shut down (fd stays open, it is
 * the caller's), which the connection sees as the end of its input and
 * the client as the end of the stream. Who may subscribe, and how many
 * streams one uid holds, control.c decides (control.h). */
#define EVENTS_MAX_SUBSCRIBERS 64 /* room for GatewayEventStreams= beside local users */
int events_subscribe(struct events *e, int fd, const char *slice, void *cookie);
/* The same for a keyed funder of slice (its proof checked by the
 * caller): it is sent only what a funder acts on, the kinds
 * event_reaches_funder() names. */
int events_subscribe_funder(struct events *e, int fd, const char *slice, void *cookie);
/* What a funder is told of the slice it funded: "low", "exhausted",
 * "released" and "sponsor" (time to top up, money it may claim back, who
 * sponsors it); not how it is run (throttled, frozen, a VM's state) nor
 * its top-ups and kills, which are the owner's. */
bool event_reaches_funder(enum event_kind k);
void events_unsubscribe(struct events *e, void *cookie); /* no-op for an unknown cookie */

/* JSON of an event (for the stream and prepay events --json): an object
 * with "time_usec", "slice", "kind", "funded", "balance", "burn_rate",
 * "time_left_usec", "owner_uid", "currency", "reason". from_json checks
 * every field as message.h's *_from_json() do (-EINVAL and a static
 * sentence naming the field; an unknown kind is refused). */
int event_to_json(const struct event *ev, json_object **ret);
int event_from_json(json_object *o, struct event *ret, const char **ret_error);
