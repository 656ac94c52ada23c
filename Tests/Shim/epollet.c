/*
 * epollet.c - an edge-triggered server: on each EPOLLET edge it accepts (or
 * reads) until EAGAIN, as mio/tokio, libuv and libevent-ET loops do.
 *
 * Usage: epollet tcp|udp PORT
 *   Binds 127.0.0.1:PORT (non-blocking), prints "READY", then waits for a
 *   line on stdin before it starts its loop (so that clients can queue up
 *   first). TCP: writes "ok\n" to each accepted connection and closes it.
 *   UDP: echoes each datagram. Runs until killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int udp = argc == 3 && !strcmp(argv[1], "udp"), one = 1, ep, fd;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, got[8];
    char line[16];

    if (argc != 3)
        return 2;
    a.sin_port = htons(atoi(argv[2]));
    fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *) &a, sizeof a) || (!udp && listen(fd, 128)))
        return 1;
    printf("READY\n");
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        return 1;
    ep = epoll_create1(0);
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    for (;;) {
        int n = epoll_wait(ep, got, 8, -1), i;
        for (i = 0; i < n; i++) {
            for (;;) {   /* until EAGAIN: the edge will not come again */
                if (udp) {
                    char buf[512];
                    struct sockaddr_in peer;
                    socklen_t len = sizeof peer;
                    ssize_t k = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *) &peer, &len);
                    if (k < 0)
                        break;
                    sendto(fd, buf, k, 0, (struct sockaddr *) &peer, len);
                } else {
                    int c = accept4(fd, 0, 0, SOCK_NONBLOCK);
                    if (c < 0)
                        break;
                    if (write(c, "ok\n", 3) < 0) {
                        /* the client went away */
                    }
                    close(c);
                }
            }
        }
    }
}
