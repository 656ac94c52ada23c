/*
 * exitdeciding.c - exit() while other threads are deciding.
 *
 * exit() runs the destructors that dlclose() runs, while the host's other
 * threads may still be inside the library: the library must free nothing
 * then. Built twice:
 *
 *   program   exitdeciding LIBRARY ALLOW DENY [LINGER]
 *             takes LIBRARY (dlopen(); or already loaded at start-up by
 *             LD_PRELOAD), starts two threads that call hosts_ctl() in a
 *             loop, and calls exit() 50 ms later. LINGER, if given, is
 *             dlopen()ed after LIBRARY.
 *   -DLINGER  a library whose destructor waits 100 ms: loaded after
 *             LIBRARY, it is finalized after it, so the threads go on
 *             deciding after LIBRARY's destructor. Memory freed there is
 *             used (and, with glibc's malloc.perturb, overwritten): the
 *             process crashes instead of exiting 0.
 */
#include <time.h>

#ifdef LINGER
__attribute__((destructor)) static void linger(void)
{
    struct timespec t = { 0, 100 * 1000 * 1000 };

    nanosleep(&t, 0);
}
#else
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static int (*ctl)(const char *, const char *, const char *, const char *);

static void *decide(void *unused)
{
    (void) unused;
    for (;;)
        ctl("d", "192.0.2.1", "192.0.2.1", "");
    return 0;
}

int main(int argc, char **argv)
{
    struct timespec t = { 0, 50 * 1000 * 1000 };
    pthread_t thread;
    void *lib;
    int i;

    if (argc < 4 || !(lib = dlopen(argv[1], RTLD_NOW))) {
        fprintf(stderr, "usage: exitdeciding LIBRARY ALLOW DENY [LINGER]\n");
        return 2;
    }
    *(char **) dlsym(lib, "hosts_allow_table") = argv[2];
    *(char **) dlsym(lib, "hosts_deny_table") = argv[3];
    ctl = (int (*)(const char *, const char *, const char *, const char *)) dlsym(lib, "hosts_ctl");
    if (argc > 4 && !dlopen(argv[4], RTLD_NOW)) {
        fprintf(stderr, "%s\n", dlerror());
        return 2;
    }
    for (i = 0; i < 2; i++)
        pthread_create(&thread, 0, decide, 0);
    nanosleep(&t, 0);
    exit(0);
}
#endif
