/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <systemd/sd-event.h>

/* The operator's hooks (OnLowBalance=, OnExhausted=): the command from
 * the config run without a shell, with what events.c puts in its
 * environment only (and PATH), stdin /dev/null, stdout and stderr the
 * daemon's, in a process group of its own, killed after HookTimeoutSec=,
 * at most HOOKS_MAX_RUNNING at once. */

struct config;
struct hooks;

enum hook_kind {
        HOOK_LOW_BALANCE, /* OnLowBalance= */
        HOOK_EXHAUSTED,   /* OnExhausted= */
        _HOOK_KIND_MAX,
};

/* Hooks running at once; an event beyond is logged and its hook skipped. */
#define HOOKS_MAX_RUNNING 8

/* Splits the hook commands of the config (-EINVAL for one that is not an
 * absolute path and arguments), blocks SIGCHLD (child event sources need
 * it). */
int hooks_new(const struct config *config, sd_event *event, struct hooks **ret);
/* Kills the hooks still running (SIGKILL to their process group) and
 * reaps them. Accepts NULL. */
void hooks_free(struct hooks *hs);
/* Starts the hook of kind, if one is configured, for event (its name)
 * of slice, with env (NULL-terminated "NAME=value" strings). Failures
 * are logged. Accepts NULL (no hooks). */
void hooks_run(struct hooks *hs, enum hook_kind kind, const char *slice, const char *event, const char *const env[]);

/* A hook command as OnLowBalance=/OnExhausted= hold it, split on spaces
 * into a NULL-terminated argv (to free with hook_argv_free()): runs of
 * spaces separate, nothing else is special: no quotes, no escapes, no
 * variables, "$(id)" and ";" are words like any other. Returns the number
 * of words; -EINVAL when there is none or the first is not an absolute
 * path. */
int hook_split_argv(const char *cmd, char ***ret_argv);
void hook_argv_free(char **argv);
