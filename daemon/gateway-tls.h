/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "common/crypto.h"
#include "gateway-config.h"

/* The gateway's certificate and key, as PEM text for libmicrohttpd:
 * Certificate= and Key=, or else the self-signed pair in StateDirectory=
 * (tls.crt, tls.key mode 0600), made on first start. Its pin (base64 of
 * SHA-256 over the SubjectPublicKeyInfo, what prepay --pin sha256:...
 * checks) is logged and written to StateDirectory=/fingerprint. */
struct gateway_tls {
        char *cert_pem;
        char *key_pem;
        char pin[CRYPTO_PIN_SIZE];
};

int gateway_tls_load(const struct gateway_config *c, struct gateway_tls *ret);
/* Wipes and frees the private key: once the TLS library holds its own
 * copy, ours only waits to be read from a core dump. */
void gateway_tls_forget_key(struct gateway_tls *t);
void gateway_tls_done(struct gateway_tls *t);
