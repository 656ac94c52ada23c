/* stress_server.c - N threads blocking in accept() on one listening socket.
 *
 *   stress_server PORT NTHREADS
 *
 * Listens on 127.0.0.1:PORT, prints "READY <pid>" once listening. Each
 * accepted connection gets the line "ok <peer address>\n" (the address that
 * accept() reported), then is closed. Errors of accept() other than EINTR
 * and ECONNABORTED are counted and reported on stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener;

static void *worker(void *arg)
{
    (void) arg;
    for (;;) {
        struct sockaddr_in sin;
        socklen_t len = sizeof(sin);
        memset(&sin, 0, sizeof(sin));
        int fd = accept(listener, (struct sockaddr *) &sin, &len);
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED)
                fprintf(stderr, "accept: %s\n", strerror(errno));
            continue;
        }
        char line[64], ip[INET_ADDRSTRLEN] = "?";
        if (len == sizeof(sin) && sin.sin_family == AF_INET)
            inet_ntop(AF_INET, &sin.sin_addr, ip, sizeof(ip));
        else
            snprintf(ip, sizeof(ip), "badlen%u", (unsigned) len);
        int n = snprintf(line, sizeof(line), "ok %s\n", ip);
        if (write(fd, line, n) < 0) { /* the client may be gone */ }
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) { fprintf(stderr, "usage: stress_server PORT NTHREADS\n"); return 2; }
    int port = atoi(argv[1]), n = atoi(argv[2]);
    listener = socket(AF_INET, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    if (bind(listener, (struct sockaddr *) &sin, sizeof(sin)) < 0 || listen(listener, 4096) < 0) {
        perror("bind/listen");
        return 1;
    }
    pthread_t t[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
    printf("READY %d\n", (int) getpid());
    fflush(stdout);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return 0;
}
