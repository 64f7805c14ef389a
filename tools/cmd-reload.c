/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay reload: what SIGHUP does to prepayd, for operators who may not
 * signal it, with the answer whether the file loaded. */
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay reload\n"
               "\n"
               "Makes prepayd read its configuration file again, as SIGHUP does, and\n"
               "says whether it loaded; a file that does not load changes nothing (the\n"
               "daemon's log says why). For operators: root or the daemon's AdminGroup=.\n"
               "\n"
               "  -h, --help   Show this help\n");
}

static int print_reloaded(json_object *reply, void *userdata) {
        fprintf(stderr, "prepayd read its configuration again.\n");
        return 0;
}

int reload_main(int argc, char *argv[]) {
        int r;

        r = args_parse_no_operands(argc, argv, NULL, help, "Usage: prepay reload");
        if (r <= 0)
                return r < 0 ? 2 : 0;

        return client_run(client_request_slice("reload", NULL, NULL), false, false, print_reloaded, NULL);
}
