/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* OpenSSH public keys as a buyer hands them over (the text of a .pub
 * file, from anyone): checked strictly, since the key ends up in a
 * cloud-init YAML file. Pure code, linked into prepayd and prepay;
 * unit-tested in tests/unit/test-sshkey.c, fuzzed by fuzz-sshkey. */

#define SSH_KEY_TEXT_MAX 8192
/* "SHA256:" and 43 characters of unpadded base64, and a NUL. */
#define SSH_FINGERPRINT_MAX 51

/* text (size bytes, not necessarily NUL-terminated) must be one line
 * "TYPE BASE64 [COMMENT]" with an optional trailing "\n" (or "\r\n"):
 * TYPE one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/384/521,
 * sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com; BASE64
 * standard base64 of an SSH wire blob whose first string is TYPE and
 * whose other fields are well formed for it (ed25519: 32 bytes; rsa: e
 * and n as mpints, n of 2048 to 16384 bits; ecdsa: the curve's name and
 * an uncompressed point of its length; sk-*: the same and an application
 * string), nothing after. Fields are separated by spaces or tabs; the
 * comment (any printable text) is dropped. authorized_keys options
 * (command=...) are refused. At most SSH_KEY_TEXT_MAX bytes.
 * Returns 0 and *ret_key, the malloc'd canonical "TYPE BASE64" (the blob
 * encoded again); -EINVAL with a clause in error ("not an SSH public key:
 * ...", "RSA key of 1024 bits, at least 2048 are needed"), or -ENOMEM.
 * error may be NULL. An ECDSA point is not checked to be on its curve. */
int ssh_public_key_parse(const void *text, size_t size, char **ret_key, char *error, size_t error_size);

/* "SHA256:<unpadded base64 of the SHA-256 of the blob>", as ssh-keygen -l
 * prints it, of a canonical key text. -EINVAL for a text that is not
 * "TYPE BASE64", -ENOBUFS if size is less than SSH_FINGERPRINT_MAX. */
int ssh_public_key_fingerprint(const char *key, char *ret, size_t size);
