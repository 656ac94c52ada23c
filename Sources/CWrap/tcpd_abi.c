/*
 * tcpd_abi.c - libwrap's data symbols and variadic functions.
 *
 * Everything here exists because Swift cannot define it: C data objects
 * that programs link to by copy relocation (their sizes must equal Debian's),
 * functions taking "...", and longjmp() into the caller's tcpd_buf. The
 * logic behind each function lives in Swift (Sources/Wrap).
 */
#define _GNU_SOURCE
#include "cwrap.h"

#include <sys/auxv.h>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <spawn.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <stdlib.h>
#include <unistd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

extern void __syslog_chk(int priority, int flag, const char *format, ...);

/* The exported data, with Debian's initial values. Their sizes are ABI
 * (a program that uses them holds copies of its own, sized at its link):
 * AddressSanitizer's redzones must not grow them (scripts/sanitize). */
#define ABI_DATA __attribute__((no_sanitize("address")))
ABI_DATA char *hosts_allow_table = "/etc/hosts.allow";
ABI_DATA char *hosts_deny_table = "/etc/hosts.deny";
ABI_DATA int hosts_access_verbose = 0;
ABI_DATA int resident = -1;
ABI_DATA int rfc931_timeout = 10;
ABI_DATA int dry_run = 0;
ABI_DATA char unknown[] = STRING_UNKNOWN;
ABI_DATA char paranoid[] = STRING_PARANOID;
ABI_DATA jmp_buf tcpd_buf;
ABI_DATA struct tcpd_context tcpd_context;
int allow_severity __attribute__((weak)) ABI_DATA = LOG_INFO;
int deny_severity __attribute__((weak)) ABI_DATA = LOG_WARNING;

_Static_assert(sizeof(jmp_buf) == 200, "tcpd_buf must be 200 bytes, as in Debian");
_Static_assert(sizeof(struct tcpd_context) == 16, "tcpd_context must be 16 bytes");
_Static_assert(sizeof(struct host_info) == 280, "struct host_info layout");
_Static_assert(sizeof(struct request_info) == 872, "struct request_info layout");

const char *cwrap_allow_table(void) { return hosts_allow_table; }
const char *cwrap_deny_table(void) { return hosts_deny_table; }
int cwrap_verbose(void) { return hosts_access_verbose; }
void cwrap_set_verbose(int value) { hosts_access_verbose = value; }
void cwrap_set_severity_defaults(void) { allow_severity = LOG_INFO; deny_severity = LOG_WARNING; }
int cwrap_dry_run(void) { return dry_run; }
void cwrap_set_dry_run(int value) { dry_run = value; }
/* resident counts calls up to 1, as Debian's hosts_access() does; judge
 * threads and the host's threads decide at once, so the count is atomic (a
 * plain increment was a data race: ThreadSanitizer, scripts/sanitize). */
int cwrap_resident(void) { return __atomic_load_n(&resident, __ATOMIC_RELAXED); }
void cwrap_bump_resident(void)
{
    int seen = __atomic_load_n(&resident, __ATOMIC_RELAXED);

    while (seen <= 0 && !__atomic_compare_exchange_n(&resident, &seen, seen + 1, 1,
                                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}
int cwrap_rfc931_timeout(void) { return rfc931_timeout; }
void cwrap_set_rfc931_timeout(int seconds) { rfc931_timeout = seconds; }
int cwrap_allow_severity(void) { return allow_severity; }
int cwrap_deny_severity(void) { return deny_severity; }
void cwrap_set_severities(int value) { allow_severity = deny_severity = value; }
char *cwrap_unknown(void) { return unknown; }
char *cwrap_paranoid(void) { return paranoid; }

void cwrap_get_context(char **file, int *line)
{
    *file = tcpd_context.file;
    *line = tcpd_context.line;
}

void cwrap_set_context(char *file, int line)
{
    tcpd_context.file = file;
    tcpd_context.line = line;
}

static __thread int request_severity = -1;
static __thread int request_rfc931_timeout;

void cwrap_reset_request_settings(void)
{
    request_severity = -1;
    request_rfc931_timeout = 0;
}

void cwrap_set_request_severity(int severity) { request_severity = severity; }
int cwrap_request_severity(void) { return request_severity; }
void cwrap_set_request_rfc931_timeout(int seconds) { request_rfc931_timeout = seconds; }
int cwrap_request_rfc931_timeout(void) { return request_rfc931_timeout; }

static __thread char *position_file;
static __thread int position_line;

void cwrap_get_position(char **file, int *line)
{
    *file = position_file;
    *line = position_line;
}

void cwrap_set_position(char *file, int line)
{
    position_file = file;
    position_line = line;
}

static __thread pid_t pid_cached;
static __thread char pid_text[16];

/* The process id, read once at load and again in each child a fork makes
 * (pthread_atfork, below): getpid() is a system call per request otherwise. */
static pid_t process_id;

/* "YYYY-MM-DDTHH:MM:SSZ" for `t` (UTC), without the C library's time-zone
 * lock (days to civil date: Howard Hinnant's algorithm). */
static void utc_stamp(time_t t, char *out, size_t size)
{
    long long days = t / 86400, secs = t % 86400;
    if (secs < 0) { secs += 86400; days--; }
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    snprintf(out, size, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lldZ", y + (m <= 2), m, d,
             secs / 3600, secs / 60 % 60, secs % 60);
}

const char *cwrap_pid_text(void)
{
    pid_t pid = process_id ? process_id : getpid();

    if (pid != pid_cached) {
        snprintf(pid_text, sizeof(pid_text), "%d", (int) pid);
        pid_cached = pid;
    }
    return pid_text;
}

static __thread char client_buffer[2 * STRING_LENGTH];
static __thread char server_buffer[2 * STRING_LENGTH];
static __thread char port_buffer[16];
/* sock_host()'s endpoints. A request holds pointers to them and may be
 * judged on another thread than the one that filled it, or after that
 * thread is gone; Debian's library keeps one static pair for the process.
 * Here each thread takes its pairs from a ring of its own (so other
 * threads' requests never overwrite them: a request's addresses stay as
 * they are for its thread's next 15 calls), and a ring is never freed: when
 * its thread exits it goes back to a free list for the next new thread. */
#define CWRAP_ENDPOINT_PAIRS 16
struct endpoint_ring {
    struct sockaddr_storage pairs[CWRAP_ENDPOINT_PAIRS][2];
    unsigned next;
    struct endpoint_ring *free_next;
    struct endpoint_ring *all_next;     /* every ring made, freed at unload */
};
static __thread struct endpoint_ring *my_ring;
static struct endpoint_ring *free_rings, *all_rings;
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t ring_key;

static void ring_release(void *ring)
{
    struct endpoint_ring *r = ring;

    pthread_mutex_lock(&rings_lock);
    r->free_next = free_rings;
    free_rings = r;
    pthread_mutex_unlock(&rings_lock);
}

static struct endpoint_ring *ring_take(void)
{
    struct endpoint_ring *r;

    pthread_mutex_lock(&rings_lock);
    r = free_rings;
    if (r)
        free_rings = r->free_next;
    pthread_mutex_unlock(&rings_lock);
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return NULL;
        pthread_mutex_lock(&rings_lock);
        r->all_next = all_rings;
        all_rings = r;
        pthread_mutex_unlock(&rings_lock);
    }
    pthread_setspecific(ring_key, r);   /* given back when the thread exits */
    return r;
}

char *cwrap_client_buffer(void) { return client_buffer; }
char *cwrap_server_buffer(void) { return server_buffer; }
char *cwrap_port_buffer(void) { return port_buffer; }
struct sockaddr_storage *cwrap_endpoint_pair(void)
{
    static struct sockaddr_storage fallback[2];   /* only if no memory is left */
    struct endpoint_ring *r = my_ring ? my_ring : (my_ring = ring_take());
    struct sockaddr_storage *pair;

    if (!r)
        pair = fallback;
    else
        pair = r->pairs[r->next++ % CWRAP_ENDPOINT_PAIRS];
    memset(pair, 0, 2 * sizeof *pair);
    return pair;
}

static char *log_path;

void cwrap_set_log_path(const char *path) { log_path = path ? strdup(path) : NULL; }

static int log_stderr;
void cwrap_set_log_stderr(int on) { log_stderr = on; }

void cwrap_syslog(int priority, const char *message)
{
    int saved = errno;

    if (log_stderr) {
        fprintf(stderr, "%s\n", message);
        errno = saved;
        return;
    }

    if (log_path) {
        /* Opened per line: a daemon may close descriptors it did not open.
         * O_NOFOLLOW: a symbolic link planted at the path is not followed
         * (a daemon running as root must not append to whatever it names). */
        static const char *const words[8] = {
            "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
        };
        int log_fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW,
                          0644);
        char line[BUFSIZ + 128], stamp[32] = "";
        struct timespec now;
        int n;

        /* The usual syslog shape: time, name[pid]: severity: message. The
         * time is worked out here, not with gmtime_r(): glibc's takes its
         * time-zone lock, and a child forked while another thread held it
         * would hang at its first log line. */
        clock_gettime(CLOCK_REALTIME, &now);
        utc_stamp(now.tv_sec, stamp, sizeof(stamp));
        n = snprintf(line, sizeof(line), "%s %s[%d]: %s: %s\n", stamp, program_invocation_short_name,
                     (int) (process_id ? process_id : getpid()), words[priority & LOG_PRIMASK], message);
        if (n > (int) sizeof(line) - 1)
            n = sizeof(line) - 1;
        if (log_fd >= 0) {
            if (n > 0 && write(log_fd, line, n) < 0) {
                /* nowhere else to say it */
            }
            close(log_fd);
        }
    } else {
        /* Debian's libwrap is built with _FORTIFY_SOURCE and so calls
         * __syslog_chk(): a program's own syslog() (tcpdmatch and tcpdchk
         * define one that prints) does not see the library's messages. */
        __syslog_chk(priority, 1, "%s", message);
    }
    errno = saved;
}

/* The copies cwrap_set_tables() made, freed at unload. (A program may
 * point the exported names elsewhere since; the copies are ours still.) */
static char *own_allow_table, *own_deny_table;

void cwrap_set_tables(const char *allow, const char *deny)
{
    if (allow)
        hosts_allow_table = own_allow_table = strdup(allow);
    if (deny)
        hosts_deny_table = own_deny_table = strdup(deny);
}

static __thread int hook_busy, hook_cancel_state;

int cwrap_hook_busy(void) { return hook_busy; }

/* While the shim works on a client it has taken (an accepted descriptor, a
 * received datagram), the thread cannot be cancelled: the table reads,
 * aclexec and ident waits are cancellation points, and a cancel there
 * would leak the descriptor and lose the client. A pending cancel acts at
 * the caller's next cancellation point, as after a real accept() that
 * returned. */
void cwrap_set_hook_busy(int busy)
{
    if (busy && !hook_busy)
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &hook_cancel_state);
    else if (!busy && hook_busy)
        pthread_setcancelstate(hook_cancel_state, NULL);
    hook_busy = busy;
}

static __thread int probe_state;
int cwrap_probe_state(void) { return probe_state; }
void cwrap_set_probe_state(int state) { probe_state = state; }

/* request_fill - decode RQ_* key/value pairs until a 0 key. */
static struct request_info *request_fill(struct request_info *request, va_list ap)
{
    int key;

    while ((key = va_arg(ap, int)) > 0) {
        switch (key) {
        case RQ_FILE:
            request->fd = va_arg(ap, int);
            break;
        case RQ_CLIENT_SIN:
            request->client->sin = va_arg(ap, void *);
            break;
        case RQ_SERVER_SIN:
            request->server->sin = va_arg(ap, void *);
            break;
        case RQ_DAEMON:
        case RQ_USER:
        case RQ_CLIENT_NAME:
        case RQ_CLIENT_ADDR:
        case RQ_SERVER_NAME:
        case RQ_SERVER_ADDR:
            swrap_request_set_string(request, key, va_arg(ap, const char *));
            break;
        default:
            tcpd_warn("request_fill: invalid key: %d", key);
            return request;
        }
    }
    return request;
}

/* request_init - forget everything known about a request, then set keys. */
struct request_info *request_init(struct request_info *request, ...)
{
    struct request_info *result;
    va_list ap;

    if (request == NULL)
        return NULL;     /* libwrap crashes here */
    swrap_request_reset(request);
    va_start(ap, request);
    result = request_fill(request, ap);
    va_end(ap);
    return result;
}

/* request_set - set more keys of a request. */
struct request_info *request_set(struct request_info *request, ...)
{
    struct request_info *result;
    va_list ap;

    if (request == NULL)
        return NULL;
    va_start(ap, request);
    result = request_fill(request, ap);
    va_end(ap);
    return result;
}

/* tcpd_diag - one diagnostic, with the table position when there is one. */
static void tcpd_diag(int severity, const char *tag, const char *format, va_list ap)
{
    char text[BUFSIZ];
    char line[BUFSIZ + 256];

    vsnprintf(text, sizeof(text), format, ap);  /* %m is glibc's too */
    if (position_file)
        snprintf(line, sizeof(line), "%s: %s, line %d: %s",
                 tag, position_file, position_line, text);
    else if (tcpd_context.file)
        snprintf(line, sizeof(line), "%s: %s, line %d: %s",
                 tag, tcpd_context.file, tcpd_context.line, text);
    else
        snprintf(line, sizeof(line), "%s: %s", tag, text);
    cwrap_syslog(severity, line);
}

/* tcpd_warn - report a problem and go on. */
void tcpd_warn(char *format, ...)
{
    va_list ap;
    int saved = errno;

    va_start(ap, format);
    errno = saved;
    tcpd_diag(LOG_ERR, "warning", format, ap);
    va_end(ap);
    errno = saved;
}

/* tcpd_jump - report a problem and jump back to the caller's setjmp(). */
void tcpd_jump(char *format, ...)
{
    va_list ap;

    va_start(ap, format);
    tcpd_diag(LOG_ERR, "error", format, ap);
    va_end(ap);
    longjmp(tcpd_buf, AC_ERROR);
}

/*
 * process_options - run a rule's options for a caller that set up tcpd_buf
 * (tcpdchk, tcpdmatch). `allow`, `deny` and errors end in longjmp(), as in
 * libwrap; the Swift frames have all returned by then.
 */
void process_options(char *options, struct request_info *request)
{
    int verdict = swrap_process_options(options, request);

    if (verdict != 0)
        longjmp(tcpd_buf, verdict);
}

/* The preload shim's view of the process. */
int cwrap_secure(void) { return getauxval(AT_SECURE) != 0; }
const char *cwrap_program_name(void) { return program_invocation_short_name; }

_Static_assert(sizeof(struct cwrap_mmsghdr) == sizeof(struct mmsghdr), "mmsghdr mirror");
_Static_assert(offsetof(struct cwrap_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len), "mmsghdr mirror");

int cwrap_children_autoreaped(void)
{
    struct sigaction action;

    if (sigaction(SIGCHLD, NULL, &action) != 0)
        return 0;
    return action.sa_handler == SIG_IGN || (action.sa_flags & SA_NOCLDWAIT) != 0;
}

long cwrap_recvfrom_direct(int fd, void *buffer, unsigned long length, int flags,
                           struct sockaddr *address, socklen_t *address_length)
{
    return syscall(SYS_recvfrom, fd, buffer, length, flags, address, address_length);
}

/* Whether a loaded object's file name ends in "/libwrap.so.0" (or is it):
 * the daemon links libwrap itself. dl_iterate_phdr() makes no system call,
 * where dlopen(RTLD_NOLOAD) would search the library path on disk. */
static int libwrap_seen(struct dl_phdr_info *info, size_t size, void *data)
{
    static const char name[] = "libwrap.so.0";
    const char *path = info->dlpi_name;
    size_t n = path ? strlen(path) : 0, k = sizeof name - 1;

    (void) size;
    (void) data;
    if (n >= k && strcmp(path + n - k, name) == 0 && (n == k || path[n - k - 1] == '/'))
        return 1;
    return 0;
}

int cwrap_libwrap_loaded(void)
{
    return dl_iterate_phdr(libwrap_seen, 0);
}

/* The span of this object's load segments, lowest to highest: nothing
 * else is mapped inside it (ld.so reserves the whole span). One walk of the
 * loaded objects serves every symbol the shim resolves at load. */
static int span_search(struct dl_phdr_info *info, size_t size, void *data)
{
    const char **span = data, *ours = (const char *) (uintptr_t) cwrap_own_span;
    const char *lo = 0, *hi = 0;
    int i;

    (void) size;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        const char *start = (const char *) (info->dlpi_addr + ph->p_vaddr);
        if (ph->p_type != PT_LOAD)
            continue;
        if (!lo || start < lo)
            lo = start;
        if (!hi || start + ph->p_memsz > hi)
            hi = start + ph->p_memsz;
    }
    if (lo && ours >= lo && ours < hi) {
        span[0] = lo;
        span[1] = hi;
        return 1;
    }
    return 0;
}

void cwrap_own_span(const void **lo, const void **hi)
{
    const char *span[2] = { 0, 0 };

    dl_iterate_phdr(span_search, span);
    *lo = span[0];
    *hi = span[1];
}


/* The cache mutexes and their fork handlers. */
#define CWRAP_MAX_MUTEXES 32
static pthread_mutex_t mutexes[CWRAP_MAX_MUTEXES];
static int mutex_count;
static pthread_mutex_t registry = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void before_fork(void)
{
    int i;

    pthread_mutex_lock(&rings_lock);
    pthread_mutex_lock(&registry);
    for (i = 0; i < mutex_count; i++)
        pthread_mutex_lock(&mutexes[i]);
}

static void after_fork(void)
{
    int i;

    for (i = mutex_count - 1; i >= 0; i--)
        pthread_mutex_unlock(&mutexes[i]);
    pthread_mutex_unlock(&registry);
    pthread_mutex_unlock(&rings_lock);
}

static void in_child(void)
{
    after_fork();
    process_id = getpid();
    swrap_forked_child();   /* compiles under way in other threads are not the child's */
}

static void register_atfork(void)
{
    process_id = getpid();
    pthread_atfork(before_fork, after_fork, in_child);
}

void *cwrap_mutex_new(void)
{
    pthread_mutex_t *m;

    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&registry);
    if (mutex_count >= CWRAP_MAX_MUTEXES) {
        /* A broken internal promise: the caches are few and made at load. */
        pthread_mutex_unlock(&registry);
        syslog(LOG_CRIT, "libwrap: cwrap_mutex_new: more than %d mutexes", CWRAP_MAX_MUTEXES);
        abort();
    }
    m = &mutexes[mutex_count++];
    pthread_mutex_init(m, NULL);
    pthread_mutex_unlock(&registry);
    return m;
}

void cwrap_mutex_lock(void *mutex) { pthread_mutex_lock(mutex); }
void cwrap_mutex_unlock(void *mutex) { pthread_mutex_unlock(mutex); }

int cwrap_spawn_close_from(void *actions, int lowest)
{
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

/*
 * Unloading. What loading made (the Swift globals, the rings, the copies of
 * settings) is given back at dlclose(), when nothing can use it again: the
 * host has let go of the library and no thread of ours runs in it. Not in
 * exit(), which runs the same destructors while the host's other threads may
 * still be inside the library (and the memory goes back with the process):
 *  - an object loaded at start-up (linked, or LD_PRELOAD) is never unloaded:
 *    its destructor runs only in exit(). It comes before the dynamic loader
 *    in the loader's list of objects; one dlopen()ed comes after it.
 *  - exit() runs the handlers registered with __cxa_atexit() before the
 *    destructors of objects loaded after main() began; dlclose() runs them
 *    after (both glibc's order, checked by Tests/Runtime/test_memory.py).
 *  - a detached thread of ours (the shim's judges) may be asleep in our
 *    code: nothing it could touch is freed once one has started.
 */
extern void *__dso_handle;
extern int __cxa_atexit(void (*fn)(void *), void *arg, void *dso);

static int loaded_late, exiting, thread_started;

static void note_exit(void *unused)
{
    (void) unused;
    exiting = 1;
}

/* Whether the loader's own object comes before this one in its list. */
static int loader_first(struct dl_phdr_info *info, size_t size, void *data)
{
    uintptr_t self = (uintptr_t) loader_first, loader = getauxval(AT_BASE);
    int i;

    (void) size;
    if (loader != 0 && info->dlpi_addr == loader) {
        *(int *) data = 1;
        return 1;
    }
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && self >= start && self < start + ph->p_memsz)
            return 1;
    }
    return 0;
}

void cwrap_thread_started(void) { __atomic_store_n(&thread_started, 1, __ATOMIC_RELAXED); }

int cwrap_may_release(void)
{
    return loaded_late && !exiting && !__atomic_load_n(&thread_started, __ATOMIC_RELAXED);
}

/* At dlclose(): no thread may call back into this code when it exits. */
__attribute__((destructor)) static void cwrap_unload(void)
{
    struct endpoint_ring *r;

    pthread_key_delete(ring_key);
    if (!cwrap_may_release())
        return;
    swrap_release();
    while ((r = all_rings)) {
        all_rings = r->all_next;
        free(r);
    }
    free(own_allow_table);
    free(own_deny_table);
    free(log_path);
}

/*
 * The load-time constructor: builds every Swift global and the fork handlers
 * before the host can call in from any thread (see
 * Sources/WrapCore/Startup.swift). A constructor is C's; Swift has none.
 */
__attribute__((constructor)) static void cwrap_load(void)
{
    dl_iterate_phdr(loader_first, &loaded_late);
    __cxa_atexit(note_exit, 0, __dso_handle);
    pthread_key_create(&ring_key, ring_release);
    pthread_once(&atfork_once, register_atfork);
    swrap_prepare();
}
