/* decide.c - hosts_ctl() under faults, through either libwrap.so.0 (ours or
 * Debian's, chosen with LD_LIBRARY_PATH).
 *
 *   decide MODE ALLOW DENY ADDRESS [COUNT]
 *
 *   once     one hosts_ctl("sshd", ADDRESS, ADDRESS, "unknown")
 *   loop     COUNT calls; prints how many admitted and refused
 *   emfile   one call with every descriptor in use (RLIMIT_NOFILE 32)
 *   watch    calls until the file $DECIDE_STOP exists (at most COUNT), then,
 *            0.3 s later, 10 more: how many of those admitted ("after=")
 *
 * Under inject.c, allocation faults are armed just before the first call.
 *
 * Prints "admitted=A refused=R ms=T maxrss_kb=K leaked=F after=N"
 * (descriptors open after the calls that were not before) on stdout. The
 * syslog functions are
 * interposed and write to $PROBE_LOG, so stdout and stderr hold only this
 * line (a library that writes there fails the tests).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include "fds.h"
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "../Common/syslog_capture.h"

extern char *hosts_allow_table, *hosts_deny_table;
extern int hosts_ctl(char *daemon, char *name, char *addr, char *user);
int allow_severity = LOG_INFO, deny_severity = LOG_WARNING;

static int log_fd = -1;   /* opened before any fault: a line needs no descriptor */

static void capture(int priority, const char *format, va_list ap)
{
    char text[4096], line[4200];
    int n;

    vsnprintf(text, sizeof(text), format, ap);
    n = snprintf(line, sizeof(line), "%d %s\n", priority & LOG_PRIMASK, text);
    if (log_fd >= 0 && write(log_fd, line, n) < 0)
        return;
}


int main(int argc, char **argv)
{
    long count = argc > 5 ? atol(argv[5]) : 1, admitted = 0, refused = 0, after = 0, i;
    struct timespec t0, t1;
    int held[64], n = 0, fds;

    if (argc < 5) {
        fprintf(stderr, "usage: decide MODE ALLOW DENY ADDRESS [COUNT]\n");
        return 2;
    }
    if (getenv("PROBE_LOG"))
        log_fd = open(getenv("PROBE_LOG"), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    hosts_allow_table = argv[2];
    hosts_deny_table = argv[3];
    fds = count_fds();
    if (strcmp(argv[1], "emfile") == 0) {
        struct rlimit rl = { 32, 32 };
        int d;
        setrlimit(RLIMIT_NOFILE, &rl);
        while (n < 64 && (d = dup(1)) >= 0)
            held[n++] = d;
    }
    /* Allocation faults (inject.c) start with the first decision. */
    void (*arm)(void) = (void (*)(void)) dlsym(RTLD_DEFAULT, "fault_arm");
    if (arm)
        arm();
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; strcmp(argv[1], "watch") != 0 && i < count; i++) {
        if (hosts_ctl("sshd", argv[4], argv[4], "unknown"))
            admitted++;
        else
            refused++;
    }
    if (strcmp(argv[1], "watch") == 0) {
        const char *stop = getenv("DECIDE_STOP");
        for (i = 0; stop && access(stop, F_OK) != 0 && i < count; i++) {
            if (hosts_ctl("sshd", argv[4], argv[4], "unknown"))
                admitted++;
            else
                refused++;
        }
        usleep(300000);
        for (i = 0; i < 10; i++)
            after += hosts_ctl("sshd", argv[4], argv[4], "unknown");
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    while (n > 0)
        close(held[--n]);
    /* VmHWM, not getrusage(): ru_maxrss keeps the peak of the process
     * image before exec (the test runner's). */
    FILE *st = fopen("/proc/self/status", "r");
    char line[256];
    long hwm = -1;
    while (st && fgets(line, sizeof(line), st))
        if (sscanf(line, "VmHWM: %ld", &hwm) == 1)
            break;
    if (st)
        fclose(st);
    printf("admitted=%ld refused=%ld ms=%.0f maxrss_kb=%ld leaked=%d after=%ld\n", admitted, refused,
           (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6, hwm, count_fds() - fds, after);
    return 0;
}
