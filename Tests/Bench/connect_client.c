/* connect_client.c - N sequential connect()/close() to 127.0.0.1:PORT from
 * SOURCE; prints connections per second. Linger 0 avoids TIME_WAIT buildup. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_in to = { .sin_family = AF_INET }, from = { .sin_family = AF_INET };
    struct linger lg = { 1, 0 };
    struct timespec t0, t1;
    long i, n = argc > 2 ? atol(argv[2]) : 20000, ok = 0;
    char byte;

    to.sin_port = htons(atoi(argv[1]));
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    inet_pton(AF_INET, argc > 3 ? argv[3] : "127.0.0.1", &from.sin_addr);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < n; i++) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        bind(s, (struct sockaddr *) &from, sizeof(from));
        if (connect(s, (struct sockaddr *) &to, sizeof(to)) == 0) {
            /* wait for the server's close, so each connection is fully accepted */
            if (read(s, &byte, 1) == 0)
                ok++;
        }
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        close(s);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.0f %ld\n", n / ((t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9), ok);
    return 0;
}
