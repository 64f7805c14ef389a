/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "crypto.h"
#include "encoding.h"
#include "log.h"
#include "util.h"

/* OpenSSL reports its failures on a per-thread error queue. Every failure
 * here is turned into an errno at once and the queue emptied, so that a
 * stale entry can never be mistaken for the cause of a later failure. */

struct crypto_key {
        EVP_PKEY *pkey;
        bool has_private;
        uint8_t pub[CRYPTO_PUBKEY_SIZE];
        uint8_t id[CRYPTO_KEY_ID_SIZE];
};

struct crypto_hash {
        EVP_MD_CTX *ctx;
};

struct crypto_keyring {
        struct crypto_key **keys;
        size_t n_keys;
        size_t n_allocated;
};

/* For the void functions (hashes): OpenSSL fails there only when it cannot
 * allocate, and a wrong hash would silently corrupt a ledger chain. */
static _Noreturn void crypto_fatal(const char *what) {
        ERR_clear_error();
        log_error("OpenSSL failed to %s, cannot continue.", what);
        abort();
}

static void set_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static void set_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        if (!ret_error)
                return;
        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
}

/* Takes pkey (freed on failure). */
static int key_new(EVP_PKEY *pkey, bool has_private, struct crypto_key **ret) {
        uint8_t digest[CRYPTO_SHA256_SIZE];
        size_t len = CRYPTO_PUBKEY_SIZE;
        struct crypto_key *k;

        if (!EVP_PKEY_is_a(pkey, "ED25519")) {
                EVP_PKEY_free(pkey);
                return -EINVAL;
        }

        k = calloc(1, sizeof(*k));
        if (!k) {
                EVP_PKEY_free(pkey);
                return -ENOMEM;
        }
        k->pkey = pkey;
        k->has_private = has_private;

        if (EVP_PKEY_get_raw_public_key(pkey, k->pub, &len) != 1 || len != CRYPTO_PUBKEY_SIZE) {
                ERR_clear_error();
                crypto_key_free(k);
                return -EIO;
        }

        /* The id is a digest of the raw public key alone, so that anyone
         * can compute it from the key with standard tools. */
        crypto_sha256(k->pub, sizeof(k->pub), digest);
        memcpy(k->id, digest, sizeof(k->id));

        *ret = k;
        return 0;
}

int crypto_key_generate(struct crypto_key **ret) {
        EVP_PKEY *pkey;

        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        if (!pkey) {
                ERR_clear_error();
                return -EIO;
        }
        return key_new(pkey, true, ret);
}

int crypto_key_from_seed(const uint8_t seed[CRYPTO_SEED_SIZE], struct crypto_key **ret) {
        EVP_PKEY *pkey;

        pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519", NULL, seed, CRYPTO_SEED_SIZE);
        if (!pkey) {
                ERR_clear_error();
                return -EIO;
        }
        return key_new(pkey, true, ret);
}

/* A key file is never encrypted here: refuse rather than let OpenSSL ask
 * for a passphrase on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
        return -1;
}

static EVP_PKEY *pem_read(const char *data, size_t size, bool private) {
        EVP_PKEY *pkey;
        BIO *bio;

        bio = BIO_new_mem_buf(data, (int) size);
        if (!bio)
                return NULL;
        if (private)
                pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
        else
                pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
        ERR_clear_error();
        return pkey;
}

int crypto_key_load(const char *path, struct crypto_key **ret, char **ret_error) {
        _cleanup_(freep) char *data = NULL;
        EVP_PKEY *pkey;
        bool private = true;
        size_t size;
        int r;

        /* At most a few MiB (read_full_file() refuses more), so the size
         * fits the int that BIO_new_mem_buf() takes. */
        r = read_full_file(path, &data, &size);
        if (r < 0) {
                set_error(ret_error, "cannot read it: %s", strerror(-r));
                return r;
        }

        pkey = pem_read(data, size, true);
        if (!pkey) {
                private = false;
                pkey = pem_read(data, size, false);
        }
        if (!pkey) {
                if (strstr(data, "-----BEGIN ENCRYPTED PRIVATE KEY-----"))
                        set_error(ret_error, "an encrypted private key; prepay reads unencrypted ones only");
                else
                        set_error(ret_error, "no PEM private or public key in it");
                OPENSSL_cleanse(data, size);
                return -EINVAL;
        }
        OPENSSL_cleanse(data, size);
        if (!EVP_PKEY_is_a(pkey, "ED25519")) {
                set_error(ret_error, "not an Ed25519 key (%s %s key)", strna(EVP_PKEY_get0_type_name(pkey)),
                          private ? "private" : "public");
                EVP_PKEY_free(pkey);
                return -EINVAL;
        }

        r = key_new(pkey, private, ret);
        if (r < 0)
                set_error(ret_error, "cannot use it: %s", strerror(-r));
        return r;
}

/* Creates path exclusively with exactly mode (whatever the umask), writes
 * data and syncs it; on failure nothing is left at path. */
static int write_new_file(const char *path, mode_t mode, const char *data, size_t size) {
        _cleanup_(closep) int fd = -1;
        size_t done = 0;
        int r;

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, mode);
        if (fd < 0)
                return -errno;

        if (fchmod(fd, mode) < 0)
                goto fail_errno;
        while (done < size) {
                ssize_t n = write(fd, data + done, size - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        goto fail_errno;
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0)
                goto fail_errno;
        r = close(TAKE_FD(fd));
        if (r < 0)
                goto fail_errno;
        return 0;

fail_errno:
        r = -errno;
        (void) unlink(path);
        return r;
}

static int save_pem(const struct crypto_key *k, const char *path, bool private) {
        BIO *bio;
        char *data;
        long size;
        int r;

        /* The private key's PEM lives in secure memory, wiped when freed. */
        bio = BIO_new(private ? BIO_s_secmem() : BIO_s_mem());
        if (!bio)
                return -ENOMEM;

        if (private)
                r = PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL);
        else
                r = PEM_write_bio_PUBKEY(bio, k->pkey);
        if (r != 1) {
                ERR_clear_error();
                BIO_free(bio);
                return -EIO;
        }

        size = BIO_get_mem_data(bio, &data);
        r = write_new_file(path, private ? 0600 : 0644, data, (size_t) size);
        BIO_free(bio);
        return r;
}

int crypto_key_save_private(const struct crypto_key *k, const char *path) {
        if (!k || !k->has_private)
                return -EINVAL;
        return save_pem(k, path, true);
}

int crypto_key_save_public(const struct crypto_key *k, const char *path) {
        if (!k)
                return -EINVAL;
        return save_pem(k, path, false);
}

/* RFC 8410 section 4: the DER of an Ed25519 SubjectPublicKeyInfo is this
 * and the raw key; its base64 is the PEM file's one line of body. */
static const uint8_t spki_ed25519_prefix[12] = {
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
};
#define SPKI_SIZE (sizeof(spki_ed25519_prefix) + CRYPTO_PUBKEY_SIZE)
_Static_assert(CRYPTO_PUBKEY_TEXT_MAX == BASE64_LEN(SPKI_SIZE) + 1, "CRYPTO_PUBKEY_TEXT_MAX and the DER disagree");

char *crypto_key_public_to_text(const struct crypto_key *k, char *buf) {
        uint8_t der[SPKI_SIZE];

        memcpy(der, spki_ed25519_prefix, sizeof(spki_ed25519_prefix));
        memcpy(der + sizeof(spki_ed25519_prefix), k->pub, CRYPTO_PUBKEY_SIZE);
        return base64_encode(der, sizeof(der), buf);
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int crypto_key_from_public_text(const char *s, struct crypto_key **ret) {
        uint8_t der[SPKI_SIZE + 1];
        EVP_PKEY *pkey;
        size_t len, size;

        if (!s)
                return -EINVAL;
        while (is_space(*s))
                s++;
        len = strlen(s);
        while (len > 0 && is_space(s[len - 1]))
                len--;

        /* A .pub file pasted whole: OpenSSL reads the armor, and a private
         * key's armor is not a public key's. */
        if (len >= 5 && strneq(s, "-----", 5)) {
                pkey = pem_read(s, len, false);
                if (!pkey)
                        return -EINVAL;
                return key_new(pkey, false, ret);
        }

        if (len != BASE64_LEN(SPKI_SIZE) || base64_decode(s, len, der, sizeof(der), &size) < 0 || size != SPKI_SIZE ||
            memcmp(der, spki_ed25519_prefix, sizeof(spki_ed25519_prefix)) != 0)
                return -EINVAL;
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, der + sizeof(spki_ed25519_prefix),
                                              CRYPTO_PUBKEY_SIZE);
        if (!pkey) {
                ERR_clear_error();
                return -EINVAL;
        }
        return key_new(pkey, false, ret);
}

void crypto_key_free(struct crypto_key *k) {
        if (!k)
                return;
        EVP_PKEY_free(k->pkey);
        free(k);
}

bool crypto_key_has_private(const struct crypto_key *k) {
        return k && k->has_private;
}

void crypto_key_id(const struct crypto_key *k, uint8_t ret[CRYPTO_KEY_ID_SIZE]) {
        memcpy(ret, k->id, CRYPTO_KEY_ID_SIZE);
}

void crypto_key_public_raw(const struct crypto_key *k, uint8_t ret[CRYPTO_PUBKEY_SIZE]) {
        memcpy(ret, k->pub, CRYPTO_PUBKEY_SIZE);
}

int crypto_sign(const struct crypto_key *k, const void *msg, size_t len, uint8_t ret_sig[CRYPTO_SIG_SIZE]) {
        uint8_t sig[CRYPTO_SIG_SIZE];
        size_t sig_len = sizeof(sig);
        EVP_MD_CTX *ctx;
        int r = 0;

        if (!k || !k->has_private)
                return -EINVAL;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        /* No digest: Ed25519 hashes the whole message itself (pure
         * Ed25519, RFC 8032), which is what "openssl pkeyutl -rawin" does. */
        if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) != 1 ||
            EVP_DigestSign(ctx, sig, &sig_len, msg ?: (const void *) "", len) != 1 || sig_len != sizeof(sig)) {
                ERR_clear_error();
                r = -EIO;
        }
        EVP_MD_CTX_free(ctx);
        if (r < 0)
                return r;

        memcpy(ret_sig, sig, sizeof(sig));
        return 0;
}

int crypto_verify(const struct crypto_key *k, const void *msg, size_t len, const uint8_t sig[CRYPTO_SIG_SIZE]) {
        EVP_MD_CTX *ctx;
        int r;

        if (!k)
                return -EINVAL;

        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
            EVP_DigestVerify(ctx, sig, CRYPTO_SIG_SIZE, msg ?: (const void *) "", len) == 1)
                r = 0;
        else
                r = -EBADMSG;
        ERR_clear_error();
        EVP_MD_CTX_free(ctx);
        return r;
}

void crypto_sha256(const void *data, size_t len, uint8_t ret[CRYPTO_SHA256_SIZE]) {
        unsigned size = 0;

        if (EVP_Digest(data ?: (const void *) "", len, ret, &size, EVP_sha256(), NULL) != 1 ||
            size != CRYPTO_SHA256_SIZE)
                crypto_fatal("compute SHA-256");
}

int crypto_hash_new(struct crypto_hash **ret) {
        struct crypto_hash *h;

        h = calloc(1, sizeof(*h));
        if (!h)
                return -ENOMEM;
        h->ctx = EVP_MD_CTX_new();
        if (!h->ctx) {
                free(h);
                return -ENOMEM;
        }
        if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
                ERR_clear_error();
                crypto_hash_free(h);
                return -EIO;
        }

        *ret = h;
        return 0;
}

void crypto_hash_update(struct crypto_hash *h, const void *data, size_t len) {
        if (len == 0)
                return;
        if (EVP_DigestUpdate(h->ctx, data, len) != 1)
                crypto_fatal("compute SHA-256");
}

void crypto_hash_final(struct crypto_hash *h, uint8_t ret[CRYPTO_SHA256_SIZE]) {
        unsigned size = 0;

        if (EVP_DigestFinal_ex(h->ctx, ret, &size) != 1 || size != CRYPTO_SHA256_SIZE ||
            EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
                crypto_fatal("compute SHA-256");
}

void crypto_hash_free(struct crypto_hash *h) {
        if (!h)
                return;
        EVP_MD_CTX_free(h->ctx);
        free(h);
}

void crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                        uint8_t ret[CRYPTO_SHA256_SIZE]) {
        size_t size = 0;

        if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key ?: (const void *) "", key_len,
                       msg ?: (const void *) "", len, ret, CRYPTO_SHA256_SIZE, &size) ||
            size != CRYPTO_SHA256_SIZE)
                crypto_fatal("compute HMAC-SHA-256");
}

int crypto_random(void *buf, size_t len) {
        uint8_t *p = buf;

        /* getrandom() may return fewer bytes than asked for above 256;
         * without GRND_NONBLOCK it waits for the pool at early boot. */
        while (len > 0) {
                ssize_t n = getrandom(p, len, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t) n;
        }
        return 0;
}

bool crypto_equal(const void *a, const void *b, size_t len) {
        return CRYPTO_memcmp(a, b, len) == 0;
}

int crypto_keyring_new(struct crypto_keyring **ret) {
        struct crypto_keyring *kr;

        kr = calloc(1, sizeof(*kr));
        if (!kr)
                return -ENOMEM;
        *ret = kr;
        return 0;
}

int crypto_keyring_add(struct crypto_keyring *kr, struct crypto_key *k) {
        int r;

        if (!kr || !k) {
                crypto_key_free(k);
                return -EINVAL;
        }
        if (crypto_keyring_find(kr, k->id)) {
                crypto_key_free(k);
                return -EEXIST;
        }

        /* A keyring only verifies: keep no private key in memory. */
        if (k->has_private) {
                struct crypto_key *pub;
                EVP_PKEY *pkey;

                pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, k->pub, sizeof(k->pub));
                crypto_key_free(k);
                if (!pkey) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
                r = key_new(pkey, false, &pub);
                if (r < 0)
                        return r;
                k = pub;
        }

        if (kr->n_keys == kr->n_allocated) {
                size_t n = kr->n_allocated ? kr->n_allocated * 2 : 8;
                struct crypto_key **keys;

                keys = reallocarray(kr->keys, n, sizeof(*keys));
                if (!keys) {
                        crypto_key_free(k);
                        return -ENOMEM;
                }
                kr->keys = keys;
                kr->n_allocated = n;
        }

        kr->keys[kr->n_keys++] = k;
        return 0;
}

static bool key_file_name(const char *name) {
        size_t n = strlen(name);

        if (name[0] == '.')
                return false;
        return (n > 4 && streq(name + n - 4, ".pem")) || (n > 4 && streq(name + n - 4, ".pub"));
}

static int filter_key_files(const struct dirent *de) {
        return key_file_name(de->d_name);
}

int crypto_keyring_load_dir(struct crypto_keyring *kr, const char *dir) {
        struct dirent **names = NULL;
        int n, added = 0, r = 0;

        /* Sorted, so that which of two files with the same key is the one
         * skipped does not depend on the directory's order. */
        n = scandir(dir, &names, filter_key_files, alphasort);
        if (n < 0) {
                if (errno == ENOENT)
                        return 0;
                return -errno;
        }

        for (int i = 0; i < n; i++) {
                _cleanup_(freep) char *path = NULL, *error = NULL;
                char id[2 * CRYPTO_KEY_ID_SIZE + 1];
                struct crypto_key *k;
                struct stat st;

                if (asprintf(&path, "%s/%s", dir, names[i]->d_name) < 0) {
                        path = NULL;
                        r = -ENOMEM;
                        break;
                }
                if (stat(path, &st) < 0) {
                        log_warning_errno(errno, "Skipping issuer key %s: %m", path);
                        continue;
                }
                if (!S_ISREG(st.st_mode)) {
                        log_warning("Skipping issuer key %s: not a regular file", path);
                        continue;
                }

                if (crypto_key_load(path, &k, &error) < 0) {
                        log_warning("Skipping issuer key %s: %s", path, strna(error));
                        continue;
                }

                hex_encode(k->id, sizeof(k->id), id);
                r = crypto_keyring_add(kr, k);
                if (r == -EEXIST) {
                        log_warning("Skipping issuer key %s: key %s is already trusted (from another file)", path, id);
                        r = 0;
                        continue;
                }
                if (r < 0)
                        break;

                log_debug("Trusting issuer key %s from %s", id, path);
                added++;
        }

        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r < 0 ? r : added;
}

const struct crypto_key *crypto_keyring_find(const struct crypto_keyring *kr, const uint8_t id[CRYPTO_KEY_ID_SIZE]) {
        if (!kr)
                return NULL;
        /* Key ids are public: no need for a constant-time comparison. */
        for (size_t i = 0; i < kr->n_keys; i++)
                if (memcmp(kr->keys[i]->id, id, CRYPTO_KEY_ID_SIZE) == 0)
                        return kr->keys[i];
        return NULL;
}

size_t crypto_keyring_size(const struct crypto_keyring *kr) {
        return kr ? kr->n_keys : 0;
}

void crypto_keyring_free(struct crypto_keyring *kr) {
        if (!kr)
                return;
        for (size_t i = 0; i < kr->n_keys; i++)
                crypto_key_free(kr->keys[i]);
        free(kr->keys);
        free(kr);
}

/* PEM text of what write() puts into a memory BIO, NUL-terminated. */
static char *bio_to_string(BIO *bio) {
        char *data, *s;
        long n;

        n = BIO_get_mem_data(bio, &data);
        if (n < 0)
                return NULL;
        s = malloc((size_t) n + 1);
        if (!s)
                return NULL;
        memcpy(s, data, (size_t) n);
        s[n] = 0;
        return s;
}

static X509 *self_signed_new(EVP_PKEY *pkey, const char *cn) {
        uint8_t serial[16];
        BIGNUM *bn = NULL;
        X509_NAME *name;
        X509 *x;

        x = X509_new();
        if (!x)
                return NULL;
        if (crypto_random(serial, sizeof(serial)) < 0)
                goto fail;
        serial[0] &= 0x7f; /* a positive INTEGER */
        bn = BN_bin2bn(serial, sizeof(serial), NULL);
        if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
                goto fail;
        if (!X509_set_version(x, 2) || !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
            !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400) || !X509_set_pubkey(x, pkey))
                goto fail;
        name = X509_get_subject_name(x);
        if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) ||
            !X509_set_issuer_name(x, name))
                goto fail;
        if (!X509_sign(x, pkey, EVP_sha256()))
                goto fail;
        BN_free(bn);
        return x;

fail:
        BN_free(bn);
        X509_free(x);
        return NULL;
}

int crypto_make_self_signed(const char *cn, char **ret_cert_pem, char **ret_key_pem) {
        EVP_PKEY *pkey;
        BIO *cb = NULL, *kb = NULL;
        char *cert = NULL, *key = NULL;
        X509 *x = NULL;
        int r = -EIO;

        pkey = EVP_EC_gen("P-256");
        if (!pkey)
                goto out;
        x = self_signed_new(pkey, cn);
        if (!x)
                goto out;
        cb = BIO_new(BIO_s_mem());
        kb = BIO_new(BIO_s_secmem());
        if (!cb || !kb || !PEM_write_bio_X509(cb, x) ||
            !PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL))
                goto out;
        cert = bio_to_string(cb);
        key = bio_to_string(kb);
        if (!cert || !key) {
                r = -ENOMEM;
                goto out;
        }
        *ret_cert_pem = TAKE_PTR(cert);
        *ret_key_pem = TAKE_PTR(key);
        r = 0;
out:
        free(cert);
        if (key) {
                OPENSSL_cleanse(key, strlen(key));
                free(key);
        }
        BIO_free(cb);
        BIO_free(kb);
        X509_free(x);
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return r;
}

int crypto_spki_sha256_of_pem(const char *cert_pem, size_t size, char ret[CRYPTO_PIN_SIZE]) {
        uint8_t digest[CRYPTO_SHA256_SIZE];
        unsigned char *der = NULL;
        X509 *x = NULL;
        BIO *bio;
        int n;

        bio = BIO_new_mem_buf(cert_pem, (int) size);
        if (!bio)
                return -ENOMEM;
        x = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
        BIO_free(bio);
        ERR_clear_error();
        if (!x)
                return -EINVAL;
        n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
        X509_free(x);
        if (n <= 0)
                return -EINVAL;
        crypto_sha256(der, (size_t) n, digest);
        OPENSSL_free(der);
        base64_encode(digest, sizeof(digest), ret);
        return 0;
}
