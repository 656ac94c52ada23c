/* bench_ctl.c - time hosts_ctl() with whatever libwrap.so.0 the loader finds.
 * Usage: bench_ctl ALLOW DENY ITERATIONS  -> prints nanoseconds per call
 * (after one untimed call) and the number of grants. */
#include <tcpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <time.h>

int allow_severity = LOG_INFO, deny_severity = LOG_WARNING;

int main(int argc, char **argv)
{
    struct timespec a, b;
    long i, n, granted = 0;

    if (argc != 4)
        return 2;
    hosts_allow_table = argv[1];
    hosts_deny_table = argv[2];
    n = atol(argv[3]);
    /* One call first: our library compiles the tables once, Debian's never. */
    granted = hosts_ctl("sshd", "client.example.org", "192.0.2.77", "unknown");
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < n; i++)
        granted += hosts_ctl("sshd", "client.example.org", "192.0.2.77", "unknown");
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.0f %ld\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n, granted);
    return 0;
}
