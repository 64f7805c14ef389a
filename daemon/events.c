/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slice events: log line (or journal entry), ledger row, stream datagram,
 * and the operator's hook. See events.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <systemd/sd-journal.h>
#include <time.h>

#include "batch.h"
#include "common/log.h"
#include "common/parse.h"
#include "config.h"
#include "events.h"
#include "common/request.h"
#include "hooks.h"
#include "ledger.h"

static const char *const kind_table[_EVENT_MAX] = {
        [EVENT_FUNDED] = "funded",       [EVENT_TOPPED_UP] = "topped-up", [EVENT_LOW] = "low",
        [EVENT_EXHAUSTED] = "exhausted", [EVENT_THROTTLED] = "throttled", [EVENT_FROZEN] = "frozen",
        [EVENT_THAWED] = "thawed",       [EVENT_KILLED] = "killed",       [EVENT_RELEASED] = "released",
        [EVENT_OOM] = "oom",             [EVENT_VM] = "vm",               [EVENT_SPONSOR] = "sponsor",
        [EVENT_BID_REFUNDED] = "bid_refunded", [EVENT_PAID] = "paid",
};

_Static_assert(LEDGER_EVENT_KIND_MAX >= EVENT_KIND_MAX, "the ledger holds every kind's name");
_Static_assert(LEDGER_EVENT_REASON_MAX >= EVENT_REASON_MAX, "the ledger holds every reason");

const char *event_kind_to_string(enum event_kind k) {
        if ((unsigned) k >= _EVENT_MAX)
                return NULL;
        return kind_table[k];
}

int event_kind_from_string(const char *s) {
        for (size_t i = 0; s && i < ARRAY_SIZE(kind_table); i++)
                if (streq(s, kind_table[i]))
                        return (int) i;
        return -EINVAL;
}

struct subscriber {
        int fd; /* the control connection's, not ours */
        pid_t pid;
        void *cookie;
        char slice[SLICE_ID_MAX]; /* "": every slice */
        bool funder;              /* a funder's: event_reaches_funder() kinds only */
};

/* A slice's repeatable events of one kind: one was recorded, and until
 * until_usec the next ones are held back and counted. */
struct repeat {
        char slice[SLICE_ID_MAX];
        enum event_kind kind;
        uint64_t since_usec, until_usec; /* CLOCK_MONOTONIC */
        uint64_t held;
        struct event last; /* the last held back */
};

struct events {
        const struct config *config;
        sd_event *event;
        struct batch *batch;  /* NULL: events are not recorded (tests) */
        bool journal; /* stderr is journald's stream: log events with fields */
        char request_id[EVENT_REQUEST_ID_MAX]; /* of the client request being handled */
        struct subscriber subscribers[EVENTS_MAX_SUBSCRIBERS];
        size_t n_subscribers;
        struct hooks *hooks;
        struct repeat *repeats;
        size_t n_repeats, n_repeats_alloc;
        sd_event_source *repeat_timer; /* at the earliest until_usec */
        bool repeat_timer_failed, repeats_full_warned;
};

/* ---- JSON ---- */

int event_to_json(const struct event *ev, json_object **ret) {
        json_object *o;
        const char *kind = event_kind_to_string(ev->kind);

        if (!kind)
                return -EINVAL;
        if (ev->time_usec > INT64_MAX || ev->time_left_usec > INT64_MAX)
                return -ERANGE;
        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "time_usec", json_object_new_int64((int64_t) ev->time_usec));
        json_object_object_add(o, "slice", json_object_new_string(ev->slice));
        json_object_object_add(o, "kind", json_object_new_string(kind));
        json_object_object_add(o, "funded", json_object_new_boolean(!ev->unfunded));
        json_object_object_add(o, "balance", json_object_new_int64(ev->balance));
        json_object_object_add(o, "burn_rate", json_object_new_int64(ev->burn_rate));
        json_object_object_add(o, "time_left_usec", json_object_new_int64((int64_t) ev->time_left_usec));
        json_object_object_add(o, "owner_uid", json_object_new_int64(ev->owner_uid));
        json_object_object_add(o, "currency", json_object_new_string(ev->currency));
        json_object_object_add(o, "reason", json_object_new_string(ev->reason));
        if (ev->kind == EVENT_SPONSOR || ev->kind == EVENT_BID_REFUNDED) {
                if (ev->bid > INT64_MAX) {
                        json_object_put(o);
                        return -ERANGE;
                }
                json_object_object_add(o, "bid", json_object_new_int64((int64_t) ev->bid));
                json_object_object_add(o, "amount", json_object_new_int64(ev->amount));
        }
        if (ev->kind == EVENT_SPONSOR) {
                json_object_object_add(o, "name", json_object_new_string(ev->sponsor_name));
                json_object_object_add(o, "url", ev->sponsor_url[0] ? json_object_new_string(ev->sponsor_url) : NULL);
        }
        *ret = o;
        return 0;
}

/* Any int64_t (balances may be told below zero one day). */
static int get_i64(json_object *o, const char *key, int64_t *ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return -ENOENT;
        if (!json_object_is_type(v, json_type_int))
                return -EINVAL;
        /* Above INT64_MAX json-c keeps a uint64_t and get_int64() clamps;
         * get_uint64() tells the two apart (it is 0 for a negative). */
        if (json_object_get_int64(v) >= 0 && json_object_get_uint64(v) > INT64_MAX)
                return -ERANGE;
        *ret = json_object_get_int64(v);
        return 0;
}

int event_from_json(json_object *o, struct event *ret, const char **ret_error) {
        struct event ev = {};
        const char *s;
        uint64_t u;
        bool funded;
        int r, k;

#define BAD(msg)                                 \
        do {                                     \
                if (ret_error)                   \
                        *ret_error = (msg);      \
                return -EINVAL;                  \
        } while (0)

        if (!json_object_is_type(o, json_type_object))
                BAD("An event must be a JSON object");

        if (message_get_string(o, "slice", &s) < 0 || !slice_id_is_valid(s))
                BAD("Missing or invalid field \"slice\"");
        snprintf(ev.slice, sizeof(ev.slice), "%s", s);

        if (message_get_string(o, "kind", &s) < 0 || (k = event_kind_from_string(s)) < 0)
                BAD("Missing or unknown field \"kind\"");
        ev.kind = (enum event_kind) k;

        if (message_get_bool(o, "funded", &funded) < 0)
                BAD("Missing or invalid field \"funded\"");
        ev.unfunded = !funded;

        r = message_get_u64(o, "time_usec", &ev.time_usec);
        if (r < 0 && r != -ENOENT)
                BAD("Field \"time_usec\" must be a whole number");
        r = message_get_u64(o, "time_left_usec", &ev.time_left_usec);
        if (r < 0 && r != -ENOENT)
                BAD("Field \"time_left_usec\" must be a whole number");
        r = get_i64(o, "balance", &ev.balance);
        if (r < 0 && r != -ENOENT)
                BAD("Field \"balance\" must be an integer of micro-units");
        r = get_i64(o, "burn_rate", &ev.burn_rate);
        if (r < 0 && r != -ENOENT)
                BAD("Field \"burn_rate\" must be an integer of micro-units");
        r = get_i64(o, "amount", &ev.amount);
        if (r < 0 && r != -ENOENT)
                BAD("Field \"amount\" must be an integer of micro-units");
        r = message_get_u64(o, "bid", &ev.bid);
        if (r < 0 && r != -ENOENT)
                BAD("Field \"bid\" must be a whole number");
        if (message_get_string(o, "name", &s) >= 0 && s[0]) {
                if (!request_sponsor_name_is_valid(s))
                        BAD("Field \"name\" must be a sponsor's name");
                snprintf(ev.sponsor_name, sizeof(ev.sponsor_name), "%s", s);
        }
        if (message_get_string(o, "url", &s) >= 0) {
                if (!request_sponsor_url_is_valid(s))
                        BAD("Field \"url\" must be an http:// or https:// link");
                snprintf(ev.sponsor_url, sizeof(ev.sponsor_url), "%s", s);
        }

        r = message_get_u64(o, "owner_uid", &u);
        if (r == 0 && u > UINT32_MAX)
                r = -ERANGE;
        if (r < 0 && r != -ENOENT)
                BAD("Field \"owner_uid\" must be a uid");
        if (r == 0)
                ev.owner_uid = (uint32_t) u;

        r = message_get_string(o, "currency", &s);
        if (r == 0 && s[0] && !currency_is_valid(s))
                r = -EINVAL;
        if (r < 0 && r != -ENOENT)
                BAD("Field \"currency\" must be a currency code");
        if (r == 0)
                snprintf(ev.currency, sizeof(ev.currency), "%s", s);

        r = message_get_string(o, "reason", &s);
        if (r == 0 && strlen(s) >= sizeof(ev.reason))
                r = -ERANGE;
        if (r < 0 && r != -ENOENT)
                BAD("Field \"reason\" must be a string of at most 255 bytes");
        if (r == 0)
                snprintf(ev.reason, sizeof(ev.reason), "%s", s);
#undef BAD

        *ret = ev;
        return 0;
}

/* ---- logging ---- */

static int event_priority(enum event_kind k) {
        switch (k) {
        case EVENT_LOW:
        case EVENT_EXHAUSTED:
        case EVENT_THROTTLED:
        case EVENT_FROZEN:
        case EVENT_KILLED:
        case EVENT_OOM:
                return LOG_NOTICE;
        default:
                return LOG_INFO;
        }
}

/* One "KEY=value" string appended to buf; a value too long is cut. */
static void fields_add(struct event_fields *f, size_t *used, const char *fmt, ...) _printf_(3, 4);
static void fields_add(struct event_fields *f, size_t *used, const char *fmt, ...) {
        size_t room = sizeof(f->buf) - *used;
        va_list ap;
        int k;

        if (f->n >= ARRAY_SIZE(f->iov) || room < 2)
                return;
        va_start(ap, fmt);
        k = vsnprintf(f->buf + *used, room, fmt, ap);
        va_end(ap);
        if (k < 0)
                return;
        if ((size_t) k >= room)
                k = (int) room - 1;
        f->iov[f->n++] = (struct iovec) { .iov_base = f->buf + *used, .iov_len = (size_t) k };
        *used += (size_t) k + 1;
}

void event_journal_fields(const struct event *ev, struct event_fields *ret) {
        const char *kind = strempty(event_kind_to_string(ev->kind));
        char balance[MONEY_FORMAT_MAX];
        size_t used = 0;

        ret->n = 0;
        ret->priority = event_priority(ev->kind);
        money_format(balance, sizeof(balance), ev->balance);
        if (ev->unfunded)
                fields_add(ret, &used, "MESSAGE=Slice %s: event %s (unfunded): %s.", ev->slice, kind, ev->reason);
        else
                fields_add(ret, &used, "MESSAGE=Slice %s: event %s, balance %s %s: %s.", ev->slice, kind, balance,
                           ev->currency, ev->reason);
        ret->message = ret->buf + strlen("MESSAGE=");
        fields_add(ret, &used, "PRIORITY=%d", ret->priority);
        fields_add(ret, &used, "SYSLOG_IDENTIFIER=%s", program_invocation_short_name);
        fields_add(ret, &used, "SLICE=%s", ev->slice);
        fields_add(ret, &used, "EVENT=%s", kind);
        if (ev->action[0])
                fields_add(ret, &used, "ACTION=%s", ev->action);
        if (ev->request_id[0])
                fields_add(ret, &used, "REQUEST_ID=%s", ev->request_id);
        if (!ev->unfunded) {
                fields_add(ret, &used, "BALANCE=%s", balance);
                fields_add(ret, &used, "CURRENCY=%s", ev->currency);
        }
        fields_add(ret, &used, "REASON=%s", ev->reason);
}

static void event_log(struct events *e, const struct event *ev) {
        struct event_fields f;

        if (event_priority(ev->kind) > log_get_max_level())
                return;

        event_journal_fields(ev, &f);
        if (e->journal && sd_journal_sendv(f.iov, (int) f.n) >= 0)
                return;
        log_full_errno(f.priority, 0, "%s", f.message);
}

/* ---- the ledger ---- */

static void event_record(struct events *e, const struct event *ev, const char *kind) {
        struct ledger_event le = {
                .time_usec = ev->time_usec,
                .funded = !ev->unfunded,
                .owner_uid = ev->owner_uid,
                .balance = ev->balance,
                .burn_rate = ev->burn_rate,
                .time_left_usec = ev->time_left_usec,
        };
        int r;

        snprintf(le.slice, sizeof(le.slice), "%s", ev->slice);
        snprintf(le.kind, sizeof(le.kind), "%s", kind);
        snprintf(le.currency, sizeof(le.currency), "%s", ev->currency);
        snprintf(le.reason, sizeof(le.reason), "%s", ev->reason);

        if (!e->batch)
                return;
        /* Committed with the batch at the end of this loop pass. */
        r = batch_begin(e->batch);
        if (r < 0) {
                log_warning_errno(r, "Failed to open a ledger transaction for event %s of slice %s, "
                                  "not recording it: %m", kind, ev->slice);
                return;
        }
        r = ledger_event_add(batch_ledger(e->batch), &le, NULL);
        if (r < 0)
                log_warning_errno(r, "Failed to record event %s of slice %s in the ledger, ignoring: %m", kind,
                                  ev->slice);
}

/* ---- subscribers ---- */

static void subscriber_drop(struct events *e, size_t i) {
        /* The connection is control.c's: shutting the socket down ends
         * the client's stream and makes control.c close it. */
        (void) shutdown(e->subscribers[i].fd, SHUT_RDWR);
        e->subscribers[i] = e->subscribers[--e->n_subscribers];
}

/* The datagram {"event": {...}} of ev, its text in *ret_text: NULL when
 * it cannot be made (said). A funder's leaves out the owner's uid: the
 * funder is not the owner, and needs only the money. */
static json_object *stream_message(const struct event *ev, bool funder, const char **ret_text, size_t *ret_len) {
        json_object *msg, *o;

        if (event_to_json(ev, &o) < 0) {
                log_warning("Failed to encode event of slice %s, not streaming it.", ev->slice);
                return NULL;
        }
        if (funder)
                json_object_object_del(o, "owner_uid");
        msg = json_object_new_object();
        if (!msg) {
                json_object_put(o);
                log_oom();
                return NULL;
        }
        json_object_object_add(msg, "event", o);
        if (message_serialize(msg, ret_text, ret_len) < 0) {
                json_object_put(msg);
                log_warning("Event of slice %s does not fit a message, not streaming it.", ev->slice);
                return NULL;
        }
        return msg;
}

static void event_stream(struct events *e, const struct event *ev) {
        json_object *msg[2] = {}; /* [funder]: made when a subscriber needs it */
        const char *text[2] = {};
        size_t len[2] = {};
        bool failed[2] = {};

        for (size_t i = 0; i < e->n_subscribers;) {
                struct subscriber *sub = &e->subscribers[i];
                int f = sub->funder;

                if ((sub->slice[0] && !streq(sub->slice, ev->slice)) ||
                    (sub->funder && !event_reaches_funder(ev->kind))) {
                        i++;
                        continue;
                }
                if (!msg[f] && !failed[f]) {
                        msg[f] = stream_message(ev, f, &text[f], &len[f]);
                        failed[f] = !msg[f];
                }
                if (!msg[f] || send(sub->fd, text[f], len[f], MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
                        i++;
                        continue;
                }
                if (errno == EAGAIN)
                        log_warning("Events subscriber pid %d does not keep up (its socket is full), dropping it.",
                                    (int) sub->pid);
                else
                        log_info_errno(errno, "Events subscriber pid %d is gone (%m), dropping it.", (int) sub->pid);
                subscriber_drop(e, i);
        }
        json_object_put(msg[0]);
        json_object_put(msg[1]);
}

bool event_reaches_funder(enum event_kind k) {
        /* "sponsor" by its name: the kind is the sponsorship's to add. */
        return k == EVENT_LOW || k == EVENT_EXHAUSTED || k == EVENT_RELEASED ||
               streq(strempty(event_kind_to_string(k)), "sponsor");
}

static int subscribe(struct events *e, int fd, const char *slice, bool funder, void *cookie) {
        struct subscriber *sub;
        struct ucred cred = {};
        socklen_t n = sizeof(cred);

        if (!e || fd < 0 || !cookie || (slice && !slice_id_is_valid(slice)))
                return -EINVAL;
        if (e->n_subscribers >= EVENTS_MAX_SUBSCRIBERS)
                return -EUSERS;

        (void) getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &n);
        sub = &e->subscribers[e->n_subscribers++];
        *sub = (struct subscriber) { .fd = fd, .pid = cred.pid, .cookie = cookie, .funder = funder };
        snprintf(sub->slice, sizeof(sub->slice), "%s", strempty(slice));
        log_debug("Pid %d subscribed to events of %s%s.", (int) cred.pid, slice ?: "every slice",
                  funder ? " as a funder" : "");
        return 0;
}

int events_subscribe(struct events *e, int fd, const char *slice, void *cookie) {
        return subscribe(e, fd, slice, false, cookie);
}

int events_subscribe_funder(struct events *e, int fd, const char *slice, void *cookie) {
        if (!slice)
                return -EINVAL;
        return subscribe(e, fd, slice, true, cookie);
}

void events_unsubscribe(struct events *e, void *cookie) {
        if (!e)
                return;
        for (size_t i = 0; i < e->n_subscribers; i++)
                if (e->subscribers[i].cookie == cookie) {
                        e->subscribers[i] = e->subscribers[--e->n_subscribers];
                        return;
                }
}

/* ---- the operator's hooks ---- */

/* The event in the hook's environment, and nothing of the daemon's. */
static void hook_run(struct events *e, const struct event *ev, const char *kind) {
        char env_event[64], env_slice[64], env_uid[48], env_balance[64], env_text[64], env_currency[32],
                env_burn[64], env_left[64], env_reason[EVENT_REASON_MAX + 32], env_time[64], balance[MONEY_FORMAT_MAX],
                env_vm[VM_IMAGE_NAME_MAX + 32], env_port[48];
        const char *env[] = {
                env_event, env_slice, env_uid, env_balance, env_text, env_currency, env_burn, env_left, env_reason,
                env_time, NULL, NULL, NULL,
        };

        snprintf(env_event, sizeof(env_event), "PREPAY_EVENT=%s", kind);
        snprintf(env_slice, sizeof(env_slice), "PREPAY_SLICE=%s", ev->slice);
        snprintf(env_uid, sizeof(env_uid), "PREPAY_OWNER_UID=%" PRIu32, ev->owner_uid);
        snprintf(env_balance, sizeof(env_balance), "PREPAY_BALANCE=%" PRId64, ev->balance);
        snprintf(env_text, sizeof(env_text), "PREPAY_BALANCE_TEXT=%s",
                 money_format(balance, sizeof(balance), ev->balance));
        snprintf(env_currency, sizeof(env_currency), "PREPAY_CURRENCY=%s", ev->currency);
        snprintf(env_burn, sizeof(env_burn), "PREPAY_BURN_RATE=%" PRId64, ev->burn_rate);
        snprintf(env_left, sizeof(env_left), "PREPAY_TIME_LEFT_USEC=%" PRIu64, ev->time_left_usec);
        snprintf(env_reason, sizeof(env_reason), "PREPAY_REASON=%s", ev->reason);
        snprintf(env_time, sizeof(env_time), "PREPAY_TIME_USEC=%" PRIu64, ev->time_usec);
        if (ev->vm_image[0]) {
                snprintf(env_vm, sizeof(env_vm), "PREPAY_VM_IMAGE=%s", ev->vm_image);
                snprintf(env_port, sizeof(env_port), "PREPAY_VM_SSH_PORT=%u", (unsigned) ev->vm_ssh_port);
                env[10] = env_vm;
                env[11] = env_port;
        }
        hooks_run(e->hooks, ev->kind == EVENT_LOW ? HOOK_LOW_BALANCE : HOOK_EXHAUSTED, ev->slice, kind, env);
}

/* ---- the whole ---- */

static void emit_now(struct events *e, const struct event *ev, const char *kind) {
        event_log(e, ev);
        event_record(e, ev, kind);
        event_stream(e, ev);
        if (ev->kind == EVENT_LOW || ev->kind == EVENT_EXHAUSTED)
                hook_run(e, ev, kind);
}

/* ---- repeatable events ---- */

/* A kill on request costs its client nothing and wrote a ledger row each
 * time: 2,000 requests in 4 s were 2,000 rows and 3.6 MB, and a disk
 * that fills fails every commit, everyone's money with it. Refusing the
 * kill instead would take a safety switch from its owner, so the kill is
 * always done and only its record is held back. */

static int on_repeat_timer(sd_event_source *source, uint64_t usec, void *userdata);

static void repeat_arm(struct events *e, uint64_t until) {
        uint64_t t;
        int enabled = SD_EVENT_OFF, r;

        if (!e->repeat_timer) {
                r = sd_event_add_time(e->event, &e->repeat_timer, CLOCK_MONOTONIC, until,
                                      100 * USEC_PER_MSEC, on_repeat_timer, e);
                if (r < 0 && !e->repeat_timer_failed)
                        log_warning_errno(r, "Failed to arm the timer of held-back events; they are told with "
                                          "the next of their slice, or when the daemon stops: %m");
                e->repeat_timer_failed = r < 0;
                return;
        }
        (void) sd_event_source_get_enabled(e->repeat_timer, &enabled);
        if (enabled != SD_EVENT_OFF && sd_event_source_get_time(e->repeat_timer, &t) >= 0 && t <= until)
                return;
        (void) sd_event_source_set_time(e->repeat_timer, until);
        (void) sd_event_source_set_enabled(e->repeat_timer, SD_EVENT_ONESHOT);
}

static struct repeat *repeat_find(struct events *e, const char *slice, enum event_kind kind) {
        for (size_t i = 0; i < e->n_repeats; i++)
                if (e->repeats[i].kind == kind && streq(e->repeats[i].slice, slice))
                        return &e->repeats[i];
        return NULL;
}

static struct repeat *repeat_add(struct events *e, const char *slice, enum event_kind kind) {
        struct repeat *r;

        if (e->n_repeats >= EVENTS_MAX_REPEATS) {
                if (!e->repeats_full_warned)
                        log_warning("%d slices' repeated events are held back already: recording the next ones "
                                    "one by one.", EVENTS_MAX_REPEATS);
                e->repeats_full_warned = true;
                return NULL;
        }
        if (e->n_repeats >= e->n_repeats_alloc) {
                size_t n = MAX(e->n_repeats_alloc * 2, (size_t) 16);

                r = reallocarray(e->repeats, n, sizeof(*r));
                if (!r) {
                        log_oom();
                        return NULL;
                }
                e->repeats = r;
                e->n_repeats_alloc = n;
        }
        r = &e->repeats[e->n_repeats++];
        *r = (struct repeat) { .kind = kind };
        snprintf(r->slice, sizeof(r->slice), "%s", slice);
        return r;
}

/* One event for the held-back ones: the last of them, saying how many. */
static void repeat_flush(struct events *e, struct repeat *r) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        struct event ev = r->last;
        char d[FORMAT_DURATION_MAX];

        snprintf(ev.reason, sizeof(ev.reason),
                 "%" PRIu64 " more in %s, held back (RepeatedEventSec=); the last: %.150s", r->held,
                 format_duration(d, sizeof(d), now > r->since_usec ? now - r->since_usec : 0), r->last.reason);
        ev.repeatable = false;
        r->held = 0;
        emit_now(e, &ev, event_kind_to_string(ev.kind));
}

/* True when ev is held back (one of its slice and kind was recorded
 * less than RepeatedEventSec= ago), or was told now with those held back
 * before it. Otherwise ev is to be recorded, and starts that time. */
static bool repeat_hold(struct events *e, const struct event *ev) {
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        struct repeat *r = repeat_find(e, ev->slice, ev->kind);

        if (r && now < r->until_usec) {
                r->held++;
                r->last = *ev;
                log_debug("Slice %s: event %s held back, %" PRIu64 " so far (RepeatedEventSec=): %s.", ev->slice,
                          event_kind_to_string(ev->kind), r->held, ev->reason);
                repeat_arm(e, r->until_usec);
                return true;
        }
        if (r && r->held > 0) {
                /* The time is up and its timer not run yet (a busy loop):
                 * this one is said with those held back, in one event. */
                r->held++;
                r->last = *ev;
                repeat_flush(e, r);
                r->since_usec = now;
                r->until_usec = now + e->config->repeated_event_usec;
                repeat_arm(e, r->until_usec);
                return true;
        }
        if (!r)
                r = repeat_add(e, ev->slice, ev->kind);
        if (!r)
                return false;
        r->since_usec = now;
        r->until_usec = now + e->config->repeated_event_usec;
        r->held = 0;
        repeat_arm(e, r->until_usec);
        return false;
}

/* Each time that is up: its held-back events said in one, which starts
 * the next time; a time with none held back ends its record. */
static int on_repeat_timer(sd_event_source *source, uint64_t usec, void *userdata) {
        struct events *e = userdata;
        uint64_t now = now_usec(CLOCK_MONOTONIC), next = UINT64_MAX;

        for (size_t i = 0; i < e->n_repeats;) {
                struct repeat *r = &e->repeats[i];

                if (r->until_usec <= now) {
                        if (r->held == 0) {
                                *r = e->repeats[--e->n_repeats];
                                continue;
                        }
                        repeat_flush(e, r);
                        r->since_usec = now;
                        r->until_usec = now + e->config->repeated_event_usec;
                }
                next = MIN(next, r->until_usec);
                i++;
        }
        if (next != UINT64_MAX) {
                (void) sd_event_source_set_time(source, next);
                (void) sd_event_source_set_enabled(source, SD_EVENT_ONESHOT);
        }
        return 0;
}

void events_emit(struct events *e, const struct event *event) {
        struct event ev;
        const char *kind;

        if (!e || !event)
                return;
        kind = event_kind_to_string(event->kind);
        if (!kind || !slice_id_is_valid(event->slice)) {
                log_error("Refusing to emit a malformed event (kind %d, slice \"%.40s\").", (int) event->kind,
                          event->slice);
                return;
        }

        ev = *event;
        if (ev.time_usec == 0)
                ev.time_usec = now_usec(CLOCK_REALTIME);
        snprintf(ev.currency, sizeof(ev.currency), "%s", e->config->currency);
        ev.reason[sizeof(ev.reason) - 1] = 0;

        if (!ev.request_id[0] && e->request_id[0])
                snprintf(ev.request_id, sizeof(ev.request_id), "%s", e->request_id);
        ev.action[sizeof(ev.action) - 1] = 0;
        ev.request_id[sizeof(ev.request_id) - 1] = 0;

        if (ev.repeatable && repeat_hold(e, &ev))
                return;
        emit_now(e, &ev, kind);
}

void events_set_request_id(struct events *e, const char *request_id) {
        if (!e)
                return;
        if (request_id && ledger_request_id_is_valid(request_id))
                snprintf(e->request_id, sizeof(e->request_id), "%s", request_id);
        else
                e->request_id[0] = 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct events *, events_free);

int events_new(const struct config *config, sd_event *event, struct batch *batch, struct events **ret) {
        _cleanup_(events_freep) struct events *e = NULL;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return log_oom();
        e->config = config;
        e->event = event;
        e->batch = batch;
        e->journal = log_stderr_is_journal();

        r = hooks_new(config, event, &e->hooks);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(e);
        return 0;
}

void events_free(struct events *e) {
        if (!e)
                return;

        hooks_free(TAKE_PTR(e->hooks));
        /* Their connections are control.c's, closed there. */
        e->n_subscribers = 0;
        /* What was held back is recorded; the batch is committed after. */
        for (size_t i = 0; i < e->n_repeats; i++)
                if (e->repeats[i].held > 0)
                        repeat_flush(e, &e->repeats[i]);
        free(e->repeats);
        sd_event_source_disable_unref(e->repeat_timer);
        free(e);
}
