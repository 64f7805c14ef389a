/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay reload: what SIGHUP does to prepayd, for operators who may not
 * signal it, with the answer whether the file loaded. */
#include <getopt.h>

#include "common/log.h"
#include "prepay.h"

int reload_main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        json_object *req;
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: prepay reload\n"
                               "\n"
                               "Makes prepayd read its configuration file again, as SIGHUP does, and\n"
                               "says whether it loaded; a file that does not load changes nothing (the\n"
                               "daemon's log says why). For operators: root or the daemon's AdminGroup=.\n"
                               "\n"
                               "  -h, --help   Show this help\n");
                        return 0;
                default:
                        return 2;
                }
        if (optind != argc) {
                log_error("Unexpected argument '%s'. Usage: prepay reload", argv[optind]);
                return 2;
        }

        req = client_request("reload");
        if (!req)
                return log_oom(), 1;
        if (client_call(req, NULL) < 0)
                return 1;
        fprintf(stderr, "prepayd read its configuration again.\n");
        return 0;
}
