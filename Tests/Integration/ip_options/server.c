/* Accepts one connection on 127.0.0.1:PORT and runs libwrap's fix_options() on it. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <tcpd.h>

extern void fix_options(struct request_info *);
int allow_severity = 6, deny_severity = 4;

static int options_length(int fd) {
    unsigned char buf[64];
    socklen_t len = sizeof buf;
    return getsockopt(fd, IPPROTO_IP, IP_OPTIONS, buf, &len) == 0 ? (int)len : -1;
}

int main(int argc, char **argv) {
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
    int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 1)) { perror("listen"); return 90; }
    printf("listening\n");
    fflush(stdout);
    int fd = accept(lfd, 0, 0);
    if (fd < 0) { perror("accept"); return 93; }
    struct request_info req;
    request_init(&req, RQ_DAEMON, "ipoptsd", RQ_FILE, fd, 0);
    fromhost(&req);
    printf("options before: %d\n", options_length(fd));
    fflush(stdout);
    fix_options(&req);
    printf("returned\noptions after: %d\n", options_length(fd));
    return 0;
}
