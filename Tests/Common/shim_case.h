/*
 * shim_case.h - what the C test programs run under the shim (Shim/edge.c,
 * Faults/faults.c) share: their report lines and their IPv4 sockets on
 * 127.0.0.0/8. Include it once, in the program's only source file.
 *
 * Report: set `cur` to the case's name; CHECK(cond, format, ...) prints
 * "FAIL case: line N: ..." with errno and counts a failure when cond is
 * false; pass(what) prints "PASS case: what". The program exits 0 only if
 * `failures` is 0.
 *
 * Sockets: a socket that cannot be made as asked ends the program with
 * status 3 (a broken test, not a finding).
 */
#ifndef TESTS_SHIM_CASE_H
#define TESTS_SHIM_CASE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;
static const char *cur;

#define CHECK(cond, ...) do { if (!(cond)) { failures++; printf("FAIL %s: line %d: ", cur, __LINE__); \
    printf(__VA_ARGS__); printf(" [errno %d %s]\n", errno, strerror(errno)); fflush(stdout); } } while (0)

static void pass(const char *what) { printf("PASS %s: %s\n", cur, what); fflush(stdout); }

/* mk - an IPv4 socket address */
static struct sockaddr_in mk(const char *ip, int port)
{
    struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, ip, &s.sin_addr);
    return s;
}

/* listen_tcp - a listener on 127.0.0.1:port; flags as socket() takes them (SOCK_NONBLOCK...) */
static int listen_tcp(int port, int flags)
{
    int l = socket(AF_INET, SOCK_STREAM | flags, 0), on = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in s = mk("127.0.0.1", port);
    if (bind(l, (void *) &s, sizeof(s)) < 0 || listen(l, 64) < 0) { perror("listen"); exit(3); }
    return l;
}

/* udp_bound - a datagram socket bound to ip:port */
static int udp_bound(const char *ip, int port)
{
    int u = socket(AF_INET, SOCK_DGRAM, 0), on = 1;
    setsockopt(u, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in s = mk(ip, port);
    if (bind(u, (void *) &s, sizeof(s)) < 0) { perror("bind udp"); exit(3); }
    return u;
}

/* connect_from - a client end from src (127.0.0.2 is admitted, 127.0.0.3 refused) to 127.0.0.1:port */
static int connect_from(const char *src, int port)
{
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = mk(src, 0), d = mk("127.0.0.1", port);
    if (bind(c, (void *) &a, sizeof(a)) < 0 || connect(c, (void *) &d, sizeof(d)) < 0) { perror("connect"); exit(3); }
    return c;
}

/* ip_of - an address as text; four buffers in turn, so that one printf can show several */
static const char *ip_of(const struct sockaddr_in *s)
{
    static char buf[4][INET_ADDRSTRLEN]; static int k;
    k = (k + 1) % 4;
    if (s->sin_family != AF_INET) { snprintf(buf[k], sizeof(buf[k]), "family%d", s->sin_family); return buf[k]; }
    return inet_ntop(AF_INET, &s->sin_addr, buf[k], sizeof(buf[k]));
}

/* peer_ip - the peer's address of a connected socket, "none" if it has none */
static const char *peer_ip(int fd)
{
    struct sockaddr_in s; socklen_t l = sizeof(s);
    memset(&s, 0, sizeof(s));
    if (getpeername(fd, (void *) &s, &l) < 0) return "none";
    return ip_of(&s);
}

/* The client end of a refused connection sees a reset (or EOF), no data, within 3 s. */
static int was_reset(int c)
{
    struct pollfd p = { .fd = c, .events = POLLIN };
    if (poll(&p, 1, 3000) != 1) return 0;
    char b[16];
    ssize_t n = read(c, b, sizeof(b));
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* settle - time for the kernel and the shim to act on what was just done */
static void settle(void) { usleep(30000); }

#endif
