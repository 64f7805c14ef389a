/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the CLI shows of a VM slice (run --vm, status, list): its size,
 * how to log in, the guest's host key as a known_hosts line, and the wait
 * until the guest's SSH answers.
 *
 * The buyer pastes the login into a shell and the known_hosts line into
 * a file ssh trusts: both are built from what the daemon sent, so each
 * part is checked for the form it must have (a host name, a user name, a
 * key without a line break) and nothing is printed for a part that has
 * not. A key with a newline in it would plant a second, arbitrary line in
 * known_hosts. */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <time.h>

#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

#define VM_WAIT_MSEC 500

static bool only_of(const char *s, const char *allowed) {
        return s[0] && s[strspn(s, allowed)] == 0;
}

/* A host name, an IPv4 or an IPv6 address: never an option or a word
 * a shell would act on. */
static bool host_ok(const char *s) {
        return s[0] != '-' && only_of(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.:-");
}

static bool user_ok(const char *s) {
        return s[0] != '-' && only_of(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
}

/* "TYPE BASE64 [COMMENT]" in printable ASCII, one line. */
static bool host_key_ok(const char *s) {
        const char *space = strchr(s, ' ');

        if (!space || space == s || !only_of(space + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                        "0123456789+/= !#$%&'()*,-.:;<>?@[]^_`{|}~"))
                return false;
        for (const char *p = s; p < space; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789@.-", *p))
                        return false;
        return space[1] != ' ' && space[1] != 0;
}

bool vm_login_known(const struct slice_vm_info *vm) {
        return vm->ssh_port > 0 && host_ok(vm->ssh_host) && user_ok(vm->ssh_user);
}

char *vm_format_login(char *buf, size_t n, const struct slice_vm_info *vm) {
        if (!vm_login_known(vm))
                snprintf(buf, n, "(not known yet)");
        else if (vm->ssh_port == 22)
                snprintf(buf, n, "ssh %s@%s", vm->ssh_user, vm->ssh_host);
        else
                snprintf(buf, n, "ssh -p %" PRIu64 " %s@%s", vm->ssh_port, vm->ssh_user, vm->ssh_host);
        return buf;
}

/* How known_hosts names a host: by itself on port 22, else "[HOST]:PORT". */
static void format_host_pattern(char *buf, size_t n, const struct slice_vm_info *vm) {
        if (vm->ssh_port == 22)
                snprintf(buf, n, "%s", vm->ssh_host);
        else
                snprintf(buf, n, "[%s]:%" PRIu64, vm->ssh_host, vm->ssh_port);
}

bool vm_format_known_hosts(char *buf, size_t n, const struct slice_vm_info *vm) {
        char host[VM_LINE_MAX];

        if (vm->ssh_port == 0 || !host_ok(vm->ssh_host) || !host_key_ok(vm->host_key))
                return false;
        format_host_pattern(host, sizeof(host), vm);
        snprintf(buf, n, "%s %s", host, vm->host_key);
        return true;
}

char *vm_format_size(char *buf, size_t n, const struct slice_vm_info *vm) {
        char ram[FORMAT_SIZE_MAX], disk[FORMAT_SIZE_MAX];

        snprintf(buf, n, "%s, %" PRIu64 " vCPU%s, %s RAM, %s disk, %s", vm->image, vm->vcpus,
                 vm->vcpus == 1 ? "" : "s", format_size(ram, sizeof(ram), vm->memory),
                 format_size(disk, sizeof(disk), vm->disk_size), vm->accel[0] ? vm->accel : "?");
        return buf;
}

void vm_print_login(const char *id, const struct slice_vm_info *vm) {
        char size[VM_LINE_MAX], login[VM_LINE_MAX], line[VM_LINE_MAX];

        printf("Slice %s: %s; %s\n", id, vm_format_size(size, sizeof(size), vm), vm->state);
        printf("Log in with:  %s\n", vm_format_login(login, sizeof(login), vm));
        if (vm_format_known_hosts(line, sizeof(line), vm)) {
                printf("Host key:     %s\n", vm->host_key);
                printf("known_hosts:  %s\n", line);
        } else
                printf("Host key:     (not known: check it at the first login)\n");
        fflush(stdout);
}

/* Whether the open file f has line already, and whether it names the
 * same host with another key (plain host patterns only: a hashed one,
 * HashKnownHosts=yes, cannot be told apart without its salt). */
static void scan_known_hosts(FILE *f, const char *line, const char *host, bool *ret_same, bool *ret_other,
                             bool *ret_unterminated) {
        _cleanup_(freep) char *l = NULL;
        size_t size = 0, host_len = strlen(host);
        ssize_t n;

        *ret_same = *ret_other = *ret_unterminated = false;
        while ((n = getline(&l, &size, f)) > 0) {
                *ret_unterminated = l[n - 1] != '\n';
                l[strcspn(l, "\n")] = 0;
                if (streq(l, line))
                        *ret_same = true;
                else if (strneq(l, host, host_len) && l[host_len] == ' ')
                        *ret_other = true;
        }
}

int vm_add_known_host(const char *path, const struct slice_vm_info *vm) {
        char line[VM_LINE_MAX], host[VM_LINE_MAX];
        _cleanup_(fclosep) FILE *f = NULL;
        bool same, other, unterminated;

        if (!vm_format_known_hosts(line, sizeof(line), vm))
                return log_error_errno(EPROTO, "prepayd did not send the guest's host key (or sent a malformed "
                                       "one): nothing was added to %s.", path);
        format_host_pattern(host, sizeof(host), vm);

        /* Appended, never rewritten: the file is the user's. */
        f = fopen(path, "a+e");
        if (!f)
                return log_error_errno(errno, "Failed to open %s to add the guest's host key: %m", path);
        scan_known_hosts(f, line, host, &same, &other, &unterminated);
        if (other)
                log_warning("%s already holds another key for %s, an earlier guest's on the same port, which ssh "
                            "trusts as well: remove it with ssh-keygen -R '%s' -f %s (then add this one again).",
                            path, host, host, path);
        if (same)
                return 0;
        /* After a last line without its newline, not glued to it. */
        if (fprintf(f, "%s%s\n", unterminated ? "\n" : "", line) < 0 || fflush(f) != 0)
                return log_error_errno(errno ?: EIO, "Failed to add the guest's host key to %s: %m", path);
        return 0;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig) {
        interrupted = sig;
}

static int fetch_vm(const char *slice, const char *token, struct slice_vm_info *ret) {
        json_object *req, *reply = NULL, *o;
        struct slice_info info;
        const char *err = NULL;
        int r;

        req = client_request_slice("status", slice, token);
        if (!req)
                return -ENOMEM;
        r = client_call(req, &reply);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(reply, "slice", &o) || slice_info_from_json(o, &info, &err) < 0)
                r = log_error_errno(EPROTO, "Malformed reply from prepayd: %s", err ?: "no slice");
        else if (!info.vm.present)
                r = log_error_errno(EPROTO, "Slice %s holds no VM.", slice);
        else
                *ret = info.vm;
        json_object_put(reply);
        return r;
}

/* The daemon says "running" once the guest's sshd answers; a port
 * forwarded by QEMU accepts connections long before (and while the guest
 * is paused), so the client does not try the port itself. */
int vm_wait_running(const char *slice, const char *token, struct slice_vm_info *vm) {
        struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
        const struct timespec pause = { .tv_nsec = VM_WAIT_MSEC * 1000000L };
        char last[sizeof(vm->state)] = "", login[VM_LINE_MAX], d[FORMAT_DURATION_MAX];
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        struct slice_vm_info given = *vm;
        struct progress progress;
        int r;

        /* Between the lines that say each new state, on a terminal, how
         * long it has been. */
        progress_start(&progress, "prepay: waiting for the guest's SSH");
        /* Ctrl-C ends the wait, not the guest, which is the daemon's. */
        interrupted = 0;
        (void) sigaction(SIGINT, &sa, &old_int);
        (void) sigaction(SIGTERM, &sa, &old_term);
        for (;;) {
                r = fetch_vm(slice, token, vm);
                progress_end(&progress);
                if (r < 0)
                        break;
                /* A gateway said where to connect when it sold the slice;
                 * status shows prepayd's own idea (VmHostName=). */
                if (client_remote(NULL) > 0 && vm_login_known(&given)) {
                        snprintf(vm->ssh_host, sizeof(vm->ssh_host), "%s", given.ssh_host);
                        vm->ssh_port = given.ssh_port;
                        snprintf(vm->ssh_user, sizeof(vm->ssh_user), "%s", given.ssh_user);
                }
                if (streq(vm->state, "running")) {
                        fprintf(stderr, "prepay: the guest of %s answers on SSH after %s: %s\n", slice,
                                format_duration(d, sizeof(d), now_usec(CLOCK_MONOTONIC) - start),
                                vm_format_login(login, sizeof(login), vm));
                        r = 0;
                        break;
                }
                if (streq(vm->state, "stopped")) {
                        r = log_error_errno(ECHILD, "The guest of %s stopped before its SSH answered: see prepay "
                                            "status %s; release it for its change (prepay release %s).", slice,
                                            slice, slice);
                        break;
                }
                if (!streq(last, vm->state)) {
                        fprintf(stderr, "prepay: waiting for the guest of %s to answer on SSH (%s; Ctrl-C stops "
                                "waiting, not the guest)\n", slice, vm->state[0] ? vm->state : "no state yet");
                        snprintf(last, sizeof(last), "%s", vm->state);
                }
                progress_say(&progress, "%s", vm->state[0] ? vm->state : "no state yet");
                if (!interrupted)
                        (void) nanosleep(&pause, NULL);
                if (interrupted) {
                        progress_end(&progress);
                        log_notice("Stopped waiting; the guest goes on (prepay status %s).", slice);
                        r = -EINTR;
                        break;
                }
        }
        (void) sigaction(SIGINT, &old_int, NULL);
        (void) sigaction(SIGTERM, &old_term, NULL);
        return r;
}
