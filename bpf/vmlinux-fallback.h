/* SPDX-License-Identifier: LGPL-2.1-or-later OR GPL-2.0-only */
/* The kernel types prepay's BPF programs touch, for hosts without kernel
 * BTF at build time (the Makefile copies this to $(O)/vmlinux.h there).
 *
 * Only the members the programs read are declared: every record is
 * preserve_access_index, so libbpf relocates each access to the running
 * kernel's layout (CO-RE), and member order and omitted members here do
 * not matter. Constants are the kernel's uapi values. Add a member here
 * whenever a program reads a new one; "make check-bpf-fallback" builds the
 * programs against this file alone. */

#ifndef __VMLINUX_H__
#define __VMLINUX_H__

typedef signed char __s8;
typedef unsigned char __u8;
typedef short int __s16;
typedef short unsigned int __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long int __s64;
typedef long long unsigned int __u64;
typedef __s8 s8;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;

enum {
        false = 0,
        true = 1,
};

/* uapi/linux/bpf.h */
enum bpf_map_type {
        BPF_MAP_TYPE_HASH = 1,
        BPF_MAP_TYPE_PERCPU_ARRAY = 6,
        BPF_MAP_TYPE_CGRP_STORAGE = 32,
};

enum {
        BPF_F_NO_PREALLOC = 1,
};

enum {
        BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
};

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
#endif

struct seq_file;

/* cgroup_skb context: skb->len is the IP packet length there. */
struct __sk_buff {
        __u32 len;
};

struct kernfs_node {
        u64 id;
};

struct task_cputime {
        u64 stime;
        u64 utime;
        unsigned long long sum_exec_runtime;
};

struct cgroup_base_stat {
        struct task_cputime cputime;
};

struct cgroup;

struct cgroup_subsys_state {
        struct cgroup *cgroup;
};

struct cgroup {
        struct cgroup_subsys_state self;
        int level;
        struct kernfs_node *kn;
        struct cgroup_base_stat bstat;
        struct cgroup *ancestors[];     /* sched_switch mode only */
};

struct css_set {
        struct cgroup *dfl_cgrp;
};

struct task_struct {
        struct css_set *cgroups;
};

struct bpf_iter_meta {
        union {
                struct seq_file *seq;
        };
        u64 session_id;
        u64 seq_num;
};

struct bpf_iter__cgroup {
        union {
                struct bpf_iter_meta *meta;
        };
        union {
                struct cgroup *cgroup;
        };
};

#ifndef BPF_NO_PRESERVE_ACCESS_INDEX
#pragma clang attribute pop
#endif

#endif /* __VMLINUX_H__ */
