/*
 * exec_start.c - what a library costs every process that loads it.
 *
 * Usage: exec_start ROUNDS LABEL=PRELOAD... 
 *
 * Starts /bin/true with posix_spawn() and waits for it, once per
 * configuration per round, the configurations interleaved (so that drift
 * hits them alike); LABEL=PRELOAD runs it with LD_PRELOAD=PRELOAD (an empty
 * PRELOAD: none). Prints each configuration's median in milliseconds and
 * its difference from the first.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int rounds, n = argc - 2, r, c;
    double *times, base = 0;
    char *args[] = { "/bin/true", 0 };
    char *envs[16][2];

    if (argc < 3 || n > 16 || (rounds = atoi(argv[1])) < 1) {
        fprintf(stderr, "usage: exec_start ROUNDS LABEL=PRELOAD...\n");
        return 2;
    }
    for (c = 0; c < n; c++) {
        char *eq = strchr(argv[c + 2], '=');
        static char buf[16][4096];
        if (!eq)
            return 2;
        *eq = 0;
        snprintf(buf[c], sizeof buf[c], "LD_PRELOAD=%s", eq + 1);
        envs[c][0] = eq[1] ? buf[c] : 0;
        envs[c][1] = 0;
    }
    times = calloc((size_t) n * rounds, sizeof *times);
    for (r = 0; r < rounds; r++) {
        for (c = 0; c < n; c++) {
            pid_t pid;
            int status;
            double t = now_ms();
            if (posix_spawn(&pid, args[0], 0, 0, args, envs[c]) != 0)
                return 1;
            waitpid(pid, &status, 0);
            times[c * rounds + r] = now_ms() - t;
        }
    }
    for (c = 0; c < n; c++) {
        double m;
        qsort(times + c * rounds, rounds, sizeof *times, cmp);
        m = times[c * rounds + rounds / 2];
        if (c == 0)
            base = m;
        printf("%-44s %8.3f ms  %+8.3f ms\n", argv[c + 2], m, m - base);
    }
    return 0;
}
