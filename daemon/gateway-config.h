/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <stdio.h>

/* prepay-gatewayd's configuration: [Gateway] in /etc/prepay/gatewayd.conf
 * (prepay-gatewayd.conf(5)). One table in gateway-config.c holds every
 * key's default and documentation; --dump-config prints it, and
 * packaging/gatewayd.conf is that output. */

struct gateway_config {
        char *listen;                 /* Listen= "ADDRESS:PORT", "[V6]:PORT" */
        char *certificate;            /* Certificate= PEM ("": self-signed) */
        char *key;                    /* Key= PEM */
        char *state_directory;        /* StateDirectory= */
        char *control_socket;         /* ControlSocket= prepayd's */
        uint64_t max_connections;     /* MaxConnections= */
        uint64_t max_connections_per_address; /* MaxConnectionsPerAddress= */
        uint64_t request_timeout_usec; /* RequestTimeoutSec= */
        uint64_t keep_alive_requests; /* KeepAliveRequests= */
        uint64_t max_body_size;       /* MaxBodySize= bytes */
        uint64_t rate_per_address_milli; /* RatePerAddress= requests/s x1000 (0: none) */
        uint64_t burst_per_address;   /* BurstPerAddress= */
        uint64_t rate_per_slice_milli; /* RatePerSlice= */
        uint64_t burst_per_slice;     /* BurstPerSlice= */
        uint64_t control_connections; /* ControlConnections= */
        uint64_t control_queue;       /* ControlQueue= requests waiting for one */
        uint64_t control_timeout_usec; /* ControlTimeoutSec= */
        uint64_t max_event_streams;   /* MaxEventStreams= */
        uint64_t limits_table_size;   /* AddressTableSize= keys each bucket table holds */
        int log_level;                /* LogLevel= */
        char *metrics_listen;         /* [Metrics] Listen= ("": none) */
};

/* The defaults, then path over them (a missing file is not an error
 * when optional). Errors are logged with the file, line and key; the
 * first is returned. *c is written only on success. */
int gateway_config_load(struct gateway_config *c, const char *path, int optional);
int gateway_config_load_string(struct gateway_config *c, const char *text, const char *name);
void gateway_config_done(struct gateway_config *c);
/* The documented defaults (c NULL) or c, as a config file. */
int gateway_config_dump(FILE *f, const struct gateway_config *c);

/* Listen=: "A.B.C.D:PORT" or "[IPV6]:PORT" -> a sockaddr. -EINVAL. */
struct sockaddr_storage;
int gateway_config_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len);
