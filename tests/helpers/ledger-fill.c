/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ledger-fill PATH N: a ledger of one slice, funded by one voucher and
 * charged N times a micro-unit of CPU (N + 1 entries in the hash chain),
 * written through ledger.c as prepayd writes it, in batches of 10,000:
 * a big ledger in seconds, for what must be watched on one (test-progress:
 * ledger verify's progress line). Exit 0, or 1 with the failure said. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "ledger.h"

#define FILL_BATCH 10000
#define FILL_SLICE "s-0123456789abcdef"

int main(int argc, char *argv[]) {
        struct voucher v = { .currency = "EUR", .not_before = 1700000000, .not_after = 1800000000 };
        struct ledger_slice s = { .owner_uid = 0, .created_usec = 1000 };
        uint64_t counters[_RESOURCE_MAX] = {};
        int64_t due[_RESOURCE_MAX] = {};
        _cleanup_(freep) char *error = NULL;
        struct ledger *l = NULL;
        unsigned long n;
        char *end;
        int r;

        if (argc != 3 || (n = strtoul(argv[2], &end, 10)) == 0 || *end) {
                fprintf(stderr, "Usage: ledger-fill PATH N\n");
                return 2;
        }
        r = ledger_open(argv[1], false, &l, &error);
        if (r < 0) {
                fprintf(stderr, "ledger-fill: %s\n", error ?: strerror(-r));
                return 1;
        }
        v.amount = (int64_t) n + 1000000;
        memset(v.id, 0x42, sizeof(v.id));
        memset(v.issuer, 0xab, sizeof(v.issuer));
        snprintf(s.id, sizeof(s.id), FILL_SLICE);
        memset(s.owner_hash, 0x5a, sizeof(s.owner_hash));

        r = ledger_begin(l);
        if (r >= 0)
                r = ledger_slice_add(l, &s);
        if (r >= 0)
                r = ledger_redeem(l, &v, FILL_SLICE, NULL, 2000, NULL, NULL);
        due[RESOURCE_CPU] = 1;
        for (unsigned long i = 1; r >= 0 && i <= n; i++) {
                counters[RESOURCE_CPU] = i;
                r = ledger_charge(l, FILL_SLICE, counters, due, 2000 + i, NULL);
                if (r >= 0 && i % FILL_BATCH == 0) {
                        r = ledger_commit(l);
                        if (r >= 0)
                                r = ledger_begin(l);
                }
        }
        if (r >= 0)
                r = ledger_commit(l);
        ledger_close(l);
        if (r < 0) {
                fprintf(stderr, "ledger-fill: %s\n", strerror(-r));
                return 1;
        }
        return 0;
}
