/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <systemd/sd-event.h>

#include "common/request.h"
#include "common/voucher.h"
#include "keys.h"

/* Voucher signature checks on worker threads, so that the event loop's
 * thread (the single owner of the ledger, the slices and the billing
 * state) does not spend a signature check's time per redemption. The
 * loop hands a request's parsed vouchers to the pool with a reference to
 * the issuers trusted now (keys_issuers_ref()); a worker runs the pure
 * check (keys_issuers_verify()) and nothing else; the verdicts come back
 * on the loop's thread (an eventfd watched by sd-event), where they are
 * used only if that snapshot is still the one trusted (a reload in
 * between: checked again there).
 *
 * Jobs are bounded: at most max_jobs queued, running or waiting to be
 * handed back at once; one more is -EBUSY, which the caller refuses. */

#define VERIFY_THREADS_MAX 64
/* More than MaxConnections= allows by default: each connection has one
 * request in flight, so a client meets this only on a host configured
 * for more connections. */
#define VERIFY_JOBS_MAX 1024

/* A request's vouchers, checked: verdict r[i] (0, or voucher_verify()'s
 * -errno with its sentence in error[i]) for v[i], against issuers. */
struct verify_checked {
        struct keys_issuers *issuers;
        size_t n;
        struct voucher v[REQUEST_VOUCHERS_MAX];
        int r[REQUEST_VOUCHERS_MAX];
        char *error[REQUEST_VOUCHERS_MAX];
};
void verify_checked_free(struct verify_checked *c); /* accepts NULL */

/* The verdict on v if c holds one that is current for k (the same
 * voucher, checked against the issuers trusted now): 1, with *ret_r and
 * *ret_error (c's: do not free); 0 when it must be checked again. */
int verify_checked_find(const struct verify_checked *c, struct keys *k, const struct voucher *v, int *ret_r,
                        const char **ret_error);

struct verify_pool;

/* n_threads workers (1..VERIFY_THREADS_MAX), handing back through event. */
int verify_pool_new(sd_event *event, unsigned n_threads, size_t max_jobs, struct verify_pool **ret);
/* Stops the workers (each finishes the check it is running) and drops
 * every job unanswered: their callbacks do not run. Accepts NULL. */
void verify_pool_free(struct verify_pool *p);

/* Checks v[0..n) against is (the caller's reference, taken in any
 * case) on a worker; done(c, userdata) runs later on the event loop's
 * thread and owns c. -EBUSY: max_jobs are in flight; nothing was queued. */
int verify_submit(struct verify_pool *p, struct keys_issuers *is, const struct voucher *v, size_t n,
                  void (*done)(struct verify_checked *c, void *userdata), void *userdata);
/* Forgets every job of userdata: its callback will not run. */
void verify_cancel(struct verify_pool *p, void *userdata);
/* Jobs queued, running or not yet handed back. */
size_t verify_in_flight(struct verify_pool *p);

/* VerifyThreads=0: one per online CPU, within 1..VERIFY_THREADS_MAX. */
unsigned verify_threads(uint64_t configured);
