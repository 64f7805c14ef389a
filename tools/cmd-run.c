/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay run: buy a slice with a voucher, get moved into it, exec the
 * command. The owner token comes back once and is kept for the user.
 * With --unit the daemon starts a unit in the slice instead (Backend=
 * systemd), and this prints its name and exits. With --vm the slice holds
 * a guest booted from an image, reached over SSH with the buyer's key:
 * this prints how to log in and the guest's host key, and exits (after
 * the guest answers, with --wait). */
#include <inttypes.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay run --voucher FILE [OPTIONS] -- COMMAND [ARGS...]\n"
               "       prepay run --voucher FILE [OPTIONS] --unit NAME\n"
               "       prepay run --slice ID [--token TOKEN] (-- COMMAND [ARGS...] | --unit NAME)\n"
               "       prepay run --voucher FILE --vm IMAGE --ssh-key FILE [OPTIONS]\n"
               "\n"
               "Buys a slice with the voucher, moves this process into it and runs\n"
               "COMMAND there. The slice id and its owner token are printed on standard\n"
               "error; the token is also saved (see prepay(1)) for release, and beside\n"
               "it the receipt of the payment (prepay receipt verify checks it).\n"
               "The voucher must pay for MinRuntimeSec= at full use of the size asked.\n"
               "With --vm, the slice holds a virtual machine booted from IMAGE (see\n"
               "prepay images) instead; how to log in with ssh and the guest's host key\n"
               "are printed on standard output.\n"
               "\n"
               "  --voucher=FILE  The voucher that pays (\"-\": standard input); root\n"
               "                  may leave it out where AllowUnfunded=yes. Up to 16\n"
               "                  times: all are redeemed or none\n"
               "  --size-to-funds Let the daemon pick the CPUs the voucher pays for\n"
               "                  over --hours (memory: --memory)\n"
               "  --hours=H       With --size-to-funds: how long (2, 0.5); alone: the\n"
               "                  vouchers must pay for that long at the size asked\n"
               "  --token-file=F  Also write the owner token to F (mode 0600)\n"
               "  --slice=ID      Run in an existing slice instead (needs its owner\n"
               "                  token: --token, $PREPAY_TOKEN or the saved one)\n"
               "  --token=TOKEN   The owner token for --slice\n"
               "  --unit=NAME     Instead of a command, have the daemon start the\n"
               "                  systemd unit NAME in the slice as a transient unit\n"
               "                  (Backend=systemd); prints that unit's name and exits\n"
               "  --exhausted-action=throttle|freeze|kill\n"
               "                  What the slice gets when its balance is spent, if the\n"
               "                  host allows the choice (default: its ExhaustedAction=)\n"
               "  --donation-model=owner|pro-rata|lifo\n"
               "                  How the balance left at release is split among the\n"
               "                  funders, if the host offers it (DonationModels=;\n"
               "                  default: the first it offers)\n"
               "  --vm=IMAGE      Buy a VM slice booted from IMAGE; no COMMAND\n"
               "  --ssh-key=FILE  With --vm: the SSH public key to log in with (a .pub)\n"
               "  --disk=SIZE     With --vm: the guest's disk (10G; default: the image's\n"
               "                  minimum)\n"
               "  --wait          With --vm: wait until the guest answers on SSH\n"
               "  --known-hosts=F With --vm: add the guest's host key to the known_hosts\n"
               "                  file F (for StrictHostKeyChecking=yes)\n"
               "  --request-id=ID Make a retry of this request harmless (default: random)\n"
               "  --funder-key=F  Record the vouchers' credit as this funder's: an\n"
               "                  Ed25519 key in PEM (private or public; the public\n"
               "                  half is sent)\n"
               "  --cpus=N        CPU limit, in CPUs (0.5, 2; default: none)\n"
               "  --memory=SIZE   Memory limit (512M, 4G; default: DefaultMemoryMax=)\n"
               "  --pids=N        Limit on tasks (default: DefaultTasksMax=)\n"
               "  --cpu-period=T  Period the CPU limit applies over (default: CPUPeriod=)\n"
               "  -q, --quiet     Do not print the slice id (a new owner token is still\n"
               "                  printed: it is shown only this once)\n"
               "  -h, --help      Show this help\n"
               "\n"
               "With prepay --host https://HOST[:PORT] (see prepay --help) it buys from\n"
               "that host's prepay-gatewayd: a VM (--vm) or a unit the operator offers\n"
               "(--unit), never a command here; no --slice, --pids or --cpu-period.\n");
}

/* Asks the daemon to start unit in the slice; prints the transient unit's
 * name on standard output. */
static int run_unit(const char *slice, const char *token, const char *unit, bool quiet) {
        json_object *req, *reply = NULL;
        const char *name = NULL;
        int r;

        if (!slice)
                return log_error_errno(EPROTO, "Malformed reply from prepayd: no slice id.");
        req = client_request_slice("run-unit", slice, token);
        if (!req)
                return -ENOMEM;
        json_object_object_add(req, "unit", json_object_new_string(unit));
        r = client_call(req, &reply);
        if (r < 0)
                return r;
        if (message_get_string(reply, "unit", &name) < 0) {
                json_object_put(reply);
                return log_error_errno(EPROTO, "Malformed reply from prepayd: no unit name.");
        }
        if (!quiet)
                fprintf(stderr, "prepay: unit %s running in slice %s\n", name, slice);
        printf("%s\n", name);
        json_object_put(reply);
        return 0;
}

static int arg_action(const char *s, void *ret) {
        if (!streq(s, "throttle") && !streq(s, "freeze") && !streq(s, "kill"))
                return arg_invalid("--exhausted-action", s, "throttle, freeze or kill");
        *(const char **) ret = s;
        return 0;
}

static int arg_donation_model(const char *s, void *ret) {
        if (!streq(s, "owner") && !streq(s, "pro-rata") && !streq(s, "lifo"))
                return arg_invalid("--donation-model", s, "owner, pro-rata or lifo");
        *(const char **) ret = s;
        return 0;
}

static int arg_vm_image(const char *s, void *ret) {
        if (!vm_image_name_is_valid(s))
                return arg_invalid("--vm value", s, "the name of an image (prepay images lists them)");
        *(const char **) ret = s;
        return 0;
}

/* run --vm's own options. */
struct vm_args {
        const char *image, *ssh_key, *known_hosts;
        uint64_t disk;
        bool wait;
};

/* What goes with --vm and what does not; -EINVAL, said. */
static int vm_args_check(const struct vm_args *vm, bool command, const char *existing, const char *unit) {
        if (!vm->image) {
                if (vm->ssh_key || vm->disk || vm->wait || vm->known_hosts) {
                        log_error("--ssh-key, --disk, --wait and --known-hosts go with --vm.");
                        return -EINVAL;
                }
                return 0;
        }
        if (command) {
                log_error("--vm buys a VM to log in to, not a place for a command: give no COMMAND (run it over "
                          "ssh once the guest answers).");
                return -EINVAL;
        }
        if (existing || unit) {
                log_error("--vm buys a new VM slice: not with --%s.", existing ? "slice" : "unit");
                return -EINVAL;
        }
        if (!vm->ssh_key) {
                log_error("--vm needs --ssh-key FILE: the public key to log in with (such as "
                          "~/.ssh/id_ed25519.pub).");
                return -EINVAL;
        }
        return 0;
}

/* A VM slice bought: how to log in, the host key (into --known-hosts),
 * and with --wait the wait for the guest's SSH. The exit code. */
static int finish_vm(json_object *slice, const char *id, const char *token, const struct vm_args *args) {
        struct slice_info info;
        const char *err = NULL;
        bool known = false;
        int r, ret = 0;

        if (!slice || slice_info_from_json(slice, &info, &err) < 0) {
                log_error("Malformed slice in prepayd's reply: %s", err ?: "none");
                return 1;
        }
        /* A daemon older than VM slices ignores "vm_image". */
        if (!info.vm.present) {
                log_error("prepayd made slice %s a plain slice, without a VM: it does not know VM slices. Release "
                          "it for its change: prepay release %s", id, id);
                return 1;
        }
        vm_print_login(id, &info.vm);
        if (args->known_hosts && (info.vm.host_key[0] || !args->wait)) {
                if (vm_add_known_host(args->known_hosts, &info.vm) < 0)
                        ret = 1;
                known = true;
        }
        if (!args->wait)
                return ret;

        r = vm_wait_running(id, token, &info.vm);
        if (r == -EINTR)
                return 130;
        if (r < 0)
                return 1;
        if (args->known_hosts && !known && vm_add_known_host(args->known_hosts, &info.vm) < 0)
                ret = 1;
        return ret;
}

/* What a gateway (--host) does not offer, refused before anything is read
 * or bought. -EINVAL, said. */
static int remote_args_check(bool command, const char *existing, const struct slice_limits *limits) {
        if (command) {
                log_error("A command runs on this machine's prepayd only: over HTTPS (--host) buy a VM (--vm IMAGE "
                          "--ssh-key FILE) or a unit the operator offers (--unit NAME).");
                return -EINVAL;
        }
        if (existing) {
                log_error("--slice is not offered over HTTPS (--host): a gateway's slice runs what it was bought "
                          "with.");
                return -EINVAL;
        }
        if (limits->pids_max || limits->cpu_period_usec) {
                log_error("The HTTP API takes --cpus, --memory, --hours and --disk, not --pids or --cpu-period.");
                return -EINVAL;
        }
        return 0;
}

/* A funded slice bought: its balance, and the receipt when the reply
 * carries one (the payer's proof: prepay receipt verify). */
static void print_paid(json_object *reply, json_object *slice, const char *id) {
        struct slice_info info = {};
        char a[MONEY_FORMAT_MAX];

        if (slice)
                (void) slice_info_from_json(slice, &info, NULL);
        if (info.account.funded && client_remote(NULL) > 0)
                fprintf(stderr, "prepay: slice %s bought, balance %s %s\n", strna(id),
                        money_format(a, sizeof(a), info.account.balance), info.account.currency);
}

static int arg_unit(const char *s, void *ret) {
        if (!s[0] || strlen(s) > 255)
                return arg_invalid("--unit value", s, "a unit name such as job.service");
        *(const char **) ret = s;
        return 0;
}

int run_main(int argc, char *argv[]) {
        struct slice_limits limits = {};
        uint64_t cpus_milli = 0, duration = 0;
        const char *token_file = NULL, *request_id = NULL, *funder_key = NULL, *model = NULL;
        struct arg_vouchers vouchers = {};
        const char *existing = NULL, *given = NULL, *action = NULL, *unit = NULL;
        bool quiet = false, size_to_funds = false;
        struct vm_args vm = {};
        const struct arg_option options[] = {
                OPT_CALL("exhausted-action", arg_action, &action),
                OPT_CALL("donation-model", arg_donation_model, &model),
                OPT_STRING("slice", &existing),
                OPT_STRING("token", &given),
                OPT_CALL("unit", arg_unit, &unit),
                OPT_VOUCHERS(&vouchers),
                OPT_FLAG("size-to-funds", &size_to_funds),
                OPT_HOURS(&duration),
                OPT_STRING("token-file", &token_file),
                OPT_STRING("request-id", &request_id),
                OPT_STRING("funder-key", &funder_key),
                OPT_CPUS(&cpus_milli),
                OPT_MEMORY(&limits.memory_max),
                OPT_U64("pids", parse_u64, &limits.pids_max, "a positive whole number"),
                OPT_U64("cpu-period", parse_duration, &limits.cpu_period_usec, "a time such as 100ms"),
                { .name = "quiet", .short_name = 'q', .type = ARG_FLAG, .data = &quiet },
                OPT_CALL("vm", arg_vm_image, &vm.image),
                OPT_STRING("ssh-key", &vm.ssh_key),
                OPT_U64("disk", parse_size, &vm.disk, "a size such as 10G"),
                OPT_FLAG("wait", &vm.wait),
                OPT_STRING("known-hosts", &vm.known_hosts),
                {}
        };
        json_object *req, *reply = NULL, *o, *slice;
        const char *id = NULL, *token = NULL;
        _cleanup_(freep) char *saved = NULL, *line = NULL, *found = NULL, *ssh_key = NULL;
        int r, remote;

        /* Options end at COMMAND, whose options are its own. */
        r = args_parse(argc, argv, options, true, help);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        remote = client_remote(NULL);
        if (remote < 0 || (remote && remote_args_check(optind < argc, existing, &limits) < 0))
                return 2;

        if (vm_args_check(&vm, optind < argc, existing, unit) < 0)
                return 2;
        if (unit && optind < argc) {
                log_error("--unit starts a unit, not a command: give no COMMAND.");
                return 2;
        }
        if (!unit && !vm.image && optind >= argc) {
                log_error("No command given. Usage: prepay run [OPTIONS] -- COMMAND [ARGS...]");
                return 2;
        }

        if (size_to_funds && (duration == 0 || cpus_milli > 0)) {
                log_error("--size-to-funds needs --hours and picks the CPUs itself (no --cpus).");
                return 2;
        }
        if (vouchers.n == 0 && !existing && (size_to_funds || request_id || token_file || funder_key || model)) {
                log_error("--size-to-funds, --request-id, --token-file, --funder-key and --donation-model need "
                          "--voucher.");
                return 2;
        }
        /* Before anything is bought: a key that cannot be read spends nothing. */
        if (vm.ssh_key && client_read_ssh_key(vm.ssh_key, &ssh_key) < 0)
                return 1;

        if (existing) {
                if (arg_slice(existing) < 0)
                        return 2;
                if (vouchers.n > 0 || size_to_funds || cpus_milli || limits.memory_max || limits.pids_max ||
                    limits.cpu_period_usec || token_file || request_id || funder_key || model) {
                        log_error("--slice runs in a slice as it is: no voucher or limits (see prepay topup).");
                        return 2;
                }
                (void) client_find_token(existing, given, &found);
                if (unit)
                        return run_unit(existing, found, unit, quiet) < 0 ? 1 : 0;
                req = client_request_slice("attach", existing, found);
                if (!req || client_call(req, NULL) < 0)
                        return 1;
                if (!quiet)
                        fprintf(stderr, "prepay: running in slice %s\n", existing);
                fflush(stderr);
                goto exec;
        }

        req = client_request("create");
        if (!req)
                return log_oom(), 1;
        o = json_object_new_object();
        slice_limits_to_json(&limits, o);
        json_object_object_add(req, "limits", o);
        json_object_object_add(req, "attach", json_object_new_boolean(!unit && !vm.image));
        /* A gateway starts the unit as it makes the slice (no run-unit). */
        if (remote && unit)
                json_object_object_add(req, "unit", json_object_new_string(unit));
        if (vm.image) {
                json_object_object_add(req, "vm_image", json_object_new_string(vm.image));
                json_object_object_add(req, "ssh_key", json_object_new_string(ssh_key));
                if (vm.disk > 0)
                        json_object_object_add(req, "disk_size", json_object_new_int64((int64_t) vm.disk));
        }
        /* The daemon turns CPUs into a quota over its own CPUPeriod= (or
         * --cpu-period), which the client need not know. */
        if (cpus_milli > 0)
                json_object_object_add(req, "cpus_milli", json_object_new_int64((int64_t) cpus_milli));

        if (client_add_funder_key(req, funder_key) < 0 || client_add_vouchers(req, &vouchers) < 0) {
                json_object_put(req);
                return 1;
        }
        if (vouchers.n > 0) {
                if (request_id)
                        json_object_object_add(req, "request_id", json_object_new_string(request_id));
                if (action)
                        json_object_object_add(req, "exhausted_action", json_object_new_string(action));
                if (model)
                        json_object_object_add(req, "donation_model", json_object_new_string(model));
                if (size_to_funds)
                        json_object_object_add(req, "size_to_funds", json_object_new_boolean(true));
                if (duration > 0)
                        json_object_object_add(req, "duration_usec", json_object_new_int64((int64_t) duration));
                r = client_call_money(req, &reply);
        } else
                r = client_call(req, &reply);
        if (r < 0)
                return 1;

        if (json_object_object_get_ex(reply, "slice", &slice))
                (void) message_get_string(slice, "id", &id);
        /* The id names the token's file and is printed for the user to
         * type: one that is not a slice id is not from a prepayd. */
        if (id && !slice_id_is_valid(id)) {
                log_error("The daemon on %s answered with \"%.40s\" for a slice id, which is not one (s- and 8 to 16 "
                          "hex digits): refusing to save its token or to run anything.", client_peer(), id);
                json_object_put(reply);
                return 1;
        }
        (void) message_get_string(reply, "token", &token);
        if (token && id) {
                /* Shown once: the daemon keeps only its hash. */
                if (token_file) {
                        if (asprintf(&line, "%s\n", token) < 0 || client_write_secret_file(token_file, line) < 0)
                                log_error("Failed to write the owner token to %s; it is printed below.", token_file);
                }
                r = client_save_token(id, token, &saved);
                fprintf(stderr, "prepay: owner token %s%s%s%s\n", token, saved ? " (saved in " : "", strempty(saved),
                        saved ? ")" : "");
        }
        print_paid(reply, slice, id);
        if (id)
                (void) client_keep_receipt(id, reply, !quiet);
        if (remote && unit) {
                const char *name = NULL;

                r = message_get_string(reply, "unit", &name);
                if (r >= 0 && !quiet)
                        fprintf(stderr, "prepay: unit %s running in slice %s\n", name, strna(id));
                if (r >= 0)
                        printf("%s\n", name);
                else
                        log_error("The gateway did not say which unit it started in slice %s: see prepay status %s.",
                                  strna(id), strna(id));
                json_object_put(reply);
                return r < 0 ? 1 : 0;
        }
        if (vm.image) {
                r = finish_vm(slice, strna(id), token, &vm);
                json_object_put(reply);
                return r;
        }
        if (unit) {
                r = run_unit(id, token, unit, quiet);
                if (r < 0 && id && token)
                        log_error("Slice %s stays, with its balance: run in it (prepay run --slice %s) or release "
                                  "it (prepay release %s).", id, id, id);
                else if (r < 0 && id)
                        log_error("Slice %s stays: run in it (prepay run --slice %s) or destroy it (prepay destroy "
                                  "%s).", id, id, id);
                json_object_put(reply);
                return r < 0 ? 1 : 0;
        }
        if (!quiet) {
                struct slice_info info = {};
                char a[MONEY_FORMAT_MAX];

                if (slice)
                        (void) slice_info_from_json(slice, &info, NULL);
                if (info.account.funded)
                        fprintf(stderr, "prepay: running in slice %s (balance %s %s)\n", strna(id),
                                money_format(a, sizeof(a), info.account.balance), info.account.currency);
                else
                        fprintf(stderr, "prepay: running in slice %s\n", strna(id));
        }
        fflush(stderr);
        json_object_put(reply);

exec:
        execvp(argv[optind], argv + optind);
        r = errno;
        log_error_errno(r, "Failed to run '%s': %m", argv[optind]);
        return r == ENOENT ? 127 : 126;
}
