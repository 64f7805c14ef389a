/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "enforcer.h"
#include "ledger.h"

/* What the money side keeps in each slice (struct slice, slices.h):
 * data only, so that slices.h need not include billing's or enforce's
 * headers. billing.c owns struct slice_account, enforce.c the actions
 * on struct slice_enforce; slices.c writes both's state-file fields. */

struct billing;
struct enforce;
struct slice;

/* A place on one of billing's lists of slices (billing.c): prevp is NULL
 * while the slice is on none. */
struct account_link {
        struct slice *next;
        struct slice **prevp;
};

/* What the enforcer did to a slice, kept in its state file. */
struct slice_enforce {
        enum enforce_action action;  /* when its balance is spent */
        enum enforce_state state;
        uint64_t frozen_usec;        /* CLOCK_REALTIME it was frozen at: the grace runs from here */
        bool daemon_frozen;          /* frozen by OnDaemonStop=freeze */
        /* The action at the end of the balance failed: the state is
         * unchanged and each meter pass tries again (not kept). */
        bool action_failing;
        int64_t tx_grant, rx_grant;  /* network grants last set (METER_GRANT_UNLIMITED: none) */
        struct billing *billing;
        struct enforce *enforce;     /* set when the grace timer is armed */
        sd_event_source *check_timer;  /* the earliest moment the balance could be spent (billing.c) */
        sd_event_source *grace_timer;  /* enforce.c */
        /* A kill's exits (enforce.c): what was held back for them, and
         * what the slice had at the kill, to learn what they cost once
         * the cgroup is empty (exit_timer watches for it). Not kept. */
        int64_t kill_reserve;
        uint64_t kill_tasks, kill_cpu_usec, kill_usec;
        sd_event_source *exit_timer;
};

struct slice_account {
        bool funded;
        bool dirty;              /* written in the open batch: reread after commit */
        struct ledger_slice_figures l; /* the ledger's row as this daemon last read it, but its change */
        int64_t pending;         /* priced usage past l.billed, not yet written */
        /* On billing's lists while dirty, and while pending > 0: a
         * commit and the flush go over those, not over every slice. */
        struct account_link dirty_link, pending_link;
        struct burn_window burn;  /* charged + overshoot + pending, each meter pass */
        struct slice_enforce enforce;
};
