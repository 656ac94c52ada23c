/* accept_cost.c - the time accept() takes a server, per connection, with
 * whatever is preloaded: connections are made first (the kernel completes
 * each handshake without the server), then accept() and close() are timed
 * over the whole queue. Run with and without a preload, the difference is
 * what the preload adds to each connection. Prints the median over ROUNDS
 * rounds of BATCH connections, in nanoseconds per connection.
 *
 * The connections come from a child process started without LD_PRELOAD,
 * so that the server process runs nothing of a preload but its own
 * accept() and close() (a profile of it shows only those).
 *
 * Usage: accept_cost PORT [ROUNDS [BATCH]] */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/wait.h>
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

/* The client: on each 'g' from `in`, closes the previous batch and
 * connects a new one, then answers 'd' on `out`; ends at end of input. */
static int client(int port, int batch, int in, int out)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int *fds = calloc(batch, sizeof(int)), made = 0;
    char c;

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    while (read(in, &c, 1) == 1) {
        for (int i = 0; i < made; i++)
            close(fds[i]);
        for (made = 0; made < batch; made++) {
            fds[made] = socket(AF_INET, SOCK_STREAM, 0);
            if (connect(fds[made], (struct sockaddr *) &a, sizeof(a))) {
                perror("connect");
                return 1;
            }
        }
        if (write(out, "d", 1) != 1)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 19000;
    int rounds = argc > 2 ? atoi(argv[2]) : 21, batch = argc > 3 ? atoi(argv[3]) : 500;
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
    int one = 1, s, go[2], done[2];
    double *per = calloc(rounds, sizeof(double));
    pid_t pid;
    char c;

    if (argc > 5 && strcmp(argv[4], "--client") == 0)
        return client(port, batch, 0, atoi(argv[5]));
    s = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *) &a, sizeof(a)) || listen(s, 4096)) {
        perror("accept_cost");
        return 1;
    }
    if (pipe(go) || pipe(done) || (pid = fork()) < 0) {
        perror("accept_cost");
        return 1;
    }
    if (pid == 0) {
        char fd[16], *args[7] = { argv[0], argv[1], argc > 2 ? argv[2] : "21", argc > 3 ? argv[3] : "500", "--client", fd, 0 };
        snprintf(fd, sizeof(fd), "%d", done[1]);
        dup2(go[0], 0);
        close(go[0]);
        close(go[1]);
        close(done[0]);
        close(s);
        unsetenv("LD_PRELOAD");
        execv("/proc/self/exe", args);
        _exit(127);
    }
    close(go[0]);
    close(done[1]);
    for (int r = -1; r < rounds; r++) {            /* round -1: warm-up */
        if (write(go[1], "g", 1) != 1 || read(done[0], &c, 1) != 1) {
            fprintf(stderr, "accept_cost: the client failed\n");
            return 1;
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
        if (r >= 0)
            per[r] = (t1 - t0) / batch;
    }
    close(go[1]);
    waitpid(pid, 0, 0);
    qsort(per, rounds, sizeof(double), cmp);
    printf("%.0f\n", per[rounds / 2]);
    return 0;
}
