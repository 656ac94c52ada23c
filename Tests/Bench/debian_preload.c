/* debian_preload.c - the comparison point for scripts/bench-shim: a minimal
 * C preload that checks each accepted connection (accept, accept4), and each datagram read
 * with recvmsg(), with Debian's libwrap (hosts_access(), which re-reads the
 * tables on every call). A refused datagram is dropped and the next read. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <syslog.h>
#include <tcpd.h>
#include <unistd.h>

int allow_severity = LOG_INFO, deny_severity = LOG_WARNING;

/* Whether Debian's libwrap admits the connection on c (closed if not). */
static int admitted(int c)
{
    struct request_info req;

    if (getenv("BENCH_ALLOW"))
        hosts_allow_table = getenv("BENCH_ALLOW");
    if (getenv("BENCH_DENY"))
        hosts_deny_table = getenv("BENCH_DENY");
    request_init(&req, RQ_DAEMON, "accept_server", RQ_FILE, c, 0);
    fromhost(&req);
    if (hosts_access(&req))
        return 1;
    close(c);
    return 0;
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    static int (*real)(int, struct sockaddr *, socklen_t *);

    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *)) dlsym(RTLD_NEXT, "accept");
    for (;;) {
        int c = real(fd, addr, len);
        if (c < 0 || admitted(c))
            return c;
    }
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);

    if (!real)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int)) dlsym(RTLD_NEXT, "accept4");
    for (;;) {
        int c = real(fd, addr, len, flags);
        if (c < 0 || admitted(c))
            return c;
    }
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    static ssize_t (*real)(int, struct msghdr *, int);
    struct request_info req;

    if (!real)
        real = (ssize_t (*)(int, struct msghdr *, int)) dlsym(RTLD_NEXT, "recvmsg");
    for (;;) {
        ssize_t n = real(fd, msg, flags);
        char addr[INET6_ADDRSTRLEN] = "";
        struct sockaddr_in *sin = msg->msg_name;
        if (n < 0 || !sin || sin->sin_family != AF_INET)
            return n;
        inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof addr);
        if (getenv("BENCH_ALLOW"))
            hosts_allow_table = getenv("BENCH_ALLOW");
        if (getenv("BENCH_DENY"))
            hosts_deny_table = getenv("BENCH_DENY");
        request_init(&req, RQ_DAEMON, "udp_echo", RQ_CLIENT_ADDR, addr, 0);
        if (hosts_access(&req))
            return n;
        msg->msg_namelen = sizeof(struct sockaddr_in);
    }
}
