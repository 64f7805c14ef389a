/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Option values several verbs share, each with one error message. */
#include "common/log.h"
#include "common/parse.h"
#include "prepay.h"

int arg_cpus(const char *s, uint64_t *ret_milli) {
        if (parse_cpus(s, ret_milli) < 0) {
                log_error("Invalid --cpus value '%s': expected a number of CPUs such as 0.5 or 2.", s);
                return -EINVAL;
        }
        return 0;
}

int arg_memory(const char *s, uint64_t *ret_bytes) {
        uint64_t v;

        if (parse_size(s, &v) < 0 || v == 0) {
                log_error("Invalid --memory value '%s': expected a size such as 512M or 4G.", s);
                return -EINVAL;
        }
        *ret_bytes = v;
        return 0;
}

int arg_hours(const char *s, uint64_t *ret_usec) {
        if (parse_hours(s, ret_usec) < 0) {
                log_error("Invalid --hours value '%s': expected a number of hours such as 2 or 0.5.", s);
                return -EINVAL;
        }
        return 0;
}
