/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "ledger.h"

/* Group commit: every ledger write of the daemon (money, request ids,
 * events) goes into one open transaction, committed once per event-loop
 * iteration by an idle-priority event source, so that all the requests
 * that arrived together share one fsync. A reply that depends on a write
 * waits for the commit (batch_wait()). The batch owns the ledger. */

struct batch;

/* Opens the ledger at path (read-write, created if missing). */
int batch_new(sd_event *event, const char *path, struct batch **ret);
/* Closes the ledger; what is uncommitted is rolled back (commit first).
 * Waits still pending are dropped unrun. Accepts NULL. */
void batch_free(struct batch *b);

struct ledger *batch_ledger(struct batch *b);

/* Called after each commit, before the waiters, with its result (r < 0:
 * the ledger rolled the batch back): the owner of what was written
 * rereads it. One; NULL unsets it. */
void batch_set_committed(struct batch *b, void (*cb)(int r, void *userdata), void *userdata);

/* Opens the batch if it is not open (ledger_begin()) and arms its commit:
 * batch_begin() returns -errno, batch_open() also logs it. */
int batch_begin(struct batch *b);
int batch_open(struct batch *b);
bool batch_is_open(struct batch *b);
/* Whether the last commit failed (and none succeeded since). */
bool batch_failing(struct batch *b);

/* Commits now, then tells the committed callback and every waiter. */
int batch_commit(struct batch *b);

/* cb runs once the open batch is committed (r = 0) or failed (r < 0);
 * batch_cancel() forgets every wait of userdata. */
int batch_wait(struct batch *b, void (*cb)(int r, void *userdata), void *userdata);
void batch_cancel(struct batch *b, void *userdata);
/* Whether a batch_wait() callback is still to run. */
bool batch_has_waiters(struct batch *b);
