/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "verify.h"

struct job {
        struct verify_checked *checked;
        void (*done)(struct verify_checked *c, void *userdata);
        void *userdata;
        bool cancelled; /* its connection went while a worker ran it */
        struct job *next;
};

/* A FIFO of jobs. */
struct jobs {
        struct job *first, **last;
};

struct verify_pool {
        sd_event_source *source; /* the eventfd: jobs are done */
        int efd;
        pthread_mutex_t lock;
        pthread_cond_t wake;
        /* Under lock: the queue, the jobs workers run, and those done but
         * not yet handed back; how many in all, and the most. */
        struct jobs queue, done;
        struct job **running; /* one slot per worker */
        size_t n_jobs, max_jobs;
        bool stop;
        pthread_t *threads;
        unsigned n_threads, n_started;
};

struct worker {
        struct verify_pool *pool;
        unsigned index;
};

void verify_checked_free(struct verify_checked *c) {
        if (!c)
                return;
        for (size_t i = 0; i < c->n; i++)
                free(c->error[i]);
        keys_issuers_unref(c->issuers);
        free(c);
}

int verify_checked_find(const struct verify_checked *c, struct keys *k, const struct voucher *v, int *ret_r,
                        const char **ret_error) {
        if (!c || !keys_issuers_current(k, c->issuers))
                return 0;
        /* The same voucher: its id, and the signature over all its fields
         * (a voucher with a field changed but its signature kept was
         * checked as that, and matches only itself). */
        for (size_t i = 0; i < c->n; i++)
                if (memcmp(c->v[i].id, v->id, sizeof(v->id)) == 0 &&
                    memcmp(c->v[i].signature, v->signature, sizeof(v->signature)) == 0 &&
                    c->v[i].amount == v->amount && streq(c->v[i].currency, v->currency) &&
                    memcmp(c->v[i].issuer, v->issuer, sizeof(v->issuer)) == 0 &&
                    c->v[i].not_before == v->not_before && c->v[i].not_after == v->not_after &&
                    streq(c->v[i].audience, v->audience)) {
                        *ret_r = c->r[i];
                        *ret_error = c->error[i];
                        return 1;
                }
        return 0;
}

unsigned verify_threads(uint64_t configured) {
        long n = configured > 0 ? (long) MIN(configured, (uint64_t) VERIFY_THREADS_MAX)
                                : sysconf(_SC_NPROCESSORS_ONLN);

        return n < 1 ? 1 : (unsigned) MIN(n, (long) VERIFY_THREADS_MAX);
}

static void jobs_push(struct jobs *q, struct job *j) {
        j->next = NULL;
        *q->last = j;
        q->last = &j->next;
}

static struct job *jobs_pop(struct jobs *q) {
        struct job *j = q->first;

        if (j) {
                q->first = j->next;
                if (!q->first)
                        q->last = &q->first;
        }
        return j;
}

static void jobs_init(struct jobs *q) {
        q->first = NULL;
        q->last = &q->first;
}

/* On the loop's thread: the snapshot's reference is dropped there. */
static void job_free(struct job *j) {
        if (!j)
                return;
        verify_checked_free(j->checked);
        free(j);
}

/* The pure check, on a worker: nothing here touches the daemon's state. */
static void job_run(struct verify_checked *c) {
        int64_t now = (int64_t) time(NULL);

        for (size_t i = 0; i < c->n; i++)
                c->r[i] = keys_issuers_verify(c->issuers, &c->v[i], now, &c->error[i]);
}

static void *worker_main(void *userdata) {
        struct worker *w = userdata;
        struct verify_pool *p = w->pool;
        unsigned index = w->index;

        free(w);
        pthread_mutex_lock(&p->lock);
        for (;;) {
                struct job *j;

                while (!p->stop && !p->queue.first)
                        pthread_cond_wait(&p->wake, &p->lock);
                if (p->stop)
                        break;
                j = jobs_pop(&p->queue);
                p->running[index] = j;
                pthread_mutex_unlock(&p->lock);

                job_run(j->checked);

                pthread_mutex_lock(&p->lock);
                p->running[index] = NULL;
                jobs_push(&p->done, j);
                /* The loop reads the counter, never blocks on it: a failed
                 * write (it would pass 2^64-2) still leaves it readable. */
                if (write(p->efd, &(uint64_t) { 1 }, sizeof(uint64_t)) < 0)
                        continue; /* with the lock held, as the loop expects */
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* Hands back every job done, in the order they were finished; one at a
 * time, so that a callback that cancels another's jobs (a connection
 * freed) is heeded for those still to come. */
static int on_done(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct verify_pool *p = userdata;
        uint64_t n;

        /* EAGAIN: a worker's write came before the last read; its job
         * was taken then. */
        if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                log_debug_errno(errno, "Failed to read the voucher checks' eventfd, ignoring: %m");
        for (;;) {
                struct job *j;

                pthread_mutex_lock(&p->lock);
                j = jobs_pop(&p->done);
                if (j)
                        p->n_jobs--;
                pthread_mutex_unlock(&p->lock);
                if (!j)
                        break;
                if (!j->cancelled)
                        j->done(TAKE_PTR(j->checked), j->userdata);
                job_free(j);
        }
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct verify_pool *, verify_pool_free);

/* Workers take no signal: SIGTERM and SIGHUP are the loop's (signalfd),
 * and one delivered to a worker would end the daemon. */
static int start_workers(struct verify_pool *p) {
        sigset_t all, old;
        int r = 0;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        for (unsigned i = 0; i < p->n_threads; i++) {
                struct worker *w = malloc(sizeof(*w));

                if (!w) {
                        r = -ENOMEM;
                        break;
                }
                *w = (struct worker) { .pool = p, .index = i };
                r = -pthread_create(&p->threads[i], NULL, worker_main, w);
                if (r < 0) {
                        free(w);
                        break;
                }
                p->n_started++;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        return r;
}

int verify_pool_new(sd_event *event, unsigned n_threads, size_t max_jobs, struct verify_pool **ret) {
        _cleanup_(verify_pool_freep) struct verify_pool *p = NULL;
        int r;

        if (n_threads < 1 || n_threads > VERIFY_THREADS_MAX || max_jobs < 1)
                return -EINVAL;
        p = calloc(1, sizeof(*p));
        if (!p)
                return log_oom();
        p->efd = -1;
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->wake, NULL);
        jobs_init(&p->queue);
        jobs_init(&p->done);
        p->max_jobs = max_jobs;
        p->n_threads = n_threads;
        p->threads = calloc(n_threads, sizeof(*p->threads));
        p->running = calloc(n_threads, sizeof(*p->running));
        if (!p->threads || !p->running)
                return log_oom();

        p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (p->efd < 0)
                return log_error_errno(errno, "Failed to make an eventfd for the voucher checks: %m");
        r = sd_event_add_io(event, &p->source, p->efd, EPOLLIN, on_done, p);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the voucher checks' eventfd: %m");
        r = start_workers(p);
        if (r < 0)
                return log_error_errno(r, "Failed to start %u voucher check threads: %m", n_threads);
        log_debug("Checking voucher signatures on %u thread%s, at most %zu requests at once.", n_threads,
                  n_threads == 1 ? "" : "s", max_jobs);
        *ret = TAKE_PTR(p);
        return 0;
}

static void jobs_free(struct jobs *q) {
        struct job *j;

        while ((j = jobs_pop(q)))
                job_free(j);
}

void verify_pool_free(struct verify_pool *p) {
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        p->stop = true;
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->n_started; i++)
                pthread_join(p->threads[i], NULL);

        /* No worker runs now: what they held is in the queue or done. */
        jobs_free(&p->queue);
        jobs_free(&p->done);
        sd_event_source_disable_unref(p->source);
        if (p->efd >= 0)
                close(p->efd);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
        free(p->threads);
        free(p->running);
        free(p);
}

int verify_submit(struct verify_pool *p, struct keys_issuers *is, const struct voucher *v, size_t n,
                  void (*done)(struct verify_checked *c, void *userdata), void *userdata) {
        struct job *j;
        bool full;

        if (n < 1 || n > REQUEST_VOUCHERS_MAX || !done) {
                keys_issuers_unref(is);
                return -EINVAL;
        }
        pthread_mutex_lock(&p->lock);
        full = p->n_jobs >= p->max_jobs;
        pthread_mutex_unlock(&p->lock);
        if (full) {
                keys_issuers_unref(is);
                return -EBUSY;
        }

        j = calloc(1, sizeof(*j));
        if (j)
                j->checked = calloc(1, sizeof(*j->checked));
        if (!j || !j->checked) {
                free(j);
                keys_issuers_unref(is);
                return -ENOMEM;
        }
        j->checked->issuers = is;
        j->checked->n = n;
        memcpy(j->checked->v, v, n * sizeof(*v));
        j->done = done;
        j->userdata = userdata;

        /* Only the loop submits: the count checked above cannot have grown. */
        pthread_mutex_lock(&p->lock);
        p->n_jobs++;
        jobs_push(&p->queue, j);
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

/* Drops q's jobs of userdata. */
static void jobs_cancel(struct verify_pool *p, struct jobs *q, void *userdata) {
        struct job **jp = &q->first;

        while (*jp) {
                struct job *j = *jp;

                if (j->userdata != userdata) {
                        jp = &j->next;
                        continue;
                }
                *jp = j->next;
                p->n_jobs--;
                job_free(j);
        }
        /* The tail moved if the last job went. */
        q->last = jp;
}

void verify_cancel(struct verify_pool *p, void *userdata) {
        if (!p)
                return;
        pthread_mutex_lock(&p->lock);
        jobs_cancel(p, &p->queue, userdata);
        jobs_cancel(p, &p->done, userdata);
        /* A running job is the worker's until it is done: marked, it is
         * dropped when it comes back. */
        for (unsigned i = 0; i < p->n_threads; i++)
                if (p->running[i] && p->running[i]->userdata == userdata)
                        p->running[i]->cancelled = true;
        pthread_mutex_unlock(&p->lock);
}

size_t verify_in_flight(struct verify_pool *p) {
        size_t n;

        pthread_mutex_lock(&p->lock);
        n = p->n_jobs;
        pthread_mutex_unlock(&p->lock);
        return n;
}
