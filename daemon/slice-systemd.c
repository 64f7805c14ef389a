/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * slice-systemd: slices as transient systemd slice units, for hosts where
 * systemd is PID 1 and owns the (pure v2) cgroup tree.
 *
 * Slice s-1a2b3c4d is the unit prepay-s-1a2b3c4d.slice. systemd nests
 * slices by the dashes in their names, so every slice lands in the
 * backend's root unit prepay-s.slice, itself in prepay.slice:
 *
 *   /sys/fs/cgroup/prepay.slice/prepay-s.slice/prepay-s-1a2b3c4d.slice
 *
 * The root's cgroup directory is the meter's root (root_fd()), and a slice
 * is the ancestor one level below it, so scopes and services started in a
 * slice are metered as the slice.
 *
 * The daemon never writes a cgroupfs file here: limits go in as unit
 * properties (StartTransientUnit, SetUnitProperties), freeze, thaw, kill and
 * stop are systemd methods, and work is moved in by systemd (a transient
 * scope for a pid, a transient service for a unit's command). Counters and
 * cgroup.events are read from the unit's cgroup, read-only (cgroup-v2.c).
 *
 * The backend owns a private connection to the system bus, not attached to
 * the event loop: every call is synchronous, bounded by BUS_TIMEOUT_USEC.
 * A method that queues a job is followed by a wait for that job's
 * JobRemoved signal (the match is added before the call, so the signal
 * cannot be missed). systemd sends JobRemoved of a job to the client that
 * asked for it even when that client did not Subscribe(), and not
 * subscribing keeps the rest of the manager's signals off this connection,
 * where nothing would read them between calls.
 */

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>

#include "cgroup-v2.h"
#include "common/log.h"
#include "common/util.h"
#include "pricing.h"
#include "slice.h"

#define CGROUP_MOUNT "/sys/fs/cgroup"
#define ROOT_UNIT "prepay-s.slice"
#define UNIT_PREFIX "prepay-"

/* The guest used for tests runs systemd under full emulation: a job that
 * takes milliseconds on hardware takes seconds there. */
#define BUS_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define FREEZE_TIMEOUT_USEC (1 * USEC_PER_SEC)
#define KILL_WAIT_USEC (1 * USEC_PER_SEC)

#define UNIT_NAME_MAX 256

#define SD_DESTINATION "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_SLICE "org.freedesktop.systemd1.Slice"
#define SD_SERVICE "org.freedesktop.systemd1.Service"

#define BUS_ERROR_NO_SUCH_UNIT "org.freedesktop.systemd1.NoSuchUnit"
#define BUS_ERROR_UNIT_EXISTS "org.freedesktop.systemd1.UnitExists"

struct slice_backend {
        sd_bus *bus;
        struct slice_features features;
        char *root_cgroup; /* below the mount: "/prepay.slice/prepay-s.slice" */
        char *root_fs;     /* CGROUP_MOUNT + root_cgroup */
        int root_fd;
};

struct slice_handle {
        struct slice_backend *b;
        char id[SLICE_ID_MAX];
        char unit[UNIT_NAME_MAX]; /* "prepay-s-1a2b3c4d.slice" */
        char *cgroup;             /* below the mount */
        int fd;                   /* the slice's cgroup directory */
        uint64_t cgroup_id;
        struct cg2_files files;
};

/* ---------------------------------------------------------------------- */
/* Small helpers */

/* What to say about a failed call: systemd's own sentence when there is one. */
static const char *bus_error_message(const sd_bus_error *e, int r) {
        if (e && sd_bus_error_is_set(e) && e->message)
                return e->message;
        return strerror(r < 0 ? -r : r);
}

static bool is_no_such_unit(const sd_bus_error *e) {
        return sd_bus_error_has_name(e, BUS_ERROR_NO_SUCH_UNIT);
}

/* The connection, opened again if the bus went away (dbus-daemon restarted). */
static int bus_get(struct slice_backend *b, sd_bus **ret) {
        int r;

        if (b->bus && sd_bus_is_open(b->bus) > 0) {
                *ret = b->bus;
                return 0;
        }
        if (b->bus) {
                log_notice("Connection to the system bus lost, connecting again");
                b->bus = sd_bus_flush_close_unref(b->bus);
        }
        r = sd_bus_open_system(&b->bus);
        if (r < 0)
                return r;
        (void) sd_bus_set_description(b->bus, "prepay-slices");
        r = sd_bus_set_method_call_timeout(b->bus, BUS_TIMEOUT_USEC);
        if (r < 0) {
                b->bus = sd_bus_flush_close_unref(b->bus);
                return r;
        }
        *ret = b->bus;
        return 0;
}

/* The object path of a unit systemd has loaded; -ENOENT (NoSuchUnit in
 * *error) when it has not. */
static int unit_path(struct slice_backend *b, const char *unit, bool load, sd_bus_error *error, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        const char *path;
        sd_bus *bus;
        char *p;
        int r;

        r = bus_get(b, &bus);
        if (r < 0)
                return r;
        r = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, load ? "LoadUnit" : "GetUnit", error,
                               &reply, "s", unit);
        if (r < 0)
                return is_no_such_unit(error) ? -ENOENT : r;
        r = sd_bus_message_read(reply, "o", &path);
        if (r < 0)
                return r;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

/* ActiveState of a unit: "active", "inactive", ...; "" when not loaded. */
static int unit_active_state(struct slice_backend *b, const char *unit, sd_bus_error *error, char **ret) {
        _cleanup_(freep) char *path = NULL;
        int r;

        r = unit_path(b, unit, false, error, &path);
        if (r == -ENOENT) {
                sd_bus_error_free(error);
                *ret = strdup("");
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        return sd_bus_get_property_string(b->bus, SD_DESTINATION, path, SD_UNIT, "ActiveState", error, ret);
}

/* ---------------------------------------------------------------------- */
/* Jobs */

struct job_wait {
        const char *path; /* the job's object path, once the call returned it */
        bool removed;
        char result[32];  /* "done", "failed", "canceled", "dependency", ... */
};

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        struct job_wait *w = userdata;
        const char *path, *unit, *result;
        uint32_t id;

        if (sd_bus_message_read(m, "uoss", &id, &path, &unit, &result) < 0)
                return 0;
        if (w->path && !w->removed && streq(path, w->path)) {
                (void) snprintf(w->result, sizeof(w->result), "%s", result);
                w->removed = true;
        }
        return 0;
}

/* Sends m, a call whose reply is a job path (StartTransientUnit, StopUnit,
 * ...), and waits until systemd says the job is over. A result other than
 * "done" is an error (-EIO, -ECANCELED) with a sentence in *error naming
 * the unit and the result. */
static int call_and_wait_job(sd_bus_message *m, const char *unit, sd_bus_error *error) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *slot = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        struct job_wait w = {};
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + BUS_TIMEOUT_USEC;
        sd_bus *bus = sd_bus_message_get_bus(m);
        int r;

        r = sd_bus_match_signal(bus, &slot, SD_DESTINATION, SD_PATH, SD_MANAGER, "JobRemoved", on_job_removed, &w);
        if (r < 0)
                return r;
        r = sd_bus_call(bus, m, BUS_TIMEOUT_USEC, error, &reply);
        if (r < 0)
                return r;
        r = sd_bus_message_read(reply, "o", &w.path);
        if (r < 0)
                return r;

        /* sd_bus_call() only queues the signals that came meanwhile:
         * sd_bus_process() hands them to the match. */
        for (;;) {
                uint64_t now;

                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        return r;
                if (w.removed)
                        break;
                if (r > 0)
                        continue;
                now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline) {
                        (void) sd_bus_error_setf(error, SD_BUS_ERROR_TIMEOUT,
                                                 "the job for %s did not finish within %" PRIu64 " s", unit,
                                                 BUS_TIMEOUT_USEC / USEC_PER_SEC);
                        return -ETIMEDOUT;
                }
                r = sd_bus_wait(bus, deadline - now);
                if (r < 0 && r != -EINTR)
                        return r;
        }

        if (streq(w.result, "done"))
                return 0;
        (void) sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "the job for %s finished with result '%s'", unit,
                                 w.result);
        return streq(w.result, "canceled") ? -ECANCELED : -EIO;
}

static int new_manager_call(struct slice_backend *b, const char *method, sd_bus_message **ret) {
        sd_bus *bus;
        int r;

        r = bus_get(b, &bus);
        if (r < 0)
                return r;
        return sd_bus_message_new_method_call(bus, ret, SD_DESTINATION, SD_PATH, SD_MANAGER, method);
}

/* StartUnit or StopUnit (method) of unit, mode "replace", waited for. */
static int unit_job(struct slice_backend *b, const char *method, const char *unit, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_manager_call(b, method, &m);
        if (r < 0)
                return r;
        r = sd_bus_message_append(m, "ss", unit, "replace");
        if (r < 0)
                return r;
        return call_and_wait_job(m, unit, error);
}

static int stop_unit(struct slice_backend *b, const char *unit, sd_bus_error *error) {
        int r;

        r = unit_job(b, "StopUnit", unit, error);
        if (r < 0 && is_no_such_unit(error)) {
                sd_bus_error_free(error);
                return 0; /* gone already */
        }
        return r;
}

/* ---------------------------------------------------------------------- */
/* Limits as unit properties */

/* A 0 limit is no limit: infinity (UINT64_MAX) in systemd's terms. The CPU
 * quota per period becomes systemd's quota per second, rounded up so that
 * systemd's way back (per second x period / 1 s) gives the quota again
 * (pricing_quota_per_sec()). A quota that does not fit is refused: it once
 * became UINT64_MAX, which systemd reads as no limit at all. */
static int append_limits(sd_bus_message *m, const struct slice_limits *l) {
        uint64_t quota, period, per_sec = UINT64_MAX;
        int r;

        slice_limits_cpu(l, &quota, &period);
        if (quota > 0) {
                r = pricing_quota_per_sec(quota, period, &per_sec);
                if (r < 0)
                        return log_error_errno(r, "CPU quota of %" PRIu64 " us per %" PRIu64
                                                  " us is too large for systemd's CPUQuotaPerSecUSec=, refusing",
                                               quota, period);
        }
        return sd_bus_message_append(m, "(sv)(sv)(sv)(sv)", "CPUQuotaPerSecUSec", "t", per_sec, "CPUQuotaPeriodUSec",
                                     "t", period, "MemoryMax", "t", l->memory_max ?: UINT64_MAX, "TasksMax", "t",
                                     l->pids_max ?: UINT64_MAX);
}

/* Counters need the controllers enabled even where no limit asks for them. */
static int append_accounting(sd_bus_message *m) {
        return sd_bus_message_append(m, "(sv)(sv)(sv)(sv)", "CPUAccounting", "b", 1, "MemoryAccounting", "b", 1,
                                     "TasksAccounting", "b", 1, "IOAccounting", "b", 1);
}

typedef int (*add_props_t)(sd_bus_message *m, const void *userdata);

/* The a(sv) of unit properties add_props appends. */
static int append_props(sd_bus_message *m, add_props_t add_props, const void *userdata) {
        int r;

        r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r < 0)
                return r;
        r = add_props(m, userdata);
        if (r < 0)
                return r;
        return sd_bus_message_close_container(m);
}

/* StartTransientUnit(name, "fail", properties, no aux units), waited for. */
static int start_transient(struct slice_backend *b, const char *unit, add_props_t add_props, const void *userdata,
                           sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        r = new_manager_call(b, "StartTransientUnit", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "ss", unit, "fail");
        if (r >= 0)
                r = append_props(m, add_props, userdata);
        if (r >= 0)
                r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                return r;
        r = call_and_wait_job(m, unit, error);
        if (r < 0 && sd_bus_error_has_name(error, BUS_ERROR_UNIT_EXISTS))
                return -EEXIST;
        return r;
}

/* ---------------------------------------------------------------------- */
/* Backend: open and close */

static int add_root_props(sd_bus_message *m, const void *userdata) {
        int r;

        r = sd_bus_message_append(m, "(sv)", "Description", "s", "prepay slices");
        if (r < 0)
                return r;
        return append_accounting(m);
}

/* prepay-s.slice loaded and active: an existing one is fine (a restart, or
 * one an operator configured), a missing one is made. */
static int root_ensure(struct slice_backend *b) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *state = NULL;
        int r;

        r = unit_active_state(b, ROOT_UNIT, &error, &state);
        if (r < 0)
                return log_error_errno(r, "Failed to look up %s: %s", ROOT_UNIT, bus_error_message(&error, r));
        if (streq(state, "active"))
                return 0;

        if (streq(state, ""))
                r = start_transient(b, ROOT_UNIT, add_root_props, NULL, &error);
        else
                r = -EEXIST;
        /* Loaded but not active (a unit file, or a leftover): start it as it is. */
        if (r == -EEXIST) {
                sd_bus_error_free(&error);
                r = unit_job(b, "StartUnit", ROOT_UNIT, &error);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to start %s: %s", ROOT_UNIT, bus_error_message(&error, r));
        log_debug("Started %s", ROOT_UNIT);
        return 0;
}

/* The unit's cgroup below the mount, from its ControlGroup property (empty
 * until systemd has made the cgroup). */
static int unit_cgroup(struct slice_backend *b, const char *unit, sd_bus_error *error, char **ret) {
        _cleanup_(freep) char *path = NULL, *cg = NULL;
        int r;

        r = unit_path(b, unit, false, error, &path);
        if (r < 0)
                return r;
        r = sd_bus_get_property_string(b->bus, SD_DESTINATION, path, SD_SLICE, "ControlGroup", error, &cg);
        if (r < 0)
                return r;
        if (cg[0] != '/')
                return -ENOENT;
        *ret = TAKE_PTR(cg);
        return 0;
}

static int probe_features(struct slice_backend *b) {
        _cleanup_(freep) char *available = NULL;
        int r;

        r = read_one_line_file(CGROUP_MOUNT "/cgroup.controllers", &available);
        if (r < 0)
                return log_error_errno(r, "Failed to read " CGROUP_MOUNT "/cgroup.controllers: %m");
        b->features.cpu = cg2_controllers_have(available, "cpu");
        b->features.memory = cg2_controllers_have(available, "memory");
        b->features.pids = cg2_controllers_have(available, "pids");
        b->features.io = cg2_controllers_have(available, "io");
        r = slice_features_require(&b->features, "the cgroup v2 hierarchy");
        b->features.cgroup_kill = faccessat(b->root_fd, "cgroup.kill", F_OK, 0) >= 0;
        /* The root has accounting on, so its memory files are there when
         * the kernel has them. */
        b->features.memory_peak = faccessat(b->root_fd, "memory.peak", F_OK, 0) >= 0;
        return r;
}

static void backend_free(struct slice_backend *b) {
        if (!b)
                return;
        if (b->root_fd >= 0)
                (void) close(b->root_fd);
        sd_bus_flush_close_unref(b->bus);
        free(b->root_cgroup);
        free(b->root_fs);
        free(b);
}

static int systemd_open(const char *cgroup_root, struct slice_backend **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct slice_backend *b;
        sd_bus *bus;
        int r;

        if (!slice_systemd_usable())
                return log_error_errno(EOPNOTSUPP, "The systemd backend needs systemd as PID 1 and a pure cgroup "
                                                   "v2 hierarchy at " CGROUP_MOUNT);
        if (cgroup_root && !streq(cgroup_root, "prepay"))
                log_notice("CgroupRoot=%s is not used by the systemd backend: slices are units in %s", cgroup_root,
                           ROOT_UNIT);

        b = calloc(1, sizeof(*b));
        if (!b)
                return log_oom();
        b->root_fd = -1;

        r = bus_get(b, &bus);
        if (r < 0) {
                log_error_errno(r, "Failed to connect to the system bus: %m");
                goto fail;
        }
        r = root_ensure(b);
        if (r < 0)
                goto fail;
        r = unit_cgroup(b, ROOT_UNIT, &error, &b->root_cgroup);
        if (r < 0) {
                log_error_errno(r, "Failed to find the cgroup of %s: %s", ROOT_UNIT, bus_error_message(&error, r));
                goto fail;
        }
        if (asprintf(&b->root_fs, CGROUP_MOUNT "%s", b->root_cgroup) < 0) {
                b->root_fs = NULL;
                r = log_oom();
                goto fail;
        }
        b->root_fd = open(b->root_fs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (b->root_fd < 0) {
                r = log_error_errno(errno, "Failed to open %s: %m", b->root_fs);
                goto fail;
        }
        r = probe_features(b);
        if (r < 0)
                goto fail;

        log_info("Slices are systemd units in %s, cgroup %s", ROOT_UNIT, b->root_fs);
        *ret = b;
        return 0;
fail:
        backend_free(b);
        return r;
}

static void systemd_close(struct slice_backend *b, bool remove_root) {
        if (!b)
                return;
        if (remove_root && b->root_fd >= 0) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
                struct cg2_files f;
                bool populated = true;
                int r;

                /* Something we did not start may live there: leave it. */
                cg2_files_init(&f, b->root_fd);
                r = cg2_read_events(&f, &populated, NULL);
                cg2_files_done(&f);
                if (r < 0 || populated)
                        log_notice("%s is not empty, leaving it", ROOT_UNIT);
                else {
                        r = stop_unit(b, ROOT_UNIT, &error);
                        if (r < 0)
                                log_warning_errno(r, "Failed to stop %s, ignoring: %s", ROOT_UNIT,
                                                  bus_error_message(&error, r));
                }
        }
        backend_free(b);
}

static const struct slice_features *systemd_features(struct slice_backend *b) {
        return &b->features;
}

static int systemd_root_fd(struct slice_backend *b) {
        return b->root_fd;
}

static const char *systemd_root_path(struct slice_backend *b) {
        return b->root_fs;
}

/* ---------------------------------------------------------------------- */
/* Slices */

static void handle_free(struct slice_handle *h) {
        if (!h)
                return;
        cg2_files_done(&h->files);
        if (h->fd >= 0)
                (void) close(h->fd);
        free(h->cgroup);
        free(h);
}

static struct slice_handle *handle_new(struct slice_backend *b, const char *id) {
        struct slice_handle *h = calloc(1, sizeof(*h));

        if (!h)
                return NULL;
        h->b = b;
        h->fd = -1;
        cg2_files_init(&h->files, -1);
        (void) snprintf(h->id, sizeof(h->id), "%s", id);
        (void) snprintf(h->unit, sizeof(h->unit), UNIT_PREFIX "%s.slice", id);
        return h;
}

/* Opens the slice's cgroup, which must be right below the root: that is
 * where the meter looks for slices. */
static int handle_open(struct slice_handle *h, sd_bus_error *error) {
        struct slice_backend *b = h->b;
        _cleanup_(freep) char *cg = NULL;
        size_t n = strlen(b->root_cgroup);
        int r;

        r = unit_cgroup(b, h->unit, error, &cg);
        if (r < 0)
                return r;
        if (!strneq(cg, b->root_cgroup, n) || cg[n] != '/' || !streq(cg + n + 1, h->unit)) {
                (void) sd_bus_error_setf(error, SD_BUS_ERROR_FAILED, "its cgroup %s is not right below %s", cg,
                                         b->root_cgroup);
                return -EINVAL;
        }
        h->fd = openat(b->root_fd, h->unit, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (h->fd < 0)
                return -errno;
        h->cgroup = TAKE_PTR(cg);
        h->cgroup_id = cg2_dir_id(h->fd);
        cg2_files_init(&h->files, h->fd);
        return 0;
}

struct slice_props {
        const char *id;
        const struct slice_limits *limits;
};

static int add_slice_props(sd_bus_message *m, const void *userdata) {
        const struct slice_props *p = userdata;
        char description[64];
        int r;

        (void) snprintf(description, sizeof(description), "prepay slice %s", p->id);
        r = sd_bus_message_append(m, "(sv)", "Description", "s", description);
        if (r < 0)
                return r;
        r = append_accounting(m);
        if (r < 0)
                return r;
        return append_limits(m, p->limits);
}

/* A handle for slice id (valid), not opened yet, and the ActiveState of
 * its unit ("" when it is not loaded); verb says what for, in messages. */
static int handle_lookup(struct slice_backend *b, const char *id, const char *verb, struct slice_handle **ret,
                         char **ret_state) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct slice_handle *h;
        int r;

        h = handle_new(b, id);
        if (!h)
                return log_oom();
        r = unit_active_state(b, h->unit, &error, ret_state);
        if (r < 0) {
                handle_free(h);
                return log_error_errno(r, "Failed to %s slice %s: %s", verb, id, bus_error_message(&error, r));
        }
        *ret = h;
        return 0;
}

static int systemd_create(struct slice_backend *b, const char *id, const struct slice_limits *l,
                          struct slice_handle **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *state = NULL;
        struct slice_props props = { .id = id, .limits = l };
        struct slice_handle *h;
        int r;

        if (!slice_id_is_valid(id))
                return log_error_errno(EINVAL, "Refusing to create slice \"%s\": not a slice id", strna(id));
        r = slice_limits_check(l, "create", id);
        if (r < 0)
                return r;
        r = handle_lookup(b, id, "create", &h, &state);
        if (r < 0)
                return r;
        if (streq(state, "active")) {
                r = log_error_errno(EEXIST, "Failed to create slice %s: %s is already active", id, h->unit);
                goto fail;
        }

        r = start_transient(b, h->unit, add_slice_props, &props, &error);
        if (r == -EEXIST) {
                log_error_errno(r, "Failed to create slice %s: %s exists", id, h->unit);
                goto fail;
        }
        if (r < 0) {
                log_error_errno(r, "Failed to create slice %s: %s", id, bus_error_message(&error, r));
                goto fail;
        }
        r = handle_open(h, &error);
        if (r < 0) {
                log_error_errno(r, "Failed to open the cgroup of slice %s: %s", id, bus_error_message(&error, r));
                sd_bus_error_free(&error);
                (void) stop_unit(b, h->unit, &error);
                goto fail;
        }

        log_debug("Created slice %s as %s (cgroup id %" PRIu64 ")", id, h->unit, h->cgroup_id);
        *ret = h;
        return 0;
fail:
        handle_free(h);
        return r;
}

static int systemd_adopt(struct slice_backend *b, const char *id, struct slice_handle **ret) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *state = NULL;
        struct slice_handle *h;
        int r;

        if (!slice_id_is_valid(id))
                return log_error_errno(EINVAL, "Refusing to adopt slice \"%s\": not a slice id", strna(id));
        r = handle_lookup(b, id, "adopt", &h, &state);
        if (r < 0)
                return r;
        if (!streq(state, "active")) {
                log_warning("Slice %s has vanished: %s is %s", id, h->unit, *state ? state : "not loaded");
                r = -ENOENT;
                goto fail;
        }
        r = handle_open(h, &error);
        if (r < 0) {
                log_error_errno(r, "Failed to adopt slice %s: %s", id, bus_error_message(&error, r));
                goto fail;
        }
        *ret = h;
        return 0;
fail:
        handle_free(h);
        return r;
}

static int systemd_enumerate(struct slice_backend *b, int (*cb)(const char *id, void *userdata), void *userdata) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        const char *name, *active;
        int r;

        r = new_manager_call(b, "ListUnitsByPatterns", &m);
        if (r < 0)
                goto fail;
        r = sd_bus_message_append(m, "asas", 1, "active", 1, UNIT_PREFIX "s-*.slice");
        if (r < 0)
                goto fail;
        r = sd_bus_call(b->bus, m, BUS_TIMEOUT_USEC, &error, &reply);
        if (r < 0)
                goto fail;
        r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        if (r < 0)
                goto fail;
        while ((r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, &active, NULL, NULL, NULL, NULL,
                                        NULL, NULL)) > 0) {
                char id[SLICE_ID_MAX];
                size_t n = strlen(name);
                size_t np = strlen(UNIT_PREFIX), ns = strlen(".slice");

                if (!streq(active, "active") || n <= np + ns || n - np - ns >= sizeof(id))
                        continue;
                memcpy(id, name + np, n - np - ns);
                id[n - np - ns] = 0;
                if (!slice_id_is_valid(id))
                        continue;
                r = cb(id, userdata);
                if (r < 0)
                        return r;
        }
        if (r < 0)
                goto fail;
        return 0;
fail:
        return log_error_errno(r, "Failed to list the units in %s: %s", ROOT_UNIT, bus_error_message(&error, r));
}

static void systemd_release(struct slice_handle *h) {
        handle_free(h);
}

static int add_limit_props(sd_bus_message *m, const void *userdata) {
        return append_limits(m, userdata);
}

static int systemd_set_limits(struct slice_handle *h, const struct slice_limits *l) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        uint64_t t0;
        int r;

        r = slice_limits_check(l, "set limits of", h->id);
        if (r < 0)
                return r;

        /* runtime: the limits last as long as the unit, which is transient anyway. */
        t0 = now_usec(CLOCK_MONOTONIC);
        r = new_manager_call(h->b, "SetUnitProperties", &m);
        if (r >= 0)
                r = sd_bus_message_append(m, "sb", h->unit, 1);
        if (r >= 0)
                r = append_props(m, add_limit_props, l);
        if (r >= 0)
                r = sd_bus_call(h->b->bus, m, BUS_TIMEOUT_USEC, &error, NULL);
        if (r < 0)
                return log_error_errno(r, "Failed to set limits of slice %s: %s", h->id, bus_error_message(&error, r));
        log_debug("Set limits of slice %s in %" PRIu64 " us", h->id, now_usec(CLOCK_MONOTONIC) - t0);
        return 0;
}

static int systemd_freeze(struct slice_handle *h, bool freeze) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool frozen;
        sd_bus *bus;
        uint64_t t0, t1;
        int r;

        /* Already there: no round trip (systemd would answer at once). */
        r = cg2_read_events(&h->files, NULL, &frozen);
        if (r >= 0 && frozen == freeze)
                return 0;

        t0 = now_usec(CLOCK_MONOTONIC);
        r = bus_get(h->b, &bus);
        if (r >= 0)
                r = sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, freeze ? "FreezeUnit" : "ThawUnit",
                                       &error, NULL, "s", h->unit);
        if (r < 0)
                return log_error_errno(r, "Failed to %s slice %s: %s", freeze ? "freeze" : "thaw", h->id,
                                       bus_error_message(&error, r));
        t1 = now_usec(CLOCK_MONOTONIC);
        /* systemd answers once the cgroup reports the new state; make sure. */
        r = cg2_wait_events(&h->files, true, freeze, FREEZE_TIMEOUT_USEC);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "Slice %s is not %s after %" PRIu64 " ms, the request stays in place",
                                       h->id, freeze ? "frozen" : "thawed", FREEZE_TIMEOUT_USEC / USEC_PER_MSEC);
        if (r < 0)
                return log_error_errno(r, "Failed to read the freezer state of slice %s: %m", h->id);
        log_debug("%s slice %s in %" PRIu64 " us (systemd answered after %" PRIu64 " us)", freeze ? "Froze" : "Thawed",
                  h->id, now_usec(CLOCK_MONOTONIC) - t0, t1 - t0);
        return 0;
}

static int kill_unit(struct slice_backend *b, const char *unit, sd_bus_error *error) {
        sd_bus *bus;
        int r;

        r = bus_get(b, &bus);
        if (r < 0)
                return r;
        return sd_bus_call_method(bus, SD_DESTINATION, SD_PATH, SD_MANAGER, "KillUnit", error, NULL, "ssi", unit,
                                  "all", (int32_t) SIGKILL);
}

static int systemd_kill(struct slice_handle *h) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        /* KillUnit(slice, "all") signals every process in the slice's
         * cgroup and below, whatever unit it is in (systemd 252: checked
         * with test-enforce's forking, SIGTERM-deaf processes). */
        r = kill_unit(h->b, h->unit, &error);
        if (r < 0)
                return log_error_errno(r, "Failed to kill slice %s: %s", h->id, bus_error_message(&error, r));
        /* What follows a kill (the last sample before a charge, destroy)
         * wants the processes gone, their last CPU time counted. */
        r = cg2_wait_events(&h->files, false, false, KILL_WAIT_USEC);
        if (r < 0)
                log_warning_errno(r, "Slice %s still has processes %" PRIu64 " ms after SIGKILL, going on: %m", h->id,
                                  KILL_WAIT_USEC / USEC_PER_MSEC);
        else
                log_debug("Killed slice %s", h->id);
        return 0;
}

static int systemd_destroy(struct slice_backend *b, struct slice_handle *h) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        bool populated = true, frozen = true;
        int r;

        if (!h)
                return 0;
        /* If cgroup.events cannot be read, kill and thaw anyway. */
        (void) cg2_read_events(&h->files, &populated, &frozen);
        if (populated)
                (void) systemd_kill(h); /* logs */
        if (frozen)
                (void) systemd_freeze(h, false); /* logs */

        r = stop_unit(b, h->unit, &error);
        if (r < 0)
                log_error_errno(r, "Failed to stop slice %s: %s", h->id, bus_error_message(&error, r));
        else
                log_debug("Destroyed slice %s", h->id);
        handle_free(h);
        return r;
}

struct scope_props {
        const char *slice;
        const char *id;
        pid_t pid;
};

static int add_scope_props(sd_bus_message *m, const void *userdata) {
        const struct scope_props *p = userdata;
        char description[96];

        (void) snprintf(description, sizeof(description), "prepay slice %s: process %d", p->id, (int) p->pid);
        return sd_bus_message_append(m, "(sv)(sv)(sv)(sv)", "Description", "s", description, "Slice", "s", p->slice,
                                     "CollectMode", "s", "inactive-or-failed", "PIDs", "au", 1, (uint32_t) p->pid);
}

static int systemd_attach(struct slice_handle *h, pid_t pid) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        struct scope_props props = { .slice = h->unit, .id = h->id, .pid = pid };
        char scope[UNIT_NAME_MAX];
        int r;

        if (pid <= 0)
                return log_error_errno(EINVAL, "Refusing to attach pid %d to slice %s", (int) pid, h->id);
        (void) snprintf(scope, sizeof(scope), UNIT_PREFIX "%s-%d.scope", h->id, (int) pid);
        r = start_transient(h->b, scope, add_scope_props, &props, &error);
        if (r == -EEXIST)
                return log_error_errno(r, "Failed to attach pid %d to slice %s: %s exists", (int) pid, h->id, scope);
        if (r < 0)
                return log_error_errno(r, "Failed to attach pid %d to slice %s: %s", (int) pid, h->id,
                                       bus_error_message(&error, r));
        log_debug("Slice %s: pid %d in %s", h->id, (int) pid, scope);
        return 0;
}

static int systemd_populated(struct slice_handle *h) {
        return cg2_populated(&h->files, h->id);
}

static int systemd_read_counters(struct slice_handle *h, struct slice_counters *ret) {
        int r;

        r = cg2_read_counters(&h->files, ret);
        if (r < 0 && faccessat(h->b->root_fd, h->unit, F_OK, 0) < 0 && errno == ENOENT)
                return -ENOENT; /* the unit was stopped behind our back */
        return r;
}

static uint64_t systemd_cgroup_id(struct slice_handle *h) {
        return h->cgroup_id;
}

static const char *systemd_cgroup_path(struct slice_handle *h) {
        return h->cgroup;
}

/* ---------------------------------------------------------------------- */
/* An existing unit's command in a slice */

/* A service name as a client may give it: "name" or "name.service", of
 * the characters systemd allows, and not a template. */
static int service_name(const char *unit, char ret[static UNIT_NAME_MAX]) {
        size_t n = strlen(unit);

        if (n == 0 || n > 200)
                return -EINVAL;
        for (const char *p = unit; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      strchr(":-_.@\\", *p)))
                        return -EINVAL;
        if (n > 8 && streq(unit + n - 8, ".service"))
                (void) snprintf(ret, UNIT_NAME_MAX, "%s", unit);
        else if (!strchr(unit, '.'))
                (void) snprintf(ret, UNIT_NAME_MAX, "%s.service", unit);
        else
                return -EINVAL;
        if (strstr(ret, "@.service") || ret[0] == '@' || ret[0] == '.')
                return -EINVAL;
        return 0;
}

/* The uid a unit's User= stands for: "" is root, digits are a uid. */
static int user_uid(const char *user, uid_t *ret) {
        struct passwd pw, *res = NULL;
        char buf[4096], *end;
        unsigned long v;

        if (!*user) {
                *ret = 0;
                return 0;
        }
        errno = 0;
        v = strtoul(user, &end, 10);
        if (errno == 0 && *end == 0 && end != user && v < UINT32_MAX) {
                *ret = (uid_t) v;
                return 0;
        }
        if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res)
                return -ESRCH;
        *ret = res->pw_uid;
        return 0;
}

struct exec_command {
        char *path;
        char **argv;
        int ignore;
};

struct service_config {
        struct exec_command *exec;
        size_t n_exec;
        char *user, *group, *working_directory, *type;
        char **environment;
        char **supplementary_groups;
        const char *slice, *id, *unit;
};

static void strv_free(char **v) {
        for (char **p = v; p && *p; p++)
                free(*p);
        free(v);
}

static void exec_commands_free(struct exec_command *exec, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(exec[i].path);
                strv_free(exec[i].argv);
        }
        free(exec);
}

static void service_config_done(struct service_config *c) {
        exec_commands_free(c->exec, c->n_exec);
        free(c->user);
        free(c->group);
        free(c->working_directory);
        free(c->type);
        strv_free(c->environment);
}

/* ExecStart of org.freedesktop.systemd1.Service: a(sasbttttuii), of which
 * the path, argv and ignore-failure flag are the command. */
static int read_exec_start(sd_bus *bus, const char *path, struct service_config *c, sd_bus_error *error) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int r;

        r = sd_bus_get_property(bus, SD_DESTINATION, path, SD_SERVICE, "ExecStart", error, &reply,
                                "a(sasbttttuii)");
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(reply, 'a', "(sasbttttuii)");
        if (r < 0)
                return r;
        for (;;) {
                struct exec_command *e;
                const char *p;
                int ignore;

                r = sd_bus_message_enter_container(reply, 'r', "sasbttttuii");
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                e = reallocarray(c->exec, c->n_exec + 1, sizeof(*c->exec));
                if (!e)
                        return -ENOMEM;
                c->exec = e;
                e = &c->exec[c->n_exec];
                *e = (struct exec_command) {};
                r = sd_bus_message_read(reply, "s", &p);
                if (r < 0)
                        return r;
                e->path = strdup(p);
                if (!e->path)
                        return -ENOMEM;
                c->n_exec++;
                r = sd_bus_message_read_strv(reply, &e->argv);
                if (r < 0)
                        return r;
                r = sd_bus_message_read(reply, "b", &ignore);
                if (r < 0)
                        return r;
                e->ignore = ignore;
                r = sd_bus_message_skip(reply, "ttttuii");
                if (r < 0)
                        return r;
                r = sd_bus_message_exit_container(reply);
                if (r < 0)
                        return r;
        }
        return sd_bus_message_exit_container(reply);
}

/* A string property, unless it is unset (empty). */
static int append_if_set(sd_bus_message *m, const char *name, const char *value) {
        if (!value || !*value)
                return 0;
        return sd_bus_message_append(m, "(sv)", name, "s", value);
}

/* Opens the (sv) of property name, a variant of type contents; closed
 * with close_property(). */
static int open_property(sd_bus_message *m, const char *name, const char *contents) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", name);
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'v', contents);
        return r;
}

static int close_property(sd_bus_message *m) {
        int r;

        r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int append_exec_command(sd_bus_message *m, const struct exec_command *e) {
        int r;

        r = sd_bus_message_open_container(m, 'r', "sasb");
        if (r >= 0)
                r = sd_bus_message_append(m, "s", e->path);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, e->argv);
        if (r >= 0)
                r = sd_bus_message_append(m, "b", e->ignore);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        return r;
}

static int add_service_props(sd_bus_message *m, const void *userdata) {
        const struct service_config *c = userdata;
        char description[UNIT_NAME_MAX + 64];
        int r;

        (void) snprintf(description, sizeof(description), "prepay slice %s: %s", c->id, c->unit);
        r = sd_bus_message_append(m, "(sv)(sv)(sv)", "Description", "s", description, "Slice", "s", c->slice,
                                  "CollectMode", "s", "inactive-or-failed");
        if (r >= 0)
                r = append_if_set(m, "Type", c->type);
        if (r >= 0)
                r = append_if_set(m, "User", c->user);
        if (r >= 0)
                r = append_if_set(m, "Group", c->group);
        if (r >= 0)
                r = append_if_set(m, "WorkingDirectory", c->working_directory);
        if (r >= 0 && c->supplementary_groups && c->supplementary_groups[0]) {
                r = open_property(m, "SupplementaryGroups", "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, c->supplementary_groups);
                if (r >= 0)
                        r = close_property(m);
        }
        if (r >= 0 && c->environment && c->environment[0]) {
                r = open_property(m, "Environment", "as");
                if (r >= 0)
                        r = sd_bus_message_append_strv(m, c->environment);
                if (r >= 0)
                        r = close_property(m);
        }
        if (r < 0)
                return r;

        r = open_property(m, "ExecStart", "a(sasb)");
        if (r >= 0)
                r = sd_bus_message_open_container(m, 'a', "(sasb)");
        for (size_t i = 0; r >= 0 && i < c->n_exec; i++)
                r = append_exec_command(m, &c->exec[i]);
        if (r >= 0)
                r = sd_bus_message_close_container(m);
        if (r >= 0)
                r = close_property(m);
        return r;
}

static int set_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);
static int set_error(char **ret_error, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(ret_error, fmt, ap) < 0)
                *ret_error = NULL;
        va_end(ap);
        return 0;
}

static int systemd_run_unit(struct slice_handle *h, const char *unit, uid_t required_uid, char **ret_name,
                            char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *path = NULL, *load_state = NULL;
        struct service_config c = { .slice = h->unit, .id = h->id };
        char name[UNIT_NAME_MAX], transient[UNIT_NAME_MAX];
        int dynamic_user = 0;
        sd_bus *bus;
        int r;

        *ret_error = NULL;
        if (service_name(unit, name) < 0) {
                set_error(ret_error, "\"%s\" is not a service name", unit);
                return log_error_errno(EINVAL, "Refusing to run unit \"%s\" in slice %s: not a service name", unit,
                                       h->id);
        }
        c.unit = name;

        r = bus_get(h->b, &bus);
        if (r < 0)
                goto fail_bus;
        r = unit_path(h->b, name, true, &error, &path);
        if (r < 0)
                goto fail_bus;
        r = sd_bus_get_property_string(bus, SD_DESTINATION, path, SD_UNIT, "LoadState", &error, &load_state);
        if (r < 0)
                goto fail_bus;
        if (!streq(load_state, "loaded")) {
                set_error(ret_error, "Unit %s is %s", name, load_state);
                r = log_error_errno(ENOENT, "Failed to run unit %s in slice %s: it is %s", name, h->id, load_state);
                goto out;
        }

        r = read_exec_start(bus, path, &c, &error);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SD_DESTINATION, path, SD_SERVICE, "User", &error, &c.user);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SD_DESTINATION, path, SD_SERVICE, "Group", &error, &c.group);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SD_DESTINATION, path, SD_SERVICE, "WorkingDirectory", &error,
                                               &c.working_directory);
        if (r >= 0)
                r = sd_bus_get_property_strv(bus, SD_DESTINATION, path, SD_SERVICE, "Environment", &error,
                                             &c.environment);
        if (r >= 0)
                r = sd_bus_get_property_string(bus, SD_DESTINATION, path, SD_SERVICE, "Type", &error, &c.type);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, SD_DESTINATION, path, SD_SERVICE, "DynamicUser", &error, 'b',
                                                &dynamic_user);
        if (r < 0)
                goto fail_bus;
        if (c.n_exec == 0) {
                set_error(ret_error, "Unit %s has no ExecStart=", name);
                r = log_error_errno(EINVAL, "Failed to run unit %s in slice %s: it has no ExecStart=", name, h->id);
                goto out;
        }
        /* A D-Bus service is started by its bus name, which the copy
         * cannot own as long as the unit may run too. */
        if (streq(c.type, "dbus")) {
                set_error(ret_error, "Unit %s is Type=dbus, which cannot run twice", name);
                r = log_error_errno(EOPNOTSUPP, "Failed to run unit %s in slice %s: it is Type=dbus", name, h->id);
                goto out;
        }

        if (required_uid != (uid_t) -1) {
                uid_t uid;

                if (dynamic_user) {
                        set_error(ret_error, "Unit %s runs as a dynamic user, not as uid %u", name,
                                  (unsigned) required_uid);
                        r = log_error_errno(EPERM, "Refusing to run unit %s in slice %s for uid %u: DynamicUser=yes",
                                            name, h->id, (unsigned) required_uid);
                        goto out;
                }
                r = user_uid(c.user, &uid);
                if (r < 0 || uid != required_uid) {
                        set_error(ret_error, "Unit %s runs as user %s, not as uid %u", name,
                                  *c.user ? c.user : "root", (unsigned) required_uid);
                        r = log_error_errno(EPERM, "Refusing to run unit %s in slice %s for uid %u: it runs as %s",
                                            name, h->id, (unsigned) required_uid, *c.user ? c.user : "root");
                        goto out;
                }
        }

        {
                size_t n = strlen(name) - strlen(".service");

                (void) snprintf(transient, sizeof(transient), UNIT_PREFIX "%s-%.*s.service", h->id, (int) n, name);
                /* "x@y" in the middle of a name would make an instance of a template. */
                for (char *p = transient; *p; p++)
                        if (*p == '@')
                                *p = '-';
        }
        r = start_transient(h->b, transient, add_service_props, &c, &error);
        if (r == -EEXIST) {
                set_error(ret_error, "%s is already running", transient);
                log_error_errno(r, "Failed to run unit %s in slice %s: %s exists", name, h->id, transient);
                goto out;
        }
        if (r < 0) {
                set_error(ret_error, "Failed to start %s: %s", transient, bus_error_message(&error, r));
                log_error_errno(r, "Failed to run unit %s in slice %s: %s", name, h->id, bus_error_message(&error, r));
                goto out;
        }

        *ret_name = strdup(transient);
        if (!*ret_name) {
                r = log_oom();
                goto out;
        }
        log_debug("Slice %s: %s runs the command of %s", h->id, transient, name);
        r = 0;
        goto out;

fail_bus:
        set_error(ret_error, "Failed to read unit %s: %s", name, bus_error_message(&error, r));
        log_error_errno(r, "Failed to run unit %s in slice %s: %s", name, h->id, bus_error_message(&error, r));
out:
        service_config_done(&c);
        return r;
}

/* A process of the daemon's own (a VM slice's QEMU) as a transient
 * service in the slice unit: systemd starts it there, so that it never
 * runs outside, and "systemctl status prepay-<id>-<name>.service" shows
 * it. Type=exec: the job is done once it has exec'd, and MainPID is it. */
static int systemd_spawn(struct slice_handle *h, const char *name, char *const argv[], uid_t uid, gid_t gid,
                         const gid_t *groups, size_t n_groups, pid_t *ret_pid) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *path = NULL;
        char unit[UNIT_NAME_MAX], user[16], group[16], gids[4][16];
        char *sup[5] = {};
        struct exec_command exec = { .path = argv[0], .argv = (char **) argv };
        struct service_config c = {
                .exec = &exec, .n_exec = 1, .user = user, .group = group, .type = (char *) "exec",
                .supplementary_groups = sup, .slice = h->unit, .id = h->id, .unit = name,
        };
        uint32_t pid = 0;
        sd_bus *bus;
        int r;

        (void) snprintf(unit, sizeof(unit), UNIT_PREFIX "%s-%s.service", h->id, name);
        (void) snprintf(user, sizeof(user), "%u", (unsigned) uid);
        (void) snprintf(group, sizeof(group), "%u", (unsigned) gid);
        for (size_t i = 0; i < n_groups && i < ARRAY_SIZE(gids); i++) {
                (void) snprintf(gids[i], sizeof(gids[i]), "%u", (unsigned) groups[i]);
                sup[i] = gids[i];
        }
        r = start_transient(h->b, unit, add_service_props, &c, &error);
        if (r >= 0)
                r = bus_get(h->b, &bus);
        if (r >= 0)
                r = unit_path(h->b, unit, false, &error, &path);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, SD_DESTINATION, path, SD_SERVICE, "MainPID", &error, 'u', &pid);
        if (r >= 0 && pid == 0)
                r = -ESRCH;
        if (r < 0)
                return log_error_errno(r, "Failed to start %s in slice %s: %s", unit, h->id,
                                       bus_error_message(&error, r));
        log_debug("Slice %s: %s runs as pid %u", h->id, unit, (unsigned) pid);
        *ret_pid = (pid_t) pid;
        return 0;
}

static int systemd_owns_pid(struct slice_handle *h, const char *name, pid_t pid) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_(freep) char *path = NULL;
        char unit[UNIT_NAME_MAX];
        uint32_t main_pid = 0;
        sd_bus *bus;
        int r;

        (void) snprintf(unit, sizeof(unit), UNIT_PREFIX "%s-%s.service", h->id, name);
        r = bus_get(h->b, &bus);
        if (r >= 0)
                r = unit_path(h->b, unit, false, &error, &path);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, SD_DESTINATION, path, SD_SERVICE, "MainPID", &error, 'u',
                                                &main_pid);
        if (r < 0)
                return is_no_such_unit(&error) ? 0 : r;
        return main_pid > 0 && (pid_t) main_pid == pid;
}

bool slice_systemd_usable(void) {
        struct statfs sfs;

        return sd_booted() > 0 && statfs(CGROUP_MOUNT, &sfs) >= 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
}

const struct slice_ops slice_systemd_ops = {
        .name = "systemd",
        .open = systemd_open,
        .close = systemd_close,
        .features = systemd_features,
        .root_fd = systemd_root_fd,
        .root_path = systemd_root_path,
        .create = systemd_create,
        .adopt = systemd_adopt,
        .enumerate = systemd_enumerate,
        .destroy = systemd_destroy,
        .release = systemd_release,
        .set_limits = systemd_set_limits,
        .attach = systemd_attach,
        .freeze = systemd_freeze,
        .kill = systemd_kill,
        .populated = systemd_populated,
        .read_counters = systemd_read_counters,
        .cgroup_id = systemd_cgroup_id,
        .cgroup_path = systemd_cgroup_path,
        .run_unit = systemd_run_unit,
        .spawn = systemd_spawn,
        .owns_pid = systemd_owns_pid,
};
