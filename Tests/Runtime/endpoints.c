/*
 * endpoints.c - sock_host() from the daemon's side, linked with -lwrap.
 *
 * Usage: endpoints peek PORTFILE
 *   Binds a UDP socket on 127.0.0.1, writes its port to PORTFILE, waits for
 *   a datagram, then does what a libwrap UDP daemon does: request_init()
 *   with RQ_FILE and fromhost() (which peeks at the datagram). Prints the
 *   client address sock_host() saw and whether the datagram is still
 *   queued. Under the shim, the library's own peek must not go through the
 *   shim's recvfrom() hook (which would drop a refused datagram). Then
 *   receives it with recvfrom() (under the shim: judged, maybe logged).
 *
 * Usage: endpoints threads PORTFILE
 *   Accepts two TCP connections; the first is described by fromhost() on a
 *   thread that then exits, the second on another thread; the first
 *   request's client address is read only afterwards, from the main thread.
 *   Prints both addresses.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <tcpd.h>
#include <unistd.h>

int allow_severity = LOG_INFO, deny_severity = LOG_WARNING;

static int bound(int type, const char *portfile)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, type, 0);
    FILE *f;

    if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) < 0)
        return -1;
    if (type == SOCK_STREAM && listen(fd, 8) < 0)
        return -1;
    getsockname(fd, (struct sockaddr *) &a, &len);
    f = fopen(portfile, "w");
    fprintf(f, "%d\n", ntohs(a.sin_port));
    fclose(f);
    return fd;
}

struct job { int fd; struct request_info request; };

static void *describe(void *arg)
{
    struct job *j = arg;
    request_init(&j->request, RQ_DAEMON, "endpoints", RQ_FILE, j->fd, 0);
    fromhost(&j->request);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "peek")) {
        int fd = bound(SOCK_DGRAM, argv[2]);
        struct pollfd p = { fd, POLLIN, 0 };
        struct request_info r;
        char buf[64];

        if (fd < 0 || poll(&p, 1, 10000) != 1)
            return 2;
        request_init(&r, RQ_DAEMON, "endpoints", RQ_FILE, fd, 0);
        fromhost(&r);
        printf("addr=%s queued=%d\n", eval_hostaddr(r.client),
               syscall(SYS_recvfrom, fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT, 0, 0) >= 0);
        /* Then receive it as the daemon would (under the shim: judged, and
         * if refused, dropped and logged). */
        fflush(stdout);
        (void) recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, 0, 0);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "threads")) {
        int fd = bound(SOCK_STREAM, argv[2]);
        struct job a, b;
        pthread_t t;

        if (fd < 0)
            return 2;
        a.fd = accept(fd, 0, 0);
        pthread_create(&t, 0, describe, &a);
        pthread_join(t, 0);          /* that thread is gone now */
        b.fd = accept(fd, 0, 0);
        pthread_create(&t, 0, describe, &b);
        pthread_join(t, 0);
        printf("first=%s second=%s\n", eval_hostaddr(a.request.client), eval_hostaddr(b.request.client));
        return 0;
    }
    fprintf(stderr, "usage: endpoints peek|threads PORTFILE\n");
    return 2;
}
