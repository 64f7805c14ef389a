/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* burn [SECONDS]: spin on the CPU for SECONDS of wall time (forever without).
 * burn --cpu SECONDS: spin until it has used SECONDS of CPU time itself,
 * however long a busy machine makes that take. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int main(int argc, char *argv[]) {
        bool cpu = argc > 1 && strcmp(argv[1], "--cpu") == 0;
        double limit = argc > 1 + cpu ? atof(argv[1 + cpu]) : -1;
        struct timespec start, now;
        clockid_t clock = cpu ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
        volatile unsigned long x = 0;

        clock_gettime(clock, &start);
        for (;;) {
                for (int i = 0; i < 1000000; i++)
                        x += (unsigned long) i;
                if (limit < 0)
                        continue;
                clock_gettime(clock, &now);
                if ((double) (now.tv_sec - start.tv_sec) + (double) (now.tv_nsec - start.tv_nsec) / 1e9 >= limit)
                        return 0;
        }
}
