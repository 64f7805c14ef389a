/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* raw-request SOCKET: sends standard input to prepayd as one request
 * datagram, byte for byte, and prints the reply. For tests that send what
 * the CLI never would (a field out of range, a raw CPU quota); the reply
 * is printed whatever it says, so the test judges it. Exit 0 when a reply
 * came, 1 otherwise. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG_MAX (64 * 1024) /* PREPAY_MSG_MAX */

int main(int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static char buf[MSG_MAX + 1];
        size_t len = 0;
        ssize_t n;
        int fd;

        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "usage: raw-request SOCKET <request\n");
                return 2;
        }
        while (len < sizeof(buf) && (n = read(STDIN_FILENO, buf + len, sizeof(buf) - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        perror("raw-request: read");
                        return 1;
                }
                len += (size_t) n;
        }

        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("raw-request: connect");
                return 1;
        }
        if (send(fd, buf, len, MSG_NOSIGNAL) < 0) {
                perror("raw-request: send");
                return 1;
        }
        do
                n = recv(fd, buf, sizeof(buf) - 1, 0);
        while (n < 0 && errno == EINTR);
        if (n <= 0) {
                fprintf(stderr, "raw-request: %s\n", n == 0 ? "no reply" : strerror(errno));
                return 1;
        }
        buf[n] = 0;
        printf("%s\n", buf);
        close(fd);
        return 0;
}
