/*
 * cwrap.h - what the Swift side of libwrap needs from its C side.
 *
 * The C side holds only what Swift cannot express: libwrap's exported data
 * symbols (with Debian's sizes), its variadic functions, and the longjmp()
 * into a caller's tcpd_buf. The functions below read and write that data for
 * Swift (Swift 6 cannot touch C globals directly), and name the Swift entry
 * points the C side calls.
 */
#ifndef CWRAP_H
#define CWRAP_H

#include "../../../Include/tcpd.h"
#include <sys/socket.h>

/* Accessors for the exported data. */
const char *cwrap_allow_table(void);
const char *cwrap_deny_table(void);
int cwrap_verbose(void);
void cwrap_set_verbose(int value);
void cwrap_set_severity_defaults(void);
int cwrap_dry_run(void);
void cwrap_set_dry_run(int value);
int cwrap_resident(void);
void cwrap_bump_resident(void);
int cwrap_rfc931_timeout(void);
void cwrap_set_rfc931_timeout(int seconds);
int cwrap_allow_severity(void);
int cwrap_deny_severity(void);
void cwrap_set_severities(int value);
void cwrap_get_context(char **file, int *line);
void cwrap_set_context(char *file, int line);
/* The table position of this thread's hosts_access() in progress, which
 * diagnostics use instead of the shared tcpd_context (file 0: none). */
void cwrap_get_position(char **file, int *line);
void cwrap_set_position(char *file, int line);
char *cwrap_unknown(void);
char *cwrap_paranoid(void);

/* Per-request settings in a resident daemon: `severity` and `rfc931 N`
 * options apply to the request being judged, not to the whole process
 * (-1 / 0: none set). */
void cwrap_reset_request_settings(void);
void cwrap_set_request_severity(int severity);
int cwrap_request_severity(void);
void cwrap_set_request_rfc931_timeout(int seconds);
int cwrap_request_rfc931_timeout(void);

/* getpid() as text, formatted again only when it changes (after a fork). */
const char *cwrap_pid_text(void);

/* Per-thread result buffers (libwrap used static ones). */
char *cwrap_client_buffer(void);  /* eval_client(): 2 * STRING_LENGTH */
char *cwrap_server_buffer(void);  /* eval_server(): 2 * STRING_LENGTH */
char *cwrap_port_buffer(void);    /* eval_port(): 16 */
/* sock_host()'s client and server endpoints: the next pair of the calling
 * thread's ring (valid for its next 15 calls, read from any thread, and
 * after the thread is gone). */
struct sockaddr_storage *cwrap_endpoint_pair(void);

/* syslog(priority, "%s", message): one call site for all logging. With a
 * log file set (the preload shim's TCPWRAP_LOG), lines are appended there. */
void cwrap_syslog(int priority, const char *message);
void cwrap_set_log_path(const char *path);
/* The admin tools (tcpdmatch, tcpdchk, try-from): diagnostics go to
 * standard error, one line each, instead of syslog. */
void cwrap_set_log_stderr(int on);

/* Replaces the table paths (the shim's TCPWRAP_HOSTS_ALLOW/DENY). */
void cwrap_set_tables(const char *allow, const char *deny);

/* A per-thread flag: set while the shim itself is working, so that its own
 * calls pass straight through the hooks (and the thread is not cancelled
 * in the middle of its work). */
int cwrap_hook_busy(void);
void cwrap_set_hook_busy(int busy);

/* A per-thread probe (the shim asks whether a decision could wait on a
 * lookup before it makes it on the daemon's thread): 0 not probing, 1
 * probing, 2 probing and a name, user or netgroup not yet known was asked
 * for, 3 probing and a diagnostic was held back (the decision must be made
 * in full to give it). While probing nothing is looked up and nothing is
 * logged. */
int cwrap_probe_state(void);
void cwrap_set_probe_state(int state);

/* The fields of a request (Swift's key paths are not in Embedded Swift). */
static inline char *cwrap_request_user(struct request_info *r) { return r->user; }
static inline char *cwrap_request_daemon(struct request_info *r) { return r->daemon; }
static inline char *cwrap_request_pid(struct request_info *r) { return r->pid; }
static inline struct host_info *cwrap_request_client(struct request_info *r) { return r->client; }
static inline struct host_info *cwrap_request_server(struct request_info *r) { return r->server; }
static inline char *cwrap_host_name(struct host_info *h) { return h->name; }
static inline char *cwrap_host_addr(struct host_info *h) { return h->addr; }

/* Implemented in Swift (Sources/Wrap). */
void swrap_request_reset(struct request_info *request);
void swrap_request_set_string(struct request_info *request, int key, const char *value);
/* process_options() without the jump: 0 go on, AC_PERMIT or AC_DENY. */
int swrap_process_options(char *options, struct request_info *request);
/* Builds every Swift global of the library (Sources/WrapABI/Startup.swift);
 * called from the load-time constructor. */
void swrap_prepare(void);
/* Frees what it built, at dlclose() (only when cwrap_may_release() says so). */
void swrap_release(void);
/* In the child after fork() (WrapABI/Startup.swift), its mutexes released:
 * the caches forget the compiles the parent's other threads had under way. */
void swrap_forked_child(void);
/* Whether this is a dlclose() after which nothing can use what loading
 * made: the object was dlopen()ed, the process is not exiting, and no
 * thread of ours was ever started (see tcpd_abi.c). */
int cwrap_may_release(void);
/* Says a detached thread of ours runs: nothing is freed at unload. */
void cwrap_thread_started(void);

/* Mutexes for the shared caches. They are held across fork() by the
 * forking thread (pthread_atfork), so a child never inherits one locked by
 * a thread it does not have. */
void *cwrap_mutex_new(void);
void cwrap_mutex_lock(void *mutex);
void cwrap_mutex_unlock(void *mutex);

/* For the shim: AT_SECURE (setuid/setgid), the program's short name, and
 * struct mmsghdr (which Swift's Glibc module does not see without _GNU_SOURCE). */
int cwrap_secure(void);
/* posix_spawn_file_actions_addclosefrom_np() (a GNU extension): commands
 * started in a resident daemon get none of its other descriptors. */
int cwrap_spawn_close_from(void *actions, int lowest);
/* The lowest and highest address of this object's load segments (a
 * dlsym(RTLD_NEXT) that found an address inside them found our own hook). */
void cwrap_own_span(const void **lo, const void **hi);
/* recvfrom(2) as a system call, past any hook (the shim's included): the
 * library's own MSG_PEEK in sock_host() and its sink must see the datagram
 * the daemon would, not one the shim chose. */
long cwrap_recvfrom_direct(int fd, void *buffer, unsigned long length, int flags,
                           struct sockaddr *address, socklen_t *address_length);

/* Whether the process's children are reaped by the kernel (SIGCHLD ignored,
 * or SA_NOCLDWAIT): then waitpid() cannot tell a child's exit status. */
int cwrap_children_autoreaped(void);

/* Whether a libwrap.so.0 (Debian's or ours) is loaded in this process. */
int cwrap_libwrap_loaded(void);
const char *cwrap_program_name(void);
struct cwrap_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

#endif
