/*
 * ident_probe.c - hosts_access() on a real TCP connection with a user@host
 * rule, so that libwrap asks the client's ident server (RFC 931, port 113).
 * Usage: ident_probe ALLOW DENY PORT TIMEOUT  (run inside a private network
 * namespace; the client connects from 127.0.0.2)
 * Prints "verdict=N user=NAME seconds=S".
 */
#include <tcpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

int allow_severity = LOG_INFO, deny_severity = LOG_WARNING;

int main(int argc, char **argv)
{
    struct sockaddr_in server = { .sin_family = AF_INET }, client = { .sin_family = AF_INET };
    struct request_info req;
    struct timespec t0, t1;
    int one = 1, l, c, a;

    if (argc != 5)
        return 2;
    hosts_allow_table = argv[1];
    hosts_deny_table = argv[2];
    rfc931_timeout = atoi(argv[4]);
    server.sin_port = htons(atoi(argv[3]));
    inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
    inet_pton(AF_INET, "127.0.0.2", &client.sin_addr);
    l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *) &server, sizeof(server)) || listen(l, 5))
        return 3;
    c = socket(AF_INET, SOCK_STREAM, 0);
    bind(c, (struct sockaddr *) &client, sizeof(client));
    if (connect(c, (struct sockaddr *) &server, sizeof(server)))
        return 4;
    a = accept(l, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    request_init(&req, RQ_DAEMON, "sshd", RQ_FILE, a, 0);
    fromhost(&req);
    int verdict = hosts_access(&req);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("verdict=%d user=%s seconds=%.0f\n", verdict, eval_user(&req),
           (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
