/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tcpsend PORT BYTES: send BYTES to 127.0.0.1:PORT, then close. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        unsigned long long left;
        char buf[65536];
        int fd;

        if (argc != 3)
                return 2;
        sa.sin_port = htons((unsigned short) atoi(argv[1]));
        left = strtoull(argv[2], NULL, 10);
        memset(buf, 'x', sizeof(buf));

        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("tcpsend");
                return 1;
        }
        while (left > 0) {
                size_t chunk = left < sizeof(buf) ? (size_t) left : sizeof(buf);
                ssize_t n = write(fd, buf, chunk);
                if (n < 0) {
                        perror("write");
                        return 1;
                }
                left -= (unsigned long long) n;
        }
        shutdown(fd, SHUT_WR);
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        close(fd);
        return 0;
}
