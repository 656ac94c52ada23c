/*
 * cpreload.h - the shim's settings, captured when it is loaded.
 *
 * Daemons may clear their environment before they accept (nginx does, in
 * its workers), so the TCPWRAP_* variables are copied at load time, in a
 * constructor that does nothing else. They are ignored in setuid and setgid
 * programs (AT_SECURE).
 */
#ifndef CPRELOAD_H
#define CPRELOAD_H

enum cpreload_setting_name {
    CPRELOAD_DAEMON,       /* TCPWRAP_DAEMON */
    CPRELOAD_HOSTS_ALLOW,  /* TCPWRAP_HOSTS_ALLOW */
    CPRELOAD_HOSTS_DENY,   /* TCPWRAP_HOSTS_DENY */
    CPRELOAD_LOG,          /* TCPWRAP_LOG */
};

/* The value captured at load time, or 0. */
const char *cpreload_setting(enum cpreload_setting_name name);

/* Builds the shim's Swift globals (settings, real symbols, caches) once the
 * settings are captured (Sources/WrapPreload/Startup.swift). */
void swrap_preload_prepare(void);
/* Frees them, at a dlclose() after which nothing can use them. */
void swrap_preload_release(void);

/* ---- What the readiness hooks need from C (system.c) ---- */

#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>

/* One byte per descriptor below CPRELOAD_KINDS: what the shim knows of it
 * (Sources/WrapPreload/Readiness.swift says what the bits mean). Read and
 * written atomically: any thread's hooks, close() included, touch it, and
 * it must stay right through a signal handler's close(). Descriptors at or
 * above the limit are never filtered for readiness (the accept and receive
 * hooks still judge them). The table is in .bss: untouched pages cost no
 * memory. */
#define CPRELOAD_KINDS 65536
unsigned cpreload_kind(int fd);
void cpreload_set_kind(int fd, unsigned kind);
void cpreload_add_kind_bits(int fd, unsigned bits);
void cpreload_clear_kind_bits(int fd, unsigned bits);
/* Per listener: the flags its daemon's accept4() last asked for: 1 (known)
 * | 2 (SOCK_NONBLOCK) | 4 (SOCK_CLOEXEC), or 0. */
unsigned cpreload_accept_flags(int fd);
void cpreload_set_accept_flags(int fd, unsigned flags);
/* How many descriptors have the "held" bit: 0 lets a wait skip its scan. */
long cpreload_held_total(void);
void cpreload_held_total_add(long delta);
/* How many decisions are with the judges (Judges.swift): waits look for
 * judged clients every 10 ms while it is not 0. */
long cpreload_pending_total(void);
void cpreload_pending_total_add(long delta);

/* The loader's entry for this object (dladdr1, which needs _GNU_SOURCE),
 * and the loader's own base address (AT_BASE); for Real.swift's lookups. */
struct link_map *cpreload_own_link_map(void);
unsigned long cpreload_loader_base(void);

/* System calls past every hook (the shim's own, and other preloads'). */
long cpreload_accept4_direct(int fd, struct sockaddr *address, socklen_t *length, int flags);
long cpreload_recvmsg_direct(int fd, struct msghdr *message, int flags);

/* Bits of an fd_set of any size (select() takes sets larger than
 * FD_SETSIZE; the fortified FD_ISSET would abort on them). */
int cpreload_fd_isset(const void *set, int fd);
void cpreload_fd_set(void *set, int fd);
void cpreload_fd_clr(void *set, int fd);

/* struct epoll_event, whose layout differs between architectures
 * (packed on x86_64). */
unsigned cpreload_epoll_events(const struct epoll_event *events, int i);
void cpreload_epoll_set_events(struct epoll_event *events, int i, unsigned value);
unsigned long long cpreload_epoll_data(const struct epoll_event *events, int i);
void cpreload_epoll_copy(struct epoll_event *events, int to, int from);
void cpreload_epoll_put(struct epoll_event *events, int i, unsigned value, unsigned long long data);

/* The destination address of a received datagram (IP_PKTINFO,
 * IPV6_PKTINFO), walked with the CMSG macros: its length (4 or 16) copied
 * to `out`, or 0. */
int cpreload_packet_destination(const struct msghdr *message, unsigned char out[16]);
/* The length of the leading whole control messages of `control` (`length`
 * bytes) that fit in `capacity` bytes. */
unsigned long cpreload_whole_control_messages(void *control, unsigned long length, unsigned long capacity);

/* Called in the child after fork() (Readiness.swift): connections and
 * datagrams the parent holds are the parent's to hand out. */
void swrap_preload_forked_child(void);
/* Registers it: after libwrap's own fork handlers, which release its
 * mutexes in the child first (child handlers run in registration order). */
void cpreload_register_fork_handler(void);

/* The buffers Shim.takeHead() reads a datagram into (65,536 and 1,024 bytes). */
void *cpreload_head_data(void);
void *cpreload_head_control(void);

#endif
