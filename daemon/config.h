/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "funders.h"
#include "pricing.h"

/* prepayd's configuration: an INI file (inih) whose every key has an
 * embedded default and a line of documentation, kept in one table in
 * config.c. "prepayd --dump-config" prints that table as a commented
 * config file (packaging/prepayd.conf is generated from it). */

struct config {
        /* [Daemon] */
        char *control_socket;      /* ControlSocket= */
        uint32_t socket_mode;      /* SocketMode= (octal) */
        char *state_directory;     /* StateDirectory= */
        uint64_t max_slices;       /* MaxSlices= */
        uint64_t max_slices_per_user; /* MaxSlicesPerUser= (0: no limit) */
        uint64_t verify_threads;   /* VerifyThreads= (0: one per online CPU) */
        int log_level;             /* LogLevel= (syslog level) */
        char *cpu_scheduling_policy; /* CPUSchedulingPolicy=: "fifo" or "other" (at start only) */
        char *admin_group;         /* AdminGroup= */
        char *client_group;        /* ClientGroup= ("": everyone) */
        /* [Cgroup] */
        char *backend;             /* Backend= auto|cgroupfs|systemd */
        char *cgroup_root;         /* CgroupRoot= */
        /* [Meter] */
        char *bpf_pin_path;        /* BpfPinPath= */
        uint64_t meter_interval_usec; /* MeterInterval= */
        uint64_t meter_idle_interval_usec; /* MeterIdleInterval= */
        /* [Limits] */
        uint64_t cpu_period_usec;  /* CPUPeriod= */
        uint64_t default_memory_max; /* DefaultMemoryMax= (0: none) */
        uint64_t default_pids_max; /* DefaultTasksMax= (0: none) */
        uint64_t max_cpus_milli;   /* MaxCPUs= (0: number of online CPUs) */
        /* [Money] */
        char *currency;            /* Currency= (ISO 4217, e.g. EUR) */
        char *issuers_directory;   /* IssuersDirectory= */
        char *host_key;            /* HostKey= ("": StateDirectory/host-issuer.key) */
        char *host_id;             /* HostId= ("": /etc/machine-id) */
        char *fleet_id;            /* FleetId= ("": change is bound to this host) */
        char *ledger;              /* Ledger= ("": SQLite only; else the fleet's libpq connection string) */
        uint64_t max_unshipped;    /* MaxUnshipped= */
        uint64_t min_runtime_usec; /* MinRuntimeSec= */
        uint64_t change_validity_usec; /* ChangeValidity= */
        bool allow_unfunded;       /* AllowUnfunded= (root only) */
        char *donation_models;     /* DonationModels= what a buyer may choose; the first is the default */
        char *anonymous_shares;    /* AnonymousShares= "owner" or "host" */
        /* [Prices], micro-units; rates.currency is Currency= */
        struct rate_card rates;    /* CPUSecond= MemoryGiBHour= NetOutGiB= NetInGiB= IOGiB= SliceHour= */
        /* [Enforce] */
        uint64_t low_balance_usec; /* LowBalanceSec= */
        uint64_t low_balance_cpu;  /* LowBalanceCPU= percent of the slice's CPUs (0: no throttle) */
        char *exhausted_action;    /* ExhaustedAction= throttle|freeze|kill */
        char *allowed_actions;     /* AllowedActions= what a request may choose */
        uint64_t grace_usec;       /* GraceSec= */
        uint64_t throttle_cpus_milli; /* ThrottleCPU= */
        char *on_daemon_stop;      /* OnDaemonStop= continue|freeze */
        char *on_low_balance;      /* OnLowBalance= command */
        char *on_exhausted;        /* OnExhausted= command */
        uint64_t hook_timeout_usec; /* HookTimeoutSec= */
        uint64_t repeated_event_usec; /* RepeatedEventSec= */
        /* [Control] */
        uint64_t max_connections;  /* MaxConnections= */
        uint64_t operator_connections; /* OperatorConnections= (kept for operators) */
        uint64_t max_connections_per_user; /* MaxConnectionsPerUser= */
        uint64_t max_event_streams_per_user; /* MaxEventStreamsPerUser= */
        uint64_t idle_timeout_usec; /* IdleTimeoutSec= */
        char *gateway_user;        /* GatewayUser= ("": no gateway) */
        uint64_t gateway_connections; /* GatewayConnections= */
        uint64_t gateway_event_streams; /* GatewayEventStreams= */
        uint64_t max_remote_slices; /* MaxRemoteSlices= */
        char *remote_units;        /* RemoteUnits= space-separated service names */
        /* [Metrics] */
        bool metrics_slice_series; /* SliceSeries= */
        bool metrics_gateway;      /* Gateway= */
        /* [VM] */
        char *vm_directory;        /* Directory= the guests' disks, seeds, sockets */
        char *images_directory;    /* ImagesDirectory= */
        char *vm_user;             /* User= the QEMU processes run as */
        char *qemu;                /* QEMU= */
        char *accelerator;         /* Accelerator= auto|kvm|tcg */
        uint64_t translation_cache; /* TranslationCache= TCG's tb-size */
        uint64_t vm_memory_overhead; /* MemoryOverhead= QEMU's own, inside memory.max */
        uint64_t vm_default_memory; /* DefaultMemory= */
        uint64_t max_disk_size;    /* MaxDiskSize= */
        char *vm_port_range;       /* PortRange= "FIRST-LAST" */
        char *vm_listen_address;   /* ListenAddress= IPv4 */
        char *vm_host_name;        /* HostName= ("": gethostname()) */
        uint64_t vm_shutdown_timeout_usec; /* ShutdownTimeoutSec= */
        int64_t disk_gib_hour;     /* [Prices] DiskGiBHour=, charged under "base" */
};

/* Sets every field to its embedded default (parsed from the same text
 * config_dump() prints). Returns 0, or -ENOMEM. */
int config_init(struct config *c);

/* config_init(), then reads path over it. A missing file is not an error
 * when optional is set. Unknown sections/keys and bad values are errors
 * naming file, line, key and value: the daemon refuses to start on them.
 * Every error is logged; the first one is returned. Like config_init(), it
 * writes *c only on success and does not free what c held before, so c
 * is typically "struct config c = {}" and freed with config_done(). */
int config_load(struct config *c, const char *path, int optional);

/* Parses INI text from memory (for tests); name is used in messages. */
int config_load_string(struct config *c, const char *text, const char *name);

/* Frees the strings and zeroes *c; accepts NULL and a zeroed config. */
void config_done(struct config *c);

/* Writes the documented defaults (or the current values if c != NULL)
 * as an INI file, header comment included: config_dump(f, NULL) is
 * packaging/prepayd.conf byte for byte. Returns -errno on a write error. */
int config_dump(FILE *f, const struct config *c);

/* Whether RemoteUnits= lists unit ("name" and "name.service" are one
 * unit). */
bool config_remote_unit_allowed(const struct config *c, const char *unit);
/* Whether m is one of DonationModels=' words. */
bool config_donation_model_allowed(const struct config *c, enum donation_model m);

/* PortRange=: "FIRST-LAST". 0, or -EINVAL. */
int config_parse_port_range(const char *s, uint16_t *ret_first, uint16_t *ret_last);
