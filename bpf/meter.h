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

/* Entries in cpu_ns and net: one per watched cgroup. Changing this changes
 * the maps' definition, so a daemon upgrade cannot reuse the pinned maps
 * (meter_open() then fails naming the map): change it only with a plan. */
#define METER_MAX_CGROUPS 16384

/* cpu_ns: key __u64 cgroup id, value __u64 CPU time in ns. In the default
 * (iterator) mode the value is the kernel's own cumulative figure for the
 * cgroup (the one cpu.stat usage_usec shows), copied on each sample. */

/* net: key __u64 cgroup id of the slice, value this. Bytes are IP packet
 * lengths (IP header included, link-layer header not), as cgroup_skb sees
 * skb->len; packets are skbs, so a GSO/GRO super-packet counts once. */
struct meter_net {
        __u64 rx_bytes;
        __u64 rx_packets;
        __u64 tx_bytes;
        __u64 tx_packets;
};

/* sched_cpu (benchmark comparison only): per-cgroup storage of the
 * tp_btf/sched_switch program, ns of CPU charged since the cgroup was
 * watched. */
struct meter_sched_cpu {
        __u64 ns;
};

_Static_assert(sizeof(__u64) == 8, "cgroup ids and cpu_ns values are 8 bytes");
_Static_assert(sizeof(struct meter_net) == 32, "struct meter_net is part of the pinned map's definition");
_Static_assert(sizeof(struct meter_sched_cpu) == 8, "struct meter_sched_cpu size changed");
