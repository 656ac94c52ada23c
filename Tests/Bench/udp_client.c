/* udp_client.c - N ping-pong datagrams to 127.0.0.1:PORT, each from the next
 * of SOURCES source addresses (127.1.0.0 onwards, set per datagram with
 * IP_PKTINFO; 1 = from 127.0.0.1 only); prints datagrams per second and how
 * many were answered (a lost one is waited for 100 ms, then skipped). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

int main(int argc, char **argv)
{
    struct sockaddr_in to = { .sin_family = AF_INET }, me = { .sin_family = AF_INET };
    long i, n = argc > 2 ? atol(argv[2]) : 20000, sources = argc > 3 ? atol(argv[3]) : 1, ok = 0;
    struct timespec t0, t1;
    int s = socket(AF_INET, SOCK_DGRAM, 0);

    to.sin_port = htons(atoi(argv[1]));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    me.sin_addr.s_addr = htonl(INADDR_ANY);     /* answers come back to any of the sources */
    if (bind(s, (struct sockaddr *) &me, sizeof me))
        return 1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        char cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))] = {0}, reply[64];
        struct iovec iov = { "ping", 4 };
        struct msghdr msg = { .msg_name = &to, .msg_namelen = sizeof to, .msg_iov = &iov, .msg_iovlen = 1 };
        struct pollfd p = { s, POLLIN, 0 };
        if (sources > 1) {
            struct in_pktinfo pi = {0};
            struct cmsghdr *c;
            unsigned k = (unsigned) (i % sources);
            pi.ipi_spec_dst.s_addr = htonl(0x7f010000u + k);   /* 127.1.x.y */
            msg.msg_control = cbuf;
            msg.msg_controllen = sizeof cbuf;
            c = CMSG_FIRSTHDR(&msg);
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof pi);
            memcpy(CMSG_DATA(c), &pi, sizeof pi);
        }
        if (sendmsg(s, &msg, 0) < 0)
            continue;
        if (poll(&p, 1, 100) == 1 && recv(s, reply, sizeof reply, 0) > 0)
            ok++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.0f %ld\n", n / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9), ok);
    return 0;
}
