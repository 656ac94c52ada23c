/* behind.c - a preload loaded after the shim that stands in front of
 * accept4() and close() as the shim does (by dlsym(RTLD_NEXT)), and notes
 * each call in the file BEHIND_LOG. Built as a shared object by
 * test_preload_order.py. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void note(const char *what)
{
    const char *path = getenv("BEHIND_LOG");
    int fd;

    if (!path || (fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
        return;
    if (write(fd, what, strlen(what)) < 0) {
        /* nothing to do */
    }
    syscall(SYS_close, fd);   /* not through this object's own close() */
}

int accept4(int fd, struct sockaddr *address, socklen_t *length, int flags)
{
    static int (*next)(int, struct sockaddr *, socklen_t *, int);

    if (!next)
        next = (int (*)(int, struct sockaddr *, socklen_t *, int)) dlsym(RTLD_NEXT, "accept4");
    note("accept4\n");
    return next(fd, address, length, flags);
}

int close(int fd)
{
    static int (*next)(int);

    if (!next)
        next = (int (*)(int)) dlsym(RTLD_NEXT, "close");
    note("close\n");
    return next(fd);
}
