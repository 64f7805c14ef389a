/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay-gatewayd: wiring only. Options, config, TLS identity, the control
 * pool, the HTTPS server, the loop. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "common/log.h"
#include "gateway-config.h"
#include "gateway-control.h"
#include "gateway-http.h"
#include "gateway-metrics.h"
#include "gateway-tls.h"

#ifndef PREPAY_VERSION
#define PREPAY_VERSION "0.1"
#endif

#define DEFAULT_CONFIG_PATH "/etc/prepay/gatewayd.conf"

static void help(void) {
        printf("Usage: prepay-gatewayd [OPTIONS]\n"
               "\n"
               "The prepay storefront: an HTTPS API (prepay-api(7)) that forwards each\n"
               "request it has checked to prepayd's control socket as a remote peer.\n"
               "Runs in the foreground as an unprivileged user.\n"
               "\n"
               "  -c, --config=PATH   Configuration file (default " DEFAULT_CONFIG_PATH ";\n"
               "                      without it, the embedded defaults apply)\n"
               "      --dump-config   Print the configuration in effect (with --config) or\n"
               "                      the documented defaults, and exit\n"
               "  -h, --help          Show this help\n"
               "      --version       Show the version\n"
               "\n"
               "See prepay-gatewayd(8) and prepay-gatewayd.conf(5).\n");
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        (void) sd_notify(0, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* The socket systemd passed (prepay-gatewayd.socket), else one on Listen=. */
static int listen_fd(const struct gateway_config *c) {
        int n;

        n = sd_listen_fds(1);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets systemd passed: %m");
        if (n > 1)
                return log_error_errno(EINVAL, "systemd passed %d sockets; prepay-gatewayd takes one.", n);
        if (n == 1) {
                log_info("Serving on the socket systemd passed (Listen= is not used).");
                return SD_LISTEN_FDS_START;
        }
        return gateway_http_listen(c->listen);
}

static int run(const struct gateway_config *c) {
        _cleanup_(gateway_tls_done) struct gateway_tls tls = {};
        struct control_pool *pool = NULL;
        struct gateway_http *http = NULL;
        struct gateway_metrics *metrics = NULL;
        sd_event *e = NULL;
        sigset_t mask;
        int fd, r;

        r = gateway_tls_load(c, &tls);
        if (r < 0)
                return r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        signal(SIGPIPE, SIG_IGN);

        r = sd_event_default(&e);
        if (r < 0)
                return log_error_errno(r, "Failed to make the event loop: %m");
        r = sd_event_add_signal(e, NULL, SIGTERM, on_signal, NULL);
        if (r >= 0)
                r = sd_event_add_signal(e, NULL, SIGINT, on_signal, NULL);
        if (r < 0) {
                log_error_errno(r, "Failed to watch signals: %m");
                goto out;
        }

        r = control_pool_new(e, c, &pool);
        if (r < 0) {
                log_error_errno(r, "Failed to set up the control connections: %m");
                goto out;
        }
        fd = listen_fd(c);
        if (fd < 0) {
                r = fd;
                goto out;
        }
        r = gateway_http_new(e, c, &tls, fd, pool, &http);
        if (r < 0)
                goto out;
        r = gateway_metrics_new(e, c, pool, &metrics);
        if (r < 0)
                goto out;

        log_info("prepay-gatewayd %s serving; forwarding to %s.", PREPAY_VERSION, c->control_socket);
        (void) sd_notify(0, "READY=1\nSTATUS=Serving");
        r = sd_event_loop(e);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");

out:
        gateway_metrics_free(metrics);
        gateway_http_free(http);
        control_pool_free(pool);
        sd_event_unref(e);
        return r;
}

int main(int argc, char *argv[]) {
        enum { ARG_DUMP = 0x100, ARG_VERSION };
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "dump-config", no_argument, NULL, ARG_DUMP },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        _cleanup_(gateway_config_done) struct gateway_config config = {};
        const char *config_path = NULL;
        bool dump = false;
        int c, r;

        log_set_program("prepay-gatewayd");

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        config_path = optarg;
                        break;
                case ARG_DUMP:
                        dump = true;
                        break;
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("prepay-gatewayd %s\n", PREPAY_VERSION);
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                log_error("Unexpected argument '%s'. See --help.", argv[optind]);
                return 2;
        }
        if (dump && !config_path)
                return gateway_config_dump(stdout, NULL) < 0 ? 1 : 0;

        r = gateway_config_load(&config, config_path ?: DEFAULT_CONFIG_PATH, !config_path);
        if (r < 0)
                return 1;
        log_set_max_level(config.log_level);
        if (dump)
                return gateway_config_dump(stdout, &config) < 0 ? 1 : 0;

        /* Privilege separation: this process parses what anyone on the
         * network sends. The unit runs it as prepay-gateway with no
         * capabilities; as root it would be all that separation undone. */
        if (geteuid() == 0) {
                log_error("prepay-gatewayd must not run as root: run it as its own user (prepay-gateway).");
                return 1;
        }

        return run(&config) < 0 ? 1 : 0;
}
