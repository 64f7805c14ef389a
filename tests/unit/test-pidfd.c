/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A process pinned by a pidfd (daemon/common/pidfd.c): the number it
 * holds while it lives, and as a zombie; -ESRCH once it is reaped, never
 * the number of whoever takes it next; what is not a pidfd refused. The
 * daemon's use of it against a swapped peer runs in
 * tests/integration/test-peer-pid.sh. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/pidfd.h"
#include "common/util.h"

static int pidfd_of(pid_t pid) {
        return (int) syscall(SYS_pidfd_open, pid, 0);
}

static void test_self(void **state _unused_) {
        _cleanup_(closep) int fd = pidfd_open_self();
        pid_t pid = 0;

        if (fd == -ENOSYS)
                skip();
        assert_true(fd >= 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(pidfd_get_pid(fd, &pid), 0);
        assert_int_equal(pid, getpid());
}

static void test_zombie_then_reaped(void **state _unused_) {
        _cleanup_(closep) int fd = -1;
        pid_t child, pid = 0;

        child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(0);
        fd = pidfd_of(child);
        if (fd < 0 && errno == ENOSYS)
                skip();
        assert_true(fd >= 0);
        /* A zombie still holds its number: nobody else can have it. */
        assert_int_equal(waitid(P_PID, (id_t) child, &(siginfo_t) {}, WEXITED | WNOWAIT), 0);
        assert_int_equal(pidfd_get_pid(fd, &pid), 0);
        assert_int_equal(pid, child);
        /* Reaped: the number is free, and the pidfd says so. */
        assert_int_equal(waitpid(child, NULL, 0), child);
        pid = 0;
        assert_int_equal(pidfd_get_pid(fd, &pid), -ESRCH);
        assert_int_equal(pid, 0);
}

static void test_not_a_pidfd(void **state _unused_) {
        _cleanup_(closep) int file = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int pipes[2];
        pid_t pid = 0;

        assert_true(file >= 0);
        assert_int_equal(pidfd_get_pid(file, &pid), -EBADF);
        assert_int_equal(pipe2(pipes, O_CLOEXEC), 0);
        assert_int_equal(pidfd_get_pid(pipes[0], &pid), -EBADF);
        close(pipes[0]);
        close(pipes[1]);
        /* closed, or never open */
        assert_true(pidfd_get_pid(pipes[0], &pid) < 0);
        assert_int_equal(pidfd_get_pid(-1, &pid), -EBADF);
        assert_int_equal(pid, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_self),
                cmocka_unit_test(test_zombie_then_reaped),
                cmocka_unit_test(test_not_a_pidfd),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
