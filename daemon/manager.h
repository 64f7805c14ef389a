/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "billing.h"
#include "common/message.h"
#include "config.h"
#include "slice.h"

/* The manager owns the slices, the slice backend, the meter and the event
 * loop. control.c turns messages into calls of manager_*(); nothing else
 * changes a slice. */

struct meter;
struct control;
struct events;
struct batch;
struct keys;

struct slice {
        char id[SLICE_ID_MAX];
        struct slice_handle *handle;
        struct slice_limits limits;
        uid_t owner_uid;
        uint64_t created_usec;   /* CLOCK_REALTIME */
        uint64_t cgroup_id;

        struct slice_usage usage;   /* as of the last sample */
        uint64_t memory_rem;        /* byte-usec below one byte-second */
        uint64_t last_sample_usec;  /* CLOCK_MONOTONIC, 0: never sampled */
        uint64_t last_oom_usec;     /* CLOCK_REALTIME */
        uint64_t last_saved_usec;   /* CLOCK_MONOTONIC of the last state write */
        bool populated;
        bool frozen;
        bool counters_failing;      /* logged once when reads start failing */

        struct slice_account account; /* billing.c */

        struct slice *next;         /* manager's list */
        struct slice *hash_next;    /* by cgroup id */
};

struct manager {
        struct config *config;
        sd_event *event;
        sd_event_source *meter_timer;

        const struct slice_ops *ops;
        struct slice_backend *backend;
        struct meter *meter;
        struct control *control;
        struct batch *batch;
        struct keys *keys;
        struct billing *billing;
        struct events *events;

        struct slice *slices;
        size_t n_slices;
        struct slice *by_cgroup[256];

        char *slice_state_dir;      /* StateDirectory/slices */
        const char *config_path;    /* read again on SIGHUP */
        bool config_optional;       /* the default path, which may be absent */
        uint64_t max_cpus_milli;
        uint64_t online_cpus_milli; /* what a slice's threads may run on at once */
        char last_status[160];      /* the last STATUS= sent to the service manager */
};

int manager_new(struct config *config, struct manager **ret);
/* Stops counting in user space; leaves slices and pinned counters in the
 * kernel (they go on while no daemon runs) unless no slice is left. */
void manager_free(struct manager *m);
int manager_run(struct manager *m);
/* SIGHUP: reads the configuration again. Prices, policies, hooks, issuer
 * keys, limits for new slices and the log level change at once; running
 * slices keep their limits and money, and keys that need a restart
 * (sockets, paths, the backend, currency, host key and id) keep their
 * running values with a warning. A file that does not load changes
 * nothing. */
int manager_reload(struct manager *m);

/* Tells the service manager (sd_notify) how many slices there are and the
 * money held for them, with "extra" (e.g. "READY=1\n") before it; without
 * extra, only when the text changed since the last time. */
void manager_notify_status(struct manager *m, const char *extra);

struct slice *manager_find(struct manager *m, const char *id);

/* Each returns 0 or -errno; on a refusal the reason for the client is put
 * in *ret_error (a static string or one the caller frees with free()). */
/* cpus_milli, when not 0, sets the CPU quota against the period asked for
 * or the daemon's CPUPeriod=, so clients need not know the latter. */
int manager_create_slice(struct manager *m, const struct slice_limits *limits, uint64_t cpus_milli, uid_t owner,
                         struct slice **ret, char **ret_error);
/* The limits manager_create_slice() would give a slice, checked: the
 * daemon's defaults filled in, cpus_milli made a quota, a quota held
 * against MaxCPUs= (so that a create can be refused before it is priced). */
int manager_check_limits(struct manager *m, struct slice_limits *l, uint64_t cpus_milli, char **ret_error);
/* Moves the process behind pidfd (the caller, pinned: see control.c) into
 * the slice. The backends take a pid number (cgroup.procs, systemd's
 * PIDs=): it is read from the pidfd just before and checked just after, so
 * the number moved was that process's unless it died in between (then it
 * fails, saying so). */
int manager_attach(struct manager *m, struct slice *s, int pidfd, char **ret_error);
int manager_destroy_slice(struct manager *m, struct slice *s);
/* Starts an existing service's command in the slice (slice_ops.run_unit):
 * -EOPNOTSUPP, with the sentence for the client, where the backend has no
 * units. On success *ret_name is the transient unit's name (free it). */
int manager_run_unit(struct manager *m, struct slice *s, const char *unit, uid_t required_uid, char **ret_name,
                     char **ret_error);
/* One meter pass over every slice now, so what follows is current. A slice
 * found vanished is dropped: look slices up again afterwards. */
void manager_sample(struct manager *m);
/* Fills *ret from the last sample. */
void manager_slice_info(struct manager *m, struct slice *s, struct slice_info *ret);
/* An "ok" reply carrying the slice's info. */
json_object *manager_slice_reply(struct manager *m, struct slice *s);
/* Samples one slice now (after a kill, for its final figures). */
void manager_sample_slice(struct manager *m, struct slice *s);
/* Writes the slice's state file now (a state change). */
int manager_save_slice(struct manager *m, struct slice *s);

/* A slice's state file (StateDirectory/slices/<id>.json), without the
 * files: to_json() is what is written (-ENOMEM), from_text() reads one
 * over s's fields, -EINVAL with a sentence in *ret_error for text that is
 * not a JSON object or bad limits (fields of a wrong type read as 0, as
 * they always have). Pure, so that tests/fuzz/fuzz-slice-state.c drives
 * them. */
int slice_state_to_json(struct slice *s, json_object **ret);
int slice_state_from_text(struct slice *s, const char *text, size_t size, const char **ret_error);
