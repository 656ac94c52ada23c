/* edge.c - edge cases of the accept/recv hooks, run under the shim with
 * tables that admit 127.0.0.2 (and 127.0.0.1) and refuse 127.0.0.3.
 *
 *   edge CASE PORT [ARG]
 *
 * Prints "PASS case: ..." or "FAIL case: ..." lines; exits 0 only if no FAIL.
 * The client ends are made in the same process (connect() completes through
 * the listen backlog, before accept() is called).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../Common/shim_case.h"

static int local_port(int fd)
{
    struct sockaddr_in s; socklen_t l = sizeof(s);
    getsockname(fd, (void *) &s, &l);
    return ntohs(s.sin_port);
}

static void onalarm(int s) { (void) s; printf("FAIL %s: blocked (alarm)\n", cur); fflush(stdout); _exit(1); }

/* ---------------------------------------------------------------------- */

static void case_nulladdr(int port)
{
    int l = listen_tcp(port, 0);
    int c1 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    settle();
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0, "accept(NULL, NULL) failed");
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "accept(NULL, NULL) returned a connection from %s", a >= 0 ? peer_ip(a) : "-");
    CHECK(was_reset(c1), "refused client not reset");
    if (a >= 0) {
        CHECK(write(a, "x", 1) == 1, "write");
        char b; CHECK(read(c2, &b, 1) == 1 && b == 'x', "admitted client did not get the data");
        close(a);
    }
    /* accept4 with NULL too, and an address length too small for the address */
    int c3 = connect_from("127.0.0.3", port), c4 = connect_from("127.0.0.2", port);
    settle();
    a = accept4(l, NULL, NULL, 0);
    CHECK(a >= 0 && !strcmp(peer_ip(a), "127.0.0.2"), "accept4(NULL, NULL) returned %s", a >= 0 ? peer_ip(a) : "-");
    CHECK(was_reset(c3), "refused client not reset (accept4)");
    close(a);
    int c5 = connect_from("127.0.0.2", port);
    settle();
    unsigned char small[8]; memset(small, 0xEE, sizeof(small));
    socklen_t len = 4;
    a = accept(l, (void *) small, &len);
    CHECK(a >= 0, "accept with short buffer");
    CHECK(len == sizeof(struct sockaddr_in), "addrlen %u, want the full length %zu", (unsigned) len, sizeof(struct sockaddr_in));
    CHECK(small[4] == 0xEE && small[7] == 0xEE, "bytes beyond the caller's addrlen were written");
    CHECK(small[0] == AF_INET && small[1] == 0, "family not copied");
    close(a); close(c1); close(c2); close(c3); close(c4); close(c5); close(l);
    pass("NULL address and short address buffers");
}

static void case_eagain(int port)
{
    signal(SIGALRM, onalarm);
    int l = listen_tcp(port, SOCK_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = l }, out;
    epoll_ctl(ep, EPOLL_CTL_ADD, l, &ev);

    /* readiness filtering: a refused connection never wakes the daemon */
    int c1 = connect_from("127.0.0.3", port);
    CHECK(epoll_wait(ep, &out, 1, 500) == 0, "epoll reported a connection that is refused");
    CHECK(was_reset(c1), "refused client not reset by the wait");
    alarm(5);
    struct sockaddr_in sa; socklen_t len = sizeof(sa);
    errno = 0;
    int a = accept4(l, (void *) &sa, &len, SOCK_NONBLOCK);
    int e = errno;
    alarm(0);
    CHECK(a < 0 && (e == EAGAIN || e == EWOULDBLOCK), "accept4 on a listener whose only pending connection is refused: returned %d (%s), errno %d",
          a, a >= 0 ? peer_ip(a) : "-", e);
    CHECK(was_reset(c1), "refused client not reset");
    CHECK(epoll_wait(ep, &out, 1, 100) == 0, "epoll still reports a pending connection");

    /* two refused, then an admitted one: the admitted one, then EAGAIN */
    int c2 = connect_from("127.0.0.3", port), c3 = connect_from("127.0.0.3", port), c4 = connect_from("127.0.0.2", port);
    settle();
    CHECK(epoll_wait(ep, &out, 1, 2000) == 1, "epoll");
    alarm(5);
    len = sizeof(sa);
    a = accept4(l, (void *) &sa, &len, SOCK_NONBLOCK);
    CHECK(a >= 0 && !strcmp(ip_of(&sa), "127.0.0.2") && ntohs(sa.sin_port) == local_port(c4),
          "expected the admitted connection, got %d from %s", a, a >= 0 ? ip_of(&sa) : "-");
    errno = 0;
    int b = accept4(l, (void *) &sa, &len, SOCK_NONBLOCK);
    e = errno;
    alarm(0);
    CHECK(b < 0 && (e == EAGAIN || e == EWOULDBLOCK), "second accept4: %d errno %d", b, e);
    CHECK(was_reset(c2) && was_reset(c3), "refused clients not reset");
    /* plain accept() on the non-blocking listener too */
    int c5 = connect_from("127.0.0.3", port);
    settle();
    alarm(5);
    errno = 0;
    b = accept(l, NULL, NULL);
    e = errno;
    alarm(0);
    CHECK(b < 0 && (e == EAGAIN || e == EWOULDBLOCK), "accept() on non-blocking listener, refused only: %d errno %d", b, e);
    CHECK(was_reset(c5), "refused client not reset");
    close(a); close(c1); close(c2); close(c3); close(c4); close(c5); close(l);
    pass("EAGAIN under epoll when only refused connections are pending");
}

static void case_errno(int port)
{
    int l = listen_tcp(port, 0);
    int c1 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    settle();
    struct sockaddr_in sa; socklen_t len = sizeof(sa);
    errno = EDOM;
    int a = accept(l, (void *) &sa, &len);
    int e = errno;
    CHECK(a >= 0, "accept failed");
    CHECK(e == EDOM, "errno after an admitted accept (after a refused one): %d, want the sentinel EDOM (%d)", e, EDOM);
    close(a);
    int c3 = connect_from("127.0.0.2", port);
    settle();
    errno = ERANGE;
    len = sizeof(sa);
    a = accept4(l, (void *) &sa, &len, SOCK_CLOEXEC);
    e = errno;
    CHECK(a >= 0 && e == ERANGE, "errno after admitted accept4: %d, want ERANGE", e);
    close(a);
    /* a failing call carries the real errno */
    int nb = listen_tcp(port + 1, SOCK_NONBLOCK);
    errno = EDOM;
    a = accept(nb, NULL, NULL);
    e = errno;
    CHECK(a < 0 && (e == EAGAIN || e == EWOULDBLOCK), "empty non-blocking accept: %d errno %d", a, e);
    errno = EDOM;
    a = accept(-5, NULL, NULL);
    e = errno;
    CHECK(a < 0 && e == EBADF, "accept(-5): errno %d, want EBADF", e);
    close(nb); close(l); close(c1); close(c2); close(c3);
    pass("errno preserved on success, real errno on failure");
}

static void case_unix(int port, const char *dir)
{
    (void) port;
    char path[200];
    snprintf(path, sizeof(path), "%s/edge.sock", dir);
    unlink(path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    strncpy(un.sun_path, path, sizeof(un.sun_path) - 1);
    CHECK(bind(l, (void *) &un, sizeof(un)) == 0 && listen(l, 8) == 0, "unix listen");
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(connect(c, (void *) &un, sizeof(un)) == 0, "unix connect");
    struct sockaddr_un from; socklen_t len = sizeof(from);
    errno = EDOM;
    int a = accept(l, (void *) &from, &len);
    CHECK(a >= 0, "AF_UNIX accept refused or failed");
    CHECK(errno == EDOM, "errno changed by AF_UNIX accept");
    CHECK(len >= sizeof(sa_family_t) && from.sun_family == AF_UNIX, "address family %d", from.sun_family);
    int c2 = socket(AF_UNIX, SOCK_STREAM, 0);
    connect(c2, (void *) &un, sizeof(un));
    int a2 = accept4(l, NULL, NULL, SOCK_NONBLOCK);
    CHECK(a2 >= 0 && (fcntl(a2, F_GETFL) & O_NONBLOCK), "AF_UNIX accept4");
    /* datagrams on AF_UNIX: recvfrom, recvmsg and recvmmsg all pass */
    int sv[2];
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    send(sv[1], "u1", 2, 0); send(sv[1], "u2", 2, 0); send(sv[1], "u3", 2, 0);
    char b[8] = {0};
    struct sockaddr_un f; len = sizeof(f);
    CHECK(recvfrom(sv[0], b, sizeof(b), MSG_DONTWAIT, (void *) &f, &len) == 2 && !memcmp(b, "u1", 2), "AF_UNIX recvfrom");
    struct iovec iov = { b, sizeof(b) };
    struct msghdr mh = { .msg_name = &f, .msg_namelen = sizeof(f), .msg_iov = &iov, .msg_iovlen = 1 };
    CHECK(recvmsg(sv[0], &mh, MSG_DONTWAIT) == 2 && !memcmp(b, "u2", 2), "AF_UNIX recvmsg");
    struct mmsghdr mm = { .msg_hdr = { .msg_iov = &iov, .msg_iovlen = 1 } };
    CHECK(recvmmsg(sv[0], &mm, 1, MSG_DONTWAIT, NULL) == 1 && !memcmp(b, "u3", 2), "AF_UNIX recvmmsg");
    /* a connected UDP socket (the program as a client) gets replies from anyone */
    int u = udp_bound("127.0.0.1", port), r = udp_bound("127.0.0.3", port);
    struct sockaddr_in to = mk("127.0.0.3", port), me = mk("127.0.0.1", port);
    connect(u, (void *) &to, sizeof(to));
    sendto(r, "reply", 5, 0, (void *) &me, sizeof(me));
    settle();
    struct sockaddr_in sfrom; len = sizeof(sfrom);
    memset(b, 0, sizeof(b));
    CHECK(recvfrom(u, b, sizeof(b), MSG_DONTWAIT, (void *) &sfrom, &len) == 5 && !memcmp(b, "reply", 5),
          "connected UDP socket did not get the datagram from its peer 127.0.0.3");
    close(u); close(r); close(sv[0]); close(sv[1]); close(a); close(a2); close(c); close(c2); close(l); unlink(path);
    pass("AF_UNIX and connected sockets untouched");
}

static void case_flags(int port)
{
    int l = listen_tcp(port, 0);
    int c1 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    settle();
    int a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    CHECK(a >= 0, "accept4");
    CHECK(fcntl(a, F_GETFL) & O_NONBLOCK, "SOCK_NONBLOCK lost");
    CHECK(fcntl(a, F_GETFD) & FD_CLOEXEC, "SOCK_CLOEXEC lost");
    CHECK(was_reset(c1), "refused client not reset");
    int c3 = connect_from("127.0.0.3", port), c4 = connect_from("127.0.0.2", port);
    settle();
    int b = accept4(l, NULL, NULL, 0);
    CHECK(b >= 0 && !(fcntl(b, F_GETFL) & O_NONBLOCK) && !(fcntl(b, F_GETFD) & FD_CLOEXEC), "accept4(0) flags");
    int c5 = connect_from("127.0.0.2", port);
    settle();
    int d = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CHECK(d >= 0 && !(fcntl(d, F_GETFL) & O_NONBLOCK) && (fcntl(d, F_GETFD) & FD_CLOEXEC), "accept4(SOCK_CLOEXEC) flags");
    close(a); close(b); close(d); close(c1); close(c2); close(c3); close(c4); close(c5); close(l);
    pass("accept4 flags kept");
}

static void case_forkexec(int port, const char *self)
{
    signal(SIGALRM, onalarm);
    int l = listen_tcp(port, 0);  /* inherited: no CLOEXEC */
    int p[2];
    if (pipe(p) < 0) exit(3);
    pid_t pid = fork();
    if (pid == 0) {
        char fdarg[16], wr[16];
        snprintf(fdarg, sizeof(fdarg), "%d", l);
        snprintf(wr, sizeof(wr), "%d", p[1]);
        close(p[0]);
        execl(self, self, "child-accept", fdarg, wr, (char *) NULL);
        _exit(127);
    }
    close(p[1]);
    char ready[8] = {0};
    alarm(10);
    CHECK(read(p[0], ready, 5) == 5 && !memcmp(ready, "ready", 5), "child not ready");
    int c1 = connect_from("127.0.0.3", port), c2 = connect_from("127.0.0.2", port);
    char b[32] = {0};
    ssize_t n = read(c2, b, sizeof(b) - 1);
    CHECK(n > 0 && !strcmp(b, "child 127.0.0.2\n"), "admitted client got %zd %s", n, b);
    CHECK(was_reset(c1), "refused client was not reset by the exec'ed child");
    int st = 0;
    waitpid(pid, &st, 0);
    alarm(0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    close(c1); close(c2); close(l);
    pass("fork+exec'ed child accepting on an inherited listener is protected");
}

static int child_accept(int l, int w)
{
    FILE *m = fopen("/proc/self/maps", "r");
    char line[512]; int found = 0;
    while (m && fgets(line, sizeof(line), m)) if (strstr(line, "libwrap_preload.so")) found = 1;
    if (m) fclose(m);
    printf("CHILDMAPS %s\n", found ? "yes" : "no");
    fflush(stdout);
    if (write(w, "ready", 5) != 5) return 3;
    struct sockaddr_in sa; socklen_t len = sizeof(sa);
    int a = accept(l, (void *) &sa, &len);
    if (a < 0) return 4;
    char b[32];
    int k = snprintf(b, sizeof(b), "child %s\n", ip_of(&sa));
    if (write(a, b, k) != k) return 5;
    close(a);
    return 0;
}

static int send_from(int s, int port, const char *text)
{
    struct sockaddr_in d = mk("127.0.0.1", port);
    return sendto(s, text, strlen(text), 0, (void *) &d, sizeof(d)) == (ssize_t) strlen(text);
}

static void case_peek(int port)
{
    signal(SIGALRM, onalarm);
    int u = udp_bound("127.0.0.1", port), s2 = udp_bound("127.0.0.2", 0), s3 = udp_bound("127.0.0.3", 0);
    char b[64];
    struct sockaddr_in f; socklen_t len;

    send_from(s3, port, "bad-1"); send_from(s2, port, "good-1");
    settle();
    alarm(5);
    memset(b, 0, sizeof(b)); len = sizeof(f);
    ssize_t n = recvfrom(u, b, sizeof(b), MSG_PEEK, (void *) &f, &len);
    CHECK(n == 6 && !memcmp(b, "good-1", 6) && !strcmp(ip_of(&f), "127.0.0.2"), "peek returned %zd '%s' from %s", n, b, ip_of(&f));
    memset(b, 0, sizeof(b)); len = sizeof(f);
    n = recvfrom(u, b, sizeof(b), 0, (void *) &f, &len);
    CHECK(n == 6 && !memcmp(b, "good-1", 6) && !strcmp(ip_of(&f), "127.0.0.2") && ntohs(f.sin_port) == local_port(s2),
          "read after peek returned %zd '%s' from %s", n, b, ip_of(&f));
    n = recvfrom(u, b, sizeof(b), MSG_DONTWAIT, NULL, NULL);
    CHECK(n < 0 && errno == EAGAIN, "queue not empty after peek+read: %zd '%.*s'", n, (int) (n > 0 ? n : 0), b);

    /* recvmsg with MSG_PEEK, two refused in front */
    send_from(s3, port, "bad-2"); send_from(s3, port, "bad-3"); send_from(s2, port, "good-2");
    settle();
    struct iovec iov = { b, sizeof(b) };
    struct msghdr mh = { .msg_name = &f, .msg_namelen = sizeof(f), .msg_iov = &iov, .msg_iovlen = 1 };
    memset(b, 0, sizeof(b));
    n = recvmsg(u, &mh, MSG_PEEK);
    CHECK(n == 6 && !memcmp(b, "good-2", 6) && !strcmp(ip_of(&f), "127.0.0.2"), "recvmsg peek: %zd '%s' from %s", n, b, ip_of(&f));
    memset(b, 0, sizeof(b)); mh.msg_namelen = sizeof(f);
    n = recvmsg(u, &mh, 0);
    CHECK(n == 6 && !memcmp(b, "good-2", 6), "recvmsg after peek: %zd '%s'", n, b);
    n = recvfrom(u, b, sizeof(b), MSG_DONTWAIT, NULL, NULL);
    CHECK(n < 0 && errno == EAGAIN, "queue not empty: %zd", n);

    /* only a refused one pending, non-blocking peek: EAGAIN, and it is gone */
    send_from(s3, port, "bad-4");
    settle();
    n = recvfrom(u, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT, NULL, NULL);
    CHECK(n < 0 && errno == EAGAIN, "peek with only a refused datagram: %zd '%.*s'", n, (int) (n > 0 ? n : 0), b);
    n = recvfrom(u, b, sizeof(b), MSG_DONTWAIT, (void *) &f, &len);
    CHECK(n < 0 && errno == EAGAIN, "refused datagram still queued: %zd '%.*s'", n, (int) (n > 0 ? n : 0), b);
    alarm(0);
    close(u); close(s2); close(s3);
    pass("MSG_PEEK: refused datagrams consumed, admitted ones peeked then read");
}

static void case_mmsg(int port)
{
    signal(SIGALRM, onalarm);
    int u = udp_bound("127.0.0.1", port), s2 = udp_bound("127.0.0.2", 0), s3 = udp_bound("127.0.0.3", 0);
    const char *seq[][2] = {
        {"2", "a1"}, {"3", "b1-a-much-longer-refused-payload"}, {"2", "a2-xx"}, {"3", "b2"}, {"3", "b3"},
        {"2", "a3-yyyyyyyyyyyyyyyyyyyyyyyyy"}, {"3", "b4"},
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) send_from(seq[i][0][0] == '2' ? s2 : s3, port, seq[i][1]);
    settle();
    enum { V = 10 };
    char bufs[V][64];
    struct iovec iov[V];
    struct sockaddr_in names[V];
    struct mmsghdr vec[V];
    memset(vec, 0, sizeof(vec)); memset(bufs, 0, sizeof(bufs)); memset(names, 0, sizeof(names));
    for (int i = 0; i < V; i++) {
        iov[i] = (struct iovec) { bufs[i], sizeof(bufs[i]) };
        vec[i].msg_hdr = (struct msghdr) { .msg_name = &names[i], .msg_namelen = sizeof(names[i]), .msg_iov = &iov[i], .msg_iovlen = 1 };
    }
    alarm(5);
    int n = recvmmsg(u, vec, V, MSG_DONTWAIT, NULL);
    const char *want[] = {"a1", "a2-xx", "a3-yyyyyyyyyyyyyyyyyyyyyyyyy"};
    CHECK(n == 3, "recvmmsg returned %d messages, want 3", n);
    for (int i = 0; i < n && i < 3; i++) {
        CHECK(vec[i].msg_len == strlen(want[i]) && !memcmp(bufs[i], want[i], strlen(want[i])),
              "message %d: len %u '%.*s', want '%s'", i, vec[i].msg_len, (int) vec[i].msg_len, bufs[i], want[i]);
        CHECK(!strcmp(ip_of(&names[i]), "127.0.0.2") && ntohs(names[i].sin_port) == local_port(s2) &&
              vec[i].msg_hdr.msg_namelen == sizeof(struct sockaddr_in),
              "message %d source %s:%d namelen %u", i, ip_of(&names[i]), ntohs(names[i].sin_port), vec[i].msg_hdr.msg_namelen);
        CHECK(!(vec[i].msg_hdr.msg_flags & MSG_TRUNC), "message %d flagged MSG_TRUNC", i);
    }
    for (int i = 0; i < n; i++)
        CHECK(strcmp(ip_of(&names[i]), "127.0.0.3"), "message %d from the refused source: '%.*s'", i, (int) vec[i].msg_len, bufs[i]);
    n = recvfrom(u, bufs[0], 64, MSG_DONTWAIT, NULL, NULL);
    CHECK(n < 0 && errno == EAGAIN, "datagrams left after the batch: %d", n);

    /* a batch whose first real read is all refused; no addresses asked for */
    send_from(s3, port, "b5"); send_from(s3, port, "b6"); send_from(s2, port, "a4-zz");
    settle();
    memset(bufs, 0, sizeof(bufs));
    for (int i = 0; i < 2; i++) { vec[i].msg_hdr.msg_name = NULL; vec[i].msg_hdr.msg_namelen = 0; }
    n = recvmmsg(u, vec, 2, MSG_DONTWAIT, NULL);
    CHECK(n == 1 && vec[0].msg_len == 5 && !memcmp(bufs[0], "a4-zz", 5), "second batch: %d '%s'", n, bufs[0]);
    CHECK(vec[0].msg_hdr.msg_name == NULL, "msg_name not restored to NULL");
    alarm(0);
    close(u); close(s2); close(s3);
    pass("recvmmsg delivers only admitted datagrams, in order, intact");
}


/* ---- readiness: a socket is ready only when an admitted client waits ---- */

static void settle_short(void) { struct timespec t = { 0, 50 * 1000 * 1000 }; nanosleep(&t, NULL); }

enum waiter { W_POLL, W_PPOLL, W_SELECT, W_PSELECT, W_EPOLL, W_EPOLL_PWAIT, W_EPOLL_ONESHOT, W_EPOLL_ET, W_COUNT };
static const char *waiter_name[] = { "poll", "ppoll", "select", "pselect", "epoll_wait", "epoll_pwait",
                                     "epoll oneshot", "epoll edge" };

/* Waits up to ms for fd to be readable with the given call: 1 ready, 0 not. */
static int wait_readable(enum waiter w, int ep, int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    fd_set r;
    struct epoll_event out;
    int n = -1;
    switch (w) {
    case W_POLL: n = poll(&p, 1, ms); if (n == 1 && !(p.revents & POLLIN)) n = -2; break;
    case W_PPOLL: n = ppoll(&p, 1, &ts, NULL); if (n == 1 && !(p.revents & POLLIN)) n = -2; break;
    case W_SELECT: FD_ZERO(&r); FD_SET(fd, &r); n = select(fd + 1, &r, NULL, NULL, &tv); if (n == 1 && !FD_ISSET(fd, &r)) n = -2; break;
    case W_PSELECT: FD_ZERO(&r); FD_SET(fd, &r); n = pselect(fd + 1, &r, NULL, NULL, &ts, NULL); if (n == 1 && !FD_ISSET(fd, &r)) n = -2; break;
    case W_EPOLL: case W_EPOLL_ONESHOT: case W_EPOLL_ET:
        n = epoll_wait(ep, &out, 1, ms); if (n == 1 && (out.data.fd != fd || !(out.events & EPOLLIN))) n = -2; break;
    case W_EPOLL_PWAIT: n = epoll_pwait(ep, &out, 1, ms, NULL); if (n == 1 && (out.data.fd != fd || !(out.events & EPOLLIN))) n = -2; break;
    default: break;
    }
    return n;
}

static int epoll_for(enum waiter w, int fd)
{
    if (w < W_EPOLL) return -1;
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = { .events = EPOLLIN | (w == W_EPOLL_ONESHOT ? EPOLLONESHOT : 0) | (w == W_EPOLL_ET ? EPOLLET : 0),
                              .data.fd = fd };
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    return ep;
}

static void case_waits(int port)
{
    signal(SIGALRM, onalarm);
    for (enum waiter w = 0; w < W_COUNT; w++) {
        int l = listen_tcp(port, w % 2 ? SOCK_NONBLOCK : 0);   /* blocking and non-blocking listeners */
        int ep = epoll_for(w, l);
        struct timespec t0, t1;
        /* three refused clients: never reported; each reset by the wait itself */
        int r1 = connect_from("127.0.0.3", port), r2 = connect_from("127.0.0.3", port), r3 = connect_from("127.0.0.3", port);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int n = wait_readable(w, ep, l, 400);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double waited = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
        CHECK(n == 0, "%s: a listener with only refused clients was reported (%d)", waiter_name[w], n);
        CHECK(waited > 0.35, "%s: the wait returned early (%.3f s): it must wait out its time", waiter_name[w], waited);
        CHECK(was_reset(r1) && was_reset(r2) && was_reset(r3), "%s: refused clients not reset", waiter_name[w]);
        /* refused ahead of an admitted one: reported, and accept gives the admitted one */
        int r4 = connect_from("127.0.0.3", port), a1 = connect_from("127.0.0.2", port);
        settle_short();
        n = wait_readable(w, ep, l, 2000);
        CHECK(n == 1, "%s: a listener with an admitted client not reported (%d)", waiter_name[w], n);
        /* reported again until it is taken (level), or at least once (edge) */
        if (w != W_EPOLL_ET && w != W_EPOLL_ONESHOT)
            CHECK(wait_readable(w, ep, l, 0) == 1, "%s: a held client not reported by the next wait", waiter_name[w]);
        alarm(5);
        struct sockaddr_in sa; socklen_t len = sizeof(sa);
        int a = accept4(l, (void *) &sa, &len, w % 2 ? SOCK_NONBLOCK : 0);
        alarm(0);
        CHECK(a >= 0 && !strcmp(ip_of(&sa), "127.0.0.2") && ntohs(sa.sin_port) == local_port(a1),
              "%s: accept returned %d from %s", waiter_name[w], a, a >= 0 ? ip_of(&sa) : "-");
        if (a >= 0) {
            int fl = fcntl(a, F_GETFL), fdfl = fcntl(a, F_GETFD);
            CHECK(!!(fl & O_NONBLOCK) == !!(w % 2), "%s: O_NONBLOCK %d on the accepted socket", waiter_name[w], !!(fl & O_NONBLOCK));
            CHECK(!(fdfl & FD_CLOEXEC), "%s: FD_CLOEXEC set on an accept4() without SOCK_CLOEXEC", waiter_name[w]);
            CHECK(write(a1, "x", 1) == 1 && read(a, &sa, 1) == 1, "%s: the admitted connection does not carry data", waiter_name[w]);
        }
        CHECK(was_reset(r4), "%s: refused client ahead of the admitted one not reset", waiter_name[w]);
        CHECK(wait_readable(w, ep, l, 100) == 0, "%s: still reported after the admitted client was taken", waiter_name[w]);
        if (w == W_EPOLL_ONESHOT) {
            /* the oneshot registration, re-armed by the daemon, still works */
            struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.fd = l };
            epoll_ctl(ep, EPOLL_CTL_MOD, l, &ev);
        }
        if (w == W_EPOLL_ONESHOT || w == W_EPOLL) {
            /* refused only, then (after the wait swallowed it) an admitted one */
            int r5 = connect_from("127.0.0.3", port);
            CHECK(wait_readable(w, ep, l, 200) == 0, "%s: refused reported", waiter_name[w]);
            int a2 = connect_from("127.0.0.2", port);
            CHECK(wait_readable(w, ep, l, 2000) == 1, "%s: admitted client after a swallowed event not reported", waiter_name[w]);
            len = sizeof(sa);
            int b = accept(l, (void *) &sa, &len);
            CHECK(b >= 0 && ntohs(sa.sin_port) == local_port(a2), "%s: accept after a swallowed event", waiter_name[w]);
            close(r5); close(a2); if (b >= 0) close(b);
        }
        if (a >= 0) close(a);
        close(r1); close(r2); close(r3); close(r4); close(a1); close(l);
        if (ep >= 0) close(ep);
    }
    pass("poll, ppoll, select, pselect, epoll (level, edge, oneshot, pwait) report a listener only for admitted clients");
}

static void case_udpwaits(int port)
{
    signal(SIGALRM, onalarm);
    struct sockaddr_in dst = mk("127.0.0.1", port);
    int s2 = udp_bound("127.0.0.2", 0), s3 = udp_bound("127.0.0.3", 0);
    for (enum waiter w = 0; w < W_COUNT; w++) {
        int u = udp_bound("127.0.0.1", port);
        /* served: this process reads it (an inetd-style parent that never reads judges nothing) */
        char b[64];
        recv(u, b, sizeof b, MSG_DONTWAIT);
        int ep = epoll_for(w, u);
        sendto(s3, "no1", 3, 0, (void *) &dst, sizeof(dst));
        sendto(s3, "no2", 3, 0, (void *) &dst, sizeof(dst));
        settle_short();
        CHECK(wait_readable(w, ep, u, 300) == 0, "%s: a socket with only refused datagrams was reported", waiter_name[w]);
        sendto(s3, "no3", 3, 0, (void *) &dst, sizeof(dst));
        sendto(s2, "yes", 3, 0, (void *) &dst, sizeof(dst));
        settle_short();
        CHECK(wait_readable(w, ep, u, 2000) == 1, "%s: an admitted datagram not reported", waiter_name[w]);
        struct sockaddr_in src; socklen_t len = sizeof(src);
        alarm(5);
        ssize_t n = recvfrom(u, b, sizeof b, 0, (void *) &src, &len);
        alarm(0);
        CHECK(n == 3 && !memcmp(b, "yes", 3) && !strcmp(ip_of(&src), "127.0.0.2"), "%s: received %zd '%.*s' from %s",
              waiter_name[w], n, (int) (n > 0 ? n : 0), b, ip_of(&src));
        CHECK(wait_readable(w, ep, u, 100) == 0, "%s: still reported after the datagram was read", waiter_name[w]);
        close(u);
        if (ep >= 0) close(ep);
    }
    /* a blocking receive waits past refused datagrams for the admitted one */
    int u = udp_bound("127.0.0.1", port);
    pid_t child = fork();
    if (child == 0) {
        settle_short();
        for (int i = 0; i < 20; i++) sendto(s3, "no", 2, 0, (void *) &dst, sizeof(dst));
        settle_short(); settle_short();
        sendto(s2, "late", 4, 0, (void *) &dst, sizeof(dst));
        _exit(0);
    }
    char b[64];
    alarm(5);
    ssize_t n = recv(u, b, sizeof b, 0);
    alarm(0);
    CHECK(n == 4 && !memcmp(b, "late", 4), "blocking recv returned %zd", n);
    waitpid(child, NULL, 0);
    close(u); close(s2); close(s3);
    pass("poll, select and epoll report a datagram socket only for admitted datagrams; a blocking receive waits past refused ones");
}

static void case_heldfork(int port)
{
    signal(SIGALRM, onalarm);
    int l = listen_tcp(port, SOCK_NONBLOCK);
    int a1 = connect_from("127.0.0.2", port);
    struct pollfd p = { .fd = l, .events = POLLIN };
    CHECK(poll(&p, 1, 2000) == 1, "admitted client not reported");
    /* the wait holds it now; a child forked here must not hand it out too */
    pid_t child = fork();
    if (child == 0) {
        int a = accept(l, NULL, NULL);
        _exit(a < 0 && errno == EAGAIN ? 0 : 1);
    }
    int status = -1;
    waitpid(child, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child was handed the parent's held connection");
    int a = accept(l, NULL, NULL);
    CHECK(a >= 0 && write(a1, "z", 1) == 1, "the parent lost its held connection");
    char c;
    CHECK(a >= 0 && read(a, &c, 1) == 1 && c == 'z', "held connection does not carry data");
    /* a held connection of a listener that is closed is closed with it */
    int l2 = listen_tcp(port + 1, SOCK_NONBLOCK);
    int a2 = connect_from("127.0.0.2", port + 1);
    p.fd = l2;
    CHECK(poll(&p, 1, 2000) == 1, "admitted client not reported (2)");
    close(l2);
    CHECK(was_reset(a2), "a held connection outlived its listener");
    close(a); close(a1); close(a2); close(l);
    pass("held connections: kept by the parent across fork, closed with their listener");
}

/* ---- MSG_PEEK with two readers: a refused datagram that was peeked at is
 * taken off whole; if the other reader took it first, what is taken instead
 * is judged, and an admitted one is kept, never lost ---- */

#include <pthread.h>
#define PEEK_TOTAL 3000
static int peek_sock;
static unsigned char peek_seen[PEEK_TOTAL];
static volatile int peek_done;

static void *peek_reader(void *arg)
{
    int peeker = arg != NULL;
    char b[64];
    while (1) {
        struct pollfd p = { .fd = peek_sock, .events = POLLIN };
        if (poll(&p, 1, 200) <= 0) {
            if (peek_done) break;
            continue;
        }
        if (peeker) {
            struct sockaddr_in src; socklen_t len = sizeof(src);
            if (recvfrom(peek_sock, b, sizeof b, MSG_PEEK | MSG_DONTWAIT, (void *) &src, &len) < 0) continue;
        }
        ssize_t n = recv(peek_sock, b, sizeof b - 1, MSG_DONTWAIT);
        if (n <= 0) continue;
        b[n] = 0;
        if (b[0] == 'A') {
            int k = atoi(b + 1);
            if (k >= 0 && k < PEEK_TOTAL) __atomic_fetch_add(&peek_seen[k], 1, __ATOMIC_RELAXED);
        } else if (b[0] == 'R') {
            printf("FAIL %s: a refused datagram was delivered\n", cur);
            failures++;
        }
    }
    return NULL;
}

static void case_peekrace(int port)
{
    peek_sock = udp_bound("127.0.0.1", port);
    int big = 8 << 20;
    setsockopt(peek_sock, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    char b[8];
    recv(peek_sock, b, sizeof b, MSG_DONTWAIT);      /* served */
    int s2 = udp_bound("127.0.0.2", 0), s3 = udp_bound("127.0.0.3", 0);
    struct sockaddr_in dst = mk("127.0.0.1", port);
    pthread_t t1, t2;
    pthread_create(&t1, NULL, peek_reader, (void *) 1);
    pthread_create(&t2, NULL, peek_reader, NULL);
    for (int i = 0; i < PEEK_TOTAL; i++) {
        char m[32];
        int n = snprintf(m, sizeof m, "R%d", i);
        sendto(s3, m, n, 0, (void *) &dst, sizeof dst);
        n = snprintf(m, sizeof m, "A%d", i);
        sendto(s2, m, n, 0, (void *) &dst, sizeof dst);
        if (i % 50 == 49) settle_short();
    }
    struct timespec t = { 1, 0 };
    nanosleep(&t, NULL);
    peek_done = 1;
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    int lost = 0, twice = 0;
    for (int i = 0; i < PEEK_TOTAL; i++) {
        if (peek_seen[i] == 0) lost++;
        if (peek_seen[i] > 1) twice++;
    }
    CHECK(lost == 0 && twice == 0, "%d of %d admitted datagrams lost, %d delivered twice", lost, PEEK_TOTAL, twice);
    close(s2); close(s3); close(peek_sock);
    pass("two readers, one peeking: every admitted datagram delivered once, no refused one");
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && !strcmp(argv[1], "child-accept")) return child_accept(atoi(argv[2]), atoi(argv[3]));
    if (argc < 3) { fprintf(stderr, "usage: edge CASE PORT [ARG]\n"); return 2; }
    cur = argv[1];
    int port = atoi(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    if (!strcmp(cur, "nulladdr")) case_nulladdr(port);
    else if (!strcmp(cur, "eagain")) case_eagain(port);
    else if (!strcmp(cur, "errno")) case_errno(port);
    else if (!strcmp(cur, "unix")) case_unix(port, argc > 3 ? argv[3] : "/tmp");
    else if (!strcmp(cur, "flags")) case_flags(port);
    else if (!strcmp(cur, "forkexec")) case_forkexec(port, argv[0]);
    else if (!strcmp(cur, "peek")) case_peek(port);
    else if (!strcmp(cur, "mmsg")) case_mmsg(port);
    else if (!strcmp(cur, "waits")) case_waits(port);
    else if (!strcmp(cur, "udpwaits")) case_udpwaits(port);
    else if (!strcmp(cur, "heldfork")) case_heldfork(port);
    else if (!strcmp(cur, "peekrace")) case_peekrace(port);
    else { fprintf(stderr, "unknown case %s\n", cur); return 2; }
    return failures ? 1 : 0;
}
