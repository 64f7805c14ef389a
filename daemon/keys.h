/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/receipt.h"
#include "common/request.h"
#include "common/voucher.h"
#include "ledger.h"

/* The daemon's keys: the issuers it trusts (IssuersDirectory=, and its
 * own key), its own issuer key (HostKey=: it signs change and receipts,
 * nothing else), its host id (HostId=, the audience vouchers must name),
 * and the secret owner tokens are derived from (StateDirectory/owner-secret). */

/* Owner tokens: "pt-" and 43 base64url characters, derived from a secret
 * only the daemon knows; the ledger keeps their SHA-256. */
#define OWNER_TOKEN_MAX 64
_Static_assert(REQUEST_TOKEN_MAX == OWNER_TOKEN_MAX - 1, "a token the decoder takes fits a token buffer");

struct config;
struct keys;

/* Loads the issuers, the host key (made when missing), the owner secret
 * (made when missing) and the host id, as config says. */
int keys_new(const struct config *config, struct keys **ret);
void keys_free(struct keys *k); /* accepts NULL */
/* Reads IssuersDirectory= again (after a reload); on failure the keys
 * trusted now stay. */
int keys_reload_issuers(struct keys *k);

/* The owner token of a slice, and the hash the ledger keeps of it. */
void keys_make_token(struct keys *k, const char *slice_id, char ret[static OWNER_TOKEN_MAX]);
void keys_token_hash(const char *token, uint8_t ret[static CRYPTO_SHA256_SIZE]);
/* A sponsor's bid token ("bt-" and 43 base64url characters): what lets
 * the bidder alone fetch its bid's outcome and change, derived like an
 * owner token from the slice id and the bid's number. */
void keys_make_bid_token(struct keys *k, const char *slice_id, uint64_t n, char ret[static OWNER_TOKEN_MAX]);
bool keys_check_bid_token(struct keys *k, const char *slice_id, uint64_t n, const char *token);
/* Whether token is the one whose hash is owner_hash (NULL: no). */
bool keys_check_token(const uint8_t owner_hash[static CRYPTO_SHA256_SIZE], const char *token);

/* The fleet's change-signing keys (FleetId=, daemon/README.md "Fleet"),
 * one public key line each (crypto_key_public_to_text()), as read from
 * the fleet database: a new snapshot when they changed. Lines that are
 * no key are skipped. */
int keys_set_fleet_keys(struct keys *k, const char *text);
/* Those lines as a keyring (*ret, to free); how many keys. */
int keys_parse_fleet_keys(const char *text, struct crypto_keyring **ret);
/* voucher_verify() as a host checks a voucher: audience fleet_id (set)
 * against issuers, or failing those the fleet's keys; any other
 * audience (host_id, or none) against issuers only. A voucher bound
 * elsewhere is -EACCES, the message naming its audience and this host's
 * fleet. Pure, for the unit tests. */
int keys_verify_audience(const struct crypto_keyring *issuers, const struct crypto_keyring *fleet_keyring,
                         const char *currency, const char *host_id, const char *fleet_id, const struct voucher *v,
                         int64_t now, char **ret_error);

/* voucher_verify() against the trusted issuers, the running currency
 * and this host's id, now. */
int keys_verify_voucher(struct keys *k, const struct voucher *v, char **ret_error);

/* The same off the event loop (verify.c): a snapshot of what a voucher is
 * checked against, which a reload replaces and never changes. Take and
 * drop references on the event loop's thread; keys_issuers_verify() may
 * run on any thread while a reference is held. A verdict is current
 * while its snapshot is the one trusted now. */
struct keys_issuers;
struct keys_issuers *keys_issuers_ref(struct keys *k);
void keys_issuers_unref(struct keys_issuers *is); /* accepts NULL */
bool keys_issuers_current(const struct keys *k, const struct keys_issuers *is);
int keys_issuers_verify(const struct keys_issuers *is, const struct voucher *v, int64_t now, char **ret_error);
/* The change for amount: vouchers signed by this host, one per line, as
 * few as can be; returns how many. */
int keys_make_change(struct keys *k, int64_t amount, char ret[static LEDGER_CHANGE_MAX]);

/* A receipt (prepay-receipt(5)) of what r says was paid: the caller sets
 * kind, slice, request_id, amount, balance and the vouchers; this host's
 * id, the running currency and the time (now) are set here, and it is
 * signed with the host key. Its text in ret. -EINVAL for a field out of
 * range. */
int keys_make_receipt(struct keys *k, struct receipt *r, char ret[static RECEIPT_TEXT_MAX]);
/* This host's id (the audience its change names), and its public key as
 * one line (crypto_key_public_to_text()): what "quote" tells buyers, and
 * what "prepay receipt verify --key" takes. */
const char *keys_host_id(const struct keys *k);
/* The audience of the change this host signs: FleetId=, else HostId=. */
const char *keys_change_audience(const struct keys *k);
char *keys_host_public_text(const struct keys *k, char ret[static CRYPTO_PUBKEY_TEXT_MAX]);
