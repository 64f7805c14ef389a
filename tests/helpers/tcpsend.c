/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tcpsend PORT BYTES [INFOFILE]: send BYTES to 127.0.0.1:PORT, then close.
 *
 * With INFOFILE, once the peer has closed too, writes there what the
 * kernel says this socket sent (getsockopt TCP_INFO), one "name value"
 * a line:
 *   segs_out       segments sent, retransmissions and pure ACKs, SYN and
 *                  FIN included (a TSO skb counts as the segments it becomes)
 *   bytes_sent     payload bytes sent, retransmitted ones included
 *   bytes_retrans  payload bytes retransmitted
 * so a test can bound what a meter counted by what really went out: under
 * load TCP retransmits, and the bytes sent twice are on the wire twice.
 * The last two need Linux 4.19; an older kernel makes tcpsend fail. */
#include <arpa/inet.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_info(int fd, const char *path) {
        struct tcp_info ti = {};
        socklen_t len = sizeof(ti);
        FILE *f;

        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0) {
                perror("tcpsend: getsockopt TCP_INFO");
                return -1;
        }
        /* The kernel fills as much of the struct as it knows. */
        if (len < offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof(ti.tcpi_bytes_retrans)) {
                fprintf(stderr, "tcpsend: TCP_INFO has no tcpi_bytes_sent/tcpi_bytes_retrans (Linux 4.19+)\n");
                return -1;
        }

        f = fopen(path, "we");
        if (!f) {
                perror(path);
                return -1;
        }
        fprintf(f, "segs_out %u\nbytes_sent %llu\nbytes_retrans %llu\n", ti.tcpi_segs_out,
                (unsigned long long) ti.tcpi_bytes_sent, (unsigned long long) ti.tcpi_bytes_retrans);
        if (fclose(f) != 0) {
                perror(path);
                return -1;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        unsigned long long left;
        char buf[65536];
        int fd;

        if (argc != 3 && argc != 4)
                return 2;
        sa.sin_port = htons((unsigned short) atoi(argv[1]));
        left = strtoull(argv[2], NULL, 10);
        memset(buf, 'x', sizeof(buf));

        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
        /* EOF: the peer has everything and has closed; our ACK of its FIN
         * is sent, so the figures below are final. */
        while (read(fd, buf, sizeof(buf)) > 0)
                ;
        if (argc == 4 && write_info(fd, argv[3]) < 0)
                return 1;
        close(fd);
        return 0;
}
