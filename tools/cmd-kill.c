/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay kill: SIGKILL every process in a slice. The slice, its balance
 * and its figures stay: run in it again, or release it for change. */
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
        struct arg_token t = {};
        const struct arg_option options[] = {
                OPT_TOKEN(&t),
                OPT_TOKEN_FILE(&t),
                {}
        };
        _cleanup_(freep) char *token = NULL;
        const char *slice;
        json_object *req;
        int r;

        r = args_parse(argc, argv, options, false, help);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (optind + 1 != argc) {
                log_error("Usage: prepay kill SLICE [--token TOKEN | --token-file FILE]");
                return 2;
        }
        slice = argv[optind];
        if (arg_token_check(&t) < 0 || arg_slice(slice) < 0)
                return 2;
        if (arg_token_find(&t, slice, &token) < 0)
                return 1;

        req = client_request_slice("kill", slice, token);
        if (!req || client_call(req, NULL) < 0)
                return 1;
        fprintf(stderr, "Slice %s: every process killed; the slice and its balance stay.\n", slice);
        return 0;
}
