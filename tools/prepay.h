/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "common/message.h"
#include "common/money.h"
#include "common/parse.h"

/* One file per subcommand, each exporting <verb>_main(argc, argv) with
 * argv[0] the verb; dispatched from the table in prepay.c. */

int run_main(int argc, char *argv[]);
int status_main(int argc, char *argv[]);
int list_main(int argc, char *argv[]);
int events_main(int argc, char *argv[]);
int destroy_main(int argc, char *argv[]);
int topup_main(int argc, char *argv[]);
int release_main(int argc, char *argv[]);
int claim_main(int argc, char *argv[]);
int funders_main(int argc, char *argv[]);
int report_main(int argc, char *argv[]);
int sponsor_main(int argc, char *argv[]);
int invest_main(int argc, char *argv[]);
int pay_main(int argc, char *argv[]);
int quote_main(int argc, char *argv[]);
int keygen_main(int argc, char *argv[]);
int mint_main(int argc, char *argv[]);
int voucher_main(int argc, char *argv[]);
int receipt_main(int argc, char *argv[]);
int ledger_main(int argc, char *argv[]);
int kill_main(int argc, char *argv[]);
int reload_main(int argc, char *argv[]);
int images_main(int argc, char *argv[]);
int top_main(int argc, char *argv[]);

/* args.c: each verb's options as a table, read by args_parse(). */
enum {
        ARG_STRING, /* --name=VALUE, kept as it is */
        ARG_FLAG,   /* --name, sets a bool */
        ARG_CALL,   /* --name=VALUE, checked and stored by call */
        ARG_ACTION, /* --name, call(NULL, data) there and then (--version) */
        ARG_U64,    /* --name=VALUE, a parse.h number other than 0 */
};
struct arg_option {
        const char *name;
        char short_name; /* 0: a long option only */
        int type;
        /* ARG_STRING: const char **, ARG_FLAG: bool *, ARG_U64: uint64_t *,
         * ARG_CALL and ARG_ACTION: call's. */
        void *data;
        /* ARG_CALL, ARG_ACTION: checks arg and stores it in data. -errno:
         * refused and said why (the verb exits 2); > 0: all done, exit 0. */
        int (*call)(const char *arg, void *data);
        /* ARG_U64: a parse.h parser, and what a value looks like for the
         * error ("Invalid --cpus value 'x': expected <expected>."). */
        int (*parse)(const char *arg, uint64_t *ret);
        const char *expected;
        /* ARG_STRING: args_parse_slice() gives the usage error without. */
        bool required;
};
/* The casts make the compiler check what data points to. */
#define OPT_STRING(n, p) { .name = (n), .type = ARG_STRING, .data = (1 ? (p) : (const char **) NULL) }
#define OPT_STRING_REQUIRED(n, p) \
        { .name = (n), .type = ARG_STRING, .data = (1 ? (p) : (const char **) NULL), .required = true }
#define OPT_FLAG(n, p) { .name = (n), .type = ARG_FLAG, .data = (1 ? (p) : (bool *) NULL) }
#define OPT_CALL(n, f, p) { .name = (n), .type = ARG_CALL, .call = (f), .data = (p) }
#define OPT_U64(n, f, p, what) \
        { .name = (n), .type = ARG_U64, .parse = (f), .data = (1 ? (p) : (uint64_t *) NULL), .expected = (what) }
#define ARGS_MAX 24

/* Parses argv's options (-h and --help print help, every verb has them);
 * stop_at_operand: options end at the first operand (a command to run, a
 * sub-verb). Returns 1 to go on with optind at the operands, 0 when all is
 * done (help printed), -errno on a bad option, already said: the verb
 * exits 2. */
int args_parse(int argc, char *argv[], const struct arg_option *opts, bool stop_at_operand, void (*help)(void));

/* args_parse(), and an operand is refused: "Unexpected argument 'x'.
 * <hint>". */
int args_parse_no_operands(int argc, char *argv[], const struct arg_option *opts, void (*help)(void),
                           const char *hint);

/* A command of sub-verbs (prepay, prepay ledger): its options, then runs
 * the verb named, with argv from there, and returns its exit code.
 * Without a verb: help, 2; an unknown one: "Unknown <what> 'x'. See
 * '<prog> --help'.", 2. verbs ends with an entry without a name. */
struct verb {
        const char *name;
        int (*main)(int argc, char *argv[]);
        const char *summary;
};
int args_dispatch(int argc, char *argv[], const struct arg_option *opts, const struct verb *verbs,
                  void (*help)(void), const char *what, const char *prog);

/* "Invalid <what> '<s>': expected <expected>.", -EINVAL: for OPT_CALL's
 * checks. */
int arg_invalid(const char *what, const char *s, const char *expected);
/* --currency, for OPT_CALL (const char *). */
int arg_currency(const char *s, void *ret);
/* Sizes several verbs take (uint64_t: milli-CPUs, bytes, microseconds). */
#define OPT_CPUS(p) OPT_U64("cpus", parse_cpus, p, "a number of CPUs such as 0.5 or 2")
#define OPT_MEMORY(p) OPT_U64("memory", parse_size, p, "a size such as 512M or 4G")
#define OPT_HOURS(p) OPT_U64("hours", parse_hours, p, "a number of hours such as 2 or 0.5")
/* A slice id operand: 0, or -EINVAL said. */
int arg_slice(const char *s);

/* The owner token of a slice: --token TOKEN or --token-file FILE. */
struct arg_token {
        const char *given, *file;
};
#define OPT_TOKEN(t) OPT_STRING("token", &(t)->given)
#define OPT_TOKEN_FILE(t) OPT_STRING("token-file", &(t)->file)
/* Their lines in --help. */
#define HELP_TOKEN                                                                 \
        "  --token=TOKEN      The owner token (default: $PREPAY_TOKEN, or the one\n" \
        "                     \"prepay run\" saved)\n"
#define HELP_TOKEN_FILE "  --token-file=FILE  Read the owner token from the first line of FILE\n"
/* -EINVAL (said) if both are given. */
int arg_token_check(const struct arg_token *t);
/* The token to send for slice: --token-file's, --token's, else
 * client_find_token()'s; *ret NULL if there is none. -errno (said) if
 * --token-file cannot be read: the verb exits 1. */
int arg_token_find(const struct arg_token *t, const char *slice, char **ret);

/* args_parse() for a verb on one slice (kill, release, topup): exactly one
 * operand and every OPT_STRING_REQUIRED given ("<usage>" if not), the
 * token options not both (t may be NULL), a slice id in *ret_slice. */
int args_parse_slice(int argc, char *argv[], const struct arg_option *opts, void (*help)(void), const char *usage,
                     const struct arg_token *t, const char **ret_slice);

/* [SLICE] [--json] [--token TOKEN | --token-file FILE]: status and events.
 * args_parse() and then at most one operand ("Too many arguments.
 * <usage>"), not both token options; the slice id is not checked yet. */
struct arg_view {
        const char *slice;
        bool json;
        struct arg_token token;
        const char *funder_key; /* --funder-key FILE, when funder: a funder's private key, not with a token */
};
int args_parse_view(int argc, char *argv[], void (*help)(void), const char *usage, bool funder,
                    struct arg_view *ret);

/* --voucher FILE, which may be given up to 16 times for a gateway
 * (--host): the API redeems them all or none. */
#define ARG_VOUCHERS_MAX 16
struct arg_vouchers {
        const char *path[ARG_VOUCHERS_MAX];
        size_t n;
};
int arg_voucher_add(const char *s, void *data);
#define OPT_VOUCHERS(v) OPT_CALL("voucher", arg_voucher_add, (1 ? (v) : (struct arg_vouchers *) NULL))

/* client.c: the control socket. The path is --socket, else $PREPAY_SOCKET,
 * else the daemon's default. */
extern const char *arg_socket;
const char *client_socket_path(void);
/* What the CLI speaks to, for messages: the gateway's https://HOST:PORT
 * (--host), else the socket's path. */
const char *client_peer(void);
/* A connection to the daemon, or a logged error (-ENOENT and -ECONNREFUSED:
 * no daemon; -EACCES: not in its client group). */
int client_connect(void);

/* Sends req (consumed) and waits for the reply; a reply with "ok": false is
 * printed ("prepay: <error>") and returned as -EPROTO. *ret may be NULL. */
int client_call(json_object *req, json_object **ret);
/* The same check of a reply for client_call() and for streams (events):
 * 0 for "ok": true, else the error printed and -EPROTO. */
int client_reply_check(json_object *reply);
/* client_reply_check(), then the reply (consumed) into *ret (which may be
 * NULL) if it is "ok": true. */
int client_reply_take(json_object *reply, json_object **ret);
json_object *client_request(const char *op);
/* A request about slice, with token if not NULL; NULL on OOM (said). */
json_object *client_request_slice(const char *op, const char *slice, const char *token);
/* A reply's "receipt" (a money move's, signed by the host: prepay receipt
 * verify checks it), on standard error, if it has one of the right form. */
/* Prints a reply, or part of one, as pretty JSON (--json). */
void client_print_json(json_object *o);
/* A verb's whole exchange: sends req (consumed; NULL: out of memory,
 * said), with client_call_money() if money, and prints the reply as JSON
 * if json, else hands it to print (if any). Returns the verb's exit code:
 * 0, or 1 when the call or print (-errno, said) failed. */
int client_run(json_object *req, bool money, bool json, int (*print)(json_object *reply, void *userdata),
               void *userdata);

/* The same for requests that move money: adds a random "request_id" if
 * req has none and retries with it while prepayd cannot be reached (up to
 * CLIENT_RETRIES times, CLIENT_RETRY_MSEC apart). */
#define CLIENT_RETRIES 20
#define CLIENT_RETRY_MSEC 500
int client_call_money(json_object *req, json_object **ret);
int client_new_request_id(char ret[static 33]);
/* The text of path ("-": standard input), at most max bytes and no NUL
 * ("... is too large to be a <what>"); -errno, said. */
int client_read_text(const char *path, const char *what, size_t max, char **ret);
/* A voucher file's text ("-": standard input). */
int client_read_voucher(const char *path, char **ret);
/* Reads the vouchers and adds them to req: "voucher" for one, "vouchers"
 * for several (a gateway's API only: refused, said, for prepayd's socket).
 * -errno, said. */
int client_add_vouchers(json_object *req, const struct arg_vouchers *v);
/* --funder-key FILE: reads the Ed25519 key in path (PEM, private or
 * public) and adds its public half only to req as "funder_key" (the
 * one-line text); nothing when path is NULL; over --host too (the
 * storefront passes it on). -errno, said. */
int client_add_funder_key(json_object *req, const char *path);
/* A funder's signed statement (common/claim.h) for purpose ('c' a
 * claim, 'e' an events proof) on slice, made now with the private key in
 * key_path, for the host this client talks to (its id from a quote, over
 * --host too), added to req as field ("claim", "funder_proof"). The
 * private key never leaves this machine: only the statement is sent.
 * -errno, said. */
int client_add_funder_statement(json_object *req, const char *field, char purpose, const char *slice,
                                const char *key_path);
/* Owner tokens kept for the user, one file per slice, mode 0600, in
 * $PREPAY_TOKEN_DIR, else $XDG_STATE_HOME/prepay/tokens, else
 * ~/.local/state/prepay/tokens. */
int client_save_token(const char *slice, const char *token, char **ret_path);
int client_find_token(const char *slice, const char *given, char **ret);
void client_forget_token(const char *slice);
/* Receipts (prepay-receipt(5)) kept beside the tokens, in the same
 * directory, all of a slice's in SLICE.receipts, one per line, oldest
 * first (mode 0600; kept after the release, unlike the token). */
int client_save_receipt(const char *slice, const char *receipt, char **ret_path);
/* A money-moving reply's "receipt", if it has one: checked to be a
 * receipt of slice, saved, and said on standard error ("prepay: receipt
 * pr1-... (saved in PATH)") if say or if it could not be saved. */
int client_keep_receipt(const char *slice, json_object *reply, bool say);
int client_write_secret_file(const char *path, const char *text);
/* Change vouchers (one per line) into the file at path, made new and
 * private; failing that, said and printed on standard output, never
 * lost. 0 when path or change is NULL. */
int client_write_change(const char *path, const char *change);

/* http.c: prepay --host (prepay(1), tools/README.md). The gateway is
 * --host, else $PREPAY_HOST unless --socket names a local prepayd; its
 * key is checked against --pin (else $PREPAY_PIN) when given, else its
 * certificate against the system's CA store. */
struct remote_host;
extern const char *arg_host, *arg_pin;
/* 0 and *ret NULL (ret may be NULL): the local prepayd; 1 and *ret the
 * gateway; -EINVAL (said): a bad --host, $PREPAY_HOST, --pin or
 * $PREPAY_PIN, or --host with --socket. Decided once. */
int client_remote(const struct remote_host **ret);
/* client_call() and client_call_money() over HTTPS, which they call when
 * client_remote() says so: req (consumed) as the API's call (remote.h),
 * tried once more a second later after a broken connection (POSTs with
 * the same Idempotency-Key: the request id); the answer as the control
 * reply, a refusal printed (-EPROTO). */
int http_client_call(json_object *req, json_object **ret);
/* The events request req (consumed) as a Server-Sent Events stream: each
 * event (amounts as micro-units) to on_event until the stream ends (an
 * error, said) or on_event returns < 0. */
int http_client_events(json_object *req, int (*on_event)(json_object *ev, void *userdata), void *userdata);

/* vm.c: what the CLI shows of a VM slice. Each part sent by the daemon
 * is checked for its form before it is printed for a shell or ssh to
 * read (a host, a user, a one-line key). */
#define VM_LINE_MAX 512
/* Whether the guest's SSH endpoint (host, port, user) is known and sane. */
bool vm_login_known(const struct slice_vm_info *vm);
/* "ssh -p PORT USER@HOST" (no -p for port 22), or "(not known yet)". */
char *vm_format_login(char *buf, size_t n, const struct slice_vm_info *vm);
/* "[HOST]:PORT KEY" ("HOST KEY" on port 22); false without a sane key. */
bool vm_format_known_hosts(char *buf, size_t n, const struct slice_vm_info *vm);
/* "IMAGE, N vCPUs, RAM RAM, DISK disk, ACCEL". */
char *vm_format_size(char *buf, size_t n, const struct slice_vm_info *vm);
/* run --vm's lines on standard output: slice, login, host key, known_hosts. */
void vm_print_login(const char *id, const struct slice_vm_info *vm);
/* Appends the known_hosts line to path unless it is there already; warns
 * of another key for the same host. -errno, said. */
int vm_add_known_host(const char *path, const struct slice_vm_info *vm);
/* Polls status every 0.5 s until the guest's state is "running" (0, *vm
 * the last record) or "stopped" (-ECHILD, said); -EINTR after SIGINT or
 * SIGTERM (the guest goes on), -errno of a failed status (said). From
 * a gateway (--host), *vm's SSH endpoint on entry (the purchase's) stays. */
int vm_wait_running(const char *slice, const char *token, struct slice_vm_info *vm);
/* An SSH public key file's text, at most VM_SSH_KEY_MAX bytes ("-":
 * standard input); a private key is refused. -errno, said. */
int client_read_ssh_key(const char *path, char **ret);

/* cmd-status.c: every slice the caller may see (an operator: all), a
 * page (one reply) at a time to on_page: brief rows (slice_row_to_json())
 * or full records. "Only the slices of uid N" on standard error unless
 * quiet. The first error of on_page, or of the calls. */
typedef int (*list_page_fn)(json_object *page, void *userdata);
int list_fetch(bool brief, bool quiet, list_page_fn on_page, void *userdata);

/* progress.c: a progress line on standard error while a person waits,
 * redrawn in place; only on a terminal, and not in the first half second.
 * progress_end() clears it before anything else is printed. */
struct progress {
        bool on, shown;
        const char *what;
        uint64_t start_usec, shown_usec, delay_usec;
};
void progress_start(struct progress *p, const char *what);
/* "WHAT: 42% (420 of 1000 UNIT), 3.2s"; without a total "420 UNIT". */
void progress_count(struct progress *p, uint64_t done, uint64_t total, const char *unit);
/* "WHAT: TEXT, 3.2s". */
void progress_say(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same without the ten-a-second limit: a step's last word. */
void progress_say_now(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_end(struct progress *p);

/* Pretty-printing of slices (status and list). */
void print_slice(const struct slice_info *s);
void print_slice_table_header(void);
void print_slice_row(const struct slice_info *s);
