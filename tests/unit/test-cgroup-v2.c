/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The parsers of the cgroup files both slice backends read
 * (daemon/cgroup-v2.c, no system calls), on the kernel's own formats:
 * v2 files, the v1 files of hybrid hosts, /proc/PID/cgroup, cgroup
 * paths; and what a slice's CPU limits become. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cgroup-v2.h"
#include "common/log.h"

/* cpu.stat of a slice with the cpu controller (Linux 6.1). */
static const char cpu_stat_v2[] = "usage_usec 1305286\n"
                                  "user_usec 1200000\n"
                                  "system_usec 105286\n"
                                  "core_sched.force_idle_usec 0\n"
                                  "nr_periods 33\n"
                                  "nr_throttled 12\n"
                                  "throttled_usec 1644000\n"
                                  "nr_bursts 0\n"
                                  "burst_usec 0\n";

static void test_keyed_get(void **state _unused_) {
        uint64_t v = 7;

        assert_int_equal(cg2_keyed_get(cpu_stat_v2, "usage_usec", &v), 0);
        assert_int_equal(v, 1305286);
        assert_int_equal(cg2_keyed_get(cpu_stat_v2, "nr_throttled", &v), 0);
        assert_int_equal(v, 12);
        assert_int_equal(cg2_keyed_get(cpu_stat_v2, "burst_usec", &v), 0); /* the last line */
        assert_int_equal(v, 0);

        /* A key is a whole word at the start of a line. */
        v = 7;
        assert_int_equal(cg2_keyed_get(cpu_stat_v2, "usage", &v), -ENOENT);
        assert_int_equal(cg2_keyed_get(cpu_stat_v2, "_usec", &v), -ENOENT);
        assert_int_equal(cg2_keyed_get(cpu_stat_v2, "throttled_usec_total", &v), -ENOENT);
        assert_int_equal(cg2_keyed_get("", "usage_usec", &v), -ENOENT);
        assert_int_equal(v, 7);

        /* No newline at the end; a value that is not a number. */
        assert_int_equal(cg2_keyed_get("populated 1", "populated", &v), 0);
        assert_int_equal(v, 1);
        v = 7;
        assert_int_equal(cg2_keyed_get("oom_kill max\n", "oom_kill", &v), -EINVAL);
        assert_int_equal(cg2_keyed_get("oom_kill \n", "oom_kill", &v), -EINVAL);
        assert_int_equal(cg2_keyed_get("oom_kill 99999999999999999999\n", "oom_kill", &v), -EINVAL);
        assert_int_equal(v, 7);
        assert_int_equal(cg2_keyed_get("oom_kill 18446744073709551615\n", "oom_kill", &v), 0);
        assert_int_equal(v, UINT64_MAX);
}

static void test_parse_u64(void **state _unused_) {
        uint64_t v = 7;

        assert_int_equal(cg2_parse_u64("4096\n", &v), 0);
        assert_int_equal(v, 4096);
        assert_int_equal(cg2_parse_u64("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(cg2_parse_u64("12\n3\n", &v), 0); /* the first line only */
        assert_int_equal(v, 12);

        v = 7;
        assert_int_equal(cg2_parse_u64("", &v), -EINVAL);
        assert_int_equal(cg2_parse_u64("\n", &v), -EINVAL);
        assert_int_equal(cg2_parse_u64("max\n", &v), -EINVAL); /* memory.max, not a counter */
        assert_int_equal(cg2_parse_u64("12 3\n", &v), -EINVAL);
        assert_int_equal(cg2_parse_u64("18446744073709551616\n", &v), -EINVAL);
        assert_int_equal(v, 7);
}

static void test_parse_events(void **state _unused_) {
        bool populated = false, frozen = true;

        assert_int_equal(cg2_parse_events("populated 1\nfrozen 0\n", &populated, &frozen), 0);
        assert_true(populated);
        assert_false(frozen);
        assert_int_equal(cg2_parse_events("populated 0\nfrozen 1\n", &populated, &frozen), 0);
        assert_false(populated);
        assert_true(frozen);
        assert_int_equal(cg2_parse_events("populated 1\nfrozen 1\n", NULL, NULL), 0);

        /* Before Linux 5.2 there is no "frozen": not frozen. */
        assert_int_equal(cg2_parse_events("populated 1\n", &populated, &frozen), 0);
        assert_true(populated);
        assert_false(frozen);

        populated = frozen = true;
        assert_int_equal(cg2_parse_events("frozen 0\n", &populated, &frozen), -ENOENT);
        assert_int_equal(cg2_parse_events("", &populated, &frozen), -ENOENT);
        assert_int_equal(cg2_parse_events("populated yes\n", &populated, &frozen), -EINVAL);
        assert_true(populated && frozen);
}

static void test_cpu_stat(void **state _unused_) {
        struct slice_counters c = {};

        cg2_parse_cpu_stat(cpu_stat_v2, true, true, &c);
        assert_int_equal(c.cpu_usage_usec, 1305286);
        assert_int_equal(c.cpu_nr_periods, 33);
        assert_int_equal(c.cpu_nr_throttled, 12);
        assert_int_equal(c.cpu_throttled_usec, 1644000);

        /* Usage from v1 cpuacct: only the throttling. */
        c = (struct slice_counters) { .cpu_usage_usec = 5 };
        cg2_parse_cpu_stat(cpu_stat_v2, false, true, &c);
        assert_int_equal(c.cpu_usage_usec, 5);
        assert_int_equal(c.cpu_nr_throttled, 12);

        /* Throttling from v1 cpu: only the usage. */
        c = (struct slice_counters) {};
        cg2_parse_cpu_stat(cpu_stat_v2, true, false, &c);
        assert_int_equal(c.cpu_usage_usec, 1305286);
        assert_int_equal(c.cpu_nr_periods, 0);
        assert_int_equal(c.cpu_throttled_usec, 0);

        /* Without the cpu controller, cpu.stat has the usage only. */
        c = (struct slice_counters) {};
        cg2_parse_cpu_stat("usage_usec 42\nuser_usec 40\nsystem_usec 2\n", true, true, &c);
        assert_int_equal(c.cpu_usage_usec, 42);
        assert_int_equal(c.cpu_nr_periods, 0);
        assert_int_equal(c.cpu_nr_throttled, 0);
        assert_int_equal(c.cpu_throttled_usec, 0);
}

static void test_oom_kills(void **state _unused_) {
        uint64_t v = 0;

        /* v2 memory.events */
        cg2_parse_oom_kills("low 0\nhigh 0\nmax 17\noom 3\noom_kill 2\noom_group_kill 0\n", &v);
        assert_int_equal(v, 2);
        /* v1 memory.oom_control */
        cg2_parse_oom_kills("oom_kill_disable 0\nunder_oom 0\noom_kill 5\n", &v);
        assert_int_equal(v, 5);
        /* before Linux 4.13: no oom_kill, the value stays */
        cg2_parse_oom_kills("oom_kill_disable 0\nunder_oom 0\n", &v);
        assert_int_equal(v, 5);
}

/* What parse adds to read and write bytes that were rd and wr before. */
static void check_io(void (*parse)(const char *, uint64_t *, uint64_t *), const char *text, uint64_t rd, uint64_t wr,
                     uint64_t want_rd, uint64_t want_wr) {
        parse(text, &rd, &wr);
        assert_int_equal(rd, want_rd);
        assert_int_equal(wr, want_wr);
}

static void test_io_stat(void **state _unused_) {
        uint64_t rd = 0, wr = 0;

        check_io(cg2_parse_io_stat,
                 "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n"
                 "8:16 rbytes=100 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
                 0, 0, 4196, 8192);
        /* Added to what is there; nothing to add in an empty file. */
        check_io(cg2_parse_io_stat, "", 4196, 8192, 4196, 8192);
        check_io(cg2_parse_io_stat, "259:0 rbytes=4 wbytes=6 rios=1 wios=1 dbytes=0 dios=0", 4196, 8192, 4200, 8198);

        /* A sum that would overflow stays where it was. */
        rd = UINT64_MAX - 1;
        wr = 0;
        cg2_parse_io_stat("8:0 rbytes=2 wbytes=3\n", &rd, &wr);
        assert_int_equal(rd, UINT64_MAX - 1);
        assert_int_equal(wr, 3);
}

/* Each v2 file into the counters it holds; a v1 file of the same meaning
 * through the same parser. */
static void test_parse_file(void **state _unused_) {
        struct slice_counters c = {};

        cg2_parse_file(CG2_EVENTS, "populated 1\nfrozen 1\n", &c);
        cg2_parse_file(CG2_CPU_STAT, cpu_stat_v2, &c);
        cg2_parse_file(CG2_MEMORY_CURRENT, "1048576\n", &c);
        cg2_parse_file(CG2_MEMORY_PEAK, "2097152\n", &c);
        cg2_parse_file(CG2_MEMORY_EVENTS, "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1\n", &c);
        cg2_parse_file(CG2_IO_STAT, "8:0 rbytes=10 wbytes=20 rios=1 wios=1 dbytes=0 dios=0\n", &c);
        cg2_parse_file(CG2_PIDS_CURRENT, "3\n", &c);
        assert_true(c.populated && c.frozen);
        assert_int_equal(c.cpu_usage_usec, 1305286);
        assert_int_equal(c.cpu_throttled_usec, 1644000);
        assert_int_equal(c.memory_current, 1048576);
        assert_int_equal(c.memory_peak, 2097152);
        assert_int_equal(c.oom_kills, 1);
        assert_int_equal(c.io_read_bytes, 10);
        assert_int_equal(c.io_write_bytes, 20);
        assert_int_equal(c.pids_current, 3);

        /* v1 memory.oom_control as memory.events; garbage changes nothing. */
        cg2_parse_file(CG2_MEMORY_EVENTS, "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n", &c);
        assert_int_equal(c.oom_kills, 4);
        cg2_parse_file(CG2_MEMORY_CURRENT, "max\n", &c);
        cg2_parse_file(CG2_PIDS_CURRENT, "", &c);
        cg2_parse_file(_CG2_FILE_MAX, "3\n", &c);
        assert_int_equal(c.memory_current, 1048576);
        assert_int_equal(c.pids_current, 3);
}

static void test_controllers_have(void **state _unused_) {
        const char *list = "cpuset cpu io memory hugetlb pids rdma misc\n";

        assert_true(cg2_controllers_have(list, "cpu"));
        assert_true(cg2_controllers_have(list, "cpuset"));
        assert_true(cg2_controllers_have(list, "misc"));
        assert_true(cg2_controllers_have(list, "io"));
        assert_false(cg2_controllers_have(list, "cpuacct"));
        assert_false(cg2_controllers_have(list, "mem"));
        assert_false(cg2_controllers_have(list, "blkio"));
        assert_false(cg2_controllers_have("", "cpu"));
        assert_false(cg2_controllers_have("\n", "cpu"));
        assert_true(cg2_controllers_have("  memory\tpids  ", "pids"));
}

static void test_proc_cgroup_path(void **state _unused_) {
        _cleanup_(freep) char *a = NULL, *b = NULL, *c = NULL;
        char *d = NULL;

        /* Hybrid, as on the development machine. */
        assert_int_equal(cg2_proc_cgroup_path("9:name=systemd:/\n"
                                              "4:memory:/process_api/b3e09d2f\n"
                                              "1:cpu:/\n"
                                              "0::/user.slice/session-2.scope\n",
                                              &a),
                         0);
        assert_string_equal(a, "/user.slice/session-2.scope");
        /* Pure v2, no final newline. */
        assert_int_equal(cg2_proc_cgroup_path("0::/", &b), 0);
        assert_string_equal(b, "/");
        /* The v2 line first, a path with a colon in it. */
        assert_int_equal(cg2_proc_cgroup_path("0::/a:b\n1:cpu:/x\n", &c), 0);
        assert_string_equal(c, "/a:b");

        /* v1 only; "10::" is not the v2 line. */
        assert_int_equal(cg2_proc_cgroup_path("1:cpu,cpuacct:/\n2:memory:/\n", &d), -ENOENT);
        assert_int_equal(cg2_proc_cgroup_path("10::/x\n", &d), -ENOENT);
        assert_int_equal(cg2_proc_cgroup_path("", &d), -ENOENT);
        assert_null(d);
}

static void test_procs_next(void **state _unused_) {
        const char *p = "123\n4567\n2147483647\n";
        pid_t pid = 0;

        assert_int_equal(cg2_procs_next(&p, &pid), 1);
        assert_int_equal(pid, 123);
        assert_int_equal(cg2_procs_next(&p, &pid), 1);
        assert_int_equal(pid, 4567);
        assert_int_equal(cg2_procs_next(&p, &pid), 1);
        assert_int_equal(pid, 2147483647);
        assert_int_equal(cg2_procs_next(&p, &pid), 0);
        assert_int_equal(cg2_procs_next(&p, &pid), 0);

        /* What is not a pid ends the list. */
        p = "12\nabc\n13\n";
        assert_int_equal(cg2_procs_next(&p, &pid), 1);
        assert_int_equal(pid, 12);
        assert_int_equal(cg2_procs_next(&p, &pid), 0);
        pid = 99;
        p = "0\n";
        assert_int_equal(cg2_procs_next(&p, &pid), 0);
        p = "-5\n";
        assert_int_equal(cg2_procs_next(&p, &pid), 0);
        p = "2147483648\n";
        assert_int_equal(cg2_procs_next(&p, &pid), 0);
        p = "";
        assert_int_equal(cg2_procs_next(&p, &pid), 0);
        assert_int_equal(pid, 99);
}

static void test_v1_files(void **state _unused_) {
        struct slice_counters c = {};
        uint64_t usec = 7;

        /* cpu.stat: throttled_time in ns. */
        cg1_parse_cpu_stat("nr_periods 40\nnr_throttled 9\nthrottled_time 1644000123\n", &c);
        assert_int_equal(c.cpu_nr_periods, 40);
        assert_int_equal(c.cpu_nr_throttled, 9);
        assert_int_equal(c.cpu_throttled_usec, 1644000);
        cg1_parse_cpu_stat("nr_periods 41\n", &c);
        assert_int_equal(c.cpu_nr_periods, 41);
        assert_int_equal(c.cpu_throttled_usec, 1644000);

        /* cpuacct.usage in ns. */
        assert_int_equal(cg1_parse_cpuacct_usage("1305286999\n", &usec), 0);
        assert_int_equal(usec, 1305286);
        assert_int_equal(cg1_parse_cpuacct_usage("999\n", &usec), 0);
        assert_int_equal(usec, 0);
        usec = 7;
        assert_int_equal(cg1_parse_cpuacct_usage("", &usec), -EINVAL);
        assert_int_equal(cg1_parse_cpuacct_usage("1 2\n", &usec), -EINVAL);
        assert_int_equal(usec, 7);

        /* blkio.throttle.io_service_bytes: Read and Write per device, the
         * totals (per device and overall) left out. */
        check_io(cg1_parse_blkio,
                 "8:0 Read 4096\n"
                 "8:0 Write 8192\n"
                 "8:0 Sync 12288\n"
                 "8:0 Async 0\n"
                 "8:0 Discard 0\n"
                 "8:0 Total 12288\n"
                 "8:16 Read 100\n"
                 "8:16 Write 1\n"
                 "Total 12389\n",
                 0, 0, 4196, 8193);
        check_io(cg1_parse_blkio, "Total 0\n", 1, 2, 1, 2);
        check_io(cg1_parse_blkio, "", 1, 2, 1, 2);
        check_io(cg1_parse_blkio, "8:0 Write x\n", 1, 2, 1, 2);
        check_io(cg1_parse_blkio, "8:0 Read 18446744073709551615\n", 1, 2, 1, 2);
}

static void test_path_is_below(void **state _unused_) {
        assert_true(cg_path_is_below("/", "/"));
        assert_true(cg_path_is_below("/", "/a/b"));
        assert_true(cg_path_is_below("/a", "/a"));
        assert_true(cg_path_is_below("/a", "/a/b"));
        assert_true(cg_path_is_below("/a/", "/a/b"));
        assert_true(cg_path_is_below("/a//", "/a"));
        assert_false(cg_path_is_below("/a", "/ab"));
        assert_false(cg_path_is_below("/a/b", "/a"));
        assert_false(cg_path_is_below("/a", "/b/a"));
        assert_false(cg_path_is_below("/a", ""));
}

static void test_limits_cpu(void **state _unused_) {
        struct slice_limits l = {};
        uint64_t quota = 7, period = 7;

        /* No quota: none, at the default period of 100 ms. */
        slice_limits_cpu(&l, &quota, &period);
        assert_int_equal(quota, 0);
        assert_int_equal(period, 100000);

        l.cpu_quota_usec = 50000;
        l.cpu_period_usec = 200000;
        slice_limits_cpu(&l, &quota, &period);
        assert_int_equal(quota, 50000);
        assert_int_equal(period, 200000);

        /* The kernel's floor: 1 ms. */
        l.cpu_quota_usec = 1;
        slice_limits_cpu(&l, &quota, &period);
        assert_int_equal(quota, 1000);
        l.cpu_quota_usec = 1000;
        slice_limits_cpu(&l, &quota, &period);
        assert_int_equal(quota, 1000);
        l.cpu_quota_usec = 1001;
        slice_limits_cpu(&l, &quota, &period);
        assert_int_equal(quota, 1001);

        /* The period's range, 1 ms to 1 s; 0 is the default. */
        l.cpu_period_usec = 0;
        assert_int_equal(slice_limits_check(&l, "create", "s-0123abcd"), 0);
        l.cpu_period_usec = 1000;
        assert_int_equal(slice_limits_check(&l, "create", "s-0123abcd"), 0);
        l.cpu_period_usec = 1000000;
        assert_int_equal(slice_limits_check(&l, "create", "s-0123abcd"), 0);
        l.cpu_period_usec = 999;
        assert_int_equal(slice_limits_check(&l, "create", "s-0123abcd"), -ERANGE);
        l.cpu_period_usec = 1000001;
        assert_int_equal(slice_limits_check(&l, "set limits of", "s-0123abcd"), -ERANGE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_keyed_get),
                cmocka_unit_test(test_parse_u64),
                cmocka_unit_test(test_parse_events),
                cmocka_unit_test(test_cpu_stat),
                cmocka_unit_test(test_oom_kills),
                cmocka_unit_test(test_io_stat),
                cmocka_unit_test(test_parse_file),
                cmocka_unit_test(test_controllers_have),
                cmocka_unit_test(test_proc_cgroup_path),
                cmocka_unit_test(test_procs_next),
                cmocka_unit_test(test_v1_files),
                cmocka_unit_test(test_path_is_below),
                cmocka_unit_test(test_limits_cpu),
        };

        /* slice_limits_check() logs its refusals: not here. */
        log_set_max_level(-1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
