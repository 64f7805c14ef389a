/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sponsorship's pure parts (daemon/sponsor.c): the periods a bid is for
 * and the one running, the winner of a period (ties: the earliest), the
 * workload's environment file as a shell reads it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "sponsor.h"

static void test_periods(void **state _unused_) {
        /* Before the first period: its start. */
        assert_int_equal(sponsor_next_start(1000, 100, 0), 1000);
        assert_int_equal(sponsor_next_start(1000, 100, 999), 1000);
        /* At a period's start, the bid is for the next one: the running
         * one was settled as it began. */
        assert_int_equal(sponsor_next_start(1000, 100, 1000), 1100);
        assert_int_equal(sponsor_next_start(1000, 100, 1099), 1100);
        assert_int_equal(sponsor_next_start(1000, 100, 1100), 1200);
        assert_int_equal(sponsor_next_start(1000, 100, 123456), 123500);
        /* Saturates instead of wrapping. */
        assert_int_equal(sponsor_next_start(UINT64_MAX - 10, 100, UINT64_MAX - 5), UINT64_MAX);
        assert_int_equal(sponsor_next_start(0, UINT64_MAX, 1), UINT64_MAX);

        assert_int_equal(sponsor_current_start(1000, 100, 999), 0);
        assert_int_equal(sponsor_current_start(1000, 100, 1000), 1000);
        assert_int_equal(sponsor_current_start(1000, 100, 1099), 1000);
        assert_int_equal(sponsor_current_start(1000, 100, 1100), 1100);
        assert_int_equal(sponsor_current_start(1000, 0, 5000), 0);
}

static void test_winner(void **state _unused_) {
        const int64_t one[] = { 5 };
        const int64_t higher_later[] = { 5, 7, 6 };
        const int64_t tie[] = { 5, 7, 7, 3 };
        const int64_t all_equal[] = { 4, 4, 4 };

        assert_int_equal(sponsor_winner(one, 1), 0);
        assert_int_equal(sponsor_winner(higher_later, 3), 1);
        /* Of equal bids, the earliest. */
        assert_int_equal(sponsor_winner(tie, 4), 1);
        assert_int_equal(sponsor_winner(all_equal, 3), 0);
}

/* What a shell makes of text: the three variables, by sh itself. */
static void shell_reads(const char *text, const char *name, const char *url, const char *until) {
        char path[] = "/tmp/test-sponsor-XXXXXX", cmd[256], out[1024] = "", want[1024];
        FILE *f, *p;
        int fd;
        size_t n;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
        snprintf(cmd, sizeof(cmd),
                 "env -i sh -c '. %s && printf \"%%s|%%s|%%s\" \"$PREPAY_SPONSOR_NAME\" \"$PREPAY_SPONSOR_URL\" "
                 "\"$PREPAY_SPONSOR_UNTIL\"'", path);
        p = popen(cmd, "r");
        assert_non_null(p);
        n = fread(out, 1, sizeof(out) - 1, p);
        out[n] = 0;
        assert_int_equal(pclose(p), 0);
        unlink(path);
        snprintf(want, sizeof(want), "%s|%s|%s", name, url, until);
        assert_string_equal(out, want);
}

static void test_env_text(void **state _unused_) {
        char buf[SPONSOR_ENV_MAX], small[40];
        int n;

        n = sponsor_env_text("Alice", "https://a.example/?x=1&y=2", 1800000000 * USEC_PER_SEC + 999, buf,
                             sizeof(buf));
        assert_true(n > 0);
        assert_string_equal(buf, "PREPAY_SPONSOR_NAME='Alice'\n"
                                 "PREPAY_SPONSOR_URL='https://a.example/?x=1&y=2'\n"
                                 "PREPAY_SPONSOR_UNTIL='1800000000'\n");
        assert_int_equal((size_t) n, strlen(buf));
        shell_reads(buf, "Alice", "https://a.example/?x=1&y=2", "1800000000");

        /* What a shell would run or expand stays text. */
        n = sponsor_env_text("Bob's $(id) `id` \"x\" \\ ;", NULL, 0, buf, sizeof(buf));
        assert_true(n > 0);
        shell_reads(buf, "Bob's $(id) `id` \"x\" \\ ;", "", "0");

        /* The longest name the requests let through fits. */
        char name[257];
        memset(name, '\'', 64);
        name[64] = 0;
        assert_true(sponsor_env_text(name, "https://x", 0, buf, sizeof(buf)) > 0);

        assert_int_equal(sponsor_env_text("Alice", "", 0, small, sizeof(small)), -ENOBUFS);
        assert_int_equal(sponsor_env_text(NULL, "", 0, buf, sizeof(buf)), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_periods),
                cmocka_unit_test(test_winner),
                cmocka_unit_test(test_env_text),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
