/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The fleet's thread: fleet.h says what and why. A worker thread with
 * blocking libpq calls rather than libpq's non-blocking mode on the
 * loop: PQconnectStart() still resolves a host name with a blocking
 * getaddrinfo(), a claim is several statements whose every step would
 * be a state of a machine in billing, and the shipper reads the ledger
 * file, which is disk I/O the loop should not wait for either. The
 * thread owns the connection and a read-only ledger handle; the loop
 * owns everything else. Nothing here logs from the thread: it leaves
 * its state for the loop, which logs the changes. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/request.h"
#include "common/util.h"
#include "fleet.h"

/* Entries shipped in one transaction of the fleet database: a batch of
 * the host's commits, and a bound on how long a row lock is held. */
#define FLEET_SHIP_BATCH 256
/* How often the thread looks again while the database is away or
 * entries are left, in seconds. */
#define FLEET_RETRY_SEC 1
/* How often the fleet's keys are read again without a miss, in seconds:
 * a host that joined is trusted within this even before its change
 * is first offered. */
#define FLEET_KEYS_REFRESH_SEC 30
/* Claims in one transaction of the fleet database at most (group
 * commit): all that queued while the last one ran, up to this. */
#define FLEET_GROUP_MAX 128
/* "uid 4294967295", "remote" */
#define FLEET_REQUESTER_MAX 24

enum job_kind {
        JOB_CLAIM,
        JOB_UNCLAIM,
};

struct job {
        enum job_kind kind;
        uint8_t ids[REQUEST_VOUCHERS_MAX][VOUCHER_ID_SIZE];
        size_t n;
        uint8_t claim[LEDGER_CLAIM_SIZE];
        char request_id[REQUEST_ID_MAX + 1];
        char requester[FLEET_REQUESTER_MAX];
        bool has_request_id;
        uint64_t now_usec;
        struct fleet_claimed result;
        void (*done)(const struct fleet_claimed *c, void *userdata);
        void *userdata;
        bool cancelled;
        struct job *next;
};

struct fleet {
        struct fleet_context ctx;
        char *conninfo, *host_id, *ledger_path, *fleet_id, *public_key;
        int efd;
        sd_event_source *source;
        pthread_t thread;
        bool started;

        pthread_mutex_t lock;
        pthread_cond_t wake;
        /* Under the lock: */
        bool stop, poked, keys_wanted;
        /* The fleet's keys as last read, and whether the loop has seen
         * them. */
        char *keys;
        bool keys_new;
        /* In order, appended at the tail: queued, taken by the thread
         * (the head is the one it runs), and done. */
        struct job *queue, *running, *done;
        bool connected;
        bool looked; /* the thread tried to connect once */
        uint64_t unshipped;
        char error[256];
        /* The loop's: what it logged last. */
        bool logged_down;
};

static void jobs_append(struct job **head, struct job *j) {
        struct job **p;

        j->next = NULL;
        for (p = head; *p; p = &(*p)->next)
                ;
        *p = j;
}

static void jobs_unlink(struct job **head, struct job *j) {
        for (struct job **p = head; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        return;
                }
}

static void jobs_free(struct job *j) {
        while (j) {
                struct job *n = j->next;

                free(j);
                j = n;
        }
}

/* ---- the thread ---- */

static void set_state(struct fleet *f, bool connected, uint64_t unshipped, const char *error) {
        pthread_mutex_lock(&f->lock);
        f->connected = connected;
        f->looked = true;
        if (unshipped != UINT64_MAX)
                f->unshipped = unshipped;
        if (error)
                snprintf(f->error, sizeof(f->error), "%s", error);
        else if (connected)
                f->error[0] = 0;
        pthread_mutex_unlock(&f->lock);
        (void) !write(f->efd, &(uint64_t) { 1 }, sizeof(uint64_t));
}

static void job_failed(struct job *j, int r, struct ledger_fleet *db) {
        j->result.r = r;
        snprintf(j->result.error, sizeof(j->result.error), "%s", db ? ledger_fleet_error(db) : "not connected");
}

static void run_unclaim(struct ledger_fleet *db, struct job *j) {
        int r;

        if (!db) {
                job_failed(j, -ENOTCONN, NULL);
                return;
        }
        r = ledger_fleet_unclaim(db, (const uint8_t(*)[VOUCHER_ID_SIZE]) j->ids, j->n, j->claim);
        j->result.r = r;
        if (r < 0)
                job_failed(j, r, db);
}

/* The claims of jobs[0..n) in one transaction: one fsync of the
 * database's log for all, where one each made the host's claims wait
 * in line for each other's. */
static void run_claims(struct ledger_fleet *db, struct job **jobs, size_t n) {
        struct ledger_fleet_claim c[FLEET_GROUP_MAX];
        int r;

        if (!db) {
                for (size_t i = 0; i < n; i++)
                        job_failed(jobs[i], -ENOTCONN, NULL);
                return;
        }
        for (size_t i = 0; i < n; i++)
                c[i] = (struct ledger_fleet_claim) {
                        .ids = (const uint8_t(*)[VOUCHER_ID_SIZE]) jobs[i]->ids,
                        .n = jobs[i]->n,
                        .claim = jobs[i]->claim,
                        .requester = jobs[i]->requester,
                        .request_id = jobs[i]->has_request_id ? jobs[i]->request_id : NULL,
                        .now_usec = jobs[i]->now_usec,
                };
        r = ledger_fleet_claims(db, c, n);
        for (size_t i = 0; i < n; i++) {
                if (r < 0) {
                        job_failed(jobs[i], r, db);
                        continue;
                }
                jobs[i]->result.r = c[i].r;
                jobs[i]->result.failed = c[i].failed;
                jobs[i]->result.spent = c[i].spent;
        }
}

/* FleetId=: publish this host's key after a connect, and read the
 * fleet's keys when due; the loop hears of them when they changed. */
static void fleet_keys_pass(struct fleet *f, struct ledger_fleet *db, bool *published, uint64_t *last_read) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        char *keys = NULL;
        bool wanted;

        if (!f->fleet_id)
                return;
        if (!*published) {
                /* Failed: the connection's error stands; tried again
                 * at the next pass. */
                if (ledger_fleet_publish_key(db, f->fleet_id, f->public_key, now_usec(CLOCK_REALTIME)) < 0)
                        return;
                *published = true;
        }
        pthread_mutex_lock(&f->lock);
        wanted = f->keys_wanted;
        f->keys_wanted = false;
        pthread_mutex_unlock(&f->lock);
        if (!wanted && *last_read > 0 && now - *last_read < FLEET_KEYS_REFRESH_SEC * USEC_PER_SEC)
                return;
        if (ledger_fleet_keys(db, f->fleet_id, &keys) < 0)
                return;
        *last_read = now;
        pthread_mutex_lock(&f->lock);
        if (!f->keys || !streq(f->keys, keys)) {
                free(f->keys);
                f->keys = keys;
                keys = NULL;
                f->keys_new = true;
        }
        pthread_mutex_unlock(&f->lock);
        free(keys);
        (void) !write(f->efd, &(uint64_t) { 1 }, sizeof(uint64_t));
}

/* Ships what is committed and not shipped, a batch at a time; the
 * number still to ship after, or UINT64_MAX when unknown. */
static uint64_t ship(struct fleet *f, struct ledger_fleet *db, struct ledger *local, char **error) {
        uint64_t shipped = 0, last = 0;
        int r;

        bool waiting;

        /* A batch at a time, and none more while a claim waits: a
         * backlog after an outage does not hold buyers up. */
        do {
                r = ledger_fleet_ship(db, local, FLEET_SHIP_BATCH, &shipped, error);
                pthread_mutex_lock(&f->lock);
                waiting = f->stop || f->queue;
                pthread_mutex_unlock(&f->lock);
        } while (r > 0 && !waiting);
        if (r < 0 || ledger_last_seq(local, &last) < 0)
                return UINT64_MAX;
        return last > shipped ? last - shipped : 0;
}

static void *fleet_main(void *userdata) {
        struct fleet *f = userdata;
        struct ledger_fleet *db = NULL;
        struct ledger *local = NULL;
        uint64_t keys_read = 0;
        bool published = false;

        for (;;) {
                _cleanup_(freep) char *error = NULL;
                struct job *retry = NULL;
                struct timespec until;
                uint64_t left;

                pthread_mutex_lock(&f->lock);
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += FLEET_RETRY_SEC;
                while (!f->stop && !f->queue && !f->poked)
                        if (pthread_cond_timedwait(&f->wake, &f->lock, &until) == ETIMEDOUT)
                                break;
                if (f->stop) {
                        pthread_mutex_unlock(&f->lock);
                        break;
                }
                /* Still listed while they run, so that fleet_cancel()
                 * marks them too. */
                f->running = f->queue;
                f->queue = NULL;
                f->poked = false;
                pthread_mutex_unlock(&f->lock);

                if (db && !ledger_fleet_ok(db)) {
                        ledger_fleet_free(db);
                        db = NULL;
                        published = false;
                }
                if (!db && ledger_fleet_connect(f->conninfo, f->host_id, &db, &error) < 0) {
                        db = NULL;
                        set_state(f, false, UINT64_MAX, error ?: "cannot connect");
                } else if (!published)
                        /* A new connection (or the publishing failed):
                         * publish, and read the keys at once. */
                        keys_read = 0;
                if (db)
                        fleet_keys_pass(f, db, &published, &keys_read);
                if (!local && ledger_open(f->ledger_path, true, &local, &error) < 0) {
                        local = NULL;
                        set_state(f, db != NULL, UINT64_MAX, error ?: "cannot read the ledger");
                }

                /* Claims first, all that are queued in one transaction: a
                 * buyer waits on each. Then the take-backs, one by one. */
                for (;;) {
                        struct job *group[FLEET_GROUP_MAX], *j;
                        size_t n = 0;

                        pthread_mutex_lock(&f->lock);
                        for (j = f->running; j && n < FLEET_GROUP_MAX; j = j->next)
                                if (j->kind == JOB_CLAIM)
                                        group[n++] = j;
                        j = n == 0 ? f->running : NULL;
                        pthread_mutex_unlock(&f->lock);
                        if (n == 0 && !j)
                                break;
                        if (n > 0)
                                run_claims(db, group, n);
                        else
                                run_unclaim(db, j);
                        pthread_mutex_lock(&f->lock);
                        for (size_t i = 0; i < n; i++) {
                                jobs_unlink(&f->running, group[i]);
                                jobs_append(&f->done, group[i]);
                        }
                        if (j) {
                                jobs_unlink(&f->running, j);
                                /* A take-back that did not reach the
                                 * database is tried again; it must
                                 * happen some time. */
                                if (j->result.r < 0)
                                        jobs_append(&retry, j);
                                else
                                        jobs_append(&f->done, j);
                        }
                        pthread_mutex_unlock(&f->lock);
                        /* Answered now, not after the shipping below:
                         * the buyers wait for the loop's credit next. */
                        if (n > 0)
                                (void) !write(f->efd, &(uint64_t) { 1 }, sizeof(uint64_t));
                }
                if (retry) {
                        pthread_mutex_lock(&f->lock);
                        /* Behind what came meanwhile: claims go first. */
                        for (struct job *j = retry, *n; j; j = n) {
                                n = j->next;
                                jobs_append(&f->queue, j);
                        }
                        pthread_mutex_unlock(&f->lock);
                }

                if (db && local) {
                        left = ship(f, db, local, &error);
                        /* Stopped for a claim: on with the rest at once. */
                        if (left != UINT64_MAX && left > 0) {
                                pthread_mutex_lock(&f->lock);
                                f->poked = true;
                                pthread_mutex_unlock(&f->lock);
                        }
                        set_state(f, ledger_fleet_ok(db), left, left == UINT64_MAX ? error ?: ledger_fleet_error(db)
                                                                                   : NULL);
                } else
                        (void) !write(f->efd, &(uint64_t) { 1 }, sizeof(uint64_t));
                /* A retry waits for the next second, not a busy loop. */
                if (retry) {
                        struct timespec ts = { .tv_sec = FLEET_RETRY_SEC };

                        nanosleep(&ts, NULL);
                }
        }
        ledger_fleet_free(db);
        ledger_close(local);
        return NULL;
}

/* ---- the loop ---- */

static int on_done(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct fleet *f = userdata;
        char error[sizeof(f->error)];
        bool connected;
        uint64_t n;

        if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                log_debug_errno(errno, "Failed to read the fleet thread's eventfd, ignoring: %m");

        pthread_mutex_lock(&f->lock);
        connected = f->connected;
        snprintf(error, sizeof(error), "%s", f->error);
        pthread_mutex_unlock(&f->lock);
        if (!connected && !f->logged_down) {
                log_error("The fleet database cannot be used: %s. No new money is taken until it can; running "
                          "slices go on, their charges kept on this host.", error[0] ? error : "not connected");
                f->logged_down = true;
        } else if (connected && f->logged_down) {
                log_info("The fleet database is reachable again.");
                f->logged_down = false;
        }

        if (f->ctx.fleet_keys) {
                _cleanup_(freep) char *keys = NULL;

                pthread_mutex_lock(&f->lock);
                if (f->keys_new) {
                        keys = strdup(f->keys);
                        f->keys_new = !keys; /* out of memory: at the next wake */
                }
                pthread_mutex_unlock(&f->lock);
                if (keys)
                        f->ctx.fleet_keys(keys, f->ctx.userdata);
        }

        /* One at a time: a callback may cancel others' jobs. */
        for (;;) {
                struct job *j;

                pthread_mutex_lock(&f->lock);
                j = f->done;
                if (j)
                        f->done = j->next;
                pthread_mutex_unlock(&f->lock);
                if (!j)
                        break;
                if (j->kind == JOB_UNCLAIM) {
                        if (f->ctx.unclaimed)
                                f->ctx.unclaimed(0, (const uint8_t(*)[VOUCHER_ID_SIZE]) j->ids, j->n, j->claim,
                                                 f->ctx.userdata);
                } else if (!j->cancelled && j->done)
                        j->done(&j->result, j->userdata);
                else
                        /* Nobody waits for it: what it may have claimed
                         * is taken back, and its intents go after. */
                        (void) fleet_unclaim(f, (const uint8_t(*)[VOUCHER_ID_SIZE]) j->ids, j->n, j->claim);
                free(j);
        }
        return 0;
}

static void queue_job(struct fleet *f, struct job *j) {
        pthread_mutex_lock(&f->lock);
        jobs_append(&f->queue, j);
        pthread_cond_signal(&f->wake);
        pthread_mutex_unlock(&f->lock);
}

int fleet_claim(struct fleet *f, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                const uint8_t claim[LEDGER_CLAIM_SIZE], const char *requester, const char *request_id,
                void (*done)(const struct fleet_claimed *c, void *userdata), void *userdata) {
        struct job *j;

        if (!f || n < 1 || n > REQUEST_VOUCHERS_MAX || !done ||
            (request_id && (!requester || strlen(requester) >= FLEET_REQUESTER_MAX)))
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        j->kind = JOB_CLAIM;
        memcpy(j->ids, ids, n * VOUCHER_ID_SIZE);
        j->n = n;
        memcpy(j->claim, claim, LEDGER_CLAIM_SIZE);
        if (request_id) {
                snprintf(j->request_id, sizeof(j->request_id), "%s", request_id);
                snprintf(j->requester, sizeof(j->requester), "%s", requester);
                j->has_request_id = true;
        }
        j->now_usec = now_usec(CLOCK_REALTIME);
        j->done = done;
        j->userdata = userdata;
        queue_job(f, j);
        return 0;
}

int fleet_unclaim(struct fleet *f, const uint8_t (*ids)[VOUCHER_ID_SIZE], size_t n,
                  const uint8_t claim[LEDGER_CLAIM_SIZE]) {
        struct job *j;

        if (!f || n < 1 || n > REQUEST_VOUCHERS_MAX)
                return -EINVAL;
        j = calloc(1, sizeof(*j));
        if (!j)
                return log_oom();
        j->kind = JOB_UNCLAIM;
        memcpy(j->ids, ids, n * VOUCHER_ID_SIZE);
        j->n = n;
        memcpy(j->claim, claim, LEDGER_CLAIM_SIZE);
        queue_job(f, j);
        return 0;
}

void fleet_cancel(struct fleet *f, void *userdata) {
        struct job *lists[3];

        if (!f)
                return;
        pthread_mutex_lock(&f->lock);
        /* Wherever it is: the thread reads no job's cancelled. */
        lists[0] = f->queue;
        lists[1] = f->running;
        lists[2] = f->done;
        for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
                for (struct job *j = lists[i]; j; j = j->next)
                        if (j->userdata == userdata && j->kind == JOB_CLAIM)
                                j->cancelled = true;
        pthread_mutex_unlock(&f->lock);
}

void fleet_refresh_keys(struct fleet *f) {
        if (!f || !f->fleet_id)
                return;
        pthread_mutex_lock(&f->lock);
        f->keys_wanted = true;
        pthread_mutex_unlock(&f->lock);
}

void fleet_poke(struct fleet *f) {
        if (!f)
                return;
        pthread_mutex_lock(&f->lock);
        f->poked = true;
        pthread_cond_signal(&f->wake);
        pthread_mutex_unlock(&f->lock);
}

bool fleet_connected(struct fleet *f) {
        bool c;

        pthread_mutex_lock(&f->lock);
        /* Before the thread's first look, a claim waits for it in the
         * queue: a request retried across a restart is not refused for
         * the moment the daemon has not connected yet. */
        c = f->connected || !f->looked;
        pthread_mutex_unlock(&f->lock);
        return c;
}

uint64_t fleet_unshipped(struct fleet *f) {
        uint64_t n;

        pthread_mutex_lock(&f->lock);
        n = f->unshipped;
        pthread_mutex_unlock(&f->lock);
        return n;
}

void fleet_last_error(struct fleet *f, char *buf, size_t n) {
        pthread_mutex_lock(&f->lock);
        snprintf(buf, n, "%s", f->error[0] ? f->error : "not connected yet");
        pthread_mutex_unlock(&f->lock);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct fleet *, fleet_free);

int fleet_new(const struct fleet_context *ctx, struct fleet **ret) {
        _cleanup_(fleet_freep) struct fleet *f = NULL;
        sigset_t all, old;
        int r;

        f = calloc(1, sizeof(*f));
        if (!f)
                return log_oom();
        f->efd = -1;
        pthread_mutex_init(&f->lock, NULL);
        pthread_cond_init(&f->wake, NULL);
        f->ctx = *ctx;
        f->conninfo = strdup(ctx->conninfo);
        f->host_id = strdup(ctx->host_id);
        f->ledger_path = strdup(ctx->ledger_path);
        if (!f->conninfo || !f->host_id || !f->ledger_path)
                return log_oom();
        if (ctx->fleet_id && ctx->fleet_id[0]) {
                f->fleet_id = strdup(ctx->fleet_id);
                f->public_key = strdup(ctx->public_key ?: "");
                if (!f->fleet_id || !f->public_key)
                        return log_oom();
        }
        snprintf(f->error, sizeof(f->error), "not connected yet");
        f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (f->efd < 0)
                return log_error_errno(errno, "Failed to make an eventfd for the fleet thread: %m");
        r = sd_event_add_io(ctx->event, &f->source, f->efd, EPOLLIN, on_done, f);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the fleet thread's eventfd: %m");
        /* No signal for the thread: they are the loop's (signalfd). */
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        r = -pthread_create(&f->thread, NULL, fleet_main, f);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to start the fleet thread: %m");
        f->started = true;
        *ret = TAKE_PTR(f);
        return 0;
}

void fleet_free(struct fleet *f) {
        if (!f)
                return;
        if (f->started) {
                pthread_mutex_lock(&f->lock);
                f->stop = true;
                pthread_cond_broadcast(&f->wake);
                pthread_mutex_unlock(&f->lock);
                pthread_join(f->thread, NULL);
        }
        jobs_free(f->queue);
        jobs_free(f->running);
        jobs_free(f->done);
        sd_event_source_disable_unref(f->source);
        if (f->efd >= 0)
                close(f->efd);
        pthread_mutex_destroy(&f->lock);
        pthread_cond_destroy(&f->wake);
        free(f->conninfo);
        free(f->host_id);
        free(f->ledger_path);
        free(f->fleet_id);
        free(f->public_key);
        free(f->keys);
        free(f);
}
