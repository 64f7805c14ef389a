/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay destroy: kill every process in an unfunded slice and remove it.
 * Funded slices are released instead (prepay release), so that their
 * balance is refunded. */
#include <getopt.h>

#include "common/log.h"
#include "prepay.h"

int destroy_main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c, rc = 0;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: prepay destroy SLICE...\n\n"
                               "Kills every process in each unfunded SLICE and removes it. Only the\n"
                               "slice's owner (the user who created it) or root may do this. A funded\n"
                               "slice is refused: release it (prepay release), so that its balance\n"
                               "is refunded.\n");
                        return 0;
                default:
                        return 2;
                }

        if (optind >= argc) {
                log_error("No slice given. Usage: prepay destroy SLICE...");
                return 2;
        }

        for (int i = optind; i < argc; i++) {
                json_object *req;

                if (!slice_id_is_valid(argv[i])) {
                        log_error("Invalid slice id '%s': expected s- and 8 to 16 hex digits.", argv[i]);
                        rc = 2;
                        continue;
                }
                req = client_request("destroy");
                json_object_object_add(req, "slice", json_object_new_string(argv[i]));
                if (client_call(req, NULL) < 0)
                        rc = 1;
        }
        return rc;
}
