/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <ini.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/util.h"
#include "gateway-api.h"
#include "gateway-config.h"

/* One table: the key, its type, its place, its default as text (parsed by
 * the same code as the file's), its range and one line for the dump and
 * the man page. [Gateway], the storefront, and [Metrics], the operator's
 * listener for Prometheus (gateway-metrics.c). */

enum item_type {
        ITEM_STRING,
        ITEM_PATH,      /* absolute, or empty where the doc says so */
        ITEM_LISTEN,
        ITEM_U64,
        ITEM_SIZE,
        ITEM_DURATION,
        ITEM_RATE,      /* requests per second, 3 decimals, x1000; 0: no limit */
        ITEM_LOGLEVEL,
};

struct item {
        const char *key;
        enum item_type type;
        size_t offset;
        const char *default_value;
        const char *doc;
        uint64_t min, max; /* numbers; max 0: none */
        bool may_be_empty;
        const char *section; /* NULL: "Gateway" */
};

#define SEC(n) ((uint64_t) (n) * USEC_PER_SEC)
#define F(field) offsetof(struct gateway_config, field)

static const struct item items[] = {
        { "Listen", ITEM_LISTEN, F(listen), "0.0.0.0:8443",
          "Address and port to listen on, ADDRESS:PORT or [IPV6]:PORT; unused when socket-activated." },
        { "Certificate", ITEM_PATH, F(certificate), "",
          "TLS certificate (PEM, the chain after it); empty with Key= empty: a self-signed pair made "
          "in StateDirectory= on first start.",
          .may_be_empty = true },
        { "Key", ITEM_PATH, F(key), "", "The certificate's private key (PEM).", .may_be_empty = true },
        { "StateDirectory", ITEM_PATH, F(state_directory), "/var/lib/prepay-gateway",
          "Where the self-signed pair and its fingerprint are kept." },
        { "ControlSocket", ITEM_PATH, F(control_socket), "/run/prepay/control.sock",
          "prepayd's control socket, to which every request is forwarded." },
        { "MaxConnections", ITEM_U64, F(max_connections), "1000", "Most HTTPS connections at once.",
          .min = 1, .max = 100000 },
        { "MaxConnectionsPerAddress", ITEM_U64, F(max_connections_per_address), "32",
          "Most connections from one client address at once.", .min = 1, .max = 100000 },
        { "RequestTimeoutSec", ITEM_DURATION, F(request_timeout_usec), "10s",
          "Time a client has for the TLS handshake, a request's headers and its body, and most time idle "
          "between requests.",
          .min = SEC(1), .max = SEC(3600) },
        { "KeepAliveRequests", ITEM_U64, F(keep_alive_requests), "100",
          "Requests one connection may carry; the last is answered with \"Connection: close\".", .min = 1 },
        { "MaxBodySize", ITEM_SIZE, F(max_body_size), "32K",
          "Largest request body; a larger one is refused (413) before it is read. At most 32K, the largest "
          "the API decodes.",
          .min = 1, .max = API_BODY_MAX },
        { "RatePerAddress", ITEM_RATE, F(rate_per_address_milli), "10",
          "Requests per second one client address (an IPv6 one's /64) may make on average (429 past it); 0: "
          "no limit." },
        { "BurstPerAddress", ITEM_U64, F(burst_per_address), "40",
          "Requests one client address may make at once before RatePerAddress= applies.", .min = 1,
          .max = 1000000 },
        { "RatePerSlice", ITEM_RATE, F(rate_per_slice_milli), "5",
          "Requests per second naming one slice (status, top-up, events...), from anyone; 0: no limit." },
        { "BurstPerSlice", ITEM_U64, F(burst_per_slice), "20",
          "Requests naming one slice at once before RatePerSlice= applies.", .min = 1, .max = 1000000 },
        { "AddressTableSize", ITEM_U64, F(limits_table_size), "65536",
          "Client addresses (and slices) whose rate is remembered; past it the least recently seen is "
          "forgotten.",
          .min = 16, .max = 16777216 },
        { "ControlConnections", ITEM_U64, F(control_connections), "16",
          "Requests forwarded to prepayd at once, each on its own connection (prepayd's "
          "GatewayConnections= must allow them and MaxEventStreams=).",
          .min = 1, .max = 1024 },
        { "ControlQueue", ITEM_U64, F(control_queue), "256",
          "Requests that wait for one of those connections; past it 503.", .max = 1000000 },
        { "ControlTimeoutSec", ITEM_DURATION, F(control_timeout_usec), "50s",
          "How long prepayd may take to answer before the request gets 503 (longer than prepayd's "
          "ShutdownTimeoutSec=: a VM's release waits for its guest to power off).", .min = SEC(1),
          .max = SEC(3600) },
        { "MaxEventStreams", ITEM_U64, F(max_event_streams), "16",
          "Server-Sent Event streams open at once (each holds a connection to prepayd).", .max = 100000 },
        { "LogLevel", ITEM_LOGLEVEL, F(log_level), "info",
          "Most verbose level logged: debug, info (one line per request), notice, warning, err." },
        { "Listen", ITEM_LISTEN, F(metrics_listen), "",
          "ADDRESS:PORT of a plain-HTTP GET /metrics for the operator's Prometheus (loopback or an operators' "
          "network; prepayd needs [Metrics] Gateway=yes); empty: none.",
          .may_be_empty = true, .section = "Metrics" },
};

static const char *item_section(const struct item *it) {
        return it->section ?: "Gateway";
}

static const char *const level_names[] = { "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug" };

int gateway_config_parse_listen(const char *s, struct sockaddr_storage *ret, unsigned *ret_len) {
        char host[INET6_ADDRSTRLEN + 1];
        const char *colon;
        uint64_t port;
        size_t n;

        if (s[0] == '[') {
                colon = strstr(s, "]:");
                if (!colon)
                        return -EINVAL;
                n = (size_t) (colon - s - 1);
                s++;
                colon++;
        } else {
                colon = strrchr(s, ':');
                if (!colon)
                        return -EINVAL;
                n = (size_t) (colon - s);
                /* "::1:8443" reads two ways: IPv6 goes in brackets */
                if (memchr(s, ':', n))
                        return -EINVAL;
        }
        if (n == 0 || n >= sizeof(host) || parse_u64(colon + 1, &port) < 0 || port == 0 || port > 65535)
                return -EINVAL;
        memcpy(host, s, n);
        host[n] = 0;

        memset(ret, 0, sizeof(*ret));
        struct sockaddr_in *in = (struct sockaddr_in *) ret;
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ret;
        if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
                in->sin_family = AF_INET;
                in->sin_port = htons((uint16_t) port);
                *ret_len = sizeof(*in);
                return 0;
        }
        if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
                in6->sin6_family = AF_INET6;
                in6->sin6_port = htons((uint16_t) port);
                *ret_len = sizeof(*in6);
                return 0;
        }
        return -EINVAL;
}

/* requests per second: "0" (none) or a decimal of at most 3 places */
static int parse_rate(const char *s, uint64_t *ret) {
        if (streq(s, "0")) {
                *ret = 0;
                return 0;
        }
        return parse_cpus(s, ret);
}

static int item_set(const struct item *it, struct gateway_config *c, const char *value, const char **ret_reason) {
        void *p = (char *) c + it->offset;
        uint64_t v = 0;
        int r = 0;

        *ret_reason = NULL;
        switch (it->type) {
        case ITEM_STRING:
        case ITEM_PATH:
        case ITEM_LISTEN: {
                struct sockaddr_storage ss;
                unsigned len;
                char *copy;

                for (const char *q = value; *q; q++)
                        if ((unsigned char) *q < ' ' || *q == 0x7f) {
                                *ret_reason = "contains a control character";
                                return -EINVAL;
                        }
                if (it->type == ITEM_LISTEN && !(value[0] == 0 && it->may_be_empty) &&
                    gateway_config_parse_listen(value, &ss, &len) < 0) {
                        *ret_reason = "must be ADDRESS:PORT (0.0.0.0:8443) or [IPV6]:PORT ([::]:8443)";
                        return -EINVAL;
                }
                if (it->type == ITEM_PATH && !(value[0] == 0 && it->may_be_empty) && value[0] != '/') {
                        *ret_reason = "must be an absolute path";
                        return -EINVAL;
                }
                if (streq(it->key, "ControlSocket") && strlen(value) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                        *ret_reason = "is too long for an AF_UNIX socket (at most 107 bytes)";
                        return -ENAMETOOLONG;
                }
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
                free(*(char **) p);
                *(char **) p = copy;
                return 0;
        }
        case ITEM_LOGLEVEL:
                for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
                        if (streq(value, level_names[i]) || (value[0] == (char) ('0' + i) && value[1] == 0)) {
                                *(int *) p = (int) i;
                                return 0;
                        }
                *ret_reason = "must be one of debug, info, notice, warning, err, crit, alert, emerg or 0-7";
                return -EINVAL;
        case ITEM_U64:
                r = parse_u64(value, &v);
                break;
        case ITEM_SIZE:
                r = parse_size(value, &v);
                break;
        case ITEM_DURATION:
                r = parse_duration(value, &v);
                break;
        case ITEM_RATE:
                r = parse_rate(value, &v);
                if (r < 0)
                        *ret_reason = "must be 0 or a number of requests per second such as 10 or 0.5 (3 decimals)";
                break;
        }
        if (r >= 0 && (v < it->min || (it->max > 0 && v > it->max))) {
                *ret_reason = "is out of range (prepay-gatewayd.conf(5))";
                r = -ERANGE;
        }
        if (r < 0)
                return r;
        *(uint64_t *) p = v;
        return 0;
}

void gateway_config_done(struct gateway_config *c) {
        if (!c)
                return;
        for (size_t i = 0; i < ARRAY_SIZE(items); i++)
                if (items[i].type <= ITEM_LISTEN)
                        free(*(char **) ((char *) c + items[i].offset));
        *c = (struct gateway_config) {};
}

struct parser {
        struct gateway_config *config;
        const char *name;
        const char *next;
        unsigned line;
        int r;
};

/* Hands inih one line at a time, so that errors can name their line
 * (Debian's inih passes no line number to the handler). */
static char *reader(char *buf, int size, void *userdata) {
        struct parser *p = userdata;
        size_t len;

        if (*p->next == 0)
                return NULL;
        len = strcspn(p->next, "\n");
        len += p->next[len] == '\n';
        p->line++;
        if (len >= (size_t) size) {
                log_error("%s:%u: Line too long", p->name, p->line);
                if (p->r == 0)
                        p->r = -EINVAL;
                return NULL;
        }
        memcpy(buf, p->next, len);
        buf[len] = 0;
        p->next += len;
        return buf;
}

static int handler(void *userdata, const char *section, const char *key, const char *value) {
        struct parser *p = userdata;
        const char *reason;
        int r = -EINVAL;

        if (!streq(section, "Gateway") && !streq(section, "Metrics")) {
                log_error("%s:%u: Unknown section [%s] (the gateway reads [Gateway] and [Metrics])", p->name,
                          p->line, section);
                goto fail;
        }
        for (size_t i = 0; i < ARRAY_SIZE(items); i++)
                if (streq(items[i].key, key) && streq(item_section(items + i), section)) {
                        r = item_set(items + i, p->config, value, &reason);
                        if (r < 0) {
                                log_error_errno(r, "%s:%u: Invalid %s= value '%s': %s", p->name, p->line, key, value,
                                                reason ?: strerror(-r));
                                goto fail;
                        }
                        return 1;
                }
        log_error("%s:%u: Unknown key '%s' in section [%s]", p->name, p->line, key, section);
fail:
        if (p->r == 0)
                p->r = r;
        return 0;
}

int gateway_config_load_string(struct gateway_config *c, const char *text, const char *name) {
        _cleanup_(gateway_config_done) struct gateway_config t = {};
        struct parser p = { .config = &t, .name = name ?: "config", .next = text };
        const char *reason;
        int r;

        for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
                r = item_set(items + i, &t, items[i].default_value, &reason);
                if (r < 0)
                        return log_error_errno(r, "Built-in default %s=%s is invalid, this is a bug: %m",
                                               items[i].key, items[i].default_value);
        }

        r = ini_parse_stream(reader, &p, handler, &p);
        if (r > 0 && p.r == 0) {
                log_error("%s:%d: Syntax error", p.name, r);
                p.r = -EINVAL;
        } else if (r < 0 && p.r == 0)
                p.r = -ENOMEM;
        if (p.r < 0)
                return p.r;

        if (t.metrics_listen[0] && streq(t.metrics_listen, t.listen))
                return log_error_errno(EINVAL, "%s: [Metrics] Listen= must not be the storefront's Listen=: the "
                                       "metrics are the operator's.", p.name);
        if (!!t.certificate[0] != !!t.key[0])
                return log_error_errno(EINVAL, "%s: Certificate= and Key= go together: set both, or neither "
                                       "for a self-signed pair.", p.name);

        *c = t;
        t = (struct gateway_config) {};
        return 0;
}

int gateway_config_load(struct gateway_config *c, const char *path, int optional) {
        _cleanup_(freep) char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, &text, &size);
        if (r == -ENOENT && optional)
                return gateway_config_load_string(c, "", path);
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        if (strlen(text) != size)
                return log_error_errno(EINVAL, "%s: Contains a NUL byte, refusing.", path);
        return gateway_config_load_string(c, text, path);
}

static void item_print(FILE *f, const struct item *it, const struct gateway_config *c) {
        const void *p = (const char *) c + it->offset;
        uint64_t v;

        switch (it->type) {
        case ITEM_STRING:
        case ITEM_PATH:
        case ITEM_LISTEN:
                fputs(*(char *const *) p ?: "", f);
                return;
        case ITEM_LOGLEVEL:
                fputs(level_names[*(const int *) p & 7], f);
                return;
        case ITEM_RATE:
                v = *(const uint64_t *) p;
                if (v % 1000 == 0)
                        fprintf(f, "%" PRIu64, v / 1000);
                else
                        fprintf(f, "%" PRIu64 ".%03" PRIu64, v / 1000, v % 1000);
                return;
        case ITEM_DURATION:
                v = *(const uint64_t *) p;
                if (v % USEC_PER_SEC == 0)
                        fprintf(f, "%" PRIu64 "s", v / USEC_PER_SEC);
                else
                        fprintf(f, "%" PRIu64 "us", v);
                return;
        default:
                fprintf(f, "%" PRIu64, *(const uint64_t *) p);
                return;
        }
}

int gateway_config_dump(FILE *f, const struct gateway_config *c) {
        fputs(c ? "# prepay-gatewayd configuration in effect. See prepay-gatewayd.conf(5).\n"
                : "# prepay-gatewayd configuration. Each key is shown commented out with its\n"
                  "# built-in default; uncomment a line to change the value.\n"
                  "# See prepay-gatewayd.conf(5). \"prepay-gatewayd --dump-config\" prints this file.\n",
              f);
        for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
                bool first = i == 0 || !streq(item_section(items + i), item_section(items + i - 1));

                if (first)
                        fprintf(f, "\n[%s]\n", item_section(items + i));
                fprintf(f, "%s# %s\n", first ? "" : "\n", items[i].doc);
                if (c) {
                        fprintf(f, "%s=", items[i].key);
                        item_print(f, items + i, c);
                        fputc('\n', f);
                } else
                        fprintf(f, "#%s=%s\n", items[i].key, items[i].default_value);
        }
        if (fflush(f) != 0 || ferror(f))
                return -EIO;
        return 0;
}
