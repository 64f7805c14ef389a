/* SPDX-License-Identifier: LGPL-2.1-or-later OR GPL-2.0-only */
/* prepay's in-kernel meter.
 *
 * Hooks, and the oldest kernel each needs:
 *   iter.s/cgroup  meter_cpu_css      CPU: flush rstat (kfunc css_rstat_flush), 6.16+
 *   iter.s/cgroup  meter_cpu_cgroup   CPU: same with kfunc cgroup_rstat_flush, 6.1-6.15
 *   iter.s/cgroup  meter_read_css, meter_read_cgroup   CPU and network of
 *                                   chosen slices only (kfunc
 *                                   bpf_cgroup_from_id), 6.2+; without it
 *                                   the daemon reads through the walk above
 *   cgroup_skb/ingress, cgroup_skb/egress   network bytes/packets per slice,
 *                                   and drops once a slice's grant is spent,
 *                                   5.12+ (atomic fetch-and-add)
 *   tp_btf/sched_switch + iter/cgroup  CPU by hooking every context switch
 *                                   (BPF_MAP_TYPE_CGRP_STORAGE), 6.2+;
 *                                   benchmark comparison only
 * The default set therefore needs 6.1 (cgroup iterator, kfunc
 * cgroup_rstat_flush). Exactly one of the two rstat iterators is loaded:
 * daemon/meter.c switches off the one whose kfunc vmlinux BTF lacks, and
 * both kfuncs are __weak because libbpf 1.1 fails the whole load on an
 * unresolved non-weak kfunc extern, even one only an unloaded program calls.
 *
 * No program here runs on the scheduler's hot path by default: the kernel
 * already keeps each cgroup's CPU time (cgroup->bstat, what cpu.stat and
 * cpu.max speak about); the iterator only flushes it and copies it, for the
 * watched cgroups, into cpu_ns when the daemon samples. */

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "meter.h"

char LICENSE[] SEC("license") = "GPL";

/* Level of the slices: the daemon's v2 root's level + 1. Set before load. */
const volatile __u32 slice_level = 1;

/* Level of the cgroup the iterator was attached to, seen on its first
 * element: lets user space check that slice_level is right. */
__s32 root_level = -1;

/* Watched cgroups only: user space creates (meter_watch) and deletes
 * (meter_unwatch) the entries; programs never add one. */
struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, METER_MAX_CGROUPS);
        __type(key, __u64);
        __type(value, __u64);
} cpu_ns SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, METER_MAX_CGROUPS);
        __type(key, __u64);
        __type(value, struct meter_net);
} net SEC(".maps");

/* Network grants of watched slices: user space creates, replaces
 * (meter_set_net_grant) and deletes them (meter_unwatch); the programs
 * only take bytes off. */
struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, METER_MAX_CGROUPS);
        __type(key, __u64);
        __type(value, struct meter_grant);
} net_grant SEC(".maps");

/* Benchmark comparison only; not created in the default mode (6.1 lacks
 * BPF_MAP_TYPE_CGRP_STORAGE). */
struct {
        __uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
        __uint(map_flags, BPF_F_NO_PREALLOC);
        __type(key, int);
        __type(value, struct meter_sched_cpu);
} sched_cpu SEC(".maps");

struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 1);
        __type(key, __u32);
        __type(value, __u64);
} sched_last SEC(".maps");

/* 6.16 renamed the flush and made it per css; the cgroup's own css
 * (cgrp->self) carries the base (CPU) statistics. */
extern void css_rstat_flush(struct cgroup_subsys_state *css) __ksym __weak;
extern void cgroup_rstat_flush(struct cgroup *cgrp) __ksym __weak;

static __always_inline void copy_cpu(struct cgroup *cgrp)
{
        __u64 id = cgrp->kn->id;
        __u64 *v;

        v = bpf_map_lookup_elem(&cpu_ns, &id);
        if (v)
                *v = cgrp->bstat.cputime.sum_exec_runtime;
}

/* Attached to the daemon's root with BPF_CGROUP_ITER_DESCENDANTS_PRE, so
 * the first element is the root itself: one hierarchical flush there
 * covers every descendant. The iterator prints nothing: output beyond the
 * seq_file buffer would end the walk with EOPNOTSUPP. */
SEC("iter.s/cgroup")
int meter_cpu_css(struct bpf_iter__cgroup *ctx)
{
        struct cgroup *cgrp = ctx->cgroup;

        if (!cgrp)
                return 0;
        if (ctx->meta->seq_num == 0) {
                root_level = cgrp->level;
                css_rstat_flush(&cgrp->self);
        }
        copy_cpu(cgrp);
        return 0;
}

SEC("iter.s/cgroup")
int meter_cpu_cgroup(struct bpf_iter__cgroup *ctx)
{
        struct cgroup *cgrp = ctx->cgroup;

        if (!cgrp)
                return 0;
        if (ctx->meta->seq_num == 0) {
                root_level = cgrp->level;
                cgroup_rstat_flush(cgrp);
        }
        copy_cpu(cgrp);
        return 0;
}

/* Reads of chosen cgroups: see struct meter_read_out. Written by user
 * space before each run (the daemon runs one at a time), read after. */
__u64 read_ids[METER_READ_BATCH];
__u32 read_n;
struct meter_read_out read_out[METER_READ_BATCH];

extern struct cgroup *bpf_cgroup_from_id(__u64 cgid) __ksym __weak;
extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym __weak;

static int read_one(__u32 index, void *unused)
{
        struct meter_read_out *o;
        struct meter_net *n;
        struct cgroup *cgrp;
        __u64 i = index, id, *v;

        if (index >= read_n)
                return 1;
        /* The bound, in a form neither the compiler can drop nor the
         * verifier lose through register copies (METER_READ_BATCH is a
         * power of two). */
        asm volatile("%[i] &= %[mask]" : [i] "+r"(i) : [mask] "i"(METER_READ_BATCH - 1));
        id = read_ids[i];
        o = &read_out[i];
        o->flags = 0;
        v = bpf_map_lookup_elem(&cpu_ns, &id);
        cgrp = bpf_cgroup_from_id(id);
        if (cgrp) {
                o->cpu_ns = cgrp->bstat.cputime.sum_exec_runtime;
                bpf_cgroup_release(cgrp);
                if (v)
                        *v = o->cpu_ns;
        } else {
                o->cpu_ns = v ? *v : 0;
                o->flags |= METER_READ_GONE;
        }
        n = bpf_map_lookup_elem(&net, &id);
        if (n) {
                o->net = *n;
                o->flags |= METER_READ_NET;
        }
        return 0;
}

/* Attached to the daemon's root with BPF_CGROUP_ITER_SELF_ONLY: one
 * element, the root, whose hierarchical flush brings every slice's figure
 * up to date; the flush walks only the cgroups whose CPU time moved since
 * the last one, and each read is one lookup by id, so a read of a few
 * slices costs no walk of all of them. bpf_cgroup_from_id: 6.2+. */
SEC("iter.s/cgroup")
int meter_read_css(struct bpf_iter__cgroup *ctx)
{
        struct cgroup *cgrp = ctx->cgroup;

        if (!cgrp)
                return 0;
        css_rstat_flush(&cgrp->self);
        bpf_loop(METER_READ_BATCH, read_one, NULL, 0);
        return 0;
}

SEC("iter.s/cgroup")
int meter_read_cgroup(struct bpf_iter__cgroup *ctx)
{
        struct cgroup *cgrp = ctx->cgroup;

        if (!cgrp)
                return 0;
        cgroup_rstat_flush(cgrp);
        bpf_loop(METER_READ_BATCH, read_one, NULL, 0);
        return 0;
}

/* Takes len off a grant; false when the packet must be dropped. The first
 * read keeps a spent grant from being written at all while packets are
 * dropped; the fetch-and-add settles a race between CPUs: only the packet
 * that found the grant above zero passes, so at most one packet's length
 * goes beyond it, and a loser gives its length back. */
static __always_inline bool grant_take(__s64 *left, __u32 len)
{
        __s64 before = *(volatile __s64 *) left;

        if (before == METER_GRANT_MAX)
                return true;
        if (before <= 0)
                return false;
        if (__sync_fetch_and_add(left, -(__s64) len) > 0)
                return true;
        __sync_fetch_and_add(left, (__s64) len);
        return false;
}

/* Counts at the slice, whatever cgroup below it the socket belongs to, and
 * enforces the slice's grant there; returns 1 to let the packet through, 0
 * to drop it. skb->len here is the IP packet: the cgroup_skb hooks see the
 * skb with data at the network header, ingress and egress alike. Traffic
 * of unwatched cgroups costs no more than before grants existed; a watched
 * slice without a grant costs one more hash lookup. */
static __always_inline int meter_skb(struct __sk_buff *skb, bool egress)
{
        struct meter_grant *g;
        struct meter_net *v;
        __u32 len = skb->len;
        __u64 id;

        id = bpf_skb_ancestor_cgroup_id(skb, slice_level);
        if (!id)
                return 1;
        v = bpf_map_lookup_elem(&net, &id);
        if (!v)
                return 1;

        g = bpf_map_lookup_elem(&net_grant, &id);
        if (g && !grant_take(egress ? &g->tx_left : &g->rx_left, len)) {
                /* Dropped packets are not billed: not in *_bytes. */
                __sync_fetch_and_add(egress ? &v->tx_dropped : &v->rx_dropped, 1);
                return 0;
        }

        if (egress) {
                __sync_fetch_and_add(&v->tx_bytes, len);
                __sync_fetch_and_add(&v->tx_packets, 1);
        } else {
                __sync_fetch_and_add(&v->rx_bytes, len);
                __sync_fetch_and_add(&v->rx_packets, 1);
        }
        return 1;
}

SEC("cgroup_skb/ingress")
int meter_net_ingress(struct __sk_buff *skb)
{
        return meter_skb(skb, false);
}

SEC("cgroup_skb/egress")
int meter_net_egress(struct __sk_buff *skb)
{
        return meter_skb(skb, true);
}

/* Benchmark comparison only: what metering CPU on the hot path costs.
 * The time since this CPU's last switch is charged to the cgroup of the
 * task leaving it, if that cgroup has storage; a cgroup storage lookup is
 * a pointer chase, no hash. Storage exists on every cgroup of a watched
 * slice's subtree (the iterator below creates it), and the iterator
 * drains the figures of the slice's subtree into the slice's cpu_ns. */
SEC("tp_btf/sched_switch")
int BPF_PROG(meter_sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
        struct meter_sched_cpu *v;
        __u32 zero = 0;
        __u64 now, *last;

        last = bpf_map_lookup_elem(&sched_last, &zero);
        if (!last)
                return 0;
        now = bpf_ktime_get_ns();
        v = bpf_cgrp_storage_get(&sched_cpu, prev->cgroups->dfl_cgrp, 0, 0);
        if (v && *last)
                __sync_fetch_and_add(&v->ns, now - *last);
        *last = now;
        return 0;
}

/* The id of the slice (the ancestor at slice_level) a cgroup belongs to.
 * The verifier allows no direct read of the flexible cgrp->ancestors[]. */
static __always_inline __u64 slice_of(struct cgroup *cgrp)
{
        struct cgroup *anc = NULL;

        if (cgrp->level == (int) slice_level)
                return cgrp->kn->id;
        if (cgrp->level < (int) slice_level)
                return 0;
        if (bpf_probe_read_kernel(&anc, sizeof(anc), &cgrp->ancestors[slice_level]) < 0 || !anc)
                return 0;
        return BPF_CORE_READ(anc, kn, id);
}

/* The sched_switch mode's sample. Keeps storage on exactly the cgroups of
 * watched slices' subtrees (a cgroup created after the last pass counts
 * from the next one) and moves what each has counted into its slice's
 * cpu_ns; what a child cgroup counted after the last pass is lost when it
 * is removed. Runs are serialized by the daemon (one sampler). */
SEC("iter/cgroup")
int meter_cpu_sched(struct bpf_iter__cgroup *ctx)
{
        struct cgroup *cgrp = ctx->cgroup;
        struct meter_sched_cpu *v;
        __u64 id, n, *dst;

        if (!cgrp)
                return 0;
        if (ctx->meta->seq_num == 0)
                root_level = cgrp->level;
        id = slice_of(cgrp);
        dst = id ? bpf_map_lookup_elem(&cpu_ns, &id) : NULL;
        if (!dst) {
                bpf_cgrp_storage_delete(&sched_cpu, cgrp);
                return 0;
        }
        v = bpf_cgrp_storage_get(&sched_cpu, cgrp, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
        if (!v)
                return 0;
        n = v->ns;
        if (n) {
                __sync_fetch_and_add(&v->ns, -n);
                *dst += n;
        }
        return 0;
}
