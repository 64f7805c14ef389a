/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdio.h>

#include "common/chart.h"
#include "common/crypto.h"
#include "common/message.h"
#include "common/voucher.h"
#include "funders.h"
#include "pricing.h"

/* The ledger: the durable record of every voucher spent, every slice and
 * every movement of money. The only module that includes SQLite. One file
 * (StateDirectory/ledger.db), WAL mode, synchronous=FULL, a versioned
 * schema migrated on open. Used by prepayd (read-write) and by "prepay
 * ledger" (read-only, while the daemon runs or not).
 *
 * Double entry: every movement is an entry whose postings sum to zero over
 * accounts named
 *   "vouchers"            where redeemed money comes from (goes negative)
 *   "slice:<id>"          a slice's balance
 *   "charge:<resource>"   what was charged, per resource (pricing.h names)
 *   "refund"              change paid out as change vouchers
 *   "held:<id>:<key>"     a keyed funder's share of a released slice, held
 *                         for it to claim (key: 64 lower-case hex digits
 *                         of its raw Ed25519 public key)
 *   "earned:<id>:<key>"   an investor's part of the revenue paid to the
 *                         slice, held for it to claim (schema 7)
 * so the books read: redeemed = held + charged + refunded + held for
 * funders + earned by investors + donated + bids in escrow + bids
 * returned. Usage beyond a
 * balance is not money anyone holds: it is recorded per slice as
 * overshoot (ledger_charge), outside the books.
 *
 * Each entry carries SHA-256(previous entry's hash || the entry's
 * canonical bytes); the first entry chains from 32 zero bytes. The
 * canonical bytes are documented in daemon/README.md.
 *
 * Writes are batched by the caller (group commit): ledger_begin() opens a
 * write transaction if none is open, each write below runs inside it in a
 * savepoint (a failed one leaves no trace and the batch goes on), and
 * ledger_commit() makes the whole batch durable at once. A write called
 * outside a transaction returns -ENOTCONN. Nothing is durable, and no
 * answer that depends on it may be given, until ledger_commit() returns 0.
 * After a failed commit the batch is rolled back: callers reload what
 * they keep in memory with ledger_slice_get(). Reads work in a batch or
 * outside one; in a batch they see the batch. A handle is used by one
 * thread at a time. */

struct ledger;

enum ledger_slice_state {
        LEDGER_SLICE_ACTIVE,   /* funded, may run */
        LEDGER_SLICE_KEPT,     /* work stopped, balance kept for its owner */
        LEDGER_SLICE_RELEASED, /* closed; balance paid out as change */
        _LEDGER_SLICE_STATE_MAX,
};
const char *ledger_slice_state_to_string(enum ledger_slice_state s);

/* Change is paid in vouchers of at most MONEY_AMOUNT_MAX each (the most
 * one may hold, prepay-voucher(5)), one per line: at most this many, so a
 * balance is never more than they hold, and a release's change always
 * fits its row and its reply. */
#define LEDGER_CHANGE_VOUCHERS_MAX 16
#define LEDGER_CHANGE_MAX (LEDGER_CHANGE_VOUCHERS_MAX * VOUCHER_TEXT_MAX)
#define LEDGER_BALANCE_MAX (LEDGER_CHANGE_VOUCHERS_MAX * MONEY_AMOUNT_MAX)

/* A slice's row but its change vouchers: struct ledger_slice_figures
 * holds just these, and is what a live slice keeps in memory (struct
 * slice_account): the change, 4 KiB, matters only once it is released,
 * and at 10,000 slices it was 40 MiB of the daemon's memory. */
#define LEDGER_SLICE_FIGURES                                                                       \
        char id[SLICE_ID_MAX];                                                                     \
        uint32_t owner_uid;                                                                        \
        uint8_t owner_hash[CRYPTO_SHA256_SIZE]; /* SHA-256 of the owner token */                   \
        enum ledger_slice_state state;                                                             \
        enum donation_model donation_model; /* how the balance is split at release (schema 3) */   \
        uint64_t created_usec;  /* CLOCK_REALTIME */                                               \
        uint64_t released_usec; /* 0 until released */                                             \
        int64_t balance;        /* held: credited - charged - refunded */                          \
        int64_t credited;       /* sum of vouchers redeemed into it */                             \
        int64_t refunded;       /* paid out as change */                                           \
        int64_t held;           /* released, held for its keyed funders to claim (schema 4) */     \
        int64_t claimed;        /* held once, claimed by its funders as change (schema 4) */       \
        bool anonymous_to_host; /* the anonymous share of a split is the host's (schema 5) */      \
        int64_t donated;        /* released, the anonymous share kept by the host (schema 5) */    \
        int64_t charged[_RESOURCE_MAX];                                                            \
        uint64_t billed[_RESOURCE_MAX]; /* the meter counters charged up to */                     \
        int64_t overshoot;      /* priced usage the balance did not cover */                       \
        int64_t revenue;        /* paid to it by its users, its part (schema 7) */                 \
        int64_t invested;       /* put in by its investors since it opened to them */             \
        int64_t earned;         /* paid to it for its investors, not claimed yet */               \
        int64_t earned_claimed; /* claimed by its investors as change */                          \
        bool invest_open;       /* open to investors, on these terms: */                          \
        struct invest_offer invest;                                                                \
        uint64_t invest_entry;  /* the entry that opened it: later keyed credits are investments */

struct ledger_slice_figures {
        LEDGER_SLICE_FIGURES
};

struct ledger_slice {
        LEDGER_SLICE_FIGURES
        char change[LEDGER_CHANGE_MAX]; /* the change vouchers, one per line, "" if none */
};

/* The same members in the same order: the figures are a prefix of the row. */
static inline void ledger_slice_figures_of(const struct ledger_slice *s, struct ledger_slice_figures *ret) {
        _Static_assert(sizeof(struct ledger_slice_figures) <= offsetof(struct ledger_slice, change),
                       "struct ledger_slice begins with struct ledger_slice_figures");
        memcpy(ret, s, sizeof(*ret));
}

/* Opens (and, unless read_only, creates and migrates) the ledger at path.
 * A schema newer than this build knows is refused (-EPROTONOSUPPORT). On
 * failure *ret_error (to free) says what and where. */
int ledger_open(const char *path, bool read_only, struct ledger **ret, char **ret_error);
void ledger_close(struct ledger *l); /* rolls an open batch back */
/* Called while the whole chain is read (ledger_verify_books(),
 * ledger_export_json()): entries read of total (the last entry's seq; 0
 * when it cannot be told), every LEDGER_PROGRESS_EVERY entries and at the
 * end. For the CLI's progress line on a terminal; NULL: none. */
#define LEDGER_PROGRESS_EVERY 4096
typedef void (*ledger_progress_fn)(uint64_t done, uint64_t total, void *userdata);
void ledger_set_progress(struct ledger *l, ledger_progress_fn fn, void *userdata);

int ledger_begin(struct ledger *l);  /* no-op while a batch is open */
bool ledger_in_batch(const struct ledger *l);
int ledger_commit(struct ledger *l); /* no-op without a batch; -errno on failure, batch rolled back */
void ledger_rollback(struct ledger *l);

/* A new slice, zero balance, state active: id, owner_uid, owner_hash,
 * donation_model and created_usec are taken from *s, the rest is ignored. -EEXIST for a
 * known id. */
int ledger_slice_add(struct ledger *l, const struct ledger_slice *s);
int ledger_slice_get(struct ledger *l, const char *id, struct ledger_slice *ret); /* -ENOENT */
/* Calls cb for each slice not released, in creation order; stops at and
 * returns cb's first negative return. */
int ledger_slice_foreach(struct ledger *l, int (*cb)(const struct ledger_slice *s, void *userdata),
                         void *userdata);

struct ledger_spent {
        uint64_t time_usec; /* when it was redeemed */
        char slice[SLICE_ID_MAX];
};
/* Whether voucher id has been redeemed (0, *ret filled) or not (-ENOENT). */
int ledger_voucher_spent(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], struct ledger_spent *ret);

/* Marks v spent and credits slice_id with its amount (entry "redeem":
 * vouchers -amount, slice:<id> +amount). request_id may be NULL.
 *   -EALREADY   v was spent before (*ret_spent says when and where)
 *   -ENOENT     no such slice
 *   -ESTALE     slice released (a kept slice may be topped up)
 *   -EOVERFLOW  the balance would pass LEDGER_BALANCE_MAX
 *   -EUSERS     (ledger_redeem_funded(), a keyed credit) the slice's model
 *               splits its balance and it has LEDGER_FUNDERS_MAX keyed
 *               funders already, none of them this one
 * Returns the new balance in *ret_balance (may be NULL). */
int ledger_redeem(struct ledger *l, const struct voucher *v, const char *slice_id, const char *request_id,
                  uint64_t now_usec, int64_t *ret_balance, struct ledger_spent *ret_spent);
/* ledger_redeem() of v[0..n) in one savepoint: all of them, or on the
 * first failure none (its error returned, its index in *ret_failed, which
 * may be NULL). n is 1..16. */
int ledger_redeem_all(struct ledger *l, const struct voucher *v, size_t n, const char *slice_id,
                      const char *request_id, uint64_t now_usec, int64_t *ret_balance, size_t *ret_failed);
/* ledger_redeem_all() with the credits' funder recorded in each redeem
 * entry, under the hash chain (schema 3): funder is the funder's raw
 * Ed25519 public key (CRYPTO_PUBKEY_SIZE bytes), or NULL for an
 * anonymous funder, which is what ledger_redeem() and
 * ledger_redeem_all() record. */
int ledger_redeem_funded(struct ledger *l, const struct voucher *v, size_t n, const char *slice_id,
                         const char *request_id, const uint8_t *funder, uint64_t now_usec, int64_t *ret_balance,
                         size_t *ret_failed);

/* Moves the slice's billed counters to counters[] and charges due[] (each
 * >= 0, as priced by the caller from the old and new counters), resource
 * by resource in enum order while the balance lasts (entry "charge":
 * slice:<id> -sum, charge:<r> +part). What the balance does not cover is
 * added to the slice's overshoot. A counter below its billed value is an
 * error (-EINVAL): counters only grow; so is a due amount for a counter
 * that did not move (it would be a second charge for the same usage).
 * Nothing is written when no counter moved; counters that moved at no
 * cost update the slice row only. An entry is written when money moved
 * or overshoot grew (then with no postings, its overshoot in the entry).
 * -ESTALE for a released slice. Returns the new balance in *ret_balance
 * (may be NULL). */
int ledger_charge(struct ledger *l, const char *slice_id, const uint64_t counters[_RESOURCE_MAX],
                  const int64_t due[_RESOURCE_MAX], uint64_t now_usec, int64_t *ret_balance);

/* The most keyed funders a slice whose model splits its balance may
 * have: each may get a posting of its own in the release entry. */
#define LEDGER_FUNDERS_MAX 32

/* How a slice's balance is split at release, by its donation model
 * (funders_split() over ledger_slice_credits()): each keyed funder's
 * share, held for it to claim; the owner's share and every anonymous
 * share, paid as change. */
struct ledger_share {
        uint8_t key[CRYPTO_PUBKEY_SIZE]; /* the funder's raw Ed25519 public key */
        int64_t put;                     /* what it put in */
        int64_t share;                   /* what it gets back, >= 0 */
};
struct ledger_split {
        enum donation_model model;
        int64_t unspent; /* the balance split */
        int64_t owner;   /* paid as change: unspent less every keyed share, unless donated */
        int64_t held;    /* the keyed shares' sum */
        int64_t donated; /* the anonymous share, the host's (anonymous_to_host); then owner is 0 */
        int64_t anonymous; /* the anonymous funders' share, in owner or donated */
        struct ledger_share *shares; /* every keyed funder, in the order of its first credit */
        size_t n_shares;
};
/* The split the slice's release would make now (it is not released), in
 * one snapshot. -ENOENT for no such slice, -ESTALE for a released one.
 * *ret is freed with ledger_split_done(). */
int ledger_release_split(struct ledger *l, const char *slice_id, struct ledger_split *ret);
void ledger_split_done(struct ledger_split *s);

/* Claims (schema 4): a keyed funder's held share of a released slice,
 * paid to it as change, once. */
struct ledger_claimed {
        uint64_t entry;     /* the claim's entry */
        uint64_t time_usec; /* when it was paid */
        int64_t amount;
        char change[LEDGER_CHANGE_MAX]; /* the change vouchers paid, one per line */
};

/* Investors and revenue (schema 7, daemon/README.md "Investors"). */

/* Opens slice_id to investors on o's terms (entry "invest", no postings,
 * with request_id): a keyed credit made after it is an investment.
 * -EALREADY when it is open already (once, on the terms it was opened
 * with), -ESTALE released, -ENOENT no such slice, -EINVAL bad terms. */
int ledger_invest_open(struct ledger *l, const char *slice_id, const struct invest_offer *o, const char *request_id,
                       uint64_t now_usec);

/* What a payment of vouchers to a slice did, all of them together. */
struct ledger_paid {
        int64_t paid;         /* the vouchers' sum */
        int64_t to_investors; /* into their earned:<slice>:<key> accounts */
        int64_t to_slice;     /* onto its balance (its revenue) */
        int64_t balance;      /* the slice's balance after */
        size_t n_shares;
        struct {
                uint8_t key[CRYPTO_PUBKEY_SIZE];
                int64_t amount;
        } shares[LEDGER_FUNDERS_MAX]; /* each investor's part, > 0, in the order of first investment */
};
/* Revenue: v[0..n) (1..16) paid to slice_id by its users, one "pay" entry
 * per voucher (vouchers -amount; slice:<id> +the slice's part, each
 * investor's earned:<id>:<key> +its part, by invest_split() over the
 * investors as that voucher finds them), all or none in one savepoint.
 * The errors of ledger_redeem() (-EALREADY spent, -ENOENT, -ESTALE
 * released, -EOVERFLOW the balance would pass LEDGER_BALANCE_MAX), the
 * index of the voucher that failed in *ret_failed (may be NULL). */
int ledger_pay(struct ledger *l, const struct voucher *v, size_t n, const char *slice_id, const char *request_id,
               uint64_t now_usec, struct ledger_paid *ret, size_t *ret_failed);

/* What a claim by funder would pay now. */
struct ledger_claimable {
        int64_t share;        /* its held share of the released slice, unless claimed */
        int share_error;      /* why share is 0: -EAGAIN not released, -EALREADY claimed (first), -ENODATA none */
        struct ledger_claimed first; /* with -EALREADY */
        bool investor;
        int64_t revenue;      /* its earned revenue not claimed yet, at most what one change pays besides share */
        int64_t revenue_left; /* what is earned beyond that, for a later claim */
};
/* -ENOENT for no such slice. */
int ledger_claimable(struct ledger *l, const char *slice_id, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                     struct ledger_claimable *ret);
/* Pays c->share (if > 0: entry "claim" with the funder's key,
 * held:<slice>:<key> -share, refund +share, a claims row (slice, funder)
 * with the entry, time, amount and change, the slice row's held less it
 * and claimed more) and
 * c->revenue (if > 0: entry "payout" with the funder's key,
 * earned:<slice>:<key> -revenue, refund +revenue, a payouts row) with one
 * change_text, in one savepoint: both amounts are read again in it, and
 * -EINVAL unless they are what c says; nothing to pay is -ENODATA. */
int ledger_claim_funder(struct ledger *l, const char *slice_id, const uint8_t funder[CRYPTO_PUBKEY_SIZE],
                        const struct ledger_claimable *c, const char *change_text, const char *request_id,
                        uint64_t now_usec);

/* Each funder's position in a slice, in the order of its first credit
 * (all anonymous credits one funder): what it put in; once released, its
 * share by the slice's model (the anonymous share is paid with the
 * owner's change), what of it is held still and what was claimed. */
struct ledger_position {
        bool anonymous;
        uint8_t key[CRYPTO_PUBKEY_SIZE];
        int64_t put;
        int64_t share;   /* 0 until released */
        int64_t held;    /* share - claimed, keyed funders only */
        int64_t claimed; /* keyed funders only */
        uint64_t claim_entry, claim_usec; /* 0 unless claimed */
        int64_t would_get; /* not released: its share were it released now */
        bool investor;     /* keyed credits since the slice opened to investors (schema 7) */
        int64_t invested, earned, earned_claimed;
};
/* -ENOENT no such slice. *ret (n in *ret_n) to free; *ret_row the slice's row. */
int ledger_slice_positions(struct ledger *l, const char *slice_id, struct ledger_slice *ret_row,
                           struct ledger_position **ret, size_t *ret_n);

/* Sponsorship (schema 5, issue 16): an owner offers a slice's periods to
 * sponsors; a bid's vouchers are spent at once into an escrow account of
 * the books, bid:<slice>:<n>; when its period starts the highest bid (the
 * earliest of equal ones) is credited to the slice and every other paid
 * back as change. daemon/README.md "Sponsorship" has the rules. */
struct ledger_sponsorship {
        char slice[SLICE_ID_MAX];
        uint64_t period_usec;
        int64_t min;             /* the least bid */
        uint64_t start_usec;     /* the first period's start */
        uint64_t settled_usec;   /* the start of the last period settled (0: none yet) */
        uint64_t offered_usec;
};
/* Offers (or offers anew) slice_id's sponsorship: -ENOENT no such slice,
 * -ESTALE released, -EBUSY while bids are open (they were made against
 * the offer as it stands). */
int ledger_sponsor_offer(struct ledger *l, const struct ledger_sponsorship *sp);
/* -ENOENT: none offered. */
int ledger_sponsorship_get(struct ledger *l, const char *slice_id, struct ledger_sponsorship *ret);
/* Each offer of a slice not released, with the earliest start of its
 * open bids (0: none) beside it; cb's error stops the walk. Inside a
 * read transaction or the batch. */
int ledger_sponsorships_foreach(struct ledger *l,
                                int (*cb)(const struct ledger_sponsorship *sp, void *userdata), void *userdata);
/* The start of the last period settled. */
int ledger_sponsor_settled(struct ledger *l, const char *slice_id, uint64_t settled_usec);

enum ledger_bid_state {
        LEDGER_BID_OPEN,     /* in escrow, its period not started */
        LEDGER_BID_WON,      /* credited to the slice */
        LEDGER_BID_RETURNED, /* paid back as change */
        _LEDGER_BID_STATE_MAX,
};
const char *ledger_bid_state_to_string(enum ledger_bid_state s);

#define LEDGER_SPONSOR_NAME_MAX 256 /* bytes, REQUEST_SPONSOR_NAME_BYTES */
#define LEDGER_SPONSOR_URL_MAX 256
/* At most this many bids of one slice are open at once: each is a row,
 * an entry per voucher and, if it loses, an entry and change. */
#define LEDGER_BIDS_OPEN_MAX 64
struct ledger_bid {
        char slice[SLICE_ID_MAX];
        uint64_t n;                    /* per slice, in the order made */
        uint64_t time_usec;
        uint64_t start_usec, end_usec; /* the period bid for */
        int64_t amount;
        char name[LEDGER_SPONSOR_NAME_MAX + 1];
        char url[LEDGER_SPONSOR_URL_MAX + 1]; /* "" for none */
        bool keyed;
        uint8_t funder[CRYPTO_PUBKEY_SIZE];
        enum ledger_bid_state state;
        uint64_t settled_entry, settled_usec;
        char change[LEDGER_CHANGE_MAX]; /* returned: the change paid, one voucher per line */
};
/* A bid of the vouchers v[0..n) (their sum bid->amount, each not spent:
 * -EALREADY) for the period bid->start_usec..end_usec of slice_id: an
 * entry "bid" per voucher (vouchers -amount, bid:<slice>:<n> +amount,
 * with request_id), the vouchers marked spent there, and the bids row;
 * all or none. bid's name, url, funder come from the caller; *ret_n is
 * its number. -ENOENT no such slice or no offer (-ENOMSG), -ESTALE
 * released, -EUSERS LEDGER_BIDS_OPEN_MAX open already. */
int ledger_bid(struct ledger *l, const struct voucher *v, size_t n, const struct ledger_bid *bid,
               const char *request_id, uint64_t now_usec, uint64_t *ret_n);
/* -ENOENT: no such bid. */
int ledger_bid_get(struct ledger *l, const char *slice_id, uint64_t n, struct ledger_bid *ret);
/* The open bids of slice_id, in the order of their period and number
 * (*ret, n in *ret_n, to free). */
int ledger_bids_open(struct ledger *l, const char *slice_id, struct ledger_bid **ret, size_t *ret_n);
int ledger_bids_open_count(struct ledger *l, const char *slice_id, size_t *ret);
/* The winner of the period running at now_usec: -ENOENT when none. */
int ledger_bid_current(struct ledger *l, const char *slice_id, uint64_t now_usec, struct ledger_bid *ret);
/* Settles open bid n of slice_id: won, its escrow credited to the slice
 * (entry "award" with the bid's funder key: bid:<slice>:<n> -amount,
 * slice +amount; -ESTALE for a released slice), or returned as
 * change_text (entry "return": bid:<slice>:<n> -amount, returned
 * +amount; the change kept in the row). -EALREADY settled before. */
int ledger_bid_award(struct ledger *l, const char *slice_id, uint64_t n, uint64_t now_usec);
int ledger_bid_return(struct ledger *l, const char *slice_id, uint64_t n, const char *change_text, uint64_t now_usec);
/* A period settled whole, or nothing of it: bid winner (0: none, as
 * for a released slice) awarded and each of returns[0..n) returned with
 * its change, in one savepoint. The errors of the two above. */
struct ledger_return {
        uint64_t n;
        const char *change;
};
int ledger_bids_settle(struct ledger *l, const char *slice_id, uint64_t winner, const struct ledger_return *returns,
                       size_t n_returns, uint64_t now_usec);

/* Closes the slice (entry "release"): its balance is split by its model
 * (ledger_release_split()): the owner's part goes to "refund" and is
 * paid as change_text, kept with the slice (NULL or "" when that part is
 * 0; shorter than LEDGER_CHANGE_MAX); each keyed funder's share to its
 * held:<slice>:<key> account, their sum to the row's held. State
 * released. -ESTALE if already released; -EINVAL for change with no
 * owner's part or none with one. Always writes an entry, with no
 * postings when the balance was 0, so the chain says when each slice
 * closed. */
int ledger_release(struct ledger *l, const char *slice_id, const char *change_text, uint64_t now_usec);
/* Work stopped, balance kept: state kept. An active slice only: -EALREADY
 * when kept, -ESTALE when released. No entry (no money moves). */
int ledger_keep(struct ledger *l, const char *slice_id, uint64_t now_usec);
/* Back to active (a kept slice the owner runs in again); -EALREADY when
 * active, -ESTALE when released. */
int ledger_activate(struct ledger *l, const char *slice_id, uint64_t now_usec);

/* Idempotency: the first reply to a money-moving request, by (uid,
 * request id). request_id: 1..64 characters [A-Za-z0-9._:-]. */
bool ledger_request_id_is_valid(const char *s);
int ledger_request_get(struct ledger *l, uint32_t uid, const char *request_id, char **ret_reply); /* -ENOENT */
int ledger_request_put(struct ledger *l, uint32_t uid, const char *request_id, const char *op,
                       const char *reply, uint64_t now_usec); /* -EEXIST: the first reply stays */
/* Forgets requests recorded before before_usec (a write, in the batch):
 * what bounds the table. Returns how many went. */
int ledger_request_prune(struct ledger *l, uint64_t before_usec);

struct ledger_books {
        int64_t redeemed; /* sum of vouchers spent */
        int64_t held;     /* sum of slice balances */
        int64_t charged;  /* sum of charges */
        int64_t refunded; /* sum of change */
        int64_t funders;  /* held for funders to claim (schema 4) */
        int64_t donated;  /* anonymous shares the host kept (schema 5) */
        int64_t earned;   /* earned by investors, not claimed yet (schema 7) */
        int64_t overshoot;
        uint64_t entries;
        int64_t escrow;   /* bids in escrow, their period not started (schema 6) */
        int64_t returned; /* bids that lost, paid back as change (schema 6) */
};
int ledger_books(struct ledger *l, struct ledger_books *ret);

/* (The sponsorship's part: each bid's escrow holds what its vouchers
 * paid until it is credited to its slice once or returned once, the bid
 * row saying which; redeemed = held + charged + refunded + held for
 * funders + escrow + returned.) */
/* Checks, in order: every entry's hash and link to the one before; every
 * entry's postings sum to zero; each slice row (balance, credited, charged,
 * refunded, held for funders) equals the sums of its postings and no
 * balance is negative; every voucher spent has its redeem entry; each
 * release of a slice whose model splits its balance posts exactly the
 * split recomputed from its credits, its model and its slice posting, and
 * no other entry posts to a funder's account; redeemed = held + charged +
 * refunded + held for funders; and each slice's stored history (schema
 * 10, a cache) is the fold of its entries. 0 when all hold; -EBADMSG with the first discrepancy as a
 * sentence in *ret_discrepancy (to free), naming the entry or slice. */
int ledger_verify(struct ledger *l, char **ret_discrepancy);
/* The same, and on success the books it verified, read in the same
 * snapshot (entries: how many the chain holds). */
int ledger_verify_books(struct ledger *l, struct ledger_books *ret_books, char **ret_discrepancy);

/* Who funded a slice, for funders_split(): its credits in the order they
 * were made (credits[i].funder indexes funders[]), its funders in the
 * order of their first credit, every anonymous credit the one funder
 * whose anonymous is true. Read from the books, in one snapshot. */
struct ledger_funder {
        bool anonymous;
        uint8_t key[CRYPTO_PUBKEY_SIZE]; /* the raw Ed25519 public key, unless anonymous */
        int64_t put;                     /* the sum of its credits */
};
struct ledger_credits {
        struct funder_credit *credits;
        size_t n_credits;
        struct ledger_funder *funders;
        size_t n_funders;
};
/* -ENOENT for no such slice; -EUCLEAN for a credit of another shape
 * than the schema allows. *ret is freed with ledger_credits_done(). */
int ledger_slice_credits(struct ledger *l, const char *slice_id, struct ledger_credits *ret);
void ledger_credits_done(struct ledger_credits *c);

/* Slice events (schema 2; events.h says what they are): a log kept beside
 * the books, not part of them. No money moves, the hash chain does not
 * cover them and verify does not read them. The slice need not be in the
 * slices table (an unfunded slice's OOM kill is an event too). */
#define LEDGER_EVENT_KIND_MAX 16
#define LEDGER_EVENT_REASON_MAX 256
struct ledger_event {
        uint64_t seq;           /* given by ledger_event_add(), in order */
        uint64_t time_usec;     /* CLOCK_REALTIME */
        char slice[SLICE_ID_MAX];
        char kind[LEDGER_EVENT_KIND_MAX]; /* 1..15 of [a-z-] */
        bool funded;
        uint32_t owner_uid;
        int64_t balance;
        char currency[CURRENCY_SIZE]; /* "" or ISO 4217 */
        int64_t burn_rate;
        uint64_t time_left_usec;
        char reason[LEDGER_EVENT_REASON_MAX];
};
/* Appends ev (seq ignored) to the open batch; -EINVAL for a malformed one.
 * Returns its seq in *ret_seq (may be NULL). */
int ledger_event_add(struct ledger *l, const struct ledger_event *ev, uint64_t *ret_seq);
/* Forgets events recorded before before_usec (a write, in the batch): what
 * bounds the table, as ledger_request_prune() does requests. Events are
 * outside the books and the chain. Returns how many went. */
int ledger_event_prune(struct ledger *l, uint64_t before_usec);
/* Calls cb for each event (of slice only, unless NULL) in seq order, from
 * one snapshot; cb must not write to the ledger. Stops at and returns cb's
 * first negative return. */
int ledger_event_foreach(struct ledger *l, const char *slice,
                         int (*cb)(const struct ledger_event *ev, void *userdata), void *userdata);

/* Slice's balance and its charges so far after each of its entries, in
 * their order, from the postings (the open batch's included); cb as for
 * ledger_event_foreach(). */
int ledger_slice_history(struct ledger *l, const char *slice,
                         int (*cb)(uint64_t time_usec, int64_t balance, int64_t spent, void *userdata),
                         void *userdata);
/* Slice's history as folded when its entries were written (schema 10;
 * the open batch's included): the chart_summary that
 * chart_summary_add() makes of the points ledger_slice_history() gives,
 * an entry written after a step back of the clock drawn at the time of
 * the one before it. At most CHART_SUMMARY_BUCKETS rows read, however
 * many entries the slice has; ret->n = 0 for a slice with none. */
int ledger_slice_history_summary(struct ledger *l, const char *slice, struct chart_summary *ret);

/* The whole ledger as one JSON object: {"schema":N, "books":{...},
 * "slices":[...], "vouchers":[...], "entries":[{"seq", "time_usec",
 * "kind", "slice", "voucher", "request_id", "funder" (hex of the raw
 * Ed25519 public key, null for anonymous), "postings":[{"account",
 * "amount"}], "prev_hash", "hash"}], "events":[{"seq", "time_usec",
 * "slice", "kind", "funded", "owner_uid", "balance", "currency",
 * "burn_rate", "time_left_usec", "reason"}]}; amounts as integer
 * micro-units. */
int ledger_export_json(struct ledger *l, FILE *f);

/* A fleet (issue 17, daemon/README.md "Fleet"): hosts that share one
 * spent-voucher set and one copy of their books in a PostgreSQL database
 * (Ledger=). Each host's SQLite ledger stays its durable journal; the
 * fleet database is authoritative for which vouchers are spent. */

/* Names one attempt to spend vouchers, in both stores: random bytes. */
#define LEDGER_CLAIM_SIZE 16

/* Intents (schema 8): a voucher about to be claimed in the fleet
 * database by attempt claim, written (and committed) before the claim,
 * deleted in the batch that credits it. Writes, in the batch. -EEXIST:
 * the voucher has an intent already (being spent on this host). */
int ledger_intent_add(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE],
                      const char *request_id, uint64_t now_usec);
int ledger_intent_del(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE]);
/* The attempt that holds voucher id's intent; -ENOENT for none. */
int ledger_intent_get(struct ledger *l, const uint8_t id[VOUCHER_ID_SIZE], uint8_t ret_claim[LEDGER_CLAIM_SIZE]);
/* Each intent, ordered by claim; cb's error stops the walk. */
int ledger_intents_foreach(struct ledger *l,
                           int (*cb)(const uint8_t id[VOUCHER_ID_SIZE], const uint8_t claim[LEDGER_CLAIM_SIZE],
                                     void *userdata),
                           void *userdata);
/* The last entry's seq (0: none), read afresh. */
int ledger_last_seq(struct ledger *l, uint64_t *ret);

/* A connection to the fleet database, used by one thread at a time
 * (every call blocks on the network: prepayd makes them on its fleet
 * thread, daemon/fleet.c, never on the event loop). */
struct ledger_fleet;
/* conninfo: a libpq connection string or URI ("postgresql://...",
 * "service=NAME", "host=... sslmode=verify-full"). Connects and creates
 * the fleet's tables if missing. host_id: this host's HostId= (NULL for
 * a reader). On failure *ret_error (to free) says why. */
int ledger_fleet_connect(const char *conninfo, const char *host_id, struct ledger_fleet **ret, char **ret_error);
void ledger_fleet_free(struct ledger_fleet *f);
/* Whether the connection is up (after a failure: reconnect). */
bool ledger_fleet_ok(struct ledger_fleet *f);
/* FleetId=: publishes this host's change-signing public key (one line,
 * crypto_key_public_to_text()) as a key of fleet_id, replacing the
 * host's row. */
int ledger_fleet_publish_key(struct ledger_fleet *f, const char *fleet_id, const char *public_key,
                             uint64_t now_usec);
/* The keys the hosts of fleet_id published, at most LEDGER_FLEET_KEYS_MAX,
 * one line each in the order of the hosts (*ret, to free); how many. */
#define LEDGER_FLEET_KEYS_MAX 1024
int ledger_fleet_keys(struct ledger_fleet *f, const char *fleet_id, char **ret);
/* The last failure, as the server or libpq said it. */
const char *ledger_fleet_error(struct ledger_fleet *f);

struct ledger_fleet_spent {
        char host[VOUCHER_AUDIENCE_MAX + 1];
        uint64_t time_usec;
};
/* One request's claim in a group (ledger_fleet_claims()). */
struct ledger_fleet_claim {
        const uint8_t (*ids)[VOUCHER_ID_SIZE];
        size_t n;
        const uint8_t *claim; /* LEDGER_CLAIM_SIZE bytes: the attempt */
        /* The request id, shared by the fleet (NULL: none), and whose
         * ids it is among ("uid 1000", "remote"): one (requester,
         * request_id) is taken by one claim in the whole fleet. */
        const char *requester, *request_id;
        uint64_t now_usec;
        /* Out: 0 claimed; -EALREADY: ids[failed] is spent, -EEXIST: the
         * request id is taken, spent saying by which host and when. */
        int r;
        size_t failed;
        struct ledger_fleet_spent spent;
};
/* Claims c[0..n) in one transaction of the fleet database (group
 * commit: a round trip or two for the whole group): each claim's
 * vouchers (and request id) are marked spent by this host, all or none
 * for each claim; one that finds a voucher or its request id taken is
 * refused (c[i].r) without failing the others. A voucher or request id
 * this attempt holds already counts as its own (a retry). 0 when the
 * transaction committed (each c[i].r says how its claim went), else
 * -errno for the whole group: -ECONNRESET and others, not known whether
 * it committed. Retries serialization failures and deadlocks (SQLSTATE
 * 40001, 40P01). */
int ledger_fleet_claims(struct ledger_fleet *f, struct ledger_fleet_claim *c, size_t n);
/* Takes back what attempt claim holds of ids[0..n) (none of which was
 * credited), and its request id with the last of them: they may be
 * spent (taken) again. Idempotent. */
int ledger_fleet_unclaim(struct ledger_fleet *f, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                         const uint8_t claim[LEDGER_CLAIM_SIZE]);
/* Copies the entries of local after the last the fleet holds of this
 * host, at most max in one transaction, with their postings and, for
 * each that spends a voucher, the voucher in the spent set (refused with
 * -EEXIST when another host spent it). Returns how many were shipped;
 * *ret_shipped: the fleet's last seq of this host after. -ESTALE: the
 * local chain does not continue the fleet's copy (*ret_error says where). */
int ledger_fleet_ship(struct ledger_fleet *f, struct ledger *local, size_t max, uint64_t *ret_shipped,
                      char **ret_error);

struct ledger_fleet_report {
        uint64_t hosts, entries, vouchers;
        uint64_t claimed_unshipped; /* spent rows whose entry is not in the fleet (yet) */
};
/* Checks every host's chain (or host's only, when not NULL) in the fleet
 * database: seqs without a gap, each hash recomputed, each link, each
 * entry's postings summing to zero, the host's recorded tip; and that
 * each voucher is spent once fleet-wide, by the host whose entry spends
 * it; each shared request id belongs to a claim of its host that spends
 * a voucher. 0 when all hold, -EBADMSG with the first discrepancy in
 * *ret_discrepancy (to free); other errors with it too. */
int ledger_fleet_verify(struct ledger_fleet *f, const char *host, struct ledger_fleet_report *ret,
                        char **ret_discrepancy);
