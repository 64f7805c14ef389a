/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepayd.conf (daemon/config.c): defaults, overrides, errors an operator
 * can act on, and --dump-config output that reads back as the same config. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include <cmocka.h>

#include "common/util.h"
#include "config.h"

static bool config_equal(const struct config *a, const struct config *b) {
        return streq(a->control_socket, b->control_socket) && a->socket_mode == b->socket_mode &&
               streq(a->state_directory, b->state_directory) && a->max_slices == b->max_slices &&
               a->log_level == b->log_level && streq(a->backend, b->backend) &&
               streq(a->cgroup_root, b->cgroup_root) && streq(a->bpf_pin_path, b->bpf_pin_path) &&
               a->meter_interval_usec == b->meter_interval_usec && a->cpu_period_usec == b->cpu_period_usec &&
               a->default_memory_max == b->default_memory_max && a->default_pids_max == b->default_pids_max &&
               a->max_cpus_milli == b->max_cpus_milli && streq(a->currency, b->currency) &&
               streq(a->issuers_directory, b->issuers_directory) && streq(a->host_key, b->host_key) &&
               streq(a->host_id, b->host_id) && a->min_runtime_usec == b->min_runtime_usec &&
               a->change_validity_usec == b->change_validity_usec && a->allow_unfunded == b->allow_unfunded &&
               streq(a->rates.currency, b->rates.currency) &&
               memcmp(a->rates.price, b->rates.price, sizeof(a->rates.price)) == 0;
}

/* What a function wrote to stderr (where log.c writes), while it ran. */
struct capture {
        FILE *file;
        int saved_fd;
};

static void capture_start(struct capture *c) {
        fflush(stderr);
        c->file = tmpfile();
        assert_non_null(c->file);
        c->saved_fd = dup(STDERR_FILENO);
        assert_true(c->saved_fd >= 0);
        assert_true(dup2(fileno(c->file), STDERR_FILENO) >= 0);
}

static char *capture_end(struct capture *c) {
        char *text;
        long size;

        fflush(stderr);
        assert_true(dup2(c->saved_fd, STDERR_FILENO) >= 0);
        close(c->saved_fd);

        size = ftell(c->file);
        assert_true(size >= 0);
        text = calloc(1, (size_t) size + 1);
        assert_non_null(text);
        rewind(c->file);
        assert_int_equal(fread(text, 1, (size_t) size, c->file), (size_t) size);
        fclose(c->file);
        return text;
}

static void load_ok(const char *text, struct config *ret) {
        int r;

        r = config_load_string(ret, text, "test.conf");
        if (r != 0)
                fail_msg("config refused (%d):\n%s", r, text);
}

/* The config is refused with err, c is left alone, and every string in
 * expected (NULL-terminated) appears in what was logged. */
static void load_fails(const char *text, int err, ...) {
        struct config c = { .max_slices = 4242 };
        _cleanup_(freep) char *log = NULL;
        struct capture cap;
        const char *want;
        va_list ap;
        int r;

        capture_start(&cap);
        r = config_load_string(&c, text, "test.conf");
        log = capture_end(&cap);

        if (r != err)
                fail_msg("got %d, want %d, for:\n%s", r, err, text);
        assert_int_equal(c.max_slices, 4242);
        assert_null(c.control_socket);

        va_start(ap, err);
        while ((want = va_arg(ap, const char *)))
                if (!strstr(log, want)) {
                        va_end(ap);
                        fail_msg("log does not contain \"%s\":\n%s", want, log);
                }
        va_end(ap);
}

/* FleetId= binds change to the fleet: only where the fleet's spent set is. */
static void test_fleet_id(void **state _unused_) {
        _cleanup_(config_done) struct config c = {};

        load_fails("[Money]\nFleetId=fleet-1\n", -EINVAL, "FleetId=fleet-1 needs Ledger=postgresql://", NULL);
        load_fails("[Money]\nFleetId=no fleet\nLedger=postgresql:///prepay\n", -EINVAL, "FleetId", NULL);
        load_ok("[Money]\nFleetId=fleet-1\nLedger=postgresql:///prepay\n", &c);
        assert_string_equal(c.fleet_id, "fleet-1");
        config_done(&c);
        load_ok("[Money]\nLedger=postgresql:///prepay\n", &c);
        assert_string_equal(c.fleet_id, "");
}

static void test_defaults(void **state _unused_) {
        _cleanup_(config_done) struct config c = {};

        assert_int_equal(config_init(&c), 0);
        assert_string_equal(c.control_socket, "/run/prepay/control.sock");
        assert_int_equal(c.socket_mode, 0660);
        assert_string_equal(c.state_directory, "/var/lib/prepay");
        assert_int_equal(c.max_slices, 10000);
        assert_int_equal(c.log_level, LOG_INFO);
        assert_string_equal(c.backend, "auto");
        assert_string_equal(c.cgroup_root, "prepay");
        assert_string_equal(c.bpf_pin_path, "/sys/fs/bpf/prepay");
        assert_int_equal(c.meter_interval_usec, 100 * USEC_PER_MSEC);
        assert_int_equal(c.cpu_period_usec, 100 * USEC_PER_MSEC);
        assert_int_equal(c.default_memory_max, 0);
        assert_int_equal(c.default_pids_max, 4096);
        assert_int_equal(c.max_cpus_milli, 0);

        assert_string_equal(c.currency, "EUR");
        assert_string_equal(c.issuers_directory, "/etc/prepay/issuers.d");
        assert_string_equal(c.host_key, "");
        assert_string_equal(c.host_id, "");
        assert_int_equal(c.min_runtime_usec, 60 * USEC_PER_SEC);
        assert_int_equal(c.change_validity_usec, 365 * 86400 * USEC_PER_SEC);
        assert_false(c.allow_unfunded);

        /* The rate card carries the currency of its prices. */
        assert_string_equal(c.rates.currency, "EUR");
        assert_int_equal(c.rates.price[RESOURCE_CPU], 100);
        assert_int_equal(c.rates.price[RESOURCE_MEMORY], 10000);
        assert_int_equal(c.rates.price[RESOURCE_NET_OUT], 50000);
        assert_int_equal(c.rates.price[RESOURCE_NET_IN], 0);
        assert_int_equal(c.rates.price[RESOURCE_IO], 10000);
        assert_int_equal(c.rates.price[RESOURCE_BASE], 0);
}

static void test_empty_file_is_defaults(void **state _unused_) {
        _cleanup_(config_done) struct config d = {}, a = {}, b = {};

        assert_int_equal(config_init(&d), 0);
        load_ok("", &a);
        assert_true(config_equal(&a, &d));
        load_ok("# only a comment\n\n; and another\n[Daemon]\n\n[Limits]\n", &b);
        assert_true(config_equal(&b, &d));
}

static void test_values(void **state _unused_) {
        _cleanup_(config_done) struct config c = {};

        load_ok("[Daemon]\n"
                "ControlSocket=/run/other/ctl.sock\n"
                "SocketMode=600\n"
                "StateDirectory=/srv/prepay\n"
                "MaxSlices=5\n"
                "LogLevel=debug\n"
                "[Cgroup]\n"
                "Backend=cgroupfs\n"
                "CgroupRoot=/prepay.slice/jobs\n"
                "[Meter]\n"
                "BpfPinPath=/sys/fs/bpf/other\n"
                "MeterInterval=1s 500ms\n"
                "[Limits]\n"
                "CPUPeriod=0.25s\n"
                "DefaultMemoryMax=1.5G\n"
                "DefaultTasksMax=100\n"
                "MaxCPUs=0.5\n",
                &c);
        assert_string_equal(c.control_socket, "/run/other/ctl.sock");
        assert_int_equal(c.socket_mode, 0600);
        assert_string_equal(c.state_directory, "/srv/prepay");
        assert_int_equal(c.max_slices, 5);
        assert_int_equal(c.log_level, LOG_DEBUG);
        assert_string_equal(c.backend, "cgroupfs");
        assert_string_equal(c.cgroup_root, "/prepay.slice/jobs");
        assert_string_equal(c.bpf_pin_path, "/sys/fs/bpf/other");
        assert_int_equal(c.meter_interval_usec, 1500 * USEC_PER_MSEC);
        assert_int_equal(c.cpu_period_usec, 250 * USEC_PER_MSEC);
        assert_int_equal(c.default_memory_max, UINT64_C(3) << 29);
        assert_int_equal(c.default_pids_max, 100);
        assert_int_equal(c.max_cpus_milli, 500);
}

static void test_money_values(void **state _unused_) {
        _cleanup_(config_done) struct config c = {}, d = {};

        load_ok("[Money]\n"
                "Currency=USD\n"
                "IssuersDirectory=/srv/prepay/issuers\n"
                "HostKey=/srv/prepay/host.key\n"
                "HostId=node-7.example_a\n"
                "MinRuntimeSec=5min\n"
                "ChangeValidity=30d\n"
                "AllowUnfunded=yes\n"
                "[Prices]\n"
                "CPUSecond=0.000025\n"
                "MemoryGiBHour=1.5\n"
                "NetOutGiB=0\n"
                "NetInGiB=0.000001\n"
                "IOGiB=12\n"
                "SliceHour=1000000000\n",
                &c);
        assert_string_equal(c.currency, "USD");
        assert_string_equal(c.rates.currency, "USD");
        assert_string_equal(c.issuers_directory, "/srv/prepay/issuers");
        assert_string_equal(c.host_key, "/srv/prepay/host.key");
        assert_string_equal(c.host_id, "node-7.example_a");
        assert_int_equal(c.min_runtime_usec, 300 * USEC_PER_SEC);
        assert_int_equal(c.change_validity_usec, 30 * 86400 * USEC_PER_SEC);
        assert_true(c.allow_unfunded);
        assert_int_equal(c.rates.price[RESOURCE_CPU], 25);
        assert_int_equal(c.rates.price[RESOURCE_MEMORY], 1500000);
        assert_int_equal(c.rates.price[RESOURCE_NET_OUT], 0);
        assert_int_equal(c.rates.price[RESOURCE_NET_IN], 1);
        assert_int_equal(c.rates.price[RESOURCE_IO], 12000000);
        assert_int_equal(c.rates.price[RESOURCE_BASE], MONEY_AMOUNT_MAX);

        /* Empty HostKey= and HostId= mean "derive it", as by default. */
        load_ok("[Money]\nHostKey=/k\nHostId=h\nHostKey=\nHostId=\n", &d);
        assert_string_equal(d.host_key, "");
        assert_string_equal(d.host_id, "");
        assert_string_equal(d.rates.currency, "EUR");
}

static void test_money_bad_values(void **state _unused_) {
        /* Money: six decimals at most, never rounded; no sign, no exponent. */
        load_fails("[Prices]\nCPUSecond=1.2345678\n", -EINVAL,
                   "test.conf:2: Invalid CPUSecond= value '1.2345678'", "six decimals", NULL);
        load_fails("[Daemon]\n[Prices]\n\nMemoryGiBHour=-1\n", -EINVAL,
                   "test.conf:4: Invalid MemoryGiBHour= value '-1'", NULL);
        load_fails("[Prices]\nNetOutGiB=1e3\n", -EINVAL, "NetOutGiB", NULL);
        load_fails("[Prices]\nNetInGiB=\n", -EINVAL, "NetInGiB", NULL);
        load_fails("[Prices]\nIOGiB=0,05\n", -EINVAL, "IOGiB", NULL);
        load_fails("[Prices]\nSliceHour=1000000000.000001\n", -ERANGE,
                   "test.conf:2: Invalid SliceHour= value '1000000000.000001'", "at most 1000000000.00", NULL);

        /* Currency: ISO 4217 form exactly. */
        load_fails("[Money]\nCurrency=eur\n", -EINVAL, "test.conf:2: Invalid Currency= value 'eur'", "ISO 4217",
                   NULL);
        load_fails("[Money]\nCurrency=EURO\n", -EINVAL, "Currency", NULL);
        load_fails("[Money]\nCurrency=\n", -EINVAL, "Currency", NULL);
        load_fails("[Money]\nCurrency=E1R\n", -EINVAL, "Currency", NULL);

        load_fails("[Money]\nIssuersDirectory=issuers.d\n", -EINVAL, "IssuersDirectory", "absolute", NULL);
        load_fails("[Money]\nIssuersDirectory=\n", -EINVAL, "IssuersDirectory", NULL);
        load_fails("[Money]\nHostKey=host.key\n", -EINVAL, "test.conf:2: Invalid HostKey= value 'host.key'",
                   "absolute", NULL);
        load_fails("[Money]\nHostId=my host\n", -EINVAL, "test.conf:2: Invalid HostId= value 'my host'", NULL);
        load_fails("[Money]\nHostId=a/b\n", -EINVAL, "HostId", NULL);
        load_fails("[Money]\nHostId="
                   "0123456789012345678901234567890123456789012345678901234567890123456789\n",
                   -EINVAL, "HostId", NULL);
        load_fails("[Money]\nMinRuntimeSec=0\n", -ERANGE, "MinRuntimeSec", "at least 1s", NULL);
        load_fails("[Money]\nMinRuntimeSec=1x\n", -EINVAL, "MinRuntimeSec", NULL);
        load_fails("[Money]\nChangeValidity=59min\n", -ERANGE, "ChangeValidity", "at least 1h", NULL);

        /* Keys of one section are not known in the other. */
        load_fails("[Money]\nCPUSecond=1\n", -EINVAL, "test.conf:2: Unknown key 'CPUSecond' in section [Money]",
                   NULL);
        load_fails("[Prices]\nCurrency=EUR\n", -EINVAL, "Unknown key 'Currency' in section [Prices]", NULL);
}

static void test_bool(void **state _unused_) {
        static const struct {
                const char *text;
                bool value;
        } words[] = {
                { "yes", true }, { "true", true }, { "on", true }, { "1", true }, { "YES", true }, { "On", true },
                { "no", false }, { "false", false }, { "off", false }, { "0", false }, { "No", false },
                { "FALSE", false },
        };

        for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
                _cleanup_(config_done) struct config c = {};
                _cleanup_(freep) char *text = NULL;

                /* From the other value, so that the default cannot pass. */
                assert_true(asprintf(&text, "[Money]\nAllowUnfunded=%s\nAllowUnfunded=%s\n",
                                     words[i].value ? "no" : "yes", words[i].text) > 0);
                load_ok(text, &c);
                assert_int_equal(c.allow_unfunded, words[i].value);
        }

        load_fails("[Money]\nAllowUnfunded=maybe\n", -EINVAL,
                   "test.conf:2: Invalid AllowUnfunded= value 'maybe'", "yes, no", NULL);
        load_fails("[Money]\nAllowUnfunded=2\n", -EINVAL, "AllowUnfunded", NULL);
        load_fails("[Money]\nAllowUnfunded=\n", -EINVAL, "AllowUnfunded", NULL);
        load_fails("[Money]\nAllowUnfunded=yess\n", -EINVAL, "AllowUnfunded", NULL);
}

static void test_empty_means_none(void **state _unused_) {
        _cleanup_(config_done) struct config c = {}, z = {};

        load_ok("[Limits]\nDefaultMemoryMax=4G\nDefaultTasksMax=\nMaxCPUs=2\n", &c);
        assert_int_equal(c.default_memory_max, UINT64_C(4) << 30);
        assert_int_equal(c.default_pids_max, 0);
        assert_int_equal(c.max_cpus_milli, 2000);

        load_ok("[Limits]\nDefaultMemoryMax=0\nDefaultTasksMax=0\nMaxCPUs=\n", &z);
        assert_int_equal(z.default_memory_max, 0);
        assert_int_equal(z.default_pids_max, 0);
        assert_int_equal(z.max_cpus_milli, 0);
}

static void test_log_levels(void **state _unused_) {
        static const struct {
                const char *text;
                int level;
        } levels[] = {
                { "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
                { "warning", LOG_WARNING }, { "err", LOG_ERR }, { "crit", LOG_CRIT },
                { "0", 0 }, { "3", 3 }, { "7", 7 },
        };

        for (size_t i = 0; i < ARRAY_SIZE(levels); i++) {
                _cleanup_(config_done) struct config c = {};
                _cleanup_(freep) char *text = NULL;

                assert_true(asprintf(&text, "[Daemon]\nLogLevel=%s\n", levels[i].text) > 0);
                load_ok(text, &c);
                assert_int_equal(c.log_level, levels[i].level);
        }

        load_fails("[Daemon]\nLogLevel=8\n", -EINVAL, "test.conf:2: Invalid LogLevel= value '8'", NULL);
        load_fails("[Daemon]\nLogLevel=loud\n", -EINVAL, "LogLevel", "'loud'", NULL);
        load_fails("[Daemon]\nLogLevel=DEBUG\n", -EINVAL, "LogLevel", NULL);
}

static void test_later_overrides_earlier(void **state _unused_) {
        _cleanup_(config_done) struct config c = {};

        load_ok("[Daemon]\nMaxSlices=5\nControlSocket=/a\n"
                "[Limits]\nMaxCPUs=1\n"
                "[Daemon]\nMaxSlices=7\nControlSocket=/b\nControlSocket=/c\n"
                "[Limits]\nMaxCPUs=\n",
                &c);
        assert_int_equal(c.max_slices, 7);
        assert_string_equal(c.control_socket, "/c");
        assert_int_equal(c.max_cpus_milli, 0);
}

static void test_syntax_tolerated(void **state _unused_) {
        _cleanup_(config_done) struct config c = {};

        /* CRLF line ends, space around "=", an inline " ;" comment, a
         * final line without a newline. */
        load_ok("\xef\xbb\xbf[Daemon]\r\nMaxSlices = 9 ; nine\r\n"
                "[Meter]\nMeterInterval=20ms",
                &c);
        assert_int_equal(c.max_slices, 9);
        assert_int_equal(c.meter_interval_usec, 20 * USEC_PER_MSEC);
}

static void test_unknown(void **state _unused_) {
        load_fails("[Daemon]\nMaxSlices=5\nMaxSlice=5\n", -EINVAL,
                   "test.conf:3: Unknown key 'MaxSlice' in section [Daemon]", NULL);
        /* A key from another section is not known in this one. */
        load_fails("[Daemon]\nMeterInterval=1s\n", -EINVAL,
                   "test.conf:2: Unknown key 'MeterInterval' in section [Daemon]", NULL);
        /* Case matters, as in systemd. */
        load_fails("[Daemon]\nmaxslices=5\n", -EINVAL, "test.conf:2: Unknown key 'maxslices'", NULL);
        load_fails("[Daemon]\n\n[Foo]\nBar=1\n", -EINVAL, "test.conf:3: Unknown section [Foo]", NULL);
        load_fails("[daemon]\n", -EINVAL, "test.conf:1: Unknown section [daemon]", NULL);
        load_fails("MaxSlices=5\n[Daemon]\n", -EINVAL, "test.conf:1: Key 'MaxSlices' outside of any section", NULL);
}

static void test_bad_values(void **state _unused_) {
        load_fails("[Daemon]\n\n[Meter]\n# comment\n\n\nMeterInterval=5q\n", -EINVAL,
                   "test.conf:7: Invalid MeterInterval= value '5q': Invalid argument", NULL);
        load_fails("[Meter]\nMeterInterval=5ms\n", -ERANGE,
                   "test.conf:2: Invalid MeterInterval= value '5ms'", "10ms", "10s", NULL);
        load_fails("[Meter]\nMeterInterval=11s\n", -ERANGE, "MeterInterval", NULL);
        load_fails("[Limits]\nCPUPeriod=999us\n", -ERANGE, "CPUPeriod", "1ms", "1s", NULL);
        load_fails("[Limits]\nCPUPeriod=1001ms\n", -ERANGE, "CPUPeriod", NULL);
        load_fails("[Limits]\nDefaultMemoryMax=1X\n", -EINVAL, "Invalid DefaultMemoryMax= value '1X'", NULL);
        load_fails("[Limits]\nDefaultMemoryMax=16777216T\n", -ERANGE, "DefaultMemoryMax", NULL);
        load_fails("[Limits]\nDefaultTasksMax=-1\n", -EINVAL, "DefaultTasksMax", NULL);
        load_fails("[Limits]\nMaxCPUs=0\n", -ERANGE, "MaxCPUs", NULL);
        load_fails("[Limits]\nMaxCPUs=0.0001\n", -EINVAL, "MaxCPUs", NULL);
        load_fails("[Daemon]\nMaxSlices=0\n", -ERANGE, "MaxSlices", "between 1 and 16384", NULL);
        load_fails("[Daemon]\nMaxSlices=\n", -EINVAL, "MaxSlices", NULL);
        load_fails("[Daemon]\nSocketMode=0999\n", -EINVAL, "SocketMode", NULL);
        load_fails("[Daemon]\nSocketMode=1777\n", -ERANGE, "SocketMode", "0777", NULL);
        load_fails("[Daemon]\nControlSocket=run/ctl.sock\n", -EINVAL, "ControlSocket", "absolute", NULL);
        load_fails("[Daemon]\nControlSocket=/run/prepay/"
                   "0123456789012345678901234567890123456789012345678901234567890123456789"
                   "0123456789012345678901234567890123456789.sock\n",
                   -ENAMETOOLONG, "ControlSocket", "too long", NULL);
        load_fails("[Daemon]\nStateDirectory=\n", -EINVAL, "StateDirectory", NULL);
        load_fails("[Daemon]\nStateDirectory=/var/lib/../tmp\n", -EINVAL, "StateDirectory", "..", NULL);
        load_fails("[Cgroup]\nCgroupRoot=\n", -EINVAL, "CgroupRoot", NULL);
        load_fails("[Cgroup]\nCgroupRoot=../escape\n", -EINVAL, "CgroupRoot", NULL);
        load_fails("[Meter]\nBpfPinPath=bpf\n", -EINVAL, "BpfPinPath", NULL);
}

static void test_backend(void **state _unused_) {
        _cleanup_(config_done) struct config a = {}, b = {}, c = {};

        load_ok("[Cgroup]\nBackend=auto\n", &a);
        assert_string_equal(a.backend, "auto");
        load_ok("[Cgroup]\nBackend=cgroupfs\n", &b);
        assert_string_equal(b.backend, "cgroupfs");

        load_ok("[Cgroup]\nBackend=systemd\n", &c);
        assert_string_equal(c.backend, "systemd");
        load_fails("[Cgroup]\nBackend=libcgroup\n", -EINVAL, "test.conf:2: Invalid Backend= value 'libcgroup'",
                   "auto, cgroupfs or systemd", NULL);
}

static void test_groups(void **state _unused_) {
        _cleanup_(config_done) struct config a = {}, b = {};

        load_ok("", &a);
        assert_string_equal(a.admin_group, "prepay-admin");
        assert_string_equal(a.client_group, "prepay");
        load_ok("[Daemon]\nClientGroup=\nAdminGroup=wheel\n", &b);
        assert_string_equal(b.client_group, "");
        assert_string_equal(b.admin_group, "wheel");
        load_fails("[Daemon]\nClientGroup=-prepay\n", -EINVAL, "ClientGroup", "group name", NULL);
        load_fails("[Daemon]\nAdminGroup=a b\n", -EINVAL, "AdminGroup", "group name", NULL);
}

static void test_syntax_errors(void **state _unused_) {
        char long_line[512];

        load_fails("[Daemon]\nMaxSlices\n", -EINVAL, "test.conf:2:", "Key=value", NULL);
        load_fails("[Daemon\nMaxSlices=5\n", -EINVAL, "test.conf:1:", "']'", NULL);
        /* inih would take an indented line as a continuation of the value
         * before it; that is refused rather than guessed at. */
        load_fails("[Daemon]\nMaxSlices=5\n  MaxSlices=6\n", -EINVAL, "test.conf:3:", "white space", NULL);
        load_fails("[Daemon]\nMaxSlices=5\n\t6\n", -EINVAL, "test.conf:3:", NULL);

        snprintf(long_line, sizeof(long_line), "[Daemon]\nStateDirectory=/%0400d\n", 0);
        load_fails(long_line, -EINVAL, "test.conf:2: Line too long", NULL);

        /* Every error is reported, not only the first. */
        load_fails("[Daemon]\nMaxSlices=x\nBogus=1\n[Meter]\nMeterInterval=1y\n", -EINVAL,
                   "test.conf:2: Invalid MaxSlices=", "test.conf:3: Unknown key 'Bogus'",
                   "test.conf:5: Invalid MeterInterval=", NULL);
}

static char *dump(const struct config *c) {
        char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        assert_non_null(f);
        assert_int_equal(config_dump(f, c), 0);
        assert_int_equal(fclose(f), 0);
        assert_non_null(text);
        return text;
}

static void test_dump_round_trip(void **state _unused_) {
        _cleanup_(config_done) struct config c = {}, back = {}, d = {}, dback = {};
        _cleanup_(freep) char *text = NULL, *dtext = NULL;

        load_ok("[Daemon]\nControlSocket=/run/x/ctl.sock\nSocketMode=0600\nMaxSlices=3\nLogLevel=warning\n"
                "[Cgroup]\nBackend=cgroupfs\nCgroupRoot=/jobs/prepay\n"
                "[Meter]\nMeterInterval=1500ms\n"
                "[Limits]\nCPUPeriod=0.0505s\nDefaultMemoryMax=1.5G\nDefaultTasksMax=\nMaxCPUs=2.125\n"
                "[Money]\nCurrency=CHF\nHostId=h1\nMinRuntimeSec=90s\nChangeValidity=1w 1h\nAllowUnfunded=on\n"
                "[Prices]\nCPUSecond=0.000125\nMemoryGiBHour=2\nNetOutGiB=0\nSliceHour=0.5\n",
                &c);
        text = dump(&c);
        assert_non_null(strstr(text, "\n[Money]\n"));
        assert_non_null(strstr(text, "\n[Prices]\n"));
        assert_non_null(strstr(text, "\nCurrency=CHF\n"));
        assert_non_null(strstr(text, "\nHostKey=\n"));
        assert_non_null(strstr(text, "\nMinRuntimeSec=90s\n"));
        assert_non_null(strstr(text, "\nChangeValidity=169h\n"));
        assert_non_null(strstr(text, "\nAllowUnfunded=yes\n"));
        assert_non_null(strstr(text, "\nCPUSecond=0.000125\n"));
        assert_non_null(strstr(text, "\nMemoryGiBHour=2.00\n"));
        assert_non_null(strstr(text, "\nNetOutGiB=0.00\n"));
        assert_non_null(strstr(text, "\nSliceHour=0.50\n"));
        assert_non_null(strstr(text, "\n[Limits]\n"));
        assert_non_null(strstr(text, "\nMaxCPUs=2.125\n"));
        assert_non_null(strstr(text, "\nDefaultMemoryMax=1536M\n"));
        assert_non_null(strstr(text, "\nDefaultTasksMax=\n"));
        assert_non_null(strstr(text, "\nCPUPeriod=50500us\n"));
        assert_non_null(strstr(text, "\nSocketMode=0600\n"));
        load_ok(text, &back);
        assert_true(config_equal(&c, &back));

        /* The defaults, dumped as values, also read back as themselves. */
        assert_int_equal(config_init(&d), 0);
        dtext = dump(&d);
        load_ok(dtext, &dback);
        assert_true(config_equal(&d, &dback));
}

/* config_dump(NULL) is the shipped config file: documented and commented
 * out. Uncommenting every "#Key=" line must give the built-in defaults. */
static void test_dump_defaults(void **state _unused_) {
        _cleanup_(config_done) struct config d = {}, plain = {}, uncommented = {};
        _cleanup_(freep) char *text = NULL;
        _cleanup_(freep) char *out = NULL;
        unsigned keys = 0;

        text = dump(NULL);
        assert_true(strneq(text, "# ", 2));
        assert_non_null(strstr(text, "\n[Daemon]\n"));
        assert_non_null(strstr(text, "\n[Cgroup]\n"));
        assert_non_null(strstr(text, "\n[Meter]\n"));
        assert_non_null(strstr(text, "\n[Limits]\n"));
        assert_non_null(strstr(text, "\n[Money]\n"));
        assert_non_null(strstr(text, "\n[Prices]\n"));
        assert_non_null(strstr(text, "\n#MeterInterval=100ms\n"));
        assert_non_null(strstr(text, "\n#Currency=EUR\n"));
        assert_non_null(strstr(text, "\n#AllowUnfunded=no\n"));
        assert_non_null(strstr(text, "\n#CPUSecond=0.0001\n"));
        assert_non_null(strstr(text, "\n#DefaultMemoryMax=\n"));

        assert_int_equal(config_init(&d), 0);

        /* As shipped, everything is a comment: the defaults. */
        load_ok(text, &plain);
        assert_true(config_equal(&d, &plain));

        /* Uncomment each "#Key=" line; each follows its "# doc" line. */
        out = calloc(1, strlen(text) + 1);
        assert_non_null(out);
        for (const char *line = text, *prev = NULL, *end; *line; prev = line, line = end) {
                end = strchrnul(line, '\n');
                if (*end)
                        end++;
                if (line[0] == '#' && line[1] >= 'A' && line[1] <= 'Z' && memchr(line, '=', (size_t) (end - line))) {
                        assert_true(prev && strneq(prev, "# ", 2));
                        line++;
                        keys++;
                }
                strncat(out, line, (size_t) (end - line));
        }
        assert_int_equal(keys, 74);
        free(text);
        text = TAKE_PTR(out);

        assert_null(strstr(text, "\n#M"));
        assert_non_null(strstr(text, "\nMeterInterval=100ms\n"));
        load_ok(text, &uncommented);
        assert_true(config_equal(&d, &uncommented));
}

/* [Control]'s gateway keys: their defaults, a user name checked like a
 * group's, units as a list of service names, and which unit a remote
 * buyer may ask for ("x" and "x.service" are one). */
static void test_gateway_keys(void **state _unused_) {
        _cleanup_(config_done) struct config d = {}, c = {}, e = {};

        load_ok("", &d);
        assert_string_equal(d.gateway_user, "prepay-gateway");
        assert_int_equal(d.gateway_connections, 32);
        assert_int_equal(d.gateway_event_streams, 16);
        assert_int_equal(d.max_remote_slices, 256);
        assert_string_equal(d.remote_units, "");
        assert_int_equal(d.max_connections, 128);
        assert_false(config_remote_unit_allowed(&d, "web.service"));

        load_ok("[Control]\nGatewayUser=gw\nGatewayConnections=4\nGatewayEventStreams=2\nMaxRemoteSlices=0\n"
                "RemoteUnits=  web.service  batch jupyter@x.service\n", &c);
        assert_string_equal(c.gateway_user, "gw");
        assert_int_equal(c.gateway_connections, 4);
        assert_int_equal(c.gateway_event_streams, 2);
        assert_int_equal(c.max_remote_slices, 0);
        assert_true(config_remote_unit_allowed(&c, "web.service"));
        assert_true(config_remote_unit_allowed(&c, "web"));
        assert_true(config_remote_unit_allowed(&c, "batch"));
        assert_true(config_remote_unit_allowed(&c, "batch.service"));
        assert_true(config_remote_unit_allowed(&c, "jupyter@x.service"));
        assert_false(config_remote_unit_allowed(&c, "we"));
        assert_false(config_remote_unit_allowed(&c, "web.service2"));
        assert_false(config_remote_unit_allowed(&c, "jupyter@y.service"));
        assert_false(config_remote_unit_allowed(&c, "batc"));
        assert_false(config_remote_unit_allowed(&c, "ssh.service"));
        assert_false(config_remote_unit_allowed(&c, ""));
        assert_false(config_remote_unit_allowed(&c, NULL));
        assert_false(config_remote_unit_allowed(&c, "web.service batch"));

        load_ok("[Control]\nGatewayUser=\n", &e);
        assert_string_equal(e.gateway_user, "");

        load_fails("[Control]\nGatewayUser=-gw\n", -EINVAL, "GatewayUser", "user name", NULL);
        load_fails("[Control]\nGatewayUser=a b\n", -EINVAL, "GatewayUser", NULL);
        load_fails("[Control]\nRemoteUnits=web.service ../x\n", -EINVAL, "RemoteUnits", "service names", NULL);
        load_fails("[Control]\nRemoteUnits=web;reboot\n", -EINVAL, "RemoteUnits", NULL);
        load_fails("[Control]\nGatewayConnections=0\n", -ERANGE, "GatewayConnections", NULL);
        load_fails("[Control]\nGatewayEventStreams=65\n", -ERANGE, "GatewayEventStreams", NULL);
}

/* [Money] DonationModels=: owner by default, words funders.c knows
 * separated by spaces, matched whole. */
static void test_donation_models(void **state _unused_) {
        _cleanup_(config_done) struct config d = {}, c = {};

        load_ok("", &d);
        assert_string_equal(d.donation_models, "owner");
        assert_true(config_donation_model_allowed(&d, DONATION_OWNER));
        assert_false(config_donation_model_allowed(&d, DONATION_PRO_RATA));
        assert_false(config_donation_model_allowed(&d, DONATION_LIFO));
        assert_false(config_donation_model_allowed(&d, _DONATION_MODEL_MAX));

        load_ok("[Money]\nDonationModels=  lifo   pro-rata \n", &c);
        assert_false(config_donation_model_allowed(&c, DONATION_OWNER));
        assert_true(config_donation_model_allowed(&c, DONATION_PRO_RATA));
        assert_true(config_donation_model_allowed(&c, DONATION_LIFO));

        load_fails("[Money]\nDonationModels=\n", -EINVAL, "DonationModels", "owner, pro-rata, lifo", NULL);
        load_fails("[Money]\nDonationModels=owner pro_rata\n", -EINVAL, "DonationModels", NULL);
        load_fails("[Money]\nDonationModels=own\n", -EINVAL, "DonationModels", NULL);
        load_fails("[Money]\nDonationModels=owner,lifo\n", -EINVAL, "DonationModels", NULL);
        load_fails("[Money]\nDonationModels=pro-rata-pro-rata-pro-rata\n", -EINVAL, "DonationModels", NULL);
}

/* packaging/prepayd.conf is config_dump(NULL), byte for byte. */
static void test_shipped_file(void **state _unused_) {
        _cleanup_(freep) char *text = NULL, *path = NULL, *shipped = NULL;
        const char *srcdir = getenv("PREPAY_SRCDIR") ?: ".";
        FILE *f;
        size_t size;
        long n;

        assert_true(asprintf(&path, "%s/packaging/prepayd.conf", srcdir) > 0);
        f = fopen(path, "re");
        if (!f) {
                print_message("skipped: %s not found (run from the source tree or set PREPAY_SRCDIR)\n", path);
                skip();
        }
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        size = (size_t) n;
        rewind(f);
        shipped = calloc(1, size + 1);
        assert_non_null(shipped);
        assert_int_equal(fread(shipped, 1, size, f), size);
        fclose(f);

        text = dump(NULL);
        if (!streq(text, shipped))
                fail_msg("%s differs from config_dump(NULL); regenerate it with \"prepayd --dump-config\"", path);
}

static void test_load_file(void **state _unused_) {
        _cleanup_(config_done) struct config c = {}, d = {}, e = {};
        char path[] = "/tmp/test-config-XXXXXX";
        struct config untouched = {};
        struct capture cap;
        char *log;
        FILE *f;
        int fd;

        fd = mkostemp(path, O_CLOEXEC);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs("[Daemon]\nMaxSlices=11\n", f);
        assert_int_equal(fclose(f), 0);

        assert_int_equal(config_load(&c, path, 0), 0);
        assert_int_equal(c.max_slices, 11);
        assert_string_equal(c.backend, "auto");

        /* Errors name the file as given. */
        f = fopen(path, "we");
        assert_non_null(f);
        fputs("[Daemon]\nMaxSlices=eleven\n", f);
        assert_int_equal(fclose(f), 0);
        capture_start(&cap);
        assert_int_equal(config_load(&untouched, path, 1), -EINVAL);
        log = capture_end(&cap);
        assert_non_null(strstr(log, path));
        assert_non_null(strstr(log, ":2: Invalid MaxSlices= value 'eleven'"));
        free(log);
        assert_null(untouched.control_socket);

        /* A NUL byte is not text. */
        f = fopen(path, "we");
        assert_non_null(f);
        fwrite("[Daemon]\nMaxSlices=1\0\n", 1, 22, f);
        assert_int_equal(fclose(f), 0);
        capture_start(&cap);
        assert_int_equal(config_load(&untouched, path, 1), -EINVAL);
        free(capture_end(&cap));

        assert_int_equal(unlink(path), 0);

        /* Missing: the defaults if optional, an error if not. */
        assert_int_equal(config_load(&d, path, 1), 0);
        assert_int_equal(d.max_slices, 10000);
        capture_start(&cap);
        assert_int_equal(config_load(&e, path, 0), -ENOENT);
        log = capture_end(&cap);
        assert_non_null(strstr(log, path));
        free(log);
        assert_null(e.control_socket);
}

static void test_done_twice(void **state _unused_) {
        struct config c = {};

        config_done(&c); /* a zeroed config is fine */
        assert_int_equal(config_init(&c), 0);
        config_done(&c);
        config_done(&c);
        assert_null(c.control_socket);
        config_done(NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_empty_file_is_defaults),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_money_values),
                cmocka_unit_test(test_money_bad_values),
                cmocka_unit_test(test_bool),
                cmocka_unit_test(test_empty_means_none),
                cmocka_unit_test(test_log_levels),
                cmocka_unit_test(test_later_overrides_earlier),
                cmocka_unit_test(test_syntax_tolerated),
                cmocka_unit_test(test_unknown),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_backend),
                cmocka_unit_test(test_groups),
                cmocka_unit_test(test_syntax_errors),
                cmocka_unit_test(test_dump_round_trip),
                cmocka_unit_test(test_dump_defaults),
                cmocka_unit_test(test_gateway_keys),
                cmocka_unit_test(test_donation_models),
                cmocka_unit_test(test_shipped_file),
                cmocka_unit_test(test_load_file),
                cmocka_unit_test(test_done_twice),
                cmocka_unit_test(test_fleet_id),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
