/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* The eBPF meter: the only owner of the BPF skeleton and maps.
 *
 * CPU: a sleepable cgroup iterator attached to the daemon's v2 root flushes
 * the kernel's per-cgroup CPU statistics (rstat) and copies each watched
 * cgroup's cumulative CPU time into a map, once per meter_sample(); no
 * program runs on the scheduler's hot path. Network: cgroup_skb ingress and
 * egress programs attached once at the root count IP bytes and packets per
 * slice. Maps and the network links are pinned under pin_path so counting
 * goes on while the daemon restarts; the next daemon reuses them. */

struct meter;

struct meter_counters {
        uint64_t cpu_ns;
        uint64_t rx_bytes, tx_bytes;     /* packets let through only */
        uint64_t rx_packets, tx_packets;
        uint64_t rx_dropped, tx_dropped; /* packets (skbs) dropped for want of a grant */
};

enum meter_cpu_mode {
        METER_CPU_ITER,         /* default: cgroup iterator, no hot-path hook */
        METER_CPU_SCHED_SWITCH, /* tp_btf/sched_switch hook (benchmark comparison only) */
};

struct meter_options {
        const char *pin_path;   /* NULL: do not pin (benchmarks) */
        int root_cgroup_fd;     /* v2 directory the programs attach to */
        enum meter_cpu_mode cpu_mode;
        bool attach_net;        /* attach cgroup_skb programs */
};

/* Opens, loads (reusing pinned maps and links if present) and attaches.
 * Fails with a sentence naming what the kernel refused. */
int meter_open(const struct meter_options *o, struct meter **ret);

/* Detaches; with unpin set, also removes every pin and the pin directory
 * (when no slice is left to count). Accepts NULL. */
void meter_close(struct meter *m, bool unpin);

/* Starts/stops counting for one cgroup (an entry in the maps, zeroed on
 * watch unless it already exists: a restarted daemon keeps its figures). */
int meter_watch(struct meter *m, uint64_t cgroup_id);
int meter_unwatch(struct meter *m, uint64_t cgroup_id);

/* Network grants: how many more bytes a watched cgroup may send (tx) and
 * receive (rx). The cgroup_skb programs let a packet through while the
 * grant is above zero and take its length off (so at most one packet
 * passes beyond it), and drop packets once it is spent, in the kernel,
 * until a new grant. A cgroup starts with METER_GRANT_UNLIMITED (no
 * check). Grants live in a pinned map: they hold while no daemon runs.
 *
 * Set replaces both figures (unlimited both ways removes the entry). Only
 * for watched cgroups: the programs look a grant up only for a watched
 * slice, and meter_unwatch() is what deletes it. Bytes are counted as in
 * struct meter_counters (IP packet lengths). A get followed by a set is
 * not atomic: what passes in between is not taken off the new figure,
 * nor is a packet being counted on another CPU as the set lands (both are
 * still counted, and billed). */
#define METER_GRANT_UNLIMITED INT64_MAX
int meter_set_net_grant(struct meter *m, uint64_t cgroup_id, int64_t tx_bytes, int64_t rx_bytes);
/* What is left of them (may be below zero by the last packet's length);
 * no grant reads as METER_GRANT_UNLIMITED both ways. */
int meter_get_net_grant(struct meter *m, uint64_t cgroup_id, int64_t *ret_tx, int64_t *ret_rx);

/* Reads the counters of n watched cgroups now, ret[i] for ids[i]: one
 * rstat flush and one program run per METER_READ_BATCH (1,024) ids, each
 * cgroup looked up by its id, so the cost follows n, not the number of
 * slices. ret_gone (may be NULL) says which cgroups no longer exist: their
 * CPU figure is the last one sampled. On a kernel without the kfunc
 * bpf_cgroup_from_id (before 6.2) it runs the walk of meter_sample() and
 * looks the ids up (ret_gone all false); meter_reads_by_id() tells which. */
#define METER_READ_MAX 1024 /* the most ids one meter_read() call need take at once (any number works) */
int meter_read(struct meter *m, const uint64_t *ids, size_t n, struct meter_counters *ret, bool *ret_gone);
bool meter_reads_by_id(const struct meter *m);

/* Runs the CPU iterator once, then reads every watched cgroup's counters
 * with batch map operations. cb is called once per watched cgroup. */
int meter_sample(struct meter *m,
                 void (*cb)(uint64_t cgroup_id, const struct meter_counters *c, void *userdata),
                 void *userdata);
