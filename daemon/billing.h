/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "common/request.h"
#include "common/voucher.h"
#include "common/util.h"
#include "account.h"
#include "enforce.h"
#include "vm.h"
#include "enforcer.h"
#include "events.h"
#include "keys.h"
#include "ledger.h"
#include "pricing.h"

/* Billing: the money side of the daemon. It holds the ledger, the trusted
 * issuer keys, the host's own key (it signs change and nothing else) and
 * the rate card; it turns vouchers into balances, meter counters into
 * charges, and balances back into change.
 *
 * Durability: every write goes into one open ledger batch, committed once
 * per event-loop iteration by an idle-priority event source (group
 * commit): all requests that arrived together share one fsync. No answer
 * that depends on a write is sent before its commit (control.c waits with
 * batch_wait(), batch.h). Charges are priced every meter pass and written at
 * least every second (BILLING_FLUSH_USEC) and at every state change; the
 * ledger keeps the meter counters it billed up to, so after a crash
 * billing resumes from there and usage while the daemon was down is
 * charged. */

#define BILLING_FLUSH_USEC (1 * USEC_PER_SEC)
/* Request ids are remembered this long: a retry comes within minutes. */
#define BILLING_REQUEST_KEEP_USEC (7 * 24 * 3600 * USEC_PER_SEC)
/* Events are kept for audits this long (a tenant whose job OOMs in a loop
 * adds one a meter pass: the table needs a bound). */
#define BILLING_EVENT_KEEP_USEC (90 * 24 * 3600 * USEC_PER_SEC)

struct config;
struct slice;
struct slices;
struct meter;
struct batch;
/* Claim statements remembered at once (billing_claim()): far more than
 * the keyed funders who could sign valid ones within minutes. */
#define BILLING_USED_CLAIMS_MAX 1024

struct billing;

/* A request as billing sees it: who asks, its fields (decoded and
 * checked once, common/request.h), and what control.c is to do once its
 * writes are committed. */
struct billing_request {
        uid_t uid;
        pid_t pid;
        bool operator;          /* root, or in AdminGroup= when it connected */
        /* The gateway's (GatewayUser=): a remote buyer, whom uid does not
         * name (it is the gateway's, the owner of what it buys and the
         * namespace of its request ids); client is its address as the
         * gateway says, for log lines (NULL: not given). */
        bool remote;
        const char *client;
        const char *op;         /* the request's "op", known to control.c */
        const char *request_id; /* its "request_id" if valid, else NULL */
        const struct request *fields;
        char attach[SLICE_ID_MAX];  /* move the peer into this slice */
        bool replayed;              /* attach comes from a create answered again from the ledger */
        char destroy[SLICE_ID_MAX]; /* remove this released slice's cgroups */
        /* The vouchers' signatures, checked off the event loop
         * (billing_check_vouchers()); NULL: checked when read. */
        const struct verify_checked *checked;
        /* In a fleet (Ledger=): the attempt that claimed the vouchers in
         * the fleet database (billing_fleet_claim()); NULL before. */
        const uint8_t *fleet_claim;
};

/* What billing works with, the manager's all of it; changed() is called
 * after each flush of charges (the money held may have changed). Billing
 * registers itself with the slices (struct slices_callbacks) and the
 * batch (batch_set_committed()). */
struct billing_context {
        const struct config *config;
        sd_event *event;
        struct slices *slices;
        struct meter *meter;
        struct batch *batch;
        struct keys *keys;
        struct events *events;
        const char *ledger_path; /* the batch's file: the fleet's thread reads it */
        void (*changed)(void *userdata);
        void *userdata;
};
int billing_new(const struct billing_context *ctx, struct billing **ret);
/* The money held for tenants: the balances of funded slices not released,
 * less what they used since their last charge; *ret_funded is how many. */
int64_t billing_held(struct billing *b, size_t *ret_funded);
/* Charges what is still unwritten and commits. */
void billing_free(struct billing *b);

/* Matches adopted slices with their ledger rows after a restart. */
int billing_reconcile(struct billing *b);

/* After each read of a slice by the meter's schedule: prices its usage,
 * updates its burn rate, decides and arms its balance check. */
void billing_sampled(struct billing *b, struct slice *s);
/* OnDaemonStop=freeze: freezes funded slices as the daemon stops. */
void billing_daemon_stop(struct billing *b);

/* An event of slice s (funded or not) with its figures now: action is
 * what was done to it ("kill"...; NULL: none), fmt the reason. */
void billing_emit(struct billing *b, struct slice *s, enum event_kind kind, const char *action, const char *fmt, ...)
        _printf_(5, 6);
/* The same for an event a client can cause again at no cost (a kill on
 * its request): recorded at most once per slice and RepeatedEventSec=,
 * the rest counted (events_emit()). */
void billing_emit_repeatable(struct billing *b, struct slice *s, enum event_kind kind, const char *action,
                             const char *fmt, ...) _printf_(5, 6);

/* The money side of the requests (requests.c has the handlers). Each
 * returns 0, or -errno with the sentence for the client in *ret_error
 * (free() it; NULL when out of memory: say strerror()). Nothing is
 * written before every check has passed. */

/* Request ids: a request id r's uid used before is answered with the
 * first reply (and for a create its token, and the attach it asked for,
 * r->replayed set); NULL when it is new. billing_remember() stores reply
 * (without the token) for op under r's request id, if it has one. */
json_object *billing_replay(struct billing *b, struct billing_request *r, const char *op);
void billing_remember(struct billing *b, const struct billing_request *r, const char *op, json_object *reply);

/* Adds "receipt" (prepay-receipt(5)) to reply: what rc says was paid into
 * or out of a slice, for r's request id, signed by the host key. Called
 * before billing_remember(), so that a retry gets the very same receipt.
 * The money has moved by then: a receipt that cannot be signed is logged
 * and the reply goes without one. */
void billing_add_receipt(struct billing *b, const struct billing_request *r, struct receipt *rc, json_object *reply);

/* Starts the signature checks of f's vouchers on the worker threads
 * (verify.h): 1 when started, and done(c, userdata) runs later on the
 * event loop with the verdicts, for billing_read_vouchers(); 0 when
 * nothing is to be checked off the loop (a voucher that does not parse
 * is refused where it is read); -errno with the sentence (-EBUSY: too
 * many checks at once). billing_cancel_checks() forgets userdata's. */
struct verify_checked;
int billing_check_vouchers(struct billing *b, const struct request *f,
                           void (*done)(struct verify_checked *c, void *userdata), void *userdata,
                           char **ret_error);
void billing_cancel_checks(struct billing *b, void *userdata);

/* A voucher's text, checked: its form, its signature by a trusted
 * issuer (the verdict in checked if it holds a current one, else checked
 * now), its currency, audience and dates, and that it was not spent. */
int billing_read_voucher(struct billing *b, const char *text, const struct verify_checked *checked, struct voucher *ret,
                         char **ret_error);
/* The same for each of f's vouchers ("voucher" or "vouchers"), and that
 * none comes twice: read into ret[0..f->n_vouchers), their sum in
 * *ret_amount. Nothing is spent. */
int billing_read_vouchers(struct billing *b, const struct request *f, const struct verify_checked *checked,
                          struct voucher ret[static REQUEST_VOUCHERS_MAX],
                          int64_t *ret_amount, char **ret_error);

/* A client's slice beyond MaxSlicesPerUser= (-EUSERS), refused before its
 * voucher is even read: an idle slice costs next to nothing, so without
 * this one tenant could take every place MaxSlices= has. Operators are
 * bound by MaxSlices= alone. */
int billing_check_user_cap(struct billing *b, const struct billing_request *r, char **ret_error);

/* A create, paid for: the voucher read, the limits the slice gets and
 * its CPUs, the action when its balance is spent. */
struct billing_order {
        struct voucher vouchers[REQUEST_VOUCHERS_MAX]; /* billing_read_vouchers() */
        size_t n_vouchers;
        int64_t amount;         /* their sum */
        struct slice_limits limits;
        uint64_t cpus_milli;
        enum enforce_action action;
        enum donation_model model; /* recorded with the slice's row */
        bool has_vm;            /* "vm_image": the guest, checked (vms_plan()) */
        struct vm_plan vm;      /* freed with vm_plan_done() */
        /* A voucher too small (billing_price_order() returned -ENOSPC):
         * what the run costs and what the voucher lacks, for the
         * "payment_required" refusal; 0 otherwise. */
        int64_t total, missing;
};
/* The order's size from f: sized to the voucher (size_to_funds), the
 * limits checked (MaxCPUs=...), the run priced and held against the
 * voucher: "duration_usec" when given, never less than the minimum run
 * (MinRuntimeSec=). A voucher that does not pay for it is -ENOSPC with
 * o->total and o->missing set. o->voucher and o->action are the
 * caller's, as are o->vouchers, o->n_vouchers and o->amount. */
int billing_price_order(struct billing *b, const struct request *f, struct billing_order *o, char **ret_error);
/* The slice made and funded: its ledger row and the redemption in the
 * open batch, enforcement armed, the funded event; its owner token in
 * ret_token. Nothing stays of a create that fails. */
int billing_fund(struct billing *b, const struct billing_request *r, const struct billing_order *o,
                 struct slice **ret, char ret_token[static OWNER_TOKEN_MAX], char **ret_error);

/* A top-up of the slice r names with the voucher(s) it carries, all or
 * none. slice is NULL when the slice's cgroups are gone (its balance is
 * kept); credited is what the vouchers held together. */
struct billing_topup {
        struct slice *slice;
        int64_t balance;
        int64_t credited;
        uint8_t voucher_ids[REQUEST_VOUCHERS_MAX][VOUCHER_ID_SIZE]; /* those spent, for the receipt */
        size_t n_vouchers;
};
int billing_topup(struct billing *b, const struct billing_request *r, struct billing_topup *ret, char **ret_error);

/* A release of the slice r names: its work killed and charged, then its
 * balance kept (keep) or paid out as change; released before, the same
 * answer again (to the owner token's holder). An operator may release
 * another's slice; r->destroy is set for the cgroups to go after the
 * commit. */
enum billing_release_outcome {
        BILLING_RELEASED,
        BILLING_RELEASED_BEFORE,
        BILLING_KEPT,
};
struct billing_release {
        enum billing_release_outcome outcome;
        int64_t amount; /* refunded as change, or kept */
        int64_t held;   /* held for the slice's keyed funders to claim (its donation model's split) */
        int64_t donated; /* the anonymous funders' share, kept by the host (AnonymousShares=host) */
        char change[LEDGER_CHANGE_MAX];
};
int billing_release(struct billing *b, struct billing_request *r, struct billing_release *ret, char **ret_error);

/* A keyed funder's claim (r's "claim", a signed claim statement,
 * common/claim.h) of its share of the released slice r names: the
 * statement checked first (claim_verify(): this host, this slice, now,
 * signed by the key it names), then the share held for that key paid
 * as change, once. Refused with nothing paid: a statement that does not
 * hold (-EINVAL, a forgery -EPERM), a slice not released (-EBUSY), a
 * share claimed before (-EALREADY, naming that claim's entry and time),
 * a key the slice holds nothing for (-ENOENT). An investor's earned
 * revenue not claimed yet is paid with it, whenever asked (issue 16):
 * then the refusals above are only for a claim with nothing at all to
 * pay. */
struct billing_claim {
        char funder[2 * CRYPTO_PUBKEY_SIZE + 1]; /* the claimant's key, hex */
        int64_t amount;       /* share + revenue, paid as change */
        int64_t share;        /* its share of the released slice (once) */
        int64_t revenue;      /* revenue it earned as an investor, not claimed before */
        int64_t revenue_left; /* earned beyond what one change pays: for another claim */
        char change[LEDGER_CHANGE_MAX];
};
int billing_claim(struct billing *b, const struct billing_request *r, struct billing_claim *ret, char **ret_error);
/* A keyed funder's proof (a statement for purpose 'e', common/claim.h,
 * never a claim) that it holds one of slice's funder keys: the statement
 * checked (claim_verify(): this host, this slice, now, signed by the key
 * it names) and that key found among the slice's keyed funders in the
 * ledger. 0 with the key in ret_key. Refused: a statement that does not
 * hold or is a claim (-EINVAL), a forgery or a key that funded none of
 * the slice (-EPERM), a slice the ledger does not know (-ENOENT). */
int billing_funder_proof(struct billing *b, const char *slice, const char *proof,
                         uint8_t ret_key[static CRYPTO_PUBKEY_SIZE], char **ret_error);
/* Opens the slice r names to investors on the terms r gives
 * ("revenue_share" or "fixed_return", "cap"), once; its owner token
 * only. Refused: bad terms (-EINVAL), no token (-ENOKEY/-EPERM), no such
 * slice (-ENOENT), released (-ESTALE), open already (-EEXIST, naming the
 * terms). */
int billing_invest_open(struct billing *b, const struct billing_request *r, struct invest_offer *ret,
                        char **ret_error);
/* Revenue: r's vouchers paid to the slice r names by its users (anyone),
 * split between its investors and its balance (ledger_pay()); all or
 * none. slice is NULL when its cgroups are gone. */
struct billing_pay {
        struct slice *slice;
        struct ledger_paid paid;
        uint8_t voucher_ids[REQUEST_VOUCHERS_MAX][VOUCHER_ID_SIZE];
        size_t n_vouchers;
};
int billing_pay(struct billing *b, const struct billing_request *r, struct billing_pay *ret, char **ret_error);
/* What billing_pay() refuses before anything moves (no funded slice, a
 * released one, a voucher refused), with r's vouchers read into
 * ret_vouchers: what a fleet's host checks before it claims them. */
int billing_pay_check(struct billing *b, const struct billing_request *r,
                      struct voucher ret_vouchers[static REQUEST_VOUCHERS_MAX], char **ret_error);
/* Each funder's position in slice (ledger_slice_positions()). */
int billing_funders(struct billing *b, const char *slice, struct ledger_slice *ret_row, struct ledger_position **ret,
                    size_t *ret_n);
/* Slice's row, then its balance over its life as the ledger folded it
 * at each commit (ledger_slice_history_summary(): at most
 * CHART_SUMMARY_BUCKETS buckets read, their lowest, highest and last
 * points given) and its events (ledger_event_foreach()) to the callbacks: the history
 * `prepay report` and the donor page draw. -ENOENT for a slice the
 * ledger does not hold. */
struct billing_history_callbacks {
        int (*point)(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata);
        int (*event)(const struct ledger_event *ev, void *userdata);
};
int billing_history(struct billing *b, const char *slice, struct ledger_slice *ret_row,
                    const struct billing_history_callbacks *cb, void *userdata);

/* Sponsorship (issue 16; daemon/README.md "Sponsorship"). An offer of
 * slice r names (its owner token, or an operator): r's period, min and
 * start; -EBUSY while bids are open. */
int billing_sponsor_offer(struct billing *b, const struct billing_request *r, struct ledger_sponsorship *ret,
                          char **ret_error);
/* A bid with r's vouchers, name, url and funder key, spent at once into
 * escrow for the next period of the offer; refused with nothing spent:
 * no offer (-ENOENT), a released slice (-ESTALE), below the least
 * (-EDOM, code "bid_too_low"), a voucher refused. */
int billing_sponsor_bid(struct billing *b, const struct billing_request *r, struct ledger_bid *ret,
                        char **ret_error);
/* The same refusals, before anything is spent, with r's vouchers read
 * into ret_vouchers: what a fleet's host checks before it claims them. */
int billing_sponsor_bid_check(struct billing *b, const struct billing_request *r, struct ledger_bid *ret,
                              struct voucher ret_vouchers[static REQUEST_VOUCHERS_MAX], char **ret_error);
/* Bid r's "bid" of the slice, for the holder of its bid token ("token"):
 * -EPERM for a wrong token or no such bid. */
int billing_sponsor_outcome(struct billing *b, const struct billing_request *r, struct ledger_bid *ret,
                            char **ret_error);
void billing_bid_token(struct billing *b, const char *slice, uint64_t n, char ret[static OWNER_TOKEN_MAX]);
/* What status shows of a slice's sponsorship: -ENOENT when none offered. */
struct billing_sponsorship {
        struct ledger_sponsorship offer;
        uint64_t next_start_usec;
        size_t bids; /* open */
        bool has_current;
        struct ledger_bid current;
        char env_dir[PATH_MAX]; /* where the workload reads sponsor.env */
};
int billing_sponsorship(struct billing *b, const char *slice, struct billing_sponsorship *ret);

/* What a size costs over a duration (f's, or the defaults "prepay run"
 * is priced at). */
struct billing_quote {
        uint64_t cpus_milli, memory_max, duration_usec;
        int64_t items[_RESOURCE_MAX];
        int64_t total;
        /* Who sells: the receipts' host id and the key they are checked with. */
        const char *host_id;
        char host_key[CRYPTO_PUBKEY_TEXT_MAX];
};
int billing_quote(struct billing *b, const struct request *f, struct billing_quote *ret, char **ret_error);

/* A kept slice its owner runs in again becomes active (and is charged). */
int billing_activate(struct billing *b, struct slice *s);
/* For attach, run-unit, kill and destroy: may the peer of r, with token,
 * act on slice s? An operator may; on a funded slice, whoever has its
 * owner token; on an unfunded one, its creator. On refusal (logged) the
 * reply is in *ret_reply. */
bool billing_may_act(struct slice *s, const struct billing_request *r, const char *token, json_object **ret_reply);
/* A refused request: logged at notice (uid, pid, op, slice, request id and
 * why, as journal fields too), and its reply, "Permission denied: " and
 * the reason, code "forbidden". slice may be NULL. A remote peer's is
 * logged as "remote client ADDRESS". billing_refuse_permission() is the
 * same with -EPERM and the sentence (the request path's convention). */
json_object *billing_deny(const struct billing_request *r, const char *slice, const char *fmt, ...) _printf_(3, 4);
int billing_refuse_permission(const struct billing_request *r, const char *slice, char **ret_error, const char *fmt,
                              ...) _printf_(4, 5);
/* The same for what needs the owner token (what: "slice s-...",
 * "releasing slice s-..."): -ENOKEY (code "unauthorized") when none was
 * given, -EPERM ("forbidden") when the one given is wrong. */
int billing_refuse_token(const struct billing_request *r, const char *slice, const char *token, char **ret_error,
                         const char *what);
json_object *billing_deny_token(const struct billing_request *r, const char *slice, const char *token,
                                const char *what);
/* Who asks, for log lines and event reasons: "uid 1000", or for a remote
 * peer "remote client 203.0.113.7" (never its uid, the gateway's). */
#define BILLING_REQUESTER_MAX 96
const char *billing_requester(const struct billing_request *r, char buf[static BILLING_REQUESTER_MAX]);

/* A fleet (Ledger=, daemon/README.md "Fleet"). Whether this host's
 * vouchers are spent through the fleet database. */
bool billing_fleet(struct billing *b);
/* Before vouchers v[0..n) are redeemed (a create, a top-up, a payment,
 * a bid, every check passed): their intents written and committed here,
 * then the vouchers claimed in the fleet database; done(r, error,
 * userdata) runs on the loop with the outcome (0: claimed, claim is the
 * attempt's, to pass as r->fleet_claim; -EALREADY: spent, error names
 * the host and the time; 1: a voucher's earlier attempt was being taken
 * back and is now, so the request is handled again from the start and
 * claims anew; else the database could not say: nothing spent). 0
 * without a fleet (go on), 1 while it waits, -errno refused at once
 * (*ret_error). */
int billing_fleet_claim(struct billing *b, const struct billing_request *r, const struct voucher *v, size_t n,
                        void (*done)(int r, const char *error, void *userdata), void *userdata,
                        uint8_t ret_claim[LEDGER_CLAIM_SIZE], char **ret_error);
/* The request of userdata is answered (its vouchers credited, or not):
 * what its attempt claimed and did not credit is taken back. */
void billing_fleet_finish(struct billing *b, void *userdata);
/* Its connection is gone: the same, and done is not called. */
void billing_fleet_cancel(struct billing *b, void *userdata);
