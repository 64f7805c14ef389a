/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Slice events (daemon/events.c), the parts that need no event loop: kind
 * names, the JSON an event travels as, the journal fields it is logged
 * with, how a hook command becomes argv, and the bound on subscribers. Logging, the ledger row, the stream and
 * the hooks themselves run in tests/integration/test-hooks.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <syslog.h>

#include <cmocka.h>

#include "common/util.h"
#include "config.h"
#include "events.h"
#include "hooks.h"

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

static void test_kind_names(void **state) {
        static const char *const names[_EVENT_MAX] = {
                "funded", "topped-up", "low",    "exhausted", "throttled",
                "frozen", "thawed",    "killed", "released",  "oom",
                "vm",     "sponsor",   "bid_refunded", "paid",
        };

        for (int k = 0; k < _EVENT_MAX; k++) {
                assert_string_equal(event_kind_to_string((enum event_kind) k), names[k]);
                assert_int_equal(event_kind_from_string(names[k]), k);
                assert_true(strlen(names[k]) < EVENT_KIND_MAX);
        }
        assert_null(event_kind_to_string(_EVENT_MAX));
        assert_null(event_kind_to_string((enum event_kind) -1));
        assert_int_equal(event_kind_from_string(NULL), -EINVAL);
        assert_int_equal(event_kind_from_string(""), -EINVAL);
        assert_int_equal(event_kind_from_string("Low"), -EINVAL);
        assert_int_equal(event_kind_from_string("low "), -EINVAL);
        assert_int_equal(event_kind_from_string("topped_up"), -EINVAL);
}

static struct event sample(void) {
        return (struct event) {
                .time_usec = 1795701600000000,
                .slice = "s-1a2b3c4d",
                .kind = EVENT_LOW,
                .balance = 50000,
                .burn_rate = 1000,
                .time_left_usec = 45000000,
                .owner_uid = 1000,
                .currency = "EUR",
                .reason = "less than 1min left at the current burn rate",
        };
}

static void round_trip(const struct event *ev) {
        _cleanup_json_ json_object *o = NULL, *back = NULL;
        const char *error = NULL, *text;
        struct event got;

        assert_int_equal(event_to_json(ev, &o), 0);
        /* Through text, as the stream carries it. */
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        back = json_tokener_parse(text);
        assert_non_null(back);
        memset(&got, 0x5a, sizeof(got));
        if (event_from_json(back, &got, &error) < 0)
                fail_msg("%s: %s", text, strna(error));
        assert_int_equal(got.time_usec, ev->time_usec);
        assert_string_equal(got.slice, ev->slice);
        assert_int_equal(got.kind, ev->kind);
        assert_int_equal(got.unfunded, ev->unfunded);
        assert_int_equal(got.balance, ev->balance);
        assert_int_equal(got.burn_rate, ev->burn_rate);
        assert_int_equal(got.time_left_usec, ev->time_left_usec);
        assert_int_equal(got.owner_uid, ev->owner_uid);
        assert_string_equal(got.currency, ev->currency);
        assert_string_equal(got.reason, ev->reason);
}

static void test_json_round_trip(void **state) {
        struct event ev = sample();
        _cleanup_json_ json_object *o = NULL;
        json_object *v;

        round_trip(&ev);

        /* Every kind, an unfunded slice, the extremes of each field. */
        for (int k = 0; k < _EVENT_MAX; k++) {
                ev.kind = (enum event_kind) k;
                round_trip(&ev);
        }
        ev = (struct event) { .slice = "s-0123456789abcdef", .kind = EVENT_OOM, .unfunded = true,
                              .reason = "1 process OOM-killed at its memory limit 64.0M" };
        round_trip(&ev);
        ev = sample();
        ev.time_usec = INT64_MAX;
        ev.time_left_usec = INT64_MAX;
        ev.balance = INT64_MIN;
        ev.burn_rate = INT64_MAX;
        ev.owner_uid = UINT32_MAX;
        memset(ev.reason, 'x', sizeof(ev.reason) - 1);
        ev.reason[sizeof(ev.reason) - 1] = 0;
        round_trip(&ev);
        /* Reasons are the daemon's sentences, but JSON must survive any. */
        ev = sample();
        snprintf(ev.reason, sizeof(ev.reason), "quote \" backslash \\ newline \n tab \t é");
        round_trip(&ev);

        /* The field names the stream promises (events.h, prepay(1)). */
        ev = sample();
        assert_int_equal(event_to_json(&ev, &o), 0);
        assert_true(json_object_object_get_ex(o, "kind", &v));
        assert_string_equal(json_object_get_string(v), "low");
        assert_true(json_object_object_get_ex(o, "funded", &v));
        assert_true(json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(o, "balance", &v));
        assert_int_equal(json_object_get_int64(v), 50000);
        assert_int_equal(json_object_object_length(o), 10);

        /* What cannot be said in JSON integers is refused, not wrapped. */
        ev.time_usec = (uint64_t) INT64_MAX + 1;
        assert_int_equal(event_to_json(&ev, &o), -ERANGE);
        ev = sample();
        ev.kind = _EVENT_MAX;
        assert_int_equal(event_to_json(&ev, &o), -EINVAL);
}

/* event_from_json() of text refuses with a sentence naming what. */
static void from_json_fails(const char *text, const char *what) {
        _cleanup_json_ json_object *o = json_tokener_parse(text);
        const char *error = NULL;
        struct event ev;

        assert_non_null(o);
        assert_int_equal(event_from_json(o, &ev, &error), -EINVAL);
        assert_non_null(error);
        if (!strstr(error, what))
                fail_msg("%s: error '%s' does not name '%s'", text, error, what);
}

static void test_json_refused(void **state) {
        from_json_fails("[]", "object");
        from_json_fails("{\"kind\":\"low\",\"funded\":true}", "\"slice\"");
        from_json_fails("{\"slice\":\"s-12\",\"kind\":\"low\",\"funded\":true}", "\"slice\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"funded\":true}", "\"kind\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"bankrupt\",\"funded\":true}", "\"kind\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\"}", "\"funded\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":1}", "\"funded\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":true,\"time_usec\":-1}",
                        "\"time_usec\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":true,\"balance\":1.5}", "\"balance\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":true,\"balance\":\"5\"}",
                        "\"balance\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":true,"
                        "\"balance\":18446744073709551615}",
                        "\"balance\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":true,\"owner_uid\":4294967296}",
                        "\"owner_uid\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":true,\"currency\":\"euro\"}",
                        "\"currency\"");
        from_json_fails("{\"slice\":\"s-1a2b3c4d\",\"kind\":\"low\",\"funded\":true,\"reason\":null}", "\"reason\"");
}

/* cmd split into exactly the words in want (NULL-terminated). */
static void split_is(const char *cmd, const char *const *want) {
        char **argv = NULL;
        int n, i;

        n = hook_split_argv(cmd, &argv);
        if (n < 0)
                fail_msg("'%s': %d", cmd, n);
        for (i = 0; want[i]; i++) {
                if (!argv[i])
                        fail_msg("'%s': %d words, want more", cmd, i);
                assert_string_equal(argv[i], want[i]);
        }
        assert_null(argv[i]);
        assert_int_equal(n, i);
        hook_argv_free(argv);
}

static void test_hook_argv(void **state) {
        char **argv = (char **) 0x1;

        split_is("/usr/local/bin/notify", (const char *[]) { "/usr/local/bin/notify", NULL });
        split_is("/bin/hook low", (const char *[]) { "/bin/hook", "low", NULL });
        /* Runs of spaces, leading and trailing spaces. */
        split_is("   /bin/hook   a  b    ", (const char *[]) { "/bin/hook", "a", "b", NULL });
        /* Nothing is special to a shell here: each is a word as written. */
        split_is("/t/hook.sh literal '$(touch /t/pwned)' ;id",
                 (const char *[]) { "/t/hook.sh", "literal", "'$(touch", "/t/pwned)'", ";id", NULL });
        split_is("/bin/hook $(id) ; | && `id` \"a b\" $HOME ~ * \\",
                 (const char *[]) { "/bin/hook", "$(id)", ";", "|", "&&", "`id`", "\"a", "b\"", "$HOME", "~", "*",
                                    "\\", NULL });
        split_is("/bin/hook ;", (const char *[]) { "/bin/hook", ";", NULL });
        split_is("/bin/hook PREPAY_SLICE=x", (const char *[]) { "/bin/hook", "PREPAY_SLICE=x", NULL });

        /* No words, or no absolute program path first. */
        assert_int_equal(hook_split_argv("", &argv), -EINVAL);
        assert_int_equal(hook_split_argv("    ", &argv), -EINVAL);
        assert_int_equal(hook_split_argv("hook.sh", &argv), -EINVAL);
        assert_int_equal(hook_split_argv("./hook.sh a", &argv), -EINVAL);
        assert_int_equal(hook_split_argv("$(id) /bin/hook", &argv), -EINVAL);
        assert_int_equal(hook_split_argv(NULL, &argv), -EINVAL);
        assert_ptr_equal(argv, (char **) 0x1);
        hook_argv_free(NULL);
}

/* The fields of iov[0..n), in order, as one "|"-separated string. */
static char *fields_string(const struct event_fields *f) {
        static char buf[4096];
        size_t used = 0;

        buf[0] = 0;
        for (size_t i = 0; i < f->n; i++) {
                assert_true(used + f->iov[i].iov_len + 2 < sizeof(buf));
                /* No NUL and no newline inside a field: each is one line. */
                assert_null(memchr(f->iov[i].iov_base, 0, f->iov[i].iov_len));
                used += (size_t) snprintf(buf + used, sizeof(buf) - used, "%s%.*s", i ? "|" : "",
                                          (int) f->iov[i].iov_len, (const char *) f->iov[i].iov_base);
        }
        return buf;
}

/* ev's journal fields into f, '|'-joined, are expect_fmt as printf formats
 * it (its %s: the program's name, SYSLOG_IDENTIFIER=). */
static void check_journal_fields(const struct event *ev, struct event_fields *f, const char *expect_fmt, ...)
        _printf_(3, 4);
static void check_journal_fields(const struct event *ev, struct event_fields *f, const char *expect_fmt, ...) {
        char expect[1024];
        va_list ap;

        event_journal_fields(ev, f);
        va_start(ap, expect_fmt);
        vsnprintf(expect, sizeof(expect), expect_fmt, ap);
        va_end(ap);
        assert_string_equal(fields_string(f), expect);
}

static void test_journal_fields(void **state) {
        struct event ev = sample();
        struct event_fields f;

        /* A low balance: no action, no request. */
        check_journal_fields(&ev, &f,
                             "MESSAGE=Slice s-1a2b3c4d: event low, balance 0.05 EUR: less than 1min left at the "
                             "current burn rate.|PRIORITY=5|SYSLOG_IDENTIFIER=%s|SLICE=s-1a2b3c4d|EVENT=low|"
                             "BALANCE=0.05|CURRENCY=EUR|REASON=less than 1min left at the current burn rate",
                             program_invocation_short_name);
        assert_int_equal(f.priority, LOG_NOTICE);
        assert_string_equal(f.message, "Slice s-1a2b3c4d: event low, balance 0.05 EUR: less than 1min left at the "
                                       "current burn rate.");

        /* An action, caused by a request. */
        ev.kind = EVENT_THAWED;
        snprintf(ev.action, sizeof(ev.action), "thaw");
        snprintf(ev.request_id, sizeof(ev.request_id), "0123abcd");
        snprintf(ev.reason, sizeof(ev.reason), "topped up: thawed, limits restored");
        check_journal_fields(&ev, &f,
                             "MESSAGE=Slice s-1a2b3c4d: event thawed, balance 0.05 EUR: topped up: thawed, limits "
                             "restored.|PRIORITY=6|SYSLOG_IDENTIFIER=%s|SLICE=s-1a2b3c4d|EVENT=thawed|ACTION=thaw|"
                             "REQUEST_ID=0123abcd|BALANCE=0.05|CURRENCY=EUR|REASON=topped up: thawed, limits restored",
                             program_invocation_short_name);

        /* Unfunded (an OOM kill): no balance, no currency. */
        ev = sample();
        ev.kind = EVENT_OOM;
        ev.unfunded = true;
        snprintf(ev.reason, sizeof(ev.reason), "1 process OOM-killed");
        check_journal_fields(&ev, &f,
                             "MESSAGE=Slice s-1a2b3c4d: event oom (unfunded): 1 process OOM-killed.|PRIORITY=5|"
                             "SYSLOG_IDENTIFIER=%s|SLICE=s-1a2b3c4d|EVENT=oom|REASON=1 process OOM-killed",
                             program_invocation_short_name);

        /* The longest reason and request id fit, whole. */
        ev = sample();
        ev.kind = EVENT_KILLED;
        memset(ev.reason, 'r', sizeof(ev.reason) - 1);
        ev.reason[sizeof(ev.reason) - 1] = 0;
        memset(ev.request_id, 'q', sizeof(ev.request_id) - 1);
        ev.request_id[sizeof(ev.request_id) - 1] = 0;
        snprintf(ev.action, sizeof(ev.action), "kill");
        event_journal_fields(&ev, &f);
        assert_int_equal(f.n, 10);
        assert_int_equal(f.iov[f.n - 1].iov_len, strlen("REASON=") + EVENT_REASON_MAX - 1);
        assert_int_equal(f.iov[6].iov_len, strlen("REQUEST_ID=") + EVENT_REQUEST_ID_MAX - 1);
}

/* What a funder following a slice is told: what it acts on (top up,
 * claim), never how the slice is run or who topped it up. */
static void test_funder_kinds(void **state) {
        static const enum event_kind told[] = { EVENT_LOW, EVENT_EXHAUSTED, EVENT_RELEASED };
        struct config cfg = {};
        struct events *e = NULL;
        int cookie, fds[2];
        size_t n = 0;

        (void) state;
        for (int k = 0; k < _EVENT_MAX; k++) {
                bool want = streq(event_kind_to_string((enum event_kind) k), "sponsor");

                for (size_t i = 0; i < ARRAY_SIZE(told); i++)
                        want = want || (int) told[i] == k;
                assert_int_equal(event_reaches_funder((enum event_kind) k), want);
                n += want;
        }
        assert_true(n >= ARRAY_SIZE(told));

        /* A funder's stream is one slice's, and one of the same places. */
        assert_int_equal(config_init(&cfg), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(events_new(&cfg, NULL, NULL, &e), 0);
        assert_int_equal(events_subscribe_funder(e, fds[0], NULL, &cookie), -EINVAL);
        assert_int_equal(events_subscribe_funder(e, fds[0], "s-XYZ", &cookie), -EINVAL);
        assert_int_equal(events_subscribe_funder(e, fds[0], "s-1a2b3c4d", &cookie), 0);
        events_unsubscribe(e, &cookie);
        events_free(e);
        config_done(&cfg);
        close(fds[0]);
        close(fds[1]);
}

/* At most EVENTS_MAX_SUBSCRIBERS; unsubscribing frees a place; a bad
 * filter is refused. events_new() with a config only: nothing it does
 * before an event needs an event loop or a ledger. */
static void test_subscribers(void **state) {
        struct config cfg = {};
        struct events *e = NULL;
        int cookies[EVENTS_MAX_SUBSCRIBERS + 1], fds[2];

        assert_int_equal(config_init(&cfg), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds), 0);
        assert_int_equal(events_new(&cfg, NULL, NULL, &e), 0);

        for (int i = 0; i < EVENTS_MAX_SUBSCRIBERS; i++)
                assert_int_equal(events_subscribe(e, fds[0], i % 2 ? "s-1a2b3c4d" : NULL, &cookies[i]), 0);
        assert_int_equal(events_subscribe(e, fds[0], NULL, &cookies[EVENTS_MAX_SUBSCRIBERS]), -EUSERS);
        events_unsubscribe(e, &cookies[3]);
        events_unsubscribe(e, &cookies[3]); /* twice: no-op */
        events_unsubscribe(e, (void *) 0x1);
        assert_int_equal(events_subscribe(e, fds[0], NULL, &cookies[EVENTS_MAX_SUBSCRIBERS]), 0);
        assert_int_equal(events_subscribe(e, fds[0], NULL, &cookies[0]), -EUSERS);
        for (int i = 0; i <= EVENTS_MAX_SUBSCRIBERS; i++)
                events_unsubscribe(e, &cookies[i]);
        assert_int_equal(events_subscribe(e, fds[0], "s-XYZ", &cookies[0]), -EINVAL);
        assert_int_equal(events_subscribe(e, fds[0], "", &cookies[0]), -EINVAL);
        assert_int_equal(events_subscribe(e, -1, NULL, &cookies[0]), -EINVAL);
        events_free(e);
        events_free(NULL);

        /* A hook that is not an absolute path cannot get this far (the
         * config refuses it), and events_new() refuses it too. */
        free(cfg.on_exhausted);
        cfg.on_exhausted = strdup("hook.sh");
        e = NULL;
        assert_int_equal(events_new(&cfg, NULL, NULL, &e), -EINVAL);
        assert_null(e);

        close(fds[0]);
        close(fds[1]);
        config_done(&cfg);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_kind_names),   cmocka_unit_test(test_json_round_trip),
                cmocka_unit_test(test_json_refused), cmocka_unit_test(test_hook_argv),
                cmocka_unit_test(test_funder_kinds),
                cmocka_unit_test(test_subscribers),  cmocka_unit_test(test_journal_fields),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
