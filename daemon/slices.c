/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <dirent.h>
#include <stddef.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/parse.h"
#include "common/pidfd.h"
#include "config.h"
#include "events.h"
#include "meter.h"
#include "pricing.h"
#include "slices.h"
#include "stats.h"

/* How often a slice's state file is rewritten while it runs. The kernel
 * keeps every cumulative counter itself; the file only carries what the
 * daemon integrates (memory byte-seconds), so a crash loses at most this
 * much of that integral, and the gap is then filled with the memory in use
 * at restart (see slice_load_state()). */
#define STATE_SAVE_INTERVAL_USEC (5 * USEC_PER_SEC)

/* The money side's figures of a slice (none before billing is set up). */
static void account_info(struct slices *sl, struct slice *s, struct slice_account_info *ret) {
        if (sl->cb)
                sl->cb->account_info(s, ret, sl->userdata);
        else
                *ret = (struct slice_account_info) { .funded = s->account.funded };
}

void slices_money_info(struct slices *sl, struct slice *s, struct slice_account_info *ret) {
        account_info(sl, s, ret);
}

const char *slice_state_name(const struct slice *s) {
        return s->frozen ? "frozen" : s->populated ? "running" : "empty";
}

/* Each request looks its slice up, and a create its new id: a walk of the
 * list was a millisecond at 10,000 slices (daemon/README.md). */
struct slice *slices_find(struct slices *sl, const char *id) {
        struct id_index_node *node = id_index_get(&sl->by_id, id);

        return node ? container_of(node, struct slice, by_id) : NULL;
}

static void slice_link(struct slices *sl, struct slice *s) {
        s->prev = NULL;
        s->next = sl->list;
        if (sl->list)
                sl->list->prev = s;
        sl->list = s;
        /* Cannot fail: the table exists (slices_new()) and ids are unique
         * (slice_generate_id(), the backend's directory names). */
        s->by_id.key = s->id;
        (void) id_index_put(&sl->by_id, &s->by_id);
        sl->n++;
        sl->generation++;
}

static void slice_unlink(struct slices *sl, struct slice *s) {
        if (s->prev)
                s->prev->next = s->next;
        else
                sl->list = s->next;
        if (s->next)
                s->next->prev = s->prev;
        s->next = s->prev = NULL;
        if (id_index_get(&sl->by_id, s->id) == &s->by_id)
                id_index_remove(&sl->by_id, &s->by_id);
        sl->n--;
        sl->generation++;
}

static char *slice_state_path(struct slices *sl, const char *id) {
        char *p;

        if (asprintf(&p, "%s/%s.json", sl->state_dir, id) < 0)
                return NULL;
        return p;
}

static int slice_save_state(struct slices *sl, struct slice *s);

int slices_save(struct slices *sl, struct slice *s) {
        return slice_save_state(sl, s);
}

/* The enforcement fields of a slice's state file (account.h). */
static void enforce_to_json(const struct slice_enforce *e, json_object *o) {
        json_object_object_add(o, "exhausted_action", json_object_new_string(enforce_action_to_string(e->action)));
        json_object_object_add(o, "enforce_state", json_object_new_string(enforce_state_to_string(e->state)));
        json_object_object_add(o, "frozen_usec", json_object_new_int64((int64_t) e->frozen_usec));
        json_object_object_add(o, "daemon_frozen", json_object_new_boolean(e->daemon_frozen));
}

static void enforce_from_json(struct slice_enforce *e, json_object *o) {
        const char *v;
        int r;

        if (message_get_string(o, "exhausted_action", &v) >= 0 && (r = enforce_action_from_string(v)) >= 0)
                e->action = (enum enforce_action) r;
        if (message_get_string(o, "enforce_state", &v) >= 0 && (r = enforce_state_from_string(v)) >= 0)
                e->state = (enum enforce_state) r;
        (void) message_get_u64(o, "frozen_usec", &e->frozen_usec);
        (void) message_get_bool(o, "daemon_frozen", &e->daemon_frozen);
        e->tx_grant = e->rx_grant = METER_GRANT_UNLIMITED;
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
        if (s->vm) {
                json_object *v;

                if (vm_to_json(s->vm, &v) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
                json_object_object_add(o, "vm", v);
        }

        *ret = o;
        return 0;
}

static int slice_save_state(struct slices *sl, struct slice *s) {
        _cleanup_(freep) char *path = NULL;
        json_object *o;
        const char *text;
        int r;

        path = slice_state_path(sl, s->id);
        if (!path)
                return log_oom();

        r = slice_state_to_json(s, &o);
        if (r < 0)
                return log_oom();

        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY);
        /* A record needs to outlive the daemon, not the machine: what it
         * describes, the slice's cgroups, does not survive a reboot, and
         * a record without them is dropped at the next start whatever it
         * holds (drop_vanished()); the money is in the ledger. Without the
         * two fsyncs a create is a millisecond or more quicker
         * (daemon/README.md). A VM slice's record is the one that names
         * its guest's files, which outlive a reboot and are removed with
         * the record: synced. */
        if (s->vm)
                r = write_file_atomic(path, text, strlen(text));
        else
                r = write_file_atomic_nosync(path, text, strlen(text));
        json_object_put(o);
        if (r < 0)
                return log_error_errno(r, "Failed to write state of slice %s to %s: %m", s->id, path);

        s->last_saved_usec = now_usec(CLOCK_MONOTONIC);
        s->saved_memory = s->usage.memory_current;
        return 0;
}

static uint64_t json_u64(json_object *o, const char *key) {
        uint64_t v = 0;

        (void) message_get_u64(o, key, &v);
        return v;
}

/* A state file's text over s's fields (slices.h). */
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

/* The pid recorded is pinned first, then checked to be the slice's QEMU
 * still (a number that came round to another process is left alone). */
static void slice_take_back_vm(struct slices *sl, struct slice *s) {
        pid_t pid = vm_pid(s->vm);
        int fd;

        fd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (fd < 0 || !s->ops->owns_pid || s->ops->owns_pid(s->handle, "vm", pid) <= 0) {
                if (fd >= 0)
                        close(fd);
                log_info("Slice %s: its QEMU (pid %d) is gone; the guest is stopped.", s->id, (int) pid);
                return;
        }
        (void) vm_take_back(s->vm, fd);
}

/* A VM slice's guest: its QEMU taken back if it still runs. */
static int slice_load_vm(struct slices *sl, struct slice *s, const char *text, size_t size) {
        json_object *o = NULL, *v;
        int r = 0;

        if (message_parse(text, size, &o, NULL) < 0)
                return -EBADMSG;
        if (json_object_object_get_ex(o, "vm", &v))
                r = sl->vms ? vm_from_json(sl->vms, s->id, v, &s->vm) : -EOPNOTSUPP;
        json_object_put(o);
        if (r >= 0 && s->vm && vm_pid(s->vm) > 0)
                slice_take_back_vm(sl, s);
        return r;
}

/* After a restart: the kernel kept counting CPU, network, IO and peaks; the
 * memory integral is picked up from the file, and the time since its last
 * sample is filled with the memory in use at that sample. */
static int slice_load_state(struct slices *sl, struct slice *s) {
        _cleanup_(freep) char *path = NULL, *text = NULL;
        const char *err = NULL;
        size_t size;
        int r;

        path = slice_state_path(sl, s->id);
        if (!path)
                return log_oom();

        r = read_full_file(path, &text, &size);
        if (r < 0)
                return log_warning_errno(r, "Failed to read state of slice %s from %s: %m", s->id, path);

        r = slice_state_from_text(s, text, size, &err);
        if (r < 0)
                return log_warning_errno(r, "Failed to parse state of slice %s in %s: %s", s->id, path,
                                         strna(err));
        r = slice_load_vm(sl, s, text, size);
        if (r < 0)
                return log_warning_errno(r, "Failed to parse the VM of slice %s in %s: %m", s->id, path);

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
static void slice_emit_oom(struct slices *sl, struct slice *s, uint64_t n) {
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

                account_info(sl, s, &info);
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
        if (sl->events)
                events_emit(sl->events, &ev);
        else
                log_warning("Slice %s: %s.", s->id, ev.reason);
}

/* A guest's state changed: recorded (its pid for a restart), said. */
static void on_vm_state(struct vm *vm, const char *id, enum vm_state old, void *userdata) {
        struct slices *sl = userdata;
        struct slice *s = slices_find(sl, id);
        struct slice_vm_info info;
        struct event ev = {
                .kind = EVENT_VM,
                /* Not repeatable: a guest's QEMU starts with a purchase or
                 * a top-up and ends once each time (a reboot inside keeps
                 * it), so its changes are bounded by money, and held back
                 * they would hide "running" behind "booting". */
                .repeatable = false,
        };

        if (!s || s->vm != vm)
                return;
        (void) slice_save_state(sl, s);
        vm_info(vm, s->frozen, &info);
        snprintf(ev.slice, sizeof(ev.slice), "%s", s->id);
        snprintf(ev.vm_image, sizeof(ev.vm_image), "%s", info.image);
        ev.vm_ssh_port = (uint16_t) info.ssh_port;
        ev.unfunded = !s->account.funded;
        ev.owner_uid = s->owner_uid;
        switch (vm_get_state(vm)) {
        case VM_BOOTING:
                snprintf(ev.reason, sizeof(ev.reason), "guest booting: image %s, %" PRIu64 " vCPU, %" PRIu64
                         " MiB, %s, QEMU pid %" PRIu64, info.image, info.vcpus, info.memory >> 20, info.accel,
                         info.pid);
                break;
        case VM_RUNNING:
                snprintf(ev.reason, sizeof(ev.reason), "guest running: SSH answers on %.128s port %" PRIu64,
                         info.ssh_host, info.ssh_port);
                break;
        case VM_STOPPING:
                snprintf(ev.reason, sizeof(ev.reason), "guest asked to power off");
                break;
        case VM_STOPPED:
        default:
                snprintf(ev.reason, sizeof(ev.reason), "guest stopped (was %s); its disk is kept until release",
                         vm_state_to_string(old));
                break;
        }
        if (s->account.funded) {
                struct slice_account_info a;

                account_info(sl, s, &a);
                ev.balance = a.balance;
                ev.burn_rate = a.burn_rate;
                ev.time_left_usec = a.time_left_usec;
        }
        if (sl->events)
                events_emit(sl->events, &ev);
}

static const struct vm_callbacks vm_callbacks = {
        .state_changed = on_vm_state,
};

int slices_tell_guest(struct slices *sl, const char *id, const char *text) {
        struct slice *s = slices_find(sl, id);

        if (!s || !s->vm)
                return 0;
        return vm_set_meta(s->vm, text);
}

void slices_set_vms(struct slices *sl, struct vms *v) {
        sl->vms = v;
        if (v)
                vms_set_callbacks(v, &vm_callbacks, sl);
}

static void slice_apply_counters(struct slices *sl, struct slice *s, const struct slice_counters *c) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (s->last_sample_usec > 0 && now > s->last_sample_usec)
                integrate_memory(s, s->usage.memory_current, c->memory_current, now - s->last_sample_usec);
        s->last_sample_usec = now;

        if (c->oom_kills > s->usage.oom_kills) {
                uint64_t n = c->oom_kills - s->usage.oom_kills;

                s->last_oom_usec = now_usec(CLOCK_REALTIME);
                slice_emit_oom(sl, s, n);
                /* A state change: make it durable now. */
                s->usage.oom_kills = c->oom_kills;
                (void) slice_save_state(sl, s);
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

        /* The file carries the memory integral, and a restart fills the
         * time since the last write with the memory in use then: while
         * that stays the same nothing is lost, and nothing is written. */
        if (now - s->last_saved_usec >= STATE_SAVE_INTERVAL_USEC && s->usage.memory_current != s->saved_memory)
                (void) slice_save_state(sl, s);
}

/* The meter's figures of one slice; true if any moved since its last read. */
static bool slice_apply_meter(struct slice *s, const struct meter_counters *c) {
        bool moved = c->cpu_ns / NSEC_PER_USEC != s->usage.cpu_usec || c->rx_bytes != s->usage.net_rx_bytes ||
                     c->tx_bytes != s->usage.net_tx_bytes || c->rx_dropped != s->usage.net_rx_dropped ||
                     c->tx_dropped != s->usage.net_tx_dropped;

        s->usage.cpu_usec = c->cpu_ns / NSEC_PER_USEC;
        s->usage.net_rx_bytes = c->rx_bytes;
        s->usage.net_tx_bytes = c->tx_bytes;
        s->usage.net_rx_packets = c->rx_packets;
        s->usage.net_tx_packets = c->tx_packets;
        s->usage.net_rx_dropped = c->rx_dropped;
        s->usage.net_tx_dropped = c->tx_dropped;
        return moved;
}

static void slice_drop_record(struct slices *sl, struct slice *s) {
        _cleanup_(freep) char *path = slice_state_path(sl, s->id);

        if (path && unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", path);
}

static void slice_free(struct slices *sl, struct slice *s) {
        schedule_remove(&sl->schedule, &s->sample);
        if (sl->cb)
                sl->cb->freed(s, sl->userdata);
        vm_free(s->vm);
        slice_unlink(sl, s);
        free(s);
}

static int slice_sample(struct slices *sl, struct slice *s) {
        struct slice_counters c = {};
        int r;

        r = sl->ops->read_counters(s->handle, &c);
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
        slice_apply_counters(sl, s, &c);
        s->files_usec = now_usec(CLOCK_MONOTONIC);
        return 0;
}

/* Its cgroup was removed by someone else: what the kernel counted is gone
 * with it, so the slice ends here, with the figures of its last sample.
 * Whatever is left of it in other hierarchies goes too. */
static void slice_vanished(struct slices *sl, struct slice *s) {
        log_warning("Slice %s vanished: its cgroup %s was removed outside prepayd. Last figures: %" PRIu64
                    "ms of CPU, %" PRIu64 " bytes out, %" PRIu64 " byte-seconds of memory. Dropping it.",
                    s->id, sl->ops->cgroup_path(s->handle), s->usage.cpu_usec / 1000, s->usage.net_tx_bytes,
                    s->usage.memory_byte_sec);
        if (sl->cb)
                sl->cb->vanished(s, sl->userdata);
        (void) sl->ops->destroy(sl->backend, s->handle);
        s->handle = NULL;
        (void) meter_unwatch(sl->meter, s->cgroup_id);
        slice_drop_record(sl, s);
        if (s->vm)
                vm_remove(TAKE_PTR(s->vm));
        slice_free(sl, s);
}

/* ---- The meter's schedule (slices.h) ---- */

/* A moving slice's cgroup files are read at most this often: they carry
 * the memory integral's samples (the trapezoid between two reads), the
 * OOM kills and figures only shown; the CPU and network figures, which
 * money follows, come from the meter at every read. */
#define FILES_INTERVAL_USEC (1 * USEC_PER_SEC)
/* A slice standing still has its files read every this many
 * MeterIdleInterval= (a minute by default). */
#define STILL_FILES_INTERVALS 6

static uint64_t meter_wait_min(const struct slices *sl) {
        return sl->config->meter_interval_usec;
}

static uint64_t meter_wait_max(const struct slices *sl) {
        return MAX(sl->config->meter_idle_interval_usec, sl->config->meter_interval_usec);
}

/* Reads gather what is due within a tenth of the interval: one batch
 * rather than a wake-up each. */
static uint64_t meter_slack(const struct slices *sl) {
        return sl->config->meter_interval_usec / 10;
}

static void meter_timer_arm(struct slices *sl) {
        struct schedule_entry *first = schedule_peek(&sl->schedule);

        if (!sl->meter_timer)
                return;
        if (!first) {
                (void) sd_event_source_set_enabled(sl->meter_timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(sl->meter_timer, first->due);
        (void) sd_event_source_set_enabled(sl->meter_timer, SD_EVENT_ONESHOT);
}

/* The places were reserved when the slice was linked: cannot fail then. */
static void slice_schedule(struct slices *sl, struct slice *s, uint64_t due) {
        struct schedule_entry *first = schedule_peek(&sl->schedule);

        if (schedule_put(&sl->schedule, &s->sample, due) < 0) {
                log_oom();
                return;
        }
        if (!first || due < first->due || first == &s->sample)
                meter_timer_arm(sl);
}

void slices_sample_soon(struct slices *sl, struct slice *s) {
        s->wait_usec = 0;
        slice_schedule(sl, s, now_usec(CLOCK_MONOTONIC));
}

/* Whether a read of s takes in its cgroup files too. */
static bool files_due(const struct slices *sl, const struct slice *s, bool moved, bool gone, uint64_t now) {
        uint64_t since = now - s->files_usec;

        if (gone || s->files_usec == 0)
                return true;
        if (moved)
                return since >= FILES_INTERVAL_USEC;
        /* Standing still: once more after it stopped (for its last
         * figures and its state), then only while it holds memory or
         * tasks, and seldom: memory grows only by the work of its tasks,
         * which moves their CPU time, so what is left to see is memory
         * handed back (reclaim, a file's cache dropped) and disk writes
         * of pages dirtied before, both billed at the next read. */
        if (s->wait_usec <= meter_wait_min(sl))
                return true;
        return since >= STILL_FILES_INTERVALS * meter_wait_max(sl) &&
               (s->usage.memory_current > 0 || s->populated);
}

/* When a slice is read next: a short wait as it is; a wait of a second
 * or more rounded up to a whole second, so that the slices standing
 * still are read together, a batch (one BPF program run) a second, not
 * each on its own wake-up. */
static uint64_t next_read(uint64_t now, uint64_t wait) {
        if (wait < USEC_PER_SEC)
                return now + wait;
        return (now + wait + USEC_PER_SEC - 1) / USEC_PER_SEC * USEC_PER_SEC;
}

/* Reads n slices: the meter's figures of all of them in one go, then the
 * files of those that need it. With force, files and all, and no
 * callback (slices_sample_one()). A slice found vanished is dropped. */
static int sample_slices(struct slices *sl, struct slice **v, size_t n, bool force, bool drop_vanished) {
        uint64_t ids[METER_READ_MAX];
        struct meter_counters c[METER_READ_MAX];
        bool gone[METER_READ_MAX], read;
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        int ret = 0;

        assert(n <= METER_READ_MAX);
        if (n == 0)
                return 0;
        for (size_t i = 0; i < n; i++)
                ids[i] = v[i]->cgroup_id;
        read = meter_read(sl->meter, ids, n, c, gone) >= 0;

        for (size_t i = 0; i < n; i++) {
                struct slice *s = v[i];
                bool moved = false, g = false;

                if (read) {
                        moved = slice_apply_meter(s, &c[i]);
                        g = gone[i];
                }
                if ((force || files_due(sl, s, moved, g, now)) && slice_sample(sl, s) == -ENOENT) {
                        ret = -ENOENT;
                        if (drop_vanished) {
                                slice_vanished(sl, s);
                                continue;
                        }
                        /* The caller holds on to s: the next pass drops it. */
                        moved = true;
                        s->wait_usec = 0;
                }
                /* A read out of the schedule (a status, a balance check)
                 * that finds the slice still says less than the
                 * schedule's own: it backs nothing off, or a client
                 * polling a slice would stretch its reads to
                 * MeterIdleInterval= within a second. */
                if (!force || moved || s->sample.pos == SCHEDULE_NONE) {
                        s->wait_usec = schedule_next_wait(s->wait_usec, moved, meter_wait_min(sl),
                                                          meter_wait_max(sl));
                        s->read_usec = now;
                        s->reads++;
                        slice_schedule(sl, s, next_read(now, s->wait_usec));
                }
                if (!force && sl->cb && sl->cb->sampled)
                        sl->cb->sampled(s, sl->userdata);
        }
        /* A pass of the schedule's (a status's read is the client's
         * wait, not the meter's): the BPF run, the files due, charging. */
        if (!force)
                metrics_histogram_observe(&stats.meter_read, now_usec(CLOCK_MONOTONIC) - now);
        return ret;
}

/* Every slice due by limit, taken out of the schedule in batches; each
 * goes back in at its next read, at least MeterInterval= on, so later
 * than limit (a tenth of that on): none is read twice. */
static void sample_due(struct slices *sl, uint64_t limit) {
        struct slice *v[METER_READ_MAX];

        for (;;) {
                struct schedule_entry *e;
                size_t n = 0;

                while (n < ARRAY_SIZE(v) && (e = schedule_pop_due(&sl->schedule, limit)))
                        v[n++] = container_of(e, struct slice, sample);
                if (n == 0)
                        break;
                (void) sample_slices(sl, v, n, false, true);
        }
        meter_timer_arm(sl);
}

static int on_meter_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        struct slices *sl = userdata;

        sample_due(sl, now_usec(CLOCK_MONOTONIC) + meter_slack(sl));
        return 0;
}

int slices_start_meter(struct slices *sl, sd_event *event) {
        int r;

        r = sd_event_add_time(event, &sl->meter_timer, CLOCK_MONOTONIC, UINT64_MAX, meter_slack(sl), on_meter_timer,
                              sl);
        if (r < 0)
                return log_error_errno(r, "Failed to arm the meter timer: %m");
        meter_timer_arm(sl);
        return 0;
}

void slices_sample(struct slices *sl) {
        struct slice *v[METER_READ_MAX], *next;

        /* By the list, a batch at a time: a read puts the slice back in
         * the schedule, so the schedule would never run dry. Only slices
         * of the batch itself can vanish while it is read. */
        for (struct slice *s = sl->list; s; s = next) {
                size_t n = 0;

                for (next = s; next && n < ARRAY_SIZE(v); next = next->next)
                        v[n++] = next;
                (void) sample_slices(sl, v, n, true, true);
        }
        /* Forced reads skip the callback: this one is for everyone. */
        if (sl->cb && sl->cb->sampled)
                for (struct slice *s = sl->list; s; s = next) {
                        next = s->next;
                        sl->cb->sampled(s, sl->userdata);
                }
}

void slices_sample_one(struct slices *sl, struct slice *s) {
        (void) sample_slices(sl, &s, 1, true, false);
}

int slices_refresh(struct slices *sl, struct slice *s) {
        return sample_slices(sl, &s, 1, true, true);
}

static struct slice *slice_new(const char *id) {
        struct slice *s = calloc(1, sizeof(*s));

        if (s) {
                snprintf(s->id, sizeof(s->id), "%s", id);
                schedule_entry_init(&s->sample);
        }
        return s;
}

static int slice_generate_id(struct slices *sl, char ret[static SLICE_ID_MAX]) {
        for (unsigned attempt = 0; attempt < 16; attempt++) {
                uint32_t v;

                if (getrandom(&v, sizeof(v), 0) != sizeof(v))
                        return log_error_errno(errno, "Failed to get random bytes: %m");
                snprintf(ret, SLICE_ID_MAX, "s-%08" PRIx32, v);
                if (!slices_find(sl, ret))
                        return 0;
        }
        return log_error_errno(EEXIST, "Failed to find a free slice id");
}

int slices_check_limits(struct slices *sl, struct slice_limits *l, uint64_t cpus_milli, char **ret_error) {
        uint64_t quota;

        if (l->cpu_period_usec == 0)
                l->cpu_period_usec = sl->config->cpu_period_usec;
        if (l->cpu_period_usec < 1000 || l->cpu_period_usec > USEC_PER_SEC) {
                *ret_error = strdup("CPU period must be between 1ms and 1s");
                return -EINVAL;
        }
        if (cpus_milli > sl->max_cpus_milli) {
                if (asprintf(ret_error, "Requested %" PRIu64 ".%03" PRIu64 " CPUs, at most %" PRIu64 ".%03" PRIu64
                                        " are allowed (MaxCPUs=)",
                             cpus_milli / 1000, cpus_milli % 1000, sl->max_cpus_milli / 1000,
                             sl->max_cpus_milli % 1000) < 0)
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
                    milli > sl->max_cpus_milli) {
                        if (asprintf(ret_error,
                                     "A CPU quota of %" PRIu64 " us per %" PRIu64 " us period is more than the %" PRIu64
                                     ".%03" PRIu64 " CPUs allowed (MaxCPUs=)",
                                     l->cpu_quota_usec, l->cpu_period_usec, sl->max_cpus_milli / 1000,
                                     sl->max_cpus_milli % 1000) < 0)
                                *ret_error = NULL;
                        return -EINVAL;
                }
        }

        if (l->memory_max == 0)
                l->memory_max = sl->config->default_memory_max;
        if (l->memory_max > 0 && l->memory_max < 1024 * 1024) {
                *ret_error = strdup("Memory limit must be at least 1M");
                return -EINVAL;
        }
        if (l->pids_max == 0)
                l->pids_max = sl->config->default_pids_max;
        return 0;
}

int slices_create(struct slices *sl, const struct slice_limits *limits, uint64_t cpus_milli, uid_t owner,
                  const struct vm_plan *vm, struct slice **ret, char **ret_error) {
        struct slice_limits l = *limits;
        char id[SLICE_ID_MAX];
        struct slice *s = NULL;
        int r;

        if (sl->n >= sl->config->max_slices) {
                if (asprintf(ret_error, "Too many slices (MaxSlices=%" PRIu64 ")", sl->config->max_slices) < 0)
                        *ret_error = NULL;
                return -EUSERS;
        }

        r = slices_check_limits(sl, &l, cpus_milli, ret_error);
        if (r < 0)
                return r;

        r = slice_generate_id(sl, id);
        if (r < 0)
                return r;

        s = slice_new(id);
        if (!s)
                return log_oom();

        if (vm) {
                if (!sl->vms) {
                        free(s);
                        *ret_error = strdup("This daemon does not run VM slices");
                        return -EOPNOTSUPP;
                }
                r = vm_new(sl->vms, id, vm, &s->vm, ret_error);
                if (r < 0) {
                        free(s);
                        return r;
                }
        }
        s->limits = l;
        s->owner_uid = owner;
        s->created_usec = now_usec(CLOCK_REALTIME);
        /* A new cgroup holds no memory: integrate from this moment. */
        s->last_sample_usec = now_usec(CLOCK_MONOTONIC);

        r = sl->ops->create(sl->backend, id, &l, &s->handle);
        if (r < 0)
                goto fail;
        s->ops = sl->ops;
        s->cgroup_id = sl->ops->cgroup_id(s->handle);

        r = meter_watch(sl->meter, s->cgroup_id);
        if (r < 0)
                goto fail;

        r = slice_save_state(sl, s);
        if (r < 0) {
                (void) meter_unwatch(sl->meter, s->cgroup_id);
                goto fail;
        }

        if (schedule_reserve(&sl->schedule, sl->n + 1) < 0) {
                (void) meter_unwatch(sl->meter, s->cgroup_id);
                r = log_oom();
                goto fail;
        }
        slice_link(sl, s);
        slice_schedule(sl, s, now_usec(CLOCK_MONOTONIC) + meter_wait_min(sl));
        log_info("Slice %s created (cgroup %s, owner uid %u).", s->id, sl->ops->cgroup_path(s->handle),
                 (unsigned) owner);
        *ret = s;
        return 0;

fail:
        if (s->handle)
                (void) sl->ops->destroy(sl->backend, s->handle);
        if (s->vm)
                vm_remove(s->vm);
        free(s);
        *ret_error = strdup("Failed to create the slice's cgroups, see the daemon's log");
        return r;
}

/* cgroupfs: the child waits at the gate until it is in the slice (it is
 * our unreaped child, so its number cannot name anyone else meanwhile),
 * then drops to the VM user and execs; it never runs a line of QEMU
 * outside the slice. */
static int spawn_in_slice(struct slices *sl, struct slice *s, char *const argv[], uid_t uid, gid_t gid,
                          const gid_t *groups, size_t n_groups, pid_t *ret_pid) {
        static char *const envp[] = { (char *) "PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *) "LC_ALL=C", NULL };
        int gate[2], r;
        pid_t pid;

        if (pipe2(gate, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                close(gate[0]);
                close(gate[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t none;
                char go;
                int null;

                close(gate[1]);
                if (read(gate[0], &go, 1) != 1)
                        _exit(126);
                sigemptyset(&none);
                (void) sigprocmask(SIG_SETMASK, &none, NULL);
                (void) setsid();
                null = open("/dev/null", O_RDWR);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        (void) dup2(null, STDOUT_FILENO);
                }
                if (setgroups(n_groups, groups) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(125);
                (void) prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                execve(argv[0], argv, envp);
                _exit(127);
        }
        close(gate[0]);
        r = sl->ops->attach(s->handle, pid);
        if (r < 0) {
                close(gate[1]);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        if (write(gate[1], "g", 1) != 1) {
                r = -errno;
                close(gate[1]);
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                return r;
        }
        close(gate[1]);
        slices_sample_soon(sl, s);
        *ret_pid = pid;
        return 0;
}

int slices_start_vm(struct slices *sl, struct slice *s, char **ret_error) {
        char **argv = NULL;
        gid_t groups[1];
        size_t n_groups = 0;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        int r;

        *ret_error = NULL;
        if (!s->vm || !s->handle)
                return -ENODEV;
        r = vms_user(sl->vms, &uid, &gid, groups, &n_groups);
        if (r < 0) {
                *ret_error = strdup("The VM user ([VM] User=) is gone");
                return log_error_errno(r, "Failed to start VM %s: [VM] User=%s: %m", s->id, sl->config->vm_user);
        }
        r = vm_argv(s->vm, &argv);
        if (r < 0)
                return log_oom();
        if (sl->ops->spawn)
                r = sl->ops->spawn(s->handle, "vm", argv, uid, gid, groups, n_groups, &pid);
        else
                r = spawn_in_slice(sl, s, argv, uid, gid, groups, n_groups, &pid);
        vm_argv_free(argv);
        if (r < 0) {
                if (asprintf(ret_error, "The guest could not be started: %s", strerror(-r)) < 0)
                        *ret_error = NULL;
                return log_error_errno(r, "Failed to start QEMU in slice %s: %m", s->id);
        }
        r = vm_started(s->vm, pid);
        (void) slice_save_state(sl, s);
        log_info("Slice %s: QEMU runs as pid %d.", s->id, (int) pid);
        return r;
}

int slices_stop_vm(struct slices *sl, struct slice *s, void (*done)(void *userdata), void *userdata) {
        if (!s->vm || vm_get_state(s->vm) == VM_STOPPED)
                return 0;
        /* A frozen guest cannot act on the ACPI request: it is killed. */
        return vm_stop(s->vm, !s->frozen, done, userdata);
}

int slices_attach(struct slices *sl, struct slice *s, int pidfd, char **ret_error) {
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
        r = sl->ops->attach(s->handle, pid);
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
        slices_sample_soon(sl, s);
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

int slices_run_unit(struct slices *sl, struct slice *s, const char *unit, uid_t required_uid, char **ret_name,
                     char **ret_error) {
        int r;

        *ret_error = NULL;
        if (!sl->ops->run_unit) {
                *ret_error = strdup("prepay run --unit needs the systemd backend (Backend=systemd)");
                return -EOPNOTSUPP;
        }
        if (!s->handle) {
                if (asprintf(ret_error, "Slice %s has no cgroup to run in", s->id) < 0)
                        *ret_error = NULL;
                return -ENOENT;
        }
        r = sl->ops->run_unit(s->handle, unit, required_uid, ret_name, ret_error);
        if (r < 0) {
                if (!*ret_error && asprintf(ret_error, "Failed to run unit %s in slice %s: %s", unit, s->id,
                                            strerror(-r)) < 0)
                        *ret_error = NULL;
                return r;
        }
        log_info("Slice %s: unit %s runs as %s.", s->id, unit, *ret_name);
        return 0;
}

int slices_destroy(struct slices *sl, struct slice *s) {
        int r;

        /* Last figures for the log line, before the cgroup is gone. */
        if (s->handle) {
                struct meter_counters c;

                if (meter_read(sl->meter, &s->cgroup_id, 1, &c, NULL) >= 0)
                        (void) slice_apply_meter(s, &c);
                (void) slice_sample(sl, s);
        }

        r = sl->ops->destroy(sl->backend, s->handle);
        s->handle = NULL;
        (void) meter_unwatch(sl->meter, s->cgroup_id);
        slice_drop_record(sl, s);
        if (s->vm)
                vm_remove(TAKE_PTR(s->vm));

        log_info("Slice %s destroyed after %" PRIu64 "ms of CPU, %" PRIu64 " bytes out, %" PRIu64
                 " byte-seconds of memory.",
                 s->id, s->usage.cpu_usec / 1000, s->usage.net_tx_bytes, s->usage.memory_byte_sec);
        slice_free(sl, s);
        return r;
}

static uint64_t realtime_of(uint64_t monotonic);

void slices_info(struct slices *sl, struct slice *s, struct slice_info *ret) {
        struct slice_info i = {};

        snprintf(i.id, sizeof(i.id), "%s", s->id);
        snprintf(i.state, sizeof(i.state), "%s", slice_state_name(s));
        snprintf(i.cgroup, sizeof(i.cgroup), "%s", sl->ops->cgroup_path(s->handle));
        i.created_usec = s->created_usec;
        i.last_oom_usec = s->last_oom_usec;
        i.cgroup_id = s->cgroup_id;
        i.read_usec = realtime_of(s->read_usec);
        i.limits = s->limits;
        i.usage = s->usage;
        if (s->vm)
                vm_info(s->vm, s->frozen, &i.vm);
        account_info(sl, s, &i.account);
        *ret = i;
}

/* The realtime of a CLOCK_MONOTONIC moment in the past, 0 for 0. */
static uint64_t realtime_of(uint64_t monotonic) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);

        if (monotonic == 0)
                return 0;
        return now_usec(CLOCK_REALTIME) - (now > monotonic ? now - monotonic : 0);
}

static json_object *meter_to_json(const struct slice *s) {
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "read_usec", json_object_new_int64((int64_t) realtime_of(s->read_usec)));
        json_object_object_add(o, "wait_usec", json_object_new_int64((int64_t) s->wait_usec));
        json_object_object_add(o, "reads", json_object_new_int64((int64_t) s->reads));
        return o;
}

json_object *slices_reply(struct slices *sl, struct slice *s) {
        struct slice_info info;
        json_object *reply, *o;

        slices_info(sl, s, &info);
        if (slice_info_to_json(&info, &o) < 0)
                return message_reply_refusal(MESSAGE_INTERNAL, "Failed to encode slice %s", s->id);
        json_object_object_add(o, "meter", meter_to_json(s));
        reply = message_reply_ok();
        json_object_object_add(reply, "slice", o);
        return reply;
}

static int adopt_one(const char *id, void *userdata) {
        struct slices *sl = userdata;
        struct slice *s = NULL;
        int r;

        s = slice_new(id);
        if (!s)
                return log_oom();

        r = sl->ops->adopt(sl->backend, id, &s->handle);
        if (r < 0) {
                free(s);
                return 0;
        }
        s->ops = sl->ops;
        s->cgroup_id = sl->ops->cgroup_id(s->handle);

        if (slice_load_state(sl, s) < 0) {
                /* Without its record, we cannot tell whose it is or what it
                 * was sized to: leave the cgroup alone for the operator. */
                log_warning("Slice %s has no usable state file in %s, leaving its cgroup %s alone.", id,
                            sl->state_dir, sl->ops->cgroup_path(s->handle));
                sl->ops->release(s->handle);
                free(s);
                return 0;
        }

        r = meter_watch(sl->meter, s->cgroup_id);
        if (r < 0) {
                sl->ops->release(s->handle);
                free(s);
                return r;
        }

        if (schedule_reserve(&sl->schedule, sl->n + 1) < 0) {
                (void) meter_unwatch(sl->meter, s->cgroup_id);
                sl->ops->release(s->handle);
                free(s);
                return log_oom();
        }
        slice_link(sl, s);
        (void) slice_sample(sl, s);
        slice_schedule(sl, s, now_usec(CLOCK_MONOTONIC) + meter_wait_min(sl));
        log_info("Slice %s adopted after a restart (cgroup %s).", id, sl->ops->cgroup_path(s->handle));
        return 0;
}

/* State files whose cgroup is gone: the slice vanished while we were away
 * (removed by hand, or a reboot). Say so and drop the record. */
static void drop_vanished(struct slices *sl) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;

        d = opendir(sl->state_dir);
        if (!d)
                return;

        while ((de = readdir(d))) {
                char id[SLICE_ID_MAX];
                size_t n = strlen(de->d_name);

                if (n < 6 || n - 5 >= sizeof(id) || !streq(de->d_name + n - 5, ".json"))
                        continue;
                memcpy(id, de->d_name, n - 5);
                id[n - 5] = 0;
                if (!slice_id_is_valid(id) || slices_find(sl, id))
                        continue;

                log_warning("Slice %s vanished while the daemon was not running, dropping its record.", id);
                if (sl->vms)
                        vms_remove_files(sl->vms, id);
                if (unlinkat(dirfd(d), de->d_name, 0) < 0)
                        log_warning_errno(errno, "Failed to remove %s/%s, ignoring: %m", sl->state_dir,
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


int slice_set_limits(struct slice *s, const struct slice_limits *l) {
        return s->handle ? s->ops->set_limits(s->handle, l) : -ENODEV;
}

int slice_freeze(struct slice *s, bool freeze) {
        return s->handle ? s->ops->freeze(s->handle, freeze) : -ENODEV;
}

int slice_kill(struct slice *s) {
        return s->handle ? s->ops->kill(s->handle) : -ENODEV;
}

int slices_root_fd(struct slices *sl) {
        return sl->ops->root_fd(sl->backend);
}

const char *slices_root_path(struct slices *sl) {
        return sl->ops->root_path(sl->backend);
}

int slices_adopt(struct slices *sl) {
        int r;

        r = sl->ops->enumerate(sl->backend, adopt_one, sl);
        if (r < 0)
                return r;
        drop_vanished(sl);
        return 0;
}

void slices_save_all(struct slices *sl) {
        for (struct slice *s = sl->list; s; s = s->next)
                (void) slice_save_state(sl, s);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct slices *, slices_free);

int slices_new(const struct config *config, struct slices **ret) {
        _cleanup_(slices_freep) struct slices *sl = NULL;
        long ncpus;
        int r;

        sl = calloc(1, sizeof(*sl));
        if (!sl)
                return log_oom();
        sl->config = config;
        if (id_index_init(&sl->by_id) < 0)
                return log_oom();
        r = choose_backend(config->backend, &sl->ops);
        if (r < 0)
                return r;

        ncpus = sysconf(_SC_NPROCESSORS_ONLN);
        sl->online_cpus_milli = (uint64_t) (ncpus > 0 ? ncpus : 1) * 1000;
        sl->max_cpus_milli = config->max_cpus_milli ?: sl->online_cpus_milli;

        if (asprintf(&sl->state_dir, "%s/slices", config->state_directory) < 0) {
                sl->state_dir = NULL;
                return log_oom();
        }
        r = mkdir_p(sl->state_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create state directory %s: %m", sl->state_dir);
        /* It holds the owner-token secret, the ledger and the slice
         * records: a directory someone else can write (or swap) is
         * refused, not fixed, as what is in it can no longer be trusted.
         * One prepayd made is 0700. */
        for (size_t i = 0; i < 2; i++) {
                _cleanup_(freep) char *error = NULL;

                r = dir_check_private(i == 0 ? config->state_directory : sl->state_dir, &error);
                if (r < 0)
                        return log_error_errno(r, "Refusing StateDirectory=%s: %s. It and every directory above "
                                                  "it must be root's and writable by no one else (above it, a "
                                                  "sticky directory such as /tmp may be).",
                                               config->state_directory, error ?: strerror(-r));
        }

        r = sl->ops->open(config->cgroup_root, &sl->backend);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(sl);
        return 0;
}

void slices_free(struct slices *sl) {
        bool empty;

        if (!sl)
                return;
        empty = sl->n == 0;
        sl->cb = NULL;
        while (sl->list) {
                sl->ops->release(sl->list->handle);
                slice_free(sl, sl->list);
        }
        sl->meter_timer = sd_event_source_disable_unref(sl->meter_timer);
        schedule_done(&sl->schedule);
        if (sl->backend)
                sl->ops->close(sl->backend, empty);
        if (empty && sl->state_dir)
                (void) rmdir(sl->state_dir);
        id_index_done(&sl->by_id);
        free(sl->state_dir);
        free(sl);
}
