/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the CPU meter costs a context-switch storm.
 *
 * Two processes play pipe ping-pong pinned to one CPU (every round trip is
 * two context switches, the worst case for a hook on the scheduler), inside
 * a watched slice cgroup of a throwaway v2 root. Runs of three modes are
 * interleaved so that drift in the machine's speed hits them alike:
 *   none          no meter loaded;
 *   iter          the production meter: cgroup iterator + rstat flush,
 *                 meter_sample() every 100 ms from this (unpinned) process;
 *   sched_switch  the tp_btf/sched_switch meter, sampled the same way.
 * Prints each mode's median us per round trip and the median of the
 * per-round ratios against "none". A benchmark, not a test: it never fails
 * on a time. Exit 0 unless setting up fails; "skipped: <reason>" (exit 0)
 * when not root or without the kernel features.
 *
 *   bench-meter-overhead [-n ROUND_TRIPS] [-r RUNS] [-i SAMPLE_INTERVAL_MS]
 */

#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <time.h>

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "common/log.h"
#include "meter.h"

enum { MODE_NONE, MODE_ITER, MODE_SCHED, _MODE_MAX };
static const char *const mode_name[_MODE_MAX] = { "none", "iter", "sched_switch" };

static char root_path[PATH_MAX], slice_path[PATH_MAX + 8];
static volatile pid_t children[2] = { -1, -1 };

static uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * NSEC_PER_SEC + (uint64_t) ts.tv_nsec;
}

/* Async-signal-safe: used from the signal handler and atexit alike. */
static void cleanup(void) {
        for (size_t i = 0; i < ARRAY_SIZE(children); i++) {
                pid_t pid = children[i];

                if (pid > 0) {
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        children[i] = -1;
                }
        }
        if (slice_path[0])
                rmdir(slice_path);
        if (root_path[0])
                rmdir(root_path);
}

static void on_signal(int sig) {
        cleanup();
        signal(sig, SIG_DFL);
        raise(sig);
}

static int skip(const char *reason) {
        printf("skipped: %s\n", reason);
        return 0;
}

/* The v2 hierarchy: /sys/fs/cgroup (pure v2) or /sys/fs/cgroup/unified
 * (hybrid). */
static const char *cgroup2_mount(void) {
        static const char *const candidates[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
        struct statfs sfs;

        for (size_t i = 0; i < ARRAY_SIZE(candidates); i++)
                if (statfs(candidates[i], &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
                        return candidates[i];
        return NULL;
}

/* Our own v2 cgroup ("0::/path" in /proc/self/cgroup). */
static int own_cgroup2(char *buf, size_t size) {
        _cleanup_(fclosep) FILE *f = NULL;
        char line[PATH_MAX + 16];

        f = fopen("/proc/self/cgroup", "re");
        if (!f)
                return -errno;
        while (fgets(line, sizeof(line), f)) {
                if (!strneq(line, "0::", 3))
                        continue;
                line[strcspn(line, "\n")] = 0;
                if (snprintf(buf, size, "%s", streq(line + 3, "/") ? "" : line + 3) >= (int) size)
                        return -ENAMETOOLONG;
                return 0;
        }
        return -ENOENT;
}

static int write_pid(const char *cgroup, pid_t pid) {
        char path[PATH_MAX + 32], s[32];

        snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
        snprintf(s, sizeof(s), "%d\n", (int) pid);
        return write_string_file(path, s);
}

static int pick_cpu(void) {
        cpu_set_t set;
        int cpu = -1;

        if (sched_getaffinity(0, sizeof(set), &set) < 0)
                return -errno;
        /* The last allowed CPU: CPU 0 tends to take more interrupts. */
        for (int i = 0; i < CPU_SETSIZE; i++)
                if (CPU_ISSET(i, &set))
                        cpu = i;
        return cpu;
}

static void child_setup(int cpu) {
        cpu_set_t set;

        if (write_pid(slice_path, getpid()) < 0)
                _exit(10);
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        if (sched_setaffinity(0, sizeof(set), &set) < 0)
                _exit(11);
}

static void xread(int fd, void *p, size_t n) {
        if (read(fd, p, n) != (ssize_t) n)
                _exit(12);
}

static void xwrite(int fd, const void *p, size_t n) {
        if (write(fd, p, n) != (ssize_t) n)
                _exit(13);
}

struct sample_stats {
        uint64_t cpu_ns;
        bool seen;
        uint64_t slice_id;
};

static void on_sample(uint64_t id, const struct meter_counters *c, void *userdata) {
        struct sample_stats *s = userdata;

        if (id == s->slice_id) {
                s->cpu_ns = c->cpu_ns;
                s->seen = true;
        }
}

/* sample durations, us, of every meter_sample() in iter mode */
static double *sample_us;
static size_t n_sample_us, cap_sample_us;

static int timed_sample(struct meter *m, struct sample_stats *s, bool record) {
        uint64_t t0 = now_ns();
        int r;

        s->seen = false;
        r = meter_sample(m, on_sample, s);
        if (r < 0)
                return r;
        if (record) {
                if (n_sample_us == cap_sample_us) {
                        size_t cap = cap_sample_us ? cap_sample_us * 2 : 256;
                        double *p = realloc(sample_us, cap * sizeof(*p));

                        if (!p)
                                return -ENOMEM;
                        sample_us = p;
                        cap_sample_us = cap;
                }
                sample_us[n_sample_us++] = (double) (now_ns() - t0) / 1000.0;
        }
        return s->seen ? 0 : -ENOENT;
}

/* One run: returns us per round trip in *ret_us and the CPU the meter
 * counted for the slice per wall second in *ret_counted (0 without meter). */
static int run_once(int cpu, unsigned long n, struct meter *m, bool record, unsigned interval_ms,
                    double *ret_us, double *ret_counted, uint64_t slice_id) {
        int ping[2] = { -1, -1 }, pong[2] = { -1, -1 }, result[2] = { -1, -1 };
        struct sample_stats s = { .slice_id = slice_id };
        uint64_t elapsed = 0, cpu0 = 0, t0, t1;
        int r = 0, status;

        if (pipe2(ping, O_CLOEXEC) < 0 || pipe2(pong, O_CLOEXEC) < 0 || pipe2(result, O_CLOEXEC) < 0) {
                r = -errno;
                goto out;
        }
        if (m) {
                r = timed_sample(m, &s, false);
                if (r < 0)
                        goto out;
                cpu0 = s.cpu_ns;
        }

        t0 = now_ns();
        children[0] = fork();
        if (children[0] < 0) {
                r = -errno;
                goto out;
        }
        if (children[0] == 0) { /* pong */
                char c;

                child_setup(cpu);
                for (unsigned long i = 0; i < n + n / 100; i++) {
                        xread(ping[0], &c, 1);
                        xwrite(pong[1], &c, 1);
                }
                _exit(0);
        }
        children[1] = fork();
        if (children[1] < 0) {
                r = -errno;
                goto out;
        }
        if (children[1] == 0) { /* ping: 1% warm-up, then the timed loop */
                uint64_t start;
                char c = 'x';

                child_setup(cpu);
                for (unsigned long i = 0; i < n / 100; i++) {
                        xwrite(ping[1], &c, 1);
                        xread(pong[0], &c, 1);
                }
                start = now_ns();
                for (unsigned long i = 0; i < n; i++) {
                        xwrite(ping[1], &c, 1);
                        xread(pong[0], &c, 1);
                }
                start = now_ns() - start;
                xwrite(result[1], &start, sizeof(start));
                _exit(0);
        }
        close(result[1]);
        result[1] = -1;

        /* The daemon's part: sample every interval while the run lasts. */
        for (;;) {
                struct pollfd p = { .fd = result[0], .events = POLLIN };
                int k = poll(&p, 1, (int) interval_ms);

                if (k < 0 && errno != EINTR) {
                        r = -errno;
                        goto out;
                }
                if (k > 0)
                        break;
                if (m) {
                        r = timed_sample(m, &s, record);
                        if (r < 0)
                                goto out;
                }
        }
        if (read(result[0], &elapsed, sizeof(elapsed)) != sizeof(elapsed)) {
                r = -EIO;
                goto out;
        }
        for (size_t i = 0; i < ARRAY_SIZE(children); i++) {
                if (waitpid(children[i], &status, 0) < 0) {
                        r = -errno;
                        goto out;
                }
                children[i] = -1;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                        fprintf(stderr, "ping-pong child failed (status 0x%x)\n", status);
                        r = -ECHILD;
                        goto out;
                }
        }
        t1 = now_ns();

        *ret_counted = 0;
        if (m) {
                r = timed_sample(m, &s, false);
                if (r < 0)
                        goto out;
                *ret_counted = (double) (s.cpu_ns - cpu0) / (double) (t1 - t0);
        }
        *ret_us = (double) elapsed / 1000.0 / (double) n;
out:
        for (size_t i = 0; i < ARRAY_SIZE(children); i++)
                if (children[i] > 0) {
                        kill(children[i], SIGKILL);
                        waitpid(children[i], NULL, 0);
                        children[i] = -1;
                }
        for (size_t i = 0; i < 2; i++) {
                closep(&ping[i]);
                closep(&pong[i]);
                closep(&result[i]);
        }
        return r;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

static double median(double *v, size_t n) {
        if (n == 0)
                return 0;
        qsort(v, n, sizeof(*v), cmp_double);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bool kernel_has(const struct btf *btf, const char *name, int kind) {
        return btf && btf__find_by_name_kind(btf, name, kind) > 0;
}

int main(int argc, char **argv) {
        unsigned long n = 200000, runs = 20;
        unsigned interval_ms = 100;
        double *us[_MODE_MAX] = {}, *ratio[_MODE_MAX] = {}, *counted[_MODE_MAX] = {};
        size_t nrun[_MODE_MAX] = {}, nratio[_MODE_MAX] = {};
        bool have[_MODE_MAX] = { true, true, true };
        char own[PATH_MAX - 64];
        const char *mnt;
        struct btf *vmlinux;
        struct stat st;
        int root_fd = -1, cpu, opt, r, ret = 1;

        log_set_program("bench-meter-overhead");
        while ((opt = getopt(argc, argv, "n:r:i:")) >= 0)
                switch (opt) {
                case 'n':
                        n = strtoul(optarg, NULL, 10);
                        break;
                case 'r':
                        runs = strtoul(optarg, NULL, 10);
                        break;
                case 'i':
                        interval_ms = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                default:
                        fprintf(stderr, "usage: %s [-n ROUND_TRIPS] [-r RUNS] [-i SAMPLE_INTERVAL_MS]\n", argv[0]);
                        return 2;
                }
        if (n < 100 || runs < 1 || interval_ms < 1) {
                fprintf(stderr, "need -n >= 100, -r >= 1, -i >= 1\n");
                return 2;
        }

        if (geteuid() != 0)
                return skip("not root (loading BPF and making cgroups need it)");
        mnt = cgroup2_mount();
        if (!mnt)
                return skip("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");
        vmlinux = btf__load_vmlinux_btf();
        if (!vmlinux)
                return skip("no kernel BTF at /sys/kernel/btf/vmlinux");
        if (!kernel_has(vmlinux, "bpf_iter__cgroup", BTF_KIND_STRUCT)) {
                btf__free(vmlinux);
                return skip("kernel has no BPF cgroup iterator (Linux 6.1 or later needed)");
        }
        if (!kernel_has(vmlinux, "bpf_cgrp_storage_get", BTF_KIND_FUNC))
                have[MODE_SCHED] = false; /* BPF_MAP_TYPE_CGRP_STORAGE: 6.2 */
        btf__free(vmlinux);
        if (libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_CGROUP_SKB, NULL) != 1)
                return skip("BPF unavailable (cannot load a cgroup_skb program)");

        cpu = pick_cpu();
        if (cpu < 0) {
                fprintf(stderr, "Failed to read CPU affinity: %s\n", strerror(-cpu));
                return 1;
        }
        r = own_cgroup2(own, sizeof(own));
        if (r < 0) {
                fprintf(stderr, "Failed to find own cgroup v2: %s\n", strerror(-r));
                return 1;
        }

        atexit(cleanup);
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        signal(SIGHUP, on_signal);
        snprintf(root_path, sizeof(root_path), "%s%s/prepay-bench-%d", mnt, own, (int) getpid());
        if (mkdir(root_path, 0755) < 0) {
                fprintf(stderr, "Failed to create %s: %m\n", root_path);
                root_path[0] = 0;
                return 1;
        }
        snprintf(slice_path, sizeof(slice_path), "%s/slice", root_path);
        if (mkdir(slice_path, 0755) < 0 || stat(slice_path, &st) < 0) {
                fprintf(stderr, "Failed to create %s: %m\n", slice_path);
                return 1;
        }
        root_fd = open(root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0) {
                fprintf(stderr, "Failed to open %s: %m\n", root_path);
                return 1;
        }

        for (int i = 0; i < _MODE_MAX; i++) {
                us[i] = calloc(runs, sizeof(double));
                ratio[i] = calloc(runs, sizeof(double));
                counted[i] = calloc(runs, sizeof(double));
                if (!us[i] || !ratio[i] || !counted[i]) {
                        fprintf(stderr, "Out of memory\n");
                        goto out;
                }
        }

        printf("meter-overhead: pipe ping-pong, 2 processes pinned to CPU %d in a watched slice,\n"
               "%lu round trips x %lu interleaved runs per mode, meter_sample() every %u ms\n",
               cpu, n, runs, interval_ms);
        fflush(stdout);

        for (unsigned long run = 0; run < runs; run++) {
                double round_us[_MODE_MAX] = {};

                /* Rotate the order so no mode always follows another. */
                for (int k = 0; k < _MODE_MAX; k++) {
                        int mode = (int) ((k + run) % _MODE_MAX);
                        struct meter *m = NULL;
                        double u = 0, c = 0;

                        if (!have[mode])
                                continue;
                        if (mode != MODE_NONE) {
                                struct meter_options o = {
                                        .pin_path = NULL,
                                        .root_cgroup_fd = root_fd,
                                        .cpu_mode = mode == MODE_ITER ? METER_CPU_ITER : METER_CPU_SCHED_SWITCH,
                                        .attach_net = true,
                                };

                                r = meter_open(&o, &m);
                                if (r < 0 && mode == MODE_SCHED && run == 0) {
                                        printf("sched_switch: unavailable (%s), not measured\n", strerror(-r));
                                        have[mode] = false;
                                        continue;
                                }
                                if (r >= 0)
                                        r = meter_watch(m, (uint64_t) st.st_ino);
                                if (r < 0) {
                                        fprintf(stderr, "Failed to set up the %s meter: %s\n", mode_name[mode], strerror(-r));
                                        meter_close(m, false);
                                        goto out;
                                }
                        }
                        r = run_once(cpu, n, m, mode == MODE_ITER, interval_ms, &u, &c, (uint64_t) st.st_ino);
                        meter_close(m, false);
                        if (r < 0) {
                                fprintf(stderr, "Run %lu (%s) failed: %s\n", run, mode_name[mode], strerror(-r));
                                goto out;
                        }
                        us[mode][nrun[mode]] = u;
                        counted[mode][nrun[mode]] = c;
                        nrun[mode]++;
                        round_us[mode] = u;
                }
                for (int mode = MODE_ITER; mode < _MODE_MAX; mode++)
                        if (round_us[mode] > 0 && round_us[MODE_NONE] > 0)
                                ratio[mode][nratio[mode]++] = round_us[mode] / round_us[MODE_NONE];
        }

        printf("%-14s %14s %10s %10s\n", "mode", "median us/op", "min", "max");
        for (int mode = 0; mode < _MODE_MAX; mode++) {
                double med;

                if (nrun[mode] == 0)
                        continue;
                med = median(us[mode], nrun[mode]); /* sorts */
                printf("%-14s %14.3f %10.3f %10.3f\n", mode_name[mode], med, us[mode][0], us[mode][nrun[mode] - 1]);
        }
        for (int mode = MODE_ITER; mode < _MODE_MAX; mode++)
                if (nratio[mode] > 0)
                        printf("%s/none = %.3f\n", mode_name[mode], median(ratio[mode], nratio[mode]));
        if (n_sample_us > 0) {
                double med = median(sample_us, n_sample_us);

                printf("meter_sample() in iter mode: median %.0f us, max %.0f us over %zu samples\n",
                       med, sample_us[n_sample_us - 1], n_sample_us);
        }
        printf("slice CPU counted per wall second of a run (should be ~1):");
        for (int mode = MODE_ITER; mode < _MODE_MAX; mode++)
                if (nrun[mode] > 0)
                        printf(" %s %.3f", mode_name[mode], median(counted[mode], nrun[mode]));
        printf("\n");
        ret = 0;
out:
        for (int i = 0; i < _MODE_MAX; i++) {
                free(us[i]);
                free(ratio[i]);
                free(counted[i]);
        }
        free(sample_us);
        if (root_fd >= 0)
                close(root_fd);
        cleanup();
        return ret;
}
