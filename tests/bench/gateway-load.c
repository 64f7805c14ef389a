/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The client of tests/bench/gateway: the same purchases and top-ups sent
 * through prepay-gatewayd (HTTPS) and through prepayd's control socket,
 * and idle keep-alive TLS connections held open.
 *
 *   bench-gateway-load --socket PATH [WORK] KIND VOUCHERS CLIENTS COUNT
 *       The baseline: CLIENTS threads, each on its own control connection
 *       (as tests/bench/redeem.c), each sending COUNT requests one after
 *       the other.
 *   bench-gateway-load --url URL --pin PIN [WORK] KIND VOUCHERS CLIENTS COUNT
 *       The gateway: CLIENTS keep-alive HTTPS connections driven by one
 *       libcurl multi handle, each sending COUNT requests one after the
 *       other. Each connection is made (TLS handshake, a GET /v1/prices)
 *       before the clock starts.
 *   bench-gateway-load --url URL --pin PIN idle CONNECTIONS
 *       Opens CONNECTIONS TLS connections, each serving one GET /v1/prices
 *       and then left open and idle; prints "ready N" once they are, and
 *       holds them until its standard input ends.
 *
 * WORK: --slice ID (topup), --image NAME --ssh-key FILE (buy, buy402).
 * KIND:
 *   topup   one voucher into the slice (200 / "ok": true);
 *   buy     a VM slice of the image, 1 CPU, 512M, 1 h, with one voucher
 *           (201 / "ok": true), then released with its owner token: each
 *           purchase starts a QEMU;
 *   buy402  the same purchase with a voucher too small for it: 402 /
 *           "payment_required", the whole request path but no QEMU.
 * Vouchers come one per line from the file VOUCHERS, each used once. Every
 * POST carries a unique Idempotency-Key, every control request a unique
 * request_id: both paths record the request id.
 *
 * Prints "KIND: N in S s: R/s (C clients, F failed, K connections made);
 * latency p50 X ms, p99 Y ms; client CPU U us each" (for buy also the
 * release's p50 and p99): the latency of each request from its sending to
 * its whole answer, K the connections made while the clock ran (0: all
 * kept alive), U this program's own CPU per request.
 * Exits 1 when any request got another answer than the one expected. */
#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "common/log.h"
#include "common/util.h"

#define REPLY_MAX 65536

enum kind { KIND_TOPUP, KIND_BUY, KIND_BUY402 };
static const char *const kind_names[] = { "topup", "buy", "buy402" };

static struct {
        const char *socket, *url, *pin, *slice, *image;
        char *ssh_key;
        enum kind kind;
        unsigned clients;
        size_t count;
} arg;

static char **vouchers;
static size_t n_vouchers;

/* The request id (and Idempotency-Key) of voucher i: vouchers are unique,
 * and so is the text after their prefix. */
static void request_id_of(size_t i, char ret[static 32]) {
        snprintf(ret, 32, "b-%.24s", vouchers[i] + 4);
}

static char *json_text(json_object *o) {
        char *s = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));

        json_object_put(o);
        return s;
}

/* The control request for voucher i, as prepayd reads it: what the
 * gateway sends for the same HTTP request (daemon/gateway-api.c). */
static char *control_request(size_t i) {
        json_object *o = json_object_new_object(), *limits;
        char id[32];

        request_id_of(i, id);
        if (arg.kind == KIND_TOPUP) {
                json_object_object_add(o, "op", json_object_new_string("topup"));
                json_object_object_add(o, "slice", json_object_new_string(arg.slice));
        } else {
                json_object_object_add(o, "op", json_object_new_string("create"));
                json_object_object_add(o, "cpus_milli", json_object_new_int64(1000));
                limits = json_object_new_object();
                json_object_object_add(limits, "memory_max", json_object_new_int64(512 << 20));
                json_object_object_add(o, "limits", limits);
                json_object_object_add(o, "duration_usec", json_object_new_int64(3600 * (int64_t) USEC_PER_SEC));
                json_object_object_add(o, "vm_image", json_object_new_string(arg.image));
                json_object_object_add(o, "ssh_key", json_object_new_string(arg.ssh_key));
                json_object_object_add(o, "exhausted_action", json_object_new_string("freeze"));
        }
        json_object_object_add(o, "voucher", json_object_new_string(vouchers[i]));
        json_object_object_add(o, "request_id", json_object_new_string(id));
        return json_text(o);
}

/* The body of the same request through the API (prepay-api(7)). */
static char *api_body(size_t i) {
        json_object *o = json_object_new_object(), *vm;

        json_object_object_add(o, "voucher", json_object_new_string(vouchers[i]));
        if (arg.kind != KIND_TOPUP) {
                json_object_object_add(o, "cpus", json_object_new_string("1"));
                json_object_object_add(o, "memory", json_object_new_string("512M"));
                json_object_object_add(o, "duration", json_object_new_string("1h"));
                json_object_object_add(o, "on_exhausted", json_object_new_string("freeze"));
                vm = json_object_new_object();
                json_object_object_add(vm, "image", json_object_new_string(arg.image));
                json_object_object_add(vm, "ssh_key", json_object_new_string(arg.ssh_key));
                json_object_object_add(o, "vm", vm);
        }
        return json_text(o);
}

/* The slice id and owner token of a purchase's answer (prepayd's reply
 * or the API's 201 body: both {"slice": {"id"}, "token"}). */
static int purchase_of(const char *reply, char slice[static 64], char token[static 128]) {
        json_object *o = json_tokener_parse(reply), *s, *id, *t;
        int r = -EBADMSG;

        if (o && json_object_object_get_ex(o, "slice", &s) && json_object_object_get_ex(s, "id", &id) &&
            json_object_object_get_ex(o, "token", &t)) {
                snprintf(slice, 64, "%s", json_object_get_string(id));
                snprintf(token, 128, "%s", json_object_get_string(t));
                r = 0;
        }
        json_object_put(o);
        return r;
}

/* Latencies in seconds, of the purchases (or top-ups) and the releases. */
struct samples {
        double *v;
        size_t n;
};

static void samples_add(struct samples *s, double t) {
        s->v[s->n++] = t;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest sample with at least p of them at or below it. */
static double percentile(struct samples *s, double p) {
        size_t k;

        if (s->n == 0)
                return 0;
        qsort(s->v, s->n, sizeof(double), cmp_double);
        k = (size_t) (p * (double) s->n + 0.999999);
        return s->v[k ? k - 1 : 0];
}

struct outcome {
        size_t done, failed, connects;
        struct samples lat, rel;
        char first_failure[512];
};

static void fail_with(struct outcome *o, const char *what, const char *reply) {
        if (o->failed++ == 0)
                snprintf(o->first_failure, sizeof(o->first_failure), "%s: %.200s", what, reply);
}

/* The client's own CPU (all its threads), which competes with the
 * daemons for the same CPUs. */
static double cpu_at_start;

static double cpu_sec(void) {
        struct rusage ru;

        if (getrusage(RUSAGE_SELF, &ru) < 0)
                return 0;
        return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
               (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static double clock_start(void) {
        cpu_at_start = cpu_sec();
        return bench_now_sec();
}

static void report(const struct outcome *o_, double t) {
        struct outcome o = *o_;
        double cpu = cpu_sec() - cpu_at_start;

        printf("%s: %zu in %.3f s: %.1f/s (%u clients, %zu failed, %zu connections made); latency p50 %.2f ms, p99 %.2f ms",
               kind_names[arg.kind], o.done, t, (double) o.done / t, arg.clients, o.failed, o.connects,
               percentile(&o.lat, 0.5) * 1e3, percentile(&o.lat, 0.99) * 1e3);
        printf("; client CPU %.0f us each", o.done ? cpu * 1e6 / (double) o.done : 0);
        if (arg.kind == KIND_BUY)
                printf("; release p50 %.2f ms, p99 %.2f ms", percentile(&o.rel, 0.5) * 1e3,
                       percentile(&o.rel, 0.99) * 1e3);
        printf("\n");
        if (o.failed)
                fprintf(stderr, "first failure: %s\n", o.first_failure);
}

/* The baseline: the local control socket, a thread per client. */
struct client {
        int fd;
        size_t first;
        struct outcome out;
        pthread_t thread;
};

static int control_call(int fd, const char *req, char reply[static REPLY_MAX]) {
        ssize_t k;

        if (send(fd, req, strlen(req), MSG_NOSIGNAL) < 0)
                return -errno;
        k = recv(fd, reply, REPLY_MAX - 1, 0);
        if (k < 0)
                return -errno;
        if (k == 0)
                return -ECONNRESET;
        reply[k] = 0;
        return 0;
}

static bool control_ok(const char *reply) {
        return strstr(reply, "\"ok\":true");
}

static void local_one(int fd, size_t i, struct outcome *o, char reply[static REPLY_MAX]) {
        _cleanup_(freep) char *req = control_request(i), *rel = NULL;
        char slice[64], token[128];
        double t0 = bench_now_sec();
        json_object *r;
        bool ok;

        if (!req || control_call(fd, req, reply) < 0) {
                fail_with(o, "control socket", "no answer");
                return;
        }
        ok = arg.kind == KIND_BUY402 ? strstr(reply, "\"code\":\"payment_required\"") != NULL : control_ok(reply);
        if (!ok) {
                fail_with(o, kind_names[arg.kind], reply);
                return;
        }
        samples_add(&o->lat, bench_now_sec() - t0);
        o->done++;
        if (arg.kind != KIND_BUY)
                return;

        if (purchase_of(reply, slice, token) < 0) {
                fail_with(o, "purchase without a slice or token", reply);
                return;
        }
        r = json_object_new_object();
        json_object_object_add(r, "op", json_object_new_string("release"));
        json_object_object_add(r, "slice", json_object_new_string(slice));
        json_object_object_add(r, "token", json_object_new_string(token));
        rel = json_text(r);
        t0 = bench_now_sec();
        if (!rel || control_call(fd, rel, reply) < 0 || !control_ok(reply)) {
                fail_with(o, "release", reply);
                return;
        }
        samples_add(&o->rel, bench_now_sec() - t0);
}

static void *local_run(void *userdata) {
        struct client *c = userdata;
        _cleanup_(freep) char *reply = malloc(REPLY_MAX);

        if (!reply) {
                fail_with(&c->out, "client", "out of memory");
                return NULL;
        }
        for (size_t i = c->first; i < c->first + arg.count; i++)
                local_one(c->fd, i, &c->out, reply);
        return NULL;
}

/* Made before the clock starts, as the gateway's connections are. */
static int local_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", arg.socket);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return log_error_errno(errno, "Failed to make a socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = log_error_errno(errno, "Failed to connect to %s: %m", arg.socket);

                close(fd);
                return r;
        }
        return fd;
}

static int bench_local(void) {
        _cleanup_(freep) struct client *clients = calloc(arg.clients, sizeof(struct client));
        _cleanup_(freep) double *lat = calloc(arg.clients * arg.count, sizeof(double)),
                                *rel = calloc(arg.clients * arg.count, sizeof(double));
        struct outcome all = { .lat.v = lat, .rel.v = rel };
        unsigned started = 0;
        double t0;
        int r = 0;

        if (!clients || !lat || !rel)
                return log_oom();
        for (unsigned i = 0; i < arg.clients; i++) {
                clients[i].fd = -EBADF;
                clients[i].first = i * arg.count;
                clients[i].out.lat.v = lat + i * arg.count;
                clients[i].out.rel.v = rel + i * arg.count;
        }
        for (unsigned i = 0; i < arg.clients; i++) {
                clients[i].fd = local_connect();
                if (clients[i].fd < 0) {
                        r = clients[i].fd;
                        goto out;
                }
        }

        t0 = clock_start();
        for (started = 0; started < arg.clients; started++) {
                r = -pthread_create(&clients[started].thread, NULL, local_run, &clients[started]);
                if (r < 0)
                        break;
        }
        for (unsigned i = 0; i < started; i++)
                pthread_join(clients[i].thread, NULL);
        t0 = bench_now_sec() - t0;
        if (r < 0) {
                log_error_errno(r, "Failed to start a client thread: %m");
                goto out;
        }

        /* Each client's samples sit in its own stretch: close the gaps. */
        for (unsigned i = 0; i < arg.clients; i++) {
                struct outcome *o = &clients[i].out;

                memmove(lat + all.lat.n, o->lat.v, o->lat.n * sizeof(double));
                all.lat.n += o->lat.n;
                memmove(rel + all.rel.n, o->rel.v, o->rel.n * sizeof(double));
                all.rel.n += o->rel.n;
                all.done += o->done;
                all.connects += o->connects;
                if (o->failed && all.failed == 0)
                        memcpy(all.first_failure, o->first_failure, sizeof(all.first_failure));
                all.failed += o->failed;
        }
        report(&all, t0);
        r = all.failed ? -EIO : 0;
out:
        for (unsigned i = 0; i < arg.clients; i++)
                if (clients[i].fd >= 0)
                        close(clients[i].fd);
        return r;
}

/* The gateway: one libcurl multi handle, a slot per client, each slot's
 * easy handle re-added for its next request so that it takes an idle
 * connection from the multi handle's cache: keep-alive. */
enum phase { PHASE_WARMUP, PHASE_REQUEST, PHASE_RELEASE };

struct slot {
        CURL *easy;
        struct curl_slist *headers;
        enum phase phase;
        size_t next, end;
        char *body;
        char reply[REPLY_MAX];
        size_t reply_size;
        double t0;
        bool fresh; /* a connection of its own, not one from the cache */
        char url[512], slice[64], token[128];
};

static size_t on_data(char *p, size_t size, size_t n, void *userdata) {
        struct slot *s = userdata;
        size_t k = MIN(size * n, sizeof(s->reply) - 1 - s->reply_size);

        memcpy(s->reply + s->reply_size, p, k);
        s->reply_size += k;
        s->reply[s->reply_size] = 0;
        return size * n;
}

static int slot_setup(struct slot *s, const char *path, const char *body, const char *bearer, const char *key) {
        char h[256];

        curl_easy_reset(s->easy);
        curl_slist_free_all(s->headers);
        s->headers = NULL;
        s->reply_size = 0;
        s->reply[0] = 0;
        snprintf(s->url, sizeof(s->url), "%s%s", arg.url, path);
        curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
        curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_1_1);
        /* The gateway's certificate is self-signed: its key is pinned instead. */
        curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(s->easy, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(s->easy, CURLOPT_PINNEDPUBLICKEY, arg.pin);
        curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
        curl_easy_setopt(s->easy, CURLOPT_TIMEOUT, 120L);
        curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(s->easy, CURLOPT_FRESH_CONNECT, s->fresh ? 1L : 0L);
        if (body) {
                s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
                /* No "Expect: 100-continue" round trip for a larger body. */
                s->headers = curl_slist_append(s->headers, "Expect:");
                curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
                curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
                curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
        }
        if (bearer) {
                snprintf(h, sizeof(h), "Authorization: Bearer %s", bearer);
                s->headers = curl_slist_append(s->headers, h);
        }
        if (key) {
                snprintf(h, sizeof(h), "Idempotency-Key: %s", key);
                s->headers = curl_slist_append(s->headers, h);
        }
        curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
        s->t0 = bench_now_sec();
        return 0;
}

static int slot_start(CURLM *m, struct slot *s) {
        char path[128], key[32];

        free(s->body);
        s->body = NULL;
        switch (s->phase) {
        case PHASE_WARMUP:
                slot_setup(s, "/v1/prices", NULL, NULL, NULL);
                break;
        case PHASE_REQUEST:
                s->body = api_body(s->next);
                if (!s->body)
                        return log_oom();
                if (arg.kind == KIND_TOPUP)
                        snprintf(path, sizeof(path), "/v1/slices/%s/topup", arg.slice);
                else
                        snprintf(path, sizeof(path), "/v1/slices");
                request_id_of(s->next, key);
                slot_setup(s, path, s->body, NULL, key);
                break;
        case PHASE_RELEASE:
                snprintf(path, sizeof(path), "/v1/slices/%s/release", s->slice);
                s->body = strdup("");
                if (!s->body)
                        return log_oom();
                slot_setup(s, path, s->body, s->token, NULL);
                break;
        }
        return curl_multi_add_handle(m, s->easy) == CURLM_OK ? 0 : -EIO;
}

/* A slot's answer came: counts it and says what the slot sends next
 * (1), or that it is done (0). */
static int slot_done(struct slot *s, CURLcode cc, struct outcome *o) {
        long status = 0, connects = 0;
        char what[64];

        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
        if (s->phase != PHASE_WARMUP)
                o->connects += (size_t) connects;
        if (cc != CURLE_OK) {
                snprintf(what, sizeof(what), "%s", curl_easy_strerror(cc));
                status = -1;
        } else
                snprintf(what, sizeof(what), "HTTP %ld", status);

        switch (s->phase) {
        case PHASE_WARMUP:
                if (status != 200)
                        fail_with(o, "GET /v1/prices", what);
                s->phase = PHASE_REQUEST;
                return 0;
        case PHASE_REQUEST:
                if (status != (arg.kind == KIND_TOPUP ? 200 : arg.kind == KIND_BUY ? 201 : 402)) {
                        fail_with(o, what, s->reply);
                        s->next++;
                        return s->next < s->end;
                }
                samples_add(&o->lat, bench_now_sec() - s->t0);
                o->done++;
                if (arg.kind == KIND_BUY) {
                        if (purchase_of(s->reply, s->slice, s->token) < 0)
                                fail_with(o, "a 201 without a slice or token", s->reply);
                        else {
                                s->phase = PHASE_RELEASE;
                                return 1;
                        }
                }
                s->next++;
                return s->next < s->end;
        case PHASE_RELEASE:
                if (status != 200)
                        fail_with(o, "release", s->reply);
                else
                        samples_add(&o->rel, bench_now_sec() - s->t0);
                s->phase = PHASE_REQUEST;
                s->next++;
                return s->next < s->end;
        }
        return 0;
}

/* Runs the multi handle until no transfer is left; slot_done() decides
 * what follows each. */
static int multi_drive(CURLM *m, struct outcome *o) {
        int running = 1, q;
        CURLMsg *msg;

        while (running) {
                if (curl_multi_perform(m, &running) != CURLM_OK)
                        return log_error_errno(EIO, "curl_multi_perform() failed.");
                while ((msg = curl_multi_info_read(m, &q))) {
                        struct slot *s;

                        if (msg->msg != CURLMSG_DONE)
                                continue;
                        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &s);
                        curl_multi_remove_handle(m, s->easy);
                        if (slot_done(s, msg->data.result, o) > 0) {
                                if (slot_start(m, s) < 0)
                                        return -EIO;
                                running = 1;
                        }
                }
                if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
                        return log_error_errno(EIO, "curl_multi_poll() failed.");
        }
        return 0;
}

static int bench_gateway(void) {
        _cleanup_(freep) struct slot *slots = calloc(arg.clients, sizeof(struct slot));
        _cleanup_(freep) double *lat = calloc(arg.clients * arg.count, sizeof(double)),
                                *rel = calloc(arg.clients * arg.count, sizeof(double));
        struct outcome warm = {}, all = { .lat.v = lat, .rel.v = rel };
        CURLM *m = curl_multi_init();
        double t0 = 0;
        int r = -EIO;

        if (!slots || !lat || !rel || !m)
                return log_oom();
        /* A connection per client, kept: none is closed for want of room
         * in the cache, and none shared while in use (HTTP/1.1). */
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long) arg.clients + 4);
        for (unsigned i = 0; i < arg.clients; i++) {
                slots[i].easy = curl_easy_init();
                slots[i].next = i * arg.count;
                slots[i].end = slots[i].next + arg.count;
                if (!slots[i].easy || slot_start(m, &slots[i]) < 0)
                        goto out;
        }
        if (multi_drive(m, &warm) < 0)
                goto out;
        if (warm.failed) {
                log_error("The connections could not be made: %s", warm.first_failure);
                goto out;
        }

        t0 = clock_start();
        for (unsigned i = 0; i < arg.clients; i++)
                if (slot_start(m, &slots[i]) < 0)
                        goto out;
        if (multi_drive(m, &all) < 0)
                goto out;
        t0 = bench_now_sec() - t0;
        report(&all, t0);
        r = all.failed ? -EIO : 0;
out:
        for (unsigned i = 0; i < arg.clients; i++) {
                if (slots[i].easy)
                        curl_multi_remove_handle(m, slots[i].easy);
                curl_easy_cleanup(slots[i].easy);
                curl_slist_free_all(slots[i].headers);
                free(slots[i].body);
        }
        curl_multi_cleanup(m);
        return r;
}

/* Idle connections: each made afresh for one GET /v1/prices, at most 50
 * handshakes at a time, then kept in the multi handle's cache, where
 * nothing touches them until the end. */
static int bench_idle(unsigned n) {
        _cleanup_(freep) struct slot *slots = calloc(n, sizeof(struct slot));
        struct outcome o = {};
        CURLM *m = curl_multi_init();
        long made = 0;
        char c;
        int r = -EIO;

        if (!slots || !m)
                return log_oom();
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long) n + 16);
        for (unsigned i = 0; i < n; i += 50) {
                for (unsigned j = i; j < MIN(n, i + 50); j++) {
                        slots[j].easy = curl_easy_init();
                        slots[j].fresh = true;
                        if (!slots[j].easy || slot_start(m, &slots[j]) < 0)
                                goto out;
                }
                if (multi_drive(m, &o) < 0)
                        goto out;
                for (unsigned j = i; j < MIN(n, i + 50); j++) {
                        long k = 0;

                        curl_easy_getinfo(slots[j].easy, CURLINFO_NUM_CONNECTS, &k);
                        made += k;
                }
        }
        if (o.failed) {
                log_error("%zu of %u idle connections failed: %s", o.failed, n, o.first_failure);
                goto out;
        }
        printf("ready %ld\n", made);
        fflush(stdout);
        while (read(STDIN_FILENO, &c, 1) > 0)
                ;
        r = 0;
out:
        for (unsigned i = 0; i < n; i++) {
                curl_easy_cleanup(slots[i].easy);
                curl_slist_free_all(slots[i].headers);
                free(slots[i].body);
        }
        curl_multi_cleanup(m);
        return r;
}

/* A thousand connections need more descriptors than the soft limit's 1024. */
static void raise_nofile(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                        log_warning_errno(errno, "Failed to raise RLIMIT_NOFILE, ignoring: %m");
        }
}

static int usage(void) {
        fprintf(stderr,
                "Usage: bench-gateway-load --socket PATH|--url URL --pin PIN [--slice ID] [--image NAME --ssh-key FILE]\n"
                "                          topup|buy|buy402 VOUCHERS CLIENTS COUNT\n"
                "       bench-gateway-load --url URL --pin PIN idle CONNECTIONS\n");
        return 2;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "socket", required_argument, NULL, 's' }, { "url", required_argument, NULL, 'u' },
                { "pin", required_argument, NULL, 'p' },    { "slice", required_argument, NULL, 'S' },
                { "image", required_argument, NULL, 'i' },  { "ssh-key", required_argument, NULL, 'k' },
                {},
        };
        const char *ssh_key_path = NULL;
        char **lines = NULL;
        size_t n_lines = 0;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 's': arg.socket = optarg; break;
                case 'u': arg.url = optarg; break;
                case 'p': arg.pin = optarg; break;
                case 'S': arg.slice = optarg; break;
                case 'i': arg.image = optarg; break;
                case 'k': ssh_key_path = optarg; break;
                default: return usage();
                }
        argc -= optind;
        argv += optind;
        if (!arg.socket == !arg.url || (arg.url && !arg.pin) || argc < 2)
                return usage();
        raise_nofile();
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return log_error_errno(EIO, "curl_global_init() failed."), 1;

        if (streq(argv[0], "idle")) {
                if (argc != 2 || !arg.url)
                        return usage();
                return bench_idle((unsigned) atoi(argv[1])) < 0 ? 1 : 0;
        }
        if (argc != 4)
                return usage();
        for (c = 0; c < (int) ARRAY_SIZE(kind_names) && !streq(argv[0], kind_names[c]); c++)
                ;
        if (c == ARRAY_SIZE(kind_names))
                return usage();
        arg.kind = (enum kind) c;
        if (arg.kind == KIND_TOPUP ? !arg.slice : !arg.image || !ssh_key_path)
                return usage();
        if (ssh_key_path) {
                if (bench_read_lines(ssh_key_path, &lines, &n_lines) < 0 || n_lines < 1)
                        return log_error("No SSH key in %s.", ssh_key_path), 1;
                arg.ssh_key = lines[0];
        }
        arg.clients = (unsigned) atoi(argv[2]);
        arg.count = (size_t) atol(argv[3]);
        if (arg.clients < 1 || arg.count < 1)
                return usage();
        if (bench_read_lines(argv[1], &vouchers, &n_vouchers) < 0)
                return 1;
        if (arg.clients * arg.count > n_vouchers)
                return log_error("%u x %zu requests need more than the %zu vouchers given.", arg.clients, arg.count,
                                 n_vouchers), 1;

        r = arg.socket ? bench_local() : bench_gateway();
        curl_global_cleanup();
        return r < 0 ? 1 : 0;
}
