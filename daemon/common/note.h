/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/crypto.h"
#include "common/util.h"

/* What the two signed formats, vouchers (voucher.c, prepay-voucher(5))
 * and receipts (receipt.c, prepay-receipt(5)), share: the text form, a
 * prefix ("pv1-", "pr1-") and base64url without padding of the signed
 * bytes followed by their Ed25519 signature, on one line; and the
 * sentences their verifiers return. Each format keeps its own layout and
 * its own refusals. Pure code. */

/* The most bytes a note holds, its signature included. */
#define NOTE_MAX 1024

/* prefix and base64url(bytes[0..len) || sig) into buf of n, NUL-terminated;
 * -ENOBUFS if n is too small, -EINVAL if len + the signature passes
 * NOTE_MAX. */
int note_to_text(const char *prefix, const uint8_t *bytes, size_t len, const uint8_t sig[CRYPTO_SIG_SIZE],
                 char *buf, size_t n);

/* The bytes of s's text form, into buf (of cap), white space around s
 * (a file's final newline) aside:
 *   0         *ret_size bytes, the signature last
 *   -ENOMSG   s does not start with prefix
 *   -ENOBUFS  it holds more than cap bytes
 *   -EPIPE    it ends mid-group, as text cut short does: buf holds the
 *             *ret_size bytes of its whole groups and *ret_text_len is the
 *             length of the text after the prefix, for the caller to tell
 *             from what they announce whether the text is too short
 *   -EBADMSG  otherwise not base64url (canonical, RFC 4648 section 5) */
int note_from_text(const char *s, const char *prefix, uint8_t *buf, size_t cap, size_t *ret_size,
                   size_t *ret_text_len);

/* For verifiers: the sentence of fmt into *ret_error (to free; ret_error
 * may be NULL), and returns error; -ENOMEM and *ret_error NULL if the
 * sentence cannot be allocated. */
int note_error(char **ret_error, int error, const char *fmt, ...) _printf_(3, 4);

/* For parsers: *ret_error (may be NULL) = sentence, and -EINVAL. */
int note_text_error(const char **ret_error, const char *sentence);

/* A length-prefixed string at *pos, known to be inside size, copied into
 * out (of out_size) and *pos moved past it: NULL, or the sentence that
 * refuses it: bad when it does not fit out or holds a NUL (it would read
 * differently from the bytes signed), truncated when what must follow it
 * (a length, a count or the signature) does not fit in size. */
const char *note_get_string(const uint8_t *b, size_t size, size_t *pos, char *out, size_t out_size,
                            const char *bad, const char *truncated);
