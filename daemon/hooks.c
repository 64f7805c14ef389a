/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/message.h"
#include "common/parse.h"
#include "common/util.h"
#include "config.h"
#include "hooks.h"

/* A hook gets this and the PREPAY_* variables, nothing of the daemon's own
 * environment. */
#define HOOK_ENV_PATH "PATH=/usr/sbin:/usr/bin:/sbin:/bin"
#define HOOK_ENV_MAX 16

struct hook {
        struct hooks *hooks;
        pid_t pid;
        sd_event_source *child_source;
        sd_event_source *timer_source;
        const char *key; /* "OnExhausted=" */
        char slice[SLICE_ID_MAX];
        bool killed;
};

struct hooks {
        const struct config *config;
        sd_event *event;
        char **argv[_HOOK_KIND_MAX];
        struct hook *running[HOOKS_MAX_RUNNING];
};

/* ---- hook commands ---- */

void hook_argv_free(char **argv) {
        if (!argv)
                return;
        for (char **a = argv; *a; a++)
                free(*a);
        free(argv);
}

int hook_split_argv(const char *cmd, char ***ret_argv) {
        char **argv = NULL;
        size_t n = 0;

        if (!cmd || !ret_argv)
                return -EINVAL;

        for (const char *p = cmd;;) {
                size_t len;
                char **a;

                p += strspn(p, " ");
                if (!*p)
                        break;
                len = strcspn(p, " ");
                if (n >= INT32_MAX - 1)
                        goto fail;
                a = reallocarray(argv, n + 2, sizeof(char *));
                if (!a)
                        goto oom;
                argv = a;
                argv[n] = strndup(p, len);
                if (!argv[n])
                        goto oom;
                argv[++n] = NULL;
                p += len;
        }
        if (n == 0 || argv[0][0] != '/')
                goto fail;
        *ret_argv = argv;
        return (int) n;

oom:
        hook_argv_free(argv);
        return -ENOMEM;
fail:
        hook_argv_free(argv);
        return -EINVAL;
}

/* ---- hooks ---- */

static const char *hook_key(enum hook_kind k) {
        return k == HOOK_LOW_BALANCE ? "OnLowBalance=" : "OnExhausted=";
}

static void hook_free(struct hook *h) {
        struct hooks *hs;

        if (!h)
                return;
        hs = h->hooks;
        for (size_t i = 0; i < ARRAY_SIZE(hs->running); i++)
                if (hs->running[i] == h)
                        hs->running[i] = NULL;
        sd_event_source_disable_unref(h->child_source);
        sd_event_source_disable_unref(h->timer_source);
        free(h);
}

/* The whole process group: a hook script's own children go with it. */
static void hook_kill(struct hook *h) {
        if (kill(-h->pid, SIGKILL) < 0)
                (void) kill(h->pid, SIGKILL);
}

static int on_hook_exit(sd_event_source *source, const siginfo_t *si, void *userdata) {
        struct hook *h = userdata;

        if (h->killed)
                ; /* said so when it was killed */
        else if (si->si_code == CLD_EXITED && si->si_status != 0)
                log_warning("Hook %s for slice %s exited with status %d.", h->key, h->slice, si->si_status);
        else if (si->si_code == CLD_KILLED || si->si_code == CLD_DUMPED)
                log_warning("Hook %s for slice %s was killed by signal SIG%s.", h->key, h->slice,
                            sigabbrev_np(si->si_status) ?: "?");
        else
                log_debug("Hook %s for slice %s finished.", h->key, h->slice);

        /* Reaped here, not left to sd-event after this returns: the
         * source is unreferenced below, and whether a source let go in
         * its own callback still reaps is libsystemd's business. */
        (void) waitid(P_PID, (id_t) h->pid, &(siginfo_t) {}, WEXITED | WNOHANG);
        hook_free(h);
        return 0;
}

static int on_hook_timeout(sd_event_source *source, uint64_t usec, void *userdata) {
        struct hook *h = userdata;
        char buf[FORMAT_DURATION_MAX];

        log_warning("Hook %s for slice %s still running after %s (HookTimeoutSec=), killing it.", h->key, h->slice,
                    format_duration(buf, sizeof(buf), h->hooks->config->hook_timeout_usec));
        hook_kill(h);
        h->killed = true;
        return 0;
}

/* The child starts clean: no blocked signals (the daemon blocks SIGCHLD,
 * SIGTERM and SIGINT for sd-event), default dispositions, its own
 * process group (so a timeout kills all of it), stdin /dev/null, stdout
 * and stderr the daemon's log, and no other fd: ours are O_CLOEXEC, but
 * one the daemon was started with need not be. Returns a positive errno
 * (posix_spawn's convention) or 0. */
static int hook_spawn(char **argv, char *const envp[], pid_t *ret_pid) {
        posix_spawn_file_actions_t fa;
        posix_spawnattr_t attr;
        sigset_t none, all;
        int r;

        sigemptyset(&none);
        sigfillset(&all);
        r = posix_spawnattr_init(&attr);
        if (r != 0)
                return r;
        r = posix_spawn_file_actions_init(&fa);
        if (r != 0) {
                posix_spawnattr_destroy(&attr);
                return r;
        }
        r = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
        r = r ?: posix_spawnattr_setsigmask(&attr, &none);
        r = r ?: posix_spawnattr_setsigdefault(&attr, &all);
        r = r ?: posix_spawnattr_setpgroup(&attr, 0);
        r = r ?: posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
        r = r ?: posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
        r = r ?: posix_spawn(ret_pid, argv[0], &fa, &attr, argv, envp);
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&attr);
        return r;
}

/* A hook that runs is watched until it exits, and killed at its time
 * limit. */
static int hook_watch(struct hooks *hs, struct hook *h) {
        int r;

        r = sd_event_add_child(hs->event, &h->child_source, h->pid, WEXITED, on_hook_exit, h);
        if (r < 0) {
                log_error_errno(r, "Failed to watch hook %s (pid %d), killing it: %m", h->key, (int) h->pid);
                hook_kill(h);
                (void) waitpid(h->pid, NULL, 0);
                return r;
        }
        if (hs->config->hook_timeout_usec > 0) {
                r = sd_event_add_time_relative(hs->event, &h->timer_source, CLOCK_MONOTONIC,
                                               hs->config->hook_timeout_usec, 0, on_hook_timeout, h);
                if (r < 0)
                        log_warning_errno(r, "Failed to arm the time limit of hook %s (pid %d), ignoring: %m",
                                          h->key, (int) h->pid);
        }
        return 0;
}

void hooks_run(struct hooks *hs, enum hook_kind kind, const char *slice, const char *event, const char *const env[]) {
        char *envp[HOOK_ENV_MAX + 2] = { (char *) HOOK_ENV_PATH };
        _cleanup_(freep) struct hook *h = NULL;
        size_t slot, n = 1;
        int r;

        if (!hs || !hs->argv[kind])
                return;
        for (slot = 0; slot < ARRAY_SIZE(hs->running); slot++)
                if (!hs->running[slot])
                        break;
        if (slot >= ARRAY_SIZE(hs->running)) {
                log_warning("%d hooks are still running: not running %s for event %s of slice %s.",
                            HOOKS_MAX_RUNNING, hook_key(kind), event, slice);
                return;
        }
        for (const char *const *e = env; *e && n <= HOOK_ENV_MAX; e++)
                envp[n++] = (char *) *e;

        h = calloc(1, sizeof(*h));
        if (!h) {
                log_oom();
                return;
        }
        h->hooks = hs;
        h->key = hook_key(kind);
        snprintf(h->slice, sizeof(h->slice), "%s", slice);

        r = hook_spawn(hs->argv[kind], envp, &h->pid);
        if (r != 0) {
                log_warning_errno(r, "Failed to run hook %s%s for event %s of slice %s: %m", h->key,
                                  hs->argv[kind][0], event, slice);
                return;
        }
        if (hook_watch(hs, h) < 0)
                return;
        log_debug("Hook %s for event %s of slice %s started (pid %d).", h->key, event, slice, (int) h->pid);
        hs->running[slot] = TAKE_PTR(h);
}

static int hook_setup(struct hooks *hs, enum hook_kind k, const char *cmd) {
        int r;

        if (!cmd || !cmd[0])
                return 0;
        r = hook_split_argv(cmd, &hs->argv[k]);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0)
                return log_error_errno(r, "%s%s: not an absolute program path and arguments.", hook_key(k), cmd);
        if (access(hs->argv[k][0], X_OK) < 0)
                log_warning_errno(errno, "%s%s: %s cannot be run (%m); it is tried at each event all the same.",
                                  hook_key(k), cmd, hs->argv[k][0]);
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct hooks *, hooks_free);

int hooks_new(const struct config *config, sd_event *event, struct hooks **ret) {
        _cleanup_(hooks_freep) struct hooks *hs = NULL;
        sigset_t mask;
        int r;

        hs = calloc(1, sizeof(*hs));
        if (!hs)
                return log_oom();
        hs->config = config;
        hs->event = event;

        r = hook_setup(hs, HOOK_LOW_BALANCE, config->on_low_balance);
        if (r >= 0)
                r = hook_setup(hs, HOOK_EXHAUSTED, config->on_exhausted);
        if (r < 0)
                return r;

        /* sd_event_add_child() requires it. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "Failed to block SIGCHLD: %m");
        *ret = TAKE_PTR(hs);
        return 0;
}

void hooks_free(struct hooks *hs) {
        if (!hs)
                return;
        for (size_t i = 0; i < ARRAY_SIZE(hs->running); i++) {
                struct hook *h = hs->running[i];

                if (!h)
                        continue;
                log_info("Killing hook %s for slice %s (pid %d): the daemon stops.", h->key, h->slice, (int) h->pid);
                hook_kill(h);
                sd_event_source_disable_unref(TAKE_PTR(h->child_source));
                while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                hook_free(h);
        }
        for (size_t k = 0; k < ARRAY_SIZE(hs->argv); k++)
                hook_argv_free(hs->argv[k]);
        free(hs);
}
