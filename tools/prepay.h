/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "common/message.h"
#include "common/money.h"

/* One file per subcommand, each exporting <verb>_main(argc, argv) with
 * argv[0] the verb; dispatched from the table in prepay.c. */

int run_main(int argc, char *argv[]);
int status_main(int argc, char *argv[]);
int list_main(int argc, char *argv[]);
int events_main(int argc, char *argv[]);
int destroy_main(int argc, char *argv[]);
int topup_main(int argc, char *argv[]);
int release_main(int argc, char *argv[]);
int quote_main(int argc, char *argv[]);
int keygen_main(int argc, char *argv[]);
int mint_main(int argc, char *argv[]);
int voucher_main(int argc, char *argv[]);
int ledger_main(int argc, char *argv[]);
int kill_main(int argc, char *argv[]);
int reload_main(int argc, char *argv[]);

/* args.c: option values shared by verbs; a bad one is logged (naming the
 * option and an example) and gives -EINVAL, the caller exits 2. */
int arg_cpus(const char *s, uint64_t *ret_milli);
int arg_memory(const char *s, uint64_t *ret_bytes);
int arg_hours(const char *s, uint64_t *ret_usec);

/* client.c: the control socket. The path is --socket, else $PREPAY_SOCKET,
 * else the daemon's default. */
extern const char *arg_socket;
const char *client_socket_path(void);
/* A connection to the daemon, or a logged error (-ENOENT and -ECONNREFUSED:
 * no daemon; -EACCES: not in its client group). */
int client_connect(void);

/* Sends req (consumed) and waits for the reply; a reply with "ok": false is
 * printed ("prepay: <error>") and returned as -EPROTO. *ret may be NULL. */
int client_call(json_object *req, json_object **ret);
json_object *client_request(const char *op);

/* The same for requests that move money: adds a random "request_id" if
 * req has none and retries with it while prepayd cannot be reached (up to
 * CLIENT_RETRIES times, CLIENT_RETRY_MSEC apart). */
#define CLIENT_RETRIES 20
#define CLIENT_RETRY_MSEC 500
int client_call_money(json_object *req, json_object **ret);
int client_new_request_id(char ret[static 33]);
/* A voucher file's text ("-": standard input). */
int client_read_voucher(const char *path, char **ret);
/* Owner tokens kept for the user, one file per slice, mode 0600, in
 * $PREPAY_TOKEN_DIR, else $XDG_STATE_HOME/prepay/tokens, else
 * ~/.local/state/prepay/tokens. */
int client_save_token(const char *slice, const char *token, char **ret_path);
int client_find_token(const char *slice, const char *given, char **ret);
void client_forget_token(const char *slice);
int client_write_secret_file(const char *path, const char *text);

/* Pretty-printing of slices (status and list). */
void print_slice(const struct slice_info *s);
void print_slice_table_header(void);
void print_slice_row(const struct slice_info *s);
