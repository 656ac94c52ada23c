/*
 * probe.c - one libwrap call in a controlled setting, for the tests of our
 * deliberate differences from Debian and of bad input. Built against
 * Include/tcpd.h; run with either library (LD_LIBRARY_PATH).
 *
 * Usage: probe MODE ALLOW DENY [ARG]
 *   ctl        hosts_ctl("sshd", "client.example", "192.0.2.7", "unknown")
 *   user       hosts_access() with RQ_USER = ARG (a long, hostile name)
 *   live       hosts_access() with dry_run = 0; prints the uid afterwards
 *   reap       forks a child, calls hosts_access() (dry_run 0), then waits for the child
 *   threads    8 threads x ARG hosts_ctl() calls, half from an allowed client
 *   sockets    8 threads x ARG real connections (from 127.0.0.2 or .3) to one
 *              listener, each checked with fromhost() + hosts_access()
 *   nulls      hosts_ctl() with NULL name and user
 * Prints "verdict=N ..." on stdout. Library log lines go to $PROBE_LOG (the
 * syslog functions are interposed), so stdout/stderr hold only the probe's own output.
 */
#include <tcpd.h>
#include <errno.h>
#include <pthread.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../Common/syslog_capture.h"

int allow_severity = LOG_INFO, deny_severity = LOG_WARNING;

static void capture(int priority, const char *format, va_list ap)
{
    char text[16384];
    const char *path = getenv("PROBE_LOG");
    FILE *f;

    vsnprintf(text, sizeof(text), format, ap);
    if (path && (f = fopen(path, "a")) != NULL) {
        fprintf(f, "%d %s\n", priority & LOG_PRIMASK, text);
        fclose(f);
    }
}

static long per_thread;
static long wrong[8];
static int listener;
static struct sockaddr_in listen_addr;

static void *socket_worker(void *arg)
{
    long id = (long) arg, i;
    for (i = 0; i < per_thread; i++) {
        int allowed = (i + id) % 2 == 0;
        struct sockaddr_in from = { .sin_family = AF_INET };
        struct request_info r;
        int c = socket(AF_INET, SOCK_STREAM, 0), a;

        inet_pton(AF_INET, allowed ? "127.0.0.2" : "127.0.0.3", &from.sin_addr);
        bind(c, (struct sockaddr *) &from, sizeof(from));
        if (connect(c, (struct sockaddr *) &listen_addr, sizeof(listen_addr)) != 0) {
            close(c);
            continue;
        }
        /* Several threads accept on one listener: take the connection whose
         * peer port is ours, by accepting until it comes (others are checked too). */
        a = accept(listener, NULL, NULL);
        if (a >= 0) {
            struct sockaddr_in peer;
            socklen_t len = sizeof(peer);
            getpeername(a, (struct sockaddr *) &peer, &len);
            int expect = peer.sin_addr.s_addr == from.sin_addr.s_addr ? allowed
                : (ntohl(peer.sin_addr.s_addr) & 0xff) == 2;
            request_init(&r, RQ_DAEMON, "sshd", RQ_FILE, a, 0);
            fromhost(&r);
            if (hosts_access(&r) != expect)
                wrong[id]++;
            close(a);
        }
        close(c);
    }
    return NULL;
}

static void *worker(void *arg)
{
    long id = (long) arg, i;
    for (i = 0; i < per_thread; i++) {
        int allowed = (i + id) % 2 == 0;
        int v = hosts_ctl("sshd", allowed ? "ok.example" : "bad.example",
                          allowed ? "10.0.0.1" : "10.0.0.2", "unknown");
        if (v != allowed)
            wrong[id]++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct request_info req;
    const char *mode;

    if (argc < 4) {
        fprintf(stderr, "usage: probe MODE ALLOW DENY [ARG]\n");
        return 2;
    }
    mode = argv[1];
    hosts_allow_table = argv[2];
    hosts_deny_table = argv[3];
    dry_run = 1;

    if (strcmp(mode, "ctl") == 0) {
        printf("verdict=%d\n", hosts_ctl("sshd", "client.example", "192.0.2.7", "unknown"));
    } else if (strcmp(mode, "user") == 0) {
        request_init(&req, RQ_DAEMON, "sshd", RQ_CLIENT_ADDR, "192.0.2.7",
                     RQ_CLIENT_NAME, argc > 4 ? argv[4] : "x", RQ_USER, argc > 4 ? argv[4] : "x", 0);
        printf("verdict=%d\n", hosts_access(&req));
    } else if (strcmp(mode, "live") == 0) {
        dry_run = 0;
        request_init(&req, RQ_DAEMON, "sshd", RQ_CLIENT_ADDR, "192.0.2.7", 0);
        int verdict = hosts_access(&req);
        printf("verdict=%d uid=%d\n", verdict, (int) getuid());
    } else if (strcmp(mode, "nochild") == 0) {
        /* A daemon that ignores SIGCHLD (the kernel reaps its children). */
        dry_run = 0;
        signal(SIGCHLD, SIG_IGN);
        request_init(&req, RQ_DAEMON, "sshd", RQ_CLIENT_ADDR, "192.0.2.7", 0);
        printf("verdict=%d\n", hosts_access(&req));
    } else if (strcmp(mode, "reap") == 0) {
        pid_t child = fork(), got;
        int status = 0;
        if (child == 0)
            _exit(7);      /* a zombie before the spawned command ends */
        usleep(100000);
        dry_run = 0;
        request_init(&req, RQ_DAEMON, "sshd", RQ_CLIENT_ADDR, "192.0.2.7", 0);
        printf("verdict=%d", hosts_access(&req));
        got = waitpid(child, &status, 0);
        printf(" waitpid=%s status=%d\n", got == child ? "ok" : strerror(errno),
               got == child ? WEXITSTATUS(status) : -1);
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t t[8];
        long i, total = 0;
        per_thread = argc > 4 ? atol(argv[4]) : 10000;
        for (i = 0; i < 8; i++)
            pthread_create(&t[i], NULL, worker, (void *) i);
        for (i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            total += wrong[i];
        }
        printf("verdict=done wrong=%ld of %ld\n", total, 8 * per_thread);
    } else if (strcmp(mode, "sockets") == 0) {
        pthread_t t[8];
        long i, total = 0;
        int one = 1;
        socklen_t len = sizeof(listen_addr);
        per_thread = argc > 4 ? atol(argv[4]) : 2000;
        listener = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        listen_addr.sin_family = AF_INET;
        inet_pton(AF_INET, "127.0.0.1", &listen_addr.sin_addr);
        bind(listener, (struct sockaddr *) &listen_addr, sizeof(listen_addr));
        getsockname(listener, (struct sockaddr *) &listen_addr, &len);
        listen(listener, 256);
        for (i = 0; i < 8; i++)
            pthread_create(&t[i], NULL, socket_worker, (void *) i);
        for (i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            total += wrong[i];
        }
        printf("verdict=done wrong=%ld of %ld\n", total, 8 * per_thread);
    } else if (strcmp(mode, "nulls") == 0) {
        printf("verdict=%d\n", hosts_ctl("sshd", NULL, "192.0.2.7", NULL));
    } else {
        fprintf(stderr, "probe: unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
