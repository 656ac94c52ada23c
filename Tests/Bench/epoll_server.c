/* epoll_server.c - an event loop: a non-blocking listener on 127.0.0.1:PORT
 * in a level-triggered epoll set (with 64 idle pipes beside it, as a real
 * loop has other descriptors), accepting until EAGAIN on each event and
 * closing the connections, forever. With "poll" as the second argument the
 * same loop uses poll(). The daemon under test for scripts/bench-shim's
 * event-loop rows: what the wait hooks cost a loop that never sees a
 * refusal. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    int one = 1, s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int use_poll = argc > 2 && !strcmp(argv[2], "poll");
    struct pollfd fds[65];
    int ep = epoll_create1(0);

    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 19000);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *) &a, sizeof(a)) || listen(s, 1024)) {
        perror("epoll_server");
        return 1;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = s };
    epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev);
    fds[0] = (struct pollfd) { .fd = s, .events = POLLIN };
    for (int i = 1; i < 65; i++) {
        int p[2];
        if (pipe(p)) return 1;
        struct epoll_event e = { .events = EPOLLIN, .data.fd = p[0] };
        epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e);
        fds[i] = (struct pollfd) { .fd = p[0], .events = POLLIN };
    }
    for (;;) {
        struct epoll_event out[64];
        int n = use_poll ? poll(fds, 65, -1) : epoll_wait(ep, out, 64, -1);
        if (n <= 0)
            continue;
        for (;;) {
            int c = accept4(s, NULL, NULL, SOCK_NONBLOCK);
            if (c < 0)
                break;
            close(c);
        }
    }
}
