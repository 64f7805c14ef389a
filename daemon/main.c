/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepayd: wiring only. Options, config, manager, loop. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <sys/resource.h>

#include "common/log.h"
#include "config.h"
#include "manager.h"

#ifndef PREPAY_VERSION
#define PREPAY_VERSION "0.1"
#endif

#define DEFAULT_CONFIG_PATH "/etc/prepay/prepayd.conf"
#define DAEMON_NICE (-10)

/* Each slice keeps about ten cgroup files open (slice-cgroupfs.c), so
 * MaxSlices= of them need more than the customary soft limit of 1024. The
 * daemon uses epoll, never select(), so the hard limit is safe to take. */
static void raise_nofile_limit(void) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
                return;
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                log_warning_errno(errno, "Failed to raise the open file limit, ignoring: %m");
}

/* The enforcer must win the CPU from the slices it stops: a timer that
 * fires while every CPU runs a burner waits for a wake-up preemption,
 * which a better nice value makes immediate. Only when nobody (a unit's
 * Nice=, an operator's nice) set one already. */
static void raise_priority(void) {
        errno = 0;
        if (getpriority(PRIO_PROCESS, 0) != 0 || errno != 0)
                return;
        if (setpriority(PRIO_PROCESS, 0, DAEMON_NICE) < 0)
                log_warning_errno(errno, "Failed to set nice %d, ignoring: %m", DAEMON_NICE);
}

/* CPUSchedulingPolicy=fifo: a check's wake-up must not wait for the slices'
 * tasks at all. At nice -10, against 200 burners on both CPUs, prepayd
 * still waited 2-16 ms (84 ms once) to run after its timer, and each of
 * those milliseconds was CPU the slice used past its balance; at FIFO 1
 * it waited 2 ms at most and the checks ran 0.2 ms late (bench/enforce,
 * daemon/README.md). SCHED_RESET_ON_FORK: what it forks into slices and
 * its threads run at the normal policy. The kernel's RT throttling
 * (sched_rt_runtime_us) still leaves the others 5% should it spin. A
 * refusal (a unit's RestrictRealtime=, no CAP_SYS_NICE) leaves the nice
 * value, and says so. The reset on fork also gives what it forks nice 0,
 * not its -10. */
static void set_scheduling(const struct config *c) {
        struct sched_param p = { .sched_priority = 1 };
        int now = sched_getscheduler(0);

        /* A unit's CPUSchedulingPolicy= set it already (and its
         * RestrictRealtime= would refuse us). */
        if (!streq(c->cpu_scheduling_policy, "fifo") || now == SCHED_FIFO || now == SCHED_RR)
                return;
        if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &p) < 0)
                log_warning_errno(errno, "Failed to run at SCHED_FIFO (CPUSchedulingPolicy=fifo), staying at the "
                                  "normal policy: balance checks may wait for the slices' tasks: %m");
}

static void help(void) {
        printf("Usage: prepayd [OPTIONS]\n"
               "\n"
               "The prepay daemon: turns funded requests into cgroup slices, meters them\n"
               "with eBPF and enforces their limits. Runs in the foreground.\n"
               "\n"
               "  -c, --config=PATH   Configuration file (default " DEFAULT_CONFIG_PATH ";\n"
               "                      without it, the embedded defaults apply)\n"
               "      --dump-config   Print the configuration in effect (with --config) or\n"
               "                      the documented defaults, and exit\n"
               "      --check-config  Parse the configuration, report errors, and exit\n"
               "  -h, --help          Show this help\n"
               "      --version       Show the version\n"
               "\n"
               "See prepayd(8) and prepayd.conf(5).\n");
}

int main(int argc, char *argv[]) {
        enum { ARG_DUMP = 0x100, ARG_CHECK, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "dump-config", no_argument, NULL, ARG_DUMP },
                { "check-config", no_argument, NULL, ARG_CHECK },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        const char *config_path = NULL;
        bool dump = false, check = false;
        struct config config = {};
        struct manager *m = NULL;
        int c, r;

        log_set_program("prepayd");

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case ARG_DUMP:
                        dump = true;
                        break;
                case ARG_CHECK:
                        check = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("prepayd %s\n", PREPAY_VERSION);
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s'. See --help.", argv[optind]);
                return 2;
        }

        if (dump && !config_path)
                return config_dump(stdout, NULL) < 0 ? 1 : 0;

        /* An explicit --config must exist; the default path may be absent. */
        r = config_load(&config, config_path ?: DEFAULT_CONFIG_PATH, !config_path);
        if (r < 0)
                return 1;
        log_set_max_level(config.log_level);

        if (dump || check) {
                if (dump)
                        r = config_dump(stdout, &config);
                config_done(&config);
                return r < 0 ? 1 : 0;
        }

        if (geteuid() != 0) {
                log_error("prepayd must run as root (it creates cgroups and loads BPF programs).");
                config_done(&config);
                return 1;
        }

        raise_nofile_limit();
        raise_priority();
        set_scheduling(&config);

        r = manager_new(&config, &m);
        if (r >= 0) {
                m->config_path = config_path ?: DEFAULT_CONFIG_PATH;
                m->config_optional = !config_path;
                r = manager_run(m);
        }

        manager_free(m);
        config_done(&config);
        return r < 0 ? 1 : 0;
}
