/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "batch.h"
#include "billing.h"
#include "common/log.h"
#include "common/parse.h"
#include "common/pidfd.h"
#include "config.h"
#include "control.h"
#include "events.h"
#include "requests.h"
#include "slices.h"
#include "verify.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5 */
#endif

struct connection {
        struct control *control;
        sd_event_source *source;
        sd_event_source *idle_source; /* armed while no request is being handled */
        int fd;
        struct ucred peer;
        enum control_rights rights; /* as of accept, against the groups then */
        /* What came with the datagram being handled: the sender's
         * credentials (SO_PASSCRED), the first file descriptor passed (a
         * pidfd of the caller, from prepay) and how many were passed;
         * closed once the reply is sent. */
        struct ucred sender;
        bool sender_known;
        int sent_fd;
        unsigned n_sent_fds;
        /* A reply waiting for the ledger batch it depends on. */
        json_object *pending;
        /* A request whose handler waits (rc.deferred), handled again
         * when it is resumed. */
        char *deferred;
        size_t deferred_size;
        /* The request being handled, as its handler sees it (requests.h);
         * its attach_pidfd is the caller, pinned for the attach that
         * follows a create's commit. */
        struct request_conn rc;
        char operators[128]; /* rc.operators */
        /* Asked for events: it only receives from now on (events.c sends). */
        bool subscribed;
        struct connection *next;
};

struct control {
        struct control_context ctx;
        sd_event_source *listen_source;
        int listen_fd;
        bool bound;
        char *path;
        struct connection *connections;
        unsigned n_connections;
        gid_t admin_gid, client_gid; /* GID_INVALID: no such group */
        uid_t gateway_uid;           /* UID_INVALID: no gateway */
        bool peer_groups_unknown;    /* SO_PEERGROUPS failed once: said so */
        /* Connections refused since the last warning about it, and when
         * that was (CLOCK_MONOTONIC; 0: never). */
        unsigned n_refused;
        uint64_t refused_warn_usec;
};

/* ---- who may do what ---- */

static bool in_group(gid_t gid, const gid_t *groups, size_t n_groups, gid_t group) {
        if (group == GID_INVALID)
                return false;
        if (gid == group)
                return true;
        for (size_t i = 0; i < n_groups; i++)
                if (groups[i] == group)
                        return true;
        return false;
}

enum control_admission control_admit(bool operator, uint64_t n, uint64_t n_uid, uint64_t max, uint64_t reserved,
                                     uint64_t per_user) {
        if (n >= max)
                return CONTROL_FULL;
        if (operator)
                return CONTROL_ADMIT;
        if (n_uid >= per_user)
                return CONTROL_FULL_FOR_USER;
        if (n >= max - MIN(reserved, max - 1))
                return CONTROL_ONLY_OPERATORS;
        return CONTROL_ADMIT;
}

enum control_rights control_rights_of(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, gid_t admin_gid,
                                      gid_t client_gid, bool everyone, uid_t gateway_uid) {
        if (uid == 0)
                return CONTROL_OPERATOR;
        /* Before the groups: the gateway speaks for strangers, so whatever
         * groups its user is in (one added to AdminGroup= by mistake) give
         * them nothing. */
        if (gateway_uid != UID_INVALID && uid == gateway_uid)
                return CONTROL_REMOTE;
        if (in_group(gid, groups, n_groups, admin_gid))
                return CONTROL_OPERATOR;
        if (everyone || in_group(gid, groups, n_groups, client_gid))
                return CONTROL_CLIENT;
        return CONTROL_NONE;
}

/* ClientGroup= empty: every local user is a client. */
static bool client_everyone(struct control *c) {
        const char *g = c->ctx.config->client_group;

        return !g || !g[0];
}

/* An NSS lookup (getgrnam_r(), getpwnam_r()) with a buffer that grows
 * while it is too small: get() returns 0 and sets *found (NULL: no such
 * name), or an errno. */
static int nss_lookup(const char *name, long size_hint, int (*get)(const char *name, char *buf, size_t size,
                                                                     void *ret, bool *found),
                      void *ret) {
        _cleanup_(freep) char *buf = NULL;
        size_t size = size_hint > 0 ? (size_t) size_hint : 4096;
        bool found = false;
        int r;

        for (;;) {
                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = get(name, buf, size, ret, &found);
                if (r != ERANGE)
                        break;
                if (size >= 1024 * 1024)
                        return -ERANGE;
                size *= 2;
        }
        if (r != 0)
                return -r;
        return found ? 0 : -ENOENT;
}

static int get_gid(const char *name, char *buf, size_t size, void *ret, bool *found) {
        struct group grp, *g = NULL;
        int r;

        r = getgrnam_r(name, &grp, buf, size, &g);
        if (r == 0 && g)
                *(gid_t *) ret = g->gr_gid;
        *found = g != NULL;
        return r;
}

static int get_uid(const char *name, char *buf, size_t size, void *ret, bool *found) {
        struct passwd pw, *p = NULL;
        int r;

        r = getpwnam_r(name, &pw, buf, size, &p);
        if (r == 0 && p)
                *(uid_t *) ret = p->pw_uid;
        *found = p != NULL;
        return r;
}

static int lookup_group(const char *name, gid_t *ret) {
        return nss_lookup(name, sysconf(_SC_GETGR_R_SIZE_MAX), get_gid, ret);
}

static int lookup_user(const char *name, uid_t *ret) {
        return nss_lookup(name, sysconf(_SC_GETPW_R_SIZE_MAX), get_uid, ret);
}

/* A group named in the config, or GID_INVALID (nobody) with a warning. */
static gid_t resolve_group(const char *key, const char *name, const char *consequence) {
        gid_t gid = GID_INVALID;
        int r;

        if (!name || !name[0])
                return GID_INVALID;
        r = lookup_group(name, &gid);
        if (r == -ENOENT)
                log_warning("%s=%s: no such group; %s.", key, name, consequence);
        else if (r < 0)
                log_warning_errno(r, "%s=%s: failed to look the group up (%m); %s.", key, name, consequence);
        return r < 0 ? GID_INVALID : gid;
}

/* GatewayUser=: a user that does not exist is no gateway (a host that
 * does not run one), said at notice; root is never one. */
static uid_t resolve_gateway(const char *name) {
        uid_t uid = UID_INVALID;
        int r;

        if (!name || !name[0])
                return UID_INVALID;
        r = lookup_user(name, &uid);
        if (r == -ENOENT) {
                log_notice("GatewayUser=%s: no such user; no remote buyers.", name);
                return UID_INVALID;
        }
        if (r < 0) {
                log_warning_errno(r, "GatewayUser=%s: failed to look the user up (%m); no remote buyers.", name);
                return UID_INVALID;
        }
        if (uid == 0) {
                log_warning("GatewayUser=%s is root, who is never the gateway; no remote buyers.", name);
                return UID_INVALID;
        }
        return uid;
}

static void resolve_groups(struct control *c) {
        const struct config *cfg = c->ctx.config;

        c->admin_gid = resolve_group("AdminGroup", cfg->admin_group, "only root acts as operator");
        c->client_gid = resolve_group("ClientGroup", cfg->client_group,
                                      "only root and operators may use prepayd, and the control socket stays "
                                      "root's");
        c->gateway_uid = resolve_gateway(cfg->gateway_user);
        if (c->gateway_uid != UID_INVALID)
                log_debug("Remote buyers: through uid %u (GatewayUser=%s).", (unsigned) c->gateway_uid,
                          cfg->gateway_user);
        log_debug("Operators: root%s%s; clients: %s%s.", c->admin_gid != GID_INVALID ? " and group " : "",
                  c->admin_gid != GID_INVALID ? cfg->admin_group : "",
                  client_everyone(c) ? "every local user" : c->client_gid != GID_INVALID ? "group " : "nobody else",
                  c->client_gid != GID_INVALID ? cfg->client_group : "");
}

/* Who operators are, for refusals. */
static const char *operators(struct control *c, char *buf, size_t size) {
        const char *g = c->ctx.config->admin_group;

        if (!g || !g[0])
                snprintf(buf, size, "root only (AdminGroup= is empty)");
        else
                snprintf(buf, size, "root, or group %s (AdminGroup=)", g);
        return buf;
}

/* The socket file prepayd made belongs to ClientGroup= (SocketMode=
 * says what the group may), or to root's group when there is none. */
static void chown_socket(struct control *c) {
        gid_t gid = c->client_gid != GID_INVALID ? c->client_gid : 0;

        if (!c->bound)
                return;
        if (fchownat(AT_FDCWD, c->path, (uid_t) -1, gid, AT_SYMLINK_NOFOLLOW) < 0)
                log_warning_errno(errno, "Failed to give %s to group %s, ignoring: %m", c->path,
                                  gid == 0 ? "root" : c->ctx.config->client_group);
        else if (client_everyone(c) && !(c->ctx.config->socket_mode & 0002))
                log_notice("ClientGroup= is empty, so every local user is a client, but only root's group may "
                           "open %s (SocketMode=%04o).", c->path, (unsigned) c->ctx.config->socket_mode);
}

int control_reload(struct control *c) {
        if (!c)
                return 0;
        resolve_groups(c);
        chown_socket(c);
        return 0;
}

/* The peer's supplementary groups, as they were when it connected. */
static int peer_groups(int fd, gid_t **ret, size_t *ret_n) {
        _cleanup_(freep) gid_t *groups = NULL;
        socklen_t len = 64 * sizeof(gid_t);

        for (;;) {
                gid_t *g = realloc(groups, len ?: sizeof(gid_t));

                if (!g)
                        return -ENOMEM;
                groups = g;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) >= 0)
                        break;
                /* ERANGE: len now says how much is needed. */
                if (errno != ERANGE || len > CONTROL_MAX_PEER_GROUPS * sizeof(gid_t))
                        return -errno;
        }
        *ret_n = len / sizeof(gid_t);
        *ret = TAKE_PTR(groups);
        return 0;
}

static enum control_rights peer_rights(struct control *ctl, int fd, const struct ucred *peer) {
        _cleanup_(freep) gid_t *groups = NULL;
        size_t n = 0;
        int r;

        r = peer_groups(fd, &groups, &n);
        if (r < 0 && !ctl->peer_groups_unknown) {
                log_warning_errno(r, "Failed to read a peer's supplementary groups (SO_PEERGROUPS, Linux 4.13), "
                                  "only primary groups count: %m");
                ctl->peer_groups_unknown = true;
        }
        return control_rights_of(peer->uid, peer->gid, groups, n, ctl->admin_gid, ctl->client_gid,
                                 client_everyone(ctl), ctl->gateway_uid);
}

static void connection_free(struct connection *c) {
        struct connection **p;

        if (!c)
                return;
        for (p = &c->control->connections; *p; p = &(*p)->next)
                if (*p == c) {
                        *p = c->next;
                        break;
                }
        c->control->n_connections--;
        batch_cancel(c->control->ctx.batch, c);
        /* A request whose vouchers are being checked has spent nothing
         * yet: its check is dropped, and a retry with its request id is
         * a new request. */
        billing_cancel_checks(c->control->ctx.requests.billing, &c->rc);
        verify_checked_free(c->rc.checked);
        /* A claim in the fleet database with no answer to give is
         * taken back. */
        requests_fleet_done(&c->control->ctx.requests, &c->rc);
        if (c->deferred && c->control->ctx.slices->vms)
                vms_cancel_waiter(c->control->ctx.slices->vms, c);
        free(c->deferred);
        if (c->subscribed)
                events_unsubscribe(c->control->ctx.events, c);
        json_object_put(c->pending);
        sd_event_source_disable_unref(c->idle_source);
        sd_event_source_disable_unref(c->source);
        closep(&c->sent_fd);
        closep(&c->rc.attach_pidfd);
        closep(&c->fd);
        free(c);
}

/* ---- the process a request moves ---- */

/* The process an attach moves, pinned by a pidfd: the one that sent the
 * request and no other, never one that took its number later (the pid of
 * SO_PEERCRED is a number seen at connect time, nothing more). The kernel
 * says which pid and uid sent the datagram (SCM_CREDENTIALS); the pidfd is
 * the one prepay sends with the request, or else the kernel's pidfd of the
 * connecting process (SO_PEERPIDFD, Linux 6.5); and it must hold that pid
 * now. Either pidfd names a process that existed when the datagram was
 * sent, and a number is held from a process's birth to its reaping: a
 * pidfd holding the sender's number now is the sender's (a pidfd of
 * whatever took the number afterwards could not have been sent with it).
 * The sender must also have the pid and uid that connected (its real uid,
 * as for kill(2): a set-uid program talked into writing to the socket is
 * its runner's to signal anyway). On failure *ret_error is the sentence
 * for the client (the caller frees it). */
static int caller_pidfd(struct connection *c, int *ret, char **ret_error) {
        _cleanup_(closep) int fd = -1;
        pid_t pid;
        int r;

        if (c->n_sent_fds > 1) {
                *ret_error = strdup("A request carries at most one file descriptor, a pidfd of the caller: nothing "
                                    "was moved");
                return -EINVAL;
        }
        if (!c->sender_known) {
                *ret_error = strdup("The request came without its sender's credentials: nothing was moved");
                return -EPERM;
        }
        if (c->sender.pid != c->peer.pid || c->sender.uid != c->peer.uid)
                return asprintf(ret_error, "The request was sent by process %d (uid %u), not by the process that "
                                "connected (pid %d, uid %u): nothing was moved", (int) c->sender.pid,
                                (unsigned) c->sender.uid, (int) c->peer.pid, (unsigned) c->peer.uid) < 0
                               ? -ENOMEM
                               : -EPERM;

        if (c->sent_fd >= 0)
                fd = TAKE_FD(c->sent_fd);
        else {
                socklen_t len = sizeof(fd);

                if (getsockopt(c->fd, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) < 0) {
                        r = -errno;
                        fd = -1;
                        if (r == -ENOPROTOOPT)
                                *ret_error = strdup("This kernel cannot pin the process that connected (SO_PEERPIDFD "
                                                    "needs Linux 6.5) and the request carried no pidfd of it, as "
                                                    "prepay sends: nothing was moved");
                        else if (asprintf(ret_error, "The process that connected (pid %d) has exited: nothing was "
                                          "moved", (int) c->peer.pid) < 0)
                                *ret_error = NULL;
                        return r;
                }
        }

        r = pidfd_get_pid(fd, &pid);
        if (r == -ESRCH)
                return asprintf(ret_error, "The process that sent the request (pid %d) has exited: nothing was "
                                "moved", (int) c->sender.pid) < 0 ? -ENOMEM : r;
        if (r < 0) {
                *ret_error = strdup("The file descriptor sent with the request is not a pidfd: nothing was moved");
                return r;
        }
        if (pid != c->sender.pid)
                return asprintf(ret_error, "The pidfd sent with the request is of process %d, not of the process "
                                "that sent it (pid %d): nothing was moved", (int) pid, (int) c->sender.pid) < 0
                               ? -ENOMEM
                               : -EPERM;
        *ret = TAKE_FD(fd);
        return 0;
}

/* ---- what the handlers need of a connection (struct request_conn) ---- */

static int conn_pin(struct request_conn *rc, int *ret_pidfd, char **ret_error) {
        return caller_pidfd(rc->userdata, ret_pidfd, ret_error);
}

/* The connection becomes an event stream, if its uid may follow one more
 * (control_admit()). */
static json_object *conn_subscribe(struct request_conn *rc, const char *slice, bool funder) {
        struct connection *c = rc->userdata;
        const struct config *cfg = c->control->ctx.config;
        bool operator = c->rights >= CONTROL_OPERATOR, remote = c->rights == CONTROL_REMOTE;
        uint64_t n = 0, n_uid = 0;
        uint64_t per_user = remote ? cfg->gateway_event_streams : cfg->max_event_streams_per_user;
        int r;

        for (struct connection *i = c->control->connections; i; i = i->next)
                if (i->subscribed) {
                        n++;
                        n_uid += i->peer.uid == c->peer.uid;
                }
        switch (control_admit(operator, n, n_uid, EVENTS_MAX_SUBSCRIBERS, cfg->operator_connections, per_user)) {
        case CONTROL_ADMIT:
                break;
        case CONTROL_FULL_FOR_USER:
                if (remote)
                        return message_reply_refusal(MESSAGE_TOO_MANY, "Too many event streams of remote buyers: "
                                                     "at most %" PRIu64 " at once; try again later", per_user);
                return message_reply_refusal(MESSAGE_TOO_MANY, "Too many event streams of uid %u: at most %" PRIu64
                                             " at once (MaxEventStreamsPerUser=); end one first",
                                             (unsigned) c->peer.uid, per_user);
        case CONTROL_ONLY_OPERATORS:
                return message_reply_refusal(MESSAGE_TOO_MANY, "Too many event streams: the %" PRIu64 " places "
                                             "left are kept for operators (OperatorConnections=); try again later",
                                             MIN(cfg->operator_connections, (uint64_t) EVENTS_MAX_SUBSCRIBERS - 1));
        case CONTROL_FULL:
                return message_reply_refusal(MESSAGE_TOO_MANY, "Too many event streams (at most %d at once); try "
                                             "again later", EVENTS_MAX_SUBSCRIBERS);
        }

        r = funder ? events_subscribe_funder(c->control->ctx.events, c->fd, slice, c)
                   : events_subscribe(c->control->ctx.events, c->fd, slice, c);
        if (r == -EUSERS)
                return message_reply_refusal(MESSAGE_TOO_MANY, "Too many event streams (at most %d at once); try "
                                             "again later", EVENTS_MAX_SUBSCRIBERS);
        if (r < 0)
                return message_reply_refusal(message_code_from_errno(r), "Cannot subscribe to events: %s",
                                             strerror(-r));
        c->subscribed = true;
        return message_reply_ok();
}

/* What each op needs at least; acting on a slice needs more (its owner
 * token, or an operator: billing_may_act()). remote: a remote peer may
 * send it (what it may do with it, requests.c checks: control.h). */
static const struct {
        const char *op;
        enum control_rights needs;
        bool remote;
        json_object *(*handler)(struct requests *rq, struct request_conn *rc);
} handlers[] = {
        { "create", CONTROL_CLIENT, true, requests_create },
        { "attach", CONTROL_CLIENT, false, requests_attach },
        { "run-unit", CONTROL_CLIENT, false, requests_run_unit },
        { "status", CONTROL_CLIENT, true, requests_status },
        { "list", CONTROL_CLIENT, false, requests_list },
        { "destroy", CONTROL_CLIENT, false, requests_destroy },
        { "kill", CONTROL_CLIENT, true, requests_kill },
        { "topup", CONTROL_CLIENT, true, requests_topup },
        { "release", CONTROL_CLIENT, true, requests_release },
        { "claim", CONTROL_CLIENT, true, requests_claim },
        { "funders", CONTROL_CLIENT, true, requests_funders },
        { "history", CONTROL_CLIENT, true, requests_history },
        { "sponsor_offer", CONTROL_CLIENT, false, requests_sponsor_offer },
        { "sponsor_bid", CONTROL_CLIENT, true, requests_sponsor_bid },
        { "sponsor_outcome", CONTROL_CLIENT, true, requests_sponsor_outcome },
        { "invest_open", CONTROL_CLIENT, false, requests_invest_open },
        { "pay", CONTROL_CLIENT, true, requests_pay },
        { "quote", CONTROL_CLIENT, true, requests_quote },
        { "events", CONTROL_CLIENT, true, requests_events },
        { "reload", CONTROL_OPERATOR, false, requests_reload },
        { "images", CONTROL_CLIENT, true, requests_images },
        /* A remote peer only with [Metrics] Gateway=yes (requests_metrics()). */
        { "metrics", CONTROL_OPERATOR, true, requests_metrics },
};

static bool handler_allowed(size_t i, enum control_rights rights) {
        if (rights == CONTROL_REMOTE)
                return handlers[i].remote;
        return rights >= handlers[i].needs;
}

bool control_op_allowed(enum control_rights rights, const char *op) {
        for (size_t i = 0; op && i < ARRAY_SIZE(handlers); i++)
                if (streq(handlers[i].op, op))
                        return handler_allowed(i, rights);
        return false;
}

/* The refusal of a peer whose rights fall short of what its op needs. */
static json_object *deny_rights(struct connection *c) {
        if (c->rights == CONTROL_NONE)
                return billing_deny(&c->rc.request, NULL, "uid %u is not in group %s (ClientGroup=%s)",
                                    (unsigned) c->peer.uid, c->control->ctx.config->client_group,
                                    c->control->client_gid == GID_INVALID ? "; there is no such group on this host"
                                                                           : "");
        if (c->rights == CONTROL_REMOTE)
                return billing_deny(&c->rc.request, NULL, "\"%s\" is not offered to remote buyers",
                                    c->rc.request.op);
        return billing_deny(&c->rc.request, NULL, "\"%s\" is for operators: %s", c->rc.request.op,
                            operators(c->control, (char[128]) {}, 128));
}

/* The decoder's sentence for a request refused before a handler was
 * found: it names what is wrong with "op" in bytes that are safe to send
 * back (the op itself, cut short, could end inside a UTF-8 sequence). */
static json_object *refuse_undecoded(json_object *req, const char *fallback) {
        char error[REQUEST_ERROR_MAX];
        struct request fields;

        if (request_decode(req, &fields, error, sizeof(error)) >= 0)
                return message_reply_refusal(MESSAGE_INVALID, "%s", fallback);
        return message_reply_refusal(MESSAGE_INVALID, "%s", error);
}

static json_object *dispatch(struct connection *c, const char *buf, size_t len) {
        struct control *ctl = c->control;
        const char *err = NULL, *op, *request_id, *client;
        json_object *req = NULL, *reply = NULL;
        char error[REQUEST_ERROR_MAX];
        struct request fields;
        int r;

        r = message_parse(buf, len, &req, &err);
        if (r < 0)
                return message_reply_refusal(MESSAGE_INVALID, "Malformed request: %s", strna(err));

        /* "version": "1", 1.5, true or null is not version 1 either. */
        if (request_check_version(req, error, sizeof(error)) < 0) {
                reply = message_reply_refusal(MESSAGE_INVALID, "%s", error);
                goto out;
        }

        if (message_get_string(req, "op", &op) < 0) {
                reply = refuse_undecoded(req, "Malformed request: missing field \"op\"");
                goto out;
        }

        c->rc.request = (struct billing_request) {
                .uid = c->peer.uid,
                .pid = c->peer.pid,
                .operator = c->rights >= CONTROL_OPERATOR,
                .remote = c->rights == CONTROL_REMOTE,
                .op = op,
        };
        if (message_get_string(req, "request_id", &request_id) >= 0 && ledger_request_id_is_valid(request_id))
                c->rc.request.request_id = request_id;
        /* Only the gateway's word on who a buyer is counts; a local peer
         * is known by its uid. Read here for the refusals that come
         * before the request is decoded. */
        if (c->rc.request.remote && message_get_string(req, "client", &client) >= 0 &&
            request_client_is_valid(client))
                c->rc.request.client = client;

        /* A stranger is refused whatever it asks, a known op or not. */
        if (c->rights == CONTROL_NONE) {
                reply = deny_rights(c);
                goto out;
        }

        for (size_t i = 0; i < ARRAY_SIZE(handlers); i++)
                if (streq(handlers[i].op, op)) {
                        if (c->rc.request.remote)
                                log_debug("Request \"%s\" from %s (the gateway, pid %d).", op,
                                          billing_requester(&c->rc.request, (char[BILLING_REQUESTER_MAX]) {}),
                                          (int) c->peer.pid);
                        else
                                log_debug("Request \"%s\" from pid %d uid %u.", op, (int) c->peer.pid,
                                          (unsigned) c->peer.uid);
                        if (!handler_allowed(i, c->rights)) {
                                reply = deny_rights(c);
                                goto out;
                        }
                        /* Every field the op reads, checked before
                         * anything acts on it: no voucher spent, no slice
                         * made for a request with a bad one. */
                        if (request_decode(req, &fields, error, sizeof(error)) < 0) {
                                reply = message_reply_refusal(MESSAGE_INVALID, "%s", error);
                                goto out;
                        }
                        c->rc.request.fields = &fields;
                        c->rc.operators = operators(ctl, c->operators, sizeof(c->operators));
                        events_set_request_id(ctl->ctx.events, c->rc.request.request_id);
                        reply = handlers[i].handler(&ctl->ctx.requests, &c->rc);
                        events_set_request_id(ctl->ctx.events, NULL);
                        goto out;
                }
        reply = refuse_undecoded(req, "Unknown operation");
out:
        /* They point into req. */
        c->rc.request.fields = NULL;
        c->rc.request.op = c->rc.request.request_id = c->rc.request.client = NULL;
        json_object_put(req);
        return reply;
}

/* The file descriptors that came with a request, once it is answered. */
static void connection_drop_fds(struct connection *c) {
        closep(&c->sent_fd);
        closep(&c->rc.attach_pidfd);
        c->sent_fd = c->rc.attach_pidfd = -1;
        c->n_sent_fds = 0;
        c->sender_known = false;
}

/* From now on the connection has IdleTimeoutSec= to send its next
 * request; an event stream sends none, it is never idle. */
static void connection_arm_idle(struct connection *c) {
        int r;

        if (c->subscribed) {
                (void) sd_event_source_set_enabled(c->idle_source, SD_EVENT_OFF);
                return;
        }
        r = sd_event_source_set_time_relative(c->idle_source, c->control->ctx.config->idle_timeout_usec);
        if (r >= 0)
                r = sd_event_source_set_enabled(c->idle_source, SD_EVENT_ONESHOT);
        if (r < 0)
                log_warning_errno(r, "Failed to arm the idle timeout of pid %d's connection, ignoring: %m",
                                  (int) c->peer.pid);
}

static void connection_send(struct connection *c, json_object *reply) {
        const char *text;
        size_t text_len;

        connection_drop_fds(c);
        if (message_serialize(reply, &text, &text_len) < 0) {
                json_object_put(reply);
                reply = message_reply_refusal(MESSAGE_INTERNAL, "Reply too large");
                (void) message_serialize(reply, &text, &text_len);
        }
        if (send(c->fd, text, text_len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                log_debug_errno(errno, "Failed to send reply to pid %d, ignoring: %m", (int) c->peer.pid);
        json_object_put(reply);
}

/* The batch the reply depends on is durable (r = 0) or was rolled back. */
static void on_committed(int r, void *userdata) {
        struct connection *c = userdata;
        struct slices *sl = c->control->ctx.slices;
        json_object *reply = TAKE_PTR(c->pending), *refusal;
        struct slice *s;

        if (r < 0) {
                json_object_put(reply);
                reply = message_reply_refusal(MESSAGE_UNAVAILABLE, "The ledger could not be written (%s): nothing "
                                              "was spent or charged, try again", strerror(-r));
        } else {
                /* Timers and other requests ran before this commit: the
                 * slice may have been spent, kept or released meanwhile. */
                s = c->rc.request.attach[0] ? slices_find(sl, c->rc.request.attach) : NULL;
                if (s && (refusal = requests_refuse_attach_now(s))) {
                        json_object_put(reply);
                        reply = refusal;
                        c->rc.request.attach[0] = '\0';
                }
                if (c->rc.request.attach[0]) {
                        _cleanup_(freep) char *error = NULL;

                        s = slices_find(sl, c->rc.request.attach);
                        if (!s || slices_attach(sl, s, c->rc.attach_pidfd, &error) < 0) {
                                json_object_put(reply);
                                reply = message_reply_refusal(MESSAGE_CONFLICT, "Slice %s is funded, but the "
                                                              "caller could not be moved into it: %s",
                                                              c->rc.request.attach, error ?: "it is gone");
                        }
                }
                if (c->rc.request.destroy[0]) {
                        s = slices_find(sl, c->rc.request.destroy);
                        if (s)
                                (void) slices_destroy(sl, s);
                }
        }
        connection_send(c, reply);
        connection_arm_idle(c);
        (void) sd_event_source_set_enabled(c->source, SD_EVENT_ON);
}

/* Keeps what came beside a datagram: the sender's credentials, and the
 * first file descriptor passed (the others are closed at once). A
 * truncated control part (MSG_CTRUNC) counts as too many descriptors: the
 * kernel closed those that did not fit. */
static void connection_take_cmsgs(struct connection *c, struct msghdr *mh) {
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
                if (cm->cmsg_level != SOL_SOCKET)
                        continue;
                if (cm->cmsg_type == SCM_CREDENTIALS && cm->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                        memcpy(&c->sender, CMSG_DATA(cm), sizeof(struct ucred));
                        /* pid 0: the sender's pid is not known here. */
                        c->sender_known = c->sender.pid > 0;
                } else if (cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len >= CMSG_LEN(0)) {
                        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

                        for (size_t i = 0; i < n; i++) {
                                int fd;

                                memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                                if (c->sent_fd < 0 && c->n_sent_fds == 0)
                                        c->sent_fd = fd;
                                else
                                        (void) close(fd);
                                c->n_sent_fds++;
                        }
                }
        }
        if (mh->msg_flags & MSG_CTRUNC)
                c->n_sent_fds += 2;
}

static void connection_handle(struct connection *c, char *buf, size_t n);

/* The wait of a deferred request is over: it is handled again. */
static void on_resume(void *userdata) {
        struct connection *c = userdata;

        connection_handle(c, TAKE_PTR(c->deferred), c->deferred_size);
}

/* Handles one request (buf, taken), then replies, at once or once the
 * batch it depends on is committed; or parks it while its handler waits. */
static void connection_handle(struct connection *c, char *buf, size_t n) {
        struct batch *batch = c->control->ctx.batch;
        json_object *reply;

        c->rc.request = (struct billing_request) {};
        c->rc.deferred = false;
        c->rc.resume = on_resume;
        reply = dispatch(c, buf, n);
        if (c->rc.deferred && !reply) {
                c->deferred = buf;
                c->deferred_size = n;
                (void) sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
                return;
        }
        free(buf);
        /* The verdicts were for this request only, and so was its
         * fleet claim (credited by now, or taken back). */
        verify_checked_free(TAKE_PTR(c->rc.checked));
        requests_fleet_done(&c->control->ctx.requests, &c->rc);
        if (!reply)
                reply = message_reply_refusal(MESSAGE_INTERNAL, "Internal error: no reply");

        /* Nothing that depends on a write is said before it is durable:
         * wait for the batch, reading nothing more from this peer. A
         * subscription depends on none, and its reply must come before
         * the first event. */
        if (!c->subscribed && (batch_is_open(batch) || c->rc.request.attach[0])) {
                /* An attach that wrote nothing (an unfunded create, an
                 * attach to a slice) with nothing before it: done now.
                 * The commit runs at idle priority, after everything else
                 * the loop has ready; with 1,000 slices alive the meter
                 * passes kept it busy and such a reply waited for minutes
                 * (daemon/README.md). */
                if (!batch_is_open(batch) && !batch_has_waiters(batch)) {
                        c->pending = reply;
                        on_committed(0, c);
                        return;
                }
                if (batch_wait(batch, on_committed, c) >= 0) {
                        c->pending = reply;
                        (void) sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
                        return;
                }
        }
        connection_send(c, reply);
        connection_arm_idle(c);
        (void) sd_event_source_set_enabled(c->source, SD_EVENT_ON);
}

static int on_connection_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct connection *c = userdata;
        _cleanup_(freep) char *buf = NULL;
        /* Credentials and a few descriptors: a pidfd is all prepay sends. */
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(4 * sizeof(int))];
        } control;
        struct iovec iov;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        ssize_t n;

        if (revents & (EPOLLHUP | EPOLLERR) && !(revents & EPOLLIN)) {
                connection_free(c);
                return 0;
        }

        /* One byte more than the maximum, so an oversized datagram shows as
         * truncated instead of being cut silently. */
        buf = malloc(PREPAY_MSG_MAX + 1);
        if (!buf)
                return log_oom();

        iov = (struct iovec) { .iov_base = buf, .iov_len = PREPAY_MSG_MAX + 1 };
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                connection_free(c);
                return 0;
        }
        /* Before anything else: descriptors passed are ours to close now. */
        connection_drop_fds(c);
        connection_take_cmsgs(c, &mh);
        /* A subscriber sends nothing more: anything it does is the end. */
        if (n == 0 || c->subscribed) {
                connection_free(c);
                return 0;
        }

        /* A request is handled: not idle until its reply is out. */
        (void) sd_event_source_set_enabled(c->idle_source, SD_EVENT_OFF);
        if ((size_t) n > PREPAY_MSG_MAX) {
                c->rc.request = (struct billing_request) {};
                connection_send(c, message_reply_refusal(MESSAGE_INVALID, "Request too large (%zd bytes, at most "
                                                         "%d)", n, PREPAY_MSG_MAX));
                connection_arm_idle(c);
                return 0;
        }
        connection_handle(c, TAKE_PTR(buf), (size_t) n);
        return 0;
}

/* Each datagram then says which process sent it (SCM_CREDENTIALS), which
 * is what a pidfd sent with it is checked against (caller_pidfd()). Set
 * on the listening socket, so that connections inherit it from accept on
 * (a datagram sent before accept carries them anyway), and again on each
 * connection. */
static void passcred(int fd) {
        if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &(int) { 1 }, sizeof(int)) < 0)
                log_warning_errno(errno, "Failed to ask for the credentials of control datagrams, ignoring "
                                  "(attach will be refused): %m");
}

/* After the last word to a peer: closed with a request of its unread, the
 * kernel would reset the connection, and the peer would read "Connection
 * reset by peer" instead of what it was told. So it may send no more
 * (its send fails with EPIPE and it reads on), what it sent is dropped,
 * and only then is the socket closed (by the caller). */
static void connection_end(int fd) {
        (void) shutdown(fd, SHUT_RD);
        for (unsigned i = 0; i < 64; i++)
                if (recv(fd, (char[1]) {}, 1, MSG_DONTWAIT | MSG_TRUNC) <= 0) /* 0: nothing left */
                        break;
}

/* A peer that holds a connection and says nothing takes a place others
 * need: it is told why and closed. */
static int on_connection_idle(sd_event_source *source, uint64_t usec, void *userdata) {
        struct connection *c = userdata;
        char d[FORMAT_DURATION_MAX];

        format_duration(d, sizeof(d), c->control->ctx.config->idle_timeout_usec);
        log_debug("Closing the connection of pid %d uid %u: no request for %s.", (int) c->peer.pid,
                  (unsigned) c->peer.uid, d);
        connection_send(c, message_reply_refusal(MESSAGE_UNAVAILABLE, "No request came for %s (IdleTimeoutSec=): "
                                                 "closing the connection", d));
        connection_end(c->fd);
        connection_free(c);
        return 0;
}

/* Refusals are told to the peer each time, and logged at most once per
 * CONTROL_WARN_INTERVAL_USEC with how many there were: a peer that opens
 * connections in a loop must not fill the log. */
static void refuse_connection(struct control *ctl, int fd, const struct ucred *peer, const char *fmt, ...)
        _printf_(4, 5);
static void refuse_connection(struct control *ctl, int fd, const struct ucred *peer, const char *fmt, ...) {
        json_object *reply;
        char reason[256];
        const char *text;
        uint64_t now = 0;
        size_t len;
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(reason, sizeof(reason), fmt, ap);
        va_end(ap);

        reply = message_reply_refusal(MESSAGE_TOO_MANY, "%s", reason);
        if (reply && message_serialize(reply, &text, &len) >= 0)
                (void) send(fd, text, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        json_object_put(reply);
        connection_end(fd);

        ctl->n_refused++;
        (void) sd_event_now(ctl->ctx.event, CLOCK_MONOTONIC, &now);
        if (ctl->refused_warn_usec != 0 && now - ctl->refused_warn_usec < CONTROL_WARN_INTERVAL_USEC)
                return;
        log_warning("Refused %u control connection%s since the last such warning; the latest, of pid %d uid %u: "
                    "%s.", ctl->n_refused, ctl->n_refused == 1 ? "" : "s", (int) peer->pid, (unsigned) peer->uid,
                    reason);
        ctl->n_refused = 0;
        ctl->refused_warn_usec = now ?: 1;
}

/* A new peer takes a place, or is refused; see control.h. */
static bool admit_connection(struct control *ctl, int fd, const struct ucred *peer, enum control_rights rights) {
        const struct config *cfg = ctl->ctx.config;
        bool remote = rights == CONTROL_REMOTE;
        uint64_t per_user = remote ? cfg->gateway_connections : cfg->max_connections_per_user, n_uid = 0;

        for (struct connection *i = ctl->connections; i; i = i->next)
                n_uid += i->peer.uid == peer->uid;
        switch (control_admit(rights >= CONTROL_OPERATOR, ctl->n_connections, n_uid, cfg->max_connections,
                              cfg->operator_connections, per_user)) {
        case CONTROL_ADMIT:
                return true;
        case CONTROL_FULL_FOR_USER:
                refuse_connection(ctl, fd, peer, "Too many connections of uid %u: at most %" PRIu64 " at once "
                                  "(%s=)", (unsigned) peer->uid, per_user,
                                  remote ? "GatewayConnections" : "MaxConnectionsPerUser");
                break;
        case CONTROL_ONLY_OPERATORS:
                refuse_connection(ctl, fd, peer, "Too many connections: the %" PRIu64 " places left are kept for "
                                  "operators (OperatorConnections=); try again later",
                                  MIN(cfg->operator_connections, cfg->max_connections - 1));
                break;
        case CONTROL_FULL:
                refuse_connection(ctl, fd, peer, "Too many connections (at most %" PRIu64 " at once, "
                                  "MaxConnections=); try again later", cfg->max_connections);
                break;
        }
        return false;
}

static int on_listen_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct control *ctl = userdata;
        _cleanup_(closep) int cfd = -1;
        struct connection *c;
        socklen_t len;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0)
                return 0;

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom();
        c->control = ctl;
        c->fd = c->sent_fd = c->rc.attach_pidfd = -1;
        c->rc.pin = conn_pin;
        c->rc.subscribe = conn_subscribe;
        c->rc.userdata = c;

        len = sizeof(c->peer);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
                log_warning_errno(errno, "Failed to get peer credentials, refusing connection: %m");
                free(c);
                return 0;
        }
        c->rights = peer_rights(ctl, cfd, &c->peer);
        passcred(cfd);
        if (!admit_connection(ctl, cfd, &c->peer, c->rights)) {
                free(c);
                return 0;
        }

        r = sd_event_add_io(sd_event_source_get_event(source), &c->source, cfd, EPOLLIN, on_connection_io, c);
        if (r < 0) {
                log_error_errno(r, "Failed to watch a control connection: %m");
                free(c);
                return 0;
        }
        r = sd_event_add_time_relative(sd_event_source_get_event(source), &c->idle_source, CLOCK_MONOTONIC,
                                       ctl->ctx.config->idle_timeout_usec, 0, on_connection_idle, c);
        if (r < 0) {
                log_error_errno(r, "Failed to arm the idle timeout of a control connection: %m");
                sd_event_source_disable_unref(c->source);
                free(c);
                return 0;
        }
        c->fd = TAKE_FD(cfd);
        c->next = ctl->connections;
        ctl->connections = c;
        ctl->n_connections++;
        return 0;
}

/* A socket file left by a daemon that died is removed; one a live daemon
 * answers on is not: two daemons on one socket would be a mess. */
static int remove_stale_socket(const struct sockaddr_un *sa, socklen_t salen) {
        _cleanup_(closep) int fd = -1;
        struct stat st;

        if (lstat(sa->sun_path, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (!S_ISSOCK(st.st_mode))
                return log_error_errno(EEXIST, "%s exists and is not a socket, refusing to replace it.",
                                       sa->sun_path);

        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) sa, salen) == 0)
                return log_error_errno(EADDRINUSE, "Another prepayd is listening on %s.", sa->sun_path);

        if (unlink(sa->sun_path) < 0 && errno != ENOENT)
                return log_error_errno(errno, "Failed to remove stale socket %s: %m", sa->sun_path);
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct control *, control_free);

int control_new(const struct control_context *ctx, struct control **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = ctx->config->control_socket;
        _cleanup_(control_freep) struct control *c = NULL;
        socklen_t salen;
        char *dir, *slash;
        int r;

        if (strlen(path) >= sizeof(sa.sun_path))
                return log_error_errno(ENAMETOOLONG, "ControlSocket=%s is too long for a socket path.", path);
        strcpy(sa.sun_path, path);
        salen = offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1;

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom();
        c->ctx = *ctx;
        c->listen_fd = -1;
        resolve_groups(c);
        c->path = strdup(path);
        if (!c->path)
                return log_oom();

        /* Socket activation: the service manager made the socket (its
         * path, mode and group are the unit's) and hands it over. */
        r = sd_listen_fds(true);
        if (r < 0)
                return log_error_errno(r, "Failed to read the sockets passed by the service manager: %m");
        if (r > 1)
                return log_error_errno(EINVAL, "The service manager passed %d sockets; prepayd takes one, its "
                                       "control socket.", r);
        if (r == 1) {
                if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, path, 0) <= 0)
                        return log_error_errno(EINVAL, "The socket passed by the service manager is not a "
                                               "listening SOCK_SEQPACKET socket at ControlSocket=%s.", path);
                c->listen_fd = SD_LISTEN_FDS_START;
                (void) fcntl(c->listen_fd, F_SETFD, FD_CLOEXEC);
                (void) fcntl(c->listen_fd, F_SETFL, fcntl(c->listen_fd, F_GETFL) | O_NONBLOCK);
                passcred(c->listen_fd);
                goto watch;
        }

        dir = strdupa(path);
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                        return log_error_errno(errno, "Failed to create %s: %m", dir);
        }

        r = remove_stale_socket(&sa, salen);
        if (r < 0)
                return r;

        c->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->listen_fd < 0)
                return log_error_errno(errno, "Failed to create the control socket: %m");
        passcred(c->listen_fd);
        if (bind(c->listen_fd, (struct sockaddr *) &sa, salen) < 0)
                return log_error_errno(errno, "Failed to bind the control socket to %s: %m", path);
        c->bound = true;
        chown_socket(c);
        if (chmod(path, c->ctx.config->socket_mode) < 0)
                return log_error_errno(errno, "Failed to set mode of %s: %m", path);
        if (listen(c->listen_fd, 64) < 0)
                return log_error_errno(errno, "Failed to listen on %s: %m", path);

watch:
        r = sd_event_add_io(c->ctx.event, &c->listen_source, c->listen_fd, EPOLLIN, on_listen_io, c);
        if (r < 0)
                return log_error_errno(r, "Failed to watch the control socket: %m");

        log_info("Listening on %s%s.", path, c->bound ? "" : " (socket from the service manager)");
        *ret = TAKE_PTR(c);
        return 0;
}

void control_free(struct control *c) {
        if (!c)
                return;
        while (c->connections)
                connection_free(c->connections);
        sd_event_source_disable_unref(c->listen_source);
        if (c->listen_fd >= 0)
                close(c->listen_fd);
        /* Only a file we bound ourselves. */
        if (c->bound)
                (void) unlink(c->path);
        free(c->path);
        free(c);
}
