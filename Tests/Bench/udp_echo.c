/* udp_echo.c - a datagram server for scripts/bench-shim: recvmsg() on an
 * unconnected UDP socket on 0.0.0.0:PORT, echo each datagram back, forever. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
    int s = socket(AF_INET, SOCK_DGRAM, 0);

    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 19500);
    if (bind(s, (struct sockaddr *) &a, sizeof a))
        return 1;
    for (;;) {
        char buf[512];
        struct sockaddr_in peer;
        struct iovec iov = { buf, sizeof buf };
        struct msghdr msg = { .msg_name = &peer, .msg_namelen = sizeof peer, .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n = recvmsg(s, &msg, 0);
        if (n > 0)
            sendto(s, buf, n, 0, (struct sockaddr *) &peer, msg.msg_namelen);
    }
}
