/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay run: ask prepayd for a slice, get moved into it, exec the command. */
#include <getopt.h>
#include <inttypes.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay run [OPTIONS] -- COMMAND [ARGS...]\n"
               "\n"
               "Creates a slice, moves this process into it and runs COMMAND there.\n"
               "The slice id is printed on standard error.\n"
               "\n"
               "  --cpus=N        CPU limit, in CPUs (0.5, 2; default: none)\n"
               "  --memory=SIZE   Memory limit (512M, 4G; default: DefaultMemoryMax=)\n"
               "  --pids=N        Limit on tasks (default: DefaultTasksMax=)\n"
               "  --cpu-period=T  Period the CPU limit applies over (default: CPUPeriod=)\n"
               "  -q, --quiet     Do not print the slice id\n"
               "  -h, --help      Show this help\n");
}

int run_main(int argc, char *argv[]) {
        enum { ARG_CPUS = 0x100, ARG_MEMORY, ARG_PIDS, ARG_PERIOD };
        static const struct option options[] = {
                { "cpus", required_argument, NULL, ARG_CPUS },
                { "memory", required_argument, NULL, ARG_MEMORY },
                { "pids", required_argument, NULL, ARG_PIDS },
                { "cpu-period", required_argument, NULL, ARG_PERIOD },
                { "quiet", no_argument, NULL, 'q' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        struct slice_limits limits = {};
        uint64_t cpus_milli = 0;
        json_object *req, *reply = NULL, *o, *slice;
        const char *id = NULL;
        bool quiet = false;
        int c, r;

        while ((c = getopt_long(argc, argv, "+qh", options, NULL)) >= 0)
                switch (c) {
                case ARG_CPUS:
                        r = parse_cpus(optarg, &cpus_milli);
                        if (r < 0) {
                                log_error("Invalid --cpus value '%s': expected a number of CPUs such as 0.5 or 2.", optarg);
                                return 2;
                        }
                        break;
                case ARG_MEMORY:
                        r = parse_size(optarg, &limits.memory_max);
                        if (r < 0 || limits.memory_max == 0) {
                                log_error("Invalid --memory value '%s': expected a size such as 512M or 4G.", optarg);
                                return 2;
                        }
                        break;
                case ARG_PIDS:
                        r = parse_u64(optarg, &limits.pids_max);
                        if (r < 0 || limits.pids_max == 0) {
                                log_error("Invalid --pids value '%s': expected a positive whole number.", optarg);
                                return 2;
                        }
                        break;
                case ARG_PERIOD:
                        r = parse_duration(optarg, &limits.cpu_period_usec);
                        if (r < 0 || limits.cpu_period_usec == 0) {
                                log_error("Invalid --cpu-period value '%s': expected a time such as 100ms.", optarg);
                                return 2;
                        }
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }

        if (optind >= argc) {
                log_error("No command given. Usage: prepay run [OPTIONS] -- COMMAND [ARGS...]");
                return 2;
        }

        req = client_request("create");
        if (!req)
                return log_oom(), 1;
        o = json_object_new_object();
        slice_limits_to_json(&limits, o);
        json_object_object_add(req, "limits", o);
        json_object_object_add(req, "attach", json_object_new_boolean(true));
        /* The daemon turns CPUs into a quota over its own CPUPeriod= (or
         * --cpu-period), which the client need not know. */
        if (cpus_milli > 0)
                json_object_object_add(req, "cpus_milli", json_object_new_int64((int64_t) cpus_milli));

        r = client_call(req, &reply);
        if (r < 0)
                return 1;

        if (json_object_object_get_ex(reply, "slice", &slice))
                (void) message_get_string(slice, "id", &id);
        if (!quiet)
                fprintf(stderr, "prepay: running in slice %s\n", strna(id));
        fflush(stderr);
        json_object_put(reply);

        execvp(argv[optind], argv + optind);
        r = errno;
        log_error_errno(r, "Failed to run '%s': %m", argv[optind]);
        return r == ENOENT ? 127 : 126;
}
