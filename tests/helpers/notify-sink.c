/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* notify-sink PATH: a stand-in for the service manager's notification
 * socket. Binds an AF_UNIX datagram socket at PATH and prints each
 * message it receives, its lines joined by spaces, one message a line,
 * until killed. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char buf[4096];
        int fd;

        if (argc != 2 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "Usage: notify-sink PATH\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("notify-sink");
                return 1;
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

                if (n < 0)
                        return 1;
                buf[n] = 0;
                for (char *p = buf; *p; p++)
                        if (*p == '\n')
                                *p = ' ';
                printf("%s\n", buf);
        }
}
