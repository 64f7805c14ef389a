/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "control.h"
#include "events.h"
#include "manager.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

struct connection {
        struct control *control;
        sd_event_source *source;
        int fd;
        struct ucred peer;
        enum control_rights rights; /* as of accept, against the groups then */
        /* A reply waiting for the ledger batch it depends on. */
        json_object *pending;
        struct billing_request request;
        /* Asked for events: it only receives from now on (events.c sends). */
        bool subscribed;
        struct connection *next;
};

struct control {
        struct manager *manager;
        sd_event_source *listen_source;
        int listen_fd;
        bool bound;
        char *path;
        struct connection *connections;
        unsigned n_connections;
        gid_t admin_gid, client_gid; /* GID_INVALID: no such group */
        bool peer_groups_unknown;    /* SO_PEERGROUPS failed once: said so */
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

enum control_rights control_rights_of(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups, gid_t admin_gid,
                                      gid_t client_gid, bool everyone) {
        if (uid == 0 || in_group(gid, groups, n_groups, admin_gid))
                return CONTROL_OPERATOR;
        if (everyone || in_group(gid, groups, n_groups, client_gid))
                return CONTROL_CLIENT;
        return CONTROL_NONE;
}

/* ClientGroup= empty: every local user is a client. */
static bool client_everyone(struct control *c) {
        const char *g = c->manager->config->client_group;

        return !g || !g[0];
}

static int lookup_group(const char *name, gid_t *ret) {
        _cleanup_(freep) char *buf = NULL;
        struct group grp, *found = NULL;
        long max = sysconf(_SC_GETGR_R_SIZE_MAX);
        size_t size = max > 0 ? (size_t) max : 4096;
        int r;

        for (;;) {
                free(buf);
                buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                r = getgrnam_r(name, &grp, buf, size, &found);
                if (r != ERANGE)
                        break;
                if (size >= 1024 * 1024)
                        return -ERANGE;
                size *= 2;
        }
        if (r != 0)
                return -r;
        if (!found)
                return -ENOENT;
        *ret = grp.gr_gid;
        return 0;
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

static void resolve_groups(struct control *c) {
        const struct config *cfg = c->manager->config;

        c->admin_gid = resolve_group("AdminGroup", cfg->admin_group, "only root acts as operator");
        c->client_gid = resolve_group("ClientGroup", cfg->client_group,
                                      "only root and operators may use prepayd, and the control socket stays "
                                      "root's");
        log_debug("Operators: root%s%s; clients: %s%s.", c->admin_gid != GID_INVALID ? " and group " : "",
                  c->admin_gid != GID_INVALID ? cfg->admin_group : "",
                  client_everyone(c) ? "every local user" : c->client_gid != GID_INVALID ? "group " : "nobody else",
                  c->client_gid != GID_INVALID ? cfg->client_group : "");
}

/* Who operators are, for refusals. */
static const char *operators(struct control *c, char *buf, size_t size) {
        const char *g = c->manager->config->admin_group;

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
                                  gid == 0 ? "root" : c->manager->config->client_group);
        else if (client_everyone(c) && !(c->manager->config->socket_mode & 0002))
                log_notice("ClientGroup= is empty, so every local user is a client, but only root's group may "
                           "open %s (SocketMode=%04o).", c->path, (unsigned) c->manager->config->socket_mode);
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
                                 client_everyone(ctl));
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
        billing_cancel(c->control->manager->billing, c);
        if (c->subscribed)
                events_unsubscribe(c->control->manager->events, c);
        json_object_put(c->pending);
        sd_event_source_disable_unref(c->source);
        closep(&c->fd);
        free(c);
}

/* Looks the slice named in the request up; on failure *reply is the error. */
static struct slice *request_slice(struct connection *c, json_object *req, json_object **reply) {
        const char *id;
        struct slice *s;

        if (message_get_string(req, "slice", &id) < 0) {
                *reply = message_reply_error("Missing or invalid field \"slice\"");
                return NULL;
        }
        if (!slice_id_is_valid(id)) {
                *reply = message_reply_error("Invalid slice id \"%.40s\": expected s- and 8 to 16 hex digits", id);
                return NULL;
        }
        s = manager_find(c->control->manager, id);
        if (!s) {
                *reply = message_reply_error("No slice %s", id);
                return NULL;
        }
        return s;
}

/* The same, for acting on the slice: its owner token, its owner's uid
 * for an unfunded slice, or an operator. */
static struct slice *request_owned_slice(struct connection *c, json_object *req, json_object **reply) {
        const char *token = NULL;
        struct slice *s;

        s = request_slice(c, req, reply);
        if (!s)
                return NULL;
        if (message_get_string(req, "token", &token) == -EINVAL) {
                *reply = message_reply_error("Field \"token\" must be a string");
                return NULL;
        }
        if (!billing_may_act(c->control->manager->billing, s, &c->request, token, reply))
                return NULL;
        return s;
}

static json_object *admit_replayed_create(struct connection *c, json_object *reply);

static json_object *handle_create(struct connection *c, json_object *req) {
        json_object *reply = billing_handle_create(c->control->manager->billing, &c->request);

        if (c->request.replayed && c->request.attach[0])
                reply = admit_replayed_create(c, reply);
        return reply;
}

static json_object *handle_topup(struct connection *c, json_object *req) {
        return billing_handle_topup(c->control->manager->billing, &c->request);
}

static json_object *handle_release(struct connection *c, json_object *req) {
        return billing_handle_release(c->control->manager->billing, &c->request);
}

static json_object *handle_quote(struct connection *c, json_object *req) {
        return billing_handle_quote(c->control->manager->billing, &c->request);
}

/* Nothing new runs in a released slice or one whose balance is spent. */
static json_object *refuse_new_work(struct slice *s) {
        if (s->account.funded && s->account.l.state == LEDGER_SLICE_RELEASED)
                return message_reply_error("Slice %s is released: nothing may run in it", s->id);
        if (s->account.funded && s->account.enforce.state != ENFORCE_OK && s->account.enforce.state != ENFORCE_LOW)
                return message_reply_error("Slice %s is %s: its balance is spent; top it up first (prepay topup)",
                                           s->id, enforce_state_to_string(s->account.enforce.state));
        return NULL;
}

/* Lets new work into s: NULL when it may run there (a kept slice made
 * active again, so that it is billed), else the refusal. */
static json_object *admit_work(struct connection *c, struct slice *s) {
        json_object *reply;
        int r;

        reply = refuse_new_work(s);
        if (reply)
                return reply;
        r = billing_activate(c->control->manager->billing, s);
        if (r < 0)
                return message_reply_error("The ledger cannot be written: %s", strerror(-r));
        return NULL;
}

/* An owned slice that new work may run in, made active again if it was
 * kept; on failure *reply says why. */
static struct slice *request_slice_for_work(struct connection *c, json_object *req, json_object **reply) {
        struct slice *s;

        s = request_owned_slice(c, req, reply);
        if (!s)
                return NULL;
        *reply = admit_work(c, s);
        if (*reply)
                return NULL;
        return s;
}

/* A replayed create (the same request id again) is answered from the
 * ledger, but the slice it names may have been spent, killed, kept or
 * released since: its caller gets in only as "prepay run --slice" would
 * now. Refused, the stored answer (slice, token) comes back as an error
 * saying why, and nobody is moved in. */
static json_object *admit_replayed_create(struct connection *c, json_object *reply) {
        struct manager *m = c->control->manager;
        const char *why = NULL, *request_id = c->request.request_id ?: "?";
        json_object *refusal, *answer, *v;
        struct slice *s;

        s = manager_find(m, c->request.attach);
        if (s)
                refusal = admit_work(c, s);
        else
                refusal = message_reply_error("Slice %s is gone: nothing may run in it", c->request.attach);
        if (!refusal)
                return reply;

        (void) message_get_string(refusal, "error", &why);
        log_notice("Request %s of uid %u (pid %d) replayed a create: not moved into slice %s: %s.", request_id,
                   (unsigned) c->request.uid, (int) c->request.pid, c->request.attach, strna(why));
        answer = message_reply_error("Request %s bought slice %s before (nothing was spent again), but the caller "
                                     "was not moved into it: %s", request_id, c->request.attach, strna(why));
        if (json_object_object_get_ex(reply, "slice", &v))
                json_object_object_add(answer, "slice", json_object_get(v));
        if (json_object_object_get_ex(reply, "token", &v))
                json_object_object_add(answer, "token", json_object_get(v));
        json_object_put(refusal);
        json_object_put(reply);
        c->request.attach[0] = '\0';
        return answer;
}

static json_object *handle_attach(struct connection *c, json_object *req) {
        _cleanup_(freep) char *error = NULL;
        json_object *reply = NULL;
        struct slice *s;
        int r;

        s = request_slice_for_work(c, req, &reply);
        if (!s)
                return reply;
        r = manager_attach(c->control->manager, s, c->peer.pid, &error);
        if (r < 0)
                return message_reply_error("%s", error ?: strerror(-r));
        return manager_slice_reply(c->control->manager, s);
}

/* A transient unit of the service manager in the slice (Backend=systemd):
 * a client's runs as the client's uid, an operator's as the unit says. */
static json_object *handle_run_unit(struct connection *c, json_object *req) {
        struct manager *m = c->control->manager;
        _cleanup_(freep) char *name = NULL, *error = NULL;
        json_object *reply = NULL;
        const char *unit;
        struct slice *s;
        int r;

        if (message_get_string(req, "unit", &unit) < 0 || !unit[0] || strlen(unit) > 255)
                return message_reply_error("Missing or invalid field \"unit\": a unit name of at most 255 bytes");
        s = request_slice_for_work(c, req, &reply);
        if (!s)
                return reply;
        r = manager_run_unit(m, s, unit, c->rights >= CONTROL_OPERATOR ? (uid_t) -1 : c->peer.uid, &name, &error);
        if (r < 0)
                return message_reply_error("%s", error ?: strerror(-r));
        reply = manager_slice_reply(m, s);
        json_object_object_add(reply, "unit", json_object_new_string(name));
        return reply;
}

/* SIGKILL to every process in the slice; the slice and its balance stay. */
static json_object *handle_kill(struct connection *c, json_object *req) {
        struct manager *m = c->control->manager;
        json_object *reply = NULL;
        struct slice *s;
        int r;

        s = request_owned_slice(c, req, &reply);
        if (!s)
                return reply;
        if (!s->handle)
                return message_reply_error("Slice %s has no cgroup left: nothing runs in it", s->id);
        r = m->ops->kill(s->handle);
        if (r < 0)
                return message_reply_error("Failed to kill the processes of slice %s: %s", s->id, strerror(-r));
        billing_emit(m->billing, s, EVENT_KILLED, "kill", "every process killed on request of uid %u",
                     (unsigned) c->peer.uid);
        manager_sample_slice(m, s);
        return manager_slice_reply(m, s);
}

/* As SIGHUP; the reply says whether the file loaded. */
static json_object *handle_reload(struct connection *c, json_object *req) {
        int r;

        log_info("Reloading on request of uid %u (pid %d).", (unsigned) c->peer.uid, (int) c->peer.pid);
        r = manager_reload(c->control->manager);
        if (r < 0)
                return message_reply_error("Reloading the configuration failed (%s): the running configuration "
                                           "stays; the daemon's log says why", strerror(-r));
        return message_reply_ok();
}

static json_object *handle_status(struct connection *c, json_object *req) {
        json_object *reply = NULL;
        struct slice *s;

        /* Sample first: a slice found vanished is gone before the lookup. */
        manager_sample(c->control->manager);
        s = request_slice(c, req, &reply);
        if (!s)
                return reply;
        return manager_slice_reply(c->control->manager, s);
}

/* A page of slices from index "cursor" on, as many as fit one datagram
 * with room to spare; "next" is where the following page starts. Slices
 * created or destroyed between two pages may shift the listing by one.
 * A client sees the slices its uid created only, and the reply says so
 * ("only_uid"); an operator sees every slice. */
static json_object *handle_list(struct connection *c, json_object *req) {
        const size_t budget = PREPAY_MSG_MAX - 1024;
        struct manager *m = c->control->manager;
        bool all = c->rights >= CONTROL_OPERATOR;
        json_object *reply, *array;
        uint64_t cursor = 0, i = 0;
        size_t used = 0;
        int r;

        r = message_get_u64(req, "cursor", &cursor);
        if (r < 0 && r != -ENOENT)
                return message_reply_error("Field \"cursor\" must be a whole number");

        if (cursor == 0)
                manager_sample(m);

        reply = message_reply_ok();
        array = json_object_new_array();
        json_object_object_add(reply, "slices", array);
        if (!all)
                json_object_object_add(reply, "only_uid", json_object_new_int64(c->peer.uid));

        for (struct slice *s = m->slices; s; s = s->next, i++) {
                struct slice_info info;
                json_object *o;
                size_t len;

                if (i < cursor || (!all && s->owner_uid != c->peer.uid))
                        continue;
                manager_slice_info(m, s, &info);
                if (slice_info_to_json(&info, &o) < 0)
                        continue;
                len = strlen(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) + 1;
                if (used + len > budget && used > 0) {
                        json_object_put(o);
                        json_object_object_add(reply, "next", json_object_new_int64((int64_t) i));
                        break;
                }
                used += len;
                json_object_array_add(array, o);
        }
        return reply;
}

static json_object *handle_destroy(struct connection *c, json_object *req) {
        json_object *reply = NULL;
        struct slice *s;
        int r;

        s = request_owned_slice(c, req, &reply);
        if (!s)
                return reply;
        if (s->account.funded)
                return message_reply_error("Slice %s is funded: release it (prepay release %s), so that its "
                                           "balance is refunded", s->id, s->id);
        r = manager_destroy_slice(c->control->manager, s);
        if (r < 0)
                return message_reply_error("Slice destroyed, but its cgroups could not all be removed: %s",
                                           strerror(-r));
        return message_reply_ok();
}

/* The reply goes out at once, before any event can (see
 * on_connection_io()); from then on the connection only receives. */
static json_object *handle_events(struct connection *c, json_object *req) {
        const char *slice = NULL;
        int r;

        r = message_get_string(req, "slice", &slice);
        if (r == -EINVAL)
                return message_reply_error("Field \"slice\" must be a string");
        if (slice && !slice_id_is_valid(slice))
                return message_reply_error("Invalid slice id \"%.40s\": expected s- and 8 to 16 hex digits", slice);
        if (!slice && c->rights < CONTROL_OPERATOR)
                return billing_deny(&c->request, NULL, "the events of every slice are for operators (%s); name one "
                                    "slice", operators(c->control, (char[128]) {}, 128));
        r = events_subscribe(c->control->manager->events, c->fd, slice, c);
        if (r == -EUSERS)
                return message_reply_error("Too many event subscribers (at most %d)", EVENTS_MAX_SUBSCRIBERS);
        if (r < 0)
                return message_reply_error("Cannot subscribe to events: %s", strerror(-r));
        c->subscribed = true;
        return message_reply_ok();
}

/* What each op needs at least; acting on a slice needs more (its owner
 * token, or an operator: billing_may_act()). */
static const struct {
        const char *op;
        enum control_rights needs;
        json_object *(*handler)(struct connection *c, json_object *req);
} handlers[] = {
        { "create", CONTROL_CLIENT, handle_create },     { "attach", CONTROL_CLIENT, handle_attach },
        { "run-unit", CONTROL_CLIENT, handle_run_unit }, { "status", CONTROL_CLIENT, handle_status },
        { "list", CONTROL_CLIENT, handle_list },         { "destroy", CONTROL_CLIENT, handle_destroy },
        { "kill", CONTROL_CLIENT, handle_kill },         { "topup", CONTROL_CLIENT, handle_topup },
        { "release", CONTROL_CLIENT, handle_release },   { "quote", CONTROL_CLIENT, handle_quote },
        { "events", CONTROL_CLIENT, handle_events },     { "reload", CONTROL_OPERATOR, handle_reload },
};

/* The refusal of a peer whose rights fall short of what its op needs. */
static json_object *deny_rights(struct connection *c) {
        if (c->rights < CONTROL_CLIENT)
                return billing_deny(&c->request, NULL, "uid %u is not in group %s (ClientGroup=%s)",
                                    (unsigned) c->peer.uid, c->control->manager->config->client_group,
                                    c->control->client_gid == GID_INVALID ? "; there is no such group on this host"
                                                                           : "");
        return billing_deny(&c->request, NULL, "\"%s\" is for operators: %s", c->request.op,
                            operators(c->control, (char[128]) {}, 128));
}

static json_object *dispatch(struct connection *c, const char *buf, size_t len) {
        struct manager *m = c->control->manager;
        const char *err = NULL, *op, *request_id;
        json_object *req = NULL, *reply = NULL;
        uint64_t version;
        int r;

        r = message_parse(buf, len, &req, &err);
        if (r < 0)
                return message_reply_error("Malformed request: %s", strna(err));

        if (message_get_u64(req, "version", &version) == 0 && version != PREPAY_PROTOCOL_VERSION) {
                reply = message_reply_error("Unsupported protocol version %" PRIu64 " (this daemon speaks %d)",
                                            version, PREPAY_PROTOCOL_VERSION);
                goto out;
        }

        if (message_get_string(req, "op", &op) < 0) {
                reply = message_reply_error("Malformed request: missing field \"op\"");
                goto out;
        }

        c->request = (struct billing_request) {
                .uid = c->peer.uid,
                .pid = c->peer.pid,
                .operator = c->rights >= CONTROL_OPERATOR,
                .op = op,
                .req = req,
        };
        if (message_get_string(req, "request_id", &request_id) >= 0 && ledger_request_id_is_valid(request_id))
                c->request.request_id = request_id;

        /* A stranger is refused whatever it asks, a known op or not. */
        if (c->rights < CONTROL_CLIENT) {
                reply = deny_rights(c);
                goto out;
        }

        for (size_t i = 0; i < ARRAY_SIZE(handlers); i++)
                if (streq(handlers[i].op, op)) {
                        log_debug("Request \"%s\" from pid %d uid %u.", op, (int) c->peer.pid,
                                  (unsigned) c->peer.uid);
                        if (c->rights < handlers[i].needs) {
                                reply = deny_rights(c);
                                goto out;
                        }
                        events_set_request_id(m->events, c->request.request_id);
                        reply = handlers[i].handler(c, req);
                        events_set_request_id(m->events, NULL);
                        goto out;
                }
        reply = message_reply_error("Unknown operation \"%.40s\"", op);
out:
        /* They point into req. */
        c->request.req = NULL;
        c->request.op = c->request.request_id = NULL;
        json_object_put(req);
        return reply;
}

static void connection_send(struct connection *c, json_object *reply) {
        const char *text;
        size_t text_len;

        if (message_serialize(reply, &text, &text_len) < 0) {
                json_object_put(reply);
                reply = message_reply_error("Reply too large");
                (void) message_serialize(reply, &text, &text_len);
        }
        if (send(c->fd, text, text_len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                log_debug_errno(errno, "Failed to send reply to pid %d, ignoring: %m", (int) c->peer.pid);
        json_object_put(reply);
}

/* Whether a slice still takes the caller a reply let in: as at the
 * request, and active (a kept slice is made active only in a request,
 * whose write the reply waits for). */
static json_object *refuse_attach_now(struct slice *s) {
        json_object *reply = refuse_new_work(s);

        if (!reply && s->account.funded && s->account.l.state != LEDGER_SLICE_ACTIVE)
                reply = message_reply_error("Slice %s was stopped with its balance kept meanwhile: run in it "
                                            "again (prepay run --slice)", s->id);
        return reply;
}

/* The batch the reply depends on is durable (r = 0) or was rolled back. */
static void on_committed(int r, void *userdata) {
        struct connection *c = userdata;
        struct manager *m = c->control->manager;
        json_object *reply = TAKE_PTR(c->pending), *refusal;
        struct slice *s;

        if (r < 0) {
                json_object_put(reply);
                reply = message_reply_error("The ledger could not be written (%s): nothing was spent or charged, "
                                            "try again", strerror(-r));
        } else {
                /* Timers and other requests ran before this commit: the
                 * slice may have been spent, kept or released meanwhile. */
                s = c->request.attach[0] ? manager_find(m, c->request.attach) : NULL;
                if (s && (refusal = refuse_attach_now(s))) {
                        json_object_put(reply);
                        reply = refusal;
                        c->request.attach[0] = '\0';
                }
                if (c->request.attach[0]) {
                        _cleanup_(freep) char *error = NULL;

                        s = manager_find(m, c->request.attach);
                        if (!s || manager_attach(m, s, c->peer.pid, &error) < 0) {
                                json_object_put(reply);
                                reply = message_reply_error("Slice %s is funded, but the caller could not be moved "
                                                            "into it: %s", c->request.attach,
                                                            error ?: "it is gone");
                        }
                }
                if (c->request.destroy[0]) {
                        s = manager_find(m, c->request.destroy);
                        if (s)
                                (void) manager_destroy_slice(m, s);
                }
        }
        connection_send(c, reply);
        (void) sd_event_source_set_enabled(c->source, SD_EVENT_ON);
}

static int on_connection_io(sd_event_source *source, int fd, uint32_t revents, void *userdata) {
        struct connection *c = userdata;
        struct manager *m = c->control->manager;
        _cleanup_(freep) char *buf = NULL;
        json_object *reply;
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

        n = recv(fd, buf, PREPAY_MSG_MAX + 1, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                connection_free(c);
                return 0;
        }
        /* A subscriber sends nothing more: anything it does is the end. */
        if (n == 0 || c->subscribed) {
                connection_free(c);
                return 0;
        }

        c->request = (struct billing_request) {};
        if ((size_t) n > PREPAY_MSG_MAX)
                reply = message_reply_error("Request too large (%zd bytes, at most %d)", n, PREPAY_MSG_MAX);
        else
                reply = dispatch(c, buf, (size_t) n);

        /* Nothing that depends on a write is said before it is durable:
         * wait for the batch, reading nothing more from this peer. A
         * subscription depends on none, and its reply must come before
         * the first event. */
        if (!c->subscribed && (billing_in_batch(m->billing) || c->request.attach[0])) {
                if (billing_wait(m->billing, on_committed, c) >= 0) {
                        c->pending = reply;
                        (void) sd_event_source_set_enabled(c->source, SD_EVENT_OFF);
                        return 0;
                }
        }
        connection_send(c, reply);
        return 0;
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

        if (ctl->n_connections >= CONTROL_MAX_CONNECTIONS) {
                log_warning("Too many control connections (%d), refusing one.", CONTROL_MAX_CONNECTIONS);
                return 0;
        }

        c = calloc(1, sizeof(*c));
        if (!c)
                return log_oom();
        c->control = ctl;
        c->fd = -1;

        len = sizeof(c->peer);
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &c->peer, &len) < 0) {
                log_warning_errno(errno, "Failed to get peer credentials, refusing connection: %m");
                free(c);
                return 0;
        }
        c->rights = peer_rights(ctl, cfd, &c->peer);

        r = sd_event_add_io(sd_event_source_get_event(source), &c->source, cfd, EPOLLIN, on_connection_io, c);
        if (r < 0) {
                log_error_errno(r, "Failed to watch a control connection: %m");
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

int control_new(struct manager *m, struct control **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        const char *path = m->config->control_socket;
        struct control *c;
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
        c->manager = m;
        c->listen_fd = -1;
        resolve_groups(c);
        c->path = strdup(path);
        if (!c->path) {
                r = log_oom();
                goto fail;
        }

        /* Socket activation: the service manager made the socket (its
         * path, mode and group are the unit's) and hands it over. */
        r = sd_listen_fds(true);
        if (r < 0) {
                log_error_errno(r, "Failed to read the sockets passed by the service manager: %m");
                goto fail;
        }
        if (r > 1) {
                r = log_error_errno(EINVAL, "The service manager passed %d sockets; prepayd takes one, its "
                                    "control socket.", r);
                goto fail;
        }
        if (r == 1) {
                if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_SEQPACKET, 1, path, 0) <= 0) {
                        r = log_error_errno(EINVAL, "The socket passed by the service manager is not a listening "
                                            "SOCK_SEQPACKET socket at ControlSocket=%s.", path);
                        goto fail;
                }
                c->listen_fd = SD_LISTEN_FDS_START;
                (void) fcntl(c->listen_fd, F_SETFD, FD_CLOEXEC);
                (void) fcntl(c->listen_fd, F_SETFL, fcntl(c->listen_fd, F_GETFL) | O_NONBLOCK);
                goto watch;
        }

        dir = strdupa(path);
        slash = strrchr(dir, '/');
        if (slash && slash != dir) {
                *slash = 0;
                if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                        r = log_error_errno(errno, "Failed to create %s: %m", dir);
                        goto fail;
                }
        }

        r = remove_stale_socket(&sa, salen);
        if (r < 0)
                goto fail;

        c->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (c->listen_fd < 0) {
                r = log_error_errno(errno, "Failed to create the control socket: %m");
                goto fail;
        }
        if (bind(c->listen_fd, (struct sockaddr *) &sa, salen) < 0) {
                r = log_error_errno(errno, "Failed to bind the control socket to %s: %m", path);
                goto fail;
        }
        c->bound = true;
        chown_socket(c);
        if (chmod(path, m->config->socket_mode) < 0) {
                r = log_error_errno(errno, "Failed to set mode of %s: %m", path);
                goto fail;
        }
        if (listen(c->listen_fd, 64) < 0) {
                r = log_error_errno(errno, "Failed to listen on %s: %m", path);
                goto fail;
        }

watch:
        r = sd_event_add_io(m->event, &c->listen_source, c->listen_fd, EPOLLIN, on_listen_io, c);
        if (r < 0) {
                log_error_errno(r, "Failed to watch the control socket: %m");
                goto fail;
        }

        log_info("Listening on %s%s.", path, c->bound ? "" : " (socket from the service manager)");
        *ret = c;
        return 0;

fail:
        control_free(c);
        return r;
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
