/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tcpsink PORTFILE: listen on an ephemeral loopback port, write the port to
 * PORTFILE, accept one connection, read it to EOF, print the byte count. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof(sa);
        unsigned long long total = 0;
        char buf[65536];
        int fd, c;
        ssize_t n;
        FILE *f;

        if (argc != 2)
                return 2;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(fd, 1) < 0 ||
            getsockname(fd, (struct sockaddr *) &sa, &len) < 0) {
                perror("tcpsink");
                return 1;
        }
        f = fopen(argv[1], "w");
        if (!f)
                return 1;
        fprintf(f, "%d\n", ntohs(sa.sin_port));
        fclose(f);

        c = accept(fd, NULL, NULL);
        if (c < 0)
                return 1;
        while ((n = read(c, buf, sizeof(buf))) > 0)
                total += (unsigned long long) n;
        printf("%llu\n", total);
        return 0;
}
