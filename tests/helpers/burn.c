/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* burn [SECONDS]: spin on the CPU for SECONDS of wall time (forever without). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char *argv[]) {
        double limit = argc > 1 ? atof(argv[1]) : -1;
        struct timespec start, now;
        volatile unsigned long x = 0;

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                for (int i = 0; i < 1000000; i++)
                        x += (unsigned long) i;
                if (limit < 0)
                        continue;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((double) (now.tv_sec - start.tv_sec) + (double) (now.tv_nsec - start.tv_nsec) / 1e9 >= limit)
                        return 0;
        }
}
