/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay --host, the I/O half: one libcurl easy handle per call to
 * prepay-gatewayd. TLS 1.2 or later, the server checked against the
 * system's CA store, or with --pin against the SHA-256 of its public key
 * alone (a gateway's self-signed certificate). HTTPS only, no redirects,
 * timeouts, and a reply larger than REMOTE_REPLY_MAX refused. remote.c
 * says what to send and reads what comes back. */
/* libcurl is called through pointers filled by dlopen() (below), where
 * its type-checking macros would not apply. */
#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "prepay.h"
#include "remote.h"

#ifndef PREPAY_VERSION
#define PREPAY_VERSION "0.1"
#endif

#define HTTP_CONNECT_TIMEOUT_SEC 10L
#define HTTP_TIMEOUT_SEC 60L
/* The gateway sends a comment every 15 s on an event stream: three missed
 * and the connection is taken for dead. */
#define HTTP_STREAM_IDLE_SEC 45L
#define HTTP_RETRY_MSEC 1000

const char *arg_host = NULL, *arg_pin = NULL;

/* libcurl is loaded the first time a gateway is called, not by every
 * command: with what it pulls in (a TLS library, Kerberos, LDAP, IDN,
 * HTTP/2...) it was about 8,800 of the 11,600 relocations the loader
 * did at each start of prepay, local commands included (tools/README.md). */
#define HTTP_CURL_LIBRARY "libcurl.so.4"

static struct {
        typeof(curl_global_init) *global_init;
        typeof(curl_easy_init) *easy_init;
        typeof(curl_easy_setopt) *easy_setopt;
        typeof(curl_easy_perform) *easy_perform;
        typeof(curl_easy_getinfo) *easy_getinfo;
        typeof(curl_easy_strerror) *easy_strerror;
        typeof(curl_easy_cleanup) *easy_cleanup;
        typeof(curl_slist_append) *slist_append;
        typeof(curl_slist_free_all) *slist_free_all;
} curl_sym;

static int curl_load(void) {
        static int loaded;
        void *dl;

        if (loaded)
                return loaded;
        dl = dlopen(HTTP_CURL_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        if (!dl)
                return loaded = log_error_errno(ENOPKG, "prepay --host needs libcurl (%s): %s", HTTP_CURL_LIBRARY,
                                                dlerror());
#define SYM(field, name)                                                                                   \
        if (!(curl_sym.field = dlsym(dl, name)))                                                           \
                return loaded = log_error_errno(ENOPKG, "%s lacks %s: prepay --host needs libcurl 7.85 or " \
                                                "later.", HTTP_CURL_LIBRARY, name)
        SYM(global_init, "curl_global_init");
        SYM(easy_init, "curl_easy_init");
        SYM(easy_setopt, "curl_easy_setopt");
        SYM(easy_perform, "curl_easy_perform");
        SYM(easy_getinfo, "curl_easy_getinfo");
        SYM(easy_strerror, "curl_easy_strerror");
        SYM(easy_cleanup, "curl_easy_cleanup");
        SYM(slist_append, "curl_slist_append");
        SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
        /* Kept loaded for the life of the command. */
        return loaded = 1;
}

static struct remote_host remote_host;
static char remote_pin[REMOTE_PIN_MAX];
static int remote_state; /* 0: not decided yet, 1: remote, 2: local, < 0: bad */

static int decide_remote(void) {
        const char *url = arg_host, *pin = arg_pin, *why = NULL, *from = "--host";

        if (!url && !arg_socket && (url = getenv("PREPAY_HOST")) && url[0])
                from = "$PREPAY_HOST";
        else if (!arg_host)
                url = NULL;
        if (arg_host && arg_socket)
                return log_error_errno(EINVAL, "--host and --socket name two daemons: give one.");
        if (!url) {
                if (arg_pin)
                        return log_error_errno(EINVAL, "--pin goes with --host (or $PREPAY_HOST).");
                return 2;
        }
        if (remote_host_parse(url, &remote_host, &why) < 0)
                return log_error_errno(EINVAL, "Invalid %s '%s': expected %s.", from, url, why);
        if (!pin && (pin = getenv("PREPAY_PIN")) && !pin[0])
                pin = NULL;
        if (pin && remote_pin_parse(pin, remote_pin) < 0)
                return log_error_errno(EINVAL, "Invalid %s '%s': expected sha256: and the base64 (or 64 hex digits) "
                                       "of the SHA-256 of the server's public key, as prepay-gatewayd logs it.",
                                       arg_pin ? "--pin" : "$PREPAY_PIN", pin);
        return 1;
}

int client_remote(const struct remote_host **ret) {
        if (remote_state == 0)
                remote_state = decide_remote();
        if (remote_state < 0)
                return remote_state;
        if (ret)
                *ret = remote_state == 1 ? &remote_host : NULL;
        return remote_state == 1;
}

/* What a transfer collects. */
struct transfer {
        char *body;
        size_t size;
        unsigned retry_after;
        bool too_large;
        /* A stream: its events go to the parser once the status says 200. */
        CURL *curl;
        struct remote_sse *sse;
        int (*on_event)(const char *type, const char *data, void *userdata);
        void *userdata;
        int stream_error;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata) {
        struct transfer *t = userdata;
        size_t len = size * n;
        char *b;

        if (t->sse) {
                long status = 0;

                (void) curl_sym.easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
                if (status == 200) {
                        t->stream_error = remote_sse_feed(t->sse, p, len, t->on_event, t->userdata);
                        return t->stream_error < 0 ? 0 : len;
                }
        }
        if (t->size + len > REMOTE_REPLY_MAX) {
                t->too_large = true;
                return 0; /* ends the transfer: CURLE_WRITE_ERROR */
        }
        b = realloc(t->body, t->size + len + 1);
        if (!b)
                return 0;
        memcpy(b + t->size, p, len);
        t->body = b;
        t->size += len;
        t->body[t->size] = 0;
        return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata) {
        struct transfer *t = userdata;
        size_t len = size * n;
        char line[64];

        /* Retry-After in seconds (an HTTP-date is not what the gateway sends). */
        if (len > 12 && len < sizeof(line) && strncasecmp(p, "Retry-After:", 12) == 0) {
                unsigned long v;
                char *e;

                memcpy(line, p + 12, len - 12);
                line[len - 12] = 0;
                v = strtoul(line, &e, 10);
                if (e != line && v < 86400)
                        t->retry_after = (unsigned) v;
        }
        return len;
}

static void curl_easy_cleanupp(CURL **c) {
        if (*c)
                curl_sym.easy_cleanup(*c);
}

static void curl_slist_free_allp(struct curl_slist **l) {
        if (*l)
                curl_sym.slist_free_all(*l);
}

/* "NAME: VALUE"; "NAME:" alone (value NULL) removes a header libcurl
 * would send. */
static int add_header(struct curl_slist **headers, const char *name, const char *value) {
        _cleanup_(freep) char *line = NULL;
        struct curl_slist *l;

        if (asprintf(&line, "%s:%s%s", name, value ? " " : "", strempty(value)) < 0)
                return -ENOMEM;
        l = curl_sym.slist_append(*headers, line);
        /* libcurl keeps its own copy; this one may hold the owner token. */
        explicit_bzero(line, strlen(line));
        if (!l)
                return -ENOMEM;
        *headers = l;
        return 0;
}

static int build_headers(const struct remote_call *c, struct curl_slist **ret) {
        struct curl_slist *h = NULL;
        int r;

        _cleanup_(freep) char *bearer = NULL;

        r = add_header(&h, "Accept", c->stream ? "text/event-stream" : "application/json");
        if (r >= 0 && c->body)
                r = add_header(&h, "Content-Type", "application/json");
        /* No "Expect: 100-continue" round trip before a small body. */
        if (r >= 0)
                r = add_header(&h, "Expect", NULL);
        if (r >= 0 && c->token)
                r = asprintf(&bearer, "Bearer %s", c->token) < 0 ? -ENOMEM : add_header(&h, "Authorization", bearer);
        if (bearer)
                explicit_bzero(bearer, strlen(bearer));
        if (r >= 0 && c->funder_proof)
                r = add_header(&h, "Prepay-Funder-Proof", c->funder_proof);
        if (r >= 0 && c->idempotency_key[0])
                r = add_header(&h, "Idempotency-Key", c->idempotency_key);
        if (r < 0) {
                curl_sym.slist_free_all(h);
                return r;
        }
        *ret = h;
        return 0;
}

/* A failed transfer in a sentence, and an errno the caller can act on:
 * -ECONNREFUSED (no connection: nothing was sent), -ECONNRESET (the
 * connection broke: the request may have gone out), -EPERM (the server
 * is not the one trusted: nothing was sent), others. */
static int transfer_failed(CURLcode code, const char *errbuf, const struct transfer *t) {
        const char *host = remote_host.key, *detail = errbuf[0] ? errbuf : curl_sym.easy_strerror(code);

        switch (code) {
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
                return log_error_errno(EPERM, "TLS: the public key of %s does not match --pin: nothing was sent (the "
                                       "gateway's key changed, or this is not the gateway).", host);
        case CURLE_PEER_FAILED_VERIFICATION:
                return log_error_errno(EPERM, "TLS: the certificate of %s is not trusted (%s): nothing was sent. For "
                                       "a gateway's self-signed certificate give --pin sha256:... as its log says.",
                                       host, detail);
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_USE_SSL_FAILED:
                return log_error_errno(EPROTO, "TLS: the handshake with %s failed (%s): nothing was sent.", host,
                                       detail);
        case CURLE_COULDNT_RESOLVE_HOST:
                return log_error_errno(EHOSTUNREACH, "Failed to resolve %s: %s", remote_host.host, detail);
        case CURLE_COULDNT_CONNECT:
                return log_error_errno(ECONNREFUSED, "No gateway answers at %s: %s", host, detail);
        case CURLE_OPERATION_TIMEDOUT:
                return log_error_errno(ETIMEDOUT, "No answer from %s in time: %s", host, detail);
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return log_error_errno(ECONNRESET, "The connection to %s broke: %s", host, detail);
        case CURLE_WRITE_ERROR:
                if (t->too_large)
                        return log_error_errno(EMSGSIZE, "The answer from %s is larger than %d bytes: refused.", host,
                                               REMOTE_REPLY_MAX);
                if (t->stream_error < 0)
                        return log_error_errno(t->stream_error, "The event stream from %s is malformed: %m", host);
                return log_error_errno(ENOMEM, "Failed to keep the answer from %s: %s", host, detail);
        default:
                return log_error_errno(EIO, "Failed to talk to %s: %s", host, detail);
        }
}

static int setup(CURL *curl, const struct remote_call *c, struct curl_slist *headers, struct transfer *t,
                 char *errbuf) {
        _cleanup_(freep) char *url = NULL;
        CURLcode e = CURLE_OK;

        if (asprintf(&url, "%s%s", remote_host.origin, c->path) < 0)
                return -ENOMEM;
#define SET(opt, v) \
        if (e == CURLE_OK) \
        e = curl_sym.easy_setopt(curl, opt, v)
        SET(CURLOPT_URL, url);
        SET(CURLOPT_PROTOCOLS_STR, "https");
        SET(CURLOPT_FOLLOWLOCATION, 0L);
        SET(CURLOPT_NOSIGNAL, 1L);
        SET(CURLOPT_ERRORBUFFER, errbuf);
        SET(CURLOPT_USERAGENT, "prepay/" PREPAY_VERSION);
        SET(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
        SET(CURLOPT_CONNECTTIMEOUT, HTTP_CONNECT_TIMEOUT_SEC);
        if (c->stream) {
                SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
                SET(CURLOPT_LOW_SPEED_TIME, HTTP_STREAM_IDLE_SEC);
        } else
                SET(CURLOPT_TIMEOUT, HTTP_TIMEOUT_SEC);
        if (remote_pin[0]) {
                /* The pin alone says who the server is: its certificate is
                 * self-signed, so no CA vouches for it and its name may be
                 * an address. libcurl checks the pin all the same. */
                SET(CURLOPT_PINNEDPUBLICKEY, remote_pin);
                SET(CURLOPT_SSL_VERIFYPEER, 0L);
                SET(CURLOPT_SSL_VERIFYHOST, 0L);
        }
        SET(CURLOPT_HTTPHEADER, headers);
        if (c->body) {
                SET(CURLOPT_POSTFIELDS, c->body);
                SET(CURLOPT_POSTFIELDSIZE, (long) strlen(c->body));
        }
        SET(CURLOPT_WRITEFUNCTION, on_body);
        SET(CURLOPT_WRITEDATA, t);
        SET(CURLOPT_HEADERFUNCTION, on_header);
        SET(CURLOPT_HEADERDATA, t);
#undef SET
        if (e != CURLE_OK)
                return log_error_errno(EIO, "Failed to set up the request to %s: %s", remote_host.key,
                                       curl_sym.easy_strerror(e));
        return 0;
}

/* One exchange: *ret_status and the body (or, for a stream, the body of a
 * refusal; the events went to t->on_event). */
static int perform(const struct remote_call *c, struct transfer *t, long *ret_status) {
        _cleanup_(curl_easy_cleanupp) CURL *curl = NULL;
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        static bool initialised;
        CURLcode e;
        int r;

        r = curl_load();
        if (r < 0)
                return r;
        if (!initialised) {
                if (curl_sym.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return log_error_errno(EIO, "Failed to initialise libcurl.");
                initialised = true;
        }
        curl = curl_sym.easy_init();
        if (!curl)
                return log_oom();
        r = build_headers(c, &headers);
        if (r < 0)
                return log_oom();
        t->curl = curl;
        r = setup(curl, c, headers, t, errbuf);
        if (r < 0)
                return r;
        e = curl_sym.easy_perform(curl);
        if (e != CURLE_OK)
                return transfer_failed(e, errbuf, t);
        (void) curl_sym.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, ret_status);
        return 0;
}

static bool moves_money(const char *op) {
        return streq(op, "create") || streq(op, "topup") || streq(op, "release");
}

/* One call, tried again once, a second later, when it may not have
 * arrived or its answer was lost: the same Idempotency-Key makes the
 * gateway answer a repeat of a POST that acted with the first outcome. */
static int call_with_retry(const struct remote_call *c, struct transfer *t, long *ret_status) {
        const struct timespec pause = { .tv_sec = HTTP_RETRY_MSEC / 1000 };
        int r;

        r = perform(c, t, ret_status);
        /* Not after a timeout: the request may still be at work there. */
        if (r == -ECONNRESET || r == -ECONNREFUSED) {
                log_info("Trying once more in %d ms%s.", HTTP_RETRY_MSEC,
                         c->idempotency_key[0] ? " with the same Idempotency-Key" : "");
                (void) nanosleep(&pause, NULL);
                free(t->body);
                t->body = NULL;
                t->size = 0;
                r = perform(c, t, ret_status);
        }
        if ((r == -ECONNRESET || r == -ETIMEDOUT) && moves_money(c->op))
                log_error("The request may have been done. Run the same command again with --request-id %s: the "
                          "gateway answers a repeat with the first outcome, and acts once.", c->idempotency_key);
        return r;
}

/* A POST without a request id gets a random Idempotency-Key all the same. */
static int prepare(json_object *req, struct remote_call *c) {
        const char *why = NULL;
        char id[33];
        int r;

        r = remote_call_from_request(req, c, &why);
        if (r == -EOPNOTSUPP)
                return log_error_errno(r, "Not offered over HTTPS (--host %s): %s.", remote_host.key, why);
        if (r < 0)
                return log_error_errno(r, "Cannot send this request to %s: %s.", remote_host.key,
                                       r == -ENOMEM ? "out of memory" : strna(why));
        if (streq(c->method, "POST") && !c->idempotency_key[0]) {
                r = client_new_request_id(id);
                if (r < 0) {
                        remote_call_done(c);
                        return r;
                }
                snprintf(c->idempotency_key, sizeof(c->idempotency_key), "%s", id);
        }
        return 0;
}

/* The answer, as the control reply, checked as client_call() checks one. */
static int answer(json_object *req, const struct remote_call *c, long status, const struct transfer *t,
                  json_object **ret) {
        json_object *reply = NULL;
        const char *why = NULL;
        int r;

        r = remote_reply_from_http(req, c, status, t->body ?: "", t->size, t->retry_after, &reply, &why);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "Malformed answer from %s (HTTP %ld): %s.", remote_host.key, status,
                                       strna(why));
        return client_reply_take(reply, ret);
}

int http_client_call(json_object *req, json_object **ret) {
        struct remote_call c = {};
        struct transfer t = {};
        long status = 0;
        int r;

        r = prepare(req, &c);
        if (r >= 0)
                r = call_with_retry(&c, &t, &status);
        if (r >= 0)
                r = answer(req, &c, status, &t, ret);
        free(t.body);
        remote_call_done(&c);
        json_object_put(req); /* consumed, as client_call() does */
        return r;
}

struct stream_ctx {
        int (*on_event)(json_object *ev, void *userdata);
        void *userdata;
};

static int stream_event(const char *type, const char *data, void *userdata) {
        struct stream_ctx *ctx = userdata;
        json_object *ev = NULL;
        int r;

        r = remote_event_from_data(data, &ev);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_warning("Ignoring a malformed event (%.32s) from %s.", type, remote_host.key);
                return 0;
        }
        r = ctx->on_event(ev, ctx->userdata);
        json_object_put(ev);
        return r;
}

int http_client_events(json_object *req, int (*on_event)(json_object *ev, void *userdata), void *userdata) {
        struct stream_ctx ctx = { .on_event = on_event, .userdata = userdata };
        struct remote_call c = {};
        struct remote_sse sse;
        struct transfer t = { .sse = &sse, .on_event = stream_event, .userdata = &ctx };
        long status = 0;
        int r;

        remote_sse_init(&sse);
        r = prepare(req, &c);
        if (r >= 0)
                r = perform(&c, &t, &status);
        if (r >= 0 && status == 200)
                r = log_error_errno(ECONNRESET, "%s closed the event stream.", remote_host.key);
        else if (r >= 0)
                r = answer(req, &c, status, &t, NULL) < 0 ? -EPROTO
                                                           : log_error_errno(EBADMSG, "%s answered HTTP %ld to an "
                                                                             "event stream.", remote_host.key, status);
        remote_sse_done(&sse);
        free(t.body);
        remote_call_done(&c);
        json_object_put(req);
        return r;
}
