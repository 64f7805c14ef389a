/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/un.h>

#include "../bpf/meter.h"
#include <syslog.h>

#include "common/log.h"
#include "common/money.h"
#include "common/parse.h"
#include "common/util.h"
#include "common/voucher.h"
#include "config.h"

/* Every key lives in config_items[] below, once: its section, type, place
 * in struct config, default (as text, parsed by the same code as the file)
 * and one line of documentation. Loading, defaults and --dump-config all
 * walk that table, so they cannot disagree. */

typedef enum config_type {
        CONFIG_STRING,
        CONFIG_SIZE,     /* uint64_t bytes, parse_size() */
        CONFIG_DURATION, /* uint64_t usec, parse_duration() */
        CONFIG_U64,      /* uint64_t, parse_u64() */
        CONFIG_MODE,     /* uint32_t, octal permission bits */
        CONFIG_LOGLEVEL, /* int, syslog level */
        CONFIG_CPUS,     /* uint64_t milli-CPUs, parse_cpus() */
        CONFIG_BOOL,     /* bool: yes/no, true/false, on/off, 1/0 */
        CONFIG_MONEY,    /* int64_t micro-units, money_parse(): 0..MONEY_AMOUNT_MAX */
} config_type;

struct config_item {
        const char *section;
        const char *key;
        config_type type;
        size_t offset;
        const char *default_value;
        const char *doc;
        /* Numbers: the allowed range (max 0: no upper bound but the type's),
         * and whether an empty value means 0 ("none"). */
        uint64_t min, max;
        bool empty_is_zero;
        /* Strings: returns -errno and a static reason for a bad value. */
        int (*verify)(const char *value, const char **ret_reason);
};

static int verify_path(const char *s, bool absolute, const char **ret_reason) {
        const char *p;

        if (absolute && s[0] != '/') {
                *ret_reason = "must be an absolute path";
                return -EINVAL;
        }
        if (s[0] == 0) {
                *ret_reason = "must not be empty";
                return -EINVAL;
        }
        for (p = s; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f) {
                        *ret_reason = "contains a control character";
                        return -EINVAL;
                }
        /* "." and ".." make a path mean something other than it reads. */
        for (p = s; *p;) {
                size_t n = strcspn(p, "/");

                if ((n == 1 && p[0] == '.') || (n == 2 && strneq(p, "..", 2))) {
                        *ret_reason = "must not contain \".\" or \"..\" components";
                        return -EINVAL;
                }
                p += n;
                p += strspn(p, "/");
        }
        return 0;
}

static int verify_absolute_path(const char *s, const char **ret_reason) {
        return verify_path(s, true, ret_reason);
}

static int verify_socket_path(const char *s, const char **ret_reason) {
        int r;

        r = verify_path(s, true, ret_reason);
        if (r < 0)
                return r;
        if (strlen(s) >= sizeof(((struct sockaddr_un *) NULL)->sun_path)) {
                *ret_reason = "is too long for an AF_UNIX socket (at most 107 bytes)";
                return -ENAMETOOLONG;
        }
        return 0;
}

static int verify_cgroup_root(const char *s, const char **ret_reason) {
        return verify_path(s, false, ret_reason);
}

/* Empty: a path derived from elsewhere (the key's documentation says from where). */
static int verify_absolute_path_or_empty(const char *s, const char **ret_reason) {
        if (s[0] == 0)
                return 0;
        return verify_path(s, true, ret_reason);
}

static int verify_currency(const char *s, const char **ret_reason) {
        if (currency_is_valid(s))
                return 0;
        *ret_reason = "must be an ISO 4217 code, three upper-case letters such as EUR or USD";
        return -EINVAL;
}

static int verify_host_id(const char *s, const char **ret_reason) {
        if (s[0] == 0 || voucher_audience_is_valid(s))
                return 0;
        *ret_reason = "must be empty or 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'";
        return -EINVAL;
}

/* libpq parses it (the fleet's thread connects with it): here only its
 * two shapes, a URI or keyword=value pairs, so that a typo such as a
 * path is refused at start rather than as a connection that fails. */
static int verify_ledger(const char *s, const char **ret_reason) {
        if (s[0] == 0 || strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0 ||
            strchr(s, '='))
                return 0;
        *ret_reason = "must be empty (SQLite) or a libpq connection string: postgresql://... or keyword=value "
                      "pairs such as service=NAME";
        return -EINVAL;
}

static int verify_action(const char *s, const char **ret_reason) {
        if (streq(s, "throttle") || streq(s, "freeze") || streq(s, "kill"))
                return 0;
        *ret_reason = "must be throttle, freeze or kill";
        return -EINVAL;
}

static int verify_actions(const char *s, const char **ret_reason) {
        char word[16];

        if (!s[0]) {
                *ret_reason = "must name at least one of throttle, freeze, kill";
                return -EINVAL;
        }
        for (const char *p = s; *p;) {
                size_t n = strcspn(p, " ");

                if (n == 0 || n >= sizeof(word)) {
                        *ret_reason = "must be throttle, freeze or kill, separated by single spaces";
                        return -EINVAL;
                }
                memcpy(word, p, n);
                word[n] = 0;
                if (verify_action(word, ret_reason) < 0)
                        return -EINVAL;
                p += n;
                p += strspn(p, " ");
        }
        return 0;
}

/* DonationModels=: one or more of the names funders.c knows, separated
 * by spaces. */
static int verify_donation_models(const char *s, const char **ret_reason) {
        char word[16];

        *ret_reason = "must name one or more of owner, pro-rata, lifo, separated by spaces";
        if (!s[strspn(s, " ")])
                return -EINVAL;
        for (const char *p = s + strspn(s, " "); *p; p += strspn(p, " ")) {
                size_t n = strcspn(p, " ");

                if (n >= sizeof(word))
                        return -EINVAL;
                memcpy(word, p, n);
                word[n] = 0;
                if (donation_model_from_string(word) < 0)
                        return -EINVAL;
                p += n;
        }
        return 0;
}

/* AnonymousShares=: who gets the anonymous funders' share of a split. */
static int verify_anonymous_shares(const char *s, const char **ret_reason) {
        *ret_reason = "must be owner or host";
        return streq(s, "owner") || streq(s, "host") ? 0 : -EINVAL;
}

/* A group name as useradd(8) takes it, or empty. */
static int verify_group(const char *s, const char **ret_reason) {
        if (strlen(s) > 32) {
                *ret_reason = "is longer than 32 characters";
                return -EINVAL;
        }
        for (const char *p = s; *p; p++)
                if (!(isalnum((unsigned char) *p) || *p == '_' || (p > s && (*p == '-' || *p == '.')))) {
                        *ret_reason = "must be a group name: letters, digits, '_', and '-' or '.' after the first";
                        return -EINVAL;
                }
        return 0;
}

/* A user name as useradd takes one (the same rule as a group's). */
static int verify_user(const char *s, const char **ret_reason) {
        if (verify_group(s, ret_reason) < 0) {
                *ret_reason = strlen(s) > 32 ? "is longer than 32 characters"
                                             : "must be a user name: letters, digits, '_', and '-' or '.' after the "
                                               "first";
                return -EINVAL;
        }
        return 0;
}

/* A service name as run-unit takes one: "name" or "name.service". */
static bool unit_word_is_valid(const char *s, size_t n) {
        if (n == 0 || n > 200 || s[0] == '.' || s[0] == '@' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!(isalnum((unsigned char) s[i]) || strchr(":-_.@", s[i])))
                        return false;
        return true;
}

static int verify_units(const char *s, const char **ret_reason) {
        for (const char *p = s + strspn(s, " "); *p; p += strspn(p, " ")) {
                size_t n = strcspn(p, " ");

                if (!unit_word_is_valid(p, n)) {
                        *ret_reason = "must be service names (letters, digits, ':', '-', '_', '.', '@'), separated "
                                      "by spaces";
                        return -EINVAL;
                }
                p += n;
        }
        return 0;
}

/* "name" without its ".service": how two spellings of a unit compare. */
static size_t unit_stem(const char *s, size_t n) {
        if (n > 8 && strneq(s + n - 8, ".service", 8))
                return n - 8;
        return n;
}

bool config_remote_unit_allowed(const struct config *c, const char *unit) {
        size_t want;

        if (!c->remote_units || !unit || !unit_word_is_valid(unit, strlen(unit)))
                return false;
        want = unit_stem(unit, strlen(unit));
        for (const char *p = c->remote_units + strspn(c->remote_units, " "); *p; p += strspn(p, " ")) {
                size_t n = strcspn(p, " "), stem = unit_stem(p, n);

                if (stem == want && strneq(p, unit, stem))
                        return true;
                p += n;
        }
        return false;
}

bool config_donation_model_allowed(const struct config *c, enum donation_model m) {
        const char *name = donation_model_to_string(m);
        size_t want;

        if (!c->donation_models || !name)
                return false;
        want = strlen(name);
        for (const char *p = c->donation_models + strspn(c->donation_models, " "); *p; p += strspn(p, " ")) {
                size_t n = strcspn(p, " ");

                if (n == want && strneq(p, name, n))
                        return true;
                p += n;
        }
        return false;
}

/* "FIRST-LAST", two TCP ports, FIRST <= LAST. */
int config_parse_port_range(const char *s, uint16_t *ret_first, uint16_t *ret_last) {
        unsigned a, b;
        int n = 0;

        if (sscanf(s, "%5u-%5u%n", &a, &b, &n) != 2 || (size_t) n != strlen(s) || a == 0 || a > b || b > 65535)
                return -EINVAL;
        *ret_first = (uint16_t) a;
        *ret_last = (uint16_t) b;
        return 0;
}

static int verify_port_range(const char *s, const char **ret_reason) {
        uint16_t a, b;

        if (config_parse_port_range(s, &a, &b) >= 0)
                return 0;
        *ret_reason = "must be FIRST-LAST, two TCP ports from 1 to 65535 with FIRST <= LAST";
        return -EINVAL;
}

static int verify_ipv4(const char *s, const char **ret_reason) {
        struct in_addr a;

        if (inet_pton(AF_INET, s, &a) == 1)
                return 0;
        *ret_reason = "must be an IPv4 address such as 0.0.0.0 or 127.0.0.1";
        return -EINVAL;
}

static int verify_accelerator(const char *s, const char **ret_reason) {
        if (streq(s, "auto") || streq(s, "kvm") || streq(s, "tcg"))
                return 0;
        *ret_reason = "must be auto, kvm or tcg";
        return -EINVAL;
}

/* A host name or address buyers connect to, or empty. */
static int verify_host_name(const char *s, const char **ret_reason) {
        if (strlen(s) > 253) {
                *ret_reason = "is longer than 253 characters";
                return -EINVAL;
        }
        for (const char *p = s; *p; p++)
                if (!(isalnum((unsigned char) *p) || *p == '-' || *p == '.' || *p == ':')) {
                        *ret_reason = "must be a host name or an address: letters, digits, '-', '.' and ':'";
                        return -EINVAL;
                }
        return 0;
}

static int verify_on_daemon_stop(const char *s, const char **ret_reason) {
        if (streq(s, "continue") || streq(s, "freeze"))
                return 0;
        *ret_reason = "must be continue or freeze";
        return -EINVAL;
}

/* A hook: empty, or an absolute program path and fixed arguments. */
static int verify_hook(const char *s, const char **ret_reason) {
        if (!s[0])
                return 0;
        if (s[0] != '/') {
                *ret_reason = "must start with the program's absolute path";
                return -EINVAL;
        }
        for (const char *p = s; *p; p++)
                if ((unsigned char) *p < ' ' || *p == 0x7f) {
                        *ret_reason = "contains a control character";
                        return -EINVAL;
                }
        return 0;
}

static int verify_scheduling_policy(const char *s, const char **ret_reason) {
        if (streq(s, "fifo") || streq(s, "other"))
                return 0;
        *ret_reason = "must be fifo or other";
        return -EINVAL;
}

static int verify_backend(const char *s, const char **ret_reason) {
        if (streq(s, "auto") || streq(s, "cgroupfs") || streq(s, "systemd"))
                return 0;
        *ret_reason = "must be auto, cgroupfs or systemd";
        return -EINVAL;
}

#define MSEC(n) ((uint64_t) (n) * USEC_PER_MSEC)
#define SEC(n) ((uint64_t) (n) * USEC_PER_SEC)

static const struct config_item config_items[] = {
        {
                .section = "Daemon",
                .key = "ControlSocket",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, control_socket),
                .default_value = "/run/prepay/control.sock",
                .doc = "AF_UNIX socket on which prepayd takes requests from prepay.",
                .verify = verify_socket_path,
        },
        {
                .section = "Daemon",
                .key = "SocketMode",
                .type = CONFIG_MODE,
                .offset = offsetof(struct config, socket_mode),
                .default_value = "0660",
                .doc = "Permission bits of the control socket, in octal.",
                .min = 0,
                .max = 0777,
        },
        {
                .section = "Daemon",
                .key = "StateDirectory",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, state_directory),
                .default_value = "/var/lib/prepay",
                .doc = "Directory for the state prepayd keeps across restarts.",
                .verify = verify_absolute_path,
        },
        {
                .section = "Daemon",
                .key = "MaxSlices",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, max_slices),
                .default_value = "10000",
                .doc = "Most slices that may exist at once (at most 16384, what the meter's maps hold); requests "
                       "for more are refused.",
                .min = 1,
                .max = METER_MAX_CGROUPS,
        },
        {
                .section = "Daemon",
                .key = "MaxSlicesPerUser",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, max_slices_per_user),
                .default_value = "64",
                .doc = "Most slices one client uid may hold at once (released ones do not count); operators are "
                       "bound by MaxSlices= only; empty or 0: no limit per user.",
                .empty_is_zero = true,
        },
        {
                .section = "Daemon",
                .key = "VerifyThreads",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, verify_threads),
                .default_value = "",
                .doc = "Threads that check voucher signatures beside the event loop; empty: one per online CPU.",
                .max = 64,
                .empty_is_zero = true,
        },
        {
                .section = "Daemon",
                .key = "LogLevel",
                .type = CONFIG_LOGLEVEL,
                .offset = offsetof(struct config, log_level),
                .default_value = "info",
                .doc = "Most verbose level logged: debug, info, notice, warning, err, or 0-7.",
        },
        {
                .section = "Daemon",
                .key = "CPUSchedulingPolicy",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, cpu_scheduling_policy),
                .default_value = "fifo",
                .doc = "fifo: SCHED_FIFO 1 (not its children), so that the tasks a check stops cannot delay "
                       "it; other: normal, at nice -10. Read at start.",
                .verify = verify_scheduling_policy,
        },
        {
                .section = "Daemon",
                .key = "AdminGroup",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, admin_group),
                .default_value = "prepay-admin",
                .doc = "Members act as operators, like root: list, kill and release every slice, reload.",
                .verify = verify_group,
        },
        {
                .section = "Daemon",
                .key = "ClientGroup",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, client_group),
                .default_value = "prepay",
                .doc = "Members may buy, top up and query slices; empty lets every local user. Owns the socket.",
                .verify = verify_group,
        },
        {
                .section = "Cgroup",
                .key = "Backend",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, backend),
                .default_value = "auto",
                .doc = "How slices are made: systemd (transient units over D-Bus), cgroupfs, or auto: systemd when it is PID 1 on a pure cgroup v2 host, else cgroupfs.",
                .verify = verify_backend,
        },
        {
                .section = "Cgroup",
                .key = "CgroupRoot",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, cgroup_root),
                .default_value = "prepay",
                .doc = "Slices' parent cgroup, relative to prepayd's own; absolute if it starts with /.",
                .verify = verify_cgroup_root,
        },
        {
                .section = "Meter",
                .key = "BpfPinPath",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, bpf_pin_path),
                .default_value = "/sys/fs/bpf/prepay",
                .doc = "Directory in bpffs where the meter's programs and maps are pinned.",
                .verify = verify_absolute_path,
        },
        {
                .section = "Meter",
                .key = "MeterInterval",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, meter_interval_usec),
                .default_value = "100ms",
                .doc = "How often a slice that is using something is read and charged, from 10ms to 10s.",
                .min = MSEC(10),
                .max = SEC(10),
        },
        {
                .section = "Meter",
                .key = "MeterIdleInterval",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, meter_idle_interval_usec),
                .default_value = "10s",
                .doc = "Longest wait between two reads of a slice whose counters stand still (it doubles from "
                       "MeterInterval= up to this), from 10ms to 1h.",
                .min = MSEC(10),
                .max = SEC(3600),
        },
        {
                .section = "Limits",
                .key = "CPUPeriod",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, cpu_period_usec),
                .default_value = "100ms",
                .doc = "Period of the CPU bandwidth limit (cpu.max), from 1ms to 1s.",
                .min = MSEC(1),
                .max = SEC(1),
        },
        {
                .section = "Limits",
                .key = "DefaultMemoryMax",
                .type = CONFIG_SIZE,
                .offset = offsetof(struct config, default_memory_max),
                .default_value = "",
                .doc = "Memory limit of a slice that asks for none, e.g. 4G; empty or 0: none.",
                .empty_is_zero = true,
        },
        {
                .section = "Limits",
                .key = "DefaultTasksMax",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, default_pids_max),
                .default_value = "4096",
                .doc = "Task limit (pids.max) of a slice that asks for none; empty or 0: none.",
                .empty_is_zero = true,
        },
        {
                .section = "Limits",
                .key = "MaxCPUs",
                .type = CONFIG_CPUS,
                .offset = offsetof(struct config, max_cpus_milli),
                .default_value = "",
                .doc = "Most CPUs one slice may have, e.g. 2 or 0.5; empty: all online CPUs.",
                .min = 1,
                .empty_is_zero = true,
        },
        {
                .section = "Money",
                .key = "Currency",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, currency),
                .default_value = "EUR",
                .doc = "Currency of prices and of the vouchers this host takes (ISO 4217).",
                .verify = verify_currency,
        },
        {
                .section = "Money",
                .key = "IssuersDirectory",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, issuers_directory),
                .default_value = "/etc/prepay/issuers.d",
                .doc = "Directory of trusted issuers' Ed25519 public keys (*.pem, *.pub).",
                .verify = verify_absolute_path,
        },
        {
                .section = "Money",
                .key = "HostKey",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, host_key),
                .default_value = "",
                .doc = "This host's issuer key, used only to sign change; "
                       "empty: StateDirectory/host-issuer.key, made on first start.",
                .verify = verify_absolute_path_or_empty,
        },
        {
                .section = "Money",
                .key = "HostId",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, host_id),
                .default_value = "",
                .doc = "This host's id, the audience vouchers may be bound to; empty: /etc/machine-id.",
                .verify = verify_host_id,
        },
        {
                .section = "Money",
                .key = "FleetId",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, fleet_id),
                .default_value = "",
                .doc = "Empty: change is bound to this host. Else the audience of the change this host gives, "
                       "taken by every host of the fleet (same FleetId=, same Ledger=); needs Ledger=.",
                .verify = verify_host_id,
        },
        {
                .section = "Money",
                .key = "Ledger",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, ledger),
                .default_value = "",
                .doc = "Empty: SQLite only. A libpq connection string (postgresql://..., service=NAME): a fleet "
                       "whose database holds every host's spent vouchers and a copy of its books. At start.",
                .verify = verify_ledger,
        },
        {
                .section = "Money",
                .key = "MaxUnshipped",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, max_unshipped),
                .default_value = "100000",
                .doc = "With Ledger=: the most entries this host holds that the fleet database does not; beyond "
                       "it no new money is taken until they are shipped.",
                .min = 1,
        },
        {
                /* At least a second: with no time to pay for, any size would
                 * be affordable (pricing_size_to_funds() of a zero duration). */
                .section = "Money",
                .key = "MinRuntimeSec",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, min_runtime_usec),
                .default_value = "60s",
                .doc = "A request is admitted only if its funding pays for this long at full use of its size.",
                .min = SEC(1),
        },
        {
                .section = "Money",
                .key = "ChangeValidity",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, change_validity_usec),
                .default_value = "365d",
                .doc = "How long change vouchers stay valid.",
                .min = SEC(3600),
        },
        {
                .section = "Money",
                .key = "AllowUnfunded",
                .type = CONFIG_BOOL,
                .offset = offsetof(struct config, allow_unfunded),
                .default_value = "no",
                .doc = "Let root make slices without a voucher (metering only, nothing charged).",
        },
        {
                .section = "Money",
                .key = "DonationModels",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, donation_models),
                .default_value = "owner",
                .doc = "Donation models a buyer may choose, separated by spaces: owner, pro-rata, lifo "
                       "(prepay(1), FUNDERS); the first is the default.",
                .verify = verify_donation_models,
        },
        {
                .section = "Money",
                .key = "AnonymousShares",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, anonymous_shares),
                .default_value = "owner",
                .doc = "Who gets the anonymous funders' share when a pro-rata or lifo slice is released: owner "
                       "(as change) or host (kept, as a donation); fixed for each slice when it is bought.",
                .verify = verify_anonymous_shares,
        },
        {
                .section = "Prices",
                .key = "CPUSecond",
                .type = CONFIG_MONEY,
                .offset = offsetof(struct config, rates.price[RESOURCE_CPU]),
                .default_value = "0.0001",
                .doc = "Price per CPU-second used (one CPU busy for one second).",
        },
        {
                .section = "Prices",
                .key = "MemoryGiBHour",
                .type = CONFIG_MONEY,
                .offset = offsetof(struct config, rates.price[RESOURCE_MEMORY]),
                .default_value = "0.01",
                .doc = "Price per GiB-hour of memory in use (1 GiB held for an hour, or 2 GiB for 30min).",
        },
        {
                .section = "Prices",
                .key = "NetOutGiB",
                .type = CONFIG_MONEY,
                .offset = offsetof(struct config, rates.price[RESOURCE_NET_OUT]),
                .default_value = "0.05",
                .doc = "Price per GiB (2^30 bytes) sent over the network.",
        },
        {
                .section = "Prices",
                .key = "NetInGiB",
                .type = CONFIG_MONEY,
                .offset = offsetof(struct config, rates.price[RESOURCE_NET_IN]),
                .default_value = "0",
                .doc = "Price per GiB (2^30 bytes) received over the network.",
        },
        {
                .section = "Prices",
                .key = "IOGiB",
                .type = CONFIG_MONEY,
                .offset = offsetof(struct config, rates.price[RESOURCE_IO]),
                .default_value = "0.01",
                .doc = "Price per GiB (2^30 bytes) read from or written to disk.",
        },
        {
                .section = "Prices",
                .key = "SliceHour",
                .type = CONFIG_MONEY,
                .offset = offsetof(struct config, rates.price[RESOURCE_BASE]),
                .default_value = "0",
                .doc = "Price per hour a slice exists, whatever it uses.",
        },
        {
                .section = "Prices",
                .key = "DiskGiBHour",
                .type = CONFIG_MONEY,
                .offset = offsetof(struct config, disk_gib_hour),
                .default_value = "0",
                .doc = "Price per hour of each GiB (rounded up) of a VM slice's disk, charged under base with "
                       "SliceHour=.",
        },
        {
                .section = "Enforce",
                .key = "LowBalanceSec",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, low_balance_usec),
                .default_value = "60s",
                .doc = "Warn (a low-balance event) when the time left at the current burn rate falls below this.",
        },
        {
                .section = "Enforce",
                .key = "LowBalanceCPU",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, low_balance_cpu),
                .default_value = "0",
                .doc = "With a low balance, throttle to this percent of the slice's CPUs (0: do not).",
                .min = 0,
                .max = 100,
        },
        {
                .section = "Enforce",
                .key = "ExhaustedAction",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, exhausted_action),
                .default_value = "freeze",
                .doc = "What a slice whose balance is spent gets by default: throttle, freeze or kill.",
                .verify = verify_action,
        },
        {
                .section = "Enforce",
                .key = "AllowedActions",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, allowed_actions),
                .default_value = "throttle freeze kill",
                .doc = "The actions a request may choose instead, separated by spaces.",
                .verify = verify_actions,
        },
        {
                .section = "Enforce",
                .key = "GraceSec",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, grace_usec),
                .default_value = "600s",
                .doc = "How long a frozen slice waits for a top-up before it is killed.",
        },
        {
                .section = "Enforce",
                .key = "ThrottleCPU",
                .type = CONFIG_CPUS,
                .offset = offsetof(struct config, throttle_cpus_milli),
                .default_value = "0.01",
                .doc = "The CPU quota of a throttled slice, in CPUs (at least 0.01 at the default period).",
        },
        {
                .section = "Enforce",
                .key = "OnDaemonStop",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, on_daemon_stop),
                .default_value = "continue",
                .doc = "What slices do while prepayd is stopped: continue, or freeze (thawed at start; one without money then gets its policy).",
                .verify = verify_on_daemon_stop,
        },
        {
                .section = "Enforce",
                .key = "OnLowBalance",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, on_low_balance),
                .default_value = "",
                .doc = "Command run at a low-balance event: absolute path and fixed arguments, no shell.",
                .verify = verify_hook,
        },
        {
                .section = "Enforce",
                .key = "OnExhausted",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, on_exhausted),
                .default_value = "",
                .doc = "Command run when a balance is spent: absolute path and fixed arguments, no shell.",
                .verify = verify_hook,
        },
        {
                .section = "Enforce",
                .key = "HookTimeoutSec",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, hook_timeout_usec),
                .default_value = "10s",
                .doc = "A hook still running after this long is killed.",
        },
        {
                .section = "Enforce",
                .key = "RepeatedEventSec",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, repeated_event_usec),
                .default_value = "60s",
                .doc = "Events a client can repeat at no cost (a kill on request, an OOM kill) are recorded once per "
                       "slice in this time, with a count of the rest at its end; from 1s to 1h.",
                .min = SEC(1),
                .max = SEC(3600),
        },
        {
                .section = "Control",
                .key = "MaxConnections",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, max_connections),
                .default_value = "128",
                .doc = "Most control connections open at once, event streams included; more are refused.",
                .min = 2,
                .max = 4096,
        },
        {
                .section = "Control",
                .key = "OperatorConnections",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, operator_connections),
                .default_value = "8",
                .doc = "Of MaxConnections= and of the 64 event streams, places only root and AdminGroup= may take.",
                .min = 1,
                .max = 4095,
        },
        {
                .section = "Control",
                .key = "MaxConnectionsPerUser",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, max_connections_per_user),
                .default_value = "8",
                .doc = "Most control connections one uid that is not an operator may hold at once.",
                .min = 1,
                .max = 4096,
        },
        {
                .section = "Control",
                .key = "MaxEventStreamsPerUser",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, max_event_streams_per_user),
                .default_value = "4",
                .doc = "Most \"prepay events\" streams one uid that is not an operator may follow at once.",
                .min = 1,
                .max = 32,
        },
        {
                .section = "Control",
                .key = "IdleTimeoutSec",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, idle_timeout_usec),
                .default_value = "10s",
                .doc = "A connection that sends no request for this long is closed (event streams are not).",
                .min = MSEC(100),
                .max = SEC(3600),
        },
        {
                .section = "Control",
                .key = "GatewayUser",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, gateway_user),
                .default_value = "prepay-gateway",
                .doc = "The user prepay-gatewayd runs as: its connections are remote buyers', with no uid and no "
                       "group (quote, images, create, topup, status, events, release, kill); empty: none.",
                .verify = verify_user,
        },
        {
                .section = "Control",
                .key = "GatewayConnections",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, gateway_connections),
                .default_value = "32",
                .doc = "Most control connections GatewayUser= may hold at once (instead of MaxConnectionsPerUser=).",
                .min = 1,
                .max = 4096,
        },
        {
                .section = "Control",
                .key = "GatewayEventStreams",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, gateway_event_streams),
                .default_value = "16",
                .doc = "Most event streams GatewayUser= may follow at once (instead of MaxEventStreamsPerUser=).",
                .min = 1,
                .max = 64,
        },
        {
                .section = "Control",
                .key = "MaxRemoteSlices",
                .type = CONFIG_U64,
                .offset = offsetof(struct config, max_remote_slices),
                .default_value = "256",
                .doc = "Most slices remote buyers (GatewayUser=) hold at once, active and kept; 0: none may be "
                       "bought remotely.",
                .max = 1000000,
        },
        {
                .section = "Control",
                .key = "RemoteUnits",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, remote_units),
                .default_value = "",
                .doc = "The systemd services a remote buyer may have run in its slice (create's \"unit\"), "
                       "separated by spaces; they run as their unit file says (User=, DynamicUser=).",
                .verify = verify_units,
        },
        {
                .section = "Metrics",
                .key = "SliceSeries",
                .type = CONFIG_BOOL,
                .offset = offsetof(struct config, metrics_slice_series),
                .default_value = "no",
                .doc = "The \"metrics\" op's text holds series per slice (CPU seconds, balance, memory) beside the "
                       "host's totals: up to three series a slice (the balance: funded ones).",
        },
        {
                .section = "Metrics",
                .key = "Gateway",
                .type = CONFIG_BOOL,
                .offset = offsetof(struct config, metrics_gateway),
                .default_value = "no",
                .doc = "Let GatewayUser= ask for the metrics, to serve them on prepay-gatewayd's [Metrics] Listen=; "
                       "operators may always.",
        },
        {
                .section = "VM",
                .key = "Directory",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, vm_directory),
                .default_value = "/var/lib/prepay-vm",
                .doc = "Where each VM slice's disk overlay, seed and console are (a directory per slice); it and "
                       "the directories above it must let User= through.",
                .verify = verify_absolute_path,
        },
        {
                .section = "VM",
                .key = "ImagesDirectory",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, images_directory),
                .default_value = "/var/lib/prepay-vm/images",
                .doc = "Where the base images VM slices boot are: NAME.image beside its disk (prepay-image(5)).",
                .verify = verify_absolute_path,
        },
        {
                .section = "VM",
                .key = "User",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, vm_user),
                .default_value = "prepay-vm",
                .doc = "The user QEMU runs as (never root); also in group kvm where that exists.",
                .verify = verify_group,
        },
        {
                .section = "VM",
                .key = "QEMU",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, qemu),
                .default_value = "/usr/bin/qemu-system-x86_64",
                .doc = "The emulator VM slices run.",
                .verify = verify_absolute_path,
        },
        {
                .section = "VM",
                .key = "Accelerator",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, accelerator),
                .default_value = "auto",
                .doc = "kvm, tcg, or auto: kvm where /dev/kvm opens and the CPU has vmx or svm, else tcg.",
                .verify = verify_accelerator,
        },
        {
                .section = "VM",
                .key = "TranslationCache",
                .type = CONFIG_SIZE,
                .offset = offsetof(struct config, translation_cache),
                .default_value = "64M",
                .doc = "TCG's translation cache per VM (tb-size); without a bound it is 1 GiB.",
                .min = 16ULL << 20,
                .max = 1ULL << 30,
        },
        {
                .section = "VM",
                .key = "MemoryOverhead",
                .type = CONFIG_SIZE,
                .offset = offsetof(struct config, vm_memory_overhead),
                .default_value = "256M",
                .doc = "QEMU's own memory, held inside the slice's memory limit: the guest gets the rest.",
                .min = 64ULL << 20,
        },
        {
                .section = "VM",
                .key = "DefaultMemory",
                .type = CONFIG_SIZE,
                .offset = offsetof(struct config, vm_default_memory),
                .default_value = "1G",
                .doc = "The memory of a VM slice whose request names none (guest RAM plus MemoryOverhead=).",
                .min = 128ULL << 20,
        },
        {
                .section = "VM",
                .key = "MaxDiskSize",
                .type = CONFIG_SIZE,
                .offset = offsetof(struct config, max_disk_size),
                .default_value = "64G",
                .doc = "The largest disk a VM slice may ask for.",
                .min = 1ULL << 20,
        },
        {
                .section = "VM",
                .key = "PortRange",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, vm_port_range),
                .default_value = "22000-22999",
                .doc = "The host TCP ports forwarded to VM slices' SSH, one per VM.",
                .verify = verify_port_range,
        },
        {
                .section = "VM",
                .key = "ListenAddress",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, vm_listen_address),
                .default_value = "0.0.0.0",
                .doc = "The address the forwarded SSH ports listen on.",
                .verify = verify_ipv4,
        },
        {
                .section = "VM",
                .key = "HostName",
                .type = CONFIG_STRING,
                .offset = offsetof(struct config, vm_host_name),
                .default_value = "",
                .doc = "The host name buyers are told to connect to; empty: this host's name.",
                .verify = verify_host_name,
        },
        {
                .section = "VM",
                .key = "ShutdownTimeoutSec",
                .type = CONFIG_DURATION,
                .offset = offsetof(struct config, vm_shutdown_timeout_usec),
                .default_value = "30s",
                .doc = "At release, how long a guest has to power off after the ACPI request before it is killed.",
                .min = 0,
                .max = SEC(600),
        },
};

static const char *const log_level_names[] = {
        [LOG_EMERG] = "emerg",
        [LOG_ALERT] = "alert",
        [LOG_CRIT] = "crit",
        [LOG_ERR] = "err",
        [LOG_WARNING] = "warning",
        [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info",
        [LOG_DEBUG] = "debug",
};

static void *item_ptr(const struct config_item *it, struct config *c) {
        return (char *) c + it->offset;
}

static const void *item_cptr(const struct config_item *it, const struct config *c) {
        return (const char *) c + it->offset;
}

static int parse_mode(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        size_t n;

        n = strspn(s, "01234567");
        if (n == 0 || s[n] != 0)
                return -EINVAL;
        if (n > 4)
                return -ERANGE;
        for (size_t i = 0; i < n; i++)
                v = v * 8 + (uint64_t) (s[i] - '0');
        *ret = v;
        return 0;
}

/* The words systemd takes for a boolean, in any case. */
static int parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = { "yes", "true", "on", "1" }, *const no[] = { "no", "false", "off", "0" };

        for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
                if (strcasecmp(s, yes[i]) == 0) {
                        *ret = true;
                        return 0;
                }
                if (strcasecmp(s, no[i]) == 0) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_log_level(const char *s, int *ret) {
        for (size_t i = 0; i < ARRAY_SIZE(log_level_names); i++)
                if (streq(s, log_level_names[i])) {
                        *ret = (int) i;
                        return 0;
                }
        if (s[0] >= '0' && s[0] <= '7' && s[1] == 0) {
                *ret = s[0] - '0';
                return 0;
        }
        return -EINVAL;
}

/* A number as the config file would spell it, exactly: dumping and
 * loading again must give the same value, so no rounding here (unlike
 * format_size() and format_duration(), which are for people). */
static void format_exact(config_type type, uint64_t v, char *buf, size_t n) {
        static const struct {
                const char *suffix;
                uint64_t factor;
        } sizes[] = {
                { "T", UINT64_C(1) << 40 },
                { "G", UINT64_C(1) << 30 },
                { "M", UINT64_C(1) << 20 },
                { "K", UINT64_C(1) << 10 },
        }, durations[] = {
                { "w", SEC(7 * 86400) },
                { "d", SEC(86400) },
                { "h", SEC(3600) },
                { "min", SEC(60) },
                { "s", SEC(1) },
                { "ms", MSEC(1) },
        };

        switch (type) {
        case CONFIG_SIZE:
                for (size_t i = 0; i < ARRAY_SIZE(sizes); i++)
                        if (v > 0 && v % sizes[i].factor == 0) {
                                snprintf(buf, n, "%" PRIu64 "%s", v / sizes[i].factor, sizes[i].suffix);
                                return;
                        }
                snprintf(buf, n, "%" PRIu64, v);
                return;

        case CONFIG_DURATION:
                for (size_t i = 0; i < ARRAY_SIZE(durations); i++)
                        if (v > 0 && v % durations[i].factor == 0) {
                                snprintf(buf, n, "%" PRIu64 "%s", v / durations[i].factor, durations[i].suffix);
                                return;
                        }
                snprintf(buf, n, "%" PRIu64 "us", v);
                return;

        case CONFIG_CPUS: {
                uint64_t frac = v % 1000;
                int digits = 3;

                if (frac == 0) {
                        snprintf(buf, n, "%" PRIu64, v / 1000);
                        return;
                }
                while (frac % 10 == 0) {
                        frac /= 10;
                        digits--;
                }
                snprintf(buf, n, "%" PRIu64 ".%0*" PRIu64, v / 1000, digits, frac);
                return;
        }

        case CONFIG_MODE:
                snprintf(buf, n, "%04" PRIo64, v);
                return;

        default:
                snprintf(buf, n, "%" PRIu64, v);
                return;
        }
}

/* A number of the item's type, within its range. On failure returns -errno
 * and, where strerror() alone would not say enough, a reason. */
static int config_item_parse_number(const struct config_item *it, const char *value, uint64_t *ret,
                                    char *reason, size_t reason_size) {
        char lo[32], hi[32];
        uint64_t v;
        int r;

        if (value[0] == 0 && it->empty_is_zero) {
                *ret = 0;
                return 0;
        }

        switch (it->type) {
        case CONFIG_SIZE:
                r = parse_size(value, &v);
                break;
        case CONFIG_DURATION:
                r = parse_duration(value, &v);
                break;
        case CONFIG_CPUS:
                r = parse_cpus(value, &v);
                break;
        case CONFIG_MODE:
                r = parse_mode(value, &v);
                break;
        default:
                r = parse_u64(value, &v);
                break;
        }
        if (r >= 0 && (v < it->min || (it->max > 0 && v > it->max)))
                r = -ERANGE;

        if (r == -ERANGE && (it->min > 0 || it->max > 0)) {
                format_exact(it->type, it->min, lo, sizeof(lo));
                if (it->max > 0) {
                        format_exact(it->type, it->max, hi, sizeof(hi));
                        snprintf(reason, reason_size, "must be between %s and %s", lo, hi);
                } else
                        snprintf(reason, reason_size, "must be at least %s", lo);
        }
        if (r < 0)
                return r;

        *ret = v;
        return 0;
}

/* Parses value into the item's field of c. On failure returns -errno and,
 * where strerror() alone would not say enough, a reason. */
static int config_item_set(const struct config_item *it, struct config *c, const char *value,
                           char *reason, size_t reason_size) {
        const char *why = NULL;
        int64_t amount;
        uint64_t v;
        int level, r;
        bool b;

        reason[0] = 0;

        switch (it->type) {
        case CONFIG_STRING: {
                char **p = item_ptr(it, c);
                char *copy;

                if (it->verify) {
                        r = it->verify(value, &why);
                        if (r < 0) {
                                snprintf(reason, reason_size, "%s", strna(why));
                                return r;
                        }
                }
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
                free(*p);
                *p = copy;
                return 0;
        }

        case CONFIG_LOGLEVEL:
                r = parse_log_level(value, &level);
                if (r < 0) {
                        snprintf(reason, reason_size,
                                 "must be one of debug, info, notice, warning, err, crit, alert, emerg or 0-7");
                        return r;
                }
                *(int *) item_ptr(it, c) = level;
                return 0;

        case CONFIG_BOOL:
                r = parse_bool(value, &b);
                if (r < 0) {
                        snprintf(reason, reason_size, "must be yes, no, true, false, on, off, 1 or 0");
                        return r;
                }
                *(bool *) item_ptr(it, c) = b;
                return 0;

        case CONFIG_MONEY:
                r = money_parse(value, &amount);
                if (r == -ERANGE) {
                        char max[MONEY_FORMAT_MAX];

                        snprintf(reason, reason_size, "must be at most %s",
                                 money_format(max, sizeof(max), MONEY_AMOUNT_MAX));
                } else if (r < 0)
                        snprintf(reason, reason_size,
                                 "must be an amount such as 0.05, with at most six decimals and no sign");
                if (r < 0)
                        return r;
                *(int64_t *) item_ptr(it, c) = amount;
                return 0;

        case CONFIG_MODE:
                r = config_item_parse_number(it, value, &v, reason, reason_size);
                if (r < 0)
                        return r;
                *(uint32_t *) item_ptr(it, c) = (uint32_t) v;
                return 0;

        case CONFIG_SIZE:
        case CONFIG_DURATION:
        case CONFIG_U64:
        case CONFIG_CPUS:
                r = config_item_parse_number(it, value, &v, reason, reason_size);
                if (r < 0)
                        return r;
                *(uint64_t *) item_ptr(it, c) = v;
                return 0;
        }

        return -EINVAL;
}

static const struct config_item *config_item_find(const char *section, const char *key) {
        for (size_t i = 0; i < ARRAY_SIZE(config_items); i++)
                if (streq(config_items[i].section, section) && streq(config_items[i].key, key))
                        return config_items + i;
        return NULL;
}

static bool config_section_known(const char *section, size_t n) {
        for (size_t i = 0; i < ARRAY_SIZE(config_items); i++)
                if (strlen(config_items[i].section) == n && strneq(config_items[i].section, section, n))
                        return true;
        return false;
}

/* What is derived from the keys rather than set by one. Currency= was
 * verified (three letters), so it fits. */
static void config_finish(struct config *c) {
        snprintf(c->rates.currency, sizeof(c->rates.currency), "%s", c->currency ?: "");
}

void config_done(struct config *c) {
        if (!c)
                return;
        for (size_t i = 0; i < ARRAY_SIZE(config_items); i++)
                if (config_items[i].type == CONFIG_STRING)
                        free(*(char **) item_ptr(config_items + i, c));
        *c = (struct config) {};
}

int config_init(struct config *c) {
        _cleanup_(config_done) struct config t = {};

        if (!c)
                return -EINVAL;

        for (size_t i = 0; i < ARRAY_SIZE(config_items); i++) {
                const struct config_item *it = config_items + i;
                char reason[128];
                int r;

                r = config_item_set(it, &t, it->default_value, reason, sizeof(reason));
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return log_error_errno(r, "Built-in default %s=%s is invalid, this is a bug: %m",
                                               it->key, it->default_value);
        }
        config_finish(&t);

        *c = t;
        t = (struct config) {};
        return 0;
}

/* inih (as Debian and others build it) passes no line number to the
 * handler, so lines are fed to it by our own reader, which counts them.
 * The reader also sees what inih keeps to itself (section headers, lines
 * it cannot read) and reports those with a reason. */
struct config_parser {
        struct config *config;
        const char *name;
        const char *next;    /* the text not yet handed to inih */
        unsigned line;       /* the line inih is working on */
        bool indented;       /* that line starts with white space */
        bool line_has_key;   /* a key was seen since the section header:
                              * inih's condition for a continuation line */
        unsigned first_error_line;
        int r;               /* the first error */
};

static void config_parser_fail(struct config_parser *p, int r) {
        if (p->r == 0)
                p->r = r;
        if (p->first_error_line == 0)
                p->first_error_line = p->line;
}

/* The first of chars in s, or of an inline comment (";" after white
 * space), or the end of s: inih's own rule, so that we see what it sees. */
static const char *find_or_comment(const char *s, const char *chars) {
        bool was_space = false;

        for (; *s; s++) {
                if (strchr(chars, *s) || (was_space && *s == ';'))
                        break;
                was_space = isspace((unsigned char) *s);
        }
        return s;
}

static char *config_reader(char *buf, int size, void *userdata) {
        struct config_parser *p = userdata;
        const char *s, *end;
        size_t len;

        if (*p->next == 0)
                return NULL;

        end = strchrnul(p->next, '\n');
        len = (size_t) (end - p->next) + (*end == '\n');
        p->line++;

        if (size < 3 || len > (size_t) size - 1) {
                /* inih would split the line and parse its tail as another
                 * one; stop instead. */
                log_error("%s:%u: Line too long (at most %d characters)", p->name, p->line, size - 3);
                config_parser_fail(p, -EINVAL);
                return NULL;
        }

        memcpy(buf, p->next, len);
        buf[len] = 0;
        p->next += len;

        s = buf;
        if (p->line == 1 && strneq(s, "\xef\xbb\xbf", 3))
                s += 3;
        p->indented = isspace((unsigned char) *s);
        while (isspace((unsigned char) *s))
                s++;

        if (*s == 0 || *s == ';' || *s == '#')
                ; /* blank or comment */
        else if (p->indented && p->line_has_key)
                ; /* a continuation line: the handler refuses it */
        else if (*s == '[') {
                const char *close = find_or_comment(s + 1, "]");

                if (*close != ']') {
                        log_error("%s:%u: Section header without ']'", p->name, p->line);
                        config_parser_fail(p, -EINVAL);
                } else if (!config_section_known(s + 1, (size_t) (close - s - 1))) {
                        log_error("%s:%u: Unknown section [%.*s]", p->name, p->line, (int) (close - s - 1), s + 1);
                        config_parser_fail(p, -EINVAL);
                }
                p->line_has_key = false;
        } else if (*find_or_comment(s, "=:") == 0) {
                log_error("%s:%u: Expected a [Section] header or a Key=value line", p->name, p->line);
                config_parser_fail(p, -EINVAL);
        } else
                p->line_has_key = true;

        return buf;
}

static int config_handler(void *userdata, const char *section, const char *key, const char *value) {
        struct config_parser *p = userdata;
        const struct config_item *it;
        char reason[128];
        int r;

        if (p->indented) {
                /* inih would take it as a continuation of the previous
                 * value, which is never what is meant in this file. */
                log_error("%s:%u: Lines must not start with white space", p->name, p->line);
                r = -EINVAL;
                goto fail;
        }

        if (section[0] == 0) {
                log_error("%s:%u: Key '%s' outside of any section", p->name, p->line, key);
                r = -EINVAL;
                goto fail;
        }

        /* An unknown section was reported at its header; once is enough. */
        if (!config_section_known(section, strlen(section)))
                return 1;

        it = config_item_find(section, key);
        if (!it) {
                log_error("%s:%u: Unknown key '%s' in section [%s]", p->name, p->line, key, section);
                r = -EINVAL;
                goto fail;
        }

        r = config_item_set(it, p->config, value, reason, sizeof(reason));
        if (r == -ENOMEM) {
                log_error_errno(r, "%s:%u: %m", p->name, p->line);
                goto fail;
        }
        if (r < 0) {
                if (reason[0])
                        log_error_errno(r, "%s:%u: Invalid %s= value '%s': %s", p->name, p->line, key, value, reason);
                else
                        log_error_errno(r, "%s:%u: Invalid %s= value '%s': %m", p->name, p->line, key, value);
                goto fail;
        }
        return 1;

fail:
        config_parser_fail(p, r);
        return 0;
}

int config_load_string(struct config *c, const char *text, const char *name) {
        _cleanup_(config_done) struct config t = {};
        struct config_parser p = {
                .config = &t,
                .name = name ?: "config",
                .next = text,
        };
        int r;

        if (!c || !text)
                return -EINVAL;

        r = config_init(&t);
        if (r < 0)
                return r;

        /* Every error is logged as it is found, so that one run shows them
         * all; inih's return value is the first line it refused. */
        r = ini_parse_stream(config_reader, &p, config_handler, &p);
        if (r > 0 && (p.first_error_line == 0 || (unsigned) r < p.first_error_line)) {
                /* Should not happen: the reader reports what inih refuses. */
                p.line = (unsigned) r;
                log_error("%s:%u: Syntax error", p.name, p.line);
                config_parser_fail(&p, -EINVAL);
        } else if (r < 0)
                config_parser_fail(&p, -ENOMEM);
        if (p.r < 0)
                return p.r;
        /* Change bound to a fleet is taken on another host only if that
         * host sees the same spent set: without the fleet database it
         * could be spent once on every host. */
        if (t.fleet_id && t.fleet_id[0] && !(t.ledger && t.ledger[0])) {
                log_error("%s: FleetId=%s needs Ledger=postgresql://... (the fleet's shared spent set); "
                          "set Ledger= or leave FleetId= empty.", p.name, t.fleet_id);
                return -EINVAL;
        }
        config_finish(&t);

        *c = t;
        t = (struct config) {};
        return 0;
}

int config_load(struct config *c, const char *path, int optional) {
        _cleanup_(freep) char *text = NULL;
        size_t size;
        int r;

        if (!c || !path)
                return -EINVAL;

        r = read_full_file(path, &text, &size);
        if (r == -ENOENT && optional) {
                log_debug("No %s, using built-in defaults.", path);
                return config_init(c);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to read %s: %m", path);
        if (strlen(text) != size)
                return log_error_errno(EINVAL, "%s: Contains a NUL byte, refusing.", path);

        return config_load_string(c, text, path);
}

static void config_item_print(FILE *f, const struct config_item *it, const struct config *c) {
        char buf[64];

        switch (it->type) {
        case CONFIG_STRING:
                fputs(*(char *const *) item_cptr(it, c) ?: "", f);
                return;

        case CONFIG_LOGLEVEL: {
                int level = *(const int *) item_cptr(it, c);

                if (level >= 0 && (size_t) level < ARRAY_SIZE(log_level_names))
                        fputs(log_level_names[level], f);
                else
                        fprintf(f, "%d", level);
                return;
        }

        case CONFIG_MODE:
                format_exact(it->type, *(const uint32_t *) item_cptr(it, c), buf, sizeof(buf));
                break;

        case CONFIG_BOOL:
                fputs(*(const bool *) item_cptr(it, c) ? "yes" : "no", f);
                return;

        case CONFIG_MONEY:
                money_format(buf, sizeof(buf), *(const int64_t *) item_cptr(it, c));
                break;

        default: {
                uint64_t v = *(const uint64_t *) item_cptr(it, c);

                if (v == 0 && it->empty_is_zero)
                        return;
                format_exact(it->type, v, buf, sizeof(buf));
                break;
        }
        }
        fputs(buf, f);
}

int config_dump(FILE *f, const struct config *c) {
        const char *section = NULL;

        if (!f)
                return -EINVAL;

        if (c)
                fputs("# prepayd configuration in effect: the built-in defaults with the\n"
                      "# configuration file applied. Every key is listed.\n"
                      "# See prepayd.conf(5).\n",
                      f);
        else
                fputs("# prepayd configuration. Each key is shown commented out with its\n"
                      "# built-in default; uncomment a line to change the value.\n"
                      "# See prepayd.conf(5). \"prepayd --dump-config\" prints this file.\n",
                      f);

        for (size_t i = 0; i < ARRAY_SIZE(config_items); i++) {
                const struct config_item *it = config_items + i;

                if (!section || !streq(section, it->section)) {
                        section = it->section;
                        fprintf(f, "\n[%s]\n", section);
                } else
                        fputc('\n', f);

                fprintf(f, "# %s\n", it->doc);
                if (c) {
                        fprintf(f, "%s=", it->key);
                        config_item_print(f, it, c);
                        fputc('\n', f);
                } else
                        fprintf(f, "#%s=%s\n", it->key, it->default_value);
        }

        if (fflush(f) != 0)
                return errno > 0 ? -errno : -EIO;
        if (ferror(f))
                return -EIO;
        return 0;
}
