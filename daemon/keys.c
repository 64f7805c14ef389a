/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/encoding.h"
#include "common/log.h"
#include "common/money.h"
#include "common/util.h"
#include "config.h"
#include "keys.h"

/* What a voucher is checked against, never changed once made: a reload
 * makes a new one. A check on a worker thread holds a reference, so the
 * keys it reads stay until it is done. References are taken and dropped
 * on the event loop's thread only (verify.c hands the jobs back there),
 * so the count needs no atomics. */
struct keys_issuers {
        unsigned n_ref;
        uint64_t generation;
        struct crypto_keyring *keyring;
        char currency[CURRENCY_SIZE];
        char host_id[VOUCHER_AUDIENCE_MAX + 1];
        /* FleetId= ("": none), and the change-signing keys the hosts of
         * that fleet published in the fleet database: the only keys a
         * voucher bound to the fleet is checked against besides the
         * operators' (keyring). */
        char fleet_id[VOUCHER_AUDIENCE_MAX + 1];
        struct crypto_keyring *fleet_keyring;
};

struct keys {
        const struct config *config;
        struct keys_issuers *issuers;
        uint64_t generation; /* of the last snapshot made */
        struct crypto_key *host_key;
        uint8_t secret[32];
        char host_id[VOUCHER_AUDIENCE_MAX + 1];
        /* The fleet's keys as last read (keys_set_fleet_keys()): one
         * public key line each; NULL before the first read. */
        char *fleet_keys;
};

/* HostKey=, or StateDirectory/host-issuer.key; NULL when out of memory. */
static char *host_key_path(const struct config *cfg) {
        char *path;

        if (cfg->host_key && cfg->host_key[0])
                return strdup(cfg->host_key);
        if (asprintf(&path, "%s/host-issuer.key", cfg->state_directory) < 0)
                return NULL;
        return path;
}

void keys_make_token(struct keys *k, const char *slice_id, char ret[static OWNER_TOKEN_MAX]) {
        uint8_t mac[CRYPTO_SHA256_SIZE];
        char msg[64];
        int n;

        n = snprintf(msg, sizeof(msg), "prepay owner token %s", slice_id);
        crypto_hmac_sha256(k->secret, sizeof(k->secret), msg, (size_t) n, mac);
        memcpy(ret, "pt-", 3);
        base64url_encode(mac, sizeof(mac), ret + 3);
}

void keys_make_bid_token(struct keys *k, const char *slice_id, uint64_t n, char ret[static OWNER_TOKEN_MAX]) {
        uint8_t mac[CRYPTO_SHA256_SIZE];
        char msg[80];
        int len;

        /* Another message than an owner token's: one never opens the other. */
        len = snprintf(msg, sizeof(msg), "prepay bid token %s %" PRIu64, slice_id, n);
        crypto_hmac_sha256(k->secret, sizeof(k->secret), msg, (size_t) len, mac);
        memcpy(ret, "bt-", 3);
        base64url_encode(mac, sizeof(mac), ret + 3);
}

bool keys_check_bid_token(struct keys *k, const char *slice_id, uint64_t n, const char *token) {
        char want[OWNER_TOKEN_MAX];

        if (!token || strlen(token) >= OWNER_TOKEN_MAX)
                return false;
        keys_make_bid_token(k, slice_id, n, want);
        return strlen(token) == strlen(want) && crypto_equal(want, token, strlen(want));
}

void keys_token_hash(const char *token, uint8_t ret[static CRYPTO_SHA256_SIZE]) {
        crypto_sha256(token, strlen(token), ret);
}

bool keys_check_token(const uint8_t owner_hash[static CRYPTO_SHA256_SIZE], const char *token) {
        uint8_t h[CRYPTO_SHA256_SIZE];

        if (!token || strlen(token) >= OWNER_TOKEN_MAX)
                return false;
        keys_token_hash(token, h);
        return crypto_equal(h, owner_hash, sizeof(h));
}

/* The change for amount: vouchers signed by this host, one per line, as
 * few as can be, each at most what a voucher may hold (10^15 micro-units,
 * prepay-voucher(5)); a balance holds at most LEDGER_CHANGE_VOUCHERS_MAX
 * of them (ledger_redeem() sees to it). */
int keys_make_change(struct keys *k, int64_t amount, char ret[static LEDGER_CHANGE_MAX]) {
        const struct config *cfg = k->config;
        int64_t now = (int64_t) time(NULL), parts[LEDGER_CHANGE_VOUCHERS_MAX];
        char text[VOUCHER_TEXT_MAX];
        size_t len = 0;
        int n, q;

        n = money_split(amount, MONEY_AMOUNT_MAX, parts, ARRAY_SIZE(parts));
        if (n < 0)
                return n;
        for (int i = 0; i < n; i++) {
                struct voucher v = {
                        .amount = parts[i],
                        /* A little slack for clocks of other hosts' verifiers. */
                        .not_before = now - 300,
                        .not_after = now + (int64_t) (cfg->change_validity_usec / USEC_PER_SEC),
                };

                snprintf(v.currency, sizeof(v.currency), "%s", cfg->currency);
                /* Bound to the fleet, when there is one: every host of
                 * it takes this host's key (keys_set_fleet_keys()), and
                 * the shared spent set takes it once. */
                snprintf(v.audience, sizeof(v.audience), "%s", keys_change_audience(k));
                q = crypto_random(v.id, sizeof(v.id));
                if (q >= 0)
                        q = voucher_sign(&v, k->host_key);
                if (q >= 0)
                        q = voucher_to_text(&v, text, sizeof(text));
                if (q < 0)
                        return q;
                /* Each line is shorter than VOUCHER_TEXT_MAX: n of them fit. */
                len += (size_t) snprintf(ret + len, LEDGER_CHANGE_MAX - len, "%s%s", i > 0 ? "\n" : "", text);
        }
        return n;
}

_Static_assert(RECEIPT_AMOUNT_MAX == LEDGER_BALANCE_MAX, "a receipt holds any balance the ledger does");

int keys_make_receipt(struct keys *k, struct receipt *r, char ret[static RECEIPT_TEXT_MAX]) {
        int q;

        snprintf(r->currency, sizeof(r->currency), "%s", k->config->currency);
        snprintf(r->host_id, sizeof(r->host_id), "%s", k->host_id);
        r->time_usec = (int64_t) now_usec(CLOCK_REALTIME);
        q = receipt_sign(r, k->host_key);
        if (q < 0)
                return q;
        return receipt_to_text(r, ret, RECEIPT_TEXT_MAX);
}

const char *keys_host_id(const struct keys *k) {
        return k->host_id;
}

const char *keys_change_audience(const struct keys *k) {
        const char *fleet = k->config->fleet_id;

        return fleet && fleet[0] ? fleet : k->host_id;
}

char *keys_host_public_text(const struct keys *k, char ret[static CRYPTO_PUBKEY_TEXT_MAX]) {
        return crypto_key_public_to_text(k->host_key, ret);
}

static int load_secret(struct keys *k, const char *dir) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(closep) int fd = -1;
        ssize_t n;
        int r;

        if (asprintf(&path, "%s/owner-secret", dir) < 0)
                return log_oom();
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd >= 0) {
                n = read(fd, k->secret, sizeof(k->secret));
                if (n != (ssize_t) sizeof(k->secret))
                        return log_error_errno(n < 0 ? errno : EBADMSG, "Failed to read %s: %s", path,
                                               n < 0 ? strerror(errno) : "too short");
                return 0;
        }
        if (errno != ENOENT)
                return log_error_errno(errno, "Failed to open %s: %m", path);

        r = crypto_random(k->secret, sizeof(k->secret));
        if (r < 0)
                return log_error_errno(r, "Failed to get random bytes: %m");
        r = write_file_atomic(path, (const char *) k->secret, sizeof(k->secret));
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", path);
        (void) chmod(path, 0600);
        return 0;
}

static int load_host_key(struct keys *k) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        struct crypto_key *pub = NULL;
        char id[2 * CRYPTO_KEY_ID_SIZE + 1];
        uint8_t kid[CRYPTO_KEY_ID_SIZE];
        int r;

        path = host_key_path(k->config);
        if (!path)
                return log_oom();

        r = crypto_key_load(path, &k->host_key, &error);
        if (r == -ENOENT) {
                r = crypto_key_generate(&k->host_key);
                if (r >= 0)
                        r = crypto_key_save_private(k->host_key, path);
                if (r < 0)
                        return log_error_errno(r, "Failed to make this host's issuer key %s: %m", path);
                log_info("Made this host's issuer key %s (it signs change and receipts only).", path);
        } else if (r < 0)
                return log_error_errno(r, "Failed to load this host's issuer key %s: %s", path, error ?: strerror(-r));
        if (!crypto_key_has_private(k->host_key))
                return log_error_errno(EINVAL, "Host key %s holds no private key.", path);

        /* Change this host signed is money this host takes back. */
        r = crypto_key_load(path, &pub, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to reload %s: %s", path, error ?: strerror(-r));
        crypto_key_id(pub, kid);
        r = crypto_keyring_add(k->issuers->keyring, pub);
        if (r < 0 && r != -EEXIST)
                return log_error_errno(r, "Failed to trust this host's key: %m");
        log_debug("Host issuer key %s.", hex_encode(kid, sizeof(kid), id));
        return 0;
}

static int load_host_id(struct keys *k) {
        _cleanup_(freep) char *line = NULL;
        const char *id = k->config->host_id;
        int r;

        if (!id || !id[0]) {
                r = read_one_line_file("/etc/machine-id", &line);
                if (r < 0 || !voucher_audience_is_valid(line)) {
                        char host[VOUCHER_AUDIENCE_MAX + 1] = "";

                        (void) gethostname(host, sizeof(host) - 1);
                        free(line);
                        line = strdup(host);
                        if (!line)
                                return log_oom();
                }
                id = line;
        }
        if (!voucher_audience_is_valid(id))
                return log_error_errno(EINVAL, "Host id \"%s\" is not usable as a voucher audience; set HostId=.", id);
        /* One audience for two things would let the fleet's keys sign
         * for this host alone. */
        if (k->config->fleet_id && streq(k->config->fleet_id, id))
                return log_error_errno(EINVAL, "FleetId=%s is this host's id too; give the fleet an id no host has.",
                                       id);
        snprintf(k->host_id, sizeof(k->host_id), "%s", id);
        return 0;
}

int keys_parse_fleet_keys(const char *text, struct crypto_keyring **ret) {
        struct crypto_keyring *kr = NULL;
        const char *p = text ?: "";
        int r, n = 0;

        r = crypto_keyring_new(&kr);
        if (r < 0)
                return r;
        while (*p) {
                size_t len = strcspn(p, "\n");
                struct crypto_key *key = NULL;
                char line[CRYPTO_PUBKEY_TEXT_MAX];

                if (len > 0 && len < sizeof(line)) {
                        memcpy(line, p, len);
                        line[len] = 0;
                        /* A line that is no key is skipped, not fatal: one
                         * host's bad row does not cut the fleet off. */
                        if (crypto_key_from_public_text(line, &key) >= 0) {
                                r = crypto_keyring_add(kr, key);
                                if (r < 0 && r != -EEXIST) {
                                        crypto_keyring_free(kr);
                                        return r;
                                }
                                if (r >= 0)
                                        n++;
                        }
                }
                p += len;
                if (*p)
                        p++;
        }
        *ret = kr;
        return n;
}

/* A snapshot of kr (taken) with the running currency, host id and
 * fleet's keys. */
static int issuers_new(struct keys *k, struct crypto_keyring *kr, struct keys_issuers **ret) {
        struct keys_issuers *is;
        int r;

        is = calloc(1, sizeof(*is));
        if (!is) {
                crypto_keyring_free(kr);
                return -ENOMEM;
        }
        is->n_ref = 1;
        is->generation = ++k->generation;
        is->keyring = kr;
        snprintf(is->currency, sizeof(is->currency), "%s", k->config->currency);
        snprintf(is->host_id, sizeof(is->host_id), "%s", k->host_id);
        snprintf(is->fleet_id, sizeof(is->fleet_id), "%s", k->config->fleet_id ?: "");
        r = keys_parse_fleet_keys(k->fleet_keys, &is->fleet_keyring);
        if (r < 0) {
                crypto_keyring_free(kr);
                free(is);
                return r;
        }
        *ret = is;
        return 0;
}

struct keys_issuers *keys_issuers_ref(struct keys *k) {
        k->issuers->n_ref++;
        return k->issuers;
}

void keys_issuers_unref(struct keys_issuers *is) {
        if (!is || --is->n_ref > 0)
                return;
        crypto_keyring_free(is->keyring);
        crypto_keyring_free(is->fleet_keyring);
        free(is);
}

bool keys_issuers_current(const struct keys *k, const struct keys_issuers *is) {
        return is && is == k->issuers;
}

int keys_verify_audience(const struct crypto_keyring *issuers, const struct crypto_keyring *fleet_keyring,
                         const char *currency, const char *host_id, const char *fleet_id, const struct voucher *v,
                         int64_t now, char **ret_error) {
        _cleanup_(freep) char *error = NULL;
        int r;

        if (fleet_id && fleet_id[0] && streq(v->audience, fleet_id)) {
                /* Bound to this host's fleet: an operator's key as
                 * anywhere, or a key a host of the fleet published.
                 * Never the fleet's keys for anything else: they sign
                 * change, not vouchers for one host or for any. */
                r = voucher_verify(v, issuers, now, currency, fleet_id, ret_error);
                if (r != -ENOKEY || !fleet_keyring || !crypto_keyring_find(fleet_keyring, v->issuer))
                        return r;
                if (ret_error) {
                        free(*ret_error);
                        *ret_error = NULL;
                }
                return voucher_verify(v, fleet_keyring, now, currency, fleet_id, ret_error);
        }
        r = voucher_verify(v, issuers, now, currency, host_id, &error);
        if ((r == -EACCES || r == -ENOKEY) && v->audience[0] && !streq(v->audience, host_id) && ret_error) {
                /* Bound elsewhere, perhaps to a fleet: say where, and
                 * which fleet this host is in. */
                const char *fleet = fleet_id && fleet_id[0] ? fleet_id : NULL;
                int q;

                if (r == -EACCES)
                        q = asprintf(ret_error, "%s (%s%s)", error,
                                     fleet ? "of fleet " : "in no fleet: FleetId= is not set", fleet ?: "");
                else
                        q = asprintf(ret_error, "%s; it is bound to %s, this is host %s (%s%s)", error, v->audience,
                                     host_id, fleet ? "of fleet " : "in no fleet: FleetId= is not set", fleet ?: "");
                if (q < 0) {
                        *ret_error = NULL;
                        return -ENOMEM;
                }
                return r;
        }
        if (ret_error && error)
                *ret_error = TAKE_PTR(error);
        return r;
}

int keys_issuers_verify(const struct keys_issuers *is, const struct voucher *v, int64_t now, char **ret_error) {
        return keys_verify_audience(is->keyring, is->fleet_keyring, is->currency, is->host_id, is->fleet_id, v, now,
                                    ret_error);
}

/* A new snapshot with the issuers of kr (taken) in place of the one
 * trusted now. */
static int issuers_replace(struct keys *k, struct crypto_keyring *kr) {
        struct keys_issuers *is;
        int r;

        r = issuers_new(k, kr, &is);
        if (r < 0)
                return r;
        /* Checks still running keep the old snapshot until they are done;
         * their verdicts are not current any more (keys_issuers_current()). */
        keys_issuers_unref(k->issuers);
        k->issuers = is;
        return 0;
}

int keys_reload_issuers(struct keys *k) {
        const struct config *cfg = k->config;
        _cleanup_(freep) char *path = NULL, *error = NULL;
        struct crypto_keyring *kr = NULL;
        struct crypto_key *pub = NULL;
        int r, n;

        path = host_key_path(cfg);
        if (!path)
                return log_oom();

        r = crypto_keyring_new(&kr);
        if (r < 0)
                return log_oom();
        n = crypto_keyring_load_dir(kr, cfg->issuers_directory);
        if (n < 0) {
                crypto_keyring_free(kr);
                return log_error_errno(n, "Failed to read issuer keys from %s, keeping the %zu trusted now: %m",
                                       cfg->issuers_directory, crypto_keyring_size(k->issuers->keyring));
        }
        r = crypto_key_load(path, &pub, &error);
        if (r >= 0)
                r = crypto_keyring_add(kr, pub);
        if (r < 0 && r != -EEXIST) {
                crypto_keyring_free(kr);
                return log_error_errno(r, "Failed to trust this host's key %s again, keeping the keys trusted now: %s",
                                       path, error ?: strerror(-r));
        }
        r = issuers_replace(k, kr);
        if (r < 0)
                return log_oom();
        log_info("Trusting %d issuer key%s from %s, and this host's.", n, n == 1 ? "" : "s", cfg->issuers_directory);
        return 0;
}

/* This host's public key into kr: change it signed is money it takes back. */
static int load_own_public(struct keys *k, struct crypto_keyring *kr) {
        _cleanup_(freep) char *path = NULL, *error = NULL;
        struct crypto_key *pub = NULL;
        int r;

        path = host_key_path(k->config);
        if (!path)
                return -ENOMEM;
        r = crypto_key_load(path, &pub, &error);
        if (r >= 0)
                r = crypto_keyring_add(kr, pub);
        return r == -EEXIST ? 0 : r;
}

int keys_set_fleet_keys(struct keys *k, const char *text) {
        _cleanup_(freep) char *copy = NULL;
        _cleanup_(freep) char *old = NULL;
        struct crypto_keyring *kr = NULL;
        int r, n;

        if (k->fleet_keys && streq(k->fleet_keys, text ?: ""))
                return 0;
        copy = strdup(text ?: "");
        if (!copy)
                return log_oom();
        /* The issuers trusted now, again from disk: a snapshot owns its
         * keyring. Rare: only when a host of the fleet published a key. */
        r = crypto_keyring_new(&kr);
        if (r < 0)
                return log_oom();
        r = crypto_keyring_load_dir(kr, k->config->issuers_directory);
        if (r >= 0)
                r = load_own_public(k, kr);
        if (r < 0) {
                crypto_keyring_free(kr);
                return log_error_errno(r, "Failed to read the issuer keys again for the fleet's keys, keeping "
                                          "the keys trusted now: %m");
        }
        old = k->fleet_keys;
        k->fleet_keys = TAKE_PTR(copy);
        r = issuers_replace(k, kr);
        if (r < 0) {
                free(k->fleet_keys);
                k->fleet_keys = TAKE_PTR(old);
                return log_oom();
        }
        n = crypto_keyring_size(k->issuers->fleet_keyring);
        log_info("Fleet %s: taking change signed by %d host key%s of the fleet.", k->config->fleet_id, n,
                 n == 1 ? "" : "s");
        return 0;
}

int keys_verify_voucher(struct keys *k, const struct voucher *v, char **ret_error) {
        return keys_issuers_verify(k->issuers, v, (int64_t) time(NULL), ret_error);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct keys *, keys_free);

int keys_new(const struct config *cfg, struct keys **ret) {
        _cleanup_(keys_freep) struct keys *k = NULL;
        struct crypto_keyring *kr = NULL;
        int r;

        k = calloc(1, sizeof(*k));
        if (!k)
                return log_oom();
        k->config = cfg;

        /* The host id first: the snapshot of the issuers names it. */
        r = load_host_id(k);
        if (r < 0)
                return r;
        r = crypto_keyring_new(&kr);
        if (r >= 0)
                r = issuers_new(k, kr, &k->issuers);
        if (r < 0)
                return log_oom();
        r = crypto_keyring_load_dir(k->issuers->keyring, cfg->issuers_directory);
        if (r < 0)
                return log_error_errno(r, "Failed to read issuer keys from %s: %m", cfg->issuers_directory);
        log_info("Trusting %d issuer key%s from %s.", r, r == 1 ? "" : "s", cfg->issuers_directory);

        r = load_host_key(k);
        if (r < 0)
                return r;
        r = load_secret(k, cfg->state_directory);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(k);
        return 0;
}

void keys_free(struct keys *k) {
        if (!k)
                return;
        keys_issuers_unref(k->issuers);
        free(k->fleet_keys);
        crypto_key_free(k->host_key);
        explicit_bzero(k->secret, sizeof(k->secret));
        free(k);
}
