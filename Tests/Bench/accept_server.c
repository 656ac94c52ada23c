/* accept_server.c - accept connections on 127.0.0.1:PORT and close them, forever.
 * The daemon under test for scripts/bench-shim. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    int one = 1, s = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_port = htons(argc > 1 ? atoi(argv[1]) : 19000);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, (struct sockaddr *) &a, sizeof(a)) || listen(s, 1024)) {
        perror("accept_server");
        return 1;
    }
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c >= 0)
            close(c);
    }
}
