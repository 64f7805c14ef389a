/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "account.h"
#include "common/message.h"
#include "id-index.h"
#include "schedule.h"
#include "slice.h"
#include "vm.h"

/* The slices: struct slice, the registry (by id), their
 * state files (StateDirectory/slices/<id>.json), sampling their counters
 * (the meter's and the backend's), creating, adopting, attaching to and
 * destroying them. The only caller of slice_ops: everything done to a
 * slice's cgroups goes through here. A new kind of slice is one more
 * slice_ops a slice can carry (struct slice.ops). */

struct config;
struct meter;
struct events;

struct slice {
        char id[SLICE_ID_MAX];
        const struct slice_ops *ops;   /* its backend's */
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
        uint64_t saved_memory;      /* memory_current in that write */
        uint64_t files_usec;        /* CLOCK_MONOTONIC of the last read of its cgroup files */
        uint64_t wait_usec;         /* from its last read to its next (schedule_next_wait()) */
        uint64_t read_usec;         /* CLOCK_MONOTONIC of the read that set wait_usec, 0: none yet */
        uint64_t reads;             /* reads that set wait_usec (status's "meter") */
        struct schedule_entry sample; /* its next read in the meter's schedule */
        bool populated;
        bool frozen;
        bool counters_failing;      /* logged once when reads start failing */
        struct slice_account account; /* the money side's (account.h) */
        struct vm *vm;              /* the guest of a VM slice, NULL for others */
        struct slice *next;         /* the registry's list */
        struct slice *prev;         /* so that unlinking one is not a walk */
        struct id_index_node by_id; /* key: id */
};

/* What the registry calls back in the money side (billing.c), with
 * userdata: a slice's figures for its info and events, a slice whose
 * cgroup vanished (before it is dropped), a slice about to be freed. */
struct slices_callbacks {
        void (*account_info)(struct slice *s, struct slice_account_info *ret, void *userdata);
        /* Read by the meter's schedule (not by slices_sample_one()). */
        void (*sampled)(struct slice *s, void *userdata);
        void (*vanished)(struct slice *s, void *userdata);
        void (*freed)(struct slice *s, void *userdata);
};

struct slices {
        const struct config *config;
        const struct slice_ops *ops;  /* the backend new slices get (Backend=) */
        struct slice_backend *backend;
        struct meter *meter;          /* the manager's, set before slices_adopt() */
        struct events *events;        /* OOM events; NULL: logged only */
        struct vms *vms;              /* the manager's: VM slices' guests */
        const struct slices_callbacks *cb;
        void *userdata;
        struct slice *list;
        size_t n;
        uint64_t generation;          /* bumped by each link and unlink: a place in list kept across them is stale */
        struct id_index by_id;        /* slices_find() at 10,000 slices */
        struct schedule schedule;     /* every slice's next read */
        sd_event_source *meter_timer; /* at the first of them */
        char *state_dir;              /* StateDirectory/slices */
        uint64_t max_cpus_milli;      /* MaxCPUs=, or the online CPUs */
        uint64_t online_cpus_milli;   /* what a slice's threads may run on at once */
};

/* Chooses and opens the backend (Backend=), makes and checks the state
 * directory. */
int slices_new(const struct config *config, struct slices **ret);
/* Releases every slice (they run on without the daemon) and closes the
 * backend; with no slice left, removes its root and the state
 * directory. No callback runs. Accepts NULL. */
void slices_free(struct slices *sl);
int slices_root_fd(struct slices *sl);
const char *slices_root_path(struct slices *sl);
/* After a restart: the backend's slices with a state file are taken
 * back; state files without a slice are dropped. */
int slices_adopt(struct slices *sl);
/* Every slice's state file written now (as the daemon stops). */
void slices_save_all(struct slices *sl);

struct slice *slices_find(struct slices *sl, const char *id);
/* The manager's guests, before slices_adopt(): their state changes are
 * recorded and emitted (EVENT_VM). */
void slices_set_vms(struct slices *sl, struct vms *v);

/* What a VM slice's guest is to know (its public metadata: the lines of
 * sponsor.env, "" for none), told through its metadata port
 * (vm_set_meta()); nothing for a slice that is not a VM or is gone. */
int slices_tell_guest(struct slices *sl, const char *id, const char *text);
/* Each returns 0 or -errno; on a refusal the reason for the client is put
 * in *ret_error (a static string or one the caller frees with free()). */
/* cpus_milli, when not 0, sets the CPU quota against the period asked for
 * or the daemon's CPUPeriod=, so clients need not know the latter. */
/* With vm (checked by vms_plan()), the guest's files are made first
 * (vm_new()); its QEMU is started by slices_start_vm(). */
int slices_create(struct slices *sl, const struct slice_limits *limits, uint64_t cpus_milli, uid_t owner,
                  const struct vm_plan *vm, struct slice **ret, char **ret_error);
/* Starts the guest of a VM slice in it: QEMU as [VM] User=, in the
 * slice's cgroups before its first instruction (a child moved in before
 * it execs; on systemd, the transient service prepay-<id>-vm.service in
 * the slice unit). */
int slices_start_vm(struct slices *sl, struct slice *s, char **ret_error);
/* Powers the guest down (ACPI; killed after ShutdownTimeoutSec=, at once
 * when the slice is frozen): 0 when it is not running, 1 when done() will
 * be called once QEMU is gone. */
int slices_stop_vm(struct slices *sl, struct slice *s, void (*done)(void *userdata), void *userdata);
/* The limits slices_create() would give a slice, checked: the daemon's
 * defaults filled in, cpus_milli made a quota, a quota held against
 * MaxCPUs= (so that a create can be refused before it is priced). */
int slices_check_limits(struct slices *sl, struct slice_limits *l, uint64_t cpus_milli, char **ret_error);
/* Moves the process behind pidfd (the caller, pinned: see control.c) into
 * the slice. The backends take a pid number (cgroup.procs, systemd's
 * PIDs=): it is read from the pidfd just before and checked just after, so
 * the number moved was that process's unless it died in between (then it
 * fails, saying so). */
int slices_attach(struct slices *sl, struct slice *s, int pidfd, char **ret_error);
/* Last figures, cgroups removed, state file dropped, s freed. */
int slices_destroy(struct slices *sl, struct slice *s);
/* Starts an existing service's command in the slice (slice_ops.run_unit):
 * -EOPNOTSUPP, with the sentence for the client, where the backend has no
 * units. On success *ret_name is the transient unit's name (free it). */
int slices_run_unit(struct slices *sl, struct slice *s, const char *unit, uid_t required_uid, char **ret_name,
                    char **ret_error);

/* The meter's schedule: each slice is read when it is due, in batches
 * (one BPF program run per 1,024 slices), MeterInterval= apart while its
 * counters move and up to MeterIdleInterval= apart while they stand
 * still (waits of a second or more ending on a whole second, so still
 * slices are read together); its cgroup files (memory, IO, tasks, state)
 * at most once a second while it moves, once when it stops, then every
 * six MeterIdleInterval= while it holds memory or tasks. Each read calls
 * callbacks.sampled. Arms the timer in event. */
int slices_start_meter(struct slices *sl, sd_event *event);
/* Every slice read now, files and all (as the daemon stops). A slice
 * found vanished is dropped: look slices up again afterwards. */
void slices_sample(struct slices *sl);
/* Reads one slice now, files and all (a balance check, a kill, a status,
 * its final figures); callbacks.sampled is not called. Such a read out
 * of the schedule changes the slice's next read only when it finds the
 * counters moved. */
void slices_sample_one(struct slices *sl, struct slice *s);
/* The same, but a slice found vanished is dropped (freed): -ENOENT. */
int slices_refresh(struct slices *sl, struct slice *s);
/* Reads s at the next meter pass (something was moved into it). */
void slices_sample_soon(struct slices *sl, struct slice *s);
/* Writes the slice's state file now (a state change). */
int slices_save(struct slices *sl, struct slice *s);
/* Fills *ret from the last sample. */
void slices_info(struct slices *sl, struct slice *s, struct slice_info *ret);
/* Its money alone (slices_info()'s "account"), and its cgroup's state
 * ("running", "empty", "frozen"): what the metrics need of every slice,
 * without the rest of a record. */
void slices_money_info(struct slices *sl, struct slice *s, struct slice_account_info *ret);
const char *slice_state_name(const struct slice *s);
/* An "ok" reply carrying the slice's info, and in it the meter's
 * schedule of the slice, "meter": {"read_usec" (CLOCK_REALTIME of the
 * read that set the wait, 0 before the first), "wait_usec" (from that
 * read to the next), "reads" (how many set it)}: not part of struct
 * slice_info, so not of list's records. */
json_object *slices_reply(struct slices *sl, struct slice *s);

/* Actions on one slice's cgroups, through its backend: 0 or -errno
 * (-ENODEV when it has none). */
int slice_set_limits(struct slice *s, const struct slice_limits *l);
int slice_freeze(struct slice *s, bool freeze);
int slice_kill(struct slice *s);

/* A slice's state file, without the files: to_json() is what is written
 * (-ENOMEM), from_text() reads one over s's fields, -EINVAL with a
 * sentence in *ret_error for text that is not a JSON object or bad
 * limits (fields of a wrong type read as 0, as they always have). Pure,
 * so that tests/fuzz/fuzz-slice-state.c drives them. */
int slice_state_to_json(struct slice *s, json_object **ret);
int slice_state_from_text(struct slice *s, const char *text, size_t size, const char **ret_error);
