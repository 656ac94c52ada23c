/*
 * tcpd.h - the libwrap programming interface.
 *
 * Source-compatible with the tcpd.h of Debian's libwrap 7.6.q: the same
 * structures (field for field, so binaries built against Debian's header run
 * on this library), the same functions, data and RQ_* keys. The library
 * behind it is TCP Wrappers in Swift; see hosts_access(3).
 */
#ifndef _TCPWRAPPERS_TCPD_H
#define _TCPWRAPPERS_TCPD_H

#include <netinet/in.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STRING_LENGTH 128 /* host names, addresses, user and daemon names */

/* One end of a connection, as known so far. */
struct host_info {
    char name[STRING_LENGTH]; /* via eval_hostname() */
    char addr[STRING_LENGTH]; /* via eval_hostaddr() */
#ifdef INET6
    struct sockaddr *sin; /* endpoint address, or 0 */
#else
    struct sockaddr_in *sin; /* endpoint address (may be AF_INET6), or 0 */
#endif
    struct t_unitdata *unit;       /* TLI address (unused on Linux), or 0 */
    struct request_info *request;  /* back pointer */
};

/* Everything known about one service request. */
struct request_info {
    int fd;                      /* the connection, or -1 */
    char user[STRING_LENGTH];    /* via eval_user() */
    char daemon[STRING_LENGTH];  /* via eval_daemon() */
    char pid[10];                /* via eval_pid() */
    struct host_info client[1];
    struct host_info server[1];
    void (*sink)(int);                            /* datagram sink, or 0 */
    void (*hostname)(struct host_info *);         /* address -> name */
    void (*hostaddr)(struct host_info *);         /* address -> text */
    void (*cleanup)(struct request_info *);       /* cleanup, or 0 */
    struct netconfig *config;                     /* unused on Linux */
};

#define STRN_CPY(d, s, l) { strncpy((d), (s), (l)); (d)[(l) - 1] = 0; }
#define STRN_EQ(x, y, l) (strncasecmp((x), (y), (l)) == 0)
#define STRN_NE(x, y, l) (strncasecmp((x), (y), (l)) != 0)
#define STR_EQ(x, y) (strcasecmp((x), (y)) == 0)
#define STR_NE(x, y) (strcasecmp((x), (y)) != 0)

/* What a field holds when it could not be found out, or is not believed. */
#define STRING_UNKNOWN "unknown"
#define STRING_PARANOID "paranoid"
extern char unknown[];
extern char paranoid[];

#define HOSTNAME_KNOWN(s) (STR_NE((s), unknown) && STR_NE((s), paranoid))
#define NOT_INADDR(s) (s[strspn(s, "01234567890./")] != 0)

#define fromhost sock_host

extern int hosts_access(struct request_info *request);
extern void shell_cmd(char *command);
extern char *percent_x(char *result, int result_len, char *pattern,
                       struct request_info *request);
#ifdef INET6
extern void rfc931(struct sockaddr *client, struct sockaddr *server, char *user);
#else
extern void rfc931(struct sockaddr_in *client, struct sockaddr_in *server,
                   char *user);
#endif
extern void clean_exit(struct request_info *request);
extern void refuse(struct request_info *request);
extern char *xgets(char *buffer, int length, FILE *stream);
extern char *split_at(char *string, int delimiter);
extern unsigned long dot_quad_addr(char *string);

/* Logging levels for allowed and refused requests. A program may define
 * its own; the library's copies are weak. */
extern int allow_severity __attribute__((weak));
extern int deny_severity __attribute__((weak));
extern char *hosts_allow_table;  /* path of the allow table */
extern char *hosts_deny_table;   /* path of the deny table */
extern int hosts_access_verbose; /* > 1: log which rule matched */
extern int rfc931_timeout;       /* ident lookup timeout, seconds */
extern int resident;             /* > 0: a long-running process */

/* Request attributes are set by key, in a list that ends with 0. */
extern struct request_info *request_init(struct request_info *request, ...);
extern struct request_info *request_set(struct request_info *request, ...);
extern int hosts_ctl(char *daemon, char *client_name, char *client_addr,
                     char *client_user);

#define RQ_FILE 1        /* int: the connection's file descriptor */
#define RQ_DAEMON 2      /* char *: the daemon name (argv[0]) */
#define RQ_USER 3        /* char *: the client user name */
#define RQ_CLIENT_NAME 4 /* char *: the client host name */
#define RQ_CLIENT_ADDR 5 /* char *: the client host address */
#define RQ_CLIENT_SIN 6  /* struct sockaddr *: the client endpoint */
#define RQ_SERVER_NAME 7 /* char *: the server host name */
#define RQ_SERVER_ADDR 8 /* char *: the server host address */
#define RQ_SERVER_SIN 9  /* struct sockaddr *: the server endpoint */

/* Attributes are looked up when first asked for, then kept. */
extern char *eval_user(struct request_info *request);
extern char *eval_hostname(struct host_info *host);
extern char *eval_hostaddr(struct host_info *host);
extern char *eval_hostinfo(struct host_info *host);
extern char *eval_client(struct request_info *request);
extern char *eval_server(struct request_info *request);
#ifdef INET6
extern char *eval_port(struct sockaddr *address);
#else
extern char *eval_port(struct sockaddr_in *address);
#endif
#define eval_daemon(r) ((r)->daemon)
#define eval_pid(r) ((r)->pid)

/* Socket methods: addresses from the descriptor, names from the resolver. */
extern void sock_host(struct request_info *request);
extern void sock_hostname(struct host_info *host);
extern void sock_hostaddr(struct host_info *host);
#define sock_methods(r) \
    { (r)->hostname = sock_hostname; (r)->hostaddr = sock_hostaddr; }

/* Diagnostics, through syslog. tcpd_jump() logs, then longjmp()s to
 * tcpd_buf (declared in the library, not here: see hosts_access(3)). */
extern void tcpd_warn(char *format, ...);
extern void tcpd_jump(char *format, ...);

struct tcpd_context {
    char *file; /* table being read, or 0 */
    int line;   /* its current line */
};
extern struct tcpd_context tcpd_context;

#define AC_PERMIT 1
#define AC_DENY (-1)
#define AC_ERROR AC_DENY

/* Options; with dry_run set they are checked but not carried out. */
extern void process_options(char *options, struct request_info *request);
extern int dry_run;

#ifdef __cplusplus
}
#endif

#endif /* _TCPWRAPPERS_TCPD_H */
