/* SPDX-License-Identifier: LGPL-2.1-or-later OR GPL-2.0-only */
#pragma once

/* Map keys and values shared by bpf/meter.bpf.c and daemon/meter.c. Every
 * map is keyed by a v2 cgroup id (__u64, cgrp->kn->id: the inode number of
 * the cgroup's directory). The sizes are pinned: the maps outlive the daemon
 * that created them (they are pinned under BpfPinPath=), and a daemon of
 * another version reuses them only if the layout is the same. */

#ifndef __bpf__
#include <linux/types.h>
#endif

/* Entries in cpu_ns, net and net_grant: one per watched cgroup. Changing
 * this changes the maps' definition, so a daemon upgrade cannot reuse the
 * pinned maps (meter_open() then fails naming the map): change it only
 * with a plan. */
#define METER_MAX_CGROUPS 16384

/* cpu_ns: key __u64 cgroup id, value __u64 CPU time in ns. In the default
 * (iterator) mode the value is the kernel's own cumulative figure for the
 * cgroup (the one cpu.stat usage_usec shows), copied on each sample. */

/* net: key __u64 cgroup id of the slice, value this. Bytes are IP packet
 * lengths (IP header included, link-layer header not), as cgroup_skb sees
 * skb->len; packets are skbs, so a GSO/GRO super-packet counts once. Bytes
 * and packets are those let through (what is billed); *_dropped counts the
 * skbs dropped because the slice's grant (net_grant) was spent. */
struct meter_net {
        __u64 rx_bytes;
        __u64 rx_packets;
        __u64 tx_bytes;
        __u64 tx_packets;
        __u64 rx_dropped;
        __u64 tx_dropped;
};

/* net_grant: key __u64 cgroup id of the slice, value this: how many more
 * bytes (counted as in meter_net) the slice may send and receive. A packet
 * passes while its direction's figure is above zero and takes its length
 * off, so the figure ends at most one packet below zero; at or below zero
 * packets are dropped. No entry, or METER_GRANT_MAX, means no limit and
 * nothing is taken off. User space writes the entries (the daemon's
 * billing, from the balance); the programs never create one. */
#define METER_GRANT_MAX 0x7fffffffffffffffLL /* INT64_MAX: METER_GRANT_UNLIMITED in daemon/meter.h */
struct meter_grant {
        __s64 tx_left;
        __s64 rx_left;
};

/* Reads of chosen cgroups (meter_read() in daemon/meter.c): user space
 * writes up to METER_READ_BATCH ids into the program's global read_ids[]
 * and read_n, runs the read iterator once, and finds each cgroup's figures
 * in read_out[] at the same index. Global data, not a pinned map: nothing
 * here outlives the daemon. */
#define METER_READ_BATCH 1024
#define METER_READ_GONE 1u /* no such cgroup any more: cpu_ns is the last figure sampled */
#define METER_READ_NET 2u  /* net holds the slice's network figures (it is in the net map) */
struct meter_read_out {
        __u64 cpu_ns;
        struct meter_net net;
        __u32 flags;
        __u32 pad;
};

/* sched_cpu (benchmark comparison only): per-cgroup storage of the
 * tp_btf/sched_switch program, ns of CPU charged since the cgroup was
 * watched. */
struct meter_sched_cpu {
        __u64 ns;
};

_Static_assert(sizeof(__u64) == 8, "cgroup ids and cpu_ns values are 8 bytes");
_Static_assert(sizeof(struct meter_net) == 48, "struct meter_net is part of the pinned map's definition");
_Static_assert((METER_READ_BATCH & (METER_READ_BATCH - 1)) == 0, "the read program masks indexes with METER_READ_BATCH - 1");
_Static_assert(sizeof(struct meter_read_out) == 64, "struct meter_read_out is shared by the program and the daemon");
_Static_assert(sizeof(struct meter_grant) == 16, "struct meter_grant is part of the pinned map's definition");
_Static_assert(sizeof(struct meter_sched_cpu) == 8, "struct meter_sched_cpu size changed");
