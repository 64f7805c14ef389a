/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay quote: what a size costs at full use on this host's rate card. */
#include <inttypes.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay quote [OPTIONS]\n"
               "\n"
               "Prints what a slice of this size costs when it uses all of it for the\n"
               "given time, itemised by the daemon's rate card. Network and disk traffic\n"
               "are charged as used and cannot be quoted ahead; their prices are shown.\n"
               "\n"
               "  --cpus=N         CPUs (default: MaxCPUs=, what a slice without a CPU\n"
               "                   limit may use and is priced at)\n"
               "  --memory=SIZE    Memory limit (default: DefaultMemoryMax=, if any)\n"
               "  --disk=SIZE      A VM's disk (10G; default: none, a slice without a VM)\n"
               "  --hours=H        How long (1, 0.5; default: the daemon's MinRuntimeSec=)\n"
               "  --duration=T     The same as a time span (90min, 2h)\n"
               "  --json           Print the daemon's reply as JSON\n"
               "  -h, --help       Show this help\n");
}

static const struct {
        const char *name, *label, *unit;
} items[] = {
        { "cpu", "CPU", "CPU-second" },      { "memory", "memory", "GiB-hour" },
        { "net_out", "network out", "GiB" }, { "net_in", "network in", "GiB" },
        { "io", "disk IO", "GiB" },          { "base", "base fee", "slice-hour" },
        /* A VM's disk, shown when the daemon prices one (DiskGiBHour=). */
        { "disk", "VM disk", "GiB-hour" },
};

static int print_quote(json_object *reply, void *userdata) {
        char a[MONEY_FORMAT_MAX], b[MONEY_FORMAT_MAX], d[FORMAT_DURATION_MAX], m[FORMAT_SIZE_MAX];
        char g[FORMAT_SIZE_MAX];
        uint64_t cpus = 0, memory = 0, duration = 0, disk = 0;
        const char *currency = "";
        json_object *o, *prices, *v;

        (void) message_get_string(reply, "currency", &currency);
        (void) message_get_u64(reply, "cpus_milli", &cpus);
        (void) message_get_u64(reply, "memory_max", &memory);
        (void) message_get_u64(reply, "duration_usec", &duration);
        (void) message_get_u64(reply, "disk_size", &disk);
        printf("%" PRIu64 ".%03" PRIu64 " CPUs%s%s%s%s for %s at full use:\n", cpus / 1000, cpus % 1000,
               memory ? ", " : "", memory ? format_size(m, sizeof(m), memory) : "", disk ? ", a disk of " : "",
               disk ? format_size(g, sizeof(g), disk) : "", format_duration(d, sizeof(d), duration));
        if (!json_object_object_get_ex(reply, "items", &o) || !json_object_object_get_ex(reply, "prices", &prices)) {
                log_error("Malformed reply from prepayd: no items.");
                return -EPROTO;
        }
        for (size_t i = 0; i < ARRAY_SIZE(items); i++) {
                int64_t item = json_object_object_get_ex(o, items[i].name, &v) ? json_object_get_int64(v) : 0;
                int64_t price = json_object_object_get_ex(prices, items[i].name, &v) ? json_object_get_int64(v) : 0;
                bool traffic = strneq(items[i].name, "net", 3) || streq(items[i].name, "io");

                /* A daemon without VM slices has no disk price. */
                if (streq(items[i].name, "disk") && !json_object_object_get_ex(o, "disk", NULL) &&
                    !json_object_object_get_ex(prices, "disk", NULL))
                        continue;

                printf("  %-12s %14s %s   (%s %s per %s%s)\n", items[i].label,
                       traffic ? "as used" : money_format(a, sizeof(a), item), traffic ? "   " : currency,
                       money_format(b, sizeof(b), price), currency, items[i].unit, "");
        }
        printf("  %-12s %14s %s\n", "total", money_format(a, sizeof(a),
               json_object_object_get_ex(reply, "total", &v) ? json_object_get_int64(v) : 0), currency);
        return 0;
}

/* Sizes left at 0 are the daemon's to choose. */
static json_object *quote_request(uint64_t cpus, uint64_t memory, uint64_t duration, uint64_t disk) {
        json_object *req = client_request_slice("quote", NULL, NULL);

        if (req && cpus)
                json_object_object_add(req, "cpus_milli", json_object_new_int64((int64_t) cpus));
        if (req && memory)
                json_object_object_add(req, "memory_max", json_object_new_int64((int64_t) memory));
        if (req && duration)
                json_object_object_add(req, "duration_usec", json_object_new_int64((int64_t) duration));
        if (req && disk)
                json_object_object_add(req, "disk_size", json_object_new_int64((int64_t) disk));
        return req;
}

int quote_main(int argc, char *argv[]) {
        uint64_t cpus = 0, memory = 0, duration = 0, disk = 0;
        bool json = false;
        const struct arg_option options[] = {
                OPT_CPUS(&cpus),
                OPT_MEMORY(&memory),
                OPT_U64("disk", parse_size, &disk, "a size such as 10G"),
                OPT_HOURS(&duration),
                OPT_U64("duration", parse_duration, &duration, "a time such as 90min"),
                OPT_FLAG("json", &json),
                {}
        };
        int r;

        r = args_parse_no_operands(argc, argv, options, help, "See prepay quote --help.");
        if (r <= 0)
                return r < 0 ? 2 : 0;

        return client_run(quote_request(cpus, memory, duration, disk), false, json, print_quote, NULL);
}
