/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The control socket: AF_UNIX, SOCK_SEQPACKET, one JSON request per
 * datagram and one reply to each (common/message.h). Every message is
 * parsed and checked here before the manager sees it; the peer is known by
 * SO_PEERCRED and SO_PEERGROUPS taken at accept time.
 *
 * Who may do what: root and members of AdminGroup= are operators (every
 * op on every slice, reload); members of ClientGroup= (everyone when it
 * is empty) are clients (create, topup, quote, status, list of their own
 * slices, events of one slice, and attach, run-unit, kill, release and
 * destroy with the slice's owner token); anyone else is refused every op.
 * Group names are resolved at start and at each reload; a group that does
 * not exist has no members. */

#define CONTROL_MAX_CONNECTIONS 64
/* Supplementary groups read of a peer: the kernel's NGROUPS_MAX. */
#define CONTROL_MAX_PEER_GROUPS 65536
/* A group that does not exist, or none: nobody is in it. */
#define GID_INVALID ((gid_t) -1)

enum control_rights {
        CONTROL_NONE,
        CONTROL_CLIENT,
        CONTROL_OPERATOR,
};

struct manager;
struct control;

int control_new(struct manager *m, struct control **ret);
void control_free(struct control *c);
/* After the configuration was read again: AdminGroup= and ClientGroup=
 * resolved again, the socket given to the client group (when prepayd
 * made it). Connections keep the rights they were accepted with. Accepts
 * NULL. */
int control_reload(struct control *c);

/* A peer's rights from its uid, primary gid and supplementary gids:
 * operator for uid 0 or a member of admin_gid; client for a member of
 * client_gid, or anyone when everyone is set; else none. GID_INVALID is a
 * group nobody is in. No system call, for tests. */
enum control_rights control_rights_of(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, gid_t admin_gid,
                                      gid_t client_gid, bool everyone);
