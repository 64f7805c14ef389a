/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* From request to running: the client half of tests/bench/latency.
 *
 *   bench-latency cycle SOCKET N
 *       N times: a child connects, sends "create" with "attach": true and
 *       a pidfd of itself (as prepay run does) and waits for the reply;
 *       then the parent sends "destroy" for that slice. Prints p50/p99 of
 *       each and of their sum: the daemon's share, timed at the socket
 *       (connect, send, reply), without the fork or any exec.
 *   bench-latency fill SOCKET N
 *       N unfunded empty slices made on one connection, their ids on
 *       stdout; the time it took on stderr.
 *   bench-latency mkdir N DIR...
 *       The kernel's share: N cgroups made beside each other in each DIR
 *       (one per hierarchy), then removed; prints both times.
 *   bench-latency exec N CMD [ARGS] [";;" CMD [ARGS]]...
 *       N times the commands one after the other (each must succeed; "%d"
 *       in an argument is the run's number); p50/p99 of a run's wall
 *       time and of the CPU time its commands took.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "common/pidfd.h"
#include "common/socket.h"

#define REPLY_MAX 65536

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

/* p50 and p99 of n samples in seconds, printed in milliseconds. */
static void print_quantiles(const char *what, double *v, size_t n) {
        qsort(v, n, sizeof(double), cmp_double);
        printf("%s: p50 %.3f ms p99 %.3f ms (n=%zu)\n", what, v[n / 2] * 1e3, v[(n * 99) / 100] * 1e3, n);
}

static int connect_to(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/* One request on fd and its reply, which must say "ok": true. */
static int call(int fd, const char *req, int pidfd, char *reply) {
        ssize_t n;

        if (socket_send_with_fd(fd, req, strlen(req), pidfd) < 0)
                return -errno;
        n = recv(fd, reply, REPLY_MAX - 1, 0);
        if (n <= 0)
                return n < 0 ? -errno : -ECONNRESET;
        reply[n] = 0;
        if (!strstr(reply, "\"ok\":true")) {
                fprintf(stderr, "refused: %.300s\n", reply);
                return -EPROTO;
        }
        return 0;
}

/* The slice id in a create's reply: the first "id". */
static int reply_slice_id(const char *reply, char *ret, size_t size) {
        const char *p = strstr(reply, "\"id\":\"");
        size_t n;

        if (!p)
                return -EPROTO;
        p += strlen("\"id\":\"");
        n = strcspn(p, "\"");
        if (n == 0 || n >= size)
                return -EPROTO;
        memcpy(ret, p, n);
        ret[n] = 0;
        return 0;
}

#define CREATE_ATTACH "{\"version\":1,\"op\":\"create\",\"limits\":{},\"attach\":true}"
#define CREATE_EMPTY "{\"version\":1,\"op\":\"create\",\"limits\":{}}"

/* The child: create and move in, as prepay run does; writes its time and
 * the slice's id to the pipe. */
static int cycle_child(const char *path, int out) {
        static char reply[REPLY_MAX];
        char line[128], id[64];
        double t0, t;
        int fd, pidfd, r;

        pidfd = pidfd_open_self();
        t0 = bench_now_sec();
        fd = connect_to(path);
        if (fd < 0)
                return 1;
        r = call(fd, CREATE_ATTACH, pidfd, reply);
        t = bench_now_sec() - t0;
        if (r < 0 || reply_slice_id(reply, id, sizeof(id)) < 0)
                return 1;
        snprintf(line, sizeof(line), "%.9f %s\n", t, id);
        return write(out, line, strlen(line)) == (ssize_t) strlen(line) ? 0 : 1;
}

static int bench_cycle(const char *path, size_t n) {
        static char reply[REPLY_MAX];
        double *create = calloc(n, sizeof(double)), *destroy = calloc(n, sizeof(double)),
               *sum = calloc(n, sizeof(double));

        if (!create || !destroy || !sum)
                return log_oom();
        for (size_t i = 0; i < n; i++) {
                char buf[128] = {}, id[64], req[256];
                int p[2], status, fd;
                double t0;
                pid_t pid;

                if (pipe2(p, O_CLOEXEC) < 0)
                        return -errno;
                pid = fork();
                if (pid < 0)
                        return -errno;
                if (pid == 0) {
                        close(p[0]);
                        _exit(cycle_child(path, p[1]));
                }
                close(p[1]);
                if (read(p[0], buf, sizeof(buf) - 1) <= 0 || sscanf(buf, "%lf %63s", &create[i], id) != 2) {
                        fprintf(stderr, "create %zu failed\n", i);
                        return -EPROTO;
                }
                close(p[0]);
                (void) waitpid(pid, &status, 0);

                snprintf(req, sizeof(req), "{\"version\":1,\"op\":\"destroy\",\"slice\":\"%s\"}", id);
                t0 = bench_now_sec();
                fd = connect_to(path);
                if (fd < 0 || call(fd, req, -1, reply) < 0) {
                        fprintf(stderr, "destroy of %s failed\n", id);
                        return -EPROTO;
                }
                destroy[i] = bench_now_sec() - t0;
                close(fd);
                sum[i] = create[i] + destroy[i];
        }
        print_quantiles("create+attach", create, n);
        print_quantiles("destroy", destroy, n);
        print_quantiles("create+attach+destroy", sum, n);
        return 0;
}

static int bench_fill(const char *path, size_t n) {
        static char reply[REPLY_MAX];
        double t0 = bench_now_sec();
        int fd = connect_to(path);

        if (fd < 0)
                return fd;
        for (size_t i = 0; i < n; i++) {
                char id[64];

                if (call(fd, CREATE_EMPTY, -1, reply) < 0 || reply_slice_id(reply, id, sizeof(id)) < 0) {
                        fprintf(stderr, "create %zu of %zu failed\n", i, n);
                        return -EPROTO;
                }
                printf("%s\n", id);
        }
        fprintf(stderr, "%.3f\n", bench_now_sec() - t0);
        close(fd);
        return 0;
}

static int bench_mkdir(size_t n, char **dirs, size_t n_dirs) {
        double t0 = bench_now_sec(), made;
        char path[4096];

        for (size_t i = 0; i < n; i++)
                for (size_t d = 0; d < n_dirs; d++) {
                        snprintf(path, sizeof(path), "%s/latency-bench-%zu", dirs[d], i);
                        if (mkdir(path, 0755) < 0)
                                return log_error_errno(errno, "Failed to make %s: %m", path);
                }
        made = bench_now_sec() - t0;
        t0 = bench_now_sec();
        for (size_t i = 0; i < n; i++)
                for (size_t d = 0; d < n_dirs; d++) {
                        snprintf(path, sizeof(path), "%s/latency-bench-%zu", dirs[d], i);
                        if (rmdir(path) < 0)
                                return log_error_errno(errno, "Failed to remove %s: %m", path);
                }
        printf("%.3f %.3f\n", made, bench_now_sec() - t0);
        return 0;
}

/* Runs argv[0..n) (";;" separates commands) once, as run number i; adds
 * the CPU time the commands took (user and system) to *cpu: on a shared
 * machine it varies less than the wall time. */
static int run_once(char **argv, int argc, size_t i, double *cpu) {
        int start = 0;

        while (start < argc) {
                char *args[64], num[32], *subst[64] = {};
                int end = start, k = 0, status;
                struct rusage ru;
                pid_t pid;

                while (end < argc && !streq(argv[end], ";;"))
                        end++;
                snprintf(num, sizeof(num), "%zu", i);
                for (int j = start; j < end && k < 63; j++, k++) {
                        char *pct = strstr(argv[j], "%d");

                        if (pct) {
                                if (asprintf(&subst[k], "%.*s%s%s", (int) (pct - argv[j]), argv[j], num, pct + 2) < 0)
                                        return -ENOMEM;
                                args[k] = subst[k];
                        } else
                                args[k] = argv[j];
                }
                args[k] = NULL;
                pid = fork();
                if (pid < 0)
                        return -errno;
                if (pid == 0) {
                        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

                        if (null >= 0) {
                                dup2(null, STDOUT_FILENO);
                                dup2(null, STDERR_FILENO);
                        }
                        execvp(args[0], args);
                        _exit(127);
                }
                for (int j = 0; j < k; j++)
                        free(subst[j]);
                if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "run %zu: %s failed\n", i, args[0]);
                        return -EPROTO;
                }
                *cpu += (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 +
                        (double) ru.ru_stime.tv_sec + (double) ru.ru_stime.tv_usec / 1e6;
                start = end + 1;
        }
        return 0;
}

static int bench_exec(size_t n, char **argv, int argc) {
        double *t = calloc(n, sizeof(double)), *cpu = calloc(n, sizeof(double));

        if (!t || !cpu)
                return log_oom();
        for (size_t i = 0; i < n; i++) {
                double t0 = bench_now_sec();

                if (run_once(argv, argc, i, &cpu[i]) < 0)
                        return -EPROTO;
                t[i] = bench_now_sec() - t0;
        }
        qsort(t, n, sizeof(double), cmp_double);
        qsort(cpu, n, sizeof(double), cmp_double);
        printf("wall p50 %.3f ms p99 %.3f ms, CPU p50 %.3f ms p99 %.3f ms (n=%zu)\n", t[n / 2] * 1e3,
               t[(n * 99) / 100] * 1e3, cpu[n / 2] * 1e3, cpu[(n * 99) / 100] * 1e3, n);
        return 0;
}

int main(int argc, char *argv[]) {
        size_t n;

        if (argc < 4)
                goto usage;
        if (streq(argv[1], "mkdir") || streq(argv[1], "exec"))
                n = strtoul(argv[2], NULL, 10);
        else
                n = strtoul(argv[3], NULL, 10);
        if (n == 0)
                goto usage;
        if (streq(argv[1], "cycle"))
                return bench_cycle(argv[2], n) < 0;
        if (streq(argv[1], "fill"))
                return bench_fill(argv[2], n) < 0;
        if (streq(argv[1], "mkdir"))
                return bench_mkdir(n, argv + 3, (size_t) (argc - 3)) < 0;
        if (streq(argv[1], "exec"))
                return bench_exec(n, argv + 3, argc - 3) < 0;
usage:
        fprintf(stderr, "usage: bench-latency cycle|fill SOCKET N | mkdir N DIR... | exec N CMD [;; CMD]...\n");
        return 2;
}
