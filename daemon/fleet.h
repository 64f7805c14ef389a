/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "ledger.h"

/* The fleet's thread (issue 17, daemon/README.md "Fleet"): one
 * connection to the fleet database (Ledger=), on a thread of its own so
 * that the event loop never waits on the network: the meter, the
 * enforcer and every request that takes no new money go on when the
 * database hangs. It runs the claims and take-backs the loop queues, and
 * ships this host's committed entries (read from the ledger file with a
 * read-only handle of its own) after each commit it is poked for, and
 * every second while any are left or the database is away. Results come
 * back to the loop through an eventfd. */

struct fleet;

struct fleet_context {
        sd_event *event;
        const char *conninfo;
        const char *host_id;
        const char *ledger_path;
        /* FleetId= (NULL or "": none). Then this host's change-signing
         * public key (one line) is published at each connect, and the
         * keys of the fleet's hosts are read then, every
         * FLEET_KEYS_REFRESH_SEC, and at the next pass after
         * fleet_refresh_keys(); fleet_keys runs on the loop with them
         * (one line each) when they changed. */
        const char *fleet_id;
        const char *public_key;
        void (*fleet_keys)(const char *keys, void *userdata);
        /* A take-back done (r = 0) or given up (r < 0, the daemon stops):
         * the loop deletes the intents of claim. */
        void (*unclaimed)(int r, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                          const uint8_t claim[LEDGER_CLAIM_SIZE], void *userdata);
        void *userdata;
};

int fleet_new(const struct fleet_context *ctx, struct fleet **ret);
/* Stops the thread (it finishes the statement it is in) and drops what
 * is queued: the intents on disk say what to take back at the next start. */
void fleet_free(struct fleet *f);

/* What a claim found, on the loop. */
struct fleet_claimed {
        int r;                          /* 0, -EALREADY (spent), -EEXIST (request id taken), or why
                                         * the database did not say */
        size_t failed;                  /* -EALREADY: the voucher's index */
        struct ledger_fleet_spent spent; /* -EALREADY, -EEXIST: by whom, when */
        char error[256];                /* other errors: the database's words */
};

/* Claims ids[0..n) (and request_id of requester, when not NULL: the
 * fleet's idempotency key) as attempt claim, in one transaction with
 * every claim queued meanwhile; done runs on the loop, unless
 * fleet_cancel(f, userdata) came first. */
int fleet_claim(struct fleet *f, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                const uint8_t claim[LEDGER_CLAIM_SIZE], const char *requester, const char *request_id,
                void (*done)(const struct fleet_claimed *c, void *userdata), void *userdata);
void fleet_cancel(struct fleet *f, void *userdata);
/* Queues the take-back of attempt claim's ids[0..n): tried until the
 * database answers; ctx->unclaimed says when. */
int fleet_unclaim(struct fleet *f, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                  const uint8_t claim[LEDGER_CLAIM_SIZE]);
/* A voucher bound to the fleet named a key not known here: read the
 * fleet's keys again at the thread's next pass (at most one a second). */
void fleet_refresh_keys(struct fleet *f);
/* Entries were committed: ship them. */
void fleet_poke(struct fleet *f);

/* Whether the connection was up at the thread's last look, or the
 * thread has not looked yet (its first connect is under way: a claim
 * queued meanwhile runs after it, or fails with it). */
bool fleet_connected(struct fleet *f);
/* Committed entries not in the fleet database yet, at the last look. */
uint64_t fleet_unshipped(struct fleet *f);
/* The last reason the database could not be used ("" while it can). */
void fleet_last_error(struct fleet *f, char *buf, size_t n);
