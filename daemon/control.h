/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "requests.h"

/* The control socket: AF_UNIX, SOCK_SEQPACKET, one JSON request per
 * datagram and one reply to each (common/message.h). Every message is
 * parsed and checked here before the manager sees it; the peer is known by
 * SO_PEERCRED and SO_PEERGROUPS taken at accept time.
 *
 * Who may do what: root and members of AdminGroup= are operators (every
 * op on every slice, reload); members of ClientGroup= (everyone when it
 * is empty) are clients (create, topup, quote, the public part of any
 * slice's status, list of their own slices; the whole status and the
 * events of a slice their uid created or whose owner token they give; and
 * attach, run-unit, kill, release and destroy with the slice's owner
 * token); anyone else is refused every op.
 * The gateway (prepay-gatewayd) connects as GatewayUser=: every request
 * on its connections is a remote peer's, a buyer with no uid and no group,
 * whatever groups that user is in (uid 0 is never the gateway). A remote
 * peer has anyone's rights and those an owner token gives: quote, images,
 * create (funded, with "vm_image" or a "unit" RemoteUnits= lists, never
 * attach), topup, status (the public part without the token), events
 * (one slice, with its token or a keyed funder's proof), release and
 * kill (with the token), claim (its signed statement is the proof) and
 * funders (with the token or a funder's proof); list,
 * attach, run-unit, destroy and reload are refused. What a remote peer
 * buys is owned by the gateway's uid (MaxRemoteSlices= of them at once),
 * its request ids are in that uid's namespace; it is never an operator
 * and never the creator a slice is shown to without its token.
 * Group and user names are resolved at start and at each reload; a group
 * that does not exist has no members, a GatewayUser= that does not exist
 * means no gateway.
 *
 * What one uid may hold ([Control] in prepayd.conf): MaxConnections= at
 * once, of which OperatorConnections= are kept for operators and a uid
 * that is not one holds at most MaxConnectionsPerUser= (the gateway
 * GatewayConnections=); of the EVENTS_MAX_SUBSCRIBERS event streams the
 * same places are kept, and such a uid follows at most
 * MaxEventStreamsPerUser= (the gateway GatewayEventStreams=). A connection refused is
 * told why in one datagram and closed; the refusals are logged at most
 * once per CONTROL_WARN_INTERVAL_USEC, with their count. A connection
 * that sends no request for IdleTimeoutSec= (from its accept or its last
 * reply) is told so and closed; an event stream is not, it sends nothing
 * by design. */
#define CONTROL_WARN_INTERVAL_USEC (10 * 1000 * 1000ULL)

/* Supplementary groups read of a peer: the kernel's NGROUPS_MAX. */
#define CONTROL_MAX_PEER_GROUPS 65536
/* A group that does not exist, or none: nobody is in it. */
#define GID_INVALID ((gid_t) -1)
/* No such user: nobody has that uid. */
#define UID_INVALID ((uid_t) -1)

enum control_rights {
        CONTROL_NONE,
        CONTROL_REMOTE, /* the gateway: a buyer with no uid (rights of their own, control_op_allowed()) */
        CONTROL_CLIENT,
        CONTROL_OPERATOR,
};

struct control;

/* What the socket works with, the manager's all of it: the handlers'
 * world (requests.h), the batch a reply waits for, the event streams,
 * the slices a caller is moved into after a create's commit. */
struct control_context {
        const struct config *config;
        sd_event *event;
        struct batch *batch;
        struct events *events;
        struct slices *slices;
        struct requests requests;
};

int control_new(const struct control_context *ctx, struct control **ret);
void control_free(struct control *c);
/* After the configuration was read again: AdminGroup=, ClientGroup= and
 * GatewayUser= resolved again, the socket given to the client group (when prepayd
 * made it). Connections keep the rights they were accepted with. Accepts
 * NULL. */
int control_reload(struct control *c);

/* A peer's rights from its uid, primary gid and supplementary gids:
 * operator for uid 0 or a member of admin_gid; remote for gateway_uid
 * (whatever its groups; UID_INVALID: no gateway; never uid 0); client
 * for a member of client_gid, or anyone when everyone is set; else none.
 * GID_INVALID is a group nobody is in. No system call, for tests. */
enum control_rights control_rights_of(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, gid_t admin_gid,
                                      gid_t client_gid, bool everyone, uid_t gateway_uid);
/* Whether a peer with these rights may send op at all (acting on a slice
 * needs more: its owner token, or an operator). false for an unknown op.
 * No system call, for tests. */
bool control_op_allowed(enum control_rights rights, const char *op);

/* Whether one more connection (or event stream) may be taken, n of them
 * being open and n_uid of them the same uid's: never beyond max; an
 * operator takes any place below max; anyone else at most per_user of
 * them, and none of the last "reserved" places (at least one place stays
 * open to others: reserved counts as at most max - 1). No system call,
 * for tests. */
enum control_admission {
        CONTROL_ADMIT,
        CONTROL_FULL,          /* every place is taken */
        CONTROL_FULL_FOR_USER, /* the uid holds per_user already */
        CONTROL_ONLY_OPERATORS, /* only the places kept for operators are left */
};
enum control_admission control_admit(bool operator, uint64_t n, uint64_t n_uid, uint64_t max, uint64_t reserved,
                                     uint64_t per_user);
