/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* burners N [SECONDS]: N processes spinning on the CPU for SECONDS of wall
 * time (forever without), all started at once: each child waits on a pipe
 * until the last is forked, so that a slice has N running tasks when its
 * balance runs out, not the few a parent forking under load got to start.
 * The parent waits for them and exits 0 once all have ended. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void spin(double seconds) {
        struct timespec start, now;
        volatile unsigned long x = 0;

        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                for (int i = 0; i < 1000000; i++)
                        x += (unsigned long) i;
                if (seconds < 0)
                        continue;
                clock_gettime(CLOCK_MONOTONIC, &now);
                if ((double) (now.tv_sec - start.tv_sec) + (double) (now.tv_nsec - start.tv_nsec) / 1e9 >= seconds)
                        _exit(0);
        }
}

int main(int argc, char *argv[]) {
        long n = argc > 1 ? strtol(argv[1], NULL, 10) : 0;
        double seconds = argc > 2 ? atof(argv[2]) : -1;
        int go[2];
        char c;

        if (n < 1) {
                fprintf(stderr, "usage: burners N [SECONDS]\n");
                return 2;
        }
        if (pipe(go) < 0) {
                perror("pipe");
                return 1;
        }
        for (long i = 0; i < n; i++) {
                pid_t pid = fork();

                if (pid < 0) {
                        perror("fork");
                        return 1;
                }
                if (pid == 0) {
                        close(go[1]);
                        /* EOF once the parent closes its end: the start. */
                        while (read(go[0], &c, 1) < 0 && errno == EINTR)
                                ;
                        close(go[0]);
                        spin(seconds);
                }
        }
        close(go[0]);
        close(go[1]);
        while (wait(NULL) > 0 || errno == EINTR)
                ;
        return 0;
}
