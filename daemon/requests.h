/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "billing.h"

/* Every request handler (common/message.h has the protocol). control.c
 * has checked the peer's rights for the op and decoded the request once
 * (request_decode(), common/request.h) before a handler runs; a handler
 * reads the typed fields, calls into billing.c or slices.c, and builds
 * the reply. What is done once the ledger batch is committed (moving the
 * caller in, removing a released slice's cgroups) it asks for in
 * struct billing_request (attach, destroy). */

struct config;
struct slices;
struct billing;
struct events;

/* What the handlers work with, the manager's all of it; sample() reads
 * and charges one slice now (before its status): -ENOENT when it was
 * found vanished and dropped. reload() reads the configuration again. */
struct requests {
        const struct config *config;
        struct slices *slices;
        struct billing *billing;
        struct events *events;
        int (*sample)(struct slice *s, void *userdata);
        int (*reload)(void *userdata);
        void *userdata;
        /* Where the last page of a list ended, so that the page asked
         * next with that cursor starts there instead of walking the list
         * from its head again (20 pages at 10,000 slices). Good while the
         * list's generation is the same. */
        struct {
                struct slice *slice;
                uint64_t index, generation;
        } list_resume;
        /* The same for the pages of the metrics' series per slice. */
        struct {
                struct slice *slice;
                uint64_t cursor;
        } metrics_resume;
};

/* A request as its handler sees it, with what its connection can do
 * (control.c): pin the process that sent it (caller_pidfd()), and make
 * the connection an event stream (with the admission of streams per
 * uid; funder: a keyed funder's, event_reaches_funder() kinds only;
 * NULL: done, else the refusal). */
struct request_conn {
        struct billing_request request;
        const char *operators;  /* who the operators are, for refusals */
        int attach_pidfd;       /* create: the caller, pinned for the attach after the commit */
        int (*pin)(struct request_conn *rc, int *ret_pidfd, char **ret_error);
        json_object *(*subscribe)(struct request_conn *rc, const char *slice, bool funder);
        /* A handler that must wait for something first (a guest powering
         * off before its release) sets deferred, returns NULL and has
         * resume(userdata) called when it is done: the request is then
         * handled again from the start, rights and all. */
        bool deferred;
        void (*resume)(void *userdata);
        void *userdata;         /* the connection */
        /* A request that spends vouchers (a create, a top-up, a payment,
         * a bid) first has their signatures checked on the worker
         * threads (billing_check_vouchers()), deferred: it is handled
         * again with the verdicts here, which the connection frees
         * (verify_checked_free()) once it is answered. */
        struct verify_checked *checked;
        /* In a fleet, it then has its vouchers claimed in the fleet
         * database (billing_fleet_claim()), deferred again; handled again
         * with the outcome here, which the connection clears
         * (requests_fleet_done()) once it is answered. */
        enum {
                REQUEST_FLEET_NONE,
                REQUEST_FLEET_CLAIMING,
                REQUEST_FLEET_CLAIMED,
                REQUEST_FLEET_REFUSED,
        } fleet_state;
        uint8_t fleet_claim[LEDGER_CLAIM_SIZE];
        int fleet_error;
        char *fleet_error_text;
};

/* The request of rc is answered, or its connection gone: what its
 * fleet claim holds and did not credit is taken back. */
void requests_fleet_done(struct requests *rq, struct request_conn *rc);

json_object *requests_create(struct requests *rq, struct request_conn *rc);
json_object *requests_topup(struct requests *rq, struct request_conn *rc);
json_object *requests_release(struct requests *rq, struct request_conn *rc);
json_object *requests_claim(struct requests *rq, struct request_conn *rc);
json_object *requests_funders(struct requests *rq, struct request_conn *rc);
json_object *requests_history(struct requests *rq, struct request_conn *rc);
json_object *requests_sponsor_offer(struct requests *rq, struct request_conn *rc);
json_object *requests_sponsor_bid(struct requests *rq, struct request_conn *rc);
json_object *requests_sponsor_outcome(struct requests *rq, struct request_conn *rc);
json_object *requests_invest_open(struct requests *rq, struct request_conn *rc);
json_object *requests_pay(struct requests *rq, struct request_conn *rc);
json_object *requests_quote(struct requests *rq, struct request_conn *rc);
json_object *requests_attach(struct requests *rq, struct request_conn *rc);
json_object *requests_run_unit(struct requests *rq, struct request_conn *rc);
json_object *requests_kill(struct requests *rq, struct request_conn *rc);
json_object *requests_reload(struct requests *rq, struct request_conn *rc);
json_object *requests_status(struct requests *rq, struct request_conn *rc);
json_object *requests_list(struct requests *rq, struct request_conn *rc);
/* The OpenMetrics text (common/metrics.h) in pages: "text", and "next"
 * (the cursor of the page after) until the last, which ends "# EOF". */
json_object *requests_metrics(struct requests *rq, struct request_conn *rc);
json_object *requests_destroy(struct requests *rq, struct request_conn *rc);
json_object *requests_events(struct requests *rq, struct request_conn *rc);
json_object *requests_images(struct requests *rq, struct request_conn *rc);

/* Whether a slice still takes a caller that a reply let in, at the
 * commit: as at the request, and active. NULL, or the refusal. */
json_object *requests_refuse_attach_now(struct slice *s);
