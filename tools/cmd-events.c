/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay events: follow the daemon's slice events, one line each, until
 * interrupted or the daemon goes away. The connection stays open: one
 * request, its reply, then one datagram per event (common/message.h). */
#include <inttypes.h>
#include <sys/socket.h>
#include <time.h>

#include "common/claim.h"
#include "common/log.h"
#include "prepay.h"

static void help(void) {
        printf("Usage: prepay events [--json] [--token TOKEN | --token-file FILE] [SLICE]\n"
               "       prepay events [--json] SLICE --funder-key FILE\n"
               "\n"
               "Prints the daemon's slice events as they happen, one line each, until\n"
               "interrupted: funded, topped-up, paid (revenue), low (balance), exhausted, throttled,\n"
               "frozen, thawed, killed, released and oom; only SLICE's when given.\n"
               "SLICE is needed but for an operator (root or the daemon's AdminGroup=),\n"
               "and its owner token too unless the caller made the slice.\n"
               "A keyed funder of SLICE follows it without its token, proving with\n"
               "--funder-key that it holds one of its funder keys: it is told low,\n"
               "exhausted, released and sponsor events only.\n"
               "Exits 1 if the daemon goes away (or drops this reader for falling behind).\n"
               "\n"
               "  --json             One JSON object per line, amounts in micro-units\n"
               HELP_TOKEN
               HELP_TOKEN_FILE
               "  --funder-key=FILE  A funder's Ed25519 private key (PEM): signs a proof\n"
               "                     for this slice (only the proof is sent)\n"
               "  -h, --help         Show this help\n");
}

/* One datagram, parsed. 0 at the end of the stream. */
static int receive(int fd, char *buf, json_object **ret) {
        const char *err = NULL;
        ssize_t n;
        int r;

        do
                n = recv(fd, buf, PREPAY_MSG_MAX + 1, MSG_TRUNC);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return log_error_errno(errno, "Failed to read from prepayd: %m");
        if (n == 0)
                return 0;
        if (n > PREPAY_MSG_MAX)
                return log_error_errno(EMSGSIZE, "prepayd sent a message that is too large.");
        r = message_parse(buf, (size_t) n, ret, &err);
        if (r < 0)
                return log_error_errno(r, "Malformed message from prepayd: %s", strna(err));
        return 1;
}

static const char *kind_label(const char *kind) {
        if (streq(kind, "low"))
                return "low balance";
        if (streq(kind, "topped-up"))
                return "topped up";
        return kind;
}

static int print_event(json_object *ev) {
        const char *slice, *kind, *reason = "", *currency = "";
        char when[32] = "n/a", money[MONEY_FORMAT_MAX];
        uint64_t time_usec = 0;
        json_object *v;
        int64_t balance = 0;
        bool funded = true;
        struct tm tm;
        time_t t;

        if (message_get_string(ev, "slice", &slice) < 0 || message_get_string(ev, "kind", &kind) < 0)
                return -EINVAL;
        (void) message_get_u64(ev, "time_usec", &time_usec);
        (void) message_get_bool(ev, "funded", &funded);
        (void) message_get_string(ev, "reason", &reason);
        (void) message_get_string(ev, "currency", &currency);
        if (json_object_object_get_ex(ev, "balance", &v) && json_object_is_type(v, json_type_int))
                balance = json_object_get_int64(v);

        t = (time_t) (time_usec / USEC_PER_SEC);
        if (time_usec > 0 && localtime_r(&t, &tm))
                strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);

        printf("%s %s %s", when, slice, kind_label(kind));
        if (funded)
                printf(" %s %s", money_format(money, sizeof(money), balance), currency);
        if (reason[0])
                printf(": %s", reason);
        putchar('\n');
        return 0;
}

static int show_event(json_object *ev, void *userdata) {
        const bool *json = userdata;

        if (*json)
                printf("%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
        else if (print_event(ev) < 0)
                log_warning("Ignoring a malformed event.");
        if (ferror(stdout))
                return log_error_errno(EIO, "Failed to write to standard output.");
        return 0;
}

/* The request: the owner token's, or with --funder-key a funder's proof
 * (a statement for purpose 'e', never a claim). NULL: said. */
static json_object *events_request(const struct arg_view *view) {
        _cleanup_(freep) char *token = NULL;
        json_object *req;

        if (!view->funder_key && view->slice && arg_token_find(&view->token, view->slice, &token) < 0)
                return NULL;
        req = client_request_slice("events", view->slice, token);
        if (req && view->funder_key &&
            client_add_funder_statement(req, "funder_proof", CLAIM_PURPOSE_EVENTS, view->slice, view->funder_key) < 0) {
                json_object_put(req);
                return NULL;
        }
        return req;
}

/* From a gateway (--host): one slice's, as Server-Sent Events. */
static int remote_events(const struct arg_view *view) {
        json_object *req;

        if (!view->slice) {
                log_error("Over HTTPS (--host) events are one slice's: name it.");
                return 2;
        }
        req = events_request(view);
        if (!req)
                return 1;
        setvbuf(stdout, NULL, _IOLBF, 0);
        return http_client_events(req, show_event, (void *) &view->json) < 0 ? 1 : 0;
}

int events_main(int argc, char *argv[]) {
        _cleanup_(closep) int fd = -1;
        _cleanup_(freep) char *buf = NULL;
        json_object *req, *reply = NULL;
        struct arg_view view;
        const char *text;
        size_t len;
        int r;

        r = args_parse_view(argc, argv, help, "Usage: prepay events [--json] [--token TOKEN] [SLICE]", true,
                            &view);
        if (r <= 0)
                return r < 0 ? 2 : 0;
        if ((view.token.given || view.token.file) && !view.slice) {
                log_error("An owner token is for one slice: name it.");
                return 2;
        }
        if (view.slice && arg_slice(view.slice) < 0)
                return 2;
        r = client_remote(NULL);
        if (r != 0)
                return r < 0 ? 2 : remote_events(&view);

        buf = malloc(PREPAY_MSG_MAX + 1);
        if (!buf) {
                log_oom();
                return 1;
        }
        req = events_request(&view);
        if (!req)
                return 1;
        r = message_serialize(req, &text, &len);
        if (r >= 0)
                r = fd = client_connect();
        if (r >= 0 && send(fd, text, len, MSG_NOSIGNAL) < 0)
                r = log_error_errno(errno, "Failed to send the request to prepayd: %m");
        json_object_put(req);
        if (r < 0)
                return 1;

        r = receive(fd, buf, &reply);
        if (r == 0)
                log_error("prepayd closed the connection without replying.");
        if (r <= 0)
                return 1;
        r = client_reply_check(reply);
        json_object_put(reply);
        if (r < 0)
                return 1;

        /* Each line as it comes, also into a pipe or a file. */
        setvbuf(stdout, NULL, _IOLBF, 0);

        for (;;) {
                json_object *msg = NULL, *ev;

                r = receive(fd, buf, &msg);
                if (r == 0) {
                        log_error("prepayd closed the event stream (it stopped, or this reader fell behind).");
                        return 1;
                }
                if (r < 0)
                        return 1;
                if (!json_object_object_get_ex(msg, "event", &ev) || !json_object_is_type(ev, json_type_object))
                        log_warning("Ignoring a message from prepayd that is not an event.");
                else if (view.json)
                        printf("%s\n", json_object_to_json_string_ext(ev, JSON_C_TO_STRING_PLAIN));
                else if (print_event(ev) < 0)
                        log_warning("Ignoring a malformed event from prepayd.");
                json_object_put(msg);
                if (ferror(stdout)) {
                        log_error("Failed to write to standard output.");
                        return 1;
                }
        }
}
