/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>

#include "common/message.h"

/* One file per subcommand, each exporting <verb>_main(argc, argv) with
 * argv[0] the verb; dispatched from the table in prepay.c. */

int run_main(int argc, char *argv[]);
int status_main(int argc, char *argv[]);
int list_main(int argc, char *argv[]);
int destroy_main(int argc, char *argv[]);

/* client.c: the control socket. The path is --socket, else $PREPAY_SOCKET,
 * else the daemon's default. */
extern const char *arg_socket;

/* Sends req (consumed) and waits for the reply; a reply with "ok": false is
 * printed ("prepay: <error>") and returned as -EPROTO. *ret may be NULL. */
int client_call(json_object *req, json_object **ret);
json_object *client_request(const char *op);

/* Pretty-printing of slices (status and list). */
void print_slice(const struct slice_info *s);
void print_slice_table_header(void);
void print_slice_row(const struct slice_info *s);
