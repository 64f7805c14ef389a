/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* peer-swap MODE SOCKET REQUEST...: a client whose connection outlives the
 * process that made it, for tests/integration/test-peer-pid.sh.
 *
 * A child connects to SOCKET (AF_UNIX SOCK_SEQPACKET), hands the connection
 * to this process and exits; once it is reaped its pid is printed on
 * standard output and its number is free for another process. After a line
 * on standard input (the test has given that number to a process of its
 * own), each REQUEST (one JSON object) is sent on the connection and each
 * reply printed, one a line; then it waits for another line (or the end
 * of standard input) before it exits. MODE says what goes with each request:
 *   none    nothing (a client that sends no pidfd)
 *   self    a pidfd of this process (not the one that connected)
 *   stale   a pidfd of whatever now holds the child's pid
 *   direct  no child: this process connects, prints its own pid, and sends
 *           nothing beside the requests (the connecting process asks)
 *   foreign as direct, with a pidfd of this process's parent */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/socket.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int fd_recv(int sock) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int))];
        } control;
        char byte;
        struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof(control) };
        struct cmsghdr *cm;
        int fd;

        if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) < 0)
                return -1;
        cm = CMSG_FIRSTHDR(&mh);
        if (!cm || cm->cmsg_type != SCM_RIGHTS)
                return -1;
        memcpy(&fd, CMSG_DATA(cm), sizeof(int));
        return fd;
}

static int connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -1;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -1;
        return fd;
}

int main(int argc, char *argv[]) {
        static char reply[65536 + 1];
        const char *mode;
        char line[64];
        pid_t child;
        int conn, pair[2];

        if (argc < 4) {
                fprintf(stderr, "Usage: peer-swap none|self|stale|direct|foreign SOCKET REQUEST...\n");
                return 2;
        }
        mode = argv[1];
        setvbuf(stdout, NULL, _IOLBF, 0);

        if (strcmp(mode, "direct") == 0 || strcmp(mode, "foreign") == 0) {
                conn = connect_to(argv[2]);
                if (conn < 0) {
                        perror("peer-swap: connect");
                        return 1;
                }
                child = getpid();
        } else {
                if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0) {
                        perror("peer-swap: socketpair");
                        return 1;
                }
                child = fork();
                if (child < 0) {
                        perror("peer-swap: fork");
                        return 1;
                }
                if (child == 0) {
                        int fd = connect_to(argv[2]);

                        if (fd < 0 || socket_send_with_fd(pair[1], "c", 1, fd) < 0) {
                                perror("peer-swap: connect");
                                _exit(1);
                        }
                        _exit(0);
                }
                conn = fd_recv(pair[0]);
                if (waitpid(child, NULL, 0) != child || conn < 0) {
                        fprintf(stderr, "peer-swap: the child did not hand its connection over\n");
                        return 1;
                }
        }
        printf("%d\n", (int) child);
        if (!fgets(line, sizeof(line), stdin))
                return 1;

        for (int i = 3; i < argc; i++) {
                int pidfd = -1;
                ssize_t n;

                if (strcmp(mode, "self") == 0)
                        pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);
                else if (strcmp(mode, "stale") == 0)
                        pidfd = (int) syscall(SYS_pidfd_open, child, 0);
                else if (strcmp(mode, "foreign") == 0)
                        pidfd = (int) syscall(SYS_pidfd_open, getppid(), 0);
                if (strcmp(mode, "none") != 0 && strcmp(mode, "direct") != 0 && pidfd < 0) {
                        perror("peer-swap: pidfd_open");
                        return 1;
                }
                if (socket_send_with_fd(conn, argv[i], strlen(argv[i]), pidfd) < 0) {
                        perror("peer-swap: send");
                        return 1;
                }
                if (pidfd >= 0)
                        close(pidfd);
                n = recv(conn, reply, sizeof(reply) - 1, 0);
                if (n <= 0) {
                        printf("(no reply: %s)\n", n < 0 ? strerror(errno) : "closed");
                        return 1;
                }
                reply[n] = 0;
                printf("%s\n", reply);
        }
        /* Alive until told, so that the test can see where it is. */
        if (!fgets(line, sizeof(line), stdin) && ferror(stdin))
                return 1;
        return 0;
}
