/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Opens N TLS 1.3 keep-alive connections to 127.0.0.1:PORT, sends one
 * POST /echo on each and reads its reply, then keeps them all open and idle
 * until killed; prints "ready N" on stdout once all are up.
 * Usage: hold-conns PORT N BODYFILE
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int one_conn(SSL_CTX *ctx, int port, const char *req, size_t req_len) {
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        char buf[4096];
        size_t got = 0;
        SSL *ssl;
        int fd;

        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -1;
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_connect(ssl) != 1 || SSL_write(ssl, req, (int) req_len) != (int) req_len)
                return -1;
        /* The reply is headers plus a 300-byte body; read until the body's
         * closing brace so that the connection is idle afterwards. */
        while (got < sizeof(buf) - 1) {
                int n = SSL_read(ssl, buf + got, (int) (sizeof(buf) - 1 - got));

                if (n <= 0)
                        return -1;
                got += (size_t) n;
                buf[got] = 0;
                if (strstr(buf, "\r\n\r\n") && buf[got - 1] == '}')
                        break;
        }
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
                return -1;
        return 0; /* ssl and fd are kept open on purpose */
}

int main(int argc, char **argv) {
        char body[1024], req[2048];
        SSL_CTX *ctx;
        FILE *f;
        size_t blen;
        int port, n, len;

        if (argc != 4)
                return 2;
        port = atoi(argv[1]);
        n = atoi(argv[2]);
        f = fopen(argv[3], "re");
        if (!f)
                return 1;
        blen = fread(body, 1, sizeof(body), f);
        fclose(f);
        len = snprintf(req, sizeof(req),
                       "POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\n\r\n%.*s", blen, (int) blen, body);
        ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
        for (int i = 0; i < n; i++)
                if (one_conn(ctx, port, req, (size_t) len) < 0) {
                        fprintf(stderr, "connection %d failed\n", i);
                        return 1;
                }
        printf("ready %d\n", n);
        fflush(stdout);
        pause();
        return 0;
}
