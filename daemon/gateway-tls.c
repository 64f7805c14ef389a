/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "gateway-tls.h"

#define CERT_NAME "tls.crt"
#define KEY_NAME "tls.key"
#define PIN_NAME "fingerprint"

static int read_pem(const char *path, char **ret) {
        size_t size;
        int r;

        r = read_full_file(path, ret, &size);
        if (r < 0)
                return r;
        if (strlen(*ret) != size) {
                free(*ret);
                *ret = NULL;
                return -EINVAL;
        }
        return 0;
}

static int make_self_signed(const char *dir, const char *cert_path, const char *key_path, struct gateway_tls *t) {
        char host[HOST_NAME_MAX + 1] = "prepay-gatewayd";
        int r;

        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
                snprintf(host, sizeof(host), "prepay-gatewayd");
        r = crypto_make_self_signed(host, &t->cert_pem, &t->key_pem);
        if (r < 0)
                return log_error_errno(r, "Failed to make a self-signed certificate: %m");
        /* The key first: a certificate without its key would be taken
         * for a pair half made, and refused. */
        r = write_file_atomic(key_path, t->key_pem, strlen(t->key_pem));
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", key_path);
        r = write_file_atomic(cert_path, t->cert_pem, strlen(t->cert_pem));
        if (r < 0)
                return log_error_errno(r, "Failed to write %s: %m", cert_path);
        (void) chmod(cert_path, 0644);
        log_notice("Made a self-signed TLS certificate for %s in %s.", host, dir);
        return 0;
}

int gateway_tls_load(const struct gateway_config *c, struct gateway_tls *ret) {
        _cleanup_(gateway_tls_done) struct gateway_tls t = {};
        _cleanup_(freep) char *cert_path = NULL, *key_path = NULL, *pin_path = NULL, *pin_line = NULL;
        bool own = c->certificate[0];
        int r;

        if (own) {
                cert_path = strdup(c->certificate);
                key_path = strdup(c->key);
        } else if (asprintf(&cert_path, "%s/" CERT_NAME, c->state_directory) < 0 ||
                   asprintf(&key_path, "%s/" KEY_NAME, c->state_directory) < 0)
                cert_path = key_path = NULL;
        if (!cert_path || !key_path)
                return log_oom();

        r = read_pem(cert_path, &t.cert_pem);
        if (r == -ENOENT && !own && access(key_path, F_OK) < 0 && errno == ENOENT)
                r = make_self_signed(c->state_directory, cert_path, key_path, &t);
        else if (r < 0)
                return log_error_errno(r, "Failed to read the TLS certificate %s: %m", cert_path);
        else {
                r = read_pem(key_path, &t.key_pem);
                if (r < 0)
                        return log_error_errno(r, "Failed to read the TLS key %s: %m", key_path);
        }
        if (r < 0)
                return r;

        r = crypto_spki_sha256_of_pem(t.cert_pem, strlen(t.cert_pem), t.pin);
        if (r < 0)
                return log_error_errno(r, "%s holds no PEM certificate.", cert_path);
        log_notice("TLS certificate %s, fingerprint sha256:%s (prepay --pin sha256:%s)", cert_path, t.pin, t.pin);

        if (!own) {
                if (asprintf(&pin_path, "%s/" PIN_NAME, c->state_directory) < 0 ||
                    asprintf(&pin_line, "sha256:%s\n", t.pin) < 0)
                        return log_oom();
                r = write_file_atomic(pin_path, pin_line, strlen(pin_line));
                if (r < 0)
                        log_warning_errno(r, "Failed to write %s, ignoring: %m", pin_path);
                else
                        (void) chmod(pin_path, 0644);
        }

        *ret = t;
        t = (struct gateway_tls) {};
        return 0;
}

void gateway_tls_forget_key(struct gateway_tls *t) {
        if (!t->key_pem)
                return;
        explicit_bzero(t->key_pem, strlen(t->key_pem));
        free(t->key_pem);
        t->key_pem = NULL;
}

void gateway_tls_done(struct gateway_tls *t) {
        gateway_tls_forget_key(t);
        free(t->cert_pem);
        *t = (struct gateway_tls) {};
}
