/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ctl-repeat SOCKET N REQUEST: sends the control request REQUEST (one
 * JSON object, as prepayd(8) describes) N times over one connection to
 * prepayd's SOCKET, each after the reply to the one before, as fast as
 * the daemon answers: what a hostile client can do and the CLI is too
 * slow to. Prints how many replies were {"ok":true,...} (prepayd puts
 * "ok" first) and stops at the first that is not, printing it on
 * stderr; exits 0 when all N were ok. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG_MAX (64 * 1024)

int main(int argc, char *argv[]) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        static char buf[MSG_MAX + 1];
        unsigned long n, ok = 0;
        char *end;
        int fd;

        if (argc != 4 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
                fprintf(stderr, "Usage: ctl-repeat SOCKET N REQUEST\n");
                return 2;
        }
        n = strtoul(argv[2], &end, 10);
        if (*end || n == 0) {
                fprintf(stderr, "ctl-repeat: N must be a positive number\n");
                return 2;
        }
        strcpy(sa.sun_path, argv[1]);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("ctl-repeat");
                return 1;
        }
        for (unsigned long i = 0; i < n; i++) {
                ssize_t k;

                if (send(fd, argv[3], strlen(argv[3]), MSG_NOSIGNAL) < 0) {
                        perror("ctl-repeat: send");
                        break;
                }
                k = recv(fd, buf, MSG_MAX, 0);
                if (k <= 0) {
                        fprintf(stderr, "ctl-repeat: %s after %lu replies\n",
                                k < 0 ? "recv failed" : "connection closed", ok);
                        break;
                }
                buf[k] = 0;
                if (strncmp(buf, "{\"ok\":true", 10) != 0) {
                        fprintf(stderr, "ctl-repeat: reply %lu: %s\n", i + 1, buf);
                        break;
                }
                ok++;
        }
        printf("%lu\n", ok);
        close(fd);
        return ok == n ? 0 : 1;
}
