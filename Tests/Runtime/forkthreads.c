/*
 * forkthreads.c - fork, then several threads make their first call at once.
 *
 * Usage: forkthreads MODE THREADS RUNS [warm]
 *
 *   MODE      ctl        hosts_ctl()            (linked with -lwrap)
 *             access     request_init() + hosts_access()
 *             accept     accept() on a TCP listener   (run under the shim)
 *             recvmsg    recvmsg() on a UDP socket    (run under the shim)
 *             fork-during  one thread decides in a loop while another
 *                        forks; each child then decides from THREADS
 *                        threads (hosts_ctl)
 *             spawn-during THREADS threads decide in a loop while the main
 *                        thread starts /bin/true with posix_spawn() (a
 *                        vfork-style child) RUNS times
 *   THREADS   threads in each child, released together by a barrier
 *   RUNS      children, one after another
 *   warm      the parent makes the same call before it forks
 *
 * The tables are hosts_allow_table/hosts_deny_table as given by the
 * environment (FT_ALLOW, FT_DENY; for the shim, TCPWRAP_HOSTS_ALLOW/DENY):
 * 127.0.0.1 is allowed, everything else denied. Each child must finish
 * within FT_TIMEOUT_MS (default 5000) or it counts as a hang and is killed;
 * a child whose threads saw a wrong verdict counts as a failure. Prints
 * "runs=N hangs=H failures=F" and exits 0 only when H and F are 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tcpd.h>  /* the project's Include/tcpd.h: keys and struct request_info */

/* libwrap, looked up at run time so that the shim modes need no -lwrap. */
static int (*p_hosts_ctl)(char *, char *, char *, char *);
static char **p_allow_table, **p_deny_table;

static const char *mode;
static int nthreads;
static pthread_barrier_t barrier;
static int listener = -1, udp = -1, port;
static volatile int wrong;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Thread i asks for 127.0.0.1 (allowed) when i is even, 192.0.2.i (denied) otherwise. */
static int decide_ctl(int i)
{
    char addr[32];
    int expect = i % 2 == 0;
    snprintf(addr, sizeof addr, expect ? "127.0.0.1" : "192.0.2.%d", i + 1);
    return p_hosts_ctl("forkthreads", addr, addr, "") == expect;
}

/* request_init() and hosts_access(), through the exported symbols. */
static int decide_access(int i)
{
    struct request_info *(*init)(struct request_info *, ...) =
        (struct request_info *(*)(struct request_info *, ...)) dlsym(RTLD_DEFAULT, "request_init");
    int (*access)(struct request_info *) = (int (*)(struct request_info *)) dlsym(RTLD_DEFAULT, "hosts_access");
    char addr[32];
    int expect = i % 2 == 0;
    struct request_info request;

    snprintf(addr, sizeof addr, expect ? "127.0.0.1" : "192.0.2.%d", i + 1);
    if (!init || !access)
        return 0;
    init(&request, RQ_DAEMON, "forkthreads", RQ_CLIENT_ADDR, addr, 0);
    return access(&request) == expect;
}

/* One accepted connection (the child's main thread connects THREADS times). */
static int decide_accept(int i)
{
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int fd = accept(listener, (struct sockaddr *) &peer, &len);
    (void) i;
    if (fd < 0)
        return 0;
    close(fd);
    return peer.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

/* One received datagram (the child's main thread sends THREADS of them). */
static int decide_recvmsg(int i)
{
    char buf[64];
    struct sockaddr_in from;
    struct iovec iov = { buf, sizeof buf };
    struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1 };
    (void) i;
    return recvmsg(udp, &msg, 0) > 0 && from.sin_addr.s_addr == htonl(INADDR_LOOPBACK);
}

static int decide(int i)
{
    if (!strcmp(mode, "access"))
        return decide_access(i);
    if (!strcmp(mode, "accept"))
        return decide_accept(i);
    if (!strcmp(mode, "recvmsg"))
        return decide_recvmsg(i);
    return decide_ctl(i);
}

static void *worker(void *arg)
{
    int i = (int) (long) arg;
    pthread_barrier_wait(&barrier);
    if (!decide(i))
        wrong = 1;
    return 0;
}

/* The child: THREADS threads released at once, its main thread one of them
 * (it carries whatever the parent left in its thread-local state). For the
 * socket modes the connections or datagrams are queued first. Exit 0 when
 * every verdict was right. */
static void child(void)
{
    pthread_t t[64];
    int fds[64];
    int i, queued = 0;

    alarm(30);  /* a backstop: the parent kills us much sooner */
    if (!strcmp(mode, "accept") || !strcmp(mode, "recvmsg")) {
        struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        for (i = 0; i < nthreads; i++) {
            fds[i] = socket(AF_INET, !strcmp(mode, "accept") ? SOCK_STREAM : SOCK_DGRAM, 0);
            if (!strcmp(mode, "accept"))
                connect(fds[i], (struct sockaddr *) &to, sizeof to);
            else
                sendto(fds[i], "x", 1, 0, (struct sockaddr *) &to, sizeof to);
        }
        queued = nthreads;
    }
    pthread_barrier_init(&barrier, 0, nthreads);
    for (i = 1; i < nthreads; i++)
        if (pthread_create(&t[i], 0, worker, (void *) (long) i) != 0)
            _exit(3);
    worker((void *) 0L);
    for (i = 1; i < nthreads; i++)
        pthread_join(t[i], 0);
    for (i = 0; i < queued; i++)
        close(fds[i]);
    _exit(wrong ? 1 : 0);
}

/* Waits for pid at most timeout_ms: 0 exited 0, 1 exited otherwise, 2 hung (killed). */
static int reap(pid_t pid, double timeout_ms)
{
    double deadline = now_ms() + timeout_ms;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
        if (r < 0 && errno != EINTR)
            return 1;
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return 2;
        }
        usleep(200);
    }
}

static volatile int stop_deciding;

static void *decider(void *arg)
{
    (void) arg;
    while (!stop_deciding)
        if (!decide_ctl(0) || !decide_ctl(1))
            wrong = 1;
    return 0;
}

/* spawn-during: starts /bin/true RUNS times while THREADS threads decide. */
static int spawn_during(int runs, double timeout)
{
    extern char **environ;
    char *args[] = { "/bin/true", 0 };
    pthread_t t[64];
    int i, hangs = 0, failures = 0;

    for (i = 0; i < nthreads; i++)
        pthread_create(&t[i], 0, decider, 0);
    for (i = 0; i < runs; i++) {
        pid_t pid;
        if (posix_spawn(&pid, args[0], 0, 0, args, environ) != 0) {
            failures++;
            continue;
        }
        switch (reap(pid, timeout)) {
        case 1: failures++; break;
        case 2: hangs++; break;
        }
    }
    stop_deciding = 1;
    for (i = 0; i < nthreads; i++)
        pthread_join(t[i], 0);
    failures += wrong;
    printf("runs=%d hangs=%d failures=%d\n", runs, hangs, failures);
    return hangs || failures ? 1 : 0;
}

static int open_sockets(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int one = 1;

    if (!strcmp(mode, "accept")) {
        listener = socket(AF_INET, SOCK_STREAM, 0);
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(listener, (struct sockaddr *) &a, sizeof a) || listen(listener, 128))
            return -1;
        getsockname(listener, (struct sockaddr *) &a, &len);
    } else if (!strcmp(mode, "recvmsg")) {
        udp = socket(AF_INET, SOCK_DGRAM, 0);
        if (bind(udp, (struct sockaddr *) &a, sizeof a))
            return -1;
        getsockname(udp, (struct sockaddr *) &a, &len);
    }
    port = ntohs(a.sin_port);
    return 0;
}

/* The parent's own call before it forks: for the socket modes, one
 * connection or datagram to itself, taken through the hook. */
static void warm_up(void)
{
    struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd;

    if (!strcmp(mode, "accept") || !strcmp(mode, "recvmsg")) {
        fd = socket(AF_INET, !strcmp(mode, "accept") ? SOCK_STREAM : SOCK_DGRAM, 0);
        if (!strcmp(mode, "accept"))
            connect(fd, (struct sockaddr *) &to, sizeof to);
        else
            sendto(fd, "x", 1, 0, (struct sockaddr *) &to, sizeof to);
        decide(0);
        close(fd);
    } else {
        decide(0), decide(1);
    }
}

int main(int argc, char **argv)
{
    int runs, r, hangs = 0, failures = 0, warm;
    double timeout = getenv("FT_TIMEOUT_MS") ? atof(getenv("FT_TIMEOUT_MS")) : 5000;
    pthread_t busy;

    if (argc < 4) {
        fprintf(stderr, "usage: forkthreads MODE THREADS RUNS [warm]\n");
        return 2;
    }
    mode = argv[1];
    nthreads = atoi(argv[2]);
    runs = atoi(argv[3]);
    warm = argc > 4 && !strcmp(argv[4], "warm");
    if (nthreads < 1 || nthreads > 64)
        return 2;

    p_hosts_ctl = (int (*)(char *, char *, char *, char *)) dlsym(RTLD_DEFAULT, "hosts_ctl");
    p_allow_table = (char **) dlsym(RTLD_DEFAULT, "hosts_allow_table");
    p_deny_table = (char **) dlsym(RTLD_DEFAULT, "hosts_deny_table");
    if (p_allow_table && getenv("FT_ALLOW"))
        *p_allow_table = getenv("FT_ALLOW");
    if (p_deny_table && getenv("FT_DENY"))
        *p_deny_table = getenv("FT_DENY");
    if ((!strcmp(mode, "ctl") || strstr(mode, "-during")) && !p_hosts_ctl) {
        fprintf(stderr, "forkthreads: no hosts_ctl in this process\n");
        return 2;
    }
    if (open_sockets() < 0) {
        perror("forkthreads: socket");
        return 2;
    }
    if (warm)
        warm_up();
    if (!strcmp(mode, "spawn-during"))
        return spawn_during(runs, timeout);
    if (!strcmp(mode, "fork-during"))
        pthread_create(&busy, 0, decider, 0);

    for (r = 0; r < runs; r++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("forkthreads: fork");
            return 2;
        }
        if (pid == 0) {
            if (!strcmp(mode, "fork-during"))
                mode = "ctl";
            child();
        }
        switch (reap(pid, timeout)) {
        case 1: failures++; break;
        case 2: hangs++; break;
        }
    }
    if (!strcmp(mode, "fork-during")) {
        stop_deciding = 1;
        pthread_join(busy, 0);
        failures += wrong;
    }
    printf("runs=%d hangs=%d failures=%d\n", runs, hangs, failures);
    return hangs || failures ? 1 : 0;
}
