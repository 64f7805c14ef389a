/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The control socket: AF_UNIX, SOCK_SEQPACKET, one JSON request per
 * datagram and one reply to each (common/message.h). Every message is
 * parsed and checked here before the manager sees it; the peer is known by
 * SO_PEERCRED taken at accept time. */

#define CONTROL_MAX_CONNECTIONS 64

struct manager;
struct control;

int control_new(struct manager *m, struct control **ret);
void control_free(struct control *c);
