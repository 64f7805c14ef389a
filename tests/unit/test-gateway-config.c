/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* prepay-gatewayd's [Gateway] (daemon/gateway-config.c): the defaults,
 * every kind of value, the errors, Listen= addresses, and a dump that
 * reads back as the same configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "common/util.h"
#include "gateway-config.h"

static void test_defaults(void **state) {
        struct gateway_config c = {};

        assert_int_equal(gateway_config_load_string(&c, "", "empty"), 0);
        assert_string_equal(c.listen, "0.0.0.0:8443");
        assert_string_equal(c.certificate, "");
        assert_string_equal(c.state_directory, "/var/lib/prepay-gateway");
        assert_string_equal(c.control_socket, "/run/prepay/control.sock");
        assert_int_equal(c.max_connections, 1000);
        assert_int_equal(c.max_connections_per_address, 32);
        assert_int_equal(c.request_timeout_usec, 10 * USEC_PER_SEC);
        assert_int_equal(c.keep_alive_requests, 100);
        assert_int_equal(c.max_body_size, 32 * 1024);
        assert_int_equal(c.control_connections, 16);
        assert_int_equal(c.max_event_streams, 16);
        gateway_config_done(&c);
}

static void test_values(void **state) {
        struct gateway_config c = {};

        assert_int_equal(gateway_config_load_string(&c,
                                                    "# comment\n"
                                                    "[Gateway]\n"
                                                    "Listen=[::1]:443\n"
                                                    "Certificate=/etc/ssl/c.pem\n"
                                                    "Key=/etc/ssl/k.pem\n"
                                                    "RequestTimeoutSec=2min\n"
                                                    "MaxBodySize=16K\n"
                                                    "RatePerAddress=0.5\n"
                                                    "RatePerSlice=0\n"
                                                    "LogLevel=debug\n",
                                                    "t"),
                         0);
        assert_string_equal(c.listen, "[::1]:443");
        assert_int_equal(c.request_timeout_usec, 120 * USEC_PER_SEC);
        assert_int_equal(c.max_body_size, 16 << 10);
        assert_int_equal(c.rate_per_address_milli, 500);
        assert_int_equal(c.rate_per_slice_milli, 0);
        assert_int_equal(c.log_level, 7);
        gateway_config_done(&c);
}

static void test_errors(void **state) {
        static const char *const bad[] = {
                "[Daemon]\nListen=0.0.0.0:1\n",        /* prepayd's section */
                "[Gateway]\nNoSuchKey=1\n",
                "[Gateway]\nListen=localhost:8443\n",  /* an address, not a name */
                "[Gateway]\nListen=0.0.0.0:0\n",
                "[Gateway]\nListen=0.0.0.0\n",
                "[Gateway]\nListen=::1:8443\n",        /* IPv6 in brackets */
                "[Gateway]\nMaxConnections=0\n",
                "[Gateway]\nMaxConnections=ten\n",
                "[Gateway]\nRequestTimeoutSec=0\n",
                "[Gateway]\nRatePerAddress=0.0001\n",  /* 3 decimals at most */
                "[Gateway]\nControlSocket=relative.sock\n",
                "[Gateway]\nCertificate=/c.pem\n",     /* without Key= */
                "[Gateway]\nLogLevel=loud\n",
        };

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct gateway_config c = {};

                assert_int_not_equal(gateway_config_load_string(&c, bad[i], "bad"), 0);
                assert_null(c.listen); /* untouched on failure */
        }
}

static void test_listen(void **state) {
        struct sockaddr_storage ss;
        unsigned len;

        assert_int_equal(gateway_config_parse_listen("127.0.0.1:8443", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET);
        assert_int_equal(ntohs(((struct sockaddr_in *) &ss)->sin_port), 8443);
        assert_int_equal(gateway_config_parse_listen("[::]:443", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET6);
        assert_int_equal(len, sizeof(struct sockaddr_in6));
        assert_int_equal(gateway_config_parse_listen("[::]443", &ss, &len), -EINVAL);
        assert_int_equal(gateway_config_parse_listen("1.2.3.4:65536", &ss, &len), -EINVAL);
        assert_int_equal(gateway_config_parse_listen(":80", &ss, &len), -EINVAL);
}

/* What --dump-config prints of a configuration reads back as the same. */
static void test_dump_reads_back(void **state) {
        struct gateway_config a = {}, b = {};
        char *text = NULL, *again = NULL;
        size_t n = 0, m = 0;
        FILE *f;

        assert_int_equal(gateway_config_load_string(&a, "[Gateway]\nRatePerAddress=2.5\nRequestTimeoutSec=1500ms\n", "a"),
                         0);
        f = open_memstream(&text, &n);
        assert_int_equal(gateway_config_dump(f, &a), 0);
        fclose(f);
        assert_int_equal(gateway_config_load_string(&b, text, "dump"), 0);
        f = open_memstream(&again, &m);
        assert_int_equal(gateway_config_dump(f, &b), 0);
        fclose(f);
        assert_string_equal(text, again);
        assert_int_equal(b.rate_per_address_milli, 2500);
        assert_int_equal(b.request_timeout_usec, 1500 * USEC_PER_MSEC);
        free(text);
        free(again);
        gateway_config_done(&a);
        gateway_config_done(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_listen),
                cmocka_unit_test(test_dump_reads_back),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
