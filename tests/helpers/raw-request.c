/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* raw-request: sends control requests to prepayd as they are, byte for
 * byte, for the tests that send what the CLI never would (a field of the
 * wrong type or out of range, a raw CPU quota) or as fast as a hostile
 * client can. Replies are printed whatever they say: the test judges them.
 *
 *   raw-request SOCKET
 *       standard input as one request datagram; prints the reply. Exit 0
 *       when a reply came, 1 otherwise.
 *   raw-request SOCKET --repeat N
 *       standard input as one request, sent N times over one connection,
 *       each after the reply to the one before. Prints how many replies
 *       were {"ok":true,...} (prepayd puts "ok" first) and stops at the
 *       first that is not, printing it on standard error; exit 0 when all
 *       N were ok.
 *   raw-request SOCKET --lines
 *       each line "TAG REQUEST" of standard input sent on a connection of
 *       its own; prints "TAG REPLY", a line each, as the replies come.
 *       Stops (exit 1) at a reply that is not UTF-8, which no JSON reply
 *       may be. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MSG_MAX (64 * 1024) /* PREPAY_MSG_MAX */

static const char *sock_path;
static char reply[MSG_MAX + 1];

static int connect_daemon(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        strcpy(sa.sun_path, sock_path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                perror("raw-request: connect");
                exit(1);
        }
        return fd;
}

/* Sends one request on fd and reads its reply into reply[], NUL-ended.
 * Returns the reply's length, 0 when the daemon closed the connection,
 * -errno when sending or receiving failed. */
static ssize_t exchange(int fd, const char *req, size_t len) {
        ssize_t n;

        if (send(fd, req, len, MSG_NOSIGNAL) < 0)
                return -errno;
        do
                n = recv(fd, reply, MSG_MAX, 0);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        reply[n] = 0;
        return n;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t len) {
        for (size_t i = 0; i < len;) {
                unsigned c = s[i], need, min, cp;

                if (c < 0x80) {
                        i++;
                        continue;
                }
                if ((c & 0xe0) == 0xc0)
                        need = 1, min = 0x80, cp = c & 0x1f;
                else if ((c & 0xf0) == 0xe0)
                        need = 2, min = 0x800, cp = c & 0x0f;
                else if ((c & 0xf8) == 0xf0)
                        need = 3, min = 0x10000, cp = c & 0x07;
                else
                        return false;
                if (len - i <= need)
                        return false;
                for (unsigned k = 1; k <= need; k++) {
                        if ((s[i + k] & 0xc0) != 0x80)
                                return false;
                        cp = cp << 6 | (s[i + k] & 0x3f);
                }
                if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                i += need + 1;
        }
        return true;
}

static size_t read_stdin(char *buf, size_t size) {
        size_t len = 0;
        ssize_t n;

        while (len < size && (n = read(STDIN_FILENO, buf + len, size - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        perror("raw-request: read");
                        exit(1);
                }
                len += (size_t) n;
        }
        return len;
}

static int once(void) {
        static char req[MSG_MAX + 1];
        size_t len = read_stdin(req, sizeof(req));
        ssize_t n = exchange(connect_daemon(), req, len);

        if (n <= 0) {
                fprintf(stderr, "raw-request: %s\n", n == 0 ? "no reply" : strerror((int) -n));
                return 1;
        }
        printf("%s\n", reply);
        return 0;
}

static int repeat(const char *count) {
        static char req[MSG_MAX + 1];
        unsigned long n, ok = 0;
        size_t len;
        char *end;
        int fd;

        n = strtoul(count, &end, 10);
        if (*end || n == 0) {
                fprintf(stderr, "raw-request: --repeat wants a positive number\n");
                return 2;
        }
        len = read_stdin(req, sizeof(req));
        fd = connect_daemon();
        for (unsigned long i = 0; i < n; i++) {
                ssize_t k = exchange(fd, req, len);

                if (k <= 0) {
                        fprintf(stderr, "raw-request: %s after %lu replies\n",
                                k < 0 ? strerror((int) -k) : "connection closed", ok);
                        break;
                }
                if (strncmp(reply, "{\"ok\":true", 10) != 0) {
                        fprintf(stderr, "raw-request: reply %lu: %s\n", i + 1, reply);
                        break;
                }
                ok++;
        }
        printf("%lu\n", ok);
        return ok == n ? 0 : 1;
}

static int lines(void) {
        static char line[MSG_MAX + 2];

        setvbuf(stdout, NULL, _IOLBF, 0);
        while (fgets(line, sizeof(line), stdin)) {
                char *req = strchr(line, ' ');
                ssize_t n;
                int fd;

                line[strcspn(line, "\n")] = 0;
                if (!req) {
                        fprintf(stderr, "raw-request: not \"TAG REQUEST\": %s\n", line);
                        return 2;
                }
                *req++ = 0;
                fd = connect_daemon();
                n = exchange(fd, req, strlen(req));
                close(fd);
                if (n < 0) {
                        fprintf(stderr, "raw-request: %s: %s\n", line, strerror((int) -n));
                        return 1;
                }
                if (!utf8_valid((const unsigned char *) reply, (size_t) n)) {
                        fprintf(stderr, "raw-request: %s: the reply is not UTF-8\n", line);
                        return 1;
                }
                printf("%s %s\n", line, reply);
        }
        return 0;
}

int main(int argc, char **argv) {
        if (argc < 2 || strlen(argv[1]) >= sizeof(((struct sockaddr_un *) 0)->sun_path))
                goto usage;
        sock_path = argv[1];
        if (argc == 2)
                return once();
        if (argc == 4 && strcmp(argv[2], "--repeat") == 0)
                return repeat(argv[3]);
        if (argc == 3 && strcmp(argv[2], "--lines") == 0)
                return lines();
usage:
        fprintf(stderr, "usage: raw-request SOCKET [--repeat N | --lines] <request(s)\n");
        return 2;
}
