/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "config.h"

/* The manager is the hub: it makes the modules and wires them together
 * (the slices, the meter, the ledger batch, the keys, billing, events,
 * the control socket), and owns the event loop, the signals, the meter
 * timer, reloading the configuration and what the service manager is
 * told. */

struct slices;
struct meter;
struct batch;
struct keys;
struct billing;
struct events;
struct control;

struct manager {
        struct config *config;
        sd_event *event;
        struct slices *slices;
        struct meter *meter;
        struct batch *batch;
        struct keys *keys;
        struct billing *billing;
        struct events *events;
        struct control *control;
        struct vms *vms;            /* VM slices' guests */
        const char *config_path;    /* read again on SIGHUP */
        bool config_optional;       /* the default path, which may be absent */
        char last_status[160];      /* the last STATUS= sent to the service manager */
};

int manager_new(struct config *config, struct manager **ret);
/* Stops counting in user space; leaves slices and pinned counters in the
 * kernel (they go on while no daemon runs) unless no slice is left. */
void manager_free(struct manager *m);
int manager_run(struct manager *m);

/* SIGHUP: reads the configuration again. Prices, policies, hooks, issuer
 * keys, limits for new slices and the log level change at once; running
 * slices keep their limits and money, and keys that need a restart
 * (sockets, paths, the backend, currency, host key and id) keep their
 * running values with a warning. A file that does not load changes
 * nothing. */
int manager_reload(struct manager *m);

/* Tells the service manager (sd_notify) how many slices there are and the
 * money held for them, with "extra" (e.g. "READY=1\n") before it; without
 * extra, only when the text changed since the last time. */
void manager_notify_status(struct manager *m, const char *extra);

/* One meter pass over every slice now, then the charge pass, so what
 * follows is current. A slice found vanished is dropped: look slices up
 * again afterwards. */
void manager_sample(struct manager *m);
