/* inject.c - an LD_PRELOAD library that makes chosen calls fail, for the
 * faults that cannot be provoked for real on a shared machine (ENFILE is
 * system-wide) or at a chosen moment (malloc).
 *
 *   FAULT_MALLOC_AFTER=N     malloc, calloc, realloc and posix_memalign fail
 *                            (ENOMEM) from the (N+1)th call made after the
 *                            first call to hosts_ctl/accept/recvfrom... i.e.
 *                            once FAULT_ARMED is set by fault_arm() or
 *                            from the start when FAULT_ARMED=1
 *   FAULT_OPEN_ERRNO=E       open/openat of a path containing FAULT_OPEN_MATCH
 *                            fails with errno E
 *   FAULT_ACCEPT_ERRNO=E     the first FAULT_ACCEPT_COUNT (default 1) calls of
 *                            accept/accept4 fail with errno E, before the real call
 *
 * Listed after the shim in LD_PRELOAD, it is what the shim's real calls
 * reach (dlsym(RTLD_NEXT)). The libraries call open() and malloc() through
 * the PLT, so these definitions are theirs too.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static long malloc_after = -1, malloc_calls;
static int armed;
static int open_errno, accept_errno, accept_left;
static const char *open_match;

__attribute__((constructor)) static void fault_setup(void)
{
    const char *s;
    if ((s = getenv("FAULT_MALLOC_AFTER")) != NULL) malloc_after = atol(s);
    if ((s = getenv("FAULT_ARMED")) != NULL) armed = atoi(s);
    if ((s = getenv("FAULT_OPEN_ERRNO")) != NULL) open_errno = atoi(s);
    open_match = getenv("FAULT_OPEN_MATCH");
    if ((s = getenv("FAULT_ACCEPT_ERRNO")) != NULL) accept_errno = atoi(s);
    accept_left = (s = getenv("FAULT_ACCEPT_COUNT")) != NULL ? atoi(s) : 1;
}

/* fault_arm - starts counting allocations (called by a test program). */
void fault_arm(void) { armed = 1; }

static int fail_now(void)
{
    if (malloc_after < 0 || !armed) return 0;
    if (__atomic_fetch_add(&malloc_calls, 1, __ATOMIC_RELAXED) < malloc_after) return 0;
    errno = ENOMEM;
    return 1;
}

void *malloc(size_t n) { return fail_now() ? NULL : __libc_malloc(n); }
void *calloc(size_t a, size_t b) { return fail_now() ? NULL : __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { return fail_now() ? NULL : __libc_realloc(p, n); }
int posix_memalign(void **out, size_t align, size_t n)
{
    if (fail_now()) return ENOMEM;
    void *p = __libc_memalign(align, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n) { return fail_now() ? NULL : __libc_memalign(align, n); }

static int open_fails(const char *path)
{
    if (open_errno && open_match && path && strstr(path, open_match)) {
        errno = open_errno;
        return 1;
    }
    return 0;
}

#define OPEN_BODY(call) \
    mode_t mode = 0; \
    if (flags & (O_CREAT | O_TMPFILE)) { va_list ap; va_start(ap, flags); mode = va_arg(ap, mode_t); va_end(ap); } \
    if (open_fails(path)) return -1; \
    return call;

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real) real = dlsym(RTLD_NEXT, "open");
    OPEN_BODY(real(path, flags, mode))
}
int open64(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real) real = dlsym(RTLD_NEXT, "open64");
    OPEN_BODY(real(path, flags, mode))
}
int openat(int dir, const char *path, int flags, ...)
{
    static int (*real)(int, const char *, int, ...);
    if (!real) real = dlsym(RTLD_NEXT, "openat");
    OPEN_BODY(real(dir, path, flags, mode))
}

static int accept_fails(void)
{
    if (accept_errno && __atomic_fetch_sub(&accept_left, 1, __ATOMIC_RELAXED) > 0) {
        errno = accept_errno;
        return 1;
    }
    return 0;
}

int accept(int fd, struct sockaddr *a, socklen_t *l)
{
    static int (*real)(int, struct sockaddr *, socklen_t *);
    if (!real) real = dlsym(RTLD_NEXT, "accept");
    return accept_fails() ? -1 : real(fd, a, l);
}
int accept4(int fd, struct sockaddr *a, socklen_t *l, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    if (!real) real = dlsym(RTLD_NEXT, "accept4");
    return accept_fails() ? -1 : real(fd, a, l, flags);
}
