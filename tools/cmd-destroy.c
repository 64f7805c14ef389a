/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay destroy: kill every process in an unfunded slice and remove it.
 * Funded slices are released instead (prepay release), so that their
 * balance is refunded. */
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay destroy SLICE...\n\n"
               "Kills every process in each unfunded SLICE and removes it. Only the\n"
               "slice's owner (the user who created it) or root may do this. A funded\n"
               "slice is refused: release it (prepay release), so that its balance\n"
               "is refunded.\n");
}

int destroy_main(int argc, char *argv[]) {
        int rc = 0, r;

        r = args_parse(argc, argv, NULL, false, help);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (optind >= argc) {
                log_error("No slice given. Usage: prepay destroy SLICE...");
                return 2;
        }

        for (int i = optind; i < argc; i++) {
                json_object *req;

                if (arg_slice(argv[i]) < 0) {
                        rc = 2;
                        continue;
                }
                req = client_request_slice("destroy", argv[i], NULL);
                if (!req || client_call(req, NULL) < 0)
                        rc = 1;
        }
        return rc;
}
