/* faults.c - faults injected into a small server run under the shim
 * (libwrap_preload.so), with tables that admit 127.0.0.2 and refuse
 * 127.0.0.3.
 *
 *   faults CASE PORT [ARG]
 *
 *   serve      a blocking accept() loop that writes "ok" to each client
 *              (the table faults are driven from Python against it)
 *   emfile     accept() at the descriptor limit: EMFILE, the client kept
 *   emfile-table TABLE [cold]  the accepted client takes the last descriptor
 *              and the (changed, or never read) table must be read
 *   enfile     ENFILE from the real accept() (made by inject.c)
 *   eintr      accept() and recvfrom() interrupted by a signal, with and
 *              without SA_RESTART
 *   cancel     pthread_cancel() of threads blocked in accept(), recvfrom()
 *              and poll(), and of one inside a decision (ARG: "decision")
 *   forkdecide fork() from one thread while others decide (accept()); each
 *              child decides at once
 *
 * Prints "PASS case: ..." or "FAIL case: ..." lines (and "FDS n" figures);
 * exits 0 only if nothing failed. The client ends are made in the same
 * process unless said otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "../Common/shim_case.h"
#include "fds.h"

static void send_from(const char *src, int port, const char *text)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = mk(src, 0), d = mk("127.0.0.1", port);
    bind(u, (void *) &a, sizeof(a));
    sendto(u, text, strlen(text), 0, (void *) &d, sizeof(d));
    close(u);
}

/* Nothing has happened to a client end (no reset, no EOF) in `ms`. */
static int untouched(int c, int ms)
{
    struct pollfd p = { .fd = c, .events = POLLIN };
    return poll(&p, 1, ms) == 0;
}

static void list_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    char path[300], target[300];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = 0;
        printf("FD %s -> %s\n", e->d_name, target);
    }
    closedir(d);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* ---------------------------------------------------------------------- */

static void case_serve(int port)
{
    int l = listen_tcp(port, 0);
    for (;;) {
        int a = accept(l, NULL, NULL);
        if (a < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            printf("FAIL serve: accept: %s\n", strerror(errno));
            exit(1);
        }
        ssize_t n = write(a, "ok", 2);
        (void) n;
        close(a);
    }
}

/* Fills the descriptor table up to its limit with copies of `fd`; returns how many. */
static int fill_fds(int fd, int *spare, int max)
{
    int n = 0, d;
    while (n < max && (d = dup(fd)) >= 0)
        spare[n++] = d;
    return n;
}

/* One admitted client accepted and served: the tables are read and cached
 * (once they are older than 0.1 s: a version younger than that is read
 * again on its next use). */
static void warm_up(int l, int port)
{
    usleep(200000);
    int c = connect_from("127.0.0.2", port);
    alarm(10);
    int a = accept(l, NULL, NULL);
    alarm(0);
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "warm-up accept: %d", a);
    if (a >= 0) close(a);
    close(c);
}

static void case_emfile(int port)
{
    int spare[256], n, a, e;
    struct rlimit rl = { 64, 64 };
    setrlimit(RLIMIT_NOFILE, &rl);
    int l = listen_tcp(port, 0);
    warm_up(l, port);
    int c1 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    settle();
    n = fill_fds(l, spare, 256);
    errno = 0;
    a = accept(l, NULL, NULL);
    e = errno;
    CHECK(a < 0 && e == EMFILE, "accept at the limit: %d, errno %d, want EMFILE", a, e);
    CHECK(untouched(c2, 200) && untouched(c1, 10), "a pending client was touched while the daemon had no descriptor");
    errno = 0;
    a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    e = errno;
    CHECK(a < 0 && e == EMFILE, "accept4 at the limit: %d, errno %d, want EMFILE", a, e);
    /* One descriptor free: the refused client is taken and reset (its
     * descriptor closed), then the admitted one is taken and handed out. */
    close(spare[--n]);
    usleep(20000);                     /* past the shim's 1 ms stat() cache */
    alarm(10);
    a = accept(l, NULL, NULL);
    alarm(0);
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "after one close: accept gave %d from %s", a, a >= 0 ? peer_ip(a) : "-");
    CHECK(was_reset(c1), "the refused client was not reset");
    if (a >= 0) {
        CHECK(write(a, "x", 1) == 1, "write");
        char b = 0;
        CHECK(read(c2, &b, 1) == 1 && b == 'x', "the admitted client did not get the data");
        close(a);
    }
    /* Non-blocking listener at the limit: EMFILE too, not EAGAIN. */
    int c3 = connect_from("127.0.0.2", port);
    settle();
    n += fill_fds(l, spare + n, 256 - n);
    fcntl(l, F_SETFL, O_NONBLOCK);
    errno = 0;
    a = accept(l, NULL, NULL);
    e = errno;
    CHECK(a < 0 && e == EMFILE, "non-blocking accept at the limit: %d errno %d", a, e);
    close(spare[--n]);
    a = accept(l, NULL, NULL);
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "non-blocking, after one close: %d", a);
    if (a >= 0) close(a);
    while (n > 0) close(spare[--n]);
    close(c1); close(c2); close(c3); close(l);
    pass("EMFILE from accept reaches the caller; the pending clients are kept and decided afterwards");
}

/* ENFILE (injected: inject.c fails the first two real calls). */
static void case_enfile(int port)
{
    int l = listen_tcp(port, 0);
    int c = connect_from("127.0.0.2", port);
    settle();
    errno = 0;
    int a = accept(l, NULL, NULL), e = errno;
    CHECK(a < 0 && e == ENFILE, "accept: %d errno %d, want ENFILE", a, e);
    errno = 0;
    a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    e = errno;
    CHECK(a < 0 && e == ENFILE, "accept4: %d errno %d, want ENFILE", a, e);
    CHECK(untouched(c, 200), "the pending client was touched");
    alarm(10);
    a = accept(l, NULL, NULL);
    alarm(0);
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "the next accept gave %d", a);
    if (a >= 0) close(a);
    close(c); close(l);
    pass("ENFILE from the real accept reaches the caller; the client is handed out next");
}

/* A table that must be read when the accepted client took the last
 * descriptor (ARG: the allow table's path; "cold": never read before). */
static void case_emfile_table(int port, const char *table, int cold)
{
    int spare[256], n, a;
    struct rlimit rl = { 64, 64 };
    setrlimit(RLIMIT_NOFILE, &rl);
    int l = listen_tcp(port, 0);
    fcntl(l, F_SETFL, O_NONBLOCK);
    if (!cold) {
        warm_up(l, port);
        FILE *f = fopen(table, "a");   /* changed: must be read again */
        fputs("# changed\n", f);
        fclose(f);
    }
    int c3 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    settle();
    n = fill_fds(l, spare, 256);
    close(spare[--n]);                 /* exactly one free: for the accepted client */
    usleep(20000);
    errno = 0;
    a = accept(l, NULL, NULL);
    int e = errno;
    CHECK(was_reset(c3), "the refused client was not reset");
    CHECK(a < 0 || strcmp(peer_ip(a), "127.0.0.3") != 0, "the refused client was admitted");
    int lost = a < 0 && was_reset(c2);
    printf("ADMITTED-CLIENT %s\n", a >= 0 ? "admitted" : lost ? "reset" : strerror(e));
    if (a >= 0) close(a);
    while (n > 0) close(spare[--n]);
    /* With descriptors again: the next clients are decided rightly. */
    int c4 = connect_from("127.0.0.3", port), c5 = connect_from("127.0.0.2", port);
    settle();
    a = accept(l, NULL, NULL);
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "with descriptors again: %d", a);
    CHECK(was_reset(c4), "with descriptors again: the refused client was not reset");
    if (a >= 0) close(a);
    close(c2); close(c3); close(c4); close(c5); close(l);
    pass("a table read with no descriptor to spare: nobody wrongly admitted, no crash");
}

/* ---------------------------------------------------------------------- */

static volatile sig_atomic_t signals;
static void onsignal(int s) { (void) s; signals++; errno = EDOM; /* a handler that clobbers errno */ }

static void handle(int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = onsignal;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGUSR1, &sa, NULL);
}

struct later { pthread_t target; int delay_ms; int port; const char *src; int udp; int fd; };

/* Signals the target thread after a delay; then (if src) a client arrives. */
static void *signal_later(void *arg)
{
    struct later *w = arg;
    usleep(w->delay_ms * 1000);
    pthread_kill(w->target, SIGUSR1);
    if (w->src) {
        usleep(w->delay_ms * 1000);
        if (w->udp)
            send_from(w->src, w->port, "late");
        else
            w->fd = connect_from(w->src, w->port);
    }
    return NULL;
}

static void case_eintr(int port)
{
    int l = listen_tcp(port, 0), u = udp_bound("127.0.0.1", port);
    pthread_t t;
    struct later w = { pthread_self(), 200, port, NULL, 0, -1 };
    char buf[64];
    double t0;

    /* No SA_RESTART: accept() returns EINTR, refused clients or not. */
    handle(0);
    for (int refused = 0; refused < 2; refused++) {
        int c = refused ? connect_from("127.0.0.3", port) : -1;
        signals = 0;
        pthread_create(&t, NULL, signal_later, &w);
        t0 = now_ms();
        errno = 0;
        int a = accept(l, NULL, NULL);
        int e = errno;
        pthread_join(t, NULL);
        CHECK(a < 0 && e == EINTR && signals == 1, "accept without SA_RESTART (refused pending: %d): %d errno %d signals %d",
              refused, a, e, (int) signals);
        CHECK(now_ms() - t0 < 3000, "accept took %.0f ms", now_ms() - t0);
        if (c >= 0) { CHECK(was_reset(c), "refused client not reset"); close(c); }
    }
    /* recvfrom on a blocking datagram socket, a refused datagram first. */
    send_from("127.0.0.3", port, "refused");
    signals = 0;
    pthread_create(&t, NULL, signal_later, &w);
    errno = 0;
    ssize_t r = recvfrom(u, buf, sizeof(buf), 0, NULL, NULL);
    int e = errno;
    pthread_join(t, NULL);
    CHECK(r < 0 && e == EINTR && signals == 1, "recvfrom without SA_RESTART: %zd errno %d", r, e);

    /* SA_RESTART: the call goes on and returns the admitted client that
     * comes after the signal; errno is the caller's. */
    handle(1);
    for (int refused = 0; refused < 2; refused++) {
        int c = refused ? connect_from("127.0.0.3", port) : -1;
        struct later w2 = { pthread_self(), 200, port, "127.0.0.2", 0, -1 };
        signals = 0;
        pthread_create(&t, NULL, signal_later, &w2);
        errno = ERANGE;
        int a = accept(l, NULL, NULL);
        e = errno;
        pthread_join(t, NULL);
        CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2") && signals == 1,
              "accept with SA_RESTART (refused pending: %d): %d from %s, signals %d", refused, a, a >= 0 ? peer_ip(a) : "-", (int) signals);
        CHECK(a < 0 || e == ERANGE, "errno after an admitted accept: %d, want the caller's ERANGE", e);
        if (a >= 0) close(a);
        if (c >= 0) { CHECK(was_reset(c), "refused client not reset"); close(c); }
        close(w2.fd);
    }
    send_from("127.0.0.3", port, "refused");
    struct later w3 = { pthread_self(), 200, port, "127.0.0.2", 1, -1 };
    signals = 0;
    pthread_create(&t, NULL, signal_later, &w3);
    r = recvfrom(u, buf, sizeof(buf) - 1, 0, NULL, NULL);
    pthread_join(t, NULL);
    if (r >= 0) buf[r] = 0;
    CHECK(r == 4 && !strcmp(buf, "late") && signals == 1, "recvfrom with SA_RESTART: %zd '%s'", r, r >= 0 ? buf : "");
    close(l); close(u);
    pass("EINTR without SA_RESTART, restarted with it (accept, recvfrom; refused clients pending or not)");
}

/* ---------------------------------------------------------------------- */

static int cancel_listener, cancel_udp;

static void *block_accept(void *arg) { (void) arg; int a = accept(cancel_listener, NULL, NULL); return (void *) (long) a; }
static void *block_recv(void *arg)
{
    (void) arg;
    char b[64];
    return (void *) (long) recvfrom(cancel_udp, b, sizeof(b), 0, NULL, NULL);
}
/* accept(), then a cancellation point; the daemon's cleanup closes what it got. */
static volatile int handed;
static void close_fd(void *fd) { close(*(int *) fd); }
static void *accept_then_test(void *arg)
{
    (void) arg;
    int a = accept(cancel_listener, NULL, NULL);
    if (a >= 0) {
        handed = 1;
        pthread_cleanup_push(close_fd, &a);
        pthread_testcancel();
        pthread_cleanup_pop(1);
    }
    return (void *) (long) a;
}
static void *block_poll(void *arg)
{
    (void) arg;
    struct pollfd p[2] = { { .fd = cancel_listener, .events = POLLIN }, { .fd = cancel_udp, .events = POLLIN } };
    return (void *) (long) poll(p, 2, 20000);
}

/* Cancels a thread blocked in `fn` after `ms`; whether it ended as cancelled within 3 s. */
static int cancel_blocked(void *(*fn)(void *), int ms)
{
    pthread_t t;
    void *res = NULL;
    struct timespec ts;
    pthread_create(&t, NULL, fn, NULL);
    usleep(ms * 1000);
    pthread_cancel(t);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 3;
    if (pthread_timedjoin_np(t, &res, &ts) != 0) return 0;
    return res == PTHREAD_CANCELED;
}

/* After a cancel: another thread still decides (admitted in, refused reset). */
static void still_decides(int port, const char *after)
{
    int c1 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    alarm(10);
    int a = accept(cancel_listener, NULL, NULL);
    alarm(0);
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "after cancelling %s: accept gave %d from %s", after, a, a >= 0 ? peer_ip(a) : "-");
    CHECK(was_reset(c1), "after cancelling %s: refused client not reset", after);
    if (a >= 0) close(a);
    close(c1); close(c2);
    send_from("127.0.0.3", port, "no");
    send_from("127.0.0.2", port, "yes");
    char b[8] = { 0 };
    alarm(10);
    ssize_t r = recvfrom(cancel_udp, b, sizeof(b) - 1, 0, NULL, NULL);
    alarm(0);
    CHECK(r == 3 && !strcmp(b, "yes"), "after cancelling %s: recvfrom gave %zd '%s'", after, r, b);
}

static void case_cancel(int port, const char *what)
{
    cancel_listener = listen_tcp(port, 0);
    cancel_udp = udp_bound("127.0.0.1", port);
    int base = count_fds();
    if (!strcmp(what, "decision")) {
        /* The allow rule runs `aclexec sleep 1` for 127.0.0.2: the thread is
         * inside the shim's decision when it is cancelled. */
        for (int i = 0; i < 3; i++) {
            int c = connect_from("127.0.0.2", port);
            settle();
            handed = 0;
            CHECK(cancel_blocked(accept_then_test, 300), "a thread inside a decision did not end cancelled within 3 s");
            /* The client whose decision the cancel met: handed to the
             * daemon, or still to be taken; never lost silently. */
            int a = -1;
            struct pollfd p = { .fd = cancel_listener, .events = POLLIN };
            if (!handed && poll(&p, 1, 2000) == 1) a = accept(cancel_listener, NULL, NULL);
            printf("CANCELLED-CLIENT %s\n", handed ? "handed out" : a >= 0 ? "taken later" : "lost");
            CHECK(handed || a >= 0, "the client of the cancelled decision was lost");
            if (a >= 0) close(a);
            close(c);
        }
        still_decides(port, "decisions");
        int fds = count_fds();
        printf("FDS before %d after %d\n", base, fds);
        CHECK(fds == base, "descriptors leaked by cancelled decisions: %d before, %d after", base, fds);
        pass("a thread cancelled inside a decision: the client is not lost, no descriptor leaks, the shim decides afterwards");
        return;
    }
    for (int i = 0; i < 20; i++) {
        CHECK(cancel_blocked(block_accept, 20), "accept not cancelled (round %d)", i);
        CHECK(cancel_blocked(block_recv, 20), "recvfrom not cancelled (round %d)", i);
        CHECK(cancel_blocked(block_poll, 20), "poll not cancelled (round %d)", i);
    }
    still_decides(port, "blocked calls");
    /* Refused clients arriving while the blocked thread is cancelled: the
     * cancel can land inside the shim's handling of them. */
    for (int i = 0; i < 20; i++) {
        pthread_t t;
        void *res = NULL;
        struct timespec ts;
        pthread_create(&t, NULL, i % 2 ? block_recv : block_accept, NULL);
        for (int k = 0; k < 5; k++) {
            int c = connect_from("127.0.0.3", port);
            send_from("127.0.0.3", port, "no");
            usleep(1000 * (i % 4));
            close(c);
        }
        pthread_cancel(t);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 3;
        CHECK(pthread_timedjoin_np(t, &res, &ts) == 0 && res == PTHREAD_CANCELED, "not cancelled amid refusals (round %d)", i);
    }
    still_decides(port, "calls amid refusals");
    int fds = count_fds();
    if (fds != base) list_fds();
    printf("FDS before %d after %d\n", base, fds);
    CHECK(fds == base, "descriptors leaked: %d before, %d after", base, fds);
    pass("threads blocked in accept, recvfrom and poll cancel cleanly; the shim decides afterwards; no descriptor leaks");
}

/* ---------------------------------------------------------------------- */

static int fork_port;
static volatile int stop_deciding, wrong_in_parent, decided;

static void *feed(void *arg)
{
    (void) arg;
    while (!stop_deciding) {
        int c1 = connect_from("127.0.0.3", fork_port), c2 = connect_from("127.0.0.2", fork_port);
        usleep(500);
        close(c1); close(c2);
    }
    return NULL;
}

static void *decide_loop(void *arg)
{
    int l = (int) (long) arg;
    while (!stop_deciding) {
        int a = accept(l, NULL, NULL);
        if (a < 0) continue;
        if (strcmp(peer_ip(a), "127.0.0.2") != 0 && strcmp(peer_ip(a), "none") != 0) wrong_in_parent++;
        decided++;
        close(a);
    }
    return NULL;
}

/* In a child: a new listener, a refused and an admitted client; must decide. */
static int child_decides(void)
{
    alarm(5);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in s = mk("127.0.0.1", 0);
    socklen_t len = sizeof(s);
    bind(l, (void *) &s, sizeof(s));
    listen(l, 8);
    getsockname(l, (void *) &s, &len);
    int port = ntohs(s.sin_port);
    int c1 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    int a = accept(l, NULL, NULL);
    int ok = a >= 0 && !strcmp(peer_ip(a), "127.0.0.2") && was_reset(c1);
    (void) c2;
    _exit(ok ? 0 : 1);
}

static void case_forkdecide(int port, int runs)
{
    int l = listen_tcp(port, 0);
    pthread_t feeder, deciders[2];
    int hangs = 0, bad = 0;
    fork_port = port;
    pthread_create(&feeder, NULL, feed, NULL);
    for (int i = 0; i < 2; i++) pthread_create(&deciders[i], NULL, decide_loop, (void *) (long) l);
    for (int r = 0; r < runs; r++) {
        pid_t pid = fork();
        if (pid == 0) child_decides();
        double deadline = now_ms() + 8000;
        int status = 0;
        for (;;) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) { if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad++; break; }
            if (now_ms() > deadline) { kill(pid, SIGKILL); waitpid(pid, &status, 0); hangs++; break; }
            usleep(1000);
        }
    }
    stop_deciding = 1;
    /* Wake the deciders: one admitted client each. */
    int wake[2] = { connect_from("127.0.0.2", port), connect_from("127.0.0.2", port) };
    pthread_join(feeder, NULL);
    for (int i = 0; i < 2; i++) pthread_join(deciders[i], NULL);
    close(wake[0]); close(wake[1]);
    printf("RUNS %d hangs %d failures %d parent-decisions %d\n", runs, hangs, bad, (int) decided);
    CHECK(hangs == 0 && bad == 0, "children that could not decide: %d hung, %d wrong", hangs, bad);
    CHECK(wrong_in_parent == 0, "the parent handed out %d refused clients", wrong_in_parent);
    CHECK(decided >= 10, "the parent decided only %d times during %d forks", (int) decided, runs);
    pass("fork while other threads decide: every child decides at once");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3) { fprintf(stderr, "usage: faults CASE PORT [ARG]\n"); return 2; }
    cur = argv[1];
    int port = atoi(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(cur, "serve")) case_serve(port);
    else if (!strcmp(cur, "emfile")) case_emfile(port);
    else if (!strcmp(cur, "emfile-table")) case_emfile_table(port, argv[3], argc > 4 && !strcmp(argv[4], "cold"));
    else if (!strcmp(cur, "enfile")) case_enfile(port);
    else if (!strcmp(cur, "eintr")) case_eintr(port);
    else if (!strcmp(cur, "cancel")) case_cancel(port, argc > 3 ? argv[3] : "blocked");
    else if (!strcmp(cur, "forkdecide")) case_forkdecide(port, argc > 3 ? atoi(argv[3]) : 100);
    else { fprintf(stderr, "unknown case %s\n", cur); return 2; }
    return failures ? 1 : 0;
}
