/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "batch.h"
#include "billing.h"
#include "common/log.h"
#include "common/parse.h"
#include "control.h"
#include "events.h"
#include "keys.h"
#include "manager.h"
#include "meter.h"
#include "slices.h"

/* Every slice read and charged now (billing hears of each read through
 * the slices' callbacks). */
void manager_sample(struct manager *m) {
        slices_sample(m->slices);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        struct manager *m = userdata;

        log_info("Received SIG%s, stopping.", sigabbrev_np((int) si->ssi_signo));
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopping.");
        return sd_event_exit(m->event, 0);
}

/* A restart-only key: the running value stays, the new one is freed with
 * the rest of what was read. */
#define KEEP_STRING(c, running, field, key)                                                       \
        do {                                                                                     \
                char *_t_;                                                                       \
                if (!streq((c)->field ?: "", (running)->field ?: ""))                            \
                        log_warning("%s= changed from \"%s\" to \"%s\": it takes effect at the next " \
                                    "start.", key, strempty((running)->field), strempty((c)->field)); \
                _t_ = (c)->field;                                                                \
                (c)->field = (running)->field;                                                   \
                (running)->field = _t_;                                                          \
        } while (0)

int manager_reload(struct manager *m) {
        struct config c = {}, old;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nMONOTONIC_USEC=%" PRIu64, now_usec(CLOCK_MONOTONIC));
        r = config_load(&c, m->config_path, m->config_optional);
        if (r < 0) {
                log_error("Reloading %s failed: the running configuration stays.", m->config_path);
                (void) sd_notify(false, "READY=1");
                return r;
        }

        KEEP_STRING(&c, m->config, control_socket, "ControlSocket");
        KEEP_STRING(&c, m->config, state_directory, "StateDirectory");
        KEEP_STRING(&c, m->config, backend, "Backend");
        KEEP_STRING(&c, m->config, cgroup_root, "CgroupRoot");
        KEEP_STRING(&c, m->config, bpf_pin_path, "BpfPinPath");
        /* Balances are in the running currency; change vouchers name
         * this host and are signed by its key. */
        KEEP_STRING(&c, m->config, currency, "Currency");
        KEEP_STRING(&c, m->config, host_key, "HostKey");
        KEEP_STRING(&c, m->config, host_id, "HostId");
        KEEP_STRING(&c, m->config, fleet_id, "FleetId");
        if (c.socket_mode != m->config->socket_mode)
                log_warning("SocketMode= changed: it takes effect at the next start.");
        c.socket_mode = m->config->socket_mode;
        snprintf(c.rates.currency, sizeof(c.rates.currency), "%s", c.currency);

        old = *m->config;
        *m->config = c;
        config_done(&old);

        log_set_max_level(m->config->log_level);
        (void) keys_reload_issuers(m->keys);
        (void) control_reload(m->control);
        log_info("Reloaded %s: prices, policies, hooks and issuer keys apply from now on; %zu running slice%s "
                 "untouched.", m->config_path, m->slices->n, m->slices->n == 1 ? "" : "s");
        manager_notify_status(m, "READY=1\n");
        return 0;
}

void manager_notify_status(struct manager *m, const char *extra) {
        char held[MONEY_FORMAT_MAX], text[sizeof(m->last_status)];
        size_t funded = 0;
        int64_t sum;

        sum = billing_held(m->billing, &funded);
        (void) snprintf(text, sizeof(text), "%zu slice%s, %zu funded, holding %s %s.", m->slices->n,
                        m->slices->n == 1 ? "" : "s", funded, money_format(held, sizeof(held), sum),
                        m->config->currency);
        if (!extra && streq(text, m->last_status))
                return;
        memcpy(m->last_status, text, sizeof(text));
        (void) sd_notifyf(false, "%sSTATUS=%s", extra ?: "", text);
}

/* What the request handlers ask of the hub (struct requests). */
static int on_sample(struct slice *s, void *userdata) {
        struct manager *m = userdata;
        int r;

        r = slices_refresh(m->slices, s);
        if (r >= 0 && m->billing)
                billing_sampled(m->billing, s);
        return r;
}

static int on_reload_request(void *userdata) {
        return manager_reload(userdata);
}

static void on_billing_changed(void *userdata) {
        manager_notify_status(userdata, NULL);
}

static int on_reload(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        (void) manager_reload(userdata);
        return 0;
}

/* The ledger's batch, the keys, the events and billing, in the order
 * each needs the one before. */
static int open_money(struct manager *m) {
        _cleanup_(freep) char *ledger_path = NULL;
        int r;

        if (asprintf(&ledger_path, "%s/ledger.db", m->config->state_directory) < 0) {
                ledger_path = NULL;
                return log_oom();
        }
        r = batch_new(m->event, ledger_path, &m->batch);
        if (r < 0)
                return r;
        r = keys_new(m->config, &m->keys);
        if (r < 0)
                return r;
        r = events_new(m->config, m->event, m->batch, &m->events);
        if (r < 0)
                return r;
        return billing_new(&(struct billing_context) {
                                   .config = m->config,
                                   .event = m->event,
                                   .slices = m->slices,
                                   .meter = m->meter,
                                   .batch = m->batch,
                                   .keys = m->keys,
                                   .events = m->events,
                                   .ledger_path = ledger_path,
                                   .changed = on_billing_changed,
                                   .userdata = m,
                           },
                           &m->billing);
}

static int arm_event_sources(struct manager *m) {
        sigset_t mask;
        int r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        /* Without them SIGTERM would be blocked and ignored: the daemon
         * could only be killed, its last usage never charged. */
        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_reload, m);
        if (r < 0)
                return log_error_errno(r, "Failed to watch for SIGTERM, SIGINT and SIGHUP: %m");
        /* WATCHDOG=1 from the loop itself when the service manager asks. */
        (void) sd_event_set_watchdog(m->event, true);

        return slices_start_meter(m->slices, m->event);
}

static int open_control(struct manager *m) {
        return control_new(&(struct control_context) {
                                   .config = m->config,
                                   .event = m->event,
                                   .batch = m->batch,
                                   .events = m->events,
                                   .slices = m->slices,
                                   .requests = {
                                           .config = m->config,
                                           .slices = m->slices,
                                           .billing = m->billing,
                                           .events = m->events,
                                           .sample = on_sample,
                                           .reload = on_reload_request,
                                           .userdata = m,
                                   },
                           },
                           &m->control);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct manager *, manager_free);

int manager_new(struct config *config, struct manager **ret) {
        struct meter_options mo = {};
        _cleanup_(manager_freep) struct manager *m = NULL;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_oom();
        m->config = config;

        r = slices_new(config, &m->slices);
        if (r < 0)
                return r;

        mo.pin_path = config->bpf_pin_path;
        mo.root_cgroup_fd = slices_root_fd(m->slices);
        mo.cpu_mode = METER_CPU_ITER;
        mo.attach_net = true;
        r = meter_open(&mo, &m->meter);
        if (r < 0)
                return r;
        m->slices->meter = m->meter;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");

        r = vms_new(config, m->event, &m->vms);
        if (r < 0)
                return r;
        slices_set_vms(m->slices, m->vms);

        r = open_money(m);
        if (r < 0)
                return r;

        /* After a restart: the slices that ran on, matched with the ledger. */
        m->slices->events = m->events;
        r = slices_adopt(m->slices);
        if (r < 0)
                return r;
        r = billing_reconcile(m->billing);
        if (r < 0)
                return r;

        r = arm_event_sources(m);
        if (r < 0)
                return r;
        r = open_control(m);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(m);
        return 0;
}

void manager_free(struct manager *m) {
        if (!m)
                return;

        control_free(m->control);
        /* Usage up to now charged and committed, while slices and the
         * event loop still exist. */
        if (m->billing && m->meter) {
                manager_sample(m);
                billing_daemon_stop(m->billing);
        }
        if (m->slices)
                m->slices->events = NULL;
        events_free(m->events);
        m->events = NULL;
        billing_free(m->billing);
        m->billing = NULL;
        batch_free(m->batch);
        m->batch = NULL;
        keys_free(m->keys);
        m->keys = NULL;
        sd_event_unref(m->event);

        if (m->slices) {
                /* Last samples made durable: the next daemon picks up from here. */
                slices_save_all(m->slices);
                /* With slices left, the kernel keeps counting them through the pinned
                 * maps and links; with none, leave nothing behind. */
                meter_close(m->meter, m->slices->n == 0);
        }
        slices_free(m->slices);
        vms_free(m->vms);
        free(m);
}

int manager_run(struct manager *m) {
        char buf[FORMAT_DURATION_MAX];
        int r;

        log_info("Ready: %zu slice%s under %s, metering every %s.", m->slices->n, m->slices->n == 1 ? "" : "s",
                 slices_root_path(m->slices), format_duration(buf, sizeof(buf), m->config->meter_interval_usec));

        manager_notify_status(m, "READY=1\n");
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        return 0;
}

