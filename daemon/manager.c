/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/pidfd.h"
#include "batch.h"
#include "control.h"
#include "events.h"
#include "keys.h"
#include "manager.h"
#include "meter.h"
#include "pricing.h"

/* How often a slice's state file is rewritten while it runs. The kernel
 * keeps every cumulative counter itself; the file only carries what the
 * daemon integrates (memory byte-seconds), so a crash loses at most this
 * much of that integral, and the gap is then filled with the memory in use
 * at restart (see slice_load_state()). */
#define STATE_SAVE_INTERVAL_USEC (5 * USEC_PER_SEC)

static uint64_t now_usec(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

static unsigned cgroup_bucket(uint64_t cgroup_id) {
        return (unsigned) ((cgroup_id * 0x9E3779B97F4A7C15ULL) >> 56);
}

static struct slice *find_by_cgroup(struct manager *m, uint64_t cgroup_id) {
        for (struct slice *s = m->by_cgroup[cgroup_bucket(cgroup_id)]; s; s = s->hash_next)
                if (s->cgroup_id == cgroup_id)
                        return s;
        return NULL;
}

struct slice *manager_find(struct manager *m, const char *id) {
        for (struct slice *s = m->slices; s; s = s->next)
                if (streq(s->id, id))
                        return s;
        return NULL;
}

static void slice_link(struct manager *m, struct slice *s) {
        unsigned b = cgroup_bucket(s->cgroup_id);

        s->next = m->slices;
        m->slices = s;
        s->hash_next = m->by_cgroup[b];
        m->by_cgroup[b] = s;
        m->n_slices++;
}

static void slice_unlink(struct manager *m, struct slice *s) {
        struct slice **p;

        for (p = &m->slices; *p; p = &(*p)->next)
                if (*p == s) {
                        *p = s->next;
                        break;
                }
        for (p = &m->by_cgroup[cgroup_bucket(s->cgroup_id)]; *p; p = &(*p)->hash_next)
                if (*p == s) {
                        *p = s->hash_next;
                        break;
                }
        m->n_slices--;
}

static char *slice_state_path(struct manager *m, const char *id) {
        char *p;

        if (asprintf(&p, "%s/%s.json", m->slice_state_dir, id) < 0)
                return NULL;
        return p;
}

static int slice_save_state(struct manager *m, struct slice *s);

int manager_save_slice(struct manager *m, struct slice *s) {
        return slice_save_state(m, s);
}

int slice_state_to_json(struct slice *s, json_object **ret) {
        json_object *o;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "id", json_object_new_string(s->id));
        json_object_object_add(o, "owner_uid", json_object_new_int64(s->owner_uid));
        json_object_object_add(o, "created_usec", json_object_new_int64((int64_t) s->created_usec));
        json_object_object_add(o, "memory_byte_sec",
                               json_object_new_int64((int64_t) s->usage.memory_byte_sec));
        json_object_object_add(o, "memory_rem", json_object_new_int64((int64_t) s->memory_rem));
        json_object_object_add(o, "memory_current",
                               json_object_new_int64((int64_t) s->usage.memory_current));
        json_object_object_add(o, "last_sample_usec", json_object_new_int64((int64_t) s->last_sample_usec));
        json_object_object_add(o, "oom_kills", json_object_new_int64((int64_t) s->usage.oom_kills));
        json_object_object_add(o, "last_oom_usec", json_object_new_int64((int64_t) s->last_oom_usec));
        /* Funded slices are found in the ledger by id after a restart;
         * one marked funded and missing there was never paid for. */
        json_object_object_add(o, "funded", json_object_new_boolean(s->account.funded));
        enforce_to_json(&s->account.enforce, o);
        slice_limits_to_json(&s->limits, o);

        *ret = o;
        return 0;
}

static int slice_save_state(struct manager *m, struct slice *s) {
        _cleanup_(freep) char *path = NULL;
        json_object *o;
        const char *text;
        int r;

        path = slice_state_path(m, s->id);
        if (!path)
                return log_oom();

        r = slice_state_to_json(s, &o);
        if (r < 0)
                return log_oom();

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        r = write_file_atomic(path, text, strlen(text));
        json_object_put(o);
        if (r < 0)
                return log_error_errno(r, "Failed to write state of slice %s to %s: %m", s->id, path);

        s->last_saved_usec = now_usec(CLOCK_MONOTONIC);
        return 0;
}

static uint64_t json_u64(json_object *o, const char *key) {
        uint64_t v = 0;

        (void) message_get_u64(o, key, &v);
        return v;
}

/* After a restart: the kernel kept counting CPU, network, IO and peaks; the
 * memory integral is picked up from the file, and the time since its last
 * sample is filled with the memory in use at that sample. */
int slice_state_from_text(struct slice *s, const char *text, size_t size, const char **ret_error) {
        json_object *o = NULL;
        int r;

        r = message_parse(text, size, &o, ret_error);
        if (r < 0)
                return r;

        r = slice_limits_from_json(o, &s->limits, ret_error);
        if (r < 0) {
                json_object_put(o);
                return r;
        }

        s->owner_uid = (uid_t) json_u64(o, "owner_uid");
        s->created_usec = json_u64(o, "created_usec");
        s->usage.memory_byte_sec = json_u64(o, "memory_byte_sec");
        s->memory_rem = json_u64(o, "memory_rem");
        s->usage.memory_current = json_u64(o, "memory_current");
        s->last_sample_usec = json_u64(o, "last_sample_usec");
        s->usage.oom_kills = json_u64(o, "oom_kills");
        s->last_oom_usec = json_u64(o, "last_oom_usec");
        (void) message_get_bool(o, "funded", &s->account.funded);
        enforce_from_json(&s->account.enforce, o);
        json_object_put(o);
        return 0;
}

/* After a restart: the kernel kept counting CPU, network, IO and peaks; the
 * memory integral is picked up from the file, and the time since its last
 * sample is filled with the memory in use at that sample. */
static int slice_load_state(struct manager *m, struct slice *s) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        const char *err = NULL;
        size_t size;
        int r;

        path = slice_state_path(m, s->id);
        if (!path)
                return log_oom();

        r = read_full_file(path, &text, &size);
        if (r < 0)
                return log_warning_errno(r, "Failed to read state of slice %s from %s: %m", s->id, path);

        r = slice_state_from_text(s, text, size, &err);
        if (r < 0)
                return log_warning_errno(r, "Failed to parse state of slice %s in %s: %s", s->id, path,
                                         strna(err));

        /* CLOCK_MONOTONIC survives a daemon restart but not a reboot, and
         * slices do not survive a reboot either; a sample "from the future"
         * means the file is from another boot. */
        if (s->last_sample_usec > now_usec(CLOCK_MONOTONIC))
                s->last_sample_usec = 0;
        return 0;
}

/* memory_byte_sec += memory in use integrated over dt (trapezoid), exact to
 * the byte-microsecond, the remainder carried in memory_rem. */
static void integrate_memory(struct slice *s, uint64_t prev, uint64_t cur, uint64_t dt_usec) {
        unsigned __int128 acc;

        acc = (unsigned __int128) ((prev >> 1) + (cur >> 1) + (prev & cur & 1)) * dt_usec + s->memory_rem;
        s->memory_rem = (uint64_t) (acc % USEC_PER_SEC);
        acc /= USEC_PER_SEC;
        /* Saturate where JSON integers end (INT64_MAX): a slice holding
         * 1 TiB would need 270 years to get there. */
        if (acc > (uint64_t) INT64_MAX - s->usage.memory_byte_sec)
                s->usage.memory_byte_sec = INT64_MAX;
        else
                s->usage.memory_byte_sec += (uint64_t) acc;
}

/* The event logs it (once), records and streams it. */
static void slice_emit_oom(struct manager *m, struct slice *s, uint64_t n) {
        struct event ev = {
                .time_usec = s->last_oom_usec,
                .kind = EVENT_OOM,
                .unfunded = !s->account.funded,
                .owner_uid = s->owner_uid,
                /* A tenant's process past the limit, again and again. */
                .repeatable = true,
        };
        char buf[FORMAT_SIZE_MAX];

        snprintf(ev.slice, sizeof(ev.slice), "%s", s->id);
        if (s->account.funded) {
                struct slice_account_info info;

                billing_account_info(m->billing, s, &info);
                ev.balance = info.balance;
                ev.burn_rate = info.burn_rate;
                ev.time_left_usec = info.time_left_usec;
        }
        if (s->limits.memory_max)
                snprintf(ev.reason, sizeof(ev.reason), "%" PRIu64 " process%s OOM-killed at its memory limit %s", n,
                         n == 1 ? "" : "es", format_size(buf, sizeof(buf), s->limits.memory_max));
        else
                snprintf(ev.reason, sizeof(ev.reason),
                         "%" PRIu64 " process%s OOM-killed (the slice has no memory limit)", n, n == 1 ? "" : "es");
        if (m->events)
                events_emit(m->events, &ev);
        else
                log_warning("Slice %s: %s.", s->id, ev.reason);
}

static void slice_apply_counters(struct manager *m, struct slice *s, const struct slice_counters *c) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (s->last_sample_usec > 0 && now > s->last_sample_usec)
                integrate_memory(s, s->usage.memory_current, c->memory_current, now - s->last_sample_usec);
        s->last_sample_usec = now;

        if (c->oom_kills > s->usage.oom_kills) {
                uint64_t n = c->oom_kills - s->usage.oom_kills;

                s->last_oom_usec = now_usec(CLOCK_REALTIME);
                slice_emit_oom(m, s, n);
                /* A state change: make it durable now. */
                s->usage.oom_kills = c->oom_kills;
                (void) slice_save_state(m, s);
        }

        s->usage.cpu_throttled_usec = c->cpu_throttled_usec;
        s->usage.cpu_nr_throttled = c->cpu_nr_throttled;
        s->usage.memory_current = c->memory_current;
        s->usage.memory_peak = c->memory_peak;
        s->usage.io_read_bytes = c->io_read_bytes;
        s->usage.io_write_bytes = c->io_write_bytes;
        s->usage.pids_current = c->pids_current;
        s->populated = c->populated;
        s->frozen = c->frozen;

        if (now - s->last_saved_usec >= STATE_SAVE_INTERVAL_USEC)
                (void) slice_save_state(m, s);
}

static void on_meter_counters(uint64_t cgroup_id, const struct meter_counters *c, void *userdata) {
        struct manager *m = userdata;
        struct slice *s;

        s = find_by_cgroup(m, cgroup_id);
        if (!s)
                return;

        s->usage.cpu_usec = c->cpu_ns / NSEC_PER_USEC;
        s->usage.net_rx_bytes = c->rx_bytes;
        s->usage.net_tx_bytes = c->tx_bytes;
        s->usage.net_rx_packets = c->rx_packets;
        s->usage.net_tx_packets = c->tx_packets;
        s->usage.net_rx_dropped = c->rx_dropped;
        s->usage.net_tx_dropped = c->tx_dropped;
}

static void slice_drop_record(struct manager *m, struct slice *s) {
        _cleanup_(freep) char *path = slice_state_path(m, s->id);

        if (path && unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", path);
}

static void slice_free(struct manager *m, struct slice *s) {
        if (m->billing)
                billing_slice_free(m->billing, s);
        slice_unlink(m, s);
        free(s);
}

static int slice_sample(struct manager *m, struct slice *s) {
        struct slice_counters c = {};
        int r;

        r = m->ops->read_counters(s->handle, &c);
        if (r < 0) {
                if (!s->counters_failing && r != -ENOENT)
                        log_warning_errno(r, "Failed to read counters of slice %s, retrying every tick: %m", s->id);
                s->counters_failing = true;
                return r;
        }
        if (s->counters_failing) {
                log_info("Counters of slice %s are readable again.", s->id);
                s->counters_failing = false;
        }
        slice_apply_counters(m, s, &c);
        return 0;
}

/* Its cgroup was removed by someone else: what the kernel counted is gone
 * with it, so the slice ends here, with the figures of its last sample.
 * Whatever is left of it in other hierarchies goes too. */
static void slice_vanished(struct manager *m, struct slice *s) {
        log_warning("Slice %s vanished: its cgroup %s was removed outside prepayd. Last figures: %" PRIu64
                    "ms of CPU, %" PRIu64 " bytes out, %" PRIu64 " byte-seconds of memory. Dropping it.",
                    s->id, m->ops->cgroup_path(s->handle), s->usage.cpu_usec / 1000, s->usage.net_tx_bytes,
                    s->usage.memory_byte_sec);
        billing_slice_vanished(m->billing, s);
        (void) m->ops->destroy(m->backend, s->handle);
        s->handle = NULL;
        (void) meter_unwatch(m->meter, s->cgroup_id);
        slice_drop_record(m, s);
        slice_free(m, s);
}

/* One meter pass: the BPF side for every slice at once (one iterator run,
 * batch map reads), then the cgroupfs stat files of each slice. */
void manager_sample(struct manager *m) {
        struct slice *next;

        (void) meter_sample(m->meter, on_meter_counters, m);

        for (struct slice *s = m->slices; s; s = next) {
                next = s->next;
                if (slice_sample(m, s) == -ENOENT)
                        slice_vanished(m, s);
        }
        if (m->billing)
                billing_tick(m->billing);
}

void manager_sample_slice(struct manager *m, struct slice *s) {
        (void) meter_sample(m->meter, on_meter_counters, m);
        (void) slice_sample(m, s);
}

static int on_meter_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        struct manager *m = userdata;
        int r;

        manager_sample(m);

        r = sd_event_source_set_time(source, usec + m->config->meter_interval_usec);
        if (r < 0)
                return log_error_errno(r, "Failed to re-arm the meter timer: %m");
        return sd_event_source_set_enabled(source, SD_EVENT_ON);
}

static struct slice *slice_new(const char *id) {
        struct slice *s = calloc(1, sizeof(*s));

        if (s)
                snprintf(s->id, sizeof(s->id), "%s", id);
        return s;
}

static int slice_generate_id(struct manager *m, char ret[static SLICE_ID_MAX]) {
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                uint32_t v;

                if (getrandom(&v, sizeof(v), 0) != sizeof(v))
                        return log_error_errno(errno, "Failed to get random bytes: %m");
                snprintf(ret, SLICE_ID_MAX, "s-%08" PRIx32, v);
                if (!manager_find(m, ret))
                        return 0;
        }
        return log_error_errno(EEXIST, "Failed to find a free slice id");
}

int manager_check_limits(struct manager *m, struct slice_limits *l, uint64_t cpus_milli, char **ret_error) {
        uint64_t quota;

        if (l->cpu_period_usec == 0)
                l->cpu_period_usec = m->config->cpu_period_usec;
        if (l->cpu_period_usec < 1000 || l->cpu_period_usec > USEC_PER_SEC) {
                *ret_error = strdup("CPU period must be between 1ms and 1s");
                return -EINVAL;
        }
        if (cpus_milli > m->max_cpus_milli) {
                if (asprintf(ret_error, "Requested %" PRIu64 ".%03" PRIu64 " CPUs, at most %" PRIu64 ".%03" PRIu64
                                        " are allowed (MaxCPUs=)",
                             cpus_milli / 1000, cpus_milli % 1000, m->max_cpus_milli / 1000,
                             m->max_cpus_milli % 1000) < 0)
                        *ret_error = NULL;
                return -EINVAL;
        }
        if (cpus_milli > 0) {
                if (pricing_quota_of_cpus(cpus_milli, l->cpu_period_usec, &quota) < 0) {
                        if (asprintf(ret_error, "Requested %" PRIu64 ".%03" PRIu64 " CPUs: too many for a CPU quota",
                                     cpus_milli / 1000, cpus_milli % 1000) < 0)
                                *ret_error = NULL;
                        return -ERANGE;
                }
                /* Never below the kernel's 1ms minimum quota. */
                l->cpu_quota_usec = MAX(quota, (uint64_t) 1000);
        } else if (l->cpu_quota_usec > 0) {
                uint64_t milli;

                if (l->cpu_quota_usec < 1000) {
                        *ret_error = strdup("CPU quota must be at least 1ms per period");
                        return -EINVAL;
                }
                /* Held against MaxCPUs= exactly (quota <= MaxCPUs x period),
                 * in arithmetic that cannot wrap: 18446744073709552 us x 1000
                 * once wrapped to 0 CPUs and passed. The quota is kept as
                 * asked. */
                if (pricing_cpus_of_quota(l->cpu_quota_usec, l->cpu_period_usec, &milli) < 0 ||
                    milli > m->max_cpus_milli) {
                        if (asprintf(ret_error,
                                     "A CPU quota of %" PRIu64 " us per %" PRIu64 " us period is more than the %" PRIu64
                                     ".%03" PRIu64 " CPUs allowed (MaxCPUs=)",
                                     l->cpu_quota_usec, l->cpu_period_usec, m->max_cpus_milli / 1000,
                                     m->max_cpus_milli % 1000) < 0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
        }

        if (l->memory_max == 0)
                l->memory_max = m->config->default_memory_max;
        if (l->memory_max > 0 && l->memory_max < 1024 * 1024) {
                *ret_error = strdup("Memory limit must be at least 1M");
                return -EINVAL;
        }
        if (l->pids_max == 0)
                l->pids_max = m->config->default_pids_max;
        return 0;
}

int manager_create_slice(struct manager *m, const struct slice_limits *limits, uint64_t cpus_milli, uid_t owner,
                         struct slice **ret, char **ret_error) {
        struct slice_limits l = *limits;
        char id[SLICE_ID_MAX];
        struct slice *s = NULL;
        int r;

        if (m->n_slices >= m->config->max_slices) {
                if (asprintf(ret_error, "Too many slices (MaxSlices=%" PRIu64 ")", m->config->max_slices) < 0)
                        *ret_error = NULL;
                return -EUSERS;
        }

        r = manager_check_limits(m, &l, cpus_milli, ret_error);
        if (r < 0)
                return r;

        r = slice_generate_id(m, id);
        if (r < 0)
                return r;

        s = slice_new(id);
        if (!s)
                return log_oom();

        s->limits = l;
        s->owner_uid = owner;
        s->created_usec = now_usec(CLOCK_REALTIME);
        /* A new cgroup holds no memory: integrate from this moment. */
        s->last_sample_usec = now_usec(CLOCK_MONOTONIC);

        r = m->ops->create(m->backend, id, &l, &s->handle);
        if (r < 0)
                goto fail;
        s->cgroup_id = m->ops->cgroup_id(s->handle);

        r = meter_watch(m->meter, s->cgroup_id);
        if (r < 0)
                goto fail;

        r = slice_save_state(m, s);
        if (r < 0) {
                (void) meter_unwatch(m->meter, s->cgroup_id);
                goto fail;
        }

        slice_link(m, s);
        log_info("Slice %s created (cgroup %s, owner uid %u).", s->id, m->ops->cgroup_path(s->handle),
                 (unsigned) owner);
        *ret = s;
        return 0;

fail:
        if (s->handle)
                (void) m->ops->destroy(m->backend, s->handle);
        free(s);
        *ret_error = strdup("Failed to create the slice's cgroups, see the daemon's log");
        return r;
}

int manager_attach(struct manager *m, struct slice *s, int pidfd, char **ret_error) {
        pid_t pid, after;
        int r;

        if (pidfd < 0) {
                *ret_error = strdup("The caller was not pinned when it asked: nothing was moved");
                return -EBADF;
        }
        r = pidfd_get_pid(pidfd, &pid);
        if (r < 0) {
                *ret_error = strdup(r == -ESRCH ? "The process that asked to be moved has exited: nothing was moved"
                                                : "The process that asked to be moved cannot be seen from the daemon's "
                                                  "pid namespace: nothing was moved");
                return r == -ESRCH ? r : log_warning_errno(r, "Failed to read the pid behind a caller's pidfd: %m");
        }
        r = m->ops->attach(s->handle, pid);
        if (r < 0) {
                if (asprintf(ret_error, "Failed to move process %d into slice %s: %s", (int) pid, s->id,
                             strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        /* Still its number: the number was never free while it was
         * written, so it named the caller and no one else. Otherwise the
         * caller died meanwhile, and a process that took the number at
         * that very moment may have been moved in its stead: said loudly,
         * as the slice may now hold a stranger. */
        if (pidfd_get_pid(pidfd, &after) < 0 || after != pid) {
                log_warning("Slice %s: process %d exited while it was being moved in; if another process took "
                            "its number meanwhile, that one is now in the slice.", s->id, (int) pid);
                if (asprintf(ret_error, "Process %d exited while it was being moved into slice %s", (int) pid,
                             s->id) < 0)
                        *ret_error = NULL;
                return -ESRCH;
        }
        log_info("Slice %s: process %d moved in.", s->id, (int) pid);
        return 0;
}

int manager_run_unit(struct manager *m, struct slice *s, const char *unit, uid_t required_uid, char **ret_name,
                     char **ret_error) {
        int r;

        *ret_error = NULL;
        if (!m->ops->run_unit) {
                *ret_error = strdup("prepay run --unit needs the systemd backend (Backend=systemd)");
                return -EOPNOTSUPP;
        }
        if (!s->handle) {
                if (asprintf(ret_error, "Slice %s has no cgroup to run in", s->id) < 0)
                        *ret_error = NULL;
                return -ENOENT;
        }
        r = m->ops->run_unit(s->handle, unit, required_uid, ret_name, ret_error);
        if (r < 0) {
                if (!*ret_error && asprintf(ret_error, "Failed to run unit %s in slice %s: %s", unit, s->id,
                                            strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        log_info("Slice %s: unit %s runs as %s.", s->id, unit, *ret_name);
        return 0;
}

int manager_destroy_slice(struct manager *m, struct slice *s) {
        int r;

        /* Last figures for the log line, before the cgroup is gone. */
        (void) meter_sample(m->meter, on_meter_counters, m);
        (void) slice_sample(m, s);

        r = m->ops->destroy(m->backend, s->handle);
        s->handle = NULL;
        (void) meter_unwatch(m->meter, s->cgroup_id);
        slice_drop_record(m, s);

        log_info("Slice %s destroyed after %" PRIu64 "ms of CPU, %" PRIu64 " bytes out, %" PRIu64
                 " byte-seconds of memory.",
                 s->id, s->usage.cpu_usec / 1000, s->usage.net_tx_bytes, s->usage.memory_byte_sec);
        slice_free(m, s);
        return r;
}

void manager_slice_info(struct manager *m, struct slice *s, struct slice_info *ret) {
        struct slice_info i = {};

        snprintf(i.id, sizeof(i.id), "%s", s->id);
        snprintf(i.state, sizeof(i.state), "%s", s->frozen ? "frozen" : s->populated ? "running" : "empty");
        snprintf(i.cgroup, sizeof(i.cgroup), "%s", m->ops->cgroup_path(s->handle));
        i.created_usec = s->created_usec;
        i.last_oom_usec = s->last_oom_usec;
        i.cgroup_id = s->cgroup_id;
        i.limits = s->limits;
        i.usage = s->usage;
        billing_account_info(m->billing, s, &i.account);
        *ret = i;
}

json_object *manager_slice_reply(struct manager *m, struct slice *s) {
        struct slice_info info;
        json_object *reply, *o;

        manager_slice_info(m, s, &info);
        if (slice_info_to_json(&info, &o) < 0)
                return message_reply_error("Failed to encode slice %s", s->id);
        reply = message_reply_ok();
        json_object_object_add(reply, "slice", o);
        return reply;
}

static int adopt_one(const char *id, void *userdata) {
        struct manager *m = userdata;
        struct slice *s = NULL;
        int r;

        s = slice_new(id);
        if (!s)
                return log_oom();

        r = m->ops->adopt(m->backend, id, &s->handle);
        if (r < 0) {
                free(s);
                return 0;
        }
        s->cgroup_id = m->ops->cgroup_id(s->handle);

        if (slice_load_state(m, s) < 0) {
                /* Without its record, we cannot tell whose it is or what it
                 * was sized to: leave the cgroup alone for the operator. */
                log_warning("Slice %s has no usable state file in %s, leaving its cgroup %s alone.", id,
                            m->slice_state_dir, m->ops->cgroup_path(s->handle));
                m->ops->release(s->handle);
                free(s);
                return 0;
        }

        r = meter_watch(m->meter, s->cgroup_id);
        if (r < 0) {
                m->ops->release(s->handle);
                free(s);
                return r;
        }

        slice_link(m, s);
        (void) slice_sample(m, s);
        log_info("Slice %s adopted after a restart (cgroup %s).", id, m->ops->cgroup_path(s->handle));
        return 0;
}

/* State files whose cgroup is gone: the slice vanished while we were away
 * (removed by hand, or a reboot). Say so and drop the record. */
static void drop_vanished(struct manager *m) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir(m->slice_state_dir);
        if (!d)
                return;

        while ((de = readdir(d))) {
                char id[SLICE_ID_MAX];
                size_t n = strlen(de->d_name);

                if (n < 6 || n - 5 >= sizeof(id) || !streq(de->d_name + n - 5, ".json"))
                        continue;
                memcpy(id, de->d_name, n - 5);
                id[n - 5] = 0;
                if (!slice_id_is_valid(id) || manager_find(m, id))
                        continue;

                log_warning("Slice %s vanished while the daemon was not running, dropping its record.", id);
                if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                        log_warning_errno(errno, "Failed to remove %s/%s, ignoring: %m", m->slice_state_dir,
                                          de->d_name);
        }
}

static int mkdir_p(const char *path, mode_t mode) {
        _cleanup_(freep) char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct manager *m = userdata;

        log_info("Received SIG%s, stopping.", sigabbrev_np((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping.");
        return sd_event_exit(m->event, 0);
}

/* A restart-only key: the running value stays, the new one is freed with
 * the rest of what was read. */
#define KEEP_STRING(c, running, field, key)                                                       \
        do {                                                                                     \
                char *_t_;                                                                       \
                if (!streq((c)->field ?: "", (running)->field ?: ""))                            \
                        log_warning("%s= changed from \"%s\" to \"%s\": it takes effect at the next " \
                                    "start.", key, strempty((running)->field), strempty((c)->field)); \
                _t_ = (c)->field;                                                                \
                (c)->field = (running)->field;                                                   \
                (running)->field = _t_;                                                          \
        } while (0)

int manager_reload(struct manager *m) {
        struct config c = {}, old;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec(CLOCK_MONOTONIC));
        r = config_load(&c, m->config_path, m->config_optional);
        if (r < 0) {
                log_error("Reloading %s failed: the running configuration stays.", m->config_path);
                (void) sd_notify(false, "READY=1");
                return r;
        }

        KEEP_STRING(&c, m->config, control_socket, "ControlSocket");
        KEEP_STRING(&c, m->config, state_directory, "StateDirectory");
        KEEP_STRING(&c, m->config, backend, "Backend");
        KEEP_STRING(&c, m->config, cgroup_root, "CgroupRoot");
        KEEP_STRING(&c, m->config, bpf_pin_path, "BpfPinPath");
        /* Balances are in the running currency; change vouchers name
         * this host and are signed by its key. */
        KEEP_STRING(&c, m->config, currency, "Currency");
        KEEP_STRING(&c, m->config, host_key, "HostKey");
        KEEP_STRING(&c, m->config, host_id, "HostId");
        if (c.socket_mode != m->config->socket_mode)
                log_warning("SocketMode= changed: it takes effect at the next start.");
        c.socket_mode = m->config->socket_mode;
        snprintf(c.rates.currency, sizeof(c.rates.currency), "%s", c.currency);

        old = *m->config;
        *m->config = c;
        config_done(&old);

        log_set_max_level(m->config->log_level);
        (void) keys_reload_issuers(m->keys);
        (void) control_reload(m->control);
        log_info("Reloaded %s: prices, policies, hooks and issuer keys apply from now on; %zu running slice%s "
                 "untouched.", m->config_path, m->n_slices, m->n_slices == 1 ? "" : "s");
        manager_notify_status(m, "READY=1\n");
        return 0;
}

void manager_notify_status(struct manager *m, const char *extra) {
        char held[MONEY_FORMAT_MAX], text[sizeof(m->last_status)];
        size_t funded = 0;
        int64_t sum;

        sum = billing_held(m->billing, &funded);
        (void) snprintf(text, sizeof(text), "%zu slice%s, %zu funded, holding %s %s.", m->n_slices,
                        m->n_slices == 1 ? "" : "s", funded, money_format(held, sizeof(held), sum),
                        m->config->currency);
        if (!extra && streq(text, m->last_status))
                return;
        memcpy(m->last_status, text, sizeof(text));
        (void) sd_notifyf(false, "%sSTATUS=%s", extra ?: "", text);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata);
        return 0;
}

/* Backend=: systemd where it owns the cgroup tree, cgroupfs elsewhere. */
static int choose_backend(const char *backend, const struct slice_ops **ret) {
        bool usable = slice_systemd_usable();

        if (backend && streq(backend, "systemd")) {
                if (!usable)
                        return log_error_errno(EOPNOTSUPP,
                                               "Backend=systemd needs systemd as PID 1 and a pure cgroup v2 hierarchy "
                                               "at /sys/fs/cgroup; use Backend=cgroupfs or Backend=auto here");
                *ret = &slice_systemd_ops;
        } else if (backend && streq(backend, "cgroupfs"))
                *ret = &slice_cgroupfs_ops;
        else
                *ret = usable ? &slice_systemd_ops : &slice_cgroupfs_ops;
        log_info("Slice backend: %s (Backend=%s)", (*ret)->name, backend ?: "auto");
        return 0;
}

int manager_new(struct config *config, struct manager **ret) {
        _cleanup_(freep) char *ledger_path = NULL;
        struct manager *m;
        struct meter_options mo = {};
        long ncpus;
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->config = config;
        r = choose_backend(config->backend, &m->ops);
        if (r < 0)
                goto fail;

        ncpus = sysconf(_SC_NPROCESSORS_ONLN);
        m->online_cpus_milli = (uint64_t) (ncpus > 0 ? ncpus : 1) * 1000;
        m->max_cpus_milli = config->max_cpus_milli ?: m->online_cpus_milli;

        if (asprintf(&m->slice_state_dir, "%s/slices", config->state_directory) < 0 ||
            asprintf(&ledger_path, "%s/ledger.db", config->state_directory) < 0) {
                r = log_oom();
                goto fail;
        }
        r = mkdir_p(m->slice_state_dir, 0700);
        if (r < 0) {
                log_error_errno(r, "Failed to create state directory %s: %m", m->slice_state_dir);
                goto fail;
        }
        /* It holds the owner-token secret, the ledger and the slice
         * records: a directory someone else can write (or swap) is
         * refused, not fixed, as what is in it can no longer be trusted.
         * One prepayd made is 0700. */
        for (size_t i = 0; i < 2; i++) {
                _cleanup_(freep) char *error = NULL;

                r = dir_check_private(i == 0 ? config->state_directory : m->slice_state_dir, &error);
                if (r < 0) {
                        log_error_errno(r, "Refusing StateDirectory=%s: %s. It and every directory above it must be "
                                           "root's and writable by no one else (above it, a sticky directory such "
                                           "as /tmp may be).",
                                        config->state_directory, error ?: strerror(-r));
                        goto fail;
                }
        }

        r = m->ops->open(config->cgroup_root, &m->backend);
        if (r < 0)
                goto fail;

        mo.pin_path = config->bpf_pin_path;
        mo.root_cgroup_fd = m->ops->root_fd(m->backend);
        mo.cpu_mode = METER_CPU_ITER;
        mo.attach_net = true;
        r = meter_open(&mo, &m->meter);
        if (r < 0)
                goto fail;

        r = sd_event_default(&m->event);
        if (r < 0) {
                log_error_errno(r, "Failed to allocate the event loop: %m");
                goto fail;
        }

        r = batch_new(m->event, ledger_path, &m->batch);
        if (r < 0)
                goto fail;

        r = keys_new(m->config, &m->keys);
        if (r < 0)
                goto fail;

        r = billing_new(m, &m->billing);
        if (r < 0)
                goto fail;

        r = events_new(m->config, m->event, m->batch, &m->events);
        if (r < 0)
                goto fail;

        r = m->ops->enumerate(m->backend, adopt_one, m);
        if (r < 0)
                goto fail;
        drop_vanished(m);
        r = billing_reconcile(m->billing);
        if (r < 0)
                goto fail;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        /* Without them SIGTERM would be blocked and ignored: the daemon
         * could only be killed, its last usage never charged. */
        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_reload, m);
        if (r < 0) {
                log_error_errno(r, "Failed to watch for SIGTERM, SIGINT and SIGHUP: %m");
                goto fail;
        }
        /* WATCHDOG=1 from the loop itself when the service manager asks. */
        (void) sd_event_set_watchdog(m->event, true);

        r = sd_event_add_time_relative(m->event, &m->meter_timer, CLOCK_MONOTONIC, config->meter_interval_usec,
                                       config->meter_interval_usec / 10, on_meter_timer, m);
        if (r < 0) {
                log_error_errno(r, "Failed to arm the meter timer: %m");
                goto fail;
        }

        r = control_new(m, &m->control);
        if (r < 0)
                goto fail;

        *ret = m;
        return 0;

fail:
        manager_free(m);
        return r;
}

void manager_free(struct manager *m) {
        bool empty;

        if (!m)
                return;

        control_free(m->control);
        /* Usage up to now charged and committed, while slices and the
         * event loop still exist. */
        if (m->billing && m->meter) {
                manager_sample(m);
                billing_daemon_stop(m->billing);
        }
        events_free(m->events);
        m->events = NULL;
        billing_free(m->billing);
        m->billing = NULL;
        batch_free(m->batch);
        m->batch = NULL;
        keys_free(m->keys);
        m->keys = NULL;
        sd_event_source_unref(m->meter_timer);
        sd_event_unref(m->event);

        /* Last samples made durable: the next daemon picks up from here. */
        for (struct slice *s = m->slices; s; s = s->next)
                (void) slice_save_state(m, s);

        /* With slices left, the kernel keeps counting them through the pinned
         * maps and links; with none, leave nothing behind. */
        empty = m->n_slices == 0;
        meter_close(m->meter, empty);

        while (m->slices) {
                m->ops->release(m->slices->handle);
                slice_free(m, m->slices);
        }
        if (m->backend)
                m->ops->close(m->backend, empty);
        if (empty && m->slice_state_dir)
                (void) rmdir(m->slice_state_dir);

        free(m->slice_state_dir);
        free(m);
}

int manager_run(struct manager *m) {
        char buf[FORMAT_DURATION_MAX];
        int r;

        log_info("Ready: %zu slice%s under %s, metering every %s.", m->n_slices, m->n_slices == 1 ? "" : "s",
                 m->ops->root_path(m->backend), format_duration(buf, sizeof(buf), m->config->meter_interval_usec));

        manager_notify_status(m, "READY=1\n");
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}
