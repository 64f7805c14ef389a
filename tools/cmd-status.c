/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay status / prepay list: a slice in detail, or one line per slice. */
#include <inttypes.h>
#include <time.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

static char *format_time(char *buf, size_t n, uint64_t realtime_usec) {
        time_t t = (time_t) (realtime_usec / USEC_PER_SEC);
        struct tm tm;

        if (realtime_usec == 0 || !localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                snprintf(buf, n, "n/a");
        return buf;
}

static char *format_cpus(char *buf, size_t n, const struct slice_limits *l) {
        uint64_t milli;

        if (l->cpu_quota_usec == 0 || l->cpu_period_usec == 0) {
                snprintf(buf, n, "no limit");
                return buf;
        }
        milli = l->cpu_quota_usec * 1000 / l->cpu_period_usec;
        snprintf(buf, n, "%" PRIu64 ".%02" PRIu64 " CPU", milli / 1000, milli % 1000 / 10);
        return buf;
}

static void print_account(const struct slice_account_info *a) {
        static const char *const labels[SLICE_RESOURCES] = {
                "cpu", "memory", "net out", "net in", "disk io", "base fee",
        };
        char m[MONEY_FORMAT_MAX], n[MONEY_FORMAT_MAX], d[FORMAT_DURATION_MAX];
        int64_t total = 0;
        bool first = true;

        printf("  balance:  %s %s (%s; %s; when spent: %s)\n", money_format(m, sizeof(m), a->balance), a->currency,
               a->state, a->enforcement, a->exhausted_action);
        if (a->donation_model[0])
                printf("  donation: %s%s\n", a->donation_model,
                       streq(a->anonymous_share, "host") ? " (anonymous shares kept by the host)" : "");
        if (a->burn_rate > 0)
                printf("  burning:  %s %s/s, %s left at that rate\n", money_format(m, sizeof(m), a->burn_rate),
                       a->currency, format_duration(d, sizeof(d), a->time_left_usec));
        else
                printf("  burning:  nothing now\n");
        printf("  charged: ");
        for (size_t i = 0; i < SLICE_RESOURCES; i++) {
                (void) money_add(total, a->charged[i], &total);
                if (a->charged[i] == 0)
                        continue;
                printf("%s %s %s", first ? "" : ",", labels[i], money_format(m, sizeof(m), a->charged[i]));
                first = false;
        }
        printf("%s (total %s %s)\n", first ? " nothing yet" : "", money_format(m, sizeof(m), total), a->currency);
        printf("  funded:   %s %s credited, %s refunded\n", money_format(m, sizeof(m), a->credited), a->currency,
               money_format(n, sizeof(n), a->refunded));
        if (a->overshoot > 0)
                printf("  overshoot: %s %s used beyond the balance (not charged)\n",
                       money_format(m, sizeof(m), a->overshoot), a->currency);
        if (a->revenue > 0 || a->investors.open)
                printf("  revenue:  %s %s paid to it by its users, its part\n", money_format(m, sizeof(m), a->revenue),
                       a->currency);
        if (a->investors.open) {
                printf("  investors: %s %s", a->investors.terms, a->investors.rate);
                if (a->investors.cap > 0)
                        printf(", cap %s %s", money_format(m, sizeof(m), a->investors.cap), a->currency);
                printf("; %s %s invested", money_format(m, sizeof(m), a->investors.invested), a->currency);
                printf(", %s earned", money_format(m, sizeof(m), a->investors.earned));
                printf(", %s claimed\n", money_format(n, sizeof(n), a->investors.claimed));
        }
}

static void print_vm(const struct slice_vm_info *vm) {
        char size[VM_LINE_MAX], login[VM_LINE_MAX], line[VM_LINE_MAX];

        printf("  vm:       %s\n", vm_format_size(size, sizeof(size), vm));
        printf("  guest:    %s", vm->state[0] ? vm->state : "unknown");
        if (vm->pid > 0)
                printf(" (QEMU pid %" PRIu64 ")", vm->pid);
        printf("\n  ssh:      %s\n", vm_format_login(login, sizeof(login), vm));
        if (vm_format_known_hosts(line, sizeof(line), vm)) {
                printf("  host key: %s\n", vm->host_key);
                printf("  known_hosts line: %s\n", line);
        }
}

void print_slice(const struct slice_info *s) {
        char a[FORMAT_DURATION_MAX], b[FORMAT_DURATION_MAX], c[FORMAT_SIZE_MAX], d[FORMAT_SIZE_MAX];
        struct timespec now;
        uint64_t now_usec;

        clock_gettime(CLOCK_REALTIME, &now);
        now_usec = (uint64_t) now.tv_sec * USEC_PER_SEC + (uint64_t) now.tv_nsec / 1000;

        printf("%s  %s\n", s->id, s->state);
        /* A gateway does not tell a remote buyer the host's cgroup paths. */
        if (s->cgroup[0])
                printf("  cgroup:   %s (id %" PRIu64 ")\n", s->cgroup, s->cgroup_id);
        printf("  created:  %s (%s ago)\n", format_time(a, sizeof(a), s->created_usec),
               format_duration(b, sizeof(b), now_usec > s->created_usec ? now_usec - s->created_usec : 0));
        printf("  limits:   cpu %s", format_cpus(a, sizeof(a), &s->limits));
        printf(", memory %s", s->limits.memory_max ? format_size(c, sizeof(c), s->limits.memory_max) : "no limit");
        if (s->limits.pids_max)
                printf(", tasks %" PRIu64 "\n", s->limits.pids_max);
        else
                printf(", tasks no limit\n");
        printf("  cpu:      %s used", format_duration(a, sizeof(a), s->usage.cpu_usec));
        if (s->usage.cpu_nr_throttled)
                printf(", throttled %s in %" PRIu64 " periods",
                       format_duration(b, sizeof(b), s->usage.cpu_throttled_usec), s->usage.cpu_nr_throttled);
        printf("\n");
        printf("  memory:   %s now, %s peak, %s·s\n", format_size(c, sizeof(c), s->usage.memory_current),
               format_size(d, sizeof(d), s->usage.memory_peak),
               format_size(a, sizeof(a), s->usage.memory_byte_sec));
        printf("  network:  in %s (%" PRIu64 " packets), out %s (%" PRIu64 " packets)\n",
               format_size(c, sizeof(c), s->usage.net_rx_bytes), s->usage.net_rx_packets,
               format_size(d, sizeof(d), s->usage.net_tx_bytes), s->usage.net_tx_packets);
        printf("  io:       read %s, written %s\n", format_size(c, sizeof(c), s->usage.io_read_bytes),
               format_size(d, sizeof(d), s->usage.io_write_bytes));
        printf("  tasks:    %" PRIu64 "\n", s->usage.pids_current);
        if (s->usage.oom_kills)
                printf("  oom:      %" PRIu64 " process%s OOM-killed, last at %s\n", s->usage.oom_kills,
                       s->usage.oom_kills == 1 ? "" : "es", format_time(a, sizeof(a), s->last_oom_usec));
        if (s->vm.present)
                print_vm(&s->vm);
        if (s->account.funded)
                print_account(&s->account);
        else
                printf("  money:    unfunded (metering only)\n");
}

void print_slice_table_header(void) {
        printf("%-12s %-8s %-9s %-9s %10s %9s %9s %9s %5s %4s %14s\n", "SLICE", "STATE", "CPUS", "MEMMAX", "CPU",
               "MEM", "NET-OUT", "NET-IN", "TASKS", "OOM", "BALANCE");
}

void print_slice_row(const struct slice_info *s) {
        char cpus[32], max[FORMAT_SIZE_MAX], cpu[FORMAT_DURATION_MAX], mem[FORMAT_SIZE_MAX], tx[FORMAT_SIZE_MAX],
                rx[FORMAT_SIZE_MAX], bal[MONEY_FORMAT_MAX + CURRENCY_SIZE + 1];

        format_cpus(cpus, sizeof(cpus), &s->limits);
        if (s->limits.cpu_quota_usec == 0)
                snprintf(cpus, sizeof(cpus), "-");
        else
                cpus[strcspn(cpus, " ")] = 0;
        if (s->limits.memory_max)
                format_size(max, sizeof(max), s->limits.memory_max);
        else
                snprintf(max, sizeof(max), "-");
        if (s->account.funded) {
                char m[MONEY_FORMAT_MAX];

                snprintf(bal, sizeof(bal), "%s %s", money_format(m, sizeof(m), s->account.balance), s->account.currency);
        } else
                snprintf(bal, sizeof(bal), "-");
        printf("%-12s %-8s %-9s %-9s %10s %9s %9s %9s %5" PRIu64 " %4" PRIu64 " %14s\n", s->id, s->state, cpus, max,
               format_duration(cpu, sizeof(cpu), s->usage.cpu_usec),
               format_size(mem, sizeof(mem), s->usage.memory_current),
               format_size(tx, sizeof(tx), s->usage.net_tx_bytes), format_size(rx, sizeof(rx), s->usage.net_rx_bytes),
               s->usage.pids_current, s->usage.oom_kills, bal);
        /* A VM on a line of its own below its slice's: the columns above
         * stay as scripts read them. */
        if (s->vm.present) {
                char size[VM_LINE_MAX], login[VM_LINE_MAX];

                printf("%-12s vm %s; guest %s; %s\n", "", vm_format_size(size, sizeof(size), &s->vm),
                       s->vm.state[0] ? s->vm.state : "unknown", vm_format_login(login, sizeof(login), &s->vm));
        }
}

/* What the daemon shows of a slice to a caller without its owner token
 * (prepayd(8)): what a donor needs to decide on a top-up. */
static void print_public_slice(const struct slice_info *s) {
        char m[MONEY_FORMAT_MAX], d[FORMAT_DURATION_MAX];
        const struct slice_account_info *a = &s->account;

        printf("%s  %s\n", s->id, s->state);
        if (!a->funded)
                printf("  money:    unfunded (metering only)\n");
        else {
                printf("  balance:  %s %s (%s; %s; when spent: %s)\n", money_format(m, sizeof(m), a->balance),
                       a->currency, a->state, a->enforcement, a->exhausted_action);
                if (a->donation_model[0])
                        printf("  donation: %s%s\n", a->donation_model,
                               streq(a->anonymous_share, "host") ? " (anonymous shares kept by the host)" : "");
                if (a->burn_rate > 0)
                        printf("  burning:  %s %s/s, %s left at that rate\n", money_format(m, sizeof(m), a->burn_rate),
                               a->currency, format_duration(d, sizeof(d), a->time_left_usec));
                else
                        printf("  burning:  nothing now\n");
                if (a->investors.open) {
                        printf("  investors: %s %s", a->investors.terms, a->investors.rate);
                        if (a->investors.cap > 0)
                                printf(", cap %s %s", money_format(m, sizeof(m), a->investors.cap), a->currency);
                        printf(" (prepay topup --funder-key invests)\n");
                }
        }
        fprintf(stderr, "Only what anyone may see of slice %s: its owner token (--token, $PREPAY_TOKEN or the one "
                "\"prepay run\" saved) or an operator sees the rest.\n", s->id);
}

/* The meter's schedule of the slice, when the daemon says it (status
 * replies, not list's records). */
static void print_meter(json_object *o) {
        char a[FORMAT_DURATION_MAX], b[FORMAT_DURATION_MAX];
        uint64_t read_usec, wait_usec;
        struct timespec now;
        uint64_t now_usec;
        json_object *m;

        if (!json_object_object_get_ex(o, "meter", &m) || message_get_u64(m, "read_usec", &read_usec) < 0 ||
            message_get_u64(m, "wait_usec", &wait_usec) < 0 || read_usec == 0)
                return;
        clock_gettime(CLOCK_REALTIME, &now);
        now_usec = (uint64_t) now.tv_sec * USEC_PER_SEC + (uint64_t) now.tv_nsec / 1000;
        printf("  meter:    read %s ago, the next read %s after that\n",
               format_duration(a, sizeof(a), now_usec > read_usec ? now_usec - read_usec : 0),
               format_duration(b, sizeof(b), wait_usec));
}

/* Who sponsors it now, when it is offered to sponsors (prepay sponsor). */
static void print_sponsor(json_object *o) {
        json_object *sp, *c, *v;
        char a[64];

        if (!json_object_object_get_ex(o, "sponsorship", &sp) || !sp)
                return;
        if (!json_object_object_get_ex(sp, "current", &c) || !c) {
                printf("  sponsor:  none now (offered: prepay sponsor show)\n");
                return;
        }
        printf("  sponsor:  %s", json_object_object_get_ex(c, "name", &v) ? json_object_get_string(v) : "?");
        if (json_object_object_get_ex(c, "url", &v) && v)
                printf(" (%s)", json_object_get_string(v));
        printf(" until %s\n", format_time(a, sizeof(a), json_object_object_get_ex(c, "until_usec", &v) ?
                                                                 (uint64_t) json_object_get_int64(v) : 0));
}

static int print_one(json_object *o, bool json) {
        struct slice_info info;
        const char *err = NULL;
        bool public = false;

        if (json) {
                client_print_json(o);
                return 0;
        }
        if (slice_info_from_json(o, &info, &err) < 0)
                return log_error_errno(EPROTO, "Malformed slice in prepayd's reply: %s", strna(err));
        (void) message_get_bool(o, "public", &public);
        if (public)
                print_public_slice(&info);
        else {
                print_slice(&info);
                print_meter(o);
        }
        print_sponsor(o);
        return 0;
}

static void note_only_own(int64_t only_uid) {
        if (only_uid >= 0)
                fprintf(stderr, "Only the slices of uid %" PRIi64 " are shown: operators see every slice.\n",
                        only_uid);
}

/* The whole list, page after page (the daemon sends as many slices as fit
 * one message and says where to go on): full records, or with brief the
 * rows a table needs (slice_row_to_json()), a tenth of the bytes to send
 * and parse. Each page goes to on_page as it comes, so that a table of
 * ten thousand slices never holds more than a page. A client of the
 * daemon gets its own slices only, which is said on standard error before
 * the first page (unless quiet: top's screen). Returns the first error of
 * on_page, which does not stop the listing. */
int list_fetch(bool brief, bool quiet, list_page_fn on_page, void *userdata) {
        const char *key = brief ? "rows" : "slices";
        uint64_t cursor = 0;
        int ret = 0;

        for (;;) {
                json_object *req, *reply = NULL, *page, *v;
                uint64_t next = 0;
                int r;

                req = client_request("list");
                if (brief)
                        json_object_object_add(req, "brief", json_object_new_boolean(true));
                if (cursor > 0)
                        json_object_object_add(req, "cursor", json_object_new_int64((int64_t) cursor));
                r = client_call(req, &reply);
                if (r < 0)
                        return r;
                /* A daemon older than "brief" ignores it and sends records. */
                if ((!json_object_object_get_ex(reply, key, &page) &&
                     !json_object_object_get_ex(reply, "slices", &page)) ||
                    !json_object_is_type(page, json_type_array)) {
                        json_object_put(reply);
                        return log_error_errno(EPROTO, "Malformed reply from prepayd: no slice list.");
                }
                if (cursor == 0 && !quiet && json_object_object_get_ex(reply, "only_uid", &v))
                        note_only_own(json_object_get_int64(v));
                r = on_page(page, userdata);
                if (r < 0 && ret == 0)
                        ret = r;
                r = message_get_u64(reply, "next", &next);
                json_object_put(reply);
                if (r < 0 || next <= cursor)
                        break;
                cursor = next;
        }
        return ret;
}

/* A list_page_fn: the page's slices appended to the array userdata. */
static int collect_page(json_object *page, void *userdata) {
        json_object *all = userdata;

        for (size_t i = 0; i < json_object_array_length(page); i++)
                if (json_object_array_add(all, json_object_get(json_object_array_get_idx(page, i))) < 0)
                        return log_oom();
        return 0;
}

/* Every slice's record, in one array. */
static int fetch_records(json_object **ret_array) {
        json_object *all = json_object_new_array();
        int r;

        if (!all)
                return log_oom();
        r = list_fetch(false, false, collect_page, all);
        if (r < 0) {
                json_object_put(all);
                return r;
        }
        *ret_array = all;
        return 0;
}

static void status_help(void) {
        printf("Usage: prepay status [SLICE] [--json] [--token TOKEN | --token-file FILE]\n"
               "\n"
               "Shows a slice's state, limits, usage and money (all of the caller's slices\n"
               "without SLICE). Without the slice's owner token, unless the caller made it\n"
               "or is an operator, only what anyone may see: its state, balance, burn rate\n"
               "and time left.\n"
               "\n"
               "A VM slice also shows its guest: image, vCPUs, RAM, disk, accelerator,\n"
               "state, how to log in with ssh and the guest's host key.\n"
               "\n"
               "  --json             Print the slice's record as JSON\n"
               HELP_TOKEN
               HELP_TOKEN_FILE
               "  -h, --help         Show this help\n");
}

int status_main(int argc, char *argv[]) {
        json_object *req, *reply = NULL, *o, *array = NULL;
        _cleanup_(freep) char *token = NULL;
        struct arg_view view;
        int r;

        r = args_parse_view(argc, argv, status_help, "Usage: prepay status [SLICE] [--json] [--token TOKEN]", false,
                            &view);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        r = 0;

        if (!view.slice) {
                size_t n;

                if (client_remote(NULL) != 0) {
                        if (client_remote(NULL) > 0)
                                log_error("Over HTTPS (--host) status shows one slice: name it.");
                        return 2;
                }

                if (fetch_records(&array) < 0)
                        return 1;
                n = json_object_array_length(array);
                if (view.json)
                        client_print_json(array);
                else
                        for (size_t i = 0; i < n; i++) {
                                if (i > 0)
                                        printf("\n");
                                if (print_one(json_object_array_get_idx(array, i), false) < 0)
                                        r = -EPROTO;
                        }
                if (!view.json && n == 0)
                        printf("No slices.\n");
                json_object_put(array);
                return r < 0 ? 1 : 0;
        }

        if (arg_slice(view.slice) < 0)
                return 2;
        if (arg_token_find(&view.token, view.slice, &token) < 0)
                return 1;

        req = client_request_slice("status", view.slice, token);
        if (!req || client_call(req, &reply) < 0)
                return 1;
        if (!json_object_object_get_ex(reply, "slice", &o)) {
                json_object_put(reply);
                log_error("Malformed reply from prepayd: no slice.");
                return 1;
        }
        r = print_one(o, view.json);
        json_object_put(reply);
        return r < 0 ? 1 : 0;
}

static void list_help(void) {
        printf("Usage: prepay list [--json]\n\n"
               "Lists slices, one line each: every slice for an operator (root or the\n"
               "daemon's AdminGroup=), else the caller's own, which it says on standard\n"
               "error. A VM slice has a second line: its guest and how to log in.\n"
               "\n"
               "  --json       Print the slices' records as a JSON array\n"
               "  -h, --help   Show this help\n");
}

/* A list_page_fn: the page's slices as lines of the table, its header
 * before the first (*userdata: whether it was printed). A malformed slice
 * is said and skipped. */
static int print_page(json_object *page, void *userdata) {
        bool *header = userdata;
        int r = 0;

        if (!*header) {
                print_slice_table_header();
                *header = true;
        }
        for (size_t i = 0; i < json_object_array_length(page); i++) {
                json_object *o = json_object_array_get_idx(page, i);
                struct slice_info info;
                const char *err = NULL;

                if ((json_object_is_type(o, json_type_array) ? slice_row_from_json(o, &info, &err)
                                                             : slice_info_from_json(o, &info, &err)) < 0) {
                        log_error("Malformed slice in prepayd's reply: %s", strna(err));
                        r = -EPROTO;
                        continue;
                }
                print_slice_row(&info);
        }
        return r;
}

int list_main(int argc, char *argv[]) {
        bool json = false, header = false;
        const struct arg_option options[] = {
                OPT_FLAG("json", &json),
                {}
        };
        json_object *array = NULL;
        int r;

        r = args_parse_no_operands(argc, argv, options, list_help, "Usage: prepay list [--json]");
        if (r <= 0)
                return r < 0 ? 2 : 0;

        if (!json)
                return list_fetch(true, false, print_page, &header) < 0 ? 1 : 0;

        if (fetch_records(&array) < 0)
                return 1;
        client_print_json(array);
        json_object_put(array);
        return 0;
}
