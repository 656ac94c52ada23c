/*
 * system.c - the small C the readiness hooks need: an atomic byte per
 * descriptor, system calls past every hook, fd_set bits, epoll_event fields
 * and control-message walks done with the C library's own macros (their
 * layouts differ between architectures; Swift would compute them by hand).
 */
#define _GNU_SOURCE
#include "cpreload.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

static unsigned char kinds[CPRELOAD_KINDS];

/*
 * Room for the largest UDP datagram and its control data, for taking a
 * datagram off a queue whole (Shim.takeHead, under its lock). Static: its
 * pages cost nothing until a datagram is taken this way.
 */
static unsigned char head_data[65536] __attribute__((aligned(16)));
static unsigned char head_control[1024] __attribute__((aligned(16)));

struct link_map *cpreload_own_link_map(void)
{
    Dl_info info;
    struct link_map *map = 0;

    if (!dladdr1((const void *) cpreload_own_link_map, &info, (void **) &map, RTLD_DL_LINKMAP))
        return 0;
    return map;
}

unsigned long cpreload_loader_base(void) { return getauxval(AT_BASE); }

void *cpreload_head_data(void) { return head_data; }
void *cpreload_head_control(void) { return head_control; }
static unsigned char accept_flags[CPRELOAD_KINDS];
static long held_total;
static long pending_total;

unsigned cpreload_kind(int fd)
{
    /* Beyond the table: "other" (1), never filtered for readiness. */
    return (unsigned) fd < CPRELOAD_KINDS ? __atomic_load_n(&kinds[fd], __ATOMIC_ACQUIRE) : 1;
}

void cpreload_set_kind(int fd, unsigned kind)
{
    if ((unsigned) fd < CPRELOAD_KINDS)
        __atomic_store_n(&kinds[fd], (unsigned char) kind, __ATOMIC_RELEASE);
}

void cpreload_add_kind_bits(int fd, unsigned bits)
{
    if ((unsigned) fd < CPRELOAD_KINDS)
        __atomic_fetch_or(&kinds[fd], (unsigned char) bits, __ATOMIC_ACQ_REL);
}

void cpreload_clear_kind_bits(int fd, unsigned bits)
{
    if ((unsigned) fd < CPRELOAD_KINDS)
        __atomic_fetch_and(&kinds[fd], (unsigned char) ~bits, __ATOMIC_ACQ_REL);
}

unsigned cpreload_accept_flags(int fd)
{
    return (unsigned) fd < CPRELOAD_KINDS ? __atomic_load_n(&accept_flags[fd], __ATOMIC_RELAXED) : 0;
}

void cpreload_set_accept_flags(int fd, unsigned flags)
{
    if ((unsigned) fd < CPRELOAD_KINDS && __atomic_load_n(&accept_flags[fd], __ATOMIC_RELAXED) != flags)
        __atomic_store_n(&accept_flags[fd], (unsigned char) flags, __ATOMIC_RELAXED);
}

long cpreload_held_total(void)
{
    return __atomic_load_n(&held_total, __ATOMIC_ACQUIRE);
}

void cpreload_held_total_add(long delta)
{
    __atomic_fetch_add(&held_total, delta, __ATOMIC_ACQ_REL);
}

long cpreload_pending_total(void)
{
    return __atomic_load_n(&pending_total, __ATOMIC_ACQUIRE);
}

void cpreload_pending_total_add(long delta)
{
    __atomic_fetch_add(&pending_total, delta, __ATOMIC_ACQ_REL);
}

long cpreload_accept4_direct(int fd, struct sockaddr *address, socklen_t *length, int flags)
{
    return syscall(SYS_accept4, fd, address, length, flags);
}

long cpreload_recvmsg_direct(int fd, struct msghdr *message, int flags)
{
    return syscall(SYS_recvmsg, fd, message, flags);
}

#define LONG_BITS (8 * sizeof(unsigned long))

int cpreload_fd_isset(const void *set, int fd)
{
    return (((const unsigned long *) set)[fd / LONG_BITS] >> (fd % LONG_BITS)) & 1;
}

void cpreload_fd_set(void *set, int fd)
{
    ((unsigned long *) set)[fd / LONG_BITS] |= 1UL << (fd % LONG_BITS);
}

void cpreload_fd_clr(void *set, int fd)
{
    ((unsigned long *) set)[fd / LONG_BITS] &= ~(1UL << (fd % LONG_BITS));
}

unsigned cpreload_epoll_events(const struct epoll_event *events, int i)
{
    return events[i].events;
}

void cpreload_epoll_set_events(struct epoll_event *events, int i, unsigned value)
{
    events[i].events = value;
}

unsigned long long cpreload_epoll_data(const struct epoll_event *events, int i)
{
    return events[i].data.u64;
}

void cpreload_epoll_copy(struct epoll_event *events, int to, int from)
{
    events[to] = events[from];
}

void cpreload_epoll_put(struct epoll_event *events, int i, unsigned value, unsigned long long data)
{
    events[i].events = value;
    events[i].data.u64 = data;
}

int cpreload_packet_destination(const struct msghdr *message, unsigned char out[16])
{
    struct cmsghdr *c;

    if (!message->msg_control || message->msg_controllen < sizeof(struct cmsghdr))
        return 0;
    for (c = CMSG_FIRSTHDR((struct msghdr *) message); c; c = CMSG_NXTHDR((struct msghdr *) message, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO
            && c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            memcpy(out, &info.ipi_addr, 4);
            return 4;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO
            && c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            memcpy(out, &info.ipi6_addr, 16);
            return 16;
        }
    }
    return 0;
}

unsigned long cpreload_whole_control_messages(void *control, unsigned long length, unsigned long capacity)
{
    struct msghdr m = { .msg_control = control, .msg_controllen = length };
    struct cmsghdr *c;
    unsigned long end = 0;

    for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        unsigned long start = (unsigned long) ((char *) c - (char *) control);
        if (c->cmsg_len < sizeof(struct cmsghdr) || start + c->cmsg_len > length || start + c->cmsg_len > capacity)
            break;
        end = start + CMSG_ALIGN(c->cmsg_len);
        if (end > length)
            end = length;
    }
    return end < capacity ? end : capacity;
}

static void in_child(void)
{
    swrap_preload_forked_child();
}

void cpreload_register_fork_handler(void)
{
    pthread_atfork(0, 0, in_child);
}
