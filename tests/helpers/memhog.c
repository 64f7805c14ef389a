/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* memhog MIB SECONDS: allocate and touch MIB MiB, hold it SECONDS, exit.
 * Prints "held" on stdout once all of it is touched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char *argv[]) {
        size_t size;
        double secs;
        char *p;
        struct timespec ts;

        if (argc != 3) {
                fprintf(stderr, "usage: memhog MIB SECONDS\n");
                return 2;
        }
        size = (size_t) strtoull(argv[1], NULL, 10) << 20;
        secs = atof(argv[2]);

        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
                perror("mmap");
                return 1;
        }
        for (size_t i = 0; i < size; i += 4096)
                p[i] = 1;
        printf("held\n");
        fflush(stdout);

        ts.tv_sec = (time_t) secs;
        ts.tv_nsec = (long) ((secs - (double) ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
        return 0;
}
