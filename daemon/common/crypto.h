/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/encoding.h"

/* The only module that includes OpenSSL (3.x, EVP interfaces only):
 * Ed25519 keys and signatures, SHA-256, HMAC-SHA-256, random bytes.
 * Unit-tested in tests/unit/test-crypto.c. */

#define CRYPTO_SIG_SIZE 64
#define CRYPTO_PUBKEY_SIZE 32
#define CRYPTO_SHA256_SIZE 32
/* A key's id: the first 8 bytes of SHA-256 over its raw 32-byte public
 * key; printed as 16 lower-case hex digits. */
#define CRYPTO_KEY_ID_SIZE 8

struct crypto_key; /* an Ed25519 key: a private one (can sign) or public only */

int crypto_key_generate(struct crypto_key **ret);
/* The private key whose RFC 8032 seed (the 32 bytes that PKCS#8 holds and
 * "openssl genpkey" draws at random) is seed. Deterministic: for test
 * vectors and for tests that need a known key. */
#define CRYPTO_SEED_SIZE 32
int crypto_key_from_seed(const uint8_t seed[CRYPTO_SEED_SIZE], struct crypto_key **ret);
/* Reads a PEM file holding an Ed25519 private key (PKCS#8, as "openssl
 * genpkey -algorithm ed25519" writes) or public key (SubjectPublicKeyInfo,
 * "openssl pkey -pubout"). -EINVAL with a sentence in *ret_error (to free)
 * for anything else, e.g. "not an Ed25519 key"; -errno with a sentence
 * ("cannot read it: ...") when the file cannot be read. The sentence is
 * a clause to follow "<path>: ". ret_error may be NULL. */
int crypto_key_load(const char *path, struct crypto_key **ret, char **ret_error);
/* Writes the private key as PKCS#8 PEM, mode 0600, created exclusively:
 * -EEXIST rather than overwrite a key. -EINVAL if k has no private part. */
int crypto_key_save_private(const struct crypto_key *k, const char *path);
/* Writes the public key as PEM, mode 0644, created exclusively. */
int crypto_key_save_public(const struct crypto_key *k, const char *path);
/* A public key on one line: standard base64 of its DER SubjectPublicKeyInfo
 * (RFC 8410: 302a300506032b6570032100 and the raw 32-byte key), which is
 * exactly the line between the armor lines of the PEM file
 * crypto_key_save_public() and "prepay keygen" write ("MCowBQYDK2VwAyEA...").
 * buf holds CRYPTO_PUBKEY_TEXT_MAX. Returns buf. */
#define CRYPTO_PUBKEY_TEXT_MAX (BASE64_LEN(12 + CRYPTO_PUBKEY_SIZE) + 1)
char *crypto_key_public_to_text(const struct crypto_key *k, char *buf);
/* The public key of that line, or of a whole public key PEM text (a .pub
 * file's contents); white space around it is allowed. -EINVAL for
 * anything else, a private key included. */
int crypto_key_from_public_text(const char *s, struct crypto_key **ret);
void crypto_key_free(struct crypto_key *k);
bool crypto_key_has_private(const struct crypto_key *k);
void crypto_key_id(const struct crypto_key *k, uint8_t ret[CRYPTO_KEY_ID_SIZE]);
void crypto_key_public_raw(const struct crypto_key *k, uint8_t ret[CRYPTO_PUBKEY_SIZE]);

/* Pure Ed25519 (RFC 8032) over msg. -EINVAL without a private key. */
int crypto_sign(const struct crypto_key *k, const void *msg, size_t len, uint8_t ret_sig[CRYPTO_SIG_SIZE]);
/* 0 when sig is k's signature of msg, -EBADMSG when it is not. */
int crypto_verify(const struct crypto_key *k, const void *msg, size_t len, const uint8_t sig[CRYPTO_SIG_SIZE]);

void crypto_sha256(const void *data, size_t len, uint8_t ret[CRYPTO_SHA256_SIZE]);
/* Incremental SHA-256 for hash chains. */
struct crypto_hash;
int crypto_hash_new(struct crypto_hash **ret);
void crypto_hash_update(struct crypto_hash *h, const void *data, size_t len);
void crypto_hash_final(struct crypto_hash *h, uint8_t ret[CRYPTO_SHA256_SIZE]); /* and resets h */
void crypto_hash_free(struct crypto_hash *h);

void crypto_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t len,
                        uint8_t ret[CRYPTO_SHA256_SIZE]);
/* From the kernel's CSPRNG; -errno if it fails. */
int crypto_random(void *buf, size_t len);
/* Constant-time comparison. */
bool crypto_equal(const void *a, const void *b, size_t len);

/* A set of trusted public keys, found by id. */
struct crypto_keyring;
int crypto_keyring_new(struct crypto_keyring **ret);
/* Adds every "*.pem" and "*.pub" file in dir (a private key file adds its
 * public half). A file that cannot be read or is not an Ed25519 key is
 * logged with its name and skipped; a key id already present is skipped
 * with a warning. A missing directory is not an error (no key added).
 * Returns the number of keys added, or -errno if dir cannot be read. */
int crypto_keyring_load_dir(struct crypto_keyring *kr, const char *dir);
/* Takes ownership of k (freed on failure too); -EEXIST for a known id.
 * Only the public half is kept: a keyring verifies, it never signs. */
int crypto_keyring_add(struct crypto_keyring *kr, struct crypto_key *k);
const struct crypto_key *crypto_keyring_find(const struct crypto_keyring *kr, const uint8_t id[CRYPTO_KEY_ID_SIZE]);
size_t crypto_keyring_size(const struct crypto_keyring *kr);
void crypto_keyring_free(struct crypto_keyring *kr);

/* prepay-gatewayd's TLS identity when the operator gives none: a new
 * ECDSA P-256 key and a self-signed X.509 certificate for it (common name
 * cn, valid from an hour ago for 10 years), both as PEM text (owned; the
 * key's is wiped by the caller when freed). -ENOMEM, -EIO. */
int crypto_make_self_signed(const char *cn, char **ret_cert_pem, char **ret_key_pem);
/* The pin of a PEM certificate: base64 of SHA-256 over its
 * SubjectPublicKeyInfo, DER (curl's CURLOPT_PINNEDPUBLICKEY "sha256//"
 * form, which prepay --pin sha256:... takes). -EINVAL for text that holds
 * no certificate. */
#define CRYPTO_PIN_SIZE 45 /* BASE64_LEN(CRYPTO_SHA256_SIZE) + NUL */
int crypto_spki_sha256_of_pem(const char *cert_pem, size_t size, char ret[CRYPTO_PIN_SIZE]);
