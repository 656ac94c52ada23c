/* accept_cost.c - the time accept() takes a server, per connection, with
 * whatever is preloaded: connections are made first (the kernel completes
 * each handshake without the server), then accept() and close() are timed
 * over the whole queue. Run with and without a preload, the difference is
 * what the preload adds to each connection. Prints the median over ROUNDS
 * rounds of BATCH connections, in nanoseconds per connection.
 *
 * Usage: accept_cost PORT [ROUNDS [BATCH]] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 19000;
    int rounds = argc > 2 ? atoi(argv[2]) : 21, batch = argc > 3 ? atoi(argv[3]) : 500;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);
    int *clients = calloc(batch, sizeof(int));
    double *per = calloc(rounds, sizeof(double));

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *) &a, sizeof(a)) || listen(s, 4096)) {
        perror("accept_cost");
        return 1;
    }
    for (int r = -1; r < rounds; r++) {            /* round -1: warm-up */
        for (int i = 0; i < batch; i++) {
            clients[i] = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(clients[i], (struct sockaddr *) &a, sizeof(a))) {
                perror("connect");
                return 1;
            }
        }
        double t0 = now();
        for (int i = 0; i < batch; i++) {
            int c = accept(s, NULL, NULL);
            if (c < 0) {
                perror("accept");
                return 1;
            }
            close(c);
        }
        double t1 = now();
        for (int i = 0; i < batch; i++)
            close(clients[i]);
        if (r >= 0)
            per[r] = (t1 - t0) / batch;
    }
    qsort(per, rounds, sizeof(double), cmp);
    printf("%.0f\n", per[rounds / 2]);
    return 0;
}
