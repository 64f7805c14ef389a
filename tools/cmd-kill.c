/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay kill: SIGKILL every process in a slice. The slice, its balance
 * and its figures stay: run in it again, or release it for change. */
#include <getopt.h>

#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay kill SLICE [--token TOKEN | --token-file FILE]\n"
               "\n"
               "Kills every process in SLICE at once (SIGKILL: nothing gets to clean up).\n"
               "The slice stays, with its balance: run in it again (prepay run --slice)\n"
               "or release it (prepay release). Needs the slice's owner token, or an\n"
               "operator (root or the daemon's AdminGroup=), who needs none.\n"
               "\n"
               "  --token=TOKEN      The owner token (default: $PREPAY_TOKEN, or the one\n"
               "                     \"prepay run\" saved)\n"
               "  --token-file=FILE  Read the owner token from the first line of FILE\n"
               "  -h, --help         Show this help\n");
}

int kill_main(int argc, char *argv[]) {
        enum { ARG_TOKEN = 0x100, ARG_TOKEN_FILE };
        static const struct option options[] = {
                { "token", required_argument, NULL, ARG_TOKEN },
                { "token-file", required_argument, NULL, ARG_TOKEN_FILE },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        _cleanup_(freep) char *token = NULL, *from_file = NULL;
        const char *given = NULL, *token_file = NULL, *slice;
        json_object *req;
        int c, r;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_TOKEN:
                        given = optarg;
                        break;
                case ARG_TOKEN_FILE:
                        token_file = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        if (optind + 1 != argc) {
                log_error("Usage: prepay kill SLICE [--token TOKEN | --token-file FILE]");
                return 2;
        }
        if (given && token_file) {
                log_error("--token and --token-file are two ways of saying the same: give one.");
                return 2;
        }
        slice = argv[optind];
        if (!slice_id_is_valid(slice)) {
                log_error("Invalid slice id '%s': expected s- and 8 to 16 hex digits.", slice);
                return 2;
        }
        if (token_file) {
                r = read_one_line_file(token_file, &from_file);
                if (r < 0) {
                        log_error_errno(r, "Failed to read the owner token from %s: %m", token_file);
                        return 1;
                }
                given = from_file;
        }

        req = client_request("kill");
        if (!req)
                return log_oom(), 1;
        json_object_object_add(req, "slice", json_object_new_string(slice));
        if (client_find_token(slice, given, &token) >= 0)
                json_object_object_add(req, "token", json_object_new_string(token));
        if (client_call(req, NULL) < 0)
                return 1;
        fprintf(stderr, "Slice %s: every process killed; the slice and its balance stay.\n", slice);
        return 0;
}
