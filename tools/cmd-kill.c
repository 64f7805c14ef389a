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
               HELP_TOKEN
               HELP_TOKEN_FILE
               "  -h, --help         Show this help\n");
}

static int print_killed(json_object *reply, void *userdata) {
        fprintf(stderr, "Slice %s: every process killed; the slice and its balance stay.\n", (const char *) userdata);
        return 0;
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
        int r;

        r = args_parse_slice(argc, argv, options, help, "Usage: prepay kill SLICE [--token TOKEN | --token-file FILE]",
                             &t, &slice);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if (arg_token_find(&t, slice, &token) < 0)
                return 1;

        return client_run(client_request_slice("kill", slice, token), false, false, print_killed, (void *) slice);
}
