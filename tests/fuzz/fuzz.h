/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What every harness in tests/fuzz shares: libFuzzer's entry point, quiet
 * logging (a parser's refusals are logged, and writing them to stderr would
 * cost more than the parsing) and fuzz_check(), which aborts so that a
 * property that does not hold is a crash libFuzzer saves and reports. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/crypto.h"
#include "common/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define fuzz_check(expr)                                                                         \
        do {                                                                                     \
                if (!(expr)) {                                                                   \
                        fprintf(stderr, "%s:%d: property does not hold: %s\n", __FILE__, __LINE__, \
                                #expr);                                                          \
                        abort();                                                                 \
                }                                                                                \
        } while (0)

/* Nothing logged, unless FUZZ_LOG is set (to see why an input was
 * refused when replaying it). */
static inline void fuzz_quiet(void) {
        log_set_max_level(getenv("FUZZ_LOG") ? LOG_DEBUG : -1);
}

/* Harnesses that need no other set-up use this as their initializer. */
#define FUZZ_QUIET_INITIALIZE                               \
        int LLVMFuzzerInitialize(int *argc, char ***argv) { \
                (void) argc;                                \
                (void) argv;                                \
                fuzz_quiet();                               \
                return 0;                                   \
        }

/* The same, and the harness's signing key (fuzz_key()) into key, for
 * the harnesses that re-sign what they accept. */
#define FUZZ_KEY_INITIALIZE(key)                            \
        int LLVMFuzzerInitialize(int *argc, char ***argv) { \
                (void) argc;                                \
                (void) argv;                                \
                fuzz_quiet();                               \
                key = fuzz_key();                           \
                return 0;                                   \
        }

/* data as a C string (libFuzzer's buffer has no NUL); free() it. NULL
 * when out of memory, which a harness treats as "nothing to do". */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);

        if (s) {
                memcpy(s, data, size);
                s[size] = 0;
        }
        return s;
}

/* A refusal's sentence as the code promises: static, non-empty, starting
 * with a capital letter and without a final full stop. */
static inline int fuzz_sentence_ok(const char *s) {
        size_t n;

        if (!s || !s[0])
                return 0;
        n = strlen(s);
        return s[0] >= 'A' && s[0] <= 'Z' && s[n - 1] != '.';
}

/* Whether error is one of the n sentences a parser lists. */
static inline int fuzz_sentence_in(const char *error, const char *const *sentences, size_t n) {
        for (size_t i = 0; error && i < n; i++)
                if (strcmp(error, sentences[i]) == 0)
                        return 1;
        return 0;
}

/* The signing key of the harnesses that sign (vouchers, receipts,
 * claims): one fixed seed, so that a saved input replays the same. */
static inline struct crypto_key *fuzz_key(void) {
        static const uint8_t seed[CRYPTO_SEED_SIZE] = { 'f', 'u', 'z', 'z' };
        struct crypto_key *k = NULL;

        if (crypto_key_from_seed(seed, &k) < 0)
                abort();
        return k;
}

/* r, what a parser returned, and error, the sentence it set: a refusal
 * must be -EINVAL with a sentence. Returns whether the parser refused. */
static inline int fuzz_refused(int r, const char *error) {
        if (r >= 0)
                return 0;
        fuzz_check(r == -EINVAL && fuzz_sentence_ok(error));
        return 1;
}

/* Whether s, a buffer of size bytes, is NUL-terminated within it and
 * printable ASCII up to there: how a parser's strings must come out. */
static inline int fuzz_printable(const char *s, size_t size) {
        size_t n = strnlen(s, size);

        if (n == size)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (s[i] < 0x20 || s[i] > 0x7e)
                        return 0;
        return 1;
}
