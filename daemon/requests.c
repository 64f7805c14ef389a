/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <inttypes.h>
#include <json-c/printbuf.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "billing.h"
#include "common/chart.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/money.h"
#include "common/parse.h"
#include "config.h"
#include "events.h"
#include "requests.h"
#include "slices.h"
#include "stats.h"
#include "verify.h"

/* The reply to a refusal: the sentence, or what the error says; its
 * code from the errno (message_code_from_errno()). */
static json_object *refusal(int r, const char *error) {
        return message_reply_refusal(message_code_from_errno(r), "%s", error ?: strerror(-r));
}

/* The receipt of money paid into a slice (create, topup: the vouchers
 * spent) or out of it (release), into reply. */
static void add_receipt(struct requests *rq, const struct billing_request *r, enum receipt_kind kind,
                        const char *slice, int64_t amount, int64_t balance,
                        const uint8_t (*vouchers)[VOUCHER_ID_SIZE], size_t n_vouchers, json_object *reply) {
        struct receipt rc = { .kind = kind, .amount = amount, .balance = balance, .n_vouchers = n_vouchers };

        /* What a receipt cannot hold (a longer id, more vouchers) is left
         * out, and its signing refuses it. */
        if (strlen(slice) < sizeof(rc.slice))
                memcpy(rc.slice, slice, strlen(slice) + 1);
        if (n_vouchers > 0)
                memcpy(rc.vouchers, vouchers, MIN(n_vouchers, (size_t) RECEIPT_VOUCHERS_MAX) * VOUCHER_ID_SIZE);
        billing_add_receipt(rq->billing, r, &rc, reply);
}

/* ---- the slice a request names ---- */

/* The slice the request names (decoded: a valid id); on failure *reply
 * is the error. */
static struct slice *request_slice(struct requests *rq, struct request_conn *rc, json_object **reply) {
        const char *id = rc->request.fields->slice;
        struct slice *s;

        if (!id) {
                *reply = message_reply_refusal(MESSAGE_INVALID, "Missing or invalid field \"slice\"");
                return NULL;
        }
        s = slices_find(rq->slices, id);
        if (!s) {
                *reply = message_reply_refusal(MESSAGE_NOT_FOUND, "No slice %s", id);
                return NULL;
        }
        return s;
}

/* The same, for acting on the slice: its owner token, its owner's uid
 * for an unfunded slice, or an operator. */
static struct slice *request_owned_slice(struct requests *rq, struct request_conn *rc, json_object **reply) {
        struct slice *s;

        s = request_slice(rq, rc, reply);
        if (!s)
                return NULL;
        if (!billing_may_act(s, &rc->request, rc->request.fields->token, reply))
                return NULL;
        return s;
}

/* Nothing new runs in a released slice or one whose balance is spent. */
static json_object *refuse_new_work(struct slice *s) {
        if (s->account.funded && s->account.l.state == LEDGER_SLICE_RELEASED)
                return message_reply_refusal(MESSAGE_CONFLICT, "Slice %s is released: nothing may run in it", s->id);
        if (s->account.funded && s->account.enforce.state != ENFORCE_OK && s->account.enforce.state != ENFORCE_LOW)
                return message_reply_refusal(MESSAGE_CONFLICT, "Slice %s is %s: its balance is spent; top it up "
                                             "first (prepay topup)", s->id,
                                             enforce_state_to_string(s->account.enforce.state));
        return NULL;
}

json_object *requests_refuse_attach_now(struct slice *s) {
        json_object *reply = refuse_new_work(s);

        if (!reply && s->account.funded && s->account.l.state != LEDGER_SLICE_ACTIVE)
                reply = message_reply_refusal(MESSAGE_CONFLICT, "Slice %s was stopped with its balance kept "
                                              "meanwhile: run in it again (prepay run --slice)", s->id);
        return reply;
}

/* Lets new work into s: NULL when it may run there (a kept slice made
 * active again, so that it is billed), else the refusal. */
static json_object *admit_work(struct requests *rq, struct slice *s) {
        json_object *reply;
        int r;

        reply = refuse_new_work(s);
        if (reply)
                return reply;
        r = billing_activate(rq->billing, s);
        if (r < 0)
                return message_reply_refusal(MESSAGE_UNAVAILABLE, "The ledger cannot be written: %s", strerror(-r));
        return NULL;
}

/* An owned slice that new work may run in, made active again if it was
 * kept; on failure *reply says why. */
static struct slice *request_slice_for_work(struct requests *rq, struct request_conn *rc, json_object **reply) {
        struct slice *s;

        s = request_owned_slice(rq, rc, reply);
        if (!s)
                return NULL;
        *reply = admit_work(rq, s);
        if (*reply)
                return NULL;
        return s;
}

/* ---- money ---- */

/* The verdicts are in: the request is handled again from the start. */
static void on_vouchers_checked(struct verify_checked *c, void *userdata) {
        struct request_conn *rc = userdata;

        verify_checked_free(rc->checked);
        rc->checked = c;
        rc->resume(rc->userdata);
}

/* The first time through, a request that spends vouchers has their
 * signatures checked on the worker threads and waits (rc->deferred);
 * handled again, it reads them with the verdicts (r->checked). NULL: go
 * on; else the refusal. */
static json_object *check_vouchers(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) char *error = NULL;
        int r;

        if (rc->checked) {
                rc->request.checked = rc->checked;
                return NULL;
        }
        r = billing_check_vouchers(rq->billing, rc->request.fields, on_vouchers_checked, rc, &error);
        if (r < 0)
                return refusal(r, error);
        rc->deferred = r > 0;
        return NULL;
}

/* In a fleet: the claim is in, or (r > 0) a voucher's earlier attempt
 * was taken back and the request claims anew. */
static void on_fleet_claimed(int r, const char *error, void *userdata) {
        struct request_conn *rc = userdata;

        rc->fleet_state = r > 0 ? REQUEST_FLEET_NONE : r == 0 ? REQUEST_FLEET_CLAIMED : REQUEST_FLEET_REFUSED;
        rc->fleet_error = r;
        free(rc->fleet_error_text);
        rc->fleet_error_text = error ? strdup(error) : NULL;
        rc->resume(rc->userdata);
}

/* In a fleet, the vouchers v[0..n) (read, checked, priced: about to be
 * credited) are claimed in the fleet database first: the request waits
 * (rc->deferred) and is handled again with the outcome. 0: go on
 * (claimed, or no fleet), 1: deferred, else -errno with *ret_error. */
static int claim_in_fleet(struct requests *rq, struct request_conn *rc, const struct voucher *v, size_t n,
                          char **ret_error) {
        int r;

        switch (rc->fleet_state) {
        case REQUEST_FLEET_CLAIMED:
                rc->request.fleet_claim = rc->fleet_claim;
                return 0;
        case REQUEST_FLEET_REFUSED:
                *ret_error = rc->fleet_error_text ? strdup(rc->fleet_error_text) : NULL;
                return rc->fleet_error;
        case REQUEST_FLEET_CLAIMING:
                return -EBUSY; /* not handled again before its outcome */
        case REQUEST_FLEET_NONE:
                break;
        }
        r = billing_fleet_claim(rq->billing, &rc->request, v, n, on_fleet_claimed, rc, rc->fleet_claim, ret_error);
        if (r > 0) {
                rc->fleet_state = REQUEST_FLEET_CLAIMING;
                rc->deferred = true;
        }
        return r;
}

/* In a fleet, the vouchers v a request's own checks read (r: their
 * outcome) are claimed: NULL to go on, or with rc->deferred while the
 * claim waits; else the refusal. */
static json_object *claim_checked(struct requests *rq, struct request_conn *rc, int r, const struct voucher *v,
                                  char **error) {
        if (r >= 0)
                r = claim_in_fleet(rq, rc, v, rc->request.fields->n_vouchers, error);
        return r < 0 ? refusal(r, *error) : NULL;
}

void requests_fleet_done(struct requests *rq, struct request_conn *rc) {
        billing_fleet_finish(rq->billing, rc);
        rc->fleet_state = REQUEST_FLEET_NONE;
        rc->request.fleet_claim = NULL;
        rc->fleet_error = 0;
        free(rc->fleet_error_text);
        rc->fleet_error_text = NULL;
}

/* A replayed create (the same request id again) is answered from the
 * ledger, but the slice it names may have been spent, killed, kept or
 * released since: its caller gets in only as "prepay run --slice" would
 * now. Refused, the stored answer (slice, token) comes back as an error
 * saying why, and nobody is moved in. */
static json_object *admit_replayed_create(struct requests *rq, struct request_conn *rc, json_object *reply) {
        struct billing_request *r = &rc->request;
        const char *why = NULL, *request_id = r->request_id ?: "?";
        json_object *refused, *answer, *v;
        struct slice *s;

        s = slices_find(rq->slices, r->attach);
        if (s)
                refused = admit_work(rq, s);
        else
                refused = message_reply_refusal(MESSAGE_NOT_FOUND, "Slice %s is gone: nothing may run in it",
                                                r->attach);
        if (!refused)
                return reply;

        (void) message_get_string(refused, "error", &why);
        log_notice("Request %s of %s (pid %d) replayed a create: not moved into slice %s: %s.", request_id,
                   billing_requester(r, (char[BILLING_REQUESTER_MAX]) {}), (int) r->pid, r->attach, strna(why));
        answer = message_reply_refusal(MESSAGE_CONFLICT, "Request %s bought slice %s before (nothing was spent "
                                       "again), but the caller was not moved into it: %s", request_id, r->attach,
                                       strna(why));
        if (json_object_object_get_ex(reply, "slice", &v))
                json_object_object_add(answer, "slice", json_object_get(v));
        if (json_object_object_get_ex(reply, "token", &v))
                json_object_object_add(answer, "token", json_object_get(v));
        json_object_put(refused);
        json_object_put(reply);
        r->attach[0] = '\0';
        return answer;
}

/* The action a create asks for when its balance is spent, or the
 * host's (ExhaustedAction=); one it may not choose is refused. */
static json_object *exhausted_action(struct requests *rq, const struct request *f, enum enforce_action *ret) {
        const char *name = f->exhausted_action;
        int action;

        action = enforce_action_from_string(name ?: rq->config->exhausted_action);
        if (action < 0)
                return message_reply_refusal(MESSAGE_INVALID, "Unknown action \"%.20s\" for an exhausted balance: "
                                             "expected throttle, freeze or kill", name);
        if (name && !enforce_action_allowed(rq->config->allowed_actions, (enum enforce_action) action))
                return message_reply_refusal(MESSAGE_INVALID, "This host does not let a request choose \"%s\" "
                                             "(AllowedActions=%s)", name, rq->config->allowed_actions);
        *ret = (enum enforce_action) action;
        return NULL;
}

/* The donation model a create asks for, or the host's default (the
 * first of DonationModels=); one the host does not offer is refused
 * before any voucher is spent, naming those it does. */
static json_object *donation_model(struct requests *rq, const struct request *f, enum donation_model *ret) {
        const char *allowed = rq->config->donation_models;
        char first[16];
        int m;

        if (!f->donation_model) {
                snprintf(first, sizeof(first), "%.*s", (int) strcspn(allowed + strspn(allowed, " "), " "),
                         allowed + strspn(allowed, " "));
                m = donation_model_from_string(first);
                *ret = m < 0 ? DONATION_OWNER : (enum donation_model) m;
                return NULL;
        }
        m = donation_model_from_string(f->donation_model);
        if (m < 0)
                return message_reply_refusal(MESSAGE_INVALID, "Field 'donation_model' must be owner, pro-rata or "
                                             "lifo, got \"%.20s\": nothing was spent", f->donation_model);
        if (!config_donation_model_allowed(rq->config, (enum donation_model) m))
                return message_reply_refusal(MESSAGE_INVALID, "Field 'donation_model' must be a model this host "
                                             "offers (DonationModels=%s), got \"%s\": nothing was spent", allowed,
                                             f->donation_model);
        *ret = (enum donation_model) m;
        return NULL;
}

/* The uid a unit a request starts must run as: a client's own; an
 * operator's, and one a remote buyer asks for (RemoteUnits= lists it,
 * the operator chose it), as its unit file says. Never the gateway's: a
 * buyer's work would then speak to prepayd as the gateway. */
static uid_t unit_uid(const struct billing_request *r) {
        return r->operator || r->remote ? (uid_t) -1 : r->uid;
}

/* A slice without a voucher: for metering, root's only, where
 * AllowUnfunded= allows it. */
static json_object *create_unfunded(struct requests *rq, struct request_conn *rc) {
        const struct request *f = rc->request.fields;
        _cleanup_(freep) char *error = NULL;
        json_object *reply;
        struct slice *s;
        int r;

        if (!rq->config->allow_unfunded || rc->request.uid != 0)
                return message_reply_refusal(MESSAGE_INVALID, "A voucher is needed to buy a slice (prepay run "
                                             "--voucher FILE)%s", rq->config->allow_unfunded
                                                                         ? "; only root may make unfunded slices"
                                                                         : "");
        if (f->vm_image)
                return message_reply_refusal(MESSAGE_INVALID, "A VM slice needs a voucher (prepay run --voucher FILE "
                                             "--vm IMAGE)");
        r = slices_create(rq->slices, &f->limits, f->cpus_milli, rc->request.uid, NULL, &s, &error);
        if (r < 0)
                return refusal(r, error);
        /* Nothing was paid: a unit that does not start takes its slice
         * with it. */
        if (f->unit) {
                _cleanup_(freep) char *name = NULL;

                r = slices_run_unit(rq->slices, s, f->unit, unit_uid(&rc->request), &name, &error);
                if (r < 0) {
                        (void) slices_destroy(rq->slices, s);
                        return refusal(r, error);
                }
                reply = slices_reply(rq->slices, s);
                json_object_object_add(reply, "unit", json_object_new_string(name));
                return reply;
        }
        if (f->attach)
                snprintf(rc->request.attach, sizeof(rc->request.attach), "%s", s->id);
        return slices_reply(rq->slices, s);
}

/* The unit a create asked for, started in its new funded slice. Its
 * checks (a service, loaded, running as the buyer) are the backend's
 * and come once the money moved: should it not start, the slice stays
 * funded and the reply says why ("unit_error"); its release returns
 * the change. */
static void start_unit(struct requests *rq, const struct billing_request *r, struct slice *s, json_object *reply) {
        _cleanup_(freep) char *name = NULL, *error = NULL;
        int q;

        q = slices_run_unit(rq->slices, s, r->fields->unit, unit_uid(r), &name, &error);
        if (q < 0) {
                log_warning("Slice %s is funded but unit %s did not start in it: %s (%s).", s->id, r->fields->unit,
                            error ?: strerror(-q), billing_requester(r, (char[BILLING_REQUESTER_MAX]) {}));
                json_object_object_add(reply, "unit_error",
                                       json_object_new_string(error ?: strerror(-q)));
                return;
        }
        json_object_object_add(reply, "unit", json_object_new_string(name));
}

static json_object *create_funded(struct requests *rq, struct request_conn *rc, enum enforce_action action,
                                  enum donation_model model) {
        struct billing_request *r = &rc->request;
        _cleanup_(freep) char *error = NULL;
        struct billing_order o = { .action = action, .model = model };
        char token[OWNER_TOKEN_MAX];
        json_object *reply;
        struct slice *s;
        int q;

        reply = billing_replay(rq->billing, r, "create");
        if (reply)
                return reply;
        q = billing_check_user_cap(rq->billing, r, &error);
        if (q < 0)
                return refusal(q, error);
        reply = check_vouchers(rq, rc);
        if (reply || rc->deferred)
                return reply;
        q = billing_read_vouchers(rq->billing, r->fields, r->checked, o.vouchers, &o.amount, &error);
        o.n_vouchers = r->fields->n_vouchers;
        if (q >= 0)
                q = billing_price_order(rq->billing, r->fields, &o, &error);
        if (q >= 0) {
                q = claim_in_fleet(rq, rc, o.vouchers, o.n_vouchers, &error);
                if (q > 0) {
                        vm_plan_done(&o.vm);
                        return NULL; /* deferred */
                }
        }
        if (q >= 0)
                q = billing_fund(rq->billing, r, &o, &s, token, &error);
        vm_plan_done(&o.vm);
        /* Not an errno's to say: -ENOSPC is also a full disk. */
        if (q < 0 && o.missing > 0)
                return message_reply_payment(o.missing, o.total, rq->config->currency, "%s",
                                             error ?: "The voucher does not pay for that slice");
        if (q < 0)
                return refusal(q, error);
        /* Paid for: the guest boots. Should QEMU not start (no process
         * left, a D-Bus failure), the slice is funded with a stopped
         * guest, which the reply shows; its release returns the change. */
        if (s->vm) {
                _cleanup_(freep) char *why = NULL;

                if (slices_start_vm(rq->slices, s, &why) < 0)
                        log_warning("Slice %s is funded but its guest did not start: %s (%s).", s->id, strna(why),
                                    billing_requester(r, (char[BILLING_REQUESTER_MAX]) {}));
        }

        reply = slices_reply(rq->slices, s);
        if (r->fields->unit)
                start_unit(rq, r, s, reply);
        {
                uint8_t ids[REQUEST_VOUCHERS_MAX][VOUCHER_ID_SIZE];

                for (size_t i = 0; i < o.n_vouchers; i++)
                        memcpy(ids[i], o.vouchers[i].id, VOUCHER_ID_SIZE);
                add_receipt(rq, r, RECEIPT_CREATE, s->id, o.amount, s->account.l.balance, ids, o.n_vouchers,
                            reply);
        }
        billing_remember(rq->billing, r, "create", reply);
        json_object_object_add(reply, "token", json_object_new_string(token));
        if (r->fields->attach)
                snprintf(r->attach, sizeof(r->attach), "%s", s->id);
        return reply;
}

/* What a remote buyer may not ask of a create (control.h), refused
 * before its voucher is read: a buyer has no process here to move in and
 * runs no command of its own, only a guest or a unit the operator lists. */
static json_object *refuse_remote_create(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        const struct request *f = r->fields;

        if (f->attach)
                return billing_deny(r, NULL, "a remote buyer has no process to move into a slice (\"attach\")");
        if (!f->voucher)
                return message_reply_refusal(MESSAGE_INVALID, "A voucher is needed to buy a slice");
        if (!f->vm_image && !f->unit)
                return message_reply_refusal(MESSAGE_INVALID, "A slice bought remotely runs a VM (\"vm_image\") or "
                                             "a unit this host offers (\"unit\"); neither was asked for");
        if (f->unit && !config_remote_unit_allowed(rq->config, f->unit))
                return billing_deny(r, NULL, "unit %s is not offered to remote buyers (RemoteUnits=); the voucher "
                                    "was not spent", f->unit);
        return NULL;
}

/* A unit needs a backend that runs units: refused before money moves. */
static json_object *refuse_unit(struct requests *rq, const struct request *f) {
        if (f->unit && !rq->slices->ops->run_unit)
                return message_reply_refusal(MESSAGE_INVALID, "A unit runs in a slice with the systemd backend only "
                                             "(Backend=systemd); the voucher was not spent");
        return NULL;
}

/* A create that moves its caller pins it first: a caller that cannot be
 * pinned is refused before anything is spent. A replayed one lets its
 * caller in only as "prepay run --slice" would now. */
json_object *requests_create(struct requests *rq, struct request_conn *rc) {
        const struct request *f = rc->request.fields;
        _cleanup_(freep) char *error = NULL;
        enum enforce_action action = ENFORCE_ACTION_KILL;
        enum donation_model model = DONATION_OWNER;
        json_object *reply;

        reply = rc->request.remote ? refuse_remote_create(rq, rc) : NULL;
        if (!reply)
                reply = refuse_unit(rq, f);
        if (reply)
                return reply;
        /* Pinned already when handled again after its vouchers' check. */
        if (f->attach && rc->attach_pidfd < 0 && rc->pin(rc, &rc->attach_pidfd, &error) < 0)
                return message_reply_refusal(MESSAGE_INVALID, "%s",
                                             error ?: "The caller cannot be pinned: nothing was moved");
        reply = exhausted_action(rq, f, &action);
        if (!reply)
                reply = donation_model(rq, f, &model);
        if (reply)
                return reply;
        if (!f->voucher)
                return create_unfunded(rq, rc);
        reply = create_funded(rq, rc, action, model);
        if (!reply)
                return NULL; /* deferred */
        if (rc->request.replayed && rc->request.attach[0])
                reply = admit_replayed_create(rq, rc, reply);
        return reply;
}

json_object *requests_topup(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) char *error = NULL;
        struct billing_topup t;
        json_object *reply;
        int r;

        reply = billing_replay(rq->billing, &rc->request, "topup");
        if (reply)
                return reply;
        reply = check_vouchers(rq, rc);
        if (reply || rc->deferred)
                return reply;
        if (billing_fleet(rq->billing)) {
                struct voucher v[REQUEST_VOUCHERS_MAX];
                int64_t amount;

                /* Checked now, before the claim; billing_topup() reads
                 * them again, claimed. */
                r = billing_read_vouchers(rq->billing, rc->request.fields, rc->request.checked, v, &amount, &error);
                reply = claim_checked(rq, rc, r, v, &error);
                if (reply || rc->deferred)
                        return reply;
        }
        r = billing_topup(rq->billing, &rc->request, &t, &error);
        if (r < 0)
                return refusal(r, error);
        if (t.slice)
                reply = slices_reply(rq->slices, t.slice);
        else {
                reply = message_reply_ok();
                json_object_object_add(reply, "balance", json_object_new_int64(t.balance));
                json_object_object_add(reply, "currency", json_object_new_string(rq->config->currency));
        }
        json_object_object_add(reply, "credited", json_object_new_int64(t.credited));
        add_receipt(rq, &rc->request, RECEIPT_TOPUP, rc->request.fields->slice, t.credited, t.balance,
                    t.voucher_ids, t.n_vouchers, reply);
        billing_remember(rq->billing, &rc->request, "topup", reply);
        return reply;
}

/* A VM slice's guest is powered off before the slice is released (ACPI,
 * then killed after ShutdownTimeoutSec=, at once when it is frozen): the
 * release waits (rc->deferred) and is handled again once QEMU is gone,
 * and its last usage is charged then. Only who may release it may make
 * it power off. A guest cannot be kept without its QEMU, so a VM slice
 * is not kept. */
static json_object *release_vm_first(struct requests *rq, struct request_conn *rc) {
        const struct request *f = rc->request.fields;
        json_object *reply = NULL;
        struct slice *s;

        s = f->slice ? slices_find(rq->slices, f->slice) : NULL;
        if (!s || !s->vm)
                return NULL;
        if (!billing_may_act(s, &rc->request, f->token, &reply))
                return reply;
        if (f->keep)
                return message_reply_refusal(MESSAGE_INVALID, "Slice %s holds a VM, which cannot be kept: release it "
                                             "without --keep (its disk goes with it)", s->id);
        if (slices_stop_vm(rq->slices, s, rc->resume, rc->userdata) > 0)
                rc->deferred = true;
        return NULL;
}

json_object *requests_release(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) char *error = NULL;
        _cleanup_(freep) struct billing_release *rel = NULL;
        json_object *reply;
        int r;

        reply = billing_replay(rq->billing, &rc->request, "release");
        if (reply)
                return reply;
        reply = release_vm_first(rq, rc);
        if (reply || rc->deferred)
                return reply;
        rel = malloc(sizeof(*rel)); /* the change is large for a stack */
        if (!rel)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        r = billing_release(rq->billing, &rc->request, rel, &error);
        if (r < 0)
                return refusal(r, error);

        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(rc->request.fields->slice));
        json_object_object_add(reply, rel->outcome == BILLING_KEPT ? "kept" : "refund",
                               json_object_new_int64(rel->amount));
        json_object_object_add(reply, "currency", json_object_new_string(rq->config->currency));
        if (rel->held > 0)
                json_object_object_add(reply, "held_for_funders", json_object_new_int64(rel->held));
        if (rel->donated > 0)
                json_object_object_add(reply, "donated", json_object_new_int64(rel->donated));
        switch (rel->outcome) {
        case BILLING_KEPT:
                /* Not remembered: a keep moves no money (what was used is
                 * charged, in an entry of its own) and done again it is
                 * the same, so a retry needs no stored answer; stored,
                 * each "run --slice" and "release --keep" in a loop would
                 * add a request row. */
                return reply;
        case BILLING_RELEASED_BEFORE:
                json_object_object_add(reply, "released_before", json_object_new_boolean(true));
                if (rel->change[0])
                        json_object_object_add(reply, "change", json_object_new_string(rel->change));
                return reply;
        case BILLING_RELEASED:
        default:
                if (rel->change[0])
                        json_object_object_add(reply, "change", json_object_new_string(rel->change));
                add_receipt(rq, &rc->request, RECEIPT_RELEASE, rc->request.fields->slice, rel->amount, 0, NULL, 0,
                            reply);
                billing_remember(rq->billing, &rc->request, "release", reply);
                return reply;
        }
}

/* ---- funders (issue 16) ---- */

/* A keyed funder's claim of its held share, as change. No owner token:
 * the signed claim statement proves the key. */
json_object *requests_claim(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) struct billing_claim *cl = NULL;
        _cleanup_(freep) char *error = NULL;
        json_object *reply;
        int r;

        reply = billing_replay(rq->billing, &rc->request, "claim");
        if (reply)
                return reply;
        cl = malloc(sizeof(*cl)); /* the change is large for a stack */
        if (!cl)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        r = billing_claim(rq->billing, &rc->request, cl, &error);
        if (r < 0)
                return refusal(r, error);

        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(rc->request.fields->slice));
        json_object_object_add(reply, "funder", json_object_new_string(cl->funder));
        json_object_object_add(reply, "claimed", json_object_new_int64(cl->amount));
        json_object_object_add(reply, "share", json_object_new_int64(cl->share));
        json_object_object_add(reply, "revenue", json_object_new_int64(cl->revenue));
        if (cl->revenue_left > 0)
                json_object_object_add(reply, "revenue_left", json_object_new_int64(cl->revenue_left));
        json_object_object_add(reply, "currency", json_object_new_string(rq->config->currency));
        json_object_object_add(reply, "change", json_object_new_string(cl->change));
        billing_remember(rq->billing, &rc->request, "claim", reply);
        return reply;
}

/* A funder's position, the contract's figures first (issue 16):
 *   put_in     what it credited
 *   refunded   its share by the donation model once released (claimed,
 *              held for it, or the anonymous one paid with the owner's
 *              change), 0 before
 *   spent      put_in less what comes back to it: its share once
 *              released, before that the share it would get were the
 *              slice released now (under "owner" nothing comes back to a
 *              funder: all it put in counts as spent)
 *   earned     revenue it earned as an investor, claimed or not
 *   claimable  what a claim pays it now: its held share, and its earned
 *              revenue not claimed yet */
static json_object *position_to_json(const struct ledger_position *p, bool released) {
        char hex[2 * CRYPTO_PUBKEY_SIZE + 1];
        json_object *o = json_object_new_object();
        int64_t back = released ? p->share : p->would_get;

        json_object_object_add(o, "funder_key",
                               p->anonymous ? NULL : json_object_new_string(hex_encode(p->key, sizeof(p->key), hex)));
        json_object_object_add(o, "put_in", json_object_new_int64(p->put));
        json_object_object_add(o, "spent", json_object_new_int64(p->put - back));
        json_object_object_add(o, "refunded", json_object_new_int64(released ? p->share : 0));
        json_object_object_add(o, "earned", json_object_new_int64(p->earned));
        json_object_object_add(o, "claimable",
                               json_object_new_int64((released && !p->anonymous ? p->held : 0) + p->earned -
                                                     p->earned_claimed));
        if (p->investor) {
                json_object_object_add(o, "invested", json_object_new_int64(p->invested));
                json_object_object_add(o, "revenue_claimed", json_object_new_int64(p->earned_claimed));
        }
        json_object_object_add(o, "funder",
                               p->anonymous ? NULL : json_object_new_string(hex));
        json_object_object_add(o, "put", json_object_new_int64(p->put));
        json_object_object_add(o, "share", json_object_new_int64(p->share));
        if (!p->anonymous) {
                json_object_object_add(o, "held", json_object_new_int64(p->held));
                json_object_object_add(o, "claimed", json_object_new_int64(p->claimed));
                if (p->claim_entry > 0) {
                        json_object_object_add(o, "claim_entry", json_object_new_int64((int64_t) p->claim_entry));
                        json_object_object_add(o, "claim_usec", json_object_new_int64((int64_t) p->claim_usec));
                }
        }
        return o;
}

/* Who may see a slice's funders, *ret_only set when it is one funder who
 * sees its own position only: NULL, or the refusal. A local peer needs
 * nothing (funders are public keys and amounts, as the public view's
 * balance); a remote one, a buyer anywhere, shows the owner token (the
 * ledger's hash of it: a released slice's too) or a funder's proof, so
 * that who put in how much is not a list for anyone on the network. */
static json_object *funders_may_see(struct requests *rq, struct request_conn *rc, const struct ledger_slice *row,
                                    bool *ret_only, uint8_t key[static CRYPTO_PUBKEY_SIZE]) {
        const struct billing_request *r = &rc->request;
        _cleanup_(freep) char *error = NULL;
        char what[128];
        int q;

        *ret_only = false;
        if (r->fields->funder_proof) {
                q = billing_funder_proof(rq->billing, row->id, r->fields->funder_proof, key, &error);
                if (q < 0)
                        return refusal(q, error);
                *ret_only = !r->operator && !keys_check_token(row->owner_hash, r->fields->token);
                return NULL;
        }
        if (!r->remote || r->operator || keys_check_token(row->owner_hash, r->fields->token))
                return NULL;
        snprintf(what, sizeof(what), "Seeing the funders of slice %s over the network (or a funder's proof)",
                 row->id);
        return billing_deny_token(r, row->id, r->fields->token, what);
}

/* A slice's terms for its investors and what they hold, as status and
 * funders show them. */
static json_object *invest_to_json(const struct ledger_slice *row) {
        char rate[FORMAT_PERCENT_MAX];
        json_object *o = json_object_new_object();

        json_object_object_add(o, "terms", json_object_new_string(invest_terms_to_string(row->invest.terms)));
        json_object_object_add(o, "rate", json_object_new_string(format_percent(rate, sizeof(rate),
                                                                                (uint64_t) row->invest.rate)));
        json_object_object_add(o, "cap", row->invest.cap > 0 ? json_object_new_int64(row->invest.cap) : NULL);
        json_object_object_add(o, "invested", json_object_new_int64(row->invested));
        json_object_object_add(o, "earned", json_object_new_int64(row->earned + row->earned_claimed));
        json_object_object_add(o, "claimed", json_object_new_int64(row->earned_claimed));
        return o;
}

/* Each funder's position in a slice, from the books: what it put in,
 * its share once released, what is held for it and what it claimed
 * (funders_may_see() says for whom). */
json_object *requests_funders(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) struct ledger_position *p = NULL;
        _cleanup_(freep) struct ledger_slice *row = NULL;
        uint8_t key[CRYPTO_PUBKEY_SIZE];
        json_object *reply, *a;
        bool only = false;
        size_t n = 0;
        int r;

        row = malloc(sizeof(*row));
        if (!row)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        r = billing_funders(rq->billing, rc->request.fields->slice, row, &p, &n);
        if (r == -ENOENT)
                return message_reply_refusal(MESSAGE_NOT_FOUND, "No funded slice %s", rc->request.fields->slice);
        if (r < 0)
                return message_reply_refusal(MESSAGE_INTERNAL, "Failed to read the ledger: %s", strerror(-r));
        reply = funders_may_see(rq, rc, row, &only, key);
        if (reply)
                return reply;

        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(row->id));
        json_object_object_add(reply, "donation_model",
                               json_object_new_string(donation_model_to_string(row->donation_model)));
        if (row->donation_model != DONATION_OWNER)
                json_object_object_add(reply, "anonymous_share",
                                       json_object_new_string(row->anonymous_to_host ? "host" : "owner"));
        if (row->donated > 0)
                json_object_object_add(reply, "donated", json_object_new_int64(row->donated));
        json_object_object_add(reply, "released", json_object_new_boolean(row->state == LEDGER_SLICE_RELEASED));
        json_object_object_add(reply, "currency", json_object_new_string(rq->config->currency));
        json_object_object_add(reply, "credited", json_object_new_int64(row->credited));
        json_object_object_add(reply, "refunded", json_object_new_int64(row->refunded));
        json_object_object_add(reply, "held_for_funders", json_object_new_int64(row->held));
        json_object_object_add(reply, "revenue", json_object_new_int64(row->revenue));
        if (row->invest_open)
                json_object_object_add(reply, "investors", invest_to_json(row));
        a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                if (!only || (!p[i].anonymous && memcmp(p[i].key, key, sizeof(key)) == 0))
                        json_object_array_add(a, position_to_json(&p[i], row->state == LEDGER_SLICE_RELEASED));
        json_object_object_add(reply, "funders", a);
        return reply;
}

/* ---- history ---- */

/* What a history reply is built from: the downsampled points (chart.h)
 * and the last CHART_EVENTS_MAX events, so that a slice that lived a
 * year makes a reply of the same size as one that lived a minute. */
struct history {
        const struct ledger_slice *row; /* read before the first callback */
        const struct billing_request *request;
        bool full, rights_known;
        bool started;
        uint64_t to;
        struct chart_downsampler ds;
        struct chart_point points[CHART_POINTS_MAX];
        struct chart_point last;
        struct ledger_event events[CHART_EVENTS_MAX];
        uint64_t n_events; /* seen: the ring holds the last of them */
};

/* Who sees it in full: those who see its status in full
 * (request_may_see()), by the ledger's row, which a released slice
 * keeps. */
static void history_rights(struct history *h) {
        const struct billing_request *r = h->request;

        if (h->rights_known)
                return;
        h->full = r->operator || (!r->remote && h->row->owner_uid == r->uid) ||
                  keys_check_token(h->row->owner_hash, r->fields->token);
        h->rights_known = true;
}

static int history_point(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata) {
        struct history *h = userdata;

        history_rights(h);

        if (!h->started) {
                chart_downsampler_init(&h->ds, MIN(h->row->created_usec, time_usec), h->to, h->points);
                h->started = true;
        }
        h->last = (struct chart_point) { time_usec, balance, spent };
        chart_downsampler_add(&h->ds, &h->last);
        return 0;
}

static int history_event(const struct ledger_event *ev, void *userdata) {
        struct history *h = userdata;

        history_rights(h);
        /* The public sees what happened to the money and the state, not
         * who did what (chart_event_is_public()). */
        if (!h->full && !chart_event_is_public(ev->kind))
                return 0;
        h->events[h->n_events++ % CHART_EVENTS_MAX] = *ev;
        return 0;
}

static json_object *history_to_json(struct history *h, size_t n, const char *currency) {
        uint64_t first = h->n_events > CHART_EVENTS_MAX ? h->n_events - CHART_EVENTS_MAX : 0;
        json_object *reply = message_reply_ok(), *points, *events;

        json_object_object_add(reply, "slice", json_object_new_string(h->row->id));
        json_object_object_add(reply, "currency", json_object_new_string(currency));
        json_object_object_add(reply, "public", json_object_new_boolean(!h->full));
        json_object_object_add(reply, "created_usec", json_object_new_uint64(h->row->created_usec));
        json_object_object_add(reply, "released", json_object_new_boolean(h->row->state == LEDGER_SLICE_RELEASED));
        /* What donors gave so far is the donor page's first figure: public. */
        json_object_object_add(reply, "credited", json_object_new_int64(h->row->credited));
        points = json_object_new_array_ext((int) n);
        json_object_object_add(reply, "points", points);
        for (size_t i = 0; points && i < n; i++) {
                json_object *p = json_object_new_array_ext(3);

                json_object_array_add(p, json_object_new_uint64(h->points[i].time_usec));
                json_object_array_add(p, json_object_new_int64(h->points[i].balance));
                /* What was charged is usage: its owner's (README "Who sees a slice"). */
                if (h->full)
                        json_object_array_add(p, json_object_new_int64(h->points[i].spent));
                json_object_array_add(points, p);
        }
        events = json_object_new_array();
        json_object_object_add(reply, "events", events);
        for (uint64_t i = first; events && i < h->n_events; i++) {
                const struct ledger_event *ev = &h->events[i % CHART_EVENTS_MAX];
                json_object *e = json_object_new_object();

                json_object_object_add(e, "time_usec", json_object_new_uint64(ev->time_usec));
                json_object_object_add(e, "kind", json_object_new_string(ev->kind));
                json_object_object_add(e, "balance", json_object_new_int64(ev->balance));
                if (h->full && ev->reason[0])
                        json_object_object_add(e, "reason", json_object_new_string(ev->reason));
                json_object_array_add(events, e);
        }
        if (first > 0)
                json_object_object_add(reply, "events_before", json_object_new_uint64(first));
        return reply;
}

/* A slice's balance over its life, downsampled, and its events: in full
 * (with what was charged, every event and its reason) for those who see
 * its status in full, else its public figures. From the ledger, so a
 * released slice has one too. */
json_object *requests_history(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        const struct billing_history_callbacks cb = { history_point, history_event };
        _cleanup_(freep) struct ledger_slice *row = NULL;
        _cleanup_(freep) struct history *h = NULL;
        struct slice_info info;
        struct slice *s;
        size_t n;
        int q;

        row = malloc(sizeof(*row));
        h = calloc(1, sizeof(*h));
        if (!row || !h)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        s = slices_find(rq->slices, r->fields->slice);
        if (s)
                (void) rq->sample(s, rq->userdata);
        h->row = row;
        h->request = r;
        h->to = now_usec(CLOCK_REALTIME);
        q = billing_history(rq->billing, r->fields->slice, row, &cb, h);
        if (q == -ENOENT)
                return message_reply_refusal(MESSAGE_NOT_FOUND, "No funded slice %s", r->fields->slice);
        if (q < 0)
                return message_reply_refusal(MESSAGE_INTERNAL, "Failed to read the ledger: %s", strerror(-q));
        history_rights(h);
        if (!h->started)
                history_point(row->created_usec, 0, 0, h);
        /* Now, as status shows it: the usage not yet written included. */
        if (s && s->account.funded && row->state != LEDGER_SLICE_RELEASED) {
                slices_info(rq->slices, s, &info);
                if (h->to > h->last.time_usec && info.account.balance != h->last.balance) {
                        struct chart_point now = { h->to, info.account.balance, h->last.spent };

                        if (info.account.balance < h->last.balance)
                                (void) money_add(now.spent, h->last.balance - info.account.balance, &now.spent);
                        chart_downsampler_add(&h->ds, &now);
                }
        }
        n = chart_downsampler_finish(&h->ds);
        return history_to_json(h, n, rq->config->currency);
}

/* ---- sponsorship (issue 16) ---- */

static json_object *sponsor_bid_to_json(struct requests *rq, const struct ledger_bid *bid) {
        json_object *o = json_object_new_object();

        json_object_object_add(o, "id", json_object_new_int64((int64_t) bid->n));
        json_object_object_add(o, "amount", json_object_new_int64(bid->amount));
        json_object_object_add(o, "currency", json_object_new_string(rq->config->currency));
        json_object_object_add(o, "period_start_usec", json_object_new_int64((int64_t) bid->start_usec));
        json_object_object_add(o, "period_end_usec", json_object_new_int64((int64_t) bid->end_usec));
        json_object_object_add(o, "name", json_object_new_string(bid->name));
        json_object_object_add(o, "url", bid->url[0] ? json_object_new_string(bid->url) : NULL);
        json_object_object_add(o, "state", json_object_new_string(ledger_bid_state_to_string(bid->state)));
        return o;
}

/* A slice's sponsorship as status shows it (to anyone: a sponsor is
 * public); NULL when none is offered. */
static json_object *sponsorship_to_json(struct requests *rq, const char *slice) {
        _cleanup_(freep) struct billing_sponsorship *sp = malloc(sizeof(*sp));
        json_object *o, *c = NULL;
        char path[PATH_MAX + 16];

        if (!sp || billing_sponsorship(rq->billing, slice, sp) < 0)
                return NULL;
        o = json_object_new_object();
        json_object_object_add(o, "period_usec", json_object_new_int64((int64_t) sp->offer.period_usec));
        json_object_object_add(o, "min", json_object_new_int64(sp->offer.min));
        json_object_object_add(o, "currency", json_object_new_string(rq->config->currency));
        json_object_object_add(o, "start_usec", json_object_new_int64((int64_t) sp->offer.start_usec));
        json_object_object_add(o, "next_start_usec", json_object_new_int64((int64_t) sp->next_start_usec));
        json_object_object_add(o, "bids", json_object_new_int64((int64_t) sp->bids));
        if (sp->has_current) {
                c = json_object_new_object();
                json_object_object_add(c, "bid", json_object_new_int64((int64_t) sp->current.n));
                json_object_object_add(c, "name", json_object_new_string(sp->current.name));
                json_object_object_add(c, "url",
                                       sp->current.url[0] ? json_object_new_string(sp->current.url) : NULL);
                json_object_object_add(c, "amount", json_object_new_int64(sp->current.amount));
                json_object_object_add(c, "since_usec", json_object_new_int64((int64_t) sp->current.start_usec));
                json_object_object_add(c, "until_usec", json_object_new_int64((int64_t) sp->current.end_usec));
        }
        json_object_object_add(o, "current", c);
        if (sp->env_dir[0]) {
                snprintf(path, sizeof(path), "%s/sponsor.env", sp->env_dir);
                json_object_object_add(o, "env_file", json_object_new_string(path));
        }
        return o;
}

/* status's slice object gains "sponsorship" when one is offered: all
 * of it is for sponsors to see, but in the public view the path of the
 * workload's file, which is the host's. */
static json_object *add_sponsorship(struct requests *rq, const char *slice, json_object *reply, bool public) {
        json_object *info, *sp;

        if (json_object_object_get_ex(reply, "slice", &info) && json_object_is_type(info, json_type_object) &&
            (sp = sponsorship_to_json(rq, slice))) {
                if (public)
                        json_object_object_del(sp, "env_file");
                json_object_object_add(info, "sponsorship", sp);
        }
        return reply;
}

/* The owner offers the slice's periods to sponsors. */
json_object *requests_sponsor_offer(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) char *error = NULL;
        struct ledger_sponsorship sp;
        json_object *reply, *o;
        int r;

        reply = billing_replay(rq->billing, &rc->request, "sponsor_offer");
        if (reply)
                return reply;
        r = billing_sponsor_offer(rq->billing, &rc->request, &sp, &error);
        if (r < 0)
                return refusal(r, error);
        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(sp.slice));
        o = sponsorship_to_json(rq, sp.slice);
        json_object_object_add(reply, "sponsorship", o);
        billing_remember(rq->billing, &rc->request, "sponsor_offer", reply);
        return reply;
}

/* The bid token beside a bid's reply: derived again, never stored
 * (billing_remember() leaves "token" out), as an owner token is. */
static json_object *add_bid_token(struct requests *rq, json_object *reply) {
        char token[OWNER_TOKEN_MAX];
        json_object *bid, *id;
        const char *slice = NULL;

        if (message_get_string(reply, "slice", &slice) >= 0 && json_object_object_get_ex(reply, "bid", &bid) &&
            json_object_object_get_ex(bid, "id", &id) && json_object_get_int64(id) > 0) {
                billing_bid_token(rq->billing, slice, (uint64_t) json_object_get_int64(id), token);
                json_object_object_add(reply, "token", json_object_new_string(token));
        }
        return reply;
}

/* Anyone bids with vouchers, spent at once into escrow. */
json_object *requests_sponsor_bid(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) struct ledger_bid *bid = NULL;
        _cleanup_(freep) char *error = NULL;
        json_object *reply;
        int r = 0;

        reply = billing_replay(rq->billing, &rc->request, "sponsor_bid");
        if (reply)
                return add_bid_token(rq, reply); /* a refusal has no bid */
        reply = check_vouchers(rq, rc);
        if (reply || rc->deferred)
                return reply;
        bid = malloc(sizeof(*bid));
        if (!bid)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        if (billing_fleet(rq->billing)) {
                struct voucher v[REQUEST_VOUCHERS_MAX];

                /* A bid too low, or on no offer, is refused before the
                 * claim; billing_sponsor_bid() checks again, claimed. A
                 * losing bid's vouchers stay claimed: they paid into its
                 * escrow, and its refund is change, new money. */
                r = billing_sponsor_bid_check(rq->billing, &rc->request, bid, v, &error);
                reply = r == -EDOM ? NULL : claim_checked(rq, rc, r, v, &error);
                if (reply || rc->deferred)
                        return reply;
        }
        if (r >= 0)
                r = billing_sponsor_bid(rq->billing, &rc->request, bid, &error);
        if (r == -EDOM)
                return message_reply_refusal(MESSAGE_BID_TOO_LOW, "%s", strna(error));
        if (r < 0)
                return refusal(r, error);
        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(bid->slice));
        json_object_object_add(reply, "bid", sponsor_bid_to_json(rq, bid));
        billing_remember(rq->billing, &rc->request, "sponsor_bid", reply);
        return add_bid_token(rq, reply);
}

/* A bid's outcome, to the holder of its bid token: open, won, or
 * returned with the change that paid it back. */
json_object *requests_sponsor_outcome(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) struct ledger_bid *bid = NULL;
        _cleanup_(freep) char *error = NULL;
        json_object *reply, *o;
        int r;

        bid = malloc(sizeof(*bid));
        if (!bid)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        r = billing_sponsor_outcome(rq->billing, &rc->request, bid, &error);
        if (r < 0)
                return refusal(r, error);
        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(bid->slice));
        o = sponsor_bid_to_json(rq, bid);
        if (bid->state != LEDGER_BID_OPEN)
                json_object_object_add(o, "settled_usec", json_object_new_int64((int64_t) bid->settled_usec));
        if (bid->state == LEDGER_BID_RETURNED)
                json_object_object_add(o, "change", json_object_new_string(bid->change));
        json_object_object_add(reply, "bid", o);
        return reply;
}

/* ---- investors and revenue (issue 16) ---- */

json_object *requests_invest_open(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) struct ledger_slice *row = NULL;
        _cleanup_(freep) char *error = NULL;
        struct invest_offer o;
        json_object *reply;
        int r;

        reply = billing_replay(rq->billing, &rc->request, "invest_open");
        if (reply)
                return reply;
        r = billing_invest_open(rq->billing, &rc->request, &o, &error);
        if (r < 0)
                return refusal(r, error);
        row = calloc(1, sizeof(*row));
        if (!row)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        row->invest_open = true;
        row->invest = o;
        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(rc->request.fields->slice));
        json_object_object_add(reply, "investors", invest_to_json(row));
        json_object_object_add(reply, "currency", json_object_new_string(rq->config->currency));
        billing_remember(rq->billing, &rc->request, "invest_open", reply);
        return reply;
}

json_object *requests_pay(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) struct billing_pay *p = NULL;
        _cleanup_(freep) char *error = NULL;
        char hex[2 * CRYPTO_PUBKEY_SIZE + 1];
        json_object *reply, *a;
        int r;

        reply = billing_replay(rq->billing, &rc->request, "pay");
        if (reply)
                return reply;
        reply = check_vouchers(rq, rc);
        if (reply || rc->deferred)
                return reply;
        if (billing_fleet(rq->billing)) {
                struct voucher v[REQUEST_VOUCHERS_MAX];

                /* Checked now, before the claim; billing_pay() checks
                 * again, claimed. */
                r = billing_pay_check(rq->billing, &rc->request, v, &error);
                reply = claim_checked(rq, rc, r, v, &error);
                if (reply || rc->deferred)
                        return reply;
        }
        p = calloc(1, sizeof(*p));
        if (!p)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        r = billing_pay(rq->billing, &rc->request, p, &error);
        if (r < 0)
                return refusal(r, error);

        reply = message_reply_ok();
        json_object_object_add(reply, "slice", json_object_new_string(rc->request.fields->slice));
        json_object_object_add(reply, "paid", json_object_new_int64(p->paid.paid));
        json_object_object_add(reply, "currency", json_object_new_string(rq->config->currency));
        json_object_object_add(reply, "to_investors", json_object_new_int64(p->paid.to_investors));
        json_object_object_add(reply, "to_slice", json_object_new_int64(p->paid.to_slice));
        json_object_object_add(reply, "balance", json_object_new_int64(p->paid.balance));
        a = json_object_new_array();
        for (size_t i = 0; i < p->paid.n_shares; i++) {
                json_object *o = json_object_new_object();

                hex_encode(p->paid.shares[i].key, CRYPTO_PUBKEY_SIZE, hex);
                json_object_object_add(o, "funder_key", json_object_new_string(hex));
                json_object_object_add(o, "amount", json_object_new_int64(p->paid.shares[i].amount));
                json_object_array_add(a, o);
        }
        json_object_object_add(reply, "investors", a);
        add_receipt(rq, &rc->request, RECEIPT_PAY, rc->request.fields->slice, p->paid.paid, p->paid.balance,
                    p->voucher_ids, p->n_vouchers, reply);
        billing_remember(rq->billing, &rc->request, "pay", reply);
        return reply;
}

json_object *requests_quote(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) char *error = NULL;
        json_object *reply, *o, *p;
        struct billing_quote q;
        int r;

        r = billing_quote(rq->billing, rc->request.fields, &q, &error);
        if (r < 0)
                return refusal(r, error);

        reply = message_reply_ok();
        o = json_object_new_object();
        p = json_object_new_object();
        for (int i = 0; i < _RESOURCE_MAX; i++) {
                json_object_object_add(o, resource_to_string((enum resource) i), json_object_new_int64(q.items[i]));
                json_object_object_add(p, resource_to_string((enum resource) i),
                                       json_object_new_int64(rq->config->rates.price[i]));
        }
        json_object_object_add(reply, "items", o);
        json_object_object_add(reply, "prices", p);
        json_object_object_add(reply, "total", json_object_new_int64(q.total));
        json_object_object_add(reply, "currency", json_object_new_string(rq->config->currency));
        json_object_object_add(reply, "cpus_milli", json_object_new_int64((int64_t) q.cpus_milli));
        json_object_object_add(reply, "memory_max", json_object_new_int64((int64_t) q.memory_max));
        json_object_object_add(reply, "duration_usec", json_object_new_int64((int64_t) q.duration_usec));
        json_object_object_add(reply, "min_runtime_usec",
                               json_object_new_int64((int64_t) rq->config->min_runtime_usec));
        json_object_object_add(reply, "host_id", json_object_new_string(q.host_id));
        json_object_object_add(reply, "host_key", json_object_new_string(q.host_key));
        return reply;
}

/* ---- work in a slice ---- */

json_object *requests_attach(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) char *error = NULL;
        _cleanup_(closep) int pidfd = -1;
        json_object *reply = NULL;
        struct slice *s;
        int r;

        if (rc->pin(rc, &pidfd, &error) < 0)
                return message_reply_refusal(MESSAGE_INVALID, "%s",
                                             error ?: "The caller cannot be pinned: nothing was moved");
        s = request_slice_for_work(rq, rc, &reply);
        if (!s)
                return reply;
        r = slices_attach(rq->slices, s, pidfd, &error);
        if (r < 0)
                return refusal(r, error);
        return slices_reply(rq->slices, s);
}

/* A transient unit of the service manager in the slice (Backend=systemd):
 * a client's runs as the client's uid, an operator's as the unit says. */
json_object *requests_run_unit(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        _cleanup_(freep) char *name = NULL, *error = NULL;
        json_object *reply = NULL;
        struct slice *s;
        int q;

        if (!r->fields->unit)
                return message_reply_refusal(MESSAGE_INVALID, "Missing or invalid field \"unit\": a unit name of at "
                                             "most 255 bytes");
        s = request_slice_for_work(rq, rc, &reply);
        if (!s)
                return reply;
        q = slices_run_unit(rq->slices, s, r->fields->unit, unit_uid(r), &name, &error);
        if (q < 0)
                return refusal(q, error);
        reply = slices_reply(rq->slices, s);
        json_object_object_add(reply, "unit", json_object_new_string(name));
        return reply;
}

/* SIGKILL to every process in the slice; the slice and its balance stay. */
json_object *requests_kill(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        char who[BILLING_REQUESTER_MAX];
        json_object *reply = NULL;
        struct slice *s;
        int q;

        s = request_owned_slice(rq, rc, &reply);
        if (!s)
                return reply;
        if (!s->handle)
                return message_reply_refusal(MESSAGE_CONFLICT, "Slice %s has no cgroup left: nothing runs in it",
                                             s->id);
        q = slice_kill(s);
        if (q < 0)
                return message_reply_refusal(MESSAGE_INTERNAL, "Failed to kill the processes of slice %s: %s", s->id,
                                             strerror(-q));
        /* The kill is always done; a client's own, repeated, is recorded
         * once in RepeatedEventSec= (an operator's always). */
        billing_requester(r, who);
        if (r->operator)
                billing_emit(rq->billing, s, EVENT_KILLED, "kill", "every process killed on request of %s", who);
        else
                billing_emit_repeatable(rq->billing, s, EVENT_KILLED, "kill", "every process killed on request of %s",
                                        who);
        slices_sample_one(rq->slices, s);
        return slices_reply(rq->slices, s);
}

json_object *requests_destroy(struct requests *rq, struct request_conn *rc) {
        json_object *reply = NULL;
        struct slice *s;
        int r;

        s = request_owned_slice(rq, rc, &reply);
        if (!s)
                return reply;
        if (s->account.funded)
                return message_reply_refusal(MESSAGE_CONFLICT, "Slice %s is funded: release it (prepay release %s), "
                                             "so that its balance is refunded", s->id, s->id);
        r = slices_destroy(rq->slices, s);
        if (r < 0)
                return message_reply_refusal(MESSAGE_INTERNAL, "Slice destroyed, but its cgroups could not all be "
                                             "removed: %s", strerror(-r));
        return message_reply_ok();
}

/* As SIGHUP; the reply says whether the file loaded. */
json_object *requests_reload(struct requests *rq, struct request_conn *rc) {
        int r;

        log_info("Reloading on request of uid %u (pid %d).", (unsigned) rc->request.uid, (int) rc->request.pid);
        r = rq->reload(rq->userdata);
        if (r < 0)
                return message_reply_refusal(MESSAGE_INVALID, "Reloading the configuration failed (%s): the running "
                                             "configuration stays; the daemon's log says why", strerror(-r));
        return message_reply_ok();
}

/* ---- what a slice shows ---- */

/* Who sees a slice in full (its usage, limits, cgroup, what it was
 * credited and charged) and follows its events (which name its owner's
 * uid and the vouchers spent on it): an operator, the uid that made it
 * (prepay list shows it that uid's slices anyway), or whoever gives its
 * owner token. A remote buyer is never the uid that made it (the
 * gateway's uid made every remote slice). */
static bool request_may_see(struct request_conn *rc, struct slice *s) {
        const struct billing_request *r = &rc->request;

        if (r->operator || (!r->remote && s->owner_uid == r->uid))
                return true;
        return s->account.funded && keys_check_token(s->account.l.owner_hash, r->fields->token);
}

/* What anyone may see of a slice: what a donor needs to decide on a
 * top-up, and nothing about who owns it, what it runs or what it used:
 * its id and state, and of its account the currency, state,
 * enforcement, action when spent, donation model and where anonymous
 * shares go (what a funder gets back at release), balance, burn rate and
 * time left; and its sponsor, if one pays to be shown. */
static json_object *public_slice_reply(struct requests *rq, struct slice *s) {
        static const char *const account_keys[] = {
                "currency", "state", "enforcement", "exhausted_action", "donation_model", "anonymous_share",
                "balance", "burn_rate", "time_left_usec", "investors",
        };
        json_object *full, *info, *account, *o, *v, *a;

        full = slices_reply(rq->slices, s);
        if (!json_object_object_get_ex(full, "slice", &info))
                return full; /* an error */
        o = json_object_new_object();
        if (!o) {
                json_object_put(full);
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        }
        json_object_object_add(o, "id", json_object_new_string(s->id));
        if (json_object_object_get_ex(info, "state", &v))
                json_object_object_add(o, "state", json_object_get(v));
        json_object_object_add(o, "public", json_object_new_boolean(true));
        if (json_object_object_get_ex(info, "account", &account)) {
                a = json_object_new_object();
                json_object_object_add(o, "account", a);
                for (size_t i = 0; a && i < ARRAY_SIZE(account_keys); i++)
                        if (json_object_object_get_ex(account, account_keys[i], &v))
                                json_object_object_add(a, account_keys[i], json_object_get(v));
        }
        json_object_object_add(full, "slice", o);
        return full;
}

/* In full for those request_may_see() lets, else its public part. */
json_object *requests_status(struct requests *rq, struct request_conn *rc) {
        json_object *reply = NULL;
        struct slice *s;

        /* Read it first: a slice found vanished is gone before the lookup. */
        if (rc->request.fields->slice && (s = slices_find(rq->slices, rc->request.fields->slice)))
                (void) rq->sample(s, rq->userdata);
        s = request_slice(rq, rc, &reply);
        if (!s)
                return reply;
        if (request_may_see(rc, s))
                return add_sponsorship(rq, s->id, slices_reply(rq->slices, s), false);
        return add_sponsorship(rq, s->id, public_slice_reply(rq, s), true);
}

/* A record, or with "brief" a row (what `prepay list` prints, about a
 * tenth of the bytes), of slice s. */
static int list_entry(struct requests *rq, struct slice *s, bool brief, json_object **ret) {
        struct slice_info info;

        slices_info(rq->slices, s, &info);
        return brief ? slice_row_to_json(&info, ret) : slice_info_to_json(&info, ret);
}

/* A page of a list as JSON text, "[...]", which json-c writes out in
 * place of the array that carries it in the reply
 * (json_object_set_serializer()): each slice's entry is serialized once,
 * measured against the room left and appended, and its objects are freed
 * at once instead of living, thousands of them, until the reply goes. */
struct list_page {
        char *text;
        size_t len, size;
};

static int list_page_to_json_string(json_object *o, struct printbuf *pb, int level _unused_, int flags _unused_) {
        const struct list_page *p = json_object_get_userdata(o);

        return printbuf_memappend(pb, p->text, (int) p->len);
}

static void list_page_free(json_object *o _unused_, void *userdata) {
        struct list_page *p = userdata;

        free(p->text);
        free(p);
}

/* Appends text, with a comma after the first; false when it does not fit. */
static bool list_page_add(struct list_page *p, const char *text) {
        size_t len = strlen(text);

        if (p->len + len + 2 > p->size)
                return false;
        if (p->len > 1)
                p->text[p->len++] = ',';
        memcpy(p->text + p->len, text, len);
        p->len += len;
        return true;
}

/* A page of slices from index "cursor" on, as many as fit one datagram
 * with room to spare; "next" is where the following page starts. The
 * figures are those of each slice's last read (the meter's schedule):
 * reading ten thousand slices for a list would cost more than it tells. Slices
 * created or destroyed between two pages may shift the listing by one.
 * A client sees the slices its uid created only, and the reply says so
 * ("only_uid"); an operator sees every slice. */
json_object *requests_list(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        uint64_t cursor = r->fields->cursor, i = 0;
        bool all = r->operator, brief = r->fields->brief;
        struct slice *s = rq->slices->list;
        struct list_page *page;
        json_object *reply, *array;

        page = calloc(1, sizeof(*page));
        array = json_object_new_array();
        if (!page || !array) {
                free(page);
                json_object_put(array);
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        }
        page->size = PREPAY_MSG_MAX - 1024; /* room for the rest of the reply */
        page->text = malloc(page->size);
        if (!page->text) {
                free(page);
                json_object_put(array);
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");
        }
        page->text[0] = '[';
        page->len = 1;

        reply = message_reply_ok();
        json_object_set_serializer(array, list_page_to_json_string, page, list_page_free);
        json_object_object_add(reply, brief ? "rows" : "slices", array);
        if (!all)
                json_object_object_add(reply, "only_uid", json_object_new_int64(r->uid));

        if (cursor > 0 && cursor == rq->list_resume.index && rq->list_resume.generation == rq->slices->generation) {
                s = rq->list_resume.slice;
                i = cursor;
        }
        for (; s; s = s->next, i++) {
                bool fits;
                json_object *o;

                if (i < cursor || (!all && s->owner_uid != r->uid))
                        continue;
                if (list_entry(rq, s, brief, &o) < 0)
                        continue;
                fits = list_page_add(page, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
                json_object_put(o);
                if (fits)
                        continue;
                /* A record is a few KiB at most: it fits an empty page. */
                assert(page->len > 1);
                json_object_object_add(reply, "next", json_object_new_int64((int64_t) i));
                rq->list_resume.slice = s;
                rq->list_resume.index = i;
                rq->list_resume.generation = rq->slices->generation;
                break;
        }
        page->text[page->len++] = ']';
        return reply;
}

/* The reply goes out at once, before any event can (see control.c's
 * on_connection_io()); from then on the connection only receives. */
/* A keyed funder follows the slice it funded, by its proof (no token):
 * only what a funder acts on reaches it (event_reaches_funder()). */
static json_object *funder_events(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        _cleanup_(freep) char *error = NULL;
        uint8_t key[CRYPTO_PUBKEY_SIZE];
        json_object *reply = NULL;
        struct slice *s;
        int q;

        if (!r->fields->slice)
                return message_reply_refusal(MESSAGE_INVALID, "A funder's proof is for one slice: name it");
        s = request_slice(rq, rc, &reply);
        if (!s)
                return reply;
        q = billing_funder_proof(rq->billing, s->id, r->fields->funder_proof, key, &error);
        if (q < 0)
                return refusal(q, error);
        return rc->subscribe(rc, s->id, true);
}

json_object *requests_events(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        const char *slice = r->fields->slice, *token = r->fields->token;
        json_object *reply = NULL;
        struct slice *s;

        if (r->fields->funder_proof)
                return funder_events(rq, rc);
        if (!slice && !r->operator)
                return billing_deny(r, NULL, "the events of every slice are for operators (%s); name one slice",
                                    rc->operators);
        /* Only a slice that exists, so that nobody holds a stream that
         * can never carry anything. */
        if (slice) {
                s = request_slice(rq, rc, &reply);
                if (!s)
                        return reply;
                if (!request_may_see(rc, s)) {
                        char what[64];

                        snprintf(what, sizeof(what), "following the events of slice %s", s->id);
                        return billing_deny_token(r, s->id, token, what);
                }
        }
        return rc->subscribe(rc, slice, false);
}

/* ---- images ---- */

json_object *requests_images(struct requests *rq, struct request_conn *rc) {
        _cleanup_(freep) char *error = NULL;
        json_object *reply, *images;
        int r;

        if (!rq->slices->vms)
                return message_reply_refusal(MESSAGE_NOT_FOUND, "This daemon does not run VM slices");
        r = vms_list_images(rq->slices->vms, &images, &error);
        if (r < 0)
                return refusal(r, error);
        reply = message_reply_ok();
        json_object_object_add(reply, "images", images);
        json_object_object_add(reply, "accelerator", json_object_new_string(vms_accelerator(rq->slices->vms)));
        return reply;
}

/* ---- metrics (daemon/README.md, "Metrics") ---- */

#ifndef PREPAY_VERSION
#define PREPAY_VERSION "0.1"
#endif

/* A page's text, before JSON escapes it (at most twice: a newline or a
 * quote becomes two bytes, and nothing else here needs escaping: label
 * values are slice ids and fixed words, and metrics_label() turns what
 * else could be into '?'), within one datagram with room to spare. */
#define METRICS_PAGE_MAX ((PREPAY_MSG_MAX - 1024) / 2)

/* The series per slice, one family after the other, each over every
 * slice: OpenMetrics wants a family whole. */
enum {
        SLICE_FAMILY_CPU,
        SLICE_FAMILY_BALANCE,
        SLICE_FAMILY_MEMORY,
        _SLICE_FAMILY_MAX,
};

/* A cursor names a family, a place in the list and the list's
 * generation (its low 35 bits), so that a page asked after a slice came
 * or went is refused instead of skipping or repeating one: a repeated
 * series would spoil the whole scrape. */
#define CURSOR_INDEX_BITS 24
#define CURSOR_FAMILY_BITS 4
#define CURSOR_GENERATION_BITS 35
_Static_assert(CURSOR_INDEX_BITS + CURSOR_FAMILY_BITS + CURSOR_GENERATION_BITS == 63, "cursor fits an int64");
_Static_assert(_SLICE_FAMILY_MAX < (1 << CURSOR_FAMILY_BITS), "families fit the cursor");

static uint64_t metrics_cursor(uint64_t generation, unsigned family, uint64_t index) {
        return (generation & ((UINT64_C(1) << CURSOR_GENERATION_BITS) - 1))
                       << (CURSOR_INDEX_BITS + CURSOR_FAMILY_BITS) |
               (uint64_t) (family + 1) << CURSOR_INDEX_BITS | index;
}

static void metrics_slice_family(struct metrics_buf *b, unsigned family) {
        static const struct {
                const char *name, *type, *help;
        } f[_SLICE_FAMILY_MAX] = {
                [SLICE_FAMILY_CPU] = { "prepay_slice_cpu_seconds", "counter",
                                       "CPU time the slice's processes used (the eBPF meter), as of its last read." },
                [SLICE_FAMILY_BALANCE] = { "prepay_slice_balance", "gauge",
                                           "A funded slice's balance in the currency's units (prepay_info's "
                                           "currency), exact to the micro-unit, as of its last read." },
                [SLICE_FAMILY_MEMORY] = { "prepay_slice_memory_bytes", "gauge",
                                          "Memory the slice holds (memory.current), as of its last read of it." },
        };

        metrics_family(b, f[family].name, f[family].type, f[family].help);
}

static void metrics_slice_sample(struct requests *rq, struct metrics_buf *b, unsigned family, struct slice *s) {
        char label[METRICS_LABEL_MAX];
        struct slice_account_info info;

        metrics_label(label, sizeof(label), "slice", s->id);
        switch (family) {
        case SLICE_FAMILY_CPU:
                metrics_sample_micro(b, "prepay_slice_cpu_seconds_total", label,
                                     (int64_t) MIN(s->usage.cpu_usec, (uint64_t) INT64_MAX));
                break;
        case SLICE_FAMILY_BALANCE:
                if (!s->account.funded)
                        break;
                slices_money_info(rq->slices, s, &info);
                metrics_sample_micro(b, "prepay_slice_balance", label, info.balance);
                break;
        default:
                metrics_sample_u64(b, "prepay_slice_memory_bytes", label, s->usage.memory_current);
                break;
        }
}

static uint64_t process_rss(void) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/self/statm", "re");
        unsigned long long size, resident;

        if (!f || fscanf(f, "%llu %llu", &size, &resident) != 2)
                return 0;
        return (uint64_t) resident * (uint64_t) sysconf(_SC_PAGESIZE);
}

/* The host's figures, always there, whatever the slices: a fixed number
 * of series. */
static void metrics_totals(struct requests *rq, struct metrics_buf *b) {
        static const char *const states[] = { "running", "empty", "frozen" };
        static const char *const enforcements[] = { "ok", "low", "throttled", "frozen", "killed" };
        uint64_t by_state[ARRAY_SIZE(states)] = {}, by_enforcement[ARRAY_SIZE(enforcements)] = {};
        int64_t balance = 0, burn = 0;
        char label[METRICS_LABEL_MAX], info_labels[2 * METRICS_LABEL_MAX + 2];
        struct rusage ru;

        for (struct slice *s = rq->slices->list; s; s = s->next) {
                struct slice_account_info info;

                for (size_t i = 0; i < ARRAY_SIZE(states); i++)
                        if (streq(slice_state_name(s), states[i]))
                                by_state[i]++;
                if (!s->account.funded)
                        continue;
                slices_money_info(rq->slices, s, &info);
                for (size_t i = 0; i < ARRAY_SIZE(enforcements); i++)
                        if (streq(info.enforcement, enforcements[i]))
                                by_enforcement[i]++;
                /* A sum of balances the ledger caps cannot overflow,
                 * but say so rather than wrap if it ever did. */
                if (!money_add(balance, info.balance, &balance))
                        balance = INT64_MAX;
                if (!money_add(burn, info.burn_rate, &burn))
                        burn = INT64_MAX;
        }

        metrics_family(b, "prepay", "info", "This prepayd: its version and the currency its money is in.");
        metrics_label(label, sizeof(label), "currency", rq->config->currency);
        snprintf(info_labels, sizeof(info_labels), "%s,version=\"%s\"", label, PREPAY_VERSION);
        metrics_sample_u64(b, "prepay_info", info_labels, 1);

        metrics_family(b, "prepay_slices", "gauge", "Slices by the state of their cgroup.");
        for (size_t i = 0; i < ARRAY_SIZE(states); i++)
                metrics_sample_u64(b, "prepay_slices", metrics_label(label, sizeof(label), "state", states[i]),
                                   by_state[i]);
        metrics_family(b, "prepay_funded_slices", "gauge", "Funded slices by where their balance stands.");
        for (size_t i = 0; i < ARRAY_SIZE(enforcements); i++)
                metrics_sample_u64(b, "prepay_funded_slices",
                                   metrics_label(label, sizeof(label), "enforcement", enforcements[i]),
                                   by_enforcement[i]);
        metrics_family(b, "prepay_balance", "gauge",
                       "The balances of every funded slice together, in the currency's units.");
        metrics_sample_micro(b, "prepay_balance", NULL, balance);
        metrics_family(b, "prepay_burn_rate", "gauge",
                       "What every funded slice spends together, in the currency's units per second.");
        metrics_sample_micro(b, "prepay_burn_rate", NULL, burn);

        metrics_family(b, "prepay_redemptions", "counter",
                       "Vouchers redeemed (create, topup, pay, bid) and committed to the ledger.");
        metrics_sample_u64(b, "prepay_redemptions_total", NULL, stats.redemptions);
        metrics_family(b, "prepay_vouchers_refused", "counter", "Vouchers refused and not spent, by why.");
        for (enum stats_refusal i = 0; i < _STATS_REFUSED_MAX; i++)
                metrics_sample_u64(b, "prepay_vouchers_refused_total",
                                   metrics_label(label, sizeof(label), "reason", stats_refusal_to_string(i)),
                                   stats.refused[i]);
        metrics_family(b, "prepay_enforcement_actions", "counter",
                       "What balances running low or out (and top-ups after) made the daemon do, done.");
        for (enum stats_action i = 0; i < _STATS_ACTION_MAX; i++)
                metrics_sample_u64(b, "prepay_enforcement_actions_total",
                                   metrics_label(label, sizeof(label), "action", stats_action_to_string(i)),
                                   stats.actions[i]);
        metrics_histogram(b, "prepay_meter_pass_seconds",
                          "One pass of the meter's schedule: the slices due read (one BPF run, their cgroup "
                          "files when due) and charged.",
                          &stats.meter_read);
        metrics_histogram(b, "prepay_ledger_commit_seconds", "One commit of the ledger's batch.", &stats.commit);
        metrics_family(b, "prepay_ledger_commit_failures", "counter", "Ledger commits that failed.");
        metrics_sample_u64(b, "prepay_ledger_commit_failures_total", NULL, stats.commit_failures);

        (void) getrusage(RUSAGE_SELF, &ru);
        metrics_family(b, "process_cpu_seconds", "counter", "CPU time prepayd used, user and system.");
        metrics_sample_micro(b, "process_cpu_seconds_total", NULL,
                             (int64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * (int64_t) USEC_PER_SEC +
                                     ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
        metrics_family(b, "process_resident_memory_bytes", "gauge", "prepayd's resident memory.");
        metrics_sample_u64(b, "process_resident_memory_bytes", NULL, process_rss());
}

json_object *requests_metrics(struct requests *rq, struct request_conn *rc) {
        const struct billing_request *r = &rc->request;
        uint64_t cursor = r->fields->cursor, generation = rq->slices->generation, index = 0;
        unsigned family = 0;
        _cleanup_(metrics_buf_done) struct metrics_buf b = {};
        struct slice *s = rq->slices->list;
        bool more = false;
        json_object *reply;

        if (r->remote && !rq->config->metrics_gateway)
                return billing_deny(r, NULL, "the metrics are the operators' (Gateway=no in [Metrics])");

        if (cursor > 0) {
                family = (unsigned) ((cursor >> CURSOR_INDEX_BITS) & ((1u << CURSOR_FAMILY_BITS) - 1));
                index = cursor & ((UINT64_C(1) << CURSOR_INDEX_BITS) - 1);
                if (family == 0 || family > _SLICE_FAMILY_MAX || !rq->config->metrics_slice_series ||
                    cursor != metrics_cursor(generation, family - 1, index))
                        return message_reply_refusal(MESSAGE_CONFLICT, "The slices changed since the first page: "
                                                     "ask for the metrics again from the start");
                family--;
                if (rq->metrics_resume.cursor == cursor)
                        s = rq->metrics_resume.slice;
                else
                        for (uint64_t i = 0; s && i < index; i++)
                                s = s->next;
        } else
                metrics_totals(rq, &b);

        for (; rq->config->metrics_slice_series && family < _SLICE_FAMILY_MAX && !more;
             family++, index = 0, s = rq->slices->list) {
                /* A page ends before a family's header or between two
                 * of its slices (a line is far shorter than the room
                 * kept), never between a header and its first sample,
                 * and at an index the cursor can hold. */
                if (index == 0) {
                        if (b.len >= METRICS_PAGE_MAX - 512) {
                                more = true;
                                break;
                        }
                        metrics_slice_family(&b, family);
                }
                for (bool first = true; s; s = s->next, index++, first = false) {
                        if (!first && (b.len >= METRICS_PAGE_MAX - 512 ||
                                       index + 1 >= (UINT64_C(1) << CURSOR_INDEX_BITS))) {
                                more = true;
                                break;
                        }
                        metrics_slice_sample(rq, &b, family, s);
                }
                if (more)
                        break;
        }
        if (!more)
                metrics_eof(&b);
        if (b.failed)
                return message_reply_refusal(MESSAGE_INTERNAL, "Out of memory");

        reply = message_reply_ok();
        json_object_object_add(reply, "text", json_object_new_string_len(b.text, (int) b.len));
        if (more) {
                uint64_t next = metrics_cursor(generation, family, index);

                json_object_object_add(reply, "next", json_object_new_int64((int64_t) next));
                rq->metrics_resume.slice = s;
                rq->metrics_resume.cursor = next;
        }
        return reply;
}
