/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Ed25519 keys and signatures, hashes, keyrings (daemon/common/crypto.c). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/crypto.h"
#include "common/encoding.h"
#include "common/log.h"
#include "common/util.h"

/* RFC 8032 section 7.1, TEST 1: the seed, its public key, and the
 * signature of the empty message. */
#define RFC8032_SEED "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
#define RFC8032_PUB "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
#define RFC8032_SIG                                                          \
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555" \
        "fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
/* Its key id: the first 8 bytes of SHA-256 over the public key. */
#define RFC8032_KEY_ID "21fe31dfa154a261"

/* An X25519 public key: the right size and family, the wrong algorithm. */
static const char x25519_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                                 "MCowBQYDK2VuAyEAp8RGZzyy5gG8Szgun9OyaiIlFPJZAMv82ua1sjVESX0=\n"
                                 "-----END PUBLIC KEY-----\n";

static void keyp(struct crypto_key **k) {
        crypto_key_free(*k);
}

static void keyringp(struct crypto_keyring **kr) {
        crypto_keyring_free(*kr);
}

static void hashp(struct crypto_hash **h) {
        crypto_hash_free(*h);
}

static void key_from_hex_seed(const char *hex, struct crypto_key **ret) {
        uint8_t seed[CRYPTO_SEED_SIZE];

        assert_int_equal(hex_decode(hex, seed, sizeof(seed)), 0);
        assert_int_equal(crypto_key_from_seed(seed, ret), 0);
}

static char *key_id_hex(const struct crypto_key *k, char buf[static 2 * CRYPTO_KEY_ID_SIZE + 1]) {
        uint8_t id[CRYPTO_KEY_ID_SIZE];

        crypto_key_id(k, id);
        return hex_encode(id, sizeof(id), buf);
}

/* A scratch directory, removed with what is in it (one level). */
static char *scratch_dir(void) {
        char *d = strdup("/tmp/test-crypto.XXXXXX");

        assert_non_null(d);
        assert_non_null(mkdtemp(d));
        return d;
}

static void scratch_remove(char *d) {
        _cleanup_(closedirp) DIR *dir = opendir(d);
        struct dirent *de;

        assert_non_null(dir);
        while ((de = readdir(dir)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        assert_int_equal(unlinkat(dirfd(dir), de->d_name, 0), 0);
        assert_int_equal(rmdir(d), 0);
        free(d);
}

static void write_file(const char *dir, const char *name, const char *text) {
        _cleanup_(freep) char *path = NULL;
        _cleanup_(fclosep) FILE *f = NULL;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "we");
        assert_non_null(f);
        assert_int_equal(fputs(text, f) >= 0, 1);
}

/* k's public half saved as dir/name. */
static void save_public(const struct crypto_key *k, const char *dir, const char *name) {
        _cleanup_(freep) char *path = NULL;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        assert_int_equal(crypto_key_save_public(k, path), 0);
}

static void test_rfc8032_vector(void **state _unused_) {
        _cleanup_(keyp) struct crypto_key *k = NULL;
        uint8_t pub[CRYPTO_PUBKEY_SIZE], sig[CRYPTO_SIG_SIZE];
        char hex[2 * CRYPTO_SIG_SIZE + 1];

        key_from_hex_seed(RFC8032_SEED, &k);
        assert_true(crypto_key_has_private(k));
        crypto_key_public_raw(k, pub);
        assert_string_equal(hex_encode(pub, sizeof(pub), hex), RFC8032_PUB);
        assert_string_equal(key_id_hex(k, hex), RFC8032_KEY_ID);

        assert_int_equal(crypto_sign(k, "", 0, sig), 0);
        assert_string_equal(hex_encode(sig, sizeof(sig), hex), RFC8032_SIG);
        assert_int_equal(crypto_verify(k, "", 0, sig), 0);
        assert_int_equal(crypto_sign(k, NULL, 0, sig), 0);
        assert_string_equal(hex_encode(sig, sizeof(sig), hex), RFC8032_SIG);
}

static void test_sign_verify(void **state _unused_) {
        _cleanup_(keyp) struct crypto_key *k = NULL, *other = NULL;
        static const char msg[] = "twelve euros fifty";
        uint8_t sig[CRYPTO_SIG_SIZE], sig2[CRYPTO_SIG_SIZE], bad[CRYPTO_SIG_SIZE];
        char tampered[sizeof(msg)];

        assert_int_equal(crypto_key_generate(&k), 0);
        assert_int_equal(crypto_key_generate(&other), 0);
        assert_true(crypto_key_has_private(k));

        assert_int_equal(crypto_sign(k, msg, strlen(msg), sig), 0);
        assert_int_equal(crypto_verify(k, msg, strlen(msg), sig), 0);
        /* Ed25519 is deterministic. */
        assert_int_equal(crypto_sign(k, msg, strlen(msg), sig2), 0);
        assert_memory_equal(sig, sig2, sizeof(sig));

        /* Every bit of the message counts, and so does its length. */
        for (size_t i = 0; i < strlen(msg); i++) {
                memcpy(tampered, msg, sizeof(msg));
                tampered[i] ^= 1;
                assert_int_equal(crypto_verify(k, tampered, strlen(msg), sig), -EBADMSG);
        }
        assert_int_equal(crypto_verify(k, msg, strlen(msg) - 1, sig), -EBADMSG);
        assert_int_equal(crypto_verify(k, msg, strlen(msg) + 1, sig), -EBADMSG);

        /* And every byte of the signature. */
        for (size_t i = 0; i < sizeof(sig); i++) {
                memcpy(bad, sig, sizeof(sig));
                bad[i] ^= 0x80;
                assert_int_equal(crypto_verify(k, msg, strlen(msg), bad), -EBADMSG);
        }
        memset(bad, 0, sizeof(bad));
        assert_int_equal(crypto_verify(k, msg, strlen(msg), bad), -EBADMSG);

        /* Another key's signature is not this key's. */
        assert_int_equal(crypto_verify(other, msg, strlen(msg), sig), -EBADMSG);
}

static void test_key_ids_differ(void **state _unused_) {
        _cleanup_(keyp) struct crypto_key *a = NULL, *b = NULL;
        uint8_t ida[CRYPTO_KEY_ID_SIZE], idb[CRYPTO_KEY_ID_SIZE];
        uint8_t pub[CRYPTO_PUBKEY_SIZE], digest[CRYPTO_SHA256_SIZE];

        assert_int_equal(crypto_key_generate(&a), 0);
        assert_int_equal(crypto_key_generate(&b), 0);
        crypto_key_id(a, ida);
        crypto_key_id(b, idb);
        assert_memory_not_equal(ida, idb, sizeof(ida));

        /* The id is SHA-256 of the raw public key, cut to 8 bytes. */
        crypto_key_public_raw(a, pub);
        crypto_sha256(pub, sizeof(pub), digest);
        assert_memory_equal(ida, digest, sizeof(ida));
}

static void test_save_load(void **state _unused_) {
        _cleanup_(keyp) struct crypto_key *k = NULL, *priv = NULL, *pub = NULL, *again = NULL;
        _cleanup_(freep) char *kpath = NULL, *ppath = NULL, *error = NULL, *text = NULL;
        char *dir = scratch_dir();
        char id[2 * CRYPTO_KEY_ID_SIZE + 1], id2[sizeof(id)];
        uint8_t sig[CRYPTO_SIG_SIZE];
        struct stat st;

        assert_true(asprintf(&kpath, "%s/issuer.key", dir) > 0);
        assert_true(asprintf(&ppath, "%s/issuer.pub", dir) > 0);

        assert_int_equal(crypto_key_generate(&k), 0);
        assert_int_equal(crypto_key_save_private(k, kpath), 0);
        assert_int_equal(crypto_key_save_public(k, ppath), 0);

        /* Modes exactly, whatever the umask. */
        assert_int_equal(stat(kpath, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(stat(ppath, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        /* Never overwritten. */
        assert_int_equal(crypto_key_save_private(k, kpath), -EEXIST);
        assert_int_equal(crypto_key_save_public(k, ppath), -EEXIST);
        assert_int_equal(crypto_key_save_public(k, kpath), -EEXIST);

        /* Both halves load back as the same key. */
        assert_int_equal(crypto_key_load(kpath, &priv, &error), 0);
        assert_null(error);
        assert_true(crypto_key_has_private(priv));
        assert_int_equal(crypto_key_load(ppath, &pub, &error), 0);
        assert_false(crypto_key_has_private(pub));
        assert_string_equal(key_id_hex(priv, id), key_id_hex(k, id2));
        assert_string_equal(key_id_hex(pub, id), id2);

        /* The loaded private key signs what the public one verifies. */
        assert_int_equal(crypto_sign(priv, "x", 1, sig), 0);
        assert_int_equal(crypto_verify(pub, "x", 1, sig), 0);
        assert_int_equal(crypto_verify(k, "x", 1, sig), 0);

        /* A public key cannot sign, nor be saved as a private one. */
        assert_int_equal(crypto_sign(pub, "x", 1, sig), -EINVAL);
        assert_int_equal(crypto_key_save_private(pub, "/nonexistent/k"), -EINVAL);

        /* The PEM is the standard one: PKCS#8 and SubjectPublicKeyInfo. */
        assert_int_equal(read_full_file(kpath, &text, NULL), 0);
        assert_true(strneq(text, "-----BEGIN PRIVATE KEY-----\n", 28));
        free(TAKE_PTR(text));
        assert_int_equal(read_full_file(ppath, &text, NULL), 0);
        assert_true(strneq(text, "-----BEGIN PUBLIC KEY-----\n", 27));

        /* Seed keys save and load too. */
        assert_int_equal(unlink(kpath), 0);
        crypto_key_free(TAKE_PTR(k));
        key_from_hex_seed(RFC8032_SEED, &k);
        assert_int_equal(crypto_key_save_private(k, kpath), 0);
        assert_int_equal(crypto_key_load(kpath, &again, &error), 0);
        assert_string_equal(key_id_hex(again, id), RFC8032_KEY_ID);

        scratch_remove(dir);
}

static void test_load_errors(void **state _unused_) {
        struct crypto_key *k = (struct crypto_key *) 0x1;
        char *dir = scratch_dir();
        char *error = NULL;
        _cleanup_(freep) char *path = NULL;

        assert_true(asprintf(&path, "%s/missing.pem", dir) > 0);
        assert_int_equal(crypto_key_load(path, &k, &error), -ENOENT);
        assert_non_null(error);
        assert_string_equal(error, "cannot read it: No such file or directory");
        free(TAKE_PTR(error));

        write_file(dir, "garbage.pem", "hello\n");
        free(path);
        assert_true(asprintf(&path, "%s/garbage.pem", dir) > 0);
        assert_int_equal(crypto_key_load(path, &k, &error), -EINVAL);
        assert_string_equal(error, "no PEM private or public key in it");
        free(TAKE_PTR(error));

        write_file(dir, "x25519.pem", x25519_pem);
        free(path);
        assert_true(asprintf(&path, "%s/x25519.pem", dir) > 0);
        assert_int_equal(crypto_key_load(path, &k, &error), -EINVAL);
        assert_string_equal(error, "not an Ed25519 key (X25519 public key)");
        free(TAKE_PTR(error));

        write_file(dir, "encrypted.pem",
                   "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAc\n"
                   "-----END ENCRYPTED PRIVATE KEY-----\n");
        free(path);
        assert_true(asprintf(&path, "%s/encrypted.pem", dir) > 0);
        assert_int_equal(crypto_key_load(path, &k, &error), -EINVAL);
        assert_string_equal(error, "an encrypted private key; prepay reads unencrypted ones only");
        free(TAKE_PTR(error));

        /* ret_error may be NULL; *ret untouched throughout. */
        assert_int_equal(crypto_key_load(path, &k, NULL), -EINVAL);
        assert_ptr_equal(k, (struct crypto_key *) 0x1);

        scratch_remove(dir);
}

static void test_keyring(void **state _unused_) {
        _cleanup_(keyringp) struct crypto_keyring *kr = NULL;
        struct crypto_key *a = NULL, *b = NULL, *a2 = NULL;
        uint8_t ida[CRYPTO_KEY_ID_SIZE], idb[CRYPTO_KEY_ID_SIZE], unknown[CRYPTO_KEY_ID_SIZE] = {};
        const struct crypto_key *found;
        uint8_t sig[CRYPTO_SIG_SIZE];

        assert_int_equal(crypto_keyring_new(&kr), 0);
        assert_int_equal(crypto_keyring_size(kr), 0);

        key_from_hex_seed(RFC8032_SEED, &a);
        key_from_hex_seed(RFC8032_SEED, &a2);
        assert_int_equal(crypto_key_generate(&b), 0);
        crypto_key_id(a, ida);
        crypto_key_id(b, idb);
        assert_int_equal(crypto_sign(a, "m", 1, sig), 0);

        assert_int_equal(crypto_keyring_add(kr, a), 0);
        assert_int_equal(crypto_keyring_add(kr, b), 0);
        assert_int_equal(crypto_keyring_add(kr, a2), -EEXIST); /* and a2 is freed */
        assert_int_equal(crypto_keyring_size(kr), 2);

        found = crypto_keyring_find(kr, ida);
        assert_non_null(found);
        /* Only the public half is kept. */
        assert_false(crypto_key_has_private(found));
        assert_int_equal(crypto_verify(found, "m", 1, sig), 0);
        found = crypto_keyring_find(kr, idb);
        assert_non_null(found);
        assert_int_equal(crypto_verify(found, "m", 1, sig), -EBADMSG);
        assert_null(crypto_keyring_find(kr, unknown));
}

static void test_keyring_load_dir(void **state _unused_) {
        _cleanup_(keyringp) struct crypto_keyring *kr = NULL;
        _cleanup_(keyp) struct crypto_key *a = NULL, *b = NULL, *c = NULL;
        _cleanup_(freep) char *path = NULL, *missing = NULL;
        uint8_t id[CRYPTO_KEY_ID_SIZE];
        char *dir = scratch_dir();
        int saved_level = log_get_max_level();

        assert_int_equal(crypto_key_generate(&a), 0);
        assert_int_equal(crypto_key_generate(&b), 0);
        assert_int_equal(crypto_key_generate(&c), 0);

        /* a.pub: trusted. b.pem: a private key file, its public half
         * trusted. c.txt: not a key file name, ignored. dup.pub: a again,
         * skipped. bad.pem and x25519.pub: skipped with a warning. */
        save_public(a, dir, "a.pub");
        assert_true(asprintf(&path, "%s/b.pem", dir) > 0);
        assert_int_equal(crypto_key_save_private(b, path), 0);
        save_public(c, dir, "c.txt");
        save_public(a, dir, "dup.pub");
        save_public(c, dir, ".hidden.pub");
        write_file(dir, "bad.pem", "not a key\n");
        write_file(dir, "x25519.pub", x25519_pem);

        assert_int_equal(crypto_keyring_new(&kr), 0);
        log_set_max_level(LOG_ERR); /* the expected warnings */
        assert_int_equal(crypto_keyring_load_dir(kr, dir), 2);
        /* Loading again adds nothing: every id is known. */
        assert_int_equal(crypto_keyring_load_dir(kr, dir), 0);
        log_set_max_level(saved_level);
        assert_int_equal(crypto_keyring_size(kr), 2);

        crypto_key_id(a, id);
        assert_non_null(crypto_keyring_find(kr, id));
        crypto_key_id(b, id);
        assert_non_null(crypto_keyring_find(kr, id));
        assert_false(crypto_key_has_private(crypto_keyring_find(kr, id)));
        crypto_key_id(c, id);
        assert_null(crypto_keyring_find(kr, id));

        /* A missing directory is no key, not an error; a file is. */
        assert_true(asprintf(&missing, "%s/none", dir) > 0);
        assert_int_equal(crypto_keyring_load_dir(kr, missing), 0);
        free(path);
        assert_true(asprintf(&path, "%s/a.pub", dir) > 0);
        assert_int_equal(crypto_keyring_load_dir(kr, path), -ENOTDIR);

        scratch_remove(dir);
}

static void test_sha256(void **state _unused_) {
        _cleanup_(hashp) struct crypto_hash *h = NULL;
        uint8_t digest[CRYPTO_SHA256_SIZE];
        char hex[2 * CRYPTO_SHA256_SIZE + 1];

        /* FIPS 180-2 appendix B.1 and the empty string. */
        crypto_sha256("abc", 3, digest);
        assert_string_equal(hex_encode(digest, sizeof(digest), hex),
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        crypto_sha256("", 0, digest);
        assert_string_equal(hex_encode(digest, sizeof(digest), hex),
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

        /* Incrementally, in pieces; final resets for the next. */
        assert_int_equal(crypto_hash_new(&h), 0);
        crypto_hash_update(h, "a", 1);
        crypto_hash_update(h, "", 0);
        crypto_hash_update(h, "bc", 2);
        crypto_hash_final(h, digest);
        assert_string_equal(hex_encode(digest, sizeof(digest), hex),
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        crypto_hash_update(h, "abc", 3);
        crypto_hash_final(h, digest);
        assert_string_equal(hex_encode(digest, sizeof(digest), hex),
                            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        crypto_hash_final(h, digest);
        assert_string_equal(hex_encode(digest, sizeof(digest), hex),
                            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hmac(void **state _unused_) {
        uint8_t mac[CRYPTO_SHA256_SIZE];
        char hex[2 * CRYPTO_SHA256_SIZE + 1];

        /* RFC 4231 section 4.3, test case 2. */
        crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
        assert_string_equal(hex_encode(mac, sizeof(mac), hex),
                            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_random_and_equal(void **state _unused_) {
        uint8_t a[32], b[32], big[1000], zero[1000] = {};

        assert_int_equal(crypto_random(a, sizeof(a)), 0);
        assert_int_equal(crypto_random(b, sizeof(b)), 0);
        assert_memory_not_equal(a, b, sizeof(a));
        assert_int_equal(crypto_random(big, sizeof(big)), 0);
        assert_memory_not_equal(big, zero, sizeof(big));
        assert_int_equal(crypto_random(big, 0), 0);

        assert_true(crypto_equal(a, a, sizeof(a)));
        assert_false(crypto_equal(a, b, sizeof(a)));
        memcpy(b, a, sizeof(a));
        b[31] ^= 1;
        assert_false(crypto_equal(a, b, sizeof(a)));
        assert_true(crypto_equal(a, b, 31));
        assert_true(crypto_equal(a, b, 0));
}

/* prepay-gatewayd's self-signed pair: PEM both, a pin of 44 base64
 * characters that is the same for the same certificate and differs for
 * another pair; text without a certificate has no pin. (That the pin is
 * what openssl computes from the certificate is checked by
 * tests/integration/test-gateway-tls.sh, with the openssl command.) */
static void test_self_signed_pin(void **state) {
        char *cert = NULL, *key = NULL, *cert2 = NULL, *key2 = NULL;
        char pin[CRYPTO_PIN_SIZE], pin_again[CRYPTO_PIN_SIZE], pin2[CRYPTO_PIN_SIZE];

        assert_int_equal(crypto_make_self_signed("test-host", &cert, &key), 0);
        assert_non_null(strstr(cert, "-----BEGIN CERTIFICATE-----"));
        assert_non_null(strstr(key, "-----BEGIN PRIVATE KEY-----"));
        assert_int_equal(crypto_spki_sha256_of_pem(cert, strlen(cert), pin), 0);
        assert_int_equal(strlen(pin), 44);
        assert_int_equal(pin[43], '=');
        assert_int_equal(crypto_spki_sha256_of_pem(cert, strlen(cert), pin_again), 0);
        assert_string_equal(pin, pin_again);

        assert_int_equal(crypto_make_self_signed("test-host", &cert2, &key2), 0);
        assert_int_equal(crypto_spki_sha256_of_pem(cert2, strlen(cert2), pin2), 0);
        assert_string_not_equal(pin, pin2);

        assert_int_equal(crypto_spki_sha256_of_pem(key, strlen(key), pin2), -EINVAL);
        assert_int_equal(crypto_spki_sha256_of_pem("", 0, pin2), -EINVAL);
        free(cert);
        free(key);
        free(cert2);
        free(key2);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc8032_vector),
                cmocka_unit_test(test_sign_verify),
                cmocka_unit_test(test_key_ids_differ),
                cmocka_unit_test(test_save_load),
                cmocka_unit_test(test_load_errors),
                cmocka_unit_test(test_keyring),
                cmocka_unit_test(test_keyring_load_dir),
                cmocka_unit_test(test_sha256),
                cmocka_unit_test(test_hmac),
                cmocka_unit_test(test_random_and_equal),
                cmocka_unit_test(test_self_signed_pin),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
