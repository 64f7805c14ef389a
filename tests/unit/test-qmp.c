/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QMP (daemon/qmp.c): lines parsed, and the client against a fake QEMU
 * (a forked child on a unix socket writing scripted lines) and, when
 * qemu-system-x86_64 is installed, against a real one (-machine none, a
 * few tens of milliseconds). */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/log.h"
#include "common/util.h"
#include "qmp.h"

#define GREETING                                                                                              \
        "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, \"package\": " \
        "\"Debian 1:7.2+dfsg-7\"}, \"capabilities\": [\"oob\"]}}\r\n"

static int parse(const char *line, struct qmp_message *m) {
        return qmp_parse_line(line, strlen(line), m);
}

static void test_parse(void **state _unused_) {
        struct qmp_message m;

        assert_int_equal(parse(GREETING, &m), 0);
        assert_int_equal(m.kind, QMP_GREETING);

        assert_int_equal(parse("{\"return\": {}}", &m), 0);
        assert_int_equal(m.kind, QMP_RETURN);
        assert_string_equal(m.id, "");
        assert_null(qmp_status_from_return(&m));

        assert_int_equal(parse("{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "
                               "\"id\": \"prepay-1\"}\r\n",
                               &m),
                         0);
        assert_int_equal(m.kind, QMP_RETURN);
        assert_string_equal(m.id, "prepay-1");
        assert_string_equal(qmp_status_from_return(&m), "running");
        assert_int_equal(parse("{\"return\": {\"status\": \"guest-panicked\", \"running\": false}}", &m), 0);
        assert_string_equal(qmp_status_from_return(&m), "guest-panicked");
        /* Not a run state's name: not kept. */
        assert_int_equal(parse("{\"return\": {\"status\": \"RUNNING\\n\"}}", &m), 0);
        assert_null(qmp_status_from_return(&m));
        assert_int_equal(parse("{\"return\": {\"status\": \"a-very-long-state-name-of-32-byt\"}}", &m), 0);
        assert_null(qmp_status_from_return(&m));
        assert_int_equal(parse("{\"return\": [], \"id\": 7}", &m), 0);
        assert_string_equal(m.id, "");

        assert_int_equal(parse("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command foo has not "
                               "been found\"}}",
                               &m),
                         0);
        assert_int_equal(m.kind, QMP_ERROR);
        assert_string_equal(m.error_class, "CommandNotFound");
        assert_string_equal(m.error_desc, "The command foo has not been found");
        assert_null(qmp_status_from_return(&m));

        assert_int_equal(parse("{\"timestamp\": {\"seconds\": 1700000000, \"microseconds\": 1}, \"event\": "
                               "\"SHUTDOWN\", \"data\": {\"guest\": true, \"reason\": \"guest-shutdown\"}}",
                               &m),
                         0);
        assert_int_equal(m.kind, QMP_EVENT);
        assert_string_equal(m.event, "SHUTDOWN");
}

static void test_parse_bounded(void **state _unused_) {
        char line[512], desc[301];
        struct qmp_message m;

        memset(desc, 'd', 300);
        desc[300] = 0;
        desc[5] = '\x01';
        snprintf(line, sizeof(line), "{\"error\": {\"class\": \"GenericError\", \"desc\": \"%s\"}}", desc);
        /* json-c takes a raw control character in a string; it is not kept. */
        assert_int_equal(parse(line, &m), 0);
        assert_int_equal(m.error_desc[5], '?');
        desc[5] = 'd';
        snprintf(line, sizeof(line), "{\"error\": {\"class\": \"GenericError\", \"desc\": \"%s\\u0007\"}}", desc);
        assert_int_equal(parse(line, &m), 0);
        assert_int_equal(strlen(m.error_desc), 127);
        snprintf(line, sizeof(line), "{\"error\": {\"class\": \"x\", \"desc\": \"caf\\u00e9\\u0007\"}}");
        assert_int_equal(parse(line, &m), 0);
        assert_string_equal(m.error_desc, "caf???");
        snprintf(line, sizeof(line), "{\"event\": \"%.100s\"}", desc);
        assert_int_equal(parse(line, &m), 0);
        assert_int_equal(strlen(m.event), 63);
}

static void test_parse_bad(void **state _unused_) {
        static const char *const bad[] = {
                "", "\r\n", "[]", "\"return\"", "{}", "{\"return\": {}", "{\"return\": {}} x", "{\"event\": 1}",
                "{\"error\": \"x\"}", "{\"QMP\": 1}", "{\"retur\": {}}",
                "{\"return\": [[[[[[[[[[1]]]]]]]]]]}", /* deeper than 8 */
        };
        struct qmp_message m, untouched;

        memset(&m, 0x5a, sizeof(m));
        untouched = m;
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                if (parse(bad[i], &m) != -EBADMSG)
                        fail_msg("accepted '%s'", bad[i]);
                assert_memory_equal(&m, &untouched, sizeof(m));
        }
        assert_int_equal(qmp_parse_line("{\"return\": {}}\0", 15, &m), -EBADMSG);
}

/* The fake QEMU: a listening socket in a temporary directory. */
struct fake {
        char dir[64];
        char path[128];
        int fd;
        pid_t pid;
};

static int fake_setup(void **state) {
        struct fake *f = calloc(1, sizeof(*f));
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        if (!f)
                return -1;
        *state = f;
        f->fd = -1;
        strcpy(f->dir, "/tmp/prepay-test-qmp.XXXXXX");
        if (!mkdtemp(f->dir))
                return -1;
        snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
        strcpy(sa.sun_path, f->path);
        f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (f->fd < 0 || bind(f->fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -1;
        return 0;
}

static int fake_teardown(void **state) {
        struct fake *f = *state;

        if (f->pid > 0) {
                (void) kill(f->pid, SIGKILL);
                (void) waitpid(f->pid, NULL, 0);
        }
        if (f->fd >= 0)
                close(f->fd);
        (void) unlink(f->path);
        (void) rmdir(f->dir);
        free(f);
        return 0;
}

/* Reads a line from the client into buf; false at EOF. */
static bool read_line(int fd, char *buf, size_t size) {
        size_t n = 0;

        while (n + 1 < size) {
                if (read(fd, buf + n, 1) != 1)
                        return false;
                if (buf[n++] == '\n')
                        break;
        }
        buf[n] = 0;
        return true;
}

static void write_all(int fd, const char *s, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, s, len);

                if (n <= 0)
                        _exit(3);
                s += n;
                len -= (size_t) n;
        }
}

/* The child: accepts one connection, writes greeting, then for each
 * line the client sends, checks it is expect[i] and writes answer[i],
 * then hangs up. NULL greeting: says nothing (the client times out). */
static void fake_run(struct fake *f, const char *greeting, const char *const *expect, const char *const *answer,
                     size_t n) {
        assert_int_equal(listen(f->fd, 1), 0);
        f->pid = fork();
        assert_true(f->pid >= 0);
        if (f->pid > 0)
                return;

        int c = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC);
        char line[256];

        if (c < 0)
                _exit(1);
        if (!greeting) {
                pause();
                _exit(0);
        }
        write_all(c, greeting, strlen(greeting));
        for (size_t i = 0; i < n; i++) {
                if (!read_line(c, line, sizeof(line)))
                        _exit(2);
                if (!streq(line, expect[i]))
                        _exit(4);
                write_all(c, answer[i], strlen(answer[i]));
        }
        /* What was written is still read after the hang-up. */
        _exit(0);
}

static int fake_wait(struct fake *f) {
        int status;

        assert_int_equal(waitpid(f->pid, &status, 0), f->pid);
        f->pid = 0;
        assert_true(WIFEXITED(status));
        return WEXITSTATUS(status);
}

#define CAPS "{\"execute\":\"qmp_capabilities\"}\n"
#define EVENT "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"RESUME\"}\r\n"

static void test_client(void **state) {
        struct fake *f = *state;
        static const char *const expect[] = { CAPS, "{\"execute\":\"query-status\"}\n" };
        static const char *const answer[] = {
                EVENT "{\"return\": {}}\r\n",
                EVENT EVENT "{\"return\": {\"status\": \"paused\", \"singlestep\": false, \"running\": false}}\r\n",
        };
        char status[32] = "untouched";

        fake_run(f, GREETING, expect, answer, 2);
        /* The fake's socket was made (listen()) by this process. */
        assert_int_equal(qmp_command(f->path, getpid(), "query-status", 5 * USEC_PER_SEC, status, sizeof(status)),
                         0);
        assert_string_equal(status, "paused");
        assert_int_equal(fake_wait(f), 0);
}

static void test_client_error(void **state) {
        struct fake *f = *state;
        static const char *const expect[] = { CAPS, "{\"execute\":\"system_powerdown\"}\n" };
        static const char *const answer[] = {
                "{\"return\": {}}\r\n",
                "{\"error\": {\"class\": \"GenericError\", \"desc\": \"No ACPI\"}}\r\n",
        };

        fake_run(f, GREETING, expect, answer, 2);
        assert_int_equal(qmp_command(f->path, 0, "system_powerdown", 5 * USEC_PER_SEC, NULL, 0), -EIO);
        assert_int_equal(fake_wait(f), 0);
}

static void test_client_timeout(void **state) {
        struct fake *f = *state;
        uint64_t start = now_usec(CLOCK_MONOTONIC);

        fake_run(f, NULL, NULL, NULL, 0);
        assert_int_equal(qmp_command(f->path, 0, "stop", 100 * USEC_PER_MSEC, NULL, 0), -ETIMEDOUT);
        assert_true(now_usec(CLOCK_MONOTONIC) - start < 2 * USEC_PER_SEC);
}

static void test_client_no_greeting(void **state) {
        struct fake *f = *state;

        fake_run(f, "{\"return\": {}}\r\n", NULL, NULL, 0);
        assert_int_equal(qmp_command(f->path, 0, "stop", 5 * USEC_PER_SEC, NULL, 0), -EIO);
        assert_int_equal(fake_wait(f), 0);
}

static void test_client_closed(void **state) {
        struct fake *f = *state;
        static const char *const expect[] = { CAPS };
        static const char *const answer[] = { "{\"return\": {}}\r\n" };

        /* The child exits after the capabilities: EOF before the answer. */
        fake_run(f, GREETING, expect, answer, 1);
        assert_int_equal(qmp_command(f->path, 0, "cont", 5 * USEC_PER_SEC, NULL, 0), -EIO);
}

static void test_client_flood(void **state) {
        struct fake *f = *state;
        static const char *const expect[] = { CAPS };
        char *events = malloc(64 * strlen(EVENT) + 1);
        const char *answer[1] = { events };

        assert_non_null(events);
        events[0] = 0;
        for (int i = 0; i < 64; i++)
                strcat(events, EVENT);
        /* The greeting and 64 events: more than 64 lines. */
        fake_run(f, GREETING, expect, answer, 1);
        assert_int_equal(qmp_command(f->path, 0, "stop", 5 * USEC_PER_SEC, NULL, 0), -EIO);
        free(events);
}

static void test_client_long_line(void **state) {
        struct fake *f = *state;
        char *greeting = malloc(QMP_LINE_MAX + 64);

        assert_non_null(greeting);
        memset(greeting, ' ', QMP_LINE_MAX + 62);
        memcpy(greeting, "{\"QMP\": {}}", 11);
        strcpy(greeting + QMP_LINE_MAX + 60, "\r\n");
        fake_run(f, greeting, NULL, NULL, 0);
        assert_int_equal(qmp_command(f->path, 0, "stop", 5 * USEC_PER_SEC, NULL, 0), -EIO);
        free(greeting);
}

static void test_client_no_qemu(void **state) {
        struct fake *f = *state;

        /* Bound, not listening: refused. */
        assert_int_equal(qmp_command(f->path, 0, "stop", USEC_PER_SEC, NULL, 0), -ECONNREFUSED);
        assert_int_equal(qmp_command("/nonexistent-prepay/qmp.sock", 0, "stop", USEC_PER_SEC, NULL, 0), -ENOENT);
        assert_int_equal(qmp_command(f->path, 0, "a\"b", USEC_PER_SEC, NULL, 0), -EINVAL);
        assert_int_equal(qmp_command(f->path, 0, "", USEC_PER_SEC, NULL, 0), -EINVAL);
}

/* A real QEMU with no machine, stopped before it starts (-S):
 * "prelaunch", then quit. */
static void test_client_qemu(void **state) {
        struct fake *f = *state;
        char status[32], arg[160];
        uint64_t deadline;
        int r, wstatus;

        if (access("/usr/bin/qemu-system-x86_64", X_OK) < 0)
                skip();
        close(f->fd);
        f->fd = -1;
        (void) unlink(f->path);
        snprintf(arg, sizeof(arg), "unix:%s,server=on,wait=off", f->path);
        f->pid = fork();
        assert_true(f->pid >= 0);
        if (f->pid == 0) {
                int null = open("/dev/null", O_RDWR | O_CLOEXEC);

                dup2(null, 0);
                dup2(null, 1);
                dup2(null, 2);
                execl("/usr/bin/qemu-system-x86_64", "qemu-system-x86_64", "-machine", "none", "-nodefaults",
                      "-display", "none", "-S", "-qmp", arg, NULL);
                _exit(127);
        }
        /* Until QEMU listens. */
        deadline = now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC;
        do {
                r = qmp_command(f->path, f->pid, "query-status", 5 * USEC_PER_SEC, status, sizeof(status));
                if (r == -ENOENT || r == -ECONNREFUSED)
                        usleep(10000);
        } while ((r == -ENOENT || r == -ECONNREFUSED) && now_usec(CLOCK_MONOTONIC) < deadline);
        assert_int_equal(r, 0);
        assert_string_equal(status, "prelaunch");
        /* QEMU's socket is QEMU's: anyone else's pid is refused. */
        assert_int_equal(qmp_command(f->path, getpid(), "query-status", 5 * USEC_PER_SEC, NULL, 0), -EPERM);
        assert_int_equal(qmp_command(f->path, 0, "no-such-command", 5 * USEC_PER_SEC, NULL, 0), -EIO);
        assert_int_equal(qmp_command(f->path, 0, "quit", 5 * USEC_PER_SEC, NULL, 0), 0);
        assert_int_equal(waitpid(f->pid, &wstatus, 0), f->pid);
        f->pid = 0;
        assert_true(WIFEXITED(wstatus));
        assert_int_equal(WEXITSTATUS(wstatus), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_bounded),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test_setup_teardown(test_client, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_error, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_timeout, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_no_greeting, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_closed, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_flood, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_long_line, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_no_qemu, fake_setup, fake_teardown),
                cmocka_unit_test_setup_teardown(test_client_qemu, fake_setup, fake_teardown),
        };

        /* The client's warnings are expected. */
        log_set_max_level(getenv("TEST_LOG") ? LOG_DEBUG : LOG_ERR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
